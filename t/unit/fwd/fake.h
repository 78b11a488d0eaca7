/*
 * Scripted upstreams for the forwarder tests, written in C so that every
 * misbehaviour is exact: UDP and TCP servers on 127.0.0.1 (random ports)
 * driven by the test's own libev loop, a DoT server in a thread with a
 * certificate made at test time, and helpers to run queries through a
 * moon_fwd_worker on the same loop.
 */
#ifndef MOON_T_FWD_FAKE_H
#define MOON_T_FWD_FAKE_H

#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "fwd/fwd.h"

/* What a fake does with each query it receives. */
enum fake_mode {
	FAKE_ANSWER = 0,        /* A record with the fake's address */
	FAKE_DROP,              /* nothing */
	FAKE_WRONG_ID,          /* a reply with another ID first, then the answer */
	FAKE_WRONG_CASE,        /* a reply whose question differs in case first */
	FAKE_GARBAGE,           /* random bytes and a 5-byte runt first */
	FAKE_TC,                /* header + question with TC=1 (UDP only) */
	FAKE_RCODE,             /* empty reply with `rcode` */
	FAKE_LATE,              /* the answer after `delay_ms` */
};

struct fake_conn {
	struct fake *fk;
	int fd;
	ev_io io;
	uint8_t buf[2 + 65535];
	size_t len;
};

#define FAKE_LOG 4096
#define FAKE_CONNS 8
#define FAKE_HOLD 64

struct fake {
	struct ev_loop *loop;
	int udp_fd, tcp_fd;
	ev_io udp_io, tcp_io;
	uint16_t port;
	enum fake_mode mode;            /* for UDP */
	enum fake_mode tcp_mode;        /* for TCP */
	uint8_t rcode;
	uint32_t delay_ms;
	uint8_t answer_ip[4];           /* the A record it answers */
	unsigned big_txt;               /* > 0: answer TXT with this many bytes */
	/* What it saw. */
	unsigned nudp, ntcp, naccepted;
	uint16_t ids[FAKE_LOG];
	uint16_t sports[FAKE_LOG];
	unsigned nlog;
	uint8_t last_query[512];
	size_t last_len;
	/* TCP: hold replies until `hold` queries came, then answer them in
	 * reverse order. close_after: close the connection after that many
	 * replies (0 = never). */
	unsigned hold;
	unsigned close_after;
	struct { struct fake_conn *c; uint8_t q[512]; size_t len; } held[FAKE_HOLD];
	unsigned nheld;
	struct fake_conn conns[FAKE_CONNS];
	/* Late answers, each on its own timer. */
	struct fake_late {
		struct fake *fk;
		ev_timer timer;
		uint8_t q[512];
		size_t len;
		struct sockaddr_in to;
	} late[FAKE_HOLD];
};

/* Binds UDP and TCP on 127.0.0.1 (same random port) and starts serving on
 * loop. answer_last is the last octet of the A record it answers (10.0.0.N). */
void fake_start(struct fake *fk, struct ev_loop *loop, uint8_t answer_last);
/* Binds only UDP on `port` (for "nothing must arrive here" checks). */
void fake_start_udp_on(struct fake *fk, struct ev_loop *loop, uint16_t port);
void fake_stop(struct fake *fk);
/* "dns://127.0.0.1:PORT" */
const char *fake_url(const struct fake *fk, char *buf, size_t len);

/* Builds the answer to query q (len bytes) in out; returns its length. */
size_t fake_answer(const struct fake *fk, const uint8_t *q, size_t len, uint8_t *out,
		   uint8_t rcode, bool tc);

/* ---- DoT ---- */

struct fake_tls {
	pthread_t thread;
	int fd;
	uint16_t port;
	void *ctx;                      /* SSL_CTX */
	uint8_t answer_ip[4];
	_Atomic unsigned handshakes, resumed, queries, failed_handshakes;
	_Atomic unsigned live;          /* connection threads running */
	bool require_client_cert;
	_Atomic bool stop;
};

/* Makes a CA and a server certificate for `name` and 127.0.0.1 (SAN), in
 * dir: ca.pem, cert.pem, key.pem, and a client certificate: client.pem,
 * client-key.pem. Returns 0. */
int fake_make_certs(const char *dir, const char *name);
/* Serves DoT on 127.0.0.1 (random port) with dir's cert.pem/key.pem;
 * with require_client_cert, clients must show a certificate from ca.pem. */
void fake_tls_start(struct fake_tls *ft, const char *dir, uint8_t answer_last,
		    bool require_client_cert);
void fake_tls_stop(struct fake_tls *ft);

/* ---- running queries ---- */

struct qrun {
	bool done;
	int ret;                        /* what moon_fwd_query returned */
	struct moon_fwd_result res;
	uint8_t out[65535];
	uint16_t id;
};

/* When set, called at the end of each query's done callback. */
extern void (*qrun_on_done)(struct qrun *r);

/* Starts a query for name/qtype (text), client ID `id`, flags RD; returns
 * what moon_fwd_query returned (also in r->ret). */
int qrun_start(struct moon_fwd_worker *fw, struct qrun *r, const char *name, uint16_t qtype,
	       uint16_t id);
/* Runs loop until every run is done or `ms` passed; returns true if all
 * are done. */
bool qrun_wait(struct ev_loop *loop, struct qrun **runs, unsigned n, unsigned ms);
/* Both in one: starts, waits 10 s at most. */
int qrun_one(struct ev_loop *loop, struct moon_fwd_worker *fw, struct qrun *r, const char *name,
	     uint16_t qtype);
/* Runs the loop for ms milliseconds. */
void loop_for(struct ev_loop *loop, unsigned ms);
/* The first A record's address in a reply (last octet), or -1. */
int reply_a_last(const struct qrun *r);
/* Builds a moon_fwd from a few options. */
struct moon_fwd *fwd_make(struct moon_fwd_opts *o);

#endif
