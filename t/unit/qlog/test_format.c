/*
 * Query-log formats: CoreDNS's common and combined lines, every
 * placeholder, custom strings, metadata, JSON, escaping, response classes.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "qlog/format.h"
#include "tap.h"
#include "util/err.h"
#include "wire/dns.h"
#include "wire/name.h"

static struct sockaddr_in client4, local4;
static struct sockaddr_in6 client6;
static uint8_t qname[MOON_NAME_MAXLEN];

static const char *meta_get(void *arg, const char *key, size_t klen, size_t *vlen)
{
	static const char *const kv[][2] = {
		{ "metadata_edns0/secret", "s3cret" },
		{ "bad", "a\nb\"c\\d\x01" },
		{ "empty", "" },
	};
	for (size_t i = 0; i < 3; i++)
		if (strlen(kv[i][0]) == klen && memcmp(kv[i][0], key, klen) == 0) {
			*vlen = strlen(kv[i][1]);
			return kv[i][1];
		}
	return NULL;
}

static struct moon_qlog_entry entry(void)
{
	client4.sin_family = AF_INET;
	client4.sin_port = htons(50759);
	inet_pton(AF_INET, "127.0.0.1", &client4.sin_addr);
	local4.sin_family = AF_INET;
	local4.sin_port = htons(53);
	inet_pton(AF_INET, "127.0.0.53", &local4.sin_addr);
	moon_name_from_text("example.org.", NULL, qname);
	return (struct moon_qlog_entry){
		.when_ms = 1700000000123, .client = (struct sockaddr *)&client4,
		.local = (struct sockaddr *)&local4, .id = 29008, .opcode = 0, .qname = qname,
		.qtype = 1, .qclass = 1, .size = 41, .bufsize = 4096, .replied = true,
		.rflags = MOON_FLAG_QR | MOON_FLAG_RD | MOON_FLAG_RA | MOON_FLAG_AD,
		.ancount = 1, .rsize = 68, .duration_ns = 37990251, .server = "lab",
		.meta = meta_get,
	};
}

static char line[MOON_QLOG_LINE_MAX + 1];

static const char *render(const char *spec, const struct moon_qlog_entry *e)
{
	static struct moon_qlog_stamp stamp;
	struct moon_qlog_format *f;
	const char *keys[] = { "metadata_edns0/secret", "nope" };
	if (moon_qlog_format_new(spec, keys, 2, &f))
		return "(compile failed)";
	size_t n = moon_qlog_render(f, e, &stamp, line);
	line[n] = 0;
	moon_qlog_format_free(f);
	return line;
}

#define PFX "2023-11-14T22:13:20.123Z [INFO] "

static void test_common(void)
{
	struct moon_qlog_entry e = entry();
	char first[512];
	snprintf(first, sizeof(first), "%s", render("common", &e));
	is_str(first, PFX "127.0.0.1:50759 - 29008 \"A IN example.org. udp 41 false "
	       "4096\" NOERROR qr,rd,ra,ad 68 0.037990251s\n", "common: CoreDNS's line");
	is_str(render("{common}", &e), first, "{common} is the same");
	is_str(render("combined", &e), PFX "127.0.0.1:50759 - 29008 \"A IN example.org. udp 41 "
	       "false 4096\" NOERROR qr,rd,ra,ad 68 0.037990251s \"0\"\n",
	       "combined adds the opcode");
	is_str(render("{combined} {server}", &e), PFX "127.0.0.1:50759 - 29008 \"A IN "
	       "example.org. udp 41 false 4096\" NOERROR qr,rd,ra,ad 68 0.037990251s \"0\" lab\n",
	       "combined mixes with other placeholders");
}

static void test_placeholders(void)
{
	struct moon_qlog_entry e = entry();
	e.tcp = true;
	e.do_bit = true;
	e.qtype = 65000;
	e.qclass = 3;
	e.opcode = 4;
	e.rcode = 3;
	e.rflags = MOON_FLAG_QR | MOON_FLAG_AA | MOON_FLAG_TC | MOON_FLAG_CD | 0x0040;
	e.duration_ns = 2000000000;
	is_str(render("{type}|{name}|{class}|{proto}|{size}|{remote}|{port}|{local}", &e),
	       PFX "TYPE65000|example.org.|CH|tcp|41|127.0.0.1|50759|127.0.0.53\n",
	       "request placeholders");
	is_str(render("{>id}|{>opcode}|{>do}|{>bufsize}|{rcode}|{rsize}|{duration}|{>rflags}", &e),
	       PFX "29008|4|true|4096|NXDOMAIN|68|2s|qr,aa,tc,z,cd\n", "header and reply placeholders");
	e.rcode = 4000;
	e.rflags = 0;
	e.duration_ns = 1500;
	is_str(render("{rcode} [{>rflags}] {duration}", &e), PFX "4000 [] 0.0000015s\n",
	       "unnamed rcode as a number, no flags empty, small durations");
	is_str(render("{/metadata_edns0/secret} {/unset} {/empty}|", &e),
	       PFX "s3cret - |\n", "metadata placeholders, - when unset");
	is_str(render("{/bad}", &e), PFX "a\\010b\"c\\092d\\001\n",
	       "metadata cannot break the line");
	is_str(render("{unknown} { {type} } x}", &e), PFX "{unknown} { TYPE65000 } x}\n",
	       "unknown placeholders and stray braces stay literal");
	is_str(render("{>ID} {Type}", &e), PFX "{>ID} {Type}\n", "placeholders are case-sensitive");
}

static void test_ipv6_and_dropped(void)
{
	struct moon_qlog_entry e = entry();
	client6.sin6_family = AF_INET6;
	client6.sin6_port = htons(5353);
	inet_pton(AF_INET6, "2001:db8::1", &client6.sin6_addr);
	e.client = (struct sockaddr *)&client6;
	e.local = NULL;
	e.replied = false;
	is_str(render("{remote}:{port} {local} {rcode} {rsize} {>rflags}", &e),
	       PFX "[2001:db8::1]:5353 - - - -\n", "IPv6 in brackets; a dropped query has no reply");
	e.qname = NULL;
	is_str(render("{type} {name} {class}", &e), PFX "- - -\n", "no question");
}

static void test_escaping(void)
{
	struct moon_qlog_entry e = entry();
	uint8_t weird[] = { 5, 'a', '\n', ' ', '"', 'B', 0 };
	e.qname = weird;
	is_str(render("{name}", &e), PFX "a\\010\\032\\\"B.\n",
	       "names in presentation form: no raw newline, space or quote");
	is_str(render("json", &e), "{\"time\":\"2023-11-14T22:13:20.123Z\",\"server\":\"lab\","
	       "\"remote\":\"127.0.0.1\",\"port\":50759,\"local\":\"127.0.0.53\",\"proto\":\"udp\","
	       "\"id\":29008,\"opcode\":0,\"name\":\"a\\\\010\\\\032\\\\\\\"B.\",\"type\":\"A\","
	       "\"class\":\"IN\",\"size\":41,\"do\":false,\"bufsize\":4096,\"rcode\":\"NOERROR\","
	       "\"rflags\":\"qr,rd,ra,ad\",\"rsize\":68,\"duration\":0.037990251,"
	       "\"meta\":{\"metadata_edns0/secret\":\"s3cret\",\"nope\":null}}\n",
	       "json line, JSON-escaped");
}

static void test_json_dropped(void)
{
	struct moon_qlog_entry e = entry();
	e.replied = false;
	e.server = NULL;
	e.meta = NULL;
	const char *j = render("json", &e);
	ok(strstr(j, "\"server\":null") != NULL, "json: no block is null");
	ok(strstr(j, "\"rcode\":null,\"rflags\":null,\"rsize\":null") != NULL,
	   "json: no reply is null");
	ok(strstr(j, "\"meta\":{\"metadata_edns0/secret\":null,\"nope\":null}}\n") != NULL,
	   "json: no metadata is null");
}

static void test_long(void)
{
	struct moon_qlog_entry e = entry();
	char spec[6000];
	memset(spec, 'x', sizeof(spec) - 8);
	memcpy(spec + sizeof(spec) - 8, "{name}", 7);
	const char *l = render(spec, &e);
	is_int(strlen(l), MOON_QLOG_LINE_MAX, "long line cut at MOON_QLOG_LINE_MAX");
	ok(strcmp(l + MOON_QLOG_LINE_MAX - 4, "...\n") == 0, "and marked with ...");
}

static void test_compile(void)
{
	struct moon_qlog_format *f = NULL;
	is_int(moon_qlog_format_new("fancy", NULL, 0, &f), MOON_ESYNTAX,
	       "unknown format name rejected");
	is_int(moon_qlog_format_new("json", NULL, 0, &f), 0, "json accepted");
	ok(moon_qlog_format_is_json(f), "json is json");
	moon_qlog_format_free(f);
}

/* Header + question + one authority record of `type`. */
static size_t reply(uint8_t *m, uint16_t rcode, uint16_t an, uint16_t type)
{
	static const uint8_t hdr[12] = { 0, 1, 0x84, 0, 0, 1, 0, 0, 0, 1, 0, 0 };
	memcpy(m, hdr, 12);
	m[3] = (uint8_t)rcode;
	m[7] = (uint8_t)an;
	size_t n = 12;
	memcpy(m + n, "\7example\3org\0\0\1\0\1", 17);
	n += 17;
	memcpy(m + n, "\xc0\x0c", 2);  /* owner: the qname, compressed */
	n += 2;
	uint8_t rr[10] = { 0, (uint8_t)type, 0, 1, 0, 0, 0, 60, 0, 2 };
	memcpy(m + n, rr, 10);
	n += 10;
	m[n++] = 0xc0;
	m[n++] = 0x0c;
	return n;
}

