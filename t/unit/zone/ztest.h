/*
 * Helpers shared by the zone unit tests: load a zone from text, build
 * names from text, look at answer sections.
 */
#ifndef MOON_T_ZTEST_H
#define MOON_T_ZTEST_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util/diag.h"
#include "wire/dns.h"
#include "wire/name.h"
#include "wire/pkt.h"
#include "wire/wire.h"
#include "zone/zone.h"

/* Wire form of a presentation name; a few calls may be live at once. */
static inline const uint8_t *N(const char *text)
{
	static uint8_t bufs[8][MOON_NAME_MAXLEN];
	static unsigned next;
	uint8_t *b = bufs[next++ % 8];
	if (moon_name_from_text(text, NULL, b) < 0) {
		printf("# bad test name %s\n", text);
		abort();
	}
	moon_name_tolower(b, b);
	return b;
}

static inline struct moon_zone *load_text(const char *origin, const char *text,
					  struct moon_diag *d, int *ret)
{
	struct moon_zone_source src = { .origin = origin, .text = text, .text_name = "t.zone" };
	struct moon_zone *z = NULL;
	int r = moon_zone_load(&src, &z, d);
	if (ret)
		*ret = r;
	for (size_t i = 0; i < d->n; i++)
		printf("# diag: %s\n", d->msgs[i]);
	return z;
}

static inline bool diag_has(const struct moon_diag *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->msgs[i], needle))
			return true;
	return false;
}

static inline void ask(const struct moon_zone *z, const char *name, uint16_t type, bool do_bit,
		       struct moon_zone_answer *a)
{
	moon_zone_answer(z, N(name), type, do_bit, a);
}

/* Does entry i of section s have this owner (NULL = the question name)
 * and type? Prints what it is when not. */
static inline bool entry_is(const struct moon_zone_answer *a, int s, int i, const char *owner,
			    uint16_t type)
{
	if (i >= a->sec[s].n) {
		printf("#   section %d has only %u entries\n", s, a->sec[s].n);
		return false;
	}
	const struct moon_ans_rrset *e = &a->sec[s].rr[i];
	bool owner_ok = owner ? e->owner && moon_name_equal(e->owner, N(owner)) : !e->owner;
	if (owner_ok && e->rrset->type == type)
		return true;
	char text[MOON_NAME_TEXT_MAXLEN] = "(question)";
	if (e->owner)
		moon_name_to_text(e->owner, text, sizeof(text));
	printf("#   section %d entry %d is %s type %u\n", s, i, text, e->rrset->type);
	return false;
}

/* The RDATA of record k of entry i of section s. */
static inline const uint8_t *entry_rdata(const struct moon_zone_answer *a, int s, int i, int k,
					 uint16_t *len)
{
	const uint8_t *rd = a->sec[s].rr[i].rrset->rdata;
	while (k--)
		rd = moon_rdata_next(rd);
	*len = moon_rdata_len(rd);
	return moon_rdata_data(rd);
}

enum { SAN = MOON_SEC_ANSWER, SNS = MOON_SEC_AUTHORITY, SAR = MOON_SEC_ADDITIONAL };

#endif
