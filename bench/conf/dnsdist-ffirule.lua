-- Appended to dnsdist-fwd.conf.in for the lua scenario (variant dnsdist+ffirule): the cheapest
-- Lua rule dnsdist offers, as ../shared/peer-bench/run-lua.sh measured it. It reads the qname
-- raw through the FFI, makes a string and looks for a substring that never occurs, so it runs
-- on every query and never drops one.
local ffi = require('ffi')
local C = ffi.C
local qn = ffi.new('const char*[1]')
local qs = ffi.new('size_t[1]')
addAction(LuaFFIRule(function(dq)
  C.dnsdist_ffi_dnsquestion_get_qname_raw(dq, qn, qs)
  local n = ffi.string(qn[0], qs[0])
  return n:find('blocked', 1, true) ~= nil
end), DropAction())
