/*
 * The HTTP/1.x subset here is just enough for Prometheus, kubelet probes
 * and curl: one request per connection, no body, no keep-alive. Every
 * connection slot (and its request buffer) is allocated once at start, so
 * a flood of connections costs no memory beyond the fixed pool.
 */
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics/http.h"
#include "util/err.h"
#include "util/log.h"

enum conn_state { CONN_FREE, CONN_READ, CONN_WRITE, CONN_DRAIN };

struct conn {
	struct moon_http *h;
	int fd;
	enum conn_state state;
	ev_io io;
	ev_timer timer;
	char *req;                       /* max_request bytes, from the pool */
	size_t req_len;
	struct moon_obuf resp;
	size_t sent;
};

struct moon_http {
	struct moon_http_config cfg;
	struct moon_http_handlers hd;
	int lfd;
	uint16_t port;
	struct ev_loop *loop;
	ev_io accept_io;
	ev_async stop_async;
	pthread_t thread;
	_Atomic bool lameduck;
	struct moon_http_stats stats;
	struct conn *conns;
	char *bufs;
	unsigned nconns;
};

static void conn_close(struct conn *c)
{
	struct moon_http *h = c->h;
	ev_io_stop(h->loop, &c->io);
	ev_timer_stop(h->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	c->state = CONN_FREE;
	/* A big /metrics page should not stay allocated per idle slot. */
	if (c->resp.cap > 65536)
		moon_obuf_free(&c->resp);
	moon_obuf_reset(&c->resp);
	h->nconns--;
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Error";
}

/* Puts the status line and headers in front of the body already in
 * c->resp (rendered first so that its length is known). */
static void frame(struct conn *c, int status, const char *ctype, bool head)
{
	struct moon_obuf *b = &c->resp;
	size_t body = b->failed ? 0 : b->len;
	char hdr[512];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "%sCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
			 "Connection: close\r\n\r\n",
			 status, status_text(status), ctype, body,
			 status == 405 ? "Allow: GET, HEAD\r\n" : "");
	struct moon_obuf out;
	moon_obuf_init(&out, 0);
	moon_obuf_put(&out, hdr, (size_t)n);
	if (!head)
		moon_obuf_put(&out, b->p, body);
	moon_obuf_free(b);
	*b = out;
	c->h->stats.requests++;
	if (status == 400 || status == 405 || status == 431)
		c->h->stats.bad_requests++;
}

static void text_reply(struct conn *c, int status, const char *text, bool head)
{
	moon_obuf_reset(&c->resp);
	moon_obuf_puts(&c->resp, text);
	frame(c, status, "text/plain; charset=utf-8", head);
}

/* 200 "OK", or 503 with the reason the check gave. */
static void probe(struct conn *c, bool (*check)(void *arg, struct moon_obuf *why), bool head)
{
	struct moon_obuf *b = &c->resp;
	if (!check || check(c->h->hd.arg, b)) {
		text_reply(c, 200, "OK", head);
		return;
	}
	if (b->len == 0 || b->p[b->len - 1] != '\n')
		moon_obuf_putc(b, '\n');
	frame(c, 503, "text/plain; charset=utf-8", head);
}

static void route(struct conn *c, const char *path, size_t plen, bool head)
{
	struct moon_http *h = c->h;
	struct moon_obuf *b = &c->resp;
	moon_obuf_reset(b);
	b->max = MOON_HTTP_MAX_RESPONSE;
	if (plen == 7 && memcmp(path, "/health", 7) == 0) {
		probe(c, h->hd.health, head);
	} else if (plen == 6 && memcmp(path, "/ready", 6) == 0) {
		if (atomic_load(&h->lameduck))
			text_reply(c, 503, "lameduck: shutting down\n", head);
		else
			probe(c, h->hd.ready, head);
	} else if (plen == 8 && memcmp(path, "/metrics", 8) == 0 && h->hd.metrics) {
		if (h->hd.metrics(h->hd.arg, b) || moon_obuf_failed(b))
			text_reply(c, 500, "metrics unavailable\n", head);
		else
			frame(c, 200, "text/plain; version=0.0.4; charset=utf-8", head);
	} else {
		text_reply(c, 404, "not found\n", head);
	}
}

/* The request head is complete in c->req[0..end). Header lines are counted
 * and checked for shape; their content is not needed. */
