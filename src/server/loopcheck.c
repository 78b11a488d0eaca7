#include <ev.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "server/blockstate.h"
#include "server/gen.h"
#include "server/loopcheck.h"
#include "server/server.h"
#include "util/err.h"
#include "util/log.h"
#include "wire/dns.h"
#include "wire/wire.h"

struct probe {
	struct probe *next;
	struct moon_loopcheck *lc;
	struct moon_gen *gen;             /* referenced */
	struct moon_bstate *bs;
	ev_io io;
	ev_timer timer;
	uint16_t id;
};

struct moon_loopcheck {
	struct ev_loop *loop;
	struct moon_server *srv;
	ev_prepare watch;
	uint64_t seen_gen;                /* last generation looked at */
	struct probe *probes;
};

static void probe_end(struct probe *p)
{
	struct moon_loopcheck *lc = p->lc;
	moon_fwd_loop_answered(&p->bs->loop);
	atomic_store(&p->bs->loop_armed, false);
	ev_io_stop(lc->loop, &p->io);
	ev_timer_stop(lc->loop, &p->timer);
	close(p->io.fd);
	for (struct probe **pp = &lc->probes; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	moon_gen_release(p->gen);
	free(p);
}

static void on_reply(struct ev_loop *loop, ev_io *w, int revents)
{
	struct probe *p = w->data;
	uint8_t buf[512];
	ssize_t n = recv(w->fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n >= MOON_HDR_LEN && (moon_get_u16(buf) != p->id || !(buf[2] & 0x80)))
		return;
	if (!moon_fwd_loop_detected(&p->bs->loop))
		moon_info(FWD, "servers.%s: loop check passed: the probe was answered (%s) and "
			  "did not come back", p->bs->conf->name,
			  n >= MOON_HDR_LEN ? "rcode received" : "network error");
	probe_end(p);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct probe *p = w->data;
	if (!moon_fwd_loop_detected(&p->bs->loop))
		moon_info(FWD, "servers.%s: loop check: no reply to the probe in time (are the "
			  "upstreams reachable?); no loop seen", p->bs->conf->name);
	probe_end(p);
}

/* Where the probe goes: the block's first dns:// listener (a wildcard one
 * through the loopback address), and its slot in the listener table. */
static int target(struct moon_server *srv, const struct moon_conf_server *cs,
		  struct sockaddr_storage *to, socklen_t *tolen, size_t *slot)
{
	const struct moon_ltab *t = moon_server_ltab(srv);
	for (size_t j = 0; j < cs->n_listen; j++) {
		const struct moon_conf_listen *l = &cs->listen[j];
		if (l->proto != MOON_LISTEN_DNS)
			continue;
		for (size_t i = 0; i < t->n; i++) {
			if (!moon_net_addr_equal((const struct sockaddr *)&t->l[i].addr,
						 (const struct sockaddr *)&l->addr))
				continue;
			memcpy(to, &l->addr, sizeof(*to));
			*tolen = l->addrlen;
			*slot = i;
			if (!moon_net_addr_is_wildcard((const struct sockaddr *)to))
				return 0;
			if (to->ss_family == AF_INET)
				((struct sockaddr_in *)to)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			else
				((struct sockaddr_in6 *)to)->sin6_addr = in6addr_loopback;
			return 0;
		}
	}
	return MOON_ENOTFOUND;
}

/* A probe name the block routes to itself and forwards: below `from`, or
 * below one of its zones. */
static int pick_name(const struct moon_gen *gen, const struct moon_gen_block *b, size_t slot)
{
	struct moon_bstate *bs = b->bs;
	const struct moon_conf_server *cs = b->conf;
	for (size_t i = 0; i <= cs->n_zones; i++) {
		const char *zone = i == 0 ? cs->forward.from : cs->zones[i - 1];
		uint8_t wire[MOON_NAME_MAXLEN];
		if (!zone || moon_name_from_text(zone, NULL, wire) < 0 ||
		    moon_fwd_loop_init(&bs->loop, wire) < 0)
			continue;
		const uint8_t *name = bs->loop.name;
		if (moon_gen_route(gen, (uint16_t)slot, name, bs->loop.name_len) == b &&
		    moon_fwd_handles(bs->fwd, name) &&
		    !moon_gen_block_zone(b, name, bs->loop.name_len))
			return 0;
	}
	return MOON_ENOTFOUND;
}

static int send_probe(struct moon_loopcheck *lc, struct probe *p,
		      const struct sockaddr_storage *to, socklen_t tolen)
{
	uint8_t q[MOON_FWD_QMAX];
	int len = moon_fwd_loop_query(&p->bs->loop, q, sizeof(q));
	if (len < 0)
		return len;
	p->id = moon_get_u16(q);
	int fd = socket(to->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)to, tolen) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	/* Armed before the send: the workers must see the first arrival. */
	atomic_store_explicit(&p->bs->loop_armed, true, memory_order_release);
	if (send(fd, q, (size_t)len, 0) < 0) {
		int err = -errno;
		atomic_store(&p->bs->loop_armed, false);
		close(fd);
		return err;
	}
	double wait = p->bs->conf->forward.timeout_ms / 1000.0 + 1.0;
	ev_io_init(&p->io, on_reply, fd, EV_READ);
	p->io.data = p;
	ev_timer_init(&p->timer, on_timeout, wait, 0);
	p->timer.data = p;
	ev_io_start(lc->loop, &p->io);
	ev_timer_start(lc->loop, &p->timer);
	return 0;
}

