/*
 * doc/config.md, generated from the schema so that the reference cannot say
 * anything the loader does not do. The text here is the part that is not
 * per key: what the file is, how values are written, how errors read.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/schema.h"
#include "conf/value.h"

static const char intro[] =
	"# moondns configuration reference\n"
	"\n"
	"<!-- Generated from src/conf/schema.c by src/conf/confdoc; do not edit.\n"
	"     After changing the schema run `make doc/config.md` in a build directory. -->\n"
	"\n"
	"moondns reads one YAML file, given with `moondns -c FILE`; without `-c` it runs the\n"
	"[embedded lab default](#the-embedded-default). `moondns check -c FILE` validates a\n"
	"file the same way the server does and exits non-zero when it finds a problem.\n"
	"\n"
	"## How the file is read\n"
	"\n"
	"- One YAML document (YAML 1.1, as libyaml reads it). Anchors, aliases (`&a`, `*a`)\n"
	"  and tags (`!!str`) are rejected. A file is at most 16 MiB, nests at most 32\n"
	"  levels and holds at most 200000 nodes.\n"
	"- Every key is checked: unknown keys, duplicate keys, values of the wrong type,\n"
	"  values out of range, missing required keys and inconsistent combinations are all\n"
	"  errors. Each error names the place and the key path, and every error in the file\n"
	"  is reported, not only the first:\n"
	"\n"
	"  ```\n"
	"  moondns.yaml:7:15: servers[0].listen[1]: bad address 'dns://127.0.0.1:99999': "
	"port out of range\n"
	"  moondns.yaml:3:3: tcp.idel_timeout: unknown key (did you mean 'idle_timeout'?)\n"
	"  ```\n"
	"- A key left out takes its default; `null` (or nothing after the colon) is\n"
	"  accepted only where the default is null, and for a section, where it means\n"
	"  \"all defaults\".\n"
	"- Relative paths are relative to the directory of the config file.\n"
	"\n"
	"### Value types\n"
	"\n"
	"| Type | Written as |\n"
	"| --- | --- |\n"
	"| integer | decimal digits, e.g. `1232` |\n"
	"| boolean | `true`/`false` (also `yes`/`no`, `on`/`off`) |\n"
	"| duration | a number with a unit `ms`, `s`, `m`, `h` or `d` (`500ms`, `10s`, `2m`), "
	"or a plain number of seconds |\n"
	"| size | bytes, or a number with `k`, `M` or `G` (powers of 1024): `4096`, `64k`, `1M` |\n"
	"| listen address | `dns://ADDR[:PORT]` (UDP and TCP, port 53 by default) or "
	"`tls://ADDR[:PORT]` (DNS over TLS, port 853); ADDR is an IPv4 address or an IPv6 "
	"address in brackets: `dns://127.0.0.1:5353`, `dns://[::1]` |\n"
	"| domain name | `example.com.`; a name without the trailing dot is taken as "
	"absolute (`example.com` is `example.com.`) |\n"
	"| string | any YAML scalar; quote it when it could be read as something else |\n"
	"\n"
	"### Reload\n"
	"\n"
	"A reload (SIGHUP, or a change of the file) reads and checks the whole file aside\n"
	"and switches to it only when it has no error; otherwise the server keeps running\n"
	"with the old configuration and logs why. Keys marked **restart** below keep their\n"
	"old value until moondns is restarted, and the reload says which of them changed;\n"
	"everything else, listeners and zones included, changes on reload.\n"
	"\n"
	"## Example\n"
	"\n"
	"Every key, most of them at their default:\n"
	"\n";

static const char example_note[] =
	"\n"
	"## The embedded default\n"
	"\n"
	"What `moondns` runs when no `-c` is given (`dig @127.0.0.1 -p 5353 www.lab.test`):\n"
	"\n";

static void range(const struct moon_conf_item *it, char *out, size_t len)
{
	char lo[32], hi[32];
	switch (it->type) {
	case MOON_CONF_INT:
		snprintf(out, len, "integer, %lld to %lld", (long long)it->min, (long long)it->max);
		if (it->flags & MOON_CONF_AUTO)
			snprintf(out, len, "`auto` or an integer from %lld to %lld",
				 (long long)it->min, (long long)it->max);
		return;
	case MOON_CONF_DURATION:
		moon__conf_format_duration((uint64_t)it->min * it->unit_ms, lo, sizeof(lo));
		moon__conf_format_duration((uint64_t)it->max * it->unit_ms, hi, sizeof(hi));
		snprintf(out, len, "duration, %s to %s%s", lo, hi,
			 it->unit_ms == 1000 ? " (whole seconds)" : "");
		return;
	case MOON_CONF_SIZE:
		moon__conf_format_size((uint64_t)it->min, lo, sizeof(lo));
		moon__conf_format_size((uint64_t)it->max, hi, sizeof(hi));
		snprintf(out, len, "size, %s to %s", lo, hi);
		return;
	case MOON_CONF_ENUM: {
		size_t n = (size_t)snprintf(out, len, "one of");
		for (const char *const *v = it->values; *v && n < len; v++)
			n += (size_t)snprintf(out + n, len - n, "%s `%s`",
					      v == it->values ? "" : ",", *v);
		return;
	}
	case MOON_CONF_STR:
		if (it->max)
			snprintf(out, len, "string, at most %lld bytes%s", (long long)it->max,
				 it->flags & MOON_CONF_NULLABLE ? ", or null" : "");
		else
			snprintf(out, len, "string");
		return;
	case MOON_CONF_BOOL: snprintf(out, len, "boolean"); return;
	case MOON_CONF_PATH: snprintf(out, len, "path"); return;
	case MOON_CONF_LISTEN: snprintf(out, len, "listen address"); return;
	case MOON_CONF_DNAME: snprintf(out, len, "domain name"); return;
	case MOON_CONF_ANY: snprintf(out, len, "any value"); return;
	case MOON_CONF_MAP:
		snprintf(out, len, it->flags & MOON_CONF_OPTIONAL ? "mapping, or `on`/`off`"
								  : "mapping");
		return;
	case MOON_CONF_LIST: break;
	}
	const struct moon_conf_item *elem = it->children;
	char of[200];
	if (elem->type == MOON_CONF_MAP)
		snprintf(of, sizeof(of), "mappings");
	else if (elem->type == MOON_CONF_LISTEN)
		snprintf(of, sizeof(of), "listen addresses");
	else if (elem->type == MOON_CONF_DNAME)
		snprintf(of, sizeof(of), "domain names");
	else
		range(elem, of, sizeof(of));
	if (it->min)
		snprintf(out, len, "list of %s, at least %lld", of, (long long)it->min);
	else
		snprintf(out, len, "list of %s", of);
}

static void key_doc(FILE *out, const struct moon_conf_item *it, const char *path)
{
	char type[256];
	range(it, type, sizeof(type));
	fprintf(out, "### `%s`\n\n", path);
	fprintf(out, "- type: %s\n", type);
	if (it->flags & MOON_CONF_REQUIRED)
		fprintf(out, "- required\n");
	else if (it->def)
		fprintf(out, "- default: `%s`\n", it->def);
	else if (it->def_doc)
		fprintf(out, "- default: %s\n", it->def_doc);
	else if (it->flags & MOON_CONF_OPTIONAL)
		fprintf(out, "- default: off\n");
	else if (it->type != MOON_CONF_MAP)
		fprintf(out, "- default: %s\n", it->flags & MOON_CONF_NULLABLE ? "null" : "none");
	if (it->type != MOON_CONF_MAP)
		fprintf(out, "- on reload: %s\n", it->flags & MOON_CONF_RELOAD ? "applied"
									 : "**restart**");
	fprintf(out, "\n%s\n\n", it->doc);
}

/* Depth-first over the rows, sections (mappings, lists of mappings) before
 * their keys, in table order. */
static void walk(FILE *out, const struct moon_conf_item *items, const char *prefix)
{
	for (const struct moon_conf_item *it = items; it->name; it++) {
		if (it->flags & MOON_CONF_INTERNAL)
			continue;
		char path[256];
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", it->name);
		key_doc(out, it, path);
		if (it->type == MOON_CONF_MAP) {
			walk(out, it->children, path);
		} else if (it->type == MOON_CONF_LIST && it->children->type == MOON_CONF_MAP) {
			strncat(path, "[]", sizeof(path) - strlen(path) - 1);
			walk(out, it->children->children, path);
		}
	}
}

void moon_conf_write_doc(FILE *out)
{
	fputs(intro, out);
	fprintf(out, "```yaml\n%s```\n", moon__conf_example_yaml);
	fputs(example_note, out);
	fprintf(out, "```yaml\n%s```\n\n## Keys\n\n", moon_conf_default_yaml);
	walk(out, moon__conf_schema.children, "");
}
