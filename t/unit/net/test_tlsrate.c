/*
 * The per-client new-session limiter: a bucket of `rate` tokens per
 * address, refilled continuously, separate addresses, and a rate change.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "net/tlsrate.h"
#include "tap.h"
#include "util/err.h"

static struct sockaddr *v4(const char *ip, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(1234);
	inet_pton(AF_INET, ip, &sa->sin_addr);
	return (struct sockaddr *)sa;
}

static struct sockaddr *v6(const char *ip, struct sockaddr_in6 *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &sa->sin6_addr);
	return (struct sockaddr *)sa;
}

int main(void)
{
	static struct moon_tls_rate r;
	struct sockaddr_in a, b;
	struct sockaddr_in6 c;
	moon_tls_rate_init(&r, 3);

	int64_t t = 1000000;
	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t), 0, "1st session");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t), 0, "2nd session");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t), 0, "3rd session: the burst");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t), MOON_ELIMIT, "4th refused");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.2", &b), t), 0, "another address has its own");
	/* The port does not make another client. */
	a.sin_port = htons(999);
	is_int(moon_tls_rate_take(&r, (struct sockaddr *)&a, t), MOON_ELIMIT, "port ignored");

	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t + 200), MOON_ELIMIT,
	       "200 ms later: 0.6 token, still refused");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t + 340), 0,
	       "340 ms later: a token refilled");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t + 340), MOON_ELIMIT, "and used");

	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t + 60000), 0, "a minute later");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t + 60000), 0, "the bucket holds");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t + 60000), 0, "the burst again");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.1", &a), t + 60000), MOON_ELIMIT,
	       "but not more than the burst");

	is_int(moon_tls_rate_take(&r, v6("2001:db8::1", &c), t), 0, "IPv6 client");
	ok(moon_tls_rate_tracked(&r) == 3, "three addresses tracked");

	moon_tls_rate_set(&r, 0);
	int refused = 0;
	for (int i = 0; i < 100; i++)
		refused += moon_tls_rate_take(&r, v4("192.0.2.1", &a), t + 60000) != 0;
	is_int(refused, 0, "rate 0: unlimited");

	moon_tls_rate_set(&r, 1);
	is_int(moon_tls_rate_take(&r, v4("192.0.2.9", &a), t), 0, "rate 1: one");
	is_int(moon_tls_rate_take(&r, v4("192.0.2.9", &a), t + 10), MOON_ELIMIT,
	       "rate 1: not two");
	moon_tls_rate_deinit(&r);
	return tap_done();
}
