/*
 * cs-bench-fts5: the SQLite FTS5 peer, set up the way a competent user would
 * for Spanish (FTS5 has no Spanish stemmer): tokenizer `unicode61
 * remove_diacritics 2`, bm25() ranking (ORDER BY rank), top 10.
 *
 *   cs-bench-fts5 build --db FILE --turns TSV
 *       one table `turns` (the text is stored, rowid = turn id), all rows in
 *       one transaction with a prepared INSERT; prints JSON: seconds (insert +
 *       commit), optimize_seconds ('optimize' merge, timed separately and
 *       not counted in the build), text bytes, file size.
 *   cs-bench-fts5 query --db FILE --queries FILE --stop FILE [--passes N]
 *       [--max-seconds S] --out FILE
 *
 * Queries (FTS5 syntax; every word quoted):
 *   term "w"   and "a" AND "b"   or "a" OR "b"   phrase "a b c"   prefix "pre"*
 *   nl     the question's content words (stop list removed) OR-ed
 *   fuzzy  FTS5 has none: the application expands the word to every term of
 *          the index vocabulary (fts5vocab, loaded once at start) within one
 *          edit (deletion, transposition, substitution, insertion of a-z)
 *          of its folded form, and ORs them (no candidate: no hits).
 */
#include "common.h"

#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(sqlite3 *db, const char *what) {
  fprintf(stderr, "cs-bench-fts5: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
  exit(1);
}

static void exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    fprintf(stderr, "cs-bench-fts5: %s: %s\n", sql, msg);
    exit(1);
  }
}

/* COPY text format field unescaping, in place. */
static size_t unescape(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r == '\\' && r[1]) {
      r++;
      *w++ = *r == 't' ? '\t' : *r == 'n' ? '\n' : *r == 'r' ? '\r' : *r;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
  return (size_t)(w - s);
}

static int build(const char *dbpath, const char *turns) {
  unlink(dbpath);
  char wal[4096];
  snprintf(wal, sizeof wal, "%s-wal", dbpath);
  unlink(wal);
  sqlite3 *db;
  if (sqlite3_open(dbpath, &db) != SQLITE_OK) die(db, dbpath);
  exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-262144;");
  FILE *f = fopen(turns, "r");
  if (!f) {
    perror(turns);
    return 1;
  }
  double t0 = bq_now_us();
  exec(db,
       "CREATE VIRTUAL TABLE turns USING fts5(text, tokenize = 'unicode61 remove_diacritics 2')");
  exec(db, "BEGIN");
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "INSERT INTO turns(rowid, text) VALUES (?, ?)", -1, &st, NULL))
    die(db, "prepare");
  char *line = NULL;
  size_t cap = 0, bytes = 0, rows = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = 0;
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = 0;
    size_t tl = unescape(tab + 1);
    bytes += tl;
    sqlite3_bind_int64(st, 1, strtoll(line, NULL, 10));
    sqlite3_bind_text(st, 2, tab + 1, (int)tl, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) die(db, "insert");
    sqlite3_reset(st);
    rows++;
  }
  sqlite3_finalize(st);
  exec(db, "COMMIT");
  double t1 = bq_now_us();
  exec(db, "INSERT INTO turns(turns) VALUES ('optimize')");
  double t2 = bq_now_us();
  exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite3_close(db);
  fclose(f);
  free(line);
  struct stat sb;
  stat(dbpath, &sb);
  printf("{\"engine\": \"fts5\", \"rows\": %zu, \"text_bytes\": %zu, \"seconds\": %.3f, "
         "\"optimize_seconds\": %.3f, \"size_bytes\": %lld}\n",
         rows, bytes, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (long long)sb.st_size);
  return 0;
}

/* ------------------------------------------------------------ vocabulary */

typedef struct vset {
  char **slot;
  size_t cap, n;
} vset;

