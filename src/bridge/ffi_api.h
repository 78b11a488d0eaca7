/*
 * The only way Lua reaches C: flat functions over opaque handles, called
 * through the LuaJIT FFI by the modules of lua/moon. Policies never call them
 * directly; they use the documented API of doc/lua-api.md, which wraps them.
 *
 * Everything between FFI-BEGIN and FFI-END is read by lua/gen_cdefs.sh at
 * build time and becomes the ffi.cdef of lua/moon/cdefs.lua (comments and
 * preprocessor lines removed), so the C and Lua sides cannot disagree.
 * That part must stay plain C the FFI parses: no macros, constants as enums,
 * at most 8 scalar arguments per function. The daemon is linked with -Wl,-E
 * so that ffi.C finds these symbols; the generated table moon__ffi_syms
 * (ffi_syms.c) keeps the linker from dropping them from libmoon.a.
 *
 * Conventions:
 *  - `struct moon_ffi_req *r` is the per-worker request context: one per Lua
 *    state, allocated by the bridge, pointing at the query of the running
 *    hook (r->q_ is NULL outside hooks; functions that need a query then
 *    return MOON_FFI_ENOQUERY).
 *  - Functions returning text or bytes write them into r->buf_ (valid until
 *    the next call) and return the length; negative values are errors from
 *    util/err.h (moon_ffi_strerror names them) or -1 for "absent".
 *  - Section numbers: 0 answer, 1 authority, 2 additional.
 *  - Every function runs on the worker thread that owns r, except the
 *    shared-dictionary functions, which any worker may call at once.
 */
#ifndef MOON_BRIDGE_FFI_API_H
#define MOON_BRIDGE_FFI_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FFI-BEGIN */

struct moon_query;
struct moon_regex;
struct moon_shared_dict;
struct moon_harness;
struct moon_zone;

enum {
	MOON_FFI_BUF = 65536 + 1024,    /* bytes in r->buf_ */
	MOON_FFI_ENOQUERY = -1101,      /* the query is gone: a q or r used outside its hook */
	MOON_FFI_ECONTEXT = -1102,      /* not allowed in this stage */
	MOON_FFI_ESYNTAX = -1005,       /* = MOON_ESYNTAX: the message is in r->buf_ */
	MOON_FFI_ELIMIT = -1003,        /* = MOON_ELIMIT */
	MOON_FFI_EINVAL = -22,          /* = -EINVAL */
};

/* What a stage call returns to C (the Lua dispatcher's result). */
enum moon_ffi_code {
	MOON_FFI_CONTINUE = 0,          /* nothing decided: go on */
	MOON_FFI_ANSWER = 1,            /* the reply built with moon_ffi_reply_* replaces the answer */
	MOON_FFI_DROP = 2,              /* send nothing */
};

enum moon_ffi_stage { MOON_FFI_STAGE_QUERY = 0, MOON_FFI_STAGE_RESPONSE = 1, MOON_FFI_STAGE_LOG = 2 };

/* One record of the response being edited (r:records() in Lua). */
struct moon_ffi_rr {
	uint16_t type;
	uint16_t class;
	uint32_t ttl;
	uint8_t section;
	bool removed;
	bool added;                     /* added by a policy in this stage */
	uint8_t pad_;
	uint32_t owner_;                /* private: where owner and RDATA live */
	uint32_t rdata_;
	uint32_t ttl_off_;              /* TTL offset in the response wire, 0 if none */
	uint16_t rdlen_;
	uint16_t pad2_;
};

/*
 * The request context. Fields without a trailing underscore are the
 * read-only q.<field> of the Lua API (filled before each hook call); the
 * others belong to lua/moon.
 */
struct moon_ffi_req {
	struct moon_query *q_;
	uint8_t *buf_;
	struct moon_ffi_rr *rr_;        /* records, after moon_ffi_r_parse() */
	uint16_t *order_;               /* record indexes in wire order */
	int32_t sec_[4];                /* order_[sec_[s] .. sec_[s + 1]) are section s */
	int32_t nrr_;                   /* records in rr_, -1 before parsing */
	uint32_t seq_;                  /* changes with every stage call */
	int32_t policy_;                /* index of the running policy, -1 none */
	int32_t pos_;                   /* its 1-based position in the stage's list */
	int32_t stage_;                 /* enum moon_ffi_stage, -1 outside hooks */
	uint32_t scratch_;              /* bytes of the reply scratch in use */

