/*
 * Unit tests for src/bridge/resp.c (the editable response) and
 * src/bridge/rrtext.c (records as text).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bridge/resp.h"
#include "bridge/rrtext.h"
#include "tap.h"
#include "util/err.h"
#include "wire/dns.h"
#include "wire/wire.h"

struct collect {
	int n;
	uint8_t owner[8][MOON_NAME_MAXLEN];
	uint16_t type[8];
	uint32_t ttl[8];
	uint8_t rdata[8][64];
	uint16_t rdlen[8];
};

static int collect(void *arg, const uint8_t *owner, uint16_t type, uint32_t ttl,
		   const uint8_t *rdata, uint16_t rdlen)
{
	struct collect *c = arg;
	if (c->n == 8 || rdlen > 64)
		return -EINVAL;
	memcpy(c->owner[c->n], owner, moon_name_len(owner));
	c->type[c->n] = type;
	c->ttl[c->n] = ttl;
	memcpy(c->rdata[c->n], rdata, rdlen);
	c->rdlen[c->n] = rdlen;
	c->n++;
	return 0;
}

static void test_rrtext(void)
{
	struct moon_rrtext *rt = moon_rrtext_new();
	uint8_t origin[MOON_NAME_MAXLEN];
	moon_name_from_text("q.example.", NULL, origin);
	char err[256];
	struct collect c = { 0 };
	const char *text = "@ 30 IN A 192.0.2.1\nwww AAAA 2001:db8::1\nx.test. MX 10 mail";
	is_int(moon_rrtext_parse(rt, text, strlen(text), origin, 60, collect, &c, err,
				 sizeof(err)), 3, "three records");
	char name[MOON_NAME_TEXT_MAXLEN];
	moon_name_to_text(c.owner[0], name, sizeof(name));
	is_str(name, "q.example.", "@ is the origin");
	is_int(c.ttl[0], 30, "explicit TTL");
	moon_name_to_text(c.owner[1], name, sizeof(name));
	is_str(name, "www.q.example.", "relative names are below the origin");
	is_int(c.ttl[1], 60, "default TTL");
	is_int(c.type[2], MOON_T_MX, "MX");
	char rd[128];
	ok(moon_rdata_to_text(MOON_T_MX, c.rdata[2], c.rdlen[2], rd, sizeof(rd)) > 0 &&
	   strcmp(rd, "10 mail.q.example.") == 0, "MX rdata as text");

	c.n = 0;
	text = "@ 30 A 192.0.2.300";
	is_int(moon_rrtext_parse(rt, text, strlen(text), origin, 60, collect, &c, err, sizeof(err)),
	       MOON_ESYNTAX, "a bad address");
	ok(strstr(err, "line 1:") != NULL, "the error names the line");
	text = "@ 30 A 192.0.2.3";
	is_int(moon_rrtext_parse(rt, text, strlen(text), origin, 60, collect, &c, err, sizeof(err)),
	       1, "the parser works again after an error");
	text = "; only a comment";
	is_int(moon_rrtext_parse(rt, text, strlen(text), origin, 60, collect, &c, err, sizeof(err)),
	       MOON_ESYNTAX, "no record is an error");
	text = "@ 30 OPT \\# 0";
	ok(moon_rrtext_parse(rt, text, strlen(text), origin, 60, collect, &c, err, sizeof(err)) < 0,
	   "meta types are refused");

	static const uint8_t txt[] = { 5, 'h', 'e', 'l', 'l', 'o', 2, 'h', 'i' };
	ok(moon_rdata_to_text(MOON_T_TXT, txt, sizeof(txt), rd, sizeof(rd)) > 0 &&
	   strcmp(rd, "\"hello\" \"hi\"") == 0, "TXT as text");
	static const uint8_t unk[] = { 0xde, 0xad };
	ok(moon_rdata_to_text(65280, unk, sizeof(unk), rd, sizeof(rd)) > 0 &&
	   strcasecmp(rd, "\\# 2 dead") == 0, "an unknown type in RFC 3597 form");
	char tname[32];
	moon_rrtype_to_text(MOON_T_AAAA, tname, sizeof(tname));
	is_str(tname, "AAAA", "type name");
	moon_rrtype_to_text(65280, tname, sizeof(tname));
	is_str(tname, "TYPE65280", "unknown type name");
	moon_rrtext_free(rt);
}

/* A response: question a.example. A; answer: two A records owned by a
 * pointer to the question, an MX whose target is compressed; OPT. */
static size_t make_response(uint8_t *buf)
{
	static const uint8_t msg[] = {
		0x12, 0x34, 0x84, 0x00, 0, 1, 0, 3, 0, 0, 0, 1,
		/* 12 */ 1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
		/* 27 */ 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 1,
		/* 43 */ 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 2,
		/* 59 */ 0xc0, 14, 0, 15, 0, 1, 0, 0, 0, 60, 0, 9, 0, 10, 4, 'm', 'a', 'i', 'l',
		0xc0, 14,
		/* OPT */ 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0,
	};
	memcpy(buf, msg, sizeof(msg));
	return sizeof(msg);
}

