/*
 * The schema: every config key, its type, range, default, reload behaviour
 * and doc line (see schema.h for how rows map onto conf.h). doc/config.md is
 * generated from this file, so the doc lines are written for operators.
 */
#include <stddef.h>

#include "conf/schema.h"

#define FIELD(type, member) \
	.off = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define LIST(type, member, count) \
	.off = offsetof(type, member), .count_off = offsetof(type, count)

static const struct moon_conf_item zone_file_keys[] = {
	{ .name = "origin", .type = MOON_CONF_DNAME, .flags = MOON_CONF_REQUIRED | MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_zone_file, origin),
	  .doc = "Apex of the zone; it must lie inside one of the block's `zones`." },
	{ .name = "file", .type = MOON_CONF_PATH, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_zone_file, file),
	  .doc = "RFC 1035 master file; a relative path is relative to the config file's "
		 "directory. Exactly one of `file` and `inline` is required." },
	{ .name = "inline", .type = MOON_CONF_STR, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_zone_file, text),
	  .doc = "The master-file text itself, usually as a YAML block scalar (`inline: |`); "
		 "names without a trailing dot are relative to `origin`." },
	{ .name = "default_ttl", .type = MOON_CONF_DURATION, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_zone_file, default_ttl), .unit_ms = 1000,
	  .min = 0, .max = 2147483647, .def = "3600",
	  .doc = "TTL of records written without one, when the data has no `$TTL`." },
	{ .name = "where", .type = MOON_CONF_STR, .flags = MOON_CONF_INTERNAL,
	  FIELD(struct moon_conf_zone_file, where) },
	{ .name = NULL },
};

static const struct moon_conf_item zone_file_elem = {
	.type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD,
	.size = sizeof(struct moon_conf_zone_file),
	.children = zone_file_keys, .check = moon__conf_check_zone_file,
};

static const struct moon_conf_item listen_elem = {
	.type = MOON_CONF_LISTEN, .flags = MOON_CONF_RELOAD,
	.size = sizeof(struct moon_conf_listen),
};

static const struct moon_conf_item zone_elem = {
	.type = MOON_CONF_DNAME, .flags = MOON_CONF_RELOAD, .size = sizeof(char *),
};

static const char *const qlog_classes[] = { "all", "success", "denial", "error", NULL };

static const struct moon_conf_item qlog_class_elem = {
	.type = MOON_CONF_ENUM, .flags = MOON_CONF_RELOAD, .size = sizeof(char *),
	.values = qlog_classes, .def = "all",
};

static const struct moon_conf_item qlog_str_elem = {
	.type = MOON_CONF_STR, .flags = MOON_CONF_RELOAD, .size = sizeof(char *), .max = 64,
};

static const struct moon_conf_item qlog_name_elem = {
	.type = MOON_CONF_DNAME, .flags = MOON_CONF_RELOAD, .size = sizeof(char *),
};

static const struct moon_conf_item query_log_keys[] = {
	{ .name = "format", .type = MOON_CONF_STR, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_query_log, format), .max = 1024, .def = "common",
	  .doc = "`common` or `combined` (CoreDNS's query-log lines), `json` (one object per "
		 "line), or a custom format with placeholders such as `{name}` or "
		 "`{/metadata_label}` (doc/operations.md lists them)." },
	{ .name = "class", .type = MOON_CONF_LIST, .flags = MOON_CONF_RELOAD,
	  LIST(struct moon_conf_query_log, classes, n_classes), .children = &qlog_class_elem,
	  .def_doc = "[ all ]",
	  .doc = "Which replies are logged: any of `all`, `success`, `denial` (NXDOMAIN, "
		 "NODATA) and `error` (other rcodes, and queries not answered)." },
	{ .name = "names", .type = MOON_CONF_LIST, .flags = MOON_CONF_RELOAD,
	  LIST(struct moon_conf_query_log, names, n_names), .children = &qlog_name_elem,
	  .def_doc = "every name",
	  .doc = "Log only queries for these names or names below them." },
	{ .name = "to", .type = MOON_CONF_STR, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_query_log, to), .max = 4096, .def = "stdout",
	  .doc = "`stdout`, `stderr` or a file (appended to; relative to the config file's "
		 "directory). Lines are written by a background thread: a slow destination "
		 "drops lines (counted), it never delays queries." },
	{ .name = "json_meta", .type = MOON_CONF_LIST, .flags = MOON_CONF_RELOAD,
	  LIST(struct moon_conf_query_log, json_meta, n_json_meta), .children = &qlog_str_elem,
	  .doc = "Metadata keys the `json` format adds under \"meta\"." },
	{ .name = "enabled", .type = MOON_CONF_BOOL, .flags = MOON_CONF_INTERNAL,
	  FIELD(struct moon_conf_query_log, enabled) },
	{ .name = NULL },
};

