#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/msg.h"
#include "cache/siphash.h"
#include "util/err.h"
#include "util/random.h"
#include "wire/dns.h"
#include "wire/wire.h"

/* Successes and denials have separate count caps, so separate LRU lists. */
enum { LIST_SUCCESS, LIST_DENIAL, NLISTS };

struct entry {
	struct entry *hnext;        /* hash chain */
	struct entry **hprev;       /* the pointer that points at this entry */
	struct entry *prev, *next;  /* LRU list of its kind, most recent first */
	uint64_t hash;
	int64_t stored;             /* ms */
	int64_t expire;             /* ms: stored + lifetime */
	int64_t last_used;          /* ms, to compare the tails of the two lists */
	int64_t failed_until;       /* ms: an upstream failure was recorded */
	uint32_t ttl;               /* lifetime in seconds */
	uint32_t heap_idx;
	uint32_t mem;               /* accounted bytes */
	uint32_t hits;
	uint32_t block;
	uint16_t qtype, qclass;
	uint16_t len;               /* message bytes */
	uint16_t nttl;
	uint8_t flags, name_len;
	uint8_t kind;
	bool prefetching;           /* a prefetch hint was handed out */
	uint8_t data[];             /* nttl TTL offsets (uint16_t), then the message */
};

struct lru {
	struct entry *head, *tail;
	uint32_t n, cap;
};

struct counters {
	uint64_t hits, stale_hits, misses, inserts, evictions, expired, prefetches;
};

/* Aligned so that two shards never share a cache line. */
struct shard {
	pthread_mutex_t lock;
	struct entry **buckets;
	uint32_t mask;
	uint32_t n, slots;          /* entries, and the heap's size */
	struct entry **heap;        /* every entry, min-heap on expire */
	struct lru lists[NLISTS];
	size_t bytes, budget;       /* entry bytes, and their cap */
	struct counters ct;
} __attribute__((aligned(64)));

struct moon_cache {
	struct moon_cache_opts o;
	uint8_t secret[MOON_SIPHASH_KEYLEN];
	int64_t stale_ms;           /* how long expired entries stay servable */
	size_t fixed_bytes;         /* the cache struct, shards and their tables */
	struct shard *shards;
};

/* Smallest entry: the struct, a header plus root question, allocator overhead.
 * Bounds the slots a shard's byte budget could ever fill. */
#define MIN_ENTRY_BYTES (sizeof(struct entry) + 32)
#define MIN_SHARD_BYTES 16384
#define MAX_SERVFAIL_TTL 30
#define MAX_TTL 0x7fffffffu
/* LRU tail entries examined for an expired one when a kind is at its cap. */
#define TAIL_SCAN 8

void moon_cache_opts_default(struct moon_cache_opts *o)
{
	*o = (struct moon_cache_opts){
		.capacity_bytes = 64u << 20,
		.success_max_entries = 100000,
		.denial_max_entries = 50000,
		.success_min_ttl = 5,
		.success_max_ttl = 3600,
		.denial_min_ttl = 5,
		.denial_max_ttl = 1800,
		.servfail_ttl = 5,
		.prefetch_hits = 0,
		.prefetch_percent = 10,
		.serve_stale = false,
		.stale_answer_ttl = 30,
		.stale_max = 3600,
		.shards = 64,
	};
}

const char *moon_cache_opts_check(const struct moon_cache_opts *o)
{
	if (o->shards < 1 || o->shards > 1024 || (o->shards & (o->shards - 1)))
		return "shards must be a power of two from 1 to 1024";
	if (o->capacity_bytes / o->shards < MIN_SHARD_BYTES)
		return "capacity below 16 KiB per shard";
	if (o->success_max_ttl > MAX_TTL || o->denial_max_ttl > MAX_TTL ||
	    o->stale_answer_ttl > MAX_TTL || o->stale_max > MAX_TTL)
		return "TTL above 2^31-1";
	if (o->success_max_ttl && o->success_min_ttl > o->success_max_ttl)
		return "success min TTL above its max TTL";
	if (o->denial_max_ttl && o->denial_min_ttl > o->denial_max_ttl)
		return "denial min TTL above its max TTL";
	if (o->servfail_ttl > MAX_SERVFAIL_TTL)
		return "servfail TTL above 30 s";
	if (o->prefetch_hits && (o->prefetch_percent < 1 || o->prefetch_percent > 99))
		return "prefetch percent must be from 1 to 99";
	if (o->serve_stale && !o->stale_max)
		return "serve_stale needs a stale period above 0";
	return NULL;
}

