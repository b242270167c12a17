-- POST /api/user/login with the seeded user's credentials (expects 200; argon2 verify each).
-- Env: BENCH_LOGIN, BENCH_PASSWORD.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format(
  '{"login":"%s","password":"%s"}', os.getenv("BENCH_LOGIN"), os.getenv("BENCH_PASSWORD")
)

setup = common.setup
done = common.report
