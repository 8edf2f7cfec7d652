/*
 * Corruption is never silent (issue 14). Three records of a real index are
 * damaged through the store API (a conversation record, one turn, one
 * postings chunk, one person), as a bad disk or a bug would leave them. Then the
 * server does not crash; a search still answers, skipping them; a request
 * for a damaged conversation gets 500 index_corrupt (not 404, not a
 * partial transcript); /v1/health says degraded and counts them;
 * /v1/metrics counts them; the server log names each once however often it
 * is met; an analyst still sees no name; and verify names each and exits
 * non-zero. A chunk rewritten with a conversation bound far too low (it
 * decodes: only verify can tell) is named by verify too, and so is one
 * bounding a conversation across two chunks by its own part of it (right
 * for the chunk alone, too low since format 12). So are a title
 * and a turn's text that are no longer UTF-8 (a flipped byte in records
 * that otherwise decode): damage like the rest, not an answer that cannot
 * be written. And a passage whose offsets cut a character of its turn in
 * two: Q&A leaves it out and names it, rather than failing the answer.
 */
#include "harness.h"
#include "passblock.h"
#include "postings.h"
#include "records.h"
#include "store.h"
#include "varint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *compact(char *s) { /* spaces out, whatever the server's JSON style */
  char *w = s;
  for (const char *r = s; r && *r; r++)
    if (*r != ' ' && *r != '\n') *w++ = *r;
  if (s) *w = 0;
  return s;
}

/* Opens a write transaction on the index and reads the value of table t
 * under key (REQUIREs it); the caller puts, commits and closes *s. */
static cs_txn *edit(const char *index, int t, const void *key, size_t klen, cs_store **s,
                    cs_slice *v) {
  cs_txn *txn;
  char err[512] = "";
  REQUIRE(cs_store_open(index, 0, s, err, sizeof err) == 0, "open the index: %s", err);
  REQUIRE(cs_txn_begin(*s, 1, &txn) == 0, "write transaction");
  REQUIRE(cs_get(txn, t, (cs_slice){key, klen}, v) == 0, "the record exists");
  return txn;
}

enum { FAR_TOO_LOW, OWN_PART, NO_TITLE_AVG };

/* Rewrites term's chunk number nth, which must carry a conversation bound
 * (index/cbound.h), with the same documents and another bound, one that
 * decodes, as a writer's bug would leave it, and with which a search could
 * pass conversations that belong on its page:
 * - FAR_TOO_LOW;
 * - OWN_PART: the bound of the chunk's documents alone (they must be the
 *   turns of one conversation): right for the chunk by itself, too low for
 *   a conversation whose documents of the term go on in the chunks after
 *   it (format 12: each chunk bounds its conversations whole);
 * - NO_TITLE_AVG: the titles' average left out, where the chunk holds
 *   none but its conversation's title (in a chunk before) says the term:
 *   a search would not scale the bound for the title. */
static void rebound(const char *index, const char *term, int nth, int how) {
  uint8_t key[64];
  char prefix[64];
  snprintf(prefix, sizeof prefix, "%s", term); /* its chunks: term \0 be32 */
  size_t klen = th_index_key_nth(index, CS_T_POST, prefix, nth, key, sizeof key);
  REQUIRE(klen == strlen(term) + 5 && key[strlen(term)] == 0, "%s has a chunk number %d", term,
          nth);
  cs_store *s;
  cs_slice v;
  cs_txn *txn = edit(index, CS_T_POST, key, klen, &s, &v);
  cs_chunk c;
  cs_plist l;
  cs_plist_init(&l);
  REQUIRE(cs_chunk_decode(v.data, v.len, cs_be32_get(key + klen - 4), &c) == 0 && c.has_cb &&
              cs_plist_add_chunk(&l, &c) == 0,
          "the indexer wrote %s's chunk with a conversation bound", term);
  cs_cbound b = c.cb;
  if (how == FAR_TOO_LOW) b.c = 1;
  if (how == NO_TITLE_AVG) {
    REQUIRE(b.avg[CS_DOC_TITLE] != 0, "%s's chunk %d records the titles' average", term, nth);
    b.avg[CS_DOC_TITLE] = 0;
  }
  if (how == OWN_PART) {
    uint8_t kind[CS_CHUNK_DOCS];
    uint32_t conv[CS_CHUNK_DOCS];
    for (uint32_t i = 0; i < c.n; i++) {
      kind[i] = CS_DOC_TURN;
      conv[i] = 1;
    }
    REQUIRE(cs_cbound_build(kind, conv, c.tf, c.len, c.n, c.cb.avg, &b) == 0 && b.c < c.cb.c,
            "%s's first chunk alone bounds its conversation lower than the whole", term);
  }
  uint8_t *buf;
  size_t blen;
  REQUIRE(cs_chunk_encode(&l, 0, l.n, &b, &buf, &blen) == 0 &&
              cs_put(txn, CS_T_POST, (cs_slice){key, klen}, (cs_slice){buf, blen}) == 0 &&
              cs_txn_commit(txn) == 0,
          "write the bound");
  free(buf);
  cs_plist_free(&l);
  cs_store_close(s);
}

