/*
 * Tests for src/fwd/msg.c: the upstream query, which replies are accepted
 * (RFC 5452 matching), scrubbing of out-of-bailiwick and unsolicited
 * records, and the per-client patch.
 */
#include <string.h>

#include "fwd/msg.h"
#include "tap.h"
#include "util/err.h"
#include "wire/pkt.h"
#include "wire/wire.h"

/* ---- a small message builder ---- */

struct tb {
	uint8_t b[8192];
	size_t len;
	uint16_t counts[3];
};

static size_t put_name(struct tb *t, const char *text)
{
	uint8_t wire[MOON_NAME_MAXLEN];
	int n = moon_name_from_text(text, NULL, wire);
	memcpy(t->b + t->len, wire, (size_t)n);
	t->len += (size_t)n;
	return (size_t)n;
}

static void tb_begin(struct tb *t, uint16_t id, uint16_t flags, const char *qname, uint16_t qtype)
{
	memset(t, 0, sizeof(*t));
	moon_put_u16(t->b, id);
	moon_put_u16(t->b + 2, flags);
	moon_put_u16(t->b + 4, 1);
	t->len = 12;
	put_name(t, qname);
	moon_put_u16(t->b + t->len, qtype);
	moon_put_u16(t->b + t->len + 2, MOON_CLASS_IN);
	t->len += 4;
}

static void tb_counts(struct tb *t)
{
	moon_put_u16(t->b + 6, t->counts[0]);
	moon_put_u16(t->b + 8, t->counts[1]);
	moon_put_u16(t->b + 10, t->counts[2]);
}

/* owner NULL: a pointer to the question name. Returns the offset of the
 * record's RDATA. */
static size_t tb_rr(struct tb *t, int sec, const char *owner, uint16_t type, const void *rdata,
		    uint16_t rdlen)
{
	if (owner) {
		put_name(t, owner);
	} else {
		t->b[t->len++] = 0xc0;
		t->b[t->len++] = 12;
	}
	uint8_t *p = t->b + t->len;
	moon_put_u16(p, type);
	moon_put_u16(p + 2, MOON_CLASS_IN);
	moon_put_u16(p + 4, 0);
	moon_put_u16(p + 6, 300);
	moon_put_u16(p + 8, rdlen);
	memcpy(p + 10, rdata, rdlen);
	t->len += 10u + rdlen;
	t->counts[sec]++;
	tb_counts(t);
	return t->len - rdlen;
}

static void tb_a(struct tb *t, int sec, const char *owner, uint8_t last)
{
	uint8_t ip[4] = { 192, 0, 2, last };
	tb_rr(t, sec, owner, MOON_T_A, ip, 4);
}

/* A record whose RDATA is one uncompressed name. */
static void tb_name_rr(struct tb *t, int sec, const char *owner, uint16_t type, const char *target)
{
	uint8_t wire[MOON_NAME_MAXLEN];
	int n = moon_name_from_text(target, NULL, wire);
	tb_rr(t, sec, owner, type, wire, (uint16_t)n);
}

static void tb_soa(struct tb *t, int sec, const char *owner)
{
	uint8_t rd[2 * MOON_NAME_MAXLEN + 20];
	int n = moon_name_from_text("ns1.example.test.", NULL, rd);
	n += moon_name_from_text("host.example.test.", NULL, rd + n);
	memset(rd + n, 0, 20);
	rd[n + 19] = 60;
	tb_rr(t, sec, owner, MOON_T_SOA, rd, (uint16_t)(n + 20));
}

static void tb_opt(struct tb *t, uint8_t ext_rcode)
{
	uint8_t *p = t->b + t->len;
	p[0] = 0;
	moon_put_u16(p + 1, MOON_T_OPT);
	moon_put_u16(p + 3, 1232);
	p[5] = ext_rcode;
	p[6] = 0;
	moon_put_u16(p + 7, 0);
	moon_put_u16(p + 9, 0);
	t->len += 11;
	t->counts[2]++;
	tb_counts(t);
}

static const uint8_t root[] = { 0 };
static uint8_t zone_buf[MOON_NAME_MAXLEN];

