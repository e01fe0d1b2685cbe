-- POST /api/auth/register with a username never used before: the run's
-- BENCH_PREFIX, the wrk thread's number and a per-thread counter.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local prefix = os.getenv("BENCH_PREFIX") or "r"
local password = os.getenv("BENCH_PASSWORD") or "bench-password-1"
local threads = 0

setup = function(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local counter = 0
local headers = { ["Content-Type"] = "application/json" }

request = function()
  counter = counter + 1
  local body = string.format('{"username":"%s_%d_%d","password":"%s"}',
    prefix, thread_id, counter, password)
  return wrk.format("POST", "/api/auth/register", headers, body)
end
