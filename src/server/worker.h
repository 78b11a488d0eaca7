/*
 * A worker thread: its own libev loop, its own sockets (net), its own pool
 * of query contexts and its own counters. A query never leaves the worker
 * that received it.
 *
 * Ownership: the server creates and frees workers (server.c). Everything in
 * a worker is touched only by its thread once it runs, except `wake` (an
 * ev_async the control thread signals) and `stop`.
 */
#ifndef MOON_SERVER_WORKER_H
#define MOON_SERVER_WORKER_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "net/net.h"
#include "query/query.h"
#include "server/gen.h"
#include "server/listeners.h"
#include "zone/zone.h"

/* Query contexts per worker: the bound on its in-flight queries. Each holds
 * a 64 KiB request and response buffer, reserved but only touched as used. */
#define MOON_WORKER_SLOTS 256

/* A query context and what it carries, from one preallocated array. */
struct moon_slot {
	struct moon_net_pkt io;
	struct moon_query q;
	struct moon_zone_answer ans;
	struct moon_slot *next_free;
};

struct moon_worker {
	unsigned id;
	pthread_t thread;
	bool started;
	struct ev_loop *loop;
	ev_async wake;                  /* stop, or a new generation */
	_Atomic bool stop;
	struct moon_gen_pub *pub;
	struct moon_gen_user gen;
	struct moon_net_worker *net;
	struct moon_lmbox lbox;         /* listeners a reload adds or removes */
	struct moon_fwdw *fwdw;         /* forwarding state per block (server/sources.h) */
	struct moon_slot *slots;
	struct moon_slot *free;
	unsigned nfree;
	void *bufs;                     /* the slots' buffers, one mapping */
	size_t bufs_len;
};

/* Sets up worker `id` (loop, pool, transport) in the calling thread; the
 * generation is taken from pub. Returns 0 or a negative error. */
int moon_worker_init(struct moon_worker *w, unsigned id, struct moon_gen_pub *pub,
		     const struct moon_net_config *cfg, struct moon_net_shared *sh);
/* Runs the loop in a new thread. */
int moon_worker_start(struct moon_worker *w);
/* Asks the thread to pick up the published generation (any thread). */
void moon_worker_wake(struct moon_worker *w);
/* Asks the thread to finish its queries, close its sockets and exit, and
 * waits for it. */
void moon_worker_stop(struct moon_worker *w);
/* Frees what init allocated (after stop, or if never started). */
void moon_worker_deinit(struct moon_worker *w);

#endif