static const uint8_t *zone(const char *text)
{
	moon_name_from_text(text, NULL, zone_buf);
	return zone_buf;
}

#define R (MOON_FLAG_QR | MOON_FLAG_RD | MOON_FLAG_RA)

/* ---- query ---- */

static size_t build(uint8_t *q, const char *name, uint16_t qtype, uint16_t id)
{
	uint8_t wire[MOON_NAME_MAXLEN];
	moon_name_from_text(name, NULL, wire);
	struct moon_fwd_qspec s = {
		.qname = wire, .qtype = qtype, .qclass = MOON_CLASS_IN, .rd = true, .ad = true,
		.do_bit = true, .payload = 1232,
	};
	return moon__fwd_build_query(q, id, &s);
}

static void test_query(void)
{
	uint8_t q[MOON_FWD_QMAX];
	size_t n = build(q, "WwW.Example.test.", MOON_T_AAAA, 0x1234);
	struct moon_pkt p;
	is_int(moon_pkt_parse(&p, q, n), 0, "built query parses");
	is_int(p.id, 0x1234, "ID");
	ok((p.flags & MOON_FLAG_RD) && (p.flags & MOON_FLAG_AD) && !(p.flags & MOON_FLAG_QR),
	   "RD and AD set, QR clear");
	is_int(p.qtype, MOON_T_AAAA, "qtype");
	ok(p.edns.present && p.edns.do_bit && p.edns.payload == 1232, "OPT with DO and payload");
	is_mem(p.qname, "\3WwW\7Example\4test", 18, "question case kept");
	moon__fwd_set_id(q, 0xbeef);
	is_int(moon_get_u16(q), 0xbeef, "ID rewritten");
	/* Labels of 63, 63, 63 and 61 octets: 255 with the length octets. */
	uint8_t big[MOON_NAME_MAXLEN];
	size_t off = 0;
	static const uint8_t labels[] = { 63, 63, 63, 61 };
	for (unsigned i = 0; i < 4; i++) {
		big[off++] = labels[i];
		memset(big + off, 'a', labels[i]);
		off += labels[i];
	}
	big[off] = 0;
	struct moon_fwd_qspec s = { .qname = big, .qtype = 1, .qclass = 1, .payload = 1232 };
	ok(moon__fwd_build_query(q, 1, &s) <= MOON_FWD_QMAX, "a 255-octet name fits MOON_FWD_QMAX");
}

/* ---- reply checks ---- */

static void test_check(void)
{
	uint8_t q[MOON_FWD_QMAX];
	size_t qlen = build(q, "www.Example.test.", MOON_T_A, 0x4444);
	uint16_t rcode = 99;
	struct tb t;

	tb_begin(&t, 0x4444, R, "www.Example.test.", MOON_T_A);
	tb_a(&t, 0, NULL, 1);
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_OK, "good reply");
	is_int(rcode, 0, "rcode 0");

	tb_begin(&t, 0x4445, R, "www.Example.test.", MOON_T_A);
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_MISMATCH,
	       "other ID: mismatch");
	tb_begin(&t, 0x4444, MOON_FLAG_RD, "www.Example.test.", MOON_T_A);
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_MISMATCH,
	       "QR clear: mismatch");
	tb_begin(&t, 0x4444, R | 0x2000, "www.Example.test.", MOON_T_A);
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_MISMATCH,
	       "other opcode: mismatch");
	tb_begin(&t, 0x4444, R, "www.example.test.", MOON_T_A);
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_MISMATCH,
	       "question in another case: mismatch");
	tb_begin(&t, 0x4444, R, "www.Example.test.", MOON_T_AAAA);
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_MISMATCH,
	       "other qtype: mismatch");
	tb_begin(&t, 0x4444, R, "www.Example.test.", MOON_T_A);
	moon_put_u16(t.b + t.len - 2, MOON_CLASS_CH);
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_MISMATCH,
	       "other class: mismatch");
	tb_begin(&t, 0x4444, R, "www.Example.test.", MOON_T_A);
	moon_put_u16(t.b + 4, 0);
	is_int(moon__fwd_check_reply(t.b, 12, q, qlen, &rcode), MOON_FWD_REPLY_MISMATCH,
	       "no question: mismatch");
	is_int(moon__fwd_check_reply(t.b, 7, q, qlen, &rcode), MOON_FWD_REPLY_MISMATCH,
	       "runt: mismatch");

	tb_begin(&t, 0x4444, R, "www.Example.test.", MOON_T_A);
	tb_a(&t, 0, NULL, 1);
	moon_put_u16(t.b + 6, 2);
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_MALFORMED,
	       "count beyond the records: malformed");
	tb_begin(&t, 0x4444, R | MOON_FLAG_TC, "www.Example.test.", MOON_T_A);
	moon_put_u16(t.b + 6, 5);       /* records cut off: fine with TC */
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_TC, "TC");

	tb_begin(&t, 0x4444, R | 7, "www.Example.test.", MOON_T_A);
	tb_opt(&t, 1);
	is_int(moon__fwd_check_reply(t.b, t.len, q, qlen, &rcode), MOON_FWD_REPLY_OK,
	       "extended rcode");
	is_int(rcode, 23, "rcode with the OPT bits (BADCOOKIE)");
}

