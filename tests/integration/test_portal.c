/*
 * The existing portal database (Django): tables created column for column
 * from DESIGN.md, transcripts stored as JSON, as JSON strings that contain
 * JSON, and malformed; `install --portal` adapts it and the indexer indexes
 * it; ownership follows patient.user_id.
 */
#include "harness.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
  th_init("portal");
  PGconn *c;
  char pg[700], index[600], fixture[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_portal", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  snprintf(fixture, sizeof fixture, "%s/schemas/portal_fixture.sql", getenv("CS_SOURCE_DIR"));
  th_sql_file(c, fixture);

  const char *canonical_here[] = {"install", "--pg", pg, "--portal", NULL};
  th_sql(c, "DROP TABLE conversation_answermodel");
  CHECK(th_indexer(canonical_here) != 0,
        "install --portal refuses a database without the portal tables");
  CHECK(th_log_count("conversation_answermodel not found") == 1, "and names the missing table");
  th_sql_file(c, fixture);
  REQUIRE(th_indexer(canonical_here) == 0, "install --portal failed");
  REQUIRE(th_indexer(canonical_here) == 0, "install --portal is idempotent");

  th_sql(
      c,
      "INSERT INTO core_user (id, email, name) VALUES (1, 'ana@x', 'Ana'), (2, 'luis@x', 'Luis');"
      "INSERT INTO conversation_patientmodel (id, user_id, name, email, phone_number) VALUES "
      "(1, 1, 'María Ñúñez', 'm@x', '600'), (2, 2, 'Jorge Pérez', NULL, NULL);"
      /* A JSON string that contains the JSON (as real rows have it). */
      "INSERT INTO conversation_conversationmodel (id, patient_id, title, conversation, duration) "
      "VALUES "
      "(1, 1, 'Acogida', to_jsonb('{\"conversation\": [{\"speaker\": \"Ana\", \"text\": "
      "\"¿Dónde vive usted?\"}, {\"speaker\": \"María\", \"text\": \"En un albergue de "
      "Cuenca\"}]}'::text), 12.5),"
      /* Plain JSON. */
      "(2, 2, 'Seguimiento', '{\"conversation\": [{\"speaker\": \"Luis\", \"text\": \"Hablamos del "
      "empadronamiento\"}]}', 30),"
      /* Malformed JSON inside the string. */
      "(3, 1, 'Rota', to_jsonb('{\"conversation\": [{\"speaker\": '::text), 5),"
      /* A NUL escape PostgreSQL cannot turn into text. */
      "(4, 2, 'Nulo', to_jsonb('{\"conversation\": [{\"speaker\": \"x\", \"text\": "
      "\"hola\\u0000mundo\"}]}'::text), 5),"
      /* Wrong shapes: not a list, turns that are not objects, empty. */
      "(5, 2, 'Forma', '{\"conversation\": {\"speaker\": \"x\"}}', NULL),"
      "(6, 2, 'Turnos raros', '{\"conversation\": [1, \"dos\", {\"text\": 3}, {\"speaker\": \"x\", "
      "\"text\": \"válido\"}]}', NULL),"
      "(7, 2, 'Vacía', NULL, NULL);"
      "INSERT INTO conversation_ephemeralanswermodel (conversation_id, question, answer) VALUES "
      "(1, '¿Dónde vive?', 'En un albergue');"
      "INSERT INTO conversation_relevantpointmodel (id, text, category) VALUES (1, '¿Tiene un "
      "lugar en el que vivir?', 'vivienda')");
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  REQUIRE(th_indexer(once) == 0, "run --once on the portal database failed");
  CHECK(th_docs_with(index, "albergue") == 1, "turn inside a JSON string inside JSON is indexed");
  CHECK(th_docs_with(index, "cuenca") == 1, "accented and plain words alike");
  CHECK(th_docs_with(index, "empadronamiento") == 1, "plain JSON transcript is indexed");
  CHECK(th_docs_with(index, "valido") == 1, "the valid turn among malformed ones is indexed");
  CHECK(th_docs_with(index, "rota") == 1,
        "a malformed transcript's conversation is still indexed (title)");
  CHECK(th_log_count("conversation 3: transcript not readable") == 1,
        "one clear log line for malformed JSON");
  CHECK(th_log_count("conversation 4: transcript not readable") == 1,
        "one clear log line for the NUL escape");
  CHECK(th_log_count("conversation 5: transcript not readable") == 1,
        "one clear log line for a non-list");
  CHECK(th_index_count(index, CS_T_CONV) == 7, "all seven conversations indexed");
  CHECK(th_index_count(index, CS_T_PATIENT) == 2, "both people indexed");
  CHECK(th_index_count(index, CS_T_EVENT) == 1, "questions asked become interaction events");
  CHECK(th_index_count(index, CS_T_POINT) == 1, "relevant points indexed");
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  CHECK(th_indexer(verify) == 0, "verify agrees on the portal database");

  /* Ownership moves with patient.user_id: the conversations follow. */
  th_sql(c, "UPDATE conversation_patientmodel SET user_id = 2 WHERE id = 1");
  REQUIRE(th_indexer(once) == 0, "second run failed");
  CHECK(th_indexer(verify) == 0, "verify agrees after an owner change (conversations re-applied)");
  /* Live edits of the JSON column. */
  th_sql(c, "UPDATE conversation_conversationmodel SET conversation = "
            "'{\"conversation\": [{\"speaker\": \"Ana\", \"text\": \"retranscrito en Teruel\"}]}' "
            "WHERE id = 1");
  REQUIRE(th_indexer(once) == 0, "third run failed");
  CHECK(th_docs_with(index, "teruel") == 1, "re-transcription in the portal is indexed");
  CHECK(th_docs_with(index, "cuenca") == 0, "and replaces the old turns");
  CHECK(th_indexer(verify) == 0, "verify agrees at the end");
  PQfinish(c);
  return th_done();
}
