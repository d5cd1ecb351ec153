#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for gridgov: `pg.sh start|stop|status|url [DIR]`.
# DIR defaults to var/pg in the checkout. The cluster listens on a Unix socket in DIR and on
# 127.0.0.1 at a free port; start prints the libpq connection string on stdout.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail

cmd=${1:-}
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-${GRIDGOV_PGDIR:-$top/var/pg}}
pgbin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[ -n "$pgbin" ] || { echo "pg.sh: PostgreSQL 15 is not installed (run deploy/install-deps.sh)" >&2; exit 1; }

as_pg() {
  # from / : the caller's folder may be closed to postgres
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# As root the server runs as `postgres`, which must be able to enter every parent folder of the
# cluster. When it cannot (a checkout under /root, say), the cluster lives under /var/tmp instead
# and DIR becomes a link to it, so callers keep using DIR.
prepare_dir() {
  if [ "$(id -u)" = 0 ] && [ ! -e "$dir" ]; then
    mkdir -p "$(dirname "$dir")"
    if ! runuser -u postgres -- test -x "$(dirname "$dir")" 2>/dev/null ||
       ! runuser -u postgres -- test -r "$(dirname "$dir")" 2>/dev/null; then
      local far
      far=/var/tmp/gridgov-pg-$(printf '%s' "$dir" | md5sum | cut -c1-12)
      mkdir -p "$far"
      ln -sfn "$far" "$dir"
      echo "pg.sh: the postgres user cannot enter $(dirname "$dir"); the cluster lives in $far" >&2
    fi
  fi
  mkdir -p "$dir"
  real=$(readlink -f "$dir")
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$real"
    chmod 700 "$real"
    if ! runuser -u postgres -- test -w "$real"; then
      cat >&2 <<EOF
pg.sh: the postgres user cannot reach $real
  (a parent folder is closed to it, as /root is). Either give it a way in, e.g.
    chmod o+x <each parent folder>
  or keep the cluster elsewhere:
    GRIDGOV_PGDIR=/var/tmp/gridgov-pg make run
EOF
      exit 1
    fi
  fi
}

free_port() {
  local p
  local start=$((54320 + RANDOM % 150))
  for p in $(seq "$start" 54520) $(seq 54320 "$start"); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && [ ! -e "/tmp/.s.PGSQL.$p.lock" ]; then
      echo "$p"; return
    fi
  done
  echo "pg.sh: no free port in 54320-54520" >&2; exit 1
}

conninfo() {
  local port; port=$(cat "$dir/port")
  echo "host=$(readlink -f "$dir") port=$port dbname=gridgov user=gridgov"
}

case "$cmd" in
start)
  prepare_dir
  if [ ! -f "$real/data/PG_VERSION" ]; then
    as_pg "$pgbin/initdb" -D "$real/data" -U postgres -E UTF8 --locale=C.UTF-8 -A trust >"$real/initdb.log" 2>&1 \
      || { echo "pg.sh: initdb failed, see $real/initdb.log" >&2; tail -5 "$real/initdb.log" >&2; exit 1; }
  fi
  if as_pg "$pgbin/pg_ctl" -D "$real/data" status >/dev/null 2>&1; then
    conninfo; exit 0
  fi
  # Another cluster may take the port between the check and the bind: try a few.
  started=0
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    echo "$port" > "$real/port"
    [ "$(id -u)" = 0 ] && chown postgres "$real/port"
    # Durability stays on (fsync, synchronous_commit): answered means committed.
    if as_pg "$pgbin/pg_ctl" -D "$real/data" -l "$real/server.log" -w -t 60 \
      -o "-p $port -k $real -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on" \
      start >/dev/null; then
      started=1; break
    fi
    sleep "0.$((RANDOM % 9 + 1))"
  done
  [ "$started" = 1 ] || { echo "pg.sh: server did not start, see $real/server.log" >&2; tail -20 "$real/server.log" >&2; exit 1; }
  if ! as_pg "$pgbin/psql" -h "$real" -p "$port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='gridgov'" | grep -q 1; then
    as_pg "$pgbin/psql" -q -h "$real" -p "$port" -U postgres -d postgres -c "CREATE ROLE gridgov LOGIN SUPERUSER" >/dev/null
    as_pg "$pgbin/psql" -q -h "$real" -p "$port" -U postgres -d postgres -c "CREATE DATABASE gridgov OWNER gridgov ENCODING 'UTF8' TEMPLATE template0" >/dev/null
  fi
  conninfo
  ;;
stop)
  [ -f "$dir/data/PG_VERSION" ] || exit 0
  as_pg "$pgbin/pg_ctl" -D "$(readlink -f "$dir")/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
status)
  as_pg "$pgbin/pg_ctl" -D "$(readlink -f "$dir")/data" status
  ;;
url)
  conninfo
  ;;
*)
  echo "usage: deploy/pg.sh start|stop|status|url [DIR]" >&2; exit 2;;
esac
