/*
 * Reload, the parts that need no running server: the listener plan, the
 * worker mailbox order, which zones a new generation shares with the old
 * one, the validation `check` and reload share, the `user` key, the files a
 * config names, and the debounce rule of the watcher.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"
#include "server/gen.h"
#include "server/listeners.h"
#include "server/privdrop.h"
#include "server/reload.h"
#include "server/watch.h"
#include "server/zshare.h"
#include "tap.h"
#include "util/err.h"
#include "util/log.h"
#include "zone/zone.h"

static char dir[] = "/tmp/moon-test-reload-XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static bool fcntl_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static struct moon_gen_listener lis(const char *ip, unsigned port, enum moon_listen_proto proto)
{
	struct moon_gen_listener l;
	memset(&l, 0, sizeof(l));
	struct sockaddr_in *sin = (struct sockaddr_in *)&l.addr;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &sin->sin_addr);
	l.addrlen = sizeof(*sin);
	l.proto = proto;
	l.uri = "dns://test";
	return l;
}

static unsigned port_of(const struct moon_ltab *t, size_t i)
{
	return ntohs(((const struct sockaddr_in *)&t->l[i].addr)->sin_port);
}

static void test_plan(void)
{
	struct moon_gen_listener first[] = {
		lis("127.0.0.1", 53, MOON_LISTEN_DNS), lis("127.0.0.1", 54, MOON_LISTEN_DNS),
		lis("127.0.0.2", 53, MOON_LISTEN_DNS),
	};
	struct moon_ltab t;
	is_int(moon_ltab_init(&t, first, 3), 0, "table of the first generation");

	/* Same set, another order: nothing moves. */
	struct moon_gen_listener same[] = { first[2], first[0], first[1] };
	struct moon_lplan p;
	is_int(moon_lplan_make(&t, same, 3, &p), 0, "plan: same listeners");
	ok(p.n_kept == 3 && p.n_added == 0 && p.n_removed == 0, "all kept, whatever the order");
	is_int(p.next.n, 3, "slots unchanged");
	is_int(port_of(&p.next, 1), 54, "slot 1 is still port 54");
	moon_lplan_free(&p);

	/* Drop :54, add :55 and :56: :55 takes the freed slot 1. */
	struct moon_gen_listener next[] = {
		first[0], lis("127.0.0.1", 55, MOON_LISTEN_DNS), first[2],
		lis("127.0.0.1", 56, MOON_LISTEN_DNS),
	};
	is_int(moon_lplan_make(&t, next, 4, &p), 0, "plan: one removed, two added");
	is_int(p.n_kept, 2, "two kept");
	ok(p.n_removed == 1 && p.removed[0] == 1, "slot 1 (:54) removed");
	ok(p.n_added == 2 && p.added[0] == 1 && p.added[1] == 3, "added into slot 1, then 3");
	is_int(p.next.n, 4, "one slot more");
	is_int(port_of(&p.next, 0), 53, "slot 0 untouched");
	is_int(port_of(&p.next, 1), 55, "slot 1 reused by :55");
	is_int(port_of(&p.next, 3), 56, "slot 3 is :56");
	is_str(p.next.l[1].uri, "dns://test", "the uri is copied");
	moon_ltab_free(&t);
	t = p.next;
	memset(&p.next, 0, sizeof(p.next));
	moon_lplan_free(&p);

	/* Everything removed but one: the others become empty slots that
	 * route nowhere. */
	is_int(moon_lplan_make(&t, &next[3], 1, &p), 0, "plan: keep only :56");
	is_int(p.n_removed, 3, "three removed");
	ok(!moon_ltab_used(&p.next, 0) && !moon_ltab_used(&p.next, 1) &&
	   moon_ltab_used(&p.next, 3), "empty slots, :56 kept in its slot");
	is_int(p.next.l[0].addr.ss_family, 0, "an empty slot has no address family");
	moon_lplan_free(&p);

	/* The same address with another protocol is another listener. */
	struct moon_gen_listener tls = next[0];
	tls.proto = MOON_LISTEN_TLS;
	is_int(moon_lplan_make(&t, &tls, 1, &p), 0, "plan: dns:// becomes tls://");
	ok(p.n_added == 1 && p.n_kept == 0, "a changed protocol is removed and added");
	moon_lplan_free(&p);
	moon_ltab_free(&t);
}

/* A transport with no traffic, enough to receive the mailbox's ops. */
static struct moon_net_pkt *no_pkt(void *arg) { return NULL; }
static int no_handle(void *arg, struct moon_net_pkt *pkt) { return 0; }
static void no_done(void *arg, struct moon_net_pkt *pkt, bool sent) { }

