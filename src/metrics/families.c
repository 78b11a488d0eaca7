/*
 * Series of per-zone families appear once they count something (as in
 * CoreDNS: a label combination that never happened is not rendered, which
 * keeps a scrape small: zones x protocols x families x types would
 * otherwise be thousands of zero lines). Per-upstream and per-policy
 * series are rendered from the moment the config names them, zeros
 * included, so that an alert on their error rate has a series to watch.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/counters.h"
#include "metrics/families.h"
#include "metrics/http.h"
#include "metrics/registry.h"
#include "qlog/qlog.h"

#define MAX_CACHES 256

struct moon_metrics_page {
	struct moon_metrics_sources src;
	struct moon_msnapshot snap;
	struct moon_mcache_sample cache[MAX_CACHES];
	size_t ncache;
	struct moon_mupstream_sample up[MOON_METRICS_MAX_UPSTREAMS];
	size_t nup;
	int snap_err;
	struct moon_http *_Atomic http;  /* set once the endpoint runs */
	struct moon_metrics_registry reg;
};

static const double dur_buckets[MOON_MT_DUR_BUCKETS] = {
	0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256,
	0.512, 1.024, 2.048, 4.096, 8.192,
};
static const double size_buckets[MOON_MT_SIZE_BUCKETS] = {
	0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3,
};

static const char *const protos[2] = { "udp", "tcp" };
static const char *const families[2] = { "1", "2" };
static const char *const cache_types[2] = { "success", "denial" };
/* enum moon_source -> the CoreDNS plugin that would have written it. */
static const char *const plugins[MOON_MT_NSOURCES] = {
	"", "file", "cache", "forward", "policy", "chaos",
};

static bool compat(const struct moon_metric_out *o)
{
	return moon_metric_current(o)->flags & MOON_METRIC_COMPAT;
}

static const struct moon_mlabel *zlabel(const struct moon_metrics_page *p, unsigned z)
{
	return moon_metrics_zone_label(p->src.m, z);
}

/* ------------------------------------------------------------ DNS */

static void c_requests(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	for (unsigned z = 0; z < p->snap.nzones; z++) {
		const struct moon_mlabel *l = zlabel(p, z);
		for (unsigned pr = 0; pr < 2; pr++)
			for (unsigned f = 0; f < 2; f++)
				for (unsigned t = 0; t < MOON_MT_NTYPES; t++) {
					uint64_t v = p->snap.zones[z].requests[pr][f][t];
					const char *tl = moon_metrics_type_label(t);
					const char *mv[] = { l->a, l->b, protos[pr], families[f], tl };
					const char *cv[] = { l->a, l->b, "", protos[pr], families[f], tl };
					if (v)
						moon_metric_counter(o, c ? cv : mv, v);
				}
	}
}

static void c_responses(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	for (unsigned z = 0; z < p->snap.nzones; z++) {
		const struct moon_mlabel *l = zlabel(p, z);
		const struct moon_mzone *zc = &p->snap.zones[z];
		for (unsigned r = 0; r < MOON_MT_NRCODES; r++) {
			const char *rl = moon_metrics_rcode_label(r);
			uint64_t sum = 0;
			for (unsigned s = 0; s < MOON_MT_NSOURCES; s++) {
				const char *cv[] = { l->a, l->b, "", rl, plugins[s] };
				sum += zc->responses[s][r];
				if (c && zc->responses[s][r])
					moon_metric_counter(o, cv, zc->responses[s][r]);
			}
			const char *mv[] = { l->a, l->b, rl };
			if (!c && sum)
				moon_metric_counter(o, mv, sum);
		}
	}
}

static uint64_t total(const uint64_t *counts, unsigned n)
{
	uint64_t s = 0;
	for (unsigned i = 0; i < n; i++)
		s += counts[i];
	return s;
}

static void c_duration(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	for (unsigned z = 0; z < p->snap.nzones; z++) {
		const struct moon_mlabel *l = zlabel(p, z);
		const struct moon_mzone *zc = &p->snap.zones[z];
		for (unsigned t = 0; t < MOON_MT_NTYPES; t++) {
			const char *tl = moon_metrics_type_label(t);
			const char *mv[] = { l->a, l->b, tl };
			const char *cv[] = { l->a, l->b, "", tl };
			if (total(zc->duration[t], MOON_MT_DUR_BUCKETS + 1))
				moon_metric_histogram(o, c ? cv : mv, zc->duration[t],
						      (double)zc->duration_ns[t] / 1e9);
		}
	}
}

