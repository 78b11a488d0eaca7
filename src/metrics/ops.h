/*
 * The operations side of a running server, in one place: the per-worker
 * metrics counters, the query log, the HTTP endpoint (/metrics /health
 * /ready) and the readiness and lameduck state behind it.
 *
 * The server owns one struct moon_ops for the life of the process (main
 * creates it before the workers and frees it after them). Each generation
 * holds one struct moon_ops_block per server block: the metric slots of
 * the block's zones and its query-log rule, built with the generation on
 * the control thread and immutable afterwards.
 *
 * On the query path the server calls moon_ops_observe() once per query,
 * after the reply was sent (or dropped): it counts the query in the
 * worker's counters and queues its query-log line. No lock, no atomic
 * read-modify-write, no allocation, no system call beyond one clock read.
 *
 * Threads: new/free, http_start, set_ready, lameduck, reload on the control
 * thread; moon_ops_observe on the worker that ran the query; the HTTP
 * thread reads the ready state under a mutex of its own.
 */
#ifndef MOON_METRICS_OPS_H
#define MOON_METRICS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "metrics/counters.h"
#include "qlog/qlog.h"
#include "util/diag.h"
#include "wire/name.h"

struct ev_loop;
struct moon_query;
struct moon_ops;
struct moon_server;
struct moon_gen;

/*
 * What main does with it:
 *     moon_ops_start(conf, ...)     before the first generation (it binds
 *                                   the endpoint, so a port in use fails
 *                                   the start)
 *     moon_gen_set_ops(ops)         generations build their blocks' parts
 *     moon_ops_set_ready(ops, 1, ..)once the server runs
 *     moon_ops_attach(ops, loop)    the control loop's timers
 *     reload driver: .done = moon_ops_reload_done, .done_arg = ops
 *     on SIGTERM: if (!moon_ops_stop_requested(ops)) stop now
 *     moon_ops_free(ops)            after the server stopped
 */

/* Creates ops for the config the server starts with: counters and query
 * log for nworkers workers, and the HTTP endpoint when conf->http.listen is
 * set (with its compat names and lameduck period). Problems are logged.
 * Returns 0 or the error. */
int moon_ops_start(const struct moon_conf *conf, unsigned nworkers, const char *version,
		   struct moon_ops **out);

/* Creates the counters and the query log for nworkers workers. */
int moon_ops_new(unsigned nworkers, const char *version, struct moon_ops **out);
/* Stops the endpoint and the loop timers, writes what the query log still
 * holds, frees all. The workers must have stopped. NULL is a no-op. */
void moon_ops_free(struct moon_ops *ops);

struct moon_metrics *moon_ops_metrics(struct moon_ops *ops);
struct moon_qlog *moon_ops_qlog(struct moon_ops *ops);

/* Starts the HTTP endpoint on addr. A bind error is added to diag
 * ("http.listen 127.0.0.1:9153: Address already in use"). */
int moon_ops_http_start(struct moon_ops *ops, const struct sockaddr *addr, socklen_t addrlen,
			struct moon_diag *diag);
bool moon_ops_http_running(const struct moon_ops *ops);
/* Publishes the coredns_* names too (reloadable). */
void moon_ops_set_compat(struct moon_ops *ops, bool on);

/* Generation gen is in service; it is ready, or not ready because of why
 * (copied). Starts not ready ("starting"). */
void moon_ops_set_ready(struct moon_ops *ops, uint64_t gen, const char *why);
/* /ready answers 503 from now on (graceful shutdown). */
void moon_ops_lameduck(struct moon_ops *ops);
/* A reload was attempted: counts it, reopens the query-log files (log
 * rotation), and when ok makes generation gen the ready one. */
void moon_ops_reloaded(struct moon_ops *ops, bool ok, uint64_t gen);
/* The same as the reload driver's done callback (server/reload.h's
 * moon_reload_done_fn; arg is the ops): generations are numbered 1 at
 * start, +1 per successful reload. */
void moon_ops_reload_done(void *arg, int ret, struct moon_server *s);

