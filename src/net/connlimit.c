#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "net/connlimit.h"
#include "util/err.h"
#include "util/random.h"

void moon_connlimit_init(struct moon_connlimit *cl, uint32_t max_per_client)
{
	memset(cl, 0, sizeof(*cl));
	atomic_init(&cl->max_per_client, max_per_client);
	/* A secret seed keeps a client from choosing addresses that all land
	 * in one shard. */
	cl->seed = moon_random_u32();
	for (unsigned i = 0; i < MOON_CONNLIMIT_SHARDS; i++)
		pthread_mutex_init(&cl->shard[i].lock, NULL);
}

void moon_connlimit_deinit(struct moon_connlimit *cl)
{
	for (unsigned i = 0; i < MOON_CONNLIMIT_SHARDS; i++) {
		pthread_mutex_destroy(&cl->shard[i].lock);
		free(cl->shard[i].e);
	}
	memset(cl, 0, sizeof(*cl));
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

static struct moon_connlimit_shard *shard_of(struct moon_connlimit *cl, const uint8_t key[16])
{
	uint32_t h = cl->seed;
	for (unsigned i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	h ^= h >> 15;
	return &cl->shard[h % MOON_CONNLIMIT_SHARDS];
}

/* Shards stay small (distinct clients / 64), so a linear scan is fine. */
static struct moon_connlimit_entry *find(struct moon_connlimit_shard *s, const uint8_t key[16])
{
	for (uint32_t i = 0; i < s->n; i++)
		if (memcmp(s->e[i].addr, key, 16) == 0)
			return &s->e[i];
	return NULL;
}

static struct moon_connlimit_entry *add(struct moon_connlimit_shard *s, const uint8_t key[16])
{
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 8;
		void *e = realloc(s->e, cap * sizeof(*s->e));
		if (!e)
			return NULL;
		s->e = e;
		s->cap = cap;
	}
	struct moon_connlimit_entry *e = &s->e[s->n++];
	memcpy(e->addr, key, 16);
	e->count = 0;
	return e;
}

int moon_connlimit_acquire(struct moon_connlimit *cl, const struct sockaddr *sa)
{
	uint8_t key[16];
	key_of(sa, key);
	struct moon_connlimit_shard *s = shard_of(cl, key);
	int ret = 0;
	uint32_t max = atomic_load_explicit(&cl->max_per_client, memory_order_relaxed);
	pthread_mutex_lock(&s->lock);
	struct moon_connlimit_entry *e = find(s, key);
	if (!e)
		e = add(s, key);
	if (!e)
		ret = -ENOMEM;
	else if (max && e->count >= max)
		ret = MOON_ELIMIT;
	else
		e->count++;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void moon_connlimit_release(struct moon_connlimit *cl, const struct sockaddr *sa)
{
	uint8_t key[16];
	key_of(sa, key);
	struct moon_connlimit_shard *s = shard_of(cl, key);
	pthread_mutex_lock(&s->lock);
	struct moon_connlimit_entry *e = find(s, key);
	if (e && e->count > 0 && --e->count == 0)
		*e = s->e[--s->n];
	pthread_mutex_unlock(&s->lock);
}

uint32_t moon_connlimit_count(struct moon_connlimit *cl, const struct sockaddr *sa)
{
	uint8_t key[16];
	key_of(sa, key);
	struct moon_connlimit_shard *s = shard_of(cl, key);
	pthread_mutex_lock(&s->lock);
	struct moon_connlimit_entry *e = find(s, key);
	uint32_t n = e ? e->count : 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}
