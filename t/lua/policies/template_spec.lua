-- Specs for policies/template.lua: its PCRE2 regexes (moon.regex), then the policy through moon.test with real queries, including
-- scenario (a) of examples/template-ip.yaml.
local t = require("moon.test")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local FILE = here .. "../../../policies/template.lua"
local X = assert(loadfile(FILE))("internals")

local IP_RE = [[^ip-(?P<a>\d+)-(?P<b>\d+)-(?P<c>\d+)-(?P<d>\d+)[.]example[.]com[.]$]]
local SOA = "example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 604800 60"

local ZONE = [[
example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 604800 60
example.com. 3600 IN NS ns1.example.com.
ns1.example.com. 3600 IN A 192.0.2.53
]]

-- The error a constructor raises for these options.
local function load_error(opts)
	local ok, err = pcall(t.policy, FILE, opts)
	assert.is_false(ok, "the options were accepted")
	return tostring(err)
end

describe("template regexes (PCRE2)", function()
	local cases = {
		-- regex, subject, expected captures (nil = no match)
		{ IP_RE, "ip-1-2-3-4.example.com.", { "1", "2", "3", "4" } },
		{ IP_RE, "ip-1-2-3.example.com.", nil },
		{ IP_RE, "xip-1-2-3-4.example.com.", nil },
		{ IP_RE, "ip-1-2-3-4.example.comx", nil },
		{ IP_RE, "ip-1-2-3-4xexample.com.", nil },
		{ [[^(\w+)\.(\w+)\.$]], "a_b.c.", { "a_b", "c" } },
		{ [[^([a-f0-9]{4})-(\d{2,3})$]], "beef-123", { "beef", "123" } },
		{ [[^([a-f0-9]{4})-(\d{2,3})$]], "beef-1", nil },
		{ [[^([a-f0-9]{4})-(\d{2,3})$]], "beef-1234", nil },
		{ [[^x{2,}$]], "xxxx", {} },
		{ [[^x{2,}$]], "x", nil },
		{ [[^(.*?)\.(.*)$]], "a.b.c", { "a", "b.c" } },
		{ [[^(.+?)(\d+)$]], "abc123", { "abc", "123" } },
		{ [[^(.+)(\d+)$]], "abc123", { "abc12", "3" } },
		{ [[^a?b$]], "b", {} },
		{ [[^(?:www\.)(.+)$]], "www.x.", { "x." } },
		{ [[^[^.]+\.$]], "host.", {} },
		{ [[^[^.]+\.$]], "a.b.", nil },
		{ [[^[-a]+$]], "a-a", {} },
		{ [[^a%b$]], "a%b", {} },
		{ [[^a\+b$]], "a+b", {} },
		{ [[^WWW\.]], "www.example.", {} },
		{ [[example]], "www.example.org.", {} },
		-- What PCRE2 adds to the old subset: alternation, quantified groups,
		-- lookaround, word boundaries, POSIX classes.
		{ [[^(api|www)[.](.+)$]], "www.example.", { "www", "example." } },
		{ [[^(?:www\.)?(x)\.$]], "x.", { "x" } },
		{ [[^(?:www\.)?(x)\.$]], "www.x.", { "x" } },
		{ [[^(ab)+$]], "ababab", { "ab" } },
		{ [[^(?!mail)(\w+)\.]], "mail.example.", nil },
		{ [[^(?!mail)(\w+)\.]], "web.example.", { "web" } },
		{ [[\bexample\b]], "www.example.org.", {} },
		{ [=[^[[:alpha:]]+\.$]=], "abc.", {} },
		{ [[^(a)?(b)$]], "b", { false, "b" } },
	}
	for _, c in ipairs(cases) do
		it(c[1] .. " on " .. c[2], function()
			local re = X.compile_regex(c[1])
			local caps = re.exec(c[2])
			if c[3] == nil then
				assert.is_nil(caps)
			else
				assert.same(c[3], caps)
			end
		end)
	end

	it("numbers named groups in order", function()
		local re = X.compile_regex("^(?P<x>a)(b)(?<y>c)$")
		assert.equal(3, re.ngroups)
		assert.same({ x = 1, y = 3 }, re.names)
	end)

	local bad = {
		{ "^(a", "missing closing parenthesis at offset 3" },
		{ "^a)", "unmatched closing parenthesis" },
		{ "^[a-z", "missing terminating ]" },
		{ "*a", "quantifier does not follow a repeatable item" },
		{ "^(?P<n>a)(?P<n>b)$", "same name" },
		{ "^a{3,1}", "out of order" },
		{ "", "a regex is a non-empty string" },
	}
	for _, c in ipairs(bad) do
		it("rejects " .. c[1], function()
			local ok, err = pcall(X.compile_regex, c[1])
			assert.is_false(ok)
			assert.truthy(tostring(err):find(c[2], 1, true), err)
		end)
	end
end)

