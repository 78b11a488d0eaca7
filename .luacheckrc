-- luacheck (Debian lua-check): `luacheck lua policies t/lua` from the top
-- of the tree. LuaJIT everywhere; policies and their fixtures see the
-- read-only global `moon` (doc/lua-api.md); specs run under busted.
std = "luajit"
max_line_length = 100

files["policies"] = { read_globals = { "moon" } }
files["t/lua"] = { std = "+busted" }
files["t/lua/fixtures"] = { read_globals = { "moon" }, globals = { "OPTS" } }
