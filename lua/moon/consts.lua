-- DNS constants by name and number: moon.type, moon.rcode, moon.ede.
-- Each table maps a name to its number and a number to its name; a number
-- without a name reads as "TYPE1234" (types) or the number as text.

local M = {}

local function both_ways(t, unknown)
	local rev = {}
	for name, num in pairs(t) do
		rev[num] = name
	end
	for num, name in pairs(rev) do
		t[num] = name
	end
	return setmetatable(t, {
		__index = function(_, k)
			if type(k) == "number" then
				return unknown(k)
			end
			if type(k) == "string" then
				local n = k:match("^TYPE(%d+)$")
				if n then
					return tonumber(n)
				end
			end
			return nil
		end,
	})
end

M.type = both_ways({
	A = 1, NS = 2, MD = 3, MF = 4, CNAME = 5, SOA = 6, MB = 7, MG = 8, MR = 9,
	NULL = 10, WKS = 11, PTR = 12, HINFO = 13, MINFO = 14, MX = 15, TXT = 16,
	RP = 17, AFSDB = 18, X25 = 19, ISDN = 20, RT = 21, NSAP = 22, SIG = 24, KEY = 25,
	PX = 26, GPOS = 27, AAAA = 28, LOC = 29, NXT = 30, SRV = 33, NAPTR = 35, KX = 36,
	CERT = 37, A6 = 38, DNAME = 39, SINK = 40, OPT = 41, APL = 42, DS = 43, SSHFP = 44,
	IPSECKEY = 45,
	RRSIG = 46, NSEC = 47, DNSKEY = 48, DHCID = 49, NSEC3 = 50, NSEC3PARAM = 51,
	TLSA = 52, SMIMEA = 53, HIP = 55, CDS = 59, CDNSKEY = 60, OPENPGPKEY = 61,
	CSYNC = 62, ZONEMD = 63, SVCB = 64, HTTPS = 65, SPF = 99, NID = 104, L32 = 105,
	L64 = 106, LP = 107, EUI48 = 108, EUI64 = 109, TKEY = 249, TSIG = 250, IXFR = 251,
	AXFR = 252, ANY = 255, URI = 256, CAA = 257,
}, function(n) return "TYPE" .. n end)

M.rcode = both_ways({
	NOERROR = 0, FORMERR = 1, SERVFAIL = 2, NXDOMAIN = 3, NOTIMP = 4,
	REFUSED = 5, YXDOMAIN = 6, YXRRSET = 7, NXRRSET = 8, NOTAUTH = 9,
	NOTZONE = 10, BADVERS = 16,
}, function(n) return tostring(n) end)

-- Extended DNS Error info codes (RFC 8914 and its registry).
M.ede = both_ways({
	OTHER = 0, UNSUPPORTED_DNSKEY_ALGORITHM = 1, UNSUPPORTED_DS_DIGEST = 2,
	STALE_ANSWER = 3, FORGED_ANSWER = 4, DNSSEC_INDETERMINATE = 5,
	DNSSEC_BOGUS = 6, SIGNATURE_EXPIRED = 7, SIGNATURE_NOT_YET_VALID = 8,
	DNSKEY_MISSING = 9, RRSIGS_MISSING = 10, NO_ZONE_KEY_BIT_SET = 11,
	NSEC_MISSING = 12, CACHED_ERROR = 13, NOT_READY = 14, BLOCKED = 15,
	CENSORED = 16, FILTERED = 17, PROHIBITED = 18, STALE_NXDOMAIN_ANSWER = 19,
	NOT_AUTHORITATIVE = 20, NOT_SUPPORTED = 21, NO_REACHABLE_AUTHORITY = 22,
	NETWORK_ERROR = 23, INVALID_DATA = 24,
}, function(n) return tostring(n) end)

M.stages = { "query", "response", "log" }
M.sections = { "answer", "authority", "additional" }
M.section = { answer = 0, authority = 1, additional = 2 }

-- A type given as a number or a name ("AAAA", "aaaa", "TYPE65"); nil if
-- it is neither.
function M.type_num(v)
	if type(v) == "number" then
		if v >= 0 and v <= 65535 and v % 1 == 0 then
			return v
		end
		return nil
	end
	if type(v) == "string" then
		return M.type[v:upper()]
	end
	return nil
end

-- Classes q:rewrite takes by name (RFC 1035 §3.2.4, RFC 2136 ANY = 255).
M.class = { IN = 1, CH = 3, HS = 4, NONE = 254, ANY = 255 }

-- A class given as a number or a name ("IN", "ch", "CLASS3"); nil if it
-- is neither.
function M.class_num(v)
	if type(v) == "number" then
		if v >= 0 and v <= 65535 and v % 1 == 0 then
			return v
		end
		return nil
	end
	if type(v) == "string" then
		local u = v:upper()
		local n = u:match("^CLASS(%d+)$")
		if n then
			return M.class_num(tonumber(n))
		end
		return M.class[u]
	end
	return nil
end

function M.rcode_num(v)
	if type(v) == "number" then
		if v >= 0 and v <= 4095 and v % 1 == 0 then
			return v
		end
		return nil
	end
	if type(v) == "string" then
		local n = rawget(M.rcode, v:upper())
		return n
	end
	return nil
end

return M
