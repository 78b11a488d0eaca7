/*
 * The heartbeat watchdog: a thread that notices a Lua state busy in one
 * call for too long and says so. It exists because the count hook that
 * enforces the time budget (bridge.c) does not run inside JIT-compiled
 * traces in stock LuaJIT, so `while true do end` in a compiled loop cannot
 * be stopped; such a worker answers nothing, and the watchdog makes that
 * loud instead of silent: an error log line (every 10 s while it lasts)
 * naming the worker, the policy and the stage, and a count.
 *
 * Each state owns one slot. Its thread bumps `enter` before and `leave`
 * after every call into Lua (relaxed stores, no locked instruction on the
 * hot path). The watchdog samples the slots every 100 ms: a slot inside a
 * call (enter != leave) whose `enter` did not move is busy, and busy for
 * stuck_ms is stuck.
 *
 * Threads: register/unregister from any thread; the watchdog thread starts
 * with the first registration and lives until the process ends. A slot's
 * describe callback runs on the watchdog thread under its lock, so the
 * owner must unregister before freeing what describe reads.
 */
#ifndef MOON_BRIDGE_WATCHDOG_H
#define MOON_BRIDGE_WATCHDOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct moon_wd_slot {
	_Atomic uint32_t enter;
	_Atomic uint32_t leave;
	uint32_t stuck_ms;              /* report after this long in one call */
	/* Writes what the slot is running ("worker 2, policy x, query hook"). */
	void (*describe)(void *arg, char *out, size_t len);
	void *arg;
	_Atomic uint64_t reports;       /* stuck reports made */
	/* Watchdog thread only. */
	uint32_t seen;
	uint32_t busy_ms;
	uint32_t reported_ms;
	struct moon_wd_slot *next;
};

void moon_wd_register(struct moon_wd_slot *s);
void moon_wd_unregister(struct moon_wd_slot *s);
/* Slots currently stuck (for /health). */
unsigned moon_wd_stuck(void);

/* Only the owner thread writes its slot. */
static inline void moon_wd_enter(struct moon_wd_slot *s)
{
	uint32_t v = atomic_load_explicit(&s->enter, memory_order_relaxed);
	atomic_store_explicit(&s->enter, v + 1, memory_order_relaxed);
}

static inline void moon_wd_leave(struct moon_wd_slot *s)
{
	uint32_t v = atomic_load_explicit(&s->leave, memory_order_relaxed);
	atomic_store_explicit(&s->leave, v + 1, memory_order_relaxed);
}

#endif
