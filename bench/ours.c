/*
 * cs-bench-ours: query latency of convsearch in-process, through the public
 * query engine API (query/engine.h: cs_engine_search, admin caller, top 10,
 * relevance order, no work budget), single thread, warm.
 *
 *   cs-bench-ours --index DIR --queries FILE --stop FILE --mode exact|box
 *                 [--passes N] [--max-seconds S] [--employee N | --employees N]
 *                 [--clock wall|cpu] [--dump FILE] [--snippets 0|1] --out FILE
 * (--employee N: as portal employee N, who sees its own people and ranks
 * with its own statistics, instead of an admin; --employees N: the i-th
 * query as employee 1 + i mod N, the portal's social workers in turn)
 *
 * --dump FILE writes every response of the first recorded pass, one JSON
 * line per query (took_ms left out), to check that a change leaves the
 * results (hits, snippets, totals) byte for byte.
 * --snippets 0 asks for the same hits without snippets or highlights
 * (cs_search_params.no_snippets): the peers return ids only, so this is
 * the like-for-like measurement; the default builds them (what the portal
 * gets).
 * --clock cpu records each query's thread CPU time instead of its wall time
 * (for before/after comparisons on a machine shared with other work).
 * Pass 0 warms (not recorded); passes 1..N are recorded (common.h format),
 * stopping early (after at least one recorded pass) past --max-seconds.
 *
 * --mode exact gives each query the peers' semantics in our syntax:
 *   term  "w"              (a one-word phrase: the word exactly, no typo
 *                           tolerance, no prefix)
 *   and   "a" "b"          or     "a" OR "b"
 *   phrase "a b c"         prefix pre*
 *   fuzzy w~1 (one edit)   nl     "w1" OR "w2" OR ... (content words)
 * --mode box sends what a person types in the portal's search box: the
 * words as they are (all must match, typo tolerance by length, the last
 * word also as a prefix, fewer words when nothing matches); OR queries as
 * `a OR b`, phrases quoted, nl questions verbatim.
 * Results are conversations (the engine groups turns), each hit with its
 * snippets (highlighted turns): that work is included in the latency.
 */
#include "common.h"
#include "engine.h"

#include <limits.h>
#include <stdint.h>

static double thread_cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void fmt_query(const bq *q, int exact, char **stop, char *out, size_t cap) {
  char w[32][128];
  int n;
  const char *t = q->type;
  out[0] = 0;
  size_t len = 0;
#define ADD(...) len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, __VA_ARGS__)
  if (!strncmp(t, "term", 4)) {
    if (exact)
      ADD("\"%s\"", q->text);
    else
      ADD("%s", q->text);
  } else if (!strcmp(t, "and")) {
    n = bq_words(q->text, w, 32);
    for (int i = 0; i < n; i++)
      ADD(exact ? "%s\"%s\"" : "%s%s", i ? " " : "", w[i]);
  } else if (!strcmp(t, "or")) {
    n = bq_words(q->text, w, 32);
    for (int i = 0; i < n; i++)
      ADD(exact ? "%s\"%s\"" : "%s%s", i ? " OR " : "", w[i]);
  } else if (!strcmp(t, "phrase")) {
    ADD("\"%s\"", q->text);
  } else if (!strcmp(t, "prefix")) {
    ADD(exact ? "%s*" : "%s", q->text);
  } else if (!strcmp(t, "fuzzy")) {
    ADD(exact ? "%s~1 " : "%s", q->text);
  } else if (!strcmp(t, "nl")) {
    if (exact) {
      n = bq_content_words(q->text, stop, w, 32);
      for (int i = 0; i < n; i++)
        ADD("%s\"%s\"", i ? " OR " : "", w[i]);
    } else {
      ADD("%s", q->text);
    }
  } else {
    ADD("%s", q->text);
  }
#undef ADD
}