static void test_classes(void)
{
	struct moon_qlog_entry e = entry();
	uint8_t m[128];
	e.rsize = (uint32_t)reply(m, 0, 0, MOON_T_SOA);
	e.resp = m;
	e.ancount = 0;
	e.nscount = 1;
	is_int(moon_qlog_classify(&e), MOON_QLOG_DENIAL, "NOERROR + SOA, no answer: NODATA denial");
	e.rsize = (uint32_t)reply(m, 0, 0, MOON_T_NS);
	is_int(moon_qlog_classify(&e), MOON_QLOG_SUCCESS, "referral is success");
	e.rcode = 3;
	is_int(moon_qlog_classify(&e), MOON_QLOG_DENIAL, "NXDOMAIN is denial");
	e.rcode = 2;
	is_int(moon_qlog_classify(&e), MOON_QLOG_ERROR, "SERVFAIL is error");
	e.rcode = 5;
	is_int(moon_qlog_classify(&e), MOON_QLOG_ERROR, "REFUSED is error");
	e.rcode = 0;
	e.ancount = 1;
	is_int(moon_qlog_classify(&e), MOON_QLOG_SUCCESS, "answer is success");
	e.replied = false;
	is_int(moon_qlog_classify(&e), MOON_QLOG_ERROR, "no reply is error");
	e.replied = true;
	e.ancount = 0;
	e.rsize = 20;  /* cut short: the walk must stay inside */
	is_int(moon_qlog_classify(&e), MOON_QLOG_SUCCESS, "unreadable authority: success");
	is_int(moon_qlog_class_parse("denial"), MOON_QLOG_DENIAL, "parse denial");
	is_int(moon_qlog_class_parse("all"), MOON_QLOG_ALL, "parse all");
	is_int(moon_qlog_class_parse("nope"), 0, "parse unknown");
}

int main(void)
{
	test_common();
	test_placeholders();
	test_ipv6_and_dropped();
	test_escaping();
	test_json_dropped();
	test_long();
	test_compile();
	test_classes();
	return tap_done();
}
