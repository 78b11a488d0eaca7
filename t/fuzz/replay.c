/*
 * Replays fuzz corpora without libFuzzer: every regular file in the
 * directories (or the files) named on the command line is passed once to
 * LLVMFuzzerTestOneInput(). Prints one TAP line per input, so a crash shows
 * as a missing plan and sanitizer builds catch memory errors on the corpus.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n_inputs;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		printf("not ok %d - cannot open %s\n", ++n_inputs, path);
		return 1;
	}
	static uint8_t buf[1 << 20];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	/* A heap copy of exactly len bytes, so ASan sees reads past the end. */
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, buf, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	printf("ok %d - %s\n", ++n_inputs, path);
	return 0;
}

static int replay_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		printf("not ok %d - no such input %s\n", ++n_inputs, path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	struct dirent **entries;
	int n = scandir(path, &entries, NULL, alphasort);
	int failed = 0;
	for (int i = 0; i < n; i++) {
		if (entries[i]->d_name[0] != '.') {
			char child[4096];
			snprintf(child, sizeof(child), "%s/%s", path, entries[i]->d_name);
			failed |= replay_path(child);
		}
		free(entries[i]);
	}
	free(entries);
	return failed;
}

int main(int argc, char **argv)
{
	int failed = 0;
	for (int i = 1; i < argc; i++)
		failed |= replay_path(argv[i]);
	printf("1..%d\n", n_inputs);
	return failed;
}
