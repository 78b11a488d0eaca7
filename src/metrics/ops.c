#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/families.h"
#include "metrics/http.h"
#include "metrics/ops.h"
#include "query/query.h"
#include "util/err.h"
#include "util/time.h"

struct moon_ops {
	const char *version;
	struct moon_metrics *m;
	struct moon_qlog *ql;
	struct moon_metrics_page *page;
	struct moon_http *http;
	_Atomic bool compat;
	pthread_mutex_t lock;            /* the ready state, for the HTTP thread */
	char why[256];                   /* empty: ready */
};

/* ------------------------------------------------------------ HTTP side */

static int metrics_cb(void *arg, struct moon_obuf *out)
{
	struct moon_ops *ops = arg;
	return moon_metrics_page_render(ops->page, atomic_load(&ops->compat), out);
}

static bool ready_cb(void *arg, struct moon_obuf *why)
{
	struct moon_ops *ops = arg;
	pthread_mutex_lock(&ops->lock);
	bool ready = !ops->why[0];
	if (!ready)
		moon_obuf_puts(why, ops->why);
	pthread_mutex_unlock(&ops->lock);
	return ready;
}

int moon_ops_new(unsigned nworkers, const char *version, struct moon_ops **out)
{
	struct moon_ops *ops = calloc(1, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	pthread_mutex_init(&ops->lock, NULL);
	snprintf(ops->why, sizeof(ops->why), "starting");
	ops->version = version;
	int ret = moon_metrics_new(nworkers, &ops->m);
	if (!ret)
		ret = moon_qlog_new(nworkers, 0, &ops->ql);
	if (ret) {
		moon_ops_free(ops);
		return ret;
	}
	*out = ops;
	return 0;
}

void moon_ops_free(struct moon_ops *ops)
{
	if (!ops)
		return;
	moon_http_stop(ops->http);
	moon_metrics_page_free(ops->page);
	moon_qlog_free(ops->ql);
	moon_metrics_free(ops->m);
	pthread_mutex_destroy(&ops->lock);
	free(ops);
}

struct moon_metrics *moon_ops_metrics(struct moon_ops *ops)
{
	return ops->m;
}

struct moon_qlog *moon_ops_qlog(struct moon_ops *ops)
{
	return ops->ql;
}

int moon_ops_http_start(struct moon_ops *ops, const struct sockaddr *addr, socklen_t addrlen,
			struct moon_diag *diag)
{
	struct moon_metrics_sources src = { .m = ops->m, .version = ops->version, .qlog = ops->ql };
	int ret = moon_metrics_page_new(&src, &ops->page);
	if (ret)
		return ret;
	struct moon_http_config cfg = { .addrlen = addrlen };
	memcpy(&cfg.addr, addr, addrlen);
	struct moon_http_handlers h = { .arg = ops, .metrics = metrics_cb, .ready = ready_cb };
	ret = moon_http_start(&cfg, &h, &ops->http);
	if (ret) {
		char ip[INET6_ADDRSTRLEN] = "?";
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
		bool is6 = addr->sa_family == AF_INET6;
		inet_ntop(addr->sa_family, is6 ? (const void *)&v6->sin6_addr :
			  (const void *)&v4->sin_addr, ip, sizeof(ip));
		moon_diag_add(diag, NULL, 0, 0, "http.listen %s%s%s:%u: %s", is6 ? "[" : "", ip,
			      is6 ? "]" : "", ntohs(is6 ? v6->sin6_port : v4->sin_port),
			      moon_strerror(ret));
		return ret;
	}
	/* The page is only read by the HTTP thread, which starts here. */
	moon_metrics_page_set_http(ops->page, ops->http);
	return 0;
}

bool moon_ops_http_running(const struct moon_ops *ops)
{
	return ops->http != NULL;
}

void moon_ops_set_compat(struct moon_ops *ops, bool on)
{
	atomic_store(&ops->compat, on);
}

void moon_ops_set_ready(struct moon_ops *ops, uint64_t gen, const char *why)
{
	pthread_mutex_lock(&ops->lock);
	snprintf(ops->why, sizeof(ops->why), "%s", why ? why : "");
	pthread_mutex_unlock(&ops->lock);
	if (!why)
		moon_metrics_set_generation(ops->m, gen);
}

void moon_ops_lameduck(struct moon_ops *ops)
{
	if (ops->http)
		moon_http_set_lameduck(ops->http);
}

void moon_ops_reloaded(struct moon_ops *ops, bool ok, uint64_t gen)
{
	moon_metrics_reload(ops->m, ok);
	if (ok)
		moon_metrics_set_generation(ops->m, gen);
}

int moon_ops_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(text, ':');
	if (!colon || (size_t)(colon - text) >= sizeof(host))
		return MOON_ESYNTAX;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = 0;
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port == 0 || port > 65535)
		return MOON_ESYNTAX;
	memset(ss, 0, sizeof(*ss));
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
		host[hl - 1] = 0;
		if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1)
			return MOON_ESYNTAX;
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) != 1)
		return MOON_ESYNTAX;
	v4->sin_family = AF_INET;
	v4->sin_port = htons((uint16_t)port);
	*len = sizeof(*v4);
	return 0;
}

