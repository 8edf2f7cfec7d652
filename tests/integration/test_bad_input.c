/*
 * Bad input never crashes or stalls the stream. A SQL_ASCII database lets
 * the store hold bytes that are not UTF-8; the rest are shapes a real store
 * produces: a 1 MB turn, an empty transcript, empty turns, unknown event
 * types, events with missing or malformed payload fields. Each is indexed as
 * far as it can be, or skipped with one clear log line, and the indexer
 * goes on to index what comes after.
 */
#include "harness.h"
#include "store.h"

#include <stdio.h>

int main(void) {
  th_init("bad-input");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s",
           th_db_create("t_bad_input",
                        "ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0", &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, E'Jos\\xe9 Garc\\xeda'), (2, "
            "1, 'Dos');"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(1, 1, 1, E'T\\xedtulo latin1'), (2, 1, 1, 'Grande'), (3, 1, 1, 'Sin turnos'), (4, 2, "
            "1, 'Luego');"
            /* Latin-1 bytes, a truncated sequence, an overlong '/', a surrogate. */
            "INSERT INTO segments VALUES "
            "(1, 0, E'Jos\\xe9', 'beneficiary', 0, 1, E'caf\\xe9 con leche y cr\\xc3 y \\xc0\\xaf "
            "y \\xed\\xa0\\x80 fin'),"
            "(1, 1, 'x', 'other', NULL, NULL, ''),"
            "(1, 2, 'x', NULL, -5, -1, '   ...   ¿¡!?   ');"
            /* A 1 MB turn. */
            "INSERT INTO segments SELECT 2, 0, 'x', 'other', 0, 1, repeat('palabra muy repetida ', "
            "50000) || 'finaldelturno';"
            /* Events: unknown type, missing fields, wrong types, a non-object payload. */
            "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('e', 1, 'something.else', '{\"patient_id\": 1}', 1),"
            "('e', 2, 'conversation.played', '{}', 1),"
            "('e', 3, 'conversation.played', '{\"patient_id\": \"abc\"}', 1),"
            "('e', 4, 'conversation.played', '\"just a string\"', 1),"
            "('e', 5, 'conversation.played', NULL, NULL),"
            "('e', 6, 'conversation.played', '{\"patient_id\": 99999999999999999999999}', 1),"
            "('e', 7, 'conversation.played', '{\"patient_id\": 1, \"conversation_id\": 1}', 1);"
            "INSERT INTO segments VALUES (4, 0, 'x', 'other', 0, 1, 'despuesdetodo')");
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  int rc = th_indexer(once);
  CHECK(rc == 0, "the indexer gets through bad input (exit %d)", rc);
  CHECK(th_docs_with(index, "leche") == 1, "words around invalid bytes are indexed");
  CHECK(th_docs_with(index, "fin") == 1, "the text after invalid bytes is indexed");
  CHECK(th_docs_with(index, "palabra") == 1, "the 1 MB turn is indexed");
  CHECK(th_docs_with(index, "finaldelturno") == 1, "to its last word");
  CHECK(th_docs_with(index, "despuesdetodo") == 1, "what comes after bad input is indexed");
  CHECK(th_index_count(index, CS_T_CONV) == 4,
        "every conversation indexed, including one without turns");
  CHECK(th_index_count(index, CS_T_TURN) == 5, "every turn stored, including empty ones");
  CHECK(th_index_count(index, CS_T_EVENT) == 1, "only the well-formed event applied");
  CHECK(th_log_count("unknown event type") == 1, "one log line for the unknown event type");
  CHECK(th_log_count("no patient_id in payload") >= 3, "one log line per event without a patient");
  CHECK(th_log_count("malformed payload field") >= 1,
        "one log line for an id that is not a number");
  CHECK(th_log_count("invalid UTF-8") >= 1, "invalid UTF-8 is reported as repaired");
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  CHECK(th_indexer(verify) == 0, "verify agrees");
  /* A second pass changes nothing and logs nothing new about conversations. */
  int before = th_log_count("invalid UTF-8");
  REQUIRE(th_indexer(once) == 0, "second run failed");
  CHECK(th_log_count("invalid UTF-8") == before, "bad input is not re-reported when unchanged");
  PQfinish(c);
  return th_done();
}
