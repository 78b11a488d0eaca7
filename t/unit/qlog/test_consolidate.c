/*
 * Consolidated errors: the first of a storm in full, then one summary per
 * window, also when the storm stops; quiet groups print nothing.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qlog/consolidate.h"
#include "tap.h"
#include "util/time.h"

static char path[] = "/tmp/moon-consolidate-XXXXXX";

static void fail(int i)
{
	MOON_LOG_CONSOLIDATED(MOON_LOG_ERR, FWD, "upstream timeout",
			      "192.0.2.1:53: no reply (query %d)", i);
}

static void other(void)
{
	MOON_LOG_CONSOLIDATED(MOON_LOG_ERR, POLICY, "policy error", "policy.lua:3: boom");
}

static unsigned count(const char *text, const char *what)
{
	unsigned n = 0;
	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

int main(void)
{
	int fd = mkstemp(path);
	int saved = dup(2);
	dup2(fd, 2);
	moon_log_consolidate_window(200);
	for (int i = 0; i < 50; i++)
		fail(i);
	other();
	moon_log_consolidate_tick(moon_now_ms());  /* windows still open: nothing */
	struct timespec ts = { 0, 250 * 1000000 };
	nanosleep(&ts, NULL);
	moon_log_consolidate_tick(moon_now_ms());  /* both windows over */
	fail(50);                                   /* a new window opens */
	nanosleep(&ts, NULL);
	moon_log_consolidate_tick(moon_now_ms());
	dup2(saved, 2);

	char text[8192] = { 0 };
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	unlink(path);
	ok(n > 0, "something was logged");
	ok(strstr(text, "error [fwd] 192.0.2.1:53: no reply (query 0)\n") != NULL,
	   "the first occurrence in full");
	is_int(count(text, "no reply (query"), 2, "only window openers in full");
	ok(strstr(text, "error [fwd] 50 errors like \"upstream timeout\" in the last 200ms\n")
	   != NULL, "a summary with the count, after the storm stopped");
	ok(strstr(text, "no reply (query 50)") != NULL, "the next window starts in full");
	is_int(count(text, "errors like"), 1, "single occurrences get no summary");
	ok(strstr(text, "policy.lua:3: boom") != NULL, "groups are separate");
	if (tap_failed)
		printf("# log was:\n%s", text);
	return tap_done();
}
