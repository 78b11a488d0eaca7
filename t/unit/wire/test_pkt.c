#include <stdlib.h>

#include "tap.h"
#include "util/err.h"
#include "wire/pkt.h"

/* A small message builder: everything is appended big-endian. */
struct msg {
	uint8_t b[1024];
	size_t n;
};

static void u8(struct msg *m, unsigned v) { m->b[m->n++] = (uint8_t)v; }
static void u16(struct msg *m, unsigned v) { u8(m, v >> 8); u8(m, v & 0xff); }
static void u32(struct msg *m, uint32_t v) { u16(m, v >> 16); u16(m, v & 0xffff); }
static void raw(struct msg *m, const void *p, size_t n)
{
	if (n)
		memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void name(struct msg *m, const char *text)
{
	uint8_t w[MOON_NAME_MAXLEN];
	int n = moon_name_from_text(text, NULL, w);
	if (n < 0)
		abort();
	raw(m, w, (size_t)n);
}

static void hdr(struct msg *m, unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	m->n = 0;
	u16(m, 0x1234);
	u16(m, flags);
	u16(m, qd);
	u16(m, an);
	u16(m, ns);
	u16(m, ar);
}

static void query(struct msg *m, unsigned an, unsigned ns, unsigned ar)
{
	hdr(m, MOON_FLAG_RD, 1, an, ns, ar);
	name(m, "WwW.Example.COM.");
	u16(m, MOON_T_A);
	u16(m, MOON_CLASS_IN);
}

/* OPT record: root owner, payload, ext-rcode/version/flags, options. */
static void opt(struct msg *m, unsigned payload, unsigned version, unsigned flags,
		const void *opts, size_t olen)
{
	u8(m, 0);
	u16(m, MOON_T_OPT);
	u16(m, payload);
	u32(m, (uint32_t)version << 16 | flags);
	u16(m, (unsigned)olen);
	raw(m, opts, olen);
}

static void a_rr(struct msg *m)
{
	u16(m, 0xc00c);
	u16(m, MOON_T_A);
	u16(m, MOON_CLASS_IN);
	u32(m, 300);
	u16(m, 4);
	raw(m, "\xc0\x00\x02\x01", 4);
}

static int parse(struct moon_pkt *p, const struct msg *m)
{
	/* An exact-size heap copy, so sanitizers catch reads past the end. */
	uint8_t *copy = malloc(m->n ? m->n : 1);
	memcpy(copy, m->b, m->n);
	int r = moon_pkt_parse(p, copy, m->n);
	free(copy);
	return r;
}

static struct moon_pkt pkt;

static void test_plain(void)
{
	struct msg m;
	query(&m, 0, 0, 0);
	is_int(moon_pkt_parse(&pkt, m.b, m.n), 0, "plain query parses");
	ok(pkt.header_ok && pkt.question_ok, "header and question ok");
	is_int(pkt.id, 0x1234, "id");
	is_int(pkt.flags, MOON_FLAG_RD, "flags");
	is_int(pkt.opcode, MOON_OP_QUERY, "opcode");
	is_int(pkt.qname_len, 17, "qname_len");
	is_mem(pkt.qname, "\3WwW\7Example\3COM", 17, "qname case kept");
	is_mem(pkt.qname_lc, "\3www\7example\3com", 17, "qname_lc lowered");
	is_int(pkt.qtype, MOON_T_A, "qtype");
	is_int(pkt.qclass, MOON_CLASS_IN, "qclass");
	is_int(pkt.question_end, 33, "question_end");
	ok(!pkt.edns.present, "no EDNS");
	ok(pkt.wire == m.b && pkt.len == m.n, "points into the buffer");
	const uint8_t *d;
	is_int(moon_pkt_edns_option(&pkt, MOON_EDNS_COOKIE, &d), -1, "no options without EDNS");

	hdr(&m, 0, 1, 0, 0, 0);
	name(&m, ".");
	u16(&m, MOON_T_NS);
	u16(&m, MOON_CLASS_IN);
	is_int(parse(&pkt, &m), 0, "root question");
	is_int(pkt.qname_len, 1, "root qname_len");
}

static void test_edns(void)
{
	struct msg m;
	const uint8_t opts[] = "\x00\x0a\x00\x08" "ABCDEFGH" "\x00\x03\x00\x00"
			       "\xfd\xe8\x00\x02" "xy";
	query(&m, 0, 0, 1);
	opt(&m, 1232, 0, MOON_EDNS_FLAG_DO | 0x0001, opts, sizeof(opts) - 1);
	is_int(parse(&pkt, &m), 0, "EDNS query parses");
	ok(pkt.edns.present, "EDNS present");
	is_int(pkt.edns.payload, 1232, "payload");
	is_int(pkt.edns.version, 0, "version 0");
	ok(pkt.edns.do_bit, "DO");
	is_int(pkt.edns.flags, 0x8001, "flags kept, unknown bit too");
	is_int(pkt.edns.options_len, sizeof(opts) - 1, "options_len");

	moon_pkt_parse(&pkt, m.b, m.n);
	const uint8_t *d = NULL;
	is_int(moon_pkt_edns_option(&pkt, MOON_EDNS_COOKIE, &d), 8, "cookie found");
	ok(d && memcmp(d, "ABCDEFGH", 8) == 0, "cookie data");
	is_int(moon_pkt_edns_option(&pkt, MOON_EDNS_NSID, &d), 0, "empty NSID found");
	is_int(moon_pkt_edns_option(&pkt, 65000, &d), 2, "unknown option found");
	ok(memcmp(d, "xy", 2) == 0, "unknown option data");
	is_int(moon_pkt_edns_option(&pkt, MOON_EDNS_EDE, &d), -1, "absent option");

	query(&m, 0, 0, 1);
	opt(&m, 4096, 1, 0, NULL, 0);
	m.b[m.n - 6] = 0x07;    /* ext-rcode octet of the TTL */
	is_int(parse(&pkt, &m), 0, "EDNS version 1 parses");
	is_int(pkt.edns.version, 1, "version 1 reported");
	is_int(pkt.edns.ext_rcode, 7, "ext rcode");
	ok(!pkt.edns.do_bit, "no DO");

	/* OPT after another additional record, answer and authority present. */
	query(&m, 1, 1, 2);
	a_rr(&m);
	a_rr(&m);
	a_rr(&m);
	opt(&m, 512, 0, 0, NULL, 0);
	is_int(parse(&pkt, &m), 0, "records in every section");
	ok(pkt.edns.present, "OPT found after an A record");
	is_int(pkt.ancount + pkt.nscount + pkt.arcount, 4, "counts");
}

static void test_opcodes(void)
{
	struct msg m;
	hdr(&m, MOON_OP_NOTIFY << 11 | MOON_FLAG_AA, 1, 0, 0, 0);
	name(&m, "example.com.");
	u16(&m, MOON_T_SOA);
	u16(&m, MOON_CLASS_IN);
	is_int(parse(&pkt, &m), 0, "NOTIFY parses");
	is_int(pkt.opcode, MOON_OP_NOTIFY, "opcode NOTIFY");

	hdr(&m, MOON_OP_NOTIFY << 11, 0, 0, 0, 0);
	is_int(parse(&pkt, &m), MOON_EMALF, "NOTIFY without question");
	ok(pkt.header_ok, "NOTIFY without question: header_ok");

	hdr(&m, MOON_OP_UPDATE << 11, 0, 0, 0, 0);
	is_int(parse(&pkt, &m), 0, "UPDATE with no zone section parses");
	ok(pkt.header_ok && !pkt.question_ok, "header_ok, no question");
	is_int(pkt.opcode, MOON_OP_UPDATE, "opcode UPDATE");

	hdr(&m, 9 << 11, 0, 0, 0, 0);
	is_int(parse(&pkt, &m), 0, "unknown opcode, QDCOUNT 0");
	is_int(pkt.opcode, 9, "opcode 9");

	hdr(&m, 9 << 11, 2, 0, 0, 0);
	is_int(parse(&pkt, &m), MOON_EMALF, "unknown opcode, QDCOUNT 2");
	ok(pkt.header_ok && !pkt.question_ok, "still header_ok");
}

static void bad(struct msg *m, bool question_ok, const char *what)
{
	char buf[200];
	is_int(parse(&pkt, m), MOON_EMALF, what);
	snprintf(buf, sizeof(buf), "%s: header_ok, question_ok=%d", what, question_ok);
	ok(pkt.header_ok && pkt.question_ok == question_ok, buf);
}

static void test_header(void)
{
	struct msg m;
	query(&m, 0, 0, 0);
	int good = 1;
	for (size_t n = 0; n < MOON_HDR_LEN; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, m.b, n);
		if (moon_pkt_parse(&pkt, copy, n) != MOON_EMALF || pkt.header_ok ||
		    pkt.question_ok)
			good = 0;
		free(copy);
	}
	ok(good, "0..11 byte messages are malformed, header not ok");

	hdr(&m, 0, 0, 0, 0, 0);
	bad(&m, false, "QUERY with QDCOUNT 0");
	hdr(&m, 0, 2, 0, 0, 0);
	name(&m, "a.");
	u32(&m, 0x00010001);
	name(&m, "b.");
	u32(&m, 0x00010001);
	bad(&m, false, "QUERY with QDCOUNT 2");
	hdr(&m, 0, 1, 0, 0, 0);
	bad(&m, false, "header only, QDCOUNT 1");
	hdr(&m, 0, 1, 0, 0, 0);
	name(&m, "a.");
	u16(&m, 1);
	u8(&m, 0);
	bad(&m, false, "question cut in qclass");
}

