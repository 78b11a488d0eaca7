-- The runtime of one bridge Lua state (internal: policies see only the
-- API of doc/lua-api.md, through the `moon` module and the q and r
-- objects). src/bridge/bridge.c calls init() once, load() per policy,
-- chain() per server block, and then the stage dispatchers chain() made.
--
-- Hot path: the request context R (struct moon_ffi_req) is one C struct
-- per state; C points it at the query before each stage call. q is that
-- same struct seen through a read-only FFI metatype, so q.type and friends
-- are plain loads, and r is one table per state. Nothing is allocated per
-- query unless a policy asks for strings or records.

local ffi = require("ffi")
local names = require("moon.cdefs")
local consts = require("moon.consts")

local C = ffi.C
local M = {}

local R                 -- struct moon_ffi_req *
local q                 -- const struct moon_ffi_req *: the q of every hook
local r = {}            -- the r of every hook (its metatable is set below)
local policies = {}     -- [index] = { name =, hooks = }
local calls = 0         -- hook invocations so far
local reply_call = -1   -- the invocation that built the pending reply

local ANSWER, DROP = C.MOON_FFI_ANSWER, C.MOON_FFI_DROP
local ESYNTAX, ELIMIT, EINVAL = C.MOON_FFI_ESYNTAX, C.MOON_FFI_ELIMIT, C.MOON_FFI_EINVAL
local SECTIONS = consts.sections
local SOURCES = {}

-- error() at `level`, except that a level landing in this library gets no
-- position rather than a misleading one: a policy that calls a q or r
-- method in a tail call (`return q:reply{...}`) has no frame left to name.
local function raise(msg, level)
	level = (level or 1) + 1
	local info = debug.getinfo(level, "S")
	if level == 1 or not info or info.source:sub(1, 10) == "@lua/moon/" then
		error(msg, 0)
	end
	error(msg, level)
end

local function errmsg(n)
	if n == ESYNTAX then
		return ffi.string(R.buf_)
	end
	return ffi.string(C.moon_ffi_strerror(n))
end

-- A string result of the FFI (length in n), nil for -1, an error below.
local function text(n, level)
	if n >= 0 then
		return ffi.string(R.buf_, n)
	end
	if n == -1 then
		return nil
	end
	raise(errmsg(n), level + 1)
end

local function check(n, level)
	if n < 0 then
		raise(errmsg(n), level + 1)
	end
	return n
end

-- Verdicts: one sentinel each, returned by the q methods.
local function sentinel(name)
	return setmetatable({}, {
		__tostring = function() return "verdict " .. name end,
		__metatable = false,
	})
end

local V = {
	reply = sentinel("reply"), refuse = sentinel("refuse"),
	nxdomain = sentinel("nxdomain"), servfail = sentinel("servfail"),
	drop = sentinel("drop"),
}
local VCODE = {
	[V.reply] = ANSWER, [V.refuse] = ANSWER, [V.nxdomain] = ANSWER,
	[V.servfail] = ANSWER, [V.drop] = DROP,
}

-- q ----------------------------------------------------------------------

local Q = {}            -- methods
local qget = {}         -- computed fields
local name_seq, name_val = -1, nil

function qget.name()
	if name_seq == R.seq_ then
		return name_val
	end
	name_val = text(C.moon_ffi_q_name(R, 0), 3)
	name_seq = R.seq_
	return name_val
end

function qget.orig_name() return text(C.moon_ffi_q_name(R, 1), 3) end
function qget.orig_type() return check(C.moon_ffi_q_orig_type(R), 3) end
function qget.block() return text(C.moon_ffi_q_name(R, 2), 3) end
function qget.client() return text(C.moon_ffi_q_addr(R, 0), 3) end
function qget.server() return text(C.moon_ffi_q_addr(R, 1), 3) end
function qget.client_bytes() return text(C.moon_ffi_q_addr_raw(R, 0), 3) end
function qget.server_bytes() return text(C.moon_ffi_q_addr_raw(R, 1), 3) end
function qget.proto() return R.tcp and "tcp" or "udp" end
qget["do"] = function() return R.do_bit end
function qget.type_name() return consts.type[R.type] end
function qget.stage() return consts.stages[R.stage_ + 1] end

