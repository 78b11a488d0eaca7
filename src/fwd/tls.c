#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "fwd/internal.h"
#include "util/err.h"
#include "util/log.h"

/*
 * OpenSSL hands us each new session (in TLS 1.3 the tickets arrive after
 * the handshake, while reading). The last one per upstream and worker is
 * kept for the next connection: the callback runs on the thread reading
 * the connection, which is the one owning its struct wup.
 */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct conn *c = SSL_get_app_data(ssl);
	if (!c)
		return 0;
	struct wup *w = c->up;
	if (w->session)
		SSL_SESSION_free(w->session);
	w->session = sess;
	return 1;
}

static void ssl_errors(struct moon_diag *diag, const char *where, const char *what,
		       const char *file)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	moon_diag_add(diag, where, 0, 0, "forward: %s %s: %s", what, file ? file : "", buf);
	ERR_clear_error();
}

static int load_keys(SSL_CTX *ctx, const struct moon_fwd_opts *o, struct moon_diag *diag)
{
	if (o->tls_verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		int ok = o->tls_ca ? SSL_CTX_load_verify_locations(ctx, o->tls_ca, NULL)
				   : SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1) {
			ssl_errors(diag, o->where, "cannot load CA", o->tls_ca);
			return MOON_ESEMANTIC;
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (!o->tls_cert)
		return 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert) != 1) {
		ssl_errors(diag, o->where, "cannot load client certificate", o->tls_cert);
		return MOON_ESEMANTIC;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_errors(diag, o->where, "cannot load client key", o->tls_key);
		return MOON_ESEMANTIC;
	}
	return 0;
}

/* Upstreams without their own #name take tls_servername. */
static int set_names(struct moon_fwd *fwd, const char *servername)
{
	for (unsigned i = 0; i < fwd->nup; i++) {
		struct upstream *u = &fwd->up[i];
		if (u->xport != XP_TLS || u->tls_name || !servername)
			continue;
		u->tls_name = moon__fwd_hostname_dup(servername);
		if (!u->tls_name)
			return -ENOMEM;
		moon__fwd_upstream_name(u);
	}
	return 0;
}

int moon__fwd_tls_init(struct moon_fwd *fwd, struct moon_diag *diag)
{
	const struct moon_fwd_opts *o = &fwd->o;
	bool any = false;
	for (unsigned i = 0; i < fwd->nup; i++)
		any |= fwd->up[i].xport == XP_TLS;
	if (!any)
		return 0;
	if (o->tls_servername) {
		if (!moon__fwd_hostname_ok(o->tls_servername)) {
			moon_diag_add(diag, o->where, 0, 0, "forward: bad `tls_servername` \"%s\"",
				      o->tls_servername);
			return MOON_ESYNTAX;
		}
	}
	int r = set_names(fwd, o->tls_servername);
	if (r < 0)
		return r;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return -ENOMEM;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, new_session);
	r = load_keys(ctx, o, diag);
	if (r < 0) {
		SSL_CTX_free(ctx);
		return r;
	}
	fwd->ssl_ctx = ctx;
	return 0;
}

static bool set_peer_ip(SSL *ssl, const struct sockaddr_storage *ss)
{
	const void *ip = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	size_t len = 16;
	if (ss->ss_family == AF_INET) {
		ip = &((const struct sockaddr_in *)ss)->sin_addr;
		len = 4;
	}
	return X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl), ip, len) == 1;
}

SSL *moon__fwd_tls_new(struct conn *c)
{
	struct wup *w = c->up;
	const struct upstream *u = w->u;
	SSL *ssl = SSL_new(w->fw->fwd->ssl_ctx);
	if (!ssl)
		return NULL;
	bool ok = SSL_set_fd(ssl, c->fd) == 1 && SSL_set_app_data(ssl, c) == 1;
	if (ok && u->tls_name) {
		X509_VERIFY_PARAM *p = SSL_get0_param(ssl);
		X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set_tlsext_host_name(ssl, u->tls_name) == 1 &&
		     X509_VERIFY_PARAM_set1_host(p, u->tls_name, 0) == 1;
	} else if (ok) {
		ok = set_peer_ip(ssl, &u->addr);
	}
	if (ok && w->session)
		ok = SSL_set_session(ssl, w->session) == 1;
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}
