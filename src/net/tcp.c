/*
 * DNS over TCP (RFC 7766): 2-byte length framing, pipelined queries whose
 * replies may complete out of order, idle and per-message timeouts, and
 * limits on connections, queries per connection and unsent output.
 */
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/internal.h"
#include "util/err.h"
#include "util/log.h"

/* Connections accepted per readiness event, so a connection flood cannot
 * keep the loop away from UDP. */
#define ACCEPT_BUDGET 16

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_process(struct tcp_conn *c);

static double ms(uint32_t v) { return v / 1000.0; }

static bool admit(struct moon_net_worker *nw, const struct sockaddr *peer)
{
	struct moon_net_shared *sh = nw->sh;
	uint32_t max = atomic_load_explicit(&sh->max_conns, memory_order_relaxed);
	uint32_t n = atomic_fetch_add(&sh->nconns, 1);
	if (max && n >= max) {
		atomic_fetch_sub(&sh->nconns, 1);
		return false;
	}
	if (moon_connlimit_acquire(&sh->per_client, peer)) {
		atomic_fetch_sub(&sh->nconns, 1);
		return false;
	}
	return true;
}

static void unadmit(struct moon_net_worker *nw, const struct sockaddr *peer)
{
	moon_connlimit_release(&nw->sh->per_client, peer);
	atomic_fetch_sub(&nw->sh->nconns, 1);
}

static struct tcp_conn *conn_new(struct moon_net_worker *nw, int fd, uint16_t listener,
				 const struct sockaddr_storage *peer, socklen_t peer_len)
{
	struct tcp_conn *c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	memset(c, 0, offsetof(struct tcp_conn, small));
	c->fd = fd;
	c->listener = listener;
	c->nw = nw;
	c->rbuf = c->small;
	c->rcap = sizeof(c->small);
	memcpy(&c->peer, peer, peer_len);
	c->peer_len = peer_len;
	c->local_len = sizeof(c->local);
	if (getsockname(fd, (struct sockaddr *)&c->local, &c->local_len))
		c->local_len = 0;
	c->last_active = ev_now(nw->loop);
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	ev_timer_init(&c->timer, conn_timer_cb, ms(nw->cfg.tcp_idle_timeout_ms), 0.);
	c->rio.data = c->wio.data = c->timer.data = c;
	c->next = nw->conns;
	if (nw->conns)
		nw->conns->prev = c;
	nw->conns = c;
	nw->nconns++;
	ev_io_start(nw->loop, &c->rio);
	ev_timer_start(nw->loop, &c->timer);
	return c;
}

static void conn_free(struct tcp_conn *c)
{
	if (c->rbuf != c->small)
		free(c->rbuf);
	moon_tcp_wbuf_free(&c->wb);
	free(c);
}

void moon__net_tcp_close(struct tcp_conn *c)
{
	struct moon_net_worker *nw = c->nw;
	if (c->closed)
		return;
	c->closed = true;
	ev_io_stop(nw->loop, &c->rio);
	ev_io_stop(nw->loop, &c->wio);
	ev_timer_stop(nw->loop, &c->timer);
	if (c->ssl)
		moon__net_tls_close(c);
	close(c->fd);
	c->fd = -1;
	unadmit(nw, (struct sockaddr *)&c->peer);
	if (c->prev)
		c->prev->next = c->next;
	else
		nw->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	nw->nconns--;
	/* Pkts still pending in the server point here; the last one to come
	 * back frees the connection. */
	if (c->inflight == 0)
		conn_free(c);
}

void moon__net_tcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_lsock *ls = w->data;
	struct moon_net_worker *nw = ls->nw;
	for (unsigned i = 0; i < ACCEPT_BUDGET; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(ls->fd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				MOON_LOG_RATELIMITED(MOON_LOG_WARN, NET, "TCP accept: %s",
						     moon_strerror(-errno));
			return;
		}
		/* Over a limit: close at once rather than leave the client
		 * waiting in the backlog. */
		if (!admit(nw, (struct sockaddr *)&peer)) {
			nw->st.tcp_refused++;
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct tcp_conn *c = conn_new(nw, fd, ls->listener, &peer, plen);
		if (!c) {
			unadmit(nw, (struct sockaddr *)&peer);
			close(fd);
			continue;
		}
		nw->st.tcp_accepted++;
		if (ls->tls)
			moon__net_tls_start(c, ls->tls);
	}
}

