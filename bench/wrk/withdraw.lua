-- POST /api/user/balance/withdraw of 0.01 for a fresh order number per request (expects 200;
-- the seeded balance covers millions of them). Env: BENCH_TOKEN, BENCH_PREFIX.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "POST"
wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "application/json"

setup = common.setup
done = common.report

function request()
  local body = string.format('{"order":"%s","sum":0.01}', common.fresh_number())
  return wrk.format(nil, nil, nil, body)
end
