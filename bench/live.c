/*
 * cs-bench-live: a steady write load on the canonical stores while a
 * following indexer (`convsearch-indexer run`, not --once) ingests it, and
 * freshness probes: commit in PostgreSQL -> visible in search.
 *
 *   cs-bench-live --pg CONNINFO --index DIR --synth DIR --seconds S
 *                 [--rate CONVERSATIONS_PER_S] [--probe-hz H]
 *                 [--id-base B] --out FILE
 *
 * Writer thread: replays the conversations of a cs-bench-synth directory
 * (conversations.tsv + segments.tsv) at --rate per second (default 5), each
 * as one transaction (INSERT the conversation, INSERT all its turns in one
 * multi-row statement, COMMIT), with ids from --id-base + 1 and the
 * patients/owners already in the database (round robin).
 * Probe thread: --probe-hz times per second (default 10) commits one new
 * conversation whose only turn holds a unique made-up word, takes the time
 * when COMMIT returns, then searches for that word (cs_engine_search in this
 * process, admin caller, query "\"word\"") every 0.5 ms until it is found
 * (or 10 s pass: counted as a timeout). Freshness = found - committed.
 * Writes FILE as JSON: conversations, turns and text bytes written, write
 * rate achieved, probe latencies (ms, in order) and timeouts.
 */
#include "common.h"
#include "engine.h"

#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

typedef struct conv {
  char *title;
  size_t first_seg, nseg;
} conv;

typedef struct seg {
  char *speaker, *role, *text; /* COPY-escaped as read */
  long start_ms, end_ms;
} seg;

static conv *convs;
static size_t nconvs;
static seg *segs;
static size_t nsegs;
static int64_t *pat_ids, *pat_owner;
static size_t npats;
static const char *conninfo, *index_dir;
static double run_seconds = 30, rate = 5, probe_hz = 10;
static int64_t id_base = 900000000;
static atomic_int stop_flag;
static atomic_llong next_id;

/* results */
static size_t w_convs, w_turns, w_bytes, w_errors;
static double *probe_ms;
static size_t nprobes, probe_cap, probe_timeouts, probe_errors;

static char *unescape_dup(const char *s) {
  size_t n = strlen(s);
  char *o = malloc(n + 1), *w = o;
  for (const char *r = s; *r; r++) {
    if (*r == '\\' && r[1]) {
      r++;
      *w++ = *r == 't' ? '\t' : *r == 'n' ? '\n' : *r == 'r' ? '\r' : *r;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
  return o;
}

static int split(char *line, char **f, int max) {
  int n = 0;
  f[n++] = line;
  for (char *p = line; *p && n < max; p++)
    if (*p == '\t') {
      *p = 0;
      f[n++] = p + 1;
    }
  return n;
}

static int load_synth(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/conversations.tsv", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    return -1;
  }
  char *line = NULL;
  size_t cap = 0, ccap = 1024, scap = 1 << 16;
  ssize_t len;
  convs = malloc(ccap * sizeof *convs);
  int64_t *cids = malloc(ccap * sizeof *cids);
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = 0;
    char *fl[16];
    if (split(line, fl, 16) < 4) continue;
    if (nconvs == ccap) {
      ccap *= 2;
      convs = realloc(convs, ccap * sizeof *convs);
      cids = realloc(cids, ccap * sizeof *cids);
    }
    cids[nconvs] = atoll(fl[0]);
    convs[nconvs].title = unescape_dup(fl[3]);
    convs[nconvs].nseg = 0;
    convs[nconvs].first_seg = 0;
    nconvs++;
  }
  fclose(f);
  snprintf(path, sizeof path, "%s/segments.tsv", dir);
  f = fopen(path, "r");
  if (!f) {
    perror(path);
    return -1;
  }
  segs = malloc(scap * sizeof *segs);
  size_t ci = 0;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = 0;
    char *fl[8];
    if (split(line, fl, 8) < 7) continue;
    int64_t cid = atoll(fl[0]);
    while (ci < nconvs && cids[ci] != cid)
      ci++;
    if (ci == nconvs) break; /* segments are in conversation order */
    if (nsegs == scap) segs = realloc(segs, (scap *= 2) * sizeof *segs);
    if (!convs[ci].nseg) convs[ci].first_seg = nsegs;
    convs[ci].nseg++;
    segs[nsegs].speaker = unescape_dup(fl[2]);
    segs[nsegs].role = strdup(fl[3]);
    segs[nsegs].start_ms = atol(fl[4]);
    segs[nsegs].end_ms = atol(fl[5]);
    segs[nsegs].text = unescape_dup(fl[6]);
    nsegs++;
  }
  fclose(f);
  free(line);
  free(cids);
  return nconvs ? 0 : -1;
}

static PGconn *pg_open(void) {
  PGconn *c = PQconnectdb(conninfo);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "cs-bench-live: %s", PQerrorMessage(c));
    exit(1);
  }
  return c;
}

