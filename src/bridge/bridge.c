/*
 * Lifecycle of a bridge state and the three hook functions the pipeline
 * calls. The Lua half (what a stage does with the policies) is
 * lua/moon/core.lua; this file only gets C in and out of it safely.
 */
#include <arpa/inet.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/counters.h"
#include "bridge/embed.h"
#include "bridge/internal.h"
#include "util/err.h"
#include "util/random.h"
#include "util/time.h"
#include "wire/wire.h"

/* Instructions between two looks at the clock by the count hook: about
 * 10-50 us of interpreted code, so the budget overshoots by that much. */
#define HOOK_INSNS 10000
/* Longest log line made of a Lua error and its traceback. */
#define ERRLOG_MAX 1024

static const char *const stage_names[] = { "query", "response", "log" };
/* By enum moon_verdict (the metrics' fixed set). */
static const char *const verdict_names[MOON_BRIDGE_NVERDICTS] = {
	"continue", "answer", "refuse", "nxdomain", "servfail", "drop",
};
_Static_assert(MOON_VERDICT_DROP == MOON_BRIDGE_NVERDICTS - 1, "a name per verdict");

/*
 * The count hook: the first time it fires during a call it starts a clock
 * (so the hot path never reads one); later it compares. Over budget, it
 * raises an error and fires on every instruction until the call is over,
 * so that a policy catching the error with pcall in a loop still cannot
 * keep running. JIT-compiled traces never call it (stock LuaJIT).
 */
static void count_hook(lua_State *L, lua_Debug *ar)
{
	void *ud;
	lua_getallocf(L, &ud);
	struct moon_bridge *b = ud;    /* alloc is the first member */
	uint32_t e = atomic_load_explicit(&b->wd.enter, memory_order_relaxed);
	if (e == atomic_load_explicit(&b->wd.leave, memory_order_relaxed))
		return;
	if (b->hook_seen != e) {
		b->hook_seen = e;
		b->hook_t0 = moon_now_ms();
		if (b->hook_tight) {
			b->hook_tight = false;
			lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_INSNS);
		}
		return;
	}
	if (moon_now_ms() - b->hook_t0 < b->budget_ms)
		return;
	b->timed_out = true;
	if (!b->hook_tight) {
		b->hook_tight = true;
		lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
	}
	/* Level 0 inside a hook is the function that was running: the
	 * message names the policy's line, not the bridge's. */
	luaL_where(L, 0);
	lua_pushfstring(L, "time budget of %d ms exceeded", (int)b->budget_ms);
	lua_concat(L, 2);
	lua_error(L);
}

/* The error handler of every pcall: message and traceback as one string,
 * whatever the error value was. Stack: [err] -> [err, text]. */
static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (!msg)
		msg = lua_pushfstring(L, "(error value is a %s)", luaL_typename(L, 1));
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* An error outside any pcall means the bridge itself is broken. */
static int panic(lua_State *L)
{
	const char *msg = lua_tostring(L, -1);
	moon_err(POLICY, "unprotected Lua error: %s", msg ? msg : "?");
	abort();
}

static void describe(void *arg, char *out, size_t len)
{
	struct moon_bridge *b = arg;
	int idx = __atomic_load_n(&b->R.policy_, __ATOMIC_RELAXED);
	int stage = __atomic_load_n(&b->R.stage_, __ATOMIC_RELAXED);
	if (idx < 0 || (size_t)idx >= b->npol) {
		snprintf(out, len, "worker %u's Lua state", b->worker);
		return;
	}
	const struct moon_bridge_pol *p = &b->pol[idx];
	snprintf(out, len, "worker %u: policy %s (server %s), %s", b->worker, p->conf->name,
		 p->block, stage >= 0 && stage <= 2 ? stage_names[stage] : "constructor");
}

/* package.preload[name] for every embedded module. Stack: unchanged. */
static int preload(lua_State *L)
{
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "preload");
	for (const struct moon_lua_module *m = moon__lua_modules; m->name; m++) {
		if (luaL_loadbuffer(L, m->src, m->len, m->chunk) != 0)
			return lua_error(L);
		lua_setfield(L, -2, m->name);
	}
	lua_pop(L, 2);
	return 0;
}

/* Protected part of the state's creation: libraries, the moon modules,
 * core.init, and references to core.load and core.chain.
 * Stack: [bridge] -> [bridge, core] (lua_cpcall drops both). */
