#!/usr/bin/env bash
# The gridgov benchmark behind `make bench`: how close intake's Open311 POST comes to what
# PostgreSQL itself can commit, and how much memory intake needs while doing it.
#
# One run: a private PostgreSQL (fsync and synchronous_commit on), migrations and the demo county,
# then ROUNDS rounds of
#   pgbench  bench/ceiling.sql: the one statement intake runs per POST, C connections
#   wrk      bench/open311_post.lua against gridgov-intake with http_threads=C, C connections
# with intake's RSS and the CPU of intake, postgres and the load generator sampled every second.
# Prints a summary with the medians and PASS/FAIL lines against the targets
# (intake/pgbench >= 0.8, max RSS < 64 MiB); each round ends with one more pgbench run next to a
# stand-in that only spends intake's CPU (see "what intake's CPU alone costs PostgreSQL" below).
# Exits 0 whatever the targets say, nonzero when something broke: a tool missing, intake died,
# a request or transaction failed.
#
# Environment: BUILD (build), BENCH_CONNECTIONS (8), BENCH_HTTP_THREADS (= connections),
# BENCH_DURATION seconds per measurement (15), BENCH_ROUNDS (2), BENCH_WRK_THREADS (2),
# BENCH_PGBENCH_MODE (prepared: the protocol intake uses for the insert; or extended, simple),
# BENCH_HTTP_PORT (18180), BENCH_PUB_PORT (17201), BENCH_PGDIR (var/bench-pg, wiped each run),
# BENCH_OUT (var/bench-out: raw outputs of every tool, wiped each run), BENCH_GET_DURATION seconds
# per GET measurement (10), BENCH_GET_CODES (1000: tickets the GETs spread over).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
bin=$top/$BUILD/bin
C=${BENCH_CONNECTIONS:-8}
HTTP_THREADS=${BENCH_HTTP_THREADS:-$C}
DUR=${BENCH_DURATION:-15}
ROUNDS=${BENCH_ROUNDS:-2}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
PGB_MODE=${BENCH_PGBENCH_MODE:-prepared}
HTTP_PORT=${BENCH_HTTP_PORT:-18180}
PUB_PORT=${BENCH_PUB_PORT:-17201}
pgdir=${BENCH_PGDIR:-$top/var/bench-pg}
out=${BENCH_OUT:-$top/var/bench-out}
GET_DUR=${BENCH_GET_DURATION:-10}
GET_CODES=${BENCH_GET_CODES:-1000}
TARGET_RATIO=0.8
TARGET_RSS_MIB=64
TARGET_GET_RATIO=2   # GET of one request against the durable POST, same run, same connections

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# ---- tools -------------------------------------------------------------------------------------
PGBENCH=$(command -v pgbench || true)
[ -n "$PGBENCH" ] || PGBENCH=/usr/lib/postgresql/15/bin/pgbench
PSQL=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)
for t in wrk curl "$PGBENCH" "$PSQL" "$bin/gridgov-intake" "$bin/gridgovctl" "$bin/gridgov-cotenant"; do
  command -v "$t" >/dev/null || die "missing $t (run 'make deps', then 'make bench', which builds it)"
done
[ "$WRK_THREADS" -le "$C" ] || WRK_THREADS=$C
PGB_THREADS=$(( C < 2 ? C : 2 ))
HZ=$(getconf CLK_TCK)

