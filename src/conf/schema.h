/*
 * The config schema (internal to src/conf): one tree of moon_conf_item rows
 * that says, for every key, its name, type, range, default, whether a reload
 * can change it, a one-line doc, and where its value lives in the typed C
 * structs of conf.h (offsetof). The YAML walker (conf.c), the generated
 * reference (doc.c) and the reload comparison all read this one table.
 *
 * Shape: the root is a MAP item. A MAP's `children` is an array of rows ended
 * by a row with name NULL; its fields live at base + off, so a map with
 * off = 0 just groups keys of the parent struct. A LIST's `children` points to
 * exactly one row, the element: its `size` is sizeof(element) and an element
 * value lives at offset `off` of it (0 for a scalar element, which is the
 * element itself). A LIST stores a malloc'ed array pointer at `off` and a
 * size_t count at `count_off` of the parent.
 *
 * Adding a key = adding a struct field to conf.h and a row here (plus a
 * check hook when the key depends on others). A row's default is text in
 * the key's own syntax, read by the same parser as the YAML value, so the
 * doc shows exactly what an operator would write.
 */
#ifndef MOON_CONF_SCHEMA_H
#define MOON_CONF_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "conf/yaml.h"

enum moon_conf_type {
	MOON_CONF_BOOL,     /* bool */
	MOON_CONF_INT,      /* unsigned integer field of `size` bytes, min..max */
	MOON_CONF_STR,      /* char *, at most max bytes (0 = no bound) */
	MOON_CONF_ENUM,     /* char *, one of `values` */
	MOON_CONF_DURATION, /* "500ms" "10s" "2m" "1h" "1d" or plain seconds; stored in `unit_ms` */
	MOON_CONF_SIZE,     /* "512" "64k" "1M" "1G" (powers of 1024); stored in bytes */
	MOON_CONF_PATH,     /* char *, made absolute against the config's directory */
	MOON_CONF_LISTEN,   /* struct moon_conf_listen from "dns://ADDR[:PORT]" / "tls://..." */
	MOON_CONF_DNAME,    /* char *, absolute domain name with trailing dot */
	MOON_CONF_LIST,     /* array + count, element row in children[0] */
	MOON_CONF_MAP,      /* nested keys in children */
	MOON_CONF_ANY,      /* any YAML value, kept as a Lua table constructor (char *,
			     * NULL for null): the options of Lua policies */
};

enum moon_conf_flags {
	MOON_CONF_REQUIRED = 1 << 0, /* absence is an error */
	MOON_CONF_RELOAD = 1 << 1,   /* a reload applies a change; without it a restart is needed */
	MOON_CONF_NULLABLE = 1 << 2, /* null is allowed and stores NULL (strings) */
	MOON_CONF_AUTO = 1 << 3,     /* INT: "auto" is allowed and stores 0 */
	MOON_CONF_INTERNAL = 1 << 4, /* filled by a hook, not from YAML; not documented */
	MOON_CONF_NAMED = 1 << 6,    /* MAP list element: `- KEY: VALUE`, KEY not one of its
				      * keys, reads as { <1st key>: KEY, <2nd key>: VALUE } */
	MOON_CONF_OPTIONAL = 1 << 5, /* MAP: off unless given; a boolean value (`off`, `on`)
				      * turns it off or on with defaults. The section's struct
				      * starts with a bool that says whether it is on */
};

struct moon_conf_item;
struct moon_conf_walk;

/* Runs after a MAP's keys were read (and after its children's hooks), with
 * the map node (NULL when the map was absent or null), a node to report
 * problems at when there is no better one (never NULL) and the map's struct.
 * Reports problems with moon__conf_error(). */
typedef void (*moon_conf_check_fn)(struct moon_conf_walk *w, const struct moon_ynode *map,
				   const struct moon_ynode *at, void *base);

