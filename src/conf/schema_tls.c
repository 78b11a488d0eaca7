/*
 * The rows of servers[].tls (DNS over TLS, doc/dot.md) and their check;
 * schema.c's server rows point here. The keys map onto net/tlsctx.h's
 * struct moon_tls_opts; the certificate files themselves are read when a
 * generation is built (server/tlsgen.c), like zone files, so `moondns
 * check` reports a bad certificate too.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf/schema.h"

#define FIELD(type, member) \
	.off = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define RL MOON_CONF_RELOAD
#define F(member) FIELD(struct moon_conf_tls, member)

const struct moon_conf_item moon__conf_tls_keys[] = {
	{ .name = "cert", .type = MOON_CONF_PATH, .flags = RL, F(cert),
	  .def_doc = "none; required when the section is given",
	  .doc = "PEM file with the server's certificate, followed by any intermediate "
		 "certificates. Replacing the file (or the key) takes effect for new "
		 "connections within seconds, without a reload." },
	{ .name = "key", .type = MOON_CONF_PATH, .flags = RL, F(key),
	  .def_doc = "none; required when the section is given",
	  .doc = "PEM file with the certificate's private key." },
	{ .name = "client_ca", .type = MOON_CONF_PATH, .flags = RL, F(client_ca),
	  .def_doc = "none: clients are not asked for a certificate",
	  .doc = "PEM file with the CA certificates that sign client certificates. When "
		 "given, a client must present a certificate one of them signed (mutual "
		 "TLS), or its handshake fails." },
	{ .name = "handshake_timeout", .type = MOON_CONF_DURATION, .flags = RL,
	  F(handshake_timeout_ms), .unit_ms = 1, .min = 100, .max = 60000, .def = "5s",
	  .doc = "A connection that has not completed its TLS handshake this long after "
		 "it was accepted is closed. After the handshake the `tcp:` timeouts and "
		 "limits apply." },
	{ .name = "session_tickets", .type = MOON_CONF_BOOL, .flags = RL, F(session_tickets),
	  .def = "true",
	  .doc = "Issue session tickets, so that a returning client resumes its session "
		 "with a cheap abbreviated handshake. The ticket keys are shared by all "
		 "workers and rotated every 6 hours. When false, every connection needs a "
		 "full handshake." },
	{ .name = "max_new_sessions_per_client", .type = MOON_CONF_INT, .flags = RL,
	  F(max_new_sessions_per_client), .min = 0, .max = 1000000, .def = "100",
	  .doc = "Full TLS handshakes one client address may make per second (a burst of "
		 "as many is allowed); further ones fail right after the client's hello, "
		 "before the costly key exchange. Resumed sessions do not count. "
		 "0 = unlimited." },
	{ .name = "where", .type = MOON_CONF_STR, .flags = MOON_CONF_INTERNAL, F(where) },
	{ .name = NULL },
};

static void missing(struct moon_conf_walk *w, const struct moon_ynode *map, const char *key)
{
	size_t mark = moon__conf_path_key(w, key);
	moon__conf_error(w, map, "required: a tls section needs cert and key");
	moon__conf_path_pop(w, mark);
}

void moon__conf_check_tls(struct moon_conf_walk *w, const struct moon_ynode *map,
			  const struct moon_ynode *at, void *base)
{
	struct moon_conf_tls *t = base;
	if (!t->enabled)
		return;
	map = map ? map : at;
	if (!t->cert)
		missing(w, map, "cert");
	if (!t->key)
		missing(w, map, "key");
	if (asprintf(&t->where, "%s:%u:%u", w->file, at->line, at->col) < 0) {
		t->where = NULL;
		moon__conf_error(w, at, "out of memory");
	}
}
