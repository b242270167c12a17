-- Shared by the bench/wrk scripts: thread numbering, Luhn numbers and the JSON report.
--
-- Each script loads this file with dofile() from its own directory, in wrk's main Lua state
-- and in every thread's state. setup() runs in the main state once per thread, before that
-- thread's init(), and hands each thread a distinct `thread_id` (1, 2, …).

local M = {}

local threads_started = 0

function M.setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_id", threads_started)
end

-- payload (a string of digits) followed by the check digit that makes it pass the Luhn check
function M.luhn_complete(payload)
  local total = 0
  local length = #payload
  for k = length, 1, -1 do
    local digit = payload:byte(k) - 48
    if (length - k) % 2 == 0 then
      digit = digit * 2
      if digit > 9 then
        digit = digit - 9
      end
    end
    total = total + digit
  end
  return payload .. tostring((10 - total % 10) % 10)
end

-- A fresh Luhn-valid order number per call, unique across threads and wrk runs:
-- BENCH_PREFIX (distinct per run, set by python -m bench) .. thread id .. counter.
local prefix = os.getenv("BENCH_PREFIX") or "5"
local counter = 0

function M.fresh_number()
  counter = counter + 1
  return M.luhn_complete(string.format("%s%02d%09d", prefix, thread_id or 0, counter))
end

function M.fresh_suffix()
  counter = counter + 1
  return string.format("%s-%d-%d", prefix, thread_id or 0, counter)
end

function M.bearer()
  local token = os.getenv("BENCH_TOKEN")
  if token == nil or token == "" then
    error("BENCH_TOKEN is not set")
  end
  return "Bearer " .. token
end

-- One machine-readable line after wrk's own summary. wrk counts responses with a status
-- above 399 in errors.status (its "Non-2xx or 3xx responses" line) without a response()
-- callback, which would slow every request down. Times are in microseconds.
function M.report(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, errors.status,
    errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max
  ))
end

return M
