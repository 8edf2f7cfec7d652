-- The canonical transcript store and event store (a contract with the portal
-- backend: table and column names must not change). Idempotent: safe to run
-- on a database that already has these tables.

CREATE TABLE IF NOT EXISTS employees (
  id bigint PRIMARY KEY,
  name text NOT NULL,
  email text
);

CREATE TABLE IF NOT EXISTS patients (
  id bigint PRIMARY KEY,
  owner_id bigint NOT NULL REFERENCES employees (id),
  name text NOT NULL,
  email text,
  phone text,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS conversations (
  id bigint PRIMARY KEY,
  patient_id bigint NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  owner_id bigint NOT NULL REFERENCES employees (id),
  title text,
  description text,
  language text NOT NULL DEFAULT 'es',
  audio_uri text,
  duration_ms integer,
  status text,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);
CREATE INDEX IF NOT EXISTS conversations_patient_id ON conversations (patient_id);

CREATE TABLE IF NOT EXISTS segments (
  conversation_id bigint REFERENCES conversations (id) ON DELETE CASCADE,
  seq integer,
  speaker text,
  role text CHECK (role IN ('interviewer', 'beneficiary', 'other')),
  start_ms integer,
  end_ms integer,
  text text NOT NULL,
  PRIMARY KEY (conversation_id, seq)
);

CREATE TABLE IF NOT EXISTS relevant_points (
  id bigint PRIMARY KEY,
  text text NOT NULL,
  category text
);

CREATE TABLE IF NOT EXISTS patient_answers (
  patient_id bigint REFERENCES patients (id) ON DELETE CASCADE,
  relevant_point_id bigint REFERENCES relevant_points (id) ON DELETE CASCADE,
  text text,
  resolved bool,
  PRIMARY KEY (patient_id, relevant_point_id)
);

-- The event store: append-only, positions assigned by the store.
CREATE TABLE IF NOT EXISTS events (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream text NOT NULL,
  version integer NOT NULL,
  type text NOT NULL,
  payload jsonb,
  actor_id bigint REFERENCES employees (id),
  recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream, version)
);

CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events is append-only (% refused)', TG_OP;
END $$;

CREATE OR REPLACE TRIGGER events_append_only
  BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION events_append_only();
