/*
 * One bad row never stops the stream (issue 14). While `run` follows, a
 * poison row of each kind goes in among good rows, in a portal database and
 * in a canonical one (both SQL_ASCII, so that invalid UTF-8 can be stored):
 * durations that overflow duration_ms (2,147,484 s, NaN, 1e308), infinite
 * timestamps, invalid JSON, invalid UTF-8, a dangling reference, a number
 * too large for an id. The good rows, and a row written after all of them,
 * are indexed; the bad ones are clamped (duration: unknown) or skipped,
 * logged once, counted in /v1/health and /v1/metrics and named by verify.
 */
#include "harness.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

static const char *const sql_ascii =
    "ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0";

/* The verify run's output (appended to the log) names bad rows. */
static void check_verify(const char *pg, const char *index, const char *const *named, int n) {
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  int before[8];
  for (int i = 0; i < n; i++)
    before[i] = th_log_count(named[i]);
  int rc = th_indexer(verify);
  CHECK(rc == 0, "verify agrees on everything but the bad rows it names (exit %d)", rc);
  for (int i = 0; i < n; i++)
    CHECK(th_log_count(named[i]) == before[i] + 1, "verify names \"%s\"", named[i]);
}

static void check_counted(const char *index, int want) {
  int port;
  pid_t srv = th_server_start(index, &port);
  char *health = th_http_get(port, "/v1/health", NULL);
  char want_h[64], want_m[64];
  snprintf(want_h, sizeof want_h, "\"bad_rows\":%d", want);
  char *compact = NULL;
  if (health) { /* spaces out, whatever the server's JSON style */
    compact = strdup(health);
    char *w = compact;
    for (const char *r = health; *r; r++)
      if (*r != ' ' && *r != '\n') *w++ = *r;
    *w = 0;
  }
  CHECK(compact && strstr(compact, want_h), "/v1/health says %s: %s", want_h,
        health ? health : "(no answer)");
  char *metrics = th_http_get(port, "/v1/metrics", TH_ADMIN_TOKEN);
  snprintf(want_m, sizeof want_m, "\nconvsearch_bad_rows_total %d\n", want);
  CHECK(metrics && strstr(metrics, want_m), "/v1/metrics has convsearch_bad_rows_total %d", want);
  free(health);
  free(compact);
  free(metrics);
  th_stop(srv);
}

/* Each of the n lines is logged once: waits (up to 20 s: a loaded machine
 * may be slow to reach a row, the event stream is tailed on its own) until
 * all are there, then lets more rounds pass and checks none came twice. */
static void check_logged_once(const char *const *lines, size_t n) {
  for (int waited = 0; waited < 20000; waited += 50) {
    size_t there = 0;
    for (size_t i = 0; i < n; i++)
      there += th_log_count(lines[i]) >= 1;
    if (there == n) break;
    th_sleep_ms(50);
  }
  th_sleep_ms(1000); /* more rounds: nothing is logged twice */
  for (size_t i = 0; i < n; i++)
    CHECK(th_log_count(lines[i]) == 1, "logged once: %s (%d)", lines[i], th_log_count(lines[i]));
}

