/*
 * Authoritative zones: loading (libzscanner) and the answer algorithm.
 *
 * A moon_zone is built once by moon_zone_load() and is immutable after
 * that, so any number of worker threads may answer from it without locks.
 * It owns all of its memory (one arena); moon_zone_free() releases it. The
 * config generation that loaded a zone owns it and frees it when the last
 * query using that generation is done.
 */
#ifndef MOON_ZONE_ZONE_H
#define MOON_ZONE_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/diag.h"
#include "wire/name.h"
#include "wire/rrset.h"

struct moon_zone;

/* Where a zone's data comes from: exactly one of file and text is set. */
struct moon_zone_source {
	const char *origin;      /* presentation form, e.g. "example.com." */
	const char *file;        /* path of an RFC 1035 master file */
	const char *text;        /* inline master-file text */
	const char *text_name;   /* how to name inline text in errors, e.g. "moondns.yaml:12" */
	uint32_t default_ttl;    /* used when the data has no $TTL (3600 if 0) */
};

/*
 * Loads and compiles a zone: parses the data, groups records into RRsets,
 * attaches RRSIGs to the sets they cover, and precomputes per-name facts
 * (delegation points, glue, wildcard children, empty non-terminals).
 *  - A set's TTL is its first record's; differing TTLs are a warning.
 *    (knotd 3.2 keeps the last record's TTL instead: zones meant for a
 *    comparison with knotd should not mix TTLs within a set.)
 *  - Identical records are dropped; records are sorted by RDATA, as knotd.
 *  - RRSIGs are sent with their Original TTL field as TTL, as knotd.
 *  - Owner names, and names inside the RDATA of the types RFC 4034 §6.2
 *    lists (but NSEC), are lowercased, as knotd does.
 *  - Names below a DNAME load (with a warning; knotd refuses the zone) but
 *    are occluded: queries for them follow the DNAME (RFC 6672 §2.4).
 * Errors: no SOA at the apex, more than one SOA, SOA elsewhere, CNAME
 * beside other data (RRSIG and NSEC allowed), more than one CNAME or DNAME,
 * records outside the origin, classes other than IN, meta types, malformed
 * names in RDATA, NS targets at or below a delegation without A/AAAA glue,
 * and every libzscanner syntax error. Each is added to `diag` as
 * "file:line: message" ($INCLUDEd files name themselves); warnings go to the
 * log. The zone is returned only when there were no errors. Returns 0 or a
 * negative error (MOON_ESYNTAX, MOON_ESEMANTIC, -ENOMEM, -EINVAL for a bad
 * source). Loading is single-threaded and may run beside queries answered
 * from other zones.
 */
int moon_zone_load(const struct moon_zone_source *src, struct moon_zone **out,
		   struct moon_diag *diag);
void moon_zone_free(struct moon_zone *zone);

const uint8_t *moon_zone_origin(const struct moon_zone *zone);  /* lowercase wire form */
uint32_t moon_zone_serial(const struct moon_zone *zone);
size_t moon_zone_record_count(const struct moon_zone *zone);  /* after dropping duplicates */
size_t moon_zone_memory(const struct moon_zone *zone);          /* bytes held */
/* The apex SOA as negative answers carry it: TTL = min(SOA TTL, MINIMUM),
 * owner moon_zone_origin(), its RRSIGs (same TTL rule) in ->sigs when the
 * zone is signed. For replies made outside moon_zone_answer (policies). */
const struct moon_rrset *moon_zone_neg_soa(const struct moon_zone *zone);

/* Bounds of one answer, generous for real zones. A set that would not fit is
 * left out and the answer is marked truncated by the writer, not here. */
#define MOON_ANS_MAX_RRSETS 32
#define MOON_ANS_MAX_CHAIN 12   /* CNAME/DNAME links followed inside a zone */
/* The links actually followed: knotd 3.2 stops after 5 (CNAME_CHAIN_MAX) and
 * answers NOERROR with the chain so far; we match it. At most
 * MOON_ANS_MAX_CHAIN. */
#define MOON_ANS_CNAME_MAX 5

struct moon_ans_rrset {
	/* NULL = the question name as the client wrote it; otherwise a
	 * lowercase wire name inside the zone's memory or inside the
	 * moon_zone_answer that holds this entry. */
	const uint8_t *owner;
	const struct moon_rrset *rrset;
};

struct moon_ans_section {
	uint16_t n;
	struct moon_ans_rrset rr[MOON_ANS_MAX_RRSETS];
};

/*
 * The result of moon_zone_answer(): rcode, AA, and the RRsets of each
 * section in wire order. Records synthesized for this query (a CNAME from a
 * DNAME, a single RRSIG) live in the answer's own scratch space, so the
 * struct needs no allocation; it stays valid while the zone lives and may be
 * reused for the next query.
 *
 * Writing it: put every entry of every section as it is, in order, with
 * moon_pktw_put_rrset(). RRSIGs are explicit entries (type RRSIG) placed at
 * the end of each section, after all the sets they cover, as knotd orders
 * them; never write rrset->sigs yourself. In a referral (aa false) the first
 * `nglue` entries of the additional section are glue that RFC 9471 requires:
 * if they do not fit, set TC. Everything else in additional is optional.
 */
struct moon_zone_answer {
	uint8_t rcode;
	bool aa;
	uint16_t nglue;
	struct moon_ans_section sec[3];   /* indexed by enum moon_section */
	/* scratch for synthesized data */
	uint16_t nsynth;
	struct moon_rrset synth[MOON_ANS_MAX_CHAIN];
	uint8_t synth_rdata[MOON_ANS_MAX_CHAIN][2 + MOON_NAME_MAXLEN];
};

/*
 * Answers qname/qtype (class IN) from the zone per RFC 1034 §4.3.2, 4592,
 * 6672, 2308 and 8482, matching knotd 3.2 section by section (see answer.c
 * for each choice): exact match, in-zone CNAME chains (MOON_ANS_CNAME_MAX
 * links, loops stop), DNAME with a synthesized CNAME (YXDOMAIN when the
 * result is too long), wildcards (empty non-terminals block them),
 * delegations with glue (AA=0; DS and qtype DS at the cut answered by the
 * parent), NODATA and NXDOMAIN with the SOA in authority (TTL = min(SOA
 * TTL, MINIMUM)), A/AAAA for NS/MX/SRV/SVCB/HTTPS targets in additional,
 * minimal ANY (the node's lowest-numbered type, as knotd). With do_bit and a
 * signed zone (the apex SOA has RRSIGs), RRSIG entries end each section and NSEC
 * records prove denial (NXDOMAIN, NODATA, wildcard answers, insecure
 * delegations) in pre-signed zones; NSEC3 denial is not implemented.
 * qname_lc must be lowercase; a name outside the zone gets REFUSED.
 * Never allocates; safe from any number of threads.
 */
void moon_zone_answer(const struct moon_zone *zone, const uint8_t *qname_lc, uint16_t qtype,
		      bool do_bit, struct moon_zone_answer *ans);

#endif
