#include <stdlib.h>

#include "tap.h"
#include "util/err.h"
#include "wire/pkt.h"
#include "wire/wire.h"

/* One decoded record of a response: owner and the names in its RDATA. */
struct rec {
	uint8_t owner[MOON_NAME_MAXLEN];
	uint16_t type;
	uint32_t ttl;
	uint8_t rdname[2][MOON_NAME_MAXLEN];
	const uint8_t *rdata;   /* as written (names maybe compressed) */
	uint16_t rdlen;
};

static struct rec recs[8000];

/* Decodes every record of msg with moon_name_unpack, names in RDATA too;
 * returns the record count, or -1 when anything does not decode. */
static int decode(const uint8_t *msg, size_t len)
{
	size_t pos = MOON_HDR_LEN;
	uint8_t q[MOON_NAME_MAXLEN];
	unsigned qd = moon_get_u16(msg + 4);
	unsigned n = moon_get_u16(msg + 6) + moon_get_u16(msg + 8) + moon_get_u16(msg + 10);
	if (qd && (moon_name_unpack(msg, len, &pos, q) < 0 || (pos += 4) > len))
		return -1;
	if (n > sizeof(recs) / sizeof(recs[0]))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct rec *r = &recs[i];
		if (moon_name_unpack(msg, len, &pos, r->owner) < 0 || pos + 10 > len)
			return -1;
		r->type = moon_get_u16(msg + pos);
		r->ttl = moon_get_u32(msg + pos + 4);
		r->rdlen = moon_get_u16(msg + pos + 8);
		pos += 10;
		r->rdata = msg + pos;
		size_t end = pos + r->rdlen, p = pos;
		if (end > len)
			return -1;
		switch (r->type) {
		case MOON_T_MX:
			p += 2;
			/* fall through */
		case MOON_T_NS: case MOON_T_CNAME: case MOON_T_PTR:
			if (moon_name_unpack(msg, len, &p, r->rdname[0]) < 0 || p != end)
				return -1;
			break;
		case MOON_T_SOA:
			if (moon_name_unpack(msg, len, &p, r->rdname[0]) < 0 ||
			    moon_name_unpack(msg, len, &p, r->rdname[1]) < 0 || p + 20 != end)
				return -1;
			break;
		}
		pos = end;
	}
	return pos == len ? (int)n : -1;
}

static uint8_t qbuf[512];
static struct moon_pkt q;

/* Parses a query for `name` (text) type A, with RD and CD set, id 0xbeef. */
static void make_query(const char *text, uint16_t qtype)
{
	uint8_t nm[MOON_NAME_MAXLEN];
	int n = moon_name_from_text(text, NULL, nm);
	if (n < 0)
		abort();
	memset(qbuf, 0, MOON_HDR_LEN);
	moon_put_u16(qbuf, 0xbeef);
	moon_put_u16(qbuf + 2, MOON_FLAG_RD | MOON_FLAG_CD | MOON_FLAG_AD);
	moon_put_u16(qbuf + 4, 1);
	memcpy(qbuf + MOON_HDR_LEN, nm, (size_t)n);
	moon_put_u16(qbuf + MOON_HDR_LEN + n, qtype);
	moon_put_u16(qbuf + MOON_HDR_LEN + n + 2, MOON_CLASS_IN);
	if (moon_pkt_parse(&q, qbuf, MOON_HDR_LEN + (size_t)n + 4) != 0)
		abort();
}

static const uint8_t *N(const char *text)
{
	static uint8_t bufs[8][MOON_NAME_MAXLEN];
	static int i;
	uint8_t *b = bufs[i++ % 8];
	if (moon_name_from_text(text, NULL, b) < 0)
		abort();
	return b;
}

static uint8_t out[MOON_MAX_MSG];
static struct moon_pktw w;

