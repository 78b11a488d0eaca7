#include <stdlib.h>

#include "tap.h"
#include "util/err.h"
#include "wire/name.h"

#define N(s) ((const uint8_t *)(s))

static void test_unpack_plain(void)
{
	const uint8_t msg[] = "\xff\xff\3www\7Example\3com\0\x01";
	uint8_t out[MOON_NAME_MAXLEN];
	size_t pos = 2;
	int n = moon_name_unpack(msg, sizeof(msg) - 1, &pos, out);
	is_int(n, 17, "plain name: length");
	is_int(pos, 19, "plain name: pos after root");
	is_mem(out, "\3www\7Example\3com", 17, "plain name: case kept");

	const uint8_t root[] = { 0 };
	pos = 0;
	is_int(moon_name_unpack(root, 1, &pos, out), 1, "root name");
	is_int(pos, 1, "root: pos");
}

static void test_unpack_compressed(void)
{
	/* 0: \3com\0  5: \7example + ptr 0  15: \3www + ptr 5  21: ptr 15 */
	const uint8_t msg[] = "\3com\0\7example\xc0\x00\3www\xc0\x05\xc0\x0f";
	size_t len = sizeof(msg) - 1;
	uint8_t out[MOON_NAME_MAXLEN];
	size_t pos = 15;
	int n = moon_name_unpack(msg, len, &pos, out);
	is_int(n, 17, "two hops: length");
	is_int(pos, 21, "two hops: pos just past the first pointer");
	is_mem(out, "\3www\7example\3com", 17, "two hops: name");
	pos = 21;
	is_int(moon_name_unpack(msg, len, &pos, out), 17, "pointer only: length");
	is_int(pos, 23, "pointer only: pos");
}

static void test_unpack_bad(void)
{
	uint8_t out[MOON_NAME_MAXLEN];
	size_t pos;

	const uint8_t self[] = "\xc0\x00";
	pos = 0;
	is_int(moon_name_unpack(self, 2, &pos, out), MOON_EMALF, "pointer to itself");
	is_int(pos, 0, "error leaves pos");

	/* 0: \1a ptr->5   5: \1b ptr->0: the second pointer goes backwards
	 * from itself but not before the sequence that started at 0's target */
	const uint8_t loop[] = "\1a\xc0\x05\0\1b\xc0\x00";
	pos = 5;
	is_int(moon_name_unpack(loop, sizeof(loop) - 1, &pos, out), MOON_EMALF,
	       "forward pointer in a loop");

	/* A pointer into the middle of its own sequence (after its start). */
	const uint8_t mid[] = "\0\1a\1b\xc0\x03";
	pos = 1;
	is_int(moon_name_unpack(mid, sizeof(mid) - 1, &pos, out), MOON_EMALF,
	       "pointer inside own sequence");

	const uint8_t fwd[] = "\xc0\x02\0";
	pos = 0;
	is_int(moon_name_unpack(fwd, 3, &pos, out), MOON_EMALF, "forward pointer");

	const uint8_t past[] = "\0\1a\xc0\x40";
	pos = 1;
	is_int(moon_name_unpack(past, 5, &pos, out), MOON_EMALF, "pointer past end");

	const uint8_t half[] = "\1a\xc0";
	pos = 0;
	is_int(moon_name_unpack(half, 3, &pos, out), MOON_EMALF, "truncated pointer");

	const uint8_t trunc[] = "\3ab";
	pos = 0;
	is_int(moon_name_unpack(trunc, 3, &pos, out), MOON_EMALF, "label past end");

	const uint8_t noroot[] = "\1a";
	pos = 0;
	is_int(moon_name_unpack(noroot, 2, &pos, out), MOON_EMALF, "no root label");

	const uint8_t ext[] = "\x41" "a\0";
	pos = 0;
	is_int(moon_name_unpack(ext, 3, &pos, out), MOON_EMALF, "extended label type");

	uint8_t big[70] = { 64 };
	pos = 0;
	is_int(moon_name_unpack(big, sizeof(big), &pos, out), MOON_EMALF, "label of 64");
	big[0] = 63;
	pos = 0;
	is_int(moon_name_unpack(big, sizeof(big), &pos, out), 65, "label of 63");

	/* 4 labels of 63 = 256 octets with the root: too long. */
	uint8_t longn[300] = { 0 };
	for (int i = 0; i < 4; i++)
		longn[i * 64] = 63;
	pos = 0;
	is_int(moon_name_unpack(longn, sizeof(longn), &pos, out), MOON_EMALF, "name of 257");
	longn[3 * 64] = 61;     /* 3 * 64 + 62 + root = 255 octets */
	pos = 0;
	is_int(moon_name_unpack(longn, sizeof(longn), &pos, out), 255, "name of 255");
	longn[3 * 64] = 62;     /* 256 with the root */
	pos = 0;
	is_int(moon_name_unpack(longn, sizeof(longn), &pos, out), MOON_EMALF, "name of 256");
}

