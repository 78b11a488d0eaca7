/*
 * moon_zone_answer(): one test per case of the algorithm. The expected
 * sections are what knotd 3.2 sends for the same zone (checked with kdig
 * against a knotd loaded with these data).
 */
#include "ztest.h"

static const char *zone_text =
	"$ORIGIN example.test.\n"
	"$TTL 3600\n"
	"@ SOA ns1 hostmaster 7 7200 3600 1209600 300\n"
	"@ NS ns1\n"
	"@ NS ns2.other.net.\n"
	"@ MX 10 mail\n"
	"@ A 192.0.2.1\n"
	"@ TXT \"apex\"\n"
	"ns1 A 192.0.2.53\n"
	"ns1 AAAA 2001:db8::53\n"
	"mail A 192.0.2.25\n"
	"mail AAAA 2001:db8::25\n"
	"www A 192.0.2.81\n"
	"www A 192.0.2.80\n"
	"alias CNAME www\n"
	"alias2 CNAME alias\n"
	"ext CNAME www.other.net.\n"
	"loop1 CNAME loop2\n"
	"loop2 CNAME loop1\n"
	"c1 CNAME c2\nc2 CNAME c3\nc3 CNAME c4\nc4 CNAME c5\nc5 CNAME c6\nc6 CNAME c7\n"
	"c7 A 192.0.2.77\n"
	"*.wild A 192.0.2.100\n"
	"*.wild TXT \"wild\"\n"
	"*.wc CNAME www\n"
	"*.wl CNAME x.wl\n"
	"a.b.c.ent A 192.0.2.7\n"
	"*.ent A 192.0.2.8\n"
	"dn 600 DNAME target.example.test.\n"
	"x.target A 192.0.2.9\n"
	"self DNAME self.example.test.\n"
	"lng DNAME " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
	"ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
	"ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.\n"
	"sub NS ns.sub\n"
	"sub NS ns.other.net.\n"
	"sub DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	"ns.sub A 192.0.2.54\n"
	"ns.sub AAAA 2001:db8::54\n"
	"mx MX 5 www\n"
	"mx MX 6 ns.sub\n"
	"mxw MX 1 foo.wild\n"
	"srv SRV 0 5 80 www\n"
	"multi TXT \"t\"\n"
	"multi MX 1 www\n"
	"multi AAAA ::1\n"
	"multi A 1.1.1.1\n"
	"https HTTPS 1 www\n";

static struct moon_zone_answer a;

static void test_exact(const struct moon_zone *z)
{
	ask(z, "www.example.test.", MOON_T_A, false, &a);
	is_int(a.rcode, MOON_RCODE_NOERROR, "exact: NOERROR");
	ok(a.aa, "exact: AA");
	is_int(a.sec[SAN].n, 1, "exact: one set");
	ok(entry_is(&a, SAN, 0, NULL, MOON_T_A), "exact: A owned by the question name");
	is_int(a.sec[SAN].rr[0].rrset->count, 2, "exact: both records");
	uint16_t len;
	const uint8_t *rd = entry_rdata(&a, SAN, 0, 0, &len);
	ok(len == 4 && rd[3] == 80, "exact: records in RDATA order, as knotd");
	is_int(a.sec[SNS].n + a.sec[SAR].n, 0, "exact: nothing else (no NS in authority)");

	ask(z, "other.example.", MOON_T_A, false, &a);
	is_int(a.rcode, MOON_RCODE_REFUSED, "outside the zone: REFUSED");
}

