/*
 * The last step of a wire answer (cache hit, forwarded reply): the client's
 * OPT record and the fit to its size. The message came from the cache or
 * from the forwarder's checks, but it is still walked with bounds checks:
 * anything unexpected ends in the question-only TC reply.
 */
#include <string.h>

#include "server/gen.h"
#include "server/sources.h"
#include "wire/dns.h"
#include "wire/pkt.h"
#include "wire/wire.h"

#define OPT_FIXED 11

/* Offset past the name at off, or 0 when it runs out of the message. */
static size_t skip_name(const uint8_t *m, size_t len, size_t off)
{
	while (off < len) {
		uint8_t l = m[off];
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;
		off += 1u + l;
		if (l == 0)
			return off <= len ? off : 0;
	}
	return 0;
}

/* Offset past `count` records from off, or 0. */
static size_t skip_records(const uint8_t *m, size_t len, size_t off, unsigned count)
{
	for (unsigned i = 0; i < count && off; i++) {
		off = skip_name(m, len, off);
		if (!off || off + 10 > len)
			return 0;
		off += 10u + moon_get_u16(m + off + 8);
		if (off > len)
			return 0;
	}
	return off;
}

static size_t opt_len(const struct moon_query *q, const char **nsid)
{
	const uint8_t *data;
	*nsid = NULL;
	if (!q->edns)
		return 0;
	const char *id = q->gen->conf->identity.nsid;
	if (id && moon_pkt_edns_option(&q->pkt, MOON_EDNS_NSID, &data) >= 0) {
		*nsid = id;
		return OPT_FIXED + 4 + strlen(id);
	}
	return OPT_FIXED;
}

static void put_opt(struct moon_query *q, const char *nsid)
{
	uint8_t *p = q->resp + q->resp_len;
	uint16_t nlen = nsid ? (uint16_t)strlen(nsid) : 0;
	uint16_t rdlen = nsid ? (uint16_t)(4 + nlen) : 0;
	p[0] = 0;
	moon_put_u16(p + 1, MOON_T_OPT);
	moon_put_u16(p + 3, q->gen->conf->udp.max_payload);
	p[5] = (uint8_t)(q->rcode >> 4);
	p[6] = 0;
	moon_put_u16(p + 7, q->pkt.edns.do_bit ? MOON_EDNS_FLAG_DO : 0);
	moon_put_u16(p + 9, rdlen);
	if (nsid) {
		moon_put_u16(p + 11, MOON_EDNS_NSID);
		moon_put_u16(p + 13, nlen);
		memcpy(p + 15, nsid, nlen);
	}
	q->resp_len += OPT_FIXED + rdlen;
	moon_put_u16(q->resp + 10, (uint16_t)(moon_get_u16(q->resp + 10) + 1));
}

void moon_src_finish(struct moon_query *q)
{
	uint8_t *m = q->resp;
	size_t len = q->resp_len;
	const char *nsid;
	size_t opt = opt_len(q, &nsid);
	if (len < MOON_HDR_LEN)
		return;
	uint16_t flags = moon_get_u16(m + 2);
	moon_put_u16(m + 2, (uint16_t)((flags & ~0xfu) | (q->rcode & 0xf)));
	if (len + opt > q->limit) {
		size_t qend = moon_get_u16(m + 4) == 1 ? skip_name(m, len, MOON_HDR_LEN) : 0;
		if (qend)
			qend += 4;
		size_t nsend = qend && qend <= len ?
			skip_records(m, len, qend, moon_get_u16(m + 6) + moon_get_u16(m + 8)) : 0;
		if (nsend && nsend + opt <= q->limit) {
			len = nsend;
		} else {
			len = qend && qend <= len ? qend : MOON_HDR_LEN;
			moon_put_u16(m + 2, moon_get_u16(m + 2) | MOON_FLAG_TC);
			moon_put_u16(m + 4, len > MOON_HDR_LEN);
			moon_put_u16(m + 6, 0);
			moon_put_u16(m + 8, 0);
		}
		moon_put_u16(m + 10, 0);
	}
	q->resp_len = (uint32_t)len;
	if (opt)
		put_opt(q, nsid);
}
