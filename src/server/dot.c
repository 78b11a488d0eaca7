#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "net/tls.h"
#include "server/dot.h"
#include "util/err.h"
#include "util/log.h"

/* ------------------------------------------------------------ generation */

/* Whether block cs has a tls:// listener on sa. */
static bool tls_on(const struct moon_conf_server *cs, const struct sockaddr *sa)
{
	for (size_t j = 0; j < cs->n_listen; j++) {
		const struct moon_conf_listen *l = &cs->listen[j];
		if (l->proto == MOON_LISTEN_TLS &&
		    moon_net_addr_equal((const struct sockaddr *)&l->addr, sa))
			return true;
	}
	return false;
}

static int build_ctx(const struct moon_conf_tls *t, size_t bi, struct moon_diag *diag,
		     struct moon_tls_ctx **out)
{
	char keypath[48];
	snprintf(keypath, sizeof(keypath), "servers[%zu].tls", bi);
	const struct moon_tls_opts o = {
		.cert = t->cert, .key = t->key, .client_ca = t->client_ca,
		.session_tickets = t->session_tickets,
		.handshake_timeout_ms = t->handshake_timeout_ms,
		.max_new_sessions_per_client = t->max_new_sessions_per_client,
		.where = t->where, .keypath = keypath,
	};
	return moon_tls_ctx_new(&o, diag, out);
}

/* The context of one tls:// address: from the first block on it; the
 * others must agree, since one handshake serves them all. */
static int build_slot(struct moon_gen *gen, const struct moon_gen_listener *l,
		      struct moon_tls_ctx **out, struct moon_diag *diag)
{
	const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
	const struct moon_conf *c = gen->conf;
	size_t first = SIZE_MAX;
	int err = 0;
	for (size_t bi = 0; bi < c->n_servers; bi++) {
		const struct moon_conf_server *cs = &c->servers[bi];
		/* A block without tls: was reported by the config check. */
		if (!cs->tls.enabled || !tls_on(cs, sa))
			continue;
		if (first == SIZE_MAX) {
			first = bi;
			err = build_ctx(&cs->tls, bi, diag, out);
			if (err)
				return err;
			continue;
		}
		if (moon_conf_server_same(&c->servers[first], cs, "tls"))
			continue;
		moon_diag_add(diag, cs->tls.where, 0, 0, "servers[%zu].tls: differs from "
			      "servers[%zu].tls, and both serve %s: blocks on one DNS-over-TLS "
			      "address need the same tls settings", bi, first, l->uri);
		err = MOON_ESEMANTIC;
	}
	return err;
}

int moon_dot_gen_build(struct moon_gen *gen, const struct moon_gen_listener *bound,
		       size_t n_bound, struct moon_diag *diag)
{
	gen->tls = calloc(n_bound ? n_bound : 1, sizeof(*gen->tls));
	if (!gen->tls)
		return -ENOMEM;
	int err = 0;
	for (size_t i = 0; i < n_bound; i++) {
		if (bound[i].addrlen == 0 || bound[i].proto != MOON_LISTEN_TLS)
			continue;
		int ret = build_slot(gen, &bound[i], &gen->tls[i], diag);
		if (ret == -ENOMEM)
			return ret;
		err = err ? err : ret;
	}
	gen->n_tls = n_bound;
	return err;
}

void moon_dot_gen_free(struct moon_gen *gen)
{
	for (size_t i = 0; gen->tls && i < gen->n_tls; i++)
		moon_tls_ctx_release(gen->tls[i]);
	free(gen->tls);
	gen->tls = NULL;
}

/* ------------------------------------------------------------ server */

/* The listener state of slot i, created on first use. */
static struct moon_tls_listener *slot_listener(struct moon_dot *d, uint16_t i)
{
	if (i >= d->n) {
		struct moon_tls_listener **l = realloc(d->l, ((size_t)i + 1) * sizeof(*l));
		if (!l)
			return NULL;
		memset(l + d->n, 0, ((size_t)i + 1 - d->n) * sizeof(*l));
		d->l = l;
		d->n = (size_t)i + 1;
	}
	if (!d->l[i]) {
		d->l[i] = malloc(sizeof(*d->l[i]));
		if (d->l[i])
			moon_tls_listener_init(d->l[i]);
	}
	return d->l[i];
}

static int open_error(struct moon_diag *diag, const struct moon_gen_listener *l, int err)
{
	moon_diag_add(diag, NULL, 0, 0, "cannot listen on %s (tcp): %s", l->uri,
		      moon_strerror(err));
	return err;
}

/* Appends op to the end of the chain *ops. */
static void append(struct moon_lop **ops, struct moon_lop *op)
{
	while (*ops)
		ops = &(*ops)->next;
	*ops = op;
}

int moon_dot_open(struct moon_dot *d, const struct moon_gen_listener *l, uint16_t slot,
		  unsigned nworkers, uint64_t gen, struct moon_lop **ops, struct moon_diag *diag)
{
	const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
	struct moon_tls_listener *tl = slot_listener(d, slot);
	if (!tl)
		return open_error(diag, l, -ENOMEM);
	/* The probe first: with SO_REUSEPORT another process could share the
	 * address silently. */
	int ret = moon_net_probe(sa, l->addrlen, SOCK_STREAM);
	if (ret)
		return open_error(diag, l, ret);
	struct moon_lop **mine = calloc(nworkers, sizeof(*mine));
	if (!mine)
		return open_error(diag, l, -ENOMEM);
	for (unsigned w = 0; !ret && w < nworkers; w++) {
		int fd;
		ret = moon_net_socket_tcp(sa, l->addrlen, &fd);
		if (ret)
			break;
		mine[w] = moon_lop_new(gen, MOON_LOP_ADD_TLS, slot, fd, false);
		if (!mine[w]) {
			close(fd);
			ret = -ENOMEM;
			break;
		}
		mine[w]->tls = tl;
	}
	for (unsigned w = 0; w < nworkers; w++) {
		if (ret)
			moon_lop_free_chain(mine[w]);  /* closes the socket */
		else
			append(&ops[w], mine[w]);
	}
	free(mine);
	return ret ? open_error(diag, l, ret) : 0;
}

void moon_dot_publish(struct moon_dot *d, const struct moon_gen *gen)
{
	for (size_t i = 0; i < gen->n_tls && i < d->n; i++)
		if (gen->tls[i] && d->l[i])
			moon_tls_listener_set(d->l[i], gen->tls[i]);
}

void moon_dot_free(struct moon_dot *d)
{
	for (size_t i = 0; i < d->n; i++) {
		if (!d->l[i])
			continue;
		moon_tls_listener_deinit(d->l[i]);
		free(d->l[i]);
	}
	free(d->l);
	memset(d, 0, sizeof(*d));
}
