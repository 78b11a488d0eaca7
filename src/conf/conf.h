/*
 * The configuration: a YAML file read by libyaml and checked against one
 * declarative schema table (src/conf/schema.c). Every key has a type, a
 * default, a range and a one-line doc; the same table drives validation,
 * `moondns check`, and the generated doc/config.md.
 *
 * A loaded moon_conf is immutable and self-contained (it owns every string
 * and array in it). It is the first half of a config generation; the server
 * builds the rest (zones, listeners) from it. moon_conf_free() releases it.
 * Nothing here keeps global state: any thread may load, read or free a
 * config; a loaded one may be read by any number of threads at once.
 *
 * Every problem found while loading is added to the caller's moon_diag as
 *     "FILE:LINE:COLUMN: key.path: message"
 * (lines and columns 1-based, pointing at the offending value, at the key for
 * unknown or duplicate keys, at the enclosing mapping for missing keys), e.g.
 *     "moondns.yaml:7:15: servers[0].listen[1]: bad address
 *      'dns://127.0.0.1:99999': port out of range".
 * Loading goes on after an error so that one run reports all of them (up to
 * MOON_DIAG_MAX); only a YAML syntax error or a limit below stops it early.
 *
 * YAML subset: one document; anchors, aliases and tags are rejected (they
 * buy nothing in a config and aliases are the way to billion-laughs
 * expansion); a file is at most MOON_CONF_MAX_BYTES, nests at most
 * MOON_CONF_MAX_DEPTH collections and holds at most MOON_CONF_MAX_NODES nodes.
 */
#ifndef MOON_CONF_CONF_H
#define MOON_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "util/diag.h"

#define MOON_CONF_MAX_BYTES (16u << 20)
#define MOON_CONF_MAX_DEPTH 32
#define MOON_CONF_MAX_NODES 200000

enum moon_listen_proto { MOON_LISTEN_DNS /* UDP + TCP */, MOON_LISTEN_TLS };