	uint16_t type;                  /* QTYPE being resolved (after q:rewrite, the new one) */
	uint16_t class;                 /* QCLASS being resolved (after q:rewrite) */
	uint16_t id;
	uint16_t bufsize;               /* the client's EDNS UDP payload size, 0 without EDNS */
	uint16_t client_port;
	uint16_t server_port;
	uint8_t opcode;
	bool rd;
	bool cd;
	bool do_bit;
	bool edns;                      /* the client sent an OPT record */
	bool tcp;
	bool rewritten;                 /* a policy rewrote the question */

	uint16_t rcode_;                /* response header, kept in step with the wire */
	bool aa_;
	bool tc_;
	bool ad_;
	bool ra_;
	uint8_t source_;                /* enum moon_source */
};

const char *moon_ffi_strerror(int err);
const char *moon_ffi_source_name(int source);
double moon_ffi_now(void);

/* q: the question and the client. which: 0 the name being resolved in
 * lowercase, 1 the client's name as sent, 2 the block's name. */
int moon_ffi_q_name(struct moon_ffi_req *r, int which);
int moon_ffi_q_orig_type(struct moon_ffi_req *r);
/* which: 0 client address, 1 server address (text, no port). */
int moon_ffi_q_addr(struct moon_ffi_req *r, int which);
/* The same as 4 or 16 bytes. */
int moon_ffi_q_addr_raw(struct moon_ffi_req *r, int which);
/* The payload of the first EDNS option `code` (as a policy set or
 * removed it, else the client's), or -1. */
int moon_ffi_q_edns_opt(struct moon_ffi_req *r, int code);
/* The i-th EDNS option (0-based): payload in buf_, code in *code; -1 past the end. */
int moon_ffi_q_edns_opt_at(struct moon_ffi_req *r, int i, int *code);
/* Changes the question the cache and sources see (query stage only).
 * name NULL keeps the name, qtype < 0 keeps the type, qclass < 0 the class. */
int moon_ffi_q_rewrite(struct moon_ffi_req *r, const char *name, size_t len, int qtype,
		       int qclass);
/* Sets (data) or removes (data NULL) EDNS option `code` of the query the
 * forwarder sends (query stage only); marks the query nocache. At most 8
 * options set and 8 removed, 512 bytes of options: MOON_FFI_ELIMIT. */
int moon_ffi_q_set_edns_opt(struct moon_ffi_req *r, int code, const char *data, size_t len);
void moon_ffi_q_nocache(struct moon_ffi_req *r);

/* q.meta */
int moon_ffi_meta_get(struct moon_ffi_req *r, const char *key, size_t klen);
/* val NULL deletes the key. */
int moon_ffi_meta_set(struct moon_ffi_req *r, const char *key, size_t klen, const char *val,
		      size_t vlen);
int moon_ffi_meta_count(struct moon_ffi_req *r);
int moon_ffi_meta_key(struct moon_ffi_req *r, int i);
int moon_ffi_meta_value(struct moon_ffi_req *r, int i);

/* A reply made by a policy, built aside and swapped in when the hook
 * returns its verdict: begin, records in section order, EDE, end. */
int moon_ffi_reply_begin(struct moon_ffi_req *r, int rcode, bool aa);
/* One or more records in zone-file syntax; relative names are relative to
 * the query name. On a syntax error buf_ holds the message. */
int moon_ffi_reply_rr(struct moon_ffi_req *r, int section, const char *text, size_t len);
/* The negative-answer SOA (TTL min(SOA TTL, MINIMUM)) of the block's zone
 * enclosing the name being resolved, into the authority section (before
 * any other authority record); sets AA too when aa. Returns 1, 0 without
 * such a zone (nothing added), or an error. */
int moon_ffi_reply_soa(struct moon_ffi_req *r, bool aa);
int moon_ffi_reply_ede(struct moon_ffi_req *r, int code, const char *text, size_t len);
int moon_ffi_reply_end(struct moon_ffi_req *r);