static uint32_t ceil_div(uint32_t a, uint32_t b)
{
	return (uint32_t)(((uint64_t)a + b - 1) / b);
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

/* Sizes one shard's tables from its share of the byte budget; returns the
 * bytes they take, or 0 when out of memory. */
static size_t shard_init(struct shard *s, const struct moon_cache_opts *o, size_t share)
{
	uint32_t caps[NLISTS] = { ceil_div(o->success_max_entries, o->shards),
				  ceil_div(o->denial_max_entries, o->shards) };
	uint64_t slots = (uint64_t)caps[0] + caps[1];
	if (slots > share / MIN_ENTRY_BYTES)
		slots = share / MIN_ENTRY_BYTES;
	if (slots == 0)
		slots = 1;
	s->slots = (uint32_t)slots;
	s->mask = pow2_at_least(s->slots) - 1;
	for (int i = 0; i < NLISTS; i++)
		s->lists[i].cap = caps[i] < s->slots ? caps[i] : s->slots;
	s->buckets = calloc((size_t)s->mask + 1, sizeof(*s->buckets));
	s->heap = calloc(s->slots, sizeof(*s->heap));
	if (!s->buckets || !s->heap || pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s->buckets);
		free(s->heap);
		return 0;
	}
	size_t tables = ((size_t)s->mask + 1 + s->slots) * sizeof(struct entry *);
	s->budget = share > tables ? share - tables : 0;
	return tables;
}

static void shard_free(struct shard *s)
{
	for (uint32_t b = 0; b <= s->mask; b++)
		for (struct entry *e = s->buckets[b], *next; e; e = next) {
			next = e->hnext;
			free(e);
		}
	free(s->buckets);
	free(s->heap);
	pthread_mutex_destroy(&s->lock);
}

struct moon_cache *moon_cache_new(const struct moon_cache_opts *o)
{
	if (moon_cache_opts_check(o))
		return NULL;
	struct moon_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->o = *o;
	c->stale_ms = o->serve_stale ? (int64_t)o->stale_max * 1000 : 0;
	moon_random_bytes(c->secret, sizeof(c->secret));
	c->shards = aligned_alloc(_Alignof(struct shard), o->shards * sizeof(struct shard));
	if (!c->shards)
		goto fail_cache;
	memset(c->shards, 0, o->shards * sizeof(struct shard));
	size_t share = (o->capacity_bytes - sizeof(*c)) / o->shards - sizeof(struct shard);
	c->fixed_bytes = sizeof(*c) + o->shards * sizeof(struct shard);
	for (unsigned i = 0; i < o->shards; i++) {
		size_t tables = shard_init(&c->shards[i], o, share);
		if (!tables) {
			while (i--)
				shard_free(&c->shards[i]);
			goto fail_shards;
		}
		c->fixed_bytes += tables;
	}
	return c;

fail_shards:
	free(c->shards);
fail_cache:
	free(c);
	return NULL;
}

void moon_cache_free(struct moon_cache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->o.shards; i++)
		shard_free(&c->shards[i]);
	free(c->shards);
	free(c);
}

void moon_cache_key_init(const struct moon_cache *c, struct moon_cache_key *k,
			 const uint8_t *qname, uint16_t qtype, uint16_t qclass,
			 bool do_bit, bool cd, uint32_t block)
{
	size_t n = moon_name_tolower(k->name, qname);
	k->name_len = (uint8_t)n;
	k->qtype = qtype;
	k->qclass = qclass;
	k->flags = (uint8_t)((do_bit ? MOON_CACHE_KEY_DO : 0) | (cd ? MOON_CACHE_KEY_CD : 0));
	k->block = block;

	uint8_t buf[MOON_NAME_MAXLEN + 9];
	memcpy(buf, k->name, n);
	uint8_t *p = buf + n;
	moon_put_u16(p, qtype);
	moon_put_u16(p + 2, qclass);
	p[4] = k->flags;
	moon_put_u16(p + 5, (uint16_t)(block >> 16));
	moon_put_u16(p + 7, (uint16_t)block);
	k->hash = moon_siphash24(c->secret, buf, n + 9);
}

