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

local Cidr = {}
local CidrMT = { __index = Cidr, __metatable = false }

-- moon.cidr{ "10.0.0.0/8", "192.0.2.1", "2001:db8::/32", ... }: a set of
-- networks; set:contains(ip) tells whether the address (text) is in one
-- of them and returns the matching entry. Cost: one table lookup per
-- distinct prefix length in the set.
function M.cidr(list)
	if type(list) == "string" then
		list = { list }
	end
	if type(list) ~= "table" then
		error("moon.cidr{...}: a list of networks", 2)
	end
	local set = { nets = { [4] = {}, [16] = {} }, lens = { [4] = {}, [16] = {} } }
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
		local nets = set.nets[#a]
		local key = prefix(a, len) .. "/" .. len
		if not nets[key] then
			nets[key] = entry
			local lens = set.lens[#a]
			local seen = false
			for _, l in ipairs(lens) do
				seen = seen or l == len
			end
			if not seen then
				lens[#lens + 1] = len
				table.sort(lens, function(x, y) return x > y end)
			end
		end
	end
	return setmetatable(set, CidrMT)
end

-- Returns the most specific matching entry (as written), or nil.
function Cidr:contains(ip)
	local a = M.ip.parse(ip)
	if not a then
		return nil
	end
	local nets = self.nets[#a]
	for _, len in ipairs(self.lens[#a]) do
		local hit = nets[prefix(a, len) .. "/" .. len]
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
