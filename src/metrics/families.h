/*
 * The /metrics page of the server: every moondns_* family (doc/operations.md
 * lists them with their meaning and labels) and, with coredns_compat, the
 * same counters under CoreDNS's current coredns_* names and labels so that
 * existing dashboards work unchanged.
 *
 * A page is built once at start from the sources below and rendered at
 * each scrape on the HTTP thread (it keeps its scrape snapshot, so it is
 * not for two threads at once).
 */
#ifndef MOON_METRICS_FAMILIES_H
#define MOON_METRICS_FAMILIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/counters.h"
#include "metrics/obuf.h"

struct moon_qlog;
struct moon_http;

/* Cache gauges of one server block's cache. */
struct moon_mcache_sample {
	const char *server;
	const char *zones;               /* the block's zones, as CoreDNS's `zones` label */
	uint64_t entries[2];             /* [enum moon_mt_cache] */
	uint64_t evictions;
};

/* Health of one upstream (by its slot, counters.h). */
struct moon_mupstream_sample {
	unsigned slot;
	bool up;
};

struct moon_metrics_sources {
	struct moon_metrics *m;          /* required */
	const char *version;             /* build_info */
	struct moon_qlog *qlog;          /* NULL: no query-log families */
	struct moon_http *http;          /* NULL: no HTTP families */
	/* Cache gauges: fills up to max samples and returns how many
	 * (HTTP thread). NULL: no cache gauges. */
	size_t (*cache)(void *arg, struct moon_mcache_sample *out, size_t max);
	void *cache_arg;
	/* Upstream health: fills up to max samples and returns how many
	 * (HTTP thread). NULL: no health gauge. */
	size_t (*upstreams)(void *arg, struct moon_mupstream_sample *out, size_t max);
	void *upstreams_arg;
};

struct moon_metrics_page;

int moon_metrics_page_new(const struct moon_metrics_sources *src,
			  struct moon_metrics_page **out);
void moon_metrics_page_free(struct moon_metrics_page *p);
/* Adds the endpoint's own counters (any thread). */
void moon_metrics_page_set_http(struct moon_metrics_page *p, struct moon_http *http);
/* Renders the page (HTTP thread). Returns 0 or -ENOMEM. */
int moon_metrics_page_render(struct moon_metrics_page *p, bool compat, struct moon_obuf *out);

#endif
