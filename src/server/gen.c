#include <stdlib.h>
#include <string.h>

#include "bridge/bridge.h"
#include "metrics/ops.h"
#include "net/net.h"
#include "server/blockstate.h"
#include "server/dot.h"
#include "server/gen.h"
#include "server/zshare.h"
#include "util/err.h"
#include "util/log.h"
#include "zone/zone.h"

static _Atomic unsigned alive;
static _Atomic uint64_t last_id;
static struct moon_ops *_Atomic ops_for_new;

void moon_gen_set_ops(struct moon_ops *ops)
{
	atomic_store(&ops_for_new, ops);
}

unsigned moon_gen_alive(void)
{
	return atomic_load(&alive);
}

/* Suffixes of name are visited longest first, and so are the entries
 * (sorted by length), so one merge-like pass finds the longest match. */
int moon_suffix_lookup(const struct moon_suffix_tab *t, const uint8_t *name, size_t len)
{
	size_t i = 0, off = 0;
	for (;;) {
		size_t slen = len - off;
		while (i < t->n && t->e[i].len > slen)
			i++;
		for (size_t j = i; j < t->n && t->e[j].len == slen; j++)
			if (memcmp(t->e[j].name, name + off, slen) == 0)
				return (int)t->e[j].idx;
		if (name[off] == 0 || i == t->n)
			return -1;
		off += name[off] + 1u;
	}
}

static int cmp_entry(const void *a, const void *b)
{
	const struct moon_suffix_entry *x = a, *y = b;
	return (int)y->len - (int)x->len;
}

/* Adds text (an absolute name) to the table; MOON_ESYNTAX for a bad name,
 * MOON_ESEMANTIC for a duplicate. */
static int tab_add(struct moon_suffix_tab *t, const char *text, uint32_t idx)
{
	uint8_t name[MOON_NAME_MAXLEN];
	int len = moon_name_from_text(text, NULL, name);
	if (len < 0)
		return MOON_ESYNTAX;
	moon_name_tolower(name, name);
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].len == len && memcmp(t->e[i].name, name, (size_t)len) == 0)
			return MOON_ESEMANTIC;
	void *e = realloc(t->e, (t->n + 1) * sizeof(*t->e));
	if (!e)
		return -ENOMEM;
	t->e = e;
	memcpy(t->e[t->n].name, name, (size_t)len);
	t->e[t->n].len = (uint8_t)len;
	t->e[t->n].idx = idx;
	t->n++;
	return 0;
}

static void tab_sort(struct moon_suffix_tab *t)
{
	if (t->n > 1)
		qsort(t->e, t->n, sizeof(*t->e), cmp_entry);
}

static void load_zone(struct moon_gen *gen, struct moon_gen_zone *gz, struct moon_diag *diag)
{
	const struct moon_conf_zone_file *zf = gz->conf;
	size_t before = moon_diag_count(diag);
	bool reused;
	int ret = moon_zshare_get(gen->reuse, gz, &reused, diag);
	if (ret || !gz->zone) {
		gz->zone = NULL;
		if (moon_diag_count(diag) == before)
			moon_diag_add(diag, zf->where, 0, 0, "zone %s: %s", zf->origin,
				      moon_strerror(ret));
		gen->zones_failed++;
		return;
	}
	gen->zones_loaded++;
	if (reused) {
		gen->zones_reused++;
		moon_debug(ZONE, "zone %s unchanged: kept", zf->origin);
		return;
	}
	moon_info(ZONE, "zone %s loaded: serial %u, %zu records", zf->origin,
		  moon_zone_serial(gz->zone), moon_zone_record_count(gz->zone));
}