/* r: the response, parsed on first use. */
int moon_ffi_r_parse(struct moon_ffi_req *r);
int moon_ffi_rr_name(struct moon_ffi_req *r, int i);
int moon_ffi_rr_rdata(struct moon_ffi_req *r, int i);
int moon_ffi_rr_raw(struct moon_ffi_req *r, int i);
int moon_ffi_rr_ip(struct moon_ffi_req *r, int i);
/* filtered: the record goes for policy reasons (EDE 17 unless another EDE
 * is set). */
int moon_ffi_r_remove(struct moon_ffi_req *r, int i, bool filtered);
/* Adds the records of text to section (at = -1) or in place of record at.
 * Returns the index of the first record added. */
int moon_ffi_r_add(struct moon_ffi_req *r, int section, const char *text, size_t len, int at);
int moon_ffi_r_set_ttl(struct moon_ffi_req *r, int i, uint32_t ttl);
int moon_ffi_r_clamp_ttl(struct moon_ffi_req *r, uint32_t min, uint32_t max);
/* section -1: every section; types: only RRsets of these types (NULL: all). */
int moon_ffi_r_shuffle(struct moon_ffi_req *r, int section, const uint16_t *types, int ntypes);
/* Puts records idx[0..n) in this order over the positions they hold. */
int moon_ffi_r_reorder(struct moon_ffi_req *r, const int32_t *idx, int n);
/* The name of the policy whose verdict made the reply, or -1. */
int moon_ffi_r_policy(struct moon_ffi_req *r);
int moon_ffi_r_set_rcode(struct moon_ffi_req *r, int rcode);
/* flag: a header bit (0x0400 AA, 0x0200 TC, 0x0080 RA, 0x0020 AD). */
int moon_ffi_r_set_flag(struct moon_ffi_req *r, int flag, bool on);
int moon_ffi_r_ede(struct moon_ffi_req *r, int code, const char *text, size_t len);

/* moon.shared(name): dictionaries shared by every worker, for the life of
 * the process. max_bytes applies when the dictionary is created. */
struct moon_shared_dict *moon_ffi_shared_open(const char *name, size_t len, size_t max_bytes);
/* -1 absent, -2 a number (in *num), else a string of that length in buf_. */
int moon_ffi_shared_get(struct moon_ffi_req *r, struct moon_shared_dict *d, const char *key,
			size_t klen, double *num);
/* val NULL stores the number num. ttl in seconds, 0 = none. only_new: store
 * only if absent (returns 1 when the key exists). */
int moon_ffi_shared_set(struct moon_shared_dict *d, const char *key, size_t klen,
			const char *val, size_t vlen, double num, double ttl, bool only_new);
int moon_ffi_shared_incr(struct moon_shared_dict *d, const char *key, size_t klen, double delta,
			 double init, double ttl, double *out);
int moon_ffi_shared_delete(struct moon_shared_dict *d, const char *key, size_t klen);
/* Seconds to live, -1 for no TTL, -2 absent. */
double moon_ffi_shared_ttl(struct moon_shared_dict *d, const char *key, size_t klen);
int moon_ffi_shared_count(struct moon_shared_dict *d);
void moon_ffi_shared_flush(struct moon_shared_dict *d);

/* moon.counter(name): per-worker counters summed by the metrics. */
int moon_ffi_counter_new(struct moon_ffi_req *r, const char *name, size_t len);
void moon_ffi_counter_add(struct moon_ffi_req *r, int id, double n);
double moon_ffi_counter_value(int id);

/* moon.regex: PCRE2. flags: any of "imsx". NULL with a message in err. */
struct moon_regex *moon_ffi_re_new(const char *pattern, size_t len, const char *flags,
				   char *err, size_t errlen);
void moon_ffi_re_free(struct moon_regex *re);
int moon_ffi_re_groups(struct moon_regex *re);
/* The i-th named group (0-based): its name, and its number in *group. */
const char *moon_ffi_re_name(struct moon_regex *re, int i, int *group);
/* Matches subject from byte `start`: 0 no match, else the number of
 * (start, end) offset pairs written to ov (-1 for a group that did not
 * take part), MOON_FFI_ELIMIT when the match limit stopped it. */
int moon_ffi_re_match(struct moon_regex *re, const char *subject, size_t len, size_t start,
		      int32_t *ov, int pairs);

/* Parses an IPv4 or IPv6 address (no brackets, no port) into out: 4 or 16
 * bytes, returns that count or -1. */
