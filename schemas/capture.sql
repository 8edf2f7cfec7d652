-- Change capture shared by both sources (canonical store and portal database).
--
-- Every write to an indexed table appends, from a statement-level trigger,
-- one row per touched entity to convsearch.changes, stamped with the writing
-- transaction's id (xid8). The row says only *which* entity changed; the
-- indexer re-reads the entity's current state, so applying a change twice is
-- harmless.
--
-- Why xid8 and not the bigserial id: ids are taken when a row is inserted,
-- not when its transaction commits, so "id > last seen" skips rows whose
-- transaction took a lower id and committed later. The indexer instead reads,
-- in one REPEATABLE READ snapshot S, every change with xid >= its horizon h,
-- and then sets h := xmin(S). Every transaction below xmin(S) had finished
-- when S was taken (so its changes were visible and read); every transaction
-- still running had an xid >= xmin(S) and is read on the next round. No
-- write is ever serialized behind another to get there.

CREATE SCHEMA IF NOT EXISTS convsearch;

CREATE TABLE IF NOT EXISTS convsearch.meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE IF NOT EXISTS convsearch.changes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  -- 'p' person, 'c' conversation, 'e' event, 'r' relevant point,
  -- 'a' a person's answers, 'T' a table was truncated (entity 0).
  kind "char" NOT NULL,
  entity bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_xid ON convsearch.changes (xid);

-- Statement-level trigger body: TG_ARGV[0] is the kind, TG_ARGV[1] the column
-- of the transition table that names the entity.
--
-- The application's roles own and write the captured tables but have no
-- privilege at all on the convsearch schema: the function runs as its owner
-- (the role that ran `install`), with a fixed search_path so that nothing the
-- writer puts on its own path can stand in for pg_catalog. Only its owner may
-- attach it to a table (EXECUTE is revoked from PUBLIC; a trigger's function
-- is checked when the trigger is created, not when it fires).
CREATE OR REPLACE FUNCTION convsearch.capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO convsearch.changes (kind, entity) VALUES ('T', 0);
  ELSIF TG_OP = 'DELETE' THEN
    EXECUTE format('INSERT INTO convsearch.changes (kind, entity) '
                   'SELECT DISTINCT %L, %I FROM capture_old WHERE %I IS NOT NULL',
                   TG_ARGV[0], TG_ARGV[1], TG_ARGV[1]);
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE format('INSERT INTO convsearch.changes (kind, entity) '
                   'SELECT DISTINCT %L, e FROM (SELECT %I AS e FROM capture_old '
                   'UNION SELECT %I FROM capture_new) t WHERE e IS NOT NULL',
                   TG_ARGV[0], TG_ARGV[1], TG_ARGV[1]);
  ELSE
    EXECUTE format('INSERT INTO convsearch.changes (kind, entity) '
                   'SELECT DISTINCT %L, %I FROM capture_new WHERE %I IS NOT NULL',
                   TG_ARGV[0], TG_ARGV[1], TG_ARGV[1]);
  END IF;
  -- Delivered at commit, once per transaction whatever the number of rows.
  PERFORM pg_notify('convsearch', '');
  RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION convsearch.capture() FROM PUBLIC;

-- Installs the four capture triggers on one table.
CREATE OR REPLACE FUNCTION convsearch.capture_table(tbl regclass, kind "char", col text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text := tbl::text;
  base text := replace(replace(tbl::text, '.', '_'), '"', '');
BEGIN
  EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s '
                 'REFERENCING NEW TABLE AS capture_new FOR EACH STATEMENT '
                 'EXECUTE FUNCTION convsearch.capture(%L, %L)',
                 'cs_ins_' || base, t, kind, col);
  EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s '
                 'REFERENCING OLD TABLE AS capture_old NEW TABLE AS capture_new '
                 'FOR EACH STATEMENT EXECUTE FUNCTION convsearch.capture(%L, %L)',
                 'cs_upd_' || base, t, kind, col);
  EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s '
                 'REFERENCING OLD TABLE AS capture_old FOR EACH STATEMENT '
                 'EXECUTE FUNCTION convsearch.capture(%L, %L)',
                 'cs_del_' || base, t, kind, col);
  EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION convsearch.capture(%L, %L)',
                 'cs_trunc_' || base, t, kind, col);
END $$;
REVOKE ALL ON FUNCTION convsearch.capture_table(regclass, "char", text) FROM PUBLIC;
