/*
 * Transport: listener sockets, UDP batches and TCP connections, one set per
 * worker thread on the worker's own libev loop. net knows nothing of DNS
 * beyond TCP's 2-byte framing: it hands each received message to the
 * server through struct moon_net_ops and sends what the server puts in the
 * response buffer.
 *
 * Messages travel in struct moon_net_pkt, which the server owns (a
 * per-worker preallocated pool); net borrows one per message with ops->get
 * and gives it back with ops->done once the reply went out or was dropped.
 * Between handle() returning MOON_EPENDING and moon_net_complete() the pkt
 * belongs to the server; net never touches it then (a TCP connection closed
 * meanwhile stays allocated until every such pkt came back).
 *
 * Threads: a moon_net_worker and everything in it is used by its worker
 * thread only. struct moon_net_shared (connection limits) is shared by all
 * workers and thread-safe.
 */
#ifndef MOON_NET_NET_H
#define MOON_NET_NET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/connlimit.h"

struct ev_loop;

enum moon_net_proto { MOON_NET_UDP = 0, MOON_NET_TCP = 1 };

/* Bytes the server must leave writable in front of pkt->resp: TCP writes the
 * message length there, so a reply goes out without a copy. */
#define MOON_NET_HEADROOM 2

struct moon_net_pkt {
	/* Request, written by net. */
	uint8_t *req;
	uint32_t req_cap;                /* at least 65535 */
	uint32_t req_len;
	/* Response, written by the handler; resp_len 0 = send nothing. */
	uint8_t *resp;                   /* MOON_NET_HEADROOM writable bytes before it */
	uint32_t resp_cap;               /* at least 65535 */
	uint32_t resp_len;
	/* Addresses: the client, and the address the query was sent to (taken
	 * from IP_PKTINFO on wildcard UDP sockets, getsockname() on TCP). */
	struct sockaddr_storage peer;
	struct sockaddr_storage local;
	socklen_t peer_len;
	socklen_t local_len;
	int ifindex;                     /* interface of a wildcard UDP query, else 0 */
	uint8_t proto;                   /* enum moon_net_proto */
	uint16_t listener;               /* index of the listener address it came to */
	void *origin;                    /* net's: the UDP socket or TCP connection */
};

/* What the server provides. All callbacks run on the worker's thread. */
struct moon_net_ops {
	void *arg;
	/* A free pkt, or NULL when the worker's in-flight bound is reached
	 * (net then stops reading until a pkt comes back through done()). */
	struct moon_net_pkt *(*get)(void *arg);
	/* Processes a received message. Returns 0 when the reply (resp_len
	 * bytes, 0 = none) is ready, or MOON_EPENDING when the server will call
	 * moon_net_complete() later. */
	int (*handle)(void *arg, struct moon_net_pkt *pkt);
	/* The pkt's life in net is over: sent is true when its reply was
	 * handed to the kernel. The server runs its after-send work (the LOG
	 * stage) and takes the pkt back. */
	void (*done)(void *arg, struct moon_net_pkt *pkt, bool sent);
};

struct moon_net_config {
	unsigned udp_batch;              /* messages per recvmmsg/sendmmsg */
	uint32_t tcp_idle_timeout_ms;
	uint32_t tcp_io_timeout_ms;
	uint32_t tcp_max_queries_per_conn; /* 0 = unlimited */
	uint32_t tcp_max_pending_bytes;
};

/* Per-worker transport counters (plain fields: one writer, read racily when
 * summed for metrics). */
struct moon_net_stats {
	uint64_t udp_recv;
	uint64_t udp_sent;
	uint64_t udp_send_errors;
	uint64_t udp_truncated_in;       /* datagrams longer than the buffer, dropped */
	uint64_t tcp_accepted;
	uint64_t tcp_refused;            /* closed at once: connection limits */
	uint64_t tcp_closed_idle;
	uint64_t tcp_closed_io;          /* slow message: io timeout */
	uint64_t tcp_recv;
	uint64_t tcp_sent;
	uint64_t tcp_backpressure;       /* times reading paused on max_pending_bytes */
};

