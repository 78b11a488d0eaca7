#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qlog/format.h"
#include "qlog/names.h"
#include "util/err.h"
#include "wire/dns.h"
#include "wire/name.h"

enum field {
	F_LIT, F_TYPE, F_NAME, F_CLASS, F_PROTO, F_SIZE, F_REMOTE, F_PORT, F_LOCAL, F_ID,
	F_OPCODE, F_DO, F_BUFSIZE, F_RCODE, F_RSIZE, F_DURATION, F_RFLAGS, F_SERVER, F_META,
};

static const struct { const char *label; enum field f; } labels[] = {
	{ "{type}", F_TYPE }, { "{name}", F_NAME }, { "{class}", F_CLASS },
	{ "{proto}", F_PROTO }, { "{size}", F_SIZE }, { "{remote}", F_REMOTE },
	{ "{port}", F_PORT }, { "{local}", F_LOCAL }, { "{>id}", F_ID },
	{ "{>opcode}", F_OPCODE }, { "{>do}", F_DO }, { "{>bufsize}", F_BUFSIZE },
	{ "{rcode}", F_RCODE }, { "{rsize}", F_RSIZE }, { "{duration}", F_DURATION },
	{ "{>rflags}", F_RFLAGS }, { "{server}", F_SERVER },
};

#define COMMON "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} " \
	"{>bufsize}\" {rcode} {>rflags} {rsize} {duration}"
#define COMBINED COMMON " \"{>opcode}\""

struct node {
	uint8_t field;
	uint32_t off, len;               /* F_LIT: the text; F_META: the key */
};

struct moon_qlog_format {
	bool json;
	struct node *nodes;
	size_t n;
	char *text;                      /* the expanded spec; nodes point into it */
	char **meta;                     /* JSON: metadata keys */
	size_t n_meta;
};

/* ------------------------------------------------------------ compiling */

/* spec with {common} and {combined} replaced by their definitions. */
static char *expand(const char *spec)
{
	size_t cap = strlen(spec) + 1, len = 0;
	for (const char *p = spec; (p = strchr(p, '{')); p++)
		cap += sizeof(COMBINED);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	while (*spec) {
		const char *rep = NULL;
		size_t skip = 0;
		if (strncmp(spec, "{common}", 8) == 0)
			rep = COMMON, skip = 8;
		else if (strncmp(spec, "{combined}", 10) == 0)
			rep = COMBINED, skip = 10;
		if (rep) {
			memcpy(out + len, rep, strlen(rep));
			len += strlen(rep);
			spec += skip;
		} else {
			out[len++] = *spec++;
		}
	}
	out[len] = 0;
	return out;
}

static void add(struct moon_qlog_format *f, enum field field, size_t off, size_t len)
{
	if (len == 0 && field == F_LIT)
		return;
	struct node *last = f->n ? &f->nodes[f->n - 1] : NULL;
	if (field == F_LIT && last && last->field == F_LIT && last->off + last->len == off) {
		last->len += (uint32_t)len;
		return;
	}
	f->nodes[f->n++] = (struct node){ .field = field, .off = (uint32_t)off, .len = (uint32_t)len };
}

static enum field known(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (strlen(labels[i].label) == len && memcmp(labels[i].label, s, len) == 0)
			return labels[i].f;
	return F_LIT;
}

/* As CoreDNS parses formats: find a '}', then the nearest '{' before it;
 * a known label or {/meta} becomes a node, anything else stays text. */
