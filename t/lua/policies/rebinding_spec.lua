-- Specs for policies/rebinding.lua, through moon.test.
local t = require("moon.test")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local POLICY = here .. "../../../policies/rebinding.lua"
local INLINE = here .. "../fixtures/inline.lua"

local function rb(opts)
	return t.policy(POLICY, opts or {})
end

-- The rcode a default rebinding policy gives an answer of one address.
local function verdict(p, addr)
	local qtype = addr:find(":", 1, true) and "AAAA" or "A"
	local res = p:query{ name = "evil.example.", type = qtype,
		answer = { "@ 60 " .. qtype .. " " .. addr } }
	assert.same({}, res.errors)
	return res.rcode_name
end

describe("rebinding", function()
	it("refuses internal IPv4 addresses for external names, with EDE 15", function()
		local p = rb()
		local res = p:query{ answer = { "@ 60 A 10.1.2.3" } }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(0, #res.answer)
		assert.equal(15, res.ede.code)
		assert.matches("rebinding", res.ede.text)
		res = p:query{ answer = { "@ 60 A 192.0.2.1" } }
		assert.equal("NOERROR", res.rcode_name)
		assert.same({ "192.0.2.1" }, res:rdata())
		assert.equal(1, p:counter("refused"))
	end)

	it("knows the default IPv4 ranges to the edge", function()
		local p = rb()
		local bad = { "0.0.0.0", "0.255.255.255", "10.0.0.0", "10.255.255.255",
			"100.64.0.0", "100.127.255.255", "127.0.0.1", "169.254.169.254", "172.16.0.0",
			"172.31.255.255", "192.0.0.8", "192.168.1.1", "198.18.0.1", "198.19.255.255",
			"224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255" }
		local good = { "1.0.0.0", "9.255.255.255", "11.0.0.0", "100.63.255.255",
			"100.128.0.0", "126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0",
			"172.15.255.255", "172.32.0.0", "192.0.1.0", "192.0.2.1", "192.167.255.255",
			"192.169.0.0", "198.17.255.255", "198.20.0.0", "198.51.100.1", "203.0.113.9",
			"223.255.255.255", "8.8.8.8" }
		for _, a in ipairs(bad) do
			assert.equal("REFUSED", verdict(p, a), a)
		end
		for _, a in ipairs(good) do
			assert.equal("NOERROR", verdict(p, a), a)
		end
	end)

	it("knows the default IPv6 ranges and IPv4 embedded in IPv6", function()
		local p = rb()
		local bad = { "::", "::1", "fc00::1", "fdff:ffff::1", "fe80::1", "febf::1", "fec0::1",
			"ff02::1", "100::1", "64:ff9b:1::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
			"::ffff:192.168.0.1", "::10.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::a9fe:a9fe",
			"2002:a00:1::1", "2002:c0a8:101::" }
		local good = { "2001:db8::1", "2606:4700::1111", "fbff::1", "fe00::1", "101::1",
			"::ffff:8.8.8.8", "::ffff:192.0.2.1", "64:ff9b::808:808", "2002:808:808::1",
			"64:ff9b:2::1" }
		for _, a in ipairs(bad) do
			assert.equal("REFUSED", verdict(p, a), a)
		end
		for _, a in ipairs(good) do
			assert.equal("NOERROR", verdict(p, a), a)
		end
		-- Without the embedded forms, only the IPv6 ranges count.
		p = rb({ embedded = false })
		assert.equal("NOERROR", verdict(p, "::ffff:10.0.0.1"))
		assert.equal("REFUSED", verdict(p, "::1"))
	end)

	it("checks every address, not only the first", function()
		local res = rb():query{ answer = { "@ 60 A 192.0.2.1", "@ 60 A 192.0.2.2",
			"@ 60 A 192.168.0.1" } }
		assert.equal("REFUSED", res.rcode_name)
	end)

	it("strips the internal records when asked", function()
		local p = rb({ action = "strip" })
		local res = p:query{ answer = { "@ 60 A 192.0.2.1", "@ 60 A 10.0.0.1",
			"@ 60 A 192.0.2.2" } }
		assert.equal("NOERROR", res.rcode_name)
		assert.same({ "192.0.2.1", "192.0.2.2" }, res:rdata())
		assert.equal(15, res.ede.code)
		res = p:query{ name = "www.example.com", answer = { "@ 60 CNAME web.example.com.",
			"web.example.com. 60 A 127.0.0.1" } }
		assert.equal("NOERROR", res.rcode_name)
		assert.same({ "web.example.com." }, res:rdata("answer", "CNAME"))
		assert.same({}, res:rdata("answer", "A"))
		assert.equal(2, p:counter("stripped"))
		res = p:query{ answer = { "@ 60 A 192.0.2.1" } }
		assert.is_nil(res.ede)
	end)

	it("judges by the name asked, whatever the chain's owners", function()
		-- An external name pointing at an internal one is still rebinding.
		local p = rb({ allow = { "corp.internal" } })
		local res = p:query{ name = "evil.example.", answer = { "@ 60 CNAME db.corp.internal.",
			"db.corp.internal. 60 A 10.0.0.5" } }
		assert.equal("REFUSED", res.rcode_name)
		res = p:query{ name = "db.corp.internal.", answer = { "@ 60 A 10.0.0.5" } }
		assert.same({ "10.0.0.5" }, res:rdata())
	end)

	it("lets allow-listed zones resolve internally", function()
		local p = rb({ allow = { "cluster.local", "LAN." } })
		local function ans(name)
			return p:query{ name = name, answer = { "@ 60 A 10.96.0.1" } }.rcode_name
		end
		assert.equal("NOERROR", ans("kubernetes.default.svc.cluster.local"))
		assert.equal("NOERROR", ans("cluster.local"))
		assert.equal("NOERROR", ans("printer.lan"))
		assert.equal("REFUSED", ans("evilcluster.local"))
		assert.equal("REFUSED", ans("local"))
	end)

	it("trusts the server's own zones and policies unless told otherwise", function()
		local zone = t.zone([[
$ORIGIN lab.test.
@ 300 SOA ns1 hostmaster 1 3600 600 604800 60
@ 300 NS ns1
ns1 300 A 127.0.0.1
db 300 A 10.0.0.7
]])
		local res = rb():query{ name = "db.lab.test", zone = zone }
		assert.equal("zone", res.source)
		assert.same({ "10.0.0.7" }, res:rdata())
		res = rb({ include_authoritative = true }):query{ name = "db.lab.test", zone = zone }
		assert.equal("REFUSED", res.rcode_name)
		-- Another policy's answer is operator data too.
		local p = t.chain({ { POLICY, {} },
			{ INLINE, { query = 'return q:reply{ answer = { "@ 60 A 10.0.0.9" } }' } } })
		res = p:query{}
		assert.same({ "10.0.0.9" }, res:rdata())
		-- A cache hit is checked like a forwarded answer.
		res = rb():query{ answer = { "@ 60 A 10.0.0.1" }, source = "cache" }
		assert.equal("REFUSED", res.rcode_name)
	end)

	it("checks the address hints of SVCB and HTTPS records", function()
		local p = rb()
		local function ans(rr, opts)
			return (opts and rb(opts) or p):query{ type = "HTTPS", answer = { rr } }.rcode_name
		end
		assert.equal("REFUSED", ans("@ 60 HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1,10.0.0.1"))
		assert.equal("REFUSED", ans("@ 60 HTTPS 1 svc.example. ipv6hint=2001:db8::1,fd00::1"))
		assert.equal("REFUSED", ans("@ 60 HTTPS 1 . ipv6hint=::ffff:127.0.0.1"))
		assert.equal("NOERROR", ans("@ 60 HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1 "
			.. "ipv6hint=2001:db8::1"))
		assert.equal("NOERROR", ans("@ 60 HTTPS 0 svc.example."))
		assert.equal("NOERROR", ans("@ 60 HTTPS 1 . ipv4hint=10.0.0.1", { svcb = false }))
		local res = p:query{ type = "SVCB", answer = { "@ 60 SVCB 1 . port=53 ipv4hint=127.0.0.1" } }
		assert.equal("REFUSED", res.rcode_name)
	end)

	it("looks at other sections only when told", function()
		local d = { type = "MX", answer = { "@ 60 MX 10 mail.example.com." },
			additional = { "mail.example.com. 60 A 10.0.0.25" } }
		local res = rb():query(d)
		assert.equal("NOERROR", res.rcode_name)
		assert.equal(1, #res.additional)
		res = rb({ sections = { "answer", "additional" }, action = "strip" }):query(d)
		assert.equal("NOERROR", res.rcode_name)
		assert.equal(1, #res.answer)
		assert.equal(0, #res.additional)
	end)

	it("takes other ranges", function()
		local p = rb({ ranges = { "192.0.2.0/24", "2001:db8::/32" } })
		assert.equal("REFUSED", verdict(p, "192.0.2.1"))
		assert.equal("REFUSED", verdict(p, "2001:db8::1"))
		assert.equal("NOERROR", verdict(p, "10.0.0.1"))
		p = rb({ extra_ranges = { "203.0.113.0/24" } })
		assert.equal("REFUSED", verdict(p, "203.0.113.5"))
		assert.equal("REFUSED", verdict(p, "10.0.0.1"))
	end)

	it("rejects bad options with clear messages", function()
		local cases = {
			{ { action = "drop" }, "option 'action' must be refuse or strip" },
			{ { ranges = { "10.0.0.0/8", "300.0.0.0/8" } }, "option 'ranges%[2%]'" },
			{ { extra_ranges = { "10.0.0.0/33" } }, "prefix longer" },
			{ { allow = { "" } }, "option 'allow%[1%]'" },
			{ { sections = { "answers" } }, "option 'sections%[1%]'" },
			{ { include_authoritative = "yes" }, "must be true or false" },
			{ { allowed = {} }, "unknown option 'allowed'" },
		}
		for _, c in ipairs(cases) do
			local ok, err = pcall(rb, c[1])
			assert.is_false(ok)
			assert.matches(c[2], err)
		end
	end)
end)
