-- Change capture and source views for the canonical store. The indexer reads
-- only the convsearch.src_* views, which both sources provide with the same
-- columns.

SELECT convsearch.capture_table('patients', 'p', 'id');
SELECT convsearch.capture_table('conversations', 'c', 'id');
SELECT convsearch.capture_table('segments', 'c', 'conversation_id');
SELECT convsearch.capture_table('events', 'e', 'position');
SELECT convsearch.capture_table('relevant_points', 'r', 'id');
SELECT convsearch.capture_table('patient_answers', 'a', 'patient_id');

CREATE OR REPLACE VIEW convsearch.src_patients AS
  SELECT id, owner_id, name, email, phone, created_at, updated_at FROM patients;

CREATE OR REPLACE VIEW convsearch.src_conversations AS
  SELECT id, patient_id, owner_id, title, description, language, audio_uri,
         duration_ms, status, created_at, updated_at,
         NULL::text AS transcript_error, NULL::text AS value_error
    FROM conversations;

CREATE OR REPLACE VIEW convsearch.src_segments AS
  SELECT conversation_id, seq, speaker, role, start_ms, end_ms, text FROM segments;

CREATE OR REPLACE VIEW convsearch.src_events AS
  SELECT position, type, payload, actor_id, recorded_at FROM events;

CREATE OR REPLACE VIEW convsearch.src_relevant_points AS
  SELECT id, text, category FROM relevant_points;

INSERT INTO convsearch.meta VALUES ('source', 'canonical')
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
