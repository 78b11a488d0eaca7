#include <ev.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "server/privdrop.h"
#include "server/reload.h"
#include "server/watch.h"
#include "server/zshare.h"
#include "util/err.h"
#include "util/log.h"

#define EMBEDDED_NAME "<embedded default>"
/* A burst of file events (an editor's save, a ConfigMap swap) is one
 * reload: wait this long for quiet, and at most DEBOUNCE_MAX. */
#define DEBOUNCE_DEFAULT 0.2
#define DEBOUNCE_MAX 2.0

struct moon_reload_stats moon_reload_stats;

int moon_reload_load(const char *path, struct moon_conf **out, struct moon_diag *diag)
{
	if (path)
		return moon_conf_load_file(path, out, diag);
	return moon_conf_load_string(moon_conf_default_yaml, EMBEDDED_NAME, out, diag);
}

int moon_reload_validate(struct moon_conf *conf, const struct moon_gen *prev,
			 const struct moon_gen_listener *bound, size_t n_bound, unsigned nworkers,
			 struct moon_diag *diag, struct moon_gen **out)
{
	size_t before = moon_diag_count(diag);
	if (conf->user) {
		struct moon_privdrop p;
		moon_privdrop_resolve(conf->user, conf->path, &p, diag);
	}
	struct moon_gen *gen;
	int ret = moon_gen_new_from(prev, conf, bound, n_bound, nworkers, diag, &gen);
	if (ret)
		return ret;
	if (gen->zones_failed || moon_diag_count(diag) > before) {
		moon_gen_release(gen);
		return MOON_ESEMANTIC;
	}
	*out = gen;
	return 0;
}

int moon_reload_conf_listeners(const struct moon_conf *conf, struct moon_gen_listener **out,
			       size_t *n)
{
	size_t max = 0;
	for (size_t i = 0; i < conf->n_servers; i++)
		max += conf->servers[i].n_listen;
	struct moon_gen_listener *l = calloc(max ? max : 1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < conf->n_servers; i++) {
		for (size_t j = 0; j < conf->servers[i].n_listen; j++) {
			const struct moon_conf_listen *cl = &conf->servers[i].listen[j];
			bool dup = false;
			for (size_t m = 0; m < k && !dup; m++)
				dup = moon_net_addr_equal((const struct sockaddr *)&cl->addr,
							  (const struct sockaddr *)&l[m].addr);
			if (dup)
				continue;
			memcpy(&l[k].addr, &cl->addr, sizeof(cl->addr));
			l[k].addrlen = cl->addrlen;
			l[k].uri = cl->uri;
			l[k].proto = cl->proto;
			k++;
		}
	}
	*out = l;
	*n = k;
	return 0;
}

static void log_restart_keys(const struct moon_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		moon_warn(SERVER, "reload: %s", d->msgs[i]);
}

static void count_failure(void)
{
	atomic_fetch_add(&moon_reload_stats.failures, 1);
	atomic_store(&moon_reload_stats.last_failure, (int64_t)time(NULL));
}

/* Steps 2 and 3: listeners, then the swap. conf is taken over. */
static int build_and_apply(struct moon_server *s, struct moon_conf *conf, struct moon_diag *diag,
			   struct moon_reload_result *res)
{
	struct moon_gen_listener *want;
	size_t n_want;
	int ret = moon_reload_conf_listeners(conf, &want, &n_want);
	struct moon_lplan plan;
	if (!ret) {
		ret = moon_lplan_make(moon_server_ltab(s), want, n_want, &plan);
		free(want);
	}
	if (ret) {
		moon_diag_add(diag, conf->path, 0, 0, "listeners: %s", moon_strerror(ret));
		moon_conf_free(conf);
		return ret;
	}
	struct moon_gen *gen;
	ret = moon_reload_validate(conf, moon_server_current(s), plan.next.l, plan.next.n,
				   moon_server_workers(s), diag, &gen);
	if (!ret) {
		res->gen = gen->id;
		res->zones = gen->zones_loaded;
		res->zones_reused = gen->zones_reused;
		res->listeners_added = plan.n_added;
		res->listeners_removed = plan.n_removed;
		res->listeners_kept = plan.n_kept;
		ret = moon_server_apply(s, gen, &plan, diag);
		if (ret)
			moon_gen_release(gen);
	}
	moon_lplan_free(&plan);
	return ret;
}

