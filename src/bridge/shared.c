#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/shared.h"
#include "cache/siphash.h"
#include "util/err.h"
#include "util/random.h"
#include "util/time.h"

#define NSTRIPES 16
#define MIN_BUCKETS 64

struct entry {
	struct entry *hnext;            /* hash chain */
	struct entry *prev, *next;      /* LRU list, most recent first */
	uint64_t hash;
	int64_t expires;                /* moon_now_ms() deadline, 0 = never */
	double num;
	uint32_t vlen;
	uint16_t klen;
	bool is_num;
	char data[];                    /* key, then value */
};

struct stripe {
	pthread_mutex_t lock;
	struct entry **buckets;
	size_t nbuckets;                /* power of two */
	size_t count;
	size_t bytes;
	size_t max_bytes;
	struct entry lru;               /* sentinel */
};

struct moon_shared_dict {
	struct moon_shared_dict *next;
	char name[MOON_SHARED_MAX_NAME];
	size_t name_len;
	uint8_t key[MOON_SIPHASH_KEYLEN];
	struct stripe s[NSTRIPES];
};

static pthread_mutex_t dicts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct moon_shared_dict *dicts;

static size_t entry_size(size_t klen, size_t vlen)
{
	return sizeof(struct entry) + klen + vlen;
}

