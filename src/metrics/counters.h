/*
 * The server's metrics: per-worker counters written on the query path, and
 * the process-wide state the scrape renders them from (metrics/families.c).
 *
 * Per-worker counters (struct moon_mworker) are plain uint64_t written only
 * by their worker: no atomics, no locks, no allocation on the query path.
 * The scrape (HTTP thread) sums them with relaxed atomic loads
 * (__atomic_load_n on each 64-bit word): on every 64-bit target an aligned
 * 64-bit store is a single instruction, so a load sees either the old or
 * the new value, never a torn mix; it may miss the increments of the last
 * nanoseconds, which the next scrape sees. Counters are monotonic, so a
 * scrape never goes backwards.
 *
 * Labels never come from clients. Counters are indexed by slots whose label
 * values come from the config only, interned in append-only tables:
 *   - zone slots:     (server block name, zone) — the zone of the block that
 *                     matched the query; slot 0 is ("", "dropped") for
 *                     queries that reached no block (as CoreDNS);
 *   - upstream slots: (server block name, upstream address as configured).
 * Policy calls, verdicts, errors and the policies' own counters come from
 * the bridge (bridge/counters.h), which keeps them per worker the same way.
 * A slot keeps its number across reloads (the same labels intern to the
 * same slot), so counters stay monotonic over reloads. Tables are bounded;
 * past the bound everything shares the last slot, labelled "overflow".
 * The query type and the rcode are mapped to fixed sets of names, the rest
 * to "other".
 *
 * Threads: moon_metrics_new/free and the *_slot() interning run on the
 * control thread (interning is also safe from several threads: it locks);
 * observers run on the owning worker; the HTTP thread renders.
 */
#ifndef MOON_METRICS_COUNTERS_H
#define MOON_METRICS_COUNTERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monitored query types (CoreDNS's set plus HTTPS, SVCB, CAA); the last
 * index is "other". */
#define MOON_MT_NTYPES 21
/* NOERROR..NOTZONE (0-10), BADVERS, other. */
#define MOON_MT_NRCODES 13
/* enum moon_source of query/query.h: none, zone, cache, forward, policy, chaos. */
#define MOON_MT_NSOURCES 6
/* CoreDNS's duration buckets: 0.25 ms * 2^i, i = 0..15 (up to 8.192 s). */
#define MOON_MT_DUR_BUCKETS 16
/* CoreDNS's size buckets: 0, 100, ..., 64000 bytes. */
#define MOON_MT_SIZE_BUCKETS 14

#define MOON_METRICS_MAX_ZONES 512
#define MOON_METRICS_MAX_UPSTREAMS 256

enum moon_mt_proto { MOON_MT_UDP = 0, MOON_MT_TCP = 1 };
enum moon_mt_family { MOON_MT_IPV4 = 0, MOON_MT_IPV6 = 1 };
enum moon_mt_cache { MOON_MT_CACHE_SUCCESS = 0, MOON_MT_CACHE_DENIAL = 1 };

/* One zone slot on one worker. Every field is a uint64_t (the scrape sums
 * the struct as an array of them). */
struct moon_mzone {
	uint64_t requests[2][2][MOON_MT_NTYPES];   /* [proto][family][type] */
	uint64_t do_requests;
	uint64_t responses[MOON_MT_NSOURCES][MOON_MT_NRCODES];
	uint64_t duration[MOON_MT_NTYPES][MOON_MT_DUR_BUCKETS + 1];
	uint64_t duration_ns[MOON_MT_NTYPES];
	uint64_t req_size[2][MOON_MT_SIZE_BUCKETS + 1];
	uint64_t req_bytes[2];
	uint64_t resp_size[2][MOON_MT_SIZE_BUCKETS + 1];
	uint64_t resp_bytes[2];
	uint64_t cache_hits[2];                    /* [enum moon_mt_cache] */
	uint64_t cache_misses;
};

struct moon_mupstream {
	uint64_t requests;
	uint64_t duration[MOON_MT_NRCODES][MOON_MT_DUR_BUCKETS + 1]; /* by reply rcode */
	uint64_t duration_ns[MOON_MT_NRCODES];
	uint64_t failures;                         /* no usable reply (timeout, error) */
};

/* A worker's counters. */
struct moon_mworker {
	struct moon_mzone *zones;                  /* MOON_METRICS_MAX_ZONES */
	struct moon_mupstream *upstreams;          /* MOON_METRICS_MAX_UPSTREAMS */
};

/* Slot 0 of the zone table: queries no block took. */
#define MOON_MSLOT_DROPPED 0u

/* An interned label pair. */
struct moon_mlabel {
	char *a;                                   /* server block name */
	char *b;                                   /* zone / upstream */
};

struct moon_mtable {
	struct moon_mlabel *e;
	unsigned max;
	_Atomic unsigned n;                        /* published entries */
};

struct moon_metrics;