static void test_mailbox(void)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct moon_net_config cfg = { .udp_batch = 4, .tcp_idle_timeout_ms = 1000,
				       .tcp_io_timeout_ms = 1000 };
	struct moon_net_shared sh;
	moon_net_shared_init(&sh, 10, 10);
	struct moon_net_ops ops = { .get = no_pkt, .handle = no_handle, .done = no_done };
	struct moon_net_worker *nw = moon_net_worker_new(loop, &cfg, &sh, &ops);
	struct moon_gen_listener l = lis("127.0.0.1", 0, MOON_LISTEN_DNS);
	int fd;
	is_int(moon_net_socket_udp((struct sockaddr *)&l.addr, l.addrlen, &fd), 0, "a UDP socket");

	struct moon_lmbox m;
	moon_lmbox_init(&m);
	struct moon_lop *a = moon_lop_new(5, MOON_LOP_RETIRE, 1, -1, false);
	a->next = moon_lop_new(5, MOON_LOP_ADD_UDP, 2, fd, false);
	a->next->next = moon_lop_new(6, MOON_LOP_RETIRE, 2, -1, false);
	moon_lmbox_post(&m, a);
	is_int(moon_lmbox_apply(&m, nw, 0), 1, "before the swap: only the leading retirement");
	is_int(moon_lmbox_apply(&m, nw, 4), 0, "nothing of generation 5 while serving 4");
	is_int(moon_lmbox_apply(&m, nw, 5), 1, "serving 5: its added socket, not 6's retirement");
	is_int(moon_lmbox_apply(&m, nw, 0), 1, "then 6's retirement may go before its swap");
	is_int(moon_lmbox_apply(&m, nw, 99), 0, "the mailbox is empty");
	ok(fcntl_closed(fd), "the retired socket is closed");

	/* Ops never applied close their sockets. */
	int fd2;
	moon_net_socket_udp((struct sockaddr *)&l.addr, l.addrlen, &fd2);
	moon_lmbox_post(&m, moon_lop_new(9, MOON_LOP_ADD_UDP, 3, fd2, false));
	moon_lmbox_deinit(&m);
	ok(fcntl_closed(fd2), "an op never applied closes its socket");

	moon_net_worker_close(nw);
	ok(moon_net_worker_free(nw), "the transport frees");
	moon_net_shared_deinit(&sh);
	ev_loop_destroy(loop);
}

static const char zone_a[] =
	"$TTL 60\n@ SOA ns root 1 60 60 60 60\n@ NS ns\nns A 192.0.2.1\n";
static const char zone_b[] =
	"$TTL 60\n@ SOA ns root 1 60 60 60 60\n@ NS ns\nns A 192.0.2.2\n";

static struct moon_gen *build(const char *yaml, const struct moon_gen *prev,
			      struct moon_diag *diag)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/moondns.yaml", dir);
	write_file("moondns.yaml", yaml);
	struct moon_conf *conf;
	struct moon_gen *gen = NULL;
	if (moon_reload_load(path, &conf, diag) == 0)
		moon_reload_validate(conf, prev, NULL, 0, 1, diag, &gen);
	return gen;
}

static const char yaml_zones[] =
	"servers:\n"
	"  - name: t\n"
	"    listen: [ \"dns://127.0.0.1:5399\" ]\n"
	"    zone_files:\n"
	"      - { origin: a.test., file: a.zone }\n"
	"      - { origin: b.test., file: b.zone }\n"
	"      - origin: c.test.\n"
	"        inline: \"@ 60 SOA ns root 1 60 60 60 60\\n@ 60 NS ns\\nns 60 A 192.0.2.3\\n\"\n";

