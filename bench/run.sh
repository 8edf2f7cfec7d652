#!/usr/bin/env bash
# Runs the whole benchmark (issues #6, #10) and writes bench/RESULTS.md and
# bench/results.json.
#
#   bench/run.sh [--quick | --scale [--sizes "N ..."]] [--reps N] [--http-seconds S]
#                [--http-reps N]
#
#   --quick          ParlaMint-ES subset (every 10th sitting, ~10%): ~10 minutes
#   (default)        the whole corpus (243,994 turns, ~121 MB of text): ~30 minutes
#   --scale          only the scale curve (issue #10 item 8, bench/scale.sh):
#                    synthetic interviews at 10k, 100k and 1M conversations
#                    (--sizes to choose); writes the "scale" section of
#                    bench/results.json and bench/out/scale/scale.md. Hours at 1M.
#   --reps N         bulk builds repeated N times, median reported (default 3;
#                    Xapian, the slowest, once)
#   --http-seconds S length of each HTTP load phase (default 10 quick, 20 full)
#   --http-reps N    the two idle HTTP phases run N times in turn, the median
#                    run of each reported with the others' range (default 1
#                    quick, 3 full: one 20 s phase moved by up to 10 % between
#                    runs); the phases while indexing run once, after them
#                    (their writes go to the employees' people: a second run
#                    would search a larger caseload)
#
# What it does, all on this machine and 127.0.0.1 only:
#   1. builds the programs (Release) in bench/out/build, with -DCS_BENCH=ON;
#   2. starts a private PostgreSQL 15 (scripts/pg.sh) in /tmp, tunes it
#      (shared_buffers 2GB, ...), loads ParlaMint-ES into the canonical stores
#      with COPY (bench/load_parlamint.py + bench/load_tsv.sh);
#   3. bulk indexing: `convsearch-indexer run --once` (catch-up from
#      PostgreSQL, pinned to one core) vs the peers' bulk builds;
#   4. generates the query sets (fixed seed) into bench/queries/MODE/ and
#      measures top-10 latency per query type, single thread, warm, in
#      process: ours (cs_engine_search_text) and each peer; the top-10 ids are kept
#      beside the queries;
#   5. HTTP: convsearch-server + wrk (64 connections, rotating queries),
#      first idle, then while the following indexer ingests a steady write
#      load, with freshness probes (cs-bench-live); query-server RSS;
#   6. synthetic interviews (cs-bench-synth): indexing throughput and indexer
#      peak memory at a larger scale (and a following indexer's own memory
#      once idle after the same load), then a smaller set indexed by every
#      engine with its own query set: bulk build and latency on the portal's
#      shape (short turns, ~37 per conversation);
#   7. bench/report.py writes bench/RESULTS.md (the hand-written analysis in
#      bench/analysis.md is appended).
# Everything started here is stopped at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bench=$root/bench

mode=full
reps=3
http_s=
http_reps=
sizes="10000 100000 1000000"
while [ $# -gt 0 ]; do
  case "$1" in
  --quick) mode=quick ;;
  --scale) mode=scale ;;
  --sizes) sizes=${2:?}; shift ;;
  --reps) reps=${2:?}; shift ;;
  --http-seconds) http_s=${2:?}; shift ;;
  --http-reps) http_reps=${2:?}; shift ;;
  -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
  *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ $mode = scale ]; then
  per_type=100 passes_fast=3 max_q=60 http_s=${http_s:-10}
elif [ $mode = quick ]; then
  every=10 per_type=100 synth_n=5000 synl_n=2000 passes_fast=5 passes_slow=2 max_q=60
  xapian_reps=1 http_s=${http_s:-10} http_reps=${http_reps:-1}
else
  every=1 per_type=200 synth_n=50000 synl_n=10000 passes_fast=3 passes_slow=1 max_q=150
  xapian_reps=1 http_s=${http_s:-20} http_reps=${http_reps:-3}
fi
# The project's own packages, then the peers' (bench only).
"$root/scripts/setup.sh" build >/dev/null
missing=()
for p in libsqlite3-dev libxapian-dev wrk g++ openjdk-17-jdk-headless maven; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi

corpus=$root/../shared/corpora/parlamint-es/parlamint-es.jsonl.gz
[ -f "$corpus" ] || { echo "run.sh: $corpus not found" >&2; exit 1; }

