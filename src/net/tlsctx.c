#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/tlsctx.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

#define KEY_LIFETIME_MS ((int64_t)MOON_TLS_TICKET_KEY_HOURS * 3600 * 1000)
#define EXPIRY_WARN_DAYS 14

/* ------------------------------------------------------------ ticket keys */

struct ticket_key {
	uint8_t name[16], aes[32], hmac[32];
	int64_t born_ms;                 /* 0 = unset */
};

/* k[0] encrypts new tickets; k[1], its predecessor, only decrypts. */
static struct {
	pthread_mutex_t lock;
	struct ticket_key k[2];
} ring = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Under ring.lock. Returns false when no randomness was available. */
static bool rotate_if_due(int64_t now)
{
	if (ring.k[0].born_ms && now - ring.k[0].born_ms < KEY_LIFETIME_MS)
		return true;
	struct ticket_key k;
	if (RAND_bytes(k.name, sizeof(k.name)) != 1 || RAND_bytes(k.aes, sizeof(k.aes)) != 1 ||
	    RAND_bytes(k.hmac, sizeof(k.hmac)) != 1)
		return false;
	k.born_ms = now;
	ring.k[1] = ring.k[0];
	ring.k[0] = k;
	OPENSSL_cleanse(&k, sizeof(k));
	return true;
}

/* Finds the key for enc (the current one) or for a ticket's name. Returns
 * 1 (current), 2 (previous: decrypt, then issue a fresh ticket) or 0. */
static int pick_key(const uint8_t *name, bool enc, struct ticket_key *out)
{
	int64_t now = moon_now_ms();
	int ret = 0;
	pthread_mutex_lock(&ring.lock);
	if (rotate_if_due(now)) {
		if (enc || !memcmp(name, ring.k[0].name, 16)) {
			*out = ring.k[0];
			ret = 1;
		} else if (ring.k[1].born_ms && now - ring.k[1].born_ms < 2 * KEY_LIFETIME_MS &&
			   !memcmp(name, ring.k[1].name, 16)) {
			*out = ring.k[1];
			ret = 2;
		}
	}
	pthread_mutex_unlock(&ring.lock);
	return ret;
}

/* OpenSSL's ticket key callback: -1 error, 0 unknown key (full handshake),
 * 1 ok, 2 ok but renew the ticket. */
static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key k;
	int ret = pick_key(name, enc, &k);
	if (ret == 0)
		return enc ? -1 : 0;
	int ok;
	if (enc) {
		memcpy(name, k.name, 16);
		ok = RAND_bytes(iv, 16) == 1 &&
		     EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
	} else {
		ok = EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1;
	}
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac)),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	ok = ok && EVP_MAC_CTX_set_params(hctx, params) == 1;
	OPENSSL_cleanse(&k, sizeof(k));
	return ok ? ret : -1;
}

/* ------------------------------------------------------------ building */

/* The most telling reason in OpenSSL's error queue: a system error (a
 * missing file) says more than the "system lib" reported after it. */
static const char *ssl_reason(void)
{
	unsigned long e, last = 0;
	while ((e = ERR_get_error()) != 0) {
		if (ERR_SYSTEM_ERROR(e))
			return strerror(ERR_GET_REASON(e));
		last = e;
	}
	if (ERR_GET_LIB(last) == ERR_LIB_X509 && ERR_GET_REASON(last) == X509_R_KEY_VALUES_MISMATCH)
		return "it does not belong to the certificate";
	const char *r = last ? ERR_reason_error_string(last) : NULL;
	return r ? r : "unknown OpenSSL error";
}

static void diag_ssl(struct moon_diag *diag, const struct moon_tls_opts *o, const char *key,
		     const char *what, const char *path)
{
	moon_diag_add(diag, o->where, 0, 0, "%s.%s: cannot load %s %s: %s",
		      o->keypath ? o->keypath : "tls", key, what, path, ssl_reason());
	ERR_clear_error();
}

/* ALPN: pick "dot" when the client offers it. A client that offers only
 * other protocols still gets DNS over TLS without ALPN (RFC 7858 does not
 * require it), rather than a failed handshake. */
