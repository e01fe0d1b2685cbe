-- The scale scenario's requests (run.sh, measure_scale): one item per line
-- of BENCH_SCALE_FILE, shared out between wrk's threads (line n to thread
-- n mod BENCH_WRK_THREADS), each request taking one of its thread's items
-- at random.
--   BENCH_SCALE_MODE=me       GET /api/auth/users/me, the line an access token
--   BENCH_SCALE_MODE=login    POST /api/auth/token (form), the line a username
--                             and BENCH_PASSWORD the password
--   BENCH_SCALE_MODE=refresh  POST /api/auth/token/refresh (JSON), the line a
--                             refresh token of a live session
--
-- At random, not in turn: going round a set of rows larger than the
-- database's cache would miss it on nearly every row, the worst case of a
-- clock or LRU cache and not what many users' requests look like. (On
-- Postgres, 10,000 users spread over 1M rows touch about 170 MB, more than
-- the 128 MB of shared_buffers here: taken in turn, 96 % of the users heap
-- reads missed them; at random, 43 %.)
--
-- Refresh rotates: every answer carries the session's next refresh token
-- and the one just sent is spent (sending it again would be a replay and
-- revoke the whole family). So each thread keeps the refresh tokens it
-- holds, one per session: a request takes one out (at random), and its
-- answer puts the session's new one in. A connection has one request in
-- flight at a time and wrk hands an answer to `response` before it asks
-- for the connection's next request, so with more sessions than
-- connections there is always a token to take. A refused rotation (an
-- error) loses its session; should none be left, requests go out with a
-- spent token and count as errors (401).
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local threads = 0

setup = function(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local mode = os.getenv("BENCH_SCALE_MODE") or "me"
local password = os.getenv("BENCH_PASSWORD") or "bench-password-1"
local items, last = {}, 0
local json = { ["Content-Type"] = "application/json" }
local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }

-- The whole request for `me` and `login` (they do not change); the token
-- itself for `refresh`.
local function prepare(line)
  if mode == "me" then
    return wrk.format("GET", "/api/auth/users/me", { ["Authorization"] = "Bearer " .. line })
  elseif mode == "login" then
    return wrk.format("POST", "/api/auth/token", form,
      "username=" .. line .. "&password=" .. password)
  end
  return line
end

-- A thread left without a line of its own (fewer lines than threads: the
-- empty database's one user) takes them all, except for refresh, where a
-- token must have one holder. A refresh token is spent once sent, so a
-- scenario run in BENCH_SCALE_ROUNDS rounds gives each round its own
-- tokens: line n to round n mod BENCH_SCALE_ROUNDS (BENCH_SCALE_ROUND,
-- from 0).
init = function(args)
  local file = os.getenv("BENCH_SCALE_FILE")
  local stride = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
  local rounds = tonumber(os.getenv("BENCH_SCALE_ROUNDS") or "1")
  local round = tonumber(os.getenv("BENCH_SCALE_ROUND") or "0")
  local lines = {}
  local n = 0
  for line in io.lines(file) do
    if line ~= "" then
      if mode ~= "refresh" or n % rounds == round then
        lines[#lines + 1] = line
      end
      n = n + 1
    end
  end
  for n, line in ipairs(lines) do
    if (n - 1) % stride == thread_index then
      last = last + 1
      items[last] = prepare(line)
    end
  end
  if last == 0 and mode ~= "refresh" then
    for _, line in ipairs(lines) do
      last = last + 1
      items[last] = prepare(line)
    end
  end
  if last == 0 then
    error("scale.lua: no lines for thread " .. thread_index .. " in " .. file)
  end
  math.randomseed(os.time() * 16 + thread_index)
end

if mode == "refresh" then
  request = function()
    local token = "spent"
    if last > 0 then
      local i = math.random(last)
      token = items[i]
      items[i] = items[last]
      items[last] = nil
      last = last - 1
    end
    return wrk.format("POST", "/api/auth/token/refresh", json, '{"refresh_token":"' .. token .. '"}')
  end

  response = function(status, headers, body)
    if status == 201 then
      local token = body:match('"refresh_token":"([^"]+)"')
      if token then
        last = last + 1
        items[last] = token
      end
    end
  end
else
  request = function()
    return items[math.random(last)]
  end
end
