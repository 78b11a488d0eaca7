/*
 * The transport on real loopback sockets with a fake server: replies that
 * complete later (MOON_EPENDING, as a forwarder's will), out of order on
 * one TCP connection, and a pool so small that reading must pause and
 * resume.
 */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "tap.h"
#include "util/err.h"

#define POOL 3

static struct slot {
	struct moon_net_pkt pkt;
	uint8_t req[65536];
	uint8_t resp[2 + 65535];
	bool used;
} slots[POOL];

static struct moon_net_pkt *pending[POOL];
static unsigned npending, handled, done_sent, max_used, dry;
static struct ev_loop *loop;

static struct moon_net_pkt *get(void *arg)
{
	unsigned used = 0;
	for (unsigned i = 0; i < POOL; i++)
		used += slots[i].used;
	for (unsigned i = 0; i < POOL; i++) {
		if (!slots[i].used) {
			slots[i].used = true;
			if (used + 1 > max_used)
				max_used = used + 1;
			return &slots[i].pkt;
		}
	}
	dry++;
	return NULL;
}

/* Echo the request with its first byte +100. Requests whose first byte is
 * odd complete later, newest first, so TCP replies leave out of order. */
static int handle(void *arg, struct moon_net_pkt *pkt)
{
	handled++;
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
	done_sent += sent;
	for (unsigned i = 0; i < POOL; i++)
		if (&slots[i].pkt == pkt)
			slots[i].used = false;
}

static void complete_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	while (npending)
		moon_net_complete(pending[--npending]);
}

static int port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	return ntohs(sa.sin_port);
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	return sa;
}

/* Runs the loop until `want` bytes arrived on fd (or a timeout). */
static uint8_t got[4096];
static size_t ngot, want;

static void client_cb(struct ev_loop *l, ev_io *w, int revents)
{
	ssize_t n = recv(w->fd, got + ngot, sizeof(got) - ngot, 0);
	if (n > 0)
		ngot += (size_t)n;
	if (n <= 0 || ngot >= want)
		ev_break(l, EVBREAK_ONE);
}

static void timeout_cb(struct ev_loop *l, ev_timer *t, int revents)
{
	ev_break(l, EVBREAK_ONE);
}

static void pump(int fd, size_t bytes)
{
	ev_io io;
	ev_timer complete, limit;
	ngot = 0;
	want = bytes;
	ev_io_init(&io, client_cb, fd, EV_READ);
	ev_timer_init(&complete, complete_cb, 0.02, 0.02);
	ev_timer_init(&limit, timeout_cb, 3., 0.);
	ev_io_start(loop, &io);
	ev_timer_start(loop, &complete);
	ev_timer_start(loop, &limit);
	ev_run(loop, 0);
	ev_io_stop(loop, &io);
	ev_timer_stop(loop, &complete);
	ev_timer_stop(loop, &limit);
}

static void test_udp(struct moon_net_worker *nw)
{
	struct sockaddr_in sa = loopback(0);
	int fd;
	ok(moon_net_socket_udp((struct sockaddr *)&sa, sizeof(sa), &fd) == 0, "UDP socket");
	moon_net_worker_add_udp(nw, fd, 0, false);
	sa = loopback(port_of(fd));
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	connect(c, (struct sockaddr *)&sa, sizeof(sa));
	/* Ten datagrams for a pool of three, half of them answered later. */
	for (uint8_t i = 0; i < 10; i++) {
		uint8_t msg[4] = { i, 'u', 'd', 'p' };
		send(c, msg, sizeof(msg), 0);
	}
	size_t total = 0;
	bool seen[10] = { false };
	for (int round = 0; round < 10 && total < 40; round++) {
		pump(c, 4);
		if (ngot == 4 && got[0] >= 100 && got[0] < 110) {
			seen[got[0] - 100] = true;
			total += 4;
		}
	}
	unsigned n = 0;
	for (int i = 0; i < 10; i++)
		n += seen[i];
	is_int(n, 10, "every datagram answered, synchronous and later ones");
	ok(dry > 0, "the pool ran dry, and reading resumed when pkts came back");
	close(c);
}

static void test_tcp(struct moon_net_worker *nw)
{
	struct sockaddr_in sa = loopback(0);
	int fd;
	ok(moon_net_socket_tcp((struct sockaddr *)&sa, sizeof(sa), &fd) == 0, "TCP socket");
	moon_net_worker_add_tcp(nw, fd, 0);
	sa = loopback(port_of(fd));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	ok(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connected");
	/* Messages 1, 2, 3, 4 pipelined in one write: 2 and 4 answer at once,
	 * 1 and 3 later. */
	uint8_t out[4 * 5];
	for (uint8_t i = 0; i < 4; i++) {
		uint8_t *m = out + i * 5;
		m[0] = 0;
		m[1] = 3;
		m[2] = (uint8_t)(i + 1);
		m[3] = 't';
		m[4] = 'c';
	}
	send(c, out, sizeof(out), 0);
	pump(c, sizeof(out));
	is_int(ngot, sizeof(out), "four framed replies");
	uint8_t order[4];
	for (int i = 0; i < 4; i++)
		order[i] = got[i * 5 + 2];
	ok(order[0] == 102 && order[1] == 104, "the synchronous replies come first");
	ok((order[2] == 101 || order[2] == 103) && (order[3] == 101 || order[3] == 103) &&
	   order[2] != order[3], "then the later ones: out of order, none lost");
	ok(got[0] == 0 && got[1] == 3, "length prefix written");

	/* Closing with a reply still pending must not crash or leak. */
	uint8_t odd[5] = { 0, 3, 5, 'x', 'y' };
	send(c, odd, sizeof(odd), 0);
	want = 1;
	ev_run(loop, EVRUN_NOWAIT);
	ev_run(loop, EVRUN_NOWAIT);
	close(c);
	ev_run(loop, EVRUN_NOWAIT);
	complete_cb(loop, NULL, 0);
	ok(1, "reply completed after the client left");
}

int main(void)
{
	static struct moon_net_shared sh;
	moon_net_shared_init(&sh, 10, 5);
	for (unsigned i = 0; i < POOL; i++) {
		slots[i].pkt.req = slots[i].req;
		slots[i].pkt.req_cap = sizeof(slots[i].req);
		slots[i].pkt.resp = slots[i].resp + 2;
		slots[i].pkt.resp_cap = 65535;
	}
	loop = ev_loop_new(EVFLAG_AUTO);
	struct moon_net_config cfg = {
		.udp_batch = 4, .tcp_idle_timeout_ms = 2000, .tcp_io_timeout_ms = 1000,
		.tcp_max_pending_bytes = 65536,
	};
	struct moon_net_ops ops = { .get = get, .handle = handle, .done = done };
	struct moon_net_worker *nw = moon_net_worker_new(loop, &cfg, &sh, &ops);
	test_udp(nw);
	test_tcp(nw);
	moon_net_worker_close(nw);
	ok(moon_net_worker_free(nw), "worker freed once nothing is pending");
	unsigned used = 0;
	for (unsigned i = 0; i < POOL; i++)
		used += slots[i].used;
	is_int(used, 0, "every pkt came back to the pool");
	is_int(atomic_load(&sh.nconns), 0, "connection count back to 0");
	ev_loop_destroy(loop);
	moon_net_shared_deinit(&sh);
	return tap_done();
}
