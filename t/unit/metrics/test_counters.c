/*
 * Per-worker counters, their label sets and buckets, the scrape snapshot,
 * and the rendered moondns_* / coredns_* page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/counters.h"
#include "metrics/counters.h"
#include "metrics/families.h"
#include "tap.h"

static void test_labels(void)
{
	is_str(moon_metrics_type_label(moon_metrics_type_index(1)), "A", "A");
	is_str(moon_metrics_type_label(moon_metrics_type_index(28)), "AAAA", "AAAA");
	is_str(moon_metrics_type_label(moon_metrics_type_index(65)), "HTTPS", "HTTPS");
	is_str(moon_metrics_type_label(moon_metrics_type_index(257)), "CAA", "CAA");
	is_str(moon_metrics_type_label(moon_metrics_type_index(65000)), "other",
	       "unknown type is other");
	is_str(moon_metrics_type_label(moon_metrics_type_index(99)), "other", "SPF is other");
	is_str(moon_metrics_rcode_label(moon_metrics_rcode_index(3)), "NXDOMAIN", "NXDOMAIN");
	is_str(moon_metrics_rcode_label(moon_metrics_rcode_index(10)), "NOTZONE", "NOTZONE");
	is_str(moon_metrics_rcode_label(moon_metrics_rcode_index(16)), "BADVERS", "BADVERS");
	is_str(moon_metrics_rcode_label(moon_metrics_rcode_index(11)), "other", "rcode 11 other");
	is_str(moon_metrics_rcode_label(moon_metrics_rcode_index(4095)), "other",
	       "rcode 4095 other");
}

static void test_buckets(void)
{
	is_int(moon_metrics_dur_bucket(0), 0, "0 ns in the first bucket");
	is_int(moon_metrics_dur_bucket(250000), 0, "0.25 ms is le 0.00025");
	is_int(moon_metrics_dur_bucket(250001), 1, "just above goes to le 0.0005");
	is_int(moon_metrics_dur_bucket(8192000000ull), 15, "8.192 s in the last bound");
	is_int(moon_metrics_dur_bucket(8192000001ull), 16, "above it: +Inf");
	is_int(moon_metrics_size_bucket(0), 0, "size 0 is le 0");
	is_int(moon_metrics_size_bucket(1), 1, "size 1 is le 100");
	is_int(moon_metrics_size_bucket(511), 5, "511 is le 511");
	is_int(moon_metrics_size_bucket(512), 6, "512 is le 1023");
	is_int(moon_metrics_size_bucket(64000), 13, "64000 is le 64000");
	is_int(moon_metrics_size_bucket(65535), 14, "65535 is +Inf");
}

static void test_interning(void)
{
	struct moon_metrics *m;
	is_int(moon_metrics_new(1, &m), 0, "metrics created");
	is_str(moon_metrics_zone_label(m, MOON_MSLOT_DROPPED)->b, "dropped", "slot 0 is dropped");
	unsigned a = moon_metrics_zone_slot(m, "lab", "lab.test.");
	unsigned b = moon_metrics_zone_slot(m, "lab", "example.com.");
	is_int(a, 1, "first zone gets slot 1");
	is_int(b, 2, "second zone slot 2");
	is_int(moon_metrics_zone_slot(m, "lab", "lab.test."), a, "same labels, same slot");
	is_int(moon_metrics_zone_slot(m, "other", "lab.test."), 3, "server name is part of it");
	unsigned last = 0;
	for (unsigned i = 0; i < MOON_METRICS_MAX_ZONES + 10; i++) {
		char z[32];
		snprintf(z, sizeof(z), "z%u.", i);
		last = moon_metrics_zone_slot(m, "many", z);
	}
	is_int(last, MOON_METRICS_MAX_ZONES - 1, "past the bound: the last slot");
	is_str(moon_metrics_zone_label(m, last)->b, "overflow", "labelled overflow");
	moon_metrics_free(m);
}

static bool has(const char *page, const char *line)
{
	char want[512];
	snprintf(want, sizeof(want), "\n%s\n", line);
	bool found = strstr(page, want) != NULL;
	if (!found)
		printf("#   missing: %s\n", line);
	return found;
}

static size_t cache_source(void *arg, struct moon_mcache_sample *out, size_t max)
{
	out[0] = (struct moon_mcache_sample){ .server = "lab", .zones = "lab.test.",
					      .entries = { 7, 2 }, .evictions = 4 };
	return 1;
}

/* The first upstream slot, marked down. */
static size_t up_source(void *arg, struct moon_mupstream_sample *out, size_t max)
{
	out[0] = (struct moon_mupstream_sample){ .slot = *(unsigned *)arg, .up = false };
	return 1;
}

