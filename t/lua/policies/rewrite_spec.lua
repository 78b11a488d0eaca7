-- Specs for policies/rewrite.lua through moon.test with real queries,
-- including scenario (b) of examples/rewrite-suffix.yaml: example.org
-- answered from example.com data, names mapped back.
local t = require("moon.test")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local FILE = here .. "../../../policies/rewrite.lua"
local INLINE = here .. "../fixtures/inline.lua"
local X = assert(loadfile(FILE))("internals")

local ZONE = [[
$TTL 300
example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 604800 60
example.com. IN NS ns1.example.com.
example.com. IN MX 10 mail.example.com.
ns1.example.com. IN A 192.0.2.53
www.example.com. IN A 192.0.2.10
www.example.com. IN AAAA 2001:db8::10
mail.example.com. IN A 192.0.2.25
alias.example.com. IN CNAME www.example.com.
_sip._tcp.example.com. IN SRV 0 5 5060 www.example.com.
txt.example.com. IN TXT "example.com stays as text"
sub.example.com. IN DNAME other.example.com.
]]

local zone = t.zone(ZONE)

-- The records of a section as "owner TYPE rdata" lines (owners lowercase).
local function lines(res, section)
	local out = {}
	for _, rec in ipairs(res[section or "answer"]) do
		out[#out + 1] = rec.name:lower() .. " " .. rec.type .. " " .. rec.rdata:lower()
	end
	return out
end

local function load_error(opts)
	local ok, err = pcall(t.policy, FILE, opts)
	assert.is_false(ok, "the options were accepted")
	return tostring(err)
end

describe("rewrite", function()
	it("checks names the way the core does", function()
		assert.is_true(X.valid_name("a.b."))
		assert.is_true(X.valid_name("."))
		assert.is_true(X.valid_name(("a"):rep(63) .. "."))
		assert.is_false(X.valid_name(("a"):rep(64) .. "."))
		assert.is_false(X.valid_name("a..b."))
		assert.is_false(X.valid_name(".a."))
		assert.is_false(X.valid_name("a.b"))
		assert.is_false(X.valid_name((("a"):rep(63) .. "."):rep(4)))
		assert.is_true(X.valid_name((("a"):rep(62) .. "."):rep(4)))
	end)

	it("matches suffixes on label boundaries", function()
		local m = X.suffix_matcher("example.org.", "example.com.")
		assert.equal("www.example.com.", m("www.example.org."))
		assert.equal("example.com.", m("example.org."))
		assert.is_nil(m("notexample.org."))
		assert.is_nil(m("example.org.uk."))
		local below = X.suffix_matcher(".example.org.", ".example.com.")
		assert.equal("a.b.example.com.", below("a.b.example.org."))
		assert.is_nil(below("example.org."))
	end)

	describe("scenario (b): suffix example.org -> example.com", function()
		local p = t.policy(FILE, { rules = { { suffix = "example.org", to = "example.com" } } })

		it("answers www.example.org from www.example.com, owned by the client's name", function()
			local res = p:query{ name = "www.example.org.", type = "A", zone = zone }
			assert.equal("NOERROR", res.rcode_name)
			assert.is_true(res.aa)
			assert.same({ name = "www.example.org.", type = "A" }, res.question)
			assert.same({ "www.example.org. A 192.0.2.10" }, lines(res))
			assert.is_true(res.rewritten)
			assert.equal("1", res.meta["rewrite/rules"])
			assert.same({}, res.errors)
		end)

		it("keeps the client's spelling", function()
			local res = p:query{ name = "WwW.Example.ORG.", type = "AAAA", zone = zone }
			assert.same({ name = "WwW.Example.ORG.", type = "AAAA" }, res.question)
			assert.equal("WwW.Example.ORG.", res.answer[1].name)
			assert.equal("2001:db8::10", res.answer[1].rdata)
		end)

		it("maps CNAME owners and targets back", function()
			local res = p:query{ name = "alias.example.org.", type = "A", zone = zone }
			assert.same({
				"alias.example.org. CNAME www.example.org.",
				"www.example.org. A 192.0.2.10",
			}, lines(res))
		end)

		it("maps the SOA of an NXDOMAIN back", function()
			local res = p:query{ name = "nothere.example.org.", type = "A", zone = zone }
			assert.equal("NXDOMAIN", res.rcode_name)
			assert.same({ "example.org. SOA ns1.example.org. hostmaster.example.org. 1 3600 600"
				.. " 604800 60" }, lines(res, "authority"))
			assert.equal(60, res.authority[1].ttl)
		end)

		it("maps MX, NS, SRV and DNAME data and the additional section", function()
			assert.same({ "example.org. MX 10 mail.example.org." },
				lines(p:query{ name = "example.org.", type = "MX", zone = zone }))
			local res = p:query{ name = "example.org.", type = "NS", zone = zone }
			assert.same({ "example.org. NS ns1.example.org." }, lines(res))
			for _, l in ipairs(lines(res, "additional")) do
				assert.equal("ns1.example.org.", l:match("^%S+"))
			end
			assert.same({ "_sip._tcp.example.org. SRV 0 5 5060 www.example.org." },
				lines(p:query{ name = "_sip._tcp.example.org.", type = "SRV", zone = zone }))
			assert.same({
				"sub.example.org. DNAME other.example.org.",
				"x.sub.example.org. CNAME x.other.example.org.",
			}, lines(p:query{ name = "x.sub.example.org.", type = "A", zone = zone }))
		end)

		it("leaves text data alone", function()
			local res = p:query{ name = "txt.example.org.", type = "TXT", zone = zone }
			assert.same({ '"example.com stays as text"' }, res:rdata())
			assert.equal("txt.example.org.", res.answer[1].name)
		end)

		it("does not touch other names", function()
			local res = p:query{ name = "www.notexample.org.", type = "A",
				answer = { "@ 300 A 192.0.2.99", "x.example.com. 300 A 192.0.2.98" } }
			assert.is_false(res.rewritten)
			assert.is_nil(res.meta["rewrite/rules"])
			assert.same({ "www.notexample.org. A 192.0.2.99", "x.example.com. A 192.0.2.98" },
				lines(res))
		end)
	end)

	describe("the seed's regex form", function()
		local p = t.policy(FILE, { rules = { {
			regex = "(.*)example.org", to = "{1}example.com",
			answer = {
				{ name = "(.*)example.com", to = "{1}example.org" },
				{ value = "(.*)example.com", to = "{1}example.org" },
			},
		} } })

		it("answers *.example.org from example.com with names mapped back", function()
			local res = p:query{ name = "alias.example.org.", type = "A", zone = zone }
			assert.same({ name = "alias.example.org.", type = "A" }, res.question)
			assert.same({
				"alias.example.org. CNAME www.example.org.",
				"www.example.org. A 192.0.2.10",
			}, lines(res))
			res = p:query{ name = "nothere.example.org.", type = "A", zone = zone }
			assert.same({ "example.org. SOA ns1.example.org. hostmaster.example.org. 1 3600 600"
				.. " 604800 60" }, lines(res, "authority"))
		end)

		it("without answer rules, only the question's owner is mapped back", function()
			local bare = t.policy(FILE, { rules = { { regex = [[^(.*)\.example\.org\.$]],
				to = "{1}.example.com." } } })
			local res = bare:query{ name = "alias.example.org.", type = "A", zone = zone }
			assert.same({
				"alias.example.org. CNAME www.example.com.",
				"www.example.com. A 192.0.2.10",
			}, lines(res))
		end)

		it("takes named groups", function()
			local named = t.policy(FILE, { rules = { {
				regex = [[^(?P<host>[a-z]+)-(?P<env>[a-z]+)[.]apps[.]test[.]$]],
				to = "{host}.{env}.example.com." } } })
			local res = named:query{ name = "www-x.apps.test.", type = "A",
				zone = t.zone("example.com. 60 IN SOA a. b. 1 2 3 4 5\n"
					.. "www.x.example.com. 60 IN A 192.0.2.44") }
			assert.same({ "www-x.apps.test. A 192.0.2.44" }, lines(res))
		end)
	end)

	it("rewrites exact names and maps them back automatically", function()
		local p = t.policy(FILE, { rules = { { exact = "db.example.org", to = "www.example.com" } } })
		assert.same({ "db.example.org. A 192.0.2.10" },
			lines(p:query{ name = "db.example.org.", type = "A", zone = zone }))
		-- A CNAME to the target name reads as the client's name.
		local p2 = t.policy(FILE, { rules = { { exact = "a.example.org", to = "alias.example.com" } } })
		assert.same({ "a.example.org. CNAME www.example.com.", "www.example.com. A 192.0.2.10" },
			lines(p2:query{ name = "a.example.org.", type = "A", zone = zone }))
		assert.is_false(p:query{ name = "x.db.example.org.", zone = zone }.rewritten)
	end)

	it("rewrites prefixes and substrings", function()
		local p = t.policy(FILE, { rules = {
			{ prefix = "web.", to = "www." },
			{ substring = "-int.", to = "." },
		} })
		assert.same({ "web.example.com. A 192.0.2.10" },
			lines(p:query{ name = "web.example.com.", type = "A", zone = zone }))
		assert.same({ "mail-int.example.com. A 192.0.2.25" },
			lines(p:query{ name = "mail-int.example.com.", type = "A", zone = zone }))
		-- substring maps back only the rewritten name, not every "." it made.
		local sub = t.policy(FILE, { rules = { { substring = "-int.", to = "." } } })
		assert.same({ "alias-int.example.com. CNAME www.example.com.",
			"www.example.com. A 192.0.2.10" },
			lines(sub:query{ name = "alias-int.example.com.", type = "A", zone = zone }))
		local self = t.policy(FILE, { rules = { { substring = "-int.", to = "." } } })
		assert.same({ "x-int.test. CNAME x-int.test." },
			lines(self:query{ name = "x-int.test.", type = "A",
				answer = { "x.test. 60 CNAME x.test." } }))
	end)

	it("stops at the first rule that fires unless it says continue", function()
		local stop = t.policy(FILE, { rules = {
			{ suffix = "example.org", to = "example.com" },
			{ prefix = "web.", to = "www." },
		} })
		assert.equal("NXDOMAIN", stop:query{ name = "web.example.org.", zone = zone }.rcode_name)
		local cont = t.policy(FILE, { rules = {
			{ suffix = "example.org", to = "example.com", mode = "continue" },
			{ prefix = "web.", to = "www." },
		} })
		local res = cont:query{ name = "web.example.org.", type = "A", zone = zone }
		assert.equal("1,2", res.meta["rewrite/rules"])
		assert.same({ "web.example.org. A 192.0.2.10" }, lines(res))
		-- Mapped back last rule first: b.example.com -> b.x.example.com -> b.x.example.org.
		local nested = t.policy(FILE, { rules = {
			{ suffix = "example.org", to = "example.com", mode = "continue" },
			{ suffix = "x.example.com", to = "example.com" },
		} })
		res = nested:query{ name = "a.x.example.org.", type = "A", zone = t.zone(
			"example.com. 60 IN SOA a. b. 1 2 3 4 5\n"
			.. "a.example.com. 60 IN CNAME b.example.com.\nb.example.com. 60 IN A 192.0.2.66") }
		assert.equal("1,2", res.meta["rewrite/rules"])
		assert.same({ "a.x.example.org. CNAME b.x.example.org.", "b.x.example.org. A 192.0.2.66" },
			lines(res))
	end)

	it("rewrites the type; the client keeps its question", function()
		local p = t.policy(FILE, { rules = { { suffix = "example.com",
			type = { from = "TXT", to = "A" } } } })
		local res = p:query{ name = "www.example.com.", type = "TXT", zone = zone }
		assert.same({ name = "www.example.com.", type = "TXT" }, res.question)
		assert.same({ "www.example.com. A 192.0.2.10" }, lines(res))
		-- Other types pass untouched.
		res = p:query{ name = "www.example.com.", type = "AAAA", zone = zone }
		assert.is_false(res.rewritten)
		assert.same({ "2001:db8::10" }, res:rdata())
	end)

	it("asks HINFO for ANY without a name match (doc example)", function()
		local p = t.policy(FILE, { rules = { { type = { from = "ANY", to = "HINFO" } } } })
		local res = p:query{ name = "www.example.com.", type = "ANY", zone = zone }
		assert.same({ name = "www.example.com.", type = "ANY" }, res.question)
		assert.is_true(res.rewritten)
		assert.equal(0, #res.answer)
		assert.equal("NOERROR", res.rcode_name)
		assert.is_false(p:query{ name = "www.example.com.", type = "A", zone = zone }.rewritten)
	end)

	it("clamps TTLs and maps rcodes for the names it matches", function()
		local p = t.policy(FILE, { rules = {
			{ suffix = "example.org", to = "example.com", ttl = "30-60", mode = "continue" },
			{ suffix = "example.com", rcode = { NXDOMAIN = "REFUSED" } },
		} })
		local res = p:query{ name = "www.example.org.", type = "A", zone = zone }
		assert.equal(60, res.answer[1].ttl)
		res = p:query{ name = "nx.example.org.", type = "A", zone = zone }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(60, res.authority[1].ttl)
		-- A rule without a name match applies to every query.
		local all = t.policy(FILE, { rules = { { ttl = { min = 100 } } } })
		res = all:query{ name = "x.test.", answer = { "@ 5 A 192.0.2.1" } }
		assert.equal(100, res.answer[1].ttl)
		local set = t.policy(FILE, { rules = { { suffix = "test", ttl = 7 } } })
		assert.equal(7, set:query{ name = "x.test.", answer = { "@ 500 A 192.0.2.1" } }.answer[1].ttl)
		assert.equal(500, set:query{ name = "x.other.", answer = { "@ 500 A 192.0.2.1" } }.answer[1].ttl)
		local low = t.policy(FILE, { rules = { { ttl = "30-" } } })
		assert.equal(30, low:query{ name = "x.test.", answer = { "@ 5 A 192.0.2.1" } }.answer[1].ttl)
		assert.equal(500, low:query{ name = "x.test.", answer = { "@ 500 A 192.0.2.1" } }.answer[1].ttl)
		local high = t.policy(FILE, { rules = { { ttl = "-300" } } })
		assert.equal(300, high:query{ name = "x.test.", answer = { "@ 500 A 192.0.2.1" } }.answer[1].ttl)
		assert.equal(5, high:query{ name = "x.test.", answer = { "@ 5 A 192.0.2.1" } }.answer[1].ttl)
		local rc = t.policy(FILE, { rules = { { rcode = { from = "SERVFAIL", to = "NXDOMAIN" } } } })
		assert.equal("NXDOMAIN", rc:query{ name = "x.test.", rcode = "SERVFAIL" }.rcode_name)
	end)

	it("answers SERVFAIL when the rewrite makes an invalid name", function()
		local p = t.policy(FILE, { rules = { { suffix = "a.test", to = ("x"):rep(64) .. ".test" } } })
		local res = p:query{ name = "www.a.test.", zone = zone }
		assert.equal("SERVFAIL", res.rcode_name)
		assert.equal(1, p:counter("invalid_names"))
		assert.same({}, res.errors)
	end)

	it("rewrites the class (CoreDNS rewrite class)", function()
		local p = t.policy(FILE, { rules = { { class = { from = "CH", to = "IN" } } } })
		local res = p:query{ name = "www.example.com.", type = "A", class = 3, zone = zone }
		assert.is_true(res.rewritten)
		assert.equal("NOERROR", res.rcode_name)
		assert.same({ "www.example.com. A 192.0.2.10" }, lines(res))
		assert.equal(1, p:counter("rewrites"))
		res = p:query{ name = "www.example.com.", type = "A", class = 1, zone = zone }
		assert.is_false(res.rewritten)
	end)

	it("matches class with a name rule", function()
		local p = t.policy(FILE, { rules = {
			{ suffix = "example.org", to = "example.com", class = { from = "HS", to = 1 } } } })
		assert.is_false(p:query{ name = "www.example.org.", class = 3, zone = zone }.rewritten)
		assert.is_true(p:query{ name = "www.example.org.", class = 4, zone = zone }.rewritten)
	end)

	it("sets and removes EDNS0 options (CoreDNS rewrite edns0)", function()
		local p = t.chain({
			{ FILE, { rules = {
				{ suffix = "example.com", edns0 = { set = { code = 65001, data = "0x6869" } },
					mode = "continue" },
				{ suffix = "www.example.com", edns0 = { remove = 10 } } } } },
			{ INLINE, { query = "q.meta.o = q:edns_option(65001); q.meta.c ="
				.. " tostring(q:edns_option(10))" } },
		})
		local res = p:query{ name = "www.example.com.", zone = zone, edns = { [10] = "12345678" } }
		assert.equal("hi", res.meta.o)
		assert.equal("nil", res.meta.c)
		assert.is_true(res.nocache)
		res = p:query{ name = "mail.example.com.", zone = zone, edns = { [10] = "12345678" } }
		assert.equal("12345678", res.meta.c)
		assert.is_false(p:query{ name = "www.example.net.", zone = zone }.nocache)
	end)

	it("counts rewrites", function()
		local p = t.policy(FILE, { rules = { { suffix = "example.org", to = "example.com" } } })
		p:query{ name = "www.example.org.", zone = zone }
		p:query{ name = "www.example.net.", zone = zone }
		assert.equal(1, p:counter("rewrites"))
	end)

	it("takes another meta key", function()
		local p = t.policy(FILE, { meta = "mine/rw",
			rules = { { suffix = "example.org", to = "example.com" } } })
		local res = p:query{ name = "alias.example.org.", zone = zone }
		assert.equal("1", res.meta["mine/rw"])
		assert.equal("www.example.org.", res.answer[1].rdata)
	end)

	describe("rejects bad options", function()
		local cases = {
			{ {}, "option rules is required" },
			{ { rules = {} }, "at least one rule" },
			{ { rules = { { suffix = "a", class = "IN" } } }, "class: { from: CLASS, to: CLASS }" },
			{ { rules = { { suffix = "a", class = { from = "CH", to = "XX" } } } },
				"rules[1].class.to: a class" },
			{ { rules = { { edns0 = { set = { code = 65001 } } } } }, "rules[1].edns0.set" },
			{ { rules = { { edns0 = { remove = 70000 } } } }, "rules[1].edns0.remove" },
			{ { rules = { { edns0 = { set = { code = 1, data = "0xabc" } } } } }, "bad hex" },
			{ { rules = { { sufix = "a", to = "b" } } }, "unknown key 'sufix'" },
			{ { rules = { { suffix = "a", prefix = "b", to = "c" } } }, "one name match per rule" },
			{ { rules = { { to = "c" } } }, "'to' needs a name match" },
			{ { rules = { { regex = "^(a)$", to = "{1}.b", answer = "auto" } } },
				"answer: auto maps names back" },
			{ { rules = { { regex = "^(a)$", to = "{2}.b" } } }, "'{2}' is not a group" },
			{ { rules = { { regex = "(a|b", to = "c" } } },
				"rules[1].regex: regex '(a|b': missing closing parenthesis" },
			{ { rules = { { suffix = "a", ttl = "60-30" } } }, "rules[1].ttl" },
			{ { rules = { { suffix = "a", ttl = { max = 1, mx = 2 } } } }, "unknown key 'mx'" },
			{ { rules = { { rcode = { NXDOMAIN = "NOPE" } } } }, "rules[1].rcode.NXDOMAIN" },
			{ { rules = { { suffix = "a" } } }, "the rule does nothing" },
			{ { rules = { { suffix = ".a", to = "b" } } }, "both start with '.'" },
			{ { rules = { { suffix = "a", to = "b", mode = "go" } } }, "mode: stop or continue" },
			{ { rules = { { suffix = "a", type = "A" } } }, "type: { from: TYPE, to: TYPE }" },
			{ { rules = { { suffix = "a", type = { from = "A", to = "NOPE" } } } }, "type.to" },
			{ { rules = { { regex = "^a$", to = "b",
				answer = { { name = "x", value = "y", to = "z" } } } } }, "exactly one of name or value" },
			{ { rules = { { suffix = "a", to = "b" } }, typo = 1 }, "unknown option 'typo'" },
		}
		for _, c in ipairs(cases) do
			it(c[2], function()
				local err = load_error(c[1])
				assert.truthy(err:find(c[2], 1, true), err)
			end)
		end
	end)
end)
