/*
 * verify must fail, naming each difference, when the stores moved on and
 * the index did not (or the other way round), and pass again once the
 * indexer caught up.
 */
#include "harness.h"

#include <stdio.h>

int main(void) {
  th_init("verify");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_verify", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(
      c,
      "INSERT INTO employees VALUES (1, 'Ana', NULL);"
      "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Uno'), (2, 1, 'Dos');"
      "INSERT INTO conversations (id, patient_id, owner_id) VALUES (1, 1, 1), (2, 1, 1), (3, 2, 1);"
      "INSERT INTO segments VALUES (1, 0, 'a', 'other', 0, 1, 'uno'), (2, 0, 'a', 'other', 0, 1, "
      "'dos'),"
      "(3, 0, 'a', 'other', 0, 1, 'tres');"
      "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
      "('s', 1, 'conversation.played', '{\"patient_id\": 1}', 1)");
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  REQUIRE(th_indexer(once) == 0, "run failed");
  CHECK(th_indexer(verify) == 0, "verify passes on a caught-up index");

  /* The stores move on without the indexer. */
  th_sql(c, "UPDATE segments SET text = 'cambiado' WHERE conversation_id = 1;"
            "DELETE FROM conversations WHERE id = 2;"
            "INSERT INTO conversations (id, patient_id, owner_id) VALUES (4, 2, 1);"
            "UPDATE patients SET name = 'Otro' WHERE id = 2;"
            "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('s', 2, 'conversation.played', '{\"patient_id\": 2}', 1)");
  CHECK(th_indexer(verify) == 1, "verify fails when they differ");
  CHECK(th_log_count("conversation 1: differs from the store") == 1,
        "names the stale conversation");
  CHECK(th_log_count("conversation 2: in the index but not in the store") == 1,
        "names the extra one");
  CHECK(th_log_count("conversation 4: missing from the index") == 1, "names the missing one");
  CHECK(th_log_count("person 2: differs from the store") == 1, "names the stale person");
  CHECK(th_log_count("not applied to the index") == 1, "names the unapplied event");
  CHECK(th_log_count("verify: 5 differences") == 1, "and counts them");
  REQUIRE(th_indexer(once) == 0, "catch-up failed");
  CHECK(th_indexer(verify) == 0, "verify passes after the catch-up");
  PQfinish(c);
  return th_done();
}
