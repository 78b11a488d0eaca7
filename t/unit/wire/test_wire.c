#include "tap.h"
#include "wire/wire.h"

static void test_read(void)
{
	uint8_t buf[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct moon_wire w;
	moon_wire_init(&w, buf, sizeof(buf));
	is_int(moon_wire_avail(&w), 9, "avail after init");
	is_int(moon_wire_get_u8(&w), 1, "u8");
	is_int(moon_wire_get_u16(&w), 0x0203, "u16 big-endian");
	is_int(moon_wire_get_u32(&w), 0x04050607, "u32 big-endian");
	is_int(moon_wire_offset(&w), 7, "offset");
	uint8_t two[2];
	moon_wire_get_bytes(&w, two, 2);
	ok(two[0] == 8 && two[1] == 9, "get_bytes");
	is_int(w.err, 0, "no error at the exact end");
	is_int(moon_wire_get_u8(&w), 0, "read past end returns 0");
	is_int(w.err, MOON_EMALF, "read past end sets EMALF");
	moon_wire_seek(&w, 0);
	is_int(moon_wire_offset(&w), 9, "error is sticky: seek does nothing");
	is_int(moon_wire_get_u16(&w), 0, "error is sticky: reads return 0");
}

static void test_partial(void)
{
	uint8_t buf[3] = { 0xaa, 0xbb, 0xcc };
	struct moon_wire w;
	moon_wire_init(&w, buf, sizeof(buf));
	moon_wire_skip(&w, 2);
	is_int(moon_wire_get_u16(&w), 0, "u16 with one byte left");
	is_int(w.err, MOON_EMALF, "EMALF");
	is_int(moon_wire_offset(&w), 2, "pos not moved by failed read");

	moon_wire_init(&w, buf, sizeof(buf));
	is_int(moon_wire_get_u32(&w), 0, "u32 on 3 bytes");
	moon_wire_init(&w, buf, sizeof(buf));
	moon_wire_seek(&w, 3);
	is_int(w.err, 0, "seek to end is fine");
	moon_wire_seek(&w, 4);
	is_int(w.err, MOON_EMALF, "seek past end");
	moon_wire_init(&w, buf, sizeof(buf));
	moon_wire_skip(&w, 4);
	is_int(w.err, MOON_EMALF, "skip past end");
}

static void test_write(void)
{
	uint8_t buf[8] = { 0 };
	struct moon_wire w;
	moon_wire_init(&w, buf, 7);
	moon_wire_put_u8(&w, 0x11);
	moon_wire_put_u16(&w, 0x2233);
	moon_wire_put_u32(&w, 0x44556677);
	is_int(w.err, 0, "exact fill");
	is_mem(buf, "\x11\x22\x33\x44\x55\x66\x77", 7, "written big-endian");
	moon_wire_put_u8(&w, 0x88);
	is_int(w.err, MOON_ESPACE, "write past end sets ESPACE");
	is_int(buf[7], 0, "nothing written past end");

	moon_wire_init(&w, buf, 3);
	moon_wire_put_bytes(&w, "abcd", 4);
	is_int(w.err, MOON_ESPACE, "put_bytes too long");
	is_int(moon_wire_offset(&w), 0, "nothing written");
	moon_wire_init(&w, buf, 3);
	moon_wire_put_u32(&w, 1);
	is_int(w.err, MOON_ESPACE, "u32 into 3 bytes");
}

static void test_unchecked(void)
{
	uint8_t b[4];
	moon_put_u16(b, 0xbeef);
	is_int(moon_get_u16(b), 0xbeef, "put/get u16");
	b[2] = 0x01;
	b[3] = 0x02;
	is_int(moon_get_u32(b), 0xbeef0102u, "get u32");
}

int main(void)
{
	test_read();
	test_partial();
	test_write();
	test_unchecked();
	return tap_done();
}