/* ---- scrubbing ---- */

static uint8_t out[65536];
static struct moon_pkt op;

static int scrub(struct tb *t, const uint8_t *z, struct moon_fwd_scrub *sc)
{
	int n = moon__fwd_scrub(t->b, t->len, z, out, sizeof(out), sc);
	if (n > 0)
		moon_pkt_parse(&op, out, (size_t)n);
	return n;
}

/* The owner (text) and type of record i (0-based, all sections) of out. */
static bool rec_is(int n, unsigned i, const char *owner, uint16_t type)
{
	size_t pos = op.question_end;
	uint8_t name[MOON_NAME_MAXLEN], want[MOON_NAME_MAXLEN];
	for (unsigned k = 0;; k++) {
		if (moon_name_unpack(out, (size_t)n, &pos, name) < 0 || pos + 10 > (size_t)n)
			return false;
		uint16_t ty = moon_get_u16(out + pos);
		uint16_t rdlen = moon_get_u16(out + pos + 8);
		if (k == i) {
			moon_name_from_text(owner, NULL, want);
			return ty == type && moon_name_equal(name, want);
		}
		pos += 10u + rdlen;
	}
}

static void test_scrub_passthrough(void)
{
	struct tb t;
	struct moon_fwd_scrub sc;
	tb_begin(&t, 1, R, "www.example.test.", MOON_T_A);
	tb_a(&t, 0, NULL, 1);
	tb_soa(&t, 1, "example.test.");
	tb_opt(&t, 0);
	int n = scrub(&t, root, &sc);
	is_int(n, (int)t.len - 11, "nothing to scrub: same bytes less the OPT record");
	is_mem(out + 12, t.b + 12, (size_t)n - 12, "body unchanged");
	ok(op.arcount == 0 && op.ancount == 1 && op.nscount == 1, "ARCOUNT decremented");
	ok(sc.removed == 0 && sc.in_bailiwick, "nothing removed, in bailiwick");
}

static void test_scrub_unsolicited(void)
{
	struct tb t;
	struct moon_fwd_scrub sc;
	tb_begin(&t, 1, R, "www.example.test.", MOON_T_A);
	tb_a(&t, 0, "bank.test.", 66);          /* not asked for: poison */
	tb_a(&t, 0, NULL, 1);
	tb_a(&t, 2, "ns.bank.test.", 67);
	int n = scrub(&t, zone("example.test."), &sc);
	ok(n > 0 && op.ancount == 1 && op.arcount == 0,
	   "unsolicited answer and additional removed");
	ok(rec_is(n, 0, "www.example.test.", MOON_T_A), "the real answer kept");
	is_int(sc.removed, 2, "two removed");
	ok(sc.in_bailiwick, "what is left is in bailiwick");

	n = scrub(&t, root, &sc);
	ok(n > 0 && op.ancount == 1 && op.arcount == 1, "zone .: the unrelated answer still goes");
}

