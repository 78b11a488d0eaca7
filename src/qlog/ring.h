/*
 * A bounded single-producer single-consumer byte ring of variable-length
 * records: a worker thread pushes query-log lines, the log writer thread
 * drains them. Lock-free: the producer publishes with a release store of
 * `head`, the consumer frees space with a release store of `tail`; neither
 * ever waits. When a record does not fit, push() drops it and counts it:
 * a slow log sink costs log lines, never query latency.
 *
 * Layout: records are 8-aligned, each an 8-byte header (length, tag) and
 * the data; a record that would straddle the end of the buffer is put at
 * the start and the gap marked as skipped.
 *
 * Threads: exactly one producer (push) and one consumer (drain). `dropped`
 * and `pushed` are written by the producer only and may be read by any
 * thread (relaxed atomics: a monotonic count, a stale value is fine).
 */
#ifndef MOON_QLOG_RING_H
#define MOON_QLOG_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct moon_ring {
	/* Producer's line. */
	_Alignas(64) _Atomic uint64_t head;  /* bytes produced so far */
	uint64_t tail_seen;                  /* producer's last look at tail */
	_Atomic uint64_t pushed;
	_Atomic uint64_t dropped;
	/* Consumer's line. */
	_Alignas(64) _Atomic uint64_t tail;  /* bytes consumed so far */
	/* Fixed. */
	_Alignas(64) uint8_t *buf;
	size_t cap;                          /* power of two */
};

/* Allocates a ring of cap bytes (rounded up to a power of two, at least
 * 4096). Returns 0 or -ENOMEM. */
int moon_ring_init(struct moon_ring *r, size_t cap);
void moon_ring_deinit(struct moon_ring *r);

/* The largest record push() accepts. */
static inline size_t moon_ring_max_record(const struct moon_ring *r)
{
	return r->cap / 4;
}

/* Appends a record (producer). Returns false, and counts a drop, when it
 * does not fit now or ever (longer than moon_ring_max_record). */
bool moon_ring_push(struct moon_ring *r, uint16_t tag, const void *data, size_t len);

/* Calls fn for each record in order (consumer), up to `max` records;
 * returns how many. The data is valid during the call only. */
typedef void (*moon_ring_fn)(void *arg, uint16_t tag, const void *data, size_t len);
size_t moon_ring_drain(struct moon_ring *r, moon_ring_fn fn, void *arg, size_t max);

/* True when nothing is waiting (consumer side view). */
bool moon_ring_empty(struct moon_ring *r);

#endif
