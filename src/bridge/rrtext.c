#include <ldns/ldns.h>
#include <libzscanner/scanner.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/rrtext.h"
#include "util/err.h"
#include "wire/dns.h"
#include "wire/name.h"
#include "wire/wire.h"

/* Room for "$ORIGIN <name>\n$TTL <n>\n" ahead of the caller's text. */
#define PREAMBLE (MOON_NAME_TEXT_MAXLEN + 40)
#define MAX_TEXT 65536

struct moon_rrtext {
	zs_scanner_t zs;                /* ~200 KiB: initialised once, reused */
	char *input;                    /* preamble + text */
	bool ready;
};

struct parse_ctx {
	moon_rrtext_fn fn;
	void *arg;
	int ret;
	int count;
	char *err;
	size_t errlen;
};

struct moon_rrtext *moon_rrtext_new(void)
{
	struct moon_rrtext *p = malloc(sizeof(*p));
	if (!p)
		return NULL;
	p->input = malloc(PREAMBLE + MAX_TEXT + 2);
	if (!p->input) {
		free(p);
		return NULL;
	}
	p->ready = false;
	return p;
}

void moon_rrtext_free(struct moon_rrtext *p)
{
	if (!p)
		return;
	if (p->ready)
		zs_deinit(&p->zs);
	free(p->input);
	free(p);
}

static void on_record(zs_scanner_t *s)
{
	struct parse_ctx *c = s->process.data;
	if (s->r_type == MOON_T_OPT || s->r_type == 0 || (s->r_type >= 128 && s->r_type <= 255)) {
		snprintf(c->err, c->errlen, "type %u cannot be used in an answer", s->r_type);
		c->ret = MOON_ESYNTAX;
		s->state = ZS_STATE_STOP;
		return;
	}
	int ret = c->fn(c->arg, s->r_owner, s->r_type, s->r_ttl, s->r_data,
			(uint16_t)s->r_data_length);
	if (ret) {
		c->ret = ret;
		s->state = ZS_STATE_STOP;
		return;
	}
	c->count++;
}

static void on_error(zs_scanner_t *s)
{
	struct parse_ctx *c = s->process.data;
	/* The preamble takes two lines. */
	unsigned line = s->line_counter > 2 ? (unsigned)s->line_counter - 2 : 1;
	snprintf(c->err, c->errlen, "line %u: %s", line, zs_strerror(s->error.code));
	c->ret = MOON_ESYNTAX;
	s->state = ZS_STATE_STOP;
}

/* The scanner keeps parser state between inputs; after an error it is
 * rebuilt rather than trusted. */
static int scanner_ready(struct moon_rrtext *p, bool after_error)
{
	if (p->ready && !after_error)
		return 0;
	if (p->ready)
		zs_deinit(&p->zs);
	p->ready = zs_init(&p->zs, ".", MOON_CLASS_IN, 60) == 0;
	return p->ready ? 0 : -ENOMEM;
}

int moon_rrtext_parse(struct moon_rrtext *p, const char *text, size_t len, const uint8_t *origin,
		      uint32_t ttl, moon_rrtext_fn fn, void *arg, char *err, size_t errlen)
{
	if (len > MAX_TEXT) {
		snprintf(err, errlen, "record text longer than %d bytes", MAX_TEXT);
		return MOON_ESYNTAX;
	}
	int ret = scanner_ready(p, false);
	if (ret)
		return ret;
	char name[MOON_NAME_TEXT_MAXLEN];
	if (moon_name_to_text(origin, name, sizeof(name)) < 0)
		return -EINVAL;
	int n = snprintf(p->input, PREAMBLE, "$ORIGIN %s\n$TTL %u\n", name, ttl);
	memcpy(p->input + n, text, len);
	size_t total = (size_t)n + len;
	p->input[total++] = '\n';       /* the last record needs its line end */
	struct parse_ctx c = { .fn = fn, .arg = arg, .err = err, .errlen = errlen };
	if (zs_set_processing(&p->zs, on_record, on_error, &c) != 0 ||
	    zs_set_input_string(&p->zs, p->input, total) != 0) {
		snprintf(err, errlen, "%s", zs_strerror(p->zs.error.code));
		scanner_ready(p, true);
		return MOON_ESYNTAX;
	}
	/* Lines count from the start of this input, not of the scanner. */
	p->zs.line_counter = 1;
	(void)zs_parse_all(&p->zs);
	if (c.ret) {
		scanner_ready(p, true);
		return c.ret;
	}
	if (c.count == 0) {
		snprintf(err, errlen, "no record in '%.*s'", (int)(len > 60 ? 60 : len), text);
		return MOON_ESYNTAX;
	}
	return c.count;
}

