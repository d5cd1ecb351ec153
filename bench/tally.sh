#!/usr/bin/env bash
# How fast tally takes ballots, and how long a large motion takes to count. `make bench` runs it
# after notify.sh. On a private PostgreSQL (var/bench-tally-pg, fsync and synchronous_commit on),
# a fresh database (migrations + the demo county) and a rule set of the bench's own (the law's
# group-meeting numbers; its cites say it is the bench's, not law):
#  (a) casts: a villager group of BENCH_TALLY_BALLOTS (100,000) voters (one adult per household,
#      written into the registry as the owner), a resolution created and opened through tally's
#      command socket (the roll snapshot and its chain events as in production), each voter's
#      credential set by the owner so that the bench knows them. Then every voter casts once, in
#      random order:
#        - through intake's HTTP (POST /api/v1/motions/{code}/ballots, wrk, BENCH_TALLY_CONNS
#          connections, 256: as many voters at once, each waiting for its tracker; intake with as
#          many http_threads and no per-address connection limit, since wrk is all of them on one
#          address; with 64 the batches stay small and each waits for its commit: 2,400/s);
#        - straight to tally's command socket (gridgov-tally-load, as intake's DEALERs send them),
#          on a second motion of as many voters: what tally and PostgreSQL do without HTTP.
#      Ballots a second = voters over the time until the last ballot is in tally.ballot. Target
#      5,000/s through intake (PASS/FAIL); each is also given as a share of the CEILING below.
#  (b) the ceiling: pgbench runs the statement a cast runs (mark the roll row voted, insert the
#      ballot and, apart, the voter's receipt: services/tally/cast.c) in transactions of 32, as
#      tally batches them, on a third
#      motion of as many voters, 8 clients: PostgreSQL's own rate for that work on this machine.
#  (c) count: a motion with BENCH_TALLY_MILLION (1,000,000) ballots and as many voters on its roll,
#      (and receipts) inserted directly as the owner; the close command (count in SQL, the paper
#      boxes, the rules, the result, the chain's trackers (a million), closed and result events,
#      vote.closed) is timed from the command
#      to its answer. Target under 1 second (PASS/FAIL). The count's plan is printed.
# Prints CASTS / DIRECT / CEILING / CLOSE lines and PASS/FAIL; exits nonzero only when something broke.
# Ports: BENCH_TALLY_PORT (18220: tally's commands, +1 its events), BENCH_TALLY_HTTP_PORT (18226),
# BENCH_TALLY_PUB_PORT (17241: intake's events).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
bin=$top/$BUILD/bin
N=${BENCH_TALLY_BALLOTS:-100000}
MILLION=${BENCH_TALLY_MILLION:-1000000}
CONNS=${BENCH_TALLY_CONNS:-256}
PORT=${BENCH_TALLY_PORT:-18220}
HTTP=${BENCH_TALLY_HTTP_PORT:-18226}
PUB=${BENCH_TALLY_PUB_PORT:-17241}
TARGET_CASTS=5000
TARGET_CLOSE_MS=1000
pgdir=$top/var/bench-tally-pg
out=$top/var/bench-out/tally
PSQL=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)
DBNAME=tallybench

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
for t in wrk curl pgbench "$PSQL" "$bin/gridgov-intake" "$bin/gridgov-tally" "$bin/gridgov-tally-load" "$bin/gridgovctl"; do
  command -v "$t" >/dev/null || die "missing $t (run 'make deps', then 'make bench', which builds it)"
done

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
mkdir -p "$out/rules" "$out/curve"
"$top/deploy/pg.sh" start "$pgdir" >/dev/null
"$top/deploy/pg.sh" createdb "$DBNAME" "$pgdir"
APP="$("$top/deploy/pg.sh" url "$pgdir") dbname=$DBNAME"
OWNER="$("$top/deploy/pg.sh" owner-url "$pgdir") dbname=$DBNAME"
export GRIDGOV_CURVE_DIR=$out/curve GRIDGOV_BUS_MAX_COMMAND=16777216
for k in intake router tally notify gridgovctl; do "$bin/gridgovctl" --set log_level=warn keygen "$k" "$GRIDGOV_CURVE_DIR" >/dev/null; done
GRIDGOV_DB=$OWNER "$bin/gridgovctl" --set log_level=warn migrate deploy/migrations
GRIDGOV_DB=$OWNER "$bin/gridgovctl" --set log_level=warn seed-demo deploy/seed/demo_county.sql "$out/api-key" >/dev/null
sql() { "$PSQL" -XAtq -v ON_ERROR_STOP=1 "$OWNER" "$@"; }

