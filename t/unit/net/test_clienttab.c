/* The lock-striped per-client table: keys, shards, add/find/remove, size. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "net/clienttab.h"
#include "tap.h"

struct ent {
	uint8_t addr[MOON_CLIENTTAB_KEY];
	uint32_t val;
};

/* sa set to ip (either family) and port. */
static struct sockaddr *addr(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
	} else {
		inet_pton(AF_INET6, ip, &in6->sin6_addr);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
	}
	return (struct sockaddr *)ss;
}

static void test_key(void)
{
	struct sockaddr_storage a;
	uint8_t k1[MOON_CLIENTTAB_KEY], k2[MOON_CLIENTTAB_KEY];
	static const uint8_t mapped[MOON_CLIENTTAB_KEY] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1
	};
	moon_clienttab_key(addr("192.0.2.1", 53, &a), k1);
	is_mem(k1, mapped, sizeof(k1), "IPv4 keyed as ::ffff:a.b.c.d");
	moon_clienttab_key(addr("192.0.2.1", 9999, &a), k2);
	is_mem(k1, k2, sizeof(k1), "the port is not part of the key");
	moon_clienttab_key(addr("::ffff:192.0.2.1", 53, &a), k2);
	is_mem(k1, k2, sizeof(k1), "the mapped IPv6 form has the same key");
	moon_clienttab_key(addr("2001:db8::1", 53, &a), k2);
	is_mem(k2, &((struct sockaddr_in6 *)&a)->sin6_addr, sizeof(k2), "IPv6 keyed as its address");
}

static void test_table(void)
{
	static struct moon_clienttab t;
	moon_clienttab_init(&t, sizeof(struct ent));
	struct sockaddr_storage a;
	uint8_t key[MOON_CLIENTTAB_KEY], k2[MOON_CLIENTTAB_KEY];

	struct moon_clienttab_shard *s = moon_clienttab_lock(&t, addr("192.0.2.1", 1, &a), key);
	ok(s == moon_clienttab_shard(&t, key), "lock returns the key's shard");
	ok(moon_clienttab_find(&t, s, key) == NULL, "empty table: not found");
	struct ent *e = moon_clienttab_add(&t, s, key);
	ok(e && memcmp(e->addr, key, sizeof(key)) == 0, "add sets the key");
	if (e)
		e->val = 7;
	e = moon_clienttab_find(&t, s, key);
	ok(e && e->val == 7, "find returns the added entry");
	pthread_mutex_unlock(&s->lock);
	is_int(moon_clienttab_size(&t), 1, "size 1");

	/* Many entries in one shard grow its array past the first 8 slots. */
	char ip[32];
	unsigned n = 0, found = 0;
	for (unsigned i = 0; i < 5000 && n < 20; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		moon_clienttab_key(addr(ip, 1, &a), k2);
		if (moon_clienttab_shard(&t, k2) != s)
			continue;
		e = moon_clienttab_add(&t, s, k2);
		if (e)
			e->val = 100 + n++;
	}
	is_int(n, 20, "20 more entries in the same shard");
	ok(s->cap >= s->n && s->n == 21, "the shard grew to hold them");
	e = moon_clienttab_find(&t, s, key);
	ok(e && e->val == 7, "the first entry survives the growth");
	is_int(moon_clienttab_size(&t), 21, "size 21");

	/* Removing moves the last entry into the hole. */
	struct ent *last = (struct ent *)s->e + s->n - 1;
	uint32_t last_val = last->val;
	moon_clienttab_remove(&t, s, e);
	ok(moon_clienttab_find(&t, s, key) == NULL, "removed entry is gone");
	ok(e->val == last_val, "the last entry took its place");
	is_int(s->n, 20, "one fewer");
	moon_clienttab_remove(&t, s, (struct ent *)s->e + s->n - 1);
	is_int(s->n, 19, "removing the last entry itself");
	for (uint32_t i = 0; i < s->n; i++)
		found += moon_clienttab_find(&t, s, ((struct ent *)s->e)[i].addr) ==
			 (struct ent *)s->e + i;
	is_int(found, 19, "every remaining entry is found in place");
	moon_clienttab_deinit(&t);
	ok(t.shard[0].e == NULL && t.shard[0].n == 0 && t.esize == 0, "deinit leaves it zeroed");
}

int main(void)
{
	test_key();
	test_table();
	return tap_done();
}
