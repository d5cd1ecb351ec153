-- wrk script for bench/run.sh: every request is one Open311 POST /open311/v2/requests.json
-- (form-urlencoded, UTF-8), a street light that is off, inside the demo county, with a Chinese
-- description. The API key comes from the environment (GRIDGOV_API_KEY).
-- The `done` hook prints one machine-readable line (WRK ...) that bench/run.sh parses.
-- No `response` hook: calling Lua per response slows wrk down; wrk itself counts responses with
-- status >= 400 (summary.errors.status, the "Non-2xx or 3xx responses" line of its summary).

local key = os.getenv("GRIDGOV_API_KEY")
if not key or key == "" then
  error("GRIDGOV_API_KEY is not set")
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

wrk.method = "POST"
wrk.path = "/open311/v2/requests.json"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
wrk.body = table.concat({
  "api_key=" .. urlencode(key),
  "service_code=LIGHT",
  urlencode("attribute[fault_type]") .. "=off",
  "lat=28.2",
  "long=113.1",
  "description=" .. urlencode("村口路灯不亮，晚上出行不便"),
}, "&")

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