static int init_state(lua_State *L)
{
	struct moon_bridge *b = lua_touserdata(L, 1);
	luaL_openlibs(L);
	preload(L);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "moon.core");
	lua_call(L, 1, 1);
	lua_getfield(L, -1, "init");
	lua_pushlightuserdata(L, &b->R);
	lua_pushnumber(L, (lua_Number)moon_random_u32());
	/* Referencing the symbol table keeps every FFI function in the link. */
	lua_pushinteger(L, (lua_Integer)moon__ffi_nsyms);
	lua_call(L, 3, 0);
	lua_getfield(L, -1, "load");
	b->ref_load = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_getfield(L, -1, "chain");
	b->ref_chain = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

static void limits(struct moon_bridge_limits *dst, const struct moon_bridge_limits *src)
{
	static const struct moon_bridge_limits none;
	if (!src)
		src = &none;
	dst->memory = src->memory ? src->memory : MOON_BRIDGE_MEMORY;
	dst->hook_ms = src->hook_ms ? src->hook_ms : MOON_BRIDGE_HOOK_MS;
	dst->load_ms = src->load_ms ? src->load_ms : MOON_BRIDGE_LOAD_MS;
	dst->stuck_ms = src->stuck_ms ? src->stuck_ms : MOON_BRIDGE_STUCK_MS;
}

static int buffers_new(struct moon_bridge *b)
{
	b->reply = malloc(MOON_MAX_MSG);
	b->rt = moon_rrtext_new();
	/* Never reallocated: the watchdog thread may read it (describe). */
	b->pol = calloc(MOON_BRIDGE_MAX_POLICIES, sizeof(*b->pol));
	if (!b->reply || !b->rt || !b->pol)
		return -ENOMEM;
	return moon_redit_init(&b->edit);
}

int moon_bridge_new(unsigned worker, const struct moon_bridge_limits *lim,
		    struct moon_bridge **out, struct moon_diag *diag)
{
	struct moon_bridge *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->worker = worker;
	limits(&b->lim, lim);
	b->alloc.limit = b->lim.memory;
	b->budget_ms = b->lim.load_ms;
	b->R.buf_ = b->buf;
	b->R.policy_ = -1;
	b->R.stage_ = -1;
	b->R.nrr_ = -1;
	b->decider = -1;
	b->ref_load = b->ref_chain = LUA_NOREF;
	b->counters = moon_bridge_counter_slots(worker);
	int ret = -ENOMEM;
	if (!b->counters || buffers_new(b))
		goto fail;
	b->R.rr_ = b->edit.rr;
	b->R.order_ = b->edit.order;
	b->L = lua_newstate(moon_lalloc, &b->alloc);
	if (!b->L)
		goto fail;
	lua_atpanic(b->L, panic);
	ret = lua_cpcall(b->L, init_state, b);
	if (ret) {
		const char *msg = lua_tostring(b->L, -1);
		moon_diag_add(diag, NULL, 0, 0, "cannot start the Lua policy layer: %s",
			      msg ? msg : "?");
		ret = ret == LUA_ERRMEM ? -ENOMEM : MOON_ESEMANTIC;
		goto fail;
	}
	lua_settop(b->L, 0);
	lua_pushcfunction(b->L, traceback);     /* MOON_BRIDGE_ERRFUNC */
	lua_sethook(b->L, count_hook, LUA_MASKCOUNT, HOOK_INSNS);
	b->wd.stuck_ms = b->lim.stuck_ms;
	b->wd.describe = describe;
	b->wd.arg = b;
	moon_wd_register(&b->wd);
	*out = b;
	return 0;
fail:
	if (ret == -ENOMEM)
		moon_diag_add(diag, NULL, 0, 0, "cannot start the Lua policy layer: out of memory");
	moon_bridge_free(b);
	return ret;
}

void moon_bridge_free(struct moon_bridge *b)
{
	if (!b)
		return;
	if (b->wd.describe)
		moon_wd_unregister(&b->wd);
	if (b->L)
		lua_close(b->L);
	for (size_t i = 0; i < b->nchains; i++) {
		free(b->chains[i]->block);
		free(b->chains[i]);
	}
	free(b->chains);
	free(b->pol);
	moon_redit_deinit(&b->edit);
	moon_rrtext_free(b->rt);
	free(b->reply);
	free(b);
}

size_t moon_bridge_memory(const struct moon_bridge *b)
{
	return b->alloc.used;
}

/* One line for the log: newlines and tabs of the traceback folded. */
static void fold(const char *msg, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = msg; *p && n + 4 < cap; p++) {
		if (*p == '\n') {
			memcpy(out + n, " | ", 3);
			n += 3;
		} else if (*p != '\t') {
			out[n++] = *p;
		}
	}
	out[n] = 0;
}

