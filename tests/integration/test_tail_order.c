/*
 * Gap-free tailing: a transaction that takes a lower position but commits
 * after another one must not be skipped, for transcripts and for events.
 *
 *   A: BEGIN; INSERT ...            (lower xid, lower change id)
 *   B: BEGIN; INSERT ...; COMMIT    (higher xid)
 *   -- the indexer runs a round here and indexes B
 *   A: COMMIT
 *   -- A must still be indexed, exactly once
 */
#include "harness.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  th_init("tail-order");
  PGconn *setup;
  const char *pg = th_db_create("t_tail_order", NULL, &setup);
  char pgcopy[700];
  snprintf(pgcopy, sizeof pgcopy, "%s", pg);
  char index[600];
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pgcopy, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(setup, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
                "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Persona Uno');");

  const char *run[] = {"run", "--pg", pgcopy, "--index", index, "--poll-ms", "50", NULL};
  pid_t ix = th_indexer_spawn(run);
  REQUIRE(th_wait_docs(index, "persona", 1, 10000) >= 0, "indexer did not start indexing");

  /* Transcripts. */
  PGconn *a = th_connect(pgcopy), *b = th_connect(pgcopy);
  th_sql(a, "BEGIN");
  th_sql(a, "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES (10, 1, 1, 'A');"
            "INSERT INTO segments VALUES (10, 0, 'x', 'other', 0, 1, 'alfaunica llega tarde')");
  int64_t xa = th_sql_int(a, "SELECT pg_current_xact_id()::text::bigint");
  th_sql(b, "BEGIN");
  th_sql(b, "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES (11, 1, 1, 'B');"
            "INSERT INTO segments VALUES (11, 0, 'x', 'other', 0, 1, 'betaunica llega antes')");
  int64_t xb = th_sql_int(b, "SELECT pg_current_xact_id()::text::bigint");
  CHECK(xa < xb, "A must hold the lower transaction id (%lld vs %lld)", (long long)xa,
        (long long)xb);
  th_sql(b, "COMMIT");
  CHECK(th_wait_docs(index, "betaunica", 1, 5000) >= 0, "B indexed while A is still open");
  th_sleep_ms(300); /* several rounds run while A is open */
  CHECK(th_docs_with(index, "alfaunica") == 0, "A is not visible before its commit");
  th_sql(a, "COMMIT");
  CHECK(th_wait_docs(index, "alfaunica", 1, 5000) >= 0, "A indexed after its late commit");
  CHECK(th_docs_with(index, "alfaunica") == 1, "A indexed exactly once");
  CHECK(th_docs_with(index, "betaunica") == 1, "B indexed exactly once");

  /* Events: positions are assigned at insert, so A gets the lower one. */
  th_sql(a, "BEGIN");
  th_sql(a,
         "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
         "('p1', 1, 'conversation.recorded', '{\"patient_id\": 1, \"conversation_id\": 10}', 1)");
  int64_t pa = th_sql_int(a, "SELECT max(position) FROM events");
  th_sql(b, "BEGIN");
  th_sql(b, "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('p1', 2, 'conversation.played', '{\"patient_id\": 1, \"conversation_id\": 11}', 1)");
  int64_t pb = th_sql_int(b, "SELECT max(position) FROM events");
  CHECK(pa < pb, "A's event has the lower position (%lld vs %lld)", (long long)pa, (long long)pb);
  th_sql(b, "COMMIT");
  int64_t t0 = th_now_ms();
  while (th_index_count(index, CS_T_EVENT) < 1 && th_now_ms() - t0 < 5000)
    th_sleep_ms(10);
  CHECK(th_index_count(index, CS_T_EVENT) == 1, "B's event applied while A is open");
  th_sleep_ms(300);
  th_sql(a, "COMMIT");
  t0 = th_now_ms();
  while (th_index_count(index, CS_T_EVENT) < 2 && th_now_ms() - t0 < 5000)
    th_sleep_ms(10);
  CHECK(th_index_count(index, CS_T_EVENT) == 2, "A's event applied after its late commit");
  th_sleep_ms(300);
  CHECK(th_index_count(index, CS_T_EVENT) == 2, "each event applied exactly once");

  th_stop(ix);
  const char *verify[] = {"verify", "--pg", pgcopy, "--index", index, NULL};
  CHECK(th_indexer(verify) == 0, "verify agrees with the stores");
  PQfinish(a);
  PQfinish(b);
  PQfinish(setup);
  return th_done();
}
