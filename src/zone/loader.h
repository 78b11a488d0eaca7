/*
 * State of one zone load, shared by the parser callbacks (load.c) and the
 * compiler that turns parsed records into the immutable zone (build.c).
 * Internal to src/zone. Single-threaded: one loader per moon_zone_load().
 */
#ifndef MOON_ZONE_LOADER_H
#define MOON_ZONE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/diag.h"
#include "zone/tree.h"

/* A growable block; grows by doubling so appends are amortised O(1). */
struct moon_zbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* One parsed record; its RDATA is at rdata.p + rdoff (already prepared by
 * moon__rdata_prepare). */
struct moon_zrec {
	uint32_t node;
	uint16_t type;
	uint16_t rdlen;
	uint32_t ttl;
	uint32_t line;
	uint64_t rdoff : 47;
	uint64_t file : 16;
	uint64_t dead : 1;     /* dropped: a duplicate or an RRSIG covering nothing */
};

/* Names are followed by this much zeroed slack (see moon__zone_find). */
#define MOON_ZNAME_SLACK (MOON_NAME_MAXLEN + 1)

struct moon_zload {
	struct moon_zone *z;
	struct moon_diag *diag;
	const char *src_name;      /* the file or text_name, for zone-wide errors */
	struct moon_zbuf names;    /* z->names: the zone owns it from the start */
	struct moon_zbuf nodes;    /* struct moon_znode[], z->nodes likewise */
	struct moon_zbuf recs;     /* struct moon_zrec[] */
	struct moon_zbuf rdata;    /* RDATA of recs, without length prefixes */
	uint32_t nslots_used;
	char **files;              /* file names for diagnostics, by moon_zrec.file */
	unsigned nfiles;
	unsigned errors;           /* diagnostics added, including dropped ones */
	unsigned warnings;
};

void *moon__zbuf_push(struct moon_zbuf *b, size_t n);
/* Finds the node named `name` (lowercase, inside the zone) or adds it;
 * returns its index or MOON_ZNONE when out of memory. */
uint32_t moon__zload_node(struct moon_zload *L, const uint8_t *name, size_t len);
/* Adds "file:line: message" for the record position (file index, line). */
void moon__zload_error(struct moon_zload *L, unsigned file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void moon__zload_warn(struct moon_zload *L, unsigned file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Compiles the parsed records into L->z; returns 0 or a negative error
 * (the diagnostics say why). */
int moon__zone_build(struct moon_zload *L);

#endif