cat > "$out/rules/bench.json" <<'JSON'
{"code": "bench", "name": "bench/tally.sh (the Organic Law's group-meeting numbers; not a county's rule set)",
 "law_version": "2018-12-29",
 "thresholds": {
  "meeting_quorum": {"num": 2, "den": 3, "inclusive": true, "cite": "bench: 村民委员会组织法第二十八条"},
  "meeting_decision": {"num": 1, "den": 2, "inclusive": false, "cite": "bench: 第二十八条"},
  "election_validity": {"num": 1, "den": 2, "inclusive": false, "cite": "bench: 第十五条"},
  "election_win": {"num": 1, "den": 2, "inclusive": false, "cite": "bench: 第十五条"},
  "runoff_win": {"num": 1, "den": 3, "inclusive": true, "cite": "bench: 第十五条"},
  "evaluation_unfit": {"num": 1, "den": 2, "inclusive": false, "cite": "bench"},
  "evaluation_excellent": {"num": 1, "den": 2, "inclusive": false, "cite": "bench"}},
 "options": {
  "proxy_cap": {"value": 3, "cite": "bench"}, "proxies_allowed": {"value": true, "cite": "bench"},
  "write_ins_allowed": {"value": true, "cite": "bench"}, "min_tellers": {"value": 3, "cite": "bench"},
  "ballots_exceed_voters_void": {"value": true, "cite": "bench"}, "overmarked_invalid": {"value": true, "cite": "bench"},
  "invalid_in_denominator": {"value": false, "cite": "bench"}, "candidates_exceed_seats": {"value": true, "cite": "bench"},
  "tie": {"value": "revote", "cite": "bench"}, "runoff_extra_candidates": {"value": 1, "cite": "bench"},
  "two_year_unfit_flag": {"value": true, "cite": "bench"}}}
JSON

GRIDGOV_DB=$APP GRIDGOV_TALLY_ENDPOINT=tcp://127.0.0.1:$PORT GRIDGOV_TALLY_PUB_ENDPOINT=tcp://127.0.0.1:$((PORT + 1)) \
  GRIDGOV_RULES_DIR=$out/rules GRIDGOV_LOG_LEVEL=${BENCH_TALLY_LOG:-warn} "$bin/gridgov-tally" > "$out/tally.log" 2>&1 &
tally_pid=$!
pids+=($tally_pid)
tally_ep=tcp://127.0.0.1:$PORT
load() { "$bin/gridgov-tally-load" "$@"; }
# ready when it answers (a motion that does not exist: 404)
for _ in $(seq 1 100); do
  kill -0 "$tally_pid" 2>/dev/null || die "tally did not start: $(tail -2 "$out/tally.log")"
  GRIDGOV_TALLY_LOAD_TIMEOUT_MS=500 load cmd "$tally_ep" '{"action":"close","staff_id":1,"motion":"M0000-000000"}' 2>/dev/null |
    grep -q '"status":404' && break
  sleep 0.1
done
staff=$(sql -c "SELECT id FROM registry.staff WHERE role = 'operator' AND active ORDER BY id LIMIT 1")

