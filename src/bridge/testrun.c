#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>

#include "bridge/embed.h"
#include "bridge/ffi_api.h"
#include "bridge/testrun.h"

/* busted's runner exits by itself when a test fails; when all pass it
 * returns here. Its chunk name decides what it calls itself in messages. */
static const char runner[] =
	"local ok, run = pcall(require, 'busted.runner')\n"
	"if not ok then\n"
	"  io.stderr:write('moondns test: busted is not installed (Debian: apt-get install"
	" lua-busted)\\n', tostring(run), '\\n')\n"
	"  os.exit(2)\n"
	"end\n"
	"run({ standalone = false })\n";

/* Libraries, embedded modules, `arg`, then busted. Stack: [argc, argv]. */
static int setup(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = lua_touserdata(L, 2);
	luaL_openlibs(L);
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "preload");
	for (const struct moon_lua_module *m = moon__lua_modules; m->name; m++) {
		if (luaL_loadbuffer(L, m->src, m->len, m->chunk) != 0)
			return lua_error(L);
		lua_setfield(L, -2, m->name);
	}
	lua_pop(L, 2);
	/* moon.test checks it against its declarations; referencing it also
	 * links every FFI function in. */
	lua_pushinteger(L, (lua_Integer)moon__ffi_nsyms);
	lua_setfield(L, LUA_REGISTRYINDEX, "moon.ffi_nsyms");
	lua_createtable(L, argc, 1);
	lua_pushliteral(L, "moondns test");
	lua_rawseti(L, -2, 0);
	for (int i = 1; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i);
	}
	lua_setglobal(L, "arg");
	if (luaL_loadbuffer(L, runner, sizeof(runner) - 1, "=moondns test") != 0)
		return lua_error(L);
	lua_call(L, 0, 0);
	return 0;
}

static int with_traceback(lua_State *L)
{
	luaL_traceback(L, L, lua_tostring(L, 1), 1);
	return 1;
}

int moon_bridge_test_main(int argc, char **argv)
{
	lua_State *L = luaL_newstate();
	if (!L) {
		fprintf(stderr, "moondns test: out of memory\n");
		return 2;
	}
	lua_pushcfunction(L, with_traceback);
	lua_pushcfunction(L, setup);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	int code = 0;
	if (lua_pcall(L, 2, 0, 1) != 0) {
		const char *msg = lua_tostring(L, -1);
		fprintf(stderr, "moondns test: %s\n", msg ? msg : "error");
		code = 1;
	}
	lua_close(L);
	return code;
}
