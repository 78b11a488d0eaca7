#include <stdlib.h>
#include <string.h>

#include "bridge/resp.h"
#include "bridge/rrtext.h"
#include "util/err.h"
#include "util/random.h"
#include "wire/dns.h"
#include "wire/wire.h"

#define ADDED_FLAG 0x80000000u   /* in owner_: the owner lives in the arena */

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int moon_redit_init(struct moon_redit *e)
{
	memset(e, 0, sizeof(*e));
	e->rr = malloc(MOON_REDIT_MAX_RR * sizeof(*e->rr));
	e->order = malloc(MOON_REDIT_MAX_RR * sizeof(*e->order));
	e->arena = malloc(MOON_REDIT_ARENA);
	e->tmp = malloc(MOON_MAX_MSG);
	if (!e->rr || !e->order || !e->arena || !e->tmp) {
		moon_redit_deinit(e);
		return -ENOMEM;
	}
	moon_random_bytes(&e->rng, sizeof(e->rng));
	e->rng |= 1;
	e->ede = -1;
	return 0;
}

void moon_redit_deinit(struct moon_redit *e)
{
	free(e->rr);
	free(e->order);
	free(e->arena);
	free(e->tmp);
	e->tmp = NULL;
	e->rr = NULL;
	e->order = NULL;
	e->arena = NULL;
}

void moon_redit_reset(struct moon_redit *e, uint8_t *wire, size_t len)
{
	e->wire = wire;
	e->len = len;
	e->n = 0;
	e->parsed = false;
	e->dirty = false;
	e->filtered = false;
	e->has_opt = false;
	e->ede = -1;
	e->arena_used = 0;
	memset(e->sec, 0, sizeof(e->sec));
}

/* Skips a name (compression allowed) and checks it. */
static int skip_name(const uint8_t *wire, size_t len, size_t *pos)
{
	uint8_t name[MOON_NAME_MAXLEN];
	return moon_name_unpack(wire, len, pos, name) < 0 ? MOON_EMALF : 0;
}

static int parse_rr(struct moon_redit *e, int sec, size_t *pos)
{
	const uint8_t *w = e->wire;
	size_t owner = *pos;
	if (skip_name(w, e->len, pos) || *pos + 10 > e->len)
		return MOON_EMALF;
	size_t p = *pos;
	uint16_t type = moon_get_u16(w + p), rclass = moon_get_u16(w + p + 2);
	uint16_t rdlen = moon_get_u16(w + p + 8);
	if (p + 10 + rdlen > e->len)
		return MOON_EMALF;
	*pos = p + 10 + rdlen;
	if (type == MOON_T_OPT && sec == MOON_SEC_ADDITIONAL) {
		e->has_opt = true;
		e->opt_rdata = p + 10;
		e->opt_rdlen = rdlen;
		return 0;
	}
	if (e->n == MOON_REDIT_MAX_RR)
		return MOON_EMALF;
	struct moon_ffi_rr *r = &e->rr[e->n];
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->class = rclass;
	r->ttl = moon_get_u32(w + p + 4);
	r->section = (uint8_t)sec;
	r->owner_ = (uint32_t)owner;
	r->rdata_ = (uint32_t)(p + 10);
	r->rdlen_ = rdlen;
	r->ttl_off_ = (uint32_t)(p + 4);
	e->order[e->n] = (uint16_t)e->n;
	e->n++;
	return 0;
}

int moon_redit_parse(struct moon_redit *e)
{
	if (e->parsed)
		return (int)e->n;
	const uint8_t *w = e->wire;
	if (e->len < MOON_HDR_LEN)
		return MOON_EMALF;
	size_t pos = MOON_HDR_LEN;
	if (moon_get_u16(w + 4) > 1)
		return MOON_EMALF;
	if (moon_get_u16(w + 4) == 1) {
		if (skip_name(w, e->len, &pos) || pos + 4 > e->len)
			return MOON_EMALF;
		pos += 4;
	}
	for (int s = 0; s < 3; s++) {
		e->sec[s] = (int32_t)e->n;
		uint16_t count = moon_get_u16(w + 6 + 2 * s);
		for (unsigned i = 0; i < count; i++) {
			int ret = parse_rr(e, s, &pos);
			if (ret)
				return ret;
		}
	}
	e->sec[3] = (int32_t)e->n;
	e->parsed = true;
	return (int)e->n;
}

