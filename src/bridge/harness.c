/*
 * The policy test harness behind moon.test (lua/moon/test.lua): a bridge
 * state built exactly as the server builds a worker's, one chain of
 * policies, and a miniature pipeline. It runs the stages in the server's
 * order with the same hook functions: the query is parsed from real wire
 * bytes, the answer comes from a zone (moon_zone_answer) or from records
 * the test gives, is written as the pipeline writes it (owners equal to
 * the question being resolved are pointers to the client's question), and
 * the result is read back from the final reply's bytes.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/counters.h"
#include "bridge/internal.h"
#include "query/query.h"
#include "util/err.h"
#include "wire/wire.h"
#include "zone/zone.h"

#define MAX_POLICIES 32
#define MAX_ERRORS 16
#define OUR_PAYLOAD 1232

struct moon_harness {
	struct moon_bridge_limits lim;
	struct moon_bridge *b;
	struct moon_bridge_policy pol[MAX_POLICIES];
	size_t npol;
	char block[32];
	const struct moon_policy *chain;
	bool built;

	struct moon_query q;
	struct moon_zone_answer ans;
	struct sockaddr_storage client, server;
	uint8_t req[MOON_MAX_MSG];
	uint8_t resp[MOON_MAX_MSG];
	struct moon_rrtext *rt;

	struct moon_ffi_tresult res;
	struct moon_redit out;          /* the final reply, parsed */
	char ede_text[256];
	char errors[MAX_ERRORS][512];
	int nerrors;
	char text[MOON_FFI_BUF];
};

static _Atomic unsigned harness_seq;

static void on_error(void *arg, const char *policy, const char *msg)
{
	struct moon_harness *h = arg;
	h->res.errors++;
	if (h->nerrors < MAX_ERRORS)
		snprintf(h->errors[h->nerrors++], sizeof(h->errors[0]), "policy %s: %s", policy,
			 msg);
}

/* The server's reply start (pipeline.c), with a fixed payload size. */
static void begin_reply(struct moon_query *q, struct moon_pktw *w, uint8_t *buf)
{
	moon_pktw_begin(w, buf, q->limit, &q->pkt);
	if (q->edns)
		moon_pktw_add_opt(w, OUR_PAYLOAD, q->pkt.edns.do_bit);
}

struct moon_harness *moon_ffi_t_new(void)
{
	struct moon_harness *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->rt = moon_rrtext_new();
	if (!h->rt || moon_redit_init(&h->out)) {
		moon_ffi_t_free(h);
		return NULL;
	}
	snprintf(h->block, sizeof(h->block), "test-%u", atomic_fetch_add(&harness_seq, 1) + 1);
	h->q.req = h->req;
	h->q.resp = h->resp;
	h->q.resp_cap = MOON_MAX_MSG;
	h->q.ans = &h->ans;
	h->q.begin_reply = begin_reply;
	return h;
}

void moon_ffi_t_free(struct moon_harness *h)
{
	if (!h)
		return;
	moon_bridge_free(h->b);
	for (size_t i = 0; i < h->npol; i++) {
		free((char *)h->pol[i].script);
		free((char *)h->pol[i].name);
		free((char *)h->pol[i].options);
	}
	moon_rrtext_free(h->rt);
	moon_redit_deinit(&h->out);
	free(h);
}

