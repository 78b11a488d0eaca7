/*
 * The keys of the Lua policy layer (src/bridge, doc/lua-api.md):
 * servers[].policies and the top-level `lua` limits. A policy's options are
 * any YAML value (MOON_CONF_ANY); they are kept as the text of a Lua table
 * constructor, which every worker's Lua state evaluates, in an empty
 * environment, into the table its constructor receives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/bridge.h"
#include "conf/schema.h"
#include "conf/value.h"
#include "util/err.h"

#define P(member) \
	.off = offsetof(struct moon_conf_policy, member), \
	.size = sizeof(((struct moon_conf_policy *)0)->member)
#define L(member) \
	.off = offsetof(struct moon_conf_lua, member), \
	.size = sizeof(((struct moon_conf_lua *)0)->member)

static const char *const on_error_values[] = { "servfail", "refuse", "drop", "continue", NULL };

/* `policy` and `options` come first: MOON_CONF_NAMED reads `- NAME: VALUE`
 * as { policy: NAME, options: VALUE }. */
static const struct moon_conf_item policy_keys[] = {
	{ .name = "policy", .type = MOON_CONF_STR, .flags = MOON_CONF_RELOAD, P(policy), .max = 64,
	  .doc = "A policy by name: the file NAME.lua in `$MOON_POLICY_PATH`, the config "
		 "file's directory or its `policies/` subdirectory, or the policies installed "
		 "with moondns. `- NAME: OPTIONS` is short for `{ policy: NAME, options: "
		 "OPTIONS }`. Exactly one of `policy` and `script` is required." },
	{ .name = "options", .type = MOON_CONF_ANY, .flags = MOON_CONF_RELOAD, P(options),
	  .def_doc = "{}",
	  .doc = "The policy's options, any value: the policy's constructor receives it as a "
		 "Lua table (maps with string keys, lists as arrays, booleans, numbers)." },
	{ .name = "script", .type = MOON_CONF_PATH, .flags = MOON_CONF_RELOAD, P(script),
	  .doc = "A policy file; a relative path is relative to the config file's directory." },
	{ .name = "name", .type = MOON_CONF_STR, .flags = MOON_CONF_RELOAD, P(name), .max = 64,
	  .def_doc = "the policy's name, or the file name without `.lua`",
	  .doc = "How logs and metrics call this policy." },
	{ .name = "on_error", .type = MOON_CONF_ENUM, .flags = MOON_CONF_RELOAD, P(on_error),
	  .values = on_error_values, .def = "servfail",
	  .doc = "What a query gets when a hook of the policy fails (a Lua error, a bad "
		 "return value, the time budget or the memory cap): SERVFAIL, REFUSED, no "
		 "reply, or `continue` with the next policy." },
	{ .name = "sandbox", .type = MOON_CONF_BOOL, .flags = MOON_CONF_RELOAD, P(sandbox),
	  .def = "true",
	  .doc = "Run the policy with the restricted library of doc/lua-api.md (no "
		 "`os.execute`, `io`, `ffi`, ...); `false` gives it the whole library." },
	{ .name = "jit", .type = MOON_CONF_BOOL, .flags = MOON_CONF_RELOAD, P(jit), .def = "true",
	  .doc = "Let LuaJIT compile the policy. `false` runs it interpreted, slower, but then "
		 "`lua.time_budget` always stops it (compiled loops ignore it)." },
	{ .name = "path", .type = MOON_CONF_PATH, .flags = MOON_CONF_INTERNAL, P(path) },
	{ .name = "where", .type = MOON_CONF_STR, .flags = MOON_CONF_INTERNAL, P(where) },
	{ .name = NULL },
};

static void check_policy(struct moon_conf_walk *w, const struct moon_ynode *map,
			 const struct moon_ynode *at, void *base);

const struct moon_conf_item moon__conf_policy_elem = {
	.type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD | MOON_CONF_NAMED,
	.size = sizeof(struct moon_conf_policy), .children = policy_keys, .check = check_policy,
};

const struct moon_conf_item moon__conf_lua_keys[] = {
	{ .name = "memory", .type = MOON_CONF_SIZE, .flags = MOON_CONF_RELOAD, L(memory),
	  .min = 1 << 20, .max = (int64_t)1 << 40, .def = "64M",
	  .doc = "Memory cap of each Lua state (one per worker): past it the allocation "
		 "fails and so does the policy's hook." },
	{ .name = "time_budget", .type = MOON_CONF_DURATION, .flags = MOON_CONF_RELOAD,
	  L(time_budget_ms), .unit_ms = 1, .min = 1, .max = 600000, .def = "100ms",
	  .doc = "Run time of one stage call of a block's policies; interpreted Lua code is "
		 "stopped past it, compiled loops are not (doc/lua-api.md)." },
	{ .name = "load_budget", .type = MOON_CONF_DURATION, .flags = MOON_CONF_RELOAD,
	  L(load_budget_ms), .unit_ms = 1, .min = 10, .max = 600000, .def = "5s",
	  .doc = "Run time of loading and constructing one policy." },
	{ .name = "watchdog", .type = MOON_CONF_DURATION, .flags = MOON_CONF_RELOAD,
	  L(watchdog_ms), .unit_ms = 1, .min = 100, .max = 3600000, .def = "1s",
	  .doc = "A worker busy in one Lua call this long is reported in the log." },
	{ .name = NULL },
};

