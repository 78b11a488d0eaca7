-- Specs for policies/tunnel.lua: its helpers, each sign, the actions, the
-- shared sliding window, and the measured detection rate on generated
-- tunnel traffic and false-positive rate on ordinary names
-- (data/ordinary-names.txt); doc/policies/tunnel.md quotes both figures.
local t = require("moon.test")

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local FILE = here .. "../../../policies/tunnel.lua"
local X = assert(loadfile(FILE))("internals")

-- A fixed seed, so a failure replays.
math.randomseed(4242)

local B32 = "abcdefghijklmnopqrstuvwxyz234567"
local IODINE32 = "abcdefghijklmnopqrstuvwxyz012345"
local HEX = "0123456789abcdef"
local B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

local function rand_str(alphabet, n)
	local out = {}
	for i = 1, n do
		local k = math.random(1, #alphabet)
		out[i] = alphabet:sub(k, k)
	end
	return table.concat(out)
end

-- A fresh dictionary name per policy, so the specs do not share windows.
local dict_seq = 0
local function policy(opts)
	dict_seq = dict_seq + 1
	opts.dict = opts.dict or ("tunnel-spec-" .. dict_seq)
	return t.policy(FILE, opts)
end

local A = { "@ 60 A 192.0.2.1" }

local function detected(res)
	return res.meta["tunnel/score"] ~= nil
end

describe("tunnel helpers", function()
	local function dom(name)
		return name:sub(X.domain_start(name))
	end

	it("finds the registered domain", function()
		assert.equal("example.com.", dom("a.b.example.com."))
		assert.equal("example.com.", dom("example.com."))
		assert.equal("bbc.co.uk.", dom("www.news.bbc.co.uk."))
		assert.equal("abc.net.au.", dom("x.abc.net.au."))
		assert.equal("co.uk.", dom("co.uk."))
		assert.equal("uk.", dom("uk."))
		assert.equal("foo.de.", dom("a.b.foo.de."))
		assert.equal("zoom.us.", dom("x.zoom.us."))
		assert.equal(1, X.domain_start("."))
	end)

	it("takes extra public suffixes", function()
		local s = { "herokuapp.com.", "s3.amazonaws.com." }
		assert.equal("app-1.herokuapp.com.", ("x.app-1.herokuapp.com."):sub(
			X.domain_start("x.app-1.herokuapp.com.", s)))
		assert.equal("bucket.s3.amazonaws.com.", ("a.bucket.s3.amazonaws.com."):sub(
			X.domain_start("a.bucket.s3.amazonaws.com.", s)))
		assert.equal("amazonaws.com.", ("ec2.amazonaws.com."):sub(
			X.domain_start("ec2.amazonaws.com.", s)))
	end)

	it("measures entropy in bits per character", function()
		assert.near(0, X.entropy("aaaa.aaaa.", 1, 4), 1e-9)
		assert.near(1, X.entropy("abab.", 1, 4), 1e-9)
		assert.near(4, X.entropy(HEX .. ".", 1, 16), 1e-9)
		assert.near(2, X.entropy("xx.abcd.x", 4, 7), 1e-9)
		assert.equal(0, X.entropy("x", 2, 1))
		-- The scratch counts are reset: the same answer twice.
		assert.near(X.entropy("hello.world.", 1, 11), X.entropy("hello.world.", 1, 11), 1e-12)
	end)

	it("knows what is under a zone", function()
		assert.is_true(X.under("1.0.ip6.arpa.", { "ip6.arpa." }))
		assert.is_true(X.under("ip6.arpa.", { "ip6.arpa." }))
		assert.is_false(X.under("xip6.arpa.", { "ip6.arpa." }))
	end)
end)

describe("tunnel signs", function()
	local function score_of(p, name, qtype)
		local res = p:query{ name = name, type = qtype or "A", answer = A }
		return tonumber(res.meta["tunnel/score"]), res.meta["tunnel/reasons"], res
	end

	it("flags a long base32 label with its reasons", function()
		local p = policy{ action = "tag" }
		local label = rand_str(B32, 52)
		local score, reasons, res = score_of(p, label .. ".t.tunnel.example.")
		assert.truthy(score and score >= 1.4, tostring(score))
		assert.truthy(reasons:find("long_label=52", 1, true), reasons)
		assert.truthy(reasons:find("base32", 1, true), reasons)
		assert.truthy(reasons:find("entropy=", 1, true), reasons)
		assert.equal("NOERROR", res.rcode_name)
		assert.same({ "192.0.2.1" }, res:rdata())
		assert.equal(1, p:counter("detections"))
	end)

	it("flags a long hex label", function()
		local p = policy{ action = "tag" }
		local score, reasons = score_of(p, rand_str(HEX, 44) .. ".dnscat.example.")
		assert.truthy(score and score >= 1, tostring(score))
		assert.truthy(reasons:find("hex", 1, true), reasons)
	end)

	it("flags mixed-case base64 by the client's spelling", function()
		local p = policy{ action = "tag" }
		local label = rand_str(B64URL, 48)
		local _, reasons = score_of(p, label .. ".b64.example.")
		assert.truthy(reasons and reasons:find("base64", 1, true), tostring(reasons))
	end)

	it("flags bytes no host name has", function()
		local p = policy{ action = "tag" }
		local res = p:query{ name = rand_str(B32, 30) .. "\\200\\201+/=" .. rand_str(B32, 14)
			.. ".raw.example." }
		local reasons = res.meta["tunnel/reasons"]
		assert.truthy(reasons and reasons:find("binary", 1, true), tostring(reasons))
	end)

	it("does not flag one sign alone", function()
		local p = policy{ action = "tag" }
		-- 32 hex digits (a hash in a name): hex, nothing else.
		assert.is_nil(score_of(p, rand_str(HEX, 32) .. ".example.com."))
		-- A long descriptive label: long, nothing else.
		assert.is_nil(score_of(p, "this-is-a-rather-long-but-ordinary-hostname-label.example.com."))
		-- Long reverse names are allowed by default.
		local v6 = {}
		for i = 1, 32 do
			v6[i] = rand_str(HEX, 1)
		end
		assert.is_nil(score_of(p, table.concat(v6, ".") .. ".ip6.arpa.", "PTR"))
		assert.equal(0, p:counter("detections"))
	end)

	it("counts distinct names per domain over a window shared by all workers", function()
		local opts = { action = "tag", dict = "tunnel-spec-shared", max_unique = 50 }
		-- Two harnesses are two Lua states, as two workers are.
		local w1, w2 = t.policy(FILE, opts), t.policy(FILE, opts)
		local first, last
		for i = 1, 60 do
			-- 24 characters: base32 and entropy (0.9) but not long enough alone.
			local name = rand_str(B32, 24) .. ".c2.rate.example."
			local res = (i % 2 == 0 and w1 or w2):query{ name = name, answer = A }
			if i <= 20 then
				assert.is_false(detected(res), "query " .. i .. " flagged too early")
			end
			if i == 60 then
				first, last = res.meta["tunnel/score"], res.meta["tunnel/reasons"]
			end
		end
		assert.truthy(first, "the 60th distinct name was not flagged")
		assert.truthy(last:find("unique=", 1, true), last)
		-- Repeating a name does not count it again.
		local p3 = t.policy(FILE, { action = "tag", dict = "tunnel-spec-repeat", max_unique = 5 })
		for _ = 1, 20 do
			assert.is_false(detected(p3:query{ name = "aaaabbbbccccddddeeeefff2.rep.example.",
				answer = A }))
		end
	end)

	it("adds the TXT/NULL share of a domain", function()
		local p = policy{ action = "tag", min_names = 10, max_unique = 1000,
			weights = { txt_share = 0.6 } }
		local flagged = 0
		for i = 1, 30 do
			-- Short hex labels: hex (0.5) alone is no detection.
			local res = p:query{ name = rand_str(HEX, 18) .. ".txt.example.", type = "TXT",
				answer = { '@ 60 TXT "x"' } }
			if detected(res) then
				flagged = flagged + 1
				assert.truthy(res.meta["tunnel/reasons"]:find("txt_share=1.00", 1, true))
			end
			if i < 10 then
				assert.is_false(detected(res))
			end
		end
		assert.equal(21, flagged)
	end)

	it("forgets names after the window", function()
		local p = policy{ action = "tag", window = 1, max_unique = 3 }
		local names = {}
		for i = 1, 3 do
			names[i] = rand_str(B32, 24) .. ".win.example."
			p:query{ name = names[i], answer = A }
		end
		assert.truthy(detected(p:query{ name = rand_str(B32, 24) .. ".win.example.", answer = A }))
		os.execute("sleep 2.1")
		assert.is_false(detected(p:query{ name = rand_str(B32, 24) .. ".win.example.",
			answer = A }))
		-- And a name is new again.
		assert.is_false(detected(p:query{ name = names[1], answer = A }))
	end)
end)

describe("tunnel actions", function()
	local bad = rand_str(B32, 50) .. ".exfil.example."

	it("log: logs and counts, the query goes on untagged", function()
		local p = policy{}
		local res = p:query{ name = bad, answer = A }
		assert.equal("NOERROR", res.rcode_name)
		assert.is_nil(res.meta["tunnel/score"])
		assert.equal(1, p:counter("detections"))
	end)

	it("tag: sets q.meta under its own key", function()
		local p = policy{ action = "tag", meta = "exfil" }
		local res = p:query{ name = bad, answer = A }
		assert.truthy(res.meta["exfil/score"])
		assert.truthy(res.meta["exfil/reasons"])
	end)

	it("refuse: REFUSED with EDE Blocked", function()
		local p = policy{ action = "refuse" }
		local res = p:query{ name = bad, answer = A }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal(15, res.ede.code)
		assert.equal("suspected DNS tunnelling", res.ede.text)
		assert.truthy(res.meta["tunnel/score"])
		-- Other queries pass.
		assert.equal("NOERROR", p:query{ name = "www.example.com.", answer = A }.rcode_name)
	end)

	it("block: refuses every query of the client for block_for seconds", function()
		local p = policy{ action = "block", block_for = 1 }
		assert.equal("REFUSED", p:query{ name = bad, client = "10.0.0.66", answer = A }.rcode_name)
		local res = p:query{ name = "www.example.com.", client = "10.0.0.66", answer = A }
		assert.equal("REFUSED", res.rcode_name)
		assert.equal("client blocked: DNS tunnelling", res.ede.text)
		assert.equal("NOERROR", p:query{ name = "www.example.com.", client = "10.0.0.67",
			answer = A }.rcode_name)
		assert.equal(1, p:counter("blocks"))
		assert.equal(1, p:counter("blocked_queries"))
		os.execute("sleep 1.2")
		assert.equal("NOERROR", p:query{ name = "www.example.com.", client = "10.0.0.66",
			answer = A }.rcode_name)
	end)

	it("block with block_action drop: no reply", function()
		local p = policy{ action = "block", block_action = "drop" }
		p:query{ name = bad, client = "10.0.0.70", answer = A }
		assert.is_true(p:query{ name = "www.example.com.", client = "10.0.0.70",
			answer = A }.dropped)
	end)

	it("leaves allowed zones alone", function()
		local p = policy{ action = "refuse", allow = { "exfil.example." } }
		assert.equal("NOERROR", p:query{ name = bad, answer = A }.rcode_name)
	end)

	describe("rejects bad options", function()
		local cases = {
			{ { action = "shout" }, "option action must be one of" },
			{ { threshold = 0 }, "option threshold" },
			{ { window = "soon" }, "option window" },
			{ { max_label = 70 }, "option max_label" },
			{ { weights = { entropi = 1 } }, "unknown sign 'entropi'" },
			{ { weights = { entropy = -1 } }, "weights.entropy" },
			{ { types = { "NOPE" } }, "option types[1]" },
			{ { allow = { 5 } }, "option allow[1]" },
			{ { typo = true }, "unknown option 'typo'" },
		}
		for _, c in ipairs(cases) do
			it(c[2], function()
				local ok, err = pcall(t.policy, FILE, c[1])
				assert.is_false(ok)
				assert.truthy(tostring(err):find(c[2], 1, true), err)
			end)
		end
	end)
end)

describe("tunnel rates", function()
	-- Tunnel-like traffic: iodine-like base32 (RFC 4648 and iodine's own
	-- alphabet) and dnscat2-like hex, labels of 40 to 63 characters, one or
	-- more data labels, TXT/NULL/CNAME/MX/A, from several clients to three
	-- tunnel domains, interleaved.
	local function tunnel_name(k)
		local kind = k % 4
		local labels = {}
		if kind == 0 then
			labels[1] = rand_str(B32, math.random(40, 63))
		elseif kind == 1 then
			labels[1] = rand_str(IODINE32, math.random(40, 63))
			if math.random() < 0.5 then
				labels[2] = rand_str(IODINE32, math.random(10, 63))
			end
		elseif kind == 2 then
			labels[1] = rand_str(HEX, math.random(40, 63))
		else
			labels[1] = rand_str(HEX, math.random(40, 63))
			labels[2] = rand_str(HEX, math.random(1, 63))
			labels[3] = "dnscat"
		end
		local domains = { "t.tun-a.example.", "c2.tun-b.example.net.", "x.tun-c.example.co.uk." }
		return table.concat(labels, ".") .. "." .. domains[k % 3 + 1]
	end
	local TYPES = { "TXT", 10, "CNAME", "MX", "A" }    -- 10: NULL

	local function ordinary()
		local list = {}
		for line in io.lines(here .. "data/ordinary-names.txt") do
			if not line:match("^#") and line:match("%S") then
				list[#list + 1] = line
			end
		end
		return list
	end

	it("detects at least 95% of tunnel-like queries", function()
		local p = policy{ action = "tag" }
		local n, hits = 2000, 0
		for k = 1, n do
			local res = p:query{ name = tunnel_name(k), type = TYPES[k % #TYPES + 1],
				client = "10.1.0." .. (k % 7 + 1), answer = A }
			assert.same({}, res.errors)
			if detected(res) then
				hits = hits + 1
			end
		end
		local rate = hits / n
		print(string.format("tunnel detection: %d of %d tunnel-like queries (%.2f%%)", hits, n,
			100 * rate))
		assert.truthy(rate >= 0.95, rate)
		assert.equal(hits, p:counter("detections"))
	end)

	it("flags at most 1% of ordinary names", function()
		local list = ordinary()
		assert.truthy(#list >= 1000, #list)
		local p = policy{ action = "tag" }
		local flagged = {}
		for _, name in ipairs(list) do
			local res = p:query{ name = name, type = "A", answer = A }
			if detected(res) then
				flagged[#flagged + 1] = name .. " (" .. res.meta["tunnel/reasons"] .. ")"
			end
		end
		local rate = #flagged / #list
		print(string.format("tunnel false positives: %d of %d ordinary names (%.2f%%)%s",
			#flagged, #list, 100 * rate, #flagged > 0 and (": " .. table.concat(flagged, " ")) or ""))
		assert.truthy(rate <= 0.01, rate)
	end)
end)
