/*
 * Tests for src/fwd/worker.c (with udp.c and health.c): real event loops,
 * scripted UDP upstreams on 127.0.0.1, queries through moon_fwd_query.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "fwd/internal.h"
#include "tap.h"
#include "util/err.h"
#include "util/time.h"
#include "wire/dns.h"
#include "wire/pkt.h"
#include "wire/wire.h"

static struct ev_loop *loop;

struct setup {
	struct fake fk[3];
	unsigned n;
	char urls[3][64];
	const char *to[3];
	struct moon_fwd_opts o;
	struct moon_fwd *fwd;
	struct moon_fwd_worker *fw;
};

/* n fakes answering 10.0.0.1, .2, .3; options as the defaults, sequential. */
static void setup(struct setup *s, unsigned n)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	for (unsigned i = 0; i < n; i++) {
		fake_start(&s->fk[i], loop, (uint8_t)(i + 1));
		s->to[i] = fake_url(&s->fk[i], s->urls[i], sizeof(s->urls[i]));
	}
	moon_fwd_opts_init(&s->o);
	s->o.to = s->to;
	s->o.nto = n;
	s->o.policy = MOON_FWD_SEQUENTIAL;
}

static void go(struct setup *s)
{
	s->fwd = fwd_make(&s->o);
	s->fw = moon_fwd_worker_new(s->fwd, loop, 64);
}

static void teardown(struct setup *s)
{
	moon_fwd_worker_free(s->fw);
	moon_fwd_free(s->fwd);
	for (unsigned i = 0; i < s->n; i++)
		fake_stop(&s->fk[i]);
}

static const struct moon_fwd_upstream_stats *ust(struct setup *s, unsigned i)
{
	return moon_fwd_worker_upstream_stats(s->fw, i);
}

static void test_answer(void)
{
	struct setup s;
	setup(&s, 1);
	go(&s);
	struct qrun r;
	int ret = qrun_start(s.fw, &r, "www.ExAmple.test.", MOON_T_A, 4242);
	is_int(ret, MOON_EPENDING, "query starts");
	struct qrun *rp = &r;
	ok(qrun_wait(loop, &rp, 1, 3000), "answered");
	is_int(r.res.err, 0, "no error");
	is_int(r.res.rcode, MOON_RCODE_NOERROR, "NOERROR");
	is_int(reply_a_last(&r), 1, "the upstream's A record");
	is_int(moon_get_u16(r.out), 4242, "reply carries the client's ID");
	uint8_t wire[MOON_NAME_MAXLEN];
	int n = moon_name_from_text("www.ExAmple.test.", NULL, wire);
	is_mem(r.out + 12, wire, (size_t)n, "reply carries the client's question case");
	ok(moon_get_u16(r.out + 2) & MOON_FLAG_RD, "RD as the client set it");
	is_int(r.res.upstream, 0, "upstream index");
	ok(r.res.in_bailiwick, "in bailiwick of the root");

	/* What went upstream. */
	struct moon_pkt p;
	is_int(moon_pkt_parse(&p, s.fk[0].last_query, s.fk[0].last_len), 0,
	       "upstream query parses");
	ok(p.flags & MOON_FLAG_RD, "upstream query has RD");
	ok(p.edns.present && p.edns.payload == 1232, "upstream query has OPT with 1232");
	is_mem(p.qname, wire, (size_t)n, "upstream query keeps the case");
	is_int(ust(&s, 0)->requests, 1, "one request counted");
	is_int(ust(&s, 0)->responses[0], 1, "one NOERROR counted");
	is_int(moon_fwd_worker_stats(s.fw)->answered, 1, "answered counted");
	teardown(&s);
}

