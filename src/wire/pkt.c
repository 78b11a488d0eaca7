#include <string.h>

#include "util/err.h"
#include "wire/pkt.h"
#include "wire/wire.h"

/* Owner name (at least the root octet) plus TYPE, CLASS, TTL, RDLENGTH. */
#define RR_MIN_LEN 11

/*
 * The question name is the one name every query has, so it gets a single
 * pass that copies and lowercases together. Clients do not compress the
 * question (nothing precedes it but the header); a pointer falls back to
 * the general reader.
 */
static int read_qname(struct moon_pkt *pkt, size_t *pos)
{
	const uint8_t *w = pkt->wire;
	size_t p = *pos, n = 0, len = pkt->len;

	for (;;) {
		if (p >= len)
			return MOON_EMALF;
		uint8_t c = w[p];
		if (c == 0)
			break;
		if (c > MOON_LABEL_MAXLEN)
			goto general;
		if (p + 1 + c > len || n + 1 + c + 1 > MOON_NAME_MAXLEN)
			return MOON_EMALF;
		pkt->qname[n] = c;
		pkt->qname_lc[n] = c;
		for (unsigned i = 1; i <= c; i++) {
			uint8_t o = w[p + i];
			pkt->qname[n + i] = o;
			pkt->qname_lc[n + i] = moon_name_lower(o);
		}
		n += 1 + (size_t)c;
		p += 1 + (size_t)c;
	}
	pkt->qname[n] = 0;
	pkt->qname_lc[n] = 0;
	pkt->qname_len = (uint8_t)(n + 1);
	*pos = p + 1;
	return 0;
general:;
	int r = moon_name_unpack(w, len, pos, pkt->qname);
	if (r < 0)
		return r;
	pkt->qname_len = (uint8_t)r;
	moon_name_tolower(pkt->qname_lc, pkt->qname);
	return 0;
}

/* The option list must be a whole number of code/length/data TLVs. */
static int check_options(const uint8_t *p, size_t len)
{
	while (len) {
		if (len < 4)
			return MOON_EMALF;
		size_t olen = moon_get_u16(p + 2);
		if (olen > len - 4)
			return MOON_EMALF;
		p += 4 + olen;
		len -= 4 + olen;
	}
	return 0;
}

static int read_opt(struct moon_pkt *pkt, uint16_t rclass, uint32_t ttl,
		    const uint8_t *rdata, uint16_t rdlen)
{
	struct moon_edns *e = &pkt->edns;
	if (e->present)
		return MOON_EMALF;
	e->present = true;
	e->payload = rclass;
	e->ext_rcode = (uint8_t)(ttl >> 24);
	e->version = (uint8_t)(ttl >> 16);
	e->flags = (uint16_t)ttl;
	e->do_bit = (ttl & MOON_EDNS_FLAG_DO) != 0;
	e->options = rdata;
	e->options_len = rdlen;
	return check_options(rdata, rdlen);
}

/* Walks one section's records; only the additional one may hold OPT. */
static int read_records(struct moon_pkt *pkt, size_t *pos, unsigned count, int section)
{
	const uint8_t *w = pkt->wire;
	size_t len = pkt->len;
	uint8_t owner[MOON_NAME_MAXLEN];

	for (unsigned i = 0; i < count; i++) {
		int olen = 1;
		if (*pos < len && w[*pos] == 0)
			(*pos)++;       /* the root owner of OPT, in nearly every query */
		else if ((olen = moon_name_unpack(w, len, pos, owner)) < 0)
			return olen;
		size_t p = *pos;
		if (len - p < 10)
			return MOON_EMALF;
		uint16_t type = moon_get_u16(w + p);
		uint16_t rdlen = moon_get_u16(w + p + 8);
		if (rdlen > len - p - 10)
			return MOON_EMALF;
		*pos = p + 10 + rdlen;
		if (type != MOON_T_OPT)
			continue;
		if (section != MOON_SEC_ADDITIONAL || olen != 1)
			return MOON_EMALF;
		int r = read_opt(pkt, moon_get_u16(w + p + 2), moon_get_u32(w + p + 4),
				 w + p + 10, rdlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static void reset(struct moon_pkt *pkt, const uint8_t *wire, size_t len)
{
	pkt->wire = wire;
	pkt->len = len;
	pkt->header_ok = false;
	pkt->question_ok = false;
	pkt->qname_len = 0;
	pkt->qname[0] = 0;
	pkt->qname_lc[0] = 0;
	pkt->qtype = 0;
	pkt->qclass = 0;
	pkt->question_end = MOON_HDR_LEN;
	memset(&pkt->edns, 0, sizeof(pkt->edns));
}

int moon_pkt_parse(struct moon_pkt *pkt, const uint8_t *wire, size_t len)
{
	reset(pkt, wire, len);
	if (len < MOON_HDR_LEN)
		return MOON_EMALF;
	pkt->id = moon_get_u16(wire);
	pkt->flags = moon_get_u16(wire + 2);
	pkt->opcode = (uint8_t)(pkt->flags >> 11 & 0xf);
	pkt->qdcount = moon_get_u16(wire + 4);
	pkt->ancount = moon_get_u16(wire + 6);
	pkt->nscount = moon_get_u16(wire + 8);
	pkt->arcount = moon_get_u16(wire + 10);
	pkt->header_ok = true;

	/* QUERY and NOTIFY carry exactly one question. Other opcodes may
	 * have none; more than one is never served, so it is malformed. */
	if (pkt->qdcount > 1)
		return MOON_EMALF;
	if (pkt->qdcount == 0 && (pkt->opcode == MOON_OP_QUERY || pkt->opcode == MOON_OP_NOTIFY))
		return MOON_EMALF;

	size_t pos = MOON_HDR_LEN;
	if (pkt->qdcount == 1) {
		if (read_qname(pkt, &pos) < 0 || len - pos < 4)
			return MOON_EMALF;
		pkt->qtype = moon_get_u16(wire + pos);
		pkt->qclass = moon_get_u16(wire + pos + 2);
		pos += 4;
		pkt->question_end = pos;
		pkt->question_ok = true;
	}

	/* Cheap early reject of counts that cannot fit before walking them. */
	size_t nrr = (size_t)pkt->ancount + pkt->nscount + pkt->arcount;
	if (nrr * RR_MIN_LEN > len - pos)
		return MOON_EMALF;
	if (nrr) {
		int r = read_records(pkt, &pos, pkt->ancount, MOON_SEC_ANSWER);
		if (!r)
			r = read_records(pkt, &pos, pkt->nscount, MOON_SEC_AUTHORITY);
		if (!r)
			r = read_records(pkt, &pos, pkt->arcount, MOON_SEC_ADDITIONAL);
		if (r < 0)
			return r;
	}
	return pos == len ? 0 : MOON_EMALF;
}

int moon_pkt_edns_option(const struct moon_pkt *pkt, uint16_t code, const uint8_t **data)
{
	const uint8_t *p = pkt->edns.options;
	size_t len = pkt->edns.present ? pkt->edns.options_len : 0;

	/* Bounds are checked again in case the parse failed half way. */
	while (len >= 4) {
		uint16_t olen = moon_get_u16(p + 2);
		if (olen > len - 4)
			break;
		if (moon_get_u16(p) == code) {
			*data = p + 4;
			return olen;
		}
		p += 4 + (size_t)olen;
		len -= 4 + (size_t)olen;
	}
	return -1;
}
