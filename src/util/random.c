#include <openssl/rand.h>

#include "util/assert.h"
#include "util/random.h"

void moon_random_bytes(void *buf, size_t len)
{
	moon_require(RAND_bytes(buf, (int)len) == 1);
}

uint16_t moon_random_u16(void)
{
	uint16_t v;
	moon_random_bytes(&v, sizeof(v));
	return v;
}

uint32_t moon_random_u32(void)
{
	uint32_t v;
	moon_random_bytes(&v, sizeof(v));
	return v;
}

uint32_t moon_random_uniform(uint32_t bound)
{
	/* Reject the values of the incomplete last block to avoid modulo bias. */
	uint32_t limit = UINT32_MAX - UINT32_MAX % bound;
	uint32_t v;
	do {
		v = moon_random_u32();
	} while (v >= limit);
	return v % bound;
}
