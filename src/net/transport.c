#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/internal.h"
#include "util/err.h"
#include "util/log.h"

int moon_net_shared_init(struct moon_net_shared *sh, uint32_t max_conns, uint32_t max_per_client)
{
	atomic_init(&sh->nconns, 0);
	atomic_init(&sh->max_conns, max_conns);
	moon_connlimit_init(&sh->per_client, max_per_client);
	return 0;
}

void moon_net_shared_set_limits(struct moon_net_shared *sh, uint32_t max_conns,
				uint32_t max_per_client)
{
	atomic_store(&sh->max_conns, max_conns);
	atomic_store(&sh->per_client.max_per_client, max_per_client);
}

void moon_net_shared_deinit(struct moon_net_shared *sh)
{
	moon_connlimit_deinit(&sh->per_client);
}

static void resume_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct moon_net_worker *nw = w->data;
	ev_prepare_stop(loop, w);
	if (!nw->starved || nw->closed)
		return;
	nw->starved = false;
	moon__net_udp_start(nw);
	moon__net_tcp_resume(nw);
}

void moon__net_starve(struct moon_net_worker *nw)
{
	nw->starved = true;
	moon__net_udp_stop(nw);
}

void moon__net_pkt_done(struct moon_net_worker *nw, struct moon_net_pkt *pkt, bool sent)
{
	nw->ops.done(nw->ops.arg, pkt, sent);
	/* Resume from the loop, not from here: we may be deep inside a read
	 * callback of the connection that would be resumed. */
	if (nw->starved && !ev_is_active(&nw->resume))
		ev_prepare_start(nw->loop, &nw->resume);
}

static void *alloc_array(size_t n, size_t size, bool *failed)
{
	void *p = calloc(n, size);
	if (!p)
		*failed = true;
	return p;
}

static void free_scratch(struct moon_net_worker *nw)
{
	free(nw->armed);
	free(nw->rmsg);
	free(nw->smsg);
	free(nw->riov);
	free(nw->siov);
	free(nw->out);
	free(nw->rctl);
	free(nw->sctl);
}

struct moon_net_worker *moon_net_worker_new(struct ev_loop *loop, const struct moon_net_config *cfg,
					    struct moon_net_shared *sh,
					    const struct moon_net_ops *ops)
{
	struct moon_net_worker *nw = calloc(1, sizeof(*nw));
	if (!nw)
		return NULL;
	nw->loop = loop;
	nw->cfg = *cfg;
	if (nw->cfg.udp_batch == 0)
		nw->cfg.udp_batch = 1;
	nw->sh = sh;
	nw->ops = *ops;
	ev_prepare_init(&nw->resume, resume_cb);
	nw->resume.data = nw;
	size_t b = nw->cfg.udp_batch;
	bool failed = false;
	nw->armed = alloc_array(b, sizeof(*nw->armed), &failed);
	nw->rmsg = alloc_array(b, sizeof(*nw->rmsg), &failed);
	nw->smsg = alloc_array(b, sizeof(*nw->smsg), &failed);
	nw->riov = alloc_array(b, sizeof(*nw->riov), &failed);
	nw->siov = alloc_array(b, sizeof(*nw->siov), &failed);
	nw->out = alloc_array(b, sizeof(*nw->out), &failed);
	nw->rctl = alloc_array(b, sizeof(*nw->rctl), &failed);
	nw->sctl = alloc_array(b, sizeof(*nw->sctl), &failed);
	if (failed) {
		free_scratch(nw);
		free(nw);
		return NULL;
	}
	return nw;
}

void moon_net_worker_configure(struct moon_net_worker *nw, const struct moon_net_config *cfg)
{
	unsigned batch = nw->cfg.udp_batch;
	nw->cfg = *cfg;
	nw->cfg.udp_batch = batch;
}

int moon_net_worker_add_udp(struct moon_net_worker *nw, int fd, uint16_t listener, bool pktinfo)
{
	struct udp_sock *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->listener = listener;
	s->pktinfo = pktinfo;
	s->nw = nw;
	s->bound_len = sizeof(s->bound);
	if (getsockname(fd, (struct sockaddr *)&s->bound, &s->bound_len))
		s->bound_len = 0;
	ev_io_init(&s->io, moon__net_udp_read_cb, fd, EV_READ);
	s->io.data = s;
	s->next = nw->udp;
	nw->udp = s;
	if (!nw->starved)
		ev_io_start(nw->loop, &s->io);
	return 0;
}

int moon_net_worker_add_tcp(struct moon_net_worker *nw, int fd, uint16_t listener)
{
	struct tcp_lsock *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->listener = listener;
	s->nw = nw;
	ev_io_init(&s->io, moon__net_tcp_accept_cb, fd, EV_READ);
	s->io.data = s;
	s->next = nw->tcp;
	nw->tcp = s;
	ev_io_start(nw->loop, &s->io);
	return 0;
}

void moon_net_worker_close(struct moon_net_worker *nw)
{
	if (nw->closed)
		return;
	nw->closed = true;
	ev_prepare_stop(nw->loop, &nw->resume);
	/* UDP sockets stay allocated until moon_net_worker_free(): pending
	 * pkts still point at them, and find fd -1 when they complete. */
	for (struct udp_sock *s = nw->udp; s; s = s->next) {
		ev_io_stop(nw->loop, &s->io);
		if (s->fd >= 0)
			close(s->fd);
		s->fd = -1;
	}
	for (struct tcp_lsock *s = nw->tcp, *next; s; s = next) {
		next = s->next;
		ev_io_stop(nw->loop, &s->io);
		close(s->fd);
		free(s);
	}
	nw->tcp = NULL;
	while (nw->conns)
		moon__net_tcp_close(nw->conns);
	for (unsigned i = 0; i < nw->narmed; i++)
		nw->ops.done(nw->ops.arg, nw->armed[i], false);
	nw->narmed = 0;
}

bool moon_net_worker_free(struct moon_net_worker *nw)
{
	if (!nw)
		return true;
	if (!nw->closed || nw->pending)
		return false;
	for (struct udp_sock *s = nw->udp, *next; s; s = next) {
		next = s->next;
		free(s);
	}
	free_scratch(nw);
	free(nw);
	return true;
}

void moon_net_worker_retire(struct moon_net_worker *nw, uint16_t listener)
{
	if (nw->closed)
		return;
	moon__net_udp_retire(nw, listener);
	moon__net_tcp_retire(nw, listener);
}

const struct moon_net_stats *moon_net_worker_stats(const struct moon_net_worker *nw)
{
	return &nw->st;
}

unsigned moon_net_worker_conns(const struct moon_net_worker *nw)
{
	return nw->nconns;
}

void moon_net_complete(struct moon_net_pkt *pkt)
{
	if (pkt->proto == MOON_NET_UDP) {
		struct udp_sock *s = pkt->origin;
		struct moon_net_worker *nw = s->nw;
		nw->pending--;
		s->pending--;
		moon__net_udp_send_one(nw, pkt);
		if (s->retired && s->pending == 0 && s->fd >= 0) {
			close(s->fd);
			s->fd = -1;
		}
		return;
	}
	struct tcp_conn *c = pkt->origin;
	moon__net_tcp_complete(c->nw, pkt);
}
