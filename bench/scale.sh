# The scale curve (issue #10 item 8), sourced by `bench/run.sh --scale` once
# the programs are built and PostgreSQL is up (it uses run.sh's variables:
# root bench bin out conninfo sizes per_type passes_fast max_q http_s stop,
# and its log, pids and cleanup). Not a test; nothing asserts a timing.
#
# Per size N (conversations of cs-bench-synth, seed 42, ~37 turns each), in
# bench/out/scale/N/:
#   synth.json, load.json      the generated set and its COPY load time;
#   build.json, size.txt       `taskset -c 0 convsearch-indexer run --once`
#                              (wall, peak anonymous RSS) and the index size;
#   lat-ours-{exact,box}.tsv   in-process latency per query type (cs-bench-ours)
#                              over one query set drawn from the first size's
#                              turns (bench/queries/scale/), the same at every
#                              size so that the curve compares like with like;
#   lat-ours-box-employees.tsv the same box queries as the portal's employees
#                              (each query as the next one: their own people);
#   wrk-idle.txt, wrk-live.txt the search-box mix over HTTP (64 connections),
#                              idle, then while the following indexer ingests
#                              the write load (cs-bench-live);
#   live.json                  freshness probes during that second phase;
#   rss-*.txt                  server and following indexer, /proc status.
# Then bench/report.py --scale writes bench/out/scale/scale.md and the
# "scale" section of bench/results.json.

