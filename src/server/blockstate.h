/*
 * What a server block of a generation needs beyond its zones to forward and
 * cache: the block's moon_fwd (fwd/fwd.h), its answer cache, the start-up
 * loop probe, and the per-worker forwarding state (server/sources.h).
 *
 * Built on the control thread with the generation (moon_bstate_new, from
 * gen.c's build) and freed with it (moon_bstate_free, once every worker has
 * left the generation and freed its per-worker state, see source_fwd.c).
 *
 * CACHES OUTLIVE RELOADS. A cache is held through a reference-counted
 * moon_cshare. When the generation is built from a previous one (gen->reuse,
 * moon_gen_new_from) and that one has a block of the same name whose
 * `cache` and `forward` sections are identical, the new block takes a
 * reference to the same cache instead of an empty one: a reload that does
 * not touch a block's caching or forwarding keeps its answers warm. Zones
 * need no comparison: a name a zone answers never reaches the cache.
 *
 * Threads: moon_bstate_new/free on the control thread (or `check`); the
 * fields are read by every worker; `loop_*` are atomics shared with the
 * control thread's probe (server/loopcheck.h).
 */
#ifndef MOON_SERVER_BLOCKSTATE_H
#define MOON_SERVER_BLOCKSTATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache/cache.h"
#include "conf/conf.h"
#include "fwd/fwd.h"
#include "util/diag.h"

struct moon_gen;
struct moon_gen_block;
struct moon_fwdw;
struct moon_ops_block;

/* A cache and the generations that share it. */
struct moon_cshare {
	_Atomic unsigned refs;
	struct moon_cache *cache;
	uint64_t since_gen;               /* id of the generation that created it */
};

struct moon_bstate {
	const struct moon_conf_server *conf;
	struct moon_fwd *fwd;             /* NULL: no forward section */
	struct moon_cshare *cs;           /* NULL: no cache section */
	struct moon_cache *cache;         /* cs->cache, or NULL */
	bool cache_adopted;               /* cs came from the previous generation */
	struct moon_ops_block *ops;       /* the block's metric slots, or NULL */
	/* Per worker, created lazily on that worker's thread (source_fwd.c). */
	struct moon_fwdw **w;
	unsigned nworkers;
	/* Loop probe (loop_check): armed by the control thread before it
	 * sends the probe; workers then show it every forwarded query. */
	struct moon_fwd_loop loop;
	_Atomic bool loop_armed;
	_Atomic bool loop_found;          /* a loop: forwarding is off (SERVFAIL) */
	_Atomic bool loop_started;
};

/*
 * Builds the state of gen->blocks[bi] (its conf is set): the forwarder, with
 * every listener address of gen excluded as an upstream, and the cache,
 * adopted from gen->reuse when it may be. Problems go to diag with the
 * config's file:line:column. Returns 0 (*out NULL when the block neither
 * forwards nor caches), -ENOMEM, or the forwarder's error.
 */
int moon_bstate_new(const struct moon_gen *gen, size_t bi, struct moon_diag *diag,
		    struct moon_bstate **out);

/* Frees bs (the forwarder, a reference to the cache). Every worker's state
 * must be gone (moon_fwdw). NULL is fine. */
void moon_bstate_free(struct moon_bstate *bs);

/* Drops one reference to a shared cache; the last frees it. Any thread. */
void moon_cshare_release(struct moon_cshare *cs);

/* The cache options of a block's config. */
void moon_bstate_cache_opts(const struct moon_conf_cache *c, struct moon_cache_opts *o);

#endif
