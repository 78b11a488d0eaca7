/*
 * The order of the checks follows what knotd does with the same input
 * (verified with kdig against knotd 3.2), except where the design says
 * otherwise: NOTIFY gets NOTIMP until zone transfers exist, AXFR/IXFR get
 * REFUSED, and classes other than IN and CH get REFUSED (after the QUERY
 * stage in a block with query policies, which may rewrite the class).
 */
#include <string.h>

#include "metrics/ops.h"
#include "server/chaos.h"
#include "server/gen.h"
#include "server/pipeline.h"
#include "server/sources.h"
#include "util/err.h"
#include "util/time.h"
#include "wire/pkt.h"
#include "zone/zone.h"

static const struct moon_conf *conf_of(const struct moon_query *q)
{
	return q->gen->conf;
}

/* Largest reply the client takes (RFC 6891 §6.2.5: a payload below 512
 * counts as 512; ours caps it), bounded by our buffer. */
static uint16_t reply_limit(const struct moon_query *q)
{
	uint32_t limit = MOON_MAX_MSG;
	if (q->proto == MOON_PROTO_UDP) {
		limit = MOON_UDP_MIN_PAYLOAD;
		if (q->pkt.edns.present) {
			uint32_t ours = conf_of(q)->udp.max_payload;
			limit = q->pkt.edns.payload;
			if (limit < MOON_UDP_MIN_PAYLOAD)
				limit = MOON_UDP_MIN_PAYLOAD;
			if (limit > ours)
				limit = ours > MOON_UDP_MIN_PAYLOAD ? ours : MOON_UDP_MIN_PAYLOAD;
		}
	}
	if (limit > q->resp_cap)
		limit = q->resp_cap;
	return (uint16_t)limit;
}

/* OPT record of the reply: our payload size, the client's DO bit, and the
 * NSID when the client asked for it (RFC 5001) and one is configured. Also
 * q->begin_reply, for the replies policies make (in a buffer of their own). */
static void begin_reply(struct moon_query *q, struct moon_pktw *w, uint8_t *buf)
{
	moon_pktw_begin(w, buf, q->limit, &q->pkt);
	if (!q->edns)
		return;
	const struct moon_conf *c = conf_of(q);
	moon_pktw_add_opt(w, c->udp.max_payload, q->pkt.edns.do_bit);
	const uint8_t *data;
	const char *nsid = c->identity.nsid;
	if (nsid && moon_pkt_edns_option(&q->pkt, MOON_EDNS_NSID, &data) >= 0)
		moon_pktw_add_opt_option(w, MOON_EDNS_NSID, nsid, (uint16_t)strlen(nsid));
}

static void end_reply(struct moon_query *q, struct moon_pktw *w, uint16_t rcode)
{
	q->rcode = rcode;
	moon_pktw_set_rcode(w, rcode);
	q->resp_len = (uint32_t)moon_pktw_finish(w);
}

/* A reply with empty sections. */
static void error_reply(struct moon_query *q, uint16_t rcode)
{
	struct moon_pktw w;
	begin_reply(q, &w, q->resp);
	end_reply(q, &w, rcode);
}

/* Writes q->ans. A set that does not fit in the answer or authority section
 * truncates the reply to header, question and OPT with TC=1; additional
 * sets that do not fit are left out (RFC 2181 §9), except a referral's
 * required glue (the first ans->nglue sets, RFC 9471), which sets TC and
 * keeps what was written (as knotd does). The zone lists RRSIGs as sets of
 * their own, only for DO clients, so every set is written as it is. */
static void write_answer(struct moon_query *q)
{
	const struct moon_zone_answer *ans = q->ans;
	struct moon_pktw w;
	begin_reply(q, &w, q->resp);
	moon_pktw_set_flag(&w, MOON_FLAG_AA, ans->aa);
	for (int sec = MOON_SEC_ANSWER; sec <= MOON_SEC_AUTHORITY; sec++) {
		const struct moon_ans_section *s = &ans->sec[sec];
		for (unsigned i = 0; i < s->n; i++) {
			if (moon_pktw_put_rrset(&w, sec, s->rr[i].owner, s->rr[i].rrset) == 0)
				continue;
			moon_pktw_truncate(&w);
			goto done;
		}
	}
	const struct moon_ans_section *add = &ans->sec[MOON_SEC_ADDITIONAL];
	for (unsigned i = 0; i < add->n; i++) {
		if (moon_pktw_put_rrset(&w, MOON_SEC_ADDITIONAL, add->rr[i].owner,
					add->rr[i].rrset) == 0)
			continue;
		if (!ans->aa && i < ans->nglue) {
			moon_pktw_set_flag(&w, MOON_FLAG_TC, true);
			break;
		}
	}
done:
	end_reply(q, &w, ans->rcode);
}

