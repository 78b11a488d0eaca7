-- moon.regex(pattern [, flags]): PCRE2 regular expressions for policies,
-- compiled once (JIT where available) and matched without allocation
-- besides the capture strings. A match is bounded in C (PCRE2's match and
-- depth limits): past them it raises an error rather than run on.

local ffi = require("ffi")

local C = ffi.C
local M = {}

local Re = {}
local ReMT = { __index = Re, __metatable = false }
local errbuf = ffi.new("char[256]")
local groupbuf = ffi.new("int[1]")

-- Compiles pattern; flags is a string of i (caseless), m (multiline),
-- s (dot matches newline), x (extended). Compile errors raise
-- "moon.regex: <message> at offset N".
function M.regex(pattern, flags)
	if type(pattern) ~= "string" then
		error("moon.regex(pattern [, flags]): pattern is a string", 2)
	end
	if flags ~= nil and type(flags) ~= "string" then
		error("moon.regex: flags is a string such as \"i\"", 2)
	end
	local h = C.moon_ffi_re_new(pattern, #pattern, flags, errbuf, 256)
	if h == nil then
		error("moon.regex: " .. ffi.string(errbuf), 2)
	end
	h = ffi.gc(h, C.moon_ffi_re_free)
	local groups = C.moon_ffi_re_groups(h)
	local names = {}
	local i = 0
	while true do
		local name = C.moon_ffi_re_name(h, i, groupbuf)
		if name == nil then
			break
		end
		names[ffi.string(name)] = groupbuf[0]
		i = i + 1
	end
	return setmetatable({
		_h = h, _ov = ffi.new("int32_t[?]", 2 * (groups + 1)),
		groups = groups, names = names, pattern = pattern,
	}, ReMT)
end

-- Runs the match; returns false (no match) or true with the offsets in _ov.
local function run(self, s, init, level)
	if type(s) ~= "string" then
		error("moon.regex: the subject is a string", level + 1)
	end
	local start = (init or 1) - 1
	if start < 0 or start > #s then
		return false
	end
	local n = C.moon_ffi_re_match(self._h, s, #s, start, self._ov, self.groups + 1)
	if n == 0 then
		return false
	end
	if n < 0 then
		error("moon.regex: the match limit stopped " .. string.format("%q", self.pattern),
			level + 1)
	end
	return true
end

local function group(self, s, g)
	local a, b = self._ov[2 * g], self._ov[2 * g + 1]
	if a < 0 then
		return false
	end
	return s:sub(a + 1, b)
end

local function captures(self, s, g)
	if g > self.groups then
		return
	end
	return group(self, s, g), captures(self, s, g + 1)
end

-- re:match(s [, init]): nil without a match; else the captures 1..n
-- (false for a group that did not take part), or the whole match when the
-- pattern has no group, like string.match.
function Re:match(s, init)
	if not run(self, s, init, 2) then
		return nil
	end
	if self.groups == 0 then
		return group(self, s, 0)
	end
	return captures(self, s, 1)
end

-- re:captures(s): nil without a match; else a table of the captures 1..n
-- (false for a group that did not take part; empty without groups).
function Re:captures(s)
	if not run(self, s, nil, 2) then
		return nil
	end
	return { captures(self, s, 1) }
end

-- re:find(s [, init]): nil, or the start and end of the match (1-based,
-- inclusive) followed by the captures, like string.find.
function Re:find(s, init)
	if not run(self, s, init, 2) then
		return nil
	end
	return self._ov[0] + 1, self._ov[1], captures(self, s, 1)
end

-- re:test(s): whether s matches (no strings made).
function Re:test(s)
	return run(self, s, nil, 2)
end

-- re:named(s): a table name -> capture of the named groups, or nil.
function Re:named(s)
	if not run(self, s, nil, 2) then
		return nil
	end
	local t = {}
	for name, g in pairs(self.names) do
		t[name] = group(self, s, g)
	end
	return t
end

return M
