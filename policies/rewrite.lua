-- rewrite: rewrites the question before the cache and the sources see it,
-- and maps the answer back, so that the client sees its own question and
-- names (CoreDNS's `rewrite`). doc/policies/rewrite.md is the operators'
-- page; this file is the implementation.
--
--   - rewrite:
--       rules:
--         - { suffix: example.org., to: example.com. }
--
-- Query stage: the rules in order; a rule fires when its conditions hold
-- (a name match on the current name, a type); the first firing rule ends
-- the list unless its mode is continue. The question is rewritten once at
-- the end and the rules that fired are noted in q.meta["rewrite/rules"].
-- Response stage: the fired rules, last first, map names back (owners and
-- the names inside CNAME, DNAME, NS, PTR, MX, SRV, SOA, SVCB/HTTPS, NAPTR
-- RDATA), clamp TTLs and map rcodes. The core always answers with the
-- client's question and writes owners equal to the rewritten name as the
-- client's name.

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

-- Names ---------------------------------------------------------------------

local function fqdn(name, what)
	if type(name) ~= "string" or #name == 0 then
		error(what .. ": a domain name", 0)
	end
	name = name:lower()
	if name:sub(-1) ~= "." then
		name = name .. "."
	end
	return name
end

-- A name the core accepts: labels of 1..63 bytes, at most 255 in wire form.
local function valid_name(name)
	if name == "." then
		return true
	end
	if #name > 254 or name:byte(1) == 46 then
		return false
	end
	local start = 1
	while start <= #name do
		local dot = name:find(".", start, true)
		if not dot then
			return false
		end
		local len = dot - start
		if len < 1 or len > 63 then
			return false
		end
		start = dot + 1
	end
	return true
end

-- s with every plain occurrence of a replaced by b, or nil if none.
local function replace_all(s, a, b)
	local pos = s:find(a, 1, true)
	if not pos then
		return nil
	end
	local out = {}
	local from = 1
	while pos do
		out[#out + 1] = s:sub(from, pos - 1)
		out[#out + 1] = b
		from = pos + #a
		pos = s:find(a, from, true)
	end
	out[#out + 1] = s:sub(from)
	return table.concat(out)
end

-- Name matchers: m(name) returns the rewritten name, or nil when the rule
-- does not match; to == nil makes a pure condition (returns name).

local function exact_matcher(from, to)
	return function(name)
		if name == from then
			return to or name
		end
	end
end

-- Label-aware suffix: "example.org." matches example.org. and *.example.org.;
-- a from starting with "." matches only below it.
local function suffix_matcher(from, to)
	local flen = #from
	local below_only = from:byte(1) == 46
	return function(name)
		local nlen = #name
		if nlen < flen then
			return nil
		end
		if nlen == flen then
			if below_only or name ~= from then
				return nil
			end
			return to or name
		end
		if not below_only and name:byte(nlen - flen) ~= 46 then
			return nil
		end
		if not name:find(from, nlen - flen + 1, true) then
			return nil
		end
		if not to then
			return name
		end
		return name:sub(1, nlen - flen) .. to
	end
end

local function prefix_matcher(from, to)
	local flen = #from
	return function(name)
		if #name < flen or name:find(from, 1, true) ~= 1 then
			return nil
		end
		if not to then
			return name
		end
		return to .. name:sub(flen + 1)
	end
end

local function substring_matcher(from, to)
	return function(name)
		if not name:find(from, 1, true) then
			return nil
		end
		if not to then
			return name
		end
		return replace_all(name, from, to)
	end
end

-- "{1}.example.com." or "{name}.example.com." against a regex's groups:
-- a list of strings and group numbers.
local function compile_replacement(text, re, where)
	if type(text) ~= "string" or #text == 0 then
		error(where .. ": a replacement string", 0)
	end
	local parts = {}
	local pos = 1
	for s, ref, e in text:gmatch("(){([%w_]+)}()") do
		if s > pos then
			parts[#parts + 1] = text:sub(pos, s - 1):lower()
		end
		local idx = tonumber(ref) or re.names[ref]
		if not idx or idx < 1 or idx > re.ngroups then
			error(where .. ": '{" .. ref .. "}' is not a group of regex '" .. re.src .. "'"
				.. " (groups are {1}, {2}, ... or {name})", 0)
		end
		parts[#parts + 1] = idx
		pos = e
	end
	if pos <= #text then
		parts[#parts + 1] = text:sub(pos):lower()
	end
	return parts
end

local function expand(parts, caps)
	local out = {}
	for k = 1, #parts do
		local p = parts[k]
		out[k] = type(p) == "number" and (caps[p] or "") or p
	end
	local s = table.concat(out)
	if s:byte(-1) ~= 46 then
		s = s .. "."
	end
	return s
end

local function regex_matcher(re, parts)
	local exec = re.exec
	return function(name)
		local caps = exec(name)
		if not caps then
			return nil
		end
		if not parts then
			return name
		end
		return expand(parts, caps)
	end
end

-- Names inside RDATA, by type: the whitespace-separated fields that are
-- names ("last": the last field).
local NAME_FIELDS = {
	CNAME = { 1 }, DNAME = { 1 }, NS = { 1 }, PTR = { 1 }, MX = { 2 }, KX = { 2 },
	AFSDB = { 2 }, RT = { 2 }, SRV = { 4 }, SVCB = { 2 }, HTTPS = { 2 }, SOA = { 1, 2 },
	RP = { 1, 2 }, NAPTR = "last",
}

local CLASS_NAMES = { [1] = "IN", [3] = "CH", [4] = "HS" }

-- Options --------------------------------------------------------------------

local KINDS = { "exact", "prefix", "suffix", "substring", "regex" }
local RULE_KEYS = {
	exact = true, prefix = true, suffix = true, substring = true, regex = true, to = true,
	type = true, class = true, edns0 = true, ttl = true, rcode = true, answer = true,
	mode = true,
}

local function type_num(v, what)
	local n
	if type(v) == "number" and v >= 0 and v <= 65535 and v % 1 == 0 then
		n = v
	elseif type(v) == "string" then
		n = moon.type[v:upper()]
	end
	if type(n) ~= "number" then
		error(what .. ": a record type (A, AAAA, TXT, TYPE65, ...), not " .. tostring(v), 0)
	end
	return n
end

local CLASS_NUMS = { IN = 1, CH = 3, HS = 4, ANY = 255 }

local function class_num(v, what)
	local n
	if type(v) == "number" and v >= 0 and v <= 65535 and v % 1 == 0 then
		n = v
	elseif type(v) == "string" then
		n = CLASS_NUMS[v:upper()] or tonumber(v:upper():match("^CLASS(%d+)$"))
	end
	if type(n) ~= "number" or n > 65535 then
		error(what .. ": a class (IN, CH, HS, ANY, CLASS<n> or a number), not "
			.. tostring(v), 0)
	end
	return n
end

-- edns0: { set: { code:, data: } } or { remove: code }; data "0x..." is hex.
local function parse_edns0(v, where)
	if type(v) ~= "table" or (v.set == nil) == (v.remove == nil) then
		error(where .. ": { set: { code:, data: } } or { remove: code }", 0)
	end
	local function code_of(c, w)
		if type(c) ~= "number" or c < 0 or c > 65535 or c % 1 ~= 0 then
			error(w .. ": an option code 0-65535, not " .. tostring(c), 0)
		end
		return c
	end
	if v.remove ~= nil then
		return code_of(v.remove, where .. ".remove"), nil
	end
	local s = v.set
	if type(s) ~= "table" or type(s.data) ~= "string" then
		error(where .. ".set: { code: N, data: STRING or 0xHEX }", 0)
	end
	local code = code_of(s.code, where .. ".set.code")
	local data = s.data
	local hex = data:match("^0[xX](.*)$")
	if hex then
		if #hex % 2 ~= 0 or hex:find("[^%x]") then
			error(where .. ".set.data: bad hex " .. data, 0)
		end
		data = hex:gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end)
	end
	if #data > 508 then
		error(where .. ".set.data: at most 508 bytes", 0)
	end
	return code, data
end

local function rcode_num(v, what)
	local n
	if type(v) == "number" then
		n = v
	elseif type(v) == "string" then
		n = tonumber(v) or moon.rcode[v:upper()]
	end
	if type(n) ~= "number" or n < 0 or n > 4095 or n % 1 ~= 0 then
		error(what .. ": an rcode (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...), not "
			.. tostring(v), 0)
	end
	return n
end

local function parse_ttl(v, where)
	local lo, hi
	if type(v) == "number" then
		lo, hi = v, v
	elseif type(v) == "string" then
		local a, b = v:match("^%s*(%d*)%s*%-%s*(%d*)%s*$")
		if a then
			lo, hi = tonumber(a) or 0, tonumber(b) or 2147483647
		else
			lo = tonumber(v)
			hi = lo
		end
	elseif type(v) == "table" then
		lo, hi = v.min or 0, v.max or 2147483647
		for k in pairs(v) do
			if k ~= "min" and k ~= "max" then
				error(where .. ": unknown key '" .. tostring(k) .. "' (min, max)", 0)
			end
		end
	end
	if type(lo) ~= "number" or type(hi) ~= "number" or lo < 0 or hi < lo
		or hi > 2147483647 or lo % 1 ~= 0 or hi % 1 ~= 0 then
		error(where .. ": seconds, \"MIN-MAX\" or { min =, max = } with 0 <= min <= max", 0)
	end
	return lo, hi
end

local function parse_rcode_map(v, where)
	if type(v) ~= "table" then
		error(where .. ": { FROM: TO, ... } or { from: FROM, to: TO }", 0)
	end
	local map = {}
	if v.from ~= nil or v.to ~= nil then
		map[rcode_num(v.from, where .. ".from")] = rcode_num(v.to, where .. ".to")
		return map
	end
	for from, to in pairs(v) do
		map[rcode_num(from, where)] = rcode_num(to, where .. "." .. tostring(from))
	end
	if next(map) == nil then
		error(where .. ": an empty map", 0)
	end
	return map
end

-- answer: a list of { name = REGEX, to = REPLACEMENT } (owner names) and
-- { value = REGEX, to = REPLACEMENT } (names in RDATA) entries.
local function parse_answer_rules(list, where)
	local out = {}
	if list.name ~= nil or list.value ~= nil then
		list = { list }
	end
	for k, a in ipairs(list) do
		local w = where .. "[" .. k .. "]"
		if type(a) ~= "table" then
			error(w .. ": { name: REGEX, to: REPLACEMENT } or { value: REGEX, to: ... }", 0)
		end
		for key in pairs(a) do
			if key ~= "name" and key ~= "value" and key ~= "to" then
				error(w .. ": unknown key '" .. tostring(key) .. "' (name, value, to)", 0)
			end
		end
		local src = a.name or a.value
		if (a.name == nil) == (a.value == nil) then
			error(w .. ": exactly one of name or value", 0)
		end
		local ok, re = pcall(compile_regex, src)
		if not ok then
			error(w .. ": " .. tostring(re), 0)
		end
		if a.to == nil then
			error(w .. ": 'to' is required", 0)
		end
		local parts = compile_replacement(a.to, re, w .. ".to")
		out[#out + 1] = { owner = a.name ~= nil, value = a.value ~= nil,
			map = regex_matcher(re, parts) }
	end
	return out
end

local function parse_rule(rule, k)
	local where = "option rules[" .. k .. "]"
	if type(rule) ~= "table" then
		error(where .. ": a table", 0)
	end
	for key in pairs(rule) do
		if not RULE_KEYS[key] then
			error(where .. ": unknown key '" .. tostring(key) .. "' (exact, prefix, suffix,"
				.. " substring, regex, to, type, class, edns0, ttl, rcode, answer, mode)", 0)
		end
	end
	local r = { index = k, stop = true }
	if rule.mode ~= nil then
		if rule.mode ~= "stop" and rule.mode ~= "continue" then
			error(where .. ".mode: stop or continue", 0)
		end
		r.stop = rule.mode == "stop"
	end

	local kind
	for _, kd in ipairs(KINDS) do
		if rule[kd] ~= nil then
			if kind then
				error(where .. ": one name match per rule (" .. kind .. " and " .. kd .. ")", 0)
			end
			kind = kd
		end
	end
	local to = rule.to
	if to ~= nil and not kind then
		error(where .. ": 'to' needs a name match (exact, prefix, suffix, substring, regex)", 0)
	end
	if to ~= nil and type(to) ~= "string" then
		error(where .. ".to: a string", 0)
	end
	local from = rule[kind or ""]
	if kind and (type(from) ~= "string" or #from == 0) then
		error(where .. "." .. kind .. ": a non-empty string", 0)
	end
	-- The answer mapping of the simple kinds (auto): to -> from.
	local back
	if kind == "exact" then
		from = fqdn(from, where .. ".exact")
		to = to and fqdn(to, where .. ".to")
		r.match = exact_matcher(from, to)
		back = to and exact_matcher(to, from)
	elseif kind == "suffix" then
		from = fqdn(from, where .. ".suffix")
		to = to and fqdn(to, where .. ".to")
		if to and (from:byte(1) == 46) ~= (to:byte(1) == 46) then
			error(where .. ": suffix and to both start with '.' or neither does", 0)
		end
		r.match = suffix_matcher(from, to)
		back = to and suffix_matcher(to, from)
	elseif kind == "prefix" then
		from = from:lower()
		to = to and to:lower()
		r.match = prefix_matcher(from, to)
		back = to and prefix_matcher(to, from)
	elseif kind == "substring" then
		-- Mapping every occurrence of `to` back would rename unrelated
		-- names (to may be "."): auto maps only the rewritten name.
		from = from:lower()
		to = to and to:lower()
		r.match = substring_matcher(from, to)
		back = to and "query"
	elseif kind == "regex" then
		local ok, re = pcall(compile_regex, from)
		if not ok then
			error(where .. ".regex: " .. tostring(re), 0)
		end
		r.match = regex_matcher(re, to and compile_replacement(to, re, where .. ".to"))
	end
	r.renames = to ~= nil

	if rule.type ~= nil then
		local t = rule.type
		if type(t) ~= "table" or t.from == nil or t.to == nil then
			error(where .. ".type: { from: TYPE, to: TYPE }", 0)
		end
		r.type_from = type_num(t.from, where .. ".type.from")
		r.type_to = type_num(t.to, where .. ".type.to")
	end
	if rule.edns0 ~= nil then
		r.edns_code, r.edns_data = parse_edns0(rule.edns0, where .. ".edns0")
	end
	if rule.class ~= nil then
		local c = rule.class
		if type(c) ~= "table" or c.from == nil or c.to == nil then
			error(where .. ".class: { from: CLASS, to: CLASS }", 0)
		end
		r.class_from = class_num(c.from, where .. ".class.from")
		r.class_to = class_num(c.to, where .. ".class.to")
	end
	if rule.ttl ~= nil then
		r.ttl_min, r.ttl_max = parse_ttl(rule.ttl, where .. ".ttl")
	end
	if rule.rcode ~= nil then
		r.rcodes = parse_rcode_map(rule.rcode, where .. ".rcode")
	end

	local answer = rule.answer
	if answer == nil then
		answer = back and "auto" or "none"
	end
	if answer == "auto" then
		if not back then
			error(where .. ".answer: auto maps names back for exact, prefix, suffix and"
				.. " substring rules with 'to'; a regex rule lists its answer rules", 0)
		end
		r.answer = { { owner = true, value = true, map = back ~= "query" and back or nil } }
	elseif answer == "none" or answer == false then
		r.answer = nil
	elseif type(answer) == "table" then
		r.answer = parse_answer_rules(answer, where .. ".answer")
	else
		error(where .. ".answer: auto, none, or a list of { name|value: REGEX, to: ... }", 0)
	end
	r.responds = r.answer ~= nil or r.ttl_min ~= nil or r.rcodes ~= nil
	if not r.renames and not r.type_to and not r.class_to and not r.edns_code
		and not r.responds then
		error(where .. ": the rule does nothing (give to, type, class, edns0, ttl, rcode or"
			.. " answer)", 0)
	end
	return r
end

-- The policy ----------------------------------------------------------------

-- Loaded with the argument "internals" (t/lua/policies/rewrite_spec.lua),
-- the file returns its helpers instead of the constructor.
if ... == "internals" then
	return { compile_regex = compile_regex, valid_name = valid_name,
		suffix_matcher = suffix_matcher }
end

return function(opts)
	opts = moon.options(opts, {
		rules = { type = "list", required = true },
		meta = { type = "string", default = "rewrite/rules" },
	})
	if #opts.rules == 0 then
		error("option rules: at least one rule", 0)
	end
	local rules = {}
	local responds = false      -- some rule acts on the response
	local conditional = false   -- some rule acts on the response without renaming
	for k, rule in ipairs(opts.rules) do
		local r = parse_rule(rule, k)
		rules[k] = r
		responds = responds or r.responds
		conditional = conditional or (r.responds and not r.renames and not r.type_to
			and not r.class_to)
	end
	local key = opts.meta
	local nrules = #rules
	local rewrites = moon.counter("rewrites")
	local bad_names = moon.counter("invalid_names")

	local function query(q)
		local name, qtype, qclass, edits
		local fired
		local orig_type, orig_class = q.type, q.class
		for k = 1, nrules do
			local r = rules[k]
			local ok = true
			local cur_type = qtype or orig_type
			if r.type_from and cur_type ~= r.type_from then
				ok = false
			end
			if r.class_from and (qclass or orig_class) ~= r.class_from then
				ok = false
			end
			local new
			if ok and r.match then
				name = name or q.name
				new = r.match(name)
				ok = new ~= nil
			end
			if ok then
				if r.renames then
					name = new
				end
				if r.type_to then
					qtype = r.type_to
				end
				if r.class_to then
					qclass = r.class_to
				end
				if r.edns_code then
					edits = edits or {}
					edits[#edits + 1] = r
				end
				fired = fired and (fired .. "," .. k) or tostring(k)
				if r.stop then
					break
				end
			end
		end
		if not fired then
			return nil
		end
		local renamed = name ~= nil and name ~= q.name
		if renamed and not valid_name(name) then
			bad_names:inc()
			moon.log.warn("rewrite of %s gives an invalid name: %s", q.name, name)
			return q:servfail()
		end
		if edits then
			for i = 1, #edits do
				q:set_edns_option(edits[i].edns_code, edits[i].edns_data)
			end
		end
		local reclassed = qclass ~= nil and qclass ~= orig_class
		if renamed or (qtype and qtype ~= orig_type) or reclassed then
			q:rewrite{ name = renamed and name or nil, type = qtype,
				class = reclassed and qclass or nil }
			rewrites:inc()
		end
		if responds then
			q.meta[key] = fired
		end
		return nil
	end

	-- The new text of rec, or nil if its names stay.
	local function mapped(rec, maps)
		local owner = rec.name:lower()
		local new_owner = owner
		for k = 1, #maps do
			local m = maps[k]
			if m.owner then
				new_owner = m.map(new_owner) or new_owner
			end
		end
		local tname = rec.type_name
		local fields = NAME_FIELDS[tname]
		local rdata = rec.rdata
		local new_rdata = rdata
		if fields and rdata then
			local toks = {}
			for tok in rdata:gmatch("%S+") do
				toks[#toks + 1] = tok
			end
			local idx = fields == "last" and { #toks } or fields
			local changed = false
			for _, i in ipairs(idx) do
				local tok = toks[i]
				if tok then
					local v = tok:lower()
					for k = 1, #maps do
						local m = maps[k]
						if m.value then
							v = m.map(v) or v
						end
					end
					if v ~= tok:lower() then
						toks[i] = v
						changed = true
					end
				end
			end
			if changed then
				new_rdata = table.concat(toks, " ")
			end
		end
		if new_owner == owner and new_rdata == rdata then
			return nil
		end
		local class = rec.class
		return string.format("%s %d %s %s %s", new_owner, rec.ttl,
			CLASS_NAMES[class] or ("CLASS" .. class), tname, new_rdata or "")
	end

	local function response(q, r)
		if not conditional and not q.rewritten then
			return nil
		end
		local fired = q.meta[key]
		if not fired then
			return nil
		end
		local list = {}
		for idx in fired:gmatch("%d+") do
			table.insert(list, 1, rules[tonumber(idx)])
		end
		local maps
		for _, rule in ipairs(list) do
			if rule.answer then
				maps = maps or {}
				for _, a in ipairs(rule.answer) do
					if a.map then
						maps[#maps + 1] = a
					else
						-- The rewritten name, wherever it appears, is the client's.
						local qname, orig = q.name, q.orig_name:lower()
						maps[#maps + 1] = { owner = true, value = true,
							map = function(n) return n == qname and orig or nil end }
					end
				end
			end
			if rule.rcodes then
				local to = rule.rcodes[r.rcode]
				if to then
					r.rcode = to
				end
			end
		end
		if maps then
			for _, rec in ipairs(r:records()) do
				local text = mapped(rec, maps)
				if text then
					r:replace(rec, text)
				end
			end
		end
		for _, rule in ipairs(list) do
			if rule.ttl_min then
				r:clamp_ttl(rule.ttl_min, rule.ttl_max)
			end
		end
		return nil
	end

	return { query = query, response = responds and response or nil }
end
