/* Tests for src/cache/cache.c: hits, TTL countdown, key separation, negative
 * and SERVFAIL caching, byte cap and eviction order, prefetch, serve-stale,
 * and concurrent use. Time is passed explicitly (ms); nothing sleeps. */
#include <pthread.h>
#include <stdio.h>

#include "cache/cache.h"
#include "msgbuild.h"
#include "tap.h"
#include "util/random.h"

#define T0 1000000   /* an arbitrary "now" in ms */

static struct moon_cache_opts opts;
static uint8_t out[65535];

static struct moon_cache *new_cache(void)
{
	struct moon_cache *c = moon_cache_new(&opts);
	if (!c)
		abort();
	return c;
}

static void key(struct moon_cache *c, struct moon_cache_key *k, const char *qname,
		uint16_t qtype, bool do_bit, bool cd, uint32_t block)
{
	uint8_t name[MOON_NAME_MAXLEN];
	if (moon_name_from_text(qname, NULL, name) < 0)
		abort();
	moon_cache_key_init(c, k, name, qtype, MOON_CLASS_IN, do_bit, cd, block);
}

/* A client query: ID, flags, the question as the client wrote it. */
static void query(struct tmsg *q, const char *qname, uint16_t qtype, uint16_t id, uint16_t flags)
{
	tm_begin(q, qname, qtype, MOON_CLASS_IN, flags);
	moon_put_u16(q->b, id);
}

