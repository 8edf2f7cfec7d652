/*
 * os-story: replays OpenSearch API test stories (the YAML files of the
 * specification's tests/ folder) against a server over a real socket, and
 * checks each chapter the way the specification's own test runner does:
 *
 *   - the answer's status (response.status, 200 when not given);
 *   - the expected payload, structurally: every key of an expected object
 *     must be present and match, arrays match element by element and must
 *     have the same length, numbers compare by value;
 *   - with the specification at hand (--shared or --spec), the chapter's
 *     parameters, request body and response body against the operation's
 *     schemas.
 *
 * Prologues run first (a failure fails the story and skips its chapters),
 * epilogues always run last; for both only the status is checked (against
 * their `status` list, [200, 201] when not given). A chapter whose
 * `version` range excludes the server's version is skipped; a chapter named
 * in the skip file (--skip) is reported as unsupported with its reason and
 * not run. Outputs (`output: {name: payload.path}`) of a chapter with an
 * `id` can be used later as ${id.name}.
 *
 * usage: os-story [--shared DIR | --spec DIR] [--url URL | --fake EXE]
 *                 [--skip FILE] [--verbose] STORY.yaml...
 * With --shared, relative story paths are taken under
 * DIR/reference/opensearch-api/tests/default; when DIR does not exist the
 * program prints "SKIPPED: ../shared not found" and exits 0. With --fake a
 * fresh fake-opensearch is started for each story.
 *
 * Output: one line per chapter, then "N passed, M failed" (with the counts
 * of unsupported and skipped chapters); exit status 1 when anything failed.
 */
#include "../client/client.h"
#include "../spec/spec.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct run {
  const char *url_fixed, *fake_exe;
  char url[256];
  char fake_log[64]; /* the fake's stderr; removed when everything passed */
  fos_spec *spec;
  json_t *skips; /* [{story, chapter, reason, used}] */
  int verbose;
  int passed, failed, unsupported, skipped, unresolved;
  int server_version[3];
  json_t *outputs; /* id -> {name: value} */
} run;

/* ---------------------------------------------------------------- small helpers */

static int parse_version(const char *s, int v[3]) {
  v[0] = v[1] = v[2] = 0;
  return sscanf(s, "%d.%d.%d", &v[0], &v[1], &v[2]) >= 1 ? 0 : -1;
}

static int cmp_version(const int a[3], const int b[3]) {
  for (int i = 0; i < 3; i++) {
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

/* 1 when the server version satisfies a range like ">= 2.16" or ">=1.0 <2". */
static int version_ok(run *r, const char *range) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", range);
  int ok = 1;
  /* Join "op version" pairs separated by a space into one token. */
  const char *ops[] = {">=", "<=", ">", "<", "=", NULL};
  char *p = buf;
  while (*p) {
    while (*p == ' ')
      p++;
    if (!*p) break;
    const char *op = "=";
    for (int i = 0; ops[i]; i++) {
      if (!strncmp(p, ops[i], strlen(ops[i]))) {
        op = ops[i];
        p += strlen(ops[i]);
        break;
      }
    }
    while (*p == ' ')
      p++;
    char *end = p + strcspn(p, " ");
    char save_c = *end;
    *end = 0;
    int v[3];
    if (parse_version(p, v)) return 1;
    int c = cmp_version(r->server_version, v);
    if (!strcmp(op, ">=")) ok &= c >= 0;
    if (!strcmp(op, "<=")) ok &= c <= 0;
    if (!strcmp(op, ">")) ok &= c > 0;
    if (!strcmp(op, "<")) ok &= c < 0;
    if (!strcmp(op, "=")) ok &= c == 0;
    *end = save_c;
    p = end;
  }
  return ok;
}

static void url_encode(const char *s, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (; *s && o + 4 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || c == ',' || c == '*') {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = 0;
}

/* A parameter value as text: arrays comma-joined. */
static void param_text(json_t *v, char *out, size_t cap) {
  if (json_is_string(v)) {
    snprintf(out, cap, "%s", json_string_value(v));
  } else if (json_is_array(v)) {
    out[0] = 0;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      char part[512];
      param_text(x, part, sizeof part);
      size_t used = strlen(out);
      snprintf(out + used, cap - used, "%s%s", i ? "," : "", part);
    }
  } else {
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(out, cap, "%s", s ? s : "");
    free(s);
  }
}

/* Replaces ${id.name} in strings (recursively) with saved outputs. */
static json_t *substitute(run *r, json_t *v) {
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    const char *a = strstr(s, "${");
    const char *b = a ? strchr(a, '}') : NULL;
    if (!a || !b) return json_incref(v);
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(b - a - 2), a + 2);
    char *dot = strchr(key, '.');
    json_t *val = NULL;
    if (dot) {
      *dot = 0;
      val = json_object_get(json_object_get(r->outputs, key), dot + 1);
    }
    if (!val) return json_incref(v);
    if (a == s && !b[1]) return json_incref(val); /* the whole string: keep the type */
    char text[1024];
    param_text(val, text, sizeof text);
    char out[4096];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(a - s), s, text, b + 1);
    json_t *once = json_string(out);
    json_t *more = substitute(r, once);
    json_decref(once);
    return more;
  }
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
      json_object_set_new(o, k, substitute(r, x));
    }
    return o;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      json_array_append_new(a, substitute(r, x));
    }
    return a;
  }
  return json_incref(v);
}

