/*
 * The operations glue: address parsing, per-block data, observing a query
 * (counters and query-log line), the endpoint with readiness and lameduck.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics/ops.h"
#include "query/query.h"
#include "tap.h"
#include "util/err.h"
#include "util/time.h"

#define BLOCK "servers:\n  - name: lab\n    listen: [ \"dns://127.0.0.1:5353\" ]\n" \
	"    zones: [ lab.test. ]\n"

static struct moon_conf *load(const char *yaml, char *first_error, size_t len)
{
	struct moon_diag d = { 0 };
	struct moon_conf *c = NULL;
	first_error[0] = 0;
	if (moon_conf_load_string(yaml, "m.yaml", &c, &d) && d.n)
		snprintf(first_error, len, "%s", d.msgs[0]);
	moon_diag_free(&d);
	return c;
}

/* The keys this module adds to the config (src/conf/schema.c, check.c). */
static void test_conf_keys(void)
{
	char err[512], cwd[256], want[300];
	struct moon_conf *c = load(BLOCK, err, sizeof(err));
	ok(c && !c->http.listen, "no http: the endpoint stays closed");
	ok(c && !c->servers[0].query_log.enabled, "no query_log: no query log");
	ok(c && c->http.lameduck_ms == 5000 && !c->http.coredns_compat, "http defaults");
	moon_conf_free(c);

	c = load("http: { listen: 127.0.0.1:9153, coredns_compat: true, lameduck: 250ms }\n"
		 BLOCK, err, sizeof(err));
	const struct sockaddr_in *v4 = c ? (const void *)&c->http.addr : NULL;
	ok(v4 && v4->sin_family == AF_INET && ntohs(v4->sin_port) == 9153 &&
	   c->http.addrlen == sizeof(*v4), "http.listen parsed");
	ok(c && c->http.coredns_compat && c->http.lameduck_ms == 250, "compat and lameduck");
	moon_conf_free(c);
	c = load("http: { listen: \"[::1]:9153\" }\n" BLOCK, err, sizeof(err));
	ok(c && c->http.addr.ss_family == AF_INET6, "IPv6 in brackets");
	moon_conf_free(c);
	c = load("http: { listen: 127.0.0.1 }\n" BLOCK, err, sizeof(err));
	ok(!c, "a listen address without a port is refused");
	is_str(err, "m.yaml:1:17: http.listen: bad address '127.0.0.1': expected ADDR:PORT, "
	       "IPv6 as [ADDR]:PORT", "and says where and why");
	c = load("http: { listen: \"[::1]\" }\n" BLOCK, err, sizeof(err));
	ok(!c && strstr(err, "http.listen: bad address"), "IPv6 without a port refused");
	c = load("http: { listen: 127.0.0.1:http }\n" BLOCK, err, sizeof(err));
	ok(!c && strstr(err, "http.listen: bad address"), "port must be a number");

	c = load(BLOCK "    query_log: {}\n", err, sizeof(err));
	const struct moon_conf_query_log *q = c ? &c->servers[0].query_log : NULL;
	ok(q && q->enabled && !strcmp(q->format, "common") && !strcmp(q->to, "stdout"),
	   "an empty query_log turns the log on with the defaults");
	moon_conf_free(c);
	c = load(BLOCK "    query_log: { format: json, class: [ denial, error ], to: q.log,\n"
		 "                 names: [ lab.test ], json_meta: [ a/b ] }\n", err, sizeof(err));
	q = c ? &c->servers[0].query_log : NULL;
	snprintf(want, sizeof(want), "%s/q.log", getcwd(cwd, sizeof(cwd)) ? cwd : "");
	ok(q && q->n_classes == 2 && !strcmp(q->classes[1], "error"), "classes");
	ok(q && !strcmp(q->to, want), "a relative file is relative to the config's directory");
	ok(q && q->n_names == 1 && !strcmp(q->names[0], "lab.test."), "names");
	ok(q && q->n_json_meta == 1 && !strcmp(q->json_meta[0], "a/b"), "json_meta");
	moon_conf_free(c);
	c = load(BLOCK "    query_log: { format: fancy }\n", err, sizeof(err));
	ok(!c && strstr(err, "servers[0].query_log.format: expected common, combined, json"),
	   "unknown format refused at load");
	c = load(BLOCK "    query_log: { class: [ warnings ] }\n", err, sizeof(err));
	ok(!c && strstr(err, "servers[0].query_log.class[0]"), "unknown class refused");
}

/* A query for www.lab.test. A from 127.0.0.1:4242 over UDP, and a reply. */
static uint8_t req[] = {
	0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
	3, 'w', 'w', 'w', 3, 'l', 'a', 'b', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1,
};
static uint8_t resp[64];
static struct sockaddr_in client;

