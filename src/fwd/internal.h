/*
 * Internals shared by the files of src/fwd (and their unit tests). Not an
 * interface for other subsystems: use fwd.h.
 *
 * Who owns what:
 *   struct moon_fwd owns its upstream table and SSL_CTX (shared, read-only
 *   after moon_fwd_new but for the atomics in struct upstream).
 *   struct moon_fwd_worker owns everything else: its waiters, flights and
 *   tries (preallocated arrays), its per-upstream state (struct wup) with
 *   the connection pool and the TLS session kept for resumption.
 *
 * A client query is a `waiter`. Waiters asking the same question share one
 * `flight` (the upstream query); a flight makes up to max_tries `tries`,
 * at most MOON_FWD_OPEN_TRIES open at once, each to one upstream over UDP
 * (its own socket) or over a pooled TCP/DoT `conn`.
 */
#ifndef MOON_FWD_INTERNAL_H
#define MOON_FWD_INTERNAL_H

#include <ev.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdatomic.h>

#include "fwd/fwd.h"
#include "fwd/msg.h"

enum xport { XP_UDP = 0, XP_TCP, XP_TLS };

#define MOON_FWD_ID_WINDOW 4096

/* Shared by all workers. */
struct upstream {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint8_t xport;                  /* how queries go: UDP (TCP on TC), TCP, TLS */
	bool self;                      /* one of our listeners: never used */
	char name[MOON_NAME_TEXT_MAXLEN + 64];
	char *tls_name;                 /* verified name, NULL = the IP address */
	_Atomic uint32_t fails;         /* consecutive failures, all workers */
	_Atomic bool probing;           /* one worker probes it */
};

struct moon_fwd {
	struct moon_fwd_opts o;         /* numbers and flags; pointers cleared */
	uint8_t from[MOON_NAME_MAXLEN];
	uint8_t (*except)[MOON_NAME_MAXLEN];
	unsigned nexcept;
	struct upstream up[MOON_FWD_MAX_UPSTREAMS];
	unsigned nup;
	uint32_t failover_mask;         /* bit r: rcode r fails over */
	uint8_t hc_name[MOON_NAME_MAXLEN];
	uint16_t hc_type;
	uint32_t max_tries;
	SSL_CTX *ssl_ctx;               /* when a tls:// upstream exists */
	_Atomic uint32_t concurrent;    /* client queries in flight */
	void (*hc_fail)(void *arg, unsigned i);  /* moon_fwd_set_hc_observer */
	void *hc_arg;
};

struct flight;
struct conn;
struct wup;

struct try {
	struct flight *f;
	struct wup *up;
	uint8_t xport;                  /* XP_UDP, or the conn's XP_TCP/XP_TLS */
	bool open;
	bool timed_out;                 /* its timeout passed, still listening */
	bool stale_retried;             /* already moved off a stale connection */
	uint16_t id;
	uint32_t serial;                /* tells a reused slot from the try it held */
	int64_t sent_ns;
	int fd;                         /* UDP */
	ev_io io;                       /* UDP */
	struct conn *conn;              /* TCP/DoT */
};

struct waiter {
	struct waiter *next;
	uint8_t *out;
	uint32_t cap;
	moon_fwd_done_fn done;
	void *arg;
	struct moon_fwd_client client;  /* client.qname points at qname */
	uint8_t qname[MOON_NAME_MAXLEN];
	bool deduped;
	bool no_room;                   /* its buffer is smaller than the reply */
};

struct flight {
	struct moon_fwd_worker *fw;
	struct flight *hnext;           /* hash chain, or free list */
	uint32_t hash;
	bool busy;
	bool hashed;
	struct wup *probe;              /* a health probe of this upstream */
	/* The question as sent (the first client's case). */
	uint8_t qname[MOON_NAME_MAXLEN];
	uint16_t qtype, qclass;
	bool do_bit, cd;
	uint8_t query[MOON_FWD_QMAX];
	uint16_t query_len;
	struct waiter *head, *tail;
	uint8_t order[MOON_FWD_MAX_UPSTREAMS];
	uint8_t norder, next;
	uint16_t attempts;
	struct try tries[MOON_FWD_OPEN_TRIES];
	ev_timer deadline;
	ev_timer try_timer;
	/* A reply with a `failover` rcode, already in head->out. */
	bool have_fallback;
	uint32_t fb_len;
	uint16_t fb_rcode;
	int fb_up;
	struct moon_fwd_scrub fb_scrub;
	int64_t rtt_ns;                 /* of the last reply counted (the one answered) */
	int last_err;
};

enum conn_state { CONN_FREE = 0, CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY };

struct cslot {
	uint16_t id;
	struct try *t;                  /* NULL: free */
};

