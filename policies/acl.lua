-- acl: allow, block, filter or drop queries by client address and query
-- type, per zone (doc/policies/acl.md).
--
--   - acl:
--       zones: [ example.com. ]
--       rules:
--         - { action: block, type: [ AXFR, ANY ] }
--         - { action: allow, net: [ 10.0.0.0/8, "2001:db8::/32" ] }
--         - { action: filter, net: [ 192.0.2.0/24 ], type: [ TXT ] }
--         - { action: block }
--
-- The first rule whose type and net both match decides; no match leaves
-- the query alone (the `default` option). Addresses are kept as numbers
-- in sorted, merged ranges, so a rule with 10,000 prefixes costs one
-- binary search (about 14 steps) per query, and the client's address is
-- parsed from its text without creating strings.
--
-- Called with the argument "internals" (t/lua/policies/acl_spec.lua does),
-- the file returns its address parser and range sets instead of the
-- constructor, so they can be checked against a brute-force reference.

local moon = require("moon")

local byte, find, floor = string.byte, string.find, math.floor

-- Addresses ----------------------------------------------------------------
-- An IPv4 address is one number (0 .. 2^32-1); an IPv6 address is four
-- 32-bit words, most significant first. Doubles hold both exactly.

-- The dotted quad s[i..j], or nil.
local function parse4(s, i, j)
	local n, oct, digits, dots = 0, 0, 0, 0
	for k = i, j do
		local c = byte(s, k)
		if c >= 48 and c <= 57 then
			oct = oct * 10 + c - 48
			digits = digits + 1
			if digits > 3 or oct > 255 then
				return nil
			end
		elseif c == 46 and digits > 0 then
			n = n * 256 + oct
			oct, digits, dots = 0, 0, dots + 1
		else
			return nil
		end
	end
	if dots ~= 3 or digits == 0 then
		return nil
	end
	return n * 256 + oct
end

local groups = { 0, 0, 0, 0, 0, 0, 0, 0 }      -- scratch of parse6

local function hexval(c)
	if c >= 48 and c <= 57 then
		return c - 48
	elseif c >= 97 and c <= 102 then
		return c - 87
	elseif c >= 65 and c <= 70 then
		return c - 55
	end
	return nil
end

-- The 16-bit groups of the IPv6 text s[1..len] into `groups`; returns
-- true, or nil when s is not an address.
local function groups6(s, len)
	local ng, gap, i = 0, -1, 1
	if byte(s, 1) == 58 then
		if byte(s, 2) ~= 58 then
			return nil
		end
		gap, i = 0, 3
	end
	while i <= len do
		local v, d, k = 0, 0, i
		while k <= len do
			local h = hexval(byte(s, k))
			if not h then
				break
			end
			v, d, k = v * 16 + h, d + 1, k + 1
			if d > 4 then
				return nil
			end
		end
		if k <= len and byte(s, k) == 46 then
			-- A dotted IPv4 tail fills the last two groups.
			local v4 = parse4(s, i, len)
			if not v4 or ng > 6 then
				return nil
			end
			groups[ng + 1] = floor(v4 / 65536)
			groups[ng + 2] = v4 % 65536
			ng = ng + 2
			break
		end
		if d == 0 or ng == 8 then
			return nil
		end
		ng = ng + 1
		groups[ng] = v
		if k > len then
			break
		end
		if byte(s, k) ~= 58 then
			return nil
		end
		if byte(s, k + 1) == 58 then
			if gap >= 0 then
				return nil
			end
			gap, i = ng, k + 2
		else
			i = k + 1
			if i > len then
				return nil
			end
		end
	end
	if gap < 0 then
		return ng == 8 or nil
	end
	if ng > 7 then
		return nil
	end
	-- Move the groups after "::" to the end and zero the gap.
	local shift = 8 - ng
	for g = ng, gap + 1, -1 do
		groups[g + shift] = groups[g]
	end
	for g = gap + 1, gap + shift do
		groups[g] = 0
	end
	return true