static void test_scrub_chain(void)
{
	struct tb t;
	struct moon_fwd_scrub sc;
	tb_begin(&t, 1, R, "www.example.test.", MOON_T_A);
	tb_a(&t, 0, "b.other.test.", 5);        /* before its CNAME: order does not matter */
	tb_name_rr(&t, 0, NULL, MOON_T_CNAME, "a.example.test.");
	tb_name_rr(&t, 0, "a.example.test.", MOON_T_CNAME, "b.other.test.");
	tb_a(&t, 0, "evil.test.", 6);
	tb_soa(&t, 1, "other.test.");           /* ancestor of the chain's end */
	tb_name_rr(&t, 1, "bank.test.", MOON_T_NS, "ns.bank.test.");
	tb_a(&t, 2, "b.other.test.", 5);
	tb_a(&t, 2, "ns.bank.test.", 7);
	int n = scrub(&t, zone("example.test."), &sc);
	ok(n > 0 && op.ancount == 3, "CNAME chain kept, leaving the zone included");
	ok(rec_is(n, 0, "b.other.test.", MOON_T_A) &&
	   rec_is(n, 1, "www.example.test.", MOON_T_CNAME) &&
	   rec_is(n, 2, "a.example.test.", MOON_T_CNAME), "in their order");
	ok(op.nscount == 1 && rec_is(n, 3, "other.test.", MOON_T_SOA),
	   "authority: the SOA above the chain's end kept, the foreign NS removed");
	ok(op.arcount == 1 && rec_is(n, 4, "b.other.test.", MOON_T_A),
	   "additional: chain name kept");
	is_int(sc.removed, 3, "three removed");
	ok(!sc.in_bailiwick, "the chain leaves the zone: not in bailiwick");
	is_int(moon_pkt_parse(&op, out, (size_t)n), 0, "rebuilt message parses");
}

static void test_scrub_authority(void)
{
	struct tb t;
	struct moon_fwd_scrub sc;
	tb_begin(&t, 1, R | MOON_RCODE_NXDOMAIN, "nx.example.test.", MOON_T_A);
	tb_soa(&t, 1, "example.test.");
	tb_name_rr(&t, 1, "example.test.", MOON_T_NS, "ns1.example.test.");
	tb_name_rr(&t, 1, "com.", MOON_T_NS, "ns.evil.test.");
	tb_a(&t, 2, "ns1.example.test.", 53);
	tb_a(&t, 2, "ns.evil.test.", 66);
	int n = scrub(&t, zone("example.test."), &sc);
	ok(n > 0 && op.nscount == 2 && op.arcount == 1, "in-zone SOA, NS and glue kept");
	ok(rec_is(n, 0, "example.test.", MOON_T_SOA) && rec_is(n, 1, "example.test.", MOON_T_NS) &&
	   rec_is(n, 2, "ns1.example.test.", MOON_T_A), "the right ones");
	ok((moon_get_u16(out + 2) & 0xf) == MOON_RCODE_NXDOMAIN, "rcode kept");
	ok((moon_get_u16(out + 2) & (MOON_FLAG_RA | MOON_FLAG_RD)) == (MOON_FLAG_RA | MOON_FLAG_RD),
	   "flags kept");
	ok(sc.in_bailiwick && sc.removed == 2, "two removed, rest in bailiwick");
}

static void test_scrub_dname(void)
{
	struct tb t;
	struct moon_fwd_scrub sc;
	tb_begin(&t, 1, R, "www.example.test.", MOON_T_A);
	tb_name_rr(&t, 0, "example.test.", MOON_T_DNAME, "other.test.");
	uint8_t sig[20] = { 0, MOON_T_DNAME };
	tb_rr(&t, 0, "example.test.", MOON_T_RRSIG, sig, sizeof(sig));
	tb_name_rr(&t, 0, NULL, MOON_T_CNAME, "www.other.test.");
	tb_a(&t, 0, "www.other.test.", 9);
	int n = scrub(&t, root, &sc);
	ok(n > 0 && op.ancount == 4 && sc.removed == 0, "DNAME, its RRSIG, CNAME and target kept");
	n = scrub(&t, zone("www.example.test."), &sc);
	ok(n > 0 && op.ancount == 2 && sc.removed == 2, "a DNAME owned above the zone is removed");
}

