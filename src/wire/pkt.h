/*
 * Query parsing and response building.
 *
 * moon_pkt_parse() reads a received message without copying it: the
 * struct points into the receive buffer, which must outlive it. Only the
 * question is decoded eagerly (into qname, case kept, and qname_lc, the
 * lowercase form used for lookups); the answer and authority sections are
 * walked for well-formedness and skipped; the additional section is
 * searched for the OPT record, whose options stay in the buffer for later
 * stages (moon_pkt_edns_option()).
 *
 * moon_pktw builds a response into a caller-owned buffer (no allocation).
 * Names are compressed against a table of offsets already written, with a
 * fixed number of entries (the compressor is O(n) in the records written).
 * Room for the OPT record is reserved up front so it always fits, and an
 * RRset is written whole or not at all: a put that does not fit returns
 * MOON_ESPACE and leaves the message as it was, so the caller can set TC.
 */
#ifndef MOON_WIRE_PKT_H
#define MOON_WIRE_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/dns.h"
#include "wire/name.h"
#include "wire/rrset.h"

struct moon_edns {
	bool present;
	uint8_t version;
	bool do_bit;
	uint16_t payload;       /* the client's UDP payload size, as sent */
	uint8_t ext_rcode;
	uint16_t flags;         /* the 16 flag bits (DO is the top one) */
	const uint8_t *options; /* option list inside the received buffer */
	uint16_t options_len;
};

struct moon_pkt {
	const uint8_t *wire;
	size_t len;
	/* Header. */
	uint16_t id;
	uint16_t flags;         /* the raw flags word (QR, opcode, AA, ..., rcode) */
	uint8_t opcode;
	uint16_t qdcount, ancount, nscount, arcount;
	/* Question (valid when qdcount == 1). */
	uint8_t qname[MOON_NAME_MAXLEN];
	uint8_t qname_lc[MOON_NAME_MAXLEN];
	uint8_t qname_len;
	uint16_t qtype;
	uint16_t qclass;
	size_t question_end;    /* offset just past the question */
	struct moon_edns edns;
	/* How far parsing got, so the caller can decide between dropping and a
	 * FORMERR that echoes the ID (header_ok) and the question (question_ok). */
	bool header_ok;
	bool question_ok;
};

/*
 * Parses a query. Returns 0 when the message is well formed, MOON_EMALF
 * otherwise (with header_ok/question_ok telling how far it got). Malformed
 * means: shorter than a header; QDCOUNT other than 1 for QUERY/NOTIFY, or
 * above 1 for any opcode (other opcodes may have QDCOUNT 0: the parse then
 * succeeds with question_ok false, and the caller answers NOTIMP);
 * a bad name (label > 63, name > 255, compression loop or forward pointer,
 * pointer past the end); a count larger than the records present; a record
 * running past the end; an OPT record outside the additional section, not
 * owned by the root, or more than one of them; bytes after the last record.
 * Unknown EDNS flags and options are accepted. EDNS version > 0 parses fine
 * (the caller answers BADVERS). Never reads outside wire[0..len).
 */
int moon_pkt_parse(struct moon_pkt *pkt, const uint8_t *wire, size_t len);

/* Finds EDNS option `code` in the parsed OPT record; returns its length and
 * sets *data, or -1 when absent. */
int moon_pkt_edns_option(const struct moon_pkt *pkt, uint16_t code, const uint8_t **data);

enum moon_section { MOON_SEC_ANSWER = 0, MOON_SEC_AUTHORITY = 1, MOON_SEC_ADDITIONAL = 2 };

#define MOON_COMPR_SLOTS 64

struct moon_pktw {
	uint8_t *buf;
	size_t limit;           /* maximum message size (client's, or 65535 for TCP) */
	size_t len;             /* bytes written */
	size_t reserve;         /* bytes kept free for the OPT record */
	uint16_t counts[3];     /* AN, NS, AR (the OPT record is added last) */
	int section;            /* records must be added in section order */
	uint16_t ncompr;
	uint16_t compr[MOON_COMPR_SLOTS]; /* offsets of names (and suffixes) written */
	bool has_opt;
	bool opt_do;
	uint16_t opt_payload;
	uint16_t opt_ext_rcode;
	uint8_t opt_data[512];  /* EDNS options to send (NSID up to 255 bytes, EDE), TLV-encoded */
	uint16_t opt_data_len;
	uint16_t question_end;  /* offset past the question (MOON_HDR_LEN if none) */
	uint16_t ncompr_question; /* compression entries made by the question */
};

/*
 * Starts a response to q in buf, which holds `limit` bytes (the maximum
 * message size: the client's UDP payload, or 65535 for TCP; larger values
 * are clamped to 65535). Copies ID, opcode, RD and CD, sets QR, and when
 * q->question_ok writes the question exactly as received (case preserved,
 * never compressed, at offset MOON_HDR_LEN). If the question does not fit
 * in limit, or q is NULL or !q->header_ok, the question (and for the latter
 * the ID) is left out. limit must be at least MOON_HDR_LEN.
 */
void moon_pktw_begin(struct moon_pktw *w, uint8_t *buf, size_t limit, const struct moon_pkt *q);
void moon_pktw_set_flag(struct moon_pktw *w, uint16_t flag, bool on);
/* Sets the RCODE; values > 15 are carried in the OPT record (needs one:
 * without OPT, finish() sends SERVFAIL instead of a mangled code). */
void moon_pktw_set_rcode(struct moon_pktw *w, uint16_t rcode);
/* Adds an OPT record with our payload size and the DO bit; its size is
 * reserved at once. Call before adding records. If the reservation does
 * not fit in the limit, no OPT is added (has_opt stays false). */
void moon_pktw_add_opt(struct moon_pktw *w, uint16_t payload, bool do_bit);
/* Appends an EDNS option to the OPT record (whose reservation grows).
 * Returns 0, MOON_ESPACE (opt_data full or the message would not fit) or
 * -EINVAL without an OPT record. */
int moon_pktw_add_opt_option(struct moon_pktw *w, uint16_t code, const void *data, uint16_t len);

/*
 * Appends one RR / a whole RRset (class IN) to `section`. Sections must be
 * filled in order: answer, then authority, then additional; once a record
 * went into a later section, a put to an earlier one returns -EINVAL.
 * owner NULL means "the question name" (written as a pointer to offset 12;
 * -EINVAL when the response has no question). Owners, and the names inside
 * the RDATA of NS, CNAME, PTR, MX and SOA, are compressed; names in the
 * RDATA of other types, and RDATA whose layout does not parse, are copied
 * as they are (RFC 3597 §4). owner must be a valid name. A put is all
 * or nothing: MOON_ESPACE means nothing was written (length, counts and
 * compression table are as before), so the caller can set TC or stop.
 * put_rrset writes only the records of rs, not rs->sigs: the caller puts
 * the RRSIG set with a second call when the client asked for DNSSEC.
 */
int moon_pktw_put_rr(struct moon_pktw *w, int section, const uint8_t *owner, uint16_t type,
		     uint16_t rclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);
int moon_pktw_put_rrset(struct moon_pktw *w, int section, const uint8_t *owner,
			const struct moon_rrset *rs);

/* Drops every record, keeps header, question and the OPT reservation, sets
 * TC; records may then be added again from the answer section. */
void moon_pktw_truncate(struct moon_pktw *w);
/* Writes counts and the OPT record; returns the message length (never
 * above limit). Call once, last. */
size_t moon_pktw_finish(struct moon_pktw *w);

#endif
