/*
 * The writer thread polls the rings instead of being woken per line: a
 * wake-up per query would put a system call on the query path. It sleeps
 * 1 ms after finding work and backs off to 50 ms when idle, so a line
 * reaches its sink within about 50 ms and an idle server wakes 20 times a
 * second. moon_qlog_flush() wakes it at once.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qlog/consolidate.h"
#include "qlog/qlog.h"
#include "qlog/ring.h"
#include "util/err.h"
#include "util/log.h"
#include "wire/name.h"

#define OUTBUF (64u * 1024)
#define IDLE_MAX_MS 50

struct sink {
	char *name;                      /* "stdout", "stderr" or the file's path */
	_Atomic int fd;
	bool own;                        /* a file we opened */
	char *out;                       /* writer's batch buffer */
	size_t len;
};

struct wstate {
	struct moon_ring ring;
	struct moon_qlog_stamp stamp;    /* worker's cached time text */
	char line[MOON_QLOG_LINE_MAX];   /* worker's render buffer */
};

struct moon_qlog {
	unsigned nworkers;
	struct wstate *w;
	struct sink sinks[MOON_QLOG_MAX_SINKS];
	_Atomic unsigned nsinks;
	pthread_mutex_t sink_lock;       /* rule_new against itself (control thread) */
	pthread_t thread;
	pthread_mutex_t lock;            /* flush handshake and sleep */
	pthread_cond_t cond;
	uint64_t flush_req, flush_done;
	bool stop;
	_Atomic bool reopen;
	_Atomic uint64_t written, write_errors;
};

struct moon_qlog_rule {
	struct moon_qlog_format *fmt;
	unsigned classes;
	unsigned sink;
	uint8_t (*names)[MOON_NAME_MAXLEN];
	size_t n_names;
};

/* ------------------------------------------------------------ sinks */

static int open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

/* Finds or opens the sink for `to`; returns its index or an error. */
static int sink_get(struct moon_qlog *ql, const char *to)
{
	if (!to)
		to = "stdout";
	unsigned n = atomic_load(&ql->nsinks);
	for (unsigned i = 0; i < n; i++)
		if (strcmp(ql->sinks[i].name, to) == 0)
			return (int)i;
	if (n == MOON_QLOG_MAX_SINKS)
		return MOON_ELIMIT;
	struct sink *s = &ql->sinks[n];
	memset(s, 0, sizeof(*s));
	bool std = strcmp(to, "stdout") == 0 || strcmp(to, "stderr") == 0;
	int fd = std ? (to[3] == 'o' ? STDOUT_FILENO : STDERR_FILENO) : open_file(to);
	s->out = malloc(OUTBUF);
	s->name = strdup(to);
	if (fd < 0 || !s->out || !s->name) {
		if (fd >= 0 && !std)
			close(fd);
		free(s->out);
		free(s->name);
		return fd < 0 ? fd : -ENOMEM;
	}
	atomic_init(&s->fd, fd);
	s->own = !std;
	/* Publish the slot only once it is complete: the writer reads up to
	 * nsinks without the lock. */
	atomic_store(&ql->nsinks, n + 1);
	return (int)n;
}

/* Writes a sink's batch; a failed write loses the batch (and is counted)
 * rather than retrying forever against a full disk. */
static void sink_flush(struct moon_qlog *ql, struct sink *s)
{
	size_t off = 0;
	int fd = atomic_load(&s->fd);
	while (off < s->len) {
		ssize_t n = write(fd, s->out + off, s->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			atomic_fetch_add(&ql->write_errors, 1);
			MOON_LOG_CONSOLIDATED(MOON_LOG_ERR, SERVER, "query log write failed",
					      "query log %s: write failed: %s", s->name,
					      moon_strerror(-errno));
			break;
		}
		off += (size_t)n;
	}
	s->len = 0;
}

static void reopen_files(struct moon_qlog *ql)
{
	unsigned n = atomic_load(&ql->nsinks);
	for (unsigned i = 0; i < n; i++) {
		struct sink *s = &ql->sinks[i];
		if (!s->own)
			continue;
		int fd = open_file(s->name);
		if (fd < 0) {
			moon_err(SERVER, "query log %s: cannot reopen: %s", s->name, moon_strerror(fd));
			continue;
		}
		close(atomic_exchange(&s->fd, fd));
	}
}

