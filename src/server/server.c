#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "server/server.h"
#include "server/worker.h"
#include "util/err.h"
#include "util/log.h"

struct moon_server {
	struct moon_gen_pub pub;
	unsigned nworkers;
	struct moon_worker *workers;
	struct moon_net_shared shared;
	/* A copy of the first generation's listeners: route i of every
	 * generation is for bound[i]. Only dns:// ones have sockets. */
	struct moon_gen_listener *bound;
	size_t n_bound;
	char (*uris)[128];
};

unsigned moon_server_worker_count(const struct moon_conf *conf)
{
	if (conf->workers)
		return conf->workers;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static struct moon_net_config net_config(const struct moon_conf *c)
{
	struct moon_net_config cfg = {
		.udp_batch = c->udp.batch,
		.tcp_idle_timeout_ms = c->tcp.idle_timeout_ms,
		.tcp_io_timeout_ms = c->tcp.io_timeout_ms,
		.tcp_max_queries_per_conn = c->tcp.max_queries_per_connection,
		.tcp_max_pending_bytes = c->tcp.max_pending_bytes,
	};
	return cfg;
}

/* Keeps the listener list beyond the first generation's life. */
static int copy_listeners(struct moon_server *s, const struct moon_gen *gen)
{
	s->n_bound = gen->n_listeners;
	s->bound = calloc(s->n_bound ? s->n_bound : 1, sizeof(*s->bound));
	s->uris = calloc(s->n_bound ? s->n_bound : 1, sizeof(*s->uris));
	if (!s->bound || !s->uris)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_bound; i++) {
		s->bound[i] = gen->listeners[i];
		snprintf(s->uris[i], sizeof(s->uris[i]), "%s", gen->listeners[i].uri);
		s->bound[i].uri = s->uris[i];
	}
	return 0;
}

static int bind_error(struct moon_diag *diag, const struct moon_gen_listener *l,
		      const char *what, int err)
{
	moon_diag_add(diag, NULL, 0, 0, "cannot listen on %s (%s): %s", l->uri, what,
		      moon_strerror(err));
	return err;
}

/* One UDP and one TCP socket per worker for listener i. The probe first:
 * with SO_REUSEPORT another process could share the address silently. */
static int bind_listener(struct moon_server *s, uint16_t i, struct moon_diag *diag)
{
	const struct moon_gen_listener *l = &s->bound[i];
	const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
	if (l->proto != MOON_LISTEN_DNS) {
		moon_warn(NET, "%s: DNS over TLS is not served yet; listener ignored", l->uri);
		return 0;
	}
	int ret = moon_net_probe(sa, l->addrlen, SOCK_DGRAM);
	if (ret)
		return bind_error(diag, l, "udp", ret);
	ret = moon_net_probe(sa, l->addrlen, SOCK_STREAM);
	if (ret)
		return bind_error(diag, l, "tcp", ret);
	bool pktinfo = moon_net_addr_is_wildcard(sa);
	for (unsigned w = 0; w < s->nworkers; w++) {
		int fd;
		ret = moon_net_socket_udp(sa, l->addrlen, &fd);
		if (ret)
			return bind_error(diag, l, "udp", ret);
		ret = moon_net_worker_add_udp(s->workers[w].net, fd, i, pktinfo);
		if (ret) {
			close(fd);
			return bind_error(diag, l, "udp", ret);
		}
		ret = moon_net_socket_tcp(sa, l->addrlen, &fd);
		if (ret)
			return bind_error(diag, l, "tcp", ret);
		ret = moon_net_worker_add_tcp(s->workers[w].net, fd, i);
		if (ret) {
			close(fd);
			return bind_error(diag, l, "tcp", ret);
		}
	}
	return 0;
}

