/*
 * Tests for src/fwd/upstream.c and fwd.c: upstream addresses, resolv.conf,
 * options and their errors, the forwarded zone and `except`, and loop
 * protection against our own listener addresses.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fwd/internal.h"
#include "tap.h"
#include "util/err.h"

static void test_parse(void)
{
	static const struct { const char *in; const char *name; uint8_t xport; } good[] = {
		{ "192.0.2.1", "dns://192.0.2.1:53", XP_UDP },
		{ "dns://192.0.2.1:5353", "dns://192.0.2.1:5353", XP_UDP },
		{ "tls://192.0.2.1", "tls://192.0.2.1:853", XP_TLS },
		{ "tls://192.0.2.1:8853#dns.example", "tls://192.0.2.1:8853#dns.example", XP_TLS },
		{ "tls://[2001:db8::1]#Dns.Example.", "tls://[2001:db8::1]:853#Dns.Example",
		  XP_TLS },
		{ "2001:db8::53", "dns://[2001:db8::53]:53", XP_UDP },
		{ "[::1]:5300", "dns://[::1]:5300", XP_UDP },
	};
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct upstream u;
		int r = moon__fwd_parse_upstream(good[i].in, false, &u);
		char what[128];
		snprintf(what, sizeof(what), "parses %s", good[i].in);
		is_int(r, 0, what);
		snprintf(what, sizeof(what), "%s: name and transport", good[i].in);
		ok(r == 0 && strcmp(u.name, good[i].name) == 0 && u.xport == good[i].xport, what);
		if (r == 0 && strcmp(u.name, good[i].name))
			printf("#   got %s\n", u.name);
		free(u.tls_name);
	}
	struct upstream u;
	moon__fwd_parse_upstream("dns://192.0.2.1", true, &u);
	is_int(u.xport, XP_TCP, "force_tcp makes dns:// TCP");
	moon__fwd_parse_upstream("tls://192.0.2.1", true, &u);
	is_int(u.xport, XP_TLS, "force_tcp leaves tls:// alone");

	static const char *const bad[] = {
		"dns.example.com", "https://192.0.2.1", "192.0.2.1:0", "192.0.2.1:65536",
		"192.0.2.1:abc", "[2001:db8::1", "[2001:db8::1]x", "dns://192.0.2.1#name",
		"tls://192.0.2.1#", "tls://192.0.2.1#bad name", "", "999.1.1.1",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[128];
		snprintf(what, sizeof(what), "rejects \"%s\"", bad[i]);
		ok(moon__fwd_parse_upstream(bad[i], false, &u) < 0, what);
	}
}

static int add_cb(void *arg, const char *addr)
{
	char *acc = arg;
	strcat(acc, addr);
	strcat(acc, ";");
	return 0;
}

static void test_resolvconf(void)
{
	char acc[256] = "";
	static const char conf[] = "# comment\nsearch example.test\n"
				   "nameserver 192.0.2.1\n"
				   "  nameserver\t2001:db8::1   # trailing\n"
				   "; nameserver 192.0.2.99\n"
				   "options ndots:5\nnameserver fe80::1%lo\nnameserver";
	int n = moon__fwd_parse_resolvconf(conf, add_cb, acc);
	is_int(n, 3, "three nameserver lines");
	is_str(acc, "192.0.2.1;2001:db8::1;fe80::1%lo;", "their addresses, comments skipped");

	char path[] = "/tmp/moon-fwd-resolv-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "nameserver 127.0.0.1\nnameserver ::1\n";
	ok(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "temp resolv.conf");
	close(fd);
	struct moon_fwd_opts o;
	moon_fwd_opts_init(&o);
	const char *to[] = { path, "tls://192.0.2.7#x.test" };
	o.to = to;
	o.nto = 2;
	struct moon_fwd *fwd = NULL;
	struct moon_diag d = { 0 };
	is_int(moon_fwd_new(&o, &fwd, &d), 0, "forwarder from a resolv.conf and a DoT upstream");
	is_int(moon_fwd_upstream_count(fwd), 3, "three upstreams");
	is_str(moon_fwd_upstream_name(fwd, 0), "dns://127.0.0.1:53", "first from resolv.conf");
	is_str(moon_fwd_upstream_name(fwd, 1), "dns://[::1]:53", "second from resolv.conf");
	is_str(moon_fwd_upstream_name(fwd, 2), "tls://192.0.2.7:853#x.test", "then the DoT one");
	is_int(fwd->max_tries, 6, "max_tries defaults to twice the upstreams");
	moon_fwd_free(fwd);
	unlink(path);

	const char *missing[] = { "/nonexistent/resolv.conf" };
	o.to = missing;
	o.nto = 1;
	ok(moon_fwd_new(&o, &fwd, &d) < 0 && d.n >= 1, "missing resolv.conf: error");
	if (d.n)
		printf("# %s\n", d.msgs[d.n - 1]);
	moon_diag_free(&d);
}

/* moon_fwd_new fails and the diag names the problem. */
static void bad_opts(struct moon_fwd_opts *o, const char *needle, const char *what)
{
	struct moon_fwd *fwd = NULL;
	struct moon_diag d = { 0 };
	int r = moon_fwd_new(o, &fwd, &d);
	bool found = false;
	for (size_t i = 0; i < d.n; i++)
		found |= strstr(d.msgs[i], needle) != NULL;
	ok(r < 0 && !fwd && found, what);
	if (!found)
		for (size_t i = 0; i < d.n; i++)
			printf("#   %s\n", d.msgs[i]);
	moon_diag_free(&d);
}

