#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/internal.h"
#include "util/err.h"
#include "util/log.h"

/* Batches taken in one readiness event before yielding to the other
 * watchers of the loop (TCP accepts and connections). */
#define UDP_ROUNDS 8

void moon__net_udp_start(struct moon_net_worker *nw)
{
	for (struct udp_sock *s = nw->udp; s; s = s->next)
		if (s->fd >= 0 && !s->retired)
			ev_io_start(nw->loop, &s->io);
}

void moon__net_udp_stop(struct moon_net_worker *nw)
{
	for (struct udp_sock *s = nw->udp; s; s = s->next)
		ev_io_stop(nw->loop, &s->io);
}

/* Tops the armed set up to a full batch; false when not a single pkt is free. */
static bool arm(struct moon_net_worker *nw)
{
	while (nw->narmed < nw->cfg.udp_batch) {
		struct moon_net_pkt *pkt = nw->ops.get(nw->ops.arg);
		if (!pkt)
			break;
		nw->armed[nw->narmed++] = pkt;
	}
	if (nw->narmed == 0) {
		moon__net_starve(nw);
		return false;
	}
	return true;
}

static void prepare_recv(struct moon_net_worker *nw, struct udp_sock *s)
{
	for (unsigned i = 0; i < nw->narmed; i++) {
		struct moon_net_pkt *pkt = nw->armed[i];
		struct msghdr *h = &nw->rmsg[i].msg_hdr;
		nw->riov[i].iov_base = pkt->req;
		nw->riov[i].iov_len = pkt->req_cap;
		h->msg_name = &pkt->peer;
		h->msg_namelen = sizeof(pkt->peer);
		h->msg_iov = &nw->riov[i];
		h->msg_iovlen = 1;
		h->msg_control = s->pktinfo ? nw->rctl[i] : NULL;
		h->msg_controllen = s->pktinfo ? MOON_NET_CTL_LEN : 0;
		h->msg_flags = 0;
	}
}

/* Destination address and interface of a query to a wildcard socket. */
static void read_pktinfo(struct moon_net_pkt *pkt, struct msghdr *h, uint16_t port)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			struct sockaddr_in *l = (struct sockaddr_in *)&pkt->local;
			memset(l, 0, sizeof(*l));
			l->sin_family = AF_INET;
			l->sin_port = port;
			l->sin_addr = pi.ipi_addr;
			pkt->local_len = sizeof(*l);
			pkt->ifindex = (int)pi.ipi_ifindex;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			struct sockaddr_in6 *l = (struct sockaddr_in6 *)&pkt->local;
			memset(l, 0, sizeof(*l));
			l->sin6_family = AF_INET6;
			l->sin6_port = port;
			l->sin6_addr = pi.ipi6_addr;
			pkt->local_len = sizeof(*l);
			pkt->ifindex = (int)pi.ipi6_ifindex;
		}
	}
}

/* The control message that makes a reply leave from the address the query
 * was sent to; returns its length (0 when the socket has a fixed address). */
static size_t write_pktinfo(const struct moon_net_pkt *pkt, uint8_t *ctl)
{
	struct msghdr h = { .msg_control = ctl, .msg_controllen = MOON_NET_CTL_LEN };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&h);
	memset(ctl, 0, MOON_NET_CTL_LEN);
	if (pkt->local.ss_family == AF_INET) {
		struct in_pktinfo pi = { 0 };
		pi.ipi_spec_dst = ((const struct sockaddr_in *)&pkt->local)->sin_addr;
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	if (pkt->local.ss_family == AF_INET6) {
		struct in6_pktinfo pi = { 0 };
		pi.ipi6_addr = ((const struct sockaddr_in6 *)&pkt->local)->sin6_addr;
		pi.ipi6_ifindex = (unsigned)pkt->ifindex;
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	return 0;
}

static void fill_send(struct udp_sock *s, struct mmsghdr *m, struct iovec *iov, uint8_t *ctl,
		      struct moon_net_pkt *pkt)
{
	struct msghdr *h = &m->msg_hdr;
	iov->iov_base = pkt->resp;
	iov->iov_len = pkt->resp_len;
	h->msg_name = &pkt->peer;
	h->msg_namelen = pkt->peer_len;
	h->msg_iov = iov;
	h->msg_iovlen = 1;
	h->msg_control = NULL;
	h->msg_controllen = 0;
	h->msg_flags = 0;
	if (s->pktinfo) {
		size_t n = write_pktinfo(pkt, ctl);
		h->msg_control = n ? ctl : NULL;
		h->msg_controllen = n;
	}
}

/* Sends msgs[0..n) (replies of pkts[0..n)) and hands every pkt back, sent
 * or not. */
static void send_batch(struct moon_net_worker *nw, struct udp_sock *s, struct mmsghdr *msgs,
		       struct moon_net_pkt **pkts, unsigned n)
{
	unsigned off = 0;
	while (off < n) {
		int sent = sendmmsg(s->fd, &msgs[off], n - off, MSG_DONTWAIT);
		if (sent > 0) {
			for (unsigned i = 0; i < (unsigned)sent; i++)
				moon__net_pkt_done(nw, pkts[off + i], true);
			nw->st.udp_sent += (unsigned)sent;
			off += (unsigned)sent;
			continue;
		}
		/* The message at off failed (unreachable peer, full buffer):
		 * drop it alone and carry on with the rest. */
		if (errno != EAGAIN && errno != ENOBUFS)
			MOON_LOG_RATELIMITED(MOON_LOG_WARN, NET, "UDP send: %s",
					     moon_strerror(-errno));
		nw->st.udp_send_errors++;
		moon__net_pkt_done(nw, pkts[off], false);
		off++;
	}
}

static void take(struct moon_net_worker *nw, struct udp_sock *s, struct moon_net_pkt *pkt,
		 struct mmsghdr *m)
{
	pkt->req_len = m->msg_len;
	pkt->peer_len = m->msg_hdr.msg_namelen;
	pkt->resp_len = 0;
	pkt->proto = MOON_NET_UDP;
	pkt->listener = s->listener;
	pkt->origin = s;
	pkt->ifindex = 0;
	if (s->pktinfo) {
		pkt->local_len = 0;
		uint16_t port = s->bound.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&s->bound)->sin6_port :
			((struct sockaddr_in *)&s->bound)->sin_port;
		read_pktinfo(pkt, &m->msg_hdr, port);
	} else {
		memcpy(&pkt->local, &s->bound, s->bound_len);
		pkt->local_len = s->bound_len;
	}
}

