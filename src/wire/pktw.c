#include <string.h>

#include "util/assert.h"
#include "util/err.h"
#include "wire/pkt.h"
#include "wire/wire.h"

/* A pointer holds 14 bits of offset. */
#define COMPR_MAX_OFFSET 0x3fff
/* Offset 0 is the header, where no name lives: it stands for the root. */
#define ROOT_TARGET 0
/* Root owner, TYPE, CLASS, TTL, RDLENGTH. */
#define OPT_FIXED_LEN 11
#define QNAME_PTR 0xc00c
#define OPCODE_MASK 0x7800

/*
 * The compression table holds the offset of every literal label written in
 * an owner or a compressible RDATA name, i.e. of every name suffix present
 * in the message. A suffix entry is followed in the buffer either by the
 * next label (its parent suffix), a pointer to the parent, or the root, so
 * the table is a suffix tree that can be searched one label at a time from
 * the right: cost O(labels * entries) per name, independent of how many
 * bytes the message holds.
 */
static inline void compr_add(struct moon_pktw *w, size_t off)
{
	if (w->ncompr < MOON_COMPR_SLOTS && off <= COMPR_MAX_OFFSET)
		w->compr[w->ncompr++] = (uint16_t)off;
}

static inline size_t compr_parent(const uint8_t *buf, size_t off)
{
	const uint8_t *p = buf + off + 1 + buf[off];
	if (*p >= 0xc0)
		return (size_t)(p[0] & 0x3f) << 8 | p[1];
	return *p ? (size_t)(p - buf) : ROOT_TARGET;
}

static inline bool label_equal(const uint8_t *a, const uint8_t *b)
{
	if (a[0] != b[0])
		return false;
	for (unsigned i = 1; i <= a[0]; i++)
		if (moon_name_lower(a[i]) != moon_name_lower(b[i]))
			return false;
	return true;
}

static size_t compr_find(const struct moon_pktw *w, const uint8_t *label, size_t parent)
{
	for (unsigned e = 0; e < w->ncompr; e++) {
		size_t off = w->compr[e];
		if (label_equal(w->buf + off, label) && compr_parent(w->buf, off) == parent)
			return off;
	}
	return ROOT_TARGET;
}

/* Writes name compressed against the table and records its new suffixes. */
static int put_name(struct moon_pktw *w, const uint8_t *name, size_t cap)
{
	uint8_t off[MOON_NAME_MAXLABELS];
	unsigned k = 0;
	const uint8_t *p = name;
	for (; *p; p += 1 + *p)
		off[k++] = (uint8_t)(p - name);

	size_t target = ROOT_TARGET;
	unsigned j = k;         /* labels name[0..j) are not in the message yet */
	while (j > 0) {
		size_t found = compr_find(w, name + off[j - 1], target);
		if (found == ROOT_TARGET)
			break;
		target = found;
		j--;
	}
	size_t prefix = j < k ? off[j] : (size_t)(p - name);
	size_t need = prefix + (target != ROOT_TARGET ? 2 : 1);
	if (w->len + need > cap)
		return MOON_ESPACE;
	uint8_t *dst = w->buf + w->len;
	memcpy(dst, name, prefix);
	if (target != ROOT_TARGET)
		moon_put_u16(dst + prefix, (uint16_t)(0xc000 | target));
	else
		dst[prefix] = 0;
	for (unsigned i = 0; i < j; i++)
		compr_add(w, w->len + off[i]);
	w->len += need;
	return 0;
}

static int put_bytes(struct moon_pktw *w, const void *src, size_t n, size_t cap)
{
	if (w->len + n > cap)
		return MOON_ESPACE;
	if (n)  /* src may be NULL for empty RDATA */
		memcpy(w->buf + w->len, src, n);
	w->len += n;
	return 0;
}

/* Length of a well-formed uncompressed name in rd[0..avail), or 0. RDATA
 * may come from policies, so its layout is checked before it is parsed. */
static size_t rdata_name_len(const uint8_t *rd, size_t avail)
{
	size_t n = 0;
	while (n < avail && n < MOON_NAME_MAXLEN) {
		uint8_t c = rd[n];
		if (c == 0)
			return n + 1;
		if (c > MOON_LABEL_MAXLEN)
			return 0;
		n += 1 + (size_t)c;
	}
	return 0;
}

/* RDATA of the types RFC 3597 §4 lets us compress: NS, CNAME, PTR (a name),
 * MX (16 bits and a name), SOA (two names and 20 bytes). */
static int put_rdata_names(struct moon_pktw *w, uint16_t type, const uint8_t *rd,
			   uint16_t rdlen, size_t cap)
{
	size_t pre = type == MOON_T_MX ? 2 : 0;
	size_t post = type == MOON_T_SOA ? 20 : 0;
	if (rdlen < pre + 1 + post)
		return put_bytes(w, rd, rdlen, cap);
	size_t n1 = rdata_name_len(rd + pre, rdlen - pre - post);
	size_t n2 = 0;
	if (n1 && type == MOON_T_SOA)
		n2 = rdata_name_len(rd + n1, rdlen - n1 - post);
	if (!n1 || pre + n1 + n2 + post != rdlen || (type == MOON_T_SOA && !n2))
		return put_bytes(w, rd, rdlen, cap);

	int r = put_bytes(w, rd, pre, cap);
	if (!r)
		r = put_name(w, rd + pre, cap);
	if (!r && n2)
		r = put_name(w, rd + n1, cap);
	if (!r)
		r = put_bytes(w, rd + rdlen - post, post, cap);
	return r;
}

