/*
 * Config generations. A generation is everything a query reads that a
 * reload may replace: the immutable moon_conf, the zones it names, and the
 * routing structure (for each bound listener address, the server blocks on
 * it, found by longest zone suffix). It is built aside, published by one
 * pointer swap (server.c) and never changed after that.
 *
 * References, without an atomic per query:
 *  - the server holds one reference to the current generation;
 *  - each worker holds one reference to the generation it starts new
 *    queries with (moon_gen_user), taken under the server's swap lock;
 *  - each worker counts its own in-flight queries per generation in a
 *    plain counter of the generation's per-worker slot (only that worker
 *    writes it).
 * A worker that moved on to a newer generation drops its reference to the
 * old one when its in-flight count there reaches 0; the last reference frees
 * the generation (zones, conf) on whichever thread dropped it.
 */
#ifndef MOON_SERVER_GEN_H
#define MOON_SERVER_GEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "query/query.h"
#include "util/diag.h"
#include "wire/name.h"

/* A name -> index table matched by longest suffix (zones of a listener,
 * zone files of a block). */
struct moon_suffix_entry {
	uint8_t name[MOON_NAME_MAXLEN];   /* lowercase wire form */
	uint8_t len;
	uint32_t idx;
};

struct moon_zshare;
struct moon_bridge;
struct moon_bridge_policy;
struct moon_tls_ctx;
struct moon_bstate;
struct moon_ops;
struct moon_ops_block;

struct moon_suffix_tab {
	struct moon_suffix_entry *e;      /* sorted by len, longest first */
	size_t n;
};

/* Index of the entry that is the longest suffix (at a label boundary) of
 * the lowercase wire name, or -1. */
int moon_suffix_lookup(const struct moon_suffix_tab *t, const uint8_t *name, size_t len);

/* One zone_files entry of a block. */
struct moon_gen_zone {
	const struct moon_conf_zone_file *conf;
	struct moon_zone *zone;           /* NULL: failed to load, queries get SERVFAIL */
	struct moon_zshare *share;        /* owns zone; shared with other generations */
};

struct moon_gen_block {
	const struct moon_conf_server *conf;
	struct moon_gen_zone *zones;
	size_t n_zones;
	struct moon_suffix_tab zone_tab;  /* zone file origins -> zones[] */
	/* Per worker, indexed by worker id; NULL: no policies. */
	const struct moon_policy **policy;
	/* Metric slots and query log of the block (metrics/ops.h); NULL when
	 * the generation has no ops. */
	struct moon_ops_block *ops;
	struct moon_bstate *bs;           /* forward and cache; NULL: neither
					   * (server/blockstate.h) */
};

/* The blocks on one bound listener address. */
struct moon_gen_route {
	struct moon_suffix_tab tab;       /* the blocks' `zones` -> blocks[] */
};

/* A distinct listener address of the config. */
struct moon_gen_listener {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *uri;                  /* as written (the first use) */
	enum moon_listen_proto proto;
};

/* Per-worker slot, on its own cache line: written only by that worker. */
struct moon_gen_wslot {
	uint64_t inflight;
	char pad[56];
};

struct moon_gen {
	struct moon_conf *conf;
	uint64_t id;                      /* 1, 2, ... in order of creation */
	struct moon_gen_block *blocks;
	size_t n_blocks;
	/* The config's own listener addresses (deduplicated). */
	struct moon_gen_listener *listeners;
	size_t n_listeners;
	/* Routing by *bound* listener index: routes[i] is for the server's
	 * i-th bound address (which may differ from listeners[] after a
	 * reload, since listeners are only bound at start). */
	struct moon_gen_route *routes;
	size_t n_routes;
	/* The DNS-over-TLS context of each tls:// slot, by the same index as
	 * routes; NULL for other slots (server/dot.h). */
	struct moon_tls_ctx **tls;
	size_t n_tls;
	size_t zones_loaded, zones_failed;
	size_t zones_reused;              /* of zones_loaded: taken unchanged from `reuse` */
	struct moon_ops *ops;             /* metrics and query log, or NULL (moon_gen_set_ops) */
	const struct moon_gen *reuse;     /* while moon_gen_new_from builds: the previous one */
	unsigned nworkers;
	/* Lua policies (src/bridge): one state per worker holding the chains
	 * of every block, built with the generation; NULL when no block has
	 * policies. bpol lists every block's policies for the bridge. */
	struct moon_bridge **bridges;
	struct moon_bridge_policy *bpol;
	_Atomic unsigned refs;
	struct moon_gen_wslot *ws;        /* nworkers slots */
};

