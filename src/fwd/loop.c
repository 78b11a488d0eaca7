#include <string.h>

#include "fwd/fwd.h"
#include "fwd/msg.h"
#include "util/err.h"
#include "util/random.h"

#define HEX_LABEL 16

static void hex_label(uint8_t *p)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[HEX_LABEL / 2];
	moon_random_bytes(r, sizeof(r));
	p[0] = HEX_LABEL;
	for (unsigned i = 0; i < sizeof(r); i++) {
		p[1 + 2 * i] = (uint8_t)hex[r[i] >> 4];
		p[2 + 2 * i] = (uint8_t)hex[r[i] & 0xf];
	}
}

int moon_fwd_loop_init(struct moon_fwd_loop *lp, const uint8_t *zone)
{
	size_t zlen = moon_name_len(zone);
	if (2 * (1 + HEX_LABEL) + zlen > MOON_NAME_MAXLEN)
		return MOON_ESPACE;
	memset(lp, 0, sizeof(*lp));
	hex_label(lp->name);
	hex_label(lp->name + 1 + HEX_LABEL);
	moon_name_tolower(lp->name + 2 * (1 + HEX_LABEL), zone);
	lp->name_len = (uint8_t)(2 * (1 + HEX_LABEL) + zlen);
	lp->threshold = 1;
	return 0;
}

int moon_fwd_loop_query(const struct moon_fwd_loop *lp, uint8_t *buf, size_t cap)
{
	if (cap < MOON_FWD_QMAX)
		return MOON_ESPACE;
	struct moon_fwd_qspec s = {
		.qname = lp->name, .qtype = MOON_T_HINFO, .qclass = MOON_CLASS_IN, .rd = true,
	};
	return (int)moon__fwd_build_query(buf, moon_random_u16(), &s);
}

enum moon_fwd_loop_verdict moon_fwd_loop_check(struct moon_fwd_loop *lp, const struct moon_pkt *q)
{
	if (atomic_load_explicit(&lp->done, memory_order_relaxed) && !moon_fwd_loop_detected(lp))
		return MOON_FWD_LOOP_OTHER;
	if (!q->question_ok || q->qtype != MOON_T_HINFO || q->qname_len != lp->name_len ||
	    memcmp(q->qname_lc, lp->name, lp->name_len) != 0)
		return MOON_FWD_LOOP_OTHER;
	uint32_t n = atomic_fetch_add_explicit(&lp->seen, 1, memory_order_relaxed) + 1;
	if (n <= lp->threshold)
		return MOON_FWD_LOOP_PROBE;
	atomic_store(&lp->detected, true);
	atomic_store(&lp->done, true);
	return MOON_FWD_LOOP_DETECTED;
}

void moon_fwd_loop_answered(struct moon_fwd_loop *lp)
{
	atomic_store(&lp->done, true);
}

bool moon_fwd_loop_detected(const struct moon_fwd_loop *lp)
{
	return atomic_load_explicit(&lp->detected, memory_order_relaxed);
}
