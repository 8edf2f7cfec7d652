/*
 * Live changes become searchable within a second while the indexer follows
 * (LISTEN/NOTIFY wakes it; precise freshness numbers are in bench/).
 * Covers inserts, an update of a turn, a re-transcription, and a delete.
 */
#include "harness.h"

#include <stdio.h>

int main(void) {
  th_init("freshness");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_fresh", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Uno')");
  /* Long poll interval: only NOTIFY can make it fast. */
  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "30000", NULL};
  pid_t ix = th_indexer_spawn(run);
  REQUIRE(th_wait_docs(index, "uno", 1, 10000) >= 0, "indexer started");

  th_sql(c, "INSERT INTO conversations (id, patient_id, owner_id) VALUES (1, 1, 1);"
            "INSERT INTO segments VALUES (1, 0, 'a', 'other', 0, 1, 'primerafrase')");
  int ms = th_wait_docs(index, "primerafrase", 1, 1000);
  CHECK(ms >= 0, "insert visible within 1 s (took %d ms)", ms);

  th_sql(c, "UPDATE segments SET text = 'segundafrase' WHERE conversation_id = 1 AND seq = 0");
  ms = th_wait_docs(index, "segundafrase", 1, 1000);
  CHECK(ms >= 0, "update visible within 1 s (took %d ms)", ms);
  CHECK(th_docs_with(index, "primerafrase") == 0, "the old text is gone after the update");

  th_sql(c, "BEGIN; DELETE FROM segments WHERE conversation_id = 1;"
            "INSERT INTO segments VALUES (1, 0, 'a', 'other', 0, 1, 'retranscrita uno'),"
            "(1, 1, 'b', 'other', 1, 2, 'retranscrita dos'); COMMIT");
  ms = th_wait_docs(index, "retranscrita", 2, 1000);
  CHECK(ms >= 0, "re-transcription visible within 1 s (took %d ms)", ms);
  CHECK(th_docs_with(index, "segundafrase") == 0, "re-transcription replaced the old turns");

  th_sql(c, "DELETE FROM conversations WHERE id = 1");
  ms = th_wait_docs(index, "retranscrita", 0, 1000);
  CHECK(ms >= 0, "delete visible within 1 s (took %d ms)", ms);
  th_stop(ix);
  PQfinish(c);
  return th_done();
}
