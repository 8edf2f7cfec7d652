/*
 * Who installs and who writes: a superuser installs change capture on
 * tables an application role owns (canonical store) or Django's role owns
 * (portal), and afterwards those roles still write every captured table, and
 * each write reaches the index. A separate indexer role, with only the
 * privileges README.md lists, runs, verifies and reindexes; LISTEN/NOTIFY
 * still wakes it for the application's writes.
 *
 * And install never switches a database to the other source silently: it
 * refuses, changing nothing, unless --switch-mode.
 */
#include "harness.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The error message of sql, or NULL when it succeeded (caller frees). */
static char *sql_error(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  char *err = NULL;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) err = strdup(PQresultErrorMessage(r));
  PQclear(r);
  return err;
}

/* Checks that `who` may run sql. */
static void writes(PGconn *c, const char *who, const char *sql) {
  char *err = sql_error(c, sql);
  th_check(err == NULL, "%s: %s -> %s", who, sql, err ? err : "");
  free(err);
}

/* Checks that sql fails with an error containing `why`. */
static void refused(PGconn *c, const char *who, const char *sql, const char *why) {
  char *err = sql_error(c, sql);
  th_check(err && strstr(err, why), "%s: %s should fail with \"%s\", got: %s", who, sql, why,
           err ? err : "success");
  free(err);
}

static void fresh_role(PGconn *su, const char *name) {
  char sql[256];
  snprintf(sql, sizeof sql, "DROP ROLE IF EXISTS %s", name);
  th_sql(su, sql);
  snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE", name);
  th_sql(su, sql);
}

/* conninfo as another role (a later keyword overrides an earlier one). */
static void as_role(char *out, size_t cap, const char *conninfo, const char *role) {
  snprintf(out, cap, "%s user=%s", conninfo, role);
}

static void schema_file(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/schemas/%s", getenv("CS_SOURCE_DIR"), name);
}

/* What install may change, as text: views, triggers, functions, tables,
 * the recorded source and the change log's length. */
static char *catalog(PGconn *c) {
  PGresult *r =
      PQexec(c, "SELECT string_agg(x, E'\\n' ORDER BY x) FROM ("
                " SELECT 'view ' || c.oid::regclass || ' ' || pg_get_viewdef(c.oid) FROM pg_class c"
                "  WHERE c.relkind = 'v' AND c.relnamespace = 'convsearch'::regnamespace"
                " UNION ALL SELECT 'trigger ' || tgrelid::regclass || ' ' || pg_get_triggerdef(oid)"
                "  FROM pg_trigger WHERE NOT tgisinternal"
                " UNION ALL SELECT 'function ' || p.oid::regprocedure || ' ' || md5(p.prosrc)"
                "  FROM pg_proc p WHERE p.pronamespace IN ('convsearch'::regnamespace, "
                "'public'::regnamespace)"
                " UNION ALL SELECT 'table ' || c.oid::regclass FROM pg_class c"
                "  WHERE c.relkind = 'r' AND c.relnamespace IN ('convsearch'::regnamespace, "
                "'public'::regnamespace)"
                " UNION ALL SELECT 'meta ' || key || '=' || value FROM convsearch.meta"
                " UNION ALL SELECT 'changes ' || count(*) FROM convsearch.changes) s(x)");
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "catalog: %s",
          PQresultErrorMessage(r));
  char *s = strdup(PQgetvalue(r, 0, 0));
  PQclear(r);
  return s;
}

static int64_t changes_of_kind(PGconn *su, char kind) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM convsearch.changes WHERE kind = '%c'", kind);
  return th_sql_int(su, sql);
}

/* Starts a following indexer with a poll far longer than the test; returns
 * after it has LISTENed and caught up. */
static pid_t follow(const char *pg, const char *index) {
  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "600000", NULL};
  int connected = th_log_count("connected to PostgreSQL");
  pid_t pid = th_indexer_spawn(run);
  for (int i = 0; i < 1000 && th_log_count("connected to PostgreSQL") == connected; i++)
    th_sleep_ms(10);
  th_sleep_ms(300);
  return pid;
}

/* The least privileges of README.md ("Roles"), pasted as an operator would. */
static void grant_indexer_as_readme(PGconn *su, const char *db, const char *role) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "GRANT CONNECT ON DATABASE %s TO %s;"
           "GRANT USAGE ON SCHEMA convsearch TO %s;"
           "GRANT SELECT ON convsearch.changes, convsearch.meta, convsearch.src_patients,"
           " convsearch.src_conversations, convsearch.src_segments, convsearch.src_events,"
           " convsearch.src_relevant_points TO %s",
           db, role, role, role);
  th_sql(su, sql);
}

