/*
 * The authoritative answer algorithm (RFC 1034 §4.3.2 with RFC 4592, 6672,
 * 2308, 4035 and 8482), written as the state machine knotd 3.2 uses so that
 * a differential test against knotd sees the same sections. Where knotd
 * makes a choice the RFCs leave open, we make the same one; each is noted
 * where it is made. The precomputed node flags (tree.h) keep every step to
 * a few hash lookups; nothing here allocates.
 */
#include "util/err.h"
#include "wire/dns.h"
#include "wire/pkt.h"
#include "wire/wire.h"
#include "zone/rdata.h"
#include "zone/tree.h"
#include "zone/zone.h"

enum state { ST_HIT, ST_MISS, ST_NODATA, ST_DELEG, ST_FOLLOW };

/* A wildcard used while answering: proofs need the name it stood for. */
struct wild_hit {
	uint32_t node;
	const uint8_t *sname;
};

#define MAX_WILD (2 * (MOON_ANS_CNAME_MAX + 2))

struct actx {
	const struct moon_zone *z;
	struct moon_zone_answer *ans;
	const uint8_t *qname;
	uint16_t qtype;
	bool dnssec;             /* DO set and the zone is signed */
	const uint8_t *sname;    /* the name being resolved (lowercase) */
	const uint8_t *sowner;   /* sname as an answer owner: NULL while it is the qname */
	uint32_t node;           /* node answering sname, MOON_ZNONE */
	uint32_t encloser;       /* closest encloser of sname (the node itself on a match) */
	bool expanded;           /* node is a wildcard standing for sname */
	unsigned chain;
	uint32_t expanded_rrs;   /* answer entries that are wildcard expansions (bitmask) */
	unsigned nwild;
	struct wild_hit wild[MAX_WILD];
};

static bool put(struct moon_ans_section *s, const uint8_t *owner, const struct moon_rrset *rs)
{
	if (s->n == MOON_ANS_MAX_RRSETS)
		return false;
	s->rr[s->n++] = (struct moon_ans_rrset){ .owner = owner, .rrset = rs };
	return true;
}

static void put_answer_rr(struct actx *c, const uint8_t *owner, const struct moon_rrset *rs,
			  bool expanded)
{
	struct moon_ans_section *s = &c->ans->sec[MOON_SEC_ANSWER];
	if (put(s, owner, rs) && expanded)
		c->expanded_rrs |= 1u << (s->n - 1);
}

/* knotd skips a CNAME or DNAME already in the answer (that is how it ends a
 * loop), comparing set identity; wildcard expansions are copies in knotd
 * and never count as present. */
static bool in_answer(const struct actx *c, const struct moon_rrset *rs)
{
	const struct moon_ans_section *s = &c->ans->sec[MOON_SEC_ANSWER];
	for (uint16_t i = 0; i < s->n; i++)
		if (s->rr[i].rrset == rs && !(c->expanded_rrs & (1u << i)))
			return true;
	return false;
}

static uint32_t find(const struct moon_zone *z, const uint8_t *name, size_t len)
{
	return moon__zone_find(z, name, len, moon__zname_hash(name, len));
}

/*
 * The deepest existing ancestor of `name` (inside the zone, not itself a
 * node). Every ancestor of a node is a node (empty non-terminals included),
 * so searching down from the apex can stop at the first miss; zones are
 * shallow, so this is one or two lookups even for long random names.
 */
static uint32_t closest_encloser(const struct moon_zone *z, const uint8_t *name, size_t len)
{
	uint8_t off[MOON_NAME_MAXLABELS];
	unsigned n = 0;
	for (const uint8_t *p = name; *p; p += 1 + *p)
		off[n++] = (uint8_t)(p - name);
	uint32_t ce = 0;
	for (int k = (int)(n - z->origin_labels) - 1; k > 0; k--) {
		uint32_t v = find(z, name + off[k], len - off[k]);
		if (v == MOON_ZNONE)
			break;
		ce = v;
	}
	return ce;
}

static uint32_t wildcard_child(const struct moon_zone *z, uint32_t n)
{
	const uint8_t *name = moon__znode_name(z, n);
	size_t len = moon_name_len(name);
	uint8_t wild[MOON_NAME_MAXLEN + 2] = { 1, '*' };
	memcpy(wild + 2, name, len);
	return find(z, wild, len + 2);
}

static const uint8_t *node_name(const struct actx *c, uint32_t n)
{
	return moon__znode_name(c->z, n);
}

