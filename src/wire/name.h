/*
 * Domain names in uncompressed wire format ("\3www\7example\3com\0").
 * Functions taking a `const uint8_t *name` expect a name already validated
 * (by moon_name_unpack, moon_name_from_text or the zone loader): at most
 * MOON_NAME_MAXLEN octets, labels of at most 63 octets, ending in the root
 * label. Comparisons are ASCII case-insensitive, as RFC 4343 requires.
 */
#ifndef MOON_WIRE_NAME_H
#define MOON_WIRE_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MOON_NAME_MAXLEN 255
#define MOON_LABEL_MAXLEN 63
#define MOON_NAME_MAXLABELS 127
/* Bound on compression pointers followed while reading one name. */
#define MOON_NAME_MAXPTRS 16
/* Longest presentation form: every octet as \DDD, plus dots and NUL. */
#define MOON_NAME_TEXT_MAXLEN (MOON_NAME_MAXLEN * 4 + 1)

/* ASCII lowercase of one octet. Label length octets (0..63) are left alone,
 * so a whole wire name can be lowered or compared octet by octet. */
static inline uint8_t moon_name_lower(uint8_t c)
{
	return (uint8_t)(c + ((unsigned)(c - 'A') < 26u) * 32);
}

/*
 * Reads the name at msg[*pos] (msglen bytes of message), following
 * compression pointers, into out (case kept). Pointers must point strictly
 * before the start of the label sequence that contains them (this rules out
 * loops and forward pointers) and at most MOON_NAME_MAXPTRS are followed.
 * On success returns the length of the name in out and advances *pos past
 * the name as it stands in the message; on error returns MOON_EMALF and
 * leaves *pos unchanged.
 */
int moon_name_unpack(const uint8_t *msg, size_t msglen, size_t *pos,
		     uint8_t out[MOON_NAME_MAXLEN]);

/* Length of a valid name including the root label. */
size_t moon_name_len(const uint8_t *name);
/* Number of labels, not counting the root (root = 0). */
unsigned moon_name_labels(const uint8_t *name);
/* The name without its first label; the root returns itself. */
const uint8_t *moon_name_parent(const uint8_t *name);
/* Copies name to dst in lowercase; returns its length. dst may equal name. */
size_t moon_name_tolower(uint8_t *dst, const uint8_t *name);
/* Case-insensitive equality. */
bool moon_name_equal(const uint8_t *a, const uint8_t *b);
/* True when name equals parent or lies below it (case-insensitive). */
bool moon_name_is_subdomain(const uint8_t *name, const uint8_t *parent);
/* RFC 4034 §6.1 canonical order: <0, 0, >0. */
int moon_name_cmp_canonical(const uint8_t *a, const uint8_t *b);
/* True when the first label is "*". */
bool moon_name_is_wildcard(const uint8_t *name);

/*
 * Presentation format <-> wire. from_text accepts \DDD and \X escapes;
 * a name without the trailing dot is taken relative to origin (which may be
 * NULL for "must be absolute"). Returns the wire length or MOON_ESYNTAX.
 */
int moon_name_from_text(const char *text, const uint8_t *origin, uint8_t out[MOON_NAME_MAXLEN]);
/* Writes the absolute presentation form with trailing dot; returns its
 * length or MOON_ESPACE. */
int moon_name_to_text(const uint8_t *name, char *out, size_t outlen);

#endif