static int build_block(struct moon_gen *gen, size_t bi, struct moon_diag *diag)
{
	struct moon_gen_block *b = &gen->blocks[bi];
	const struct moon_conf_server *cs = &gen->conf->servers[bi];
	b->conf = cs;
	b->n_zones = cs->n_zone_files;
	b->zones = calloc(b->n_zones ? b->n_zones : 1, sizeof(*b->zones));
	b->policy = calloc(gen->nworkers, sizeof(*b->policy));
	if (!b->zones || !b->policy)
		return -ENOMEM;
	int err = 0;
	for (size_t i = 0; i < b->n_zones; i++) {
		const struct moon_conf_zone_file *zf = &cs->zone_files[i];
		b->zones[i].conf = zf;
		int ret = tab_add(&b->zone_tab, zf->origin, (uint32_t)i);
		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			moon_diag_add(diag, zf->where, 0, 0, "servers.%s: zone %s: %s", cs->name,
				      zf->origin,
				      ret == MOON_ESEMANTIC ? "listed twice" : "bad name");
			err = ret;
			continue;
		}
		load_zone(gen, &b->zones[i], diag);
	}
	tab_sort(&b->zone_tab);
	if (gen->ops) {
		char why[MOON_OPS_WHY];
		int ret = moon_ops_block_new(gen->ops, cs, &b->ops, why);
		if (ret == -ENOMEM)
			return ret;
		if (ret) {
			moon_diag_add(diag, gen->conf->path, 0, 0, "servers.%s.query_log: %s",
				      cs->name, why);
			err = err ? err : ret;
		}
	}
	int ret = moon_bstate_new(gen, bi, diag, &b->bs);
	return ret == -ENOMEM || !err ? ret : err;
}

static bool block_listens_on(const struct moon_conf_server *cs, const struct sockaddr *sa)
{
	for (size_t i = 0; i < cs->n_listen; i++)
		if (moon_net_addr_equal((const struct sockaddr *)&cs->listen[i].addr, sa))
			return true;
	return false;
}

static int build_route(struct moon_gen *gen, struct moon_gen_route *r, const struct sockaddr *sa,
		       struct moon_diag *diag)
{
	int err = 0;
	for (size_t bi = 0; bi < gen->n_blocks; bi++) {
		const struct moon_conf_server *cs = &gen->conf->servers[bi];
		if (!block_listens_on(cs, sa))
			continue;
		for (size_t z = 0; z < cs->n_zones; z++) {
			int ret = tab_add(&r->tab, cs->zones[z], (uint32_t)bi);
			if (ret == -ENOMEM)
				return ret;
			if (ret) {
				char addr[64];
				moon_net_addr_str(sa, addr, sizeof(addr));
				moon_diag_add(diag, gen->conf->path, 0, 0,
					      "servers.%s: zone %s on %s: %s", cs->name,
					      cs->zones[z], addr, ret == MOON_ESEMANTIC ?
					      "already served by another block on this address" :
					      "bad name");
				err = ret;
			}
		}
	}
	tab_sort(&r->tab);
	return err;
}

static int collect_listeners(struct moon_gen *gen)
{
	const struct moon_conf *c = gen->conf;
	size_t max = 0;
	for (size_t i = 0; i < c->n_servers; i++)
		max += c->servers[i].n_listen;
	gen->listeners = calloc(max ? max : 1, sizeof(*gen->listeners));
	if (!gen->listeners)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_servers; i++) {
		for (size_t j = 0; j < c->servers[i].n_listen; j++) {
			const struct moon_conf_listen *l = &c->servers[i].listen[j];
			bool dup = false;
			for (size_t k = 0; k < gen->n_listeners && !dup; k++)
				dup = moon_net_addr_equal((const struct sockaddr *)&l->addr,
						(const struct sockaddr *)&gen->listeners[k].addr);
			if (dup)
				continue;
			struct moon_gen_listener *gl = &gen->listeners[gen->n_listeners++];
			memcpy(&gl->addr, &l->addr, sizeof(l->addr));
			gl->addrlen = l->addrlen;
			gl->uri = l->uri;
			gl->proto = l->proto;
		}
	}
	return 0;
}

static void tab_free(struct moon_suffix_tab *t)
{
	free(t->e);
	t->e = NULL;
	t->n = 0;
}

static void gen_free(struct moon_gen *gen)
{
	for (size_t i = 0; i < gen->n_blocks; i++) {
		struct moon_gen_block *b = &gen->blocks[i];
		for (size_t z = 0; b->zones && z < b->n_zones; z++)
			moon_zshare_release(b->zones[z].share);
		free(b->zones);
		free(b->policy);
		tab_free(&b->zone_tab);
		moon_bstate_free(b->bs);
		moon_ops_block_free(b->ops);
	}
	for (size_t i = 0; gen->bridges && i < gen->nworkers; i++)
		moon_bridge_free(gen->bridges[i]);
	free(gen->bridges);
	free(gen->bpol);
	for (size_t i = 0; i < gen->n_routes; i++)
		tab_free(&gen->routes[i].tab);
	moon_dot_gen_free(gen);
	free(gen->routes);
	free(gen->blocks);
	free(gen->listeners);
	free(gen->ws);
	moon_conf_free(gen->conf);
	free(gen);
	atomic_fetch_sub(&alive, 1);
}