/* How the owner of the records being put was written, so that the second
 * and later records of a set repeat it as one pointer. */
struct owner {
	const uint8_t *name;    /* NULL: the question name */
	size_t off;
	size_t len;             /* 0 until the first record is written */
};

static int put_owner(struct moon_pktw *w, struct owner *o, size_t cap)
{
	size_t start = w->len;
	if (o->len == 0) {
		int r;
		if (o->name) {
			r = put_name(w, o->name, cap);
		} else if (w->len + 2 > cap) {
			r = MOON_ESPACE;
		} else {
			moon_put_u16(w->buf + w->len, QNAME_PTR);
			w->len += 2;
			r = 0;
		}
		o->off = start;
		o->len = w->len - start;
		return r;
	}
	if (o->len <= 2 || o->off > COMPR_MAX_OFFSET)
		return put_bytes(w, w->buf + o->off, o->len, cap);
	if (w->len + 2 > cap)
		return MOON_ESPACE;
	moon_put_u16(w->buf + w->len, (uint16_t)(0xc000 | o->off));
	w->len += 2;
	return 0;
}

static int put_record(struct moon_pktw *w, struct owner *o, uint16_t type, uint16_t rclass,
		      uint32_t ttl, const uint8_t *rdata, uint16_t rdlen, size_t cap)
{
	int r = put_owner(w, o, cap);
	if (r < 0)
		return r;
	if (w->len + 10 > cap)
		return MOON_ESPACE;
	uint8_t *p = w->buf + w->len;
	moon_put_u16(p, type);
	moon_put_u16(p + 2, rclass);
	p[4] = (uint8_t)(ttl >> 24);
	p[5] = (uint8_t)(ttl >> 16);
	p[6] = (uint8_t)(ttl >> 8);
	p[7] = (uint8_t)ttl;
	w->len += 10;
	size_t rdstart = w->len;
	switch (type) {
	case MOON_T_NS: case MOON_T_CNAME: case MOON_T_PTR: case MOON_T_MX: case MOON_T_SOA:
		r = put_rdata_names(w, type, rdata, rdlen, cap);
		break;
	default:
		r = put_bytes(w, rdata, rdlen, cap);
	}
	moon_put_u16(p + 8, (uint16_t)(w->len - rdstart));
	return r;
}

/* Where a put began: what a failed put rolls the message back to. */
struct put_mark {
	size_t cap;             /* where records may end */
	size_t len;
	uint16_t ncompr;
};

/* Checks the section order and the owner, and marks where the put begins. */
static inline int put_start(struct moon_pktw *w, int section, const uint8_t *owner,
			    struct put_mark *m)
{
	if (section < w->section || section > MOON_SEC_ADDITIONAL)
		return -EINVAL;
	if (!owner && w->question_end == MOON_HDR_LEN)
		return -EINVAL;
	m->cap = w->limit - w->reserve;
	m->len = w->len;
	m->ncompr = w->ncompr;
	return 0;
}

/* Counts n records in section, or when r is an error drops every byte and
 * compression entry written since put_start(), so a put is all or nothing. */
static inline int put_end(struct moon_pktw *w, const struct put_mark *m, int section,
			  uint16_t n, int r)
{
	if (r < 0) {
		w->len = m->len;
		w->ncompr = m->ncompr;
		return r;
	}
	w->section = section;
	w->counts[section] = (uint16_t)(w->counts[section] + n);
	return 0;
}

int moon_pktw_put_rr(struct moon_pktw *w, int section, const uint8_t *owner, uint16_t type,
		     uint16_t rclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	struct put_mark m;
	int r = put_start(w, section, owner, &m);
	if (r < 0)
		return r;
	struct owner o = { .name = owner };
	r = put_record(w, &o, type, rclass, ttl, rdata, rdlen, m.cap);
	return put_end(w, &m, section, 1, r);
}

int moon_pktw_put_rrset(struct moon_pktw *w, int section, const uint8_t *owner,
			const struct moon_rrset *rs)
{
	struct put_mark m;
	int r = put_start(w, section, owner, &m);
	if (r < 0)
		return r;
	struct owner o = { .name = owner };
	const uint8_t *rd = rs->rdata;
	for (uint16_t i = 0; i < rs->count; i++, rd = moon_rdata_next(rd)) {
		r = put_record(w, &o, rs->type, MOON_CLASS_IN, rs->ttl, moon_rdata_data(rd),
			       moon_rdata_len(rd), m.cap);
		if (r < 0)
			break;
	}
	return put_end(w, &m, section, rs->count, r);
}

