/*
 * One worker's side of a forwarder: client queries (waiters), the upstream
 * queries they share (flights) and the tries each flight makes. Everything
 * is preallocated in moon_fwd_worker_new; the per-query path allocates
 * nothing (TCP/DoT buffers are allocated once per pooled connection).
 *
 * Callbacks: clients hear the outcome from finish(), which first takes the
 * flight apart completely, so a callback may start new queries (even the
 * same question) on this worker.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fwd/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/random.h"
#include "util/time.h"
#include "wire/wire.h"

static void deadline_cb(struct ev_loop *loop, ev_timer *timer, int revents);
static void try_timer_cb(struct ev_loop *loop, ev_timer *timer, int revents);

/* ---- shared counter ---- */

static bool concurrency_take(struct moon_fwd *fwd)
{
	uint32_t max = fwd->o.max_concurrent;
	if (!max)
		return true;
	if (atomic_fetch_add_explicit(&fwd->concurrent, 1, memory_order_relaxed) < max)
		return true;
	atomic_fetch_sub_explicit(&fwd->concurrent, 1, memory_order_relaxed);
	return false;
}

static void concurrency_give(struct moon_fwd *fwd)
{
	if (fwd->o.max_concurrent)
		atomic_fetch_sub_explicit(&fwd->concurrent, 1, memory_order_relaxed);
}

/* ---- in-flight table ---- */

static uint32_t key_hash(const struct moon_fwd_worker *fw, const uint8_t *qname, uint16_t qtype,
			 uint16_t qclass, bool do_bit, bool cd)
{
	/* FNV-1a under a random per-worker seed; a chain is at most the
	 * worker's slots long, so collisions only cost a scan. */
	uint32_t h = 2166136261u ^ fw->seed;
	size_t n = moon_name_len(qname);
	for (size_t i = 0; i < n; i++)
		h = (h ^ moon_name_lower(qname[i])) * 16777619u;
	uint32_t tail = (uint32_t)qtype << 16 | qclass;
	h = (h ^ tail) * 16777619u;
	h = (h ^ (uint32_t)(do_bit << 1 | cd)) * 16777619u;
	return h;
}

static struct flight *flight_find(struct moon_fwd_worker *fw, uint32_t h,
				  const struct moon_pkt *req, bool do_bit, bool cd)
{
	for (struct flight *f = fw->buckets[h & fw->mask]; f; f = f->hnext)
		if (f->hash == h && f->qtype == req->qtype && f->qclass == req->qclass &&
		    f->do_bit == do_bit && f->cd == cd && moon_name_equal(f->qname, req->qname))
			return f;
	return NULL;
}

static void flight_hash(struct moon_fwd_worker *fw, struct flight *f)
{
	struct flight **b = &fw->buckets[f->hash & fw->mask];
	f->hnext = *b;
	*b = f;
	f->hashed = true;
}

static void flight_unhash(struct moon_fwd_worker *fw, struct flight *f)
{
	if (!f->hashed)
		return;
	for (struct flight **p = &fw->buckets[f->hash & fw->mask]; *p; p = &(*p)->hnext)
		if (*p == f) {
			*p = f->hnext;
			break;
		}
	f->hashed = false;
}

static struct flight *flight_alloc(struct moon_fwd_worker *fw)
{
	struct flight *f = fw->free_flights;
	if (!f)
		return NULL;
	fw->free_flights = f->hnext;
	f->hnext = NULL;
	f->busy = true;
	f->hashed = false;
	f->probe = NULL;
	f->head = f->tail = NULL;
	f->norder = f->next = 0;
	f->attempts = 0;
	f->have_fallback = false;
	f->rtt_ns = 0;
	f->last_err = -ETIMEDOUT;
	return f;
}

static void flight_release(struct moon_fwd_worker *fw, struct flight *f)
{
	f->busy = false;
	f->hnext = fw->free_flights;
	fw->free_flights = f;
}

/* ---- query IDs ---- */

