/*
 * Tests for src/fwd/conn.c and tls.c: TCP and DoT upstreams, truncation
 * retried over TCP, pipelining with out-of-order replies, reuse and idle
 * expiry, servers closing connections, certificate verification and
 * session resumption, against scripted upstreams on 127.0.0.1.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "tap.h"
#include "util/err.h"
#include "wire/dns.h"
#include "wire/pkt.h"
#include "wire/wire.h"

static struct ev_loop *loop;
static char certdir[] = "/tmp/moon-fwd-tls-XXXXXX";
static char ca_file[600];

struct one {
	struct fake fk;
	char url[64];
	const char *to[1];
	struct moon_fwd_opts o;
	struct moon_fwd *fwd;
	struct moon_fwd_worker *fw;
};

static void one_setup(struct one *s)
{
	memset(s, 0, sizeof(*s));
	fake_start(&s->fk, loop, 7);
	s->to[0] = fake_url(&s->fk, s->url, sizeof(s->url));
	moon_fwd_opts_init(&s->o);
	s->o.to = s->to;
	s->o.nto = 1;
	s->o.try_timeout_ms = 3000;     /* see dot_setup */
}

static void one_go(struct one *s)
{
	s->fwd = fwd_make(&s->o);
	s->fw = moon_fwd_worker_new(s->fwd, loop, 64);
}

static void one_end(struct one *s)
{
	moon_fwd_worker_free(s->fw);
	moon_fwd_free(s->fwd);
	fake_stop(&s->fk);
}

static const struct moon_fwd_upstream_stats *ust(struct one *s)
{
	return moon_fwd_worker_upstream_stats(s->fw, 0);
}

/* The question name of a reply equals `name` exactly. */
static bool question_is(const struct qrun *r, const char *name)
{
	uint8_t wire[MOON_NAME_MAXLEN];
	int n = moon_name_from_text(name, NULL, wire);
	return r->res.len > 12u + (unsigned)n && memcmp(r->out + 12, wire, (size_t)n) == 0;
}

static void test_tc_retry(void)
{
	struct one s;
	one_setup(&s);
	s.fk.mode = FAKE_TC;
	one_go(&s);
	struct qrun r;
	qrun_one(loop, s.fw, &r, "tc.test.", MOON_T_A);
	ok(r.res.err == 0 && reply_a_last(&r) == 7, "TC over UDP: answered over TCP");
	ok(s.fk.nudp == 1 && s.fk.ntcp == 1, "one UDP then one TCP query");
	is_int(ust(&s)->truncated, 1, "truncation counted");
	ok(!(moon_get_u16(r.out + 2) & MOON_FLAG_TC), "the reply is complete (TC clear)");
	one_end(&s);
}

static void test_force_tcp(void)
{
	struct one s;
	one_setup(&s);
	s.o.force_tcp = true;
	one_go(&s);
	struct qrun r;
	qrun_one(loop, s.fw, &r, "tcp.test.", MOON_T_A);
	ok(r.res.err == 0 && reply_a_last(&r) == 7, "force_tcp: answered");
	ok(s.fk.nudp == 0 && s.fk.ntcp == 1, "over TCP only");
	qrun_one(loop, s.fw, &r, "tcp2.test.", MOON_T_A);
	ok(r.res.err == 0 && s.fk.naccepted == 1, "second query on the same connection");
	is_int(ust(&s)->conn_reused, 1, "reuse counted");
	one_end(&s);
}

static void test_pipeline(void)
{
	struct one s;
	one_setup(&s);
	s.o.force_tcp = true;
	s.fk.hold = 5;          /* answer when five are in, newest first */
	one_go(&s);
	struct qrun r[5];
	struct qrun *rp[5];
	char names[5][32];
	for (unsigned i = 0; i < 5; i++) {
		snprintf(names[i], sizeof(names[i]), "Pipe%u.test.", i);
		qrun_start(s.fw, &r[i], names[i], MOON_T_A, (uint16_t)(500 + i));
		rp[i] = &r[i];
	}
	ok(qrun_wait(loop, rp, 5, 3000), "five pipelined queries answered");
	bool all = true;
	for (unsigned i = 0; i < 5; i++)
		all &= r[i].res.err == 0 && question_is(&r[i], names[i]) &&
		       moon_get_u16(r[i].out) == 500 + i && reply_a_last(&r[i]) == 7;
	ok(all, "out-of-order replies matched to their queries by ID");
	is_int(s.fk.naccepted, 1, "over a single connection");
	is_int(ust(&s)->conn_opened, 1, "one connection opened");
	one_end(&s);
}