local meta = setmetatable({}, {
	__index = function(_, k)
		if type(k) ~= "string" then
			raise("q.meta keys are strings", 2)
		end
		return text(C.moon_ffi_meta_get(R, k, #k), 2)
	end,
	__newindex = function(_, k, v)
		if type(k) ~= "string" then
			raise("q.meta keys are strings", 2)
		end
		local n
		if v == nil then
			n = C.moon_ffi_meta_set(R, k, #k, nil, 0)
		else
			local tv = type(v)
			if tv == "number" or tv == "boolean" then
				v = tostring(v)
			elseif tv ~= "string" then
				raise("q.meta values are strings, not " .. tv, 2)
			end
			n = C.moon_ffi_meta_set(R, k, #k, v, #v)
		end
		if n == ELIMIT then
			raise("q.meta is full (at most 16 keys and 1536 bytes)", 2)
		elseif n == EINVAL then
			raise("q.meta: key empty or longer than 64 bytes, or value longer than 512", 2)
		end
		check(n, 2)
	end,
	__metatable = false,
})

function qget.meta() return meta end

function Q.meta_all()
	local t = {}
	for i = 0, check(C.moon_ffi_meta_count(R), 2) - 1 do
		local k = text(C.moon_ffi_meta_key(R, i), 2)
		t[k] = text(C.moon_ffi_meta_value(R, i), 2)
	end
	return t
end

function Q.edns_option(_, code)
	if type(code) ~= "number" then
		raise("q:edns_option(code): code is a number", 2)
	end
	return text(C.moon_ffi_q_edns_opt(R, code), 2)
end

local codebuf = ffi.new("int[1]")

function Q.edns_options()
	local t = {}
	local i = 0
	while true do
		local n = C.moon_ffi_q_edns_opt_at(R, i, codebuf)
		if n == -1 then
			return t
		end
		local data = text(n, 2)
		local code = codebuf[0]
		if t[code] == nil then
			t[code] = data
		end
		i = i + 1
	end
end

function Q.rewrite(_, t)
	if type(t) ~= "table" then
		raise("q:rewrite{name = ..., type = ..., class = ...}", 2)
	end
	local qtype = -1
	if t.type ~= nil then
		qtype = consts.type_num(t.type)
		if not qtype then
			raise("q:rewrite: unknown type " .. tostring(t.type), 2)
		end
	end
	local qclass = -1
	if t.class ~= nil then
		qclass = consts.class_num(t.class)
		if not qclass then
			raise("q:rewrite: unknown class " .. tostring(t.class), 2)
		end
	end
	local name = t.name
	if name ~= nil and type(name) ~= "string" then
		raise("q:rewrite: name is a string", 2)
	end
	local n = C.moon_ffi_q_rewrite(R, name, name and #name or 0, qtype, qclass)
	if n == ESYNTAX then
		raise("q:rewrite: bad name '" .. name .. "'", 2)
	end
	check(n, 2)
	name_seq = -1
end

function Q.set_edns_option(_, code, data)
	if type(code) ~= "number" or code < 0 or code > 65535 or code % 1 ~= 0 then
		raise("q:set_edns_option(code, bytes): code is a number 0-65535", 2)
	end
	if data ~= nil and type(data) ~= "string" then
		raise("q:set_edns_option(code, bytes): bytes is a string or nil", 2)
	end
	local n = C.moon_ffi_q_set_edns_opt(R, code, data, data and #data or 0)
	if n == ELIMIT then
		raise("q:set_edns_option: at most 8 options and 512 bytes", 2)
	end
	check(n, 2)
end

function Q.nocache()
	C.moon_ffi_q_nocache(R)
end

-- Replies: built at once (so a bad record fails at its line), swapped in
-- only if the hook returns the verdict.
local function record_text(rec, level)
	local tr = type(rec)
	if tr == "string" then
		return rec
	end
	if tr ~= "table" then
		raise("a record is a string or a table, not a " .. tr, level + 1)
	end
	local rtype = rec.type
	if type(rtype) == "number" then
		rtype = consts.type[rtype]
	end
	if type(rtype) ~= "string" or rec.rdata == nil then
		raise("a record table needs type and rdata", level + 1)
	end
	return string.format("%s %d IN %s %s", rec.name or "@", rec.ttl or 60, rtype,
		tostring(rec.rdata))
end

local function build(rcode, t, default_ede, level)
	level = level + 1
	local aa = t ~= nil and t.aa == true
	check(C.moon_ffi_reply_begin(R, rcode, aa), level)
	if t ~= nil then
		for s = 1, 3 do
			if s == 2 and t.soa then
				-- The zone's SOA, authoritative unless the policy said aa = false.
				check(C.moon_ffi_reply_soa(R, t.aa ~= false), level)
			end
			local list = t[SECTIONS[s]]
			if type(list) == "string" then
				list = { list }
			end
			if list ~= nil then
				if type(list) ~= "table" then
					raise(SECTIONS[s] .. " is a list of records", level)
				end
				for i = 1, #list do
					local rr = record_text(list[i], level)
					local n = C.moon_ffi_reply_rr(R, s - 1, rr, #rr)
					if n == ESYNTAX then
						raise("bad record '" .. rr .. "': " .. ffi.string(R.buf_), level)
					end
					check(n, level)
				end
			end
		end
	end
	local ede = default_ede
	if t ~= nil and t.ede ~= nil then
		ede = t.ede
	end
	if ede then
		if type(ede) == "string" then
			ede = consts.ede[ede:upper()]
		end
		if type(ede) ~= "number" then
			raise("ede is an EDE code (number or name) or false", level)
		end
		local et = t ~= nil and t.ede_text or ""
		check(C.moon_ffi_reply_ede(R, ede, et, #et), level)
	end
	check(C.moon_ffi_reply_end(R), level)
	reply_call = calls
end

function Q.refuse(_, t)
	build(5, t, 15, 2)
	return V.refuse
end

function Q.nxdomain(_, t)
	build(3, t, 15, 2)
	return V.nxdomain
end

-- q:nodata{...}: NOERROR with an empty answer (the type does not exist).
function Q.nodata(_, t)
	if t ~= nil and t.answer ~= nil then
		raise("q:nodata: no answer records (use q:reply)", 2)
	end
	build(0, t, false, 2)
	return V.reply
end

function Q.servfail(_, t)
	build(2, t, false, 2)
	return V.servfail
end

function Q.drop()
	return V.drop
end

function Q.reply(_, t)
	if type(t) ~= "table" then
		raise("q:reply{rcode = ..., answer = {...}, ...}", 2)
	end
	local rcode = 0
	if t.rcode ~= nil then
		rcode = consts.rcode_num(t.rcode)
		if not rcode then
			raise("q:reply: unknown rcode " .. tostring(t.rcode), 2)
		end
	end
	build(rcode, t, false, 2)
	return V.reply
end

-- r ----------------------------------------------------------------------

local Rm = {}           -- methods
local rget = {}
local rset = {}
local recs, recs_seq = {}, -1
local RecMT
local cursor            -- the record object r:each() reuses

function rget.rcode() return R.rcode_ end
function rget.rcode_name() return consts.rcode[R.rcode_] end
function rget.aa() return R.aa_ end
function rget.tc() return R.tc_ end
function rget.ad() return R.ad_ end
function rget.ra() return R.ra_ end
function rget.source() return SOURCES[R.source_] end
function rget.policy() return text(C.moon_ffi_r_policy(R), 3) end

function rset.rcode(v)
	local n = consts.rcode_num(v)
	if not n then
		raise("r.rcode: unknown rcode " .. tostring(v), 3)
	end
	check(C.moon_ffi_r_set_rcode(R, n), 3)
end

local function flag_setter(bitv, name)
	return function(v)
		if type(v) ~= "boolean" then
			raise("r." .. name .. " is a boolean", 3)
		end
		check(C.moon_ffi_r_set_flag(R, bitv, v), 3)
	end
end

rset.aa = flag_setter(0x0400, "aa")
rset.tc = flag_setter(0x0200, "tc")
rset.ra = flag_setter(0x0080, "ra")
rset.ad = flag_setter(0x0020, "ad")

local function parsed(level)
	if R.nrr_ < 0 then
		check(C.moon_ffi_r_parse(R), level + 1)
	end
end

local function record(i)
	if recs_seq ~= R.seq_ then
		recs = {}
		recs_seq = R.seq_
	end
	local o = recs[i]
	if o == nil then
		o = setmetatable({ i, R.seq_ }, RecMT)
		recs[i] = o
	end
	return o
end

local function section_num(s, level)
	local n = consts.section[s]
	if n == nil then
		raise("unknown section " .. tostring(s) .. " (answer, authority, additional)",
			level + 1)
	end
	return n
end

-- The index of a record object of this stage call.
local function index_of(rec, level)
	local i = type(rec) == "table" and rawget(rec, 1)
	if rec == cursor and rawget(rec, 2) == R.seq_ then
		return i
	end
	if not i or recs_seq ~= R.seq_ or recs[i] ~= rec then
		raise("not a record of this response", level + 1)
	end
	return i
end

local recget = {}
function recget.type(i) return R.rr_[i].type end
function recget.class(i) return R.rr_[i].class end
function recget.ttl(i) return R.rr_[i].ttl end
function recget.section(i) return SECTIONS[R.rr_[i].section + 1] end
function recget.removed(i) return R.rr_[i].removed end
function recget.type_name(i) return consts.type[R.rr_[i].type] end
function recget.name(i) return text(C.moon_ffi_rr_name(R, i), 3) end
function recget.rdata(i) return text(C.moon_ffi_rr_rdata(R, i), 3) end
function recget.raw(i) return text(C.moon_ffi_rr_raw(R, i), 3) end
function recget.ip(i) return text(C.moon_ffi_rr_ip(R, i), 3) end

RecMT = {
	__index = function(o, k)
		if rawget(o, 2) ~= R.seq_ then
			raise("record used after its hook returned", 2)
		end
		local g = recget[k]
		if g == nil then
			raise("a record has no field '" .. tostring(k) .. "'", 2)
		end
		return g(rawget(o, 1))
	end,
	__newindex = function(o, k, v)
		if rawget(o, 2) ~= R.seq_ then
			raise("record used after its hook returned", 2)
		end
		if k ~= "ttl" then
			raise("record field " .. tostring(k) .. " is read-only", 2)
		end
		if type(v) ~= "number" or v < 0 or v > 2147483647 then
			raise("ttl is a number of seconds", 2)
		end
		check(C.moon_ffi_r_set_ttl(R, rawget(o, 1), v), 2)
	end,
	__tostring = function(o)
		local i = rawget(o, 1)
		return string.format("%s %d IN %s %s", recget.name(i), recget.ttl(i),
			recget.type_name(i), recget.rdata(i) or "")
	end,
	__metatable = false,
}

function Rm.records(_, section)
	parsed(2)
	local s0, s1 = 0, 2
	if section ~= nil then
		s0 = section_num(section, 2)
		s1 = s0
	end
	local out = {}
	for k = R.sec_[s0], R.sec_[s1 + 1] - 1 do
		local i = R.order_[k]
		if not R.rr_[i].removed then
			out[#out + 1] = record(i)
		end
	end
	return out
end

function Rm.count(_, section)
	parsed(2)
	local s0, s1 = 0, 2
	if section ~= nil then
		s0 = section_num(section, 2)
		s1 = s0
	end
	local n = 0
	for k = R.sec_[s0], R.sec_[s1 + 1] - 1 do
		if not R.rr_[R.order_[k]].removed then
			n = n + 1
		end
	end
	return n
end

function Rm.remove(_, rec)
	check(C.moon_ffi_r_remove(R, index_of(rec, 2), false), 2)
end

-- Keeps the records for which keep(rec) is true; the others go, and the
-- reply gets EDE 17 (Filtered) unless a policy set another EDE.
function Rm.filter(self, keep, section)
	if type(keep) ~= "function" then
		raise("r:filter(function(rec) return keep end [, section])", 2)
	end
	local removed = 0
	for _, rec in ipairs(Rm.records(self, section)) do
		if not keep(rec) then
			check(C.moon_ffi_r_remove(R, rawget(rec, 1), true), 2)
			removed = removed + 1
		end
	end
	return removed
end

local function add(section, rr, at, level)
	level = level + 1
	if type(rr) == "table" then
		rr = record_text(rr, level)
	elseif type(rr) ~= "string" then
		raise("a record is a string or a table", level)
	end
	local n = C.moon_ffi_r_add(R, section, rr, #rr, at)
	if n == ESYNTAX then
		raise("bad record '" .. rr .. "': " .. ffi.string(R.buf_), level)
	elseif n == ELIMIT then
		raise("too many records added to this response", level)
	end
	return record(check(n, level))
end

function Rm.add(_, section, rr)
	parsed(2)
	return add(section_num(section, 2), rr, -1, 2)
end

function Rm.replace(_, rec, rr)
	parsed(2)
	return add(-1, rr, index_of(rec, 2), 2)
end

function Rm.clamp_ttl(_, a, b)
	local min, max = 0, a
	if type(a) == "table" then
		min, max = a.min or 0, a.max or 2147483647
	elseif b ~= nil then
		min, max = a, b
	end
	if type(min) ~= "number" or type(max) ~= "number" or min < 0 or max < min then
		raise("r:clamp_ttl(max), r:clamp_ttl(min, max) or r:clamp_ttl{min =, max =}", 2)
	end
	check(C.moon_ffi_r_clamp_ttl(R, min, math.min(max, 4294967295)), 2)
end

local idxbuf = ffi.new("int32_t[8192]")
local typebuf = ffi.new("uint16_t[64]")

-- r:shuffle([section [, types]]): types a list of type numbers or names.
function Rm.shuffle(_, section, types)
	local s = -1
	if section ~= nil then
		s = section_num(section, 2)
	end
	local n = 0
	if types ~= nil then
		if type(types) ~= "table" or #types > 64 then
			raise("r:shuffle(section, types): types is a list of at most 64 types", 2)
		end
		for i, t in ipairs(types) do
			local num = consts.type_num(t)
			if not num then
				raise("r:shuffle: unknown type " .. tostring(t), 2)
			end
			typebuf[i - 1] = num
			n = i
		end
	end
	check(C.moon_ffi_r_shuffle(R, s, types and typebuf or nil, n), 2)
end

-- r:reorder(list): the records of the list (of one section) take the positions
-- they hold, in the order of the list.
function Rm.reorder(_, list)
	if type(list) ~= "table" or #list > 8192 then
		raise("r:reorder(recs): a list of records", 2)
	end
	for i, rec in ipairs(list) do
		idxbuf[i - 1] = index_of(rec, 2)
	end
	local n = C.moon_ffi_r_reorder(R, idxbuf, #list)
	if n == EINVAL then
		raise("r:reorder: the records must be distinct and of one section", 2)
	end
	check(n, 2)
end

-- r:each(fn [, section]): calls fn(rec) for each live record, in order,
-- with one record object reused for every call (valid during that call
-- only); returning false from fn stops the walk. No table per record.
cursor = setmetatable({ -1, -1 }, RecMT)

function Rm.each(_, fn, section)
	if type(fn) ~= "function" then
		raise("r:each(function(rec) ... end [, section])", 2)
	end
	parsed(2)
	local s0, s1 = 0, 2
	if section ~= nil then
		s0 = section_num(section, 2)
		s1 = s0
	end
	local seq = R.seq_
	for k = R.sec_[s0], R.sec_[s1 + 1] - 1 do
		local i = R.order_[k]
		if not R.rr_[i].removed then
			rawset(cursor, 1, i)
			rawset(cursor, 2, seq)
			local more = fn(cursor)
			rawset(cursor, 2, -1)
			if more == false then
				return
			end
		end
	end
end

function Rm.ede(_, code, msg)
	if type(code) == "string" then
		code = consts.ede[code:upper()]
	end
	if type(code) ~= "number" then
		raise("r:ede(code [, text]): code is an EDE number or name", 2)
	end
	msg = msg and tostring(msg) or ""
	check(C.moon_ffi_r_ede(R, code, msg, #msg), 2)
end

-- The __index of q and r: a method, else a computed field, else an error
-- naming the object.
local function field_reader(what, methods, getters)
	return function(_, k)
		local m = methods[k]
		if m ~= nil then
			return m
		end
		local g = getters[k]
		if g ~= nil then
			return g()
		end
		raise(what .. " has no field '" .. tostring(k) .. "'", 2)
	end
end

setmetatable(r, {
	__index = field_reader("r", Rm, rget),
	__newindex = function(_, k, v)
		local s = rset[k]
		if s == nil then
			raise("r." .. tostring(k) .. " cannot be set", 2)
		end
		s(v)
	end,
	__tostring = function() return "moon.response" end,
	__metatable = false,
})

-- Stage dispatchers ---------------------------------------------------

local function describe(v)
	local t = type(v)
	if t == "table" or t == "userdata" or t == "cdata" or t == "function" or t == "thread" then
		return "a " .. t
	end
	return "a " .. t .. " (" .. tostring(v) .. ")"
end

local function decide(v, hook)
	local code = VCODE[v]
	if code == nil then
		raise(hook .. " hook returned " .. describe(v) .. ": expected nothing or a "
			.. "verdict (q:refuse(), q:reply{...}, ...)", 0)
	end
	if code == ANSWER and reply_call ~= calls then
		raise(hook .. " hook returned a verdict made in another call", 0)
	end
	return code
end

local function make_query(fns, idx)
	local n = #fns
	return function(start)
		for i = start, n do
			R.policy_ = idx[i]
			R.pos_ = i
			calls = calls + 1
			local v = fns[i](q)
			if v ~= nil then
				return decide(v, "query")
			end
		end
		return 0
	end
end

local function make_response(fns, idx)
	local n = #fns
	return function(start)
		for i = start, n do
			R.policy_ = idx[i]
			R.pos_ = i
			calls = calls + 1
			local v = fns[i](q, r)
			if v ~= nil then
				return decide(v, "response")
			end
		end
		return 0
	end
end

local function make_log(fns, idx)
	local n = #fns
	return function(start)
		for i = start, n do
			R.policy_ = idx[i]
			R.pos_ = i
			fns[i](q, r)
		end
		return 0
	end
end

-- Returns the dispatchers of the query, response and log stages for the
-- policies first .. first + count - 1 (nil where none defines the stage)
-- and how many policies define each.
function M.chain(first, count)
	local f = { {}, {}, {} }
	local ix = { {}, {}, {} }
	for idx = first, first + count - 1 do
		local h = policies[idx].hooks
		for s, key in ipairs({ "query", "response", "log" }) do
			if h[key] then
				local list = f[s]
				list[#list + 1] = h[key]
				ix[s][#list] = idx
			end
		end
	end
	local make = { make_query, make_response, make_log }
	local d = {}
	for s = 1, 3 do
		if #f[s] > 0 then
			d[s] = make[s](f[s], ix[s])
		end
	end
	return d[1], d[2], d[3], #f[1], #f[2], #f[3]
end

-- Loading -------------------------------------------------------------

local HOOKS = { query = true, response = true, log = true }

local function parse_options(opts)
	if opts == nil then
		return {}
	end
	local f, err = load("return " .. opts, "=options", "t", {})
	if not f then
		raise("bad options: " .. err, 0)
	end
	local ok, v = pcall(f)
	if not ok or type(v) ~= "table" then
		raise("options must be a table", 0)
	end
	return v
end

local function check_hooks(hooks, script)
	if type(hooks) ~= "table" then
		raise(script .. ": the policy must return a constructor function or a table of hooks;"
			.. " got " .. describe(hooks), 0)
	end
	local mask = 0
	for k, v in pairs(hooks) do
		if HOOKS[k] then
			if type(v) ~= "function" then
				raise(script .. ": hook '" .. k .. "' is " .. describe(v)
					.. ", not a function", 0)
			end
		elseif k ~= "name" then
			raise(script .. ": unknown hook '" .. tostring(k)
				.. "' (expected query, response or log)", 0)
		end
	end
	if hooks.query then mask = mask + 1 end
	if hooks.response then mask = mask + 2 end
	if hooks.log then mask = mask + 4 end
	return mask
end

-- Compiles and constructs policy number idx; returns the mask of the
-- stages it defines (1 query, 2 response, 4 log).
function M.load(idx, name, script, options, sandbox, jit_on)
	local chunk, err = loadfile(script)
	if not chunk then
		raise(err, 0)
	end
	if not jit_on then
		jit.off(chunk, true)
	end
	setfenv(chunk, require("moon.env").new(sandbox, jit_on))
	local ret = chunk()
	local opts = parse_options(options)
	local hooks = ret
	if type(ret) == "function" then
		hooks = ret(opts)
	end
	local mask = check_hooks(hooks, script)
	policies[idx] = { name = name, hooks = hooks }
	return mask
end

-- Setup -----------------------------------------------------------------

function M.req()
	return R
end

function M.init(req, seed, nsyms)
	if nsyms ~= #names then
		raise("the FFI declarations (" .. #names .. " functions) do not match the binary ("
			.. nsyms .. ")", 0)
	end
	for _, fn in ipairs(names) do
		if not pcall(function() return C[fn] end) then
			raise("FFI function " .. fn .. " is not visible: moondns must be linked with "
				.. "-Wl,-E and keep every moon_ffi_* symbol", 0)
		end
	end
	R = ffi.cast("struct moon_ffi_req *", req)
	q = ffi.cast("const struct moon_ffi_req *", R)
	math.randomseed(seed)
	local i = 0
	while true do
		local s = C.moon_ffi_source_name(i)
		if s == nil then
			break
		end
		SOURCES[i] = ffi.string(s)
		i = i + 1
	end
end

ffi.metatype("struct moon_ffi_req", {
	__index = field_reader("q", Q, qget),
	__newindex = function(_, k)
		raise("q." .. tostring(k) .. " cannot be set", 2)
	end,
	__tostring = function() return "moon.query" end,
})

return M
