/* Scripted upstreams and query helpers for the forwarder tests (fake.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake.h"
#include "util/diag.h"
#include "util/time.h"
#include "wire/dns.h"
#include "wire/pkt.h"
#include "wire/wire.h"

static void die(const char *what)
{
	fprintf(stderr, "fake: %s: %s\n", what, strerror(errno));
	exit(99);
}

static int bound_socket(int type, uint16_t port)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return -1;
	return fd;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	return ntohs(sin.sin_port);
}

size_t fake_answer(const struct fake *fk, const uint8_t *q, size_t len, uint8_t *out,
		   uint8_t rcode, bool tc)
{
	struct moon_pkt p;
	moon_pkt_parse(&p, q, len);
	size_t qend = p.question_ok ? p.question_end : MOON_HDR_LEN;
	memcpy(out, q, qend);
	uint16_t flags = MOON_FLAG_QR | MOON_FLAG_RA;
	flags |= p.flags & (MOON_FLAG_RD | 0x7800);     /* RD and opcode */
	if (tc)
		flags |= MOON_FLAG_TC;
	moon_put_u16(out + 2, (uint16_t)(flags | rcode));
	moon_put_u16(out + 4, p.question_ok ? 1 : 0);
	memset(out + 6, 0, 6);
	size_t n = qend;
	if (rcode || tc || !p.question_ok)
		return n;
	/* One record owned by the question name (a pointer to offset 12). */
	out[n++] = 0xc0;
	out[n++] = 12;
	if (fk->big_txt) {
		moon_put_u16(out + n, MOON_T_TXT);
		moon_put_u16(out + n + 2, MOON_CLASS_IN);
		moon_put_u16(out + n + 4, 0);
		moon_put_u16(out + n + 6, 300);
		unsigned strings = (fk->big_txt + 254) / 255, rdlen = fk->big_txt + strings;
		moon_put_u16(out + n + 8, (uint16_t)rdlen);
		n += 10;
		for (unsigned left = fk->big_txt; left;) {
			unsigned s = left > 255 ? 255 : left;
			out[n++] = (uint8_t)s;
			memset(out + n, 'x', s);
			n += s;
			left -= s;
		}
	} else {
		moon_put_u16(out + n, MOON_T_A);
		moon_put_u16(out + n + 2, MOON_CLASS_IN);
		moon_put_u16(out + n + 4, 0);
		moon_put_u16(out + n + 6, 300);
		moon_put_u16(out + n + 8, 4);
		memcpy(out + n + 10, fk->answer_ip, 4);
		n += 14;
	}
	moon_put_u16(out + 6, 1);
	return n;
}

static void udp_send(struct fake *fk, const uint8_t *m, size_t len, const struct sockaddr_in *to)
{
	sendto(fk->udp_fd, m, len, 0, (const struct sockaddr *)to, sizeof(*to));
}

static void late_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct fake_late *l = (struct fake_late *)((char *)t - offsetof(struct fake_late, timer));
	uint8_t out[65535];
	size_t n = fake_answer(l->fk, l->q, l->len, out, 0, false);
	udp_send(l->fk, out, n, &l->to);
}

static void late_add(struct fake *fk, const uint8_t *q, size_t len, const struct sockaddr_in *to)
{
	for (unsigned i = 0; i < FAKE_HOLD; i++) {
		struct fake_late *l = &fk->late[i];
		if (ev_is_active(&l->timer) || len > sizeof(l->q))
			continue;
		memcpy(l->q, q, len);
		l->len = len;
		l->to = *to;
		ev_timer_set(&l->timer, fk->delay_ms / 1000.0, 0);
		ev_timer_start(fk->loop, &l->timer);
		return;
	}
}

