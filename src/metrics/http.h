/*
 * The operations HTTP endpoint: GET/HEAD /metrics (Prometheus text),
 * /health (liveness) and /ready (readiness). It runs on its own thread with
 * its own libev loop, never on a query thread, and is off unless the config
 * has `http.listen`.
 *
 * It is deliberately small and bounded, since it may face hostile clients
 * when an operator exposes it beyond loopback:
 *  - at most max_conns connections (further ones are accepted and closed
 *    at once, and counted);
 *  - a request head (request line + headers) of at most max_request bytes
 *    and max_headers header lines, else 431; no request body is read;
 *  - the whole exchange must finish within timeout_ms of the accept, else
 *    the connection is closed without a reply (slow clients cannot pin a
 *    slot);
 *  - only GET and HEAD (405 otherwise), only the three paths (404), one
 *    request per connection (Connection: close: a client never sees a
 *    stale /ready on a kept-alive connection during lameduck).
 *
 * Liveness and readiness: /health answers 200 "OK" as long as this thread
 * runs and handlers->health() (when set) says the process is sound
 * (lameduck included); else 503 with the reason. /ready asks
 * handlers->ready() and answers 503 with the reason when it says no, and
 * always 503 "lameduck" once moon_http_set_lameduck() was called.
 *
 * Threads: start/stop/set_lameduck from the control thread; the handlers
 * run on the HTTP thread, one request at a time, so they need no lock
 * against each other (but must be safe against the other threads whose
 * state they read).
 */
#ifndef MOON_METRICS_HTTP_H
#define MOON_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "metrics/obuf.h"

#define MOON_HTTP_MAX_CONNS 16
#define MOON_HTTP_MAX_REQUEST 8192
#define MOON_HTTP_MAX_HEADERS 32
#define MOON_HTTP_TIMEOUT_MS 5000
/* A page larger than this is a 500: a bound on the memory a scrape takes. */
#define MOON_HTTP_MAX_RESPONSE (64u << 20)

struct moon_http_config {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	/* 0 = the MOON_HTTP_* default. */
	unsigned max_conns;
	size_t max_request;
	unsigned max_headers;
	uint32_t timeout_ms;
};

struct moon_http_handlers {
	void *arg;
	/* Writes the /metrics page; returns 0 or a negative error (500). */
	int (*metrics)(void *arg, struct moon_obuf *out);
	/* True when ready; else writes the reason (one line) to why. NULL:
	 * always ready. */
	bool (*ready)(void *arg, struct moon_obuf *why);
	/* The same for liveness (a restart would help). NULL: always live. */
	bool (*health)(void *arg, struct moon_obuf *why);
};

/* What the endpoint did. Read on the HTTP thread (a metrics handler) or
 * after moon_http_stop(). */
struct moon_http_stats {
	uint64_t requests;               /* answered, any status */
	uint64_t rejected;               /* connections over max_conns */
	uint64_t timeouts;               /* closed by timeout_ms */
	uint64_t bad_requests;           /* 400, 405, 431 */
};

struct moon_http;

/*
 * Binds cfg->addr (port 0 picks one: see moon_http_port), then starts the
 * thread. The handlers struct is copied; its arg must outlive the endpoint.
 * Returns 0 or -errno (bind errors included); nothing runs on error.
 */
int moon_http_start(const struct moon_http_config *cfg, const struct moon_http_handlers *h,
		    struct moon_http **out);
/* The bound port. */
uint16_t moon_http_port(const struct moon_http *h);
/* From now on /ready answers 503 (graceful shutdown). Any thread. */
void moon_http_set_lameduck(struct moon_http *h);
const struct moon_http_stats *moon_http_stats(const struct moon_http *h);
/* Closes every connection, stops the thread and frees h. NULL is a no-op. */
void moon_http_stop(struct moon_http *h);

#endif