int moon_reload_run(struct moon_server *s, const char *path, struct moon_diag *diag,
		    struct moon_reload_result *res,
		    void (*paths_fn)(void *arg, const char *path), void *paths_arg)
{
	struct moon_reload_result scratch;
	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	atomic_fetch_add(&moon_reload_stats.reloads, 1);
	struct moon_conf *conf;
	int ret = moon_reload_load(path, &conf, diag);
	if (ret) {
		count_failure();
		return ret;
	}
	if (paths_fn)
		moon_conf_each_path(conf, paths_fn, paths_arg);
	struct moon_diag restart = { 0 };
	res->restart_keys = moon_conf_diff_restart(moon_server_current(s)->conf, conf, &restart);
	ret = build_and_apply(s, conf, diag, res);
	if (ret) {
		moon_diag_free(&restart);
		count_failure();
		return ret;
	}
	log_restart_keys(&restart);
	moon_diag_free(&restart);
	atomic_store(&moon_reload_stats.generation, res->gen);
	atomic_store(&moon_reload_stats.last_success, (int64_t)time(NULL));
	return 0;
}

int moon_server_reload(struct moon_server *s, const char *path, struct moon_diag *diag)
{
	return moon_reload_run(s, path, diag, NULL, NULL, NULL);
}

/* ------------------------------------------------------------- the driver */

/* A file's content as of one moment: what tells a real change from an
 * event that changed nothing. */
struct fentry {
	char *path;
	int err;                         /* 0, or why it could not be read */
	uint8_t digest[MOON_ZSHARE_DIGEST];
};

struct fset {
	struct fentry *e;
	size_t n;
	bool failed;                     /* out of memory while adding */
};

struct moon_reload {
	struct ev_loop *loop;
	struct moon_server *srv;
	struct moon_reload_opts o;
	char *path;
	struct moon_watch *watch;
	struct fset files;               /* as of the last attempt */
	struct fset named;               /* being collected during an attempt */
};

static void fset_clear(struct fset *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->e[i].path);
	free(f->e);
	memset(f, 0, sizeof(*f));
}

static struct fentry *fset_find(const struct fset *f, const char *path)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->e[i].path, path) == 0)
			return &f->e[i];
	return NULL;
}

static void fset_add(void *arg, const char *path)
{
	struct fset *f = arg;
	if (fset_find(f, path))
		return;
	struct fentry *e = realloc(f->e, (f->n + 1) * sizeof(*e));
	if (!e) {
		f->failed = true;
		return;
	}
	f->e = e;
	memset(&e[f->n], 0, sizeof(e[f->n]));
	e[f->n].path = strdup(path);
	if (!e[f->n].path) {
		f->failed = true;
		return;
	}
	f->n++;
}

static void fentry_hash(struct fentry *e)
{
	bool include;
	e->err = moon_zshare_digest_file(e->path, e->digest, &include);
	if (e->err)
		memset(e->digest, 0, sizeof(e->digest));
}

/* A copy of f's paths with their content now. */
static void fset_snapshot(const struct fset *f, struct fset *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < f->n; i++)
		fset_add(out, f->e[i].path);
	for (size_t i = 0; i < out->n; i++)
		fentry_hash(&out->e[i]);
}

/* The first file whose content differs, or NULL. */
static const char *fset_changed(const struct fset *a, const struct fset *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct fentry *x = fset_find(a, b->e[i].path);
		if (!x || x->err != b->e[i].err ||
		    memcmp(x->digest, b->e[i].digest, sizeof(x->digest)) != 0)
			return b->e[i].path;
	}
	return a->n != b->n ? "a file" : NULL;
}

static void rewatch(struct moon_reload *r)
{
	if (!r->watch)
		return;
	const char **paths = calloc(r->files.n ? r->files.n : 1, sizeof(*paths));
	if (!paths)
		return;
	for (size_t i = 0; i < r->files.n; i++)
		paths[i] = r->files.e[i].path;
	if (moon_watch_set(r->watch, paths, r->files.n))
		moon_warn(SERVER, "watch: out of memory: file changes may go unnoticed");
	free(paths);
}

/* The files of the next attempt's baseline: what the new config names, with
 * the content seen before it was read (so that a change made during the
 * reload is seen as a change afterwards), or the old set if the config did
 * not parse. */
static void adopt_files(struct moon_reload *r, struct fset *before)
{
	if (r->named.n == 0 || r->named.failed) {
		fset_clear(&r->named);
		fset_clear(&r->files);
		r->files = *before;
		return;
	}
	for (size_t i = 0; i < r->named.n; i++) {
		struct fentry *e = &r->named.e[i];
		const struct fentry *old = fset_find(before, e->path);
		if (old) {
			e->err = old->err;
			memcpy(e->digest, old->digest, sizeof(e->digest));
		} else {
			fentry_hash(e);
		}
	}
	fset_clear(before);
	fset_clear(&r->files);
	r->files = r->named;
	memset(&r->named, 0, sizeof(r->named));
}