static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char dot[] = { 3, 'd', 'o', 't' };
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, dot, sizeof(dot), in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static void log_cert(SSL_CTX *ctx, const struct moon_tls_opts *o, int64_t *not_after)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	char subject[256] = "?", serial[80] = "?", expiry[32] = "?";
	if (!x)
		return;
	X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	if (hex)
		snprintf(serial, sizeof(serial), "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	struct tm tm;
	*not_after = 0;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) {
		strftime(expiry, sizeof(expiry), "%Y-%m-%d %H:%M:%S UTC", &tm);
		*not_after = (int64_t)timegm(&tm);
	}
	int64_t days = (*not_after - (int64_t)time(NULL)) / 86400;
	if (*not_after && days < EXPIRY_WARN_DAYS)
		moon_warn(NET, "TLS certificate %s (%s, serial %s) %s %s", o->cert, subject, serial,
			  *not_after < time(NULL) ? "EXPIRED on" : "expires soon:", expiry);
	else
		moon_info(NET, "TLS certificate %s: %s, serial %s, expires %s", o->cert, subject,
			  serial, expiry);
}

/* Ties sessions to the listener's certificate and client CA. */
static int set_sid_ctx(SSL_CTX *ctx, const struct moon_tls_opts *o)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	const char *ca = o->client_ca ? o->client_ca : "";
	int ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(m, o->cert, strlen(o->cert) + 1) == 1 &&
		 EVP_DigestUpdate(m, ca, strlen(ca) + 1) == 1 &&
		 EVP_DigestFinal_ex(m, md, &len) == 1;
	EVP_MD_CTX_free(m);
	if (len > SSL_MAX_SID_CTX_LENGTH)
		len = SSL_MAX_SID_CTX_LENGTH;
	return ok && SSL_CTX_set_session_id_context(ctx, md, len) == 1 ? 0 : -ENOMEM;
}

static int set_client_ca(SSL_CTX *ctx, const struct moon_tls_opts *o, struct moon_diag *diag)
{
	if (!o->client_ca)
		return 0;
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca);
	if (!names || SSL_CTX_load_verify_locations(ctx, o->client_ca, NULL) != 1) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		diag_ssl(diag, o, "client_ca", "client CA", o->client_ca);
		return MOON_ESEMANTIC;
	}
	/* Tells clients which CAs we accept; the context owns the list. */
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

static int set_keys(SSL_CTX *ctx, const struct moon_tls_opts *o, struct moon_diag *diag)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		diag_ssl(diag, o, "cert", "certificate", o->cert);
		return MOON_ESEMANTIC;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
		diag_ssl(diag, o, "key", "private key", o->key);
		return MOON_ESEMANTIC;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		moon_diag_add(diag, o->where, 0, 0, "%s.key: cannot load private key %s: it does "
			      "not belong to the certificate", o->keypath ? o->keypath : "tls",
			      o->key);
		return MOON_ESEMANTIC;
	}
	return 0;
}

static void set_sessions(SSL_CTX *ctx, bool tickets)
{
	/* No server-side cache: TLS 1.3 tickets carry the whole session, and
	 * a cache would be per context, i.e. lost on every certificate swap. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!tickets) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
		return;
	}
	/* One ticket per connection is all a DNS client needs. */
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}

static SSL_CTX *build(const struct moon_tls_opts *o, struct moon_diag *diag, int *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	*err = -ENOMEM;
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* A client that closes without close_notify after its answers is
	 * not an attack on DNS: the framing shows every message whole. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* tls.c retries a blocked write from its own buffer, which may have
	 * moved, and takes output one record at a time. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Pipelined queries arrive as many small records: read them with
	 * one system call, not two per record. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	set_sessions(ctx, o->session_tickets);
	*err = set_keys(ctx, o, diag);
	if (!*err)
		*err = set_client_ca(ctx, o, diag);
	if (!*err)
		*err = set_sid_ctx(ctx, o);
	if (*err) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void ctx_free(struct moon_tls_ctx *c)
{
	SSL_CTX_free(c->ssl);
	free(c);
}

int moon_tls_ctx_new(const struct moon_tls_opts *o, struct moon_diag *diag,
		     struct moon_tls_ctx **out)
{
	if (!o->cert || !o->key)
		return -EINVAL;
	struct moon_tls_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->handshake_timeout_ms = o->handshake_timeout_ms;
	c->max_new_sessions_per_client = o->max_new_sessions_per_client;
	atomic_init(&c->refs, 1);
	int err;
	c->ssl = build(o, diag, &err);
	if (!c->ssl) {
		if (err == -ENOMEM)
			moon_diag_add(diag, o->where, 0, 0, "%s: out of memory",
				      o->keypath ? o->keypath : "tls");
		ctx_free(c);
		return err;
	}
	log_cert(c->ssl, o, &c->not_after);
	*out = c;
	return 0;
}

struct moon_tls_ctx *moon_tls_ctx_ref(struct moon_tls_ctx *c)
{
	if (c)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

void moon_tls_ctx_release(struct moon_tls_ctx *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		ctx_free(c);
}
