/*
 * FFI functions of q (the query), q.meta, and the replies policies make.
 */
#include <arpa/inet.h>
#include <string.h>

#include "bridge/internal.h"
#include "query/query.h"
#include "server/gen.h"
#include "util/err.h"
#include "wire/wire.h"
#include "zone/zone.h"

/* The query of the running hook, or NULL (then the caller returns
 * MOON_FFI_ENOQUERY). */
static struct moon_query *query_of(struct moon_ffi_req *r)
{
	return r->q_;
}

static int put_buf(struct moon_ffi_req *r, const void *data, size_t len)
{
	if (len > MOON_FFI_BUF)
		return MOON_ESPACE;
	memcpy(r->buf_, data, len);
	return (int)len;
}

int moon_ffi_q_name(struct moon_ffi_req *r, int which)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	if (which == 2) {
		const char *block = moon__bridge_of(r)->block;
		return put_buf(r, block, strlen(block));
	}
	const uint8_t *name = which == 1 ? q->pkt.qname : moon_query_qname(q);
	return moon_name_to_text(name, (char *)r->buf_, MOON_FFI_BUF);
}

int moon_ffi_q_orig_type(struct moon_ffi_req *r)
{
	struct moon_query *q = query_of(r);
	return q ? q->pkt.qtype : MOON_FFI_ENOQUERY;
}

int moon_ffi_q_addr(struct moon_ffi_req *r, int which)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	const struct sockaddr *sa = which ? q->server : q->client;
	const void *addr;
	if (sa && sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return -1;
	if (!inet_ntop(sa->sa_family, addr, (char *)r->buf_, INET6_ADDRSTRLEN))
		return -1;
	return (int)strlen((char *)r->buf_);
}

int moon_ffi_q_addr_raw(struct moon_ffi_req *r, int which)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	const struct sockaddr *sa = which ? q->server : q->client;
	if (sa && sa->sa_family == AF_INET)
		return put_buf(r, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	if (sa && sa->sa_family == AF_INET6)
		return put_buf(r, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	return -1;
}

/* Offset in q->edns_set of the option `code` a policy set, or -1. */
static int set_find(const struct moon_query *q, uint16_t code)
{
	for (size_t pos = 0; pos + 4 <= q->edns_set_len;
	     pos += 4u + moon_get_u16(q->edns_set + pos + 2))
		if (moon_get_u16(q->edns_set + pos) == code)
			return (int)pos;
	return -1;
}

static bool removed(const struct moon_query *q, uint16_t code)
{
	for (unsigned i = 0; i < q->edns_nrm; i++)
		if (q->edns_rm[i] == code)
			return true;
	return false;
}

int moon_ffi_q_edns_opt(struct moon_ffi_req *r, int code)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	if (code < 0 || code > 65535)
		return -1;
	int at = set_find(q, (uint16_t)code);
	if (at >= 0)
		return put_buf(r, q->edns_set + at + 4, moon_get_u16(q->edns_set + at + 2));
	if (removed(q, (uint16_t)code))
		return -1;
	const uint8_t *data;
	int len = moon_pkt_edns_option(&q->pkt, (uint16_t)code, &data);
	return len < 0 ? -1 : put_buf(r, data, (size_t)len);
}

int moon_ffi_q_edns_opt_at(struct moon_ffi_req *r, int i, int *code)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	const struct moon_edns *e = &q->pkt.edns;
	/* The parser checked the option list's layout. */
	size_t pos = 0;
	for (int k = 0; e->present && pos + 4 <= e->options_len; k++) {
		uint16_t len = moon_get_u16(e->options + pos + 2);
		if (pos + 4 + len > e->options_len)
			break;
		if (k == i) {
			*code = moon_get_u16(e->options + pos);
			return put_buf(r, e->options + pos + 4, len);
		}
		pos += 4u + len;
	}
	return -1;
}

