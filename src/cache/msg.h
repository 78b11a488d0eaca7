/*
 * Reads a response message for the cache: checks that it is well formed and
 * answers the key's question, decides whether and as what kind it may be
 * cached and for how long (the rules are in cache/cache.h), and finds the
 * TTL field of every record so a hit can count them down.
 * Internal to src/cache (and its unit tests). Pure; thread-safe.
 */
#ifndef MOON_CACHE_MSG_H
#define MOON_CACHE_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "wire/dns.h"

/* Bound on records in one message: the smallest RR is 11 octets. */
#define MOON_CACHE_MAX_RRS ((MOON_MAX_MSG - MOON_HDR_LEN - 5) / 11)

struct moon_cache_msg {
	enum moon_cache_kind kind;
	uint32_t ttl;           /* seconds the entry lives, after clamping */
	uint16_t store_len;     /* bytes to keep: the message less a trailing OPT */
	bool opt_stripped;      /* ARCOUNT must then be decremented */
	uint16_t nttl;          /* TTL fields found, in message order */
	uint16_t ttl_off[MOON_CACHE_MAX_RRS];
};

/*
 * Fills m from msg/len. Returns 0 when the message may be cached,
 * MOON_EMALF when it is malformed, MOON_ESEMANTIC when its question is not
 * key's, MOON_ELIMIT when the rules say not to cache it (including a kind
 * whose maximum TTL is 0). Never reads outside msg[0..len).
 * m is large (about 12 KiB): callers keep it on the stack of one call.
 */
int moon_cache_msg_read(struct moon_cache_msg *m, const uint8_t *msg, size_t len,
			const struct moon_cache_key *key, const struct moon_cache_opts *o);

#endif
