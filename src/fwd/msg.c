#include <string.h>

#include "fwd/msg.h"
#include "util/err.h"
#include "wire/pkt.h"
#include "wire/wire.h"

#define OPCODE_MASK 0x7800

size_t moon__fwd_build_query(uint8_t *buf, uint16_t id, const struct moon_fwd_qspec *s)
{
	uint16_t flags = (uint16_t)((s->rd ? MOON_FLAG_RD : 0) | (s->cd ? MOON_FLAG_CD : 0) |
				    (s->ad ? MOON_FLAG_AD : 0));
	moon_put_u16(buf, id);
	moon_put_u16(buf + 2, flags);
	moon_put_u16(buf + 4, 1);
	moon_put_u16(buf + 6, 0);
	moon_put_u16(buf + 8, 0);
	moon_put_u16(buf + 10, s->payload ? 1 : 0);
	size_t n = moon_name_len(s->qname);
	memcpy(buf + MOON_HDR_LEN, s->qname, n);
	size_t p = MOON_HDR_LEN + n;
	moon_put_u16(buf + p, s->qtype);
	moon_put_u16(buf + p + 2, s->qclass);
	p += 4;
	if (!s->payload)
		return p;
	buf[p] = 0;                                     /* root owner */
	moon_put_u16(buf + p + 1, MOON_T_OPT);
	moon_put_u16(buf + p + 3, s->payload);
	moon_put_u16(buf + p + 5, 0);                   /* ext rcode, version */
	moon_put_u16(buf + p + 7, s->do_bit ? MOON_EDNS_FLAG_DO : 0);
	moon_put_u16(buf + p + 9, s->opts_len);         /* RDLENGTH */
	if (s->opts_len)
		memcpy(buf + p + 11, s->opts, s->opts_len);
	return p + 11 + s->opts_len;
}

void moon__fwd_set_id(uint8_t *msg, uint16_t id)
{
	moon_put_u16(msg, id);
}

/* Length of the question section of a query we built. */
static size_t question_len(const uint8_t *query)
{
	return moon_name_len(query + MOON_HDR_LEN) + 4;
}

enum moon_fwd_verdict moon__fwd_check_reply(const uint8_t *msg, size_t len, const uint8_t *query,
					     size_t qlen, uint16_t *rcode)
{
	if (len < MOON_HDR_LEN || qlen < MOON_HDR_LEN)
		return MOON_FWD_REPLY_MISMATCH;
	uint16_t flags = moon_get_u16(msg + 2);
	if (moon_get_u16(msg) != moon_get_u16(query) || !(flags & MOON_FLAG_QR) ||
	    (flags & OPCODE_MASK) || moon_get_u16(msg + 4) != 1)
		return MOON_FWD_REPLY_MISMATCH;
	/* Nothing precedes the question, so a compliant reply writes it out in
	 * full: comparing bytes checks name (exact case), type and class. */
	size_t ql = question_len(query);
	if (len < MOON_HDR_LEN + ql || memcmp(msg + MOON_HDR_LEN, query + MOON_HDR_LEN, ql) != 0)
		return MOON_FWD_REPLY_MISMATCH;
	*rcode = flags & 0xf;
	if (flags & MOON_FLAG_TC)
		return MOON_FWD_REPLY_TC;
	struct moon_pkt pkt;
	if (moon_pkt_parse(&pkt, msg, len) < 0)
		return MOON_FWD_REPLY_MALFORMED;
	if (pkt.edns.present)
		*rcode = (uint16_t)(*rcode | pkt.edns.ext_rcode << 4);
	return MOON_FWD_REPLY_OK;
}

/* ---- scrubbing ---- */

struct rr {
	uint8_t owner[MOON_NAME_MAXLEN];
	uint16_t type, rclass;
	uint32_t ttl;
	size_t rdoff;
	uint16_t rdlen;
	size_t end;             /* offset after the record */
};