static void parse(struct moon_qlog_format *f)
{
	const char *base = f->text, *s = base;
	for (;;) {
		const char *j = strchr(s, '}');
		if (!j)
			break;
		const char *i = NULL;
		for (const char *p = j; p-- > s;)
			if (*p == '{') {
				i = p;
				break;
			}
		size_t vlen = i ? (size_t)(j - i + 1) : 0;
		enum field field = i ? known(i, vlen) : F_LIT;
		if (field == F_LIT && i && vlen > 3 && i[1] == '/')
			field = F_META;
		if (field == F_LIT) {
			add(f, F_LIT, (size_t)(s - base), (size_t)(j + 1 - s));
		} else {
			add(f, F_LIT, (size_t)(s - base), (size_t)(i - s));
			if (field == F_META)
				add(f, F_META, (size_t)(i + 2 - base), vlen - 3);
			else
				add(f, field, 0, 0);
		}
		s = j + 1;
	}
	add(f, F_LIT, (size_t)(s - base), strlen(s));
}

int moon_qlog_format_new(const char *spec, const char *const *json_meta, size_t n_meta,
			 struct moon_qlog_format **out)
{
	bool json = strcmp(spec, "json") == 0;
	if (strcmp(spec, "common") == 0)
		spec = "{common}";
	else if (strcmp(spec, "combined") == 0)
		spec = "{combined}";
	else if (!json && !strchr(spec, '{'))
		return MOON_ESYNTAX;
	struct moon_qlog_format *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->json = json;
	f->text = expand(json ? "" : spec);
	size_t maxn = 2;
	for (const char *p = f->text ? f->text : ""; *p; p++)
		maxn += *p == '{' ? 2 : 0;
	f->nodes = calloc(maxn, sizeof(*f->nodes));
	f->meta = calloc(n_meta ? n_meta : 1, sizeof(*f->meta));
	if (!f->text || !f->nodes || !f->meta)
		goto fail_free;
	for (; f->n_meta < n_meta; f->n_meta++)
		if (!(f->meta[f->n_meta] = strdup(json_meta[f->n_meta])))
			goto fail_free;
	parse(f);
	*out = f;
	return 0;
fail_free:
	moon_qlog_format_free(f);
	return -ENOMEM;
}

void moon_qlog_format_free(struct moon_qlog_format *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_meta; i++)
		free(f->meta[i]);
	free(f->meta);
	free(f->nodes);
	free(f->text);
	free(f);
}

bool moon_qlog_format_is_json(const struct moon_qlog_format *f)
{
	return f->json;
}

/* ------------------------------------------------------------ rendering */

/* A bounded line: everything past `cap` is dropped and the line marked cut. */
struct line {
	char *p;
	size_t len, cap;
	bool cut;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > l->cap - l->len) {
		n = l->cap - l->len;
		l->cut = true;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static void put_u64(struct line *l, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(l, tmp + i, sizeof(tmp) - i);
}

/* Seconds with as many decimals as needed, as Go's FormatFloat(s, 'f', -1). */
static void put_seconds(struct line *l, uint64_t ns)
{
	put_u64(l, ns / 1000000000u);
	uint32_t frac = (uint32_t)(ns % 1000000000u);
	if (!frac)
		return;
	char d[10];
	int n = 9;
	for (int k = 8; k >= 0; k--, frac /= 10)
		d[k] = (char)('0' + frac % 10);
	while (d[n - 1] == '0')
		n--;
	put(l, ".", 1);
	put(l, d, (size_t)n);
}

static void put_addr(struct line *l, const struct sockaddr *sa, bool brackets)
{
	char ip[INET6_ADDRSTRLEN];
	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
		put(l, "-", 1);
		return;
	}
	bool v6 = sa->sa_family == AF_INET6;
	const void *a = v6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)sa)->sin_addr;
	inet_ntop(sa->sa_family, a, ip, sizeof(ip));
	if (v6 && brackets)
		put(l, "[", 1);
	puts_(l, ip);
	if (v6 && brackets)
		put(l, "]", 1);
}

