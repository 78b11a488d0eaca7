#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "util/log.h"

/* Deep enough that a burst of loopback benchmark traffic is not dropped
 * while the worker is busy with the previous batch. */
#define UDP_RCVBUF (4 << 20)
#define UDP_SNDBUF (1 << 20)
#define TCP_BACKLOG 1024

bool moon_net_addr_is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

const char *moon_net_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
	return buf;
}

bool moon_net_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static int set_int(int fd, int level, int opt, int val)
{
	return setsockopt(fd, level, opt, &val, sizeof(val)) ? -errno : 0;
}

/* Ends every socket setup: on success (ret 0) fd is handed out, on an
 * error it is closed and ret returned. */
static int hand_out(int fd, int ret, int *out)
{
	if (ret) {
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

/* Common start of every listening socket: non-blocking, close-on-exec,
 * SO_REUSEPORT (each worker binds its own socket and the kernel spreads
 * clients over them), and v6-only for IPv6 so that an IPv4 listener on the
 * same port is a separate socket. SO_REUSEADDR only for TCP, where it lets a
 * restart bind over old TIME_WAIT connections; on UDP it would let another
 * process bind the same address. */
static int open_socket(const struct sockaddr *sa, int type, bool reuseport, int *out)
{
	int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int ret = 0;
	if (type == SOCK_STREAM)
		ret = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (!ret && reuseport)
		ret = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (!ret && sa->sa_family == AF_INET6)
		ret = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	return hand_out(fd, ret, out);
}

static socklen_t addr_len(const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (sa->sa_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return len;
}

static void set_bufsize(int fd, int force_opt, int opt, int size)
{
	/* The FORCE variant ignores net.core.rmem_max but needs CAP_NET_ADMIN;
	 * without it the kernel clamps the plain option to the sysctl. */
	if (set_int(fd, SOL_SOCKET, force_opt, size))
		set_int(fd, SOL_SOCKET, opt, size);
}

int moon_net_socket_udp(const struct sockaddr *sa, socklen_t len, int *out)
{
	int fd, ret = open_socket(sa, SOCK_DGRAM, true, &fd);
	if (ret)
		return ret;
	set_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF, UDP_RCVBUF);
	set_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, UDP_SNDBUF);
	if (moon_net_addr_is_wildcard(sa)) {
		if (sa->sa_family == AF_INET)
			ret = set_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
		else
			ret = set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	}
	if (!ret && bind(fd, sa, addr_len(sa, len)))
		ret = -errno;
	return hand_out(fd, ret, out);
}

int moon_net_socket_tcp(const struct sockaddr *sa, socklen_t len, int *out)
{
	int fd, ret = open_socket(sa, SOCK_STREAM, true, &fd);
	if (ret)
		return ret;
	/* Replies are whole messages written at once: Nagle would only hold
	 * back the second of two pipelined answers. */
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (bind(fd, sa, addr_len(sa, len)) || listen(fd, TCP_BACKLOG))
		ret = -errno;
	return hand_out(fd, ret, out);
}

int moon_net_probe(const struct sockaddr *sa, socklen_t len, int type)
{
	int fd, ret = open_socket(sa, type, false, &fd);
	if (ret)
		return ret;
	if (bind(fd, sa, addr_len(sa, len)))
		ret = -errno;
	close(fd);
	return ret;
}
