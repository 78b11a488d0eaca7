/*
 * Internals shared by the files of src/bridge: the state behind a
 * moon_bridge and the helpers the FFI functions use. Not for other
 * subsystems (they use bridge.h).
 */
#ifndef MOON_BRIDGE_INTERNAL_H
#define MOON_BRIDGE_INTERNAL_H

#include <lua.h>
#include <stddef.h>

#include "bridge/alloc.h"
#include "bridge/bridge.h"
#include "bridge/ffi_api.h"
#include "bridge/resp.h"
#include "bridge/rrtext.h"
#include "bridge/watchdog.h"
#include "util/log.h"
#include "wire/pkt.h"

/* Policies in one state (all blocks together). */
#define MOON_BRIDGE_MAX_POLICIES 512

/* enum moon_verdict's values (query/query.h), for the verdict counters. */
#define MOON_BRIDGE_NVERDICTS 6

/* Stack slot 1 of every bridge state holds the traceback handler. */
#define MOON_BRIDGE_ERRFUNC 1

/* What a stage call ended with (the dispatcher's enum moon_ffi_code, or
 * a failure action). */
enum moon_bridge_code {
	MOON_CODE_CONTINUE = MOON_FFI_CONTINUE,
	MOON_CODE_ANSWER = MOON_FFI_ANSWER,
	MOON_CODE_DROP = MOON_FFI_DROP,
	MOON_CODE_SERVFAIL,
	MOON_CODE_REFUSE,
};

struct moon_bridge_pol {
	const struct moon_bridge_policy *conf;
	const char *block;
	int ctr_errors, ctr_timeouts, ctr_memory;
	/* Calls by stage, decisions by enum moon_verdict; -1: not counted
	 * (the counter table is full). */
	int ctr_calls[3], ctr_verdicts[MOON_BRIDGE_NVERDICTS];
	int stages;                     /* the hooks it defines: bit s = stage s */
	struct moon_log_limit errlog;   /* hook failures */
	int64_t log_window;             /* moon.log: start of the current second */
	uint32_t log_lines, log_dropped;
};

struct moon_bridge_chain {
	struct moon_policy pub;         /* what the block's hook table points at */
	struct moon_hooks hooks;
	struct moon_bridge *b;
	char *block;
	int ref[3];                     /* dispatcher of each stage, LUA_NOREF if none */
	int n[3];                       /* policies defining each stage */
	size_t first, npol;             /* its policies: b->pol[first .. first + npol - 1] */
};

/* Called with each policy failure (the test harness collects them). */
typedef void (*moon_bridge_error_fn)(void *arg, const char *policy, const char *msg);

struct moon_bridge {
	struct moon_lalloc alloc;       /* first: the count hook finds the bridge from it */
	lua_State *L;
	struct moon_ffi_req R;
	unsigned worker;
	struct moon_bridge_limits lim;
	int ref_load, ref_chain;        /* core.load and core.chain */

	struct moon_bridge_pol *pol;    /* MOON_BRIDGE_MAX_POLICIES */
	size_t npol;
	struct moon_bridge_chain **chains;
	size_t nchains;
	const char *block;              /* of the chain running now */

	/* Run-time budget. */
	struct moon_wd_slot wd;
	uint32_t budget_ms;             /* of the call running now */
	uint32_t hook_seen;             /* wd.enter when the hook last started a clock */
	int64_t hook_t0;
	bool hook_tight;                /* budget exceeded: the hook fires on every instruction */
	bool timed_out;                 /* the error being handled is a time-budget error */
	uint64_t *counters;             /* this worker's counter slots */
	int decider;                    /* policy of the last run's verdict, or -1 */

	/* The reply a policy builds (q:reply, verdicts), swapped in on return. */
	uint8_t *reply;
	struct moon_pktw rw;
	bool rw_open;
	uint32_t reply_len;
	uint16_t reply_rcode;
	int rw_section;

	struct moon_redit edit;         /* r */
	struct moon_rrtext *rt;         /* text records */

	moon_bridge_error_fn on_error;
	void *on_error_arg;

	uint8_t buf[MOON_FFI_BUF];      /* R.buf_ */
};

static inline struct moon_bridge *moon__bridge_of(struct moon_ffi_req *r)
{
	return (struct moon_bridge *)((char *)r - offsetof(struct moon_bridge, R));
}

/* Runs stage `stage` of chain c for q; the result is a moon_bridge_code. */
int moon__bridge_run(struct moon_bridge_chain *c, struct moon_query *q, int stage);
/* Puts the finished reply scratch (or an error reply for the failure
 * codes) into q->resp; returns the verdict for the pipeline. */
enum moon_verdict moon__bridge_install(struct moon_bridge *b, struct moon_query *q, int code);
/* Writes the edited response anew into q->resp (with the client's
 * question; after a rewrite, owners equal to the new name point at it). */
int moon__bridge_rewrite(struct moon_bridge *b, struct moon_query *q);
/* Starts a reply in the scratch (used by moon_ffi_reply_begin and for
 * error replies). */
void moon__bridge_reply_begin(struct moon_bridge *b, struct moon_query *q, int rcode);
/* Adds an EDE option to w (when it has an OPT record), trimming text to
 * what fits. */
void moon__bridge_put_ede(struct moon_pktw *w, int code, const char *text, size_t len);

#endif
