/*
 * The configuration: a YAML file read by libyaml and checked against one
 * declarative schema table (src/conf/schema.c). Every key has a type, a
 * default, a range and a one-line doc; the same table drives validation,
 * `moondns check`, and the generated doc/config.md.
 *
 * A loaded moon_conf is immutable and self-contained (it owns every string
 * and array in it). It is the first half of a config generation; the server
 * builds the rest (zones, listeners) from it. moon_conf_free() releases it.
 */
#ifndef MOON_CONF_CONF_H
#define MOON_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "util/diag.h"

enum moon_listen_proto { MOON_LISTEN_DNS /* UDP + TCP */, MOON_LISTEN_TLS };

struct moon_conf_listen {
	char *uri;                       /* as written, e.g. "dns://[::1]:5353" */
	enum moon_listen_proto proto;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

struct moon_conf_zone_file {
	char *origin;                    /* absolute, as written */
	char *file;                      /* absolute path (resolved against the config's directory), or NULL */
	char *text;                      /* inline zone text, or NULL */
	char *where;                     /* "config.yaml:LINE" of this entry, for errors */
	uint32_t default_ttl;
};

struct moon_conf_server {
	char *name;
	struct moon_conf_listen *listen;
	size_t n_listen;
	char **zones;                    /* absolute names this block serves */
	size_t n_zones;
	struct moon_conf_zone_file *zone_files;
	size_t n_zone_files;
};

struct moon_conf {
	char *path;                      /* the file it came from, or "<embedded default>" */
	unsigned workers;                /* 0 = one per CPU */
	char *log_level;
	struct {
		uint16_t max_payload;    /* our EDNS UDP payload size (default 1232) */
		unsigned batch;          /* messages per recvmmsg/sendmmsg (default 32) */
	} udp;
	struct {
		uint32_t idle_timeout_ms;        /* default 10000 */
		uint32_t io_timeout_ms;          /* a started message must complete within this (default 2000) */
		uint32_t max_connections;        /* per worker... see doc; default 1000 */
		uint32_t max_connections_per_client; /* default 64 */
		uint32_t max_queries_per_connection; /* 0 = unlimited; default 0 */
		uint32_t max_pending_bytes;      /* unsent response bytes per connection before we stop reading (default 131072) */
	} tcp;
	struct {
		char *nsid;                      /* NULL = off */
		char *id_server;                 /* CHAOS id.server, NULL = off (REFUSED) */
		char *hostname;                  /* CHAOS hostname.bind */
		char *version;                   /* CHAOS version.bind */
	} identity;
	struct moon_conf_server *servers;
	size_t n_servers;
};

/* Reads and validates a config file. Every problem is added to diag as
 * "file:line:column: key.path: message"; *out is set only on success.
 * Relative paths inside the config are resolved against the file's directory. */
int moon_conf_load_file(const char *path, struct moon_conf **out, struct moon_diag *diag);
/* Same for YAML text; `name` stands for the file name in messages and
 * relative paths resolve against the current directory. */
int moon_conf_load_string(const char *yaml, const char *name, struct moon_conf **out,
			  struct moon_diag *diag);
void moon_conf_free(struct moon_conf *conf);

/* The embedded lab default (127.0.0.1:5353, inline lab.test. zone). */
extern const char moon_conf_default_yaml[];

/* Writes the reference documentation (Markdown) generated from the schema. */
void moon_conf_write_doc(FILE *out);

#endif
