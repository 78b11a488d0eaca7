/*
 * The forwarder: sends the queries of a server block to upstream resolvers
 * over UDP, TCP or DNS-over-TLS (RFC 7858) and hands the reply back to the
 * pipeline as a source (MOON_STAGE_SOURCES).
 *
 * TWO OBJECTS
 *   struct moon_fwd         one per `forward:` section of a config
 *                           generation. Immutable configuration, plus the
 *                           state every worker shares: upstream health
 *                           (atomics) and the max_concurrent counter
 *                           (atomic). Built by moon_fwd_new() on the control
 *                           thread, freed by moon_fwd_free() once no worker
 *                           uses it any more.
 *   struct moon_fwd_worker  one per (moon_fwd, worker thread): that
 *                           worker's UDP sockets, TCP/DoT connection pools,
 *                           in-flight table, active health probes and
 *                           counters, on the worker's own libev loop. Used by
 *                           that thread only; a query never crosses threads.
 *
 * A QUERY
 *   moon_fwd_query(fw, &q->pkt, q->resp, q->resp_cap, done, q) either
 *   answers at once (not ours, REFUSED, SERVFAIL: see its return values) or
 *   returns MOON_EPENDING and later calls done(arg, result) exactly once, on
 *   the same thread, from the worker's loop (never from inside
 *   moon_fwd_query itself). The reply is then in the caller's buffer, ready
 *   for that client: its ID, its question bytes (case kept), its RD bit, AD
 *   cleared unless it set AD or DO, out-of-bailiwick records scrubbed (see
 *   SCRUBBING) and no OPT record: like a cache hit, the caller adds its own
 *   OPT (payload size, DO) and fits the message to the client's UDP size.
 *
 * WHAT GOES UPSTREAM
 *   A fresh query per try: random ID (CSPRNG), the client's QNAME with its
 *   case, QTYPE, QCLASS, RD=1 (a forwarder wants recursion), AD=1 (RFC 6840
 *   §5.7), CD and DO copied from the client, and an OPT record with
 *   edns_payload. The client's other EDNS options (ECS, cookies...) are not
 *   forwarded; options the caller gives (moon_fwd_query_opts: a policy's
 *   q:set_edns_option) are, and such a query shares no upstream query.
 *   Identical queries of one worker in flight at the same time
 *   (same lowercase name, type, class, DO and CD) are sent once; every
 *   waiting client gets the answer.
 *
 * ACCEPTING A REPLY (RFC 5452)
 *   IDs come from the CSPRNG, uniform over the IDs not used by the
 *   worker's last 4096 queries (15.9 bits; no ID repeats among queries
 *   close in time). UDP: a new socket per try (no pool: a port is never
 *   reused across queries), bound to a port in 1024-65535 drawn from the
 *   CSPRNG (drawn again on EADDRINUSE; bind to port 0 would leave the
 *   choice to the kernel's narrower ephemeral range) and connect()ed to the
 *   upstream, so the kernel drops datagrams from any other address or
 *   port. TCP/DoT:
 *   the connection to the upstream, replies matched by ID (pipelined,
 *   out-of-order). A reply is accepted only if QR=1, opcode QUERY, its ID is
 *   the try's, and its question is byte-identical to the one sent (name
 *   with exact case, type, class). Anything else (wrong ID, other question,
 *   garbage, truncated header) is counted in `mismatched` and ignored: the
 *   try keeps waiting for the real reply. A UDP reply with TC=1 is retried
 *   over TCP to the same upstream.
 *
 * TRIES, FAILOVER, DEADLINE
 *   The upstreams are ordered by the policy (random: a fresh random order
 *   per query; round_robin: each query starts one further; sequential: in
 *   config order), leaving out those marked down. Each try waits its
 *   timeout (fixed try_timeout, or adaptive: srtt + 4 rttvar of that
 *   upstream on this worker, 200 ms to 2 s, 1 s before the first sample,
 *   doubled after each timeout); then the next upstream is tried while the
 *   earlier try keeps listening (at most 4 open tries per query, the oldest
 *   is closed first): the first acceptable reply wins. A network error
 *   (ICMP unreachable, connection refused or reset, TLS failure) moves on at
 *   once. A reply whose rcode is in `failover` moves on too, and is answered
 *   if no later upstream does better. At most max_tries tries per query
 *   (order wraps around), all within `timeout` from the start; then the
 *   client gets SERVFAIL (or the last failover reply).
 *
 * HEALTH
 *   Passive: each try that ends without a reply (timeout, network error) is
 *   a failure, each reply (whatever its rcode) a success. max_fails
 *   consecutive failures, counted across workers, mark the upstream down;
 *   0 disables health. Active: while an upstream is down, one worker probes
 *   it with health_check_name/health_check_type (RD per health_check_rd),
 *   first after health_check, then backing off exponentially to
 *   health_check_max; any reply marks it up again. When every upstream is
 *   down: fail_fast answers SERVFAIL at once; otherwise (default) they are
 *   all tried anyway in policy order.
 *
 * SCRUBBING (what reaches the client and the cache)
 *   Let Z be `from` (the forwarded zone) and C the answer chain: the QNAME
 *   plus every CNAME target reached from it through the answer section.
 *   - answer: kept when the owner is in C (CNAME targets extend C; RRSIGs
 *     follow their owner), or a DNAME inside Z above a name of C. Records
 *     owned by any other name (unsolicited data) are removed.
 *   - authority: kept when the owner is inside Z, or is the final name of C
 *     or one of its ancestors (the SOA/NS of the zone that answered a chain
 *     leaving Z). Other records are removed.
 *   - additional: kept when the owner is inside Z or in C. An OPT record is
 *     always removed (see A QUERY); so is TSIG.
 *   When nothing is removed the upstream's bytes are passed on unchanged
 *   (but for the OPT/TSIG records at the end); otherwise, or when a name
 *   would read into the bytes cut off, the message is rebuilt (names
 *   decompressed and re-compressed). A reply whose names (owners, and
 *   names inside the RDATA of the RFC 3597 §4 types) do not decompress,
 *   or point into the header, is ignored like garbage. The result tells
 *   whether every kept record lies inside Z (`in_bailiwick`): a chain
 *   leaving Z is answered but should not be cached.
 *
 * TCP AND DOT CONNECTIONS
 *   Per worker and upstream at most max_conns connections, each carrying up
 *   to max_pipeline queries at once (IDs unique per connection), reused
 *   until idle for `expire`; a connection whose try timed out takes no new
 *   queries. A reused connection closed by the server before replying is
 *   retried once on a new connection without counting a failure. DoT: TLS
 *   1.2+, the certificate is verified (default on) against tls_ca or the
 *   system CAs, for the upstream's name (tls://IP#name), else
 *   tls_servername, else its IP address; the name is also sent as SNI.
 *   Sessions are resumed (the last session per upstream and worker). A DoT
 *   upstream is only ever spoken to over TLS: no cleartext fallback.
 *
 * Error codes are those of util/err.h.
 */