/* ---- entries ---- */

static inline struct shard *shard_of(struct moon_cache *c, uint64_t hash)
{
	/* The high half picks the shard, the low half the bucket. */
	return &c->shards[(hash >> 32) & (c->o.shards - 1)];
}

static inline const uint16_t *entry_offs(const struct entry *e)
{
	return (const uint16_t *)e->data;
}

static inline const uint8_t *entry_msg(const struct entry *e)
{
	return e->data + (size_t)e->nttl * sizeof(uint16_t);
}

static inline int entry_list(const struct entry *e)
{
	return e->kind == MOON_CACHE_SUCCESS ? LIST_SUCCESS : LIST_DENIAL;
}

static inline bool entry_is(const struct entry *e, const struct moon_cache_key *k)
{
	return e->hash == k->hash && e->qtype == k->qtype && e->qclass == k->qclass &&
	       e->flags == k->flags && e->block == k->block && e->name_len == k->name_len &&
	       memcmp(entry_msg(e) + MOON_HDR_LEN, k->name, k->name_len) == 0;
}

/* Last moment the entry may be answered from, fresh or stale. */
static inline int64_t entry_end(const struct moon_cache *c, const struct entry *e)
{
	return e->kind == MOON_CACHE_SERVFAIL ? e->expire : e->expire + c->stale_ms;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	moon_put_u16(p, (uint16_t)(v >> 16));
	moon_put_u16(p + 2, (uint16_t)v);
}

/* Copies the message into a new entry: ID zeroed, question lowercased,
 * trailing OPT cut off, every TTL capped at the entry's lifetime. */
static struct entry *entry_new(const struct moon_cache_key *k, const uint8_t *msg,
			       const struct moon_cache_msg *m, int64_t now)
{
	size_t offs_len = (size_t)m->nttl * sizeof(uint16_t);
	struct entry *e = malloc(sizeof(*e) + offs_len + m->store_len);
	if (!e)
		return NULL;
	*e = (struct entry){
		.hash = k->hash, .stored = now, .expire = now + (int64_t)m->ttl * 1000,
		.last_used = now, .ttl = m->ttl, .block = k->block, .qtype = k->qtype,
		.qclass = k->qclass, .len = m->store_len, .nttl = m->nttl, .flags = k->flags,
		.name_len = k->name_len, .kind = (uint8_t)m->kind,
	};
	memcpy(e->data, m->ttl_off, offs_len);
	uint8_t *w = e->data + offs_len;
	memcpy(w, msg, m->store_len);
	moon_put_u16(w, 0);
	memcpy(w + MOON_HDR_LEN, k->name, k->name_len);
	if (m->opt_stripped)
		moon_put_u16(w + 10, (uint16_t)(moon_get_u16(w + 10) - 1));
	for (unsigned i = 0; i < m->nttl; i++) {
		uint32_t ttl = moon_get_u32(w + m->ttl_off[i]);
		if (ttl > m->ttl)
			put_u32(w + m->ttl_off[i], m->ttl);
	}
	/* The allocator's real block plus its size word, so the cap bounds RSS. */
	e->mem = (uint32_t)(malloc_usable_size(e) + sizeof(size_t));
	return e;
}

/* ---- the shard's structures; all run under the shard lock ---- */

static inline void heap_set(struct shard *s, uint32_t i, struct entry *e)
{
	s->heap[i] = e;
	e->heap_idx = i;
}

static void heap_up(struct shard *s, uint32_t i)
{
	struct entry *e = s->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (s->heap[parent]->expire <= e->expire)
			break;
		heap_set(s, i, s->heap[parent]);
		i = parent;
	}
	heap_set(s, i, e);
}

static void heap_down(struct shard *s, uint32_t i)
{
	struct entry *e = s->heap[i];
	for (;;) {
		uint32_t child = 2 * i + 1;
		if (child >= s->n)
			break;
		if (child + 1 < s->n && s->heap[child + 1]->expire < s->heap[child]->expire)
			child++;
		if (e->expire <= s->heap[child]->expire)
			break;
		heap_set(s, i, s->heap[child]);
		i = child;
	}
	heap_set(s, i, e);
}

