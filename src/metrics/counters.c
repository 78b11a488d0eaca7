#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/counters.h"
#include "util/log.h"

struct moon_metrics {
	unsigned nworkers;
	struct moon_mworker *w;
	pthread_mutex_t lock;                      /* interning */
	struct moon_mtable zones, upstreams;
	_Atomic uint64_t healthcheck_failures[MOON_METRICS_MAX_UPSTREAMS];
	_Atomic uint64_t reloads, reload_failures, generation;
};

/* ------------------------------------------------------------ label sets */

static const struct { uint16_t type; const char *name; } mtypes[MOON_MT_NTYPES - 1] = {
	{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" }, { 15, "MX" },
	{ 16, "TXT" }, { 28, "AAAA" }, { 33, "SRV" }, { 43, "DS" }, { 46, "RRSIG" },
	{ 47, "NSEC" }, { 48, "DNSKEY" }, { 50, "NSEC3" }, { 64, "SVCB" }, { 65, "HTTPS" },
	{ 251, "IXFR" }, { 252, "AXFR" }, { 255, "ANY" }, { 257, "CAA" },
};

unsigned moon_metrics_type_index(uint16_t qtype)
{
	/* A switch the compiler turns into a jump table: no loop per query. */
	switch (qtype) {
	case 1: return 0;
	case 2: return 1;
	case 5: return 2;
	case 6: return 3;
	case 12: return 4;
	case 15: return 5;
	case 16: return 6;
	case 28: return 7;
	case 33: return 8;
	case 43: return 9;
	case 46: return 10;
	case 47: return 11;
	case 48: return 12;
	case 50: return 13;
	case 64: return 14;
	case 65: return 15;
	case 251: return 16;
	case 252: return 17;
	case 255: return 18;
	case 257: return 19;
	}
	return MOON_MT_NTYPES - 1;
}

const char *moon_metrics_type_label(unsigned idx)
{
	return idx < MOON_MT_NTYPES - 1 ? mtypes[idx].name : "other";
}

static const char *const mrcodes[MOON_MT_NRCODES] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "BADVERS", "other",
};

unsigned moon_metrics_rcode_index(uint16_t rcode)
{
	if (rcode <= 10)
		return rcode;
	return rcode == 16 ? 11 : 12;
}

const char *moon_metrics_rcode_label(unsigned idx)
{
	return idx < MOON_MT_NRCODES ? mrcodes[idx] : "other";
}

static const uint32_t size_bounds[MOON_MT_SIZE_BUCKETS] = {
	0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000,
};

unsigned moon_metrics_size_bucket(uint32_t bytes)
{
	unsigned i = 0;
	while (i < MOON_MT_SIZE_BUCKETS && bytes > size_bounds[i])
		i++;
	return i;
}

/* ------------------------------------------------------------ tables */

static int table_init(struct moon_mtable *t, unsigned max)
{
	t->e = calloc(max, sizeof(*t->e));
	t->max = max;
	atomic_init(&t->n, 0);
	return t->e ? 0 : -ENOMEM;
}

static void table_free(struct moon_mtable *t)
{
	unsigned n = atomic_load(&t->n);
	for (unsigned i = 0; i < n; i++) {
		free(t->e[i].a);
		free(t->e[i].b);
	}
	free(t->e);
}

/* Appends a pair; the entry is complete before n publishes it, so the
 * scrape reads [0, n) without the lock. */
static unsigned table_add(struct moon_mtable *t, const char *a, const char *b)
{
	unsigned n = atomic_load_explicit(&t->n, memory_order_relaxed);
	t->e[n].a = strdup(a);
	t->e[n].b = strdup(b);
	if (!t->e[n].a || !t->e[n].b) {
		free(t->e[n].a);
		free(t->e[n].b);
		return t->max;  /* the caller falls back to the overflow slot */
	}
	atomic_store_explicit(&t->n, n + 1, memory_order_release);
	return n;
}

static unsigned intern(struct moon_metrics *m, struct moon_mtable *t, const char *a,
		       const char *b)
{
	pthread_mutex_lock(&m->lock);
	unsigned n = atomic_load_explicit(&t->n, memory_order_relaxed), slot;
	for (slot = 0; slot < n; slot++)
		if (strcmp(t->e[slot].a, a) == 0 && strcmp(t->e[slot].b, b) == 0)
			goto out;
	/* The last slot is reserved for whatever does not fit. */
	if (n < t->max - 1) {
		slot = table_add(t, a, b);
		if (slot < t->max)
			goto out;
	}
	MOON_LOG_RATELIMITED(MOON_LOG_WARN, SERVER,
			     "metrics: too many label sets, counting %s/%s as \"overflow\"", a, b);
	for (slot = 0; slot < n; slot++)
		if (strcmp(t->e[slot].b, "overflow") == 0 && !t->e[slot].a[0])
			goto out;
	slot = table_add(t, "", "overflow");
	if (slot >= t->max)
		slot = 0;
out:
	pthread_mutex_unlock(&m->lock);
	return slot;
}

unsigned moon_metrics_zone_slot(struct moon_metrics *m, const char *server, const char *zone)
{
	return intern(m, &m->zones, server, zone);
}

