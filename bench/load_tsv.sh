#!/usr/bin/env bash
# Loads the COPY files written by load_parlamint.py or cs-bench-synth into the
# canonical stores, in one transaction, with COPY (psql's \copy).
#   load_tsv.sh DIR CONNINFO
# The canonical tables (and change capture) must exist: run
# `convsearch-indexer install --pg CONNINFO` first, so that the indexer's
# catch-up sees every loaded row.
set -euo pipefail
dir=${1:?usage: load_tsv.sh DIR CONNINFO}
pg=${2:?usage: load_tsv.sh DIR CONNINFO}
psql "$pg" -q -v ON_ERROR_STOP=1 -1 <<SQL
\copy employees (id, name, email) FROM '$dir/employees.tsv'
\copy patients (id, owner_id, name, email, phone, created_at, updated_at) FROM '$dir/patients.tsv'
\copy conversations (id, patient_id, owner_id, title, description, language, audio_uri, duration_ms, status, created_at, updated_at) FROM '$dir/conversations.tsv'
\copy segments (conversation_id, seq, speaker, role, start_ms, end_ms, text) FROM '$dir/segments.tsv'
\copy events (stream, version, type, payload, actor_id, recorded_at) FROM '$dir/events.tsv'
SQL
psql "$pg" -q -v ON_ERROR_STOP=1 -c "ANALYZE"