static void test_begin(void)
{
	make_query("WwW.ExAmple.com.", MOON_T_A);
	moon_pktw_begin(&w, out, 512, &q);
	size_t len = moon_pktw_finish(&w);
	is_int(len, 33, "header + question");
	is_int(moon_get_u16(out), 0xbeef, "id copied");
	is_int(moon_get_u16(out + 2), MOON_FLAG_QR | MOON_FLAG_RD | MOON_FLAG_CD,
	       "QR set, RD and CD copied, AD not");
	is_int(moon_get_u16(out + 4), 1, "QDCOUNT 1");
	is_mem(out + 12, "\3WwW\7ExAmple\3com\0\0\1\0\1", 21, "question as received");

	moon_put_u16(qbuf + 2, MOON_OP_NOTIFY << 11);
	moon_pkt_parse(&q, qbuf, q.len);
	moon_pktw_begin(&w, out, 512, &q);
	moon_pktw_finish(&w);
	is_int(moon_get_u16(out + 2), MOON_FLAG_QR | MOON_OP_NOTIFY << 11, "opcode copied");

	/* A question compressed into the header is written out in full. */
	static const uint8_t odd[] = "\1A\0\0\0\1\0\0\0\0\0\0\xc0\x00\0\1\0\1";
	is_int(moon_pkt_parse(&q, odd, sizeof(odd) - 1), 0, "odd query parses");
	moon_pktw_begin(&w, out, 512, &q);
	len = moon_pktw_finish(&w);
	is_int(len, 12 + 3 + 4, "question decompressed");
	is_mem(out + 12, "\1A\0\0\1\0\1", 7, "question written literally");

	struct moon_pkt bad;
	moon_pkt_parse(&bad, (const uint8_t *)"\1\2\3", 3);
	moon_pktw_begin(&w, out, 512, &bad);
	is_int(moon_pktw_finish(&w), 12, "no header: bare header");
	is_int(moon_get_u16(out + 4), 0, "no question");
	is_int(moon_pktw_put_rr(&w, 0, NULL, MOON_T_A, 1, 0, (const uint8_t *)"abcd", 4),
	       -EINVAL, "owner NULL without a question");
}

static void test_answer(void)
{
	make_query("www.example.com.", MOON_T_A);
	moon_pktw_begin(&w, out, 512, &q);
	is_int(moon_pktw_put_rr(&w, MOON_SEC_ANSWER, NULL, MOON_T_A, MOON_CLASS_IN, 3600,
				(const uint8_t *)"\xc0\x00\x02\x01", 4), 0, "put A");
	size_t len = moon_pktw_finish(&w);
	is_int(len, 33 + 16, "A answer length");
	is_mem(out + 33, "\xc0\x0c\0\1\0\1\0\0\x0e\x10\0\4\xc0\0\2\1", 16,
	       "owner is a pointer to the question");
	is_int(moon_get_u16(out + 6), 1, "ANCOUNT 1");
	struct moon_pkt r;
	is_int(moon_pkt_parse(&r, out, len), 0, "response parses");
	is_int(decode(out, len), 1, "decodes");
	ok(moon_name_equal(recs[0].owner, q.qname), "owner decodes to the qname");

	moon_pktw_begin(&w, out, 512, &q);
	is_int(moon_pktw_put_rr(&w, 0, NULL, 65280, MOON_CLASS_IN, 0, NULL, 0), 0,
	       "empty RDATA");
	len = moon_pktw_finish(&w);
	is_int(len, 33 + 12, "empty RDATA length");
	is_int(moon_get_u16(out + len - 2), 0, "RDLENGTH 0");

	/* A set of three: each owner a 2-byte pointer. */
	static const uint8_t rd[] = "\0\4\1\1\1\1\0\4\2\2\2\2\0\4\3\3\3\3";
	struct moon_rrset rs = { .type = MOON_T_A, .count = 3, .ttl = 60, .rdata = rd,
				 .rdata_len = 18 };
	moon_pktw_begin(&w, out, 512, &q);
	is_int(moon_pktw_put_rrset(&w, MOON_SEC_ANSWER, N("WWW.example.com."), &rs), 0,
	       "put rrset");
	len = moon_pktw_finish(&w);
	is_int(len, 33 + 3 * 16, "three A records, all owners compressed");
	is_int(decode(out, len), 3, "three records decode");
	ok(memcmp(recs[2].rdata, "\3\3\3\3", 4) == 0 && recs[2].ttl == 60, "third rdata and ttl");
}

