#!/usr/bin/env bash
# Runs the HTTP tests end to end: builds the test index with the real
# indexer from tests/http/fixture.sql in a throwaway PostgreSQL database,
# then runs test_http against the real server.
#
#   tests/http/run.sh TEST_HTTP BIN_DIR SOURCE_DIR WORK_DIR [test_http options...]
#
# PostgreSQL, in this order of preference:
#   CS_TEST_PG     conninfo of a running cluster ("host=/tmp/x port=5432
#                  user=convsearch", as scripts/pg.sh prints it);
#   CS_TEST_PGDIR  the suite's cluster directory (the pg_cluster fixture of
#                  tests/CMakeLists.txt): scripts/pg.sh start on it is a
#                  no-op that prints its conninfo;
#   neither        a private cluster, started and stopped here.
# A database of our own is created in the cluster and dropped afterwards.
# CS_HTTP_SKIP=search,conversation skips cases needing engine parts that are
# not built yet.
set -euo pipefail
test_http=${1:?usage: run.sh TEST_HTTP BIN_DIR SOURCE_DIR WORK_DIR}
bindir=${2:?}
src=${3:?}
work=${4:?}
shift 4

rm -rf "$work"
mkdir -p "$work"

own_pg=""
db="cs_http_$$"
cleanup() {
  if [ -n "${conninfo:-}" ]; then
    psql "$conninfo dbname=postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  fi
  if [ -n "$own_pg" ]; then
    "$src/scripts/pg.sh" stop "$own_pg" || true
    rm -rf "$own_pg"
  fi
}
trap cleanup EXIT

if [ -n "${CS_TEST_PG:-}" ]; then
  conninfo=$CS_TEST_PG
elif [ -n "${CS_TEST_PGDIR:-}" ]; then
  conninfo=$("$src/scripts/pg.sh" start "$CS_TEST_PGDIR")
else
  # The cluster runs as the postgres user when we are root: keep it where
  # that user can reach (a build tree may not be).
  own_pg=$(mktemp -d /tmp/cs-http-pg.XXXXXX)
  chmod 755 "$own_pg"
  conninfo=$("$src/scripts/pg.sh" start "$own_pg")
fi
psql "$conninfo dbname=postgres" -qc "CREATE DATABASE $db" >/dev/null
pg="$conninfo dbname=$db"

"$bindir/convsearch-indexer" install --pg "$pg" 2>"$work/install.log" ||
  { cat "$work/install.log" >&2; exit 1; }
psql "$pg" -q -v ON_ERROR_STOP=1 -f "$src/tests/http/fixture.sql" >/dev/null
"$bindir/convsearch-indexer" run --pg "$pg" --index "$work/index" --once 2>"$work/indexer.log" ||
  { cat "$work/indexer.log" >&2; exit 1; }

# --exchanges: every answer, for tests/contract (test openapi_responses).
# --reindex-pg: the reindex job checks run a real `convsearch-indexer
# reindex` of this database through the server.
"$test_http" --server "$bindir/convsearch-server" --index "$work/index" \
  --cases "$src/tests/http" --openapi "$src/api/openapi.yaml" --work "$work/run" \
  --reindex-pg "$pg" --exchanges "$work/exchanges.ndjson" "$@"
