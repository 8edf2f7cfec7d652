#!/usr/bin/env bash
# Runs the Python client's tests against the real server: builds the HTTP
# tests' index (tests/http/fixture.sql, by tests/http/run.sh given `true`
# as its HTTP test program: the index stays in WORK_DIR/index), then
# python3 -m unittest, whose module starts convsearch-server on 127.0.0.1
# over that index.
#   clients/python/tests/run.sh BIN_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
bindir=${1:?usage: run.sh BIN_DIR SOURCE_DIR WORK_DIR}
src=${2:?}
work=${3:?}
"$src/tests/http/run.sh" "$(command -v true)" "$bindir" "$src" "$work"
export CS_SERVER="$bindir/convsearch-server" CS_INDEX="$work/index" CS_WORK="$work"
export PYTHONPATH="$src/clients/python" PYTHONDONTWRITEBYTECODE=1
cd "$src/clients/python/tests"
exec python3 -m unittest -v test_client
