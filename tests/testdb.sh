# Sourced by the end-to-end runners (tests/http/run.sh, tests/console/run.sh):
# a throwaway database with the convsearch stores installed.
#   testdb_open SOURCE_DIR NAME   creates database NAME and sets $pg to its
#                                 conninfo. PostgreSQL, in this order:
#     CS_TEST_PG     conninfo of a running cluster ("host=/tmp/x port=5432
#                    user=convsearch", as scripts/pg.sh prints it);
#     CS_TEST_PGDIR  the suite's cluster directory (the pg_cluster fixture of
#                    tests/CMakeLists.txt): scripts/pg.sh start on it is a
#                    no-op that prints its conninfo;
#     neither        a private cluster, started here.
#   testdb_close                  drops it (and stops a private cluster);
#                                 call it from the runner's EXIT trap.
testdb_src=""
testdb_own_pg=""
testdb_name=""
testdb_conninfo=""

testdb_open() {
  testdb_src=$1
  testdb_name=$2
  if [ -n "${CS_TEST_PG:-}" ]; then
    testdb_conninfo=$CS_TEST_PG
  elif [ -n "${CS_TEST_PGDIR:-}" ]; then
    testdb_conninfo=$("$testdb_src/scripts/pg.sh" start "$CS_TEST_PGDIR")
  else
    # The cluster runs as the postgres user when we are root: keep it where
    # that user can reach (a build tree may not be).
    testdb_own_pg=$(mktemp -d /tmp/cs-test-pg.XXXXXX)
    chmod 755 "$testdb_own_pg"
    testdb_conninfo=$("$testdb_src/scripts/pg.sh" start "$testdb_own_pg")
  fi
  psql "$testdb_conninfo dbname=postgres" -qc "CREATE DATABASE $testdb_name" >/dev/null
  pg="$testdb_conninfo dbname=$testdb_name"
}

testdb_close() {
  if [ -n "$testdb_conninfo" ]; then
    psql "$testdb_conninfo dbname=postgres" -qc "DROP DATABASE IF EXISTS $testdb_name" >/dev/null 2>&1 || true
  fi
  if [ -n "$testdb_own_pg" ]; then
    "$testdb_src/scripts/pg.sh" stop "$testdb_own_pg" || true
    rm -rf "$testdb_own_pg"
  fi
}

# testdb_index BIN_DIR WORK_DIR SQL...: installs the stores in the database,
# loads the SQL files and builds WORK_DIR/index with the real indexer.
testdb_index() {
  local bindir=$1 work=$2
  shift 2
  "$bindir/convsearch-indexer" install --pg "$pg" 2>"$work/install.log" ||
    { cat "$work/install.log" >&2; return 1; }
  local f
  for f in "$@"; do
    psql "$pg" -q -v ON_ERROR_STOP=1 -f "$f" >/dev/null
  done
  "$bindir/convsearch-indexer" run --pg "$pg" --index "$work/index" --once 2>"$work/indexer.log" ||
    { cat "$work/indexer.log" >&2; return 1; }
}