# A group of N voters (one adult per household) and an open resolution on it whose credentials
# the bench knows: prints the motion's code; the credentials (shuffled) go to $out/creds-TAG.
voters_motion() { # tag
  local tag=$1 code motion
  sql -v n="$N" -v code="BENCH-$tag" >/dev/null <<'SQL'
INSERT INTO registry.unit (id, parent_id, level, code, name)
SELECT (SELECT max(id) + 1 FROM registry.unit), (SELECT id FROM registry.unit WHERE level = 'village' ORDER BY id LIMIT 1),
       'group', :'code', :'code';
INSERT INTO registry.household (id, group_id, code, address)
SELECT m.b + i, g.id, :'code' || '-' || i, 'bench' FROM (SELECT coalesce(max(id), 0) AS b FROM registry.household) m,
       registry.unit g, generate_series(1, :n) i WHERE g.code = :'code';
INSERT INTO registry.resident (id, household_id, name, gender, birth_year, is_head)
SELECT m.b + row_number() OVER (ORDER BY h.id), h.id, '村民' || h.id, '男', 1970, true
FROM (SELECT coalesce(max(id), 0) AS b FROM registry.resident) m, registry.household h JOIN registry.unit g ON g.id = h.group_id
WHERE g.code = :'code';
SQL
  code=$(load cmd "$tally_ep" "{\"action\":\"create\",\"staff_id\":$staff,\"group\":\"BENCH-$tag\",\"kind\":\"resolution\",\"title\":\"bench $tag\",\"electorate\":\"adult\",\"rule_set\":\"bench\",\"delivery\":\"slips\"}" |
         sed -n 's/.*"motion":"\([^"]*\)".*/\1/p')
  [ -n "$code" ] || die "create failed (see $out/tally.log)"
  load cmd "$tally_ep" "{\"action\":\"open\",\"staff_id\":$staff,\"motion\":\"$code\"}" > /dev/null || die "open failed"
  sql -v motion="$code" >/dev/null <<'SQL'
UPDATE tally.roll r SET cred_sha256 = sha256(convert_to(upper(substr(md5(r.voter_id::text || '-bench'), 1, 16)), 'UTF8'))
FROM tally.motion m WHERE m.id = r.motion_id AND m.code = :'motion';
SQL
  sql -c "SELECT upper(substr(md5(r.voter_id::text || '-bench'), 1, 16)) FROM tally.roll r JOIN tally.motion m ON m.id = r.motion_id
          WHERE m.code = '$code' ORDER BY random()" > "$out/creds-$tag"
  printf '%s' "$code"
}
ballots() { sql -c "SELECT count(*) FROM tally.ballot b JOIN tally.motion m ON m.id = b.motion_id WHERE m.code = '$1'"; }
now_ms() { date +%s%3N; }

# (b) first: the ceiling, on a quiet machine
say "ceiling: pgbench, the cast statement in transactions of 32, 8 clients, $N voters"
pg_motion=$(voters_motion pg)
sql -v motion="$pg_motion" >/dev/null <<'SQL'
CREATE TABLE public.bench_cred (i bigint PRIMARY KEY, sha bytea NOT NULL);
INSERT INTO public.bench_cred SELECT row_number() OVER (ORDER BY random()), r.cred_sha256
FROM tally.roll r JOIN tally.motion m ON m.id = r.motion_id WHERE m.code = :'motion';
CREATE SEQUENCE public.bench_seq;
GRANT SELECT ON public.bench_cred TO gridgov_app;
GRANT USAGE ON public.bench_seq TO gridgov_app;
SQL
pg_id=$(sql -c "SELECT id FROM tally.motion WHERE code = '$pg_motion'")
{
  echo "BEGIN;"
  for _ in $(seq 1 32); do
    cat <<SQL
WITH c AS (SELECT sha FROM public.bench_cred WHERE i = (SELECT nextval('public.bench_seq'))),
 k AS (SELECT sha256(convert_to(gen_random_uuid()::text, 'UTF8')) AS key),
 prior AS (SELECT tracker FROM tally.receipt WHERE motion_id = '$pg_id' AND cast_key = (SELECT key FROM k)),
 u AS (UPDATE tally.roll SET voted = 'online' WHERE motion_id = '$pg_id' AND cred_sha256 = (SELECT sha FROM c) AND voted IS NULL AND NOT EXISTS (SELECT 1 FROM prior) RETURNING voter_id),
 b AS (INSERT INTO tally.ballot (id, motion_id, marks, write_ins) SELECT gen_random_uuid(), '$pg_id', '{0}', '{}' FROM u RETURNING id),
 r AS (INSERT INTO tally.receipt (motion_id, tracker, cast_key) SELECT '$pg_id', upper(substr(md5(random()::text), 1, 10)), (SELECT key FROM k) FROM u RETURNING tracker)
SELECT (SELECT tracker FROM r), (SELECT tracker FROM prior), EXISTS (SELECT 1 FROM tally.roll WHERE motion_id = '$pg_id' AND cred_sha256 = (SELECT sha FROM c));
SQL
  done
  echo "COMMIT;"
} > "$out/cast.pgbench"
tx=$((N / 32 / 8))
t0=$(now_ms)
pgbench -n -M prepared -c 8 -j 2 -t "$tx" -f "$out/cast.pgbench" "$APP" > "$out/pgbench.log" 2>&1 || die "pgbench failed: $(tail -3 "$out/pgbench.log")"
t1=$(now_ms)
pg_done=$(ballots "$pg_motion")
ceiling=$(( pg_done * 1000 / (t1 - t0) ))
printf 'CEILING ballots=%d ms=%d rate=%d\n' "$pg_done" $((t1 - t0)) "$ceiling"

