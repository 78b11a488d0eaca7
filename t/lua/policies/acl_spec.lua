-- Specs for policies/acl.lua: the address parser and range sets against
-- references, then the policy through moon.test with real queries.
local t = require("moon.test")
local moon = require("moon")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local ACL = here .. "../../../policies/acl.lua"
local X = assert(loadfile(ACL))("internals")

local A = { "@ 300 A 192.0.2.1" }

-- The 16 bytes of an IPv6 (or mapped IPv4) result of X.parse.
local function bytes_of(fam, a, b, c, d)
	local words = fam == 4 and { 0, 0, 0xffff, a } or { a, b, c, d }
	local out = {}
	for _, w in ipairs(words) do
		out[#out + 1] = string.char(math.floor(w / 16777216) % 256,
			math.floor(w / 65536) % 256, math.floor(w / 256) % 256, w % 256)
	end
	return table.concat(out)
end

local function reference_bytes(text)
	local raw = moon.ip.parse((text:gsub("%%.*$", "")))
	if raw and #raw == 4 then
		raw = ("\0"):rep(10) .. "\255\255" .. raw
	end
	return raw
end

-- A fixed seed, so a failure replays.
math.randomseed(12345)
local function rnd(n)
	return math.random(0, n - 1)
end

local function rand_v4()
	return string.format("%d.%d.%d.%d", rnd(256), rnd(256), rnd(256), rnd(256))
end

-- An IPv6 address, written in one of several legal ways.
local function rand_v6()
	local g = {}
	for i = 1, 8 do
		-- Runs of zero groups are common, so "::" gets exercised.
		g[i] = rnd(3) == 0 and 0 or rnd(65536)
	end
	local style = rnd(4)
	if style == 0 then
		local parts = {}
		for i = 1, 8 do
			parts[i] = string.format("%x", g[i])
		end
		return table.concat(parts, ":")
	elseif style == 1 then
		local parts = {}
		for i = 1, 8 do
			parts[i] = string.format("%04X", g[i])
		end
		return table.concat(parts, ":")
	end
	-- Compress the first run of zeros (any length >= 1).
	local s, e
	for i = 1, 8 do
		if g[i] == 0 then
			s = s or i
			e = i
		elseif s then
			break
		end
	end
	local parts = {}
	for i = 1, 8 do
		parts[i] = string.format("%x", g[i])
	end
	if not s then
		return table.concat(parts, ":")
	end
	local left = table.concat(parts, ":", 1, s - 1)
	local right = table.concat(parts, ":", e + 1, 8)
	if style == 3 and e <= 6 then
		right = table.concat(parts, ":", e + 1, 6)
		right = (right ~= "" and right .. ":" or "") .. string.format("%d.%d.%d.%d",
			math.floor(g[7] / 256), g[7] % 256, math.floor(g[8] / 256), g[8] % 256)
	end
	return left .. "::" .. right
end

describe("acl address parser", function()
	it("agrees with moon.ip.parse on fixed cases", function()
		local cases = {
			"0.0.0.0", "255.255.255.255", "10.1.2.3", "1.2.3", "1.2.3.4.5", "256.1.1.1",
			"1..2.3", "", "a.b.c.d", "1.2.3.4 ", "::", "::1", "1::", "1:2:3:4:5:6:7:8",
			"1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3",
			":1::", "1:::2", "12345::", "::ffff:10.0.0.1", "::ffff:a00:1", "64:ff9b::1.2.3.4",
			"::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "fe80::1%eth0",
			"FE80::ABCD", "2001:db8::", "2001:db8:0:0:0:0:0:1", "g::1", "1:", ":",
			"::ffff:1.2.3", "1.2.3.4::",
		}
		for _, text in ipairs(cases) do
			local fam, a, b, c, d = X.parse(text)
			local want = reference_bytes(text)
			if want == nil then
				assert.is_nil(fam, text)
			else
				assert.is_not_nil(fam, text)
				assert.equal(want, bytes_of(fam, a, b, c, d), text)
			end
		end
	end)

	it("agrees with moon.ip.parse on 20,000 random addresses", function()
		for _ = 1, 10000 do
			for _, text in ipairs({ rand_v4(), rand_v6() }) do
				local fam, a, b, c, d = X.parse(text)
				assert.is_not_nil(fam, text)
				assert.equal(reference_bytes(text), bytes_of(fam, a, b, c, d), text)
			end
		end
	end)
end)

-- The brute-force reference: compare the address with every prefix, bit
-- for bit (whole words equal, then the partial word under its mask).
local function reference_prefix(fam, w, len)
	local p = { fam = fam, w = w, len = len, full = math.floor(len / 32) }
	local host = 32 - len % 32
	p.size = 2 ^ host
	p.part = p.full < #w and math.floor(w[p.full + 1] / p.size) or nil
	return p
