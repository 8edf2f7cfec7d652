/*
 * Tests for the query engine's search and conversation view (query/): the
 * query language, typo and prefix matching, ranking order, filters,
 * highlighting at exact byte offsets, document-level security for portal
 * callers, and cursor paging while the index grows.
 *
 *   test_search DATA_DIR              build an index from DATA_DIR/corpus.txt
 *                                     in a temporary directory, run the cases
 *                                     of DATA_DIR/search.txt and the checks
 *                                     written below; exit 1 on any failure
 *   test_search --write INDEX CORPUS  (used by the tests) add a corpus file
 *                                     to an index, in a process of its own as
 *                                     the real indexer would
 *
 * The index is written with index/writer.h directly: no PostgreSQL needed.
 * It lives in a temporary directory, removed at the end unless CS_TEST_KEEP
 * is set (to look at it after a failure).
 *
 * Corpus format: see the comment at the top of tests/query/corpus.txt.
 *
 * Case file format (tests/query/search.txt): cases are separated by blank
 * lines; '#' starts a comment line.
 *
 *   caller admin | analyst | portal EMPLOYEE   caller of the following cases
 *   q TEXT          the query (the rest of the line; "\s" is a space, so a
 *                   trailing space can be written)
 *   opt K=V ...     sort=relevance|date|-date limit= patient= owner=
 *                   conversation= from=DATE to=DATE speaker= role=
 *   ids ID...       the page's conversation ids, in this order ("-": none)
 *   set ID...       the page's conversation ids, in any order
 *   has ID...       these ids are on the page
 *   not ID...       these ids are not on the page
 *   total N         the "total" field
 *   relaxed B       the "relaxed" field (true/false)
 *   error CODE      the search fails with this error code
 *   em ID TEXT      a snippet of hit ID contains TEXT (HTML as returned)
 *   noem ID TEXT    no snippet of hit ID contains TEXT
 *   tem ID TEXT     hit ID's title_highlight contains TEXT (HTML as returned)
 *   dem ID TEXT     hit ID's description_highlight contains TEXT
 *   dem ID null     hit ID's description_highlight is null
 */
#include "engine.h"
#include "errors.h"
#include "expand.h"
#include "internal.h"
#include "jtext.h"
#include "lexcache.h"
#include "search.h"
#include "store.h"
#include "turnmap.h"
#include "writer.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

CS_CHECK_COUNTERS;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "test_search: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

/* ---------------------------------------------------------------- corpus */

static int64_t parse_date(const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (sscanf(s, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3) return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm) * 1000;
}

static char *trim(char *s) {
  while (*s == ' ')
    s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r'))
    s[--n] = 0;
  return s;
}

/* Splits at '|' into at most n fields (trimmed); returns the count. */
static int split_bar(char *s, char **f, int n) {
  int k = 0;
  while (k < n) {
    char *bar = k + 1 < n ? strchr(s, '|') : NULL;
    if (bar) *bar = 0;
    f[k++] = trim(s);
    if (!bar) break;
    s = bar + 1;
  }
  return k;
}

#define MAX_TURNS 1000

typedef struct conv_acc {
  int open;
  cs_conv_in c;
  cs_turn_in turns[MAX_TURNS];
  char *strs[4 * MAX_TURNS + 8];
  int nstrs;
} conv_acc;

static const char *keep(conv_acc *a, const char *s) {
  char *d = strdup(s);
  if (!d || a->nstrs == 4 * MAX_TURNS + 8) die("out of memory");
  a->strs[a->nstrs++] = d;
  return d;
}

static void flush_conv(cs_writer *w, conv_acc *a) {
  if (!a->open) return;
  a->c.turns = a->turns;
  int rc = cs_writer_put_conversation(w, &a->c, NULL);
  if (rc) die("put conversation %" PRIu64 ": %s", a->c.id, cs_strerror(rc));
  for (int i = 0; i < a->nstrs; i++)
    free(a->strs[i]);
  memset(a, 0, sizeof *a);
}

static void load_corpus(cs_writer *w, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("%s: %s", path, strerror(errno));
  char line[8192];
  conv_acc *a = calloc(1, sizeof *a);
  while (fgets(line, sizeof line, f)) {
    char *s = trim(line);
    if (!*s || *s == '#') continue;
    if (!strncmp(s, "patient ", 8)) {
      flush_conv(w, a);
      uint64_t id, owner;
      int used = 0;
      if (sscanf(s + 8, "%" SCNu64 " %" SCNu64 " %n", &id, &owner, &used) != 2) die("bad: %s", s);
      char *fld[3] = {"", "", ""};
      split_bar(s + 8 + used, fld, 3);
      cs_patient_in p = {id, owner, fld[0], fld[1], fld[2], -1, -1};
      int rc = cs_writer_put_patient(w, &p, NULL);
      if (rc) die("put patient: %s", cs_strerror(rc));
    } else if (!strncmp(s, "conv ", 5)) {
      flush_conv(w, a);
      uint64_t id, patient, owner;
      char date[32];
      int used = 0;
      if (sscanf(s + 5, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %31s %n", &id, &patient, &owner, date,
                 &used) != 4)
        die("bad: %s", s);
      char *fld[3] = {"", "", ""};
      char *rest = s + 5 + used;
      if (*rest == '|') rest++;
      split_bar(rest, fld, 2);
      a->open = 1;
      a->c.id = id;
      a->c.patient_id = patient;
      a->c.owner_id = owner;
      a->c.title = keep(a, fld[0]);
      a->c.description = keep(a, fld[1]);
      a->c.language = "es";
      a->c.duration_ms = 60000;
      a->c.created_at_ms = parse_date(date);
      a->c.updated_at_ms = a->c.created_at_ms;
    } else if (!strncmp(s, "turn ", 5)) {
      if (!a->open || a->c.nturns == MAX_TURNS) die("turn outside a conversation: %s", s);
      int seq, used = 0;
      char role[32], st[32], en[32];
      if (sscanf(s + 5, "%d %31s %31s %31s %n", &seq, role, st, en, &used) != 4) die("bad: %s", s);
      char *fld[2] = {"", ""};
      split_bar(s + 5 + used, fld, 2);
      cs_turn_in *t = &a->turns[a->c.nturns++];
      t->seq = seq;
      t->role = keep(a, role);
      t->start_ms = strcmp(st, "-") ? atoll(st) : -1;
      t->end_ms = strcmp(en, "-") ? atoll(en) : -1;
      t->speaker = keep(a, fld[0]);
      t->text = keep(a, fld[1]);
      t->text_len = strlen(t->text);
    } else if (!strncmp(s, "delete ", 7)) {
      flush_conv(w, a);
      int rc = cs_writer_delete_conversation(w, strtoull(s + 7, NULL, 10));
      if (rc) die("delete conversation: %s", cs_strerror(rc));
    } else {
      die("unknown corpus line: %s", s);
    }
  }
  flush_conv(w, a);
  free(a);
  fclose(f);
}

static void write_corpus(const char *dir, const char *path) {
  cs_store *s;
  char msg[256] = "";
  int rc = cs_store_open(dir, CS_STORE_CREATE, &s, msg, sizeof msg);
  if (rc) die("open %s: %s %s", dir, cs_strerror(rc), msg);
  cs_writer *w;
  rc = cs_writer_open(s, &w);
  if (!rc) rc = cs_writer_begin(w);
  if (rc) die("writer: %s", cs_strerror(rc));
  load_corpus(w, path);
  rc = cs_writer_commit(w);
  if (rc) die("commit: %s", cs_strerror(rc));
  cs_writer_close(w);
  cs_store_close(s);
}

/* Writes in a process of its own: LMDB wants one environment per process,
 * and the engine of this process has the index open. */
static void spawn_write(const char *dir, const char *path) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", strerror(errno));
  if (pid == 0) {
    execl("/proc/self/exe", "test_search", "--write", dir, path, (char *)NULL);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die("the writer process failed");
}

/* ---------------------------------------------------------------- helpers */

static cs_engine *engine;
static char index_dir[PATH_MAX];

static void params_init(cs_search_params *p, const char *q) {
  memset(p, 0, sizeof *p);
  p->q = q;
  p->limit = 10;
  p->from_ms = INT64_MIN;
  p->to_ms = INT64_MAX;
  p->role = CS_ANY_ROLE;
  p->sort = CS_SORT_RELEVANCE;
}

static json_t *run(const cs_caller *c, const cs_search_params *p, cs_engine_error *err) {
  json_t *out = NULL;
  memset(err, 0, sizeof *err);
  if (cs_engine_search(engine, c, p, &out, err)) return NULL;
  return out;
}

static json_t *find_hit(json_t *res, uint64_t id) {
  size_t i;
  json_t *h;
  json_array_foreach(json_object_get(res, "hits"), i, h) {
    if ((uint64_t)json_integer_value(json_object_get(h, "conversation_id")) == id) return h;
  }
  return NULL;
}

static void hit_ids(json_t *res, char *out, size_t cap) {
  size_t i, n = 0;
  json_t *h;
  out[0] = 0;
  json_array_foreach(json_object_get(res, "hits"), i, h) {
    n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s%" JSON_INTEGER_FORMAT, i ? " " : "",
                          json_integer_value(json_object_get(h, "conversation_id")));
  }
  if (!json_array_size(json_object_get(res, "hits"))) snprintf(out, cap, "-");
}

/* Undoes the HTML of a snippet: drops <em>, </em> and the "…" marks,
 * unescapes entities. */
static void unhtml(const char *s, char *out, size_t cap) {
  size_t o = 0;
  while (*s && o + 1 < cap) {
    if (!strncmp(s, "<em>", 4)) {
      s += 4;
    } else if (!strncmp(s, "</em>", 5)) {
      s += 5;
    } else if (!strncmp(s, "\xE2\x80\xA6", 3)) {
      s += 3;
    } else if (!strncmp(s, "&amp;", 5)) {
      out[o++] = '&', s += 5;
    } else if (!strncmp(s, "&lt;", 4)) {
      out[o++] = '<', s += 4;
    } else if (!strncmp(s, "&gt;", 4)) {
      out[o++] = '>', s += 4;
    } else if (!strncmp(s, "&quot;", 6)) {
      out[o++] = '"', s += 6;
    } else if (!strncmp(s, "&#39;", 5)) {
      out[o++] = '\'', s += 5;
    } else {
      out[o++] = *s++;
    }
  }
  out[o] = 0;
}

/* The texts wrapped in <em> (unescaped), joined by '|'. */
static void em_list(const char *s, char *out, size_t cap) {
  size_t o = 0;
  out[0] = 0;
  for (const char *p = strstr(s, "<em>"); p; p = strstr(p, "<em>")) {
    p += 4;
    const char *e = strstr(p, "</em>");
    if (!e) break;
    char raw[1024], txt[1024];
    size_t n = (size_t)(e - p) < sizeof raw - 1 ? (size_t)(e - p) : sizeof raw - 1;
    memcpy(raw, p, n);
    raw[n] = 0;
    unhtml(raw, txt, sizeof txt);
    o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? "|" : "", txt);
    p = e;
  }
}

/* Creates tmp/NAME (a printf format) for a test's own corpus, its path in
 * path[PATH_MAX]; dies if it cannot. */
static FILE *corpus_create(char *path, const char *tmp, const char *name, ...) {
  char file[128];
  va_list ap;
  va_start(ap, name);
  vsnprintf(file, sizeof file, name, ap);
  va_end(ap);
  snprintf(path, PATH_MAX, "%s/%s", tmp, file);
  FILE *f = fopen(path, "w");
  if (!f) die("%s", path);
  return f;
}

/* ---------------------------------------------------------------- case files */

typedef struct tcase {
  int line;
  cs_caller caller;
  char q[1024];
  int has_q;
  cs_search_params p;
  char speaker[128];
  char expect[64][2048]; /* directive lines */
  int nexpect;
} tcase;

static void unescape_q(const char *in, char *out, size_t cap) {
  size_t o = 0;
  for (; *in && o + 1 < cap; in++) {
    if (in[0] == '\\' && in[1] == 's') {
      out[o++] = ' ';
      in++;
    } else {
      out[o++] = *in;
    }
  }
  out[o] = 0;
}

static int id_in(json_t *res, uint64_t id) {
  return find_hit(res, id) != NULL;
}

static void run_case(tcase *t, const char *file) {
  if (!t->has_q) return;
  cs_engine_error err;
  t->p.q = t->q;
  if (t->speaker[0]) t->p.speaker = t->speaker;
  json_t *res = run(&t->caller, &t->p, &err);
  char ids[512];
  if (res) hit_ids(res, ids, sizeof ids);
  for (int i = 0; i < t->nexpect; i++) {
    char *d = t->expect[i];
    char *arg = strchr(d, ' ');
    arg = arg ? arg + 1 : d + strlen(d);
    if (!strncmp(d, "error", 5)) {
      th_check(!res && !strcmp(err.code, arg), "%s:%d: q=[%s] expected error %s, got %s", file,
               t->line, t->q, arg, res ? "success" : err.code);
      continue;
    }
    if (!res) {
      th_check(0, "%s:%d: q=[%s] failed: %s %s", file, t->line, t->q, err.code, err.message);
      break;
    }
    if (!strncmp(d, "ids", 3)) {
      th_check(!strcmp(ids, arg), "%s:%d: q=[%s] ids: expected [%s], got [%s]", file, t->line, t->q,
               arg, ids);
    } else if (!strncmp(d, "set", 3) || !strncmp(d, "has", 3) || !strncmp(d, "not", 3)) {
      int want = d[0] != 'n';
      char tmp[256];
      snprintf(tmp, sizeof tmp, "%s", arg);
      int count = 0;
      for (char *tok = strtok(tmp, " "); tok; tok = strtok(NULL, " ")) {
        if (!strcmp(tok, "-")) continue;
        count++;
        uint64_t id = strtoull(tok, NULL, 10);
        th_check(id_in(res, id) == want, "%s:%d: q=[%s] %s %" PRIu64 ": got [%s]", file, t->line,
                 t->q, want ? "expected" : "did not expect", id, ids);
      }
      if (d[0] == 's') {
        th_check(json_array_size(json_object_get(res, "hits")) == (size_t)count,
                 "%s:%d: q=[%s] expected exactly [%s], got [%s]", file, t->line, t->q, arg, ids);
      }
    } else if (!strncmp(d, "total", 5)) {
      json_int_t tot = json_integer_value(json_object_get(res, "total"));
      th_check(tot == atoll(arg), "%s:%d: q=[%s] total: expected %s, got %" JSON_INTEGER_FORMAT,
               file, t->line, t->q, arg, tot);
    } else if (!strncmp(d, "relaxed", 7)) {
      int want = !strcmp(arg, "true");
      th_check(json_is_true(json_object_get(res, "relaxed")) == want,
               "%s:%d: q=[%s] relaxed: expected %s", file, t->line, t->q, arg);
    } else if (!strncmp(d, "em ", 3) || !strncmp(d, "noem ", 5)) {
      int want = d[0] == 'e';
      uint64_t id = strtoull(arg, &arg, 10);
      while (*arg == ' ')
        arg++;
      json_t *h = find_hit(res, id);
      int found = 0;
      size_t k;
      json_t *sn;
      if (h) {
        json_array_foreach(json_object_get(h, "snippets"), k, sn) {
          found |= strstr(json_string_value(json_object_get(sn, "text")), arg) != NULL;
        }
      }
      char *dump = h ? json_dumps(json_object_get(h, "snippets"), 0) : NULL;
      th_check(h && found == want, "%s:%d: q=[%s] hit %" PRIu64 " snippets %s [%s]: %s", file,
               t->line, t->q, id, want ? "lack" : "have", arg, dump ? dump : "(no such hit)");
      free(dump);
    } else if (!strncmp(d, "tem ", 4) || !strncmp(d, "dem ", 4)) {
      const char *field = d[0] == 't' ? "title_highlight" : "description_highlight";
      uint64_t id = strtoull(arg, &arg, 10);
      while (*arg == ' ')
        arg++;
      json_t *h = find_hit(res, id);
      json_t *v = h ? json_object_get(h, field) : NULL;
      int ok = !strcmp(arg, "null") ? json_is_null(v)
                                    : json_is_string(v) && strstr(json_string_value(v), arg);
      th_check(ok, "%s:%d: q=[%s] hit %" PRIu64 " %s lacks [%s]: %s", file, t->line, t->q, id,
               field, arg,
               json_is_string(v) ? json_string_value(v)
               : v               ? "null"
                                 : "(absent)");
    } else {
      die("%s:%d: unknown directive: %s", file, t->line, d);
    }
  }
  json_decref(res);
}

static void set_opt(tcase *t, char *kv, const char *file, int line) {
  char *eq = strchr(kv, '=');
  if (!eq) die("%s:%d: bad option %s", file, line, kv);
  *eq = 0;
  const char *v = eq + 1;
  cs_search_params *p = &t->p;
  if (!strcmp(kv, "sort"))
    p->sort = !strcmp(v, "date")    ? CS_SORT_DATE_ASC
              : !strcmp(v, "-date") ? CS_SORT_DATE_DESC
                                    : CS_SORT_RELEVANCE;
  else if (!strcmp(kv, "limit"))
    p->limit = (uint32_t)atoi(v);
  else if (!strcmp(kv, "patient"))
    p->patient = strtoull(v, NULL, 10);
  else if (!strcmp(kv, "owner"))
    p->owner = strtoull(v, NULL, 10);
  else if (!strcmp(kv, "conversation"))
    p->conversation = strtoull(v, NULL, 10);
  else if (!strcmp(kv, "from"))
    p->from_ms = parse_date(v);
  else if (!strcmp(kv, "to"))
    p->to_ms = parse_date(v);
  else if (!strcmp(kv, "speaker"))
    snprintf(t->speaker, sizeof t->speaker, "%s", v);
  else if (!strcmp(kv, "role"))
    p->role = cs_role_parse(v);
  else
    die("%s:%d: unknown option %s", file, line, kv);
}

static void run_case_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("%s: %s", path, strerror(errno));
  tcase *t = calloc(1, sizeof *t);
  cs_caller caller = {CS_CALLER_ADMIN, 0};
  char line[2048];
  int lineno = 0;
  params_init(&t->p, NULL);
  t->caller = caller;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = 0;
    if (line[0] == '#') continue;
    if (n == 0) {
      run_case(t, path);
      memset(t, 0, sizeof *t);
      params_init(&t->p, NULL);
      t->caller = caller;
      continue;
    }
    if (!strncmp(line, "caller ", 7)) {
      if (!strncmp(line + 7, "admin", 5))
        caller = (cs_caller){CS_CALLER_ADMIN, 0};
      else if (!strncmp(line + 7, "analyst", 7))
        caller = (cs_caller){CS_CALLER_ANALYST, 0};
      else if (!strncmp(line + 7, "portal ", 7))
        caller = (cs_caller){CS_CALLER_PORTAL, strtoull(line + 14, NULL, 10)};
      else
        die("%s:%d: bad caller", path, lineno);
      t->caller = caller;
    } else if (!strncmp(line, "q ", 2) || !strcmp(line, "q")) {
      unescape_q(line[1] ? line + 2 : "", t->q, sizeof t->q);
      t->has_q = 1;
      t->line = lineno;
    } else if (!strncmp(line, "opt ", 4)) {
      for (char *tok = strtok(line + 4, " "); tok; tok = strtok(NULL, " "))
        set_opt(t, tok, path, lineno);
    } else {
      if (t->nexpect == 64) die("%s:%d: too many directives", path, lineno);
      snprintf(t->expect[t->nexpect++], sizeof t->expect[0], "%s", line);
    }
  }
  run_case(t, path);
  free(t);
  fclose(f);
}

/* ---------------------------------------------------------------- checks */

static const cs_caller ADMIN = {CS_CALLER_ADMIN, 0};

/* Every highlighted text must be the original bytes once the HTML is
 * undone, and each <em> must hold exactly the expected words. */