struct chain {
	uint8_t names[MOON_FWD_MAX_CHAIN][MOON_NAME_MAXLEN];
	unsigned n;
};

/*
 * Follows the name at pos (which moon_name_unpack has read, so bounds are
 * good) and returns the offset past the furthest byte it reads, or 0 when
 * it points into the header. Both matter when the reply is passed on with
 * a patched header and its tail cut off: a pointer into the header would
 * then decode to other bytes (no compliant server writes one, so such a
 * reply is refused), and a name may run on into bytes after the records
 * that use it (then the message is rebuilt rather than cut).
 */
static size_t name_reach(const uint8_t *msg, size_t pos)
{
	size_t reach = 0;
	for (;;) {
		uint8_t c = msg[pos];
		size_t end = pos + (c == 0 ? 1 : c < 0xc0 ? 1 + (size_t)c : 2);
		if (end > reach)
			reach = end;
		if (c == 0)
			return reach;
		if (c < 0xc0) {
			pos = end;
			continue;
		}
		pos = (size_t)(c & 0x3f) << 8 | msg[pos + 1];
		if (pos < MOON_HDR_LEN)
			return 0;
	}
}

/* moon_name_unpack, refusing pointers into the header; *reach (if not
 * NULL) grows to cover the bytes the name reads. */
static int read_name(const uint8_t *msg, size_t len, size_t *pos, uint8_t *out, size_t *reach)
{
	size_t start = *pos;
	int n = moon_name_unpack(msg, len, pos, out);
	if (n < 0)
		return MOON_EMALF;
	size_t r = name_reach(msg, start);
	if (r == 0)
		return MOON_EMALF;
	if (reach && r > *reach)
		*reach = r;
	return n;
}

static int read_rr(const uint8_t *msg, size_t len, size_t *pos, struct rr *rr, size_t *reach)
{
	if (read_name(msg, len, pos, rr->owner, reach) < 0 || len - *pos < 10)
		return MOON_EMALF;
	const uint8_t *p = msg + *pos;
	rr->type = moon_get_u16(p);
	rr->rclass = moon_get_u16(p + 2);
	rr->ttl = moon_get_u32(p + 4);
	rr->rdlen = moon_get_u16(p + 8);
	rr->rdoff = *pos + 10;
	if (rr->rdlen > len - rr->rdoff)
		return MOON_EMALF;
	rr->end = *pos = rr->rdoff + rr->rdlen;
	return 0;
}

static bool in_chain(const struct chain *c, const uint8_t *name)
{
	for (unsigned i = 0; i < c->n; i++)
		if (moon_name_equal(c->names[i], name))
			return true;
	return false;
}

/* Reads the CNAME target of rr into out. */
static int cname_target(const uint8_t *msg, const struct rr *rr, uint8_t *out)
{
	size_t p = rr->rdoff;
	/* The name must end inside the RDATA: pass the RDATA end as the
	 * message length for the first label sequence, but pointers may go
	 * back anywhere before it. */
	if (read_name(msg, rr->rdoff + rr->rdlen, &p, out, NULL) < 0 ||
	    p != rr->rdoff + rr->rdlen)
		return MOON_EMALF;
	return 0;
}

/*
 * C starts with the question name; each CNAME owned by a name of C adds
 * its target. CNAMEs may come in any order, so the section is scanned
 * until nothing is added (at most MOON_FWD_MAX_CHAIN times).
 */
static int build_chain(const uint8_t *msg, size_t len, size_t ans_pos, unsigned ancount,
		       struct chain *c)
{
	struct rr rr;
	bool added = true;
	while (added && c->n < MOON_FWD_MAX_CHAIN) {
		added = false;
		size_t pos = ans_pos;
		for (unsigned i = 0; i < ancount && c->n < MOON_FWD_MAX_CHAIN; i++) {
			if (read_rr(msg, len, &pos, &rr, NULL) < 0)
				return MOON_EMALF;
			if (rr.type != MOON_T_CNAME || !in_chain(c, rr.owner))
				continue;
			uint8_t *t = c->names[c->n];
			if (cname_target(msg, &rr, t) < 0)
				return MOON_EMALF;
			if (!in_chain(c, t)) {
				c->n++;
				added = true;
			}
		}
	}
	return 0;
}

