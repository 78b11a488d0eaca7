#include <stdlib.h>
#include <string.h>

#include "server/blockstate.h"
#include "metrics/ops.h"
#include "server/gen.h"
#include "util/err.h"
#include "util/log.h"

static enum moon_fwd_policy policy_of(const char *name)
{
	if (name && !strcmp(name, "round_robin"))
		return MOON_FWD_ROUND_ROBIN;
	if (name && !strcmp(name, "sequential"))
		return MOON_FWD_SEQUENTIAL;
	return MOON_FWD_RANDOM;
}

/* The config keys are named after the options, one to one. */
static void fwd_opts(const struct moon_conf_forward *f, struct moon_fwd_opts *o)
{
	moon_fwd_opts_init(o);
	o->from = f->from;
	o->to = (const char *const *)f->to;
	o->nto = (unsigned)f->n_to;
	o->except = (const char *const *)f->except;
	o->nexcept = (unsigned)f->n_except;
	o->policy = policy_of(f->policy);
	o->force_tcp = f->force_tcp;
	o->timeout_ms = f->timeout_ms;
	o->try_timeout_ms = f->try_timeout_ms;
	o->max_tries = f->max_tries;
	o->failover = (const char *const *)f->failover;
	o->nfailover = (unsigned)f->n_failover;
	o->max_fails = f->max_fails;
	o->health_check_ms = f->health_check_ms;
	o->health_check_max_ms = f->health_check_max_ms;
	o->health_check_name = f->health_check_name;
	o->health_check_type = f->health_check_type;
	o->health_check_rd = f->health_check_rd;
	o->fail_fast = f->fail_fast;
	o->max_concurrent = f->max_concurrent;
	o->expire_ms = f->expire_ms;
	o->max_conns = f->max_conns;
	o->max_pipeline = f->max_pipeline;
	o->edns_payload = f->edns_payload;
	o->tls_servername = f->tls_servername;
	o->tls_ca = f->tls_ca;
	o->tls_cert = f->tls_cert;
	o->tls_key = f->tls_key;
	o->tls_verify = f->tls_verify;
	o->where = f->where;
}

void moon_bstate_cache_opts(const struct moon_conf_cache *c, struct moon_cache_opts *o)
{
	moon_cache_opts_default(o);
	o->capacity_bytes = (size_t)c->capacity;
	o->success_max_entries = c->success.capacity;
	o->success_min_ttl = c->success.min_ttl;
	o->success_max_ttl = c->success.max_ttl;
	o->denial_max_entries = c->denial.capacity;
	o->denial_min_ttl = c->denial.min_ttl;
	o->denial_max_ttl = c->denial.max_ttl;
	o->servfail_ttl = c->servfail_ttl;
	o->prefetch_hits = c->prefetch.enabled ? c->prefetch.hits : 0;
	o->prefetch_percent = c->prefetch.percent;
	o->serve_stale = c->serve_stale.enabled;
	o->stale_answer_ttl = c->serve_stale.answer_ttl;
	o->stale_max = c->serve_stale.max_stale;
}

static int build_fwd(const struct moon_gen *gen, struct moon_bstate *bs, struct moon_diag *diag)
{
	struct moon_fwd_opts o;
	fwd_opts(&bs->conf->forward, &o);
	int ret = moon_fwd_new(&o, &bs->fwd, diag);
	if (ret)
		return ret;
	const struct sockaddr *addrs[64];
	unsigned n = 0;
	for (size_t i = 0; i < gen->n_listeners && n < 64; i++)
		addrs[n++] = (const struct sockaddr *)&gen->listeners[i].addr;
	moon_fwd_exclude_listeners(bs->fwd, addrs, n);
	if (bs->ops) {
		/* The upstreams' metric slots, by the forwarder's names and order. */
		const char *names[MOON_FWD_MAX_UPSTREAMS];
		unsigned nup = moon_fwd_upstream_count(bs->fwd);
		for (unsigned i = 0; i < nup && i < MOON_FWD_MAX_UPSTREAMS; i++)
			names[i] = moon_fwd_upstream_name(bs->fwd, i);
		moon_ops_block_upstreams(bs->ops, names, nup);
		moon_fwd_set_hc_observer(bs->fwd, moon_ops_hc_failed, bs->ops);
	}
	return 0;
}

/* The cache of the previous generation's block of the same name, when
 * this block caches the same way and forwards to the same place. */
static struct moon_cshare *find_cache(const struct moon_gen *prev,
				      const struct moon_conf_server *cs)
{
	if (!prev)
		return NULL;
	for (size_t i = 0; i < prev->n_blocks; i++) {
		const struct moon_gen_block *b = &prev->blocks[i];
		if (!b->bs || !b->bs->cs || strcmp(b->conf->name, cs->name))
			continue;
		if (moon_conf_server_same(b->conf, cs, "cache") &&
		    moon_conf_server_same(b->conf, cs, "forward"))
			return b->bs->cs;
		return NULL;
	}
	return NULL;
}

static int build_cache(const struct moon_gen *gen, struct moon_bstate *bs,
		       struct moon_diag *diag)
{
	struct moon_cshare *cs = find_cache(gen->reuse, bs->conf);
	if (cs) {
		atomic_fetch_add(&cs->refs, 1);
		bs->cs = cs;
		bs->cache = cs->cache;
		bs->cache_adopted = true;
		moon_debug(CACHE, "servers.%s: cache kept across the reload", bs->conf->name);
		return 0;
	}
	struct moon_cache_opts o;
	moon_bstate_cache_opts(&bs->conf->cache, &o);
	const char *why = moon_cache_opts_check(&o);
	if (why) {
		moon_diag_add(diag, gen->conf->path, 0, 0, "servers.%s: cache: %s",
			      bs->conf->name, why);
		return MOON_ESEMANTIC;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	cs->cache = moon_cache_new(&o);
	if (!cs->cache) {
		free(cs);
		return -ENOMEM;
	}
	atomic_init(&cs->refs, 1);
	cs->since_gen = gen->id;
	bs->cs = cs;
	bs->cache = cs->cache;
	return 0;
}

int moon_bstate_new(const struct moon_gen *gen, size_t bi, struct moon_diag *diag,
		    struct moon_bstate **out)
{
	const struct moon_conf_server *cs = &gen->conf->servers[bi];
	*out = NULL;
	if (!cs->forward.enabled && !cs->cache.enabled)
		return 0;
	struct moon_bstate *bs = calloc(1, sizeof(*bs));
	if (!bs)
		return -ENOMEM;
	bs->conf = cs;
	bs->ops = gen->blocks[bi].ops;
	bs->nworkers = gen->nworkers;
	bs->w = calloc(gen->nworkers, sizeof(*bs->w));
	int ret = bs->w ? 0 : -ENOMEM;
	if (!ret && cs->forward.enabled)
		ret = build_fwd(gen, bs, diag);
	if (!ret && cs->cache.enabled)
		ret = build_cache(gen, bs, diag);
	if (ret) {
		moon_bstate_free(bs);
		return ret;
	}
	*out = bs;
	return 0;
}

void moon_cshare_release(struct moon_cshare *cs)
{
	if (cs && atomic_fetch_sub(&cs->refs, 1) == 1) {
		moon_cache_free(cs->cache);
		free(cs);
	}
}

void moon_bstate_free(struct moon_bstate *bs)
{
	if (!bs)
		return;
	moon_fwd_free(bs->fwd);
	moon_cshare_release(bs->cs);
	free(bs->w);
	free(bs);
}
