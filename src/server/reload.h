/*
 * Hot reload: build the next generation aside, validate everything, swap
 * it in, or keep serving the running one and say why.
 *
 * Triggers: SIGHUP (moon_reload_now), and changes to the config file or to
 * any file it names (watch.h: inotify on their directories, Kubernetes
 * ConfigMap swaps included, debounced; a change that leaves every file's
 * content as it was is skipped).
 *
 * One reload (moon_reload_run), on the control thread, never on a query
 * thread:
 *  1. load the config (moon_reload_load) and check it the way `moondns
 *     check` does (moon_reload_validate: schema, `user`, every zone, and
 *     whatever moon_gen_new_from compiles); zones whose source did not
 *     change are shared with the running generation, not parsed again;
 *  2. plan the listeners: unchanged ones keep their slot and sockets, added
 *     ones are bound now (all or nothing), removed ones are retired by each
 *     worker after it answered what they had queued (listeners.h);
 *  3. publish the generation; the old one is freed when its last query is
 *     done (gen.h).
 * Any error in 1 or 2 leaves the running generation in service; every
 * problem is logged as "file:line:column: message" and the failure is
 * counted. Keys that need a restart (schema rows without the reload flag:
 * workers, udp.batch, user) are reported and left as they are; the rest of
 * the new config is applied.
 *
 * Threads: everything here runs on the control thread, except the stats,
 * which any thread may read.
 */
#ifndef MOON_SERVER_RELOAD_H
#define MOON_SERVER_RELOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "server/gen.h"
#include "server/server.h"
#include "util/diag.h"

/* Process-wide reload counters, for the metrics endpoint. */
struct moon_reload_stats {
	_Atomic uint64_t reloads;        /* reloads attempted (skipped no-ops not counted) */
	_Atomic uint64_t failures;       /* of which failed: the old generation stayed */
	_Atomic uint64_t skipped;        /* file events after which no content had changed */
	_Atomic uint64_t generation;     /* id of the generation in service */
	_Atomic int64_t last_success;    /* unix time of the last good reload, 0 = none */
	_Atomic int64_t last_failure;    /* unix time of the last failed one, 0 = none */
};

extern struct moon_reload_stats moon_reload_stats;

/* Reads a config file (NULL: the embedded default). Problems go to diag. */
int moon_reload_load(const char *path, struct moon_conf **out, struct moon_diag *diag);

/*
 * The one validation path of `moondns check` and of reload. Builds a
 * generation from conf (taken over), sharing unchanged zones with prev (may
 * be NULL), with routes for the listener slots bound[0..n_bound) (NULL: the
 * config's own) and nworkers workers. It is an error when anything was
 * diagnosed: a zone that does not load, an unknown `user`, a bad route.
 * Returns 0 with *out set, or the error with diag saying why.
 */
int moon_reload_validate(struct moon_conf *conf, const struct moon_gen *prev,
			 const struct moon_gen_listener *bound, size_t n_bound, unsigned nworkers,
			 struct moon_diag *diag, struct moon_gen **out);

/* The distinct listener addresses of a config, as a generation lists them
 * (first use of each address). *out is malloc'ed; returns 0 or -ENOMEM. */
int moon_reload_conf_listeners(const struct moon_conf *conf, struct moon_gen_listener **out,
			       size_t *n);

/* What a reload did. */
struct moon_reload_result {
	uint64_t gen;                    /* in service afterwards */
	size_t zones, zones_reused;
	size_t listeners_added, listeners_removed, listeners_kept;
	int restart_keys;                /* changed keys that need a restart */
};

/*
 * One reload of the server from path (NULL: embedded default). Returns 0 or
 * the error (the old generation stays; diag says why). Counts it in
 * moon_reload_stats and logs the outcome. If paths_fn is not NULL it is
 * called with every file the new config names, once the config parsed
 * (even if the reload fails later).
 */
int moon_reload_run(struct moon_server *s, const char *path, struct moon_diag *diag,
		    struct moon_reload_result *res,
		    void (*paths_fn)(void *arg, const char *path), void *paths_arg);

/* The control thread's reload driver: SIGHUP and file watching. */
struct moon_reload;
struct ev_loop;

/* Called after every reload attempt (ok or not), on the control thread: e.g.
 * to count it in the metrics or reopen query-log files. */
typedef void (*moon_reload_done_fn)(void *arg, int ret, struct moon_server *s);

struct moon_reload_opts {
	const char *path;                /* the config file; NULL: embedded, not watched */
	bool watch;                      /* watch the files (else SIGHUP only) */
	double debounce;                 /* seconds of quiet before a reload; 0 = 0.2 */
	bool log_level_fixed;            /* --log-level given: ignore log.level */
	moon_reload_done_fn done;
	void *done_arg;
};

int moon_reload_new(struct ev_loop *loop, struct moon_server *s,
		    const struct moon_reload_opts *opts, struct moon_reload **out);
/* Reloads now; trigger names it in the log ("SIGHUP"). Returns 0 or the
 * error. */
int moon_reload_now(struct moon_reload *r, const char *trigger);
void moon_reload_free(struct moon_reload *r);

#endif