static enum moon_bridge_on_error on_error_of(const char *s)
{
	return !strcmp(s, "refuse") ? MOON_ON_ERROR_REFUSE : !strcmp(s, "drop") ?
	       MOON_ON_ERROR_DROP : !strcmp(s, "continue") ? MOON_ON_ERROR_CONTINUE :
	       MOON_ON_ERROR_SERVFAIL;
}

/* The bridge's view of every block's `policies` (strings borrowed from the
 * config, which the generation owns); returns how many there are. */
static size_t collect_policies(struct moon_gen *gen)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; i < gen->n_blocks; i++)
		n += gen->conf->servers[i].n_policies;
	if (n == 0 || !(gen->bpol = calloc(n, sizeof(*gen->bpol))))
		return 0;
	for (size_t i = 0; i < gen->n_blocks; i++) {
		const struct moon_conf_server *cs = &gen->conf->servers[i];
		for (size_t j = 0; j < cs->n_policies; j++) {
			const struct moon_conf_policy *cp = &cs->policies[j];
			gen->bpol[k++] = (struct moon_bridge_policy){
				.name = cp->name, .script = cp->path, .options = cp->options,
				.on_error = on_error_of(cp->on_error), .sandbox = cp->sandbox,
				.jit = cp->jit, .where = cp->where,
			};
		}
	}
	return n;
}

/* One Lua state per worker with every block's chain, built here on the
 * control thread; each worker then uses only its own. The first failure
 * stops: every worker would fail the same way. */
static int build_policies(struct moon_gen *gen, struct moon_diag *diag)
{
	bool any = false;
	for (size_t i = 0; i < gen->n_blocks; i++)
		any = any || gen->conf->servers[i].n_policies;
	if (!any)
		return 0;
	if (!collect_policies(gen) || !(gen->bridges = calloc(gen->nworkers,
							      sizeof(*gen->bridges))))
		return -ENOMEM;
	const struct moon_conf_lua *cl = &gen->conf->lua;
	const struct moon_bridge_limits lim = {
		.memory = cl->memory, .hook_ms = cl->time_budget_ms,
		.load_ms = cl->load_budget_ms, .stuck_ms = cl->watchdog_ms,
	};
	for (unsigned w = 0; w < gen->nworkers; w++) {
		int ret = moon_bridge_new(w, &lim, &gen->bridges[w], diag);
		const struct moon_bridge_policy *p = gen->bpol;
		for (size_t i = 0; !ret && i < gen->n_blocks; i++) {
			const struct moon_conf_server *cs = &gen->conf->servers[i];
			ret = moon_bridge_chain(gen->bridges[w], cs->name, p, cs->n_policies,
						&gen->blocks[i].policy[w], diag);
			p += cs->n_policies;
		}
		if (ret)
			return ret;
	}
	return 0;
}

static int gen_build(struct moon_gen *gen, const struct moon_gen_listener *bound, size_t n_bound,
		     struct moon_diag *diag)
{
	int ret = collect_listeners(gen);
	if (ret)
		return ret;
	gen->n_blocks = gen->conf->n_servers;
	gen->blocks = calloc(gen->n_blocks ? gen->n_blocks : 1, sizeof(*gen->blocks));
	if (!gen->blocks)
		return -ENOMEM;
	int err = 0;
	for (size_t i = 0; i < gen->n_blocks; i++) {
		ret = build_block(gen, i, diag);
		if (ret == -ENOMEM)
			return ret;
		err = err ? err : ret;
	}
	if (!bound) {
		bound = gen->listeners;
		n_bound = gen->n_listeners;
	}
	gen->routes = calloc(n_bound ? n_bound : 1, sizeof(*gen->routes));
	if (!gen->routes)
		return -ENOMEM;
	gen->n_routes = n_bound;
	for (size_t i = 0; i < n_bound; i++) {
		ret = build_route(gen, &gen->routes[i], (const struct sockaddr *)&bound[i].addr,
				  diag);
		if (ret == -ENOMEM)
			return ret;
		err = err ? err : ret;
	}
	ret = build_policies(gen, diag);
	if (ret == -ENOMEM)
		return ret;
	err = err ? err : ret;
	ret = moon_dot_gen_build(gen, bound, n_bound, diag);
	return ret == -ENOMEM || !err ? ret : err;
}

