#!/usr/bin/env bash
# Q&A relevance on SQuAD-es (issue #4): each paragraph of
# ../shared/corpora/squad-es/dev-v1.1-es_small.json is a conversation with one
# turn in the canonical stores; each question must retrieve its own paragraph.
# Ours: convsearch-indexer + convsearch-server, POST /v1/qa/retrieve over
# HTTP. Peers (same turns, same questions as an OR of their content words,
# top 10): PostgreSQL FTS, SQLite FTS5, Xapian, through the bench's peer
# programs. Prints a Markdown table on stdout.
#   bench/qa.sh BUILD_DIR OUT_DIR [SQUAD_JSON]
# SQUAD_JSON: another SQuAD-es file (e.g. dev-v2.0-es_small.json: its
# answerable questions); CS_QA_SERVER_ARGS: extra convsearch-server options.
set -euo pipefail
build=$(cd "${1:?usage: qa.sh BUILD_DIR OUT_DIR}" && pwd)
out=${2:?usage: qa.sh BUILD_DIR OUT_DIR}/qa
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$root/bench
bin=$build/bin
squad=${3:-$root/../shared/corpora/squad-es/dev-v1.1-es_small.json}
[ -f "$squad" ] || { echo "qa.sh: $squad not found" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
chmod 755 "$out"
log() { echo "[qa $(date +%H:%M:%S)] $*" >&2; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$root/scripts/pg.sh" stop "$out/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "loading SQuAD-es into the stores"
conninfo=$("$root/scripts/pg.sh" start "$out/pg")
pg="$conninfo dbname=squad"
psql "$conninfo dbname=postgres" -qc "CREATE DATABASE squad"
"$bin/convsearch-indexer" install --pg "$pg" 2>>"$out/indexer.log"
python3 "$bench/qa_squad.py" load "$squad" "$out"
psql "$pg" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO employees VALUES (1, 'Analista', NULL);
\copy patients (id, owner_id, name) FROM '$out/patients.tsv'
\copy conversations (id, patient_id, owner_id, title) FROM '$out/conversations.tsv'
\copy segments (conversation_id, seq, speaker, role, start_ms, end_ms, text) FROM '$out/segments.tsv'
SQL

log "indexing (ours)"
"$bin/convsearch-indexer" run --pg "$pg" --index "$out/index" --once >>"$out/indexer.log" 2>&1
token=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
(umask 077 && echo "sha256:$(printf %s "$token" | sha256sum | cut -d' ' -f1) admin" >"$out/tokens")
port=$((20000 + RANDOM % 20000))
# shellcheck disable=SC2086
"$bin/convsearch-server" --index "$out/index" --listen "127.0.0.1:$port" --tokens "$out/tokens" \
  ${CS_QA_SERVER_ARGS:-} 2>"$out/server.log" &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/v1/health" >/dev/null && break
  sleep 0.1
done
log "asking every question (ours, over HTTP)"
python3 "$bench/qa_squad.py" ours "http://127.0.0.1:$port" "$token" "$out"

log "peers"
psql "$pg" -qAt -c "\\copy (SELECT conversation_id * 1000000 + seq, text FROM segments ORDER BY 1) TO '$out/turns.tsv'"
python3 "$bench/qa_squad.py" peers-queries "$out"
"$bin/cs-bench-pgfts" build --pg "$pg" --fuzzy 1 >"$out/build-pgfts.json"
"$bin/cs-bench-fts5" build --db "$out/fts5.db" --turns "$out/turns.tsv" >"$out/build-fts5.json"
"$bin/cs-bench-xapian" build --db "$out/xapian.db" --turns "$out/turns.tsv" >"$out/build-xapian.json"
stop=$bench/stopwords-es.txt
"$bin/cs-bench-pgfts" query --pg "$pg" --queries "$out/queries.tsv" --stop "$stop" --passes 1 \
  --out "$out/results-pgfts.tsv"
"$bin/cs-bench-fts5" query --db "$out/fts5.db" --queries "$out/queries.tsv" --stop "$stop" --passes 1 \
  --out "$out/results-fts5.tsv"
"$bin/cs-bench-xapian" query --db "$out/xapian.db" --queries "$out/queries.tsv" --stop "$stop" \
  --passes 1 --out "$out/results-xapian.tsv"
python3 "$bench/qa_squad.py" score "$out" ours xapian fts5 pgfts
