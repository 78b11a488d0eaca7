/*
 * Loading: YAML text -> node tree (yaml.c) -> typed struct moon_conf, driven
 * by the schema table. Defaults are applied first, from the rows' default
 * text, then every key present overwrites its field; check hooks (check.c)
 * run bottom-up once a mapping is read. Errors never stop the walk, so one
 * load reports every problem it can see.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/schema.h"
#include "conf/value.h"
#include "conf/yaml.h"
#include "util/assert.h"
#include "util/err.h"

/* Keys longer than this are cut in key paths (they are unknown anyway). */
#define PATH_KEY_MAX 64

void moon__conf_error(struct moon_conf_walk *w, const struct moon_ynode *node, const char *fmt,
		      ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	unsigned line = node ? node->line : 0, col = node ? node->col : 0;
	if (w->pathlen)
		moon_diag_add(w->diag, w->file, line, col, "%s: %s", w->path, msg);
	else
		moon_diag_add(w->diag, w->file, line, col, "%s", msg);
	w->errors++;
}

static size_t path_append(struct moon_conf_walk *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static size_t path_append(struct moon_conf_walk *w, const char *fmt, ...)
{
	size_t mark = w->pathlen;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(w->path + mark, sizeof(w->path) - mark, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->pathlen = mark + (size_t)n < sizeof(w->path) ? mark + (size_t)n
								 : sizeof(w->path) - 1;
	return mark;
}

size_t moon__conf_path_key(struct moon_conf_walk *w, const char *key)
{
	return path_append(w, "%s%.*s", w->pathlen ? "." : "", PATH_KEY_MAX, key);
}

size_t moon__conf_path_index(struct moon_conf_walk *w, size_t i)
{
	return path_append(w, "[%zu]", i);
}

void moon__conf_path_pop(struct moon_conf_walk *w, size_t mark)
{
	w->pathlen = mark;
	w->path[mark] = 0;
}

static void store_uint(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case 1: *(uint8_t *)field = (uint8_t)v; break;
	case 2: *(uint16_t *)field = (uint16_t)v; break;
	case 4: *(uint32_t *)field = (uint32_t)v; break;
	default: moon_require(size == 8); *(uint64_t *)field = v; break;
	}
}

static uint64_t load_uint(const void *field, size_t size)
{
	switch (size) {
	case 1: return *(const uint8_t *)field;
	case 2: return *(const uint16_t *)field;
	case 4: return *(const uint32_t *)field;
	default: return *(const uint64_t *)field;
	}
}

static int set_string(char **field, char *copy, char *err)
{
	if (!copy) {
		snprintf(err, MOON_CONF_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

static int out_of_range(const struct moon_conf_item *it, const char *text, char *err)
{
	char lo[32], hi[32];
	if (it->type == MOON_CONF_DURATION) {
		moon__conf_format_duration((uint64_t)it->min * it->unit_ms, lo, sizeof(lo));
		moon__conf_format_duration((uint64_t)it->max * it->unit_ms, hi, sizeof(hi));
	} else if (it->type == MOON_CONF_SIZE) {
		moon__conf_format_size((uint64_t)it->min, lo, sizeof(lo));
		moon__conf_format_size((uint64_t)it->max, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%lld", (long long)it->min);
		snprintf(hi, sizeof(hi), "%lld", (long long)it->max);
	}
	snprintf(err, MOON_CONF_ERRLEN, "%s is out of range (%s to %s)", text, lo, hi);
	return MOON_ESYNTAX;
}

static int set_int(const struct moon_conf_item *it, const char *text, void *field, char *err)
{
	int64_t v;
	if ((it->flags & MOON_CONF_AUTO) && !strcmp(text, "auto")) {
		store_uint(field, it->size, 0);
		return 0;
	}
	if (moon__conf_parse_int(text, &v, err) < 0) {
		if (it->flags & MOON_CONF_AUTO)
			snprintf(err, MOON_CONF_ERRLEN, "expected auto or a whole number, got '%s'",
				 text);
		return MOON_ESYNTAX;
	}
	if (v < it->min || v > it->max)
		return out_of_range(it, text, err);
	store_uint(field, it->size, (uint64_t)v);
	return 0;
}

static int set_duration(const struct moon_conf_item *it, const char *text, void *field,
			char *err)
{
	uint64_t ms;
	if (moon__conf_parse_duration(text, &ms, err) < 0)
		return MOON_ESYNTAX;
	if (ms % it->unit_ms) {
		snprintf(err, MOON_CONF_ERRLEN, "%s is not a whole number of seconds", text);
		return MOON_ESYNTAX;
	}
	uint64_t v = ms / it->unit_ms;
	if (v < (uint64_t)it->min || v > (uint64_t)it->max)
		return out_of_range(it, text, err);
	store_uint(field, it->size, v);
	return 0;
}

static int set_size(const struct moon_conf_item *it, const char *text, void *field, char *err)
{
	uint64_t v;
	if (moon__conf_parse_size(text, &v, err) < 0)
		return MOON_ESYNTAX;
	if (v < (uint64_t)it->min || v > (uint64_t)it->max)
		return out_of_range(it, text, err);
	store_uint(field, it->size, v);
	return 0;
}

static const char *expected(const struct moon_conf_item *it, char *buf, size_t len)
{
	switch (it->type) {
	case MOON_CONF_BOOL: return "true or false";
	case MOON_CONF_INT: return it->flags & MOON_CONF_AUTO ? "auto or a whole number"
							       : "a whole number";
	case MOON_CONF_STR: return "a string";
	case MOON_CONF_DURATION: return "a duration";
	case MOON_CONF_SIZE: return "a size";
	case MOON_CONF_PATH: return "a path";
	case MOON_CONF_LISTEN: return "a listen address";
	case MOON_CONF_DNAME: return "a domain name";
	case MOON_CONF_LIST: return "a list";
	case MOON_CONF_MAP: return it->flags & MOON_CONF_OPTIONAL ? "a mapping, on or off"
								  : "a mapping";
	case MOON_CONF_ANY: return "any value";
	case MOON_CONF_ENUM: break;
	}
	size_t n = (size_t)snprintf(buf, len, "one of");
	for (const char *const *v = it->values; *v && n < len; v++)
		n += (size_t)snprintf(buf + n, len - n, "%s %s", v == it->values ? "" : ",", *v);
	return buf;
}

static int set_enum(const struct moon_conf_item *it, const char *text, void *field, char *err)
{
	for (const char *const *v = it->values; *v; v++) {
		if (!strcmp(text, *v))
			return set_string(field, strdup(text), err);
	}
	char what[MOON_CONF_ERRLEN / 2];
	snprintf(err, MOON_CONF_ERRLEN, "expected %s, got '%s'", expected(it, what, sizeof(what)),
		 text);
	return MOON_ESYNTAX;
}

static int set_path(const char *text, const char *basedir, void *field, char *err)
{
	if (!*text) {
		snprintf(err, MOON_CONF_ERRLEN, "expected a path, got an empty string");
		return MOON_ESYNTAX;
	}
	char *copy = NULL;
	if (text[0] == '/')
		copy = strdup(text);
	else if (asprintf(&copy, "%s/%s", basedir, text) < 0)
		copy = NULL;
	return set_string(field, copy, err);
}

static int set_listen(const char *text, struct moon_conf_listen *l, char *err)
{
	int rc = moon__conf_parse_listen(text, l, err);
	if (rc < 0)
		return rc;
	return set_string(&l->uri, strdup(text), err);
}

static int set_dname(const char *text, void *field, char *err)
{
	char name[MOON_NAME_TEXT_MAXLEN];
	int rc = moon__conf_parse_dname(text, name, err);
	if (rc < 0)
		return rc;
	return set_string(field, strdup(name), err);
}

/* Converts scalar text to the row's type and stores it at field. */
static int set_scalar(const struct moon_conf_walk *w, const struct moon_conf_item *it,
		      const char *text, void *field, char *err)
{
	switch (it->type) {
	case MOON_CONF_BOOL:
		return moon__conf_parse_bool(text, field, err);
	case MOON_CONF_INT:
		return set_int(it, text, field, err);
	case MOON_CONF_STR:
		if (it->max && strlen(text) > (size_t)it->max) {
			snprintf(err, MOON_CONF_ERRLEN, "longer than %lld bytes",
				 (long long)it->max);
			return MOON_ESYNTAX;
		}
		return set_string(field, strdup(text), err);
	case MOON_CONF_ENUM:
		return set_enum(it, text, field, err);
	case MOON_CONF_DURATION:
		return set_duration(it, text, field, err);
	case MOON_CONF_SIZE:
		return set_size(it, text, field, err);
	case MOON_CONF_PATH:
		return set_path(text, w->basedir, field, err);
	case MOON_CONF_LISTEN:
		return set_listen(text, field, err);
	case MOON_CONF_DNAME:
		return set_dname(text, field, err);
	case MOON_CONF_LIST:
	case MOON_CONF_MAP:
	case MOON_CONF_ANY:
		break;
	}
	moon_require(!"not a scalar type");
	return MOON_ESYNTAX;
}

/* The rows' defaults are checked by the unit tests, so a failure here is a
 * bug in schema.c, not bad input. Lists have no default text. */
static void apply_defaults(const struct moon_conf_walk *w, const struct moon_conf_item *items,
			   uint8_t *base)
{
	for (const struct moon_conf_item *it = items; it->name; it++) {
		char err[MOON_CONF_ERRLEN];
		if (it->type == MOON_CONF_MAP)
			apply_defaults(w, it->children, base + it->off);
		else if (it->def && set_scalar(w, it, it->def, base + it->off, err) < 0)
			moon__require_failed(err, __FILE__, __LINE__);
	}
}

static void read_value(struct moon_conf_walk *w, const struct moon_conf_item *it,
		       const struct moon_ynode *node, uint8_t *base);

/* Edit distance of short strings, for "did you mean" on unknown keys. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[PATH_KEY_MAX + 1];
	if (la > PATH_KEY_MAX || lb > PATH_KEY_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

static void unknown_key(struct moon_conf_walk *w, const struct moon_conf_item *items,
			const struct moon_ynode *key)
{
	const char *best = NULL;
	/* Suggest only close misspellings: a short key is easily "close" to anything. */
	size_t len = strlen(key->value), best_d = len / 3 + 1 < 3 ? len / 3 + 1 : 3;
	for (const struct moon_conf_item *it = items; it->name; it++) {
		size_t d = distance(key->value, it->name);
		if (!(it->flags & MOON_CONF_INTERNAL) && d < best_d) {
			best = it->name;
			best_d = d;
		}
	}
	if (best)
		moon__conf_error(w, key, "unknown key (did you mean '%s'?)", best);
	else
		moon__conf_error(w, key, "unknown key");
}

static const struct moon_conf_item *find_key(const struct moon_conf_item *items, const char *name)
{
	for (const struct moon_conf_item *it = items; it->name; it++) {
		if (!(it->flags & MOON_CONF_INTERNAL) && !strcmp(it->name, name))
			return it;
	}
	return NULL;
}

/* Reads the keys of a mapping (node NULL or null: all absent) into base, then
 * reports missing required keys at `where` and runs the row's check hook. */
static void read_map(struct moon_conf_walk *w, const struct moon_conf_item *map,
		     const struct moon_ynode *node, const struct moon_ynode *where, uint8_t *base)
{
	const struct moon_ynode *seen[64] = { NULL };
	size_t n_items = 0;
	while (map->children[n_items].name)
		n_items++;
	moon_require(n_items <= 64);
	for (size_t i = 0; node && node->kind == MOON_YMAP && i + 1 < node->n; i += 2) {
		const struct moon_ynode *key = node->items[i], *value = node->items[i + 1];
		if (key->kind != MOON_YSCALAR) {
			moon__conf_error(w, key, "keys must be strings, not %s",
					 moon__ynode_what(key));
			continue;
		}
		size_t mark = moon__conf_path_key(w, key->value);
		const struct moon_conf_item *it = find_key(map->children, key->value);
		if (!it) {
			unknown_key(w, map->children, key);
		} else if (seen[it - map->children]) {
			const struct moon_ynode *first = seen[it - map->children];
			moon__conf_error(w, key, "duplicate key (first at line %u column %u)",
					 first->line, first->col);
		} else {
			seen[it - map->children] = key;
			read_value(w, it, value, base);
		}
		moon__conf_path_pop(w, mark);
	}
	for (size_t i = 0; i < n_items; i++) {
		const struct moon_conf_item *it = &map->children[i];
		if (seen[i] || (it->flags & MOON_CONF_INTERNAL))
			continue;
		size_t mark = moon__conf_path_key(w, it->name);
		if (it->flags & MOON_CONF_REQUIRED)
			moon__conf_error(w, where, "required key is missing");
		else if (it->type == MOON_CONF_MAP)
			read_map(w, it, NULL, where, base + it->off);
		moon__conf_path_pop(w, mark);
	}
	if (map->check)
		map->check(w, node && node->kind == MOON_YMAP ? node : NULL, where, base);
}

static void read_list(struct moon_conf_walk *w, const struct moon_conf_item *it,
		      const struct moon_ynode *node, uint8_t *base)
{
	const struct moon_conf_item *elem = it->children;
	if (node->n < (size_t)it->min)
		moon__conf_error(w, node, "needs at least %lld %s", (long long)it->min,
				 it->min == 1 ? "entry" : "entries");
	if (node->n == 0)
		return;
	uint8_t *array = calloc(node->n, elem->size);
	if (!array) {
		moon__conf_error(w, node, "out of memory");
		return;
	}
	/* Lists have no default, so there is no old array to free. */
	*(void **)(base + it->off) = array;
	*(size_t *)(base + it->count_off) = node->n;
	for (size_t i = 0; i < node->n; i++) {
		size_t mark = moon__conf_path_index(w, i);
		uint8_t *e = array + i * elem->size;
		if (elem->type == MOON_CONF_MAP)
			apply_defaults(w, elem->children, e);
		read_value(w, elem, node->items[i], e);
		moon__conf_path_pop(w, mark);
	}
}

/* MOON_CONF_NAMED: `- KEY: VALUE` with a KEY that is not one of the
 * element's keys is read as { <1st key>: KEY, <2nd key>: VALUE }. */
static bool read_named(struct moon_conf_walk *w, const struct moon_conf_item *it,
		       const struct moon_ynode *node, uint8_t *base)
{
	if (node->kind != MOON_YMAP || node->n != 2 || node->items[0]->kind != MOON_YSCALAR ||
	    find_key(it->children, node->items[0]->value))
		return false;
	const struct moon_ynode *key = node->items[0], *value = node->items[1];
	struct moon_ynode k1 = { .kind = MOON_YSCALAR, .line = key->line, .col = key->col,
				 .plain = true, .value = (char *)it->children[0].name };
	struct moon_ynode k2 = { .kind = MOON_YSCALAR, .line = value->line, .col = value->col,
				 .plain = true, .value = (char *)it->children[1].name };
	struct moon_ynode name = *key;
	name.plain = false;             /* the name is text, whatever it looks like */
	struct moon_ynode *items[4] = { &k1, &name, &k2, (struct moon_ynode *)value };
	struct moon_ynode map = *node;
	map.items = items;
	map.n = 4;
	read_map(w, it, &map, node, base + it->off);
	return true;
}

static void read_value(struct moon_conf_walk *w, const struct moon_conf_item *it,
		       const struct moon_ynode *node, uint8_t *base)
{
	bool null = moon__ynode_is_null(node);
	if (it->type == MOON_CONF_ANY) {
		char err[MOON_CONF_ERRLEN];
		if (moon__conf_lua_value(node, (char **)(base + it->off), err) < 0)
			moon__conf_error(w, node, "%s", err);
		return;
	}
	if (it->type == MOON_CONF_MAP && (it->flags & MOON_CONF_NAMED) &&
	    read_named(w, it, node, base))
		return;
	if (it->type == MOON_CONF_MAP && (it->flags & MOON_CONF_OPTIONAL) && !null &&
	    node->kind == MOON_YSCALAR) {
		char err[MOON_CONF_ERRLEN];
		bool *on = (bool *)(base + it->off);
		if (moon__conf_parse_bool(node->value, on, err) == 0) {
			if (*on)
				read_map(w, it, NULL, node, base + it->off);
			return;
		}
	}
	if (it->type == MOON_CONF_MAP && (node->kind == MOON_YMAP || null)) {
		if (it->flags & MOON_CONF_OPTIONAL)
			*(bool *)(base + it->off) = true;
		read_map(w, it, null ? NULL : node, node, base + it->off);
		return;
	}
	if (it->type == MOON_CONF_LIST && node->kind == MOON_YSEQ) {
		read_list(w, it, node, base);
		return;
	}
	if (it->type == MOON_CONF_MAP || it->type == MOON_CONF_LIST ||
	    node->kind != MOON_YSCALAR || (null && !(it->flags & MOON_CONF_NULLABLE))) {
		char what[MOON_CONF_ERRLEN / 2];
		moon__conf_error(w, node, "expected %s, got %s", expected(it, what, sizeof(what)),
				 moon__ynode_what(node));
		return;
	}
	if (null) {
		char **field = (char **)(base + it->off);
		free(*field);
		*field = NULL;
		return;
	}
	char err[MOON_CONF_ERRLEN];
	if (set_scalar(w, it, node->value, base + it->off, err) < 0)
		moon__conf_error(w, node, "%s", err);
}

static void free_item(const struct moon_conf_item *it, uint8_t *base)
{
	void *field = base + it->off;
	switch (it->type) {
	case MOON_CONF_STR:
	case MOON_CONF_ENUM:
	case MOON_CONF_PATH:
	case MOON_CONF_DNAME:
	case MOON_CONF_ANY:
		free(*(char **)field);
		break;
	case MOON_CONF_LISTEN:
		free(((struct moon_conf_listen *)field)->uri);
		break;
	case MOON_CONF_MAP:
		for (const struct moon_conf_item *c = it->children; c->name; c++)
			free_item(c, field);
		break;
	case MOON_CONF_LIST: {
		uint8_t *array = *(uint8_t **)field;
		size_t n = *(size_t *)(base + it->count_off);
		for (size_t i = 0; array && i < n; i++)
			free_item(it->children, array + i * it->children->size);
		free(array);
		break;
	}
	case MOON_CONF_BOOL:
	case MOON_CONF_INT:
	case MOON_CONF_DURATION:
	case MOON_CONF_SIZE:
		break;
	}
}

void moon_conf_free(struct moon_conf *conf)
{
	if (!conf)
		return;
	free_item(&moon__conf_schema, (uint8_t *)conf);
	free(conf->path);
	free(conf);
}

static int load_text(const char *text, size_t len, const char *name, const char *basedir,
		     struct moon_conf **out, struct moon_diag *diag)
{
	/* Where an empty document's missing keys are reported. */
	static const struct moon_ynode start = { .kind = MOON_YSCALAR, .line = 1, .col = 1 };
	struct moon_ynode *root;
	int rc = moon__yaml_parse(text, len, name, &root, diag);
	if (rc < 0)
		return rc;
	struct moon_conf *conf = calloc(1, sizeof(*conf));
	if (!conf || !(conf->path = strdup(name))) {
		free(conf);
		moon__yaml_free(root);
		return -ENOMEM;
	}
	struct moon_conf_walk w = { .diag = diag, .file = name, .basedir = basedir };
	apply_defaults(&w, moon__conf_schema.children, (uint8_t *)conf);
	if (root && root->kind != MOON_YMAP && !moon__ynode_is_null(root))
		moon__conf_error(&w, root, "the configuration must be a mapping of keys, not %s",
				 moon__ynode_what(root));
	else
		read_map(&w, &moon__conf_schema, root, root ? root : &start, (uint8_t *)conf);
	moon__yaml_free(root);
	if (w.errors) {
		moon_conf_free(conf);
		return MOON_ESEMANTIC;
	}
	*out = conf;
	return 0;
}

int moon_conf_load_string(const char *yaml, const char *name, struct moon_conf **out,
			  struct moon_diag *diag)
{
	char *cwd = getcwd(NULL, 0);
	if (!cwd) {
		int rc = -errno;
		moon_diag_add(diag, name, 0, 0, "cannot get the current directory: %s",
			      moon_strerror(rc));
		return rc;
	}
	int rc = load_text(yaml, strlen(yaml), name, cwd, out, diag);
	free(cwd);
	return rc;
}

/* The config's directory, absolute but with symlinks kept: a Kubernetes
 * ConfigMap directory is a symlink that moves on every update. */
static char *config_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL;
	if (slash == path)
		return strdup("/");
	if (path[0] == '/')
		return strndup(path, (size_t)(slash - path));
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	if (!slash)
		dir = strdup(cwd);
	else if (asprintf(&dir, "%s/%.*s", cwd, (int)(slash - path), path) < 0)
		dir = NULL;
	free(cwd);
	return dir;
}

static int read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fileno(f), &st) < 0) {
		rc = -errno;
		goto fail_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto fail_close;
	}
	if ((uint64_t)st.st_size > MOON_CONF_MAX_BYTES) {
		rc = MOON_ELIMIT;
		goto fail_close;
	}
	*text = malloc((size_t)st.st_size + 1);
	if (!*text) {
		rc = -ENOMEM;
		goto fail_close;
	}
	*len = fread(*text, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		rc = -EIO;
		free(*text);
		goto fail_close;
	}
	(*text)[*len] = 0;
fail_close:
	fclose(f);
	return rc;
}

