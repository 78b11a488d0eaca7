#include <stdbool.h>
#include <stdio.h>

#include "util/err.h"
#include "wire/dns.h"
#include "wire/name.h"
#include "zone/rdata.h"

/*
 * Layouts as small programs: a number is that many fixed octets, 'n' a
 * domain name, 's' a <character-string>, '*' any remaining octets. Without
 * '*' the RDATA must end after the last field.
 */
struct layout {
	uint16_t type;
	bool lower;        /* lowercase the names (RFC 4034 §6.2 as knotd applies it) */
	const char *prog;
};

static const struct layout layouts[] = {
	{ MOON_T_NS, true, "n" },     { 3 /* MD */, true, "n" },   { 4 /* MF */, true, "n" },
	{ MOON_T_CNAME, true, "n" },  { MOON_T_SOA, true, "nn20" },
	{ 7 /* MB */, true, "n" },    { 8 /* MG */, true, "n" },   { 9 /* MR */, true, "n" },
	{ MOON_T_PTR, true, "n" },    { 14 /* MINFO */, true, "nn" },
	{ MOON_T_MX, true, "2n" },    { 17 /* RP */, true, "nn" }, { 18 /* AFSDB */, true, "2n" },
	{ 21 /* RT */, true, "2n" },  { 24 /* SIG */, true, "18n*" },
	{ 26 /* PX */, true, "2nn" }, { 30 /* NXT */, true, "n*" },
	{ MOON_T_SRV, true, "6n" },   { MOON_T_NAPTR, true, "4sssn" },
	{ 36 /* KX */, true, "2n" },  { MOON_T_DNAME, true, "n" },
	{ MOON_T_RRSIG, true, "18n*" },
	{ MOON_T_NSEC, false, "n*" },
	{ MOON_T_SVCB, false, "2n*" }, { MOON_T_HTTPS, false, "2n*" },
};

static const struct layout *find_layout(uint16_t type)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].type == type)
			return &layouts[i];
	return NULL;
}

static int name_field(uint8_t *rd, size_t len, size_t *pos, bool lower)
{
	size_t p = *pos, n = 1;

	for (;;) {
		if (p >= len)
			return MOON_EMALF;
		uint8_t l = rd[p];
		if (l == 0)
			break;
		if (l > MOON_LABEL_MAXLEN || p + 1 + l >= len || (n += 1 + l) > MOON_NAME_MAXLEN)
			return MOON_EMALF;
		for (size_t i = p + 1; lower && i <= p + l; i++)
			if (rd[i] >= 'A' && rd[i] <= 'Z')
				rd[i] += 'a' - 'A';
		p += 1 + (size_t)l;
	}
	*pos = p + 1;
	return 0;
}

int moon__rdata_prepare(uint16_t type, uint8_t *rd, size_t len)
{
	const struct layout *lay = find_layout(type);
	if (!lay)
		return 0;
	size_t pos = 0;
	for (const char *op = lay->prog; *op; op++) {
		if (*op >= '0' && *op <= '9') {
			size_t n = 0;
			while (op[0] >= '0' && op[0] <= '9')
				n = n * 10 + (size_t)(*op++ - '0');
			op--;
			if (len - pos < n)
				return MOON_EMALF;
			pos += n;
		} else if (*op == 'n') {
			if (name_field(rd, len, &pos, lay->lower) < 0)
				return MOON_EMALF;
		} else if (*op == 's') {
			if (pos >= len || len - pos - 1 < rd[pos])
				return MOON_EMALF;
			pos += 1 + (size_t)rd[pos];
		} else {
			return 0;   /* '*': the rest is free-form */
		}
	}
	return pos == len ? 0 : MOON_EMALF;
}

int moon__rdata_target_offset(uint16_t type)
{
	switch (type) {
	case MOON_T_NS: return 0;
	case MOON_T_MX: return 2;
	case MOON_T_SRV: return 6;
	case MOON_T_SVCB: case MOON_T_HTTPS: return 2;
	}
	return -1;
}

const char *moon__rrtype_text(uint16_t type, char buf[16])
{
	static const struct { uint16_t type; const char *text; } names[] = {
		{ MOON_T_A, "A" }, { MOON_T_NS, "NS" }, { MOON_T_CNAME, "CNAME" },
		{ MOON_T_SOA, "SOA" }, { MOON_T_PTR, "PTR" }, { MOON_T_HINFO, "HINFO" },
		{ MOON_T_MX, "MX" }, { MOON_T_TXT, "TXT" }, { MOON_T_AAAA, "AAAA" },
		{ MOON_T_SRV, "SRV" }, { MOON_T_NAPTR, "NAPTR" }, { MOON_T_DNAME, "DNAME" },
		{ MOON_T_DS, "DS" }, { MOON_T_RRSIG, "RRSIG" }, { MOON_T_NSEC, "NSEC" },
		{ MOON_T_DNSKEY, "DNSKEY" }, { MOON_T_NSEC3, "NSEC3" },
		{ MOON_T_NSEC3PARAM, "NSEC3PARAM" }, { MOON_T_SVCB, "SVCB" },
		{ MOON_T_HTTPS, "HTTPS" }, { 52, "TLSA" }, { 44, "SSHFP" }, { 257, "CAA" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].type == type)
			return names[i].text;
	snprintf(buf, 16, "TYPE%u", type);
	return buf;
}
