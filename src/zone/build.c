/*
 * Zone loading, second half: turns the flat record array of load.c into
 * the immutable zone of tree.h.
 *
 *  1. Every ancestor of every owner up to the apex gets a node (the empty
 *     non-terminals) and each node learns its parent.
 *  2. Records are grouped by node with a counting sort (O(n), no big
 *     comparison sort) and each node's few records are sorted by type and
 *     RDATA, which gives knotd's record order, makes duplicates adjacent and
 *     groups RRSIGs by covered type.
 *  3. A counting pass checks each node and sizes the output; one block is
 *     then allocated for all RRsets and RDATA and a second pass fills it.
 *  4. Per-node facts (zone cut, below a cut, below a DNAME, wildcard child)
 *     are derived parents first; zone-wide checks follow.
 *  5. Signed zones get the canonical-order array that NSEC proofs search.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "wire/dns.h"
#include "wire/wire.h"
#include "zone/loader.h"
#include "zone/rdata.h"

struct build {
	struct moon_zload *L;
	struct moon_zone *z;
	struct moon_zrec *recs;
	const uint8_t *rdata;
	uint32_t *start;       /* records of node n: order[start[n] .. start[n + 1]) */
	uint32_t *order;
	uint64_t *set_where;   /* per set: file << 32 | line of its first record */
	size_t nsets, nsigs, rdata_bytes;
};

static const uint8_t *rec_rdata(const struct build *b, uint32_t r)
{
	return b->rdata + b->recs[r].rdoff;
}

static void where_of(const struct build *b, uint32_t r, unsigned *file, unsigned *line)
{
	*file = (unsigned)b->recs[r].file;
	*line = b->recs[r].line;
}

static int link_parents(struct moon_zload *L)
{
	struct moon_zone *z = L->z;
	uint8_t parent[MOON_NAME_MAXLEN];
	size_t last_len = 0;
	uint32_t last = MOON_ZNONE;

	z->nodes[0].parent = 0;
	/* Nodes appended by this loop (new empty non-terminals) are visited too. */
	for (uint32_t i = 1; i < z->nnodes; i++) {
		const uint8_t *name = moon__znode_name(z, i);
		if (moon_name_is_wildcard(name))
			z->nodes[i].flags |= MOON_ZN_WILDCARD;
		const uint8_t *p = name + 1 + name[0];
		size_t len = moon_name_len(p);
		/* Siblings come in runs: most parents are the previous one. */
		if (len != last_len || memcmp(p, parent, len) != 0) {
			memcpy(parent, p, len);   /* node() may move the names block */
			last = moon__zload_node(L, parent, len);
			last_len = len;
			if (last == MOON_ZNONE)
				return -ENOMEM;
		}
		z->nodes[i].parent = last;
	}
	return 0;
}

static int group_records(struct build *b, size_t nrecs)
{
	uint32_t nn = b->z->nnodes;
	b->start = calloc((size_t)nn + 1, sizeof(*b->start));
	b->order = malloc((nrecs ? nrecs : 1) * sizeof(*b->order));
	if (!b->start || !b->order)
		return -ENOMEM;
	for (size_t r = 0; r < nrecs; r++)
		b->start[b->recs[r].node + 1]++;
	for (uint32_t n = 0; n < nn; n++)
		b->start[n + 1] += b->start[n];
	/* Filling advances start[n] to the end of n's run, i.e. to start[n + 1]. */
	for (size_t r = 0; r < nrecs; r++)
		b->order[b->start[b->recs[r].node]++] = (uint32_t)r;
	memmove(b->start + 1, b->start, (size_t)nn * sizeof(*b->start));
	b->start[0] = 0;
	return 0;
}

/* Type, then RDATA as knotd orders a set's records (memcmp, shorter first),
 * then file order so that the first of equal records stays first. */
