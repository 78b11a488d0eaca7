/*
 * Zone loading, first half: libzscanner parses the master file straight to
 * wire format and calls on_record() per record; we lowercase the owner,
 * map it to a node through the hash table (a run of records with the same
 * owner costs one memcmp), prepare the RDATA and append a fixed-size
 * record to a flat array. build.c then compiles that array into the zone.
 * Nothing here allocates per record: every buffer grows by doubling.
 */
#include <errno.h>
#include <libzscanner/scanner.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"
#include "wire/dns.h"
#include "zone/loader.h"
#include "zone/rdata.h"
#include "zone/zone.h"

#define INITIAL_SLOTS 1024u

struct parser {
	struct moon_zload *L;
	const char *src_name;      /* file or text_name, for errors without a record */
	unsigned cur_file;         /* index in L->files of the last record's file */
	uint32_t last_node;        /* node of the last record's owner ... */
	uint32_t last_len;         /* ... whose wire form, as written, was: */
	uint8_t last_owner[MOON_NAME_MAXLEN];
	bool oom;
};

void *moon__zbuf_push(struct moon_zbuf *b, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			return NULL;
		/* Bytes past len stay zero: the names block relies on it. */
		memset(p + b->cap, 0, cap - b->cap);
		b->p = p;
		b->cap = cap;
	}
	void *at = b->p + b->len;
	b->len += n;
	return at;
}

static void zload_vdiag(struct moon_zload *L, bool error, unsigned file, unsigned line,
			const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *fname = file < L->nfiles ? L->files[file] : L->src_name;
	if (error) {
		L->errors++;
		moon_diag_add(L->diag, fname, line, 0, "%s", msg);
		return;
	}
	/* Warnings go to the log; past a few, only their number does. */
	if (++L->warnings <= 10)
		moon_warn(ZONE, "%s:%u: %s", fname, line, msg);
}

void moon__zload_error(struct moon_zload *L, unsigned file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	zload_vdiag(L, true, file, line, fmt, ap);
	va_end(ap);
}

void moon__zload_warn(struct moon_zload *L, unsigned file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	zload_vdiag(L, false, file, line, fmt, ap);
	va_end(ap);
}

