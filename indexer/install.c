/*
 * `convsearch-indexer install`: creates the canonical tables when missing
 * (or adapts an existing portal database with --portal) and installs change
 * capture. Idempotent, and serialized by an advisory lock so two installs
 * cannot interleave.
 */
#include "install.h"

#include "log.h"
#include "pg.h"

#include <stdio.h>
#include <string.h>

extern const char cs_sql_canonical[];
extern const char cs_sql_capture[];
extern const char cs_sql_canonical_capture[];
extern const char cs_sql_portal[];

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

int cs_install(const char *conninfo, int portal) {
  PGconn *pg = cs_pg_connect(conninfo, 3, NULL);
  if (!pg) return 1;
  PGresult *r = PQexec(pg, "SET client_min_messages = warning");
  PQclear(r);
  int rc = run(pg, "begin", "BEGIN");
  if (!rc) rc = run(pg, "locking", "SELECT pg_advisory_xact_lock(7285619043)");
  if (!rc && portal) {
    static const char *const tables[] = {
        "conversation_patientmodel", "conversation_conversationmodel",
        "conversation_ephemeralanswermodel", "conversation_relevantpointmodel",
        "conversation_answermodel"};
    for (size_t i = 0; !rc && i < sizeof tables / sizeof tables[0]; i++) {
      const char *params[1] = {tables[i]};
      r = cs_pg_exec(pg, "checking the portal tables", "SELECT to_regclass($1) IS NOT NULL", 1,
                     params);
      if (!r) {
        rc = -1;
        break;
      }
      if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        cs_log(CS_LOG_ERROR, "install --portal: table %s not found; is this the portal's database?",
               tables[i]);
        rc = -1;
      }
      PQclear(r);
    }
  }
  if (!rc && !portal) rc = run(pg, "creating the canonical tables", cs_sql_canonical);
  if (!rc) rc = run(pg, "installing change capture", cs_sql_capture);
  if (!rc && portal) rc = run(pg, "adapting the portal database", cs_sql_portal);
  if (!rc && !portal)
    rc = run(pg, "installing capture on the canonical tables", cs_sql_canonical_capture);
  if (!rc) rc = run(pg, "commit", "COMMIT");
  PQfinish(pg);
  if (rc) return 1;
  cs_log(CS_LOG_INFO, "change capture installed (%s source)", portal ? "portal" : "canonical");
  return 0;
}
