/*
 * Checks that span several keys, run by the walker once a mapping is read
 * (schema rows' `check`). They see typed values that may be incomplete when
 * an earlier error left a field unset, so every pointer is tested; the YAML
 * node of a value is looked up again only to point the message at it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/schema.h"
#include "conf/value.h"
#include "wire/name.h"

/* Node of element i of the list under `key` in map, or NULL. */
static const struct moon_ynode *list_item(const struct moon_ynode *map, const char *key,
					  size_t i)
{
	const struct moon_ynode *list = moon__ymap_get(map, key);
	return list && list->kind == MOON_YSEQ && i < list->n ? list->items[i] : NULL;
}

/* Reports at map[key][i] (or at map when that is missing; map may be any
 * node) under path "key[i]" (or "key" when i is SIZE_MAX) below the current
 * one, and "key[i].sub" when sub is given. */
static void error_in(struct moon_conf_walk *w, const struct moon_ynode *map, const char *key,
		     size_t i, const char *sub, const char *msg)
{
	const struct moon_ynode *node = i == SIZE_MAX ? moon__ymap_get(map, key)
						      : list_item(map, key, i);
	size_t mark = moon__conf_path_key(w, key);
	if (i != SIZE_MAX)
		moon__conf_path_index(w, i);
	if (sub) {
		moon__conf_path_key(w, sub);
		if (moon__ymap_get(node, sub))
			node = moon__ymap_get(node, sub);
	}
	moon__conf_error(w, node ? node : map, "%s", msg);
	moon__conf_path_pop(w, mark);
}

void moon__conf_check_zone_file(struct moon_conf_walk *w, const struct moon_ynode *map,
				const struct moon_ynode *at, void *base)
{
	struct moon_conf_zone_file *zf = base;
	if (zf->file && zf->text)
		moon__conf_error(w, at, "give either file or inline, not both");
	else if (!zf->file && !zf->text)
		moon__conf_error(w, at, "needs file or inline");
	if (asprintf(&zf->where, "%s:%u", w->file, at->line) < 0) {
		zf->where = NULL;
		moon__conf_error(w, at, "out of memory");
	}
}

static bool valid_server_name(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++) {
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && !strchr("-_.", *p))
			return false;
	}
	return true;
}

static void check_listen(struct moon_conf_walk *w, const struct moon_ynode *map,
			 const struct moon_conf_server *s)
{
	for (size_t i = 0; i < s->n_listen; i++) {
		/* Never cleartext where the operator asked for TLS. */
		if (s->listen[i].uri && s->listen[i].proto == MOON_LISTEN_TLS && !s->tls.enabled)
			error_in(w, map, "listen", i, NULL, "tls:// listeners need a tls: "
				 "section with cert and key");
	}
}

/* Names in lowercase wire form, sorted, so that duplicate and containment
 * tests stay O(n log n) for blocks with many thousands of zones. */
struct name_key {
	uint8_t wire[MOON_NAME_MAXLEN];
	size_t len;
	size_t index;                    /* in the list the name came from */
};