# (a) through intake, when it has the route
casts_rate=
http_motion=$(voters_motion http)
GRIDGOV_DB=$APP GRIDGOV_HTTP_PORT=$HTTP GRIDGOV_PUB_ENDPOINT=tcp://127.0.0.1:$PUB GRIDGOV_TALLY_ENDPOINT=$tally_ep \
  GRIDGOV_HTTP_THREADS=${BENCH_TALLY_HTTP_THREADS:-$CONNS} GRIDGOV_RATE_LIMIT_PER_MINUTE=0 GRIDGOV_HTTP_PER_IP_CONNECTIONS=0 GRIDGOV_LOG_LEVEL=warn "$bin/gridgov-intake" > "$out/intake.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$HTTP/healthz" >/dev/null 2>&1 || die "intake did not start: $(tail -2 "$out/intake.log")"
probe=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -d '{"credential":"0000-0000-0000-0000","marks":[0]}' "http://127.0.0.1:$HTTP/api/v1/motions/$http_motion/ballots" || true)
if [ "$probe" = 404 ]; then
  say "intake has no POST /api/v1/motions/{code}/ballots in this build (answered $probe): the HTTP part is skipped"
  printf 'CASTS skipped (no ballots route in intake)\n'
else
  say "casts through intake: $N ballots, wrk with $CONNS connections"
  cat > "$out/cast.lua" <<LUA
local creds, n, at = {}, 0, 0
function setup(thread) thread:set("tid", (setup_count or 0)); setup_count = (setup_count or 0) + 1 end
function init(args)
  local t, k = tonumber(wrk.thread:get("tid")), 0
  for line in io.lines("$out/creds-http") do
    if k % 2 == t then n = n + 1; creds[n] = line end
    k = k + 1
  end
end
function request()
  at = at + 1
  local c = creds[((at - 1) % n) + 1]
  return wrk.format("POST", "/api/v1/motions/$http_motion/ballots", {["Content-Type"] = "application/json"},
                    '{"credential":"' .. c .. '","marks":[' .. (at % 3) .. ']}')
end
LUA
  t0=$(now_ms)
  wrk -t 2 -c "$CONNS" -d 600s -s "$out/cast.lua" "http://127.0.0.1:$HTTP" > "$out/wrk.log" 2>&1 &
  wrk_pid=$!
  pids+=($wrk_pid)
  while :; do
    done_n=$(ballots "$http_motion")
    [ "$done_n" -ge "$N" ] && break
    kill -0 "$wrk_pid" 2>/dev/null || break
    [ $(( $(now_ms) - t0 )) -gt 600000 ] && break
    sleep 0.2
  done
  t1=$(now_ms)
  kill -TERM "$wrk_pid" 2>/dev/null || true
  casts_rate=$(( done_n * 1000 / (t1 - t0) ))
  printf 'CASTS ballots=%d ms=%d rate=%d ceiling_share=%d%%\n' "$done_n" $((t1 - t0)) "$casts_rate" $(( casts_rate * 100 / (ceiling > 0 ? ceiling : 1) ))
fi

