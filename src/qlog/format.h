/*
 * Query-log line formats: CoreDNS's `log` plugin formats ({common},
 * {combined}, custom strings with placeholders) and a JSON format.
 *
 * A format is compiled once (config load) into a list of nodes; rendering
 * a query walks that list into a caller's buffer with no allocation, on
 * the worker thread that ran the query.
 *
 * Placeholders (as CoreDNS; "-" when a value does not exist, e.g. {rcode}
 * of a dropped query or {/meta} that no policy set):
 *   {type} {name} {class} {proto} {size} {remote} {port} {local}
 *   {>id} {>opcode} {>do} {>bufsize} {rcode} {rsize} {duration} {>rflags}
 *   {/LABEL}    metadata value LABEL (e.g. {/metadata_edns0/secret})
 *   {common}    {remote}:{port} - {>id} "{type} {class} {name} {proto}
 *               {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}
 *   {combined}  {common} "{>opcode}"
 * and one moondns extension, {server} (the server block's name). Any other
 * {...} is copied literally, as CoreDNS does. {common} and {combined} may
 * be mixed with other text (CoreDNS allows them only alone).
 *
 * Every text line starts with the time and level the way CoreDNS's logger
 * writes them ("2024-05-01T10:00:00.123Z [INFO] "), so that parsers written
 * for CoreDNS query logs read ours unchanged.
 *
 * Values a client controls (the name, metadata copied from EDNS options)
 * are escaped: names use the DNS presentation escapes (\DDD for bytes
 * outside printable ASCII, so no line break can be injected), metadata
 * bytes outside printable ASCII and the backslash become \DDD in text
 * lines, and JSON strings use JSON escapes.
 */
#ifndef MOON_QLOG_FORMAT_H
#define MOON_QLOG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* What the query log knows about one query, filled after the reply was
 * sent (or dropped). Pointers are valid for the duration of the call. */
struct moon_qlog_entry {
	int64_t when_ms;                 /* wall clock (CLOCK_REALTIME), ms since the epoch */
	const struct sockaddr *client;
	const struct sockaddr *local;    /* the address the query came to; may be NULL */
	bool tcp;
	uint16_t id;
	uint8_t opcode;
	const uint8_t *qname;            /* wire form; NULL when there was no question */
	uint16_t qtype;
	uint16_t qclass;
	uint32_t size;                   /* request bytes */
	bool do_bit;
	uint16_t bufsize;                /* UDP: max(512, EDNS payload); TCP: 65535 */
	bool replied;                    /* false: no reply was sent */
	uint16_t rcode;                  /* extended codes included */
	uint16_t rflags;                 /* the reply's header flags word */
	uint16_t ancount;
	uint16_t nscount;
	uint32_t rsize;
	const uint8_t *resp;             /* the reply (rsize bytes), for classifying; may be NULL */
	uint64_t duration_ns;
	const char *server;              /* block name, or NULL */
	/* {/LABEL}: returns the value of metadata `key` (len bytes) or NULL;
	 * *vlen is set to its length. NULL callback: no metadata. */
	const char *(*meta)(void *arg, const char *key, size_t klen, size_t *vlen);
	void *meta_arg;
};

struct moon_qlog_format;

/*
 * Compiles a format: "common", "combined", "json", or a custom string
 * containing at least one '{' (a CoreDNS format, e.g. "{proto} {name}").
 * json_meta (may be NULL, n_meta entries) lists metadata keys the JSON
 * format adds under "meta". Returns 0, MOON_ESYNTAX (a name that is neither
 * a known format nor a string with placeholders) or -ENOMEM.
 */
int moon_qlog_format_new(const char *spec, const char *const *json_meta, size_t n_meta,
			 struct moon_qlog_format **out);
void moon_qlog_format_free(struct moon_qlog_format *f);
bool moon_qlog_format_is_json(const struct moon_qlog_format *f);

/* Longest line rendered; longer ones are cut (and end in "..."). */
#define MOON_QLOG_LINE_MAX 4096

/*
 * Renders e as one line ending in '\n' into buf (at least
 * MOON_QLOG_LINE_MAX bytes). Returns the length. `stamp` caches the
 * formatted current second between calls of one thread (zero it once).
 */
struct moon_qlog_stamp {
	int64_t sec;
	char text[24];                   /* "2024-05-01T10:00:00" */
};
size_t moon_qlog_render(const struct moon_qlog_format *f, const struct moon_qlog_entry *e,
			struct moon_qlog_stamp *stamp, char *buf);

/* Classes of responses (filters), as CoreDNS's `class` option. */
enum moon_qlog_class {
	MOON_QLOG_SUCCESS = 1,           /* NOERROR with data, or a referral */
	MOON_QLOG_DENIAL = 2,            /* NXDOMAIN, or NOERROR without data (NODATA) */
	MOON_QLOG_ERROR = 4,             /* every other rcode, and queries not answered */
	MOON_QLOG_ALL = 7,
};
enum moon_qlog_class moon_qlog_classify(const struct moon_qlog_entry *e);
/* Parses "all", "success", "denial", "error"; returns the bits or 0. */
unsigned moon_qlog_class_parse(const char *name);

#endif