static uint16_t port_of(const struct sockaddr *sa)
{
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

static void put_rflags(struct line *l, uint16_t flags)
{
	static const struct { uint16_t bit; const char *name; } fl[] = {
		{ MOON_FLAG_QR, "qr" }, { MOON_FLAG_AA, "aa" }, { MOON_FLAG_TC, "tc" },
		{ MOON_FLAG_RD, "rd" }, { MOON_FLAG_RA, "ra" }, { 0x0040, "z" },
		{ MOON_FLAG_AD, "ad" }, { MOON_FLAG_CD, "cd" },
	};
	bool first = true;
	for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
		if (!(flags & fl[i].bit))
			continue;
		if (!first)
			put(l, ",", 1);
		puts_(l, fl[i].name);
		first = false;
	}
}

static void put_name(struct line *l, const uint8_t *qname)
{
	char text[MOON_NAME_MAXLEN * 4 + 2];
	if (!qname || moon_name_to_text(qname, text, sizeof(text)) < 0)
		put(l, "-", 1);
	else
		puts_(l, text);
}

static void put_rcode(struct line *l, const struct moon_qlog_entry *e)
{
	const char *name = moon_dns_rcode_mnemonic(e->rcode);
	if (name)
		puts_(l, name);
	else
		put_u64(l, e->rcode);
}

/* Metadata in a text line: printable ASCII except '\' as is, the rest \DDD. */
static void put_meta_text(struct line *l, const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)v[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			put(l, (const char *)&c, 1);
			continue;
		}
		char esc[5] = { '\\', (char)('0' + c / 100), (char)('0' + c / 10 % 10),
				(char)('0' + c % 10), 0 };
		put(l, esc, 4);
	}
}

static void put_meta(struct line *l, const struct moon_qlog_entry *e, const char *key,
		     size_t klen)
{
	size_t vlen = 0;
	const char *v = e->meta ? e->meta(e->meta_arg, key, klen, &vlen) : NULL;
	if (!v)
		put(l, "-", 1);
	else
		put_meta_text(l, v, vlen);
}

static void put_field(struct line *l, const struct moon_qlog_format *f, const struct node *nd,
		      const struct moon_qlog_entry *e)
{
	char tmp[16];
	bool q = e->qname != NULL;
	switch ((enum field)nd->field) {
	case F_LIT: put(l, f->text + nd->off, nd->len); break;
	case F_TYPE: puts_(l, q ? moon_dns_type_name(e->qtype, tmp) : "-"); break;
	case F_NAME: put_name(l, e->qname); break;
	case F_CLASS: puts_(l, q ? moon_dns_class_name(e->qclass, tmp) : "-"); break;
	case F_PROTO: puts_(l, e->tcp ? "tcp" : "udp"); break;
	case F_SIZE: put_u64(l, e->size); break;
	case F_REMOTE: put_addr(l, e->client, true); break;
	case F_PORT: put_u64(l, port_of(e->client)); break;
	case F_LOCAL: put_addr(l, e->local, true); break;
	case F_ID: put_u64(l, e->id); break;
	case F_OPCODE: put_u64(l, e->opcode); break;
	case F_DO: puts_(l, e->do_bit ? "true" : "false"); break;
	case F_BUFSIZE: put_u64(l, e->bufsize); break;
	case F_RCODE: e->replied ? put_rcode(l, e) : put(l, "-", 1); break;
	case F_RSIZE: e->replied ? put_u64(l, e->rsize) : put(l, "-", 1); break;
	case F_DURATION: put_seconds(l, e->duration_ns); put(l, "s", 1); break;
	case F_RFLAGS: e->replied ? put_rflags(l, e->rflags) : put(l, "-", 1); break;
	case F_SERVER: puts_(l, e->server ? e->server : "-"); break;
	case F_META: put_meta(l, e, f->text + nd->off, nd->len); break;
	}
}

/* "2024-05-01T10:00:00.123Z" */
static void put_time(struct line *l, int64_t ms, struct moon_qlog_stamp *st)
{
	int64_t sec = ms / 1000;
	if (st->sec != sec || !st->text[0]) {
		time_t t = (time_t)sec;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(st->text, sizeof(st->text), "%Y-%m-%dT%H:%M:%S", &tm);
		st->sec = sec;
	}
	char frac[6] = { '.', (char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10),
			 (char)('0' + ms % 10), 'Z', 0 };
	puts_(l, st->text);
	put(l, frac, 5);
}

