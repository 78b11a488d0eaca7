/*
 * The forwarder's message work, without any I/O: building the upstream
 * query, deciding whether a reply answers it (RFC 5452), scrubbing a reply
 * (the rules are in fwd.h, SCRUBBING) and patching a copy for each waiting
 * client. Internal to src/fwd, its unit tests and its fuzz target.
 * Pure functions; thread-safe; never read outside the given buffers.
 */
#ifndef MOON_FWD_MSG_H
#define MOON_FWD_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd/fwd.h"
#include "wire/dns.h"
#include "wire/name.h"
/* Names followed through CNAMEs when scrubbing (longer chains: the rest is
 * removed as unsolicited). */
#define MOON_FWD_MAX_CHAIN 16

struct moon_fwd_qspec {
	const uint8_t *qname;   /* case kept */
	uint16_t qtype, qclass;
	bool rd, cd, ad, do_bit;
	uint16_t payload;       /* OPT payload; 0 = no OPT record */
	const uint8_t *opts;    /* OPT RDATA (options), opts_len <= MOON_FWD_OPTS_MAX */
	uint16_t opts_len;
};

/* Writes the query into buf (MOON_FWD_QMAX bytes) with ID `id`; returns
 * its length. */
size_t moon__fwd_build_query(uint8_t *buf, uint16_t id, const struct moon_fwd_qspec *s);
/* Rewrites the ID of a built query or of a message. */
void moon__fwd_set_id(uint8_t *msg, uint16_t id);

enum moon_fwd_verdict {
	MOON_FWD_REPLY_OK = 0,     /* acceptable, well formed, TC=0 */
	MOON_FWD_REPLY_TC,         /* acceptable header and question, TC=1 */
	MOON_FWD_REPLY_MISMATCH,   /* not an answer to this query: ignore */
	MOON_FWD_REPLY_MALFORMED,  /* our ID and question, but broken: ignore */
};

/*
 * Decides whether msg answers `query` (as built above, same ID): QR=1,
 * opcode QUERY, QDCOUNT 1, the ID, and the question bytes identical (name
 * case included). A TC reply is judged on header and question only (its
 * records may be cut); any other must parse whole. *rcode gets the rcode
 * with the OPT record's extended bits.
 */
enum moon_fwd_verdict moon__fwd_check_reply(const uint8_t *msg, size_t len, const uint8_t *query,
					     size_t qlen, uint16_t *rcode);

struct moon_fwd_scrub {
	uint16_t removed;       /* records left out (OPT and TSIG not counted) */
	bool in_bailiwick;      /* every record kept is inside the zone */
};

/*
 * Writes into out (cap bytes) the reply msg (already accepted by
 * moon__fwd_check_reply) scrubbed for forwarded zone `zone` (lowercase
 * wire name), without its OPT and TSIG records. Returns the length, or
 * MOON_EMALF when a name inside RDATA does not decompress, MOON_ESPACE
 * when out is too small. When a rebuilt message does not fit, records are
 * dropped and TC is set rather than failing.
 */
int moon__fwd_scrub(const uint8_t *msg, size_t len, const uint8_t *zone, uint8_t *out, size_t cap,
		    struct moon_fwd_scrub *res);

/* What a waiting client needs its copy patched with. */
struct moon_fwd_client {
	uint16_t id;
	uint16_t flags;         /* its header flags word (RD, AD are read) */
	bool do_bit;
	const uint8_t *qname;   /* its question name, case kept; equal ignoring
				 * case to the one in msg */
};

/* Patches a scrubbed reply for one client: ID, question name bytes (same
 * length, at offset 12), RD, and AD cleared unless the client set AD or
 * DO. */
void moon__fwd_patch(uint8_t *msg, size_t len, const struct moon_fwd_client *c);

#endif
