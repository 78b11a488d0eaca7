#include <stdlib.h>

#include "util/assert.h"
#include "util/log.h"

void moon__require_failed(const char *expr, const char *file, int line)
{
	moon_log(MOON_LOG_ERR, MOON_SYS_SERVER, "internal error: %s at %s:%d", expr, file, line);
	abort();
}

bool moon__check_failed(const char *expr, const char *file, int line)
{
	MOON_LOG_RATELIMITED(MOON_LOG_ERR, SERVER, "check failed: %s at %s:%d", expr, file, line);
	return false;
}