/*
 * Uniform over the IDs not used by this worker's last 4096 queries: 15.9
 * bits instead of 16 against an off-path guesser, and no ID repeats among
 * queries close in time (independent draws would repeat one in about 33
 * among 2000 consecutive queries).
 */
uint16_t moon__fwd_new_id(struct moon_fwd_worker *fw)
{
	uint16_t id;
	do
		id = moon_random_u16();
	while (fw->id_recent[id >> 3] & (1u << (id & 7)));
	if (fw->id_count == MOON_FWD_ID_WINDOW) {
		uint16_t old = fw->id_ring[fw->id_pos];
		fw->id_recent[old >> 3] &= (uint8_t)~(1u << (old & 7));
	} else {
		fw->id_count++;
	}
	fw->id_ring[fw->id_pos] = id;
	fw->id_recent[id >> 3] |= (uint8_t)(1u << (id & 7));
	fw->id_pos = (fw->id_pos + 1) % MOON_FWD_ID_WINDOW;
	return id;
}

/* ---- upstream order ---- */

static uint32_t prng(struct moon_fwd_worker *fw)
{
	/* xorshift64*: the order of upstreams is load spreading, not a
	 * secret; IDs and ports come from the CSPRNG. */
	uint64_t x = fw->prng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	fw->prng = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

/* Fills f->order. Returns 0, or -EHOSTDOWN when no upstream may be used. */
static int make_order(struct moon_fwd_worker *fw, struct flight *f)
{
	const struct moon_fwd *fwd = fw->fwd;
	uint8_t usable[MOON_FWD_MAX_UPSTREAMS];
	unsigned nusable = 0, n = 0;
	for (unsigned i = 0; i < fwd->nup; i++) {
		if (fwd->up[i].self)
			continue;
		usable[nusable++] = (uint8_t)i;
		if (moon__fwd_is_up(fwd, &fwd->up[i]))
			f->order[n++] = (uint8_t)i;
		else
			moon__fwd_probe_claim(&fw->up[i]);  /* nobody may be probing it */
	}
	if (n == 0) {
		if (nusable == 0 || fwd->o.fail_fast)
			return -EHOSTDOWN;
		memcpy(f->order, usable, nusable);      /* all down: try anyway */
		n = nusable;
	}
	if (fwd->o.policy == MOON_FWD_RANDOM) {
		for (unsigned i = n - 1; i > 0; i--) {
			unsigned j = prng(fw) % (i + 1);
			uint8_t tmp = f->order[i];
			f->order[i] = f->order[j];
			f->order[j] = tmp;
		}
	} else if (fwd->o.policy == MOON_FWD_ROUND_ROBIN) {
		f->next = (uint8_t)(fw->rr++ % n);
	}
	f->norder = (uint8_t)n;
	return 0;
}

/* ---- tries ---- */

static bool any_open(const struct flight *f)
{
	for (unsigned i = 0; i < MOON_FWD_OPEN_TRIES; i++)
		if (f->tries[i].open)
			return true;
	return false;
}

/* Errors that are ours (out of sockets, memory, ports), not the upstream's. */
static bool local_error(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM ||
	       err == -EADDRINUSE || err == MOON_ELIMIT;
}

static void close_try(struct try *t)
{
	if (!t->open)
		return;
	t->open = false;
	if (t->xport == XP_UDP)
		moon__fwd_udp_close(t);
	else
		moon__fwd_conn_detach(t);
	/* A try that outlived its timeout and never got a reply failed; one
	 * closed early because another answered did not. */
	if (t->timed_out && !t->f->probe) {
		t->up->st.timeouts++;
		moon__fwd_health_fail(t->up);
	}
}

static struct try *try_slot(struct flight *f)
{
	struct try *oldest = NULL;
	for (unsigned i = 0; i < MOON_FWD_OPEN_TRIES; i++) {
		struct try *t = &f->tries[i];
		if (!t->open)
			return t;
		if (!oldest || t->sent_ns < oldest->sent_ns)
			oldest = t;
	}
	close_try(oldest);
	return oldest;
}

static int start_try(struct flight *f, struct wup *w, uint8_t xport)
{
	struct moon_fwd_worker *fw = f->fw;
	struct try *t = try_slot(f);
	t->f = f;
	t->up = w;
	t->timed_out = false;
	t->stale_retried = false;
	t->conn = NULL;
	t->fd = -1;
	t->serial = ++fw->serial;
	t->sent_ns = moon_now_ns();
	/* libev times from the start of the loop iteration; a busy
	 * iteration would cut this try's timeout short. */
	ev_now_update(fw->loop);
	int r = xport == XP_UDP ? moon__fwd_udp_send(t) : moon__fwd_conn_send(t, xport);
	if (r < 0) {
		f->last_err = r;
		if (!local_error(r)) {
			w->st.failures++;
			moon__fwd_health_fail(w);
		}
		return r;
	}
	t->xport = xport;
	t->open = true;
	w->st.requests++;
	if (f->probe)
		w->st.hc_sent++;
	ev_timer_stop(fw->loop, &f->try_timer);
	ev_timer_set(&f->try_timer, moon__fwd_try_timeout(w) / 1000.0, 0);
	ev_timer_start(fw->loop, &f->try_timer);
	return 0;
}

/* The next upstream in order, until one accepts the query or the tries are
 * used up. Returns 0 or the last error. */
static int next_try(struct flight *f)
{
	struct moon_fwd_worker *fw = f->fw;
	int r = f->last_err;
	while (f->attempts < fw->fwd->max_tries && f->norder) {
		struct wup *w = &fw->up[f->order[f->next % f->norder]];
		f->next++;
		f->attempts++;
		r = start_try(f, w, w->u->xport);
		if (r == 0)
			return 0;
	}
	return r < 0 ? r : -ETIMEDOUT;
}

/* ---- the outcome ---- */

static void fill_result(struct moon_fwd_result *res, int err, uint16_t rcode, uint32_t len,
			int up, const struct moon_fwd_scrub *sc)
{
	*res = (struct moon_fwd_result){
		.err = err, .rcode = err ? MOON_RCODE_SERVFAIL : rcode, .len = err ? 0 : len,
		.upstream = err ? -1 : up, .tried = err ? -1 : up,
	};
	if (!err && sc) {
		res->scrubbed = sc->removed;
		res->in_bailiwick = sc->in_bailiwick;
	}
}

/*
 * Gives every waiter its copy of the reply in head->out (len bytes),
 * patched for it. All copies are made before any callback runs (the head's
 * callback may reuse its buffer at once), and the head is patched last so
 * the others copy the reply as it came.
 */
static void copy_replies(struct waiter *head, uint32_t len)
{
	for (struct waiter *wt = head->next; wt; wt = wt->next) {
		wt->no_room = len > wt->cap;
		if (wt->no_room)
			continue;
		memcpy(wt->out, head->out, len);
		moon__fwd_patch(wt->out, len, &wt->client);
	}
	head->no_room = false;
	moon__fwd_patch(head->out, len, &head->client);
}

/*
 * Ends flight f: stops its timers, closes its tries, leaves the table,
 * returns it to the free list, then tells each waiter. err 0 means head->out
 * holds the reply (len bytes, from upstream `up`); otherwise a stored
 * failover reply is answered if there is one, else SERVFAIL.
 */
static void finish(struct flight *f, int err, uint16_t rcode, uint32_t len, int up,
		   const struct moon_fwd_scrub *sc)
{
	struct moon_fwd_worker *fw = f->fw;
	ev_timer_stop(fw->loop, &f->deadline);
	ev_timer_stop(fw->loop, &f->try_timer);
	for (unsigned i = 0; i < MOON_FWD_OPEN_TRIES; i++)
		close_try(&f->tries[i]);
	flight_unhash(fw, f);
	if (err && f->have_fallback) {
		err = 0;
		rcode = f->fb_rcode;
		len = f->fb_len;
		up = f->fb_up;
		sc = &f->fb_scrub;
	}
	struct wup *probe = f->probe;
	struct waiter *head = f->head;
	int tried = f->attempts && f->norder ? f->order[(f->next - 1) % f->norder] : -1;
	uint64_t rtt = f->rtt_ns > 0 ? (uint64_t)f->rtt_ns : 0;
	flight_release(fw, f);
	if (probe) {
		probe->probe_flight = NULL;
		moon__fwd_probe_result(probe, err == 0);
		return;
	}
	struct moon_fwd_result base;
	fill_result(&base, err, rcode, len, up, sc);
	base.tried = err ? tried : up;
	base.latency_ns = err ? 0 : rtt;
	if (!err)
		copy_replies(head, len);
	for (struct waiter *wt = head, *next; wt; wt = next) {
		next = wt->next;
		struct moon_fwd_result res = base;
		res.deduped = wt->deduped;
		if (!err && wt->no_room)
			fill_result(&res, MOON_ESPACE, 0, 0, -1, NULL);
		if (res.err)
			fw->st.failed++;
		else
			fw->st.answered++;
		moon_fwd_done_fn done = wt->done;
		void *arg = wt->arg;
		wt->next = fw->free_waiters;
		fw->free_waiters = wt;
		concurrency_give(fw->fwd);
		done(arg, &res);
	}
}

/* After a try ended without an answer: try the next upstream, or end the
 * flight when nothing is left to wait for. */
static void move_on(struct flight *f)
{
	if (f->probe) {
		if (!any_open(f))
			finish(f, f->last_err, 0, 0, -1, NULL);
		return;
	}
	if (next_try(f) < 0 && !any_open(f))
		finish(f, f->last_err, 0, 0, -1, NULL);
}

void moon__fwd_try_error(struct try *t, int err)
{
	struct flight *f = t->f;
	struct wup *w = t->up;
	if (err == -EAGAIN && t->xport != XP_UDP && !t->stale_retried) {
		/* The connection was closed under us after serving others:
		 * send again on a fresh one, no failure counted. */
		uint32_t serial = t->serial;
		moon__fwd_conn_detach(t);
		if (moon__fwd_conn_send(t, t->xport) == 0) {
			t->stale_retried = true;
			t->serial = serial;
			return;
		}
	}
	close_try(t);
	w->st.failures++;
	moon__fwd_health_fail(w);
	f->last_err = err == -EAGAIN ? -ECONNRESET : err;
	move_on(f);
}

/* Scrubs the reply into the first waiter's buffer. */
static int take_reply(struct flight *f, const uint8_t *msg, size_t len, struct moon_fwd_scrub *sc)
{
	struct waiter *head = f->head;
	int n = moon__fwd_scrub(msg, len, f->fw->fwd->from, head->out, head->cap, sc);
	if (n >= 0)
		f->fw->st.scrubbed += sc->removed;
	return n;
}

static void count_reply(struct try *t, uint16_t rcode)
{
	struct wup *w = t->up;
	int64_t rtt = moon_now_ns() - t->sent_ns;
	t->f->rtt_ns = rtt;
	w->st.responses[rcode & 0xf]++;
	moon__fwd_latency(w, rtt);
	moon__fwd_rtt_sample(w, rtt);
	moon__fwd_health_ok(w);
	t->timed_out = false;   /* it answered: no failure, even if late */
}

static void accept_reply(struct try *t, const uint8_t *msg, size_t len, uint16_t rcode)
{
	struct flight *f = t->f;
	struct wup *w = t->up;
	struct moon_fwd *fwd = f->fw->fwd;
	if (f->probe) {
		count_reply(t, rcode);
		close_try(t);
		finish(f, 0, rcode, 0, (int)w->idx, NULL);
		return;
	}
	struct moon_fwd_scrub sc;
	int n = take_reply(f, msg, len, &sc);
	if (n < 0) {
		/* A name in RDATA that does not read: ignored like garbage.
		 * The scrub may have overwritten a stored failover reply. */
		w->st.mismatched++;
		f->have_fallback = false;
		return;
	}
	count_reply(t, rcode);
	if (rcode < 16 && (fwd->failover_mask & 1u << rcode)) {
		w->st.failovers++;
		f->have_fallback = true;
		f->fb_len = (uint32_t)n;
		f->fb_rcode = rcode;
		f->fb_up = (int)w->idx;
		f->fb_scrub = sc;
		close_try(t);
		move_on(f);
		return;
	}
	close_try(t);
	finish(f, 0, rcode, (uint32_t)n, (int)w->idx, &sc);
}

void moon__fwd_try_reply(struct try *t, const uint8_t *msg, size_t len)
{
	struct flight *f = t->f;
	struct wup *w = t->up;
	uint16_t rcode = 0;
	moon__fwd_set_id(f->query, t->id);
	switch (moon__fwd_check_reply(msg, len, f->query, f->query_len, &rcode)) {
	case MOON_FWD_REPLY_MISMATCH:
	case MOON_FWD_REPLY_MALFORMED:
		w->st.mismatched++;
		return;         /* keep waiting for the real reply */
	case MOON_FWD_REPLY_TC:
		if (t->xport == XP_UDP) {
			w->st.truncated++;
			moon__fwd_health_ok(w);
			t->timed_out = false;
			close_try(t);
			if (start_try(f, w, XP_TCP) < 0)
				move_on(f);
			return;
		}
		break;          /* TC over TCP: pass it on as it is */
	case MOON_FWD_REPLY_OK:
		break;
	}
	accept_reply(t, msg, len, rcode);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
	struct flight *f = (struct flight *)((char *)timer - offsetof(struct flight, deadline));
	finish(f, -ETIMEDOUT, 0, 0, -1, NULL);
}

/* The newest try waited its timeout: try the next upstream too, and keep
 * listening on this one. */
static void try_timer_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
	struct flight *f = (struct flight *)((char *)timer - offsetof(struct flight, try_timer));
	struct try *newest = NULL;
	for (unsigned i = 0; i < MOON_FWD_OPEN_TRIES; i++) {
		struct try *t = &f->tries[i];
		if (t->open && !t->timed_out && (!newest || t->sent_ns > newest->sent_ns))
			newest = t;
	}
	if (newest) {
		newest->timed_out = true;
		moon__fwd_rtt_backoff(newest->up);
		moon__fwd_conn_suspect(newest);
	}
	f->last_err = -ETIMEDOUT;
	move_on(f);
}