static void test_bad_qname(void)
{
	struct msg m;
	hdr(&m, 0, 1, 0, 0, 0);
	u16(&m, 0xc00c);
	u32(&m, 0x00010001);
	bad(&m, false, "question pointing to itself");

	hdr(&m, 0, 1, 0, 0, 0);
	u16(&m, 0xc010);
	u8(&m, 0);
	u8(&m, 0);
	u32(&m, 0x00010001);
	bad(&m, false, "forward pointer");

	hdr(&m, 0, 1, 0, 0, 0);
	u8(&m, 1);
	u8(&m, 'a');
	u16(&m, 0xc00c);
	u32(&m, 0x00010001);
	bad(&m, false, "loop through own start");

	hdr(&m, 0, 1, 0, 0, 0);
	u16(&m, 0xffff);
	bad(&m, false, "pointer past end");

	hdr(&m, 0, 1, 0, 0, 0);
	u8(&m, 64);
	for (int i = 0; i < 64; i++)
		u8(&m, 'x');
	u8(&m, 0);
	u32(&m, 0x00010001);
	bad(&m, false, "label of 64");

	hdr(&m, 0, 1, 0, 0, 0);
	for (int l = 0; l < 4; l++) {   /* 63, 63, 63, 62 + root = 256 */
		unsigned len = l < 3 ? 63 : 62;
		u8(&m, len);
		for (unsigned i = 0; i < len; i++)
			u8(&m, 'a' + (unsigned)l);
	}
	u8(&m, 0);
	u32(&m, 0x00010001);
	bad(&m, false, "name of 256");
	m.b[MOON_HDR_LEN + 3 * 64] = 61;        /* now 255, but one stray byte */
	memmove(m.b + MOON_HDR_LEN + 3 * 64 + 62, m.b + MOON_HDR_LEN + 3 * 64 + 63, 5);
	m.n--;
	is_int(parse(&pkt, &m), 0, "name of 255 parses");
	is_int(pkt.qname_len, 255, "qname_len 255");

	/* A question name compressed into the header: odd but not a loop. */
	hdr(&m, 0, 1, 0, 0, 0);
	m.b[0] = 1;
	m.b[1] = 'A';
	m.b[2] = 0;
	u16(&m, 0xc000);
	u32(&m, 0x00010001);
	is_int(parse(&pkt, &m), 0, "question pointing into the header");
	is_mem(pkt.qname, "\1A", 3, "its name");
	is_mem(pkt.qname_lc, "\1a", 3, "lowered");
	is_int(pkt.question_end, 18, "question_end after the pointer");
}

