#include <string.h>

#include "util/err.h"
#include "wire/name.h"

int moon_name_unpack(const uint8_t *msg, size_t msglen, size_t *pos,
		     uint8_t out[MOON_NAME_MAXLEN])
{
	size_t p = *pos;
	size_t seq = p;         /* start of the label sequence being read */
	size_t after = 0;       /* where the name ends in the message */
	unsigned n = 0, ptrs = 0;

	for (;;) {
		if (p >= msglen)
			return MOON_EMALF;
		uint8_t c = msg[p];
		if (c == 0)
			break;
		if (c >= 0xc0) {
			if (p + 1 >= msglen || ++ptrs > MOON_NAME_MAXPTRS)
				return MOON_EMALF;
			size_t target = (size_t)(c & 0x3f) << 8 | msg[p + 1];
			/* Strictly backwards from the sequence start: targets
			 * decrease at every hop, so no loop is possible. */
			if (target >= seq)
				return MOON_EMALF;
			if (!after)
				after = p + 2;
			p = seq = target;
			continue;
		}
		/* 0x40 and 0x80 are the obsolete extended and reserved types. */
		if (c > MOON_LABEL_MAXLEN || p + 1 + c > msglen ||
		    n + 1 + c + 1 > MOON_NAME_MAXLEN)
			return MOON_EMALF;
		memcpy(out + n, msg + p, 1 + (size_t)c);
		n += 1 + c;
		p += 1 + (size_t)c;
	}
	out[n++] = 0;
	*pos = after ? after : p + 1;
	return (int)n;
}

size_t moon_name_len(const uint8_t *name)
{
	const uint8_t *p = name;
	while (*p)
		p += 1 + *p;
	return (size_t)(p - name) + 1;
}

unsigned moon_name_labels(const uint8_t *name)
{
	unsigned n = 0;
	for (; *name; name += 1 + *name)
		n++;
	return n;
}

const uint8_t *moon_name_parent(const uint8_t *name)
{
	return *name ? name + 1 + *name : name;
}

size_t moon_name_tolower(uint8_t *dst, const uint8_t *name)
{
	size_t len = moon_name_len(name);
	for (size_t i = 0; i < len; i++)
		dst[i] = moon_name_lower(name[i]);
	return len;
}

bool moon_name_equal(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		uint8_t l = *a;
		if (l != *b)
			return false;
		if (l == 0)
			return true;
		for (unsigned i = 1; i <= l; i++)
			if (moon_name_lower(a[i]) != moon_name_lower(b[i]))
				return false;
		a += 1 + l;
		b += 1 + l;
	}
}

bool moon_name_is_subdomain(const uint8_t *name, const uint8_t *parent)
{
	unsigned ln = moon_name_labels(name), lp = moon_name_labels(parent);
	if (ln < lp)
		return false;
	for (; ln > lp; ln--)
		name += 1 + *name;
	return moon_name_equal(name, parent);
}

/* Fills off[] with the offset of each label; returns the label count. */
static unsigned label_offsets(const uint8_t *name, uint8_t off[MOON_NAME_MAXLABELS])
{
	unsigned n = 0;
	for (const uint8_t *p = name; *p; p += 1 + *p)
		off[n++] = (uint8_t)(p - name);
	return n;
}

static int label_cmp(const uint8_t *a, const uint8_t *b)
{
	unsigned la = a[0], lb = b[0], m = la < lb ? la : lb;
	for (unsigned i = 1; i <= m; i++) {
		int d = (int)moon_name_lower(a[i]) - (int)moon_name_lower(b[i]);
		if (d)
			return d;
	}
	return (int)la - (int)lb;
}

int moon_name_cmp_canonical(const uint8_t *a, const uint8_t *b)
{
	uint8_t oa[MOON_NAME_MAXLABELS], ob[MOON_NAME_MAXLABELS];
	unsigned na = label_offsets(a, oa), nb = label_offsets(b, ob);

	/* RFC 4034 §6.1: labels compared from the right as lowercase octet
	 * strings; a name that runs out of labels first sorts first. */
	while (na && nb) {
		int d = label_cmp(a + oa[--na], b + ob[--nb]);
		if (d)
			return d;
	}
	return (int)na - (int)nb;
}

bool moon_name_is_wildcard(const uint8_t *name)
{
	return name[0] == 1 && name[1] == '*';
}

/* Reads one possibly escaped character at *s; returns it or -1. */
static int text_char(const char **s)
{
	const unsigned char *p = (const unsigned char *)*s;
	if (p[0] != '\\') {
		*s += 1;
		return p[0];
	}
	if (p[1] >= '0' && p[1] <= '9') {
		if (p[2] < '0' || p[2] > '9' || p[3] < '0' || p[3] > '9')
			return -1;
		int v = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
		if (v > 255)
			return -1;
		*s += 4;
		return v;
	}
	if (p[1] == 0)
		return -1;
	*s += 2;
	return p[1];
}

int moon_name_from_text(const char *text, const uint8_t *origin, uint8_t out[MOON_NAME_MAXLEN])
{
	if (text[0] == '.' && text[1] == 0) {
		out[0] = 0;
		return 1;
	}
	size_t n = 0;
	bool absolute = false;
	const char *s = text;
	while (*s) {
		size_t lpos = n++;
		while (*s && *s != '.') {
			int c = text_char(&s);
			if (c < 0 || n - lpos > MOON_LABEL_MAXLEN || n >= MOON_NAME_MAXLEN - 1)
				return MOON_ESYNTAX;
			out[n++] = (uint8_t)c;
		}
		if (n - lpos == 1)
			return MOON_ESYNTAX;    /* empty label */
		out[lpos] = (uint8_t)(n - lpos - 1);
		if (*s == '.' && *++s == 0)
			absolute = true;
	}
	if (n == 0)
		return MOON_ESYNTAX;
	if (absolute) {
		out[n++] = 0;
		return (int)n;
	}
	if (!origin)
		return MOON_ESYNTAX;
	size_t olen = moon_name_len(origin);
	if (n + olen > MOON_NAME_MAXLEN)
		return MOON_ESYNTAX;
	memcpy(out + n, origin, olen);
	return (int)(n + olen);
}

/* Characters that would be read back as syntax in a zone file. */
static bool needs_escape(uint8_t c)
{
	return c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' ||
	       c == '@' || c == '$';
}

int moon_name_to_text(const uint8_t *name, char *out, size_t outlen)
{
	size_t n = 0;

	if (*name == 0) {
		if (outlen < 2)
			return MOON_ESPACE;
		out[0] = '.';
		out[1] = 0;
		return 1;
	}
	for (const uint8_t *p = name; *p; p += 1 + *p) {
		for (unsigned i = 1; i <= *p; i++) {
			uint8_t c = p[i];
			bool ddd = c <= 0x20 || c >= 0x7f;
			size_t need = ddd ? 4 : needs_escape(c) ? 2 : 1;
			/* Keep room for the label's dot and the terminator. */
			if (n + need + 2 > outlen)
				return MOON_ESPACE;
			if (ddd) {
				out[n++] = '\\';
				out[n++] = (char)('0' + c / 100);
				out[n++] = (char)('0' + c / 10 % 10);
				out[n++] = (char)('0' + c % 10);
			} else {
				if (need == 2)
					out[n++] = '\\';
				out[n++] = (char)c;
			}
		}
		if (n + 2 > outlen)
			return MOON_ESPACE;
		out[n++] = '.';
	}
	out[n] = 0;
	return (int)n;
}