static void a_response(struct tmsg *t, const char *qname, uint32_t ttl)
{
	tm_begin(t, qname, MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_a(t, 0, NULL, ttl, 1);
}

static int lookup(struct moon_cache *c, const struct moon_cache_key *k, const char *qname,
		  int64_t now, struct moon_cache_result *res)
{
	struct tmsg q;
	query(&q, qname, k->qtype, 0x1234, MOON_FLAG_RD);
	return moon_cache_lookup(c, k, q.b, q.len, out, sizeof(out), now, res);
}

static void test_hit_bytes(void)
{
	struct moon_cache *c = new_cache();
	struct moon_cache_key k;
	struct moon_cache_result res;
	struct tmsg t, q;
	key(c, &k, "www.example.com.", MOON_T_A, false, false, 0);
	tm_begin(&t, "Www.Example.Com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	tm_rr(&t, 0, NULL, MOON_T_CNAME, 300, "\3web\xc0\x10", 6);
	tm_a(&t, 0, "web.example.com.", 300, 7);
	tm_rr(&t, 1, "example.com.", MOON_T_NS, 300, "\3ns1\xc0\x10", 6);

	query(&q, "www.example.com.", MOON_T_A, 0x1234, MOON_FLAG_RD);
	is_int(moon_cache_lookup(c, &k, q.b, q.len, out, sizeof(out), T0, &res), 0, "empty: miss");
	is_int(res.state, MOON_CACHE_MISS, "state MISS");
	is_int(moon_cache_insert(c, &k, t.b, t.len, T0), 0, "insert");

	query(&q, "wWw.eXample.COM.", MOON_T_A, 0x1234, MOON_FLAG_RD);
	int n = moon_cache_lookup(c, &k, q.b, q.len, out, sizeof(out), T0, &res);
	is_int(n, t.len, "hit returns the whole message");
	is_int(res.state, MOON_CACHE_HIT, "state HIT");
	is_int(res.kind, MOON_CACHE_SUCCESS, "kind success");
	is_int(res.ttl, 300, "300 s left");
	ok(out[0] == 0x12 && out[1] == 0x34, "client's ID");
	is_mem(out + 12, q.b + 12, q.len - 12, "client's question, case kept");
	is_mem(out + 2, t.b + 2, 10, "flags and counts as stored");
	is_mem(out + q.len, t.b + q.len, t.len - q.len, "records identical");

	is_int(moon_cache_lookup(c, &k, q.b, q.len, out, 20, T0, &res), MOON_ESPACE,
	       "small buffer: MOON_ESPACE");
	is_int(moon_cache_lookup(c, &k, q.b, 11, out, sizeof(out), T0, &res), MOON_EMALF,
	       "short query: MOON_EMALF");

	/* A compressed or different question is not copied: stored lowercase. */
	query(&q, "WWW.EXAMPLE.ORG.", MOON_T_A, 0x1234, MOON_FLAG_RD);
	moon_cache_lookup(c, &k, q.b, q.len, out, sizeof(out), T0, &res);
	is_mem(out + 12, "\3www\7example\3com", 16, "mismatching question not copied");
	moon_cache_free(c);
}

static void test_header_and_opt(void)
{
	struct moon_cache *c = new_cache();
	struct moon_cache_key k, kdo;
	struct moon_cache_result res;
	struct tmsg t, q;
	key(c, &k, "www.example.com.", MOON_T_A, false, false, 0);
	key(c, &kdo, "www.example.com.", MOON_T_A, true, false, 0);
	a_response(&t, "www.example.com.", 300);
	moon_put_u16(t.b + 2, TM_RESP(0) | MOON_FLAG_AD);
	size_t bare = t.len;
	tm_opt(&t, 0, true);
	is_int(moon_cache_insert(c, &k, t.b, t.len, T0), 0, "insert with OPT");
	is_int(moon_cache_insert(c, &kdo, t.b, t.len, T0), 0, "insert DO variant");

	query(&q, "www.example.com.", MOON_T_A, 7, 0);
	is_int(moon_cache_lookup(c, &k, q.b, q.len, out, sizeof(out), T0, &res), bare,
	       "OPT removed from the cached copy");
	is_int(moon_get_u16(out + 10), 0, "ARCOUNT decremented");
	ok(!(moon_get_u16(out + 2) & MOON_FLAG_RD), "RD follows the client (off)");
	ok(!(moon_get_u16(out + 2) & MOON_FLAG_AD), "AD cleared: client set neither DO nor AD");
	query(&q, "www.example.com.", MOON_T_A, 7, MOON_FLAG_RD | MOON_FLAG_AD);
	moon_cache_lookup(c, &k, q.b, q.len, out, sizeof(out), T0, &res);
	ok(moon_get_u16(out + 2) & MOON_FLAG_RD, "RD follows the client (on)");
	ok(moon_get_u16(out + 2) & MOON_FLAG_AD, "AD kept: client set AD");
	query(&q, "www.example.com.", MOON_T_A, 7, 0);
	moon_cache_lookup(c, &kdo, q.b, q.len, out, sizeof(out), T0, &res);
	ok(moon_get_u16(out + 2) & MOON_FLAG_AD, "AD kept: client set DO");
	moon_cache_free(c);
}

static void test_ttl_countdown(void)
{
	struct moon_cache *c = new_cache();
	struct moon_cache_key k;
	struct moon_cache_result res;
	struct tmsg t;
	key(c, &k, "www.example.com.", MOON_T_A, false, false, 0);
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	size_t o1 = tm_a(&t, 0, NULL, 100, 1);
	size_t o2 = tm_a(&t, 2, "ns.example.com.", 7200, 2);
	moon_cache_insert(c, &k, t.b, t.len, T0);

	lookup(c, &k, "www.example.com.", T0 + 10500, &res);
	is_int(moon_get_u32(out + o1), 90, "TTL counted down by whole seconds (10.5 s)");
	is_int(moon_get_u32(out + o2), 90, "longer TTL capped at the lifetime, then counted");
	is_int(res.ttl, 89, "result ttl is the time left");
	lookup(c, &k, "www.example.com.", T0 + 99999, &res);
	ok(res.state == MOON_CACHE_HIT && moon_get_u32(out + o1) == 1, "last fresh ms: TTL 1");
	is_int(lookup(c, &k, "www.example.com.", T0 + 100000, &res), 0, "expired: miss");
	is_int(lookup(c, &k, "www.example.com.", T0 - 5000, &res), 0, "and it is gone");

	moon_cache_insert(c, &k, t.b, t.len, T0);
	lookup(c, &k, "www.example.com.", T0 - 3000, &res);
	is_int(moon_get_u32(out + o1), 100, "clock behind the insert: age 0");
	moon_cache_free(c);
}

static void test_key_separation(void)
{
	struct moon_cache *c = new_cache();
	struct moon_cache_key k, other;
	struct moon_cache_result res;
	struct tmsg t, q;
	uint8_t name[MOON_NAME_MAXLEN];
	key(c, &k, "www.example.com.", MOON_T_A, false, false, 1);
	a_response(&t, "www.example.com.", 300);
	moon_cache_insert(c, &k, t.b, t.len, T0);

	key(c, &other, "WWW.EXAMPLE.COM.", MOON_T_A, false, false, 1);
	ok(other.hash == k.hash, "key ignores name case");
	ok(lookup(c, &other, "www.example.com.", T0, &res) > 0, "same key in other case hits");
	key(c, &other, "www.example.com.", MOON_T_A, true, false, 1);
	is_int(lookup(c, &other, "www.example.com.", T0, &res), 0, "DO separates");
	key(c, &other, "www.example.com.", MOON_T_A, false, true, 1);
	is_int(lookup(c, &other, "www.example.com.", T0, &res), 0, "CD separates");
	key(c, &other, "www.example.com.", MOON_T_A, false, false, 2);
	is_int(lookup(c, &other, "www.example.com.", T0, &res), 0, "block separates");
	key(c, &other, "www.example.com.", MOON_T_AAAA, false, false, 1);
	is_int(lookup(c, &other, "www.example.com.", T0, &res), 0, "type separates");
	key(c, &other, "www.example.net.", MOON_T_A, false, false, 1);
	is_int(lookup(c, &other, "www.example.com.", T0, &res), 0, "name separates");

	moon_name_from_text("www.example.com.", NULL, name);
	moon_cache_key_init(c, &other, name, MOON_T_A, MOON_CLASS_CH, false, false, 1);
	query(&q, "www.example.com.", MOON_T_A, 1, 0);
	is_int(moon_cache_lookup(c, &other, q.b, q.len, out, sizeof(out), T0, &res), 0,
	       "class separates");
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_CH, TM_RESP(0));
	tm_rr(&t, 0, NULL, MOON_T_A, 300, "\1\2\3\4", 4);
	is_int(moon_cache_insert(c, &other, t.b, t.len, T0), 0, "CH answer under CH key");
	ok(moon_cache_lookup(c, &other, q.b, q.len, out, sizeof(out), T0, &res) > 0 &&
	   moon_get_u16(out + 12 + 17 + 2) == MOON_CLASS_CH, "CH key gets the CH answer");
	ok(lookup(c, &k, "www.example.com.", T0, &res) > 0 &&
	   moon_get_u16(out + 12 + 17 + 2) == MOON_CLASS_IN, "IN key still gets the IN answer");

	a_response(&t, "www.example.org.", 300);
	is_int(moon_cache_insert(c, &k, t.b, t.len, T0), MOON_ESEMANTIC,
	       "response for another question refused");
	moon_cache_free(c);
}

static void test_negative(void)
{
	struct moon_cache *c = new_cache();
	struct moon_cache_key k;
	struct moon_cache_result res;
	struct tmsg t;
	key(c, &k, "nx.example.com.", MOON_T_A, false, false, 0);
	tm_begin(&t, "nx.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_NXDOMAIN));
	size_t soa = tm_soa(&t, "example.com.", 600, 60);
	is_int(moon_cache_insert(c, &k, t.b, t.len, T0), 0, "NXDOMAIN stored");
	lookup(c, &k, "nx.example.com.", T0 + 1000, &res);
	ok(res.state == MOON_CACHE_HIT && res.kind == MOON_CACHE_DENIAL, "denial hit");
	is_int(moon_get_u16(out + 2) & 0xf, MOON_RCODE_NXDOMAIN, "rcode kept");
	is_int(moon_get_u32(out + soa), 59, "SOA TTL = min(TTL, MINIMUM) counted down");
	ok(lookup(c, &k, "nx.example.com.", T0 + 59999, &res) > 0, "alive until MINIMUM");
	is_int(lookup(c, &k, "nx.example.com.", T0 + 60000, &res), 0, "gone after MINIMUM");

	tm_begin(&t, "nx.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_NXDOMAIN));
	is_int(moon_cache_insert(c, &k, t.b, t.len, T0), MOON_ELIMIT, "NXDOMAIN without SOA refused");

	opts.denial_max_entries = 0;
	struct moon_cache *c2 = new_cache();
	key(c2, &k, "nx.example.com.", MOON_T_A, false, false, 0);
	tm_soa(&t, "example.com.", 600, 60);
	is_int(moon_cache_insert(c2, &k, t.b, t.len, T0), MOON_ELIMIT, "denial disabled");
	opts.denial_max_entries = 50000;
	moon_cache_free(c2);
	moon_cache_free(c);
}

static void test_servfail(void)
{
	struct moon_cache *c = new_cache();
	struct moon_cache_key k;
	struct moon_cache_result res;
	struct tmsg ok_msg, sf;
	key(c, &k, "www.example.com.", MOON_T_A, false, false, 0);
	a_response(&ok_msg, "www.example.com.", 60);
	tm_begin(&sf, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_SERVFAIL));

	is_int(moon_cache_insert(c, &k, sf.b, sf.len, T0), 0, "SERVFAIL stored");
	lookup(c, &k, "www.example.com.", T0 + 4999, &res);
	ok(res.state == MOON_CACHE_HIT && res.kind == MOON_CACHE_SERVFAIL, "SERVFAIL hit");
	is_int(lookup(c, &k, "www.example.com.", T0 + 5000, &res), 0, "SERVFAIL lives 5 s");
	moon_cache_insert(c, &k, sf.b, sf.len, T0 + 6000);
	is_int(moon_cache_insert(c, &k, sf.b, sf.len, T0 + 9000), 0, "SERVFAIL renews a SERVFAIL");
	ok(lookup(c, &k, "www.example.com.", T0 + 13000, &res) > 0, "renewed lifetime");

	moon_cache_insert(c, &k, ok_msg.b, ok_msg.len, T0);
	is_int(moon_cache_insert(c, &k, sf.b, sf.len, T0 + 1000), -EEXIST,
	       "SERVFAIL does not replace a fresh answer");
	lookup(c, &k, "www.example.com.", T0 + 2000, &res);
	is_int(res.kind, MOON_CACHE_SUCCESS, "the answer is still served");
	is_int(moon_cache_insert(c, &k, sf.b, sf.len, T0 + 60000), 0,
	       "SERVFAIL replaces an expired answer (no serve-stale)");
	moon_cache_insert(c, &k, ok_msg.b, ok_msg.len, T0 + 61000);
	lookup(c, &k, "www.example.com.", T0 + 61000, &res);
	is_int(res.kind, MOON_CACHE_SUCCESS, "an answer replaces a SERVFAIL");
	moon_cache_free(c);
}

static void test_stale(void)
{
	opts.serve_stale = true;
	opts.stale_max = 60;
	struct moon_cache *c = new_cache();
	struct moon_cache_key k;
	struct moon_cache_result res;
	struct tmsg t, sf;
	key(c, &k, "www.example.com.", MOON_T_A, false, false, 0);
	tm_begin(&t, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(0));
	size_t o = tm_a(&t, 0, NULL, 10, 1);
	moon_cache_insert(c, &k, t.b, t.len, T0);
	tm_begin(&sf, "www.example.com.", MOON_T_A, MOON_CLASS_IN, TM_RESP(MOON_RCODE_SERVFAIL));

	int n = lookup(c, &k, "www.example.com.", T0 + 10000, &res);
	ok(n > 0 && res.state == MOON_CACHE_STALE, "expired entry is served STALE");
	is_int(moon_get_u32(out + o), 30, "stale answer carries stale_answer_ttl");
	ok(!res.failed && !res.prefetch, "no failure recorded yet");
	is_int(moon_cache_insert(c, &k, sf.b, sf.len, T0 + 11000), -EEXIST,
	       "SERVFAIL does not replace a stale answer");
	lookup(c, &k, "www.example.com.", T0 + 12000, &res);
	ok(res.state == MOON_CACHE_STALE && res.failed, "stale, upstream failed recently");
	lookup(c, &k, "www.example.com.", T0 + 16000, &res);
	ok(res.state == MOON_CACHE_STALE && !res.failed, "failure mark lasts servfail_ttl");
	ok(lookup(c, &k, "www.example.com.", T0 + 69999, &res) > 0, "stale up to stale_max");
	is_int(lookup(c, &k, "www.example.com.", T0 + 70000, &res), 0, "then a miss");

	struct moon_cache_stats st;
	moon_cache_stats(c, &st);
	ok(st.stale_hits == 4 && st.expired == 1 && st.entries == 0, "stale stats");
	moon_cache_insert(c, &k, sf.b, sf.len, T0);
	is_int(lookup(c, &k, "www.example.com.", T0 + 5000, &res), 0, "SERVFAIL never stale");
	opts.serve_stale = false;
	moon_cache_free(c);
}

static void test_prefetch(void)
{
	opts.prefetch_hits = 3;
	opts.prefetch_percent = 10;
	struct moon_cache *c = new_cache();
	struct moon_cache_key k;
	struct moon_cache_result res;
	struct tmsg t;
	key(c, &k, "www.example.com.", MOON_T_A, false, false, 0);
	a_response(&t, "www.example.com.", 100);
	moon_cache_insert(c, &k, t.b, t.len, T0);

	lookup(c, &k, "www.example.com.", T0 + 91000, &res);
	lookup(c, &k, "www.example.com.", T0 + 91000, &res);
	ok(!res.prefetch, "two hits: not popular enough");
	lookup(c, &k, "www.example.com.", T0 + 50000, &res);
	ok(!res.prefetch, "third hit, 50% left: not yet");
	lookup(c, &k, "www.example.com.", T0 + 91000, &res);
	ok(res.prefetch, "popular and under 10% left: prefetch");
	lookup(c, &k, "www.example.com.", T0 + 92000, &res);
	ok(!res.prefetch, "only one prefetch in flight");
	moon_cache_insert(c, &k, t.b, t.len, T0 + 92000);
	for (int i = 0; i < 3; i++)
		lookup(c, &k, "www.example.com.", T0 + 183000, &res);
	ok(res.prefetch, "re-insert re-arms it");

	struct moon_cache_stats st;
	moon_cache_stats(c, &st);
	is_int(st.prefetches, 2, "prefetch counter");
	opts.prefetch_hits = 0;
	moon_cache_free(c);
}

/* Distinct names of one length (so that entries have one size). */
static void numbered(char *buf, size_t len, const char *prefix, unsigned i)
{
	snprintf(buf, len, "%s%04u.example.com.", prefix, i);
}

static void test_byte_cap(void)
{
	opts.capacity_bytes = 1u << 20;
	struct moon_cache *c = new_cache();
	struct moon_cache_stats st;
	struct tmsg t;
	struct moon_cache_key k;
	char name[64];
	bool held = true;
	for (unsigned i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "r%08x-%u.example.com.", moon_random_u32(), i);
		a_response(&t, name, 300);
		/* Sizes vary: up to 12 records. */
		for (unsigned j = i % 12; j; j--)
			tm_a(&t, 0, NULL, 300, (uint8_t)j);
		key(c, &k, name, MOON_T_A, false, false, 0);
		if (moon_cache_insert(c, &k, t.b, t.len, T0 + i) != 0)
			held = false;
		if (i % 997 == 0) {
			moon_cache_stats(c, &st);
			held = held && st.bytes <= st.capacity;
		}
	}
	moon_cache_stats(c, &st);
	ok(held, "every insert stored, accounted bytes always within the cap");
	ok(st.bytes <= (1u << 20) && st.bytes > (1u << 20) * 8 / 10, "cache full, within cap");
	ok(st.evictions > 90000 && st.entries + st.evictions == 100000, "evictions balance");
	is_int(moon_cache_verify(c), 0, "structure intact");
	printf("# %llu entries in %llu bytes\n", (unsigned long long)st.entries,
	       (unsigned long long)st.bytes);
	opts.capacity_bytes = 64u << 20;
	moon_cache_free(c);
}

static bool present(struct moon_cache *c, const char *name, int64_t now)
{
	struct moon_cache_key k;
	struct moon_cache_result res;
	key(c, &k, name, MOON_T_A, false, false, 0);
	return lookup(c, &k, name, now, &res) > 0;
}

static int insert_a(struct moon_cache *c, const char *name, uint32_t ttl, int64_t now)
{
	struct moon_cache_key k;
	struct tmsg t;
	a_response(&t, name, ttl);
	key(c, &k, name, MOON_T_A, false, false, 0);
	return moon_cache_insert(c, &k, t.b, t.len, now);
}

/* One shard of 16 KiB: a few dozen entries. Once full, inserts evict the
 * least recently used; but an expired entry goes first, even when it is the
 * most recently used. Serve-stale keeps it from being reaped as dead. */
static void test_eviction_order(void)
{
	opts.shards = 1;
	opts.capacity_bytes = 16384;
	opts.serve_stale = true;
	struct moon_cache *c = new_cache();
	struct moon_cache_stats st;
	char name[64];
	for (unsigned n = 0;; n++) {
		numbered(name, sizeof(name), "n", n);
		insert_a(c, name, 3600, T0);
		moon_cache_stats(c, &st);
		if (st.evictions)
			break;
	}
	ok(!present(c, "n0000.example.com.", T0), "full: the least recently used went");
	insert_a(c, "short.example.com.", 10, T0);
	ok(!present(c, "n0001.example.com.", T0), "and the next one");
	ok(present(c, "short.example.com.", T0 + 20000), "expired entry used last (stale)");
	insert_a(c, "m0000.example.com.", 3600, T0 + 20000);
	ok(!present(c, "short.example.com.", T0 + 20000), "expired entry evicted first");
	ok(present(c, "n0002.example.com.", T0 + 20000), "while the LRU entry stays");
	ok(present(c, "n0004.example.com.", T0 + 20000), "touch n4, leave n3 least recently used");
	insert_a(c, "m0001.example.com.", 3600, T0 + 20000);
	ok(!present(c, "n0003.example.com.", T0 + 20000), "then the least recently used goes");
	ok(present(c, "n0004.example.com.", T0 + 20000), "recently used survives");
	moon_cache_stats(c, &st);
	is_int(st.evictions, 4, "one eviction per insert");
	is_int(moon_cache_verify(c), 0, "structure intact");
	moon_cache_free(c);

	opts.success_max_entries = 10;
	c = new_cache();
	for (unsigned i = 0; i < 20; i++) {
		numbered(name, sizeof(name), "c", i);
		insert_a(c, name, 3600, T0);
	}
	moon_cache_stats(c, &st);
	ok(st.success_entries == 10 && present(c, "c0019.example.com.", T0) &&
	   present(c, "c0010.example.com.", T0) && !present(c, "c0009.example.com.", T0),
	   "success entry cap holds, LRU evicted");
	opts.success_max_entries = 100000;
	opts.shards = 64;
	opts.capacity_bytes = 64u << 20;
	opts.serve_stale = false;
	moon_cache_free(c);
}

static void test_opts(void)
{
	struct moon_cache_opts o;
	moon_cache_opts_default(&o);
	ok(moon_cache_opts_check(&o) == NULL, "defaults are valid");
	o.shards = 3;
	ok(moon_cache_opts_check(&o) != NULL, "shards not a power of two");
	moon_cache_opts_default(&o);
	o.servfail_ttl = 31;
	ok(moon_cache_opts_check(&o) != NULL, "servfail TTL above 30 s");
	moon_cache_opts_default(&o);
	o.success_min_ttl = 4000;
	ok(moon_cache_opts_check(&o) != NULL, "min above max");
	moon_cache_opts_default(&o);
	o.capacity_bytes = 1000;
	ok(moon_cache_opts_check(&o) != NULL && moon_cache_new(&o) == NULL, "capacity too small");
}

/* ---- concurrency ---- */

#define NAMES 10000
#define THREADS 4
#define ITERS 200000

static struct moon_cache *shared;
static int thread_errors;

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct tmsg t, q;
	struct moon_cache_key k;
	struct moon_cache_result res;
	static __thread uint8_t buf[4096];
	char name[64];
	int errors = 0;
	for (unsigned i = 0; i < ITERS; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned id = (seed >> 8) % NAMES;
		int64_t now = T0 + i / 8;
		numbered(name, sizeof(name), "t", id);
		key(shared, &k, name, MOON_T_A, id & 1, false, 0);
		if ((seed >> 4) % 4 == 0) {
			a_response(&t, name, 1 + id % 30);
			for (unsigned j = id % 5; j; j--)
				tm_a(&t, 0, NULL, 300, (uint8_t)j);
			if (moon_cache_insert(shared, &k, t.b, t.len, now) != 0)
				errors++;
			continue;
		}
		query(&q, name, MOON_T_A, (uint16_t)i, MOON_FLAG_RD);
		int n = moon_cache_lookup(shared, &k, q.b, q.len, buf, sizeof(buf), now, &res);
		if (n < 0 || (n > 0 && ((size_t)n != q.len + 16 * (1 + id % 5) ||
					moon_get_u16(buf) != (uint16_t)i ||
					memcmp(buf + 12, q.b + 12, q.len - 12) != 0)))
			errors++;
	}
	__atomic_add_fetch(&thread_errors, errors, __ATOMIC_RELAXED);
	return NULL;
}

static void test_threads(void)
{
	opts.capacity_bytes = 1u << 20;
	opts.serve_stale = true;
	opts.prefetch_hits = 2;
	shared = new_cache();
	pthread_t th[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)(i + 1));
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	struct moon_cache_stats st;
	moon_cache_stats(shared, &st);
	is_int(thread_errors, 0, "4 threads: every insert stored, every hit well formed");
	is_int(moon_cache_verify(shared), 0, "structure intact after concurrent use");
	ok(st.hits + st.stale_hits + st.misses + st.inserts == (uint64_t)THREADS * ITERS,
	   "every operation counted once");
	printf("# hits %llu stale %llu misses %llu inserts %llu\n", (unsigned long long)st.hits,
	       (unsigned long long)st.stale_hits, (unsigned long long)st.misses,
	       (unsigned long long)st.inserts);
	moon_cache_free(shared);
	moon_cache_opts_default(&opts);
}

int main(void)
{
	moon_cache_opts_default(&opts);
	test_opts();
	test_hit_bytes();
	test_header_and_opt();
	test_ttl_countdown();
	test_key_separation();
	test_negative();
	test_servfail();
	test_stale();
	test_prefetch();
	test_byte_cap();
	test_eviction_order();
	test_threads();
	return tap_done();
}