/* The control loop's part (control thread, once): a 1 s timer that closes
 * consolidated-error windows (qlog/consolidate.h), and the lameduck timer. */
void moon_ops_attach(struct moon_ops *ops, struct ev_loop *loop);
/* A stop signal came. With the endpoint on and a lameduck period, starts
 * lameduck (/ready 503, queries still answered) and returns true: the loop
 * is broken (EVBREAK_ALL) when the period ends. Returns false when the
 * server should stop now: no endpoint, no period, or a second signal. */
bool moon_ops_stop_requested(struct moon_ops *ops);

/* ------------------------------------------------------------------ blocks */

#define MOON_OPS_MAX_UPSTREAMS 16        /* fwd/fwd.h's MOON_FWD_MAX_UPSTREAMS */

struct moon_ops_block {
	struct moon_metrics *m;
	const char *server;              /* the block's name (the generation's config owns it) */
	size_t n_zones;
	unsigned *zone_slot;             /* metric slot of each zone of the block */
	uint8_t (*zone_lc)[MOON_NAME_MAXLEN]; /* the zones, lowercase wire form */
	bool cache;                      /* the block has a cache: count hits and misses */
	struct moon_qlog_rule *qlog;     /* NULL: this block logs no queries */
	/* The cache gauges' labels: the block's name and its zones joined by
	 * spaces (interned by the ops: valid for its whole life). */
	const char *cache_server, *cache_zones;
	unsigned up_slot[MOON_OPS_MAX_UPSTREAMS]; /* metric slot of each upstream */
	unsigned n_up;
};

/* Builds a block's part from its config: a metric slot per zone of
 * cs->zones, and the query-log rule when cs->query_log is enabled. On error
 * (a query-log file that cannot be opened, too many destinations) returns
 * it and writes why (MOON_OPS_WHY bytes) for the operator. */
#define MOON_OPS_WHY 512
int moon_ops_block_new(struct moon_ops *ops, const struct moon_conf_server *cs,
		       struct moon_ops_block **out, char *why);
void moon_ops_block_free(struct moon_ops_block *b);
/* The block forwards to these upstreams (the forwarder's names, in its
 * order; at most MOON_OPS_MAX_UPSTREAMS are counted). Control thread,
 * while the generation is built. */
void moon_ops_block_upstreams(struct moon_ops_block *b, const char *const *names, unsigned n);
/* A failed active health check of the block's upstream i (arg is the
 * block; any thread: fwd/fwd.h's moon_fwd_set_hc_observer). */
void moon_ops_hc_failed(void *block, unsigned i);

/*
 * The generation in service, for the scrape: the cache gauges and the
 * upstreams' health are read from its blocks on the HTTP thread. The ops
 * hold a reference to the last one published (taken here, on the control
 * thread, after the start and after each reload; the previous one is
 * released) and the HTTP thread reads it under the ops' lock, so a
 * generation never goes away under a scrape. Released by moon_ops_free.
 */
void moon_ops_publish(struct moon_ops *ops, struct moon_gen *gen);

/* ------------------------------------------------------------------ queries */

/*
 * Counts q and logs it (worker thread). b is the block q was routed to
 * (NULL: none, counted under zone "dropped"); start_ns is when the query
 * was received (moon_now_ns()). The query log's {/LABEL} placeholders read
 * q->meta. In a block with a cache, an answer from the cache counts as a
 * hit and one from the forwarder as a miss (zones and policies answer
 * before the cache is asked).
 */
void moon_ops_observe(struct moon_ops *ops, const struct moon_query *q,
		      const struct moon_ops_block *b, int64_t start_ns);

/* An upstream exchange of block b on worker `worker` (fwd/fwd.h's result:
 * the upstream tried or that answered, -1 for none; deduped: it shared
 * another query's exchange, which counted it; failed: no usable reply).
 * NULL b: not counted. */
void moon_ops_forwarded(const struct moon_ops_block *b, unsigned worker, int upstream,
			bool deduped, bool failed, uint16_t rcode, uint64_t latency_ns);

#endif