/* State shared by all workers: the server-wide connection limits. */
struct moon_net_shared {
	_Atomic uint32_t nconns;
	_Atomic uint32_t max_conns;      /* 0 = unlimited */
	struct moon_connlimit per_client;
};

int moon_net_shared_init(struct moon_net_shared *sh, uint32_t max_conns, uint32_t max_per_client);
/* Changes the limits (a reload); connections above them are not closed. */
void moon_net_shared_set_limits(struct moon_net_shared *sh, uint32_t max_conns,
				uint32_t max_per_client);
void moon_net_shared_deinit(struct moon_net_shared *sh);

struct moon_net_worker;

/* Creates the transport of one worker on `loop` (owned by the caller).
 * ops and sh must outlive it. Returns NULL on allocation failure. */
struct moon_net_worker *moon_net_worker_new(struct ev_loop *loop, const struct moon_net_config *cfg,
					    struct moon_net_shared *sh,
					    const struct moon_net_ops *ops);
/* Applies new TCP timeouts and limits (a reload). udp_batch is kept: the
 * batch arrays are sized once. */
void moon_net_worker_configure(struct moon_net_worker *nw, const struct moon_net_config *cfg);
/* Takes ownership of a bound UDP socket / a listening TCP socket (from
 * moon_net_socket_*) and starts serving it. pktinfo: the socket is bound
 * to a wildcard address and replies must carry the query's destination. */
int moon_net_worker_add_udp(struct moon_net_worker *nw, int fd, uint16_t listener, bool pktinfo);
int moon_net_worker_add_tcp(struct moon_net_worker *nw, int fd, uint16_t listener);
/*
 * Stops serving one listener (a reload removed it) without losing what it
 * already received: the datagrams queued on its UDP sockets are answered
 * now, and each socket closes once its last pending reply went out; its TCP
 * sockets stop accepting at once, and its connections answer the queries
 * they have read (plus one last read) and then close. Nothing else changes.
 */
void moon_net_worker_retire(struct moon_net_worker *nw, uint16_t listener);
/* Stops listening and closes every socket and connection. Pkts still
 * pending in the server are completed later as dropped. */
void moon_net_worker_close(struct moon_net_worker *nw);
/* Frees nw after moon_net_worker_close(), once no pkt is pending. Returns
 * false (and frees nothing) while the server still holds some. */
bool moon_net_worker_free(struct moon_net_worker *nw);
const struct moon_net_stats *moon_net_worker_stats(const struct moon_net_worker *nw);
unsigned moon_net_worker_conns(const struct moon_net_worker *nw);

/* Finishes a pkt whose handle() returned MOON_EPENDING: sends its reply
 * (resp_len 0 = none) and passes it to ops->done. Worker thread only. */
void moon_net_complete(struct moon_net_pkt *pkt);

/* Sockets (socket.c). All return 0 or -errno. */
/* Binds a non-blocking UDP socket with SO_REUSEPORT, a large receive
 * buffer, IPV6_V6ONLY on IPv6, and packet info when the address is a
 * wildcard. */
int moon_net_socket_udp(const struct sockaddr *sa, socklen_t len, int *fd);
/* Binds and listens on a non-blocking TCP socket with SO_REUSEPORT. */
int moon_net_socket_tcp(const struct sockaddr *sa, socklen_t len, int *fd);
/* Checks that nobody else uses the address: binds a socket of `type`
 * (SOCK_DGRAM, SOCK_STREAM) without SO_REUSEPORT and closes it. Done once
 * before the real sockets, because SO_REUSEPORT would otherwise let a second
 * server on the same address share the traffic silently. */
int moon_net_probe(const struct sockaddr *sa, socklen_t len, int type);
bool moon_net_addr_is_wildcard(const struct sockaddr *sa);
/* "192.0.2.1:53" or "[2001:db8::1]:53"; returns buf. */
const char *moon_net_addr_str(const struct sockaddr *sa, char *buf, size_t len);
/* Equality of family, address and port. */
bool moon_net_addr_equal(const struct sockaddr *a, const struct sockaddr *b);

#endif
