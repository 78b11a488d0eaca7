/*
 * The HTTP endpoint over real loopback sockets: routes, methods, limits
 * (head size, header count, connection count, slow clients), lameduck.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics/http.h"
#include "tap.h"
#include "util/time.h"

static bool is_ready;
static int scrapes;

static int metrics_page(void *arg, struct moon_obuf *out)
{
	scrapes++;
	moon_obuf_puts(out, "# TYPE m gauge\nm 1\n");
	return 0;
}

static bool ready(void *arg, struct moon_obuf *why)
{
	if (!is_ready)
		moon_obuf_puts(why, "zones not loaded: example.com.");
	return is_ready;
}

static bool is_live = true;

static bool health(void *arg, struct moon_obuf *why)
{
	if (!is_live)
		moon_obuf_puts(why, "1 worker stuck in a policy");
	return is_live;
}

static const struct moon_http_handlers handlers = {
	.metrics = metrics_page, .ready = ready, .health = health,
};

static struct moon_http *start(unsigned max_conns, uint32_t timeout_ms)
{
	struct moon_http_config cfg = { .max_conns = max_conns, .timeout_ms = timeout_ms };
	struct sockaddr_in *sa = (struct sockaddr_in *)&cfg.addr;
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.addrlen = sizeof(*sa);
	struct moon_http *h = NULL;
	int ret = moon_http_start(&cfg, &handlers, &h);
	if (ret)
		printf("# start: %d\n", ret);
	return h;
}

static int dial(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 3 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads until the server closes; returns what came (static buffer). */
static const char *read_all(int fd)
{
	static char buf[65536];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	return buf;
}

static const char *exchange(uint16_t port, const char *req, size_t len)
{
	int fd = dial(port);
	if (fd < 0)
		return "";
	send(fd, req, len, MSG_NOSIGNAL);
	const char *r = read_all(fd);
	close(fd);
	return r;
}

static const char *get(uint16_t port, const char *req)
{
	return exchange(port, req, strlen(req));
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *body(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");
	return b ? b + 4 : "";
}

static void test_routes(uint16_t port)
{
	const char *r = get(port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
	ok(starts(r, "HTTP/1.1 200 OK\r\n"), "/health 200");
	is_str(body(r), "OK", "/health body OK");
	ok(strstr(r, "Connection: close\r\n") != NULL, "one request per connection");

	r = get(port, "GET /metrics HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 200 OK\r\n"), "/metrics 200");
	ok(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL,
	   "Prometheus content type");
	ok(strstr(r, "Content-Length: 19\r\n") != NULL, "content length");
	is_str(body(r), "# TYPE m gauge\nm 1\n", "/metrics body from the handler");

	r = get(port, "HEAD /metrics HTTP/1.0\r\n\r\n");
	ok(starts(r, "HTTP/1.1 200 OK\r\n") && strstr(r, "Content-Length: 19\r\n"),
	   "HEAD: status and length");
	is_str(body(r), "", "HEAD: no body");

	r = get(port, "GET /metrics?name[]=x HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 200 OK\r\n"), "query string ignored");

	r = get(port, "GET /health HTTP/1.0\n\n");
	ok(starts(r, "HTTP/1.1 200 OK\r\n"), "bare LF line ends accepted");

	r = get(port, "GET /nope HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 404 Not Found\r\n"), "unknown path 404");
	r = get(port, "GET /metricsX HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 404 "), "path prefix is not a match");

	r = get(port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
	ok(starts(r, "HTTP/1.1 405 Method Not Allowed\r\n"), "POST 405");
	ok(strstr(r, "Allow: GET, HEAD\r\n") != NULL, "405 says what is allowed");
	r = get(port, "DELETE /health HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 405 "), "DELETE 405");
}

static void test_bad(uint16_t port)
{
	const char *r = get(port, "GARBAGE\r\n\r\n");
	ok(starts(r, "HTTP/1.1 400 "), "no request line 400");
	r = get(port, "GET /health HTTP/2.0\r\n\r\n");
	ok(starts(r, "HTTP/1.1 400 "), "unknown version 400");
	r = get(port, "GET health HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 400 "), "target without / is 400");
	r = get(port, "GET /health HTTP/1.1\r\nno colon here\r\n\r\n");
	ok(starts(r, "HTTP/1.1 400 "), "header without colon 400");
	r = get(port, "GET /health HTTP/1.1\r\nA: b\r\n folded\r\n\r\n");
	ok(starts(r, "HTTP/1.1 400 "), "folded header 400");

	char big[9000];
	memcpy(big, "GET /health HTTP/1.1\r\nX: ", 25);
	memset(big + 25, 'a', sizeof(big) - 25);
	r = exchange(port, big, sizeof(big));
	ok(starts(r, "HTTP/1.1 431 "), "request head over 8 KiB is 431");

	char many[2048];
	size_t n = (size_t)snprintf(many, sizeof(many), "GET /health HTTP/1.1\r\n");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "H%d: v\r\n", i);
	n += (size_t)snprintf(many + n, sizeof(many) - n, "\r\n");
	r = exchange(port, many, n);
	ok(starts(r, "HTTP/1.1 431 "), "40 header lines is 431");

	n = (size_t)snprintf(many, sizeof(many), "GET /health HTTP/1.1\r\n");
	for (int i = 0; i < 32; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "H%d: v\r\n", i);
	n += (size_t)snprintf(many + n, sizeof(many) - n, "\r\n");
	r = exchange(port, many, n);
	ok(starts(r, "HTTP/1.1 200 "), "32 header lines are fine");
}

