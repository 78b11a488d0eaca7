/*
 * floor: the cheapest possible UDP "DNS server", used as the benchmark floor.
 *
 * It receives a batch of datagrams with recvmmsg(), sets the QR bit of each one
 * and sends the batch back with sendmmsg(). There is no parsing, no lookup and
 * no answer building, so the CPU it uses per query under dnsperf is what the
 * kernel charges for moving one query in and one response out over loopback.
 * A real server's CPU per query minus this figure is the cost of its own code.
 *
 * usage: floor PORT [ADDRESS]      (ADDRESS defaults to 127.0.0.1, IPv4 only)
 * build: cc -O2 -o floor floor.c
 * Runs in the foreground until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define MSG_MAX 1500
#define DNS_HEADER 12
#define RCVBUF (4 << 20)

struct batch {
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in peer[BATCH];
	unsigned char buf[BATCH][MSG_MAX];
};

static int open_socket(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int rcvbuf = RCVBUF;
	int fd;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "floor: bad address %s\n", addr);
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("floor: socket");
		return -1;
	}
	/* A small default buffer would drop bursts and turn the floor into a loss test. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("floor: bind");
		close(fd);
		return -1;
	}
	return fd;
}

/* recvmmsg() rewrites msg_len and msg_namelen, so both are reset before every call. */
static void arm(struct batch *b)
{
	for (int i = 0; i < BATCH; i++) {
		b->iov[i].iov_base = b->buf[i];
		b->iov[i].iov_len = MSG_MAX;
		memset(&b->msg[i], 0, sizeof(b->msg[i]));
		b->msg[i].msg_hdr.msg_iov = &b->iov[i];
		b->msg[i].msg_hdr.msg_iovlen = 1;
		b->msg[i].msg_hdr.msg_name = &b->peer[i];
		b->msg[i].msg_hdr.msg_namelen = sizeof(b->peer[i]);
	}
}

/* Turns the received queries into "responses" in place; runts are sent back as they are. */
static void flip(struct batch *b, int n)
{
	for (int i = 0; i < n; i++) {
		if (b->msg[i].msg_len >= DNS_HEADER)
			b->buf[i][2] |= 0x80;
		b->iov[i].iov_len = b->msg[i].msg_len;
	}
}

static void send_all(int fd, struct batch *b, int n)
{
	int done = 0;

	while (done < n) {
		int sent = sendmmsg(fd, b->msg + done, n - done, 0);

		if (sent < 0) {
			if (errno == EINTR)
				continue;
			/* Like a real server under overload: drop the rest of the batch. */
			return;
		}
		done += sent;
	}
}

int main(int argc, char **argv)
{
	static struct batch b;
	int fd;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: floor PORT [ADDRESS]\n");
		return 2;
	}
	fd = open_socket(argc == 3 ? argv[2] : "127.0.0.1", atoi(argv[1]));
	if (fd < 0)
		return 1;
	for (;;) {
		int n;

		arm(&b);
		n = recvmmsg(fd, b.msg, BATCH, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue;
		flip(&b, n);
		send_all(fd, &b, n);
	}
}
