#!/usr/bin/env bash
# Does assignment keep up with intake? In one run, on a private PostgreSQL, wrk posting Open311
# reports at random points of the county for BENCH_DURATION seconds:
#  1. together: intake and the router share the machine. Every second the backlog (tickets intake
#     answered that the router has not routed yet) is sampled. Keeping up means the backlog does
#     not grow while intake runs flat out: PASS when, between the 3rd second and the end of the
#     load, it grows by less than one consumer transaction (500 events, the router's unit of
#     work). Also printed: both rates over that window, and over the whole run the tickets
#     assigned divided by the time from the first request until the last was assigned.
#  2. apart (capacity): the router stopped, wrk against intake alone (its full rate with the whole
#     machine), then the router started on that backlog: tickets assigned per second while it
#     drains. Printed for comparison: what each side can do when it does not share the 2 cores.
# `make bench` runs it after run.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
bin=$top/$BUILD/bin
C=${BENCH_CONNECTIONS:-8}
DUR=${BENCH_DURATION:-15}
HTTP=${BENCH_ASSIGN_HTTP_PORT:-18185}
PUB=${BENCH_ASSIGN_PUB_PORT:-17221}
pgdir=$top/var/bench-assign-pg
out=$top/var/bench-out
mkdir -p "$out"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$top/deploy/pg.sh" stop "$pgdir" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

"$top/deploy/pg.sh" stop "$pgdir" >/dev/null 2>&1 || true
rm -rf "$pgdir"
export GRIDGOV_DB=$("$top/deploy/pg.sh" start "$pgdir")   # the daemons' role
owner_db=$("$top/deploy/pg.sh" owner-url "$pgdir")
GRIDGOV_DB=$owner_db "$bin/gridgovctl" --set log_level=warn migrate deploy/migrations
GRIDGOV_DB=$owner_db "$bin/gridgovctl" --set log_level=warn seed-demo deploy/seed/demo_county.sql "$pgdir/api-key"
export GRIDGOV_API_KEY=$(cat "$pgdir/api-key")
export GRIDGOV_LOG_LEVEL=warn GRIDGOV_CALENDAR_DIR=$top/deploy/calendar
# The bus as in production: CURVE, with keys of this run's own.
export GRIDGOV_CURVE_DIR=$out/assign-curve
rm -rf "$GRIDGOV_CURVE_DIR"
for k in intake router notify gridgovctl; do "$bin/gridgovctl" --set log_level=warn keygen "$k" "$GRIDGOV_CURVE_DIR" >/dev/null; done
# One API key at full load: the per-key rate limit is not what is measured here.
export GRIDGOV_RATE_LIMIT_PER_MINUTE=0
GRIDGOV_HTTP_PORT=$HTTP GRIDGOV_HTTP_THREADS=$C GRIDGOV_PUB_ENDPOINT=tcp://127.0.0.1:$PUB \
  GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:$((PUB + 1)) "$bin/gridgov-intake" 2>"$out/assign-intake.log" &
pids+=($!)
start_router() {
  GRIDGOV_SUB_ENDPOINTS=intake@tcp://127.0.0.1:$PUB GRIDGOV_COMMAND_ENDPOINT=tcp://127.0.0.1:$((PUB + 1)) \
    GRIDGOV_ROUTER_PUB_ENDPOINT=tcp://127.0.0.1:$((PUB + 2)) "$bin/gridgov-router" 2>>"$out/assign-router.log" &
  router_pid=$!
  pids+=("$router_pid")
}
: >"$out/assign-router.log"
start_router
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

