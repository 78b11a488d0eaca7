#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "net/tlsrate.h"
#include "util/err.h"
#include "util/random.h"

void moon_tls_rate_init(struct moon_tls_rate *r, uint32_t rate)
{
	memset(r, 0, sizeof(*r));
	atomic_init(&r->rate, rate);
	/* A secret seed keeps a client from choosing addresses that all land
	 * in one shard. */
	r->seed = moon_random_u32();
	for (unsigned i = 0; i < MOON_TLS_RATE_SHARDS; i++)
		pthread_mutex_init(&r->shard[i].lock, NULL);
}

void moon_tls_rate_deinit(struct moon_tls_rate *r)
{
	for (unsigned i = 0; i < MOON_TLS_RATE_SHARDS; i++) {
		pthread_mutex_destroy(&r->shard[i].lock);
		free(r->shard[i].e);
	}
	memset(r, 0, sizeof(*r));
}

void moon_tls_rate_set(struct moon_tls_rate *r, uint32_t rate)
{
	atomic_store(&r->rate, rate);
}

static void key_of(const struct sockaddr *sa, uint8_t key[16])
{
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return;
	}
	memset(key, 0, 10);
	key[10] = key[11] = 0xff;
	memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
}

static struct moon_tls_rate_shard *shard_of(struct moon_tls_rate *r, const uint8_t key[16])
{
	uint32_t h = r->seed;
	for (unsigned i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	h ^= h >> 15;
	return &r->shard[h % MOON_TLS_RATE_SHARDS];
}

static struct moon_tls_rate_entry *find(struct moon_tls_rate_shard *s, const uint8_t key[16])
{
	for (uint32_t i = 0; i < s->n; i++)
		if (memcmp(s->e[i].addr, key, 16) == 0)
			return &s->e[i];
	return NULL;
}

/* Brings e's tokens up to now: rate tokens per second is rate milli-tokens
 * per millisecond, capped at a burst of `rate` tokens. */
static void refill(struct moon_tls_rate_entry *e, uint32_t rate, int64_t now_ms)
{
	uint64_t burst = (uint64_t)rate * 1000;
	int64_t dt = now_ms - e->last_ms;
	if (dt > 0) {
		uint64_t m = e->milli + (uint64_t)dt * rate;
		e->milli = (uint32_t)(m < burst ? m : burst);
		e->last_ms = now_ms;
	} else if (e->milli > burst) {
		e->milli = (uint32_t)burst;
	}
}

/* Makes room for one entry: drops every full bucket, or else the least
 * recently seen one. */
static void evict(struct moon_tls_rate_shard *s, uint32_t rate, int64_t now_ms)
{
	uint32_t oldest = 0;
	for (uint32_t i = 0; i < s->n;) {
		refill(&s->e[i], rate, now_ms);
		if (s->e[i].milli >= (uint64_t)rate * 1000) {
			s->e[i] = s->e[--s->n];
			continue;
		}
		if (s->e[i].last_ms < s->e[oldest].last_ms)
			oldest = i;
		i++;
	}
	if (s->n == MOON_TLS_RATE_SHARD_MAX)
		s->e[oldest] = s->e[--s->n];
}

static struct moon_tls_rate_entry *add(struct moon_tls_rate_shard *s, const uint8_t key[16],
				       uint32_t rate, int64_t now_ms)
{
	if (s->n == s->cap) {
		if (s->cap == MOON_TLS_RATE_SHARD_MAX) {
			evict(s, rate, now_ms);
		} else {
			uint32_t cap = s->cap ? s->cap * 2 : 8;
			void *e = realloc(s->e, cap * sizeof(*s->e));
			if (!e)
				return NULL;
			s->e = e;
			s->cap = cap;
		}
	}
	struct moon_tls_rate_entry *e = &s->e[s->n++];
	memcpy(e->addr, key, 16);
	e->milli = rate * 1000u;
	e->last_ms = now_ms;
	return e;
}

int moon_tls_rate_take(struct moon_tls_rate *r, const struct sockaddr *sa, int64_t now_ms)
{
	uint32_t rate = atomic_load_explicit(&r->rate, memory_order_relaxed);
	if (rate == 0)
		return 0;
	uint8_t key[16];
	key_of(sa, key);
	struct moon_tls_rate_shard *s = shard_of(r, key);
	int ret = 0;
	pthread_mutex_lock(&s->lock);
	struct moon_tls_rate_entry *e = find(s, key);
	if (e)
		refill(e, rate, now_ms);
	else
		e = add(s, key, rate, now_ms);
	if (e && e->milli < 1000)
		ret = MOON_ELIMIT;
	else if (e)
		e->milli -= 1000;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

uint32_t moon_tls_rate_tracked(struct moon_tls_rate *r)
{
	uint32_t n = 0;
	for (unsigned i = 0; i < MOON_TLS_RATE_SHARDS; i++) {
		pthread_mutex_lock(&r->shard[i].lock);
		n += r->shard[i].n;
		pthread_mutex_unlock(&r->shard[i].lock);
	}
	return n;
}
