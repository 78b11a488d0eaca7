#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge/watchdog.h"
#include "cache/cache.h"
#include "fwd/fwd.h"
#include "metrics/families.h"
#include "metrics/http.h"
#include "metrics/ops.h"
#include "qlog/consolidate.h"
#include "query/query.h"
#include "server/blockstate.h"
#include "server/gen.h"
#include "server/server.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

/* Distinct cache label pairs kept (beyond it, blocks share the last). */
#define MAX_CACHE_LABELS 256

_Static_assert(MOON_OPS_MAX_UPSTREAMS == MOON_FWD_MAX_UPSTREAMS, "an ops slot per upstream");

struct moon_ops {
	const char *version;
	struct moon_metrics *m;
	struct moon_qlog *ql;
	struct moon_metrics_page *page;
	struct moon_http *http;
	_Atomic bool compat;
	pthread_mutex_t lock;            /* the ready state, for the HTTP thread */
	char why[256];                   /* empty: ready */
	/* The generation the scrape reads (moon_ops_publish) and the cache
	 * labels, under gen_lock. */
	pthread_mutex_t gen_lock;
	struct moon_gen *gen;
	struct { char *server, *zones; } clabel[MAX_CACHE_LABELS];
	unsigned nclabels;
	/* Control thread only. */
	uint64_t generation;
	uint32_t lameduck_ms;
	struct ev_loop *loop;
	ev_timer tick;
	ev_timer lameduck;
};

/* ------------------------------------------------------------ HTTP side */

static size_t cache_samples(void *arg, struct moon_mcache_sample *out, size_t max)
{
	struct moon_ops *ops = arg;
	size_t n = 0;
	pthread_mutex_lock(&ops->gen_lock);
	const struct moon_gen *g = ops->gen;
	for (size_t i = 0; g && i < g->n_blocks && n < max; i++) {
		const struct moon_gen_block *b = &g->blocks[i];
		if (!b->ops || !b->bs || !b->bs->cache || !b->ops->cache_server)
			continue;
		struct moon_cache_stats st;
		moon_cache_stats(b->bs->cache, &st);
		out[n++] = (struct moon_mcache_sample){
			.server = b->ops->cache_server, .zones = b->ops->cache_zones,
			.entries = { st.success_entries, st.denial_entries },
			.evictions = st.evictions,
		};
	}
	pthread_mutex_unlock(&ops->gen_lock);
	return n;
}

/* The health of every upstream of the generation: its forwarders' shared
 * state (atomics), never a worker's own forwarder. */
static size_t upstream_samples(void *arg, struct moon_mupstream_sample *out, size_t max)
{
	struct moon_ops *ops = arg;
	size_t n = 0;
	pthread_mutex_lock(&ops->gen_lock);
	const struct moon_gen *g = ops->gen;
	for (size_t i = 0; g && i < g->n_blocks; i++) {
		const struct moon_gen_block *b = &g->blocks[i];
		if (!b->ops || !b->bs || !b->bs->fwd)
			continue;
		for (unsigned u = 0; u < b->ops->n_up && n < max; u++)
			out[n++] = (struct moon_mupstream_sample){
				.slot = b->ops->up_slot[u],
				.up = moon_fwd_upstream_up(b->bs->fwd, u),
			};
	}
	pthread_mutex_unlock(&ops->gen_lock);
	return n;
}

static int metrics_cb(void *arg, struct moon_obuf *out)
{
	struct moon_ops *ops = arg;
	return moon_metrics_page_render(ops->page, atomic_load(&ops->compat), out);
}

/* Liveness fails only when a restart would help: a worker stuck in a
 * policy past the watchdog's limit (bridge/watchdog.h). */
static bool health_cb(void *arg, struct moon_obuf *why)
{
	unsigned stuck = moon_wd_stuck();
	if (stuck)
		moon_obuf_printf(why, "%u worker%s stuck in a policy", stuck, stuck == 1 ? "" : "s");
	return stuck == 0;
}

static bool ready_cb(void *arg, struct moon_obuf *why)
{
	struct moon_ops *ops = arg;
	pthread_mutex_lock(&ops->lock);
	bool ready = !ops->why[0];
	if (!ready)
		moon_obuf_puts(why, ops->why);
	pthread_mutex_unlock(&ops->lock);
	return ready;
}