static void test_zone_reuse(void)
{
	struct moon_conf_zone_file x = { .origin = "a.test.", .file = "/z/a", .default_ttl = 60 };
	struct moon_conf_zone_file y = x;
	ok(moon_zshare_same_source(&x, &y), "same entry");
	y.origin = "A.TEST.";
	ok(moon_zshare_same_source(&x, &y), "origin compared without case");
	y.default_ttl = 61;
	ok(!moon_zshare_same_source(&x, &y), "another default_ttl");
	y = x;
	y.file = "/z/b";
	ok(!moon_zshare_same_source(&x, &y), "another file");
	y.file = NULL;
	y.text = "@ SOA";
	ok(!moon_zshare_same_source(&x, &y), "inline instead of a file");

	write_file("a.zone", zone_a);
	write_file("b.zone", zone_b);
	struct moon_diag diag = { 0 };
	struct moon_gen *g1 = build(yaml_zones, NULL, &diag);
	if (!ok(g1 != NULL, "first generation"))
		return;
	is_int(g1->zones_reused, 0, "nothing to share at first");
	struct moon_gen *g2 = build(yaml_zones, g1, &diag);
	ok(g2 && g2->zones_reused == 3, "an identical config shares every zone");
	ok(g2 && g2->blocks[0].zones[0].zone == g1->blocks[0].zones[0].zone,
	   "the very same zone object");

	write_file("b.zone", "$TTL 60\n@ SOA ns root 2 60 60 60 60\n@ NS ns\nns A 192.0.2.9\n");
	struct moon_gen *g3 = build(yaml_zones, g2, &diag);
	ok(g3 && g3->zones_reused == 2, "a changed file: the other two are shared");
	ok(g3 && g3->blocks[0].zones[1].zone != g2->blocks[0].zones[1].zone,
	   "the changed zone is a new object");
	ok(g3 && g3->blocks[0].zones[0].zone == g1->blocks[0].zones[0].zone, "a.test. still g1's");
	moon_gen_release(g1);
	moon_gen_release(g2);
	ok(g3 && moon_zone_serial(g3->blocks[0].zones[0].zone) == 1,
	   "a shared zone outlives the generation that loaded it");

	write_file("b.zone", "$TTL 60\n@ SOA ns root 2 60 60 60 60\n@ NS ns\nns A 192.0.2.9\n"
		   "; $include is in a comment but still counts\n");
	struct moon_gen *g4 = build(yaml_zones, g3, &diag);
	struct moon_gen *g5 = build(yaml_zones, g4, &diag);
	ok(g5 && g5->zones_reused == 2, "a file with $INCLUDE is always read again");
	is_int(moon_diag_count(&diag), 0, "nothing diagnosed");
	moon_gen_release(g3);
	moon_gen_release(g4);
	moon_gen_release(g5);
	moon_diag_free(&diag);
	is_int(moon_gen_alive(), 0, "every generation freed");
}

static void test_digest(void)
{
	/* A directive cut in two by the 64 KiB read chunk is still found. */
	size_t n = 65536 + 100;
	char *big = malloc(n + 1);
	memset(big, ';', n);
	memcpy(big + 65536 - 4, "\n$INCLUDE x\n", 12);
	big[n] = 0;
	write_file("big.zone", big);
	char path[256];
	snprintf(path, sizeof(path), "%s/big.zone", dir);
	uint8_t d1[MOON_ZSHARE_DIGEST], d2[MOON_ZSHARE_DIGEST];
	bool inc = false;
	is_int(moon_zshare_digest_file(path, d1, &inc), 0, "digest of a 64 KiB+ file");
	ok(inc, "$INCLUDE across the chunk boundary found");
	big[65536 - 3] = 'X';
	write_file("big.zone", big);
	moon_zshare_digest_file(path, d2, &inc);
	ok(!inc, "no directive left");
	ok(memcmp(d1, d2, sizeof(d1)) != 0, "one byte changes the digest");
	free(big);
	is_int(moon_zshare_digest_file("/nonexistent/x", d1, &inc), -ENOENT, "missing file");
}

static void collect(void *arg, const char *path)
{
	char *buf = arg;
	strcat(buf, path);
	strcat(buf, "|");
}

static void test_validate(void)
{
	struct moon_diag diag = { 0 };
	struct moon_gen *g = build("user: no-such-user-here\n" "servers:\n  - name: t\n"
				   "    listen: [ \"dns://127.0.0.1:5399\" ]\n    zones: [ x. ]\n",
				   NULL, &diag);
	ok(g == NULL, "an unknown user fails validation");
	ok(diag.n && strstr(diag.msgs[0], "no such user 'no-such-user-here'"), "and says why");
	moon_diag_free(&diag);

	write_file("a.zone", "$TTL 60\n@ SOA ns root 1 60 60 60 60\nbad A 300.1.1.1\n");
	g = build(yaml_zones, NULL, &diag);
	ok(g == NULL, "a zone error fails validation (check and reload alike)");
	ok(diag.n && strstr(diag.msgs[0], "a.zone:3:"), "with the zone file's line");
	moon_diag_free(&diag);

	struct moon_conf *conf;
	char path[256], want[1024], got[1024] = "";
	snprintf(path, sizeof(path), "%s/moondns.yaml", dir);
	is_int(moon_reload_load(path, &conf, &diag), 0, "config loads");
	moon_conf_each_path(conf, collect, got);
	snprintf(want, sizeof(want), "%s/a.zone|%s/b.zone|", dir, dir);
	is_str(got, want, "the files the config names, absolute, in order");
	moon_conf_free(conf);
}