static void test_scrub_rebuild_names(void)
{
	struct tb t;
	struct moon_fwd_scrub sc;
	tb_begin(&t, 1, R, "example.test.", MOON_T_MX);
	tb_a(&t, 0, "junk.test.", 1);           /* removed: forces a rebuild */
	/* MX whose exchange is compressed: "mail" + pointer to example.test
	 * in the question. */
	uint8_t mx[] = { 0, 10, 4, 'm', 'a', 'i', 'l', 0xc0, 12 };
	tb_rr(&t, 0, NULL, MOON_T_MX, mx, sizeof(mx));
	/* SRV with a compressed target (not allowed, but seen): still read. */
	uint8_t srv[] = { 0, 1, 0, 2, 0, 53, 0xc0, 12 };
	tb_rr(&t, 0, NULL, MOON_T_SRV, srv, sizeof(srv));
	tb_a(&t, 2, "mail.example.test.", 25);
	int n = scrub(&t, zone("example.test."), &sc);
	ok(n > 0 && op.ancount == 2 && op.arcount == 1, "rebuilt");
	size_t pos = op.question_end;
	uint8_t name[MOON_NAME_MAXLEN], want[MOON_NAME_MAXLEN];
	moon_name_unpack(out, (size_t)n, &pos, name);
	pos += 10 + 2;
	moon_name_unpack(out, (size_t)n, &pos, name);
	moon_name_from_text("mail.example.test.", NULL, want);
	ok(moon_name_equal(name, want), "MX exchange decompressed and rewritten correctly");
	moon_name_unpack(out, (size_t)n, &pos, name);
	pos += 10 + 6;
	moon_name_unpack(out, (size_t)n, &pos, name);
	moon_name_from_text("example.test.", NULL, want);
	ok(moon_name_equal(name, want), "SRV target decompressed");

	tb_begin(&t, 1, R, "example.test.", MOON_T_MX);
	tb_a(&t, 0, "junk.test.", 1);
	uint8_t bad[] = { 0, 10, 0xc0, 200 };   /* points forward */
	tb_rr(&t, 0, NULL, MOON_T_MX, bad, sizeof(bad));
	is_int(moon__fwd_scrub(t.b, t.len, root, out, sizeof(out), &sc), MOON_EMALF,
	       "a name in RDATA that does not read: malformed");

	tb_begin(&t, 1, R, "example.test.", MOON_T_NS);
	uint8_t ns[] = { 2, 'n', 's', 0xc0, 0xff };     /* forward pointer */
	tb_rr(&t, 0, NULL, MOON_T_NS, ns, sizeof(ns));
	is_int(moon__fwd_scrub(t.b, t.len, root, out, sizeof(out), &sc), MOON_EMALF,
	       "even with nothing to remove, broken RDATA names are refused");

	tb_begin(&t, 1, R, "example.test.", MOON_T_A);
	t.b[t.len++] = 0xc0;    /* owner: a pointer into the header */
	t.b[t.len++] = 4;
	uint8_t rest[] = { 0, MOON_T_A, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4 };
	memcpy(t.b + t.len, rest, sizeof(rest));
	t.len += sizeof(rest);
	moon_put_u16(t.b + 6, 1);
	is_int(moon__fwd_scrub(t.b, t.len, root, out, sizeof(out), &sc), MOON_EMALF,
	       "a compression pointer into the header is refused (patching would change it)");
}

/* Found by fuzzing: the authority owner is a pointer into the question's
 * type and class, and the name it makes runs on through its own record
 * into the OPT record behind it. Cutting the OPT off would break it. */