static void put_question(struct moon_pktw *w, const struct moon_pkt *q)
{
	uint8_t *p = w->buf + MOON_HDR_LEN;
	memcpy(p, q->qname, q->qname_len);
	moon_put_u16(p + q->qname_len, q->qtype);
	moon_put_u16(p + q->qname_len + 2, q->qclass);
	for (const uint8_t *l = p; *l; l += 1 + *l)
		compr_add(w, (size_t)(l - w->buf));
	w->len = MOON_HDR_LEN + q->qname_len + 4u;
}

void moon_pktw_begin(struct moon_pktw *w, uint8_t *buf, size_t limit, const struct moon_pkt *q)
{
	moon_require(limit >= MOON_HDR_LEN);
	w->buf = buf;
	w->limit = limit > MOON_MAX_MSG ? MOON_MAX_MSG : limit;
	w->len = MOON_HDR_LEN;
	w->reserve = 0;
	w->counts[0] = w->counts[1] = w->counts[2] = 0;
	w->section = MOON_SEC_ANSWER;
	w->ncompr = 0;
	w->has_opt = false;
	w->opt_do = false;
	w->opt_payload = 0;
	w->opt_ext_rcode = 0;
	w->opt_data_len = 0;

	uint16_t id = 0, flags = MOON_FLAG_QR, qdcount = 0;
	if (q && q->header_ok) {
		id = q->id;
		flags |= q->flags & (OPCODE_MASK | MOON_FLAG_RD | MOON_FLAG_CD);
	}
	if (q && q->header_ok && q->question_ok &&
	    MOON_HDR_LEN + q->qname_len + 4u <= w->limit) {
		put_question(w, q);
		qdcount = 1;
	}
	moon_put_u16(buf, id);
	moon_put_u16(buf + 2, flags);
	moon_put_u16(buf + 4, qdcount);
	memset(buf + 6, 0, 6);
	w->question_end = (uint16_t)w->len;
	w->ncompr_question = w->ncompr;
}

void moon_pktw_set_flag(struct moon_pktw *w, uint16_t flag, bool on)
{
	uint16_t f = moon_get_u16(w->buf + 2);
	moon_put_u16(w->buf + 2, on ? (uint16_t)(f | flag) : (uint16_t)(f & ~flag));
}

void moon_pktw_set_rcode(struct moon_pktw *w, uint16_t rcode)
{
	w->buf[3] = (uint8_t)((w->buf[3] & 0xf0) | (rcode & 0xf));
	w->opt_ext_rcode = (uint16_t)(rcode >> 4 & 0xff);
}

void moon_pktw_add_opt(struct moon_pktw *w, uint16_t payload, bool do_bit)
{
	if (!w->has_opt) {
		size_t need = OPT_FIXED_LEN + (size_t)w->opt_data_len;
		if (w->len + need > w->limit)
			return;
		w->has_opt = true;
		w->reserve = need;
	}
	w->opt_payload = payload;
	w->opt_do = do_bit;
}

int moon_pktw_add_opt_option(struct moon_pktw *w, uint16_t code, const void *data, uint16_t len)
{
	if (!w->has_opt)
		return -EINVAL;
	size_t add = 4 + (size_t)len;
	if (w->opt_data_len + add > sizeof(w->opt_data) || w->len + w->reserve + add > w->limit)
		return MOON_ESPACE;
	uint8_t *p = w->opt_data + w->opt_data_len;
	moon_put_u16(p, code);
	moon_put_u16(p + 2, len);
	if (len)
		memcpy(p + 4, data, len);
	w->opt_data_len = (uint16_t)(w->opt_data_len + add);
	w->reserve += add;
	return 0;
}

void moon_pktw_truncate(struct moon_pktw *w)
{
	w->len = w->question_end;
	w->ncompr = w->ncompr_question;
	w->counts[0] = w->counts[1] = w->counts[2] = 0;
	w->section = MOON_SEC_ANSWER;
	moon_pktw_set_flag(w, MOON_FLAG_TC, true);
}

size_t moon_pktw_finish(struct moon_pktw *w)
{
	uint16_t arcount = w->counts[MOON_SEC_ADDITIONAL];
	if (w->has_opt) {
		uint8_t *p = w->buf + w->len;
		p[0] = 0;
		moon_put_u16(p + 1, MOON_T_OPT);
		moon_put_u16(p + 3, w->opt_payload);
		p[5] = (uint8_t)w->opt_ext_rcode;
		p[6] = 0;       /* EDNS version */
		moon_put_u16(p + 7, w->opt_do ? MOON_EDNS_FLAG_DO : 0);
		moon_put_u16(p + 9, w->opt_data_len);
		memcpy(p + OPT_FIXED_LEN, w->opt_data, w->opt_data_len);
		w->len += OPT_FIXED_LEN + (size_t)w->opt_data_len;
		arcount++;
	} else if (w->opt_ext_rcode) {
		moon_pktw_set_rcode(w, MOON_RCODE_SERVFAIL);
	}
	moon_put_u16(w->buf + 6, w->counts[MOON_SEC_ANSWER]);
	moon_put_u16(w->buf + 8, w->counts[MOON_SEC_AUTHORITY]);
	moon_put_u16(w->buf + 10, arcount);
	return w->len;
}
