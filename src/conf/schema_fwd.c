/*
 * The rows of servers[].forward and servers[].cache, and their checks. They
 * live apart from schema.c so that the forwarding and caching keys can be
 * read in one place; schema.c's server rows point here. The keys map one to
 * one onto struct moon_fwd_opts (fwd/fwd.h) and struct moon_cache_opts
 * (cache/cache.h), whose defaults they repeat: server/blockstate.c copies
 * the values across and the unit tests compare the two sets of defaults.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/schema.h"
#include "conf/value.h"

#define FIELD(type, member) \
	.off = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define LIST(type, member, count) \
	.off = offsetof(type, member), .count_off = offsetof(type, count)
#define RL MOON_CONF_RELOAD

/* Bounds the forwarder itself enforces (fwd/fwd.c). */
#define MAX_UPSTREAMS 16
#define MAX_EXCEPT 64

static const char *const policies[] = { "random", "round_robin", "sequential", NULL };
static const char *const rcodes[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
	"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", NULL,
};
static const char *const hc_types[] = { "NS", "A", "AAAA", "SOA", "TXT", "HINFO", "MX", NULL };

static const struct moon_conf_item to_elem = {
	.type = MOON_CONF_STR, .flags = RL, .size = sizeof(char *), .max = 300,
};

static const struct moon_conf_item except_elem = {
	.type = MOON_CONF_DNAME, .flags = RL, .size = sizeof(char *),
};

static const struct moon_conf_item rcode_elem = {
	.type = MOON_CONF_ENUM, .flags = RL, .size = sizeof(char *), .values = rcodes,
};

#define F(member) FIELD(struct moon_conf_forward, member)