describe("template policy", function()
	local zone = t.zone(ZONE)

	-- Scenario (a): the two templates of examples/template-ip.yaml in front
	-- of the example.com zone.
	local ip = t.chain({
		{ FILE, { zones = { "example.com." }, type = "A", match = IP_RE,
			answer = "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}" } },
		{ FILE, { zones = { "example.com." }, type = "ANY", match = IP_RE, rcode = "NOERROR",
			soa = true } },
	})

	it("answers ip-1-1-1-1.example.com A with 1.1.1.1, authoritative", function()
		local res = ip:query{ name = "ip-1-1-1-1.example.com.", type = "A", zone = zone }
		assert.equal("NOERROR", res.rcode_name)
		assert.is_true(res.aa)
		assert.equal("policy", res.source)
		assert.same({ name = "ip-1-1-1-1.example.com.", type = "A" }, res.question)
		assert.equal(1, #res.answer)
		assert.same({ name = "ip-1-1-1-1.example.com.", type = "A", ttl = 60, class = 1,
			rdata = "1.1.1.1" }, res.answer[1])
		assert.equal(0, #res.authority)
		assert.same({}, res.errors)
	end)

	it("keeps the client's spelling of the name", function()
		local res = ip:query{ name = "IP-10-0-0-1.Example.COM.", type = "A", zone = zone }
		assert.equal("IP-10-0-0-1.Example.COM.", res.question.name)
		assert.equal("IP-10-0-0-1.Example.COM.", res.answer[1].name)
		assert.equal("10.0.0.1", res.answer[1].rdata)
	end)

	it("answers its AAAA with NOERROR, no data and the SOA", function()
		local res = ip:query{ name = "ip-1-1-1-1.example.com.", type = "AAAA", zone = zone }
		assert.equal("NOERROR", res.rcode_name)
		assert.is_true(res.aa)
		assert.equal(0, #res.answer)
		assert.equal(1, #res.authority)
		assert.equal("SOA", res.authority[1].type)
		assert.equal("example.com.", res.authority[1].name:lower())
		assert.equal(60, res.authority[1].ttl)
		assert.equal("ns1.example.com. hostmaster.example.com. 1 3600 600 604800 60",
			res.authority[1].rdata)
	end)

	it("soa: true is the hand-written SOA of the zone, and nothing without a zone", function()
		local hand = t.policy(FILE, { zones = "example.com", rcode = "NXDOMAIN", authority = SOA })
		local auto = t.policy(FILE, { zones = "example.com", rcode = "NXDOMAIN", soa = true })
		local a = hand:query{ name = "x.example.com.", zone = zone }
		local b = auto:query{ name = "x.example.com.", zone = zone }
		assert.same(a.authority, b.authority)
		assert.same(a.wire, b.wire)
		assert.equal(0, #auto:query{ name = "x.example.com." }.authority)
	end)

	it("passes other names to the zone: foo.example.com A is NXDOMAIN with the SOA", function()
		local res = ip:query{ name = "foo.example.com.", type = "A", zone = zone }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal("zone", res.source)
		assert.equal(0, #res.answer)
		assert.equal("SOA", res.authority[1].type)
		assert.equal("continue", res.verdict)
	end)

	it("leaves the zone's own names alone", function()
		local res = ip:query{ name = "ns1.example.com.", type = "A", zone = zone }
		assert.same({ "192.0.2.53" }, res:rdata())
		res = ip:query{ name = "example.com.", type = "SOA", zone = zone }
		assert.equal(1, #res.answer)
	end)

	it("does not touch names outside its zones", function()
		local res = ip:query{ name = "ip-1-1-1-1.example.net.", type = "A",
			answer = { "@ 300 A 192.0.2.9" } }
		assert.same({ "192.0.2.9" }, res:rdata())
	end)

	it("counts matches", function()
		local p = t.policy(FILE, { type = "A", match = IP_RE, answer = "{{ .Name }} 60 IN A 1.2.3.4" })
		p:query{ name = "ip-1-2-3-4.example.com.", zone = zone }
		p:query{ name = "ip-1-2-3-4.example.com.", zone = zone }
		p:query{ name = "nope.example.com.", zone = zone }
		assert.equal(2, p:counter("matches"))
	end)

	describe("regex miss inside the zone", function()
		it("passes on by default", function()
			local p = t.policy(FILE, { zones = "example.com", match = IP_RE, answer = "@ A 1.2.3.4" })
			local res = p:query{ name = "foo.example.com.", zone = zone }
			assert.equal("NXDOMAIN", res.rcode_name)
			assert.equal("zone", res.source)
		end)

		it("is SERVFAIL with fallthrough: false, as CoreDNS", function()
			local p = t.policy(FILE, { zones = "example.com", match = IP_RE,
				answer = "@ A 1.2.3.4", fallthrough = false })
			local res = p:query{ name = "foo.example.com.", zone = zone }
			assert.equal("SERVFAIL", res.rcode_name)
			-- Outside the zones nothing changes.
			res = p:query{ name = "foo.example.net.", answer = { "@ A 192.0.2.1" } }
			assert.equal("NOERROR", res.rcode_name)
		end)

		it("passes on only in the fallthrough zones given", function()
			local p = t.policy(FILE, { zones = "example.com", match = IP_RE,
				answer = "@ A 1.2.3.4", fallthrough = { "sub.example.com." } })
			assert.equal("NXDOMAIN", p:query{ name = "a.sub.example.com.", zone = zone }.rcode_name)
			assert.equal("SERVFAIL", p:query{ name = "a.example.com.", zone = zone }.rcode_name)
		end)
	end)

	it("matches class and type before anything else", function()
		local p = t.policy(FILE, { type = { "A", "AAAA" }, answer = "@ 60 TXT hit",
			fallthrough = false })
		assert.equal("NOERROR", p:query{ name = "x.test.", type = "MX",
			answer = { "@ 60 MX 10 mx.test." } }.rcode_name)
		assert.same({ "\"hit\"" }, p:query{ name = "x.test.", type = "AAAA" }:rdata("answer", "TXT"))
		assert.equal("REFUSED", p:query{ name = "x.test.", type = "A", class = 3 }.rcode_name)
		local ch = t.policy(FILE, { class = "CH", type = "TXT", answer = "@ 60 TXT chaos" })
		assert.equal("REFUSED", ch:query{ name = "x.test.", type = "TXT" }.rcode_name)
	end)

	it("without match, answers every name of its zones", function()
		local p = t.policy(FILE, { zones = { "lab.test." }, type = "A",
			answer = "{{ .Name }} 30 IN A 192.0.2.77" })
		assert.same({ "192.0.2.77" }, p:query{ name = "any.thing.lab.test." }:rdata())
		assert.same({ "192.0.2.77" }, p:query{ name = "lab.test." }:rdata())
		assert.equal("REFUSED", p:query{ name = "notlab.test." }.rcode_name)
	end)

	it("renders every field", function()
		local p = t.chain({
			{ here .. "../fixtures/inline.lua", { query = 'q.meta["k/v"] = "metaval"' } },
			{ FILE, { zones = "example.org", match = [=[^(?P<host>[a-z]+)-(\d+)[.]]=],
				answer = {
					'{{ .Name }} 60 IN TXT "{{ .Zone }}" "{{ .Class }}" "{{ .Type }}" '
						.. '"{{ .Remote }}" "{{ .Proto }}" "{{ .Port }}"',
					'{{ .Name }} 60 IN TXT "{{ .Group.host }}" "{{ .Group.2 }}" '
						.. '"{{ index .Match 1 }}" "{{ .Match.2 }}" "{{ index .Group "host" }}"',
					'{{ .Name }} 60 IN TXT "{{ .Meta "k/v" }}" "{{ .Meta "none" }}"',
				},
				additional = "extra.example.org. 60 IN A 192.0.2.{{ .Group.2 }}" } },
		})
		local res = p:query{ name = "web-42.example.org.", type = "TXT", client = "10.9.8.7",
			client_port = 4444, proto = "tcp" }
		assert.same({}, res.errors)
		assert.same({
			'"example.org." "IN" "TXT" "10.9.8.7" "tcp" "4444"',
			'"web" "42" "web" "42" "web"',
			'"metaval" ""',
		}, res:rdata())
		assert.same({ name = "extra.example.org.", type = "A", ttl = 60, class = 1,
			rdata = "192.0.2.42" }, res.additional[1])
	end)

	it("tries its regexes in order; a named group may move", function()
		local p = t.policy(FILE, {
			match = { [=[^(?P<ip>\d+)[.]v4[.]]=], [=[^host[.](x)[.](?P<ip>\d+)[.]]=] },
			answer = "@ 60 A 192.0.2.{{ .Group.ip }}",
		})
		assert.same({ "192.0.2.5" }, p:query{ name = "5.v4.test." }:rdata())
		assert.same({ "192.0.2.7" }, p:query{ name = "host.x.7.test." }:rdata())
	end)

	it("answers with the rcode, authority and EDE it is given", function()
		local p = t.policy(FILE, { zones = "blocked.test", rcode = "NXDOMAIN",
			authority = "blocked.test. 30 IN SOA ns.blocked.test. h.blocked.test. 1 2 3 4 30",
			ede = { code = "BLOCKED", text = "by template" } })
		local res = p:query{ name = "www.blocked.test.", type = "A" }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.is_true(res.aa)
		assert.equal("SOA", res.authority[1].type)
		assert.same({ code = 15, name = "BLOCKED", text = "by template" }, res.ede)
		local p2 = t.policy(FILE, { zones = "x.test", rcode = 5, ede = 18 })
		res = p2:query{ name = "x.test.", type = "A" }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(18, res.ede.code)
	end)

	it("makes a record that does not parse a SERVFAIL and counts it", function()
		local p = t.policy(FILE, { match = [=[^(\d+)[.]]=], answer = "@ 60 IN A 192.0.2.{{ .Group.1 }}" })
		local res = p:query{ name = "300.test." }
		assert.equal("SERVFAIL", res.rcode_name)
		assert.same({}, res.errors)
		assert.equal(1, p:counter("failures"))
		assert.same({ "192.0.2.7" }, p:query{ name = "7.test." }:rdata())
		assert.equal(1, p:counter("failures"))
	end)

	describe("rejects bad options", function()
		local cases = {
			{ { match = "(a|b" }, "option match[1]: regex '(a|b': missing closing parenthesis" },
			{ { match = IP_RE, answer = "@ A {{ .Group.e }}" }, "no group named 'e' in every match regex" },
			{ { match = IP_RE, answer = "@ A {{ .Group.5 }}" }, "group 5 does not exist" },
			{ { answer = "@ A {{ .Nme }}" }, "unknown template action '{{ .Nme }}'" },
			{ { answer = "@ A {{ .Name" }, "unbalanced" },
			{ { answer = "just text" }, "is not a record" },
			{ { answer = 5 }, "a record template is a string" },
			{ { rcode = "NOPE" }, "option rcode" },
			{ { class = "XX" }, "option class" },
			{ { type = "BOGUS" }, "option type[1]" },
			{ { zones = { "a..b" } }, "empty label" },
			{ { ede = "NOT_A_CODE" }, "option ede" },
			{ { fallthrough = "yes" }, "option fallthrough" },
			{ { soa = "yes" }, "option soa must be a boolean" },
			{ { typo = 1 }, "unknown option 'typo'" },
			{ { match = { "^(?P<x>a)$", "^b$" }, answer = "@ A 1.2.3.{{ .Group.x }}" },
				"no group named 'x'" },
		}
		for _, c in ipairs(cases) do
			it(c[2], function()
				local err = load_error(c[1])
				assert.truthy(err:find(c[2], 1, true), err)
			end)
		end
	end)
end)
