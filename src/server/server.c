#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "server/dot.h"
#include "server/server.h"
#include "server/worker.h"
#include "util/err.h"
#include "util/log.h"

struct moon_server {
	struct moon_gen_pub pub;
	unsigned nworkers;
	struct moon_worker *workers;
	struct moon_net_shared shared;
	/* Route i of every generation is for slot i. Only dns:// listeners
	 * have sockets. Reloads change it (moon_server_apply). */
	struct moon_ltab lt;
	struct moon_dot dot;            /* the tls:// slots' TLS state */
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

/* Opens the sockets of slot i of table t, one UDP and one TCP per worker,
 * into a chain of worker ops (per worker: ops[w]). A tls:// listener gets
 * one TCP socket per worker (server/dot.h). */
static int open_listener(struct moon_server *s, const struct moon_ltab *t, uint16_t i,
			 uint64_t gen, struct moon_lop **ops, struct moon_diag *diag)
{
	const struct moon_gen_listener *l = &t->l[i];
	if (l->proto == MOON_LISTEN_TLS)
		return moon_dot_open(&s->dot, l, i, s->nworkers, gen, ops, diag);
	int (*fds)[2] = calloc(s->nworkers, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	int ret = moon_lsock_open(l, s->nworkers, fds, diag);
	bool pktinfo = moon_net_addr_is_wildcard((const struct sockaddr *)&l->addr);
	for (unsigned w = 0; !ret && w < s->nworkers; w++) {
		struct moon_lop *u = moon_lop_new(gen, MOON_LOP_ADD_UDP, i, fds[w][0], pktinfo);
		if (u)
			fds[w][0] = -1;
		struct moon_lop *t4 = moon_lop_new(gen, MOON_LOP_ADD_TCP, i, fds[w][1], false);
		if (t4)
			fds[w][1] = -1;
		if (!u || !t4) {
			moon_lop_free_chain(u);
			moon_lop_free_chain(t4);
			ret = -ENOMEM;
			break;
		}
		/* Appended in the order of the slots: ops[w] is a chain. */
		struct moon_lop **end = &ops[w];
		while (*end)
			end = &(*end)->next;
		u->next = t4;
		*end = u;
	}
	for (unsigned w = 0; ret && w < s->nworkers; w++) {
		if (fds[w][0] >= 0)
			close(fds[w][0]);
		if (fds[w][1] >= 0)
			close(fds[w][1]);
	}
	free(fds);
	return ret;
}

/* At start, before the threads run: the ops are applied at once. */
static int bind_all(struct moon_server *s, struct moon_diag *diag)
{
	struct moon_lop **ops = calloc(s->nworkers, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	int ret = 0;
	for (size_t i = 0; !ret && i < s->lt.n; i++)
		ret = open_listener(s, &s->lt, (uint16_t)i, 0, ops, diag);
	for (unsigned w = 0; w < s->nworkers; w++) {
		if (!ret) {
			moon_lmbox_post(&s->workers[w].lbox, ops[w]);
			moon_lmbox_apply(&s->workers[w].lbox, s->workers[w].net, UINT64_MAX);
		} else {
			moon_lop_free_chain(ops[w]);
		}
	}
	free(ops);
	return ret;
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
	moon_ltab_free(&s->lt);
	moon_dot_free(&s->dot);
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
	int ret = moon_ltab_init(&s->lt, gen->listeners, gen->n_listeners);
	if (!ret) {
		s->workers = calloc(s->nworkers, sizeof(*s->workers));
		ret = s->workers ? 0 : -ENOMEM;
	}
	for (unsigned w = 0; !ret && w < s->nworkers; w++)
		ret = moon_worker_init(&s->workers[w], w, &s->pub, &cfg, &s->shared);
	if (ret)
		moon_diag_add(diag, NULL, 0, 0, "cannot start workers: %s", moon_strerror(ret));
	if (!ret)
		ret = bind_all(s, diag);
	if (!ret)
		moon_dot_publish(&s->dot, gen);
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
	*n = s->lt.n;
	return s->lt.l;
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

struct moon_gen *moon_server_current(const struct moon_server *s)
{
	return atomic_load(&s->pub.cur);
}

const struct moon_ltab *moon_server_ltab(const struct moon_server *s)
{
	return &s->lt;
}

/* Retirements first, in every worker's chain: a slot freed here may be
 * taken by a listener the same reload adds. */
static int retire_ops(struct moon_server *s, const struct moon_lplan *plan, uint64_t gen,
		      struct moon_lop **ops)
{
	for (unsigned w = 0; w < s->nworkers; w++) {
		struct moon_lop **end = &ops[w];
		for (size_t i = 0; i < plan->n_removed; i++) {
			*end = moon_lop_new(gen, MOON_LOP_RETIRE, plan->removed[i], -1, false);
			if (!*end)
				return -ENOMEM;
			end = &(*end)->next;
		}
	}
	return 0;
}

int moon_server_apply(struct moon_server *s, struct moon_gen *next, struct moon_lplan *plan,
		      struct moon_diag *diag)
{
	struct moon_lop **ops = calloc(s->nworkers, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	int ret = retire_ops(s, plan, next->id, ops);
	for (size_t i = 0; !ret && i < plan->n_added; i++)
		ret = open_listener(s, &plan->next, plan->added[i], next->id, ops, diag);
	for (unsigned w = 0; w < s->nworkers; w++) {
		if (ret)
			moon_lop_free_chain(ops[w]);
		else
			moon_lmbox_post(&s->workers[w].lbox, ops[w]);
	}
	free(ops);
	if (ret)
		return ret;
	moon_ltab_free(&s->lt);
	s->lt = plan->next;
	memset(&plan->next, 0, sizeof(plan->next));
	const struct moon_conf *c = next->conf;
	moon_net_shared_set_limits(&s->shared, c->tcp.max_connections,
				   c->tcp.max_connections_per_client);
	moon_dot_publish(&s->dot, next);
	moon_server_swap_generation(s, next);
	return 0;
}

void moon_server_stop(struct moon_server *s)
{
	if (s)
		server_free(s);
}