/*
 * Builds a generation from conf (taking ownership of it: it is freed with
 * the generation, also on failure). Loads every zone; a zone that fails to
 * load adds its diagnostics to diag, counts in zones_failed and is served
 * as SERVFAIL, the others are still served. bound/n_bound are the listener
 * addresses the server has open (NULL: the config's own, for the first
 * generation). The new generation holds one reference (the caller's).
 * Returns 0, or a negative error with diag explaining it.
 */
/* The operations runtime (metrics, query log) that new generations build
 * their blocks' parts with; main sets it before the first generation and
 * clears it at exit. NULL (the default, and in unit tests): queries are
 * neither counted nor logged. */
void moon_gen_set_ops(struct moon_ops *ops);

int moon_gen_new(struct moon_conf *conf, const struct moon_gen_listener *bound, size_t n_bound,
		 unsigned nworkers, struct moon_diag *diag, struct moon_gen **out);
/* The same for a reload: zones whose source did not change since prev (the
 * running generation, kept alive by the caller) are shared with it instead
 * of loaded again (server/zshare.h). prev may be NULL. */
int moon_gen_new_from(const struct moon_gen *prev, struct moon_conf *conf,
		      const struct moon_gen_listener *bound, size_t n_bound, unsigned nworkers,
		      struct moon_diag *diag, struct moon_gen **out);
/* Drops one reference; the last frees the generation. Any thread. */
void moon_gen_release(struct moon_gen *gen);
/* Generations not yet freed, process-wide (metrics, tests). */
unsigned moon_gen_alive(void);

/* The block for a query: listener index and lowercase qname. NULL: none
 * (the query is REFUSED). */
const struct moon_gen_block *moon_gen_route(const struct moon_gen *gen, uint16_t listener,
					    const uint8_t *qname_lc, size_t len);
/* The zone file of the block that holds qname, or NULL. */
const struct moon_gen_zone *moon_gen_block_zone(const struct moon_gen_block *b,
						const uint8_t *qname_lc, size_t len);

/* The published generation, as the server owns it. */
struct moon_gen_pub {
	pthread_mutex_t lock;             /* serialises swaps against workers' updates */
	struct moon_gen *_Atomic cur;
};

void moon_gen_pub_init(struct moon_gen_pub *p, struct moon_gen *first);
/* Publishes next (taking the caller's reference) and drops the publisher's
 * reference to the previous one. */
void moon_gen_pub_swap(struct moon_gen_pub *p, struct moon_gen *next);
/* Drops the published generation (at shutdown). */
void moon_gen_pub_deinit(struct moon_gen_pub *p);

/* One worker's view: the generation it starts queries with. */
struct moon_gen_user {
	struct moon_gen *cur;
	unsigned worker;
};

/* Takes the published generation if it changed (worker thread; cheap when
 * nothing changed: one atomic load). */
void moon_gen_user_update(struct moon_gen_user *u, struct moon_gen_pub *p);
/* Drops the worker's reference (at worker exit, nothing in flight). */
void moon_gen_user_leave(struct moon_gen_user *u);

/* A query starts / ends on this worker. */
static inline struct moon_gen *moon_gen_user_begin(struct moon_gen_user *u)
{
	u->cur->ws[u->worker].inflight++;
	return u->cur;
}

static inline void moon_gen_user_end(struct moon_gen_user *u, struct moon_gen *gen)
{
	if (--gen->ws[u->worker].inflight == 0 && gen != u->cur)
		moon_gen_release(gen);
}

#endif