static void test_expire(void)
{
	struct one s;
	one_setup(&s);
	s.o.force_tcp = true;
	s.o.expire_ms = 100;
	one_go(&s);
	struct qrun r;
	qrun_one(loop, s.fw, &r, "e1.test.", MOON_T_A);
	loop_for(loop, 300);
	qrun_one(loop, s.fw, &r, "e2.test.", MOON_T_A);
	ok(r.res.err == 0, "answered after the idle connection expired");
	is_int(s.fk.naccepted, 2, "a new connection was opened");
	one_end(&s);
}

static void test_server_closes(void)
{
	struct one s;
	one_setup(&s);
	s.o.force_tcp = true;
	s.fk.close_after = 1;   /* one reply per connection, then close */
	one_go(&s);
	struct qrun r[3];
	struct qrun *rp[3];
	for (unsigned i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "close%u.test.", i);
		qrun_start(s.fw, &r[i], name, MOON_T_A, (uint16_t)(600 + i));
		rp[i] = &r[i];
	}
	ok(qrun_wait(loop, rp, 3, 5000), "all done");
	ok(r[0].res.err == 0 && r[1].res.err == 0 && r[2].res.err == 0,
	   "a server closing after each reply: queries resent on new connections");
	ok(s.fk.naccepted >= 3, "one connection per reply");
	ok(moon_fwd_upstream_up(s.fwd, 0), "the upstream is not marked down for it");
	one_end(&s);
}

/* ---- DoT ---- */

struct dot {
	struct fake_tls ft;
	struct fake plain;      /* UDP on the same port number: must stay silent */
	char url[128];
	const char *to[1];
	struct moon_fwd_opts o;
	struct moon_fwd *fwd;
	struct moon_fwd_worker *fw;
};

static void dot_setup_cc(struct dot *d, const char *suffix, bool client_cert)
{
	memset(d, 0, sizeof(*d));
	fake_tls_start(&d->ft, certdir, 9, client_cert);
	fake_start_udp_on(&d->plain, loop, d->ft.port);
	snprintf(d->url, sizeof(d->url), "tls://127.0.0.1:%u%s", d->ft.port, suffix);
	d->to[0] = d->url;
	moon_fwd_opts_init(&d->o);
	d->o.to = d->to;
	d->o.nto = 1;
	d->o.tls_ca = ca_file;
	/* Handshakes are slow on a loaded machine: no second try meanwhile,
	 * which would open another connection and change the counts. */
	d->o.try_timeout_ms = 3000;
	d->o.timeout_ms = 4000;
}

static void dot_setup(struct dot *d, const char *suffix)
{
	dot_setup_cc(d, suffix, false);
}

static void dot_go(struct dot *d)
{
	d->fwd = fwd_make(&d->o);
	d->fw = moon_fwd_worker_new(d->fwd, loop, 16);
}

static void dot_end(struct dot *d)
{
	moon_fwd_worker_free(d->fw);
	moon_fwd_free(d->fwd);
	fake_stop(&d->plain);
	fake_tls_stop(&d->ft);
}

static const struct moon_fwd_upstream_stats *dst(struct dot *d)
{
	return moon_fwd_worker_upstream_stats(d->fw, 0);
}

static void dot_ok(const char *suffix, const char *servername, const char *what)
{
	struct dot d;
	dot_setup(&d, suffix);
	d.o.tls_servername = servername;
	dot_go(&d);
	struct qrun r;
	qrun_one(loop, d.fw, &r, "dot.test.", MOON_T_A);
	char buf[160];
	snprintf(buf, sizeof(buf), "DoT, %s: answered", what);
	ok(r.res.err == 0 && reply_a_last(&r) == 9, buf);
	snprintf(buf, sizeof(buf), "DoT, %s: over TLS only", what);
	ok(d.ft.queries == 1 && d.plain.nudp == 0, buf);
	dot_end(&d);
}

