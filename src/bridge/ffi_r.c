/*
 * FFI functions of r (the response) and the rewrite of an edited response.
 */
#include <arpa/inet.h>
#include <string.h>

#include "bridge/internal.h"
#include "query/query.h"
#include "util/err.h"
#include "wire/wire.h"

/* Checks that a response exists (RESPONSE or LOG stage) and, for edits,
 * that we are in the RESPONSE stage. */
static int r_check(struct moon_ffi_req *r, bool edit)
{
	if (!r->q_)
		return MOON_FFI_ENOQUERY;
	if (r->stage_ == MOON_FFI_STAGE_QUERY || (edit && r->stage_ != MOON_FFI_STAGE_RESPONSE))
		return MOON_FFI_ECONTEXT;
	return 0;
}

/* After any change of the record list, Lua's view follows. */
static void sync(struct moon_ffi_req *r, const struct moon_redit *e)
{
	memcpy(r->sec_, e->sec, sizeof(r->sec_));
	r->nrr_ = (int32_t)e->n;
}

int moon_ffi_r_parse(struct moon_ffi_req *r)
{
	int ret = r_check(r, false);
	if (ret)
		return ret;
	struct moon_redit *e = &moon__bridge_of(r)->edit;
	ret = moon_redit_parse(e);
	if (ret >= 0)
		sync(r, e);
	return ret;
}

static int record_check(struct moon_ffi_req *r, int i, bool edit)
{
	int ret = r_check(r, edit);
	if (ret)
		return ret;
	return i < 0 || i >= r->nrr_ ? -EINVAL : 0;
}

int moon_ffi_rr_name(struct moon_ffi_req *r, int i)
{
	int ret = record_check(r, i, false);
	if (ret)
		return ret;
	uint8_t name[MOON_NAME_MAXLEN];
	ret = moon_redit_owner(&moon__bridge_of(r)->edit, i, name);
	if (ret < 0)
		return ret;
	return moon_name_to_text(name, (char *)r->buf_, MOON_FFI_BUF);
}

int moon_ffi_rr_raw(struct moon_ffi_req *r, int i)
{
	int ret = record_check(r, i, false);
	if (ret)
		return ret;
	return moon_redit_rdata(&moon__bridge_of(r)->edit, i, r->buf_, MOON_FFI_BUF);
}

int moon_ffi_rr_rdata(struct moon_ffi_req *r, int i)
{
	struct moon_bridge *b = moon__bridge_of(r);
	int len = moon_ffi_rr_raw(r, i);
	if (len < 0)
		return len;
	/* The raw RDATA is in buf_; the text goes there too. */
	memcpy(b->edit.tmp, r->buf_, (size_t)len);
	return moon_rdata_to_text(r->rr_[i].type, b->edit.tmp, (uint16_t)len, (char *)r->buf_,
				  MOON_FFI_BUF);
}

int moon_ffi_rr_ip(struct moon_ffi_req *r, int i)
{
	int ret = record_check(r, i, false);
	if (ret)
		return ret;
	uint16_t type = r->rr_[i].type;
	uint8_t addr[16];
	int len = moon_redit_rdata(&moon__bridge_of(r)->edit, i, addr, sizeof(addr));
	if ((type == MOON_T_A && len == 4) || (type == MOON_T_AAAA && len == 16)) {
		inet_ntop(len == 4 ? AF_INET : AF_INET6, addr, (char *)r->buf_, INET6_ADDRSTRLEN);
		return (int)strlen((char *)r->buf_);
	}
	return -1;
}

int moon_ffi_r_remove(struct moon_ffi_req *r, int i, bool filtered)
{
	int ret = record_check(r, i, true);
	if (ret)
		return ret;
	struct moon_redit *e = &moon__bridge_of(r)->edit;
	if (filtered && !e->rr[i].removed)
		e->filtered = true;
	return moon_redit_remove(e, i);
}

struct r_add {
	struct moon_redit *e;
	int section;
	int pos;                        /* where the next record goes, -1 = section end */
	int first;
};

