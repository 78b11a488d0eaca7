/*
 * Compiling parsed records into a zone (src/zone/build.c): grouping,
 * duplicates, record order, TTLs, RRSIG attachment, empty non-terminals,
 * occlusion, and every semantic error with its message.
 */
#include "ztest.h"

static struct moon_zone_answer a;

static const char *head =
	"$ORIGIN example.test.\n$TTL 3600\n"
	"@ SOA ns hostmaster 1 7200 3600 1209600 300\n@ NS ns\nns A 192.0.2.1\n";

/* Loads head + rest; returns the zone or NULL, diagnostics in *d. */
static struct moon_zone *load(const char *rest, struct moon_diag *d)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s%s", head, rest);
	return load_text("example.test.", buf, d, NULL);
}

/* Loading must fail with a diagnostic containing `msg`. */
static void fails_with(const char *rest, const char *msg, const char *what)
{
	struct moon_diag d = { 0 };
	struct moon_zone *z = load(rest, &d);
	ok(!z && diag_has(&d, msg), what);
	if (z || !diag_has(&d, msg))
		printf("#   wanted \"%s\"\n", msg);
	moon_zone_free(z);
	moon_diag_free(&d);
}

static void test_sets(void)
{
	struct moon_diag d = { 0 };
	struct moon_zone *z = load(
		"www A 192.0.2.9\n"
		"other TXT \"between\"\n"
		"www 60 A 192.0.2.3\n"
		"www A 192.0.2.9\n"
		"www AAAA ::1\n", &d);
	ok(z != NULL, "records of one owner need not be adjacent");
	if (!z)
		return;
	is_int(moon_zone_record_count(z), 3 + 4, "duplicate record dropped");
	ask(z, "www.example.test.", MOON_T_A, false, &a);
	const struct moon_rrset *rs = a.sec[SAN].rr[0].rrset;
	is_int(rs->count, 2, "two distinct A records in one set");
	is_int(rs->ttl, 3600, "set TTL is the first record's");
	uint16_t len;
	const uint8_t *rd = entry_rdata(&a, SAN, 0, 0, &len);
	is_int(rd[3], 3, "records sorted by RDATA");
	is_int(rs->rdata_len, 2 * (2 + 4), "rdata holds RDLENGTH + RDATA per record");
	moon_zone_free(z);
	moon_diag_free(&d);
}

static void test_ent_and_flags(void)
{
	struct moon_diag d = { 0 };
	struct moon_zone *z = load(
		"a.b.c A 192.0.2.5\n"
		"*.c A 192.0.2.6\n"
		"cut NS ns.cut\n"
		"ns.cut A 192.0.2.7\n"
		"x.y.cut A 192.0.2.8\n"
		"dn DNAME elsewhere.example.\n"
		"child.dn A 192.0.2.9\n", &d);
	ok(z != NULL, "zone with ENTs, a cut and a DNAME with a child loads");
	if (!z)
		return;
	ask(z, "b.c.example.test.", MOON_T_A, false, &a);
	ok(a.rcode == MOON_RCODE_NOERROR && a.sec[SAN].n == 0, "ENT created for b.c");
	ask(z, "q.c.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 1, "wildcard child found for c");
	ask(z, "y.cut.example.test.", MOON_T_A, false, &a);
	ok(!a.aa && a.sec[SNS].n == 1, "ENT below a cut is not authoritative");
	ask(z, "child.dn.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 2 && entry_is(&a, SAN, 0, "dn.example.test.", MOON_T_DNAME),
	   "a name below a DNAME is occluded: the DNAME answers");
	moon_zone_free(z);
	moon_diag_free(&d);
}

static void test_rrsig_attach(void)
{
	struct moon_diag d = { 0 };
	struct moon_zone_source src = { .origin = "signed.test.",
					 .file = ZONE_TESTDATA "/signed.test.signed" };
	struct moon_zone *z = NULL;
	is_int(moon_zone_load(&src, &z, &d), 0, "pre-signed zone loads");
	if (!z)
		return;
	ask(z, "www.signed.test.", MOON_T_AAAA, false, &a);
	const struct moon_rrset *sigs = a.sec[SAN].rr[0].rrset->sigs;
	ok(sigs && sigs->type == MOON_T_RRSIG && sigs->count == 1 &&
	   moon_get_u16(moon_rdata_data(sigs->rdata)) == MOON_T_AAAA, "RRSIG attached to its set");
	is_int(sigs ? sigs->ttl : 0, 3600, "RRSIG TTL is its Original TTL field");
	ask(z, "www.signed.test.", MOON_T_RRSIG, false, &a);
	ok(a.sec[SAN].n == 1, "the node's RRSIGs also form a set of their own");
	moon_zone_free(z);
	moon_diag_free(&d);
}

static void test_semantic_errors(void)
{
	struct moon_diag d = { 0 };
	struct moon_zone *z = load_text("example.test.", "www A 192.0.2.1\n", &d, NULL);
	ok(!z && diag_has(&d, "no SOA record at the zone apex example.test."), "no SOA");
	moon_diag_free(&d);

	fails_with("@ SOA ns2 hostmaster 2 7200 3600 1209600 300\n",
		   "more than one SOA record at the zone apex", "two SOA records");
	fails_with("x SOA ns hostmaster 1 7200 3600 1209600 300\n",
		   "SOA record of x.example.test. is not at the zone apex", "SOA below the apex");
	fails_with("c CNAME ns\nc A 192.0.2.2\n",
		   "t.zone:6: c.example.test. has a CNAME record and other data (A)",
		   "CNAME and other data, with the CNAME's line");
	fails_with("c CNAME ns\nc CNAME www\n", "c.example.test. has more than one CNAME record",
		   "two CNAMEs");
	fails_with("d DNAME a.example.\nd DNAME b.example.\n",
		   "d.example.test. has more than one DNAME record", "two DNAMEs");
	fails_with("sub NS ns.sub\nsub NS ns.other.example.\n",
		   "t.zone:6: NS record of sub.example.test. names ns.sub.example.test., which is "
		   "inside the delegation but has no A or AAAA glue", "missing glue");

	struct moon_zone *ok_z = load("c CNAME ns\nc NSEC d A\nsub NS ns.sub\nns.sub AAAA ::1\n"
				      "sib NS ns\n", &d);
	ok(ok_z != NULL, "CNAME with NSEC, AAAA-only glue and sibling NS targets are fine");
	moon_zone_free(ok_z);
	moon_diag_free(&d);
}

int main(void)
{
	test_sets();
	test_ent_and_flags();
	test_rrsig_attach();
	test_semantic_errors();
	return tap_done();
}
