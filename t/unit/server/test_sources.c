/* The forward/cache config rows (src/conf/schema_fwd.c), the block state
 * built from them (src/server/blockstate.c), caches kept across
 * generations, and the fitting of wire answers (src/server/wirefit.c). */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "server/blockstate.h"
#include "server/gen.h"
#include "server/sources.h"
#include "tap.h"
#include "util/err.h"
#include "wire/dns.h"
#include "wire/pkt.h"
#include "wire/wire.h"
#include "zone/zone.h"

static struct moon_diag diag;

static struct moon_conf *load(const char *yaml)
{
	struct moon_conf *c = NULL;
	moon_diag_free(&diag);
	memset(&diag, 0, sizeof(diag));
	moon_conf_load_string(yaml, "moondns.yaml", &c, &diag);
	return c;
}

static const char *first_error(void)
{
	return diag.n ? diag.msgs[0] : "";
}

#define HEAD "servers:\n  - name: b\n    listen: [ \"dns://127.0.0.1:5399\" ]\n" \
	"    zones: [ . ]\n"

static void test_defaults_match_the_libraries(void)
{
	struct moon_conf *c = load(HEAD "    forward: { to: [ 127.0.0.1:53 ] }\n    cache: on\n");
	ok(c != NULL, "forward + cache: on loads");
	if (!c)
		return;
	const struct moon_conf_forward *f = &c->servers[0].forward;
	struct moon_fwd_opts fo;
	moon_fwd_opts_init(&fo);
	ok(f->enabled, "forward enabled");
	is_str(f->from, ".", "from");
	is_str(f->policy, "random", "policy");
	is_int(f->timeout_ms, fo.timeout_ms, "timeout");
	is_int(f->try_timeout_ms, fo.try_timeout_ms, "try_timeout");
	is_int(f->max_tries, fo.max_tries, "max_tries auto = 0");
	is_int(f->max_fails, fo.max_fails, "max_fails");
	is_int(f->health_check_ms, fo.health_check_ms, "health_check");
	is_int(f->health_check_max_ms, fo.health_check_max_ms, "health_check_max");
	is_str(f->health_check_name, fo.health_check_name, "health_check_name");
	is_str(f->health_check_type, fo.health_check_type, "health_check_type");
	ok(f->health_check_rd == fo.health_check_rd, "health_check_rd");
	is_int(f->expire_ms, fo.expire_ms, "expire");
	is_int(f->max_conns, fo.max_conns, "max_conns");
	is_int(f->max_pipeline, fo.max_pipeline, "max_pipeline");
	is_int(f->edns_payload, fo.edns_payload, "edns_payload");
	ok(f->tls_verify == fo.tls_verify && !f->tls_servername && !f->tls_ca, "tls defaults");
	ok(!f->loop_check && !f->fail_fast && !f->force_tcp, "off by default");
	ok(f->where && !strncmp(f->where, "moondns.yaml:5:", 15), "where has line and column");

	struct moon_cache_opts want, got;
	moon_cache_opts_default(&want);
	moon_bstate_cache_opts(&c->servers[0].cache, &got);
	ok(c->servers[0].cache.enabled, "cache: on");
	is_int(got.capacity_bytes, want.capacity_bytes, "capacity");
	is_int(got.success_max_entries, want.success_max_entries, "success.capacity");
	is_int(got.success_min_ttl, want.success_min_ttl, "success.min_ttl");
	is_int(got.success_max_ttl, want.success_max_ttl, "success.max_ttl");
	is_int(got.denial_max_entries, want.denial_max_entries, "denial.capacity");
	is_int(got.denial_min_ttl, want.denial_min_ttl, "denial.min_ttl");
	is_int(got.denial_max_ttl, want.denial_max_ttl, "denial.max_ttl");
	is_int(got.servfail_ttl, want.servfail_ttl, "servfail_ttl");
	is_int(got.prefetch_hits, 0, "prefetch off");
	ok(!got.serve_stale, "serve_stale off");
	is_int(got.stale_answer_ttl, want.stale_answer_ttl, "answer_ttl");
	is_int(got.stale_max, want.stale_max, "max_stale");
	moon_conf_free(c);
}

static void test_sections_on_and_off(void)
{
	struct moon_conf *c = load(HEAD "    forward: { to: [ 127.0.0.1:53 ] }\n"
				   "    cache:\n      prefetch: {}\n      serve_stale: { answer_ttl: 7 }\n");
	ok(c != NULL, "prefetch {} and serve_stale map load");
	if (c) {
		const struct moon_conf_cache *k = &c->servers[0].cache;
		ok(k->prefetch.enabled && k->prefetch.hits == 2 && k->prefetch.percent == 10,
		   "prefetch {} is on with defaults");
		ok(k->serve_stale.enabled && k->serve_stale.answer_ttl == 7, "serve_stale on");
		moon_conf_free(c);
	}
	c = load(HEAD "    forward: off\n    cache: { prefetch: off, serve_stale: "
		 "{ enabled: false } }\n");
	ok(c != NULL, "off values load");
	if (c) {
		ok(!c->servers[0].forward.enabled, "forward: off");
		ok(!c->servers[0].cache.prefetch.enabled, "prefetch: off");
		ok(!c->servers[0].cache.serve_stale.enabled, "serve_stale enabled: false");
		moon_conf_free(c);
	}
	c = load(HEAD);
	ok(c && !c->servers[0].forward.enabled && !c->servers[0].cache.enabled,
	   "absent sections are off");
	moon_conf_free(c);
}

