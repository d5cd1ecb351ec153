#!/usr/bin/env bash
# Patrol tracks at scale (README, "Field work"). `make bench` runs it after notify.sh. On a
# private PostgreSQL (var/bench-field-pg, fsync and synchronous_commit on) with the demo county:
#  (a) ingest: BENCH_FIELD_BATCHES (60) batches of 10,000 GPS points (JSON, as the app sends
#      them; each batch one grid worker's 10,000 seconds), posted to POST /api/v1/field/tracks by
#      BENCH_FIELD_CLIENTS (4) curl processes at once. Points a second = all points over the wall
#      time from the first post to the last answer. Then the same rows as CSV through a plain
#      COPY (psql \copy) into a table like intake.field_track_point (its key included), and the
#      ratio intake / COPY. PASS: >= 50,000 points a second through intake.
#  (b) a day's coverage: intake.field_track_point filled to BENCH_FIELD_STORED (10,000,000)
#      points by SQL (every grid worker, a point a second through an 8-hour day, as many days as
#      it takes), then GET /api/v1/field/tracks for one worker's day of 28,800 points (track,
#      distance, coverage against the group's polygon): the median of 5. PASS: < 200 ms.
# Prints INGEST / COPY / COVERAGE lines and PASS/FAIL; exits nonzero only when something broke.
# Port: BENCH_FIELD_HTTP_PORT (18196).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
bin=$top/$BUILD/bin
BATCHES=${BENCH_FIELD_BATCHES:-60}
CLIENTS=${BENCH_FIELD_CLIENTS:-4}
STORED=${BENCH_FIELD_STORED:-10000000}
HTTP=${BENCH_FIELD_HTTP_PORT:-18196}
TARGET_PTS_S=50000
TARGET_MS=200
pgdir=$top/var/bench-field-pg
out=$top/var/bench-out/field
PSQL=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
for t in curl /usr/bin/python3 "$PSQL" "$bin/gridgov-intake" "$bin/gridgovctl"; do
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
mkdir -p "$out/batches"
GRIDGOV_DB=$("$top/deploy/pg.sh" start "$pgdir")
owner_db=$("$top/deploy/pg.sh" owner-url "$pgdir")
export GRIDGOV_DB
GRIDGOV_DB=$owner_db "$bin/gridgovctl" --set log_level=warn migrate deploy/migrations >/dev/null
GRIDGOV_DB=$owner_db "$bin/gridgovctl" --set log_level=warn seed-demo deploy/seed/demo_county.sql "$pgdir/api-key" >/dev/null
export GRIDGOV_LOG_LEVEL=warn GRIDGOV_RATE_LIMIT_PER_MINUTE=0 GRIDGOV_CURVE_DIR=$out/curve
for k in intake router notify gridgovctl; do "$bin/gridgovctl" --set log_level=warn keygen "$k" "$GRIDGOV_CURVE_DIR" >/dev/null; done
sql() { "$PSQL" -X -q -tA -v ON_ERROR_STOP=1 "$owner_db" -c "$1"; }

GRIDGOV_HTTP_PORT=$HTTP GRIDGOV_PUB_ENDPOINT=tcp://127.0.0.1:$((HTTP + 1)) "$bin/gridgov-intake" 2>"$out/intake.log" &
pids+=($!)
url=http://127.0.0.1:$HTTP
for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$url/healthz" >/dev/null || die "intake did not start (see $out/intake.log)"

# ---- (a) ingest ------------------------------------------------------------------------------------
# Six grid workers, each with a token; batch k is worker k % 6's seconds [k/6 * 10000, +10000)
# from 2026-01-05 08:00 county time, walking a Lissajous figure around their group's centre.
sql "SELECT s.id, ST_Y(ST_Centroid(g.boundary)), ST_X(ST_Centroid(g.boundary)) FROM registry.staff s
     JOIN registry.unit g ON g.id = s.unit_id WHERE s.role = 'grid_worker' AND g.boundary IS NOT NULL
     ORDER BY s.id LIMIT 6" >"$out/workers"
while IFS='|' read -r id _ _; do
  "$bin/gridgovctl" --set log_level=warn token "$id" >"$out/token-$id"
