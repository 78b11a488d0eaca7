/*
 * Metric families and their Prometheus text rendering (exposition format
 * 0.0.4, what Prometheus and every CoreDNS dashboard scrape).
 *
 * A family is a static description (name, help, type, label names, the
 * buckets of a histogram) plus a collect callback. Nothing is stored
 * between scrapes: at scrape time the renderer calls the registry's
 * prepare() once, then each family's collect(), which emits one sample per
 * label-value combination with moon_metric_counter() & co. The values come
 * from wherever the owner keeps them (for the server: sums of per-worker
 * counters, see metrics/counters.h).
 *
 * Label values are escaped (\\, \", \n) whatever they are; callers must
 * still never pass a value a client chose (qtype and rcode are mapped to a
 * fixed set of names before they get here).
 *
 * Families flagged MOON_METRIC_COMPAT are rendered only when the caller
 * asks for the CoreDNS-compatible names (http.coredns_compat).
 *
 * Threads: rendering runs on the HTTP thread, one scrape at a time; the
 * registry itself is immutable once built.
 */
#ifndef MOON_METRICS_REGISTRY_H
#define MOON_METRICS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/obuf.h"

enum moon_metric_type { MOON_METRIC_COUNTER, MOON_METRIC_GAUGE, MOON_METRIC_HISTOGRAM };

/* Rendered only with the CoreDNS-compatible names switched on. */
#define MOON_METRIC_COMPAT 1u

#define MOON_METRIC_MAX_LABELS 8

struct moon_metric_out;

struct moon_metric_family {
	const char *name;                /* full name, e.g. "moondns_requests_total" */
	const char *help;                /* one line */
	enum moon_metric_type type;
	const char *const *labels;       /* label names, NULL-terminated; NULL = none */
	const double *buckets;           /* HISTOGRAM: upper bounds, ascending (+Inf implied) */
	unsigned nbuckets;
	unsigned flags;
	/* Emits the samples; arg is the registry's. */
	void (*collect)(struct moon_metric_out *o, void *arg);
};

struct moon_metrics_registry {
	const struct moon_metric_family *const *families;
	size_t n;
	void *arg;                       /* passed to prepare and every collect */
	void (*prepare)(void *arg);      /* once per scrape, before any collect; may be NULL */
};

/*
 * Writes the exposition of every family (the compat ones only when compat)
 * to out: "# HELP", "# TYPE", then the samples the family's collect emits.
 * Returns 0, or -ENOMEM when out failed (allocation or its size bound).
 */
int moon_metrics_render(const struct moon_metrics_registry *r, bool compat,
			struct moon_obuf *out);

/*
 * Sample emitters, for collect callbacks only. `values` holds one value per
 * label name of the family, in order (NULL when the family has no labels).
 */
void moon_metric_counter(struct moon_metric_out *o, const char *const *values, uint64_t v);
void moon_metric_gauge(struct moon_metric_out *o, const char *const *values, double v);
/* counts: nbuckets + 1 NON-cumulative counts (the last one is above the
 * largest bound); the renderer writes the cumulative _bucket lines, _sum
 * and _count. */
void moon_metric_histogram(struct moon_metric_out *o, const char *const *values,
			   const uint64_t *counts, double sum);
/* The family being collected (collect callbacks shared by several families
 * look at it to know which one they serve). */
const struct moon_metric_family *moon_metric_current(const struct moon_metric_out *o);

/* Appends a label value with Prometheus escaping. */
void moon_metrics_escape_label(struct moon_obuf *b, const char *s);
/* Appends the shortest decimal text that reads back as v ("0.00025",
 * "8.192", "64000", "+Inf", "NaN"). */
void moon_metrics_put_double(struct moon_obuf *b, double v);

#endif
