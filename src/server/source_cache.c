/*
 * The cache side of the sources: keys, stores, and serving stale copies.
 * The cache itself (cache/cache.h) decides what may be stored and for how
 * long; these helpers only say what the pipeline hands it.
 */
#include <string.h>

#include "server/srcint.h"
#include "util/time.h"
#include "wire/dns.h"
#include "wire/wire.h"

void moon__src_key(const struct moon_query *q, const struct moon_cache *c,
		   struct moon_cache_key *k)
{
	const struct moon_pkt *p = &q->pkt;
	/* The question a policy may have rewritten (query/query.h). */
	moon_cache_key_init(c, k, moon_query_qname(q), moon_query_qtype(q), moon_query_qclass(q),
			    p->edns.do_bit, (p->flags & MOON_FLAG_CD) != 0, 0);
}

void moon__src_store(struct moon_cache *c, const struct moon_cache_key *key, const uint8_t *msg,
		     size_t len, bool in_bailiwick)
{
	/* A chain that leaves the forwarded zone is answered but not kept:
	 * its tail is not the forwarder's to vouch for. */
	if (in_bailiwick)
		moon_cache_insert(c, key, msg, len, moon_now_ms());
}

void moon__src_store_failure(struct moon_cache *c, const struct moon_cache_key *key,
			     const struct moon_query *q)
{
	uint8_t msg[MOON_HDR_LEN + MOON_NAME_MAXLEN + 4];
	memset(msg, 0, MOON_HDR_LEN);
	moon_put_u16(msg + 2, MOON_FLAG_QR | MOON_FLAG_RD | MOON_FLAG_RA | MOON_RCODE_SERVFAIL);
	moon_put_u16(msg + 4, 1);
	size_t nlen = moon_query_qname_len(q);
	memcpy(msg + MOON_HDR_LEN, moon_query_qname(q), nlen);
	moon_put_u16(msg + MOON_HDR_LEN + nlen, moon_query_qtype(q));
	moon_put_u16(msg + MOON_HDR_LEN + nlen + 2, moon_query_qclass(q));
	moon_cache_insert(c, key, msg, MOON_HDR_LEN + nlen + 4u, moon_now_ms());
}

bool moon__src_serve_stale(struct moon_query *q, struct moon_cache *c,
			   const struct moon_cache_key *key)
{
	struct moon_cache_result res;
	int n = moon_cache_lookup(c, key, q->req, q->req_len, q->resp, q->resp_cap, moon_now_ms(),
				  &res);
	if (n <= 0 || res.state == MOON_CACHE_MISS)
		return false;
	/* The copy is in q->resp now, whatever it is: keep q consistent. */
	q->resp_len = (uint32_t)n;
	q->rcode = q->resp[3] & 0xf;
	if (res.kind == MOON_CACHE_SERVFAIL)
		return false;
	q->source = MOON_SOURCE_CACHE;
	return true;
}