static int rec_cmp(const void *pa, const void *pb, void *arg)
{
	const struct build *b = arg;
	uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
	const struct moon_zrec *a = &b->recs[ia], *c = &b->recs[ib];
	if (a->type != c->type)
		return a->type < c->type ? -1 : 1;
	uint16_t n = a->rdlen < c->rdlen ? a->rdlen : c->rdlen;
	int d = memcmp(rec_rdata(b, ia), rec_rdata(b, ib), n);
	if (d)
		return d;
	if (a->rdlen != c->rdlen)
		return a->rdlen < c->rdlen ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

static void sort_node(struct build *b, uint32_t *r, uint32_t n)
{
	if (n > 8) {
		qsort_r(r, n, sizeof(*r), rec_cmp, b);
		return;
	}
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = r[i], j = i;
		for (; j > 0 && rec_cmp(&r[j - 1], &v, b) > 0; j--)
			r[j] = r[j - 1];
		r[j] = v;
	}
}

/* RRSIGs cover the type in their first RDATA field. */
static uint16_t covered(const struct build *b, uint32_t r)
{
	return b->recs[r].rdlen >= 2 ? moon_get_u16(rec_rdata(b, r)) : 0;
}

/* End of the run of records of one type that starts at i. */
static uint32_t group_end(const struct build *b, uint32_t i, uint32_t end)
{
	uint16_t type = b->recs[b->order[i]].type;
	uint32_t j = i + 1;
	while (j < end && b->recs[b->order[j]].type == type)
		j++;
	return j;
}

static bool same_record(const struct build *b, uint32_t x, uint32_t y)
{
	return b->recs[x].rdlen == b->recs[y].rdlen &&
	       memcmp(rec_rdata(b, x), rec_rdata(b, y), b->recs[x].rdlen) == 0;
}

/* Does the node whose sorted records are order[s..e) have a set of `type`? */
static bool node_has_type(const struct build *b, uint32_t s, uint32_t e, uint16_t type)
{
	uint32_t lo = s, hi = e;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (b->recs[b->order[mid]].type < type)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e && b->recs[b->order[lo]].type == type;
}

static void node_text(const struct build *b, uint32_t n, char *buf)
{
	moon_name_to_text(moon__znode_name(b->z, n), buf, MOON_NAME_TEXT_MAXLEN);
}

/* Drops duplicates of one set, warns about TTL differences; returns the
 * index (in file order) of the set's first record. */
static uint32_t dedup_set(struct build *b, uint32_t i, uint32_t j, uint32_t *kept, size_t *bytes)
{
	uint32_t first = b->order[i];
	*kept = 0;
	*bytes = 0;
	for (uint32_t k = i; k < j; k++) {
		uint32_t r = b->order[k];
		if (k > i && same_record(b, r, b->order[k - 1])) {
			b->recs[r].dead = 1;
			continue;
		}
		if (r < first)
			first = r;
		(*kept)++;
		*bytes += 2 + (size_t)b->recs[r].rdlen;
	}
	/* RRSIGs are answered with their Original TTL field, as knotd does. */
	for (uint32_t k = i; k < j && b->recs[first].type != MOON_T_RRSIG; k++) {
		uint32_t r = b->order[k];
		if (b->recs[r].dead || b->recs[r].ttl == b->recs[first].ttl)
			continue;
		char owner[MOON_NAME_TEXT_MAXLEN], tb[16];
		unsigned file, line;
		node_text(b, b->recs[r].node, owner);
		where_of(b, r, &file, &line);
		moon__zload_warn(b->L, file, line,
				 "TTL %u of %s %s differs from the RRset's TTL %u, which is used",
				 b->recs[r].ttl, owner, moon__rrtype_text(b->recs[r].type, tb),
				 b->recs[first].ttl);
	}
	return first;
}

struct node_census {
	uint32_t cname, dname, soa, other;   /* record counts, other = not CNAME/RRSIG/NSEC */
	uint32_t cname_rec, dname_rec, soa_rec, other_rec;   /* one of each, for messages */
};