/* Receives one batch, answers it, sends the answers; returns the number of
 * datagrams received (0 when the socket is drained or no pkt is free). */
static unsigned udp_round(struct moon_net_worker *nw, struct udp_sock *s)
{
	if (!arm(nw))
		return 0;
	prepare_recv(nw, s);
	int got = recvmmsg(s->fd, nw->rmsg, nw->narmed, MSG_DONTWAIT, NULL);
	if (got <= 0)
		return 0;
	unsigned nout = 0;
	for (unsigned i = 0; i < (unsigned)got; i++) {
		struct moon_net_pkt *pkt = nw->armed[i];
		if (nw->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
			/* Longer than any DNS message may be: not worth an answer. */
			nw->st.udp_truncated_in++;
			moon__net_pkt_done(nw, pkt, false);
			continue;
		}
		take(nw, s, pkt, &nw->rmsg[i]);
		int ret = nw->ops.handle(nw->ops.arg, pkt);
		if (ret == MOON_EPENDING) {
			nw->pending++;
			s->pending++;
			continue;
		}
		if (pkt->resp_len == 0) {
			moon__net_pkt_done(nw, pkt, false);
			continue;
		}
		fill_send(s, &nw->smsg[nout], &nw->siov[nout], nw->sctl[nout], pkt);
		nw->out[nout++] = pkt;
	}
	nw->st.udp_recv += (unsigned)got;
	/* The armed pkts not used by this batch move to the front. */
	nw->narmed -= (unsigned)got;
	memmove(nw->armed, nw->armed + got, nw->narmed * sizeof(*nw->armed));
	if (nout)
		send_batch(nw, s, nw->smsg, nw->out, nout);
	return (unsigned)got;
}

/* Gives back the pkts armed for datagrams that did not come. */
static void unarm(struct moon_net_worker *nw)
{
	while (nw->narmed)
		moon__net_pkt_done(nw, nw->armed[--nw->narmed], false);
}

void moon__net_udp_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct udp_sock *s = w->data;
	struct moon_net_worker *nw = s->nw;
	for (unsigned r = 0; r < UDP_ROUNDS; r++) {
		/* Under load more queries arrive while a batch is answered, and
		 * reading them at once saves an epoll_wait per batch (measured:
		 * ~3% less CPU per query at saturation). A lone datagram means
		 * the socket is quiet: skip the recvmmsg that would say EAGAIN. */
		if (udp_round(nw, s) < 2)
			break;
	}
	/* Unused pkts go back, so TCP connections and other sockets are not
	 * starved by a batch reserved for datagrams that did not come. */
	unarm(nw);
}

void moon__net_udp_retire(struct moon_net_worker *nw, uint16_t listener)
{
	for (struct udp_sock **pp = &nw->udp, *s; (s = *pp) != NULL;) {
		if (s->listener != listener || s->retired) {
			pp = &s->next;
			continue;
		}
		ev_io_stop(nw->loop, &s->io);
		s->retired = true;
		/* Queries the kernel already queued here would die with the
		 * socket: answer them first. */
		while (udp_round(nw, s) > 0)
			;
		unarm(nw);
		if (s->pending) {
			pp = &s->next;  /* closed by the last moon_net_complete */
			continue;
		}
		close(s->fd);
		*pp = s->next;
		free(s);
	}
}

void moon__net_udp_send_one(struct moon_net_worker *nw, struct moon_net_pkt *pkt)
{
	struct udp_sock *s = pkt->origin;
	if (s->fd < 0 || pkt->resp_len == 0) {
		moon__net_pkt_done(nw, pkt, false);
		return;
	}
	/* Own scratch: this may run while a batch is being filled. */
	struct mmsghdr m;
	struct iovec iov;
	uint8_t ctl[MOON_NET_CTL_LEN];
	fill_send(s, &m, &iov, ctl, pkt);
	send_batch(nw, s, &m, &pkt, 1);
}
