/*
 * moon.shared(name): key/value dictionaries shared by every worker of the
 * process, for the life of the process (a reload keeps them, so rate-limit
 * windows and caches survive it). Keys are byte strings, values byte
 * strings or numbers (doubles), each with an optional time to live.
 *
 * A dictionary holds at most max_bytes (entries with their keys, values and
 * overhead); storing past that evicts expired entries first, then the least
 * recently used ones. It is split into stripes, each with its own lock,
 * chosen by a keyed hash of the key (SipHash with a random key per
 * dictionary, so clients cannot aim many keys at one chain).
 *
 * Threads: every function may be called from any thread at any time.
 * Dictionaries are never freed.
 */
#ifndef MOON_BRIDGE_SHARED_H
#define MOON_BRIDGE_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MOON_SHARED_DEFAULT_BYTES (16u << 20)
#define MOON_SHARED_MAX_KEY 1024
#define MOON_SHARED_MAX_VALUE 65536
#define MOON_SHARED_MAX_NAME 64

struct moon_shared_dict;

/* The dictionary called name, created with max_bytes (0 = default) if it
 * does not exist; a later open with another size keeps the first. NULL for
 * a bad name (empty or longer than MOON_SHARED_MAX_NAME) or out of memory. */
struct moon_shared_dict *moon_shared_open(const char *name, size_t len, size_t max_bytes);

struct moon_shared_value {
	bool is_num;
	double num;
	size_t len;                     /* of the string value (copied to the caller's buffer) */
};

/* Copies the value of key into out (cap bytes). Returns 0, MOON_ENOTFOUND
 * (absent or expired), MOON_ESPACE (string longer than cap; v->len set). */
int moon_shared_get(struct moon_shared_dict *d, const void *key, size_t klen, void *out,
		    size_t cap, struct moon_shared_value *v);
/* Stores a string (val) or, when val is NULL, the number num. ttl_ms 0 =
 * no expiry. only_new: do nothing and return 1 if the key exists. Returns
 * 0, 1, -EINVAL (key empty or too long, value too long), MOON_ELIMIT (the
 * entry is larger than the whole dictionary) or -ENOMEM. */
int moon_shared_set(struct moon_shared_dict *d, const void *key, size_t klen, const void *val,
		    size_t vlen, double num, int64_t ttl_ms, bool only_new);
/* Adds delta to the number at key; an absent key starts at init (and gets
 * ttl_ms; an existing key keeps its expiry). -EINVAL if the value is a
 * string. *out receives the new value. */
int moon_shared_incr(struct moon_shared_dict *d, const void *key, size_t klen, double delta,
		     double init, int64_t ttl_ms, double *out);
int moon_shared_delete(struct moon_shared_dict *d, const void *key, size_t klen);
/* Milliseconds left, -1 without expiry, MOON_ENOTFOUND. */
int64_t moon_shared_ttl(struct moon_shared_dict *d, const void *key, size_t klen);
size_t moon_shared_count(struct moon_shared_dict *d);
void moon_shared_flush(struct moon_shared_dict *d);

#endif