static const uint8_t name_into_opt[] = {
	0x12, 0x34, 0x81, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
	0x02, 0x6e, 0x78, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04,
	0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x01, 0x0c, 0x01, 0xc0, 0x1f, 0x00,
	0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x21, 0x03, 0x6e, 0x73,
	0x31, 0xc0, 0x0f, 0x04, 0x68, 0x6f, 0x73, 0x74, 0xc0, 0x0f, 0x00, 0x00,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00,
	0x00, 0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x29, 0x20, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00,
};

static void test_scrub_overlap(void)
{
	struct moon_fwd_scrub sc;
	int n = moon__fwd_scrub(name_into_opt, sizeof(name_into_opt), root, out, sizeof(out), &sc);
	ok(n > 0 && moon_pkt_parse(&op, out, (size_t)n) == 0 && op.nscount == 1 && op.arcount == 0,
	   "a name reading into the stripped OPT: rebuilt, and the result parses");
}

static void test_scrub_misc(void)
{
	struct tb t;
	struct moon_fwd_scrub sc;
	tb_begin(&t, 1, R, "www.example.test.", MOON_T_A);
	tb_a(&t, 0, NULL, 1);
	uint8_t tsig[30] = { 0 };
	tb_rr(&t, 2, "key.example.test.", MOON_T_TSIG, tsig, sizeof(tsig));
	int n = scrub(&t, root, &sc);
	ok(n > 0 && op.arcount == 0 && sc.removed == 0, "TSIG stripped, not counted");

	tb_begin(&t, 1, R | MOON_FLAG_TC, "www.example.test.", MOON_T_A);
	tb_a(&t, 0, NULL, 1);
	t.len -= 3;             /* cut in the middle of the record */
	n = scrub(&t, root, &sc);
	ok(n > 0 && op.ancount == 0 && (moon_get_u16(out + 2) & MOON_FLAG_TC),
	   "TC reply: header and question only");

	tb_begin(&t, 1, R, "big.example.test.", MOON_T_TXT);
	uint8_t txt[256];
	memset(txt, 'x', sizeof(txt));
	txt[0] = 255;
	for (unsigned i = 0; i < 20; i++)
		tb_rr(&t, 0, NULL, MOON_T_TXT, txt, sizeof(txt));
	n = moon__fwd_scrub(t.b, t.len, root, out, 1024, &sc);
	moon_pkt_parse(&op, out, (size_t)n);
	ok(n > 0 && n <= 1024 && (moon_get_u16(out + 2) & MOON_FLAG_TC) && op.ancount == 0,
	   "too big for the buffer: truncated with TC");
}

static void test_patch(void)
{
	struct tb t;
	tb_begin(&t, 0x1111, R | MOON_FLAG_AD, "www.example.test.", MOON_T_A);
	tb_a(&t, 0, NULL, 1);
	uint8_t name[MOON_NAME_MAXLEN];
	moon_name_from_text("WWW.Example.TEST.", NULL, name);
	struct moon_fwd_client c = { .id = 0x2222, .flags = 0, .do_bit = false, .qname = name };
	moon__fwd_patch(t.b, t.len, &c);
	is_int(moon_get_u16(t.b), 0x2222, "client ID");
	is_mem(t.b + 12, name, 18, "client question case");
	ok(!(moon_get_u16(t.b + 2) & MOON_FLAG_RD), "client RD (clear)");
	ok(!(moon_get_u16(t.b + 2) & MOON_FLAG_AD), "AD cleared for a client without DO/AD");
	moon_put_u16(t.b + 2, R | MOON_FLAG_AD);
	c.do_bit = true;
	c.flags = MOON_FLAG_RD;
	moon__fwd_patch(t.b, t.len, &c);
	ok((moon_get_u16(t.b + 2) & (MOON_FLAG_AD | MOON_FLAG_RD)) == (MOON_FLAG_AD | MOON_FLAG_RD),
	   "AD kept for a DO client, RD set");
}

int main(void)
{
	test_query();
	test_check();
	test_scrub_passthrough();
	test_scrub_unsolicited();
	test_scrub_chain();
	test_scrub_authority();
	test_scrub_dname();
	test_scrub_rebuild_names();
	test_scrub_misc();
	test_scrub_overlap();
	test_patch();
	return tap_done();
}
