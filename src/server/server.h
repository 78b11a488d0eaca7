/*
 * The server: binds the listeners of the first generation, runs the worker
 * threads, and publishes new generations (reload).
 *
 * Threads: every function here is called from the control thread (main);
 * workers only read the published generation pointer.
 *
 * Listeners are bound at start from the first generation; a reload opens
 * the ones its config adds and retires the ones it removes, and never
 * touches the sockets of the others (server/listeners.h). tls://
 * listeners serve DNS over TLS (server/dot.h).
 */
#ifndef MOON_SERVER_SERVER_H
#define MOON_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "server/gen.h"
#include "server/listeners.h"
#include "util/diag.h"

struct moon_server;

/* Worker threads for a config: its `workers`, or one per CPU for auto. */
unsigned moon_server_worker_count(const struct moon_conf *conf);

/*
 * Binds every dns:// listener of gen (UDP and TCP, one SO_REUSEPORT socket
 * of each per worker) and starts gen->nworkers threads, taking over the
 * caller's reference to gen. On a bind error, diag names the
 * listener ("dns://127.0.0.1:53 (udp): Address already in use") and nothing
 * is left running. Returns 0 or a negative error.
 */
int moon_server_start(struct moon_gen *gen, struct moon_diag *diag, struct moon_server **out);

/* The listener addresses bound at start, in the order routes index them. */
const struct moon_gen_listener *moon_server_listeners(const struct moon_server *s, size_t *n);
unsigned moon_server_workers(const struct moon_server *s);

/* Publishes next (taking the caller's reference) and tells every worker;
 * the previous generation is freed once the last query using it is done. */
void moon_server_swap_generation(struct moon_server *s, struct moon_gen *next);

/* The generation in service (control thread: valid until the next swap,
 * which only the control thread makes). */
struct moon_gen *moon_server_current(const struct moon_server *s);
/* The listener table: slot i is route i of the next generation too. */
const struct moon_ltab *moon_server_ltab(const struct moon_server *s);

/*
 * Applies a reload that server/reload.c planned and built: opens the
 * sockets of plan's added listeners (all or none: on error diag says which
 * and nothing changed, next still belongs to the caller), then posts each
 * worker its listener changes, adopts plan's table (plan->next is taken
 * over) and publishes next (its reference is taken over).
 */
int moon_server_apply(struct moon_server *s, struct moon_gen *next, struct moon_lplan *plan,
		      struct moon_diag *diag);

/* A reload now, as SIGHUP does (server/reload.h: moon_reload_run). */
int moon_server_reload(struct moon_server *s, const char *path, struct moon_diag *diag);

/* Stops the workers (they finish what they hold and close their sockets),
 * frees everything. */
void moon_server_stop(struct moon_server *s);

#endif
