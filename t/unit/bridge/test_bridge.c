/*
 * Unit tests for src/bridge/bridge.c: loading policies, the stage calls,
 * and containment of failures (errors, bad return values, time budget,
 * memory cap, sandbox). Policies are written to a temporary directory and
 * run through the harness (harness.c), which drives the same hooks as the
 * pipeline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/bridge.h"
#include "bridge/counters.h"
#include "bridge/ffi_api.h"
#include "tap.h"
#include "util/err.h"
#include "util/log.h"
#include "util/time.h"
#include "wire/dns.h"

static char dir[] = "/tmp/moon-bridge-XXXXXX";

static const char *policy(const char *name, const char *text)
{
	static char path[8][256];
	static int n;
	char *p = path[n++ % 8];
	snprintf(p, sizeof(path[0]), "%s/%s.lua", dir, name);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	return p;
}

/* A harness with one policy; NULL when it does not build (error in h). */
static struct moon_harness *one(const char *file, const char *opts, int on_error, bool jit,
				int *build)
{
	struct moon_harness *h = moon_ffi_t_new();
	moon_ffi_t_limits(h, 8 << 20, 50);
	moon_ffi_t_add(h, file, NULL, opts, on_error, true, jit);
	*build = moon_ffi_t_build(h);
	return h;
}

static const struct moon_ffi_tresult *ask(struct moon_harness *h, const char *name, int type)
{
	struct moon_ffi_tquery d = {
		.name = name, .type = type, .id = 7, .rd = true, .edns = true, .bufsize = 1232,
		.answer = "@ 300 IN A 192.0.2.1\n@ 300 IN A 192.0.2.2", .source = -1,
	};
	if (moon_ffi_t_run(h, &d) != 0)
		return NULL;
	return moon_ffi_t_result(h);
}

static void test_noop(void)
{
	int b;
	struct moon_harness *h = one(policy("noop",
		"return function(opts) return { query = function(q) end,"
		" response = function(q, r) end } end"), NULL, 0, true, &b);
	is_int(b, 0, "a no-op policy loads");
	const struct moon_ffi_tresult *r = ask(h, "www.example.com", MOON_T_A);
	ok(r, "query runs");
	is_int(r->verdict[0], MOON_FFI_CONTINUE, "query stage continues");
	is_int(r->verdict[1], MOON_FFI_CONTINUE, "response stage continues");
	is_int(r->verdict[2], -1, "no log hook, no log stage");
	is_int(r->rcode, MOON_RCODE_NOERROR, "answer passes");
	is_int(moon_ffi_t_rr_count(h), 2, "both records");
	is_int(r->errors, 0, "no error");
	moon_ffi_t_free(h);
}

static void test_load_errors(void)
{
	int b;
	struct moon_harness *h = one(policy("syntax", "return function(opts)\n  x = = 1\nend\n"),
				     NULL, 0, true, &b);
	ok(b < 0, "a syntax error fails the build");
	const char *e = moon_ffi_t_error(h, 0);
	ok(e && strstr(e, "syntax.lua:2:"), "the error names file:line");
	moon_ffi_t_free(h);

	h = one(policy("ctor", "return function(opts)\n  if not opts.secret then\n"
		"    error('option secret is required')\n  end\n  return {}\nend\n"),
		NULL, 0, true, &b);
	ok(b < 0, "a constructor that raises fails the build");
	e = moon_ffi_t_error(h, 0);
	ok(e && strstr(e, "ctor.lua:3: option secret is required"), "with its message and line");
	moon_ffi_t_free(h);

	h = one(policy("ctor", "return function(opts)\n  if not opts.secret then\n"
		"    error('option secret is required')\n  end\n  return {}\nend\n"),
		"{ secret = 's3cret' }", 0, true, &b);
	is_int(b, 0, "with the option it loads");
	moon_ffi_t_free(h);

	h = one(policy("badhook", "return { query = 5 }"), NULL, 0, true, &b);
	ok(b < 0 && strstr(moon_ffi_t_error(h, 0), "hook 'query'"), "a hook that is not a function");
	moon_ffi_t_free(h);

	h = one(policy("typo", "return { respones = function() end }"), NULL, 0, true, &b);
	ok(b < 0 && strstr(moon_ffi_t_error(h, 0), "unknown hook 'respones'"),
	   "a misspelt hook is an error");
	moon_ffi_t_free(h);

	h = one("/nonexistent/x.lua", NULL, 0, true, &b);
	ok(b < 0 && strstr(moon_ffi_t_error(h, 0), "/nonexistent/x.lua"), "a missing file");
	moon_ffi_t_free(h);

	h = one(policy("number", "return 42"), NULL, 0, true, &b);
	ok(b < 0 && strstr(moon_ffi_t_error(h, 0), "constructor"), "a file returning a number");
	moon_ffi_t_free(h);
}