static void sizes(struct moon_metric_out *o, struct moon_metrics_page *p, bool response)
{
	bool c = compat(o);
	for (unsigned z = 0; z < p->snap.nzones; z++) {
		const struct moon_mlabel *l = zlabel(p, z);
		const struct moon_mzone *zc = &p->snap.zones[z];
		for (unsigned pr = 0; pr < 2; pr++) {
			const uint64_t *counts = response ? zc->resp_size[pr] : zc->req_size[pr];
			uint64_t bytes = response ? zc->resp_bytes[pr] : zc->req_bytes[pr];
			const char *mv[] = { l->a, l->b, protos[pr] };
			const char *cv[] = { l->a, l->b, "", protos[pr] };
			if (total(counts, MOON_MT_SIZE_BUCKETS + 1))
				moon_metric_histogram(o, c ? cv : mv, counts, (double)bytes);
		}
	}
}

static void c_req_size(struct moon_metric_out *o, void *arg)
{
	sizes(o, arg, false);
}

static void c_resp_size(struct moon_metric_out *o, void *arg)
{
	sizes(o, arg, true);
}

static void c_do(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	for (unsigned z = 0; z < p->snap.nzones; z++) {
		const struct moon_mlabel *l = zlabel(p, z);
		const char *mv[] = { l->a, l->b };
		const char *cv[] = { l->a, "", l->b };   /* CoreDNS's order: server, view, zone */
		if (p->snap.zones[z].do_requests)
			moon_metric_counter(o, c ? cv : mv, p->snap.zones[z].do_requests);
	}
}

/* ------------------------------------------------------------ cache */

static void c_cache_hits(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	for (unsigned z = 0; z < p->snap.nzones; z++) {
		const struct moon_mlabel *l = zlabel(p, z);
		for (unsigned t = 0; t < 2; t++) {
			uint64_t v = p->snap.zones[z].cache_hits[t];
			const char *mv[] = { l->a, l->b, cache_types[t] };
			const char *cv[] = { l->a, cache_types[t], l->b, "" };
			if (v)
				moon_metric_counter(o, c ? cv : mv, v);
		}
	}
}

/* Misses, or with requests_total, hits + misses. */
static void c_cache_misses(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	bool requests = strstr(moon_metric_current(o)->name, "requests") != NULL;
	for (unsigned z = 0; z < p->snap.nzones; z++) {
		const struct moon_mlabel *l = zlabel(p, z);
		const struct moon_mzone *zc = &p->snap.zones[z];
		uint64_t v = zc->cache_misses;
		if (requests)
			v += zc->cache_hits[0] + zc->cache_hits[1];
		const char *mv[] = { l->a, l->b };
		const char *cv[] = { l->a, l->b, "" };
		if (v)
			moon_metric_counter(o, c ? cv : mv, v);
	}
}

static void c_cache_entries(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	for (size_t i = 0; i < p->ncache; i++) {
		const struct moon_mcache_sample *s = &p->cache[i];
		for (unsigned t = 0; t < 2; t++) {
			const char *mv[] = { s->server, cache_types[t] };
			const char *cv[] = { s->server, cache_types[t], s->zones, "" };
			moon_metric_gauge(o, c ? cv : mv, (double)s->entries[t]);
		}
	}
}

static void c_cache_evictions(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	for (size_t i = 0; i < p->ncache; i++) {
		const struct moon_mcache_sample *s = &p->cache[i];
		/* The shared cache does not tell success from denial evictions. */
		const char *mv[] = { s->server };
		const char *cv[] = { s->server, "", s->zones, "" };
		moon_metric_counter(o, c ? cv : mv, s->evictions);
	}
}

/* ------------------------------------------------------------ forward */

