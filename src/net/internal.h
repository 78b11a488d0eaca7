/*
 * Private to src/net: the per-worker transport state shared by udp.c,
 * tcp.c and transport.c. Everything here belongs to one worker thread.
 */
#ifndef MOON_NET_INTERNAL_H
#define MOON_NET_INTERNAL_H

#include <ev.h>
#include <netinet/in.h>

#include "net/net.h"
#include "net/tcpbuf.h"
#include "net/tls.h"

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message. */
#define MOON_NET_CTL_LEN 64
/* Responses gathered into one writev on a TCP connection. */
#define MOON_NET_TCP_IOV 32
/* Queries of one TCP connection in flight at once (pipelining depth). */
#define MOON_NET_TCP_MAX_INFLIGHT 64

struct udp_sock {
	ev_io io;
	int fd;
	uint16_t listener;
	bool pktinfo;
	bool retired;                   /* listener removed: closes once pending is 0 */
	unsigned pending;               /* its pkts the server holds after MOON_EPENDING */
	struct sockaddr_storage bound;  /* reported as the local address without pktinfo */
	socklen_t bound_len;
	struct moon_net_worker *nw;
	struct udp_sock *next;
};

struct tcp_lsock {
	ev_io io;
	int fd;
	uint16_t listener;
	struct moon_tls_listener *tls;  /* DNS over TLS (tls.c), or NULL */
	struct moon_net_worker *nw;
	struct tcp_lsock *next;
};

struct tcp_conn {
	ev_io rio, wio;
	ev_timer timer;
	int fd;
	uint16_t listener;
	bool eof;                       /* the client closed its side */
	bool closed;                    /* fd closed, struct kept for pending pkts */
	bool wait_pool;                 /* stopped reading: no free pkt */
	uint32_t inflight;              /* pkts pending in the server */
	uint32_t queries;               /* messages received */
	ev_tstamp last_active;          /* last byte read or written */
	ev_tstamp msg_start;            /* first byte of the incomplete message, 0 = none */
	struct moon_net_worker *nw;
	struct tcp_conn *prev, *next;
	uint8_t *rbuf;
	size_t rlen, rcap;
	struct moon_tcp_wbuf wb;
	struct sockaddr_storage peer, local;
	socklen_t peer_len, local_len;
	struct ssl_st *ssl;             /* DNS over TLS (tls.c), or NULL */
	struct moon_tls_listener *tls;
	uint8_t tls_flags;
	uint8_t small[4096];            /* rbuf until a message needs more */
};

struct moon_net_worker {
	struct ev_loop *loop;
	struct moon_net_config cfg;
	struct moon_net_shared *sh;
	struct moon_net_ops ops;
	struct moon_net_stats st;
	struct moon_tls_stats tls_st;
	struct udp_sock *udp;
	struct tcp_lsock *tcp;
	struct tcp_conn *conns;
	unsigned nconns;
	unsigned pending;               /* pkts the server holds after MOON_EPENDING */
	bool closed;
	bool starved;                   /* ops->get returned NULL: reading is paused */
	ev_prepare resume;              /* restarts reading once pkts came back */
	/* UDP batch scratch (cfg.udp_batch entries each). */
	struct moon_net_pkt **armed;    /* pkts ready to receive into */
	unsigned narmed;
	struct mmsghdr *rmsg, *smsg;
	struct iovec *riov, *siov;
	struct moon_net_pkt **out;
	uint8_t (*rctl)[MOON_NET_CTL_LEN], (*sctl)[MOON_NET_CTL_LEN];
};

void moon__net_udp_read_cb(struct ev_loop *loop, ev_io *w, int revents);
void moon__net_udp_send_one(struct moon_net_worker *nw, struct moon_net_pkt *pkt);
void moon__net_udp_start(struct moon_net_worker *nw);
void moon__net_udp_stop(struct moon_net_worker *nw);
void moon__net_udp_retire(struct moon_net_worker *nw, uint16_t listener);
void moon__net_tcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
void moon__net_tcp_complete(struct moon_net_worker *nw, struct moon_net_pkt *pkt);
void moon__net_tcp_close(struct tcp_conn *c);
void moon__net_tcp_resume(struct moon_net_worker *nw);
void moon__net_tcp_retire(struct moon_net_worker *nw, uint16_t listener);

/* tcp.c for tls.c: the steps a TLS connection shares with plain TCP. */
void moon__net_tcp_process(struct tcp_conn *c);
bool moon__net_tcp_may_read(const struct tcp_conn *c);
/* tls.c: the TLS layer of a tcp_conn (each only when c->ssl). */
void moon__net_tls_start(struct tcp_conn *c, struct moon_tls_listener *l);
bool moon__net_tls_write(struct tcp_conn *c, struct iovec *iov, unsigned n);
void moon__net_tls_settle(struct tcp_conn *c, bool want_read);
bool moon__net_tls_timer(struct tcp_conn *c);
void moon__net_tls_close(struct tcp_conn *c);

/* Gives a pkt back to the server and notes that reading may resume. */
void moon__net_pkt_done(struct moon_net_worker *nw, struct moon_net_pkt *pkt, bool sent);
/* Records that ops->get failed, so reading pauses until a pkt returns. */
void moon__net_starve(struct moon_net_worker *nw);

#endif
