#include <stdarg.h>
#include <stdio.h>

#include "qlog/consolidate.h"
#include "util/time.h"

static struct moon_log_group *_Atomic groups;
static _Atomic uint32_t window_ms = MOON_LOG_CONSOLIDATE_DEFAULT_MS;

void moon_log_consolidate_window(uint32_t ms)
{
	atomic_store(&window_ms, ms ? ms : 1);
}

static void enlist(struct moon_log_group *g)
{
	int no = 0;
	if (!atomic_compare_exchange_strong(&g->registered, &no, 1))
		return;
	struct moon_log_group *head = atomic_load(&groups);
	do
		g->next = head;
	while (!atomic_compare_exchange_weak(&groups, &head, g));
}

static void summary(const struct moon_log_group *g, uint32_t n)
{
	uint32_t ms = atomic_load(&window_ms);
	if (ms % 1000)
		moon_log(g->level, g->sys, "%u errors like \"%s\" in the last %ums", n, g->what, ms);
	else
		moon_log(g->level, g->sys, "%u errors like \"%s\" in the last %us", n, g->what,
			 ms / 1000);
}

/* Ends g's window if it is over; only the thread whose exchange wins
 * reports it. */
static void close_window(struct moon_log_group *g, int64_t now)
{
	int64_t start = atomic_load(&g->window_start);
	if (!start || now - start < (int64_t)atomic_load(&window_ms))
		return;
	if (!atomic_compare_exchange_strong(&g->window_start, &start, 0))
		return;
	uint32_t n = atomic_exchange(&g->count, 0);
	if (n > 1)
		summary(g, n);
}

void moon_log_consolidated(struct moon_log_group *g, const char *fmt, ...)
{
	if (!moon_log_enabled(g->level))
		return;
	enlist(g);
	int64_t now = moon_now_ms();
	close_window(g, now);
	int64_t closed = 0;
	atomic_fetch_add(&g->count, 1);
	/* The occurrence that opens a window is shown in full. */
	if (!atomic_compare_exchange_strong(&g->window_start, &closed, now ? now : 1))
		return;
	va_list ap;
	va_start(ap, fmt);
	moon_vlog(g->level, g->sys, fmt, ap);
	va_end(ap);
}

void moon_log_consolidate_tick(int64_t now_ms)
{
	for (struct moon_log_group *g = atomic_load(&groups); g; g = g->next)
		close_window(g, now_ms);
}
