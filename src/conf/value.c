#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf/value.h"
#include "util/err.h"

static int fail(char *err, const char *fmt, const char *text)
{
	snprintf(err, MOON_CONF_ERRLEN, fmt, text);
	return MOON_ESYNTAX;
}

/* Leading decimal digits into *v; returns the end, or NULL on no digit or on
 * passing `limit` (a bound far beyond any key's range, so sums cannot wrap). */
static const char *digits(const char *s, uint64_t limit, uint64_t *v)
{
	if (*s < '0' || *s > '9')
		return NULL;
	*v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		*v = *v * 10 + (uint64_t)(*s - '0');
		if (*v > limit)
			return NULL;
	}
	return s;
}

int moon__conf_parse_int(const char *text, int64_t *out, char *err)
{
	bool neg = *text == '-';
	uint64_t v;
	const char *end = digits(text + neg, INT64_MAX, &v);
	if (!end || *end)
		return fail(err, "expected a whole number, got '%s'", text);
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

int moon__conf_parse_bool(const char *text, bool *out, char *err)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(text, yes[i]) || !strcasecmp(text, no[i])) {
			*out = !strcasecmp(text, yes[i]);
			return 0;
		}
	}
	return fail(err, "expected true or false, got '%s'", text);
}

static const struct unit {
	const char *suffix;
	uint64_t mult;
} duration_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	{ "", 1000 }, { NULL, 0 },
}, size_units[] = {
	{ "k", 1 << 10 }, { "K", 1 << 10 }, { "m", 1 << 20 }, { "M", 1 << 20 },
	{ "g", 1 << 30 }, { "G", 1 << 30 }, { "", 1 }, { NULL, 0 },
};

/* DIGITS then one of the units, which must end the text. The number is
 * capped at 2^40 so that the product stays far inside 64 bits. */
static int with_unit(const char *text, const struct unit *units, uint64_t *out)
{
	uint64_t v;
	const char *end = digits(text, (uint64_t)1 << 40, &v);
	if (!end)
		return -1;
	for (const struct unit *u = units; u->suffix; u++) {
		if (!strcmp(end, u->suffix)) {
			*out = v * u->mult;
			return 0;
		}
	}
	return -1;
}

int moon__conf_parse_duration(const char *text, uint64_t *ms, char *err)
{
	if (with_unit(text, duration_units, ms) < 0)
		return fail(err, "expected a duration like 500ms, 10s, 2m, 1h, 1d or plain "
			    "seconds, got '%s'", text);
	return 0;
}

int moon__conf_parse_size(const char *text, uint64_t *bytes, char *err)
{
	if (with_unit(text, size_units, bytes) < 0)
		return fail(err, "expected a size like 4096, 64k, 1M or 1G, got '%s'", text);
	return 0;
}

static void format_units(uint64_t v, const struct unit *units, size_t n, char *out,
			 size_t outlen)
{
	for (size_t i = n; i-- > 0;) {
		if (units[i].mult > 1 && v && v % units[i].mult == 0) {
			snprintf(out, outlen, "%llu%s", (unsigned long long)(v / units[i].mult),
				 units[i].suffix);
			return;
		}
	}
	snprintf(out, outlen, "%llu%s", (unsigned long long)v, units[0].suffix);
}

void moon__conf_format_duration(uint64_t ms, char *out, size_t outlen)
{
	if (ms == 0) {
		snprintf(out, outlen, "0s");
		return;
	}
	format_units(ms, duration_units, 5, out, outlen);
}

void moon__conf_format_size(uint64_t bytes, char *out, size_t outlen)
{
	/* The parser's table has both spellings; print k, M, G. */
	static const struct unit shown[] = { { "", 1 }, { "k", 1 << 10 }, { "M", 1 << 20 },
					     { "G", 1 << 30 } };
	format_units(bytes, shown, 4, out, outlen);
}

static int bad_listen(char *err, const char *uri, const char *why)
{
	snprintf(err, MOON_CONF_ERRLEN, "bad address '%s': %s", uri, why);
	return MOON_ESYNTAX;
}