static void udp_query(struct fake *fk, const uint8_t *q, size_t len, const struct sockaddr_in *from)
{
	static uint8_t out[65535];
	size_t n;
	switch (fk->mode) {
	case FAKE_DROP:
		return;
	case FAKE_WRONG_ID:
		n = fake_answer(fk, q, len, out, 0, false);
		moon_put_u16(out, (uint16_t)(moon_get_u16(out) ^ 0x5a5a));
		udp_send(fk, out, n, from);
		break;
	case FAKE_WRONG_CASE:
		n = fake_answer(fk, q, len, out, 0, false);
		out[13] ^= 0x20;        /* first letter of the first label */
		udp_send(fk, out, n, from);
		break;
	case FAKE_GARBAGE: {
		uint8_t junk[100];
		for (unsigned i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 37 + 11);
		memcpy(junk, q, 2);     /* even with our ID */
		udp_send(fk, junk, sizeof(junk), from);
		udp_send(fk, q, 5, from);
		break;
	}
	case FAKE_TC:
		n = fake_answer(fk, q, len, out, 0, true);
		udp_send(fk, out, n, from);
		return;
	case FAKE_RCODE:
		n = fake_answer(fk, q, len, out, fk->rcode, false);
		udp_send(fk, out, n, from);
		return;
	case FAKE_LATE:
		late_add(fk, q, len, from);
		return;
	case FAKE_ANSWER:
		break;
	}
	n = fake_answer(fk, q, len, out, 0, false);
	udp_send(fk, out, n, from);
}

static void udp_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct fake *fk = (struct fake *)((char *)io - offsetof(struct fake, udp_io));
	uint8_t q[65535];
	struct sockaddr_in from;
	for (;;) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fk->udp_fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		fk->nudp++;
		if (n >= 2 && fk->nlog < FAKE_LOG) {
			fk->ids[fk->nlog] = moon_get_u16(q);
			fk->sports[fk->nlog++] = ntohs(from.sin_port);
		}
		if ((size_t)n <= sizeof(fk->last_query)) {
			memcpy(fk->last_query, q, (size_t)n);
			fk->last_len = (size_t)n;
		}
		udp_query(fk, q, (size_t)n, &from);
	}
}

/* ---- TCP ---- */

static void conn_close(struct fake_conn *c)
{
	ev_io_stop(c->fk->loop, &c->io);
	close(c->fd);
	c->fd = -1;
}

