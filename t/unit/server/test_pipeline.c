/*
 * Raw query packets fed straight into the pipeline (no sockets), with a
 * generation built from inline YAML; the replies are checked byte-wise.
 */
#include <stdlib.h>
#include <string.h>

#include "server/gen.h"
#include "server/pipeline.h"
#include "tap.h"
#include "util/log.h"
#include "wire/pkt.h"
#include "wire/wire.h"
#include "zone/zone.h"

static const char yaml[] =
	"workers: 1\n"
	"udp: { max_payload: 1232 }\n"
	"identity: { nsid: moon-nsid, id_server: ns-test, version: moondns-test }\n"
	"servers:\n"
	"  - name: lab\n"
	"    listen: [ \"dns://127.0.0.1:5399\" ]\n"
	"    zones: [ lab.test., broken.test., empty.test. ]\n"
	"    zone_files:\n"
	"      - origin: lab.test.\n"
	"        inline: |\n"
	"          @ 3600 IN SOA ns1 root 1 3600 600 604800 60\n"
	"          @ 3600 IN NS ns1\n"
	"          ns1 3600 IN A 127.0.0.1\n"
	"          www 3600 IN A 192.0.2.1\n"
	"          big 3600 IN TXT \"%s\" \"%s\" \"%s\"\n"
	"          fat 3600 IN NS a.fat\n"
	"          fat 3600 IN NS b.fat\n"
	"%s"
	"          mx 3600 IN MX 10 mail\n"
	"      - origin: broken.test.\n"
	"        inline: |\n"
	"          www 3600 IN A 192.0.2.9\n"
	"  - name: other\n"
	"    listen: [ \"dns://127.0.0.2:5399\" ]\n"
	"    zone_files:\n"
	"      - origin: lab.test.\n"
	"        inline: |\n"
	"          @ 3600 IN SOA ns1 root 7 3600 600 604800 60\n"
	"          @ 3600 IN NS ns1\n"
	"          ns1 3600 IN A 127.0.0.1\n"
	"          www 3600 IN A 198.51.100.7\n";

static struct moon_gen *gen;
static struct moon_zone_answer ans;
static uint8_t req[65536];
static uint8_t resp_area[2 + 65535];
static struct moon_query q;
static struct moon_pkt r;  /* the parsed reply */

/* Writes a query; edns < 0 leaves out the OPT record. */
struct qspec {
	const char *name;
	uint16_t qtype, qclass;
	uint16_t flags;       /* header flags word (opcode, RD ...) */
	int edns;             /* EDNS version, or -1 */
	uint16_t payload;
	bool do_bit, nsid;
};

static size_t mkq(const struct qspec *s)
{
	struct moon_wire w;
	moon_wire_init(&w, req, sizeof(req));
	moon_wire_put_u16(&w, 0xbeef);
	moon_wire_put_u16(&w, s->flags);
	moon_wire_put_u16(&w, 1);
	moon_wire_put_u16(&w, 0);
	moon_wire_put_u16(&w, 0);
	moon_wire_put_u16(&w, s->edns >= 0 ? 1 : 0);
	uint8_t name[MOON_NAME_MAXLEN];
	int n = moon_name_from_text(s->name, NULL, name);
	moon_wire_put_bytes(&w, name, (size_t)n);
	moon_wire_put_u16(&w, s->qtype);
	moon_wire_put_u16(&w, s->qclass ? s->qclass : MOON_CLASS_IN);
	if (s->edns >= 0) {
		moon_wire_put_u8(&w, 0);
		moon_wire_put_u16(&w, MOON_T_OPT);
		moon_wire_put_u16(&w, s->payload);
		moon_wire_put_u8(&w, 0);
		moon_wire_put_u8(&w, (uint8_t)s->edns);
		moon_wire_put_u16(&w, s->do_bit ? MOON_EDNS_FLAG_DO : 0);
		moon_wire_put_u16(&w, s->nsid ? 4 : 0);
		if (s->nsid) {
			moon_wire_put_u16(&w, MOON_EDNS_NSID);
			moon_wire_put_u16(&w, 0);
		}
	}
	return moon_wire_offset(&w);
}

static int run_raw(size_t len, int proto, uint16_t listener)
{
	q.req = req;
	q.req_len = (uint32_t)len;
	q.resp = resp_area + 2;
	q.resp_cap = 65535;
	q.ans = &ans;
	q.proto = (uint8_t)proto;
	q.listener = listener;
	q.gen = gen;
	int ret = moon_pipeline_run(&q);
	memset(&r, 0, sizeof(r));
	if (q.resp_len)
		moon_pkt_parse(&r, q.resp, q.resp_len);
	return ret;
}

