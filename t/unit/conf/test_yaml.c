/* YAML text -> node tree with positions: src/conf/yaml.c */
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/yaml.h"
#include "tap.h"
#include "util/err.h"

static struct moon_diag diag;

static int parse(const char *text, struct moon_ynode **root)
{
	moon_diag_free(&diag);
	return moon__yaml_parse(text, strlen(text), "t.yaml", root, &diag);
}

static const char *first_error(void)
{
	return diag.n ? diag.msgs[0] : "(none)";
}

static void test_tree(void)
{
	struct moon_ynode *root;
	int rc = parse("a: 1\nb:\n  - x\n  - \"null\"\n  -\nc: {d: ~}\n", &root);
	is_int(rc, 0, "parses");
	if (!root)
		return;
	ok(root->kind == MOON_YMAP && root->n == 6, "root mapping with 3 pairs");
	is_int(root->line, 1, "root at line 1");
	const struct moon_ynode *b = moon__ymap_get(root, "b");
	ok(b && b->kind == MOON_YSEQ && b->n == 3, "b is a list of 3");
	if (b && b->n == 3) {
		is_int(b->line, 3, "list starts at line 3");
		is_int(b->col, 3, "list starts at column 3");
		is_str(b->items[0]->value, "x", "scalar value");
		is_int(b->items[0]->col, 5, "scalar column, 1-based");
		ok(b->items[0]->plain, "plain scalar");
		ok(!b->items[1]->plain && !moon__ynode_is_null(b->items[1]),
		   "quoted null is a string");
		ok(moon__ynode_is_null(b->items[2]), "empty entry is null");
	}
	const struct moon_ynode *c = moon__ymap_get(root, "c");
	ok(c && c->kind == MOON_YMAP && c->line == 6 && c->col == 4, "flow mapping position");
	ok(c && moon__ynode_is_null(moon__ymap_get(c, "d")), "~ is null");
	ok(!moon__ymap_get(root, "zz"), "missing key");
	is_str(moon__ynode_what(root), "a mapping", "what: mapping");
	is_str(moon__ynode_what(b), "a list", "what: list");
	moon__yaml_free(root);
}

static void test_empty(void)
{
	struct moon_ynode *root = (void *)1;
	is_int(parse("", &root), 0, "empty text is fine");
	ok(root == NULL, "empty text has no root");
	is_int(parse("# only a comment\n", &root), 0, "comment only");
	ok(root == NULL, "comment-only has no root");
}

static void test_errors(void)
{
	struct moon_ynode *root;
	is_int(parse("a: [1, 2\nb: 3\n", &root), MOON_ESYNTAX, "unclosed flow sequence");
	ok(root == NULL, "no tree after a syntax error");
	is_str(first_error(), "t.yaml:2:2: YAML syntax error: did not find expected ',' or ']' "
	       "(while parsing a flow sequence at line 1 column 4)", "syntax error with context");

	is_int(parse("a: 1\n b: 2\n", &root), MOON_ESYNTAX, "bad indentation");
	is_str(first_error(), "t.yaml:2:3: YAML syntax error: mapping values are not allowed "
	       "in this context", "syntax error without context");

	is_int(parse("a: &x 1\nb: *x\n", &root), MOON_ESYNTAX, "anchor and alias");
	is_int(diag.n, 2, "both reported");
	is_str(diag.msgs[0], "t.yaml:1:4: YAML anchors are not supported", "anchor message");
	is_str(diag.msgs[1], "t.yaml:2:4: YAML aliases are not supported", "alias message");

	is_int(parse("a: !!str 1\n", &root), MOON_ESYNTAX, "tag");
	is_str(first_error(), "t.yaml:1:4: YAML tags are not supported", "tag message");

	is_int(parse("a: 1\n---\nb: 2\n", &root), MOON_ESYNTAX, "two documents");
	is_str(first_error(), "t.yaml:2:1: only one YAML document is allowed", "documents message");

	is_int(parse("a: \"x\\0y\"\n", &root), MOON_ESYNTAX, "NUL in a scalar");
	is_str(first_error(), "t.yaml:1:4: NUL characters are not allowed", "NUL message");

	is_int(parse("a: \x01\n", &root), MOON_ESYNTAX, "control character");
	ok(strstr(first_error(), "t.yaml:1:") == first_error(), "control character has a position");
}

static void test_limits(void)
{
	struct moon_ynode *root;
	char deep[2 * MOON_CONF_MAX_DEPTH + 8];
	size_t n = 0;
	for (int i = 0; i < MOON_CONF_MAX_DEPTH; i++)
		deep[n++] = '[';
	for (int i = 0; i < MOON_CONF_MAX_DEPTH; i++)
		deep[n++] = ']';
	deep[n] = 0;
	is_int(parse(deep, &root), 0, "nesting at the limit");
	moon__yaml_free(root);
	memmove(deep + 1, deep, n + 1);
	deep[0] = '[';
	strcat(deep, "]");
	is_int(parse(deep, &root), MOON_ELIMIT, "nesting past the limit");
	is_str(first_error(), "t.yaml:1:33: nested deeper than 32 levels", "depth message");

	/* MOON_CONF_MAX_NODES scalars plus the list itself. */
	size_t count = MOON_CONF_MAX_NODES;
	char *big = malloc(count * 2 + 3);
	big[0] = '[';
	for (size_t i = 0; i < count; i++) {
		big[1 + 2 * i] = '1';
		big[2 + 2 * i] = ',';
	}
	big[count * 2] = ']';
	big[count * 2 + 1] = 0;
	is_int(parse(big, &root), MOON_ELIMIT, "too many nodes");
	ok(strstr(first_error(), "more than 200000 YAML nodes") != NULL, "nodes message");
	free(big);

	char *huge = malloc(MOON_CONF_MAX_BYTES + 2);
	memset(huge, '#', MOON_CONF_MAX_BYTES + 1);
	huge[MOON_CONF_MAX_BYTES + 1] = 0;
	is_int(parse(huge, &root), MOON_ELIMIT, "too many bytes");
	is_str(first_error(), "t.yaml: larger than 16777216 bytes", "size message");
	free(huge);
}

int main(void)
{
	test_tree();
	test_empty();
	test_errors();
	test_limits();
	moon_diag_free(&diag);
	return tap_done();
}
