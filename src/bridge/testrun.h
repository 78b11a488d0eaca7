/*
 * `moondns test [busted options] [SPEC...]`: runs busted specs inside
 * moondns's own LuaJIT, where require("moon.test") reaches the real bridge
 * through the FFI (doc/lua-api.md, "Testing policies"). busted comes from
 * the system (Debian: lua-busted, in /usr/share/lua/5.1).
 */
#ifndef MOON_BRIDGE_TESTRUN_H
#define MOON_BRIDGE_TESTRUN_H

/* argv[0] is "test"; returns the exit code (0: every test passed). */
int moon_bridge_test_main(int argc, char **argv);

#endif
