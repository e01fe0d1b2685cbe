-- Loaded by every scenario script: at the end of a run, one line that
-- run.sh parses (latencies in microseconds; status errors are answers of
-- 400 and above, socket errors are connect/read/write errors and timeouts).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d rps=%.2f p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
