/*
 * Domain names embedded in RDATA, as the zone loader prepares them.
 * Internal to src/zone.
 */
#ifndef MOON_ZONE_RDATA_H
#define MOON_ZONE_RDATA_H

#include <stddef.h>
#include <stdint.h>

/*
 * Checks the layout of rd (len octets of RDATA of `type`) for the types
 * whose names the answer code reads or that RFC 4034 §6.2 says to lowercase,
 * and lowercases the names of the latter in place, as knotd does (so that
 * answers match it octet for octet). NSEC and SVCB/HTTPS names keep their
 * case (RFC 6840 §5.1 took NSEC off that list; SVCB was never on it).
 * Every name must be a valid uncompressed name and fixed-layout types must
 * end exactly where their last field does. Other types are accepted as is.
 * Returns 0 or MOON_EMALF.
 */
int moon__rdata_prepare(uint16_t type, uint8_t *rd, size_t len);

/* Offset of the name the additional section follows for NS, MX, SRV,
 * SVCB and HTTPS RDATA, or -1 for other types. */
int moon__rdata_target_offset(uint16_t type);

/* Writes the mnemonic of `type` ("AAAA", or "TYPE65000") into buf. */
const char *moon__rrtype_text(uint16_t type, char buf[16]);

#endif
