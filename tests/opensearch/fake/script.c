/*
 * fake-opensearch painless subset, for update scripts. A script is a list of
 * statements separated by ';':
 *
 *   ctx._source.PATH = EXPR        (also += and -=; PATH: a.b or a['b'])
 *   ctx._source.remove('field')    (also ctx._source.PATH.remove('field'))
 *   ctx._source.PATH.add(EXPR)     (append to a list)
 *   ctx.op = 'none' | 'noop' | 'delete' | 'index'
 *
 * where EXPR is a string, number, true, false, null, params.NAME or
 * ctx._source.PATH. Anything else is refused with a script_exception
 * ("compile error") whose cause names the fake, never run approximately.
 */
#include "fos.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_END, T_IDENT, T_NUM, T_STR, T_PUNCT };

typedef struct tok {
  int kind;
  char text[256];
} tok;

typedef struct lexer {
  const char *src, *p;
  tok t;
  json_t *params, *ctx;
  char err[256];
} lexer;

static void next(lexer *l) {
  while (isspace((unsigned char)*l->p))
    l->p++;
  tok *t = &l->t;
  t->text[0] = 0;
  size_t n = 0;
  const char *p = l->p;
  if (!*p) {
    t->kind = T_END;
    return;
  }
  if (isalpha((unsigned char)*p) || *p == '_') {
    while ((isalnum((unsigned char)*p) || *p == '_') && n + 1 < sizeof t->text)
      t->text[n++] = *p++;
    t->kind = T_IDENT;
  } else if (isdigit((unsigned char)*p) || (*p == '-' && isdigit((unsigned char)p[1]))) {
    if (*p == '-') t->text[n++] = *p++;
    while ((isdigit((unsigned char)*p) || *p == '.' || *p == 'e' || *p == 'E') &&
           n + 1 < sizeof t->text)
      t->text[n++] = *p++;
    while (*p == 'L' || *p == 'l' || *p == 'f' || *p == 'd' || *p == 'F' || *p == 'D')
      p++;
    t->kind = T_NUM;
  } else if (*p == '\'' || *p == '"') {
    char q = *p++;
    while (*p && *p != q && n + 1 < sizeof t->text) {
      if (*p == '\\' && p[1]) p++;
      t->text[n++] = *p++;
    }
    if (*p != q) {
      snprintf(l->err, sizeof l->err, "unterminated string");
      t->kind = T_END;
      return;
    }
    p++;
    t->kind = T_STR;
  } else if ((*p == '+' || *p == '-') && p[1] == '=') {
    t->text[n++] = *p++;
    t->text[n++] = *p++;
    t->kind = T_PUNCT;
  } else {
    t->text[n++] = *p++;
    t->kind = T_PUNCT;
  }
  t->text[n] = 0;
  l->p = p;
}

static int is_punct(lexer *l, const char *s) {
  return l->t.kind == T_PUNCT && !strcmp(l->t.text, s);
}

static int is_ident(lexer *l, const char *s) {
  return l->t.kind == T_IDENT && !strcmp(l->t.text, s);
}

static int expect(lexer *l, const char *s) {
  if (!is_punct(l, s)) {
    if (!l->err[0]) snprintf(l->err, sizeof l->err, "expected '%.8s' near '%.60s'", s, l->t.text);
    return -1;
  }
  next(l);
  return 0;
}

/* Reads ".a.b['c']" segments into a JSON array of names. */
static json_t *read_path(lexer *l) {
  json_t *path = json_array();
  for (;;) {
    if (is_punct(l, ".")) {
      next(l);
      if (l->t.kind != T_IDENT) break;
      /* .add( / .remove( are method calls, not path segments */
      if (is_ident(l, "add") || is_ident(l, "remove")) {
        const char *save = l->p;
        tok t = l->t;
        next(l);
        int call = is_punct(l, "(");
        l->p = save;
        l->t = t;
        if (call) break;
      }
      json_array_append_new(path, json_string(l->t.text));
      next(l);
    } else if (is_punct(l, "[")) {
      next(l);
      if (l->t.kind != T_STR) break;
      json_array_append_new(path, json_string(l->t.text));
      next(l);
      if (expect(l, "]")) break;
    } else {
      break;
    }
  }
  return path;
}

