/*
 * The forwarder against a real authoritative server: nsd (or knotd when
 * nsd is missing, or with MOON_FWD_PEER=knotd) serving a small zone on
 * 127.0.0.1, reached over UDP, over TCP (force_tcp) and over TCP after a
 * truncated UDP reply.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake.h"
#include "tap.h"
#include "util/err.h"
#include "wire/dns.h"
#include "wire/pkt.h"
#include "wire/wire.h"

static char dir[] = "/tmp/moon-fwd-peer-XXXXXX";
static uint16_t port;
static pid_t server;

static const char zone_text[] =
	"$ORIGIN peer.test.\n$TTL 300\n"
	"@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
	"@ IN NS ns1\n"
	"ns1 IN A 127.0.0.1\n"
	"www IN A 192.0.2.10\n"
	"alias IN CNAME www\n";

static void write_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static void write_zone(void)
{
	char text[8192];
	size_t n = (size_t)snprintf(text, sizeof(text), "%s", zone_text);
	/* A TXT set of about 2 KB: more than our 1232-byte EDNS payload. */
	for (int i = 0; i < 10; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "big IN TXT \"%0200d\"\n", i);
	write_file("peer.test.zone", text);
}

static uint16_t free_port(void)
{
	for (;;) {
		int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = { .sin_family = AF_INET };
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t len = sizeof(sin);
		bind(u, (struct sockaddr *)&sin, sizeof(sin));
		getsockname(u, (struct sockaddr *)&sin, &len);
		int r = bind(t, (struct sockaddr *)&sin, sizeof(sin));
		close(u);
		close(t);
		if (r == 0)
			return ntohs(sin.sin_port);
	}
}

static bool start_nsd(void)
{
	char conf[2048];
	snprintf(conf, sizeof(conf),
		 "server:\n  server-count: 1\n  ip-address: 127.0.0.1\n  port: %u\n"
		 "  do-ip6: no\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"%s\"\n"
		 "  database: \"\"\n  zonelistfile: \"%s/zone.list\"\n"
		 "  xfrdfile: \"%s/xfrd.state\"\n  xfrdir: \"%s\"\n  pidfile: \"%s/nsd.pid\"\n"
		 "  logfile: \"%s/nsd.log\"\n  rrl-ratelimit: 0\n  reuseport: no\n"
		 "remote-control:\n  control-enable: no\n"
		 "zone:\n  name: peer.test\n  zonefile: \"%s/peer.test.zone\"\n",
		 port, dir, dir, dir, dir, dir, dir, dir);
	write_file("nsd.conf", conf);
	char path[256];
	snprintf(path, sizeof(path), "%s/nsd.conf", dir);
	server = fork();
	if (server == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl("/usr/sbin/nsd", "nsd", "-d", "-c", path, (char *)NULL);
		_exit(127);
	}
	return server > 0;
}

static bool start_knotd(void)
{
	char conf[2048];
	snprintf(conf, sizeof(conf),
		 "server:\n  rundir: \"%s\"\n  listen: 127.0.0.1@%u\n  udp-workers: 1\n"
		 "  tcp-workers: 1\n  background-workers: 1\n"
		 "database:\n  storage: \"%s/db\"\n"
		 "template:\n  - id: default\n    storage: \"%s\"\n    zonefile-sync: -1\n"
		 "zone:\n  - domain: peer.test.\n    file: \"%s/peer.test.zone\"\n",
		 dir, port, dir, dir, dir);
	write_file("knot.conf", conf);
	char path[256];
	snprintf(path, sizeof(path), "%s/knot.conf", dir);
	server = fork();
	if (server == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl("/usr/sbin/knotd", "knotd", "-c", path, (char *)NULL);
		_exit(127);
	}
	return server > 0;
}