static void fill_query(struct moon_query *q)
{
	memset(q, 0, sizeof(*q));
	client.sin_family = AF_INET;
	client.sin_port = htons(4242);
	client.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	q->req = req;
	q->req_len = sizeof(req);
	q->resp = resp;
	q->client = (struct sockaddr *)&client;
	q->proto = MOON_PROTO_UDP;
	moon_pkt_parse(&q->pkt, req, sizeof(req));
	memcpy(resp, req, sizeof(req));
	resp[2] = 0x85;  /* QR AA RD */
	resp[3] = 0x03;  /* NXDOMAIN */
	q->resp_len = sizeof(req);
	q->rcode = 3;
	q->source = MOON_SOURCE_ZONE;
	q->sent = true;
}

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = 0;
	if (f)
		fclose(f);
	return buf;
}

static const char *http_get(uint16_t port, const char *path)
{
	static char buf[1 << 16];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	buf[0] = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		char rq[128];
		int n = snprintf(rq, sizeof(rq), "GET %s HTTP/1.1\r\n\r\n", path);
		send(fd, rq, (size_t)n, 0);
		size_t len = 0;
		ssize_t r;
		while (len < sizeof(buf) - 1 && (r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
			len += (size_t)r;
		buf[len] = 0;
	}
	close(fd);
	return buf;
}

/* The value of the series `name{labels}` in a page, or -1. */
static long sample(const char *page, const char *series)
{
	char want[512];
	snprintf(want, sizeof(want), "\n%s ", series);
	const char *p = strstr(page, want);
	return p ? strtol(p + strlen(want), NULL, 10) : -1;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	return ntohs(sa.sin_port);
}

int main(void)
{
	test_conf_keys();
	char dir[] = "/tmp/moon-ops-XXXXXX", path[64];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/q.log", dir);

	struct moon_ops *ops;
	is_int(moon_ops_new(2, "9.9", &ops), 0, "ops created");
	char *zones[] = { "lab.test.", "sub.lab.test." };
	struct moon_conf_server cs = {
		.name = "lab", .zones = zones, .n_zones = 2,
		.query_log = { .enabled = true, .format = "{name} {rcode} {/user} {server}",
			       .to = path },
	};
	struct moon_ops_block *b = NULL, *bad = NULL;
	char why[MOON_OPS_WHY];
	is_int(moon_ops_block_new(ops, &cs, &b, why), 0, "block built");
	cs.query_log.to = "/nonexistent/dir/q.log";
	ok(moon_ops_block_new(ops, &cs, &bad, why) == -ENOENT &&
	   strcmp(why, "cannot open /nonexistent/dir/q.log: No such file or directory") == 0,
	   "an unopenable query log fails the block, saying why");
	cs.query_log.enabled = false;
	struct moon_ops_block *quiet = NULL;
	is_int(moon_ops_block_new(ops, &cs, &quiet, why), 0, "block without query log");
	ok(quiet && !quiet->qlog, "no rule then");
	moon_ops_block_free(quiet);

	struct moon_query q;
	fill_query(&q);
	q.worker = 1;
	moon_meta_set(&q.meta, "user", 4, "alice", 5);
	moon_ops_observe(ops, &q, b, moon_now_ns() - 1000000);
	fill_query(&q);
	moon_ops_observe(ops, &q, NULL, moon_now_ns());
	fill_query(&q);
	q.req_len = 5;  /* too short to parse: stale pkt fields must not count */
	q.pkt.qtype = 28;
	q.sent = false;
	moon_ops_observe(ops, &q, NULL, moon_now_ns());
	moon_qlog_flush(moon_ops_qlog(ops));
	is_str(slurp(path) + 32, "www.lab.test. NXDOMAIN alice lab\n",
	       "query-log line, with the query's metadata");

	/* A block with a cache: cache answers are hits, forwarded ones misses. */
	cs.cache.enabled = true;
	struct moon_ops_block *cached = NULL;
	moon_ops_block_new(ops, &cs, &cached, why);
	fill_query(&q);
	q.source = MOON_SOURCE_CACHE;
	moon_ops_observe(ops, &q, cached, moon_now_ns());
	q.source = MOON_SOURCE_FORWARD;
	moon_ops_observe(ops, &q, cached, moon_now_ns());
	q.source = MOON_SOURCE_ZONE;
	moon_ops_observe(ops, &q, cached, moon_now_ns());
	moon_ops_block_free(cached);

	/* A free port for the endpoint: bind one, close it, use it. */
	int tmp = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bind(tmp, (struct sockaddr *)&sa, sizeof(sa));
	uint16_t port = port_of(tmp);
	close(tmp);
	sa.sin_port = htons(port);
	struct moon_diag diag = { 0 };
	is_int(moon_ops_http_start(ops, (struct sockaddr *)&sa, sizeof(sa), &diag), 0,
	       "endpoint started");
	ok(moon_ops_http_running(ops), "running");

	ok(strstr(http_get(port, "/ready"), "503 Service Unavailable\r\n") &&
	   strstr(http_get(port, "/ready"), "\r\n\r\nstarting\n"), "not ready while starting");
	moon_ops_set_ready(ops, 1, NULL);
	ok(strstr(http_get(port, "/ready"), "200 OK\r\n") != NULL, "ready once set");
	moon_ops_set_ready(ops, 1, "zone example.com. not loaded");
	ok(strstr(http_get(port, "/ready"), "\r\n\r\nzone example.com. not loaded\n") != NULL,
	   "the reason is served");
	moon_ops_reloaded(ops, false, 0);
	ok(strstr(http_get(port, "/ready"), " 503 ") != NULL, "a failed reload changes nothing");
	moon_ops_reloaded(ops, true, 2);
	ok(strstr(http_get(port, "/ready"), "200 OK\r\n") != NULL,
	   "a successful reload makes it ready");

	const char *page = http_get(port, "/metrics");
	ok(strstr(page, "\nmoondns_requests_total{server=\"lab\",zone=\"lab.test.\",proto=\"udp\","
		  "family=\"1\",type=\"A\"} 4\n") != NULL, "the queries counted under their zone");
	ok(strstr(page, "\nmoondns_requests_total{server=\"\",zone=\"dropped\",proto=\"udp\","
		  "family=\"1\",type=\"A\"} 1\n") != NULL, "no block: zone dropped");
	ok(strstr(page, "\nmoondns_requests_total{server=\"\",zone=\"dropped\",proto=\"udp\","
		  "family=\"1\",type=\"other\"} 1\n") != NULL, "a runt counts as type other");
	ok(!strstr(page, "type=\"AAAA\""), "not as the stale AAAA");
	ok(strstr(page, "\nmoondns_responses_total{server=\"lab\",zone=\"lab.test.\","
		  "rcode=\"NXDOMAIN\"} 4\n") != NULL, "the replies counted by rcode");
	/* The first query started 1 ms before it was observed, the others
	 * microseconds before. */
	ok(sample(page, "moondns_request_duration_seconds_bucket{server=\"lab\","
		  "zone=\"lab.test.\",type=\"A\",le=\"0.001\"}") <= 3 &&
	   sample(page, "moondns_request_duration_seconds_bucket{server=\"lab\","
		  "zone=\"lab.test.\",type=\"A\",le=\"+Inf\"}") == 4,
	   "duration measured from the start time");
	ok(strstr(page, "\nmoondns_build_info{version=\"9.9\"} 1\n") != NULL, "version");
	ok(strstr(page, "\nmoondns_cache_hits_total{server=\"lab\",zone=\"lab.test.\","
		  "type=\"denial\"} 1\n") != NULL, "a cached NXDOMAIN is a denial hit");
	ok(strstr(page, "\nmoondns_cache_misses_total{server=\"lab\",zone=\"lab.test.\"} 1\n")
	   != NULL, "a forwarded answer is a miss; a zone answer is neither");
	ok(strstr(page, "\nmoondns_config_generation 2\n") != NULL, "generation");
	ok(strstr(page, "\nmoondns_reloads_total 2\n") != NULL, "reloads");
	ok(strstr(page, "\nmoondns_reload_failures_total 1\n") != NULL, "reload failures");
	ok(strstr(page, "\nmoondns_query_log_lines_total 1\n") != NULL, "query-log lines");
	ok(strstr(page, "\nmoondns_http_requests_total ") != NULL, "the endpoint's own counters");
	ok(!strstr(page, "coredns_"), "no coredns_ names by default");
	moon_ops_set_compat(ops, true);
	ok(strstr(http_get(port, "/metrics"), "\ncoredns_dns_requests_total{server=\"lab\","
		  "zone=\"lab.test.\",view=\"\",proto=\"udp\",family=\"1\",type=\"A\"} 4\n") != NULL,
	   "coredns_ names once switched on");

	moon_ops_lameduck(ops);
	ok(strstr(http_get(port, "/ready"), " 503 ") != NULL, "lameduck: /ready 503");
	ok(strstr(http_get(port, "/health"), " 200 OK") != NULL, "lameduck: /health 200");

	struct moon_ops *other;
	moon_ops_new(1, "x", &other);
	ok(moon_ops_http_start(other, (struct sockaddr *)&sa, sizeof(sa), &diag) < 0, "port taken");
	char want[64];
	snprintf(want, sizeof(want), "http.listen 127.0.0.1:%u: ", port);
	ok(diag.n == 1 && strstr(diag.msgs[0], want), "the error names http.listen");
	moon_diag_free(&diag);
	moon_ops_free(other);

	moon_ops_block_free(b);
	moon_ops_free(ops);
	unlink(path);
	rmdir(dir);
	return tap_done();
}
