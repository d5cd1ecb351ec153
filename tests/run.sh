#!/usr/bin/env bash
# The test runner behind `make test`: starts a private PostgreSQL (or uses GRIDGOV_TEST_DB, a
# libpq string for a server you run), creates a database the way a county's is upgraded (the
# previous release's migrations, the demo county and tickets as that release left them, then this
# release's migrations), checks that its schema is the one a fresh database gets, runs every test
# binary (unit, then end-to-end) on it, the README's walkthrough against a make run of its own,
# and the SQL and schema checks (events and commands against proto/, Open311 answers against
# tests/open311/schemas, one writer per schema), the WeChat crypto against the npm libraries
# (tests/xcheck/), and closes with one line "N passed, N failed".
#   tests/run.sh            everything
#   tests/run.sh unit       unit tests only
#   tests/run.sh NAME...    only test binaries whose name contains NAME
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
export GRIDGOV_TOP=$top
export GRIDGOV_BIN=$top/$BUILD/bin
var=$top/var/test-$BUILD
pgdir=${GRIDGOV_TEST_PGDIR:-$var/pg}
# This run's own folder for logs and daemons' state; kept when something failed.
run=$var/run-$$
mkdir -p "$run"
export GRIDGOV_TEST_VAR=$run
# Ports for daemons the tests start: a base that differs per build so runs do not collide.
if [ "$BUILD" = build ]; then export GRIDGOV_TEST_PORT_BASE=${GRIDGOV_TEST_PORT_BASE:-18080}
else export GRIDGOV_TEST_PORT_BASE=${GRIDGOV_TEST_PORT_BASE:-19080}; fi
# ASan: leaks are errors; libzmq/libpq keep some allocations to exit, suppressed by name.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0
failures=()
record() { # name status
  if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

own_pg=0
cleanup() {
  # daemons this run's tests started (their logs and state live under $run)
  pkill -TERM -f "$top/deploy/run.sh" 2>/dev/null || true
  for d in "$run"/*/pg; do
    [ -d "$d" ] || continue
    "$top/deploy/pg.sh" stop "$d"
    [ -L "$d" ] && rm -rf "$(readlink -f "$d")"
  done
  [ "$failed" = 0 ] && rm -rf "$run"
  [ -n "${admin:-}" ] && psql -q "$admin" -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" \
                            -c "DROP DATABASE IF EXISTS ${dbname}_fresh WITH (FORCE)" >/dev/null 2>&1
  if [ "$own_pg" = 1 ]; then "$top/deploy/pg.sh" stop "$pgdir"; fi
}
trap cleanup EXIT

# A database of this run's own, dropped at the end.
dbname="gridgov_test_$$"
# createdb NAME: a database set up as make run's is (owned by gridgov_owner on our own cluster)
createdb() {
  if [ -n "${GRIDGOV_TEST_DB:-}" ]; then psql -q "$admin" -c "CREATE DATABASE $1" >/dev/null
  else "$top/deploy/pg.sh" createdb "$1" "$pgdir"; fi
}
if [ -n "${GRIDGOV_TEST_DB:-}" ]; then
  admin=$GRIDGOV_TEST_DB app=$GRIDGOV_TEST_DB owner=$GRIDGOV_TEST_DB
  createdb "$dbname" || { echo "cannot create the test database"; echo "0 passed, 1 failed"; exit 1; }
else
  # A cluster another runner already started is shared, and left running for it.
  "$top/deploy/pg.sh" status "$pgdir" >/dev/null 2>&1 || own_pg=1
  app=$("$top/deploy/pg.sh" start "$pgdir") || { echo "0 passed, 1 failed"; exit 1; }
  # Roles as in `make run` (deploy/roles.sql): the tests and the daemons they start connect as
  # gridgov_app; migrations, the seed and tests that need DDL as gridgov_owner.
  owner=$("$top/deploy/pg.sh" owner-url "$pgdir") admin=$("$top/deploy/pg.sh" admin-url "$pgdir")
  createdb "$dbname" || { echo "cannot create the test database"; echo "0 passed, 1 failed"; exit 1; }
  export GRIDGOV_TEST_PGDIR=$pgdir   # test_pg_closed checks this cluster
fi
export GRIDGOV_DB="$app dbname=$dbname" GRIDGOV_OWNER_DB="$owner dbname=$dbname"

# Migrations and the seed run as the owner; the daemons and tests as the app role.
ctl() { GRIDGOV_DB=$GRIDGOV_OWNER_DB "$GRIDGOV_BIN/gridgovctl" --set log_level=warn "$@"; }

# The upgrade a county makes: its database was created by the previous release, whose last
# migration tests/previous-release names, and holds the demo county and tickets in every state as
# that release left them; this release's migrations then run over it, and the whole suite runs on
# the result. (The demo seed must therefore load on the previous release's schema.)
previous_release() {
  local last n
  last=$(cat tests/previous-release) && [ -f "deploy/migrations/$last" ] ||
    { echo "tests/previous-release names no file of deploy/migrations"; return 1; }
  mkdir -p "$run/previous-migrations"
  for f in deploy/migrations/*.sql; do
    n=$(basename "$f")
    if (( 10#${n%%_*} <= 10#${last%%_*} )); then cp "$f" "$run/previous-migrations/"; fi
  done
  ctl migrate "$run/previous-migrations" &&
  ctl seed-demo deploy/seed/demo_county.sql "$run/api-key" &&
  psql -X -q -v ON_ERROR_STOP=1 "$GRIDGOV_OWNER_DB" -f tests/sql/previous_release.sql &&
  ctl migrate deploy/migrations
}
previous_release
record "setup: previous release's database with tickets, migrated to this release; demo seed" $?

# The bus runs with CURVE as in production: a key pair for each daemon the tests start and for
# the tests' own clients (they use gridgovctl's, an operator's key).
export GRIDGOV_CURVE_DIR=$run/curve
keys=0
for k in intake router tally notify gridgovctl; do
  "$GRIDGOV_BIN/gridgovctl" --set log_level=warn keygen "$k" "$GRIDGOV_CURVE_DIR" >/dev/null || keys=1
done
record "setup: bus keys" $keys

want=("$@")
selected() { # name
  [ ${#want[@]} -eq 0 ] && return 0
  for w in "${want[@]}"; do
    [ "$w" = unit ] && [[ $1 == unit/* ]] && return 0
    [[ $1 == *"$w"* ]] && return 0
  done
  return 1
}

# The upgraded database has the schema a fresh one gets from every migration in order.
if selected "upgrade/schema"; then
  echo "== upgrade/schema"
  dump() { # the schema without pg_dump's comments and its per-run \restrict keys
    pg_dump --schema-only --no-owner --no-privileges "$1" | grep -vE '^(--|\\(un)?restrict )'
  }
  rc=1
  if createdb "${dbname}_fresh" &&
     GRIDGOV_OWNER_DB="$owner dbname=${dbname}_fresh" ctl migrate deploy/migrations &&
     dump "$owner dbname=${dbname}_fresh" > "$run/schema-fresh.sql" && dump "$GRIDGOV_OWNER_DB" > "$run/schema-upgraded.sql" &&
     [ -s "$run/schema-fresh.sql" ]; then
    diff -u "$run/schema-fresh.sql" "$run/schema-upgraded.sql" > "$run/schema.diff"
    rc=$?
    head -40 "$run/schema.diff"
  fi
  [ "$rc" = 0 ] && echo "the upgraded database has the schema of a fresh one ($(wc -l < "$run/schema-fresh.sql") lines)"
  record "upgrade/schema: upgraded = fresh" "$rc"
  psql -q "$admin" -c "DROP DATABASE IF EXISTS ${dbname}_fresh" >/dev/null
fi

if selected "sql/seed_check"; then
  echo "== sql/seed_check"
  psql -q -v ON_ERROR_STOP=1 "$GRIDGOV_DB" -f tests/sql/seed_check.sql
  record "sql/seed_check" $?
fi

for t in "$BUILD"/tests/unit/test_* "$BUILD"/tests/e2e/test_*; do
  [ -x "$t" ] || continue
  name=${t#"$BUILD"/tests/}
  selected "$name" || continue
  echo "== $name"
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" != 0 ] && [ "${f:-0}" = 0 ]; then failed=$((failed + 1)); failures+=("$name (exit $rc)"); fi
  [ "${f:-0}" != 0 ] && failures+=("$name")
done

# The README's walkthrough, run as written against the suite as make run starts it; and make
# reset-demo on a cluster of its own (both start their own PostgreSQL under $run).
if selected "readme/walkthrough"; then
  echo "== readme/walkthrough"
  bash tests/readme_walkthrough.sh
  record "readme/walkthrough" $?
fi

if selected "reset_demo"; then
  echo "== reset_demo"
  bash tests/reset_demo.sh
  record "reset_demo" $?
fi

if selected "sql/router_invariants"; then
  echo "== sql/router_invariants"
  psql -q -v ON_ERROR_STOP=1 "$GRIDGOV_DB" -f tests/sql/router_invariants.sql
  record "sql/router_invariants" $?
fi

if selected "sql/upgrade_check"; then
  echo "== sql/upgrade_check"
  psql -q -v ON_ERROR_STOP=1 "$GRIDGOV_DB" -f tests/sql/upgrade_check.sql
  record "sql/upgrade_check" $?
fi

# The fake providers (tests/fakes/providers.py) the notify tests send to: their self-test shows
# they accept the published vectors' requests, refuse changed or stale ones, and answer each limit
# and each failure mode in the provider's real shape.
if selected "fakes/self-test"; then
  echo "== fakes/self-test"
  /usr/bin/python3 tests/fakes/test_fakes.py
  record "fakes/self-test" $?
fi

# The contract check fails on an invalid command stored: shown on one of each kind, rolled back.
if selected "proto/self-test"; then
  echo "== proto/self-test"
  /usr/bin/python3 tests/proto_check.py --self-test "$GRIDGOV_DB"
  record "proto/self-test" $?
fi

if selected "proto/schemas"; then
  echo "== proto/schemas"
  /usr/bin/python3 tests/proto_check.py "$GRIDGOV_DB"
  record "proto/schemas" $?
fi

# Every Open311 JSON answer e2e/test_open311 and e2e/test_privacy received (kept under
# $run/open311 by tests/lib/open311_keep.c) validates against tests/open311/schemas; the
# self-test shows first that the checker rejects bad answers.
if selected "open311/schemas"; then
  echo "== open311/schemas"
  /usr/bin/python3 tests/open311_check.py --self-test && /usr/bin/python3 tests/open311_check.py "$run/open311"
  record "open311/schemas" $?
fi

# The WeChat crypto (common/wxcrypt) against two independent npm implementations, round trips both
# ways on random messages; tests/xcheck/run.sh installs the pinned packages under var/ itself.
if selected "xcheck/npm"; then
  echo "== xcheck/npm"
  BUILD=$BUILD bash tests/xcheck/run.sh
  record "xcheck/npm: wxcrypt against @wecom/crypto and wechat-crypto" $?
fi

# docker-compose.yml as Debian's docker-compose (1.29) reads it: a key newer Compose versions
# accept (env_file's path/required) made it refuse the whole file once.
if selected "compose/config"; then
  echo "== compose/config"
  docker-compose -f docker-compose.yml config -q
  record "compose/config: docker-compose.yml as Debian's docker-compose reads it" $?
fi

# One writer per schema (deploy/schema-owners.txt): the migrated catalog and the C sources, after
# a self-test that shows each rule failing on a violating example.
if selected "ownership"; then
  echo "== ownership"
  /usr/bin/python3 tests/ownership_check.py "$GRIDGOV_OWNER_DB"   # its self-test creates objects
  record "ownership" $?
fi

# Daemons the tests started wrote their logs under $run: a sanitizer report there is a failure
# even when the test that started the daemon passed.
if grep -rlE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$run" >/dev/null 2>&1; then
  grep -rE -m3 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$run"
  record "sanitizer reports in daemon logs" 1
else
  record "no sanitizer reports in daemon logs" 0
fi

echo
if [ ${#failures[@]} -gt 0 ]; then printf 'failed: %s\n' "${failures[@]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
