/*
 * Microbenchmark of the bridge's hot path (not run by make check):
 *     t/unit/bridge/bench_hooks [iterations]
 * Prints nanoseconds per query+response hook pair for a few policies, on
 * one query context, against the same loop without hooks. CPU time, so a
 * busy machine skews it less than wall time would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge/bridge.h"
#include "query/query.h"
#include "util/diag.h"
#include "util/log.h"
#include "wire/dns.h"
#include "wire/pkt.h"

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void begin_reply(struct moon_query *q, struct moon_pktw *w, uint8_t *buf)
{
	moon_pktw_begin(w, buf, q->limit, &q->pkt);
}

static uint8_t req[512], resp[65535];

static void make_query(struct moon_query *q)
{
	/* www.example.com A, RD, EDNS 1232 */
	static const uint8_t wire[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0, 1, 0, 1,
		0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0,
	};
	memcpy(req, wire, sizeof(wire));
	memset(q, 0, sizeof(*q));
	q->req = req;
	q->req_len = sizeof(wire);
	q->resp = resp;
	q->resp_cap = sizeof(resp);
	q->limit = 1232;
	q->begin_reply = begin_reply;
	moon_pkt_parse(&q->pkt, req, sizeof(wire));
	/* A reply with one A record, as the pipeline would have written. */
	struct moon_pktw w;
	moon_pktw_begin(&w, resp, 1232, &q->pkt);
	static const uint8_t a[4] = { 192, 0, 2, 1 };
	moon_pktw_put_rr(&w, 0, NULL, MOON_T_A, MOON_CLASS_IN, 300, a, 4);
	q->resp_len = (uint32_t)moon_pktw_finish(&w);
	q->source = MOON_SOURCE_ZONE;
}

static double run(const char *name, const char *text, long n, bool jit)
{
	char path[] = "/tmp/moon-bench-XXXXXX.lua";
	int fd = mkstemps(path, 4);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		return -1;
	close(fd);
	struct moon_diag diag = { 0 };
	struct moon_bridge *b;
	const struct moon_policy *pol = NULL;
	struct moon_bridge_policy p = { .name = name, .script = path, .sandbox = true, .jit = jit };
	if (moon_bridge_new(0, NULL, &b, &diag) || moon_bridge_chain(b, "bench", &p, 1, &pol, &diag)) {
		moon_diag_log(&diag);
		return -1;
	}
	struct moon_query q;
	make_query(&q);
	const struct moon_hooks *h = pol->hooks;
	double t0 = cpu_ns();
	for (long i = 0; i < n; i++) {
		if (h->query)
			h->query(pol->chain, &q);
		if (h->response)
			h->response(pol->chain, &q);
	}
	double ns = (cpu_ns() - t0) / (double)n;
	moon_bridge_free(b);
	moon_diag_free(&diag);
	unlink(path);
	return ns;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	moon_log_set_level(MOON_LOG_WARN);
	static const struct { const char *name, *text; bool jit; } cases[] = {
		{ "noop pair", "return { query = function(q) end, response = function(q, r) end }", true },
		{ "noop query only", "return { query = function(q) end }", true },
		{ "noop pair, jit off", "return { query = function(q) end,"
		  " response = function(q, r) end }", false },
		{ "q.type + q.rd", "return { query = function(q) if q.type == 255 and q.rd then"
		  " return q:refuse() end end, response = function(q, r) end }", true },
		{ "q.name", "return { query = function(q) if q.name == 'x.' then"
		  " return q:refuse() end end, response = function(q, r) end }", true },
		{ "q.meta set + read", "return { query = function(q) q.meta.k = 'v' end,"
		  " response = function(q, r) local v = q.meta.k end }", true },
		{ "r:records + ttl", "return { response = function(q, r)"
		  " for _, rec in ipairs(r:records('answer')) do local t = rec.ttl end end }", true },
		{ "r:clamp_ttl", "return { response = function(q, r) r:clamp_ttl(60) end }", true },
		{ "q:refuse()", "return { query = function(q) return q:refuse() end }", true },
	};
	struct moon_query q;
	make_query(&q);
	volatile unsigned sink = 0;
	double t0 = cpu_ns();
	for (long i = 0; i < n; i++)
		sink += q.pkt.qtype;
	double base = (cpu_ns() - t0) / (double)n;
	printf("%-22s %8.1f ns\n", "loop without hooks", base);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		printf("%-22s %8.1f ns per query\n", cases[i].name,
		       run(cases[i].name, cases[i].text, n, cases[i].jit) - base);
	return 0;
}
