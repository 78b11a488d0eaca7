#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "server/pipeline.h"
#include "server/sources.h"
#include "server/worker.h"
#include "util/err.h"
#include "util/log.h"

/* Per slot: the request, then the response behind its TCP length prefix. */
#define REQ_CAP 65536u
#define RESP_CAP 65535u
#define SLOT_BUF (REQ_CAP + 65536u + 64u)

#define SLOT_OF(pkt) ((struct moon_slot *)((char *)(pkt) - offsetof(struct moon_slot, io)))

static struct moon_net_pkt *pool_get(void *arg)
{
	struct moon_worker *w = arg;
	struct moon_slot *s = w->free;
	if (!s)
		return NULL;
	w->free = s->next_free;
	w->nfree--;
	return &s->io;
}

static void pool_put(struct moon_worker *w, struct moon_slot *s)
{
	/* LIFO: the next query reuses the buffers that are still in cache. */
	s->next_free = w->free;
	w->free = s;
	w->nfree++;
}

static int on_handle(void *arg, struct moon_net_pkt *pkt)
{
	struct moon_worker *w = arg;
	struct moon_query *q = &SLOT_OF(pkt)->q;
	q->req_len = pkt->req_len;
	q->client = (const struct sockaddr *)&pkt->peer;
	q->server = (const struct sockaddr *)&pkt->local;
	q->proto = pkt->proto == MOON_NET_TCP ? MOON_PROTO_TCP : MOON_PROTO_UDP;
	q->listener = pkt->listener;
	q->gen = moon_gen_user_begin(&w->gen);
	int ret = moon_pipeline_run(q);
	pkt->resp_len = q->resp_len;
	return ret;
}

static void on_done(void *arg, struct moon_net_pkt *pkt, bool sent)
{
	struct moon_worker *w = arg;
	struct moon_slot *s = SLOT_OF(pkt);
	struct moon_query *q = &s->q;
	/* Pkts that never carried a query (armed for a receive that did not
	 * come) have no generation. */
	if (q->gen) {
		q->sent = sent;
		moon_pipeline_finish(q);
		moon_gen_user_end(&w->gen, q->gen);
		q->gen = NULL;
	}
	pool_put(w, s);
}

static void on_resume(struct moon_query *q)
{
	struct moon_slot *s = (struct moon_slot *)((char *)q - offsetof(struct moon_slot, q));
	moon_pipeline_resume(q);
	s->io.resp_len = q->resp_len;
	moon_net_complete(&s->io);
}

static const struct moon_net_ops ops = {
	.get = pool_get, .handle = on_handle, .done = on_done,
};

static int pool_init(struct moon_worker *w)
{
	w->slots = calloc(MOON_WORKER_SLOTS, sizeof(*w->slots));
	if (!w->slots)
		return -ENOMEM;
	w->bufs_len = (size_t)MOON_WORKER_SLOTS * SLOT_BUF;
	w->bufs = mmap(NULL, w->bufs_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (w->bufs == MAP_FAILED) {
		w->bufs = NULL;
		return -errno;
	}
	for (unsigned i = MOON_WORKER_SLOTS; i-- > 0;) {
		struct moon_slot *s = &w->slots[i];
		uint8_t *b = (uint8_t *)w->bufs + (size_t)i * SLOT_BUF;
		s->io.req = b;
		s->io.req_cap = REQ_CAP;
		/* The response starts on a cache line; the 2 bytes before it
		 * take TCP's length prefix. */
		s->io.resp = b + REQ_CAP + 64;
		s->io.resp_cap = RESP_CAP;
		s->q.req = s->io.req;
		s->q.resp = s->io.resp;
		s->q.resp_cap = RESP_CAP;
		s->q.ans = &s->ans;
		s->q.resume = on_resume;
		s->q.owner = w;
		s->q.worker = w->id;
		pool_put(w, s);
	}
	return 0;
}

static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct moon_worker *w = a->data;
	if (atomic_load(&w->stop)) {
		moon_net_worker_close(w->net);
		ev_async_stop(loop, a);
		/* The loop ends by itself once nothing is left: no socket, no
		 * pending source. */
		return;
	}
	struct moon_gen *before = w->gen.cur;
	/* Removed listeners go first, answered by the generation that still
	 * routes them; added ones start with the generation that routes them. */
	moon_lmbox_apply(&w->lbox, w->net, 0);
	moon_gen_user_update(&w->gen, w->pub);
	moon_lmbox_apply(&w->lbox, w->net, w->gen.cur->id);
	if (w->gen.cur == before)
		return;
	const struct moon_conf *c = w->gen.cur->conf;
	struct moon_net_config cfg = {
		.tcp_idle_timeout_ms = c->tcp.idle_timeout_ms,
		.tcp_io_timeout_ms = c->tcp.io_timeout_ms,
		.tcp_max_queries_per_conn = c->tcp.max_queries_per_connection,
		.tcp_max_pending_bytes = c->tcp.max_pending_bytes,
	};
	moon_net_worker_configure(w->net, &cfg);
}

int moon_worker_init(struct moon_worker *w, unsigned id, struct moon_gen_pub *pub,
		     const struct moon_net_config *cfg, struct moon_net_shared *sh)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->pub = pub;
	w->gen.worker = id;
	atomic_init(&w->stop, false);
	moon_lmbox_init(&w->lbox);
	int ret = pool_init(w);
	if (ret)
		return ret;
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	if (!w->loop)
		return -ENOMEM;
	struct moon_net_ops o = ops;
	o.arg = w;
	w->net = moon_net_worker_new(w->loop, cfg, sh, &o);
	if (!w->net)
		return -ENOMEM;
	ev_async_init(&w->wake, wake_cb);
	w->wake.data = w;
	ev_async_start(w->loop, &w->wake);
	moon_gen_user_update(&w->gen, pub);
	return 0;
}

static void *thread_main(void *arg)
{
	struct moon_worker *w = arg;
	ev_run(w->loop, 0);
	return NULL;
}

int moon_worker_start(struct moon_worker *w)
{
	int ret = pthread_create(&w->thread, NULL, thread_main, w);
	if (ret)
		return -ret;
	w->started = true;
	return 0;
}

void moon_worker_wake(struct moon_worker *w)
{
	ev_async_send(w->loop, &w->wake);
}

void moon_worker_stop(struct moon_worker *w)
{
	if (!w->started)
		return;
	atomic_store(&w->stop, true);
	ev_async_send(w->loop, &w->wake);
	pthread_join(w->thread, NULL);
	w->started = false;
}

void moon_worker_deinit(struct moon_worker *w)
{
	if (w->loop)
		moon_src_worker_exit(w);
	if (w->net) {
		moon_net_worker_close(w->net);
		if (!moon_net_worker_free(w->net))
			moon_warn(SERVER, "worker %u: queries still pending at exit", w->id);
	}
	if (w->gen.cur)
		moon_gen_user_leave(&w->gen);
	moon_lmbox_deinit(&w->lbox);
	if (w->loop)
		ev_loop_destroy(w->loop);
	if (w->bufs)
		munmap(w->bufs, w->bufs_len);
	free(w->slots);
	memset(w, 0, sizeof(*w));
}
