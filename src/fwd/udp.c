/*
 * UDP tries. RFC 5452 wants the source port as unpredictable as the ID.
 * Binding to port 0 lets the kernel pick from its ephemeral range with an
 * algorithm we do not control (and a narrower range), so each try opens its
 * own socket and binds it to a port drawn from the CSPRNG over the whole
 * 1024-65535 range, drawing again when that port is taken. The socket is
 * connect()ed to the upstream: the kernel then drops datagrams from any
 * other address or port, and reports ICMP unreachable as ECONNREFUSED. It is
 * closed when the try ends, so a port is never reused across queries.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fwd/internal.h"
#include "util/random.h"

#define PORT_MIN 1024
#define BIND_ATTEMPTS 32
/* Datagrams read per wakeup, so one flooded socket cannot hog the loop. */
#define READ_BATCH 16

int moon__fwd_bind_random(int fd, int family, uint64_t *retries)
{
	for (int i = 0; i < BIND_ATTEMPTS; i++) {
		uint16_t port = (uint16_t)(PORT_MIN + moon_random_uniform(65536 - PORT_MIN));
		struct sockaddr_storage ss;
		socklen_t len;
		memset(&ss, 0, sizeof(ss));
		if (family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			len = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(port);
			len = sizeof(*sin6);
		}
		if (bind(fd, (struct sockaddr *)&ss, len) == 0)
			return 0;
		if (errno != EADDRINUSE && errno != EACCES)
			return -errno;
		(*retries)++;
	}
	return -EADDRINUSE;
}

static void udp_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct try *t = (struct try *)((char *)io - offsetof(struct try, io));
	struct moon_fwd_worker *fw = t->up->fw;
	uint32_t serial = t->serial;
	for (int i = 0; i < READ_BATCH; i++) {
		ssize_t n = recv(t->fd, fw->rbuf, sizeof(fw->rbuf), 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			moon__fwd_try_error(t, -errno);
			return;
		}
		moon__fwd_try_reply(t, fw->rbuf, (size_t)n);
		/* The reply may have ended the try (and the slot may hold a
		 * new one): stop reading for it. */
		if (!t->open || t->serial != serial)
			return;
	}
}

int moon__fwd_udp_send(struct try *t)
{
	struct wup *w = t->up;
	struct flight *f = t->f;
	const struct upstream *u = w->u;
	int fd = socket(u->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = moon__fwd_bind_random(fd, u->addr.ss_family, &w->fw->st.bind_retries);
	if (r < 0)
		goto fail_close;
	if (connect(fd, (const struct sockaddr *)&u->addr, u->addrlen) < 0) {
		r = -errno;
		goto fail_close;
	}
	t->id = moon__fwd_new_id(w->fw);
	moon__fwd_set_id(f->query, t->id);
	if (send(fd, f->query, f->query_len, 0) < 0) {
		r = -errno;
		goto fail_close;
	}
	t->fd = fd;
	ev_io_init(&t->io, udp_cb, fd, EV_READ);
	ev_io_start(w->fw->loop, &t->io);
	return 0;
fail_close:
	close(fd);
	return r;
}

void moon__fwd_udp_close(struct try *t)
{
	ev_io_stop(t->up->fw->loop, &t->io);
	close(t->fd);
	t->fd = -1;
}