static int grow_slots(struct moon_zone *z)
{
	uint32_t n = (z->mask + 1) * 2;
	struct moon_zslot *slots = malloc((size_t)n * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	memset(slots, 0xff, (size_t)n * sizeof(*slots));
	for (uint32_t i = 0; i <= z->mask; i++) {
		struct moon_zslot s = z->slots[i];
		if (s.node == MOON_ZNONE)
			continue;
		uint32_t j = s.hash & (n - 1);
		while (slots[j].node != MOON_ZNONE)
			j = (j + 1) & (n - 1);
		slots[j] = s;
	}
	free(z->slots);
	z->slots = slots;
	z->mask = n - 1;
	return 0;
}

uint32_t moon__zload_node(struct moon_zload *L, const uint8_t *name, size_t len)
{
	struct moon_zone *z = L->z;
	uint32_t h = moon__zname_hash(name, len);
	uint32_t found = moon__zone_find(z, name, len, h);
	if (found != MOON_ZNONE)
		return found;
	/* Node indexes and name offsets are 32 bits (billions of names). */
	if (z->nnodes == MOON_ZNONE - 1 || L->names.len > UINT32_MAX - MOON_ZNAME_SLACK - len)
		return MOON_ZNONE;
	/* Keep the table at most half full: misses (NXDOMAIN) stay short. */
	if ((L->nslots_used + 1) * 2 > z->mask + 1 && grow_slots(z) < 0)
		return MOON_ZNONE;
	struct moon_znode *node = moon__zbuf_push(&L->nodes, sizeof(*node));
	if (!node)
		return MOON_ZNONE;
	uint8_t *dst = moon__zbuf_push(&L->names, len + MOON_ZNAME_SLACK);
	if (!dst) {
		L->nodes.len -= sizeof(*node);
		return MOON_ZNONE;
	}
	L->names.len -= MOON_ZNAME_SLACK;
	memcpy(dst, name, len);
	z->names = L->names.p;
	z->nodes = (struct moon_znode *)L->nodes.p;
	*node = (struct moon_znode){ .name = (uint32_t)(dst - L->names.p), .parent = MOON_ZNONE };
	uint32_t idx = z->nnodes++;
	uint32_t i = h & z->mask;
	while (z->slots[i].node != MOON_ZNONE)
		i = (i + 1) & z->mask;
	z->slots[i] = (struct moon_zslot){ .hash = h, .node = idx };
	L->nslots_used++;
	return idx;
}

static unsigned file_index(struct parser *P, const zs_scanner_t *s)
{
	struct moon_zload *L = P->L;
	const char *name = s->file.name ? s->file.name : P->src_name;
	if (P->cur_file < L->nfiles && strcmp(L->files[P->cur_file], name) == 0)
		return P->cur_file;
	for (unsigned i = 0; i < L->nfiles; i++) {
		if (strcmp(L->files[i], name) == 0)
			return P->cur_file = i;
	}
	/* moon_zrec.file has 16 bits; past that, blame the last file. */
	if (L->nfiles == UINT16_MAX)
		return L->nfiles - 1;
	char **files = realloc(L->files, (L->nfiles + 1) * sizeof(*files));
	char *copy = strdup(name);
	if (files)
		L->files = files;
	if (!files || !copy) {
		free(copy);
		P->oom = true;
		return 0;
	}
	L->files[L->nfiles] = copy;
	return P->cur_file = L->nfiles++;
}

static uint32_t owner_node(struct parser *P, const zs_scanner_t *s, unsigned file, unsigned line)
{
	struct moon_zload *L = P->L;
	if (s->r_owner_length == P->last_len && memcmp(s->r_owner, P->last_owner, P->last_len) == 0)
		return P->last_node;
	uint8_t lc[MOON_NAME_MAXLEN];
	size_t len = moon_name_tolower(lc, s->r_owner);
	if (!moon__zone_contains(L->z, lc, len)) {
		char text[MOON_NAME_TEXT_MAXLEN], origin[MOON_NAME_TEXT_MAXLEN];
		moon_name_to_text(lc, text, sizeof(text));
		moon_name_to_text(L->z->origin, origin, sizeof(origin));
		moon__zload_error(L, file, line, "owner %s is outside the zone %s", text, origin);
		return MOON_ZNONE;
	}
	uint32_t node = moon__zload_node(L, lc, len);
	if (node == MOON_ZNONE) {
		P->oom = true;
		return MOON_ZNONE;
	}
	P->last_node = node;
	P->last_len = s->r_owner_length;
	memcpy(P->last_owner, s->r_owner, s->r_owner_length);
	return node;
}

/* Types that only exist in messages (RFC 6895 §3.1) or need the OPT
 * record's semantics; a zone holding one is broken. (libzscanner itself
 * accepts only class IN.) */
static bool meta_type(uint16_t t)
{
	return t == 0 || t == MOON_T_OPT || (t >= 128 && t <= 255);
}

static void on_record(zs_scanner_t *s)
{
	struct parser *P = s->process.data;
	struct moon_zload *L = P->L;
	unsigned file = file_index(P, s);
	unsigned line = (unsigned)s->line_counter;

	if (meta_type(s->r_type)) {
		moon__zload_error(L, file, line, "type %u cannot be stored in a zone", s->r_type);
		return;
	}
	uint32_t node = owner_node(P, s, file, line);
	if (node == MOON_ZNONE)
		goto stop_if_oom;
	uint8_t *rd = moon__zbuf_push(&L->rdata, s->r_data_length);
	struct moon_zrec *rec = moon__zbuf_push(&L->recs, sizeof(*rec));
	if (!rd || !rec) {
		P->oom = true;
		goto stop_if_oom;
	}
	memcpy(rd, s->r_data, s->r_data_length);
	if (moon__rdata_prepare(s->r_type, rd, s->r_data_length) < 0) {
		moon__zload_error(L, file, line, "malformed RDATA for type %u", s->r_type);
		L->recs.len -= sizeof(*rec);
		L->rdata.len -= s->r_data_length;
		return;
	}
	*rec = (struct moon_zrec){
		.node = node, .type = s->r_type, .rdlen = (uint16_t)s->r_data_length,
		.ttl = s->r_ttl, .line = line, .rdoff = (uint64_t)(rd - L->rdata.p), .file = file,
	};
	return;
stop_if_oom:
	if (P->oom)
		s->state = ZS_STATE_STOP;
}

static void on_error(zs_scanner_t *s)
{
	struct parser *P = s->process.data;
	moon__zload_error(P->L, file_index(P, s), (unsigned)s->line_counter, "%s",
			  zs_strerror(s->error.code));
}

static int parse(struct parser *P, const struct moon_zone_source *src)
{
	struct moon_zload *L = P->L;
	char origin[MOON_NAME_TEXT_MAXLEN];
	moon_name_to_text(L->z->origin, origin, sizeof(origin));
	uint32_t ttl = src->default_ttl ? src->default_ttl : 3600;

	zs_scanner_t *s = malloc(sizeof(*s));   /* ~200 KiB: not for the stack */
	if (!s)
		return -ENOMEM;
	int ret = 0;
	if (zs_init(s, origin, MOON_CLASS_IN, ttl) != 0 ||
	    zs_set_processing(s, on_record, on_error, P) != 0) {
		moon__zload_error(L, UINT16_MAX, 0, "%s", zs_strerror(s->error.code));
		ret = MOON_ESYNTAX;
		goto out_deinit;
	}
	if (src->file ? zs_set_input_file(s, src->file) != 0 :
	    zs_set_input_string(s, src->text, strlen(src->text)) != 0) {
		int err = errno;
		moon__zload_error(L, UINT16_MAX, 0, "cannot read: %s (%s)",
				  zs_strerror(s->error.code), strerror(err));
		ret = MOON_ESYNTAX;
		goto out_deinit;
	}
	/* Errors reach on_error; the return value adds nothing. */
	(void)zs_parse_all(s);
	if (P->oom)
		ret = -ENOMEM;
	else if (L->errors)
		ret = MOON_ESYNTAX;
out_deinit:
	zs_deinit(s);
	free(s);
	return ret;
}

static int zone_init(struct moon_zload *L, const struct moon_zone_source *src)
{
	struct moon_zone *z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	L->z = z;
	z->slots = malloc(INITIAL_SLOTS * sizeof(*z->slots));
	if (!z->slots)
		return -ENOMEM;
	memset(z->slots, 0xff, INITIAL_SLOTS * sizeof(*z->slots));
	z->mask = INITIAL_SLOTS - 1;

	static const uint8_t root[1] = { 0 };
	uint8_t origin[MOON_NAME_MAXLEN];
	int len = src->origin ? moon_name_from_text(src->origin, root, origin) : MOON_ESYNTAX;
	if (len < 0) {
		moon__zload_error(L, UINT16_MAX, 0, "invalid zone origin \"%s\"",
				  src->origin ? src->origin : "");
		return MOON_ESYNTAX;
	}
	z->origin_len = (uint8_t)moon_name_tolower(z->origin, origin);
	z->origin_labels = (uint8_t)moon_name_labels(z->origin);
	/* The apex is node 0. */
	return moon__zload_node(L, z->origin, z->origin_len) == 0 ? 0 : -ENOMEM;
}

static void zload_release(struct moon_zload *L)
{
	free(L->recs.p);
	free(L->rdata.p);
	for (unsigned i = 0; i < L->nfiles; i++)
		free(L->files[i]);
	free(L->files);
}

int moon_zone_load(const struct moon_zone_source *src, struct moon_zone **out,
		   struct moon_diag *diag)
{
	*out = NULL;
	if (!src || (!src->file == !src->text))
		return -EINVAL;
	struct moon_zload L = { .diag = diag, .src_name = src->file ? src->file :
				src->text_name ? src->text_name : "(inline zone)" };
	struct parser P = { .L = &L, .last_node = MOON_ZNONE, .cur_file = UINT16_MAX };
	P.src_name = L.src_name;

	int ret = zone_init(&L, src);
	if (ret == 0)
		ret = parse(&P, src);
	if (ret == 0)
		ret = moon__zone_build(&L);
	zload_release(&L);
	if (ret < 0 || L.errors) {
		moon_zone_free(L.z);
		if (ret == -ENOMEM)
			moon_diag_add(diag, L.src_name, 0, 0,
				      "out of memory while loading the zone");
		return ret < 0 ? ret : MOON_ESEMANTIC;
	}
	if (L.warnings > 10)
		moon_warn(ZONE, "%s: %u more warnings", L.src_name, L.warnings - 10);
	/* The temporary arrays were big: give their pages back to the system. */
	malloc_trim(0);
	*out = L.z;
	return 0;
}

void moon_zone_free(struct moon_zone *zone)
{
	if (!zone)
		return;
	free(zone->slots);
	free(zone->nodes);
	free(zone->names);
	for (size_t i = 0; i < sizeof(zone->blocks) / sizeof(zone->blocks[0]); i++)
		free(zone->blocks[i]);
	free(zone);
}

const uint8_t *moon_zone_origin(const struct moon_zone *zone) { return zone->origin; }
uint32_t moon_zone_serial(const struct moon_zone *zone) { return zone->serial; }
size_t moon_zone_record_count(const struct moon_zone *zone) { return zone->nrecords; }
size_t moon_zone_memory(const struct moon_zone *zone) { return zone->memory; }