out=$bench/out/$mode
rm -rf "$out"
mkdir -p "$out"
chmod 755 "$bench/out" "$out"
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# Runs VACUUM (ANALYZE) and a CHECKPOINT on database $1 and waits for any
# autovacuum worker to finish: freshly loaded tables draw autovacuum and
# autoanalyze, and leave dirty pages to be written, work that would otherwise
# share the machine (and the disk the indexer syncs to) with the phases
# that follow.
settle_pg() {
  psql "$1" -qAt -c "VACUUM (ANALYZE)" -c "CHECKPOINT" >/dev/null 2>&1 || true
  local n
  for _ in $(seq 1 120); do
    n=$(psql "$conninfo dbname=postgres" -qAt -c \
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'" 2>/dev/null || echo 0)
    [ "$n" = 0 ] && break
    sleep 0.5
  done
}
t_start=$(date +%s)

# ------------------------------------------------------------------ build
build=$bench/out/build
log "building (Release) in $build"
# What is built is what the report names: the sources as they are now (a
# change made while the run measures is not in its binaries).
build_commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
build_dirty=$(git --no-optional-locks status --porcelain 2>/dev/null | { grep -v '^.. bench/' || true; } | wc -l)
# A build tree configured from another source (an older layout) is rebuilt.
if [ -f "$build/CMakeCache.txt" ] && ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$root\$" "$build/CMakeCache.txt"; then
  rm -rf "$build"
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCS_BENCH=ON >"$out/cmake.log"
cmake --build "$build" -j"$(nproc)" --target convsearch-indexer convsearch-server cs-bench-ours \
  cs-bench-live cs-bench-synth cs-bench-fts5 cs-bench-pgfts cs-bench-xapian >"$out/build.log" 2>&1 ||
  { tail -30 "$out/build.log" >&2; exit 1; }
bin=$build/bin
# The JVM and Rust peers: Maven and Cargo fill their caches online the first
# time, then build offline.
log "building the Lucene peer (Maven) and the Tantivy peer (Cargo)"
(cd "$bench/lucene" && { mvn -q -o package >"$out/lucene-build.log" 2>&1 ||
  mvn -q package >>"$out/lucene-build.log" 2>&1; }) || { tail -30 "$out/lucene-build.log" >&2; exit 1; }
[ -x "$HOME/.cargo/bin/cargo" ] && PATH=$HOME/.cargo/bin:$PATH
command -v cargo >/dev/null || { echo "run.sh: cargo (Rust) is needed for the Tantivy peer" >&2; exit 1; }
export CARGO_TARGET_DIR=$bench/out/tantivy-target
(cd "$bench/tantivy" && { cargo build -q --release --offline --locked >"$out/tantivy-build.log" 2>&1 ||
  cargo build -q --release --locked >>"$out/tantivy-build.log" 2>&1; }) ||
  { tail -30 "$out/tantivy-build.log" >&2; exit 1; }
lucene=(java -Xms1g -Xmx2g -cp "$bench/out/lucene-target/classes:$bench/out/lucene-target/lib/*" LuceneBench)
tantivy=("$CARGO_TARGET_DIR/release/cs-bench-tantivy")

# ------------------------------------------------------------------ processes
pids=()
pgdir=/tmp/cs-bench-pg-$(echo "$root" | md5sum | cut -c1-12)
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$root/scripts/pg.sh" stop "$pgdir" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ PostgreSQL
log "starting PostgreSQL in $pgdir"
"$root/scripts/pg.sh" stop "$pgdir" >/dev/null 2>&1 || true
conninfo=$("$root/scripts/pg.sh" start "$pgdir")
psql "$conninfo dbname=postgres" -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
ALTER SYSTEM SET shared_buffers = '2GB';
ALTER SYSTEM SET effective_cache_size = '8GB';
ALTER SYSTEM SET maintenance_work_mem = '1GB';
ALTER SYSTEM SET work_mem = '64MB';
ALTER SYSTEM SET max_wal_size = '8GB';
SQL
"$root/scripts/pg.sh" stop "$pgdir"
conninfo=$("$root/scripts/pg.sh" start "$pgdir")
if [ $mode = scale ]; then
  . "$bench/scale.sh"
  exit 0
fi
db=cs_bench_$mode
sdb=cs_bench_synth_$mode
ldb=cs_bench_synl_$mode
for d in $db $sdb $ldb; do
  psql "$conninfo dbname=postgres" -q -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d"
done
pg="$conninfo dbname=$db"
spg="$conninfo dbname=$sdb"
lpg="$conninfo dbname=$ldb"

# ------------------------------------------------------------------ load
log "loading ParlaMint-ES (every $every sitting) with COPY"
mkdir -p "$out/parlamint"
"$bin/convsearch-indexer" install --pg "$pg" 2>>"$out/indexer.log"
t0=$(date +%s.%N)
python3 "$bench/load_parlamint.py" "$corpus" "$out/parlamint" --every $every >"$out/parlamint.json"
"$bench/load_tsv.sh" "$out/parlamint" "$pg"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "{\"load_s\": %.3f}\n", b - a }' >"$out/load.json"
psql "$pg" -qAt -c "\\copy (SELECT conversation_id * 1000000 + seq, text FROM segments ORDER BY 1) TO '$out/turns.tsv'"
psql "$pg" -qAt -F ' ' -c "SELECT count(*), sum(octet_length(text)) FROM segments" >"$out/corpus.txt"
psql "$pg" -qAt -c "SELECT count(*) FROM conversations" >>"$out/corpus.txt"

