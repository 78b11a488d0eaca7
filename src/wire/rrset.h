/*
 * An RRset as the answer path sees it: type, TTL and the RDATA of each
 * record, stored ready to copy into a message. The owner name is kept
 * outside (by the zone node or cache entry that holds the set), and the
 * class is always IN (CHAOS answers are built separately).
 *
 * rdata holds `count` records back to back, each as a 2-byte big-endian
 * RDLENGTH followed by that many bytes of uncompressed RDATA, exactly the
 * tail of the RR on the wire. Names inside RDATA are uncompressed and keep
 * the case of the source; the writer compresses them where RFC 3597 allows.
 *
 * Ownership: an rrset and its rdata belong to whatever built them (a zone's
 * arena, a cache entry) and live as long as it does; the writer only reads.
 */
#ifndef MOON_WIRE_RRSET_H
#define MOON_WIRE_RRSET_H

#include <stdint.h>

struct moon_rrset {
	uint16_t type;
	uint16_t count;
	uint32_t ttl;
	const uint8_t *rdata;
	uint32_t rdata_len;   /* total bytes in rdata, RDLENGTH fields included */
	/* The RRSIG records covering this set (type RRSIG), or NULL. */
	const struct moon_rrset *sigs;
};

/* Iterates the records of a set:
 *   const uint8_t *rd = rs->rdata;
 *   for (uint16_t i = 0; i < rs->count; i++, rd = moon_rdata_next(rd))
 *       use(moon_rdata_data(rd), moon_rdata_len(rd)); */
static inline uint16_t moon_rdata_len(const uint8_t *rd) { return (uint16_t)(rd[0] << 8 | rd[1]); }
static inline const uint8_t *moon_rdata_data(const uint8_t *rd) { return rd + 2; }
static inline const uint8_t *moon_rdata_next(const uint8_t *rd)
{
	return rd + 2 + moon_rdata_len(rd);
}

#endif
