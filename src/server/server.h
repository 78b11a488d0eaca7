/*
 * The server: binds the listeners of the first generation, runs the worker
 * threads, and publishes new generations (reload).
 *
 * Threads: every function here is called from the control thread (main);
 * workers only read the published generation pointer.
 *
 * Listeners are bound once, at start, from the first generation: a reload
 * that adds, removes or changes a listener address keeps the old set (and
 * logs that a restart is needed). tls:// listeners are not served yet.
 */
#ifndef MOON_SERVER_SERVER_H
#define MOON_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "server/gen.h"
#include "server/stats.h"
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

/*
 * Reload: reads the config (path, or the embedded default when NULL),
 * loads its zones and swaps the new generation in. On any error (config,
 * zone) the running generation stays and diag says why. Returns 0 or the
 * error.
 */
int moon_server_reload(struct moon_server *s, const char *path, struct moon_diag *diag);

/* Sums the workers' counters (racy reads of monotonic counters). */
void moon_server_stats(const struct moon_server *s, struct moon_stats *sum);

/* Stops the workers (they finish what they hold and close their sockets),
 * frees everything. */
void moon_server_stop(struct moon_server *s);

#endif