say "casts straight to tally: $N ballots, 8 senders, 64 in flight each"
direct_motion=$(voters_motion direct)
t0=$(now_ms)
load cast "$tally_ep" "$direct_motion" "$out/creds-direct" 8 64 | tee "$out/direct.log" >&2
t1=$(now_ms)
direct_done=$(ballots "$direct_motion")
direct_rate=$(( direct_done * 1000 / (t1 - t0) ))
printf 'DIRECT ballots=%d ms=%d rate=%d ceiling_share=%d%%\n' "$direct_done" $((t1 - t0)) "$direct_rate" \
  $(( direct_rate * 100 / (ceiling > 0 ? ceiling : 1) ))

# (c) a million ballots, counted at close
say "count: a motion with $MILLION ballots, inserted as the owner"
big=M2026-999999
sql -v n="$MILLION" -v code="$big" >/dev/null <<'SQL'
SET synchronous_commit = off;
SET maintenance_work_mem = '256MB';
INSERT INTO tally.motion (id, code, group_id, kind, title, electorate, ballot, rule_set, rules, rules_sha256, delivery, state,
                          created_by, created_at, opened_at, roll_count)
SELECT gen_random_uuid(), :'code', (SELECT id FROM registry.unit WHERE level = 'group' ORDER BY id LIMIT 1), 'resolution',
       'bench: a million ballots', 'adult', '{"choices": ["同意", "不同意", "弃权"]}', r.code, r.body, r.sha256, 'slips', 'open',
       (SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1), now(), now(), :n
FROM tally.rule_set r WHERE r.code = 'bench' LIMIT 1;
INSERT INTO tally.roll (motion_id, voter_id, household_id, name, cred_sha256, voted)
SELECT m.id, i, i, 'v' || i, sha256(convert_to('bench-million-' || i, 'UTF8')), 'online'
FROM tally.motion m, generate_series(1, :n) i WHERE m.code = :'code';
INSERT INTO tally.ballot (id, motion_id, marks)
SELECT gen_random_uuid(), m.id, ARRAY[(i::bigint * 7919 % 10 / 4)::smallint]
FROM tally.motion m, generate_series(1, :n) i WHERE m.code = :'code';
INSERT INTO tally.receipt (motion_id, tracker, cast_key)
SELECT m.id, upper(lpad(to_hex(i), 10, '0')), sha256(convert_to('bench-cast-' || i, 'UTF8'))
FROM tally.motion m, generate_series(1, :n) i WHERE m.code = :'code';
ANALYZE tally.ballot;
ANALYZE tally.receipt;
ANALYZE tally.roll;
SQL
big_id=$(sql -c "SELECT id FROM tally.motion WHERE code = '$big'")
sql -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT u.ord, u.m, count(*) FROM tally.ballot b
        CROSS JOIN LATERAL unnest(b.marks) WITH ORDINALITY AS u(m, ord) WHERE b.motion_id = '$big_id' GROUP BY 1, 2" > "$out/count-plan.txt"
close_line=$(load close "$tally_ep" "$big" "$staff") || die "close failed: $close_line"
close_ms=$(printf '%s' "$close_line" | sed -n 's/.*ms=\([0-9]*\).*/\1/p')
printf 'CLOSE ballots=%d %s\n' "$MILLION" "$close_line"
sed 's/^/  plan: /' "$out/count-plan.txt" >&2

echo
[ -n "$casts_rate" ] && { [ "$casts_rate" -ge "$TARGET_CASTS" ] && echo "PASS casts through intake: $casts_rate/s >= $TARGET_CASTS/s" ||
                          echo "FAIL casts through intake: $casts_rate/s < $TARGET_CASTS/s"; }
[ "$direct_rate" -ge "$TARGET_CASTS" ] && echo "PASS casts straight to tally: $direct_rate/s >= $TARGET_CASTS/s" ||
  echo "FAIL casts straight to tally: $direct_rate/s < $TARGET_CASTS/s"
[ "$close_ms" -lt "$TARGET_CLOSE_MS" ] && echo "PASS close of $MILLION ballots: $close_ms ms < $TARGET_CLOSE_MS ms" ||
  echo "FAIL close of $MILLION ballots: $close_ms ms >= $TARGET_CLOSE_MS ms"