static void test_options(void)
{
	struct moon_fwd_opts o;
	moon_fwd_opts_init(&o);
	ok(o.timeout_ms == 5000 && o.max_fails == 2 && o.health_check_ms == 500 &&
	   o.health_check_max_ms == 15000 && o.expire_ms == 10000 && o.tls_verify &&
	   o.policy == MOON_FWD_RANDOM && !o.fail_fast && o.edns_payload == 1232,
	   "documented defaults");
	const char *to[] = { "192.0.2.1" };
	o.to = to;
	o.nto = 1;
	o.where = "test.yaml:3";
	const char *fo[] = { "SERVFAIL", "BOGUS" };
	o.failover = fo;
	o.nfailover = 2;
	bad_opts(&o, "test.yaml:3: forward: bad `failover` rcode \"BOGUS\"", "bad rcode named");
	o.nfailover = 1;
	o.health_check_type = "NOPE";
	bad_opts(&o, "health_check_type", "bad probe type");
	o.health_check_type = "TYPE65";
	o.from = "bad..name";
	bad_opts(&o, "`from`", "bad from");
	o.from = "example.test";
	bad_opts(&o, "`from`", "from must be absolute");
	o.from = "example.test.";
	o.max_pipeline = 0;
	bad_opts(&o, "max_pipeline", "max_pipeline 0");
	o.max_pipeline = 64;
	o.nto = 0;
	bad_opts(&o, "no upstream", "no upstream");
	const char *many[17];
	for (unsigned i = 0; i < 17; i++)
		many[i] = "192.0.2.1";
	o.to = many;
	o.nto = 17;
	bad_opts(&o, "more than 16", "more than 16 upstreams");
	const char *tls[] = { "tls://192.0.2.1" };
	o.to = tls;
	o.nto = 1;
	o.tls_ca = "/nonexistent/ca.pem";
	bad_opts(&o, "cannot load CA", "missing CA file");
	o.tls_ca = NULL;
	o.tls_cert = "/nonexistent/cert.pem";
	bad_opts(&o, "go together", "client cert without key");
	o.tls_cert = NULL;

	is_int(moon_fwd_rcode_parse("servfail"), 2, "rcode names, any case");
	is_int(moon_fwd_rcode_parse("5"), 5, "rcode numbers");
	is_int(moon_fwd_rcode_parse("16"), -EINVAL, "only 0-15");
}

