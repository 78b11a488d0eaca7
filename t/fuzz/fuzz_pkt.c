/*
 * Fuzz target for the packet parser and the response writer. The input is
 * parsed as a query; when it parses, a response echoing its question is
 * built into a 512-byte and a 65535-byte buffer with an OPT record and
 * synthetic records whose names come from the question, and the output is
 * checked: within the limit, parses again, every name decodes to what was
 * put. Any broken invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/pkt.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* The names the synthetic records use, all derived from the question. */
struct names {
	const uint8_t *qname;
	uint8_t ns[MOON_NAME_MAXLEN];       /* "ns1." + qname when it fits */
	const uint8_t *parent;
	uint8_t rd_ns[2 + MOON_NAME_MAXLEN * 2 + 4];
	uint16_t rd_ns_len;
	uint8_t rd_soa[MOON_NAME_MAXLEN * 2 + 20];
	uint16_t rd_soa_len;
	uint8_t rd_mx[2 + MOON_NAME_MAXLEN];
	uint16_t rd_mx_len;
};

static void make_names(struct names *n, const struct moon_pkt *q)
{
	n->qname = q->qname;
	n->parent = moon_name_parent(q->qname);
	size_t ql = q->qname_len;
	if (ql + 4 <= MOON_NAME_MAXLEN) {
		memcpy(n->ns, "\3ns1", 4);
		memcpy(n->ns + 4, q->qname, ql);
	} else {
		memcpy(n->ns, q->qname, ql);
	}
	size_t nl = moon_name_len(n->ns);
	/* Two NS records: ns and the question name itself. */
	uint8_t *p = n->rd_ns;
	moon_put_u16(p, (uint16_t)nl);
	memcpy(p + 2, n->ns, nl);
	p += 2 + nl;
	moon_put_u16(p, (uint16_t)ql);
	memcpy(p + 2, q->qname, ql);
	n->rd_ns_len = (uint16_t)(4 + nl + ql);
	/* SOA: mname = qname, rname = parent, five numbers. */
	size_t pl = moon_name_len(n->parent);
	memcpy(n->rd_soa, q->qname, ql);
	memcpy(n->rd_soa + ql, n->parent, pl);
	memset(n->rd_soa + ql + pl, 0x5a, 20);
	n->rd_soa_len = (uint16_t)(ql + pl + 20);
	moon_put_u16(n->rd_mx, 10);
	memcpy(n->rd_mx + 2, n->ns, nl);
	n->rd_mx_len = (uint16_t)(2 + nl);
}

/* Puts the synthetic records; stops (with TC) at the first that does not fit. */
static void put_records(struct moon_pktw *w, const struct names *n)
{
	static const uint8_t rd_a[] = "\0\4\xc0\0\2\1\0\4\xc0\0\2\2";
	const struct moon_rrset a = { .type = MOON_T_A, .count = 2, .ttl = 300,
				      .rdata = rd_a, .rdata_len = 12 };
	const struct moon_rrset ns = { .type = MOON_T_NS, .count = 2, .ttl = 3600,
				       .rdata = n->rd_ns, .rdata_len = n->rd_ns_len };
	int r = moon_pktw_put_rrset(w, MOON_SEC_ANSWER, NULL, &a);
	if (!r)
		r = moon_pktw_put_rr(w, MOON_SEC_ANSWER, n->qname, MOON_T_MX, MOON_CLASS_IN, 60,
				     n->rd_mx, n->rd_mx_len);
	if (!r)
		r = moon_pktw_put_rr(w, MOON_SEC_AUTHORITY, n->parent, MOON_T_SOA, MOON_CLASS_IN,
				     60, n->rd_soa, n->rd_soa_len);
	if (!r)
		r = moon_pktw_put_rrset(w, MOON_SEC_AUTHORITY, n->parent, &ns);
	if (!r)
		r = moon_pktw_put_rr(w, MOON_SEC_ADDITIONAL, n->ns, MOON_T_SRV, MOON_CLASS_IN, 60,
				     n->rd_mx, n->rd_mx_len);
	if (!r)
		r = moon_pktw_put_rrset(w, MOON_SEC_ADDITIONAL, n->ns, &a);
	CHECK(r == 0 || r == MOON_ESPACE);
	if (r == MOON_ESPACE)
		moon_pktw_truncate(w);
}

static void expect_name(const uint8_t *msg, size_t len, size_t *pos, const uint8_t *want)
{
	uint8_t got[MOON_NAME_MAXLEN];
	int n = moon_name_unpack(msg, len, pos, got);
	CHECK(n > 0 && moon_name_equal(got, want));
}

