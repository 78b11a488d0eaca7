#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"
#include "util/time.h"

static enum moon_log_level max_level = MOON_LOG_INFO;

static const char *const level_names[] = { "error", "warning", "info", "debug" };
static const char *const sys_names[] = {
	"server", "net", "conf", "zone", "query", "policy", "fwd", "cache",
};

void moon_log_set_level(enum moon_log_level level)
{
	max_level = level;
}

bool moon_log_enabled(enum moon_log_level level)
{
	return level <= max_level;
}

int moon_log_level_parse(const char *name, enum moon_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum moon_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void moon_vlog(enum moon_log_level level, enum moon_log_sys sys, const char *fmt, va_list ap)
{
	if (!moon_log_enabled(level))
		return;
	char line[1024];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, now.tv_nsec / 1000000, level_names[level], sys_names[sys]);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line keeps lines from different threads whole. */
	ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
	(void)ignored;
}

void moon_log(enum moon_log_level level, enum moon_log_sys sys, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	moon_vlog(level, sys, fmt, ap);
	va_end(ap);
}

void moon_log_limited(struct moon_log_limit *site, enum moon_log_level level,
		      enum moon_log_sys sys, const char *fmt, ...)
{
	int64_t now = moon_now_ms();
	if (now - site->window_start_ms < 1000) {
		site->suppressed++;
		return;
	}
	uint32_t suppressed = site->suppressed;
	site->window_start_ms = now;
	site->suppressed = 0;
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (suppressed)
		moon_log(level, sys, "%s (and %u more like it in the last second)", msg, suppressed);
	else
		moon_log(level, sys, "%s", msg);
}