static void test_highlight_offsets(void) {
  struct {
    uint64_t conv;
    const char *q;
    int seq;
    const char *ems;
  } cases[] = {
      {10, "informatico", 3, "informática"},
      {10, "desaucio", 1, "desahucio"},
      {10, "año", 1, "año"},
      {13, "medica", 2, "médica"},
      {11, "\"piso de alquiler\"", 1, "piso de alquiler"},
      {11, "imposibles", 1, "imposibles"},
      {12, "viv", 1, "Vivimos"},
      {12, "casa campo", 1, "casa|campo"},
      {13, "urgente", 2, "urgente"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *out = NULL;
    cs_engine_error err;
    int rc = cs_engine_conversation(engine, &ADMIN, cases[i].conv, cases[i].q, &out, &err);
    th_check(rc == 0, "conversation %" PRIu64 " q=%s: %s", cases[i].conv, cases[i].q, err.message);
    if (rc) continue;
    json_t *plain = NULL;
    rc = cs_engine_conversation(engine, &ADMIN, cases[i].conv, NULL, &plain, &err);
    th_check(rc == 0, "conversation %" PRIu64 " without q", cases[i].conv);
    size_t k;
    json_t *seg;
    json_array_foreach(json_object_get(out, "segments"), k, seg) {
      const char *html = json_string_value(json_object_get(seg, "text"));
      const char *orig = json_string_value(
          json_object_get(json_array_get(json_object_get(plain, "segments"), k), "text"));
      char back[4096];
      unhtml(html, back, sizeof back);
      th_check(orig && !strcmp(back, orig),
               "q=%s seg %zu: HTML does not undo to the text:\n  %s\n  %s", cases[i].q, k, back,
               orig ? orig : "(null)");
      if (json_integer_value(json_object_get(seg, "seq")) == cases[i].seq) {
        char ems[1024];
        em_list(html, ems, sizeof ems);
        th_check(!strcmp(ems, cases[i].ems), "q=%s seq %d: highlighted [%s], expected [%s] in %s",
                 cases[i].q, cases[i].seq, ems, cases[i].ems, html);
      }
    }
    json_decref(out);
    json_decref(plain);
  }
  /* Escaping: & < > in the stored text, plain JSON text without q. */
  json_t *out = NULL;
  cs_engine_error err;
  if (cs_engine_conversation(engine, &ADMIN, 11, "alquiler", &out, &err) == 0) {
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(out, "segments"), 1), "text"));
    th_check(t && strstr(t, "&amp; imposibles &lt;para mí&gt;") && strstr(t, "<em>alquiler</em>"),
             "escaping: %s", t ? t : "(null)");
    json_decref(out);
  }
  if (cs_engine_conversation(engine, &ADMIN, 11, NULL, &out, &err) == 0) {
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(out, "segments"), 1), "text"));
    th_check(t && strstr(t, "& imposibles <para mí>"), "plain text: %s", t ? t : "(null)");
    json_t *seg0 = json_array_get(json_object_get(out, "segments"), 0);
    th_check(json_is_null(json_object_get(seg0, "start_ms")), "unknown start_ms is null");
    json_decref(out);
  }
  /* Snippet windows of a long turn: cut at characters, marked with "…",
   * and still the original bytes. */
  cs_search_params p;
  params_init(&p, "juzgado desahucio");
  json_t *res = run(&ADMIN, &p, &err);
  json_t *h = res ? find_hit(res, 14) : NULL;
  th_check(h != NULL, "long turn found");
  if (h) {
    json_t *sn = json_array_get(json_object_get(h, "snippets"), 0);
    const char *t = json_string_value(json_object_get(sn, "text"));
    th_check(t && strlen(t) < 420 && strstr(t, "\xE2\x80\xA6"), "window with marks: %s",
             t ? t : "(none)");
    th_check(t && strstr(t, "<em>desahucio</em>") && strstr(t, "<em>juzgado</em>"),
             "window holds the matches: %s", t ? t : "(none)");
    json_t *plain = NULL;
    cs_engine_conversation(engine, &ADMIN, 14, NULL, &plain, &err);
    const char *orig = json_string_value(
        json_object_get(json_array_get(json_object_get(plain, "segments"), 0), "text"));
    char back[4096];
    unhtml(t ? t : "", back, sizeof back);
    th_check(orig && strstr(orig, back), "window is a substring of the turn: [%s]", back);
    json_decref(plain);
  }
  json_decref(res);
}

/* Two employees, each sees only their own people: hits, totals, snippets,
 * the conversation view, and filters pointing at someone else's. */
static void test_portal_isolation(void) {
  cs_caller a = {CS_CALLER_PORTAL, 100}, b = {CS_CALLER_PORTAL, 200},
            nobody = {CS_CALLER_PORTAL, 0};
  const char *qs[] = {"vivienda", "desahucio", "casa", "ayuda", "año", "viv", "", "médico OR luz"};
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    cs_search_params p;
    params_init(&p, qs[i]);
    cs_engine_error err;
    json_t *ra = run(&a, &p, &err), *rb = run(&b, &p, &err), *all = run(&ADMIN, &p, &err),
           *rn = run(&nobody, &p, &err);
    th_check(ra && rb && all && rn, "portal search q=%s", qs[i]);
    if (!ra || !rb || !all || !rn) continue;
    size_t k;
    json_t *h;
    json_array_foreach(json_object_get(ra, "hits"), k, h) {
      th_check(json_integer_value(json_object_get(h, "owner_id")) == 100 ||
                   json_integer_value(json_object_get(h, "patient_id")) <= 2,
               "caller 100 sees conversation %" JSON_INTEGER_FORMAT,
               json_integer_value(json_object_get(h, "conversation_id")));
      uint64_t pid = (uint64_t)json_integer_value(json_object_get(h, "patient_id"));
      th_check(pid == 1 || pid == 2, "caller 100 sees patient %" PRIu64, pid);
    }
    json_array_foreach(json_object_get(rb, "hits"), k, h) {
      uint64_t pid = (uint64_t)json_integer_value(json_object_get(h, "patient_id"));
      th_check(pid == 3 || pid == 4, "caller 200 sees patient %" PRIu64, pid);
    }
    json_int_t ta = json_integer_value(json_object_get(ra, "total")),
               tb = json_integer_value(json_object_get(rb, "total")),
               tall = json_integer_value(json_object_get(all, "total"));
    th_check(ta + tb == tall, "q=%s: totals %d + %d != %d", qs[i], (int)ta, (int)tb, (int)tall);
    th_check(json_integer_value(json_object_get(rn, "total")) == 0, "employee 0 sees nothing");
    json_decref(ra);
    json_decref(rb);
    json_decref(all);
    json_decref(rn);
  }
  /* Filters cannot reach around the rule. */
  cs_search_params p;
  params_init(&p, "vivienda");
  p.patient = 3;
  cs_engine_error err;
  json_t *r = run(&a, &p, &err);
  th_check(r && json_integer_value(json_object_get(r, "total")) == 0, "patient filter of another");
  json_decref(r);
  params_init(&p, "");
  p.conversation = 12;
  r = run(&a, &p, &err);
  th_check(r && json_integer_value(json_object_get(r, "total")) == 0,
           "conversation filter of another");
  json_decref(r);
  /* Conversation view: someone else's is "not found", exactly like a
   * missing one. */
  json_t *out = NULL;
  cs_engine_error e1, e2;
  int rc1 = cs_engine_conversation(engine, &a, 12, "casa", &out, &e1);
  int rc2 = cs_engine_conversation(engine, &a, 999, NULL, &out, &e2);
  th_check(rc1 == -1 && e1.status == 404 && rc2 == -1 && e2.status == 404 &&
               !strcmp(e1.code, e2.code) && !strcmp(e1.message, e2.message),
           "someone else's conversation is a plain 404");
  th_check(cs_engine_conversation(engine, &a, 10, "casa", &out, &e1) == 0, "own conversation");
  json_decref(out);
  th_check(cs_engine_conversation(engine, &b, 12, NULL, &out, &e1) == 0, "own conversation (200)");
  json_decref(out);
}

/* Analysts: pseudonymised names, no contact fields anywhere. */
static void test_analyst(void) {
  cs_caller an = {CS_CALLER_ANALYST, 0};
  cs_search_params p;
  params_init(&p, "vivienda");
  cs_engine_error err;
  json_t *r = run(&an, &p, &err);
  th_check(r != NULL, "analyst search");
  if (!r) return;
  char *dump = json_dumps(r, 0);
  th_check(dump && !strstr(dump, "@example.org") && !strstr(dump, "600111222") &&
               !strstr(dump, "García"),
           "analyst response holds no contact fields nor names: %s", dump);
  json_t *h = json_array_get(json_object_get(r, "hits"), 0);
  const char *name = json_string_value(json_object_get(h, "patient_name"));
  th_check(name && !strncmp(name, "Persona ", 8), "pseudonym: %s", name ? name : "(null)");
  free(dump);
  json_decref(r);
  r = run(&ADMIN, &p, &err);
  dump = r ? json_dumps(r, 0) : NULL;
  th_check(dump && !strstr(dump, "@example.org"), "no e-mail for admins either");
  free(dump);
  json_decref(r);
  json_t *out = NULL;
  th_check(cs_engine_conversation(engine, &an, 10, "vivienda", &out, &err) == 0,
           "analyst conversation view");
  dump = out ? json_dumps(out, 0) : NULL;
  th_check(dump && !strstr(dump, "@example.org") && !strstr(dump, "600111222") &&
               !strstr(dump, "García"),
           "analyst conversation view holds no contact fields: %s", dump ? dump : "");
  free(dump);
  json_decref(out);
}

/* The conversations caller c sees of person id (a search filtered on
 * them), as a space-separated list; "" when none. */
static void person_convs(const cs_caller *c, uint64_t id, char *out, size_t cap) {
  cs_search_params p;
  params_init(&p, "");
  p.patient = id;
  p.limit = 50;
  cs_engine_error err;
  json_t *r = run(c, &p, &err);
  out[0] = 0;
  if (r) hit_ids(r, out, cap);
  if (!strcmp(out, "-")) out[0] = 0;
  json_decref(r);
}

/* Whether a search for text by c holds every conversation of ids. */
static int search_holds(const cs_caller *c, const char *text, const char *ids, char *got,
                        size_t cap) {
  cs_search_params p;
  params_init(&p, text);
  p.limit = 50;
  cs_engine_error err;
  json_t *r = run(c, &p, &err);
  snprintf(got, cap, "%s", r ? "" : err.message);
  if (!r) return 0;
  hit_ids(r, got, cap);
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", ids);
  int ok = 1;
  for (char *tok = strtok(tmp, " "); tok; tok = strtok(NULL, " "))
    ok &= id_in(r, strtoull(tok, NULL, 10));
  json_decref(r);
  return ok;
}

/* A suggestion never leads to an empty search: for every person that
 * suggest offers a caller, for many prefixes, searching the suggestion's
 * text finds that person's conversations (all those the caller sees). The
 * pseudonym an analyst is shown finds the person too; a real name typed by
 * an analyst, or someone else's person's name typed by a portal caller,
 * finds nothing through the name. */
static void test_person_names(void) {
  const cs_caller callers[] = {
      ADMIN, {CS_CALLER_PORTAL, 100}, {CS_CALLER_PORTAL, 200}, {CS_CALLER_ANALYST, 0}};
  const char *prefixes[] = {"a",   "an", "g", "ga", "l", "lu", "lo", "ló", "m",  "ma",
                            "mar", "n",  "ñ", "ño", "p", "pé", "pe", "r",  "ru", "persona"};
  int offered = 0;
  for (size_t ci = 0; ci < sizeof callers / sizeof callers[0]; ci++) {
    for (size_t pi = 0; pi < sizeof prefixes / sizeof prefixes[0]; pi++) {
      json_t *sug = NULL;
      cs_engine_error err;
      if (cs_engine_suggest(engine, &callers[ci], prefixes[pi], 20, &sug, &err)) {
        th_check(0, "suggest %s: %s", prefixes[pi], err.message);
        continue;
      }
      size_t k;
      json_t *it;
      json_array_foreach(json_object_get(sug, "suggestions"), k, it) {
        if (strcmp(json_string_value(json_object_get(it, "kind")), "person")) continue;
        const char *text = json_string_value(json_object_get(it, "text"));
        uint64_t id = (uint64_t)json_integer_value(json_object_get(it, "id"));
        char want[256], got[512];
        person_convs(&callers[ci], id, want, sizeof want);
        if (!want[0]) continue; /* nobody to find */
        offered++;
        th_check(search_holds(&callers[ci], text, want, got, sizeof got),
                 "caller %d/%" PRIu64 ": suggestion [%s] (person %" PRIu64
                 ", conversations %s) searched: got [%s]",
                 callers[ci].role, callers[ci].employee_id, text, id, want, got);
      }
      json_decref(sug);
    }
  }
  th_check(offered >= 4, "suggestions offered people with conversations: %d", offered);

  /* Analysts: the pseudonym shown in a hit finds that person's others. */
  const cs_caller an = {CS_CALLER_ANALYST, 0};
  cs_search_params p;
  params_init(&p, "revisión");
  cs_engine_error err;
  json_t *r = run(&an, &p, &err);
  const char *pseudo = json_string_value(
      json_object_get(json_array_get(json_object_get(r, "hits"), 0), "patient_name"));
  char got[512];
  th_check(pseudo && search_holds(&an, pseudo, "10 14", got, sizeof got),
           "analyst: pseudonym [%s] finds 10 and 14: got [%s]", pseudo ? pseudo : "(none)", got);
  json_decref(r);
  th_check(!search_holds(&an, "Ana García", "10", got, sizeof got),
           "analyst: a real name finds nothing through the name: got [%s]", got);
  const cs_caller p200 = {CS_CALLER_PORTAL, 200};
  th_check(!search_holds(&p200, "Ana García", "10", got, sizeof got),
           "portal 200: another employee's person's name finds nothing: got [%s]", got);
}

/* A relaxed query stays relaxed, and consistent, on later pages. */
static void test_relaxed_pages(void) {
  cs_search_params p;
  cs_engine_error err;
  params_init(&p, "desahucio zzzzqqq ");
  p.limit = 1;
  char cur[CS_CURSOR_MAX + 1] = "";
  int seen = 0, pages = 0;
  for (;;) {
    p.cursor = cur[0] ? cur : NULL;
    json_t *r = run(&ADMIN, &p, &err);
    if (!r) {
      th_check(0, "relaxed page: %s", err.message);
      return;
    }
    th_check(json_is_true(json_object_get(r, "relaxed")), "page %d is relaxed", pages);
    th_check(json_integer_value(json_object_get(r, "total")) == 3, "relaxed total on page %d",
             pages);
    seen += (int)json_array_size(json_object_get(r, "hits"));
    const char *nc = json_string_value(json_object_get(r, "next_cursor"));
    pages++;
    if (!nc || pages > 5) {
      json_decref(r);
      break;
    }
    snprintf(cur, sizeof cur, "%s", nc);
    json_decref(r);
  }
  th_check(seen == 3 && pages == 3, "relaxed walk: %d hits in %d pages", seen, pages);
}

static void test_errors(void) {
  cs_search_params p;
  cs_engine_error err;
  params_init(&p, "vivienda");
  p.cursor = "not a cursor!";
  json_t *r = run(&ADMIN, &p, &err);
  th_check(!r && err.status == 400 && !strcmp(err.code, "bad_cursor"), "malformed cursor: %s",
           err.code);
  p.cursor = "MXwwfDB8MHgwcCswfDB8MHwxfDB8MA";
  r = run(&ADMIN, &p, &err);
  th_check(!r && !strcmp(err.code, "bad_cursor"), "forged cursor: %s", err.code);
  /* A cursor of another query. */
  params_init(&p, "");
  p.limit = 1;
  r = run(&ADMIN, &p, &err);
  const char *c = r ? json_string_value(json_object_get(r, "next_cursor")) : NULL;
  th_check(c != NULL, "a first page has a cursor");
  char cur[CS_CURSOR_MAX + 1];
  snprintf(cur, sizeof cur, "%s", c ? c : "");
  json_decref(r);
  params_init(&p, "vivienda");
  p.limit = 1;
  p.cursor = cur;
  r = run(&ADMIN, &p, &err);
  th_check(!r && !strcmp(err.code, "bad_cursor"), "cursor of another query: %s", err.code);
  char big[2100];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  params_init(&p, big);
  r = run(&ADMIN, &p, &err);
  th_check(!r && !strcmp(err.code, "bad_query"), "query too long");
  char many[1024] = "";
  for (int i = 0; i < 40; i++)
    strcat(many, "palabra ");
  params_init(&p, many);
  r = run(&ADMIN, &p, &err);
  th_check(!r && !strcmp(err.code, "bad_query") && strstr(err.message, "too many"),
           "too many terms: %s", err.message);
  /* Hostile bytes never crash. */
  const char *odd[] = {"\xff\xfe", "((((((((((((((((((((((((((((((x",
                       "\"",       "*",
                       "~",        "-",
                       "OR",       "a:b:c",
                       "title:",   "speaker:",
                       "\"\"",     "x*~*~",
                       "( )",      "))",
                       "\xc3"};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    params_init(&p, odd[i]);
    r = run(&ADMIN, &p, &err);
    th_check(r || err.status == 400, "odd query %zu gives a result or a 400", i);
    json_decref(r);
  }
}

/* Walks all pages of a query; returns the number of hits, marking ids seen
 * in seen[id] (counts). Between pages, calls between(page). */
static int walk_pages(const cs_caller *c, const char *q, int sort, uint32_t limit, int *seen,
                      size_t nseen, json_int_t *total, void (*between)(int page)) {
  char cur[CS_CURSOR_MAX + 1] = "";
  int n = 0, page = 0;
  *total = -1;
  for (;;) {
    cs_search_params p;
    params_init(&p, q);
    p.limit = limit;
    p.sort = sort;
    p.cursor = cur[0] ? cur : NULL;
    cs_engine_error err;
    json_t *r = run(c, &p, &err);
    if (!r) {
      th_check(0, "page %d of q=%s: %s %s", page, q, err.code, err.message);
      return n;
    }
    json_int_t t = json_integer_value(json_object_get(r, "total"));
    if (*total < 0) *total = t;
    th_check(t == *total, "q=%s page %d: total changed %d -> %d", q, page, (int)*total, (int)t);
    size_t k;
    json_t *h;
    json_array_foreach(json_object_get(r, "hits"), k, h) {
      json_int_t id = json_integer_value(json_object_get(h, "conversation_id"));
      if (id >= 0 && (size_t)id < nseen) seen[id]++;
      n++;
    }
    const char *nc = json_string_value(json_object_get(r, "next_cursor"));
    if (!nc) {
      json_decref(r);
      break;
    }
    th_check(strlen(nc) <= CS_CURSOR_MAX, "cursor length %zu", strlen(nc));
    snprintf(cur, sizeof cur, "%s", nc);
    json_decref(r);
    if (between) between(page);
    if (++page > 200) {
      th_check(0, "paging does not end");
      break;
    }
  }
  return n;
}

static char paging_file[PATH_MAX];
static int next_new_id = 900;

/* Adds two conversations that match the paging query strongly, as new
 * transcripts arriving while someone pages. */
static void add_conversations(int page) {
  (void)page;
  FILE *f = fopen(paging_file, "w");
  if (!f) die("%s: %s", paging_file, strerror(errno));
  for (int k = 0; k < 2; k++) {
    int id = next_new_id++;
    fprintf(f, "conv %d 5 300 2025-0%d-15 | Nueva ayuda %d |\n", id, 1 + k, id);
    fprintf(f, "turn 0 beneficiary - - Nuevo | ayuda ayuda ayuda urgente, necesito ayuda\n");
    fprintf(f, "turn 1 beneficiary - - Nuevo | ayuda\n");
  }
  fclose(f);
  spawn_write(index_dir, paging_file);
}

