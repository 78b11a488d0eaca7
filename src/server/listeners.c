#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "net/tls.h"
#include "server/listeners.h"
#include "util/err.h"
#include "util/log.h"

static int ltab_alloc(struct moon_ltab *t, size_t n)
{
	t->n = n;
	t->l = calloc(n ? n : 1, sizeof(*t->l));
	t->uri = calloc(n ? n : 1, sizeof(*t->uri));
	if (!t->l || !t->uri) {
		moon_ltab_free(t);
		return -ENOMEM;
	}
	return 0;
}

static void slot_set(struct moon_ltab *t, size_t i, const struct moon_gen_listener *l)
{
	t->l[i] = *l;
	snprintf(t->uri[i], sizeof(t->uri[i]), "%s", l->uri ? l->uri : "");
	t->l[i].uri = t->uri[i];
}

static void slot_clear(struct moon_ltab *t, size_t i)
{
	memset(&t->l[i], 0, sizeof(t->l[i]));
	t->uri[i][0] = 0;
	t->l[i].uri = t->uri[i];
}

int moon_ltab_init(struct moon_ltab *t, const struct moon_gen_listener *l, size_t n)
{
	if (n > MOON_LTAB_MAX)
		return MOON_ELIMIT;
	int ret = ltab_alloc(t, n);
	for (size_t i = 0; !ret && i < n; i++)
		slot_set(t, i, &l[i]);
	return ret;
}

void moon_ltab_free(struct moon_ltab *t)
{
	free(t->l);
	free(t->uri);
	memset(t, 0, sizeof(*t));
}

static bool same_listener(const struct moon_gen_listener *a, const struct moon_gen_listener *b)
{
	return a->proto == b->proto &&
	       moon_net_addr_equal((const struct sockaddr *)&a->addr,
				   (const struct sockaddr *)&b->addr);
}

/* The slot of cur that serves w, or -1. */
static long find_slot(const struct moon_ltab *t, const struct moon_gen_listener *w)
{
	for (size_t i = 0; i < t->n; i++)
		if (moon_ltab_used(t, i) && same_listener(&t->l[i], w))
			return (long)i;
	return -1;
}

/* The copy of cur the plan edits: room for every wanted listener to get a
 * new slot at the end. */
static int copy_table(const struct moon_ltab *cur, size_t extra, struct moon_ltab *next)
{
	int ret = ltab_alloc(next, cur->n + extra);
	if (ret)
		return ret;
	next->n = cur->n;
	for (size_t i = 0; i < cur->n; i++)
		slot_set(next, i, &cur->l[i]);
	return 0;
}

int moon_lplan_make(const struct moon_ltab *cur, const struct moon_gen_listener *want,
		    size_t n_want, struct moon_lplan *p)
{
	memset(p, 0, sizeof(*p));
	bool *kept = calloc(cur->n ? cur->n : 1, sizeof(*kept));
	p->added = calloc(n_want ? n_want : 1, sizeof(*p->added));
	p->removed = calloc(cur->n ? cur->n : 1, sizeof(*p->removed));
	int ret = kept && p->added && p->removed ? copy_table(cur, n_want, &p->next) : -ENOMEM;
	if (ret)
		goto fail;
	/* Removals first, so that an added listener may take a freed slot. */
	for (size_t w = 0; w < n_want; w++) {
		long i = find_slot(cur, &want[w]);
		if (i >= 0)
			kept[i] = true;
	}
	for (size_t i = 0; i < cur->n; i++) {
		if (!moon_ltab_used(cur, i))
			continue;
		if (kept[i]) {
			p->n_kept++;
			continue;
		}
		p->removed[p->n_removed++] = (uint16_t)i;
		slot_clear(&p->next, i);
	}
	size_t free_from = 0;
	for (size_t w = 0; w < n_want; w++) {
		if (find_slot(cur, &want[w]) >= 0)
			continue;
		while (free_from < p->next.n && moon_ltab_used(&p->next, free_from))
			free_from++;
		if (free_from == p->next.n) {
			if (p->next.n == MOON_LTAB_MAX) {
				ret = MOON_ELIMIT;
				goto fail;
			}
			p->next.n++;
		}
		slot_set(&p->next, free_from, &want[w]);
		p->added[p->n_added++] = (uint16_t)free_from;
	}
	free(kept);
	return 0;
fail:
	free(kept);
	moon_lplan_free(p);
	return ret;
}

void moon_lplan_free(struct moon_lplan *p)
{
	moon_ltab_free(&p->next);
	free(p->added);
	free(p->removed);
	memset(p, 0, sizeof(*p));
}

static int open_error(struct moon_diag *diag, const struct moon_gen_listener *l, const char *what,
		      int err)
{
	moon_diag_add(diag, NULL, 0, 0, "cannot listen on %s (%s): %s", l->uri, what,
		      moon_strerror(err));
	return err;
}

