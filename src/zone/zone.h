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
 * Loads and compiles a zone: parses the data, groups records into RRsets
 * (their TTL is the first record's; differing TTLs are a warning), attaches
 * RRSIGs to the sets they cover, and precomputes per-name facts (delegation
 * points, glue, wildcard children, empty non-terminals). Semantic checks:
 * no SOA at the apex, more than one SOA, CNAME beside other data, records
 * outside the origin, NS targets below a delegation without glue. Every
 * problem is added to `diag` as "file:line: message"; the zone is returned
 * only when there were no errors. Returns 0 or a negative error.
 */
int moon_zone_load(const struct moon_zone_source *src, struct moon_zone **out, struct moon_diag *diag);
void moon_zone_free(struct moon_zone *zone);

const uint8_t *moon_zone_origin(const struct moon_zone *zone);  /* lowercase wire form */
uint32_t moon_zone_serial(const struct moon_zone *zone);
size_t moon_zone_record_count(const struct moon_zone *zone);
size_t moon_zone_memory(const struct moon_zone *zone);          /* bytes held */

/* Bounds of one answer, generous for real zones. A set that would not fit is
 * left out and the answer is marked truncated by the writer, not here. */
#define MOON_ANS_MAX_RRSETS 32
#define MOON_ANS_MAX_CHAIN 12   /* CNAME/DNAME links followed inside a zone */

struct moon_ans_rrset {
	const uint8_t *owner;            /* NULL = the question name as the client wrote it */
	const struct moon_rrset *rrset;
};

struct moon_ans_section {
	uint16_t n;
	struct moon_ans_rrset rr[MOON_ANS_MAX_RRSETS];
};

/*
 * The result of moon_zone_answer(): rcode, AA, and the RRsets of each
 * section in order. Records synthesized for this query (a CNAME from a DNAME,
 * owner names of wildcard expansions) live in the answer's own scratch space,
 * so the struct is self-contained and needs no allocation; it may be
 * reused for the next query.
 */
struct moon_zone_answer {
	uint8_t rcode;
	bool aa;
	struct moon_ans_section sec[3];   /* indexed by enum moon_section */
	/* scratch for synthesized data */
	uint16_t nsynth;
	struct moon_rrset synth[MOON_ANS_MAX_CHAIN];
	uint8_t synth_names[MOON_ANS_MAX_CHAIN][MOON_NAME_MAXLEN];
	uint8_t synth_rdata[MOON_ANS_MAX_CHAIN][2 + MOON_NAME_MAXLEN];
};

/*
 * Answers qname/qtype (class IN) from the zone per RFC 1034 §4.3.2, 4592,
 * 6672, 2308 and 8482: exact match, in-zone CNAME chains (bounded by
 * MOON_ANS_MAX_CHAIN, loops stop), DNAME with a synthesized CNAME,
 * wildcards (empty non-terminals block them), delegations with glue (AA=0),
 * NODATA and NXDOMAIN with the SOA in authority (TTL = min(SOA TTL,
 * MINIMUM)), A/AAAA for NS/MX/SRV targets in additional, minimal ANY
 * (one RRset). With do_bit, RRSIGs follow each set and NSEC records prove
 * denial (NXDOMAIN, NODATA, wildcard) in pre-signed zones.
 * qname_lc must be lowercase and inside the zone.
 */
void moon_zone_answer(const struct moon_zone *zone, const uint8_t *qname_lc, uint16_t qtype,
		      bool do_bit, struct moon_zone_answer *ans);

#endif