static void node_checks(struct build *b, uint32_t n, const struct node_census *c)
{
	bool bad_soa = c->soa && (n != 0 || c->soa > 1);
	if (!(c->cname && c->other) && c->cname <= 1 && c->dname <= 1 && !bad_soa)
		return;   /* the usual case: no name to format */
	char owner[MOON_NAME_TEXT_MAXLEN], tb[16];
	unsigned file, line;
	node_text(b, n, owner);
	if (c->cname && c->other) {
		where_of(b, c->cname_rec, &file, &line);
		moon__zload_error(b->L, file, line, "%s has a CNAME record and other data (%s)",
				  owner, moon__rrtype_text(b->recs[c->other_rec].type, tb));
	}
	if (c->cname > 1) {
		where_of(b, c->cname_rec, &file, &line);
		moon__zload_error(b->L, file, line, "%s has more than one CNAME record", owner);
	}
	if (c->dname > 1) {
		where_of(b, c->dname_rec, &file, &line);
		moon__zload_error(b->L, file, line, "%s has more than one DNAME record", owner);
	}
	if (c->soa && n != 0) {
		where_of(b, c->soa_rec, &file, &line);
		moon__zload_error(b->L, file, line, "SOA record of %s is not at the zone apex",
				  owner);
	} else if (c->soa > 1) {
		where_of(b, c->soa_rec, &file, &line);
		moon__zload_error(b->L, file, line, "more than one SOA record at the zone apex");
	}
}

/* How many covered types of the RRSIG run order[i..j) have a set to attach to. */
static size_t count_sig_sets(const struct build *b, uint32_t s, uint32_t e, uint32_t i, uint32_t j)
{
	size_t n = 0;
	for (uint32_t k = i; k < j; k++) {
		uint16_t cov = covered(b, b->order[k]);
		if (k > i && cov == covered(b, b->order[k - 1]))
			continue;
		if (cov != MOON_T_RRSIG && node_has_type(b, s, e, cov))
			n++;
	}
	return n;
}

/*
 * Sorts, deduplicates and checks every node; counts sets and bytes. A
 * node's RRSIGs form one set of type RRSIG, as in knotd (qtype RRSIG and
 * ANY see it), and each covered set gets a view of its part (sigs).
 */
static void census(struct build *b)
{
	for (uint32_t n = 0; n < b->z->nnodes; n++) {
		uint32_t s = b->start[n], e = b->start[n + 1];
		struct node_census c = { 0 };
		sort_node(b, b->order + s, e - s);
		for (uint32_t i = s, j; i < e; i = j) {
			j = group_end(b, i, e);
			uint16_t type = b->recs[b->order[i]].type;
			uint32_t kept;
			size_t bytes;
			uint32_t first = dedup_set(b, i, j, &kept, &bytes);
			if (kept > UINT16_MAX) {
				unsigned file, line;
				where_of(b, first, &file, &line);
				moon__zload_error(b->L, file, line,
						  "more than 65535 records in one RRset");
			}
			b->rdata_bytes += bytes;
			b->L->z->nrecords += kept;
			b->nsets++;
			if (type == MOON_T_RRSIG)
				b->nsigs += count_sig_sets(b, s, e, i, j);
			if (type == MOON_T_CNAME) {
				c.cname = kept;
				c.cname_rec = first;
			} else if (type == MOON_T_DNAME) {
				c.dname = kept;
				c.dname_rec = first;
			} else if (type == MOON_T_SOA) {
				c.soa = kept;
				c.soa_rec = first;
			}
			if (type != MOON_T_CNAME && type != MOON_T_RRSIG && type != MOON_T_NSEC) {
				c.other += kept;
				c.other_rec = first;
			}
		}
		node_checks(b, n, &c);
	}
}

static struct moon_rrset *find_set(struct moon_rrset *sets, uint16_t n, uint16_t type)
{
	for (uint16_t i = 0; i < n; i++)
		if (sets[i].type == type)
			return &sets[i];
	return NULL;
}