const struct moon_conf_item moon__conf_forward_keys[] = {
	{ .name = "to", .type = MOON_CONF_LIST, .flags = RL,
	  LIST(struct moon_conf_forward, to, n_to), .min = 1, .children = &to_elem,
	  .def_doc = "none; required when the section is given",
	  .doc = "Upstream resolvers, 1 to 16 in all: `dns://IP[:PORT]` or `IP[:PORT]` (UDP, "
		 "and TCP when a reply is truncated; port 53), `tls://IP[:PORT][#NAME]` (DNS "
		 "over TLS, port 853; NAME is the name its certificate must carry), or the path "
		 "of a resolv.conf file (starting with `/` or `.`), whose `nameserver` lines "
		 "are read at load. IPv6 addresses go in brackets: `[2001:db8::1]:53`." },
	{ .name = "from", .type = MOON_CONF_DNAME, .flags = RL, F(from), .def = ".",
	  .doc = "Only names at or below this one are forwarded; other names of the block "
		 "are REFUSED unless a zone answers them." },
	{ .name = "except", .type = MOON_CONF_LIST, .flags = RL,
	  LIST(struct moon_conf_forward, except, n_except), .children = &except_elem,
	  .doc = "Names (with everything below them) that are not forwarded, at most 64." },
	{ .name = "policy", .type = MOON_CONF_ENUM, .flags = RL, F(policy), .values = policies,
	  .def = "random",
	  .doc = "Order in which upstreams are tried: a fresh random order per query, each "
		 "query starting one further (`round_robin`), or config order (`sequential`)." },
	{ .name = "force_tcp", .type = MOON_CONF_BOOL, .flags = RL, F(force_tcp), .def = "false",
	  .doc = "Speak TCP to `dns://` upstreams, never UDP." },
	{ .name = "timeout", .type = MOON_CONF_DURATION, .flags = RL, F(timeout_ms), .unit_ms = 1,
	  .min = 100, .max = 60000, .def = "5s",
	  .doc = "Deadline for one client query, all tries included; then the client gets "
		 "SERVFAIL (or a stale answer, see `cache.serve_stale`)." },
	{ .name = "try_timeout", .type = MOON_CONF_DURATION, .flags = RL, F(try_timeout_ms),
	  .unit_ms = 1, .min = 0, .max = 60000, .def = "0",
	  .doc = "How long one try waits before the next upstream is asked too (the first "
		 "reply wins). 0 adapts it to each upstream's measured round-trip time "
		 "(smoothed RTT + 4 deviations, 200ms to 2s, 1s before the first reply)." },
	{ .name = "max_tries", .type = MOON_CONF_INT, .flags = RL | MOON_CONF_AUTO, F(max_tries),
	  .min = 1, .max = 100, .def = "auto",
	  .doc = "Tries per client query, over all upstreams; `auto` is twice the number of "
		 "upstreams." },
	{ .name = "failover", .type = MOON_CONF_LIST, .flags = RL,
	  LIST(struct moon_conf_forward, failover, n_failover), .children = &rcode_elem,
	  .doc = "Reply codes that move on to the next upstream (e.g. `[SERVFAIL, REFUSED]`); "
		 "when no later upstream does better the last such reply is answered." },
	{ .name = "max_fails", .type = MOON_CONF_INT, .flags = RL, F(max_fails), .min = 0,
	  .max = 1000, .def = "2",
	  .doc = "Consecutive tries without a reply (counted across workers) after which an "
		 "upstream is marked down and probed until it answers again; 0 never marks an "
		 "upstream down." },
	{ .name = "health_check", .type = MOON_CONF_DURATION, .flags = RL, F(health_check_ms),
	  .unit_ms = 1, .min = 100, .max = 3600000, .def = "500ms",
	  .doc = "First probe interval of an upstream marked down; it doubles after each "
		 "probe without a reply, up to `health_check_max`." },
	{ .name = "health_check_max", .type = MOON_CONF_DURATION, .flags = RL,
	  F(health_check_max_ms), .unit_ms = 1, .min = 100, .max = 3600000, .def = "15s",
	  .doc = "Longest interval between two probes of an upstream that stays down." },
	{ .name = "health_check_name", .type = MOON_CONF_DNAME, .flags = RL,
	  F(health_check_name), .def = ".",
	  .doc = "Name asked by the probes; any reply, whatever its code, counts as alive." },
	{ .name = "health_check_type", .type = MOON_CONF_ENUM, .flags = RL,
	  F(health_check_type), .values = hc_types, .def = "NS",
	  .doc = "Record type asked by the probes." },
	{ .name = "health_check_rd", .type = MOON_CONF_BOOL, .flags = RL, F(health_check_rd),
	  .def = "true", .doc = "Probes ask for recursion (RD=1)." },
	{ .name = "fail_fast", .type = MOON_CONF_BOOL, .flags = RL, F(fail_fast), .def = "false",
	  .doc = "When every upstream is down, answer SERVFAIL at once instead of trying them "
		 "all anyway." },
	{ .name = "max_concurrent", .type = MOON_CONF_INT, .flags = RL, F(max_concurrent),
	  .min = 0, .max = 10000000, .def = "0",
	  .doc = "Forwarded queries in flight (all workers) above which new ones are REFUSED "
		 "at once; 0 = no limit." },
	{ .name = "expire", .type = MOON_CONF_DURATION, .flags = RL, F(expire_ms), .unit_ms = 1,
	  .min = 100, .max = 3600000, .def = "10s",
	  .doc = "TCP and TLS connections to upstreams idle this long are closed." },
	{ .name = "max_conns", .type = MOON_CONF_INT, .flags = RL, F(max_conns), .min = 1,
	  .max = 256, .def = "4",
	  .doc = "TCP/TLS connections per upstream and worker." },
	{ .name = "max_pipeline", .type = MOON_CONF_INT, .flags = RL, F(max_pipeline), .min = 1,
	  .max = 1024, .def = "64",
	  .doc = "Queries outstanding at once on one TCP/TLS connection." },
	{ .name = "edns_payload", .type = MOON_CONF_INT, .flags = RL, F(edns_payload), .min = 512,
	  .max = 4096, .def = "1232",
	  .doc = "UDP payload size announced to upstreams." },
	{ .name = "tls_servername", .type = MOON_CONF_STR, .flags = RL | MOON_CONF_NULLABLE,
	  F(tls_servername), .max = 253,
	  .doc = "Name the certificate of `tls://` upstreams must carry (and the SNI sent) "
		 "when the upstream gives no `#NAME`; null checks the upstream's IP address." },
	{ .name = "tls_ca", .type = MOON_CONF_PATH, .flags = RL, F(tls_ca),
	  .def_doc = "the system's CA certificates",
	  .doc = "PEM file of the CA certificates trusted for `tls://` upstreams." },
	{ .name = "tls_cert", .type = MOON_CONF_PATH, .flags = RL, F(tls_cert),
	  .doc = "PEM client certificate shown to `tls://` upstreams (with `tls_key`)." },
	{ .name = "tls_key", .type = MOON_CONF_PATH, .flags = RL, F(tls_key),
	  .doc = "PEM private key of `tls_cert`." },
	{ .name = "tls_verify", .type = MOON_CONF_BOOL, .flags = RL, F(tls_verify), .def = "true",
	  .doc = "Verify the certificates of `tls://` upstreams. Turning it off leaves DNS over "
		 "TLS open to anyone on the path; use it for tests only." },
	{ .name = "loop_check", .type = MOON_CONF_BOOL, .flags = RL, F(loop_check),
	  .def = "false",
	  .doc = "At start (and after a reload that changes the section) send one probe query "
		 "through the upstreams; if it comes back to this server, log the loop and "
		 "answer SERVFAIL instead of forwarding (doc/forwarding.md)." },
	{ .name = "where", .type = MOON_CONF_STR, .flags = MOON_CONF_INTERNAL, F(where) },
	{ .name = NULL },
};

