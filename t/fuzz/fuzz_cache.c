/*
 * Fuzz target for the cache: the input is a response message. It is
 * inserted under the key of its own question (and again as a SERVFAIL),
 * then looked up with the input as the client's query at a few times,
 * fresh and stale. Nothing may crash, and the cache must stay consistent.
 */
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "util/assert.h"
#include "wire/dns.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct moon_cache *cache;
static int64_t now = 1000000;
static uint8_t out[MOON_MAX_MSG], copy[MOON_MAX_MSG];

static void setup(void)
{
	struct moon_cache_opts o;
	moon_cache_opts_default(&o);
	o.capacity_bytes = 1u << 20;
	o.serve_stale = true;
	o.stale_max = 60;
	o.prefetch_hits = 1;
	cache = moon_cache_new(&o);
	moon_require(cache != NULL);
}

/* Key from the message's own question, or a fixed one when it has none. */
static void make_key(struct moon_cache_key *k, const uint8_t *data, size_t size)
{
	uint8_t name[MOON_NAME_MAXLEN] = { 0 };
	uint16_t qtype = MOON_T_A, qclass = MOON_CLASS_IN, flags = 0;
	size_t pos = MOON_HDR_LEN;
	if (size >= MOON_HDR_LEN) {
		flags = moon_get_u16(data + 2);
		if (moon_name_unpack(data, size, &pos, name) > 0 && pos + 4 <= size) {
			qtype = moon_get_u16(data + pos);
			qclass = moon_get_u16(data + pos + 2);
		}
	}
	moon_cache_key_init(cache, k, name, qtype, qclass, flags & 1, flags & MOON_FLAG_CD,
			    flags >> 12);
}

static void look(const struct moon_cache_key *k, const uint8_t *q, size_t len, int64_t t)
{
	struct moon_cache_result res;
	size_t cap = len % 2 ? sizeof(out) : 512;
	int n = moon_cache_lookup(cache, k, q, len, out, cap, t, &res);
	moon_require(n <= (int)cap);
	moon_require((n > 0) == (res.state != MOON_CACHE_MISS) || n == MOON_ESPACE ||
		     n == MOON_EMALF);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cache)
		setup();
	now += 7001;
	struct moon_cache_key k;
	make_key(&k, data, size);
	moon_cache_insert(cache, &k, data, size, now);
	look(&k, data, size, now);
	look(&k, data, size, now + 4000);
	look(&k, data, size, now + 40000);

	if (size >= MOON_HDR_LEN && size <= sizeof(copy)) {
		memcpy(copy, data, size);
		copy[3] = (uint8_t)((copy[3] & 0xf0) | MOON_RCODE_SERVFAIL);
		moon_cache_insert(cache, &k, copy, size, now + 1000);
		look(&k, data, size, now + 2000);
	}
	moon_require(moon_cache_verify(cache) == 0);
	return 0;
}