static uint64_t fnv(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static void vset_add(vset *v, const char *s) {
  if (2 * (v->n + 1) > v->cap) {
    vset o = *v;
    v->cap = o.cap ? o.cap * 2 : 1 << 16;
    v->slot = (char **)calloc(v->cap, sizeof *v->slot);
    v->n = 0;
    for (size_t i = 0; i < o.cap; i++)
      if (o.slot[i]) vset_add(v, o.slot[i]);
    free(o.slot);
  }
  size_t i = fnv(s, strlen(s)) & (v->cap - 1);
  while (v->slot[i]) {
    if (!strcmp(v->slot[i], s)) return;
    i = (i + 1) & (v->cap - 1);
  }
  v->slot[i] = strdup(s);
  v->n++;
}

static int vset_has(const vset *v, const char *s, size_t n) {
  size_t i = fnv(s, n) & (v->cap - 1);
  while (v->slot[i]) {
    if (strlen(v->slot[i]) == n && !memcmp(v->slot[i], s, n)) return 1;
    i = (i + 1) & (v->cap - 1);
  }
  return 0;
}

/* Lowercase and remove Spanish diacritics, as unicode61 remove_diacritics 2
 * does for these letters. */
static void fold(const char *in, char *out, size_t cap) {
  static const char *const from[] = {"á", "é", "í", "ó", "ú", "ü", "ñ", "Á", "É", "Í",
                                     "Ó", "Ú", "Ü", "Ñ", "à", "è", "ì", "ò", "ù", "ç"};
  static const char to[] = "aeiouunaeiouunaeiouc";
  size_t n = 0;
  for (const char *p = in; *p && n + 1 < cap;) {
    int done = 0;
    for (size_t k = 0; k < sizeof from / sizeof *from; k++) {
      size_t l = strlen(from[k]);
      if (!strncmp(p, from[k], l)) {
        out[n++] = to[k];
        p += l;
        done = 1;
        break;
      }
    }
    if (done) continue;
    char c = *p++;
    out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
  }
  out[n] = 0;
}

static size_t fuzzy_query(const vset *v, const char *word, char *out, size_t cap) {
  char w[128], c[130];
  fold(word, w, sizeof w);
  size_t L = strlen(w), len = 0, found = 0;
  out[0] = 0;
#define TRY(s, n)                                                                                  \
  do {                                                                                             \
    if ((n) > 0 && vset_has(v, s, n)) {                                                            \
      char tmp[136];                                                                               \
      tmp[0] = '"';                                                                                \
      memcpy(tmp + 1, s, n);                                                                       \
      tmp[n + 1] = '"';                                                                            \
      tmp[n + 2] = 0;                                                                              \
      if (!strstr(out, tmp) && len + (n) + 8 < cap) {                                              \
        len += (size_t)snprintf(out + len, cap - len, "%s%s", found ? " OR " : "", tmp);           \
        found++;                                                                                   \
      }                                                                                            \
    }                                                                                              \
  } while (0)
  TRY(w, L);
  for (size_t i = 0; i < L; i++) { /* deletions */
    memcpy(c, w, i);
    memcpy(c + i, w + i + 1, L - i - 1);
    TRY(c, L - 1);
  }
  for (size_t i = 0; i + 1 < L; i++) { /* transpositions */
    memcpy(c, w, L);
    c[i] = w[i + 1];
    c[i + 1] = w[i];
    TRY(c, L);
  }
  for (size_t i = 0; i < L; i++) /* substitutions */
    for (char a = 'a'; a <= 'z'; a++) {
      if (a == w[i]) continue;
      memcpy(c, w, L);
      c[i] = a;
      TRY(c, L);
    }
  for (size_t i = 0; i <= L; i++) /* insertions */
    for (char a = 'a'; a <= 'z'; a++) {
      memcpy(c, w, i);
      c[i] = a;
      memcpy(c + i + 1, w + i, L - i);
      TRY(c, L + 1);
    }
#undef TRY
  return found;
}

static int query(const char *dbpath, const char *qpath, const char *stoppath, int passes,
                 double max_s, const char *out) {
  sqlite3 *db;
  if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) die(db, dbpath);
  exec(db, "PRAGMA cache_size=-262144");
  char **stop = bq_load_stop(stoppath);
  bq *qs;
  size_t nq;
  if (bq_load(qpath, &qs, &nq)) return 1;
  /* The vocabulary for fuzzy expansion (a temp table: the file is read-only). */
  vset v = {0};
  sqlite3_stmt *st;
  exec(db, "CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, turns, 'row')");
  if (sqlite3_prepare_v2(db, "SELECT term FROM temp.vocab", -1, &st, NULL)) die(db, "vocab");
  while (sqlite3_step(st) == SQLITE_ROW)
    vset_add(&v, (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  if (sqlite3_prepare_v2(db, "SELECT rowid FROM turns WHERE turns MATCH ? ORDER BY rank LIMIT 10",
                         -1, &st, NULL))
    die(db, "prepare");
  FILE *fo = fopen(out, "w");
  if (!fo) {
    perror(out);
    return 1;
  }
  char q[8192], w[32][128];
  double t_start = bq_now_us();
  for (int pass = 0; pass <= passes; pass++) {
    if (pass > 1 && (bq_now_us() - t_start) / 1e6 > max_s) break;
    for (size_t i = 0; i < nq; i++) {
      const char *t = qs[i].type;
      double t0 = bq_now_us();
      size_t len = 0;
      q[0] = 0;
#define ADD(...) len += (size_t)snprintf(q + len, sizeof q - len, __VA_ARGS__)
      if (!strncmp(t, "term", 4)) {
        ADD("\"%s\"", qs[i].text);
      } else if (!strcmp(t, "and") || !strcmp(t, "or")) {
        int n = bq_words(qs[i].text, w, 32);
        for (int k = 0; k < n; k++)
          ADD("%s\"%s\"", k ? (t[0] == 'a' ? " AND " : " OR ") : "", w[k]);
      } else if (!strcmp(t, "phrase")) {
        ADD("\"%s\"", qs[i].text);
      } else if (!strcmp(t, "prefix")) {
        ADD("\"%s\"*", qs[i].text);
      } else if (!strcmp(t, "fuzzy")) {
        fuzzy_query(&v, qs[i].text, q, sizeof q);
      } else {
        int n = bq_content_words(qs[i].text, stop, w, 32);
        for (int k = 0; k < n; k++)
          ADD("%s\"%s\"", k ? " OR " : "", w[k]);
      }
#undef ADD
      char ids[512];
      size_t il = 0, nh = 0;
      ids[0] = 0;
      if (q[0]) {
        sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
          il += (size_t)snprintf(ids + il, il < sizeof ids ? sizeof ids - il : 0, "%s%lld",
                                 nh ? "," : "", (long long)sqlite3_column_int64(st, 0));
          nh++;
        }
        if (rc != SQLITE_DONE && pass == 0)
          fprintf(stderr, "cs-bench-fts5: query %s [%s]: %s\n", qs[i].id, q, sqlite3_errmsg(db));
        sqlite3_reset(st);
      }
      double us = bq_now_us() - t0;
      if (pass) fprintf(fo, "%s\t%s\t%d\t%.1f\t%zu\t-1\t%s\n", qs[i].id, t, pass, us, nh, ids);
    }
  }
  fclose(fo);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return 0;
}

int main(int argc, char **argv) {
  const char *dbp = NULL, *turns = NULL, *qp = NULL, *stop = NULL, *out = NULL;
  int passes = 2;
  double max_s = 120;
  if (argc < 2) goto usage;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--db"))
      dbp = argv[i + 1];
    else if (!strcmp(argv[i], "--turns"))
      turns = argv[i + 1];
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
    else
      goto usage;
  }
  if (!strcmp(argv[1], "build") && dbp && turns) return build(dbp, turns);
  if (!strcmp(argv[1], "query") && dbp && qp && stop && out)
    return query(dbp, qp, stop, passes, max_s, out);
usage:
  fprintf(stderr, "usage: cs-bench-fts5 build --db FILE --turns TSV\n"
                  "       cs-bench-fts5 query --db FILE --queries FILE --stop FILE [--passes N] "
                  "[--max-seconds S] --out FILE\n");
  return 2;
}