/* JSON string body: quotes, backslashes and non-printable bytes escaped
 * (bytes >= 0x80 as \u00XX, so the output is always valid UTF-8). */
static void put_json_str(struct line *l, const char *s, size_t n)
{
	put(l, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			put(l, esc, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			char esc[7];
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(l, esc, 6);
		} else {
			put(l, (const char *)&c, 1);
		}
	}
	put(l, "\"", 1);
}

static void json_key(struct line *l, const char *key)
{
	if (l->len > 1)
		put(l, ",", 1);
	put(l, "\"", 1);
	puts_(l, key);
	put(l, "\":", 2);
}

static void json_strf(struct line *l, const char *key, const char *v)
{
	json_key(l, key);
	if (v)
		put_json_str(l, v, strlen(v));
	else
		puts_(l, "null");
}

static void json_u64(struct line *l, const char *key, uint64_t v)
{
	json_key(l, key);
	put_u64(l, v);
}

static void render_json_meta(struct line *l, const struct moon_qlog_format *f,
			     const struct moon_qlog_entry *e)
{
	json_key(l, "meta");
	put(l, "{", 1);
	for (size_t i = 0; i < f->n_meta; i++) {
		size_t vlen = 0;
		const char *k = f->meta[i];
		const char *v = e->meta ? e->meta(e->meta_arg, k, strlen(k), &vlen) : NULL;
		if (i)
			put(l, ",", 1);
		put_json_str(l, k, strlen(k));
		put(l, ":", 1);
		if (v)
			put_json_str(l, v, vlen);
		else
			puts_(l, "null");
	}
	put(l, "}", 1);
}

static void render_json(struct line *l, const struct moon_qlog_format *f,
			const struct moon_qlog_entry *e, struct moon_qlog_stamp *st)
{
	char tmp[MOON_NAME_MAXLEN * 4 + 2];
	put(l, "{", 1);
	json_key(l, "time");
	put(l, "\"", 1);
	put_time(l, e->when_ms, st);
	put(l, "\"", 1);
	json_strf(l, "server", e->server);
	json_key(l, "remote");
	struct line ip = { .p = tmp, .cap = sizeof(tmp) };
	put_addr(&ip, e->client, false);
	put_json_str(l, tmp, ip.len);
	json_u64(l, "port", port_of(e->client));
	json_key(l, "local");
	ip.len = 0;
	put_addr(&ip, e->local, false);
	put_json_str(l, tmp, ip.len);
	json_strf(l, "proto", e->tcp ? "tcp" : "udp");
	json_u64(l, "id", e->id);
	json_u64(l, "opcode", e->opcode);
	bool q = e->qname && moon_name_to_text(e->qname, tmp, sizeof(tmp)) >= 0;
	json_strf(l, "name", q ? tmp : NULL);
	json_strf(l, "type", q ? moon_dns_type_name(e->qtype, tmp) : NULL);
	json_strf(l, "class", q ? moon_dns_class_name(e->qclass, tmp) : NULL);
	json_u64(l, "size", e->size);
	json_key(l, "do");
	puts_(l, e->do_bit ? "true" : "false");
	json_u64(l, "bufsize", e->bufsize);
	struct line rc = { .p = tmp, .cap = sizeof(tmp) - 1 };
	put_rcode(&rc, e);
	tmp[rc.len] = 0;
	json_strf(l, "rcode", e->replied ? tmp : NULL);
	rc.len = 0;
	put_rflags(&rc, e->rflags);
	tmp[rc.len] = 0;
	json_strf(l, "rflags", e->replied ? tmp : NULL);
	if (e->replied)
		json_u64(l, "rsize", e->rsize);
	else
		json_strf(l, "rsize", NULL);
	json_key(l, "duration");
	put_seconds(l, e->duration_ns);
	if (f->n_meta)
		render_json_meta(l, f, e);
	put(l, "}", 1);
}