/* Writes one set from the live records of order[i..j). */
static void emit_set(struct build *b, struct moon_rrset *set, uint8_t **rd, uint32_t i, uint32_t j)
{
	uint32_t first = UINT32_MAX;
	uint16_t count = 0;
	uint8_t *p = *rd;
	for (uint32_t k = i; k < j; k++) {
		uint32_t r = b->order[k];
		if (b->recs[r].dead)
			continue;
		first = r < first ? r : first;
		moon_put_u16(p, b->recs[r].rdlen);
		memcpy(p + 2, rec_rdata(b, r), b->recs[r].rdlen);
		p += 2 + (size_t)b->recs[r].rdlen;
		count++;
	}
	*set = (struct moon_rrset){
		.type = b->recs[first].type, .count = count, .ttl = b->recs[first].ttl,
		.rdata = *rd, .rdata_len = (uint32_t)(p - *rd),
	};
	if (set->type == MOON_T_RRSIG)
		set->ttl = moon_get_u32(*rd + 2 + 4);
	b->set_where[set - b->z->sets] = (uint64_t)b->recs[first].file << 32 | b->recs[first].line;
	*rd = p;
}

/* Cuts the node's RRSIG set into one view per covered type and hangs each
 * on the set it covers; signatures covering nothing stay only in the whole. */
static void attach_sigs(struct build *b, struct moon_znode *node, struct moon_rrset **sig)
{
	struct moon_rrset *sets = b->z->sets + node->sets;
	const struct moon_rrset *all = find_set(sets, node->nsets, MOON_T_RRSIG);
	if (!all)
		return;
	const uint8_t *rd = all->rdata;
	for (uint16_t i = 0; i < all->count;) {
		const uint8_t *start = rd;
		uint16_t cov = moon_get_u16(moon_rdata_data(rd)), count = 0;
		for (; i < all->count && moon_get_u16(moon_rdata_data(rd)) == cov; i++, count++)
			rd = moon_rdata_next(rd);
		struct moon_rrset *target = cov == MOON_T_RRSIG ? NULL :
					    find_set(sets, node->nsets, cov);
		if (!target)
			continue;
		struct moon_rrset *g = (*sig)++;
		*g = (struct moon_rrset){
			.type = MOON_T_RRSIG, .count = count, .ttl = moon_get_u32(start + 2 + 4),
			.rdata = start, .rdata_len = (uint32_t)(rd - start),
		};
		b->set_where[g - b->z->sets] = b->set_where[all - b->z->sets];
		target->sigs = g;
	}
}

static void fill_node(struct build *b, uint32_t n, struct moon_rrset **set, struct moon_rrset **sig,
		      uint8_t **rd)
{
	struct moon_znode *node = &b->z->nodes[n];
	uint32_t s = b->start[n], e = b->start[n + 1];

	node->sets = (uint32_t)(*set - b->z->sets);
	for (uint32_t i = s, j; i < e; i = j) {
		j = group_end(b, i, e);
		uint16_t type = b->recs[b->order[i]].type;
		emit_set(b, (*set)++, rd, i, j);
		if (type == MOON_T_CNAME)
			node->flags |= MOON_ZN_CNAME;
		else if (type == MOON_T_DNAME)
			node->flags |= MOON_ZN_DNAME;
	}
	node->nsets = (uint16_t)(*set - b->z->sets - node->sets);
	attach_sigs(b, node, sig);
}

static int fill(struct build *b)
{
	struct moon_zone *z = b->z;
	size_t set_bytes = (b->nsets + b->nsigs) * sizeof(struct moon_rrset);
	uint8_t *block = malloc(set_bytes + b->rdata_bytes + 1);
	b->set_where = malloc((b->nsets + b->nsigs + 1) * sizeof(*b->set_where));
	if (!block || !b->set_where) {
		free(block);
		return -ENOMEM;
	}
	z->blocks[0] = block;
	z->memory += set_bytes + b->rdata_bytes + 1;
	z->sets = (struct moon_rrset *)block;
	z->rdata = block + set_bytes;
	struct moon_rrset *set = z->sets, *sig = z->sets + b->nsets;
	uint8_t *rd = z->rdata;
	for (uint32_t n = 0; n < z->nnodes; n++)
		fill_node(b, n, &set, &sig, &rd);
	return 0;
}

