/*
 * Tests for src/fwd/loop.c: the start-up loop probe (name, query,
 * detection), and a real loop: a forwarder whose upstream sends queries
 * back to the listener that feeds the forwarder.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "tap.h"
#include "util/err.h"
#include "wire/dns.h"
#include "wire/pkt.h"
#include "wire/wire.h"

static void test_name(void)
{
	uint8_t zone[MOON_NAME_MAXLEN];
	moon_name_from_text("Cluster.Local.", NULL, zone);
	struct moon_fwd_loop a, b;
	is_int(moon_fwd_loop_init(&a, zone), 0, "probe made");
	moon_fwd_loop_init(&b, zone);
	char text[MOON_NAME_TEXT_MAXLEN];
	moon_name_to_text(a.name, text, sizeof(text));
	printf("# probe name %s\n", text);
	ok(strlen(text) == 17 + 17 + strlen("cluster.local."), "two 16-character labels");
	ok(strstr(text, ".cluster.local.") != NULL, "below the zone, lowercase");
	ok(memcmp(a.name, b.name, a.name_len) != 0, "a fresh random name each time");
	bool hex = true;
	for (unsigned i = 0; i < 34; i++)
		if (i != 0 && i != 17)
			hex &= strchr("0123456789abcdef", a.name[i]) != NULL;
	ok(hex, "hex labels");
	uint8_t longzone[MOON_NAME_MAXLEN];
	memset(longzone, 0, sizeof(longzone));
	for (unsigned i = 0; i < 4; i++) {
		longzone[i * 56] = 55;
		memset(longzone + i * 56 + 1, 'z', 55);
	}
	ok(moon_fwd_loop_init(&a, longzone) == MOON_ESPACE, "a zone too long for the labels");
}

static void test_detect(void)
{
	uint8_t zone[MOON_NAME_MAXLEN];
	moon_name_from_text("example.test.", NULL, zone);
	struct moon_fwd_loop lp;
	moon_fwd_loop_init(&lp, zone);
	uint8_t q[MOON_FWD_QMAX];
	int n = moon_fwd_loop_query(&lp, q, sizeof(q));
	struct moon_pkt p;
	is_int(moon_pkt_parse(&p, q, (size_t)n), 0, "probe query parses");
	ok(p.qtype == MOON_T_HINFO && (p.flags & MOON_FLAG_RD), "HINFO with RD");
	is_int(moon_fwd_loop_check(&lp, &p), MOON_FWD_LOOP_PROBE, "seen once: our own probe");
	is_int(moon_fwd_loop_check(&lp, &p), MOON_FWD_LOOP_DETECTED, "seen again: a loop");
	ok(moon_fwd_loop_detected(&lp), "detected flag");
	is_int(moon_fwd_loop_check(&lp, &p), MOON_FWD_LOOP_DETECTED, "and stays so");

	moon_fwd_loop_init(&lp, zone);
	moon_fwd_loop_query(&lp, q, sizeof(q));
	q[13] = (uint8_t)(q[13] - 32 * (q[13] >= 'a'));    /* 0x20: any case matches */
	moon_pkt_parse(&p, q, (size_t)n);
	is_int(moon_fwd_loop_check(&lp, &p), MOON_FWD_LOOP_PROBE, "matched in any case");
	lp.threshold = 2;
	is_int(moon_fwd_loop_check(&lp, &p), MOON_FWD_LOOP_PROBE, "threshold is configurable");
	moon_fwd_loop_answered(&lp);
	is_int(moon_fwd_loop_check(&lp, &p), MOON_FWD_LOOP_OTHER, "answered: the probe is over");
	ok(!moon_fwd_loop_detected(&lp), "no loop");

	uint8_t other[64];
	n = moon_fwd_loop_query(&lp, other, sizeof(other));
	is_int(n, MOON_ESPACE, "small buffer refused");
}

/*
 * A real loop on one event loop: our "listener" is a UDP socket that feeds
 * every query it receives to the forwarder (as the pipeline would), and the
 * forwarder's upstream is that same listener.
 */
struct looped {
	int fd;
	ev_io io;
	struct moon_fwd_worker *fw;
	struct moon_fwd_loop *lp;
	unsigned received;
	struct qrun runs[16];
	unsigned nruns;
};

static void noop_done(void *arg, const struct moon_fwd_result *res)
{
}

static void listener_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct looped *l = (struct looped *)((char *)io - offsetof(struct looped, io));
	uint8_t buf[512];
	ssize_t n = recv(l->fd, buf, sizeof(buf), 0);
	if (n <= 0)
		return;
	l->received++;
	struct moon_pkt p;
	if (moon_pkt_parse(&p, buf, (size_t)n) < 0)
		return;
	if (moon_fwd_loop_check(l->lp, &p) == MOON_FWD_LOOP_DETECTED)
		return;         /* answered SERVFAIL by the server: the loop ends here */
	if (l->nruns < 16) {
		struct qrun *r = &l->runs[l->nruns++];
		r->ret = moon_fwd_query(l->fw, &p, r->out, sizeof(r->out), noop_done, r);
	}
}

static void test_real_loop(struct ev_loop *loop)
{
	struct looped l;
	memset(&l, 0, sizeof(l));
	struct fake dummy;
	fake_start(&dummy, loop, 1);    /* only to get a free port for UDP */
	uint16_t port = dummy.port;
	fake_stop(&dummy);
	struct fake lst;
	fake_start_udp_on(&lst, loop, port);
	ev_io_stop(loop, &lst.udp_io);
	l.fd = lst.udp_fd;
	ev_io_init(&l.io, listener_cb, l.fd, EV_READ);
	ev_io_start(loop, &l.io);

	char url[64];
	snprintf(url, sizeof(url), "dns://127.0.0.1:%u", port);
	const char *to[] = { url };
	struct moon_fwd_opts o;
	moon_fwd_opts_init(&o);
	o.to = to;
	o.nto = 1;
	o.timeout_ms = 300;
	struct moon_fwd *fwd = fwd_make(&o);
	l.fw = moon_fwd_worker_new(fwd, loop, 32);
	uint8_t zone[MOON_NAME_MAXLEN] = { 0 };
	struct moon_fwd_loop lp;
	moon_fwd_loop_init(&lp, zone);
	l.lp = &lp;

	/* The server sends the probe to its own listener. */
	uint8_t q[MOON_FWD_QMAX];
	int n = moon_fwd_loop_query(&lp, q, sizeof(q));
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sendto(s, q, (size_t)n, 0, (struct sockaddr *)&sin, sizeof(sin));
	close(s);
	loop_for(loop, 200);
	ok(moon_fwd_loop_detected(&lp), "a forwarding loop is detected");
	is_int(l.received, 2, "on the probe's second arrival, and the echo stops there");

	/* The other guard: our listener excluded as an upstream. */
	struct sockaddr_in self = sin;
	const struct sockaddr *ls[] = { (struct sockaddr *)&self };
	is_int(moon_fwd_exclude_listeners(fwd, ls, 1), 1, "our listener excluded as upstream");
	struct qrun r;
	is_int(qrun_start(l.fw, &r, "x.test.", MOON_T_A, 1), -EHOSTDOWN,
	       "then nothing is forwarded to it");

	moon_fwd_worker_free(l.fw);
	moon_fwd_free(fwd);
	ev_io_stop(loop, &l.io);
	close(l.fd);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(60);
	test_name();
	test_detect();
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	test_real_loop(loop);
	ev_loop_destroy(loop);
	return tap_done();
}