#undef F
#define K(member) FIELD(struct moon_conf_cache_kind, member)

static const struct moon_conf_item success_keys[] = {
	{ .name = "capacity", .type = MOON_CONF_INT, .flags = RL, K(capacity), .min = 0,
	  .max = 100000000, .def = "100000",
	  .doc = "Positive answers kept at most; 0 caches none." },
	{ .name = "min_ttl", .type = MOON_CONF_DURATION, .flags = RL, K(min_ttl), .unit_ms = 1000,
	  .min = 0, .max = 86400, .def = "5",
	  .doc = "An answer is kept at least this long, whatever its TTLs." },
	{ .name = "max_ttl", .type = MOON_CONF_DURATION, .flags = RL, K(max_ttl), .unit_ms = 1000,
	  .min = 0, .max = 604800, .def = "3600",
	  .doc = "An answer is kept at most this long; TTLs above it are lowered to it. 0 caches "
		 "no positive answer." },
	{ .name = NULL },
};

static const struct moon_conf_item denial_keys[] = {
	{ .name = "capacity", .type = MOON_CONF_INT, .flags = RL, K(capacity), .min = 0,
	  .max = 100000000, .def = "50000",
	  .doc = "NXDOMAIN, NODATA and SERVFAIL answers kept at most; 0 caches none." },
	{ .name = "min_ttl", .type = MOON_CONF_DURATION, .flags = RL, K(min_ttl), .unit_ms = 1000,
	  .min = 0, .max = 86400, .def = "5",
	  .doc = "A denial is kept at least this long." },
	{ .name = "max_ttl", .type = MOON_CONF_DURATION, .flags = RL, K(max_ttl), .unit_ms = 1000,
	  .min = 0, .max = 604800, .def = "1800",
	  .doc = "A denial is kept at most this long (its lifetime is the SOA's TTL or MINIMUM, "
		 "whichever is lower, RFC 2308). 0 caches no denial." },
	{ .name = NULL },
};

#undef K

static const struct moon_conf_item prefetch_keys[] = {
	{ .name = "hits", .type = MOON_CONF_INT, .flags = RL,
	  FIELD(struct moon_conf_cache_prefetch, hits), .min = 1, .max = 1000000, .def = "2",
	  .doc = "An answer asked this many times is refreshed ahead of its expiry." },
	{ .name = "percent", .type = MOON_CONF_INT, .flags = RL,
	  FIELD(struct moon_conf_cache_prefetch, percent), .min = 1, .max = 99, .def = "10",
	  .doc = "The refresh starts when less than this share of the answer's lifetime (and "
		 "at least 1 second) is left; one query then goes upstream in the background." },
	{ .name = NULL },
};

