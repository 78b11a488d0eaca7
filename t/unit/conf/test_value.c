/* Scalar syntaxes of the config: src/conf/value.c */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "conf/value.h"
#include "tap.h"
#include "util/err.h"

static char err[MOON_CONF_ERRLEN];

static long long duration(const char *text)
{
	uint64_t ms;
	return moon__conf_parse_duration(text, &ms, err) < 0 ? -1 : (long long)ms;
}

static long long size(const char *text)
{
	uint64_t v;
	return moon__conf_parse_size(text, &v, err) < 0 ? -1 : (long long)v;
}

static void test_durations(void)
{
	is_int(duration("10s"), 10000, "10s");
	is_int(duration("500ms"), 500, "500ms");
	is_int(duration("2m"), 120000, "2m is minutes");
	is_int(duration("1h"), 3600000, "1h");
	is_int(duration("1d"), 86400000, "1d");
	is_int(duration("3600"), 3600000, "plain number = seconds");
	is_int(duration("0"), 0, "zero");
	is_int(duration(""), -1, "empty");
	is_int(duration("s"), -1, "unit without number");
	is_int(duration("10 s"), -1, "space before the unit");
	is_int(duration("-5s"), -1, "negative");
	is_int(duration("1.5s"), -1, "fraction");
	is_int(duration("10sec"), -1, "unknown unit");
	is_int(duration("99999999999999999999s"), -1, "overflow");
	is_int(duration("1099511627777"), -1, "beyond 2^40 refused");
	is_str(err, "expected a duration like 500ms, 10s, 2m, 1h, 1d or plain seconds, "
	       "got '1099511627777'", "duration message");
}

static void test_sizes(void)
{
	is_int(size("4096"), 4096, "plain bytes");
	is_int(size("64k"), 65536, "64k");
	is_int(size("64K"), 65536, "64K");
	is_int(size("1M"), 1048576, "1M");
	is_int(size("1m"), 1048576, "1m");
	is_int(size("2G"), 2147483648LL, "2G");
	is_int(size("1kB"), -1, "kB is not a unit");
	is_int(size("k"), -1, "unit alone");
	is_int(size("1.5M"), -1, "fraction");
	is_str(err, "expected a size like 4096, 64k, 1M or 1G, got '1.5M'", "size message");
}

static void test_format(void)
{
	char buf[32];
	moon__conf_format_duration(10000, buf, sizeof(buf));
	is_str(buf, "10s", "10000ms shown as 10s");
	moon__conf_format_duration(1500, buf, sizeof(buf));
	is_str(buf, "1500ms", "1500ms stays ms");
	moon__conf_format_duration(3600000, buf, sizeof(buf));
	is_str(buf, "1h", "one hour");
	moon__conf_format_duration(0, buf, sizeof(buf));
	is_str(buf, "0s", "zero");
	moon__conf_format_size(131072, buf, sizeof(buf));
	is_str(buf, "128k", "128k");
	moon__conf_format_size(64 << 20, buf, sizeof(buf));
	is_str(buf, "64M", "64M");
	moon__conf_format_size(1000, buf, sizeof(buf));
	is_str(buf, "1000", "not a multiple of 1024");
}

static void test_int_bool(void)
{
	int64_t v = 0;
	ok(moon__conf_parse_int("1232", &v, err) == 0 && v == 1232, "integer");
	ok(moon__conf_parse_int("-3", &v, err) == 0 && v == -3, "negative integer");
	ok(moon__conf_parse_int("12a", &v, err) == MOON_ESYNTAX, "trailing garbage");
	is_str(err, "expected a whole number, got '12a'", "integer message");
	ok(moon__conf_parse_int("99999999999999999999", &v, err) == MOON_ESYNTAX, "overflow");
	bool b = false;
	ok(moon__conf_parse_bool("yes", &b, err) == 0 && b, "yes");
	ok(moon__conf_parse_bool("False", &b, err) == 0 && !b, "False");
	ok(moon__conf_parse_bool("1", &b, err) == MOON_ESYNTAX, "1 is not a boolean");
}

static const char *listen_err(const char *uri)
{
	struct moon_conf_listen l;
	return moon__conf_parse_listen(uri, &l, err) < 0 ? err : "ok";
}

