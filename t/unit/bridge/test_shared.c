/* Unit tests for src/bridge/shared.c: moon.shared dictionaries. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bridge/shared.h"
#include "tap.h"
#include "util/err.h"

static struct moon_shared_dict *dict(const char *name, size_t bytes)
{
	return moon_shared_open(name, strlen(name), bytes);
}

static int set_str(struct moon_shared_dict *d, const char *k, const char *v, int64_t ttl)
{
	return moon_shared_set(d, k, strlen(k), v, strlen(v), 0, ttl, false);
}

static const char *get_str(struct moon_shared_dict *d, const char *k)
{
	static char out[256];
	struct moon_shared_value v;
	int ret = moon_shared_get(d, k, strlen(k), out, sizeof(out) - 1, &v);
	if (ret || v.is_num)
		return NULL;
	out[v.len] = 0;
	return out;
}

static void test_basic(void)
{
	struct moon_shared_dict *d = dict("basic", 0);
	ok(d, "open");
	ok(dict("basic", 123) == d, "the same name is the same dictionary");
	ok(moon_shared_open("", 0, 0) == NULL, "empty name refused");
	is_int(set_str(d, "k", "v1", 0), 0, "set");
	is_str(get_str(d, "k"), "v1", "get");
	is_int(set_str(d, "k", "a longer value", 0), 0, "overwrite");
	is_str(get_str(d, "k"), "a longer value", "new value");
	is_int(moon_shared_set(d, "k", 1, "x", 1, 0, 0, true), 1, "add on an existing key");
	is_str(get_str(d, "k"), "a longer value", "add left it alone");
	is_int(moon_shared_set(d, "new", 3, "x", 1, 0, 0, true), 0, "add on a new key");
	struct moon_shared_value v;
	char buf[4];
	is_int(moon_shared_get(d, "k", 1, buf, sizeof(buf), &v), MOON_ESPACE, "value too long");
	is_int(v.len, 14, "length reported");
	is_int(moon_shared_delete(d, "k", 1), 0, "delete");
	is_int(moon_shared_get(d, "k", 1, buf, sizeof(buf), &v), MOON_ENOTFOUND, "gone");
	is_int(moon_shared_delete(d, "k", 1), MOON_ENOTFOUND, "delete of a missing key");

	double out;
	is_int(moon_shared_incr(d, "n", 1, 5, 10, 0, &out), 0, "incr creates");
	ok(out == 15, "from init + delta");
	moon_shared_incr(d, "n", 1, -2.5, 0, 0, &out);
	ok(out == 12.5, "then adds");
	is_int(moon_shared_get(d, "n", 1, NULL, 0, &v), 0, "a number reads");
	ok(v.is_num && v.num == 12.5, "as a number");
	is_int(moon_shared_incr(d, "new", 3, 1, 0, 0, &out), -EINVAL, "incr of a string");
	is_int(moon_shared_count(d), 2, "count");
	moon_shared_flush(d);
	is_int(moon_shared_count(d), 0, "flush");
}

static void test_ttl(void)
{
	struct moon_shared_dict *d = dict("ttl", 0);
	set_str(d, "short", "x", 30);
	set_str(d, "forever", "y", 0);
	double out;
	moon_shared_incr(d, "cnt", 3, 1, 0, 30, &out);
	ok(moon_shared_ttl(d, "short", 5) > 0, "ttl left");
	is_int(moon_shared_ttl(d, "forever", 7), -1, "no ttl");
	is_int(moon_shared_ttl(d, "none", 4), MOON_ENOTFOUND, "absent");
	moon_shared_incr(d, "cnt", 3, 1, 0, 100000, &out);
	ok(moon_shared_ttl(d, "cnt", 3) <= 30, "incr keeps the first expiry");
	usleep(60 * 1000);
	ok(get_str(d, "short") == NULL, "expired");
	is_str(get_str(d, "forever"), "y", "the other stays");
	moon_shared_incr(d, "cnt", 3, 1, 0, 0, &out);
	ok(out == 1, "an expired counter starts again");
}

static void test_eviction(void)
{
	/* 16 stripes of 4 KiB: about 40 entries of ~100 bytes per stripe. */
	struct moon_shared_dict *d = dict("small", 64 * 1024);
	char k[16], v[64];
	memset(v, 'v', sizeof(v) - 1);
	v[sizeof(v) - 1] = 0;
	int err = 0;
	for (int i = 0; i < 10000; i++) {
		snprintf(k, sizeof(k), "key%d", i);
		err |= set_str(d, k, v, 0);
	}
	is_int(err, 0, "stores never fail when full: old entries go");
	ok(moon_shared_count(d) < 1000, "the byte cap holds");
	is_str(get_str(d, "key9999"), v, "the newest entries are there");
	ok(get_str(d, "key0") == NULL, "the oldest were evicted");
	char big[70000];
	memset(big, 'x', sizeof(big));
	is_int(moon_shared_set(d, "big", 3, big, MOON_SHARED_MAX_VALUE + 1, 0, 0, false), -EINVAL,
	       "value over the maximum");
	is_int(moon_shared_set(d, "big", 3, big, 8000, 0, 0, false), MOON_ELIMIT,
	       "entry larger than its stripe");
}

struct worker_arg {
	struct moon_shared_dict *d;
	int n;
};

static void *hammer(void *p)
{
	struct worker_arg *a = p;
	double out;
	for (int i = 0; i < a->n; i++) {
		moon_shared_incr(a->d, "hits", 4, 1, 0, 0, &out);
		char k[16];
		snprintf(k, sizeof(k), "k%d", i % 500);
		moon_shared_set(a->d, k, strlen(k), "x", 1, 0, 1000, false);
	}
	return NULL;
}

static void test_threads(void)
{
	struct moon_shared_dict *d = dict("threads", 0);
	pthread_t t[4];
	struct worker_arg a = { d, 20000 };
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer, &a);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	struct moon_shared_value v;
	moon_shared_get(d, "hits", 4, NULL, 0, &v);
	ok(v.is_num && v.num == 80000, "increments from four threads all count");
	is_int(moon_shared_count(d), 501, "and the keys are all there once");
}

int main(void)
{
	test_basic();
	test_ttl();
	test_eviction();
	test_threads();
	return tap_done();
}