static void test_timeout_failover(void)
{
	struct setup s;
	setup(&s, 2);
	s.fk[0].mode = FAKE_DROP;
	s.o.try_timeout_ms = 100;
	go(&s);
	struct qrun r;
	int64_t t0 = moon_now_ms();
	qrun_one(loop, s.fw, &r, "a.test.", MOON_T_A);
	int64_t took = moon_now_ms() - t0;
	is_int(r.res.err, 0, "timeout then failover: answered");
	is_int(reply_a_last(&r), 2, "by the second upstream");
	ok(took >= 95 && took < 3000, "after about one try timeout");
	is_int(s.fk[0].nudp, 1, "first upstream asked once");
	is_int(ust(&s, 0)->timeouts, 1, "its timeout counted");
	ok(moon_fwd_upstream_up(s.fwd, 0), "one failure does not mark it down (max_fails 2)");
	teardown(&s);
}

static void test_bad_replies(enum fake_mode mode, unsigned mismatched, const char *what)
{
	struct setup s;
	setup(&s, 1);
	s.fk[0].mode = mode;
	go(&s);
	struct qrun r;
	qrun_one(loop, s.fw, &r, "Bad.Reply.test.", MOON_T_A);
	char buf[128];
	snprintf(buf, sizeof(buf), "%s: ignored, real reply accepted", what);
	ok(r.res.err == 0 && reply_a_last(&r) == 1, buf);
	snprintf(buf, sizeof(buf), "%s: counted as mismatched", what);
	is_int(ust(&s, 0)->mismatched, mismatched, buf);
	snprintf(buf, sizeof(buf), "%s: no failure counted", what);
	ok(ust(&s, 0)->timeouts == 0 && ust(&s, 0)->failures == 0, buf);
	teardown(&s);
}

static void test_rcode_failover(void)
{
	struct setup s;
	setup(&s, 2);
	s.fk[0].mode = FAKE_RCODE;
	s.fk[0].rcode = MOON_RCODE_SERVFAIL;
	const char *fo[] = { "SERVFAIL", "refused" };
	s.o.failover = fo;
	s.o.nfailover = 2;
	go(&s);
	struct qrun r;
	qrun_one(loop, s.fw, &r, "sf.test.", MOON_T_A);
	ok(r.res.err == 0 && r.res.rcode == 0 && reply_a_last(&r) == 2,
	   "SERVFAIL with failover: the next upstream answers");
	is_int(ust(&s, 0)->failovers, 1, "failover counted");
	ok(moon_fwd_upstream_up(s.fwd, 0), "a SERVFAIL reply is not a health failure");

	s.fk[0].rcode = MOON_RCODE_REFUSED;
	s.fk[1].mode = FAKE_RCODE;
	s.fk[1].rcode = MOON_RCODE_REFUSED;
	qrun_one(loop, s.fw, &r, "ref.test.", MOON_T_A);
	ok(r.res.err == 0 && r.res.rcode == MOON_RCODE_REFUSED,
	   "all REFUSED: the last reply is answered");
	is_int(moon_get_u16(r.out), r.id, "with the client's ID");
	teardown(&s);

	setup(&s, 2);
	s.fk[0].mode = FAKE_RCODE;
	s.fk[0].rcode = MOON_RCODE_SERVFAIL;
	go(&s);
	qrun_one(loop, s.fw, &r, "sf.test.", MOON_T_A);
	ok(r.res.err == 0 && r.res.rcode == MOON_RCODE_SERVFAIL && r.res.upstream == 0,
	   "without failover the SERVFAIL is answered");
	is_int(s.fk[1].nudp, 0, "and the second upstream is not asked");
	teardown(&s);
}

/* Marks both upstreams down: DROP, max_fails 1, short timeouts. */
static void make_all_down(struct setup *s, bool fail_fast)
{
	setup(s, 2);
	s->fk[0].mode = s->fk[1].mode = FAKE_DROP;
	s->o.max_fails = 1;
	s->o.try_timeout_ms = 50;
	s->o.timeout_ms = 400;
	s->o.fail_fast = fail_fast;
	s->o.health_check_ms = 10000;   /* no probe during the test */
	s->o.health_check_max_ms = 10000;
	go(s);
	struct qrun r;
	qrun_one(loop, s->fw, &r, "down.test.", MOON_T_A);
	ok(r.res.err == -ETIMEDOUT && r.res.rcode == MOON_RCODE_SERVFAIL,
	   "nobody answers: SERVFAIL at the deadline");
	ok(!moon_fwd_upstream_up(s->fwd, 0) && !moon_fwd_upstream_up(s->fwd, 1),
	   "both marked down");
}

