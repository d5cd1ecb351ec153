-- wrk script for bench/assign.sh: Open311 POSTs of a category routed by place (政策咨询, village
-- level), each at a random point of the demo county, so the router places every one and few are
-- duplicates. GRIDGOV_API_KEY comes from the environment.
local key = os.getenv("GRIDGOV_API_KEY")
if not key or key == "" then
  error("GRIDGOV_API_KEY is not set")
end
local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end
local desc = urlencode("咨询新农合报销政策")
math.randomseed(os.time())

request = function()
  local body = string.format("api_key=%s&service_code=POLICY&lat=%.6f&long=%.6f&description=%s",
    urlencode(key), 28.121 + math.random() * 0.258, 113.021 + math.random() * 0.258, desc)
  return wrk.format("POST", "/open311/v2/requests.json",
    {["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"}, body)
end

function done(summary, latency, requests)
  io.write(string.format("WRK requests=%d seconds=%.3f rps=%.1f p99_ms=%.3f non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, summary.errors.status))
end
