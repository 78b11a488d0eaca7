/* Loading configs against the schema: src/conf/conf.c and src/conf/check.c */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/value.h"
#include "tap.h"
#include "util/err.h"

static struct moon_diag diag;
static struct moon_conf *conf;

static int load(const char *yaml)
{
	moon_conf_free(conf);
	conf = NULL;
	moon_diag_free(&diag);
	return moon_conf_load_string(yaml, "moondns.yaml", &conf, &diag);
}

/* Every message of the last load, one per line. */
static const char *errors(void)
{
	static char buf[16384];
	size_t n = 0;
	buf[0] = 0;
	for (size_t i = 0; i < diag.n && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "\n" : "",
				      diag.msgs[i]);
	return buf;
}

/* Loads yaml expecting it to fail; returns all its messages. */
static const char *fails(const char *yaml)
{
	int rc = load(yaml);
	if (rc == 0 || conf)
		return "(loaded)";
	return errors();
}

static unsigned port_of(const struct moon_conf_listen *l)
{
	if (l->addr.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
}

/* udp and tcp as both the embedded default and the doc's full example set them. */
static void is_transport_defaults(void)
{
	is_int(conf->udp.max_payload, 1232, "udp.max_payload");
	is_int(conf->udp.batch, 32, "udp.batch");
	is_int(conf->tcp.idle_timeout_ms, 10000, "tcp.idle_timeout");
	is_int(conf->tcp.io_timeout_ms, 2000, "tcp.io_timeout");
	is_int(conf->tcp.max_connections, 1000, "tcp.max_connections");
	is_int(conf->tcp.max_connections_per_client, 64, "tcp.max_connections_per_client");
	is_int(conf->tcp.max_queries_per_connection, 0, "tcp.max_queries_per_connection");
	is_int(conf->tcp.max_pending_bytes, 131072, "tcp.max_pending_bytes");
}

static void test_default(void)
{
	is_int(moon_conf_load_string(moon_conf_default_yaml, "<embedded default>", &conf, &diag), 0,
	       "the embedded default loads");
	is_str(errors(), "", "without messages");
	if (!conf)
		return;
	is_str(conf->path, "<embedded default>", "path is the given name");
	is_int(conf->workers, 0, "workers: auto");
	is_str(conf->log_level, "info", "log level info");
	is_transport_defaults();
	ok(!conf->identity.nsid && !conf->identity.id_server && !conf->identity.hostname &&
	   !conf->identity.version, "identity is off");
	is_int(conf->n_servers, 1, "one server block");
	const struct moon_conf_server *s = &conf->servers[0];
	is_str(s->name, "lab", "named lab");
	is_int(s->n_listen, 1, "one listener");
	is_str(s->listen[0].uri, "dns://127.0.0.1:5353", "listener uri");
	ok(s->listen[0].proto == MOON_LISTEN_DNS && port_of(&s->listen[0]) == 5353, "on port 5353");
	is_int(s->n_zones, 1, "zones from zone_files");
	if (s->n_zones == 1)
		is_str(s->zones[0], "lab.test.", "zone lab.test.");
	is_int(s->n_zone_files, 1, "one zone");
	const struct moon_conf_zone_file *z = &s->zone_files[0];
	is_str(z->origin, "lab.test.", "origin");
	ok(!z->file && z->text && strstr(z->text, "IN SOA") && strstr(z->text, "*.dyn") &&
	   strstr(z->text, "IN SRV") && strstr(z->text, "IN MX") && strstr(z->text, "IN CNAME"),
	   "inline zone text");
	is_int(z->default_ttl, 300, "default_ttl 5m");
	is_str(z->where, "<embedded default>:15", "where points at the entry");
}

static void test_full(void)
{
	extern const char moon__conf_example_yaml[];
	char *cwd = getcwd(NULL, 0), want[4200];
	is_int(load(moon__conf_example_yaml), 0, "the doc's full example loads");
	is_str(errors(), "", "without messages");
	if (!conf) {
		free(cwd);
		return;
	}
	is_int(conf->workers, 2, "workers");
	is_str(conf->log_level, "info", "log.level");
	is_transport_defaults();
	is_str(conf->identity.nsid, "ns1.example", "identity.nsid");
	is_str(conf->identity.id_server, "ns1.example", "identity.id_server");
	is_str(conf->identity.hostname, "ns1", "identity.hostname");
	ok(conf->identity.version == NULL, "identity.version null");
	is_int(conf->n_servers, 3, "three blocks");
	const struct moon_conf_server *s = &conf->servers[0];
	is_str(s->name, "public", "servers[0].name");
	is_int(s->n_listen, 2, "servers[0] has two listeners");
	is_str(s->listen[1].uri, "dns://[::1]:53", "IPv6 listener uri");
	ok(s->listen[1].addr.ss_family == AF_INET6 && port_of(&s->listen[1]) == 53, "IPv6 port 53");
	is_int(s->n_zones, 1, "explicit zones");
	is_str(s->zones[0], "example.com.", "zone");
	is_int(s->n_zone_files, 2, "two zone files");
	snprintf(want, sizeof(want), "%s/zones/example.com.zone", cwd);
	is_str(s->zone_files[0].file, want, "relative file resolved against the current directory");
	ok(!s->zone_files[0].text, "file entry has no text");
	is_int(s->zone_files[0].default_ttl, 3600, "default_ttl default");
	is_str(s->zone_files[0].where, "moondns.yaml:24", "where of zone_files[0]");
	is_str(s->zone_files[1].origin, "lab.example.com.", "origin below the zone");
	ok(!s->zone_files[1].file && s->zone_files[1].text &&
	   !strncmp(s->zone_files[1].text, "@    IN SOA", 11), "inline text without indentation");
	is_int(s->zone_files[1].default_ttl, 60, "default_ttl 1m");
	s = &conf->servers[1];
	is_str(s->name, "internal", "servers[1].name");
	ok(s->n_listen == 1 && moon__conf_listen_equal(&s->listen[0], &conf->servers[0].listen[0]),
	   "shares the listener");
	is_int(s->n_zones, 1, "zones default to the origins");
	is_str(s->zones[0], "corp.internal.", "relative origin made absolute");
	is_str(s->zone_files[0].file, "/etc/moondns/corp.internal.zone", "absolute path kept");
	free(cwd);
}

/* One block, for tests that break something else. */
#define BLOCK "servers:\n  - name: a\n    listen: [\"dns://127.0.0.1:5353\"]\n    zones: [a.test]\n"

static void test_syntax(void)
{
	is_str(fails("workers: 2\nudp: {max_payload: 1232\n" BLOCK),
	       "moondns.yaml:3:8: YAML syntax error: did not find expected ',' or '}' "
	       "(while parsing a flow mapping at line 2 column 6)", "YAML syntax error");
	is_str(fails("workers: &w 2\nlog: *w\n" BLOCK),
	       "moondns.yaml:1:10: YAML anchors are not supported\n"
	       "moondns.yaml:2:6: YAML aliases are not supported", "anchors and aliases");
	is_str(fails(""), "moondns.yaml:1:1: servers: required key is missing", "empty file");
	is_str(fails("- a\n- b\n"),
	       "moondns.yaml:1:1: the configuration must be a mapping of keys, not a list",
	       "root must be a mapping");
}

static void test_unknown_key(void)
{
	is_str(fails("tcp:\n  idel_timeout: 5s\n" BLOCK),
	       "moondns.yaml:2:3: tcp.idel_timeout: unknown key (did you mean 'idle_timeout'?)",
	       "misspelt key with suggestion");
	is_str(fails(BLOCK "    color: blue\n"),
	       "moondns.yaml:5:5: servers[0].color: unknown key", "unknown key in a block");
	is_str(fails(BLOCK "    zone_files:\n      - {origin: a.test, inline: x, where: y}\n"),
	       "moondns.yaml:6:37: servers[0].zone_files[0].where: unknown key",
	       "internal fields cannot be set");
	is_str(fails("[1]: 2\n" BLOCK), "moondns.yaml:1:1: keys must be strings, not a list",
	       "non-scalar key");
}

static void test_wrong_type(void)
{
	is_str(fails("tcp: 5\n" BLOCK), "moondns.yaml:1:6: tcp: expected a mapping, got a string",
	       "scalar for a section");
	is_str(fails("workers: [1]\n" BLOCK),
	       "moondns.yaml:1:10: workers: expected auto or a whole number, got a list",
	       "list for an integer");
	is_str(fails("workers: many\n" BLOCK),
	       "moondns.yaml:1:10: workers: expected auto or a whole number, got 'many'",
	       "word for an integer");
	is_str(fails("workers:\n" BLOCK),
	       "moondns.yaml:1:9: workers: expected auto or a whole number, got null",
	       "null where no null is allowed");
	is_str(fails("servers:\n  name: a\n"),
	       "moondns.yaml:2:3: servers: expected a list, got a mapping", "mapping for a list");
	is_str(fails("log: {level: loud}\n" BLOCK),
	       "moondns.yaml:1:14: log.level: expected one of error, warning, info, debug, "
	       "got 'loud'",
	       "bad keyword");
	is_str(fails("tcp: {idle_timeout: soon}\n" BLOCK),
	       "moondns.yaml:1:21: tcp.idle_timeout: expected a duration like 500ms, 10s, 2m, "
	       "1h, 1d or plain seconds, got 'soon'", "bad duration");
	is_str(fails("tcp: {max_pending_bytes: lots}\n" BLOCK),
	       "moondns.yaml:1:26: tcp.max_pending_bytes: expected a size like 4096, 64k, 1M "
	       "or 1G, got 'lots'", "bad size");
	is_str(fails(BLOCK "    zone_files:\n"
		     "      - {origin: a.test, default_ttl: 1500ms, inline: x}\n"),
	       "moondns.yaml:6:39: servers[0].zone_files[0].default_ttl: 1500ms is not a whole "
	       "number of seconds", "duration in whole seconds");
}

static void test_range(void)
{
	is_str(fails("udp:\n  max_payload: 5000\n" BLOCK),
	       "moondns.yaml:2:16: udp.max_payload: 5000 is out of range (512 to 4096)",
	       "integer range");
	is_str(fails("workers: 0\n" BLOCK),
	       "moondns.yaml:1:10: workers: 0 is out of range (1 to 256)", "workers 0 (use auto)");
	is_str(fails("tcp: {io_timeout: 50ms}\n" BLOCK),
	       "moondns.yaml:1:19: tcp.io_timeout: 50ms is out of range (100ms to 10m)",
	       "duration range");
	is_str(fails("tcp: {max_pending_bytes: 1G}\n" BLOCK),
	       "moondns.yaml:1:26: tcp.max_pending_bytes: 1G is out of range (1k to 64M)",
	       "size range");
	char big[400];
	snprintf(big, sizeof(big), "identity: {nsid: %0300d}\n" BLOCK, 7);
	is_str(fails(big), "moondns.yaml:1:18: identity.nsid: longer than 255 bytes",
	       "string length");
	is_str(fails("servers: []\n"), "moondns.yaml:1:10: servers: needs at least 1 entry",
	       "empty required list");
}

static void test_listen(void)
{
	is_str(fails("# a comment\n"
		     "workers: 1\n"
		     "servers:\n"
		     "  - name: a\n"
		     "    zones: [a.test]\n"
		     "    listen:\n"
		     "      - dns://127.0.0.1:53\n"
		     "      - dns://127.0.0.1:99999\n"),
	       "moondns.yaml:8:9: servers[0].listen[1]: bad address 'dns://127.0.0.1:99999': "
	       "port out of range", "bad port");
	is_str(fails("servers:\n  - name: a\n    zones: [a.test]\n"
		     "    listen: [\"dns://127.0.0.1\", \"tls://[::1]\"]\n"),
	       "moondns.yaml:4:33: servers[0].listen[1]: tls:// listeners need a tls: section "
	       "with cert and key", "tls:// without tls: (never cleartext)");
	is_str(fails("servers:\n  - name: a\n    zones: [a.test]\n"
		     "    listen: [\"tls://[::1]\"]\n    tls: {cert: a.crt}\n"),
	       "moondns.yaml:5:10: servers[0].tls.key: required: a tls section needs cert and key",
	       "tls: without key");
	is_int(load("servers:\n  - name: a\n    zones: [a.test]\n"
		    "    listen: [\"tls://[::1]\"]\n    tls: {cert: a.crt, key: /k/a.key}\n"), 0,
	       "tls:// with cert and key");
	ok(conf && conf->servers[0].tls.enabled && conf->servers[0].tls.session_tickets &&
	   conf->servers[0].tls.handshake_timeout_ms == 5000 &&
	   conf->servers[0].tls.max_new_sessions_per_client == 100 &&
	   !conf->servers[0].tls.client_ca && !strcmp(conf->servers[0].tls.key, "/k/a.key") &&
	   !strcmp(conf->servers[0].tls.where, "moondns.yaml:5:10"), "tls: defaults");
	is_str(fails("servers:\n  - name: a\n    zones: [a.test]\n"
		     "    listen: [\"dns://127.0.0.1\", \"dns://127.0.0.1:53\"]\n"),
	       "moondns.yaml:4:33: servers[0].listen[1]: 'dns://127.0.0.1:53' is the same address "
	       "as listen[0]", "listener twice in a block");
	is_str(fails("servers:\n  - name: a\n    listen: []\n    zones: [a.test]\n"),
	       "moondns.yaml:3:13: servers[0].listen: needs at least 1 entry", "no listener");
}

static void test_domain_names(void)
{
	is_str(fails("servers:\n  - name: a\n    listen: [\"dns://127.0.0.1\"]\n"
		     "    zones: [a.test, \"b..test\"]\n"),
	       "moondns.yaml:4:21: servers[0].zones[1]: bad domain name 'b..test' (labels of 1 "
	       "to 63 characters, at most 255 octets in all)", "bad zone name");
	is_str(fails(BLOCK "    zone_files:\n      - origin: -.a..test\n        inline: x\n"),
	       "moondns.yaml:6:17: servers[0].zone_files[0].origin: bad domain name '-.a..test' "
	       "(labels of 1 to 63 characters, at most 255 octets in all)", "bad origin");
}

static void test_missing(void)
{
	is_str(fails("servers:\n  - listen: [\"dns://127.0.0.1\"]\n    zones: [a.test]\n"),
	       "moondns.yaml:2:5: servers[0].name: required key is missing", "missing name");
	is_str(fails("workers: 1\n"), "moondns.yaml:1:1: servers: required key is missing",
	       "missing servers");
	is_str(fails(BLOCK "    zone_files:\n      - inline: x\n"),
	       "moondns.yaml:6:9: servers[0].zone_files[0].origin: required key is missing",
	       "missing origin");
	is_str(fails("servers:\n  -\n"),
	       "moondns.yaml:2:4: servers[0].name: required key is missing\n"
	       "moondns.yaml:2:4: servers[0].listen: required key is missing\n"
	       "moondns.yaml:2:4: servers[0].zones: a server block needs zones or zone_files to "
	       "answer for", "empty block");
	is_str(fails(BLOCK "    zone_files:\n      - origin: a.test\n"),
	       "moondns.yaml:6:9: servers[0].zone_files[0]: needs file or inline", "no zone data");
	is_str(fails(BLOCK "    zone_files:\n      - {origin: a.test, inline: x, file: y}\n"),
	       "moondns.yaml:6:9: servers[0].zone_files[0]: give either file or inline, not both",
	       "file and inline");
}

static void test_duplicate_keys(void)
{
	is_str(fails("workers: 1\nworkers: 2\n" BLOCK),
	       "moondns.yaml:2:1: workers: duplicate key (first at line 1 column 1)", "top level");
	is_str(fails("servers:\n  - name: a\n    listen: [\"dns://127.0.0.1\"]\n"
		     "    zones: [a.test]\n    name: b\n"),
	       "moondns.yaml:5:5: servers[0].name: duplicate key (first at line 2 column 5)",
	       "in a block");
}

#define BLOCK2(name, listen, zones) \
	"  - name: " name "\n    listen: [\"" listen "\"]\n    zones: [" zones "]\n"

static void test_cross_checks(void)
{
	is_str(fails("servers:\n" BLOCK2("a", "dns://127.0.0.1", "a.test")
		     BLOCK2("a", "dns://127.0.0.2", "b.test")),
	       "moondns.yaml:5:11: servers[1].name: 'a' is already the name of servers[0]",
	       "duplicate server names");
	is_int(load("servers:\n" BLOCK2("a", "dns://127.0.0.1", "a.test, c.test")
		    BLOCK2("b", "dns://127.0.0.1:53", "b.test, sub.a.test")), 0,
	       "blocks may share a listener with different zones");
	is_str(errors(), "", "no message for a shared listener");
	is_str(fails("servers:\n" BLOCK2("a", "dns://127.0.0.1", "a.test, c.test")
		     BLOCK2("b", "dns://127.0.0.1:53", "b.test, A.Test")),
	       "moondns.yaml:7:21: servers[1].zones[1]: zone 'A.Test.' on dns://127.0.0.1:53 is "
	       "already served by servers[0]", "same zone on a shared listener");
	is_int(load("servers:\n" BLOCK2("a", "dns://127.0.0.1", "a.test")
		    BLOCK2("b", "dns://127.0.0.2", "a.test")), 0,
	       "the same zone on different listeners is fine");
	is_str(fails("servers:\n" BLOCK2("a", "dns://127.0.0.1", "a.test")
		     "  - name: b\n    listen: [\"dns://127.0.0.1\"]\n"
		     "    zone_files: [{origin: x.test, inline: x}, "
		     "{origin: a.test, inline: x}]\n"),
	       "moondns.yaml:7:56: servers[1].zone_files[1].origin: zone 'a.test.' on "
	       "dns://127.0.0.1 is already served by servers[0]",
	       "clash through a zone_files origin");
	is_str(fails("servers:\n" BLOCK2("a", "dns://127.0.0.1", "a.test")
		     BLOCK2("b", "tls://127.0.0.1:53", "b.test")),
	       "moondns.yaml:6:14: servers[1].listen[0]: tls:// listeners need a tls: section "
	       "with cert and key\n"
	       "moondns.yaml:6:14: servers[1].listen[0]: 'tls://127.0.0.1:53' and "
	       "servers[0].listen[0] 'dns://127.0.0.1' use the same TCP port",
	       "dns and tls on one port");
	is_str(fails(BLOCK "    zone_files:\n      - {origin: b.test, inline: x}\n"),
	       "moondns.yaml:6:18: servers[0].zone_files[0].origin: zone 'b.test.' is not "
	       "inside any of the block's zones", "origin outside the zones");
	is_int(load(BLOCK "    zone_files:\n      - {origin: deep.sub.A.TEST., inline: x}\n"), 0,
	       "origin below a zone, any case");
	is_str(fails("servers:\n  - name: a\n    listen: [\"dns://127.0.0.1\"]\n"
		     "    zones: [a.test, b.test, a.test.]\n"),
	       "moondns.yaml:4:29: servers[0].zones[2]: 'a.test.' is already listed as zones[0]",
	       "zone listed twice");
	is_str(fails("servers:\n  - name: a\n    listen: [\"dns://127.0.0.1\"]\n"
		     "    zone_files: [{origin: a.test, inline: x}, {origin: a.test., file: f}]\n"),
	       "moondns.yaml:4:56: servers[0].zone_files[1].origin: 'a.test.' is already listed as "
	       "zone_files[0]", "origin loaded twice");
	is_str(fails("servers:\n  - name: 'my lab'\n    listen: [\"dns://127.0.0.1\"]\n"
		     "    zones: [a.test]\n"),
	       "moondns.yaml:2:11: servers[0].name: use only letters, digits, '-', '_' and '.' in "
	       "names", "server name characters");
}

static void test_many_errors(void)
{
	is_int(load("workers: x\nudp: {max_payload: 1, batch: 0}\nlog: {level: x}\nfoo: 1\n"
		    "servers:\n  - name: a\n    listen: [\"dns://1.2.3.4:0\"]\n"), MOON_ESEMANTIC,
	       "several errors");
	is_int(diag.n, 7, "all of them are reported");
	ok(diag.n == 7 && strstr(diag.msgs[6], "servers[0].zones: a server block needs zones"),
	   "in file order, checks last");

	char *text = malloc(200 * 20 + 100), *p = text;
	for (int i = 0; i < 150; i++)
		p += sprintf(p, "k%d: 1\n", i);
	strcpy(p, BLOCK);
	is_int(load(text), MOON_ESEMANTIC, "150 unknown keys");
	is_int(diag.n, MOON_DIAG_MAX, "MOON_DIAG_MAX stored");
	is_int(diag.dropped, 50, "the rest counted");
	free(text);
}

static void test_nulls(void)
{
	is_int(load("tcp:\nidentity: {nsid: null, version: ~}\n" BLOCK), 0,
	       "null sections and null strings");
	ok(conf && conf->tcp.idle_timeout_ms == 10000 && !conf->identity.nsid,
	   "null section keeps defaults");
	is_int(load("identity: {nsid: \"null\", version: \"\"}\n" BLOCK), 0,
	       "quoted null is a string");
	ok(conf && !strcmp(conf->identity.nsid, "null") && !strcmp(conf->identity.version, ""),
	   "quoted strings kept");
}

static void test_units(void)
{
	is_int(load("tcp: {idle_timeout: 2m, io_timeout: 500ms, max_pending_bytes: 1M}\n"
		    "udp: {max_payload: 4096}\nworkers: 256\n" BLOCK), 0, "units");
	if (!conf)
		return;
	is_int(conf->tcp.idle_timeout_ms, 120000, "2m");
	is_int(conf->tcp.io_timeout_ms, 500, "500ms");
	is_int(conf->tcp.max_pending_bytes, 1 << 20, "1M");
	is_int(conf->udp.max_payload, 4096, "top of the range");
	is_int(conf->workers, 256, "256 workers");
	is_int(load("tcp: {idle_timeout: 30}\n" BLOCK), 0, "plain seconds");
	ok(conf && conf->tcp.idle_timeout_ms == 30000, "30 = 30s");
	is_int(load(BLOCK "    zone_files: [{origin: a.test, inline: x, default_ttl: 1d}]\n"), 0,
	       "ttl in days");
	ok(conf && conf->servers[0].zone_files[0].default_ttl == 86400, "1d = 86400 s");
}

/* Writes text to dir/name. */
static void put(const char *dir, const char *name, const char *text)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_files(void)
{
	char tmpl[] = "/tmp/moon-conf-XXXXXX", path[4200], want[4200];
	char *dir = mkdtemp(tmpl), *cwd = getcwd(NULL, 0);
	snprintf(path, sizeof(path), "%s/sub", dir);
	mkdir(path, 0700);
	put(dir, "sub/moondns.yaml", BLOCK "    zone_files:\n"
	    "      - {origin: a.test, file: db.a}\n"
	    "      - {origin: b.a.test, file: ../zones/db.b}\n"
	    "      - {origin: c.a.test, file: /srv/db.c}\n");
	moon_conf_free(conf);
	conf = NULL;
	moon_diag_free(&diag);
	snprintf(path, sizeof(path), "%s/sub/moondns.yaml", dir);
	is_int(moon_conf_load_file(path, &conf, &diag), 0, "load_file with an absolute path");
	if (conf) {
		is_str(conf->path, path, "path kept");
		snprintf(want, sizeof(want), "%s/sub/db.a", dir);
		is_str(conf->servers[0].zone_files[0].file, want,
		       "relative to the config's directory");
		snprintf(want, sizeof(want), "%s/sub/../zones/db.b", dir);
		is_str(conf->servers[0].zone_files[1].file, want,
		       "parent directory kept as written");
		is_str(conf->servers[0].zone_files[2].file, "/srv/db.c", "absolute path unchanged");
		is_str(conf->servers[0].zone_files[0].where, strcat(path, ":6"),
		       "where names the file");
	}
	moon_conf_free(conf);
	conf = NULL;
	if (chdir(dir) == 0) {
		is_int(moon_conf_load_file("sub/moondns.yaml", &conf, &diag), 0,
		       "relative config path");
		snprintf(want, sizeof(want), "%s/sub/db.a", dir);
		ok(conf && !strcmp(conf->servers[0].zone_files[0].file, want),
		   "resolved against the current directory too");
		moon_conf_free(conf);
		conf = NULL;
		put(dir, "top.yaml", BLOCK "    zone_files: [{origin: a.test, file: db.a}]\n");
		is_int(moon_conf_load_file("top.yaml", &conf, &diag), 0,
		       "config in the current directory");
		snprintf(want, sizeof(want), "%s/db.a", dir);
		ok(conf && !strcmp(conf->servers[0].zone_files[0].file, want), "bare file name");
		moon_conf_free(conf);
		conf = NULL;
		ok(chdir(cwd) == 0, "back");
	}
	put(dir, "bad.yaml", "workers: 1\nservers: 3\n");
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	moon_diag_free(&diag);
	is_int(moon_conf_load_file(path, &conf, &diag), MOON_ESEMANTIC, "bad file");
	snprintf(want, sizeof(want), "%s:2:10: servers: expected a list, got a string", path);
	is_str(errors(), want, "messages carry the file's path");
	moon_diag_free(&diag);
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	is_int(moon_conf_load_file(path, &conf, &diag), -ENOENT, "missing file");
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	is_str(errors(), want, "missing file message");
	moon_diag_free(&diag);
	is_int(moon_conf_load_file(dir, &conf, &diag), -EINVAL, "a directory");
	ok(conf == NULL, "nothing loaded");
	const char *names[] = { "sub/moondns.yaml", "sub", "top.yaml", "bad.yaml", "" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		remove(path);
	}
	free(cwd);
}

static void test_diff_restart(void)
{
	struct moon_conf *a = NULL, *b = NULL;
	moon_diag_free(&diag);
	moon_conf_load_string("workers: auto\nudp: {batch: 32}\n" BLOCK, "old.yaml", &a, &diag);
	moon_conf_load_string("workers: 4\nudp: {batch: 64, max_payload: 1400}\n"
			      "tcp: {idle_timeout: 1m}\n" BLOCK "    name: x\n", "new.yaml", &b,
			      &diag);
	ok(a && !b, "duplicate name key refused");
	moon_diag_free(&diag);
	moon_conf_load_string("workers: 4\nudp: {batch: 64, max_payload: 1400}\n"
			      "tcp: {idle_timeout: 1m}\nservers:\n" BLOCK2("b", "dns://[::1]", "x"),
			      "new.yaml", &b, &diag);
	if (!a || !b) {
		ok(0, "configs for the diff load");
		return;
	}
	is_int(moon_conf_diff_restart(a, a, &diag), 0, "no change");
	is_int(moon_conf_diff_restart(a, b, &diag), 2, "workers and udp.batch need a restart");
	is_str(errors(), "new.yaml: workers: changed from auto to 4; restart moondns to apply it\n"
	       "new.yaml: udp.batch: changed from 32 to 64; restart moondns to apply it",
	       "what changed, nothing about reloadable keys");
	moon_conf_free(a);
	moon_conf_free(b);
}

int main(void)
{
	test_default();
	test_full();
	test_syntax();
	test_unknown_key();
	test_wrong_type();
	test_range();
	test_listen();
	test_domain_names();
	test_missing();
	test_duplicate_keys();
	test_cross_checks();
	test_many_errors();
	test_nulls();
	test_units();
	test_files();
	test_diff_restart();
	moon_conf_free(conf);
	moon_diag_free(&diag);
	return tap_done();
}
