/*
 * Generations: longest-suffix routing, and the reference protocol of a swap
 * (an old generation is freed only once every worker moved on and its last
 * query finished), single-threaded step by step and then under threads.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/gen.h"
#include "server/pipeline.h"
#include "tap.h"
#include "wire/wire.h"
#include "zone/zone.h"
#include "util/log.h"
#include "wire/name.h"

static struct moon_gen *build(const char *yaml, unsigned nworkers)
{
	struct moon_diag diag = { 0 };
	struct moon_conf *conf;
	struct moon_gen *gen = NULL;
	if (moon_conf_load_string(yaml, "gen.yaml", &conf, &diag) == 0)
		moon_gen_new(conf, NULL, 0, nworkers, &diag, &gen);
	for (size_t i = 0; i < diag.n; i++)
		printf("# %s\n", diag.msgs[i]);
	moon_diag_free(&diag);
	return gen;
}

static const char yaml_a[] =
	"servers:\n"
	"  - name: a\n"
	"    listen: [ \"dns://127.0.0.1:5398\" ]\n"
	"    zone_files:\n"
	"      - origin: example.\n"
	"        inline: \"@ 60 IN SOA ns root 1 60 60 60 60\\n@ 60 IN NS ns\\n"
	"ns 60 IN A 192.0.2.1\\n\"\n"
	"      - origin: sub.example.\n"
	"        inline: \"@ 60 IN SOA ns root 1 60 60 60 60\\n@ 60 IN NS ns\\n"
	"ns 60 IN A 192.0.2.2\\n\"\n"
	"  - name: b\n"
	"    listen: [ \"dns://127.0.0.1:5398\", \"dns://[::1]:5398\" ]\n"
	"    zones: [ deep.sub.example., . ]\n";

static int lookup(const struct moon_suffix_tab *t, const char *text)
{
	uint8_t name[MOON_NAME_MAXLEN];
	int len = moon_name_from_text(text, NULL, name);
	moon_name_tolower(name, name);
	return moon_suffix_lookup(t, name, (size_t)len);
}

static const char *route(const struct moon_gen *g, uint16_t listener, const char *text)
{
	uint8_t name[MOON_NAME_MAXLEN];
	int len = moon_name_from_text(text, NULL, name);
	moon_name_tolower(name, name);
	const struct moon_gen_block *b = moon_gen_route(g, listener, name, (size_t)len);
	return b ? b->conf->name : "(none)";
}

static void test_routing(void)
{
	struct moon_gen *g = build(yaml_a, 1);
	if (!ok(g != NULL, "generation A builds"))
		return;
	is_int(g->n_listeners, 2, "two distinct listener addresses");
	is_int(g->zones_loaded, 2, "two zones loaded");
	is_str(route(g, 0, "www.example."), "a", "www.example. -> a");
	is_str(route(g, 0, "EXAMPLE."), "a", "the apex, any case");
	is_str(route(g, 0, "x.sub.example."), "a", "sub.example. is a's");
	is_str(route(g, 0, "x.deep.sub.example."), "b", "longest suffix wins: b");
	is_str(route(g, 0, "deep.sub.example."), "b", "its apex");
	is_str(route(g, 0, "xdeep.sub.example."), "a", "suffix only at a label boundary");
	is_str(route(g, 0, "other.org."), "b", "the root zone catches the rest");
	is_str(route(g, 1, "www.example."), "b", "[::1] has only block b");
	is_str(route(g, 2, "www.example."), "(none)", "no such listener");

	const struct moon_gen_block *a = &g->blocks[0];
	ok(lookup(&a->zone_tab, "www.sub.example.") >= 0 &&
	   a->zones[lookup(&a->zone_tab, "www.sub.example.")].zone != NULL, "zone file lookup");
	is_int(lookup(&a->zone_tab, "www.example."), lookup(&a->zone_tab, "example."),
	       "www.example. is in example.");
	ok(lookup(&a->zone_tab, "www.sub.example.") != lookup(&a->zone_tab, "example."),
	   "www.sub.example. is in the deeper zone");
	is_int(lookup(&a->zone_tab, "org."), -1, "no zone file for org.");
	moon_gen_release(g);
}

static const char yaml_dup[] =
	"servers:\n"
	"  - name: a\n"
	"    listen: [ \"dns://127.0.0.1:5398\" ]\n"
	"    zones: [ example. ]\n"
	"  - name: b\n"
	"    listen: [ \"dns://127.0.0.1:5398\" ]\n"
	"    zones: [ EXAMPLE. ]\n";

static void test_conflict(void)
{
	struct moon_diag diag = { 0 };
	struct moon_conf *conf;
	struct moon_gen *g = NULL;
	int ret = moon_conf_load_string(yaml_dup, "dup.yaml", &conf, &diag);
	if (ret == 0)
		ret = moon_gen_new(conf, NULL, 0, 1, &diag, &g);
	ok(ret != 0 && g == NULL, "same zone in two blocks on one address is refused");
	ok(diag.n >= 1 && strstr(diag.msgs[0], "already served"), "with a clear message");
	moon_diag_free(&diag);
}

/* Answers "ns.example. A" from gen through the pipeline; returns the last
 * octet of the address in the answer, or -1. */