struct conn {
	struct wup *up;
	uint8_t state;
	uint8_t xport;                  /* XP_TCP or XP_TLS */
	bool draining;                  /* takes no new queries */
	bool ssl_want_write;
	int fd;
	int events;
	ev_io io;
	ev_timer timer;                 /* connect/handshake, then idle */
	SSL *ssl;
	uint32_t nreplies;              /* replies read: the connection was used */
	uint8_t *wbuf;                  /* framed queries not yet written */
	uint32_t wcap, woff, wlen;
	uint8_t *rbuf;                  /* 2 + 65535 */
	uint32_t rlen;
	uint16_t nout;
	struct cslot *out;              /* max_pipeline slots */
};

/* One upstream as seen by one worker. */
struct wup {
	struct moon_fwd_worker *fw;
	struct upstream *u;
	unsigned idx;
	/* Adaptive try timeout, in microseconds. */
	bool has_rtt;
	int64_t srtt, rttvar;
	uint32_t rto_ms;
	struct conn *conns;             /* max_conns */
	SSL_SESSION *session;           /* last session, for resumption */
	bool probing;                   /* this worker owns the probe */
	uint32_t probe_ms;
	ev_timer probe_timer;
	struct flight *probe_flight;
	struct moon_fwd_upstream_stats st;
};

struct moon_fwd_worker {
	struct moon_fwd *fwd;
	struct ev_loop *loop;
	unsigned slots;
	struct waiter *waiters, *free_waiters;
	struct flight *flights, *free_flights;
	unsigned nflights;
	struct flight **buckets;
	uint32_t mask;
	uint32_t seed;
	unsigned rr;
	bool closing;                   /* moon_fwd_worker_free runs */
	uint32_t serial;
	uint64_t prng;                  /* upstream order only; never for IDs or ports */
	struct wup up[MOON_FWD_MAX_UPSTREAMS];
	struct moon_fwd_stats st;
	/* The last MOON_FWD_ID_WINDOW query IDs, which are not drawn again. */
	uint16_t id_ring[MOON_FWD_ID_WINDOW];
	unsigned id_pos, id_count;
	uint8_t id_recent[65536 / 8];
	uint8_t rbuf[MOON_MAX_MSG + 1];  /* UDP receive scratch */
};

/* upstream.c */
int moon__fwd_parse_upstream(const char *text, bool force_tcp, struct upstream *u);
/* Calls add(arg, address) for each `nameserver` line of a resolv.conf text.
 * Returns the number found, or the first negative value add returned. */
int moon__fwd_parse_resolvconf(const char *text, int (*add)(void *arg, const char *addr),
			       void *arg);
void moon__fwd_upstream_name(struct upstream *u);
/* A DNS host name (letters, digits, '-', '_'; trailing dot optional). */
bool moon__fwd_hostname_ok(const char *name);
char *moon__fwd_hostname_dup(const char *name);

/* health.c */
bool moon__fwd_is_up(const struct moon_fwd *fwd, const struct upstream *u);
void moon__fwd_health_ok(struct wup *w);
void moon__fwd_health_fail(struct wup *w);
/* Starts the probe of a down upstream unless some worker runs it. */
void moon__fwd_probe_claim(struct wup *w);
void moon__fwd_probe_result(struct wup *w, bool ok);
void moon__fwd_probe_stop(struct wup *w);
uint32_t moon__fwd_try_timeout(const struct wup *w);
void moon__fwd_rtt_sample(struct wup *w, int64_t ns);
void moon__fwd_rtt_backoff(struct wup *w);
void moon__fwd_rtt_init(struct wup *w);
void moon__fwd_latency(struct wup *w, int64_t ns);

/* worker.c: a query ID from the CSPRNG, never one of the worker's last
 * MOON_FWD_ID_WINDOW IDs. */
uint16_t moon__fwd_new_id(struct moon_fwd_worker *fw);
/* worker.c: what the transports report about a try. */
void moon__fwd_try_reply(struct try *t, const uint8_t *msg, size_t len);
void moon__fwd_try_error(struct try *t, int err);
/* Sends a probe flight to w's upstream; returns 0 or a negative error. */
int moon__fwd_probe_send(struct wup *w);

/* udp.c */
int moon__fwd_udp_send(struct try *t);
void moon__fwd_udp_close(struct try *t);
/* Binds fd to a port drawn from the CSPRNG in 1024-65535, retrying on
 * EADDRINUSE/EACCES; returns 0 or -errno. *retries counts the retries. */
int moon__fwd_bind_random(int fd, int family, uint64_t *retries);

/* conn.c */
int moon__fwd_conn_send(struct try *t, uint8_t xport);
void moon__fwd_conn_detach(struct try *t);
/* The try on this connection timed out: give it no new queries. */
void moon__fwd_conn_suspect(struct try *t);
void moon__fwd_pool_init(struct wup *w);
void moon__fwd_pool_free(struct wup *w);

/* tls.c */
int moon__fwd_tls_init(struct moon_fwd *fwd, struct moon_diag *diag);
/* An SSL for conn c on fd, set up to verify the upstream and resume. */
SSL *moon__fwd_tls_new(struct conn *c);

#endif