int moon_gen_new(struct moon_conf *conf, const struct moon_gen_listener *bound, size_t n_bound,
		 unsigned nworkers, struct moon_diag *diag, struct moon_gen **out)
{
	return moon_gen_new_from(NULL, conf, bound, n_bound, nworkers, diag, out);
}

int moon_gen_new_from(const struct moon_gen *prev, struct moon_conf *conf,
		      const struct moon_gen_listener *bound, size_t n_bound, unsigned nworkers,
		      struct moon_diag *diag, struct moon_gen **out)
{
	struct moon_gen *gen = calloc(1, sizeof(*gen));
	if (!gen) {
		moon_conf_free(conf);
		return -ENOMEM;
	}
	atomic_fetch_add(&alive, 1);
	gen->conf = conf;
	gen->nworkers = nworkers ? nworkers : 1;
	gen->id = atomic_fetch_add(&last_id, 1) + 1;
	gen->ops = atomic_load(&ops_for_new);
	atomic_init(&gen->refs, 1);
	gen->ws = aligned_alloc(64, gen->nworkers * sizeof(*gen->ws));
	if (!gen->ws) {
		gen_free(gen);
		return -ENOMEM;
	}
	memset(gen->ws, 0, gen->nworkers * sizeof(*gen->ws));
	gen->reuse = prev;
	int ret = gen_build(gen, bound, n_bound, diag);
	gen->reuse = NULL;
	if (ret) {
		if (ret == -ENOMEM)
			moon_diag_add(diag, conf->path, 0, 0, "out of memory");
		gen_free(gen);
		return ret;
	}
	*out = gen;
	return 0;
}

void moon_gen_release(struct moon_gen *gen)
{
	if (gen && atomic_fetch_sub(&gen->refs, 1) == 1)
		gen_free(gen);
}

const struct moon_gen_block *moon_gen_route(const struct moon_gen *gen, uint16_t listener,
					    const uint8_t *qname_lc, size_t len)
{
	if (listener >= gen->n_routes)
		return NULL;
	int i = moon_suffix_lookup(&gen->routes[listener].tab, qname_lc, len);
	return i < 0 ? NULL : &gen->blocks[i];
}

const struct moon_gen_zone *moon_gen_block_zone(const struct moon_gen_block *b,
						const uint8_t *qname_lc, size_t len)
{
	int i = moon_suffix_lookup(&b->zone_tab, qname_lc, len);
	return i < 0 ? NULL : &b->zones[i];
}

void moon_gen_pub_init(struct moon_gen_pub *p, struct moon_gen *first)
{
	pthread_mutex_init(&p->lock, NULL);
	atomic_init(&p->cur, first);
}

void moon_gen_pub_swap(struct moon_gen_pub *p, struct moon_gen *next)
{
	pthread_mutex_lock(&p->lock);
	struct moon_gen *old = atomic_load(&p->cur);
	atomic_store(&p->cur, next);
	pthread_mutex_unlock(&p->lock);
	moon_gen_release(old);
}

void moon_gen_pub_deinit(struct moon_gen_pub *p)
{
	moon_gen_release(atomic_load(&p->cur));
	atomic_store(&p->cur, NULL);
	pthread_mutex_destroy(&p->lock);
}

void moon_gen_user_update(struct moon_gen_user *u, struct moon_gen_pub *p)
{
	if (atomic_load_explicit(&p->cur, memory_order_acquire) == u->cur)
		return;
	/* The reference is taken under the lock: the publisher cannot drop
	 * its own reference to this generation in the meantime. */
	pthread_mutex_lock(&p->lock);
	struct moon_gen *next = atomic_load(&p->cur);
	atomic_fetch_add(&next->refs, 1);
	pthread_mutex_unlock(&p->lock);
	struct moon_gen *old = u->cur;
	u->cur = next;
	if (old && old->ws[u->worker].inflight == 0)
		moon_gen_release(old);
}

void moon_gen_user_leave(struct moon_gen_user *u)
{
	moon_gen_release(u->cur);
	u->cur = NULL;
}