static void visit_wildcard(struct actx *c, uint32_t n, const uint8_t *sname)
{
	/* knotd proves nothing about wildcards below a zone cut. */
	if ((c->z->nodes[n].flags & MOON_ZN_NONAUTH) || c->nwild == MAX_WILD)
		return;
	c->wild[c->nwild++] = (struct wild_hit){ .node = n, .sname = sname };
}

static bool wildcard_visited(const struct actx *c, uint32_t n)
{
	for (unsigned i = 0; i < c->nwild; i++)
		if (c->wild[i].node == n)
			return true;
	return false;
}

/*
 * knotd's minimal ANY (RFC 8482 §4.1) is the first RRset of the node, over
 * UDP and TCP alike; its nodes keep sets sorted by type, with all RRSIGs as
 * one set of type 46, and so do ours: the lowest type wins, and a signed
 * node whose types are all above 46 answers with its RRSIGs.
 */
static const struct moon_rrset *any_set(struct actx *c)
{
	const struct moon_znode *node = &c->z->nodes[c->node];
	return node->nsets ? &c->z->sets[node->sets] : NULL;
}

/* knotd answers qtype RRSIG with one signature: the first of the node's
 * RRSIG set in canonical order, i.e. of the lowest covered type. Its TTL is
 * the Original TTL field, as for every RRSIG knotd sends. */
static const struct moon_rrset *first_sig(struct actx *c)
{
	const struct moon_rrset *all = moon__znode_set(c->z, c->node, MOON_T_RRSIG);
	if (!all || c->ans->nsynth == MOON_ANS_MAX_CHAIN)
		return NULL;
	struct moon_rrset *rs = &c->ans->synth[c->ans->nsynth++];
	*rs = (struct moon_rrset){
		.type = MOON_T_RRSIG, .count = 1, .ttl = all->ttl, .rdata = all->rdata,
		.rdata_len = 2u + moon_rdata_len(all->rdata),
	};
	return rs;
}

static enum state put_answer(struct actx *c)
{
	const struct moon_rrset *rs;
	if (c->qtype == MOON_T_ANY)
		rs = any_set(c);
	else if (c->qtype == MOON_T_RRSIG)
		rs = first_sig(c);
	else
		rs = moon__znode_set(c->z, c->node, c->qtype);
	if (!rs)
		return ST_NODATA;
	put_answer_rr(c, c->sowner, rs, c->expanded);
	return ST_HIT;
}

/* RFC 6672 §2.2: the CNAME for sname below the DNAME owner. */
static const struct moon_rrset *synth_cname(struct actx *c, const struct moon_rrset *dname,
					    const uint8_t *target)
{
	struct moon_zone_answer *ans = c->ans;
	if (ans->nsynth == MOON_ANS_MAX_CHAIN)
		return NULL;
	size_t prefix = moon_name_len(c->sname) - moon_name_len(node_name(c, c->node));
	size_t tlen = moon_name_len(target);
	uint8_t *rd = ans->synth_rdata[ans->nsynth];
	moon_put_u16(rd, (uint16_t)(prefix + tlen));
	memcpy(rd + 2, c->sname, prefix);
	memcpy(rd + 2 + prefix, target, tlen);
	struct moon_rrset *rs = &ans->synth[ans->nsynth++];
	*rs = (struct moon_rrset){
		.type = MOON_T_CNAME, .count = 1, .ttl = dname->ttl, .rdata = rd,
		.rdata_len = (uint32_t)(2 + prefix + tlen),
	};
	return rs;
}

static bool dname_too_long(const struct actx *c, const uint8_t *target)
{
	const uint8_t *owner = node_name(c, c->node);
	return moon_name_labels(c->sname) - moon_name_labels(owner) + moon_name_labels(target) >
		MOON_NAME_MAXLABELS ||
	       moon_name_len(c->sname) - moon_name_len(owner) + moon_name_len(target) >
		MOON_NAME_MAXLEN;
}

/*
 * Puts the CNAME (or DNAME and its synthesized CNAME) of c->node and moves
 * sname to the target. knotd's quirks kept: after 5 links it just stops
 * (NOERROR, no SOA); a DNAME whose result would be too long sets YXDOMAIN
 * and then resolves the DNAME target itself; a DNAME loop repeats the
 * synthesized CNAME until the limit, while a CNAME loop stops at the first
 * repeat.
 */