static int add_one(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl,
		   const uint8_t *rdata, uint16_t rdlen)
{
	struct r_add *c = arg;
	int i = moon_redit_add(c->e, c->section, owner, type, ttl, rdata, rdlen, c->pos);
	if (i < 0)
		return i;
	if (c->first < 0)
		c->first = i;
	if (c->pos >= 0)
		c->pos++;
	return 0;
}

int moon_ffi_r_add(struct moon_ffi_req *r, int section, const char *text, size_t len, int at)
{
	int ret = r_check(r, true);
	if (ret)
		return ret;
	struct moon_bridge *b = moon__bridge_of(r);
	struct moon_redit *e = &b->edit;
	ret = moon_redit_parse(e);
	if (ret < 0)
		return ret;
	struct r_add c = { .e = e, .section = section, .pos = -1, .first = -1 };
	if (at >= 0) {
		if ((uint32_t)at >= e->n)
			return -EINVAL;
		c.section = e->rr[at].section;
		c.pos = moon_redit_pos(e, at);
	} else if (section < 0 || section > MOON_SEC_ADDITIONAL) {
		return -EINVAL;
	}
	ret = moon_rrtext_parse(b->rt, text, len, r->q_->pkt.qname, 60, add_one, &c,
				(char *)r->buf_, MOON_FFI_BUF);
	if (ret < 0) {
		sync(r, e);
		return ret;
	}
	if (at >= 0)
		moon_redit_remove(e, at);
	sync(r, e);
	return c.first;
}

int moon_ffi_r_set_ttl(struct moon_ffi_req *r, int i, uint32_t ttl)
{
	int ret = record_check(r, i, true);
	if (ret)
		return ret;
	return moon_redit_set_ttl(&moon__bridge_of(r)->edit, i, ttl);
}

int moon_ffi_r_clamp_ttl(struct moon_ffi_req *r, uint32_t min, uint32_t max)
{
	int ret = r_check(r, true);
	if (ret)
		return ret;
	struct moon_redit *e = &moon__bridge_of(r)->edit;
	ret = moon_redit_parse(e);
	if (ret < 0)
		return ret;
	sync(r, e);
	for (uint32_t i = 0; i < e->n; i++) {
		uint32_t ttl = e->rr[i].ttl;
		uint32_t t = ttl < min ? min : ttl > max ? max : ttl;
		if (t != ttl)
			moon_redit_set_ttl(e, (int)i, t);
	}
	return 0;
}

int moon_ffi_r_shuffle(struct moon_ffi_req *r, int section, const uint16_t *types, int ntypes)
{
	int ret = r_check(r, true);
	if (ret)
		return ret;
	struct moon_redit *e = &moon__bridge_of(r)->edit;
	ret = moon_redit_parse(e);
	if (ret < 0)
		return ret;
	if (section > MOON_SEC_ADDITIONAL)
		return -EINVAL;
	moon_redit_shuffle(e, section, types, ntypes);
	sync(r, e);
	return 0;
}

int moon_ffi_r_reorder(struct moon_ffi_req *r, const int32_t *idx, int n)
{
	int ret = r_check(r, true);
	if (ret)
		return ret;
	struct moon_redit *e = &moon__bridge_of(r)->edit;
	ret = moon_redit_parse(e);
	if (ret < 0)
		return ret;
	return moon_redit_reorder(e, idx, n);
}

int moon_ffi_r_policy(struct moon_ffi_req *r)
{
	struct moon_bridge *b = moon__bridge_of(r);
	if (!r->q_)
		return MOON_FFI_ENOQUERY;
	int idx = r->q_->answered_by - 1;
	if (idx < 0 || (size_t)idx >= b->npol)
		return -1;
	const char *name = b->pol[idx].conf->name;
	size_t len = strlen(name);
	memcpy(r->buf_, name, len);
	return (int)len;
}