int moon_ffi_q_rewrite(struct moon_ffi_req *r, const char *name, size_t len, int qtype,
		       int qclass)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	if (r->stage_ != MOON_FFI_STAGE_QUERY)
		return MOON_FFI_ECONTEXT;
	if (qtype > 65535 || qclass > 65535)
		return -EINVAL;
	uint8_t wire[MOON_NAME_MAXLEN];
	int wlen = moon_query_qname_len(q);
	memcpy(wire, moon_query_qname(q), (size_t)wlen);
	if (name) {
		/* Names are absolute whether or not they end in a dot. */
		char text[MOON_NAME_TEXT_MAXLEN + 1];
		if (len == 0 || len >= MOON_NAME_TEXT_MAXLEN)
			return MOON_ESYNTAX;
		memcpy(text, name, len);
		if (text[len - 1] != '.' || (len >= 2 && text[len - 2] == '\\'))
			text[len++] = '.';
		text[len] = 0;
		wlen = moon_name_from_text(text, NULL, wire);
		if (wlen < 0)
			return wlen;
		moon_name_tolower(wire, wire);
	}
	q->rw_qtype = qtype >= 0 ? (uint16_t)qtype : moon_query_qtype(q);
	q->rw_qclass = qclass >= 0 ? (uint16_t)qclass : moon_query_qclass(q);
	memcpy(q->rw_qname, wire, (size_t)wlen);
	q->rw_qname_len = (uint8_t)wlen;
	q->rewritten = true;
	r->type = q->rw_qtype;
	r->class = q->rw_qclass;
	r->rewritten = true;
	return 0;
}

/* Forgets what was set or removed for code. */
static void edit_forget(struct moon_query *q, uint16_t code)
{
	int at = set_find(q, code);
	if (at >= 0) {
		size_t len = 4u + moon_get_u16(q->edns_set + at + 2);
		memmove(q->edns_set + at, q->edns_set + at + len, q->edns_set_len - at - len);
		q->edns_set_len = (uint16_t)(q->edns_set_len - len);
		q->edns_nset--;
	}
	for (unsigned i = 0; i < q->edns_nrm; i++)
		if (q->edns_rm[i] == code) {
			q->edns_rm[i] = q->edns_rm[--q->edns_nrm];
			break;
		}
}

int moon_ffi_q_set_edns_opt(struct moon_ffi_req *r, int code, const char *data, size_t len)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	if (r->stage_ != MOON_FFI_STAGE_QUERY)
		return MOON_FFI_ECONTEXT;
	if (code < 0 || code > 65535)
		return -EINVAL;
	edit_forget(q, (uint16_t)code);
	if (!data) {
		if (q->edns_nrm == MOON_QUERY_EDNS_EDITS)
			return MOON_ELIMIT;
		q->edns_rm[q->edns_nrm++] = (uint16_t)code;
	} else {
		if (q->edns_nset == MOON_QUERY_EDNS_EDITS ||
		    len + 4u > (size_t)(MOON_QUERY_EDNS_BYTES - q->edns_set_len))
			return MOON_ELIMIT;
		uint8_t *p = q->edns_set + q->edns_set_len;
		moon_put_u16(p, (uint16_t)code);
		moon_put_u16(p + 2, (uint16_t)len);
		memcpy(p + 4, data, len);
		q->edns_set_len = (uint16_t)(q->edns_set_len + 4 + len);
		q->edns_nset++;
	}
	/* The options may change the answer, and they are not in the key. */
	q->nocache = true;
	return 0;
}

void moon_ffi_q_nocache(struct moon_ffi_req *r)
{
	struct moon_query *q = query_of(r);
	if (q)
		q->nocache = true;
}

int moon_ffi_meta_get(struct moon_ffi_req *r, const char *key, size_t klen)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	size_t vlen;
	const char *v = moon_meta_get(&q->meta, key, klen, &vlen);
	return v ? put_buf(r, v, vlen) : -1;
}

int moon_ffi_meta_set(struct moon_ffi_req *r, const char *key, size_t klen, const char *val,
		      size_t vlen)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	if (r->stage_ == MOON_FFI_STAGE_LOG)
		return MOON_FFI_ECONTEXT;
	if (!val) {
		moon_meta_del(&q->meta, key, klen);
		return 0;
	}
	return moon_meta_set(&q->meta, key, klen, val, vlen);
}