static void node_flags(struct moon_zone *z, uint32_t v)
{
	struct moon_znode *node = &z->nodes[v];
	if (v == 0) {
		node->flags |= MOON_ZN_APEX;
		return;
	}
	struct moon_znode *p = &z->nodes[node->parent];
	/* As knotd: a name below a cut is non-authoritative, even with NS. */
	if (p->flags & (MOON_ZN_DELEG | MOON_ZN_NONAUTH))
		node->flags |= MOON_ZN_NONAUTH;
	else if (moon__znode_set(z, v, MOON_T_NS))
		node->flags |= MOON_ZN_DELEG;
	if (p->flags & (MOON_ZN_DNAME | MOON_ZN_BELOW_DNAME))
		node->flags |= MOON_ZN_BELOW_DNAME;
	if (node->flags & MOON_ZN_WILDCARD)
		p->flags |= MOON_ZN_WILDCARD_CHILD;
}

/* Parents first: a node's flags depend on its parent's, and empty
 * non-terminals were appended after their children. */
static int resolve_flags(struct moon_zone *z)
{
	uint8_t *done = calloc(z->nnodes, 1);
	if (!done)
		return -ENOMEM;
	uint32_t stack[MOON_NAME_MAXLABELS + 1];
	for (uint32_t i = 0; i < z->nnodes; i++) {
		unsigned depth = 0;
		for (uint32_t v = i; !done[v]; v = z->nodes[v].parent) {
			stack[depth++] = v;
			if (v == 0)
				break;
		}
		while (depth) {
			uint32_t v = stack[--depth];
			node_flags(z, v);
			done[v] = 1;
		}
	}
	free(done);
	return 0;
}

static void set_where(const struct build *b, const struct moon_rrset *set, unsigned *file,
		      unsigned *line)
{
	uint64_t w = b->set_where[set - b->z->sets];
	*file = (unsigned)(w >> 32);
	*line = (unsigned)w;
}

/* RFC 1034 §4.2.1: an NS target at or below the cut needs an address in
 * this zone, or nobody can reach the child. Sibling glue is optional. */
static void check_glue(struct build *b, uint32_t n)
{
	struct moon_zone *z = b->z;
	const struct moon_rrset *ns = moon__znode_set(z, n, MOON_T_NS);
	const uint8_t *rd = ns->rdata;
	for (uint16_t i = 0; i < ns->count; i++, rd = moon_rdata_next(rd)) {
		const uint8_t *target = moon_rdata_data(rd);
		if (!moon_name_is_subdomain(target, moon__znode_name(z, n)))
			continue;
		size_t len = moon_name_len(target);
		uint32_t t = moon__zone_find(z, target, len, moon__zname_hash(target, len));
		if (t != MOON_ZNONE && (moon__znode_set(z, t, MOON_T_A) ||
					moon__znode_set(z, t, MOON_T_AAAA)))
			continue;
		char owner[MOON_NAME_TEXT_MAXLEN], tt[MOON_NAME_TEXT_MAXLEN];
		unsigned file, line;
		node_text(b, n, owner);
		moon_name_to_text(target, tt, sizeof(tt));
		set_where(b, ns, &file, &line);
		moon__zload_error(b->L, file, line, "NS record of %s names %s, which is inside the "
				  "delegation but has no A or AAAA glue", owner, tt);
	}
}

static void zone_checks(struct build *b)
{
	struct moon_zone *z = b->z;
	for (uint32_t n = 1; n < z->nnodes; n++) {
		const struct moon_znode *node = &z->nodes[n];
		if (node->flags & MOON_ZN_DELEG)
			check_glue(b, n);
		/* RFC 6672 §2.4 forbids names below a DNAME; we load them but
		 * answer through the DNAME, as if they were not there. */
		const struct moon_znode *p = &z->nodes[node->parent];
		if ((p->flags & MOON_ZN_DNAME) && !(p->flags & MOON_ZN_BELOW_DNAME)) {
			char owner[MOON_NAME_TEXT_MAXLEN];
			unsigned file, line;
			node_text(b, node->parent, owner);
			set_where(b, moon__znode_set(z, node->parent, MOON_T_DNAME), &file, &line);
			moon__zload_warn(b->L, file, line,
					 "names below the DNAME at %s are occluded by it", owner);
		}
	}
	z->soa = moon__znode_set(z, 0, MOON_T_SOA);
	if (!z->soa) {
		char origin[MOON_NAME_TEXT_MAXLEN];
		moon_name_to_text(z->origin, origin, sizeof(origin));
		moon__zload_error(b->L, UINT16_MAX, 0, "no SOA record at the zone apex %s", origin);
	}
}

