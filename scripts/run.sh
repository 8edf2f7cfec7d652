#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts a private PostgreSQL
# cluster under .run/, loads the sample interviews, runs the indexer (live)
# and the query server on 127.0.0.1, and prints how to query it.
# Stop with Ctrl-C: everything started here is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/setup.sh build
run=$root/.run
mkdir -p "$run"
chmod 755 "$run"
port=${CONVSEARCH_PORT:-8750}

pgdir=$run/pg
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$run"; then
  # The unprivileged postgres user cannot enter the clone: keep the cluster in /tmp.
  pgdir=/tmp/convsearch-pg-$(echo "$root" | md5sum | cut -c1-12)
  echo "note: the PostgreSQL cluster lives in $pgdir (postgres cannot enter $run)"
fi
conninfo=$(scripts/pg.sh start "$pgdir")
pg="$conninfo dbname=convsearch"
psql "$conninfo dbname=postgres" -qtc "SELECT 1 FROM pg_database WHERE datname = 'convsearch'" | grep -q 1 ||
  psql "$conninfo dbname=postgres" -qc "CREATE DATABASE convsearch"
build/bin/convsearch-indexer install --pg "$pg"
psql "$pg" -q -v ON_ERROR_STOP=1 -f scripts/sample_data.sql

# Service tokens (hashed in the tokens file, which must not be readable by others).
tokens=$run/tokens
if [ ! -f "$tokens" ]; then
  umask 077
  for who in admin analyst portal1 portal2; do
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' >"$run/token.$who"
  done
  {
    echo "sha256:$(tr -d '\n' <"$run/token.admin" | sha256sum | cut -d' ' -f1) admin"
    echo "sha256:$(tr -d '\n' <"$run/token.analyst" | sha256sum | cut -d' ' -f1) analyst"
    echo "sha256:$(tr -d '\n' <"$run/token.portal1" | sha256sum | cut -d' ' -f1) portal employee=1"
    echo "sha256:$(tr -d '\n' <"$run/token.portal2" | sha256sum | cut -d' ' -f1) portal employee=2"
  } >"$tokens"
  umask 022
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg.sh stop "$pgdir"
}
trap cleanup EXIT INT TERM

# An index left by an older convsearch (another format version) is rebuilt
# from the stores: a reindex makes a new generation in the current format.
if [ -e "$run/index/current" ] && ! build/bin/convsearch-indexer status --index "$run/index" >/dev/null 2>&1; then
  echo "note: $run/index is not readable by this version; rebuilding it from the stores (reindex)"
  build/bin/convsearch-indexer reindex --pg "$pg" --index "$run/index" >/dev/null
fi
build/bin/convsearch-indexer run --pg "$pg" --index "$run/index" --once
build/bin/convsearch-indexer run --pg "$pg" --index "$run/index" 2>>"$run/indexer.log" &
pids+=($!)
if [ -x build/bin/convsearch-server ]; then
  # --reindex-pg: POST /v1/admin/reindex runs a batch reindex as a job.
  # nice 10, as its systemd unit: searches yield the CPU to the indexer.
  nice -n 10 build/bin/convsearch-server --index "$run/index" --listen "127.0.0.1:$port" --tokens "$tokens" \
    --reindex-pg "$pg" 2>>"$run/server.log" &
  pids+=($!)
fi
build/bin/convsearch-indexer status --index "$run/index"

cat <<TXT

convsearch is running (logs in .run/indexer.log and .run/server.log).
  index:       $run/index
  PostgreSQL:  psql "$pg"
  query it from the command line:
    build/bin/convsearch-indexer query --index .run/index "desahucio alquiler"
TXT
if [ -x build/bin/convsearch-server ]; then
  cat <<TXT
  analyst console: http://127.0.0.1:$port/console/
    (sign in with the analyst token: cat .run/token.analyst)
  query it over HTTP (token of employee 1 in .run/token.portal1):
    curl -s -H "Authorization: Bearer \$(cat .run/token.portal1)" 'http://127.0.0.1:$port/v1/search?q=desahucio'
    curl -s -H "Authorization: Bearer \$(cat .run/token.portal1)" 'http://127.0.0.1:$port/v1/patients?sort=name'
    curl -s 'http://127.0.0.1:$port/v1/health'
  rebuild the index from the stores while it serves (admin token), then follow the job:
    curl -s -X POST -H "Authorization: Bearer \$(cat .run/token.admin)" 'http://127.0.0.1:$port/v1/admin/reindex'
    curl -s -H "Authorization: Bearer \$(cat .run/token.admin)" 'http://127.0.0.1:$port/v1/admin/jobs/JOB_ID'
TXT
fi
cat <<TXT
  add a turn and see it indexed live:
    psql "$pg" -c "INSERT INTO segments VALUES (1, 99, 'Ana', 'interviewer', 0, 0, 'prueba en directo')"
Press Ctrl-C to stop.
TXT
wait
