#include <stdlib.h>
#include <string.h>

#include "net/tcpbuf.h"
#include "util/err.h"

enum moon_tcp_frame moon_tcp_frame(const uint8_t *buf, size_t len, size_t *msg_len)
{
	if (len < 2)
		return MOON_TCP_PARTIAL;
	size_t n = (size_t)buf[0] << 8 | buf[1];
	if (n == 0)
		return MOON_TCP_EMPTY;
	*msg_len = n;
	return len - 2 >= n ? MOON_TCP_MSG : MOON_TCP_PARTIAL;
}

int moon_tcp_wbuf_append(struct moon_tcp_wbuf *wb, const void *data, size_t n)
{
	if (wb->head + wb->len + n > wb->cap) {
		/* Slide the unsent bytes to the front before growing. */
		if (wb->head) {
			memmove(wb->buf, wb->buf + wb->head, wb->len);
			wb->head = 0;
		}
		if (wb->len + n > wb->cap) {
			size_t cap = wb->cap ? wb->cap : 4096;
			while (cap < wb->len + n)
				cap *= 2;
			uint8_t *b = realloc(wb->buf, cap);
			if (!b)
				return -ENOMEM;
			wb->buf = b;
			wb->cap = cap;
		}
	}
	memcpy(wb->buf + wb->head + wb->len, data, n);
	wb->len += n;
	return 0;
}

void moon_tcp_wbuf_consume(struct moon_tcp_wbuf *wb, size_t n)
{
	if (n >= wb->len) {
		moon_tcp_wbuf_free(wb);
		return;
	}
	wb->head += n;
	wb->len -= n;
}

void moon_tcp_wbuf_free(struct moon_tcp_wbuf *wb)
{
	free(wb->buf);
	memset(wb, 0, sizeof(*wb));
}

int moon_tcp_wbuf_keep_rest(struct moon_tcp_wbuf *wb, const struct iovec *iov, unsigned n,
			    size_t written)
{
	for (unsigned i = 0; i < n; i++) {
		if (written >= iov[i].iov_len) {
			written -= iov[i].iov_len;
			continue;
		}
		int ret = moon_tcp_wbuf_append(wb, (const uint8_t *)iov[i].iov_base + written,
					       iov[i].iov_len - written);
		if (ret)
			return ret;
		written = 0;
	}
	return 0;
}

bool moon_tcp_may_read(size_t pending_out, size_t max_pending, uint32_t queries,
		       uint32_t max_queries)
{
	if (max_queries && queries >= max_queries)
		return false;
	return pending_out <= max_pending;
}
