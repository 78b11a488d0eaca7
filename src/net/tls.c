/*
 * DNS over TLS connections: tcp.c accepts them, counts them against its
 * limits and frames, processes and times them; this file puts OpenSSL in
 * the way of the bytes. A TLS connection has its own read and write
 * callbacks, and it needs more than "is the socket readable" to know when
 * to go on: OpenSSL may need the socket writable to finish a read, or
 * readable to finish a write, and it may hold decrypted bytes we did not
 * take while our limits stopped reading.
 */
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "net/internal.h"
#include "net/tls.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

enum {
	TLS_HANDSHAKE = 1 << 0,          /* still handshaking */
	TLS_READ_WANTS_WRITE = 1 << 1,   /* SSL_read waits for the socket to be writable */
	TLS_WRITE_WANTS_READ = 1 << 2,   /* SSL_write waits for the socket to be readable */
	TLS_READ_MORE = 1 << 3,          /* reading stopped on our limits: OpenSSL may hold data */
	TLS_DEAD = 1 << 4,               /* a fatal error: no close_notify */
	TLS_REFUSED = 1 << 5,            /* stopped by the new-session rate */
	TLS_COUNTED = 1 << 6,            /* took its new-session token */
};

/* Application bytes per SSL_write: one full TLS record. Replies are
 * gathered into it, so a batch of small answers costs one record. */
#define CHUNK 16384

static void tls_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void tls_write_cb(struct ev_loop *loop, ev_io *w, int revents);

/* ------------------------------------------------------------ listener */

void moon_tls_listener_init(struct moon_tls_listener *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	moon_tls_rate_init(&l->rate, 0);
}

void moon_tls_listener_deinit(struct moon_tls_listener *l)
{
	moon_tls_ctx_release(l->ctx);
	moon_tls_rate_deinit(&l->rate);
	pthread_mutex_destroy(&l->lock);
	memset(l, 0, sizeof(*l));
}

void moon_tls_listener_set(struct moon_tls_listener *l, struct moon_tls_ctx *ctx)
{
	if (!ctx)
		return;
	moon_tls_ctx_ref(ctx);
	pthread_mutex_lock(&l->lock);
	struct moon_tls_ctx *old = l->ctx;
	l->ctx = ctx;
	pthread_mutex_unlock(&l->lock);
	moon_tls_rate_set(&l->rate, ctx->max_new_sessions_per_client);
	moon_tls_ctx_release(old);
}

/* ------------------------------------------------------------ worker */

int moon_net_worker_add_tls(struct moon_net_worker *nw, int fd, uint16_t listener,
			    struct moon_tls_listener *l)
{
	int ret = moon_net_worker_add_tcp(nw, fd, listener);
	if (ret)
		return ret;
	nw->tcp->tls = l;                /* add_tcp put the new socket first */
	return 0;
}

const struct moon_tls_stats *moon_net_worker_tls_stats(const struct moon_net_worker *nw)
{
	return &nw->tls_st;
}

/* ------------------------------------------------------------ connections */

static void log_failure(struct tcp_conn *c, const char *what)
{
	if (!moon_log_enabled(MOON_LOG_DEBUG)) {
		ERR_clear_error();
		return;
	}
	char peer[64];
	unsigned long e = ERR_peek_last_error();
	moon_net_addr_str((struct sockaddr *)&c->peer, peer, sizeof(peer));
	moon_debug(NET, "TLS %s with %s failed: %s", what, peer,
		   e ? ERR_reason_error_string(e) : "connection closed");
	ERR_clear_error();
}

static void fail(struct tcp_conn *c, const char *what)
{
	c->tls_flags |= TLS_DEAD;
	log_failure(c, what);
	moon__net_tcp_close(c);
}

/* OpenSSL calls this once it parsed the ClientHello of a full handshake
 * (never for a resumed session), before the costly part: the key
 * exchange and the signature. That is where a client's new sessions are
 * counted and, over the rate, refused. */
static int full_handshake_cb(SSL *ssl, void *arg)
{
	struct tcp_conn *c = arg;
	/* A HelloRetryRequest brings a second hello: one token per handshake. */
	if (c->tls_flags & TLS_COUNTED)
		return 1;
	if (moon_tls_rate_take(&c->tls->rate, (struct sockaddr *)&c->peer, moon_now_ms()) == 0) {
		c->tls_flags |= TLS_COUNTED;
		return 1;
	}
	c->tls_flags |= TLS_REFUSED;
	c->nw->tls_st.refused_rate++;
	return 0;
}