/* ---- starting ---- */

static void set_question(struct flight *f, const uint8_t *qname, uint16_t qtype, uint16_t qclass,
			 bool rd, bool cd, bool do_bit, const uint8_t *opts, size_t opts_len)
{
	struct moon_fwd *fwd = f->fw->fwd;
	memcpy(f->qname, qname, moon_name_len(qname));
	f->qtype = qtype;
	f->qclass = qclass;
	f->cd = cd;
	f->do_bit = do_bit;
	struct moon_fwd_qspec s = {
		.qname = qname, .qtype = qtype, .qclass = qclass, .rd = rd, .cd = cd, .ad = true,
		.do_bit = do_bit, .payload = fwd->o.edns_payload, .opts = opts,
		.opts_len = fwd->o.edns_payload ? (uint16_t)opts_len : 0,
	};
	f->query_len = (uint16_t)moon__fwd_build_query(f->query, 0, &s);
}

static void start_deadline(struct flight *f, uint32_t ms)
{
	ev_timer_set(&f->deadline, ms / 1000.0, 0);
	ev_timer_start(f->fw->loop, &f->deadline);
}

int moon__fwd_probe_send(struct wup *w)
{
	struct moon_fwd_worker *fw = w->fw;
	struct moon_fwd *fwd = fw->fwd;
	struct flight *f = flight_alloc(fw);
	if (!f)
		return MOON_ELIMIT;
	f->probe = w;
	set_question(f, fwd->hc_name, fwd->hc_type, MOON_CLASS_IN, fwd->o.health_check_rd, false,
		     false, NULL, 0);
	f->order[0] = (uint8_t)w->idx;
	f->norder = 1;
	/* One try, which may wait its whole timeout. */
	f->attempts = (uint16_t)(fwd->max_tries - 1);
	int r = next_try(f);
	if (r < 0) {
		flight_release(fw, f);
		return r;
	}
	ev_timer_stop(fw->loop, &f->try_timer);
	start_deadline(f, moon__fwd_try_timeout(w));
	w->probe_flight = f;
	return 0;
}