# ---- cleanup: whatever happens, stop what this script started ------------------------------------
intake_pid=""
sampler_pid=""
co_pid=""
pg_started=0
stop_intake() {
  [ -n "$intake_pid" ] || return 0
  kill -TERM "$intake_pid" 2>/dev/null || true
  wait "$intake_pid" 2>/dev/null || true
  intake_pid=""
}
stop_sampler() {
  [ -n "$sampler_pid" ] || return 0
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  sampler_pid=""
}
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  trap - EXIT INT TERM
  stop_sampler
  stop_intake
  [ -z "$co_pid" ] || kill "$co_pid" 2>/dev/null || true
  [ "$pg_started" = 0 ] || "$top/deploy/pg.sh" stop "$pgdir" || true
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# ---- PostgreSQL, schema, demo county -------------------------------------------------------------
"$top/deploy/pg.sh" stop "$pgdir" 2>/dev/null || true   # a server left behind by a killed run
rm -rf "$pgdir" "$out"
mkdir -p "$out"
pg_started=1
# intake and pgbench connect as the daemons' role (over the socket); the schema is the owner's,
# and the housekeeping between measurements (VACUUM, CHECKPOINT) is the superuser's.
GRIDGOV_DB=$("$top/deploy/pg.sh" start "$pgdir")
owner_db=$("$top/deploy/pg.sh" owner-url "$pgdir")
admin_db=$("$top/deploy/pg.sh" admin-url "$pgdir")
export GRIDGOV_DB GRIDGOV_LOG_LEVEL=warn
# One API key at thousands of requests a second: the per-key rate limit would measure itself.
export GRIDGOV_RATE_LIMIT_PER_MINUTE=0
# The bus as in production: CURVE, with keys of this run's own.
export GRIDGOV_CURVE_DIR=$out/curve
for k in intake router notify gridgovctl; do "$bin/gridgovctl" keygen "$k" "$GRIDGOV_CURVE_DIR" >/dev/null; done
GRIDGOV_DB=$owner_db "$bin/gridgovctl" migrate deploy/migrations
GRIDGOV_DB=$owner_db "$bin/gridgovctl" seed-demo deploy/seed/demo_county.sql "$pgdir/api-key"
GRIDGOV_API_KEY=$(head -c 64 "$pgdir/api-key")
export GRIDGOV_API_KEY
sql() { "$PSQL" -X -q -tA -v ON_ERROR_STOP=1 "$admin_db" -c "$1"; }
client_id=$(sql "SELECT max(id) FROM registry.api_client WHERE active")
[ -n "$client_id" ] || die "seed-demo left no API client"
postmaster=$(head -1 "$pgdir/data/postmaster.pid")

# Before each measurement: drop the events the previous one left (pgbench's rows carry intake's
# source, and intake's relay would publish them during the next wrk round: work that is not the
# request's own), vacuum and checkpoint, so neither tool pays for the other's dirty pages.
settle() {
  sql "DELETE FROM bus.outbox" >/dev/null
  sql "VACUUM ANALYZE bus.outbox" >/dev/null
  sql "VACUUM ANALYZE intake.ticket" >/dev/null
  sql "CHECKPOINT" >/dev/null
}