static void tcp_send(struct fake_conn *c, const uint8_t *m, size_t len)
{
	uint8_t frame[2 + 65535];
	moon_put_u16(frame, (uint16_t)len);
	memcpy(frame + 2, m, len);
	/* Small replies on loopback: a blocking-style loop is enough. */
	for (size_t off = 0; off < len + 2;) {
		ssize_t n = send(c->fd, frame + off, len + 2 - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };
			poll(&p, 1, 1000);
			continue;
		}
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

static unsigned replies_sent;

static bool tcp_reply(struct fake_conn *c, const uint8_t *q, size_t len)
{
	struct fake *fk = c->fk;
	uint8_t out[65535];
	if (fk->tcp_mode == FAKE_DROP)
		return true;
	uint8_t rcode = fk->tcp_mode == FAKE_RCODE ? fk->rcode : 0;
	size_t n = fake_answer(fk, q, len, out, rcode, false);
	tcp_send(c, out, n);
	replies_sent++;
	if (fk->close_after && replies_sent % fk->close_after == 0) {
		conn_close(c);
		return false;
	}
	return true;
}

static bool tcp_query(struct fake_conn *c, const uint8_t *q, size_t len)
{
	struct fake *fk = c->fk;
	fk->ntcp++;
	if (len <= sizeof(fk->last_query)) {
		memcpy(fk->last_query, q, len);
		fk->last_len = len;
	}
	if (!fk->hold)
		return tcp_reply(c, q, len);
	if (fk->nheld < FAKE_HOLD && len <= 512) {
		fk->held[fk->nheld].c = c;
		memcpy(fk->held[fk->nheld].q, q, len);
		fk->held[fk->nheld++].len = len;
	}
	if (fk->nheld < fk->hold)
		return true;
	while (fk->nheld) {     /* newest first: the reverse of the sending order */
		fk->nheld--;
		tcp_reply(fk->held[fk->nheld].c, fk->held[fk->nheld].q, fk->held[fk->nheld].len);
	}
	return true;
}

static void conn_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct fake_conn *c = (struct fake_conn *)((char *)io - offsetof(struct fake_conn, io));
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->len += (size_t)n;
	size_t off = 0;
	while (c->len - off >= 2) {
		size_t m = moon_get_u16(c->buf + off);
		if (c->len - off < 2 + m)
			break;
		if (!tcp_query(c, c->buf + off + 2, m))
			return;
		off += 2 + m;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
}

static void accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct fake *fk = (struct fake *)((char *)io - offsetof(struct fake, tcp_io));
	int fd = accept4(fk->tcp_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fk->naccepted++;
	for (unsigned i = 0; i < FAKE_CONNS; i++) {
		struct fake_conn *c = &fk->conns[i];
		if (c->fd >= 0)
			continue;
		c->fk = fk;
		c->fd = fd;
		c->len = 0;
		ev_io_init(&c->io, conn_cb, fd, EV_READ);
		ev_io_start(loop, &c->io);
		return;
	}
	close(fd);
}

static void init(struct fake *fk, struct ev_loop *loop, uint8_t answer_last)
{
	memset(fk, 0, sizeof(*fk));
	fk->loop = loop;
	fk->udp_fd = fk->tcp_fd = -1;
	fk->answer_ip[0] = 10;
	fk->answer_ip[3] = answer_last;
	for (unsigned i = 0; i < FAKE_CONNS; i++)
		fk->conns[i].fd = -1;
	for (unsigned i = 0; i < FAKE_HOLD; i++) {
		fk->late[i].fk = fk;
		ev_init(&fk->late[i].timer, late_cb);
	}
}

void fake_start(struct fake *fk, struct ev_loop *loop, uint8_t answer_last)
{
	init(fk, loop, answer_last);
	/* The same port number for UDP and TCP, as a real server has. */
	for (int i = 0; i < 100 && fk->tcp_fd < 0; i++) {
		int u = bound_socket(SOCK_DGRAM, 0);
		int t = bound_socket(SOCK_STREAM, port_of(u));
		if (t < 0) {
			close(u);
			continue;
		}
		fk->udp_fd = u;
		fk->tcp_fd = t;
	}
	if (fk->tcp_fd < 0 || listen(fk->tcp_fd, 64) < 0)
		die("bind fake");
	fk->port = port_of(fk->udp_fd);
	ev_io_init(&fk->udp_io, udp_cb, fk->udp_fd, EV_READ);
	ev_io_start(loop, &fk->udp_io);
	ev_io_init(&fk->tcp_io, accept_cb, fk->tcp_fd, EV_READ);
	ev_io_start(loop, &fk->tcp_io);
}

void fake_start_udp_on(struct fake *fk, struct ev_loop *loop, uint16_t port)
{
	init(fk, loop, 0);
	fk->udp_fd = bound_socket(SOCK_DGRAM, port);
	if (fk->udp_fd < 0)
		die("bind fake udp");
	fk->port = port;
	ev_io_init(&fk->udp_io, udp_cb, fk->udp_fd, EV_READ);
	ev_io_start(loop, &fk->udp_io);
}

void fake_stop(struct fake *fk)
{
	for (unsigned i = 0; i < FAKE_HOLD; i++)
		ev_timer_stop(fk->loop, &fk->late[i].timer);
	if (fk->udp_fd >= 0) {
		ev_io_stop(fk->loop, &fk->udp_io);
		close(fk->udp_fd);
	}
	if (fk->tcp_fd >= 0) {
		ev_io_stop(fk->loop, &fk->tcp_io);
		close(fk->tcp_fd);
	}
	for (unsigned i = 0; i < FAKE_CONNS; i++)
		if (fk->conns[i].fd >= 0)
			conn_close(&fk->conns[i]);
	fk->udp_fd = fk->tcp_fd = -1;
}

const char *fake_url(const struct fake *fk, char *buf, size_t len)
{
	snprintf(buf, len, "dns://127.0.0.1:%u", fk->port);
	return buf;
}

/* ---- certificates ---- */

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	if (!e)
		die("x509 extension");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, long serial,
		       const char *san, const char *eku)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	if (!issuer) {
		add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, &v3, NID_basic_constraints, "CA:FALSE");
		add_ext(x, &v3, NID_ext_key_usage, eku);
		add_ext(x, &v3, NID_subject_alt_name, san);
	}
	if (!X509_sign(x, signer, EVP_sha256()))
		die("x509 sign");
	return x;
}