static enum state follow(struct actx *c, uint16_t type)
{
	if (++c->chain > MOON_ANS_CNAME_MAX) {
		c->node = MOON_ZNONE;
		return ST_HIT;
	}
	const struct moon_rrset *rs = moon__znode_set(c->z, c->node, type);
	struct moon_ans_section *answer = &c->ans->sec[MOON_SEC_ANSWER];
	uint16_t before = answer->n;
	bool expand = type == MOON_T_CNAME && c->expanded;
	if (expand || !in_answer(c, rs))
		put_answer_rr(c, type == MOON_T_DNAME ? node_name(c, c->node) : c->sowner, rs,
			      expand);

	const uint8_t *target = moon_rdata_data(rs->rdata);
	if (type == MOON_T_DNAME) {
		if (dname_too_long(c, target)) {
			c->ans->rcode = MOON_RCODE_YXDOMAIN;
		} else {
			const struct moon_rrset *cname = synth_cname(c, rs, target);
			if (!cname)
				return ST_HIT;
			put_answer_rr(c, c->sowner, cname, false);
			if (c->qtype == MOON_T_CNAME)
				return ST_HIT;
			target = moon_rdata_data(cname->rdata);
		}
	}
	if (answer->n <= before) {
		c->node = MOON_ZNONE;
		return ST_HIT;
	}
	if (c->z->nodes[c->node].flags & MOON_ZN_WILDCARD) {
		bool loop = wildcard_visited(c, c->node);
		visit_wildcard(c, c->node, c->sname);
		if (loop) {
			c->node = MOON_ZNONE;
			return ST_HIT;
		}
	}
	c->sname = c->sowner = target;
	return ST_FOLLOW;
}

static enum state name_found(struct actx *c)
{
	const struct moon_znode *node = &c->z->nodes[c->node];
	uint16_t qt = c->qtype;
	/* As knotd: CNAME first, even on an occluded name. */
	if ((node->flags & MOON_ZN_CNAME) && qt != MOON_T_CNAME && qt != MOON_T_RRSIG &&
	    qt != MOON_T_NSEC && qt != MOON_T_ANY)
		return follow(c, MOON_T_CNAME);
	/* RFC 4035 §3.1.4.1: DS at a cut is the parent's data. */
	if (((node->flags & MOON_ZN_DELEG) && qt != MOON_T_DS) || (node->flags & MOON_ZN_NONAUTH))
		return ST_DELEG;
	return put_answer(c);
}

static enum state name_not_found(struct actx *c)
{
	const struct moon_zone *z = c->z;
	uint32_t ce = c->encloser;
	const struct moon_znode *enc = &z->nodes[ce];

	/* knotd tests the wildcard first; a DNAME owner with a wildcard child
	 * cannot load there, and here the DNAME occludes it. */
	if (enc->flags & MOON_ZN_DNAME) {
		c->node = ce;
		return follow(c, MOON_T_DNAME);
	}
	if (enc->flags & MOON_ZN_WILDCARD_CHILD) {
		const uint8_t *sname = c->sname;
		c->node = wildcard_child(z, ce);
		c->expanded = !moon_name_is_wildcard(sname);
		uint32_t w = c->node;
		enum state st = name_found(c);
		visit_wildcard(c, w, sname);
		return st;
	}
	uint32_t n = ce;
	while (z->nodes[n].nsets == 0 || (z->nodes[n].flags & MOON_ZN_NONAUTH))
		n = z->nodes[n].parent;
	if (z->nodes[n].flags & MOON_ZN_DELEG) {
		c->node = n;
		return ST_DELEG;
	}
	return ST_MISS;
}

static uint32_t dname_owner(const struct moon_zone *z, uint32_t n)
{
	while (z->nodes[n].flags & MOON_ZN_BELOW_DNAME)
		n = z->nodes[n].parent;
	return n;
}

static enum state solve(struct actx *c)
{
	const struct moon_zone *z = c->z;
	size_t len = moon_name_len(c->sname);
	c->expanded = false;
	uint32_t n = find(z, c->sname, len);
	if (n != MOON_ZNONE && !(z->nodes[n].flags & MOON_ZN_BELOW_DNAME)) {
		c->node = c->encloser = n;
		return name_found(c);
	}
	c->node = MOON_ZNONE;
	c->encloser = n != MOON_ZNONE ? n : closest_encloser(z, c->sname, len);
	c->encloser = dname_owner(z, c->encloser);
	return name_not_found(c);
}

/* --- DNSSEC denial (RFC 4035 §3.1.3), NSEC only --- */

/* The last name of the NSEC chain at or before `name` in canonical order;
 * for a name that does not exist, the NSEC owner that covers it. */
