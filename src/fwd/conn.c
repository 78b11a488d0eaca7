/*
 * TCP and DoT connections to one upstream, per worker. Queries are framed
 * (RFC 1035 §4.2.2) into the connection's write buffer and replies matched
 * to tries by ID, in whatever order they come (RFC 7766 §6.2.1.1). The
 * write buffer holds max_pipeline queries, so a query given to a connection
 * with a free slot always fits.
 *
 * Re-entrancy: handing a reply or an error to a try may end its flight and
 * run the clients' callbacks, which may start new queries on this very
 * connection. So the connection is never closed from inside those paths
 * (an idle or drained connection is closed from its timer), and a failing
 * connection is reset before any try hears of it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fwd/internal.h"
#include "util/log.h"
#include "wire/wire.h"

#define FRAME_MAX (2 + MOON_FWD_QMAX)
#define RBUF_CAP (2 + MOON_MAX_MSG)
/* Reads per wakeup before giving other connections a turn. */
#define READ_BATCH 32

static void conn_cb(struct ev_loop *loop, ev_io *io, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *timer, int revents);

static struct moon_fwd_worker *fw_of(const struct conn *c)
{
	return c->up->fw;
}

void moon__fwd_pool_init(struct wup *w)
{
	for (unsigned i = 0; i < w->fw->fwd->o.max_conns; i++) {
		struct conn *c = &w->conns[i];
		c->up = w;
		c->fd = -1;
		ev_init(&c->io, conn_cb);
		ev_init(&c->timer, timer_cb);
	}
}

static void set_events(struct conn *c, int events)
{
	if (events == c->events)
		return;
	struct ev_loop *loop = fw_of(c)->loop;
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(loop, &c->io);
	c->events = events;
}

static void arm_timer(struct conn *c, uint32_t ms)
{
	struct ev_loop *loop = fw_of(c)->loop;
	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, ms / 1000.0, 0);
	ev_timer_start(loop, &c->timer);
}