/* Whether buffered messages may be handled now. */
static bool may_process(const struct tcp_conn *c)
{
	const struct moon_net_config *cfg = &c->nw->cfg;
	return !c->wait_pool && c->inflight < MOON_NET_TCP_MAX_INFLIGHT &&
	       moon_tcp_may_read(c->wb.len, cfg->tcp_max_pending_bytes, c->queries,
				 cfg->tcp_max_queries_per_conn);
}

/* Whether to read from the socket (a full rbuf would make read() say 0). */
static bool may_read(const struct tcp_conn *c)
{
	return !c->eof && c->rlen < c->rcap && may_process(c);
}

/* The connection has nothing more to do: the client closed its side or
 * used up its queries, and every answer went out. */
static bool finished(const struct tcp_conn *c)
{
	uint32_t maxq = c->nw->cfg.tcp_max_queries_per_conn;
	return (c->eof || (maxq && c->queries >= maxq)) && c->inflight == 0 && c->wb.len == 0;
}

/* Starts or stops the read watcher to match may_read(), and closes a
 * finished connection. Returns false when c was closed. */
static bool conn_settle(struct tcp_conn *c)
{
	struct moon_net_worker *nw = c->nw;
	if (finished(c)) {
		moon__net_tcp_close(c);
		return false;
	}
	bool want = may_read(c);
	if (want && !ev_is_active(&c->rio)) {
		ev_io_start(nw->loop, &c->rio);
	} else if (!want && ev_is_active(&c->rio)) {
		if (c->wb.len > nw->cfg.tcp_max_pending_bytes)
			nw->st.tcp_backpressure++;
		ev_io_stop(nw->loop, &c->rio);
	}
	if (c->wb.len && !ev_is_active(&c->wio))
		ev_io_start(nw->loop, &c->wio);
	if (c->ssl)
		moon__net_tls_settle(c, want);
	return true;
}

/* Writes what it can of iov[0..n) and keeps the rest; false on a dead
 * connection (the caller closes it). */
static bool conn_write(struct tcp_conn *c, struct iovec *iov, unsigned n)
{
	size_t written = 0;
	if (c->ssl)
		return moon__net_tls_write(c, iov, n);
	if (c->wb.len == 0) {
		ssize_t ret = writev(c->fd, iov, (int)n);
		if (ret < 0 && errno != EAGAIN && errno != EINTR)
			return false;
		if (ret > 0) {
			written = (size_t)ret;
			c->last_active = ev_now(c->nw->loop);
		}
	}
	return moon_tcp_wbuf_keep_rest(&c->wb, iov, n, written) == 0;
}

/* Sends the replies of pkts[0..n) in one writev and gives them back. */
static bool conn_flush(struct tcp_conn *c, struct moon_net_pkt **pkts, unsigned n)
{
	/* Zeroed only to quiet gcc's maybe-uninitialized on the const
	 * argument of keep_rest; the loop fills iov[0..n). */
	struct iovec iov[MOON_NET_TCP_IOV] = { { 0 } };
	if (n == 0 || n > MOON_NET_TCP_IOV)
		return true;
	for (unsigned i = 0; i < n; i++) {
		struct moon_net_pkt *p = pkts[i];
		p->resp[-2] = (uint8_t)(p->resp_len >> 8);
		p->resp[-1] = (uint8_t)p->resp_len;
		iov[i].iov_base = p->resp - MOON_NET_HEADROOM;
		iov[i].iov_len = p->resp_len + MOON_NET_HEADROOM;
	}
	bool ok = conn_write(c, iov, n);
	for (unsigned i = 0; i < n; i++)
		moon__net_pkt_done(c->nw, pkts[i], ok);
	if (ok)
		c->nw->st.tcp_sent += n;
	return ok;
}

