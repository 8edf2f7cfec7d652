/*
 * Which source an index was built from (see source.h).
 */
#include "source.h"

#include "errors.h"
#include "log.h"
#include "pg.h"

#include <stdlib.h>
#include <string.h>

#define META_KEY "source"

int cs_source_readable(PGconn *pg) {
  PGresult *r = cs_pg_exec(pg, "checking access to convsearch.meta",
                           "SELECT CASE WHEN to_regclass('convsearch.meta') IS NOT NULL "
                           "THEN has_table_privilege('convsearch.meta', 'SELECT') END",
                           0, NULL);
  if (!r) return -1;
  /* NULL: not installed at all, and what fails next says to run install. */
  int exists = !PQgetisnull(r, 0, 0), ok = exists && !strcmp(PQgetvalue(r, 0, 0), "t");
  PQclear(r);
  if (exists && !ok)
    cs_log(CS_LOG_WARN,
           "this role cannot read convsearch.meta, so a switch of the database's source "
           "(install --switch-mode) goes unnoticed: re-run install --indexer-role ROLE, or "
           "GRANT SELECT ON convsearch.meta to it");
  return ok;
}

int cs_source_get(cs_writer *w, char out[CS_SOURCE_MAX]) {
  out[0] = 0;
  cs_slice v;
  int rc = cs_get(cs_writer_txn(w), CS_T_META, (cs_slice){META_KEY, sizeof META_KEY - 1}, &v);
  if (rc == CS_ENOTFOUND) return 0;
  if (rc) return rc;
  if (v.len >= CS_SOURCE_MAX) return CS_ECORRUPT;
  memcpy(out, v.data, v.len);
  out[v.len] = 0;
  return 0;
}

int cs_source_put(cs_writer *w, const char *identity) {
  return cs_put(cs_writer_txn(w), CS_T_META, (cs_slice){META_KEY, sizeof META_KEY - 1},
                (cs_slice){identity, strlen(identity)});
}

int cs_source_check(const char *index_identity, const char *db_identity) {
  if (!index_identity[0] || !db_identity[0] || !strcmp(index_identity, db_identity)) return 0;
  cs_log(CS_LOG_ERROR,
         "the index was built from the %s source, but the database is now installed for %s "
         "(install --switch-mode): its rows would be mixed with the old source's. Rebuild the "
         "index first: convsearch-indexer reindex --pg ... --index ...",
         index_identity, db_identity);
  return 1;
}

int cs_source_schema_check(PGconn *pg) {
  PGresult *r =
      cs_pg_exec(pg, "reading the installed schema version",
                 "SELECT value FROM convsearch.meta WHERE key = 'schema_version'", 0, NULL);
  if (!r) return -1;
  long v = PQntuples(r) == 1 ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 1;
  PQclear(r);
  if (v == CS_SCHEMA_VERSION) return 0;
  cs_log(CS_LOG_ERROR,
         "change capture in this database was installed by %s convsearch (schema %ld; this "
         "indexer reads schema %d): run convsearch-indexer install --pg ... again (with "
         "--portal for a portal database), then start the indexer",
         v < CS_SCHEMA_VERSION ? "an older" : "a newer", v, CS_SCHEMA_VERSION);
  return 1;
}