static void test_errors(void)
{
	const char *boom = policy("boom", "local n = 0\nreturn { query = function(q)\n"
		"  n = n + 1\n  if q.name == 'fail.example.' then\n    error('boom')\n  end\nend }\n");
	static const struct { int action; int verdict; int rcode; bool dropped; const char *what; }
	cases[] = {
		{ MOON_ON_ERROR_SERVFAIL, MOON_FFI_ANSWER, MOON_RCODE_SERVFAIL, false, "servfail" },
		{ MOON_ON_ERROR_REFUSE, MOON_FFI_ANSWER, MOON_RCODE_REFUSED, false, "refuse" },
		{ MOON_ON_ERROR_DROP, MOON_FFI_DROP, 0, true, "drop" },
		{ MOON_ON_ERROR_CONTINUE, MOON_FFI_CONTINUE, MOON_RCODE_NOERROR, false, "continue" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[128];
		int b;
		struct moon_harness *h = one(boom, NULL, cases[i].action, true, &b);
		const struct moon_ffi_tresult *r = ask(h, "fail.example", MOON_T_A);
		snprintf(what, sizeof(what), "on_error %s: verdict", cases[i].what);
		is_int(r->verdict[0], cases[i].verdict, what);
		snprintf(what, sizeof(what), "on_error %s: reply", cases[i].what);
		ok(r->dropped == cases[i].dropped && (r->dropped || r->rcode == cases[i].rcode), what);
		snprintf(what, sizeof(what), "on_error %s: counted", cases[i].what);
		is_int(r->errors, 1, what);
		const char *e = moon_ffi_t_error(h, 0);
		snprintf(what, sizeof(what), "on_error %s: file:line and traceback", cases[i].what);
		ok(e && strstr(e, "boom.lua:5: boom") && strstr(e, "stack traceback"), what);
		r = ask(h, "ok.example", MOON_T_A);
		snprintf(what, sizeof(what), "on_error %s: the next query is fine", cases[i].what);
		ok(r->errors == 0 && r->rcode == MOON_RCODE_NOERROR, what);
		moon_ffi_t_free(h);
	}
}

static void test_continue_chain(void)
{
	/* on_error continue skips the failed policy only: the next one runs. */
	struct moon_harness *h = moon_ffi_t_new();
	moon_ffi_t_add(h, policy("first", "return { query = function(q) error('x') end }"),
		       NULL, NULL, MOON_ON_ERROR_CONTINUE, true, true);
	moon_ffi_t_add(h, policy("second", "return { query = function(q) return q:refuse() end }"),
		       NULL, NULL, MOON_ON_ERROR_SERVFAIL, true, true);
	is_int(moon_ffi_t_build(h), 0, "two policies");
	const struct moon_ffi_tresult *r = ask(h, "a.example", MOON_T_A);
	ok(r->errors == 1 && r->rcode == MOON_RCODE_REFUSED, "second policy ran after the first failed");
	is_int(r->ede, 15, "a refusal carries EDE 15 (Blocked)");
	moon_ffi_t_free(h);
}

static void test_bad_returns(void)
{
	static const char *const bad[] = {
		"return { query = function(q) return true end }",
		"return { query = function(q) return 'refuse' end }",
		"return { query = function(q) return {} end }",
		"return { response = function(q, r) return 1 end }",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int b;
		struct moon_harness *h = one(policy("badret", bad[i]), NULL, 0, true, &b);
		const struct moon_ffi_tresult *r = ask(h, "a.example", MOON_T_A);
		char what[64];
		snprintf(what, sizeof(what), "bad return value %zu is a contained error", i);
		ok(r && r->errors == 1 && r->rcode == MOON_RCODE_SERVFAIL, what);
		ok(strstr(moon_ffi_t_error(h, 0), "returned"), "and says so");
		moon_ffi_t_free(h);
	}
	/* A verdict kept from another call is not a reply of this one. */
	int b;
	struct moon_harness *h = one(policy("stale", "local v\nreturn { query = function(q)\n"
		"  if not v then v = q:refuse() return nil end\n  return v\nend }"),
		NULL, 0, true, &b);
	ask(h, "a.example", MOON_T_A);
	const struct moon_ffi_tresult *r = ask(h, "a.example", MOON_T_A);
	ok(r->errors == 1 && strstr(moon_ffi_t_error(h, 0), "another call"),
	   "a verdict from an earlier call is refused");
	moon_ffi_t_free(h);
}

static void test_time_budget(void)
{
	/* Interpreted (jit: false): the count hook stops the loop. */
	int b;
	const char *loop = policy("loop", "return { query = function(q)\n"
		"  if q.name == 'spin.example.' then while true do end end\nend }");
	struct moon_harness *h = one(loop, NULL, MOON_ON_ERROR_SERVFAIL, false, &b);
	is_int(b, 0, "the loop policy loads");
	int64_t t0 = moon_now_ms();
	const struct moon_ffi_tresult *r = ask(h, "spin.example", MOON_T_A);
	int64_t took = moon_now_ms() - t0;
	ok(r && r->errors == 1 && r->rcode == MOON_RCODE_SERVFAIL,
	   "while true do end is stopped and the query gets on_error");
	ok(strstr(moon_ffi_t_error(h, 0), "time budget of 50 ms exceeded"), "the error says why");
	ok(took >= 50 && took < 2000, "after about the budget");
	r = ask(h, "ok.example", MOON_T_A);
	ok(r->errors == 0 && r->rcode == MOON_RCODE_NOERROR, "the state still answers");
	moon_ffi_t_free(h);

	/* A policy that catches the budget error with pcall cannot go on. */
	h = one(policy("catch", "return { query = function(q)\n"
		"  while true do pcall(function() while true do end end) end\nend }"),
		NULL, MOON_ON_ERROR_REFUSE, false, &b);
	r = ask(h, "a.example", MOON_T_A);
	ok(r && r->errors == 1 && r->rcode == MOON_RCODE_REFUSED, "pcall cannot swallow the budget");
	moon_ffi_t_free(h);

	/* An endless constructor fails the load instead of hanging it. The
	 * harness uses the default load budget: make it short. */
	struct moon_bridge *br;
	struct moon_diag diag = { 0 };
	struct moon_bridge_limits lim = { .load_ms = 100 };
	is_int(moon_bridge_new(0, &lim, &br, &diag), 0, "a bridge");
	struct moon_bridge_policy p = {
		.name = "hang", .script = policy("hang", "jit.off()\nwhile true do end"),
		.sandbox = false, .jit = false,
	};
	const struct moon_policy *chain;
	ok(moon_bridge_chain(br, "b", &p, 1, &chain, &diag) < 0, "an endless load fails");
	ok(diag.n && strstr(diag.msgs[0], "time budget"), "within the load budget");
	moon_bridge_free(br);
	moon_diag_free(&diag);
}

static void test_memory_cap(void)
{
	int b;
	struct moon_harness *h = one(policy("hog", "local keep = {}\nreturn { query = function(q)\n"
		"  if q.name == 'hog.example.' then\n"
		"    for i = 1, 1e9 do keep[i] = string.rep('x', 1000) .. i end\n  end\nend }"),
		NULL, MOON_ON_ERROR_SERVFAIL, true, &b);
	is_int(b, 0, "the hog loads");
	const struct moon_ffi_tresult *r = ask(h, "hog.example", MOON_T_A);
	ok(r && r->errors == 1 && r->rcode == MOON_RCODE_SERVFAIL, "the memory cap stops it");
	ok(strstr(moon_ffi_t_error(h, 0), "memory limit"), "the error says why");
	ok(moon_ffi_t_memory(h) <= 8 << 20, "the state stayed under its cap");
	r = ask(h, "ok.example", MOON_T_A);
	ok(r->errors == 0 || r->rcode == MOON_RCODE_SERVFAIL, "the server goes on");
	moon_ffi_t_free(h);
}

static void test_sandbox(void)
{
	int b;
	struct moon_harness *h = one(policy("sandbox", "return { query = function(q)\n"
		"  q.meta.os_execute = tostring(os.execute)\n"
		"  q.meta.io = tostring(io)\n"
		"  q.meta.popen = tostring(io and io.popen)\n"
		"  q.meta.ffi = tostring(ffi)\n"
		"  q.meta.debug = tostring(debug)\n"
		"  q.meta.require = tostring(pcall(require, 'ffi'))\n"
		"  q.meta.time = type(os.time())\n"
		"  q.meta.dump = tostring(string.dump)\n"
		"  q.meta.getfenv = tostring(getfenv)\n"
		"  q.meta.bytecode = tostring(load('\\27LJ', 'x'))\n"
		"end }"), NULL, 0, true, &b);
	ask(h, "a.example", MOON_T_A);
	static const char *const want[][2] = {
		{ "os_execute", "nil" }, { "io", "nil" }, { "popen", "nil" }, { "ffi", "nil" },
		{ "debug", "nil" }, { "require", "false" }, { "time", "number" }, { "dump", "nil" },
		{ "getfenv", "nil" }, { "bytecode", "nil" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *got = "(absent)";
		size_t len;
		for (int k = 0; k < moon_ffi_t_meta_count(h); k++) {
			const char *key = moon_ffi_t_meta(h, k, false, &len);
			if (len == strlen(want[i][0]) && memcmp(key, want[i][0], len) == 0) {
				static char v[64];
				const char *val = moon_ffi_t_meta(h, k, true, &len);
				snprintf(v, sizeof(v), "%.*s", (int)len, val);
				got = v;
			}
		}
		char what[64];
		snprintf(what, sizeof(what), "sandbox: %s", want[i][0]);
		is_str(got, want[i][1], what);
	}
	moon_ffi_t_free(h);

	/* Opting out gives the full library. */
	h = moon_ffi_t_new();
	moon_ffi_t_add(h, policy("unsafe", "return { query = function(q)\n"
		"  q.meta.popen = type(io.popen)\n  q.meta.exec = type(os.execute)\nend }"),
		NULL, NULL, 0, false, true);
	moon_ffi_t_build(h);
	ask(h, "a.example", MOON_T_A);
	size_t len;
	const char *v = moon_ffi_t_meta(h, 0, true, &len);
	ok(v && len == 8 && memcmp(v, "function", 8) == 0, "sandbox: false has io.popen");
	moon_ffi_t_free(h);
}

static void test_stage_rules(void)
{
	/* The log stage is read-only, and its errors are counted only. */
	int b;
	struct moon_harness *h = one(policy("logrw", "return { log = function(q, r)\n"
		"  q.meta.x = '1'\nend }"), NULL, MOON_ON_ERROR_DROP, true, &b);
	const struct moon_ffi_tresult *r = ask(h, "a.example", MOON_T_A);
	ok(r->errors == 1 && !r->dropped && r->rcode == MOON_RCODE_NOERROR,
	   "a log hook cannot write, and its error does not change the reply");
	const char *e = moon_ffi_t_error(h, 0);
	if (!ok(e && strstr(e, "not allowed in this stage"), "with a clear message"))
		printf("# %s\n", e ? e : "(none)");
	moon_ffi_t_free(h);

	/* q kept past its hook is refused. */
	h = one(policy("keep", "local saved\nreturn { query = function(q)\n"
		"  if saved then return saved:refuse() end\n"
		"  saved = q\nend, log = function(q) end }"), NULL, 0, true, &b);
	ask(h, "a.example", MOON_T_A);
	r = ask(h, "a.example", MOON_T_A);
	is_int(r->rcode, MOON_RCODE_REFUSED, "the one q object serves the current query");
	moon_ffi_t_free(h);
}

static void test_counters(void)
{
	int b;
	struct moon_harness *h = one(policy("count", "local c = moon.counter('seen')\n"
		"return { query = function(q) c:inc() end }"), NULL, 0, true, &b);
	ask(h, "a.example", MOON_T_A);
	ask(h, "b.example", MOON_T_A);
	ok(moon_ffi_t_counter(h, "seen") == 2, "a custom counter counts");
	moon_ffi_t_free(h);
}

int main(void)
{
	moon_log_set_level(MOON_LOG_ERR + 0);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_noop();
	test_load_errors();
	test_errors();
	test_continue_chain();
	test_bad_returns();
	test_time_budget();
	test_memory_cap();
	test_sandbox();
	test_stage_rules();
	test_counters();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
	return tap_done();
}
