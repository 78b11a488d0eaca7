/*
 * Unit tests for src/conf/schema_lua.c: the `policies` and `lua` keys of
 * the config, the `- NAME: OPTIONS` shorthand, and options turned into a
 * Lua table constructor that Lua reads back as the YAML said.
 */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "tap.h"

static char dir[] = "/tmp/moon-confpol-XXXXXX";

static struct moon_conf *load(const char *policies, struct moon_diag *diag)
{
	char yaml[4096];
	snprintf(yaml, sizeof(yaml),
		 "servers:\n"
		 "  - name: lab\n"
		 "    listen: [ \"dns://127.0.0.1:5353\" ]\n"
		 "    zones: [ lab.test. ]\n"
		 "    policies:\n%s", policies);
	char name[256];
	snprintf(name, sizeof(name), "%s/moondns.yaml", dir);
	struct moon_conf *conf = NULL;
	if (chdir(dir) != 0)
		return NULL;
	moon_conf_load_string(yaml, name, &conf, diag);
	return conf;
}

static void touch(const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	FILE *f = fopen(path, "w");
	fputs("return {}\n", f);
	fclose(f);
}

/* Evaluates an options constructor and returns the Lua state with the table
 * on top, or NULL. */
static lua_State *eval(const char *text)
{
	lua_State *L = luaL_newstate();
	char chunk[4096];
	snprintf(chunk, sizeof(chunk), "return %s", text ? text : "{}");
	if (luaL_loadstring(L, chunk) || lua_pcall(L, 0, 1, 0) || !lua_istable(L, -1)) {
		lua_close(L);
		return NULL;
	}
	return L;
}

static const char *field_str(lua_State *L, const char *key)
{
	static char buf[256];
	lua_getfield(L, -1, key);
	const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	snprintf(buf, sizeof(buf), "%s", s ? s : "(not a string)");
	lua_pop(L, 1);
	return buf;
}

static int field_type(lua_State *L, const char *key)
{
	lua_getfield(L, -1, key);
	int t = lua_type(L, -1);
	lua_pop(L, 1);
	return t;
}

static void test_shorthand(void)
{
	struct moon_diag diag = { 0 };
	setenv("MOON_POLICY_PATH", dir, 1);
	struct moon_conf *c = load(
		"      - tag: { a: 1, b: [ x, \"y\" ], c: true, d: null, e: \"1.5\", f: -2.5e1,\n"
		"               g: yes, h: 'it''s \"q\"', 8: eight, nested: { k: [ 1, { z: 2 } ] } }\n"
		"      - tag:\n", &diag);
	ok(c != NULL, "the shorthand loads");
	if (!c) {
		for (size_t i = 0; i < diag.n; i++)
			printf("# %s\n", diag.msgs[i]);
		moon_diag_free(&diag);
		return;
	}
	const struct moon_conf_server *s = &c->servers[0];
	is_int(s->n_policies, 2, "two policies");
	const struct moon_conf_policy *p = &s->policies[0];
	is_str(p->policy, "tag", "policy name");
	ok(p->script == NULL, "no script");
	char want[256];
	snprintf(want, sizeof(want), "%s/tag.lua", dir);
	is_str(p->path, want, "found through MOON_POLICY_PATH");
	is_str(p->name, "tag", "default name");
	is_str(p->on_error, "servfail", "default on_error");
	ok(p->sandbox && p->jit, "sandbox and jit by default");
	ok(p->where && strstr(p->where, "moondns.yaml:6"), "where: file and line");
	ok(s->policies[1].options == NULL, "`- NAME:` without options gives {}");

	lua_State *L = eval(p->options);
	ok(L != NULL, "the options read back as a Lua table");
	if (L) {
		lua_getfield(L, -1, "a");
		ok(lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) == 1, "a number");
		lua_pop(L, 1);
		lua_getfield(L, -1, "b");
		lua_rawgeti(L, -1, 2);
		is_str(lua_tostring(L, -1), "y", "a list");
		lua_pop(L, 2);
		is_int(field_type(L, "c"), LUA_TBOOLEAN, "true is a boolean");
		is_int(field_type(L, "d"), LUA_TNIL, "null is nil");
		is_str(field_str(L, "e"), "1.5", "a quoted number stays a string");
		lua_getfield(L, -1, "f");
		ok(lua_tonumber(L, -1) == -25, "exponent and sign");
		lua_pop(L, 1);
		is_str(field_str(L, "g"), "yes", "yes is text (YAML 1.2)");
		is_str(field_str(L, "h"), "it's \"q\"", "quotes survive");
		lua_rawgeti(L, -1, 8);
		is_str(lua_tostring(L, -1), "eight", "a numeric key is a number");
		lua_pop(L, 1);
		lua_getfield(L, -1, "nested");
		lua_getfield(L, -1, "k");
		lua_rawgeti(L, -1, 2);
		lua_getfield(L, -1, "z");
		ok(lua_tonumber(L, -1) == 2, "nesting");
		lua_close(L);
	}
	moon_conf_free(c);
	moon_diag_free(&diag);
}