void moon_ffi_t_limits(struct moon_harness *h, double memory, int hook_ms)
{
	h->lim.memory = memory > 0 ? (size_t)memory : 0;
	h->lim.hook_ms = hook_ms > 0 ? (uint32_t)hook_ms : 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int moon_ffi_t_add(struct moon_harness *h, const char *file, const char *name,
		   const char *options, int on_error_action, bool sandbox, bool jit)
{
	if (h->built || h->npol == MAX_POLICIES || !file)
		return -EINVAL;
	if (on_error_action < MOON_ON_ERROR_SERVFAIL || on_error_action > MOON_ON_ERROR_CONTINUE)
		return -EINVAL;
	struct moon_bridge_policy *p = &h->pol[h->npol];
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	size_t blen = strlen(base);
	if (blen > 4 && !strcmp(base + blen - 4, ".lua"))
		blen -= 4;      /* as the config names it */
	p->script = strdup(file);
	p->name = name ? strdup(name) : strndup(base, blen);
	p->options = dup_or_null(options);
	if (!p->script || !p->name || (options && !p->options))
		return -ENOMEM;
	p->on_error = (enum moon_bridge_on_error)on_error_action;
	p->sandbox = sandbox;
	p->jit = jit;
	h->npol++;
	return 0;
}

static void diag_to_errors(struct moon_harness *h, const struct moon_diag *d)
{
	h->nerrors = 0;
	for (size_t i = 0; i < d->n && h->nerrors < MAX_ERRORS; i++)
		snprintf(h->errors[h->nerrors++], sizeof(h->errors[0]), "%s", d->msgs[i]);
}

int moon_ffi_t_build(struct moon_harness *h)
{
	if (h->built)
		return -EINVAL;
	struct moon_diag diag = { 0 };
	int ret = moon_bridge_new(0, &h->lim, &h->b, &diag);
	if (!ret)
		ret = moon_bridge_chain(h->b, h->block, h->pol, h->npol, &h->chain, &diag);
	diag_to_errors(h, &diag);
	moon_diag_free(&diag);
	if (ret)
		return ret;
	h->b->on_error = on_error;
	h->b->on_error_arg = h;
	h->built = true;
	return 0;
}

const char *moon_ffi_t_error(struct moon_harness *h, int i)
{
	return i >= 0 && i < h->nerrors ? h->errors[i] : NULL;
}

static int set_addr(struct sockaddr_storage *ss, const char *text, int port)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (!text)
		text = "127.0.0.1";
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

/* The request's bytes, as a client would send them. */
static int build_request(struct moon_harness *h, const struct moon_ffi_tquery *d)
{
	uint8_t name[MOON_NAME_MAXLEN];
	char text[MOON_NAME_TEXT_MAXLEN + 2];
	if (!d->name || strlen(d->name) >= MOON_NAME_TEXT_MAXLEN)
		return -EINVAL;
	snprintf(text, sizeof(text), "%s", d->name);
	size_t tl = strlen(text);
	if (tl == 0 || text[tl - 1] != '.')
		strcat(text, ".");
	int nlen = moon_name_from_text(text, NULL, name);
	if (nlen < 0)
		return nlen;
	uint8_t *p = h->req;
	moon_put_u16(p, (uint16_t)d->id);
	moon_put_u16(p + 2, (uint16_t)((d->rd ? MOON_FLAG_RD : 0) | (d->cd ? MOON_FLAG_CD : 0)));
	moon_put_u16(p + 4, 1);
	moon_put_u16(p + 6, 0);
	moon_put_u16(p + 8, 0);
	moon_put_u16(p + 10, d->edns ? 1 : 0);
	size_t len = MOON_HDR_LEN;
	memcpy(p + len, name, (size_t)nlen);
	len += (size_t)nlen;
	moon_put_u16(p + len, (uint16_t)d->type);
	moon_put_u16(p + len + 2, (uint16_t)(d->class ? d->class : MOON_CLASS_IN));
	len += 4;
	if (d->edns) {
		if (d->edns_opts_len < 0 || len + 11 + (size_t)d->edns_opts_len > MOON_MAX_MSG)
			return -EINVAL;
		p[len] = 0;
		moon_put_u16(p + len + 1, MOON_T_OPT);
		moon_put_u16(p + len + 3, (uint16_t)(d->bufsize ? d->bufsize : 1232));
		p[len + 5] = 0;
		p[len + 6] = 0;
		moon_put_u16(p + len + 7, d->do_bit ? MOON_EDNS_FLAG_DO : 0);
		moon_put_u16(p + len + 9, (uint16_t)d->edns_opts_len);
		if (d->edns_opts_len)
			memcpy(p + len + 11, d->edns_opts, (size_t)d->edns_opts_len);
		len += 11u + (size_t)d->edns_opts_len;
	}
	h->q.req_len = (uint32_t)len;
	return 0;
}

/* The largest reply the client takes, as the pipeline computes it. */
static uint16_t reply_limit(const struct moon_query *q)
{
	if (q->proto == MOON_PROTO_TCP)
		return MOON_MAX_MSG;
	if (!q->pkt.edns.present)
		return MOON_UDP_MIN_PAYLOAD;
	uint16_t limit = q->pkt.edns.payload;
	if (limit < MOON_UDP_MIN_PAYLOAD)
		limit = MOON_UDP_MIN_PAYLOAD;
	return limit > OUR_PAYLOAD ? OUR_PAYLOAD : limit;
}

static void write_zone_answer(struct moon_harness *h)
{
	struct moon_query *q = &h->q;
	const struct moon_zone_answer *ans = &h->ans;
	struct moon_pktw w;
	begin_reply(q, &w, q->resp);
	moon_pktw_set_flag(&w, MOON_FLAG_AA, ans->aa);
	for (int sec = 0; sec < 3; sec++) {
		for (unsigned i = 0; i < ans->sec[sec].n; i++) {
			const struct moon_ans_rrset *a = &ans->sec[sec].rr[i];
			if (moon_pktw_put_rrset(&w, sec, a->owner, a->rrset) == MOON_ESPACE &&
			    sec < MOON_SEC_ADDITIONAL) {
				moon_pktw_truncate(&w);
				goto done;
			}
		}
	}
done:
	q->rcode = ans->rcode;
	moon_pktw_set_rcode(&w, ans->rcode);
	q->resp_len = (uint32_t)moon_pktw_finish(&w);
}

struct given {
	struct moon_query *q;
	struct moon_pktw *w;
	int section;
};

static int put_given(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl,
		     const uint8_t *rdata, uint16_t rdlen)
{
	struct given *g = arg;
	if (moon_name_equal(owner, moon_query_qname(g->q)))
		owner = NULL;
	int ret = moon_pktw_put_rr(g->w, g->section, owner, type, MOON_CLASS_IN, ttl, rdata, rdlen);
	return ret == MOON_ESPACE ? 0 : ret;
}

/* Given records stand for a cache or forwarder answer: after q:rewrite
 * they answer the new question and carry it, as an upstream's reply would;
 * the bridge gives the client its own question back. */
static void begin_given(struct moon_query *q, struct moon_pktw *w)
{
	if (!q->rewritten) {
		begin_reply(q, w, q->resp);
		return;
	}
	struct moon_pkt p = q->pkt;
	memcpy(p.qname, q->rw_qname, q->rw_qname_len);
	memcpy(p.qname_lc, q->rw_qname, q->rw_qname_len);
	p.qname_len = q->rw_qname_len;
	p.qtype = q->rw_qtype;
	p.qclass = q->rw_qclass;
	moon_pktw_begin(w, q->resp, q->limit, &p);
	if (q->edns)
		moon_pktw_add_opt(w, OUR_PAYLOAD, q->pkt.edns.do_bit);
}

static int write_given(struct moon_harness *h, const struct moon_ffi_tquery *d)
{
	struct moon_query *q = &h->q;
	struct moon_pktw w;
	begin_given(q, &w);
	moon_pktw_set_flag(&w, MOON_FLAG_AA, d->aa);
	const char *sections[3] = { d->answer, d->authority, d->additional };
	for (int s = 0; s < 3; s++) {
		if (!sections[s] || !sections[s][0])
			continue;
		struct given g = { .q = q, .w = &w, .section = s };
		char err[256];
		int ret = moon_rrtext_parse(h->rt, sections[s], strlen(sections[s]),
					    moon_query_qname(q), 3600, put_given, &g, err, sizeof(err));
		if (ret < 0) {
			snprintf(h->errors[0], sizeof(h->errors[0]), "bad %s record: %s",
				 s == 0 ? "answer" : s == 1 ? "authority" : "additional", err);
			h->nerrors = 1;
			return ret;
		}
	}
	q->rcode = (uint16_t)d->rcode;
	moon_pktw_set_rcode(&w, (uint16_t)d->rcode);
	q->resp_len = (uint32_t)moon_pktw_finish(&w);
	return 0;
}

/* The sources stage: a zone, given records, or nothing (REFUSED). */
static int sources(struct moon_harness *h, const struct moon_ffi_tquery *d)
{
	struct moon_query *q = &h->q;
	if (d->zone) {
		moon_zone_answer(d->zone, moon_query_qname(q), moon_query_qtype(q),
				 q->pkt.edns.do_bit, &h->ans);
		q->source = MOON_SOURCE_ZONE;
		write_zone_answer(h);
	} else if (d->answer || d->authority || d->additional || d->rcode) {
		q->source = MOON_SOURCE_FORWARD;
		int ret = write_given(h, d);
		if (ret)
			return ret;
	} else {
		struct moon_pktw w;
		begin_reply(q, &w, q->resp);
		q->rcode = MOON_RCODE_REFUSED;
		moon_pktw_set_rcode(&w, MOON_RCODE_REFUSED);
		q->resp_len = (uint32_t)moon_pktw_finish(&w);
	}
	if (d->source >= 0)
		q->source = (uint8_t)d->source;
	return 0;
}

static int verdict_code(enum moon_verdict v)
{
	return v == MOON_VERDICT_DROP ? MOON_FFI_DROP :
	       v == MOON_VERDICT_CONTINUE ? MOON_FFI_CONTINUE : MOON_FFI_ANSWER;
}

/* Reads back what the client would receive. */
static void read_result(struct moon_harness *h)
{
	struct moon_query *q = &h->q;
	struct moon_ffi_tresult *res = &h->res;
	res->len = (int)q->resp_len;
	res->source = q->source;
	res->rewritten = q->rewritten;
	res->nocache = q->nocache;
	res->ede = -1;
	h->ede_text[0] = 0;
	moon_redit_reset(&h->out, q->resp, q->resp_len);
	if (res->dropped || q->resp_len < MOON_HDR_LEN)
		return;
	res->flags = moon_get_u16(q->resp + 2);
	res->rcode = res->flags & 0xf;
	if (moon_redit_parse(&h->out) < 0)
		return;
	const struct moon_redit *e = &h->out;
	if (!e->has_opt)
		return;
	res->rcode |= e->wire[e->opt_rdata - 6] << 4;  /* the OPT TTL's first byte */
	for (size_t pos = 0; pos + 4 <= e->opt_rdlen;) {
		const uint8_t *o = e->wire + e->opt_rdata + pos;
		uint16_t code = moon_get_u16(o), len = moon_get_u16(o + 2);
		if (code == MOON_EDNS_EDE && len >= 2 && res->ede < 0) {
			res->ede = moon_get_u16(o + 4);
			snprintf(h->ede_text, sizeof(h->ede_text), "%.*s", len - 2, (const char *)o + 6);
		}
		pos += 4u + len;
	}
}

int moon_ffi_t_run(struct moon_harness *h, const struct moon_ffi_tquery *d)
{
	if (!h->built)
		return -EINVAL;
	struct moon_query *q = &h->q;
	memset(&h->res, 0, sizeof(h->res));
	h->res.verdict[0] = h->res.verdict[1] = h->res.verdict[2] = -1;
	h->nerrors = 0;
	int ret = build_request(h, d);
	if (!ret)
		ret = set_addr(&h->client, d->client, d->client_port);
	if (!ret)
		ret = set_addr(&h->server, d->server, d->server_port ? d->server_port : 53);
	if (ret)
		return ret;
	if (moon_pkt_parse(&q->pkt, q->req, q->req_len) != 0)
		return MOON_EMALF;
	q->client = (const struct sockaddr *)&h->client;
	q->server = (const struct sockaddr *)&h->server;
	q->proto = d->tcp ? MOON_PROTO_TCP : MOON_PROTO_UDP;
	q->edns = q->pkt.edns.present;
	q->limit = reply_limit(q);
	q->resp_len = 0;
	q->rcode = 0;
	q->sent = false;
	q->source = MOON_SOURCE_NONE;
	q->policy = h->chain;
	/* What a server's block lookup would find (bridge zone_of()). */
	q->zone = d->zone;
	moon_query_reset_policy(q);

	const struct moon_hooks *hooks = h->chain ? h->chain->hooks : NULL;
	void *chain = h->chain ? h->chain->chain : NULL;
	enum moon_verdict v = MOON_VERDICT_CONTINUE;
	q->stage = MOON_STAGE_QUERY;
	if (hooks && hooks->query) {
		v = hooks->query(chain, q);
		h->res.verdict[0] = verdict_code(v);
	}
	if (v == MOON_VERDICT_CONTINUE) {
		q->stage = MOON_STAGE_SOURCES;
		ret = sources(h, d);
		if (ret)
			return ret;
	}
	if (v != MOON_VERDICT_DROP) {
		q->stage = MOON_STAGE_RESPONSE;
		if (hooks && hooks->response) {
			v = hooks->response(chain, q);
			h->res.verdict[1] = verdict_code(v);
		}
	}
	h->res.dropped = v == MOON_VERDICT_DROP;
	if (h->res.dropped)
		q->resp_len = 0;
	q->sent = !h->res.dropped;
	q->stage = MOON_STAGE_LOG;
	if (hooks && hooks->log) {
		hooks->log(chain, q);
		h->res.verdict[2] = MOON_FFI_CONTINUE;
	}
	q->stage = MOON_STAGE_DONE;
	read_result(h);
	return 0;
}

const struct moon_ffi_tresult *moon_ffi_t_result(struct moon_harness *h)
{
	return &h->res;
}

int moon_ffi_t_rr_count(struct moon_harness *h)
{
	return h->out.parsed ? (int)h->out.n : 0;
}

const struct moon_ffi_rr *moon_ffi_t_rr(struct moon_harness *h, int i)
{
	return i >= 0 && i < moon_ffi_t_rr_count(h) ? &h->out.rr[i] : NULL;
}

const char *moon_ffi_t_rr_text(struct moon_harness *h, int i, int what)
{
	const struct moon_ffi_rr *r = moon_ffi_t_rr(h, i);
	if (!r)
		return NULL;
	if (what == 2) {
		moon_rrtype_to_text(r->type, h->text, sizeof(h->text));
		return h->text;
	}
	if (what == 0) {
		uint8_t name[MOON_NAME_MAXLEN];
		if (moon_redit_owner(&h->out, i, name) < 0 ||
		    moon_name_to_text(name, h->text, sizeof(h->text)) < 0)
			return NULL;
		return h->text;
	}
	int len = moon_redit_rdata(&h->out, i, h->out.tmp, MOON_MAX_MSG);
	if (len < 0 || moon_rdata_to_text(r->type, h->out.tmp, (uint16_t)len, h->text,
					  sizeof(h->text)) < 0)
		return NULL;
	return h->text;
}

const char *moon_ffi_t_question(struct moon_harness *h, int *qtype)
{
	const struct moon_query *q = &h->q;
	if (q->resp_len < MOON_HDR_LEN || moon_get_u16(q->resp + 4) != 1)
		return NULL;
	size_t pos = MOON_HDR_LEN;
	uint8_t name[MOON_NAME_MAXLEN];
	if (moon_name_unpack(q->resp, q->resp_len, &pos, name) < 0 || pos + 4 > q->resp_len ||
	    moon_name_to_text(name, h->text, sizeof(h->text)) < 0)
		return NULL;
	*qtype = moon_get_u16(q->resp + pos);
	return h->text;
}

const char *moon_ffi_t_ede_text(struct moon_harness *h)
{
	return h->ede_text;
}

int moon_ffi_t_meta_count(struct moon_harness *h)
{
	return h->q.meta.n;
}

const char *moon_ffi_t_meta(struct moon_harness *h, int i, bool value, size_t *len)
{
	if (i < 0 || i >= h->q.meta.n)
		return NULL;
	return value ? moon_meta_value(&h->q.meta, (unsigned)i, len) :
		       moon_meta_key(&h->q.meta, (unsigned)i, len);
}

const uint8_t *moon_ffi_t_wire(struct moon_harness *h)
{
	return h->q.resp;
}

double moon_ffi_t_counter(struct moon_harness *h, const char *name)
{
	return (double)moon_bridge_counter_sum(MOON_CTR_USER, name, h->block);
}

double moon_ffi_t_memory(struct moon_harness *h)
{
	return h->b ? (double)moon_bridge_memory(h->b) : 0;
}

struct soa_find {
	uint8_t origin[MOON_NAME_MAXLEN];
	bool found;
};

static int find_soa(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl,
		    const uint8_t *rdata, uint16_t rdlen)
{
	struct soa_find *f = arg;
	if (type == MOON_T_SOA && !f->found) {
		memcpy(f->origin, owner, moon_name_len(owner));
		f->found = true;
	}
	return 0;
}

struct moon_zone *moon_ffi_t_zone(const char *text, size_t len, const char *origin,
				  char *err, size_t errlen)
{
	char otext[MOON_NAME_TEXT_MAXLEN];
	char *copy = strndup(text, len);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	struct moon_zone *z = NULL;
	if (!origin) {
		struct moon_rrtext *rt = moon_rrtext_new();
		struct soa_find f = { .found = false };
		static const uint8_t root[1] = { 0 };
		int ret = rt ? moon_rrtext_parse(rt, text, len, root, 3600, find_soa, &f, err, errlen) :
			       -ENOMEM;
		moon_rrtext_free(rt);
		if (ret < 0 || !f.found) {
			if (ret >= 0)
				snprintf(err, errlen, "the zone has no SOA record: give its origin");
			goto out;
		}
		moon_name_to_text(f.origin, otext, sizeof(otext));
		origin = otext;
	}
	struct moon_zone_source src = { .origin = origin, .text = copy, .text_name = "zone" };
	struct moon_diag diag = { 0 };
	if (moon_zone_load(&src, &z, &diag) != 0) {
		snprintf(err, errlen, "%s", diag.n ? diag.msgs[0] : "cannot load the zone");
		z = NULL;
	}
	moon_diag_free(&diag);
out:
	free(copy);
	return z;
}

void moon_ffi_t_zone_free(struct moon_zone *z)
{
	moon_zone_free(z);
}