static void test_errors(void)
{
	ok(!load(HEAD "    forward: { policy: fastest }\n"), "bad forward fails");
	ok(strstr(first_error(), "moondns.yaml:5:") != NULL, "error has file:line:column");
	ok(diag.n == 2 && strstr(diag.msgs[0] , "forward.policy: expected one of") &&
	   strstr(diag.msgs[1], "forward: `to` is required"), "each problem reported");
	ok(!load(HEAD "    forward:\n      to: [ \"dns://300.1.1.1\", \"tls://[::1]:853#bad..name\","
		 " 10.0.0.1:99999 ]\n"), "bad upstreams fail");
	ok(diag.n == 3 && strstr(diag.msgs[0], "moondns.yaml:6:13: servers[0].forward.to[0]: bad "
				 "upstream 'dns://300.1.1.1'"), first_error());
	ok(!load(HEAD "    forward: { to: [ 127.0.0.1 ], failover: [ BOGUS ] }\n"), "bad rcode");
	ok(strstr(first_error(), "forward.failover[0]: expected one of") != NULL, first_error());
	ok(!load(HEAD "    cache: { success: { min_ttl: 60, max_ttl: 30 } }\n"), "min above max");
	ok(strstr(first_error(), "cache.success.min_ttl: must not be above max_ttl") != NULL,
	   first_error());
	ok(!load(HEAD "    cache: { servfail_ttl: 60 }\n"), "servfail_ttl above 30");
	ok(!load(HEAD "    cache: { capacity: 64k }\n"), "capacity below 1M");
	ok(!load(HEAD "    forward: { to: [ 127.0.0.1 ], tls_cert: c.pem }\n"), "cert without key");
	ok(strstr(first_error(), "tls_cert and tls_key go together") != NULL, first_error());
}

static struct moon_gen *gen_of(const char *yaml, const struct moon_gen *prev)
{
	struct moon_conf *c = load(yaml);
	struct moon_gen *g = NULL;
	if (c && moon_gen_new_from(prev, c, NULL, 0, 1, &diag, &g))
		g = NULL;
	return g;
}

static void test_cache_kept_across_generations(void)
{
	const char *a = HEAD "    forward: { to: [ 127.0.0.1:53 ] }\n    cache: { capacity: 2M }\n";
	const char *b = HEAD "    forward: { to: [ 127.0.0.1:53 ] }\n    cache: { capacity: 4M }\n";
	const char *c = HEAD "    forward: { to: [ 127.0.0.2:53 ] }\n    cache: { capacity: 2M }\n";
	struct moon_gen *g1 = gen_of(a, NULL);
	ok(g1 && g1->blocks[0].bs && g1->blocks[0].bs->cache && g1->blocks[0].bs->fwd,
	   "block state with forwarder and cache");
	if (!g1)
		return;
	struct moon_gen *g2 = gen_of(a, g1);
	ok(g2 && g2->blocks[0].bs->cache == g1->blocks[0].bs->cache &&
	   g2->blocks[0].bs->cache_adopted, "same sections: the cache is shared");
	struct moon_gen *g3 = gen_of(b, g2);
	ok(g3 && g3->blocks[0].bs->cache != g1->blocks[0].bs->cache, "changed cache: a new one");
	struct moon_gen *g4 = gen_of(c, g1);
	ok(g4 && g4->blocks[0].bs->cache != g1->blocks[0].bs->cache,
	   "changed forward: a new one");
	moon_gen_release(g1);
	ok(g2 && g2->blocks[0].bs->cache_adopted, "the shared cache outlives its first owner");
	moon_gen_release(g2);
	moon_gen_release(g3);
	moon_gen_release(g4);
	struct moon_gen *g5 = gen_of(HEAD "    forward: { to: [ \"127.0.0.1:5399\", "
				     "127.0.0.1:53 ] }\n", NULL);
	ok(g5 && !moon_fwd_upstream_up(g5->blocks[0].bs->fwd, 0) &&
	   moon_fwd_upstream_up(g5->blocks[0].bs->fwd, 1), "own listener excluded");
	moon_gen_release(g5);
	is_int(moon_gen_alive(), 0, "every generation freed");
}

/* A query context around a forwarded-style answer: name www.t., `ans`
 * A records of 16 bytes each, plus `add` in the additional section. */
struct fixture {
	struct moon_gen *gen;
	struct moon_query q;
	uint8_t req[512];
	uint8_t resp[MOON_MAX_MSG];
};