# ------------------------------------------------------------------ bulk indexing
for r in $(seq 1 "$reps"); do
  log "bulk indexing, ours, run $r/$reps"
  rm -rf "$out/index"
  python3 "$bench/measure.py" "$out/build-ours-$r.json" -- taskset -c 0 \
    "$bin/convsearch-indexer" run --once --pg "$pg" --index "$out/index" 2>>"$out/indexer.log" >/dev/null
  du -sb "$out/index" | cut -f1 >"$out/size-ours-$r.txt"
  du -sk "$out/index" | cut -f1 >>"$out/size-ours-$r.txt"
done
"$bin/convsearch-indexer" status --index "$out/index" >"$out/status-ours.json" 2>>"$out/indexer.log"
for r in $(seq 1 "$reps"); do
  log "bulk indexing, SQLite FTS5, run $r/$reps"
  taskset -c 0 "$bin/cs-bench-fts5" build --db "$out/fts5.db" --turns "$out/turns.tsv" >"$out/build-fts5-$r.json"
done
for r in $(seq 1 "$reps"); do
  log "bulk indexing, PostgreSQL FTS, run $r/$reps"
  # The fuzzy-search support (a trigram word table) is built once, at the end.
  "$bin/cs-bench-pgfts" build --pg "$pg" --fuzzy "$([ "$r" = "$reps" ] && echo 1 || echo 0)" \
    >"$out/build-pgfts-$r.json"
done
for r in $(seq 1 "$reps"); do
  log "bulk indexing, Lucene, run $r/$reps"
  taskset -c 0 "${lucene[@]}" build --db "$out/lucene.db" --turns "$out/turns.tsv" >"$out/build-lucene-$r.json"
done
for r in $(seq 1 "$reps"); do
  log "bulk indexing, Tantivy, run $r/$reps"
  taskset -c 0 "${tantivy[@]}" build --db "$out/tantivy.db" --turns "$out/turns.tsv" \
    >"$out/build-tantivy-$r.json"
done
for r in $(seq 1 "$xapian_reps"); do
  log "bulk indexing, Xapian, run $r/$xapian_reps"
  taskset -c 0 "$bin/cs-bench-xapian" build --db "$out/xapian.db" --turns "$out/turns.tsv" >"$out/build-xapian-$r.json"
done

# ------------------------------------------------------------------ queries
qdir=$bench/queries/$mode
mkdir -p "$qdir"
log "generating queries ($per_type per type)"
# Our analyzer's Spanish stop words (index/stopwords.c), so that no query word
# is a stop word for any engine.
python3 - "$root/index/stopwords.c" >"$out/stopwords-analyzer.txt" <<'PY' || true
import re, sys
src = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"es_words\[\]\s*=\s*\{(.*?)\};", src, re.S)
print(" ".join(re.findall(r'"([^"]*)"', m.group(1))) if m else "")
PY
python3 "$bench/gen_queries.py" "$out/turns.tsv" "$bench/stopwords-es.txt,$out/stopwords-analyzer.txt" "$qdir/queries.tsv" \
  --per-type $per_type >"$out/queries.json"
