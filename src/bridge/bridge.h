/*
 * The Lua bridge: the implementation of query/query.h's hook table for
 * policies written in Lua (doc/lua-api.md is the operators' contract).
 *
 * One moon_bridge is one lua_State. The server makes one per worker thread
 * for each config generation (gen.c): it is built on the control thread
 * (policies loaded, constructors run, every stage resolved to a registry
 * ref), then used only by its worker, and freed with the generation. No Lua
 * state is ever shared between threads; what policies share across workers
 * (moon.shared dictionaries, counters) lives in C (shared.h, counters.h).
 *
 * Per query, C calls Lua once per stage that some policy of the block
 * defines: the stage's dispatcher (a Lua closure over the block's hooks, in
 * config order) is fetched from the registry and run with one lua_pcall
 * under a traceback handler; the query travels as a pointer in the
 * per-state request context (ffi_api.h), never as a full userdata. Stages
 * no policy defines have a NULL hook and cost nothing.
 *
 * Failure containment (what is and is not guaranteed: doc/lua-api.md,
 * "Limits"): any Lua error, bad return value, time-budget or memory-cap
 * error is caught by the pcall, counted for the policy, logged rate-limited
 * with file:line and traceback, and the query gets the policy's on_error
 * action. The time budget is enforced by a count hook, which stock LuaJIT
 * does not run inside JIT-compiled traces; a watchdog thread (watchdog.h)
 * reports a worker stuck in Lua regardless. Memory is capped per state by
 * the allocator (alloc.h).
 */
#ifndef MOON_BRIDGE_BRIDGE_H
#define MOON_BRIDGE_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query/query.h"
#include "util/diag.h"

struct moon_bridge;

/* What a policy's failure does to the query (the `on_error` key). */
enum moon_bridge_on_error {
	MOON_ON_ERROR_SERVFAIL = 0,
	MOON_ON_ERROR_REFUSE,
	MOON_ON_ERROR_DROP,
	MOON_ON_ERROR_CONTINUE,         /* skip the failed policy, go on with the next */
};

/* One entry of a server block's `policies` list. The strings are borrowed:
 * they must outlive the bridge (the config generation owns them). */
struct moon_bridge_policy {
	const char *name;               /* in logs and metrics: the shorthand name or file name */
	const char *script;             /* path of the Lua file */
	const char *options;            /* a Lua table constructor ("{ a = 1 }"); NULL = {} */
	enum moon_bridge_on_error on_error;
	bool sandbox;                   /* false: full standard library (os, io, ffi, ...) */
	bool jit;                       /* false: run interpreted, so the time budget always applies */
	const char *where;              /* "file:line" of the entry in the config, or NULL */
};

/* Defaults of the limits (0 in moon_bridge_limits selects them). */
#define MOON_BRIDGE_MEMORY (64u << 20)
#define MOON_BRIDGE_HOOK_MS 100
#define MOON_BRIDGE_LOAD_MS 5000
#define MOON_BRIDGE_STUCK_MS 1000

struct moon_bridge_limits {
	size_t memory;                  /* bytes per Lua state */
	uint32_t hook_ms;               /* run time of one stage call */
	uint32_t load_ms;               /* run time of loading and constructing one policy */
	uint32_t stuck_ms;              /* the watchdog reports a state busy this long */
};

/*
 * Creates the Lua state of worker `worker` (which selects its counter
 * slots): the moon library, the FFI check, the count hook and the
 * watchdog registration. lim may be NULL (defaults). Returns 0 or a
 * negative error with diag saying why.
 */
int moon_bridge_new(unsigned worker, const struct moon_bridge_limits *lim,
		    struct moon_bridge **out, struct moon_diag *diag);

/*
 * Loads the policies of server block `block` into b, in order: each file
 * is compiled in its own environment, run, and its constructor called with
 * its options. *out is the block's policy chain for the hook table (NULL
 * when n == 0); it lives as long as b. Every failure (missing file, syntax
 * error, a constructor that raises, a bad hook table) adds one line to diag
 * naming the config entry and the Lua file:line, and makes the call fail.
 * Control thread, before the state is handed to its worker.
 */
int moon_bridge_chain(struct moon_bridge *b, const char *block,
		      const struct moon_bridge_policy *pols, size_t n,
		      const struct moon_policy **out, struct moon_diag *diag);

/* Closes the state (any thread, once nothing runs in it). NULL is a no-op. */
void moon_bridge_free(struct moon_bridge *b);

/* Bytes the state's allocator holds now. */
size_t moon_bridge_memory(const struct moon_bridge *b);

/*
 * Finds the file of a shorthand policy name ("firewall" ->
 * ".../policies/firewall.lua"): in $MOON_POLICY_PATH (colon-separated
 * directories), then `dir` (the config file's directory, may be NULL) and
 * its policies/ subdirectory, then the installed and the source tree's
 * policies/ directories. Names are [A-Za-z0-9_-]+. Returns 0 with the path
 * in out, -EINVAL for a bad name, MOON_ENOTFOUND.
 */
int moon_bridge_policy_path(const char *name, const char *dir, char *out, size_t outlen);

#endif