static int run(const struct qspec *s)
{
	return run_raw(mkq(s), MOON_PROTO_UDP, 0);
}

static unsigned rcode(void)
{
	return (unsigned)(q.resp[3] & 0xf) | (unsigned)r.edns.ext_rcode << 4;
}

static bool flag(uint16_t f)
{
	return (moon_get_u16(q.resp + 2) & f) != 0;
}

#define A_QUERY(n) { .name = (n), .qtype = MOON_T_A, .flags = MOON_FLAG_RD, .edns = -1 }

static void test_basic(void)
{
	struct qspec s = A_QUERY("www.lab.test.");
	is_int(run(&s), 0, "synchronous answer");
	ok(q.resp_len > 0, "a reply");
	is_int(moon_get_u16(q.resp), 0xbeef, "ID copied");
	ok(flag(MOON_FLAG_QR) && flag(MOON_FLAG_AA) && flag(MOON_FLAG_RD), "QR, AA, RD");
	ok(!flag(MOON_FLAG_TC), "no TC");
	is_int(rcode(), MOON_RCODE_NOERROR, "NOERROR");
	is_int(r.ancount, 1, "one answer");
	ok(!r.edns.present, "no OPT to a client without EDNS");
	static const uint8_t rdata[] = { 0, 4, 192, 0, 2, 1 };
	ok(q.resp_len >= 6 && memcmp(q.resp + q.resp_len - 6, rdata, 6) == 0, "A 192.0.2.1");

	s.name = "WwW.LaB.TeSt.";
	run(&s);
	uint8_t want[MOON_NAME_MAXLEN];
	int n = moon_name_from_text("WwW.LaB.TeSt.", NULL, want);
	is_mem(q.resp + MOON_HDR_LEN, want, (size_t)n, "question case preserved");
	is_int(r.ancount, 1, "case-insensitive match");
}

static void test_routing(void)
{
	struct qspec s = A_QUERY("www.example.org.");
	run(&s);
	is_int(rcode(), MOON_RCODE_REFUSED, "no block for the name: REFUSED");
	ok(!flag(MOON_FLAG_AA), "REFUSED without AA");
	is_int(r.qdcount, 1, "question echoed");

	s.name = "www.empty.test.";
	run(&s);
	is_int(rcode(), MOON_RCODE_REFUSED, "block serves it but has no source: REFUSED");

	s.name = "www.lab.test.";
	run_raw(mkq(&s), MOON_PROTO_UDP, 1);
	is_int(r.ancount, 1, "second listener answers from its own block");
	static const uint8_t rdata[] = { 0, 4, 198, 51, 100, 7 };
	ok(memcmp(q.resp + q.resp_len - 6, rdata, 6) == 0, "with the other block's data");
	run_raw(mkq(&s), MOON_PROTO_UDP, 7);
	is_int(rcode(), MOON_RCODE_REFUSED, "unknown listener index: REFUSED");
}

static void test_broken_zone(void)
{
	struct qspec s = A_QUERY("www.broken.test.");
	run(&s);
	is_int(rcode(), MOON_RCODE_SERVFAIL, "zone that failed to load: SERVFAIL");
	is_int(gen->zones_failed, 1, "one zone failed");
	is_int(gen->zones_loaded, 2, "the others are served");
}

