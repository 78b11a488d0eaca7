/*
 * Bounds-checked cursor over a byte buffer. Every read and write of DNS wire
 * data goes through it. Errors are sticky: the first out-of-bounds access
 * sets `err` (MOON_EMALF on read, MOON_ESPACE on write), later operations do
 * nothing and reads return 0, so a parser checks `err` once at the end of a
 * block instead of after every field. All multi-byte values are big-endian.
 */
#ifndef MOON_WIRE_WIRE_H
#define MOON_WIRE_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/err.h"

struct moon_wire {
	uint8_t *start;
	uint8_t *pos;
	uint8_t *end;
	int err;
};

static inline void moon_wire_init(struct moon_wire *w, void *buf, size_t len)
{
	w->start = buf;
	w->pos = buf;
	w->end = (uint8_t *)buf + len;
	w->err = 0;
}

static inline size_t moon_wire_avail(const struct moon_wire *w)
{
	return (size_t)(w->end - w->pos);
}

static inline size_t moon_wire_offset(const struct moon_wire *w)
{
	return (size_t)(w->pos - w->start);
}

static inline int moon__wire_need(struct moon_wire *w, size_t n, int err)
{
	if (w->err)
		return 0;
	if (moon_wire_avail(w) < n) {
		w->err = err;
		return 0;
	}
	return 1;
}

static inline void moon_wire_seek(struct moon_wire *w, size_t offset)
{
	if (w->err)
		return;
	if (offset > (size_t)(w->end - w->start))
		w->err = MOON_EMALF;
	else
		w->pos = w->start + offset;
}

static inline void moon_wire_skip(struct moon_wire *w, size_t n)
{
	if (moon__wire_need(w, n, MOON_EMALF))
		w->pos += n;
}

static inline uint8_t moon_wire_get_u8(struct moon_wire *w)
{
	if (!moon__wire_need(w, 1, MOON_EMALF))
		return 0;
	return *w->pos++;
}

static inline uint16_t moon_wire_get_u16(struct moon_wire *w)
{
	if (!moon__wire_need(w, 2, MOON_EMALF))
		return 0;
	uint16_t v = (uint16_t)(w->pos[0] << 8 | w->pos[1]);
	w->pos += 2;
	return v;
}

static inline uint32_t moon_wire_get_u32(struct moon_wire *w)
{
	if (!moon__wire_need(w, 4, MOON_EMALF))
		return 0;
	uint32_t v = (uint32_t)w->pos[0] << 24 | (uint32_t)w->pos[1] << 16 |
		     (uint32_t)w->pos[2] << 8 | w->pos[3];
	w->pos += 4;
	return v;
}

static inline void moon_wire_get_bytes(struct moon_wire *w, void *dst, size_t n)
{
	if (!moon__wire_need(w, n, MOON_EMALF))
		return;
	memcpy(dst, w->pos, n);
	w->pos += n;
}

static inline void moon_wire_put_u8(struct moon_wire *w, uint8_t v)
{
	if (moon__wire_need(w, 1, MOON_ESPACE))
		*w->pos++ = v;
}

static inline void moon_wire_put_u16(struct moon_wire *w, uint16_t v)
{
	if (!moon__wire_need(w, 2, MOON_ESPACE))
		return;
	w->pos[0] = (uint8_t)(v >> 8);
	w->pos[1] = (uint8_t)v;
	w->pos += 2;
}

static inline void moon_wire_put_u32(struct moon_wire *w, uint32_t v)
{
	if (!moon__wire_need(w, 4, MOON_ESPACE))
		return;
	w->pos[0] = (uint8_t)(v >> 24);
	w->pos[1] = (uint8_t)(v >> 16);
	w->pos[2] = (uint8_t)(v >> 8);
	w->pos[3] = (uint8_t)v;
	w->pos += 4;
}

static inline void moon_wire_put_bytes(struct moon_wire *w, const void *src, size_t n)
{
	if (!moon__wire_need(w, n, MOON_ESPACE))
		return;
	memcpy(w->pos, src, n);
	w->pos += n;
}

/* Unchecked big-endian helpers for data already known to be in bounds. */
static inline uint16_t moon_get_u16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void moon_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline uint32_t moon_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