static void portal(void) {
  PGconn *c;
  char pg[700], index[600], fixture[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_poison_portal", sql_ascii, &c));
  snprintf(index, sizeof index, "%s/portal-index", th_dir());
  snprintf(fixture, sizeof fixture, "%s/schemas/portal_fixture.sql", getenv("CS_SOURCE_DIR"));
  th_sql_file(c, fixture);
  const char *install[] = {"install", "--pg", pg, "--portal", NULL};
  REQUIRE(th_indexer(install) == 0, "install --portal failed");
  /* Django can be told not to enforce a foreign key (db_constraint=False). */
  th_sql(c, "ALTER TABLE conversation_conversationmodel "
            "DROP CONSTRAINT conversation_conversationmodel_patient_id_fkey;"
            "INSERT INTO core_user (id, email, name) VALUES (1, 'ana@x', 'Ana');"
            "INSERT INTO conversation_patientmodel (id, user_id, name) VALUES (1, 1, 'Uno');"
            "INSERT INTO conversation_conversationmodel (id, patient_id, title, conversation, "
            "duration) VALUES (1, 1, 'Bueno', '{\"conversation\": [{\"speaker\": \"a\", \"text\": "
            "\"primerapalabra\"}]}', 10)");
  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "200", NULL};
  pid_t indexer = th_indexer_spawn(run);
  REQUIRE(th_wait_docs(index, "primerapalabra", 1, 20000) >= 0, "the good row is not indexed");

  th_sql(c,
         "INSERT INTO conversation_conversationmodel (id, patient_id, title, conversation, "
         "duration) VALUES "
         "(2, 1, 'a', '{\"conversation\": [{\"text\": \"desbordado\"}, {\"text\": \"x\"}]}', "
         "2147484),"
         "(3, 1, 'b', '{\"conversation\": [{\"text\": \"noesnumero\"}]}', 'NaN'),"
         "(4, 1, 'c', '{\"conversation\": [{\"text\": \"enorme\"}]}', 1e308),"
         "(5, 1, 'rotojson', to_jsonb('{\"conversation\": [{\"text\": '::text), 5),"
         "(6, 1, 'd', E'{\"conversation\": [{\"text\": \"caf\\xe9 invalido \\xff\"}]}', 5),"
         "(8, 999, 'e', '{\"conversation\": [{\"text\": \"huerfano\"}]}', 5);"
         "INSERT INTO conversation_conversationmodel (id, patient_id, title, conversation, "
         "duration, created_at) VALUES (7, 1, 'f', '{\"conversation\": [{\"text\": "
         "\"infinito\"}]}', 5, 'infinity');"
         "INSERT INTO conversation_conversationmodel (id, patient_id, title, conversation, "
         "duration) VALUES (9, 1, 'g', '{\"conversation\": [{\"text\": \"despuesdetodo\"}]}', 3)");
  int ms = th_wait_docs(index, "despuesdetodo", 1, 20000);
  CHECK(ms >= 0, "run keeps following: the row after the poison is indexed (%d ms)", ms);
  CHECK(th_docs_with(index, "desbordado") == 1, "duration 2147484 s: indexed, duration unknown");
  CHECK(th_docs_with(index, "noesnumero") == 1, "duration NaN: indexed, duration unknown");
  CHECK(th_docs_with(index, "enorme") == 1, "duration 1e308: indexed, duration unknown");
  CHECK(th_docs_with(index, "rotojson") == 1, "invalid JSON: indexed without turns");
  CHECK(th_docs_with(index, "invalido") == 1, "invalid UTF-8: indexed, repaired");
  CHECK(th_docs_with(index, "infinito") == 0, "an infinite timestamp: skipped");
  CHECK(th_docs_with(index, "huerfano") == 0, "a dangling patient_id: skipped");
  static const char *const logged[] = {
      "conversation 2: bad value in the store (duration 2147484 s out of range)",
      "conversation 3: bad value in the store (duration NaN s out of range)",
      "conversation 4: bad value in the store (duration 1e+308 s out of range)",
      "conversation 7: bad value in the store (",
      "conversation 8: bad value in the store (its person 999 is not in the store)",
      "conversation 5: transcript not readable",
      "conversation 6: text had invalid UTF-8"};
  check_logged_once(logged, sizeof logged / sizeof *logged);
  /* The person of an indexed conversation deleted without the cascade: the
   * conversation leaves the index with them, and is named. */
  th_sql(c, "INSERT INTO conversation_patientmodel (id, user_id, name) VALUES (3, 1, 'Tres');"
            "INSERT INTO conversation_conversationmodel (id, patient_id, title, conversation) "
            "VALUES (10, 3, 'h', '{\"conversation\": [{\"text\": \"borrada\"}]}')");
  CHECK(th_wait_docs(index, "borrada", 1, 20000) >= 0, "conversation 10 is indexed");
  th_sql(c, "DELETE FROM conversation_patientmodel WHERE id = 3");
  CHECK(th_wait_docs(index, "borrada", 0, 20000) >= 0,
        "its person deleted without the cascade: out of the index");
  th_stop(indexer);
  static const char *const named[] = {
      "bad input: conversation 2: duration 2147484 s",
      "bad input: conversation 7: ", "bad input: conversation 8: its person 999",
      "bad input: conversation 10: its person 3"};
  check_verify(pg, index, named, 4);
  check_counted(index, 6);
  PQfinish(c);
}

