#!/usr/bin/env bash
# The local runner behind `make run`: a private PostgreSQL under var/pg (unless GRIDGOV_DB points
# elsewhere), migrations, the demo county when the database is empty, then every daemon that
# exists, in the foreground with their JSON logs. Ctrl-C or SIGTERM stops everything, the
# database included when this run started it. A daemon that dies is started again after a
# second, as systemd would, unless it exited with 3 (it cannot bind its ports) five times in a
# row, which stops the whole run with the reason.
#
# Before starting anything it checks that it is alone: one make run per var folder (a lock,
# var/run.lock, with the holder's pid in var/run.pid), and its ports (HTTP and the five ZeroMQ
# ports) free; it says which are taken and exits 1. A cluster under var/pg that is already
# running without a make run (started by hand, or left by a make run that was killed) is used
# and left running: only a cluster this run started is stopped by it. "ready" is printed only
# when its own intake answers /healthz (each try bounded by curl --max-time).
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
# tally takes commands (from intake and gridgovctl) on pub_port+3 and publishes on pub_port+4;
# intake's tally_endpoint and tally's own are the same key, so one variable serves both
export GRIDGOV_TALLY_ENDPOINT=${GRIDGOV_TALLY_ENDPOINT:-tcp://127.0.0.1:$((pub_port + 3))}
export GRIDGOV_TALLY_PUB_ENDPOINT=${GRIDGOV_TALLY_PUB_ENDPOINT:-tcp://127.0.0.1:$((pub_port + 4))}
export GRIDGOV_RULES_DIR=${GRIDGOV_RULES_DIR:-$top/deploy/tally/rules}
# the router subscribes to intake; NAME@ says whose key the publisher has
export GRIDGOV_SUB_ENDPOINTS=${GRIDGOV_SUB_ENDPOINTS:-intake@$GRIDGOV_PUB_ENDPOINT}
export GRIDGOV_CALENDAR_DIR=${GRIDGOV_CALENDAR_DIR:-$top/deploy/calendar}
export GRIDGOV_CURVE_DIR=${GRIDGOV_CURVE_DIR:-$var/curve}

say() { printf '%s\n' "$*" >&2; }

# --- Alone or not at all: nothing is started, and nothing stopped, before these checks pass. ---
# The exit status of a daemon that cannot bind its ports (common/daemon.h DAEMON_EXIT_BIND).
exit_bind=3
# A path as the user knows it: relative to the checkout when inside it.
shown() { case $1 in "$top"/*) printf '%s' "${1#"$top"/}";; *) printf '%s' "$1";; esac; }
# The pid and program listening on TCP port $1 when ss can tell (only for our own processes).
port_owner() {
  ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/pid \2: \1/p' | head -1
}
port_taken() { # a listener on 127.0.0.1:$1 (a squatter that accepts and never answers counts)
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}
endpoint_port() { printf '%s' "${1##*:}"; }
problems=0
# One make run per var folder: the lock is the kernel's, so a killed make run leaves none behind.
# Processes that outlive this script (the cluster, the daemons) get the lock's fd closed (9>&-).
exec 9>>"$var/run.lock"
if ! flock -n 9; then
  holder=$(cat "$var/run.pid" 2>/dev/null || echo '?')
  say "gridgov: $(shown "${GRIDGOV_PGDIR:-$var/pg}") is in use by another make run (pid $holder): stop that one first (Ctrl-C in its terminal, or kill $holder)"
  problems=1
fi
declare -A ports=([HTTP]=$GRIDGOV_HTTP_PORT [events]=$(endpoint_port "$GRIDGOV_PUB_ENDPOINT")
                  [commands]=$(endpoint_port "$GRIDGOV_COMMAND_ENDPOINT") [router-events]=$(endpoint_port "$GRIDGOV_ROUTER_PUB_ENDPOINT")
                  [tally-commands]=$(endpoint_port "$GRIDGOV_TALLY_ENDPOINT") [tally-events]=$(endpoint_port "$GRIDGOV_TALLY_PUB_ENDPOINT"))
for what in HTTP events commands router-events tally-commands tally-events; do
  p=${ports[$what]}
  if port_taken "$p"; then
    owner=$(port_owner "$p")
    say "gridgov: port $p ($what) is taken${owner:+ by $owner}; free it or choose other ports (GRIDGOV_HTTP_PORT, GRIDGOV_PUB_PORT)"
    problems=1
  fi
done
if [ "$problems" != 0 ]; then
  say "gridgov: not starting"
  exit 1
fi
echo $$ > "$var/run.pid"

own_pg=0
if [ -z "${GRIDGOV_DB:-}" ]; then
  export GRIDGOV_PGDIR=${GRIDGOV_PGDIR:-$var/pg}
  if "$top/deploy/pg.sh" status "$GRIDGOV_PGDIR" >/dev/null 2>&1; then
    # not started by a make run (the lock says none is running here): use it, never stop it
    say "gridgov: $(shown "$GRIDGOV_PGDIR") is already running (started by hand, or left by a make run that was killed);" \
        "using it, and leaving it running when this stops (deploy/pg.sh stop $(shown "$GRIDGOV_PGDIR") stops it)"
  else
    own_pg=1
  fi
  GRIDGOV_DB=$("$top/deploy/pg.sh" start "$GRIDGOV_PGDIR" 9>&-)
  GRIDGOV_OWNER_DB=$("$top/deploy/pg.sh" owner-url "$GRIDGOV_PGDIR")
  export GRIDGOV_DB
fi
owner_db=${GRIDGOV_OWNER_DB:-$GRIDGOV_DB}
unset GRIDGOV_OWNER_DB   # the daemons get the app role only

declare -A pids=()
stopping=0
shutdown() { # [exit status]
  stopping=1
  say "gridgov: stopping"
  for n in "${!pids[@]}"; do kill -TERM "${pids[$n]}" 2>/dev/null || true; done
  for n in "${!pids[@]}"; do wait "${pids[$n]}" 2>/dev/null || true; done
  if [ "$own_pg" = 1 ]; then "$top/deploy/pg.sh" stop "$GRIDGOV_PGDIR"; fi
  say "gridgov: stopped"
  exit "${1:-0}"
}
trap shutdown INT TERM

# A key pair per daemon and one for gridgovctl (an operator), each made once and never replaced.
mkdir -p -m 0700 "$GRIDGOV_CURVE_DIR"
for k in intake router tally notify gridgovctl; do
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
sub_endpoints = intake@$GRIDGOV_PUB_ENDPOINT,router@$GRIDGOV_ROUTER_PUB_ENDPOINT,tally@$GRIDGOV_TALLY_PUB_ENDPOINT
curve_dir = $GRIDGOV_CURVE_DIR
EOF
)

# notify reads every publisher (intake's, the router's and tally's events); without provider credentials
# every channel goes to the sandbox, which records what would be sent (gridgovctl messages).
notify_subs=intake@$GRIDGOV_PUB_ENDPOINT,router@$GRIDGOV_ROUTER_PUB_ENDPOINT,tally@$GRIDGOV_TALLY_PUB_ENDPOINT
start_daemon() {
  local name=$1
  if [ "$name" = notify ]; then
    GRIDGOV_SUB_ENDPOINTS=$notify_subs "$bin/gridgov-$name" 9>&- &
  else
    "$bin/gridgov-$name" 9>&- &
  fi
  pids[$name]=$!
}

daemons=()
for d in intake router tally notify; do
  [ -x "$bin/gridgov-$d" ] && daemons+=("$d")
done
for d in "${daemons[@]}"; do start_daemon "$d"; done

# A daemon that exited: started again after a second, unless it cannot bind its ports five times
# in a row, 1 to 4 s apart (the ports were free when this started: a port held for a moment by
# another program's connection gets a few more chances, a port someone took no more than that).
declare -A bind_failures=()
reap() { # name
  local d=$1 rc
  wait "${pids[$d]}" 2>/dev/null && rc=0 || rc=$?
  if [ "$rc" = "$exit_bind" ]; then
    bind_failures[$d]=$(( ${bind_failures[$d]:-0} + 1 ))
    if [ "${bind_failures[$d]}" -ge 5 ]; then
      say "gridgov: $d cannot bind its ports (exit $rc, ${bind_failures[$d]} times; its log above says which): not starting it again"
      shutdown 1
    fi
    sleep "${bind_failures[$d]}"
  else
    bind_failures[$d]=0
  fi
  say "gridgov: $d exited ($rc); starting it again"
  start_daemon "$d"
}

# Ready only when our own intake answers: it is alive (the port was free before it started, so
# the answer is its), and each try is bounded, so a listener that never answers cannot hang this.
url="http://127.0.0.1:$GRIDGOV_HTTP_PORT"
healthy=0
for _ in $(seq 1 300); do
  for d in "${daemons[@]}"; do kill -0 "${pids[$d]}" 2>/dev/null || reap "$d"; done
  if [ -n "${pids[intake]:-}" ] && curl -fsS --max-time 2 "$url/healthz" >/dev/null 2>&1 &&
     kill -0 "${pids[intake]}" 2>/dev/null; then
    healthy=1; break
  fi
  sleep 0.1
done
if [ "$healthy" = 0 ] && [ -n "${pids[intake]:-}" ]; then
  say "gridgov: intake did not answer $url/healthz within 30 s; see the logs above"
  shutdown 1
fi
cat >&2 <<EOF

gridgov is ready (daemons: ${daemons[*]})
  health       $url/healthz
  metrics      $url/metrics
  Open311      $url/open311/v2/discovery.json
  native API   $url/api/v1/tickets
  API key      $var/demo-api-key
  gridgovctl   export GRIDGOV_CONFIG=$ctl_conf   (the database, the event endpoints, the bus keys)
  events       $bin/gridgovctl events
  messages     $bin/gridgovctl messages   (what notify sent; the sandbox unless providers are configured)
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
    kill -0 "${pids[$d]}" 2>/dev/null || reap "$d"
  done
done
