/*
 * Answer cache: a packet cache shared by every worker thread of a server
 * block.
 *
 * What an entry holds: the complete response message as it will be sent
 * (question lowercased, ID zeroed, a trailing OPT record removed), the offset
 * of the TTL field of every record in it, the time it was stored and how
 * long it lives. A hit copies the message into the caller's buffer and
 * patches the copy for this client: its ID, its question bytes (case kept,
 * so 0x20 randomisation works), its RD bit, AD cleared unless the client set
 * DO or AD, and every TTL counted down by the entry's age. The caller then
 * adds its own OPT record (EDNS is per client: payload size, cookies) and
 * fits the message to the client's UDP size (sets TC), as for any answer.
 *
 * Key: lowercased QNAME, QTYPE, QCLASS, DO, CD and the server block id.
 * moon_cache_key_init() hashes it with SipHash under a random per-cache
 * secret, so clients cannot aim many names at one hash chain.
 *
 * What is cached (moon_cache_insert), in three kinds:
 *  - success: NOERROR whose answer section holds a record of QTYPE (any
 *    record for QTYPE ANY). Lives min(answer TTLs) clamped to
 *    [success_min_ttl, success_max_ttl].
 *  - denial (RFC 2308): NXDOMAIN, or NOERROR without a record of QTYPE
 *    (NODATA, possibly after a CNAME chain), with an SOA in the authority
 *    section. Lives min(SOA TTL, SOA MINIMUM, answer TTLs) clamped to
 *    [denial_min_ttl, denial_max_ttl]. Without an SOA a denial is not cached
 *    (there is no TTL to trust; RFC 2308 §5).
 *  - servfail (RFC 9520): lives servfail_ttl, and never replaces a success
 *    or denial entry that is still usable (fresh, or servable stale):
 *    instead it marks that entry as "upstream failed" for servfail_ttl.
 * Not cached: TC set, opcode other than QUERY, QDCOUNT != 1, other rcodes
 * (including extended ones), TSIG-signed messages, an OPT record that is not
 * the last record, referrals and NOERROR without answer or SOA.
 * Every TTL in the stored copy is capped at the entry's lifetime; TTLs above
 * 2^31-1 count as 0 (RFC 2181 §8). The TTL of other sections does not
 * shorten the lifetime: those records count down like the rest and stop at 0.
 *
 * Serve-stale (RFC 8767, opt-in): an expired success or denial entry stays
 * for stale_max seconds while space allows (expired entries are evicted
 * first). Lookup reports it as MOON_CACHE_STALE with every TTL set to
 * stale_answer_ttl; the caller asks upstream and uses the stale copy only if
 * that fails. `failed` in the result says an upstream failure for this key
 * was recorded less than servfail_ttl ago, so the caller can answer from the
 * stale copy at once (RFC 8767 §5 failure recheck). A forwarder that got no
 * reply at all records the failure by inserting a SERVFAIL it built itself.
 *
 * Prefetch (opt-in): when a fresh entry has been hit prefetch_hits times and
 * less than prefetch_percent of its lifetime (at least 1 s) remains, exactly
 * one lookup gets result.prefetch = true and should refresh it in the
 * background; re-inserting the key creates a new entry and re-arms it.
 *
 * Layout and memory: `shards` shards picked by the hash, each with its own
 * mutex, hash chains, LRU list per kind (success; denial+servfail), expiry
 * heap, counts and byte count. capacity_bytes bounds everything the cache
 * allocates: the shards' tables (sized up front) and every entry, counted
 * as the allocator's real block size. The byte budget and the entry-count
 * caps are divided evenly across shards (counts rounded up, so the total may
 * exceed a count cap by less than `shards`). Entry slots are also limited
 * to what the byte budget could hold. To make room an insert evicts expired
 * entries first (earliest expiry first), then the least recently used.
 * Entries past expiry (+ stale_max when serving stale) are removed when a
 * lookup meets them and a few per insert.
 *
 * Time: `now` is milliseconds on CLOCK_MONOTONIC (moon_now_ms()), passed in
 * so one clock read serves a whole query and tests control time.
 *
 * Threads: moon_cache_new and moon_cache_free run while no other thread uses
 * the cache. Every other function is safe to call from any number of
 * threads at once. A lookup hit takes one shard mutex and allocates nothing.
 *
 * Ownership: the cache owns its entries (copies of what was inserted); the
 * caller owns every buffer it passes in, the cache keeps no pointer to them.
 */
#ifndef MOON_CACHE_CACHE_H
#define MOON_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/name.h"

struct moon_cache;

