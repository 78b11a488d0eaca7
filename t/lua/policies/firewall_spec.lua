-- Specs for policies/firewall.lua, through moon.test.
local t = require("moon.test")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local FIREWALL = here .. "../../../policies/firewall.lua"
local METADATA = here .. "../../../policies/metadata_edns0.lua"
local INLINE = here .. "../fixtures/inline.lua"

local A = { "@ 300 A 192.0.2.1" }

local function fw(opts, conf)
	return t.policy(FIREWALL, opts, conf)
end

-- Does the query rule `expr` match the query d?
local function matches(expr, d)
	local p = fw({ query = { { refuse = expr } }, default = "allow" })
	d.answer = d.answer or A
	local res = p:query(d)
	assert.same({}, res.errors)
	return res.rcode_name == "REFUSED"
end

describe("firewall", function()
	it("runs the design's EDNS0-secret example", function()
		local p = t.chain({
			{ METADATA, { secret = { code = 65200, format = "bytes" } } },
			{ FIREWALL, { query = { { allow = 'meta["metadata_edns0/secret"] == "s3cret"' },
				{ refuse = true } } } },
		})
		local res = p:query{ edns = { [65200] = "s3cret" }, answer = A }
		assert.equal("NOERROR", res.rcode_name)
		assert.same({ "192.0.2.1" }, res:rdata())
		res = p:query{ edns = { [65200] = "guess" }, answer = A }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(0, #res.answer)
		assert.equal(18, res.ede.code)          -- Prohibited
		res = p:query{ answer = A, edns = false }
		assert.equal("REFUSED", res.rcode_name)
		assert.is_nil(res.ede)                  -- no EDNS, no EDE
	end)

	it("has the actions allow, refuse, block and drop", function()
		local p = fw({ query = {
			{ allow = 'name == "ok.example."' },
			{ refuse = 'name == "no.example."' },
			{ block = 'name == "gone.example."' },
			{ drop = 'name == "quiet.example."' },
		}, default = "refuse" })
		local res = p:query{ name = "ok.example", answer = A }
		assert.equal("NOERROR", res.rcode_name)
		assert.same({ "192.0.2.1" }, res:rdata())
		res = p:query{ name = "no.example", answer = A }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(18, res.ede.code)
		res = p:query{ name = "gone.example", answer = A }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal(0, #res.answer)
		assert.equal(15, res.ede.code)          -- Blocked
		assert.is_true(p:query{ name = "quiet.example", answer = A }.dropped)
		res = p:query{ name = "other.example", answer = A }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(1, p:counter("query_allow"))
		assert.equal(2, p:counter("query_refuse"))
		assert.equal(1, p:counter("query_block"))
		assert.equal(1, p:counter("query_drop"))
	end)

	it("blocks with the SOA of the block's zone holding the name", function()
		local zone = t.zone("$ORIGIN corp.test.\n@ 3600 SOA ns h 1 3600 600 86400 300\n"
			.. "@ 3600 NS ns\nns 3600 A 192.0.2.53\nbad 3600 A 192.0.2.66\n")
		local p = fw({ query = { { block = 'name == "bad.corp.test." or name == "bad.x.test."' },
			{ refuse = 'name == "no.corp.test."' } }, default = "allow" })
		local res = p:query{ name = "bad.corp.test", zone = zone }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.is_true(res.aa)
		assert.equal(0, #res.answer)
		assert.same({ name = "corp.test.", type = "SOA", ttl = 300, class = 1,
			rdata = "ns.corp.test. h.corp.test. 1 3600 600 86400 300" }, res.authority[1])
		assert.equal(15, res.ede.code)
		-- Outside the zones: no SOA; refuse never carries one.
		res = p:query{ name = "bad.x.test", zone = zone }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal(0, #res.authority)
		res = p:query{ name = "no.corp.test", zone = zone }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(0, #res.authority)
	end)

	it("stops at the first matching rule", function()
		local p = fw({ query = {
			{ allow = 'incidr(client, "10.0.0.5")' },
			{ refuse = 'incidr(client, "10.0.0.0/8")' },
			{ block = "true" },
		} })
		assert.equal("NOERROR", p:query{ client = "10.0.0.5", answer = A }.rcode_name)
		assert.equal("REFUSED", p:query{ client = "10.0.0.6", answer = A }.rcode_name)
		assert.equal("NXDOMAIN", p:query{ client = "192.0.2.1", answer = A }.rcode_name)
	end)

	it("sees the query's fields", function()
		local cases = {
			{ 'name == "www.example.com."', { name = "WWW.Example.com" }, true },
			{ 'name == "www.example.com."', { name = "example.com" }, false },
			{ 'type == "AAAA"', { type = "AAAA" }, true },
			{ 'type == "AAAA"', { type = "A" }, false },
			{ "qtype == 16", { type = "TXT" }, true },
			{ 'type == "TYPE65280"', { type = 65280 }, true },
			{ 'class == "IN"', {}, true },
			{ 'proto == "tcp"', { proto = "tcp" }, true },
			{ 'proto == "tcp"', {}, false },
			{ 'client == "2001:db8::1"', { client = "2001:db8::1" }, true },
			{ "client_port == 4242", { client_port = 4242 }, true },
			{ 'server == "127.0.0.2"', { server = "127.0.0.2" }, true },
			{ "server_port == 5353", { server_port = 5353 }, true },
			{ "id == 77", { id = 77 }, true },
			{ "opcode == 0", {}, true },
			{ "rd", {}, true },
			{ "not rd", { rd = false }, true },
			{ "cd", { cd = true }, true },
			{ "dnssec_ok", { ["do"] = true }, true },
			{ "dnssec_ok", {}, false },
			{ "edns", {}, true },
			{ "not edns", { edns = false }, true },
			{ "bufsize >= 4096", { bufsize = 4096 }, true },
			{ "bufsize >= 4096", { bufsize = 1232 }, false },
			{ 'meta["x"] == nil', {}, true },
		}
		for _, c in ipairs(cases) do
			assert.equal(c[3], matches(c[1], c[2]), c[1])
		end
	end)

	it("has incidr, match, regex, inzone, edns_option and string methods", function()
		local cases = {
			{ 'incidr(client, "10.0.0.0/8", "192.168.0.0/16")', { client = "192.168.1.1" }, true },
			{ 'incidr(client, "10.0.0.0/8")', { client = "11.0.0.1" }, false },
			{ 'incidr(client, "2001:db8::/32")', { client = "2001:db8:1::9" }, true },
			{ 'incidr(client, "2001:db8::/32")', { client = "10.0.0.1" }, false },
			{ 'match(name, "^ads?%.")', { name = "ads.example.com" }, true },
			{ 'match(name, "^ads?%.")', { name = "bads.example.com" }, false },
			{ 'match(meta["nothing"], "x")', {}, false },
			{ [[regex(name, "^(ads?|track)[.]")]], { name = "track.example.com" }, true },
			{ [[regex(name, "^(ads?|track)[.]")]], { name = "bads.example.com" }, false },
			{ [[regex(name, "[a-f0-9]{20,}")]], { name = "0123456789abcdef0123.x.com" }, true },
			{ [[regex(name, "[a-f0-9]{20,}")]], { name = "0123456789abcdef012.x.com" }, false },
			{ [[regex(name, "^" .. "www")]], { name = "www.example.com" }, true },
			{ 'regex(meta["nothing"], "x")', {}, false },
			{ 'inzone(name, "Example.COM")', { name = "a.b.example.com" }, true },
			{ 'inzone(name, "example.com.")', { name = "example.com" }, true },
			{ 'inzone(name, "example.com")', { name = "badexample.com" }, false },
			{ 'inzone(name, "org", ".")', { name = "x.example.com" }, true },
			{ 'edns_option(65001) == "ab"', { edns = { [65001] = "ab" } }, true },
			{ "edns_option(65001) == nil", {}, true },
			{ 'name:sub(1, 4) == "www."', { name = "www.example.com" }, true },
			{ "#name > 20", { name = "a-long-label-here.example.com" }, true },
			{ 'tostring(qtype) .. "" == "1"', {}, true },
		}
		for _, c in ipairs(cases) do
			assert.equal(c[3], matches(c[1], c[2]), c[1])
		end
	end)

	it("reads metadata set by earlier policies", function()
		local p = t.chain({
			{ INLINE, { query = 'q.meta.group = "admins"' } },
			{ FIREWALL, { query = { { allow = 'meta.group == "admins"' } }, default = "refuse" } },
		})
		assert.equal("NOERROR", p:query{ answer = A }.rcode_name)
	end)

	it("filters responses on every answer address, not only the first", function()
		local p = fw({ response = { { block = 'any_ip_in("10.0.0.0/8", "fc00::/7")' } },
			default = "allow" })
		local res = p:query{ answer = { "@ 60 A 192.0.2.1", "@ 60 A 10.1.1.1" } }
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal(0, #res.answer)
		assert.equal(15, res.ede.code)
		res = p:query{ type = "AAAA", answer = { "@ 60 AAAA 2001:db8::1", "@ 60 AAAA fd00::1" } }
		assert.equal("NXDOMAIN", res.rcode_name)
		res = p:query{ answer = { "@ 60 A 192.0.2.1", "@ 60 A 192.0.2.2" } }
		assert.equal("NOERROR", res.rcode_name)
		assert.equal(2, #res.answer)
		assert.equal(2, p:counter("response_block"))
	end)

	it("sees the response's fields", function()
		local function hit(expr, d)
			local p = fw({ response = { { refuse = expr } }, default = "allow" })
			local res = p:query(d)
			assert.same({}, res.errors)
			return res.rcode_name == "REFUSED"
		end
		local two = { "@ 60 CNAME web.example.com.", "web.example.com. 60 A 192.0.2.7",
			"web.example.com. 60 A 192.0.2.8" }
		assert.is_true(hit('rcode == "NXDOMAIN"', { rcode = "NXDOMAIN" }))
		assert.is_false(hit('rcode == "NXDOMAIN"', { answer = A }))
		assert.is_true(hit('source == "cache"', { answer = A, source = "cache" }))
		assert.is_true(hit('source == "forward"', { answer = A }))
		assert.is_true(hit("aa", { answer = A, aa = true }))
		assert.is_false(hit("aa", { answer = A }))
		assert.is_true(hit("answers == 3", { name = "www.example.com", answer = two }))
		assert.is_true(hit('response_ip == "192.0.2.7"', { name = "www.example.com",
			answer = two }))
		assert.is_true(hit('response_ips[2] == "192.0.2.8"', { name = "www.example.com",
			answer = two }))
		assert.is_true(hit("response_ip == nil", { type = "TXT", answer = { '@ 60 TXT "x"' } }))
		assert.is_true(hit('type == "A" and incidr(response_ip, "192.0.2.0/24")',
			{ answer = A }))
	end)

	it("refuses and drops at the response stage", function()
		local p = fw({ response = { { refuse = 'rcode == "SERVFAIL"' },
			{ drop = 'rcode == "NOTIMP"' } }, default = "allow" })
		local res = p:query{ rcode = "SERVFAIL" }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(15, res.ede.code)
		assert.is_true(p:query{ rcode = "NOTIMP" }.dropped)
		assert.equal("NOERROR", p:query{ answer = A }.rcode_name)
	end)

	it("requires an explicit default", function()
		local ok, err = pcall(fw, { query = { { refuse = 'type == "ANY"' } } })
		assert.is_false(ok)
		assert.matches("option 'default' is required", err)
		ok, err = pcall(fw, { query = { { refuse = "true" } },
			response = { { block = "false" } } })
		assert.is_false(ok)
		assert.matches("to a response no rule matches", err)
		-- An unconditional last rule is a default too.
		assert.is_truthy(fw({ query = { { allow = "rd" }, { drop = true } } }))
	end)

	it("applies the default of each stage", function()
		local p = fw({ query = { { allow = 'type == "A"' } },
			response = { { allow = 'rcode == "NOERROR"' } },
			default = { query = "block", response = "refuse" } })
		assert.equal("NOERROR", p:query{ answer = A }.rcode_name)
		assert.equal("NXDOMAIN", p:query{ type = "MX", answer = A }.rcode_name)
		assert.equal("REFUSED", p:query{ rcode = "SERVFAIL" }.rcode_name)
		assert.equal(1, p:counter("query_block"))
		assert.equal(1, p:counter("response_refuse"))
	end)

	it("leaves its own query-stage replies alone, not other policies' replies", function()
		local p = t.chain({
			{ FIREWALL, { query = { { refuse = 'type == "MX"' }, { allow = true } },
				response = { { block = 'any_ip_in("10.0.0.0/8")' } }, default = "allow",
				tag = true } },
			{ INLINE, { query = 'return q:reply{ answer = { "@ 60 A 10.0.0.1" } }' } },
		})
		local res = p:query{ type = "MX" }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(18, res.ede.code)
		res = p:query{}
		assert.equal("NXDOMAIN", res.rcode_name)
		assert.equal("policy", res.source)
	end)

	it("lets rules choose or drop the EDE", function()
		local p = fw({ query = {
			{ refuse = 'type == "ANY"', ede = "NOT_SUPPORTED", ede_text = "no ANY here" },
			{ block = 'type == "TXT"', ede = 16 },
			{ refuse = 'type == "MX"', ede = false },
		}, default = "allow" })
		local res = p:query{ type = "ANY" }
		assert.equal(21, res.ede.code)
		assert.equal("no ANY here", res.ede.text)
		assert.equal(16, p:query{ type = "TXT" }.ede.code)
		assert.is_nil(p:query{ type = "MX" }.ede)
		p = fw({ query = { { refuse = true } }, ede = false })
		assert.is_nil(p:query{}.ede)
	end)

	it("tags the query with the rule that decided when asked", function()
		local p = fw({ query = { { allow = 'type == "A"' }, { refuse = 'type == "MX"' } },
			default = "block", tag = true })
		assert.equal("allow query[1]", p:query{ answer = A }.meta["firewall/query"])
		assert.equal("refuse query[2]", p:query{ type = "MX" }.meta["firewall/query"])
		assert.equal("block query default", p:query{ type = "TXT" }.meta["firewall/query"])
	end)

	it("turns a failing expression into the policy's on_error", function()
		local p = fw({ query = { { refuse = 'qtype > "1"' } }, default = "allow" })
		local res = p:query{ answer = A }
		assert.equal("SERVFAIL", res.rcode_name)
		assert.equal(1, #res.errors)
		assert.matches("firewall query%[1%]", res.errors[1])
		p = fw({ query = { { refuse = 'qtype > "1"' } }, default = "allow" },
			{ on_error = "continue" })
		assert.equal("NOERROR", p:query{ answer = A }.rcode_name)
	end)

	it("rejects bad rules when it loads", function()
		local cases = {
			{ { query = { { refuse = "nmae == 'x'" } }, default = "allow" },
				"query%[1%]'?: unknown name 'nmae'" },
			{ { query = { { refuse = "response_ip == 'x'" } }, default = "allow" },
				"in response rules only" },
			{ { query = { { refuse = "os.exit()" } }, default = "allow" }, "unknown name 'os'" },
			{ { query = { { refuse = "name ==" } }, default = "allow" }, "query%[1%]'?: " },
			{ { query = { { refuse = "function() end" } }, default = "allow" },
				"'function' is not allowed" },
			{ { query = { { refuse = "name == 'a' -- c" } }, default = "allow" }, "comments" },
			{ { query = { { refuse = "x = 1" } }, default = "allow" }, "unknown name 'x'" },
			{ { query = { { refuse = 'incidr(client, "10.0.0.0/99")' } }, default = "allow" },
				"bad network \"10.0.0.0/99\"" },
			{ { response = { { block = 'any_ip_in("nonsense")' } }, default = "allow" },
				"bad network" },
			{ { query = { { refuse = 'match(name, "[a-")' } }, default = "allow" },
				"bad pattern" },
			{ { query = { { refuse = 'regex(name, "(a|b")' } }, default = "allow" },
				"bad regex \"%(a|b\": missing closing parenthesis" },
			{ { query = { { refuse = 'name == "a', } }, default = "allow" }, "unfinished string" },
			{ { query = { { deny = "true" } }, default = "allow" }, "unknown key 'deny'" },
			{ { query = { { allow = "rd", refuse = "cd" } }, default = "allow" },
				"one action per rule" },
			{ { query = { { ede = 15 } }, default = "allow" }, "no action" },
			{ { query = { { refuse = 5 } }, default = "allow" }, "is a Lua expression" },
			{ { query = { { refuse = "rd", ede = "NOPE" } }, default = "allow" },
				"ede must be an EDE code" },
			{ { query = { { refuse = "rd" } }, default = "maybe" }, "option 'default" },
			{ { query = "rd", default = "allow" }, "must be a list of rules" },
			{ { default = "allow" }, "no rules" },
			{ { query = {}, default = "allow", other = 1 }, "unknown option 'other'" },
		}
		for _, c in ipairs(cases) do
			local ok, err = pcall(fw, c[1])
			assert.is_false(ok, c[2])
			assert.matches(c[2], err)
		end
	end)

	it("accepts literals the checker must not mistake for names", function()
		local p = fw({ query = {
			{ refuse = [[name == "and or not x.y" and meta['a b'] == nil or name == [==[z]==] ]] },
			{ block = "qtype == 0x10 or qtype == 1e3 or bufsize == 1.5e-3" },
		}, default = "allow" })
		assert.equal("NOERROR", p:query{ answer = A }.rcode_name)
		assert.equal("NXDOMAIN", p:query{ type = "TXT" }.rcode_name)
		assert.equal("REFUSED", p:query{ name = "and or not x.y" }.rcode_name)
	end)
end)
