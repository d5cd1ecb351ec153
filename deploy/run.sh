#!/usr/bin/env bash
# The local runner behind `make run`: a private PostgreSQL under var/pg (unless GRIDGOV_DB points
# elsewhere), migrations, the demo county when the database is empty, then every daemon that
# exists, in the foreground with their JSON logs. Ctrl-C or SIGTERM stops everything, the
# database included. A daemon that dies is started again after a second, as systemd would.
#
# The daemons connect as gridgov_app, which only reads and writes rows; the migrations and the
# demo seed run as gridgov_owner (deploy/roles.sql, README "Trust model: the database").
# The bus runs with CURVE: each daemon and gridgovctl get a key pair under var/curve (secret keys
# 0600), made on the first run.
#
# Environment: GRIDGOV_HTTP_PORT (8080), GRIDGOV_PUB_PORT (7101), GRIDGOV_DB (a server of your
# own, for the daemons), GRIDGOV_OWNER_DB (the same server as the schema's owner, for migrate and
# seed-demo; default GRIDGOV_DB), GRIDGOV_PGDIR, GRIDGOV_PG_TCP (1: the private cluster also
# listens on 127.0.0.1, scram passwords in GRIDGOV_PGDIR/pgpass), GRIDGOV_VAR (var/),
# GRIDGOV_CURVE_DIR (var/curve), BUILD (build).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
bin="$top/$BUILD/bin"
var=${GRIDGOV_VAR:-$top/var}
mkdir -p "$var/log"
export GRIDGOV_HTTP_PORT=${GRIDGOV_HTTP_PORT:-8080}
pub_port=${GRIDGOV_PUB_PORT:-7101}
# intake publishes on pub_port, the router takes commands on pub_port+1 and publishes on pub_port+2
export GRIDGOV_PUB_ENDPOINT=${GRIDGOV_PUB_ENDPOINT:-tcp://127.0.0.1:$pub_port}
export GRIDGOV_COMMAND_ENDPOINT=${GRIDGOV_COMMAND_ENDPOINT:-tcp://127.0.0.1:$((pub_port + 1))}
export GRIDGOV_ROUTER_ENDPOINT=$GRIDGOV_COMMAND_ENDPOINT
export GRIDGOV_ROUTER_PUB_ENDPOINT=${GRIDGOV_ROUTER_PUB_ENDPOINT:-tcp://127.0.0.1:$((pub_port + 2))}
# the router subscribes to intake; NAME@ says whose key the publisher has
export GRIDGOV_SUB_ENDPOINTS=${GRIDGOV_SUB_ENDPOINTS:-intake@$GRIDGOV_PUB_ENDPOINT}
export GRIDGOV_CALENDAR_DIR=${GRIDGOV_CALENDAR_DIR:-$top/deploy/calendar}
export GRIDGOV_CURVE_DIR=${GRIDGOV_CURVE_DIR:-$var/curve}

say() { printf '%s\n' "$*" >&2; }

own_pg=0
if [ -z "${GRIDGOV_DB:-}" ]; then
  export GRIDGOV_PGDIR=${GRIDGOV_PGDIR:-$var/pg}
  GRIDGOV_DB=$("$top/deploy/pg.sh" start "$GRIDGOV_PGDIR")
  GRIDGOV_OWNER_DB=$("$top/deploy/pg.sh" owner-url "$GRIDGOV_PGDIR")
  export GRIDGOV_DB
  own_pg=1
fi
owner_db=${GRIDGOV_OWNER_DB:-$GRIDGOV_DB}
unset GRIDGOV_OWNER_DB   # the daemons get the app role only

declare -A pids=()
stopping=0
shutdown() {
  stopping=1
  say "gridgov: stopping"
  for n in "${!pids[@]}"; do kill -TERM "${pids[$n]}" 2>/dev/null || true; done
  for n in "${!pids[@]}"; do wait "${pids[$n]}" 2>/dev/null || true; done
  if [ "$own_pg" = 1 ]; then "$top/deploy/pg.sh" stop "$GRIDGOV_PGDIR"; fi
  say "gridgov: stopped"
  exit 0
}
trap shutdown INT TERM

# A key pair per daemon and one for gridgovctl (an operator), each made once and never replaced.
mkdir -p -m 0700 "$GRIDGOV_CURVE_DIR"
for k in intake router gridgovctl; do
  [ -f "$GRIDGOV_CURVE_DIR/$k.key" ] || "$bin/gridgovctl" keygen "$k" "$GRIDGOV_CURVE_DIR" >/dev/null
done

GRIDGOV_DB=$owner_db "$bin/gridgovctl" migrate "$top/deploy/migrations"
GRIDGOV_DB=$owner_db "$bin/gridgovctl" seed-demo "$top/deploy/seed/demo_county.sql" "$var/demo-api-key"

# gridgovctl in another terminal reaches this run through one file (export GRIDGOV_CONFIG=...):
# the daemons' database and every publisher of events. Mode 0600: a GRIDGOV_DB of your own may
# hold a password (the private cluster's needs none).
ctl_conf=$var/gridgovctl.conf
(umask 077; cat > "$ctl_conf" <<EOF
# Written by deploy/run.sh at every start. In another terminal: export GRIDGOV_CONFIG=$ctl_conf
[gridgovctl]
db = $GRIDGOV_DB
sub_endpoints = intake@$GRIDGOV_PUB_ENDPOINT,router@$GRIDGOV_ROUTER_PUB_ENDPOINT
curve_dir = $GRIDGOV_CURVE_DIR
EOF
)

start_daemon() {
  local name=$1
  "$bin/gridgov-$name" &
  pids[$name]=$!
}

daemons=()
for d in intake router tally notify; do
  [ -x "$bin/gridgov-$d" ] && daemons+=("$d")
done
for d in "${daemons[@]}"; do start_daemon "$d"; done

url="http://127.0.0.1:$GRIDGOV_HTTP_PORT"
for _ in $(seq 1 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
cat >&2 <<EOF

gridgov is ready (daemons: ${daemons[*]})
  health       $url/healthz
  metrics      $url/metrics
  Open311      $url/open311/v2/discovery.json
  native API   $url/api/v1/tickets
  API key      $var/demo-api-key
  gridgovctl   export GRIDGOV_CONFIG=$ctl_conf   (the database, the event endpoints, the bus keys)
  events       $bin/gridgovctl events
  bus keys     $GRIDGOV_CURVE_DIR (CURVE; secret keys 0600)
  database     $GRIDGOV_DB
  schema owner psql "$owner_db"
Press Ctrl-C to stop.


EOF

parent=$PPID
while :; do
  sleep 1 &
  wait $! || true
  [ "$stopping" = 1 ] && break
  # `make run` killed by a signal to make alone (not to the process group): stop with it
  kill -0 "$parent" 2>/dev/null || shutdown
  for d in "${daemons[@]}"; do
    if ! kill -0 "${pids[$d]}" 2>/dev/null; then
      wait "${pids[$d]}" 2>/dev/null && rc=0 || rc=$?
      say "gridgov: $d exited ($rc); starting it again"
      start_daemon "$d"
    fi
  done
done