static void test_redit(void)
{
	struct moon_redit e;
	is_int(moon_redit_init(&e), 0, "init");
	uint8_t wire[512];
	size_t len = make_response(wire);
	moon_redit_reset(&e, wire, len);
	is_int(moon_redit_parse(&e), 3, "three records (the OPT is apart)");
	ok(e.has_opt, "the OPT record is found");
	is_int(e.sec[1], 3, "all in the answer");

	uint8_t name[MOON_NAME_MAXLEN];
	char text[MOON_NAME_TEXT_MAXLEN];
	moon_redit_owner(&e, 2, name);
	moon_name_to_text(name, text, sizeof(text));
	is_str(text, "example.", "a compressed owner");
	uint8_t rd[64];
	int rdlen = moon_redit_rdata(&e, 2, rd, sizeof(rd));
	is_int(rdlen, 2 + 14, "the MX target is expanded");
	ok(rdlen == 16 && memcmp(rd + 2, "\4mail\7example\0", 14) == 0, "to mail.example.");

	moon_redit_set_ttl(&e, 0, 7);
	is_int(moon_get_u32(wire + 27 + 6), 7, "a TTL is changed in place");
	ok(!e.dirty, "which needs no rewrite");

	/* Structural edits, then a new message. */
	moon_redit_remove(&e, 1);
	static const uint8_t aaaa[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	uint8_t owner[MOON_NAME_MAXLEN];
	moon_name_from_text("v6.example.", NULL, owner);
	is_int(moon_redit_add(&e, 2, owner, MOON_T_AAAA, 30, aaaa, 16, -1), 3, "add to additional");
	ok(e.dirty, "structural edits need a rewrite");
	uint8_t out[512];
	struct moon_pktw w;
	struct moon_pkt q;
	moon_pkt_parse(&q, (const uint8_t *)"\x12\x34\x01\x00\0\1\0\0\0\0\0\0\1a\7example\0\0\1\0\1",
		       27);
	moon_pktw_begin(&w, out, sizeof(out), &q);
	is_int(moon_redit_write(&e, &w, NULL), 0, "write");
	size_t n = moon_pktw_finish(&w);
	struct moon_redit e2;
	moon_redit_init(&e2);
	moon_redit_reset(&e2, out, n);
	is_int(moon_redit_parse(&e2), 3, "the new message has three records");
	is_int(e2.sec[1], 2, "two in the answer");
	is_int(e2.rr[0].ttl, 7, "the edited TTL");
	is_int(e2.rr[1].type, MOON_T_MX, "the MX");
	rdlen = moon_redit_rdata(&e2, 1, rd, sizeof(rd));
	ok(rdlen == 16 && memcmp(rd + 2, "\4mail\7example\0", 14) == 0, "its target intact");
	is_int(e2.rr[2].type, MOON_T_AAAA, "the added AAAA in additional");
	is_int(e2.rr[2].section, MOON_SEC_ADDITIONAL, "in its section");
	ok(n < len + 40, "names were compressed again");

	/* Adding at a position and the order array. */
	moon_redit_reset(&e, wire, len);
	moon_redit_parse(&e);
	static const uint8_t a3[4] = { 192, 0, 2, 3 };
	int i = moon_redit_add(&e, 0, owner, MOON_T_A, 30, a3, 4, moon_redit_pos(&e, 1));
	is_int(e.order[1], i, "inserted before record 1");
	is_int(e.order[2], 1, "which moved down");
	is_int(moon_redit_add(&e, 1, owner, MOON_T_A, 30, a3, 4, 0), -EINVAL,
	       "a position outside the section");
	moon_redit_deinit(&e);
	moon_redit_deinit(&e2);
}

static void test_malformed(void)
{
	struct moon_redit e;
	moon_redit_init(&e);
	uint8_t wire[512];
	size_t len = make_response(wire);
	moon_redit_reset(&e, wire, len - 20);
	is_int(moon_redit_parse(&e), MOON_EMALF, "a cut message is refused");
	wire[7] = 200;   /* ANCOUNT */
	moon_redit_reset(&e, wire, len);
	is_int(moon_redit_parse(&e), MOON_EMALF, "a count past the records");
	moon_redit_deinit(&e);

	/* A compressed name in RDATA pointing forward is malformed. */
	uint8_t msg[] = { 0xc0, 20 };
	uint8_t out[64];
	is_int(moon_rdata_unpack(MOON_T_NS, msg, sizeof(msg), 0, 2, out, sizeof(out)), MOON_EMALF,
	       "a bad pointer in RDATA");
}

int main(void)
{
	test_rrtext();
	test_redit();
	test_malformed();
	return tap_done();
}
