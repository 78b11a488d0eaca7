#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fwd/internal.h"
#include "util/err.h"
#include "util/log.h"

void moon_fwd_opts_init(struct moon_fwd_opts *o)
{
	*o = (struct moon_fwd_opts){
		.from = ".",
		.policy = MOON_FWD_RANDOM,
		.timeout_ms = 5000,
		.max_fails = 2,
		.health_check_ms = 500,
		.health_check_max_ms = 15000,
		.health_check_name = ".",
		.health_check_type = "NS",
		.health_check_rd = true,
		.expire_ms = 10000,
		.max_conns = 4,
		.max_pipeline = 64,
		.edns_payload = 1232,
		.tls_verify = true,
	};
}

int moon_fwd_rcode_parse(const char *text)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
	};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(text, names[i]) == 0)
			return (int)i;
	char *end;
	long v = strtol(text, &end, 10);
	if (*text && !*end && v >= 0 && v <= 15)
		return (int)v;
	return -EINVAL;
}

static int qtype_parse(const char *text)
{
	static const struct { const char *name; uint16_t type; } types[] = {
		{ "A", MOON_T_A }, { "NS", MOON_T_NS }, { "SOA", MOON_T_SOA },
		{ "TXT", MOON_T_TXT }, { "AAAA", MOON_T_AAAA }, { "HINFO", MOON_T_HINFO },
		{ "MX", MOON_T_MX }, { "DNSKEY", MOON_T_DNSKEY },
	};
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(text, types[i].name) == 0)
			return types[i].type;
	if (strncasecmp(text, "TYPE", 4) == 0) {
		char *end;
		long v = strtol(text + 4, &end, 10);
		if (text[4] && !*end && v > 0 && v <= 65535)
			return (int)v;
	}
	return -EINVAL;
}

#define BAD(...) do { moon_diag_add(diag, o->where, 0, 0, __VA_ARGS__); ret = MOON_ESYNTAX; } \
	while (0)

static int add_upstream(struct moon_fwd *fwd, const char *text)
{
	if (fwd->nup == MOON_FWD_MAX_UPSTREAMS)
		return MOON_ELIMIT;
	int r = moon__fwd_parse_upstream(text, fwd->o.force_tcp, &fwd->up[fwd->nup]);
	if (r < 0)
		return r;
	fwd->nup++;
	return 0;
}

struct rc_ctx {
	struct moon_fwd *fwd;
	const struct moon_fwd_opts *o;
	struct moon_diag *diag;
	const char *path;
};

/* A resolv.conf address is an IP (v6 maybe with %scope), always port 53. */
static int add_resolvconf(void *arg, const char *addr)
{
	struct rc_ctx *rc = arg;
	char buf[128];
	if (strlen(addr) + 3 > sizeof(buf))
		return MOON_ESYNTAX;
	snprintf(buf, sizeof(buf), strchr(addr, ':') ? "[%s]" : "%s", addr);
	int r = add_upstream(rc->fwd, buf);
	if (r < 0)
		moon_diag_add(rc->diag, rc->o->where, 0, 0, "forward: %s: bad nameserver \"%s\"%s",
			      rc->path, addr, r == MOON_ELIMIT ? " (more than 16 upstreams)" : "");
	return r;
}

static int read_resolvconf(struct moon_fwd *fwd, const struct moon_fwd_opts *o, const char *path,
			   struct moon_diag *diag)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		moon_diag_add(diag, o->where, 0, 0, "forward: cannot read %s: %s", path,
			      moon_strerror(err));
		return err;
	}
	char text[65536];
	ssize_t n = read(fd, text, sizeof(text) - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	if (n < 0) {
		moon_diag_add(diag, o->where, 0, 0, "forward: cannot read %s: %s", path,
			      moon_strerror(err));
		return err;
	}
	text[n] = 0;
	struct rc_ctx rc = { fwd, o, diag, path };
	int found = moon__fwd_parse_resolvconf(text, add_resolvconf, &rc);
	if (found < 0)
		return found;
	if (found == 0) {
		moon_diag_add(diag, o->where, 0, 0, "forward: %s has no nameserver line", path);
		return MOON_ESEMANTIC;
	}
	return 0;
}

static int parse_to(struct moon_fwd *fwd, const struct moon_fwd_opts *o, struct moon_diag *diag)
{
	int ret = 0;
	for (unsigned i = 0; i < o->nto; i++) {
		const char *t = o->to[i];
		if (t[0] == '/' || t[0] == '.') {
			int r = read_resolvconf(fwd, o, t, diag);
			if (r < 0)
				ret = r;
			continue;
		}
		int r = add_upstream(fwd, t);
		if (r == MOON_ELIMIT)
			BAD("forward: more than %d upstreams", MOON_FWD_MAX_UPSTREAMS);
		else if (r < 0)
			BAD("forward: bad upstream \"%s\" (want dns://IP[:port], tls://IP[:port]"
			    "[#name] or a resolv.conf path)", t);
	}
	if (!ret && fwd->nup == 0)
		BAD("forward: `to` lists no upstream");
	return ret;
}

