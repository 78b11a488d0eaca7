/*
 * The per-query context, the stages a query goes through, and the hook
 * table that policy code (the Lua bridge, src/bridge) implements. Nothing
 * here knows Lua: the core calls plain C function pointers.
 *
 * THE LIFE OF A QUERY (the order is fixed; doc/design.md has the long form)
 *
 *   receive, parse, route to a server block (server/pipeline.c)
 *   MOON_STAGE_QUERY     hooks->query      policies in config order
 *   MOON_STAGE_CACHE     (no cache yet)
 *   MOON_STAGE_SOURCES   zones of the block, later the forwarder; a source
 *                        may return MOON_EPENDING and finish later
 *   MOON_STAGE_RESPONSE  hooks->response   sees every answer
 *   MOON_STAGE_SEND      fit to the client's size (TC), write, send
 *   MOON_STAGE_LOG       hooks->log        read-only, after the send
 *
 * What each hook may do:
 *   query:    read everything in q (the parsed request, client, block);
 *             return a verdict (below). MOON_VERDICT_ANSWER means the hook
 *             filled q->ans itself (source MOON_SOURCE_POLICY): cache and
 *             sources are skipped and the RESPONSE stage still runs.
 *   response: read q, edit q->ans in place (remove or reorder RRsets,
 *             change rcode, AA, TTLs through the bridge); return a verdict:
 *             CONTINUE sends q->ans, the others replace it.
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
#include <sys/socket.h>

#include "wire/pkt.h"

struct moon_gen;
struct moon_gen_block;
struct moon_zone;
struct moon_zone_answer;
struct moon_stats;

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
	struct moon_stats *stats;       /* the worker's counters */
	void (*resume)(struct moon_query *q); /* the server's continuation */
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
	uint16_t rcode;                 /* of the reply (extended codes included) */
	uint16_t limit;                 /* largest reply the client takes */
	struct moon_gen *gen;           /* the generation the query started with */
	const struct moon_gen_block *block; /* the server block it was routed to */
	const struct moon_zone *zone;   /* the zone answering it, if any */
	const struct moon_policy *policy; /* NULL: the block has no policies */
	struct moon_pkt pkt;            /* the parsed request */
};

/* Continues a query whose source returned MOON_EPENDING. Same thread only. */
static inline void moon_query_resume(struct moon_query *q)
{
	q->resume(q);
}

/* Lowercase names, for logs and the bridge. */
const char *moon_stage_name(enum moon_stage stage);
const char *moon_source_name(enum moon_source source);

#endif