static void set_verdict(struct moon_query *q, enum moon_verdict v)
{
	struct moon_zone_answer *ans = q->ans;
	ans->sec[0].n = ans->sec[1].n = ans->sec[2].n = 0;
	ans->aa = false;
	ans->rcode = v == MOON_VERDICT_NXDOMAIN ? MOON_RCODE_NXDOMAIN :
		     v == MOON_VERDICT_REFUSE ? MOON_RCODE_REFUSED : MOON_RCODE_SERVFAIL;
	q->source = MOON_SOURCE_POLICY;
}

/* Sets q->ans from the block's zones, or the wire answer from its cache or
 * forwarder. Returns 0, or MOON_EPENDING when the forwarder answers later. */
static int sources(struct moon_query *q)
{
	const struct moon_pkt *p = &q->pkt;
	struct moon_zone_answer *ans = q->ans;
	/* The question a policy may have rewritten (query/query.h). */
	const uint8_t *qname = moon_query_qname(q);
	const struct moon_gen_zone *gz = moon_gen_block_zone(q->block, qname,
							     moon_query_qname_len(q));
	ans->sec[0].n = ans->sec[1].n = ans->sec[2].n = 0;
	ans->aa = false;
	ans->nsynth = 0;
	if (!gz)
		return moon_src_run(q);  /* cache, then forward (server/sources.h) */
	if (!gz->zone) {
		ans->rcode = MOON_RCODE_SERVFAIL;  /* the zone failed to load */
		return 0;
	}
	q->zone = gz->zone;
	q->source = MOON_SOURCE_ZONE;
	moon_zone_answer(gz->zone, qname, moon_query_qtype(q), p->edns.do_bit, ans);
	return 0;
}

static void write_reply(struct moon_query *q)
{
	if (moon_src_is_wire(q))
		moon_src_finish(q);
	else
		write_answer(q);
}

/* The reply goes into q->resp (unless a policy already wrote it there),
 * then the RESPONSE stage sees it as the client will, and may edit it. */
static int respond(struct moon_query *q, bool written)
{
	if (!written)
		write_reply(q);
	q->stage = MOON_STAGE_RESPONSE;
	const struct moon_policy *pol = q->policy;
	if (pol && pol->hooks->response) {
		enum moon_verdict v = pol->hooks->response(pol->chain, q);
		if (v == MOON_VERDICT_DROP) {
			q->resp_len = 0;
		} else if (v != MOON_VERDICT_CONTINUE && v != MOON_VERDICT_ANSWER) {
			set_verdict(q, v);
			write_answer(q);
		}
	}
	q->stage = MOON_STAGE_SEND;
	return 0;
}

/* The identity answers (server/chaos.h) to the question p. */
static void chaos_reply(struct moon_query *q, const struct moon_pkt *p)
{
	q->source = MOON_SOURCE_CHAOS;
	struct moon_pktw w;
	begin_reply(q, &w, q->resp);
	end_reply(q, &w, (uint16_t)moon_chaos_answer(&w, p, &conf_of(q)->identity));
}

/* A class other than IN reaches the QUERY stage only in a block with query
 * policies, one of which may rewrite it (to IN: the zones and the
 * forwarder answer it). Routes q when it does. */
static bool policies_see_class(struct moon_query *q)
{
	const struct moon_pkt *p = &q->pkt;
	const struct moon_gen_block *b = moon_gen_route(q->gen, q->listener, p->qname_lc,
							p->qname_len);
	const struct moon_policy *pol = b ? b->policy[q->worker] : NULL;
	if (!pol || !pol->hooks->query)
		return false;
	q->block = b;
	return true;
}

/* After the QUERY stage the class is still not IN: what the server answers
 * without policies (identity answers for CH, else REFUSED), then the
 * RESPONSE stage. */
