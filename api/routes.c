/*
 * The v1 routes (see routes.h): a table of routes with the methods and roles
 * each admits, one parameter validator per kind of value, and one handler
 * per route that turns validated parameters into a query engine call.
 *
 * Every value from the URL or the body is untrusted: parameters are checked
 * for encoding (strict percent-escapes, valid UTF-8, no NUL), for being
 * known to the route and given once, and for range and length before the
 * engine sees them. Error messages may name a parameter but never echo more
 * than a short, valid-UTF-8 piece of what the client sent.
 */
#include "routes.h"

#include "console.h"
#include "digits.h"
#include "json_write.h"
#include "jtext.h"
#include "log.h"
#include "metrics.h"
#include "utf8.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const cs_route_labels[CS_R__COUNT] = {
    [CS_R_HEALTH] = "/v1/health",
    [CS_R_METRICS] = "/v1/metrics",
    [CS_R_SEARCH] = "/v1/search",
    [CS_R_SUGGEST] = "/v1/suggest",
    [CS_R_PATIENTS] = "/v1/patients",
    [CS_R_CONVERSATION] = "/v1/conversations/{id}",
    [CS_R_CHECKLIST] = "/v1/conversations/{id}/checklist",
    [CS_R_QA] = "/v1/qa/retrieve",
    [CS_R_ANALYTICS] = "/v1/analytics",
    [CS_R_EXPORT] = "/v1/export",
    [CS_R_ADMIN_REINDEX] = "/v1/admin/reindex",
    [CS_R_ADMIN_JOB] = "/v1/admin/jobs/{id}",
    [CS_R_ADMIN_SYNONYMS] = "/v1/admin/synonyms",
    [CS_R_CONSOLE] = "/console/",
    [CS_R_NONE] = "unmatched",
};

int cs_route_heavy(cs_route_id r) {
  return r == CS_R_ANALYTICS || r == CS_R_EXPORT;
}

/* Roles as bits. */
#define R_ADMIN (1u << CS_CALLER_ADMIN)
#define R_ANALYST (1u << CS_CALLER_ANALYST)
#define R_PORTAL (1u << CS_CALLER_PORTAL)
#define R_ANY (R_ADMIN | R_ANALYST | R_PORTAL)
#define R_PUBLIC 0u /* no token needed */

typedef struct route_def {
  int post;       /* 0: GET (and HEAD); 1: POST; 2: GET (and HEAD) and PUT */
  unsigned roles; /* R_PUBLIC or a set of R_* */
} route_def;

/* Which roles may use what. Portal callers are restricted to their own
 * people by the engine on every route they may use; metrics carry no
 * personal data but are operational, so not for browsers; admin jobs and
 * synonyms are for admins only. */
static const route_def routes[CS_R__COUNT] = {
    [CS_R_HEALTH] = {0, R_PUBLIC},       [CS_R_METRICS] = {0, R_ADMIN | R_ANALYST},
    [CS_R_SEARCH] = {0, R_ANY},          [CS_R_SUGGEST] = {0, R_ANY},
    [CS_R_PATIENTS] = {0, R_ANY},        [CS_R_CONVERSATION] = {0, R_ANY},
    [CS_R_CHECKLIST] = {0, R_ANY},       [CS_R_QA] = {1, R_ANY},
    [CS_R_ANALYTICS] = {1, R_ANY},       [CS_R_EXPORT] = {0, R_ANY},
    [CS_R_ADMIN_REINDEX] = {1, R_ADMIN}, [CS_R_ADMIN_JOB] = {0, R_ADMIN},
    [CS_R_CONSOLE] = {0, R_PUBLIC},      [CS_R_ADMIN_SYNONYMS] = {2, R_ADMIN},
};

double cs_mono_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- replies */

/* Significant digits of the reals in answers. */
#define REPLY_PRECISION 10

/* Replies JSON text s (malloc'd, taken over) of len bytes; NULL: it could
 * not be written. */
static void reply_text(cs_reply *rp, int status, char *s, size_t len) {
  if (!s) {
    cs_reply_error(rp, 500, "internal", "the answer could not be serialized");
    return;
  }
  rp->status = status;
  rp->content_type = "application/json; charset=utf-8";
  free(rp->body);
  rp->body = s;
  rp->len = len;
}

static void reply_json(cs_reply *rp, int status, json_t *j) {
  size_t len = 0;
  char *s = j ? cs_json_write(j, REPLY_PRECISION, &len) : NULL;
  json_decref(j);
  reply_text(rp, status, s, len);
}

void cs_reply_error(cs_reply *rp, int status, const char *code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* vsnprintf may cut a character in two. */
  size_t n = cs_utf8_cut(msg, strlen(msg), sizeof msg - 1);
  msg[n] = 0;
  rp->status = status;
  snprintf(rp->code, sizeof rp->code, "%s", code);
  free(rp->body);
  rp->body = NULL;
  rp->content_type = "application/json; charset=utf-8";
  json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
  size_t len = 0;
  char *s = j ? cs_json_write(j, 0, &len) : NULL;
  json_decref(j);
  if (!s) {
    /* Out of memory: a fixed body still tells the client what happened. */
    static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    s = strdup(oom);
    rp->status = 500;
  }
  rp->body = s;
  rp->len = s && !len ? strlen(s) : len;
}

void cs_reply_free(cs_reply *rp) {
  free(rp->body);
  rp->body = NULL;
  if (rp->stream) cs_stream_close(rp->stream);
  rp->stream = NULL;
}

static void reply_engine_error(cs_reply *rp, const cs_engine_error *e) {
  if (e->status < 400 || e->status > 599 || !e->code[0])
    cs_reply_error(rp, 500, "internal", "the query engine failed");
  else
    cs_reply_error(rp, e->status, e->code, "%s", e->message[0] ? e->message : "error");
}

