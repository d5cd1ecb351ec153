-- wrk script for bench/notify.sh: the fake providers' own ceiling, WeCom robot messages posted
-- straight to the fake (what notify's throughput cannot exceed on this machine).
wrk.method = "POST"
wrk.path = "/cgi-bin/webhook/send?key=" .. (os.getenv("BENCH_ROBOT_KEY") or "")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"msgtype":"text","text":{"content":"网格通：您有新派单GG-1"}}'
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")
