-- rebinding: DNS rebinding protection. Answers that put a private,
-- loopback, link-local or otherwise special address behind a public name
-- are refused, or have those records stripped (doc/policies/rebinding.md).
--
--   - rebinding:
--       allow: [ cluster.local., lan. ]   # names that may resolve internally
--       action: refuse                    # or strip
--
-- Checked: A and AAAA records, and the ipv4hint / ipv6hint of SVCB and
-- HTTPS records, in the answer section (option `sections`). IPv6 forms
-- that embed an IPv4 address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible
-- ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16) are checked against the IPv4
-- ranges. Answers from the server's own zones and policies are trusted
-- unless `include_authoritative` is set.

local moon = require("moon")

local byte, find, floor = string.byte, string.find, math.floor

-- The default ranges (doc/policies/rebinding.md explains each).
local DEFAULT_RANGES = {
	"0.0.0.0/8",            -- "this network", 0.0.0.0 unspecified (RFC 1122)
	"10.0.0.0/8",           -- private (RFC 1918)
	"100.64.0.0/10",        -- shared address space, CGNAT (RFC 6598)
	"127.0.0.0/8",          -- loopback
	"169.254.0.0/16",       -- link-local (RFC 3927)
	"172.16.0.0/12",        -- private (RFC 1918)
	"192.0.0.0/24",         -- IETF protocol assignments (RFC 6890)
	"192.168.0.0/16",       -- private (RFC 1918)
	"198.18.0.0/15",        -- benchmarking (RFC 2544)
	"224.0.0.0/4",          -- multicast
	"240.0.0.0/4",          -- reserved, and 255.255.255.255 broadcast
	"::/128",               -- unspecified
	"::1/128",              -- loopback
	"100::/64",             -- discard-only (RFC 6666)
	"64:ff9b:1::/48",       -- local-use NAT64 (RFC 8215)
	"fc00::/7",             -- unique local (RFC 4193)
	"fe80::/10",            -- link-local
	"fec0::/10",            -- site-local, deprecated (RFC 3879)
	"ff00::/8",             -- multicast
}

local TWO32 = 4294967296

-- Networks as numeric ranges: IPv4 { lo, hi }, IPv6 { lo1..lo4, hi1..hi4 }.
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

local function words(a, i)
	local b1, b2, b3, b4 = byte(a, i, i + 3)
	return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end

-- "10.0.0.0/8" -> 4, range | 6, range | nil, why
local function parse_range(text)
	if type(text) ~= "string" then
		return nil, "not a string"
	end
	local addr, len = text:match("^([^/]+)/(%d+)$")
	addr = addr or text
	local a = moon.ip.parse(addr)
	if not a then
		return nil, "not an address"
	end
	local bits = #a * 8
	len = tonumber(len) or bits
	if len > bits then
		return nil, "prefix longer than the address"
	end
	if #a == 4 then
		local lo, hi = word_range(words(a, 1), 32 - len)
		return 4, { lo, hi }
	end
	local rg = {}
	for k = 1, 4 do
		rg[k], rg[k + 4] = word_range(words(a, 4 * k - 3), 32 * k - len)
	end
	return 6, rg
end