static char *where_of(const struct moon_conf_walk *w, const struct moon_ynode *at)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s:%u", w->file ? w->file : "config", at ? at->line : 0);
	return strdup(buf);
}

static char *default_name(const char *policy, const char *script)
{
	if (policy)
		return strdup(policy);
	const char *base = strrchr(script, '/');
	base = base ? base + 1 : script;
	size_t len = strlen(base);
	if (len > 4 && !strcmp(base + len - 4, ".lua"))
		len -= 4;
	return strndup(base, len);
}

static void check_policy(struct moon_conf_walk *w, const struct moon_ynode *map,
			 const struct moon_ynode *at, void *base)
{
	struct moon_conf_policy *p = base;
	if (!p->policy == !p->script) {
		moon__conf_error(w, at, "give either `policy` (a name) or `script` (a file)");
		return;
	}
	p->where = where_of(w, at);
	if (!p->name)
		p->name = default_name(p->policy, p->script);
	if (!p->where || !p->name) {
		moon__conf_error(w, at, "out of memory");
		return;
	}
	if (p->script) {
		if (access(p->script, R_OK) != 0)
			moon__conf_error(w, at, "cannot read %s", p->script);
		p->path = strdup(p->script);
		return;
	}
	char path[4096];
	int ret = moon_bridge_policy_path(p->policy, w->basedir, path, sizeof(path));
	if (ret == -EINVAL)
		moon__conf_error(w, at, "bad policy name '%s' (letters, digits, - and _)", p->policy);
	else if (ret)
		moon__conf_error(w, at, "no policy named '%s' (looked in $MOON_POLICY_PATH, %s, "
				 "%s/policies and the installed policies)", p->policy,
				 w->basedir ? w->basedir : ".", w->basedir ? w->basedir : ".");
	else
		p->path = strdup(path);
}

/* YAML -> Lua table constructor ------------------------------------------ */

struct lbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct lbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void put_str(struct lbuf *b, const char *s)
{
	put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(b, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			put(b, esc, (size_t)snprintf(esc, sizeof(esc), "\\%03u", c));
		} else {
			put(b, (const char *)&c, 1);
		}
	}
	put(b, "\"", 1);
}

/* A plain decimal numeral, as YAML and Lua both read it. */
static bool numeral(const char *s)
{
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	bool digits = false;
	while (*p >= '0' && *p <= '9')
		p++, digits = true;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits = true;
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == 0;
}

static void put_scalar(struct lbuf *b, const struct moon_ynode *n)
{
	const char *v = n->value;
	if (n->plain) {
		if (moon__ynode_is_null(n)) {
			put(b, "nil", 3);
			return;
		}
		if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) {
			put(b, "true", 4);
			return;
		}
		if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) {
			put(b, "false", 5);
			return;
		}
		if (numeral(v)) {
			put(b, v[0] == '+' ? v + 1 : v, strlen(v[0] == '+' ? v + 1 : v));
			return;
		}
	}
	put_str(b, v);
}

static int put_node(struct lbuf *b, const struct moon_ynode *n, const struct moon_ynode **bad)
{
	if (n->kind == MOON_YSCALAR) {
		put_scalar(b, n);
		return 0;
	}
	put(b, "{", 1);
	bool map = n->kind == MOON_YMAP;
	for (size_t i = 0; i < n->n; i += map ? 2 : 1) {
		if (map) {
			const struct moon_ynode *k = n->items[i];
			if (k->kind != MOON_YSCALAR || moon__ynode_is_null(k)) {
				*bad = k;
				return MOON_ESYNTAX;
			}
			put(b, "[", 1);
			if (k->plain && numeral(k->value))
				put(b, k->value, strlen(k->value));
			else
				put_str(b, k->value);
			put(b, "]=", 2);
		}
		int ret = put_node(b, n->items[map ? i + 1 : i], bad);
		if (ret)
			return ret;
		put(b, ",", 1);
	}
	put(b, "}", 1);
	return 0;
}

int moon__conf_lua_value(const struct moon_ynode *node, char **out, char *err)
{
	if (node->kind == MOON_YSCALAR && moon__ynode_is_null(node)) {
		free(*out);
		*out = NULL;    /* no options: {} */
		return 0;
	}
	struct lbuf b = { 0 };
	const struct moon_ynode *bad = NULL;
	int ret = put_node(&b, node, &bad);
	if (ret) {
		snprintf(err, MOON_CONF_ERRLEN, "keys of options must be strings or numbers "
			 "(line %u)", bad ? bad->line : 0);
		free(b.p);
		return ret;
	}
	if (b.oom) {
		snprintf(err, MOON_CONF_ERRLEN, "out of memory");
		free(b.p);
		return -ENOMEM;
	}
	free(*out);
	*out = b.p;
	return 0;
}
