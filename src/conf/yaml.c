#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "conf/conf.h"
#include "conf/yaml.h"
#include "util/err.h"

/* A collection being read: its children arrive one event at a time. */
struct frame {
	struct moon_ynode *node;
	size_t cap;
};

struct reader {
	yaml_parser_t parser;
	const char *file;
	struct moon_diag *diag;
	struct frame stack[MOON_CONF_MAX_DEPTH];
	size_t depth;
	size_t nodes;
	unsigned documents;
	bool bad;                        /* an error that let reading go on */
	struct moon_ynode *root;
};

static void error_at(struct reader *r, yaml_mark_t mark, const char *msg)
{
	moon_diag_add(r->diag, r->file, (unsigned)mark.line + 1, (unsigned)mark.column + 1, "%s",
		      msg);
}

void moon__yaml_free(struct moon_ynode *node)
{
	if (!node)
		return;
	for (size_t i = 0; i < node->n; i++)
		moon__yaml_free(node->items[i]);
	free(node->items);
	free(node->value);
	free(node);
}

static int append(struct frame *f, struct moon_ynode *child)
{
	if (f->node->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct moon_ynode **items = realloc(f->node->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		f->node->items = items;
		f->cap = cap;
	}
	f->node->items[f->node->n++] = child;
	return 0;
}

/* Hangs a finished node under the open collection, or makes it the root. */
static int attach(struct reader *r, struct moon_ynode *node)
{
	if (r->depth == 0) {
		r->root = node;
		return 0;
	}
	if (append(&r->stack[r->depth - 1], node) < 0) {
		moon__yaml_free(node);
		return -ENOMEM;
	}
	return 0;
}

static struct moon_ynode *new_node(struct reader *r, enum moon_ynode_kind kind, yaml_mark_t mark)
{
	struct moon_ynode *node = calloc(1, sizeof(*node));
	if (!node)
		return NULL;
	node->kind = kind;
	node->line = (unsigned)mark.line + 1;
	node->col = (unsigned)mark.column + 1;
	return node;
}

/* Anchors, aliases and tags are refused rather than half-supported: a config
 * does not need them and aliases are how billion-laughs inputs grow. */
static void refuse_extras(struct reader *r, const yaml_event_t *ev, const yaml_char_t *anchor,
			  const yaml_char_t *tag)
{
	if (anchor) {
		error_at(r, ev->start_mark, "YAML anchors are not supported");
		r->bad = true;
	}
	if (tag) {
		error_at(r, ev->start_mark, "YAML tags are not supported");
		r->bad = true;
	}
}

static int on_scalar(struct reader *r, const yaml_event_t *ev)
{
	refuse_extras(r, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
	struct moon_ynode *node = new_node(r, MOON_YSCALAR, ev->start_mark);
	if (!node)
		return -ENOMEM;
	size_t len = ev->data.scalar.length;
	node->value = malloc(len + 1);
	if (!node->value) {
		free(node);
		return -ENOMEM;
	}
	memcpy(node->value, ev->data.scalar.value, len);
	node->value[len] = 0;
	if (strlen(node->value) != len) {
		error_at(r, ev->start_mark, "NUL characters are not allowed");
		r->bad = true;
	}
	node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return attach(r, node);
}

static int on_alias(struct reader *r, const yaml_event_t *ev)
{
	error_at(r, ev->start_mark, "YAML aliases are not supported");
	r->bad = true;
	/* A null stands in for the alias so that the rest can still be read. */
	struct moon_ynode *node = new_node(r, MOON_YSCALAR, ev->start_mark);
	if (!node || !(node->value = strdup(""))) {
		free(node);
		return -ENOMEM;
	}
	node->plain = true;
	return attach(r, node);
}

static int on_start(struct reader *r, const yaml_event_t *ev, enum moon_ynode_kind kind)
{
	if (kind == MOON_YSEQ)
		refuse_extras(r, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
	else
		refuse_extras(r, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
	if (r->depth == MOON_CONF_MAX_DEPTH) {
		char msg[80];
		snprintf(msg, sizeof(msg), "nested deeper than %d levels", MOON_CONF_MAX_DEPTH);
		error_at(r, ev->start_mark, msg);
		return MOON_ELIMIT;
	}
	struct moon_ynode *node = new_node(r, kind, ev->start_mark);
	if (!node)
		return -ENOMEM;
	r->stack[r->depth++] = (struct frame){ .node = node };
	return 0;
}

static int on_end(struct reader *r)
{
	struct moon_ynode *node = r->stack[--r->depth].node;
	return attach(r, node);
}

static int on_event(struct reader *r, const yaml_event_t *ev)
{
	if (ev->type == YAML_SCALAR_EVENT || ev->type == YAML_ALIAS_EVENT ||
	    ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT) {
		if (++r->nodes > MOON_CONF_MAX_NODES) {
			char msg[80];
			snprintf(msg, sizeof(msg), "more than %d YAML nodes", MOON_CONF_MAX_NODES);
			error_at(r, ev->start_mark, msg);
			return MOON_ELIMIT;
		}
	}
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++r->documents > 1) {
			error_at(r, ev->start_mark, "only one YAML document is allowed");
			return MOON_ESYNTAX;
		}
		return 0;
	case YAML_SCALAR_EVENT:
		return on_scalar(r, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(r, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(r, ev, MOON_YSEQ);
	case YAML_MAPPING_START_EVENT:
		return on_start(r, ev, MOON_YMAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(r);
	default:
		return 0;
	}
}

static void syntax_error(struct reader *r)
{
	const yaml_parser_t *p = &r->parser;
	yaml_mark_t mark = p->problem_mark;
	if (p->error == YAML_READER_ERROR || (mark.line == 0 && mark.column == 0))
		mark = p->mark;
	char msg[512];
	if (p->error == YAML_MEMORY_ERROR)
		snprintf(msg, sizeof(msg), "out of memory");
	else if (p->context)
		snprintf(msg, sizeof(msg), "YAML syntax error: %s (%s at line %zu column %zu)",
			 p->problem ? p->problem : "unknown", p->context, p->context_mark.line + 1,
			 p->context_mark.column + 1);
	else
		snprintf(msg, sizeof(msg), "YAML syntax error: %s",
			 p->problem ? p->problem : "unknown");
	error_at(r, mark, msg);
}

static int read_events(struct reader *r)
{
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&r->parser, &ev)) {
			syntax_error(r);
			return r->parser.error == YAML_MEMORY_ERROR ? -ENOMEM : MOON_ESYNTAX;
		}
		int rc = on_event(r, &ev);
		bool end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (rc < 0)
			return rc;
		if (end)
			return 0;
	}
}

int moon__yaml_parse(const char *text, size_t len, const char *file, struct moon_ynode **root,
		     struct moon_diag *diag)
{
	*root = NULL;
	if (len > MOON_CONF_MAX_BYTES) {
		moon_diag_add(diag, file, 0, 0, "larger than %u bytes", MOON_CONF_MAX_BYTES);
		return MOON_ELIMIT;
	}
	struct reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->file = file;
	r->diag = diag;
	if (!yaml_parser_initialize(&r->parser)) {
		free(r);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&r->parser, (const unsigned char *)text, len);
	int rc = read_events(r);
	if (rc == -ENOMEM)
		moon_diag_add(diag, file, 0, 0, "out of memory");
	if (rc == 0 && r->bad)
		rc = MOON_ESYNTAX;
	/* After an early stop the open collections still own their children. */
	while (r->depth)
		moon__yaml_free(r->stack[--r->depth].node);
	if (rc == 0)
		*root = r->root;
	else
		moon__yaml_free(r->root);
	yaml_parser_delete(&r->parser);
	free(r);
	return rc;
}

bool moon__ynode_is_null(const struct moon_ynode *node)
{
	if (node->kind != MOON_YSCALAR || !node->plain)
		return false;
	const char *v = node->value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

const struct moon_ynode *moon__ymap_get(const struct moon_ynode *map, const char *key)
{
	if (!map || map->kind != MOON_YMAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct moon_ynode *k = map->items[i];
		if (k->kind == MOON_YSCALAR && !strcmp(k->value, key))
			return map->items[i + 1];
	}
	return NULL;
}

const char *moon__ynode_what(const struct moon_ynode *node)
{
	switch (node->kind) {
	case MOON_YMAP:
		return "a mapping";
	case MOON_YSEQ:
		return "a list";
	case MOON_YSCALAR:
		break;
	}
	return moon__ynode_is_null(node) ? "null" : "a string";
}
