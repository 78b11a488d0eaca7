/*
 * Connections per client address, counted across all workers: a hash table
 * split into lock-striped shards (clienttab.h). TCP accept takes a slot, close gives it
 * back. Connections are rare next to queries, so a mutex per shard is cheap
 * enough and keeps the code obvious.
 *
 * Memory: each shard holds an array of (address, count) that grows with the
 * number of distinct clients connected at once (bounded by the server-wide
 * connection limit) and is freed by moon_connlimit_deinit().
 */
#ifndef MOON_NET_CONNLIMIT_H
#define MOON_NET_CONNLIMIT_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/clienttab.h"

struct moon_connlimit_entry {
	uint8_t addr[MOON_CLIENTTAB_KEY];       /* first: the table's key */
	uint32_t count;
};

struct moon_connlimit {
	_Atomic uint32_t max_per_client; /* 0 = unlimited; may change at any time */
	struct moon_clienttab tab;       /* of struct moon_connlimit_entry */
};

void moon_connlimit_init(struct moon_connlimit *cl, uint32_t max_per_client);
void moon_connlimit_deinit(struct moon_connlimit *cl);
/* Counts one more connection from sa's address (the port is ignored).
 * Returns 0, MOON_ELIMIT when the client is at its limit, or -ENOMEM. */
int moon_connlimit_acquire(struct moon_connlimit *cl, const struct sockaddr *sa);
/* Gives back a slot taken by a successful acquire. */
void moon_connlimit_release(struct moon_connlimit *cl, const struct sockaddr *sa);
/* Connections currently counted for sa's address (tests, metrics). */
uint32_t moon_connlimit_count(struct moon_connlimit *cl, const struct sockaddr *sa);

#endif