/* A short, printable piece of client input for a message. */
static const char *quote(const char *s, size_t n, char *buf, size_t cap) {
  size_t m = n < cap - 4 ? n : cs_utf8_cut(s, n, cap - 4);
  memcpy(buf, s, m);
  if (m < n) {
    memcpy(buf + m, "...", 3);
    m += 3;
  }
  buf[m] = 0;
  for (size_t i = 0; i < m; i++) {
    if ((unsigned char)buf[i] < 0x20) buf[i] = '?';
  }
  return buf;
}

/* ---------------------------------------------------------------- URL */

size_t cs_unescape(char *s, unsigned *flags) {
  size_t n = strlen(s);
  /* Check first: a malformed string is left untouched (it is rejected). */
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') continue;
    if (i + 2 >= n || cs_hex_digit((unsigned char)s[i + 1]) < 0 ||
        cs_hex_digit((unsigned char)s[i + 2]) < 0) {
      *flags |= CS_URL_BAD_ESCAPE;
      return n;
    }
    if (s[i + 1] == '0' && s[i + 2] == '0') *flags |= CS_URL_NUL;
    i += 2;
  }
  if (*flags & CS_URL_NUL) return n;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      s[o++] = (char)(cs_hex_digit((unsigned char)s[i + 1]) << 4 |
                      cs_hex_digit((unsigned char)s[i + 2]));
      i += 2;
    } else {
      s[o++] = s[i];
    }
  }
  s[o] = 0;
  return o;
}

cs_route_id cs_route_find(const char *path, uint64_t *id, int *id_ok) {
  *id = 0;
  *id_ok = 0;
  static const struct {
    const char *path;
    cs_route_id r;
  } fixed[] = {
      {"/v1/health", CS_R_HEALTH},
      {"/v1/metrics", CS_R_METRICS},
      {"/v1/search", CS_R_SEARCH},
      {"/v1/suggest", CS_R_SUGGEST},
      {"/v1/patients", CS_R_PATIENTS},
      {"/v1/qa/retrieve", CS_R_QA},
      {"/v1/analytics", CS_R_ANALYTICS},
      {"/v1/export", CS_R_EXPORT},
      {"/v1/admin/reindex", CS_R_ADMIN_REINDEX},
      {"/v1/admin/synonyms", CS_R_ADMIN_SYNONYMS},
  };
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    if (!strcmp(path, fixed[i].path)) return fixed[i].r;
  }
  if (!strcmp(path, "/console") || !strncmp(path, "/console/", 9)) return CS_R_CONSOLE;
  static const char conv[] = "/v1/conversations/", job[] = "/v1/admin/jobs/";
  const char *rest = NULL;
  cs_route_id r = CS_R_NONE;
  if (!strncmp(path, conv, sizeof conv - 1)) {
    rest = path + sizeof conv - 1;
    r = CS_R_CONVERSATION;
  } else if (!strncmp(path, job, sizeof job - 1)) {
    rest = path + sizeof job - 1;
    r = CS_R_ADMIN_JOB;
  }
  if (!rest) return CS_R_NONE;
  const char *slash = strchr(rest, '/');
  size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
  if (n == 0) return CS_R_NONE;
  if (slash) {
    if (r != CS_R_CONVERSATION || strcmp(slash, "/checklist") != 0) return CS_R_NONE;
    r = CS_R_CHECKLIST;
  }
  *id_ok = cs_parse_id(rest, n, id) == 0;
  return r;
}

/* ---------------------------------------------------------------- parameters */

/* Checks that every parameter is known to the route and given once. */
static int check_names(const cs_request *rq, const char *const *allowed, cs_reply *rp) {
  char b[80];
  for (int i = 0; i < rq->nargs; i++) {
    const cs_arg *a = &rq->args[i];
    int known = 0;
    for (const char *const *n = allowed; *n; n++)
      known |= !strcmp(*n, a->key);
    if (!known) {
      cs_reply_error(rp, 400, "unknown_parameter", "unknown parameter \"%s\"",
                     quote(a->key, a->klen, b, 48));
      return -1;
    }
    for (int j = 0; j < i; j++) {
      if (!strcmp(rq->args[j].key, a->key)) {
        cs_reply_error(rp, 400, "bad_parameter", "parameter \"%s\" is given more than once",
                       a->key);
        return -1;
      }
    }
  }
  return 0;
}

static const char *arg(const cs_request *rq, const char *name) {
  for (int i = 0; i < rq->nargs; i++) {
    if (!strcmp(rq->args[i].key, name)) return rq->args[i].val;
  }
  return NULL;
}

static int arg_limit(const cs_request *rq, uint32_t def, uint32_t max, uint32_t *out,
                     cs_reply *rp) {
  const char *v = arg(rq, "limit");
  *out = def;
  if (!v) return 0;
  uint64_t x;
  if (cs_parse_id(v, strlen(v), &x) || x > max) {
    cs_reply_error(rp, 400, "bad_parameter", "limit must be an integer from 1 to %u", max);
    return -1;
  }
  *out = (uint32_t)x;
  return 0;
}

static int arg_id(const cs_request *rq, const char *name, uint64_t *out, cs_reply *rp) {
  const char *v = arg(rq, name);
  *out = 0;
  if (!v) return 0;
  if (cs_parse_id(v, strlen(v), out)) {
    cs_reply_error(rp, 400, "bad_parameter", "%s must be a positive integer below 2^63", name);
    return -1;
  }
  return 0;
}

/* Query text: bounded in bytes (and, for queries, in words). */
static int check_q(const char *v, int count_terms, cs_reply *rp) {
  size_t n = strlen(v);
  if (n > CS_QUERY_MAX_BYTES) {
    cs_reply_error(rp, 400, "query_too_long", "q is %zu bytes long; at most %d are accepted", n,
                   CS_QUERY_MAX_BYTES);
    return -1;
  }
  if (count_terms) {
    int terms = 0, in = 0;
    for (const char *p = v; *p; p++) {
      int sp = isspace((unsigned char)*p);
      if (!sp && !in) terms++;
      in = !sp;
    }
    if (terms > CS_QUERY_MAX_TERMS) {
      cs_reply_error(rp, 400, "too_many_terms", "q has %d words; at most %d are accepted", terms,
                     CS_QUERY_MAX_TERMS);
      return -1;
    }
  }
  return 0;
}