static const struct moon_conf_item stale_keys[] = {
	{ .name = "enabled", .type = MOON_CONF_BOOL, .flags = RL,
	  FIELD(struct moon_conf_cache_stale, enabled), .def_doc = "true when the section is given",
	  .doc = "Serve expired answers when the upstreams fail (RFC 8767)." },
	{ .name = "answer_ttl", .type = MOON_CONF_DURATION, .flags = RL,
	  FIELD(struct moon_conf_cache_stale, answer_ttl), .unit_ms = 1000, .min = 0, .max = 86400,
	  .def = "30", .doc = "TTL of every record of a stale answer." },
	{ .name = "max_stale", .type = MOON_CONF_DURATION, .flags = RL,
	  FIELD(struct moon_conf_cache_stale, max_stale), .unit_ms = 1000, .min = 1,
	  .max = 604800, .def = "1h",
	  .doc = "How long past its expiry an answer may still be served stale." },
	{ .name = NULL },
};

#define C(member) FIELD(struct moon_conf_cache, member)

const struct moon_conf_item moon__conf_cache_keys[] = {
	{ .name = "capacity", .type = MOON_CONF_SIZE, .flags = RL, C(capacity), .min = 1 << 20,
	  .max = (int64_t)1 << 40, .def = "64M",
	  .doc = "Memory the cache may use, tables and entries together; the least recently "
		 "used answers make room for new ones (expired ones first)." },
	{ .name = "success", .type = MOON_CONF_MAP, .flags = RL,
	  .off = offsetof(struct moon_conf_cache, success), .children = success_keys,
	  .doc = "Positive answers: NOERROR with records of the asked type." },
	{ .name = "denial", .type = MOON_CONF_MAP, .flags = RL,
	  .off = offsetof(struct moon_conf_cache, denial), .children = denial_keys,
	  .doc = "Negative answers (RFC 2308): NXDOMAIN, and NOERROR without the asked type, "
		 "each with the zone's SOA; a denial without SOA is not cached." },
	{ .name = "servfail_ttl", .type = MOON_CONF_DURATION, .flags = RL, C(servfail_ttl),
	  .unit_ms = 1000, .min = 0, .max = 30, .def = "5",
	  .doc = "How long a SERVFAIL (or a forward that got no reply) is remembered (RFC "
		 "9520); it never replaces a usable answer. 0 caches no SERVFAIL." },
	{ .name = "prefetch", .type = MOON_CONF_MAP, .flags = RL | MOON_CONF_OPTIONAL,
	  .off = offsetof(struct moon_conf_cache, prefetch), .children = prefetch_keys,
	  .doc = "Refresh popular answers before they expire, so that clients keep hitting "
		 "the cache. `prefetch: on` (or `{}`) takes the defaults below." },
	{ .name = "serve_stale", .type = MOON_CONF_MAP, .flags = RL | MOON_CONF_OPTIONAL,
	  .off = offsetof(struct moon_conf_cache, serve_stale), .children = stale_keys,
	  .doc = "Answer from expired entries when the upstreams fail (RFC 8767): the query "
		 "is still forwarded, and the stale answer is used only if that fails." },
	{ .name = NULL },
};

#undef C

static void error_at(struct moon_conf_walk *w, const struct moon_ynode *node, const char *key,
		     size_t i, const char *msg)
{
	size_t mark = moon__conf_path_key(w, key);
	if (i != SIZE_MAX)
		moon__conf_path_index(w, i);
	moon__conf_error(w, node, "%s", msg);
	moon__conf_path_pop(w, mark);
}

/* "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT". */
static bool valid_addr_port(const char *text)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *port = NULL;
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (!end || (size_t)(end - text - 1) >= sizeof(addr))
			return false;
		memcpy(addr, text + 1, (size_t)(end - text - 1));
		addr[end - text - 1] = 0;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1])
			return false;
	} else {
		const char *colon = strchr(text, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;   /* a bare IPv6 address */
		size_t len = colon ? (size_t)(colon - text) : strlen(text);
		if (len >= sizeof(addr))
			return false;
		memcpy(addr, text, len);
		addr[len] = 0;
		port = colon ? colon + 1 : NULL;
	}
	uint8_t buf[16];
	if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
		return false;
	if (!port)
		return true;
	char *end;
	long p = strtol(port, &end, 10);
	return *port && !*end && p > 0 && p <= 65535;
}

