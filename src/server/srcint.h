/*
 * Internal to the cache stage and forward source (sources.c,
 * source_cache.c, source_fwd.c): the per-worker forwarding state and the
 * cache helpers they share. See server/sources.h for the behaviour.
 */
#ifndef MOON_SERVER_SRCINT_H
#define MOON_SERVER_SRCINT_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "fwd/fwd.h"
#include "query/query.h"
#include "server/blockstate.h"

struct moon_worker;

/* Background refreshes (prefetch) one worker runs at once per block. */
#define MOON_SRC_BG_SLOTS 4

struct moon_fwdw;

/* A background refresh: a forwarded query without a client. */
struct moon_src_bg {
	struct moon_fwdw *e;
	bool busy;
	struct moon_cache_key key;
	uint8_t *buf;                     /* MOON_MAX_MSG bytes for the reply */
};

/*
 * One worker's forwarding state for one block of one generation. It holds
 * a reference to the generation, so the block (and its moon_fwd) lives at
 * least as long; `sweep` (an unreferenced prepare watcher: it does not keep
 * the loop alive) frees it once the worker has left the generation and
 * nothing of it is in flight, or when the worker stops.
 */
struct moon_fwdw {
	struct moon_fwdw *next, **pprev;  /* the worker's list (moon_worker.fwdw) */
	struct moon_worker *w;
	struct moon_gen *gen;
	struct moon_bstate *bs;
	struct moon_fwd_worker *fw;
	ev_prepare sweep;
	unsigned bg_busy;
	struct moon_src_bg bg[MOON_SRC_BG_SLOTS];
	uint8_t *bgbuf;
};

/* q's worker state for bs, made on first use; NULL without a worker (unit
 * tests) or memory. */
struct moon_fwdw *moon__src_fwdw(struct moon_query *q, struct moon_bstate *bs);

/* Starts a background refresh of q's question into bs's cache (key is
 * q's). Nothing happens when every slot is busy or the forwarder says no. */
void moon__src_prefetch(struct moon_query *q, struct moon_bstate *bs,
			const struct moon_cache_key *key);

/* Key of q's question in cache c. */
void moon__src_key(const struct moon_query *q, const struct moon_cache *c,
		   struct moon_cache_key *k);

/* Stores a forwarded reply (msg, len) under key, if it may be cached. */
void moon__src_store(struct moon_cache *c, const struct moon_cache_key *key, const uint8_t *msg,
		     size_t len, bool in_bailiwick);

/* Records that the upstreams gave q's question no reply: a SERVFAIL of our
 * own goes into the cache (it marks a usable entry as failed instead). */
void moon__src_store_failure(struct moon_cache *c, const struct moon_cache_key *key,
			     const struct moon_query *q);

/* Answers q from the cache if it holds a stale (or fresh) entry for key.
 * Returns true when q->resp now holds it (q->source CACHE). A cached
 * SERVFAIL is not an answer (false), but it too is copied into q->resp
 * (q->resp_len and q->rcode follow it), so a forwarded SERVFAIL in q->resp
 * stays consistent. */
bool moon__src_serve_stale(struct moon_query *q, struct moon_cache *c,
			   const struct moon_cache_key *key);

#endif
