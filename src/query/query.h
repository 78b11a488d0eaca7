/*
 * The per-query context, the stages a query goes through, and the hook
 * table that policy code (the Lua bridge, src/bridge) implements. Nothing
 * here knows Lua: the core calls plain C function pointers.
 *
 * THE LIFE OF A QUERY (the order is fixed; doc/design.md has the long form)
 *
 *   receive, parse, route to a server block (server/pipeline.c)
 *   MOON_STAGE_QUERY     hooks->query      policies in config order
 *   MOON_STAGE_CACHE     the cache of the block (server/source_cache.c)
 *   MOON_STAGE_SOURCES   zones of the block, else the forwarder
 *                        (server/sources.c); a source may return
 *                        MOON_EPENDING and finish later. A name one of the
 *                        block's zones holds is answered from the zone
 *                        without the cache.
 *   MOON_STAGE_RESPONSE  hooks->response   sees every answer
 *   MOON_STAGE_SEND      fit to the client's size (TC), write, send
 *   MOON_STAGE_LOG       hooks->log        read-only, after the send
 *
 * What each hook may do:
 *   query:    read everything in q (the parsed request, client, block);
 *             set q->meta, q->nocache, or rewrite the question the cache
 *             and sources answer (moon_query_qname/qtype/qclass); return a verdict
 *             (below). MOON_VERDICT_ANSWER means the hook wrote the whole
 *             reply into q->resp (resp_len, rcode; source
 *             MOON_SOURCE_POLICY): cache and sources are skipped and the
 *             RESPONSE stage still runs.
 *   response: runs after the reply was written into q->resp; reads q,
 *             edits q->resp (the bridge rewrites it when records change);
 *             returns a verdict: CONTINUE and ANSWER send q->resp as it
 *             now is, DROP sends nothing, the others replace it.
 *   log:      read-only; runs after the reply was handed to the kernel (or
 *             dropped: q->sent tells which). Its return value is ignored.
 * Any other return value is an error and is treated as SERVFAIL. Data the
 * core passes to a hook is valid only during the call.
 *
 * Hooks that are not set cost nothing: q->policy is NULL unless the block
 * has policies, and each stage tests that one pointer.
 *
 * Asynchrony: a source that must wait (an upstream) returns MOON_EPENDING
 * from its start function and later, on the same worker thread, calls
 * moon_query_resume(q). The context stays with its worker the whole time;
 * a query never crosses threads.
 *
 * Memory: contexts come from a per-worker pool allocated once at start
 * (server/worker.c); the request and response buffers and the answer
 * scratch belong to the context. The per-query path allocates nothing.
 */
#ifndef MOON_QUERY_QUERY_H
#define MOON_QUERY_QUERY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "query/meta.h"
#include "wire/pkt.h"

struct moon_gen;
struct moon_gen_block;
struct moon_zone;
struct moon_zone_answer;

enum moon_stage {
	MOON_STAGE_QUERY = 0,
	MOON_STAGE_CACHE,
	MOON_STAGE_SOURCES,
	MOON_STAGE_RESPONSE,
	MOON_STAGE_SEND,
	MOON_STAGE_LOG,
	MOON_STAGE_DONE,
};

/* What a query or response hook decides. */
enum moon_verdict {
	MOON_VERDICT_CONTINUE = 0,  /* go on with the next policy / stage */
	MOON_VERDICT_ANSWER,        /* q->ans holds the answer (query stage: skip sources) */
	MOON_VERDICT_REFUSE,        /* REFUSED, empty sections */
	MOON_VERDICT_NXDOMAIN,      /* NXDOMAIN, empty sections */
	MOON_VERDICT_SERVFAIL,      /* SERVFAIL, empty sections */
	MOON_VERDICT_DROP,          /* no reply at all */
};

/* Where the answer came from (r.source in Lua). */
enum moon_source {
	MOON_SOURCE_NONE = 0,       /* error replies made by the server itself */
	MOON_SOURCE_ZONE,
	MOON_SOURCE_CACHE,
	MOON_SOURCE_FORWARD,
	MOON_SOURCE_POLICY,
	MOON_SOURCE_CHAOS,          /* CH TXT identity answers */
};

enum moon_proto { MOON_PROTO_UDP = 0, MOON_PROTO_TCP = 1 };

struct moon_query;

/* Bounds of the EDNS options policies set: options, and bytes of them. */
#define MOON_QUERY_EDNS_EDITS 8
#define MOON_QUERY_EDNS_BYTES 512

/*
 * The hooks of one block's policy chain on one worker. `chain` is the
 * bridge's opaque state (for Lua: that worker's compiled policies of the
 * block, in config order). Any pointer may be NULL.
 */
struct moon_hooks {
	enum moon_verdict (*query)(void *chain, struct moon_query *q);
	enum moon_verdict (*response)(void *chain, struct moon_query *q);
	void (*log)(void *chain, const struct moon_query *q);
};

struct moon_policy {
	const struct moon_hooks *hooks;
	void *chain;
};