static void test_paging(const char *tmp) {
  /* 30 conversations about "ayuda" with varied strength and dates. */
  snprintf(paging_file, sizeof paging_file, "%s/paging.txt", tmp);
  FILE *f = fopen(paging_file, "w");
  if (!f) die("%s: %s", paging_file, strerror(errno));
  fprintf(f, "patient 5 300 Persona de prueba\n");
  for (int i = 0; i < 30; i++) {
    fprintf(f, "conv %d 5 300 2023-%02d-%02d | Caso %d |\n", 500 + i, 1 + i % 12, 1 + i % 28, i);
    fprintf(f, "turn 0 interviewer - - Entrevistadora | ¿Qué ayuda necesita?\n");
    fprintf(f, "turn 1 beneficiary - - Persona |");
    for (int k = 0; k <= i % 5; k++)
      fprintf(f, " ayuda");
    fprintf(f, " con el alquiler y la comida %d\n", i);
    if (i % 3 == 0) fprintf(f, "turn 2 beneficiary - - Persona | pedí ayuda urgente otra vez\n");
  }
  fclose(f);
  spawn_write(index_dir, paging_file);

  cs_caller owner = {CS_CALLER_PORTAL, 300};
  int sorts[] = {CS_SORT_RELEVANCE, CS_SORT_DATE_DESC, CS_SORT_DATE_ASC};
  for (size_t s = 0; s < 3; s++) {
    int seen[1000];
    memset(seen, 0, sizeof seen);
    json_int_t total;
    int before = 30 + (next_new_id - 900);
    int n = walk_pages(&owner, "ayuda", sorts[s], 4, seen, 1000, &total, add_conversations);
    int missing = 0, twice = 0;
    for (int i = 500; i < 530; i++) {
      missing += seen[i] == 0;
      twice += seen[i] > 1;
    }
    int newer = 0;
    for (int i = 900; i < 1000; i++)
      newer += seen[i];
    th_check(missing == 0 && twice == 0 && n == (int)total,
             "paging sort %d: %d hits of total %d, %d missing, %d twice, %d new", sorts[s], n,
             (int)total, missing, twice, newer);
    th_check(total == before, "sort %d: total %d at the start of the walk, expected %d", sorts[s],
             (int)total, before);
    th_check(next_new_id - 900 >= 2 * 7 * (int)(s + 1), "conversations were added while paging");
  }
  /* A fresh search sees the new ones. */
  cs_search_params p;
  params_init(&p, "ayuda");
  cs_engine_error err;
  json_t *r = run(&owner, &p, &err);
  th_check(r && json_integer_value(json_object_get(r, "total")) == 30 + (next_new_id - 900),
           "new conversations seen");
  /* The strongest new ones rank first. */
  json_t *h0 = r ? json_array_get(json_object_get(r, "hits"), 0) : NULL;
  th_check(h0 && json_integer_value(json_object_get(h0, "conversation_id")) >= 900,
           "a new strong match ranks first");
  json_decref(r);
}

/* Ownership follows the person's current owner. */
static void test_owner_change(const char *tmp) {
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "owner.txt");
  fprintf(f, "patient 4 100 Ñoño Ruiz | nono@example.org | 600777888\n");
  fclose(f);
  spawn_write(index_dir, path);
  cs_caller a = {CS_CALLER_PORTAL, 100}, b = {CS_CALLER_PORTAL, 200};
  cs_search_params p;
  params_init(&p, "urgente");
  cs_engine_error err;
  json_t *ra = run(&a, &p, &err), *rb = run(&b, &p, &err);
  th_check(ra && id_in(ra, 13), "new owner sees the person's conversation");
  th_check(rb && !id_in(rb, 13), "old owner no longer does");
  json_decref(ra);
  json_decref(rb);
  json_t *out = NULL;
  th_check(cs_engine_conversation(engine, &b, 13, NULL, &out, &err) == -1 && err.status == 404,
           "old owner gets 404");
  f = fopen(path, "w");
  fprintf(f, "patient 4 200 Ñoño Ruiz | nono@example.org | 600777888\n");
  fclose(f);
  spawn_write(index_dir, path);
}

/* Pruning is exact: with it and without it (every match scored) the pages
 * are identical, hits, order, scores and snippets alike. The corpus has
 * long conversations (300 turns, several postings chunks each) so that both
 * the conversation bounds and the chunk skipping inside a conversation
 * come into play. */
/* Query q for caller c (page of `limit`, totals exact up to `bound`,
 * ranking parameters `rank`, NULL: the defaults) pruned, then
 * exhaustively scored: both pages (took_ms removed) in
 * *pruned and *full, the pruned walk's counters added to o_ruled,
 * o_passed and o_exact (may be NULL). 0 when both ran. */
static int pruned_and_full(const char *q, const cs_caller *c, uint32_t limit, uint64_t bound,
                           uint64_t *o_ruled, uint64_t *o_passed, uint64_t *o_exact,
                           json_t **pruned, json_t **full, const cs__rank_params *rank) {
  cs_view v;
  cs_engine_error err;
  if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
  cs_analyzer *a = cs__analyzer_get();
  cs_search_params p;
  params_init(&p, q);
  p.limit = limit;
  cs__search_opts o;
  cs__search_defaults(&o);
  if (rank) o.rank = *rank;
  o.total_bound = bound;
  o.ruled_out = o_ruled;
  o.chunks_passed = o_passed;
  o.exact_skips = o_exact;
  *pruned = *full = NULL;
  int rc1 = cs__search(v.r, a, c, &p, &o, pruned, &err);
  o.ruled_out = NULL;
  o.chunks_passed = NULL;
  o.exact_skips = NULL;
  o.exhaustive = 1;
  int rc2 = cs__search(v.r, a, c, &p, &o, full, &err);
  cs__analyzer_put(a);
  cs_view_end(engine, &v);
  if (rc1 || rc2) {
    json_decref(*pruned);
    json_decref(*full);
    return -1;
  }
  json_object_del(*pruned, "took_ms");
  json_object_del(*full, "took_ms");
  return 0;
}

/* One clause of several variants (here a prefix; a search-box word and its
 * typo variants alike) in long conversations (CS__LONG_CONV) is bounded
 * by its chunks ahead and their conversation bounds, summed over the
 * variants (bounds.c): four sittings of 300 alike turns, so that each
 * bound is about the sitting's score itself. The strongest comes third,
 * once the page (and the one hit past it) is full: a bound below its score
 * would rule it out and the page would show another (a mutation halving
 * the block bound's share is caught). Its own person and employee (403),
 * so that the other tests' statistics do not move. */
static void test_variant_bounds(const char *tmp) {
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "variants.txt");
  /* Words of different stems (a prefix's variants are stems), of one
   * length and in as many turns, so that their variants weigh the same. */
  static const char *turn[] = {"quimera quimera quimera relleno", "quiosco quiosco relleno",
                               "quintal quintal quintal",
                               "quiebra relleno relleno relleno relleno relleno relleno"};
  fprintf(f, "patient 9 403 Persona de las quimeras\n");
  for (int c = 0; c < 4; c++) {
    fprintf(f, "conv %d 9 403 2012-0%d-10 | |\n", 9700 + c, 1 + c);
    for (int t = 0; t < 300; t++)
      fprintf(f, "turn %d other - - Voz | %s\n", t, turn[c]);
  }
  fclose(f);
  spawn_write(index_dir, path);
  cs_caller owner = {CS_CALLER_PORTAL, 403};
  const cs_caller *callers[] = {&owner, &ADMIN};
  /* The second has several clauses (the bound as before), for comparison. */
  const char *qs[] = {"qui* ", "quin* OR quim* OR quie* "};
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    for (uint32_t limit = 1; limit <= 2; limit++) {
      for (size_t c = 0; c < 2; c++) {
        json_t *pruned, *full;
        int rc =
            pruned_and_full(qs[i], callers[c], limit, 0, NULL, NULL, NULL, &pruned, &full, NULL);
        th_check(rc == 0, "variant bounds q=%s", qs[i]);
        if (rc) continue;
        char *a1 = json_dumps(pruned, JSON_SORT_KEYS), *a2 = json_dumps(full, JSON_SORT_KEYS);
        th_check(a1 && a2 && !strcmp(a1, a2),
                 "q=[%s] limit %u caller %zu: pruned and exhaustive differ:\n%s\n%s", qs[i], limit,
                 c, a1, a2);
        th_check(json_array_size(json_object_get(full, "hits")) == limit,
                 "q=[%s] limit %u: a full page", qs[i], limit);
        /* What a user sees: the sitting of the strongest turns on top. */
        json_t *top = json_array_get(json_object_get(pruned, "hits"), 0);
        th_check(json_integer_value(json_object_get(top, "conversation_id")) == 9702,
                 "q=[%s] limit %u caller %zu: the strongest sitting first", qs[i], limit, c);
        free(a1);
        free(a2);
        json_decref(pruned);
        json_decref(full);
      }
    }
  }
}

/* Writes sittings [from, to) of test_whole_conv_bounds (ids 13000 + c) in
 * batch file `name`, after deleting `del` (0: none): 200 turns each; those
 * whose c % 40 is below 12 say the word three times in one turn and twice in
 * another, 32 three times in its first turn and its last two (the best), the
 * others three times in one turn only, and "zorzalito" instead in every
 * fifth (a prefix's second variant). */
static void write_sittings(const char *tmp, const char *name, int from, int to, int del) {
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "%s", name);
  if (from == 0) fprintf(f, "patient 15 409 Persona de los pinzones\n");
  if (del) fprintf(f, "delete %d\n", del);
  for (int c = from; c < to; c++) {
    int k = c % 40;
    fprintf(f, "conv %d 15 409 2015-02-10 | |\n", 13000 + c);
    for (int t = 0; t < 200; t++) {
      int tf = 1;
      if (k < 12)
        tf = t == 7 ? 3 : t == 90 ? 2 : 1;
      else if (k == 32)
        tf = t == 0 || t >= 198 ? 3 : 1;
      else
        tf = t == 7 ? 3 : 1;
      const char *word = k >= 12 && k != 32 && t % 5 == 4 ? "zorzalito" : "zorzal";
      fprintf(f, "turn %d other - - Voz |", t);
      for (int w = 0; w < 4; w++)
        fprintf(f, " %s", w < tf ? word : "relleno");
      fprintf(f, "\n");
    }
  }
  fclose(f);
  spawn_write(index_dir, path);
}

/* test_whole_conv_bounds' check of query q: the pruned page equals
 * exhaustive scoring and shows `best` first; returns the sittings the
 * pruned search scored, and the exhaustive one's in *all. */
static uint64_t whole_bounds_page(const char *q, uint64_t bound, uint64_t best, uint64_t *all) {
  cs_view v;
  cs_engine_error err;
  if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
  cs_analyzer *a = cs__analyzer_get();
  uint64_t scored[2] = {0, 0};
  char *text[2] = {NULL, NULL};
  for (int full = 0; full < 2; full++) {
    cs_search_params p;
    params_init(&p, q);
    p.limit = 10;
    cs__search_opts o;
    cs__search_defaults(&o);
    o.total_bound = bound;
    o.exhaustive = full;
    o.scored = &scored[full];
    json_t *res = NULL;
    if (cs__search(v.r, a, &ADMIN, &p, &o, &res, &err) == 0) {
      json_object_del(res, "took_ms");
      json_object_del(res, "total");
      json_object_del(res, "total_exact");
      text[full] = json_dumps(res, JSON_SORT_KEYS);
      json_t *top = json_array_get(json_object_get(res, "hits"), 0);
      th_check(json_integer_value(json_object_get(top, "conversation_id")) == (json_int_t)best,
               "q=[%s] bound %u: the sitting saying it three times in three turns (%u) first", q,
               (unsigned)bound, (unsigned)best);
    }
    json_decref(res);
  }
  cs__analyzer_put(a);
  cs_view_end(engine, &v);
  th_check(text[0] && text[1] && !strcmp(text[0], text[1]),
           "q=[%s] bound %u: pruned and exhaustive differ:\n%s\n%s", q, (unsigned)bound,
           text[0] ? text[0] : "", text[1] ? text[1] : "");
  free(text[0]);
  free(text[1]);
  *all = scored[1];
  return scored[0];
}

/* A frequent word in long conversations (CS__LONG_CONV), each holding it
 * in 200 turns, so across two chunks or more: the chunk a conversation's
 * documents begin in bounds its whole score (cbound.h, format 12), and a
 * conversation that cannot make the page is not scored, where the sum of
 * its chunks' bounds let it through. Twelve sittings say it three times in
 * one turn and twice in another (the page's threshold), twenty after them
 * three times in one turn only (ruled out), and the last three times in its
 * first turn and its last two (the best). Its first turn is in another chunk
 * than its last two: bounded by its first chunk's part, as each chunk was
 * before, it would be ruled out, and the page would lack its best sitting.
 * Then a second batch (its first documents merged into the word's last
 * chunk), with another best sitting, and a third that deletes the first
 * best (its chunks rewritten without it): the pages still equal exhaustive
 * scoring, for the word and for a prefix of two variants. Admin caller:
 * the averages the bounds were made with. */
static void test_whole_conv_bounds(const char *tmp) {
  write_sittings(tmp, "sittings1.txt", 0, 33, 0);
  uint64_t bounds[] = {1000, 10};
  for (size_t b = 0; b < 2; b++) {
    uint64_t all, scored = whole_bounds_page("zorzal ", bounds[b], 13032, &all);
    th_check(all == 33 && scored <= 14,
             "bound %u: %u sittings scored of 33, want at most 14 (the twenty after the page "
             "ruled out by their first chunk's bound)",
             (unsigned)bounds[b], (unsigned)scored);
  }
  write_sittings(tmp, "sittings2.txt", 33, 73, 0);
  write_sittings(tmp, "sittings3.txt", 73, 74, 13032);
  const char *qs[] = {"zorzal ", "zorz"};
  for (size_t i = 0; i < 2; i++) {
    for (size_t b = 0; b < 2; b++) {
      uint64_t all;
      (void)whole_bounds_page(qs[i], bounds[b], 13072, &all);
      th_check(all == 73, "q=[%s]: the 73 sittings left scored exhaustively (%u)", qs[i],
               (unsigned)all);
    }
  }
}

/* While counting (up to the bound), runs of conversations that cannot make
 * the page are ruled out at once and counted (skip.c, cs__skip_run), and
 * counting stops where it would have conversation by conversation: over
 * 300 conversations alike in size, of which 50 are counted, the estimate
 * is the total itself. The 20 strong ones come first, so that the page is
 * made early and the rest, in runs, cannot enter it, but for one (12150)
 * that says the word as often as they do in three turns: the strongest of
 * all, bounded by its chunks' conversation bounds, which a bound of its
 * best document alone would miss. A run that counted one conversation past
 * the bound, or that let the walk stop counting where the run ended rather
 * than after the last one counted, would estimate 306 or less than 300;
 * one that took a word in a turn for the same word in a title would count
 * conversations that do not match. Its own person and employee (407). */
static void test_count_in_runs(const char *tmp) {
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "counted.txt");
  fprintf(f, "patient 13 407 Persona de los yunques\n");
  /* A title and three turns of 8 words each, so that every conversation
   * has as many documents. */
  for (int c = 0; c < 300; c++) {
    int x = c == 150, strong = c < 20;
    const char *title = c % 2    ? "Martillo uno dos"
                        : c < 40 ? "Bigornia bigornia bigornia"
                                 : "Bigornia uno dos";
    fprintf(f, "conv %d 13 407 2014-01-10 | %s |\n", 12000 + c, title);
    int k[3] = {strong || x ? 6 : 1, x ? 6 : strong, x ? 6 : 0};
    for (int t = 0; t < 3; t++) {
      fprintf(f, "turn %d other - - Voz |", t);
      for (int w = 0; w < 8; w++)
        fprintf(f, " %s", w < k[t] ? "yunque" : t == 2 && w == 7 ? "bigornia" : "relleno");
      fprintf(f, "\n");
    }
  }
  fclose(f);
  spawn_write(index_dir, path);
  cs_caller owner = {CS_CALLER_PORTAL, 407};
  const char *qs[] = {"yunque ", "\"yunque\"", "yunque relleno", "yunque OR ausente"};
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    uint64_t ruled = 0;
    json_t *pruned, *full;
    int rc = pruned_and_full(qs[i], &owner, 10, 50, &ruled, NULL, NULL, &pruned, &full, NULL);
    th_check(rc == 0, "count in runs q=%s", qs[i]);
    if (rc) continue;
    json_int_t total = json_integer_value(json_object_get(pruned, "total"));
    th_check(!json_is_true(json_object_get(pruned, "total_exact")) && total == 300,
             "q=[%s]: estimated total %d (exact %d), want 300", qs[i], (int)total,
             json_is_true(json_object_get(pruned, "total_exact")));
    th_check(json_integer_value(json_object_get(full, "total")) == 300, "q=[%s]: 300 match", qs[i]);
    th_check(ruled > 0, "q=[%s]: runs ruled conversations out", qs[i]);
    json_t *top = json_array_get(json_object_get(pruned, "hits"), 0);
    th_check(json_integer_value(json_object_get(top, "conversation_id")) == 12150,
             "q=[%s]: the conversation saying it in three turns first", qs[i]);
    json_object_del(pruned, "total");
    json_object_del(full, "total");
    json_object_del(pruned, "total_exact");
    json_object_del(full, "total_exact");
    char *a1 = json_dumps(pruned, JSON_SORT_KEYS), *a2 = json_dumps(full, JSON_SORT_KEYS);
    th_check(a1 && a2 && !strcmp(a1, a2), "q=[%s]: pruned and exhaustive differ:\n%s\n%s", qs[i],
             a1, a2);
    free(a1);
    free(a2);
    json_decref(pruned);
    json_decref(full);
  }
  /* Other ranking constants than the conversation bounds were made with
   * (cbound.h; here titles and descriptions weigh as turns, which also
   * keeps a title's weight out of a block's bound): a run bounds each word
   * by cs__conv_bound of its block bound alone, which must still let 12150
   * (three turns as strong as the block's best) onto the page, counted to
   * the end or not (the block bound alone is below its score). */
  cs__rank_params rp;
  cs__rank_defaults(&rp);
  rp.k1 = 1.2;
  rp.kind_weight[CS_DOC_TITLE] = rp.kind_weight[CS_DOC_DESCRIPTION] = 1.0;
  for (uint64_t bound = 0; bound <= 50; bound += 50) {
    json_t *pruned, *full;
    int rc = pruned_and_full("yunque ", &owner, 10, bound, NULL, NULL, NULL, &pruned, &full, &rp);
    th_check(rc == 0, "count in runs, other constants");
    if (rc) continue;
    json_t *top = json_array_get(json_object_get(pruned, "hits"), 0);
    th_check(json_integer_value(json_object_get(top, "conversation_id")) == 12150,
             "other constants, bound %u: the conversation saying it in three turns first",
             (unsigned)bound);
    json_object_del(pruned, "total");
    json_object_del(full, "total");
    json_object_del(pruned, "total_exact");
    json_object_del(full, "total_exact");
    char *a1 = json_dumps(pruned, JSON_SORT_KEYS), *a2 = json_dumps(full, JSON_SORT_KEYS);
    th_check(a1 && a2 && !strcmp(a1, a2), "other constants, bound %u: pruned and exhaustive differ",
             (unsigned)bound);
    free(a1);
    free(a2);
    json_decref(pruned);
    json_decref(full);
  }
  /* Another person (408) of 60 conversations, whose last is only a title
   * saying the word: the word's last document is the last of the
   * person's, so the run that reaches the count also reaches the walk's
   * end. The estimate is still made (about 60), not the count itself. */
  f = corpus_create(path, tmp, "counted_end.txt");
  fprintf(f, "patient 14 408 Persona de las tenazas\n");
  for (int c = 0; c < 60; c++) {
    fprintf(f, "conv %d 14 408 2014-01-10 | %s |\n", 12500 + c,
            c < 59 ? "Charla" : "Yunque al final de todo");
    if (c == 59) continue;
    fprintf(f, "turn 0 other - - Voz |");
    for (int w = 0; w < 8; w++)
      fprintf(f, " %s", w < (c < 12 ? 8 : 1) ? "yunque" : "relleno");
    fprintf(f, "\n");
  }
  fclose(f);
  spawn_write(index_dir, path);
  cs_caller last = {CS_CALLER_PORTAL, 408};
  for (uint64_t bound = 20; bound <= 50; bound += 10) {
    json_t *p1, *f1;
    if (pruned_and_full("yunque ", &last, 10, bound, NULL, NULL, NULL, &p1, &f1, NULL)) {
      th_check(0, "count in runs to the end, bound %u", (unsigned)bound);
      continue;
    }
    json_int_t est = json_integer_value(json_object_get(p1, "total"));
    th_check(!json_is_true(json_object_get(p1, "total_exact")) && est >= 58 && est <= 62 &&
                 json_integer_value(json_object_get(f1, "total")) == 60,
             "bound %u: estimated total %d (exact %d), want about 60", (unsigned)bound, (int)est,
             json_is_true(json_object_get(p1, "total_exact")));
    json_decref(p1);
    json_decref(f1);
  }

  /* Counted to the end: a clause of the titles alone counts only the
   * conversations whose title holds the word, wherever else it is. */
  json_t *pruned, *full;
  int rc = pruned_and_full("title:bigornia", &owner, 10, 0, NULL, NULL, NULL, &pruned, &full, NULL);
  th_check(rc == 0, "count in runs, titles");
  if (rc) return;
  th_check(json_integer_value(json_object_get(pruned, "total")) == 150 &&
               json_integer_value(json_object_get(full, "total")) == 150,
           "title:bigornia: %d and %d conversations counted, want 150",
           (int)json_integer_value(json_object_get(pruned, "total")),
           (int)json_integer_value(json_object_get(full, "total")));
  json_decref(pruned);
  json_decref(full);
}