static int parse_names(struct moon_fwd *fwd, const struct moon_fwd_opts *o,
		       struct moon_diag *diag)
{
	int ret = 0;
	uint8_t name[MOON_NAME_MAXLEN];
	if (moon_name_from_text(o->from ? o->from : ".", NULL, name) < 0)
		BAD("forward: bad `from` name \"%s\"", o->from);
	else
		moon_name_tolower(fwd->from, name);
	if (o->nexcept > MOON_FWD_MAX_EXCEPT) {
		BAD("forward: more than %d `except` names", MOON_FWD_MAX_EXCEPT);
		return ret;
	}
	if (o->nexcept) {
		fwd->except = calloc(o->nexcept, sizeof(*fwd->except));
		if (!fwd->except)
			return -ENOMEM;
	}
	for (unsigned i = 0; i < o->nexcept; i++) {
		if (moon_name_from_text(o->except[i], NULL, name) < 0) {
			BAD("forward: bad `except` name \"%s\"", o->except[i]);
			continue;
		}
		moon_name_tolower(fwd->except[fwd->nexcept++], name);
	}
	if (moon_name_from_text(o->health_check_name ? o->health_check_name : ".", NULL,
				fwd->hc_name) < 0)
		BAD("forward: bad `health_check_name` \"%s\"", o->health_check_name);
	int t = qtype_parse(o->health_check_type ? o->health_check_type : "NS");
	if (t < 0)
		BAD("forward: bad `health_check_type` \"%s\"", o->health_check_type);
	else
		fwd->hc_type = (uint16_t)t;
	for (unsigned i = 0; i < o->nfailover; i++) {
		int r = moon_fwd_rcode_parse(o->failover[i]);
		if (r < 0)
			BAD("forward: bad `failover` rcode \"%s\"", o->failover[i]);
		else
			fwd->failover_mask |= 1u << r;
	}
	return ret;
}

static int check_numbers(const struct moon_fwd_opts *o, struct moon_diag *diag)
{
	int ret = 0;
	if (o->timeout_ms == 0)
		BAD("forward: `timeout` must be above 0");
	if (o->max_conns == 0 || o->max_conns > 256)
		BAD("forward: `max_conns` must be 1-256");
	if (o->max_pipeline == 0 || o->max_pipeline > 1024)
		BAD("forward: `max_pipeline` must be 1-1024");
	if (o->edns_payload && o->edns_payload < 512)
		BAD("forward: `edns_payload` must be 0 (no EDNS) or at least 512");
	if (o->health_check_ms == 0 || o->health_check_max_ms < o->health_check_ms)
		BAD("forward: `health_check` must be above 0 and at most `health_check_max`");
	if (o->expire_ms == 0)
		BAD("forward: `expire` must be above 0");
	if (o->max_tries > 100)
		BAD("forward: `max_tries` must be at most 100");
	if ((o->tls_cert == NULL) != (o->tls_key == NULL))
		BAD("forward: `tls_cert` and `tls_key` go together");
	return ret;
}

int moon_fwd_new(const struct moon_fwd_opts *o, struct moon_fwd **out, struct moon_diag *diag)
{
	struct moon_fwd *fwd = calloc(1, sizeof(*fwd));
	if (!fwd)
		return -ENOMEM;
	fwd->o = *o;
	int ret = check_numbers(o, diag);
	int r = parse_names(fwd, o, diag);
	if (r < 0)
		ret = r;
	if (!ret && (r = parse_to(fwd, o, diag)) < 0)
		ret = r;
	if (!ret && (r = moon__fwd_tls_init(fwd, diag)) < 0)
		ret = r;
	if (ret < 0) {
		moon_fwd_free(fwd);
		return ret;
	}
	fwd->max_tries = o->max_tries ? o->max_tries : 2 * fwd->nup;
	/* Only the numbers stay: the strings belong to the caller. */
	fwd->o.from = fwd->o.health_check_name = fwd->o.health_check_type = NULL;
	fwd->o.tls_servername = fwd->o.tls_ca = fwd->o.tls_cert = fwd->o.tls_key = NULL;
	fwd->o.to = fwd->o.except = fwd->o.failover = NULL;
	fwd->o.where = NULL;
	*out = fwd;
	return 0;
}

void moon_fwd_free(struct moon_fwd *fwd)
{
	if (!fwd)
		return;
	for (unsigned i = 0; i < fwd->nup; i++)
		free(fwd->up[i].tls_name);
	free(fwd->except);
	SSL_CTX_free(fwd->ssl_ctx);
	free(fwd);
}

bool moon_fwd_handles(const struct moon_fwd *fwd, const uint8_t *qname)
{
	if (!moon_name_is_subdomain(qname, fwd->from))
		return false;
	for (unsigned i = 0; i < fwd->nexcept; i++)
		if (moon_name_is_subdomain(qname, fwd->except[i]))
			return false;
	return true;
}

bool moon_fwd_in_bailiwick(const struct moon_fwd *fwd, const uint8_t *owner)
{
	return moon_name_is_subdomain(owner, fwd->from);
}

unsigned moon_fwd_upstream_count(const struct moon_fwd *fwd)
{
	return fwd->nup;
}

const char *moon_fwd_upstream_name(const struct moon_fwd *fwd, unsigned i)
{
	return i < fwd->nup ? fwd->up[i].name : "?";
}

bool moon_fwd_upstream_up(const struct moon_fwd *fwd, unsigned i)
{
	return i < fwd->nup && !fwd->up[i].self && moon__fwd_is_up(fwd, &fwd->up[i]);
}

void moon_fwd_set_hc_observer(struct moon_fwd *fwd, void (*fn)(void *arg, unsigned i),
			      void *arg)
{
	fwd->hc_fail = fn;
	fwd->hc_arg = arg;
}
