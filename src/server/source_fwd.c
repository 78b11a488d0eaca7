/*
 * Per-worker forwarding state (struct moon_fwdw) and background refreshes.
 *
 * The state is made on the first forwarded query of a worker for a block
 * of a generation, on that worker's thread, because a moon_fwd_worker
 * lives on one loop. It is freed by its own prepare watcher (on that loop,
 * outside any forwarder callback, which must never free the forwarder it
 * runs in) once the worker has moved on to a newer generation and neither
 * a client query nor a refresh of this generation is in flight there; or
 * when the worker stops; or at worker exit (moon_src_worker_exit).
 */
#include <stdlib.h>

#include "metrics/ops.h"
#include "server/gen.h"
#include "server/sources.h"
#include "server/srcint.h"
#include "server/worker.h"
#include "util/err.h"
#include "util/log.h"
#include "wire/dns.h"

static void fwdw_free(struct moon_fwdw *e)
{
	struct ev_loop *loop = e->w->loop;
	ev_ref(loop);
	ev_prepare_stop(loop, &e->sweep);
	e->bs->w[e->w->id] = NULL;
	/* Ends what is still pending (worker stopping): client queries get
	 * their SERVFAIL, refreshes just end. */
	moon_fwd_worker_free(e->fw);
	*e->pprev = e->next;
	if (e->next)
		e->next->pprev = e->pprev;
	struct moon_gen *gen = e->gen;
	free(e->bgbuf);
	free(e);
	moon_gen_release(gen);
}

static void sweep_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
	struct moon_fwdw *e = p->data;
	struct moon_worker *w = e->w;
	if (!atomic_load_explicit(&w->stop, memory_order_relaxed) &&
	    (w->gen.cur == e->gen || e->gen->ws[w->id].inflight || e->bg_busy))
		return;
	fwdw_free(e);
}

struct moon_fwdw *moon__src_fwdw(struct moon_query *q, struct moon_bstate *bs)
{
	struct moon_fwdw *e = bs->w[q->worker];
	struct moon_worker *w = q->owner;
	if (e || !w)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->bgbuf = malloc((size_t)MOON_SRC_BG_SLOTS * MOON_MAX_MSG);
	e->fw = moon_fwd_worker_new(bs->fwd, w->loop, MOON_WORKER_SLOTS + MOON_SRC_BG_SLOTS);
	if (!e->bgbuf || !e->fw) {
		if (e->fw)
			moon_fwd_worker_free(e->fw);
		free(e->bgbuf);
		free(e);
		moon_err(FWD, "servers.%s: worker %u: out of memory for the forwarder",
			 bs->conf->name, w->id);
		return NULL;
	}
	for (unsigned i = 0; i < MOON_SRC_BG_SLOTS; i++) {
		e->bg[i].e = e;
		e->bg[i].buf = e->bgbuf + (size_t)i * MOON_MAX_MSG;
	}
	e->w = w;
	e->bs = bs;
	e->gen = q->gen;
	atomic_fetch_add(&e->gen->refs, 1);
	ev_prepare_init(&e->sweep, sweep_cb);
	e->sweep.data = e;
	ev_prepare_start(w->loop, &e->sweep);
	ev_unref(w->loop);
	e->next = w->fwdw;
	e->pprev = &w->fwdw;
	if (w->fwdw)
		w->fwdw->pprev = &e->next;
	w->fwdw = e;
	bs->w[q->worker] = e;
	return e;
}

static void bg_done(void *arg, const struct moon_fwd_result *res)
{
	struct moon_src_bg *bg = arg;
	struct moon_fwdw *e = bg->e;
	moon_ops_forwarded(e->bs->ops, e->w->id, res->tried, res->deduped, res->err != 0,
			   res->rcode, res->latency_ns);
	if (res->err == 0 && e->bs->cache)
		moon__src_store(e->bs->cache, &bg->key, bg->buf, res->len, res->in_bailiwick);
	bg->busy = false;
	e->bg_busy--;
}

void moon__src_prefetch(struct moon_query *q, struct moon_bstate *bs,
			const struct moon_cache_key *key)
{
	struct moon_fwdw *e = moon__src_fwdw(q, bs);
	if (!e || e->bg_busy == MOON_SRC_BG_SLOTS)
		return;
	struct moon_src_bg *bg = e->bg;
	while (bg->busy)
		bg++;
	bg->key = *key;
	struct moon_pkt rw;     /* read during the call only */
	int ret = moon_fwd_query(e->fw, moon_query_sources_pkt(q, &rw), bg->buf, MOON_MAX_MSG,
				 bg_done, bg);
	if (ret != MOON_EPENDING)
		return;
	bg->busy = true;
	e->bg_busy++;
}

void moon_src_worker_exit(struct moon_worker *w)
{
	while (w->fwdw)
		fwdw_free(w->fwdw);
}
