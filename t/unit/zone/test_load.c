/*
 * moon_zone_load(), parsing side: inline text and files, directives,
 * unknown types, diagnostics with file:line, a 100k-record zone.
 */
#include <unistd.h>

#include "ztest.h"

static struct moon_zone_answer a;
static char dir[] = "/tmp/moon-test-zone-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static const char *soa =
	"@ SOA ns hostmaster 2024 7200 3600 1209600 300\n@ NS ns\nns A 192.0.2.1\n";

static char *with_soa(const char *origin_line, const char *rest)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s%s%s", origin_line, soa, rest);
	return buf;
}

static void test_text(void)
{
	struct moon_diag d = { 0 };
	int ret;
	struct moon_zone *z = load_text("Example.TEST", with_soa("$TTL 120\n",
		"www A 192.0.2.2\n"
		"WWW.example.test. 60 A 192.0.2.3\n"
		"$ORIGIN sub.example.test.\n"
		"host TXT \"in sub\"\n"
		"$TTL 30\n"
		"late AAAA ::1\n"
		"odd TYPE65000 \\# 3 abcdef\n"
		"gen TYPE1 \\# 4 c0000209\n"), &d, &ret);
	is_int(ret, 0, "inline text loads");
	is_int(moon_diag_count(&d), 0, "no diagnostics");
	ok(z && moon_name_equal(moon_zone_origin(z), N("example.test.")), "origin without the dot");
	ok(z && moon_zone_origin(z)[1] == 'e', "origin stored lowercase");
	is_int(z ? moon_zone_serial(z) : 0, 2024, "serial from the SOA");
	is_int(z ? moon_zone_record_count(z) : 0, 9, "every record counted");
	ok(z && moon_zone_memory(z) > 0, "memory reported");
	if (!z)
		return;
	ask(z, "www.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 1 && a.sec[SAN].rr[0].rrset->count == 2,
	   "owner case folded into one set");
	is_int(a.sec[SAN].rr[0].rrset->ttl, 120, "$TTL applies; the set keeps the first TTL");
	ask(z, "host.sub.example.test.", MOON_T_TXT, false, &a);
	is_int(a.sec[SAN].n, 1, "$ORIGIN makes relative names");
	ask(z, "late.sub.example.test.", MOON_T_AAAA, false, &a);
	ok(a.sec[SAN].n == 1 && a.sec[SAN].rr[0].rrset->ttl == 30, "a later $TTL applies");
	ask(z, "odd.sub.example.test.", 65000, false, &a);
	uint16_t len = 0;
	const uint8_t *rd = a.sec[SAN].n ? entry_rdata(&a, SAN, 0, 0, &len) : NULL;
	ok(rd && len == 3 && rd[0] == 0xab && rd[2] == 0xef, "RFC 3597 unknown type kept as is");
	ask(z, "gen.sub.example.test.", MOON_T_A, false, &a);
	rd = a.sec[SAN].n ? entry_rdata(&a, SAN, 0, 0, &len) : NULL;
	ok(rd && len == 4 && rd[3] == 9, "RFC 3597 form of a known type");
	moon_zone_free(z);
	moon_diag_free(&d);
}

static void test_rdata_case(void)
{
	struct moon_diag d = { 0 };
	struct moon_zone *z = load_text("example.test.", with_soa("",
		"mx MX 10 Mail.Example.TEST.\n"
		"txt TXT \"MiXeD\"\n"
		"nsec NSEC Next.Example.TEST. A\n"), &d, NULL);
	ok(z != NULL, "zone with mixed-case RDATA loads");
	if (!z)
		return;
	uint16_t len;
	ask(z, "mx.example.test.", MOON_T_MX, false, &a);
	const uint8_t *rd = entry_rdata(&a, SAN, 0, 0, &len);
	ok(memcmp(rd + 2, "\4mail\7example\4test", 18) == 0, "MX target lowercased (as knotd)");
	ask(z, "txt.example.test.", MOON_T_TXT, false, &a);
	rd = entry_rdata(&a, SAN, 0, 0, &len);
	ok(memcmp(rd + 1, "MiXeD", 5) == 0, "TXT keeps its case");
	ask(z, "nsec.example.test.", MOON_T_NSEC, false, &a);
	rd = entry_rdata(&a, SAN, 0, 0, &len);
	ok(memcmp(rd, "\4Next", 5) == 0, "NSEC next name keeps its case (RFC 6840)");
	moon_zone_free(z);
	moon_diag_free(&d);
}