int moon_ops_new(unsigned nworkers, const char *version, struct moon_ops **out)
{
	struct moon_ops *ops = calloc(1, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	pthread_mutex_init(&ops->lock, NULL);
	pthread_mutex_init(&ops->gen_lock, NULL);
	snprintf(ops->why, sizeof(ops->why), "starting");
	ops->version = version;
	int ret = moon_metrics_new(nworkers, &ops->m);
	if (!ret)
		ret = moon_qlog_new(nworkers, 0, &ops->ql);
	if (ret) {
		moon_ops_free(ops);
		return ret;
	}
	*out = ops;
	return 0;
}

void moon_ops_free(struct moon_ops *ops)
{
	if (!ops)
		return;
	if (ops->loop) {
		ev_timer_stop(ops->loop, &ops->tick);
		ev_timer_stop(ops->loop, &ops->lameduck);
	}
	moon_http_stop(ops->http);
	/* Before the query log: the generation's blocks hold query-log rules. */
	moon_gen_release(ops->gen);
	for (unsigned i = 0; i < ops->nclabels; i++) {
		free(ops->clabel[i].server);
		free(ops->clabel[i].zones);
	}
	moon_metrics_page_free(ops->page);
	moon_qlog_free(ops->ql);
	moon_metrics_free(ops->m);
	pthread_mutex_destroy(&ops->lock);
	pthread_mutex_destroy(&ops->gen_lock);
	free(ops);
}

struct moon_metrics *moon_ops_metrics(struct moon_ops *ops)
{
	return ops->m;
}

struct moon_qlog *moon_ops_qlog(struct moon_ops *ops)
{
	return ops->ql;
}

int moon_ops_http_start(struct moon_ops *ops, const struct sockaddr *addr, socklen_t addrlen,
			struct moon_diag *diag)
{
	struct moon_metrics_sources src = {
		.m = ops->m, .version = ops->version, .qlog = ops->ql,
		.cache = cache_samples, .cache_arg = ops,
		.upstreams = upstream_samples, .upstreams_arg = ops,
	};
	int ret = moon_metrics_page_new(&src, &ops->page);
	if (ret)
		return ret;
	struct moon_http_config cfg = { .addrlen = addrlen };
	memcpy(&cfg.addr, addr, addrlen);
	struct moon_http_handlers h = {
		.arg = ops, .metrics = metrics_cb, .ready = ready_cb, .health = health_cb,
	};
	ret = moon_http_start(&cfg, &h, &ops->http);
	if (ret) {
		char ip[INET6_ADDRSTRLEN] = "?";
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
		bool is6 = addr->sa_family == AF_INET6;
		inet_ntop(addr->sa_family, is6 ? (const void *)&v6->sin6_addr :
			  (const void *)&v4->sin_addr, ip, sizeof(ip));
		moon_diag_add(diag, NULL, 0, 0, "http.listen %s%s%s:%u: %s", is6 ? "[" : "", ip,
			      is6 ? "]" : "", ntohs(is6 ? v6->sin6_port : v4->sin_port),
			      moon_strerror(ret));
		return ret;
	}
	/* The page is only read by the HTTP thread, which starts here. */
	moon_metrics_page_set_http(ops->page, ops->http);
	return 0;
}

bool moon_ops_http_running(const struct moon_ops *ops)
{
	return ops->http != NULL;
}

void moon_ops_set_compat(struct moon_ops *ops, bool on)
{
	atomic_store(&ops->compat, on);
}

void moon_ops_set_ready(struct moon_ops *ops, uint64_t gen, const char *why)
{
	pthread_mutex_lock(&ops->lock);
	snprintf(ops->why, sizeof(ops->why), "%s", why ? why : "");
	pthread_mutex_unlock(&ops->lock);
	moon_metrics_set_generation(ops->m, gen);
}

void moon_ops_lameduck(struct moon_ops *ops)
{
	if (ops->http)
		moon_http_set_lameduck(ops->http);
}

void moon_ops_reloaded(struct moon_ops *ops, bool ok, uint64_t gen)
{
	moon_metrics_reload(ops->m, ok);
	moon_qlog_reopen(ops->ql);
	/* A reload only swaps in a complete generation. */
	if (ok)
		moon_ops_set_ready(ops, gen, NULL);
}

void moon_ops_publish(struct moon_ops *ops, struct moon_gen *gen)
{
	if (gen)
		atomic_fetch_add(&gen->refs, 1);
	pthread_mutex_lock(&ops->gen_lock);
	struct moon_gen *old = ops->gen;
	ops->gen = gen;
	pthread_mutex_unlock(&ops->gen_lock);
	moon_gen_release(old);
}

void moon_ops_reload_done(void *arg, int ret, struct moon_server *s)
{
	struct moon_ops *ops = arg;
	if (!ret)
		ops->generation++;
	if (!ret && s)
		moon_ops_publish(ops, moon_server_current(s));
	moon_ops_reloaded(ops, !ret, ops->generation);
}

int moon_ops_start(const struct moon_conf *conf, unsigned nworkers, const char *version,
		   struct moon_ops **out)
{
	struct moon_ops *ops;
	int ret = moon_ops_new(nworkers, version, &ops);
	if (ret) {
		moon_err(SERVER, "cannot start metrics and query log: %s", moon_strerror(ret));
		return ret;
	}
	const struct moon_conf_http *h = &conf->http;
	if (h->listen) {
		struct moon_diag diag = { 0 };
		ret = moon_ops_http_start(ops, (const struct sockaddr *)&h->addr, h->addrlen, &diag);
		moon_diag_log(&diag);
		moon_diag_free(&diag);
		if (ret) {
			moon_ops_free(ops);
			return ret;
		}
		moon_info(SERVER, "metrics, health and readiness on http://%s/", h->listen);
	}
	moon_ops_set_compat(ops, h->coredns_compat);
	ops->lameduck_ms = h->lameduck_ms;
	ops->generation = 1;
	*out = ops;
	return 0;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	moon_log_consolidate_tick(moon_now_ms());
}

static void lameduck_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	moon_info(SERVER, "lameduck over: stopping");
	ev_break(loop, EVBREAK_ALL);
}

