/*
 * libFuzzer harness: the portal transcript parser and the views built on it
 * (schemas/portal.sql: convsearch.portal_transcript, src_conversations,
 * src_segments), run by a real PostgreSQL. The parser is PL/pgSQL, so the
 * harness drives it through libpq: each input is stored as a portal
 * conversation (as JSON when it is JSON, else as a JSON string holding the
 * text, as real rows often are), with a duration taken from its first bytes
 * (NaN, infinities, huge and negative values included), and both views are
 * read back in a transaction that is rolled back. Any error from PostgreSQL
 * is a crash: one bad row must never fail the indexer's read. The segments
 * must be numbered 0..n-1 with times in order.
 *
 * CS_FUZZ_PG: a conninfo of a cluster where the harness may create the
 * database cs_fuzz_portal (scripts/fuzz.sh starts one); CS_SRC_DIR: the
 * source tree (for schemas/).
 */
#include "utf8.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PGconn *pg;

static void die(const char *what, PGresult *r) {
  fprintf(stderr, "fuzz_portal: %s: %s\n", what, r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
  abort();
}

static PGresult *exec_ok(const char *what, const char *sql, int n, const char *const *params) {
  PGresult *r = n ? PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0) : PQexec(pg, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) die(what, r);
  return r;
}

static void run_file(const char *src, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/schemas/%s", src, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "fuzz_portal: cannot read %s\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *sql = malloc((size_t)n + 1);
  if (!sql || fread(sql, 1, (size_t)n, f) != (size_t)n) exit(1);
  sql[n] = 0;
  fclose(f);
  PQclear(exec_ok(name, sql, 0, NULL));
  free(sql);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *conninfo = getenv("CS_FUZZ_PG"), *src = getenv("CS_SRC_DIR");
  if (!conninfo || !src) {
    fprintf(stderr, "fuzz_portal: set CS_FUZZ_PG and CS_SRC_DIR (scripts/fuzz.sh does)\n");
    exit(1);
  }
  char db[2048];
  snprintf(db, sizeof db, "%s dbname=postgres", conninfo);
  pg = PQconnectdb(db);
  if (PQstatus(pg) != CONNECTION_OK) die("connecting", NULL);
  PQclear(exec_ok("dropping", "DROP DATABASE IF EXISTS cs_fuzz_portal", 0, NULL));
  PQclear(exec_ok("creating", "CREATE DATABASE cs_fuzz_portal", 0, NULL));
  PQfinish(pg);
  snprintf(db, sizeof db, "%s dbname=cs_fuzz_portal", conninfo);
  pg = PQconnectdb(db);
  if (PQstatus(pg) != CONNECTION_OK) die("connecting to cs_fuzz_portal", NULL);
  PQclear(exec_ok("quiet", "SET client_min_messages = warning", 0, NULL));
  run_file(src, "portal_fixture.sql");
  run_file(src, "capture.sql");
  run_file(src, "portal.sql");
  PQclear(exec_ok("a person",
                  "INSERT INTO core_user (id, name) VALUES (1, 'Ana');"
                  "INSERT INTO conversation_patientmodel (id, user_id, name) VALUES (1, 1, 'P')",
                  0, NULL));
  return 0;
}

/* The duration column, as the application could store it, picked by the
 * input's first byte: NULL, NaN, infinities, values that overflow integer
 * milliseconds, a negative one, or the next 8 bytes as a double. */
static const char *duration_of(const uint8_t *data, size_t size, char *buf, size_t cap) {
  static const char *const fixed[] = {NULL,    "NaN", "Infinity", "-Infinity",
                                      "1e308", "-5",  "2147484",  "0"};
  if (size == 0) return NULL;
  if (data[0] % 16 < 8) return fixed[data[0] % 8];
  if (size < 9) return "1";
  double d;
  memcpy(&d, data + 1, sizeof d);
  if (isnan(d) || isinf(d)) return "NaN";
  snprintf(buf, cap, "%.17g", d);
  return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* PostgreSQL text holds neither NUL nor invalid UTF-8: the application
   * cannot store such a transcript, so it is not an input here. */
  if (memchr(data, 0, size) || !cs_utf8_valid((const char *)data, size)) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  char dbuf[64];
  const char *params[2] = {text, duration_of(data, size, dbuf, sizeof dbuf)};
  PQclear(exec_ok("begin", "BEGIN", 0, NULL));
  PQclear(exec_ok("savepoint", "SAVEPOINT as_json", 0, NULL));
  PGresult *r = PQexecParams(pg,
                             "INSERT INTO conversation_conversationmodel (id, patient_id, title, "
                             "conversation, duration) VALUES (1, 1, 't', $1::jsonb, $2)",
                             2, NULL, params, NULL, NULL, 0);
  int as_json = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!as_json) {
    PQclear(exec_ok("rollback to savepoint", "ROLLBACK TO SAVEPOINT as_json", 0, NULL));
    PQclear(exec_ok("inserting the text as a JSON string",
                    "INSERT INTO conversation_conversationmodel (id, patient_id, title, "
                    "conversation, duration) VALUES (1, 1, 't', to_jsonb($1::text), $2)",
                    2, params));
  }
  PQclear(exec_ok("reading src_conversations",
                  "SELECT id, duration_ms, transcript_error, value_error FROM "
                  "convsearch.src_conversations WHERE id = 1",
                  0, NULL));
  r = exec_ok("reading src_segments",
              "SELECT seq, start_ms, end_ms, text FROM convsearch.src_segments WHERE "
              "conversation_id = 1 ORDER BY seq",
              0, NULL);
  long prev_end = -1;
  for (int i = 0; i < PQntuples(r); i++) {
    if (atol(PQgetvalue(r, i, 0)) != i) die("segments are not numbered 0..n-1", r);
    if (PQgetisnull(r, i, 3)) die("a segment without text", r);
    if (!PQgetisnull(r, i, 1)) {
      long s = atol(PQgetvalue(r, i, 1)), e = atol(PQgetvalue(r, i, 2));
      if (PQgetisnull(r, i, 2) || s > e || s < prev_end - 1) die("segment times out of order", r);
      prev_end = e;
    }
  }
  PQclear(r);
  PQclear(exec_ok("rollback", "ROLLBACK", 0, NULL));
  free(text);
  return 0;
}