/* Counts and logs the error on top of the stack (and pops it); returns the
 * failed policy's on_error action. Stack: [errfunc, msg] -> [errfunc]. */
static int policy_failed(struct moon_bridge *b, int stage, int rc)
{
	lua_State *L = b->L;
	const char *msg = lua_tostring(L, -1);
	if (!msg)
		msg = rc == LUA_ERRMEM ? "not enough memory" : "error in the error handler";
	int idx = b->R.policy_;
	bool timeout = b->timed_out;
	b->timed_out = false;
	char line[ERRLOG_MAX];
	if (rc == LUA_ERRMEM)
		snprintf(line, sizeof(line), "memory limit of %zu bytes reached (%s)",
			 b->alloc.limit, msg);
	else
		fold(msg, line, sizeof(line));
	const char *what = stage >= 0 && stage <= 2 ? stage_names[stage] : "?";
	int action = MOON_ON_ERROR_SERVFAIL;
	if (idx >= 0 && (size_t)idx < b->npol) {
		struct moon_bridge_pol *p = &b->pol[idx];
		action = p->conf->on_error;
		b->counters[p->ctr_errors]++;
		if (timeout)
			b->counters[p->ctr_timeouts]++;
		if (rc == LUA_ERRMEM)
			b->counters[p->ctr_memory]++;
		moon_log_limited(&p->errlog, MOON_LOG_ERR, MOON_SYS_POLICY,
				 "policy %s (server %s): %s hook failed: %s", p->conf->name,
				 p->block, what, line);
		if (b->on_error)
			b->on_error(b->on_error_arg, p->conf->name, line);
	} else {
		MOON_LOG_RATELIMITED(MOON_LOG_ERR, POLICY, "%s stage failed: %s", what, line);
		if (b->on_error)
			b->on_error(b->on_error_arg, "?", line);
	}
	lua_settop(L, MOON_BRIDGE_ERRFUNC);
	if (rc == LUA_ERRMEM)
		lua_gc(L, LUA_GCCOLLECT, 0);
	return action;
}

