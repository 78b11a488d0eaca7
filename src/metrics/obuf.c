#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/obuf.h"

void moon_obuf_init(struct moon_obuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void moon_obuf_free(struct moon_obuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void moon_obuf_reset(struct moon_obuf *b)
{
	b->len = 0;
	b->failed = false;
}

/* Makes room for `more` bytes plus a terminating NUL. */
static bool reserve(struct moon_obuf *b, size_t more)
{
	if (b->failed)
		return false;
	size_t need = b->len + more + 1;
	if (need < b->len || (b->max && need > b->max + 1)) {
		b->failed = true;
		return false;
	}
	if (need <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void moon_obuf_put(struct moon_obuf *b, const void *data, size_t len)
{
	if (!reserve(b, len))
		return;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = 0;
}

void moon_obuf_puts(struct moon_obuf *b, const char *s)
{
	moon_obuf_put(b, s, strlen(s));
}

void moon_obuf_putc(struct moon_obuf *b, char c)
{
	moon_obuf_put(b, &c, 1);
}

void moon_obuf_printf(struct moon_obuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		moon_obuf_put(b, small, (size_t)n);
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void moon_obuf_u64(struct moon_obuf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	moon_obuf_put(b, tmp + i, sizeof(tmp) - i);
}