int moon_ffi_ip_parse(const char *text, size_t len, uint8_t *out);

/* The file of a shorthand policy name (moon_bridge_policy_path, with the
 * current directory as the config's); 0 or a negative error. */
int moon_ffi_policy_path(const char *name, char *out, size_t len);

/* moon.log: level 0 error, 1 warning, 2 info, 3 debug; rate-limited per
 * policy. */
void moon_ffi_log(struct moon_ffi_req *r, int level, const char *msg, size_t len);

/* The policy test harness (moon.test): one bridge state with one chain of
 * policies, and a miniature pipeline that runs a described query through
 * the query, response and log stages, with a zone or given records in
 * place of the sources. */
struct moon_ffi_tquery {
	const char *name;
	int type;
	int class;
	int id;
	const char *client;             /* address text, NULL = 127.0.0.1 */
	int client_port;
	const char *server;             /* NULL = 127.0.0.1 */
	int server_port;
	bool tcp;
	bool edns;
	bool do_bit;
	bool rd;
	bool cd;
	int bufsize;
	const uint8_t *edns_opts;       /* TLV-encoded options */
	int edns_opts_len;
	struct moon_zone *zone;         /* the source: a zone, or the records below */
	const char *answer;             /* records in zone-file syntax, one per line */
	const char *authority;
	const char *additional;
	int rcode;                      /* of the given records */
	bool aa;
	int source;                     /* enum moon_source for r.source, -1 = default */
};

struct moon_ffi_tresult {
	int verdict[3];                 /* per stage: enum moon_ffi_code, -1 not run */
	bool dropped;
	int rcode;
	int flags;                      /* header flags word */
	int source;
	int errors;                     /* policy errors during this query */
	int len;                        /* bytes in the reply */
	bool rewritten;
	bool nocache;
	int ede;                        /* EDE info code, -1 none */
};

struct moon_harness *moon_ffi_t_new(void);
void moon_ffi_t_free(struct moon_harness *h);
void moon_ffi_t_limits(struct moon_harness *h, double memory, int hook_ms);
int moon_ffi_t_add(struct moon_harness *h, const char *file, const char *name,
		   const char *options, int on_error, bool sandbox, bool jit);
/* Loads the policies added; on failure moon_ffi_t_error(h, 0) says why. */
int moon_ffi_t_build(struct moon_harness *h);
/* The i-th error of the build or of the last query, or NULL. */
const char *moon_ffi_t_error(struct moon_harness *h, int i);
int moon_ffi_t_run(struct moon_harness *h, const struct moon_ffi_tquery *d);
const struct moon_ffi_tresult *moon_ffi_t_result(struct moon_harness *h);
/* The reply's records: what = 0 owner, 1 RDATA text, 2 type name. */
int moon_ffi_t_rr_count(struct moon_harness *h);
const struct moon_ffi_rr *moon_ffi_t_rr(struct moon_harness *h, int i);
const char *moon_ffi_t_rr_text(struct moon_harness *h, int i, int what);
/* The reply's question (name text; type in *qtype), NULL if none. */
const char *moon_ffi_t_question(struct moon_harness *h, int *qtype);
const char *moon_ffi_t_ede_text(struct moon_harness *h);
/* q.meta after the query: i-th key (value = false) or value. */
int moon_ffi_t_meta_count(struct moon_harness *h);
const char *moon_ffi_t_meta(struct moon_harness *h, int i, bool value, size_t *len);
const uint8_t *moon_ffi_t_wire(struct moon_harness *h);
/* Sum of the moon.counter(name) of the harness's policies. */
double moon_ffi_t_counter(struct moon_harness *h, const char *name);
/* Memory of the harness's Lua state, bytes. */
double moon_ffi_t_memory(struct moon_harness *h);
/* A zone from text (origin NULL: the owner of its SOA); NULL with a
 * message in err. */
struct moon_zone *moon_ffi_t_zone(const char *text, size_t len, const char *origin,
				  char *err, size_t errlen);
void moon_ffi_t_zone_free(struct moon_zone *z);

/* FFI-END */

/* For the bridge: the table of every function above (generated). */
extern const void *const moon__ffi_syms[];
extern const unsigned moon__ffi_nsyms;

#endif