static int exec_ok(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) fprintf(stderr, "cs-bench-live: %.80s: %s", sql, PQerrorMessage(c));
  PQclear(r);
  return ok;
}

typedef struct sb {
  char *s;
  size_t n, cap;
} sb;

static void sb_add(sb *b, const char *s) {
  size_t l = strlen(s);
  if (b->n + l + 1 > b->cap) {
    while (b->n + l + 1 > b->cap)
      b->cap = b->cap ? b->cap * 2 : 4096;
    b->s = realloc(b->s, b->cap);
  }
  memcpy(b->s + b->n, s, l + 1);
  b->n += l;
}

static void sb_lit(sb *b, PGconn *c, const char *s) {
  char *e = PQescapeLiteral(c, s, strlen(s));
  sb_add(b, e);
  PQfreemem(e);
}

/* One conversation with its turns, in one transaction. */
static int write_conv(PGconn *c, int64_t id, size_t k, const conv *cv, const seg *ss, size_t n,
                      size_t *bytes) {
  int64_t pat = pat_ids[k % npats], owner = pat_owner[k % npats];
  sb b = {0};
  char num[160];
  sb_add(&b, "BEGIN; INSERT INTO conversations (id, patient_id, owner_id, title, language, "
             "status, created_at, updated_at) VALUES (");
  snprintf(num, sizeof num, "%lld, %lld, %lld, ", (long long)id, (long long)pat, (long long)owner);
  sb_add(&b, num);
  sb_lit(&b, c, cv->title);
  sb_add(&b, ", 'es', 'transcribed', now(), now()); INSERT INTO segments (conversation_id, seq, "
             "speaker, role, start_ms, end_ms, text) VALUES ");
  for (size_t i = 0; i < n; i++) {
    snprintf(num, sizeof num, "%s(%lld, %zu, ", i ? ", " : "", (long long)id, i);
    sb_add(&b, num);
    sb_lit(&b, c, ss[i].speaker);
    sb_add(&b, ", ");
    sb_lit(&b, c, ss[i].role);
    snprintf(num, sizeof num, ", %ld, %ld, ", ss[i].start_ms, ss[i].end_ms);
    sb_add(&b, num);
    sb_lit(&b, c, ss[i].text);
    sb_add(&b, ")");
    *bytes += strlen(ss[i].text);
  }
  sb_add(&b, "; COMMIT");
  int ok = exec_ok(c, b.s);
  if (!ok) exec_ok(c, "ROLLBACK");
  free(b.s);
  return ok;
}

static void sleep_until(double t_us) {
  double now = bq_now_us();
  if (t_us > now) usleep((useconds_t)(t_us - now));
}

static void *writer(void *arg) {
  (void)arg;
  PGconn *c = pg_open();
  double t0 = bq_now_us(), period = 1e6 / rate;
  for (size_t k = 0; !atomic_load(&stop_flag); k++) {
    sleep_until(t0 + (double)k * period);
    if (atomic_load(&stop_flag)) break;
    const conv *cv = &convs[k % nconvs];
    int64_t id = atomic_fetch_add(&next_id, 1);
    size_t bytes = 0;
    if (write_conv(c, id, k, cv, &segs[cv->first_seg], cv->nseg, &bytes)) {
      w_convs++;
      w_turns += cv->nseg;
      w_bytes += bytes;
    } else {
      w_errors++;
    }
  }
  PQfinish(c);
  return NULL;
}

static void *prober(void *arg) {
  (void)arg;
  PGconn *c = pg_open();
  cs_engine *e;
  cs_engine_error err;
  if (cs_engine_open(index_dir, &e, &err)) {
    fprintf(stderr, "cs-bench-live: %s: %s\n", index_dir, err.message);
    exit(1);
  }
  cs_caller caller = {CS_CALLER_ADMIN, 0};
  double t0 = bq_now_us(), period = 1e6 / probe_hz;
  for (size_t k = 0; !atomic_load(&stop_flag); k++) {
    sleep_until(t0 + (double)k * period);
    if (atomic_load(&stop_flag)) break;
    /* A made-up word: "zqx" + the new conversation's id in base 26
     * letters. Ids are new in every run (they continue from the stores'
     * largest), so no probe finds a word an earlier run indexed. */
    int64_t id = atomic_fetch_add(&next_id, 1);
    char word[32] = "zqx", q[48];
    uint64_t v = (uint64_t)id;
    size_t l = 3;
    while (v && l < 30) {
      word[l++] = (char)('a' + v % 26);
      v /= 26;
    }
    word[l] = 0;
    snprintf(q, sizeof q, "\"%s\"", word);
    seg s = {"Sonda", "other", NULL, 0, 1000};
    char text[128];
    snprintf(text, sizeof text, "Prueba de frescura %s", word);
    s.text = text;
    conv cv = {"Sonda de frescura", 0, 1};
    size_t bytes = 0;
    if (!write_conv(c, id, k, &cv, &s, 1, &bytes)) {
      probe_errors++;
      continue;
    }
    double committed = bq_now_us(), found = -1;
    while (bq_now_us() - committed < 10e6) {
      cs_search_params p;
      memset(&p, 0, sizeof p);
      p.q = q;
      p.limit = 1;
      p.from_ms = INT64_MIN;
      p.to_ms = INT64_MAX;
      p.role = CS_ANY_ROLE;
      json_t *res = NULL;
      if (cs_engine_search(e, &caller, &p, &res, &err) == 0) {
        long long total = json_integer_value(json_object_get(res, "total"));
        json_decref(res);
        if (total > 0) {
          found = bq_now_us();
          break;
        }
      }
      usleep(500);
    }
    if (found < 0) {
      probe_timeouts++;
      continue;
    }
    if (nprobes == probe_cap)
      probe_ms =
          realloc(probe_ms, (probe_cap = probe_cap ? probe_cap * 2 : 256) * sizeof *probe_ms);
    probe_ms[nprobes++] = (found - committed) / 1e3;
  }
  cs_engine_close(e);
  PQfinish(c);
  return NULL;
}

