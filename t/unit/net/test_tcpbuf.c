/* TCP framing, the unsent-output buffer and the read backpressure rule. */
#include <stdlib.h>
#include <string.h>

#include "net/tcpbuf.h"
#include "tap.h"

static void test_frame(void)
{
	size_t len = 0;
	const uint8_t none[] = { 0 };
	is_int(moon_tcp_frame(none, 0, &len), MOON_TCP_PARTIAL, "no bytes: partial");
	is_int(moon_tcp_frame(none, 1, &len), MOON_TCP_PARTIAL, "one prefix byte: partial");

	const uint8_t empty[] = { 0, 0, 0xaa };
	is_int(moon_tcp_frame(empty, 3, &len), MOON_TCP_EMPTY, "zero length closes");

	const uint8_t msg[] = { 0, 3, 'a', 'b', 'c', 0, 1 };
	len = 0;
	is_int(moon_tcp_frame(msg, 4, &len), MOON_TCP_PARTIAL, "body incomplete: partial");
	is_int(len, 3, "partial still reports the announced length");
	is_int(moon_tcp_frame(msg, 5, &len), MOON_TCP_MSG, "whole message");
	is_int(len, 3, "its length");
	is_int(moon_tcp_frame(msg, sizeof(msg), &len), MOON_TCP_MSG, "pipelined: first message");
	is_int(moon_tcp_frame(msg + 5, 2, &len), MOON_TCP_PARTIAL, "second one started");

	const uint8_t big[] = { 0xff, 0xff };
	is_int(moon_tcp_frame(big, 2, &len), MOON_TCP_PARTIAL, "65535-byte message is legal");
	is_int(len, 65535, "max length read");
}

static void test_wbuf(void)
{
	struct moon_tcp_wbuf wb = { 0 };
	ok(moon_tcp_wbuf_append(&wb, "hello", 5) == 0, "append");
	is_int(wb.len, 5, "5 bytes pending");
	moon_tcp_wbuf_consume(&wb, 2);
	is_int(wb.len, 3, "3 left after a partial write");
	is_mem(wb.buf + wb.head, "llo", 3, "the right 3");

	/* Growth past the first allocation keeps order. */
	static uint8_t chunk[10000];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	ok(moon_tcp_wbuf_append(&wb, chunk, sizeof(chunk)) == 0, "append 10000 bytes");
	is_int(wb.len, 10003, "all pending");
	is_mem(wb.buf + wb.head, "llo", 3, "old bytes first");
	is_mem(wb.buf + wb.head + 3, chunk, sizeof(chunk), "then the new ones");
	moon_tcp_wbuf_consume(&wb, wb.len);
	ok(wb.buf == NULL && wb.len == 0, "drained buffer is released");

	/* keep_rest: a writev that took 7 of 2+3+4 bytes keeps the last 2. */
	struct iovec iov[3] = {
		{ .iov_base = "ab", .iov_len = 2 },
		{ .iov_base = "cde", .iov_len = 3 },
		{ .iov_base = "fghi", .iov_len = 4 },
	};
	ok(moon_tcp_wbuf_keep_rest(&wb, iov, 3, 7) == 0, "keep_rest");
	is_int(wb.len, 2, "2 bytes kept");
	is_mem(wb.buf + wb.head, "hi", 2, "the unwritten tail");
	moon_tcp_wbuf_free(&wb);
	ok(moon_tcp_wbuf_keep_rest(&wb, iov, 3, 0) == 0, "nothing written");
	is_int(wb.len, 9, "everything kept");
	is_mem(wb.buf, "abcdefghi", 9, "in order");
	moon_tcp_wbuf_free(&wb);
	ok(moon_tcp_wbuf_keep_rest(&wb, iov, 3, 9) == 0 && wb.len == 0, "all written: none kept");
}

static void test_may_read(void)
{
	ok(moon_tcp_may_read(0, 1024, 0, 0), "idle connection reads");
	ok(moon_tcp_may_read(1024, 1024, 5, 0), "at the pending limit still reads");
	ok(!moon_tcp_may_read(1025, 1024, 5, 0), "above max_pending_bytes: stop reading");
	ok(moon_tcp_may_read(0, 1024, 99, 100), "below max queries");
	ok(!moon_tcp_may_read(0, 1024, 100, 100), "max queries reached: stop reading");
	ok(moon_tcp_may_read(0, 1024, 100000, 0), "0 = unlimited queries");
}

int main(void)
{
	test_frame();
	test_wbuf();
	test_may_read();
	return tap_done();
}