int main(int argc, char **argv) {
  const char *index = NULL, *qpath = NULL, *out = NULL, *mode = "exact", *stoppath = NULL,
             *dump = NULL;
  int passes = 3, cpu_clock = 0, snippets = 1;
  double max_s = 120;
  long long employee = 0, employees = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--index"))
      index = argv[i + 1];
    else if (!strcmp(argv[i], "--queries"))
      qpath = argv[i + 1];
    else if (!strcmp(argv[i], "--out"))
      out = argv[i + 1];
    else if (!strcmp(argv[i], "--mode"))
      mode = argv[i + 1];
    else if (!strcmp(argv[i], "--stop"))
      stoppath = argv[i + 1];
    else if (!strcmp(argv[i], "--passes"))
      passes = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--max-seconds"))
      max_s = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--employee"))
      employee = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--employees"))
      employees = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--snippets"))
      snippets = atoi(argv[i + 1]) != 0;
    else if (!strcmp(argv[i], "--dump"))
      dump = argv[i + 1];
    else if (!strcmp(argv[i], "--clock"))
      cpu_clock = !strcmp(argv[i + 1], "cpu");
    else {
      fprintf(stderr, "cs-bench-ours: bad argument %s\n", argv[i]);
      return 2;
    }
  }
  if (!index || !qpath || !out || !stoppath) {
    fprintf(stderr, "usage: cs-bench-ours --index DIR --queries FILE --stop FILE --mode "
                    "exact|box [--passes N] [--max-seconds S] [--employee N | --employees N] "
                    "[--clock wall|cpu] "
                    "[--dump FILE] [--snippets 0|1] --out FILE\n");
    return 2;
  }
  int exact = !strcmp(mode, "exact");
  char **stop = bq_load_stop(stoppath);
  bq *qs;
  size_t nq;
  if (bq_load(qpath, &qs, &nq)) return 1;
  cs_engine *e;
  cs_engine_error err;
  if (cs_engine_open(index, &e, &err)) {
    fprintf(stderr, "cs-bench-ours: %s: %s\n", index, err.message);
    return 1;
  }
  FILE *fo = fopen(out, "w");
  if (!fo) {
    perror(out);
    return 1;
  }
  FILE *fd = dump ? fopen(dump, "w") : NULL;
  if (dump && !fd) {
    perror(dump);
    return 1;
  }
  /* --employee N: a portal caller (its own people, its own statistics). */
  cs_caller caller = {employee > 0 || employees > 0 ? CS_CALLER_PORTAL : CS_CALLER_ADMIN,
                      (uint64_t)employee};
  char qbuf[2048];
  double t_start = bq_now_us();
  size_t errors = 0;
  for (int pass = 0; pass <= passes; pass++) {
    if (pass > 1 && (bq_now_us() - t_start) / 1e6 > max_s) break;
    for (size_t i = 0; i < nq; i++) {
      if (employees > 0) caller.employee_id = 1 + (uint64_t)i % (uint64_t)employees;
      fmt_query(&qs[i], exact, stop, qbuf, sizeof qbuf);
      cs_search_params p;
      memset(&p, 0, sizeof p);
      p.q = qbuf;
      p.limit = 10;
      p.from_ms = INT64_MIN;
      p.to_ms = INT64_MAX;
      p.role = CS_ANY_ROLE;
      p.sort = CS_SORT_RELEVANCE;
      p.timeout_ms = 0;
      p.no_snippets = !snippets;
      /* What the server does for GET /v1/search: the answer's JSON text
       * (read back below, outside the timing). */
      char *text = NULL;
      size_t tlen = 0;
      double t0 = cpu_clock ? thread_cpu_us() : bq_now_us();
      int rc = cs_engine_search_text(e, &caller, &p, 10, &text, &tlen, &err);
      double us = (cpu_clock ? thread_cpu_us() : bq_now_us()) - t0;
      json_t *res = NULL;
      if (!rc) {
        res = json_loadb(text, tlen, JSON_ALLOW_NUL, NULL);
        free(text);
        if (!res) {
          snprintf(err.message, sizeof err.message, "the answer is not JSON");
          rc = -1;
        }
      }
      if (rc) {
        if (pass == 0 && errors++ < 10)
          fprintf(stderr, "cs-bench-ours: query %s [%s]: %s\n", qs[i].id, qbuf, err.message);
        if (pass) fprintf(fo, "%s\t%s\t%d\t%.1f\t0\t-2\t\n", qs[i].id, qs[i].type, pass, us);
        continue;
      }
      if (pass) {
        json_t *hits = json_object_get(res, "hits");
        long long total = json_integer_value(json_object_get(res, "total"));
        size_t nh = json_array_size(hits);
        fprintf(fo, "%s\t%s\t%d\t%.1f\t%zu\t%lld\t", qs[i].id, qs[i].type, pass, us, nh, total);
        for (size_t h = 0; h < nh; h++) {
          json_t *hit = json_array_get(hits, h);
          fprintf(fo, "%s%lld", h ? "," : "",
                  (long long)json_integer_value(json_object_get(hit, "conversation_id")));
        }
        fputc('\n', fo);
      }
      if (fd && pass == 1) {
        json_object_del(res, "took_ms");
        char *js = json_dumps(res, JSON_COMPACT);
        fprintf(fd, "%s\t%s\n", qs[i].id, js ? js : "null");
        free(js);
      }
      json_decref(res);
    }
  }
  fclose(fo);
  if (fd) fclose(fd);
  cs_engine_close(e);
  return 0;
}
