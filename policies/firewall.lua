-- firewall: ordered allow / refuse / block / drop rules over the query and
-- the response, with conditions written as Lua expressions
-- (doc/policies/firewall.md).
--
--   - metadata_edns0: { secret: { code: 65200, format: bytes } }
--   - firewall:
--       query:
--         - allow: 'meta["metadata_edns0/secret"] == "s3cret"'
--         - refuse: true
--       response:
--         - block: 'any_ip_in("10.0.0.0/8")'
--       default: allow
--
-- Every expression is checked and compiled once, when the policy loads:
-- the names it may use are the variables and functions below, anything
-- else is an error at load time (a typo must not turn into "never
-- matches"). A variable is read from the query or response only when the
-- expression evaluates it.

local moon = require("moon")

local byte, find, sub = string.byte, string.find, string.sub

-- Variables and functions of expressions -------------------------------------

local CLASSES = { [1] = "IN", [3] = "CH", [4] = "HS", [254] = "NONE", [255] = "ANY" }

-- name -> function(q, r) returning the value; "query" variables exist in
-- both stages, "response" ones only in response rules.
local QVARS = {
	name = function(q) return q.name end,
	type = function(q) return q.type_name end,
	qtype = function(q) return q.type end,
	class = function(q) return CLASSES[q.class] or ("CLASS" .. q.class) end,
	proto = function(q) return q.proto end,
	client = function(q) return q.client end,
	client_port = function(q) return q.client_port end,
	server = function(q) return q.server end,
	server_port = function(q) return q.server_port end,
	id = function(q) return q.id end,
	opcode = function(q) return q.opcode end,
	rd = function(q) return q.rd end,
	cd = function(q) return q.cd end,
	dnssec_ok = function(q) return q.do_bit end,
	edns = function(q) return q.edns end,
	bufsize = function(q) return q.bufsize end,
	meta = function(q) return q.meta end,
}

local function answer_ips(r)
	local ips = {}
	for _, rec in ipairs(r:records("answer")) do
		local ty = rec.type
		if ty == 1 or ty == 28 then
			ips[#ips + 1] = rec.ip
		end
	end
	return ips
end

local RVARS = {
	rcode = function(_, r) return r.rcode_name end,
	source = function(_, r) return r.source end,
	aa = function(_, r) return r.aa end,
	tc = function(_, r) return r.tc end,
	answers = function(_, r) return r:count("answer") end,
	response_ip = function(_, r) return answer_ips(r)[1] end,
	response_ips = function(_, r) return answer_ips(r) end,
}

-- Parsed networks by their text; filled at load time from the literals of
-- the expressions, and at run time (bounded) for computed ones.
local nets = {}
local nets_count = 0

local function net_of(text)
	local set = nets[text]
	if set == nil then
		if type(text) ~= "string" then
			error("incidr: a network is a string like \"10.0.0.0/8\", not "
				.. type(text), 3)
		end
		set = moon.cidr(text)
		if nets_count < 1000 then
			nets[text] = set
			nets_count = nets_count + 1
		end
	end
	return set
end

local function incidr(addr, ...)
	if type(addr) ~= "string" then
		return false
	end
	for i = 1, select("#", ...) do
		if net_of((select(i, ...))):contains(addr) then
			return true
		end
	end
	return false
end

local function match(s, pattern)
	if type(s) ~= "string" then
		return false
	end
	return find(s, pattern) ~= nil
end

-- Compiled regexes by their source, like nets: literals at load time,
-- computed ones (bounded) when first used.
local regexes = {}
local regexes_count = 0

local function regex_of(src)
	local re = regexes[src]
	if re == nil then
		if type(src) ~= "string" then
			error("regex: a pattern is a string, not " .. type(src), 3)
		end
		re = moon.regex(src)
		if regexes_count < 1000 then
			regexes[src] = re
			regexes_count = regexes_count + 1
		end
	end
	return re
end

-- regex(s, pattern): PCRE2 (JIT), case-sensitive like match().
local function regex(s, pattern)
	if type(s) ~= "string" then
		return false
	end
	return regex_of(pattern):test(s)
end

local function canon(z)
	z = z:lower()
	if byte(z, #z) ~= 46 then
		z = z .. "."
	end
	return z
end

-- Is name (as q.name: lowercase, final dot) one of the zones or below one?
local function inzone(name, ...)
	if type(name) ~= "string" then
		return false
	end
	local n = #name
	for i = 1, select("#", ...) do
		local z = canon((select(i, ...)))
		local zl = #z
		if z == "." or name == z or (n > zl and byte(name, n - zl) == 46 and
		    sub(name, n - zl + 1) == z) then
			return true
		end
	end
	return false
end

-- The names every expression may use besides the variables. Those that
-- need the current q or r read it through `cur`.
local cur = { q = nil, r = nil }

local FUNCS = {
	incidr = incidr,
	match = match,
	regex = regex,
	inzone = inzone,
	edns_option = function(code) return cur.q:edns_option(code) end,
	tostring = tostring,
	tonumber = tonumber,
}

local RFUNCS = {
	any_ip_in = function(...)
		local ips = answer_ips(cur.r)
		for i = 1, #ips do
			if incidr(ips[i], ...) then
				return true
			end
		end
		return false
	end,
}

-- Checking expressions -------------------------------------------------------

local KEYWORDS = {
	["and"] = true, ["or"] = true, ["not"] = true, ["true"] = true, ["false"] = true,
	["nil"] = true,
}
local STATEMENTS = {
	["break"] = true, ["do"] = true, ["else"] = true, ["elseif"] = true, ["end"] = true,
	["for"] = true, ["function"] = true, ["goto"] = true, ["if"] = true, ["in"] = true,
	["local"] = true, ["repeat"] = true, ["return"] = true, ["then"] = true,
	["until"] = true, ["while"] = true,
}

-- Functions whose string-literal arguments are checked at load time:
-- argument positions from `first` on are networks or patterns.
local LITERAL_ARGS = {
	incidr = { first = 2, check = "net" }, any_ip_in = { first = 1, check = "net" },
	match = { first = 2, last = 2, check = "pattern" },
	regex = { first = 2, last = 2, check = "regex" },
}

local function check_literal(kind, value)
	if kind == "net" then
		local ok, set = pcall(moon.cidr, value)
		if not ok then
			return "bad network \"" .. value .. "\""
		end
		nets[value] = set
	elseif kind == "regex" then
		local ok, re = pcall(moon.regex, value)
		if not ok then
			return "bad regex \"" .. value .. "\": "
				.. (tostring(re):match("moon%.regex: (.*)$") or tostring(re))
		end
		regexes[value] = re
	else
		local ok = pcall(find, "", value)
		if not ok then
			return "bad pattern \"" .. value .. "\""
		end
	end
	return nil
end

-- Walks the expression's tokens: every free name must be known, no
-- statement keywords, and literal networks and patterns must parse.
-- Returns nil, or "name" and an unknown name, or "error" and what is wrong.
local function scan(expr, known)
	local i, n = 1, #expr
	local prev = nil           -- the last significant token
	local depth = 0
	local calls = {}           -- open calls of LITERAL_ARGS functions
	local pending = nil        -- a LITERAL_ARGS name just seen
	while i <= n do
		local c = sub(expr, i, i)
		if find(c, "%s") then
			i = i + 1
		elseif sub(expr, i, i + 1) == "--" then
			return "error", "comments are not allowed in expressions"
		elseif c == "'" or c == '"' or (c == "[" and find(expr, "^%[=*%[", i)) then
			local s, e
			if c == "[" then
				local eq = expr:match("^%[(=*)%[", i)
				s, e = i, select(2, find(expr, "]" .. eq .. "]", i, true))
			else
				local j = i + 1
				while j <= n and sub(expr, j, j) ~= c do
					j = j + (sub(expr, j, j) == "\\" and 2 or 1)
				end
				s, e = i, j <= n and j or nil
			end
			if not e then
				return "error", "unfinished string"
			end
			local call = calls[#calls]
			if call and call.depth == depth and call.arg >= call.spec.first and
			    call.arg <= (call.spec.last or math.huge) then
				local f = load("return " .. sub(expr, s, e), "=literal", "t", {})
				local ok, value = pcall(f or error)
				if ok and type(value) == "string" then
					local why = check_literal(call.spec.check, value)
					if why then
						return "error", why
					end
				end
			end
			prev = "string"
			i = e + 1
		elseif find(c, "[%a_]") then
			local word = expr:match("^[%a_][%w_]*", i)
			i = i + #word
			if prev == "." or prev == ":" then
				prev = "field"
			elseif STATEMENTS[word] then
				return "error", "'" .. word .. "' is not allowed: a rule is one expression"
			elseif KEYWORDS[word] then
				prev = word
			else
				if not known[word] then
					return "name", word
				end
				pending = LITERAL_ARGS[word] and word or nil
				prev = "name"
			end
		elseif find(c, "%d") or (c == "." and find(expr, "^%.%d", i)) then
			i = i + #expr:match("^[%w%.]+", i)
			if sub(expr, i - 1, i - 1):lower() == "e" and find(expr, "^[%+%-]", i) then
				i = i + #expr:match("^[%+%-][%w%.]*", i)
			end
			prev = "number"
		else
			if c == "." and sub(expr, i + 1, i + 1) == "." then
				local dots = expr:match("^%.+", i)
				i = i + #dots
				prev = dots
			else
				if c == "(" or c == "[" or c == "{" then
					depth = depth + 1
					if c == "(" and pending and prev == "name" then
						calls[#calls + 1] = { spec = LITERAL_ARGS[pending], depth = depth,
							arg = 1 }
					end
				elseif c == ")" or c == "]" or c == "}" then
					local call = calls[#calls]
					if call and call.depth == depth then
						calls[#calls] = nil
					end
					depth = depth - 1
				elseif c == "," then
					local call = calls[#calls]
					if call and call.depth == depth then
						call.arg = call.arg + 1
					end
				end
				pending = nil
				prev = c
				i = i + 1
			end
		end
	end
	return nil
end

if ... == "internals" then
	return { scan = scan, inzone = inzone }
end

-- Options --------------------------------------------------------------------

local ACTIONS = { allow = true, refuse = true, block = true, drop = true }
local STAGES = { "query", "response" }

-- EDE (RFC 8914) by stage and action: a query refused is a client not
-- allowed (Prohibited); a name or an answer kept from the client by the
-- operator's policy is Blocked.
local EDE = {
	query = { refuse = 18, block = 15 },
	response = { refuse = 15, block = 15 },
}

local function fail(fmt, ...)
	error(string.format(fmt, ...), 0)
end

local function known_names(stage)
	local known = {}
	for k in pairs(QVARS) do known[k] = "var" end
	for k in pairs(FUNCS) do known[k] = "func" end
	if stage == "response" then
		for k in pairs(RVARS) do known[k] = "var" end
		for k in pairs(RFUNCS) do known[k] = "func" end
	end
	return known
end

local function sorted_keys(t)
	local out = {}
	for k in pairs(t) do
		out[#out + 1] = k
	end
	table.sort(out)
	return table.concat(out, ", ")
end

-- The environment expressions of a stage run in: functions are plain
-- entries, variables are read on access from the current q and r.
local function environment(stage)
	local vars = {}
	for k, v in pairs(QVARS) do vars[k] = v end
	local env = {}
	for k, v in pairs(FUNCS) do env[k] = v end
	if stage == "response" then
		for k, v in pairs(RVARS) do vars[k] = v end
		for k, v in pairs(RFUNCS) do env[k] = v end
	end
	return setmetatable(env, {
		__index = function(_, k)
			local get = vars[k]
			if get == nil then
				error("unknown name '" .. tostring(k) .. "'", 2)
			end
			return get(cur.q, cur.r)
		end,
		__newindex = function(_, k)
			error("expressions cannot assign ('" .. tostring(k) .. "')", 2)
		end,
	})
end

local function ede_code(v, where)
	if v == false then
		return false
	end
	local code = type(v) == "number" and v or moon.ede[tostring(v):upper()]
	if type(code) ~= "number" or code < 0 or code > 65535 or code % 1 ~= 0 then
		fail("%s: ede must be an EDE code (number or name such as Blocked) or false", where)
	end
	return code
end

local function compile_rule(stage, i, rule, env, known, ede_on)
	local where = string.format("option '%s[%d]'", stage, i)
	if type(rule) ~= "table" then
		fail("%s: a rule is a table such as { refuse = 'type == \"ANY\"' }", where)
	end
	local action, cond
	for k, v in pairs(rule) do
		if ACTIONS[k] then
			if action then
				fail("%s: one action per rule (%s and %s)", where, action, k)
			end
			action, cond = k, v
		elseif k ~= "ede" and k ~= "ede_text" then
			fail("%s: unknown key '%s' (allow, refuse, block, drop, ede, ede_text)", where,
				tostring(k))
		end
	end
	if not action then
		fail("%s: no action (allow, refuse, block or drop)", where)
	end
	local out = { action = action, label = action .. " " .. stage .. "[" .. i .. "]" }
	if cond == "true" then
		cond = true
	elseif cond == "false" then
		cond = false
	end
	if type(cond) == "boolean" then
		out.always = cond
	elseif type(cond) == "string" then
		local kind, bad = scan(cond, known)
		if kind == "name" then
			local hint = ""
			if stage == "query" and (RVARS[bad] or RFUNCS[bad]) then
				hint = " (it exists in response rules only)"
			end
			fail("%s: unknown name '%s'%s in: %s\n  known: %s", where, bad, hint, cond,
				sorted_keys(known))
		elseif kind then
			fail("%s: %s in: %s", where, bad, cond)
		end
		local fn, err = load("return (" .. cond .. "\n)", "=firewall " .. stage .. "[" .. i .. "]",
			"t", env)
		if not fn then
			fail("%s: %s", where, (err:gsub("^firewall [^:]*:%d+: ", "")))
		end
		out.fn = fn
	else
		fail("%s: the condition of %s is a Lua expression (a string) or true", where, action)
	end
	local ede = EDE[stage][action]
	if rule.ede ~= nil then
		ede = ede_code(rule.ede, where)
	end
	out.ede = ede_on and ede or false
	if rule.ede_text ~= nil then
		if type(rule.ede_text) ~= "string" then
			fail("%s: ede_text must be a string", where)
		end
		out.ede_text = rule.ede_text
	end
	-- block: the SOA of the block's zone for the name, when it has one, so
	-- that clients cache the NXDOMAIN like the zone's own (RFC 2308).
	out.reply = { ede = out.ede, ede_text = out.ede_text, soa = action == "block" or nil }
	return out
end

local function defaults_of(opts)
	local d = opts.default
	local out = {}
	if d == nil then
		return out
	end
	if type(d) == "string" then
		d = { query = d, response = d }
	elseif type(d) ~= "table" then
		fail("option 'default' must be allow, refuse, block or drop (or { query = ..., "
			.. "response = ... })")
	end
	for k, v in pairs(d) do
		if k ~= "query" and k ~= "response" then
			fail("option 'default': unknown stage '%s' (query, response)", tostring(k))
		end
		if not ACTIONS[v] then
			fail("option 'default.%s' must be allow, refuse, block or drop", k)
		end
		out[k] = v
	end
	return out
end

return function(opts)
	for k in pairs(opts) do
		if k ~= "query" and k ~= "response" and k ~= "default" and k ~= "ede" and
		    k ~= "tag" then
			fail("unknown option '%s' (query, response, default, ede, tag)", tostring(k))
		end
	end
	if opts.query == nil and opts.response == nil then
		fail("no rules: give option 'query' and/or 'response', lists of rules")
	end
	local ede_on = opts.ede ~= false
	local tag = opts.tag == true
	local defaults = defaults_of(opts)
	local hooks = {}
	for _, stage in ipairs(STAGES) do
		local list = opts[stage]
		if list ~= nil then
			if type(list) ~= "table" or (#list == 0 and next(list) ~= nil) then
				fail("option '%s' must be a list of rules", stage)
			end
			local env, known = environment(stage), known_names(stage)
			local rules = {}
			for i, rule in ipairs(list) do
				rules[i] = compile_rule(stage, i, rule, env, known, ede_on)
			end
			local last = rules[#rules]
			local default = defaults[stage]
			if default == nil and not (last and last.always == true) then
				fail("option 'default' is required: say what happens to a %s no rule "
					.. "matches (default: allow, refuse, block or drop), or end the '%s' "
					.. "list with an unconditional rule such as '- refuse: true'",
					stage, stage)
			end
			if default then
				rules[#rules + 1] = compile_rule(stage, #rules + 1, { [default] = true },
					env, known, ede_on)
				rules[#rules].label = default .. " " .. stage .. " default"
			end
			hooks[stage] = { rules = rules, counters = {}, tag_key = "firewall/" .. stage }
			for action in pairs(ACTIONS) do
				hooks[stage].counters[action] = moon.counter(stage .. "_" .. action)
			end
		end
	end

	-- Runs the rules of a stage; returns the verdict of the first match.
	-- With both stages, a reply made by the query rules is marked in q.meta,
	-- so that the response rules (which see every reply) leave it alone.
	local both = hooks.query ~= nil and hooks.response ~= nil
	local MARK = "firewall/query"
	local function run(h, q, r)
		cur.q, cur.r = q, r
		local rules = h.rules
		for i = 1, #rules do
			local rule = rules[i]
			local hit = rule.always
			if hit == nil then
				hit = rule.fn()
			end
			if hit then
				local action = rule.action
				h.counters[action]:inc()
				if tag or (both and r == nil and action ~= "allow") then
					q.meta[h.tag_key] = rule.label
				end
				if action == "allow" then
					return nil
				elseif action == "refuse" then
					return q:refuse(rule.reply)
				elseif action == "block" then
					return q:nxdomain(rule.reply)
				end
				return q:drop()
			end
		end
		return nil
	end

	local out = {}
	local hq, hr = hooks.query, hooks.response
	if hq then
		out.query = function(q) return run(hq, q, nil) end
	end
	if hr then
		out.response = function(q, r)
			if both and r.source == "policy" then
				local mark = q.meta[MARK]
				if mark and not find(mark, "^allow ") then
					return nil
				end
			end
			return run(hr, q, r)
		end
	end
	return out
end
