/*
 * Randomness. Everything an attacker could benefit from predicting (query
 * IDs, source ports, cookies) comes from moon_random_bytes(), which is the
 * OpenSSL CSPRNG; nothing in moondns uses rand(3).
 */
#ifndef MOON_UTIL_RANDOM_H
#define MOON_UTIL_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with cryptographically strong random bytes. Aborts if the CSPRNG
 * fails: continuing with predictable IDs would be worse than stopping. */
void moon_random_bytes(void *buf, size_t len);
uint16_t moon_random_u16(void);
uint32_t moon_random_u32(void);
/* Uniform in [0, bound) without modulo bias; bound > 0. */
uint32_t moon_random_uniform(uint32_t bound);

#endif
