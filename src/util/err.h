/*
 * Error codes: every fallible function in libmoon returns an int that is 0 on
 * success or a negative code. System errors are -errno; DNS- and
 * moondns-specific errors live below MOON_EBASE so the two never collide.
 * moon_strerror() names either kind.
 */
#ifndef MOON_UTIL_ERR_H
#define MOON_UTIL_ERR_H

#include <errno.h>

#define MOON_EOK 0
#define MOON_EBASE (-1000)

enum moon_err {
	MOON_EMALF = MOON_EBASE - 1,   /* malformed wire data */
	MOON_ESPACE = MOON_EBASE - 2,  /* output buffer too small */
	MOON_ELIMIT = MOON_EBASE - 3,  /* a configured or protocol limit was hit */
	MOON_ENOTFOUND = MOON_EBASE - 4,
	MOON_ESYNTAX = MOON_EBASE - 5, /* bad text: config, zone file, name */
	MOON_ESEMANTIC = MOON_EBASE - 6, /* well-formed but inconsistent data */
	MOON_EPENDING = MOON_EBASE - 7, /* not an error: the work continues asynchronously */
};

/* Human-readable text for a code from this file or a -errno value. Never NULL. */
const char *moon_strerror(int err);

#endif