static void test_errors(void)
{
	struct qspec s = A_QUERY("www.lab.test.");
	size_t len = mkq(&s);
	is_int(run_raw(11, MOON_PROTO_UDP, 0), 0, "shorter than a header: done");
	is_int(q.resp_len, 0, "shorter than a header: dropped");
	ok(!q.sent, "shorter than a header: nothing sent");
	req[2] |= 0x80;
	is_int(run_raw(len, MOON_PROTO_UDP, 0), 0, "QR=1: done");
	is_int(q.resp_len, 0, "QR=1: dropped");
	ok(!q.sent, "QR=1: nothing sent");

	len = mkq(&s);
	req[len++] = 0;
	run_raw(len, MOON_PROTO_UDP, 0);
	is_int(rcode(), MOON_RCODE_FORMERR, "trailing garbage: FORMERR");
	is_int(r.qdcount, 1, "FORMERR echoes a good question");

	len = mkq(&s);
	moon_put_u16(req + 4, 0);  /* QDCOUNT 0 */
	run_raw(MOON_HDR_LEN, MOON_PROTO_UDP, 0);
	is_int(rcode(), MOON_RCODE_FORMERR, "no question: FORMERR");
	is_int(q.resp_len, MOON_HDR_LEN, "header only");

	struct qspec e = { .name = "www.lab.test.", .qtype = MOON_T_A, .edns = 0,
			   .payload = 1232 };
	len = mkq(&e);
	req[len++] = 0xff;
	run_raw(len, MOON_PROTO_UDP, 0);
	is_int(rcode(), MOON_RCODE_FORMERR, "malformed with OPT: FORMERR");
	ok(r.edns.present, "... and OPT in the reply");

	s.flags = (uint16_t)(MOON_OP_NOTIFY << 11);
	run(&s);
	is_int(rcode(), MOON_RCODE_NOTIMP, "NOTIFY: NOTIMP for now");
	s.flags = (uint16_t)(MOON_OP_STATUS << 11);
	run(&s);
	is_int(rcode(), MOON_RCODE_NOTIMP, "STATUS: NOTIMP");
	is_int(moon_get_u16(q.resp + 2) >> 11 & 0xf, MOON_OP_STATUS, "opcode echoed");

	s = (struct qspec)A_QUERY("lab.test.");
	s.qtype = MOON_T_AXFR;
	run(&s);
	is_int(rcode(), MOON_RCODE_REFUSED, "AXFR: REFUSED");
	s.qtype = MOON_T_IXFR;
	run(&s);
	is_int(rcode(), MOON_RCODE_REFUSED, "IXFR: REFUSED");
	s.qtype = MOON_T_A;
	s.qclass = 4;
	run(&s);
	is_int(rcode(), MOON_RCODE_REFUSED, "class HS: REFUSED");
	s.qclass = MOON_CLASS_ANY;
	run(&s);
	is_int(rcode(), MOON_RCODE_REFUSED, "class ANY: REFUSED");
}

static void test_edns(void)
{
	struct qspec s = { .name = "www.lab.test.", .qtype = MOON_T_A, .edns = 1, .payload = 4096 };
	run(&s);
	is_int(rcode(), MOON_RCODE_BADVERS, "EDNS version 1: BADVERS");
	ok(r.edns.present && r.edns.version == 0, "in an OPT of version 0");
	is_int(r.ancount, 0, "no answer");
	is_int(r.qdcount, 1, "question echoed (as knotd)");
	is_int(r.edns.payload, 1232, "our payload size");

	s.edns = 0;
	s.do_bit = true;
	run(&s);
	is_int(rcode(), MOON_RCODE_NOERROR, "EDNS 0: answered");
	ok(r.edns.present && r.edns.do_bit, "OPT with DO mirrored");
	is_int(r.edns.payload, 1232, "advertises udp.max_payload");
	const uint8_t *data;
	is_int(moon_pkt_edns_option(&r, MOON_EDNS_NSID, &data), -1, "no NSID unless asked");

	s.nsid = true;
	s.do_bit = false;
	run(&s);
	int n = moon_pkt_edns_option(&r, MOON_EDNS_NSID, &data);
	is_int(n, 9, "NSID answered");
	ok(n == 9 && memcmp(data, "moon-nsid", 9) == 0, "with identity.nsid");
	ok(!r.edns.do_bit, "DO clear when the client's was");
}

static void test_chaos(void)
{
	struct qspec s = { .name = "id.server.", .qtype = MOON_T_TXT, .qclass = MOON_CLASS_CH,
			   .edns = -1 };
	run(&s);
	is_int(rcode(), MOON_RCODE_NOERROR, "id.server answered");
	is_int(r.ancount, 1, "one TXT");
	ok(!flag(MOON_FLAG_AA), "no AA (as knotd)");
	static const uint8_t txt[] = { 0, 8, 7, 'n', 's', '-', 't', 'e', 's', 't' };
	ok(memcmp(q.resp + q.resp_len - sizeof(txt), txt, sizeof(txt)) == 0, "identity text");
	ok(memcmp(q.resp + q.resp_len - sizeof(txt) - 8, "\0\x10\0\x03\0\0\0\0", 8) == 0,
	   "TXT, class CH, TTL 0");

	s.name = "hostname.bind.";
	run(&s);
	ok(r.ancount == 1 && memcmp(q.resp + q.resp_len - 7, "ns-test", 7) == 0,
	   "hostname.bind falls back on id_server");
	s.name = "VERSION.BIND.";
	run(&s);
	ok(r.ancount == 1 && memcmp(q.resp + q.resp_len - 12, "moondns-test", 12) == 0,
	   "version.bind (any case)");
	s.name = "version.server.";
	run(&s);
	is_int(r.ancount, 1, "version.server");
	s.name = "authors.bind.";
	run(&s);
	is_int(rcode(), MOON_RCODE_REFUSED, "other CH names: REFUSED");
	s.name = "id.server.";
	s.qtype = MOON_T_A;
	run(&s);
	is_int(rcode(), MOON_RCODE_REFUSED, "CH A: REFUSED");
}

