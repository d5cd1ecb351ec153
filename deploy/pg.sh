#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for gridgov. DIR defaults to var/pg in the checkout.
#   pg.sh start [DIR]          start it (created the first time); prints the daemons' connection string
#   pg.sh stop|status [DIR]
#   pg.sh url [DIR]            the daemons' connection string: role gridgov_app (rows only, owns nothing)
#   pg.sh owner-url [DIR]      gridgovctl migrate and seed-demo: role gridgov_owner (owns the schemas)
#   pg.sh admin-url [DIR]      the cluster's superuser `postgres`: CREATE/DROP DATABASE, CHECKPOINT
#   pg.sh createdb NAME [DIR]  one more database for gridgov (tests, benchmarks), set up as `gridgov` is
# Each connection string names database gridgov; append " dbname=NAME" for another.
#
# The cluster is closed to every other local user (README, "Trust model: the database"):
# - no TCP listener: the server listens on a Unix socket in DIR only; DIR and the socket are 0700,
#   owned by the server's user (as root that is `postgres`, and root itself still gets in);
# - peer authentication through a map (pg_ident.conf) that admits only the OS user who ran
#   `pg.sh start` and the server's user: a process of any other user is refused whatever role it
#   names. pg_hba.conf and pg_ident.conf are rewritten at every start, so an older cluster that
#   trusted everyone is closed the next time it starts;
# - the daemons' role is no superuser (deploy/roles.sql, applied at every start).
# GRIDGOV_PG_TCP=1 at start adds a listener on 127.0.0.1 for tools that cannot use a socket:
# scram-sha-256 only, for gridgov_owner and gridgov_app (never the superuser), with passwords
# generated into DIR/pgpass (0600, owned by whoever ran start); url and owner-url then name
# host=127.0.0.1 and that passfile.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail

cmd=${1:-}
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$cmd" = createdb ]; then
  newdb=${2:-}
  dir=${3:-${GRIDGOV_PGDIR:-$top/var/pg}}
else
  dir=${2:-${GRIDGOV_PGDIR:-$top/var/pg}}
fi
pgbin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[ -n "$pgbin" ] || { echo "pg.sh: PostgreSQL 15 is not installed (run deploy/install-deps.sh)" >&2; exit 1; }
# The port only names the socket file when there is no TCP listener: every cluster has its own folder.
socket_port=5432
me=$(id -un)

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
  # The socket lives here: nobody but the server's user (and root) may enter.
  chmod 700 "$real"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$real"
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

conninfo() { # ROLE
  real=$(readlink -f "$dir")
  local port; port=$(cat "$real/port")
  if [ "$1" != postgres ] && [ -f "$real/tcp" ]; then
    echo "host=127.0.0.1 port=$port dbname=gridgov user=$1 passfile=$real/pgpass"
  else
    echo "host=$real port=$port dbname=gridgov user=$1"
  fi
}

# psql as the cluster's superuser, over the socket, as the user running this script (the map
# admits it). Root needs no runuser for this: it may enter the server's folder.
psql_admin() { # DB [psql args...]
  local db=$1; shift
  PGOPTIONS='-c client_min_messages=warning' "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$real" -p "$(cat "$real/port")" -U postgres -d "$db" "$@"
}

# Who may connect, written at every start (the server reads both files when it starts).
write_auth() { # TCP(0|1)
  local server_user=$me
  [ "$(id -u)" = 0 ] && server_user=postgres
  {
    echo "# Written by deploy/pg.sh at every start; edits here are lost. See README, \"Trust model: the database\"."
    echo "# TYPE  DATABASE  USER                       ADDRESS       METHOD"
    echo "local   all       all                                      peer map=gridgov"
    [ "$1" = 1 ] && echo "host    all       gridgov_owner,gridgov_app  127.0.0.1/32  scram-sha-256"
    true
  } > "$real/data/pg_hba.conf"
  {
    echo "# Written by deploy/pg.sh at every start: the OS users who may connect, and as which roles."
    echo "# MAPNAME  SYSTEM-USERNAME  PG-USERNAME"
    for role in postgres gridgov_owner gridgov_app; do echo "gridgov    $me    $role"; done
    [ "$server_user" != "$me" ] && echo "gridgov    $server_user    postgres"
    true
  } > "$real/data/pg_ident.conf"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$real/data/pg_hba.conf" "$real/data/pg_ident.conf"; fi
  chmod 600 "$real/data/pg_hba.conf" "$real/data/pg_ident.conf"
}

# GRIDGOV_PG_TCP=1: a password per role, kept only in DIR/pgpass (libpq's format).
write_pgpass() {
  [ -s "$real/pgpass" ] && return 0
  local pw_owner pw_app
  pw_owner=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  pw_app=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  (umask 077; printf '*:*:*:gridgov_owner:%s\n*:*:*:gridgov_app:%s\n' "$pw_owner" "$pw_app" > "$real/pgpass.new")
  mv "$real/pgpass.new" "$real/pgpass"
}

