#include <string.h>

#include "query/meta.h"
#include "util/err.h"

static int find(const struct moon_meta *m, const char *key, size_t klen)
{
	for (unsigned i = 0; i < m->n; i++)
		if (m->e[i].klen == klen && memcmp(m->arena + m->e[i].koff, key, klen) == 0)
			return (int)i;
	return -1;
}

/* Rewrites the live bytes to the front of the arena, in entry order. The
 * copy goes through a stack buffer because entries may overlap their new
 * place in any order after earlier overwrites. */
static void compact(struct moon_meta *m)
{
	char tmp[MOON_META_ARENA];
	uint16_t used = 0;
	for (unsigned i = 0; i < m->n; i++) {
		struct moon_meta_entry *e = &m->e[i];
		memcpy(tmp + used, m->arena + e->koff, e->klen);
		e->koff = used;
		used = (uint16_t)(used + e->klen);
		memcpy(tmp + used, m->arena + e->voff, e->vlen);
		e->voff = used;
		used = (uint16_t)(used + e->vlen);
	}
	memcpy(m->arena, tmp, used);
	m->used = used;
}

static size_t live_bytes(const struct moon_meta *m)
{
	size_t n = 0;
	for (unsigned i = 0; i < m->n; i++)
		n += m->e[i].klen + m->e[i].vlen;
	return n;
}

/* Adds key (entry i, or a new one when i < 0) with val at the arena's end;
 * the caller checked that it fits. */
static void append(struct moon_meta *m, int i, const char *key, size_t klen, const char *val,
		   size_t vlen)
{
	struct moon_meta_entry *e;
	if (i < 0) {
		e = &m->e[m->n++];
		e->koff = m->used;
		e->klen = (uint16_t)klen;
		memcpy(m->arena + m->used, key, klen);
		m->used = (uint16_t)(m->used + klen);
	} else {
		e = &m->e[i];
	}
	memmove(m->arena + m->used, val, vlen);
	e->voff = m->used;
	e->vlen = (uint16_t)vlen;
	m->used = (uint16_t)(m->used + vlen);
}

int moon_meta_set(struct moon_meta *m, const char *key, size_t klen, const char *val, size_t vlen)
{
	if (klen == 0 || klen > MOON_META_MAX_KEY || vlen > MOON_META_MAX_VALUE)
		return -EINVAL;
	int i = find(m, key, klen);
	if (i < 0 && m->n == MOON_META_MAX_KEYS)
		return MOON_ELIMIT;
	/* An overwrite with a value no longer than the old one stays in place. */
	if (i >= 0 && vlen <= m->e[i].vlen) {
		memmove(m->arena + m->e[i].voff, val, vlen);
		m->e[i].vlen = (uint16_t)vlen;
		return 0;
	}
	size_t need = (i < 0 ? klen : 0) + vlen;
	char kcopy[MOON_META_MAX_KEY], vcopy[MOON_META_MAX_VALUE];
	if (m->used + need > MOON_META_ARENA) {
		size_t keep = live_bytes(m) - (i >= 0 ? m->e[i].vlen : 0);
		if (keep + need > MOON_META_ARENA)
			return MOON_ELIMIT;
		/* key and val may point into the arena (copied from another
		 * entry): save them before compacting moves things. */
		memcpy(kcopy, key, klen);
		memcpy(vcopy, val, vlen);
		if (i >= 0)
			m->e[i].vlen = 0;   /* the old value is being replaced */
		compact(m);
		key = kcopy;
		val = vcopy;
	}
	append(m, i, key, klen, val, vlen);
	return 0;
}

int moon_meta_del(struct moon_meta *m, const char *key, size_t klen)
{
	int i = find(m, key, klen);
	if (i < 0)
		return MOON_ENOTFOUND;
	memmove(&m->e[i], &m->e[i + 1], (m->n - (unsigned)i - 1) * sizeof(m->e[0]));
	m->n--;
	if (m->n == 0)
		m->used = 0;
	return 0;
}

const char *moon_meta_get(const struct moon_meta *m, const char *key, size_t klen, size_t *vlen)
{
	int i = find(m, key, klen);
	if (i < 0)
		return NULL;
	*vlen = m->e[i].vlen;
	return m->arena + m->e[i].voff;
}