int moon_ffi_meta_count(struct moon_ffi_req *r)
{
	struct moon_query *q = query_of(r);
	return q ? q->meta.n : MOON_FFI_ENOQUERY;
}

int moon_ffi_meta_key(struct moon_ffi_req *r, int i)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	if (i < 0 || i >= q->meta.n)
		return -1;
	size_t len;
	const char *k = moon_meta_key(&q->meta, (unsigned)i, &len);
	return put_buf(r, k, len);
}

int moon_ffi_meta_value(struct moon_ffi_req *r, int i)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	if (i < 0 || i >= q->meta.n)
		return -1;
	size_t len;
	const char *v = moon_meta_value(&q->meta, (unsigned)i, &len);
	return put_buf(r, v, len);
}

/* --- replies made by policies --- */

void moon__bridge_put_ede(struct moon_pktw *w, int code, const char *text, size_t len)
{
	if (!w->has_opt || code < 0 || code > 65535)
		return;
	uint8_t data[2 + sizeof(w->opt_data)];
	moon_put_u16(data, (uint16_t)code);
	/* The OPT record's option space is small: shorten the text until the
	 * option fits, down to the bare code. */
	if (len > sizeof(w->opt_data))
		len = sizeof(w->opt_data);
	for (;; len /= 2) {
		if (len)
			memcpy(data + 2, text, len);
		if (moon_pktw_add_opt_option(w, MOON_EDNS_EDE, data, (uint16_t)(2 + len)) == 0 ||
		    len == 0)
			return;
	}
}

void moon__bridge_reply_begin(struct moon_bridge *b, struct moon_query *q, int rcode)
{
	q->begin_reply(q, &b->rw, b->reply);
	b->rw_open = true;
	b->reply_rcode = (uint16_t)rcode;
	b->rw_section = MOON_SEC_ANSWER;
	b->reply_len = 0;
}

static int reply_check(struct moon_ffi_req *r, struct moon_query **q)
{
	*q = query_of(r);
	if (!*q)
		return MOON_FFI_ENOQUERY;
	if (r->stage_ == MOON_FFI_STAGE_LOG)
		return MOON_FFI_ECONTEXT;
	return moon__bridge_of(r)->rw_open ? 0 : -EINVAL;
}

int moon_ffi_reply_begin(struct moon_ffi_req *r, int rcode, bool aa)
{
	struct moon_query *q = query_of(r);
	if (!q)
		return MOON_FFI_ENOQUERY;
	if (r->stage_ == MOON_FFI_STAGE_LOG)
		return MOON_FFI_ECONTEXT;
	if (rcode < 0 || rcode > 4095)
		return -EINVAL;
	struct moon_bridge *b = moon__bridge_of(r);
	moon__bridge_reply_begin(b, q, rcode);
	moon_pktw_set_flag(&b->rw, MOON_FLAG_AA, aa);
	return 0;
}

struct reply_put {
	struct moon_bridge *b;
	struct moon_query *q;
	int section;
};

static int reply_put(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl,
		     const uint8_t *rdata, uint16_t rdlen)
{
	struct reply_put *c = arg;
	struct moon_pktw *w = &c->b->rw;
	/* The question name as a pointer: the client gets its own spelling. */
	if (moon_name_equal(owner, c->q->pkt.qname) && w->question_end > MOON_HDR_LEN)
		owner = NULL;
	int ret = moon_pktw_put_rr(w, c->section, owner, type, MOON_CLASS_IN, ttl, rdata, rdlen);
	if (ret == MOON_ESPACE && c->section < MOON_SEC_ADDITIONAL) {
		moon_pktw_truncate(w);
		c->b->rw_section = 3;   /* nothing more goes in */
		return 0;
	}
	return ret == MOON_ESPACE ? 0 : ret;
}