static void lru_unlink(struct lru *l, struct entry *e)
{
	*(e->prev ? &e->prev->next : &l->head) = e->next;
	*(e->next ? &e->next->prev : &l->tail) = e->prev;
}

static void lru_push_front(struct lru *l, struct entry *e)
{
	e->prev = NULL;
	e->next = l->head;
	*(l->head ? &l->head->prev : &l->tail) = e;
	l->head = e;
}

static void link_entry(struct shard *s, struct entry *e)
{
	struct entry **b = &s->buckets[e->hash & s->mask];
	e->hnext = *b;
	e->hprev = b;
	if (*b)
		(*b)->hprev = &e->hnext;
	*b = e;
	struct lru *l = &s->lists[entry_list(e)];
	lru_push_front(l, e);
	l->n++;
	heap_set(s, s->n++, e);
	heap_up(s, e->heap_idx);
	s->bytes += e->mem;
}

static void drop_entry(struct shard *s, struct entry *e)
{
	*e->hprev = e->hnext;
	if (e->hnext)
		e->hnext->hprev = e->hprev;
	struct lru *l = &s->lists[entry_list(e)];
	lru_unlink(l, e);
	l->n--;
	uint32_t i = e->heap_idx;
	if (i != --s->n) {
		/* The last leaf fills the hole, then moves whichever way it must. */
		heap_set(s, i, s->heap[s->n]);
		heap_up(s, i);
		heap_down(s, i);
	}
	s->bytes -= e->mem;
	free(e);
}

static struct entry *find(struct shard *s, const struct moon_cache_key *k)
{
	for (struct entry *e = s->buckets[k->hash & s->mask]; e; e = e->hnext)
		if (entry_is(e, k))
			return e;
	return NULL;
}

/* The entry to evict for room in list l: an expired one if one is handy,
 * else the least recently used. */
static struct entry *victim_in(struct shard *s, int list, int64_t now)
{
	if (s->n && s->heap[0]->expire <= now && entry_list(s->heap[0]) == list)
		return s->heap[0];
	struct entry *e = s->lists[list].tail;
	for (int i = 0; e && i < TAIL_SCAN; e = e->prev, i++)
		if (e->expire <= now)
			return e;
	return s->lists[list].tail;
}

/* The entry to evict for bytes or slots: the earliest expired, else the
 * older of the two least recently used. */
static struct entry *victim_any(struct shard *s, int64_t now)
{
	if (s->n && s->heap[0]->expire <= now)
		return s->heap[0];
	struct entry *a = s->lists[LIST_SUCCESS].tail, *b = s->lists[LIST_DENIAL].tail;
	if (!a || !b)
		return a ? a : b;
	return a->last_used <= b->last_used ? a : b;
}

/* Frees a few entries past their last servable moment, so that memory held
 * by names nobody asks for again comes back without a sweeper thread. */
static void reap(struct moon_cache *c, struct shard *s, int64_t now)
{
	for (int i = 0; i < 4 && s->n && entry_end(c, s->heap[0]) <= now; i++) {
		drop_entry(s, s->heap[0]);
		s->ct.expired++;
	}
}

static bool usable(const struct moon_cache *c, const struct entry *e, int64_t now)
{
	return now < entry_end(c, e);
}

static int place(struct moon_cache *c, struct shard *s, struct entry *e, int64_t now,
		 const struct moon_cache_key *k)
{
	if (e->mem > s->budget)
		return MOON_ELIMIT;
	struct entry *old = find(s, k);
	if (old) {
		if (e->kind == MOON_CACHE_SERVFAIL && old->kind != MOON_CACHE_SERVFAIL &&
		    usable(c, old, now)) {
			old->failed_until = now + (int64_t)c->o.servfail_ttl * 1000;
			return -EEXIST;
		}
		drop_entry(s, old);
	}
	reap(c, s, now);
	int list = entry_list(e);
	while (s->lists[list].n >= s->lists[list].cap) {
		drop_entry(s, victim_in(s, list, now));
		s->ct.evictions++;
	}
	while (s->n >= s->slots || s->bytes + e->mem > s->budget) {
		drop_entry(s, victim_any(s, now));
		s->ct.evictions++;
	}
	link_entry(s, e);
	s->ct.inserts++;
	return 0;
}