static void lru_unlink(struct entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push(struct stripe *st, struct entry *e)
{
	e->next = st->lru.next;
	e->prev = &st->lru;
	st->lru.next->prev = e;
	st->lru.next = e;
}

static struct moon_shared_dict *dict_new(const char *name, size_t len, size_t max_bytes)
{
	struct moon_shared_dict *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	memcpy(d->name, name, len);
	d->name_len = len;
	moon_random_bytes(d->key, sizeof(d->key));
	for (int i = 0; i < NSTRIPES; i++) {
		struct stripe *st = &d->s[i];
		st->nbuckets = MIN_BUCKETS;
		st->buckets = calloc(st->nbuckets, sizeof(*st->buckets));
		if (!st->buckets) {
			while (i-- > 0)
				free(d->s[i].buckets);
			free(d);
			return NULL;
		}
		pthread_mutex_init(&st->lock, NULL);
		st->max_bytes = max_bytes / NSTRIPES;
		st->lru.next = st->lru.prev = &st->lru;
	}
	return d;
}

struct moon_shared_dict *moon_shared_open(const char *name, size_t len, size_t max_bytes)
{
	if (len == 0 || len > MOON_SHARED_MAX_NAME)
		return NULL;
	if (max_bytes == 0)
		max_bytes = MOON_SHARED_DEFAULT_BYTES;
	pthread_mutex_lock(&dicts_lock);
	struct moon_shared_dict *d;
	for (d = dicts; d; d = d->next)
		if (d->name_len == len && memcmp(d->name, name, len) == 0)
			goto out;
	d = dict_new(name, len, max_bytes);
	if (d) {
		d->next = dicts;
		dicts = d;
	}
out:
	pthread_mutex_unlock(&dicts_lock);
	return d;
}

static struct stripe *stripe_of(struct moon_shared_dict *d, const void *key, size_t klen,
				uint64_t *hash)
{
	*hash = moon_siphash24(d->key, key, klen);
	/* The low bits choose the bucket, the high ones the stripe. */
	return &d->s[*hash >> 60];
}

static struct entry **find(struct stripe *st, uint64_t hash, const void *key, size_t klen)
{
	struct entry **p = &st->buckets[hash & (st->nbuckets - 1)];
	for (; *p; p = &(*p)->hnext) {
		struct entry *e = *p;
		if (e->hash == hash && e->klen == klen && memcmp(e->data, key, klen) == 0)
			return p;
	}
	return p;
}

static void drop(struct stripe *st, struct entry **p)
{
	struct entry *e = *p;
	*p = e->hnext;
	lru_unlink(e);
	st->count--;
	st->bytes -= entry_size(e->klen, e->vlen);
	free(e);
}

static bool expired(const struct entry *e, int64_t now)
{
	return e->expires && e->expires <= now;
}

/* The live entry for key and the link that points to it, or NULL (an
 * expired entry is dropped on the way). */
static struct entry *lookup(struct stripe *st, uint64_t hash, const void *key, size_t klen,
			    int64_t now, struct entry ***slot)
{
	struct entry **p = find(st, hash, key, klen);
	if (!*p)
		return NULL;
	if (expired(*p, now)) {
		drop(st, p);
		return NULL;
	}
	*slot = p;
	return *p;
}

static void grow(struct stripe *st)
{
	size_t n = st->nbuckets * 2;
	struct entry **b = calloc(n, sizeof(*b));
	if (!b)
		return;  /* longer chains, still correct */
	for (size_t i = 0; i < st->nbuckets; i++) {
		struct entry *e = st->buckets[i], *next;
		for (; e; e = next) {
			next = e->hnext;
			struct entry **dst = &b[e->hash & (n - 1)];
			e->hnext = *dst;
			*dst = e;
		}
	}
	free(st->buckets);
	st->buckets = b;
	st->nbuckets = n;
}

/* Makes room for `need` more bytes: expired entries among the least
 * recently used ones first (a bounded look, so a full dictionary costs the
 * same per insert however large it is), then the least recently used. */
static void make_room(struct stripe *st, size_t need, int64_t now)
{
	struct entry *e = st->lru.prev;
	for (int look = 0; look < 32 && e != &st->lru && st->bytes + need > st->max_bytes;
	     look++) {
		struct entry *prev = e->prev;
		if (expired(e, now))
			drop(st, find(st, e->hash, e->data, e->klen));
		e = prev;
	}
	while (st->bytes + need > st->max_bytes && st->lru.prev != &st->lru) {
		e = st->lru.prev;
		drop(st, find(st, e->hash, e->data, e->klen));
	}
}

static int insert(struct stripe *st, uint64_t hash, const void *key, size_t klen, const void *val,
		  size_t vlen, double num, int64_t expires, int64_t now)
{
	size_t size = entry_size(klen, vlen);
	if (size > st->max_bytes)
		return MOON_ELIMIT;
	make_room(st, size, now);
	struct entry *e = malloc(size);
	if (!e)
		return -ENOMEM;
	e->hash = hash;
	e->expires = expires;
	e->num = num;
	e->is_num = val == NULL;
	e->klen = (uint16_t)klen;
	e->vlen = (uint32_t)vlen;
	memcpy(e->data, key, klen);
	if (vlen)
		memcpy(e->data + klen, val, vlen);
	struct entry **p = find(st, hash, key, klen);
	e->hnext = *p;
	*p = e;
	lru_push(st, e);
	st->count++;
	st->bytes += size;
	if (st->count > 2 * st->nbuckets)
		grow(st);
	return 0;
}

static bool bad_key(size_t klen)
{
	return klen == 0 || klen > MOON_SHARED_MAX_KEY;
}

int moon_shared_get(struct moon_shared_dict *d, const void *key, size_t klen, void *out,
		    size_t cap, struct moon_shared_value *v)
{
	if (bad_key(klen))
		return MOON_ENOTFOUND;
	uint64_t hash;
	struct stripe *st = stripe_of(d, key, klen, &hash);
	int ret = 0;
	pthread_mutex_lock(&st->lock);
	struct entry **slot = NULL;
	struct entry *e = lookup(st, hash, key, klen, moon_now_ms(), &slot);
	if (!e) {
		ret = MOON_ENOTFOUND;
		goto out;
	}
	lru_unlink(e);
	lru_push(st, e);
	v->is_num = e->is_num;
	v->num = e->num;
	v->len = e->vlen;
	if (e->vlen > cap)
		ret = MOON_ESPACE;
	else if (e->vlen)
		memcpy(out, e->data + e->klen, e->vlen);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

static int64_t deadline(int64_t now, int64_t ttl_ms)
{
	return ttl_ms > 0 ? now + ttl_ms : 0;
}

int moon_shared_set(struct moon_shared_dict *d, const void *key, size_t klen, const void *val,
		    size_t vlen, double num, int64_t ttl_ms, bool only_new)
{
	if (bad_key(klen) || vlen > MOON_SHARED_MAX_VALUE)
		return -EINVAL;
	uint64_t hash;
	struct stripe *st = stripe_of(d, key, klen, &hash);
	int64_t now = moon_now_ms();
	pthread_mutex_lock(&st->lock);
	struct entry **slot = NULL;
	struct entry *e = lookup(st, hash, key, klen, now, &slot);
	int ret = 1;
	if (e && only_new)
		goto out;
	if (e)
		drop(st, slot);
	ret = insert(st, hash, key, klen, val, val ? vlen : 0, val ? 0 : num,
		     deadline(now, ttl_ms), now);
out:
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int moon_shared_incr(struct moon_shared_dict *d, const void *key, size_t klen, double delta,
		     double init, int64_t ttl_ms, double *out)
{
	if (bad_key(klen))
		return -EINVAL;
	uint64_t hash;
	struct stripe *st = stripe_of(d, key, klen, &hash);
	int64_t now = moon_now_ms();
	int ret = 0;
	pthread_mutex_lock(&st->lock);
	struct entry **slot = NULL;
	struct entry *e = lookup(st, hash, key, klen, now, &slot);
	if (e && !e->is_num) {
		ret = -EINVAL;
	} else if (e) {
		e->num += delta;
		*out = e->num;
		lru_unlink(e);
		lru_push(st, e);
	} else {
		*out = init + delta;
		ret = insert(st, hash, key, klen, NULL, 0, *out, deadline(now, ttl_ms), now);
	}
	pthread_mutex_unlock(&st->lock);
	return ret;
}

int moon_shared_delete(struct moon_shared_dict *d, const void *key, size_t klen)
{
	if (bad_key(klen))
		return MOON_ENOTFOUND;
	uint64_t hash;
	struct stripe *st = stripe_of(d, key, klen, &hash);
	pthread_mutex_lock(&st->lock);
	struct entry **slot = NULL;
	struct entry *e = lookup(st, hash, key, klen, moon_now_ms(), &slot);
	if (e)
		drop(st, slot);
	pthread_mutex_unlock(&st->lock);
	return e ? 0 : MOON_ENOTFOUND;
}

int64_t moon_shared_ttl(struct moon_shared_dict *d, const void *key, size_t klen)
{
	if (bad_key(klen))
		return MOON_ENOTFOUND;
	uint64_t hash;
	struct stripe *st = stripe_of(d, key, klen, &hash);
	int64_t now = moon_now_ms();
	pthread_mutex_lock(&st->lock);
	struct entry **slot = NULL;
	struct entry *e = lookup(st, hash, key, klen, now, &slot);
	int64_t ret = !e ? MOON_ENOTFOUND : e->expires ? e->expires - now : -1;
	pthread_mutex_unlock(&st->lock);
	return ret;
}

size_t moon_shared_count(struct moon_shared_dict *d)
{
	size_t n = 0;
	for (int i = 0; i < NSTRIPES; i++) {
		pthread_mutex_lock(&d->s[i].lock);
		n += d->s[i].count;
		pthread_mutex_unlock(&d->s[i].lock);
	}
	return n;
}

void moon_shared_flush(struct moon_shared_dict *d)
{
	for (int i = 0; i < NSTRIPES; i++) {
		struct stripe *st = &d->s[i];
		pthread_mutex_lock(&st->lock);
		while (st->lru.next != &st->lru) {
			struct entry *e = st->lru.next;
			drop(st, find(st, e->hash, e->data, e->klen));
		}
		pthread_mutex_unlock(&st->lock);
	}
}