/* Creates the counters of nworkers workers. Returns 0 or -ENOMEM. */
int moon_metrics_new(unsigned nworkers, struct moon_metrics **out);
void moon_metrics_free(struct moon_metrics *m);
unsigned moon_metrics_nworkers(const struct moon_metrics *m);
struct moon_mworker *moon_metrics_worker(struct moon_metrics *m, unsigned worker);

/* Interning (control thread, while building a generation): the slot of a
 * label pair, the same one every time for the same pair. */
unsigned moon_metrics_zone_slot(struct moon_metrics *m, const char *server, const char *zone);
unsigned moon_metrics_upstream_slot(struct moon_metrics *m, const char *server, const char *to);

/* Process-wide events (control thread; any thread may call them). */
void moon_metrics_reload(struct moon_metrics *m, bool ok);
/* The configuration generation in service. */
void moon_metrics_set_generation(struct moon_metrics *m, uint64_t generation);
/* A failed upstream health check (whichever thread probes). */
void moon_metrics_healthcheck_failed(struct moon_metrics *m, unsigned upstream_slot);

/* Label values of the fixed sets. */
unsigned moon_metrics_type_index(uint16_t qtype);
const char *moon_metrics_type_label(unsigned idx);
unsigned moon_metrics_rcode_index(uint16_t rcode);
const char *moon_metrics_rcode_label(unsigned idx);

/* Bucket of a duration / size (the index of the first bound >= value). */
static inline unsigned moon_metrics_dur_bucket(uint64_t ns)
{
	unsigned i = 0;
	for (uint64_t bound = 250000; i < MOON_MT_DUR_BUCKETS && ns > bound; bound <<= 1)
		i++;
	return i;
}

unsigned moon_metrics_size_bucket(uint32_t bytes);

/* ------------------------------------------------------------------
 * Observers, on the worker that owns mw. Each is a handful of plain
 * increments.
 */

/* A query routed to zone slot z (MOON_MSLOT_DROPPED when no block took it). */
static inline void moon_metrics_request(struct moon_mworker *mw, unsigned z,
					enum moon_mt_proto proto, enum moon_mt_family fam,
					uint16_t qtype, bool do_bit, uint32_t size)
{
	struct moon_mzone *c = &mw->zones[z];
	c->requests[proto][fam][moon_metrics_type_index(qtype)]++;
	c->do_requests += do_bit;
	c->req_size[proto][moon_metrics_size_bucket(size)]++;
	c->req_bytes[proto] += size;
}

/* Its reply (size 0: none was sent) and how long the query took. */
static inline void moon_metrics_response(struct moon_mworker *mw, unsigned z,
					 enum moon_mt_proto proto, uint16_t qtype,
					 unsigned source, uint16_t rcode, uint32_t size,
					 uint64_t duration_ns)
{
	struct moon_mzone *c = &mw->zones[z];
	unsigned t = moon_metrics_type_index(qtype);
	c->duration[t][moon_metrics_dur_bucket(duration_ns)]++;
	c->duration_ns[t] += duration_ns;
	if (!size)
		return;
	c->responses[source < MOON_MT_NSOURCES ? source : 0][moon_metrics_rcode_index(rcode)]++;
	c->resp_size[proto][moon_metrics_size_bucket(size)]++;
	c->resp_bytes[proto] += size;
}

static inline void moon_metrics_cache_lookup(struct moon_mworker *mw, unsigned z, bool hit,
					     enum moon_mt_cache type)
{
	if (hit)
		mw->zones[z].cache_hits[type]++;
	else
		mw->zones[z].cache_misses++;
}

/* An upstream exchange: rcode of the reply, or failed (no reply). */
static inline void moon_metrics_upstream(struct moon_mworker *mw, unsigned u, bool failed,
					 uint16_t rcode, uint64_t duration_ns)
{
	struct moon_mupstream *c = &mw->upstreams[u];
	c->requests++;
	if (failed) {
		c->failures++;
		return;
	}
	unsigned r = moon_metrics_rcode_index(rcode);
	c->duration[r][moon_metrics_dur_bucket(duration_ns)]++;
	c->duration_ns[r] += duration_ns;
}

/* ------------------------------------------------------------------
 * Scrape side (HTTP thread): sums of every worker, by slot.
 */
struct moon_msnapshot {
	struct moon_mzone *zones;
	unsigned nzones;
	struct moon_mupstream *upstreams;
	unsigned nupstreams;
	uint64_t healthcheck_failures[MOON_METRICS_MAX_UPSTREAMS];
	uint64_t reloads, reload_failures, generation;
};

/* Fills s (allocating its arrays on first use; moon_metrics_snapshot_free
 * releases them). Returns 0 or -ENOMEM. */
int moon_metrics_snapshot(struct moon_metrics *m, struct moon_msnapshot *s);
void moon_metrics_snapshot_free(struct moon_msnapshot *s);
/* Label pair of a slot (valid until moon_metrics_free). */
const struct moon_mlabel *moon_metrics_zone_label(const struct moon_metrics *m, unsigned z);
const struct moon_mlabel *moon_metrics_upstream_label(const struct moon_metrics *m, unsigned u);

#endif
