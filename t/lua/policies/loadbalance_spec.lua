-- Specs for policies/loadbalance.lua, through moon.test.
local t = require("moon.test")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local POLICY = here .. "../../../policies/loadbalance.lua"

local function lb(opts)
	return t.policy(POLICY, opts or {})
end

local FOUR = { "@ 60 A 192.0.2.1", "@ 60 A 192.0.2.2", "@ 60 A 192.0.2.3", "@ 60 A 192.0.2.4" }

local function sorted(list)
	local c = {}
	for i, v in ipairs(list) do c[i] = v end
	table.sort(c)
	return c
end

-- How often each record came first over n queries.
local function firsts(p, d, n, section, rtype)
	local count, orders = {}, {}
	for _ = 1, n do
		local res = p:query(d)
		local got = res:rdata(section, rtype)
		count[got[1]] = (count[got[1]] or 0) + 1
		orders[table.concat(got, ",")] = true
	end
	local distinct = 0
	for _ in pairs(orders) do distinct = distinct + 1 end
	return count, distinct
end

describe("loadbalance", function()
	it("shuffles addresses and keeps every record", function()
		local p = lb()
		for _ = 1, 20 do
			local res = p:query{ answer = FOUR }
			assert.same({ "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4" },
				sorted(res:rdata()))
		end
		local count, distinct = firsts(p, { answer = FOUR }, 400)
		for i = 1, 4 do
			-- Each of the four should come first about 100 times in 400.
			assert.is_true((count["192.0.2." .. i] or 0) > 50, "192.0.2." .. i)
		end
		assert.is_true(distinct > 12)
	end)

	it("keeps a CNAME chain first and in order", function()
		local p = lb()
		local chain = { "@ 60 CNAME a.example.net.", "a.example.net. 60 CNAME b.example.net.",
			"b.example.net. 60 A 198.51.100.1", "b.example.net. 60 A 198.51.100.2",
			"b.example.net. 60 A 198.51.100.3" }
		local seen = {}
		for _ = 1, 100 do
			local res = p:query{ answer = chain }
			assert.equal("CNAME", res.answer[1].type)
			assert.equal("a.example.net.", res.answer[1].rdata)
			assert.equal("b.example.net.", res.answer[2].rdata)
			local a = res:rdata("answer", "A")
			assert.equal(3, #a)
			seen[a[1]] = true
		end
		assert.is_true(seen["198.51.100.1"] and seen["198.51.100.2"] and seen["198.51.100.3"])
	end)

	it("shuffles MX, AAAA and the other sections too", function()
		local p = lb()
		local d = { type = "MX", answer = { "@ 60 MX 10 mx1.example.", "@ 60 MX 10 mx2.example.",
			"@ 60 MX 10 mx3.example." },
			authority = { "example.com. 60 NS ns1.example.com." },
			additional = { "mx1.example. 60 AAAA 2001:db8::1", "mx1.example. 60 AAAA 2001:db8::2",
				"mx1.example. 60 AAAA 2001:db8::3" } }
		local _, d1 = firsts(p, d, 100, "answer", "MX")
		local _, d2 = firsts(p, d, 100, "additional", "AAAA")
		assert.is_true(d1 >= 4 and d2 >= 4)
	end)

	it("leaves the order of other types alone", function()
		local p = lb()
		local d = { type = "TXT", answer = { '@ 60 TXT "1"', '@ 60 TXT "2"', '@ 60 TXT "3"' } }
		local _, distinct = firsts(p, d, 50, "answer", "TXT")
		assert.equal(1, distinct)
		-- Mixed: the A set moves, the TXT set does not (the slower path).
		d = { type = "ANY", answer = { '@ 60 TXT "1"', '@ 60 TXT "2"', '@ 60 TXT "3"',
			"@ 60 A 192.0.2.1", "@ 60 A 192.0.2.2", "@ 60 A 192.0.2.3" } }
		local a_orders = {}
		for _ = 1, 60 do
			local res = p:query(d)
			assert.same({ '"1"', '"2"', '"3"' }, res:rdata("answer", "TXT"))
			assert.same({ "TXT", "TXT", "TXT", "A", "A", "A" }, {
				res.answer[1].type, res.answer[2].type, res.answer[3].type,
				res.answer[4].type, res.answer[5].type, res.answer[6].type })
			a_orders[table.concat(res:rdata("answer", "A"), ",")] = true
		end
		local n = 0
		for _ in pairs(a_orders) do n = n + 1 end
		assert.is_true(n >= 4)
		-- types: TXT too when asked.
		local _, distinct2 = firsts(lb({ types = { "TXT" } }),
			{ type = "TXT", answer = { '@ 60 TXT "1"', '@ 60 TXT "2"', '@ 60 TXT "3"' } },
			60, "answer", "TXT")
		assert.is_true(distinct2 >= 4)
	end)

	it("touches only NOERROR replies", function()
		local p = lb()
		local d = { rcode = "NXDOMAIN", authority = { "example.com. 60 NS a.example.",
			"example.com. 60 NS b.example." }, additional = { "a.example. 60 A 192.0.2.1",
			"a.example. 60 A 192.0.2.2", "a.example. 60 A 192.0.2.3" } }
		local _, distinct = firsts(p, d, 40, "additional", "A")
		assert.equal(1, distinct)
	end)

	it("puts preferred subnets first, in the order listed", function()
		local p = lb({ prefer = { "198.51.100.0/24", "203.0.113.0/28" } })
		local d = { answer = { "@ 60 A 192.0.2.1", "@ 60 A 203.0.113.5", "@ 60 A 192.0.2.2",
			"@ 60 A 198.51.100.9", "@ 60 A 203.0.113.200" } }
		local rest = {}
		for _ = 1, 100 do
			local got = p:query(d):rdata()
			assert.equal(5, #got)
			assert.equal("198.51.100.9", got[1])
			assert.equal("203.0.113.5", got[2])
			rest[got[3]] = true
		end
		-- The others are still shuffled.
		assert.is_true(rest["192.0.2.1"] and rest["192.0.2.2"] and rest["203.0.113.200"])
	end)

	it("only reorders when shuffle is off", function()
		local p = lb({ shuffle = false, prefer = { "2001:db8:1::/48" } })
		local d = { type = "AAAA", answer = { "@ 60 AAAA 2001:db8::1", "@ 60 AAAA 2001:db8::2",
			"@ 60 AAAA 2001:db8:1::3", "@ 60 AAAA 2001:db8::4" } }
		for _ = 1, 20 do
			assert.same({ "2001:db8:1::3", "2001:db8::1", "2001:db8::2", "2001:db8::4" },
				p:query(d):rdata())
		end
	end)

	it("prefers the client's subnet, or the subnet of its ECS option", function()
		local p = lb({ prefer_client = true, prefer = { "192.0.2.0/24" } })
		local d = { client = "198.51.100.77", answer = { "@ 60 A 192.0.2.1",
			"@ 60 A 203.0.113.1", "@ 60 A 198.51.100.1" } }
		for _ = 1, 30 do
			local got = p:query(d):rdata()
			assert.equal("198.51.100.1", got[1])
			assert.equal("192.0.2.1", got[2])
		end
		-- ECS 203.0.113.0/24 (family 1, source 24, scope 0)
		d.edns = { [8] = "\0\1\24\0\203\0\113" }
		for _ = 1, 30 do
			assert.equal("203.0.113.1", p:query(d):rdata()[1])
		end
		-- A prefix length of its own: /16 of the client.
		p = lb({ prefer_client = true, client_prefix = { ipv4 = 16 }, shuffle = false })
		assert.same({ "198.51.1.1", "192.0.2.1" }, p:query{ client = "198.51.200.1",
			answer = { "@ 60 A 192.0.2.1", "@ 60 A 198.51.1.1" } }:rdata())
	end)

	it("keeps TTLs and owners when it reorders", function()
		local p = lb({ shuffle = false, prefer = { "192.0.2.9" } })
		local res = p:query{ name = "www.example.com", answer = {
			"@ 60 CNAME web.example.com.", "web.example.com. 120 A 192.0.2.1",
			"web.example.com. 120 A 192.0.2.9" } }
		assert.same({ "192.0.2.9", "192.0.2.1" }, res:rdata("answer", "A"))
		assert.equal("web.example.com.", res.answer[2].name)
		assert.equal(120, res.answer[2].ttl)
		assert.equal("CNAME", res.answer[1].type)
	end)

	it("rejects bad options with clear messages", function()
		local cases = {
			{ { types = { "CNAME" } }, "not a record type that can be shuffled" },
			{ { types = { "NOPE" } }, "option 'types%[1%]'" },
			{ { sections = { "extra" } }, "option 'sections%[1%]'" },
			{ { prefer = { "10.0.0.0/33" } }, "option 'prefer%[1%]'.*prefix longer" },
			{ { prefer = { "nowhere" } }, "not an address" },
			{ { shuffle = false }, "nothing to do" },
			{ { client_prefix = { ipv4 = 40 } }, "client_prefix.ipv4" },
			{ { client_prefix = { v4 = 8 } }, "unknown key 'v4'" },
			{ { weights = {} }, "unknown option 'weights'" },
		}
		for _, c in ipairs(cases) do
			local ok, err = pcall(lb, c[1])
			assert.is_false(ok)
			assert.matches(c[2], err)
		end
	end)
end)