static void test_split(uint16_t port)
{
	int fd = dial(port);
	const char *parts[] = { "GE", "T /hea", "lth HTTP/1.1\r", "\nHost: a\r\n", "\r\n" };
	for (size_t i = 0; i < 5; i++) {
		send(fd, parts[i], strlen(parts[i]), MSG_NOSIGNAL);
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	const char *r = read_all(fd);
	close(fd);
	ok(starts(r, "HTTP/1.1 200 OK\r\n"), "request arriving in pieces");
}

static void test_ready(struct moon_http *h, uint16_t port)
{
	is_ready = false;
	const char *r = get(port, "GET /ready HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 503 Service Unavailable\r\n"), "/ready 503 while not ready");
	is_str(body(r), "zones not loaded: example.com.\n", "503 says why");
	is_ready = true;
	r = get(port, "GET /ready HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 200 OK\r\n"), "/ready 200 when ready");

	is_live = false;
	r = get(port, "GET /health HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 503 "), "/health 503 when the process is not sound");
	is_str(body(r), "1 worker stuck in a policy\n", "with the reason");
	is_live = true;

	moon_http_set_lameduck(h);
	r = get(port, "GET /ready HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 503 "), "/ready 503 in lameduck");
	ok(strstr(body(r), "lameduck") != NULL, "and says lameduck");
	r = get(port, "GET /health HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 200 OK\r\n"), "/health stays 200 in lameduck");
}

static void test_slowloris(struct moon_http *h, uint16_t port)
{
	uint64_t before = moon_http_stats(h)->timeouts;
	int fd = dial(port);
	send(fd, "GET /health HTTP/1.1\r\n", 22, MSG_NOSIGNAL);
	int64_t t0 = moon_now_ms();
	const char *r = read_all(fd);
	int64_t took = moon_now_ms() - t0;
	close(fd);
	is_str(r, "", "a request that never ends gets no reply");
	ok(took >= 200 && took < 2000, "and is closed at the timeout (300 ms)");
	if (took < 200 || took >= 2000)
		printf("#   took %lld ms\n", (long long)took);
	/* The stats are the HTTP thread's; give it a moment after the close. */
	struct timespec ts = { 0, 50 * 1000000 };
	nanosleep(&ts, NULL);
	ok(moon_http_stats(h)->timeouts == before + 1, "timeout counted");
}

static void test_max_conns(void)
{
	struct moon_http *h = start(3, 5000);
	if (!h) {
		ok(0, "second endpoint starts");
		return;
	}
	uint16_t port = moon_http_port(h);
	int idle[3];
	for (int i = 0; i < 3; i++)
		idle[i] = dial(port);
	struct timespec ts = { 0, 100 * 1000000 };
	nanosleep(&ts, NULL);
	const char *r = get(port, "GET /health HTTP/1.1\r\n\r\n");
	is_str(r, "", "a 4th connection over max_conns=3 is closed at once");
	for (int i = 0; i < 3; i++)
		close(idle[i]);
	nanosleep(&ts, NULL);
	r = get(port, "GET /health HTTP/1.1\r\n\r\n");
	ok(starts(r, "HTTP/1.1 200 "), "slots free again once clients leave");
	is_int(moon_http_stats(h)->rejected, 1, "the rejected connection was counted");
	moon_http_stop(h);
}

static void test_bind_error(uint16_t port)
{
	struct moon_http_config cfg = { 0 };
	struct sockaddr_in *sa = (struct sockaddr_in *)&cfg.addr;
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.addrlen = sizeof(*sa);
	struct moon_http *h = NULL;
	is_int(moon_http_start(&cfg, &handlers, &h), -EADDRINUSE, "port in use: -EADDRINUSE");
}

int main(void)
{
	is_ready = true;
	struct moon_http *h = start(0, 300);
	ok(h != NULL, "endpoint starts on 127.0.0.1, port 0");
	if (!h)
		return tap_done();
	uint16_t port = moon_http_port(h);
	ok(port != 0, "a port was picked");
	test_routes(port);
	test_bad(port);
	test_split(port);
	test_slowloris(h, port);
	test_bind_error(port);
	test_ready(h, port);
	test_max_conns();
	moon_http_stop(h);
	return tap_done();
}