/* A database whose tables `owner` created from `schema` (a file of
 * schemas/), with a fresh indexer role `indexer` that has no grant yet. */
typedef struct setup {
  PGconn *su, *app;
  char pg[700], app_pg[760], ix_pg[760], index[600];
} setup;

static void set_up(setup *d, const char *db, const char *owner, const char *indexer,
                   const char *schema) {
  char sql[256], file[600];
  snprintf(d->pg, sizeof d->pg, "%s", th_db_create(db, NULL, &d->su));
  snprintf(d->index, sizeof d->index, "%s/%s", th_dir(), db);
  fresh_role(d->su, owner);
  fresh_role(d->su, indexer);
  as_role(d->app_pg, sizeof d->app_pg, d->pg, owner);
  as_role(d->ix_pg, sizeof d->ix_pg, d->pg, indexer);
  snprintf(sql, sizeof sql, "GRANT CREATE ON SCHEMA public TO %s", owner);
  th_sql(d->su, sql);
  d->app = th_connect(d->app_pg);
  schema_file(file, sizeof file, schema);
  th_sql_file(d->app, file);
}

/* Runs each statement as `who`; checks that each succeeds. */
static void writes_all(PGconn *c, const char *who, const char *const *sql) {
  for (; *sql; sql++)
    writes(c, who, *sql);
}

/* run --once, then verify, both as the indexer role. */
static void index_and_verify(const setup *d, const char *after) {
  const char *once[] = {"run", "--pg", d->ix_pg, "--index", d->index, "--once", NULL};
  const char *verify[] = {"verify", "--pg", d->ix_pg, "--index", d->index, NULL};
  CHECK(th_indexer(once) == 0, "run --once as the indexer role after the %s", after);
  CHECK(th_indexer(verify) == 0, "verify as the indexer role after the %s", after);
}

/* `now` is in exactly one document, and `before` (when given) in none. */
static void found(const setup *d, const char *now, const char *before, const char *what) {
  CHECK(th_docs_with(d->index, now) == 1, "%s: \"%s\" is searchable", what, now);
  if (before) CHECK(th_docs_with(d->index, before) == 0, "%s: \"%s\" is gone", what, before);
}

/* A following indexer, with a poll far longer than the test, sees the
 * application's writes: the capture trigger's NOTIFY wakes it. The second
 * write finds it idle. */
static void woken(const setup *d, const char *write_tarancon, const char *write_motilla) {
  pid_t pid = follow(d->ix_pg, d->index);
  writes(d->app, "application", write_tarancon);
  CHECK(th_wait_docs(d->index, "tarancon", 1, 10000) >= 0, "a following indexer sees the write");
  writes(d->app, "application", write_motilla);
  CHECK(th_wait_docs(d->index, "motilla", 1, 10000) >= 0,
        "NOTIFY from the capture trigger wakes the idle indexer (poll is 10 minutes)");
  th_stop(pid);
}

/* The same story in both modes, written by the application's role to every
 * captured table: INSERTs, UPDATEs, two writes while an indexer follows, and
 * DELETEs; after each step the index shows it and verify agrees. The words:
 * person "Remedios Zubizarreta" renamed "Olabarria"; turn "empadronamiento"
 * edited to "albergue"; then "tarancon" and "motilla"; the DELETEs remove
 * the second person ("Arrizabalaga"), their conversation and the relevant
 * point. */
typedef struct story {
  const char *const *inserts, *const *updates, *write_tarancon, *write_motilla, *const *deletes;
} story;

