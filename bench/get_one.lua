-- wrk script for bench/run.sh: GET of one request, each request for the next of the tickets
-- the bench posted (their codes one a line in the file BENCH_CODES), so that the reads are
-- spread over many rows rather than served from one. BENCH_GET_PATH is the path with %s for the
-- code: /open311/v2/requests/%s.json (Open311) or /api/v1/tickets/%s (native). Each wrk thread
-- starts at another place in the list.
local file = os.getenv("BENCH_CODES")
local pattern = os.getenv("BENCH_GET_PATH")
if not file or not pattern then
  error("BENCH_CODES and BENCH_GET_PATH must be set")
end
local reqs = {}
for code in io.lines(file) do
  if code ~= "" then
    reqs[#reqs + 1] = wrk.format("GET", string.format(pattern, code))
  end
end
if #reqs == 0 then
  error("no ticket codes in " .. file)
end

local threads = 0
function setup(thread)
  thread:set("start", threads)
  threads = threads + 1
end

local n = 0
function init(args)
  n = ((start or 0) * 7919) % #reqs
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")