/* ":PORT" or nothing (then the scheme's default). */
static int listen_port(const char *s, uint16_t def, uint16_t *port, const char **why)
{
	if (!*s) {
		*port = def;
		return 0;
	}
	uint64_t v;
	const char *end;
	if (*s != ':' || !(end = digits(s + 1, 1000000, &v)) || *end) {
		*why = *s == ':' ? "port must be a number" : "unexpected text after the address";
		return -1;
	}
	if (v < 1 || v > 65535) {
		*why = "port out of range";
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

static int listen_v6(const char *uri, const char *s, uint16_t def, struct moon_conf_listen *out,
		     char *err)
{
	const char *close = strchr(s, ']');
	char host[INET6_ADDRSTRLEN + 1];
	if (!close)
		return bad_listen(err, uri, "missing ']' after the IPv6 address");
	size_t len = (size_t)(close - s - 1);
	if (len >= sizeof(host))
		return bad_listen(err, uri, "bad IPv6 address");
	memcpy(host, s + 1, len);
	host[len] = 0;
	struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&out->addr;
	memset(&out->addr, 0, sizeof(out->addr));
	if (inet_pton(AF_INET6, host, &sa->sin6_addr) != 1)
		return bad_listen(err, uri, "bad IPv6 address");
	uint16_t port;
	const char *why;
	if (listen_port(close + 1, def, &port, &why) < 0)
		return bad_listen(err, uri, why);
	sa->sin6_family = AF_INET6;
	sa->sin6_port = htons(port);
	out->addrlen = sizeof(*sa);
	return 0;
}

static int listen_v4(const char *uri, const char *s, uint16_t def, struct moon_conf_listen *out,
		     char *err)
{
	const char *colon = strchr(s, ':');
	size_t len = colon ? (size_t)(colon - s) : strlen(s);
	char host[INET_ADDRSTRLEN + 1];
	if (colon && strchr(colon + 1, ':'))
		return bad_listen(err, uri,
				  "write IPv6 addresses in brackets, as in dns://[::1]:53");
	if (len == 0)
		return bad_listen(err, uri, "missing address");
	struct sockaddr_in *sa = (struct sockaddr_in *)&out->addr;
	memset(&out->addr, 0, sizeof(out->addr));
	if (len >= sizeof(host))
		return bad_listen(err, uri, "expected an IPv4 address or [IPv6] address");
	memcpy(host, s, len);
	host[len] = 0;
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return bad_listen(err, uri, "expected an IPv4 address or [IPv6] address");
	uint16_t port;
	const char *why;
	if (listen_port(s + len, def, &port, &why) < 0)
		return bad_listen(err, uri, why);
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	out->addrlen = sizeof(*sa);
	return 0;
}

int moon__conf_parse_listen(const char *text, struct moon_conf_listen *out, char *err)
{
	static const struct {
		const char *scheme;
		enum moon_listen_proto proto;
		uint16_t port;
	} schemes[] = { { "dns://", MOON_LISTEN_DNS, 53 }, { "tls://", MOON_LISTEN_TLS, 853 } };
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].scheme);
		if (strncmp(text, schemes[i].scheme, n))
			continue;
		out->proto = schemes[i].proto;
		if (text[n] == '[')
			return listen_v6(text, text + n, schemes[i].port, out, err);
		return listen_v4(text, text + n, schemes[i].port, out, err);
	}
	return bad_listen(err, text, "expected dns://ADDR[:PORT] or tls://ADDR[:PORT]");
}

int moon__conf_parse_dname(const char *text, char out[MOON_NAME_TEXT_MAXLEN], char *err)
{
	static const uint8_t root[1] = { 0 };
	uint8_t wire[MOON_NAME_MAXLEN];
	if (moon_name_from_text(text, root, wire) < 0 ||
	    moon_name_to_text(wire, out, MOON_NAME_TEXT_MAXLEN) < 0)
		return fail(err, "bad domain name '%s' (labels of 1 to 63 characters, at most "
			    "255 octets in all)", text);
	return 0;
}

bool moon__conf_listen_same_port(const struct moon_conf_listen *a,
				 const struct moon_conf_listen *b)
{
	if (a->addr.ss_family != b->addr.ss_family)
		return false;
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->addr, *y = (const void *)&b->addr;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)&a->addr, *y = (const void *)&b->addr;
	return x->sin6_port == y->sin6_port &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

bool moon__conf_listen_equal(const struct moon_conf_listen *a, const struct moon_conf_listen *b)
{
	return a->proto == b->proto && moon__conf_listen_same_port(a, b);
}
