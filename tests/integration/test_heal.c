/*
 * A damaged index record never stops the stream (issue 14). Records the
 * indexer must update are damaged through the store API, as a bad disk or
 * a bug would leave them: a conversation's record, one turn of another,
 * a person's record, the statistics, a lexicon entry, a word entry and an
 * interaction. Then, while `run` follows, those conversations, the person
 * and the interaction change in PostgreSQL, one more damaged conversation
 * is deleted and a new one comes. The new one becomes searchable; the
 * damaged ones are rebuilt from their source rows (old words gone, new
 * ones found, the damage named once in the log); the statistics, the
 * lexicon entry and the interaction are counted again; verify finds the
 * index equal to the stores. Then an owner's statistics record and the
 * first block of their lexicon and word table are damaged: their data
 * changes, a person with a conversation moves to them and a new
 * conversation comes; it is indexed, the counts are rebuilt, verify
 * passes. Then a postings chunk is damaged: it stays,
 * named by verify, and a new document of its word is indexed and found.
 * Last, the checkpoint is damaged: the stores are loaded again (what was
 * deleted meanwhile leaves) and tailing goes on.
 */
#include "harness.h"
#include "records.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

/* Events counted in the interaction of employee `actor` with `patient`
 * (-1 when it is missing or does not decode). */
static int64_t interaction_events(const char *index, uint64_t patient, uint64_t actor) {
  cs_store *s;
  cs_txn *txn;
  REQUIRE(cs_store_open(index, CS_STORE_RDONLY, &s, NULL, 0) == 0 && cs_txn_begin(s, 0, &txn) == 0,
          "open the index");
  uint8_t key[16];
  cs_key_u64u64(key, patient, actor);
  cs_slice v;
  cs_inter x;
  int64_t n = -1;
  if (cs_get(txn, CS_T_INTER, (cs_slice){key, 16}, &v) == 0 &&
      cs_inter_decode(v.data, v.len, &x) == 0)
    n = (int64_t)x.events;
  cs_txn_abort(txn);
  cs_store_close(s);
  return n;
}

/* The first key of `owner` in table t (be64 owner first); its length. */
static size_t owner_key(const char *index, cs_table t, uint64_t owner, uint8_t out[64]) {
  cs_store *s;
  cs_txn *txn;
  cs_cursor *cur;
  REQUIRE(cs_store_open(index, CS_STORE_RDONLY, &s, NULL, 0) == 0 &&
              cs_txn_begin(s, 0, &txn) == 0 && cs_cursor_open(txn, t, &cur) == 0,
          "open the index");
  uint8_t key[8];
  cs_key_u64(key, owner);
  cs_slice k, v;
  size_t n = 0;
  if (cs_cursor_seek(cur, (cs_slice){key, 8}, &k, &v) == 0 && k.len >= 8 && k.len <= 64 &&
      memcmp(k.data, key, 8) == 0) {
    memcpy(out, k.data, k.len);
    n = k.len;
  }
  cs_cursor_close(cur);
  cs_txn_abort(txn);
  cs_store_close(s);
  REQUIRE(n, "no key of owner %llu in table %d", (unsigned long long)owner, (int)t);
  return n;
}

