/*
 * Zones shared between generations. A reload keeps every zone whose source
 * did not change: the new generation takes a reference to the zone object
 * of the running one instead of parsing the file again, so a reload that
 * changes one zone file re-parses that zone alone.
 *
 * A zone is kept when the new config names it the same way (origin,
 * default_ttl, and the same file path or the same inline text) and, for a
 * file, its content has the same SHA-256 as when the kept zone was loaded.
 * A file that uses $INCLUDE is always re-read: the included files are not
 * tracked.
 *
 * Ownership: each generation holds one reference per zone_files entry
 * (moon_gen_zone.share); the last release frees the zone. Any thread may
 * release; moon_zshare_get runs on the control thread (or in `check`).
 */
#ifndef MOON_SERVER_ZSHARE_H
#define MOON_SERVER_ZSHARE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "util/diag.h"

struct moon_gen;
struct moon_gen_zone;
struct moon_zone;

#define MOON_ZSHARE_DIGEST 32

struct moon_zshare {
	_Atomic unsigned refs;
	struct moon_zone *zone;
	bool digest_ok;                  /* a file without $INCLUDE, hashed before loading */
	uint8_t digest[MOON_ZSHARE_DIGEST];
};

/*
 * Hashes a file's content (SHA-256). *has_include tells whether it contains
 * a $INCLUDE directive (any case). Returns 0 or -errno.
 */
int moon_zshare_digest_file(const char *path, uint8_t digest[MOON_ZSHARE_DIGEST],
			    bool *has_include);

/* Whether two zone_files entries name the same data, the file's content
 * aside (origin without regard to case, default_ttl, file path or inline
 * text). */
bool moon_zshare_same_source(const struct moon_conf_zone_file *a,
			     const struct moon_conf_zone_file *b);

/*
 * Sets gz->share and gz->zone for gz->conf: a reference to the matching zone
 * of prev when its source is unchanged (*reused = true), else a freshly
 * loaded zone (errors in diag, as moon_zone_load). prev may be NULL.
 * Returns 0 or the error of moon_zone_load (gz->zone stays NULL).
 */
int moon_zshare_get(const struct moon_gen *prev, struct moon_gen_zone *gz, bool *reused,
		    struct moon_diag *diag);

/* Drops one reference; the last frees the zone. NULL is a no-op. */
void moon_zshare_release(struct moon_zshare *z);

#endif