#ifndef MOON_FWD_FWD_H
#define MOON_FWD_FWD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/diag.h"
#include "wire/name.h"
#include "wire/pkt.h"

struct ev_loop;
struct moon_fwd;
struct moon_fwd_worker;

#define MOON_FWD_MAX_UPSTREAMS 16
/* EDNS options a caller may add to the query (moon_fwd_query_opts), bytes
 * of the option list (code, length, data each). */
#define MOON_FWD_OPTS_MAX 512
/* Largest query the forwarder sends (the loop probe included): header,
 * question, OPT with at most MOON_FWD_OPTS_MAX bytes of options. */
#define MOON_FWD_QMAX (12 + MOON_NAME_MAXLEN + 4 + 11 + MOON_FWD_OPTS_MAX)
#define MOON_FWD_MAX_EXCEPT 64
/* Tries of one query listening at the same time. */
#define MOON_FWD_OPEN_TRIES 4

enum moon_fwd_policy { MOON_FWD_RANDOM = 0, MOON_FWD_ROUND_ROBIN, MOON_FWD_SEQUENTIAL };

/*
 * Options, one field per YAML key of the `forward:` section (the key is
 * the field name; durations are in milliseconds here). Strings and arrays
 * are only read by moon_fwd_new(), which copies what it keeps.
 * moon_fwd_opts_init() sets the defaults shown.
 */