/* ------------------------------------------------------------ writer */

struct drain_ctx {
	struct moon_qlog *ql;
	unsigned nsinks;
	uint64_t lines;
};

static void take_line(void *arg, uint16_t tag, const void *data, size_t len)
{
	struct drain_ctx *d = arg;
	if (tag >= d->nsinks)
		return;  /* cannot happen: sinks are published before rules use them */
	struct sink *s = &d->ql->sinks[tag];
	if (s->len + len > OUTBUF)
		sink_flush(d->ql, s);
	memcpy(s->out + s->len, data, len);
	s->len += len;
	d->lines++;
}

/* Drains every ring once and writes the batches; returns the lines. */
static uint64_t pass(struct moon_qlog *ql)
{
	struct drain_ctx d = { .ql = ql, .nsinks = atomic_load(&ql->nsinks) };
	for (unsigned w = 0; w < ql->nworkers; w++)
		moon_ring_drain(&ql->w[w].ring, take_line, &d, SIZE_MAX);
	for (unsigned i = 0; i < d.nsinks; i++)
		if (ql->sinks[i].len)
			sink_flush(ql, &ql->sinks[i]);
	atomic_fetch_add(&ql->written, d.lines);
	return d.lines;
}

static void sleep_ms(struct moon_qlog *ql, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&ql->lock);
	if (!ql->stop && ql->flush_req == ql->flush_done)
		pthread_cond_timedwait(&ql->cond, &ql->lock, &ts);
	pthread_mutex_unlock(&ql->lock);
}

static void *writer_main(void *arg)
{
	struct moon_qlog *ql = arg;
	unsigned idle = 1;
	for (;;) {
		pthread_mutex_lock(&ql->lock);
		bool stop = ql->stop;
		uint64_t req = ql->flush_req;
		pthread_mutex_unlock(&ql->lock);
		if (atomic_exchange(&ql->reopen, false))
			reopen_files(ql);
		/* One pass writes everything pushed before it started, which is
		 * what a flush asked for. */
		uint64_t lines = pass(ql);
		pthread_mutex_lock(&ql->lock);
		ql->flush_done = req;
		pthread_cond_broadcast(&ql->cond);
		pthread_mutex_unlock(&ql->lock);
		if (stop)
			break;
		idle = lines ? 1 : idle * 2 > IDLE_MAX_MS ? IDLE_MAX_MS : idle * 2;
		sleep_ms(ql, idle);
	}
	return NULL;
}

/* ------------------------------------------------------------ life */

static void qlog_release(struct moon_qlog *ql)
{
	unsigned n = atomic_load(&ql->nsinks);
	for (unsigned i = 0; i < n; i++) {
		if (ql->sinks[i].own)
			close(atomic_load(&ql->sinks[i].fd));
		free(ql->sinks[i].name);
		free(ql->sinks[i].out);
	}
	for (unsigned w = 0; ql->w && w < ql->nworkers; w++)
		moon_ring_deinit(&ql->w[w].ring);
	free(ql->w);
	pthread_mutex_destroy(&ql->sink_lock);
	pthread_mutex_destroy(&ql->lock);
	pthread_cond_destroy(&ql->cond);
	free(ql);
}

int moon_qlog_new(unsigned nworkers, size_t ring_bytes, struct moon_qlog **out)
{
	struct moon_qlog *ql = calloc(1, sizeof(*ql));
	if (!ql)
		return -ENOMEM;
	ql->nworkers = nworkers;
	pthread_mutex_init(&ql->sink_lock, NULL);
	pthread_mutex_init(&ql->lock, NULL);
	pthread_cond_init(&ql->cond, NULL);
	ql->w = calloc(nworkers ? nworkers : 1, sizeof(*ql->w));
	int ret = ql->w ? 0 : -ENOMEM;
	for (unsigned w = 0; !ret && w < nworkers; w++)
		ret = moon_ring_init(&ql->w[w].ring, ring_bytes ? ring_bytes : MOON_QLOG_RING_DEFAULT);
	if (!ret)
		ret = -pthread_create(&ql->thread, NULL, writer_main, ql);
	if (ret) {
		qlog_release(ql);
		return ret;
	}
	*out = ql;
	return 0;
}

