#!/usr/bin/env bash
# Runs the HTTP tests end to end: builds the test index with the real
# indexer from tests/http/fixture.sql in a throwaway PostgreSQL database,
# then runs test_http against the real server.
#
#   tests/http/run.sh TEST_HTTP BIN_DIR SOURCE_DIR WORK_DIR [test_http options...]
#
# PostgreSQL: see tests/testdb.sh (CS_TEST_PG, CS_TEST_PGDIR or a private
# cluster); a database of our own is created and dropped afterwards.
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

. "$src/tests/testdb.sh"
trap testdb_close EXIT
testdb_open "$src" "cs_http_$$"

testdb_index "$bindir" "$work" "$src/tests/http/fixture.sql"

# --exchanges: every answer, for tests/contract (test openapi_responses).
# --reindex-pg: the reindex job checks run a real `convsearch-indexer
# reindex` of this database through the server.
"$test_http" --server "$bindir/convsearch-server" --index "$work/index" \
  --cases "$src/tests/http" --openapi "$src/api/openapi.yaml" --work "$work/run" \
  --reindex-pg "$pg" --exchanges "$work/exchanges.ndjson" "$@"
