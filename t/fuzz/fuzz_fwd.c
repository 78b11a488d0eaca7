/*
 * Fuzz target for what the forwarder does with an upstream reply: the
 * input is the reply. A query is built from the input's own question and
 * ID (so most inputs get past the matching), then the reply is checked,
 * scrubbed for the root, for the question's parent zone and into a
 * 512-byte buffer, and patched for a client with other case. Invariants:
 * the output fits, parses, keeps the question, never grows a section,
 * and scrubbing the output again removes nothing more. Any broken
 * invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fwd/msg.h"
#include "util/err.h"
#include "wire/pkt.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static uint8_t out[65536], again[65536];

static void scrub_one(const uint8_t *data, size_t size, const struct moon_pkt *in,
		      const uint8_t *zone, size_t cap, bool tc)
{
	struct moon_fwd_scrub sc;
	int n = moon__fwd_scrub(data, size, zone, out, cap, &sc);
	if (n == MOON_EMALF)
		return;         /* a name inside RDATA did not read */
	CHECK(n >= MOON_HDR_LEN && (size_t)n <= cap);
	struct moon_pkt p;
	CHECK(moon_pkt_parse(&p, out, (size_t)n) == 0);
	CHECK(p.question_ok && p.qname_len == in->qname_len);
	CHECK(memcmp(p.qname, in->qname, in->qname_len) == 0);
	CHECK(p.id == in->id && p.qtype == in->qtype && p.qclass == in->qclass);
	CHECK(!p.edns.present);
	if (tc) {
		CHECK(p.ancount == 0 && p.nscount == 0 && p.arcount == 0);
		return;
	}
	CHECK(p.ancount <= in->ancount && p.nscount <= in->nscount && p.arcount <= in->arcount);
	if (p.flags & MOON_FLAG_TC)
		return;         /* did not fit: cut to the question */
	/* Scrubbing is idempotent: nothing more goes the second time. */
	struct moon_fwd_scrub sc2;
	int m = moon__fwd_scrub(out, (size_t)n, zone, again, sizeof(again), &sc2);
	CHECK(m > 0 && sc2.removed == 0 && sc2.in_bailiwick == sc.in_bailiwick);

	uint8_t other[MOON_NAME_MAXLEN];
	memcpy(other, in->qname, in->qname_len);
	for (unsigned i = 0; i < in->qname_len; i++)
		if ((other[i] | 0x20) >= 'a' && (other[i] | 0x20) <= 'z')
			other[i] ^= 0x20;
	struct moon_fwd_client c = { .id = 0x4242, .flags = 0, .qname = other };
	moon__fwd_patch(out, (size_t)n, &c);
	CHECK(moon_pkt_parse(&p, out, (size_t)n) == 0 && p.id == 0x4242);
	CHECK(memcmp(p.qname, other, in->qname_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct moon_pkt in;
	moon_pkt_parse(&in, data, size);
	if (!in.question_ok)
		return 0;
	uint8_t q[MOON_FWD_QMAX];
	struct moon_fwd_qspec s = {
		.qname = in.qname, .qtype = in.qtype, .qclass = in.qclass, .rd = true,
		.payload = 1232,
	};
	size_t qlen = moon__fwd_build_query(q, in.id, &s);
	uint16_t rcode;
	enum moon_fwd_verdict v = moon__fwd_check_reply(data, size, q, qlen, &rcode);
	if (v != MOON_FWD_REPLY_OK && v != MOON_FWD_REPLY_TC)
		return 0;
	static const uint8_t root[] = { 0 };
	bool tc = v == MOON_FWD_REPLY_TC;
	scrub_one(data, size, &in, root, sizeof(out), tc);
	scrub_one(data, size, &in, moon_name_parent(in.qname), sizeof(out), tc);
	/* A small buffer may truncate, so only the basic invariants hold. */
	struct moon_fwd_scrub sc;
	int n = moon__fwd_scrub(data, size, root, out, 512, &sc);
	CHECK(n == MOON_EMALF || (n >= MOON_HDR_LEN && n <= 512));
	return 0;
}
