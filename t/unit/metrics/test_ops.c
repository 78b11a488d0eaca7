/*
 * The operations glue: address parsing, per-block data, observing a query
 * (counters and query-log line), the endpoint with readiness and lameduck.
 */
#include <arpa/inet.h>
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

static void test_parse(void)
{
	struct sockaddr_storage ss;
	socklen_t len;
	is_int(moon_ops_parse_addr("127.0.0.1:9153", &ss, &len), 0, "IPv4:port");
	ok(ss.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&ss)->sin_port) == 9153,
	   "family and port");
	is_int(moon_ops_parse_addr("[::1]:9153", &ss, &len), 0, "[IPv6]:port");
	ok(ss.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6), "IPv6");
	is_int(moon_ops_parse_addr("127.0.0.1", &ss, &len), MOON_ESYNTAX, "port required");
	is_int(moon_ops_parse_addr("127.0.0.1:0", &ss, &len), MOON_ESYNTAX, "port 0 refused");
	is_int(moon_ops_parse_addr("127.0.0.1:70000", &ss, &len), MOON_ESYNTAX, "port range");
	is_int(moon_ops_parse_addr("localhost:9153", &ss, &len), MOON_ESYNTAX, "no names");
	is_int(moon_ops_parse_addr("::1:9153", &ss, &len), MOON_ESYNTAX, "IPv6 needs brackets");
	is_int(moon_ops_parse_addr("[::1]:", &ss, &len), MOON_ESYNTAX, "empty port");
}

static const char *meta_get(void *arg, const char *key, size_t klen, size_t *vlen)
{
	if (klen == 4 && memcmp(key, "user", 4) == 0) {
		*vlen = 5;
		return "alice";
	}
	return NULL;
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

static uint16_t port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	return ntohs(sa.sin_port);
}

int main(void)
{
	test_parse();
	char dir[] = "/tmp/moon-ops-XXXXXX", path[64];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/q.log", dir);

	struct moon_ops *ops;
	is_int(moon_ops_new(2, "9.9", &ops), 0, "ops created");
	char *zones[] = { "lab.test.", "sub.lab.test." };
	struct moon_qlog_rule_conf qc = { .format = "{name} {rcode} {/user} {server}", .to = path };
	struct moon_ops_block *b = NULL, *bad = NULL;
	const char *why;
	is_int(moon_ops_block_new(ops, "lab", zones, 2, &qc, &b, &why), 0, "block built");
	qc.format = "nonsense";
	ok(moon_ops_block_new(ops, "lab", zones, 2, &qc, &bad, &why) == MOON_ESYNTAX && why,
	   "a bad query-log format fails the block, with a reason");

	struct moon_query q;
	fill_query(&q);
	q.worker = 1;
	moon_ops_observe(ops, &q, b, moon_now_ns() - 1000000, meta_get, NULL);
	fill_query(&q);
	moon_ops_observe(ops, &q, NULL, moon_now_ns(), NULL, NULL);
	moon_qlog_flush(moon_ops_qlog(ops));
	is_str(slurp(path) + 32, "www.lab.test. NXDOMAIN alice lab\n", "query-log line");

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
	moon_ops_set_ready(ops, 2, NULL);
	moon_ops_reloaded(ops, true, 2);

	const char *page = http_get(port, "/metrics");
	ok(strstr(page, "\nmoondns_requests_total{server=\"lab\",zone=\"lab.test.\",proto=\"udp\","
		  "family=\"1\",type=\"A\"} 1\n") != NULL, "the query was counted under its zone");
	ok(strstr(page, "\nmoondns_requests_total{server=\"\",zone=\"dropped\",proto=\"udp\","
		  "family=\"1\",type=\"A\"} 1\n") != NULL, "no block: zone dropped");
	ok(strstr(page, "\nmoondns_responses_total{server=\"lab\",zone=\"lab.test.\","
		  "rcode=\"NXDOMAIN\"} 1\n") != NULL, "the reply counted by rcode");
	ok(strstr(page, "\nmoondns_request_duration_seconds_bucket{server=\"lab\","
		  "zone=\"lab.test.\",type=\"A\",le=\"0.00025\"} 0\n") != NULL &&
	   strstr(page, "\nmoondns_request_duration_seconds_bucket{server=\"lab\","
		  "zone=\"lab.test.\",type=\"A\",le=\"0.002\"} 1\n") != NULL,
	   "duration measured from the start time");
	ok(strstr(page, "\nmoondns_build_info{version=\"9.9\"} 1\n") != NULL, "version");
	ok(strstr(page, "\nmoondns_config_generation 2\n") != NULL, "generation");
	ok(strstr(page, "\nmoondns_query_log_lines_total 1\n") != NULL, "query-log lines");
	ok(strstr(page, "\nmoondns_http_requests_total ") != NULL, "the endpoint's own counters");
	ok(!strstr(page, "coredns_"), "no coredns_ names by default");
	moon_ops_set_compat(ops, true);
	ok(strstr(http_get(port, "/metrics"), "\ncoredns_dns_requests_total{server=\"lab\","
		  "zone=\"lab.test.\",view=\"\",proto=\"udp\",family=\"1\",type=\"A\"} 1\n") != NULL,
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
