-- tunnel: detects DNS tunnelling and exfiltration (iodine, dnscat2 and
-- friends encode data in query names) and logs, tags, refuses, or blocks
-- the client for a while. doc/policies/tunnel.md is the operators' page,
-- with the measured detection and false-positive rates.
--
--   - tunnel: { action: refuse }
--
-- Each query gets a score, the sum of the weights of the signs it shows;
-- at `threshold` (1.0) it is a detection. Signs of the name itself, read
-- from the part below the registered domain (the "subdomain"):
--   long_label  a label of max_label (40) bytes or more
--   long_name   a subdomain of max_name (100) bytes or more
--   many_labels max_labels (6) labels or more in the subdomain
--   entropy     Shannon entropy of the characters of the longest label
--               (of 20 or more) of at least min_entropy (4.0) bits each
--   hex, base32, base64, binary   a label that looks encoded
-- and of the registered domain, over a sliding window shared by all
-- workers (moon.shared):
--   unique      max_unique (100) or more distinct names below it per window
--   txt_share   half or more of them of types TXT/NULL (the types option)
--
-- Cost per query for an ordinary name: one pass over the subdomain's
-- bytes and one shared-dictionary lookup (is the name new?); a new name
-- adds two dictionary calls for the domain's counters. Strings are made
-- only for new names and detections.

local moon = require("moon")

local byte, find, sub, format = string.byte, string.find, string.sub, string.format
local floor, log = math.floor, math.log
local LN2 = log(2)

-- Second-level labels under two-letter country TLDs that are public
-- suffixes themselves (co.uk, com.au, ...): the registered domain is then
-- three labels. The `suffixes` option adds others.
local SLD = {}
for _, l in ipairs({ "ac", "co", "com", "edu", "gov", "net", "org", "mil", "or", "ne", "go",
	"gob", "nic", "ltd", "plc", "sch", "nom", "gen", "biz", "info", "res", "web", "int",
	"ad", "lg", "gr", "ed", "kiwi", "govt", "police", "health", "nhs", "mod" }) do
	SLD[l] = true
end

-- Weights of the signs (the weights option overrides them).
local WEIGHTS = {
	long_label = 0.5, long_name = 0.3, many_labels = 0.2, entropy = 0.4,
	hex = 0.5, base32 = 0.5, base64 = 0.5, binary = 0.5,
	unique = 0.6, txt_share = 0.3,
}

-- TXT/NULL share is counted in the same number as the unique names:
-- value = unique + TXT_UNIT * txt (doubles are exact far beyond both).
local TXT_UNIT = 2 ^ 24

local ACTIONS = { log = 1, tag = 2, refuse = 3, block = 4 }

local function fqdn(name, what)
	if type(name) ~= "string" or #name == 0 then
		error(what .. ": a domain name", 0)
	end
	name = name:lower()
	if name:sub(-1) ~= "." then
		name = name .. "."
	end
	return name
end

-- True when name is zone or below it (zones: fqdn strings).
local function under(name, zones)
	local nlen = #name
	for k = 1, #zones do
		local z = zones[k]
		local zlen = #z
		if z == "." then
			return true
		end
		if nlen == zlen then
			if name == z then
				return true
			end
		elseif nlen > zlen and byte(name, nlen - zlen) == 46
			and find(name, z, nlen - zlen + 1, true) then
			return true
		end
	end
	return false
end

