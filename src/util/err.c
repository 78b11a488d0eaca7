#include <string.h>

#include "util/err.h"

const char *moon_strerror(int err)
{
	switch (err) {
	case MOON_EOK: return "success";
	case MOON_EMALF: return "malformed data";
	case MOON_ESPACE: return "not enough space";
	case MOON_ELIMIT: return "limit exceeded";
	case MOON_ENOTFOUND: return "not found";
	case MOON_ESYNTAX: return "syntax error";
	case MOON_ESEMANTIC: return "semantic error";
	case MOON_EPENDING: return "pending";
	}
	if (err < 0 && err > MOON_EBASE)
		return strerror(-err);
	return "unknown error";
}