static struct moon_net_pkt *take(struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	struct moon_net_worker *nw = c->nw;
	struct moon_net_pkt *pkt = nw->ops.get(nw->ops.arg);
	if (!pkt) {
		c->wait_pool = true;
		moon__net_starve(nw);
		return NULL;
	}
	memcpy(pkt->req, msg, len);
	pkt->req_len = (uint32_t)len;
	pkt->resp_len = 0;
	pkt->proto = MOON_NET_TCP;
	pkt->listener = c->listener;
	pkt->origin = c;
	pkt->ifindex = 0;
	memcpy(&pkt->peer, &c->peer, c->peer_len);
	pkt->peer_len = c->peer_len;
	memcpy(&pkt->local, &c->local, c->local_len);
	pkt->local_len = c->local_len;
	return pkt;
}

/* Makes room for a message of len bytes (plus its prefix) in rbuf. */
static bool grow_rbuf(struct tcp_conn *c, size_t len)
{
	if (len + 2 <= c->rcap)
		return true;
	uint8_t *b = malloc(2 + 65535);
	if (!b)
		return false;
	memcpy(b, c->rbuf, c->rlen);
	c->rbuf = b;
	c->rcap = 2 + 65535;
	return true;
}

/* Keeps the unprocessed tail of rbuf and the message timer. */
static void compact(struct tcp_conn *c, size_t off, bool got_msg)
{
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	size_t len;
	if (c->rlen == 0 || moon_tcp_frame(c->rbuf, c->rlen, &len) != MOON_TCP_PARTIAL) {
		/* Nothing buffered, or whole messages held back by our own
		 * limits: the client owes us nothing. */
		c->msg_start = 0;
		return;
	}
	if (c->msg_start != 0 && !got_msg)
		return;
	/* A new message started: it must be complete within io_timeout, so
	 * the timer may have to fire sooner than the idle deadline. */
	struct ev_loop *loop = c->nw->loop;
	c->msg_start = ev_now(loop);
	double io = ms(c->nw->cfg.tcp_io_timeout_ms);
	if (ev_timer_remaining(loop, &c->timer) > io) {
		ev_timer_stop(loop, &c->timer);
		ev_timer_set(&c->timer, io, 0.);
		ev_timer_start(loop, &c->timer);
	}
}

/* Handles every whole message in rbuf, as far as the limits allow. */
static void conn_process(struct tcp_conn *c)
{
	struct moon_net_worker *nw = c->nw;
	struct moon_net_pkt *batch[MOON_NET_TCP_IOV];
	unsigned n = 0;
	size_t off = 0;
	bool got_msg = false;
	while (may_process(c)) {
		size_t len = 0;
		enum moon_tcp_frame f = moon_tcp_frame(c->rbuf + off, c->rlen - off, &len);
		if (f == MOON_TCP_EMPTY) {
			/* The client ends the session: answer what came before,
			 * ignore what follows, then close. */
			c->eof = true;
			c->rlen = off;
			break;
		}
		if (f == MOON_TCP_PARTIAL) {
			if (len && !grow_rbuf(c, len))
				goto fail_close;
			break;
		}
		struct moon_net_pkt *pkt = take(c, c->rbuf + off + 2, len);
		if (!pkt)
			break;
		off += 2 + len;
		got_msg = true;
		c->queries++;
		nw->st.tcp_recv++;
		if (nw->ops.handle(nw->ops.arg, pkt) == MOON_EPENDING) {
			c->inflight++;
			nw->pending++;
			continue;
		}
		if (pkt->resp_len == 0) {
			moon__net_pkt_done(nw, pkt, false);
			continue;
		}
		batch[n++] = pkt;
		if (n == MOON_NET_TCP_IOV) {
			/* conn_flush gives the pkts back whatever happens. */
			n = 0;
			if (!conn_flush(c, batch, MOON_NET_TCP_IOV))
				goto fail_close;
		}
	}
	if (n) {
		bool flushed = conn_flush(c, batch, n);
		n = 0;
		if (!flushed)
			goto fail_close;
	}
	compact(c, off, got_msg);
	conn_settle(c);
	return;
fail_close:
	for (unsigned i = 0; i < n; i++)
		moon__net_pkt_done(nw, batch[i], false);
	moon__net_tcp_close(c);
}

void moon__net_tcp_process(struct tcp_conn *c)
{
	conn_process(c);
}