int moon_conf_load_file(const char *path, struct moon_conf **out, struct moon_diag *diag)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, &text, &len);
	if (rc == MOON_ELIMIT) {
		moon_diag_add(diag, path, 0, 0, "larger than %u bytes", MOON_CONF_MAX_BYTES);
		return rc;
	}
	if (rc < 0) {
		moon_diag_add(diag, path, 0, 0, "cannot read: %s",
			      rc == -EINVAL ? "not a regular file" : moon_strerror(rc));
		return rc;
	}
	char *dir = config_dir(path);
	if (!dir) {
		free(text);
		moon_diag_add(diag, path, 0, 0, "out of memory");
		return -ENOMEM;
	}
	rc = load_text(text, len, path, dir, out, diag);
	free(dir);
	free(text);
	return rc;
}

/* Value of a field for messages. */
static void format_value(const struct moon_conf_item *it, const uint8_t *field, char *out,
			 size_t outlen)
{
	uint64_t v = it->type == MOON_CONF_INT || it->type == MOON_CONF_DURATION ||
		     it->type == MOON_CONF_SIZE ? load_uint(field, it->size) : 0;
	const char *s;
	switch (it->type) {
	case MOON_CONF_INT:
		if ((it->flags & MOON_CONF_AUTO) && v == 0)
			snprintf(out, outlen, "auto");
		else
			snprintf(out, outlen, "%llu", (unsigned long long)v);
		return;
	case MOON_CONF_DURATION:
		moon__conf_format_duration(v * it->unit_ms, out, outlen);
		return;
	case MOON_CONF_SIZE:
		moon__conf_format_size(v, out, outlen);
		return;
	case MOON_CONF_BOOL:
		snprintf(out, outlen, "%s", *(const bool *)field ? "true" : "false");
		return;
	case MOON_CONF_LISTEN:
		s = ((const struct moon_conf_listen *)field)->uri;
		break;
	case MOON_CONF_LIST:
	case MOON_CONF_MAP:
		snprintf(out, outlen, "(%s)", it->type == MOON_CONF_LIST ? "a list" : "a mapping");
		return;
	default:
		s = *(char *const *)field;
		break;
	}
	snprintf(out, outlen, "%s", s ? s : "null");
}