static void test_compression(void)
{
	make_query("www.example.com.", MOON_T_NS);
	moon_pktw_begin(&w, out, 512, &q);
	static const uint8_t ns[] = "\0\021\3ns1\7example\3com\0\0\021\3NS2\7EXAMPLE\3COM\0";
	struct moon_rrset rs = { .type = MOON_T_NS, .count = 2, .ttl = 86400, .rdata = ns,
				 .rdata_len = sizeof(ns) - 1 };
	is_int(moon_pktw_put_rrset(&w, MOON_SEC_AUTHORITY, N("example.com."), &rs), 0, "NS set");
	is_mem(out + 33, "\xc0\x10", 2, "owner example.com -> offset 16");
	is_mem(out + 33 + 12, "\3ns1\xc0\x10", 6, "rdata ns1 + pointer");
	is_int(moon_get_u16(out + 33 + 10), 6, "rdlength patched");
	static const uint8_t glue[] = "\xc0\0\2\1";
	is_int(moon_pktw_put_rr(&w, MOON_SEC_ADDITIONAL, N("NS1.example.com."), MOON_T_A, 1, 60,
				glue, 4), 0, "glue");
	is_mem(out + w.len - 16, "\xc0\x2d", 2, "glue owner points into NS rdata");
	static const uint8_t mx[] = "\0\012\4mail\7example\3com\0";
	is_int(moon_pktw_put_rr(&w, MOON_SEC_ADDITIONAL, N("example.com."), MOON_T_MX, 1, 60,
				mx, sizeof(mx) - 1), 0, "MX");
	static const uint8_t srv[] = "\0\1\0\2\0\3\3ns1\7example\3com\0";
	is_int(moon_pktw_put_rr(&w, MOON_SEC_ADDITIONAL, N("_x._tcp.example.com."), MOON_T_SRV, 1,
				60, srv, sizeof(srv) - 1), 0, "SRV");
	is_mem(out + w.len - (sizeof(srv) - 1), srv, sizeof(srv) - 1, "SRV rdata not compressed");
	static const uint8_t cname[] = "\3www\5other\3org\0";
	is_int(moon_pktw_put_rr(&w, MOON_SEC_ADDITIONAL, N("a.example.com."), MOON_T_CNAME, 1, 60,
				cname, sizeof(cname) - 1), 0, "CNAME");
	static const uint8_t soa[] = "\3ns1\7example\3com\0\4host\5other\3org\0"
				     "\0\0\0\1\0\0\0\2\0\0\0\3\0\0\0\4\0\0\0\5";
	is_int(moon_pktw_put_rr(&w, MOON_SEC_ADDITIONAL, N("example.com."), MOON_T_SOA, 1, 60,
				soa, sizeof(soa) - 1), 0, "SOA");
	is_int(moon_get_u16(out + w.len - 31), 2 + 7 + 20, "SOA rdlength: both names compressed");
	static const uint8_t dname[] = "\7example\3com\0";
	is_int(moon_pktw_put_rr(&w, MOON_SEC_ADDITIONAL, N("d.example.com."), MOON_T_DNAME, 1, 60,
				dname, sizeof(dname) - 1), 0, "DNAME");
	is_mem(out + w.len - 13, dname, 13, "DNAME rdata not compressed");
	size_t len = moon_pktw_finish(&w);

	is_int(decode(out, len), 8, "all eight records decode");
	ok(moon_name_equal(recs[0].owner, N("example.com.")), "NS owner");
	ok(moon_name_equal(recs[1].rdname[0], N("ns2.example.com.")), "NS 2 target");
	is_mem(recs[1].rdname[0], "\3NS2", 4, "case of rdata kept where written");
	ok(moon_name_equal(recs[2].owner, N("ns1.example.com.")), "glue owner");
	ok(moon_name_equal(recs[3].rdname[0], N("mail.example.com.")), "MX exchange");
	is_int(moon_get_u16(recs[3].rdata), 10, "MX preference");
	ok(moon_name_equal(recs[4].owner, N("_x._tcp.example.com.")), "SRV owner");
	ok(moon_name_equal(recs[5].rdname[0], N("www.other.org.")), "CNAME target");
	ok(moon_name_equal(recs[6].rdname[0], N("ns1.example.com.")), "SOA mname");
	ok(moon_name_equal(recs[6].rdname[1], N("host.other.org.")), "SOA rname");
	is_mem(recs[6].rdata + recs[6].rdlen - 20, soa + sizeof(soa) - 21, 20, "SOA numbers");
	ok(moon_name_equal(recs[7].owner, N("d.example.com.")), "DNAME owner");
	struct moon_pkt r;
	is_int(moon_pkt_parse(&r, out, len), 0, "whole response parses");
	is_int(r.nscount, 2, "NSCOUNT");
	is_int(r.arcount, 6, "ARCOUNT");

	/* Bad RDATA layout in a compressible type is copied as it is. */
	moon_pktw_begin(&w, out, 512, &q);
	static const uint8_t badns[] = "\5ab";
	is_int(moon_pktw_put_rr(&w, 0, NULL, MOON_T_NS, 1, 0, badns, 3), 0, "broken NS rdata");
	is_mem(out + w.len - 3, badns, 3, "copied verbatim");
	is_int(moon_pktw_put_rr(&w, 0, NULL, MOON_T_MX, 1, 0, badns, 1), 0, "short MX rdata");
	is_int(moon_pktw_put_rr(&w, 0, NULL, MOON_T_SOA, 1, 0, soa, sizeof(soa) - 2), 0,
	       "short SOA rdata");
}

