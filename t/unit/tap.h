/*
 * Minimal TAP producer for the C unit tests. Each test binary prints
 * "ok N - what" / "not ok N - what" lines and a final plan; t/run-all.sh
 * counts them. Usage:
 *     ok(moon_x() == 0, "x succeeds");
 *     is_int(got, 3, "three records");
 *     return tap_done();
 */
#ifndef MOON_TAP_H
#define MOON_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int tap_ok(int cond, const char *file, int line, const char *what)
{
	tap_n++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, what);
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	return cond;
}

#define ok(cond, what) tap_ok(!!(cond), __FILE__, __LINE__, what)
#define is_int(got, want, what) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (!ok(g_ == w_, what)) printf("#   got %lld, want %lld\n", g_, w_); \
} while (0)
#define is_str(got, want, what) do { \
	const char *g_ = (got), *w_ = (want); \
	if (!ok(g_ && w_ && strcmp(g_, w_) == 0, what)) \
		printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)
#define is_mem(got, want, len, what) ok(memcmp((got), (want), (len)) == 0, what)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
