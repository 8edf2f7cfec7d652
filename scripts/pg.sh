#!/usr/bin/env bash
# Starts or stops a private PostgreSQL 15 cluster in a directory of our own.
#   scripts/pg.sh start DIR   -> initdb (first time) and start; prints the conninfo
#   scripts/pg.sh stop DIR    -> fast shutdown (no-op when not running)
#   scripts/pg.sh destroy DIR -> stop, then remove DIR (the test suite's
#                                cluster: a throwaway, ~0.5 GB per build tree)
#   scripts/pg.sh standby DIR PRIMARY_DIR
#                             -> a hot standby of the running cluster in
#                                PRIMARY_DIR (pg_basebackup -R the first time:
#                                streaming replication over its socket), started
#                                like `start`; prints its conninfo
# The cluster listens only on a unix socket inside DIR (no TCP port), trusts
# local connections, and has the superuser "convsearch". As root, the cluster
# runs as the unprivileged "postgres" user (initdb refuses to run as root).
set -euo pipefail
usage="usage: pg.sh start|stop|destroy DIR | standby DIR PRIMARY_DIR"
cmd=${1:?$usage}
dir=${2:?$usage}
pgbin=/usr/lib/postgresql/15/bin
[ -x "$pgbin/pg_ctl" ] || { echo "pg.sh: PostgreSQL 15 server binaries not found in $pgbin" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data=$dir/data
# Unix socket paths are limited to 107 bytes; keep the socket short.
sock=$dir
if [ ${#sock} -gt 80 ]; then
  sock=/tmp/cs-pg-$(echo "$dir" | md5sum | cut -c1-12)
  mkdir -p "$sock"
fi

case "$cmd" in
start|standby)
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir" "$sock"
    if ! runuser -u postgres -- test -x "$dir"; then
      echo "pg.sh: user postgres cannot reach $dir (check the parent directories' permissions)" >&2
      exit 1
    fi
  fi
  if [ "$cmd" = standby ] && [ ! -f "$data/PG_VERSION" ]; then
    primary=$(cat "${3:?usage: pg.sh standby DIR PRIMARY_DIR}/conninfo") ||
      { echo "pg.sh: no running cluster in $3 (pg.sh start it first)" >&2; exit 1; }
    as_owner "$pgbin/pg_basebackup" -D "$data" -R -X stream -c fast -d "$primary" \
      >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; exit 1; }
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    as_owner "$pgbin/initdb" -D "$data" -U convsearch --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$pgbin/pg_ctl" -D "$data" -w -t 60 -l "$dir/postgres.log" \
      -o "-c listen_addresses='' -c unix_socket_directories='$sock' -c port=5432 -c fsync=on -c max_connections=200" \
      start >/dev/null || { tail -20 "$dir/postgres.log" >&2; exit 1; }
  fi
  echo "host=$sock port=5432 user=convsearch" >"$dir/conninfo"
  echo "host=$sock port=5432 user=convsearch"
  ;;
stop|destroy)
  if [ -f "$data/PG_VERSION" ]; then
    as_owner "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ "$cmd" = destroy ]; then
    rm -rf "$dir"
    [ "$sock" = "$dir" ] || rm -rf "$sock"
  fi
  ;;
*) echo "$usage" >&2; exit 2 ;;
esac