static void canonical(void) {
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_poison_canonical", sql_ascii, &c));
  snprintf(index, sizeof index, "%s/canonical-index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Uno');"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES (1, 1, 1, "
            "'primerapalabra')");
  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "200", NULL};
  pid_t indexer = th_indexer_spawn(run);
  REQUIRE(th_wait_docs(index, "primerapalabra", 1, 20000) >= 0, "the good row is not indexed");
  th_sql(c, "INSERT INTO patients (id, owner_id, name, created_at) VALUES "
            "(12, 1, 'Infinita', 'infinity');"
            "INSERT INTO conversations (id, patient_id, owner_id, title, updated_at) VALUES "
            "(12, 1, 1, 'menosinfinito', '-infinity');"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(13, 1, 1, E'mal \\xff codificado');"
            "INSERT INTO events (stream, version, type, payload, actor_id, recorded_at) VALUES "
            "('s', 1, 'conversation.played', '{\"patient_id\": 1, \"conversation_id\": 1}', 1, "
            "'infinity'),"
            "('s', 2, 'conversation.played', '{\"patient_id\": 1e400}', 1, now()),"
            "('s', 3, 'conversation.played', '{\"patient_id\": 999}', 1, now()),"
            "('s', 4, 'conversation.played', '{\"patient_id\": 1, \"conversation_id\": 1}', 1, "
            "now());"
            /* A source that does not keep seqs unique (its key dropped): a
             * turn repeating a seq cannot be stored in order. */
            "ALTER TABLE segments DROP CONSTRAINT segments_pkey;"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(15, 1, 1, 'segs');"
            "INSERT INTO segments (conversation_id, seq, text) VALUES "
            "(15, 0, 'gatoprimero'), (15, 1, 'perrorepetido'), (15, 1, 'perrorepetido murcielago');"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(14, 1, 1, 'despuesdetodo')");
  int ms = th_wait_docs(index, "despuesdetodo", 1, 20000);
  CHECK(ms >= 0, "run keeps following: the row after the poison is indexed (%d ms)", ms);
  CHECK(th_docs_with(index, "menosinfinito") == 0, "an infinite timestamp: skipped");
  CHECK(th_docs_with(index, "codificado") == 1, "invalid UTF-8: indexed, repaired");
  CHECK(th_index_count(index, CS_T_PATIENT) == 1, "the person with an infinite time: skipped");
  CHECK(th_docs_with(index, "gatoprimero") == 1 && th_docs_with(index, "perrorepetido") == 1 &&
            th_docs_with(index, "segs") == 1,
        "a repeated seq: the conversation is indexed with one turn of that seq (%d %d)",
        th_docs_with(index, "gatoprimero"), th_docs_with(index, "perrorepetido"));
  /* Conversation 15 read again (its title changed, its seqs still
   * repeating): the same bad row, not logged nor counted again. */
  th_sql(c, "UPDATE conversations SET title = 'segsotravez' WHERE id = 15");
  CHECK(th_wait_docs(index, "segsotravez", 1, 20000) >= 0, "conversation 15 is read again");
  static const char *const logged[] = {"person 12: bad value in the store (",
                                       "conversation 12: bad value in the store (",
                                       "event 1: bad value in the store (",
                                       "event 2: bad value in the store (malformed payload field)",
                                       "conversation 15: bad value in the store (a turn's seq is "
                                       "not past the one before it), indexed without that turn"};
  check_logged_once(logged, sizeof logged / sizeof *logged);
  th_stop(indexer);
  static const char *const named[] = {
      "bad input: person 12: ", "bad input: conversation 12: ", "bad input: event 1: ",
      "bad input: conversation 15: a turn's seq"};
  check_verify(pg, index, named, 4);
  check_counted(index, 5);
  PQfinish(c);
}

int main(void) {
  th_init("poison");
  portal();
  canonical();
  return th_done();
}