/* A DNAME owned inside the zone, strictly above a name of the chain. */
static bool dname_fits(const struct chain *c, const uint8_t *owner, const uint8_t *zone)
{
	if (!moon_name_is_subdomain(owner, zone))
		return false;
	for (unsigned i = 0; i < c->n; i++)
		if (!moon_name_equal(c->names[i], owner) &&
		    moon_name_is_subdomain(c->names[i], owner))
			return true;
	return false;
}

/* An RRSIG over a DNAME goes with the DNAME. */
static bool covers_dname(const uint8_t *msg, const struct rr *rr)
{
	return rr->type == MOON_T_RRSIG && rr->rdlen >= 2 &&
	       moon_get_u16(msg + rr->rdoff) == MOON_T_DNAME;
}

static bool keep(const uint8_t *msg, int sec, const struct rr *rr, const struct chain *c,
		 const uint8_t *zone)
{
	if (rr->type == MOON_T_OPT || rr->type == MOON_T_TSIG)
		return false;
	switch (sec) {
	case MOON_SEC_ANSWER:
		if (rr->type == MOON_T_DNAME || covers_dname(msg, rr))
			return dname_fits(c, rr->owner, zone);
		return in_chain(c, rr->owner);
	case MOON_SEC_AUTHORITY:
		return moon_name_is_subdomain(rr->owner, zone) ||
		       moon_name_is_subdomain(c->names[c->n - 1], rr->owner);
	default:
		return moon_name_is_subdomain(rr->owner, zone) || in_chain(c, rr->owner);
	}
}

/* Copies one name of RDATA at *p (must end by `end`) uncompressed to out. */
static int copy_name(const uint8_t *msg, size_t end, size_t *p, struct moon_wire *out,
		     size_t *reach)
{
	uint8_t name[MOON_NAME_MAXLEN];
	int n = read_name(msg, end, p, name, reach);
	if (n < 0)
		return n;
	moon_wire_put_bytes(out, name, (size_t)n);
	return 0;
}

/* Where the names are in the RDATA of the types RFC 3597 §4 lists as
 * possibly compressed: fixed octets before, names, fixed octets after. */
struct layout {
	uint8_t pre, names;
	bool soa;       /* 20 octets after the names */
	bool naptr;     /* 4 octets and three character-strings before */
};

static bool layout_of(uint16_t type, struct layout *l)
{
	*l = (struct layout){ 0, 1, false, false };
	switch (type) {
	case MOON_T_NS: case MOON_T_CNAME: case MOON_T_PTR: case MOON_T_DNAME:
	case 3: case 4: case 7: case 8: case 9:         /* MD MF MB MG MR */
		return true;
	case 14: case 17:                               /* MINFO RP */
		l->names = 2;
		return true;
	case MOON_T_MX: case 18: case 21:               /* AFSDB RT */
		l->pre = 2;
		return true;
	case 26:                                        /* PX */
		l->pre = 2;
		l->names = 2;
		return true;
	case MOON_T_SRV:
		l->pre = 6;
		return true;
	case MOON_T_SOA:
		l->names = 2;
		l->soa = true;
		return true;
	case MOON_T_NAPTR:
		l->naptr = true;
		return true;
	default:
		return false;
	}
}

/* Largest RDATA with names expanded: NAPTR's fixed part, three strings
 * and a name. */
#define EXPANDED_MAX (4 + 3 * 256 + MOON_NAME_MAXLEN)

/* The RDATA of rr with every name decompressed: points *rd into msg when
 * the type holds no compressible name, else into buf. */
