/*
 * cs-bench-xapian: the Xapian peer (libxapian 1.4, C++ API), set up the way
 * a competent user would for Spanish: TermGenerator and QueryParser with
 * the Spanish Snowball stemmer (STEM_SOME: stemmed terms for words,
 * unstemmed ones with positions for phrases and wildcards), a Spanish stop
 * list at query time, BM25Weight (the default), top 10. Spelling data is
 * built at index time (FLAG_SPELLING) because that is how Xapian 1.4
 * offers typo tolerance; the document data holds the turn id;
 * XAPIAN_FLUSH_THRESHOLD is 100,000 documents unless set.
 *
 *   cs-bench-xapian build --db DIR --turns TSV
 *       prints JSON: seconds (add_document for every turn + commit), text
 *       bytes, size of the database directory.
 *   cs-bench-xapian query --db DIR --queries FILE --stop FILE [--passes N]
 *       [--max-seconds S] --out FILE
 *
 * Queries (QueryParser syntax, FLAG_DEFAULT = phrase | boolean | love-hate):
 *   term  w          and  a b (default operator AND)   or  a OR b
 *   phrase "a b c"   prefix pre* (FLAG_WILDCARD)
 *   fuzzy  w parsed with FLAG_SPELLING_CORRECTION; the corrected query
 *          string (when Xapian has one) is parsed and run
 *   nl     the question as typed, default operator OR, stop words dropped
 */
#include <xapian.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" {
#include "common.h"
}

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

static long long du_bytes(const std::string &dir) {
  std::string cmd = "du -sb '" + dir + "' | cut -f1";
  FILE *p = popen(cmd.c_str(), "r");
  long long n = -1;
  if (p) {
    if (fscanf(p, "%lld", &n) != 1) n = -1;
    pclose(p);
  }
  return n;
}

static int build(const char *dbpath, const char *turns) {
  std::string rm = std::string("rm -rf '") + dbpath + "'";
  if (system(rm.c_str())) return 1;
  FILE *f = fopen(turns, "r");
  if (!f) {
    perror(turns);
    return 1;
  }
  /* Xapian flushes every 10,000 documents by default; bulk loaders raise
   * it (memory is plentiful here). An explicit setting wins. */
  setenv("XAPIAN_FLUSH_THRESHOLD", "100000", 0);
  double t0 = bq_now_us();
  size_t rows = 0, bytes = 0;
  try {
    Xapian::WritableDatabase db(dbpath, Xapian::DB_CREATE_OR_OVERWRITE);
    Xapian::TermGenerator tg;
    tg.set_stemmer(Xapian::Stem("spanish"));
    tg.set_database(db);
    tg.set_flags(Xapian::TermGenerator::FLAG_SPELLING);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
      if (line[len - 1] == '\n') line[--len] = 0;
      char *tab = strchr(line, '\t');
      if (!tab) continue;
      *tab = 0;
      size_t tl = unescape(tab + 1);
      bytes += tl;
      Xapian::Document doc;
      doc.set_data(line);
      tg.set_document(doc);
      tg.index_text(std::string(tab + 1, tl));
      db.add_document(doc);
      rows++;
    }
    free(line);
    db.commit();
  } catch (const Xapian::Error &e) {
    fprintf(stderr, "cs-bench-xapian: %s\n", e.get_description().c_str());
    return 1;
  }
  double t1 = bq_now_us();
  fclose(f);
  printf("{\"engine\": \"xapian\", \"rows\": %zu, \"text_bytes\": %zu, \"seconds\": %.3f, "
         "\"size_bytes\": %lld}\n",
         rows, bytes, (t1 - t0) / 1e6, du_bytes(dbpath));
  return 0;
}

