/*
 * New TLS sessions per client address and second, counted across all
 * workers: a token bucket per address (burst = the rate, refilled
 * continuously) in a hash table split into lock-striped shards
 * (clienttab.h), like the connection counts of connlimit.h. A full
 * handshake costs the server far more than a query, so a client that opens
 * connection after connection without resuming is refused once its bucket
 * is empty (net/tls.c takes a token per full handshake; resumed sessions
 * are not counted).
 *
 * Memory: each shard keeps at most MOON_TLS_RATE_SHARD_MAX addresses. An
 * address whose bucket has refilled completely carries no information and
 * is dropped when room is needed; when none has, the least recently seen
 * one goes (a flood of distinct addresses can only make the limiter
 * forget, never grow without bound).
 *
 * Threads: every function may be called from any thread.
 */
#ifndef MOON_NET_TLSRATE_H
#define MOON_NET_TLSRATE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/clienttab.h"

#define MOON_TLS_RATE_SHARD_MAX 4096

struct moon_tls_rate_entry {
	uint8_t addr[MOON_CLIENTTAB_KEY]; /* first: the table's key */
	uint32_t milli;                 /* tokens x 1000 */
	int64_t last_ms;                /* when milli was last brought up to date */
};

struct moon_tls_rate {
	_Atomic uint32_t rate;          /* sessions per second; 0 = unlimited */
	struct moon_clienttab tab;      /* of struct moon_tls_rate_entry */
};

void moon_tls_rate_init(struct moon_tls_rate *r, uint32_t rate);
void moon_tls_rate_deinit(struct moon_tls_rate *r);
/* Changes the rate (a reload); buckets keep their tokens, capped at the new
 * burst when next used. */
void moon_tls_rate_set(struct moon_tls_rate *r, uint32_t rate);
/* Takes one token for sa's address at time now_ms (monotonic). Returns 0,
 * or MOON_ELIMIT when the bucket is empty. Out of memory admits the client
 * (the limiter protects the server, it must not lock clients out). */
int moon_tls_rate_take(struct moon_tls_rate *r, const struct sockaddr *sa, int64_t now_ms);
/* Addresses currently tracked (tests). */
uint32_t moon_tls_rate_tracked(struct moon_tls_rate *r);

#endif