static void test_all_down(void)
{
	struct setup s;
	make_all_down(&s, true);
	struct qrun r;
	is_int(qrun_start(s.fw, &r, "x.test.", MOON_T_A, 1), -EHOSTDOWN,
	       "fail_fast: refused at once with -EHOSTDOWN");
	is_int(moon_fwd_worker_stats(s.fw)->all_down, 1, "counted");
	teardown(&s);

	make_all_down(&s, false);
	s.fk[0].mode = s.fk[1].mode = FAKE_ANSWER;
	is_int(qrun_one(loop, s.fw, &r, "y.test.", MOON_T_A), MOON_EPENDING,
	       "try anyway: the query is sent");
	ok(r.res.err == 0 && reply_a_last(&r) == 1, "and answered");
	ok(moon_fwd_upstream_up(s.fwd, 0), "the answer marks it up again");
	teardown(&s);
}

static void test_probe(void)
{
	struct setup s;
	setup(&s, 1);
	s.fk[0].mode = FAKE_DROP;
	s.o.max_fails = 1;
	s.o.try_timeout_ms = 50;
	s.o.timeout_ms = 200;
	s.o.health_check_ms = 100;
	s.o.health_check_max_ms = 400;
	go(&s);
	struct qrun r;
	qrun_one(loop, s.fw, &r, "p.test.", MOON_T_A);
	ok(!moon_fwd_upstream_up(s.fwd, 0), "down after one failure");
	unsigned before = s.fk[0].nudp;
	/* Failed probes wait 100, 200, 400, 400 ms (plus their 50 ms timeout):
	 * three failures take at least 100 + 200 + 400 ms. Only lower bounds
	 * are checked: a loaded machine may be slower, never faster. */
	int64_t t0 = moon_now_ms();
	while (ust(&s, 0)->hc_failures < 3 && moon_now_ms() - t0 < 5000)
		loop_for(loop, 20);
	int64_t took = moon_now_ms() - t0;
	ok(ust(&s, 0)->hc_failures >= 3 && took >= 700, "failed probes back off exponentially");
	is_int(s.fw->up[0].probe_ms, 400, "up to health_check_max");
	loop_for(loop, 20);
	unsigned probes = s.fk[0].nudp - before;
	uint64_t sent = ust(&s, 0)->hc_sent;
	ok(probes >= 3 && sent >= probes && sent <= probes + 1, "each probe sent and counted");
	struct moon_pkt p;
	moon_pkt_parse(&p, s.fk[0].last_query, s.fk[0].last_len);
	ok(p.qtype == MOON_T_NS && p.qname_len == 1 && (p.flags & MOON_FLAG_RD),
	   "the probe is . NS with RD");
	s.fk[0].mode = FAKE_ANSWER;
	loop_for(loop, 2100);
	ok(moon_fwd_upstream_up(s.fwd, 0), "a probe answered: up again");
	before = s.fk[0].nudp;
	loop_for(loop, 300);
	is_int(s.fk[0].nudp, before, "no probes while up");
	teardown(&s);
}

