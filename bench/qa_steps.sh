#!/usr/bin/env bash
# Q&A relevance step by step (issue #13), the generator of the step table of
# bench/RESULTS.md's Q&A section: runs bench/qa.sh (ours with everything on,
# and the peers, same run) on SQuAD-es v1.1 dev (small), then asks every
# question again over HTTP with each addition turned off in turn, on the
# same index. Then the same for SQuAD-es v2.0 dev (small, answerable
# questions). Tuning half: questions of odd-numbered articles; held-out
# half: even-numbered (bench/qa_squad.py halves). Prints Markdown.
#   bench/qa_steps.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=$(cd "${1:?usage: qa_steps.sh BUILD_DIR OUT_DIR}" && pwd)
outroot=${2:?usage: qa_steps.sh BUILD_DIR OUT_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
corpora=$root/../shared/corpora/squad-es
log() { echo "[qa_steps $(date +%H:%M:%S)] $*" >&2; }

pid=""
trap '[ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true' EXIT

# ours over HTTP on OUT/qa/index with the given server options; env CS_STEP_ENV.
run_step() {
  local out=$1 name=$2 dir
  shift 2
  dir=$out/step-$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-')
  mkdir -p "$dir"
  cp "$out/questions.tsv" "$out/conversations.tsv" "$out/dataset.txt" "$dir/"
  local token port
  token=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  (umask 077 && echo "sha256:$(printf %s "$token" | sha256sum | cut -d' ' -f1) admin" >"$dir/tokens")
  port=$((20000 + RANDOM % 20000))
  env ${CS_STEP_ENV:-} "$build/bin/convsearch-server" --index "$out/index" \
    --listen "127.0.0.1:$port" --tokens "$dir/tokens" "$@" 2>"$dir/server.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null && break
    sleep 0.1
  done
  python3 "$root/bench/qa_squad.py" ours "http://127.0.0.1:$port" "$token" "$dir" 2>/dev/null
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
  python3 "$root/bench/qa_squad.py" step "$dir" "$name"
}

for set in dev-v1.1-es_small dev-v2.0-es_small; do
  out=$outroot/$set
  mkdir -p "$out"
  log "$set: bench/qa.sh (ours with everything, and the peers)"
  "$root/bench/qa.sh" "$build" "$out" "$corpora/$set.json" >"$out/table.md"
  echo "### SQuAD-es $set"
  echo
  cat "$out/table.md"
  echo
  echo "| step (each adds to the one above) | MRR@10 | tuning half | held-out half | p50 ms | p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|"
  q=$out/qa
  log "$set: steps"
  later="CS_BENCH_QA_NO_LOCAL=1 CS_BENCH_QA_NO_PREFIX=1 CS_BENCH_QA_NO_WINDOW=1"
  later="$later CS_BENCH_QA_NO_FOCUS=1 CS_BENCH_QA_NO_ANSWER=1"
  newest="CS_BENCH_QA_NO_NAMES=1 CS_BENCH_QA_NO_REFIT=1 CS_BENCH_QA_NO_RUN=1"
  newest="$newest CS_BENCH_QA_NO_PERSON=1"
  later="$later $newest"
  CS_STEP_ENV="CS_BENCH_QA_NO_DEPENDENCE=1 $later" run_step "$q" \
    "BM25 + proximity + surface + coordination (before #13)" --thesaurus none --hunspell none
  CS_STEP_ENV="$later" run_step "$q" "+ ordered term dependence" --thesaurus none --hunspell none
  CS_STEP_ENV="$later" run_step "$q" "+ hunspell-es lemmas" --thesaurus none
  CS_STEP_ENV="$later" run_step "$q" "+ mythes-es thesaurus"
  last="CS_BENCH_QA_NO_FOCUS=1 CS_BENCH_QA_NO_ANSWER=1 $newest"
  CS_STEP_ENV="CS_BENCH_QA_NO_PREFIX=1 CS_BENCH_QA_NO_WINDOW=1 $last" run_step "$q" \
    "+ local discrimination"
  CS_STEP_ENV="CS_BENCH_QA_NO_WINDOW=1 $last" run_step "$q" "+ prefix fallback"
  CS_STEP_ENV="$last" run_step "$q" "+ densest window"
  CS_STEP_ENV="CS_BENCH_QA_NO_ANSWER=1 $newest" run_step "$q" "+ question focus"
  CS_STEP_ENV="$newest" run_step "$q" "+ expected answer type"
  CS_STEP_ENV="CS_BENCH_QA_NO_REFIT=1 CS_BENCH_QA_NO_RUN=1 CS_BENCH_QA_NO_PERSON=1" run_step "$q" \
    "+ names spelt otherwise and unknown words (2 edits)"
  CS_STEP_ENV="CS_BENCH_QA_NO_RUN=1 CS_BENCH_QA_NO_PERSON=1" run_step "$q" \
    "+ best sentence, refitted rerank weights"
  CS_STEP_ENV="CS_BENCH_QA_NO_PERSON=1" run_step "$q" "+ longest ordered run"
  run_step "$q" "+ the person asked about (all on)"
  echo
done
