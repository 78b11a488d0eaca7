/*
 * YAML text -> a small tree of nodes that remember where they were written
 * (internal to src/conf). Built with libyaml's event API so that every limit
 * of conf.h is enforced while reading: one document, no anchors, aliases or
 * tags, at most MOON_CONF_MAX_DEPTH nested collections and
 * MOON_CONF_MAX_NODES nodes. The tree owns all its memory.
 */
#ifndef MOON_CONF_YAML_H
#define MOON_CONF_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "util/diag.h"

enum moon_ynode_kind { MOON_YSCALAR, MOON_YSEQ, MOON_YMAP };

struct moon_ynode {
	enum moon_ynode_kind kind;
	unsigned line, col;              /* 1-based start of the node */
	bool plain;                      /* SCALAR: written without quotes or block style */
	char *value;                     /* SCALAR: NUL-terminated text */
	struct moon_ynode **items;       /* SEQ: elements; MAP: key, value, key, value... */
	size_t n;                        /* entries in items */
};

/*
 * Parses `len` bytes of text. On success returns 0 and sets *root to the
 * document's root node, or to NULL for an empty document. Otherwise adds
 * "file:line:col: message" lines to diag and returns MOON_ESYNTAX (bad YAML,
 * an alias, anchor or tag, several documents), MOON_ELIMIT (a bound of
 * conf.h) or -ENOMEM; *root is then NULL.
 */
int moon__yaml_parse(const char *text, size_t len, const char *file, struct moon_ynode **root,
		     struct moon_diag *diag);
void moon__yaml_free(struct moon_ynode *node);

/* A plain scalar "", "~", "null", "Null" or "NULL" (YAML's null). */
bool moon__ynode_is_null(const struct moon_ynode *node);
/* Value node of `key` in a MAP (first match), or NULL. */
const struct moon_ynode *moon__ymap_get(const struct moon_ynode *map, const char *key);
/* Short name of a node's kind for messages: "a mapping", "a list", "a string", "null". */
const char *moon__ynode_what(const struct moon_ynode *node);

#endif