int main(int argc, char **argv) {
  const char *synth = NULL, *out = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--pg"))
      conninfo = argv[i + 1];
    else if (!strcmp(argv[i], "--index"))
      index_dir = argv[i + 1];
    else if (!strcmp(argv[i], "--synth"))
      synth = argv[i + 1];
    else if (!strcmp(argv[i], "--seconds"))
      run_seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--rate"))
      rate = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--probe-hz"))
      probe_hz = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--id-base"))
      id_base = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--out"))
      out = argv[i + 1];
    else {
      fprintf(stderr, "cs-bench-live: bad argument %s\n", argv[i]);
      return 2;
    }
  }
  if (!conninfo || !index_dir || !synth || !out || rate <= 0 || probe_hz <= 0 || run_seconds <= 0 ||
      run_seconds > 3600) {
    fprintf(stderr, "usage: cs-bench-live --pg CONNINFO --index DIR --synth DIR --seconds S "
                    "[--rate R] [--probe-hz H] [--id-base B] --out FILE\n");
    return 2;
  }
  if (load_synth(synth)) {
    fprintf(stderr, "cs-bench-live: no conversations in %s\n", synth);
    return 1;
  }
  PGconn *c = pg_open();
  PGresult *r = PQexec(c, "SELECT id, owner_id FROM patients ORDER BY id");
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) == 0) {
    fprintf(stderr, "cs-bench-live: no patients in the store\n");
    return 1;
  }
  npats = (size_t)PQntuples(r);
  pat_ids = malloc(npats * sizeof *pat_ids);
  pat_owner = malloc(npats * sizeof *pat_owner);
  for (size_t i = 0; i < npats; i++) {
    pat_ids[i] = atoll(PQgetvalue(r, (int)i, 0));
    pat_owner[i] = atoll(PQgetvalue(r, (int)i, 1));
  }
  PQclear(r);
  r = PQexec(c, "SELECT coalesce(max(id), 0) FROM conversations");
  long long maxid = atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  atomic_store(&next_id, (maxid > id_base ? maxid : id_base) + 1);

  pthread_t tw, tp;
  double t0 = bq_now_us();
  pthread_create(&tw, NULL, writer, NULL);
  pthread_create(&tp, NULL, prober, NULL);
  sleep_until(t0 + run_seconds * 1e6);
  atomic_store(&stop_flag, 1);
  pthread_join(tw, NULL);
  pthread_join(tp, NULL);
  double secs = (bq_now_us() - t0) / 1e6;

  FILE *fo = fopen(out, "w");
  if (!fo) {
    perror(out);
    return 1;
  }
  fprintf(fo,
          "{\"seconds\": %.2f, \"target_rate\": %.2f, \"conversations\": %zu, \"turns\": %zu, "
          "\"text_bytes\": %zu, \"write_errors\": %zu, \"probe_hz\": %.2f, \"probes\": %zu, "
          "\"probe_timeouts\": %zu, \"probe_errors\": %zu, \"freshness_ms\": [",
          secs, rate, w_convs, w_turns, w_bytes, w_errors, probe_hz, nprobes, probe_timeouts,
          probe_errors);
  for (size_t i = 0; i < nprobes; i++)
    fprintf(fo, "%s%.2f", i ? ", " : "", probe_ms[i]);
  fprintf(fo, "]}\n");
  fclose(fo);
  fprintf(
      stderr,
      "cs-bench-live: %zu conversations (%zu turns) written in %.1f s, %zu probes, %zu timeouts\n",
      w_convs, w_turns, secs, nprobes, probe_timeouts);
  return 0;
}