/* A person of their own (patient, owner) and 30 conversations from id
 * first on, each saying "trabajo" once beside filler: the word frequent in
 * the owner's scope. */
static void trabajo_fillers(FILE *f, int patient, int owner, int first) {
  fprintf(f, "patient %d %d Persona %d\n", patient, owner, patient);
  for (int c = 0; c < 30; c++) {
    fprintf(f, "conv %d %d %d 2011-%02d-10 | |\n", first + c, patient, owner, 1 + c % 12);
    fprintf(f, "turn 0 other - - Voz | hablamos del trabajo y del barrio\n");
    fprintf(f, "turn 1 other - - Voz | relleno de la entrevista %d\n", c);
  }
}

/* Typo and prefix matches never weigh more than the word typed (exec.c,
 * cap_variants), and a conversation holding the word is scored on the word
 * alone (score.c, held_exactly). Typing "trabajo", a conversation holding
 * it in two turns ranks above one holding it once beside a turn saying
 * "trabatada" (one edit from its stem), and that turn is not among the
 * second's snippets, nor highlighted in its conversation view. Typing the prefix "trab" (no exact
 * term), the rare "trabatada" (in one document: the highest idf of all, were it its own) does not
 * put the conversation saying only that above the one saying "trabajo" twice (the one saying both
 * may: the shorter turn). Its own person and employee (405), so that the other tests' statistics do
 * not move. */
static void test_typo_below_word(const char *tmp) {
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "typo_cap.txt");
  trabajo_fillers(f, 11, 405, 9600);
  fprintf(f, "conv 9630 11 405 2011-06-20 | |\n");
  fprintf(f, "turn 0 other - - Voz | busco trabajo\n");
  fprintf(f, "turn 1 other - - Voz | trabajo de noche\n");
  fprintf(f, "conv 9631 11 405 2011-06-21 | |\n");
  fprintf(f, "turn 0 other - - Voz | busco trabajo\n");
  fprintf(f, "turn 1 other - - Voz | no de trabatada no\n");
  fprintf(f, "conv 9632 11 405 2011-06-22 | |\n");
  fprintf(f, "turn 0 other - - Voz | no de trabatada no\n");
  fclose(f);
  spawn_write(index_dir, path);
  cs_caller owner = {CS_CALLER_PORTAL, 405};
  json_t *pruned, *full;
  int rc = pruned_and_full("trabajo", &owner, 3, 20, NULL, NULL, NULL, &pruned, &full, NULL);
  th_check(rc == 0, "trabajo: search");
  if (rc) return;
  json_t *hits = json_object_get(pruned, "hits");
  th_check(
      json_integer_value(json_object_get(json_array_get(hits, 0), "conversation_id")) == 9630 &&
          json_integer_value(json_object_get(json_array_get(hits, 1), "conversation_id")) == 9631,
      "trabajo: the word twice first, then the word beside its typo");
  int seen = 0;
  for (size_t i = 0; i < json_array_size(hits); i++) {
    json_t *h = json_array_get(hits, i);
    if (json_integer_value(json_object_get(h, "conversation_id")) != 9631) continue;
    json_t *sn = json_object_get(h, "snippets");
    for (size_t k = 0; k < json_array_size(sn); k++) {
      const char *t = json_string_value(json_object_get(json_array_get(sn, k), "text"));
      th_check(t && !strstr(t, "trabatada"), "trabajo: a snippet shows the typo: %s",
               t ? t : "(none)");
      seen += t && strstr(t, "<em>trabajo</em>");
    }
  }
  th_check(seen == 1, "trabajo: 9631's snippets show the word once (%d)", seen);
  json_decref(pruned);
  json_decref(full);
  /* The conversation view highlights as the search ranks: the word where
   * the conversation holds it, the typo match where it does not. */
  static const struct {
    uint64_t conv;
    size_t seg;
    const char *want, *never;
  } views[] = {{9631, 0, "<em>trabajo</em>", NULL},
               {9631, 1, NULL, "<em>"},
               {9632, 0, "<em>trabatada</em>", NULL}};
  for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
    json_t *out = NULL;
    cs_engine_error err;
    th_check(cs_engine_conversation(engine, &owner, views[i].conv, "trabajo", &out, &err) == 0,
             "conversation %llu", (unsigned long long)views[i].conv);
    const char *t = json_string_value(
        json_object_get(json_array_get(json_object_get(out, "segments"), views[i].seg), "text"));
    th_check(t && (!views[i].want || strstr(t, views[i].want)) &&
                 (!views[i].never || !strstr(t, views[i].never)),
             "conversation %llu, turn %zu: %s", (unsigned long long)views[i].conv, views[i].seg,
             t ? t : "(none)");
    json_decref(out);
  }
  rc = pruned_and_full("trab", &owner, 3, 20, NULL, NULL, NULL, &pruned, &full, NULL);
  th_check(rc == 0, "trab: search");
  if (rc) return;
  hits = json_object_get(pruned, "hits");
  int at9630 = -1, at9632 = -1;
  for (size_t i = 0; i < json_array_size(hits); i++) {
    json_int_t id = json_integer_value(json_object_get(json_array_get(hits, i), "conversation_id"));
    if (id == 9630) at9630 = (int)i;
    if (id == 9632) at9632 = (int)i;
  }
  th_check(at9630 >= 0 && (at9632 < 0 || at9630 < at9632),
           "trab: the word twice (at %d) above the rare match alone (at %d)", at9630, at9632);
  json_decref(pruned);
  json_decref(full);
}

/* An exclusion holds while the walk leaves the typed word's variants
 * behind (past the counting bound, a page all of the word's exact matches:
 * search_int.h, left_behind): typing "trabajo -vivien*", the conversation
 * holding the word most and "vivienda" (a prefix match of the exclusion,
 * not its exact term) stays out, and the page equals exhaustive scoring.
 * Its own person and employee (406). */
static void test_exclusion_past_bound(const char *tmp) {
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "exclusion.txt");
  trabajo_fillers(f, 12, 406, 9700);
  fprintf(f, "conv 9730 12 406 2010-06-20 | |\n");
  fprintf(f, "turn 0 other - - Voz | trabajo trabajo\n");
  fprintf(f, "turn 1 other - - Voz | busco vivienda\n");
  fprintf(f, "conv 9731 12 406 2010-06-21 | |\n"); /* a typo match: the word expands */
  fprintf(f, "turn 0 other - - Voz | no de trabatada no\n");
  fclose(f);
  spawn_write(index_dir, path);
  cs_caller owner = {CS_CALLER_PORTAL, 406};
  json_t *pruned, *full;
  int rc =
      pruned_and_full("trabajo -vivien*", &owner, 3, 20, NULL, NULL, NULL, &pruned, &full, NULL);
  th_check(rc == 0, "trabajo -vivien*: search");
  if (rc) return;
  th_check(!id_in(pruned, 9730), "trabajo -vivien*: the excluded conversation shows");
  char *a1 = json_dumps(json_object_get(pruned, "hits"), JSON_SORT_KEYS),
       *a2 = json_dumps(json_object_get(full, "hits"), JSON_SORT_KEYS);
  th_check(a1 && a2 && !strcmp(a1, a2), "trabajo -vivien*: pruned and exhaustive differ:\n%s\n%s",
           a1, a2);
  free(a1);
  free(a2);
  json_decref(pruned);
  json_decref(full);
}

/* A page of exact matches of one typo-tolerant word (tier 1): past the
 * counting bound, a conversation that can make it holds the word, scored on
 * the word alone (score.c, held_exactly), so the walk goes from one
 * conversation holding the word to the next, and past the word's chunks
 * whose bounds keep every conversation below the page (skip.c,
 * cs__exact_chunk_skip). Most conversations hold the word once in a long
 * turn. The page fills early with shorter turns holding it beside the typo
 * match; the strongest comes late, the word twice in a short turn, beside
 * one with the word once in a long turn and a turn of the typo match alone
 * (which does not lift it), and ones with the typo match alone (tier 0:
 * never above a conversation holding the word). Two hold the word twice in
 * a long turn (one beside the typo match). A person whose name does not
 * hold the word (a named person is searched apart). */
static void test_exact_tier_skip(const char *tmp) {
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "tier.txt");
  fprintf(f, "patient 10 404 Persona del estanque\n");
  for (int c = 0; c < 400; c++) {
    fprintf(f, "conv %d 10 404 2013-%02d-10 | |\n", 9800 + c, 1 + c % 12);
    const char *t0 = "tortuga relleno relleno relleno relleno relleno relleno relleno relleno "
                     "relleno relleno relleno relleno relleno relleno relleno";
    if (c == 1 || c == 3 || c == 5 || c == 7 || c == 9)
      t0 = "tortuga relleno relleno tortura relleno";
    if (c == 171)
      t0 = "tortuga tortuga relleno relleno relleno relleno relleno relleno relleno relleno "
           "relleno relleno";
    if (c == 250)
      t0 = "tortuga tortura tortuga tortura relleno relleno relleno relleno relleno relleno "
           "relleno relleno";
    if (c == 390) t0 = "tortuga tortuga tortura";
    if (c == 120 || c == 380 || c == 395) t0 = "tortura tortura tortura";
    fprintf(f, "turn 0 other - - Voz | %s\n", t0);
    if (c == 385 || c == 390)
      fprintf(f, "turn 1 other - - Voz | tortura tortura tortura\n");
    else
      fprintf(f, "turn 1 other - - Voz | relleno de la entrevista %d\n", c);
  }
  fclose(f);
  spawn_write(index_dir, path);
  cs_caller owner = {CS_CALLER_PORTAL, 404};
  const cs_caller *callers[] = {&owner, &ADMIN};
  for (size_t c = 0; c < 2; c++) {
    for (uint32_t limit = 1; limit <= 4; limit++) {
      json_t *pruned, *full;
      uint64_t skips = 0, ruled = 0, passed = 0;
      int rc = pruned_and_full("tortuga", callers[c], limit, 20, &ruled, &passed, &skips, &pruned,
                               &full, NULL);
      th_check(rc == 0, "tortuga limit %u caller %zu", limit, c);
      if (rc) continue;
      /* The same page (the totals differ: one is estimated). */
      json_t *hits = json_object_get(pruned, "hits");
      char *a1 = json_dumps(hits, JSON_SORT_KEYS),
           *a2 = json_dumps(json_object_get(full, "hits"), JSON_SORT_KEYS);
      th_check(a1 && a2 && !strcmp(a1, a2),
               "tortuga limit %u caller %zu: pruned and exhaustive differ:\n%s\n%s", limit, c, a1,
               a2);
      th_check(skips + ruled + passed > 0,
               "tortuga limit %u caller %zu: the exact word's conversations passed", limit, c);
      th_check(json_array_size(hits) == limit &&
                   json_integer_value(
                       json_object_get(json_array_get(hits, 0), "conversation_id")) == 10190,
               "tortuga limit %u caller %zu: the late strongest first", limit, c);
      for (size_t i = 0; i < json_array_size(hits); i++) {
        json_int_t id =
            json_integer_value(json_object_get(json_array_get(hits, i), "conversation_id"));
        th_check(id != 9920 && id != 10180 && id != 10195,
                 "tortuga: %lld holds only the typo match", (long long)id);
        th_check(id != 10185, "tortuga: the typo match's turn lifted 10185");
      }
      free(a1);
      free(a2);
      json_decref(pruned);
      json_decref(full);
    }
  }
  /* Two words, each the other's typo match: eight conversations hold both
   * exactly (the highest tier), the others one. A page of the eight (limit
   * up to 4 and the one past it) walks from one conversation holding both
   * to the next; a page of twelve takes conversations of one exact word
   * too (the word twice among them), the jumps then off. */
  static const uint32_t limits[] = {1, 4, 12};
  for (size_t c = 0; c < 2; c++) {
    for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
      uint32_t limit = limits[li];
      json_t *pruned, *full;
      uint64_t skips = 0;
      int rc = pruned_and_full("tortuga tortura", callers[c], limit, 20, NULL, NULL, &skips,
                               &pruned, &full, NULL);
      th_check(rc == 0, "tortuga tortura limit %u caller %zu", limit, c);
      if (rc) continue;
      json_t *hits = json_object_get(pruned, "hits");
      char *a1 = json_dumps(hits, JSON_SORT_KEYS),
           *a2 = json_dumps(json_object_get(full, "hits"), JSON_SORT_KEYS);
      th_check(a1 && a2 && !strcmp(a1, a2),
               "tortuga tortura limit %u caller %zu: pruned and exhaustive differ:\n%s\n%s", limit,
               c, a1, a2);
      th_check(json_array_size(hits) == limit &&
                   json_integer_value(
                       json_object_get(json_array_get(hits, 0), "conversation_id")) == 10190,
               "tortuga tortura limit %u caller %zu: the late strongest first", limit, c);
      th_check(limit < 12 || id_in(pruned, 9971),
               "tortuga tortura limit %u caller %zu: one exact word twice", limit, c);
      th_check(limit == 12 || skips > 0,
               "tortuga tortura limit %u caller %zu: conversations of one exact word passed", limit,
               c);
      free(a1);
      free(a2);
      json_decref(pruned);
      json_decref(full);
    }
  }
}

