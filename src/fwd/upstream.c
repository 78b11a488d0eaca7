#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd/internal.h"
#include "util/err.h"
#include "util/log.h"

/* A numeric address only: hostnames would need a resolver to reach. */
static int parse_ip(const char *text, size_t len, uint16_t port, struct upstream *u)
{
	char host[INET6_ADDRSTRLEN + 32];
	if (len == 0 || len >= sizeof(host))
		return MOON_ESYNTAX;
	memcpy(host, text, len);
	host[len] = 0;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC };
	struct addrinfo *res;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return MOON_ESYNTAX;
	memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
	u->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (u->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&u->addr)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&u->addr)->sin6_port = htons(port);
	return 0;
}

static int parse_port(const char *s, const char *end, uint16_t *port)
{
	unsigned long v = 0;
	if (s == end || end - s > 5)
		return MOON_ESYNTAX;
	for (; s < end; s++) {
		if (!isdigit((unsigned char)*s))
			return MOON_ESYNTAX;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return MOON_ESYNTAX;
	*port = (uint16_t)v;
	return 0;
}

/* "[v6]", "[v6]:port", "v4", "v4:port", "v6" (no port). */
static int parse_hostport(const char *s, const char *end, uint16_t port, struct upstream *u)
{
	if (s < end && *s == '[') {
		const char *close = memchr(s, ']', (size_t)(end - s));
		if (!close)
			return MOON_ESYNTAX;
		if (close + 1 < end) {
			if (close[1] != ':' || parse_port(close + 2, end, &port) < 0)
				return MOON_ESYNTAX;
		}
		return parse_ip(s + 1, (size_t)(close - s - 1), port, u);
	}
	const char *colon = memchr(s, ':', (size_t)(end - s));
	if (colon && !memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
		if (parse_port(colon + 1, end, &port) < 0)
			return MOON_ESYNTAX;
		end = colon;
	}
	return parse_ip(s, (size_t)(end - s), port, u);
}

bool moon__fwd_hostname_ok(const char *name)
{
	size_t len = strlen(name), label = 0;
	if (len && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* A copy without the trailing dot, as SNI and certificates write names. */
char *moon__fwd_hostname_dup(const char *name)
{
	size_t len = strlen(name);
	if (len && name[len - 1] == '.')
		len--;
	return strndup(name, len);
}

int moon__fwd_parse_upstream(const char *text, bool force_tcp, struct upstream *u)
{
	memset(u, 0, sizeof(*u));
	uint16_t port = 53;
	u->xport = force_tcp ? XP_TCP : XP_UDP;
	const char *s = text, *end = text + strlen(text);
	if (strncmp(s, "dns://", 6) == 0) {
		s += 6;
	} else if (strncmp(s, "tls://", 6) == 0) {
		s += 6;
		u->xport = XP_TLS;
		port = 853;
		const char *hash = memchr(s, '#', (size_t)(end - s));
		if (hash) {
			if (!moon__fwd_hostname_ok(hash + 1))
				return MOON_ESYNTAX;
			u->tls_name = moon__fwd_hostname_dup(hash + 1);
			if (!u->tls_name)
				return -ENOMEM;
			end = hash;
		}
	} else if (strstr(s, "://")) {
		return MOON_ESYNTAX;    /* https://, udp://...: not supported */
	}
	int r = parse_hostport(s, end, port, u);
	if (r < 0) {
		free(u->tls_name);
		u->tls_name = NULL;
		return r;
	}
	moon__fwd_upstream_name(u);
	return 0;
}

void moon__fwd_upstream_name(struct upstream *u)
{
	char ip[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	uint16_t port;
	if (getnameinfo((struct sockaddr *)&u->addr, u->addrlen, ip, sizeof(ip), NULL, 0,
			NI_NUMERICHOST) != 0)
		strcpy(ip, "?");
	if (u->addr.ss_family == AF_INET)
		port = ntohs(((struct sockaddr_in *)&u->addr)->sin_port);
	else
		port = ntohs(((struct sockaddr_in6 *)&u->addr)->sin6_port);
	bool v6 = u->addr.ss_family == AF_INET6;
	snprintf(u->name, sizeof(u->name), "%s://%s%s%s:%u%s%s", u->xport == XP_TLS ? "tls" : "dns",
		 v6 ? "[" : "", ip, v6 ? "]" : "", port, u->tls_name ? "#" : "",
		 u->tls_name ? u->tls_name : "");
}

int moon__fwd_parse_resolvconf(const char *text, int (*add)(void *arg, const char *addr),
			       void *arg)
{
	int n = 0;
	while (*text) {
		const char *eol = strchr(text, '\n');
		size_t len = eol ? (size_t)(eol - text) : strlen(text);
		char line[512];
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, text, len);
		line[len] = 0;
		text += eol ? len + 1 : len;
		char *save, *key = strtok_r(line, " \t\r", &save);
		if (!key || strcmp(key, "nameserver") != 0)
			continue;       /* comments (# ;), search, options... */
		char *addr = strtok_r(NULL, " \t\r", &save);
		if (!addr)
			continue;
		int r = add(arg, addr);
		if (r < 0)
			return r;
		n++;
	}
	return n;
}

/* ---- loop protection ---- */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static const void *addr_bytes(const struct sockaddr *sa, size_t *len)
{
	if (sa->sa_family == AF_INET) {
		*len = 4;
		return &((const struct sockaddr_in *)sa)->sin_addr;
	}
	*len = 16;
	return &((const struct sockaddr_in6 *)sa)->sin6_addr;
}

static uint16_t port_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_port;
	return ((const struct sockaddr_in6 *)sa)->sin6_port;
}

static bool same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	size_t la, lb;
	const void *pa = addr_bytes(a, &la), *pb = addr_bytes(b, &lb);
	return a->sa_family == b->sa_family && la == lb && memcmp(pa, pb, la) == 0;
}

static bool is_wildcard(const struct sockaddr *sa)
{
	static const uint8_t zero[16];
	size_t len;
	const void *p = addr_bytes(sa, &len);
	return memcmp(p, zero, len) == 0;
}

static bool is_local_address(const struct sockaddr *sa)
{
	if (is_loopback(sa))
		return true;
	struct ifaddrs *ifs, *i;
	if (getifaddrs(&ifs) < 0)
		return false;
	bool found = false;
	for (i = ifs; i && !found; i = i->ifa_next)
		found = i->ifa_addr && i->ifa_addr->sa_family == sa->sa_family &&
			same_ip(i->ifa_addr, sa);
	freeifaddrs(ifs);
	return found;
}

bool moon_fwd_addr_is_listener(const struct sockaddr *up, const struct sockaddr *const *listeners,
			       unsigned n)
{
	if (up->sa_family != AF_INET && up->sa_family != AF_INET6)
		return false;
	for (unsigned i = 0; i < n; i++) {
		const struct sockaddr *l = listeners[i];
		if (l->sa_family != up->sa_family || port_of(l) != port_of(up))
			continue;
		if (same_ip(l, up) || (is_wildcard(l) && is_local_address(up)))
			return true;
	}
	return false;
}

unsigned moon_fwd_exclude_listeners(struct moon_fwd *fwd, const struct sockaddr *const *listeners,
				    unsigned n)
{
	unsigned excluded = 0;
	for (unsigned i = 0; i < fwd->nup; i++) {
		struct upstream *u = &fwd->up[i];
		const struct sockaddr *sa = (const struct sockaddr *)&u->addr;
		if (u->self || !moon_fwd_addr_is_listener(sa, listeners, n))
			continue;
		u->self = true;
		excluded++;
		moon_warn(FWD, "upstream %s is one of our own listeners: never forwarding to it "
			  "(it would loop)", u->name);
	}
	return excluded;
}