/* The object holding the last segment of path under root; creates
 * intermediate objects when create is set. */
static json_t *parent_of(json_t *root, json_t *path, int create) {
  json_t *at = root;
  for (size_t i = 0; i + 1 < json_array_size(path); i++) {
    const char *k = json_string_value(json_array_get(path, i));
    json_t *n = json_object_get(at, k);
    if (!json_is_object(n)) {
      if (!create) return NULL;
      n = json_object();
      json_object_set_new(at, k, n);
    }
    at = n;
  }
  return at;
}

static const char *last_of(json_t *path) {
  return json_string_value(json_array_get(path, json_array_size(path) - 1));
}

/* Parses ctx._source (after "ctx") and returns its path, or NULL. */
static json_t *source_path(lexer *l) {
  if (!is_punct(l, ".")) return NULL;
  next(l);
  if (!is_ident(l, "_source")) return NULL;
  next(l);
  return read_path(l);
}

static json_t *expr(lexer *l) {
  json_t *v = NULL;
  if (l->t.kind == T_STR) {
    v = json_string(l->t.text);
  } else if (l->t.kind == T_NUM) {
    char *end;
    if (strpbrk(l->t.text, ".eE"))
      v = json_real(strtod(l->t.text, &end));
    else
      v = json_integer(strtoll(l->t.text, &end, 10));
  } else if (is_ident(l, "true") || is_ident(l, "false")) {
    v = json_boolean(is_ident(l, "true"));
  } else if (is_ident(l, "null")) {
    v = json_null();
  } else if (is_ident(l, "params")) {
    next(l);
    json_t *path = read_path(l);
    json_t *at = l->params;
    for (size_t i = 0; at && i < json_array_size(path); i++)
      at = json_object_get(at, json_string_value(json_array_get(path, i)));
    json_decref(path);
    if (!at) snprintf(l->err, sizeof l->err, "unknown params value");
    return at ? json_deep_copy(at) : NULL;
  } else if (is_ident(l, "ctx")) {
    next(l);
    json_t *path = source_path(l);
    json_t *src = json_object_get(l->ctx, "_source");
    json_t *p = path && json_array_size(path) ? parent_of(src, path, 0) : NULL;
    json_t *x = p ? json_object_get(p, last_of(path)) : NULL;
    json_decref(path);
    return x ? json_deep_copy(x) : json_null();
  } else {
    snprintf(l->err, sizeof l->err, "unsupported expression near '%.60s'", l->t.text);
    return NULL;
  }
  next(l);
  return v;
}