cp "$out/queries.json" "$qdir/bands.json"
stop=$bench/stopwords-es.txt
for m in exact box; do
  log "latency, ours ($m)"
  "$bin/cs-bench-ours" --index "$out/index" --queries "$qdir/queries.tsv" --stop "$stop" --mode $m \
    --passes $passes_fast --max-seconds $max_q --out "$out/lat-ours-$m.tsv"
done
# Beside it, not instead: the same hits without snippets, as the peers
# return ids only (a column of its own in RESULTS.md).
log "latency, ours (exact, no snippets)"
"$bin/cs-bench-ours" --index "$out/index" --queries "$qdir/queries.tsv" --stop "$stop" --mode exact \
  --snippets 0 --passes $passes_fast --max-seconds $max_q --out "$out/lat-ours-nosnip.tsv"
log "latency, Xapian"
"$bin/cs-bench-xapian" query --db "$out/xapian.db" --queries "$qdir/queries.tsv" --stop "$stop" \
  --passes $passes_fast --max-seconds $max_q --out "$out/lat-xapian.tsv"
log "latency, Lucene"
"${lucene[@]}" query --db "$out/lucene.db" --queries "$qdir/queries.tsv" --stop "$stop" \
  --passes $passes_fast --max-seconds $max_q --out "$out/lat-lucene.tsv"
log "latency, Tantivy"
"${tantivy[@]}" query --db "$out/tantivy.db" --queries "$qdir/queries.tsv" --stop "$stop" \
  --passes $passes_fast --max-seconds $max_q --out "$out/lat-tantivy.tsv"
log "latency, SQLite FTS5"
"$bin/cs-bench-fts5" query --db "$out/fts5.db" --queries "$qdir/queries.tsv" --stop "$stop" \
  --passes $passes_slow --max-seconds $max_q --out "$out/lat-fts5.tsv"
log "latency, PostgreSQL FTS"
"$bin/cs-bench-pgfts" query --pg "$pg" --queries "$qdir/queries.tsv" --stop "$stop" \
  --passes $passes_slow --max-seconds $max_q --out "$out/lat-pgfts.tsv"
for e in ours-exact ours-box xapian fts5 pgfts lucene tantivy; do
  awk -F'\t' -v OFS='\t' '$3 == 1 { print $1, $2, $5, $6, $7 }' "$out/lat-$e.tsv" >"$qdir/results-$e.tsv"
done

# ------------------------------------------------------------------ HTTP, live
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
umask 077
token=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
echo "sha256:$(printf %s "$token" | sha256sum | cut -d' ' -f1) admin" >"$out/tokens"
# The portal's employees (load_parlamint.py: 12, each owning every 12th
# sitting): one static token each, for a phase where they search in turn.
: >"$out/employee-tokens"
for e in $(seq 1 12); do
  t=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  echo "sha256:$(printf %s "$t" | sha256sum | cut -d' ' -f1) portal employee=$e" >>"$out/tokens"
  echo "$t" >>"$out/employee-tokens"
done
umask 022
python3 "$bench/http_paths.py" "$qdir/queries.tsv" >"$out/paths.txt"
"$bin/cs-bench-synth" --out "$out/live-synth" --conversations 2000 --seed 7 >/dev/null

# The peers' builds above fill tables of ~150 MB, which autovacuum and
# autoanalyze may still be working on: that work is done now, and waited
# for, so that the HTTP phases share the machine only with what they name
# (the CPU columns show what the rest of the machine took; in the runs of
# 2026-12-06 it was 0.01 core in the idle phases).
settle_pg "$pg"

log "starting the following indexer and the query server on 127.0.0.1:$port"
"$bin/convsearch-indexer" run --pg "$pg" --index "$out/index" 2>>"$out/indexer-live.log" &
idx_pid=$!
pids+=("$idx_pid")
# nice 10, as its systemd unit (CPUWeight=10, Nice=10): searches yield the
# CPU to the indexer, and the freshness probes measure what a deployment sees.
nice -n 10 "$bin/convsearch-server" --index "$out/index" --listen "127.0.0.1:$port" \
  --tokens "$out/tokens" 2>"$out/server.log" &