/* RDATA layouts up to the last name: n a name, 2 a 16-bit field, s a
 * character-string. What follows the last name is copied as it is. */
static const char *layout(uint16_t type)
{
	switch (type) {
	case MOON_T_NS: case 3 /* MD */: case 4 /* MF */: case MOON_T_CNAME:
	case 7 /* MB */: case 8 /* MG */: case 9 /* MR */: case MOON_T_PTR:
	case MOON_T_DNAME:
		return "n";
	case MOON_T_SOA: case 14 /* MINFO */: case 17 /* RP */:
		return "nn";
	case MOON_T_MX: case 18 /* AFSDB */: case 21 /* RT */: case 36 /* KX */:
		return "2n";
	case 26 /* PX */:
		return "2nn";
	case MOON_T_SRV:
		return "222n";
	case MOON_T_NAPTR:
		return "22sssn";
	default:
		return NULL;
	}
}

int moon_rdata_unpack(uint16_t type, const uint8_t *msg, size_t msglen, size_t off,
		      uint16_t rdlen, uint8_t *out, size_t cap)
{
	size_t end = off + rdlen;
	if (end > msglen)
		return MOON_EMALF;
	const char *l = layout(type);
	size_t pos = off, n = 0;
	for (; l && *l; l++) {
		uint8_t name[MOON_NAME_MAXLEN];
		size_t take;
		const uint8_t *src = msg + pos;
		if (*l == 'n') {
			int len = moon_name_unpack(msg, end, &pos, name);
			if (len < 0)
				return MOON_EMALF;
			src = name;
			take = (size_t)len;
		} else {
			take = *l == '2' ? 2 : pos < end ? 1u + msg[pos] : 1;
			if (pos + take > end)
				return MOON_EMALF;
			pos += take;
		}
		if (n + take > cap)
			return MOON_ESPACE;
		memcpy(out + n, src, take);
		n += take;
	}
	if (n + (end - pos) > cap)
		return MOON_ESPACE;
	memcpy(out + n, msg + pos, end - pos);
	return (int)(n + end - pos);
}

int moon_rdata_to_text(uint16_t type, const uint8_t *rdata, uint16_t rdlen, char *out,
		       size_t cap)
{
	/* ldns reads whole records: give it one owned by the root. */
	uint8_t *wire = malloc(11u + rdlen);
	if (!wire)
		return -ENOMEM;
	wire[0] = 0;
	moon_put_u16(wire + 1, type);
	moon_put_u16(wire + 3, MOON_CLASS_IN);
	memset(wire + 5, 0, 4);
	moon_put_u16(wire + 9, rdlen);
	memcpy(wire + 11, rdata, rdlen);
	ldns_rr *rr = NULL;
	size_t pos = 0;
	int ret = MOON_EMALF;
	if (ldns_wire2rr(&rr, wire, 11u + rdlen, &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK)
		goto out_wire;
	ldns_buffer *b = ldns_buffer_new(256);
	ret = -ENOMEM;
	if (!b)
		goto out_rr;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		if (i)
			ldns_buffer_write_u8(b, ' ');
		if (ldns_rdf2buffer_str(b, ldns_rr_rdf(rr, i)) != LDNS_STATUS_OK) {
			ret = MOON_EMALF;
			goto out_buf;
		}
	}
	size_t len = ldns_buffer_position(b);
	ret = MOON_ESPACE;
	if (len >= cap || ldns_buffer_status(b) != LDNS_STATUS_OK)
		goto out_buf;
	memcpy(out, ldns_buffer_begin(b), len);
	out[len] = 0;
	ret = (int)len;
out_buf:
	ldns_buffer_free(b);
out_rr:
	ldns_rr_free(rr);
out_wire:
	free(wire);
	return ret;
}

void moon_rrtype_to_text(uint16_t type, char *out, size_t cap)
{
	const ldns_rr_descriptor *d = ldns_rr_descript(type);
	if (d && d->_name && type != 0)
		snprintf(out, cap, "%s", d->_name);
	else
		snprintf(out, cap, "TYPE%u", type);
}
