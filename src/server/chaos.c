#include <string.h>

#include "server/chaos.h"
#include "wire/dns.h"

/* The names, as lowercase wire. */
static const uint8_t ID_SERVER[] = "\2id\6server";
static const uint8_t HOSTNAME_BIND[] = "\10hostname\4bind";
static const uint8_t VERSION_BIND[] = "\7version\4bind";
static const uint8_t VERSION_SERVER[] = "\7version\6server";

static bool is(const struct moon_pkt *q, const uint8_t *name, size_t size)
{
	/* size counts the string's NUL, which is the root label. */
	return q->qname_len == size && memcmp(q->qname_lc, name, size) == 0;
}

static const char *pick(const struct moon_pkt *q, const struct moon_conf_identity *id)
{
	if (is(q, ID_SERVER, sizeof(ID_SERVER)))
		return id->id_server ? id->id_server : id->hostname;
	if (is(q, HOSTNAME_BIND, sizeof(HOSTNAME_BIND)))
		return id->hostname ? id->hostname : id->id_server;
	if (is(q, VERSION_BIND, sizeof(VERSION_BIND)) ||
	    is(q, VERSION_SERVER, sizeof(VERSION_SERVER)))
		return id->version;
	return NULL;
}

int moon_chaos_answer(struct moon_pktw *w, const struct moon_pkt *q,
		      const struct moon_conf_identity *id)
{
	if (q->qtype != MOON_T_TXT)
		return MOON_RCODE_REFUSED;
	const char *text = pick(q, id);
	if (!text)
		return MOON_RCODE_REFUSED;
	/* One character-string: the config caps identities at 255 bytes. */
	uint8_t rdata[256];
	size_t len = strlen(text);
	if (len > 255)
		len = 255;
	rdata[0] = (uint8_t)len;
	memcpy(rdata + 1, text, len);
	/* A reply without the record would claim the name has no TXT: if it
	 * does not fit, say so with TC. */
	if (moon_pktw_put_rr(w, MOON_SEC_ANSWER, NULL, MOON_T_TXT, MOON_CLASS_CH, 0, rdata,
			     (uint16_t)(len + 1)))
		moon_pktw_truncate(w);
	return MOON_RCODE_NOERROR;
}