static void test_pruning_exact(const char *tmp) {
  static const char *vocab[] = {"alfa",  "beta",  "gamma",   "delta",  "epsilon",
                                "zeta",  "theta", "kappa",   "lambda", "omega",
                                "sigma", "tau",   "ipsilon", "rho",    "omicron"};
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "long.txt");
  fprintf(f, "patient 6 400 Persona larga\n");
  uint32_t seed = 12345;
  for (int c = 0; c < 12; c++) {
    fprintf(f, "conv %d 6 400 2022-%02d-10 | Larga %s |\n", 700 + c, 1 + c % 12,
            c % 2 ? "impar" : "par");
    int nturns = 40 + (c * 37) % 300;
    for (int t = 0; t < nturns; t++) {
      fprintf(f, "turn %d other - - Voz |", t);
      seed = seed * 1103515245u + 12345u;
      int nw = 2 + (int)((seed >> 16) % 30);
      for (int w = 0; w < nw; w++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = (seed >> 16) % 1000;
        /* Zipf-like: the first words are common, the last ones rare. */
        int k = r < 300 ? 0 : r < 500 ? 1 : r < 640 ? 2 : r < 740 ? 3 : (int)(4 + r % 11);
        fprintf(f, " %s", vocab[k]);
      }
      fprintf(f, "\n");
    }
  }
  /* Many short conversations after them, a few strong on "alfa" first,
   * then weak ones: once the page is full of strong ones, whole chunks of
   * weak ones can be skipped when counting is bounded. */
  for (int c = 0; c < 400; c++) {
    int strong = c < 12;
    /* Most without a title: skipped chunks are bounded as turns alone. */
    if (strong || c % 5 == 0)
      fprintf(f, "conv %d 6 400 2021-%02d-10 | Corta %d |\n", 2000 + c, 1 + c % 12, c);
    else
      fprintf(f, "conv %d 6 400 2021-%02d-10 | |\n", 2000 + c, 1 + c % 12);
    fprintf(f, "turn 0 other - - Voz | %s\n",
            strong ? "alfa alfa alfa beta"
                   : "alfa relleno relleno relleno relleno relleno relleno");
    fprintf(f, "turn 1 other - - Voz | %s relleno relleno relleno relleno\n",
            c % 7 ? "gamma" : "rho");
  }
  /* Medium conversations dense with the first ten words: a query naming
   * them all has ten cursors on most of their turns, and each lies within
   * one postings chunk, so that its bound comes from its documents (summed
   * per document for that many cursors, bounds.c) rather than the limit. */
  for (int c = 0; c < 40; c++) {
    fprintf(f, "conv %d 6 400 2019-%02d-10 | Media %d |\n", 4000 + c, 1 + c % 12, c);
    for (int t = 0; t < 24; t++) {
      fprintf(f, "turn %d other - - Voz |", t);
      seed = seed * 1103515245u + 12345u;
      int nw = 6 + (int)((seed >> 16) % 9);
      for (int w = 0; w < nw; w++) {
        seed = seed * 1103515245u + 12345u;
        fprintf(f, " %s", vocab[(seed >> 16) % 10]);
      }
      fprintf(f, "\n");
    }
  }
  /* Short conversations of one turn where two words alternate, as in
   * "ro fi ro": two neighbouring pairs for three positions, so that the
   * proximity a document can get is bounded by its clauses' positions
   * (bounds.h, cs__prox_bound), and the bound must not fall short of it.
   * "om*" is a required clause of two words: a conversation holding only
   * the one whose next document comes first must not be jumped over. */
  for (int c = 0; c < 120; c++) {
    fprintf(f, "conv %d 6 400 2018-%02d-10 | |\n", 5000 + c, 1 + c % 12);
    fprintf(f, "turn 0 other - - Voz |");
    seed = seed * 1103515245u + 12345u;
    int nw = 3 + (int)((seed >> 16) % 6);
    for (int w = 0; w < nw; w++) {
      seed = seed * 1103515245u + 12345u;
      uint32_t r = (seed >> 16) % 10;
      fprintf(f, " %s",
              r < 3   ? "ro"
              : r < 5 ? "fi"
              : r < 6 ? "omega"
              : r < 7 ? "omicron"
                      : "relleno");
    }
    fprintf(f, "\n");
  }
  for (int c = 0; c < 3; c++) {
    fprintf(f, "conv %d 6 400 2018-01-1%d | |\n", 5200 + c, c);
    fprintf(f, "turn 0 other - - Voz | ro omega ro omega\n");
  }
  /* Runs of weak conversations of "xa" and "xb" between strong ones with
   * "xa" in 40 turns (the first three its best) and "xb" last: the postings
   * chunks of "xa" (CS_CHUNK_DOCS) end inside strong ones, and a run that
   * stops there must leave the whole conversation, with the "xa" before
   * that end, to the walk (skip.c, cs__skip_run). */
  for (int c = 0; c < 200; c++) {
    int strong = c % 16 == 0;
    fprintf(f, "conv %d 6 400 2017-%02d-10 | |\n", 6000 + c, 1 + c % 12);
    for (int t = 0; t < (strong ? 40 : 1); t++)
      fprintf(f, "turn %d other - - Voz | %s\n", t,
              !strong ? "xa relleno relleno relleno"
              : t < 3 ? "xa xa"
                      : "xa relleno relleno");
    fprintf(f, "turn %d other - - Voz | xb%s\n", strong ? 40 : 1,
            strong ? "" : " relleno relleno relleno");
  }
  /* Words of one prefix, more than a heap's worth of variants (exec.c,
   * cs__leaf_next): short conversations with a few of them, and long ones
   * with most, so that both the heap and the plain look at each variant
   * find the next conversation. */
  static const char cons[] = "bcdfghjlmnprstvz";
  for (int c = 0; c < 160; c++) {
    int lng = c % 40 == 0;
    fprintf(f, "conv %d 6 400 2016-%02d-10 | |\n", 8000 + c, 1 + c % 12);
    for (int t = 0; t < (lng ? 60 : 2); t++) {
      fprintf(f, "turn %d other - - Voz |", t);
      seed = seed * 1103515245u + 12345u;
      int nw = 1 + (int)((seed >> 16) % 4);
      for (int w = 0; w < nw; w++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = (seed >> 16) % (lng ? 256 : 24);
        fprintf(f, " xilo%c%ck relleno", cons[r % 16], cons[(r / 16) % 16]);
      }
      fprintf(f, "\n");
    }
  }
  /* And conversations holding nearly all the variants of another prefix:
   * every step moves most of them, so the heap gives way to the plain look
   * at each (exec.c, HEAP_TRIAL) in the middle of the walk. */
  for (int c = 0; c < 100; c++) {
    fprintf(f, "conv %d 6 400 2015-%02d-10 | |\n", 8500 + c, 1 + c % 12);
    for (int t = 0; t < 6; t++) {
      fprintf(f, "turn %d other - - Voz |", t);
      for (int w = 0; w < 5; w++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = (seed >> 16) % 24;
        fprintf(f, " yuxo%c%ck", cons[r % 16], cons[(r / 16) % 16]);
      }
      fprintf(f, "\n");
    }
  }
  /* Another employee's person with the same words in other proportions:
   * the portal caller's statistics (its own documents) then differ from
   * the collection's, and pruning must stay exact with them. */
  /* Sittings of 300 turns (several postings chunks of a frequent word)
   * where the words of "zorr*" alternate with varying counts and turn
   * lengths, so that the clause's best variant changes from turn to turn,
   * with "lince" in some, two speakers and roles (turn filters), and the
   * words in the title and description too (documents of other kinds in
   * the range): score_conv's term-at-a-time path (score.c) must score
   * them exactly as document at a time. */
  static const char *zw[] = {"zorro", "zorra", "zorros", "zorrito", "lince", "relleno"};
  for (int c = 0; c < 6; c++) {
    fprintf(f, "conv %d 6 400 2014-%02d-10 | Zorro %s | zorra lince%s\n", 9000 + c, 1 + c,
            c % 2 ? "lince" : "raro", c % 3 ? " lince" : "");
    for (int t = 0; t < 300; t++) {
      fprintf(f, "turn %d %s - - %s |", t, t % 3 ? "interviewer" : "beneficiary",
              t % 4 ? "Ana" : "Luis");
      seed = seed * 1103515245u + 12345u;
      int nw = 1 + (int)((seed >> 16) % 9);
      for (int w = 0; w < nw; w++) {
        seed = seed * 1103515245u + 12345u;
        fprintf(f, " %s", zw[(seed >> 16) % (t % 7 ? 6 : 4)]);
      }
      fprintf(f, "\n");
    }
  }
  /* Two short conversations dense in "yak", one of 200 long turns each
   * holding it once (its end cuts a postings chunk, CS_CHUNK_DOCS), then
   * one whose first chunks hold only such long turns and whose last turns
   * are short and dense: its bound must come from the chunks ahead
   * (bound_ahead), or it drops below the short ones and off a page it
   * tops. */
  for (int c = 0; c < 4; c++) {
    fprintf(f, "conv %d 6 400 2013-0%d-10 | |\n", 9500 + c, 1 + c);
    int nt = c < 2 ? 1 : c == 2 ? 200 : 300;
    for (int t = 0; t < nt; t++) {
      int dense = c < 2 || t >= 290;
      fprintf(f, "turn %d other - - Voz | yak", t);
      for (int w = 0; w < (dense ? (c < 2 ? 1 : 3) : 24); w++)
        fprintf(f, " %s", dense ? "yak" : "relleno");
      fprintf(f, "\n");
    }
  }
  fprintf(f, "patient 7 401 Persona ajena\n");
  for (int c = 0; c < 30; c++) {
    fprintf(f, "conv %d 7 401 2020-01-10 | Ajena %s |\n", 3000 + c, c % 3 ? "omicron" : "alfa");
    fprintf(f, "turn 0 other - - Voz | alfa omicron omicron kappa rho tau beta\n");
  }
  fclose(f);
  spawn_write(index_dir, path);

  /* The last two are question-shaped, as typed in the search box: many
   * words, proximity between them, and one (xilofono) matching nothing, so
   * that the box relaxes. */
  const char *qs[] = {"alfa ", "beta gamma ", "omicron ", "\"alfa beta\"", "\"gamma delta\" alfa",
                      "alf", "rho OR tau ", "kappa -impar ", "delta alfa beta", "ro fi ", "ro om* ",
                      "xa xb ", "¿Qué dijo alfa sobre beta, gamma, delta y epsilon?",
                      "¿Hay algo de kappa con lambda, omega y xilofono?",
                      /* Many cursors in long conversations: conversation bounds
                       * summed per document rather than merged (bounds.c). */
                      "alfa OR beta OR gamma OR delta OR epsilon OR zeta OR theta OR kappa OR "
                      "lambda OR omega",
                      /* More than RUN_MAX_CURSORS variants (no runs, skip.c): a
                       * heap of them (exec.c). */
                      "xilo* ", "xilo* relleno ", "yuxo* "};
  uint32_t limits[] = {1, 3, 10};
  /* Portal (its people's conversations listed up front) and admin (the
   * docid -> conversation table); exact totals, and totals bounded to 2
   * conversations (then estimated: the walk only looks for better hits). */
  cs_caller owner = {CS_CALLER_PORTAL, 400};
  const cs_caller *callers[] = {&owner, &ADMIN};
  int estimated = 0;
  uint64_t ruled_out = 0; /* conversations ruled out in runs (skip.c, cs__skip_run) */
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    uint64_t ruled_before = ruled_out;
    for (size_t l = 0; l < 3; l++) {
      for (size_t c = 0; c < 2; c++) {
        for (uint64_t bound = 0; bound <= 2; bound += 2) {
          json_t *pruned, *full;
          int rc = pruned_and_full(qs[i], callers[c], limits[l], bound, &ruled_out, NULL, NULL,
                                   &pruned, &full, NULL);
          th_check(rc == 0, "pruning test q=%s", qs[i]);
          if (rc) continue;
          json_int_t total = json_integer_value(json_object_get(full, "total"));
          if (bound) {
            int exact = json_is_true(json_object_get(pruned, "total_exact"));
            json_int_t t1 = json_integer_value(json_object_get(pruned, "total"));
            th_check(exact == (total <= (json_int_t)bound) && (!exact || t1 == total) &&
                         t1 >= (json_int_t)bound,
                     "q=[%s] bound %u: total %d (exact %d), exhaustive %d", qs[i], (unsigned)bound,
                     (int)t1, exact, (int)total);
            estimated += !exact;
            json_object_del(pruned, "total");
            json_object_del(full, "total");
            json_object_del(pruned, "total_exact");
            json_object_del(full, "total_exact");
          }
          char *a1 = json_dumps(pruned, JSON_SORT_KEYS), *a2 = json_dumps(full, JSON_SORT_KEYS);
          th_check(a1 && a2 && !strcmp(a1, a2),
                   "q=[%s] limit %u caller %zu bound %u: pruned and exhaustive differ:\n%s\n%s",
                   qs[i], limits[l], c, (unsigned)bound, a1, a2);
          th_check(json_array_size(json_object_get(full, "hits")) > 0, "q=[%s] finds something",
                   qs[i]);
          free(a1);
          free(a2);
          json_decref(pruned);
          json_decref(full);
        }
      }
    }
    /* Past the counting bound, whole runs of conversations were ruled out
     * at once, and the pages still equal exhaustive scoring. */
    th_check(ruled_out > ruled_before || strstr(qs[i], "xilo*") || strstr(qs[i], "yuxo*"),
             "q=[%s]: no run of conversations ruled out", qs[i]);
  }
  th_check(estimated > 0, "some totals were estimated");

  /* The sittings of "zorr*" (above), with and without turn filters: the
   * pruned walk scores them term at a time, the exhaustive one document at
   * a time (score.c, score_conv): the same pages, snippets included. A
   * single word ("lince ", "zorra ", in the title only) is one cursor:
   * taat_one. */
  const char *zq[] = {
      "zorr* lince ", "zorr* ", "zorro lince ", "lince zorra zorros ", "title:zorro zorr* lince ",
      "lince ",       "zorra ", "title:zorro "};
  for (size_t i = 0; i < sizeof zq / sizeof zq[0]; i++) {
    for (int filt = 0; filt < 3; filt++) {
      for (size_t l = 0; l < 2; l++) {
        cs_view v;
        cs_engine_error err;
        if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
        cs_analyzer *a = cs__analyzer_get();
        cs_search_params p;
        params_init(&p, zq[i]);
        p.limit = limits[l];
        if (filt == 1) p.role = CS_ROLE_BENEFICIARY;
        if (filt == 2) p.speaker = "Ana";
        cs__search_opts o;
        cs__search_defaults(&o);
        json_t *pruned = NULL, *full = NULL;
        int rc1 = cs__search(v.r, a, &ADMIN, &p, &o, &pruned, &err);
        o.exhaustive = 1;
        int rc2 = cs__search(v.r, a, &ADMIN, &p, &o, &full, &err);
        cs__analyzer_put(a);
        cs_view_end(engine, &v);
        th_check(rc1 == 0 && rc2 == 0, "sittings q=%s", zq[i]);
        if (rc1 || rc2) continue;
        json_object_del(pruned, "took_ms");
        json_object_del(full, "took_ms");
        char *a1 = json_dumps(pruned, JSON_SORT_KEYS), *a2 = json_dumps(full, JSON_SORT_KEYS);
        th_check(a1 && a2 && !strcmp(a1, a2),
                 "sittings q=[%s] filter %d limit %u: pruned and exhaustive differ:\n%s\n%s", zq[i],
                 filt, limits[l], a1, a2);
        /* (With a turn filter, a word searched in titles only matches no
         * turn that passes it: no hit.) */
        int none = filt && !strcmp(zq[i], "title:zorro ");
        th_check(a1 && (none ? !strstr(a1, "conversation_id") : strstr(a1, "<em>") != NULL),
                 "sittings q=[%s] filter %d: snippets", zq[i], filt);
        free(a1);
        free(a2);
        json_decref(pruned);
        json_decref(full);
      }
    }
  }

  /* A single word in the long conversations and sittings, under ranking
   * parameters the chunks' conversation bounds were not computed for
   * (cbound.h: then unused): a conversation going on past a cursor's chunk
   * is bounded by the block bounds of the chunks ahead alone (bounds.c,
   * bound_ahead), and pages still equal exhaustive scoring. */
  const char *wq[] = {"alfa ", "beta ", "gamma ", "lince ", "zorro ", "yak "};
  cs__search_opts dflt;
  cs__search_defaults(&dflt);
  cs__rank_params k15 = dflt.rank;
  k15.k1 = 1.5;
  for (size_t i = 0; i < sizeof wq / sizeof wq[0]; i++) {
    for (size_t l = 0; l < 3; l++) {
      for (uint64_t bound = 0; bound <= 2; bound += 2) {
        json_t *pruned, *full;
        int rc = pruned_and_full(wq[i], &ADMIN, limits[l], bound, NULL, NULL, NULL, &pruned, &full,
                                 &k15);
        th_check(rc == 0, "k1 1.5 q=%s", wq[i]);
        if (rc) continue;
        const char *drop[] = {"total", "total_exact"}; /* bounded totals: tested above */
        for (size_t k = 0; bound && k < 2; k++) {
          json_object_del(pruned, drop[k]);
          json_object_del(full, drop[k]);
        }
        char *a1 = json_dumps(pruned, JSON_SORT_KEYS), *a2 = json_dumps(full, JSON_SORT_KEYS);
        th_check(a1 && a2 && !strcmp(a1, a2),
                 "k1 1.5 q=[%s] limit %u bound %u: pruned and exhaustive differ:\n%s\n%s", wq[i],
                 limits[l], (unsigned)bound, a1, a2);
        free(a1);
        free(a2);
        json_decref(pruned);
        json_decref(full);
      }
    }
  }

  /* The portal caller's scores come from its own statistics: the same hit
   * scores otherwise for an admin (whose statistics count the other
   * employee's documents). */
  double sc[2] = {0, 0};
  for (size_t c = 0; c < 2; c++) {
    cs_search_params p;
    params_init(&p, "omicron");
    p.patient = 6;
    json_t *res = NULL;
    cs_engine_error err;
    if (cs_engine_search(engine, callers[c], &p, &res, &err) == 0)
      sc[c] = json_real_value(
          json_object_get(json_array_get(json_object_get(res, "hits"), 0), "score"));
    json_decref(res);
  }
  th_check(sc[0] > 0 && sc[1] > 0 && sc[0] != sc[1],
           "a portal caller's score uses its own statistics (%.6f) not the collection's (%.6f)",
           sc[0], sc[1]);
}

/* ---------------------------------------------------------- turn map */

typedef struct {
  uint32_t docid[400];
  int32_t seq[400];
  size_t n;
} turn_ids;

static int collect_turn(void *ctx, const cs_turn *t) {
  turn_ids *ti = ctx;
  if (ti->n == 400) return 1;
  ti->docid[ti->n] = t->docid;
  ti->seq[ti->n++] = t->seq;
  return 0;
}

/* Every turn of conversation id, found through map m from its docid alone:
 * the block the map names holds it (cs_reader_turn_at). With `refused`,
 * turns a full map refuses (CS_ENOTFOUND) are counted there, not checked.
 * Returns the turns checked. */
static size_t check_turns_mapped(cs_reader *r, cs__turnmap *m, uint64_t id, size_t *refused) {
  cs_conv c;
  turn_ids ti = {.n = 0};
  if (cs_reader_conv(r, id, &c) || cs_reader_turns(r, id, INT32_MIN, 0, collect_turn, &ti)) {
    th_check(0, "conversation %" PRIu64 " and its turns", id);
    return 0;
  }
  size_t checked = 0, first = 0;
  int32_t first_block = INT32_MIN, last_block = INT32_MIN;
  for (size_t i = 0; i < ti.n; i++) {
    int32_t bseq = INT32_MIN;
    cs_turn t;
    int rc = cs__turnmap_find(m, r, id, c.first_docid, ti.docid[i], &bseq);
    if (rc == CS_ENOTFOUND && refused) {
      (*refused)++;
      continue;
    }
    if (!rc) rc = cs_reader_turn_at(r, id, bseq, ti.docid[i], &t);
    if (rc || t.docid != ti.docid[i] || t.seq != ti.seq[i]) {
      th_check(0, "conversation %" PRIu64 ": turn %d (docid %u) not where the map says (%s)", id,
               ti.seq[i], ti.docid[i], cs_strerror(rc));
      return 0;
    }
    if (!checked++) {
      first = i;
      first_block = bseq;
    }
    last_block = bseq;
  }
  /* A block that does not hold the turn, or no block: not found. */
  cs_turn t;
  if (checked && first_block != last_block)
    th_check(cs_reader_turn_at(r, id, last_block, ti.docid[first], &t) == CS_ENOTFOUND,
             "conversation %" PRIu64 ": its first turn is not in its last block", id);
  if (checked)
    th_check(cs_reader_turn_at(r, id, INT32_MIN, ti.docid[first], &t) == CS_ENOTFOUND,
             "conversation %" PRIu64 ": no block at seq INT32_MIN", id);
  /* Its title's docid is before its first turn's: in no block. */
  int32_t bseq;
  th_check(refused || !c.title.len ||
               cs__turnmap_find(m, r, id, c.first_docid, c.first_docid, &bseq) == CS_ENOTFOUND,
           "conversation %" PRIu64 ": a docid before its first block", id);
  return checked;
}

typedef struct {
  cs__turnmap *m;
  int failed;
  size_t checked, refused;
} turn_worker;

/* One thread's view, finding the long conversations' turns through the
 * shared map ten times over (no th_check here: its counters are not
 * shared between threads). */
static void *turn_map_worker(void *arg) {
  turn_worker *w = arg;
  static const uint64_t ids[] = {9000, 9001, 9002, 9003, 9502, 700, 709};
  cs_view v;
  cs_engine_error err;
  if (cs_view_begin(engine, &v, &err)) {
    w->failed = 1;
    return NULL;
  }
  for (int k = 0; k < 10; k++) {
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
      cs_conv c;
      turn_ids ti = {.n = 0};
      if (cs_reader_conv(v.r, ids[i], &c) ||
          cs_reader_turns(v.r, ids[i], INT32_MIN, 0, collect_turn, &ti)) {
        w->failed = 1;
        continue;
      }
      for (size_t j = 0; j < ti.n; j++) {
        int32_t bseq;
        cs_turn t;
        int rc = cs__turnmap_find(w->m, v.r, ids[i], c.first_docid, ti.docid[j], &bseq);
        if (rc == CS_ENOTFOUND) {
          w->refused++;
        } else if (rc || cs_reader_turn_at(v.r, ids[i], bseq, ti.docid[j], &t) ||
                   t.docid != ti.docid[j] || t.seq != ti.seq[j]) {
          w->failed = 1;
        } else {
          w->checked++;
        }
      }
    }
  }
  cs_view_end(engine, &v);
  return NULL;
}

/* The turn map (turnmap.h): every turn of the long conversations is found
 * from its docid through a map small enough to be emptied on the way, and
 * through one that holds them all (its slots grown); two threads share a
 * small map; the search pages built with the engine's map are those built
 * without one; a conversation written again (at new docids) is found at
 * its new blocks in the same generation's map. */
