#!/usr/bin/env bash
# `make reset-demo YES=1` (or deploy/reset-demo.sh --yes): the demo county as new. Drops the
# `gridgov` database of make run's own cluster (GRIDGOV_PGDIR, default var/pg) with every ticket,
# event, token and API key in it, creates it again, applies the migrations, loads the demo county
# and writes a new demo API key to var/demo-api-key. It refuses:
#   - without --yes: it says what it would delete and changes nothing;
#   - with GRIDGOV_DB set: a server of your own is never dropped by a script (drop it yourself);
#   - while the cluster runs (make run, or anything else, is using it): stop make run first.
# Environment: GRIDGOV_VAR (var/), GRIDGOV_PGDIR (GRIDGOV_VAR/pg), BUILD (build).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
var=${GRIDGOV_VAR:-$top/var}
pgdir=${GRIDGOV_PGDIR:-$var/pg}
ctl=$top/$BUILD/bin/gridgovctl
say() { printf 'reset-demo: %s\n' "$*" >&2; }

yes=0
for a in "$@"; do
  case "$a" in
    --yes) yes=1 ;;
    *) say "usage: deploy/reset-demo.sh --yes   (make reset-demo YES=1)"; exit 2 ;;
  esac
done

if [ -n "${GRIDGOV_DB:-}" ]; then
  say "GRIDGOV_DB is set: that is a server of your own, which this script never drops."
  say "it resets only the cluster make run keeps in ${pgdir} (unset GRIDGOV_DB to reset that one)"
  exit 1
fi
if [ ! -f "$pgdir/data/PG_VERSION" ]; then
  say "no cluster in $pgdir: nothing to reset (make run creates it with the demo county)"
  exit 0
fi
if "$top/deploy/pg.sh" status "$pgdir" >/dev/null 2>&1; then
  say "the cluster in $pgdir is running: stop make run first (Ctrl-C in its terminal), then reset"
  exit 1
fi
if [ "$yes" != 1 ]; then
  say "this deletes every ticket, event, staff token and API key in the database of $pgdir"
  say "and loads the demo county again. To do it: make reset-demo YES=1 (or deploy/reset-demo.sh --yes)"
  exit 2
fi
[ -x "$ctl" ] || { say "$ctl is missing: run make first"; exit 1; }

# The cluster is started for the reset and stopped again, as make run left it.
trap '"$top/deploy/pg.sh" stop "$pgdir"' EXIT
"$top/deploy/pg.sh" start "$pgdir" >/dev/null
admin=$("$top/deploy/pg.sh" admin-url "$pgdir")
owner=$("$top/deploy/pg.sh" owner-url "$pgdir")
PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$admin dbname=postgres" \
  -c 'DROP DATABASE IF EXISTS gridgov WITH (FORCE)'
"$top/deploy/pg.sh" createdb gridgov "$pgdir"
rm -f "$var/demo-api-key"
GRIDGOV_DB=$owner "$ctl" --set log_level=warn migrate "$top/deploy/migrations"
GRIDGOV_DB=$owner "$ctl" --set log_level=warn seed-demo "$top/deploy/seed/demo_county.sql" "$var/demo-api-key"
say "done: the demo county as new, a new API key in $var/demo-api-key; start it with make run"