static int arg_q(const cs_request *rq, int count_terms, const char **out, cs_reply *rp) {
  const char *v = arg(rq, "q");
  *out = v;
  return v ? check_q(v, count_terms, rp) : 0;
}

static int arg_cursor(const cs_request *rq, const char **out, cs_reply *rp) {
  const char *v = arg(rq, "cursor");
  *out = v && *v ? v : NULL;
  if (!*out) return 0;
  size_t n = strlen(v);
  int ok = n <= CS_CURSOR_MAX;
  for (size_t i = 0; ok && i < n; i++)
    ok = v[i] > 0x20 && v[i] < 0x7f;
  if (!ok) {
    cs_reply_error(rp, 400, "bad_cursor",
                   "cursor must be the next_cursor of a previous page (at most %d characters)",
                   CS_CURSOR_MAX);
    return -1;
  }
  return 0;
}

/* Index of value v of parameter or member `name` in names (NULL-terminated):
 * def when v is absent, -1 with a reply naming the allowed values. */
static int enum_value(const char *name, const char *v, const char *const *names, int def, int *out,
                      cs_reply *rp) {
  *out = def;
  if (!v) return 0;
  for (int i = 0; names[i]; i++) {
    if (!strcmp(v, names[i])) {
      *out = i;
      return 0;
    }
  }
  char list[160] = "";
  for (int i = 0; names[i]; i++) {
    size_t l = strlen(list);
    snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", names[i]);
  }
  cs_reply_error(rp, 400, "bad_parameter", "%s must be one of: %s", name, list);
  return -1;
}

