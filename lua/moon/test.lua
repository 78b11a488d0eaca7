-- moon.test: unit tests for policies, run by `moondns test` (busted inside
-- moondns's own LuaJIT, with the real FFI). Each policy under test is
-- loaded into a bridge state built exactly as a server worker builds its
-- own, and each query goes through the same query, response and log hooks
-- as in the server; only the sources are replaced by a zone or by records
-- the test gives. See doc/lua-api.md, "Testing policies".
--
--   local t = require("moon.test")
--   local p = t.policy("policies/firewall.lua", { query = { ... } })
--   local res = p:query{ name = "www.example.com", type = "A",
--                        client = "10.0.0.1", answer = { "@ 60 A 192.0.2.1" } }
--   assert.equal("REFUSED", res.rcode_name)

local bit = require("bit")
local ffi = require("ffi")
local consts = require("moon.consts")
local names = require("moon.cdefs")

local C = ffi.C
local M = {}

local nsyms = debug.getregistry()["moon.ffi_nsyms"]
if nsyms ~= #names then
	error("moon.test runs inside `moondns test` (FFI functions: binary " .. tostring(nsyms)
		.. ", declared " .. #names .. ")", 0)
end

M.type = consts.type
M.rcode = consts.rcode
M.ede = consts.ede

local ON_ERROR = { servfail = 0, refuse = 1, drop = 2, continue = 3 }
local CODES = { [0] = "continue", [1] = "answer", [2] = "drop" }
local SOURCES = {}
do
	local i = 0
	while true do
		local s = C.moon_ffi_source_name(i)
		if s == nil then
			break
		end
		SOURCES[ffi.string(s)] = i
		SOURCES[i] = ffi.string(s)
		i = i + 1
	end
end

-- Options become a Lua table constructor, as the config's YAML does.
local function literal(v, depth)
	depth = depth or 0
	if depth > 32 then
		error("options nest too deeply", 0)
	end
	local t = type(v)
	if t == "string" then
		return string.format("%q", v)
	elseif t == "number" then
		if v ~= v or v == math.huge or v == -math.huge then
			error("options: numbers must be finite", 0)
		end
		return string.format("%.17g", v)
	elseif t == "boolean" then
		return tostring(v)
	elseif t == "table" then
		local parts = {}
		for k, x in pairs(v) do
			if type(k) ~= "string" and type(k) ~= "number" then
				error("options: keys are strings or numbers", 0)
			end
			parts[#parts + 1] = "[" .. literal(k, depth + 1) .. "]=" .. literal(x, depth + 1)
		end
		return "{" .. table.concat(parts, ",") .. "}"
	end
	error("options hold plain data (not a " .. t .. ")", 0)
end

local function errors_of(h)
	local list = {}
	local i = 0
	while true do
		local e = C.moon_ffi_t_error(h, i)
		if e == nil then
			return list
		end
		list[#list + 1] = ffi.string(e)
		i = i + 1
	end
end

-- A policy given by name ("firewall") is found as the config finds it.
local function resolve(file)
	if file:find("/", 1, true) or file:match("%.lua$") then
		return file
	end
	local buf = ffi.new("char[4096]")
	if C.moon_ffi_policy_path(file, buf, 4096) ~= 0 then
		error("no policy named '" .. file .. "' (looked in $MOON_POLICY_PATH, ., ./policies"
			.. " and the installed policies)", 3)
	end
	return ffi.string(buf)
end

local Policy = {}
Policy.__index = Policy

-- t.chain({ { file, options, conf }, ... } [, limits]): several policies in
-- config order. conf: { name =, on_error = "servfail"|"refuse"|"drop"|
-- "continue", sandbox = true, jit = true }. limits: { memory = bytes,
-- time_ms = per stage call }.
function M.chain(list, limits)
	local h = C.moon_ffi_t_new()
	if h == nil then
		error("moon.test: out of memory", 2)
	end
	h = ffi.gc(h, C.moon_ffi_t_free)
	if limits then
		C.moon_ffi_t_limits(h, limits.memory or 0, limits.time_ms or 0)
	end
	for _, e in ipairs(list) do
		local file = resolve(e[1] or e.script)
		local opts = e[2] or e.options
		local conf = e[3] or e
		local on_error = ON_ERROR[conf.on_error or "servfail"]
		if not on_error then
			error("on_error is servfail, refuse, drop or continue", 2)
		end
		local rc = C.moon_ffi_t_add(h, file, conf.name, opts and literal(opts) or nil, on_error,
			conf.sandbox ~= false, conf.jit ~= false)
		if rc ~= 0 then
			error("moon.test: cannot add " .. file, 2)
		end
	end
	if C.moon_ffi_t_build(h) ~= 0 then
		error(table.concat(errors_of(h), "\n"), 0)
	end
	return setmetatable({ h = h }, Policy)
end

-- t.policy(file, options [, conf [, limits]]): one policy.
function M.policy(file, opts, conf, limits)
	local e = { file, opts }
	for k, v in pairs(conf or {}) do
		e[k] = v
	end
	return M.chain({ e }, limits)
end

local Zone = {}
Zone.__index = Zone

-- t.zone(text [, origin]): a zone to answer from (origin: the SOA's owner
-- when not given).
function M.zone(text, origin)
	local err = ffi.new("char[512]")
	local z = C.moon_ffi_t_zone(text, #text, origin, err, 512)
	if z == nil then
		error("t.zone: " .. ffi.string(err), 2)
	end
	return setmetatable({ z = ffi.gc(z, C.moon_ffi_t_zone_free) }, Zone)
end

local function lines(v)
	if v == nil then
		return nil
	end
	if type(v) == "string" then
		return v
	end
	local out = {}
	for i, rec in ipairs(v) do
		if type(rec) == "table" then
			local rtype = type(rec.type) == "number" and consts.type[rec.type] or rec.type
			rec = string.format("%s %d IN %s %s", rec.name or "@", rec.ttl or 3600, rtype,
				rec.rdata)
		end
		out[i] = rec
	end
	return table.concat(out, "\n")
end

local function edns_options(opts)
	local parts = {}
	for code, data in pairs(opts) do
		if type(code) ~= "number" or type(data) ~= "string" then
			error("edns = { [code] = 'bytes', ... }", 3)
		end
		parts[#parts + 1] = string.char(bit.rshift(code, 8), bit.band(code, 255),
			bit.rshift(#data, 8), bit.band(#data, 255)) .. data
	end
	return table.concat(parts)
end

local Result = {}
Result.__index = Result

local function records(h, sec)
	local out = {}
	for i = 0, C.moon_ffi_t_rr_count(h) - 1 do
		local rr = C.moon_ffi_t_rr(h, i)
		if rr.section == sec then
			local rec = { type = ffi.string(C.moon_ffi_t_rr_text(h, i, 2)), ttl = rr.ttl,
				class = rr.class }
			rec.name = ffi.string(C.moon_ffi_t_rr_text(h, i, 0))
			local rd = C.moon_ffi_t_rr_text(h, i, 1)
			rec.rdata = rd ~= nil and ffi.string(rd) or nil
			out[#out + 1] = rec
		end
	end
	return out
end

local function result(h)
	local r = C.moon_ffi_t_result(h)
	local res = setmetatable({}, Result)
	res.dropped = r.dropped
	res.verdicts = {}
	for s = 0, 2 do
		if r.verdict[s] >= 0 then
			res.verdicts[consts.stages[s + 1]] = CODES[r.verdict[s]]
		end
	end
	res.verdict = "continue"
	if r.dropped then
		res.verdict = "drop"
	elseif res.verdicts.query == "answer" or res.verdicts.response == "answer" then
		res.verdict = "answer"
	end
	res.errors = errors_of(h)
	res.source = SOURCES[r.source]
	res.rewritten = r.rewritten
	res.nocache = r.nocache
	res.meta = {}
	local len = ffi.new("size_t[1]")
	for i = 0, C.moon_ffi_t_meta_count(h) - 1 do
		local k = ffi.string(C.moon_ffi_t_meta(h, i, false, len), len[0])
		res.meta[k] = ffi.string(C.moon_ffi_t_meta(h, i, true, len), len[0])
	end
	if r.dropped then
		return res
	end
	res.rcode = r.rcode
	res.rcode_name = consts.rcode[r.rcode]
	local f = r.flags
	res.flags = {
		qr = bit.band(f, 0x8000) ~= 0, aa = bit.band(f, 0x0400) ~= 0,
		tc = bit.band(f, 0x0200) ~= 0, rd = bit.band(f, 0x0100) ~= 0,
		ra = bit.band(f, 0x0080) ~= 0, ad = bit.band(f, 0x0020) ~= 0,
		cd = bit.band(f, 0x0010) ~= 0,
	}
	res.aa, res.tc = res.flags.aa, res.flags.tc
	local qtype = ffi.new("int[1]")
	local qname = C.moon_ffi_t_question(h, qtype)
	if qname ~= nil then
		res.question = { name = ffi.string(qname), type = consts.type[qtype[0]] }
	end
	res.answer = records(h, 0)
	res.authority = records(h, 1)
	res.additional = records(h, 2)
	if r.ede >= 0 then
		res.ede = { code = r.ede, name = consts.ede[r.ede],
			text = ffi.string(C.moon_ffi_t_ede_text(h)) }
	end
	res.wire = ffi.string(C.moon_ffi_t_wire(h), r.len)
	return res
end

-- res:rdata([section [, type]]): the RDATA texts of a section ("answer"
-- by default), optionally of one type, in order.
function Result:rdata(section, rtype)
	local out = {}
	for _, rec in ipairs(self[section or "answer"] or {}) do
		if rtype == nil or rec.type == rtype then
			out[#out + 1] = rec.rdata
		end
	end
	return out
end

--[[
p:query{ ... }: runs one query through the stages and returns what the
client would receive, read back from the reply's bytes:
  name (default "www.example.com."), type ("A"), class (1), id, rd (true),
  cd, proto ("udp" | "tcp"), client ("127.0.0.1"), client_port, server,
  server_port, edns (default true; false for none, or { [code] = "bytes" }
  options), ["do"] / do_bit,
  bufsize (1232);
  the source: zone = t.zone(...), or answer / authority / additional (lists
  of records in zone-file syntax, "@" = the name being resolved), rcode,
  aa, source ("forward" by default for given records; "cache", ...).
Without a source the "sources" answer REFUSED, as a block without data does.
]]
function Policy:query(d)
	d = d or {}
	local tq = ffi.new("struct moon_ffi_tquery")
	local anchor = {}       -- strings the C side points at
	local function s(v)
		anchor[#anchor + 1] = v
		return v
	end
	tq.name = s(d.name or "www.example.com.")
	local qtype = consts.type_num(d.type or "A")
	if not qtype then
		error("unknown type " .. tostring(d.type), 2)
	end
	tq.type = qtype
	tq.class = d.class or 1
	tq.id = d.id or 4242
	tq.client = d.client and s(d.client) or nil
	tq.client_port = d.client_port or 53000
	tq.server = d.server and s(d.server) or nil
	tq.server_port = d.server_port or 53
	tq.tcp = d.proto == "tcp"
	tq.rd = d.rd ~= false
	tq.cd = d.cd == true
	local do_bit = d["do"] or d.do_bit or false
	tq.edns = d.edns ~= false
	tq.do_bit = do_bit
	tq.bufsize = d.bufsize or 1232
	if type(d.edns) == "table" then
		local opts = s(edns_options(d.edns))
		tq.edns_opts = ffi.cast("const uint8_t *", opts)
		tq.edns_opts_len = #opts
	end
	if d.zone then
		tq.zone = d.zone.z
	end
	tq.answer = d.answer and s(lines(d.answer)) or nil
	tq.authority = d.authority and s(lines(d.authority)) or nil
	tq.additional = d.additional and s(lines(d.additional)) or nil
	tq.rcode = d.rcode and consts.rcode_num(d.rcode) or 0
	tq.aa = d.aa == true
	tq.source = d.source and SOURCES[d.source] or -1
	if d.source and not SOURCES[d.source] then
		error("unknown source " .. tostring(d.source), 2)
	end
	local rc = C.moon_ffi_t_run(self.h, tq)
	if rc ~= 0 then
		local e = errors_of(self.h)[1]
		error("p:query: " .. (e or ffi.string(C.moon_ffi_strerror(rc))), 2)
	end
	return result(self.h)
end

-- p:counter(name): the value of moon.counter(name) of these policies.
function Policy:counter(name)
	return C.moon_ffi_t_counter(self.h, name)
end

-- p:memory(): bytes held by the policies' Lua state.
function Policy:memory()
	return C.moon_ffi_t_memory(self.h)
end

return M
