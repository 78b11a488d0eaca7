/*
 * Per-query metadata: a small string -> string map that the policies of one
 * query share (q.meta in Lua) and that later stages and the query log read
 * without Lua. Keys and values are byte strings (not NUL-terminated).
 *
 * It lives inside the query context, in a fixed arena: no allocation, and
 * bounded size. A set that does not fit returns MOON_ELIMIT and leaves the
 * map as it was. Order of iteration is the order in which keys were first
 * set. Overwriting or deleting a key leaves its old bytes in the arena until
 * a later set needs the room; the map then compacts itself.
 *
 * Threads: owned by the query, touched only by the worker running it.
 */
#ifndef MOON_QUERY_META_H
#define MOON_QUERY_META_H

#include <stddef.h>
#include <stdint.h>

#define MOON_META_MAX_KEYS 16
#define MOON_META_MAX_KEY 64      /* bytes in a key */
#define MOON_META_MAX_VALUE 512   /* bytes in a value */
#define MOON_META_ARENA 1536      /* bytes of all keys and values together */

struct moon_meta_entry {
	uint16_t koff, voff;      /* offsets in arena */
	uint16_t klen, vlen;
};

struct moon_meta {
	uint16_t n;               /* entries */
	uint16_t used;            /* arena bytes used, live or dead */
	struct moon_meta_entry e[MOON_META_MAX_KEYS];
	char arena[MOON_META_ARENA];
};

/* Empties the map (start of each query). */
static inline void moon_meta_reset(struct moon_meta *m)
{
	m->n = 0;
	m->used = 0;
}

/* Sets key to value. Returns 0, -EINVAL for an empty or too long key or a
 * too long value, MOON_ELIMIT when the map is full (keys or bytes). */
int moon_meta_set(struct moon_meta *m, const char *key, size_t klen, const char *val, size_t vlen);
/* Removes key; returns 0, or MOON_ENOTFOUND. */
int moon_meta_del(struct moon_meta *m, const char *key, size_t klen);
/* The value of key (valid until the next set/del/reset) and its length, or
 * NULL when absent. */
const char *moon_meta_get(const struct moon_meta *m, const char *key, size_t klen, size_t *vlen);

/* Entry i (0 <= i < m->n), for iteration. */
static inline const char *moon_meta_key(const struct moon_meta *m, unsigned i, size_t *klen)
{
	*klen = m->e[i].klen;
	return m->arena + m->e[i].koff;
}

static inline const char *moon_meta_value(const struct moon_meta *m, unsigned i, size_t *vlen)
{
	*vlen = m->e[i].vlen;
	return m->arena + m->e[i].voff;
}

#endif
