#!/usr/bin/env bash
# How fast notify sends, and how long a resident waits for the first SMS. `make bench` runs it
# after run.sh and assign.sh. On a private PostgreSQL (var/bench-notify-pg, fsync and
# synchronous_commit on) with the fake providers (tests/fakes/providers.py: real signatures,
# their limits raised so that they measure nothing here):
#  (a) throughput: BENCH_NOTIFY_MESSAGES (20,000) SMS inserted as pending, due now, to as many
#      numbers, as the planner inserts them; one gridgov-notify sends them through the fake Aliyun
#      (BENCH_NOTIFY_CHANNEL=robot: the WeCom robot instead). Messages per second = N over the
#      time from the first claim to the last send (notify's own sent_at / claimed_at). notify's
#      VmRSS is sampled every 200 ms; printed at the start (the first sample with a message
#      sent), the middle (N/2 sent) and the end (N sent). PASS/FAIL: >= 2,000 msg/s, and flat
#      memory (no more than 1 MiB from the middle to the end, 8 MiB from the start to the end).
#  (b) latency: intake, the router and notify subscribed to both; wrk posts Open311 reports with
#      a phone number (a new number each: the per-number SMS limits would otherwise be measured)
#      at BENCH_NOTIFY_RATE (500) a second for BENCH_NOTIFY_SECONDS (10); the latency of each is
#      the time from intake's acceptance of the ticket (intake.ticket.requested_at) to the 'received'
#      SMS's call at the fake (its record's time, both on this machine's clock). p50/p99. Needs
#      the planner (notify.plan, plans part): when no message is planned for a posted ticket
#      within 5 s, (b) is skipped and says so. Quiet hours are off here (they would hold the SMS).
# First, the fake's own ceiling (FAKE line): wrk posting robot messages straight to it for 5 s.
# Prints FAKE / THROUGHPUT / LATENCY lines and PASS/FAIL; exits nonzero only when something broke.
# Ports: BENCH_NOTIFY_FAKE_PORT (18190), BENCH_NOTIFY_HTTP_PORT (18186), BENCH_NOTIFY_PUB_PORT
# (17231: intake's events; +1 the router's commands, +2 its events).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
bin=$top/$BUILD/bin
N=${BENCH_NOTIFY_MESSAGES:-20000}
CHANNEL=${BENCH_NOTIFY_CHANNEL:-aliyun}
RATE=${BENCH_NOTIFY_RATE:-500}
SECS=${BENCH_NOTIFY_SECONDS:-10}
FAKE_PORT=${BENCH_NOTIFY_FAKE_PORT:-18190}
HTTP=${BENCH_NOTIFY_HTTP_PORT:-18186}
PUB=${BENCH_NOTIFY_PUB_PORT:-17231}
TARGET_MSG_S=2000
pgdir=$top/var/bench-notify-pg
out=$top/var/bench-out/notify
PSQL=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
for t in wrk curl /usr/bin/python3 "$PSQL" "$bin/gridgov-intake" "$bin/gridgov-router" "$bin/gridgov-notify" \
  "$bin/gridgovctl"; do
  command -v "$t" >/dev/null || die "missing $t (run 'make deps', then 'make bench', which builds it)"
done
case $CHANNEL in aliyun | robot) ;; *) die "BENCH_NOTIFY_CHANNEL: aliyun or robot" ;; esac

pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$top/deploy/pg.sh" stop "$pgdir" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

