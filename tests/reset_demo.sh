#!/usr/bin/env bash
# make reset-demo (deploy/reset-demo.sh) on a cluster of its own, set up as make run sets up
# var/pg: the demo county, an API key and an event of ours in it. The reset refuses while the
# cluster runs, with GRIDGOV_DB set and without --yes, each time changing nothing; with --yes it
# leaves the demo county as new (our key and event gone, a new working key in var/demo-api-key)
# and the cluster stopped, as it found it. tests/run.sh runs it as one result (reset_demo).
# Environment (tests/run.sh): GRIDGOV_TEST_VAR, BUILD.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
var=${GRIDGOV_TEST_VAR:?run through tests/run.sh}/reset
pgdir=$var/pg
ctl=$top/$BUILD/bin/gridgovctl
rm -rf "$var"
mkdir -p "$var"
fail() { echo "reset_demo: $*" >&2; exit 1; }
reset() { env -u GRIDGOV_DB -u GRIDGOV_OWNER_DB -u GRIDGOV_PGDIR GRIDGOV_VAR="$var" BUILD="$BUILD" "$top/deploy/reset-demo.sh" "$@"; }
expect_status() { # want what cmd...
  local want=$1 what=$2; shift 2
  "$@" > "$var/out" 2>&1
  local rc=$?
  cat "$var/out"
  [ "$rc" = "$want" ] || fail "$what: exit status $rc, expected $want"
}
trap '"$top/deploy/pg.sh" stop "$pgdir" >/dev/null 2>&1' EXIT

# No cluster yet: nothing to reset.
expect_status 0 "without a cluster" reset --yes
grep -q "nothing to reset" "$var/out" || fail "without a cluster it should say there is nothing to reset"

# The cluster as make run leaves it, with something of ours in it.
app=$("$top/deploy/pg.sh" start "$pgdir") || fail "pg.sh start"
owner=$("$top/deploy/pg.sh" owner-url "$pgdir")
GRIDGOV_DB=$owner "$ctl" --set log_level=warn migrate "$top/deploy/migrations" || fail "migrate"
GRIDGOV_DB=$owner "$ctl" --set log_level=warn seed-demo "$top/deploy/seed/demo_county.sql" "$var/demo-api-key" || fail "seed"
old_key=$(cat "$var/demo-api-key")
GRIDGOV_DB=$app "$ctl" --set log_level=warn apikey before-reset >/dev/null || fail "apikey"
psql -X -q -v ON_ERROR_STOP=1 "$app" -c "SELECT bus.emit('test.before_reset', 'test', NULL, '{}')" >/dev/null || fail "emit"
ours() { psql -X -qAt "$1" -c "SELECT (SELECT count(*) FROM registry.api_client WHERE name = 'before-reset')
                                    + (SELECT count(*) FROM bus.outbox WHERE type = 'test.before_reset')"; }
[ "$(ours "$app")" = 2 ] || fail "our key and event are not in the database"

expect_status 1 "while the cluster runs" reset --yes
grep -q "stop make run first" "$var/out" || fail "while the cluster runs it should say to stop make run"
[ "$(ours "$app")" = 2 ] || fail "a refused reset (cluster running) changed the database"
"$top/deploy/pg.sh" stop "$pgdir"

expect_status 1 "with GRIDGOV_DB set" env GRIDGOV_DB="$app" GRIDGOV_VAR="$var" BUILD="$BUILD" "$top/deploy/reset-demo.sh" --yes
grep -q "never drops" "$var/out" || fail "with GRIDGOV_DB it should say it never drops a server of your own"
expect_status 2 "without --yes" reset
grep -q "YES=1" "$var/out" || fail "without --yes it should say how to confirm"
expect_status 2 "with an unknown argument" reset --force
"$top/deploy/pg.sh" status "$pgdir" >/dev/null 2>&1 && fail "a refused reset left the cluster running"
"$top/deploy/pg.sh" start "$pgdir" >/dev/null || fail "pg.sh start"
[ "$(ours "$app")" = 2 ] || fail "a refused reset changed the database"
"$top/deploy/pg.sh" stop "$pgdir"

expect_status 0 "with --yes" reset --yes
"$top/deploy/pg.sh" status "$pgdir" >/dev/null 2>&1 && fail "the reset left the cluster running (it found it stopped)"
"$top/deploy/pg.sh" start "$pgdir" >/dev/null || fail "pg.sh start after the reset"
[ "$(ours "$app")" = 0 ] || fail "our key and event survived the reset"
units=$(psql -X -qAt "$app" -c "SELECT count(*) FROM registry.unit WHERE level = 'group'")
tickets=$(psql -X -qAt "$app" -c "SELECT count(*) FROM intake.ticket")
[ "${units:-0}" -gt 100 ] && [ "$tickets" = 0 ] || fail "after the reset: $units groups, $tickets tickets (expected the demo county, no tickets)"
new_key=$(cat "$var/demo-api-key")
[ -n "$new_key" ] && [ "$new_key" != "$old_key" ] || fail "the reset did not write a new demo API key"
works=$(psql -X -qAt "$app" -c "SELECT count(*) FROM registry.api_client
                                WHERE key_sha256 = sha256(convert_to('$new_key', 'UTF8')) AND active")
[ "$works" = 1 ] || fail "the new demo API key is not an active client"
echo "reset_demo: refused while running, with GRIDGOV_DB and without --yes; with --yes the demo county is new"
