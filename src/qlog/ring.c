#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qlog/ring.h"

#define HDR 8u
#define SKIP 0xFFFFFFFFu   /* header length of the gap before a wrap */

struct rec {
	uint32_t len;
	uint16_t tag;
	uint16_t unused;
};

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

int moon_ring_init(struct moon_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	size_t c = 4096;
	while (c < cap)
		c *= 2;
	r->buf = aligned_alloc(64, c);
	if (!r->buf)
		return -ENOMEM;
	r->cap = c;
	return 0;
}

void moon_ring_deinit(struct moon_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

static void count(_Atomic uint64_t *c)
{
	/* Single writer: a load and a store, no locked instruction. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

bool moon_ring_push(struct moon_ring *r, uint16_t tag, const void *data, size_t len)
{
	size_t need = HDR + align8(len);
	if (len > moon_ring_max_record(r)) {
		count(&r->dropped);
		return false;
	}
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t off = (size_t)(head & (r->cap - 1));
	size_t gap = r->cap - off < need ? r->cap - off : 0;
	/* Look at the consumer's tail only when the cached view says full. */
	if (head + gap + need - r->tail_seen > r->cap) {
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head + gap + need - r->tail_seen > r->cap) {
			count(&r->dropped);
			return false;
		}
	}
	if (gap) {
		struct rec skip = { .len = SKIP };
		memcpy(r->buf + off, &skip, sizeof(skip));
		off = 0;
	}
	struct rec h = { .len = (uint32_t)len, .tag = tag };
	memcpy(r->buf + off, &h, sizeof(h));
	memcpy(r->buf + off + HDR, data, len);
	atomic_store_explicit(&r->head, head + gap + need, memory_order_release);
	count(&r->pushed);
	return true;
}

size_t moon_ring_drain(struct moon_ring *r, moon_ring_fn fn, void *arg, size_t max)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t n = 0;
	while (tail != head && n < max) {
		size_t off = (size_t)(tail & (r->cap - 1));
		struct rec h;
		memcpy(&h, r->buf + off, sizeof(h));
		if (h.len == SKIP) {
			tail += r->cap - off;
			continue;
		}
		fn(arg, h.tag, r->buf + off + HDR, h.len);
		tail += HDR + align8(h.len);
		n++;
		/* Free the space record by record so a long drain does not make
		 * the producer drop lines it could have kept. */
		atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	return n;
}

bool moon_ring_empty(struct moon_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire) ==
	       atomic_load_explicit(&r->tail, memory_order_relaxed);
}
