/*
 * Scalar syntaxes of the config (internal to src/conf): durations, sizes,
 * integers, booleans, listen URIs and domain names. Each parser returns 0, or
 * MOON_ESYNTAX with a message for the operator in err (without the key path,
 * which the caller adds). They allocate nothing.
 */
#ifndef MOON_CONF_VALUE_H
#define MOON_CONF_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "wire/name.h"

#define MOON_CONF_ERRLEN 1200

/* "[-]DIGITS" within int64. */
int moon__conf_parse_int(const char *text, int64_t *out, char *err);
/* true/false, yes/no, on/off (any case). */
int moon__conf_parse_bool(const char *text, bool *out, char *err);
/* DIGITS[ms|s|m|h|d]; no unit = seconds. Result in milliseconds. */
int moon__conf_parse_duration(const char *text, uint64_t *ms, char *err);
/* DIGITS[k|K|m|M|g|G]; the suffix multiplies by 1024, 1024^2, 1024^3. */
int moon__conf_parse_size(const char *text, uint64_t *bytes, char *err);
/* "dns://ADDR[:PORT]" or "tls://ADDR[:PORT]", ADDR = IPv4 or [IPv6]; fills
 * proto, addr and addrlen (not uri). */
int moon__conf_parse_listen(const char *text, struct moon_conf_listen *out, char *err);
/* A domain name, relative names taken relative to the root; writes the
 * absolute presentation form with trailing dot into out. */
int moon__conf_parse_dname(const char *text, char out[MOON_NAME_TEXT_MAXLEN], char *err);

/* Formats ms as the shortest exact duration ("1500ms", "10s", "2m"). */
void moon__conf_format_duration(uint64_t ms, char *out, size_t outlen);
/* Formats bytes as "128k", "1M" when exact, else the plain number. */
void moon__conf_format_size(uint64_t bytes, char *out, size_t outlen);

/* Same (proto, address, port). */
bool moon__conf_listen_equal(const struct moon_conf_listen *a, const struct moon_conf_listen *b);
/* Same address and port, whatever the protocol. */
bool moon__conf_listen_same_port(const struct moon_conf_listen *a,
				 const struct moon_conf_listen *b);

#endif