-- A compiled set: lists of ranges and, per first byte, whether any range
-- can hold an address starting with it (most addresses stop there).
local function compile_ranges(list, where)
	local set = { v4 = {}, v6 = {}, first4 = {}, first6 = {} }
	for i, text in ipairs(list) do
		local fam, rg = parse_range(text)
		if not fam then
			error(string.format("option '%s[%d]': '%s': %s", where, i, tostring(text), rg), 0)
		end
		if fam == 4 then
			set.v4[#set.v4 + 1] = rg
			for b = floor(rg[1] / 16777216), floor(rg[2] / 16777216) do
				set.first4[b] = true
			end
		else
			set.v6[#set.v6 + 1] = rg
			for b = floor(rg[1] / 16777216), floor(rg[5] / 16777216) do
				set.first6[b] = true
			end
		end
	end
	return set
end

local function in4(set, n)
	if not set.first4[floor(n / 16777216)] then
		return false
	end
	local v4 = set.v4
	for i = 1, #v4 do
		local rg = v4[i]
		if n >= rg[1] and n <= rg[2] then
			return true
		end
	end
	return false
end

local function le4w(a1, a2, a3, a4, b1, b2, b3, b4)
	if a1 ~= b1 then return a1 < b1 end
	if a2 ~= b2 then return a2 < b2 end
	if a3 ~= b3 then return a3 < b3 end
	return a4 <= b4
end

-- Is the 16-byte address a (from offset i) special?
local function bad6(set, embedded, a, i)
	local w1, w2, w3, w4 = words(a, i), words(a, i + 4), words(a, i + 8), words(a, i + 12)
	if embedded then
		if w1 == 0 and w2 == 0 and (w3 == 0xffff or w3 == 0) then
			-- IPv4-mapped and IPv4-compatible
			if in4(set, w4) then
				return true
			end
		elseif w1 == 0x0064ff9b and w2 == 0 and w3 == 0 then
			-- NAT64 well-known prefix
			if in4(set, w4) then
				return true
			end
		elseif floor(w1 / 65536) == 0x2002 then
			-- 6to4: the IPv4 address is bits 16 to 47
			if in4(set, (w1 % 65536) * 65536 + floor(w2 / 65536)) then
				return true
			end
		end
	end
	if not set.first6[floor(w1 / 16777216)] then
		return false
	end
	local v6 = set.v6
	for k = 1, #v6 do
		local rg = v6[k]
		if le4w(rg[1], rg[2], rg[3], rg[4], w1, w2, w3, w4) and
		    le4w(w1, w2, w3, w4, rg[5], rg[6], rg[7], rg[8]) then
			return true
		end
	end
	return false
end

-- The ipv4hint (key 4) and ipv6hint (key 6) of SVCB/HTTPS RDATA (RFC 9460):
-- priority, target name (uncompressed), then key/length/value parameters.
local function bad_svcb(set, embedded, rd)
	local n = #rd
	local i = 3
	while true do
		local len = byte(rd, i)
		if len == nil then
			return false
		end
		i = i + 1 + len
		if len == 0 then
			break
		end
	end
	while i + 3 <= n do
		local key = byte(rd, i) * 256 + byte(rd, i + 1)
		local len = byte(rd, i + 2) * 256 + byte(rd, i + 3)
		local v = i + 4
		if v + len - 1 > n then
			return false            -- malformed: the parameter runs past the RDATA
		end
		if key == 4 then
			for p = v, v + len - 4, 4 do
				if in4(set, words(rd, p)) then
					return true
				end
			end
		elseif key == 6 then
			for p = v, v + len - 16, 16 do
				if bad6(set, embedded, rd, p) then
					return true
				end
			end
		end
		i = v + len
	end
	return false
end

-- Does the record hold a special address?
local function bad_record(set, embedded, svcb, rec)
	local ty = rec.type
	if ty == 1 then
		local raw = rec.raw
		return #raw == 4 and in4(set, words(raw, 1))
	elseif ty == 28 then
		local raw = rec.raw
		return #raw == 16 and bad6(set, embedded, raw, 1)
	elseif svcb and (ty == 64 or ty == 65) then
		return bad_svcb(set, embedded, rec.raw)
	end
	return false
end

if ... == "internals" then
	return { compile_ranges = compile_ranges, bad6 = bad6, in4 = in4,
		DEFAULT_RANGES = DEFAULT_RANGES }
end

-- Options --------------------------------------------------------------------

local function fail(fmt, ...)
	error(string.format(fmt, ...), 0)
end

local KNOWN = {
	allow = true, action = true, include_authoritative = true, ranges = true,
	extra_ranges = true, embedded = true, svcb = true, sections = true,
}

local function bool(opts, k, default)
	local v = opts[k]
	if v == nil then
		return default
	end
	if type(v) ~= "boolean" then
		fail("option '%s' must be true or false", k)
	end
	return v
end

local function list(opts, k)
	local v = opts[k]
	if type(v) == "string" then
		return { v }
	end
	if v ~= nil and type(v) ~= "table" then
		fail("option '%s' must be a list", k)
	end
	return v
end

local function zone_list(v)
	local out = {}
	for i, z in ipairs(v or {}) do
		if type(z) ~= "string" or z == "" then
			fail("option 'allow[%d]': a domain name", i)
		end
		z = z:lower()
		if z:sub(-1) ~= "." then
			z = z .. "."
		end
		out[#out + 1] = z
	end
	return out
end

local function in_zones(zones, name)
	local n = #name
	for i = 1, #zones do
		local z = zones[i]
		local zl = #z
		if z == "." or name == z or (n > zl and byte(name, n - zl) == 46 and
		    find(name, z, n - zl + 1, true)) then
			return true
		end
	end
	return false
end

local SECTIONS = { answer = true, authority = true, additional = true }
local EDE_TEXT = "rebinding protection: internal address for an external name"

return function(opts)
	for k in pairs(opts) do
		if not KNOWN[k] then
			local names = {}
			for n in pairs(KNOWN) do names[#names + 1] = n end
			table.sort(names)
			fail("unknown option '%s' (%s)", tostring(k), table.concat(names, ", "))
		end
	end
	local action = opts.action or "refuse"
	if action ~= "refuse" and action ~= "strip" then
		fail("option 'action' must be refuse or strip")
	end
	local include_auth = bool(opts, "include_authoritative", false)
	local embedded = bool(opts, "embedded", true)
	local svcb = bool(opts, "svcb", true)
	local allow = zone_list(list(opts, "allow"))
	local ranges = list(opts, "ranges") or DEFAULT_RANGES
	local all = {}
	for _, r in ipairs(ranges) do all[#all + 1] = r end
	for _, r in ipairs(list(opts, "extra_ranges") or {}) do all[#all + 1] = r end
	local set = compile_ranges(all, opts.ranges and "ranges" or "extra_ranges")
	local sections = list(opts, "sections") or { "answer" }
	for i, s in ipairs(sections) do
		if not SECTIONS[s] then
			fail("option 'sections[%d]' must be answer, authority or additional", i)
		end
	end
	local refuse = action == "refuse"
	local counter = moon.counter(refuse and "refused" or "stripped")
	local reply = { ede = 15, ede_text = EDE_TEXT }

	local function response(q, r)
		if not include_auth then
			local src = r.source
			if src == "zone" or src == "policy" then
				return nil
			end
		end
		local stripped, allowed = 0, nil
		for s = 1, #sections do
			local recs = r:records(sections[s])
			for i = 1, #recs do
				local rec = recs[i]
				if bad_record(set, embedded, svcb, rec) then
					-- The name is read only now: most answers never need it.
					if allowed == nil then
						allowed = #allow > 0 and in_zones(allow, q.name)
					end
					if allowed then
						return nil
					end
					if refuse then
						counter:inc()
						return q:refuse(reply)
					end
					r:remove(rec)
					stripped = stripped + 1
				end
			end
		end
		if stripped > 0 then
			counter:inc()
			r:ede(15, EDE_TEXT)
		end
		return nil
	end

	return { response = response }
end