end

-- parse(text) -> 4, n | 6, w1, w2, w3, w4 | nil. An IPv6 zone suffix
-- ("%eth0") is ignored; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
-- the IPv4 address it maps.
local function parse(s)
	if type(s) ~= "string" then
		return nil
	end
	if not find(s, ":", 1, true) then
		local n = parse4(s, 1, #s)
		if n then
			return 4, n
		end
		return nil
	end
	local len = #s
	local pct = find(s, "%", 1, true)
	if pct then
		len = pct - 1
	end
	if len < 2 or not groups6(s, len) then
		return nil
	end
	local g = groups
	local w1, w2 = g[1] * 65536 + g[2], g[3] * 65536 + g[4]
	local w3, w4 = g[5] * 65536 + g[6], g[7] * 65536 + g[8]
	if w1 == 0 and w2 == 0 and w3 == 0xffff then
		return 4, w4
	end
	return 6, w1, w2, w3, w4
end

-- Range sets ---------------------------------------------------------------

local TWO32 = 4294967296

-- The range [lo, hi] of the bits of word w under a prefix that leaves
-- `host` bits of it free (0 .. 32).
local function word_range(w, host)
	if host <= 0 then
		return w, w
	end
	if host >= 32 then
		return 0, TWO32 - 1
	end
	local size = 2 ^ host
	local lo = w - w % size
	return lo, lo + size - 1
end

-- "10.0.0.0/8", "192.0.2.1", "2001:db8::/32" -> family and the range as
-- { lo words..., hi words... } (IPv4: { lo, hi }), or nil and why.
local function prefix_range(text)
	if type(text) ~= "string" then
		return nil, "not a string"
	end
	local addr, len = text:match("^([^/]+)/(%d+)$")
	addr = addr or text
	local fam, a, b, c, d = parse(addr)
	if not fam then
		return nil, "not an address"
	end
	-- A mapped address is written as IPv6 but matched as IPv4.
	local v6_text = find(addr, ":", 1, true) ~= nil
	local bits = fam == 4 and 32 or 128
	len = len and tonumber(len)
	if len == nil then
		len = v6_text and 128 or 32
	end
	if fam == 4 and v6_text then
		if len < 96 then
			return nil, "an IPv4-mapped prefix must be /96 or longer"
		end
		len = len - 96
	end
	if len > bits then
		return nil, "prefix longer than the address"
	end
	if fam == 4 then
		local lo, hi = word_range(a, 32 - len)
		return 4, { lo, hi }
	end
	local r = {}
	local w = { a, b, c, d }
	for k = 1, 4 do
		r[k], r[k + 4] = word_range(w[k], 32 * k - len)
	end
	return 6, r
end

local function less6(x, y, ox, oy)
	for k = 1, 4 do
		local a, b = x[ox + k], y[oy + k]
		if a ~= b then
			return a < b
		end
	end
	return false
end

-- The next IPv6 value after the words r[o+1..o+4] (nil past the end).
local function succ6(r, o)
	local w = { r[o + 1], r[o + 2], r[o + 3], r[o + 4] }
	for k = 4, 1, -1 do
		if w[k] < TWO32 - 1 then
			w[k] = w[k] + 1
			return w
		end
		w[k] = 0
	end
	return nil
end

-- Sorts and merges ranges (overlapping or adjacent become one).
local function merge4(list)
	table.sort(list, function(x, y) return x[1] < y[1] end)
	local lo, hi = {}, {}
	for _, rg in ipairs(list) do
		local n = #lo
		if n > 0 and rg[1] <= hi[n] + 1 then
			if rg[2] > hi[n] then
				hi[n] = rg[2]
			end
		else
			lo[n + 1], hi[n + 1] = rg[1], rg[2]
		end
	end
	return lo, hi, #lo
end

local function merge6(list)
	table.sort(list, function(x, y) return less6(x, y, 0, 0) end)
	local lo, hi, n = {}, {}, 0
	for _, rg in ipairs(list) do
		local o = (n - 1) * 4
		local after = n > 0 and succ6(hi, o)
		if n > 0 and (after == nil or not less6(after, rg, 0, 0)) then
			if less6(hi, rg, o, 4) then
				for k = 1, 4 do
					hi[o + k] = rg[4 + k]
				end
			end
		else
			o = n * 4
			for k = 1, 4 do
				lo[o + k], hi[o + k] = rg[k], rg[4 + k]
			end
			n = n + 1
		end
	end
	return lo, hi, n
end

local Set = {}
Set.__index = Set

-- new_set(list of prefixes) -> set, or nil and the bad entry and why.
local function new_set(list)
	local l4, l6 = {}, {}
	for _, text in ipairs(list) do
		local fam, rg = prefix_range(text)
		if not fam then
			return nil, text, rg
		end
		if fam == 4 then
			l4[#l4 + 1] = rg
		else
			l6[#l6 + 1] = rg
		end
	end
	local s = setmetatable({}, Set)
	s.lo4, s.hi4, s.n4 = merge4(l4)
	s.lo6, s.hi6, s.n6 = merge6(l6)
	return s
end

-- Is the IPv4 address n in the set?
function Set.has4(s, n)
	local lo, m = s.lo4, s.n4
	if m == 0 or n < lo[1] then
		return false
	end
	local a, b = 1, m
	while a < b do
		local mid = floor((a + b + 1) / 2)
		if lo[mid] <= n then
			a = mid
		else
			b = mid - 1
		end
	end
	return n <= s.hi4[a]
end

-- Is the IPv6 address (w1, w2, w3, w4) in the set?
function Set.has6(s, w1, w2, w3, w4)
	local lo, m = s.lo6, s.n6
	-- The last range whose start is <= the address.
	local a, b = 0, m
	while a < b do
		local mid = floor((a + b + 1) / 2)
		local o = (mid - 1) * 4
		local le
		local x = lo[o + 1]
		if x ~= w1 then
			le = x < w1
		else
			x = lo[o + 2]
			if x ~= w2 then
				le = x < w2
			else
				x = lo[o + 3]
				if x ~= w3 then
					le = x < w3
				else
					le = lo[o + 4] <= w4
				end
			end
		end
		if le then
			a = mid
		else
			b = mid - 1
		end
	end
	if a == 0 then
		return false
	end
	local hi, o = s.hi6, (a - 1) * 4
	local x = hi[o + 1]
	if x ~= w1 then
		return x > w1
	end
	x = hi[o + 2]
	if x ~= w2 then
		return x > w2
	end
	x = hi[o + 3]
	if x ~= w3 then
		return x > w3
	end
	return hi[o + 4] >= w4
end

-- Is the address text in the set? (for specs and tools)
function Set.contains(s, text)
	local fam, a, b, c, d = parse(text)
	if fam == 4 then
		return s:has4(a)
	elseif fam == 6 then
		return s:has6(a, b, c, d)
	end
	return nil
end

if ... == "internals" then
	return { parse = parse, new_set = new_set, prefix_range = prefix_range }
end

-- Options ------------------------------------------------------------------

local ACTIONS = { allow = true, block = true, filter = true, drop = true }
local RULE_KEYS = { action = true, net = true, type = true }

local function fail(fmt, ...)
	error(string.format(fmt, ...), 0)
end

local function list_of(v, what)
	if type(v) == "string" or type(v) == "number" then
		return { v }
	end
	if type(v) ~= "table" then
		fail("%s must be a list", what)
	end
	return v
end

local function is_any(list)
	return #list == 1 and list[1] == "*"
end

local function zone_set(zones)
	local out = {}
	for i, z in ipairs(list_of(zones, "option 'zones'")) do
		if type(z) ~= "string" or z == "" then
			fail("option 'zones[%d]': a domain name", i)
		end
		z = z:lower()
		if z:sub(-1) ~= "." then
			z = z .. "."
		end
		if z == "." then
			return nil              -- the root covers every name
		end
		out[#out + 1] = z
	end
	return out
end

-- Is name (lowercase, with the final dot) one of zones or below one?
local function in_zones(zones, name)
	local n = #name
	for i = 1, #zones do
		local z = zones[i]
		local zl = #z
		if n == zl then
			if name == z then
				return true
			end
		elseif n > zl and byte(name, n - zl) == 46 and find(name, z, n - zl + 1, true) then
			return true
		end
	end
	return false
end

local function compile_rule(i, rule)
	local where = "option 'rules[" .. i .. "]'"
	if type(rule) ~= "table" then
		fail("%s: a table { action = ..., net = ..., type = ... }", where)
	end
	for k in pairs(rule) do
		if not RULE_KEYS[k] then
			fail("%s: unknown key '%s' (action, net, type)", where, tostring(k))
		end
	end
	if not ACTIONS[rule.action] then
		fail("%s: action must be allow, block, filter or drop", where)
	end
	local out = { action = rule.action }
	if rule.type ~= nil then
		local types = list_of(rule.type, where .. ": type")
		if not is_any(types) then
			out.types = {}
			for _, ty in ipairs(types) do
				local n = type(ty) == "number" and ty or moon.type[tostring(ty):upper()]
				if type(n) ~= "number" or n < 0 or n > 65535 or n % 1 ~= 0 then
					fail("%s: unknown query type '%s'", where, tostring(ty))
				end
				out.types[n] = true
			end
		end
	end
	if rule.net ~= nil then
		local nets = list_of(rule.net, where .. ": net")
		if not is_any(nets) then
			local set, bad, why = new_set(nets)
			if not set then
				fail("%s: net '%s': %s", where, tostring(bad), why)
			end
			out.set = set
		end
	end
	return out
end

return function(opts)
	for k in pairs(opts) do
		if k ~= "zones" and k ~= "rules" and k ~= "default" then
			fail("unknown option '%s' (zones, rules, default)", tostring(k))
		end
	end
	if type(opts.rules) ~= "table" or #opts.rules == 0 then
		fail("option 'rules' is required: a list of { action, net, type }")
	end
	local default = opts.default or "allow"
	if not ACTIONS[default] then
		fail("option 'default' must be allow, block, filter or drop")
	end
	local zones = opts.zones and zone_set(opts.zones)
	local rules = {}
	for i, rule in ipairs(opts.rules) do
		rules[i] = compile_rule(i, rule)
	end
	local nrules = #rules
	local needs_client = false
	for _, rule in ipairs(rules) do
		needs_client = needs_client or rule.set ~= nil
	end

	-- As CoreDNS's coredns_acl_{allowed,blocked,filtered,dropped}_requests_total.
	local counters = {
		allow = moon.counter("allowed"), block = moon.counter("blocked"),
		filter = moon.counter("filtered"), drop = moon.counter("dropped"),
	}

	local function verdict(q, action)
		counters[action]:inc()
		if action == "allow" then
			return nil
		elseif action == "block" then
			return q:refuse{ ede = 15 }
		elseif action == "filter" then
			return q:reply{ rcode = 0, ede = 17 }
		end
		return q:drop()
	end

	local function query(q)
		if zones and not in_zones(zones, q.name) then
			return nil
		end
		local qtype = q.type
		local fam, a, b, c, d
		if needs_client then
			fam, a, b, c, d = parse(q.client)
			if not fam then
				-- A source we cannot read is not trusted.
				return verdict(q, "block")
			end
		end
		for i = 1, nrules do
			local rule = rules[i]
			local types, set = rule.types, rule.set
			if (types == nil or types[qtype]) and (set == nil or
			    (fam == 4 and set:has4(a)) or (fam == 6 and set:has6(a, b, c, d))) then
				return verdict(q, rule.action)
			end
		end
		return verdict(q, default)
	end

	return { query = query }
end