static void test_max_concurrent(void)
{
	struct setup s;
	setup(&s, 1);
	s.fk[0].mode = FAKE_DROP;
	s.o.max_concurrent = 2;
	s.o.timeout_ms = 200;
	s.o.max_fails = 0;
	go(&s);
	struct qrun r[3];
	is_int(qrun_start(s.fw, &r[0], "c1.test.", MOON_T_A, 1), MOON_EPENDING, "first in flight");
	is_int(qrun_start(s.fw, &r[1], "c2.test.", MOON_T_A, 2), MOON_EPENDING, "second in flight");
	is_int(qrun_start(s.fw, &r[2], "c3.test.", MOON_T_A, 3), MOON_ELIMIT,
	       "third above max_concurrent: refused");
	is_int(moon_fwd_worker_stats(s.fw)->refused, 1, "refusal counted");
	struct qrun *rp[2] = { &r[0], &r[1] };
	qrun_wait(loop, rp, 2, 2000);
	is_int(atomic_load(&s.fwd->concurrent), 0, "slots given back at the end");
	is_int(qrun_start(s.fw, &r[2], "c3.test.", MOON_T_A, 3), MOON_EPENDING, "then accepted");
	qrun_wait(loop, rp, 1, 2000);
	teardown(&s);
}

static struct qrun *scribble;

/* What a server does with a reply buffer once the callback returned. */
static void scribble_cb(struct qrun *r)
{
	if (r == scribble)
		memset(r->out, 0xee, sizeof(r->out));
}

static void test_dedup(void)
{
	struct setup s;
	setup(&s, 1);
	s.fk[0].mode = FAKE_LATE;
	s.fk[0].delay_ms = 100;
	go(&s);
	static const char *names[] = { "www.dedup.test.", "WWW.dedup.test.", "www.DEDUP.test." };
	struct qrun r[4];
	struct qrun *rp[4];
	for (unsigned i = 0; i < 3; i++) {
		qrun_start(s.fw, &r[i], names[i], MOON_T_A, (uint16_t)(100 + i));
		rp[i] = &r[i];
	}
	qrun_start(s.fw, &r[3], names[0], MOON_T_AAAA, 103);
	rp[3] = &r[3];
	ok(qrun_wait(loop, rp, 4, 3000), "all answered");
	is_int(s.fk[0].nudp, 2, "three identical questions sent once (plus one AAAA)");
	is_int(moon_fwd_worker_stats(s.fw)->deduped, 2, "two joined");
	bool all = true;
	for (unsigned i = 0; i < 3; i++) {
		uint8_t wire[MOON_NAME_MAXLEN];
		int n = moon_name_from_text(names[i], NULL, wire);
		all &= r[i].res.err == 0 && reply_a_last(&r[i]) == 1;
		all &= moon_get_u16(r[i].out) == 100 + i;
		all &= memcmp(r[i].out + 12, wire, (size_t)n) == 0;
	}
	ok(all, "each waiter gets its own ID and question case");
	ok(!r[0].res.deduped && r[1].res.deduped && r[2].res.deduped, "deduped flags");
	teardown(&s);

	/* The first waiter's callback scribbles over its buffer at once: the
	 * others must have their copies already. */
	setup(&s, 1);
	s.fk[0].mode = FAKE_LATE;
	s.fk[0].delay_ms = 50;
	go(&s);
	struct qrun a, b;
	qrun_start(s.fw, &a, "scribble.test.", MOON_T_A, 1);
	qrun_start(s.fw, &b, "scribble.test.", MOON_T_A, 2);
	scribble = &a;
	qrun_on_done = scribble_cb;
	struct qrun *ab[2] = { &a, &b };
	qrun_wait(loop, ab, 2, 3000);
	qrun_on_done = NULL;
	ok(b.res.err == 0 && reply_a_last(&b) == 1 && moon_get_u16(b.out) == 2,
	   "each waiter's copy is made before any callback runs");
	scribble = NULL;
	teardown(&s);
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static unsigned distinct(uint16_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u16);
	unsigned d = n ? 1 : 0;
	for (unsigned i = 1; i < n; i++)
		d += v[i] != v[i - 1];
	return d;
}