static void test_turn_map(const char *tmp) {
  static const uint64_t ids[] = {700,  703,  706,  709,  711,  9000, 9001, 9002,
                                 9003, 9004, 9005, 9502, 9503, 700,  9000};
  cs_view v;
  cs_engine_error err;
  if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
  cs__turnmap *small;
  if (cs__turnmap_new(&small, 2048)) die("out of memory");
  size_t turns = 0, refused = 0;
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    turns += check_turns_mapped(v.r, small, ids[i], &refused);
  size_t bytes, emptied, held = cs__turnmap_convs(small, &bytes, &emptied);
  th_check(turns > 1000 && refused > 0 && held >= 1 && emptied >= 1 && bytes <= 2048,
           "a small map refuses conversations when full, then is emptied: %zu turns found "
           "through it, %zu refused, %zu conversations held (%zu bytes), emptied %zu times",
           turns, refused, held, bytes, emptied);
  cs__turnmap_free(small);

  /* A conversation whose marks would take more than a quarter of the map
   * is kept without them: found from the marks read the first time, not
   * through the map after. */
  if (cs__turnmap_new(&small, 2048)) die("out of memory");
  {
    cs_conv c;
    int32_t bseq;
    int rc1 = cs_reader_conv(v.r, 9502, &c)
                  ? -1
                  : cs__turnmap_find(small, v.r, 9502, c.first_docid, c.first_docid + 5, &bseq);
    int rc2 = cs__turnmap_find(small, v.r, 9502, c.first_docid, c.first_docid + 5, &bseq);
    held = cs__turnmap_convs(small, &bytes, NULL);
    th_check(rc1 == 0 && rc2 == CS_ENOTFOUND && held == 1 && bytes < 1024,
             "a conversation too long for the map is kept without its marks (%d %d, %zu held, "
             "%zu bytes)",
             rc1, rc2, held, bytes);
  }
  cs__turnmap_free(small);

  /* Every conversation, long and short, in one map (more than the first
   * 64 slots hold at half load). */
  cs__turnmap *big;
  if (cs__turnmap_new(&big, 1u << 20)) die("out of memory");
  for (uint64_t id = 3000; id < 3030; id++)
    check_turns_mapped(v.r, big, id, NULL);
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    check_turns_mapped(v.r, big, ids[i], NULL);
  held = cs__turnmap_convs(big, &bytes, &emptied);
  th_check(held == 43 && emptied == 0 && bytes <= 1u << 20,
           "a map holding 43 conversations: %zu held, emptied %zu times", held, emptied);
  cs__turnmap_free(big);

  /* Two threads, each with its view, on a map that keeps being emptied. */
  if (cs__turnmap_new(&small, 1280)) die("out of memory");
  turn_worker tw[2] = {{small, 0, 0, 0}, {small, 0, 0, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    if (pthread_create(&th[i], NULL, turn_map_worker, &tw[i])) die("pthread_create");
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  cs__turnmap_convs(small, &bytes, &emptied);
  th_check(!tw[0].failed && !tw[1].failed && tw[0].checked > 1000 && tw[1].checked > 1000 &&
               emptied >= 1 && bytes <= 1280,
           "two threads share a small map (%zu and %zu turns found through it, emptied %zu "
           "times, %zu bytes)",
           tw[0].checked, tw[1].checked, emptied, bytes);
  cs__turnmap_free(small);

  /* Searches through the engine's map and without one. */
  static const char *qs[] = {"zorr* lince ", "zorra ", "alfa ", "yak ", "\"alfa beta\""};
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    cs_analyzer *a = cs__analyzer_get();
    cs_search_params p;
    params_init(&p, qs[i]);
    cs__search_opts o;
    cs__search_defaults(&o);
    json_t *with = NULL, *without = NULL;
    o.turns = cs_view_turns(&v);
    int rc1 = cs__search(v.r, a, &ADMIN, &p, &o, &with, &err);
    o.turns = NULL;
    int rc2 = cs__search(v.r, a, &ADMIN, &p, &o, &without, &err);
    cs__analyzer_put(a);
    th_check(rc1 == 0 && rc2 == 0, "q=[%s]", qs[i]);
    if (!rc1 && !rc2) {
      json_object_del(with, "took_ms");
      json_object_del(without, "took_ms");
      char *a1 = json_dumps(with, JSON_SORT_KEYS), *a2 = json_dumps(without, JSON_SORT_KEYS);
      th_check(a1 && a2 && !strcmp(a1, a2) && strstr(a1, "<em>"),
               "q=[%s]: the pages with the turn map and without it differ:\n%s\n%s", qs[i], a1, a2);
      free(a1);
      free(a2);
    }
    json_decref(with);
    json_decref(without);
  }
  th_check(cs__turnmap_convs(cs_view_turns(&v), NULL, NULL) > 0,
           "the searches' snippets went through the engine's map");
  check_turns_mapped(v.r, cs_view_turns(&v), 9000, NULL);
  cs_view_end(engine, &v);

  /* Sitting 9000 written again, with other turns: new docids, new blocks. */
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "rewrite.txt");
  fprintf(f, "conv 9000 6 400 2014-01-10 | Zorro de nuevo |\n");
  for (int t = 0; t < 260; t++) {
    fprintf(f, "turn %d other - - Voz | zorro", t);
    for (int w = 0; w < (t % 5) * 11; w++)
      fprintf(f, " relleno");
    fprintf(f, "\n");
  }
  /* And a sitting whose blocks hold very different numbers of docids:
   * runs of one-word turns (~70 to a block) between runs of long ones
   * (one to a block), so that where the docids put a turn's block is
   * often several blocks off (turnmap.c looks around it). */
  fprintf(f, "conv 9010 6 400 2014-02-10 | Bloques desiguales |\n");
  for (int t = 0; t < 390; t++) {
    int long_turn = (t / 65) % 2 && t % 65 < 10 * (t / 65);
    fprintf(f, "turn %d other - - Voz | zorro", t);
    for (int w = 0; long_turn && w < 90 + t % 7; w++)
      fprintf(f, " relleno");
    fprintf(f, "\n");
  }
  fclose(f);
  spawn_write(index_dir, path);
  if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
  /* The engine's map (the same generation's) holds the old sitting's marks. */
  th_check(check_turns_mapped(v.r, cs_view_turns(&v), 9000, NULL) == 260,
           "the rewritten sitting's 260 turns through the generation's map");
  th_check(check_turns_mapped(v.r, cs_view_turns(&v), 9010, NULL) == 390,
           "the 390 turns of a sitting of uneven blocks through the map");
  cs_view_end(engine, &v);
}

/* Passing postings chunks by their conversation bounds (cbound.h,
 * skip.c pass_chunks): frequent words over thousands of short
 * conversations written in three batches (chunks merged across commits,
 * some conversations deleted, which rewrites chunks), a few strong
 * conversations among them and at the very end (where the passing must
 * stop, and the term's last chunk must not be passed over them), and
 * conversations of three turns across chunk ends (bounded by both). The
 * pruned pages equal exhaustive scoring, and chunks were really passed. */
static void test_chunk_passing(const char *tmp) {
  static const char *fill[] = {"qa", "qb qc", "qd qe qf", "qg qh qi qj qk ql qm qn"};
  char path[PATH_MAX];
  uint32_t seed = 777;
  for (int b = 0; b < 3; b++) {
    FILE *f = corpus_create(path, tmp, "passing%d.txt", b);
    if (b == 0) fprintf(f, "patient 6 400 Persona larga\n");
    int n = b == 2 ? 400 : 900;
    for (int c = 0; c < n; c++) {
      int id = 30000 + b * 1000 + c;
      int strong = c % 211 == 100 || (b == 2 && c == n - 1);
      int wombat = b == 2 && c == n - 1;
      fprintf(f, "conv %d 6 400 2013-%02d-10 | |\n", id, 1 + c % 12);
      int nt = strong ? 4 : 1 + c % 3;
      for (int t = 0; t < nt; t++) {
        seed = seed * 1103515245u + 12345u;
        fprintf(f, "turn %d other - - Voz | %s %s %s\n", t,
                strong       ? "quokka quokka quokka"
                : c % 5 == 3 ? "quokkamuro"
                             : "quokka",
                wombat || (!strong && c % 50 == 7) ? "wombat" : "", fill[(seed >> 16) % 4]);
      }
    }
    /* Conversations of the first batch deleted in the second: their
     * chunks are rewritten without them (the bound kept). */
    for (int c = 0; b == 1 && c < 900; c += 97)
      fprintf(f, "delete %d\n", 30000 + c);
    fclose(f);
    spawn_write(index_dir, path);
  }
  /* One word, two, either, and a prefix's two variants (cursors passed
   * together). */
  const char *qs[] = {"quokka ", "wombat ", "quokka wombat ", "quokka OR wombat ", "quokk"};
  uint32_t limits[] = {1, 3, 10};
  cs_caller owner = {CS_CALLER_PORTAL, 400};
  const cs_caller *callers[] = {&owner, &ADMIN};
  uint64_t passed = 0;
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    for (size_t l = 0; l < 3; l++) {
      for (size_t c = 0; c < 2; c++) {
        for (uint64_t bound = 2; bound <= 1000; bound += 998) {
          json_t *pruned, *full;
          int rc = pruned_and_full(qs[i], callers[c], limits[l], bound, NULL, &passed, NULL,
                                   &pruned, &full, NULL);
          th_check(rc == 0, "chunk passing q=%s", qs[i]);
          if (rc) continue;
          const char *drop[] = {"total", "total_exact"};
          for (int k = 0; k < 2; k++) {
            json_object_del(pruned, drop[k]);
            json_object_del(full, drop[k]);
          }
          char *a1 = json_dumps(pruned, JSON_SORT_KEYS), *a2 = json_dumps(full, JSON_SORT_KEYS);
          th_check(a1 && a2 && !strcmp(a1, a2),
                   "chunk passing q=[%s] limit %u caller %zu bound %u: pruned and exhaustive "
                   "differ:\n%s\n%s",
                   qs[i], limits[l], c, (unsigned)bound, a1, a2);
          th_check(a1 && strstr(a1, "\"conversation_id\": 3") != NULL,
                   "chunk passing q=[%s]: finds them", qs[i]);
          free(a1);
          free(a2);
          json_decref(pruned);
          json_decref(full);
        }
      }
    }
  }
  th_check(passed > 0, "a frequent word's chunks were passed by their bounds (%" PRIu64 ")",
           passed);
}

/* cs_search_params.no_snippets (the benchmark's like-for-like measurement)
 * returns the very page the snippet path returns, hit for hit (ids, scores,
 * totals, cursor), only without snippets and highlights; and a page of
 * hits with snippets really has some, so that the comparison means
 * something. Run on test_pruning_exact's corpus, for both kinds of caller
 * and over two pages. */
static void test_no_snippets(void) {
  const char *qs[] = {"alfa ", "beta gamma ", "\"alfa beta\"",
                      "alf",   "rho OR tau ", "¿Qué dijo alfa sobre beta, gamma, delta y epsilon?"};
  cs_caller owner = {CS_CALLER_PORTAL, 400};
  const cs_caller *callers[] = {&owner, &ADMIN};
  for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
    for (size_t c = 0; c < 2; c++) {
      char cursor[512] = "";
      for (int page = 0; page < 2; page++) {
        cs_search_params p;
        params_init(&p, qs[i]);
        p.limit = 4;
        p.cursor = page ? cursor : NULL;
        cs_engine_error err;
        json_t *with = run(callers[c], &p, &err);
        p.no_snippets = 1;
        json_t *without = run(callers[c], &p, &err);
        th_check(with && without, "q=[%s] page %d: both answer", qs[i], page);
        if (!with || !without) {
          json_decref(with);
          json_decref(without);
          break;
        }
        size_t n = json_array_size(json_object_get(with, "hits")), shown = 0, empty = 0;
        for (size_t h = 0; h < n; h++) {
          json_t *a = json_array_get(json_object_get(with, "hits"), h);
          json_t *b = json_array_get(json_object_get(without, "hits"), h);
          shown += json_array_size(json_object_get(a, "snippets"));
          empty += b && json_array_size(json_object_get(b, "snippets")) == 0 &&
                   !strstr(json_string_value(json_object_get(b, "title_highlight")), "<em>") &&
                   json_is_null(json_object_get(b, "description_highlight"));
          /* Everything but the highlights is the same. */
          json_object_del(a, "snippets");
          json_object_del(a, "title_highlight");
          json_object_del(a, "description_highlight");
          if (b) {
            json_object_del(b, "snippets");
            json_object_del(b, "title_highlight");
            json_object_del(b, "description_highlight");
          }
        }
        th_check(n > 0 && shown > 0 && empty == n,
                 "q=[%s] caller %zu page %d: %zu hits, %zu snippets with, %zu bare without", qs[i],
                 c, page, n, shown, empty);
        json_object_del(with, "took_ms");
        json_object_del(without, "took_ms");
        char *a1 = json_dumps(with, JSON_SORT_KEYS), *a2 = json_dumps(without, JSON_SORT_KEYS);
        th_check(a1 && a2 && !strcmp(a1, a2), "q=[%s] caller %zu page %d: pages differ:\n%s\n%s",
                 qs[i], c, page, a1, a2);
        free(a1);
        free(a2);
        const char *next = json_string_value(json_object_get(with, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(with);
        json_decref(without);
        if (!next) break;
      }
    }
  }
}

/* The docid -> conversation table follows commits: conversations added,
 * replaced (new docids) and deleted while the engine stays open are found,
 * found once, and gone, for callers who walk the whole index (admins,
 * analysts); a view keeps the table as of its snapshot while later views
 * extend it. */
static void write_lines(const char *tmp, const char *text) {
  char path[PATH_MAX];
  FILE *f = corpus_create(path, tmp, "live.txt");
  fputs(text, f);
  fclose(f);
  spawn_write(index_dir, path);
}

static json_int_t total_in(cs_view *v, const char *q, int own_table, char *ids, size_t cap) {
  cs_analyzer *a = cs__analyzer_get();
  cs_search_params p;
  params_init(&p, q);
  cs__search_opts o;
  cs__search_defaults(&o);
  if (own_table && cs_view_convs(v, &o.convs)) die("convs");
  cs_engine_error err;
  json_t *out = NULL;
  int rc = cs__search(v->r, a, &ADMIN, &p, &o, &out, &err);
  cs__analyzer_put(a);
  if (rc) die("search %s: %s", q, err.message);
  json_int_t t = json_integer_value(json_object_get(out, "total"));
  if (ids) hit_ids(out, ids, cap);
  json_decref(out);
  return t;
}

static void test_live_table(const char *tmp) {
  cs_engine_error err;
  cs_search_params p;
  params_init(&p, "zafiro");
  json_t *r = run(&ADMIN, &p, &err);
  th_check(r && json_integer_value(json_object_get(r, "total")) == 0, "zafiro: nothing yet");
  json_decref(r);
  /* View A holds the table while conversations arrive. */
  cs_view va;
  if (cs_view_begin(engine, &va, &err)) die("view: %s", err.message);
  const cs__convs *ca;
  if (cs_view_convs(&va, &ca)) die("convs");
  size_t na = ca->n;
  write_lines(tmp, "patient 8 800 Persona viva\n"
                   "conv 950 8 800 2024-03-01 | Zafiro |\n"
                   "turn 0 beneficiary - - Voz | un zafiro azul\n"
                   "conv 951 8 800 2024-03-02 | Otra |\n"
                   "turn 0 beneficiary - - Voz | el zafiro y el rubí\n");
  cs_view vb;
  if (cs_view_begin(engine, &vb, &err)) die("view: %s", err.message);
  char ids[256];
  th_check(total_in(&vb, "zafiro", 1, ids, sizeof ids) == 2 &&
               (!strcmp(ids, "951 950") || !strcmp(ids, "950 951")),
           "new conversations found through the extended table: %s", ids);
  th_check(total_in(&vb, "zafiro", 0, NULL, 0) == 2, "same with a private table");
  th_check(total_in(&va, "zafiro", 1, NULL, 0) == 0 && ca->n == na,
           "an older view keeps its snapshot (%zu -> %zu entries)", na, ca->n);
  cs_view_end(engine, &vb);
  cs_view_end(engine, &va);
  /* Replaced (new docids), then deleted. */
  write_lines(tmp, "conv 950 8 800 2024-03-01 | Zafiro |\n"
                   "turn 0 beneficiary - - Voz | un zafiro verde\n"
                   "turn 1 beneficiary - - Voz | esmeralda\n");
  r = run(&ADMIN, &p, &err);
  hit_ids(r, ids, sizeof ids);
  th_check(r && json_integer_value(json_object_get(r, "total")) == 2 &&
               (!strcmp(ids, "951 950") || !strcmp(ids, "950 951")),
           "a replaced conversation is found once: %s", ids);
  json_decref(r);
  write_lines(tmp, "delete 951\n");
  r = run(&ADMIN, &p, &err);
  hit_ids(r, ids, sizeof ids);
  th_check(r && json_integer_value(json_object_get(r, "total")) == 1 && !strcmp(ids, "950"),
           "a deleted conversation is gone: %s", ids);
  json_decref(r);
}

/* The total of a search-box query by caller c. */
static json_int_t box_total(const cs_caller *c, const char *q) {
  cs_engine_error err;
  cs_search_params p;
  params_init(&p, q);
  json_t *r = run(c, &p, &err);
  if (!r) die("search %s: %s", q, err.message);
  json_int_t t = json_integer_value(json_object_get(r, "total"));
  json_decref(r);
  return t;
}

/* Entries of a lexicon copy whose shared prefix with the entry before
 * (lcpb in bytes, lcpc in code points past the scope's prefix) is not the
 * one the keys have; *mixed counts the pairs of keys that are not both
 * ASCII (their code points compared one by one). */
static size_t lcp_errors(const cs__lexarr *a, size_t *mixed) {
  size_t bad = 0;
  for (size_t i = 1; i < a->n; i++) {
    const cs__lexent *p = &a->e[i - 1], *x = &a->e[i];
    const uint8_t *pk = (const uint8_t *)a->bytes + p->key, *k = (const uint8_t *)a->bytes + x->key;
    size_t l = 0;
    while (l < p->klen && l < x->klen && pk[l] == k[l])
      l++;
    int c = 0;
    if (l >= a->kplen) {
      uint32_t pc[CS__LEX_MAXCP], xc[CS__LEX_MAXCP];
      int pn =
          cs__utf8_decode((const char *)pk + a->kplen, p->klen - a->kplen, pc, NULL, CS__LEX_MAXCP);
      int xn =
          cs__utf8_decode((const char *)k + a->kplen, x->klen - a->kplen, xc, NULL, CS__LEX_MAXCP);
      while (c < pn && c < xn && pc[c] == xc[c])
        c++;
      *mixed += p->cp != CS__LEX_ASCII || x->cp != CS__LEX_ASCII;
    }
    bad += x->lcpb != (l > 255 ? 255 : l) || x->lcpc != c;
  }
  return bad;
}

/* The lexicon and the names kept in RAM per snapshot (query/snapcache.h)
 * follow commits: a word or a name a new conversation brings is found
 * right after the indexer commits (a copy made for an older snapshot is
 * never used), and a portal caller's expansions stay within its own words
 * whether the walk reads the index or the copy. */
static void test_lexicon_follows(const char *tmp) {
  const cs_caller own = {CS_CALLER_PORTAL, 801}, other = {CS_CALLER_PORTAL, 800};
  /* Copies of the current snapshot are made (and answer "nothing"). */
  for (int i = 0; i < 2; i++) {
    th_check(box_total(&ADMIN, "turmalinq") == 0 && box_total(&own, "turmalinq") == 0,
             "turmalinq: nothing yet");
    th_check(box_total(&ADMIN, "Rosalind Turquesa") == 0, "no such name yet");
    usleep(50000);
  }
  write_lines(tmp, "patient 9 801 Rosalind Turquesa\n"
                   "conv 960 9 801 2024-03-03 | Piedras |\n"
                   "turn 0 beneficiary - - Voz | una turmalina negra y una piña\n");
  th_check(box_total(&ADMIN, "turmalinq") == 1, "a typo of a word just committed finds it");
  th_check(box_total(&own, "turmalinq") == 1, "... for its owner too");
  th_check(box_total(&ADMIN, "turquesa rosalind") == 1, "a name just committed is searchable");
  /* Once the copy of the new snapshot is made, the same answers from it. */
  usleep(200000);
  cs_engine_error err;
  cs_view v;
  if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
  cs__snapcache *lc = cs__snapcache_current();
  cs__lexarr *a = NULL;
  th_check(lc && (a = cs__lexcache_get(lc, v.r, CS_T_WORDS, 0, 0)) != NULL &&
               a->o.snap == cs_reader_snapshot(v.r),
           "a copy of the words for the new snapshot");
  if (a) {
    size_t i = cs__lexarr_seek(a, 0, "turmalina", 9);
    th_check(i < a->n && a->e[i].klen == 9 && !memcmp(a->bytes + a->e[i].key, "turmalina", 9),
             "the copy holds the new word");
    size_t mixed = 0, bad = lcp_errors(a, &mixed);
    th_check(bad == 0 && mixed > 0 && mixed < a->n - 1,
             "each word's prefix shared with the one before, in bytes and letters (%zu of %zu "
             "pairs wrong; %zu not ASCII)",
             bad, a->n - 1, mixed);
  }
  cs__lexarr_release(lc, a);
  cs_view_end(engine, &v);
  th_check(box_total(&ADMIN, "turmalinq") == 1 && box_total(&own, "turmalinq") == 1,
           "found through the copy");
  th_check(box_total(&other, "turmalinq") == 0 && box_total(&other, "turmal") == 0,
           "another owner's word is not reached by typo or prefix");
  th_check(box_total(&own, "turmal") == 1, "its owner reaches it by prefix");
  /* The owners' copies hold their own words only. */
  if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
  lc = cs__snapcache_current();
  for (uint64_t owner = 800; owner <= 801; owner++) {
    uint8_t key[8 + 9];
    cs_key_u64(key, owner);
    memcpy(key + 8, "turmalina", 9);
    a = cs__lexcache_get(lc, v.r, CS_T_OWORDS, owner, 0);
    size_t i = a ? cs__lexarr_seek(a, 0, key, sizeof key) : 0;
    int has = a && i < a->n && a->e[i].klen == sizeof key &&
              !memcmp(a->bytes + a->e[i].key, key, sizeof key);
    th_check(a && a->n > 0 && has == (owner == 801), "owner %" PRIu64 "'s copy %s the word", owner,
             owner == 801 ? "holds" : "lacks");
    size_t mixed = 0, bad = a ? lcp_errors(a, &mixed) : 1;
    th_check(bad == 0 && (owner == 800 || mixed > 0),
             "owner %" PRIu64 "'s copy: each word's prefix shared with the one before (%zu pairs "
             "not ASCII)",
             owner, mixed);
    cs__lexarr_release(lc, a);
  }
  cs_view_end(engine, &v);
  th_check(box_total(&ADMIN, "Rosalind Turquesa") == 1 &&
               box_total(&own, "rosalind turquesa") == 1 &&
               box_total(&other, "Rosalind Turquesa") == 0,
           "the name: admin and owner find it, another owner does not");
}

static int failing_build(cs_reader *r, int slot, uint64_t owner, cs__snapobj *prev,
                         cs__snapobj **out) {
  (void)prev;
  (void)r;
  (void)slot;
  (void)owner;
  *out = NULL;
  return CS_ENOMEM;
}

/* The engine's cache of what is kept per snapshot (snapcache.h), the one
 * its views use. */
static cs__snapcache *engine_snapcache(void) {
  cs_engine_error err;
  cs_view v;
  if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
  cs__snapcache *lc = cs__snapcache_current();
  cs_view_end(engine, &v);
  return lc;
}

/* The per-snapshot copies (snapcache.h) under the load of many portal
 * owners, a portal caller's name lookup, and a copy that cannot be made. */
static void test_snapcache_limits(const char *tmp) {
  /* 70 owners (more than the 64 kept), one person and one word each. */
  enum { OWNERS = 70 };
  static char text[OWNERS * 160];
  size_t len = 0;
  for (int i = 0; i < OWNERS; i++)
    len += (size_t)snprintf(text + len, sizeof text - len,
                            "patient %d %d Dueno%c%c\n"
                            "conv %d %d %d 2024-04-01 | |\n"
                            "turn 0 beneficiary - - Voz | palabra%c%cz\n",
                            3000 + i, 5000 + i, 'a' + i / 26, 'a' + i % 26, 7000 + i, 3000 + i,
                            5000 + i, 'a' + i / 26, 'a' + i % 26);
  write_lines(tmp, text);
  cs_engine_error err;
  cs_view v;
  cs__snapcache *lc = engine_snapcache();
  uint64_t made0 = cs__snapcache_made(lc, CS__SC_OWORDS) + cs__snapcache_made(lc, CS__SC_OLEX);
  uint64_t names0 = cs__snapcache_made(lc, CS__SC_NAMES);
  int found = 0, queries = 0;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < OWNERS; i++) {
      const cs_caller c = {CS_CALLER_PORTAL, (uint64_t)(5000 + i)};
      char q[32];
      /* A typo of the owner's own word (one letter changed). */
      snprintf(q, sizeof q, "palabrq%c%cz", 'a' + i / 26, 'a' + i % 26);
      found += box_total(&c, q) == 1;
      queries++;
    }
  }
  uint64_t made =
      cs__snapcache_made(lc, CS__SC_OWORDS) + cs__snapcache_made(lc, CS__SC_OLEX) - made0;
  th_check(found == queries, "every owner finds its own word by a typo (%d of %d)", found, queries);
  th_check(made * 4 < (uint64_t)queries,
           "%d owners cycled: owner copies made %" PRIu64 " times for %d queries (within the "
           "owners' common budget, not one per query)",
           OWNERS, made, queries);

  /* The owners' copies stay within their cap: with a quarter of what the
   * rounds above kept, the owners' typos are still found (read from the
   * index when their copies went) and what is kept never passes it. */
  size_t held = cs__snapcache_owner_bytes(lc, NULL), cap = held / 4, over = 0;
  th_check(held > 0, "the owners' copies are counted (%zu bytes)", held);
  cs__snapcache_set_owner_cap(lc, cap);
  found = 0;
  for (int i = 0; i < OWNERS; i++) {
    const cs_caller c = {CS_CALLER_PORTAL, (uint64_t)(5000 + i)};
    char q[32];
    snprintf(q, sizeof q, "palabrq%c%cz", 'a' + i / 26, 'a' + i % 26);
    found += box_total(&c, q) == 1;
    size_t now = cs__snapcache_owner_bytes(lc, NULL);
    if (now > over) over = now;
  }
  th_check(found == OWNERS, "every owner finds its own word under the cap (%d of %d)", found,
           OWNERS);
  th_check(over <= cap && over > 0, "the owners' copies held at most %zu bytes (the cap %zu)", over,
           cap);
  /* The count stays exact: with no room, nothing is held. */
  cs__snapcache_set_owner_cap(lc, 0);
  const cs_caller first = {CS_CALLER_PORTAL, 5000};
  th_check(cs__snapcache_owner_bytes(lc, NULL) == 0 && box_total(&first, "palabrqaaz") == 1,
           "with a cap of 0 the copies hold nothing (%zu bytes) and typos are found",
           cs__snapcache_owner_bytes(lc, NULL));
  cs__snapcache_set_owner_cap(lc, CS_ENGINE_OWNER_CACHE_DEFAULT);

  /* A portal caller's name lookup does not consult every owner's names:
   * whether it reads its own people must not depend on other owners'. */
  const cs_caller p0 = {CS_CALLER_PORTAL, 5000};
  th_check(box_total(&p0, "duenoab") == 0 && box_total(&p0, "duenozz") == 0,
           "another owner's person's name is not found by a portal caller");
  th_check(cs__snapcache_made(lc, CS__SC_NAMES) == names0,
           "portal callers' name lookups make no all-owner name set (%" PRIu64 " made)",
           cs__snapcache_made(lc, CS__SC_NAMES) - names0);
  th_check(box_total(&ADMIN, "duenoab") == 1, "the admin finds the person by name");

  /* A copy that cannot be made is not the query's failure. */
  cs__snapcache *fresh;
  if (cs__snapcache_new(&fresh)) die("snapcache");
  if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
  cs__snapobj *o = cs__snapcache_obtain(fresh, v.r, CS__SC_MEMO, 0, failing_build);
  cs_view_end(engine, &v);
  th_check(o == NULL && cs__snapcache_made(fresh, CS__SC_MEMO) == 1,
           "a copy that fails to be made: none, the index read instead");
  cs__snapcache_free(fresh);
}