/* Conversation id of person 1 (title or NULL) with n turns saying text,
 * from turn `from` on strong instead. */
static void insert_turns(PGconn *c, int id, const char *title, int n, const char *text, int from,
                         const char *strong) {
  char sql[32768];
  int m = snprintf(sql, sizeof sql,
                   "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
                   "(%d, 1, 1, %s%s%s);"
                   "INSERT INTO segments VALUES ",
                   id, title ? "'" : "", title ? title : "NULL", title ? "'" : "");
  for (int t = 0; t < n; t++)
    m += snprintf(sql + m, sizeof sql - (size_t)m, "%s(%d, %d, 'a', 'other', %d, %d, '%s')",
                  t ? "," : "", id, t, t, t + 1, t < from ? text : strong);
  th_sql(c, sql);
}

/* edit() of conversation conv's first passage block (key: its key). */
static cs_txn *edit_passages(const char *index, uint64_t conv, uint8_t key[12], cs_store **s,
                             cs_slice *v) {
  cs_pblock_key(key, conv, 0);
  return edit(index, CS_T_PASSAGE, key, 12, s, v);
}

/* Writes val under passage block key, commits, and closes the store
 * edit_passages opened. */
static void put_passages(cs_txn *txn, cs_store *s, const uint8_t key[12], cs_buf *val,
                         const char *what) {
  REQUIRE(!val->err &&
              cs_put(txn, CS_T_PASSAGE, (cs_slice){key, 12}, (cs_slice){val->p, val->len}) == 0 &&
              cs_txn_commit(txn) == 0,
          "write %s", what);
  cs_buf_free(val);
  cs_store_close(s);
}

/* Rewrites passage 0 of conversation conv (the first of its block) so
 * that it starts at byte `from` of its first turn, or ends at byte `end`
 * of its last (0: as it was): a block that decodes, with an offset only
 * the turn's text can show is wrong. */
static void cut_passage(const char *index, uint64_t conv, uint32_t from, uint32_t end) {
  uint8_t key[12];
  cs_store *s;
  cs_slice v;
  cs_txn *txn = edit_passages(index, conv, key, &s, &v);
  cs_pblock_it it;
  cs_passage p;
  cs_pblock_b b;
  cs_pblock_b_init(&b);
  REQUIRE(cs_pblock_begin(&it, v.data, v.len) == 0, "the block decodes");
  for (int i = 0; cs_pblock_next(&it, &p) == 0; i++) {
    if (i == 0 && from) p.first_off = from;
    if (i == 0 && end) {
      REQUIRE(p.last_end > end, "passage 0 ends after byte %u", end);
      p.last_end = end;
    }
    cs_pblock_b_add(&b, &p);
  }
  cs_buf out;
  cs_buf_init(&out);
  REQUIRE(cs_pblock_b_encode(&b, &out) == 0, "encode the passage");
  cs_pblock_b_free(&b);
  put_passages(txn, s, key, &out, "the passage");
}

/* Writes a copy of conversation from's first passage block under the key
 * of conversation to's passage n (not a block's first: never read; its
 * passages would be taken for to's, and numbered wrong). */
