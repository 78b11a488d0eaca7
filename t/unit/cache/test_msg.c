/* Tests for src/cache/msg.c: what the cache accepts, as what kind, for how
 * long, and where the TTL fields are. */
#include "cache/msg.h"
#include "msgbuild.h"
#include "tap.h"

static struct moon_cache_opts opts;
static struct moon_cache_msg m;

static void key_for(struct moon_cache_key *k, const char *qname, uint16_t qtype)
{
	uint8_t name[MOON_NAME_MAXLEN];
	moon_name_from_text(qname, NULL, name);
	memset(k, 0, sizeof(*k));
	k->name_len = (uint8_t)moon_name_tolower(k->name, name);
	k->qtype = qtype;
	k->qclass = MOON_CLASS_IN;
}

static int read_msg(const struct tmsg *t, const char *qname, uint16_t qtype)
{
	struct moon_cache_key k;
	key_for(&k, qname, qtype);
	return moon_cache_msg_read(&m, t->b, t->len, &k, &opts);
}

static void test_success(void)
{
	struct tmsg t;
	tm_begin(&t, "WWW.Example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	size_t o1 = tm_a(&t, 0, NULL, 300, 1);
	size_t o2 = tm_a(&t, 0, NULL, 120, 2);
	size_t o3 = tm_rr(&t, 1, "example.com.", MOON_T_NS, 86400, "\3ns1\xc0\x10", 6);
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), 0, "success is cacheable");
	is_int(m.kind, MOON_CACHE_SUCCESS, "kind success");
	is_int(m.ttl, 120, "lifetime is the smallest answer TTL, authority ignored");
	is_int(m.nttl, 3, "three TTL fields");
	ok(m.ttl_off[0] == o1 && m.ttl_off[1] == o2 && m.ttl_off[2] == o3, "TTL offsets in order");
	is_int(m.store_len, t.len, "whole message kept");
	ok(!m.opt_stripped, "no OPT");

	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_a(&t, 0, NULL, 1, 1);
	read_msg(&t, "www.example.com.", MOON_T_A);
	is_int(m.ttl, 5, "clamped up to success_min_ttl");
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_a(&t, 0, NULL, 999999, 1);
	read_msg(&t, "www.example.com.", MOON_T_A);
	is_int(m.ttl, 3600, "clamped down to success_max_ttl");
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_a(&t, 0, NULL, 0x80000000u, 1);
	read_msg(&t, "www.example.com.", MOON_T_A);
	is_int(m.ttl, 5, "TTL with the top bit set reads as 0 (RFC 2181)");
}

static void test_denial(void)
{
	struct tmsg t;
	tm_begin(&t, "nx.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_NXDOMAIN));
	tm_soa(&t, "example.com.", 600, 60);
	is_int(read_msg(&t, "nx.example.com.", MOON_T_A), 0, "NXDOMAIN with SOA is cacheable");
	is_int(m.kind, MOON_CACHE_DENIAL, "kind denial");
	is_int(m.ttl, 60, "NXDOMAIN lives SOA MINIMUM when below the SOA TTL");

	tm_begin(&t, "nx.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_NXDOMAIN));
	tm_soa(&t, "example.com.", 30, 900);
	read_msg(&t, "nx.example.com.", MOON_T_A);
	is_int(m.ttl, 30, "NXDOMAIN lives the SOA TTL when below MINIMUM");

	tm_begin(&t, "www.example.com.", MOON_T_AAAA, MOON_CLASS_IN, TM_RESP(0));
	tm_soa(&t, "example.com.", 7200, 7200);
	is_int(read_msg(&t, "www.example.com.", MOON_T_AAAA), 0, "NODATA with SOA is cacheable");
	is_int(m.kind, MOON_CACHE_DENIAL, "NODATA is a denial");
	is_int(m.ttl, 1800, "denial clamped to denial_max_ttl");

	tm_begin(&t, "alias.example.com.", MOON_T_AAAA, MOON_CLASS_IN, TM_RESP(0));
	tm_rr(&t, 0, NULL, MOON_T_CNAME, 20, "\3www\7example\3com\0", 17);
	tm_soa(&t, "example.com.", 300, 300);
	read_msg(&t, "alias.example.com.", MOON_T_AAAA);
	ok(m.kind == MOON_CACHE_DENIAL && m.ttl == 20, "CNAME then NODATA: denial, CNAME TTL bounds");

	tm_begin(&t, "alias.example.com.", MOON_T_AAAA, MOON_CLASS_IN, TM_RESP(0));
	tm_rr(&t, 0, NULL, MOON_T_CNAME, 20, "\3www\7example\3com\0", 17);
	is_int(read_msg(&t, "alias.example.com.", MOON_T_AAAA), MOON_ELIMIT,
	       "CNAME chain not ending in QTYPE, no SOA: not cached");

	tm_begin(&t, "nx.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_NXDOMAIN));
	is_int(read_msg(&t, "nx.example.com.", MOON_T_A), MOON_ELIMIT, "NXDOMAIN without SOA: no");

	tm_begin(&t, "sub.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_rr(&t, 1, "sub.example.com.", MOON_T_NS, 3600, "\3ns1\xc0\x0c", 6);
	is_int(read_msg(&t, "sub.example.com.", MOON_T_A), MOON_ELIMIT, "referral: not cached");
}

static void test_servfail_and_rcodes(void)
{
	struct tmsg t;
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_SERVFAIL));
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), 0, "SERVFAIL is cacheable");
	ok(m.kind == MOON_CACHE_SERVFAIL && m.ttl == 5, "SERVFAIL lives servfail_ttl");
	opts.servfail_ttl = 0;
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), MOON_ELIMIT, "servfail_ttl 0: no");
	opts.servfail_ttl = 5;

	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_REFUSED));
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), MOON_ELIMIT, "REFUSED: no");
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0) | MOON_FLAG_TC);
	tm_a(&t, 0, NULL, 300, 1);
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), MOON_ELIMIT, "TC: no");
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, MOON_FLAG_RD);
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), MOON_ELIMIT, "a query: no");
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0) | 5 << 11);
	tm_a(&t, 0, NULL, 300, 1);
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), MOON_ELIMIT, "opcode UPDATE: no");
}

