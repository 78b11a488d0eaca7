#include <stddef.h>

#include "net/tlsrate.h"
#include "util/err.h"

_Static_assert(offsetof(struct moon_tls_rate_entry, addr) == 0, "entries start with the key");

void moon_tls_rate_init(struct moon_tls_rate *r, uint32_t rate)
{
	atomic_init(&r->rate, rate);
	moon_clienttab_init(&r->tab, sizeof(struct moon_tls_rate_entry));
}

void moon_tls_rate_deinit(struct moon_tls_rate *r)
{
	moon_clienttab_deinit(&r->tab);
	atomic_store(&r->rate, 0);
}

void moon_tls_rate_set(struct moon_tls_rate *r, uint32_t rate)
{
	atomic_store(&r->rate, rate);
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
static void evict(struct moon_tls_rate *r, struct moon_clienttab_shard *s, uint32_t rate,
		  int64_t now_ms)
{
	struct moon_tls_rate_entry *e = s->e;
	uint32_t oldest = 0;
	for (uint32_t i = 0; i < s->n;) {
		refill(&e[i], rate, now_ms);
		if (e[i].milli >= (uint64_t)rate * 1000) {
			moon_clienttab_remove(&r->tab, s, &e[i]);
			continue;
		}
		if (e[i].last_ms < e[oldest].last_ms)
			oldest = i;
		i++;
	}
	if (s->n == MOON_TLS_RATE_SHARD_MAX)
		moon_clienttab_remove(&r->tab, s, &e[oldest]);
}

static struct moon_tls_rate_entry *add(struct moon_tls_rate *r, struct moon_clienttab_shard *s,
				       const uint8_t key[MOON_CLIENTTAB_KEY], uint32_t rate,
				       int64_t now_ms)
{
	if (s->n == s->cap && s->cap == MOON_TLS_RATE_SHARD_MAX)
		evict(r, s, rate, now_ms);
	struct moon_tls_rate_entry *e = moon_clienttab_add(&r->tab, s, key);
	if (!e)
		return NULL;
	e->milli = rate * 1000u;
	e->last_ms = now_ms;
	return e;
}

int moon_tls_rate_take(struct moon_tls_rate *r, const struct sockaddr *sa, int64_t now_ms)
{
	uint32_t rate = atomic_load_explicit(&r->rate, memory_order_relaxed);
	if (rate == 0)
		return 0;
	uint8_t key[MOON_CLIENTTAB_KEY];
	int ret = 0;
	struct moon_clienttab_shard *s = moon_clienttab_lock(&r->tab, sa, key);
	struct moon_tls_rate_entry *e = moon_clienttab_find(&r->tab, s, key);
	if (e)
		refill(e, rate, now_ms);
	else
		e = add(r, s, key, rate, now_ms);
	if (e && e->milli < 1000)
		ret = MOON_ELIMIT;
	else if (e)
		e->milli -= 1000;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

uint32_t moon_tls_rate_tracked(struct moon_tls_rate *r)
{
	return moon_clienttab_size(&r->tab);
}