static void test_zone(void)
{
	struct moon_fwd_opts o;
	moon_fwd_opts_init(&o);
	const char *to[] = { "192.0.2.1" };
	const char *ex[] = { "Private.Example.test." };
	o.to = to;
	o.nto = 1;
	o.from = "example.test.";
	o.except = ex;
	o.nexcept = 1;
	struct moon_fwd *fwd = NULL;
	struct moon_diag d = { 0 };
	is_int(moon_fwd_new(&o, &fwd, &d), 0, "forwarder for example.test");
	uint8_t n[MOON_NAME_MAXLEN];
	moon_name_from_text("www.EXAMPLE.test.", NULL, n);
	ok(moon_fwd_handles(fwd, n), "handles a name inside from (any case)");
	moon_name_from_text("a.private.example.test.", NULL, n);
	ok(!moon_fwd_handles(fwd, n), "not a name under except");
	moon_name_from_text("example.com.", NULL, n);
	ok(!moon_fwd_handles(fwd, n), "not a name outside from");
	ok(!moon_fwd_in_bailiwick(fwd, n), "outside from: out of bailiwick");
	moon_name_from_text("example.test.", NULL, n);
	ok(moon_fwd_in_bailiwick(fwd, n), "the apex is in bailiwick");
	moon_fwd_free(fwd);
	moon_diag_free(&d);
}

static struct sockaddr_storage ss(const char *ip, uint16_t port)
{
	struct sockaddr_storage s;
	memset(&s, 0, sizeof(s));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&s;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&s;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, ip, &a->sin_addr);
	}
	return s;
}

static void test_listeners(void)
{
	struct sockaddr_storage l1 = ss("127.0.0.1", 53), l2 = ss("0.0.0.0", 5353),
				l3 = ss("::", 53);
	const struct sockaddr *ls[] = { (struct sockaddr *)&l1, (struct sockaddr *)&l2,
					(struct sockaddr *)&l3 };
	struct sockaddr_storage u;
	u = ss("127.0.0.1", 53);
	ok(moon_fwd_addr_is_listener((struct sockaddr *)&u, ls, 3), "same address and port");
	u = ss("127.0.0.1", 54);
	ok(!moon_fwd_addr_is_listener((struct sockaddr *)&u, ls, 3), "other port");
	u = ss("127.0.0.53", 5353);
	ok(moon_fwd_addr_is_listener((struct sockaddr *)&u, ls, 3),
	   "loopback on a wildcard listener's port");
	u = ss("192.0.2.1", 5353);
	ok(!moon_fwd_addr_is_listener((struct sockaddr *)&u, ls, 3),
	   "a remote address on the wildcard port is not us");
	u = ss("::1", 53);
	ok(moon_fwd_addr_is_listener((struct sockaddr *)&u, ls, 3), "::1 on the :: listener");
	u = ss("127.0.0.1", 53);
	ok(!moon_fwd_addr_is_listener((struct sockaddr *)&u, ls + 1, 1), "port must match");

	struct moon_fwd_opts o;
	moon_fwd_opts_init(&o);
	const char *to[] = { "127.0.0.1:53", "192.0.2.1" };
	o.to = to;
	o.nto = 2;
	struct moon_fwd *fwd = NULL;
	struct moon_diag d = { 0 };
	moon_fwd_new(&o, &fwd, &d);
	is_int(moon_fwd_exclude_listeners(fwd, ls, 3), 1, "one upstream is our own listener");
	ok(!moon_fwd_upstream_up(fwd, 0) && moon_fwd_upstream_up(fwd, 1),
	   "it is never used, the other is");
	moon_fwd_free(fwd);
}

int main(void)
{
	test_parse();
	test_resolvconf();
	test_options();
	test_zone();
	test_listeners();
	return tap_done();
}