static uint32_t chain_at_or_before(const struct moon_zone *z, const uint8_t *name)
{
	uint32_t lo = 0, hi = z->nchain;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (moon_name_cmp_canonical(moon__znode_name(z, z->chain[mid]), name) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return z->chain[lo ? lo - 1 : z->nchain - 1];
}

static void put_nsec(struct actx *c, uint32_t n)
{
	const struct moon_rrset *nsec = moon__znode_set(c->z, n, MOON_T_NSEC);
	struct moon_ans_section *s = &c->ans->sec[MOON_SEC_AUTHORITY];
	if (!nsec)
		return;
	for (uint16_t i = 0; i < s->n; i++)
		if (s->rr[i].rrset == nsec)
			return;
	put(s, node_name(c, n), nsec);
}

static void put_covering_nsec(struct actx *c, const uint8_t *name)
{
	put_nsec(c, chain_at_or_before(c->z, name));
}

/* The name does not exist, and neither does the wildcard at its closest
 * encloser (RFC 4035 §3.1.3.2). */
static void prove_nxdomain(struct actx *c, const uint8_t *name, uint32_t encloser)
{
	put_covering_nsec(c, name);
	const uint8_t *ce = node_name(c, encloser);
	size_t len = moon_name_len(ce);
	if (len + 2 > MOON_NAME_MAXLEN)
		return;
	uint8_t wild[MOON_NAME_MAXLEN] = { 1, '*' };
	memcpy(wild + 2, ce, len);
	put_covering_nsec(c, wild);
}

/* RFC 4035 §3.1.3.1. An empty non-terminal has no NSEC of its own: the one
 * covering its name proves it holds nothing, and as the name exists no
 * wildcard could answer for it, so (like knotd 3.2) that NSEC alone. */
static void prove_nodata(struct actx *c, uint32_t n)
{
	if (c->z->nodes[n].nsets == 0)
		put_covering_nsec(c, c->sname);
	else
		put_nsec(c, n);
}

/* RFC 4035 §3.1.3.3: no closer match existed for the expanded names. */
static void prove_wildcards(struct actx *c)
{
	for (unsigned i = 0; i < c->nwild; i++)
		if (!moon_name_is_wildcard(c->wild[i].sname))
			put_covering_nsec(c, c->wild[i].sname);
}

/* A referral proves whether the child is signed: its DS, or the NSEC at the
 * cut showing there is none (RFC 4035 §3.1.4). */
static void prove_delegation(struct actx *c, uint32_t cut)
{
	const struct moon_rrset *ds = moon__znode_set(c->z, cut, MOON_T_DS);
	if (ds)
		put(&c->ans->sec[MOON_SEC_AUTHORITY], node_name(c, cut), ds);
	else
		put_nsec(c, cut);
}

static void append_sigs(struct moon_ans_section *s)
{
	uint16_t n = s->n;
	for (uint16_t i = 0; i < n; i++)
		if (s->rr[i].rrset->sigs)
			put(s, s->rr[i].owner, s->rr[i].rrset->sigs);
}

static void authority(struct actx *c, enum state st)
{
	const struct moon_zone *z = c->z;
	struct moon_ans_section *s = &c->ans->sec[MOON_SEC_AUTHORITY];
	uint32_t cut = c->node;

	/* knotd adds no NS set to positive answers. */
	switch (st) {
	case ST_MISS:
		c->ans->rcode = MOON_RCODE_NXDOMAIN;
		/* fall through */
	case ST_NODATA:
		put(s, z->origin, &z->neg_soa);
		break;
	case ST_DELEG:
		while (!(z->nodes[cut].flags & MOON_ZN_DELEG))
			cut = z->nodes[cut].parent;
		put(s, node_name(c, cut), moon__znode_set(z, cut, MOON_T_NS));
		break;
	default:
		break;
	}
	if (!c->dnssec)
		return;
	if (st == ST_MISS)
		prove_nxdomain(c, c->sname, c->encloser);
	else if (st == ST_NODATA)
		prove_nodata(c, c->node);
	else if (st == ST_DELEG)
		prove_delegation(c, cut);
	if (st != ST_DELEG)
		prove_wildcards(c);
	append_sigs(s);
}

/* The node whose addresses go with a target name: the name itself, or the
 * wildcard that would answer for it; glue below a cut counts. */
static uint32_t target_node(const struct moon_zone *z, const uint8_t *name)
{
	size_t len = moon_name_len(name);
	if (!moon__zone_contains(z, name, len))
		return MOON_ZNONE;
	uint32_t n = find(z, name, len);
	if (n != MOON_ZNONE)
		return n;
	uint32_t ce = closest_encloser(z, name, len);
	return (z->nodes[ce].flags & MOON_ZN_WILDCARD_CHILD) ? wildcard_child(z, ce) : MOON_ZNONE;
}

/* Glue that must reach the resolver: an address at or below the NS owner
 * that only this zone's cut can give (knotd's "mandatory" glue). */
static bool required_glue(const struct actx *c, const uint8_t *owner, uint32_t n)
{
	return (c->z->nodes[n].flags & (MOON_ZN_DELEG | MOON_ZN_NONAUTH)) &&
	       moon_name_is_subdomain(node_name(c, n), owner);
}

static unsigned put_targets(struct actx *c, const struct moon_ans_rrset *e, int pass)
{
	const struct moon_rrset *rs = e->rrset;
	const uint8_t *owner = e->owner ? e->owner : c->qname;
	int off = moon__rdata_target_offset(rs->type);
	struct moon_ans_section *add = &c->ans->sec[MOON_SEC_ADDITIONAL];
	unsigned added = 0;

	const uint8_t *rd = rs->rdata;
	for (uint16_t i = 0; i < rs->count; i++, rd = moon_rdata_next(rd)) {
		const uint8_t *target = moon_rdata_data(rd) + off;
		uint32_t n = target_node(c->z, target);
		if (n == MOON_ZNONE)
			continue;
		bool required = rs->type == MOON_T_NS && required_glue(c, owner, n);
		if (pass != (required ? 0 : 1))
			continue;
		/* SVCB/HTTPS also chase the target's own SVCB/HTTPS (RFC 9460 §4). */
		uint16_t types[3] = { MOON_T_A, MOON_T_AAAA, rs->type };
		unsigned ntypes = rs->type == MOON_T_SVCB || rs->type == MOON_T_HTTPS ? 3 : 2;
		for (unsigned k = 0; k < ntypes; k++) {
			const struct moon_rrset *glue = moon__znode_set(c->z, n, types[k]);
			if (glue && put(add, target, glue))
				added++;
		}
	}
	return added;
}

/*
 * knotd's additional section: for every NS/MX/SRV/SVCB/HTTPS set of the
 * answer and authority sections, per record in order, A then AAAA of the
 * target; for an NS set the required glue first. Like knotd we do not
 * remove repeats (two MX records naming one host list its addresses twice;
 * clients merge them).
 */
static void additional(struct actx *c, enum state st)
{
	for (int sec = MOON_SEC_ANSWER; sec <= MOON_SEC_AUTHORITY; sec++) {
		const struct moon_ans_section *s = &c->ans->sec[sec];
		for (uint16_t i = 0; i < s->n; i++) {
			if (moon__rdata_target_offset(s->rr[i].rrset->type) < 0)
				continue;
			unsigned required = put_targets(c, &s->rr[i], 0);
			if (st == ST_DELEG)
				c->ans->nglue += (uint16_t)required;
			put_targets(c, &s->rr[i], 1);
		}
	}
	if (c->dnssec)
		append_sigs(&c->ans->sec[MOON_SEC_ADDITIONAL]);
}

void moon_zone_answer(const struct moon_zone *zone, const uint8_t *qname_lc, uint16_t qtype,
		      bool do_bit, struct moon_zone_answer *ans)
{
	ans->rcode = MOON_RCODE_NOERROR;
	ans->aa = true;
	ans->nglue = 0;
	ans->nsynth = 0;
	for (int i = 0; i < 3; i++)
		ans->sec[i].n = 0;
	if (!moon__zone_contains(zone, qname_lc, moon_name_len(qname_lc))) {
		ans->rcode = MOON_RCODE_REFUSED;
		ans->aa = false;
		return;
	}
	struct actx c = {
		.z = zone, .ans = ans, .qname = qname_lc, .qtype = qtype,
		.dnssec = do_bit && zone->dnssec, .sname = qname_lc,
	};
	enum state st = solve(&c);
	/* AA is decided by the question name alone: a CNAME into a delegated
	 * child still answers with AA=1, as knotd does. */
	ans->aa = st != ST_DELEG;
	while (st == ST_FOLLOW) {
		if (!moon__zone_contains(zone, c.sname, moon_name_len(c.sname))) {
			st = ST_HIT;
			break;
		}
		st = solve(&c);
	}
	if (c.dnssec)
		append_sigs(&ans->sec[MOON_SEC_ANSWER]);
	authority(&c, st);
	additional(&c, st);
}

const struct moon_rrset *moon_zone_neg_soa(const struct moon_zone *zone)
{
	return &zone->neg_soa;
}