/* Decodes the records the writer produced and compares them with the input. */
static void check_records(const uint8_t *msg, size_t len, const struct names *n, size_t pos)
{
	unsigned count = moon_get_u16(msg + 6) + moon_get_u16(msg + 8) + moon_get_u16(msg + 10);
	for (unsigned i = 0; i < count; i++) {
		uint8_t owner[MOON_NAME_MAXLEN];
		CHECK(moon_name_unpack(msg, len, &pos, owner) > 0 && pos + 10 <= len);
		uint16_t type = moon_get_u16(msg + pos);
		size_t end = pos + 10 + moon_get_u16(msg + pos + 8);
		CHECK(end <= len);
		size_t p = pos + 10;
		switch (type) {
		case MOON_T_A:
			CHECK(moon_name_equal(owner, n->qname) || moon_name_equal(owner, n->ns));
			break;
		case MOON_T_MX:
			p += 2;
			expect_name(msg, len, &p, n->ns);
			CHECK(p == end);
			break;
		case MOON_T_SRV:
			/* Never compressed: the bytes are exactly the input. */
			CHECK(end - p == n->rd_mx_len && !memcmp(msg + p, n->rd_mx, n->rd_mx_len));
			break;
		case MOON_T_SOA:
			CHECK(moon_name_equal(owner, n->parent));
			expect_name(msg, len, &p, n->qname);
			expect_name(msg, len, &p, n->parent);
			CHECK(p + 20 == end);
			break;
		case MOON_T_NS: {
			uint8_t t[MOON_NAME_MAXLEN];
			CHECK(moon_name_unpack(msg, len, &p, t) > 0 && p == end);
			CHECK(moon_name_equal(t, n->ns) || moon_name_equal(t, n->qname));
			break;
		}
		case MOON_T_OPT:
			CHECK(owner[0] == 0 && i == count - 1);
			break;
		default:
			abort();
		}
		pos = end;
	}
	CHECK(pos == len);
}

static void respond(const struct moon_pkt *q, uint8_t *buf, size_t limit)
{
	struct moon_pktw w;
	struct names n;
	moon_pktw_begin(&w, buf, limit, q);
	moon_pktw_add_opt(&w, 1232, q->edns.do_bit);
	CHECK(w.has_opt);
	int r = moon_pktw_add_opt_option(&w, MOON_EDNS_NSID, "fuzz", 4);
	CHECK(r == 0 || r == MOON_ESPACE);
	if (q->edns.version > 0)
		moon_pktw_set_rcode(&w, MOON_RCODE_BADVERS);
	make_names(&n, q);
	put_records(&w, &n);
	CHECK(w.len + w.reserve <= limit);
	size_t len = moon_pktw_finish(&w);
	CHECK(len <= limit && len == w.len);

	struct moon_pkt p;
	CHECK(moon_pkt_parse(&p, buf, len) == 0);
	CHECK(p.id == q->id && (p.flags & MOON_FLAG_QR) && p.opcode == q->opcode);
	CHECK(p.qname_len == q->qname_len && !memcmp(p.qname, q->qname, q->qname_len));
	CHECK(p.qtype == q->qtype && p.qclass == q->qclass);
	CHECK(p.edns.present && p.edns.payload == 1232 && p.edns.do_bit == q->edns.do_bit);
	CHECK((p.edns.ext_rcode << 4 | (p.flags & 0xf)) ==
	      (q->edns.version > 0 ? MOON_RCODE_BADVERS : 0));
	check_records(buf, len, &n, p.question_end);
}

/* A response to a malformed query: header and maybe question, no records. */
static void respond_formerr(const struct moon_pkt *q, uint8_t *buf)
{
	struct moon_pktw w;
	moon_pktw_begin(&w, buf, MOON_UDP_MIN_PAYLOAD, q);
	moon_pktw_set_rcode(&w, MOON_RCODE_FORMERR);
	size_t len = moon_pktw_finish(&w);
	CHECK(len <= MOON_UDP_MIN_PAYLOAD);
	struct moon_pkt p;
	CHECK(moon_pkt_parse(&p, buf, len) == 0 || !q->question_ok);
	CHECK(p.id == q->id && (p.flags & 0xf) == MOON_RCODE_FORMERR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t small[MOON_UDP_MIN_PAYLOAD], large[MOON_MAX_MSG];
	struct moon_pkt q;
	int r = moon_pkt_parse(&q, data, size);
	CHECK(r == 0 || r == MOON_EMALF);
	if (r == 0 && q.question_ok) {
		CHECK(q.header_ok && q.question_end <= size && q.qname_len >= 1);
		CHECK(moon_name_len(q.qname) == q.qname_len);
		const uint8_t *opt;
		int olen = moon_pkt_edns_option(&q, MOON_EDNS_COOKIE, &opt);
		CHECK(olen < 0 || (opt >= data && opt + olen <= data + size));
		respond(&q, small, sizeof(small));
		respond(&q, large, sizeof(large));
	} else if (q.header_ok) {
		respond_formerr(&q, small);
	}
	return 0;
}
