/* Names inside RDATA (src/zone/rdata.c): checks, lowercasing, targets. */
#include "tap.h"
#include "util/err.h"
#include "wire/dns.h"
#include "zone/rdata.h"

static int prep(uint16_t type, uint8_t *rd, size_t len)
{
	return moon__rdata_prepare(type, rd, len);
}

int main(void)
{
	uint8_t ns[] = "\3NS1\7Example\0";
	is_int(prep(MOON_T_NS, ns, 13), 0, "NS accepted");
	is_mem(ns, "\3ns1\7example\0", 13, "NS target lowercased");

	uint8_t mx[] = "\0\12\4MAIL\0";
	is_int(prep(MOON_T_MX, mx, 8), 0, "MX accepted");
	is_mem(mx + 3, "mail", 4, "MX exchange lowercased");
	is_int(prep(MOON_T_MX, mx, 7), MOON_EMALF, "MX cut short");
	uint8_t mx_tail[] = "\0\12\4mail\0\0";
	is_int(prep(MOON_T_MX, mx_tail, 9), MOON_EMALF, "MX with trailing bytes");

	uint8_t soa[22 + 20] = "\2NS\0\2HM\0";
	is_int(prep(MOON_T_SOA, soa, 8 + 20), 0, "SOA accepted");
	is_mem(soa, "\2ns\0\2hm\0", 8, "SOA names lowercased");
	is_int(prep(MOON_T_SOA, soa, 8 + 19), MOON_EMALF, "SOA with a short tail");

	uint8_t srv[] = "\0\0\0\5\0\120\3WWW\0";
	is_int(prep(MOON_T_SRV, srv, 11), 0, "SRV accepted");
	is_mem(srv + 7, "www", 3, "SRV target lowercased");

	uint8_t nsec[] = "\4NEXT\0\0\1\100";
	is_int(prep(MOON_T_NSEC, nsec, 9), 0, "NSEC accepted with its bitmap");
	is_mem(nsec, "\4NEXT", 5, "NSEC next name keeps its case");

	uint8_t svcb[] = "\0\1\3SVC\0\0\1\0\0";
	is_int(prep(MOON_T_SVCB, svcb, 11), 0, "SVCB accepted");
	is_mem(svcb + 3, "SVC", 3, "SVCB target keeps its case");

	uint8_t naptr[] = "\0\1\0\2\1S\0\0\3_SI\0";
	is_int(prep(MOON_T_NAPTR, naptr, 13), 0, "NAPTR accepted");
	is_mem(naptr + 9, "_si", 3, "NAPTR replacement lowercased");
	is_int(prep(MOON_T_NAPTR, naptr, 7), MOON_EMALF, "NAPTR with a cut string");

	uint8_t rrsig[18 + 5 + 3] = { 0, 1 };
	memcpy(rrsig + 18, "\3COM\0SIG", 8);
	is_int(prep(MOON_T_RRSIG, rrsig, sizeof(rrsig)), 0, "RRSIG accepted");
	is_mem(rrsig + 19, "com", 3, "RRSIG signer lowercased");
	is_mem(rrsig + 23, "SIG", 3, "RRSIG signature untouched");

	uint8_t longlabel[66] = { 64 };
	is_int(prep(MOON_T_CNAME, longlabel, sizeof(longlabel)), MOON_EMALF,
	       "label over 63 octets");
	uint8_t unterminated[] = "\3abc";
	is_int(prep(MOON_T_CNAME, unterminated, 4), MOON_EMALF, "name without the root label");
	uint8_t huge[300];
	for (size_t i = 0; i + 1 < sizeof(huge); i += 2)
		huge[i] = 1, huge[i + 1] = 'a';
	huge[sizeof(huge) - 2] = 0;
	is_int(prep(MOON_T_CNAME, huge, sizeof(huge) - 1), MOON_EMALF, "name over 255 octets");

	uint8_t txt[] = "\2AB";
	is_int(prep(MOON_T_TXT, txt, 3), 0, "other types accepted as they are");
	is_mem(txt, "\2AB", 3, "and not changed");

	is_int(moon__rdata_target_offset(MOON_T_NS), 0, "NS target offset");
	is_int(moon__rdata_target_offset(MOON_T_MX), 2, "MX target offset");
	is_int(moon__rdata_target_offset(MOON_T_SRV), 6, "SRV target offset");
	is_int(moon__rdata_target_offset(MOON_T_HTTPS), 2, "HTTPS target offset");
	is_int(moon__rdata_target_offset(MOON_T_A), -1, "A has no target");

	char buf[16];
	is_str(moon__rrtype_text(MOON_T_AAAA, buf), "AAAA", "type mnemonic");
	is_str(moon__rrtype_text(65000, buf), "TYPE65000", "unknown type as TYPEnnn");
	return tap_done();
}
