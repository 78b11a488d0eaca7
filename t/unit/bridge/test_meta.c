/* Unit tests for src/query/meta.c: the per-query metadata map. */
#include <stdio.h>
#include <string.h>

#include "query/meta.h"
#include "tap.h"
#include "util/err.h"

static int set(struct moon_meta *m, const char *k, const char *v)
{
	return moon_meta_set(m, k, strlen(k), v, strlen(v));
}

static const char *get(const struct moon_meta *m, const char *k)
{
	static char out[MOON_META_MAX_VALUE + 1];
	size_t len;
	const char *v = moon_meta_get(m, k, strlen(k), &len);
	if (!v)
		return NULL;
	memcpy(out, v, len);
	out[len] = 0;
	return out;
}

static void test_basic(void)
{
	struct moon_meta m;
	moon_meta_reset(&m);
	ok(get(&m, "a") == NULL, "empty map has no key");
	is_int(set(&m, "fw/secret", "s3cret"), 0, "set");
	is_str(get(&m, "fw/secret"), "s3cret", "get returns the value");
	is_int(set(&m, "fw/secret", "x"), 0, "overwrite shorter");
	is_str(get(&m, "fw/secret"), "x", "shorter value read back");
	is_int(set(&m, "fw/secret", "a longer value"), 0, "overwrite longer");
	is_str(get(&m, "fw/secret"), "a longer value", "longer value read back");
	is_int(m.n, 1, "still one key");
	is_int(set(&m, "b", ""), 0, "empty value allowed");
	is_str(get(&m, "b"), "", "empty value read back");
	is_int(moon_meta_del(&m, "fw/secret", 9), 0, "delete");
	ok(get(&m, "fw/secret") == NULL, "deleted key gone");
	is_int(moon_meta_del(&m, "nope", 4), MOON_ENOTFOUND, "delete of a missing key");
	is_str(get(&m, "b"), "", "other key kept");
	moon_meta_reset(&m);
	is_int(m.n, 0, "reset empties");
}

static void test_limits(void)
{
	struct moon_meta m;
	moon_meta_reset(&m);
	char key[MOON_META_MAX_KEY + 2];
	memset(key, 'k', sizeof(key));
	is_int(moon_meta_set(&m, key, MOON_META_MAX_KEY + 1, "v", 1), -EINVAL, "key too long");
	is_int(moon_meta_set(&m, key, 0, "v", 1), -EINVAL, "empty key");
	char val[MOON_META_MAX_VALUE + 1];
	memset(val, 'v', sizeof(val));
	is_int(moon_meta_set(&m, "k", 1, val, MOON_META_MAX_VALUE + 1), -EINVAL,
	       "value too long");
	int err = 0;
	for (int i = 0; i < MOON_META_MAX_KEYS; i++) {
		char k[8];
		snprintf(k, sizeof(k), "k%d", i);
		err |= set(&m, k, "v");
	}
	is_int(err, 0, "MOON_META_MAX_KEYS keys fit");
	is_int(set(&m, "one-more", "v"), MOON_ELIMIT, "one key too many");
	is_int(set(&m, "k3", "updated"), 0, "existing keys can still change");
	is_str(get(&m, "k3"), "updated", "and read back");

	/* Bytes: fill with large values, then check that overwrites that
	 * would fit after compaction succeed and those that would not fail
	 * without changing anything. */
	moon_meta_reset(&m);
	is_int(moon_meta_set(&m, "a", 1, val, 500), 0, "500 bytes");
	is_int(moon_meta_set(&m, "b", 1, val, 500), 0, "1000 bytes");
	is_int(moon_meta_set(&m, "c", 1, val, 500), 0, "1500 bytes");
	is_int(moon_meta_set(&m, "d", 1, val, 100), MOON_ELIMIT, "arena full");
	ok(moon_meta_get(&m, "d", 1, &(size_t){ 0 }) == NULL, "failed set left nothing");
	is_int(moon_meta_del(&m, "b", 1), 0, "free 500");
	is_int(moon_meta_set(&m, "d", 1, "hello", 5), 0, "fits after compaction");
	is_str(get(&m, "d"), "hello", "compacted value");
	size_t len;
	ok(moon_meta_get(&m, "a", 1, &len) && len == 500, "a survived compaction");
	ok(moon_meta_get(&m, "c", 1, &len) && len == 500, "c survived compaction");
	/* Replacing a's 500 bytes by 510 needs a's own old bytes back. */
	is_int(moon_meta_set(&m, "a", 1, val, 510), 0, "grow a value in a full arena");
	ok(moon_meta_get(&m, "a", 1, &len) && len == 510, "grown value");
}

static void test_alias(void)
{
	/* A value copied from another entry (it points into the arena) must
	 * survive the compaction its own set triggers. */
	struct moon_meta m;
	moon_meta_reset(&m);
	char val[500];
	memset(val, 'x', sizeof(val));
	moon_meta_set(&m, "a", 1, val, 500);
	moon_meta_set(&m, "b", 1, val, 500);
	moon_meta_set(&m, "b", 1, "short", 5);  /* leaves 495 dead bytes */
	moon_meta_set(&m, "c", 1, "y", 1);
	size_t len;
	const char *a = moon_meta_get(&m, "a", 1, &len);
	memset((char *)a, 'z', 4);      /* mark it */
	is_int(moon_meta_set(&m, "d", 1, a, len), 0, "copy of a into d");
	const char *d = moon_meta_get(&m, "d", 1, &len);
	ok(d && len == 500 && memcmp(d, "zzzzxx", 6) == 0, "copy is intact");
	size_t n;
	for (unsigned i = 0; i < m.n; i++)
		moon_meta_key(&m, i, &n);
	is_int(m.n, 4, "four keys in order of first set");
	const char *k0 = moon_meta_key(&m, 0, &n);
	ok(n == 1 && k0[0] == 'a', "iteration starts with the first key set");
}

int main(void)
{
	test_basic();
	test_limits();
	test_alias();
	return tap_done();
}