static void test_cname(const struct moon_zone *z)
{
	ask(z, "alias2.example.test.", MOON_T_A, false, &a);
	is_int(a.sec[SAN].n, 3, "CNAME chain: three sets");
	ok(entry_is(&a, SAN, 0, NULL, MOON_T_CNAME), "CNAME chain: first owned by qname");
	ok(entry_is(&a, SAN, 1, "alias.example.test.", MOON_T_CNAME), "CNAME chain: second link");
	ok(entry_is(&a, SAN, 2, "www.example.test.", MOON_T_A), "CNAME chain: the A at the end");
	ok(a.aa && a.rcode == MOON_RCODE_NOERROR, "CNAME chain: AA, NOERROR");

	ask(z, "alias2.example.test.", MOON_T_CNAME, false, &a);
	is_int(a.sec[SAN].n, 1, "qtype CNAME: not followed");
	ask(z, "alias.example.test.", MOON_T_ANY, false, &a);
	ok(a.sec[SAN].n == 1 && entry_is(&a, SAN, 0, NULL, MOON_T_CNAME),
	   "ANY at a CNAME: the CNAME");

	ask(z, "alias.example.test.", MOON_T_MX, false, &a);
	ok(a.sec[SAN].n == 1 && a.sec[SNS].n == 1 &&
	   entry_is(&a, SNS, 0, "example.test.", MOON_T_SOA), "CNAME to NODATA: CNAME and SOA");

	ask(z, "ext.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 1 && a.sec[SNS].n == 0 && a.rcode == MOON_RCODE_NOERROR,
	   "CNAME leaving the zone: just the CNAME");

	ask(z, "loop1.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 2 && entry_is(&a, SAN, 1, "loop2.example.test.", MOON_T_CNAME),
	   "CNAME loop: each link once");
	ok(a.rcode == MOON_RCODE_NOERROR && a.sec[SNS].n == 0, "CNAME loop: NOERROR, no SOA");

	ask(z, "c1.example.test.", MOON_T_A, false, &a);
	is_int(a.sec[SAN].n, MOON_ANS_CNAME_MAX, "long chain: stops after 5 links like knotd");
	ok(entry_is(&a, SAN, 4, "c5.example.test.", MOON_T_CNAME), "long chain: the fifth link");
	ask(z, "c3.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 5 && entry_is(&a, SAN, 4, "c7.example.test.", MOON_T_A),
	   "four links and the answer fit");
}