static int ask(struct moon_gen *gen)
{
	static const uint8_t query[] = {
		0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
		2, 'n', 's', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
	};
	static uint8_t resp[512];
	static struct moon_zone_answer ans;
	struct moon_query q = {
		.req = query, .req_len = sizeof(query), .resp = resp, .resp_cap = sizeof(resp),
		.ans = &ans, .proto = MOON_PROTO_UDP, .gen = gen,
	};
	if (moon_pipeline_run(&q) || q.resp_len < 16 || moon_get_u16(resp + 6) != 1)
		return -1;
	return resp[q.resp_len - 1];
}

/* The swap protocol, one step at a time, with two simulated workers. */
static void test_swap(void)
{
	unsigned base = moon_gen_alive();
	struct moon_gen *a = build(yaml_a, 2);
	struct moon_gen_pub pub;
	moon_gen_pub_init(&pub, a);
	struct moon_gen_user w0 = { .worker = 0 }, w1 = { .worker = 1 };
	moon_gen_user_update(&w0, &pub);
	moon_gen_user_update(&w1, &pub);

	/* Worker 0 has three queries in flight on A, worker 1 one. */
	struct moon_gen *q0[3];
	for (int i = 0; i < 3; i++)
		q0[i] = moon_gen_user_begin(&w0);
	struct moon_gen *q1 = moon_gen_user_begin(&w1);
	ok(q0[0] == a && q1 == a, "queries start on A");

	/* B answers ns.example. with .3 instead of .1. */
	char *yb = strdup(yaml_a);
	*strstr(yb, "192.0.2.1") = 0;
	char yaml_b[sizeof(yaml_a) + 8];
	snprintf(yaml_b, sizeof(yaml_b), "%s192.0.2.3%s", yb, strstr(yaml_a, "192.0.2.1") + 9);
	free(yb);
	struct moon_gen *b = build(yaml_b, 2);
	is_int(ask(a), 1, "A answers .1");
	is_int(ask(b), 3, "B answers .3");
	moon_gen_pub_swap(&pub, b);
	is_int(moon_gen_alive(), base + 2, "after the swap A is still alive");
	is_int(ask(q0[0]), 1, "a query that started on A still answers from A");

	moon_gen_user_update(&w0, &pub);
	ok(w0.cur == b, "worker 0 moved to B");
	struct moon_gen *qb = moon_gen_user_begin(&w0);
	ok(qb == b, "new queries on worker 0 start on B");
	moon_gen_user_end(&w0, q0[0]);
	moon_gen_user_end(&w0, q0[1]);
	is_int(moon_gen_alive(), base + 2, "A alive: worker 0 has a query left on it");
	moon_gen_user_end(&w0, q0[2]);
	is_int(moon_gen_alive(), base + 2, "A alive: worker 1 has not moved yet");
	moon_gen_user_end(&w1, q1);
	is_int(moon_gen_alive(), base + 2, "A alive: worker 1 still holds it as current");
	moon_gen_user_update(&w1, &pub);
	is_int(moon_gen_alive(), base + 1, "A freed once every worker moved on, nothing in flight");

	/* A worker that misses a generation entirely still releases it. */
	struct moon_gen *c = build(yaml_a, 2), *d = build(yaml_a, 2);
	moon_gen_pub_swap(&pub, c);
	moon_gen_user_update(&w0, &pub);
	moon_gen_pub_swap(&pub, d);
	moon_gen_user_end(&w0, qb);
	is_int(moon_gen_alive(), base + 3, "B gone; C held by worker 0, D current");
	moon_gen_user_update(&w0, &pub);
	moon_gen_user_update(&w1, &pub);
	is_int(moon_gen_alive(), base + 1, "C freed, though worker 1 never used it");
	moon_gen_user_leave(&w0);
	moon_gen_user_leave(&w1);
	moon_gen_pub_deinit(&pub);
	is_int(moon_gen_alive(), base, "everything freed at shutdown");
}

/* Threads: workers start and end queries while the control thread swaps. */
#define THREADS 2
static struct moon_gen_pub tpub;
static _Atomic bool tstop;
static const char *tyaml;

static void *worker_main(void *arg)
{
	struct moon_gen_user u = { .worker = (unsigned)(uintptr_t)arg };
	struct moon_gen *inflight[8] = { 0 };
	unsigned n = 0;
	moon_gen_user_update(&u, &tpub);
	for (unsigned long i = 0; !atomic_load(&tstop); i++) {
		if (n == 8 || (n && i % 3 == 0))
			moon_gen_user_end(&u, inflight[--n]);
		else
			inflight[n++] = moon_gen_user_begin(&u);
		if (i % 64 == 0)
			moon_gen_user_update(&u, &tpub);
	}
	while (n)
		moon_gen_user_end(&u, inflight[--n]);
	moon_gen_user_leave(&u);
	return NULL;
}

static void test_threads(void)
{
	unsigned base = moon_gen_alive();
	tyaml = yaml_a;
	moon_gen_pub_init(&tpub, build(tyaml, THREADS));
	pthread_t t[THREADS];
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker_main, (void *)i);
	for (int i = 0; i < 200; i++)
		moon_gen_pub_swap(&tpub, build(tyaml, THREADS));
	atomic_store(&tstop, true);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	is_int(moon_gen_alive(), base + 1, "200 swaps under load: only the current one left");
	moon_gen_pub_deinit(&tpub);
	is_int(moon_gen_alive(), base, "and it is freed at the end");
}

int main(void)
{
	moon_log_set_level(MOON_LOG_ERR);
	test_routing();
	test_conflict();
	test_swap();
	test_threads();
	return tap_done();
}
