/*
 * DNS over TLS through the transport, on real loopback sockets: the
 * worker's loop runs in a thread of its own with a fake server that echoes
 * each message (first byte + 100; odd first bytes are answered later, out
 * of order), and a blocking OpenSSL client drives it from the main thread.
 * The certificates are made here (a throwaway self-signed P-256 key).
 */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/net.h"
#include "net/tls.h"
#include "tap.h"
#include "util/err.h"
#include "util/time.h"

#define POOL 64

static struct slot {
	struct moon_net_pkt pkt;
	uint8_t req[65536];
	uint8_t resp[2 + 65535];
	bool used;
} slots[POOL];

static struct moon_net_pkt *pending[POOL];
static unsigned npending;
static struct ev_loop *loop;
static ev_async stop_async;
static struct moon_net_worker *nw;

static struct moon_net_pkt *get(void *arg)
{
	for (unsigned i = 0; i < POOL; i++) {
		if (!slots[i].used) {
			slots[i].used = true;
			return &slots[i].pkt;
		}
	}
	return NULL;
}

static int handle(void *arg, struct moon_net_pkt *pkt)
{
	memcpy(pkt->resp, pkt->req, pkt->req_len);
	pkt->resp[0] = (uint8_t)(pkt->resp[0] + 100);
	pkt->resp_len = pkt->req_len;
	if (pkt->req[0] & 1) {
		pending[npending++] = pkt;
		return MOON_EPENDING;
	}
	return 0;
}

static void done(void *arg, struct moon_net_pkt *pkt, bool sent)
{
	for (unsigned i = 0; i < POOL; i++)
		if (&slots[i].pkt == pkt)
			slots[i].used = false;
}

/* Completes the pending ones newest first, so they leave out of order. */
static void complete_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	while (npending)
		moon_net_complete(pending[--npending]);
}

static void stop_cb(struct ev_loop *l, ev_async *a, int revents)
{
	moon_net_worker_close(nw);
	ev_break(l, EVBREAK_ALL);
}

static void *loop_main(void *arg)
{
	ev_timer complete;
	ev_timer_init(&complete, complete_cb, 0.01, 0.01);
	ev_timer_start(loop, &complete);
	ev_run(loop, 0);
	ev_timer_stop(loop, &complete);
	return NULL;
}

/* ------------------------------------------------------------ certificates */

static char dir[] = "/tmp/moon-test-tls-XXXXXX";
static char cert_path[256], key_path[256];

static bool make_cert(const char *cn, const char *cert_file, const char *key_file)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	bool okay = false;
	if (!k || !x)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400 * 30);
	X509_set_pubkey(x, k);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, k, EVP_sha256()))
		goto out;
	FILE *f = fopen(cert_file, "w");
	FILE *g = fopen(key_file, "w");
	okay = f && g && PEM_write_X509(f, x) && PEM_write_PrivateKey(g, k, NULL, NULL, 0, 0, 0);
	if (f)
		fclose(f);
	if (g)
		fclose(g);
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return okay;
}

/* ------------------------------------------------------------ client */

static int port;

static int tcp_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 3 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

static SSL_CTX *client_ctx(int max_version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	static const unsigned char alpn[] = { 3, 'd', 'o', 't' };
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn));
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	if (max_version)
		SSL_CTX_set_max_proto_version(ctx, max_version);
	/* TLS 1.1 needs security level 0 in OpenSSL 3. */
	SSL_CTX_set_security_level(ctx, 0);
	return ctx;
}

/* Connects and handshakes; false when the handshake failed. */
static bool client_open(struct client *c, SSL_CTX *ctx, SSL_SESSION *resume)
{
	c->ctx = ctx;
	c->fd = tcp_connect();
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	if (resume)
		SSL_set_session(c->ssl, resume);
	bool okay = SSL_connect(c->ssl) == 1;
	ERR_clear_error();
	return okay;
}