int main(void) {
  th_init("heal");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_heal", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL), (2, 'Bruno', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Uno'), "
            "(2, 2, 'Carmen Ruiz');"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(1, 1, 1, 'Visita'), (3, 1, 1, 'Almuerzo'), (4, 2, 2, 'Abrigo'), "
            "(5, 1, 1, 'Papeles');"
            "INSERT INTO segments VALUES "
            "(1, 0, 'a', 'other', 0, 1, 'vivienda de alquiler'),"
            "(1, 1, 'b', 'other', 1, 2, 'pago mensual'),"
            "(3, 0, 'a', 'other', 0, 1, 'comida caliente'),"
            "(3, 1, 'a', 'other', 1, 2, 'gracias'),"
            "(4, 0, 'a', 'other', 0, 1, 'ropa de abrigo'),"
            "(5, 0, 'a', 'other', 0, 1, 'pasaporte caducado');"
            "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('e', 1, 'conversation.played', '{\"patient_id\": 1, \"conversation_id\": 1}', 1)");
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  REQUIRE(th_indexer(once) == 0, "run failed");
  REQUIRE(th_indexer(verify) == 0, "verify passes before the damage");

  uint8_t key[16];
  static const uint8_t bad_record[] = {CS_RECORD_V1, 0xff, 0xff, 0xff}; /* a cut varint */
  cs_key_u64(key, 1);
  th_index_damage(index, CS_T_CONV, key, 8, bad_record, sizeof bad_record);
  cs_key_turn(key, 3, 0);
  th_index_damage(index, CS_T_TURN, key, 12, bad_record, sizeof bad_record);
  cs_key_u64(key, 5);
  th_index_damage(index, CS_T_CONV, key, 8, NULL, 0);
  cs_key_u64(key, 2);
  th_index_damage(index, CS_T_PATIENT, key, 8, bad_record, sizeof bad_record);
  /* Records every batch or every change of a word updates: the statistics,
   * the lexicon entry and the word-table entry of a word being removed. */
  th_index_damage(index, CS_T_META, "stats", 5, bad_record, sizeof bad_record);
  uint8_t lex[64];
  size_t llen = th_index_key(index, CS_T_LEX, "graci", lex, sizeof lex);
  th_index_damage(index, CS_T_LEX, lex, llen, bad_record, sizeof bad_record);
  llen = th_index_key(index, CS_T_WORDS, "gracias", lex, sizeof lex);
  th_index_damage(index, CS_T_WORDS, lex, llen, bad_record, sizeof bad_record);
  cs_key_u64u64(key, 1, 1); /* the interaction of employee 1 with person 1 */
  th_index_damage(index, CS_T_INTER, key, 16, bad_record, sizeof bad_record);

  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "200", NULL};
  pid_t indexer = th_indexer_spawn(run);
  th_sql(c, "UPDATE segments SET text = 'girasol amarillo' WHERE conversation_id = 1 AND seq = 0;"
            "UPDATE conversations SET title = 'Cena' WHERE id = 3;"
            "UPDATE patients SET name = 'Carmen Soto' WHERE id = 2;"
            "DELETE FROM conversations WHERE id = 5;"
            "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('e', 2, 'conversation.played', '{\"patient_id\": 1, \"conversation_id\": 1}', 1);"
            "INSERT INTO conversations (id, patient_id, owner_id) VALUES (2, 1, 1);"
            "INSERT INTO segments VALUES (2, 0, 'a', 'other', 0, 1, 'mandarina madura')");
  CHECK(th_wait_docs(index, "mandarina", 1, 20000) >= 0,
        "a conversation inserted after the damaged ones changed is indexed");
  CHECK(th_wait_docs(index, "girasol", 1, 5000) >= 0 && th_docs_with(index, "vivienda") == 0 &&
            th_docs_with(index, "alquiler") == 0 && th_docs_with(index, "mensual") == 1,
        "the conversation with a damaged record is rebuilt from its source row");
  CHECK(th_docs_with(index, "cena") == 1 && th_docs_with(index, "almuerzo") == 0 &&
            th_docs_with(index, "caliente") >= 1 && th_docs_with(index, "gracias") >= 1,
        "the conversation with a damaged turn is rebuilt from its source rows");
  CHECK(th_docs_with(index, "soto") == 1 && th_docs_with(index, "ruiz") == 0,
        "the person with a damaged record is rebuilt from their source row");
  CHECK(th_docs_with(index, "pasaporte") == 0 && th_docs_with(index, "papeles") == 0,
        "a deleted conversation with a damaged record leaves the index");
  CHECK(interaction_events(index, 1, 1) == 2,
        "the damaged interaction is counted again from the events (%lld)",
        (long long)interaction_events(index, 1, 1));
  th_stop(indexer);
  CHECK(th_log_count("damaged index record: conversation 1 ") == 1,
        "the indexer's log names the damaged conversation once");
  CHECK(th_log_count("damaged index record: person 2 ") == 1,
        "the indexer's log names the damaged person once");
  CHECK(th_log_count("index statistics: damaged; counted again from the documents") == 1,
        "the log says the statistics were counted again");
  CHECK(th_log_count("conversation 1: damaged in the index; rebuilt from the store") == 1 &&
            th_log_count("conversation 3: damaged in the index; rebuilt from the store") == 1 &&
            th_log_count("person 2: damaged in the index; rebuilt from the store") == 1,
        "the log says what was rebuilt");
  int rc = th_indexer(verify);
  CHECK(rc == 0, "verify finds the rebuilt index equal to the stores (exit %d)", rc);

  int port, st;
  pid_t srv = th_server_start(index, &port);
  char *b = th_http_get_status(port, "/v1/conversations/1", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, "girasol amarillo") && strstr(b, "Visita"),
        "the rebuilt conversation reads whole (%d): %s", st, b);
  free(b);
  b = th_http_get_status(port, "/v1/search?q=mandarina", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, "\"conversation_id\":2,"), "the new one is found (%d): %s", st,
        b);
  free(b);
  th_stop(srv);

  /* Employee 1's per-owner statistics damaged: the record of their counts
   * and the first block of their lexicon and of their word table. Their
   * data changes and a new conversation of theirs comes: it is indexed,
   * the counts and the lexicon counted again, verify passes. */
  size_t olen = owner_key(index, CS_T_OSTATS, 1, lex);
  th_index_damage(index, CS_T_OSTATS, lex, olen, bad_record, sizeof bad_record);
  olen = owner_key(index, CS_T_OLEX, 1, lex);
  th_index_damage(index, CS_T_OLEX, lex, olen, bad_record, sizeof bad_record);
  olen = owner_key(index, CS_T_OWORDS, 1, lex);
  th_index_damage(index, CS_T_OWORDS, lex, olen, bad_record, sizeof bad_record);
  indexer = th_indexer_spawn(run);
  th_sql(c, "UPDATE segments SET text = 'sopa de cebolla' WHERE conversation_id = 3 AND seq = 0;"
            "UPDATE patients SET owner_id = 1 WHERE id = 2;"
            "INSERT INTO conversations (id, patient_id, owner_id) VALUES (9, 1, 1);"
            "INSERT INTO segments VALUES (9, 0, 'a', 'other', 0, 1, 'melocoton dulce')");
  CHECK(th_wait_docs(index, "melocoton", 1, 20000) >= 0,
        "a conversation of an owner whose statistics are damaged is indexed");
  CHECK(th_wait_docs(index, "cebolla", 1, 5000) >= 0 && th_docs_with(index, "caliente") == 0,
        "and a change of that owner's data too");
  th_stop(indexer);
  CHECK(th_log_count("statistics of owner 1: damaged in the index; counted again from the "
                     "documents") == 1 &&
            th_log_count("lexicon of owner 1: damaged block in the index; counted again from "
                         "the postings") == 1 &&
            th_log_count("word table of owner 1: damaged block in the index; dropped") == 1,
        "the log says what was counted again, once each");
  rc = th_indexer(verify);
  CHECK(rc == 0, "verify finds the per-owner statistics equal to the documents (exit %d)", rc);
  srv = th_server_start(index, &port);
  b = th_http_get_status(port, "/v1/search?q=melocoton", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, "\"conversation_id\":9,"), "the new one is found (%d): %s", st,
        b);
  free(b);
  th_stop(srv);

  /* A damaged postings chunk stays (unreadable, named by verify until a
   * reindex); new documents of its term go to a chunk after it. */
  llen = th_index_key(index, CS_T_POST, "abrig", lex, sizeof lex);
  th_index_damage(index, CS_T_POST, lex, llen, NULL, 0);
  indexer = th_indexer_spawn(run);
  th_sql(c, "INSERT INTO conversations (id, patient_id, owner_id) VALUES (6, 1, 1);"
            "INSERT INTO segments VALUES (6, 0, 'a', 'other', 0, 1, 'abrigo nuevo')");
  CHECK(th_wait_docs(index, "nuevo", 1, 20000) >= 0,
        "a conversation with a word whose postings are damaged is indexed");
  th_stop(indexer);
  srv = th_server_start(index, &port);
  b = th_http_get_status(port, "/v1/search?q=abrigo", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, "\"conversation_id\":6,"), "it is found by that word (%d): %s",
        st, b);
  free(b);
  th_stop(srv);
  rc = th_indexer(verify);
  CHECK(rc == 1 && th_log_count("damaged record: postings of 'abrig") == 1,
        "verify names the damaged chunk (exit %d)", rc);

  /* A damaged checkpoint: the stores are loaded again, and what they no
   * longer have leaves the index. */
  th_index_damage(index, CS_T_META, "checkpoint", 10, bad_record, sizeof bad_record);
  th_sql(c, "DELETE FROM conversations WHERE id = 4;"
            "INSERT INTO conversations (id, patient_id, owner_id) VALUES (7, 1, 1);"
            "INSERT INTO segments VALUES (7, 0, 'a', 'other', 0, 1, 'limonada fresca')");
  CHECK(th_indexer(once) == 0, "run --once goes on past a damaged checkpoint");
  CHECK(th_log_count("the checkpoint is damaged: loading the stores again") == 1,
        "the log says so");
  CHECK(th_docs_with(index, "limonada") == 1 && th_docs_with(index, "ropa") == 0,
        "what changed meanwhile is indexed, what was deleted is gone");
  CHECK(th_log_count("conversation 4: damaged in the index") == 0,
        "a conversation with a posting in the damaged chunk leaves without a rebuild");
  indexer = th_indexer_spawn(run);
  th_sql(c, "INSERT INTO conversations (id, patient_id, owner_id) VALUES (8, 1, 1);"
            "INSERT INTO segments VALUES (8, 0, 'a', 'other', 0, 1, 'naranjada dulce')");
  CHECK(th_wait_docs(index, "naranjada", 1, 20000) >= 0, "and tailing goes on after it");
  th_stop(indexer);
  PQfinish(c);
  return th_done();
}