srv_pid=$!
pids+=("$srv_pid")
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break
  sleep 0.1
done
grep -E 'VmRSS|RssAnon|RssFile|VmHWM' /proc/$srv_pid/status >"$out/server-rss-idle.txt"

# One HTTP phase: wrk with TOKEN (or @FILE of tokens), its report in
# wrk-NAME.txt, the server's memory after it in RSS_FILE; with a
# LIVE_ID_BASE, beside cs-bench-live's write load and freshness probes
# (their report in LIVE_JSON).
http_phase() { # NAME TOKEN RSS_FILE [LIVE_ID_BASE LIVE_JSON]
  local lp=
  if [ -n "${4:-}" ]; then
    "$bin/cs-bench-live" --pg "$pg" --index "$out/index" --synth "$out/live-synth" \
      --seconds $((http_s + 4)) --rate 5 --probe-hz 10 --id-base "$4" --out "$out/$5" \
      2>>"$out/live.log" &
    lp=$!
    pids+=("$lp")
    sleep 2
  fi
  # Where the machine's CPU went during the phase (clock ticks): all of it
  # (busy: /proc/stat less idle and iowait), the server's, and wrk's (the
  # subshell's waited-for children); the rest is the indexer, PostgreSQL,
  # the writer and anything else.
  local m0 s0 m1 s1 w
  m0=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat)
  s0=$(awk '{print $14+$15}' /proc/$srv_pid/stat)
  w=$(
    wrk -t2 -c64 -d"${http_s}s" --timeout 5s --latency -s "$bench/wrk_search.lua" \
      "http://127.0.0.1:$port" -- "$out/paths.txt" "$2" >"$out/wrk-$1.txt" 2>&1
    awk '{print $16+$17}' /proc/$BASHPID/stat
  )
  m1=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat)
  s1=$(awk '{print $14+$15}' /proc/$srv_pid/stat)
  echo "{\"hz\": $(getconf CLK_TCK), \"machine\": $((m1 - m0)), \"server\": $((s1 - s0)), \"wrk\": $w}" \
    >"$out/cpu-$1.json"
  if [ -n "$lp" ]; then wait "$lp" || true; fi
  grep -E 'VmRSS|RssAnon|RssFile|VmHWM' /proc/$srv_pid/status >"$out/$3"
}
: >"$out/live.log"
# The idle phases in turn, http_reps times (run r's files are NAME for r = 1,
# else NAME-rR; report.py takes each phase's median run), then the phases
# while indexing, once: their write load adds conversations to the
# employees' people, so that runs after it would not search the same index.
for r in $(seq 1 "$http_reps"); do
  sfx=
  [ "$r" = 1 ] || sfx=-r$r
  log "HTTP load, idle indexer (${http_s}s, 64 connections; run $r of $http_reps)"
  http_phase idle$sfx "$token" server-rss-after-idle.txt
  log "HTTP load, idle indexer, as the portal's 12 employees in turn (${http_s}s, 64 connections)"
  http_phase idle-employees$sfx "@$out/employee-tokens" server-rss-after-idle-employees.txt
done
log "HTTP load while indexing a steady write load, with freshness probes"
http_phase live "$token" server-rss-after-live.txt 900000000 live.json
log "HTTP load while indexing a steady write load, as the portal's 12 employees in turn"
http_phase live-employees "@$out/employee-tokens" server-rss-loaded.txt 920000000 \
  live-employees.json
log "freshness alone (no HTTP load)"
"$bin/cs-bench-live" --pg "$pg" --index "$out/index" --synth "$out/live-synth" \
  --seconds $http_s --rate 5 --probe-hz 10 --id-base 950000000 --out "$out/live-quiet.json" 2>>"$out/live.log"
kill -TERM $srv_pid $idx_pid
wait $srv_pid $idx_pid 2>/dev/null || true
pids=()

# ------------------------------------------------------------------ synthetic scale
log "synthetic interviews: $synth_n conversations"
"$bin/cs-bench-synth" --out "$out/synth" --conversations $synth_n --seed 42 >"$out/synth.json"
"$bin/convsearch-indexer" install --pg "$spg" 2>>"$out/indexer.log"
"$bench/load_tsv.sh" "$out/synth" "$spg"
rm -rf "$out/synth-index"
python3 "$bench/measure.py" "$out/build-synth.json" -- taskset -c 0 \
  "$bin/convsearch-indexer" run --once --pg "$spg" --index "$out/synth-index" 2>>"$out/indexer.log" >/dev/null
