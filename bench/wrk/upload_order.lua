-- POST /api/user/orders with a fresh Luhn-valid number per request (expects 202).
-- Env: BENCH_TOKEN, BENCH_PREFIX.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "POST"
wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "text/plain"

setup = common.setup
done = common.report

function request()
  return wrk.format(nil, nil, nil, common.fresh_number())
end