static void test_files(void)
{
	write_file("inc.zone", "inc A 192.0.2.10\n");
	write_file("sub.inc", "$TTL 99\nhost A 192.0.2.11\n");
	char text[1024];
	snprintf(text, sizeof(text), "$ORIGIN example.test.\n%s"
		 "$INCLUDE inc.zone\n"
		 "$INCLUDE %s/sub.inc sub.example.test.\n"
		 "after A 192.0.2.12\n", soa, dir);
	const char *path = write_file("main.zone", text);
	struct moon_zone_source src = { .origin = "example.test.", .file = path };
	struct moon_diag d = { 0 };
	struct moon_zone *z = NULL;
	is_int(moon_zone_load(&src, &z, &d), 0, "file with $INCLUDE loads");
	if (!z)
		return;
	ask(z, "inc.example.test.", MOON_T_A, false, &a);
	is_int(a.sec[SAN].n, 1, "relative $INCLUDE read");
	ask(z, "host.sub.example.test.", MOON_T_A, false, &a);
	ok(a.sec[SAN].n == 1 && a.sec[SAN].rr[0].rrset->ttl == 99, "$INCLUDE with an origin");
	ask(z, "after.example.test.", MOON_T_A, false, &a);
	is_int(a.sec[SAN].n, 1, "the including file continues after it");
	moon_zone_free(z);
	moon_diag_free(&d);

	write_file("bad.inc", "ok A 192.0.2.1\nbroken A 300.1.1.1\n");
	snprintf(text, sizeof(text), "$ORIGIN example.test.\n%s$INCLUDE bad.inc\n", soa);
	src.file = write_file("main2.zone", text);
	z = NULL;
	ok(moon_zone_load(&src, &z, &d) < 0 && !z, "an error in an included file fails the zone");
	char where[600];
	snprintf(where, sizeof(where), "%s/bad.inc:2: ", dir);
	ok(diag_has(&d, where), "the error names the included file and its line");
	moon_diag_free(&d);

	src.file = "/nonexistent/zone/file";
	ok(moon_zone_load(&src, &z, &d) < 0 && diag_has(&d, "/nonexistent/zone/file: cannot read"),
	   "missing file: error naming it");
	moon_diag_free(&d);
}

static void test_errors(void)
{
	struct moon_diag d = { 0 };
	int ret;
	struct moon_zone *z = load_text("example.test.", with_soa("",
		"good A 192.0.2.1\nbad A 192.0.2\n"), &d, &ret);
	ok(!z && ret == MOON_ESYNTAX, "syntax error: no zone, MOON_ESYNTAX");
	ok(diag_has(&d, "t.zone:5: invalid IPv4 address"),
	   "syntax error: text_name:line: scanner message");
	moon_diag_free(&d);

	z = load_text("example.test.", with_soa("", "www.other.test. A 192.0.2.1\n"), &d, &ret);
	ok(!z && diag_has(&d, "t.zone:4: owner www.other.test. is outside the zone example.test."),
	   "owner outside the origin");
	moon_diag_free(&d);

	z = load_text("example.test.", with_soa("", "ch CH TXT \"x\"\n"), &d, &ret);
	ok(!z && diag_has(&d, "t.zone:4: unsupported record type"),
	   "class other than IN (libzscanner)");
	moon_diag_free(&d);

	z = load_text("example.test.", with_soa("", "m TYPE255 \\# 0\n"), &d, &ret);
	ok(!z && diag_has(&d, "type 255 cannot be stored"), "meta type");
	moon_diag_free(&d);

	z = load_text("example.test.", with_soa("", "n NS \\# 2 0561\n"), &d, &ret);
	ok(!z && diag_has(&d, "malformed RDATA for type 2"), "malformed name in RDATA");
	moon_diag_free(&d);

	z = load_text("bad..origin", "@ A 1.2.3.4\n", &d, &ret);
	ok(!z && diag_has(&d, "invalid zone origin"), "bad origin");
	moon_diag_free(&d);

	struct moon_zone_source both = { .origin = "x.", .file = "f", .text = "t" };
	ok(moon_zone_load(&both, &z, &d) == -EINVAL && !z, "file and text at once: -EINVAL");
}

/* 100k records generated in memory, like a small benchmark zone. */
static void test_big(void)
{
	enum { HOSTS = 90000 };
	size_t cap = 64 * (size_t)HOSTS + 4096, n = 0;
	char *text = malloc(cap);
	n += (size_t)snprintf(text + n, cap - n, "$ORIGIN big.test.\n$TTL 300\n%s", soa);
	for (unsigned i = 0; i < HOSTS; i++) {
		n += (size_t)snprintf(text + n, cap - n, "host%u A 10.%u.%u.%u\n", i, i >> 16 & 255,
				      i >> 8 & 255, i & 255);
		if (i % 9 == 0)
			n += (size_t)snprintf(text + n, cap - n, "host%u AAAA fd00::%x:%x\n", i,
					      i >> 16, i & 0xffff);
	}
	n += (size_t)snprintf(text + n, cap - n, "host1 A 10.0.0.1\n");   /* a duplicate */
	struct moon_diag d = { 0 };
	int ret;
	struct moon_zone *z = load_text("big.test.", text, &d, &ret);
	is_int(ret, 0, "100k-record zone loads");
	is_int(z ? moon_zone_record_count(z) : 0, 3 + HOSTS + (HOSTS + 8) / 9,
	       "100k-record zone: every record but the duplicate");
	if (z) {
		ask(z, "host89999.big.test.", MOON_T_A, false, &a);
		is_int(a.sec[SAN].n, 1, "100k-record zone: the last host answers");
	}
	moon_zone_free(z);
	moon_diag_free(&d);
	free(text);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	test_text();
	test_rdata_case();
	test_files();
	test_errors();
	test_big();
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
