/*
 * Mnemonics of DNS types, classes and response codes, as logs and metrics
 * print them (the same spellings as CoreDNS / miekg/dns, so that existing
 * log parsers and dashboards match). Pure functions, any thread.
 */
#ifndef MOON_QLOG_NAMES_H
#define MOON_QLOG_NAMES_H

#include <stdint.h>

/* "AAAA", or NULL for a type without a mnemonic here. */
const char *moon_dns_type_mnemonic(uint16_t type);
/* "AAAA" or "TYPE65000" (written into buf). */
const char *moon_dns_type_name(uint16_t type, char buf[16]);
/* "IN", "CH", "HS", "NONE", "ANY" or "CLASS7" (written into buf). */
const char *moon_dns_class_name(uint16_t cls, char buf[16]);
/* "NOERROR", ..., "BADCOOKIE", or NULL for codes without a name. */
const char *moon_dns_rcode_mnemonic(uint16_t rcode);

#endif
