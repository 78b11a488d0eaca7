/*
 * Server log: one line per event on stderr, with a level and a subsystem.
 * Thread-safe (one write(2) per line). Per-query lines carry the query id;
 * zone lines the zone name. MOON_LOG_RATELIMITED consolidates repeats of the
 * same call site so that an error storm prints a count, not a flood.
 */
#ifndef MOON_UTIL_LOG_H
#define MOON_UTIL_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum moon_log_level { MOON_LOG_ERR, MOON_LOG_WARN, MOON_LOG_INFO, MOON_LOG_DEBUG };

/* Subsystem groups, printed in each line. */
enum moon_log_sys {
	MOON_SYS_SERVER, MOON_SYS_NET, MOON_SYS_CONF, MOON_SYS_ZONE,
	MOON_SYS_QUERY, MOON_SYS_POLICY, MOON_SYS_FWD, MOON_SYS_CACHE,
};

/* Lines above this level are not printed. Default MOON_LOG_INFO. */
void moon_log_set_level(enum moon_log_level level);
/* Parses "error", "warning", "info", "debug"; returns -EINVAL otherwise. */
int moon_log_level_parse(const char *name, enum moon_log_level *out);
bool moon_log_enabled(enum moon_log_level level);

void moon_log(enum moon_log_level level, enum moon_log_sys sys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void moon_vlog(enum moon_log_level level, enum moon_log_sys sys, const char *fmt, va_list ap);

/* State of one rate-limited call site; zero-initialise it (static storage). */
struct moon_log_limit {
	int64_t window_start_ms;
	uint32_t suppressed;
};

/* Prints at most one line per site per second; the next printed line says how
 * many were suppressed. Safe from several threads (counts may be approximate). */
void moon_log_limited(struct moon_log_limit *site, enum moon_log_level level,
		      enum moon_log_sys sys, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define moon_err(sys, ...)   moon_log(MOON_LOG_ERR, MOON_SYS_##sys, __VA_ARGS__)
#define moon_warn(sys, ...)  moon_log(MOON_LOG_WARN, MOON_SYS_##sys, __VA_ARGS__)
#define moon_info(sys, ...)  moon_log(MOON_LOG_INFO, MOON_SYS_##sys, __VA_ARGS__)
#define moon_debug(sys, ...) do { if (moon_log_enabled(MOON_LOG_DEBUG)) \
	moon_log(MOON_LOG_DEBUG, MOON_SYS_##sys, __VA_ARGS__); } while (0)

#define MOON_LOG_RATELIMITED(level, sys, ...) do { \
	static struct moon_log_limit moon__site_; \
	moon_log_limited(&moon__site_, level, MOON_SYS_##sys, __VA_ARGS__); } while (0)

#endif