static void probe_block(struct moon_loopcheck *lc, struct moon_gen *gen,
			const struct moon_gen_block *b)
{
	const char *name = b->conf->name;
	struct sockaddr_storage to;
	socklen_t tolen;
	size_t slot;
	if (target(lc->srv, b->conf, &to, &tolen, &slot)) {
		moon_warn(FWD, "servers.%s: loop check skipped: the block has no dns:// listener",
			  name);
		return;
	}
	if (pick_name(gen, b, slot)) {
		moon_warn(FWD, "servers.%s: loop check skipped: no zone of the block is forwarded",
			  name);
		return;
	}
	struct probe *p = calloc(1, sizeof(*p));
	if (!p) {
		moon_err(FWD, "servers.%s: loop check skipped: out of memory", name);
		return;
	}
	p->lc = lc;
	p->gen = gen;
	p->bs = b->bs;
	int ret = send_probe(lc, p, &to, tolen);
	if (ret) {
		moon_warn(FWD, "servers.%s: loop check skipped: cannot send the probe: %s", name,
			  moon_strerror(ret));
		free(p);
		return;
	}
	atomic_fetch_add(&gen->refs, 1);
	p->next = lc->probes;
	lc->probes = p;
	char text[MOON_NAME_TEXT_MAXLEN];
	moon_name_to_text(b->bs->loop.name, text, sizeof(text));
	moon_debug(FWD, "servers.%s: loop check: probe %s HINFO sent", name, text);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct moon_loopcheck *lc = w->data;
	struct moon_gen *gen = moon_server_current(lc->srv);
	if (!gen || gen->id == lc->seen_gen)
		return;
	lc->seen_gen = gen->id;
	for (size_t i = 0; i < gen->n_blocks; i++) {
		const struct moon_gen_block *b = &gen->blocks[i];
		if (b->bs && b->bs->fwd && b->conf->forward.loop_check &&
		    !atomic_exchange(&b->bs->loop_started, true))
			probe_block(lc, gen, b);
	}
}

struct moon_loopcheck *moon_loopcheck_new(struct ev_loop *loop, struct moon_server *srv)
{
	struct moon_loopcheck *lc = calloc(1, sizeof(*lc));
	if (!lc) {
		moon_err(FWD, "loop check: out of memory; no block is checked");
		return NULL;
	}
	lc->loop = loop;
	lc->srv = srv;
	ev_prepare_init(&lc->watch, on_prepare);
	lc->watch.data = lc;
	ev_prepare_start(loop, &lc->watch);
	ev_unref(loop);
	return lc;
}

void moon_loopcheck_free(struct moon_loopcheck *lc)
{
	if (!lc)
		return;
	while (lc->probes)
		probe_end(lc->probes);
	ev_ref(lc->loop);
	ev_prepare_stop(lc->loop, &lc->watch);
	free(lc);
}