void moon_qlog_free(struct moon_qlog *ql)
{
	if (!ql)
		return;
	pthread_mutex_lock(&ql->lock);
	ql->stop = true;
	pthread_cond_broadcast(&ql->cond);
	pthread_mutex_unlock(&ql->lock);
	pthread_join(ql->thread, NULL);
	qlog_release(ql);
}

void moon_qlog_flush(struct moon_qlog *ql)
{
	pthread_mutex_lock(&ql->lock);
	uint64_t my = ++ql->flush_req;
	pthread_cond_broadcast(&ql->cond);
	while (ql->flush_done < my && !ql->stop)
		pthread_cond_wait(&ql->cond, &ql->lock);
	pthread_mutex_unlock(&ql->lock);
}

void moon_qlog_reopen(struct moon_qlog *ql)
{
	atomic_store(&ql->reopen, true);
}

void moon_qlog_stats(struct moon_qlog *ql, struct moon_qlog_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned w = 0; w < ql->nworkers; w++) {
		st->queued += atomic_load_explicit(&ql->w[w].ring.pushed, memory_order_relaxed);
		st->dropped += atomic_load_explicit(&ql->w[w].ring.dropped, memory_order_relaxed);
	}
	st->written = atomic_load(&ql->written);
	st->write_errors = atomic_load(&ql->write_errors);
}

/* ------------------------------------------------------------ rules */

int moon_qlog_rule_new(struct moon_qlog *ql, const struct moon_qlog_rule_conf *c,
		       struct moon_qlog_rule **out, const char **why)
{
	*why = NULL;
	struct moon_qlog_rule *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->classes = c->classes ? c->classes : MOON_QLOG_ALL;
	int ret = moon_qlog_format_new(c->format ? c->format : "common", c->json_meta,
				       c->n_json_meta, &r->fmt);
	if (ret == MOON_ESYNTAX)
		*why = "format must be common, combined, json or a string with {placeholders}";
	if (!ret && c->n_names) {
		r->names = calloc(c->n_names, sizeof(*r->names));
		ret = r->names ? 0 : -ENOMEM;
	}
	for (size_t i = 0; !ret && i < c->n_names; i++, r->n_names++) {
		if (moon_name_from_text(c->names[i], NULL, r->names[i]) < 0) {
			*why = "names must be absolute domain names";
			ret = MOON_ESYNTAX;
		} else {
			moon_name_tolower(r->names[i], r->names[i]);
		}
	}
	if (ret)
		goto fail_free;
	pthread_mutex_lock(&ql->sink_lock);
	ret = sink_get(ql, c->to);
	pthread_mutex_unlock(&ql->sink_lock);
	if (ret < 0) {
		*why = ret == MOON_ELIMIT ? "too many distinct query log destinations" : NULL;
		goto fail_free;
	}
	r->sink = (unsigned)ret;
	*out = r;
	return 0;
fail_free:
	moon_qlog_rule_free(r);
	return ret;
}

void moon_qlog_rule_free(struct moon_qlog_rule *r)
{
	if (!r)
		return;
	moon_qlog_format_free(r->fmt);
	free(r->names);
	free(r);
}

static bool name_taken(const struct moon_qlog_rule *r, const uint8_t *qname)
{
	if (!r->n_names)
		return true;
	if (!qname)
		return false;
	for (size_t i = 0; i < r->n_names; i++)
		if (moon_name_is_subdomain(qname, r->names[i]))
			return true;
	return false;
}

bool moon_qlog_log(struct moon_qlog *ql, unsigned worker, const struct moon_qlog_rule *r,
		   const struct moon_qlog_entry *e)
{
	if (!(r->classes & moon_qlog_classify(e)) || !name_taken(r, e->qname))
		return false;
	struct wstate *w = &ql->w[worker];
	size_t len = moon_qlog_render(r->fmt, e, &w->stamp, w->line);
	return moon_ring_push(&w->ring, (uint16_t)r->sink, w->line, len);
}