int moon_cache_insert(struct moon_cache *c, const struct moon_cache_key *key,
		      const uint8_t *msg, size_t len, int64_t now)
{
	struct moon_cache_msg m;
	int err = moon_cache_msg_read(&m, msg, len, key, &c->o);
	if (err < 0)
		return err;
	uint32_t cap = m.kind == MOON_CACHE_SUCCESS ? c->o.success_max_entries
						    : c->o.denial_max_entries;
	if (!cap)
		return MOON_ELIMIT;
	struct entry *e = entry_new(key, msg, &m, now);
	if (!e)
		return -ENOMEM;
	struct shard *s = shard_of(c, key->hash);
	pthread_mutex_lock(&s->lock);
	err = place(c, s, e, now, key);
	pthread_mutex_unlock(&s->lock);
	if (err < 0)
		free(e);
	return err;
}

/* ---- lookup ---- */

/* The client's question goes in only when it is the key's name in another
 * case; anything else (compressed, truncated) keeps the stored lowercase. */
static void copy_question(uint8_t *out, const uint8_t *q, size_t qlen, unsigned name_len)
{
	if (qlen < MOON_HDR_LEN + (size_t)name_len)
		return;
	for (unsigned i = MOON_HDR_LEN; i < MOON_HDR_LEN + name_len; i++)
		if (moon_name_lower(q[i]) != out[i])
			return;
	memcpy(out + MOON_HDR_LEN, q + MOON_HDR_LEN, name_len);
}

static void patch_header(uint8_t *out, const uint8_t *q, uint8_t key_flags)
{
	uint16_t qflags = moon_get_u16(q + 2);
	uint16_t flags = (uint16_t)((moon_get_u16(out + 2) & ~MOON_FLAG_RD) | (qflags & MOON_FLAG_RD));
	if (!(key_flags & MOON_CACHE_KEY_DO) && !(qflags & MOON_FLAG_AD))
		flags &= (uint16_t)~MOON_FLAG_AD;
	out[0] = q[0];
	out[1] = q[1];
	moon_put_u16(out + 2, flags);
}

/* Every TTL counts down by the entry's age; stale answers carry a fixed TTL. */
static void patch_ttls(uint8_t *out, const struct entry *e, int64_t now, bool stale,
		       uint32_t stale_ttl)
{
	const uint16_t *off = entry_offs(e);
	int64_t age_ms = now - e->stored;
	uint32_t age = age_ms > 0 ? (uint32_t)(age_ms / 1000) : 0;
	for (unsigned i = 0; i < e->nttl; i++) {
		uint8_t *p = out + off[i];
		uint32_t ttl = moon_get_u32(p);
		put_u32(p, stale ? stale_ttl : ttl > age ? ttl - age : 0);
	}
}

static bool want_prefetch(const struct moon_cache_opts *o, struct entry *e, int64_t now)
{
	if (!o->prefetch_hits || e->prefetching || e->hits < o->prefetch_hits)
		return false;
	int64_t threshold = (int64_t)e->ttl * 10 * o->prefetch_percent;
	if (threshold < 1000)
		threshold = 1000;
	if (e->expire - now >= threshold)
		return false;
	e->prefetching = true;
	return true;
}

/* Decides HIT / STALE / MISS for a found entry; drops it when it is past use. */
static enum moon_cache_state judge(struct moon_cache *c, struct shard *s, struct entry *e,
				   int64_t now)
{
	if (now < e->expire)
		return MOON_CACHE_HIT;
	if (usable(c, e, now))
		return MOON_CACHE_STALE;
	drop_entry(s, e);
	s->ct.expired++;
	return MOON_CACHE_MISS;
}

static int answer(struct moon_cache *c, struct shard *s, struct entry *e,
		  const uint8_t *q, size_t qlen, uint8_t *out, size_t cap, int64_t now,
		  struct moon_cache_result *res)
{
	res->kind = (enum moon_cache_kind)e->kind;
	if (e->len > cap)
		return MOON_ESPACE;
	bool stale = res->state == MOON_CACHE_STALE;
	memcpy(out, entry_msg(e), e->len);
	patch_header(out, q, e->flags);
	copy_question(out, q, qlen, e->name_len);
	patch_ttls(out, e, now, stale, c->o.stale_answer_ttl);

