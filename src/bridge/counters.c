#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/counters.h"
#include "util/err.h"

struct counter {
	enum moon_bridge_counter_kind kind;
	char *name, *block, *policy;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct counter table[MOON_BRIDGE_MAX_COUNTERS];
static _Atomic int ncounters;
static uint64_t *_Atomic slots[MOON_BRIDGE_MAX_WORKERS];
static _Atomic unsigned nslots;                /* highest worker with slots, + 1 */

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static char *dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

int moon_bridge_counter_id(enum moon_bridge_counter_kind kind, const char *name,
			   const char *block, const char *policy)
{
	pthread_mutex_lock(&lock);
	int n = atomic_load(&ncounters);
	int id = MOON_ELIMIT;
	for (int i = 0; i < n; i++) {
		struct counter *c = &table[i];
		if (c->kind == kind && same(c->name, name) && same(c->block, block) &&
		    same(c->policy, policy)) {
			id = i;
			goto out;
		}
	}
	/* Calls and verdicts leave half the table to the errors and the
	 * policies' own counters, which a policy cannot do without. */
	if (n >= (kind >= MOON_CTR_CALLS ? MOON_BRIDGE_MAX_COUNTERS / 2 : MOON_BRIDGE_MAX_COUNTERS))
		goto out;
	struct counter *c = &table[n];
	c->kind = kind;
	c->name = dup(name);
	c->block = dup(block);
	c->policy = dup(policy);
	if ((name && !c->name) || (block && !c->block) || (policy && !c->policy)) {
		free(c->name);
		free(c->block);
		free(c->policy);
		id = -ENOMEM;
		goto out;
	}
	id = n;
	/* Published after the entry is complete: readers iterate up to it. */
	atomic_store(&ncounters, n + 1);
out:
	pthread_mutex_unlock(&lock);
	return id;
}

uint64_t *moon_bridge_counter_slots(unsigned worker)
{
	if (worker >= MOON_BRIDGE_MAX_WORKERS)
		return NULL;
	uint64_t *s = atomic_load(&slots[worker]);
	if (s)
		return s;
	pthread_mutex_lock(&lock);
	s = atomic_load(&slots[worker]);
	if (!s) {
		s = calloc(MOON_BRIDGE_MAX_COUNTERS, sizeof(*s));
		atomic_store(&slots[worker], s);
		if (s && worker >= atomic_load(&nslots))
			atomic_store(&nslots, worker + 1);
	}
	pthread_mutex_unlock(&lock);
	return s;
}

uint64_t moon_bridge_counter_value(int id)
{
	if (id < 0 || id >= MOON_BRIDGE_MAX_COUNTERS)
		return 0;
	uint64_t sum = 0;
	unsigned nw = atomic_load(&nslots);
	for (unsigned w = 0; w < nw; w++) {
		const uint64_t *s = atomic_load_explicit(&slots[w], memory_order_acquire);
		if (s)
			sum += s[id];
	}
	return sum;
}

void moon_bridge_counters_each(void (*fn)(void *arg, enum moon_bridge_counter_kind kind,
					  const char *name, const char *block,
					  const char *policy, uint64_t value),
			       void *arg)
{
	int n = atomic_load(&ncounters);
	for (int i = 0; i < n; i++) {
		const struct counter *c = &table[i];
		fn(arg, c->kind, c->name, c->block, c->policy, moon_bridge_counter_value(i));
	}
}

uint64_t moon_bridge_counter_sum(enum moon_bridge_counter_kind kind, const char *name,
				 const char *block)
{
	uint64_t sum = 0;
	int n = atomic_load(&ncounters);
	for (int i = 0; i < n; i++) {
		const struct counter *c = &table[i];
		if (c->kind == kind && same(c->name, name) && same(c->block, block))
			sum += moon_bridge_counter_value(i);
	}
	return sum;
}
