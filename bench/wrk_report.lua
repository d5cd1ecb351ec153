-- Shared by the wrk scripts of bench/run.sh (loaded with dofile): the `done` hook, which prints
-- one machine-readable line (WRK ...) that run.sh parses: requests, req/s, p50/p90/p99/max, and
-- the error counters (`non2xx` is wrk's own count of responses with status >= 400, the
-- "Non-2xx or 3xx responses" line of its summary). No `response` hook: calling Lua per response
-- slows wrk down.
function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRK requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f" ..
    " non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