int moon_ffi_reply_rr(struct moon_ffi_req *r, int section, const char *text, size_t len)
{
	struct moon_query *q;
	int ret = reply_check(r, &q);
	if (ret)
		return ret;
	struct moon_bridge *b = moon__bridge_of(r);
	if (section < b->rw_section) {
		if (b->rw_section == 3)
			return 0;       /* truncated: the rest is dropped */
		return -EINVAL;
	}
	if (section > MOON_SEC_ADDITIONAL)
		return -EINVAL;
	b->rw_section = section;
	struct reply_put c = { .b = b, .q = q, .section = section };
	ret = moon_rrtext_parse(b->rt, text, len, q->pkt.qname, 60, reply_put, &c,
				(char *)r->buf_, MOON_FFI_BUF);
	return ret < 0 ? ret : 0;
}

/* The block's zone enclosing the name being resolved (after a rewrite), or
 * NULL. Outside a server (the test harness) there is no block: q->zone,
 * set by the harness, stands for the block's one zone. */
static const struct moon_zone *zone_of(const struct moon_query *q)
{
	const uint8_t *qname = moon_query_qname(q);
	if (q->block) {
		const struct moon_gen_zone *gz = moon_gen_block_zone(q->block, qname,
								     moon_query_qname_len(q));
		return gz ? gz->zone : NULL;
	}
	if (q->zone && moon_name_is_subdomain(qname, moon_zone_origin(q->zone)))
		return q->zone;
	return NULL;
}

int moon_ffi_reply_soa(struct moon_ffi_req *r, bool aa)
{
	struct moon_query *q;
	int ret = reply_check(r, &q);
	if (ret)
		return ret;
	const struct moon_zone *z = zone_of(q);
	if (!z)
		return 0;
	struct moon_bridge *b = moon__bridge_of(r);
	if (b->rw_section > MOON_SEC_AUTHORITY)
		return b->rw_section == 3 ? 0 : -EINVAL;
	b->rw_section = MOON_SEC_AUTHORITY;
	/* Without the zone's NSEC proofs an RRSIG would not validate anyway:
	 * policy answers carry no DNSSEC records. */
	ret = moon_pktw_put_rrset(&b->rw, MOON_SEC_AUTHORITY, moon_zone_origin(z),
				  moon_zone_neg_soa(z));
	if (ret == MOON_ESPACE) {
		moon_pktw_truncate(&b->rw);
		b->rw_section = 3;
		return 0;
	}
	if (ret < 0)
		return ret;
	if (aa)
		moon_pktw_set_flag(&b->rw, MOON_FLAG_AA, true);
	return 1;
}

int moon_ffi_reply_ede(struct moon_ffi_req *r, int code, const char *text, size_t len)
{
	struct moon_query *q;
	int ret = reply_check(r, &q);
	if (ret)
		return ret;
	moon__bridge_put_ede(&moon__bridge_of(r)->rw, code, text, len);
	return 0;
}

int moon_ffi_reply_end(struct moon_ffi_req *r)
{
	struct moon_query *q;
	int ret = reply_check(r, &q);
	if (ret)
		return ret;
	struct moon_bridge *b = moon__bridge_of(r);
	moon_pktw_set_rcode(&b->rw, b->reply_rcode);
	b->reply_len = (uint32_t)moon_pktw_finish(&b->rw);
	b->rw_open = false;
	return 0;
}

enum moon_verdict moon__bridge_install(struct moon_bridge *b, struct moon_query *q, int code)
{
	switch (code) {
	case MOON_CODE_CONTINUE:
		return MOON_VERDICT_CONTINUE;
	case MOON_CODE_DROP:
		return MOON_VERDICT_DROP;
	case MOON_CODE_ANSWER:
		if (b->reply_len)
			break;
		code = MOON_CODE_SERVFAIL;      /* the dispatcher promised a reply */
		/* fall through */
	default:
		moon__bridge_reply_begin(b, q, code == MOON_CODE_REFUSE ? MOON_RCODE_REFUSED :
					 MOON_RCODE_SERVFAIL);
		moon_pktw_set_rcode(&b->rw, b->reply_rcode);
		b->reply_len = (uint32_t)moon_pktw_finish(&b->rw);
		b->rw_open = false;
	}
	memcpy(q->resp, b->reply, b->reply_len);
	q->resp_len = b->reply_len;
	q->rcode = b->reply_rcode;
	q->source = MOON_SOURCE_POLICY;
	return MOON_VERDICT_ANSWER;
}