void moon__net_tls_start(struct tcp_conn *c, struct moon_tls_listener *l)
{
	struct moon_net_worker *nw = c->nw;
	SSL *ssl = NULL;
	uint32_t timeout_ms = 0;
	pthread_mutex_lock(&l->lock);
	if (l->ctx) {
		ssl = SSL_new(l->ctx->ssl);
		timeout_ms = l->ctx->handshake_timeout_ms;
	}
	pthread_mutex_unlock(&l->lock);
	if (!ssl || SSL_set_fd(ssl, c->fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		moon__net_tcp_close(c);
		return;
	}
	SSL_set_accept_state(ssl);
	SSL_set_cert_cb(ssl, full_handshake_cb, c);
	c->ssl = ssl;
	c->tls = l;
	c->tls_flags = TLS_HANDSHAKE;
	ev_set_cb(&c->rio, tls_read_cb);
	ev_set_cb(&c->wio, tls_write_cb);
	/* Until the handshake is done the timer is its deadline. */
	ev_timer_stop(nw->loop, &c->timer);
	ev_timer_set(&c->timer, timeout_ms / 1000.0, 0.);
	ev_timer_start(nw->loop, &c->timer);
}

bool moon__net_tls_timer(struct tcp_conn *c)
{
	if (!(c->tls_flags & TLS_HANDSHAKE))
		return false;
	c->nw->tls_st.handshake_timeouts++;
	moon__net_tcp_close(c);
	return true;
}

void moon__net_tls_close(struct tcp_conn *c)
{
	ERR_clear_error();
	/* A courtesy close_notify if the socket takes it now; never waits. */
	if (!(c->tls_flags & (TLS_HANDSHAKE | TLS_DEAD)))
		SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	ERR_clear_error();
	c->ssl = NULL;
}

/* Reads what OpenSSL gives while our limits allow, then hands the bytes
 * to tcp.c. The last thing it does may close c. */
static void read_some(struct tcp_conn *c)
{
	bool got = false;
	c->tls_flags &= ~TLS_READ_MORE;
	for (;;) {
		if (!moon__net_tcp_may_read(c)) {
			if (!c->eof)
				c->tls_flags |= TLS_READ_MORE;
			break;
		}
		ERR_clear_error();
		size_t room = c->rcap - c->rlen;
		int n = SSL_read(c->ssl, c->rbuf + c->rlen, room > INT_MAX ? INT_MAX : (int)room);
		if (n > 0) {
			c->rlen += (size_t)n;
			got = true;
			continue;
		}
		int e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ)
			break;
		if (e == SSL_ERROR_WANT_WRITE) {
			c->tls_flags |= TLS_READ_WANTS_WRITE;
			break;
		}
		if (e == SSL_ERROR_ZERO_RETURN) {
			/* close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF):
			 * answer what came before, like a TCP half-close. */
			c->eof = true;
			break;
		}
		fail(c, "read");
		return;
	}
	if (got)
		c->last_active = ev_now(c->nw->loop);
	moon__net_tcp_process(c);
}

static void handshake_done(struct tcp_conn *c)
{
	struct moon_net_worker *nw = c->nw;
	c->tls_flags &= ~TLS_HANDSHAKE;
	nw->tls_st.handshakes++;
	if (SSL_version(c->ssl) == TLS1_3_VERSION)
		nw->tls_st.tls13++;
	if (SSL_session_reused(c->ssl))
		nw->tls_st.resumed++;
	c->last_active = ev_now(nw->loop);
	ev_io_stop(nw->loop, &c->wio);
	ev_timer_stop(nw->loop, &c->timer);
	ev_timer_set(&c->timer, nw->cfg.tcp_idle_timeout_ms / 1000.0, 0.);
	ev_timer_start(nw->loop, &c->timer);
	/* The client's first query may have come with its Finished. */
	read_some(c);
}

static void handshake(struct tcp_conn *c)
{
	struct ev_loop *loop = c->nw->loop;
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		handshake_done(c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		ev_io_stop(loop, &c->wio);
		ev_io_start(loop, &c->rio);
		return;
	case SSL_ERROR_WANT_WRITE:
		ev_io_stop(loop, &c->rio);
		ev_io_start(loop, &c->wio);
		return;
	default:
		if (!(c->tls_flags & TLS_REFUSED))
			c->nw->tls_st.handshake_failed++;
		fail(c, "handshake");
	}
}