static void write_pem(const char *dir, const char *file, X509 *x, EVP_PKEY *key)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "w");
	if (!f)
		die(path);
	if (x)
		PEM_write_X509(f, x);
	else
		PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

int fake_make_certs(const char *dir, const char *name)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	EVP_PKEY *ckey = EVP_EC_gen("P-256");
	if (!ca_key || !key || !ckey)
		die("keygen");
	X509 *ca = make_cert(ca_key, ca_key, NULL, "moondns test CA", 1, NULL, NULL);
	char san[300];
	snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1", name);
	X509 *cert = make_cert(key, ca_key, ca, name, 2, san, "serverAuth");
	X509 *client = make_cert(ckey, ca_key, ca, "client.test", 3, "DNS:client.test",
				 "clientAuth");
	write_pem(dir, "ca.pem", ca, NULL);
	write_pem(dir, "cert.pem", cert, NULL);
	write_pem(dir, "key.pem", NULL, key);
	write_pem(dir, "client.pem", client, NULL);
	write_pem(dir, "client-key.pem", NULL, ckey);
	X509_free(ca);
	X509_free(cert);
	X509_free(client);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ckey);
	return 0;
}

/* ---- DoT server: a thread per connection, blocking I/O ---- */

struct tls_conn {
	struct fake_tls *ft;
	SSL *ssl;
	int fd;
};

