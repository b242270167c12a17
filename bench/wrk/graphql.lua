-- POST /graphql: the signed-in user's balance and first 20 orders (expects 200).
-- Env: BENCH_TOKEN. One static request.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "POST"
wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"{ me { balance { current } orders(first: 20) '
  .. '{ edges { node { number status } } } } }"}'

setup = common.setup
done = common.report