bool moon__net_tcp_may_read(const struct tcp_conn *c)
{
	return may_read(c);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_conn *c = w->data;
	ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			moon__net_tcp_close(c);
		return;
	}
	if (n == 0) {
		c->eof = true;
		conn_settle(c);
		return;
	}
	c->rlen += (size_t)n;
	c->last_active = ev_now(loop);
	conn_process(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_conn *c = w->data;
	ssize_t n = write(c->fd, c->wb.buf + c->wb.head, c->wb.len);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			moon__net_tcp_close(c);
		return;
	}
	c->last_active = ev_now(loop);
	moon_tcp_wbuf_consume(&c->wb, (size_t)n);
	if (c->wb.len == 0)
		ev_io_stop(loop, &c->wio);
	/* Draining may lift backpressure: take the messages that waited. */
	if (may_process(c) && c->rlen)
		conn_process(c);
	else
		conn_settle(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tcp_conn *c = w->data;
	struct moon_net_worker *nw = c->nw;
	if (c->ssl && moon__net_tls_timer(c))
		return;
	ev_tstamp now = ev_now(loop);
	double idle = ms(nw->cfg.tcp_idle_timeout_ms), io = ms(nw->cfg.tcp_io_timeout_ms);
	if (c->msg_start && now - c->msg_start >= io) {
		nw->st.tcp_closed_io++;
		moon__net_tcp_close(c);
		return;
	}
	/* Queries being resolved keep a quiet connection open: their own
	 * timeouts bound them. */
	if (c->inflight == 0 && now - c->last_active >= idle) {
		nw->st.tcp_closed_idle++;
		moon__net_tcp_close(c);
		return;
	}
	double next = c->last_active + idle - now;
	if (next <= 0)
		next = idle;  /* kept open by pending queries: look again later */
	if (c->msg_start && c->msg_start + io - now < next)
		next = c->msg_start + io - now;
	ev_timer_set(w, next > 0.001 ? next : 0.001, 0.);
	ev_timer_start(loop, w);
}

void moon__net_tcp_complete(struct moon_net_worker *nw, struct moon_net_pkt *pkt)
{
	struct tcp_conn *c = pkt->origin;
	nw->pending--;
	c->inflight--;
	if (c->closed) {
		moon__net_pkt_done(nw, pkt, false);
		if (c->inflight == 0)
			conn_free(c);
		return;
	}
	if (pkt->resp_len == 0) {
		moon__net_pkt_done(nw, pkt, false);
	} else if (!conn_flush(c, &pkt, 1)) {
		moon__net_tcp_close(c);
		return;
	}
	if (may_process(c) && c->rlen)
		conn_process(c);
	else
		conn_settle(c);
}

/* The listener went away: what the client already sent is answered (one
 * last read takes what waits in the kernel), then the connection ends as
 * if the client had closed its side. */
static void retire_conn(struct tcp_conn *c)
{
	/* Not under TLS: raw bytes there belong to OpenSSL. */
	if (!c->ssl && !c->eof && c->rlen < c->rcap) {
		ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n > 0)
			c->rlen += (size_t)n;
	}
	c->eof = true;
	conn_process(c);
}

void moon__net_tcp_retire(struct moon_net_worker *nw, uint16_t listener)
{
	for (struct tcp_lsock **pp = &nw->tcp, *s; (s = *pp) != NULL;) {
		if (s->listener != listener) {
			pp = &s->next;
			continue;
		}
		ev_io_stop(nw->loop, &s->io);
		close(s->fd);
		*pp = s->next;
		free(s);
	}
	/* retire_conn may close (and unlink) c, so step via a saved next. */
	for (struct tcp_conn *c = nw->conns, *next; c; c = next) {
		next = c->next;
		if (c->listener == listener && !c->eof)
			retire_conn(c);
	}
}

void moon__net_tcp_resume(struct moon_net_worker *nw)
{
	/* conn_process may close (and unlink) c, so step via a saved next. */
	for (struct tcp_conn *c = nw->conns, *next; c; c = next) {
		next = c->next;
		if (!c->wait_pool)
			continue;
		c->wait_pool = false;
		conn_process(c);
	}
}
