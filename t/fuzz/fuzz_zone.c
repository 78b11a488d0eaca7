/*
 * Fuzz target for the zone loader and the answer algorithm. The input is
 * zone text for the origin fuzz.test. (inputs naming $INCLUDE are skipped:
 * they would read arbitrary files). When it loads, a handful of queries is
 * answered: the apex SOA, names made from the input's tokens (so mutations
 * of owner names hit real nodes), a name below each and a wildcard
 * expansion, with and without DO. Every answer is checked: bounded
 * sections, valid owner names inside the zone, records that walk exactly
 * to the set's RDATA length. Any broken invariant aborts.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/diag.h"
#include "wire/dns.h"
#include "wire/name.h"
#include "zone/zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static const uint16_t qtypes[] = {
	MOON_T_A, MOON_T_NS, MOON_T_CNAME, MOON_T_SOA, MOON_T_MX, MOON_T_TXT, MOON_T_AAAA,
	MOON_T_SRV, MOON_T_DNAME, MOON_T_DS, MOON_T_RRSIG, MOON_T_NSEC, MOON_T_HTTPS, MOON_T_ANY,
};

static struct moon_zone_answer ans;

static void check_rrset(const struct moon_rrset *rs)
{
	CHECK(rs && rs->count > 0);
	const uint8_t *rd = rs->rdata;
	for (uint16_t i = 0; i < rs->count; i++)
		rd = moon_rdata_next(rd);
	CHECK((uint32_t)(rd - rs->rdata) == rs->rdata_len);
}

static void check_answer(const struct moon_zone *z)
{
	for (int s = 0; s < 3; s++) {
		CHECK(ans.sec[s].n <= MOON_ANS_MAX_RRSETS);
		for (uint16_t i = 0; i < ans.sec[s].n; i++) {
			const struct moon_ans_rrset *e = &ans.sec[s].rr[i];
			check_rrset(e->rrset);
			if (e->owner) {
				CHECK(moon_name_len(e->owner) <= MOON_NAME_MAXLEN);
				CHECK(moon_name_is_subdomain(e->owner, moon_zone_origin(z)));
			}
		}
	}
	CHECK(ans.nsynth <= MOON_ANS_MAX_CHAIN);
	CHECK(ans.nglue <= ans.sec[2].n);
}

static void query(const struct moon_zone *z, const uint8_t *name)
{
	for (size_t i = 0; i < sizeof(qtypes) / sizeof(qtypes[0]); i++) {
		for (int dnssec = 0; dnssec < 2; dnssec++) {
			moon_zone_answer(z, name, qtypes[i], dnssec, &ans);
			check_answer(z);
		}
	}
}

/* Queries <token>, x.<token> and the expansion a wildcard there would get. */
static void query_token(const struct moon_zone *z, const char *token)
{
	uint8_t name[MOON_NAME_MAXLEN], below[MOON_NAME_MAXLEN];
	if (moon_name_from_text(token, moon_zone_origin(z), name) < 0)
		return;
	moon_name_tolower(name, name);
	query(z, name);
	size_t len = moon_name_len(name);
	if (len + 2 > MOON_NAME_MAXLEN)
		return;
	below[0] = 1;
	below[1] = 'x';
	memcpy(below + 2, name, len);
	query(z, below);
	if (moon_name_is_wildcard(name)) {
		below[0] = 3;
		memcpy(below + 1, "zzz", 3);
		memcpy(below + 4, name + 2, len - 2);
		query(z, below);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	for (size_t i = 0; i < size; i++)
		if (text[i] == '$' && strncasecmp(text + i + 1, "include", 7) == 0)
			goto out_free;

	struct moon_zone_source src = { .origin = "fuzz.test.", .text = text, .text_name = "fuzz" };
	struct moon_diag diag = { 0 };
	struct moon_zone *z = NULL;
	int ret = moon_zone_load(&src, &z, &diag);
	CHECK((ret == 0) == (z != NULL));
	CHECK(ret == 0 || moon_diag_count(&diag) > 0);
	if (z) {
		CHECK(moon_zone_record_count(z) > 0 && moon_zone_memory(z) > 0);
		query(z, moon_zone_origin(z));
		/* Whitespace-separated tokens of the input, at most 32. */
		char *save = NULL;
		int n = 0;
		for (char *tok = strtok_r(text, " \t\r\n()\"", &save); tok && n < 32;
		     tok = strtok_r(NULL, " \t\r\n()\"", &save), n++)
			if (isalnum((unsigned char)tok[0]) || tok[0] == '*' || tok[0] == '_')
				query_token(z, tok);
	}
	moon_zone_free(z);
	moon_diag_free(&diag);
out_free:
	free(text);
	return 0;
}