size_t moon_qlog_render(const struct moon_qlog_format *f, const struct moon_qlog_entry *e,
			struct moon_qlog_stamp *stamp, char *buf)
{
	/* Room for "...\n" after a cut. */
	struct line l = { .p = buf, .cap = MOON_QLOG_LINE_MAX - 4 };
	if (f->json) {
		render_json(&l, f, e, stamp);
	} else {
		put_time(&l, e->when_ms, stamp);
		put(&l, " [INFO] ", 8);
		for (size_t i = 0; i < f->n; i++)
			put_field(&l, f, &f->nodes[i], e);
	}
	if (l.cut) {
		memcpy(buf + l.len, "...", 3);
		l.len += 3;
	}
	buf[l.len++] = '\n';
	return l.len;
}

/* ------------------------------------------------------------ classes */

/* Skips a (possibly compressed) name; returns the offset after it or 0. */
static size_t skip_name(const uint8_t *m, size_t len, size_t pos)
{
	while (pos < len) {
		uint8_t c = m[pos];
		if (c == 0)
			return pos + 1;
		if ((c & 0xC0) == 0xC0)
			return pos + 2 <= len ? pos + 2 : 0;
		if (c & 0xC0)
			return 0;
		pos += 1u + c;
	}
	return 0;
}

/* What the authority section holds: 1 = an SOA, 2 = NS records, 0 = neither
 * (or the reply could not be read). */
static int authority_kind(const struct moon_qlog_entry *e, const uint8_t *m, size_t len)
{
	if (len < MOON_HDR_LEN)
		return 0;
	unsigned qd = (unsigned)(m[4] << 8 | m[5]);
	size_t pos = MOON_HDR_LEN;
	for (unsigned i = 0; i < qd && pos; i++) {
		pos = skip_name(m, len, pos);
		pos = pos && pos + 4 <= len ? pos + 4 : 0;
	}
	int kind = 0;
	for (unsigned i = 0; i < e->nscount && pos; i++) {
		pos = skip_name(m, len, pos);
		if (!pos || pos + 10 > len)
			return kind;
		uint16_t type = (uint16_t)(m[pos] << 8 | m[pos + 1]);
		if (type == MOON_T_SOA)
			return 1;
		if (type == MOON_T_NS)
			kind = 2;
		pos += 10u + (size_t)(m[pos + 8] << 8 | m[pos + 9]);
	}
	return kind;
}

enum moon_qlog_class moon_qlog_classify(const struct moon_qlog_entry *e)
{
	if (!e->replied)
		return MOON_QLOG_ERROR;
	if (e->rcode == MOON_RCODE_NXDOMAIN)
		return MOON_QLOG_DENIAL;
	if (e->rcode != MOON_RCODE_NOERROR)
		return MOON_QLOG_ERROR;
	if (e->ancount)
		return MOON_QLOG_SUCCESS;
	/* As CoreDNS: an SOA makes it NODATA, NS records a referral, and an
	 * empty NOERROR without either counts as success. */
	return e->resp && authority_kind(e, e->resp, e->rsize) == 1 ? MOON_QLOG_DENIAL :
		MOON_QLOG_SUCCESS;
}

unsigned moon_qlog_class_parse(const char *name)
{
	if (strcmp(name, "all") == 0)
		return MOON_QLOG_ALL;
	if (strcmp(name, "success") == 0)
		return MOON_QLOG_SUCCESS;
	if (strcmp(name, "denial") == 0)
		return MOON_QLOG_DENIAL;
	if (strcmp(name, "error") == 0)
		return MOON_QLOG_ERROR;
	return 0;
}
