/*
 * Unit tests for src/bridge/watchdog.c, and for what the time budget can
 * and cannot do: a JIT-compiled loop runs past the budget (stock LuaJIT
 * gives the count hook no chance), and the watchdog reports it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/internal.h"
#include "tap.h"
#include "util/log.h"
#include "util/time.h"
#include "wire/dns.h"

static void describe(void *arg, char *out, size_t len)
{
	snprintf(out, len, "test slot %s", (const char *)arg);
}

static void test_slot(void)
{
	struct moon_wd_slot s = { .stuck_ms = 200, .describe = describe, .arg = "A" };
	moon_wd_register(&s);
	moon_wd_enter(&s);
	moon_wd_leave(&s);
	usleep(400 * 1000);
	is_int(atomic_load(&s.reports), 0, "a slot between calls is not stuck");
	moon_wd_enter(&s);
	usleep(700 * 1000);
	ok(atomic_load(&s.reports) >= 1, "a call that does not return is reported");
	ok(moon_wd_stuck() >= 1, "and counted as stuck");
	uint64_t before = atomic_load(&s.reports);
	usleep(300 * 1000);
	is_int(atomic_load(&s.reports), before, "reports are not repeated every period");
	moon_wd_leave(&s);
	usleep(300 * 1000);
	is_int(moon_wd_stuck(), 0, "returning clears it");
	/* Calls that keep coming are progress, not a stuck slot. */
	int64_t end = moon_now_ms() + 600;
	while (moon_now_ms() < end) {
		moon_wd_enter(&s);
		usleep(1000);
		moon_wd_leave(&s);
	}
	is_int(atomic_load(&s.reports), before, "a busy slot that returns is fine");
	moon_wd_unregister(&s);
}

static void begin_reply(struct moon_query *q, struct moon_pktw *w, uint8_t *buf)
{
	moon_pktw_begin(w, buf, q->limit, &q->pkt);
}

static void test_jit_loop(void)
{
	char path[] = "/tmp/moon-wd-XXXXXX.lua";
	int fd = mkstemps(path, 4);
	/* About a second of compiled code: far past the 100 ms budget. */
	const char *text = "return { query = function(q)\n"
		"  local s = 0\n  for i = 1, 5e8 do s = s + i % 7 end\n"
		"  q.meta.sum = s\nend }";
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		return;
	close(fd);
	struct moon_bridge_limits lim = { .hook_ms = 100, .stuck_ms = 200 };
	struct moon_bridge *b;
	struct moon_diag diag = { 0 };
	struct moon_bridge_policy p = { .name = "spin", .script = path, .sandbox = true,
					.jit = true };
	const struct moon_policy *chain;
	is_int(moon_bridge_new(3, &lim, &b, &diag), 0, "bridge");
	is_int(moon_bridge_chain(b, "wd", &p, 1, &chain, &diag), 0, "policy");

	static const uint8_t wire[] = {
		0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1,
	};
	static uint8_t resp[512];
	struct moon_query q;
	memset(&q, 0, sizeof(q));
	q.req = wire;
	q.req_len = sizeof(wire);
	q.resp = resp;
	q.resp_cap = sizeof(resp);
	q.limit = 512;
	q.begin_reply = begin_reply;
	moon_pkt_parse(&q.pkt, wire, sizeof(wire));
	int64_t t0 = moon_now_ms();
	enum moon_verdict v = chain->hooks->query(chain->chain, &q);
	int64_t took = moon_now_ms() - t0;
	ok(took > 100, "a JIT-compiled loop runs past the budget (known LuaJIT limit)");
	ok(v == MOON_VERDICT_CONTINUE && q.meta.n == 1, "and completes normally");
	ok(atomic_load(&b->wd.reports) >= 1 || took < 300,
	   "the watchdog reported the busy worker");
	printf("# the loop took %lld ms, %llu report(s)\n", (long long)took,
	       (unsigned long long)atomic_load(&b->wd.reports));
	moon_bridge_free(b);
	moon_diag_free(&diag);
	unlink(path);
}

int main(void)
{
	moon_log_set_level(MOON_LOG_ERR);
	test_slot();
	test_jit_loop();
	return tap_done();
}