static void test_entropy(void)
{
	struct setup s;
	setup(&s, 1);
	s.o.try_timeout_ms = 3000;      /* no second tries, even on a loaded machine */
	go(&s);
	enum { N = 2000, BATCH = 50 };
	static struct qrun r[BATCH];
	struct qrun *rp[BATCH];
	unsigned answered = 0;
	for (unsigned done = 0; done < N; done += BATCH) {
		for (unsigned i = 0; i < BATCH; i++) {
			char name[64];
			snprintf(name, sizeof(name), "e%u.entropy.test.", done + i);
			qrun_start(s.fw, &r[i], name, MOON_T_A, 7);
			rp[i] = &r[i];
		}
		qrun_wait(loop, rp, BATCH, 5000);
		for (unsigned i = 0; i < BATCH; i++)
			answered += r[i].done && r[i].res.err == 0;
	}
	is_int(answered, N, "2000 queries answered");
	is_int(s.fk[0].nlog, N, "2000 queries seen upstream");
	uint16_t ports[N], ids[N];
	memcpy(ports, s.fk[0].sports, sizeof(ports));
	memcpy(ids, s.fk[0].ids, sizeof(ids));
	unsigned did = distinct(ids, N), dport = distinct(ports, N);
	printf("# %u distinct IDs, %u distinct ports, ports %u..%u\n", did, dport, ports[0],
	       ports[N - 1]);
	ok(did >= 1990, "query IDs: at least 1990 distinct of 2000");
	unsigned idband[8] = { 0 };
	for (unsigned i = 0; i < N; i++)
		idband[ids[i] >> 13]++;
	bool flat = true;
	for (unsigned i = 0; i < 8; i++)
		flat &= idband[i] > 150 && idband[i] < 350;
	ok(flat, "query IDs even across eight bands");
	ok(dport >= 1900, "source ports: at least 1900 distinct of 2000");
	ok(ports[0] >= 1024 && ports[0] < 4000 && ports[N - 1] > 62000,
	   "source ports spread over 1024-65535");
	unsigned bucket[8] = { 0 };
	for (unsigned i = 0; i < N; i++)
		bucket[(ports[i] - 1024) * 8 / (65536 - 1024)]++;
	bool even = true;
	for (unsigned i = 0; i < 8; i++)
		even &= bucket[i] > 150 && bucket[i] < 350;
	ok(even, "source ports even across eight bands (150-350 of 250 expected each)");
	teardown(&s);
}

static void test_icmp_refused(void)
{
	struct setup s;
	setup(&s, 1);
	/* A port nobody listens on: the kernel answers ICMP port unreachable. */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	socklen_t sl = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	char closed[64];
	snprintf(closed, sizeof(closed), "127.0.0.1:%u", ntohs(sin.sin_port));
	const char *to[2] = { closed, s.to[0] };
	s.o.to = to;
	s.o.nto = 2;
	s.o.try_timeout_ms = 2000;
	go(&s);
	struct qrun r;
	int64_t t0 = moon_now_ms();
	qrun_one(loop, s.fw, &r, "icmp.test.", MOON_T_A);
	ok(r.res.err == 0 && reply_a_last(&r) == 1, "port unreachable: the next upstream answers");
	ok(moon_now_ms() - t0 < 1000, "at once, not after the try timeout");
	is_int(ust(&s, 0)->failures, 1, "network failure counted");
	teardown(&s);
}

static void test_scope(void)
{
	struct setup s;
	setup(&s, 1);
	s.o.from = "example.test.";
	const char *ex[] = { "private.example.test." };
	s.o.except = ex;
	s.o.nexcept = 1;
	go(&s);
	struct qrun r;
	is_int(qrun_start(s.fw, &r, "www.other.test.", MOON_T_A, 1), MOON_ENOTFOUND,
	       "outside `from`: not mine");
	is_int(qrun_start(s.fw, &r, "a.PRIVATE.example.test.", MOON_T_A, 1), MOON_ENOTFOUND,
	       "under `except`: not mine");
	is_int(qrun_one(loop, s.fw, &r, "www.example.test.", MOON_T_A), MOON_EPENDING,
	       "inside: forwarded");
	is_int(s.fk[0].nudp, 1, "only that one went upstream");
	teardown(&s);
}