static int build_answer(uint8_t *m, unsigned ans, unsigned add)
{
	static const uint8_t qn[] = { 3, 'w', 'w', 'w', 1, 't', 0 };
	memset(m, 0, MOON_HDR_LEN);
	moon_put_u16(m, 0x1234);
	moon_put_u16(m + 2, MOON_FLAG_QR | MOON_FLAG_RD | MOON_FLAG_RA);
	moon_put_u16(m + 4, 1);
	moon_put_u16(m + 6, (uint16_t)ans);
	moon_put_u16(m + 10, (uint16_t)add);
	size_t n = MOON_HDR_LEN;
	memcpy(m + n, qn, sizeof(qn));
	n += sizeof(qn);
	moon_put_u16(m + n, MOON_T_A);
	moon_put_u16(m + n + 2, MOON_CLASS_IN);
	n += 4;
	for (unsigned i = 0; i < ans + add; i++) {
		moon_put_u16(m + n, 0xc00c);
		moon_put_u16(m + n + 2, MOON_T_A);
		moon_put_u16(m + n + 4, MOON_CLASS_IN);
		moon_put_u16(m + n + 6, 0);
		moon_put_u16(m + n + 8, 300);
		moon_put_u16(m + n + 10, 4);
		m[n + 12] = 192, m[n + 13] = 0, m[n + 14] = 2, m[n + 15] = (uint8_t)i;
		n += 16;
	}
	return (int)n;
}

static void fit(struct fixture *f, bool edns, uint16_t limit, unsigned ans, unsigned add)
{
	static const uint8_t query[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
		3, 'w', 'w', 'w', 1, 't', 0, 0, 1, 0, 1,
		0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0,
	};
	size_t qlen = edns ? sizeof(query) : sizeof(query) - 11;
	memcpy(f->req, query, qlen);
	if (!edns)
		f->req[11] = 0;
	memset(&f->q, 0, sizeof(f->q));
	f->q.gen = f->gen;
	f->q.resp = f->resp;
	f->q.resp_cap = sizeof(f->resp);
	moon_pkt_parse(&f->q.pkt, f->req, qlen);
	f->q.edns = edns;
	f->q.limit = limit;
	f->q.source = MOON_SOURCE_FORWARD;
	f->q.rcode = MOON_RCODE_NOERROR;
	f->q.resp_len = (uint32_t)build_answer(f->resp, ans, add);
	moon_src_finish(&f->q);
}

static void test_fit(void)
{
	static struct fixture f;
	f.gen = gen_of("udp: { max_payload: 1400 }\n" HEAD
		       "    forward: { to: [ 127.0.0.1:53 ] }\n", NULL);
	ok(f.gen != NULL, "generation for the fit tests");
	if (!f.gen)
		return;
	uint16_t hdr[6];
	fit(&f, true, 1232, 2, 1);
	for (int i = 0; i < 6; i++)
		hdr[i] = moon_get_u16(f.resp + 2 * i);
	is_int(f.q.resp_len, 23 + 3 * 16 + 11, "fits: all kept, OPT added");
	ok(hdr[3] == 2 && hdr[5] == 2 && !(hdr[1] & MOON_FLAG_TC), "counts with the OPT");
	const uint8_t *opt = f.resp + f.q.resp_len - 11;
	ok(opt[0] == 0 && moon_get_u16(opt + 1) == MOON_T_OPT && moon_get_u16(opt + 3) == 1400 &&
	   moon_get_u16(opt + 7) == MOON_EDNS_FLAG_DO, "our payload, the client's DO");

	fit(&f, false, 512, 20, 20);      /* 663 bytes: the additional section goes */
	is_int(f.q.resp_len, 23 + 20 * 16, "additional dropped, no OPT");
	ok(!(moon_get_u16(f.resp + 2) & MOON_FLAG_TC) && moon_get_u16(f.resp + 10) == 0 &&
	   moon_get_u16(f.resp + 6) == 20, "no TC: only optional data left out");

	fit(&f, true, 512, 40, 0);        /* the answer itself does not fit */
	is_int(f.q.resp_len, 23 + 11, "question and OPT only");
	ok((moon_get_u16(f.resp + 2) & MOON_FLAG_TC) && moon_get_u16(f.resp + 4) == 1 &&
	   moon_get_u16(f.resp + 6) == 0 && moon_get_u16(f.resp + 10) == 1, "TC=1");

	fit(&f, true, 512, 30, 0);        /* 503 bytes + 11 of OPT = 514 */
	ok(moon_get_u16(f.resp + 2) & MOON_FLAG_TC, "the OPT counts in the limit");

	f.q.rcode = MOON_RCODE_BADVERS;
	f.q.resp_len = (uint32_t)build_answer(f.resp, 0, 0);
	moon_src_finish(&f.q);
	opt = f.resp + f.q.resp_len - 11;
	ok((f.resp[3] & 0xf) == 0 && opt[5] == 1, "extended rcode bits in the OPT");
	moon_gen_release(f.gen);
}

int main(void)
{
	test_defaults_match_the_libraries();
	test_sections_on_and_off();
	test_errors();
	test_cache_kept_across_generations();
	test_fit();
	moon_diag_free(&diag);
	return tap_done();
}
