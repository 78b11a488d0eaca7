#include <string.h>

#include "cache/msg.h"
#include "util/err.h"
#include "wire/pkt.h"
#include "wire/wire.h"

/* What the walk over the records learned. */
struct facts {
	uint32_t min_answer_ttl;
	uint32_t min_soa;       /* min(SOA TTL, SOA MINIMUM) over authority SOAs */
	bool has_qtype;         /* the answer section has a record of QTYPE */
	bool has_soa;
	bool has_tsig;
	size_t opt_start;       /* offset of the OPT record, 0 when none */
	bool opt_last;
	uint8_t ext_rcode;
};

/* RFC 2181 §8: a TTL with the top bit set is read as zero. */
static uint32_t ttl_value(uint32_t ttl)
{
	return ttl > 0x7fffffffu ? 0 : ttl;
}

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
	if (v < lo)
		v = lo;
	return v > hi ? hi : v;
}

/* The question must be the key's, written uncompressed at offset 12: the
 * cache stores it lowercased there and overwrites it with the client's. */
static int read_question(struct moon_wire *w, const struct moon_cache_key *key)
{
	size_t pos = MOON_HDR_LEN;
	uint8_t name[MOON_NAME_MAXLEN];
	int n = moon_name_unpack(w->start, (size_t)(w->end - w->start), &pos, name);
	if (n < 0)
		return MOON_EMALF;
	if (pos != MOON_HDR_LEN + (size_t)n)
		return MOON_ESEMANTIC;
	moon_wire_seek(w, pos);
	uint16_t qtype = moon_wire_get_u16(w);
	uint16_t qclass = moon_wire_get_u16(w);
	if (w->err)
		return MOON_EMALF;
	if (n != key->name_len || qtype != key->qtype || qclass != key->qclass)
		return MOON_ESEMANTIC;
	for (int i = 0; i < n; i++)
		if (moon_name_lower(name[i]) != key->name[i])
			return MOON_ESEMANTIC;
	return 0;
}

/* Reads MINIMUM, the last field of SOA RDATA at [rd, rd + rdlen). */
static int soa_minimum(const uint8_t *msg, size_t len, size_t rd, uint16_t rdlen, uint32_t *min)
{
	uint8_t name[MOON_NAME_MAXLEN];
	size_t pos = rd;
	if (moon_name_unpack(msg, len, &pos, name) < 0 ||
	    moon_name_unpack(msg, len, &pos, name) < 0)
		return MOON_EMALF;
	if (pos + 20 != rd + rdlen)
		return MOON_EMALF;
	*min = ttl_value(moon_get_u32(msg + pos + 16));
	return 0;
}

static int read_rr(struct moon_wire *w, int section, uint16_t qtype, struct moon_cache_msg *m,
		   struct facts *f)
{
	size_t len = (size_t)(w->end - w->start), start = moon_wire_offset(w), pos = start;
	uint8_t owner[MOON_NAME_MAXLEN];
	if (moon_name_unpack(w->start, len, &pos, owner) < 0)
		return MOON_EMALF;
	moon_wire_seek(w, pos);
	uint16_t type = moon_wire_get_u16(w);
	moon_wire_skip(w, 2);
	size_t ttl_off = moon_wire_offset(w);
	uint32_t ttl = moon_wire_get_u32(w);
	uint16_t rdlen = moon_wire_get_u16(w);
	size_t rd = moon_wire_offset(w);
	moon_wire_skip(w, rdlen);
	if (w->err)
		return MOON_EMALF;

