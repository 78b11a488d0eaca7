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

#include "metrics/counters.h"
#include "qlog/qlog.h"
#include "util/diag.h"
#include "wire/name.h"

struct moon_query;
struct moon_ops;

/* Creates the counters and the query log for nworkers workers. */
int moon_ops_new(unsigned nworkers, const char *version, struct moon_ops **out);
/* Stops the endpoint, writes what the query log still holds, frees all.
 * The workers must have stopped. NULL is a no-op. */
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

/* Readiness: ready with generation gen, or not ready with why (copied).
 * Starts not ready ("starting"). */
void moon_ops_set_ready(struct moon_ops *ops, uint64_t gen, const char *why);
/* /ready answers 503 from now on (graceful shutdown). */
void moon_ops_lameduck(struct moon_ops *ops);
/* A reload was attempted (metrics). */
void moon_ops_reloaded(struct moon_ops *ops, bool ok, uint64_t gen);

/* Parses "ADDR:PORT" / "[ADDR6]:PORT" (port required). Returns 0 or
 * MOON_ESYNTAX. */
int moon_ops_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len);

/* ------------------------------------------------------------------ blocks */

struct moon_ops_block {
	const char *server;              /* the block's name (its config owns it) */
	size_t n_zones;
	unsigned *zone_slot;             /* metric slot of each zone of the block */
	uint8_t (*zone_lc)[MOON_NAME_MAXLEN]; /* the zones, lowercase wire form */
	struct moon_qlog_rule *qlog;     /* NULL: this block logs no queries */
};

/* Builds a block's part: zones are the block's `zones` (text, absolute);
 * qlog NULL = no query log. On a bad query-log setting returns an error and
 * sets *why (may be NULL for system errors). */
int moon_ops_block_new(struct moon_ops *ops, const char *server, char *const *zones,
		       size_t n_zones, const struct moon_qlog_rule_conf *qlog,
		       struct moon_ops_block **out, const char **why);
void moon_ops_block_free(struct moon_ops_block *b);

/* ------------------------------------------------------------------ queries */

/*
 * Counts q and logs it (worker thread). b is the block q was routed to
 * (NULL: none, counted under zone "dropped"); start_ns is when the query
 * was received (moon_now_ns()); meta gives the query's metadata for the
 * log (may be NULL).
 */
void moon_ops_observe(struct moon_ops *ops, const struct moon_query *q,
		      const struct moon_ops_block *b, int64_t start_ns,
		      const char *(*meta)(void *arg, const char *key, size_t klen, size_t *vlen),
		      void *meta_arg);

#endif
