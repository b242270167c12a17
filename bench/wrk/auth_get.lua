-- An authenticated GET of the URL given to wrk (GET /api/user/balance, GET /api/user/orders).
-- Env: BENCH_TOKEN. One static request, so wrk builds it once.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "GET"
wrk.headers["Authorization"] = common.bearer()

setup = common.setup
done = common.report