static struct waiter *waiter_take(struct moon_fwd_worker *fw, const struct moon_pkt *req,
				  uint8_t *out, size_t cap, moon_fwd_done_fn done, void *arg)
{
	struct waiter *wt = fw->free_waiters;
	if (!wt)
		return NULL;
	fw->free_waiters = wt->next;
	wt->next = NULL;
	wt->out = out;
	wt->cap = cap > MOON_MAX_MSG ? MOON_MAX_MSG : (uint32_t)cap;
	wt->done = done;
	wt->arg = arg;
	wt->deduped = false;
	memcpy(wt->qname, req->qname, req->qname_len);
	wt->client = (struct moon_fwd_client){
		.id = req->id, .flags = req->flags, .do_bit = req->edns.do_bit, .qname = wt->qname,
	};
	return wt;
}

static void waiter_give(struct moon_fwd_worker *fw, struct waiter *wt)
{
	wt->next = fw->free_waiters;
	fw->free_waiters = wt;
}

static void waiter_link(struct flight *f, struct waiter *wt)
{
	if (f->tail)
		f->tail->next = wt;
	else
		f->head = wt;
	f->tail = wt;
}

int moon_fwd_query(struct moon_fwd_worker *fw, const struct moon_pkt *req, uint8_t *out,
		   size_t cap, moon_fwd_done_fn done, void *arg)
{
	return moon_fwd_query_opts(fw, req, NULL, 0, out, cap, done, arg);
}