static void handle_request(struct conn *c, size_t end)
{
	char *p = c->req, *eol = memchr(p, '\n', end);
	char *sp1 = memchr(p, ' ', (size_t)(eol - p));
	char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp2 || sp1[1] != '/') {
		text_reply(c, 400, "bad request line\n", false);
		return;
	}
	size_t vlen = (size_t)(eol - sp2 - 1);
	if (vlen && sp2[vlen] == '\r')
		vlen--;
	if (vlen != 8 || (memcmp(sp2 + 1, "HTTP/1.1", 8) && memcmp(sp2 + 1, "HTTP/1.0", 8))) {
		text_reply(c, 400, "bad HTTP version\n", false);
		return;
	}
	unsigned nhdr = 0;
	for (char *line = eol + 1; line < p + end; nhdr++) {
		char *next = memchr(line, '\n', (size_t)(p + end - line));
		size_t len = (size_t)(next - line);
		if (len && line[len - 1] == '\r')
			len--;
		if (len == 0)
			break;  /* the blank line that ends the head */
		if (line[0] == ' ' || line[0] == '\t' || !memchr(line, ':', len)) {
			text_reply(c, 400, "bad header line\n", false);
			return;
		}
		line = next + 1;
	}
	if (nhdr > c->h->cfg.max_headers) {
		text_reply(c, 431, "too many header lines\n", false);
		return;
	}
	size_t mlen = (size_t)(sp1 - p);
	bool head = mlen == 4 && memcmp(p, "HEAD", 4) == 0;
	if (!head && !(mlen == 3 && memcmp(p, "GET", 3) == 0)) {
		text_reply(c, 405, "only GET and HEAD\n", false);
		return;
	}
	char *path = sp1 + 1;
	char *q = memchr(path, '?', (size_t)(sp2 - path));
	route(c, path, (size_t)((q ? q : sp2) - path), head);
}

/* Length of the head up to and including its blank line, or 0. */
static size_t head_end(const char *p, size_t len)
{
	for (size_t i = 1; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i - 1] == '\n')
			return i + 1;
		if (i >= 3 && p[i - 1] == '\r' && p[i - 2] == '\n')
			return i + 1;
	}
	return 0;
}

static void start_write(struct conn *c)
{
	struct moon_http *h = c->h;
	ev_io_stop(h->loop, &c->io);
	c->state = CONN_WRITE;
	c->sent = 0;
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(h->loop, &c->io);
}

static void on_read(struct conn *c)
{
	size_t cap = c->h->cfg.max_request;
	ssize_t n = recv(c->fd, c->req + c->req_len, cap - c->req_len, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->req_len += (size_t)n;
	size_t end = head_end(c->req, c->req_len);
	if (end)
		handle_request(c, end);
	else if (c->req_len == cap)
		text_reply(c, 431, "request head too large\n", false);
	else
		return;
	start_write(c);
}

/* After the reply: stop sending, and read what the client still sends
 * until it closes, so that closing with unread data does not reset the
 * connection before the client has read the reply. */
static void start_drain(struct conn *c)
{
	struct moon_http *h = c->h;
	shutdown(c->fd, SHUT_WR);
	ev_io_stop(h->loop, &c->io);
	c->state = CONN_DRAIN;
	ev_io_set(&c->io, c->fd, EV_READ);
	ev_io_start(h->loop, &c->io);
}

static void on_write(struct conn *c)
{
	struct moon_obuf *b = &c->resp;
	ssize_t n = send(c->fd, b->p + c->sent, b->len - c->sent, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent == b->len)
		start_drain(c);
}

static void on_drain(struct conn *c)
{
	char sink[1024];
	ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	switch (c->state) {
	case CONN_READ: on_read(c); break;
	case CONN_WRITE: on_write(c); break;
	case CONN_DRAIN: on_drain(c); break;
	case CONN_FREE: break;
	}
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	/* A client that has its reply but keeps the connection open is not
	 * a slow client. */
	if (c->state != CONN_DRAIN)
		c->h->stats.timeouts++;
	conn_close(c);
}

static struct conn *free_conn(struct moon_http *h)
{
	for (unsigned i = 0; i < h->cfg.max_conns; i++)
		if (h->conns[i].state == CONN_FREE)
			return &h->conns[i];
	return NULL;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct moon_http *h = w->data;
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;  /* EAGAIN, or a transient error (EMFILE, ECONNABORTED) */
		struct conn *c = free_conn(h);
		if (!c) {
			h->stats.rejected++;
			close(fd);
			continue;
		}
		h->nconns++;
		c->fd = fd;
		c->state = CONN_READ;
		c->req_len = 0;
		ev_io_set(&c->io, fd, EV_READ);
		ev_io_start(loop, &c->io);
		ev_timer_set(&c->timer, h->cfg.timeout_ms / 1000.0, 0.);
		ev_timer_start(loop, &c->timer);
	}
}

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct moon_http *h = w->data;
	for (unsigned i = 0; i < h->cfg.max_conns; i++)
		if (h->conns[i].state != CONN_FREE)
			conn_close(&h->conns[i]);
	ev_io_stop(loop, &h->accept_io);
	ev_async_stop(loop, w);
}

