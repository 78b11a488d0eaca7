/*
 * A table of per-client-address entries shared by all workers, split into
 * lock-striped shards: the layout under the connection counts of
 * connlimit.h and the TLS session buckets of tlsrate.h. The table knows
 * only the key; what an entry holds after it belongs to the user.
 *
 * Entries: every entry type starts with uint8_t addr[MOON_CLIENTTAB_KEY]
 * and the table is told its size once, at init. A shard keeps its entries
 * in one array of n used out of cap, so a pointer to an entry is valid
 * until the shard's lock is released.
 *
 * Memory: the arrays grow by doubling in moon_clienttab_add() and are freed
 * by moon_clienttab_deinit(); bounding them is up to the user.
 *
 * Threads: the caller holds a shard's lock (moon_clienttab_lock()) around
 * find, add and remove on it; init and deinit run with no other user.
 */
#ifndef MOON_NET_CLIENTTAB_H
#define MOON_NET_CLIENTTAB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MOON_CLIENTTAB_SHARDS 64
#define MOON_CLIENTTAB_KEY 16   /* IPv4 as ::ffff:a.b.c.d, so both families share one key */

struct moon_clienttab_shard {
	pthread_mutex_t lock;
	void *e;                /* n entries of the table's esize bytes, room for cap */
	uint32_t n, cap;
};

struct moon_clienttab {
	size_t esize;
	uint32_t seed;
	struct moon_clienttab_shard shard[MOON_CLIENTTAB_SHARDS];
};

/* Sets up an empty table of entries of esize bytes (>= MOON_CLIENTTAB_KEY). */
void moon_clienttab_init(struct moon_clienttab *t, size_t esize);
/* Frees every entry and leaves t zeroed. */
void moon_clienttab_deinit(struct moon_clienttab *t);
/* The key of sa's address (the port is ignored). */
void moon_clienttab_key(const struct sockaddr *sa, uint8_t key[MOON_CLIENTTAB_KEY]);
/* The shard that holds key. */
struct moon_clienttab_shard *moon_clienttab_shard(struct moon_clienttab *t,
						  const uint8_t key[MOON_CLIENTTAB_KEY]);
/* Fills key with sa's key, locks its shard and returns it; the caller
 * unlocks it with pthread_mutex_unlock(&shard->lock). */
struct moon_clienttab_shard *moon_clienttab_lock(struct moon_clienttab *t,
						 const struct sockaddr *sa,
						 uint8_t key[MOON_CLIENTTAB_KEY]);
/* The entry of key in s, or NULL. */
void *moon_clienttab_find(const struct moon_clienttab *t, struct moon_clienttab_shard *s,
			  const uint8_t key[MOON_CLIENTTAB_KEY]);
/* Appends an entry for key to s (not looked for first): its key is set, the
 * rest is left for the caller to fill. Returns NULL when out of memory. */
void *moon_clienttab_add(const struct moon_clienttab *t, struct moon_clienttab_shard *s,
			 const uint8_t key[MOON_CLIENTTAB_KEY]);
/* Removes entry e of s; the last entry moves into its place. */
void moon_clienttab_remove(const struct moon_clienttab *t, struct moon_clienttab_shard *s,
			   void *e);
/* Entries in the whole table, each shard locked in turn. */
uint32_t moon_clienttab_size(struct moon_clienttab *t);

#endif