struct moon_fwd_opts {
	/* from: zone whose names are forwarded; default "." */
	const char *from;
	/* to: upstreams, 1..16 in all (after expanding resolv.conf files):
	 *   "dns://IP[:port]" or "IP[:port]"   UDP, TCP when truncated (port 53)
	 *   "tls://IP[:port][#name]"           DoT (port 853); #name = TLS name
	 *   "/path/resolv.conf"                its `nameserver` lines, port 53
	 * IPv6 addresses in brackets when a port follows: "[2001:db8::1]:53". */
	const char *const *to;
	unsigned nto;
	/* except: names (and their subdomains) not forwarded; default none */
	const char *const *except;
	unsigned nexcept;
	/* policy: random | round_robin | sequential; default random */
	enum moon_fwd_policy policy;
	/* force_tcp: dns:// upstreams over TCP only; default false */
	bool force_tcp;
	/* timeout: overall deadline per client query; default 5000 */
	uint32_t timeout_ms;
	/* try_timeout: per try; 0 (default) = adaptive (see TRIES) */
	uint32_t try_timeout_ms;
	/* max_tries: tries per client query; 0 (default) = 2 x upstreams */
	uint32_t max_tries;
	/* failover: rcode names ("SERVFAIL", "REFUSED", ...) that move on to
	 * the next upstream; default none */
	const char *const *failover;
	unsigned nfailover;
	/* max_fails: consecutive failures that mark an upstream down; default
	 * 2; 0 = never down, no probes */
	uint32_t max_fails;
	/* health_check: first probe interval once down; default 500 */
	uint32_t health_check_ms;
	/* health_check_max: probe interval cap (doubling); default 15000 */
	uint32_t health_check_max_ms;
	/* health_check_name / _type: the probe query; default ". NS" */
	const char *health_check_name;
	const char *health_check_type;  /* "NS", "A", "AAAA", "SOA", "TXT", "TYPEn" */
	/* health_check_rd: probe with RD=1; default true */
	bool health_check_rd;
	/* fail_fast: every upstream down => SERVFAIL at once; default false
	 * (try them anyway) */
	bool fail_fast;
	/* max_concurrent: client queries in flight across workers, above
	 * which the caller answers REFUSED; default 0 = unlimited */
	uint32_t max_concurrent;
	/* expire: close TCP/DoT connections idle this long; default 10000 */
	uint32_t expire_ms;
	/* max_conns: TCP/DoT connections per upstream per worker; default 4 */
	uint32_t max_conns;
	/* max_pipeline: queries outstanding on one connection; default 64 */
	uint32_t max_pipeline;
	/* edns_payload: UDP payload size announced upstream; default 1232 */
	uint16_t edns_payload;
	/* tls_servername: name verified (and sent as SNI) for tls:// upstreams
	 * without #name; default none = verify the IP address */
	const char *tls_servername;
	/* tls_ca: PEM file of trusted CAs; default none = system CAs */
	const char *tls_ca;
	/* tls_cert, tls_key: client certificate and key (PEM); default none */
	const char *tls_cert;
	const char *tls_key;
	/* tls_verify: verify the upstream certificate; default true */
	bool tls_verify;
	/* Not a YAML key: how errors name the config, e.g. "moondns.yaml:12". */
	const char *where;
};

void moon_fwd_opts_init(struct moon_fwd_opts *o);

/*
 * Builds a forwarder from o: parses the upstreams (reading resolv.conf
 * files), names, rcodes, and sets up the TLS context when a tls://
 * upstream is present (loads CA, client cert). Every problem goes to diag
 * (prefixed with o->where). Returns 0, MOON_ESYNTAX / MOON_ESEMANTIC
 * (bad options), -ENOMEM, or -errno (unreadable file).
 */
int moon_fwd_new(const struct moon_fwd_opts *o, struct moon_fwd **out, struct moon_diag *diag);
/* Frees fwd. Every moon_fwd_worker made from it must be freed first. */
void moon_fwd_free(struct moon_fwd *fwd);

/* True when the forwarder serves qname: inside `from` and not inside an
 * `except` name. Any case. */
bool moon_fwd_handles(const struct moon_fwd *fwd, const uint8_t *qname);
/* True when a record owned by `owner` lies inside the forwarded zone. */
bool moon_fwd_in_bailiwick(const struct moon_fwd *fwd, const uint8_t *owner);

/* Upstreams, in config order (resolv.conf expanded). */
unsigned moon_fwd_upstream_count(const struct moon_fwd *fwd);
/* "dns://127.0.0.1:53", "tls://192.0.2.1:853#dns.example" */
const char *moon_fwd_upstream_name(const struct moon_fwd *fwd, unsigned i);
/* Not marked down by health checking, and not one of our own listeners. */
bool moon_fwd_upstream_up(const struct moon_fwd *fwd, unsigned i);

/* Calls fn(arg, i) on every failed active health probe of upstream i, on
 * the worker thread that probes (metrics). Set before the forwarder is
 * shared with the workers; arg must outlive it. */
