/*
 * The query log: asynchronous, bounded, never in the way of a query.
 *
 * Each worker thread renders its log lines itself (format.h) and pushes
 * them into its own ring (ring.h); one writer thread drains every ring
 * and writes the lines to their sinks (stderr, stdout or a file) in large
 * writes. When a ring is full, because the sink is slow or blocked, the
 * line is dropped and counted (moon_qlog_stats): the query thread never
 * waits, never locks, never allocates.
 *
 * A rule says what one server block logs: its format, the response classes
 * (all, success, denial, error), optional name suffixes (only queries at
 * or below one of them), and its sink. Rules are built on the control
 * thread (config load / reload) and are immutable; any worker may use one.
 *
 * Ownership: the process has one struct moon_qlog, created before the
 * workers start and freed after they stopped. Sinks are opened once and
 * kept until moon_qlog_free (a reload that names the same file reuses it;
 * at most MOON_QLOG_MAX_SINKS distinct ones). Rules hold no reference to
 * sinks beyond their index.
 */
#ifndef MOON_QLOG_QLOG_H
#define MOON_QLOG_QLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qlog/format.h"

#define MOON_QLOG_MAX_SINKS 16
/* Ring bytes per worker when the caller passes 0. */
#define MOON_QLOG_RING_DEFAULT (1u << 20)

struct moon_qlog;
struct moon_qlog_rule;

/* Creates the log for nworkers producer threads (worker ids 0..n-1) with
 * rings of ring_bytes each (0 = default) and starts the writer thread.
 * Returns 0 or a negative error. */
int moon_qlog_new(unsigned nworkers, size_t ring_bytes, struct moon_qlog **out);
/* Writes everything still queued, stops the writer, closes the sinks.
 * NULL is a no-op. The workers must have stopped. */
void moon_qlog_free(struct moon_qlog *ql);

/* What a rule is built from (a server block's query_log config). */
struct moon_qlog_rule_conf {
	const char *format;              /* "common", "combined", "json" or a custom string */
	unsigned classes;                /* enum moon_qlog_class bits; 0 = all */
	const char *to;                  /* "stderr", "stdout" or a file path; NULL = stdout */
	const char *const *names;        /* absolute domain names (text); NULL = every name */
	size_t n_names;
	const char *const *json_meta;    /* metadata keys of the JSON format */
	size_t n_json_meta;
};

/*
 * Builds a rule, opening its sink if it is new (files are opened for
 * appending, created 0640). Control thread. Returns 0, MOON_ESYNTAX (bad
 * format or name; *why says which), MOON_ELIMIT (too many sinks) or
 * -errno (the file cannot be opened).
 */
int moon_qlog_rule_new(struct moon_qlog *ql, const struct moon_qlog_rule_conf *c,
		       struct moon_qlog_rule **out, const char **why);
void moon_qlog_rule_free(struct moon_qlog_rule *r);

/*
 * Logs one query if the rule's filters take it (worker thread `worker`).
 * qname_lc in e (lowercase wire form) is what name filters match.
 * Returns true when a line was queued, false when filtered out or dropped.
 */
bool moon_qlog_log(struct moon_qlog *ql, unsigned worker, const struct moon_qlog_rule *r,
		   const struct moon_qlog_entry *e);

/* Blocks until every line queued before the call has been written (tests,
 * shutdown). Any thread but a worker's. */
void moon_qlog_flush(struct moon_qlog *ql);

/* Asks the writer to reopen file sinks (after log rotation). Any thread. */
void moon_qlog_reopen(struct moon_qlog *ql);

struct moon_qlog_stats {
	uint64_t queued;                 /* lines pushed by the workers */
	uint64_t dropped;                /* lines lost because a ring was full */
	uint64_t written;                /* lines handed to the sinks */
	uint64_t write_errors;           /* failed writes (their lines are lost) */
};
/* Sums the counters (any thread; values may be a moment old). */
void moon_qlog_stats(struct moon_qlog *ql, struct moon_qlog_stats *st);

#endif