static void test_dname(const struct moon_zone *z)
{
	ask(z, "x.dn.example.test.", MOON_T_A, false, &a);
	is_int(a.sec[SAN].n, 3, "DNAME: DNAME, CNAME, answer");
	ok(entry_is(&a, SAN, 0, "dn.example.test.", MOON_T_DNAME), "DNAME: the DNAME first");
	ok(entry_is(&a, SAN, 1, NULL, MOON_T_CNAME), "DNAME: synthesized CNAME owned by qname");
	const struct moon_rrset *cname = a.sec[SAN].rr[1].rrset;
	is_int(cname->ttl, 600, "DNAME: CNAME takes the DNAME's TTL");
	uint16_t len;
	const uint8_t *rd = entry_rdata(&a, SAN, 1, 0, &len);
	ok(len == moon_name_len(N("x.target.example.test.")) &&
	   moon_name_equal(rd, N("x.target.example.test.")), "DNAME: CNAME target substituted");
	ok(entry_is(&a, SAN, 2, "x.target.example.test.", MOON_T_A), "DNAME: target followed");

	ask(z, "y.dn.example.test.", MOON_T_A, false, &a);
	ok(a.rcode == MOON_RCODE_NXDOMAIN && a.sec[SAN].n == 2 && a.sec[SNS].n == 1,
	   "DNAME to a missing name: NXDOMAIN with DNAME, CNAME and SOA");
	ask(z, "y.dn.example.test.", MOON_T_CNAME, false, &a);
	ok(a.rcode == MOON_RCODE_NOERROR && a.sec[SAN].n == 2 && a.sec[SNS].n == 0,
	   "qtype CNAME below a DNAME: the synthesized CNAME is the answer");
	ask(z, "dn.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 0 && a.sec[SNS].n == 1, "at the DNAME owner: NODATA");

	ask(z, "a.self.example.test.", MOON_T_A, false, &a);
	ok(a.rcode == MOON_RCODE_NOERROR && a.sec[SAN].n == 1 + MOON_ANS_CNAME_MAX,
	   "DNAME loop: DNAME once, CNAMEs up to the limit (as knotd)");

	ask(z, "abcdefghijklmnopqrstuvw.lng.example.test.", MOON_T_A, false, &a);
	is_int(a.rcode, 6, "DNAME result too long: YXDOMAIN");
	ok(a.sec[SAN].n == 1 && entry_is(&a, SAN, 0, "lng.example.test.", MOON_T_DNAME),
	   "YXDOMAIN: only the DNAME");
}

static void test_wildcard(const struct moon_zone *z)
{
	ask(z, "x.wild.example.test.", MOON_T_A, false, &a);
	ok(a.rcode == MOON_RCODE_NOERROR && a.aa && a.sec[SAN].n == 1, "wildcard: one set");
	ok(entry_is(&a, SAN, 0, NULL, MOON_T_A), "wildcard: owned by the question name");
	ask(z, "y.x.wild.example.test.", MOON_T_TXT, false, &a);
	ok(a.sec[SAN].n == 1 && entry_is(&a, SAN, 0, NULL, MOON_T_TXT), "wildcard: several labels");
	ask(z, "x.wild.example.test.", MOON_T_MX, false, &a);
	ok(a.rcode == MOON_RCODE_NOERROR && a.sec[SAN].n == 0 && a.sec[SNS].n == 1,
	   "wildcard NODATA: SOA");
	ask(z, "*.wild.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 1, "the wildcard name itself");

	ask(z, "a.wc.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 2 && entry_is(&a, SAN, 0, NULL, MOON_T_CNAME) &&
	   entry_is(&a, SAN, 1, "www.example.test.", MOON_T_A), "wildcard CNAME: followed");
	ask(z, "a.wl.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 2 && entry_is(&a, SAN, 1, "x.wl.example.test.", MOON_T_CNAME),
	   "wildcard CNAME loop: stops at the second use");
}

static void test_ent(const struct moon_zone *z)
{
	ask(z, "c.ent.example.test.", MOON_T_A, false, &a);
	ok(a.rcode == MOON_RCODE_NOERROR && a.sec[SAN].n == 0 && a.sec[SNS].n == 1,
	   "empty non-terminal: NODATA, not NXDOMAIN");
	ask(z, "b.c.ent.example.test.", MOON_T_A, false, &a);
	ok(a.rcode == MOON_RCODE_NOERROR && a.sec[SAN].n == 0,
	   "empty non-terminal blocks the wildcard above it");
	ask(z, "zz.ent.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 1, "sibling of the ENT: the wildcard applies");
	ask(z, "zz.c.ent.example.test.", MOON_T_A, false, &a);
	is_int(a.rcode, MOON_RCODE_NXDOMAIN, "below the ENT: no wildcard, NXDOMAIN");
}

static void test_delegation(const struct moon_zone *z)
{
	ask(z, "sub.example.test.", MOON_T_A, false, &a);
	ok(!a.aa && a.rcode == MOON_RCODE_NOERROR, "referral: AA=0, NOERROR");
	ok(a.sec[SAN].n == 0 && a.sec[SNS].n == 1 &&
	   entry_is(&a, SNS, 0, "sub.example.test.", MOON_T_NS),
	   "referral: the NS set in authority, no DS without DO");
	ok(a.sec[SAR].n == 2 && entry_is(&a, SAR, 0, "ns.sub.example.test.", MOON_T_A) &&
	   entry_is(&a, SAR, 1, "ns.sub.example.test.", MOON_T_AAAA), "referral: glue A then AAAA");
	is_int(a.nglue, 2, "referral: the glue is required");

	ask(z, "deep.below.sub.example.test.", MOON_T_AAAA, false, &a);
	ok(!a.aa && a.sec[SNS].n == 1, "below the cut: referral");
	ask(z, "ns.sub.example.test.", MOON_T_A, false, &a);
	ok(!a.aa && a.sec[SAN].n == 0, "glue name: referral, not an answer");
	ask(z, "sub.example.test.", MOON_T_DS, false, &a);
	ok(a.aa && a.sec[SAN].n == 1 && entry_is(&a, SAN, 0, NULL, MOON_T_DS),
	   "DS at the cut: answered by the parent");
	ask(z, "x.sub.example.test.", MOON_T_DS, false, &a);
	ok(!a.aa, "DS below the cut: referral");
}

static void test_negative(const struct moon_zone *z)
{
	ask(z, "www.example.test.", MOON_T_TXT, false, &a);
	ok(a.rcode == MOON_RCODE_NOERROR && a.aa && a.sec[SAN].n == 0, "NODATA: empty answer");
	ok(a.sec[SNS].n == 1 && entry_is(&a, SNS, 0, "example.test.", MOON_T_SOA), "NODATA: SOA");
	is_int(a.sec[SNS].rr[0].rrset->ttl, 300, "NODATA: SOA TTL = min(TTL, MINIMUM)");

	ask(z, "nothere.example.test.", MOON_T_A, false, &a);
	is_int(a.rcode, MOON_RCODE_NXDOMAIN, "NXDOMAIN");
	ok(a.aa && a.sec[SNS].n == 1 && a.sec[SNS].rr[0].rrset->ttl == 300,
	   "NXDOMAIN: SOA, TTL 300");
	ask(z, "x.y.z.nothere.example.test.", MOON_T_A, false, &a);
	is_int(a.rcode, MOON_RCODE_NXDOMAIN, "NXDOMAIN for a deep name");
}

static void test_additional(const struct moon_zone *z)
{
	ask(z, "example.test.", MOON_T_MX, false, &a);
	ok(a.sec[SAR].n == 2 && entry_is(&a, SAR, 0, "mail.example.test.", MOON_T_A) &&
	   entry_is(&a, SAR, 1, "mail.example.test.", MOON_T_AAAA), "MX: A and AAAA of the target");
	ask(z, "mx.example.test.", MOON_T_MX, false, &a);
	ok(a.sec[SAR].n == 3 && entry_is(&a, SAR, 0, "www.example.test.", MOON_T_A) &&
	   entry_is(&a, SAR, 1, "ns.sub.example.test.", MOON_T_A), "MX: per record, glue counts");
	is_int(a.nglue, 0, "MX: no required glue in an answer");
	ask(z, "mxw.example.test.", MOON_T_MX, false, &a);
	ok(a.sec[SAR].n == 1 && entry_is(&a, SAR, 0, "foo.wild.example.test.", MOON_T_A),
	   "MX to a wildcard name: expanded address");
	ask(z, "srv.example.test.", MOON_T_SRV, false, &a);
	ok(a.sec[SAR].n == 1 && entry_is(&a, SAR, 0, "www.example.test.", MOON_T_A), "SRV target");
	ask(z, "https.example.test.", MOON_T_HTTPS, false, &a);
	ok(a.sec[SAR].n == 1, "HTTPS target");
	ask(z, "example.test.", MOON_T_NS, false, &a);
	ok(a.aa && a.sec[SAN].n == 1 && a.sec[SAR].n == 2 &&
	   entry_is(&a, SAR, 0, "ns1.example.test.", MOON_T_A),
	   "apex NS: NS and in-zone addresses");
	ask(z, "www.example.test.", MOON_T_A, false, &a);
	is_int(a.sec[SAR].n, 0, "A: nothing in additional");
}

static void test_any(const struct moon_zone *z)
{
	ask(z, "multi.example.test.", MOON_T_ANY, false, &a);
	ok(a.sec[SAN].n == 1 && entry_is(&a, SAN, 0, NULL, MOON_T_A),
	   "ANY: one set, the lowest type");
	ask(z, "example.test.", MOON_T_ANY, false, &a);
	ok(a.sec[SAN].n == 1 && entry_is(&a, SAN, 0, NULL, MOON_T_A),
	   "ANY at the apex: A, not SOA");
	ask(z, "x.wild.example.test.", MOON_T_ANY, false, &a);
	ok(a.sec[SAN].n == 1 && entry_is(&a, SAN, 0, NULL, MOON_T_A), "ANY on a wildcard");
	ask(z, "sub.example.test.", MOON_T_ANY, false, &a);
	ok(!a.aa, "ANY at a cut: referral");
}

static void test_unsigned_do(const struct moon_zone *z)
{
	ask(z, "nothere.example.test.", MOON_T_A, true, &a);
	ok(a.sec[SNS].n == 1, "DO on an unsigned zone: no NSEC, no RRSIG");
	ask(z, "sub.example.test.", MOON_T_A, true, &a);
	ok(a.sec[SNS].n == 1, "DO on an unsigned zone: no DS in a referral either");
}

/* --- the pre-signed zone (t/unit/zone/data/signed.test.signed) --- */

static bool sig_covers(int s, int i, uint16_t type)
{
	const struct moon_rrset *rs = a.sec[s].rr[i].rrset;
	return rs->type == MOON_T_RRSIG && moon_get_u16(rs->rdata + 2) == type;
}

static void test_signed(const struct moon_zone *z)
{
	ask(z, "www.signed.test.", MOON_T_A, true, &a);
	ok(a.sec[SAN].n == 2 && entry_is(&a, SAN, 1, NULL, MOON_T_RRSIG) &&
	   sig_covers(SAN, 1, MOON_T_A), "DO: RRSIG after the set");
	ask(z, "www.signed.test.", MOON_T_A, false, &a);
	is_int(a.sec[SAN].n, 1, "no DO: no RRSIG");

	ask(z, "alias.signed.test.", MOON_T_A, true, &a);
	ok(a.sec[SAN].n == 4 && entry_is(&a, SAN, 0, NULL, MOON_T_CNAME) &&
	   entry_is(&a, SAN, 1, "www.signed.test.", MOON_T_A) && sig_covers(SAN, 2, MOON_T_CNAME) &&
	   entry_is(&a, SAN, 3, "www.signed.test.", MOON_T_RRSIG),
	   "DO: signatures at the end of the section, in set order");

	ask(z, "nothere.signed.test.", MOON_T_A, true, &a);
	is_int(a.rcode, MOON_RCODE_NXDOMAIN, "signed NXDOMAIN");
	ok(a.sec[SNS].n == 6 && entry_is(&a, SNS, 0, "signed.test.", MOON_T_SOA) &&
	   entry_is(&a, SNS, 1, "mail.signed.test.", MOON_T_NSEC) &&
	   entry_is(&a, SNS, 2, "signed.test.", MOON_T_NSEC),
	   "NXDOMAIN: SOA, NSEC covering the name, NSEC covering the wildcard");
	ok(sig_covers(SNS, 3, MOON_T_SOA) && sig_covers(SNS, 4, MOON_T_NSEC) &&
	   entry_is(&a, SNS, 4, "mail.signed.test.", MOON_T_RRSIG) &&
	   sig_covers(SNS, 5, MOON_T_NSEC), "NXDOMAIN: their RRSIGs");
	is_int(a.sec[SNS].rr[3].rrset->ttl, 300,
	       "NXDOMAIN: the SOA's RRSIG has the negative TTL too");

	ask(z, "aaa.signed.test.", MOON_T_A, true, &a);
	ok(a.sec[SNS].n == 4 && entry_is(&a, SNS, 1, "signed.test.", MOON_T_NSEC),
	   "NXDOMAIN: one NSEC covers both (deduplicated)");

	ask(z, "www.signed.test.", MOON_T_TXT, true, &a);
	ok(a.sec[SNS].n == 4 && entry_is(&a, SNS, 1, "www.signed.test.", MOON_T_NSEC),
	   "NODATA: the NSEC of the name");

	ask(z, "b.ent.signed.test.", MOON_T_A, true, &a);
	ok(a.rcode == MOON_RCODE_NOERROR && a.sec[SNS].n == 4 &&
	   entry_is(&a, SNS, 1, "alias.signed.test.", MOON_T_NSEC),
	   "ENT NODATA: the NSEC covering the name");

	ask(z, "wild.signed.test.", MOON_T_A, true, &a);
	ok(a.sec[SNS].n == 4 && entry_is(&a, SNS, 1, "sub.signed.test.", MOON_T_NSEC),
	   "ENT with a wildcard child: only the covering NSEC (as knotd)");

	ask(z, "x.wild.signed.test.", MOON_T_A, true, &a);
	ok(a.sec[SAN].n == 2 && entry_is(&a, SAN, 1, NULL, MOON_T_RRSIG),
	   "wildcard: RRSIG owned by the question name");
	ok(a.sec[SNS].n == 2 && entry_is(&a, SNS, 0, "*.wild.signed.test.", MOON_T_NSEC),
	   "wildcard: NSEC proving the name does not exist");

	ask(z, "x.wild.signed.test.", MOON_T_TXT, true, &a);
	ok(a.sec[SAN].n == 0 && a.sec[SNS].n == 4 &&
	   entry_is(&a, SNS, 1, "*.wild.signed.test.", MOON_T_NSEC),
	   "wildcard NODATA: the wildcard's NSEC (also covering the name)");

	ask(z, "sub.signed.test.", MOON_T_A, true, &a);
	ok(!a.aa && a.sec[SNS].n == 3 && entry_is(&a, SNS, 0, "sub.signed.test.", MOON_T_NS) &&
	   entry_is(&a, SNS, 1, "sub.signed.test.", MOON_T_DS) && sig_covers(SNS, 2, MOON_T_DS),
	   "secure referral: NS, DS, RRSIG(DS)");
	ok(a.sec[SAR].n == 1 && a.nglue == 1, "secure referral: unsigned glue");

	ask(z, "insec.signed.test.", MOON_T_A, true, &a);
	ok(a.sec[SNS].n == 3 && entry_is(&a, SNS, 1, "insec.signed.test.", MOON_T_NSEC),
	   "insecure referral: the NSEC proving no DS");

	ask(z, "sub.signed.test.", MOON_T_DS, true, &a);
	ok(a.aa && a.sec[SAN].n == 2 && sig_covers(SAN, 1, MOON_T_DS), "DS query: DS and RRSIG");

	ask(z, "www.signed.test.", MOON_T_RRSIG, false, &a);
	ok(a.sec[SAN].n == 1 && a.sec[SAN].rr[0].rrset->count == 1 && sig_covers(SAN, 0, MOON_T_A),
	   "qtype RRSIG: one signature, of the lowest type (as knotd)");

	ask(z, "signed.test.", MOON_T_MX, true, &a);
	ok(a.sec[SAR].n == 2 && entry_is(&a, SAR, 1, "mail.signed.test.", MOON_T_RRSIG),
	   "additional addresses are signed too");
}

static struct moon_zone *load_file(const char *path, const char *origin)
{
	struct moon_zone_source src = { .origin = origin, .file = path };
	struct moon_diag d = { 0 };
	struct moon_zone *z = NULL;
	int r = moon_zone_load(&src, &z, &d);
	for (size_t i = 0; i < d.n; i++)
		printf("# diag: %s\n", d.msgs[i]);
	moon_diag_free(&d);
	is_int(r, 0, "the signed zone loads");
	return z;
}

int main(void)
{
	struct moon_diag d = { 0 };
	int ret;
	struct moon_zone *z = load_text("example.test.", zone_text, &d, &ret);
	is_int(ret, 0, "test zone loads");
	moon_diag_free(&d);
	if (!z)
		return tap_done();
	test_exact(z);
	test_cname(z);
	test_dname(z);
	test_wildcard(z);
	test_ent(z);
	test_delegation(z);
	test_negative(z);
	test_additional(z);
	test_any(z);
	test_unsigned_do(z);
	moon_zone_free(z);

	z = load_file(ZONE_TESTDATA "/signed.test.signed", "signed.test.");
	if (z)
		test_signed(z);
	moon_zone_free(z);
	return tap_done();
}
