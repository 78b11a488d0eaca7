/*
 * moon.regex: PCRE2 patterns for policies, compiled once (with the JIT when
 * the platform has it) and matched without allocation: each compiled
 * pattern owns its match data, and a pattern belongs to one Lua state, so
 * one thread. A match is bounded (match and depth limits) because matching
 * runs in C, where the time budget's count hook cannot reach.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/ffi_api.h"
#include "util/err.h"

/* About a millisecond of backtracking at most. */
#define MATCH_LIMIT 100000
#define DEPTH_LIMIT 10000

struct moon_regex {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	int groups;
};

void moon_ffi_re_free(struct moon_regex *re)
{
	if (!re)
		return;
	pcre2_match_context_free(re->mc);
	pcre2_match_data_free(re->md);
	pcre2_code_free(re->code);
	free(re);
}

static int options_of(const char *flags, char *err, size_t errlen)
{
	int opt = 0;
	for (const char *f = flags ? flags : ""; *f; f++) {
		switch (*f) {
		case 'i': opt |= PCRE2_CASELESS; break;
		case 'm': opt |= PCRE2_MULTILINE; break;
		case 's': opt |= PCRE2_DOTALL; break;
		case 'x': opt |= PCRE2_EXTENDED; break;
		default:
			snprintf(err, errlen, "unknown flag '%c' (i, m, s, x)", *f);
			return -1;
		}
	}
	return opt;
}

struct moon_regex *moon_ffi_re_new(const char *pattern, size_t len, const char *flags,
				   char *err, size_t errlen)
{
	int opt = options_of(flags, err, errlen);
	if (opt < 0)
		return NULL;
	struct moon_regex *re = calloc(1, sizeof(*re));
	if (!re) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int code;
	PCRE2_SIZE off;
	re->code = pcre2_compile((PCRE2_SPTR)pattern, len, (uint32_t)opt, &code, &off, NULL);
	if (!re->code) {
		char msg[256];
		pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
		snprintf(err, errlen, "%s at offset %zu", msg, (size_t)off);
		moon_ffi_re_free(re);
		return NULL;
	}
	/* Without a JIT (some platforms) the interpreter matches the same. */
	pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
	uint32_t groups = 0;
	pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
	re->groups = (int)groups;
	re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
	re->mc = pcre2_match_context_create(NULL);
	if (!re->md || !re->mc) {
		snprintf(err, errlen, "out of memory");
		moon_ffi_re_free(re);
		return NULL;
	}
	pcre2_set_match_limit(re->mc, MATCH_LIMIT);
	pcre2_set_depth_limit(re->mc, DEPTH_LIMIT);
	return re;
}

int moon_ffi_re_groups(struct moon_regex *re)
{
	return re->groups;
}

const char *moon_ffi_re_name(struct moon_regex *re, int i, int *group)
{
	uint32_t count = 0, size = 0;
	PCRE2_SPTR table;
	pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &count);
	if (i < 0 || (uint32_t)i >= count)
		return NULL;
	pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &table);
	const uint8_t *e = table + (size_t)i * size;
	*group = e[0] << 8 | e[1];
	return (const char *)e + 2;
}

int moon_ffi_re_match(struct moon_regex *re, const char *subject, size_t len, size_t start,
		      int32_t *ov, int pairs)
{
	int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, start, 0, re->md, re->mc);
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT)
		return MOON_ELIMIT;
	if (rc < 0)
		return -EINVAL;
	const PCRE2_SIZE *v = pcre2_get_ovector_pointer(re->md);
	int n = re->groups + 1 < pairs ? re->groups + 1 : pairs;
	for (int i = 0; i < n; i++) {
		bool set = i < rc && v[2 * i] != PCRE2_UNSET;
		ov[2 * i] = set ? (int32_t)v[2 * i] : -1;
		ov[2 * i + 1] = set ? (int32_t)v[2 * i + 1] : -1;
	}
	return n;
}