static void *arena_put(struct moon_redit *e, const void *data, size_t len, uint32_t *off)
{
	if (e->arena_used + len > MOON_REDIT_ARENA)
		return NULL;
	*off = (uint32_t)e->arena_used;
	memcpy(e->arena + e->arena_used, data, len);
	e->arena_used += len;
	return e->arena + *off;
}

int moon_redit_pos(const struct moon_redit *e, int i)
{
	for (int k = 0; k < e->sec[3]; k++)
		if (e->order[k] == i)
			return k;
	return -1;
}

int moon_redit_add(struct moon_redit *e, int section, const uint8_t *owner, uint16_t type,
		   uint32_t ttl, const uint8_t *rdata, uint16_t rdlen, int pos)
{
	if (section < 0 || section > 2)
		return -EINVAL;
	if (pos < 0)
		pos = e->sec[section + 1];
	if (pos < e->sec[section] || pos > e->sec[section + 1])
		return -EINVAL;
	if (e->n == MOON_REDIT_MAX_RR)
		return MOON_ELIMIT;
	uint32_t ooff, roff;
	if (!arena_put(e, owner, moon_name_len(owner), &ooff) ||
	    !arena_put(e, rdata, rdlen, &roff))
		return MOON_ELIMIT;
	int i = (int)e->n++;
	struct moon_ffi_rr *r = &e->rr[i];
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->class = MOON_CLASS_IN;
	r->ttl = ttl;
	r->section = (uint8_t)section;
	r->added = true;
	r->owner_ = ooff | ADDED_FLAG;
	r->rdata_ = roff;
	r->rdlen_ = rdlen;
	memmove(&e->order[pos + 1], &e->order[pos], (size_t)(e->sec[3] - pos) * sizeof(e->order[0]));
	e->order[pos] = (uint16_t)i;
	for (int s = section + 1; s <= 3; s++)
		e->sec[s]++;
	e->dirty = true;
	return i;
}

static bool bad_index(const struct moon_redit *e, int i)
{
	return i < 0 || (uint32_t)i >= e->n;
}

int moon_redit_remove(struct moon_redit *e, int i)
{
	if (bad_index(e, i))
		return -EINVAL;
	if (!e->rr[i].removed) {
		e->rr[i].removed = true;
		e->dirty = true;
	}
	return 0;
}

int moon_redit_set_ttl(struct moon_redit *e, int i, uint32_t ttl)
{
	if (bad_index(e, i))
		return -EINVAL;
	struct moon_ffi_rr *r = &e->rr[i];
	r->ttl = ttl;
	if (r->ttl_off_)
		put_u32(e->wire + r->ttl_off_, ttl);
	return 0;
}

int moon_redit_owner(const struct moon_redit *e, int i, uint8_t out[MOON_NAME_MAXLEN])
{
	if (bad_index(e, i))
		return -EINVAL;
	const struct moon_ffi_rr *r = &e->rr[i];
	if (r->owner_ & ADDED_FLAG) {
		const uint8_t *name = e->arena + (r->owner_ & ~ADDED_FLAG);
		size_t len = moon_name_len(name);
		memcpy(out, name, len);
		return (int)len;
	}
	size_t pos = r->owner_;
	return moon_name_unpack(e->wire, e->len, &pos, out);
}

int moon_redit_rdata(const struct moon_redit *e, int i, uint8_t *out, size_t cap)
{
	if (bad_index(e, i))
		return -EINVAL;
	const struct moon_ffi_rr *r = &e->rr[i];
	if (r->owner_ & ADDED_FLAG) {
		if (r->rdlen_ > cap)
			return MOON_ESPACE;
		memcpy(out, e->arena + r->rdata_, r->rdlen_);
		return r->rdlen_;
	}
	return moon_rdata_unpack(r->type, e->wire, e->len, r->rdata_, r->rdlen_, out, cap);
}

static uint32_t rnd(struct moon_redit *e, uint32_t bound)
{
	/* xorshift64*: statistical quality is all a shuffle needs. */
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return (uint32_t)(((e->rng * 0x2545F4914F6CDD1Dull) >> 32) % bound);
}