int moon_fwd_query_opts(struct moon_fwd_worker *fw, const struct moon_pkt *req,
			const uint8_t *opts, size_t opts_len, uint8_t *out, size_t cap,
			moon_fwd_done_fn done, void *arg)
{
	struct moon_fwd *fwd = fw->fwd;
	fw->st.queries++;
	if (fw->closing)
		return -ESHUTDOWN;
	if (!req->question_ok || cap < MOON_UDP_MIN_PAYLOAD || opts_len > MOON_FWD_OPTS_MAX)
		return -EINVAL;
	if (!moon_fwd_handles(fwd, req->qname_lc)) {
		fw->st.not_mine++;
		return MOON_ENOTFOUND;
	}
	if (!concurrency_take(fwd)) {
		fw->st.refused++;
		return MOON_ELIMIT;
	}
	struct waiter *wt = waiter_take(fw, req, out, cap, done, arg);
	if (!wt) {
		concurrency_give(fwd);
		fw->st.refused++;
		return MOON_ELIMIT;
	}
	bool do_bit = req->edns.do_bit, cd = (req->flags & MOON_FLAG_CD) != 0;
	uint32_t h = key_hash(fw, req->qname_lc, req->qtype, req->qclass, do_bit, cd);
	struct flight *f = opts_len ? NULL : flight_find(fw, h, req, do_bit, cd);
	if (f) {
		wt->deduped = true;
		waiter_link(f, wt);
		fw->st.deduped++;
		return MOON_EPENDING;
	}
	/* Never fails: there is a flight for every waiter and every probe. */
	f = flight_alloc(fw);
	f->hash = h;
	int r = make_order(fw, f);
	if (r == 0) {
		set_question(f, req->qname, req->qtype, req->qclass, true, cd, do_bit, opts,
			     opts_len);
		waiter_link(f, wt);
		r = next_try(f);
	}
	if (r < 0) {
		if (r == -EHOSTDOWN)
			fw->st.all_down++;
		flight_release(fw, f);
		waiter_give(fw, wt);
		concurrency_give(fwd);
		return r;
	}
	if (!opts_len)
		flight_hash(fw, f);
	start_deadline(f, fwd->o.timeout_ms);
	return MOON_EPENDING;
}