/* Workers must not take the signals meant for the control thread's loop. */
static int start_threads(struct moon_server *s)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int ret = 0;
	for (unsigned w = 0; w < s->nworkers && !ret; w++)
		ret = moon_worker_start(&s->workers[w]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

static void server_free(struct moon_server *s)
{
	for (unsigned w = 0; s->workers && w < s->nworkers; w++)
		moon_worker_stop(&s->workers[w]);
	for (unsigned w = 0; s->workers && w < s->nworkers; w++)
		moon_worker_deinit(&s->workers[w]);
	free(s->workers);
	moon_gen_pub_deinit(&s->pub);
	moon_net_shared_deinit(&s->shared);
	free(s->bound);
	free(s->uris);
	free(s);
}

int moon_server_start(struct moon_gen *gen, struct moon_diag *diag, struct moon_server **out)
{
	struct moon_server *s = calloc(1, sizeof(*s));
	if (!s) {
		moon_gen_release(gen);
		return -ENOMEM;
	}
	const struct moon_conf *c = gen->conf;
	s->nworkers = gen->nworkers;
	moon_gen_pub_init(&s->pub, gen);
	moon_net_shared_init(&s->shared, c->tcp.max_connections, c->tcp.max_connections_per_client);
	struct moon_net_config cfg = net_config(c);
	int ret = copy_listeners(s, gen);
	if (!ret) {
		s->workers = calloc(s->nworkers, sizeof(*s->workers));
		ret = s->workers ? 0 : -ENOMEM;
	}
	for (unsigned w = 0; !ret && w < s->nworkers; w++)
		ret = moon_worker_init(&s->workers[w], w, &s->pub, &cfg, &s->shared);
	if (ret)
		moon_diag_add(diag, NULL, 0, 0, "cannot start workers: %s", moon_strerror(ret));
	for (size_t i = 0; !ret && i < s->n_bound; i++)
		ret = bind_listener(s, (uint16_t)i, diag);
	if (!ret)
		ret = start_threads(s);
	if (ret) {
		server_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

const struct moon_gen_listener *moon_server_listeners(const struct moon_server *s, size_t *n)
{
	*n = s->n_bound;
	return s->bound;
}

unsigned moon_server_workers(const struct moon_server *s)
{
	return s->nworkers;
}

void moon_server_swap_generation(struct moon_server *s, struct moon_gen *next)
{
	moon_gen_pub_swap(&s->pub, next);
	for (unsigned w = 0; w < s->nworkers; w++)
		moon_worker_wake(&s->workers[w]);
}

/* Listeners are bound only at start: say what a reload cannot apply. */
static void warn_listeners(const struct moon_server *s, const struct moon_gen *gen)
{
	for (size_t i = 0; i < gen->n_listeners; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&gen->listeners[i].addr;
		bool known = false;
		for (size_t j = 0; j < s->n_bound && !known; j++)
			known = moon_net_addr_equal(sa, (const struct sockaddr *)&s->bound[j].addr);
		if (!known)
			moon_warn(SERVER, "reload: new listener %s needs a restart",
				  gen->listeners[i].uri);
	}
}

int moon_server_reload(struct moon_server *s, const char *path, struct moon_diag *diag)
{
	struct moon_conf *conf;
	int ret = path ? moon_conf_load_file(path, &conf, diag) :
		moon_conf_load_string(moon_conf_default_yaml, "<embedded default>", &conf, diag);
	if (ret)
		return ret;
	struct moon_gen *cur = atomic_load(&s->pub.cur);
	struct moon_diag restart = { 0 };
	if (moon_conf_diff_restart(cur->conf, conf, &restart) > 0) {
		for (size_t i = 0; i < restart.n; i++)
			moon_warn(SERVER, "reload: %s", restart.msgs[i]);
	}
	moon_diag_free(&restart);
	struct moon_gen *gen;
	ret = moon_gen_new(conf, s->bound, s->n_bound, s->nworkers, diag, &gen);
	if (ret)
		return ret;
	if (gen->zones_failed) {
		moon_gen_release(gen);
		return MOON_ESEMANTIC;
	}
	warn_listeners(s, gen);
	const struct moon_conf *c = gen->conf;
	moon_net_shared_set_limits(&s->shared, c->tcp.max_connections,
				   c->tcp.max_connections_per_client);
	moon_server_swap_generation(s, gen);
	return 0;
}

void moon_server_stats(const struct moon_server *s, struct moon_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned w = 0; w < s->nworkers; w++) {
		const struct moon_stats *st = &s->workers[w].stats;
		sum->queries += st->queries;
		sum->udp += st->udp;
		sum->tcp += st->tcp;
		sum->dropped += st->dropped;
		sum->formerr += st->formerr;
		sum->truncated += st->truncated;
		sum->responses += st->responses;
		sum->pending += st->pending;
		for (unsigned r = 0; r < MOON_STATS_RCODES; r++)
			sum->rcode[r] += st->rcode[r];
	}
}

void moon_server_stop(struct moon_server *s)
{
	if (s)
		server_free(s);
}