# ---- sampling ----------------------------------------------------------------------------------
# Every second: intake's VmRSS, the CPU ticks (utime+stime) of intake, of postgres (the
# postmaster and its children) and of the load generator, one "group pid ticks" line each, and
# the busy ticks of the whole machine.
# shellcheck disable=SC2086  # the fields of /proc/PID/stat after "(comm) ", split on purpose
ticks() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; s=${s##*) }; set -- $s; echo $(( ${12} + ${13} )); }
sampler() {  # sampler LOAD_PID [INTAKE_PID] > file
  local load=$1 intake=${2:-} n=0 p t
  while :; do
    echo "S $n"
    awk '$1 == "cpu" {print "T", $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat
    if [ -n "$intake" ]; then
      awk '/^VmRSS:/ {print "R", $2}' "/proc/$intake/status" 2>/dev/null || true
      t=$(ticks "$intake"); [ -z "$t" ] || echo "C intake $intake $t"
    fi
    t=$(ticks "$load"); [ -z "$t" ] || echo "C load $load $t"
    for p in "$postmaster" $(pgrep -P "$postmaster" || true); do
      t=$(ticks "$p"); [ -z "$t" ] || echo "C postgres $p $t"
    done
    n=$((n + 1))
    sleep 1
  done
}
# CPU per group over the sampled time, in % of one core; a pid already there at the first sample
# counts from that sample, one that appeared later from zero. Also prints the max RSS in KiB.
summarize_samples() {
  awk -v hz="$HZ" '
    $1 == "S" { s = $2 }
    $1 == "R" && $2 > rss { rss = $2 }
    $1 == "T" { if (s == 0) t0 = $2; t1 = $2 }
    $1 == "C" { k = $2 SUBSEP $3; if (!(k in first)) first[k] = (s == 0 ? $4 : 0); last[k] = $4; grp[$2] }
    END {
      for (k in last) { split(k, a, SUBSEP); used[a[1]] += last[k] - first[k] }
      secs = s > 0 ? s : 1
      for (g in grp) { printf "cpu_%s=%.0f ", g, 100 * used[g] / hz / secs; ours += used[g] }
      # Everything else busy on the machine meanwhile (other people'"'"'s tests): the noise.
      other = (t1 - t0) - ours
      printf "cpu_other=%.0f ", (other > 0 ? 100 * other / hz / secs : 0)
      printf "rss_kib=%d\n", rss
    }' "$1"
}

# ---- one pgbench measurement -------------------------------------------------------------------
# run_pgbench NAME [TAG]: the result line starts with TAG (PGB); the co-tenant phase uses COT.
run_pgbench() {
  local r=$1 tag=${2:-PGB} log=$out/pgbench_r$1.txt
  settle
  say "round $r: pgbench -c $C -j $PGB_THREADS -M $PGB_MODE -T $DUR"
  "$PGBENCH" -n -M "$PGB_MODE" -c "$C" -j "$PGB_THREADS" -T "$DUR" -D client="$client_id" \
    -f "$top/bench/ceiling.sql" -l --log-prefix="$out/pgbench_r$r.log" "$GRIDGOV_DB" >"$log" 2>&1 &
  local pid=$!
  sampler "$pid" >"$out/samples_pgbench_r$r.txt" &
  sampler_pid=$!
  wait "$pid" || { stop_sampler; cat "$log" >&2; die "pgbench failed"; }
  stop_sampler
  local tps failed p50 p99
  tps=$(awk '/^tps = / {print $3; exit}' "$log")
  failed=$(awk '/number of failed transactions:/ {print $5; exit}' "$log")
  # Per-transaction log lines: client_id transaction_no latency_us script_no epoch epoch_us.
  read -r p50 p99 < <(cat "$out"/pgbench_r"$r".log.* | awk '{print $3}' | sort -n |
    awk '{v[NR] = $1} END {i50 = int(NR * 0.50); i99 = int(NR * 0.99); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1;
                           printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000}')
  [ -n "$tps" ] || die "cannot read tps from $log"
  [ "${failed:-0}" = 0 ] || die "pgbench: $failed failed transactions (see $log)"
  echo "$tag tps=$tps p50_ms=$p50 p99_ms=$p99 $(summarize_samples "$out/samples_pgbench_r$r.txt")" | tee -a "$out/results.txt" >&2
}

# ---- intake, started fresh for each round's HTTP measurements -------------------------------------
url=http://127.0.0.1:$HTTP_PORT
start_intake() {
  GRIDGOV_HTTP_PORT=$HTTP_PORT GRIDGOV_PUB_ENDPOINT=tcp://127.0.0.1:$PUB_PORT GRIDGOV_HTTP_THREADS=$HTTP_THREADS \
    "$bin/gridgov-intake" 2>>"$out/intake.log" &
  intake_pid=$!
  local ok=0
  for _ in $(seq 1 100); do
    kill -0 "$intake_pid" 2>/dev/null || break
    if curl -fsS -o /dev/null "$url/healthz" 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  [ "$ok" = 1 ] || { tail -5 "$out/intake.log" >&2; die "intake did not become healthy on $url"; }
}

# ---- one wrk measurement against the running intake ---------------------------------------------
# wrk_measure TAG NAME SECONDS SCRIPT: raw output in NAME.txt, samples in samples_NAME.txt, and one
# result line starting with TAG. The environment reaches the script (os.getenv).
wrk_measure() {
  local tag=$1 name=$2 secs=$3 script=$4 log=$out/$2.txt
  wrk -t "$WRK_THREADS" -c "$C" -d "${secs}s" --latency -s "$script" "$url" >"$log" 2>&1 &
  local pid=$!
  sampler "$pid" "$intake_pid" >"$out/samples_$name.txt" &
  sampler_pid=$!
  wait "$pid" || { stop_sampler; cat "$log" >&2; die "wrk failed"; }
  stop_sampler
  if ! kill -0 "$intake_pid" 2>/dev/null; then
    local rc=0
    wait "$intake_pid" || rc=$?
    intake_pid=""
    tail -20 "$out/intake.log" >&2
    die "intake died under load (exit status $rc$( [ "$rc" -gt 128 ] && echo ", signal $(kill -l $((rc - 128)))"))"
  fi
  # A worker thread opens its PostgreSQL connection on its first request, so this counts the
  # threads that got at least one of wrk's connections: below C, some connections shared a thread
  # (and its one database connection) and waited for each other.
  local used line
  used=$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gridgov-intake'")
  line=$(grep '^WRK ' "$log") || { cat "$log" >&2; die "no result line from wrk"; }
  echo "$tag ${line#WRK } threads_used=$used $(summarize_samples "$out/samples_$name.txt")" | tee -a "$out/results.txt" >&2
}

# ---- the POST, against a fresh intake --------------------------------------------------------------
run_wrk() {
  local r=$1
  settle
  start_intake
  say "round $r: wrk -t $WRK_THREADS -c $C -d ${DUR}s, intake http_threads=$HTTP_THREADS"
  wrk_measure WRK "wrk_r$r" "$DUR" "$top/bench/open311_post.lua"
  stop_intake
}

# ---- GET of one request, against a fresh intake ----------------------------------------------------
# After the round's POSTs, in the same database: GET_CODES codes of the tickets posted so far, in
# random order, which bench/get_one.lua walks through (each wrk thread from another place), so
# the reads spread over many rows. First Open311 JSON, then the native API, C connections each,
# as the POST. These reads are prepared once per connection in intake (services/intake/stmt.h):
# the first requests on each connection prepare them.
run_get() {
  local r=$1 codes=$out/codes_r$1.txt
  sql "SELECT code FROM intake.ticket ORDER BY random() LIMIT $GET_CODES" >"$codes"
  [ -s "$codes" ] || die "no tickets to read back"
  settle
  start_intake
  say "round $r: wrk GET of one request, Open311 JSON, then native, ${GET_DUR}s each over $(wc -l <"$codes") tickets"
  BENCH_CODES=$codes BENCH_GET_PATH='/open311/v2/requests/%s.json' \
    wrk_measure GETO "get_open311_r$r" "$GET_DUR" "$top/bench/get_one.lua"
  BENCH_CODES=$codes BENCH_GET_PATH='/api/v1/tickets/%s' \
    wrk_measure GETN "get_native_r$r" "$GET_DUR" "$top/bench/get_one.lua"
  stop_intake
}

# field TAG KEY: the values of KEY=... on the result lines starting with TAG, one a line.
field() { awk -v tag="$1" -v key="$2" '$1 == tag { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] } }' "$out/results.txt"; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else printf "%.5g\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
max() { sort -g | tail -1; }
sum() { awk '{s += $1} END {print s + 0}'; }
calc() { awk "BEGIN {printf \"%.${2:-1}f\", ($1)}"; }  # calc EXPR [DECIMALS]
share() { calc "$2 > 0 ? $1 / $2 : 0" 3; }                # share PART WHOLE: 3 decimals
at_least() { calc "$1 >= $2" 0; }                         # 1 or 0

# ---- what intake's CPU alone costs PostgreSQL ------------------------------------------------------
# On a machine whose cores PostgreSQL shares with intake, intake's CPU slows PostgreSQL down
# whatever intake's latency. To price that part apart, each round ends with pgbench next to
# gridgov-cotenant (bench/cotenant.c), which only spends the CPU that intake spent per request in
# the round's wrk run, at TARGET_RATIO x the round's pgbench rate, in two bursts per request like
# intake's two wake-ups (for the request, for the database's answer). wrk is left out: it stands
# for pgbench's own client, which costs about as much per transaction (both are printed). If
# pgbench then stays below TARGET_RATIO of its ceiling, no intake with that CPU per request can
# reach the target on this machine, however little latency it adds.
# last TAG KEY: KEY=... on the newest result line starting with TAG.
last() { field "$1" "$2" | tail -1; }
run_cotenant() {
  local r=$1 intake_us rate period burst
  intake_us=$(calc "$(last WRK cpu_intake) * 1e4 / $(last WRK rps)")
  rate=$(calc "$TARGET_RATIO * $(last PGB tps)" 0)
  period=$(calc "1e6 / $rate")
  burst=$(calc "$intake_us / 2")
  say "round $r: gridgov-cotenant: intake spent $intake_us µs of CPU per request: $burst µs every $period µs in each of 2 threads"
  "$bin/gridgov-cotenant" 2 "$burst" "$period" $((DUR + 2)) >"$out/cotenant_r$r.txt" 2>&1 &
  co_pid=$!
  run_pgbench "co$r" COT
  wait "$co_pid" || { cat "$out/cotenant_r$r.txt" >&2; die "gridgov-cotenant failed"; }
  co_pid=""
  local used want
  used=$(sed -n 's/^cotenant cpu=//p' "$out/cotenant_r$r.txt")
  want=$(calc "$intake_us * $rate / 1e4")
  # Short of its budget, the stand-in flatters PostgreSQL: say so rather than print a bound.
  [ "$(at_least "$used" "0.9 * $want")" = 1 ] ||
    say "warning: gridgov-cotenant used $used % of a core, not $want %: round $r's headroom is too kind"
  echo "COTENANT intake_us=$intake_us rate=$rate cpu=$used want=$want" | tee -a "$out/results.txt" >&2
}

for r in $(seq 1 "$ROUNDS"); do
  run_pgbench "$r"
  run_wrk "$r"
  run_cotenant "$r"
  run_get "$r"
done

# ---- summary -----------------------------------------------------------------------------------
w_rps=$(field WRK rps | median); w_p50=$(field WRK p50_ms | median); w_p99=$(field WRK p99_ms | median)
w_requests=$(field WRK requests | sum)
errors() { echo $(( $(field "$1" non2xx | sum) + $(field "$1" connect_err | sum) + $(field "$1" read_err | sum) + $(field "$1" write_err | sum) + $(field "$1" timeouts | sum) )); }
w_errors=$(errors WRK)
rss_mib=$(field WRK rss_kib | max | awk '{printf "%.1f", $1 / 1024}')
w_cpu_i=$(field WRK cpu_intake | median); w_cpu_p=$(field WRK cpu_postgres | median); w_cpu_l=$(field WRK cpu_load | median); w_cpu_o=$(field WRK cpu_other | median)
p_tps=$(field PGB tps | median); p_p50=$(field PGB p50_ms | median); p_p99=$(field PGB p99_ms | median)
p_cpu_p=$(field PGB cpu_postgres | median); p_cpu_l=$(field PGB cpu_load | median); p_cpu_o=$(field PGB cpu_other | median)
ratio=$(share "$w_rps" "$p_tps")
c_tps=$(field COT tps | median); intake_us=$(field COTENANT intake_us | median)
co_rate=$(field COTENANT rate | median); co_used=$(field COTENANT cpu | median)
c_ratio=$(share "$c_tps" "$p_tps")
c_ok=$(at_least "$c_ratio" "$TARGET_RATIO")
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo FAIL; fi; }
ratio_ok=$(at_least "$ratio" "$TARGET_RATIO")
rss_ok=$(calc "$rss_mib < $TARGET_RSS_MIB" 0)
# GET of one request: medians, the ratio to the POST's median, and each round's own ratio.
per_round() { paste -d ' ' <(field "$1" rps) <(field WRK rps) | awk '{printf "%s%.2f", (NR > 1 ? " " : ""), ($2 > 0 ? $1 / $2 : 0)}'; }
get_line() {  # get_line TAG LABEL
  local rps; rps=$(field "$1" rps | median)
  printf 'intake   %s   %s req/s   p50 %s ms   p99 %s ms   = %s x the POST (rounds: %s)   (%s requests, %s errors)\n' \
    "$2" "$rps" "$(field "$1" p50_ms | median)" "$(field "$1" p99_ms | median)" "$(share "$rps" "$w_rps")" \
    "$(per_round "$1")" "$(field "$1" requests | sum)" "$(errors "$1")"
  printf '         CPU %% of one core: intake %s, postgres %s, wrk %s, rest of the machine %s\n' "$(field "$1" cpu_intake | median)" \
    "$(field "$1" cpu_postgres | median)" "$(field "$1" cpu_load | median)" "$(field "$1" cpu_other | median)"
}
go_ratio=$(share "$(field GETO rps | median)" "$w_rps"); gn_ratio=$(share "$(field GETN rps | median)" "$w_rps")
get_ok=$(( $(at_least "$go_ratio" "$TARGET_GET_RATIO") && $(at_least "$gn_ratio" "$TARGET_GET_RATIO") ))

cat <<EOF

==== gridgov bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, BUILD=$BUILD, C=$C, http_threads=$HTTP_THREADS, $ROUNDS x ${DUR}s each (GET ${GET_DUR}s), medians ====
intake   Open311 POST   $w_rps req/s   p50 $w_p50 ms   p99 $w_p99 ms   max RSS $rss_mib MiB   ($w_requests requests, $w_errors errors)
         CPU % of one core: intake $w_cpu_i, postgres $w_cpu_p, wrk $w_cpu_l, rest of the machine (other processes, kernel) $w_cpu_o
         worker threads that served wrk's $C connections: $(field WRK threads_used | tr '\n' ' ')of $HTTP_THREADS
$(get_line GETO "GET one, Open311 JSON")
$(get_line GETN "GET one, native      ")
pgbench  create_ticket  $p_tps tps     p50 $p_p50 ms   p99 $p_p99 ms   (-M $PGB_MODE)
         CPU % of one core: postgres $p_cpu_p, pgbench $p_cpu_l, rest of the machine $p_cpu_o
ratio    intake/pgbench $ratio
cpu only pgbench next to gridgov-cotenant spending intake's $intake_us µs of CPU per request at $co_rate/s
         (used $co_used % of one core): $c_tps tps = $c_ratio of the ceiling
         (the clients, per request: wrk $(calc "$w_cpu_l * 1e4 / $w_rps") µs, pgbench $(calc "$p_cpu_l * 1e4 / $p_tps") µs)
$(verdict "$ratio_ok")  throughput: intake/pgbench $ratio >= $TARGET_RATIO
$(verdict "$c_ok")  headroom: with intake's CPU per request and no latency at all, pgbench keeps $c_ratio >= $TARGET_RATIO
$(verdict "$rss_ok")  memory: max RSS $rss_mib MiB < $TARGET_RSS_MIB MiB
$(verdict "$get_ok")  reads: GET of one request over the POST, Open311 $go_ratio and native $gn_ratio >= $TARGET_GET_RATIO
raw outputs: $out
EOF
[ "$BUILD" = build ] || echo "note: $BUILD is not the release build; the sanitizers inflate CPU and RSS"

all_errors=$(( w_errors + $(errors GETO) + $(errors GETN) ))
if [ "$all_errors" != 0 ]; then
  say "$all_errors requests failed (non-2xx or socket errors); see $out/wrk_r*.txt, $out/get_*.txt and $out/intake.log"
  exit 1
fi
exit 0