void moon_ops_attach(struct moon_ops *ops, struct ev_loop *loop)
{
	ops->loop = loop;
	ev_timer_init(&ops->tick, tick_cb, 1., 1.);
	ev_timer_start(loop, &ops->tick);
	ev_timer_init(&ops->lameduck, lameduck_cb, ops->lameduck_ms / 1000.0, 0.);
}

bool moon_ops_stop_requested(struct moon_ops *ops)
{
	if (!ops->http || !ops->lameduck_ms || !ops->loop || ev_is_active(&ops->lameduck))
		return false;
	moon_info(SERVER, "lameduck for %u ms, then stopping (signal again to stop now)",
		  ops->lameduck_ms);
	moon_ops_lameduck(ops);
	ev_timer_start(ops->loop, &ops->lameduck);
	return true;
}

/* ------------------------------------------------------------ blocks */

static int qlog_rule(struct moon_ops *ops, const struct moon_conf_query_log *c,
		     struct moon_qlog_rule **out, char *why)
{
	unsigned classes = 0;
	for (size_t i = 0; i < c->n_classes; i++)
		classes |= moon_qlog_class_parse(c->classes[i]);
	struct moon_qlog_rule_conf rc = {
		.format = c->format, .classes = classes, .to = c->to,
		.names = (const char *const *)c->names, .n_names = c->n_names,
		.json_meta = (const char *const *)c->json_meta, .n_json_meta = c->n_json_meta,
	};
	const char *reason;
	int ret = moon_qlog_rule_new(ops->ql, &rc, out, &reason);
	if (ret && reason)
		snprintf(why, MOON_OPS_WHY, "%s", reason);
	else if (ret)
		snprintf(why, MOON_OPS_WHY, "cannot open %s: %s", c->to ? c->to : "stdout",
			 moon_strerror(ret));
	return ret;
}

/* The block's cache labels, interned: a scrape may render them after a
 * reload freed the generation they were read from. */