static bool same_set(const struct moon_redit *e, int a, int b)
{
	if (e->rr[a].type != e->rr[b].type || e->rr[a].class != e->rr[b].class)
		return false;
	uint8_t na[MOON_NAME_MAXLEN], nb[MOON_NAME_MAXLEN];
	return moon_redit_owner(e, a, na) > 0 && moon_redit_owner(e, b, nb) > 0 &&
	       moon_name_equal(na, nb);
}

static bool wanted(uint16_t type, const uint16_t *types, int ntypes)
{
	if (!types)
		return true;
	for (int i = 0; i < ntypes; i++)
		if (types[i] == type)
			return true;
	return false;
}

static void shuffle_section(struct moon_redit *e, int s, const uint16_t *types, int ntypes)
{
	int start = e->sec[s], end = e->sec[s + 1];
	uint8_t done[MOON_REDIT_MAX_RR / 8 + 1] = { 0 };
	/* For each RRset (in order of first appearance), gather the positions
	 * of its records and permute the records over those positions. */
	for (int k = start; k < end; k++) {
		if (done[(k - start) / 8] & (1 << ((k - start) % 8)) ||
		    !wanted(e->rr[e->order[k]].type, types, ntypes))
			continue;
		uint16_t pos[256];
		unsigned np = 0;
		for (int j = k; j < end && np < 256; j++) {
			if (same_set(e, e->order[k], e->order[j])) {
				pos[np++] = (uint16_t)j;
				done[(j - start) / 8] |= (uint8_t)(1 << ((j - start) % 8));
			}
		}
		for (unsigned a = np; a > 1; a--) {
			unsigned b = rnd(e, a);
			uint16_t t = e->order[pos[a - 1]];
			e->order[pos[a - 1]] = e->order[pos[b]];
			e->order[pos[b]] = t;
		}
		if (np > 1)
			e->dirty = true;
	}
}

void moon_redit_shuffle(struct moon_redit *e, int section, const uint16_t *types, int ntypes)
{
	for (int s = 0; s < 3; s++)
		if (section < 0 || section == s)
			shuffle_section(e, s, types, ntypes);
}

int moon_redit_reorder(struct moon_redit *e, const int32_t *idx, int n)
{
	if (n < 0 || n > MOON_REDIT_MAX_RR)
		return -EINVAL;
	/* The positions the records hold, in increasing order: the order
	 * array is scanned once, marking which of its entries are listed. */
	uint8_t listed[MOON_REDIT_MAX_RR / 8 + 1] = { 0 };
	for (int i = 0; i < n; i++) {
		if (bad_index(e, idx[i]) || e->rr[idx[i]].section != e->rr[idx[0]].section ||
		    listed[idx[i] / 8] & (1 << (idx[i] % 8)))
			return -EINVAL;
		listed[idx[i] / 8] |= (uint8_t)(1 << (idx[i] % 8));
	}
	int next = 0;
	for (int k = 0; k < e->sec[3] && next < n; k++) {
		int i = e->order[k];
		if (listed[i / 8] & (1 << (i % 8)))
			e->order[k] = (uint16_t)idx[next++];
	}
	if (n > 1)
		e->dirty = true;
	return 0;
}

int moon_redit_write(const struct moon_redit *e, struct moon_pktw *w, const uint8_t *alias)
{
	uint8_t owner[MOON_NAME_MAXLEN];
	uint8_t *rdata = e->tmp;
	int ret;
	for (int s = 0; s < 3; s++) {
		for (int k = e->sec[s]; k < e->sec[s + 1]; k++) {
			int i = e->order[k];
			const struct moon_ffi_rr *r = &e->rr[i];
			if (r->removed)
				continue;
			int rdlen = moon_redit_rdata(e, i, rdata, MOON_MAX_MSG);
			ret = rdlen < 0 ? rdlen : moon_redit_owner(e, i, owner);
			if (ret < 0)
				return ret;
			bool q = alias && w->question_end > MOON_HDR_LEN && moon_name_equal(owner, alias);
			ret = moon_pktw_put_rr(w, s, q ? NULL : owner, r->type, r->class, r->ttl, rdata,
					       (uint16_t)rdlen);
			if (ret == MOON_ESPACE && s < MOON_SEC_ADDITIONAL) {
				moon_pktw_truncate(w);
				return 0;
			}
			if (ret && ret != MOON_ESPACE)
				return ret;
		}
	}
	return 0;
}
