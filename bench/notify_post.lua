-- wrk script for bench/notify.sh: Open311 reports with a phone number, a new number each (a
-- number's SMS limits would otherwise hold the 'received' SMS), paced to BENCH_RATE requests a
-- second over BENCH_CONNECTIONS connections (wrk's delay(): each connection waits
-- connections/rate seconds between its requests; the rate is reached while answers take less).
local key = os.getenv("GRIDGOV_API_KEY")
if not key or key == "" then
  error("GRIDGOV_API_KEY is not set")
end
local rate = tonumber(os.getenv("BENCH_RATE") or "500")
local conns = tonumber(os.getenv("BENCH_CONNECTIONS") or "8")

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local body = table.concat({
  "api_key=" .. urlencode(key),
  "service_code=LIGHT",
  urlencode("attribute[fault_type]") .. "=off",
  "lat=28.2",
  "long=113.1",
  "description=" .. urlencode("村口路灯不亮，晚上出行不便"),
}, "&")
local n = 0
local headers = {["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"}

function request()
  n = n + 1
  -- 136 + the thread (1 digit) + a counter (7 digits): distinct across threads
  local phone = string.format("136%d%07d", tid or 0, n)
  return wrk.format("POST", "/open311/v2/requests.json", headers, body .. "&phone=" .. phone)
end

function delay()
  return math.floor(1000 * conns / rate)
end