/* Polls the server with a plain UDP query until it answers (5 s). */
static bool wait_ready(void)
{
	static const uint8_t q[] = { 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
				     3, 'w', 'w', 'w', 4, 'p', 'e', 'e', 'r', 4, 't', 'e', 's', 't',
				     0, 0, 1, 0, 1 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	bool ready = false;
	for (int i = 0; i < 50 && !ready; i++) {
		send(fd, q, sizeof(q), 0);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint8_t buf[512];
		ready = poll(&p, 1, 100) == 1 && recv(fd, buf, sizeof(buf), 0) > 12;
		if (!ready)
			usleep(100000);         /* refused at once until it listens */
	}
	close(fd);
	return ready;
}

static struct moon_fwd_worker *fw;
static struct moon_fwd *fwd;
static struct ev_loop *loop;

static void make_fwd(bool force_tcp)
{
	static char url[64];
	static const char *to[1];
	snprintf(url, sizeof(url), "dns://127.0.0.1:%u", port);
	to[0] = url;
	struct moon_fwd_opts o;
	moon_fwd_opts_init(&o);
	o.to = to;
	o.nto = 1;
	o.from = "peer.test.";
	o.force_tcp = force_tcp;
	fwd = fwd_make(&o);
	fw = moon_fwd_worker_new(fwd, loop, 16);
}

static void end_fwd(void)
{
	moon_fwd_worker_free(fw);
	moon_fwd_free(fwd);
}

/* Counts the records of type `type` in the answer section of r. */
static unsigned answers_of(const struct qrun *r, uint16_t type, uint32_t *a_value)
{
	struct moon_pkt p;
	if (!r->done || r->res.err || moon_pkt_parse(&p, r->out, r->res.len) < 0)
		return 0;
	size_t pos = p.question_end;
	unsigned n = 0;
	for (unsigned i = 0; i < p.ancount; i++) {
		uint8_t name[MOON_NAME_MAXLEN];
		moon_name_unpack(r->out, r->res.len, &pos, name);
		uint16_t t = moon_get_u16(r->out + pos), rdlen = moon_get_u16(r->out + pos + 8);
		if (t == type) {
			n++;
			if (t == MOON_T_A && a_value)
				*a_value = moon_get_u32(r->out + pos + 10);
		}
		pos += 10u + rdlen;
	}
	return n;
}

static void run_tests(const char *peer)
{
	char what[160];
	struct qrun r;
	uint32_t a = 0;
	make_fwd(false);
	qrun_one(loop, fw, &r, "www.PEER.test.", MOON_T_A);
	snprintf(what, sizeof(what), "%s over UDP: www A 192.0.2.10", peer);
	ok(r.res.err == 0 && r.res.rcode == 0 && answers_of(&r, MOON_T_A, &a) == 1 &&
	   a == 0xc000020a, what);
	snprintf(what, sizeof(what), "%s: AA from the server, client case kept", peer);
	ok((moon_get_u16(r.out + 2) & MOON_FLAG_AA) && memcmp(r.out + 13, "www\4PEER", 8) == 0,
	   what);
	qrun_one(loop, fw, &r, "alias.peer.test.", MOON_T_A);
	snprintf(what, sizeof(what), "%s: CNAME and its target", peer);
	ok(answers_of(&r, MOON_T_CNAME, NULL) == 1 && answers_of(&r, MOON_T_A, NULL) == 1, what);
	qrun_one(loop, fw, &r, "nope.peer.test.", MOON_T_A);
	struct moon_pkt p;
	moon_pkt_parse(&p, r.out, r.res.len);
	snprintf(what, sizeof(what), "%s: NXDOMAIN with the SOA", peer);
	ok(r.res.err == 0 && r.res.rcode == MOON_RCODE_NXDOMAIN && p.nscount == 1, what);
	qrun_one(loop, fw, &r, "big.peer.test.", MOON_T_TXT);
	const struct moon_fwd_upstream_stats *st = moon_fwd_worker_upstream_stats(fw, 0);
	snprintf(what, sizeof(what), "%s: 2 KB TXT truncated over UDP, complete over TCP", peer);
	ok(r.res.err == 0 && answers_of(&r, MOON_T_TXT, NULL) == 10 && r.res.len > 1232 &&
	   st->truncated == 1, what);
	end_fwd();

	make_fwd(true);
	qrun_one(loop, fw, &r, "www.peer.test.", MOON_T_A);
	a = 0;
	snprintf(what, sizeof(what), "%s over TCP (force_tcp): www A", peer);
	ok(r.res.err == 0 && answers_of(&r, MOON_T_A, &a) == 1 && a == 0xc000020a, what);
	struct qrun rs[4];
	struct qrun *rp[4];
	for (unsigned i = 0; i < 4; i++) {
		qrun_start(fw, &rs[i], i % 2 ? "alias.peer.test." : "big.peer.test.",
			   i % 2 ? MOON_T_A : MOON_T_TXT, (uint16_t)(900 + i));
		rp[i] = &rs[i];
	}
	qrun_wait(loop, rp, 4, 5000);
	bool all = true;
	for (unsigned i = 0; i < 4; i++)
		all &= rs[i].done && rs[i].res.err == 0 && moon_get_u16(rs[i].out) == 900 + i;
	snprintf(what, sizeof(what), "%s over TCP: concurrent queries on one pooled connection",
		 peer);
	ok(all && moon_fwd_worker_upstream_stats(fw, 0)->conn_opened == 1, what);
	end_fwd();
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(60);
	/* MOON_FWD_PEER=knotd picks knotd even when nsd is there. */
	const char *want = getenv("MOON_FWD_PEER");
	const char *peer = access("/usr/sbin/nsd", X_OK) == 0 ? "nsd" :
			   access("/usr/sbin/knotd", X_OK) == 0 ? "knotd" : NULL;
	if (want && strcmp(want, "knotd") == 0 && access("/usr/sbin/knotd", X_OK) == 0)
		peer = "knotd";
	if (!peer || !mkdtemp(dir)) {
		printf("1..0 # SKIP no nsd or knotd\n");
		return 0;
	}
	write_zone();
	port = free_port();
	bool started = strcmp(peer, "nsd") == 0 ? start_nsd() : start_knotd();
	if (!started || !wait_ready()) {
		printf("Bail out! %s did not start on port %u\n", peer, port);
		if (server > 0)
			kill(server, SIGTERM);
		return 1;
	}
	printf("# %s on 127.0.0.1:%u, pid %d\n", peer, port, (int)server);
	loop = ev_loop_new(EVFLAG_AUTO);
	run_tests(peer);
	ev_loop_destroy(loop);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