static int other_class(struct moon_query *q)
{
	q->stage = MOON_STAGE_SOURCES;
	if (moon_query_qclass(q) == MOON_CLASS_CH) {
		struct moon_pkt tmp;
		chaos_reply(q, moon_query_sources_pkt(q, &tmp));
		return respond(q, true);
	}
	struct moon_zone_answer *ans = q->ans;
	ans->sec[0].n = ans->sec[1].n = ans->sec[2].n = 0;
	ans->aa = false;
	ans->rcode = MOON_RCODE_REFUSED;
	return respond(q, false);
}

/* From routing to the reply, for a well-formed query of class IN (or
 * another class, routed already, for the block's query policies). */
static int run_in(struct moon_query *q)
{
	const struct moon_pkt *p = &q->pkt;
	if (!q->block)
		q->block = moon_gen_route(q->gen, q->listener, p->qname_lc, p->qname_len);
	if (!q->block) {
		error_reply(q, MOON_RCODE_REFUSED);
		return 0;
	}
	q->policy = q->block->policy[q->worker];
	q->stage = MOON_STAGE_QUERY;
	const struct moon_policy *pol = q->policy;
	if (pol && pol->hooks->query) {
		enum moon_verdict v = pol->hooks->query(pol->chain, q);
		if (v == MOON_VERDICT_DROP) {
			q->resp_len = 0;
			return 0;
		}
		if (v == MOON_VERDICT_ANSWER) {
			q->source = MOON_SOURCE_POLICY;
			return respond(q, true);
		}
		if (v != MOON_VERDICT_CONTINUE) {
			set_verdict(q, v);
			return respond(q, false);
		}
		if (moon_query_qclass(q) != MOON_CLASS_IN)
			return other_class(q);
	}
	q->stage = MOON_STAGE_SOURCES;
	if (sources(q) == MOON_EPENDING)
		return MOON_EPENDING;
	return respond(q, false);
}

/* Everything before routing: the checks that need no server block. */
static int run(struct moon_query *q)
{
	struct moon_pkt *p = &q->pkt;
	int ret = moon_pkt_parse(p, q->req, q->req_len);
	/* Never answer an answer (reflection loops), nor what has no header. */
	if (!p->header_ok || (p->flags & MOON_FLAG_QR))
		return 0;
	q->edns = p->edns.present;
	q->limit = reply_limit(q);
	if (ret) {
		error_reply(q, MOON_RCODE_FORMERR);
		return 0;
	}
	if (p->opcode != MOON_OP_QUERY) {
		error_reply(q, MOON_RCODE_NOTIMP);
		return 0;
	}
	if (p->edns.present && p->edns.version > 0) {
		error_reply(q, MOON_RCODE_BADVERS);
		return 0;
	}
	if (p->qclass != MOON_CLASS_IN && !policies_see_class(q)) {
		if (p->qclass == MOON_CLASS_CH)
			chaos_reply(q, p);
		else
			error_reply(q, MOON_RCODE_REFUSED);
		return 0;
	}
	if (p->qtype == MOON_T_AXFR || p->qtype == MOON_T_IXFR) {
		error_reply(q, MOON_RCODE_REFUSED);
		return 0;
	}
	return run_in(q);
}

int moon_pipeline_run(struct moon_query *q)
{
	q->resp_len = 0;
	q->sent = false;
	q->edns = false;
	q->begin_reply = begin_reply;
	moon_query_reset_policy(q);
	q->source = MOON_SOURCE_NONE;
	q->block = NULL;
	q->zone = NULL;
	q->policy = NULL;
	q->stage = MOON_STAGE_QUERY;
	q->start_ns = q->gen->ops ? moon_now_ns() : 0;
	if (q->req_len < MOON_HDR_LEN)
		return 0;
	return run(q);
}

int moon_pipeline_resume(struct moon_query *q)
{
	respond(q, false);
	return 0;
}

void moon_pipeline_finish(struct moon_query *q)
{
	q->stage = MOON_STAGE_LOG;
	const struct moon_policy *pol = q->policy;
	if (pol && pol->hooks->log)
		pol->hooks->log(pol->chain, q);
	/* Metrics and the query log come last: they see what the log hooks
	 * left (metadata). */
	if (q->gen->ops)
		moon_ops_observe(q->gen->ops, q, q->block ? q->block->ops : NULL, q->start_ns);
	q->stage = MOON_STAGE_DONE;
}
