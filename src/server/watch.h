/*
 * File watching for hot reload: inotify on the *directories* that hold the
 * watched files, so that every way of changing a file is seen: a write in
 * place, an editor's rename over it, a symlink re-pointed, and the atomic
 * swap Kubernetes does for a ConfigMap volume (DIR/..data is a symlink to
 * a timestamped directory; DIR/FILE -> ..data/FILE; an update creates a new
 * timestamped directory and renames a new ..data symlink over the old one).
 *
 * For each file both its own directory and the directory of its resolved
 * path (symlinks followed) are watched. An event in a watched directory
 * counts when it names a watched file or an entry starting with ".." (the
 * Kubernetes swap). Events are debounced: the callback runs once no event
 * came for `quiet` seconds, or `max` seconds after the first one of a burst
 * at the latest. The callback only says "something may have changed"; the
 * caller compares contents (reload.c hashes them) to skip no-op events.
 *
 * Threads: everything on the control thread's loop.
 */
#ifndef MOON_SERVER_WATCH_H
#define MOON_SERVER_WATCH_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;

/* The debounce rule, apart from any clock or loop (unit-tested). */
struct moon_debounce {
	double quiet;                    /* seconds without events before firing */
	double max;                      /* fire at most this long after the first event */
	double first, last;              /* times of the burst's first and last events */
	bool pending;
};

void moon_debounce_init(struct moon_debounce *d, double quiet, double max);
void moon_debounce_event(struct moon_debounce *d, double now);
/* Seconds until the burst is due (<= 0: due now), or -1 when none is
 * pending. */
double moon_debounce_wait(const struct moon_debounce *d, double now);
void moon_debounce_clear(struct moon_debounce *d);

struct moon_watch;
typedef void (*moon_watch_fn)(void *arg);

/* Creates a watcher on loop that calls fn(arg) after a debounced burst.
 * Returns 0 or a negative error (inotify unavailable: -errno). */
int moon_watch_new(struct ev_loop *loop, double quiet, double max, moon_watch_fn fn, void *arg,
		   struct moon_watch **out);
/* Replaces the watched set with these absolute paths (files need not
 * exist; a missing directory is skipped with a debug line). Returns 0 or
 * -ENOMEM. */
int moon_watch_set(struct moon_watch *w, const char *const *paths, size_t n);
/* Directories currently watched (tests, debug). */
size_t moon_watch_dirs(const struct moon_watch *w);
void moon_watch_free(struct moon_watch *w);

#endif