void moon_fwd_set_hc_observer(struct moon_fwd *fwd, void (*fn)(void *arg, unsigned i),
			      void *arg);

/*
 * Loop protection: marks every upstream whose address is one of our own
 * listener addresses as never usable (it is skipped even when all others
 * are down). A wildcard listener (0.0.0.0, ::) matches an upstream on the
 * same port at a loopback address or at an address of a local interface.
 * Call before the forwarder is shared with the workers. Returns the number
 * of upstreams excluded (each is logged).
 */
unsigned moon_fwd_exclude_listeners(struct moon_fwd *fwd, const struct sockaddr *const *listeners,
				    unsigned n);

/* Whether `up` would reach one of `listeners` (the rule above). */
bool moon_fwd_addr_is_listener(const struct sockaddr *up, const struct sockaddr *const *listeners,
			       unsigned n);

/* ---- per worker ---- */

/*
 * Creates the worker state of fwd on `loop` (owned by the caller), able to
 * hold `slots` client queries at once (size it like the worker's pool of
 * query contexts). Allocates everything the per-query path needs up front.
 * Use it from one thread only. Returns NULL when out of memory.
 */
struct moon_fwd_worker *moon_fwd_worker_new(struct moon_fwd *fwd, struct ev_loop *loop,
					    unsigned slots);
/*
 * Ends every pending query with done(err -ECANCELED, SERVFAIL), stops the
 * probes, closes every socket and frees fw. Not from inside a done callback.
 */
void moon_fwd_worker_free(struct moon_fwd_worker *fw);

struct moon_fwd_result {
	int err;              /* 0: `out` holds the reply; else why there is none
				 (-ETIMEDOUT deadline, -ECONNREFUSED..., -ECANCELED) */
	uint16_t rcode;       /* err 0: the reply's rcode (extended included);
				 else the rcode to answer with (SERVFAIL) */
	uint32_t len;         /* bytes of the reply in `out` (err 0) */
	int upstream;         /* index of the upstream that answered, or -1 */
	uint16_t scrubbed;    /* records removed by scrubbing */
	bool in_bailiwick;    /* every record kept is inside `from` (cacheable) */
	bool deduped;         /* this query shared another one's upstream query */
	int tried;            /* the upstream of the last try (also when err), or -1 */
	uint64_t latency_ns;  /* err 0: round trip of the try that answered */
};

typedef void (*moon_fwd_done_fn)(void *arg, const struct moon_fwd_result *res);

/*
 * Forwards the query `req` (parsed with moon_pkt_parse, question_ok; only
 * its header and question fields are read, during this call). `out`
 * (cap >= 512 bytes, 65535 to never truncate) receives the reply and
 * belongs to the forwarder until done() runs. Returns:
 *   MOON_EPENDING   started: done(arg, res) is called later, once.
 *   MOON_ENOTFOUND  not ours (outside `from`, or under `except`): go on
 *                   with the next source.
 *   MOON_ELIMIT     max_concurrent reached, or no free slot on this worker:
 *                   answer REFUSED.
 *   -EHOSTDOWN      no usable upstream (all down with fail_fast, or all
 *                   our own listeners): answer SERVFAIL.
 *   other < 0       the query could not be sent at all: answer SERVFAIL.
 * done is never called when the return value is not MOON_EPENDING.
 */
int moon_fwd_query(struct moon_fwd_worker *fw, const struct moon_pkt *req, uint8_t *out,
		   size_t cap, moon_fwd_done_fn done, void *arg);
/* The same, with the EDNS options opts (opts_len <= MOON_FWD_OPTS_MAX bytes
 * of code, length, data; copied during the call) in the OPT record of every
 * try. Such a query is never merged with another one in flight (the options
 * may change the answer). opts_len 0 is moon_fwd_query. */
int moon_fwd_query_opts(struct moon_fwd_worker *fw, const struct moon_pkt *req,
			const uint8_t *opts, size_t opts_len, uint8_t *out, size_t cap,
			moon_fwd_done_fn done, void *arg);

/* ---- counters, per worker (plain fields: one writer, summed racily) ---- */

#define MOON_FWD_LAT_BUCKETS 12
/* Upper bounds of the latency buckets in microseconds; the last is +inf. */
extern const uint32_t moon_fwd_latency_bounds_us[MOON_FWD_LAT_BUCKETS];