static void test_rollback(void)
{
	make_query("www.example.com.", MOON_T_A);
	/* 33 question + 11 OPT: 112 - 44 = 68 bytes for records. */
	moon_pktw_begin(&w, out, 112, &q);
	moon_pktw_add_opt(&w, 1232, true);
	ok(w.has_opt, "OPT reserved");
	static const uint8_t ns[] = "\0\021\3ns1\7example\3com\0\0\021\3ns2\7example\3net\0";
	struct moon_rrset rs = { .type = MOON_T_NS, .count = 2, .ttl = 1, .rdata = ns,
				 .rdata_len = sizeof(ns) - 1 };
	/* owner "zone.example.com" (7) + 10 + 6, then 2 + 10 + 17: 52 bytes. */
	is_int(moon_pktw_put_rrset(&w, 1, N("zone.example.com."), &rs), 0, "NS set fits");
	size_t len = w.len;
	uint16_t ncompr = w.ncompr;
	is_int(moon_pktw_put_rrset(&w, 1, N("other.example.com."), &rs), MOON_ESPACE,
	       "second set does not fit");
	is_int(w.len, len, "len rolled back");
	is_int(w.ncompr, ncompr, "compression table rolled back");
	is_int(w.counts[1], 2, "count rolled back");
	is_int(moon_pktw_put_rr(&w, 2, NULL, MOON_T_A, 1, 0, (const uint8_t *)"abcd", 4),
	       0, "a 16-byte record still fits exactly");
	is_int(w.len, 112 - 11, "message full up to the OPT reservation");
	is_int(moon_pktw_put_rr(&w, 2, NULL, MOON_T_A, 1, 0, (const uint8_t *)"", 0),
	       MOON_ESPACE, "not one byte more");
	len = moon_pktw_finish(&w);
	is_int(len, 112, "finish fills the limit exactly");
	is_int(decode(out, len), 4, "decodes (OPT counted)");
	struct moon_pkt r;
	is_int(moon_pkt_parse(&r, out, len), 0, "parses");
	ok(r.edns.present && r.edns.do_bit && r.edns.payload == 1232, "OPT is there");

	/* A failed set whose names would have been compression targets must
	 * not leave them behind: the next set reuses the same offsets. */
	/* The first record (59 bytes) fits, the second (16) does not. */
	moon_pktw_begin(&w, out, 100, &q);
	struct moon_rrset bs = { .type = MOON_T_NS, .count = 2, .ttl = 1 };
	bs.rdata = (const uint8_t *)"\0\x2f\1a\1b\1c\1d\1e\1f\1g\1h\1i\1j\1k\1l\1m\1n\1o\1p"
		   "\1q\1r\1s\1t\1u\1v\1w\0" "\0\x2f\1z\1b\1c\1d\1e\1f\1g\1h\1i\1j\1k\1l\1m\1n"
		   "\1o\1p\1q\1r\1s\1t\1u\1v\1w\0";
	bs.rdata_len = 2 * (2 + 47);
	is_int(moon_pktw_put_rrset(&w, 0, NULL, &bs), MOON_ESPACE, "big set fails");
	is_int(w.ncompr, w.ncompr_question, "only the question's entries left");
	static const uint8_t cn[] = "\1y\1w\0";
	is_int(moon_pktw_put_rr(&w, 0, NULL, MOON_T_CNAME, 1, 0, cn, 5), 0, "CNAME y.w.");
	len = moon_pktw_finish(&w);
	is_int(decode(out, len), 1, "decodes");
	ok(moon_name_equal(recs[0].rdname[0], N("y.w.")), "no pointer into rolled-back data");
}

