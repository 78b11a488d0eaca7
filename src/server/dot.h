/*
 * DNS over TLS in the server, between the config and net/tls.h:
 *
 *  - per generation, the TLS context of each tls:// listener slot, built
 *    from the `tls:` section of the blocks on that address when the
 *    generation is built. A certificate that does not load is thus an
 *    error of `moondns check`, of the start and of a reload (which then
 *    keeps the running generation), reported at the section's file:line.
 *    Blocks sharing a tls:// address must have the same `tls:` settings.
 *
 *  - per tls:// listener slot of the server, the struct moon_tls_listener
 *    that the workers' sockets on it share (context, new-session rate).
 *    It lives as long as the server: connections of a retired listener
 *    may still point at it.
 *
 * Certificate reload needs nothing of its own: cert, key and client_ca are
 * path keys, so the reload watcher (server/reload.h) reloads the config
 * when one of those files changes, and moon_dot_publish hands the new
 * generation's contexts to the listeners. Running connections keep the
 * context they started with; session tickets stay valid (net/tlsctx.h).
 *
 * Threads: control thread only.
 */
#ifndef MOON_SERVER_DOT_H
#define MOON_SERVER_DOT_H

#include <stddef.h>
#include <stdint.h>

#include "server/gen.h"
#include "server/listeners.h"
#include "util/diag.h"

struct moon_tls_listener;

/* Fills gen->tls (one entry per bound slot; NULL for a slot that is not
 * tls://). Returns 0, -ENOMEM, or MOON_ESEMANTIC with diag saying why. */
int moon_dot_gen_build(struct moon_gen *gen, const struct moon_gen_listener *bound,
		       size_t n_bound, struct moon_diag *diag);
void moon_dot_gen_free(struct moon_gen *gen);

struct moon_dot {
	struct moon_tls_listener **l;    /* by slot; NULL: never a tls:// slot */
	size_t n;
};

/*
 * Opens the sockets of the tls:// listener of `slot` (after checking that
 * nobody else holds the address): one TCP socket per worker, each appended
 * to ops[w] as a MOON_LOP_ADD_TLS operation that starts serving it with
 * the slot's listener state. All or nothing: on error diag says "cannot
 * listen on URI (tcp): reason" and no socket stays open.
 */
int moon_dot_open(struct moon_dot *d, const struct moon_gen_listener *l, uint16_t slot,
		  unsigned nworkers, uint64_t gen, struct moon_lop **ops, struct moon_diag *diag);
/* Makes gen's contexts those of new connections on each tls:// slot. Call
 * it before publishing gen, so that no worker serves gen without them. */
void moon_dot_publish(struct moon_dot *d, const struct moon_gen *gen);
/* After the workers stopped. */
void moon_dot_free(struct moon_dot *d);

#endif
