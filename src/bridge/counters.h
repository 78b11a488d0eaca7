/*
 * Counters of the Lua layer, kept across config generations: per policy
 * hook calls (by stage), verdicts, errors (and how many of them were
 * time-budget and memory-cap errors), and the custom counters policies
 * create with moon.counter(name).
 *
 * A counter is registered once by (kind, name, block, policy) and keeps its
 * id for the life of the process, so a reload continues the same series.
 * Values are per worker: each worker adds to its own slot without atomics;
 * readers sum the slots racily (fine for monotonic counters).
 *
 * Threads: registration takes a lock (policy load, constructors); adding
 * is the owning worker's plain store; moon_bridge_counters_each from any
 * thread.
 */
#ifndef MOON_BRIDGE_COUNTERS_H
#define MOON_BRIDGE_COUNTERS_H

#include <stdint.h>

#define MOON_BRIDGE_MAX_COUNTERS 4096
#define MOON_BRIDGE_MAX_WORKERS 1024

enum moon_bridge_counter_kind {
	MOON_CTR_ERRORS,                /* every failed hook call and load of a policy */
	MOON_CTR_TIMEOUTS,              /* of them, time budget exceeded */
	MOON_CTR_MEMORY,                /* of them, memory cap reached */
	MOON_CTR_USER,                  /* moon.counter(name) */
	MOON_CTR_CALLS,                 /* hook calls of a policy; name: the stage */
	MOON_CTR_VERDICTS,              /* its decisions; name: the verdict */
};

/* Returns the counter's id (the same for the same key), or MOON_ELIMIT
 * when the table is full (for MOON_CTR_CALLS and MOON_CTR_VERDICTS: half
 * full). name is NULL for the error counters. */
int moon_bridge_counter_id(enum moon_bridge_counter_kind kind, const char *name,
			   const char *block, const char *policy);
/* The value slots of a worker (MOON_BRIDGE_MAX_COUNTERS of them), or NULL
 * for worker >= MOON_BRIDGE_MAX_WORKERS or out of memory. */
uint64_t *moon_bridge_counter_slots(unsigned worker);
/* Sum over workers. */
uint64_t moon_bridge_counter_value(int id);

/* Sum of the counters (kind, name, block) of every policy (tests). */
uint64_t moon_bridge_counter_sum(enum moon_bridge_counter_kind kind, const char *name,
				 const char *block);

/* Calls fn for every registered counter with its value summed over
 * workers (name NULL for the policy counters). */
void moon_bridge_counters_each(void (*fn)(void *arg, enum moon_bridge_counter_kind kind,
					  const char *name, const char *block,
					  const char *policy, uint64_t value),
			       void *arg);

#endif