struct moon_conf_listen {
	char *uri;                       /* as written, e.g. "dns://[::1]:5353" */
	enum moon_listen_proto proto;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

struct moon_conf_zone_file {
	char *origin;                    /* absolute with trailing dot, case as written */
	char *file;                      /* absolute path (relative ones are resolved against
					  * the config's directory), or NULL */
	char *text;                      /* inline zone text, or NULL */
	char *where;                     /* "config.yaml:LINE" of this entry, for errors */
	uint32_t default_ttl;            /* seconds */
};

/* servers[].forward: one field per key of fwd/fwd.h's struct moon_fwd_opts
 * (durations in ms); server/blockstate.c copies them across. */
struct moon_conf_forward {
	bool enabled;                    /* the block has a forward section */
	char *where;                     /* "config.yaml:LINE:COL" of the section */
	char *from;                      /* absolute name, default "." */
	char **to;                       /* "dns://IP[:port]", "tls://IP[:port][#name]",
					  * "IP[:port]" or "/path/resolv.conf" */
	size_t n_to;
	char **except;                   /* absolute names */
	size_t n_except;
	char *policy;                    /* "random", "round_robin" or "sequential" */
	bool force_tcp;
	uint32_t timeout_ms;
	uint32_t try_timeout_ms;         /* 0 = adaptive */
	uint32_t max_tries;              /* 0 = auto (2 x upstreams) */
	char **failover;                 /* rcode names */
	size_t n_failover;
	uint32_t max_fails;
	uint32_t health_check_ms;
	uint32_t health_check_max_ms;
	char *health_check_name;
	char *health_check_type;
	bool health_check_rd;
	bool fail_fast;
	uint32_t max_concurrent;
	uint32_t expire_ms;
	uint32_t max_conns;
	uint32_t max_pipeline;
	uint16_t edns_payload;
	char *tls_servername;            /* NULL = none */
	char *tls_ca;                    /* absolute paths, NULL = none */
	char *tls_cert;
	char *tls_key;
	bool tls_verify;
	bool loop_check;                 /* probe for a forwarding loop at start */
};

/* servers[].cache.success / .denial */
struct moon_conf_cache_kind {
	uint32_t capacity;               /* entries; 0 = do not cache this kind */
	uint32_t min_ttl;                /* seconds */
	uint32_t max_ttl;
};

struct moon_conf_cache_prefetch {
	bool enabled;                    /* the section is given and not `off` */
	uint32_t hits;
	uint32_t percent;
};

struct moon_conf_cache_stale {
	bool enabled;
	uint32_t answer_ttl;             /* seconds */
	uint32_t max_stale;              /* seconds */
};

/* servers[].cache: maps onto cache/cache.h's struct moon_cache_opts. */
struct moon_conf_cache {
	bool enabled;                    /* the block has a cache section */
	uint64_t capacity;               /* bytes */
	struct moon_conf_cache_kind success;
	struct moon_conf_cache_kind denial;
	uint32_t servfail_ttl;           /* seconds, 0 = do not cache SERVFAIL */
	struct moon_conf_cache_prefetch prefetch;
	struct moon_conf_cache_stale serve_stale;
};

/* servers[].tls: the certificate and settings of the block's tls://
 * listeners; net/tlsctx.h's struct moon_tls_opts takes them. */
struct moon_conf_tls {
	bool enabled;                    /* the block has a tls section */
	char *where;                     /* "config.yaml:LINE:COL" of the section */
	char *cert;                      /* absolute paths */
	char *key;
	char *client_ca;                 /* NULL = no client certificate asked */
	uint32_t handshake_timeout_ms;
	bool session_tickets;
	uint32_t max_new_sessions_per_client; /* per second, 0 = unlimited */
};

/* servers[].policies[] (schema_lua.c): a Lua policy (src/bridge). */
struct moon_conf_policy {
	char *policy;                    /* by name (`- NAME: OPTIONS` or `policy: NAME`), or */
	char *script;                    /* a file, absolute */
	char *options;                   /* a Lua table constructor ("{[\"k\"]=1,}"); NULL = {} */
	char *name;                      /* in logs and metrics */
	char *on_error;                  /* "servfail", "refuse", "drop" or "continue" */
	bool sandbox;
	bool jit;
	char *path;                      /* the file to load: script, or the named policy's */
	char *where;                     /* "config.yaml:LINE" of the entry */
};

/* `lua`: limits of the policy layer (src/bridge/bridge.h). */
struct moon_conf_lua {
	uint64_t memory;                 /* bytes per Lua state */
	uint32_t time_budget_ms;         /* one stage call */
	uint32_t load_budget_ms;         /* loading and constructing one policy */
	uint32_t watchdog_ms;            /* report a worker busy in Lua this long */
};

/* A server block's query log (qlog/qlog.h): off unless `query_log` is there. */
struct moon_conf_query_log {
	bool enabled;                    /* the key is present */
	char *format;                    /* "common", "combined", "json" or a custom format */
	char **classes;                  /* "all", "success", "denial", "error"; none = all */
	size_t n_classes;
	char **names;                    /* only names at or below these; none = every name */
	size_t n_names;
	char *to;                        /* "stdout", "stderr" or an absolute path */
	char **json_meta;                /* metadata keys the json format adds */
	size_t n_json_meta;
};

struct moon_conf_server {
	char *name;                      /* unique among the blocks */
	struct moon_conf_listen *listen;
	size_t n_listen;                 /* >= 1 */
	char **zones;                    /* absolute names this block serves (>= 1) */
	size_t n_zones;
	struct moon_conf_zone_file *zone_files;
	size_t n_zone_files;
	struct moon_conf_forward forward;
	struct moon_conf_cache cache;
	struct moon_conf_query_log query_log;
	struct moon_conf_tls tls;
	struct moon_conf_policy *policies; /* in the order they run */
	size_t n_policies;
};

/* The nested sections are named types so that the schema can place its rows
 * with offsetof; they are read as conf->tcp.idle_timeout_ms etc. */
struct moon_conf_udp {
	uint16_t max_payload;            /* our EDNS UDP payload size (default 1232) */
	unsigned batch;                  /* messages per recvmmsg/sendmmsg (default 32) */
};

struct moon_conf_tcp {
	uint32_t idle_timeout_ms;        /* default 10000 */
	uint32_t io_timeout_ms;          /* a started message must complete within this
					  * (default 2000) */
	uint32_t max_connections;        /* whole server, all workers together; default 1000 */
	uint32_t max_connections_per_client; /* per client address; default 64 */
	uint32_t max_queries_per_connection; /* 0 = unlimited; default 0 */
	uint32_t max_pending_bytes;      /* unsent response bytes per connection before we
					  * stop reading from it (default 131072) */
};

struct moon_conf_identity {
	char *nsid;                      /* NSID (RFC 5001) payload; NULL = option not answered */
	char *id_server;                 /* CHAOS TXT id.server, NULL = off (REFUSED) */
	char *hostname;                  /* CHAOS TXT hostname.bind */
	char *version;                   /* CHAOS TXT version.bind */
};

/* The operations HTTP endpoint (metrics/ops.h): closed when listen is NULL. */
struct moon_conf_http {
	char *listen;                    /* "ADDR:PORT" as written, or NULL */
	struct sockaddr_storage addr;    /* listen, parsed */
	socklen_t addrlen;
	bool coredns_compat;             /* also publish the coredns_* metric names */
	uint32_t lameduck_ms;            /* graceful shutdown period */
};

struct moon_conf {
	char *path;                      /* the file it came from, or load_string's name */
	unsigned workers;                /* 0 = one per CPU ("auto") */
	char *log_level;                 /* "error", "warning", "info" or "debug"
					  * (for moon_log_level_parse) */
	char *user;                      /* `user`: switch to "name[:group]" after binding
					  * the listeners (server/privdrop.h); NULL = stay */
	struct moon_conf_udp udp;
	struct moon_conf_tcp tcp;
	struct moon_conf_identity identity;
	struct moon_conf_http http;
	struct moon_conf_lua lua;
	struct moon_conf_server *servers;
	size_t n_servers;                /* >= 1 */
};

/* Reads and validates a config file. Every problem is added to diag as
 * "file:line:column: key.path: message"; *out is set only on success.
 * Relative paths inside the config are resolved against the file's directory
 * (made absolute with the current directory if needed; symlinks are kept).
 * Returns 0, MOON_ESYNTAX/MOON_ESEMANTIC/MOON_ELIMIT for a bad config, or
 * -errno when the file cannot be read. */
int moon_conf_load_file(const char *path, struct moon_conf **out, struct moon_diag *diag);
/* Same for YAML text; `name` stands for the file name in messages and
 * relative paths resolve against the current directory. */
int moon_conf_load_string(const char *yaml, const char *name, struct moon_conf **out,
			  struct moon_diag *diag);
/* Frees a config from either loader; NULL is a no-op. */
void moon_conf_free(struct moon_conf *conf);

/*
 * For reload: compares every key that a reload cannot apply (the schema rows
 * without the reloadable flag, e.g. workers, udp.batch) and adds one line per
 * changed key to diag ("workers: changed from auto to 4; restart moondns to
 * apply it"). Returns the number of such keys, 0 when `next` can be swapped in
 * as it is. The messages carry next->path as their file name.
 */
int moon_conf_diff_restart(const struct moon_conf *cur, const struct moon_conf *next,
			   struct moon_diag *diag);

/* Whether key (a key of a server block, e.g. "cache") has the same value in
 * a and b, every key below it compared (internal fields aside). */
bool moon_conf_server_same(const struct moon_conf_server *a, const struct moon_conf_server *b,
			   const char *key);

/* Calls fn(arg, path) for every file the config names: every value of a
 * path-typed key (zone files, and any later key declared MOON_CONF_PATH in
 * the schema: policies, certificates), absolute, in schema order. The
 * reload watcher watches these files (server/watch.h). */
void moon_conf_each_path(const struct moon_conf *conf, void (*fn)(void *arg, const char *path),
			 void *arg);

/* The embedded lab default (127.0.0.1:5353, inline lab.test. zone). */
extern const char moon_conf_default_yaml[];

/* Writes the reference documentation (Markdown) generated from the schema:
 * what src/conf/confdoc prints and doc/config.md holds. */
void moon_conf_write_doc(FILE *out);

#endif