du -sk "$out/synth-index" | cut -f1 >"$out/size-synth.txt"
# The same load by a following indexer (`run`, as the product runs it): its
# own memory once idle after the load and its compaction (the peak is above).
rm -rf "$out/synth-index"
"$bin/convsearch-indexer" run --pg "$spg" --index "$out/synth-index" --poll-ms 200 \
  2>"$out/indexer-follow-load.log" >/dev/null &
fpid=$!
pids+=("$fpid")
for _ in $(seq 1 1200); do
  grep -q "compacted" "$out/indexer-follow-load.log" && break
  kill -0 "$fpid" 2>/dev/null || break
  sleep 0.5
done
sleep 2 # a few idle polls
grep -E 'VmRSS|RssAnon|RssFile|VmHWM' /proc/$fpid/status >"$out/indexer-rss-idle-after-load.txt" || true
kill -TERM "$fpid" 2>/dev/null || true
wait "$fpid" 2>/dev/null || true
pids=()
rm -rf "$out/synth" "$out/synth-index"

# ------------------------------------------------------------------ synthetic: latency
# The portal's shape (~37 short turns per conversation) rather than
# parliamentary sittings (~540 long paragraphs): every engine again, one
# build each, queries drawn from the synthetic turns.
log "synthetic interviews, all engines: $synl_n conversations"
"$bin/cs-bench-synth" --out "$out/synl" --conversations $synl_n --seed 11 >"$out/synl.json"
"$bin/convsearch-indexer" install --pg "$lpg" 2>>"$out/indexer.log"
"$bench/load_tsv.sh" "$out/synl" "$lpg"
psql "$lpg" -qAt -c "\\copy (SELECT conversation_id * 1000000 + seq, text FROM segments ORDER BY 1) TO '$out/synl-turns.tsv'"
rm -rf "$out/synl-index"
python3 "$bench/measure.py" "$out/synl-build-ours-1.json" -- taskset -c 0 \
  "$bin/convsearch-indexer" run --once --pg "$lpg" --index "$out/synl-index" 2>>"$out/indexer.log" >/dev/null
du -sb "$out/synl-index" | cut -f1 >"$out/synl-size-ours-1.txt"
du -sk "$out/synl-index" | cut -f1 >>"$out/synl-size-ours-1.txt"
taskset -c 0 "$bin/cs-bench-fts5" build --db "$out/synl-fts5.db" --turns "$out/synl-turns.tsv" >"$out/synl-build-fts5-1.json"
"$bin/cs-bench-pgfts" build --pg "$lpg" >"$out/synl-build-pgfts-1.json"
taskset -c 0 "$bin/cs-bench-xapian" build --db "$out/synl-xapian.db" --turns "$out/synl-turns.tsv" >"$out/synl-build-xapian-1.json"
taskset -c 0 "${lucene[@]}" build --db "$out/synl-lucene.db" --turns "$out/synl-turns.tsv" >"$out/synl-build-lucene-1.json"
taskset -c 0 "${tantivy[@]}" build --db "$out/synl-tantivy.db" --turns "$out/synl-turns.tsv" \
  >"$out/synl-build-tantivy-1.json"
sqdir=$bench/queries/$mode-synthetic
mkdir -p "$sqdir"
python3 "$bench/gen_queries.py" "$out/synl-turns.tsv" "$bench/stopwords-es.txt,$out/stopwords-analyzer.txt" \
  "$sqdir/queries.tsv" --per-type $per_type >"$out/synl-queries.json"
cp "$out/synl-queries.json" "$sqdir/bands.json"
for m in exact box; do
  log "synthetic latency, ours ($m)"
  "$bin/cs-bench-ours" --index "$out/synl-index" --queries "$sqdir/queries.tsv" --stop "$stop" --mode $m \
    --passes $passes_fast --max-seconds $max_q --out "$out/synl-lat-ours-$m.tsv"
done
"$bin/cs-bench-ours" --index "$out/synl-index" --queries "$sqdir/queries.tsv" --stop "$stop" --mode exact \
  --snippets 0 --passes $passes_fast --max-seconds $max_q --out "$out/synl-lat-ours-nosnip.tsv"
