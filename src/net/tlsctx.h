/*
 * The TLS side of a DNS-over-TLS listener (RFC 7858): an OpenSSL SSL_CTX
 * with the server's certificate and key, TLS 1.2 at least (1.3 preferred,
 * as OpenSSL negotiates the highest common version), ALPN "dot" (RFC 7858
 * section 3.2 / IANA), no renegotiation, optional client certificates
 * (mutual TLS) and session tickets.
 *
 * Session tickets are encrypted with keys from one process-wide ring,
 * rotated every MOON_TLS_TICKET_KEY_HOURS (the previous key still decrypts
 * for as long again, and a ticket under it is renewed). Every context
 * uses the ring, so a client resumes across workers, config reloads and
 * certificate swaps. The session id context ties a session to the
 * certificate and client CA paths, so a ticket of one listener does not
 * resume on a listener with other settings.
 *
 * Contexts are built with each config generation (server/dot.h); a new
 * certificate is a new context, swapped in for new connections.
 *
 * Ownership and threads: a context is immutable once built and counted by
 * references: moon_tls_ctx_new returns one, moon_tls_ctx_ref adds one,
 * moon_tls_ctx_release drops one (the last frees it). Any thread may take
 * or drop references and create SSL objects from ctx->ssl (SSL_new is
 * thread-safe on a shared SSL_CTX). An SSL object holds its own reference
 * to the SSL_CTX, so a connection outlives the context it started with.
 */
#ifndef MOON_NET_TLSCTX_H
#define MOON_NET_TLSCTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/diag.h"

struct ssl_ctx_st;

#define MOON_TLS_TICKET_KEY_HOURS 6

/* What a listener's `tls:` section says. Strings are borrowed for the call. */
struct moon_tls_opts {
	const char *cert;                /* PEM chain: the server certificate first */
	const char *key;                 /* PEM private key */
	const char *client_ca;           /* PEM CA(s) for client certificates; NULL = none asked */
	bool session_tickets;            /* false: no resumption at all */
	uint32_t handshake_timeout_ms;
	uint32_t max_new_sessions_per_client; /* per second; 0 = unlimited */
	const char *where;               /* "file:line" for diagnostics, or NULL */
	const char *keypath;             /* "servers[0].tls" for diagnostics, or NULL */
};

struct moon_tls_ctx {
	struct ssl_ctx_st *ssl;
	_Atomic unsigned refs;
	uint32_t handshake_timeout_ms;
	uint32_t max_new_sessions_per_client;
	int64_t not_after;               /* certificate expiry, Unix seconds */
};

/*
 * Loads the certificate, key and client CA and builds the context. Logs
 * the certificate's subject, serial and expiry (a warning when it expired
 * or expires within 14 days). On failure adds "WHERE: tls.cert: cannot
 * load certificate PATH: reason" (WHERE and tls being the options' where
 * and keypath; or .key, .client_ca) to diag and returns
 * MOON_ESEMANTIC, or -ENOMEM.
 */
int moon_tls_ctx_new(const struct moon_tls_opts *o, struct moon_diag *diag,
		     struct moon_tls_ctx **out);
struct moon_tls_ctx *moon_tls_ctx_ref(struct moon_tls_ctx *c);
void moon_tls_ctx_release(struct moon_tls_ctx *c);

#endif