static int cache_labels(struct moon_ops *ops, const struct moon_conf_server *cs,
			struct moon_ops_block *b)
{
	size_t len = 1;
	for (size_t i = 0; i < cs->n_zones; i++)
		len += strlen(cs->zones[i]) + 1;
	char *zones = malloc(len);
	if (!zones)
		return -ENOMEM;
	zones[0] = 0;
	for (size_t i = 0, at = 0; i < cs->n_zones; i++)
		at += (size_t)sprintf(zones + at, "%s%s", i ? " " : "", cs->zones[i]);
	int ret = 0;
	pthread_mutex_lock(&ops->gen_lock);
	unsigned k = 0;
	while (k < ops->nclabels && (strcmp(ops->clabel[k].server, cs->name) ||
				     strcmp(ops->clabel[k].zones, zones)))
		k++;
	if (k == ops->nclabels && k < MAX_CACHE_LABELS) {
		char *server = strdup(cs->name);
		if (server) {
			ops->clabel[k].server = server;
			ops->clabel[k].zones = zones;
			zones = NULL;
			ops->nclabels++;
		} else {
			ret = -ENOMEM;
		}
	}
	if (!ret) {
		k = k < ops->nclabels ? k : ops->nclabels - 1;
		b->cache_server = ops->clabel[k].server;
		b->cache_zones = ops->clabel[k].zones;
	}
	pthread_mutex_unlock(&ops->gen_lock);
	free(zones);
	return ret;
}

int moon_ops_block_new(struct moon_ops *ops, const struct moon_conf_server *cs,
		       struct moon_ops_block **out, char *why)
{
	struct moon_ops_block *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	size_t n = cs->n_zones;
	b->m = ops->m;
	b->server = cs->name;
	b->n_zones = n;
	b->zone_slot = calloc(n ? n : 1, sizeof(*b->zone_slot));
	b->zone_lc = calloc(n ? n : 1, sizeof(*b->zone_lc));
	int ret = b->zone_slot && b->zone_lc ? 0 : -ENOMEM;
	for (size_t i = 0; !ret && i < n; i++) {
		/* The config checked the names; a bad one only loses its slot. */
		if (moon_name_from_text(cs->zones[i], NULL, b->zone_lc[i]) >= 0)
			moon_name_tolower(b->zone_lc[i], b->zone_lc[i]);
		b->zone_slot[i] = moon_metrics_zone_slot(ops->m, cs->name, cs->zones[i]);
	}
	b->cache = cs->cache.enabled;
	if (!ret && b->cache)
		ret = cache_labels(ops, cs, b);
	if (!ret && cs->query_log.enabled)
		ret = qlog_rule(ops, &cs->query_log, &b->qlog, why);
	if (ret) {
		moon_ops_block_free(b);
		return ret;
	}
	*out = b;
	return 0;
}

void moon_ops_block_upstreams(struct moon_ops_block *b, const char *const *names, unsigned n)
{
	b->n_up = n < MOON_OPS_MAX_UPSTREAMS ? n : MOON_OPS_MAX_UPSTREAMS;
	for (unsigned i = 0; i < b->n_up; i++)
		b->up_slot[i] = moon_metrics_upstream_slot(b->m, b->server, names[i]);
}

void moon_ops_hc_failed(void *block, unsigned i)
{
	struct moon_ops_block *b = block;
	if (i < b->n_up)
		moon_metrics_healthcheck_failed(b->m, b->up_slot[i]);
}

void moon_ops_block_free(struct moon_ops_block *b)
{
	if (!b)
		return;
	moon_qlog_rule_free(b->qlog);
	free(b->zone_slot);
	free(b->zone_lc);
	free(b);
}

/* ------------------------------------------------------------ queries */

/* The block's zone that holds qname: the longest that is a suffix (the
 * block was routed by the same rule). */