log "synthetic latency, peers"
"$bin/cs-bench-xapian" query --db "$out/synl-xapian.db" --queries "$sqdir/queries.tsv" --stop "$stop" \
  --passes $passes_fast --max-seconds $max_q --out "$out/synl-lat-xapian.tsv"
"${lucene[@]}" query --db "$out/synl-lucene.db" --queries "$sqdir/queries.tsv" --stop "$stop" \
  --passes $passes_fast --max-seconds $max_q --out "$out/synl-lat-lucene.tsv"
"${tantivy[@]}" query --db "$out/synl-tantivy.db" --queries "$sqdir/queries.tsv" --stop "$stop" \
  --passes $passes_fast --max-seconds $max_q --out "$out/synl-lat-tantivy.tsv"
"$bin/cs-bench-fts5" query --db "$out/synl-fts5.db" --queries "$sqdir/queries.tsv" --stop "$stop" \
  --passes $passes_slow --max-seconds $max_q --out "$out/synl-lat-fts5.tsv"
"$bin/cs-bench-pgfts" query --pg "$lpg" --queries "$sqdir/queries.tsv" --stop "$stop" \
  --passes $passes_slow --max-seconds $max_q --out "$out/synl-lat-pgfts.tsv"
for e in ours-exact ours-box xapian fts5 pgfts lucene tantivy; do
  awk -F'\t' -v OFS='\t' '$3 == 1 { print $1, $2, $5, $6, $7 }' "$out/synl-lat-$e.tsv" >"$sqdir/results-$e.tsv"
done
psql "$lpg" -qAt -F ' ' -c "SELECT count(*), sum(octet_length(text)) FROM segments" >"$out/synl-corpus.txt"
psql "$lpg" -qAt -c "SELECT count(*) FROM conversations" >>"$out/synl-corpus.txt"
rm -rf "$out/synl" "$out/synl-xapian.db" "$out/synl-fts5.db" "$out/synl-lucene.db" "$out/synl-tantivy.db"

# ------------------------------------------------------------------ versions, report
{
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "commit=$build_commit"
  echo "dirty=$build_dirty"
  echo "postgresql=$(psql "$pg" -qAt -c 'SHOW server_version')"
  echo "sqlite=$(pkg-config --modversion sqlite3)"
  echo "xapian=$(xapian-config --version | awk '{print $NF}')"
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "java=$(java -version 2>&1 | head -1 | cut -d'"' -f2)"
  echo "lucene=$(ls "$bench/out/lucene-target/lib" | sed -n 's/^lucene-core-\(.*\)\.jar$/\1/p')"
  echo "tantivy=$(awk '/^name = "tantivy"$/ { getline; print $3 }' "$bench/tantivy/Cargo.lock" | tr -d '"')"
  echo "cc=$(cc --version | head -1)"
  echo "lmdb=$(pkg-config --modversion lmdb)"
  echo "icu=$(pkg-config --modversion icu-uc)"
  echo "jemalloc=$(pkg-config --modversion jemalloc)"
  echo "mode=$mode"
  echo "reps=$reps"
  echo "xapian_reps=$xapian_reps"
  echo "http_seconds=$http_s"
  echo "http_reps=$http_reps"
  echo "command=bench/run.sh $([ $mode = quick ] && echo --quick) $([ "$reps" != 3 ] && echo "--reps $reps")"
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "elapsed_s=$(($(date +%s) - t_start))"
} >"$out/env.txt"
# Q&A relevance (issues #4, #13): bench/qa_steps.sh runs bench/qa.sh (ours and
# the peers) on SQuAD-es v1.1 and v2.0 and the step-by-step table; Markdown.
if [ -x "$bench/qa_steps.sh" ]; then
  log "Q&A relevance (bench/qa_steps.sh)"
  "$bench/qa_steps.sh" "$build" "$out/qa-steps" >"$out/qa.md" 2>"$out/qa.log" || rm -f "$out/qa.md"
fi
python3 "$bench/report.py" "$out" "$bench/analysis.md" --json "$bench/results.json" >"$bench/RESULTS.md"
log "done in $(($(date +%s) - t_start)) s: bench/RESULTS.md, bench/results.json"