static void *thread_main(void *arg)
{
	struct moon_http *h = arg;
	ev_run(h->loop, 0);
	return NULL;
}

static int listen_socket(struct moon_http *h)
{
	const struct sockaddr *sa = (const struct sockaddr *)&h->cfg.addr;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	if (bind(fd, sa, h->cfg.addrlen) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen)) {
		int err = -errno;
		close(fd);
		return err;
	}
	h->lfd = fd;
	h->port = ntohs(bound.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&bound)->sin6_port :
			((struct sockaddr_in *)&bound)->sin_port);
	return 0;
}

static void apply_defaults(struct moon_http_config *c)
{
	if (!c->max_conns)
		c->max_conns = MOON_HTTP_MAX_CONNS;
	if (!c->max_request)
		c->max_request = MOON_HTTP_MAX_REQUEST;
	if (!c->max_headers)
		c->max_headers = MOON_HTTP_MAX_HEADERS;
	if (!c->timeout_ms)
		c->timeout_ms = MOON_HTTP_TIMEOUT_MS;
}

static void http_free(struct moon_http *h)
{
	if (h->lfd >= 0)
		close(h->lfd);
	for (unsigned i = 0; h->conns && i < h->cfg.max_conns; i++)
		moon_obuf_free(&h->conns[i].resp);
	if (h->loop)
		ev_loop_destroy(h->loop);
	free(h->conns);
	free(h->bufs);
	free(h);
}

static int setup(struct moon_http *h)
{
	h->conns = calloc(h->cfg.max_conns, sizeof(*h->conns));
	h->bufs = malloc((size_t)h->cfg.max_conns * h->cfg.max_request);
	h->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	if (!h->conns || !h->bufs || !h->loop)
		return -ENOMEM;
	for (unsigned i = 0; i < h->cfg.max_conns; i++) {
		struct conn *c = &h->conns[i];
		c->h = h;
		c->fd = -1;
		c->req = h->bufs + (size_t)i * h->cfg.max_request;
		moon_obuf_init(&c->resp, MOON_HTTP_MAX_RESPONSE);
		ev_io_init(&c->io, io_cb, -1, EV_READ);
		c->io.data = c;
		ev_timer_init(&c->timer, timer_cb, 0., 0.);
		c->timer.data = c;
	}
	int ret = listen_socket(h);
	if (ret)
		return ret;
	ev_io_init(&h->accept_io, accept_cb, h->lfd, EV_READ);
	h->accept_io.data = h;
	ev_io_start(h->loop, &h->accept_io);
	ev_async_init(&h->stop_async, stop_cb);
	h->stop_async.data = h;
	ev_async_start(h->loop, &h->stop_async);
	return 0;
}

int moon_http_start(const struct moon_http_config *cfg, const struct moon_http_handlers *hd,
		    struct moon_http **out)
{
	struct moon_http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	h->hd = *hd;
	h->lfd = -1;
	apply_defaults(&h->cfg);
	atomic_init(&h->lameduck, false);
	int ret = setup(h);
	if (ret)
		goto fail_free;
	/* Signals belong to the control thread's loop. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&h->thread, NULL, thread_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto fail_free;
	*out = h;
	return 0;
fail_free:
	http_free(h);
	return ret;
}

uint16_t moon_http_port(const struct moon_http *h)
{
	return h->port;
}

void moon_http_set_lameduck(struct moon_http *h)
{
	atomic_store(&h->lameduck, true);
}

const struct moon_http_stats *moon_http_stats(const struct moon_http *h)
{
	return &h->stats;
}

void moon_http_stop(struct moon_http *h)
{
	if (!h)
		return;
	ev_async_send(h->loop, &h->stop_async);
	pthread_join(h->thread, NULL);
	http_free(h);
}
