-- metadata_edns0: EDNS0 options of the query become named metadata
-- (doc/policies/metadata_edns0.md).
--
--   - metadata_edns0:
--       secret: { code: 65200, format: bytes }  # q.meta["metadata_edns0/secret"]
--       client_id: 65201                        # hex, as CoreDNS's default
--       subnet: { code: 8, format: ecs }        # "192.0.2.0/24"
--
-- Formats: bytes (the payload as is), hex (lowercase; with size, start and
-- end: only a payload of exactly `size` bytes, and only bytes start ..
-- end-1 of it), address (a 4- or 16-byte payload as IPv4/IPv6 text), ecs
-- (an RFC 7871 client subnet as "address/source-prefix"), uint (a 1- to
-- 6-byte big-endian number, in decimal). A key is set only when the query
-- carries the option and its payload fits the format; otherwise it stays
-- absent (nil), never "".

local byte, char, concat, floor = string.byte, string.char, table.concat, math.floor

local PREFIX = "metadata_edns0/"
local META_KEY_MAX = 64         -- q.meta limits (doc/lua-api.md)
local META_VALUE_MAX = 512

local HEX = {}
for i = 0, 255 do
	HEX[i] = string.format("%02x", i)
end

local hexbuf = {}

local function to_hex(s, from, to)
	local n = 0
	for i = from, to do
		n = n + 1
		hexbuf[n] = HEX[byte(s, i)]
	end
	return concat(hexbuf, "", 1, n)
end

