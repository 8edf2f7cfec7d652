/*
 * cs-bench-pgfts: the PostgreSQL full-text search peer, set up the way a
 * competent user would for Spanish: a table of turns with a stored generated
 * tsvector column (`spanish` configuration), a GIN index on it, ts_rank
 * top 10. Runs in the database that holds the canonical stores and reads
 * the same turns (segments) the indexer reads.
 *
 *   cs-bench-pgfts build --pg CONNINFO
 *       DROP/CREATE bench_fts (id = conversation_id*1000000+seq, body,
 *       tsv GENERATED ALWAYS AS (to_tsvector('spanish', body)) STORED),
 *       INSERT ... SELECT from segments, CREATE INDEX ... USING gin (tsv),
 *       with maintenance_work_mem = 1GB. Timed: the INSERT and the CREATE
 *       INDEX. Then, timed apart and not counted in the build: ANALYZE, and
 *       the fuzzy support the PostgreSQL manual suggests (pg_trgm): a table
 *       of the corpus' words (ts_stat over the 'simple' configuration) with
 *       a trigram GIN index (--fuzzy 0 skips it). Prints JSON.
 *   cs-bench-pgfts query --pg CONNINFO --queries FILE --stop FILE
 *       [--passes N] [--max-seconds S] --out FILE
 *
 * Queries (one prepared statement per form; the client builds tsquery text):
 *   term  to_tsquery('spanish', 'w')       and  'a & b'     or  'a | b'
 *   phrase phraseto_tsquery('spanish', 'a b c')             prefix 'pre:*'
 *   nl    the question's content words (stop list removed) joined with |
 *   fuzzy the 3 words of the corpus most similar to w (pg_trgm `%`,
 *         similarity order) OR-ed into one tsquery, in the same statement
 * all as: SELECT id FROM bench_fts WHERE tsv @@ q ORDER BY ts_rank(tsv, q)
 * DESC LIMIT 10. JIT is turned off for the session (it only adds compile
 * time to these short queries).
 */
#include "common.h"

#include <libpq-fe.h>

static PGconn *connect_db(const char *conninfo) {
  PGconn *c = PQconnectdb(conninfo);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "cs-bench-pgfts: %s", PQerrorMessage(c));
    exit(1);
  }
  return c;
}

static void run(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
    fprintf(stderr, "cs-bench-pgfts: %s: %s", sql, PQerrorMessage(c));
    exit(1);
  }
  PQclear(r);
}

static long long one(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    fprintf(stderr, "cs-bench-pgfts: %s: %s", sql, PQerrorMessage(c));
    exit(1);
  }
  long long v = atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  return v;
}

static int build(const char *conninfo, int fuzzy) {
  PGconn *c = connect_db(conninfo);
  run(c, "SET client_min_messages = warning");
  run(c, "SET maintenance_work_mem = '1GB'");
  run(c, "DROP TABLE IF EXISTS bench_fts, bench_words");
  run(c, "CREATE TABLE bench_fts (id bigint PRIMARY KEY, body text NOT NULL, tsv tsvector "
         "GENERATED ALWAYS AS (to_tsvector('spanish', body)) STORED)");
  run(c, "CHECKPOINT");
  double t0 = bq_now_us();
  run(c, "INSERT INTO bench_fts (id, body) SELECT conversation_id * 1000000 + seq, text "
         "FROM segments");
  double t1 = bq_now_us();
  run(c, "CREATE INDEX bench_fts_tsv ON bench_fts USING gin (tsv)");
  double t2 = bq_now_us();
  run(c, "ANALYZE bench_fts");
  double t3 = bq_now_us();
  if (fuzzy) {
    run(c, "CREATE EXTENSION IF NOT EXISTS pg_trgm");
    run(c, "CREATE TABLE bench_words AS SELECT word FROM ts_stat('SELECT to_tsvector(''simple'', "
           "body) FROM bench_fts') WHERE word ~ '^[[:alpha:]]+$'");
    run(c, "CREATE INDEX bench_words_trgm ON bench_words USING gin (word gin_trgm_ops)");
    run(c, "ANALYZE bench_words");
  }
  double t4 = bq_now_us();
  long long bytes = one(c, "SELECT sum(octet_length(body)) FROM bench_fts");
  long long rows = one(c, "SELECT count(*) FROM bench_fts");
  long long gin = one(c, "SELECT pg_relation_size('bench_fts_tsv')");
  long long total = one(c, "SELECT pg_total_relation_size('bench_fts')");
  long long tsv = one(c, "SELECT sum(pg_column_size(tsv)) FROM bench_fts");
  long long words = fuzzy ? one(c, "SELECT pg_total_relation_size('bench_words')") : -1;
  printf("{\"engine\": \"pgfts\", \"rows\": %lld, \"text_bytes\": %lld, \"seconds\": %.3f, "
         "\"insert_seconds\": %.3f, \"gin_seconds\": %.3f, \"analyze_seconds\": %.3f, "
         "\"fuzzy_support_seconds\": %.3f, \"gin_bytes\": %lld, \"tsvector_bytes\": %lld, "
         "\"size_bytes\": %lld, \"table_total_bytes\": %lld, \"words_table_bytes\": %lld}\n",
         rows, bytes, (t2 - t0) / 1e6, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6,
         (t4 - t3) / 1e6, gin, tsv, gin + tsv, total, words);
  PQfinish(c);
  return 0;
}

static const char *SQL_TS = "SELECT id FROM bench_fts, to_tsquery('spanish', $1) q WHERE tsv @@ q "
                            "ORDER BY ts_rank(tsv, q) DESC LIMIT 10";
