/*
 * Diagnostics collected while checking user input (config files, zone files,
 * policies): each is one line "file:line:column: message" (line/column 0 when
 * unknown). Start-up, `moondns check` and reload all print the same list.
 * A moon_diag owns its messages; moon_diag_free() releases them.
 */
#ifndef MOON_UTIL_DIAG_H
#define MOON_UTIL_DIAG_H

#include <stddef.h>

/* Past this many errors further ones are counted but not stored. */
#define MOON_DIAG_MAX 100

struct moon_diag {
	char *msgs[MOON_DIAG_MAX];
	size_t n;        /* stored messages */
	size_t dropped;  /* errors beyond MOON_DIAG_MAX */
};

/* Adds "file:line:column: <fmt>" (file may be NULL; line/column 0 are
 * omitted). Never fails: out of memory counts the error as dropped. */
void moon_diag_add(struct moon_diag *d, const char *file, unsigned line, unsigned column,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline size_t moon_diag_count(const struct moon_diag *d) { return d->n + d->dropped; }
/* Writes every message to the server log at error level. */
void moon_diag_log(const struct moon_diag *d);
void moon_diag_free(struct moon_diag *d);

#endif