static void test_policies(void)
{
	struct setup s;
	setup(&s, 3);
	s.o.policy = MOON_FWD_ROUND_ROBIN;
	go(&s);
	struct qrun r;
	for (unsigned i = 0; i < 6; i++) {
		char name[32];
		snprintf(name, sizeof(name), "rr%u.test.", i);
		qrun_one(loop, s.fw, &r, name, MOON_T_A);
	}
	ok(s.fk[0].nudp == 2 && s.fk[1].nudp == 2 && s.fk[2].nudp == 2,
	   "round_robin: two queries each");
	teardown(&s);

	setup(&s, 3);
	go(&s);
	for (unsigned i = 0; i < 6; i++) {
		char name[32];
		snprintf(name, sizeof(name), "seq%u.test.", i);
		qrun_one(loop, s.fw, &r, name, MOON_T_A);
	}
	is_int(s.fk[0].nudp, 6, "sequential: all to the first");
	teardown(&s);

	setup(&s, 3);
	s.o.policy = MOON_FWD_RANDOM;
	go(&s);
	for (unsigned i = 0; i < 90; i++) {
		char name[32];
		snprintf(name, sizeof(name), "rnd%u.test.", i);
		qrun_one(loop, s.fw, &r, name, MOON_T_A);
	}
	ok(s.fk[0].nudp >= 10 && s.fk[1].nudp >= 10 && s.fk[2].nudp >= 10,
	   "random: every upstream gets a share");
	teardown(&s);
}

static void test_late_reply(void)
{
	struct setup s;
	setup(&s, 2);
	s.fk[0].mode = FAKE_LATE;
	s.fk[0].delay_ms = 150;
	s.fk[1].mode = FAKE_DROP;
	s.o.try_timeout_ms = 50;
	s.o.max_tries = 2;
	go(&s);
	struct qrun r;
	qrun_one(loop, s.fw, &r, "late.test.", MOON_T_A);
	ok(r.res.err == 0 && reply_a_last(&r) == 1,
	   "a try keeps listening after its timeout: the late reply wins");
	is_int(s.fk[1].nudp, 1, "the next upstream was tried meanwhile");
	is_int(ust(&s, 0)->timeouts, 0, "an answer, however late, is no timeout");
	teardown(&s);
}

static void on_cancel(void *arg, const struct moon_fwd_result *res)
{
	*(int *)arg = res->err;
}

static void test_free_pending(void)
{
	struct setup s;
	setup(&s, 1);
	s.fk[0].mode = FAKE_DROP;
	go(&s);
	uint8_t q[64], out[512];
	uint8_t wire[MOON_NAME_MAXLEN];
	int n = moon_name_from_text("cancel.test.", NULL, wire);
	memset(q, 0, 12);
	moon_put_u16(q + 4, 1);
	memcpy(q + 12, wire, (size_t)n);
	moon_put_u16(q + 12 + n, MOON_T_A);
	moon_put_u16(q + 14 + n, MOON_CLASS_IN);
	struct moon_pkt p;
	moon_pkt_parse(&p, q, 16 + (size_t)n);
	int err = 1;
	is_int(moon_fwd_query(s.fw, &p, out, sizeof(out), on_cancel, &err), MOON_EPENDING,
	       "pending query");
	moon_fwd_worker_free(s.fw);
	s.fw = NULL;
	is_int(err, -ECANCELED, "freeing the worker ends it with -ECANCELED");
	moon_fwd_free(s.fwd);
	fake_stop(&s.fk[0]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(120);
	loop = ev_loop_new(EVFLAG_AUTO);
	test_answer();
	test_timeout_failover();
	test_bad_replies(FAKE_WRONG_ID, 1, "wrong ID");
	test_bad_replies(FAKE_WRONG_CASE, 1, "question in another case");
	test_bad_replies(FAKE_GARBAGE, 2, "garbage and a runt");
	test_rcode_failover();
	test_all_down();
	test_probe();
	test_max_concurrent();
	test_dedup();
	test_entropy();
	test_icmp_refused();
	test_scope();
	test_policies();
	test_late_reply();
	test_free_pending();
	ev_loop_destroy(loop);
	return tap_done();
}