static void c_fwd_requests(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool failures = strstr(moon_metric_current(o)->name, "failures") != NULL;
	for (unsigned u = 0; u < p->snap.nupstreams; u++) {
		const struct moon_mlabel *l = moon_metrics_upstream_label(p->src.m, u);
		const struct moon_mupstream *uc = &p->snap.upstreams[u];
		const char *mv[] = { l->a, l->b };
		moon_metric_counter(o, mv, failures ? uc->failures : uc->requests);
	}
}

static void c_fwd_responses(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	for (unsigned u = 0; u < p->snap.nupstreams; u++) {
		const struct moon_mlabel *l = moon_metrics_upstream_label(p->src.m, u);
		for (unsigned r = 0; r < MOON_MT_NRCODES; r++) {
			uint64_t v = total(p->snap.upstreams[u].duration[r], MOON_MT_DUR_BUCKETS + 1);
			const char *mv[] = { l->a, l->b, moon_metrics_rcode_label(r) };
			if (v)
				moon_metric_counter(o, mv, v);
		}
	}
}

static void c_fwd_duration(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	for (unsigned u = 0; u < p->snap.nupstreams; u++) {
		const struct moon_mlabel *l = moon_metrics_upstream_label(p->src.m, u);
		const struct moon_mupstream *uc = &p->snap.upstreams[u];
		uint64_t sum[MOON_MT_DUR_BUCKETS + 1] = { 0 }, ns = 0;
		for (unsigned r = 0; r < MOON_MT_NRCODES; r++) {
			const char *cv[] = { "forward", l->b, moon_metrics_rcode_label(r) };
			for (unsigned b = 0; b <= MOON_MT_DUR_BUCKETS; b++)
				sum[b] += uc->duration[r][b];
			ns += uc->duration_ns[r];
			if (c && total(uc->duration[r], MOON_MT_DUR_BUCKETS + 1))
				moon_metric_histogram(o, cv, uc->duration[r],
						      (double)uc->duration_ns[r] / 1e9);
		}
		const char *mv[] = { l->a, l->b };
		if (!c)
			moon_metric_histogram(o, mv, sum, (double)ns / 1e9);
	}
}

static void c_fwd_health(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	bool c = compat(o);
	for (unsigned u = 0; u < p->snap.nupstreams; u++) {
		const struct moon_mlabel *l = moon_metrics_upstream_label(p->src.m, u);
		const char *mv[] = { l->a, l->b };
		const char *cv[] = { "forward", l->b };
		moon_metric_counter(o, c ? cv : mv, p->snap.healthcheck_failures[u]);
	}
}

static void c_fwd_up(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	for (size_t i = 0; i < p->nup; i++) {
		const struct moon_mlabel *l = moon_metrics_upstream_label(p->src.m, p->up[i].slot);
		const char *mv[] = { l->a, l->b };
		moon_metric_gauge(o, mv, p->up[i].up ? 1 : 0);
	}
}

/* ------------------------------------------------------------ policies */

/* The bridge's counters (bridge/counters.h), by the kind the family shows. */
struct bridge_ctx {
	struct moon_metric_out *o;
	enum moon_bridge_counter_kind kind;
	const char *only;                /* a moon.counter() name, or NULL for all */
};

static void bridge_counter(void *arg, enum moon_bridge_counter_kind kind, const char *name,
			   const char *block, const char *policy, uint64_t value)
{
	struct bridge_ctx *c = arg;
	if (kind != c->kind || (c->only && (!name || strcmp(name, c->only))))
		return;
	const char *v[] = { block ? block : "", policy ? policy : "", name ? name : "" };
	moon_metric_counter(c->o, v, value);
}

static void c_bridge(struct moon_metric_out *o, void *arg)
{
	const char *name = moon_metric_current(o)->name;
	struct bridge_ctx c = { .o = o, .kind = MOON_CTR_USER };
	if (strstr(name, "policy_calls"))
		c.kind = MOON_CTR_CALLS;
	else if (strstr(name, "policy_verdicts"))
		c.kind = MOON_CTR_VERDICTS;
	else if (strstr(name, "tunnel"))
		c.only = "detections";
	else if (strstr(name, "timeouts"))
		c.kind = MOON_CTR_TIMEOUTS;
	else if (strstr(name, "memory"))
		c.kind = MOON_CTR_MEMORY;
	else if (strstr(name, "errors"))
		c.kind = MOON_CTR_ERRORS;
	moon_bridge_counters_each(bridge_counter, &c);
}