/* Closes the socket and forgets every slot; tries are told by the caller. */
static void reset(struct conn *c)
{
	struct ev_loop *loop = fw_of(c)->loop;
	ev_io_stop(loop, &c->io);
	ev_timer_stop(loop, &c->timer);
	if (c->ssl) {
		/* Tell the server we are done (best effort, never waits). */
		if (c->state == CONN_READY)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->events = 0;
	c->state = CONN_FREE;
	c->woff = c->wlen = c->rlen = 0;
	for (unsigned i = 0; i < fw_of(c)->fwd->o.max_pipeline; i++) {
		if (c->out[i].t)
			c->out[i].t->conn = NULL;
		c->out[i].t = NULL;
	}
	c->nout = 0;
}

/*
 * The connection broke: every try on it hears `err`. A connection that had
 * already carried replies and then closed is most likely one the server
 * timed out or capped (RFC 7766 §6.2.3): its tries get -EAGAIN, meaning
 * "send me again on a new connection", not a failure of the upstream.
 */
static void fail(struct conn *c, int err, bool eof)
{
	struct {
		struct try *t;
		uint32_t serial;
	} tries[1024];
	unsigned n = 0;
	for (unsigned i = 0; i < fw_of(c)->fwd->o.max_pipeline; i++)
		if (c->out[i].t) {
			tries[n].t = c->out[i].t;
			tries[n++].serial = c->out[i].t->serial;
		}
	bool stale = eof && c->nreplies > 0;
	reset(c);
	for (unsigned i = 0; i < n; i++) {
		struct try *t = tries[i].t;
		if (t->open && t->serial == tries[i].serial)
			moon__fwd_try_error(t, stale ? -EAGAIN : err);
	}
}

static int buffers(struct conn *c)
{
	if (c->rbuf)
		return 0;
	unsigned np = fw_of(c)->fwd->o.max_pipeline;
	c->wcap = np * FRAME_MAX;
	c->rbuf = malloc(RBUF_CAP);
	c->wbuf = malloc(c->wcap);
	c->out = calloc(np, sizeof(*c->out));
	if (c->rbuf && c->wbuf && c->out)
		return 0;
	free(c->rbuf);
	free(c->wbuf);
	free(c->out);
	c->rbuf = c->wbuf = NULL;
	c->out = NULL;
	return -ENOMEM;
}

static int open_conn(struct conn *c, uint8_t xport)
{
	struct wup *w = c->up;
	const struct upstream *u = w->u;
	int r = buffers(c);
	if (r < 0)
		return r;
	int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = connect(fd, (const struct sockaddr *)&u->addr, u->addrlen);
	if (rc < 0 && errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	c->fd = fd;
	c->xport = xport;
	c->state = CONN_CONNECTING;
	c->draining = false;
	c->ssl_want_write = false;
	c->nreplies = 0;
	if (xport == XP_TLS && !(c->ssl = moon__fwd_tls_new(c))) {
		reset(c);
		return -ENOMEM;
	}
	c->events = 0;
	set_events(c, EV_WRITE);
	/* Connect and handshake get the whole query deadline; each try still
	 * times out on its own. */
	arm_timer(c, fw_of(c)->fwd->o.timeout_ms);
	w->st.conn_opened++;
	return 0;
}

/* A connection with a free slot: reuse first, open a new one only when all
 * are full (pipelining keeps the connection count low). */
static int pick(struct wup *w, uint8_t xport, struct conn **out)
{
	unsigned max = w->fw->fwd->o.max_conns, np = w->fw->fwd->o.max_pipeline;
	struct conn *free_conn = NULL;
	for (unsigned i = 0; i < max; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == CONN_FREE) {
			if (!free_conn)
				free_conn = c;
			continue;
		}
		if (!c->draining && c->xport == xport && c->nout < np) {
			*out = c;
			return 0;
		}
	}
	if (!free_conn)
		return MOON_ELIMIT;
	int r = open_conn(free_conn, xport);
	if (r < 0)
		return r;
	*out = free_conn;
	return 0;
}

static bool id_in_use(const struct conn *c, uint16_t id, unsigned np)
{
	for (unsigned i = 0; i < np; i++)
		if (c->out[i].t && c->out[i].id == id)
			return true;
	return false;
}

static void want_io(struct conn *c)
{
	int ev = EV_READ;
	if (c->state == CONN_READY && (c->woff < c->wlen || c->ssl_want_write))
		ev |= EV_WRITE;
	if (c->state == CONN_CONNECTING)
		ev = EV_WRITE;
	if (c->state != CONN_HANDSHAKE)
		set_events(c, ev);
}

int moon__fwd_conn_send(struct try *t, uint8_t xport)
{
	struct wup *w = t->up;
	struct flight *f = t->f;
	unsigned np = w->fw->fwd->o.max_pipeline;
	struct conn *c;
	int r = pick(w, xport, &c);
	if (r < 0)
		return r;
	uint16_t id;
	do
		id = moon__fwd_new_id(w->fw);
	while (id_in_use(c, id, np));
	unsigned slot = 0;
	while (c->out[slot].t)
		slot++;
	c->out[slot].id = id;
	c->out[slot].t = t;
	if (c->nout++ == 0 && c->state == CONN_READY)
		ev_timer_stop(w->fw->loop, &c->timer);          /* no longer idle */
	if (c->wcap - c->wlen < 2u + f->query_len) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	uint8_t *p = c->wbuf + c->wlen;
	moon_put_u16(p, f->query_len);
	memcpy(p + 2, f->query, f->query_len);
	moon__fwd_set_id(p + 2, id);
	c->wlen += 2u + f->query_len;
	if (c->nreplies)
		w->st.conn_reused++;
	t->id = id;
	t->conn = c;
	t->xport = xport;
	want_io(c);
	return 0;
}

void moon__fwd_conn_detach(struct try *t)
{
	struct conn *c = t->conn;
	if (!c)
		return;
	t->conn = NULL;
	unsigned np = fw_of(c)->fwd->o.max_pipeline;
	for (unsigned i = 0; i < np; i++) {
		if (c->out[i].t != t)
			continue;
		c->out[i].t = NULL;
		c->nout--;
		break;
	}
	/* Closing here could pull the connection from under a read loop up
	 * the stack: the timer does it. */
	if (c->nout == 0 && c->state == CONN_READY)
		arm_timer(c, c->draining ? 0 : fw_of(c)->fwd->o.expire_ms);
}

void moon__fwd_conn_suspect(struct try *t)
{
	if (t->conn)
		t->conn->draining = true;
}

static void timer_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
	struct conn *c = (struct conn *)((char *)timer - offsetof(struct conn, timer));
	if (c->state != CONN_READY) {
		fail(c, -ETIMEDOUT, false);
		return;
	}
	if (c->nout == 0)
		reset(c);       /* idle for `expire`, or drained */
}

static void ready(struct conn *c)
{
	c->state = CONN_READY;
	ev_timer_stop(fw_of(c)->loop, &c->timer);
	if (c->nout == 0)
		arm_timer(c, fw_of(c)->fwd->o.expire_ms);
}

