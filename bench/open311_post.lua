-- wrk script for bench/run.sh: every request is one Open311 POST /open311/v2/requests.json
-- (form-urlencoded, UTF-8), a street light that is off, inside the demo county, with a Chinese
-- description. The API key comes from the environment (GRIDGOV_API_KEY).

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

-- the `done` hook: one WRK line for run.sh, from the file beside this one
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")
