/*
 * CACHE stage and FORWARD source (server/sources.h). A query that goes
 * upstream keeps no state here: when the forwarder calls back, the block
 * and the question are still in q, and the cache key is computed again
 * (one SipHash) rather than stored per query.
 */
#include <stdio.h>

#include "metrics/ops.h"
#include "net/net.h"
#include "server/gen.h"
#include "server/sources.h"
#include "server/srcint.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"
#include "wire/dns.h"
#include "zone/zone.h"

_Static_assert(MOON_QUERY_EDNS_BYTES <= MOON_FWD_OPTS_MAX, "policy EDNS options fit a query");

static void answer_rcode(struct moon_query *q, uint16_t rcode)
{
	q->ans->rcode = rcode;
	q->source = MOON_SOURCE_NONE;
}

/* Every failure to get an answer upstream ends here: a stale copy if the
 * cache has one (RFC 8767), else SERVFAIL. */
static void upstream_failed(struct moon_query *q, struct moon_bstate *bs, bool record)
{
	struct moon_cache_key key;
	if (bs->cache) {
		moon__src_key(q, bs->cache, &key);
		if (record)
			moon__src_store_failure(bs->cache, &key, q);
		if (moon__src_serve_stale(q, bs->cache, &key))
			return;
	}
	answer_rcode(q, MOON_RCODE_SERVFAIL);
}

static void fwd_done(void *arg, const struct moon_fwd_result *res)
{
	struct moon_query *q = arg;
	struct moon_bstate *bs = q->block->bs;
	moon_ops_forwarded(bs->ops, q->worker, res->tried, res->deduped, res->err != 0,
			   res->rcode, res->latency_ns);
	if (res->err) {
		upstream_failed(q, bs, res->err != -ECANCELED);
		moon_query_resume(q);
		return;
	}
	q->source = MOON_SOURCE_FORWARD;
	q->rcode = res->rcode;
	q->resp_len = res->len;
	if (bs->cache) {
		struct moon_cache_key key;
		moon__src_key(q, bs->cache, &key);
		if (!q->nocache)
			moon__src_store(bs->cache, &key, q->resp, res->len, res->in_bailiwick);
		/* An upstream SERVFAIL is a failure too: better the last good
		 * answer than none (the store above marked it as failed). */
		if (res->rcode == MOON_RCODE_SERVFAIL)
			moon__src_serve_stale(q, bs->cache, &key);
	}
	moon_query_resume(q);
}

/* The probe came back through the upstreams: say so once, loudly, and stop
 * forwarding for this block. */
static void loop_detected(struct moon_query *q, struct moon_bstate *bs)
{
	if (atomic_exchange(&bs->loop_found, true))
		return;
	char name[MOON_NAME_TEXT_MAXLEN], from[64] = "?", ups[512] = "";
	moon_name_to_text(bs->loop.name, name, sizeof(name));
	if (q->client)
		moon_net_addr_str(q->client, from, sizeof(from));
	size_t n = 0;
	for (unsigned i = 0; i < moon_fwd_upstream_count(bs->fwd) && n < sizeof(ups); i++)
		n += (size_t)snprintf(ups + n, sizeof(ups) - n, "%s%s", i ? ", " : "",
				      moon_fwd_upstream_name(bs->fwd, i));
	moon_err(FWD, "servers.%s: forwarding loop detected: the probe query '%s HINFO' came "
		 "back to this server (from %s) after being forwarded to %s; forwarding is off "
		 "for this block, its forwarded queries get SERVFAIL until the loop is fixed "
		 "and the config reloaded", bs->conf->name, name, from, ups);
}

static int forward(struct moon_query *q, struct moon_bstate *bs)
{
	if (atomic_load_explicit(&bs->loop_found, memory_order_relaxed)) {
		upstream_failed(q, bs, false);
		return 0;
	}
	struct moon_fwdw *e = moon__src_fwdw(q, bs);
	if (!e) {
		upstream_failed(q, bs, false);
		return 0;
	}
	struct moon_pkt rw;     /* read during the call only */
	/* With the EDNS options a policy set (query/query.h). */
	int ret = moon_fwd_query_opts(e->fw, moon_query_sources_pkt(q, &rw), q->edns_set,
				      q->edns_set_len, q->resp, q->resp_cap, fwd_done, q);
	if (ret == MOON_EPENDING)
		return ret;
	if (ret == MOON_ENOTFOUND || ret == MOON_ELIMIT)
		answer_rcode(q, MOON_RCODE_REFUSED);
	else
		upstream_failed(q, bs, false);
	return 0;
}

int moon_src_run(struct moon_query *q)
{
	struct moon_bstate *bs = q->block->bs;
	answer_rcode(q, MOON_RCODE_REFUSED);
	if (!bs)
		return 0;
	if (atomic_load_explicit(&bs->loop_armed, memory_order_acquire) &&
	    moon_fwd_loop_check(&bs->loop, &q->pkt) == MOON_FWD_LOOP_DETECTED) {
		loop_detected(q, bs);
		answer_rcode(q, MOON_RCODE_SERVFAIL);
		return 0;
	}
	/* A copy cached without a policy's EDNS options is not an answer to
	 * the question with them. */
	if (bs->cache && !q->edns_set_len) {
		q->stage = MOON_STAGE_CACHE;
		struct moon_cache_key key;
		struct moon_cache_result res;
		moon__src_key(q, bs->cache, &key);
		int n = moon_cache_lookup(bs->cache, &key, q->req, q->req_len, q->resp,
					  q->resp_cap, moon_now_ms(), &res);
		q->stage = MOON_STAGE_SOURCES;
		bool fresh = res.state == MOON_CACHE_HIT;
		if (n > 0 && (fresh || res.failed)) {
			q->resp_len = (uint32_t)n;
			q->rcode = q->resp[3] & 0xf;
			q->source = MOON_SOURCE_CACHE;
			if (fresh && res.prefetch && bs->fwd)
				moon__src_prefetch(q, bs, &key);
			return 0;
		}
	}
	if (!bs->fwd)
		return 0;
	return forward(q, bs);
}