static void test_unpack_maxptrs(void)
{
	/* A chain of pointers each pointing 2 bytes back, ending in root. */
	uint8_t msg[2 + 2 * 40];
	uint8_t out[MOON_NAME_MAXLEN];
	msg[0] = 0;
	msg[1] = 0;
	for (int i = 1; i <= 40; i++) {
		msg[2 * i] = 0xc0;
		msg[2 * i + 1] = (uint8_t)(2 * (i - 1));
	}
	size_t pos = 2 * MOON_NAME_MAXPTRS;
	is_int(moon_name_unpack(msg, sizeof(msg), &pos, out), 1, "MAXPTRS hops accepted");
	pos = 2 * (MOON_NAME_MAXPTRS + 1);
	is_int(moon_name_unpack(msg, sizeof(msg), &pos, out), MOON_EMALF, "MAXPTRS+1 hops refused");
}

static void test_basic(void)
{
	const uint8_t *n = N("\3www\7example\3com");
	is_int(moon_name_len(n), 17, "len");
	is_int(moon_name_len(N("")), 1, "len root");
	is_int(moon_name_labels(n), 3, "labels");
	is_int(moon_name_labels(N("")), 0, "labels root");
	ok(moon_name_parent(n) == n + 4, "parent");
	ok(moon_name_parent(N("")) != NULL && *moon_name_parent(N("")) == 0, "parent of root");
	uint8_t buf[MOON_NAME_MAXLEN];
	is_int(moon_name_tolower(buf, N("\3WwW\7EXAMPLE\3Com")), 17, "tolower len");
	is_mem(buf, n, 17, "tolower");
	memcpy(buf, "\2AZ\2@[\0", 7);
	moon_name_tolower(buf, buf);
	is_mem(buf, "\2az\2@[", 7, "tolower in place, only A-Z");
	ok(moon_name_is_wildcard(N("\1*\3com")), "wildcard");
	ok(!moon_name_is_wildcard(N("\2*a\3com")), "not wildcard *a");
	ok(!moon_name_is_wildcard(N("")), "root not wildcard");
}

static void test_equal_subdomain(void)
{
	ok(moon_name_equal(N("\3WWW\3com"), N("\3www\3cOm")), "equal ignores case");
	ok(!moon_name_equal(N("\3www\3com"), N("\3www\3org")), "different");
	ok(!moon_name_equal(N("\3www\3com"), N("\3www\3com\2uk")), "prefix not equal");
	ok(!moon_name_equal(N("\2ab\0"), N("\1a\1b")), "structure differs");
	ok(!moon_name_equal(N("\1@"), N("\1`")), "@ and ` differ");
	ok(moon_name_equal(N(""), N("")), "root equal");
	ok(moon_name_is_subdomain(N("\1a\3COM"), N("\3com")), "subdomain");
	ok(moon_name_is_subdomain(N("\3com"), N("\3com")), "self is subdomain");
	ok(moon_name_is_subdomain(N("\3com"), N("")), "all below root");
	ok(!moon_name_is_subdomain(N("\3com"), N("\1a\3com")), "parent not sub");
	ok(!moon_name_is_subdomain(N("\4acom"), N("\3com")), "not on label boundary");
}

static void test_canonical(void)
{
	/* The example order of RFC 4034 §6.1. */
	const char *order[] = {
		"\7example", "\1a\7example", "\10yljkjljk\1a\7example", "\1Z\1a\7example",
		"\4zABC\1a\7EXAMPLE", "\1z\7example", "\1\001\1z\7example", "\1*\1z\7example",
		"\1\200\1z\7example",
	};
	int n = sizeof(order) / sizeof(order[0]);
	int good = 1;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			int c = moon_name_cmp_canonical(N(order[i]), N(order[j]));
			if ((i < j && c >= 0) || (i == j && c != 0) || (i > j && c <= 0)) {
				printf("# order %d vs %d gave %d\n", i, j, c);
				good = 0;
			}
		}
	ok(good, "RFC 4034 example order");
	is_int(moon_name_cmp_canonical(N("\1A\3com"), N("\1a\3COM")), 0, "case-insensitive");
	ok(moon_name_cmp_canonical(N(""), N("\3com")) < 0, "root first");
	ok(moon_name_cmp_canonical(N("\2ab\3com"), N("\1a\3com")) > 0, "longer label after");
}

static void from(const char *text, const uint8_t *origin, const char *want, int wantlen,
		 const char *what)
{
	uint8_t out[MOON_NAME_MAXLEN];
	int n = moon_name_from_text(text, origin, out);
	is_int(n, wantlen, what);
	if (n > 0 && wantlen > 0)
		is_mem(out, want, (size_t)n, what);
}