static int query(const char *dbpath, const char *qpath, const char *stoppath, int passes,
                 double max_s, const char *out) {
  char **stop = bq_load_stop(stoppath);
  bq *qs;
  size_t nq;
  if (bq_load(qpath, &qs, &nq)) return 1;
  FILE *fo = fopen(out, "w");
  if (!fo) {
    perror(out);
    return 1;
  }
  try {
    Xapian::Database db(dbpath);
    Xapian::SimpleStopper stopper;
    for (char **s = stop; *s; s++)
      stopper.add(*s);
    Xapian::QueryParser qp;
    qp.set_stemmer(Xapian::Stem("spanish"));
    qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
    qp.set_stopper(&stopper);
    qp.set_database(db);
    Xapian::Enquire enq(db);
    enq.set_weighting_scheme(Xapian::BM25Weight());
    const unsigned def = Xapian::QueryParser::FLAG_DEFAULT;
    double t_start = bq_now_us();
    for (int pass = 0; pass <= passes; pass++) {
      if (pass > 1 && (bq_now_us() - t_start) / 1e6 > max_s) break;
      for (size_t i = 0; i < nq; i++) {
        const char *t = qs[i].type;
        std::string text = qs[i].text;
        double t0 = bq_now_us();
        Xapian::Query q;
        if (!strncmp(t, "term", 4)) {
          qp.set_default_op(Xapian::Query::OP_AND);
          q = qp.parse_query(text, def);
        } else if (!strcmp(t, "and")) {
          qp.set_default_op(Xapian::Query::OP_AND);
          q = qp.parse_query(text, def);
        } else if (!strcmp(t, "or")) {
          qp.set_default_op(Xapian::Query::OP_AND);
          std::string s = text;
          size_t sp = s.find(' ');
          if (sp != std::string::npos) s = s.substr(0, sp) + " OR " + s.substr(sp + 1);
          q = qp.parse_query(s, def);
        } else if (!strcmp(t, "phrase")) {
          qp.set_default_op(Xapian::Query::OP_AND);
          q = qp.parse_query("\"" + text + "\"", def);
        } else if (!strcmp(t, "prefix")) {
          qp.set_default_op(Xapian::Query::OP_AND);
          q = qp.parse_query(text + "*", def | Xapian::QueryParser::FLAG_WILDCARD);
        } else if (!strcmp(t, "fuzzy")) {
          qp.set_default_op(Xapian::Query::OP_AND);
          q = qp.parse_query(text, def | Xapian::QueryParser::FLAG_SPELLING_CORRECTION);
          std::string corr = qp.get_corrected_query_string();
          if (!corr.empty()) q = qp.parse_query(corr, def);
        } else {
          qp.set_default_op(Xapian::Query::OP_OR);
          q = qp.parse_query(text, def);
        }
        enq.set_query(q);
        Xapian::MSet m = enq.get_mset(0, 10);
        std::string ids;
        size_t nh = 0;
        for (Xapian::MSetIterator it = m.begin(); it != m.end(); ++it) {
          if (nh++) ids += ",";
          ids += it.get_document().get_data();
        }
        double us = bq_now_us() - t0;
        if (pass)
          fprintf(fo, "%s\t%s\t%d\t%.1f\t%zu\t%lld\t%s\n", qs[i].id, t, pass, us, nh,
                  (long long)m.get_matches_estimated(), ids.c_str());
      }
    }
  } catch (const Xapian::Error &e) {
    fprintf(stderr, "cs-bench-xapian: %s\n", e.get_description().c_str());
    return 1;
  }
  fclose(fo);
  return 0;
}

int main(int argc, char **argv) {
  const char *dbp = NULL, *turns = NULL, *qp = NULL, *stop = NULL, *out = NULL;
  int passes = 2;
  double max_s = 120;
  if (argc >= 2) {
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
    }
    if (!strcmp(argv[1], "build") && dbp && turns) return build(dbp, turns);
    if (!strcmp(argv[1], "query") && dbp && qp && stop && out)
      return query(dbp, qp, stop, passes, max_s, out);
  }
  fprintf(stderr, "usage: cs-bench-xapian build --db DIR --turns TSV\n"
                  "       cs-bench-xapian query --db DIR --queries FILE --stop FILE [--passes N] "
                  "[--max-seconds S] --out FILE\n");
  return 2;
}