/* ------------------------------------------------------------ process */

static void c_build_info(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	const char *v = p->src.version ? p->src.version : "";
	const char *mv[] = { v };
	const char *cv[] = { v, "", "" };
	moon_metric_gauge(o, compat(o) ? cv : mv, 1);
}

static void c_process(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	const char *name = moon_metric_current(o)->name;
	if (strstr(name, "generation"))
		moon_metric_gauge(o, NULL, (double)p->snap.generation);
	else if (strstr(name, "fail"))
		moon_metric_counter(o, NULL, p->snap.reload_failures);
	else
		moon_metric_counter(o, NULL, p->snap.reloads);
}

static void c_qlog(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	if (!p->src.qlog)
		return;
	struct moon_qlog_stats st;
	moon_qlog_stats(p->src.qlog, &st);
	const char *name = moon_metric_current(o)->name;
	moon_metric_counter(o, NULL, strstr(name, "dropped") ? st.dropped :
			    strstr(name, "errors") ? st.write_errors : st.written);
}

static void c_http(struct moon_metric_out *o, void *arg)
{
	struct moon_metrics_page *p = arg;
	struct moon_http *http = atomic_load(&p->http);
	if (!http)
		return;
	const struct moon_http_stats *st = moon_http_stats(http);
	const char *name = moon_metric_current(o)->name;
	/* The scrape being answered is counted once it is sent. */
	moon_metric_counter(o, NULL, strstr(name, "rejected") ? st->rejected :
			    strstr(name, "timeouts") ? st->timeouts :
			    strstr(name, "bad") ? st->bad_requests : st->requests);
}

/* ------------------------------------------------------------ tables */

#define LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

#define COUNTER(n, h, l, fn) \
	{ .name = n, .help = h, .type = MOON_METRIC_COUNTER, .labels = l, .collect = fn }
#define GAUGE(n, h, l, fn) \
	{ .name = n, .help = h, .type = MOON_METRIC_GAUGE, .labels = l, .collect = fn }
#define HIST(n, h, l, b, fn) \
	{ .name = n, .help = h, .type = MOON_METRIC_HISTOGRAM, .labels = l, .buckets = b, \
	  .nbuckets = sizeof(b) / sizeof(b[0]), .collect = fn }
#define COMPAT(...) { __VA_ARGS__ }

