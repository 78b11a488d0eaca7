/* The generated reference: src/conf/doc.c and the committed doc/config.md */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/schema.h"
#include "tap.h"

static char *generated(size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	moon_conf_write_doc(f);
	fclose(f);
	return text;
}

/* make check sets MOON_SRCDIR; a test run by hand falls back to the source
 * tree this binary was configured from. */
static char *committed(size_t *len)
{
	const char *srcdir = getenv("MOON_SRCDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/doc/config.md", srcdir ? srcdir : MOON_TOP_SRCDIR);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *text = calloc(1, 1 << 20);
	*len = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	return text;
}

static void test_up_to_date(void)
{
	size_t glen, clen = 0;
	char *gen = generated(&glen), *doc = committed(&clen);
	ok(doc != NULL, "doc/config.md exists");
	bool same = doc && glen == clen && !memcmp(gen, doc, glen);
	ok(same, "doc/config.md is what the schema generates (run `make doc/config.md`)");
	if (doc && !same) {
		size_t line = 1, i = 0;
		for (; i < glen && i < clen && gen[i] == doc[i]; i++)
			line += gen[i] == '\n';
		printf("#   first difference at line %zu\n", line);
	}
	free(gen);
	free(doc);
}

/* Every documented row appears under its full path. */
static void check_rows(const struct moon_conf_item *items, const char *prefix, const char *doc,
		       int *missing)
{
	for (const struct moon_conf_item *it = items; it->name; it++) {
		if (it->flags & MOON_CONF_INTERNAL)
			continue;
		char path[300], heading[320];
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", it->name);
		snprintf(heading, sizeof(heading), "### `%s`\n", path);
		if (!strstr(doc, heading)) {
			printf("#   no section %s", heading);
			(*missing)++;
		}
		if (it->type == MOON_CONF_MAP)
			check_rows(it->children, path, doc, missing);
		else if (it->type == MOON_CONF_LIST && it->children->type == MOON_CONF_MAP)
			check_rows(it->children->children, strcat(path, "[]"), doc, missing);
	}
}

static void test_content(void)
{
	size_t len;
	char *doc = generated(&len);
	int missing = 0;
	check_rows(moon__conf_schema.children, "", doc, &missing);
	is_int(missing, 0, "every key has a section");
	ok(strstr(doc, "### `servers[].zone_files[].default_ttl`\n\n- type: duration, 0s to "),
	   "nested path and range");
	ok(strstr(doc, "### `workers`\n\n- type: `auto` or an integer from 1 to 256\n"
		       "- default: `auto`\n- on reload: **restart**\n"), "workers needs a restart");
	ok(strstr(doc, "### `tcp.max_pending_bytes`\n\n- type: size, 1k to 64M\n- default: `128k`\n"
		       "- on reload: applied\n"), "size row");
	ok(strstr(doc, "### `servers[].zones`\n\n- type: list of domain names, at least 1\n"
		       "- default: the origins of `zone_files`\n"), "documented default");
	ok(strstr(doc, moon_conf_default_yaml) != NULL, "the embedded default is shown");
	ok(strstr(doc, moon__conf_example_yaml) != NULL, "the full example is shown");
	ok(!strstr(doc, "`where`"), "internal fields are not documented");
	free(doc);
}

int main(void)
{
	test_up_to_date();
	test_content();
	return tap_done();
}
