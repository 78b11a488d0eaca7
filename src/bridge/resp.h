/*
 * The response as the RESPONSE stage edits it (r in Lua): the reply the
 * pipeline wrote into q->resp, seen as a list of records. Parsing records
 * offsets only (names and RDATA are decoded when asked). Edits the wire
 * can take as they are (TTLs, header bits, a 4-bit rcode) are made in
 * place; structural ones (records removed, added or reordered, an EDE
 * option) mark the response dirty, and the bridge then writes a new reply
 * with moon_redit_write(), which takes every record from its original
 * place or from the arena of added records, uncompressed, and lets
 * moon_pktw compress again.
 *
 * Internal to src/bridge; one per Lua state, reset for every stage call.
 */
#ifndef MOON_BRIDGE_RESP_H
#define MOON_BRIDGE_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/ffi_api.h"
#include "wire/dns.h"
#include "wire/pkt.h"

/* A 64 KiB message holds at most ~5500 records (12 bytes each at least). */
#define MOON_REDIT_MAX_RR 8192
#define MOON_REDIT_ARENA 65536

struct moon_redit {
	uint8_t *wire;                  /* the response being edited */
	size_t len;
	struct moon_ffi_rr *rr;         /* MOON_REDIT_MAX_RR */
	uint16_t *order;                /* wire order of the records, by section */
	int32_t sec[4];                 /* order[sec[s] .. sec[s + 1]) is section s */
	uint32_t n;                     /* records in rr */
	bool parsed;
	bool dirty;                     /* must be written anew */
	bool filtered;                  /* records were filtered out (EDE 17 by default) */
	/* The response's OPT record, if any. */
	bool has_opt;
	size_t opt_rdata;
	uint16_t opt_rdlen;
	/* EDE (RFC 8914) to put into the new reply; -1 none. */
	int ede;
	char ede_text[48];
	uint8_t ede_len;
	/* Owners and RDATA of added records. */
	uint8_t *arena;
	size_t arena_used;
	uint8_t *tmp;                   /* MOON_MAX_MSG bytes of RDATA being written */
	uint64_t rng;                   /* shuffle */
};

int moon_redit_init(struct moon_redit *e);
void moon_redit_deinit(struct moon_redit *e);
/* Forgets everything: the next parse starts from wire. */
void moon_redit_reset(struct moon_redit *e, uint8_t *wire, size_t len);
/* Parses the records once; returns their number or MOON_EMALF. */
int moon_redit_parse(struct moon_redit *e);

/* Adds a record (owner and rdata uncompressed) to section, at the
 * section's end (pos < 0) or at position pos of the order, which must lie
 * in that section or at its end. Returns its index, MOON_ELIMIT when the
 * record table or the arena is full, -EINVAL. */
int moon_redit_add(struct moon_redit *e, int section, const uint8_t *owner, uint16_t type,
		   uint32_t ttl, const uint8_t *rdata, uint16_t rdlen, int pos);
/* Position of record i in the order, or -1. */
int moon_redit_pos(const struct moon_redit *e, int i);
int moon_redit_remove(struct moon_redit *e, int i);
int moon_redit_set_ttl(struct moon_redit *e, int i, uint32_t ttl);
/* Randomises the order of the records of each RRset of section (-1: all),
 * keeping the RRsets where they are; only RRsets of types[0..ntypes) when
 * types is not NULL. */
void moon_redit_shuffle(struct moon_redit *e, int section, const uint16_t *types, int ntypes);
/* Puts records idx[0..n) (distinct, of one section) in this order over the
 * positions they hold in the order. Returns 0 or -EINVAL. */
int moon_redit_reorder(struct moon_redit *e, const int32_t *idx, int n);

/* Owner of record i in wire form; returns its length or MOON_EMALF. */
int moon_redit_owner(const struct moon_redit *e, int i, uint8_t out[MOON_NAME_MAXLEN]);
/* RDATA of record i without compression; returns its length or an error. */
int moon_redit_rdata(const struct moon_redit *e, int i, uint8_t *out, size_t cap);

/* Puts every live record into w in order (w begun by the caller, header
 * and OPT set). Owners equal to `alias` (a name, or NULL) are written as a
 * pointer to the question. A record that does not fit truncates the reply
 * (TC) if it belongs to the answer or authority section and is left out if
 * it is additional data. Returns 0 or a negative error. */
int moon_redit_write(const struct moon_redit *e, struct moon_pktw *w, const uint8_t *alias);

#endif