static void client_close(struct client *c)
{
	/* Without close_notify OpenSSL marks the session not resumable. */
	SSL_shutdown(c->ssl);
	ERR_clear_error();
	SSL_free(c->ssl);
	close(c->fd);
}

static bool send_all(struct client *c, const uint8_t *buf, int len)
{
	return SSL_write(c->ssl, buf, len) == len;
}

static bool recv_all(struct client *c, uint8_t *buf, int len)
{
	for (int got = 0; got < len;) {
		int n = SSL_read(c->ssl, buf + got, len - got);
		if (n <= 0) {
			ERR_clear_error();
			return false;
		}
		got += n;
	}
	return true;
}

/* One framed message of len bytes: first byte `first`, then a pattern. */
static size_t frame(uint8_t *out, uint8_t first, size_t len)
{
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	out[2] = first;
	for (size_t i = 1; i < len; i++)
		out[2 + i] = (uint8_t)(i * 7 + first);
	return len + 2;
}

/* Reads one framed reply into buf; its length, or -1. */
static int read_reply(struct client *c, uint8_t *buf)
{
	uint8_t h[2];
	if (!recv_all(c, h, 2))
		return -1;
	int len = h[0] << 8 | h[1];
	return recv_all(c, buf, len) ? len : -1;
}

/* Seconds until the server closes fd (nothing sent), or -1 at `limit`. */
static double until_closed(int fd, double limit)
{
	int64_t t0 = moon_now_ms();
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (poll(&p, 1, (int)(limit * 1000)) > 0) {
		char b[256];
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n <= 0)
			return (moon_now_ms() - t0) / 1000.0;
	}
	return -1;
}

/* ------------------------------------------------------------ tests */

static struct moon_tls_listener tl;

static struct moon_tls_ctx *server_ctx(const char *client_ca, uint32_t rate, uint32_t hs_ms)
{
	struct moon_diag d = { 0 };
	struct moon_tls_opts o = {
		.cert = cert_path, .key = key_path, .client_ca = client_ca,
		.session_tickets = true, .handshake_timeout_ms = hs_ms,
		.max_new_sessions_per_client = rate, .where = "test.yaml:3:5",
		.keypath = "servers[0].tls",
	};
	struct moon_tls_ctx *c = NULL;
	int ret = moon_tls_ctx_new(&o, &d, &c);
	for (size_t i = 0; i < d.n; i++)
		printf("# %s\n", d.msgs[i]);
	moon_diag_free(&d);
	return ret ? NULL : c;
}

static void use_ctx(struct moon_tls_ctx *c)
{
	moon_tls_listener_set(&tl, c);
	moon_tls_ctx_release(c);
}

static void test_ctx_errors(void)
{
	struct moon_diag d = { 0 };
	struct moon_tls_opts o = {
		.cert = "/nonexistent/server.crt", .key = key_path, .where = "test.yaml:3:5",
		.keypath = "servers[1].tls",
	};
	struct moon_tls_ctx *c = NULL;
	ok(moon_tls_ctx_new(&o, &d, &c) == MOON_ESEMANTIC && !c, "a missing cert fails");
	ok(d.n == 1 && strstr(d.msgs[0], "test.yaml:3:5: servers[1].tls.cert: cannot load "
			      "certificate /nonexistent/server.crt: No such file") != NULL,
	   "and says where, which key, which file and why");
	if (d.n)
		printf("# %s\n", d.msgs[0]);
	moon_diag_free(&d);

	char other_cert[300], other_key[300];
	snprintf(other_cert, sizeof(other_cert), "%s/other.crt", dir);
	snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
	make_cert("other.test", other_cert, other_key);
	o.cert = cert_path;
	o.key = other_key;
	ok(moon_tls_ctx_new(&o, &d, &c) == MOON_ESEMANTIC, "a key of another certificate fails");
	ok(d.n == 1 && strstr(d.msgs[0], "servers[1].tls.key: cannot load private key") &&
	   strstr(d.msgs[0], "does not belong to the certificate"), "and says so");
	if (d.n)
		printf("# %s\n", d.msgs[0]);
	moon_diag_free(&d);
}