static void tell(const setup *d, const char *who, const story *st) {
  writes_all(d->app, who, st->inserts);
  CHECK(changes_of_kind(d->su, 'a') == 1, "the answer's change is captured");
  index_and_verify(d, "INSERTs");
  found(d, "zubizarreta", NULL, "the person");
  found(d, "arrizabalaga", NULL, "the other person");
  found(d, "empadronamiento", NULL, "the turn");
  CHECK(th_index_count(d->index, CS_T_EVENT) == 1, "the event is indexed");
  CHECK(th_index_count(d->index, CS_T_POINT) == 1, "the relevant point is indexed");

  writes_all(d->app, who, st->updates);
  CHECK(changes_of_kind(d->su, 'a') == 2, "the answer's update is captured");
  index_and_verify(d, "UPDATEs");
  found(d, "olabarria", "zubizarreta", "the renamed person");
  found(d, "albergue", "empadronamiento", "the edited turn");

  woken(d, st->write_tarancon, st->write_motilla);

  writes_all(d->app, who, st->deletes);
  CHECK(changes_of_kind(d->su, 'a') == 3, "the answer's delete is captured");
  index_and_verify(d, "DELETEs");
  CHECK(th_docs_with(d->index, "motilla") == 0 && th_docs_with(d->index, "tarancon") == 0,
        "the deleted conversation leaves the index");
  CHECK(th_docs_with(d->index, "arrizabalaga") == 0, "the deleted person leaves the index");
  found(d, "olabarria", NULL, "the person not deleted");
  CHECK(th_index_count(d->index, CS_T_POINT) == 0, "the deleted relevant point leaves the index");
}

