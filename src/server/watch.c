#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "server/watch.h"
#include "util/err.h"
#include "util/log.h"

void moon_debounce_init(struct moon_debounce *d, double quiet, double max)
{
	memset(d, 0, sizeof(*d));
	d->quiet = quiet;
	d->max = max > quiet ? max : quiet;
}

void moon_debounce_event(struct moon_debounce *d, double now)
{
	if (!d->pending)
		d->first = now;
	d->last = now;
	d->pending = true;
}

double moon_debounce_wait(const struct moon_debounce *d, double now)
{
	if (!d->pending)
		return -1;
	double at = d->last + d->quiet;
	if (at > d->first + d->max)
		at = d->first + d->max;
	return at - now;
}

void moon_debounce_clear(struct moon_debounce *d)
{
	d->pending = false;
}

/* A watched directory and the names in it that count. */
struct wdir {
	int wd;
	char *path;
	char **names;
	size_t n_names;
};

struct moon_watch {
	struct ev_loop *loop;
	int fd;
	ev_io io;
	ev_timer timer;
	struct moon_debounce db;
	moon_watch_fn fn;
	void *arg;
	struct wdir *dirs;
	size_t n_dirs;
};

#define MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | \
	      IN_ATTRIB | IN_ONLYDIR)

static void free_dir(struct wdir *d)
{
	for (size_t i = 0; i < d->n_names; i++)
		free(d->names[i]);
	free(d->names);
	free(d->path);
}

static struct wdir *find_wd(struct moon_watch *w, int wd)
{
	for (size_t i = 0; i < w->n_dirs; i++)
		if (w->dirs[i].wd == wd)
			return &w->dirs[i];
	return NULL;
}

static bool counts(const struct wdir *d, const char *name)
{
	/* Kubernetes' atomic writer names its entries "..data",
	 * "..2024_01_01_00_00_00.123", "..data_tmp". */
	if (name[0] == '.' && name[1] == '.')
		return true;
	for (size_t i = 0; i < d->n_names; i++)
		if (strcmp(d->names[i], name) == 0)
			return true;
	return false;
}

static void arm_timer(struct moon_watch *w)
{
	double wait = moon_debounce_wait(&w->db, ev_now(w->loop));
	ev_timer_stop(w->loop, &w->timer);
	if (wait < 0)
		return;
	ev_timer_set(&w->timer, wait > 0.001 ? wait : 0.001, 0.);
	ev_timer_start(w->loop, &w->timer);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct moon_watch *w = t->data;
	if (moon_debounce_wait(&w->db, ev_now(loop)) > 0.0005) {
		arm_timer(w);
		return;
	}
	moon_debounce_clear(&w->db);
	w->fn(w->arg);
}

static void on_events(struct ev_loop *loop, ev_io *io, int revents)
{
	struct moon_watch *w = io->data;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	for (;;) {
		ssize_t len = read(w->fd, buf, sizeof(buf));
		if (len <= 0)
			break;
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			struct wdir *d = find_wd(w, ev->wd);
			if (ev->mask & IN_Q_OVERFLOW) {
				hit = true;  /* events were lost: look at everything */
				continue;
			}
			if (!d)
				continue;
			if (ev->mask & IN_IGNORED) {
				/* The directory went away (an old Kubernetes
				 * timestamped directory): forget it. */
				d->wd = -1;
				continue;
			}
			if (ev->len && counts(d, ev->name)) {
				moon_debug(SERVER, "watch: %s/%s changed", d->path, ev->name);
				hit = true;
			}
		}
	}
	if (!hit)
		return;
	moon_debounce_event(&w->db, ev_now(loop));
	arm_timer(w);
}

int moon_watch_new(struct ev_loop *loop, double quiet, double max, moon_watch_fn fn, void *arg,
		   struct moon_watch **out)
{
	struct moon_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		int err = -errno;
		free(w);
		return err;
	}
	w->loop = loop;
	w->fn = fn;
	w->arg = arg;
	moon_debounce_init(&w->db, quiet, max);
	ev_io_init(&w->io, on_events, w->fd, EV_READ);
	w->io.data = w;
	ev_io_start(loop, &w->io);
	ev_timer_init(&w->timer, on_timer, 0., 0.);
	w->timer.data = w;
	*out = w;
	return 0;
}

