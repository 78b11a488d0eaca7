#include <stdlib.h>

#include "bridge/alloc.h"

/* LuaJIT passes the exact old size for every realloc and free (it keeps the
 * sizes for its own GC accounting), so the count stays exact without a
 * header per block. */
void *moon_lalloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct moon_lalloc *a = ud;
	if (!ptr)
		osize = 0;
	if (nsize == 0) {
		free(ptr);
		a->used -= osize;
		return NULL;
	}
	if (nsize > osize && a->used - osize + nsize > a->limit) {
		a->denied++;
		return NULL;
	}
	void *p = realloc(ptr, nsize);
	if (!p)
		return NULL;
	a->used = a->used - osize + nsize;
	if (a->used > a->peak)
		a->peak = a->used;
	return p;
}
