/*
 * The pure parts of DNS over TCP (RFC 7766), kept apart from sockets so the
 * unit tests can drive them: finding 2-byte-length framed messages in the
 * bytes read so far, and the per-connection buffer of response bytes the
 * client has not taken yet.
 */
#ifndef MOON_NET_TCPBUF_H
#define MOON_NET_TCPBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum moon_tcp_frame {
	MOON_TCP_PARTIAL,    /* need more bytes */
	MOON_TCP_MSG,        /* a whole message: *msg_len bytes after the 2-byte prefix */
	MOON_TCP_EMPTY,      /* a zero-length message: the client closes the session */
};

/* Looks at the framed stream in buf[0..len). */
enum moon_tcp_frame moon_tcp_frame(const uint8_t *buf, size_t len, size_t *msg_len);

/* Unsent output: bytes buf[head..head+len). Allocated on first use, when a
 * write could not take everything; freed by moon_tcp_wbuf_free(). */
struct moon_tcp_wbuf {
	uint8_t *buf;
	size_t cap, head, len;
};

/* Appends n bytes; returns 0 or -ENOMEM (nothing appended). */
int moon_tcp_wbuf_append(struct moon_tcp_wbuf *wb, const void *data, size_t n);
/* Marks n bytes as written; the buffer is released when it empties, so an
 * idle connection holds no output memory. */
void moon_tcp_wbuf_consume(struct moon_tcp_wbuf *wb, size_t n);
void moon_tcp_wbuf_free(struct moon_tcp_wbuf *wb);

/*
 * After `written` bytes of an iovec array went out, appends everything
 * not written to wb (in order). Returns 0 or -ENOMEM.
 */
int moon_tcp_wbuf_keep_rest(struct moon_tcp_wbuf *wb, const struct iovec *iov, unsigned n,
			    size_t written);

/* Whether the connection may read more: not while its unsent output is above
 * max_pending (a client that does not read cannot make the server buffer
 * without bound), nor once max_queries (0 = unlimited) were received. */
bool moon_tcp_may_read(size_t pending_out, size_t max_pending, uint32_t queries,
		       uint32_t max_queries);

#endif