static int add_name(struct wdir *d, const char *name)
{
	for (size_t i = 0; i < d->n_names; i++)
		if (strcmp(d->names[i], name) == 0)
			return 0;
	char **names = realloc(d->names, (d->n_names + 1) * sizeof(*names));
	if (!names)
		return -ENOMEM;
	d->names = names;
	d->names[d->n_names] = strdup(name);
	if (!d->names[d->n_names])
		return -ENOMEM;
	d->n_names++;
	return 0;
}

/* Adds dir/name to the set being built in dirs[0..*n). */
static int add_path(struct wdir **dirs, size_t *n, const char *dir, const char *name)
{
	struct wdir *d = NULL;
	for (size_t i = 0; i < *n && !d; i++)
		if (strcmp((*dirs)[i].path, dir) == 0)
			d = &(*dirs)[i];
	if (!d) {
		struct wdir *nd = realloc(*dirs, (*n + 1) * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		*dirs = nd;
		d = &nd[*n];
		memset(d, 0, sizeof(*d));
		d->wd = -1;
		d->path = strdup(dir);
		if (!d->path)
			return -ENOMEM;
		(*n)++;
	}
	return add_name(d, name);
}

/* Splits path into its directory and last component and adds both. */
static int add_split(struct wdir **dirs, size_t *n, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || !slash[1])
		return 0;
	char dir[PATH_MAX];
	size_t dl = slash == path ? 1 : (size_t)(slash - path);
	if (dl >= sizeof(dir))
		return 0;
	memcpy(dir, path, dl);
	dir[dl] = 0;
	return add_path(dirs, n, dir, slash + 1);
}

static int build_set(const char *const *paths, size_t np, struct wdir **dirs, size_t *n)
{
	for (size_t i = 0; i < np; i++) {
		int ret = add_split(dirs, n, paths[i]);
		char real[PATH_MAX];
		if (!ret && realpath(paths[i], real) && strcmp(real, paths[i]) != 0)
			ret = add_split(dirs, n, real);
		if (ret)
			return ret;
	}
	return 0;
}

int moon_watch_set(struct moon_watch *w, const char *const *paths, size_t np)
{
	struct wdir *dirs = NULL;
	size_t n = 0;
	int ret = build_set(paths, np, &dirs, &n);
	if (ret) {
		for (size_t i = 0; i < n; i++)
			free_dir(&dirs[i]);
		free(dirs);
		return ret;
	}
	/* inotify gives the same wd for the same directory: adding the new
	 * set before dropping the old keeps the common directories watched
	 * without a gap. */
	for (size_t i = 0; i < n; i++) {
		dirs[i].wd = inotify_add_watch(w->fd, dirs[i].path, MASK);
		if (dirs[i].wd < 0)
			moon_debug(SERVER, "watch: cannot watch %s: %s", dirs[i].path,
				   moon_strerror(-errno));
	}
	for (size_t i = 0; i < w->n_dirs; i++) {
		struct wdir *old = &w->dirs[i];
		bool still = false;
		for (size_t j = 0; j < n && !still; j++)
			still = dirs[j].wd == old->wd;
		if (old->wd >= 0 && !still)
			inotify_rm_watch(w->fd, old->wd);
		free_dir(old);
	}
	free(w->dirs);
	w->dirs = dirs;
	w->n_dirs = n;
	return 0;
}

size_t moon_watch_dirs(const struct moon_watch *w)
{
	size_t n = 0;
	for (size_t i = 0; i < w->n_dirs; i++)
		n += w->dirs[i].wd >= 0;
	return n;
}

void moon_watch_free(struct moon_watch *w)
{
	if (!w)
		return;
	ev_io_stop(w->loop, &w->io);
	ev_timer_stop(w->loop, &w->timer);
	close(w->fd);
	for (size_t i = 0; i < w->n_dirs; i++)
		free_dir(&w->dirs[i]);
	free(w->dirs);
	free(w);
}
