/*
 * Resource records as text, for policies: zone-file lines to wire records
 * (libzscanner, the zone loader's parser) and RDATA to presentation form
 * (ldns, allocation per call: only when a policy asks for the text).
 *
 * Threads: a moon_rrtext belongs to one Lua state; the functions without
 * one are pure.
 */
#ifndef MOON_BRIDGE_RRTEXT_H
#define MOON_BRIDGE_RRTEXT_H

#include <stddef.h>
#include <stdint.h>

struct moon_rrtext;

struct moon_rrtext *moon_rrtext_new(void);
void moon_rrtext_free(struct moon_rrtext *p);

/* Called for each record parsed; a non-zero return stops the parse and is
 * returned by moon_rrtext_parse. */
typedef int (*moon_rrtext_fn)(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl,
			      const uint8_t *rdata, uint16_t rdlen);

/*
 * Parses records in zone-file syntax (one or more lines, class IN) with
 * $ORIGIN origin (a wire name: relative names and "@" are relative to it)
 * and $TTL ttl. Returns the number of records, the callback's non-zero
 * return, or MOON_ESYNTAX with a message in err ("line 2: ...").
 */
int moon_rrtext_parse(struct moon_rrtext *p, const char *text, size_t len, const uint8_t *origin,
		      uint32_t ttl, moon_rrtext_fn fn, void *arg, char *err, size_t errlen);

/*
 * Copies the RDATA at msg[off..off+rdlen) to out without compression: the
 * names of the types whose RDATA may be compressed (RFC 1035 types, and
 * those some servers compress anyway: RP, AFSDB, RT, PX, SRV, NAPTR, KX)
 * are expanded; other RDATA is copied as it is. Returns the length, or
 * MOON_EMALF / MOON_ESPACE.
 */
int moon_rdata_unpack(uint16_t type, const uint8_t *msg, size_t msglen, size_t off,
		      uint16_t rdlen, uint8_t *out, size_t cap);

/* The presentation form of uncompressed RDATA ("10 mail.example.com.").
 * Returns its length, or a negative error. */
int moon_rdata_to_text(uint16_t type, const uint8_t *rdata, uint16_t rdlen, char *out,
		       size_t cap);

/* "A", "AAAA", ... or "TYPE1234". */
void moon_rrtype_to_text(uint16_t type, char *out, size_t cap);

#endif
