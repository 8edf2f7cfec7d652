/*
 * patient.erased removes every trace of the person: name, unique words,
 * turns, events, interaction — whether or not the rows are still in the
 * store — and after compaction the words are not in the index files at all.
 */
#include "harness.h"
#include "store.h"

#include <stdio.h>

int main(void) {
  th_init("erasure");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_erasure", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name, email) VALUES "
            "(1, 1, 'Zacarías Quintanilla', 'zq@example.org'), (2, 1, 'Otra Persona', NULL);"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(1, 1, 1, 'Entrevista xilofonista'), (2, 2, 1, 'Entrevista normal');"
            "INSERT INTO segments VALUES (1, 0, 'Zacarías', 'beneficiary', 0, 1, "
            "'Trabajé de xilofonista en Albacete y vivo en la calle Quintanilla'),"
            "(2, 0, 'Otra', 'beneficiary', 0, 1, 'Vivo en Madrid con mi familia');"
            "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('p1', 1, 'patient.registered', '{\"patient_id\": 1}', 1),"
            "('p1', 2, 'conversation.recorded', '{\"patient_id\": 1, \"conversation_id\": 1}', 1)");
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  REQUIRE(th_indexer(once) == 0, "first run failed");
  CHECK(th_docs_with(index, "xilofonista") == 2, "unique word findable before erasure");
  CHECK(th_docs_with(index, "quintanilla") == 2, "name findable before erasure");
  CHECK(th_index_count(index, CS_T_EVENT) == 2, "events applied");

  th_sql(c, "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('p1', 3, 'patient.erased', '{\"patient_id\": 1}', 1)");
  REQUIRE(th_indexer(once) == 0, "second run failed");
  CHECK(th_docs_with(index, "xilofonista") == 0, "unique word gone after erasure");
  CHECK(th_docs_with(index, "quintanilla") == 0, "name gone after erasure");
  CHECK(th_docs_with(index, "zacarias") == 0, "first name gone after erasure");
  CHECK(th_docs_with(index, "albacete") == 0, "every word of their turns gone");
  CHECK(th_docs_with(index, "madrid") == 1, "other people untouched");
  CHECK(th_index_count(index, CS_T_EVENT) == 0, "their events gone");
  CHECK(th_index_count(index, CS_T_INTER) == 0, "their interaction gone");
  CHECK(th_index_count(index, CS_T_PATIENT) == 1, "their record gone, the other stays");
  CHECK(th_index_count(index, CS_T_CONV) == 1, "their conversation gone");

  /* The rows are still in the store and change again: they stay out. */
  th_sql(c, "UPDATE segments SET text = text || ' xilofonista otra vez' WHERE conversation_id = 1;"
            "UPDATE patients SET name = 'Zacarías Quintanilla Ruiz' WHERE id = 1;"
            "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('p1', 4, 'conversation.played', '{\"patient_id\": 1, \"conversation_id\": 1}', 1)");
  REQUIRE(th_indexer(once) == 0, "third run failed");
  CHECK(th_docs_with(index, "xilofonista") == 0, "erased person stays erased after store updates");
  CHECK(th_index_count(index, CS_T_EVENT) == 0, "later events of an erased person are refused");
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  CHECK(th_indexer(verify) == 0, "verify agrees (erased rows in the store are expected absent)");

  const char *compact[] = {"compact", "--index", index, NULL};
  CHECK(th_indexer(compact) == 0, "compact succeeds");
  CHECK(!th_index_files_contain(index, "xilofonista"),
        "after compaction the word is not in the files");
  CHECK(!th_index_files_contain(index, "Quintanilla"),
        "after compaction the name is not in the files");
  CHECK(!th_index_files_contain(index, "zq@example.org"), "nor the e-mail address");
  CHECK(th_index_files_contain(index, "Madrid"), "(the probe does find text that should be there)");
  CHECK(th_docs_with(index, "madrid") == 1, "the compacted index serves");
  CHECK(th_indexer(verify) == 0, "verify agrees after compaction");
  PQfinish(c);
  return th_done();
}