static unsigned zone_slot(const struct moon_ops_block *b, const struct moon_pkt *p)
{
	if (b->n_zones == 1 || !p->question_ok)
		return b->zone_slot[0];
	size_t best = 0, best_len = 0;
	for (size_t i = 0; i < b->n_zones; i++) {
		size_t len = moon_name_len(b->zone_lc[i]);
		if (len > best_len && moon_name_is_subdomain(p->qname_lc, b->zone_lc[i])) {
			best = i;
			best_len = len;
		}
	}
	return b->zone_slot[best];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static const char *meta_get(void *arg, const char *key, size_t klen, size_t *vlen)
{
	return moon_meta_get(arg, key, klen, vlen);
}

static void log_query(struct moon_ops *ops, const struct moon_query *q,
		      const struct moon_pkt *p, const struct moon_ops_block *b, uint64_t dur,
		      bool replied)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	bool tcp = q->proto == MOON_PROTO_TCP;
	uint16_t bufsize = tcp ? 65535 : !p->edns.present || p->edns.payload < 512 ? 512 :
		p->edns.payload;
	struct moon_qlog_entry e = {
		.when_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
		.client = q->client, .local = q->server, .tcp = tcp,
		.id = p->header_ok ? p->id : 0, .opcode = p->opcode,
		.qname = p->question_ok ? p->qname_lc : NULL, .qtype = p->qtype,
		.qclass = p->qclass, .size = q->req_len, .do_bit = p->edns.do_bit,
		.bufsize = bufsize, .replied = replied, .rcode = q->rcode,
		.rsize = replied ? q->resp_len : 0, .resp = replied ? q->resp : NULL,
		.duration_ns = dur, .server = b->server, .meta = meta_get,
		.meta_arg = (void *)&q->meta,
	};
	if (replied && q->resp_len >= 12) {
		e.rflags = get16(q->resp + 2);
		e.ancount = get16(q->resp + 6);
		e.nscount = get16(q->resp + 8);
	}
	moon_qlog_log(ops->ql, q->worker, b->qlog, &e);
}

/* Cache outcome of an answer in a block with a cache: a hit is a denial
 * for NXDOMAIN and for NOERROR without answers, else a success. */
static void count_cache(struct moon_mworker *mw, unsigned z, const struct moon_query *q)
{
	if (q->source == MOON_SOURCE_FORWARD) {
		moon_metrics_cache_lookup(mw, z, false, MOON_MT_CACHE_SUCCESS);
		return;
	}
	if (q->source != MOON_SOURCE_CACHE)
		return;
	bool denial = q->rcode == 3 || (q->rcode == 0 && q->resp_len >= 12 &&
					 get16(q->resp + 6) == 0);
	moon_metrics_cache_lookup(mw, z, true, denial ? MOON_MT_CACHE_DENIAL :
				  MOON_MT_CACHE_SUCCESS);
}

void moon_ops_observe(struct moon_ops *ops, const struct moon_query *q,
		      const struct moon_ops_block *b, int64_t start_ns)
{
	/* A message shorter than a header was never parsed: its pkt is stale. */
	static const struct moon_pkt unparsed;
	struct moon_mworker *mw = moon_metrics_worker(ops->m, q->worker);
	const struct moon_pkt *p = q->req_len >= MOON_HDR_LEN ? &q->pkt : &unparsed;
	unsigned z = b ? zone_slot(b, p) : MOON_MSLOT_DROPPED;
	enum moon_mt_proto proto = q->proto == MOON_PROTO_TCP ? MOON_MT_TCP : MOON_MT_UDP;
	enum moon_mt_family fam = q->client && q->client->sa_family == AF_INET6 ?
		MOON_MT_IPV6 : MOON_MT_IPV4;
	uint16_t qtype = p->question_ok ? p->qtype : 0;
	int64_t dur = moon_now_ns() - start_ns;
	uint64_t ns = dur > 0 ? (uint64_t)dur : 0;
	bool replied = q->sent && q->resp_len;
	moon_metrics_request(mw, z, proto, fam, qtype, p->edns.do_bit, q->req_len);
	moon_metrics_response(mw, z, proto, qtype, q->source, q->rcode, replied ? q->resp_len : 0,
			      ns);
	if (b && b->cache && replied)
		count_cache(mw, z, q);
	if (b && b->qlog)
		log_query(ops, q, p, b, ns, replied);
}

void moon_ops_forwarded(const struct moon_ops_block *b, unsigned worker, int upstream,
			bool deduped, bool failed, uint16_t rcode, uint64_t latency_ns)
{
	if (!b || deduped || upstream < 0 || (unsigned)upstream >= b->n_up)
		return;
	moon_metrics_upstream(moon_metrics_worker(b->m, worker), b->up_slot[upstream], failed,
			      rcode, latency_ns);
}