static int handshake(struct conn *c)
{
	ERR_clear_error();
	int r = SSL_connect(c->ssl);
	if (r == 1) {
		if (SSL_session_reused(c->ssl))
			c->up->st.tls_resumed++;
		ready(c);
		return 0;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		set_events(c, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
		return 1;
	}
	long v = SSL_get_verify_result(c->ssl);
	char why[256];
	if (v != X509_V_OK)
		snprintf(why, sizeof(why), "certificate: %s", X509_verify_cert_error_string(v));
	else
		ERR_error_string_n(ERR_peek_error(), why, sizeof(why));
	MOON_LOG_RATELIMITED(MOON_LOG_WARN, FWD, "TLS handshake with %s failed: %s",
			     c->up->u->name, why);
	c->up->st.tls_failures++;
	fail(c, -EPROTO, false);
	return -1;
}

static int connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		fail(c, -err, false);
		return -1;
	}
	if (c->xport == XP_TLS) {
		c->state = CONN_HANDSHAKE;
		return handshake(c);
	}
	ready(c);
	return 0;
}

/* Returns bytes moved, 0 for "would block", or -1 when the connection was
 * failed (and reset). */
static ssize_t io_write(struct conn *c, const uint8_t *buf, size_t len)
{
	if (!c->ssl) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		fail(c, -errno, false);
		return -1;
	}
	ERR_clear_error();
	int n = SSL_write(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	int e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return 0;
	fail(c, -EPIPE, false);
	return -1;
}

static int flush(struct conn *c)
{
	c->ssl_want_write = false;
	while (c->woff < c->wlen) {
		ssize_t n = io_write(c, c->wbuf + c->woff, c->wlen - c->woff);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		c->woff += (uint32_t)n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	return 0;
}

/* Like io_write; a closed connection is failed with eof set. */
static ssize_t io_read(struct conn *c, uint8_t *buf, size_t len)
{
	if (!c->ssl) {
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n > 0)
			return n;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		fail(c, n == 0 ? -ECONNRESET : -errno, true);
		return -1;
	}
	ERR_clear_error();
	int n = SSL_read(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	int e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE) {
		c->ssl_want_write = true;
		return 0;
	}
	fail(c, -ECONNRESET, true);
	return -1;
}

/* One framed message; false when the connection went away meanwhile. */
static bool message(struct conn *c, const uint8_t *msg, size_t len)
{
	struct wup *w = c->up;
	c->nreplies++;
	if (len < MOON_HDR_LEN) {
		w->st.mismatched++;
		return true;
	}
	uint16_t id = moon_get_u16(msg);
	unsigned np = fw_of(c)->fwd->o.max_pipeline;
	for (unsigned i = 0; i < np; i++) {
		struct try *t = c->out[i].t;
		if (!t || c->out[i].id != id)
			continue;
		moon__fwd_try_reply(t, msg, len);
		return c->state == CONN_READY;
	}
	w->st.mismatched++;     /* an ID we never sent here, or gave up on */
	return true;
}

static int drain_input(struct conn *c)
{
	for (int i = 0; i < READ_BATCH; i++) {
		ssize_t n = io_read(c, c->rbuf + c->rlen, RBUF_CAP - c->rlen);
		if (n <= 0)
			return (int)n;
		c->rlen += (uint32_t)n;
		size_t off = 0;
		while (c->rlen - off >= 2) {
			size_t mlen = moon_get_u16(c->rbuf + off);
			if (c->rlen - off < 2 + mlen)
				break;
			/* The callbacks may queue queries here but never touch
			 * rbuf; a reset connection has rlen 0. */
			if (!message(c, c->rbuf + off + 2, mlen))
				return -1;
			off += 2 + mlen;
		}
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= (uint32_t)off;
	}
	return 0;
}

static void conn_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct conn *c = (struct conn *)((char *)io - offsetof(struct conn, io));
	if (c->state == CONN_CONNECTING && connected(c) != 0)
		return;         /* failed, or handshake under way */
	if (c->state == CONN_HANDSHAKE && handshake(c) != 0)
		return;
	if (flush(c) < 0 || drain_input(c) < 0)
		return;
	/* Answers may have queued queries: write them now. */
	if (c->woff < c->wlen && flush(c) < 0)
		return;
	want_io(c);
}

void moon__fwd_pool_free(struct wup *w)
{
	for (unsigned i = 0; i < w->fw->fwd->o.max_conns; i++) {
		struct conn *c = &w->conns[i];
		if (c->out && c->state != CONN_FREE)
			reset(c);
		free(c->rbuf);
		free(c->wbuf);
		free(c->out);
	}
	if (w->session)
		SSL_SESSION_free(w->session);
	w->session = NULL;
}
