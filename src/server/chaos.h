/*
 * CHAOS class TXT queries that name the server (RFC 4892): id.server and
 * hostname.bind give the identity, version.bind and version.server the
 * version. Each is off (REFUSED) unless configured; id.server and
 * hostname.bind fall back on each other, as both mean "which server is
 * this". The answer is TXT class CH with TTL 0 and no AA, as knotd sends it.
 */
#ifndef MOON_SERVER_CHAOS_H
#define MOON_SERVER_CHAOS_H

#include "conf/conf.h"
#include "wire/pkt.h"

/* Adds the answer record to w (begun for q) and returns the RCODE to send:
 * NOERROR, or REFUSED for anything else (other names, types, or an identity
 * that is not configured). */
int moon_chaos_answer(struct moon_pktw *w, const struct moon_pkt *q,
		      const struct moon_conf_identity *id);

#endif
