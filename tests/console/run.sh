#!/usr/bin/env bash
# The analyst console's browser test: builds an index with the real indexer
# from tests/http/fixture.sql (+ extra.sql) in a throwaway PostgreSQL
# database, starts the real convsearch-server on a free port with the
# console files of the build tree, and runs console.test.mjs (playwright-core
# driving Debian's chromium) against it; it also compares search facets with
# SQL GROUP BY over the same database. Screenshots go to WORK_DIR.
#
#   tests/console/run.sh BIN_DIR SOURCE_DIR CONSOLE_DIR WORK_DIR
#
# PostgreSQL: see tests/testdb.sh.
set -euo pipefail
bindir=${1:?usage: run.sh BIN_DIR SOURCE_DIR CONSOLE_DIR WORK_DIR}
src=${2:?}
console=${3:?}
work=${4:?}
here=$src/tests/console

chromium=${CS_CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ] || [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "chromium or $here/node_modules is missing: run scripts/setup.sh" >&2
  exit 1
fi

rm -rf "$work"
mkdir -p "$work"

. "$src/tests/testdb.sh"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  testdb_close
}
trap cleanup EXIT
testdb_open "$src" "cs_console_$$"

testdb_index "$bindir" "$work" "$src/tests/http/fixture.sql" "$here/extra.sql"

# Tokens: fresh random values, their hashes in the tokens file.
declare -A tokens
: >"$work/tokens"
chmod 600 "$work/tokens"
for who in "analyst analyst" "portal1 portal employee=1" "portal2 portal employee=2"; do
  name=${who%% *}
  value=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  tokens[$name]=$value
  echo "sha256:$(printf %s "$value" | sha256sum | cut -d' ' -f1) ${who#* }" >>"$work/tokens"
done

: >"$work/server.log" # there before the loop below reads it (set -e, pipefail)
"$bindir/convsearch-server" --index "$work/index" --listen 127.0.0.1:0 --tokens "$work/tokens" \
  --threads 2 --console-dir "$console" 2>"$work/server.log" &
server_pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

CS_URL="http://127.0.0.1:$port" CS_WORK="$work" CS_CHROMIUM="$chromium" CS_PG="$pg" \
  CS_TOKEN_ANALYST=${tokens[analyst]} CS_TOKEN_PORTAL1=${tokens[portal1]} \
  CS_TOKEN_PORTAL2=${tokens[portal2]} node "$here/console.test.mjs"
