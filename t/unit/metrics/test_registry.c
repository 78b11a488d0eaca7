/*
 * The Prometheus text renderer: exact output for a small registry, label
 * and help escaping, number formatting, compat families.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/registry.h"
#include "tap.h"

static int prepared;

static void prep(void *arg)
{
	prepared++;
}

static void c_counter(struct moon_metric_out *o, void *arg)
{
	const char *v1[] = { "lab", "example.com." };
	const char *v2[] = { "we\"ird\\na\nme", "." };
	moon_metric_counter(o, v1, 5);
	moon_metric_counter(o, v2, 18446744073709551615ull);
}

static void c_gauge(struct moon_metric_out *o, void *arg)
{
	moon_metric_gauge(o, NULL, 1.5);
}

static void c_hist(struct moon_metric_out *o, void *arg)
{
	const uint64_t counts[] = { 1, 2, 3 };
	const char *v[] = { "x" };
	moon_metric_histogram(o, v, counts, 4.25);
}

static const char *const two[] = { "server", "zone", NULL };
static const char *const one[] = { "k", NULL };
static const double bounds[] = { 0.00025, 1 };

static const struct moon_metric_family f_counter = {
	.name = "t_requests_total", .help = "Requests.\nSecond \\ line.",
	.type = MOON_METRIC_COUNTER, .labels = two, .collect = c_counter,
};
static const struct moon_metric_family f_gauge = {
	.name = "t_gauge", .help = "A gauge.", .type = MOON_METRIC_GAUGE, .collect = c_gauge,
};
static const struct moon_metric_family f_hist = {
	.name = "t_seconds", .help = "A histogram.", .type = MOON_METRIC_HISTOGRAM,
	.labels = one, .buckets = bounds, .nbuckets = 2, .collect = c_hist,
};
static const struct moon_metric_family f_compat = {
	.name = "old_gauge", .help = "Old name.", .type = MOON_METRIC_GAUGE,
	.flags = MOON_METRIC_COMPAT, .collect = c_gauge,
};
static const struct moon_metric_family f_empty = {
	.name = "t_empty_total", .help = "Nothing yet.", .type = MOON_METRIC_COUNTER,
	.labels = one,
};

static const struct moon_metric_family *const fams[] = {
	&f_counter, &f_gauge, &f_hist, &f_compat, &f_empty,
};

static const char want[] =
	"# HELP t_requests_total Requests.\\nSecond \\\\ line.\n"
	"# TYPE t_requests_total counter\n"
	"t_requests_total{server=\"lab\",zone=\"example.com.\"} 5\n"
	"t_requests_total{server=\"we\\\"ird\\\\na\\nme\",zone=\".\"} 18446744073709551615\n"
	"# HELP t_gauge A gauge.\n"
	"# TYPE t_gauge gauge\n"
	"t_gauge 1.5\n"
	"# HELP t_seconds A histogram.\n"
	"# TYPE t_seconds histogram\n"
	"t_seconds_bucket{k=\"x\",le=\"0.00025\"} 1\n"
	"t_seconds_bucket{k=\"x\",le=\"1\"} 3\n"
	"t_seconds_bucket{k=\"x\",le=\"+Inf\"} 6\n"
	"t_seconds_sum{k=\"x\"} 4.25\n"
	"t_seconds_count{k=\"x\"} 6\n"
	"# HELP t_empty_total Nothing yet.\n"
	"# TYPE t_empty_total counter\n";

static void test_render(void)
{
	struct moon_metrics_registry r = {
		.families = fams, .n = 5, .prepare = prep,
	};
	struct moon_obuf b;
	moon_obuf_init(&b, 0);
	is_int(moon_metrics_render(&r, false, &b), 0, "render succeeds");
	is_str(b.p, want, "exact exposition text");
	is_int(prepared, 1, "prepare ran once");
	ok(!strstr(b.p, "old_gauge"), "compat family hidden without compat");
	moon_obuf_reset(&b);
	moon_metrics_render(&r, true, &b);
	ok(strstr(b.p, "# TYPE old_gauge gauge\nold_gauge 1.5\n") != NULL,
	   "compat family rendered with compat");
	moon_obuf_free(&b);
}

static void test_bound(void)
{
	struct moon_metrics_registry r = { .families = fams, .n = 5 };
	struct moon_obuf b;
	moon_obuf_init(&b, 100);
	is_int(moon_metrics_render(&r, false, &b), -ENOMEM, "a page over the bound fails");
	ok(b.len <= 100, "and stays within it");
	moon_obuf_free(&b);
}

static const char *dbl(double v)
{
	static char out[64];
	struct moon_obuf b;
	moon_obuf_init(&b, 0);
	moon_metrics_put_double(&b, v);
	snprintf(out, sizeof(out), "%s", b.p);
	moon_obuf_free(&b);
	return out;
}

static void test_numbers(void)
{
	is_str(dbl(0.00025), "0.00025", "0.00025 as written");
	is_str(dbl(8.192), "8.192", "8.192");
	is_str(dbl(64e3), "64000", "64000");
	is_str(dbl(0), "0", "zero");
	is_str(dbl(1e6), "1e+06", "1e+06 as Go prints it");
	is_str(dbl(1234567), "1.234567e+06", "large values in e-notation");
	is_str(dbl(123456), "123456", "up to 6 integer digits plain");
	is_str(dbl(0.0001), "0.0001", "0.0001 plain");
	is_str(dbl(0.00001), "1e-05", "1e-05 in e-notation");
	is_str(dbl(0.1 + 0.2), "0.30000000000000004", "shortest round-trip");
	is_str(dbl(1.0 / 0.0), "+Inf", "+Inf");
	is_str(dbl(-1.0 / 0.0), "-Inf", "-Inf");
	is_str(dbl(0.0 / 0.0), "NaN", "NaN");
}

static void test_escape(void)
{
	struct moon_obuf b;
	moon_obuf_init(&b, 0);
	moon_metrics_escape_label(&b, "a\"b\\c\nd{e}=,f");
	is_str(b.p, "a\\\"b\\\\c\\nd{e}=,f", "quote, backslash and newline escaped, rest kept");
	moon_obuf_reset(&b);
	moon_metrics_escape_label(&b, "");
	ok(b.len == 0, "empty value stays empty");
	moon_obuf_free(&b);
}

int main(void)
{
	test_render();
	test_bound();
	test_numbers();
	test_escape();
	return tap_done();
}