static bool same_item(const struct moon_conf_item *it, const uint8_t *a, const uint8_t *b)
{
	const uint8_t *fa = a + it->off, *fb = b + it->off;
	switch (it->type) {
	case MOON_CONF_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case MOON_CONF_INT:
	case MOON_CONF_DURATION:
	case MOON_CONF_SIZE:
		return load_uint(fa, it->size) == load_uint(fb, it->size);
	case MOON_CONF_LISTEN:
		return moon__conf_listen_equal((const void *)fa, (const void *)fb);
	case MOON_CONF_MAP:
		if ((it->flags & MOON_CONF_OPTIONAL) && *(const bool *)fa != *(const bool *)fb)
			return false;
		for (const struct moon_conf_item *c = it->children; c->name; c++) {
			if (!(c->flags & MOON_CONF_INTERNAL) && !same_item(c, fa, fb))
				return false;
		}
		return true;
	case MOON_CONF_LIST: {
		size_t n = *(const size_t *)(a + it->count_off);
		const uint8_t *xa = *(uint8_t *const *)fa, *xb = *(uint8_t *const *)fb;
		if (n != *(const size_t *)(b + it->count_off))
			return false;
		for (size_t i = 0; i < n; i++) {
			size_t at = i * it->children->size;
			if (!same_item(it->children, xa + at, xb + at))
				return false;
		}
		return true;
	}
	default: {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
		return sa == sb || (sa && sb && !strcmp(sa, sb));
	}
	}
}