static void test_opt_tsig(void)
{
	struct tmsg t;
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_a(&t, 0, NULL, 300, 1);
	size_t before = t.len;
	tm_opt(&t, 0, true);
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), 0, "response with OPT is cacheable");
	ok(m.opt_stripped && m.store_len == before, "trailing OPT cut off");
	is_int(m.nttl, 1, "OPT's TTL field is not a TTL");

	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_a(&t, 0, NULL, 300, 1);
	tm_opt(&t, 0, false);
	tm_a(&t, 2, "ns1.example.com.", 300, 9);
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), MOON_ELIMIT, "OPT not last: no");

	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_a(&t, 0, NULL, 300, 1);
	tm_opt(&t, 1, false);
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), MOON_ELIMIT, "extended rcode: no");

	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_a(&t, 0, NULL, 300, 1);
	tm_rr(&t, 2, "key.", MOON_T_TSIG, 0, "\0", 1);
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), MOON_ELIMIT, "TSIG-signed: no");

	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_opt(&t, 0, false);
	tm_a(&t, 0, NULL, 300, 1);
	moon_put_u16(t.b + 6, 1);
	moon_put_u16(t.b + 10, 1);
	is_int(read_msg(&t, "www.example.com.", MOON_T_A), MOON_EMALF, "OPT in answer: malformed");
}

static void test_mismatch_and_malformed(void)
{
	struct tmsg t;
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_a(&t, 0, NULL, 300, 1);
	is_int(read_msg(&t, "www.example.org.", MOON_T_A), MOON_ESEMANTIC, "other name");
	is_int(read_msg(&t, "www.example.com.", MOON_T_AAAA), MOON_ESEMANTIC, "other type");
	is_int(read_msg(&t, "WWW.EXAMPLE.COM.", MOON_T_A), 0, "name case does not matter");

	struct tmsg bad = t;
	bad.len--;
	is_int(read_msg(&bad, "www.example.com.", MOON_T_A), MOON_EMALF, "RDATA past the end");
	bad = t;
	bad.b[bad.len++] = 0;
	is_int(read_msg(&bad, "www.example.com.", MOON_T_A), MOON_EMALF, "trailing bytes");
	bad = t;
	moon_put_u16(bad.b + 6, 2);
	is_int(read_msg(&bad, "www.example.com.", MOON_T_A), MOON_EMALF, "count above records");
	bad = t;
	bad.b[bad.len - 16] = 0xc0;
	bad.b[bad.len - 15] = 0xff;
	is_int(read_msg(&bad, "www.example.com.", MOON_T_A), MOON_EMALF, "forward pointer");
	bad.len = 11;
	is_int(read_msg(&bad, "www.example.com.", MOON_T_A), MOON_EMALF, "short header");

	tm_begin(&t, "nx.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_NXDOMAIN));
	tm_rr(&t, 1, "example.com.", MOON_T_SOA, 300, "\0\0\0\0\0", 5);
	is_int(read_msg(&t, "nx.example.com.", MOON_T_A), MOON_EMALF, "short SOA RDATA");
}

int main(void)
{
	moon_cache_opts_default(&opts);
	test_success();
	test_denial();
	test_servfail_and_rcodes();
	test_opt_tsig();
	test_mismatch_and_malformed();
	return tap_done();
}