/* ------------------------------------------------------------ blocks */

int moon_ops_block_new(struct moon_ops *ops, const char *server, char *const *zones,
		       size_t n_zones, const struct moon_qlog_rule_conf *qlog,
		       struct moon_ops_block **out, const char **why)
{
	*why = NULL;
	struct moon_ops_block *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->server = server;
	b->n_zones = n_zones;
	b->zone_slot = calloc(n_zones ? n_zones : 1, sizeof(*b->zone_slot));
	b->zone_lc = calloc(n_zones ? n_zones : 1, sizeof(*b->zone_lc));
	int ret = b->zone_slot && b->zone_lc ? 0 : -ENOMEM;
	for (size_t i = 0; !ret && i < n_zones; i++) {
		if (moon_name_from_text(zones[i], NULL, b->zone_lc[i]) < 0) {
			*why = "bad zone name";
			ret = MOON_ESYNTAX;
			break;
		}
		moon_name_tolower(b->zone_lc[i], b->zone_lc[i]);
		b->zone_slot[i] = moon_metrics_zone_slot(ops->m, server, zones[i]);
	}
	if (!ret && qlog)
		ret = moon_qlog_rule_new(ops->ql, qlog, &b->qlog, why);
	if (ret) {
		moon_ops_block_free(b);
		return ret;
	}
	*out = b;
	return 0;
}

void moon_ops_block_free(struct moon_ops_block *b)
{
	if (!b)
		return;
	moon_qlog_rule_free(b->qlog);
	free(b->zone_slot);
	free(b->zone_lc);
	free(b);
}

/* ------------------------------------------------------------ queries */

/* The block's zone that holds qname: the longest that is a suffix (the
 * block was routed by the same rule). */
static unsigned zone_slot(const struct moon_ops_block *b, const struct moon_pkt *p)
{
	if (b->n_zones == 1 || !p->question_ok)
		return b->zone_slot[0];
	size_t best = 0, best_len = 0;
	for (size_t i = 0; i < b->n_zones; i++) {
		size_t len = moon_name_len(b->zone_lc[i]);
		if (len > best_len && moon_name_is_subdomain(p->qname_lc, b->zone_lc[i])) {
			best = i;
			best_len = len;
		}
	}
	return b->zone_slot[best];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void log_query(struct moon_ops *ops, const struct moon_query *q,
		      const struct moon_ops_block *b, uint64_t dur, bool replied,
		      const char *(*meta)(void *, const char *, size_t, size_t *), void *meta_arg)
{
	const struct moon_pkt *p = &q->pkt;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	bool tcp = q->proto == MOON_PROTO_TCP;
	uint16_t bufsize = tcp ? 65535 : !p->edns.present || p->edns.payload < 512 ? 512 :
		p->edns.payload;
	struct moon_qlog_entry e = {
		.when_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
		.client = q->client, .local = q->server, .tcp = tcp,
		.id = p->header_ok ? p->id : 0, .opcode = p->opcode,
		.qname = p->question_ok ? p->qname_lc : NULL, .qtype = p->qtype,
		.qclass = p->qclass, .size = q->req_len, .do_bit = p->edns.do_bit,
		.bufsize = bufsize, .replied = replied, .rcode = q->rcode,
		.rsize = replied ? q->resp_len : 0, .resp = replied ? q->resp : NULL,
		.duration_ns = dur, .server = b->server, .meta = meta, .meta_arg = meta_arg,
	};
	if (replied && q->resp_len >= 12) {
		e.rflags = get16(q->resp + 2);
		e.ancount = get16(q->resp + 6);
		e.nscount = get16(q->resp + 8);
	}
	moon_qlog_log(ops->ql, q->worker, b->qlog, &e);
}

void moon_ops_observe(struct moon_ops *ops, const struct moon_query *q,
		      const struct moon_ops_block *b, int64_t start_ns,
		      const char *(*meta)(void *arg, const char *key, size_t klen, size_t *vlen),
		      void *meta_arg)
{
	struct moon_mworker *mw = moon_metrics_worker(ops->m, q->worker);
	const struct moon_pkt *p = &q->pkt;
	unsigned z = b ? zone_slot(b, p) : MOON_MSLOT_DROPPED;
	enum moon_mt_proto proto = q->proto == MOON_PROTO_TCP ? MOON_MT_TCP : MOON_MT_UDP;
	enum moon_mt_family fam = q->client && q->client->sa_family == AF_INET6 ?
		MOON_MT_IPV6 : MOON_MT_IPV4;
	uint16_t qtype = p->question_ok ? p->qtype : 0;
	int64_t dur = moon_now_ns() - start_ns;
	bool replied = q->sent && q->resp_len;
	moon_metrics_request(mw, z, proto, fam, qtype, p->edns.do_bit, q->req_len);
	moon_metrics_response(mw, z, proto, qtype, q->source, q->rcode,
			      replied ? q->resp_len : 0, dur > 0 ? (uint64_t)dur : 0);
	if (b && b->qlog)
		log_query(ops, q, b, dur > 0 ? (uint64_t)dur : 0, replied, meta, meta_arg);
}