static void test_opt(void)
{
	make_query("www.example.com.", MOON_T_A);
	moon_pktw_begin(&w, out, 512, &q);
	moon_pktw_add_opt(&w, 1232, false);
	is_int(moon_pktw_add_opt_option(&w, MOON_EDNS_NSID, "moon1", 5), 0, "NSID option");
	is_int(w.reserve, 11 + 9, "reservation grew");
	int n = 0, r;
	while ((r = moon_pktw_put_rr(&w, 0, NULL, MOON_T_A, 1, 0,
				     (const uint8_t *)"abcd", 4)) == 0)
		n++;
	is_int(r, MOON_ESPACE, "filled up");
	is_int(n, (512 - 33 - 20) / 16, "as many A records as fit before the OPT");
	size_t len = moon_pktw_finish(&w);
	ok(len <= 512, "within limit");
	struct moon_pkt p;
	is_int(moon_pkt_parse(&p, out, len), 0, "full response parses");
	ok(p.edns.present && p.edns.payload == 1232 && !p.edns.do_bit, "OPT fields");
	const uint8_t *d;
	is_int(moon_pkt_edns_option(&p, MOON_EDNS_NSID, &d), 5, "NSID in response");
	ok(memcmp(d, "moon1", 5) == 0, "NSID data");

	uint8_t big[64] = { 0 };
	is_int(moon_pktw_add_opt_option(&w, 1, big, 61), MOON_ESPACE, "opt_data is bounded");

	moon_pktw_begin(&w, out, 512, &q);
	is_int(moon_pktw_add_opt_option(&w, MOON_EDNS_NSID, "x", 1), -EINVAL, "option needs OPT");
	moon_pktw_add_opt(&w, 512, true);
	moon_pktw_set_rcode(&w, MOON_RCODE_BADVERS);
	len = moon_pktw_finish(&w);
	moon_pkt_parse(&p, out, len);
	is_int(p.flags & 0xf, 0, "BADVERS: header rcode 0");
	is_int(p.edns.ext_rcode, 1, "BADVERS: ext rcode 1");

	moon_pktw_begin(&w, out, 512, &q);
	moon_pktw_set_rcode(&w, MOON_RCODE_BADVERS);
	len = moon_pktw_finish(&w);
	is_int(out[3] & 0xf, MOON_RCODE_SERVFAIL, "extended rcode without OPT: SERVFAIL");
	moon_pktw_begin(&w, out, 512, &q);
	moon_pktw_set_rcode(&w, MOON_RCODE_NXDOMAIN);
	moon_pktw_set_flag(&w, MOON_FLAG_AA, true);
	moon_pktw_finish(&w);
	is_int(moon_get_u16(out + 2) & 0x0f, MOON_RCODE_NXDOMAIN, "NXDOMAIN");
	ok(moon_get_u16(out + 2) & MOON_FLAG_AA, "AA set");
	moon_pktw_set_flag(&w, MOON_FLAG_AA, false);
	ok(!(moon_get_u16(out + 2) & MOON_FLAG_AA), "AA cleared");

	/* An OPT that cannot fit at all is not added. */
	moon_pktw_begin(&w, out, 40, &q);
	moon_pktw_add_opt(&w, 512, false);
	ok(!w.has_opt, "no room for OPT");
	is_int(moon_pktw_finish(&w), 33, "nothing added");
}

