/*
 * Per-worker query counters. Plain integers, no atomics: each worker writes
 * only its own struct; the metrics endpoint (later) sums them racily, which
 * is fine for monotonic counters read as a whole.
 */
#ifndef MOON_SERVER_STATS_H
#define MOON_SERVER_STATS_H

#include <stdint.h>

/* Response codes counted one by one; higher ones go to the last slot. */
#define MOON_STATS_RCODES 24

struct moon_stats {
	uint64_t queries;                /* messages received (before any check) */
	uint64_t udp;
	uint64_t tcp;
	uint64_t dropped;                /* no reply: too short, QR=1, unparsable header, policy */
	uint64_t formerr;                /* malformed queries answered with FORMERR */
	uint64_t truncated;              /* replies sent with TC=1 */
	uint64_t responses;
	uint64_t rcode[MOON_STATS_RCODES]; /* responses by RCODE (16 = BADVERS) */
	uint64_t pending;                /* queries that went asynchronous */
};

#endif
