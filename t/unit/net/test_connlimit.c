/* Connections per client, across threads. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "net/connlimit.h"
#include "tap.h"
#include "util/err.h"

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, ip, &s->sin_addr);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
	s->sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &s->sin6_addr);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static struct moon_connlimit shared;

static void *churn(void *arg)
{
	struct sockaddr_storage a = v4(arg, 1);
	for (int i = 0; i < 20000; i++) {
		if (moon_connlimit_acquire(&shared, SA(a)) == 0)
			moon_connlimit_release(&shared, SA(a));
	}
	return NULL;
}

int main(void)
{
	struct moon_connlimit cl;
	moon_connlimit_init(&cl, 2);
	struct sockaddr_storage a1 = v4("192.0.2.1", 1000), a2 = v4("192.0.2.1", 2000);
	struct sockaddr_storage b = v4("192.0.2.2", 1000);
	ok(moon_connlimit_acquire(&cl, SA(a1)) == 0, "first connection");
	ok(moon_connlimit_acquire(&cl, SA(a2)) == 0, "second one, other port, same client");
	is_int(moon_connlimit_acquire(&cl, SA(a1)), MOON_ELIMIT, "third refused: per-client limit");
	ok(moon_connlimit_acquire(&cl, SA(b)) == 0, "another client is not affected");
	is_int(moon_connlimit_count(&cl, SA(a1)), 2, "two counted for the first client");
	moon_connlimit_release(&cl, SA(a2));
	ok(moon_connlimit_acquire(&cl, SA(a1)) == 0, "a slot freed by a close is reusable");

	/* IPv4 and its IPv4-mapped IPv6 form are the same client. */
	struct sockaddr_storage m = v6("::ffff:192.0.2.2");
	ok(moon_connlimit_acquire(&cl, SA(m)) == 0, "mapped form counts with the IPv4 one");
	is_int(moon_connlimit_acquire(&cl, SA(m)), MOON_ELIMIT, "and shares its limit");
	struct sockaddr_storage x = v6("2001:db8::1");
	ok(moon_connlimit_acquire(&cl, SA(x)) == 0, "IPv6 client");

	atomic_store(&cl.max_per_client, 0);
	ok(moon_connlimit_acquire(&cl, SA(a1)) == 0, "limit 0 = unlimited");
	moon_connlimit_deinit(&cl);

	/* Many distinct clients grow the shards; all come back to zero. */
	moon_connlimit_init(&cl, 1);
	char ip[32];
	int fails = 0;
	for (int i = 0; i < 2000; i++) {
		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		struct sockaddr_storage c = v4(ip, 53);
		fails += moon_connlimit_acquire(&cl, SA(c)) != 0;
	}
	is_int(fails, 0, "2000 distinct clients admitted");
	for (int i = 0; i < 2000; i++) {
		snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		struct sockaddr_storage c = v4(ip, 53);
		moon_connlimit_release(&cl, SA(c));
	}
	unsigned left = 0;
	for (unsigned s = 0; s < MOON_CLIENTTAB_SHARDS; s++)
		left += cl.tab.shard[s].n;
	is_int(left, 0, "every entry removed after release");
	moon_connlimit_deinit(&cl);

	/* Threads hammering the same and different clients stay consistent. */
	moon_connlimit_init(&shared, 4);
	pthread_t t[4];
	const char *ips[4] = { "198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.3" };
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, (void *)ips[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	struct sockaddr_storage s1 = v4("198.51.100.1", 9);
	is_int(moon_connlimit_count(&shared, SA(s1)), 0, "concurrent acquire/release balance");
	moon_connlimit_deinit(&shared);
	return tap_done();
}