static int statement(lexer *l) {
  if (!is_ident(l, "ctx")) {
    snprintf(l->err, sizeof l->err, "unsupported statement near '%.60s'", l->t.text);
    return -1;
  }
  next(l);
  if (is_punct(l, ".") && !strncmp(l->p, "op", 2) && !isalnum((unsigned char)l->p[2])) {
    next(l);
    next(l);
    if (expect(l, "=")) return -1;
    json_t *v = expr(l);
    if (!json_is_string(v)) {
      json_decref(v);
      if (!l->err[0]) snprintf(l->err, sizeof l->err, "ctx.op takes a string");
      return -1;
    }
    json_object_set_new(l->ctx, "op", v);
    return 0;
  }
  json_t *path = source_path(l);
  if (!path) {
    snprintf(l->err, sizeof l->err, "only ctx._source and ctx.op are supported");
    return -1;
  }
  json_t *src = json_object_get(l->ctx, "_source");
  int rc = -1;
  if (is_ident(l, "remove") || is_ident(l, "add")) { /* a call: .remove('f') or .add(x) */
    int remove = is_ident(l, "remove");
    next(l);
    if (!expect(l, "(")) {
      json_t *arg = expr(l);
      if (arg && !expect(l, ")")) {
        json_t *holder = src;
        for (size_t i = 0; holder && i < json_array_size(path); i++)
          holder = json_object_get(holder, json_string_value(json_array_get(path, i)));
        if (remove && json_is_object(holder) && json_is_string(arg)) {
          json_object_del(holder, json_string_value(arg));
          rc = 0;
        } else if (!remove && json_is_array(holder)) {
          json_array_append(holder, arg);
          rc = 0;
        } else {
          snprintf(l->err, sizeof l->err, "runtime: %s on a missing or wrong-typed field",
                   remove ? "remove" : "add");
        }
      }
      json_decref(arg);
    }
  } else if (json_array_size(path) == 0) {
    snprintf(l->err, sizeof l->err, "assigning ctx._source itself is not supported");
  } else if (is_punct(l, "=") || is_punct(l, "+=") || is_punct(l, "-=")) {
    char op = l->t.text[0];
    next(l);
    json_t *v = expr(l);
    json_t *parent = v ? parent_of(src, path, 1) : NULL;
    if (parent && op == '=') {
      json_object_set_new(parent, last_of(path), v);
      rc = 0;
    } else if (parent) {
      json_t *old = json_object_get(parent, last_of(path));
      if (json_is_number(old) && json_is_number(v)) {
        double d = json_number_value(old) + (op == '+' ? 1 : -1) * json_number_value(v);
        json_object_set_new(parent, last_of(path),
                            json_is_integer(old) && json_is_integer(v) ? json_integer((json_int_t)d)
                                                                       : json_real(d));
        rc = 0;
      } else if (op == '+' && json_is_string(old)) {
        char *t = json_dumps(v, JSON_ENCODE_ANY);
        const char *add = json_is_string(v) ? json_string_value(v) : t;
        size_t n = strlen(json_string_value(old)) + strlen(add) + 1;
        char *s = malloc(n);
        snprintf(s, n, "%s%s", json_string_value(old), add);
        json_object_set_new(parent, last_of(path), json_string(s));
        free(s);
        free(t);
        rc = 0;
      } else {
        snprintf(l->err, sizeof l->err, "runtime: cannot apply %c= to this field", op);
      }
      json_decref(v);
    }
  } else {
    snprintf(l->err, sizeof l->err, "unsupported statement near '%.60s'", l->t.text);
  }
  json_decref(path);
  return rc;
}

json_t *fos_script_run(json_t *script, json_t *ctx) {
  const char *src = json_string_value(script);
  json_t *params = NULL;
  if (json_is_object(script)) {
    if (json_object_get(script, "id"))
      return fos_cause("resource_not_found_exception",
                       "unable to find script [%s] in cluster state",
                       json_string_value(json_object_get(script, "id")));
    src = json_string_value(json_object_get(script, "source"));
    params = json_object_get(script, "params");
    const char *lang = json_string_value(json_object_get(script, "lang"));
    if (lang && strcmp(lang, "painless"))
      return fos_cause("illegal_argument_exception", "script_lang not supported [%s]", lang);
  }
  if (!src) return fos_cause("illegal_argument_exception", "script source is missing");
  lexer l;
  memset(&l, 0, sizeof l);
  l.src = l.p = src;
  l.params = params;
  l.ctx = ctx;
  next(&l);
  while (l.t.kind != T_END && !l.err[0]) {
    if (is_punct(&l, ";")) {
      next(&l);
      continue;
    }
    if (statement(&l)) break;
    if (l.t.kind != T_END && !is_punct(&l, ";") && !l.err[0])
      snprintf(l.err, sizeof l.err, "expected ';' near '%.60s'", l.t.text);
  }
  if (!l.err[0]) return NULL;
  int runtime = !strncmp(l.err, "runtime", 7);
  json_t *e = fos_cause("script_exception", runtime ? "runtime error" : "compile error");
  json_object_set_new(e, "script_stack", json_pack("[s]", src));
  json_object_set_new(e, "script", json_string(src));
  json_object_set_new(e, "lang", json_string("painless"));
  json_object_set_new(e, "caused_by",
                      fos_cause("illegal_argument_exception",
                                "fake-opensearch runs only a painless subset (assignments to "
                                "ctx._source fields, remove, add, ctx.op): %s",
                                l.err));
  return e;
}