static void canonical(void) {
  setup d;
  set_up(&d, "t_install_canon", "cs_canon_app", "cs_canon_indexer", "canonical.sql");
  PGconn *su = d.su, *app = d.app;
  /* The application created its own tables; a superuser installs capture. */
  REQUIRE(th_sql_int(su, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND "
                         "tableowner = 'cs_canon_app'") == 7,
          "the application role owns the seven canonical tables");
  /* Before install, run --once gives up and says to run install, and
   * nothing about privileges on the table install creates. */
  char early[600];
  snprintf(early, sizeof early, "%s/before-install", th_dir());
  const char *before[] = {"run", "--pg", d.pg, "--index", early, "--once", NULL};
  int hints = th_log_count("run: convsearch-indexer install"),
      grants = th_log_count("cannot read convsearch.meta");
  CHECK(th_indexer(before) != 0, "run --once before install fails");
  CHECK(th_log_count("run: convsearch-indexer install") > hints, "and says to run install");
  CHECK(th_log_count("cannot read convsearch.meta") == grants,
        "without a warning about privileges on a table not installed yet");
  const char *install[] = {"install", "--pg", d.pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install by the superuser failed");
  grant_indexer_as_readme(su, "t_install_canon", "cs_canon_indexer");

  const char *who = "application role";
  const char *inserts[] = {
      "INSERT INTO employees VALUES (1, 'Ana', NULL)",
      "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Remedios Zubizarreta'), (2, 1, "
      "'Jorge Arrizabalaga')",
      "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES (1, 1, 1, 'Acogida')",
      "INSERT INTO segments VALUES (1, 0, 'Ana', 'interviewer', 0, 900, 'Hablamos del "
      "empadronamiento')",
      "INSERT INTO events (stream, version, type, payload, actor_id) VALUES ('patient-1', 1, "
      "'patient.registered', '{\"patient_id\": 1}', 1)",
      "INSERT INTO relevant_points VALUES (1, '¿Tiene vivienda estable?', 'vivienda')",
      "INSERT INTO patient_answers VALUES (1, 1, 'en un piso compartido', false)",
      NULL};
  const char *updates[] = {
      "UPDATE patients SET name = 'Remedios Olabarria' WHERE id = 1",
      "UPDATE conversations SET title = 'Primera acogida' WHERE id = 1",
      "UPDATE segments SET text = 'Hablamos del albergue' WHERE conversation_id = 1",
      "UPDATE relevant_points SET text = '¿Tiene trabajo?' WHERE id = 1",
      "UPDATE patient_answers SET resolved = true WHERE patient_id = 1",
      NULL};
  const char *deletes[] = {"DELETE FROM patient_answers",
                           "DELETE FROM segments WHERE conversation_id = 2",
                           "DELETE FROM conversations WHERE id = 2",
                           "DELETE FROM relevant_points",
                           "DELETE FROM patients WHERE id = 2",
                           NULL};
  story st = {inserts, updates,
              "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES (2, 2, 1, "
              "'Seguimiento en Tarancon')",
              "INSERT INTO segments VALUES (2, 0, 'Ana', 'interviewer', 0, 900, 'Visita a "
              "Motilla')",
              deletes};
  tell(&d, who, &st);
  /* events is append-only by design: refused by its own rule, not by capture. */
  refused(app, who, "UPDATE events SET type = 'x'", "append-only");
  refused(app, who, "DELETE FROM events", "append-only");
  const char *reindex[] = {"reindex", "--pg", d.ix_pg, "--index", d.index, NULL};
  CHECK(th_indexer(reindex) == 0, "reindex as the indexer role");

  /* Least privilege, both ways: the application cannot touch the change log
   * or attach the capture function; the indexer cannot read the tables. */
  refused(app, who, "INSERT INTO convsearch.changes (kind, entity) VALUES ('c', 1)",
          "permission denied");
  refused(app, who,
          "CREATE TRIGGER x AFTER INSERT ON employees FOR EACH STATEMENT EXECUTE FUNCTION "
          "convsearch.capture('p', 'id')",
          "permission denied");
  PGconn *ix = th_connect(d.ix_pg);
  refused(ix, "indexer role", "SELECT * FROM patients", "permission denied");
  refused(ix, "indexer role", "DELETE FROM convsearch.changes", "permission denied");
  CHECK(th_sql_int(su, "SELECT count(*) FROM pg_roles WHERE rolname = 'cs_canon_indexer' AND NOT "
                       "rolsuper") == 1,
        "the indexer role is no superuser");
  PQfinish(ix);
  PQfinish(app);
  PQfinish(su);
}

static void portal(void) {
  setup d;
  set_up(&d, "t_install_portal", "cs_portal_django", "cs_portal_indexer", "portal_fixture.sql");
  PGconn *su = d.su, *dj = d.app;
  const char *install[] = {"install",           "--pg", d.pg, "--portal", "--indexer-role",
                           "cs_portal_indexer", NULL};
  REQUIRE(th_indexer(install) == 0, "install --portal --indexer-role by the superuser failed");
  const char *nobody[] = {"install", "--pg", d.pg, "--portal", "--indexer-role", "cs_nobody", NULL};
  CHECK(th_indexer(nobody) != 0, "--indexer-role with an unknown role fails");
  CHECK(th_log_count("role \"cs_nobody\" does not exist") == 1, "and says why");

  const char *who = "Django's role";
  const char *inserts[] = {
      "INSERT INTO core_user (id, email, name) VALUES (1, 'ana@x', 'Ana')",
      "INSERT INTO conversation_patientmodel (id, user_id, name) VALUES (1, 1, 'Remedios "
      "Zubizarreta'), (2, 1, 'Jorge Arrizabalaga')",
      "INSERT INTO conversation_conversationmodel (id, patient_id, title, conversation, duration) "
      "VALUES (1, 1, 'Acogida', '{\"conversation\": [{\"speaker\": \"Ana\", \"text\": \"Hablamos "
      "del empadronamiento\"}]}', 10), (2, 2, 'Seguimiento', NULL, NULL)",
      "INSERT INTO conversation_ephemeralanswermodel (id, conversation_id, question, answer) "
      "VALUES (1, 1, '¿Dónde vive?', 'En Cuenca')",
      "INSERT INTO conversation_relevantpointmodel (id, text, category) VALUES (1, '¿Tiene "
      "vivienda?', 'vivienda')",
      "INSERT INTO conversation_answermodel (patient_id, relevant_point_id, text) VALUES (1, 1, "
      "'no')",
      NULL};
  const char *updates[] = {
      "UPDATE conversation_patientmodel SET name = 'Remedios Olabarria' WHERE id = 1",
      "UPDATE conversation_conversationmodel SET conversation = '{\"conversation\": "
      "[{\"speaker\": \"Ana\", \"text\": \"Hablamos del albergue\"}]}' WHERE id = 1",
      "UPDATE conversation_ephemeralanswermodel SET answer = 'En Teruel'",
      "UPDATE conversation_relevantpointmodel SET text = '¿Tiene trabajo?'",
      "UPDATE conversation_answermodel SET resolved = true",
      NULL};
  const char *deletes[] = {"DELETE FROM conversation_answermodel",
                           "DELETE FROM conversation_relevantpointmodel",
                           "DELETE FROM conversation_conversationmodel WHERE id = 2",
                           "DELETE FROM conversation_patientmodel WHERE id = 2", NULL};
  story st = {
      inserts, updates,
      "UPDATE conversation_conversationmodel SET title = 'Seguimiento en Tarancon' WHERE id = 2",
      "UPDATE conversation_conversationmodel SET title = 'Visita a Motilla' WHERE id = 2", deletes};
  tell(&d, who, &st);
  /* Django may delete a question asked; the write goes through, is
   * captured, and the question leaves the index with the interaction it
   * counted (verify agrees: no event the store does not have). */
  int64_t e = changes_of_kind(su, 'e');
  CHECK(th_index_count(d.index, CS_T_EVENT) == 1 && th_index_count(d.index, CS_T_INTER) == 1,
        "the question asked is an event and an interaction");
  writes(dj, who, "DELETE FROM conversation_ephemeralanswermodel");
  CHECK(changes_of_kind(su, 'e') == e + 1, "the question's delete is captured");
  index_and_verify(&d, "question's DELETE");
  CHECK(th_index_count(d.index, CS_T_EVENT) == 0, "the deleted question's event left the index");
  CHECK(th_index_count(d.index, CS_T_INTER) == 0, "and the interaction it counted");
  writes(dj, who,
         "INSERT INTO conversation_ephemeralanswermodel (id, conversation_id, question, answer) "
         "VALUES (2, 1, '¿Trabaja?', 'No'), (3, 1, '¿Estudia?', 'Sí')");
  index_and_verify(&d, "two more questions");
  CHECK(th_index_count(d.index, CS_T_EVENT) == 2, "two questions, two events");
  writes(dj, who, "TRUNCATE conversation_ephemeralanswermodel");
  index_and_verify(&d, "TRUNCATE of the questions");
  CHECK(th_index_count(d.index, CS_T_EVENT) == 0 && th_index_count(d.index, CS_T_INTER) == 0,
        "a TRUNCATE takes the events and the interaction out of the index");
  PQfinish(dj);
  PQfinish(su);
}

static void modes(void) {
  PGconn *su;
  char pg[700], index[600], file[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_install_modes", NULL, &su));
  snprintf(index, sizeof index, "%s/modes", th_dir());
  schema_file(file, sizeof file, "portal_fixture.sql");
  th_sql_file(su, file);
  const char *portal[] = {"install", "--pg", pg, "--portal", NULL};
  const char *canonical[] = {"install", "--pg", pg, NULL};
  const char *to_portal[] = {"install", "--pg", pg, "--portal", "--switch-mode", NULL};
  const char *to_canonical[] = {"install", "--pg", pg, "--switch-mode", NULL};
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  REQUIRE(th_indexer(portal) == 0, "install --portal failed");
  th_sql(su, "INSERT INTO core_user (id, name) VALUES (1, 'Ana');"
             "INSERT INTO conversation_patientmodel (id, user_id, name) VALUES (1, 1, 'María');"
             "INSERT INTO conversation_conversationmodel (id, patient_id, title) VALUES "
             "(1, 1, 'Acogida en Albacete')");
  REQUIRE(th_indexer(once) == 0, "run --once failed");
  REQUIRE(th_docs_with(index, "albacete") == 1, "the portal's conversation is indexed");

  /* Same mode again: idempotent, nothing changes. */
  char *before = catalog(su);
  CHECK(th_indexer(portal) == 0, "install --portal again succeeds");
  char *after = catalog(su);
  CHECK(!strcmp(before, after), "install --portal again changes nothing:\n%s\n---\n%s", before,
        after);
  free(after);

  /* install without --portal on a portal database: refused, nothing changed. */
  CHECK(th_indexer(canonical) != 0, "install (canonical) on a portal database is refused");
  CHECK(th_log_count("installed for the portal source") == 1 && th_log_count("--switch-mode") == 1,
        "with a message that says why and how to switch");
  after = catalog(su);
  CHECK(!strcmp(before, after), "the refused install changed nothing:\n%s\n---\n%s", before, after);
  free(after);
  free(before);
  CHECK(th_sql_int(su, "SELECT count(*) FROM pg_tables WHERE tablename = 'conversations'") == 0,
        "the canonical tables were not created");
  /* The user-visible harm it prevents: the next change must not drop it. */
  th_sql(su, "UPDATE conversation_conversationmodel SET description = 'x' WHERE id = 1");
  CHECK(th_indexer(once) == 0, "run --once after the refused install");
  CHECK(th_docs_with(index, "albacete") == 1, "the conversation is still indexed after a change");

  /* --switch-mode switches, removes the old capture, and asks for a reindex. */
  CHECK(th_indexer(to_canonical) == 0, "install --switch-mode switches to canonical");
  CHECK(th_log_count("switched from the portal source to the canonical source") == 1 &&
            th_log_count("convsearch-indexer reindex") >= 2,
        "and says the index must be rebuilt");
  CHECK(th_sql_int(su, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'cs\\_%' AND "
                       "tgrelid::regclass::text LIKE 'conversation\\_%'") == 0,
        "no capture trigger is left on the portal's tables");
  CHECK(th_sql_int(su, "SELECT count(*) FROM pg_trigger WHERE tgname = 'cs_ins_conversations'") ==
            1,
        "the canonical tables are captured");
  CHECK(th_sql_int(su, "SELECT count(*) FROM convsearch.meta WHERE value = 'canonical'") == 1,
        "the database is recorded as canonical");
  /* Until the index is rebuilt, run refuses to feed it the other source's
   * rows (before, it went on and mixed them). */
  int lines = th_log_count("Rebuild the index first");
  CHECK(th_indexer(once) != 0, "run --once on the portal index of a switched database fails");
  CHECK(th_log_count("Rebuild the index first") == lines + 1 &&
            th_log_count("the index was built from the portal#0 source, but the database is "
                         "now installed for canonical#1") >= 1,
        "and says which sources and what to do");
  CHECK(th_docs_with(index, "albacete") == 1, "the index was left as it was");

  /* And the reverse. */
  before = catalog(su);
  CHECK(th_indexer(portal) != 0, "install --portal on a canonical database is refused");
  CHECK(th_log_count("installed for the canonical source") == 1, "with a message");
  after = catalog(su);
  CHECK(!strcmp(before, after), "the refused install --portal changed nothing:\n%s\n---\n%s",
        before, after);
  free(after);
  CHECK(th_indexer(canonical) == 0, "install (canonical) again succeeds");
  after = catalog(su);
  CHECK(!strcmp(before, after), "install (canonical) again changes nothing:\n%s\n---\n%s", before,
        after);
  free(after);
  free(before);
  CHECK(th_indexer(to_portal) == 0, "install --portal --switch-mode switches back");
  CHECK(th_sql_int(su, "SELECT count(*) FROM pg_trigger WHERE tgname = 'cs_ins_conversations'") ==
            0,
        "no capture trigger is left on the canonical tables");
  CHECK(th_sql_int(su, "SELECT count(*) FROM convsearch.meta WHERE value = 'portal'") == 1,
        "the database is recorded as portal");
  const char *reindex[] = {"reindex", "--pg", pg, "--index", index, NULL};
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  CHECK(th_indexer(once) != 0, "switching back does not make the old index current");
  CHECK(th_indexer(reindex) == 0 && th_indexer(verify) == 0, "after a reindex, verify agrees");
  CHECK(th_indexer(once) == 0, "and run follows the rebuilt index");

  /* A database installed by an older convsearch (its views lack columns
   * this indexer reads): run says to re-run install instead of retrying. */
  th_sql(su, "UPDATE convsearch.meta SET value = '1' WHERE key = 'schema_version'");
  CHECK(th_indexer(once) != 0, "run --once on an older install fails");
  CHECK(th_log_count("installed by an older convsearch (schema 1; this indexer reads schema 2): "
                     "run convsearch-indexer install --pg ... again") == 1,
        "and says to run install again");
  CHECK(th_indexer(portal) == 0 && th_indexer(once) == 0, "after install, run follows again");
  PQfinish(su);
}

/* The owner of the tables (not a superuser) may install too: capture then
 * runs with the owner's rights, and it grants the indexer's role itself. */
static void owner_installs(void) {
  setup d;
  set_up(&d, "t_install_owner", "cs_owner_app", "cs_owner_indexer", "canonical.sql");
  th_sql(d.su, "GRANT CREATE ON DATABASE t_install_owner TO cs_owner_app");
  const char *install[] = {"install", "--pg", d.app_pg, "--indexer-role", "cs_owner_indexer", NULL};
  REQUIRE(th_indexer(install) == 0, "install by the tables' owner failed");
  writes(d.app, "owner",
         "INSERT INTO employees VALUES (1, 'Ana', NULL);"
         "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Remedios Zubizarreta')");
  index_and_verify(&d, "owner's INSERTs");
  found(&d, "zubizarreta", NULL, "the person");
  PQfinish(d.app);
  PQfinish(d.su);
}

int main(void) {
  th_init("install");
  canonical();
  modes();
  portal();
  owner_installs();
  return th_done();
}