static void test_dot_wrong_name(void)
{
	struct dot d;
	dot_setup(&d, "");
	d.o.tls_servername = "wrong.test";
	d.o.max_fails = 0;
	dot_go(&d);
	struct qrun r;
	qrun_one(loop, d.fw, &r, "dot.test.", MOON_T_A);
	ok(r.res.err != 0 && r.res.rcode == MOON_RCODE_SERVFAIL,
	   "DoT with the wrong name: SERVFAIL");
	ok(dst(&d)->tls_failures >= 1, "TLS failure counted");
	is_int(d.ft.queries, 0, "no query reached the server");
	is_int(d.plain.nudp, 0, "no cleartext fallback over UDP");
	ok(d.ft.failed_handshakes >= 1 || dst(&d)->tls_failures >= 1, "the handshake was refused");
	dot_end(&d);

	dot_setup(&d, "");
	d.o.tls_servername = "dns.test";
	d.o.tls_ca = NULL;      /* the system CAs do not know our test CA */
	dot_go(&d);
	qrun_one(loop, d.fw, &r, "dot.test.", MOON_T_A);
	ok(r.res.err != 0 && d.ft.queries == 0, "DoT with an untrusted CA: refused");
	dot_end(&d);

	dot_setup(&d, "");
	d.o.tls_servername = "wrong.test";
	d.o.tls_verify = false;
	dot_go(&d);
	qrun_one(loop, d.fw, &r, "dot.test.", MOON_T_A);
	ok(r.res.err == 0, "tls_verify false: the wrong name is accepted");
	dot_end(&d);
}

static void test_dot_client_cert(void)
{
	char cert[700], key[700];
	snprintf(cert, sizeof(cert), "%s/client.pem", certdir);
	snprintf(key, sizeof(key), "%s/client-key.pem", certdir);
	struct dot d;
	dot_setup_cc(&d, "#dns.test", true);
	d.o.max_fails = 0;
	dot_go(&d);
	struct qrun r;
	qrun_one(loop, d.fw, &r, "cc.test.", MOON_T_A);
	ok(r.res.err != 0 && d.ft.queries == 0, "server wants a client certificate: none, refused");
	dot_end(&d);

	dot_setup_cc(&d, "#dns.test", true);
	d.o.tls_cert = cert;
	d.o.tls_key = key;
	dot_go(&d);
	qrun_one(loop, d.fw, &r, "cc.test.", MOON_T_A);
	ok(r.res.err == 0 && reply_a_last(&r) == 9, "with tls_cert and tls_key: answered");
	dot_end(&d);
}

static void test_dot_resume(void)
{
	struct dot d;
	dot_setup(&d, "#dns.test");
	d.o.expire_ms = 500;
	dot_go(&d);
	struct qrun r;
	qrun_one(loop, d.fw, &r, "r1.test.", MOON_T_A);
	qrun_one(loop, d.fw, &r, "r2.test.", MOON_T_A);
	ok(r.res.err == 0 && dst(&d)->conn_opened == 1, "second query reuses the DoT connection");
	loop_for(loop, 1200);   /* expire it */
	qrun_one(loop, d.fw, &r, "r3.test.", MOON_T_A);
	uint64_t opened = dst(&d)->conn_opened;
	ok(r.res.err == 0 && opened >= 2, "new connection after expiry");
	is_int(dst(&d)->tls_resumed, opened - 1, "every new connection resumed the session");
	/* The server counts in its own threads: let them catch up. */
	for (int i = 0; i < 100 && d.ft.handshakes < opened; i++)
		usleep(10000);
	is_int(d.ft.resumed, opened - 1, "and the server agrees");
	dot_end(&d);
}

static void test_dot_pipeline(void)
{
	struct dot d;
	dot_setup(&d, "#dns.test");
	dot_go(&d);
	struct qrun r[8];
	struct qrun *rp[8];
	for (unsigned i = 0; i < 8; i++) {
		char name[32];
		snprintf(name, sizeof(name), "dp%u.test.", i);
		qrun_start(d.fw, &r[i], name, MOON_T_A, (uint16_t)(700 + i));
		rp[i] = &r[i];
	}
	ok(qrun_wait(loop, rp, 8, 3000), "eight DoT queries answered");
	bool all = true;
	for (unsigned i = 0; i < 8; i++)
		all &= r[i].res.err == 0 && moon_get_u16(r[i].out) == 700 + i;
	ok(all && d.ft.handshakes == 1, "pipelined on one DoT connection");
	dot_end(&d);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(120);
	loop = ev_loop_new(EVFLAG_AUTO);
	if (!mkdtemp(certdir) || fake_make_certs(certdir, "dns.test") < 0) {
		printf("Bail out! cannot make test certificates\n");
		return 1;
	}
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", certdir);
	test_tc_retry();
	test_force_tcp();
	test_pipeline();
	test_expire();
	test_server_closes();
	dot_ok("", "dns.test", "tls_servername");
	dot_ok("#dns.test", NULL, "per-upstream #name");
	dot_ok("", NULL, "no name: the IP address is verified");
	test_dot_wrong_name();
	test_dot_client_cert();
	test_dot_resume();
	test_dot_pipeline();
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", certdir);
	ev_loop_destroy(loop);
	return tap_done();
}