int moon_lsock_open(const struct moon_gen_listener *l, unsigned nworkers, int (*fds)[2],
		    struct moon_diag *diag)
{
	const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
	for (unsigned w = 0; w < nworkers; w++)
		fds[w][0] = fds[w][1] = -1;
	/* The probe first: with SO_REUSEPORT another process could share the
	 * address silently. */
	int ret = moon_net_probe(sa, l->addrlen, SOCK_DGRAM);
	if (ret)
		return open_error(diag, l, "udp", ret);
	ret = moon_net_probe(sa, l->addrlen, SOCK_STREAM);
	if (ret)
		return open_error(diag, l, "tcp", ret);
	for (unsigned w = 0; w < nworkers && !ret; w++) {
		ret = moon_net_socket_udp(sa, l->addrlen, &fds[w][0]);
		if (ret) {
			open_error(diag, l, "udp", ret);
			break;
		}
		ret = moon_net_socket_tcp(sa, l->addrlen, &fds[w][1]);
		if (ret)
			open_error(diag, l, "tcp", ret);
	}
	if (!ret)
		return 0;
	for (unsigned w = 0; w < nworkers; w++) {
		if (fds[w][0] >= 0)
			close(fds[w][0]);
		if (fds[w][1] >= 0)
			close(fds[w][1]);
		fds[w][0] = fds[w][1] = -1;
	}
	return ret;
}

void moon_lmbox_init(struct moon_lmbox *m)
{
	pthread_mutex_init(&m->lock, NULL);
	m->head = NULL;
	m->tail = &m->head;
}

void moon_lop_free_chain(struct moon_lop *ops)
{
	for (struct moon_lop *op = ops, *next; op; op = next) {
		next = op->next;
		if (op->fd >= 0)
			close(op->fd);
		free(op);
	}
}

void moon_lmbox_deinit(struct moon_lmbox *m)
{
	moon_lop_free_chain(m->head);
	m->head = NULL;
	m->tail = &m->head;
	pthread_mutex_destroy(&m->lock);
}

struct moon_lop *moon_lop_new(uint64_t gen, enum moon_lop_kind kind, uint16_t listener, int fd,
			      bool pktinfo)
{
	struct moon_lop *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->gen = gen;
	op->kind = kind;
	op->listener = listener;
	op->fd = fd;
	op->pktinfo = pktinfo;
	return op;
}

void moon_lmbox_post(struct moon_lmbox *m, struct moon_lop *ops)
{
	if (!ops)
		return;
	struct moon_lop *last = ops;
	while (last->next)
		last = last->next;
	pthread_mutex_lock(&m->lock);
	*m->tail = ops;
	m->tail = &last->next;
	pthread_mutex_unlock(&m->lock);
}

/* Whether op may run now: before the generation swap only retirements,
 * after it anything of a generation the worker already serves. */
static bool due(const struct moon_lop *op, uint64_t gen_id)
{
	return gen_id ? op->gen <= gen_id : op->kind == MOON_LOP_RETIRE;
}

static void apply_one(struct moon_lop *op, struct moon_net_worker *nw)
{
	int ret = 0;
	switch (op->kind) {
	case MOON_LOP_RETIRE:
		moon_net_worker_retire(nw, op->listener);
		break;
	case MOON_LOP_ADD_UDP:
		ret = moon_net_worker_add_udp(nw, op->fd, op->listener, op->pktinfo);
		break;
	case MOON_LOP_ADD_TCP:
		ret = moon_net_worker_add_tcp(nw, op->fd, op->listener);
		break;
	case MOON_LOP_ADD_TLS:
		ret = moon_net_worker_add_tls(nw, op->fd, op->listener, op->tls);
		break;
	}
	if (ret)
		moon_err(NET, "listener %u: cannot start serving a socket: %s", op->listener,
			 moon_strerror(ret));
	else
		op->fd = -1;  /* net owns it now */
}

unsigned moon_lmbox_apply(struct moon_lmbox *m, struct moon_net_worker *nw, uint64_t gen_id)
{
	/* Detach the due prefix under the lock, apply it outside: applying
	 * answers queries, which must not wait on the control thread. */
	struct moon_lop *batch = NULL, **bt = &batch;
	pthread_mutex_lock(&m->lock);
	while (m->head && due(m->head, gen_id)) {
		struct moon_lop *op = m->head;
		m->head = op->next;
		op->next = NULL;
		*bt = op;
		bt = &op->next;
	}
	if (!m->head)
		m->tail = &m->head;
	pthread_mutex_unlock(&m->lock);
	unsigned n = 0;
	for (struct moon_lop *op = batch, *next; op; op = next, n++) {
		next = op->next;
		op->next = NULL;
		apply_one(op, nw);
		moon_lop_free_chain(op);
	}
	return n;
}
