/*
 * FFI functions that need no query: errors, time, moon.shared, counters,
 * moon.log.
 */
#include <arpa/inet.h>
#include <string.h>

#include "bridge/counters.h"
#include "bridge/internal.h"
#include "bridge/shared.h"
#include "query/query.h"
#include "util/err.h"
#include "util/time.h"

_Static_assert((int)MOON_FFI_ESYNTAX == (int)MOON_ESYNTAX, "FFI error codes follow util/err.h");
_Static_assert((int)MOON_FFI_ELIMIT == (int)MOON_ELIMIT, "FFI error codes follow util/err.h");
_Static_assert((int)MOON_FFI_EINVAL == (int)-EINVAL, "FFI error codes follow util/err.h");

const char *moon_ffi_strerror(int err)
{
	switch (err) {
	case MOON_FFI_ENOQUERY:
		return "the query is gone (q or r used outside the hook that received it)";
	case MOON_FFI_ECONTEXT:
		return "not allowed in this stage";
	default:
		return moon_strerror(err);
	}
}

const char *moon_ffi_source_name(int source)
{
	if (source < 0 || source > MOON_SOURCE_CHAOS)
		return NULL;
	return moon_source_name((enum moon_source)source);
}

double moon_ffi_now(void)
{
	return (double)moon_now_ns() / 1e9;
}

struct moon_shared_dict *moon_ffi_shared_open(const char *name, size_t len, size_t max_bytes)
{
	return moon_shared_open(name, len, max_bytes);
}

int moon_ffi_shared_get(struct moon_ffi_req *r, struct moon_shared_dict *d, const char *key,
			size_t klen, double *num)
{
	struct moon_shared_value v;
	int ret = moon_shared_get(d, key, klen, r->buf_, MOON_FFI_BUF, &v);
	if (ret == MOON_ENOTFOUND)
		return -1;
	if (ret)
		return ret;
	if (v.is_num) {
		*num = v.num;
		return -2;
	}
	return (int)v.len;
}

static int64_t ttl_ms(double ttl)
{
	if (!(ttl > 0))
		return 0;
	/* A TTL shorter than a millisecond still expires. */
	return ttl * 1000 < 1 ? 1 : (int64_t)(ttl * 1000);
}

int moon_ffi_shared_set(struct moon_shared_dict *d, const char *key, size_t klen,
			const char *val, size_t vlen, double num, double ttl, bool only_new)
{
	return moon_shared_set(d, key, klen, val, vlen, num, ttl_ms(ttl), only_new);
}

int moon_ffi_shared_incr(struct moon_shared_dict *d, const char *key, size_t klen, double delta,
			 double init, double ttl, double *out)
{
	return moon_shared_incr(d, key, klen, delta, init, ttl_ms(ttl), out);
}

int moon_ffi_shared_delete(struct moon_shared_dict *d, const char *key, size_t klen)
{
	int ret = moon_shared_delete(d, key, klen);
	return ret == MOON_ENOTFOUND ? 0 : ret;
}

double moon_ffi_shared_ttl(struct moon_shared_dict *d, const char *key, size_t klen)
{
	int64_t ms = moon_shared_ttl(d, key, klen);
	if (ms == MOON_ENOTFOUND)
		return -2;
	return ms < 0 ? -1 : (double)ms / 1000;
}

int moon_ffi_shared_count(struct moon_shared_dict *d)
{
	return (int)moon_shared_count(d);
}

void moon_ffi_shared_flush(struct moon_shared_dict *d)
{
	moon_shared_flush(d);
}

int moon_ffi_ip_parse(const char *text, size_t len, uint8_t *out)
{
	char buf[INET6_ADDRSTRLEN + 1];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = 0;
	if (inet_pton(AF_INET, buf, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, buf, out) == 1)
		return 16;
	return -1;
}

int moon_ffi_policy_path(const char *name, char *out, size_t len)
{
	return moon_bridge_policy_path(name, ".", out, len);
}

/* The policy running now (constructor or hook), or NULL. */
static struct moon_bridge_pol *running(struct moon_ffi_req *r)
{
	struct moon_bridge *b = moon__bridge_of(r);
	int idx = r->policy_;
	return idx >= 0 && (size_t)idx < b->npol ? &b->pol[idx] : NULL;
}

int moon_ffi_counter_new(struct moon_ffi_req *r, const char *name, size_t len)
{
	if (len == 0 || len > 64)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return -EINVAL;
	}
	struct moon_bridge_pol *p = running(r);
	char buf[65];
	memcpy(buf, name, len);
	buf[len] = 0;
	return moon_bridge_counter_id(MOON_CTR_USER, buf, p ? p->block : NULL,
				      p ? p->conf->name : NULL);
}

void moon_ffi_counter_add(struct moon_ffi_req *r, int id, double n)
{
	if (id >= 0 && id < MOON_BRIDGE_MAX_COUNTERS && n > 0)
		moon__bridge_of(r)->counters[id] += (uint64_t)n;
}

double moon_ffi_counter_value(int id)
{
	return (double)moon_bridge_counter_value(id);
}

/* moon.log allows this many lines per second per policy and worker;
 * the first line after a second with drops says how many. */
#define LOG_PER_SECOND 100

void moon_ffi_log(struct moon_ffi_req *r, int level, const char *msg, size_t len)
{
	if (level < MOON_LOG_ERR)
		level = MOON_LOG_ERR;
	if (level > MOON_LOG_DEBUG)
		level = MOON_LOG_DEBUG;
	if (!moon_log_enabled((enum moon_log_level)level))
		return;
	int n = len > 2000 ? 2000 : (int)len;
	struct moon_bridge_pol *p = running(r);
	if (!p) {
		MOON_LOG_RATELIMITED((enum moon_log_level)level, POLICY, "lua: %.*s", n, msg);
		return;
	}
	int64_t now = moon_now_ms();
	if (now - p->log_window >= 1000) {
		if (p->log_dropped)
			moon_warn(POLICY, "policy %s (server %s): %u log lines dropped", p->conf->name,
				  p->block, p->log_dropped);
		p->log_window = now;
		p->log_lines = 0;
		p->log_dropped = 0;
	}
	if (++p->log_lines > LOG_PER_SECOND) {
		p->log_dropped++;
		return;
	}
	moon_log((enum moon_log_level)level, MOON_SYS_POLICY, "policy %s (server %s): %.*s",
		 p->conf->name, p->block, n, msg);
}