static const struct moon_conf_item server_keys[] = {
	{ .name = "name", .type = MOON_CONF_STR, .flags = MOON_CONF_REQUIRED | MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_server, name), .max = 63,
	  .doc = "Name of the block, unique among `servers`; shown in logs and metrics. "
		 "Letters, digits, `-`, `_` and `.`." },
	{ .name = "listen", .type = MOON_CONF_LIST, .flags = MOON_CONF_REQUIRED | MOON_CONF_RELOAD,
	  LIST(struct moon_conf_server, listen, n_listen), .min = 1, .children = &listen_elem,
	  .doc = "Where to listen: `dns://ADDR[:PORT]` is UDP and TCP (port 53 by default), "
		 "`tls://ADDR[:PORT]` is DNS over TLS (port 853; needs the `tls` section). "
		 "ADDR is an IPv4 address or an IPv6 address in brackets. Several blocks may "
		 "share an address: each query goes to the block with the longest matching "
		 "zone." },
	{ .name = "zones", .type = MOON_CONF_LIST, .flags = MOON_CONF_RELOAD,
	  LIST(struct moon_conf_server, zones, n_zones), .min = 1, .children = &zone_elem,
	  .def_doc = "the origins of `zone_files`",
	  .doc = "Domain names whose queries this block answers (a name without a trailing "
		 "dot is taken as absolute). Two blocks sharing a listener may not serve the "
		 "same zone." },
	{ .name = "zone_files", .type = MOON_CONF_LIST, .flags = MOON_CONF_RELOAD,
	  LIST(struct moon_conf_server, zone_files, n_zone_files), .children = &zone_file_elem,
	  .doc = "Authoritative zone data served by this block." },
	{ .name = "query_log", .type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD,
	  .off = offsetof(struct moon_conf_server, query_log), .children = query_log_keys,
	  .check = moon__conf_check_query_log,
	  .doc = "Log this block's queries (off when the key is absent)." },
	{ .name = "forward", .type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD | MOON_CONF_OPTIONAL,
	  .off = offsetof(struct moon_conf_server, forward), .children = moon__conf_forward_keys,
	  .check = moon__conf_check_forward,
	  .doc = "Send the block's queries that no zone answers to upstream resolvers "
		 "(doc/forwarding.md)." },
	{ .name = "cache", .type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD | MOON_CONF_OPTIONAL,
	  .off = offsetof(struct moon_conf_server, cache), .children = moon__conf_cache_keys,
	  .check = moon__conf_check_cache,
	  .doc = "Keep forwarded answers in memory, shared by the workers "
		 "(doc/forwarding.md); `cache: on` (or `{}`) takes every default." },
	{ .name = "tls", .type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD | MOON_CONF_OPTIONAL,
	  .off = offsetof(struct moon_conf_server, tls), .children = moon__conf_tls_keys,
	  .check = moon__conf_check_tls,
	  .doc = "Certificate and settings of the block's `tls://` listeners (DNS over TLS, "
		 "doc/dot.md); required when the block has one." },
	{ .name = "policies", .type = MOON_CONF_LIST, .flags = MOON_CONF_RELOAD,
	  LIST(struct moon_conf_server, policies, n_policies), .children = &moon__conf_policy_elem,
	  .doc = "Lua policies run on the block's queries, in this order (doc/lua-api.md): "
		 "`- NAME: OPTIONS` for a shipped policy, or a mapping of the keys below." },
	{ .name = NULL },
};