"$top/deploy/pg.sh" stop "$pgdir" >/dev/null 2>&1 || true
rm -rf "$pgdir" "$out"
mkdir -p "$out"
GRIDGOV_DB=$("$top/deploy/pg.sh" start "$pgdir") # the daemons' role
owner_db=$("$top/deploy/pg.sh" owner-url "$pgdir")
export GRIDGOV_DB
GRIDGOV_DB=$owner_db "$bin/gridgovctl" --set log_level=warn migrate deploy/migrations >/dev/null
GRIDGOV_DB=$owner_db "$bin/gridgovctl" --set log_level=warn seed-demo deploy/seed/demo_county.sql "$pgdir/api-key" >/dev/null
GRIDGOV_API_KEY=$(head -c 64 "$pgdir/api-key")
export GRIDGOV_API_KEY GRIDGOV_LOG_LEVEL=warn GRIDGOV_CALENDAR_DIR=$top/deploy/calendar GRIDGOV_RATE_LIMIT_PER_MINUTE=0
export GRIDGOV_CURVE_DIR=$out/curve
for k in intake router notify gridgovctl; do "$bin/gridgovctl" --set log_level=warn keygen "$k" "$GRIDGOV_CURVE_DIR" >/dev/null; done
sql() { "$PSQL" -X -q -tA -v ON_ERROR_STOP=1 "$owner_db" -c "$1"; }

# ---- the fake providers, limits raised -----------------------------------------------------------
/usr/bin/python3 - "$top/tests/fakes/default.json" >"$out/fake.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["aliyun"].update(per_number_template_day=0, param_max_chars=0)
c["tencent"].update(same_content_seconds=0, per_number_day=0)
c["wecom"].update(robot_per_minute=10**9)
c["wechat"].update(daily_quota=10**9)
json.dump(c, sys.stdout)
EOF
/usr/bin/python3 "$top/tests/fakes/providers.py" --port "$FAKE_PORT" --config "$out/fake.json" \
  >"$out/fake.out" 2>"$out/fake.log" &
pids+=($!)
fake=http://127.0.0.1:$FAKE_PORT
for _ in $(seq 1 100); do curl -fsS "$fake/_fake/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$fake/_fake/health" >/dev/null || die "the fake providers did not start (see $out/fake.log)"
robot_key=fa4e0000-0000-4000-8000-00000000f001
# notify's providers at the fake, with its credentials (tests/lib/fakes.h); its own limits off
notify_env=(
  GRIDGOV_WECHAT_API_BASE="$fake" GRIDGOV_WECHAT_APPID=wxfa4e0000000c0de1
  GRIDGOV_WECHAT_SECRET=f00dfeedf00dfeedf00dfeedf00dfeed GRIDGOV_WECOM_API_BASE="$fake"
  GRIDGOV_ALIYUN_SMS_ENDPOINT="$fake/aliyun/" GRIDGOV_ALIYUN_ACCESS_KEY_ID=LTAI5tFa4eKeyId00000000
  GRIDGOV_ALIYUN_ACCESS_KEY_SECRET=Fa4eAccessKeySecret00000000000 GRIDGOV_ALIYUN_SMS_SIGN_NAME=网格通
  GRIDGOV_SMS_PROVIDERS=aliyun GRIDGOV_SMS_SAME_TEMPLATE_S=0 GRIDGOV_SMS_PER_HOUR=0 GRIDGOV_SMS_PER_DAY=0
  GRIDGOV_WECOM_ROBOT_PER_MIN=0 GRIDGOV_QUIET_HOURS= GRIDGOV_SWEEP_MS=100
)
# the fake's own ceiling: robot messages straight from wrk, no notify (Python: it may be the limit)
BENCH_ROBOT_KEY=$robot_key wrk -t 2 -c 8 -d 5s -s "$top/bench/fake_robot.lua" "$fake" >"$out/fake_ceiling.txt" 2>&1 ||
  { cat "$out/fake_ceiling.txt" >&2; die "wrk against the fake failed"; }