/* SSL_writes buf[0..len) until done (1), blocked (0: *sent bytes went out,
 * the rest must be offered again, from the same first byte), or the
 * connection failed (-1). */
static int send_buf(struct tcp_conn *c, const uint8_t *buf, size_t len, size_t *sent)
{
	*sent = 0;
	while (*sent < len) {
		size_t left = len - *sent;
		ERR_clear_error();
		int r = SSL_write(c->ssl, buf + *sent, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0) {
			*sent += (size_t)r;
			continue;
		}
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_WRITE:
			return 0;
		case SSL_ERROR_WANT_READ:
			c->tls_flags |= TLS_WRITE_WANTS_READ;
			return 0;
		default:
			c->tls_flags |= TLS_DEAD;
			log_failure(c, "write");
			return -1;
		}
	}
	return 1;
}

/* Copies from iov[*i] (at *off) on into buf, at most CHUNK bytes. */
static size_t gather(uint8_t *buf, const struct iovec *iov, unsigned n, unsigned *i, size_t *off)
{
	size_t len = 0;
	while (*i < n && len < CHUNK) {
		size_t take = iov[*i].iov_len - *off;
		if (take > CHUNK - len)
			take = CHUNK - len;
		memcpy(buf + len, (const uint8_t *)iov[*i].iov_base + *off, take);
		len += take;
		*off += take;
		if (*off == iov[*i].iov_len) {
			(*i)++;
			*off = 0;
		}
	}
	return len;
}

bool moon__net_tls_write(struct tcp_conn *c, struct iovec *iov, unsigned n)
{
	uint8_t chunk[CHUNK];
	size_t written = 0;
	unsigned i = 0;
	size_t off = 0;
	/* Behind output that waits already, in order. */
	while (c->wb.len == 0 && i < n) {
		size_t len = gather(chunk, iov, n, &i, &off), sent;
		int r = send_buf(c, chunk, len, &sent);
		written += sent;
		if (r < 0)
			return false;
		if (r == 0)
			break;
	}
	if (written)
		c->last_active = ev_now(c->nw->loop);
	return moon_tcp_wbuf_keep_rest(&c->wb, iov, n, written) == 0;
}

/* Sends what waits in wb; false when the connection failed. */
static bool flush(struct tcp_conn *c)
{
	size_t sent;
	int r = send_buf(c, c->wb.buf + c->wb.head, c->wb.len, &sent);
	if (sent) {
		c->last_active = ev_now(c->nw->loop);
		moon_tcp_wbuf_consume(&c->wb, sent);
	}
	return r >= 0;
}

void moon__net_tls_settle(struct tcp_conn *c, bool want_read)
{
	struct ev_loop *loop = c->nw->loop;
	if (c->tls_flags & TLS_HANDSHAKE)
		return;
	if (c->tls_flags & TLS_WRITE_WANTS_READ) {
		/* A writable socket would only spin the write callback. */
		ev_io_stop(loop, &c->wio);
		ev_io_start(loop, &c->rio);
	}
	if (c->tls_flags & TLS_READ_WANTS_WRITE)
		ev_io_start(loop, &c->wio);
	/* The socket may stay quiet while OpenSSL holds bytes for us. */
	if (want_read && (c->tls_flags & TLS_READ_MORE))
		ev_feed_event(loop, &c->rio, EV_READ);
}

static void tls_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_conn *c = w->data;
	if (c->tls_flags & TLS_HANDSHAKE) {
		handshake(c);
		return;
	}
	if (c->tls_flags & TLS_WRITE_WANTS_READ) {
		c->tls_flags &= ~TLS_WRITE_WANTS_READ;
		if (!flush(c)) {
			moon__net_tcp_close(c);
			return;
		}
	}
	read_some(c);
}

static void tls_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tcp_conn *c = w->data;
	if (c->tls_flags & TLS_HANDSHAKE) {
		handshake(c);
		return;
	}
	if (c->wb.len && !(c->tls_flags & TLS_WRITE_WANTS_READ) && !flush(c)) {
		moon__net_tcp_close(c);
		return;
	}
	if (c->wb.len == 0 || (c->tls_flags & TLS_WRITE_WANTS_READ))
		ev_io_stop(loop, &c->wio);
	if (c->tls_flags & TLS_READ_WANTS_WRITE) {
		c->tls_flags &= ~TLS_READ_WANTS_WRITE;
		read_some(c);
		return;
	}
	/* Draining may lift backpressure: take the messages that waited. */
	moon__net_tcp_process(c);
}
