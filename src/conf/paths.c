/*
 * The files a config names, found through the schema rather than a list
 * kept by hand: a new key of type MOON_CONF_PATH is watched for reload the
 * day it is added.
 */
#include "conf/schema.h"

struct each {
	void (*fn)(void *arg, const char *path);
	void *arg;
};

static void walk(const struct each *e, const struct moon_conf_item *it, const uint8_t *base);

static void walk_map(const struct each *e, const struct moon_conf_item *map, const uint8_t *base)
{
	for (const struct moon_conf_item *c = map->children; c->name; c++)
		walk(e, c, base);
}

static void walk(const struct each *e, const struct moon_conf_item *it, const uint8_t *base)
{
	const uint8_t *field = base + it->off;
	if (it->type == MOON_CONF_PATH) {
		const char *p = *(char *const *)field;
		if (p)
			e->fn(e->arg, p);
	} else if (it->type == MOON_CONF_MAP) {
		walk_map(e, it, field);
	} else if (it->type == MOON_CONF_LIST) {
		const struct moon_conf_item *el = it->children;
		const uint8_t *arr = *(uint8_t *const *)field;
		size_t n = *(const size_t *)(base + it->count_off);
		for (size_t i = 0; arr && i < n; i++)
			walk(e, el, arr + i * el->size);
	}
}

void moon_conf_each_path(const struct moon_conf *conf, void (*fn)(void *arg, const char *path),
			 void *arg)
{
	const struct each e = { .fn = fn, .arg = arg };
	walk(&e, &moon__conf_schema, (const uint8_t *)conf);
}