static void test_listen(void)
{
	struct moon_conf_listen l;
	ok(moon__conf_parse_listen("dns://127.0.0.1", &l, err) == 0, "IPv4 without port");
	const struct sockaddr_in *v4 = (const void *)&l.addr;
	ok(l.proto == MOON_LISTEN_DNS && v4->sin_family == AF_INET && ntohs(v4->sin_port) == 53 &&
	   v4->sin_addr.s_addr == htonl(0x7f000001) && l.addrlen == sizeof(*v4),
	   "dns:// defaults to port 53");
	ok(moon__conf_parse_listen("tls://[::1]", &l, err) == 0, "IPv6 without port");
	const struct sockaddr_in6 *v6 = (const void *)&l.addr;
	ok(l.proto == MOON_LISTEN_TLS && v6->sin6_family == AF_INET6 &&
	   ntohs(v6->sin6_port) == 853 && IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) &&
	   l.addrlen == sizeof(*v6),
	   "tls:// defaults to port 853");
	ok(moon__conf_parse_listen("dns://[2001:db8::1]:5353", &l, err) == 0 &&
	   ntohs(v6->sin6_port) == 5353, "IPv6 with port");
	is_str(listen_err("dns://127.0.0.1:99999"),
	       "bad address 'dns://127.0.0.1:99999': port out of range", "port too large");
	is_str(listen_err("dns://127.0.0.1:0"),
	       "bad address 'dns://127.0.0.1:0': port out of range", "port 0");
	is_str(listen_err("dns://127.0.0.1:"),
	       "bad address 'dns://127.0.0.1:': port must be a number", "empty port");
	is_str(listen_err("dns://127.0.0.1:53/x"),
	       "bad address 'dns://127.0.0.1:53/x': port must be a number", "path after port");
	is_str(listen_err("udp://127.0.0.1"),
	       "bad address 'udp://127.0.0.1': expected dns://ADDR[:PORT] or tls://ADDR[:PORT]",
	       "unknown scheme");
	is_str(listen_err("127.0.0.1:53"),
	       "bad address '127.0.0.1:53': expected dns://ADDR[:PORT] or tls://ADDR[:PORT]",
	       "no scheme");
	is_str(listen_err("dns://::1"),
	       "bad address 'dns://::1': write IPv6 addresses in brackets, as in dns://[::1]:53",
	       "IPv6 without brackets");
	is_str(listen_err("dns://[::1"),
	       "bad address 'dns://[::1': missing ']' after the IPv6 address", "unclosed bracket");
	is_str(listen_err("dns://[1.2.3.4]"), "bad address 'dns://[1.2.3.4]': bad IPv6 address",
	       "IPv4 in brackets");
	is_str(listen_err("dns://[::1]x"),
	       "bad address 'dns://[::1]x': unexpected text after the address", "junk after ]");
	is_str(listen_err("dns://localhost:53"),
	       "bad address 'dns://localhost:53': expected an IPv4 address or [IPv6] address",
	       "host names are not resolved");
	is_str(listen_err("dns://"), "bad address 'dns://': missing address", "no address");
	is_str(listen_err("dns://256.1.1.1"),
	       "bad address 'dns://256.1.1.1': expected an IPv4 address or [IPv6] address",
	       "bad IPv4");
}

static void test_listen_compare(void)
{
	struct moon_conf_listen a, b, c;
	moon__conf_parse_listen("dns://127.0.0.1", &a, err);
	moon__conf_parse_listen("dns://127.0.0.1:53", &b, err);
	moon__conf_parse_listen("tls://127.0.0.1:53", &c, err);
	ok(moon__conf_listen_equal(&a, &b), "default port equals explicit 53");
	ok(!moon__conf_listen_equal(&a, &c), "protocol matters for equality");
	ok(moon__conf_listen_same_port(&a, &c), "same address and port across protocols");
	moon__conf_parse_listen("dns://127.0.0.2", &c, err);
	ok(!moon__conf_listen_same_port(&a, &c), "different address");
}

static void test_dname(void)
{
	char name[MOON_NAME_TEXT_MAXLEN];
	ok(moon__conf_parse_dname("example.com", name, err) == 0, "relative name");
	is_str(name, "example.com.", "made absolute");
	ok(moon__conf_parse_dname("Example.COM.", name, err) == 0, "absolute name");
	is_str(name, "Example.COM.", "case kept");
	ok(moon__conf_parse_dname(".", name, err) == 0, "root");
	is_str(name, ".", "root stays root");
	ok(moon__conf_parse_dname("a..b", name, err) == MOON_ESYNTAX, "empty label");
	is_str(err, "bad domain name 'a..b' (labels of 1 to 63 characters, at most 255 octets "
	       "in all)", "name message");
	char label[80];
	memset(label, 'a', 64);
	label[64] = 0;
	ok(moon__conf_parse_dname(label, name, err) == MOON_ESYNTAX, "64-octet label");
	ok(moon__conf_parse_dname("", name, err) == MOON_ESYNTAX, "empty name");
}

int main(void)
{
	test_durations();
	test_sizes();
	test_format();
	test_int_bool();
	test_listen();
	test_listen_compare();
	test_dname();
	return tap_done();
}