static const struct moon_metric_family fams[] = {
	GAUGE("moondns_build_info", "Version of this moondns build (always 1).",
	      LABELS("version"), c_build_info),
	COUNTER("moondns_requests_total", "DNS queries received, by server block, zone, "
		"transport, address family (1 = IPv4, 2 = IPv6) and query type.",
		LABELS("server", "zone", "proto", "family", "type"), c_requests),
	COUNTER("moondns_responses_total", "DNS replies sent, by server block, zone and rcode.",
		LABELS("server", "zone", "rcode"), c_responses),
	HIST("moondns_request_duration_seconds", "Time from receiving a query to sending "
	     "its reply.", LABELS("server", "zone", "type"), dur_buckets, c_duration),
	HIST("moondns_request_size_bytes", "Size of the queries received.",
	     LABELS("server", "zone", "proto"), size_buckets, c_req_size),
	HIST("moondns_response_size_bytes", "Size of the replies sent.",
	     LABELS("server", "zone", "proto"), size_buckets, c_resp_size),
	COUNTER("moondns_do_requests_total", "DNS queries with the DNSSEC OK (DO) bit set.",
		LABELS("server", "zone"), c_do),
	COUNTER("moondns_cache_hits_total", "Cache lookups answered from the cache, by type "
		"(success or denial).", LABELS("server", "zone", "type"), c_cache_hits),
	COUNTER("moondns_cache_misses_total", "Cache lookups that found nothing usable.",
		LABELS("server", "zone"), c_cache_misses),
	GAUGE("moondns_cache_entries", "Entries in a server block's cache, by type.",
	      LABELS("server", "type"), c_cache_entries),
	COUNTER("moondns_cache_evictions_total", "Cache entries removed to make room.",
		LABELS("server"), c_cache_evictions),
	COUNTER("moondns_forward_requests_total", "Queries sent to an upstream.",
		LABELS("server", "to"), c_fwd_requests),
	COUNTER("moondns_forward_responses_total", "Replies received from an upstream, by "
		"rcode.", LABELS("server", "to", "rcode"), c_fwd_responses),
	COUNTER("moondns_forward_failures_total", "Upstream queries that got no usable reply "
		"(timeout, connection or protocol error).", LABELS("server", "to"),
		c_fwd_requests),
	HIST("moondns_forward_request_duration_seconds", "Round-trip time of upstream "
	     "queries that got a reply.", LABELS("server", "to"), dur_buckets, c_fwd_duration),
	COUNTER("moondns_forward_healthcheck_failures_total", "Failed upstream health checks.",
		LABELS("server", "to"), c_fwd_health),
	GAUGE("moondns_forward_upstream_healthy", "Whether an upstream of the configuration "
	      "in service is usable (1) or marked down by health checking (0).",
	      LABELS("server", "to"), c_fwd_up),
	COUNTER("moondns_policy_calls_total", "Policy hook calls, by stage.",
		LABELS("server", "policy", "stage"), c_bridge),
	COUNTER("moondns_policy_verdicts_total", "Policy decisions, by verdict.",
		LABELS("server", "policy", "verdict"), c_bridge),
	COUNTER("moondns_policy_errors_total", "Failed policy hook calls and loads (the query "
		"got the policy's on_error action).", LABELS("server", "policy"), c_bridge),
	COUNTER("moondns_policy_timeouts_total", "Of the policy errors, hook calls stopped at "
		"the time budget.", LABELS("server", "policy"), c_bridge),
	COUNTER("moondns_policy_memory_errors_total", "Of the policy errors, hook calls "
		"stopped at the memory cap.", LABELS("server", "policy"), c_bridge),
	COUNTER("moondns_policy_counter_total", "Counters policies keep with moon.counter().",
		LABELS("server", "policy", "name"), c_bridge),
	COUNTER("moondns_tunnel_detections_total", "Queries the tunnel policy flagged as DNS "
		"tunnelling (its `detections` counter).", LABELS("server", "policy"), c_bridge),
	COUNTER("moondns_reloads_total", "Configuration reloads attempted.", NULL, c_process),
	COUNTER("moondns_reload_failures_total", "Configuration reloads that failed (the "
		"previous configuration stayed in service).", NULL, c_process),
	GAUGE("moondns_config_generation", "Number of the configuration generation in "
	      "service (1 at start, +1 per successful reload).", NULL, c_process),
	COUNTER("moondns_query_log_lines_total", "Query-log lines written.", NULL, c_qlog),
	COUNTER("moondns_query_log_dropped_total", "Query-log lines dropped because the "
		"writer could not keep up.", NULL, c_qlog),
	COUNTER("moondns_query_log_write_errors_total", "Failed writes to a query-log "
		"destination.", NULL, c_qlog),
	COUNTER("moondns_http_requests_total", "Requests answered by this HTTP endpoint.",
		NULL, c_http),
	COUNTER("moondns_http_bad_requests_total", "Malformed or refused HTTP requests.",
		NULL, c_http),
	COUNTER("moondns_http_rejected_connections_total", "HTTP connections closed at once "
		"because all slots were busy.", NULL, c_http),
	COUNTER("moondns_http_timeouts_total", "HTTP connections closed for being too slow.",
		NULL, c_http),
};