-- Where the registered domain starts in name (1 when name is one).
-- suffixes: extra public suffixes (fqdn strings), longest match wins.
local function domain_start(name, suffixes)
	local len = #name
	if suffixes then
		local best
		local blen = 0
		for k = 1, #suffixes do
			local s = suffixes[k]
			local slen = #s
			if len > slen + 1 and slen > blen and byte(name, len - slen) == 46
				and find(name, s, len - slen + 1, true) then
				best, blen = s, slen
			end
		end
		if best then
			-- One label more than the suffix.
			local i = len - blen - 1
			while i > 0 and byte(name, i) ~= 46 do
				i = i - 1
			end
			return i + 1
		end
	end
	-- The dots before the last three labels.
	local d1, d2, d3
	for i = len - 1, 1, -1 do
		if byte(name, i) == 46 then
			if not d1 then
				d1 = i
			elseif not d2 then
				d2 = i
			else
				d3 = i
				break
			end
		end
	end
	if not d1 then
		return 1
	end
	if len - 1 - d1 == 2 and SLD[sub(name, (d2 or 0) + 1, d1 - 1)] then
		return d2 and ((d3 or 0) + 1) or 1
	end
	return (d2 or 0) + 1
end

-- Per-state scratch of the entropy count (bytes 0..255).
local counts = {}
for i = 0, 255 do
	counts[i] = 0
end

-- Shannon entropy, bits per character, of name[s..e].
local function entropy(name, s, e)
	for i = s, e do
		local c = byte(name, i)
		counts[c] = counts[c] + 1
	end
	local sum = 0
	for i = s, e do
		local c = byte(name, i)
		local k = counts[c]
		if k > 0 then
			sum = sum + k * log(k)
			counts[c] = 0
		end
	end
	local n = e - s + 1
	if n <= 0 then
		return 0
	end
	return (log(n) - sum / n) / LN2
end

-- The letters of name[s..e] in orig: true when both cases appear at
-- least three times (base64; q.name itself is lowercase).
local function mixed_case(orig, s, e)
	local upper, lower = 0, 0
	for i = s, e do
		local c = byte(orig, i)
		if c and c >= 65 and c <= 90 then
			upper = upper + 1
		elseif c and c >= 97 and c <= 122 then
			lower = lower + 1
		end
	end
	return upper >= 3 and lower >= 3
end

local function number_opt(opts, key, lo, hi)
	local v = opts[key]
	if type(v) == "string" then
		v = tonumber(v)
	end
	if type(v) ~= "number" or v < lo or v > hi then
		error(format("option %s: a number from %s to %s", key, tostring(lo), tostring(hi)), 0)
	end
	return v
end

-- Loaded with the argument "internals" (t/lua/policies/tunnel_spec.lua),
-- the file returns its helpers instead of the constructor.
if ... == "internals" then
	return { domain_start = domain_start, entropy = entropy, under = under }
end

