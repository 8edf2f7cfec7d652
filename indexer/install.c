/*
 * `convsearch-indexer install`: creates the canonical tables when missing
 * (or adapts an existing portal database with --portal) and installs change
 * capture. Idempotent, and serialized by an advisory lock so two installs
 * cannot interleave. It all happens in one transaction: a refusal or an
 * error leaves the database exactly as it was.
 *
 * A database installed for one source is never switched to the other
 * silently: the views would then read other tables, and the next change of
 * an indexed entity would remove it from the index. Switching needs
 * --switch-mode; it drops the capture triggers of the old source's tables,
 * and the index must then be rebuilt (`reindex`).
 */
#include "install.h"

#include "log.h"
#include "pg.h"
#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char cs_sql_canonical[];
extern const char cs_sql_capture[];
extern const char cs_sql_canonical_capture[];
extern const char cs_sql_portal[];

/* Every capture trigger, whatever table it is on (used when switching). */
static const char sql_drop_capture[] =
    "DO $$ DECLARE t record; BEGIN "
    "FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger "
    "WHERE tgfoid = 'convsearch.capture()'::regprocedure LOOP "
    "EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel); "
    "END LOOP; END $$";

static int run(PGconn *pg, const char *what, const char *sql) {
  PGresult *r = PQexec(pg, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    cs_log(CS_LOG_ERROR, "install: %s failed: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return -1;
  }
  PQclear(r);
  return 0;
}

static const char *mode_name(int portal) {
  return portal ? "portal" : "canonical";
}

/* The source this database is installed for: 0 canonical, 1 portal, -1 not
 * installed yet; -2 on error. */
static int installed_mode(PGconn *pg) {
  const char *what = "install: reading the installed source";
  PGresult *r = cs_pg_exec(pg, what, "SELECT to_regclass('convsearch.meta') IS NOT NULL", 0, NULL);
  if (!r) return -2;
  int installed = !strcmp(PQgetvalue(r, 0, 0), "t");
  PQclear(r);
  if (!installed) return -1;
  r = cs_pg_exec(pg, what, "SELECT value FROM convsearch.meta WHERE key = 'source'", 0, NULL);
  if (!r) return -2;
  int mode = PQntuples(r) == 1 ? !strcmp(PQgetvalue(r, 0, 0), "portal") : -1;
  PQclear(r);
  return mode;
}

static int check_portal_tables(PGconn *pg) {
  static const char *const tables[] = {
      "conversation_patientmodel", "conversation_conversationmodel",
      "conversation_ephemeralanswermodel", "conversation_relevantpointmodel",
      "conversation_answermodel"};
  int rc = 0;
  for (size_t i = 0; !rc && i < sizeof tables / sizeof tables[0]; i++) {
    const char *params[1] = {tables[i]};
    PGresult *r = cs_pg_exec(pg, "checking the portal tables", "SELECT to_regclass($1) IS NOT NULL",
                             1, params);
    if (!r) return -1;
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
      cs_log(CS_LOG_ERROR, "install --portal: table %s not found; is this the portal's database?",
             tables[i]);
      rc = -1;
    }
    PQclear(r);
  }
  return rc;
}

/* The least the indexer's role needs for run, verify and reindex: connect,
 * look into the convsearch schema, read the change log and the source views
 * (views read the tables with their owner's rights, so no grant on the
 * application's tables). README.md shows the same block. */
static int grant_indexer(PGconn *pg, const char *role) {
  char *who = PQescapeIdentifier(pg, role, strlen(role));
  char *db = PQescapeIdentifier(pg, PQdb(pg), strlen(PQdb(pg)));
  int rc = -1;
  if (who && db) {
    char sql[1024];
    snprintf(sql, sizeof sql,
             "GRANT CONNECT ON DATABASE %s TO %s;"
             "GRANT USAGE ON SCHEMA convsearch TO %s;"
             "GRANT SELECT ON convsearch.changes, convsearch.meta, convsearch.src_patients, "
             "convsearch.src_conversations, convsearch.src_segments, convsearch.src_events, "
             "convsearch.src_relevant_points TO %s",
             db, who, who, who);
    rc = run(pg, "granting the indexer's role its privileges", sql);
  }
  PQfreemem(who);
  PQfreemem(db);
  return rc;
}

int cs_install(const char *conninfo, const cs_install_opts *o) {
  PGconn *pg = cs_pg_connect(conninfo, 3, NULL);
  if (!pg) return 1;
  PGresult *r = PQexec(pg, "SET client_min_messages = warning");
  PQclear(r);
  int rc = run(pg, "begin", "BEGIN");
  if (!rc) rc = run(pg, "locking", "SELECT pg_advisory_xact_lock(7285619043)");
  int was = rc ? -2 : installed_mode(pg);
  if (was == -2) rc = -1;
  int switching = was >= 0 && was != o->portal;
  if (!rc && switching && !o->switch_mode) {
    cs_log(CS_LOG_ERROR,
           "install: this database is installed for the %s source; installing it for the %s "
           "source would point the index at other tables. Nothing was changed. To switch, run "
           "install again with --switch-mode, then rebuild the index (convsearch-indexer reindex).",
           mode_name(was), mode_name(o->portal));
    rc = -1;
  }
  if (!rc && o->portal) rc = check_portal_tables(pg);
  if (!rc && switching) rc = run(pg, "removing the old source's capture", sql_drop_capture);
  if (!rc && !o->portal) rc = run(pg, "creating the canonical tables", cs_sql_canonical);
  if (!rc) rc = run(pg, "installing change capture", cs_sql_capture);
  if (!rc && o->portal) rc = run(pg, "adapting the portal database", cs_sql_portal);
  if (!rc && !o->portal)
    rc = run(pg, "installing capture on the canonical tables", cs_sql_canonical_capture);
  /* How many times the source was switched: an index built before the
   * switch refuses to follow (indexer/source.h). */
  if (!rc)
    rc = run(
        pg, "recording the source",
        "INSERT INTO convsearch.meta VALUES ('source_epoch', '0') ON CONFLICT (key) DO NOTHING");
  if (!rc && switching)
    rc = run(pg, "recording the switch",
             "UPDATE convsearch.meta SET value = (value::bigint + 1)::text WHERE key = "
             "'source_epoch'");
  if (!rc) {
    char sql[160];
    snprintf(sql, sizeof sql,
             "INSERT INTO convsearch.meta VALUES ('schema_version', '%d') ON CONFLICT (key) DO "
             "UPDATE SET value = excluded.value",
             CS_SCHEMA_VERSION);
    rc = run(pg, "recording the schema version", sql);
  }
  if (!rc && o->indexer_role) rc = grant_indexer(pg, o->indexer_role);
  if (!rc) rc = run(pg, "commit", "COMMIT");
  PQfinish(pg);
  if (rc) return 1;
  if (switching)
    cs_log(CS_LOG_WARN,
           "install: switched from the %s source to the %s source; the index still holds the "
           "%s source's documents and `run` refuses to follow until it is rebuilt "
           "(convsearch-indexer reindex)",
           mode_name(was), mode_name(o->portal), mode_name(was));
  cs_log(CS_LOG_INFO, "change capture installed (%s source)", mode_name(o->portal));
  return 0;
}