static void test_from_text(void)
{
	from("www.Example.com.", NULL, "\3www\7Example\3com", 17, "absolute");
	from(".", NULL, "", 1, "root");
	from("www", N("\7example\3com"), "\3www\7example\3com", 17, "relative");
	from("a.b", N(""), "\1a\1b", 5, "relative to root");
	is_int(moon_name_from_text("www", NULL, (uint8_t[MOON_NAME_MAXLEN]){0}), MOON_ESYNTAX,
	       "relative without origin");
	from("a\\.b.c.", NULL, "\3a.b\1c", 7, "escaped dot");
	from("\\065\\000\\255.", NULL, "\3A\0\377", 5, "\\DDD");
	from("\\@\\\\.", NULL, "\2@\\", 4, "\\X");
	from("@", N(""), "\1@", 3, "@ is an ordinary label here");
	is_int(moon_name_from_text("\\256.", NULL, (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "\\256");
	is_int(moon_name_from_text("\\12.", NULL, (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "short \\DD");
	is_int(moon_name_from_text("a\\", NULL, (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "trailing backslash");
	is_int(moon_name_from_text("", N(""), (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "empty");
	is_int(moon_name_from_text("a..b.", NULL, (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "empty label");
	is_int(moon_name_from_text(".a.", NULL, (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "leading dot");
	is_int(moon_name_from_text("a..", NULL, (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "double trailing dot");

	char text[400];
	memset(text, 'x', 63);
	strcpy(text + 63, ".");
	is_int(moon_name_from_text(text, NULL, (uint8_t[MOON_NAME_MAXLEN]){0}), 65, "label 63");
	memset(text, 'x', 64);
	strcpy(text + 64, ".");
	is_int(moon_name_from_text(text, NULL, (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "label 64");
	/* 127 labels "a." = 254 octets + root = 255. */
	for (int i = 0; i < 127; i++)
		memcpy(text + 2 * i, "a.", 2);
	text[254] = 0;
	is_int(moon_name_from_text(text, NULL, (uint8_t[MOON_NAME_MAXLEN]){0}), 255, "name 255");
	strcpy(text + 254, "a.");
	is_int(moon_name_from_text(text, NULL, (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "name 257");
	text[253] = 0;  /* 127 labels, relative: 254 + origin root = 255 */
	is_int(moon_name_from_text(text, N(""), (uint8_t[MOON_NAME_MAXLEN]){0}), 255,
	       "relative 255");
	is_int(moon_name_from_text(text, N("\1b"), (uint8_t[MOON_NAME_MAXLEN]){0}),
	       MOON_ESYNTAX, "relative + origin too long");
}

static void test_to_text(void)
{
	char out[MOON_NAME_TEXT_MAXLEN];
	is_int(moon_name_to_text(N("\3www\7Example\3com"), out, sizeof(out)), 16, "to_text len");
	is_str(out, "www.Example.com.", "to_text");
	is_int(moon_name_to_text(N(""), out, sizeof(out)), 1, "root len");
	is_str(out, ".", "root");
	moon_name_to_text(N("\4a.b\\\1\0\2 \377"), out, sizeof(out));
	is_str(out, "a\\.b\\\\.\\000.\\032\\255.", "escapes");
	is_int(moon_name_to_text(N("\3www"), out, 5), 4, "exact fit");
	is_int(moon_name_to_text(N("\3www"), out, 4), MOON_ESPACE, "one short");
	is_int(moon_name_to_text(N(""), out, 1), MOON_ESPACE, "root one short");

	/* Round trip of every octet value. */
	uint8_t name[MOON_NAME_MAXLEN], back[MOON_NAME_MAXLEN];
	int good = 1;
	for (int c = 0; c < 256; c++) {
		name[0] = 2;
		name[1] = (uint8_t)c;
		name[2] = 'x';
		name[3] = 0;
		if (moon_name_to_text(name, out, sizeof(out)) < 0 ||
		    moon_name_from_text(out, NULL, back) != 4 || memcmp(name, back, 4) != 0)
			good = 0;
	}
	ok(good, "every octet survives to_text/from_text");
	/* Worst case fits MOON_NAME_TEXT_MAXLEN. */
	memset(name, 0, sizeof(name));
	for (int i = 0; i < 4; i++)
		name[i * 64] = i < 3 ? 63 : 61;
	name[254] = 0;
	ok(moon_name_to_text(name, out, sizeof(out)) > 0, "255-octet all-\\000 name fits");
}

int main(void)
{
	test_unpack_plain();
	test_unpack_compressed();
	test_unpack_bad();
	test_unpack_maxptrs();
	test_basic();
	test_equal_subdomain();
	test_canonical();
	test_from_text();
	test_to_text();
	return tap_done();
}
