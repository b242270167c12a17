-- POST /api/user/register with a fresh login per request (expects 200; argon2 hash each).
-- Env: BENCH_PREFIX.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

setup = common.setup
done = common.report

function request()
  local body = string.format(
    '{"login":"r%s","password":"bench-password"}', common.fresh_suffix()
  )
  return wrk.format(nil, nil, nil, body)
end
