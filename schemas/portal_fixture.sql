-- The portal's (Django) tables as the portal creates them, column for column
-- from DESIGN.md. Used by tests and by the demo to stand in for a real portal
-- database; convsearch never creates these on a real one.
CREATE TABLE IF NOT EXISTS core_user (id bigserial PRIMARY KEY, email varchar(254), name varchar(255));
CREATE TABLE IF NOT EXISTS conversation_patientmodel (
  id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES core_user (id),
  email varchar(254), name varchar(255), phone_number varchar(32),
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS conversation_conversationmodel (
  id bigserial PRIMARY KEY,
  patient_id bigint NOT NULL REFERENCES conversation_patientmodel (id) ON DELETE CASCADE,
  title varchar(255), description text, conversation jsonb, duration double precision,
  status varchar(32), draft boolean NOT NULL DEFAULT false,
  wav_file_s3_path varchar(1024), transcribed_file_s3_path varchar(1024),
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS conversation_ephemeralanswermodel (
  id bigserial PRIMARY KEY,
  conversation_id bigint NOT NULL REFERENCES conversation_conversationmodel (id) ON DELETE CASCADE,
  question text, answer text,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS conversation_relevantpointmodel (
  id bigserial PRIMARY KEY, text text NOT NULL, category varchar(255));
CREATE TABLE IF NOT EXISTS conversation_answermodel (
  id bigserial PRIMARY KEY,
  patient_id bigint NOT NULL REFERENCES conversation_patientmodel (id) ON DELETE CASCADE,
  relevant_point_id bigint NOT NULL REFERENCES conversation_relevantpointmodel (id),
  text text, resolved boolean NOT NULL DEFAULT false);