static int chain_cmp(const void *a, const void *b, void *arg)
{
	const struct moon_zone *z = arg;
	return moon_name_cmp_canonical(moon__znode_name(z, *(const uint32_t *)a),
				       moon__znode_name(z, *(const uint32_t *)b));
}

/* The names an NSEC chain links (RFC 4035 §2.3): authoritative, not empty. */
static int build_chain(struct moon_zone *z)
{
	z->chain = malloc((size_t)z->nnodes * sizeof(*z->chain));
	if (!z->chain)
		return -ENOMEM;
	bool sorted = true;
	for (uint32_t n = 0; n < z->nnodes; n++) {
		if (z->nodes[n].nsets == 0 || (z->nodes[n].flags & MOON_ZN_NONAUTH))
			continue;
		z->chain[z->nchain] = n;
		if (z->nchain && sorted)
			sorted = chain_cmp(&z->chain[z->nchain - 1], &n, z) < 0;
		z->nchain++;
	}
	uint32_t *chain = realloc(z->chain, (size_t)z->nchain * sizeof(*z->chain));
	if (chain)
		z->chain = chain;
	z->blocks[1] = z->chain;
	z->memory += (size_t)z->nchain * sizeof(*z->chain);
	/* Signers write zones in canonical order, so usually nothing to do. */
	if (!sorted)
		qsort_r(z->chain, z->nchain, sizeof(*z->chain), chain_cmp, z);
	return 0;
}

static void soa_facts(struct moon_zone *z)
{
	const struct moon_rrset *soa = z->soa;
	uint16_t len = moon_rdata_len(soa->rdata);
	const uint8_t *tail = moon_rdata_data(soa->rdata) + len - 20;
	z->serial = moon_get_u32(tail);
	uint32_t minimum = moon_get_u32(tail + 16);
	z->neg_soa = *soa;
	z->neg_soa.ttl = soa->ttl < minimum ? soa->ttl : minimum;
	if (soa->sigs) {
		z->neg_soa_sigs = *soa->sigs;
		z->neg_soa_sigs.ttl = soa->sigs->ttl < minimum ? soa->sigs->ttl : minimum;
		z->neg_soa.sigs = &z->neg_soa_sigs;
	}
}

static void trim(struct moon_zload *L)
{
	struct moon_zone *z = L->z;
	uint8_t *names = realloc(L->names.p, L->names.len + MOON_ZNAME_SLACK);
	if (names)
		L->names.p = z->names = names;
	void *nodes = realloc(L->nodes.p, L->nodes.len);
	if (nodes) {
		L->nodes.p = nodes;
		z->nodes = nodes;
	}
	z->memory += sizeof(*z) + L->names.len + MOON_ZNAME_SLACK + L->nodes.len +
		     ((size_t)z->mask + 1) * sizeof(*z->slots);
}

int moon__zone_build(struct moon_zload *L)
{
	struct build b = { .L = L, .z = L->z };
	int ret = link_parents(L);
	if (ret < 0)
		return ret;
	b.recs = (struct moon_zrec *)L->recs.p;
	b.rdata = L->rdata.p;
	ret = group_records(&b, L->recs.len / sizeof(*b.recs));
	if (ret < 0)
		goto out;
	census(&b);
	if (L->errors)
		goto out;
	ret = fill(&b);
	if (ret == 0)
		ret = resolve_flags(L->z);
	if (ret < 0)
		goto out;
	zone_checks(&b);
	if (L->errors)
		goto out;
	soa_facts(L->z);
	L->z->dnssec = L->z->soa->sigs != NULL;
	if (L->z->dnssec)
		ret = build_chain(L->z);
	trim(L);
out:
	free(b.start);
	free(b.order);
	free(b.set_where);
	return ret;
}