static const struct moon_conf_item server_elem = {
	.type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD, .size = sizeof(struct moon_conf_server),
	.children = server_keys, .check = moon__conf_check_server,
};

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };

static const struct moon_conf_item log_keys[] = {
	{ .name = "level", .type = MOON_CONF_ENUM, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf, log_level), .values = log_levels, .def = "info",
	  .doc = "Least severe messages written to the log (stderr)." },
	{ .name = NULL },
};

static const struct moon_conf_item udp_keys[] = {
	{ .name = "max_payload", .type = MOON_CONF_INT, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_udp, max_payload), .min = 512, .max = 4096, .def = "1232",
	  .doc = "Our EDNS UDP payload size: the largest UDP response we send and the size we "
		 "advertise. 1232 avoids IP fragmentation on almost every path." },
	{ .name = "batch", .type = MOON_CONF_INT,
	  FIELD(struct moon_conf_udp, batch), .min = 1, .max = 256, .def = "32",
	  .doc = "Datagrams a worker receives or sends per system call (recvmmsg/sendmmsg)." },
	{ .name = NULL },
};

static const struct moon_conf_item tcp_keys[] = {
	{ .name = "idle_timeout", .type = MOON_CONF_DURATION, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_tcp, idle_timeout_ms), .unit_ms = 1, .min = 100,
	  .max = 3600000, .def = "10s",
	  .doc = "A connection with no query in progress is closed after this long." },
	{ .name = "io_timeout", .type = MOON_CONF_DURATION, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_tcp, io_timeout_ms), .unit_ms = 1, .min = 100,
	  .max = 600000, .def = "2s",
	  .doc = "A message whose first byte has arrived (or been sent) must complete within "
		 "this long, or the connection is closed." },
	{ .name = "max_connections", .type = MOON_CONF_INT, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_tcp, max_connections), .min = 1, .max = 1000000, .def = "1000",
	  .doc = "Open TCP connections for the whole server (all workers together); further "
		 "clients wait in the kernel's accept queue." },
	{ .name = "max_connections_per_client", .type = MOON_CONF_INT, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_tcp, max_connections_per_client), .min = 1, .max = 1000000,
	  .def = "64", .doc = "Open TCP connections from one client address." },
	{ .name = "max_queries_per_connection", .type = MOON_CONF_INT, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_tcp, max_queries_per_connection), .min = 0, .max = UINT32_MAX,
	  .def = "0",
	  .doc = "Queries answered on one connection before it is closed; 0 = unlimited." },
	{ .name = "max_pending_bytes", .type = MOON_CONF_SIZE, .flags = MOON_CONF_RELOAD,
	  FIELD(struct moon_conf_tcp, max_pending_bytes), .min = 1024, .max = 64 << 20,
	  .def = "128k",
	  .doc = "Unsent response bytes per connection past which the server stops reading "
		 "queries from it, until the client has read its answers." },
	{ .name = NULL },
};

static const struct moon_conf_item identity_keys[] = {
	{ .name = "nsid", .type = MOON_CONF_STR,
	  .flags = MOON_CONF_RELOAD | MOON_CONF_NULLABLE,
	  FIELD(struct moon_conf_identity, nsid), .max = 255,
	  .doc = "NSID (RFC 5001) sent to clients that ask with the EDNS NSID option; when null "
		 "the option is not answered." },
	{ .name = "id_server", .type = MOON_CONF_STR,
	  .flags = MOON_CONF_RELOAD | MOON_CONF_NULLABLE,
	  FIELD(struct moon_conf_identity, id_server), .max = 255,
	  .doc = "Answer to CHAOS TXT `id.server.`; when null that query is REFUSED." },
	{ .name = "hostname", .type = MOON_CONF_STR,
	  .flags = MOON_CONF_RELOAD | MOON_CONF_NULLABLE,
	  FIELD(struct moon_conf_identity, hostname), .max = 255,
	  .doc = "Answer to CHAOS TXT `hostname.bind.`; when null that query is REFUSED." },
	{ .name = "version", .type = MOON_CONF_STR,
	  .flags = MOON_CONF_RELOAD | MOON_CONF_NULLABLE,
	  FIELD(struct moon_conf_identity, version), .max = 255,
	  .doc = "Answer to CHAOS TXT `version.bind.`; when null that query is REFUSED." },
	{ .name = NULL },
};