count() { psql -XAtq "$GRIDGOV_DB" -c "$1"; }
# waits (at most 10 minutes) until the router has every ticket intake answered
drain() {
  local want; want=$(count "SELECT count(*) FROM intake.ticket")
  for _ in $(seq 1 3000); do
    [ "$(count "SELECT count(*) FROM router.ticket")" -ge "$want" ] && return 0
    sleep 0.2
  done
  return 1
}
start=$(date +%s.%N)
wrk -t 2 -c "$C" -d "${DUR}s" -s bench/open311_spread.lua "http://127.0.0.1:$HTTP" > "$out/assign-wrk.txt" &
wrk_pid=$!
# samples: seconds since start, tickets answered, tickets routed
: >"$out/assign-samples.txt"
while kill -0 "$wrk_pid" 2>/dev/null; do
  now=$(date +%s.%N)
  echo "$(echo "$now - $start" | bc -l) $(count "SELECT (SELECT count(*) FROM intake.ticket) || ' ' || (SELECT count(*) FROM router.ticket)")" >>"$out/assign-samples.txt"
  sleep 1
done
wait "$wrk_pid"
line=$(grep '^WRK' "$out/assign-wrk.txt")
# the steady window: from the 3rd second to the last sample taken under load
read -r w0 i0 r0 w1 i1 r1 < <(awk -v dur="$DUR" '$1 >= 3 && !s { s = $0 } $1 <= dur - 0.5 { e = $0 } END { print s, e }' "$out/assign-samples.txt")
answered=$(count "SELECT count(*) FROM intake.ticket")
drain || true
end=$(date +%s.%N)
routed=$(count "SELECT count(*) FROM router.ticket")
intake_rps=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")
assign_rps=$(echo "$routed / ($end - $start)" | bc -l)
# 2. apart: intake alone, then the router on the backlog
kill -TERM "$router_pid"; wait "$router_pid" 2>/dev/null || true
before=$(count "SELECT count(*) FROM router.ticket")
wrk -t 2 -c "$C" -d "${DUR}s" -s bench/open311_spread.lua "http://127.0.0.1:$HTTP" > "$out/assign-wrk-alone.txt"
line_alone=$(grep '^WRK' "$out/assign-wrk-alone.txt")
backlog=$(( $(count "SELECT count(*) FROM intake.ticket") - before ))
d0=$(date +%s.%N)
start_router
drain || { echo "bench: the router did not drain the backlog" >&2; exit 1; }
d1=$(date +%s.%N)
alone_rps=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line_alone")
drain_rps=$(echo "$backlog / ($d1 - $d0)" | bc -l)

printf '\n==== gridgov assignment bench: %s, 2 cores, C=%s, %ss of load ====\n' "$(date -u +%FT%H:%MZ)" "$C" "$DUR"
printf 'intake   %s\n' "$line"
printf 'router   %d tickets assigned in %.1f s from the first request: %.1f per second\n' "$routed" \
  "$(echo "$end - $start" | bc -l)" "$assign_rps"
ratio=$(echo "$assign_rps / $intake_rps" | bc -l)
printf 'ratio    assignment/intake over the whole run %.3f\n' "$ratio"
growth=$(( (i1 - r1) - (i0 - r0) ))
printf 'steady   from %.1f s to %.1f s: intake %.1f/s, router %.1f/s (ratio %.3f); backlog %d -> %d tickets (grew by %d)\n' \
  "$w0" "$w1" "$(echo "($i1 - $i0) / ($w1 - $w0)" | bc -l)" "$(echo "($r1 - $r0) / ($w1 - $w0)" | bc -l)" \
  "$(echo "($r1 - $r0) / ($i1 - $i0)" | bc -l)" "$((i0 - r0))" "$((i1 - r1))" "$growth"
printf 'apart    intake alone %.1f req/s; router alone on that backlog: %d tickets in %.1f s, %.1f per second: ratio %.3f\n' \
  "$alone_rps" "$backlog" "$(echo "$d1 - $d0" | bc -l)" "$drain_rps" "$(echo "$drain_rps / $alone_rps" | bc -l)"
if [ "$growth" -lt 500 ]; then v=PASS; else v=FAIL; fi
echo "$v  assignment keeps up with intake: under full load the backlog grew by $growth (keeping up: less than 500)"
[ "$routed" -ge "$answered" ] || { echo "bench: the router did not finish" >&2; exit 1; }
