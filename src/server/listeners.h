/*
 * The server's listener table and how a reload changes it.
 *
 * Slot i of the table is what pkt->listener and routes[i] of every
 * generation mean. A listener that stays in the config keeps its slot and
 * its sockets across reloads; a removed one leaves an empty slot (address
 * family 0, so no block ever routes there) that a later added listener may
 * take; an added one gets an empty slot or a new one at the end.
 *
 * Workers learn of added and removed listeners through their mailbox
 * (struct moon_lmbox): the control thread posts the operations of a reload
 * right before it publishes the new generation; each worker applies them
 * in order on its own loop. A worker retires removed listeners *before* it
 * takes the new generation (their queued queries are answered by the
 * generation that still routes them) and starts the added ones only once
 * it serves a generation that routes them.
 *
 * Threads: moon_ltab_* on the control thread; moon_lmbox_post on the
 * control thread, moon_lmbox_apply on the mailbox's worker.
 */
#ifndef MOON_SERVER_LISTENERS_H
#define MOON_SERVER_LISTENERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/gen.h"
#include "util/diag.h"

/* Slots are indexed by a uint16_t. */
#define MOON_LTAB_MAX 65535

struct moon_ltab {
	struct moon_gen_listener *l;      /* slot i; empty: addrlen 0, family 0 */
	char (*uri)[128];                 /* l[i].uri points here */
	size_t n;
};

/* The table of the first generation: slot i = gen listener i. */
int moon_ltab_init(struct moon_ltab *t, const struct moon_gen_listener *l, size_t n);
void moon_ltab_free(struct moon_ltab *t);
static inline bool moon_ltab_used(const struct moon_ltab *t, size_t i)
{
	return t->l[i].addrlen != 0;
}

/* What a reload does to the listeners: the table after it, and the slots
 * it opens and closes. */
struct moon_lplan {
	struct moon_ltab next;
	uint16_t *added;
	size_t n_added;
	uint16_t *removed;
	size_t n_removed;
	size_t n_kept;
};

/*
 * Plans the change from cur to the listeners `want` (a generation's
 * deduplicated listeners). A listener is kept when an entry of cur has the
 * same address and protocol. Returns 0, -ENOMEM, or MOON_ELIMIT (more than
 * MOON_LTAB_MAX slots).
 */
int moon_lplan_make(const struct moon_ltab *cur, const struct moon_gen_listener *want,
		    size_t n_want, struct moon_lplan *plan);
void moon_lplan_free(struct moon_lplan *plan);

/*
 * The sockets of one dns:// listener: probes the address (nobody else may
 * hold it), then binds one UDP and one TCP SO_REUSEPORT socket per worker
 * into fds[w][0] (UDP) and fds[w][1] (TCP). All or nothing: on error every
 * socket is closed and diag says "cannot listen on URI (udp): reason".
 */
int moon_lsock_open(const struct moon_gen_listener *l, unsigned nworkers, int (*fds)[2],
		    struct moon_diag *diag);

enum moon_lop_kind { MOON_LOP_RETIRE, MOON_LOP_ADD_UDP, MOON_LOP_ADD_TCP, MOON_LOP_ADD_TLS };

struct moon_tls_listener;

/* One operation for a worker; fd is owned by the op until applied. */
struct moon_lop {
	struct moon_lop *next;
	uint64_t gen;                     /* the generation that routes it */
	enum moon_lop_kind kind;
	uint16_t listener;
	bool pktinfo;
	int fd;
	struct moon_tls_listener *tls;    /* ADD_TLS: the slot's TLS state (server/dot.h) */
};

struct moon_lmbox {
	pthread_mutex_t lock;
	struct moon_lop *head, **tail;
};

void moon_lmbox_init(struct moon_lmbox *m);
/* Frees the ops never applied, closing their sockets. */
void moon_lmbox_deinit(struct moon_lmbox *m);
/* Appends a chain of ops (ending in NULL), taking it over. */
void moon_lmbox_post(struct moon_lmbox *m, struct moon_lop *ops);
/* Allocates one op (control thread); NULL when out of memory. */
struct moon_lop *moon_lop_new(uint64_t gen, enum moon_lop_kind kind, uint16_t listener, int fd,
			      bool pktinfo);
/* Frees a chain of ops that was never posted, closing their sockets. */
void moon_lop_free_chain(struct moon_lop *ops);

struct moon_net_worker;

/*
 * Worker side, in order: before taking a new generation,
 * moon_lmbox_apply(m, nw, 0) retires what the head of the queue retires;
 * after it, moon_lmbox_apply(m, nw, gen_id) applies every op of a
 * generation up to gen_id. Returns the number of ops applied.
 */
unsigned moon_lmbox_apply(struct moon_lmbox *m, struct moon_net_worker *nw, uint64_t gen_id);

#endif