static void test_long_form(void)
{
	struct moon_diag diag = { 0 };
	touch("mine.lua");
	struct moon_conf *c = load(
		"      - script: mine.lua\n"
		"        options: [ 1, 2 ]\n"
		"        on_error: continue\n"
		"        sandbox: false\n"
		"        jit: false\n"
		"      - policy: tag\n"
		"        name: tagger\n"
		"        on_error: drop\n", &diag);
	ok(c != NULL, "the long form loads");
	if (!c)
		return;
	const struct moon_conf_policy *p = &c->servers[0].policies[0];
	char want[256];
	snprintf(want, sizeof(want), "%s/mine.lua", dir);
	is_str(p->script, want, "script made absolute");
	is_str(p->path, want, "and loaded from there");
	is_str(p->name, "mine", "name from the file");
	is_str(p->on_error, "continue", "on_error");
	ok(!p->sandbox && !p->jit, "sandbox and jit off");
	is_str(p->options, "{1,2,}", "a list as options");
	is_str(c->servers[0].policies[1].name, "tagger", "an explicit name");
	ok(c->lua.memory == 64u << 20 && c->lua.time_budget_ms == 100 &&
	   c->lua.load_budget_ms == 5000 && c->lua.watchdog_ms == 1000, "lua defaults");
	moon_conf_free(c);
	moon_diag_free(&diag);
}

static void expect_error(const char *policies, const char *what, const char *text)
{
	struct moon_diag diag = { 0 };
	struct moon_conf *c = load(policies, &diag);
	bool found = false;
	for (size_t i = 0; i < diag.n; i++)
		found = found || strstr(diag.msgs[i], text);
	if (!ok(!c && found, what))
		for (size_t i = 0; i < diag.n; i++)
			printf("# %s\n", diag.msgs[i]);
	moon_conf_free(c);
	moon_diag_free(&diag);
}

static void test_errors(void)
{
	expect_error("      - policy: tag\n        script: mine.lua\n", "policy and script",
		     "either `policy`");
	expect_error("      - options: {}\n", "neither policy nor script", "either `policy`");
	expect_error("      - nosuch: {}\n", "an unknown policy name", "no policy named 'nosuch'");
	expect_error("      - policy: ../etc\n", "a name with a slash", "bad policy name");
	expect_error("      - script: missing.lua\n", "a missing script", "cannot read");
	expect_error("      - tag: { [a]: 1 }\n", "a list as a key", "keys of options");
	expect_error("      - policy: tag\n        on_error: explode\n", "a bad on_error",
		     "expected one of");
	expect_error("      - tag: {}\n        extra: 1\n", "shorthand with more keys",
		     "unknown key");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	touch("tag.lua");
	test_shorthand();
	test_long_form();
	test_errors();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
	return tap_done();
}