static int expand_rdata(const uint8_t *msg, const struct rr *rr, uint8_t buf[EXPANDED_MAX],
			const uint8_t **rd, size_t *outlen, size_t *reach)
{
	struct layout l;
	size_t end = rr->rdoff + rr->rdlen, p = rr->rdoff;
	if (!layout_of(rr->type, &l)) {
		*rd = msg + p;
		*outlen = rr->rdlen;
		return 0;
	}
	struct moon_wire w;
	moon_wire_init(&w, buf, EXPANDED_MAX);
	*rd = buf;
	size_t pre = l.pre;
	if (l.naptr) {
		pre = 4;
		for (int i = 0; i < 3; i++) {
			if (p + pre >= end)
				return MOON_EMALF;
			pre += 1 + (size_t)msg[p + pre];
		}
	}
	if (pre > rr->rdlen)
		return MOON_EMALF;
	moon_wire_put_bytes(&w, msg + p, pre);
	p += pre;
	for (unsigned i = 0; i < l.names; i++)
		if (copy_name(msg, end, &p, &w, reach) < 0)
			return MOON_EMALF;
	size_t post = l.soa ? 20 : 0;
	if (end - p != post)
		return MOON_EMALF;
	moon_wire_put_bytes(&w, msg + p, post);
	*outlen = moon_wire_offset(&w);
	return w.err;
}

/* Decisions for every record, and whether everything removed sits at the
 * end of the message (then cutting it off is enough). */
struct plan {
	uint16_t counts[3];
	size_t ans_pos;
	size_t keep_end;        /* end of the last record kept */
	bool tail_only;         /* nothing removed before keep_end */
	uint16_t removed;       /* not counting OPT, TSIG */
	uint16_t kept[3];
	bool in_bailiwick;
};

static int make_plan(const uint8_t *msg, size_t len, const uint8_t *zone, const struct chain *c,
		     struct plan *pl)
{
	struct rr rr;
	uint8_t scratch[EXPANDED_MAX];
	const uint8_t *rd;
	size_t rdlen, pos = pl->ans_pos, reach = 0;   /* furthest byte a kept name reads */
	bool gap = false;
	pl->keep_end = pos;
	pl->tail_only = true;
	pl->removed = 0;
	pl->in_bailiwick = true;
	for (int sec = 0; sec < 3; sec++) {
		pl->kept[sec] = 0;
		for (unsigned i = 0; i < pl->counts[sec]; i++) {
			/* Every name is read here, those in RDATA too, so a
			 * reply passed on unchanged has none that is broken. */
			size_t r = 0;
			if (read_rr(msg, len, &pos, &rr, &r) < 0 ||
			    expand_rdata(msg, &rr, scratch, &rd, &rdlen, &r) < 0)
				return MOON_EMALF;
			if (!keep(msg, sec, &rr, c, zone)) {
				gap = true;
				if (rr.type != MOON_T_OPT && rr.type != MOON_T_TSIG)
					pl->removed++;
				continue;
			}
			if (gap)
				pl->tail_only = false;
			pl->kept[sec]++;
			pl->keep_end = rr.end;
			if (r > reach)
				reach = r;
			if (!moon_name_is_subdomain(rr.owner, zone))
				pl->in_bailiwick = false;
		}
	}
	if (reach > pl->keep_end)
		pl->tail_only = false;
	return 0;
}