static void slow_free(cs__snapobj *o) {
  free(o);
}

/* What slow_build's objects take to make and hold. */
static long slow_ms = 30;
static size_t slow_bytes;

/* An object that takes slow_ms to make (30 ms: its kind's budget then
 * holds the next one back for ~3 s) and counts slow_bytes. */
static int slow_build(cs_reader *r, int slot, uint64_t owner, cs__snapobj *prev,
                      cs__snapobj **out) {
  (void)prev;
  (void)r;
  (void)slot;
  (void)owner;
  struct timespec ts = {0, slow_ms * 1000000L};
  nanosleep(&ts, NULL);
  cs__snapobj *o = calloc(1, sizeof *o);
  if (!o) return CS_ENOMEM;
  o->free = slow_free;
  o->bytes = slow_bytes;
  *out = o;
  return 0;
}

/* The object of owner slot CS__SC_OLEX of `owner` at `version` on view v's
 * snapshot, released at once: whether one was given. */
static int obtain_of(cs__snapcache *c, cs_view *v, uint64_t owner, uint64_t version) {
  cs__snapobj *o = cs__snapcache_obtain_owner(c, v->r, CS__SC_OLEX, owner, version, slow_build);
  cs__snapobj_release(c, o);
  return o != NULL;
}

static int obtain_at(cs__snapcache *c, cs_view *v, uint64_t version) {
  return obtain_of(c, v, 4242, version);
}

/* An owner's object kept across commits (snapcache.h) is made again on
 * rent once its views have spent what making it took, and at once for an
 * owner whose last one answered as many lookups as the walks that paid for
 * the one made on rent, at most a tenth of a core: a busy owner's views do
 * not all walk the index after each of its commits. Owner 4242's versions
 * are made up; the five snapshots are taken first, so that every step but
 * the wait runs within the ~3 s the budget holds the next object back
 * after a 30 ms one. */
static void test_snapcache_busy(const char *tmp) {
  enum { SNAPS = 5 };
  cs_view v[SNAPS];
  cs_engine_error err;
  int newer = 1;
  for (int i = 0; i < SNAPS; i++) {
    if (i) {
      char text[128];
      snprintf(text, sizeof text,
               "conv %d 3000 5000 2024-07-0%d | |\nturn 0 beneficiary - - Voz | vez %d\n", 7300 + i,
               i, i);
      write_lines(tmp, text);
    }
    if (cs_view_begin(engine, &v[i], &err)) die("view: %s", err.message);
    if (i) newer &= cs_reader_snapshot(v[i].r) > cs_reader_snapshot(v[i - 1].r);
  }
  th_check(newer, "five snapshots, each newer than the one before");
  cs__snapcache *c;
  if (cs__snapcache_new(&c)) die("snapcache");
  th_check(obtain_at(c, &v[0], 1) && cs__snapcache_made(c, CS__SC_OLEX) == 1,
           "an owner's first object is made");
  th_check(!obtain_at(c, &v[1], 2), "at a new version of the owner, none before it is paid for");
  for (int i = 0; i < 3; i++)
    cs__snapcache_owe(c, CS__SC_OLEX, 4242, 1000000000L);
  th_check(obtain_at(c, &v[1], 2) && cs__snapcache_made(c, CS__SC_OLEX) == 2,
           "made again once paid for (by three walks, counted for the next one)");
  th_check(obtain_at(c, &v[1], 2) && obtain_at(c, &v[1], 2),
           "the new one answers the next lookups");
  th_check(!obtain_at(c, &v[2], 3) && cs__snapcache_made(c, CS__SC_OLEX) == 2,
           "two lookups, fewer than the three walks: the next one waits for its rent");
  th_check(obtain_at(c, &v[1], 2), "a third lookup");
  th_check(obtain_at(c, &v[2], 3) && cs__snapcache_made(c, CS__SC_OLEX) == 3,
           "three lookups, as many as the walks that paid for it: the next made at once (%" PRIu64
           " made)",
           cs__snapcache_made(c, CS__SC_OLEX));
  int answered = 1;
  for (int i = 0; i < 3; i++)
    answered &= obtain_at(c, &v[2], 3);
  th_check(answered, "it answers three lookups");
  th_check(!obtain_at(c, &v[3], 4) && cs__snapcache_made(c, CS__SC_OLEX) == 3,
           "busy again, but another at once would take more than a tenth of a core: none");
  struct timespec pause = {0, 600 * 1000000L}; /* past 9 x 30 ms */
  nanosleep(&pause, NULL);
  th_check(obtain_at(c, &v[3], 4) && cs__snapcache_made(c, CS__SC_OLEX) == 4,
           "a moment later, made at once");
  th_check(!obtain_at(c, &v[4], 5) && cs__snapcache_made(c, CS__SC_OLEX) == 4,
           "one that answered no lookup but its maker's: the next waits for its rent again");
  cs__snapcache_free(c);

  /* A busy owner's copy that the owners' cap cannot hold serves its view
   * alone, and charges the kind's budget as a first one would: another
   * owner's first copy waits. (The first ones here take 1 ms, so the
   * kind's budget is free again 99x their time later: a second, even if
   * the machine made a 1 ms sleep last 10.) */
  if (cs__snapcache_new(&c)) die("snapcache");
  slow_ms = 1;
  slow_bytes = 1;
  int rented = obtain_at(c, &v[0], 1);
  for (int i = 0; i < 3; i++)
    cs__snapcache_owe(c, CS__SC_OLEX, 4242, 1000000000L);
  rented &= obtain_at(c, &v[1], 2);
  for (int i = 0; i < 3; i++)
    rented &= obtain_at(c, &v[1], 2);
  th_check(rented, "made, rented and looked up three times");
  struct timespec budget = {1, 0};
  nanosleep(&budget, NULL);
  slow_ms = 30;
  slow_bytes = 2;
  cs__snapcache_set_owner_cap(c, 1);
  th_check(obtain_at(c, &v[2], 3) && cs__snapcache_made(c, CS__SC_OLEX) == 3,
           "busy: made at once, past the cap (it serves that view alone)");
  th_check(!obtain_of(c, &v[2], 4343, 1) && cs__snapcache_made(c, CS__SC_OLEX) == 3,
           "another owner's first copy waits for the kind's budget it charged");
  cs__snapcache_free(c);
  slow_ms = 30;
  slow_bytes = 0;
  for (int i = SNAPS - 1; i >= 0; i--) /* views end in the reverse order */
    cs_view_end(engine, &v[i]);
}

/* A portal caller's own people and conversations (owned.h) are read once
 * per snapshot: its searches on one snapshot share them, a commit makes
 * the next search read them again, and they follow the person's owner. */
static void test_owned_cache(const char *tmp) {
  write_lines(tmp, "patient 3100 5100 Berta Oliva\n"
                   "conv 7100 3100 5100 2024-05-01 | |\n"
                   "turn 0 beneficiary - - Voz | una granada madura\n"
                   "patient 3101 5101 Ciro Lima\n"
                   "conv 7101 3101 5101 2024-05-02 | |\n"
                   "turn 0 beneficiary - - Voz | otra granada verde\n");
  cs__snapcache *lc = engine_snapcache();
  const cs_caller b = {CS_CALLER_PORTAL, 5100}, c = {CS_CALLER_PORTAL, 5101};
  uint64_t made0 = cs__snapcache_made(lc, CS__SC_OWNED);
  int ok = 1;
  for (int i = 0; i < 5; i++)
    ok &= box_total(&b, "granada") == 1 && box_total(&b, "berta oliva") == 1 &&
          box_total(&b, "ciro lima") == 0;
  th_check(ok, "the owner finds its own person's conversation, by a word and by the name");
  th_check(cs__snapcache_made(lc, CS__SC_OWNED) - made0 == 1,
           "15 searches of one owner on one snapshot read its people once (%" PRIu64 " times)",
           cs__snapcache_made(lc, CS__SC_OWNED) - made0);
  /* The person moves to the other owner: the next searches see it. */
  write_lines(tmp, "patient 3100 5101 Berta Oliva\n");
  th_check(box_total(&b, "granada") == 0 && box_total(&b, "berta oliva") == 0,
           "after the person moved, the old owner finds neither the conversation nor the name");
  th_check(box_total(&c, "granada") == 2 && box_total(&c, "berta oliva") == 1,
           "the new owner finds both");
  th_check(cs__snapcache_made(lc, CS__SC_OWNED) - made0 == 3,
           "a commit makes each owner's next search read its people again (%" PRIu64 " times)",
           cs__snapcache_made(lc, CS__SC_OWNED) - made0);
}

/* An owner's expansions and copies (snapcache.h) outlive the commits that
 * leave its per-owner statistics alone (its version, records.h), and the
 * first search after a commit that touches them sees the change: a word
 * now within a typo of the query, whether the commit adds a conversation or
 * rewrites one with as many words (its counts, CS_T_OSTATS, unchanged). */
static void test_owner_versions(const char *tmp) {
  write_lines(tmp, "patient 3200 5200 Dora Pardo\n"
                   "conv 7200 3200 5200 2024-06-01 | |\n"
                   "turn 0 beneficiary - - Voz | el zumbrik del tejado\n"
                   "patient 3201 5201 Elio Sastre\n"
                   "conv 7201 3201 5201 2024-06-02 | |\n"
                   "turn 0 beneficiary - - Voz | una ventana rota\n");
  cs__snapcache *lc = engine_snapcache();
  const cs_caller d = {CS_CALLER_PORTAL, 5200}, e = {CS_CALLER_PORTAL, 5201};
  uint64_t memo0 = cs__snapcache_made(lc, CS__SC_OMEMO);
  th_check(box_total(&d, "zumbrak") == 1, "the owner finds its word by a typo");
  th_check(cs__snapcache_made(lc, CS__SC_OMEMO) == memo0 + 1,
           "the owner's expansions get a table of their own");
  memo0++;
  write_lines(tmp, "conv 7202 3201 5201 2024-06-03 | |\n"
                   "turn 0 beneficiary - - Voz | la puerta no cierra\n");
  th_check(box_total(&d, "zumbrak") == 1, "after another owner's commit, the same answer");
  th_check(cs__snapcache_made(lc, CS__SC_OMEMO) == memo0,
           "a commit touching another owner leaves the owner's expansions (%" PRIu64 " made)",
           cs__snapcache_made(lc, CS__SC_OMEMO) - memo0);
  th_check(box_total(&e, "puertx") == 1, "the other owner finds its new word by a typo");
  write_lines(tmp, "conv 7203 3200 5200 2024-06-04 | |\n"
                   "turn 0 beneficiary - - Voz | otro zumbrok nuevo\n");
  th_check(box_total(&d, "zumbrak") == 2,
           "the owner's next search finds the new word within a typo of its query");
  /* The first conversation rewritten with as many words, one of them new:
   * its counts (CS_T_OSTATS) do not move, its docids do. */
  write_lines(tmp, "conv 7200 3200 5200 2024-06-01 | |\n"
                   "turn 0 beneficiary - - Voz | el zumbruk del tejado\n");
  th_check(box_total(&d, "tejado") == 1,
           "the owner finds its rewritten conversation (its searches' horizon moved)");
  json_int_t t = box_total(&d, "zumbrak");
  th_check(t == 2, "a rewrite with the same counts: the new word found by a typo (%d found)",
           (int)t);
}

/* A word of test_expansion_carry: "m" and 4 or 5 letters of a small
 * alphabet, so that a commit often adds a word within a typo of another. */
static void carry_word(uint64_t *s, char *w) {
  static const char al[] = "aelrm";
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  int n = 5 + (int)(*s % 2);
  w[0] = 'm';
  for (int i = 1; i < n; i++) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    w[i] = al[*s % 5];
  }
  w[n] = 0;
}

/* A search by c on the engine's index with nothing kept per snapshot:
 * every expansion walks the index. */
static json_t *run_uncached(const cs_caller *c, const cs_search_params *p) {
  cs_analyzer *a = cs__analyzer_get();
  cs_engine_error err;
  cs_view v;
  if (cs_view_begin(engine, &v, &err)) die("view: %s", err.message);
  cs__search_opts o;
  cs__search_defaults(&o);
  o.turns = cs_view_turns(&v);
  if (cs_view_convs(&v, &o.convs)) die("convs");
  cs__snapcache *kept = cs__snapcache_set_current(NULL);
  cs_jtext t = {NULL, 0, 0, 0};
  int rc = cs__search_text(v.r, a, c, p, &o, 17, &t, &err);
  cs__snapcache_set_current(kept);
  cs_view_end(engine, &v);
  cs__analyzer_put(a);
  if (rc) die("search %s: %s", p->q, err.message);
  size_t len;
  char *text = cs_jtext_finish(&t, &len);
  json_error_t je;
  json_t *out = text ? json_loadb(text, len, JSON_ALLOW_NUL, &je) : NULL;
  free(text);
  if (!out) die("search %s: no answer", p->q);
  return out;
}