done <"$out/workers"
/usr/bin/python3 - "$out" "$BATCHES" <<'EOF'
import json, math, sys, datetime
out, batches = sys.argv[1], int(sys.argv[2])
workers = [l.strip().split('|') for l in open(f"{out}/workers") if l.strip()]
t0 = datetime.datetime(2026, 1, 5, 0, 0, 0, tzinfo=datetime.timezone.utc)  # 08:00 in the county
with open(f"{out}/copy.csv", "w") as csv, open(f"{out}/posts", "w") as posts:
    for k in range(batches):
        sid, clat, clon = workers[k % len(workers)]
        clat, clon = float(clat), float(clon)
        pts = []
        for i in range(10000):
            s = (k // len(workers)) * 10000 + i
            at = t0 + datetime.timedelta(seconds=s)
            lat = clat + 0.0015 * math.sin(s / 600.0)
            lon = clon + 0.0015 * math.sin(s / 430.0)
            iso = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            pts.append({"at": iso, "lat": round(lat, 7), "long": round(lon, 7), "accuracy_m": 5})
            csv.write(f"{sid},{iso},{lat:.7f},{lon:.7f},5\n")
        path = f"{out}/batches/{k}.json"
        json.dump({"points": pts}, open(path, "w"), separators=(",", ":"))
        posts.write(f"{sid} {path}\n")
EOF
points=$((BATCHES * 10000))
say "ingest: $points points in $BATCHES batches of 10,000 from $CLIENTS clients"
post_one() { # staff_id file
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$url/api/v1/field/tracks" \
           -H "Authorization: Bearer $(cat "$out/token-$1")" -H 'Content-Type: application/json' --data-binary "@$2")
  [ "$code" = 201 ] || { echo "POST $2: $code" >&2; return 1; }
}
export -f post_one
export url out
t_start=$(date +%s.%N)
xargs -P "$CLIENTS" -L 1 bash -c 'post_one "$0" "$1"' <"$out/posts"
t_end=$(date +%s.%N)
stored=$(sql "SELECT count(*) FROM intake.field_track_point")
[ "$stored" = "$points" ] || die "stored $stored points of $points"
ingest=$(awk -v n="$points" -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%d", n / (b - a) }')
sql "CREATE TABLE bench_copy (LIKE intake.field_track_point INCLUDING ALL)"
c_start=$(date +%s.%N)
"$PSQL" -X -q -v ON_ERROR_STOP=1 "$owner_db" -c "\\copy bench_copy (staff_id, at, lat, long, accuracy_m) FROM '$out/copy.csv' CSV"
c_end=$(date +%s.%N)
copy=$(awk -v n="$points" -v a="$c_start" -v b="$c_end" 'BEGIN { printf "%d", n / (b - a) }')
sql "DROP TABLE bench_copy"
echo "INGEST  $ingest points/s through POST /api/v1/field/tracks ($points points, $BATCHES batches, $CLIENTS clients)"
echo "COPY    $copy points/s (psql \\copy of the same rows into a table with the same key); intake / COPY = $(awk -v a="$ingest" -v b="$copy" 'BEGIN { printf "%.2f", a / b }')"
verdict=PASS
[ "$ingest" -ge "$TARGET_PTS_S" ] || verdict=FAIL
echo "$verdict ingest >= $TARGET_PTS_S points/s"

# ---- (b) a day's coverage among 10 million points ---------------------------------------------------
have=$(sql "SELECT count(*) FROM intake.field_track_point")
say "filling intake.field_track_point to $STORED points (has $have)"
# Each worker's days one after another, as batches from one phone land together: the series
# name the rows outside them (0 * w.n, 0 * d), so the plan nests them in this order and the
# rows are written so without a sort of 10 million rows.
sql "SET synchronous_commit = off;
     WITH w AS (SELECT s.id, ST_Y(ST_Centroid(g.boundary)) AS clat, ST_X(ST_Centroid(g.boundary)) AS clon,
                       row_number() OVER (ORDER BY s.id) AS n
                FROM registry.staff s JOIN registry.unit g ON g.id = s.unit_id
                WHERE s.role = 'grid_worker' AND g.boundary IS NOT NULL),
     days AS (SELECT ceil(($STORED - $have)::numeric / (28800 * (SELECT count(*) FROM w)))::int AS n)
     INSERT INTO intake.field_track_point (staff_id, at, lat, long, accuracy_m)
     SELECT w.id, timestamptz '2026-02-01 08:00:00+08' + make_interval(days => d, secs => s),
            w.clat + 0.0015 * sin((s + w.n * 97) / 600.0), w.clon + 0.0015 * sin((s + w.n * 97) / 430.0), 5
     FROM w CROSS JOIN LATERAL generate_series(0 * w.n::int, (SELECT n FROM days) - 1) AS d
     CROSS JOIN LATERAL generate_series(0 * d, 28799) AS s
     LIMIT $STORED - $have
     ON CONFLICT DO NOTHING" >/dev/null
sql "VACUUM ANALYZE intake.field_track_point" >/dev/null
total=$(sql "SELECT count(*) FROM intake.field_track_point")
# the first worker's first day of the fill: a whole one (28,800 points)
read -r wid day <<<"$(sql "SELECT staff_id, (at AT TIME ZONE 'Asia/Shanghai')::date FROM intake.field_track_point
                          WHERE at >= '2026-02-01' ORDER BY staff_id, at LIMIT 1" | tr '|' ' ')"
n_day=$(sql "SELECT count(*) FROM intake.field_track_point WHERE staff_id = $wid
             AND at >= '$day 00:00:00+08' AND at < '$day 00:00:00+08'::timestamptz + interval '1 day'")
op=$(sql "SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1")
optok=$("$bin/gridgovctl" --set log_level=warn token "$op")
times=()
for _ in 1 2 3 4 5 6; do
  t=$(curl -sS -o "$out/track.json" -w '%{time_total}' -H "Authorization: Bearer $optok" \
        "$url/api/v1/field/tracks?staff_id=$wid&date=$day")
  times+=("$t")
done
grep -q '"coverage_permille"' "$out/track.json" || die "no track in the answer: $(head -c 300 "$out/track.json")"
# the first warms the caches; the median of the other five
med=$(printf '%s\n' "${times[@]:1}" | sort -n | sed -n 3p)
ms=$(awk -v t="$med" 'BEGIN { printf "%d", t * 1000 }')
cov=$(/usr/bin/python3 -c "import json,sys; d=json.load(open('$out/track.json')); print(d['points'], d['distance_m'], d['coverage_permille'])")
echo "COVERAGE ${ms} ms median for one worker's day ($n_day points; points, metres, permille: $cov) among $total points stored"
verdict=PASS
[ "$ms" -lt "$TARGET_MS" ] || verdict=FAIL
echo "$verdict a day's coverage < $TARGET_MS ms"