static void test_bad_records(void)
{
	struct msg m;
	query(&m, 1, 0, 0);
	bad(&m, true, "ANCOUNT 1, no records");
	query(&m, 2, 0, 0);
	a_rr(&m);
	bad(&m, true, "ANCOUNT 2, one record");
	query(&m, 0, 0, 65535);
	bad(&m, true, "ARCOUNT 65535");
	query(&m, 1, 0, 0);
	a_rr(&m);
	m.n -= 1;
	bad(&m, true, "RDATA cut short");
	query(&m, 1, 0, 0);
	a_rr(&m);
	m.n -= 5;
	bad(&m, true, "RR cut in fixed part");

	query(&m, 1, 0, 0);
	u16(&m, 0xc000 | (unsigned)m.n); /* owner pointing to itself */
	u32(&m, 0x00010001);
	u32(&m, 0);
	u16(&m, 0);
	bad(&m, true, "owner loop");

	query(&m, 1, 0, 0);
	u16(&m, 0xc000 | (unsigned)(m.n + 2));
	u8(&m, 0);
	u32(&m, 0x00010001);
	u32(&m, 0);
	u16(&m, 0);
	bad(&m, true, "owner forward pointer");

	query(&m, 0, 0, 0);
	u8(&m, 0);
	bad(&m, true, "one trailing byte");
	query(&m, 0, 0, 1);
	opt(&m, 1232, 0, 0, NULL, 0);
	raw(&m, "junk", 4);
	bad(&m, true, "trailing garbage after OPT");
}

static void test_bad_opt(void)
{
	struct msg m;
	query(&m, 0, 0, 2);
	opt(&m, 1232, 0, 0, NULL, 0);
	opt(&m, 1232, 0, 0, NULL, 0);
	bad(&m, true, "two OPT records");

	query(&m, 1, 0, 0);
	opt(&m, 1232, 0, 0, NULL, 0);
	bad(&m, true, "OPT in answer");
	query(&m, 0, 1, 0);
	opt(&m, 1232, 0, 0, NULL, 0);
	bad(&m, true, "OPT in authority");

	query(&m, 0, 0, 1);
	u8(&m, 1);
	u8(&m, 'x');
	opt(&m, 1232, 0, 0, NULL, 0);
	bad(&m, true, "OPT owned by x.");

	query(&m, 0, 0, 1);
	opt(&m, 1232, 0, 0, "\x00\x0a\x00\x09" "ABCDEFGH", 12);
	bad(&m, true, "option longer than the list");
	query(&m, 0, 0, 1);
	opt(&m, 1232, 0, 0, "\x00\x0a\x00\x00\x00", 5);
	bad(&m, true, "one stray byte after the options");
	query(&m, 0, 0, 1);
	opt(&m, 1232, 0, 0, "\x00\x0a\x00", 3);
	bad(&m, true, "option header cut short");
}

int main(void)
{
	test_plain();
	test_edns();
	test_opcodes();
	test_header();
	test_bad_qname();
	test_bad_records();
	test_bad_opt();
	return tap_done();
}