static void test_page(void)
{
	struct moon_metrics *m;
	moon_metrics_new(2, &m);
	unsigned z = moon_metrics_zone_slot(m, "lab", "lab.test.");
	unsigned u = moon_metrics_upstream_slot(m, "lab", "dns://192.0.2.1:53");
	struct moon_mworker *w0 = moon_metrics_worker(m, 0), *w1 = moon_metrics_worker(m, 1);
	moon_metrics_request(w0, z, MOON_MT_UDP, MOON_MT_IPV4, 1, false, 40);
	moon_metrics_request(w1, z, MOON_MT_UDP, MOON_MT_IPV4, 1, true, 52);
	moon_metrics_request(w1, z, MOON_MT_TCP, MOON_MT_IPV6, 65000, false, 700);
	moon_metrics_response(w0, z, MOON_MT_UDP, 1, 1, 0, 60, 100000);
	moon_metrics_response(w1, z, MOON_MT_UDP, 1, 1, 0, 72, 300000);
	moon_metrics_response(w1, z, MOON_MT_TCP, 65000, 0, 5, 0, 1000);  /* dropped */
	moon_metrics_request(w0, MOON_MSLOT_DROPPED, MOON_MT_UDP, MOON_MT_IPV4, 1, false, 20);
	moon_metrics_cache_lookup(w0, z, true, MOON_MT_CACHE_SUCCESS);
	moon_metrics_cache_lookup(w1, z, false, MOON_MT_CACHE_SUCCESS);
	moon_metrics_upstream(w0, u, false, 0, 2000000);
	moon_metrics_upstream(w1, u, true, 0, 0);
	/* Policy calls and verdicts are the bridge's, per worker. */
	int qcalls = moon_bridge_counter_id(MOON_CTR_CALLS, "query", "lab", "firewall");
	moon_bridge_counter_id(MOON_CTR_CALLS, "log", "lab", "firewall");
	int refused = moon_bridge_counter_id(MOON_CTR_VERDICTS, "refuse", "lab", "firewall");
	moon_bridge_counter_slots(0)[qcalls] += 1;
	moon_bridge_counter_slots(1)[qcalls] += 1;
	moon_bridge_counter_slots(0)[refused] += 1;
	int errs = moon_bridge_counter_id(MOON_CTR_ERRORS, NULL, "lab", "firewall");
	int det = moon_bridge_counter_id(MOON_CTR_USER, "detections", "lab", "tunnel");
	int other = moon_bridge_counter_id(MOON_CTR_USER, "blocks", "lab", "tunnel");
	moon_bridge_counter_slots(0)[errs] += 1;
	moon_bridge_counter_slots(1)[det] += 4;
	moon_bridge_counter_slots(0)[other] += 2;
	moon_metrics_healthcheck_failed(m, u);
	moon_metrics_reload(m, true);
	moon_metrics_set_generation(m, 2);
	moon_metrics_reload(m, false);

	struct moon_metrics_sources src = { .m = m, .version = "0.1", .cache = cache_source,
					    .upstreams = up_source, .upstreams_arg = &u };
	struct moon_metrics_page *pg;
	is_int(moon_metrics_page_new(&src, &pg), 0, "page built");
	struct moon_obuf b;
	moon_obuf_init(&b, 0);
	is_int(moon_metrics_page_render(pg, false, &b), 0, "page renders");
	const char *t = b.p;
	ok(has(t, "moondns_build_info{version=\"0.1\"} 1"), "build info");
	ok(has(t, "moondns_requests_total{server=\"lab\",zone=\"lab.test.\",proto=\"udp\","
	       "family=\"1\",type=\"A\"} 2"), "requests summed over workers");
	ok(has(t, "moondns_requests_total{server=\"lab\",zone=\"lab.test.\",proto=\"tcp\","
	       "family=\"2\",type=\"other\"} 1"), "unknown qtype counted as other");
	ok(has(t, "moondns_requests_total{server=\"\",zone=\"dropped\",proto=\"udp\","
	       "family=\"1\",type=\"A\"} 1"), "queries no block took: zone dropped");
	ok(!strstr(t, "proto=\"tcp\",family=\"1\""), "combinations never seen are not rendered");
	ok(has(t, "moondns_responses_total{server=\"lab\",zone=\"lab.test.\",rcode=\"NOERROR\"} 2"),
	   "responses by rcode");
	ok(!strstr(t, "rcode=\"REFUSED\""), "a dropped query is no response");
	ok(has(t, "moondns_request_duration_seconds_bucket{server=\"lab\",zone=\"lab.test.\","
	       "type=\"A\",le=\"0.00025\"} 1"), "0.1 ms in the first bucket");
	ok(has(t, "moondns_request_duration_seconds_bucket{server=\"lab\",zone=\"lab.test.\","
	       "type=\"A\",le=\"0.0005\"} 2"), "0.3 ms in the second, cumulative");
	ok(has(t, "moondns_request_duration_seconds_sum{server=\"lab\",zone=\"lab.test.\","
	       "type=\"A\"} 0.0004"), "duration sum in seconds");
	ok(has(t, "moondns_request_duration_seconds_count{server=\"lab\",zone=\"lab.test.\","
	       "type=\"A\"} 2"), "duration count");
	ok(has(t, "moondns_request_size_bytes_bucket{server=\"lab\",zone=\"lab.test.\","
	       "proto=\"udp\",le=\"100\"} 2"), "request sizes");
	ok(has(t, "moondns_request_size_bytes_sum{server=\"lab\",zone=\"lab.test.\","
	       "proto=\"udp\"} 92"), "request bytes");
	ok(has(t, "moondns_response_size_bytes_count{server=\"lab\",zone=\"lab.test.\","
	       "proto=\"udp\"} 2"), "response sizes");
	ok(has(t, "moondns_do_requests_total{server=\"lab\",zone=\"lab.test.\"} 1"), "DO");
	ok(has(t, "moondns_cache_hits_total{server=\"lab\",zone=\"lab.test.\",type=\"success\"} 1"),
	   "cache hits");
	ok(has(t, "moondns_cache_misses_total{server=\"lab\",zone=\"lab.test.\"} 1"), "misses");
	ok(has(t, "moondns_cache_entries{server=\"lab\",type=\"denial\"} 2"), "cache entries");
	ok(has(t, "moondns_cache_evictions_total{server=\"lab\"} 4"), "evictions");
	ok(has(t, "moondns_forward_requests_total{server=\"lab\",to=\"dns://192.0.2.1:53\"} 2"),
	   "forward requests");
	ok(has(t, "moondns_forward_failures_total{server=\"lab\",to=\"dns://192.0.2.1:53\"} 1"),
	   "forward failures");
	ok(has(t, "moondns_forward_responses_total{server=\"lab\",to=\"dns://192.0.2.1:53\","
	       "rcode=\"NOERROR\"} 1"), "forward responses");
	ok(has(t, "moondns_forward_request_duration_seconds_bucket{server=\"lab\","
	       "to=\"dns://192.0.2.1:53\",le=\"0.002\"} 1"), "forward latency");
	ok(has(t, "moondns_forward_healthcheck_failures_total{server=\"lab\","
	       "to=\"dns://192.0.2.1:53\"} 1"), "health-check failures");
	ok(has(t, "moondns_forward_upstream_healthy{server=\"lab\",to=\"dns://192.0.2.1:53\"} 0"),
	   "upstream health");
	ok(has(t, "moondns_policy_calls_total{server=\"lab\",policy=\"firewall\",stage=\"query\"} 2"),
	   "policy calls");
	ok(has(t, "moondns_policy_calls_total{server=\"lab\",policy=\"firewall\",stage=\"log\"} 0"),
	   "policy series exist at zero");
	ok(has(t, "moondns_policy_errors_total{server=\"lab\",policy=\"firewall\"} 1"),
	   "policy errors from the bridge");
	ok(has(t, "moondns_policy_counter_total{server=\"lab\",policy=\"tunnel\",name=\"blocks\"} 2"),
	   "policies' own counters");
	ok(has(t, "moondns_tunnel_detections_total{server=\"lab\",policy=\"tunnel\"} 4"),
	   "tunnel detections");
	ok(!strstr(t, "moondns_tunnel_detections_total{server=\"lab\",policy=\"tunnel\"} 2"),
	   "only the detections counter");
	ok(has(t, "moondns_policy_verdicts_total{server=\"lab\",policy=\"firewall\","
	       "verdict=\"refuse\"} 1"), "verdicts");
	ok(has(t, "moondns_reloads_total 2"), "reloads");
	ok(has(t, "moondns_reload_failures_total 1"), "reload failures");
	ok(has(t, "moondns_config_generation 2"), "generation of the last good reload");
	ok(!strstr(t, "coredns_"), "no coredns_ names without compat");

	moon_obuf_reset(&b);
	moon_metrics_page_render(pg, true, &b);
	t = b.p;
	ok(has(t, "coredns_dns_requests_total{server=\"lab\",zone=\"lab.test.\",view=\"\","
	       "proto=\"udp\",family=\"1\",type=\"A\"} 2"), "coredns_dns_requests_total");
	ok(has(t, "coredns_dns_responses_total{server=\"lab\",zone=\"lab.test.\",view=\"\","
	       "rcode=\"NOERROR\",plugin=\"file\"} 2"), "coredns_dns_responses_total with plugin");
	ok(has(t, "coredns_dns_request_duration_seconds_count{server=\"lab\",zone=\"lab.test.\","
	       "view=\"\",type=\"A\"} 2"), "coredns_dns_request_duration_seconds");
	ok(has(t, "coredns_dns_request_size_bytes_count{server=\"lab\",zone=\"lab.test.\","
	       "view=\"\",proto=\"udp\"} 2"), "coredns_dns_request_size_bytes");
	ok(has(t, "coredns_dns_response_size_bytes_count{server=\"lab\",zone=\"lab.test.\","
	       "view=\"\",proto=\"udp\"} 2"), "coredns_dns_response_size_bytes");
	ok(has(t, "coredns_dns_do_requests_total{server=\"lab\",view=\"\",zone=\"lab.test.\"} 1"),
	   "coredns_dns_do_requests_total");
	ok(has(t, "coredns_cache_hits_total{server=\"lab\",type=\"success\",zones=\"lab.test.\","
	       "view=\"\"} 1"), "coredns_cache_hits_total");
	ok(has(t, "coredns_cache_misses_total{server=\"lab\",zones=\"lab.test.\",view=\"\"} 1"),
	   "coredns_cache_misses_total");
	ok(has(t, "coredns_cache_requests_total{server=\"lab\",zones=\"lab.test.\",view=\"\"} 2"),
	   "coredns_cache_requests_total");
	ok(has(t, "coredns_cache_entries{server=\"lab\",type=\"success\",zones=\"lab.test.\","
	       "view=\"\"} 7"), "coredns_cache_entries");
	ok(has(t, "coredns_proxy_request_duration_seconds_count{proxy_name=\"forward\","
	       "to=\"dns://192.0.2.1:53\",rcode=\"NOERROR\"} 1"),
	   "coredns_proxy_request_duration_seconds");
	ok(has(t, "coredns_proxy_healthcheck_failures_total{proxy_name=\"forward\","
	       "to=\"dns://192.0.2.1:53\"} 1"), "coredns_proxy_healthcheck_failures_total");
	ok(has(t, "coredns_reload_failed_total 1"), "coredns_reload_failed_total");
	ok(has(t, "# TYPE coredns_dns_request_duration_seconds histogram"), "types kept");
	ok(has(t, "moondns_requests_total{server=\"lab\",zone=\"lab.test.\",proto=\"udp\","
	       "family=\"1\",type=\"A\"} 2"), "moondns_ names still there with compat");
	moon_obuf_free(&b);
	moon_metrics_page_free(pg);
	moon_metrics_free(m);
}

int main(void)
{
	test_labels();
	test_buckets();
	test_interning();
	test_page();
	return tap_done();
}
