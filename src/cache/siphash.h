/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash. The cache
 * hashes its keys with a secret random key so that clients cannot choose
 * names that all land in one hash chain. Pure function, thread-safe.
 */
#ifndef MOON_CACHE_SIPHASH_H
#define MOON_CACHE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define MOON_SIPHASH_KEYLEN 16

uint64_t moon_siphash24(const uint8_t key[MOON_SIPHASH_KEYLEN], const void *data, size_t len);

#endif