/* An owner's expansions passed on across its commits (expmemo.h): after
 * each of a series of commits that add and remove the owner's words (one
 * of them more than its record lists, two of them one after the other), the
 * engine that kept its expansions answers every search-box query exactly
 * as a search that keeps nothing (the whole answer: hits, scores,
 * snippets), and some of its expansions were made again from their
 * recipes rather than walked. Run for one owner with the owners' lexicon
 * copies (the walks recorded in RAM) and for another without (over the
 * index); and with `admin`, for the collection's expansions (an admin's
 * searches: their commits add words to the collection's tables). */
static void test_expansion_carry(const char *tmp, int copies, int admin) {
  const uint64_t owner = admin ? 5302 : copies ? 5300 : 5301;
  const uint64_t person = admin ? 3302 : copies ? 3300 : 3301;
  const int base = admin ? 8300 : copies ? 7300 : 7500;
  const cs_caller o = {admin ? CS_CALLER_ADMIN : CS_CALLER_PORTAL, admin ? 0 : owner};
  cs_engine_set_owner_cache(engine, copies ? CS_ENGINE_OWNER_CACHE_DEFAULT : 0);
  cs__snapcache *lc = engine_snapcache();
  uint64_t made0 = cs__snapcache_made(lc, CS__SC_OWORDS);
  uint64_t s = admin ? 0x2545F4914F6CDD1Dull : 0x9E3779B97F4A7C15ull; /* (words new to all) */
  enum { NQ = 24 };
  char q[NQ][32];
  for (int i = 0; i < NQ; i++) {
    char a[8], b[8];
    carry_word(&s, a);
    carry_word(&s, b);
    if (i < 12)
      snprintf(q[i], sizeof q[i], "%s", a);
    else if (i < 18)
      snprintf(q[i], sizeof q[i], "%s %.3s", a, b); /* the last word a prefix */
    else
      snprintf(q[i], sizeof q[i], "%s %s", a, b);
  }
  uint64_t replayed0 = cs__expand_replayed();
  int bad = 0, steps = 30;
  for (int step = 0; step < steps && bad < 3; step++) {
    static char text[16384];
    size_t n = (size_t)snprintf(text, sizeof text,
                                "patient %" PRIu64 " %" PRIu64 " Nora Prado\n"
                                "conv %d %" PRIu64 " %" PRIu64 " 2024-07-%02d | |\n"
                                "turn 0 beneficiary - - Voz |",
                                person, owner, base + step, person, owner, 1 + step % 28);
    /* One commit adds more words than a record lists ("many"). */
    int more = admin ? CS_GCHANGES_MAX + 500 : CS_OCHANGES_MAX + 10;
    for (int i = 0; i < (step == 20 ? more : 6); i++) {
      char w[8];
      carry_word(&s, w);
      if (i && i % 100 == 0) /* (a turn of a hundred words per line) */
        n +=
            (size_t)snprintf(text + n, sizeof text - n, "\nturn %d beneficiary - - Voz |", i / 100);
      n += (size_t)snprintf(text + n, sizeof text - n, " %s", w);
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "\n");
    if (step % 4 == 3) /* some words go with a conversation */
      snprintf(text + n, sizeof text - n, "delete %d\n", base + step - 2);
    if (step % 5 == 4) { /* two commits between searches: a version skipped */
      char first[256];
      char w[2][8];
      carry_word(&s, w[0]);
      carry_word(&s, w[1]);
      snprintf(first, sizeof first,
               "conv %d %" PRIu64 " %" PRIu64
               " 2024-08-01 | |\nturn 0 beneficiary - - Voz | %s %s\n",
               base + 100 + step, person, owner, w[0], w[1]);
      write_lines(tmp, first);
    }
    write_lines(tmp, text);
    for (int i = 0; i < NQ && bad < 3; i++) {
      cs_engine_error err;
      cs_search_params p;
      params_init(&p, q[i]);
      json_t *kept = run(&o, &p, &err), *anew = run_uncached(&o, &p);
      if (!kept) die("search %s: %s", q[i], err.message);
      json_object_del(kept, "took_ms");
      json_object_del(anew, "took_ms");
      char *x = json_dumps(kept, JSON_SORT_KEYS | JSON_COMPACT);
      char *y = json_dumps(anew, JSON_SORT_KEYS | JSON_COMPACT);
      if (strcmp(x, y)) {
        bad++;
        th_check(0, "after commit %d, \"%s\" as kept: %s\n  afresh: %s", step, q[i], x, y);
      }
      free(x);
      free(y);
      json_decref(kept);
      json_decref(anew);
    }
  }
  th_check(!bad, "%s expansions kept across %d commits answer as made afresh (%s copies)",
           admin ? "the collection's" : "an owner's", steps, copies ? "with" : "without");
  uint64_t replayed = cs__expand_replayed() - replayed0;
  th_check(replayed > 0, "some were made again from their recipes (%" PRIu64 ")", replayed);
  uint64_t made = cs__snapcache_made(lc, CS__SC_OWORDS) - made0;
  th_check(admin || (copies ? made > 0 : made == 0), "owner copies made: %" PRIu64 " (%s copies)",
           made, copies ? "with" : "without");
  cs_engine_set_owner_cache(engine, CS_ENGINE_OWNER_CACHE_DEFAULT);
}

/* An owner whose expansions go to the collection's table (every owner
 * table taken by owners active within the minute: snapcache.c) keeps
 * them there with its own recipes; a commit that adds to the owner a word
 * the collection already has lists it in the owner's record, not the
 * collection's, so the collection's table must not pass the owner's entry
 * on (expmemo.c, carry): the owner's next search finds its new
 * conversation through the typo, as a search that keeps nothing does. */
static void test_expansion_carry_shared(const char *tmp) {
  write_lines(tmp, "patient 3402 5402 Owner Quvo\n"
                   "conv 8600 3402 5402 2024-09-01 | |\nturn 0 beneficiary - - Voz | quvolat\n"
                   "patient 3403 5403 Other Quvo\n"
                   "conv 8601 3403 5403 2024-09-01 | |\nturn 0 beneficiary - - Voz | quvolet\n");
  for (int i = 0; i < 64; i++) { /* every owner table used within the minute */
    const cs_caller c = {CS_CALLER_PORTAL, (uint64_t)(6000 + i)};
    box_total(&c, "quvo");
  }
  const cs_caller x = {CS_CALLER_PORTAL, 5402};
  th_check(box_total(&x, "quvolat") == 1, "the owner finds its own conversation");
  write_lines(tmp, "conv 8602 3402 5402 2024-09-02 | |\nturn 0 beneficiary - - Voz | quvolet\n");
  cs_engine_error err;
  cs_search_params p;
  params_init(&p, "quvolat");
  json_t *kept = run(&x, &p, &err), *anew = run_uncached(&x, &p);
  if (!kept) die("search: %s", err.message);
  json_object_del(kept, "took_ms");
  json_object_del(anew, "took_ms");
  char *a = json_dumps(kept, JSON_SORT_KEYS | JSON_COMPACT);
  char *b = json_dumps(anew, JSON_SORT_KEYS | JSON_COMPACT);
  th_check(!strcmp(a, b) && json_integer_value(json_object_get(kept, "total")) == 2,
           "an owner's expansion in the collection's table is not passed on by the collection's "
           "record: %s\n  afresh: %s",
           a, b);
  free(a);
  free(b);
  json_decref(kept);
  json_decref(anew);
}

/* A query word for the recipe checks: word and stem as given. */
static cs__qword recipe_word(const char *word, const char *term, int stop, int number) {
  cs__qword w;
  memset(&w, 0, sizeof w);
  snprintf(w.word, sizeof w.word, "%s", word);
  snprintf(w.term, sizeof w.term, "%s", term);
  w.word_len = (uint8_t)strlen(w.word);
  w.term_len = (uint8_t)strlen(w.term);
  w.stop = (uint8_t)stop;
  w.number = (uint8_t)number;
  return w;
}

/* Which added keys reach an expansion's typo walks (cs__recipe_reached),
 * and when a recipe's walks are too near their bounds to be trusted after
 * more keys (cs__recipe_carry). */
static void test_recipes(void) {
  static const struct {
    const char *word, *term;
    int stop, number, edits, lex;
    const char *key;
    int reached;
  } cases[] = {
      {"desahucio", "desahuci", 0, 0, 1, 0, "desaucio", 1},   /* a word one edit away */
      {"desahucio", "desahuci", 0, 0, 1, 0, "desahucios", 1}, /* one letter more */
      {"desahucio", "desahuci", 0, 0, 1, 0, "desaucios", 0},  /* two edits, one allowed */
      {"desahucio", "desahuci", 0, 0, 2, 0, "desaucios", 1},  /* two allowed */
      {"desahucio", "desahuci", 0, 0, 1, 0, "esahucio", 0},   /* another first letter */
      {"desahucio", "desahuci", 0, 0, 0, 0, "desahucio", 0},  /* no typos: no walk */
      {"desahucio", "desahuci", 0, 0, 1, 1, "desahuc", 1},    /* a term near the stem */
      {"desahucio", "desahuci", 0, 0, 1, 1, "desahucio", 1},  /* ... one letter more */
      {"desahucio", "desahuci", 1, 0, 1, 1, "desahuc", 0},    /* a stop word: no terms walk */
      {"12345", "12345", 0, 1, 1, 0, "12346", 0},             /* numbers are never fuzzy */
      {"casas", "cas", 0, 0, 1, 1, "caso", 0},                /* a short stem gets no typo */
      {"ñandú", "ñandu", 0, 0, 1, 0, "ñandu", 1},             /* ñ first */
      {"ñandú", "ñandu", 0, 0, 1, 0, "nandu", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cs__qword w = recipe_word(cases[i].word, cases[i].term, cases[i].stop, cases[i].number);
    int got =
        cs__recipe_reached(&w, cases[i].edits, cases[i].lex, cases[i].key, strlen(cases[i].key));
    th_check(got == cases[i].reached, "%s key %s added, word %s, %d edits: %s, expected %s",
             cases[i].lex ? "term" : "word", cases[i].key, cases[i].word, cases[i].edits,
             got ? "reached" : "not reached", cases[i].reached ? "reached" : "not");
  }
  cs__recipe r = {.ok = 1, .visits = 100, .seeks = 10};
  th_check(cs__recipe_carry(&r, 5) && r.changes == 5, "a walk far within its bounds carries");
  th_check(cs__recipe_carry(&r, 5) && r.changes == 10, "keys added count up across versions");
  r = (cs__recipe){.ok = 1, .visits = 19990, .seeks = 10};
  th_check(!cs__recipe_carry(&r, 1), "a walk that used nearly all its visits is walked again");
  r = (cs__recipe){.ok = 1, .visits = 100, .seeks = 3999};
  th_check(!cs__recipe_carry(&r, 1), "... or nearly all its seeks");
  r = (cs__recipe){.ok = 1, .visits = 100, .seeks = 10};
  th_check(!cs__recipe_carry(&r, 5000), "... or after many keys");
  r = (cs__recipe){.ok = 0};
  th_check(!cs__recipe_carry(&r, 0), "an incomplete recipe never carries");
}

/* ---------------------------------------------------------------- main */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(p);
}

/* Optimal string alignment distance (adjacent transpositions count one),
 * the whole table, over code points: what the typo walk's banded table
 * (query/expand.c) must agree with up to its bound. */
static int osa_reference(const uint32_t *a, int n, const uint32_t *b, int m) {
  int d[16][16];
  for (int i = 0; i <= n; i++)
    d[i][0] = i;
  for (int j = 0; j <= m; j++)
    d[0][j] = j;
  for (int i = 1; i <= n; i++) {
    for (int j = 1; j <= m; j++) {
      int v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (sub < v) v = sub;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[n][m];
}

/* cs__edit_distance(a, b, max) is min(distance, max + 1) for random words
 * over a small alphabet (so that near misses are common), two letters of
 * it two bytes long. */
static void test_edit_distance(void) {
  static const char *const letters[] = {"a", "b", "c", "\xC3\xB1", "\xC3\xA9"}; /* ñ é */
  uint64_t seed = 88172645463325252ull;
  int bad = 0;
  for (int t = 0; t < 200000 && bad < 5; t++) {
    char w[2][40];
    uint32_t cp[2][16];
    int n[2];
    for (int k = 0; k < 2; k++) {
      seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
      n[k] = (int)(seed % 11);
      size_t len = 0;
      w[k][0] = 0;
      for (int i = 0; i < n[k]; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        int l = (int)(seed % 5);
        len += (size_t)snprintf(w[k] + len, sizeof w[k] - len, "%s", letters[l]);
        cp[k][i] = (uint32_t)l;
      }
    }
    int ref = osa_reference(cp[0], n[0], cp[1], n[1]);
    for (int max = 0; max <= 3; max++) {
      int got = cs__edit_distance(w[0], strlen(w[0]), w[1], strlen(w[1]), max);
      int want = ref > max ? max + 1 : ref;
      if (got != want) {
        bad++;
        th_check(0, "edit distance of \"%s\" and \"%s\" within %d: %d, expected %d", w[0], w[1],
                 max, got, want);
      }
    }
  }
  th_check(!bad, "edit distances within a bound agree with the whole table");
}

/* An index of another format (an older server's): the engine opens, and
 * every search answers 503 saying how to rebuild it, not a bare failure. */
static void test_foreign_format(const char *tmp) {
  char dir[PATH_MAX], msg[256] = "";
  snprintf(dir, sizeof dir, "%s/foreign", tmp);
  cs_store *s;
  cs_txn *t;
  if (cs_store_open(dir, CS_STORE_CREATE, &s, msg, sizeof msg)) die("open %s: %s", dir, msg);
  if (cs_txn_begin(s, 1, &t)) die("txn");
  cs_put(t, CS_T_META, (cs_slice){"format", 6}, (cs_slice){"convsearch-index 7", 18});
  if (cs_txn_commit(t)) die("commit");
  cs_store_close(s);
  cs_engine *old;
  cs_engine_error err;
  th_check(cs_engine_open(dir, &old, &err) == 0, "an index of another format opens: %s",
           err.message);
  if (!old) return;
  cs_caller admin = {CS_CALLER_ADMIN, 0};
  cs_search_params p;
  params_init(&p, "vivienda");
  json_t *out = NULL;
  memset(&err, 0, sizeof err);
  int rc = cs_engine_search(old, &admin, &p, &out, &err);
  th_check(rc == -1 && err.status == 503 && strstr(err.message, "reindex"),
           "a search says the index must be rebuilt (%d %d %s)", rc, err.status, err.message);
  json_decref(out);
  cs_engine_close(old);
}

/* The answer's text (cs_engine_search_text, what GET /v1/search sends) is
 * exactly what jansson writes for the values it holds: compact, members in
 * the documented order, strings escaped and reals written its way (scores
 * with the precision asked), for every caller, with and without snippets,
 * on a page with a cursor and on an empty one. */
static void test_answer_text(void) {
  static const char *const qs[] = {"vivienda", "desahucio alquiler", "\"piso compartido\"", "zzzz",
                                   "",         "vivienda OR empleo"};
  const cs_caller callers[] = {{CS_CALLER_ADMIN, 0}, {CS_CALLER_ANALYST, 0}, {CS_CALLER_PORTAL, 1}};
  int texts = 0, hits = 0;
  for (size_t ci = 0; ci < sizeof callers / sizeof *callers; ci++) {
    for (size_t qi = 0; qi < sizeof qs / sizeof *qs; qi++) {
      for (int snip = 0; snip < 2; snip++) {
        cs_search_params p;
        params_init(&p, qs[qi]);
        p.limit = 2;
        p.no_snippets = !snip;
        char *text = NULL;
        size_t len = 0;
        cs_engine_error err;
        memset(&err, 0, sizeof err);
        int precision = snip ? 10 : 4;
        if (cs_engine_search_text(engine, &callers[ci], &p, precision, &text, &len, &err)) {
          th_check(0, "search text %s: %s", qs[qi], err.message);
          continue;
        }
        th_check(strlen(text) == len, "the text's length (%s)", qs[qi]);
        json_t *tree = json_loadb(text, len, 0, NULL);
        char *again = tree ? json_dumps(tree, JSON_COMPACT | JSON_REAL_PRECISION(precision)) : NULL;
        th_check(again && !strcmp(again, text), "jansson writes the same text for %s:\n%s\n%s",
                 qs[qi], text, again ? again : "(not JSON)");
        static const char *const keys[] = {"total",       "total_exact", "took_ms",
                                           "next_cursor", "hits",        "relaxed"};
        const char *k;
        json_t *v;
        size_t ki = 0;
        json_object_foreach(tree, k, v) {
          if (ki < 6) th_check(!strcmp(k, keys[ki]), "member %zu is %s, not %s", ki, k, keys[ki]);
          ki++;
        }
        hits += (int)json_array_size(json_object_get(tree, "hits"));
        texts++;
        free(again);
        json_decref(tree);
        free(text);
      }
    }
  }
  th_check(texts == 36 && hits > 20, "answers written: %d, hits %d", texts, hits);
  cs_search_params p;
  params_init(&p, "vivienda");
  char *text = NULL;
  size_t len;
  cs_engine_error err;
  th_check(cs_engine_search_text(engine, &callers[0], &p, 18, &text, &len, &err) == -1 &&
               err.status == 400 && !text,
           "a precision past 17 is refused");
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "--write")) {
    write_corpus(argv[2], argv[3]);
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: test_search DATA_DIR\n");
    return 2;
  }
  char tmp[] = "/tmp/cs_test_search_XXXXXX";
  if (!mkdtemp(tmp)) die("mkdtemp: %s", strerror(errno));
  snprintf(index_dir, sizeof index_dir, "%s/index", tmp);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/corpus.txt", argv[1]);
  write_corpus(index_dir, path);
  cs_engine_error err;
  if (cs_engine_open(index_dir, &engine, &err)) die("engine: %s", err.message);

  snprintf(path, sizeof path, "%s/search.txt", argv[1]);
  run_case_file(path);
  test_highlight_offsets();
  test_portal_isolation();
  test_analyst();
  test_person_names();
  test_relaxed_pages();
  test_errors();
  test_owner_change(tmp);
  test_paging(tmp);
  test_pruning_exact(tmp);
  test_turn_map(tmp);
  test_no_snippets();
  test_chunk_passing(tmp);
  test_live_table(tmp);
  test_lexicon_follows(tmp);
  test_owner_versions(tmp); /* before more owners than are kept take turns */
  test_expansion_carry(tmp, 1, 0);
  test_expansion_carry(tmp, 0, 0);
  test_expansion_carry(tmp, 1, 1);
  test_expansion_carry_shared(tmp);
  test_snapcache_limits(tmp);
  test_snapcache_busy(tmp);
  test_owned_cache(tmp);
  test_variant_bounds(tmp);
  test_count_in_runs(tmp);
  test_whole_conv_bounds(tmp);
  test_exact_tier_skip(tmp);
  test_typo_below_word(tmp);
  test_exclusion_past_bound(tmp);
  test_edit_distance();
  test_recipes();
  test_foreign_format(tmp);
  test_answer_text();

  cs_engine_close(engine);
  if (!getenv("CS_TEST_KEEP"))
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  else
    printf("kept %s\n", tmp);
  printf("test_search: %d passed, %d failed\n", th_passed, th_failed);
  return th_failed ? 1 : 0;
}