/* CoreDNS's current names and labels (plugin/metrics, cache, pkg/proxy). */
static const struct moon_metric_family compat_fams[] = {
	GAUGE("coredns_build_info", "A metric with a constant '1' value labeled by version, "
	      "revision, and goversion from which CoreDNS was built.",
	      LABELS("version", "revision", "goversion"), c_build_info),
	COUNTER("coredns_dns_requests_total", "Counter of DNS requests made per zone, "
		"protocol and family.",
		LABELS("server", "zone", "view", "proto", "family", "type"), c_requests),
	COUNTER("coredns_dns_responses_total", "Counter of response status codes.",
		LABELS("server", "zone", "view", "rcode", "plugin"), c_responses),
	HIST("coredns_dns_request_duration_seconds", "Histogram of the time (in seconds) "
	     "each request took.", LABELS("server", "zone", "view", "type"), dur_buckets,
	     c_duration),
	HIST("coredns_dns_request_size_bytes", "Size of the EDNS0 UDP buffer in bytes (64K "
	     "for TCP).", LABELS("server", "zone", "view", "proto"), size_buckets, c_req_size),
	HIST("coredns_dns_response_size_bytes", "Size of the returned response in bytes.",
	     LABELS("server", "zone", "view", "proto"), size_buckets, c_resp_size),
	COUNTER("coredns_dns_do_requests_total", "Counter of DNS requests with DO bit set "
		"per zone.", LABELS("server", "view", "zone"), c_do),
	GAUGE("coredns_cache_entries", "The number of elements in the cache.",
	      LABELS("server", "type", "zones", "view"), c_cache_entries),
	COUNTER("coredns_cache_requests_total", "The count of cache requests.",
		LABELS("server", "zones", "view"), c_cache_misses),
	COUNTER("coredns_cache_hits_total", "The count of cache hits.",
		LABELS("server", "type", "zones", "view"), c_cache_hits),
	COUNTER("coredns_cache_misses_total", "The count of cache misses. Deprecated, derive "
		"misses from cache hits/requests counters.", LABELS("server", "zones", "view"),
		c_cache_misses),
	COUNTER("coredns_cache_evictions_total", "The count of cache evictions.",
		LABELS("server", "type", "zones", "view"), c_cache_evictions),
	HIST("coredns_proxy_request_duration_seconds", "Histogram of the time each request "
	     "took.", LABELS("proxy_name", "to", "rcode"), dur_buckets, c_fwd_duration),
	COUNTER("coredns_proxy_healthcheck_failures_total", "Counter of the number of failed "
		"healthchecks.", LABELS("proxy_name", "to"), c_fwd_health),
	COUNTER("coredns_reload_failed_total", "Counter of the number of failed reload "
		"attempts.", NULL, c_process),
};

#define NFAMS (sizeof(fams) / sizeof(fams[0]))
#define NCOMPAT (sizeof(compat_fams) / sizeof(compat_fams[0]))

static struct moon_metric_family compat_rows[NCOMPAT];
static const struct moon_metric_family *all[NFAMS + NCOMPAT];
static pthread_once_t all_once = PTHREAD_ONCE_INIT;

static void build_all(void)
{
	for (size_t i = 0; i < NFAMS; i++)
		all[i] = &fams[i];
	for (size_t i = 0; i < NCOMPAT; i++) {
		compat_rows[i] = compat_fams[i];
		compat_rows[i].flags |= MOON_METRIC_COMPAT;
		all[NFAMS + i] = &compat_rows[i];
	}
}

static void prepare(void *arg)
{
	struct moon_metrics_page *p = arg;
	p->snap_err = moon_metrics_snapshot(p->src.m, &p->snap);
	p->ncache = p->src.cache ? p->src.cache(p->src.cache_arg, p->cache, MAX_CACHES) : 0;
	p->nup = p->src.upstreams ? p->src.upstreams(p->src.upstreams_arg, p->up,
						     MOON_METRICS_MAX_UPSTREAMS) : 0;
}

int moon_metrics_page_new(const struct moon_metrics_sources *src,
			  struct moon_metrics_page **out)
{
	pthread_once(&all_once, build_all);
	struct moon_metrics_page *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->src = *src;
	atomic_init(&p->http, src->http);
	p->reg = (struct moon_metrics_registry){
		.families = all, .n = NFAMS + NCOMPAT, .arg = p, .prepare = prepare,
	};
	*out = p;
	return 0;
}

void moon_metrics_page_set_http(struct moon_metrics_page *p, struct moon_http *http)
{
	atomic_store(&p->http, http);
}

void moon_metrics_page_free(struct moon_metrics_page *p)
{
	if (!p)
		return;
	moon_metrics_snapshot_free(&p->snap);
	free(p);
}

int moon_metrics_page_render(struct moon_metrics_page *p, bool compat_names,
			     struct moon_obuf *out)
{
	int ret = moon_metrics_render(&p->reg, compat_names, out);
	return p->snap_err ? p->snap_err : ret;
}
