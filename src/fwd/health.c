#include <stddef.h>
#include <stdlib.h>

#include "fwd/internal.h"
#include "util/log.h"

/* Adaptive try timeout bounds (see fwd.h, TRIES). */
#define RTO_INIT_MS 1000
#define RTO_MIN_MS 200
#define RTO_MAX_MS 2000

const uint32_t moon_fwd_latency_bounds_us[MOON_FWD_LAT_BUCKETS] = {
	500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, UINT32_MAX,
};

bool moon__fwd_is_up(const struct moon_fwd *fwd, const struct upstream *u)
{
	uint32_t max = fwd->o.max_fails;
	return max == 0 || atomic_load_explicit(&u->fails, memory_order_relaxed) < max;
}

void moon__fwd_health_ok(struct wup *w)
{
	struct upstream *u = w->u;
	/* Read first: most replies find it at 0, and a store from every
	 * worker on every reply would bounce the cache line between cores. */
	if (atomic_load_explicit(&u->fails, memory_order_relaxed) == 0)
		return;
	bool was_down = !moon__fwd_is_up(w->fw->fwd, u);
	atomic_store_explicit(&u->fails, 0, memory_order_relaxed);
	if (was_down)
		moon_info(FWD, "upstream %s is up again", u->name);
}

void moon__fwd_health_fail(struct wup *w)
{
	uint32_t max = w->fw->fwd->o.max_fails;
	if (max == 0)
		return;
	uint32_t n = atomic_fetch_add_explicit(&w->u->fails, 1, memory_order_relaxed) + 1;
	if (n == max) {
		w->st.marked_down++;
		MOON_LOG_RATELIMITED(MOON_LOG_WARN, FWD, "upstream %s is down after %u failures",
				     w->u->name, n);
	}
	if (n >= max)
		moon__fwd_probe_claim(w);
}

static void probe_release(struct wup *w)
{
	ev_timer_stop(w->fw->loop, &w->probe_timer);
	w->probing = false;
	atomic_store_explicit(&w->u->probing, false, memory_order_release);
}

static void probe_arm(struct wup *w)
{
	ev_timer_set(&w->probe_timer, w->probe_ms / 1000.0, 0);
	ev_timer_start(w->fw->loop, &w->probe_timer);
}

static void probe_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
	struct wup *w = (struct wup *)((char *)timer - offsetof(struct wup, probe_timer));
	if (moon__fwd_is_up(w->fw->fwd, w->u)) {
		probe_release(w);       /* real traffic brought it back */
		return;
	}
	if (w->probe_flight)
		return;
	if (moon__fwd_probe_send(w) < 0)
		moon__fwd_probe_result(w, false);
}

void moon__fwd_probe_claim(struct wup *w)
{
	if (w->probing || w->fw->fwd->o.max_fails == 0 ||
	    atomic_load_explicit(&w->u->probing, memory_order_relaxed))
		return;         /* cheap exit: this runs for every query while down */
	bool expected = false;
	if (!atomic_compare_exchange_strong(&w->u->probing, &expected, true))
		return;         /* another worker probes it */
	w->probing = true;
	w->probe_ms = w->fw->fwd->o.health_check_ms;
	ev_init(&w->probe_timer, probe_cb);
	probe_arm(w);
}

void moon__fwd_probe_result(struct wup *w, bool ok)
{
	if (!w->probing)
		return;
	if (ok) {
		moon__fwd_health_ok(w);
		probe_release(w);
		return;
	}
	w->st.hc_failures++;
	if (w->fw->fwd->hc_fail)
		w->fw->fwd->hc_fail(w->fw->fwd->hc_arg, w->idx);
	uint32_t max = w->fw->fwd->o.health_check_max_ms;
	w->probe_ms = w->probe_ms > max / 2 ? max : w->probe_ms * 2;
	probe_arm(w);
}

void moon__fwd_probe_stop(struct wup *w)
{
	if (w->probing)
		probe_release(w);
}

uint32_t moon__fwd_try_timeout(const struct wup *w)
{
	uint32_t fixed = w->fw->fwd->o.try_timeout_ms;
	return fixed ? fixed : w->rto_ms;
}

/* RFC 6298's smoothing, in microseconds. */
void moon__fwd_rtt_sample(struct wup *w, int64_t ns)
{
	int64_t us = ns / 1000;
	if (!w->has_rtt) {
		w->has_rtt = true;
		w->srtt = us;
		w->rttvar = us / 2;
	} else {
		w->rttvar = (3 * w->rttvar + llabs(w->srtt - us)) / 4;
		w->srtt = (7 * w->srtt + us) / 8;
	}
	int64_t rto = (w->srtt + 4 * w->rttvar) / 1000;
	w->rto_ms = (uint32_t)(rto < RTO_MIN_MS ? RTO_MIN_MS : rto > RTO_MAX_MS ? RTO_MAX_MS : rto);
}

void moon__fwd_rtt_backoff(struct wup *w)
{
	w->rto_ms = w->rto_ms > RTO_MAX_MS / 2 ? RTO_MAX_MS : w->rto_ms * 2;
}

void moon__fwd_rtt_init(struct wup *w)
{
	w->has_rtt = false;
	w->rto_ms = RTO_INIT_MS;
}

void moon__fwd_latency(struct wup *w, int64_t ns)
{
	uint64_t us = ns < 0 ? 0 : (uint64_t)ns / 1000;
	unsigned i = 0;
	while (i < MOON_FWD_LAT_BUCKETS - 1 && us > moon_fwd_latency_bounds_us[i])
		i++;
	w->st.latency[i]++;
}