static int cmp_key(const void *x, const void *y)
{
	const struct name_key *a = x, *b = y;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	int c = memcmp(a->wire, b->wire, a->len);
	if (c)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

/* names[i * stride] are the strings (absolute, already validated; NULL ones
 * are skipped). Returns the sorted keys and their count in *n, or NULL. */
static struct name_key *sorted_names(const void *first, size_t count, size_t stride, size_t *n)
{
	struct name_key *keys = calloc(count ? count : 1, sizeof(*keys));
	if (!keys)
		return NULL;
	*n = 0;
	for (size_t i = 0; i < count; i++) {
		const char *name = *(char *const *)((const uint8_t *)first + i * stride);
		struct name_key *k = &keys[*n];
		int len = name ? moon_name_from_text(name, NULL, k->wire) : -1;
		if (len < 0)
			continue;
		k->len = moon_name_tolower(k->wire, k->wire);
		k->index = i;
		(*n)++;
	}
	qsort(keys, *n, sizeof(*keys), cmp_key);
	return keys;
}

static bool same_name(const struct name_key *a, const struct name_key *b)
{
	return a->len == b->len && !memcmp(a->wire, b->wire, a->len);
}

/* Marks dup[index] for every name equal to an earlier one in the list. */
static void mark_duplicates(const struct name_key *keys, size_t n, bool *dup)
{
	for (size_t i = 1; i < n; i++)
		dup[keys[i].index] = same_name(&keys[i - 1], &keys[i]);
}

/* zones defaults to the zone_files' origins, each once, in config order. */
static void default_zones(struct moon_conf_walk *w, const struct moon_ynode *map,
			  struct moon_conf_server *s, const bool *dup)
{
	if (!s->n_zone_files)
		return;
	s->zones = calloc(s->n_zone_files, sizeof(*s->zones));
	if (!s->zones) {
		moon__conf_error(w, map, "out of memory");
		return;
	}
	for (size_t i = 0; i < s->n_zone_files; i++) {
		const char *origin = s->zone_files[i].origin;
		if (origin && !dup[i] && !(s->zones[s->n_zones++] = strdup(origin)))
			moon__conf_error(w, map, "out of memory");
	}
}

/* The origin or one of its parents is among the sorted zones. */
static bool inside_zones(const struct name_key *zones, size_t n, const char *origin)
{
	struct name_key k = { .index = 0 };
	if (!origin || moon_name_from_text(origin, NULL, k.wire) < 0)
		return true;    /* already reported */
	moon_name_tolower(k.wire, k.wire);
	for (const uint8_t *p = k.wire;; p = moon_name_parent(p)) {
		struct name_key probe = { .len = moon_name_len(p) };
		memcpy(probe.wire, p, probe.len);
		/* Compare without the index: look for the first key of this name. */
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (cmp_key(&zones[mid], &probe) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && same_name(&zones[lo], &probe))
			return true;
		if (!*p)
			return false;
	}
}

static void check_dups(struct moon_conf_walk *w, const struct moon_ynode *map,
		       const char *key, const char *sub, const struct name_key *keys, size_t n)
{
	char msg[MOON_CONF_ERRLEN], name[MOON_NAME_TEXT_MAXLEN];
	for (size_t i = 1; i < n; i++) {
		if (!same_name(&keys[i - 1], &keys[i]))
			continue;
		moon_name_to_text(keys[i].wire, name, sizeof(name));
		snprintf(msg, sizeof(msg), "'%s' is already listed as %s[%zu]", name, key,
			 keys[i - 1].index);
		error_in(w, map, key, keys[i].index, sub, msg);
	}
}

static void check_zones(struct moon_conf_walk *w, const struct moon_ynode *map,
			struct moon_conf_server *s)
{
	bool explicit = moon__ymap_get(map, "zones") != NULL;
	size_t n_origins, n_zones;
	const void *first = s->zone_files ? &s->zone_files[0].origin : NULL;
	struct name_key *origins = sorted_names(first, s->n_zone_files, sizeof(*s->zone_files),
						&n_origins);
	bool *dup = calloc(s->n_zone_files + 1, sizeof(*dup));
	if (!origins || !dup)
		goto fail_oom;
	check_dups(w, map, "zone_files", "origin", origins, n_origins);
	mark_duplicates(origins, n_origins, dup);
	if (!explicit)
		default_zones(w, map, s, dup);
	if (!s->n_zones && !explicit)
		error_in(w, map, "zones", SIZE_MAX, NULL,
			 "a server block needs zones or zone_files to answer for");
	struct name_key *zones = sorted_names(s->zones, s->n_zones, sizeof(*s->zones), &n_zones);
	if (!zones)
		goto fail_oom;
	if (explicit)
		check_dups(w, map, "zones", NULL, zones, n_zones);
	char msg[MOON_CONF_ERRLEN];
	for (size_t i = 0; i < s->n_zone_files; i++) {
		const char *origin = s->zone_files[i].origin;
		if (inside_zones(zones, n_zones, origin))
			continue;
		snprintf(msg, sizeof(msg), "zone '%s' is not inside any of the block's zones",
			 origin);
		error_in(w, map, "zone_files", i, "origin", msg);
	}
	free(zones);
	free(dup);
	free(origins);
	return;
fail_oom:
	moon__conf_error(w, map, "out of memory");
	free(dup);
	free(origins);
}

/* Below, `map` is the block's node: a mapping, or the null that stood for it
 * (lookups in it then find nothing and errors point at it). */
void moon__conf_check_server(struct moon_conf_walk *w, const struct moon_ynode *map,
			     const struct moon_ynode *at, void *base)
{
	struct moon_conf_server *s = base;
	map = map ? map : at;
	if (s->name && !valid_server_name(s->name))
		error_in(w, map, "name", SIZE_MAX, NULL,
			 "use only letters, digits, '-', '_' and '.' in names");
	check_listen(w, map, s);
	check_zones(w, map, s);
}

/* One (listener, zone) pair of one block, for finding clashes by sorting. */
struct pair {
	const struct moon_conf_listen *listen;
	const char *zone;                /* NULL: only the listener matters */
	size_t server, listen_index, zone_index;
};

static int cmp_addr(const struct moon_conf_listen *a, const struct moon_conf_listen *b)
{
	if (a->addr.ss_family != b->addr.ss_family)
		return a->addr.ss_family < b->addr.ss_family ? -1 : 1;
	if (a->addrlen != b->addrlen)
		return a->addrlen < b->addrlen ? -1 : 1;
	return memcmp(&a->addr, &b->addr, a->addrlen);
}

static int cmp_pair(const void *x, const void *y)
{
	const struct pair *a = x, *b = y;
	int c = cmp_addr(a->listen, b->listen);
	if (c)
		return c;
	if (a->listen->proto != b->listen->proto)
		return a->listen->proto < b->listen->proto ? -1 : 1;
	if (a->zone && b->zone && (c = strcasecmp(a->zone, b->zone)))
		return c;
	/* Equal keys sort in config order, so the later entry is the one blamed. */
	if (a->server != b->server)
		return a->server < b->server ? -1 : 1;
	if (a->listen_index != b->listen_index)
		return a->listen_index < b->listen_index ? -1 : 1;
	return a->zone_index < b->zone_index ? -1 : a->zone_index > b->zone_index;
}

/* Points at where servers[i] got zone k: its zones list, or the zone_files
 * entry whose origin it is. */
static void zone_error(struct moon_conf_walk *w, const struct moon_ynode *servers,
		       const struct moon_conf *conf, const struct pair *p, const char *msg)
{
	const struct moon_conf_server *s = &conf->servers[p->server];
	const struct moon_ynode *map = servers && p->server < servers->n ? servers->items[p->server]
									  : NULL;
	size_t mark = moon__conf_path_key(w, "servers");
	moon__conf_path_index(w, p->server);
	if (moon__ymap_get(map, "zones")) {
		error_in(w, map, "zones", p->zone_index, NULL, msg);
	} else {
		size_t j = 0;
		while (j + 1 < s->n_zone_files && (!s->zone_files[j].origin ||
						   strcasecmp(s->zone_files[j].origin, p->zone)))
			j++;
		error_in(w, map, "zone_files", j, "origin", msg);
	}
	moon__conf_path_pop(w, mark);
}

static struct pair *collect_pairs(const struct moon_conf *conf, bool with_zones, size_t *n)
{
	size_t total = 0;
	for (size_t i = 0; i < conf->n_servers; i++)
		total += conf->servers[i].n_listen * (with_zones ? conf->servers[i].n_zones : 1);
	struct pair *pairs = calloc(total ? total : 1, sizeof(*pairs));
	if (!pairs)
		return NULL;
	*n = 0;
	for (size_t i = 0; i < conf->n_servers; i++) {
		const struct moon_conf_server *s = &conf->servers[i];
		for (size_t j = 0; j < s->n_listen; j++) {
			if (!s->listen[j].uri)
				continue;
			for (size_t k = 0; k < (with_zones ? s->n_zones : 1); k++) {
				if (with_zones && !s->zones[k])
					continue;
				pairs[(*n)++] = (struct pair){ .listen = &s->listen[j], .server = i,
					.zone = with_zones ? s->zones[k] : NULL, .listen_index = j,
					.zone_index = k };
			}
		}
	}
	qsort(pairs, *n, sizeof(*pairs), cmp_pair);
	return pairs;
}

/* The same zone on the same listener in two blocks: no way to route it. */
static const struct pair *zone_clash(const struct pair *a, const struct pair *b, char *msg)
{
	if (a->server == b->server || !moon__conf_listen_equal(a->listen, b->listen) ||
	    strcasecmp(a->zone, b->zone))
		return NULL;
	snprintf(msg, MOON_CONF_ERRLEN, "zone '%s' on %s is already served by servers[%zu]",
		 b->zone, b->listen->uri, a->server);
	return b;
}

static void listen_error(struct moon_conf_walk *w, const struct moon_ynode *servers,
			 const struct moon_conf *conf, const struct pair *p, const char *msg)
{
	const struct moon_ynode *map = p->server < servers->n ? servers->items[p->server] : NULL;
	size_t mark = moon__conf_path_key(w, "servers");
	moon__conf_path_index(w, p->server);
	error_in(w, map, "listen", p->listen_index, NULL, msg);
	moon__conf_path_pop(w, mark);
}

/* dns:// and tls:// on one address: the pairs are sorted by protocol there,
 * so blame whichever comes later in the file, and return it. */
static const struct pair *port_clash(const struct pair *a, const struct pair *b, char *msg)
{
	if (a->server > b->server ||
	    (a->server == b->server && a->listen_index > b->listen_index)) {
		const struct pair *t = a;
		a = b;
		b = t;
	}
	char other[64] = "";
	if (a->server != b->server)
		snprintf(other, sizeof(other), "servers[%zu].", a->server);
	snprintf(msg, MOON_CONF_ERRLEN, "'%s' and %slisten[%zu] '%s' use the same TCP port",
		 b->listen->uri, other, a->listen_index, a->listen->uri);
	return b;
}

/* A listener twice in one block is a typo; dns:// takes the TCP port too, so
 * it cannot share an address with tls://. */
static const struct pair *listen_clash(const struct pair *a, const struct pair *b, char *msg)
{
	if (cmp_addr(a->listen, b->listen))
		return NULL;
	if (a->listen->proto != b->listen->proto)
		return port_clash(a, b, msg);
	if (a->server != b->server)
		return NULL;
	snprintf(msg, MOON_CONF_ERRLEN, "'%s' is the same address as listen[%zu]",
		 b->listen->uri, a->listen_index);
	return b;
}

/* Fills msg and returns the pair to blame when neighbours a and b clash, or NULL. */
typedef const struct pair *clash_fn(const struct pair *a, const struct pair *b, char *msg);
typedef void report_fn(struct moon_conf_walk *w, const struct moon_ynode *servers,
		       const struct moon_conf *conf, const struct pair *p, const char *msg);

/* Clashing pairs sort next to each other, so one pass over neighbours finds them all. */
static void check_pairs(struct moon_conf_walk *w, const struct moon_ynode *servers,
			const struct moon_conf *conf, bool with_zones, clash_fn *clash,
			report_fn *report)
{
	size_t n;
	struct pair *pairs = collect_pairs(conf, with_zones, &n);
	if (!pairs) {
		moon__conf_error(w, servers, "out of memory");
		return;
	}
	char msg[MOON_CONF_ERRLEN];
	for (size_t i = 1; i < n; i++) {
		const struct pair *b = clash(&pairs[i - 1], &pairs[i], msg);
		if (b)
			report(w, servers, conf, b, msg);
	}
	free(pairs);
}

static int cmp_name(const void *x, const void *y)
{
	const struct moon_conf_server *a = *(const struct moon_conf_server *const *)x;
	const struct moon_conf_server *b = *(const struct moon_conf_server *const *)y;
	int c = strcmp(a->name, b->name);
	return c ? c : (a < b ? -1 : a > b);
}

static void check_names(struct moon_conf_walk *w, const struct moon_ynode *servers,
			const struct moon_conf *conf)
{
	const struct moon_conf_server **by_name = calloc(conf->n_servers + 1, sizeof(*by_name));
	size_t n = 0;
	if (!by_name) {
		moon__conf_error(w, servers, "out of memory");
		return;
	}
	for (size_t i = 0; i < conf->n_servers; i++) {
		if (conf->servers[i].name)
			by_name[n++] = &conf->servers[i];
	}
	qsort(by_name, n, sizeof(*by_name), cmp_name);
	char msg[MOON_CONF_ERRLEN];
	for (size_t i = 1; i < n; i++) {
		if (strcmp(by_name[i - 1]->name, by_name[i]->name))
			continue;
		size_t first = (size_t)(by_name[i - 1] - conf->servers);
		size_t at = (size_t)(by_name[i] - conf->servers);
		snprintf(msg, sizeof(msg), "'%s' is already the name of servers[%zu]",
			 by_name[i]->name, first);
		size_t mark = moon__conf_path_key(w, "servers");
		moon__conf_path_index(w, at);
		error_in(w, servers->items[at], "name", SIZE_MAX, NULL, msg);
		moon__conf_path_pop(w, mark);
	}
	free(by_name);
}

void moon__conf_check_root(struct moon_conf_walk *w, const struct moon_ynode *map,
			   const struct moon_ynode *at, void *base)
{
	const struct moon_conf *conf = base;
	const struct moon_ynode *servers = moon__ymap_get(map, "servers");
	if (!servers || servers->kind != MOON_YSEQ)
		return;
	check_names(w, servers, conf);
	check_pairs(w, servers, conf, false, listen_clash, listen_error);
	check_pairs(w, servers, conf, true, zone_clash, zone_error);
}

/* http.listen is "ADDR:PORT" with the port required: an endpoint on a
 * guessed port would only surprise. Parsed once here for the server. */
void moon__conf_check_http(struct moon_conf_walk *w, const struct moon_ynode *map,
			   const struct moon_ynode *at, void *base)
{
	struct moon_conf_http *h = base;
	if (!h->listen)
		return;
	const char *colon = strrchr(h->listen, ':'), *bracket = strrchr(h->listen, ']');
	char uri[96], err[MOON_CONF_ERRLEN], msg[MOON_CONF_ERRLEN];
	struct moon_conf_listen l = { 0 };
	snprintf(uri, sizeof(uri), "dns://%s", h->listen);
	if (!colon || (bracket && colon < bracket) || moon__conf_parse_listen(uri, &l, err) < 0) {
		snprintf(msg, sizeof(msg), "bad address '%s': expected ADDR:PORT, IPv6 as "
			 "[ADDR]:PORT", h->listen);
		error_in(w, map ? map : at, "listen", SIZE_MAX, NULL, msg);
		return;
	}
	h->addr = l.addr;
	h->addrlen = l.addrlen;
}

/* A present query_log turns the log on; its format must be one the query
 * log compiles (qlog/format.h), and a relative file is taken relative to
 * the config file, like every other path. */
void moon__conf_check_query_log(struct moon_conf_walk *w, const struct moon_ynode *map,
				const struct moon_ynode *at, void *base)
{
	struct moon_conf_query_log *q = base;
	q->enabled = map != NULL;
	if (!map)
		return;
	const char *f = q->format;
	if (f && strcmp(f, "common") && strcmp(f, "combined") && strcmp(f, "json") &&
	    !strchr(f, '{'))
		error_in(w, map, "format", SIZE_MAX, NULL, "expected common, combined, json or a "
			 "format with {placeholders}");
	if (q->to && q->to[0] != '/' && strcmp(q->to, "stdout") && strcmp(q->to, "stderr")) {
		char *abs = NULL;
		if (asprintf(&abs, "%s/%s", w->basedir, q->to) < 0) {
			error_in(w, map, "to", SIZE_MAX, NULL, "out of memory");
			return;
		}
		free(q->to);
		q->to = abs;
	}
}