scale_one() {
  local n=$1 d=$out/$1 sdb=cs_bench_scale_$1
  local spg="$conninfo dbname=$sdb"
  mkdir -p "$d"
  log "scale $n: generating and loading"
  psql "$conninfo dbname=postgres" -q -c "DROP DATABASE IF EXISTS $sdb" -c "CREATE DATABASE $sdb"
  "$bin/cs-bench-synth" --out "$d/synth" --conversations "$n" --seed 42 >"$d/synth.json"
  "$bin/convsearch-indexer" install --pg "$spg" 2>>"$d/indexer.log"
  local t0 t1
  t0=$(date +%s.%N)
  "$bench/load_tsv.sh" "$d/synth" "$spg"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "{\"load_s\": %.3f}\n", b - a }' >"$d/load.json"
  rm -rf "$d/synth"
  log "scale $n: bulk indexing (one core)"
  rm -rf "$d/index"
  python3 "$bench/measure.py" "$d/build.json" -- taskset -c 0 \
    "$bin/convsearch-indexer" run --once --pg "$spg" --index "$d/index" 2>>"$d/indexer.log" >/dev/null
  du -sb "$d/index" | cut -f1 >"$d/size.txt"
  psql "$spg" -qAt -F ' ' -c "SELECT count(*), sum(octet_length(text)) FROM segments" >"$d/corpus.txt"
  psql "$spg" -qAt -c "SELECT count(*) FROM conversations" >>"$d/corpus.txt"
  if [ -z "$qset_done" ]; then
    log "scale: query set from the $n-conversation corpus"
    psql "$spg" -qAt -c "\\copy (SELECT conversation_id * 1000000 + seq, text FROM segments ORDER BY 1) TO '$out/turns.tsv'"
    # written beside, then moved: a run stopped here leaves the committed set
    python3 "$bench/gen_queries.py" "$out/turns.tsv" "$bench/stopwords-es.txt,$out/stopwords-analyzer.txt" \
      "$out/queries.tsv" --per-type "$per_type" >"$out/bands.json"
    mv "$out/queries.tsv" "$qdir/queries.tsv"
    mv "$out/bands.json" "$qdir/bands.json"
    qset_done=1
    rm -f "$out/turns.tsv"
    python3 "$bench/http_paths.py" "$qdir/queries.tsv" >"$out/paths.txt"
  fi
  for m in exact box; do
    log "scale $n: latency in process ($m)"
    "$bin/cs-bench-ours" --index "$d/index" --queries "$qdir/queries.tsv" --stop "$stop" --mode $m \
      --passes "$passes_fast" --max-seconds "$max_q" --out "$d/lat-ours-$m.tsv"
  done
  # The search box as the portal sends it: each social worker searches
  # their own people's conversations (~200 each here), the queries taking
  # the employees in turn.
  local nemp
  nemp=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["employees"])' "$d/synth.json")
  log "scale $n: latency in process (box, as the $nemp employees in turn)"
  "$bin/cs-bench-ours" --index "$d/index" --queries "$qdir/queries.tsv" --stop "$stop" --mode box \
    --employees "$nemp" --passes "$passes_fast" --max-seconds "$max_q" --out "$d/lat-ours-box-employees.tsv"

  log "scale $n: HTTP (search-box mix) and freshness"
  # As in the full run: the load vacuumed, analyzed and checkpointed first.
  # Without it, rounds of one conversation took 0.2-1.9 s in two of three
  # 10k runs (a whole-machine stall: a psql polling beside it stalled as
  # long; ~100 MB of the load's pages were dirty, the likely cause).
  settle_pg "$spg"
  "$bin/convsearch-indexer" run --pg "$spg" --index "$d/index" 2>>"$d/indexer-live.log" &
  local idx_pid=$!
  pids+=("$idx_pid")
  # nice 10, as its systemd unit (see run.sh)
  nice -n 10 "$bin/convsearch-server" --index "$d/index" --listen "127.0.0.1:$port" \
    --tokens "$out/tokens" 2>"$d/server.log" &
  local srv_pid=$!
  pids+=("$srv_pid")
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  wrk -t2 -c64 -d"${http_s}s" --timeout 5s --latency -s "$bench/wrk_search.lua" "http://127.0.0.1:$port" \
    -- "$out/paths.txt" "$token" >"$d/wrk-idle.txt" 2>&1
  "$bin/cs-bench-live" --pg "$spg" --index "$d/index" --synth "$out/live-synth" \
    --seconds $((http_s + 4)) --rate 5 --probe-hz 10 --out "$d/live.json" 2>"$d/live.log" &
  local live_pid=$!
  pids+=("$live_pid")
  sleep 2
  wrk -t2 -c64 -d"${http_s}s" --timeout 5s --latency -s "$bench/wrk_search.lua" "http://127.0.0.1:$port" \
    -- "$out/paths.txt" "$token" >"$d/wrk-live.txt" 2>&1
  wait "$live_pid" || true
  grep -E 'VmRSS|RssAnon|RssFile|VmHWM' "/proc/$srv_pid/status" >"$d/rss-server.txt"
  grep -E 'VmRSS|RssAnon|RssFile|VmHWM' "/proc/$idx_pid/status" >"$d/rss-indexer-following.txt"
  kill -TERM "$srv_pid" "$idx_pid"
  wait "$srv_pid" "$idx_pid" 2>/dev/null || true
  pids=()
  rm -rf "$d/index"
  psql "$conninfo dbname=postgres" -q -c "DROP DATABASE IF EXISTS $sdb"
}

out=$bench/out/scale
rm -rf "$out"
mkdir -p "$out"
qdir=$bench/queries/scale
qset_done= # the query set is drawn again from the first size's corpus
mkdir -p "$qdir"
stop=$bench/stopwords-es.txt
python3 - "$root/index/stopwords.c" >"$out/stopwords-analyzer.txt" <<'PY' || true
import re, sys
src = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"es_words\[\]\s*=\s*\{(.*?)\};", src, re.S)
print(" ".join(re.findall(r'"([^"]*)"', m.group(1))) if m else "")
PY
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
umask 077
token=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
echo "sha256:$(printf %s "$token" | sha256sum | cut -d' ' -f1) admin" >"$out/tokens"
umask 022
"$bin/cs-bench-synth" --out "$out/live-synth" --conversations 2000 --seed 7 >/dev/null
t_scale=$(date +%s)
for n in $sizes; do
  scale_one "$n"
done
{
  echo "commit=$build_commit" # run.sh's, taken when it built the binaries
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "sizes=$sizes"
  echo "http_seconds=$http_s"
  echo "nproc=$(nproc)"
  echo "elapsed_s=$(($(date +%s) - t_scale))"
} >"$out/env.txt"
python3 "$bench/report.py" --scale "$out" --json "$bench/results.json" >"$out/scale.md"
log "scale done: bench/out/scale/scale.md, the scale section of bench/results.json"