end

local function in_prefix(p, x)
	for k = 1, p.full do
		if x[k] ~= p.w[k] then
			return false
		end
	end
	return p.part == nil or math.floor(x[p.full + 1] / p.size) == p.part
end

local function make_prefixes(n)
	local list, texts = {}, {}
	for i = 1, n do
		local text, len
		if i % 3 == 0 then
			len = 24 + rnd(105)
			text = rand_v6() .. "/" .. len
		else
			len = 12 + rnd(21)
			text = rand_v4() .. "/" .. len
		end
		local fam, a, b, c, d = X.parse(text:match("^[^/]+"))
		local w = fam == 4 and { a } or { a, b, c, d }
		if fam == 4 and text:find(":", 1, true) then
			len = len - 96   -- a mapped address written as IPv6
		end
		if len >= 0 then
			list[#list + 1] = reference_prefix(fam, w, len)
			texts[#texts + 1] = text
		end
	end
	return list, texts
end

local function brute(list, text)
	local fam, a, b, c, d = X.parse(text)
	local x = { a, b, c, d }
	for i = 1, #list do
		local p = list[i]
		if p.fam == fam and in_prefix(p, x) then
			return true
		end
	end
	return false
end

-- Addresses at and next to the edges of a prefix.
local function edges(p)
	local out = {}
	if p.fam == 4 then
		local size = 2 ^ (32 - p.len)
		local lo = p.w[1] - p.w[1] % size
		for _, n in ipairs({ lo - 1, lo, lo + size - 1, lo + size }) do
			if n >= 0 and n < 2 ^ 32 then
				out[#out + 1] = string.format("%d.%d.%d.%d", math.floor(n / 16777216) % 256,
					math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
			end
		end
		return out
	end
	-- IPv6: the first and last address of the prefix, and one word off.
	local function text6(w)
		local parts = {}
		for k = 1, 4 do
			parts[#parts + 1] = string.format("%x:%x", math.floor(w[k] / 65536), w[k] % 65536)
		end
		return table.concat(parts, ":")
	end
	local lo, hi = {}, {}
	local left = p.len
	for k = 1, 4 do
		local host = 32 - math.max(0, math.min(left, 32))
		local size = 2 ^ host
		lo[k] = p.w[k] - p.w[k] % size
		hi[k] = lo[k] + size - 1
		left = left - 32
	end
	out[1], out[2] = text6(lo), text6(hi)
	local below, above = { lo[1], lo[2], lo[3], lo[4] }, { hi[1], hi[2], hi[3], hi[4] }
	if below[4] > 0 then
		below[4] = below[4] - 1
		out[#out + 1] = text6(below)
	end
	if above[4] < 2 ^ 32 - 1 then
		above[4] = above[4] + 1
		out[#out + 1] = text6(above)
	end
	return out
end

describe("acl range sets", function()
	local list, texts = make_prefixes(10000)
	local set = assert(X.new_set(texts))

	it("answer like a brute-force scan for 10,000 prefixes", function()
		assert.is_true(#texts >= 9900)
		local checked, inside = 0, 0
		local function check(text)
			local want = brute(list, text)
			assert.equal(want, set:contains(text), text)
			checked = checked + 1
			inside = inside + (want and 1 or 0)
		end
		for i = 1, #list, 20 do
			for _, text in ipairs(edges(list[i])) do
				check(text)
			end
		end
		for _ = 1, 1000 do
			check(rand_v4())
			check(rand_v6())
		end
		-- Both outcomes were exercised, many times.
		assert.is_true(inside > 500 and checked - inside > 500,
			inside .. " of " .. checked .. " inside")
	end)

	it("merges nested, overlapping and adjacent prefixes", function()
		local s = assert(X.new_set({ "10.0.0.0/8", "10.1.0.0/16", "11.0.0.0/8",
			"192.168.1.0/25", "192.168.1.128/25", "2001:db8::/32", "2001:db8:1::/48",
			"2001:db9::/32", "::/0" }))
		assert.equal(2, s.n4)
		assert.is_true(s:contains("11.255.255.255"))
		assert.is_false(s:contains("12.0.0.0"))
		assert.is_true(s:contains("192.168.1.255"))
		assert.equal(1, s.n6)       -- ::/0 swallows the rest
		assert.is_true(s:contains("fe80::1"))
		-- A gap of a single address stays a gap; touching ranges merge.
		s = assert(X.new_set({ "10.0.0.0/24", "10.0.1.1/32", "2001:db8::/127", "2001:db8::3",
			"2001:db8::4/126", "2001:db8::8/125" }))
		assert.equal(2, s.n4)
		assert.is_false(s:contains("10.0.1.0"))
		assert.is_true(s:contains("10.0.0.255") and s:contains("10.0.1.1"))
		assert.equal(2, s.n6)
		assert.is_false(s:contains("2001:db8::2"))
		assert.is_true(s:contains("2001:db8::3") and s:contains("2001:db8::f"))
		assert.is_false(s:contains("2001:db8::10"))
	end)

	it("handles the whole address space and single addresses", function()
		local s = assert(X.new_set({ "0.0.0.0/0" }))
		assert.is_true(s:contains("0.0.0.0") and s:contains("255.255.255.255"))
		assert.is_false(s:contains("::1"))
		s = assert(X.new_set({ "192.0.2.7", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" }))
		assert.is_true(s:contains("192.0.2.7"))
		assert.is_false(s:contains("192.0.2.6") or s:contains("192.0.2.8"))
		assert.is_true(s:contains("::1"))
		assert.is_false(s:contains("::2") or s:contains("::"))
		assert.is_true(s:contains("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
		-- A mapped prefix matches the IPv4 addresses it maps.
		s = assert(X.new_set({ "::ffff:10.0.0.0/104" }))
		assert.is_true(s:contains("10.9.9.9") and s:contains("::ffff:10.1.1.1"))
		assert.is_false(s:contains("11.0.0.0"))
	end)

	it("rejects bad prefixes with the reason", function()
		for _, bad in ipairs({ "10.0.0.0/33", "2001:db8::/129", "nonsense", "10.0.0/8",
			"::ffff:10.0.0.0/90" }) do
			local s, entry, why = X.new_set({ bad })
			assert.is_nil(s, bad)
			assert.equal(bad, entry)
			assert.is_string(why)
		end
	end)

	it("looks up fast (report)", function()
		local probes4, probes6 = {}, {}
		for i = 1, 1024 do
			local _, n = X.parse(rand_v4())
			probes4[i] = n
			local _, a, b, c, d = X.parse(rand_v6())
			probes6[i] = { a, b, c, d }
		end
		local N = 2000000
		local hits = 0
		local t0 = os.clock()
		for i = 1, N do
			if set:has4(probes4[i % 1024 + 1]) then
				hits = hits + 1
			end
		end
		local v4 = (os.clock() - t0) / N * 1e9
		t0 = os.clock()
		for i = 1, N do
			local p = probes6[i % 1024 + 1]
			if set:has6(p[1], p[2], p[3], p[4]) then
				hits = hits + 1
			end
		end
		local v6 = (os.clock() - t0) / N * 1e9
		local texts4 = {}
		for i = 1, 1024 do
			texts4[i] = rand_v4()
		end
		t0 = os.clock()
		for i = 1, N do
			local _, n = X.parse(texts4[i % 1024 + 1])
			hits = hits + (n and 0 or 1)
		end
		local p4 = (os.clock() - t0) / N * 1e9
		print(string.format("\nacl: %d prefixes (%d IPv4 + %d IPv6 ranges after merging): "
			.. "lookup %.0f ns IPv4, %.0f ns IPv6; parsing an IPv4 text %.0f ns", #texts,
			set.n4, set.n6, v4, v6, p4))
		-- Generous bounds: this fails only on an algorithmic regression.
		assert.is_true(v4 < 2000 and v6 < 4000)
		assert.is_true(hits >= 0)
	end)
end)

describe("acl policy", function()
	it("blocks with REFUSED and EDE 15 when the client sent EDNS", function()
		local p = t.policy(ACL, { rules = { { action = "block", net = "10.0.0.0/8" } } })
		local res = p:query{ client = "10.1.2.3", answer = A }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(15, res.ede.code)
		assert.equal(0, #res.answer)
		res = p:query{ client = "10.1.2.3", answer = A, edns = false }
		assert.equal("REFUSED", res.rcode_name)
		assert.is_nil(res.ede)
		res = p:query{ client = "192.0.2.9", answer = A }
		assert.equal("NOERROR", res.rcode_name)
		assert.same({ "192.0.2.1" }, res:rdata())
		assert.equal(2, p:counter("blocked"))
	end)

	it("filters with an empty NOERROR and EDE 17", function()
		local p = t.policy(ACL, { rules = { { action = "filter", type = { "TXT", "ANY" } } } })
		local res = p:query{ type = "TXT", answer = { '@ 60 TXT "x"' } }
		assert.equal("NOERROR", res.rcode_name)
		assert.equal(0, #res.answer)
		assert.equal(17, res.ede.code)
		assert.equal("policy", res.source)
		res = p:query{ type = "A", answer = A }
		assert.same({ "192.0.2.1" }, res:rdata())
		assert.equal(1, p:counter("filtered"))
	end)

	it("drops", function()
		local p = t.policy(ACL, { rules = { { action = "drop", net = { "2001:db8::/32" } } } })
		assert.is_true(p:query{ client = "2001:db8::53", answer = A }.dropped)
		assert.is_false(p:query{ client = "2001:db9::53", answer = A }.dropped)
		assert.equal(1, p:counter("dropped"))
	end)

	it("takes the first rule that matches both type and net", function()
		local p = t.policy(ACL, { rules = {
			{ action = "allow", net = "10.0.0.5", type = "A" },
			{ action = "block", net = { "10.0.0.0/24" } },
			{ action = "filter", type = "AAAA" },
			{ action = "allow", net = "*", type = "*" },
		} })
		assert.equal("NOERROR", p:query{ client = "10.0.0.5", answer = A }.rcode_name)
		assert.equal("REFUSED", p:query{ client = "10.0.0.5", type = "MX", answer = A }
			.rcode_name)
		assert.equal("REFUSED", p:query{ client = "10.0.0.6", answer = A }.rcode_name)
		local res = p:query{ client = "10.0.1.1", type = "AAAA", answer = { "@ 60 AAAA ::1" } }
		assert.equal(0, #res.answer)
		assert.equal(17, res.ede.code)
		assert.same({ "192.0.2.1" }, p:query{ client = "10.0.1.1", answer = A }:rdata())
	end)

	it("applies only to its zones", function()
		local p = t.policy(ACL, { zones = { "Example.COM" }, rules = { { action = "block" } } })
		assert.equal("REFUSED", p:query{ name = "example.com.", answer = A }.rcode_name)
		assert.equal("REFUSED", p:query{ name = "a.b.example.com", answer = A }.rcode_name)
		assert.equal("NOERROR", p:query{ name = "badexample.com", answer = A }.rcode_name)
		assert.equal("NOERROR", p:query{ name = "example.org", answer = A }.rcode_name)
		assert.equal("NOERROR", p:query{ name = "com", answer = A }.rcode_name)
	end)

	it("uses the default when nothing matched", function()
		local p = t.policy(ACL, { default = "block",
			rules = { { action = "allow", net = "127.0.0.0/8" } } })
		assert.equal("NOERROR", p:query{ client = "127.0.0.1", answer = A }.rcode_name)
		assert.equal("REFUSED", p:query{ client = "192.0.2.1", answer = A }.rcode_name)
		assert.equal("REFUSED", p:query{ client = "::1", answer = A }.rcode_name)
	end)

	it("treats an IPv4-mapped client as its IPv4 address", function()
		local p = t.policy(ACL, { rules = { { action = "block", net = "192.0.2.0/24" } } })
		assert.equal("REFUSED", p:query{ client = "::ffff:192.0.2.1", answer = A }.rcode_name)
		assert.equal("NOERROR", p:query{ client = "::ffff:198.51.100.1", answer = A }.rcode_name)
	end)

	it("answers like the brute-force reference with 10,000 prefixes", function()
		local list, texts = make_prefixes(10000)
		local p = t.policy(ACL, { rules = { { action = "block", net = texts } } })
		local blocked = 0
		for i = 1, 600 do
			local client
			if i % 3 == 0 then
				client = edges(list[i])[1]
			else
				client = i % 2 == 0 and rand_v4() or rand_v6()
			end
			local want = brute(list, client) and "REFUSED" or "NOERROR"
			assert.equal(want, p:query{ client = client, answer = A }.rcode_name, client)
			blocked = blocked + (want == "REFUSED" and 1 or 0)
		end
		assert.is_true(blocked > 100 and blocked < 500)
	end)

	it("rejects bad options with clear messages", function()
		local cases = {
			{ {}, "option 'rules' is required" },
			{ { rules = {} }, "option 'rules' is required" },
			{ { rules = { { action = "deny" } } }, "rules%[1%]'?: action must be" },
			{ { rules = { { action = "block", net = "10.0.0.0/40" } } },
				"rules%[1%]'?: net '10.0.0.0/40': prefix longer" },
			{ { rules = { { action = "block", type = "BOGUS" } } }, "unknown query type 'BOGUS'" },
			{ { rules = { { action = "block", nets = "10.0.0.0/8" } } }, "unknown key 'nets'" },
			{ { rules = { { action = "block" } }, default = "maybe" }, "option 'default'" },
			{ { rules = { { action = "block" } }, zone = "x" }, "unknown option 'zone'" },
		}
		for _, c in ipairs(cases) do
			local ok, err = pcall(t.policy, ACL, c[1])
			assert.is_false(ok)
			assert.matches(c[2], err)
		end
	end)
end)
