/*
 * The query log end to end: rules (format, classes, names, destination),
 * the writer thread, flush, reopen after rotation, and a blocked sink that
 * costs dropped lines instead of blocking the query thread.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qlog/qlog.h"
#include "tap.h"
#include "util/err.h"
#include "util/time.h"
#include "wire/name.h"

static char dir[] = "/tmp/moon-qlog-XXXXXX";
static struct sockaddr_in client;

static struct moon_qlog_entry entry(const uint8_t *qname, uint16_t rcode)
{
	client.sin_family = AF_INET;
	client.sin_port = htons(1000);
	inet_pton(AF_INET, "192.0.2.7", &client.sin_addr);
	return (struct moon_qlog_entry){
		.when_ms = 1700000000000, .client = (struct sockaddr *)&client, .qname = qname,
		.qtype = 1, .qclass = 1, .replied = true, .rcode = rcode, .ancount = !rcode,
	};
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	buf[0] = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return buf;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static struct moon_qlog_rule *rule(struct moon_qlog *ql, const char *fmt, unsigned classes,
				   const char *to, const char *name)
{
	const char *names[] = { name };
	struct moon_qlog_rule_conf c = { .format = fmt, .classes = classes, .to = to,
					 .names = name ? names : NULL, .n_names = name ? 1 : 0 };
	struct moon_qlog_rule *r = NULL;
	const char *why;
	int ret = moon_qlog_rule_new(ql, &c, &r, &why);
	if (ret)
		printf("# rule: %s (%s)\n", moon_strerror(ret), why ? why : "");
	return r;
}

static void test_file(void)
{
	char path[64], moved[64];
	snprintf(path, sizeof(path), "%s/q.log", dir);
	snprintf(moved, sizeof(moved), "%s/q.log.1", dir);
	struct moon_qlog *ql;
	is_int(moon_qlog_new(2, 0, &ql), 0, "query log created for 2 workers");
	struct moon_qlog_rule *all = rule(ql, "{name} {rcode} {remote}", 0, path, NULL);
	struct moon_qlog_rule *denial = rule(ql, "D {name}", MOON_QLOG_DENIAL, path, NULL);
	struct moon_qlog_rule *below = rule(ql, "N {name}", 0, path, "Example.ORG.");
	ok(all && denial && below, "rules built");
	if (!all || !denial || !below)
		return;
	uint8_t a[MOON_NAME_MAXLEN], b[MOON_NAME_MAXLEN];
	moon_name_from_text("www.example.org.", NULL, a);
	moon_name_from_text("other.test.", NULL, b);
	struct moon_qlog_entry ok1 = entry(a, 0), nx = entry(b, 3);
	ok(moon_qlog_log(ql, 0, all, &ok1), "worker 0 logs");
	ok(moon_qlog_log(ql, 1, all, &nx), "worker 1 logs");
	ok(!moon_qlog_log(ql, 0, denial, &ok1), "denial rule skips a success");
	ok(moon_qlog_log(ql, 1, denial, &nx), "denial rule takes NXDOMAIN");
	ok(moon_qlog_log(ql, 0, below, &ok1), "name rule takes a name below it");
	ok(!moon_qlog_log(ql, 0, below, &nx), "name rule skips other names");
	moon_qlog_flush(ql);
	const char *text = slurp(path);
	ok(strstr(text, "[INFO] www.example.org. NOERROR 192.0.2.7\n") != NULL, "line of worker 0");
	ok(strstr(text, "[INFO] other.test. NXDOMAIN 192.0.2.7\n") != NULL, "line of worker 1");
	ok(strstr(text, "[INFO] D other.test.\n") != NULL, "denial line");
	ok(strstr(text, "[INFO] N www.example.org.\n") != NULL, "name-filtered line");
	ok(!strstr(text, "D www") && !strstr(text, "N other"), "filtered lines absent");
	struct moon_qlog_stats st;
	moon_qlog_stats(ql, &st);
	is_int(st.queued, 4, "4 lines queued");
	is_int(st.written, 4, "4 written");
	is_int(st.dropped, 0, "none dropped");

	/* Rotation: the file is moved away, reopen starts a new one. */
	rename(path, moved);
	moon_qlog_reopen(ql);
	moon_qlog_flush(ql);
	moon_qlog_log(ql, 0, all, &nx);
	moon_qlog_flush(ql);
	ok(strstr(slurp(path), "other.test. NXDOMAIN") != NULL, "after reopen: the new file");
	ok(!strstr(slurp(moved), "NXDOMAIN 192.0.2.7\n[") && strstr(slurp(moved), "www."),
	   "the rotated file keeps the old lines");
	moon_qlog_rule_free(all);
	moon_qlog_rule_free(denial);
	moon_qlog_rule_free(below);
	moon_qlog_free(ql);
}

static void test_bad_rules(void)
{
	struct moon_qlog *ql;
	moon_qlog_new(1, 0, &ql);
	struct moon_qlog_rule_conf c = { .format = "verbose" };
	struct moon_qlog_rule *r = NULL;
	const char *why = NULL;
	is_int(moon_qlog_rule_new(ql, &c, &r, &why), MOON_ESYNTAX, "bad format refused");
	ok(why && strstr(why, "format"), "with a reason");
	c.format = "common";
	c.to = "/nonexistent-dir/q.log";
	ok(moon_qlog_rule_new(ql, &c, &r, &why) == -ENOENT, "unopenable file: -ENOENT");
	moon_qlog_free(ql);
}

/* A FIFO nobody reads: the writer blocks in write(), the ring fills, and
 * the query thread keeps going, dropping lines. */
static void test_blocked_sink(void)
{
	char fifo[64];
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	mkfifo(fifo, 0600);
	int rd = open(fifo, O_RDONLY | O_NONBLOCK);
	struct moon_qlog *ql;
	moon_qlog_new(1, 4096, &ql);
	struct moon_qlog_rule *r = rule(ql, "{name} {name} {name} {name} {name}", 0, fifo, NULL);
	ok(r != NULL, "rule on a FIFO");
	if (!r)
		return;
	uint8_t a[MOON_NAME_MAXLEN];
	moon_name_from_text("a-rather-long-label-to-fill-the-pipe.example.org.", NULL, a);
	struct moon_qlog_entry e = entry(a, 0);
	unsigned queued = 0, n = 20000;
	int64_t t0 = moon_now_ms();
	for (unsigned i = 0; i < n; i++)
		queued += moon_qlog_log(ql, 0, r, &e);
	int64_t took = moon_now_ms() - t0;
	struct moon_qlog_stats st;
	moon_qlog_stats(ql, &st);
	ok(queued < n, "a blocked sink makes lines drop");
	is_int(st.dropped, n - queued, "drops counted");
	is_int(st.queued, queued, "queued counted");
	ok(took < 2000, "the query thread never waited on the sink");
	/* Closing the reader fails the blocked write: counted, not fatal. */
	close(rd);
	moon_qlog_flush(ql);
	moon_qlog_stats(ql, &st);
	ok(st.write_errors > 0, "failed writes counted");
	moon_qlog_rule_free(r);
	moon_qlog_free(ql);
	unlink(fifo);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	test_file();
	test_bad_rules();
	test_blocked_sink();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		printf("# cleanup failed\n");
	return tap_done();
}
