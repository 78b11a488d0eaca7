/* The schema table itself: src/conf/schema.c */
#include <string.h>

#include "conf/schema.h"
#include "tap.h"

static int bad;

static void complain(const char *path, const char *what)
{
	printf("#   %s: %s\n", path, what);
	bad++;
}

/* Rows a later issue can copy: each documented, typed consistently. */
static void check(const struct moon_conf_item *items, const char *prefix, size_t struct_size)
{
	for (const struct moon_conf_item *it = items; it->name; it++) {
		char path[300];
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", it->name);
		if (it->flags & MOON_CONF_INTERNAL)
			continue;
		if (!it->doc || !*it->doc || strchr(it->doc, '\n'))
			complain(path, "needs a one-line doc");
		if ((it->flags & MOON_CONF_REQUIRED) && (it->def || it->def_doc))
			complain(path, "required keys have no default");
		if (it->type == MOON_CONF_ENUM && (!it->values || !it->def))
			complain(path, "an enum needs values and a default");
		if ((it->type == MOON_CONF_INT || it->type == MOON_CONF_DURATION ||
		     it->type == MOON_CONF_SIZE) && (it->min > it->max || !it->def))
			complain(path, "numbers need a range and a default");
		if (it->type == MOON_CONF_DURATION && it->unit_ms != 1 && it->unit_ms != 1000)
			complain(path, "durations are stored in ms or s");
		if (it->type == MOON_CONF_INT && it->size != 1 && it->size != 2 && it->size != 4 &&
		    it->size != 8)
			complain(path, "integer field size");
		if (it->type != MOON_CONF_MAP && it->off >= struct_size)
			complain(path, "offset outside the struct");
		if (it->type == MOON_CONF_MAP)
			check(it->children, path, struct_size);
		if (it->type == MOON_CONF_LIST) {
			if (!it->children || !it->children->size)
				complain(path, "lists need an element row with its size");
			else if (it->children->type == MOON_CONF_MAP)
				check(it->children->children, path, it->children->size);
		}
	}
}

static const struct moon_conf_item *row(const struct moon_conf_item *items, const char *name)
{
	for (const struct moon_conf_item *it = items; it->name; it++) {
		if (!strcmp(it->name, name))
			return it;
	}
	return NULL;
}

int main(void)
{
	check(moon__conf_schema.children, "", sizeof(struct moon_conf));
	is_int(bad, 0, "schema rows are consistent");
	const struct moon_conf_item *root = moon__conf_schema.children;
	ok(!(row(root, "workers")->flags & MOON_CONF_RELOAD), "workers need a restart");
	ok(!(row(row(root, "udp")->children, "batch")->flags & MOON_CONF_RELOAD),
	   "udp.batch needs a restart (buffers are sized at start)");
	ok(row(root, "servers")->flags & MOON_CONF_RELOAD,
	   "server blocks (listeners, zones) reload");
	ok(row(row(root, "tcp")->children, "idle_timeout")->flags & MOON_CONF_RELOAD,
	   "tcp limits reload");
	return tap_done();
}
