/*
 * Two kinds of assertion (never use assert(3), which vanishes under NDEBUG):
 * - moon_require(cond): the program's own state is corrupt; log and abort.
 * - moon_check(cond): a recoverable surprise; logs (rate-limited) and
 *   evaluates to false so the caller must handle it:
 *       if (!moon_check(len <= cap)) return MOON_ELIMIT;
 * Neither is for packet input: malformed input is an ordinary error return.
 */
#ifndef MOON_UTIL_ASSERT_H
#define MOON_UTIL_ASSERT_H

#include <stdbool.h>

void moon__require_failed(const char *expr, const char *file, int line) __attribute__((noreturn));
bool moon__check_failed(const char *expr, const char *file, int line);

#define moon_require(cond) \
	((cond) ? (void)0 : moon__require_failed(#cond, __FILE__, __LINE__))
#define moon_check(cond) \
	(__builtin_expect(!!(cond), 1) ? true : moon__check_failed(#cond, __FILE__, __LINE__))

#endif