static uint16_t sa_port(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

static void req_begin(struct moon_bridge *b, struct moon_query *q, int stage)
{
	struct moon_ffi_req *R = &b->R;
	const struct moon_pkt *p = &q->pkt;
	R->q_ = q;
	R->seq_++;
	R->stage_ = stage;
	R->policy_ = -1;
	R->pos_ = 0;
	R->nrr_ = -1;
	R->type = moon_query_qtype(q);
	R->class = moon_query_qclass(q);
	R->id = p->id;
	R->opcode = p->opcode;
	R->rd = p->flags & MOON_FLAG_RD;
	R->cd = p->flags & MOON_FLAG_CD;
	R->edns = p->edns.present;
	R->do_bit = p->edns.do_bit;
	R->bufsize = p->edns.present ? p->edns.payload : 0;
	R->tcp = q->proto == MOON_PROTO_TCP;
	R->client_port = sa_port(q->client);
	R->server_port = sa_port(q->server);
	R->rewritten = q->rewritten;
	R->source_ = q->source;
	b->rw_open = false;
	b->reply_len = 0;
	if (stage == MOON_FFI_STAGE_QUERY)
		return;
	moon_redit_reset(&b->edit, q->resp, q->resp_len);
	uint16_t flags = q->resp_len >= MOON_HDR_LEN ? moon_get_u16(q->resp + 2) : 0;
	R->rcode_ = q->rcode;
	R->aa_ = flags & MOON_FLAG_AA;
	R->tc_ = flags & MOON_FLAG_TC;
	R->ad_ = flags & MOON_FLAG_AD;
	R->ra_ = flags & MOON_FLAG_RA;
}

static void count(struct moon_bridge *b, int id)
{
	if (id >= 0)
		b->counters[id]++;
}

/* The policies at positions from..to (1-based) of the stage's list were
 * called; all but the last continued (the last decided, continued or
 * failed: its verdict is counted once known). */
static void count_calls(struct moon_bridge_chain *c, int stage, int from, int to)
{
	struct moon_bridge *b = c->b;
	int pos = 0;
	for (size_t i = c->first; i < c->first + c->npol && pos < to; i++) {
		struct moon_bridge_pol *p = &b->pol[i];
		if (!(p->stages & 1 << stage) || ++pos < from)
			continue;
		count(b, p->ctr_calls[stage]);
		if (pos < to && stage != MOON_FFI_STAGE_LOG)
			count(b, p->ctr_verdicts[MOON_VERDICT_CONTINUE]);
	}
}

/* The verdict v that the last run's deciding policy (or the last one
 * called, when all continued) gave q. Every reply a policy makes is
 * installed as an answer; it counts as refuse, nxdomain or servfail by its
 * rcode (q:refuse(), q:nxdomain(), q:servfail(), failures), else answer. */
static enum moon_verdict count_verdict(struct moon_bridge *b, const struct moon_query *q,
				       enum moon_verdict v)
{
	enum moon_verdict as = v;
	if (v == MOON_VERDICT_ANSWER)
		as = q->rcode == MOON_RCODE_REFUSED ? MOON_VERDICT_REFUSE :
		     q->rcode == MOON_RCODE_NXDOMAIN ? MOON_VERDICT_NXDOMAIN :
		     q->rcode == MOON_RCODE_SERVFAIL ? MOON_VERDICT_SERVFAIL : v;
	if (b->decider >= 0 && (size_t)b->decider < b->npol && (unsigned)as < MOON_BRIDGE_NVERDICTS)
		count(b, b->pol[b->decider].ctr_verdicts[as]);
	return v;
}

/* Stack: [errfunc] before and after; during the call
 * [errfunc, dispatcher, start] -> [errfunc, code or error text]. */
int moon__bridge_run(struct moon_bridge_chain *c, struct moon_query *q, int stage)
{
	struct moon_bridge *b = c->b;
	lua_State *L = b->L;
	req_begin(b, q, stage);
	b->block = c->block;
	b->budget_ms = b->lim.hook_ms;
	int start = 1, code = MOON_CODE_CONTINUE;
	bool skipped = false;   /* the last policy failed and was skipped (counted) */
	for (;;) {
		skipped = false;
		lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref[stage]);
		lua_pushinteger(L, start);
		moon_wd_enter(&b->wd);
		int rc = lua_pcall(L, 1, 1, MOON_BRIDGE_ERRFUNC);
		moon_wd_leave(&b->wd);
		count_calls(c, stage, start, b->R.pos_);
		if (rc == 0) {
			code = (int)lua_tointeger(L, -1);
			lua_settop(L, MOON_BRIDGE_ERRFUNC);
			break;
		}
		int action = policy_failed(b, stage, rc);
		if (stage == MOON_FFI_STAGE_LOG || action == MOON_ON_ERROR_CONTINUE) {
			if (stage != MOON_FFI_STAGE_LOG && b->R.policy_ >= 0 &&
			    (size_t)b->R.policy_ < b->npol)
				count(b, b->pol[b->R.policy_].ctr_verdicts[MOON_VERDICT_CONTINUE]);
			skipped = true;
			start = b->R.pos_ + 1;
			if (start > c->n[stage])
				break;
			continue;
		}
		code = action == MOON_ON_ERROR_DROP ? MOON_CODE_DROP :
		       action == MOON_ON_ERROR_REFUSE ? MOON_CODE_REFUSE : MOON_CODE_SERVFAIL;
		break;
	}
	/* The policy that returned a verdict (or failed into one), for r.policy. */
	if (code != MOON_CODE_CONTINUE && b->R.policy_ >= 0)
		q->answered_by = (uint16_t)(b->R.policy_ + 1);
	b->decider = skipped ? -1 : b->R.policy_;
	b->R.q_ = NULL;
	b->R.stage_ = -1;
	b->R.policy_ = -1;
	return code;
}

static enum moon_verdict hook_query(void *chain, struct moon_query *q)
{
	struct moon_bridge_chain *c = chain;
	int code = moon__bridge_run(c, q, MOON_FFI_STAGE_QUERY);
	return count_verdict(c->b, q, moon__bridge_install(c->b, q, code));
}

/* After q:rewrite, whatever answered (a zone, the cache, the forwarder)
 * answered the new question; the client gets its own question back, and
 * records owned by the new name as owned by its name, whatever form the
 * source wrote them in. */
static enum moon_verdict restore_question(struct moon_bridge *b, struct moon_query *q)
{
	moon_redit_reset(&b->edit, q->resp, q->resp_len);
	if (moon__bridge_rewrite(b, q) < 0)
		return moon__bridge_install(b, q, MOON_CODE_SERVFAIL);
	return MOON_VERDICT_CONTINUE;
}