	e->hits++;
	e->last_used = now;
	struct lru *l = &s->lists[entry_list(e)];
	if (l->head != e) {
		lru_unlink(l, e);
		lru_push_front(l, e);
	}
	if (stale) {
		res->failed = now < e->failed_until;
		s->ct.stale_hits++;
	} else {
		res->ttl = (uint32_t)((e->expire - now) / 1000);
		res->prefetch = want_prefetch(&c->o, e, now);
		s->ct.prefetches += res->prefetch;
		s->ct.hits++;
	}
	return e->len;
}

int moon_cache_lookup(struct moon_cache *c, const struct moon_cache_key *key,
		      const uint8_t *query, size_t query_len, uint8_t *out, size_t cap,
		      int64_t now, struct moon_cache_result *res)
{
	*res = (struct moon_cache_result){ .state = MOON_CACHE_MISS };
	if (query_len < MOON_HDR_LEN)
		return MOON_EMALF;
	struct shard *s = shard_of(c, key->hash);
	int ret = 0;
	pthread_mutex_lock(&s->lock);
	struct entry *e = find(s, key);
	if (e)
		res->state = judge(c, s, e, now);
	if (res->state == MOON_CACHE_MISS)
		s->ct.misses++;
	else
		ret = answer(c, s, e, query, query_len, out, cap, now, res);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* ---- observation ---- */

void moon_cache_stats(struct moon_cache *c, struct moon_cache_stats *st)
{
	*st = (struct moon_cache_stats){ .bytes = c->fixed_bytes,
					 .capacity = c->o.capacity_bytes };
	for (unsigned i = 0; i < c->o.shards; i++) {
		struct shard *s = &c->shards[i];
		pthread_mutex_lock(&s->lock);
		st->hits += s->ct.hits;
		st->stale_hits += s->ct.stale_hits;
		st->misses += s->ct.misses;
		st->inserts += s->ct.inserts;
		st->evictions += s->ct.evictions;
		st->expired += s->ct.expired;
		st->prefetches += s->ct.prefetches;
		st->entries += s->n;
		st->success_entries += s->lists[LIST_SUCCESS].n;
		st->denial_entries += s->lists[LIST_DENIAL].n;
		st->bytes += s->bytes;
		pthread_mutex_unlock(&s->lock);
	}
}

static bool verify_list(const struct lru *l, int list)
{
	uint32_t n = 0;
	const struct entry *prev = NULL;
	for (const struct entry *e = l->head; e; prev = e, e = e->next, n++)
		if (e->prev != prev || entry_list(e) != list || n > l->n)
			return false;
	return prev == l->tail && n == l->n && n <= l->cap;
}

static bool verify_shard(const struct moon_cache *c, const struct shard *s, unsigned idx)
{
	uint32_t n = 0;
	size_t bytes = 0;
	for (uint32_t b = 0; b <= s->mask; b++) {
		struct entry *const *prev = &s->buckets[b];
		for (const struct entry *e = s->buckets[b]; e; prev = &e->hnext, e = e->hnext) {
			if (e->hprev != prev || (e->hash & s->mask) != b ||
			    ((e->hash >> 32) & (c->o.shards - 1)) != idx || e->heap_idx >= s->n ||
			    s->heap[e->heap_idx] != e || ++n > s->n)
				return false;
			bytes += e->mem;
		}
	}
	for (uint32_t i = 1; i < s->n; i++)
		if (s->heap[(i - 1) / 2]->expire > s->heap[i]->expire)
			return false;
	return n == s->n && s->n <= s->slots && bytes == s->bytes && bytes <= s->budget &&
	       s->lists[0].n + s->lists[1].n == s->n &&
	       verify_list(&s->lists[LIST_SUCCESS], LIST_SUCCESS) &&
	       verify_list(&s->lists[LIST_DENIAL], LIST_DENIAL);
}

int moon_cache_verify(struct moon_cache *c)
{
	int err = 0;
	for (unsigned i = 0; i < c->o.shards; i++) {
		struct shard *s = &c->shards[i];
		pthread_mutex_lock(&s->lock);
		if (!verify_shard(c, s, i))
			err = MOON_ESEMANTIC;
		pthread_mutex_unlock(&s->lock);
	}
	return err;
}
