/*
 * fake-opensearch helpers: OpenSearch-shaped error bodies, JSON parsing with
 * our limits, globbing, time values, ids, deep merge and the log line.
 */
#include "fos.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */

json_t *fos_cause(const char *type, const char *fmt, ...) {
  char reason[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  return json_pack("{s:s, s:s}", "type", type, "reason", reason);
}

json_t *fos_cause_index(json_t *cause, const char *index, const char *uuid, int shard) {
  if (shard >= 0) {
    char s[16];
    snprintf(s, sizeof s, "%d", shard);
    json_object_set_new(cause, "shard", json_string(s));
  }
  json_object_set_new(cause, "index_uuid", json_string(uuid ? uuid : "_na_"));
  json_object_set_new(cause, "index", json_string(index));
  return cause;
}

/* Types that OpenSearch reports as a cause but never as a root cause: they
 * are plain Java exceptions wrapped by an OpenSearch one. */
static int is_java_cause(const char *type) {
  static const char *const java[] = {"illegal_argument_exception", "illegal_state_exception",
                                     "number_format_exception",    "json_parse_exception",
                                     "not_x_content_exception",    NULL};
  for (int i = 0; java[i]; i++) {
    if (!strcmp(type, java[i])) return 1;
  }
  return 0;
}

void fos_reply_error(fos_reply *rp, int status, json_t *cause) {
  json_t *root = cause;
  json_t *next;
  while ((next = json_object_get(root, "caused_by")) != NULL) {
    const char *t = json_string_value(json_object_get(next, "type"));
    if (!t || is_java_cause(t)) break;
    root = next;
  }
  json_t *rc = json_object_get(cause, "root_cause");
  if (!rc) {
    json_t *r = json_deep_copy(root);
    json_object_del(r, "caused_by");
    json_object_del(r, "failed_shards");
    json_object_del(r, "phase");
    json_object_del(r, "grouped");
    /* root_cause goes first, as OpenSearch prints it */
    json_t *e = json_pack("{s:[o]}", "root_cause", r);
    json_object_update(e, cause);
    json_decref(cause);
    cause = e;
  }
  json_decref(rp->body);
  rp->status = status;
  rp->body = json_pack("{s:o, s:i}", "error", cause, "status", status);
}

void fos_reply_json(fos_reply *rp, int status, json_t *body) {
  json_decref(rp->body);
  rp->status = status;
  rp->body = body;
}

/* ---------------------------------------------------------------- JSON */

/* Checks nesting depth before jansson sees the text, so that a deep body
 * costs a scan, not a recursion. */
static int json_depth_ok(const char *p, size_t n) {
  int depth = 0, in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = p[i];
    if (in_str) {
      if (ch == '\\')
        i++;
      else if (ch == '"')
        in_str = 0;
    } else if (ch == '"') {
      in_str = 1;
    } else if (ch == '{' || ch == '[') {
      if (++depth > FOS_JSON_DEPTH_MAX) return 0;
    } else if (ch == '}' || ch == ']') {
      depth--;
    }
  }
  return 1;
}

json_t *fos_json_parse(const char *text, size_t len, json_t **cause) {
  *cause = NULL;
  if (!json_depth_ok(text, len)) {
    *cause =
        fos_cause("x_content_parse_exception",
                  "document nesting depth exceeds the maximum allowed [%d]", FOS_JSON_DEPTH_MAX);
    return NULL;
  }
  json_error_t err;
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
  if (!j) {
    *cause = fos_cause("json_parse_exception", "%s at [line: %d, column: %d]", err.text, err.line,
                       err.column);
  }
  return j;
}

/* ---------------------------------------------------------------- strings */

int fos_glob(const char *p, const char *s) {
  const char *star = NULL, *back = NULL;
  while (*s) {
    if (*p == '*') {
      star = p++;
      back = s;
    } else if (*p == *s) {
      p++;
      s++;
    } else if (star) {
      p = star + 1;
      s = ++back;
    } else {
      return 0;
    }
  }
  while (*p == '*')
    p++;
  return *p == 0;
}

json_t *fos_split_commas(const char *s) {
  json_t *a = json_array();
  while (s && *s) {
    const char *e = strchr(s, ',');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    while (n && isspace((unsigned char)*s)) {
      s++;
      n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
      n--;
    if (n) json_array_append_new(a, json_stringn(s, n));
    s = e ? e + 1 : NULL;
  }
  return a;
}

int64_t fos_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fos_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fos_parse_i64(const char *s, int64_t *out) {
  if (!s || !*s) return -1;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

int fos_parse_time(const char *s, int64_t *ms) {
  if (!s) return -1;
  if (!strcmp(s, "-1")) {
    *ms = -1;
    return 0;
  }
  static const struct {
    const char *unit;
    double mult;
  } units[] = {{"nanos", 1e-6}, {"micros", 1e-3}, {"ms", 1},       {"s", 1000},
               {"m", 60000},    {"h", 3600000},   {"d", 86400000}, {NULL, 0}};
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0) return -1;
  for (int i = 0; units[i].unit; i++) {
    if (!strcmp(end, units[i].unit)) {
      *ms = (int64_t)(v * units[i].mult);
      return 0;
    }
  }
  return -1;
}

void fos_random_id(char *out, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  static unsigned long long state;
  if (!state)
    state = (unsigned long long)fos_now_ms() * 6364136223846793005ULL ^ (unsigned)getpid();
  for (size_t i = 0; i < n; i++) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    out[i] = abc[(state >> 33) & 63];
  }
  out[n] = 0;
}

json_t *fos_merge(json_t *base, json_t *over) {
  if (!json_is_object(base) || !json_is_object(over)) return json_deep_copy(over);
  json_t *out = json_deep_copy(base);
  const char *k;
  json_t *v;
  json_object_foreach(over, k, v) {
    json_t *b = json_object_get(out, k);
    if (json_is_object(b) && json_is_object(v))
      json_object_set_new(out, k, fos_merge(b, v));
    else
      json_object_set_new(out, k, json_deep_copy(v));
  }
  return out;
}

void fos_log(const char *fmt, ...) {
  char line[1024];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  int n =
      snprintf(line, sizeof line,
               "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ info fake-opensearch: ", tm.tm_year + 1900,
               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  for (size_t i = (size_t)n; i < len; i++) {
    if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
  }
  line[len++] = '\n';
  ssize_t w = write(2, line, len);
  (void)w;
}