/* Set for chains with response hooks, and with query hooks (which may
 * rewrite): without response hooks it only restores a rewritten question. */
static enum moon_verdict hook_response(void *chain, struct moon_query *q)
{
	struct moon_bridge_chain *c = chain;
	struct moon_bridge *b = c->b;
	if (c->n[MOON_FFI_STAGE_RESPONSE] == 0)
		return q->rewritten ? restore_question(b, q) : MOON_VERDICT_CONTINUE;
	int code = moon__bridge_run(c, q, MOON_FFI_STAGE_RESPONSE);
	if (code != MOON_CODE_CONTINUE)
		return count_verdict(b, q, moon__bridge_install(b, q, code));
	count_verdict(b, q, MOON_VERDICT_CONTINUE);
	if ((b->edit.dirty || q->rewritten) && moon__bridge_rewrite(b, q) < 0)
		return moon__bridge_install(b, q, MOON_CODE_SERVFAIL);
	return MOON_VERDICT_CONTINUE;
}

/* After the log hooks, a small step of the collector: its work then lands
 * after a reply was sent rather than inside the next query's hooks. */
static void hook_log(void *chain, const struct moon_query *q)
{
	struct moon_bridge_chain *c = chain;
	/* The hooks only read q; the context is typed for every stage. */
	moon__bridge_run(c, (struct moon_query *)q, MOON_FFI_STAGE_LOG);
	lua_gc(c->b->L, LUA_GCSTEP, 0);
}

/* Loads one policy: core.load(index, name, script, options, sandbox, jit)
 * returns a bit mask of the stages it defines (1 query, 2 response, 4 log).
 * Stack: [errfunc] before and after. */
static int load_policy(struct moon_bridge *b, int idx, struct moon_diag *diag)
{
	lua_State *L = b->L;
	const struct moon_bridge_policy *p = b->pol[idx].conf;
	lua_rawgeti(L, LUA_REGISTRYINDEX, b->ref_load);
	lua_pushinteger(L, idx);
	lua_pushstring(L, p->name);
	lua_pushstring(L, p->script);
	if (p->options)
		lua_pushstring(L, p->options);
	else
		lua_pushnil(L);
	lua_pushboolean(L, p->sandbox);
	lua_pushboolean(L, p->jit);
	b->budget_ms = b->lim.load_ms;
	b->R.policy_ = idx;
	moon_wd_enter(&b->wd);
	int rc = lua_pcall(L, 6, 1, MOON_BRIDGE_ERRFUNC);
	moon_wd_leave(&b->wd);
	b->R.policy_ = -1;
	if (rc == 0) {
		int mask = (int)lua_tointeger(L, -1);
		lua_settop(L, MOON_BRIDGE_ERRFUNC);
		return mask;
	}
	/* The first line: the message, without the traceback. */
	const char *msg = lua_tostring(L, -1);
	if (!msg)
		msg = "not enough memory";
	int len = (int)strcspn(msg, "\n");
	moon_diag_add(diag, NULL, 0, 0, "%s%spolicy %s: %.*s", p->where ? p->where : "",
		      p->where ? ": " : "", p->name, len, msg);
	lua_settop(L, MOON_BRIDGE_ERRFUNC);
	return rc == LUA_ERRMEM ? -ENOMEM : MOON_ESEMANTIC;
}

static int add_policies(struct moon_bridge *b, const char *block,
			const struct moon_bridge_policy *pols, size_t n)
{
	if (b->npol + n > MOON_BRIDGE_MAX_POLICIES)
		return MOON_ELIMIT;
	for (size_t i = 0; i < n; i++) {
		struct moon_bridge_pol *p = &b->pol[b->npol + i];
		memset(p, 0, sizeof(*p));
		p->conf = &pols[i];
		p->block = block;
		p->ctr_errors = moon_bridge_counter_id(MOON_CTR_ERRORS, NULL, block, pols[i].name);
		p->ctr_timeouts = moon_bridge_counter_id(MOON_CTR_TIMEOUTS, NULL, block,
							 pols[i].name);
		p->ctr_memory = moon_bridge_counter_id(MOON_CTR_MEMORY, NULL, block, pols[i].name);
		/* Calls and verdicts are extras: a full table only loses them. */
		for (int s = 0; s < 3; s++)
			p->ctr_calls[s] = moon_bridge_counter_id(MOON_CTR_CALLS, stage_names[s],
								 block, pols[i].name);
		for (int v = 0; v < MOON_BRIDGE_NVERDICTS; v++)
			p->ctr_verdicts[v] = moon_bridge_counter_id(MOON_CTR_VERDICTS,
								    verdict_names[v], block,
								    pols[i].name);
		if (p->ctr_errors < 0 || p->ctr_timeouts < 0 || p->ctr_memory < 0)
			return MOON_ELIMIT;
	}
	return 0;
}

