#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/gen.h"
#include "server/zshare.h"
#include "util/err.h"
#include "util/log.h"
#include "zone/zone.h"

#define CHUNK 65536
#define DIRECTIVE "$include"
#define DLEN (sizeof(DIRECTIVE) - 1)

static bool has_directive(const char *buf, size_t len)
{
	for (const char *p = buf; (p = memchr(p, '$', len - (size_t)(p - buf))) != NULL; p++)
		if ((size_t)(buf + len - p) >= DLEN && strncasecmp(p, DIRECTIVE, DLEN) == 0)
			return true;
	return false;
}

int moon_zshare_digest_file(const char *path, uint8_t digest[MOON_ZSHARE_DIGEST],
			    bool *has_include)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	/* Room for the tail of the previous chunk, so that a directive cut in
	 * two by a chunk boundary is still seen. */
	char *buf = malloc(DLEN + CHUNK);
	int ret = 0;
	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		ret = -ENOMEM;
		goto out;
	}
	*has_include = false;
	size_t keep = 0, n;
	while ((n = fread(buf + keep, 1, CHUNK, f)) > 0) {
		EVP_DigestUpdate(ctx, buf + keep, n);
		if (!*has_include && has_directive(buf, keep + n))
			*has_include = true;
		size_t total = keep + n;
		keep = total < DLEN ? total : DLEN - 1;
		memmove(buf, buf + total - keep, keep);
	}
	if (ferror(f))
		ret = -EIO;
	unsigned len = 0;
	if (!ret && !EVP_DigestFinal_ex(ctx, digest, &len))
		ret = -EIO;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	fclose(f);
	return ret;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool moon_zshare_same_source(const struct moon_conf_zone_file *a,
			     const struct moon_conf_zone_file *b)
{
	return strcasecmp(a->origin, b->origin) == 0 && a->default_ttl == b->default_ttl &&
	       same_str(a->file, b->file) && same_str(a->text, b->text);
}

/* The zone of prev loaded from the same source, if it is still current. */
static struct moon_zshare *find(const struct moon_gen *prev, const struct moon_conf_zone_file *zf,
				bool digest_ok, const uint8_t *digest)
{
	if (!prev || (zf->file && !digest_ok))
		return NULL;
	for (size_t b = 0; b < prev->n_blocks; b++) {
		const struct moon_gen_block *blk = &prev->blocks[b];
		for (size_t i = 0; i < blk->n_zones; i++) {
			struct moon_zshare *z = blk->zones[i].share;
			if (!z || !z->zone || !moon_zshare_same_source(blk->zones[i].conf, zf))
				continue;
			if (zf->file && (!z->digest_ok ||
					 memcmp(z->digest, digest, MOON_ZSHARE_DIGEST) != 0))
				continue;
			return z;
		}
	}
	return NULL;
}

int moon_zshare_get(const struct moon_gen *prev, struct moon_gen_zone *gz, bool *reused,
		    struct moon_diag *diag)
{
	const struct moon_conf_zone_file *zf = gz->conf;
	uint8_t digest[MOON_ZSHARE_DIGEST];
	bool digest_ok = false, include = false;
	*reused = false;
	/* Hash before loading: a file rewritten meanwhile then looks changed
	 * at the next reload and is read again, never the other way round. */
	if (zf->file && moon_zshare_digest_file(zf->file, digest, &include) == 0)
		digest_ok = !include;
	struct moon_zshare *z = find(prev, zf, digest_ok, digest);
	if (z) {
		atomic_fetch_add(&z->refs, 1);
		gz->share = z;
		gz->zone = z->zone;
		*reused = true;
		return 0;
	}
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	struct moon_zone_source src = {
		.origin = zf->origin, .file = zf->file, .text = zf->text,
		.text_name = zf->where, .default_ttl = zf->default_ttl,
	};
	int ret = moon_zone_load(&src, &z->zone, diag);
	if (ret || !z->zone) {
		moon_zone_free(z->zone);
		free(z);
		gz->zone = NULL;
		return ret ? ret : MOON_ESEMANTIC;
	}
	atomic_init(&z->refs, 1);
	z->digest_ok = digest_ok;
	if (digest_ok)
		memcpy(z->digest, digest, sizeof(digest));
	gz->share = z;
	gz->zone = z->zone;
	return 0;
}

void moon_zshare_release(struct moon_zshare *z)
{
	if (z && atomic_fetch_sub(&z->refs, 1) == 1) {
		moon_zone_free(z->zone);
		free(z);
	}
}
