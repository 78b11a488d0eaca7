/*
 * A growable text buffer for the pages the HTTP endpoint serves (the
 * metrics exposition, /ready's reasons). Errors are sticky: after an
 * allocation failure or once `max` bytes would be exceeded every append is
 * a no-op and moon_obuf_failed() says so, so a renderer appends freely and
 * checks once at the end.
 *
 * Ownership: the buffer owns `p`; moon_obuf_free() releases it. Not for the
 * per-query path (it allocates). One thread at a time.
 */
#ifndef MOON_METRICS_OBUF_H
#define MOON_METRICS_OBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct moon_obuf {
	char *p;
	size_t len;
	size_t cap;
	size_t max;                      /* 0 = no bound */
	bool failed;
};

/* Starts an empty buffer that may grow to max bytes (0 = unbounded). */
void moon_obuf_init(struct moon_obuf *b, size_t max);
void moon_obuf_free(struct moon_obuf *b);
/* Empties the buffer, keeping its memory and clearing a failure. */
void moon_obuf_reset(struct moon_obuf *b);

void moon_obuf_put(struct moon_obuf *b, const void *data, size_t len);
void moon_obuf_puts(struct moon_obuf *b, const char *s);
void moon_obuf_putc(struct moon_obuf *b, char c);
void moon_obuf_printf(struct moon_obuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void moon_obuf_u64(struct moon_obuf *b, uint64_t v);

static inline bool moon_obuf_failed(const struct moon_obuf *b)
{
	return b->failed;
}

#endif