/* core.chain(first, count) returns the dispatchers of the three stages (nil
 * for a stage no policy defines) and how many policies define each; the
 * dispatchers go to the registry. Stack: [errfunc] before and after. */
static int make_chain(struct moon_bridge *b, struct moon_bridge_chain *c, size_t first,
		      size_t n, struct moon_diag *diag)
{
	lua_State *L = b->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, b->ref_chain);
	lua_pushinteger(L, (lua_Integer)first);
	lua_pushinteger(L, (lua_Integer)n);
	if (lua_pcall(L, 2, 6, MOON_BRIDGE_ERRFUNC) != 0) {
		moon_diag_add(diag, NULL, 0, 0, "server %s: policies: %s", c->block,
			      lua_tostring(L, -1) ? lua_tostring(L, -1) : "not enough memory");
		lua_settop(L, MOON_BRIDGE_ERRFUNC);
		return -ENOMEM;
	}
	for (int s = 2; s >= 0; s--) {
		c->n[s] = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
	}
	for (int s = 2; s >= 0; s--)
		c->ref[s] = luaL_ref(L, LUA_REGISTRYINDEX);    /* nil gives LUA_REFNIL */
	lua_settop(L, MOON_BRIDGE_ERRFUNC);
	c->hooks.query = c->n[0] ? hook_query : NULL;
	c->hooks.response = c->n[0] || c->n[1] ? hook_response : NULL;
	c->hooks.log = c->n[2] ? hook_log : NULL;
	c->pub.hooks = &c->hooks;
	c->pub.chain = c;
	return 0;
}

static struct moon_bridge_chain *chain_new(struct moon_bridge *b, const char *block)
{
	void *p = realloc(b->chains, (b->nchains + 1) * sizeof(*b->chains));
	if (!p)
		return NULL;
	b->chains = p;
	struct moon_bridge_chain *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->block = strdup(block ? block : "");
	if (!c->block) {
		free(c);
		return NULL;
	}
	c->b = b;
	b->chains[b->nchains++] = c;
	return c;
}

int moon_bridge_chain(struct moon_bridge *b, const char *block,
		      const struct moon_bridge_policy *pols, size_t n,
		      const struct moon_policy **out, struct moon_diag *diag)
{
	*out = NULL;
	if (n == 0)
		return 0;
	struct moon_bridge_chain *c = chain_new(b, block);
	if (!c)
		return -ENOMEM;
	size_t first = b->npol;
	int ret = add_policies(b, c->block, pols, n);
	if (ret) {
		moon_diag_add(diag, NULL, 0, 0, "server %s: more than %d policies, or too many "
			      "counters", c->block, MOON_BRIDGE_MAX_POLICIES);
		return ret;
	}
	b->npol += n;
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		ret = load_policy(b, (int)(first + i), diag);
		if (ret < 0 && !err)
			err = ret;
		b->pol[first + i].stages = ret > 0 ? ret : 0;
	}
	if (err)
		return err;
	c->first = first;
	c->npol = n;
	ret = make_chain(b, c, first, n, diag);
	if (ret)
		return ret;
	*out = &c->pub;
	return 0;
}

static bool good_name(const char *name)
{
	if (!*name || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* Tries dir/name.lua for each directory of the colon-separated list. */
static bool search(const char *list, const char *sub, const char *name, char *out, size_t len)
{
	while (list && *list) {
		size_t n = strcspn(list, ":");
		if (n) {
			int w = snprintf(out, len, "%.*s%s/%s.lua", (int)n, list, sub, name);
			if (w > 0 && (size_t)w < len && access(out, R_OK) == 0)
				return true;
		}
		list += n + (list[n] == ':');
	}
	return false;
}

int moon_bridge_policy_path(const char *name, const char *dir, char *out, size_t outlen)
{
	if (!good_name(name))
		return -EINVAL;
	if (search(getenv("MOON_POLICY_PATH"), "", name, out, outlen))
		return 0;
	if (dir && (search(dir, "", name, out, outlen) ||
		    search(dir, "/policies", name, out, outlen)))
		return 0;
	if (search(moon__policy_dirs, "", name, out, outlen))
		return 0;
	return MOON_ENOTFOUND;
}
