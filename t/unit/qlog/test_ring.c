/*
 * The SPSC ring: order and content, wrap-around, overflow counted as drops,
 * and a real producer and consumer thread racing.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qlog/ring.h"
#include "tap.h"

struct got {
	char data[8][64];
	uint16_t tag[8];
	size_t len[8];
	size_t n;
};

static void collect(void *arg, uint16_t tag, const void *data, size_t len)
{
	struct got *g = arg;
	if (g->n < 8) {
		size_t n = len < 63 ? len : 63;
		memcpy(g->data[g->n], data, n);
		g->data[g->n][n] = 0;
		g->len[g->n] = len;
		g->tag[g->n] = tag;
	}
	g->n++;
}

static void test_basic(void)
{
	struct moon_ring r;
	is_int(moon_ring_init(&r, 100), 0, "ring created");
	is_int(r.cap, 4096, "at least 4096 bytes");
	ok(moon_ring_empty(&r), "starts empty");
	ok(moon_ring_push(&r, 1, "hello", 5), "push 1");
	ok(moon_ring_push(&r, 2, "", 0), "push empty record");
	ok(moon_ring_push(&r, 3, "world!!!", 8), "push 3");
	struct got g = { .n = 0 };
	is_int(moon_ring_drain(&r, collect, &g, 2), 2, "drain honours max");
	is_int(moon_ring_drain(&r, collect, &g, 10), 1, "then the rest");
	is_str(g.data[0], "hello", "first record");
	is_str(g.data[1], "", "empty record");
	is_str(g.data[2], "world!!!", "third record");
	ok(g.tag[0] == 1 && g.tag[1] == 2 && g.tag[2] == 3, "tags kept");
	ok(moon_ring_empty(&r), "empty again");
	moon_ring_deinit(&r);
}

static void test_overflow(void)
{
	struct moon_ring r;
	moon_ring_init(&r, 4096);
	char rec[100];
	memset(rec, 'x', sizeof(rec));
	unsigned pushed = 0, attempts = 100;
	for (unsigned i = 0; i < attempts; i++)
		pushed += moon_ring_push(&r, 0, rec, sizeof(rec));
	/* 8-byte header + 104 bytes per record: 36 fit in 4096. */
	is_int(pushed, 36, "as many records as fit");
	is_int(atomic_load(&r.dropped), attempts - pushed, "the rest dropped and counted");
	is_int(atomic_load(&r.pushed), pushed, "pushes counted");
	struct got g = { .n = 0 };
	moon_ring_drain(&r, collect, &g, 1);
	ok(moon_ring_push(&r, 0, rec, sizeof(rec)), "room again after a drain");
	ok(!moon_ring_push(&r, 0, rec, 2000), "a record over cap/4 never fits");
	moon_ring_deinit(&r);
}

static void test_wrap(void)
{
	struct moon_ring r;
	moon_ring_init(&r, 4096);
	char rec[700], want[700];
	unsigned bad = 0, total = 0;
	for (unsigned i = 0; i < 200; i++) {
		size_t len = 1 + (i * 37) % 690;
		memset(rec, 'a' + (int)(i % 26), len);
		if (!moon_ring_push(&r, (uint16_t)i, rec, len)) {
			bad++;
			continue;
		}
		struct got g = { .n = 0 };
		moon_ring_drain(&r, collect, &g, 10);
		memset(want, 'a' + (int)(i % 26), len < 63 ? len : 63);
		want[len < 63 ? len : 63] = 0;
		total += g.n == 1 && g.tag[0] == (uint16_t)i && g.len[0] == len &&
			 strcmp(g.data[0], want) == 0;
	}
	is_int(bad, 0, "no drop when drained each time");
	is_int(total, 200, "every record intact across many wraps");
	moon_ring_deinit(&r);
}

#define N 500000

static struct moon_ring shared;
static unsigned long long next_seq, out_of_order;

static void check_seq(void *arg, uint16_t tag, const void *data, size_t len)
{
	unsigned long long v;
	memcpy(&v, data, sizeof(v));
	if (v < next_seq || len != 8 + (v % 50))
		out_of_order++;
	next_seq = v + 1;
}

static unsigned long long failed_pushes;

/* Retries a push that finds the ring full, so that every record gets
 * through and each failed attempt must show up as one counted drop. */
static void *producer(void *arg)
{
	char buf[64] = { 0 };
	for (unsigned long long i = 0; i < N; i++) {
		memcpy(buf, &i, sizeof(i));
		while (!moon_ring_push(&shared, 0, buf, 8 + (i % 50))) {
			failed_pushes++;
			sched_yield();
		}
	}
	return NULL;
}

static void test_threads(void)
{
	moon_ring_init(&shared, 16384);
	pthread_t t;
	pthread_create(&t, NULL, producer, NULL);
	size_t got = 0;
	while (got < N)
		got += moon_ring_drain(&shared, check_seq, NULL, 64);
	pthread_join(t, NULL);
	printf("# %llu pushes found the ring full\n", failed_pushes);
	is_int(got, N, "every record delivered");
	is_int(out_of_order, 0, "in order and whole");
	is_int(atomic_load(&shared.dropped), failed_pushes, "each full ring counted as a drop");
	is_int(atomic_load(&shared.pushed), N, "pushes counted");
	ok(moon_ring_empty(&shared), "empty at the end");
	moon_ring_deinit(&shared);
}

int main(void)
{
	test_basic();
	test_overflow();
	test_wrap();
	test_threads();
	return tap_done();
}