unsigned moon_metrics_upstream_slot(struct moon_metrics *m, const char *server, const char *to)
{
	return intern(m, &m->upstreams, server, to);
}

const struct moon_mlabel *moon_metrics_zone_label(const struct moon_metrics *m, unsigned z)
{
	return &m->zones.e[z];
}

const struct moon_mlabel *moon_metrics_upstream_label(const struct moon_metrics *m, unsigned u)
{
	return &m->upstreams.e[u];
}

/* ------------------------------------------------------------ life */

int moon_metrics_new(unsigned nworkers, struct moon_metrics **out)
{
	struct moon_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->nworkers = nworkers;
	int ret = -ENOMEM;
	m->w = calloc(nworkers ? nworkers : 1, sizeof(*m->w));
	if (!m->w || table_init(&m->zones, MOON_METRICS_MAX_ZONES) ||
	    table_init(&m->upstreams, MOON_METRICS_MAX_UPSTREAMS))
		goto fail_free;
	/* Large zeroed blocks come from mmap: pages of slots never used are
	 * never touched. */
	for (unsigned i = 0; i < nworkers; i++) {
		struct moon_mworker *w = &m->w[i];
		w->zones = calloc(MOON_METRICS_MAX_ZONES, sizeof(*w->zones));
		w->upstreams = calloc(MOON_METRICS_MAX_UPSTREAMS, sizeof(*w->upstreams));
		if (!w->zones || !w->upstreams)
			goto fail_free;
	}
	if (table_add(&m->zones, "", "dropped") != MOON_MSLOT_DROPPED)
		goto fail_free;
	*out = m;
	return 0;
fail_free:
	moon_metrics_free(m);
	return ret;
}

void moon_metrics_free(struct moon_metrics *m)
{
	if (!m)
		return;
	for (unsigned i = 0; m->w && i < m->nworkers; i++) {
		free(m->w[i].zones);
		free(m->w[i].upstreams);
	}
	free(m->w);
	if (m->zones.e)
		table_free(&m->zones);
	if (m->upstreams.e)
		table_free(&m->upstreams);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

unsigned moon_metrics_nworkers(const struct moon_metrics *m)
{
	return m->nworkers;
}

struct moon_mworker *moon_metrics_worker(struct moon_metrics *m, unsigned worker)
{
	return &m->w[worker];
}

void moon_metrics_reload(struct moon_metrics *m, bool ok)
{
	atomic_fetch_add(&m->reloads, 1);
	if (!ok)
		atomic_fetch_add(&m->reload_failures, 1);
}

void moon_metrics_set_generation(struct moon_metrics *m, uint64_t generation)
{
	atomic_store(&m->generation, generation);
}

void moon_metrics_healthcheck_failed(struct moon_metrics *m, unsigned upstream_slot)
{
	if (upstream_slot < MOON_METRICS_MAX_UPSTREAMS)
		atomic_fetch_add_explicit(&m->healthcheck_failures[upstream_slot], 1,
					  memory_order_relaxed);
}

/* ------------------------------------------------------------ scrape */

/* dst[i] += src[i] for n words written by another thread: relaxed atomic
 * loads (see the header for why no lock is needed). */
static void add_words(uint64_t *dst, const uint64_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static int grow(void **arr, unsigned *have, unsigned want, size_t size)
{
	if (*arr && *have >= want)
		return 0;
	void *p = realloc(*arr, (size_t)(want ? want : 1) * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*have = want;
	return 0;
}

int moon_metrics_snapshot(struct moon_metrics *m, struct moon_msnapshot *s)
{
	unsigned nz = atomic_load_explicit(&m->zones.n, memory_order_acquire);
	unsigned nu = atomic_load_explicit(&m->upstreams.n, memory_order_acquire);
	unsigned cz = s->zones ? s->nzones : 0, cu = s->upstreams ? s->nupstreams : 0;
	if (grow((void **)&s->zones, &cz, nz, sizeof(*s->zones)) ||
	    grow((void **)&s->upstreams, &cu, nu, sizeof(*s->upstreams)))
		return -ENOMEM;
	s->nzones = nz;
	s->nupstreams = nu;
	memset(s->zones, 0, nz * sizeof(*s->zones));
	memset(s->upstreams, 0, nu * sizeof(*s->upstreams));
	for (unsigned i = 0; i < m->nworkers; i++) {
		const struct moon_mworker *w = &m->w[i];
		add_words((uint64_t *)s->zones, (const uint64_t *)w->zones,
			  nz * sizeof(*s->zones) / 8);
		add_words((uint64_t *)s->upstreams, (const uint64_t *)w->upstreams,
			  nu * sizeof(*s->upstreams) / 8);
	}
	for (unsigned u = 0; u < MOON_METRICS_MAX_UPSTREAMS; u++)
		s->healthcheck_failures[u] = atomic_load_explicit(&m->healthcheck_failures[u],
								  memory_order_relaxed);
	s->reloads = atomic_load(&m->reloads);
	s->reload_failures = atomic_load(&m->reload_failures);
	s->generation = atomic_load(&m->generation);
	return 0;
}

void moon_metrics_snapshot_free(struct moon_msnapshot *s)
{
	free(s->zones);
	free(s->upstreams);
	memset(s, 0, sizeof(*s));
}