struct moon_conf_item {
	const char *name;
	enum moon_conf_type type;
	unsigned flags;
	size_t off;                      /* of the value in the parent struct */
	size_t size;                     /* INT: field bytes; list element row: element bytes */
	size_t count_off;                /* LIST: of the size_t count in the parent struct */
	int64_t min, max;                /* INT/DURATION/SIZE: range (stored unit);
					  * STR: max = most bytes; LIST: min = fewest entries */
	uint32_t unit_ms;                /* DURATION: 1 = stored in ms, 1000 = in seconds */
	const char *const *values;       /* ENUM: NULL-terminated */
	const char *def;                 /* default in the key's syntax; NULL = none */
	const char *def_doc;             /* default as the doc shows it when not `def` */
	const char *doc;                 /* one line */
	const struct moon_conf_item *children;
	moon_conf_check_fn check;
};

/* The whole config. */
extern const struct moon_conf_item moon__conf_schema;

/* State of one load, shared by the walker and the check hooks. */
struct moon_conf_walk {
	struct moon_diag *diag;
	const char *file;                /* name used in messages */
	const char *basedir;             /* absolute directory for relative paths */
	char path[512];                  /* key path of the node being read */
	size_t pathlen;
	size_t errors;
};

/* Adds "FILE:LINE:COL: PATH: message" for node (position 0:0 if NULL). */
void moon__conf_error(struct moon_conf_walk *w, const struct moon_ynode *node, const char *fmt,
		      ...) __attribute__((format(printf, 3, 4)));
/* Path stack: push ".name" (or "name" at the root) / "[i]"; pop restores. */
size_t moon__conf_path_key(struct moon_conf_walk *w, const char *key);
size_t moon__conf_path_index(struct moon_conf_walk *w, size_t i);
void moon__conf_path_pop(struct moon_conf_walk *w, size_t mark);

/* Check hooks used by schema.c (check.c). */
void moon__conf_check_zone_file(struct moon_conf_walk *w, const struct moon_ynode *map,
		                const struct moon_ynode *at, void *base);
void moon__conf_check_server(struct moon_conf_walk *w, const struct moon_ynode *map,
		             const struct moon_ynode *at, void *base);
void moon__conf_check_root(struct moon_conf_walk *w, const struct moon_ynode *map,
		           const struct moon_ynode *at, void *base);

/* servers[].policies and `lua` (schema_lua.c). */
extern const struct moon_conf_item moon__conf_policy_elem;
extern const struct moon_conf_item moon__conf_lua_keys[];
/* An options value as a Lua table constructor into *out (freed first);
 * 0, or MOON_ESYNTAX with err (MOON_CONF_ERRLEN bytes). */
int moon__conf_lua_value(const struct moon_ynode *node, char **out, char *err);

/* servers[].forward and servers[].cache (schema_fwd.c). */
extern const struct moon_conf_item moon__conf_forward_keys[];
extern const struct moon_conf_item moon__conf_cache_keys[];
void moon__conf_check_forward(struct moon_conf_walk *w, const struct moon_ynode *map,
			      const struct moon_ynode *at, void *base);
void moon__conf_check_cache(struct moon_conf_walk *w, const struct moon_ynode *map,
			    const struct moon_ynode *at, void *base);

/* servers[].tls (schema_tls.c). */
extern const struct moon_conf_item moon__conf_tls_keys[];
void moon__conf_check_tls(struct moon_conf_walk *w, const struct moon_ynode *map,
			  const struct moon_ynode *at, void *base);

/* Check hooks of the operations keys (check.c). */
void moon__conf_check_http(struct moon_conf_walk *w, const struct moon_ynode *map,
			   const struct moon_ynode *at, void *base);
void moon__conf_check_query_log(struct moon_conf_walk *w, const struct moon_ynode *map,
				const struct moon_ynode *at, void *base);

/* A full example config using every key (shown in the doc, loaded by tests). */
extern const char moon__conf_example_yaml[];

#endif
