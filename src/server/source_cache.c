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
	moon_cache_key_init(c, k, p->qname_lc, p->qtype, p->qclass, p->edns.do_bit,
			    (p->flags & MOON_FLAG_CD) != 0, 0);
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
	const struct moon_pkt *p = &q->pkt;
	uint8_t msg[MOON_HDR_LEN + MOON_NAME_MAXLEN + 4];
	memset(msg, 0, MOON_HDR_LEN);
	moon_put_u16(msg + 2, MOON_FLAG_QR | MOON_FLAG_RD | MOON_FLAG_RA | MOON_RCODE_SERVFAIL);
	moon_put_u16(msg + 4, 1);
	memcpy(msg + MOON_HDR_LEN, p->qname_lc, p->qname_len);
	moon_put_u16(msg + MOON_HDR_LEN + p->qname_len, p->qtype);
	moon_put_u16(msg + MOON_HDR_LEN + p->qname_len + 2, p->qclass);
	moon_cache_insert(c, key, msg, MOON_HDR_LEN + p->qname_len + 4u, moon_now_ms());
}

bool moon__src_serve_stale(struct moon_query *q, struct moon_cache *c,
			   const struct moon_cache_key *key)
{
	struct moon_cache_result res;
	int n = moon_cache_lookup(c, key, q->req, q->req_len, q->resp, q->resp_cap, moon_now_ms(),
				  &res);
	if (n <= 0 || res.state == MOON_CACHE_MISS || res.kind == MOON_CACHE_SERVFAIL)
		return false;
	q->resp_len = (uint32_t)n;
	q->rcode = q->resp[3] & 0xf;
	q->source = MOON_SOURCE_CACHE;
	return true;
}
