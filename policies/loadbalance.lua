-- loadbalance: shuffle the address and MX records of answers, optionally
-- putting preferred subnets first (doc/policies/loadbalance.md).
--
--   - loadbalance: {}                              # shuffle A, AAAA, MX
--   - loadbalance:
--       prefer: [ 10.1.0.0/16, "2001:db8:1::/48" ] # these first, in this order
--       prefer_client: true                        # the client's /24 or /64 first
--
-- Records move only within their own RRset, over the positions that RRset
-- holds, so a CNAME chain keeps its order ahead of the addresses it leads
-- to. Only NOERROR replies are touched, in every section by default (as
-- CoreDNS's loadbalance does).

local moon = require("moon")

local byte, floor, random = string.byte, math.floor, math.random

local function fail(fmt, ...)
	error(string.format(fmt, ...), 0)
end

-- Does the address string a (4 or 16 bytes) start with the first `bits`
-- bits of the network string net (same length)?
local function in_prefix(a, net, bits)
	if #a ~= #net then
		return false
	end
	local full = floor(bits / 8)
	for i = 1, full do
		if byte(a, i) ~= byte(net, i) then
			return false
		end
	end
	local rest = bits % 8
	if rest == 0 then
		return true
	end
	local size = 2 ^ (8 - rest)
	return floor(byte(a, full + 1) / size) == floor(byte(net, full + 1) / size)
end

-- "10.0.0.0/8" -> { net = bytes, bits = n }
local function parse_net(text, where)
	if type(text) ~= "string" then
		fail("%s: a network such as \"10.0.0.0/8\"", where)
	end
	local addr, len = text:match("^([^/]+)/(%d+)$")
	addr = addr or text
	local a = moon.ip.parse(addr)
	if not a then
		fail("%s: '%s' is not an address or network", where, text)
	end
	len = tonumber(len) or #a * 8
	if len > #a * 8 then
		fail("%s: '%s': prefix longer than the address", where, text)
	end
	return { net = a, bits = len }
end

-- The client's subnet as { net, bits }: the EDNS Client Subnet the query
-- carries (RFC 7871), else the transport address.
local ZERO16 = ("\0"):rep(16)

local function client_net(q, bits4, bits6)
	local ecs = q.edns and q:edns_option(8)
	if ecs and #ecs >= 4 then
		local family, source = byte(ecs, 2), byte(ecs, 3)
		local size = family == 1 and 4 or family == 2 and 16 or nil
		-- A source prefix of 0 says nothing about where the client is.
		if size and source > 0 and source <= size * 8 and #ecs - 4 <= size then
			local a = ecs:sub(5) .. ZERO16:sub(1, size - (#ecs - 4))
			local want = size == 4 and bits4 or bits6
			return a, source < want and source or want
		end
	end
	local a = moon.ip.parse(q.client)
	if not a then
		return nil
	end
	return a, #a == 4 and bits4 or bits6
end


local KNOWN = { types = true, sections = true, shuffle = true, prefer = true,
	prefer_client = true, client_prefix = true }
local SECTIONS = { answer = true, authority = true, additional = true }

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

return function(opts)
	for k in pairs(opts) do
		if not KNOWN[k] then
			fail("unknown option '%s' (types, sections, shuffle, prefer, prefer_client, "
				.. "client_prefix)", tostring(k))
		end
	end
	local types = {}
	for i, ty in ipairs(list(opts, "types") or { "A", "AAAA", "MX" }) do
		local n = type(ty) == "number" and ty or moon.type[tostring(ty):upper()]
		if type(n) ~= "number" or n == 5 or n == 39 then
			fail("option 'types[%d]': '%s' is not a record type that can be shuffled", i,
				tostring(ty))
		end
		types[n] = true
	end
	local sections = list(opts, "sections") or { "answer", "authority", "additional" }
	for i, s in ipairs(sections) do
		if not SECTIONS[s] then
			fail("option 'sections[%d]' must be answer, authority or additional", i)
		end
	end
	local shuffle = bool(opts, "shuffle", true)
	local prefer = {}
	for i, text in ipairs(list(opts, "prefer") or {}) do
		prefer[i] = parse_net(text, "option 'prefer[" .. i .. "]'")
	end
	local prefer_client = bool(opts, "prefer_client", false)
	local bits4, bits6 = 24, 64
	if opts.client_prefix ~= nil then
		local cp = opts.client_prefix
		if type(cp) ~= "table" then
			fail("option 'client_prefix' must be { ipv4 = 24, ipv6 = 64 }")
		end
		for k, v in pairs(cp) do
			local max = k == "ipv4" and 32 or k == "ipv6" and 128 or nil
			if not max then
				fail("option 'client_prefix': unknown key '%s' (ipv4, ipv6)", tostring(k))
			end
			if type(v) ~= "number" or v % 1 ~= 0 or v < 0 or v > max then
				fail("option 'client_prefix.%s' must be a prefix length, 0 to %d", k, max)
			end
		end
		bits4, bits6 = cp.ipv4 or bits4, cp.ipv6 or bits6
	end
	if not shuffle and #prefer == 0 and not prefer_client then
		fail("nothing to do: shuffle is off and nothing is preferred")
	end
	local reorders = #prefer > 0 or prefer_client

	-- The rank of an address record: 0 the client's subnet, 1..n the
	-- prefer list, n + 1 the rest.
	local cnet, cbits
	local function rank(rec)
		local a = rec.raw
		if cnet and in_prefix(a, cnet, cbits) then
			return 0
		end
		for i = 1, #prefer do
			local p = prefer[i]
			if in_prefix(a, p.net, p.bits) then
				return i
			end
		end
		return #prefer + 1
	end

	-- A new order for one RRset (its records in wire order); nil if none.
	local ranks = {}
	local function arrange(set)
		local n = #set
		local order = {}
		for i = 1, n do
			order[i] = set[i]
		end
		if shuffle then
			for i = n, 2, -1 do
				local j = random(i)
				order[i], order[j] = order[j], order[i]
			end
		end
		local ty = set[1].type
		if reorders and (ty == 1 or ty == 28) then
			for i = 1, n do
				ranks[order[i]] = rank(order[i]) * 65536 + i     -- stable
			end
			table.sort(order, function(x, y) return ranks[x] < ranks[y] end)
			for i = 1, n do
				ranks[order[i]] = nil
			end
		end
		return order
	end

	-- Puts the section's RRsets of the chosen types in their new order.
	local function reorder(r, recs)
		local sets, keys = {}, {}
		for i = 1, #recs do
			local rec = recs[i]
			if types[rec.type] then
				local key = rec.type .. " " .. rec.name
				local set = sets[key]
				if not set then
					set = {}
					sets[key] = set
					keys[#keys + 1] = key
				end
				set[#set + 1] = rec
			end
		end
		for _, key in ipairs(keys) do
			local set = sets[key]
			if #set > 1 then
				r:reorder(arrange(set))
			end
		end
	end

	local type_list = {}
	for ty in pairs(types) do
		type_list[#type_list + 1] = ty
	end

	local function response(q, r)
		if r.rcode ~= 0 then
			return nil
		end
		cnet = nil
		local client_done = false
		for s = 1, #sections do
			local section = sections[s]
			if r:count(section) > 1 then
				if not reorders then
					r:shuffle(section, type_list)
				else
					if prefer_client and not client_done then
						cnet, cbits = client_net(q, bits4, bits6)
						client_done = true
					end
					reorder(r, r:records(section))
				end
			end
		end
		return nil
	end

	return { response = response }
end