/* ---- worker life ---- */

static int alloc_arrays(struct moon_fwd_worker *fw, unsigned slots)
{
	fw->nflights = slots + fw->fwd->nup;
	fw->waiters = calloc(slots, sizeof(*fw->waiters));
	fw->flights = calloc(fw->nflights, sizeof(*fw->flights));
	uint32_t nb = 16;
	while (nb < 2 * fw->nflights)
		nb *= 2;
	fw->buckets = calloc(nb, sizeof(*fw->buckets));
	fw->mask = nb - 1;
	if (!fw->waiters || !fw->flights || !fw->buckets)
		return -ENOMEM;
	for (unsigned i = 0; i < fw->fwd->nup; i++) {
		fw->up[i].conns = calloc(fw->fwd->o.max_conns, sizeof(struct conn));
		if (!fw->up[i].conns)
			return -ENOMEM;
	}
	return 0;
}

struct moon_fwd_worker *moon_fwd_worker_new(struct moon_fwd *fwd, struct ev_loop *loop,
					    unsigned slots)
{
	struct moon_fwd_worker *fw = calloc(1, sizeof(*fw));
	if (!fw)
		return NULL;
	fw->fwd = fwd;
	fw->loop = loop;
	fw->slots = slots ? slots : 1;
	if (alloc_arrays(fw, fw->slots) < 0) {
		moon_fwd_worker_free(fw);
		return NULL;
	}
	fw->seed = moon_random_u32();
	moon_random_bytes(&fw->prng, sizeof(fw->prng));
	fw->prng |= 1;
	for (unsigned i = fw->slots; i-- > 0;)
		waiter_give(fw, &fw->waiters[i]);
	for (unsigned i = fw->nflights; i-- > 0;) {
		struct flight *f = &fw->flights[i];
		f->fw = fw;
		ev_init(&f->deadline, deadline_cb);
		ev_init(&f->try_timer, try_timer_cb);
		flight_release(fw, f);
	}
	for (unsigned i = 0; i < fwd->nup; i++) {
		struct wup *w = &fw->up[i];
		w->fw = fw;
		w->u = &fwd->up[i];
		w->idx = i;
		moon__fwd_rtt_init(w);
		moon__fwd_pool_init(w);
	}
	return fw;
}

void moon_fwd_worker_free(struct moon_fwd_worker *fw)
{
	if (!fw)
		return;
	fw->closing = true;
	for (unsigned i = 0; fw->flights && i < fw->nflights; i++)
		if (fw->flights[i].busy)
			finish(&fw->flights[i], -ECANCELED, 0, 0, -1, NULL);
	for (unsigned i = 0; i < fw->fwd->nup; i++) {
		struct wup *w = &fw->up[i];
		if (!w->conns)
			continue;
		moon__fwd_probe_stop(w);
		moon__fwd_pool_free(w);
		free(w->conns);
	}
	free(fw->waiters);
	free(fw->flights);
	free(fw->buckets);
	free(fw);
}

const struct moon_fwd_stats *moon_fwd_worker_stats(const struct moon_fwd_worker *fw)
{
	return &fw->st;
}

const struct moon_fwd_upstream_stats *
moon_fwd_worker_upstream_stats(const struct moon_fwd_worker *fw, unsigned i)
{
	return i < fw->fwd->nup ? &fw->up[i].st : NULL;
}
