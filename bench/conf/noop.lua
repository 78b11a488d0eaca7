-- bench/conf/noop.lua: the cheapest policy that still runs on every query: a query hook and a
-- response hook that do nothing. What the lua scenario measures with it is the fixed cost of the
-- policy layer (entering Lua twice per query), not the cost of any policy's work.
return {
	name = "noop",
	query = function(q) end,
	response = function(q, r) end,
}