static bool valid_upstream(const char *text)
{
	char copy[320];
	if (!strncmp(text, "dns://", 6))
		return valid_addr_port(text + 6);
	if (strncmp(text, "tls://", 6))
		return valid_addr_port(text);
	snprintf(copy, sizeof(copy), "%s", text + 6);
	char *hash = strchr(copy, '#');
	if (hash) {
		char name[MOON_NAME_TEXT_MAXLEN], err[MOON_CONF_ERRLEN];
		if (!hash[1] || moon__conf_parse_dname(hash + 1, name, err) < 0)
			return false;
		*hash = 0;
	}
	return valid_addr_port(copy);
}

/* A resolv.conf path relative to the config's directory becomes absolute,
 * like every other path of the config. */
static void resolve_path(struct moon_conf_walk *w, const struct moon_ynode *node, char **entry)
{
	char *abs = NULL;
	if ((*entry)[0] != '.')
		return;
	if (asprintf(&abs, "%s/%s", w->basedir, *entry) < 0) {
		moon__conf_error(w, node, "out of memory");
		return;
	}
	free(*entry);
	*entry = abs;
}

static void check_to(struct moon_conf_walk *w, const struct moon_ynode *map,
		     struct moon_conf_forward *f)
{
	const struct moon_ynode *list = moon__ymap_get(map, "to");
	if (!f->n_to) {
		if (!list)
			moon__conf_error(w, map, "`to` is required: the upstreams to forward to");
		return;
	}
	if (f->n_to > MAX_UPSTREAMS)
		error_at(w, list, "to", SIZE_MAX, "at most 16 upstreams");
	for (size_t i = 0; i < f->n_to; i++) {
		const struct moon_ynode *node = list && i < list->n ? list->items[i] : map;
		char *t = f->to[i];
		if (!t)
			continue;
		if (t[0] == '/' || t[0] == '.') {
			resolve_path(w, node, &f->to[i]);
			continue;
		}
		if (!valid_upstream(t)) {
			char msg[MOON_CONF_ERRLEN];
			snprintf(msg, sizeof(msg), "bad upstream '%s': want dns://IP[:PORT], "
				 "tls://IP[:PORT][#NAME], IP[:PORT] or a resolv.conf path", t);
			error_at(w, node, "to", i, msg);
		}
	}
}

void moon__conf_check_forward(struct moon_conf_walk *w, const struct moon_ynode *map,
			      const struct moon_ynode *at, void *base)
{
	struct moon_conf_forward *f = base;
	if (!f->enabled)
		return;
	map = map ? map : at;
	check_to(w, map, f);
	if (f->n_except > MAX_EXCEPT)
		error_at(w, moon__ymap_get(map, "except"), "except", SIZE_MAX,
			 "at most 64 names");
	if (f->health_check_max_ms < f->health_check_ms)
		error_at(w, moon__ymap_get(map, "health_check_max"), "health_check_max",
			 SIZE_MAX, "must not be below health_check");
	if ((f->tls_cert == NULL) != (f->tls_key == NULL))
		error_at(w, map, f->tls_cert ? "tls_key" : "tls_cert", SIZE_MAX,
			 "tls_cert and tls_key go together");
	if (asprintf(&f->where, "%s:%u:%u", w->file, at->line, at->col) < 0) {
		f->where = NULL;
		moon__conf_error(w, at, "out of memory");
	}
}

void moon__conf_check_cache(struct moon_conf_walk *w, const struct moon_ynode *map,
			    const struct moon_ynode *at, void *base)
{
	struct moon_conf_cache *c = base;
	if (!c->enabled)
		return;
	map = map ? map : at;
	const struct moon_conf_cache_kind *k[2] = { &c->success, &c->denial };
	static const char *const names[2] = { "success", "denial" };
	for (int i = 0; i < 2; i++) {
		if (k[i]->max_ttl && k[i]->min_ttl > k[i]->max_ttl) {
			const struct moon_ynode *sec = moon__ymap_get(map, names[i]);
			size_t mark = moon__conf_path_key(w, names[i]);
			error_at(w, sec ? sec : map, "min_ttl", SIZE_MAX,
				 "must not be above max_ttl");
			moon__conf_path_pop(w, mark);
		}
	}
}