return function(opts)
	opts = moon.options(opts, {
		action = { type = "string", default = "log", values = { "log", "tag", "refuse", "block" } },
		threshold = { type = "any", default = 1.0 },
		window = { type = "any", default = 60 },
		block_for = { type = "any", default = 300 },
		block_action = { type = "string", default = "refuse", values = { "refuse", "drop" } },
		max_label = { type = "any", default = 40 },
		max_name = { type = "any", default = 100 },
		max_labels = { type = "any", default = 6 },
		min_entropy = { type = "any", default = 4.0 },
		max_unique = { type = "any", default = 100 },
		txt_share = { type = "any", default = 0.5 },
		min_names = { type = "any", default = 20 },
		types = { type = "list", default = { "TXT", "NULL" } },
		allow = { type = "list", default = { "in-addr.arpa.", "ip6.arpa." } },
		suffixes = { type = "list" },
		weights = { type = "table" },
		dict = { type = "string", default = "tunnel" },
		dict_size = { type = "any", default = 16 * 1024 * 1024 },
		meta = { type = "string", default = "tunnel" },
	})

	local action = ACTIONS[opts.action]
	local threshold = number_opt(opts, "threshold", 0.01, 100)
	local window = number_opt(opts, "window", 1, 86400)
	local block_for = number_opt(opts, "block_for", 1, 86400 * 7)
	local max_label = number_opt(opts, "max_label", 1, 64)
	local max_name = number_opt(opts, "max_name", 1, 256)
	local max_labels = number_opt(opts, "max_labels", 1, 128)
	local min_entropy = number_opt(opts, "min_entropy", 0, 8)
	local max_unique = number_opt(opts, "max_unique", 1, 1e9)
	local share_min = number_opt(opts, "txt_share", 0, 1)
	local min_names = number_opt(opts, "min_names", 1, 1e9)
	local dict_size = number_opt(opts, "dict_size", 65536, 2 ^ 40)
	local drop_blocked = opts.block_action == "drop"

	local w = {}
	for k, v in pairs(WEIGHTS) do
		w[k] = v
	end
	for k, v in pairs(opts.weights or {}) do
		if WEIGHTS[k] == nil then
			local known = {}
			for name in pairs(WEIGHTS) do
				known[#known + 1] = name
			end
			table.sort(known)
			error("option weights: unknown sign '" .. tostring(k) .. "' (known: "
				.. table.concat(known, ", ") .. ")", 0)
		end
		if type(v) ~= "number" or v < 0 then
			error("option weights." .. k .. ": a number >= 0", 0)
		end
		w[k] = v
	end

	local txt_types = {}
	for k, v in ipairs(opts.types) do
		local n = type(v) == "number" and v
			or (type(v) == "string" and moon.type[v:upper()])
		if type(n) ~= "number" then
			error("option types[" .. k .. "]: a record type, not " .. tostring(v), 0)
		end
		txt_types[n] = true
	end
	local allow = {}
	for k, z in ipairs(opts.allow) do
		allow[k] = fqdn(z, "option allow[" .. k .. "]")
	end
	local suffixes
	if opts.suffixes then
		suffixes = {}
		for k, z in ipairs(opts.suffixes) do
			suffixes[k] = fqdn(z, "option suffixes[" .. k .. "]")
		end
	end

	local names = moon.shared(opts.dict .. ".names", dict_size)
	local rates = moon.shared(opts.dict .. ".rates", math.max(65536, dict_size / 8))
	local blocked = moon.shared(opts.dict .. ".blocked", math.max(65536, dict_size / 16))
	local detections = moon.counter("detections")
	local blocks = moon.counter("blocks")
	local refused_blocked = moon.counter("blocked_queries")
	local key_score = opts.meta .. "/score"
	local key_reasons = opts.meta .. "/reasons"
	local blocking = action == ACTIONS.block

	-- The domain's unique names and TXT share in the window, after
	-- counting this new name. Buckets of `window` seconds; the previous
	-- bucket counts in proportion to how much of it the window still covers.
	local function domain_rates(dom, txt)
		local now = moon.now()
		local b = floor(now / window)
		local frac = now / window - b
		local cur = rates:incr(dom .. "|" .. b, txt and (1 + TXT_UNIT) or 1, 0, 2 * window)
		local prev = rates:get(dom .. "|" .. (b - 1)) or 0
		local cur_txt = floor(cur / TXT_UNIT)
		local prev_txt = floor(prev / TXT_UNIT)
		local keep = 1 - frac
		local uniq = (cur - cur_txt * TXT_UNIT) + (prev - prev_txt * TXT_UNIT) * keep
		local ntxt = cur_txt + prev_txt * keep
		return uniq, ntxt
	end

	local function query(q)
		local client
		if blocking then
			client = q.client
			if blocked:get(client) then
				refused_blocked:inc()
				if drop_blocked then
					return q:drop()
				end
				return q:refuse{ ede_text = "client blocked: DNS tunnelling" }
			end
		end
		local name = q.name
		local start = domain_start(name, suffixes)
		if start <= 2 then
			return nil         -- no subdomain: nothing encoded
		end
		if #allow > 0 and under(name, allow) then
			return nil
		end
		local last = start - 2  -- the subdomain is name[1..last]

		-- One pass over the labels.
		local maxlab, nlabels = 0, 0
		local long_s = 0                        -- where the longest label starts
		local enc, enc_s, enc_e = nil, 0, 0    -- the first label that looks encoded
		local labstart = 1
		local digits, alpha, nonhex, hyphens, other = 0, 0, 0, 0, 0
		for i = 1, last + 1 do
			local c = i <= last and byte(name, i) or 46
			if c == 46 then
				local len = i - labstart
				nlabels = nlabels + 1
				if len > maxlab then
					maxlab = len
					long_s = labstart
				end
				if len >= 16 and not enc then
					if other > 0 then
						enc = "binary"
					elseif nonhex == 0 and digits > 0 and alpha > 0 then
						enc = "hex"
					elseif len >= 20 and digits >= 2 and alpha >= 2 then
						-- Letters and digits only: base32 (RFC 4648 or
						-- iodine's a-z0-5), base36, or base64 lowercased;
						-- with - or _, base64url if the case is mixed.
						enc = hyphens == 0 and "base32" or "alnum"
						enc_s, enc_e = labstart, i - 1
					end
				end
				labstart = i + 1
				digits, alpha, nonhex, hyphens, other = 0, 0, 0, 0, 0
			elseif c >= 48 and c <= 57 then
				digits = digits + 1
			elseif c >= 97 and c <= 122 then
				alpha = alpha + 1
				if c > 102 then
					nonhex = nonhex + 1
				end
			elseif c == 45 or c == 95 then
				nonhex = nonhex + 1
				hyphens = hyphens + 1
			else
				other = other + 1
			end
		end

		local score = 0
		if maxlab >= max_label then
			score = score + w.long_label
		end
		if last >= max_name then
			score = score + w.long_name
		end
		if nlabels >= max_labels then
			score = score + w.many_labels
		end
		if enc == "base32" or enc == "alnum" then
			-- q.name is lowercase; the client's spelling tells base64.
			if not q.rewritten and mixed_case(q.orig_name, enc_s, enc_e) then
				enc = "base64"
			elseif enc == "alnum" then
				enc = nil
			end
		end
		if enc then
			score = score + w[enc]
		end
		local h
		if maxlab >= 20 then
			h = entropy(name, long_s, long_s + maxlab - 1)
			if h >= min_entropy then
				score = score + w.entropy
			end
		end

		-- The domain's rates, counted once per distinct name per window.
		local uniq, share
		if names:add(name, 1, window) then
			local dom = sub(name, start)
			local ntxt
			uniq, ntxt = domain_rates(dom, txt_types[q.type] == true)
			if uniq >= max_unique then
				score = score + w.unique
			end
			if uniq >= min_names then
				share = ntxt / uniq
				if share >= share_min then
					score = score + w.txt_share
				end
			end
		end

		if score < threshold then
			return nil
		end

		-- A detection: the reasons, the counter, the log line, the action.
		local why = {}
		if maxlab >= max_label then
			why[#why + 1] = "long_label=" .. maxlab
		end
		if last >= max_name then
			why[#why + 1] = "long_name=" .. last
		end
		if nlabels >= max_labels then
			why[#why + 1] = "many_labels=" .. nlabels
		end
		if enc then
			why[#why + 1] = enc
		end
		if h and h >= min_entropy then
			why[#why + 1] = format("entropy=%.2f", h)
		end
		if uniq and uniq >= max_unique then
			why[#why + 1] = format("unique=%d/%gs", uniq, window)
		end
		if share and share >= share_min then
			why[#why + 1] = format("txt_share=%.2f", share)
		end
		local reasons = table.concat(why, ",")
		detections:inc()
		client = client or q.client
		moon.log.warn("tunnel suspect: client %s name %s type %s score %.2f (%s)", client,
			name, moon.type[q.type], score, reasons)
		if action >= ACTIONS.tag then
			q.meta[key_score] = format("%.2f", score)
			q.meta[key_reasons] = reasons
		end
		if blocking then
			blocked:set(client, 1, block_for)
			blocks:inc()
		end
		if action >= ACTIONS.refuse then
			return q:refuse{ ede_text = "suspected DNS tunnelling" }
		end
		return nil
	end

	return { query = query }
end