static int arg_enum(const cs_request *rq, const char *name, const char *const *names, int def,
                    int *out, cs_reply *rp) {
  return enum_value(name, arg(rq, name), names, def, out, rp);
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

static int days_in_month(int y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : d[m - 1];
}

/* ISO 8601: YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS[.frac]][Z|+HH:MM|-HH:MM|+HHMM]
 * (UTC when no offset). A date alone means its whole UTC day: its start for
 * `from`, its last millisecond for `to`. Exposed for tests through the API
 * only. */
static int parse_time(const char *s, int end_of_day, int64_t *ms) {
  size_t n = strlen(s);
  int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0, off = 0;
  if (n < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
      digits(s + 8, 2, &d))
    return -1;
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return -1;
  const char *p = s + 10;
  int date_only = *p == 0;
  if (!date_only) {
    if (*p != 'T' && *p != 't') return -1;
    p++;
    if (strlen(p) < 5 || digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi)) return -1;
    p += 5;
    if (*p == ':') {
      if (digits(p + 1, 2, &sec)) return -1;
      p += 3;
      if (*p == '.' || *p == ',') {
        p++;
        int nd = 0, scale = 100;
        while (*p >= '0' && *p <= '9') {
          if (nd < 3) frac_ms += (*p - '0') * scale, scale /= 10;
          if (++nd > 9) return -1;
          p++;
        }
        if (nd == 0) return -1;
      }
    }
    if (h > 23 || mi > 59 || sec > 59) return -1;
    if (*p == 'Z' || *p == 'z') {
      p++;
    } else if (*p == '+' || *p == '-' || *p == ' ') {
      /* ' ': a '+' the client did not escape (form encoding made it a space). */
      int sign = *p == '-' ? -1 : 1, oh, om;
      p++;
      if (digits(p, 2, &oh)) return -1;
      p += 2;
      if (*p == ':') p++;
      if (digits(p, 2, &om)) return -1;
      p += 2;
      if (oh > 23 || om > 59) return -1;
      off = sign * (oh * 60 + om);
    }
    if (*p) return -1;
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  int64_t v = (int64_t)t * 1000 + frac_ms - (int64_t)off * 60000;
  if (date_only && end_of_day) v += 86400000 - 1;
  *ms = v;
  return 0;
}

static int arg_time(const cs_request *rq, const char *name, int end_of_day, int64_t def,
                    int64_t *out, cs_reply *rp) {
  const char *v = arg(rq, name);
  *out = def;
  if (!v) return 0;
  if (parse_time(v, end_of_day, out)) {
    cs_reply_error(rp, 400, "bad_parameter",
                   "%s must be an ISO 8601 date (2026-09-01) or date and time "
                   "(2026-09-01T10:00:00Z)",
                   name);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- handlers */

static int64_t wall_seconds(void) {
  return (int64_t)time(NULL);
}

static void h_health(cs_api *api, const cs_request *rq, cs_reply *rp) {
  static const char *const none[] = {NULL};
  if (check_names(rq, none, rp)) return;
  json_t *h = NULL;
  double up = cs_mono_seconds() - api->started;
  if (cs_engine_health(api->engine, &h)) {
    cs_reply_error(rp, 503, "index_unavailable", "the index cannot be read");
    return;
  }
  json_t *j = json_pack("{s:s, s:f}", "status", "ok", "uptime_s", up);
  if (j && h) json_object_update(j, h);
  json_decref(h);
  reply_json(rp, 200, j);
}

static void h_metrics(cs_api *api, const cs_request *rq, cs_reply *rp) {
  static const char *const none[] = {NULL};
  if (check_names(rq, none, rp)) return;
  json_t *h = NULL;
  if (cs_engine_health(api->engine, &h)) h = NULL;
  size_t len;
  char *text = cs_metrics_render(h, cs_mono_seconds() - api->started, &len);
  json_decref(h);
  if (!text) {
    cs_reply_error(rp, 500, "internal", "out of memory");
    return;
  }
  rp->status = 200;
  rp->content_type = "text/plain; version=0.0.4; charset=utf-8";
  rp->body = text;
  rp->len = len;
}

/* In CS_ROLE_* order. */
static const char *const role_names[] = {"other", "interviewer", "beneficiary", NULL};

/* q and the filters shared by search and export. */
static int arg_filters(const cs_request *rq, cs_search_params *p, cs_reply *rp) {
  int role;
  if (arg_q(rq, 1, &p->q, rp) || arg_id(rq, "patient", &p->patient, rp) ||
      arg_id(rq, "owner", &p->owner, rp) || arg_id(rq, "conversation", &p->conversation, rp) ||
      arg_time(rq, "from", 0, INT64_MIN, &p->from_ms, rp) ||
      arg_time(rq, "to", 1, INT64_MAX, &p->to_ms, rp) ||
      arg_enum(rq, "role", role_names, CS_ANY_ROLE, &role, rp))
    return -1;
  p->role = role;
  if (!p->q) p->q = "";
  if (p->from_ms != INT64_MIN && p->to_ms != INT64_MAX && p->from_ms > p->to_ms) {
    cs_reply_error(rp, 400, "bad_parameter", "from must not be after to");
    return -1;
  }
  p->speaker = arg(rq, "speaker");
  if (p->speaker && strlen(p->speaker) > CS_SPEAKER_MAX) {
    cs_reply_error(rp, 400, "bad_parameter", "speaker is longer than %d bytes", CS_SPEAKER_MAX);
    return -1;
  }
  if (p->speaker && !*p->speaker) p->speaker = NULL;
  return 0;
}

/* facets=month,owner,category,role (any of them, comma-separated). */
static int arg_facets(const cs_request *rq, unsigned *out, cs_reply *rp) {
  const char *v = arg(rq, "facets");
  *out = 0;
  if (!v) return 0;
  for (;;) {
    size_t n = strcspn(v, ",");
    int bit = cs_facet_bit(v, n);
    if (!bit) {
      cs_reply_error(rp, 400, "bad_parameter",
                     "facets must be a comma-separated list of month, owner, category, role");
      return -1;
    }
    *out |= (unsigned)bit;
    if (!v[n]) return 0;
    v += n + 1; /* an empty name after a comma is refused above */
  }
}

static void h_search(cs_api *api, const cs_request *rq, const cs_caller *c, cs_reply *rp) {
  static const char *const names[] = {
      "q",       "limit", "cursor", "patient", "owner", "conversation", "from", "to",
      "speaker", "role",  "sort",   "facets",  NULL};
  static const char *const sorts[] = {"relevance", "date", "-date", NULL};
  if (check_names(rq, names, rp)) return;
  cs_search_params p;
  memset(&p, 0, sizeof p);
  unsigned facets;
  if (arg_filters(rq, &p, rp) || arg_limit(rq, 20, CS_PAGE_MAX, &p.limit, rp) ||
      arg_cursor(rq, &p.cursor, rp) ||
      arg_enum(rq, "sort", sorts, CS_SORT_RELEVANCE, &p.sort, rp) || arg_facets(rq, &facets, rp))
    return;
  p.timeout_ms = CS_SEARCH_BUDGET_MS;
  char *out = NULL;
  size_t len = 0;
  cs_engine_error e = {0};
  /* Written as text by the engine, reals as reply_json writes them. */
  if (cs_engine_search_text(api->engine, c, &p, REPLY_PRECISION, &out, &len, &e)) {
    reply_engine_error(rp, &e);
    return;
  }
  if (facets) {
    json_t *f = NULL;
    if (cs_engine_facets(api->engine, c, &p, facets, &f, &e)) {
      free(out);
      reply_engine_error(rp, &e);
      return;
    }
    /* The answer's last member: its closing brace becomes ,"facets":{...}}. */
    size_t flen = 0;
    char *ft = cs_json_write(f, REPLY_PRECISION, &flen);
    json_decref(f);
    cs_jtext t = {out, len, len + 1, 0};
    out = NULL;
    if (ft && t.n && t.p[t.n - 1] == '}') {
      t.n--;
      cs_jtext_key(&t, "facets", 0);
      cs_jtext_raw(&t, ft, flen);
      cs_jtext_c(&t, '}');
      out = cs_jtext_finish(&t, &len);
    } else {
      cs_jtext_free(&t);
    }
    free(ft);
  }
  reply_text(rp, 200, out, len);
}

static void h_suggest(cs_api *api, const cs_request *rq, const cs_caller *c, cs_reply *rp) {
  static const char *const names[] = {"q", "limit", NULL};
  if (check_names(rq, names, rp)) return;
  const char *q;
  uint32_t limit;
  if (arg_q(rq, 0, &q, rp) || arg_limit(rq, 8, CS_PAGE_MAX, &limit, rp)) return;
  json_t *out = NULL;
  cs_engine_error e = {0};
  if (cs_engine_suggest(api->engine, c, q ? q : "", limit, &out, &e)) {
    reply_engine_error(rp, &e);
    return;
  }
  reply_json(rp, 200, out);
}

static void h_patients(cs_api *api, const cs_request *rq, const cs_caller *c, cs_reply *rp) {
  static const char *const names[] = {"sort", "q", "limit", "cursor", NULL};
  /* In CS_PEOPLE_* order. */
  static const char *const sorts[] = {"name", "-name", "interaction", "recent", NULL};
  if (check_names(rq, names, rp)) return;
  const char *q, *cursor;
  uint32_t limit;
  int sort;
  if (arg_q(rq, 0, &q, rp) || arg_limit(rq, 50, CS_PAGE_MAX, &limit, rp) ||
      arg_cursor(rq, &cursor, rp) || arg_enum(rq, "sort", sorts, CS_PEOPLE_NAME, &sort, rp))
    return;
  json_t *out = NULL;
  cs_engine_error e = {0};
  if (cs_engine_patients(api->engine, c, sort, q && *q ? q : NULL, limit, cursor, &out, &e)) {
    reply_engine_error(rp, &e);
    return;
  }
  reply_json(rp, 200, out);
}

static void h_conversation(cs_api *api, const cs_request *rq, const cs_caller *c, uint64_t id,
                           cs_reply *rp) {
  static const char *const names[] = {"q", NULL};
  if (check_names(rq, names, rp)) return;
  const char *q;
  if (arg_q(rq, 1, &q, rp)) return;
  json_t *out = NULL;
  cs_engine_error e = {0};
  if (cs_engine_conversation(api->engine, c, id, q && *q ? q : NULL, &out, &e)) {
    reply_engine_error(rp, &e);
    return;
  }
  reply_json(rp, 200, out);
}

/* POST bodies: a JSON object of known members with the right types. */
static json_t *body_object(const cs_request *rq, cs_reply *rp) {
  if (rq->content_type && strncasecmp(rq->content_type, "application/json", 16) != 0) {
    cs_reply_error(rp, 415, "unsupported_media_type", "the body must be application/json");
    return NULL;
  }
  if (!cs_utf8_valid(rq->body ? rq->body : "", rq->body_len)) {
    cs_reply_error(rp, 400, "bad_encoding", "the body is not valid UTF-8");
    return NULL;
  }
  json_error_t je;
  json_t *j = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    cs_reply_error(rp, 400, "bad_json", "the body is not valid JSON (line %d, column %d)", je.line,
                   je.column);
    return NULL;
  }
  if (!json_is_object(j)) {
    cs_reply_error(rp, 400, "bad_json", "the body must be a JSON object");
    json_decref(j);
    return NULL;
  }
  return j;
}

typedef enum { F_STRING, F_ID, F_INT, F_OBJECT } field_kind;
typedef struct field {
  const char *name;
  field_kind kind;
  int required;
  int64_t lo, hi; /* F_STRING: length in bytes; F_INT: value */
} field;

static int check_fields(json_t *j, const field *f, size_t nf, cs_reply *rp) {
  const char *key;
  json_t *v;
  char b[80];
  json_object_foreach(j, key, v) {
    size_t i = 0;
    while (i < nf && strcmp(f[i].name, key) != 0)
      i++;
    if (i == nf) {
      cs_reply_error(rp, 400, "unknown_parameter", "unknown member \"%s\"",
                     quote(key, strlen(key), b, 48));
      return -1;
    }
    if (json_is_null(v) && !f[i].required) continue;
    if (f[i].kind == F_OBJECT) {
      if (!json_is_object(v)) {
        cs_reply_error(rp, 400, "bad_parameter", "%s must be an object", key);
        return -1;
      }
    } else if (f[i].kind == F_STRING) {
      size_t n = json_is_string(v) ? json_string_length(v) : 0;
      if (!json_is_string(v) || (int64_t)n < f[i].lo || (int64_t)n > f[i].hi) {
        cs_reply_error(rp, 400, "bad_parameter",
                       "%s must be a string of %" PRId64 " to %" PRId64 " bytes", key, f[i].lo,
                       f[i].hi);
        return -1;
      }
    } else {
      int64_t lo = f[i].kind == F_ID ? 1 : f[i].lo, hi = f[i].kind == F_ID ? INT64_MAX : f[i].hi;
      if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        if (f[i].kind == F_ID)
          cs_reply_error(rp, 400, "bad_parameter", "%s must be a positive integer", key);
        else
          cs_reply_error(rp, 400, "bad_parameter",
                         "%s must be an integer from %" PRId64 " to %" PRId64, key, lo, hi);
        return -1;
      }
    }
  }
  for (size_t i = 0; i < nf; i++) {
    if (f[i].required && !json_object_get(j, f[i].name)) {
      cs_reply_error(rp, 400, "bad_parameter", "%s is required", f[i].name);
      return -1;
    }
  }
  return 0;
}

static void h_qa(cs_api *api, const cs_request *rq, const cs_caller *c, cs_reply *rp) {
  static const char *const none[] = {NULL};
  if (check_names(rq, none, rp)) return;
  static const field f[] = {
      {"question", F_STRING, 1, 1, CS_QUERY_MAX_BYTES},
      {"conversation_id", F_ID, 0, 0, 0},
      {"patient_id", F_ID, 0, 0, 0},
      {"k", F_INT, 0, 1, CS_QA_K_MAX},
      {"max_tokens", F_INT, 0, 1, CS_QA_TOKENS_MAX},
  };
  json_t *j = body_object(rq, rp);
  if (!j) return;
  if (check_fields(j, f, sizeof f / sizeof f[0], rp)) {
    json_decref(j);
    return;
  }
  /* Absent or null members are 0: the engine's defaults (k 5, a 2000-token
   * context). */
  cs_qa_params p;
  memset(&p, 0, sizeof p);
  p.question = json_string_value(json_object_get(j, "question"));
  p.conversation_id = (uint64_t)json_integer_value(json_object_get(j, "conversation_id"));
  p.patient_id = (uint64_t)json_integer_value(json_object_get(j, "patient_id"));
  p.k = (uint32_t)json_integer_value(json_object_get(j, "k"));
  p.max_tokens = (uint32_t)json_integer_value(json_object_get(j, "max_tokens"));
  /* The question may hold NUL (\u0000 in JSON): refuse rather than cut. */
  if (strlen(p.question) != json_string_length(json_object_get(j, "question"))) {
    json_decref(j);
    cs_reply_error(rp, 400, "bad_encoding", "question holds a NUL character");
    return;
  }
  json_t *out = NULL;
  cs_engine_error e = {0};
  int rc = cs_engine_qa_retrieve(api->engine, c, &p, &out, &e);
  json_decref(j);
  if (rc) {
    reply_engine_error(rp, &e);
    return;
  }
  reply_json(rp, 200, out);
}

static void h_checklist(cs_api *api, const cs_request *rq, const cs_caller *c, uint64_t id,
                        cs_reply *rp) {
  static const char *const none[] = {NULL};
  if (check_names(rq, none, rp)) return;
  json_t *out = NULL;
  cs_engine_error e = {0};
  if (cs_engine_checklist(api->engine, c, id, &out, &e)) {
    reply_engine_error(rp, &e);
    return;
  }
  reply_json(rp, 200, out);
}

/* A string member (NULL when absent or null) that holds no NUL. */
static int member_str(json_t *j, const char *name, const char **out, cs_reply *rp) {
  json_t *v = json_object_get(j, name);
  *out = json_string_value(v);
  if (*out && strlen(*out) != json_string_length(v)) {
    cs_reply_error(rp, 400, "bad_encoding", "%s holds a NUL character", name);
    return -1;
  }
  return 0;
}

/* Index of a string member's value in names, or def when absent. */
static int member_enum(json_t *j, const char *name, const char *const *names, int def, int *out,
                       cs_reply *rp) {
  return enum_value(name, json_string_value(json_object_get(j, name)), names, def, out, rp);
}

static int member_time(json_t *j, const char *name, int end_of_day, int64_t def, int64_t *out,
                       cs_reply *rp) {
  const char *v = json_string_value(json_object_get(j, name));
  *out = def;
  if (!v) return 0;
  if (parse_time(v, end_of_day, out)) {
    cs_reply_error(rp, 400, "bad_parameter",
                   "filters.%s must be an ISO 8601 date (2026-09-01) or date and time "
                   "(2026-09-01T10:00:00Z)",
                   name);
    return -1;
  }
  return 0;
}

static void h_analytics(cs_api *api, const cs_request *rq, const cs_caller *c, cs_reply *rp) {
  static const char *const none[] = {NULL};
  if (check_names(rq, none, rp)) return;
  static const field f[] = {
      {"q", F_STRING, 0, 0, CS_QUERY_MAX_BYTES},
      {"filters", F_OBJECT, 0, 0, 0},
      {"group_by", F_STRING, 1, 1, 16},
  };
  static const field ff[] = {
      {"patient", F_ID, 0, 0, 0},      {"owner", F_ID, 0, 0, 0},
      {"conversation", F_ID, 0, 0, 0}, {"from", F_STRING, 0, 1, 64},
      {"to", F_STRING, 0, 1, 64},      {"speaker", F_STRING, 0, 0, CS_SPEAKER_MAX},
      {"role", F_STRING, 0, 1, 16},
  };
  /* In CS_GROUP_* order. */
  static const char *const groups[] = {"month", "category", "role", "owner", NULL};
  json_t *j = body_object(rq, rp);
  if (!j) return;
  json_t *fl = json_object_get(j, "filters");
  cs_search_params p;
  memset(&p, 0, sizeof p);
  int group, role;
  if (check_fields(j, f, sizeof f / sizeof f[0], rp) ||
      (json_is_object(fl) && check_fields(fl, ff, sizeof ff / sizeof ff[0], rp)) ||
      member_str(j, "q", &p.q, rp) || (p.q && check_q(p.q, 1, rp)) ||
      member_enum(j, "group_by", groups, 0, &group, rp)) {
    json_decref(j);
    return;
  }
  if (!json_is_object(fl)) fl = NULL;
  p.role = CS_ANY_ROLE;
  p.from_ms = INT64_MIN;
  p.to_ms = INT64_MAX;
  if (fl) {
    p.patient = (uint64_t)json_integer_value(json_object_get(fl, "patient"));
    p.owner = (uint64_t)json_integer_value(json_object_get(fl, "owner"));
    p.conversation = (uint64_t)json_integer_value(json_object_get(fl, "conversation"));
    if (member_time(fl, "from", 0, INT64_MIN, &p.from_ms, rp) ||
        member_time(fl, "to", 1, INT64_MAX, &p.to_ms, rp) ||
        member_enum(fl, "role", role_names, CS_ANY_ROLE, &role, rp) ||
        member_str(fl, "speaker", &p.speaker, rp)) {
      json_decref(j);
      return;
    }
    p.role = role;
  }
  if (p.from_ms != INT64_MIN && p.to_ms != INT64_MAX && p.from_ms > p.to_ms) {
    json_decref(j);
    cs_reply_error(rp, 400, "bad_parameter", "filters.from must not be after filters.to");
    return;
  }
  if (!p.q) p.q = "";
  if (p.speaker && !*p.speaker) p.speaker = NULL;
  p.timeout_ms = CS_ANALYTICS_BUDGET_MS;
  json_t *out = NULL;
  cs_engine_error e = {0};
  int rc = cs_engine_analytics(api->engine, c, &p, group, &out, &e);
  json_decref(j);
  if (rc) {
    reply_engine_error(rp, &e);
    return;
  }
  reply_json(rp, 200, out);
}

/* ---------------------------------------------------------------- export */

struct cs_stream {
  cs_api *api;
  int slot; /* in api->exports */
  cs_export *x;
  double t0;
  uint64_t bytes;
  int failed;
};

/* Export slots: at most CS_EXPORTS_MAX streams at once, and at most
 * CS_EXPORTS_PER_CALLER of them for one caller, so that one caller cannot
 * hold every stream. */
static pthread_mutex_t exports_lock = PTHREAD_MUTEX_INITIALIZER;

/* A free slot for caller c (>= 0), or -429 (the caller holds its share) or
 * -503 (every slot is taken). */
static int export_acquire(cs_api *api, const cs_caller *c) {
  int mine = 0, free_slot = -1;
  pthread_mutex_lock(&exports_lock);
  for (int i = 0; i < CS_EXPORTS_MAX; i++) {
    if (!api->exports[i].used) {
      if (free_slot < 0) free_slot = i;
    } else if (api->exports[i].caller.role == c->role &&
               api->exports[i].caller.employee_id == c->employee_id) {
      mine++;
    }
  }
  int rc = mine >= CS_EXPORTS_PER_CALLER ? -429 : free_slot < 0 ? -503 : free_slot;
  if (rc >= 0) {
    api->exports[rc].used = 1;
    api->exports[rc].caller = *c;
  }
  pthread_mutex_unlock(&exports_lock);
  return rc;
}

static void export_release(cs_api *api, int slot) {
  pthread_mutex_lock(&exports_lock);
  api->exports[slot].used = 0;
  pthread_mutex_unlock(&exports_lock);
}

ssize_t cs_stream_read(cs_stream *s, char *buf, size_t cap) {
  size_t n = 0;
  cs_engine_error e = {0};
  if (cs_engine_export_next(s->x, buf, cap, &n, &e)) {
    cs_log(CS_LOG_ERROR, "export: the stream broke after %" PRIu64 " bytes: %s", s->bytes,
           e.message);
    s->failed = 1;
    return -1;
  }
  s->bytes += n;
  return (ssize_t)n;
}

void cs_stream_close(cs_stream *s) {
  if (!s) return;
  cs_log(CS_LOG_INFO, "export: %" PRIu64 " lines, %" PRIu64 " bytes in %.1f ms%s",
         cs_engine_export_lines(s->x), s->bytes, (cs_mono_seconds() - s->t0) * 1000,
         s->failed ? " (broken)" : "");
  cs_engine_export_close(s->x);
  export_release(s->api, s->slot);
  free(s);
}

/* The export format an Accept header asks for when no format= is given:
 * CSV when it names text/csv (without q=0), else NDJSON. */
static int accepts_csv(const char *accept) {
  for (const char *a = accept; a && *a;) {
    a += strspn(a, " \t,");
    size_t n = strcspn(a, ",");
    size_t m = strcspn(a, ";,");
    while (m && (a[m - 1] == ' ' || a[m - 1] == '\t'))
      m--;
    if (m == 8 && !strncasecmp(a, "text/csv", 8)) {
      const char *qv = a + m;
      int zero = 0;
      while (qv < a + n) {
        const char *semi = memchr(qv, ';', (size_t)(a + n - qv));
        if (!semi) break;
        qv = semi + 1;
        qv += strspn(qv, " \t");
        if ((qv[0] == 'q' || qv[0] == 'Q') && qv[1] == '=') zero = strtod(qv + 2, NULL) == 0;
      }
      if (!zero) return CS_EXPORT_CSV;
    }
    a += n;
  }
  return CS_EXPORT_NDJSON;
}

static void h_export(cs_api *api, const cs_request *rq, const cs_caller *c, cs_reply *rp) {
  static const char *const names[] = {"q",  "patient", "owner", "conversation", "from",
                                      "to", "speaker", "role",  "format",       NULL};
  /* In CS_EXPORT_* order. */
  static const char *const formats[] = {"ndjson", "csv", NULL};
  if (check_names(rq, names, rp)) return;
  cs_search_params p;
  memset(&p, 0, sizeof p);
  int format;
  if (arg_filters(rq, &p, rp) ||
      arg_enum(rq, "format", formats, accepts_csv(rq->accept), &format, rp))
    return;
  int slot = export_acquire(api, c);
  if (slot == -429) {
    cs_reply_error(rp, 429, "too_many_exports",
                   "this caller already runs %d exports; wait for one to finish",
                   CS_EXPORTS_PER_CALLER);
    return;
  }
  if (slot < 0) {
    cs_reply_error(rp, 503, "busy", "%d exports are running; try again later", CS_EXPORTS_MAX);
    return;
  }
  cs_stream *s = calloc(1, sizeof *s);
  cs_engine_error e = {0};
  if (!s || cs_engine_export_open(api->engine, c, &p, format, &s->x, &e)) {
    export_release(api, slot);
    if (s)
      reply_engine_error(rp, &e);
    else
      cs_reply_error(rp, 503, "unavailable", "out of memory");
    free(s);
    return;
  }
  s->api = api;
  s->slot = slot;
  s->t0 = cs_mono_seconds();
  rp->status = 200;
  rp->content_type =
      format == CS_EXPORT_CSV ? "text/csv; charset=utf-8; header=present" : "application/x-ndjson";
  rp->stream = s;
}

/* ---------------------------------------------------------------- admin jobs */

static void h_admin_reindex(cs_api *api, const cs_request *rq, cs_reply *rp) {
  static const char *const none[] = {NULL};
  if (check_names(rq, none, rp)) return;
  /* No options yet: an empty body or {}. */
  if (rq->body_len) {
    json_t *j = body_object(rq, rp);
    if (!j) return;
    int rc = check_fields(j, NULL, 0, rp);
    json_decref(j);
    if (rc) return;
  }
  if (!api->jobs) {
    cs_reply_error(rp, 503, "reindex_unavailable",
                   "this server was started without --reindex-pg: it cannot run reindex jobs");
    return;
  }
  json_t *out = NULL;
  uint64_t id = 0;
  char err[256] = "";
  int rc = cs_jobs_start(api->jobs, &out, &id, err, sizeof err);
  if (rc == CS_JOBS_BUSY) {
    cs_reply_error(rp, 409, "job_running", "reindex job %" PRIu64 " is running", id);
    return;
  }
  if (rc != CS_JOBS_STARTED || !out) {
    json_decref(out);
    cs_reply_error(rp, 503, "unavailable", "the reindex job could not start: %s",
                   err[0] ? err : "out of memory");
    return;
  }
  snprintf(rp->location, sizeof rp->location, "/v1/admin/jobs/%" PRIu64, id);
  reply_json(rp, 202, out);
}

static void h_admin_job(cs_api *api, const cs_request *rq, uint64_t id, cs_reply *rp) {
  static const char *const none[] = {NULL};
  if (check_names(rq, none, rp)) return;
  json_t *out = api->jobs ? cs_jobs_get(api->jobs, id) : NULL;
  if (!out) {
    cs_reply_error(rp, 404, "not_found", "no such job");
    return;
  }
  reply_json(rp, 200, out);
}

/* ---------------------------------------------------------------- synonyms */

/* GET returns the synonym sets; PUT replaces them all (audited in the
 * log: who, how many sets). */
static void h_admin_synonyms(cs_api *api, const cs_request *rq, const cs_caller *c, cs_reply *rp) {
  static const char *const none[] = {NULL};
  if (check_names(rq, none, rp)) return;
  json_t *out = NULL;
  cs_engine_error err = {0};
  if (rq->method != CS_M_PUT) {
    if (cs_engine_synonyms_get(api->engine, &out, &err))
      reply_engine_error(rp, &err);
    else
      reply_json(rp, 200, out);
    return;
  }
  json_t *j = body_object(rq, rp);
  if (!j) return;
  int rc = cs_engine_synonyms_put(api->engine, j, &out, &err);
  json_decref(j);
  if (rc) {
    cs_log(CS_LOG_WARN, "audit: synonyms not replaced (%s: %s) for an admin token%s", err.code,
           err.message, c->employee_id ? " of an employee" : "");
    reply_engine_error(rp, &err);
    return;
  }
  cs_log(CS_LOG_INFO, "audit: synonyms replaced by an admin token (employee %" PRIu64 "): %zu sets",
         c->employee_id, json_array_size(json_object_get(out, "sets")));
  reply_json(rp, 200, out);
}

/* ---------------------------------------------------------------- dispatch */

static void check_utf8_args(const cs_request *rq, cs_reply *rp) {
  for (int i = 0; i < rq->nargs; i++) {
    const cs_arg *a = &rq->args[i];
    if (!cs_utf8_valid(a->key, a->klen) || !cs_utf8_valid(a->val, a->vlen)) {
      cs_reply_error(rp, 400, "bad_encoding", "a query parameter is not valid UTF-8");
      return;
    }
  }
  if (!cs_utf8_valid(rq->path, strlen(rq->path)))
    cs_reply_error(rp, 400, "bad_encoding", "the path is not valid UTF-8");
}

void cs_api_handle(cs_api *api, const cs_request *rq, cs_reply *rp) {
  if (rq->url_flags & CS_URL_BAD_ESCAPE) {
    cs_reply_error(rp, 400, "bad_request", "the URL has a malformed %%-escape");
    return;
  }
  if (rq->url_flags & CS_URL_NUL) {
    cs_reply_error(rp, 400, "bad_encoding", "the URL holds a NUL byte (%%00)");
    return;
  }
  if (rq->nargs < 0) {
    cs_reply_error(rp, 400, "bad_request", "more than %d query parameters", CS_ARGS_MAX);
    return;
  }
  check_utf8_args(rq, rp);
  if (rp->status) return;

  uint64_t id;
  int id_ok;
  cs_route_id r = cs_route_find(rq->path, &id, &id_ok);
  if (r == CS_R_NONE) {
    cs_reply_error(rp, 404, "not_found", "no such route");
    return;
  }
  const route_def *d = &routes[r];
  int method_ok = d->post == 1 ? rq->method == CS_M_POST
                               : rq->method == CS_M_GET || rq->method == CS_M_HEAD ||
                                     (d->post == 2 && rq->method == CS_M_PUT);
  if (!method_ok) {
    rp->allow = d->post == 1 ? "POST" : d->post == 2 ? "GET, HEAD, PUT" : "GET, HEAD";
    cs_reply_error(rp, 405, "method_not_allowed", "this route accepts %s only", rp->allow);
    return;
  }
  cs_caller c = {0, 0};
  if (d->roles != R_PUBLIC) {
    int a = cs_auth_check(api->auth, rq->authorization, wall_seconds(), &c);
    if (a == CS_AUTH_TOO_LONG) {
      rp->www_authenticate = 2;
      cs_reply_error(rp, 401, "token_lifetime_too_long",
                     "the token's exp is more than %lld seconds from now, the longest lifetime "
                     "this server accepts for a per-employee token",
                     (long long)cs_auth_max_ttl(api->auth));
      return;
    }
    if (a != CS_AUTH_OK) {
      rp->www_authenticate = a == CS_AUTH_MISSING ? 1 : 2;
      cs_reply_error(rp, 401, "unauthorized",
                     a == CS_AUTH_MISSING   ? "an Authorization: Bearer token is required"
                     : a == CS_AUTH_EXPIRED ? "the token has expired"
                                            : "the token is not valid");
      return;
    }
    rp->authenticated = 1;
    rp->caller = c;
    if (!(d->roles & (1u << c.role))) {
      cs_reply_error(rp, 403, "forbidden", "this token's role may not use this route");
      return;
    }
  }
  if ((r == CS_R_CONVERSATION || r == CS_R_CHECKLIST || r == CS_R_ADMIN_JOB) && !id_ok) {
    cs_reply_error(rp, 400, "bad_parameter",
                   "the id in the path must be a positive integer below 2^63");
    return;
  }
  switch (r) {
  case CS_R_HEALTH:
    h_health(api, rq, rp);
    return;
  case CS_R_METRICS:
    h_metrics(api, rq, rp);
    return;
  case CS_R_SEARCH:
    h_search(api, rq, &c, rp);
    return;
  case CS_R_SUGGEST:
    h_suggest(api, rq, &c, rp);
    return;
  case CS_R_PATIENTS:
    h_patients(api, rq, &c, rp);
    return;
  case CS_R_CONVERSATION:
    h_conversation(api, rq, &c, id, rp);
    return;
  case CS_R_CHECKLIST:
    h_checklist(api, rq, &c, id, rp);
    return;
  case CS_R_QA:
    h_qa(api, rq, &c, rp);
    return;
  case CS_R_ANALYTICS:
    h_analytics(api, rq, &c, rp);
    return;
  case CS_R_EXPORT:
    h_export(api, rq, &c, rp);
    return;
  case CS_R_ADMIN_REINDEX:
    h_admin_reindex(api, rq, rp);
    return;
  case CS_R_ADMIN_JOB:
    h_admin_job(api, rq, id, rp);
    return;
  case CS_R_CONSOLE:
    cs_console_reply(api->console_dir, rq->path, rp);
    return;
  case CS_R_ADMIN_SYNONYMS:
    h_admin_synonyms(api, rq, &c, rp);
    return;
  default:
    cs_reply_error(rp, 404, "not_found", "no such route");
    return;
  }
}
