-- The environment a policy file runs in (internal).
--
-- Sandboxed (the default): a whitelist of the standard library with
-- private copies of its tables (a policy that changes string.format does
-- not change it for the others), os reduced to time functions, load()
-- for source text only, require() only for the moon modules, and the
-- moon API. Absent: os.execute, os.exit, os.remove, io, package,
-- loadfile, dofile, debug, ffi, jit, getfenv, setfenv, string.dump.
-- This keeps a policy from running programs or touching files by
-- mistake; it is not a wall against a hostile author, who could still
-- exhaust its time budget or memory cap.
--
-- With sandbox = false the policy sees the whole standard library, as
-- code in the server process can.

local M = {}

local SAFE = {
	"assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber",
	"tostring", "type", "unpack", "xpcall", "rawequal", "rawget", "rawset",
	"setmetatable", "_VERSION",
}
local LIBS = { "string", "table", "math", "bit", "coroutine" }
local MODULES = { moon = true, ["moon.net"] = true }

local function copy(t)
	local c = {}
	for k, v in pairs(t) do
		c[k] = v
	end
	return c
end

-- The metatable of strings is shared by every policy of the state.
local function safe_getmetatable(v)
	if type(v) == "string" then
		return nil
	end
	return getmetatable(v)
end

-- jit_on false: functions the policy makes with load() run interpreted too.
function M.new(sandbox, jit_on)
	local api = require("moon").public()
	local compile = load
	if not jit_on then
		compile = function(...)
			local f, err = load(...)
			if f then
				jit.off(f, true)
			end
			return f, err
		end
	end
	local env
	if sandbox then
		env = {}
		for _, k in ipairs(SAFE) do
			env[k] = _G[k]
		end
		for _, k in ipairs(LIBS) do
			env[k] = copy(_G[k])
		end
		env.string.dump = nil
		env.os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }
		env.getmetatable = safe_getmetatable
		env.load = function(chunk, chunkname, _, e)
			return compile(chunk, chunkname, "t", e or env)
		end
		env.loadstring = function(s, chunkname)
			return compile(s, chunkname, "t", env)
		end
		env.require = function(m)
			if m == "moon" then
				return api
			end
			if MODULES[m] then
				return require(m)
			end
			error("module '" .. tostring(m) .. "' is not available to sandboxed policies"
				.. " (sandbox: false in the config gives the full library)", 2)
		end
		env.collectgarbage = function(opt)
			if opt == nil or opt == "count" then
				return collectgarbage("count")
			end
			error("collectgarbage('" .. tostring(opt) .. "') is not available to policies", 2)
		end
	else
		env = setmetatable({}, { __index = _G })
		if not jit_on then
			env.load = compile
			env.loadstring = compile
		end
	end
	-- print() goes to the server log, not to stdout.
	env.print = function(...)
		local n = select("#", ...)
		local parts = {}
		for i = 1, n do
			parts[i] = tostring((select(i, ...)))
		end
		api.log.info("%s", table.concat(parts, "\t"))
	end
	env.moon = api
	env._G = env
	return env
end

return M