static bool read_full(SSL *ssl, uint8_t *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		int n = SSL_read(ssl, buf + off, (int)(len - off));
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

static void *tls_conn_main(void *arg)
{
	struct tls_conn *tc = arg;
	struct fake_tls *ft = tc->ft;
	struct fake fk;
	memset(&fk, 0, sizeof(fk));
	memcpy(fk.answer_ip, ft->answer_ip, 4);
	if (SSL_accept(tc->ssl) != 1) {
		ft->failed_handshakes++;
		goto out;
	}
	ft->handshakes++;
	if (SSL_session_reused(tc->ssl))
		ft->resumed++;
	for (;;) {
		uint8_t len[2], q[65535], out[65535 + 2];
		if (!read_full(tc->ssl, len, 2) || !read_full(tc->ssl, q, moon_get_u16(len)))
			break;
		ft->queries++;
		size_t n = fake_answer(&fk, q, moon_get_u16(len), out + 2, 0, false);
		moon_put_u16(out, (uint16_t)n);
		if (SSL_write(tc->ssl, out, (int)n + 2) <= 0)
			break;
	}
out:
	SSL_free(tc->ssl);
	close(tc->fd);
	free(tc);
	ERR_clear_error();
	ft->live--;
	return NULL;
}

static void *tls_main(void *arg)
{
	struct fake_tls *ft = arg;
	while (!ft->stop) {
		struct pollfd p = { .fd = ft->fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept4(ft->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct tls_conn *tc = malloc(sizeof(*tc));
		tc->ft = ft;
		tc->fd = fd;
		tc->ssl = SSL_new(ft->ctx);
		SSL_set_fd(tc->ssl, fd);
		ft->live++;
		pthread_t t;
		pthread_create(&t, NULL, tls_conn_main, tc);
		pthread_detach(t);
	}
	return NULL;
}

void fake_tls_start(struct fake_tls *ft, const char *dir, uint8_t answer_last,
		    bool require_client_cert)
{
	memset(ft, 0, sizeof(*ft));
	ft->answer_ip[0] = 10;
	ft->answer_ip[3] = answer_last;
	char cert[512], key[512];
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die("tls server keys");
	if (require_client_cert) {
		char ca[512];
		snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
			die("tls server ca");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	ft->require_client_cert = require_client_cert;
	ft->ctx = ctx;
	ft->fd = bound_socket(SOCK_STREAM, 0);
	int fl = fcntl(ft->fd, F_GETFL);
	fcntl(ft->fd, F_SETFL, fl & ~O_NONBLOCK);
	if (ft->fd < 0 || listen(ft->fd, 16) < 0)
		die("tls listen");
	ft->port = port_of(ft->fd);
	pthread_create(&ft->thread, NULL, tls_main, ft);
}

void fake_tls_stop(struct fake_tls *ft)
{
	ft->stop = true;
	pthread_join(ft->thread, NULL);
	close(ft->fd);
	/* Connection threads end when the client closes (the forwarder was
	 * freed first); the context must outlive them. */
	for (int i = 0; i < 200 && ft->live; i++)
		usleep(10000);
	if (!ft->live)
		SSL_CTX_free(ft->ctx);
}

/* ---- queries ---- */

void (*qrun_on_done)(struct qrun *r);

static void on_done(void *arg, const struct moon_fwd_result *res)
{
	struct qrun *r = arg;
	r->res = *res;
	r->done = true;
	if (qrun_on_done)
		qrun_on_done(r);
}

int qrun_start(struct moon_fwd_worker *fw, struct qrun *r, const char *name, uint16_t qtype,
	       uint16_t id)
{
	uint8_t q[512], wire[MOON_NAME_MAXLEN];
	int n = moon_name_from_text(name, NULL, wire);
	if (n < 0)
		die("bad test name");
	moon_put_u16(q, id);
	moon_put_u16(q + 2, MOON_FLAG_RD);
	moon_put_u16(q + 4, 1);
	memset(q + 6, 0, 6);
	memcpy(q + 12, wire, (size_t)n);
	moon_put_u16(q + 12 + n, qtype);
	moon_put_u16(q + 14 + n, MOON_CLASS_IN);
	struct moon_pkt pkt;
	if (moon_pkt_parse(&pkt, q, 16 + (size_t)n) < 0)
		die("test query does not parse");
	memset(&r->res, 0, sizeof(r->res));
	r->done = false;
	r->id = id;
	r->ret = moon_fwd_query(fw, &pkt, r->out, sizeof(r->out), on_done, r);
	return r->ret;
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
}

bool qrun_wait(struct ev_loop *loop, struct qrun **runs, unsigned n, unsigned ms)
{
	int64_t end = moon_now_ms() + ms;
	ev_timer tick;
	ev_timer_init(&tick, tick_cb, 0.01, 0.01);
	ev_timer_start(loop, &tick);
	bool all = false;
	while (moon_now_ms() < end) {
		all = true;
		for (unsigned i = 0; i < n; i++)
			all &= runs[i]->done || runs[i]->ret != MOON_EPENDING;
		if (all)
			break;
		ev_run(loop, EVRUN_ONCE);
	}
	ev_timer_stop(loop, &tick);
	return all;
}

int qrun_one(struct ev_loop *loop, struct moon_fwd_worker *fw, struct qrun *r, const char *name,
	     uint16_t qtype)
{
	static uint16_t next_id = 1000;
	int ret = qrun_start(fw, r, name, qtype, next_id++);
	if (ret == MOON_EPENDING)
		qrun_wait(loop, &r, 1, 10000);
	return ret;
}

void loop_for(struct ev_loop *loop, unsigned ms)
{
	int64_t end = moon_now_ms() + ms;
	ev_timer tick;
	ev_timer_init(&tick, tick_cb, 0.005, 0.005);
	ev_timer_start(loop, &tick);
	while (moon_now_ms() < end)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &tick);
}

int reply_a_last(const struct qrun *r)
{
	if (!r->done || r->res.err)
		return -1;
	struct moon_pkt p;
	if (moon_pkt_parse(&p, r->out, r->res.len) < 0 || p.ancount == 0)
		return -1;
	size_t pos = p.question_end;
	uint8_t name[MOON_NAME_MAXLEN];
	if (moon_name_unpack(r->out, r->res.len, &pos, name) < 0 || pos + 14 > r->res.len)
		return -1;
	if (moon_get_u16(r->out + pos) != MOON_T_A)
		return -1;
	return r->out[pos + 13];
}

struct moon_fwd *fwd_make(struct moon_fwd_opts *o)
{
	struct moon_diag d = { 0 };
	struct moon_fwd *fwd = NULL;
	if (moon_fwd_new(o, &fwd, &d) < 0) {
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "fwd_make: %s\n", d.msgs[i]);
		exit(98);
	}
	moon_diag_free(&d);
	return fwd;
}
