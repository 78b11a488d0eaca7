-- Specs for the Lua policy API (lua/moon and the bridge behind it), run
-- through moon.test: every query below goes through the real hooks.
local t = require("moon.test")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local INLINE = here .. "fixtures/inline.lua"

local function inline(opts, conf, limits)
	return t.policy(INLINE, opts, conf, limits)
end

local A2 = { "@ 300 A 192.0.2.1", "@ 300 A 192.0.2.2" }

describe("q", function()
	it("exposes the question and the client", function()
		-- q.meta holds 16 keys: the fields are read in two rounds.
		local p = inline({ query = "for _, f in ipairs(OPTS.fields) do q.meta[f] = q[f] end",
			response = "q.meta.stage = q.stage", fields = { "name", "orig_name", "type",
			"type_name", "class", "id", "client", "client_port", "server", "server_port",
			"proto" } })
		local d = { name = "WWW.Example.COM", type = "AAAA", id = 99,
			client = "2001:db8::7", client_port = 4242, server = "192.0.2.53",
			proto = "tcp", ["do"] = true, bufsize = 4096, cd = true }
		local m = p:query(d).meta
		assert.equal("www.example.com.", m.name)
		assert.equal("WWW.Example.COM.", m.orig_name)
		assert.equal("28", m.type)
		assert.equal("AAAA", m.type_name)
		assert.equal("1", m.class)
		assert.equal("99", m.id)
		assert.equal("2001:db8::7", m.client)
		assert.equal("4242", m.client_port)
		assert.equal("192.0.2.53", m.server)
		assert.equal("53", m.server_port)
		assert.equal("tcp", m.proto)
		assert.equal("response", m.stage)
		p = inline({ query = "for _, f in ipairs(OPTS.fields) do q.meta[f] = q[f] end",
			fields = { "rd", "cd", "do", "do_bit", "edns", "bufsize", "opcode", "block",
			"stage", "rewritten" } })
		m = p:query(d).meta
		assert.equal("true", m.rd)
		assert.equal("true", m.cd)
		assert.equal("true", m["do"])
		assert.equal("true", m.do_bit)
		assert.equal("true", m.edns)
		assert.equal("4096", m.bufsize)
		assert.equal("0", m.opcode)
		assert.matches("^test%-%d+$", m.block)
		assert.equal("query", m.stage)
		assert.equal("false", m.rewritten)
	end)

	it("reports no EDNS as such", function()
		local p = inline({ query = "q.meta.edns = q.edns q.meta.bufsize = q.bufsize" })
		local res = p:query{ edns = false }
		assert.equal("false", res.meta.edns)
		assert.equal("0", res.meta.bufsize)
	end)

	it("is read-only and rejects unknown fields", function()
		local p = inline({ query = "q.type = 5" })
		local res = p:query{ answer = A2 }
		assert.equal(1, #res.errors)
		assert.equal("SERVFAIL", res.rcode_name)
		p = inline({ query = "local x = q.nosuchfield" })
		res = p:query{}
		assert.matches("q has no field 'nosuchfield'", res.errors[1])
	end)

	it("reads EDNS options", function()
		local p = inline({ query = [[
			q.meta.secret = q:edns_option(65200)
			q.meta.none = tostring(q:edns_option(65201))
			local all = q:edns_options()
			q.meta.count = 0
			for code, data in pairs(all) do q.meta.count = q.meta.count + 1 end
			q.meta.cookie = all[10]
		]] })
		local res = p:query{ edns = { [65200] = "s3cret", [10] = "\1\2\3\4\5\6\7\8" } }
		assert.equal("s3cret", res.meta.secret)
		assert.equal("nil", res.meta.none)
		assert.equal("2", res.meta.count)
		assert.equal("\1\2\3\4\5\6\7\8", res.meta.cookie)
	end)

	it("sets and removes EDNS options at the query stage", function()
		local p = inline({ query = [[
			q:set_edns_option(65001, "abc")
			q:set_edns_option(65001, "xyz")
			q:set_edns_option(65200, nil)
			q.meta.set = q:edns_option(65001)
			q.meta.gone = tostring(q:edns_option(65200))
			for i = 1, 7 do q:set_edns_option(i, "x") end
			q.meta.full = tostring(pcall(q.set_edns_option, q, 8, "x"))
		]], response = "q.meta.late = tostring(pcall(q.set_edns_option, q, 1, 'y'))" })
		local res = p:query{ edns = { [65200] = "s3cret" } }
		assert.equal("xyz", res.meta.set)
		assert.equal("nil", res.meta.gone)
		assert.equal("false", res.meta.full)
		assert.equal("false", res.meta.late)
		assert.is_true(res.nocache)
		res = p:query{ edns = { [65200] = "s3cret" } }
		assert.equal("xyz", res.meta.set)
	end)
end)

describe("q.meta", function()
	it("is shared by the policies of a query and read by later stages", function()
		local p = t.chain({
			{ INLINE, { query = "q.meta['a/x'] = 'one'" } },
			{ INLINE, { query = "q.meta['b/y'] = q.meta['a/x'] .. '+two'",
				response = "q.meta['b/seen'] = q.meta['b/y']",
				log = "LOGGED = q.meta['b/seen']" } },
		})
		local res = p:query{ answer = A2 }
		assert.same({ ["a/x"] = "one", ["b/y"] = "one+two", ["b/seen"] = "one+two" }, res.meta)
		assert.same({}, res.errors)
	end)

	it("starts empty for every query", function()
		local p = inline({ query = [[
			q.meta.before = tostring(q.meta.k)
			q.meta.k = 'v'
		]] })
		p:query{}
		local res = p:query{}
		assert.equal("nil", res.meta.before)
	end)

	it("stores strings, numbers and booleans as text, deletes with nil", function()
		local p = inline({ query = [[
			q.meta.n = 42
			q.meta.b = true
			q.meta.gone = 'x'
			q.meta.gone = nil
			local all = q:meta_all()
			q.meta.keys = tostring(all.gone == nil and all.n == '42')
		]] })
		local res = p:query{}
		assert.same({ n = "42", b = "true", keys = "true" }, res.meta)
	end)

	it("is bounded", function()
		local p = inline({ query = "for i = 1, 17 do q.meta['k' .. i] = 'v' end" })
		local res = p:query{}
		assert.matches("q.meta is full", res.errors[1])
		p = inline({ query = "q.meta.big = string.rep('x', 600)" })
		res = p:query{}
		assert.matches("longer than", res.errors[1])
		p = inline({ query = "q.meta.t = {}" })
		res = p:query{}
		assert.matches("values are strings", res.errors[1])
	end)
end)

describe("verdicts", function()
	it("q:refuse and q:nxdomain carry EDE 15 when the client sent EDNS", function()
		local p = inline({ query = "if q.name == 'r.test.' then return q:refuse() end"
			.. " return q:nxdomain()" })
		local res = p:query{ name = "r.test" }
		assert.equal("REFUSED", res.rcode_name)
		assert.same({ code = 15, name = "BLOCKED", text = "" }, res.ede)
		assert.equal("answer", res.verdict)
		assert.equal("policy", res.source)
		res = p:query{ name = "n.test" }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal(15, res.ede.code)
		res = p:query{ name = "n.test", edns = false }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.is_nil(res.ede)
	end)

	it("take an EDE code and text, or none", function()
		local p = inline({ query = [[
			if q.name == 'a.test.' then return q:refuse{ ede = 18, ede_text = 'not for you' } end
			if q.name == 'b.test.' then return q:refuse{ ede = false } end
			return q:servfail{ ede = 'NOT_READY' }
		]] })
		local res = p:query{ name = "a.test" }
		assert.same({ code = 18, name = "PROHIBITED", text = "not for you" }, res.ede)
		res = p:query{ name = "b.test" }
		assert.equal("REFUSED", res.rcode_name)
		assert.is_nil(res.ede)
		res = p:query{ name = "c.test" }
		assert.equal("SERVFAIL", res.rcode_name)
		assert.equal(14, res.ede.code)
	end)

	it("q:servfail has no EDE by default, q:drop sends nothing", function()
		local p = inline({ query = "if q.type == 1 then return q:servfail() end return q:drop()" })
		local res = p:query{ type = "A" }
		assert.equal("SERVFAIL", res.rcode_name)
		assert.is_nil(res.ede)
		res = p:query{ type = "MX" }
		assert.is_true(res.dropped)
		assert.equal("drop", res.verdict)
	end)

	it("stop the chain and skip the sources, but the response stage runs", function()
		local p = t.chain({
			{ INLINE, { query = "return q:refuse()" } },
			{ INLINE, { query = "q.meta.second = 'ran'", response = "q.meta.resp = r.source" } },
		})
		local res = p:query{ answer = A2 }
		assert.is_nil(res.meta.second)
		assert.equal("policy", res.meta.resp)
		assert.equal(0, #res.answer)
	end)

	it("nil continues to the next policy and the sources", function()
		local p = t.chain({
			{ INLINE, { query = "q.meta.one = 1" } },
			{ INLINE, { query = "q.meta.two = 2" } },
		})
		local res = p:query{ answer = A2 }
		assert.same({ one = "1", two = "2" }, res.meta)
		assert.equal(2, #res.answer)
		assert.equal("continue", res.verdict)
	end)
end)

describe("q:reply", function()
	it("answers with records in zone-file syntax, @ being the query name", function()
		local p = inline({ query = [[
			return q:reply{
				answer = { "@ 60 IN A 192.0.2.10", "@ 60 A 192.0.2.11" },
				authority = { "test. 300 NS ns1.test." },
				additional = { "ns1.test. 300 A 192.0.2.53" },
				aa = true,
			}
		]] })
		local res = p:query{ name = "Host.Test", type = "A" }
		assert.equal("NOERROR", res.rcode_name)
		assert.is_true(res.aa)
		assert.same({ "192.0.2.10", "192.0.2.11" }, res:rdata())
		assert.equal("Host.Test.", res.answer[1].name)
		assert.equal(60, res.answer[1].ttl)
		-- The name is compressed against the question, whose case it takes.
		assert.equal("ns1.test.", res:rdata("authority")[1]:lower())
		assert.same({ "192.0.2.53" }, res:rdata("additional"))
		assert.same({ name = "Host.Test.", type = "A" }, res.question)
	end)

	it("takes record tables, an rcode by name, and relative names", function()
		local p = inline({ query = [[
			return q:reply{ rcode = 'NXDOMAIN',
				answer = { { type = 'CNAME', rdata = 'target', ttl = 5 } },
				authority = { { name = 'zone.', type = moon.type.SOA, ttl = 60,
					rdata = 'ns.zone. host.zone. 1 3600 600 86400 60' } } }
		]] })
		local res = p:query{ name = "a.zone" }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal("CNAME", res.answer[1].type)
		assert.equal("target.a.zone.", res.answer[1].rdata)
		assert.equal("SOA", res.authority[1].type)
	end)

	it("rejects a bad record at the policy's line", function()
		local p = inline({ query = "return q:reply{ answer = { '@ 60 A not-an-address' } }" })
		local res = p:query{}
		assert.equal("SERVFAIL", res.rcode_name)
		assert.matches("bad record '@ 60 A not%-an%-address': line 1: invalid address", res.errors[1])
		p = inline({ query = "q:reply{ answer = { '@ 60 A not-an-address' } }" })
		assert.matches("query:2: bad record", p:query{}.errors[1])
	end)

	it("truncates over UDP when the records do not fit", function()
		local p = inline({ query = [[
			local list = {}
			for i = 1, 100 do list[i] = '@ 60 TXT "' .. string.rep('x', 100) .. '"' end
			return q:reply{ answer = list }
		]] })
		local res = p:query{ bufsize = 512 }
		assert.is_true(res.tc)
		assert.equal(0, #res.answer)
		res = p:query{ proto = "tcp" }
		assert.is_false(res.tc)
		assert.equal(100, #res.answer)
	end)
end)

describe("negative answers with the zone's SOA", function()
	local zone = t.zone([[
$ORIGIN neg.test.
@ 3600 SOA ns hostmaster 7 3600 600 86400 120
@ 3600 NS ns
ns 3600 A 192.0.2.53
]])
	local p = inline({ query = [[
		if q.type == 16 then return q:nodata{ soa = true } end
		if q.type == 15 then return q:nxdomain{ soa = true, aa = false, ede = false } end
		if q.type == 99 then return q:reply{ rcode = "NXDOMAIN", soa = true,
			authority = { "@ 30 NSEC x.neg.test. A" }, additional = { "x 60 A 192.0.2.9" } } end
		if q.type == 13 then return q:nodata{ answer = { "@ 60 A 192.0.2.1" } } end
		return q:nxdomain{ soa = true }
	]] })

	it("q:nxdomain{ soa = true }: the SOA with the negative TTL, AA", function()
		local res = p:query{ name = "gone.neg.test", zone = zone }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.is_true(res.aa)
		assert.equal(0, #res.answer)
		assert.same({ { name = "neg.test.", type = "SOA", ttl = 120, class = 1,
			rdata = "ns.neg.test. hostmaster.neg.test. 7 3600 600 86400 120" } }, res.authority)
		assert.equal(15, res.ede.code)
		-- The zone would say the same.
		local z = t.policy(INLINE, {}):query{ name = "gone.neg.test", zone = zone }
		assert.same(z.authority, res.authority)
	end)

	it("q:nodata{ soa = true }: NOERROR, no answer, the SOA, no EDE", function()
		local res = p:query{ name = "ns.neg.test", type = "TXT", zone = zone }
		assert.equal("NOERROR", res.rcode_name)
		assert.is_true(res.aa)
		assert.equal(0, #res.answer)
		assert.equal("SOA", res.authority[1].type)
		assert.equal(120, res.authority[1].ttl)
		assert.is_nil(res.ede)
		assert.equal("policy", res.source)
	end)

	it("keeps aa = false, puts the SOA before the given authority", function()
		local res = p:query{ name = "x.neg.test", type = "MX", zone = zone }
		assert.is_false(res.aa)
		assert.equal("SOA", res.authority[1].type)
		assert.is_nil(res.ede)
		res = p:query{ name = "neg.test", type = "TYPE99", zone = zone }
		assert.same({ "SOA", "NSEC" }, { res.authority[1].type, res.authority[2].type })
		assert.same({ "192.0.2.9" }, res:rdata("additional"))
	end)

	it("adds nothing outside the zones", function()
		local res = p:query{ name = "www.other.test", zone = zone }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal(0, #res.authority)
		assert.is_false(res.aa)
		res = p:query{ name = "www.other.test" }
		assert.equal(0, #res.authority)
	end)

	it("q:nodata takes no answer records", function()
		local res = p:query{ name = "ns.neg.test", type = "HINFO", zone = zone }
		assert.equal("SERVFAIL", res.rcode_name)
		assert.matches("q:nodata: no answer records", res.errors[1])
	end)

	it("uses the rewritten name's zone", function()
		local rw = inline({ query = [[
			q:rewrite{ name = "gone.neg.test" }
			return q:nxdomain{ soa = true }
		]] })
		local res = rw:query{ name = "www.example.com", zone = zone }
		assert.equal("SOA", res.authority[1].type)
		assert.equal("neg.test.", res.authority[1].name)
	end)
end)

describe("q:rewrite", function()
	local zone = t.zone([[
$ORIGIN internal.test.
@ 3600 SOA ns hostmaster 1 3600 600 86400 60
@ 3600 NS ns
ns 3600 A 192.0.2.53
www 300 A 10.1.2.3
www 300 TXT "internal"
]])

	it("changes what the sources answer; the reply keeps the client's question", function()
		local p = inline({ query = [[
			if q.name == 'www.example.com.' then q:rewrite{ name = 'www.internal.test' } end
			q.meta.after = q.name
			q.meta.orig = q.orig_name
			q.meta.rewritten = q.rewritten
		]] })
		local res = p:query{ name = "www.example.com", zone = zone }
		assert.same({ name = "www.example.com.", type = "A" }, res.question)
		assert.same({ "10.1.2.3" }, res:rdata())
		assert.equal("www.example.com.", res.answer[1].name)
		assert.equal("www.internal.test.", res.meta.after)
		assert.equal("www.example.com.", res.meta.orig)
		assert.equal("true", res.meta.rewritten)
		assert.is_true(res.rewritten)
	end)

	it("restores the question of cache and forwarder answers too", function()
		-- Given records stand for an upstream's reply to the new question.
		local p = inline({ query = "q:rewrite{ name = 'www.internal.test' }" })
		local res = p:query{ name = "WWW.example.com", answer = { "@ 60 A 10.9.9.9",
			"www.internal.test. 60 TXT \"same owner\"", "other.internal.test. 60 A 10.1.1.1" } }
		assert.same({ name = "WWW.example.com.", type = "A" }, res.question)
		assert.equal("WWW.example.com.", res.answer[1].name)
		assert.equal("WWW.example.com.", res.answer[2].name)
		assert.equal("other.internal.test.", res.answer[3].name)
		-- And with a response hook that maps the other names back itself.
		p = t.chain({
			{ INLINE, { query = "q:rewrite{ name = 'www.internal.test' }", response = [[
				for _, rec in ipairs(r:records()) do
					local n = rec.name:lower()
					if n:sub(-#'.internal.test.') == '.internal.test.' then
						r:replace(rec, n:gsub('internal%.test%.$', 'example.com.') .. ' '
							.. rec.ttl .. ' IN ' .. rec.type_name .. ' ' .. rec.rdata)
					end
				end
			]] } },
		})
		res = p:query{ name = "www.example.com", answer = { "@ 60 A 10.9.9.9",
			"other.internal.test. 60 A 10.1.1.1" } }
		assert.same({ "www.example.com.", "other.example.com." },
			{ res.answer[1].name, res.answer[2].name })
		assert.equal("www.example.com.", res.question.name)
	end)

	it("can change the type", function()
		local p = inline({ query = "q:rewrite{ name = 'www.internal.test.', type = 'TXT' }"
			.. " q.meta.type = q.type q.meta.orig_type = q.orig_type" })
		local res = p:query{ name = "x.example", type = "A", zone = zone }
		assert.same({ '"internal"' }, res:rdata())
		assert.equal("16", res.meta.type)
		assert.equal("1", res.meta.orig_type)
		assert.equal("A", res.question.type)
	end)

	it("is for the query stage and checks the name", function()
		local p = inline({ response = "q:rewrite{ name = 'x.test' }" })
		local res = p:query{ answer = A2 }
		assert.matches("not allowed in this stage", res.errors[1])
		p = inline({ query = "q:rewrite{ name = string.rep('a', 70) .. '.test' }" })
		res = p:query{}
		assert.matches("bad name", res.errors[1])
	end)
end)

describe("r", function()
	it("reads the response header and source", function()
		local p = inline({ response = [[
			q.meta.rcode = r.rcode
			q.meta.rcode_name = r.rcode_name
			q.meta.aa = r.aa
			q.meta.tc = r.tc
			q.meta.source = r.source
			q.meta.count = r:count()
			q.meta.answers = r:count('answer')
		]] })
		local res = p:query{ answer = A2, aa = true, source = "cache" }
		assert.same({ rcode = "0", rcode_name = "NOERROR", aa = "true", tc = "false",
			source = "cache", count = "2", answers = "2" }, res.meta)
	end)

	it("lists records with their fields", function()
		local p = inline({ response = [[
			for i, rec in ipairs(r:records('answer')) do
				q.meta['r' .. i] = table.concat({ rec.name, rec.ttl, rec.type, rec.type_name,
					rec.class, rec.section, rec.rdata, tostring(rec.ip) }, ' ')
			end
			local mx = r:records('authority')[1]
			q.meta.mx = mx.rdata .. ' ' .. tostring(mx.ip) .. ' ' .. #mx.raw
			q.meta.text = tostring(r:records()[1])
		]] })
		local res = p:query{ name = "h.test", answer = { "@ 300 A 192.0.2.1", "@ 300 AAAA 2001:db8::1" },
			authority = { "test. 60 MX 10 mail.test." } }
		assert.equal("h.test. 300 1 A 1 answer 192.0.2.1 192.0.2.1", res.meta.r1)
		assert.equal("h.test. 300 28 AAAA 1 answer 2001:db8::1 2001:db8::1", res.meta.r2)
		assert.equal("10 mail.test. nil 13", res.meta.mx)
		assert.equal("h.test. 300 IN A 192.0.2.1", res.meta.text)
	end)

	it("sees every answer, cache hits and zone answers included", function()
		local z = t.zone("$ORIGIN z.test.\n@ 60 SOA ns h 1 60 60 60 60\n@ 60 NS ns\nns 60 A 192.0.2.1\n")
		local p = inline({ response = "q.meta.src = r.source q.meta.n = r:count()" })
		assert.equal("zone", p:query{ name = "ns.z.test", zone = z }.meta.src)
		assert.equal("cache", p:query{ answer = A2, source = "cache" }.meta.src)
		assert.equal("server", p:query{}.meta.src)
	end)

	it("filters records with EDE 17", function()
		local p = inline({ response = "return nil, r:filter(function(rec)"
			.. " return rec.ip ~= '192.0.2.2' end)" })
		local res = p:query{ answer = A2 }
		assert.same({ "192.0.2.1" }, res:rdata())
		assert.same({ code = 17, name = "FILTERED", text = "" }, res.ede)
	end)

	it("removes records without an EDE", function()
		local p = inline({ response = "r:remove(r:records('answer')[1])" })
		local res = p:query{ answer = A2 }
		assert.same({ "192.0.2.2" }, res:rdata())
		assert.is_nil(res.ede)
	end)

	it("adds and replaces records", function()
		local p = inline({ response = [[
			local recs = r:records('answer')
			r:replace(recs[1], '@ 10 A 198.51.100.1')
			r:add('additional', 'extra.test. 20 TXT "hello"')
			r:add('answer', { type = 'A', rdata = '198.51.100.3', ttl = 30 })
		]] })
		local res = p:query{ name = "h.test", answer = A2 }
		assert.same({ "198.51.100.1", "192.0.2.2", "198.51.100.3" }, res:rdata())
		assert.equal(10, res.answer[1].ttl)
		assert.equal("h.test.", res.answer[3].name)
		assert.same({ '"hello"' }, res:rdata("additional"))
	end)

	it("clamps TTLs and sets them one by one", function()
		local p = inline({ response = [[
			if q.name == 'a.test.' then r:clamp_ttl(100) end
			if q.name == 'b.test.' then r:clamp_ttl(400, 500) end
			if q.name == 'c.test.' then r:records()[2].ttl = 7 end
		]] })
		assert.same({ 100, 100 }, { p:query{ name = "a.test", answer = A2 }.answer[1].ttl,
			p:query{ name = "a.test", answer = A2 }.answer[2].ttl })
		assert.equal(400, p:query{ name = "b.test", answer = A2 }.answer[1].ttl)
		local res = p:query{ name = "c.test", answer = A2 }
		assert.equal(300, res.answer[1].ttl)
		assert.equal(7, res.answer[2].ttl)
	end)

	it("changes the rcode and flags", function()
		local p = inline({ response = "r.rcode = 'NXDOMAIN' r.aa = true" })
		local res = p:query{ answer = A2 }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.is_true(res.aa)
		p = inline({ response = "r.rcode = 'NOSUCHCODE'" })
		assert.matches("unknown rcode", p:query{ answer = A2 }.errors[1])
	end)

	it("shuffles the records of each RRset", function()
		local list = {}
		for i = 1, 8 do
			list[i] = "@ 300 A 192.0.2." .. i
		end
		local p = inline({ response = "r:shuffle('answer')" })
		local seen = {}
		for _ = 1, 20 do
			local res = p:query{ answer = list }
			assert.equal(8, #res.answer)
			seen[table.concat(res:rdata(), ",")] = true
		end
		local orders = 0
		for _ in pairs(seen) do
			orders = orders + 1
		end
		assert.is_true(orders > 1)
	end)

	it("keeps a CNAME chain in order when shuffling", function()
		local p = inline({ response = "r:shuffle()" })
		for _ = 1, 10 do
			local res = p:query{ name = "w.test", answer = { "@ 60 CNAME x.test.",
				"x.test. 60 A 192.0.2.1", "x.test. 60 A 192.0.2.2" } }
			assert.equal("CNAME", res.answer[1].type)
		end
	end)

	it("shuffles only the RRsets of some types", function()
		local list = { "@ 300 TXT \"1\"", "@ 300 TXT \"2\"", "@ 300 TXT \"3\"",
			"@ 300 TXT \"4\"", "@ 300 A 192.0.2.1", "@ 300 A 192.0.2.2" }
		local p = inline({ response = "r:shuffle('answer', { 'A', 28 })" })
		local txt_moved, a_orders = false, {}
		for _ = 1, 20 do
			local res = p:query{ answer = list }
			txt_moved = txt_moved or table.concat(res:rdata("answer", "TXT"), ",")
				~= '"1","2","3","4"'
			a_orders[table.concat(res:rdata("answer", "A"), ",")] = true
		end
		assert.is_false(txt_moved)
		assert.is_true(a_orders["192.0.2.2,192.0.2.1"] and a_orders["192.0.2.1,192.0.2.2"])
	end)

	it("reorders records over their positions", function()
		local p = inline({ response = [[
			local recs = r:records('answer')
			r:reorder({ recs[3], recs[1] })
		]] })
		local res = p:query{ answer = { "@ 60 A 192.0.2.1", "@ 60 A 192.0.2.2",
			"@ 60 A 192.0.2.3" } }
		assert.same({ "192.0.2.3", "192.0.2.2", "192.0.2.1" }, res:rdata())
		p = inline({ response = "r:reorder({ r:records('answer')[1], r:records('additional')[1] })" })
		res = p:query{ answer = A2, additional = { "x.test. 60 A 192.0.2.9" } }
		assert.matches("distinct and of one section", res.errors[1])
	end)

	it("walks records without a table each", function()
		local p = inline({ response = [[
			local seen = {}
			r:each(function(rec)
				seen[#seen + 1] = rec.ip
				if rec.ip == '192.0.2.2' then r:remove(rec) end
			end)
			q.meta.seen = table.concat(seen, ',')
			local first
			r:each(function(rec) first = rec return false end, 'answer')
			q.meta.after = tostring(pcall(function() return first.ttl end))
		]] })
		local res = p:query{ answer = { "@ 60 A 192.0.2.1", "@ 60 A 192.0.2.2",
			"@ 60 A 192.0.2.3" } }
		assert.equal("192.0.2.1,192.0.2.2,192.0.2.3", res.meta.seen)
		assert.equal("false", res.meta.after)
		assert.same({ "192.0.2.1", "192.0.2.3" }, res:rdata())
	end)

	it("names the policy whose verdict made the reply", function()
		local p = t.chain({
			{ INLINE, { query = "if q.type == 15 then return q:refuse() end" }, { name = "gate" } },
			{ INLINE, { response = "q.meta.by = tostring(r.policy)" }, { name = "watch" } },
		})
		assert.equal("gate", p:query{ type = "MX" }.meta.by)
		assert.equal("nil", p:query{ type = "A", answer = A2 }.meta.by)
	end)

	it("can set an EDE of its own", function()
		local p = inline({ response = "r:ede('STALE_ANSWER', 'from the past')" })
		local res = p:query{ answer = A2 }
		assert.same({ code = 3, name = "STALE_ANSWER", text = "from the past" }, res.ede)
		assert.same({ "192.0.2.1", "192.0.2.2" }, res:rdata())
	end)

	it("can replace the answer with a verdict", function()
		local p = inline({ response = "if r:count() > 1 then return q:nxdomain() end" })
		local res = p:query{ answer = A2 }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal(0, #res.answer)
		assert.equal("answer", res.verdicts.response)
	end)

	it("records cannot outlive their hook", function()
		local p = inline({ response = [[
			if SAVED then q.meta.err = select(2, pcall(function() return SAVED.ttl end)) end
			SAVED = r:records()[1]
		]] })
		p:query{ answer = A2 }
		local res = p:query{ answer = A2 }
		assert.matches("record used after its hook returned", res.meta.err)
	end)

	it("is read-only in the log stage", function()
		local p = inline({ log = "r:clamp_ttl(1)" })
		local res = p:query{ answer = A2 }
		assert.matches("not allowed in this stage", res.errors[1])
		assert.equal(300, res.answer[1].ttl)
	end)
end)

describe("errors", function()
	it("are contained and get on_error", function()
		local p = inline({ query = "error('broken')" }, { on_error = "refuse" })
		local res = p:query{ answer = A2 }
		assert.equal("REFUSED", res.rcode_name)
		assert.matches("query:2: broken", res.errors[1])
		assert.matches("stack traceback", res.errors[1])
		p = inline({ query = "error('broken')" }, { on_error = "continue" })
		res = p:query{ answer = A2 }
		assert.equal("NOERROR", res.rcode_name)
		assert.equal(2, #res.answer)
	end)

	it("stop a runaway interpreted loop", function()
		local p = inline({ query = "while true do end" }, { jit = false }, { time_ms = 30 })
		local res = p:query{}
		assert.equal("SERVFAIL", res.rcode_name)
		assert.matches("time budget of 30 ms exceeded", res.errors[1])
	end)

	it("stop a policy at its memory cap", function()
		local p = inline({ query = "local t = {} for i = 1, 1e8 do t[i] = i end" }, {},
			{ memory = 16 * 1024 * 1024 })
		local res = p:query{}
		assert.equal("SERVFAIL", res.rcode_name)
		assert.matches("memory limit", res.errors[1])
		assert.is_true(p:memory() <= 16 * 1024 * 1024)
	end)

	it("at load time are Lua errors with file:line", function()
		assert.has_error(function() inline({ init = "error('bad option', 0)" }) end,
			"policy inline: bad option")
		local ok, err = pcall(t.policy, here .. "fixtures/blocklist.lua", { domain = {} })
		assert.is_false(ok)
		assert.matches("blocklist.lua:%d+: unknown option 'domain' %(known: domains, tag%)", err)
	end)
end)

describe("moon", function()
	it("has type, rcode and ede tables both ways", function()
		local p = inline({ query = [[
			q.meta.a = moon.type.A
			q.meta.aaaa = moon.type[28]
			q.meta.unknown = moon.type[65280]
			q.meta.t = moon.type.TYPE65280
			q.meta.nx = moon.rcode.NXDOMAIN
			q.meta.blocked = moon.ede[15]
			q.meta.ro = tostring(pcall(function() moon.type.A = 5 end))
		]] })
		assert.same({ a = "1", aaaa = "AAAA", unknown = "TYPE65280", t = "65280", nx = "3",
			blocked = "BLOCKED", ro = "false" }, p:query{}.meta)
	end)

	it("shares dictionaries between policies and workers", function()
		local p = inline({ init = "D = moon.shared('spec-dict')", query = [[
			D:set('s', 'text')
			D:set('n', 5)
			q.meta.s = D:get('s')
			q.meta.n = D:get('n')
			q.meta.incr = D:incr('c')
			q.meta.incr2 = D:incr('c', 10)
			q.meta.add1 = D:add('once', 'x')
			q.meta.add2 = D:add('once', 'y')
			q.meta.once = D:get('once')
			D:set('gone', 'x') D:delete('gone')
			q.meta.gone = tostring(D:get('gone'))
			q.meta.ttl = D:ttl('s')
			D:set('t', 'x', 100)
			q.meta.ttl2 = D:ttl('t') > 99
			q.meta.nottl = tostring(D:ttl('nope'))
			q.meta.err = select(2, pcall(D.incr, D, 's'))
		]] })
		local m = p:query{}.meta
		assert.equal("text", m.s)
		assert.equal("5", m.n)
		assert.equal("1", m.incr)
		assert.equal("11", m.incr2)
		assert.equal("true", m.add1)
		assert.equal("false", m.add2)
		assert.equal("x", m.once)
		assert.equal("nil", m.gone)
		assert.equal("-1", m.ttl)
		assert.equal("true", m.ttl2)
		assert.equal("nil", m.nottl)
		assert.matches("is not a number", m.err)
		-- Another state (another worker, or the next generation) sees the same data.
		local other = inline({ query = "q.meta.c = moon.shared('spec-dict'):get('c')" })
		assert.equal("11", other:query{}.meta.c)
	end)

	it("expires shared entries", function()
		local p = inline({ init = "D = moon.shared('spec-ttl')", query = [[
			if q.name == 'set.test.' then D:set('k', 'v', 0.05) end
			q.meta.v = tostring(D:get('k'))
		]] })
		assert.equal("v", p:query{ name = "set.test" }.meta.v)
		os.execute("sleep 0.1")
		assert.equal("nil", p:query{ name = "get.test" }.meta.v)
	end)

	it("counts with counters", function()
		local p = inline({ init = "C = moon.counter('spec_hits')", query = "C:inc() C:inc(2)" })
		p:query{}
		p:query{}
		assert.equal(6, p:counter("spec_hits"))
		assert.has_error(function() inline({ init = "moon.counter('bad name')" }) end)
	end)

	it("logs and tells time", function()
		local p = inline({ query = [[
			moon.log.info('hello %s', q.name)
			print('printed', 1)
			local t1 = moon.now()
			q.meta.mono = moon.now() >= t1
		]] })
		local res = p:query{}
		assert.same({}, res.errors)
		assert.equal("true", res.meta.mono)
	end)

	it("checks options", function()
		local p = inline({ init = [[
			local o = moon.options({ a = 1, l = { 'x' } }, {
				a = { type = 'number' }, b = { type = 'string', default = 'dflt' },
				l = { type = 'list' } })
			B = o.b
		]], query = "q.meta.b = B" })
		assert.equal("dflt", p:query{}.meta.b)
		assert.has_error(function()
			inline({ init = "moon.options({ a = 'x' }, { a = { type = 'number' } })" })
		end)
		assert.has_error(function()
			inline({ init = "moon.options({}, { a = { required = true } })" })
		end)
		assert.has_error(function()
			inline({ init = "moon.options({ c = 1 }, { a = { values = { 1, 2 } } })" })
		end)
	end)

	it("has PCRE2 regular expressions (moon.regex)", function()
		-- The module runs here, in the test runner's state, with the same FFI.
		local regex = require("moon.regex").regex
		assert.equal(regex, require("moon").regex)
		local re = regex("^(?P<host>[a-z]+)-(\\d+)(x)?\\.example\\.$", "i")
		assert.same({ "Web", "42", false }, { re:match("Web-42.example.") })
		assert.equal(3, re.groups)
		assert.same({ host = 1 }, re.names)
		assert.is_false(re:test("nope"))
		assert.same({ 1, 14, "Web", "7", false }, { re:find("Web-7.example.") })
		assert.same({ host = "web" }, re:named("web-1.example."))
		assert.equal("bbb", regex("b+"):match("abbbc"))
		assert.is_nil(regex("b+"):match("aaa"))
		assert.same({ "WEB", "7", false }, re:captures("WEB-7.example."))
		assert.is_nil(re:captures("web.example."))
		assert.same({}, regex("b+"):captures("abbbc"))
		assert.has_error(function() regex("(a") end,
			"moon.regex: missing closing parenthesis at offset 2")
		assert.has_error(function() regex("a", "q") end)
		local ok, err = pcall(function()
			return regex("^(a+)+$"):match(string.rep("a", 40) .. "b")
		end)
		assert.is_false(ok)
		assert.matches("match limit", err)
	end)

	it("matches addresses and names", function()
		local p = inline({ query = [[
			local nets = moon.cidr{ '10.0.0.0/8', '192.0.2.128/25', '2001:db8::/32', '198.51.100.7' }
			q.meta.a = tostring(nets:contains('10.200.0.1'))
			q.meta.b = tostring(nets:contains('192.0.2.200'))
			q.meta.c = tostring(nets:contains('192.0.2.1'))
			q.meta.d = tostring(nets:contains('2001:db8:1::1'))
			q.meta.e = tostring(nets:contains('198.51.100.7'))
			q.meta.f = tostring(nets:contains('not an ip'))
			q.meta.fam = moon.ip.family('::1') .. moon.ip.family('127.0.0.1')
			q.meta.mapped = tostring(nets:contains('::ffff:10.1.2.3'))
			q.meta.bytes = #q.client_bytes .. #q.server_bytes
			q.meta.len = #moon.ip.parse('::1')
			local names = moon.names{ 'example.com', 'Ads.Example.NET.' }
			q.meta.g = tostring(names:match('WWW.example.com.'))
			q.meta.h = tostring(names:match('example.com'))
			q.meta.i = tostring(names:match('notexample.com.'))
			q.meta.j = tostring(names:match('x.ads.example.net'))
			q.meta.k = tostring(names:has('www.example.com'))
		]] })
		assert.same({ a = "10.0.0.0/8", b = "192.0.2.128/25", c = "nil", d = "2001:db8::/32",
			e = "198.51.100.7", f = "nil", fam = "64", len = "16", g = "example.com.",
			h = "example.com.", i = "nil", j = "ads.example.net.", k = "false",
			mapped = "10.0.0.0/8", bytes = "44" }, p:query{}.meta)
	end)
end)

describe("sandbox", function()
	it("hides os.execute, io and friends unless the config opts out", function()
		local body = "q.meta.x = tostring(os.execute) .. tostring(io) .. tostring(require == nil)"
		assert.equal("nilnilfalse", inline({ query = body }):query{}.meta.x)
		local ok, err = pcall(inline, { init = "require('ffi')" })
		assert.is_false(ok)
		assert.matches("not available to sandboxed policies", err)
		local res = inline({ query = "q.meta.x = type(io.popen)" }, { sandbox = false }):query{}
		assert.equal("function", res.meta.x)
	end)

	it("gives each policy its own globals and library copies", function()
		local p = t.chain({
			{ INLINE, { init = "X = 1 string.upper = nil", query = "q.meta.one = tostring(X)" } },
			{ INLINE, { query = "q.meta.two = tostring(X) .. type(string.upper)" } },
		})
		assert.same({ one = "1", two = "nilfunction" }, p:query{}.meta)
	end)
end)

describe("a realistic policy", function()
	local p = t.policy(here .. "fixtures/blocklist.lua", { domains = { "bad.example" } })

	it("blocks listed names with NXDOMAIN and EDE", function()
		local res = p:query{ name = "x.bad.example" }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal(15, res.ede.code)
		assert.equal("bad.example.", res.meta.blocklist)
		assert.equal(1, p:counter("hits"))
	end)

	it("filters private addresses from answers", function()
		local res = p:query{ name = "ok.example", answer = { "@ 60 A 10.0.0.1", "@ 60 A 192.0.2.1" } }
		assert.same({ "192.0.2.1" }, res:rdata())
		assert.equal(17, res.ede.code)
	end)
end)