struct moon_query {
	/* Fixed when the pool is built. */
	const uint8_t *req;             /* request bytes (req_len of them) */
	uint8_t *resp;                  /* response buffer, resp_cap bytes */
	uint32_t resp_cap;
	struct moon_zone_answer *ans;   /* answer scratch owned by the context */
	void (*resume)(struct moon_query *q); /* the server's continuation */
	/* Starts a reply in buf (resp_cap bytes) as the server starts its own:
	 * ID, the client's question, OPT with our payload size, the DO bit and
	 * NSID. For replies made outside the pipeline (src/bridge). */
	void (*begin_reply)(struct moon_query *q, struct moon_pktw *w, uint8_t *buf);
	void *owner;                    /* the worker */
	unsigned worker;                /* its index (selects per-worker policy state) */

	/* Set by the transport for each query. */
	uint32_t req_len;
	uint32_t resp_len;              /* 0 = no reply */
	const struct sockaddr *client;
	const struct sockaddr *server;  /* the address the query was sent to */
	uint8_t proto;                  /* enum moon_proto */
	uint16_t listener;              /* index of that address among the bound listeners */

	/* Set by the pipeline. */
	uint8_t stage;                  /* enum moon_stage reached */
	uint8_t source;                 /* enum moon_source */
	bool sent;                      /* the reply went to the kernel */
	bool edns;                      /* reply with an OPT record */
	bool nocache;                   /* a policy marked the answer uncacheable */
	uint16_t rcode;                 /* of the reply (extended codes included) */
	uint16_t limit;                 /* largest reply the client takes */
	int64_t start_ns;               /* when the pipeline got it (moon_now_ns), for
					 * metrics and the query log; 0 without them */
	struct moon_gen *gen;           /* the generation the query started with */
	const struct moon_gen_block *block; /* the server block it was routed to */
	const struct moon_zone *zone;   /* the zone answering it, if any */
	const struct moon_policy *policy; /* NULL: the block has no policies */
	struct moon_pkt pkt;            /* the parsed request */

	/* Set by policies (src/bridge); moon_query_reset_policy() clears them
	 * for each query. q->pkt keeps the client's question, which every
	 * reply carries; a rewrite changes only what the cache and the sources
	 * answer (moon_query_qname/qtype); records owned by that name are
	 * written as a pointer to the question, so they read as the client's. */
	struct moon_meta meta;          /* q.meta, for later stages and the query log */
	uint16_t answered_by;           /* 1 + index of the policy whose verdict made the
					 * reply, 0 = none (the bridge's numbering) */
	bool rewritten;
	uint8_t rw_qname_len;
	uint16_t rw_qtype;
	uint16_t rw_qclass;             /* zones answer IN only; the reply keeps the client's */
	uint8_t rw_qname[MOON_NAME_MAXLEN]; /* lowercase wire form */
	/* EDNS options a policy set (q:set_edns_option): the forwarder sends
	 * these (and no other client option) upstream; `edns_rm` lists the
	 * codes a policy removed, so they read as absent. Either set makes
	 * the query uncacheable (q->nocache). */
	uint16_t edns_set_len;          /* bytes of code, length, data in edns_set */
	uint8_t edns_nset, edns_nrm;
	uint16_t edns_rm[MOON_QUERY_EDNS_EDITS];
	uint8_t edns_set[MOON_QUERY_EDNS_BYTES];
};

static inline void moon_query_reset_policy(struct moon_query *q)
{
	moon_meta_reset(&q->meta);
	q->answered_by = 0;
	q->nocache = false;
	q->rewritten = false;
	q->edns_set_len = 0;
	q->edns_nset = q->edns_nrm = 0;
}

/* The question the cache and the sources answer (lowercase wire form). */
static inline const uint8_t *moon_query_qname(const struct moon_query *q)
{
	return q->rewritten ? q->rw_qname : q->pkt.qname_lc;
}

static inline uint8_t moon_query_qname_len(const struct moon_query *q)
{
	return q->rewritten ? q->rw_qname_len : q->pkt.qname_len;
}

static inline uint16_t moon_query_qtype(const struct moon_query *q)
{
	return q->rewritten ? q->rw_qtype : q->pkt.qtype;
}

static inline uint16_t moon_query_qclass(const struct moon_query *q)
{
	return q->rewritten ? q->rw_qclass : q->pkt.qclass;
}

/* q->pkt as the sources see it, for code that takes a whole moon_pkt (the
 * forwarder): the request itself, or a copy in tmp with the rewritten
 * question. */
static inline const struct moon_pkt *moon_query_sources_pkt(const struct moon_query *q,
							    struct moon_pkt *tmp)
{
	if (!q->rewritten)
		return &q->pkt;
	*tmp = q->pkt;
	memcpy(tmp->qname, q->rw_qname, q->rw_qname_len);
	memcpy(tmp->qname_lc, q->rw_qname, q->rw_qname_len);
	tmp->qname_len = q->rw_qname_len;
	tmp->qtype = q->rw_qtype;
	tmp->qclass = q->rw_qclass;
	return tmp;
}

/* Continues a query whose source returned MOON_EPENDING. Same thread only. */
static inline void moon_query_resume(struct moon_query *q)
{
	q->resume(q);
}

/* Lowercase names, for logs and the bridge. */
const char *moon_stage_name(enum moon_stage stage);
const char *moon_source_name(enum moon_source source);

#endif