/* Reports rows a reload cannot change; a reloadable list or mapping element
 * makes its whole subtree reloadable, a mapping of keys is looked into. */
static int diff_map(struct moon_conf_walk *w, const struct moon_conf_item *map, const uint8_t *a,
		    const uint8_t *b)
{
	int n = 0;
	for (const struct moon_conf_item *it = map->children; it->name; it++) {
		size_t mark = moon__conf_path_key(w, it->name);
		if (it->type == MOON_CONF_MAP) {
			n += diff_map(w, it, a + it->off, b + it->off);
		} else if (!(it->flags & (MOON_CONF_RELOAD | MOON_CONF_INTERNAL)) &&
			   !same_item(it, a, b)) {
			char va[64], vb[64];
			format_value(it, a + it->off, va, sizeof(va));
			format_value(it, b + it->off, vb, sizeof(vb));
			moon__conf_error(w, NULL, "changed from %s to %s; restart moondns to "
					 "apply it", va, vb);
			n++;
		}
		moon__conf_path_pop(w, mark);
	}
	return n;
}

bool moon_conf_server_same(const struct moon_conf_server *a, const struct moon_conf_server *b,
			   const char *key)
{
	const struct moon_conf_item *servers = find_key(moon__conf_schema.children, "servers");
	const struct moon_conf_item *it = find_key(servers->children->children, key);
	moon_require(it != NULL);
	return same_item(it, (const uint8_t *)a, (const uint8_t *)b);
}

int moon_conf_diff_restart(const struct moon_conf *cur, const struct moon_conf *next,
			   struct moon_diag *diag)
{
	struct moon_conf_walk w = { .diag = diag, .file = next->path };
	return diff_map(&w, &moon__conf_schema, (const uint8_t *)cur, (const uint8_t *)next);
}
