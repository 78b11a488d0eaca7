/*
 * The allocator of every bridge Lua state: the C library's, with a byte
 * count and a cap. An allocation that would take the state above its cap
 * fails, which LuaJIT turns into a "not enough memory" error inside the
 * running pcall: the policy's hook fails (on_error), the server does not.
 * Shrinking and freeing always succeed.
 *
 * What the cap covers: everything LuaJIT allocates through the allocator
 * (strings, tables, functions, coroutines, cdata from ffi.new, the JIT's
 * IR and trace data). Not covered: machine code of compiled traces (LuaJIT
 * maps it itself; jit.opt maxmcode bounds it, 512 KiB by default) and
 * memory C code allocates for the state (the bridge's own buffers).
 *
 * Threads: one allocator per state, used by the thread running the state.
 */
#ifndef MOON_BRIDGE_ALLOC_H
#define MOON_BRIDGE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

struct moon_lalloc {
	size_t used;                    /* bytes held now */
	size_t limit;                   /* cap on used */
	size_t peak;
	uint64_t denied;                /* allocations refused by the cap */
};

/* The lua_Alloc function; ud is a struct moon_lalloc. */
void *moon_lalloc(void *ud, void *ptr, size_t osize, size_t nsize);

#endif