/* Rebuilds the message from the records the plan keeps. */
static int rebuild(const uint8_t *msg, size_t len, const struct chain *c, const uint8_t *zone,
		   const struct plan *pl, uint8_t *out, size_t cap)
{
	struct moon_pkt q;
	/* Header and question of the reply are those of our query. */
	moon_pkt_parse(&q, msg, len);
	struct moon_pktw w;
	moon_pktw_begin(&w, out, cap, &q);
	uint16_t flags = moon_get_u16(msg + 2);
	moon_pktw_set_flag(&w, MOON_FLAG_AA, flags & MOON_FLAG_AA);
	moon_pktw_set_flag(&w, MOON_FLAG_RA, flags & MOON_FLAG_RA);
	moon_pktw_set_flag(&w, MOON_FLAG_AD, flags & MOON_FLAG_AD);
	moon_pktw_set_flag(&w, MOON_FLAG_TC, flags & MOON_FLAG_TC);
	moon_pktw_set_rcode(&w, flags & 0xf);

	uint8_t buf[EXPANDED_MAX];
	struct rr rr;
	size_t pos = pl->ans_pos;
	for (int sec = 0; sec < 3; sec++) {
		for (unsigned i = 0; i < pl->counts[sec]; i++) {
			if (read_rr(msg, len, &pos, &rr, NULL) < 0)
				return MOON_EMALF;
			if (!keep(msg, sec, &rr, c, zone))
				continue;
			const uint8_t *rd;
			size_t rdlen;
			if (expand_rdata(msg, &rr, buf, &rd, &rdlen, NULL) < 0 ||
			    rdlen > UINT16_MAX)
				return MOON_EMALF;
			int r = moon_pktw_put_rr(&w, sec, rr.owner, rr.type, rr.rclass, rr.ttl,
						 rd, (uint16_t)rdlen);
			if (r == MOON_ESPACE) {
				moon_pktw_truncate(&w);
				return (int)moon_pktw_finish(&w);
			}
			if (r < 0)
				return MOON_EMALF;
		}
	}
	return (int)moon_pktw_finish(&w);
}

int moon__fwd_scrub(const uint8_t *msg, size_t len, const uint8_t *zone, uint8_t *out, size_t cap,
		    struct moon_fwd_scrub *res)
{
	struct moon_pkt q;
	if (moon_pkt_parse(&q, msg, len) < 0 && !(q.question_ok && (q.flags & MOON_FLAG_TC)))
		return MOON_EMALF;
	if (!q.question_ok)
		return MOON_EMALF;
	struct plan pl = {
		.counts = { q.ancount, q.nscount, q.arcount },
		.ans_pos = q.question_end,
	};
	/* A truncated reply's records may be cut: keep header and question. */
	if (q.flags & MOON_FLAG_TC)
		pl.counts[0] = pl.counts[1] = pl.counts[2] = 0;
	struct chain c;
	memcpy(c.names[0], q.qname, q.qname_len);
	c.n = 1;
	if (build_chain(msg, len, pl.ans_pos, pl.counts[0], &c) < 0 ||
	    make_plan(msg, len, zone, &c, &pl) < 0)
		return MOON_EMALF;
	res->removed = pl.removed;
	res->in_bailiwick = pl.in_bailiwick;
	/* Rebuilding also copes with an `out` too small: it truncates. */
	if (!pl.tail_only || pl.keep_end > cap)
		return rebuild(msg, len, &c, zone, &pl, out, cap);
	memcpy(out, msg, pl.keep_end);
	moon_put_u16(out + 6, pl.kept[0]);
	moon_put_u16(out + 8, pl.kept[1]);
	moon_put_u16(out + 10, pl.kept[2]);
	return (int)pl.keep_end;
}

void moon__fwd_patch(uint8_t *msg, size_t len, const struct moon_fwd_client *c)
{
	size_t n = moon_name_len(c->qname);
	if (len < MOON_HDR_LEN + n)
		return;
	moon_put_u16(msg, c->id);
	uint16_t flags = moon_get_u16(msg + 2) & (uint16_t)~MOON_FLAG_RD;
	flags |= c->flags & MOON_FLAG_RD;
	if (!(c->flags & MOON_FLAG_AD) && !c->do_bit)
		flags &= (uint16_t)~MOON_FLAG_AD;
	moon_put_u16(msg + 2, flags);
	memcpy(msg + MOON_HDR_LEN, c->qname, n);
}
