-- template: answers synthesized from a regular-expression match on the
-- query name (CoreDNS's `template`). doc/policies/template.md is the
-- operators' page; this file is the implementation.
--
--   - template:
--       zones: [ example.com. ]
--       type: A
--       match: '^ip-(?P<a>\d+)-(?P<b>\d+)-(?P<c>\d+)-(?P<d>\d+)[.]example[.]com[.]$'
--       answer: '{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}'
--
-- Per query: class and type are number compares, the zone a suffix compare
-- on q.name, the regexes PCRE2 (JIT) matches; tables and strings are made
-- only for a query that matches.

local moon = require("moon")

-- Regular expressions ------------------------------------------------------
-- PCRE2 through moon.regex (compiled once here, JIT on), caseless: the
-- operators write them as for CoreDNS, named groups (?P<name>...) included.

-- A compiled regex: { src, ngroups, names, exec = function(s) -> captures }.
local function compile_regex(src)
	if type(src) ~= "string" or #src == 0 then
		error("a regex is a non-empty string", 0)
	end
	local ok, re = pcall(moon.regex, src, "i")
	if not ok then
		error("regex '" .. src .. "': " .. (tostring(re):match("moon%.regex: (.*)$") or re), 0)
	end
	return { src = src, ngroups = re.groups, names = re.names,
		exec = function(s) return re:captures(s) end }
end

-- Option helpers ------------------------------------------------------------

local function fqdn(name, what)
	if type(name) ~= "string" or #name == 0 then
		error(what .. ": a domain name", 0)
	end
	name = name:lower()
	if name:sub(-1) ~= "." then
		name = name .. "."
	end
	if name:find("..", 1, true) and name ~= "." then
		error(what .. ": empty label in '" .. name .. "'", 0)
	end
	return name
end

local function list_of(v, what)
	if v == nil then
		return {}
	end
	if type(v) ~= "table" then
		return { v }
	end
	for k in pairs(v) do
		if type(k) ~= "number" then
			error(what .. ": a list", 0)
		end
	end
	return v
end

local CLASSES = { IN = 1, CH = 3, CHAOS = 3, HS = 4, ANY = 255 }
local CLASS_NAMES = { [1] = "IN", [3] = "CH", [4] = "HS", [255] = "ANY" }

local function class_num(v, what)
	local n = type(v) == "string" and CLASSES[v:upper()] or nil
	if not n then
		error(what .. ": a class (IN, CH, HS or ANY), not " .. tostring(v), 0)
	end
	return n
end

local function type_num(v, what)
	local n
	if type(v) == "number" and v >= 0 and v <= 65535 and v % 1 == 0 then
		n = v
	elseif type(v) == "string" then
		n = moon.type[v:upper()]
	end
	if type(n) ~= "number" then
		error(what .. ": a record type (A, AAAA, TXT, TYPE65, ANY, ...), not " .. tostring(v), 0)
	end
	return n
end

-- Record templates -------------------------------------------------------------
-- "{{ .Name }} 60 IN A {{ .Group.a }}" becomes a list of literal strings and
-- getter functions of the match context c = { name, zone, caps, q }.

local FIELDS = {
	Name = function(c) return c.name end,
	Zone = function(c) return c.zone end,
	Class = function(c) return CLASS_NAMES[c.q.class] or ("CLASS" .. c.q.class) end,
	Type = function(c) return moon.type[c.q.type] end,
	Remote = function(c) return c.q.client end,
	Port = function(c) return tostring(c.q.client_port) end,
	Proto = function(c) return c.q.proto end,
}
local FIELD_LIST = ".Name .Zone .Class .Type .Remote .Port .Proto .Group.NAME"
	.. " .Match.N (index .Match N) .Meta \"key\""

-- The getter of one {{ action }}; groups: the union of the group names and
-- the smallest group count of the instance's regexes.
local function action_getter(act, where, groups)
	local f = act:match("^%.(%a+)$")
	if f and FIELDS[f] then
		return FIELDS[f]
	end
	local g = act:match("^%.Group%.([%w_]+)$") or act:match('^index%s+%.Group%s+"([%w_]+)"$')
	if g then
		local idx = tonumber(g)
		if idx then
			if idx < 1 or idx > groups.count then
				error(where .. ": group " .. g .. " does not exist in every match regex", 0)
			end
		else
			idx = groups.names[g]
			if not idx then
				error(where .. ": no group named '" .. g .. "' in every match regex", 0)
			end
		end
		if type(idx) == "number" then
			return function(c) return c.caps[idx] or "" end
		end
		-- A name at different positions in different regexes.
		return function(c) return c.caps[c.re.names[g]] or "" end
	end
	local m = act:match("^%.Match%.(%d+)$") or act:match("^index%s+%.Match%s+(%d+)$")
	if m then
		local idx = tonumber(m)
		if idx < 1 or idx > groups.count then
			error(where .. ": .Match " .. m .. " does not exist in every match regex"
				.. " (groups are numbered from 1)", 0)
		end
		return function(c) return c.caps[idx] or "" end
	end
	local key = act:match('^%.Meta%s+"([^"]+)"$')
	if key then
		return function(c) return c.q.meta[key] or "" end
	end
	error(where .. ": unknown template action '{{ " .. act .. " }}' (known: " .. FIELD_LIST
		.. ")", 0)
end

local function compile_template(text, where, groups)
	if type(text) ~= "string" then
		error(where .. ": a record template is a string", 0)
	end
	local parts = {}
	local pos = 1
	while true do
		local s, e, act = text:find("{{%s*(.-)%s*}}", pos)
		if not s then
			break
		end
		if s > pos then
			parts[#parts + 1] = text:sub(pos, s - 1)
		end
		parts[#parts + 1] = action_getter(act, where, groups)
		pos = e + 1
	end
	if text:find("{{", pos, true) or text:find("}}", pos, true) then
		error(where .. ": unbalanced '{{' or '}}' in '" .. text .. "'", 0)
	end
	if pos <= #text then
		parts[#parts + 1] = text:sub(pos)
	end
	-- The rendered line must name a record type after its owner.
	local sample = {}
	for k, p in ipairs(parts) do
		sample[k] = type(p) == "string" and p or "x"
	end
	local found = false
	local k = 0
	for tok in table.concat(sample):gmatch("%S+") do
		k = k + 1
		if k > 1 and k <= 4 and type(moon.type[tok:upper()]) == "number"
			and not tok:match("^%d+$") then
			found = true
			break
		end
	end
	if not found then
		error(where .. ": '" .. text .. "' is not a record (OWNER [TTL] [CLASS] TYPE RDATA)", 0)
	end
	return parts
end

local function render(parts, c)
	local out = {}
	for k = 1, #parts do
		local p = parts[k]
		out[k] = type(p) == "string" and p or p(c)
	end
	return table.concat(out)
end

-- The policy ----------------------------------------------------------------

-- Loaded with the argument "internals" (t/lua/policies/template_spec.lua),
-- the file returns its regex compiler instead of the constructor.
if ... == "internals" then
	return { compile_regex = compile_regex }
end

return function(opts)
	opts = moon.options(opts, {
		class = { type = "string", default = "IN" },
		type = { type = "any", default = "ANY" },
		zones = { type = "any" },
		match = { type = "any" },
		answer = { type = "any" },
		authority = { type = "any" },
		additional = { type = "any" },
		rcode = { type = "any", default = "NOERROR" },
		soa = { type = "boolean", default = false },
		ede = { type = "any" },
		fallthrough = { type = "any", default = true },
	})

	local qclass = class_num(opts.class, "option class")
	local types = {}
	local any_type = false
	for k, v in ipairs(list_of(opts.type, "option type")) do
		local n = type_num(v, "option type[" .. k .. "]")
		types[n] = true
		any_type = any_type or n == 255
	end

	local zones = {}
	for k, z in ipairs(list_of(opts.zones or ".", "option zones")) do
		zones[#zones + 1] = fqdn(z, "option zones[" .. k .. "]")
	end

	local regexes = {}
	for k, src in ipairs(list_of(opts.match, "option match")) do
		local ok, re = pcall(compile_regex, src)
		if not ok then
			error("option match[" .. k .. "]: " .. tostring(re), 0)
		end
		regexes[#regexes + 1] = re
	end
	-- What templates may use: the groups every regex has. A name at the
	-- same number everywhere is looked up once; elsewhere (true) per match.
	local groups = { count = 0, names = {} }
	if #regexes > 0 then
		groups.count = math.huge
		for _, re in ipairs(regexes) do
			groups.count = math.min(groups.count, re.ngroups)
		end
		for name, idx in pairs(regexes[1].names) do
			for _, re in ipairs(regexes) do
				local other = re.names[name]
				if other == nil then
					idx = nil
					break
				elseif other ~= idx then
					idx = true
				end
			end
			groups.names[name] = idx
		end
	end

	local sections = {}
	local nrecords = 0
	for _, s in ipairs({ "answer", "authority", "additional" }) do
		local list = {}
		for k, text in ipairs(list_of(opts[s], "option " .. s)) do
			list[k] = compile_template(text, "option " .. s .. "[" .. k .. "]", groups)
		end
		sections[s] = list
		nrecords = nrecords + #list
	end

	local rcode = moon.rcode[type(opts.rcode) == "string" and opts.rcode:upper() or opts.rcode]
	if type(opts.rcode) == "number" then
		rcode = opts.rcode
	end
	if type(rcode) ~= "number" or rcode < 0 or rcode > 4095 or rcode % 1 ~= 0 then
		error("option rcode: an rcode (NOERROR, NXDOMAIN, SERVFAIL, ...), not "
			.. tostring(opts.rcode), 0)
	end

	local ede, ede_text
	if opts.ede ~= nil then
		local e = opts.ede
		if type(e) == "table" then
			ede_text = e.text
			e = e.code
			if ede_text ~= nil and type(ede_text) ~= "string" then
				error("option ede.text: a string", 0)
			end
		end
		if type(e) == "string" then
			ede = tonumber(e) or moon.ede[e:upper()]
		else
			ede = e
		end
		if type(ede) ~= "number" or ede < 0 or ede > 65535 or ede % 1 ~= 0 then
			error("option ede: an EDE code (number or name such as BLOCKED, FILTERED),"
				.. " or { code =, text = }", 0)
		end
	end

	-- fallthrough: true (every name), false (none: SERVFAIL as CoreDNS),
	-- or the zones where a miss passes on.
	local fall_all, fall_zones = false, nil
	local ft = opts.fallthrough
	if ft == true then
		fall_all = true
	elseif type(ft) == "table" then
		fall_zones = {}
		for k, z in ipairs(list_of(ft, "option fallthrough")) do
			fall_zones[#fall_zones + 1] = fqdn(z, "option fallthrough[" .. k .. "]")
		end
	elseif ft ~= false then
		error("option fallthrough: true, false or a list of zones", 0)
	end

	-- soa: the SOA of the block's zone holding the name goes first into the
	-- authority section (negative TTL), as the zone answers NXDOMAIN/NODATA.
	local soa = opts.soa or nil

	local matches = moon.counter("matches")
	local failures = moon.counter("failures")

	-- The zone of zones that name is in (longest), or nil.
	local function zone_of(list, name)
		local best
		local nlen = #name
		for k = 1, #list do
			local z = list[k]
			local zlen = #z
			if z == "." then
				best = best or z
			elseif nlen == zlen then
				if name == z then
					return z
				end
			elseif nlen > zlen and name:byte(nlen - zlen) == 46
				and name:find(z, nlen - zlen + 1, true) then
				if not best or #best < zlen then
					best = z
				end
			end
		end
		return best
	end

	local function build(q, name, zone, caps, re)
		local c = { name = name, zone = zone, caps = caps, re = re, q = q }
		local t = { rcode = rcode, aa = true, soa = soa, ede = ede, ede_text = ede_text }
		if nrecords > 0 then
			for s, list in pairs(sections) do
				if #list > 0 then
					local out = {}
					for k = 1, #list do
						out[k] = render(list[k], c)
					end
					t[s] = out
				end
			end
		end
		return t
	end

	return {
		query = function(q)
			if q.class ~= qclass and qclass ~= 255 then
				return nil
			end
			if not any_type and not types[q.type] then
				return nil
			end
			local name = q.name
			local zone = zone_of(zones, name)
			if not zone then
				return nil
			end
			local caps, re
			if #regexes == 0 then
				caps = {}
			else
				for k = 1, #regexes do
					caps = regexes[k].exec(name)
					if caps then
						re = regexes[k]
						break
					end
				end
				if not caps then
					if fall_all or (fall_zones and zone_of(fall_zones, name)) then
						return nil
					end
					return q:servfail()
				end
			end
			matches:inc()
			local t = build(q, name, zone, caps, re)
			local ok, verdict = pcall(q.reply, q, t)
			if ok then
				return verdict
			end
			failures:inc()
			moon.log.err("template for %s: %s", name, tostring(verdict))
			return q:servfail()
		end,
	}
end