	f->opt_last = false;
	if (type == MOON_T_OPT) {
		if (section != MOON_SEC_ADDITIONAL || f->opt_start)
			return MOON_EMALF;
		f->opt_start = start;
		f->opt_last = true;
		f->ext_rcode = (uint8_t)(ttl >> 24);
		return 0;
	}
	if (type == MOON_T_TSIG)
		f->has_tsig = true;
	if (m->nttl == MOON_CACHE_MAX_RRS)
		return MOON_EMALF;
	m->ttl_off[m->nttl++] = (uint16_t)ttl_off;
	ttl = ttl_value(ttl);
	if (section == MOON_SEC_ANSWER) {
		if (ttl < f->min_answer_ttl)
			f->min_answer_ttl = ttl;
		if (type == qtype || qtype == MOON_T_ANY)
			f->has_qtype = true;
	} else if (section == MOON_SEC_AUTHORITY && type == MOON_T_SOA) {
		uint32_t min;
		if (soa_minimum(w->start, len, rd, rdlen, &min) < 0)
			return MOON_EMALF;
		if (ttl < min)
			min = ttl;
		if (!f->has_soa || min < f->min_soa)
			f->min_soa = min;
		f->has_soa = true;
	}
	return 0;
}

static int read_records(struct moon_wire *w, const uint16_t counts[3], uint16_t qtype,
			struct moon_cache_msg *m, struct facts *f)
{
	for (int s = MOON_SEC_ANSWER; s <= MOON_SEC_ADDITIONAL; s++)
		for (unsigned i = 0; i < counts[s]; i++) {
			int err = read_rr(w, s, qtype, m, f);
			if (err < 0)
				return err;
		}
	return moon_wire_avail(w) ? MOON_EMALF : 0;
}

static int classify(struct moon_cache_msg *m, uint16_t rcode, const struct facts *f,
		    const struct moon_cache_opts *o)
{
	uint32_t lo, hi, ttl;
	if (rcode == MOON_RCODE_SERVFAIL) {
		m->kind = MOON_CACHE_SERVFAIL;
		lo = hi = ttl = o->servfail_ttl;
	} else if (rcode == MOON_RCODE_NOERROR && f->has_qtype) {
		m->kind = MOON_CACHE_SUCCESS;
		ttl = f->min_answer_ttl;
		lo = o->success_min_ttl;
		hi = o->success_max_ttl;
	} else if ((rcode == MOON_RCODE_NOERROR || rcode == MOON_RCODE_NXDOMAIN) && f->has_soa) {
		m->kind = MOON_CACHE_DENIAL;
		ttl = f->min_soa < f->min_answer_ttl ? f->min_soa : f->min_answer_ttl;
		lo = o->denial_min_ttl;
		hi = o->denial_max_ttl;
	} else {
		return MOON_ELIMIT;
	}
	m->ttl = clamp(ttl, lo, hi);
	return m->ttl ? 0 : MOON_ELIMIT;
}

int moon_cache_msg_read(struct moon_cache_msg *m, const uint8_t *msg, size_t len,
			const struct moon_cache_key *key, const struct moon_cache_opts *o)
{
	if (len < MOON_HDR_LEN)
		return MOON_EMALF;
	if (len > MOON_MAX_MSG)
		return MOON_ELIMIT;
	uint16_t flags = moon_get_u16(msg + 2);
	uint16_t counts[3] = { moon_get_u16(msg + 6), moon_get_u16(msg + 8), moon_get_u16(msg + 10) };
	if (!(flags & MOON_FLAG_QR) || (flags & MOON_FLAG_TC) ||
	    ((flags >> 11) & 0xf) != MOON_OP_QUERY || moon_get_u16(msg + 4) != 1)
		return MOON_ELIMIT;

	struct moon_wire w;
	moon_wire_init(&w, (uint8_t *)msg, len); /* only read through */
	int err = read_question(&w, key);
	if (err < 0)
		return err;
	struct facts f = { .min_answer_ttl = UINT32_MAX };
	m->nttl = 0;
	err = read_records(&w, counts, key->qtype, m, &f);
	if (err < 0)
		return err;
	/* An OPT elsewhere than last cannot be cut out without moving records
	 * that compression pointers may point into; a TSIG signs one exchange. */
	if (f.has_tsig || f.ext_rcode || (f.opt_start && !f.opt_last))
		return MOON_ELIMIT;
	m->opt_stripped = f.opt_start != 0;
	m->store_len = (uint16_t)(f.opt_start ? f.opt_start : len);
	return classify(m, flags & 0xf, &f, o);
}
