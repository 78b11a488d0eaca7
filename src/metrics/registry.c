#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/registry.h"

struct moon_metric_out {
	struct moon_obuf *b;
	const struct moon_metric_family *f;
};

static const char *const type_names[] = { "counter", "gauge", "histogram" };

void moon_metrics_escape_label(struct moon_obuf *b, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
		if (!esc)
			continue;
		moon_obuf_put(b, run, (size_t)(s - run));
		moon_obuf_puts(b, esc);
		run = s + 1;
	}
	moon_obuf_put(b, run, (size_t)(s - run));
}

/* HELP text escapes only backslash and newline. */
static void escape_help(struct moon_obuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			moon_obuf_puts(b, "\\\\");
		else if (*s == '\n')
			moon_obuf_puts(b, "\\n");
		else
			moon_obuf_putc(b, *s);
	}
}

/* Shortest text that reads back as v, laid out as Go's FormatFloat(v, 'g',
 * -1) does (what Prometheus clients print): bucket bounds read "0.00025"
 * and "64000", not "0.00025000000000000001" or "6.4e+04". */
static const char *fmt_double(char tmp[32], double v)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	int digits = 1;
	for (; digits < 17; digits++) {
		snprintf(tmp, 32, "%.*e", digits - 1, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	snprintf(tmp, 32, "%.*e", digits - 1, v);
	int exp = atoi(strchr(tmp, 'e') + 1);
	if (exp < -4 || exp >= 6)
		return tmp;
	snprintf(tmp, 32, "%.*f", digits - 1 - exp > 0 ? digits - 1 - exp : 0, v);
	return tmp;
}

void moon_metrics_put_double(struct moon_obuf *b, double v)
{
	char tmp[32];
	moon_obuf_puts(b, fmt_double(tmp, v));
}

/* name{l1="v1",l2="v2"[,le="x"]} */
static void series(struct moon_metric_out *o, const char *suffix, const char *const *values,
		   const char *le)
{
	struct moon_obuf *b = o->b;
	const char *const *labels = o->f->labels;
	moon_obuf_puts(b, o->f->name);
	moon_obuf_puts(b, suffix);
	size_t n = 0;
	for (; labels && labels[n]; n++) {
		moon_obuf_putc(b, n ? ',' : '{');
		moon_obuf_puts(b, labels[n]);
		moon_obuf_puts(b, "=\"");
		moon_metrics_escape_label(b, values && values[n] ? values[n] : "");
		moon_obuf_putc(b, '"');
	}
	if (le) {
		moon_obuf_puts(b, n ? ",le=\"" : "{le=\"");
		moon_obuf_puts(b, le);
		moon_obuf_putc(b, '"');
		n++;
	}
	if (n)
		moon_obuf_putc(b, '}');
	moon_obuf_putc(b, ' ');
}

void moon_metric_counter(struct moon_metric_out *o, const char *const *values, uint64_t v)
{
	series(o, "", values, NULL);
	moon_obuf_u64(o->b, v);
	moon_obuf_putc(o->b, '\n');
}

void moon_metric_gauge(struct moon_metric_out *o, const char *const *values, double v)
{
	series(o, "", values, NULL);
	moon_metrics_put_double(o->b, v);
	moon_obuf_putc(o->b, '\n');
}

void moon_metric_histogram(struct moon_metric_out *o, const char *const *values,
			   const uint64_t *counts, double sum)
{
	const struct moon_metric_family *f = o->f;
	uint64_t cum = 0;
	for (unsigned i = 0; i <= f->nbuckets; i++) {
		char tmp[32];
		cum += counts[i];
		series(o, "_bucket", values, i < f->nbuckets ? fmt_double(tmp, f->buckets[i]) : "+Inf");
		moon_obuf_u64(o->b, cum);
		moon_obuf_putc(o->b, '\n');
	}
	series(o, "_sum", values, NULL);
	moon_metrics_put_double(o->b, sum);
	moon_obuf_putc(o->b, '\n');
	series(o, "_count", values, NULL);
	moon_obuf_u64(o->b, cum);
	moon_obuf_putc(o->b, '\n');
}

const struct moon_metric_family *moon_metric_current(const struct moon_metric_out *o)
{
	return o->f;
}

int moon_metrics_render(const struct moon_metrics_registry *r, bool compat,
			struct moon_obuf *out)
{
	if (r->prepare)
		r->prepare(r->arg);
	struct moon_metric_out o = { .b = out };
	for (size_t i = 0; i < r->n; i++) {
		const struct moon_metric_family *f = r->families[i];
		if ((f->flags & MOON_METRIC_COMPAT) && !compat)
			continue;
		o.f = f;
		moon_obuf_printf(out, "# HELP %s ", f->name);
		escape_help(out, f->help);
		moon_obuf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
		if (f->collect)
			f->collect(&o, r->arg);
	}
	return moon_obuf_failed(out) ? -ENOMEM : 0;
}
