-- wrk script for GET /v1/identities/{alias}/recommendations, spreading
-- requests uniformly over the aliases in $ALIASES (one a line; make it with
-- rapport bench aliases --data DIR --kind customer > aliases.txt), with the
-- key in $RAPPORT_KEY. Example:
--   ALIASES=aliases.txt RAPPORT_KEY=rpk_... wrk -t2 -c4 -d10s --latency \
--     -s cmd/rapport/testdata/recommend.lua http://127.0.0.1:8090
local aliases = {}
for line in io.lines(os.getenv("ALIASES") or "aliases.txt") do aliases[#aliases + 1] = line end
local key = os.getenv("RAPPORT_KEY") or ""
local n = os.getenv("N") or "10"
math.randomseed(os.time())
request = function()
  local a = aliases[math.random(#aliases)]
  return wrk.format("GET", "/v1/identities/" .. a .. "/recommendations?n=" .. n, {["Authorization"] = "Bearer " .. key})
end