struct moon_fwd_upstream_stats {
	uint64_t requests;        /* tries sent (queries and probes) */
	uint64_t responses[16];   /* accepted replies by rcode (low 4 bits) */
	uint64_t timeouts;        /* tries that ended without any reply */
	uint64_t failures;        /* network errors: refused, reset, TLS, bind */
	uint64_t mismatched;      /* replies ignored: ID, question, garbage */
	uint64_t truncated;       /* UDP replies with TC=1, retried over TCP */
	uint64_t failovers;       /* replies with a `failover` rcode */
	uint64_t hc_sent;         /* health probes sent */
	uint64_t hc_failures;     /* health probes without a reply */
	uint64_t marked_down;     /* times this worker saw it go down */
	uint64_t conn_opened;     /* TCP/DoT connections opened */
	uint64_t conn_reused;     /* tries sent on an already used connection */
	uint64_t tls_resumed;     /* DoT handshakes that resumed a session */
	uint64_t tls_failures;    /* DoT handshakes that failed (verification...) */
	uint64_t latency[MOON_FWD_LAT_BUCKETS]; /* accepted replies, by time since the try */
};

struct moon_fwd_stats {
	uint64_t queries;         /* moon_fwd_query calls */
	uint64_t not_mine;        /* MOON_ENOTFOUND */
	uint64_t refused;         /* MOON_ELIMIT: max_concurrent or no slot */
	uint64_t all_down;        /* -EHOSTDOWN */
	uint64_t deduped;         /* joined a query already in flight */
	uint64_t answered;        /* done() with a reply */
	uint64_t failed;          /* done() without one (SERVFAIL) */
	uint64_t scrubbed;        /* records removed */
	uint64_t bind_retries;    /* random source ports already in use */
};

const struct moon_fwd_stats *moon_fwd_worker_stats(const struct moon_fwd_worker *fw);
const struct moon_fwd_upstream_stats *
moon_fwd_worker_upstream_stats(const struct moon_fwd_worker *fw, unsigned i);

/* ---- start-up loop probe (like CoreDNS `loop`) ----
 *
 * The server sends, to its own listener, one query for a random name below
 * the block's first zone (moon_fwd_loop_query); the forwarder passes it to
 * the upstream. Every query received is shown to moon_fwd_loop_check while
 * the probe is active. The probe arriving more than `threshold` times
 * (default 1: the first arrival is our own query) means the upstream sends
 * our queries back to us. CoreDNS waits for a third arrival because it
 * resends the same name; here a retry must use a fresh name (call
 * moon_fwd_loop_init again), and the lower threshold is needed because
 * in-flight deduplication on one worker stops the echo after its first
 * round. The check is safe from any worker; the probe state is shared.
 */
struct moon_fwd_loop {
	uint8_t name[MOON_NAME_MAXLEN];  /* the probe name, lowercase */
	uint8_t name_len;
	uint32_t threshold;
	_Atomic uint32_t seen;
	_Atomic bool done;               /* answered, or a loop was found: stop */
	_Atomic bool detected;
};

enum moon_fwd_loop_verdict {
	MOON_FWD_LOOP_OTHER = 0,   /* not the probe: serve it normally */
	MOON_FWD_LOOP_PROBE,       /* the probe, seen <= threshold times: serve it */
	MOON_FWD_LOOP_DETECTED,    /* seen more than threshold times: a loop.
				      Answer it SERVFAIL (ends the loop) and act */
};

/* Makes a probe name "<16 hex>.<16 hex>.<zone>" from the CSPRNG (an
 * attacker must not guess it). Returns 0 or MOON_ESPACE when zone is too
 * long to hold the two labels. */
int moon_fwd_loop_init(struct moon_fwd_loop *lp, const uint8_t *zone);
/* Writes the probe query (HINFO IN, RD=1, random ID) into buf (at least
 * MOON_FWD_QMAX bytes); returns its length or MOON_ESPACE. */
int moon_fwd_loop_query(const struct moon_fwd_loop *lp, uint8_t *buf, size_t cap);
/* Counts q if it is the probe (any case) and says what it means. */
enum moon_fwd_loop_verdict moon_fwd_loop_check(struct moon_fwd_loop *lp, const struct moon_pkt *q);
/* The probe got an answer back at the sender: no loop; the probe is over and
 * moon_fwd_loop_check returns OTHER from now on. */
void moon_fwd_loop_answered(struct moon_fwd_loop *lp);
/* True once a check returned DETECTED. */
bool moon_fwd_loop_detected(const struct moon_fwd_loop *lp);

/* Parses "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
 * "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE" (any case) or a
 * number 0-15. Returns the rcode or -EINVAL. */
int moon_fwd_rcode_parse(const char *text);

#endif
