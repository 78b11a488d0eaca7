/* Tests for src/cache/siphash.c against the reference vectors of the
 * SipHash paper (key 00..0f, message 00..len-1). */
#include "cache/siphash.h"
#include "tap.h"

int main(void)
{
	uint8_t key[16], msg[64];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	ok(moon_siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL, "empty message");
	ok(moon_siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL, "15-byte message (paper)");
	ok(moon_siphash24(key, msg, 8) != moon_siphash24(key, msg, 7), "length matters");
	key[0] ^= 1;
	ok(moon_siphash24(key, msg, 15) != 0xa129ca6149be45e5ULL, "key matters");
	return tap_done();
}
