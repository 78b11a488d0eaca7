#include "query/query.h"

const char *moon_stage_name(enum moon_stage stage)
{
	static const char *const names[] = {
		[MOON_STAGE_QUERY] = "query", [MOON_STAGE_CACHE] = "cache",
		[MOON_STAGE_SOURCES] = "sources", [MOON_STAGE_RESPONSE] = "response",
		[MOON_STAGE_SEND] = "send", [MOON_STAGE_LOG] = "log", [MOON_STAGE_DONE] = "done",
	};
	return (unsigned)stage <= MOON_STAGE_DONE ? names[stage] : "?";
}

const char *moon_source_name(enum moon_source source)
{
	static const char *const names[] = {
		[MOON_SOURCE_NONE] = "server", [MOON_SOURCE_ZONE] = "zone",
		[MOON_SOURCE_CACHE] = "cache", [MOON_SOURCE_FORWARD] = "forward",
		[MOON_SOURCE_POLICY] = "policy", [MOON_SOURCE_CHAOS] = "chaos",
	};
	return (unsigned)source <= MOON_SOURCE_CHAOS ? names[source] : "?";
}