struct moon_cache_opts {
	size_t capacity_bytes;        /* default 64 MiB; at least 16 KiB per shard */
	uint32_t success_max_entries; /* default 100000; 0 = do not cache successes */
	uint32_t denial_max_entries;  /* NXDOMAIN, NODATA, SERVFAIL; default 50000; 0 = none */
	uint32_t success_min_ttl;     /* seconds; default 5 */
	uint32_t success_max_ttl;     /* default 3600; 0 = do not cache successes */
	uint32_t denial_min_ttl;      /* default 5 */
	uint32_t denial_max_ttl;      /* default 1800; 0 = do not cache denials */
	uint32_t servfail_ttl;        /* default 5, at most 30; 0 = do not cache SERVFAIL */
	uint32_t prefetch_hits;       /* hits before prefetching; default 0 = off */
	uint32_t prefetch_percent;    /* 1..99, default 10 */
	bool serve_stale;             /* default false */
	uint32_t stale_answer_ttl;    /* TTL in stale answers; default 30 (RFC 8767) */
	uint32_t stale_max;           /* seconds past expiry an entry stays servable; 3600 */
	unsigned shards;              /* power of two, 1..1024; default 64 */
};

/* Fills o with the defaults listed above. */
void moon_cache_opts_default(struct moon_cache_opts *o);
/* Returns NULL when o is usable, else a one-line reason ("servfail_ttl above
 * 30 s") for the config layer to report. */
const char *moon_cache_opts_check(const struct moon_cache_opts *o);

/* Creates an empty cache with a fresh random hash secret. Returns NULL when
 * the options fail moon_cache_opts_check() or memory runs out. */
struct moon_cache *moon_cache_new(const struct moon_cache_opts *o);
/* Frees the cache and every entry. NULL is fine. */
void moon_cache_free(struct moon_cache *c);

#define MOON_CACHE_KEY_DO 0x01
#define MOON_CACHE_KEY_CD 0x02

/* A lookup key; build it with moon_cache_key_init (plain value, caller-owned,
 * usable for any number of lookups and inserts on the cache that built it). */
struct moon_cache_key {
	uint64_t hash;
	uint32_t block;
	uint16_t qtype;
	uint16_t qclass;
	uint8_t flags;                    /* MOON_CACHE_KEY_DO | MOON_CACHE_KEY_CD */
	uint8_t name_len;
	uint8_t name[MOON_NAME_MAXLEN];   /* lowercase wire name */
};

/* qname is a validated wire name in any case (it is lowercased here). */
void moon_cache_key_init(const struct moon_cache *c, struct moon_cache_key *k,
			 const uint8_t *qname, uint16_t qtype, uint16_t qclass,
			 bool do_bit, bool cd, uint32_t block);

enum moon_cache_state { MOON_CACHE_MISS, MOON_CACHE_HIT, MOON_CACHE_STALE };
enum moon_cache_kind { MOON_CACHE_SUCCESS, MOON_CACHE_DENIAL, MOON_CACHE_SERVFAIL };

struct moon_cache_result {
	enum moon_cache_state state;
	enum moon_cache_kind kind;  /* valid unless MISS */
	uint32_t ttl;               /* HIT: whole seconds of life left */
	bool prefetch;              /* HIT: this caller should refresh the entry */
	bool failed;                /* STALE: upstream failed < servfail_ttl ago */
};

/*
 * Looks key up. query/query_len is the client's message as received (at
 * least the header; its question, when it starts at offset 12 uncompressed
 * and matches the key, is copied in with its case). On HIT or STALE the
 * patched response is written to out (cap bytes) and its length returned;
 * on MISS returns 0. Returns MOON_ESPACE when the answer does not fit in cap
 * (state then says what was found; nothing is written), MOON_EMALF when
 * query_len < 12. res is always filled.
 */
int moon_cache_lookup(struct moon_cache *c, const struct moon_cache_key *key,
		      const uint8_t *query, size_t query_len, uint8_t *out, size_t cap,
		      int64_t now, struct moon_cache_result *res);

/*
 * Stores the response msg/len under key (copied; the caller keeps msg).
 * Returns 0 when stored, else a negative code and nothing changes:
 * MOON_EMALF malformed message; MOON_ESEMANTIC its question is not the key's;
 * MOON_ELIMIT not cacheable by the rules above (or that kind is disabled, or
 * larger than a shard's budget); -EEXIST a SERVFAIL met a usable answer
 * (which is marked failed instead); -ENOMEM.
 */
int moon_cache_insert(struct moon_cache *c, const struct moon_cache_key *key,
		      const uint8_t *msg, size_t len, int64_t now);

struct moon_cache_stats {
	uint64_t hits;          /* fresh hits */
	uint64_t stale_hits;    /* lookups answered STALE */
	uint64_t misses;
	uint64_t inserts;
	uint64_t evictions;     /* removed to make room (expired or LRU) */
	uint64_t expired;       /* removed because past their last servable time */
	uint64_t prefetches;    /* prefetch hints handed out */
	uint64_t entries;
	uint64_t success_entries;
	uint64_t denial_entries; /* denial and servfail */
	uint64_t bytes;         /* accounted memory: tables + entries, <= capacity */
	uint64_t capacity;
};

/* Sums the shards' counters (each read under its shard lock). */
void moon_cache_stats(struct moon_cache *c, struct moon_cache_stats *st);

/* Walks every shard and checks its internal invariants (chains, lists,
 * heap order, counts, bytes). Returns 0 or MOON_ESEMANTIC. O(entries);
 * for tests and debugging. */
int moon_cache_verify(struct moon_cache *c);

#endif