int moon_ffi_r_set_rcode(struct moon_ffi_req *r, int rcode)
{
	int ret = r_check(r, true);
	if (ret)
		return ret;
	if (rcode < 0 || rcode > 4095)
		return -EINVAL;
	struct moon_bridge *b = moon__bridge_of(r);
	struct moon_query *q = r->q_;
	if (q->resp_len < MOON_HDR_LEN)
		return -EINVAL;
	/* Extended codes live in the OPT record: only a new reply sets them. */
	if (rcode > 15 || q->rcode > 15)
		b->edit.dirty = true;
	q->resp[3] = (uint8_t)((q->resp[3] & 0xf0) | (rcode & 0xf));
	q->rcode = (uint16_t)rcode;
	r->rcode_ = (uint16_t)rcode;
	return 0;
}

int moon_ffi_r_set_flag(struct moon_ffi_req *r, int flag, bool on)
{
	int ret = r_check(r, true);
	if (ret)
		return ret;
	struct moon_query *q = r->q_;
	if ((flag & ~(MOON_FLAG_AA | MOON_FLAG_TC | MOON_FLAG_RA | MOON_FLAG_AD)) || !flag ||
	    q->resp_len < MOON_HDR_LEN)
		return -EINVAL;
	uint16_t f = moon_get_u16(q->resp + 2);
	f = on ? (uint16_t)(f | flag) : (uint16_t)(f & ~flag);
	moon_put_u16(q->resp + 2, f);
	r->aa_ = f & MOON_FLAG_AA;
	r->tc_ = f & MOON_FLAG_TC;
	r->ra_ = f & MOON_FLAG_RA;
	r->ad_ = f & MOON_FLAG_AD;
	return 0;
}

int moon_ffi_r_ede(struct moon_ffi_req *r, int code, const char *text, size_t len)
{
	int ret = r_check(r, true);
	if (ret)
		return ret;
	if (code < 0 || code > 65535)
		return -EINVAL;
	struct moon_redit *e = &moon__bridge_of(r)->edit;
	e->ede = code;
	e->ede_len = (uint8_t)(len < sizeof(e->ede_text) ? len : sizeof(e->ede_text));
	memcpy(e->ede_text, text, e->ede_len);
	e->dirty = true;
	return 0;
}

/* Options of the old OPT record that the new one keeps: all but NSID
 * (begin_reply adds ours) and, when a policy sets its own, EDE. */
static void copy_options(const struct moon_redit *e, struct moon_pktw *w)
{
	const uint8_t *p = e->wire + e->opt_rdata;
	size_t len = e->opt_rdlen, pos = 0;
	while (pos + 4 <= len) {
		uint16_t code = moon_get_u16(p + pos), olen = moon_get_u16(p + pos + 2);
		if (pos + 4 + olen > len)
			return;
		bool keep = code != MOON_EDNS_NSID && !(code == MOON_EDNS_EDE && e->ede >= 0);
		if (keep)
			moon_pktw_add_opt_option(w, code, p + pos + 4, olen);
		pos += 4u + olen;
	}
}

int moon__bridge_rewrite(struct moon_bridge *b, struct moon_query *q)
{
	struct moon_redit *e = &b->edit;
	struct moon_pktw w;
	int ret = moon_redit_parse(e);
	if (ret < 0)
		return ret;
	q->begin_reply(q, &w, b->reply);
	uint16_t flags = moon_get_u16(q->resp + 2);
	const uint16_t keep = MOON_FLAG_AA | MOON_FLAG_TC | MOON_FLAG_RA | MOON_FLAG_AD;
	moon_pktw_set_flag(&w, keep, false);
	moon_pktw_set_flag(&w, flags & keep, true);
	if (e->has_opt)
		copy_options(e, &w);
	if (e->ede >= 0)
		moon__bridge_put_ede(&w, e->ede, e->ede_text, e->ede_len);
	else if (e->filtered)
		moon__bridge_put_ede(&w, 17, "", 0);
	ret = moon_redit_write(e, &w, q->rewritten ? q->rw_qname : NULL);
	if (ret < 0)
		return ret;
	moon_pktw_set_rcode(&w, q->rcode);
	size_t len = moon_pktw_finish(&w);
	memcpy(q->resp, b->reply, len);
	q->resp_len = (uint32_t)len;
	return 0;
}