static void apply_log_level(const struct moon_reload *r)
{
	const char *name = moon_server_current(r->srv)->conf->log_level;
	enum moon_log_level level;
	if (!r->o.log_level_fixed && name && moon_log_level_parse(name, &level) == 0)
		moon_log_set_level(level);
}

static void log_result(const struct moon_reload_result *res)
{
	moon_info(SERVER, "reload: generation %llu in service: %zu zone%s (%zu reloaded, %zu "
		  "unchanged), listeners +%zu -%zu (%zu kept)", (unsigned long long)res->gen,
		  res->zones, res->zones == 1 ? "" : "s", res->zones - res->zones_reused,
		  res->zones_reused, res->listeners_added, res->listeners_removed,
		  res->listeners_kept);
}

static int attempt(struct moon_reload *r, struct fset *before, const char *trigger)
{
	const char *name = r->path ? r->path : EMBEDDED_NAME;
	uint64_t old = moon_server_current(r->srv)->id;
	moon_info(SERVER, "reload (%s): reading %s", trigger, name);
	struct moon_diag diag = { 0 };
	struct moon_reload_result res;
	fset_clear(&r->named);
	if (r->path)
		fset_add(&r->named, r->path);
	int ret = moon_reload_run(r->srv, r->path, &diag, &res, fset_add, &r->named);
	if (ret) {
		moon_diag_log(&diag);
		moon_err(SERVER, "reload failed (%s): still serving generation %llu",
			 moon_strerror(ret), (unsigned long long)old);
	} else {
		apply_log_level(r);
		log_result(&res);
	}
	moon_diag_free(&diag);
	adopt_files(r, before);
	rewatch(r);
	if (r->o.done)
		r->o.done(r->o.done_arg, ret, r->srv);
	return ret;
}

int moon_reload_now(struct moon_reload *r, const char *trigger)
{
	struct fset before;
	fset_snapshot(&r->files, &before);
	return attempt(r, &before, trigger);
}

static void on_files(void *arg)
{
	struct moon_reload *r = arg;
	struct fset now;
	fset_snapshot(&r->files, &now);
	const char *changed = fset_changed(&r->files, &now);
	if (!changed) {
		atomic_fetch_add(&moon_reload_stats.skipped, 1);
		moon_debug(SERVER, "watch: no file content changed; nothing to reload");
		fset_clear(&now);
		rewatch(r);  /* symlinks may point elsewhere now */
		return;
	}
	char trigger[300];
	const char *slash = strrchr(changed, '/');
	snprintf(trigger, sizeof(trigger), "%s changed", slash ? slash + 1 : changed);
	attempt(r, &now, trigger);
}

/* The config's path made absolute without resolving symlinks: the watcher
 * must see the directory it was named in (a ConfigMap mount), and the
 * process never changes directory. */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX];
	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	size_t n = strlen(cwd) + strlen(path) + 2;
	char *abs = malloc(n);
	if (abs)
		snprintf(abs, n, "%s/%s", cwd, path);
	return abs;
}

int moon_reload_new(struct ev_loop *loop, struct moon_server *s,
		    const struct moon_reload_opts *opts, struct moon_reload **out)
{
	struct moon_reload *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->srv = s;
	r->o = *opts;
	if (opts->path && !(r->path = absolute(opts->path))) {
		free(r);
		return -ENOMEM;
	}
	r->o.path = r->path;
	atomic_store(&moon_reload_stats.generation, moon_server_current(s)->id);
	if (!r->path || !opts->watch) {
		*out = r;
		return 0;
	}
	fset_add(&r->files, r->path);
	moon_conf_each_path(moon_server_current(s)->conf, fset_add, &r->files);
	for (size_t i = 0; i < r->files.n; i++)
		fentry_hash(&r->files.e[i]);
	double quiet = opts->debounce > 0 ? opts->debounce : DEBOUNCE_DEFAULT;
	int ret = moon_watch_new(loop, quiet, quiet > DEBOUNCE_MAX ? quiet : DEBOUNCE_MAX,
				 on_files, r, &r->watch);
	if (ret)
		moon_warn(SERVER, "cannot watch the config files (%s): reload with SIGHUP",
			  moon_strerror(ret));
	rewatch(r);
	*out = r;
	return 0;
}

void moon_reload_free(struct moon_reload *r)
{
	if (!r)
		return;
	moon_watch_free(r->watch);
	fset_clear(&r->files);
	fset_clear(&r->named);
	free(r->path);
	free(r);
}
