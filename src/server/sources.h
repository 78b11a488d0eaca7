/*
 * The cache stage and the forward source of the pipeline, for names of a
 * block that none of its zones holds (authoritative zones always win, and
 * their answers are never cached: they are already in memory).
 *
 *   moon_src_run(q)
 *     CACHE    the block's cache (if any), keyed by the lowercase QNAME,
 *              QTYPE, QCLASS, DO and CD. A fresh entry answers at once
 *              (q->source = MOON_SOURCE_CACHE); one whose refresh is due
 *              (prefetch) also starts a background forward of the same
 *              question, whose reply only goes into the cache. A stale
 *              entry (serve_stale) answers at once only when an upstream
 *              failure is on record (RFC 8767 failure recheck); otherwise
 *              the query is forwarded and the stale copy used if that fails.
 *     FORWARD  the block's forwarder (if any): MOON_EPENDING, and later
 *              q->resume(q) with q->source = MOON_SOURCE_FORWARD and the
 *              reply in q->resp. Forwarded replies whose records all lie
 *              inside `forward.from` are stored in the cache unless a
 *              policy marked the query uncacheable (q->nocache).
 *     no forwarder, or the name is not forwarded  REFUSED
 *     forwarder at its max_concurrent limit       REFUSED
 *     upstreams failed (or a loop was detected)   SERVFAIL, or stale
 *
 * Answers from the cache and the forwarder are wire messages (q->resp,
 * q->resp_len) without an OPT record: moon_src_finish() adds the client's
 * OPT and fits them to its size, as write_answer does for zone answers.
 *
 * Threads: worker threads, each on its own queries. Per worker and block a
 * moon_fwdw holds that worker's moon_fwd_worker (made on first use, on the
 * worker's loop) and a few contexts for background refreshes; it is freed
 * on the worker's thread once the worker left the generation (or stops),
 * never from inside a forwarder callback.
 */
#ifndef MOON_SERVER_SOURCES_H
#define MOON_SERVER_SOURCES_H

#include <stdbool.h>

#include "query/query.h"

struct moon_worker;

/* Cache, then forward, for q (routed, QUERY stage done, no zone holds the
 * name; q->ans cleared by the caller). Returns 0 when q->ans (an error
 * rcode) or the wire answer (q->source CACHE or FORWARD) is ready, or
 * MOON_EPENDING. */
int moon_src_run(struct moon_query *q);

/* Whether q's answer is a wire message in q->resp (cache or forwarder). */
static inline bool moon_src_is_wire(const struct moon_query *q)
{
	return q->source == MOON_SOURCE_CACHE || q->source == MOON_SOURCE_FORWARD;
}

/* Turns the wire answer in q->resp into the reply: q->rcode (extended bits
 * included) in the header, the client's OPT record (our payload size, its
 * DO bit, NSID when asked and configured) when it sent one, and the whole
 * fitted into q->limit: when it does not fit, the additional section goes
 * first (no TC, RFC 2181 §9), then everything but the question (TC=1). */
void moon_src_finish(struct moon_query *q);

/* Frees every per-worker forwarding state of worker w (at worker exit,
 * its loop no longer running). */
void moon_src_worker_exit(struct moon_worker *w);

#endif