fake_rps=$(sed -n 's/^WRK .* rps=\([0-9.]*\) .*/\1/p' "$out/fake_ceiling.txt")
echo "FAKE ceiling: $fake_rps robot calls/s straight from wrk (8 connections, 5 s), no notify" | tee "$out/results.txt"
curl -fsS -X POST -H 'Content-Type: application/json' -d '{}' "$fake/_fake/reset" >/dev/null
HZ=$(getconf CLK_TCK)
postmaster=$(head -1 "$pgdir/data/postmaster.pid")
fake_pid=${pids[0]}
# shellcheck disable=SC2086  # the fields of /proc/PID/stat, split on purpose
ticks() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }; s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }
pg_ticks() { local t=0 p; for p in "$postmaster" $(pgrep -P "$postmaster" || true); do t=$((t + $(ticks "$p"))); done; echo $t; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---- (a) throughput -------------------------------------------------------------------------------
sql "INSERT INTO notify.template (key, body, aliyun_code, tencent_id, sms_params)
     VALUES ('bench_notice', '网格通：您有新派单{code}', 'SMS_900009', '900009', '{code}') ON CONFLICT DO NOTHING"
if [ "$CHANNEL" = robot ]; then
  chan=wecom_robot addr="'$robot_key'" provider=wecom_robot
else
  chan=sms addr="(19000000000 + i)::text" provider=aliyun
fi
# as the planner inserts them, in one transaction
sql "INSERT INTO notify.message (id, dedup_key, template_key, audience, channel, address, params, body, due_at)
     SELECT u, 'bench/' || u, 'bench_notice', 'handler', '$chan', $addr, jsonb_build_object('code', 'GG-' || i),
            '网格通：您有新派单GG-' || i, now()
     FROM (SELECT i, gen_random_uuid() AS u FROM generate_series(1, $N) i) g"
say "throughput: $N messages pending ($provider through the fake), one notify"
env "${notify_env[@]}" GRIDGOV_SUB_ENDPOINTS= "$bin/gridgov-notify" 2>"$out/notify-a.log" &
npid=$!
pids+=("$npid")
pg0=$(pg_ticks) fake0=$(ticks "$fake_pid")
rss_start="" rss_mid="" rss_end="" sent=0
deadline=$((SECONDS + 90))
while :; do
  kill -0 "$npid" 2>/dev/null || { tail -5 "$out/notify-a.log" >&2; die "notify died"; }
  sent=$(sql "SELECT count(*) FROM notify.message WHERE state = 'sent'")
  r=$(rss_kib "$npid")
  echo "$sent $r" >>"$out/rss.txt"
  if [ -z "$rss_start" ] && [ "$sent" -gt 0 ]; then rss_start=$r; fi
  if [ -z "$rss_mid" ] && [ "$sent" -ge $((N / 2)) ]; then rss_mid=$r; fi
  if [ "$sent" -ge "$N" ]; then rss_end=$r; break; fi
  [ "$SECONDS" -lt "$deadline" ] || break
  sleep 0.2
done
pg1=$(pg_ticks) fake1=$(ticks "$fake_pid") notify1=$(ticks "$npid")
kill -TERM "$npid"
wait "$npid" || true
[ "$sent" -ge "$N" ] || say "only $sent of $N sent within 90 s"
dead=$(sql "SELECT count(*) FROM notify.message WHERE state = 'dead'")
at_fake=$(curl -fsS "$fake/_fake/counts" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$provider']['sent'])")
secs=$(sql "SELECT round(extract(epoch FROM max(sent_at) - min(claimed_at))::numeric, 3) FROM notify.message
            WHERE state = 'sent'")
rate=$(awk -v n="$sent" -v s="$secs" 'BEGIN {printf "%.0f", (s > 0 ? n / s : 0)}')
: "${rss_start:=0}" "${rss_mid:=0}" "${rss_end:=0}"
echo "THROUGHPUT channel=$provider messages=$N sent=$sent at_fake=$at_fake dead=$dead seconds=$secs msg_per_s=$rate" \
  "rss_start_kib=$rss_start rss_mid_kib=$rss_mid rss_end_kib=$rss_end" | tee -a "$out/results.txt"
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo FAIL; fi; }
ok_rate=$(awk -v r="$rate" -v t="$TARGET_MSG_S" -v s="$sent" -v n="$N" 'BEGIN {print ((r >= t && s >= n) ? 1 : 0)}')
ok_rss=$(awk -v a="$rss_start" -v m="$rss_mid" -v e="$rss_end" 'BEGIN {print ((e > 0 && e - m <= 1024 && e - a <= 8192) ? 1 : 0)}')
# CPU per message, whoever shares the machine: what the rate would be with two cores to itself
per_msg() { awk -v t="$1" -v hz="$HZ" -v n="$sent" 'BEGIN {printf "%.3f", (n > 0 ? 1000 * t / hz / n : 0)}'; }
echo "CPU per message (ms): notify $(per_msg "$notify1") postgres $(per_msg $((pg1 - pg0))) fake $(per_msg $((fake1 - fake0)))" |
  tee -a "$out/results.txt"
echo "$(verdict "$ok_rate") throughput: $rate msg/s (target >= $TARGET_MSG_S), $sent of $N sent, $at_fake taken by the fake, $dead dead"
echo "$(verdict "$ok_rss") memory: notify's RSS $((rss_start / 1024)) / $((rss_mid / 1024)) / $((rss_end / 1024)) MiB at start / middle / end" \
  "($( [ "$ok_rss" = 1 ] && echo flat || echo growing): +$(( rss_end - rss_mid )) KiB middle to end, +$(( rss_end - rss_start )) KiB start to end)"

# ---- (b) latency: Open311 POST -> the provider call ------------------------------------------------
sql "DELETE FROM notify.attempt; DELETE FROM notify.dead_letter; DELETE FROM notify.message" >/dev/null
curl -fsS -X POST -H 'Content-Type: application/json' -d '{}' "$fake/_fake/reset" >/dev/null
GRIDGOV_HTTP_PORT=$HTTP GRIDGOV_HTTP_THREADS=8 GRIDGOV_PUB_ENDPOINT=tcp://127.0.0.1:$PUB \
  GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:$((PUB + 1)) "$bin/gridgov-intake" 2>"$out/intake.log" &
pids+=($!)
GRIDGOV_SUB_ENDPOINTS=intake@tcp://127.0.0.1:$PUB GRIDGOV_COMMAND_ENDPOINT=tcp://127.0.0.1:$((PUB + 1)) \
  GRIDGOV_ROUTER_PUB_ENDPOINT=tcp://127.0.0.1:$((PUB + 2)) "$bin/gridgov-router" 2>"$out/router.log" &
pids+=($!)
env "${notify_env[@]}" GRIDGOV_SUB_ENDPOINTS="intake@tcp://127.0.0.1:$PUB,router@tcp://127.0.0.1:$((PUB + 2))" \
  "$bin/gridgov-notify" 2>"$out/notify-b.log" &
pids+=($!)
url=http://127.0.0.1:$HTTP
for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1 # the subscriptions connect
# one report first: does anything plan an SMS for it?
curl -fsS -o /dev/null --data-urlencode "api_key=$GRIDGOV_API_KEY" -d service_code=LIGHT \
  --data-urlencode "attribute[fault_type]=off" -d lat=28.2 -d long=113.1 -d phone=13500000000 \
  --data-urlencode "description=村口路灯不亮，晚上出行不便" "$url/open311/v2/requests.json" || die "intake refused the report"
planned=0
for _ in $(seq 1 50); do
  planned=$(sql "SELECT count(*) FROM notify.message WHERE channel = 'sms' AND address = '13500000000'")
  [ "$planned" -gt 0 ] && break
  sleep 0.1
done
if [ "$planned" = 0 ]; then
  echo "SKIP latency: no SMS was planned within 5 s for a posted report with a phone (ticket.created plans" \
    "nothing: the planner, notify.plan, is not in this build)"
  exit 0
fi
conns=64 # paced by delay(): each connection waits conns/rate s, plus its answer
say "latency: wrk posting $RATE reports a second for ${SECS}s, a new phone number each"
BENCH_RATE=$RATE BENCH_CONNECTIONS=$conns wrk -t 2 -c "$conns" -d "${SECS}s" -s "$top/bench/notify_post.lua" "$url" \
  >"$out/wrk.txt" 2>&1 || { cat "$out/wrk.txt" >&2; die "wrk failed"; }
posted=$(sql "SELECT count(*) FROM intake.ticket WHERE phone LIKE '136%'")
# every planned SMS reaches the fake (or 30 s pass)
for _ in $(seq 1 300); do
  left=$(sql "SELECT count(*) FROM notify.message WHERE channel = 'sms' AND address LIKE '136%' AND state IN ('pending', 'sending')")
  [ "$left" = 0 ] && break
  sleep 0.1
done
curl -fsS "$fake/_fake/sent?provider=aliyun" | /usr/bin/python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("key"):
        print("%s,%.6f" % (r["key"], r["time"]))' >"$out/fake_sent.csv"
"$PSQL" -X -q -tA -v ON_ERROR_STOP=1 "$owner_db" >"$out/latency.txt" <<EOF
CREATE TEMP TABLE at_fake (id uuid, t double precision);
\copy at_fake FROM '$out/fake_sent.csv' WITH (FORMAT csv)
WITH l AS (SELECT DISTINCT ON (m.id) 1000 * (f.t - extract(epoch FROM k.requested_at)) AS ms
           FROM notify.message m JOIN intake.ticket k ON k.phone = m.address JOIN at_fake f ON f.id = m.id
           WHERE m.channel = 'sms' AND m.address LIKE '136%' ORDER BY m.id, f.t)
SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(max(ms)::numeric, 1) FROM l;
EOF
# where the time goes, p50/p99 of each leg (ms): POST -> planned (bus, consumer, planner; created_at
# is the planning transaction's start) -> dispatched (claimed_at: the sender's wake-up and claim)
# -> at the fake (the call)
"$PSQL" -X -q -tA -v ON_ERROR_STOP=1 "$owner_db" >"$out/legs.txt" <<EOF
CREATE TEMP TABLE at_fake (id uuid, t double precision);
\copy at_fake FROM '$out/fake_sent.csv' WITH (FORMAT csv)
WITH l AS (SELECT DISTINCT ON (m.id) 1000 * extract(epoch FROM m.created_at - k.requested_at) AS plan,
                  1000 * extract(epoch FROM m.claimed_at - m.created_at) AS claim,
                  1000 * (f.t - extract(epoch FROM m.claimed_at)) AS call
           FROM notify.message m JOIN intake.ticket k ON k.phone = m.address JOIN at_fake f ON f.id = m.id
           WHERE m.channel = 'sms' AND m.address LIKE '136%' ORDER BY m.id, f.t)
SELECT 'planned ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY plan)::numeric, 1) || '/'
       || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY plan)::numeric, 1)
       || ', dispatched ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY claim)::numeric, 1) || '/'
       || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY claim)::numeric, 1)
       || ', at the fake ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY call)::numeric, 1) || '/'
       || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY call)::numeric, 1) FROM l;
EOF
IFS='|' read -r n p50 p99 mx <"$out/latency.txt"
wrk_rps=$(awk '/^Requests\/sec/ {print $2}' "$out/wrk.txt")
echo "LATENCY posted=$posted rps=$wrk_rps sms_at_fake=$n p50_ms=$p50 p99_ms=$p99 max_ms=$mx" | tee -a "$out/results.txt"
echo "LATENCY legs (ms, p50/p99, POST -> planned -> dispatched -> at the fake): $(cat "$out/legs.txt")" | tee -a "$out/results.txt"
[ "$n" -gt 0 ] || die "no planned SMS reached the fake"