static void test_handshake(SSL_CTX *cctx)
{
	struct client c;
	ok(client_open(&c, cctx, NULL), "TLS handshake");
	const unsigned char *proto;
	unsigned int plen;
	SSL_get0_alpn_selected(c.ssl, &proto, &plen);
	ok(plen == 3 && memcmp(proto, "dot", 3) == 0, "ALPN dot negotiated");
	is_int(SSL_version(c.ssl), TLS1_3_VERSION, "TLS 1.3 by default");
	client_close(&c);

	SSL_CTX *v12 = client_ctx(TLS1_2_VERSION);
	ok(client_open(&c, v12, NULL), "a TLS 1.2 client is served");
	is_int(SSL_version(c.ssl), TLS1_2_VERSION, "with TLS 1.2");
	uint8_t q[64], r[64];
	size_t n = frame(q, 2, 20);
	ok(send_all(&c, q, (int)n) && read_reply(&c, r) == 20 && r[0] == 102,
	   "and answered over TLS 1.2");
	client_close(&c);
	SSL_CTX_free(v12);

	SSL_CTX *v11 = client_ctx(TLS1_1_VERSION);
	ok(!client_open(&c, v11, NULL), "a TLS 1.1 client is refused");
	client_close(&c);
	SSL_CTX_free(v11);
}

static void test_pipelining(SSL_CTX *cctx)
{
	struct client c;
	ok(client_open(&c, cctx, NULL), "connected for pipelining");
	/* 20 messages in one write; the odd ones are answered later. */
	uint8_t out[20 * 40];
	size_t len = 0;
	for (uint8_t i = 0; i < 20; i++)
		len += frame(out + len, i, 30);
	ok(send_all(&c, out, (int)len), "20 pipelined queries sent");
	bool seen[20] = { false }, intact = true;
	int first_odd = -1, got = 0;
	for (int i = 0; i < 20; i++) {
		uint8_t r[64];
		if (read_reply(&c, r) != 30)
			break;
		uint8_t id = (uint8_t)(r[0] - 100);
		if (id >= 20 || seen[id])
			break;
		for (size_t k = 1; k < 30; k++)
			intact = intact && r[k] == (uint8_t)(k * 7 + id);
		seen[id] = true;
		if ((id & 1) && first_odd < 0)
			first_odd = i;
		got++;
	}
	is_int(got, 20, "20 replies, each once");
	ok(intact, "each reply intact");
	is_int(first_odd, 10, "out of order: the ten synchronous replies came first");

	/* A 60000-byte message each way: several records, the read buffer
	 * grows, the reply leaves in several SSL_writes. */
	static uint8_t big[2 + 60000], back[60000];
	size_t n = frame(big, 4, 60000);
	ok(send_all(&c, big, (int)n), "large query sent");
	int blen = read_reply(&c, back);
	is_int(blen, 60000, "large reply received");
	ok(blen == 60000 && back[0] == 104 && memcmp(back + 1, big + 3, 59999) == 0,
	   "large reply intact");

	/* close_notify after a query: its answer still comes. */
	uint8_t q[64];
	n = frame(q, 7, 12);
	send_all(&c, q, (int)n);
	SSL_shutdown(c.ssl);
	uint8_t r[64];
	is_int(read_reply(&c, r), 12, "answered after the client's close_notify");
	client_close(&c);
}