static void test_truncation(void)
{
	struct qspec s = { .name = "big.lab.test.", .qtype = MOON_T_TXT, .edns = -1 };
	run(&s);
	ok(flag(MOON_FLAG_TC), "600-byte TXT over plain UDP: TC");
	is_int(r.ancount + r.nscount + r.arcount, 0, "no records when truncated");
	is_int(q.resp_len, MOON_HDR_LEN + 18, "header and question only");
	ok(flag(MOON_FLAG_AA), "AA kept (as knotd)");

	s.edns = 0;
	s.payload = 100;
	run(&s);
	ok(flag(MOON_FLAG_TC) && r.edns.present, "payload below 512 counts as 512: TC, OPT kept");
	s.payload = 4096;
	run(&s);
	ok(!flag(MOON_FLAG_TC) && r.ancount == 1, "fits in 1232");
	s.edns = -1;
	run_raw(mkq(&s), MOON_PROTO_TCP, 0);
	ok(!flag(MOON_FLAG_TC) && r.ancount == 1, "TCP: no truncation");

	/* Optional additional data that does not fit is left out, no TC. */
	struct qspec m = { .name = "mx.lab.test.", .qtype = MOON_T_MX, .edns = -1 };
	run(&m);
	ok(!flag(MOON_FLAG_TC), "MX whose target's addresses do not fit: no TC");
	is_int(r.ancount, 1, "the MX is there");
	is_int(r.arcount, 0, "the addresses are left out");
	run_raw(mkq(&m), MOON_PROTO_TCP, 0);
	ok(r.arcount >= 1, "over TCP they are included");

	/* Required glue of a referral that does not fit: TC, NS kept. */
	struct qspec g = { .name = "www.fat.lab.test.", .qtype = MOON_T_A, .edns = -1 };
	run(&g);
	ok(flag(MOON_FLAG_TC), "referral glue does not fit: TC");
	is_int(r.nscount, 2, "the NS set is kept (as knotd)");
	ok(!flag(MOON_FLAG_AA), "referral: no AA");
	run_raw(mkq(&g), MOON_PROTO_TCP, 0);
	ok(!flag(MOON_FLAG_TC) && r.arcount == 60, "over TCP: all 60 glue records");
}

static char *make_yaml(void)
{
	static char txt[3][201];
	for (int i = 0; i < 3; i++) {
		memset(txt[i], 'a' + i, 200);
		txt[i][200] = 0;
	}
	/* 2 x 30 glue addresses for fat., 30 addresses for mail. */
	static char glue[30 * 3 * 64];
	size_t off = 0;
	for (int i = 1; i <= 30; i++)
		off += (size_t)snprintf(glue + off, sizeof(glue) - off,
					"          a.fat 3600 IN A 192.0.2.%d\n"
					"          b.fat 3600 IN A 198.51.100.%d\n"
					"          mail 3600 IN A 203.0.113.%d\n", i, i, i);
	size_t len = sizeof(yaml) + sizeof(txt) + off + 64;
	char *y = malloc(len);
	snprintf(y, len, yaml, txt[0], txt[1], txt[2], glue);
	return y;
}

int main(void)
{
	moon_log_set_level(MOON_LOG_ERR);
	char *y = make_yaml();
	struct moon_diag diag = { 0 };
	struct moon_conf *conf;
	int ret = moon_conf_load_string(y, "test.yaml", &conf, &diag);
	free(y);
	if (!ok(ret == 0, "config loads")) {
		for (size_t i = 0; i < diag.n; i++)
			printf("# %s\n", diag.msgs[i]);
		return tap_done();
	}
	ret = moon_gen_new(conf, NULL, 0, 1, &diag, &gen);
	ok(ret == 0, "generation built despite a broken zone");
	ok(moon_diag_count(&diag) >= 1, "the broken zone is diagnosed");
	moon_diag_free(&diag);
	if (ret)
		return tap_done();

	test_basic();
	test_routing();
	test_broken_zone();
	test_errors();
	test_edns();
	test_chaos();
	test_truncation();
	moon_gen_release(gen);
	is_int(moon_gen_alive(), 0, "generation freed");
	return tap_done();
}
