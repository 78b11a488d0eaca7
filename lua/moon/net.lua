-- Addresses and names for policies (moon.ip, moon.cidr, moon.names).

local ffi = require("ffi")
local bit = require("bit")

local C = ffi.C
local M = {}

local addrbuf = ffi.new("uint8_t[16]")

-- moon.ip.parse(text): the address as a 4- or 16-byte string, or nil.
-- moon.ip.family(text): 4, 6 or nil.
M.ip = {}

function M.ip.parse(text)
	if type(text) ~= "string" then
		return nil
	end
	local n = C.moon_ffi_ip_parse(text, #text, addrbuf)
	if n < 0 then
		return nil
	end
	return ffi.string(addrbuf, n)
end

function M.ip.family(text)
	local a = M.ip.parse(text)
	return a and (#a == 4 and 4 or 6) or nil
end

-- The first `bits` bits of the address string a.
local function prefix(a, bits)
	local full = math.floor(bits / 8)
	local rest = bits % 8
	local p = a:sub(1, full)
	if rest > 0 then
		local byte = a:byte(full + 1)
		p = p .. string.char(bit.band(byte, bit.lshift(0xff, 8 - rest) % 256))
	end
	return p
end

-- An IPv4 address as a number (exact in a double); a:byte(i) based.
local function v4num(a)
	local b1, b2, b3, b4 = a:byte(1, 4)
	return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end

local V4MAPPED = ("\0"):rep(10) .. "\255\255"

local Cidr = {}
local CidrMT = { __index = Cidr, __metatable = false }

local function add_len(lens, len)
	for _, l in ipairs(lens) do
		if l == len then
			return
		end
	end
	lens[#lens + 1] = len
	table.sort(lens, function(x, y) return x > y end)
end

-- moon.cidr{ "10.0.0.0/8", "192.0.2.1", "2001:db8::/32", ... }: a set of
-- networks; set:contains(ip) returns the most specific entry (as written)
-- holding the address (text), or nil. IPv4 lookups make no strings: one
-- table lookup per distinct prefix length; an IPv4-mapped IPv6 address
-- (::ffff:192.0.2.1) is looked up as IPv4.
function M.cidr(list)
	if type(list) == "string" then
		list = { list }
	end
	if type(list) ~= "table" then
		error("moon.cidr{...}: a list of networks", 2)
	end
	local set = { v4 = {}, lens4 = {}, v6 = {}, lens6 = {}, div = {} }
	for _, entry in ipairs(list) do
		if type(entry) ~= "string" then
			error("moon.cidr: entries are strings", 2)
		end
		local addr, len = entry:match("^([^/]+)/(%d+)$")
		addr = addr or entry
		local a = M.ip.parse(addr)
		if not a then
			error("moon.cidr: bad address in '" .. entry .. "'", 2)
		end
		len = tonumber(len) or #a * 8
		if len > #a * 8 then
			error("moon.cidr: prefix too long in '" .. entry .. "'", 2)
		end
		if #a == 4 then
			local div = 2 ^ (32 - len)
			local x = v4num(a)
			local key = x - x % div
			set.v4[len] = set.v4[len] or {}
			if not set.v4[len][key] then
				set.v4[len][key] = entry
			end
			set.div[len] = div
			add_len(set.lens4, len)
		else
			local key = prefix(a, len) .. "/" .. len
			if not set.v6[key] then
				set.v6[key] = entry
			end
			add_len(set.lens6, len)
		end
	end
	return setmetatable(set, CidrMT)
end

local function contains4(self, x)
	local v4, div = self.v4, self.div
	for _, len in ipairs(self.lens4) do
		local d = div[len]
		local hit = v4[len][x - x % d]
		if hit then
			return hit
		end
	end
	return nil
end

function Cidr:contains(ip)
	if type(ip) ~= "string" then
		return nil
	end
	local n = C.moon_ffi_ip_parse(ip, #ip, addrbuf)
	if n == 4 then
		return contains4(self, ((addrbuf[0] * 256 + addrbuf[1]) * 256 + addrbuf[2]) * 256
			+ addrbuf[3])
	end
	if n ~= 16 then
		return nil
	end
	local a = ffi.string(addrbuf, 16)
	if a:sub(1, 12) == V4MAPPED then
		return contains4(self, v4num(a:sub(13)))
	end
	for _, len in ipairs(self.lens6) do
		local hit = self.v6[prefix(a, len) .. "/" .. len]
		if hit then
			return hit
		end
	end
	return nil
end

local Names = {}
local NamesMT = { __index = Names, __metatable = false }

local function canon(name)
	name = name:lower()
	if name:sub(-1) ~= "." then
		name = name .. "."
	end
	return name
end

-- moon.names{ "example.com", "ads.example.net." }: a set of domain names.
-- set:match(name) returns the entry that is name or one of its parents
-- (the longest), set:has(name) only exact entries. Case-insensitive; the
-- trailing dot is optional. Cost: one table lookup per label of name.
function M.names(list)
	if type(list) == "string" then
		list = { list }
	end
	if type(list) ~= "table" then
		error("moon.names{...}: a list of names", 2)
	end
	local set = { t = {} }
	for _, n in ipairs(list) do
		if type(n) ~= "string" or #n == 0 then
			error("moon.names: entries are names", 2)
		end
		set.t[n == "." and "." or canon(n)] = true
	end
	return setmetatable(set, NamesMT)
end

function Names:has(name)
	return self.t[canon(name)] == true
end

function Names:match(name)
	local t = self.t
	local n = canon(name)
	while true do
		if t[n] then
			return n
		end
		local dot = n:find(".", 1, true)
		if not dot or dot == #n then
			return t["."] and "." or nil
		end
		n = n:sub(dot + 1)
	end
end

return M