static void test_privdrop(void)
{
	struct moon_diag diag = { 0 };
	struct moon_privdrop p;
	is_int(moon_privdrop_resolve("root", "x.yaml", &p, &diag), 0, "root");
	ok(p.uid == 0 && p.gid == 0, "uid 0 gid 0");
	is_int(moon_privdrop_resolve("1234:5678", "x.yaml", &p, &diag), 0, "numeric uid:gid");
	ok(p.uid == 1234 && p.gid == 5678, "numbers as given");
	is_int(moon_privdrop_resolve("4321", "x.yaml", &p, &diag), 0, "a bare uid");
	ok(p.uid == 4321 && p.gid == 4321, "group of the same number");
	is_int(moon_privdrop_resolve("root:no-such-group-x", "x.yaml", &p, &diag), MOON_ESEMANTIC,
	       "unknown group");
	ok(diag.n == 1 && strstr(diag.msgs[0], "x.yaml: user: no such group"), "diagnosed");
	moon_diag_free(&diag);
	/* Nothing to do when already running as that user. */
	p.uid = getuid();
	p.gid = getgid();
	is_int(moon_privdrop_apply(&p, &diag), 0, "switching to oneself is a no-op");
}

static void test_debounce(void)
{
	struct moon_debounce d;
	moon_debounce_init(&d, 0.2, 2.0);
	ok(moon_debounce_wait(&d, 10) < 0, "nothing pending");
	moon_debounce_event(&d, 10.0);
	ok(moon_debounce_wait(&d, 10.0) > 0.19, "waits for quiet");
	moon_debounce_event(&d, 10.1);
	ok(moon_debounce_wait(&d, 10.25) > 0.04, "a new event restarts the wait");
	ok(moon_debounce_wait(&d, 10.31) <= 0, "due once quiet");
	for (double t = 10.1; t < 12.5; t += 0.1)
		moon_debounce_event(&d, t);
	ok(moon_debounce_wait(&d, 12.0) <= 0, "a never-ending burst fires after max");
	moon_debounce_clear(&d);
	ok(moon_debounce_wait(&d, 13) < 0, "cleared");
}

static int fired;
static void on_fire(void *arg)
{
	fired++;
	ev_break((struct ev_loop *)arg, EVBREAK_ONE);
}

static void on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	ev_break(loop, EVBREAK_ONE);
}

/* Runs the loop until the watcher fires or 1.5 s pass; returns the fires. */
static int run_until_fired(struct ev_loop *loop)
{
	fired = 0;
	ev_timer to;
	ev_timer_init(&to, on_timeout, 1.5, 0.);
	ev_timer_start(loop, &to);
	ev_run(loop, 0);
	ev_timer_stop(loop, &to);
	return fired;
}

static void test_watch(void)
{
	char cm[100], path[300], tmp[300];
	snprintf(cm, sizeof(cm), "%s/cm", dir);
	mkdir(cm, 0700);
	snprintf(path, sizeof(path), "%s/..v1", cm);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/..v1/conf.yaml", cm);
	FILE *f = fopen(path, "w");
	fputs("v1\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/..data", cm);
	symlink("..v1", path);
	snprintf(path, sizeof(path), "%s/conf.yaml", cm);
	symlink("..data/conf.yaml", path);

	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct moon_watch *w;
	if (!ok(moon_watch_new(loop, 0.05, 1.0, on_fire, loop, &w) == 0, "inotify watcher"))
		return;
	const char *paths[] = { path };
	is_int(moon_watch_set(w, paths, 1), 0, "watch the config");
	is_int(moon_watch_dirs(w), 2, "its directory and its target's");

	snprintf(tmp, sizeof(tmp), "%s/unrelated.txt", cm);
	f = fopen(tmp, "w");
	fclose(f);
	is_int(run_until_fired(loop), 0, "an unrelated file in the directory: no event");

	/* The ConfigMap swap. */
	snprintf(tmp, sizeof(tmp), "%s/..v2", cm);
	mkdir(tmp, 0700);
	snprintf(tmp, sizeof(tmp), "%s/..v2/conf.yaml", cm);
	f = fopen(tmp, "w");
	fputs("v2\n", f);
	fclose(f);
	char link[300], data[300];
	snprintf(link, sizeof(link), "%s/..data_tmp", cm);
	symlink("..v2", link);
	snprintf(data, sizeof(data), "%s/..data", cm);
	rename(link, data);
	is_int(run_until_fired(loop), 1, "the ..data swap fires once (debounced)");

	/* An editor's rename over the file itself. */
	moon_watch_set(w, paths, 1);
	char real[300];
	snprintf(real, sizeof(real), "%s/..v2/conf.yaml", cm);
	snprintf(tmp, sizeof(tmp), "%s/..v2/conf.yaml.swp", cm);
	f = fopen(tmp, "w");
	fputs("v3\n", f);
	fclose(f);
	rename(tmp, real);
	is_int(run_until_fired(loop), 1, "a rename over the resolved file fires");
	moon_watch_free(w);
	ev_loop_destroy(loop);
}

int main(void)
{
	moon_log_set_level(MOON_LOG_ERR);
	if (!mkdtemp(dir))
		return 1;
	test_plan();
	test_mailbox();
	test_zone_reuse();
	test_digest();
	test_validate();
	test_privdrop();
	test_debounce();
	test_watch();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return tap_done();
}