/* ---------------------------------------------------------------- matching */

static int numbers_equal(json_t *a, json_t *b) {
  return json_is_number(a) && json_is_number(b) && json_number_value(a) == json_number_value(b);
}

static void match(json_t *exp, json_t *act, const char *path, json_t *errors) {
  char sub[1024];
  if (json_is_object(exp)) {
    if (!json_is_object(act)) {
      json_array_append_new(
          errors, json_pack("s++", path[0] ? path : "payload", ": expected an object", ""));
      return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(exp, k, v) {
      snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
      json_t *a = json_object_get(act, k);
      if (!a) {
        json_array_append_new(errors, json_pack("s+", sub, ": missing"));
        continue;
      }
      match(v, a, sub, errors);
    }
    return;
  }
  if (json_is_array(exp)) {
    if (!json_is_array(act) || json_array_size(act) != json_array_size(exp)) {
      char msg[1100];
      snprintf(msg, sizeof msg, "%s: expected an array of %zu, got %s of %zu",
               path[0] ? path : "payload", json_array_size(exp),
               json_is_array(act) ? "one" : "something else",
               json_is_array(act) ? json_array_size(act) : 0);
      json_array_append_new(errors, json_string(msg));
      return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(exp, i, v) {
      snprintf(sub, sizeof sub, "%s[%zu]", path, i);
      match(v, json_array_get(act, i), sub, errors);
    }
    return;
  }
  if (json_equal(exp, act) || numbers_equal(exp, act)) return;
  char *e = json_dumps(exp, JSON_ENCODE_ANY | JSON_COMPACT);
  char *a = json_dumps(act, JSON_ENCODE_ANY | JSON_COMPACT);
  char msg[1400];
  snprintf(msg, sizeof msg, "%s: expected %.200s, got %.200s", path[0] ? path : "payload",
           e ? e : "?", a ? a : "?");
  json_array_append_new(errors, json_string(msg));
  free(e);
  free(a);
}

/* ---------------------------------------------------------------- requests */

typedef struct exchange {
  long status;
  json_t *payload; /* parsed answer, NULL if none or not JSON */
  char content_type[128];
  char error[2600];
} exchange;

static int send_chapter(run *r, json_t *ch, const char *method, exchange *x) {
  memset(x, 0, sizeof *x);
  json_t *params = substitute(r, json_object_get(ch, "parameters"));
  const char *raw = json_string_value(json_object_get(ch, "path"));
  char path[2048] = "";
  size_t o = 0;
  if (raw && raw[0] != '/') path[o++] = '/';
  json_t *used = json_object();
  for (const char *p = raw ? raw : "/"; *p && o + 2 < sizeof path;) {
    if (*p == '{') {
      const char *e = strchr(p, '}');
      char name[128];
      snprintf(name, sizeof name, "%.*s", e ? (int)(e - p - 1) : 0, p + 1);
      json_t *v = json_object_get(params, name);
      char text[1024] = "", enc[3072];
      if (v) param_text(v, text, sizeof text);
      url_encode(text, enc, sizeof enc);
      o += (size_t)snprintf(path + o, sizeof path - o, "%s", enc);
      json_object_set_new(used, name, json_true());
      p = e ? e + 1 : p + strlen(p);
    } else {
      path[o++] = *p++;
    }
  }
  path[o] = 0;
  const char *k;
  json_t *v;
  int first = 1;
  json_object_foreach(params, k, v) {
    if (json_object_get(used, k)) continue;
    char text[1024], enc[3072];
    param_text(v, text, sizeof text);
    url_encode(text, enc, sizeof enc);
    o += (size_t)snprintf(path + o, sizeof path - o, "%c%s=%s", first ? '?' : '&', k, enc);
    first = 0;
  }
  json_decref(used);
  json_decref(params);
  json_t *req = json_object_get(ch, "request");
  json_t *payload = substitute(r, json_object_get(req, "payload"));
  const char *ct = json_string_value(json_object_get(req, "content_type"));
  char *body = NULL;
  size_t len = 0;
  if (payload && !json_is_null(payload)) {
    if (ct && !strcmp(ct, "application/x-ndjson") && json_is_array(payload)) {
      size_t cap = 4096;
      body = malloc(cap);
      size_t i;
      json_t *line;
      json_array_foreach(payload, i, line) {
        char *s = json_dumps(line, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t n = strlen(s);
        if (len + n + 2 > cap) {
          cap = (len + n + 2) * 2;
          body = realloc(body, cap);
        }
        memcpy(body + len, s, n);
        len += n;
        body[len++] = '\n';
        free(s);
      }
    } else {
      body = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
      len = strlen(body);
    }
  }
  json_decref(payload);
  char url[2400];
  snprintf(url, sizeof url, "%s%s", r->url, path);
  fos_http_opts opts = {0};
  opts.content_type = ct ? ct : "application/json";
  opts.accept_gzip = 1;
  fos_http_resp resp;
  int rc = fos_http(method, url, body, len, &opts, &resp);
  free(body);
  if (r->verbose) printf("    %s %s -> %ld\n", method, path, resp.status);
  if (rc) {
    snprintf(x->error, sizeof x->error, "%s %s: no answer (%s)", method, path,
             curl_easy_strerror((CURLcode)resp.curl_code));
    fos_http_free(&resp);
    return -1;
  }
  x->status = resp.status;
  snprintf(x->content_type, sizeof x->content_type, "%s", resp.content_type);
  if (resp.len) x->payload = json_loadb(resp.body, resp.len, 0, NULL);
  fos_http_free(&resp);
  return 0;
}

static json_t *methods_of(json_t *ch) {
  json_t *m = json_object_get(ch, "method");
  if (json_is_array(m)) return json_incref(m);
  return json_pack("[s]", json_is_string(m) ? json_string_value(m) : "GET");
}

/* Saves the chapter's outputs under its id. */
static void save_outputs(run *r, json_t *ch, exchange *x) {
  const char *id = json_string_value(json_object_get(ch, "id"));
  json_t *out = json_object_get(ch, "output");
  if (!id || !json_is_object(out)) return;
  json_t *saved = json_object();
  const char *name;
  json_t *where;
  json_object_foreach(out, name, where) {
    const char *p = json_string_value(where);
    if (!p || strncmp(p, "payload", 7)) continue;
    json_t *at = x->payload;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", p + 7);
    for (char *tok = strtok(buf, ".[]"); tok && at; tok = strtok(NULL, ".[]")) {
      at =
          json_is_array(at) ? json_array_get(at, strtoul(tok, NULL, 10)) : json_object_get(at, tok);
    }
    if (at) json_object_set(saved, name, at);
  }
  json_object_set_new(r->outputs, id, saved);
}

/* Runs a prologue or epilogue; returns 0 when its status is acceptable. */
static int supplemental(run *r, json_t *ch, const char *what, const char *story) {
  json_t *methods = methods_of(ch);
  int rc = 0;
  size_t i;
  json_t *m;
  json_array_foreach(methods, i, m) {
    exchange x;
    if (send_chapter(r, ch, json_string_value(m), &x)) {
      printf("FAILED      %s: %s %s: %s\n", story, what,
             json_string_value(json_object_get(ch, "path")), x.error);
      rc = -1;
      continue;
    }
    json_t *ok = json_object_get(ch, "status");
    int good = 0;
    if (json_is_array(ok)) {
      size_t k;
      json_t *s;
      json_array_foreach(ok, k, s) {
        good |= json_integer_value(s) == x.status;
      }
    } else {
      good = x.status == 200 || x.status == 201;
    }
    if (!good) {
      char *p = x.payload ? json_dumps(x.payload, JSON_COMPACT) : NULL;
      printf("FAILED      %s: %s %s %s answered %ld: %.300s\n", story, what, json_string_value(m),
             json_string_value(json_object_get(ch, "path")), x.status, p ? p : "");
      free(p);
      rc = -1;
    }
    save_outputs(r, ch, &x);
    json_decref(x.payload);
  }
  json_decref(methods);
  return rc;
}

/* The skip entry for a chapter (by synopsis or #N), or NULL. */
static json_t *skip_for(run *r, const char *story, const char *synopsis, int n) {
  size_t i;
  json_t *e;
  json_array_foreach(r->skips, i, e) {
    const char *s = json_string_value(json_object_get(e, "story"));
    const char *c = json_string_value(json_object_get(e, "chapter"));
    size_t sl = strlen(s), tl = strlen(story);
    if (sl > tl || strcmp(story + tl - sl, s)) continue;
    char num[16];
    snprintf(num, sizeof num, "#%d", n);
    if (!strcmp(c, num) || (synopsis && !strcmp(c, synopsis))) {
      json_object_set_new(e, "used", json_true());
      return e;
    }
  }
  return NULL;
}

static void chapter(run *r, json_t *ch, const char *story, int n) {
  const char *syn = json_string_value(json_object_get(ch, "synopsis"));
  const char *path = json_string_value(json_object_get(ch, "path"));
  json_t *methods = methods_of(ch);
  char label[600];
  snprintf(label, sizeof label, "%s #%d %s", story, n, syn ? syn : "(no synopsis)");
  json_t *skip = skip_for(r, story, syn, n);
  if (skip) {
    printf("UNSUPPORTED %s: %s\n", label, json_string_value(json_object_get(skip, "reason")));
    r->unsupported++;
    json_decref(methods);
    return;
  }
  const char *range = json_string_value(json_object_get(ch, "version"));
  if (range && !version_ok(r, range)) {
    printf("SKIPPED     %s: needs version %s\n", label, range);
    r->skipped++;
    json_decref(methods);
    return;
  }
  json_t *dist = json_object_get(ch, "distributions");
  json_t *incl = json_object_get(dist, "included"), *excl = json_object_get(dist, "excluded");
  int dist_ok = 1;
  size_t i;
  json_t *d;
  if (json_is_array(incl)) {
    dist_ok = 0;
    json_array_foreach(incl, i, d) {
      dist_ok |= !strcmp(json_string_value(d) ? json_string_value(d) : "", "opensearch.org");
    }
  }
  json_array_foreach(excl, i, d) {
    if (!strcmp(json_string_value(d) ? json_string_value(d) : "", "opensearch.org")) dist_ok = 0;
  }
  if (!dist_ok) {
    printf("SKIPPED     %s: not for the opensearch.org distribution\n", label);
    r->skipped++;
    json_decref(methods);
    return;
  }
  json_t *resp = json_object_get(ch, "response");
  json_int_t want = json_is_integer(json_object_get(resp, "status"))
                        ? json_integer_value(json_object_get(resp, "status"))
                        : 200;
  json_t *m;
  json_array_foreach(methods, i, m) {
    const char *method = json_string_value(m);
    json_t *errors = json_array();
    exchange x;
    int unres = 0;
    if (send_chapter(r, ch, method, &x)) {
      json_array_append_new(errors, json_string(x.error));
    } else {
      if (x.status != want) {
        char *p = x.payload ? json_dumps(x.payload, JSON_COMPACT) : NULL;
        char msg[700];
        snprintf(msg, sizeof msg, "expected status %lld, got %ld: %.400s", (long long)want,
                 x.status, p ? p : "");
        json_array_append_new(errors, json_string(msg));
        free(p);
      }
      json_t *exp = json_object_get(resp, "payload");
      if (exp) match(exp, x.payload, "", errors);
      const char *ct = json_string_value(json_object_get(resp, "content_type"));
      if (ct && strncmp(x.content_type, ct, strlen(ct)))
        json_array_append_new(
            errors, json_pack("s+++", "content type ", x.content_type, " instead of ", ct));
      if (r->spec) {
        fos_op op;
        char ptmpl[1024];
        snprintf(ptmpl, sizeof ptmpl, "%s%s", path && path[0] != '/' ? "/" : "", path ? path : "/");
        if (fos_spec_find(r->spec, method, ptmpl, &op)) {
          json_array_append_new(
              errors, json_pack("s+++", "no operation in the spec for ", method, " ", ptmpl));
        } else {
          json_t *params = json_object_get(ch, "parameters");
          json_t *req = json_object_get(ch, "request");
          fos_spec_check_params(r->spec, &op, params, errors, &unres);
          fos_spec_check_request(r->spec, &op,
                                 json_string_value(json_object_get(req, "content_type")),
                                 json_object_get(req, "payload"), errors, &unres);
          fos_spec_check_response(r->spec, &op, (int)x.status, x.payload, errors, &unres);
        }
      }
      save_outputs(r, ch, &x);
    }
    r->unresolved += unres;
    char lab[700];
    snprintf(lab, sizeof lab, "%s (%s %s)", label, method, path ? path : "/");
    if (json_array_size(errors) == 0) {
      printf("PASSED      %s%s\n", lab,
             unres ? " [spec: some $refs not in the reference copy]" : "");
      r->passed++;
    } else {
      printf("FAILED      %s\n", lab);
      size_t k;
      json_t *e;
      json_array_foreach(errors, k, e) {
        printf("              %s\n", json_string_value(e));
      }
      r->failed++;
    }
    json_decref(x.payload);
    json_decref(errors);
  }
  json_decref(methods);
}

static int story(run *r, const char *file, const char *label) {
  char err[512];
  json_t *st = fos_yaml_load_file(file, err, sizeof err);
  if (!json_is_object(st) || !json_is_array(json_object_get(st, "chapters"))) {
    printf("FAILED      %s: cannot read the story: %s\n", label, st ? "no chapters" : err);
    json_decref(st);
    r->failed++;
    return -1;
  }
  pid_t fake = -1;
  if (r->fake_exe) {
    fake = fos_fake_start(r->fake_exe, r->fake_log, NULL, r->url, sizeof r->url);
    if (fake < 0) {
      printf("FAILED      %s: cannot start %s (log: %s)\n", label, r->fake_exe, r->fake_log);
      json_decref(st);
      r->failed++;
      return -1;
    }
  } else {
    snprintf(r->url, sizeof r->url, "%s", r->url_fixed);
  }
  json_t *info = NULL;
  long s = fos_http_json("GET", r->url, "/", NULL, &info);
  const char *num = json_string_value(json_object_get(json_object_get(info, "version"), "number"));
  if (s != 200 || !num || parse_version(num, r->server_version)) {
    printf("FAILED      %s: GET / did not say which version the server is (HTTP %ld)\n", label, s);
    r->failed++;
  } else {
    const char *desc = json_string_value(json_object_get(st, "description"));
    printf("# %s: %s (server %s)\n", label, desc ? desc : "", num);
    const char *range = json_string_value(json_object_get(st, "version"));
    if (range && !version_ok(r, range)) {
      printf("SKIPPED     %s: the story needs version %s\n", label, range);
      r->skipped++;
    } else {
      int pro_ok = 1;
      size_t i;
      json_t *ch;
      json_array_foreach(json_object_get(st, "prologues"), i, ch) {
        if (supplemental(r, ch, "prologue", label)) pro_ok = 0;
      }
      if (!pro_ok) {
        r->failed++;
        printf("SKIPPED     %s: chapters not run, a prologue failed\n", label);
      } else {
        json_array_foreach(json_object_get(st, "chapters"), i, ch) {
          chapter(r, ch, label, (int)i + 1);
        }
      }
      json_array_foreach(json_object_get(st, "epilogues"), i, ch) {
        if (supplemental(r, ch, "epilogue", label)) r->failed++;
      }
    }
  }
  json_decref(info);
  json_decref(st);
  json_object_clear(r->outputs);
  if (fake > 0) {
    int rc = fos_fake_stop(fake);
    if (rc != 0) {
      printf("FAILED      %s: %s exited with status %d (log: %s)\n", label, r->fake_exe, rc,
             r->fake_log);
      r->failed++;
    }
  }
  return 0;
}

static json_t *load_skips(const char *file) {
  json_t *a = json_array();
  FILE *f = fopen(file, "r");
  if (!f) {
    fprintf(stderr, "os-story: cannot read %s\n", file);
    exit(2);
  }
  char line[2048];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    char *p = line;
    while (*p == ' ')
      p++;
    if (!*p || *p == '#') continue;
    char *parts[3] = {p, NULL, NULL};
    for (int i = 1; i < 3; i++) {
      char *bar = strchr(parts[i - 1], '|');
      if (!bar) break;
      *bar = 0;
      parts[i] = bar + 1;
    }
    if (!parts[2]) {
      fprintf(stderr, "os-story: %s: bad line (want: story | chapter | reason): %s\n", file, line);
      exit(2);
    }
    for (int i = 0; i < 3; i++) {
      while (*parts[i] == ' ')
        parts[i]++;
      size_t n = strlen(parts[i]);
      while (n && parts[i][n - 1] == ' ')
        parts[i][--n] = 0;
    }
    json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:b}", "story", parts[0], "chapter",
                                       parts[1], "reason", parts[2], "used", 0));
  }
  fclose(f);
  return a;
}

