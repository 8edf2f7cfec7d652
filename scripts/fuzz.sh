#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ with clang (ASan + UBSan),
# makes their seed corpora and runs each one.
#   scripts/fuzz.sh [SECONDS]             every fuzzer for SECONDS (default 60)
#   scripts/fuzz.sh --build               build and make the seeds only
#   scripts/fuzz.sh --only NAME SECONDS   one fuzzer (query_parser, records, token, router, portal)
# FUZZ_BUILD_DIR: where (default build-fuzz). Seeds are made at run time:
# a real index written by the index writer (tests/fuzz/seeds.c: its values
# for the record and postings decoders, minted tokens), the requests of
# tests/http/*.case for the router and their q= for the query parser.
# Every input in tests/fuzz/regressions/NAME/ runs first: a crash is saved
# as FUZZ_BUILD_DIR/crashes/NAME-crash-*; copy it there to keep it as a
# regression case. Exits non-zero when a fuzzer finds a crash.
# portal fuzzes the portal transcript parser (PL/pgSQL) in a real PostgreSQL:
# the cluster of CS_TEST_PGDIR (the test suite's) or, without it, a
# throwaway one started in FUZZ_BUILD_DIR/pg and stopped at exit.
# clang comes from Debian (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=${FUZZ_BUILD_DIR:-build-fuzz}
fuzzers=(query_parser records token router portal)
mode=all seconds=60 only=
case "${1:-}" in
  --build) mode=build ;;
  --only) mode=one only=${2:?NAME}; seconds=${3:-20} ;;
  '') ;;
  *) seconds=$1 ;;
esac
command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed (scripts/setup.sh)" >&2; exit 77; }

build_all() {
  # One build at a time (CTest may start several fuzz tests).
  mkdir -p "$build"
  exec 9>"$build/.lock"
  flock 9
  if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S "$src" -B "$build" -DCS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build" --target fuzzers -j"$(nproc)" >"$build/build.log" 2>&1 ||
    { tail -30 "$build/build.log" >&2; exit 1; }
  local seeds=$build/seeds
  if [ ! -d "$seeds/index" ] || [ "$build/bin/fuzz_seeds" -nt "$seeds/index" ]; then
    rm -rf "$seeds"
    "$build/bin/fuzz_seeds" "$seeds"
    mkdir -p "$seeds/router" "$seeds/query_parser"
    python3 - "$src/tests/http" "$seeds" <<'PY'
import glob, os, sys, urllib.parse
cases, out = sys.argv[1], sys.argv[2]
n = 0
for path in sorted(glob.glob(os.path.join(cases, "*.case"))):
    req = tok = body = None
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("request: "): req = line[9:]
        elif line.startswith("token: "): tok = line[7:]
        elif line.startswith("body: "): body = line[6:]
    if not req: continue
    n += 1
    with open(os.path.join(out, "router", "c%03d" % n), "w") as f:
        f.write(req + "\n" + (tok or "") + ("\n" + body if body else ""))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(req.split(" ", 1)[-1]).query).get("q")
    if q:
        with open(os.path.join(out, "query_parser", "q%03d" % n), "wb") as f:
            f.write(bytes([n % 16]) + q[0].encode())
PY
    mkdir -p "$seeds/records" "$seeds/token" "$seeds/portal"
    python3 - "$seeds/portal" <<'PY'
import json, os, sys
out = sys.argv[1]
turns = {"conversation": [{"speaker": "Ana", "text": "Hola, ¿cómo está?"},
                          {"speaker": "Persona", "text": "Bien; vengo por el padrón."}]}
once = json.dumps(turns, ensure_ascii=False)
for i, t in enumerate([once, json.dumps(once, ensure_ascii=False),
                       json.dumps(json.dumps(once)), '{"conversation": "x"}', "[]", "null",
                       '[{"speaker": 3, "text": null}, 5, {"text": "sólo texto"}]',
                       '{"conversation": [{"text": "' + "palabra " * 200 + '"}]}',
                       '{"conversation": [', "texto libre sin JSON"]):
    for lead in ("\x0b", "\x01", "\x05"):
        with open(os.path.join(out, "p%02d%d" % (i, ord(lead))), "w") as f:
            f.write(lead + t)
PY
  fi
  exec 9>&-
}

# A PostgreSQL for the portal fuzzer: CS_FUZZ_PG is set to its conninfo.
portal_pg() {
  pg_dir=${CS_TEST_PGDIR:-}
  if [ -z "$pg_dir" ]; then
    pg_dir=$build/pg
    "$src/scripts/pg.sh" start "$pg_dir" >/dev/null
    trap '"$src/scripts/pg.sh" stop "$pg_dir" >/dev/null' EXIT
  fi
  [ -f "$pg_dir/conninfo" ] || { echo "fuzz.sh: no PostgreSQL conninfo in $pg_dir" >&2; exit 1; }
  CS_FUZZ_PG=$(cat "$pg_dir/conninfo")
  export CS_FUZZ_PG CS_SRC_DIR=$src
}

run_one() {
  local name=$1 secs=$2
  [ "$name" = portal ] && [ -z "${CS_FUZZ_PG:-}" ] && portal_pg
  local work=$build/corpus/$name seeds=$build/seeds/$name regress=$src/tests/fuzz/regressions/$name
  mkdir -p "$work" "$build/crashes"
  local dirs=("$work" "$seeds")
  [ -d "$regress" ] && dirs+=("$regress")
  echo "fuzz.sh: $name for ${secs}s"
  CS_FUZZ_INDEX=$build/seeds/index CS_FUZZ_ZDICT=$build/seeds/zdict ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    "$build/bin/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$build/crashes/$name-" \
    "${dirs[@]}" 2>"$build/$name.log" || {
    tail -40 "$build/$name.log" >&2
    echo "fuzz.sh: $name failed; reproducer in $build/crashes/ (copy it to tests/fuzz/regressions/$name/)" >&2
    return 1
  }
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^Done" "$build/$name.log" | tr '\n' ' '
  echo
}

build_all
case $mode in
  build) exit 0 ;;
  one) run_one "$only" "$seconds" ;;
  all)
    status=0
    for f in "${fuzzers[@]}"; do run_one "$f" "$seconds" || status=1; done
    exit $status ;;
esac
