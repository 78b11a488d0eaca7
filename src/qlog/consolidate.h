/*
 * Consolidated server-log errors: an error that repeats (an upstream that
 * times out on every query, a policy that fails on every call) prints its
 * first occurrence in full, then one summary per window,
 *     "57 errors like \"upstream timeout\" in the last 10s"
 * instead of one line per occurrence (CoreDNS's `errors { consolidate }`).
 * Unlike MOON_LOG_RATELIMITED (util/log.h), the count is reported even when
 * the storm stops: moon_log_consolidate_tick(), called once a second by the
 * control thread, closes windows that have ended.
 *
 * Usage, at the call site (a static group per site):
 *     MOON_LOG_CONSOLIDATED(MOON_LOG_WARN, FWD, "upstream timeout",
 *                           "%s: no reply within %u ms", addr, ms);
 *
 * Threads: any thread may log through a group; counting is atomic (these
 * are error paths, not the per-query fast path). Groups register themselves
 * on first use in a lock-free list and live for the whole process.
 */
#ifndef MOON_QLOG_CONSOLIDATE_H
#define MOON_QLOG_CONSOLIDATE_H

#include <stdatomic.h>
#include <stdint.h>

#include "util/log.h"

#define MOON_LOG_CONSOLIDATE_DEFAULT_MS 10000

struct moon_log_group {
	const char *what;                /* the X of "N errors like X" */
	enum moon_log_level level;
	enum moon_log_sys sys;
	_Atomic int64_t window_start;    /* ms; 0 = no window open */
	_Atomic uint32_t count;          /* occurrences in the open window */
	_Atomic int registered;
	struct moon_log_group *next;
};

/* Logs one occurrence through group g (fmt is the full message). */
void moon_log_consolidated(struct moon_log_group *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Closes the windows that ended by now_ms (moon_now_ms()), printing their
 * summaries. Control thread, about once a second. */
void moon_log_consolidate_tick(int64_t now_ms);

/* Length of a window (default MOON_LOG_CONSOLIDATE_DEFAULT_MS). */
void moon_log_consolidate_window(uint32_t ms);

#define MOON_LOG_CONSOLIDATED(lvl, subsys, what_, ...) do { \
	static struct moon_log_group moon__group_ = { \
		.what = what_, .level = lvl, .sys = MOON_SYS_##subsys }; \
	moon_log_consolidated(&moon__group_, __VA_ARGS__); } while (0)

#endif