static void test_resumption(SSL_CTX *cctx)
{
	struct client c;
	ok(client_open(&c, cctx, NULL), "first connection");
	uint8_t q[64], r[64];
	size_t n = frame(q, 2, 16);
	/* TLS 1.3 tickets come after the handshake: read something first. */
	ok(send_all(&c, q, (int)n) && read_reply(&c, r) == 16, "answered");
	SSL_SESSION *sess = SSL_get1_session(c.ssl);
	ok(sess && SSL_SESSION_is_resumable(sess), "got a resumable session");
	client_close(&c);
	ok(client_open(&c, cctx, sess), "second connection with the ticket");
	ok(SSL_session_reused(c.ssl), "session resumed");
	ok(send_all(&c, q, (int)n) && read_reply(&c, r) == 16, "answered on the resumed one");
	client_close(&c);
	SSL_SESSION_free(sess);
}

static void test_handshake_timeout(void)
{
	int fd = tcp_connect();
	double t = until_closed(fd, 3.0);
	ok(t >= 0.2 && t < 1.5, "closed about handshake_timeout (0.4 s) after a silent connect");
	printf("# closed after %.2f s\n", t);
	close(fd);
}

static void test_rate(SSL_CTX *cctx)
{
	use_ctx(server_ctx(NULL, 2, 400));
	struct client c[3];
	uint8_t q[64], r[64];
	size_t n = frame(q, 2, 16);
	ok(client_open(&c[0], cctx, NULL), "1st new session");
	ok(send_all(&c[0], q, (int)n) && read_reply(&c[0], r) == 16, "answered (ticket read)");
	SSL_SESSION *sess = SSL_get1_session(c[0].ssl);
	ok(client_open(&c[1], cctx, NULL), "2nd new session");
	ok(!client_open(&c[2], cctx, NULL), "3rd within the second: refused");
	for (int i = 0; i < 3; i++)
		client_close(&c[i]);
	ok(client_open(&c[0], cctx, sess) && SSL_session_reused(c[0].ssl),
	   "a resumed session is not counted: served");
	client_close(&c[0]);
	SSL_SESSION_free(sess);
	usleep(600 * 1000);
	ok(client_open(&c[0], cctx, NULL), "a token later: served again");
	client_close(&c[0]);
	use_ctx(server_ctx(NULL, 0, 400));
}

static void test_mutual(void)
{
	/* The self-signed certificate is its own CA: a client presenting it
	 * is accepted, one without a certificate is not. */
	use_ctx(server_ctx(cert_path, 0, 400));
	SSL_CTX *anon = client_ctx(0), *with = client_ctx(0);
	SSL_CTX_use_certificate_file(with, cert_path, SSL_FILETYPE_PEM);
	SSL_CTX_use_PrivateKey_file(with, key_path, SSL_FILETYPE_PEM);
	uint8_t q[64], r[64];
	size_t n = frame(q, 2, 16);
	struct client c;
	/* In TLS 1.3 the client's handshake ends before the server has
	 * judged its certificate: the refusal shows on the first read. */
	bool served = client_open(&c, anon, NULL) && send_all(&c, q, (int)n) &&
		      read_reply(&c, r) == 16;
	ok(!served, "mutual TLS: a client without a certificate is refused");
	client_close(&c);
	served = client_open(&c, with, NULL) && send_all(&c, q, (int)n) &&
		 read_reply(&c, r) == 16;
	ok(served, "mutual TLS: a client with a certificate of the CA is served");
	client_close(&c);
	SSL_CTX_free(anon);
	SSL_CTX_free(with);
	use_ctx(server_ctx(NULL, 0, 400));
}

