-- Adapter for the existing portal database (Django). Installs change capture
-- on the portal's tables and provides the same convsearch.src_* views as the
-- canonical store, so the indexer reads both the same way.
--
-- Ownership rule of the portal: a person belongs to patient.user_id, and so
-- do that person's conversations.
--
-- Transcripts live in conversation_conversationmodel.conversation as JSON
-- {"conversation": [{"speaker": ..., "text": ...}, ...]}, in real rows often
-- stored as a JSON *string* that contains that JSON. Turns have no times: the
-- view spreads the conversation's duration over its turns in proportion to
-- their length in characters (an estimate, flagged by times_estimated).

-- Parses a transcript column whatever its storage: JSON, a JSON string that
-- contains JSON, or garbage (NULL, with the reason in the error output).
CREATE OR REPLACE FUNCTION convsearch.portal_transcript(raw text, OUT turns jsonb, OUT error text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  j jsonb;
  depth int := 0;
BEGIN
  IF raw IS NULL OR btrim(raw) = '' THEN
    turns := '[]'::jsonb;
    RETURN;
  END IF;
  BEGIN
    j := raw::jsonb;
  EXCEPTION WHEN others THEN
    error := 'malformed JSON: ' || SQLERRM;
    RETURN;
  END;
  -- Unwrap JSON strings that contain JSON (seen nested twice in real rows).
  WHILE jsonb_typeof(j) = 'string' AND depth < 3 LOOP
    BEGIN
      j := (j #>> '{}')::jsonb;
    EXCEPTION WHEN others THEN
      error := 'malformed JSON inside string: ' || SQLERRM;
      RETURN;
    END;
    depth := depth + 1;
  END LOOP;
  IF jsonb_typeof(j) = 'object' THEN
    j := j -> 'conversation';
  END IF;
  IF j IS NULL OR jsonb_typeof(j) = 'null' THEN
    turns := '[]'::jsonb;
  ELSIF jsonb_typeof(j) <> 'array' THEN
    error := 'transcript is a JSON ' || jsonb_typeof(j) || ', not a list of turns';
  ELSE
    turns := j;
  END IF;
END $$;

-- Whether a duration in seconds (double precision: the application can
-- store NaN, Infinity, 1e308 or a negative number) fits duration_ms, an
-- integer of milliseconds. Out of range, the view says "unknown" (NULL) and
-- names the value in value_error, so that one row never fails the stream
-- with "integer out of range". NaN compares greater than every number.
CREATE OR REPLACE FUNCTION convsearch.portal_duration_ok(d double precision) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT d >= 0 AND d < 2147483.647 $$;

SELECT convsearch.capture_table('conversation_patientmodel', 'p', 'id');
SELECT convsearch.capture_table('conversation_conversationmodel', 'c', 'id');
SELECT convsearch.capture_table('conversation_ephemeralanswermodel', 'e', 'id');
SELECT convsearch.capture_table('conversation_relevantpointmodel', 'r', 'id');
SELECT convsearch.capture_table('conversation_answermodel', 'a', 'patient_id');

CREATE OR REPLACE VIEW convsearch.src_patients AS
  SELECT id::bigint, user_id::bigint AS owner_id, name::text, email::text,
         phone_number::text AS phone, created_at, updated_at
    FROM conversation_patientmodel;

CREATE OR REPLACE VIEW convsearch.src_conversations AS
  SELECT c.id::bigint, c.patient_id::bigint, p.user_id::bigint AS owner_id,
         c.title::text, c.description::text, 'es'::text AS language,
         c.wav_file_s3_path::text AS audio_uri,
         CASE WHEN convsearch.portal_duration_ok(c.duration)
              THEN (c.duration * 1000)::integer END AS duration_ms, c.status::text,
         c.created_at, c.updated_at,
         (convsearch.portal_transcript(c.conversation::text)).error AS transcript_error,
         CASE WHEN c.duration IS NOT NULL AND NOT convsearch.portal_duration_ok(c.duration)
              THEN 'duration ' || c.duration || ' s out of range' END AS value_error
    FROM conversation_conversationmodel c
    LEFT JOIN conversation_patientmodel p ON p.id = c.patient_id;
-- LEFT JOIN: a conversation whose person is missing (a dangling patient_id,
-- possible where the foreign key is not enforced) has no owner_id; the
-- indexer skips it as a bad row instead of hiding it.

CREATE OR REPLACE VIEW convsearch.src_segments AS
  WITH turns AS (
    SELECT c.id AS conversation_id, c.duration, t.ord, t.turn,
           coalesce(length(CASE WHEN jsonb_typeof(t.turn -> 'text') = 'string'
                                THEN t.turn ->> 'text' END), 0) AS chars
      FROM conversation_conversationmodel c,
           LATERAL jsonb_array_elements(
             coalesce((convsearch.portal_transcript(c.conversation::text)).turns, '[]'))
             WITH ORDINALITY AS t(turn, ord)
     WHERE jsonb_typeof(t.turn) = 'object'
  ), spread AS (
    SELECT *, sum(chars) OVER w - chars AS before, sum(chars) OVER (PARTITION BY conversation_id) AS total,
           row_number() OVER w AS n
      FROM turns
    WINDOW w AS (PARTITION BY conversation_id ORDER BY ord)
  )
  -- seq: the turn's place among the turns, 0..n-1 (an element of the list
  -- that is not a turn, a number or a string, takes no number).
  SELECT conversation_id::bigint, (n - 1)::integer AS seq,
         CASE WHEN jsonb_typeof(turn -> 'speaker') = 'string' THEN turn ->> 'speaker' END AS speaker,
         'other'::text AS role,
         CASE WHEN duration > 0 AND convsearch.portal_duration_ok(duration) AND total > 0
              THEN (duration * 1000 * before / total)::integer END AS start_ms,
         CASE WHEN duration > 0 AND convsearch.portal_duration_ok(duration) AND total > 0
              THEN (duration * 1000 * (before + chars) / total)::integer END AS end_ms,
         coalesce(CASE WHEN jsonb_typeof(turn -> 'text') = 'string' THEN turn ->> 'text' END, '') AS text
    FROM spread;

CREATE OR REPLACE VIEW convsearch.src_events AS
  SELECT e.id::bigint AS position, 'question.asked'::text AS type,
         jsonb_build_object('conversation_id', e.conversation_id, 'patient_id', c.patient_id,
                            'question', e.question, 'answer', e.answer) AS payload,
         p.user_id::bigint AS actor_id, e.created_at AS recorded_at
    FROM conversation_ephemeralanswermodel e
    JOIN conversation_conversationmodel c ON c.id = e.conversation_id
    JOIN conversation_patientmodel p ON p.id = c.patient_id;

CREATE OR REPLACE VIEW convsearch.src_relevant_points AS
  SELECT id::bigint, text::text, category::text FROM conversation_relevantpointmodel;

INSERT INTO convsearch.meta VALUES ('source', 'portal')
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
