/*
 * Hand-built DNS messages for the cache tests: a response with records in
 * any section, and the client query that goes with it. Built byte by byte
 * (not with the wire writer) so the tests do not depend on what they test.
 */
#ifndef MOON_T_CACHE_MSGBUILD_H
#define MOON_T_CACHE_MSGBUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/dns.h"
#include "wire/name.h"
#include "wire/wire.h"

struct tmsg {
	uint8_t b[4096];
	size_t len;
};

static inline void tm_u16(struct tmsg *m, uint16_t v)
{
	moon_put_u16(m->b + m->len, v);
	m->len += 2;
}

static inline void tm_u32(struct tmsg *m, uint32_t v)
{
	tm_u16(m, (uint16_t)(v >> 16));
	tm_u16(m, (uint16_t)v);
}

static inline void tm_name(struct tmsg *m, const char *text)
{
	uint8_t name[MOON_NAME_MAXLEN];
	int n = moon_name_from_text(text, NULL, name);
	if (n < 0)
		abort();
	memcpy(m->b + m->len, name, (size_t)n);
	m->len += (size_t)n;
}

/* A message with ID 0xabcd, the given flags word and one question. */
static inline void tm_begin(struct tmsg *m, const char *qname, uint16_t qtype, uint16_t qclass,
			    uint16_t flags)
{
	memset(m, 0, sizeof(*m));
	tm_u16(m, 0xabcd);
	tm_u16(m, flags);
	tm_u16(m, 1);
	m->len = MOON_HDR_LEN;
	tm_name(m, qname);
	tm_u16(m, qtype);
	tm_u16(m, qclass);
}

/* Appends a record to `section` (0 answer, 1 authority, 2 additional) and
 * bumps its count; owner NULL is a pointer to the question name. Returns
 * the offset of the record's TTL field. */
static inline size_t tm_rr(struct tmsg *m, int section, const char *owner, uint16_t type,
			   uint32_t ttl, const void *rdata, uint16_t rdlen)
{
	if (owner)
		tm_name(m, owner);
	else
		tm_u16(m, 0xc00c);
	tm_u16(m, type);
	tm_u16(m, type == MOON_T_OPT ? 1232 : MOON_CLASS_IN);
	size_t ttl_off = m->len;
	tm_u32(m, ttl);
	tm_u16(m, rdlen);
	memcpy(m->b + m->len, rdata, rdlen);
	m->len += rdlen;
	uint8_t *count = m->b + 6 + 2 * section;
	moon_put_u16(count, (uint16_t)(moon_get_u16(count) + 1));
	return ttl_off;
}

static inline size_t tm_a(struct tmsg *m, int section, const char *owner, uint32_t ttl,
			  uint8_t last_octet)
{
	uint8_t ip[4] = { 192, 0, 2, last_octet };
	return tm_rr(m, section, owner, MOON_T_A, ttl, ip, 4);
}

static inline size_t tm_soa(struct tmsg *m, const char *owner, uint32_t ttl, uint32_t minimum)
{
	struct tmsg rd = { .len = 0 };
	tm_name(&rd, "ns1.example.com.");
	tm_name(&rd, "hostmaster.example.com.");
	tm_u32(&rd, 2024010101);
	tm_u32(&rd, 3600);
	tm_u32(&rd, 600);
	tm_u32(&rd, 604800);
	tm_u32(&rd, minimum);
	return tm_rr(m, 1, owner, MOON_T_SOA, ttl, rd.b, (uint16_t)rd.len);
}

static inline void tm_opt(struct tmsg *m, uint8_t ext_rcode, bool do_bit)
{
	tm_name(m, ".");
	tm_u16(m, MOON_T_OPT);
	tm_u16(m, 1232);
	tm_u32(m, (uint32_t)ext_rcode << 24 | (do_bit ? 0x8000u : 0));
	tm_u16(m, 0);
	moon_put_u16(m->b + 10, (uint16_t)(moon_get_u16(m->b + 10) + 1));
}

/* The standard response flags: QR RD RA, rcode as given. */
#define TM_RESP(rcode) (MOON_FLAG_QR | MOON_FLAG_RD | MOON_FLAG_RA | (rcode))

#endif
