-- Specs for policies/metadata_edns0.lua, through moon.test.
local t = require("moon.test")
local moon = require("moon")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local POLICY = here .. "../../../policies/metadata_edns0.lua"
local INLINE = here .. "../fixtures/inline.lua"
local X = assert(loadfile(POLICY))("internals")

local A = { "@ 300 A 192.0.2.1" }

local function ecs(family, source, scope, addr)
	return string.char(0, family, source, scope) .. addr
end

describe("metadata_edns0", function()
	it("publishes an option as bytes under metadata_edns0/<name>", function()
		local p = t.policy(POLICY, { secret = { code = 65200, format = "bytes" } })
		local res = p:query{ edns = { [65200] = "s3cret" }, answer = A }
		assert.equal("s3cret", res.meta["metadata_edns0/secret"])
		assert.same({ "192.0.2.1" }, res:rdata())
		-- No option, no EDNS: the key stays absent.
		assert.is_nil(p:query{ edns = { [65201] = "x" } }.meta["metadata_edns0/secret"])
		assert.is_nil(p:query{ edns = false }.meta["metadata_edns0/secret"])
		assert.is_nil(next(p:query{}.meta))
	end)

	it("keeps binary payloads byte for byte", function()
		local p = t.policy(POLICY, { raw = { code = 65001, format = "bytes" } })
		local payload = "\0\1\255\n\0"
		assert.equal(payload, p:query{ edns = { [65001] = payload } }.meta["metadata_edns0/raw"])
		assert.equal("", p:query{ edns = { [65001] = "" } }.meta["metadata_edns0/raw"])
	end)

	it("defaults to hex and accepts a bare code or a 0x string", function()
		local p = t.policy(POLICY, { a = 65001, b = "0xfeb0", c = { code = "65202" } })
		local res = p:query{ edns = { [65001] = "\222\173\190\239", [0xfeb0] = "\1\2",
			[65202] = "" } }
		assert.equal("deadbeef", res.meta["metadata_edns0/a"])
		assert.equal("0102", res.meta["metadata_edns0/b"])
		assert.equal("", res.meta["metadata_edns0/c"])
	end)

	it("selects a byte range of a payload of a given size in hex", function()
		local p = t.policy(POLICY, { id = { code = 65001, format = "hex", size = 6, start = 2,
			["end"] = 5 } })
		local m = p:query{ edns = { [65001] = "\1\2\3\4\5\6" } }.meta
		assert.equal("030405", m["metadata_edns0/id"])
		assert.is_nil(p:query{ edns = { [65001] = "\1\2\3\4\5" } }.meta["metadata_edns0/id"])
	end)

	it("decodes addresses", function()
		local p = t.policy(POLICY, { ip = { code = 65003, format = "address" } })
		local function get(payload)
			return p:query{ edns = { [65003] = payload } }.meta["metadata_edns0/ip"]
		end
		assert.equal("192.0.2.7", get("\192\0\2\7"))
		assert.equal("2001:db8::1", get(moon.ip.parse("2001:db8::1")))
		assert.is_nil(get("\1\2\3"))
	end)

	it("decodes client subnets (ECS, option 8)", function()
		local p = t.policy(POLICY, { subnet = { code = 8, format = "ecs" } })
		local function get(payload)
			return p:query{ edns = { [8] = payload } }.meta["metadata_edns0/subnet"]
		end
		assert.equal("192.0.2.0/24", get(ecs(1, 24, 0, "\192\0\2")))
		assert.equal("198.51.100.128/25", get(ecs(1, 25, 0, "\198\51\100\128")))
		assert.equal("0.0.0.0/0", get(ecs(1, 0, 0, "")))
		assert.equal("10.1.2.3/32", get(ecs(1, 32, 16, "\10\1\2\3")))
		assert.equal("2001:db8:1200::/40", get(ecs(2, 40, 0, "\32\1\13\184\18")))
		-- Bits past the prefix are cleared.
		assert.equal("10.0.0.0/7", get(ecs(1, 7, 0, "\11")))
		-- Malformed: wrong address length, prefix too long, unknown family.
		assert.is_nil(get(ecs(1, 24, 0, "\192\0")))
		assert.is_nil(get(ecs(1, 24, 0, "\192\0\2\0")))
		assert.is_nil(get(ecs(1, 33, 0, "\1\2\3\4\5")))
		assert.is_nil(get(ecs(3, 8, 0, "\1")))
		assert.is_nil(get("\0\1"))
	end)

	it("decodes big-endian numbers", function()
		local p = t.policy(POLICY, { n = { code = 65004, format = "uint" } })
		local function get(payload)
			return p:query{ edns = { [65004] = payload } }.meta["metadata_edns0/n"]
		end
		assert.equal("7", get("\7"))
		assert.equal("65535", get("\255\255"))
		assert.equal("281474976710655", get(("\255"):rep(6)))
		assert.is_nil(get(""))
		assert.is_nil(get(("\1"):rep(7)))
	end)

	it("sets several names, also several for one code", function()
		local p = t.policy(POLICY, { raw = { code = 65001, format = "bytes" },
			hex = 65001, other = { code = 65002, format = "bytes" } })
		local m = p:query{ edns = { [65001] = "ab", [65002] = "cd" } }.meta
		assert.equal("ab", m["metadata_edns0/raw"])
		assert.equal("6162", m["metadata_edns0/hex"])
		assert.equal("cd", m["metadata_edns0/other"])
	end)

	it("leaves out values too long for q.meta instead of failing", function()
		local p = t.policy(POLICY, { big = 65001, ok = { code = 65002, format = "bytes" } })
		local res = p:query{ edns = { [65001] = ("x"):rep(300), [65002] = "fine" }, answer = A }
		assert.same({}, res.errors)
		assert.is_nil(res.meta["metadata_edns0/big"])
		assert.equal("fine", res.meta["metadata_edns0/ok"])
		assert.same({ "192.0.2.1" }, res:rdata())
	end)

	it("is read by later policies of the chain", function()
		local p = t.chain({
			{ POLICY, { secret = { code = 65200, format = "bytes" } } },
			{ INLINE, { query = [[
				if q.meta["metadata_edns0/secret"] ~= "s3cret" then return q:refuse() end
			]] } },
		})
		assert.equal("NOERROR", p:query{ edns = { [65200] = "s3cret" }, answer = A }.rcode_name)
		assert.equal("REFUSED", p:query{ edns = { [65200] = "guess" }, answer = A }.rcode_name)
		assert.equal("REFUSED", p:query{ answer = A }.rcode_name)
	end)

	it("writes addresses as inet_ntop does (as q.client reads)", function()
		local p = t.policy(INLINE, { query = "q.meta.c = q.client" })
		local cases = { "::", "::1", "::ffff:1.2.3.4", "::1.2.3.4", "1::", "1:0:0:2::3",
			"1:0:0:2:0:0:0:3", "fe80::1:0:0:1", "2001:db8:0:1:1:1:1:1", "0:0:1::",
			"::ffff:0:0", "::ffff:0:1.2.3.4", "1:2:3:4:5:6:7:8", "::2:3:4:5:6:7:8" }
		math.randomseed(7)
		for _ = 1, 200 do
			local g = {}
			for i = 1, 8 do
				g[i] = string.format("%x", math.random(0, 2) == 0 and 0 or math.random(0, 65535))
			end
			cases[#cases + 1] = table.concat(g, ":")
		end
		for _, text in ipairs(cases) do
			local want = p:query{ client = text }.meta.c
			assert.equal(want, X.addr_text(moon.ip.parse(text)), text)
		end
	end)

	it("rejects bad options with clear messages", function()
		local cases = {
			{ {}, "no options" },
			{ { x = { code = 70000 } }, "option 'x': code must be" },
			{ { x = { code = 41 } }, "code 41 is the OPT record" },
			{ { x = { format = "bytes" } }, "option 'x': code is required" },
			{ { x = { code = 1, format = "base64" } }, "format must be bytes, hex" },
			{ { x = { code = 1, format = "bytes", size = 4, start = 0, ["end"] = 2 } },
				"apply to the hex format only" },
			{ { x = { code = 1, size = 4 } }, "go together" },
			{ { x = { code = 1, size = 4, start = 3, ["end"] = 2 } }, "end must be" },
			{ { ["bad name"] = 1 }, "metadata names use" },
			{ { [("n"):rep(60)] = 1 }, "name too long" },
			{ { x = { code = 1, fmt = "hex" } }, "unknown key 'fmt'" },
		}
		for _, c in ipairs(cases) do
			local ok, err = pcall(t.policy, POLICY, c[1])
			assert.is_false(ok)
			assert.matches(c[2], err)
		end
	end)
end)