# Roles, the database and their privileges; idempotent, so every start also upgrades a cluster an
# older pg.sh made, whose superuser `gridgov` owned the databases and every object: they are
# handed to gridgov_owner and that role is closed (not dropped: other databases may hold its objects).
setup_db() { # NAME
  if ! psql_admin postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1; then
    # roles.sql hands it to gridgov_owner
    psql_admin postgres -c "CREATE DATABASE \"$1\" ENCODING 'UTF8' TEMPLATE template0" >/dev/null
  fi
  psql_admin "$1" -f "$top/deploy/roles.sql" >/dev/null
  psql_admin "$1" >/dev/null <<'EOF'
DO $$
BEGIN
    IF to_regrole('gridgov') IS NOT NULL THEN
        REASSIGN OWNED BY gridgov TO gridgov_owner;
        ALTER ROLE gridgov NOLOGIN NOSUPERUSER;
    END IF;
END $$;
EOF
}

set_passwords() { # TCP(0|1)
  if [ "$1" = 1 ]; then
    # The passwords travel to the server inside psql's own session (read from the file by psql,
    # never on a command line) and are stored as SCRAM verifiers.
    psql_admin postgres <<EOF >/dev/null
\\set pw_owner \`sed -n 's/^\*:\*:\*:gridgov_owner://p' "$real/pgpass"\`
\\set pw_app \`sed -n 's/^\*:\*:\*:gridgov_app://p' "$real/pgpass"\`
SET password_encryption = 'scram-sha-256';
ALTER ROLE gridgov_owner PASSWORD :'pw_owner';
ALTER ROLE gridgov_app PASSWORD :'pw_app';
EOF
  else
    psql_admin postgres -c "ALTER ROLE gridgov_owner PASSWORD NULL" -c "ALTER ROLE gridgov_app PASSWORD NULL" >/dev/null
  fi
}

case "$cmd" in
start)
  prepare_dir
  # One start at a time: a second caller waits, then finds the server up and set up.
  exec 9>"$real/start.lock"
  flock -w 300 9 || { echo "pg.sh: another start of $real did not finish" >&2; exit 1; }
  if [ ! -f "$real/data/PG_VERSION" ]; then
    as_pg "$pgbin/initdb" -D "$real/data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=scram-sha-256 >"$real/initdb.log" 2>&1 \
      || { echo "pg.sh: initdb failed, see $real/initdb.log" >&2; tail -5 "$real/initdb.log" >&2; exit 1; }
  fi
  if as_pg "$pgbin/pg_ctl" -D "$real/data" status >/dev/null 2>&1; then
    if ! grep -q "Written by deploy/pg.sh" "$real/data/pg_hba.conf"; then
      # started by an older pg.sh: trust on TCP, and none of the roles below exist yet
      echo "pg.sh: the server in $real was started by an older deploy/pg.sh and lets every local user in;" \
           "stop it (deploy/pg.sh stop $dir) and start it again" >&2
      exit 1
    fi
    if [ "${GRIDGOV_PG_TCP:-0}" = 1 ] && [ ! -f "$real/tcp" ]; then
      echo "pg.sh: $real is already running without TCP; stop it first for GRIDGOV_PG_TCP=1" >&2
    fi
    conninfo gridgov_app; exit 0
  fi
  tcp=0
  [ "${GRIDGOV_PG_TCP:-0}" = 1 ] && tcp=1
  write_auth "$tcp"
  if [ "$tcp" = 1 ]; then
    write_pgpass; : > "$real/tcp"
    listen=127.0.0.1
  else
    rm -f "$real/tcp" "$real/pgpass"
    listen="''"
  fi
  # With TCP another cluster may take the port between the check and the bind: try a few.
  started=0
  for _ in 1 2 3 4 5; do
    if [ "$tcp" = 1 ]; then port=$(free_port); else port=$socket_port; fi
    echo "$port" > "$real/port"
    [ "$(id -u)" = 0 ] && chown postgres "$real/port"
    # Durability stays on (fsync, synchronous_commit): answered means committed.
    if as_pg "$pgbin/pg_ctl" -D "$real/data" -l "$real/server.log" -w -t 60 \
      -o "-p $port -k $real -c listen_addresses=$listen -c unix_socket_permissions=0700 -c max_connections=200 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on" \
      start >/dev/null 9>&-; then   # the server must not hold the start lock
      started=1; break
    fi
    [ "$tcp" = 1 ] || break
    sleep "0.$((RANDOM % 9 + 1))"
  done
  [ "$started" = 1 ] || { echo "pg.sh: server did not start, see $real/server.log" >&2; tail -20 "$real/server.log" >&2; exit 1; }
  setup_db gridgov
  set_passwords "$tcp"
  conninfo gridgov_app
  ;;
createdb)
  [[ $newdb =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "usage: deploy/pg.sh createdb NAME [DIR] (NAME: a-z, 0-9, _)" >&2; exit 2; }
  real=$(readlink -f "$dir")
  setup_db "$newdb"
  ;;
stop)
  [ -f "$dir/data/PG_VERSION" ] || exit 0
  as_pg "$pgbin/pg_ctl" -D "$(readlink -f "$dir")/data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
status)
  as_pg "$pgbin/pg_ctl" -D "$(readlink -f "$dir")/data" status
  ;;
url)
  conninfo gridgov_app
  ;;
owner-url)
  conninfo gridgov_owner
  ;;
admin-url)
  conninfo postgres
  ;;
*)
  echo "usage: deploy/pg.sh start|stop|status|url|owner-url|admin-url [DIR] | createdb NAME [DIR]" >&2; exit 2;;
esac
