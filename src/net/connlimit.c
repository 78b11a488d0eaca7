#include <stddef.h>

#include "net/connlimit.h"
#include "util/err.h"

_Static_assert(offsetof(struct moon_connlimit_entry, addr) == 0, "entries start with the key");

void moon_connlimit_init(struct moon_connlimit *cl, uint32_t max_per_client)
{
	atomic_init(&cl->max_per_client, max_per_client);
	moon_clienttab_init(&cl->tab, sizeof(struct moon_connlimit_entry));
}

void moon_connlimit_deinit(struct moon_connlimit *cl)
{
	moon_clienttab_deinit(&cl->tab);
	atomic_store(&cl->max_per_client, 0);
}

int moon_connlimit_acquire(struct moon_connlimit *cl, const struct sockaddr *sa)
{
	uint8_t key[MOON_CLIENTTAB_KEY];
	int ret = 0;
	uint32_t max = atomic_load_explicit(&cl->max_per_client, memory_order_relaxed);
	struct moon_clienttab_shard *s = moon_clienttab_lock(&cl->tab, sa, key);
	struct moon_connlimit_entry *e = moon_clienttab_find(&cl->tab, s, key);
	if (!e && (e = moon_clienttab_add(&cl->tab, s, key)))
		e->count = 0;
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
	uint8_t key[MOON_CLIENTTAB_KEY];
	struct moon_clienttab_shard *s = moon_clienttab_lock(&cl->tab, sa, key);
	struct moon_connlimit_entry *e = moon_clienttab_find(&cl->tab, s, key);
	if (e && e->count > 0 && --e->count == 0)
		moon_clienttab_remove(&cl->tab, s, e);
	pthread_mutex_unlock(&s->lock);
}

uint32_t moon_connlimit_count(struct moon_connlimit *cl, const struct sockaddr *sa)
{
	uint8_t key[MOON_CLIENTTAB_KEY];
	struct moon_clienttab_shard *s = moon_clienttab_lock(&cl->tab, sa, key);
	struct moon_connlimit_entry *e = moon_clienttab_find(&cl->tab, s, key);
	uint32_t n = e ? e->count : 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}