static void test_truncate_order(void)
{
	make_query("www.example.com.", MOON_T_A);
	moon_pktw_begin(&w, out, 512, &q);
	moon_pktw_add_opt(&w, 1232, false);
	moon_pktw_put_rr(&w, 0, N("a.example.com."), MOON_T_A, 1, 0, (const uint8_t *)"abcd", 4);
	moon_pktw_put_rr(&w, 2, NULL, MOON_T_A, 1, 0, (const uint8_t *)"abcd", 4);
	is_int(moon_pktw_put_rr(&w, 1, NULL, MOON_T_A, 1, 0, (const uint8_t *)"abcd", 4),
	       -EINVAL, "authority after additional refused");
	is_int(moon_pktw_put_rr(&w, 3, NULL, MOON_T_A, 1, 0, (const uint8_t *)"abcd", 4),
	       -EINVAL, "no section 3");
	moon_pktw_truncate(&w);
	is_int(w.len, 33, "truncate keeps the question");
	ok(moon_get_u16(out + 2) & MOON_FLAG_TC, "TC set");
	is_int(w.ncompr, 3, "question's compression entries kept");
	is_int(moon_pktw_put_rr(&w, 0, N("b.example.com."), MOON_T_A, 1, 0,
				(const uint8_t *)"abcd", 4), 0, "answer again after truncate");
	size_t len = moon_pktw_finish(&w);
	is_int(decode(out, len), 2, "decodes");
	ok(moon_name_equal(recs[0].owner, N("b.example.com.")), "owner after truncate");
	is_int(moon_get_u16(out + 6), 1, "ANCOUNT 1");
	is_int(moon_get_u16(out + 10), 1, "ARCOUNT 1 (OPT)");
}

static void test_many_names(void)
{
	/* More names than compression slots, past offset 0x3fff. */
	make_query("q.example.com.", MOON_T_A);
	moon_pktw_begin(&w, out, MOON_MAX_MSG, &q);
	moon_pktw_add_opt(&w, 65535, false);
	char text[64];
	int n = 0, r = 0;
	for (int i = 0; r == 0; i++) {
		uint8_t rd[2 + MOON_NAME_MAXLEN];
		snprintf(text, sizeof(text), "t%d.s%d.example.com.", i, i % 5);
		int l = moon_name_from_text(text, NULL, rd);
		snprintf(text, sizeof(text), "h%d.s%d.example.com.", i, i % 7);
		r = moon_pktw_put_rr(&w, 0, N(text), i % 3 ? MOON_T_CNAME : MOON_T_SRV, 1,
				     (uint32_t)i, rd, (uint16_t)l);
		if (r == 0)
			n++;
	}
	is_int(r, MOON_ESPACE, "filled 64 KiB");
	ok(n > 1000, "over a thousand records");
	size_t len = moon_pktw_finish(&w);
	ok(len <= MOON_MAX_MSG && len > 0x4000, "beyond pointer range, within limit");
	is_int(decode(out, len), n + 1, "every record decodes");
	int good = 1;
	for (int i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "h%d.s%d.example.com.", i, i % 7);
		if (!moon_name_equal(recs[i].owner, N(text)) || recs[i].ttl != (uint32_t)i)
			good = 0;
		snprintf(text, sizeof(text), "t%d.s%d.example.com.", i, i % 5);
		if (i % 3 && !moon_name_equal(recs[i].rdname[0], N(text)))
			good = 0;
	}
	ok(good, "owners and targets decode to what was put");
	struct moon_pkt p;
	is_int(moon_pkt_parse(&p, out, len), 0, "parses");
}

int main(void)
{
	test_begin();
	test_answer();
	test_compression();
	test_rollback();
	test_opt();
	test_truncate_order();
	test_many_names();
	return tap_done();
}
