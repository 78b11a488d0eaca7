/*
 * The pipeline drives one query through the stages of query/query.h:
 * checks of the request (FORMERR, NOTIMP, BADVERS, CHAOS, REFUSED), routing
 * to a server block of q->gen, the QUERY hooks, the sources, the RESPONSE
 * hooks, and the fitting of the reply to the client's size. It touches no
 * socket: the caller fills q's transport fields (req, req_len, proto,
 * listener, client, server) and q->gen, and sends q->resp afterwards, so
 * the unit tests feed raw packets straight in.
 *
 * No heap allocation: everything lives in the query context.
 */
#ifndef MOON_SERVER_PIPELINE_H
#define MOON_SERVER_PIPELINE_H

#include "query/query.h"

/*
 * Runs q from receive to a ready reply. Returns 0 when q->resp_len is final
 * (0 = send nothing), or MOON_EPENDING when a source continues
 * asynchronously; q->resume(q) is then called on this thread once the reply
 * is final.
 */
int moon_pipeline_run(struct moon_query *q);

/* Continues a query after its asynchronous source filled q->ans: the
 * RESPONSE stage and the reply. Returns 0; q->resp_len is final. */
int moon_pipeline_resume(struct moon_query *q);

/* The LOG stage, after the reply was sent (q->sent) or dropped. */
void moon_pipeline_finish(struct moon_query *q);

#endif
