/*
 * DNS over TLS (RFC 7858) on the TCP machinery of tcp.c: a tls:// socket
 * accepts TCP connections under the same limits (tcp.max_connections,
 * max_connections_per_client), runs a non-blocking TLS handshake on the
 * worker's loop, and then carries RFC 7766 framing, pipelining,
 * out-of-order replies, idle and per-message timeouts and the pending-bytes
 * backpressure exactly like plain TCP, with SSL_read/SSL_write in place of
 * read/writev. Queries reach the server as MOON_NET_TCP pkts (they are
 * never truncated) and count in the tcp_* transport counters; the TLS
 * specifics count in struct moon_tls_stats.
 *
 * A DoT listener address has one struct moon_tls_listener, shared by every
 * worker's socket on it. It holds the current context (certificate, key,
 * settings); replacing it (a reload, which a changed certificate file
 * triggers: server/dot.h) affects new connections only, running ones keep
 * the SSL_CTX they started with. It also holds the per-client new-session
 * rate limiter: a full handshake takes a token once the client's hello is
 * read, before the costly key exchange and signature, and fails when the
 * client's bucket is empty; a resumed session takes none.
 *
 * Threads: moon_tls_listener_* are for the control thread, except that
 * workers read the context under the listener's lock when they accept.
 * moon_net_worker_add_tls and the stats belong to the worker's thread.
 */
#ifndef MOON_NET_TLS_H
#define MOON_NET_TLS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/tlsctx.h"
#include "net/tlsrate.h"
#include "util/diag.h"

struct moon_net_worker;

struct moon_tls_listener {
	pthread_mutex_t lock;            /* guards ctx against a swap during SSL_new */
	struct moon_tls_ctx *ctx;        /* current; NULL: connections are refused */
	struct moon_tls_rate rate;
};

/* Per-worker TLS counters (plain fields: one writer, read racily). */
struct moon_tls_stats {
	uint64_t handshakes;             /* completed */
	uint64_t resumed;                /* of handshakes: an earlier session resumed */
	uint64_t tls13;                  /* of handshakes: TLS 1.3 */
	uint64_t handshake_failed;       /* the peer or its certificate was not acceptable */
	uint64_t handshake_timeouts;     /* closed: no complete handshake in time */
	uint64_t refused_rate;           /* full handshakes refused: new-session rate */
};

void moon_tls_listener_init(struct moon_tls_listener *l);
/* Drops the context; no worker may use l any more. */
void moon_tls_listener_deinit(struct moon_tls_listener *l);
/* Makes ctx (the listener takes a reference of its own; NULL keeps the
 * current one) the context of new connections, and applies its rate. */
void moon_tls_listener_set(struct moon_tls_listener *l, struct moon_tls_ctx *ctx);

/* Takes ownership of a listening TCP socket (moon_net_socket_tcp) and
 * serves DNS over TLS on it with l's context; l must outlive the worker's
 * sockets. Returns 0 or -ENOMEM. */
int moon_net_worker_add_tls(struct moon_net_worker *nw, int fd, uint16_t listener,
			    struct moon_tls_listener *l);
const struct moon_tls_stats *moon_net_worker_tls_stats(const struct moon_net_worker *nw);

#endif
