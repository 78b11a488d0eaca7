#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "net/clienttab.h"
#include "util/random.h"

void moon_clienttab_init(struct moon_clienttab *t, size_t esize)
{
	memset(t, 0, sizeof(*t));
	t->esize = esize;
	/* A secret seed keeps a client from choosing addresses that all land
	 * in one shard. */
	t->seed = moon_random_u32();
	for (unsigned i = 0; i < MOON_CLIENTTAB_SHARDS; i++)
		pthread_mutex_init(&t->shard[i].lock, NULL);
}

void moon_clienttab_deinit(struct moon_clienttab *t)
{
	for (unsigned i = 0; i < MOON_CLIENTTAB_SHARDS; i++) {
		pthread_mutex_destroy(&t->shard[i].lock);
		free(t->shard[i].e);
	}
	memset(t, 0, sizeof(*t));
}

void moon_clienttab_key(const struct sockaddr *sa, uint8_t key[MOON_CLIENTTAB_KEY])
{
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return;
	}
	memset(key, 0, 10);
	key[10] = key[11] = 0xff;
	memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
}

struct moon_clienttab_shard *moon_clienttab_shard(struct moon_clienttab *t,
						  const uint8_t key[MOON_CLIENTTAB_KEY])
{
	uint32_t h = t->seed;
	for (unsigned i = 0; i < MOON_CLIENTTAB_KEY; i++)
		h = (h ^ key[i]) * 16777619u;
	h ^= h >> 15;
	return &t->shard[h % MOON_CLIENTTAB_SHARDS];
}

struct moon_clienttab_shard *moon_clienttab_lock(struct moon_clienttab *t,
						 const struct sockaddr *sa,
						 uint8_t key[MOON_CLIENTTAB_KEY])
{
	moon_clienttab_key(sa, key);
	struct moon_clienttab_shard *s = moon_clienttab_shard(t, key);
	pthread_mutex_lock(&s->lock);
	return s;
}

static uint8_t *entry(const struct moon_clienttab *t, const struct moon_clienttab_shard *s,
		      uint32_t i)
{
	return (uint8_t *)s->e + (size_t)i * t->esize;
}

/* Shards stay small (distinct clients / 64, or the user's bound), so a
 * linear scan is fine. */
void *moon_clienttab_find(const struct moon_clienttab *t, struct moon_clienttab_shard *s,
			  const uint8_t key[MOON_CLIENTTAB_KEY])
{
	for (uint32_t i = 0; i < s->n; i++)
		if (memcmp(entry(t, s, i), key, MOON_CLIENTTAB_KEY) == 0)
			return entry(t, s, i);
	return NULL;
}

void *moon_clienttab_add(const struct moon_clienttab *t, struct moon_clienttab_shard *s,
			 const uint8_t key[MOON_CLIENTTAB_KEY])
{
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 8;
		void *e = realloc(s->e, cap * t->esize);
		if (!e)
			return NULL;
		s->e = e;
		s->cap = cap;
	}
	uint8_t *e = entry(t, s, s->n++);
	memcpy(e, key, MOON_CLIENTTAB_KEY);
	return e;
}

void moon_clienttab_remove(const struct moon_clienttab *t, struct moon_clienttab_shard *s,
			   void *e)
{
	uint8_t *last = entry(t, s, --s->n);
	if (e != last)
		memcpy(e, last, t->esize);
}

uint32_t moon_clienttab_size(struct moon_clienttab *t)
{
	uint32_t n = 0;
	for (unsigned i = 0; i < MOON_CLIENTTAB_SHARDS; i++) {
		pthread_mutex_lock(&t->shard[i].lock);
		n += t->shard[i].n;
		pthread_mutex_unlock(&t->shard[i].lock);
	}
	return n;
}