-- IPv4 or IPv6 text of a 4- or 16-byte string, written as inet_ntop
-- writes it (RFC 5952, with glibc's choice of an IPv4 tail), so that it
-- compares equal to q.client.
local function addr_text(a)
	if #a == 4 then
		return string.format("%d.%d.%d.%d", byte(a, 1, 4))
	end
	local w = {}
	for i = 1, 8 do
		local hi, lo = byte(a, 2 * i - 1, 2 * i)
		w[i] = hi * 256 + lo
	end
	-- The longest run of two or more zero groups (the first on a tie).
	local best, best_len, run, run_len = 0, 0, 0, 0
	for i = 1, 8 do
		if w[i] == 0 then
			if run_len == 0 then
				run = i
			end
			run_len = run_len + 1
			if run_len > best_len then
				best, best_len = run, run_len
			end
		else
			run_len = 0
		end
	end
	if best_len < 2 then
		best = 0
	end
	if best == 1 and (best_len == 6 or (best_len == 5 and w[6] == 0xffff)) then
		return (best_len == 5 and "::ffff:" or "::")
			.. string.format("%d.%d.%d.%d", byte(a, 13, 16))
	end
	local out = {}
	for i = 1, 8 do
		out[i] = string.format("%x", w[i])
	end
	if best_len < 2 then
		return concat(out, ":")
	end
	return concat(out, ":", 1, best - 1) .. "::" .. concat(out, ":", best + best_len, 8)
end

local ZERO16 = ("\0"):rep(16)

-- RFC 7871: FAMILY (2) SOURCE PREFIX (1) SCOPE PREFIX (1) ADDRESS
-- (ceil(source / 8) bytes). Returns "address/source", or nil when the
-- option is malformed.
local function ecs_text(p)
	if #p < 4 then
		return nil
	end
	local f1, f2, source = byte(p, 1, 3)
	local family = f1 * 256 + f2
	local size = family == 1 and 4 or family == 2 and 16 or nil
	if not size or source > size * 8 or #p - 4 ~= floor((source + 7) / 8) then
		return nil
	end
	local a = p:sub(5)
	-- Bits past the prefix must be zero; clear them rather than trust them.
	local rest = source % 8
	if rest ~= 0 then
		local last = byte(a, #a)
		last = last - last % 2 ^ (8 - rest)
		a = a:sub(1, -2) .. char(last)
	end
	a = a .. ZERO16:sub(1, size - #a)
	return addr_text(a) .. "/" .. source
end

local FORMATS = {}

function FORMATS.bytes(p)
	return p
end

function FORMATS.hex(p, m)
	if m.size then
		if #p ~= m.size then
			return nil
		end
		return to_hex(p, m.start + 1, m.stop)
	end
	return to_hex(p, 1, #p)
end

function FORMATS.address(p)
	if #p == 4 or #p == 16 then
		return addr_text(p)
	end
	return nil
end

FORMATS.ecs = ecs_text

function FORMATS.uint(p)
	local n = #p
	if n < 1 or n > 6 then
		return nil
	end
	local v = 0
	for i = 1, n do
		v = v * 256 + byte(p, i)
	end
	return string.format("%d", v)
end

if ... == "internals" then
	return { addr_text = addr_text, ecs_text = ecs_text, to_hex = to_hex }
end

-- Options ------------------------------------------------------------------

local function fail(fmt, ...)
	error(string.format(fmt, ...), 0)
end

local function option_code(v, where)
	local n = v
	if type(v) == "string" then
		n = v:match("^0[xX]%x+$") and tonumber(v:sub(3), 16) or tonumber(v)
	end
	if type(n) ~= "number" or n < 0 or n > 65535 or n % 1 ~= 0 then
		fail("%s: code must be an EDNS option code, 0 to 65535 (or \"0x...\")", where)
	end
	if n == 41 then
		fail("%s: code 41 is the OPT record itself, not an option", where)
	end
	return n
end

local function whole(v, where, what, min, max)
	if type(v) == "string" then
		v = tonumber(v)
	end
	if type(v) ~= "number" or v % 1 ~= 0 or v < min or v > max then
		fail("%s: %s must be a whole number from %d to %d", where, what, min, max)
	end
	return v
end

local SPEC_KEYS = { code = true, format = true, size = true, start = true, ["end"] = true }

local function compile(name, spec)
	local where = "option '" .. tostring(name) .. "'"
	if type(name) ~= "string" or not name:match("^[%w_.%-]+$") then
		fail("%s: metadata names use letters, digits, '_', '.' and '-'", where)
	end
	local key = PREFIX .. name
	if #key > META_KEY_MAX then
		fail("%s: name too long (at most %d bytes)", where, META_KEY_MAX - #PREFIX)
	end
	if type(spec) ~= "table" then
		spec = { code = spec }
	end
	for k in pairs(spec) do
		if not SPEC_KEYS[k] then
			fail("%s: unknown key '%s' (code, format, size, start, end)", where, tostring(k))
		end
	end
	if spec.code == nil then
		fail("%s: code is required", where)
	end
	local m = { key = key, code = option_code(spec.code, where) }
	local format = spec.format or "hex"
	m.fn = FORMATS[format]
	if not m.fn then
		fail("%s: format must be bytes, hex, address, ecs or uint, not '%s'", where,
			tostring(format))
	end
	if spec.size ~= nil or spec.start ~= nil or spec["end"] ~= nil then
		if format ~= "hex" then
			fail("%s: size, start and end apply to the hex format only", where)
		end
		if spec.size == nil or spec.start == nil or spec["end"] == nil then
			fail("%s: size, start and end go together", where)
		end
		m.size = whole(spec.size, where, "size", 1, 65535)
		m.start = whole(spec.start, where, "start", 0, m.size - 1)
		m.stop = whole(spec["end"], where, "end", m.start + 1, m.size)
		if 2 * (m.stop - m.start) > META_VALUE_MAX then
			fail("%s: end - start is at most %d bytes", where, META_VALUE_MAX / 2)
		end
	end
	return m
end

return function(opts)
	local maps = {}
	for name, spec in pairs(opts) do
		maps[#maps + 1] = compile(name, spec)
	end
	if #maps == 0 then
		fail("no options: map names to EDNS option codes, e.g. { secret = { code = 65200, "
			.. "format = \"bytes\" } }")
	end
	-- A fixed order, so that several names for one code behave the same in
	-- every worker.
	table.sort(maps, function(a, b) return a.key < b.key end)
	if #maps > 16 then
		fail("at most 16 names (q.meta holds 16 keys)")
	end
	local n = #maps

	local function query(q)
		if not q.edns then
			return nil
		end
		local meta
		for i = 1, n do
			local m = maps[i]
			local payload = q:edns_option(m.code)
			if payload then
				local v = m.fn(payload, m)
				-- A value q.meta cannot hold is left out rather than failing
				-- the query: the payload is the client's to choose.
				if v and #v <= META_VALUE_MAX then
					meta = meta or q.meta
					meta[m.key] = v
				end
			end
		end
		return nil
	end

	return { query = query }
end