static void misplace_passages(const char *index, uint64_t from, uint64_t to, uint32_t n) {
  uint8_t key[12];
  cs_store *s;
  cs_slice v;
  cs_txn *txn = edit_passages(index, from, key, &s, &v);
  cs_buf copy;
  cs_buf_init(&copy);
  cs_buf_bytes(&copy, v.data, v.len);
  cs_key_u64(key, to);
  cs_be32_put(key + 8, n);
  put_passages(txn, s, key, &copy, "the misplaced block");
}

int main(void) {
  th_init("corrupt");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_corrupt", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Uno'), (2, 1, 'Bea Gómez');"
            "INSERT INTO conversations (id, patient_id, owner_id) VALUES (1, 1, 1), (2, 1, 1), "
            "(3, 1, 1), (4, 1, 1), (5, 2, 1), (7, 1, 1), (8, 1, 1), (9, 1, 1);"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(6, 1, 1, 'Huerto');"
            "INSERT INTO segments VALUES "
            "(1, 0, 'a', 'other', 0, 1, 'vivienda de alquiler'),"
            "(2, 0, 'a', 'other', 0, 1, 'vivienda sin luz'),"
            "(3, 0, 'a', 'other', 0, 1, 'vivienda y comida'),"
            "(3, 1, 'a', 'other', 1, 2, 'gracias'),"
            "(4, 0, 'a', 'other', 0, 1, 'zanahorias del huerto'),"
            "(5, 0, 'a', 'other', 0, 1, 'soy Bea Gómez y pido una vivienda'),"
            "(6, 0, 'a', 'other', 0, 1, 'peras del huerto'),"
            "(7, 0, 'a', 'other', 0, 1, 'buenos días'),"
            "(7, 1, 'a', 'other', 1, 2, 'ciruelas maduras'),"
            "(8, 0, 'a', 'other', 0, 1, 'el niño come pan'),"
            "(9, 0, 'a', 'other', 0, 1, 'año de cosecha')");
  /* A conversation saying "mandarina" in 200 turns, three times in each
   * of its last ten: its documents of the term span two chunks. And one
   * whose title says "naranja" too, in 200 turns after it. */
  insert_turns(c, 10, NULL, 200, "mandarina pelada hoy", 190, "mandarina mandarina mandarina");
  insert_turns(c, 12, "Naranjas", 200, "naranja pelada hoy", 200, NULL);
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  REQUIRE(th_indexer(once) == 0, "run failed");
  /* A second commit: another conversation saying it, whose documents
   * join the word's last chunk (the first one's last 72): that chunk's
   * bound must still hold the first conversation whole. */
  insert_turns(c, 11, NULL, 20, "mandarina pelada hoy", 20, NULL);
  REQUIRE(th_indexer(once) == 0, "the second run failed");
  REQUIRE(th_indexer(verify) == 0, "verify passes before the damage");

  uint8_t key[64];
  static const uint8_t bad_record[] = {CS_RECORD_V1, 0xff, 0xff, 0xff}; /* a cut varint */
  cs_key_u64(key, 2);
  th_index_damage(index, CS_T_CONV, key, 8, bad_record, sizeof bad_record);
  cs_key_turn(key, 3, 0);
  th_index_damage(index, CS_T_TURN, key, 12, bad_record, sizeof bad_record);
  size_t klen = th_index_key(index, CS_T_POST, "zanahori", key, sizeof key);
  th_index_damage(index, CS_T_POST, key, klen, NULL, 0);
  cs_key_u64(key, 2); /* the person whose name analysts must not see */
  th_index_damage(index, CS_T_PATIENT, key, 8, bad_record, sizeof bad_record);
  rebound(index, "alquil", 0, FAR_TOO_LOW);
  rebound(index, "mandarin", 0, OWN_PART);
  rebound(index, "naranj", 1, NO_TITLE_AVG);
  cs_key_u64(key, 6);
  th_index_not_utf8(index, CS_T_CONV, key, 8, "Huerto");
  cs_key_turn(key, 7, 0); /* the block of both turns: the second one's text */
  th_index_not_utf8(index, CS_T_TURN, key, 12, "ciruelas");
  cut_passage(index, 8, 0, 6);       /* "el ni" is 5 bytes, 'ñ' the next two */
  cut_passage(index, 9, 2, 0);       /* 'ñ' of "año" */
  misplace_passages(index, 1, 2, 5); /* 1's 20 bytes do not fit 2's 16 */

  int port, st;
  pid_t srv = th_server_start(index, &port);
  /* Each asked twice: met twice, named once. */
  static const struct {
    const char *path;
    int status;
    const char *has, *lacks, *what;
  } asks[] = {
      {"/v1/search?q=vivienda", 200, "\"conversation_id\":1,", "\"conversation_id\":2,",
       "a search meeting damaged records answers, skipping them"},
      {"/v1/search?q=zanahoria", 200, NULL, NULL, "a search over a damaged postings chunk answers"},
      {"/v1/conversations/2", 500, "index_corrupt", NULL,
       "a damaged conversation is 500 index_corrupt"},
      {"/v1/conversations/3", 500, "index_corrupt", NULL,
       "a conversation with a damaged turn is 500 index_corrupt, not partial"},
      {"/v1/conversations/1", 200, NULL, NULL, "an intact conversation still reads"},
      {"/v1/search?q=ciruelas", 200, "\"conversation_id\":7,", "maduras",
       "a search answers, leaving out the snippet whose text is not UTF-8"},
      {"/v1/search?q=peras", 200, NULL, "\"conversation_id\":6,",
       "and skips the conversation whose title is not UTF-8"},
      {"/v1/conversations/6", 500, "index_corrupt", NULL,
       "a title that is not UTF-8 is 500 index_corrupt"},
      {"/v1/conversations/7", 500, "index_corrupt", NULL,
       "a turn whose text is not UTF-8 is 500 index_corrupt"},
  };
  for (int round = 0; round < 2; round++) {
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
      char *b = th_http_get_status(port, asks[i].path, TH_ADMIN_TOKEN, &st);
      CHECK(st == asks[i].status && b && (!asks[i].has || strstr(b, asks[i].has)) &&
                (!asks[i].lacks || !strstr(b, asks[i].lacks)),
            "%s (%d): %s", asks[i].what, st, b ? b : "(none)");
      free(b);
    }
  }
  /* Q&A over the conversations whose only passage cuts 'ñ' in two, at its
   * end or at its start: an answer without it (asked twice, named once),
   * not a failed one. */
  static const char *const cut_asks[] = {
      "{\"question\": \"¿qué come el niño?\", \"conversation_id\": 8}",
      "{\"question\": \"¿qué año de cosecha?\", \"conversation_id\": 9}"};
  for (int round = 0; round < 4; round++) {
    char *q = compact(th_http_post(port, "/v1/qa/retrieve", TH_ADMIN_TOKEN, cut_asks[round % 2]));
    CHECK(q && strstr(q, "\"passages\":[]") && !strstr(q, "\"error\""),
          "Q&A answers, leaving out the passage whose offsets cut a character (%s): %s",
          cut_asks[round % 2], q ? q : "(none)");
    free(q);
  }
  char *qa = th_http_post(port, "/v1/qa/retrieve", TH_ADMIN_TOKEN,
                          "{\"question\": \"¿busca vivienda?\", \"conversation_id\": 1}");
  CHECK(qa && strstr(qa, "vivienda de alquiler"), "an intact passage is still retrieved: %s",
        qa ? qa : "(none)");
  free(qa);
  /* An analyst never sees a name, even one the index can no longer read:
   * the texts of that person's conversations are withheld, and no word
   * matches in them. */
  char *b = th_http_get_status(port, "/v1/conversations/5", TH_ANALYST_TOKEN, &st);
  CHECK(st == 200 && b && !strstr(b, "Bea") && !strstr(b, "vivienda") && strstr(b, "Persona "),
        "an analyst gets the conversation of a damaged person withheld (%d): %s", st, b);
  free(b);
  b = th_http_get_status(port, "/v1/search?q=vivienda", TH_ANALYST_TOKEN, &st);
  CHECK(st == 200 && b && !strstr(b, "\"conversation_id\":5,") && !strstr(b, "Bea"),
        "nor does a search of an analyst match in it (%d): %s", st, b);
  free(b);
  b = th_http_get_status(port, "/v1/conversations/5", TH_ADMIN_TOKEN, &st);
  CHECK(st == 200 && b && strstr(b, "Bea"), "an admin reads it (%d)", st);
  free(b);
  CHECK(kill(srv, 0) == 0, "the server is still running");
  char *h = compact(th_http_get_status(port, "/v1/health", NULL, &st));
  CHECK(st == 200 && h && strstr(h, "\"status\":\"degraded\""), "/v1/health is degraded: %s",
        h ? h : "(none)");
  CHECK(h && strstr(h, "\"corrupt_records\":8"), "/v1/health counts 8 damaged records: %s",
        h ? h : "(none)");
  CHECK(h && strstr(h, "\"conversation\":2") && strstr(h, "\"turn\":2") &&
            strstr(h, "\"postings\":1") && strstr(h, "\"person\":1") && strstr(h, "\"passage\":2"),
        "/v1/health counts them by kind: %s", h ? h : "(none)");
  free(h);
  char *m = th_http_get(port, "/v1/metrics", TH_ADMIN_TOKEN);
  CHECK(m && strstr(m, "\nconvsearch_index_corrupt_records 8\n"),
        "/v1/metrics has convsearch_index_corrupt_records 8");
  CHECK(m && strstr(m, "\nconvsearch_index_corrupt_records_by_kind{kind=\"turn\"} 2\n"),
        "/v1/metrics counts them by kind");
  free(m);
  CHECK(th_server_log_count("damaged index record: conversation 2 ") == 1,
        "the log names the damaged conversation once");
  CHECK(th_server_log_count("damaged index record: turn 3/0 ") == 1,
        "the log names the damaged turn once");
  CHECK(th_server_log_count("damaged index record: postings of 'zanahori") == 1,
        "the log names the damaged postings chunk once");
  CHECK(th_server_log_count("damaged index record: conversation 6 ") == 1 &&
            th_server_log_count("damaged index record: turn 7/0 ") == 1 &&
            th_server_log_count("damaged index record: turn 7/1 ") == 0,
        "and the records whose text is not UTF-8, once each, the turn by its block");
  CHECK(th_server_log_count("damaged index record: passage 8/0 ") == 1 &&
            th_server_log_count("damaged index record: passage 9/0 ") == 1,
        "and the passages whose offsets cut a character, once each");
  th_stop(srv);

  int rc = th_indexer(verify);
  CHECK(rc == 1, "verify fails on a damaged index (exit %d)", rc);
  CHECK(th_log_count("damaged record: conversation 2 cannot be decoded") == 1,
        "verify names the damaged conversation");
  CHECK(th_log_count("damaged record: turn 3/0 cannot be decoded") == 1,
        "verify names the damaged turn");
  CHECK(th_log_count("damaged record: postings of 'zanahori") == 1,
        "verify names the damaged postings chunk");
  CHECK(th_log_count("damaged record: person 2 cannot be decoded") == 1,
        "verify names the damaged person");
  CHECK(th_log_count("damaged record: conversation 6 cannot be decoded") == 1 &&
            th_log_count("damaged record: turn 7/0 cannot be decoded") == 1,
        "verify names the records whose text is not UTF-8");
  CHECK(th_log_count("damaged record: passage 8/0: a passage's offsets do not fit") == 1 &&
            th_log_count("damaged record: passage 9/0: a passage's offsets do not fit") == 1,
        "verify names the passage blocks whose offsets cut a character");
  CHECK(th_log_count("damaged record: passage 2/5 cannot be decoded") == 1 &&
            th_log_count("damaged record: passage 2/5:") == 0,
        "and, once, a passage block under a key that is not a block's");
  CHECK(th_log_count("term 'alquil': the chunk from docid") == 1 &&
            th_log_count("bounds its conversations' scores by 0.0039, one reaches") == 1,
        "verify names the chunk whose conversation bound is too low");
  CHECK(th_log_count("term 'mandarin': the conversation from docid") == 1 &&
            th_log_count("over its 2 chunks, one of them bounds it by") == 1 &&
            th_log_count("term 'mandarin': the chunk from docid") == 0,
        "verify names the chunk that bounds a conversation across chunks by its own part only");
  CHECK(th_log_count("term 'naranj': the conversation from docid") == 1 &&
            th_log_count("has documents of a kind one of its 2 chunks' bounds omits") == 1,
        "verify names the chunk whose bound leaves out the average of its conversation's title");
  PQfinish(c);
  return th_done();
}