static void test_swap(SSL_CTX *cctx)
{
	struct client old;
	ok(client_open(&old, cctx, NULL), "a connection before the swap");
	char c2[300], k2[300];
	snprintf(c2, sizeof(c2), "%s/new.crt", dir);
	snprintf(k2, sizeof(k2), "%s/new.key", dir);
	make_cert("new.test", c2, k2);
	struct moon_diag d = { 0 };
	struct moon_tls_opts o = {
		.cert = c2, .key = k2, .session_tickets = true, .handshake_timeout_ms = 400,
	};
	struct moon_tls_ctx *nc = NULL;
	ok(moon_tls_ctx_new(&o, &d, &nc) == 0, "new certificate loaded");
	moon_diag_free(&d);
	use_ctx(nc);
	struct client fresh;
	ok(client_open(&fresh, cctx, NULL), "a connection after the swap");
	X509 *peer = SSL_get1_peer_certificate(fresh.ssl);
	char cn[64] = "";
	if (peer)
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
					  sizeof(cn));
	is_str(cn, "new.test", "new connections see the new certificate");
	X509_free(peer);
	uint8_t q[64], r[64];
	size_t n = frame(q, 2, 16);
	ok(send_all(&old, q, (int)n) && read_reply(&old, r) == 16,
	   "the older connection goes on with its own");
	client_close(&old);
	client_close(&fresh);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	/* A write to a connection the server closed must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(cert_path, sizeof(cert_path), "%s/server.crt", dir);
	snprintf(key_path, sizeof(key_path), "%s/server.key", dir);
	ok(make_cert("dot.test", cert_path, key_path), "test certificate made");

	static struct moon_net_shared sh;
	moon_net_shared_init(&sh, 100, 50);
	for (unsigned i = 0; i < POOL; i++) {
		slots[i].pkt.req = slots[i].req;
		slots[i].pkt.req_cap = sizeof(slots[i].req);
		slots[i].pkt.resp = slots[i].resp + 2;
		slots[i].pkt.resp_cap = 65535;
	}
	loop = ev_loop_new(EVFLAG_AUTO);
	struct moon_net_config cfg = {
		.udp_batch = 4, .tcp_idle_timeout_ms = 5000, .tcp_io_timeout_ms = 2000,
		.tcp_max_pending_bytes = 65536,
	};
	struct moon_net_ops ops = { .get = get, .handle = handle, .done = done };
	nw = moon_net_worker_new(loop, &cfg, &sh, &ops);
	moon_tls_listener_init(&tl);
	test_ctx_errors();
	use_ctx(server_ctx(NULL, 0, 400));

	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int fd;
	ok(moon_net_socket_tcp((struct sockaddr *)&sa, sizeof(sa), &fd) == 0, "TLS socket");
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	ok(moon_net_worker_add_tls(nw, fd, 0, &tl) == 0, "served as DNS over TLS");
	ev_async_init(&stop_async, stop_cb);
	ev_async_start(loop, &stop_async);
	pthread_t th;
	pthread_create(&th, NULL, loop_main, NULL);

	SSL_CTX *cctx = client_ctx(0);
	test_handshake(cctx);
	test_pipelining(cctx);
	test_resumption(cctx);
	test_handshake_timeout();
	test_rate(cctx);
	test_mutual();
	test_swap(cctx);
	SSL_CTX_free(cctx);

	ev_async_send(loop, &stop_async);
	pthread_join(th, NULL);
	const struct moon_tls_stats *st = moon_net_worker_tls_stats(nw);
	ok(st->handshakes >= 10, "handshakes counted");
	ok(st->resumed >= 1, "resumption counted");
	ok(st->tls13 >= 9 && st->tls13 < st->handshakes, "TLS 1.3 counted apart from 1.2");
	ok(st->handshake_timeouts == 1, "one handshake timeout");
	ok(st->refused_rate == 1, "one connection refused by the session rate");
	ok(st->handshake_failed >= 2, "failed handshakes counted (TLS 1.1, no client cert)");
	printf("# handshakes %llu resumed %llu tls13 %llu failed %llu timeouts %llu refused %llu\n",
	       (unsigned long long)st->handshakes, (unsigned long long)st->resumed,
	       (unsigned long long)st->tls13, (unsigned long long)st->handshake_failed,
	       (unsigned long long)st->handshake_timeouts, (unsigned long long)st->refused_rate);
	ok(moon_net_worker_free(nw), "worker freed, nothing pending");
	ev_loop_destroy(loop);
	moon_tls_listener_deinit(&tl);
	moon_net_shared_deinit(&sh);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return 1;
	return tap_done();
}
