-- The `moon` module: what policies use besides q and r (doc/lua-api.md).
-- Policies get it as the global `moon` (or require("moon")), read-only.

local ffi = require("ffi")
local consts = require("moon.consts")
local core = require("moon.core")

local C = ffi.C
local M = {}

M.version = "1"
M.type = consts.type
M.rcode = consts.rcode
M.ede = consts.ede

local function errmsg(n)
	return ffi.string(C.moon_ffi_strerror(n))
end

-- moon.now(): seconds on a monotonic clock, with sub-millisecond precision.
function M.now()
	return C.moon_ffi_now()
end

-- moon.log.err / warn / info / debug(fmt, ...): a line in the server log,
-- prefixed with the policy and server names; at most 100 lines per second
-- per policy and worker.
local function logger(level)
	return function(fmt, ...)
		local msg
		if select("#", ...) > 0 then
			msg = string.format(fmt, ...)
		else
			msg = tostring(fmt)
		end
		C.moon_ffi_log(core.req(), level, msg, #msg)
	end
end

M.log = { err = logger(0), warn = logger(1), info = logger(2), debug = logger(3) }

-- moon.shared(name [, max_bytes]) ------------------------------------------

local Dict = {}
local DictMT = { __index = Dict, __metatable = false }
local numbuf = ffi.new("double[1]")

local function key_of(k, level)
	local t = type(k)
	if t == "number" then
		return tostring(k)
	end
	if t ~= "string" or #k == 0 then
		error("shared dictionary keys are non-empty strings or numbers", level + 1)
	end
	return k
end

local function ttl_of(ttl, level)
	if ttl == nil then
		return 0
	end
	if type(ttl) ~= "number" or ttl < 0 then
		error("ttl is a number of seconds", level + 1)
	end
	return ttl
end

function M.shared(name, max_bytes)
	if type(name) ~= "string" or #name == 0 or #name > 64 then
		error("moon.shared(name): a name of 1 to 64 bytes", 2)
	end
	local d = C.moon_ffi_shared_open(name, #name, max_bytes or 0)
	if d == nil then
		error("moon.shared: cannot create '" .. name .. "'", 2)
	end
	return setmetatable({ _d = d, name = name }, DictMT)
end

function Dict:get(k)
	k = key_of(k, 2)
	local n = C.moon_ffi_shared_get(core.req(), self._d, k, #k, numbuf)
	if n == -1 then
		return nil
	end
	if n == -2 then
		return numbuf[0]
	end
	if n < 0 then
		error(errmsg(n), 2)
	end
	return ffi.string(core.req().buf_, n)
end

local function store(self, k, v, ttl, only_new)
	k = key_of(k, 3)
	ttl = ttl_of(ttl, 3)
	local n
	local tv = type(v)
	if tv == "number" then
		n = C.moon_ffi_shared_set(self._d, k, #k, nil, 0, v, ttl, only_new)
	elseif tv == "string" then
		n = C.moon_ffi_shared_set(self._d, k, #k, v, #v, 0, ttl, only_new)
	elseif tv == "boolean" then
		error("shared dictionary values are strings or numbers (store booleans as 1/0)", 3)
	else
		error("shared dictionary values are strings or numbers, not " .. tv, 3)
	end
	if n < 0 then
		error("shared dictionary " .. self.name .. ": " .. errmsg(n), 3)
	end
	return n
end

-- d:set(key, value [, ttl]): value nil deletes.
function Dict:set(k, v, ttl)
	if v == nil then
		return self:delete(k)
	end
	store(self, k, v, ttl, false)
	return true
end

-- d:add(key, value [, ttl]): stores only if absent; true when stored.
function Dict:add(k, v, ttl)
	return store(self, k, v, ttl, true) == 0
end

-- d:incr(key [, delta [, init [, ttl]]]): the new number. An absent key
-- starts at init (default 0) and gets ttl; an existing key keeps its expiry.
function Dict:incr(k, delta, init, ttl)
	k = key_of(k, 2)
	delta = delta or 1
	init = init or 0
	if type(delta) ~= "number" or type(init) ~= "number" then
		error("d:incr(key, delta, init, ttl): delta and init are numbers", 2)
	end
	local n = C.moon_ffi_shared_incr(self._d, k, #k, delta, init, ttl_of(ttl, 2), numbuf)
	if n == C.MOON_FFI_EINVAL then
		error("shared dictionary " .. self.name .. ": the value of '" .. k
			.. "' is not a number", 2)
	end
	if n < 0 then
		error("shared dictionary " .. self.name .. ": " .. errmsg(n), 2)
	end
	return numbuf[0]
end

function Dict:delete(k)
	k = key_of(k, 2)
	C.moon_ffi_shared_delete(self._d, k, #k)
	return true
end

-- d:ttl(key): seconds left, -1 without expiry, nil when absent.
function Dict:ttl(k)
	k = key_of(k, 2)
	local t = C.moon_ffi_shared_ttl(self._d, k, #k)
	if t == -2 then
		return nil
	end
	return t
end

function Dict:count()
	return C.moon_ffi_shared_count(self._d)
end

function Dict:flush()
	C.moon_ffi_shared_flush(self._d)
end

-- moon.counter(name) -------------------------------------------------------

local Counter = {}
local CounterMT = { __index = Counter, __metatable = false }

function M.counter(name)
	if type(name) ~= "string" then
		error("moon.counter(name): name is a string", 2)
	end
	local id = C.moon_ffi_counter_new(core.req(), name, #name)
	if id == C.MOON_FFI_EINVAL then
		error("moon.counter: bad name '" .. name .. "' ([A-Za-z_][A-Za-z0-9_]*, at most 64)", 2)
	end
	if id < 0 then
		error("moon.counter: " .. errmsg(id), 2)
	end
	return setmetatable({ _id = id, name = name }, CounterMT)
end

-- c:inc([n]): adds n (default 1, a whole number >= 0).
function Counter:inc(n)
	n = n or 1
	if type(n) ~= "number" or n < 0 or n % 1 ~= 0 then
		error("counter:inc(n): n is a whole number >= 0", 2)
	end
	C.moon_ffi_counter_add(core.req(), self._id, n)
end

-- c:value(): the sum over all workers.
function Counter:value()
	return C.moon_ffi_counter_value(self._id)
end

-- moon.options(opts, spec) -------------------------------------------------
-- Checks a policy's options against spec and returns them with defaults:
--   spec = { key = { type = "string", default = ..., required = true,
--                    values = { "a", "b" } }, ... }
-- type is "string", "number", "boolean", "table", "list" (a table with
-- items 1..n) or "any". Unknown keys are errors: a typo in the config
-- should not pass silently.
local function check_value(key, v, s, level)
	local want = s.type or "any"
	local got = type(v)
	if want == "list" then
		if got ~= "table" then
			error("option " .. key .. " must be a list, not " .. got, level + 1)
		end
		for k in pairs(v) do
			if type(k) ~= "number" then
				error("option " .. key .. " must be a list (got key '" .. tostring(k) .. "')",
					level + 1)
			end
		end
	elseif want ~= "any" and got ~= want then
		error("option " .. key .. " must be a " .. want .. ", not " .. got, level + 1)
	end
	if s.values then
		for _, ok in ipairs(s.values) do
			if ok == v then
				return
			end
		end
		error("option " .. key .. " must be one of: " .. table.concat(s.values, ", "), level + 1)
	end
end

function M.options(opts, spec)
	if type(opts) ~= "table" or type(spec) ~= "table" then
		error("moon.options(opts, spec): two tables", 2)
	end
	local out = {}
	for k, v in pairs(opts) do
		local s = spec[k]
		if s == nil then
			local known = {}
			for name in pairs(spec) do
				known[#known + 1] = name
			end
			table.sort(known)
			error("unknown option '" .. tostring(k) .. "' (known: " .. table.concat(known, ", ")
				.. ")", 2)
		end
		check_value(k, v, s, 2)
		out[k] = v
	end
	for k, s in pairs(spec) do
		if out[k] == nil then
			if s.required then
				error("option " .. k .. " is required", 2)
			end
			out[k] = s.default
		end
	end
	return out
end

-- Helpers for addresses and names (moon.net).
local net = require("moon.net")
M.ip = net.ip
M.cidr = net.cidr
M.names = net.names
-- moon.regex: PCRE2 with the JIT (lua/moon/regex.lua).
M.regex = require("moon.regex").regex

-- The read-only view policies get. -------------------------------------------

local function frozen(t, name)
	local view = {}
	for k, v in pairs(t) do
		view[k] = type(v) == "table" and frozen(v, name .. "." .. tostring(k)) or v
	end
	-- The constant tables answer unknown numbers through their metatable.
	setmetatable(view, getmetatable(t))
	return setmetatable({}, {
		__index = view,
		__newindex = function(_, k)
			error(name .. "." .. tostring(k) .. " cannot be set", 2)
		end,
		__metatable = false,
	})
end

local public
function M.public()
	public = public or frozen(M, "moon")
	return public
end

return M
