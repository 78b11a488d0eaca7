/*
 * Internal layout of a compiled zone, shared by the loader (load.c,
 * build.c) and the answer code (answer.c). Not for use outside src/zone.
 *
 * A zone is a flat array of nodes, one per owner name plus one per empty
 * non-terminal, found through an open-addressing hash table of their
 * lowercase wire names. Each node's RRsets sit next to each other in one
 * array, sorted by type. A node's RRSIG records are one of those sets (type
 * RRSIG, as knotd keeps them), and each covered set's `sigs` is a view of
 * its part of it (a moon_rrset sharing the RDATA, in a region after all the
 * node sets).
 *
 * Memory: a handful of big blocks owned by the zone (see struct moon_zone),
 * no per-record allocation. Everything is read-only once moon_zone_load()
 * returns.
 */
#ifndef MOON_ZONE_TREE_H
#define MOON_ZONE_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire/name.h"
#include "wire/rrset.h"

#define MOON_ZNONE UINT32_MAX

/* Facts computed once at load time (RFC 1034 §4.3.2, RFC 4592, RFC 6672). */
enum moon_znode_flag {
	MOON_ZN_APEX = 1 << 0,
	MOON_ZN_DELEG = 1 << 1,          /* NS below the apex: a zone cut */
	MOON_ZN_NONAUTH = 1 << 2,        /* strictly below a zone cut (glue, occluded) */
	MOON_ZN_WILDCARD_CHILD = 1 << 3, /* "*.<this name>" exists */
	MOON_ZN_CNAME = 1 << 4,
	MOON_ZN_DNAME = 1 << 5,
	MOON_ZN_BELOW_DNAME = 1 << 6,    /* strictly below a DNAME owner (occluded) */
	MOON_ZN_WILDCARD = 1 << 7,       /* first label is "*" */
};

struct moon_znode {
	uint32_t name;     /* offset of the lowercase owner name in zone->names */
	uint32_t sets;     /* index of the first RRset in zone->sets */
	uint32_t parent;   /* index of the parent node; the apex is its own parent */
	uint16_t nsets;    /* 0 = empty non-terminal */
	uint16_t flags;    /* enum moon_znode_flag */
};

struct moon_zslot {
	uint32_t hash;
	uint32_t node;     /* MOON_ZNONE = empty slot */
};

struct moon_zone {
	/* Lookup: nodes[0] is the apex. */
	struct moon_zslot *slots;
	uint32_t mask;             /* slots - 1, a power of two minus one */
	struct moon_znode *nodes;
	uint32_t nnodes;
	uint8_t *names;            /* lowercase wire names, padded (see build.c) */
	struct moon_rrset *sets;   /* all RRsets, then the per-type RRSIG views */
	uint8_t *rdata;
	/* Authoritative non-empty nodes in RFC 4034 canonical order: the NSEC
	 * chain, searched for the predecessor of a name. Only for signed zones. */
	uint32_t *chain;
	uint32_t nchain;

	uint8_t origin[MOON_NAME_MAXLEN];
	uint8_t origin_len;
	uint8_t origin_labels;
	bool dnssec;               /* the apex SOA is signed */
	uint32_t serial;
	size_t nrecords;
	size_t memory;
	const struct moon_rrset *soa;
	/* The SOA as negative answers carry it: TTL = min(SOA TTL, MINIMUM)
	 * (RFC 2308 §3), with its signatures at the same TTL. */
	struct moon_rrset neg_soa;
	struct moon_rrset neg_soa_sigs;
	/* Blocks to free besides slots, nodes and names: the RRset and RDATA
	 * block and the chain. */
	void *blocks[2];
};

static inline const uint8_t *moon__znode_name(const struct moon_zone *z, uint32_t n)
{
	return z->names + z->nodes[n].name;
}

/* Hash of a lowercase wire name of len octets. */
static inline uint32_t moon__zname_hash(const uint8_t *name, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, name, 8);
		h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
		name += 8;
		len -= 8;
	}
	uint64_t v = 0;
	memcpy(&v, name, len);
	h = (h ^ v) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(h ^ h >> 32);
}

/*
 * Index of the node named `name` (lowercase, len octets) or MOON_ZNONE.
 * Stored names are followed by enough padding that comparing len octets
 * never reads outside the names block; equal prefixes of len octets mean
 * equal names because both are valid wire names.
 */
static inline uint32_t moon__zone_find(const struct moon_zone *z, const uint8_t *name,
				       size_t len, uint32_t hash)
{
	for (uint32_t i = hash & z->mask;; i = (i + 1) & z->mask) {
		const struct moon_zslot *s = &z->slots[i];
		if (s->node == MOON_ZNONE)
			return MOON_ZNONE;
		if (s->hash == hash && memcmp(moon__znode_name(z, s->node), name, len) == 0)
			return s->node;
	}
}

/* Is the lowercase name (len octets) at or below the zone's origin? */
static inline bool moon__zone_contains(const struct moon_zone *z, const uint8_t *name, size_t len)
{
	if (len < z->origin_len)
		return false;
	const uint8_t *p = name;
	while ((size_t)(p - name) < len - z->origin_len)
		p += 1 + *p;
	return (size_t)(p - name) == len - z->origin_len &&
	       memcmp(p, z->origin, z->origin_len) == 0;
}

/* The node's set of `type`, or NULL. */
static inline const struct moon_rrset *moon__znode_set(const struct moon_zone *z, uint32_t n,
						       uint16_t type)
{
	const struct moon_znode *node = &z->nodes[n];
	const struct moon_rrset *s = z->sets + node->sets;
	for (unsigned i = 0; i < node->nsets; i++)
		if (s[i].type == type)
			return &s[i];
	return NULL;
}

#endif