static void usage(FILE *to) {
  fprintf(to, "usage: os-story [--shared DIR | --spec DIR] [--url URL | --fake EXE] [--skip FILE]\n"
              "                [--verbose] STORY.yaml...\n");
}

int main(int argc, char **argv) {
  run r;
  memset(&r, 0, sizeof r);
  const char *shared = NULL, *spec_dir = NULL, *skip_file = NULL;
  int first_story = argc;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--shared") && v) {
      shared = v;
      i++;
    } else if (!strcmp(a, "--spec") && v) {
      spec_dir = v;
      i++;
    } else if (!strcmp(a, "--url") && v) {
      r.url_fixed = v;
      i++;
    } else if (!strcmp(a, "--fake") && v) {
      r.fake_exe = v;
      i++;
    } else if (!strcmp(a, "--skip") && v) {
      skip_file = v;
      i++;
    } else if (!strcmp(a, "--verbose")) {
      r.verbose = 1;
    } else if (a[0] == '-') {
      usage(stderr);
      return 2;
    } else {
      first_story = i;
      break;
    }
  }
  if (first_story == argc || (!r.url_fixed && !r.fake_exe)) {
    usage(stderr);
    return 2;
  }
  char spec_path[PATH_MAX], tests_path[PATH_MAX] = "";
  struct stat sb;
  if (shared) {
    if (stat(shared, &sb) || !S_ISDIR(sb.st_mode)) {
      printf("SKIPPED: ../shared not found (%s)\n", shared);
      return 77; /* CTest: SKIP_RETURN_CODE */
    }
    snprintf(spec_path, sizeof spec_path, "%s/reference/opensearch-api/spec", shared);
    snprintf(tests_path, sizeof tests_path, "%s/reference/opensearch-api/tests/default", shared);
    if (!spec_dir) spec_dir = spec_path;
  }
  if (spec_dir) {
    char err[512];
    r.spec = fos_spec_open(spec_dir, err, sizeof err);
    if (!r.spec) {
      fprintf(stderr, "os-story: %s\n", err);
      return 2;
    }
  }
  r.skips = skip_file ? load_skips(skip_file) : json_array();
  snprintf(r.fake_log, sizeof r.fake_log, "/tmp/os-story-fake-%d.log", (int)getpid());
  r.outputs = json_object();
  for (int i = first_story; i < argc; i++) {
    char file[PATH_MAX * 2];
    if (argv[i][0] != '/' && tests_path[0])
      snprintf(file, sizeof file, "%s/%s", tests_path, argv[i]);
    else
      snprintf(file, sizeof file, "%s", argv[i]);
    story(&r, file, argv[i]);
  }
  /* A skip entry for a replayed story that matched no chapter is stale. */
  size_t k;
  json_t *e;
  json_array_foreach(r.skips, k, e) {
    const char *s = json_string_value(json_object_get(e, "story"));
    int replayed = 0;
    for (int i = first_story; i < argc; i++) {
      size_t sl = strlen(s), tl = strlen(argv[i]);
      replayed |= sl <= tl && !strcmp(argv[i] + tl - sl, s);
    }
    if (replayed && !json_is_true(json_object_get(e, "used"))) {
      printf("FAILED      skip list: no chapter [%s] in %s (stale entry)\n",
             json_string_value(json_object_get(e, "chapter")), s);
      r.failed++;
    }
  }
  printf("%d passed, %d failed (%d unsupported, %d skipped by version)\n", r.passed, r.failed,
         r.unsupported, r.skipped);
  if (r.spec && r.unresolved)
    printf("spec: %d schema references point to files outside the reference copy and were not "
           "checked\n",
           r.unresolved);
  if (r.fake_exe && !r.failed)
    unlink(r.fake_log);
  else if (r.fake_exe)
    printf("server log: %s\n", r.fake_log);
  json_decref(r.skips);
  json_decref(r.outputs);
  fos_spec_close(r.spec);
  return r.failed ? 1 : 0;
}