static const struct moon_conf_item http_keys[] = {
	{ .name = "listen", .type = MOON_CONF_STR, .flags = MOON_CONF_NULLABLE,
	  FIELD(struct moon_conf_http, listen), .max = 64, .def_doc = "null (closed)",
	  .doc = "`ADDR:PORT` (IPv6 as `[ADDR]:PORT`) of the HTTP endpoint serving /metrics, "
		 "/health and /ready; when null the endpoint is closed. It has no "
		 "authentication: keep it on loopback or a monitoring network." },
	{ .name = "coredns_compat", .type = MOON_CONF_BOOL,
	  FIELD(struct moon_conf_http, coredns_compat), .def = "false",
	  .doc = "Also publish the counters under CoreDNS's coredns_* names and labels, so "
		 "that existing dashboards work unchanged." },
	{ .name = "lameduck", .type = MOON_CONF_DURATION,
	  FIELD(struct moon_conf_http, lameduck_ms), .unit_ms = 1, .min = 0, .max = 600000,
	  .def = "5s",
	  .doc = "On SIGTERM, /ready answers 503 and queries are still answered for this long "
		 "before the server stops (0: stop at once)." },
	{ .name = NULL },
};

static const struct moon_conf_item root_keys[] = {
	{ .name = "workers", .type = MOON_CONF_INT, .flags = MOON_CONF_AUTO,
	  FIELD(struct moon_conf, workers), .min = 1, .max = 256, .def = "auto",
	  .doc = "Worker threads, each with its own sockets and event loop; `auto` starts one "
		 "per CPU." },
	{ .name = "user", .type = MOON_CONF_STR, .flags = MOON_CONF_NULLABLE,
	  FIELD(struct moon_conf, user), .max = 63,
	  .doc = "After binding its listeners, switch to this user: `name` (its primary group), "
		 "`name:group`, or numeric `uid[:gid]`. Needs moondns to start as root; null "
		 "keeps the user it was started as (e.g. an unprivileged user with "
		 "CAP_NET_BIND_SERVICE)." },
	{ .name = "log", .type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD, .off = 0,
	  .children = log_keys, .doc = "Logging." },
	{ .name = "udp", .type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD,
	  .off = offsetof(struct moon_conf, udp), .children = udp_keys,
	  .doc = "DNS over UDP, for every `dns://` listener." },
	{ .name = "tcp", .type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD,
	  .off = offsetof(struct moon_conf, tcp), .children = tcp_keys,
	  .doc = "DNS over TCP, for every `dns://` listener: timeouts and limits that keep idle "
		 "or slow clients from holding the server's resources." },
	{ .name = "identity", .type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD,
	  .off = offsetof(struct moon_conf, identity), .children = identity_keys,
	  .doc = "What the server says about itself. Everything is off by default, so that a "
		 "server reveals nothing unless told to." },
	{ .name = "lua", .type = MOON_CONF_MAP, .flags = MOON_CONF_RELOAD,
	  .off = offsetof(struct moon_conf, lua), .children = moon__conf_lua_keys,
	  .doc = "Limits of the Lua policy layer (doc/lua-api.md, \"Errors and limits\")." },
	{ .name = "http", .type = MOON_CONF_MAP, .off = offsetof(struct moon_conf, http),
	  .children = http_keys, .check = moon__conf_check_http,
	  .doc = "The operations endpoint: Prometheus metrics, liveness and readiness. Closed "
		 "unless `listen` is set; changes need a restart." },
	{ .name = "servers", .type = MOON_CONF_LIST, .flags = MOON_CONF_REQUIRED | MOON_CONF_RELOAD,
	  LIST(struct moon_conf, servers, n_servers), .min = 1, .children = &server_elem,
	  .doc = "Server blocks: each says where it listens, which zones it answers for and "
		 "where their data comes from." },
	{ .name = NULL },
};

const struct moon_conf_item moon__conf_schema = {
	.name = "", .type = MOON_CONF_MAP, .children = root_keys, .check = moon__conf_check_root,
};
