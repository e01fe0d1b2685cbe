-- One fixed request, described by the environment:
--   BENCH_METHOD (GET), BENCH_BODY, BENCH_CONTENT_TYPE, BENCH_BEARER.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
end
local content_type = os.getenv("BENCH_CONTENT_TYPE")
if content_type and content_type ~= "" then
  wrk.headers["Content-Type"] = content_type
end
local bearer = os.getenv("BENCH_BEARER")
if bearer and bearer ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. bearer
end