static const char *SQL_PHRASE =
    "SELECT id FROM bench_fts, phraseto_tsquery('spanish', $1) q WHERE tsv @@ q "
    "ORDER BY ts_rank(tsv, q) DESC LIMIT 10";
static const char *SQL_FUZZY =
    "SELECT id FROM bench_fts, (SELECT to_tsquery('spanish', coalesce(string_agg(word, ' | '), "
    "'')) q FROM (SELECT word FROM bench_words WHERE word % $1 ORDER BY similarity(word, $1) "
    "DESC, word LIMIT 3) s) qq WHERE tsv @@ q ORDER BY ts_rank(tsv, q) DESC LIMIT 10";

static void prepare(PGconn *c, const char *name, const char *sql) {
  PGresult *r = PQprepare(c, name, sql, 1, NULL);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    fprintf(stderr, "cs-bench-pgfts: prepare %s: %s", name, PQerrorMessage(c));
    exit(1);
  }
  PQclear(r);
}

static int query(const char *conninfo, const char *qpath, const char *stoppath, int passes,
                 double max_s, const char *out) {
  PGconn *c = connect_db(conninfo);
  run(c, "SET client_min_messages = warning");
  run(c, "SET jit = off");
  prepare(c, "ts", SQL_TS);
  prepare(c, "phrase", SQL_PHRASE);
  prepare(c, "fuzzy", SQL_FUZZY);
  char **stop = bq_load_stop(stoppath);
  bq *qs;
  size_t nq;
  if (bq_load(qpath, &qs, &nq)) return 1;
  FILE *fo = fopen(out, "w");
  if (!fo) {
    perror(out);
    return 1;
  }
  char q[4096], w[32][128];
  double t_start = bq_now_us();
  size_t errors = 0;
  for (int pass = 0; pass <= passes; pass++) {
    if (pass > 1 && (bq_now_us() - t_start) / 1e6 > max_s) break;
    for (size_t i = 0; i < nq; i++) {
      const char *t = qs[i].type, *stmt = "ts";
      double t0 = bq_now_us();
      size_t len = 0;
      q[0] = 0;
#define ADD(...) len += (size_t)snprintf(q + len, sizeof q - len, __VA_ARGS__)
      if (!strncmp(t, "term", 4)) {
        ADD("%s", qs[i].text);
      } else if (!strcmp(t, "and") || !strcmp(t, "or")) {
        int n = bq_words(qs[i].text, w, 32);
        for (int k = 0; k < n; k++)
          ADD("%s%s", k ? (t[0] == 'a' ? " & " : " | ") : "", w[k]);
      } else if (!strcmp(t, "phrase")) {
        stmt = "phrase";
        ADD("%s", qs[i].text);
      } else if (!strcmp(t, "prefix")) {
        ADD("%s:*", qs[i].text);
      } else if (!strcmp(t, "fuzzy")) {
        stmt = "fuzzy";
        ADD("%s", qs[i].text);
      } else {
        int n = bq_content_words(qs[i].text, stop, w, 32);
        for (int k = 0; k < n; k++)
          ADD("%s%s", k ? " | " : "", w[k]);
      }
#undef ADD
      const char *params[1] = {q};
      PGresult *r = PQexecPrepared(c, stmt, 1, params, NULL, NULL, 0);
      double us = bq_now_us() - t0;
      if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        if (pass == 0 && errors++ < 10)
          fprintf(stderr, "cs-bench-pgfts: query %s [%s]: %s", qs[i].id, q, PQerrorMessage(c));
        if (pass) fprintf(fo, "%s\t%s\t%d\t%.1f\t0\t-2\t\n", qs[i].id, t, pass, us);
        PQclear(r);
        continue;
      }
      if (pass) {
        int n = PQntuples(r);
        fprintf(fo, "%s\t%s\t%d\t%.1f\t%d\t-1\t", qs[i].id, t, pass, us, n);
        for (int k = 0; k < n; k++)
          fprintf(fo, "%s%s", k ? "," : "", PQgetvalue(r, k, 0));
        fputc('\n', fo);
      }
      PQclear(r);
    }
  }
  fclose(fo);
  PQfinish(c);
  return 0;
}

int main(int argc, char **argv) {
  const char *pg = NULL, *qp = NULL, *stop = NULL, *out = NULL;
  int passes = 2, fuzzy = 1;
  double max_s = 120;
  if (argc >= 2) {
    for (int i = 2; i + 1 < argc; i += 2) {
      if (!strcmp(argv[i], "--pg"))
        pg = argv[i + 1];
      else if (!strcmp(argv[i], "--queries"))
        qp = argv[i + 1];
      else if (!strcmp(argv[i], "--stop"))
        stop = argv[i + 1];
      else if (!strcmp(argv[i], "--out"))
        out = argv[i + 1];
      else if (!strcmp(argv[i], "--passes"))
        passes = atoi(argv[i + 1]);
      else if (!strcmp(argv[i], "--max-seconds"))
        max_s = atof(argv[i + 1]);
      else if (!strcmp(argv[i], "--fuzzy"))
        fuzzy = atoi(argv[i + 1]);
    }
    if (!strcmp(argv[1], "build") && pg) return build(pg, fuzzy);
    if (!strcmp(argv[1], "query") && pg && qp && stop && out)
      return query(pg, qp, stop, passes, max_s, out);
  }
  fprintf(stderr, "usage: cs-bench-pgfts build --pg CONNINFO [--fuzzy 0|1]\n"
                  "       cs-bench-pgfts query --pg CONNINFO --queries FILE --stop FILE "
                  "[--passes N] [--max-seconds S] --out FILE\n");
  return 2;
}
