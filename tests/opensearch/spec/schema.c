/*
 * OpenAPI/JSON Schema validation against the OpenSearch specification (see
 * spec.h). The keywords the specification uses are implemented: $ref (with
 * siblings), type, format (int32/int64 ranges), enum, const, properties,
 * required, additionalProperties, propertyNames, patternProperties, items,
 * min/maxItems, min/maxProperties, min/maxLength, minimum/maximum,
 * pattern (ECMA syntax mapped to POSIX ERE where possible), allOf, anyOf,
 * oneOf, not, and OpenAPI's discriminator (a oneOf whose branches pin the
 * discriminating property to an enum or const is decided by that property).
 * Annotations (description, title, x-*, deprecated, default, ...) are
 * ignored.
 *
 * Unresolvable $refs are counted and accepted; inside oneOf/anyOf a branch
 * that only matches thanks to an unresolved $ref is used only when no
 * fully checked branch matches.
 */
#include "spec.h"

#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOCS_MAX 64
#define DEPTH_MAX 300

struct fos_spec {
  char dir[PATH_MAX];
  struct {
    char path[PATH_MAX];
    json_t *doc; /* NULL: could not be read */
  } docs[DOCS_MAX];
  int ndocs;
  const char *ns[2]; /* namespace files searched for operations */
};

static json_t *load_doc(fos_spec *s, const char *path, const char **canon) {
  char real[PATH_MAX];
  if (!s || !realpath(path, real)) {
    *canon = NULL;
    return NULL;
  }
  for (int i = 0; i < s->ndocs; i++) {
    if (!strcmp(s->docs[i].path, real)) {
      *canon = s->docs[i].path;
      return s->docs[i].doc;
    }
  }
  if (s->ndocs == DOCS_MAX) {
    *canon = NULL;
    return NULL;
  }
  char err[512];
  int i = s->ndocs++;
  snprintf(s->docs[i].path, sizeof s->docs[i].path, "%s", real);
  s->docs[i].doc = fos_yaml_load_file(real, err, sizeof err);
  if (!s->docs[i].doc) fprintf(stderr, "spec: %s\n", err);
  *canon = s->docs[i].path;
  return s->docs[i].doc;
}

fos_spec *fos_spec_open(const char *dir, char *err, size_t errcap) {
  fos_spec *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  static const char *const files[] = {"namespaces/_core.yaml", "namespaces/indices.yaml"};
  for (int i = 0; i < 2; i++) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    const char *canon;
    if (!load_doc(s, path, &canon)) {
      snprintf(err, errcap, "cannot read %s", path);
      fos_spec_close(s);
      return NULL;
    }
    s->ns[i] = canon;
  }
  return s;
}

void fos_spec_close(fos_spec *s) {
  if (!s) return;
  for (int i = 0; i < s->ndocs; i++)
    json_decref(s->docs[i].doc);
  free(s);
}

/* Follows a JSON pointer ("/components/schemas/X") in doc. */
static json_t *pointer(json_t *doc, const char *ptr) {
  json_t *at = doc;
  if (!*ptr) return doc;
  if (*ptr != '/') return NULL;
  char part[512];
  const char *p = ptr + 1;
  for (;;) {
    size_t n = strcspn(p, "/"), o = 0;
    for (size_t i = 0; i < n && o + 1 < sizeof part; i++) {
      if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
        part[o++] = p[i + 1] == '0' ? '~' : '/';
        i++;
      } else {
        part[o++] = p[i];
      }
    }
    part[o] = 0;
    at =
        json_is_array(at) ? json_array_get(at, strtoul(part, NULL, 10)) : json_object_get(at, part);
    if (!at || !p[n]) return at;
    p += n + 1;
  }
}

/* Resolves a $ref from a document; sets *file and *root to where it lives. */
static json_t *resolve(fos_spec *s, const char *ref, const char **file, json_t **root) {
  const char *hash = strchr(ref, '#');
  size_t flen = hash ? (size_t)(hash - ref) : strlen(ref);
  const char *ptr = hash ? hash + 1 : "";
  if (flen) {
    char path[PATH_MAX * 2];
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", *file ? *file : (s ? s->dir : "."));
    char *slash = *file ? strrchr(dir, '/') : NULL;
    if (slash) *slash = 0;
    snprintf(path, sizeof path, "%s/%.*s", dir, (int)flen, ref);
    const char *canon;
    json_t *doc = load_doc(s, path, &canon);
    if (!doc) return NULL;
    *file = canon;
    *root = doc;
  }
  return pointer(*root, ptr);
}

/* ---------------------------------------------------------------- validation */

typedef struct vctx {
  fos_spec *s;
  json_t *errors; /* NULL: count only */
  int nerr;
  int unresolved;
  int depth;
} vctx;

static void verr(vctx *v, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verr(vctx *v, const char *path, const char *fmt, ...) {
  v->nerr++;
  if (!v->errors || json_array_size(v->errors) >= 50) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char line[1600];
  snprintf(line, sizeof line, "%s: %s", *path ? path : "(body)", msg);
  json_array_append_new(v->errors, json_string(line));
}

static const char *kind_of(json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT:
    return "object";
  case JSON_ARRAY:
    return "array";
  case JSON_STRING:
    return "string";
  case JSON_INTEGER:
    return "integer";
  case JSON_REAL:
    return "number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "boolean";
  default:
    return "null";
  }
}

static int type_ok(const char *t, json_t *j) {
  if (!strcmp(t, "object")) return json_is_object(j);
  if (!strcmp(t, "array")) return json_is_array(j);
  if (!strcmp(t, "string")) return json_is_string(j);
  if (!strcmp(t, "boolean")) return json_is_boolean(j);
  if (!strcmp(t, "null")) return json_is_null(j);
  if (!strcmp(t, "number")) return json_is_number(j);
  if (!strcmp(t, "integer"))
    return json_is_integer(j) ||
           (json_is_real(j) && json_real_value(j) == floor(json_real_value(j)));
  return 1;
}

static int validate(vctx *v, const char *file, json_t *root, json_t *schema, json_t *inst,
                    const char *path);

/* Runs a sub-validation into a scratch context; returns its error count and
 * unresolved count. */
static int trial(vctx *v, const char *file, json_t *root, json_t *schema, json_t *inst,
                 const char *path, json_t *errors, int *unresolved) {
  vctx c = {v->s, errors, 0, 0, v->depth};
  validate(&c, file, root, schema, inst, path);
  *unresolved = c.unresolved;
  return c.nerr;
}

/* For a discriminator: the enum/const values a branch allows for prop, or
 * NULL when it does not pin it. Follows $ref and allOf. */
static json_t *pinned_values(vctx *v, const char *file, json_t *root, json_t *schema,
                             const char *prop, int depth) {
  if (!json_is_object(schema) || depth > 20) return NULL;
  const char *ref = json_string_value(json_object_get(schema, "$ref"));
  if (ref) {
    const char *f = file;
    json_t *r = root;
    json_t *t = resolve(v->s, ref, &f, &r);
    json_t *got = t ? pinned_values(v, f, r, t, prop, depth + 1) : NULL;
    if (got) return got;
  }
  json_t *p = json_object_get(json_object_get(schema, "properties"), prop);
  if (p) {
    json_t *e = json_object_get(p, "enum");
    if (json_is_array(e)) return json_incref(e);
    json_t *c = json_object_get(p, "const");
    if (c) return json_pack("[O]", c);
  }
  size_t i;
  json_t *b;
  json_array_foreach(json_object_get(schema, "allOf"), i, b) {
    json_t *got = pinned_values(v, file, root, b, prop, depth + 1);
    if (got) return got;
  }
  return NULL;
}

static int check_alternatives(vctx *v, const char *file, json_t *root, json_t *schema, json_t *alts,
                              json_t *inst, const char *path, int one) {
  size_t n = json_array_size(alts);
  if (!n) return 0;
  int *use = calloc(n, sizeof *use);
  for (size_t i = 0; i < n; i++)
    use[i] = 1;
  /* Discriminator: keep only the branches that allow the instance's value. */
  json_t *disc = json_object_get(schema, "discriminator");
  const char *prop = json_string_value(json_object_get(disc, "propertyName"));
  if (prop && json_is_object(inst)) {
    json_t *val = json_object_get(inst, prop);
    if (!val) val = json_object_get(disc, "x-default");
    int any = 0;
    for (size_t i = 0; val && i < n; i++) {
      json_t *vals = pinned_values(v, file, root, json_array_get(alts, i), prop, 0);
      int hit = 0;
      size_t k;
      json_t *x;
      json_array_foreach(vals, k, x) {
        hit |= json_equal(x, val);
      }
      json_decref(vals);
      use[i] = hit;
      any |= hit;
    }
    if (!any) {
      for (size_t i = 0; i < n; i++)
        use[i] = 1;
    }
  }
  int strict = 0, loose = 0;
  size_t best = n;
  int best_err = INT_MAX;
  for (size_t i = 0; i < n; i++) {
    if (!use[i]) continue;
    int unres;
    int e = trial(v, file, root, json_array_get(alts, i), inst, path, NULL, &unres);
    if (e == 0 && unres == 0) strict++;
    if (e == 0 && unres > 0) loose++;
    if (e < best_err) {
      best_err = e;
      best = i;
    }
  }
  int rc = 0;
  if (strict == 1 || (!one && strict >= 1)) {
    rc = 0;
  } else if (strict > 1) {
    verr(v, path, "matches %d alternatives of oneOf, exactly one must match", strict);
    rc = 1;
  } else if (loose >= 1) {
    v->unresolved++;
  } else {
    json_t *errs = json_array();
    int unres;
    if (best < n) trial(v, file, root, json_array_get(alts, best), inst, path, errs, &unres);
    char *first = json_array_size(errs) ? strdup(json_string_value(json_array_get(errs, 0))) : NULL;
    verr(v, path, "matches none of the %zu alternatives of %s (closest: %s)", n,
         one ? "oneOf" : "anyOf", first ? first : "?");
    free(first);
    json_decref(errs);
    rc = 1;
  }
  free(use);
  return rc;
}

static int pattern_ok(const char *pat, const char *s) {
  /* ECMA -> POSIX ERE for the constructs the spec uses. */
  char ere[1024];
  size_t o = 0;
  for (const char *p = pat; *p && o + 16 < sizeof ere; p++) {
    if (p[0] == '(' && p[1] == '?' && p[2] == ':') {
      ere[o++] = '(';
      p += 2;
    } else if (p[0] == '\\' && p[1] == 'd') {
      memcpy(ere + o, "[0-9]", 5);
      o += 5;
      p++;
    } else if (p[0] == '\\' && p[1] == 'w') {
      memcpy(ere + o, "[A-Za-z0-9_]", 12);
      o += 12;
      p++;
    } else if (p[0] == '\\' && p[1] == 's') {
      memcpy(ere + o, "[[:space:]]", 11);
      o += 11;
      p++;
    } else {
      ere[o++] = *p;
    }
  }
  ere[o] = 0;
  regex_t re;
  if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB)) return -1; /* cannot check */
  int ok = regexec(&re, s, 0, NULL, 0) == 0;
  regfree(&re);
  return ok;
}

static int validate(vctx *v, const char *file, json_t *root, json_t *schema, json_t *inst,
                    const char *path) {
  int before = v->nerr;
  if (json_is_true(schema) || !json_is_object(schema)) return 0;
  if (json_is_false(schema)) {
    verr(v, path, "no value is allowed here");
    return 1;
  }
  if (++v->depth > DEPTH_MAX) {
    v->depth--;
    verr(v, path, "schema nesting deeper than %d", DEPTH_MAX);
    return 1;
  }
  char sub[1024];
  const char *ref = json_string_value(json_object_get(schema, "$ref"));
  if (ref) {
    const char *f = file;
    json_t *r = root;
    json_t *target = resolve(v->s, ref, &f, &r);
    if (!target)
      v->unresolved++;
    else
      validate(v, f, r, target, inst, path);
  }
  json_t *type = json_object_get(schema, "type");
  int type_failed = 0;
  if (json_is_string(type) && !type_ok(json_string_value(type), inst)) {
    verr(v, path, "expected %s, got %s", json_string_value(type), kind_of(inst));
    type_failed = 1;
  } else if (json_is_array(type)) {
    int ok = 0;
    size_t i;
    json_t *t;
    json_array_foreach(type, i, t) {
      ok |= json_is_string(t) && type_ok(json_string_value(t), inst);
    }
    if (!ok) {
      verr(v, path, "expected one of the listed types, got %s", kind_of(inst));
      type_failed = 1;
    }
  }
  const char *format = json_string_value(json_object_get(schema, "format"));
  if (format && json_is_integer(inst) && !strcmp(format, "int32") &&
      (json_integer_value(inst) < INT32_MIN || json_integer_value(inst) > INT32_MAX))
    verr(v, path, "%lld is out of range for int32", (long long)json_integer_value(inst));
  json_t *en = json_object_get(schema, "enum");
  if (json_is_array(en)) {
    int ok = 0;
    size_t i;
    json_t *e;
    json_array_foreach(en, i, e) {
      ok |= json_equal(e, inst);
    }
    if (!ok) {
      char *s = json_dumps(inst, JSON_ENCODE_ANY | JSON_COMPACT);
      verr(v, path, "%.100s is not one of the allowed values", s ? s : "?");
      free(s);
    }
  }
  json_t *cn = json_object_get(schema, "const");
  if (cn && !json_equal(cn, inst)) {
    char *s = json_dumps(cn, JSON_ENCODE_ANY | JSON_COMPACT);
    verr(v, path, "must be %.100s", s ? s : "?");
    free(s);
  }
  if (json_is_object(inst) && !type_failed) {
    json_t *props = json_object_get(schema, "properties");
    json_t *pprops = json_object_get(schema, "patternProperties");
    json_t *addl = json_object_get(schema, "additionalProperties");
    json_t *names = json_object_get(schema, "propertyNames");
    const char *k;
    json_t *x;
    json_object_foreach(inst, k, x) {
      snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
      json_t *ps = json_object_get(props, k);
      int known = ps != NULL;
      if (ps) validate(v, file, root, ps, x, sub);
      const char *pk;
      json_t *psch;
      json_object_foreach(pprops, pk, psch) {
        if (pattern_ok(pk, k) == 1) {
          known = 1;
          validate(v, file, root, psch, x, sub);
        }
      }
      if (!known && json_is_false(addl)) verr(v, sub, "property is not allowed here");
      if (!known && json_is_object(addl)) validate(v, file, root, addl, x, sub);
      if (names) {
        json_t *kj = json_string(k);
        validate(v, file, root, names, kj, sub);
        json_decref(kj);
      }
    }
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(schema, "required"), i, r) {
      if (json_is_string(r) && !json_object_get(inst, json_string_value(r)))
        verr(v, path, "required property [%s] is missing", json_string_value(r));
    }
    json_t *mn = json_object_get(schema, "minProperties"),
           *mx = json_object_get(schema, "maxProperties");
    if (json_is_integer(mn) && (json_int_t)json_object_size(inst) < json_integer_value(mn))
      verr(v, path, "needs at least %lld properties", (long long)json_integer_value(mn));
    if (json_is_integer(mx) && (json_int_t)json_object_size(inst) > json_integer_value(mx))
      verr(v, path, "allows at most %lld properties", (long long)json_integer_value(mx));
  }
  if (json_is_array(inst) && !type_failed) {
    json_t *items = json_object_get(schema, "items");
    size_t i;
    json_t *x;
    if (json_is_object(items)) {
      json_array_foreach(inst, i, x) {
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        validate(v, file, root, items, x, sub);
      }
    }
    json_t *mn = json_object_get(schema, "minItems"), *mx = json_object_get(schema, "maxItems");
    if (json_is_integer(mn) && (json_int_t)json_array_size(inst) < json_integer_value(mn))
      verr(v, path, "needs at least %lld items", (long long)json_integer_value(mn));
    if (json_is_integer(mx) && (json_int_t)json_array_size(inst) > json_integer_value(mx))
      verr(v, path, "allows at most %lld items", (long long)json_integer_value(mx));
  }
  if (json_is_string(inst) && !type_failed) {
    size_t len = json_string_length(inst);
    json_t *mn = json_object_get(schema, "minLength"), *mx = json_object_get(schema, "maxLength");
    if (json_is_integer(mn) && (json_int_t)len < json_integer_value(mn))
      verr(v, path, "shorter than %lld", (long long)json_integer_value(mn));
    if (json_is_integer(mx) && (json_int_t)len > json_integer_value(mx))
      verr(v, path, "longer than %lld", (long long)json_integer_value(mx));
    const char *pat = json_string_value(json_object_get(schema, "pattern"));
    if (pat && pattern_ok(pat, json_string_value(inst)) == 0)
      verr(v, path, "\"%.80s\" does not match the pattern %.80s", json_string_value(inst), pat);
  }
  if (json_is_number(inst) && !type_failed) {
    double d = json_number_value(inst);
    json_t *b;
    if ((b = json_object_get(schema, "minimum")) && json_is_number(b) && d < json_number_value(b))
      verr(v, path, "below the minimum %g", json_number_value(b));
    if ((b = json_object_get(schema, "maximum")) && json_is_number(b) && d > json_number_value(b))
      verr(v, path, "above the maximum %g", json_number_value(b));
    if ((b = json_object_get(schema, "exclusiveMinimum")) && json_is_number(b) &&
        d <= json_number_value(b))
      verr(v, path, "not above %g", json_number_value(b));
    if ((b = json_object_get(schema, "exclusiveMaximum")) && json_is_number(b) &&
        d >= json_number_value(b))
      verr(v, path, "not below %g", json_number_value(b));
  }
  size_t i;
  json_t *b;
  json_array_foreach(json_object_get(schema, "allOf"), i, b) {
    validate(v, file, root, b, inst, path);
  }
  json_t *one = json_object_get(schema, "oneOf"), *any = json_object_get(schema, "anyOf");
  if (json_is_array(one)) check_alternatives(v, file, root, schema, one, inst, path, 1);
  if (json_is_array(any)) check_alternatives(v, file, root, schema, any, inst, path, 0);
  json_t *not = json_object_get(schema, "not");
  if (not ) {
    int unres;
    if (trial(v, file, root, not, inst, path, NULL, &unres) == 0 && unres == 0)
      verr(v, path, "matches a schema it must not match");
  }
  v->depth--;
  return v->nerr - before;
}

int fos_schema_validate(fos_spec *s, const char *file, json_t *schema, json_t *instance,
                        json_t *errors, int *unresolved) {
  vctx v = {s, errors, 0, 0, 0};
  validate(&v, file, schema, schema, instance, "");
  if (unresolved) *unresolved += v.unresolved;
  return v.nerr;
}

int fos_spec_check_schema(fos_spec *s, const char *ref, json_t *instance, json_t *errors,
                          int *unresolved) {
  const char *file = NULL;
  json_t *root = NULL;
  char full[PATH_MAX * 2];
  snprintf(full, sizeof full, "%s", ref);
  /* Relative to the spec directory: resolve from a pretend file inside it. */
  char base[PATH_MAX + 16];
  snprintf(base, sizeof base, "%s/x", s->dir);
  file = base;
  json_t *schema = resolve(s, full, &file, &root);
  if (!schema) {
    if (errors) json_array_append_new(errors, json_pack("s+", "cannot resolve ", ref));
    return 1;
  }
  vctx v = {s, errors, 0, 0, 0};
  validate(&v, file, root, schema, instance, "");
  if (unresolved) *unresolved += v.unresolved;
  return v.nerr;
}

/* ---------------------------------------------------------------- operations */

static int count_segments(const char *p, char seg[][256], int max) {
  int n = 0;
  while (*p) {
    while (*p == '/')
      p++;
    if (!*p) break;
    size_t len = strcspn(p, "/");
    if (n == max) return -1;
    snprintf(seg[n++], 256, "%.*s", (int)(len < 255 ? len : 255), p);
    p += len;
  }
  return n;
}

int fos_spec_find(fos_spec *s, const char *method, const char *path, fos_op *out) {
  char m[16];
  size_t i;
  for (i = 0; method[i] && i + 1 < sizeof m; i++)
    m[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
  m[i] = 0;
  char want[16][256], seg[16][256];
  int nw = count_segments(path, want, 16);
  int best = -1;
  for (int f = 0; f < 2; f++) {
    json_t *doc = NULL;
    for (int d = 0; d < s->ndocs; d++) {
      if (s->docs[d].path == s->ns[f]) doc = s->docs[d].doc;
    }
    const char *key;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), key, item) {
      json_t *op = json_object_get(item, m);
      if (!op) continue;
      int exact = !strcmp(key, path) || (path[0] != '/' && !strcmp(key + 1, path));
      int score = -1;
      if (exact) {
        score = 1000;
      } else {
        int ns = count_segments(key, seg, 16);
        if (ns != nw || ns < 0) continue;
        score = 0;
        for (int k = 0; k < ns && score >= 0; k++) {
          if (seg[k][0] == '{') continue;
          if (strcmp(seg[k], want[k]))
            score = -1;
          else
            score++;
        }
      }
      if (score > best) {
        best = score;
        out->file = s->ns[f];
        out->path = key;
        out->op = op;
        out->id = json_string_value(json_object_get(op, "operationId"));
      }
    }
  }
  return best >= 0 ? 0 : -1;
}

/* The namespace document of an operation. */
static json_t *op_doc(fos_spec *s, const fos_op *op) {
  for (int d = 0; d < s->ndocs; d++) {
    if (s->docs[d].path == op->file) return s->docs[d].doc;
  }
  return NULL;
}

/* Follows one $ref hop of an object in the operation's file, if any. */
static json_t *deref(fos_spec *s, const fos_op *op, json_t *x, const char **file, json_t **root) {
  *file = op->file;
  *root = op_doc(s, op);
  for (int hops = 0; hops < 8 && json_is_object(x); hops++) {
    const char *ref = json_string_value(json_object_get(x, "$ref"));
    if (!ref) break;
    x = resolve(s, ref, file, root);
  }
  return x;
}

int fos_spec_check_params(fos_spec *s, const fos_op *op, json_t *params, json_t *errors,
                          int *unresolved) {
  int nerr = 0;
  const char *k;
  json_t *val;
  json_object_foreach(params, k, val) {
    json_t *found = NULL;
    const char *file = NULL;
    json_t *root = NULL;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(op->op, "parameters"), i, p) {
      const char *f;
      json_t *r;
      json_t *d = deref(s, op, p, &f, &r);
      if (json_is_string(json_object_get(d, "name")) &&
          !strcmp(json_string_value(json_object_get(d, "name")), k)) {
        found = d;
        file = f;
        root = r;
      }
    }
    if (!found) {
      char msg[600];
      snprintf(msg, sizeof msg, "parameter [%s] is not a parameter of %s", k, op->id);
      json_array_append_new(errors, json_string(msg));
      nerr++;
      continue;
    }
    json_t *schema = json_object_get(found, "schema");
    json_t *errs = json_array();
    vctx v = {s, errs, 0, 0, 0};
    char where[300];
    snprintf(where, sizeof where, "parameter %s", k);
    validate(&v, file, root, schema, val, where);
    *unresolved += v.unresolved;
    nerr += v.nerr;
    json_array_extend(errors, errs);
    json_decref(errs);
  }
  return nerr;
}

int fos_spec_check_request(fos_spec *s, const fos_op *op, const char *content_type, json_t *payload,
                           json_t *errors, int *unresolved) {
  json_t *rb = json_object_get(op->op, "requestBody");
  if (!payload) return 0;
  if (!rb) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s takes no request body", op->id);
    json_array_append_new(errors, json_string(msg));
    return 1;
  }
  const char *file;
  json_t *root;
  json_t *body = deref(s, op, rb, &file, &root);
  json_t *content = json_object_get(body, "content");
  json_t *media = json_object_get(content, content_type ? content_type : "application/json");
  if (!media) {
    char msg[300];
    snprintf(msg, sizeof msg, "%s does not take %s", op->id,
             content_type ? content_type : "application/json");
    json_array_append_new(errors, json_string(msg));
    return 1;
  }
  json_t *schema = json_object_get(media, "schema");
  if (!schema) return 0;
  vctx v = {s, errors, 0, 0, 0};
  validate(&v, file, root, schema, payload, "request");
  *unresolved += v.unresolved;
  return v.nerr;
}

int fos_spec_check_response(fos_spec *s, const fos_op *op, int status, json_t *body, json_t *errors,
                            int *unresolved) {
  char code[16];
  snprintf(code, sizeof code, "%d", status);
  json_t *r = json_object_get(json_object_get(op->op, "responses"), code);
  if (!r) {
    char msg[300];
    snprintf(msg, sizeof msg, "status %d is not a documented response of %s", status, op->id);
    json_array_append_new(errors, json_string(msg));
    return 1;
  }
  const char *file;
  json_t *root;
  json_t *resp = deref(s, op, r, &file, &root);
  if (!resp) {
    (*unresolved)++;
    return 0;
  }
  json_t *schema = json_object_get(
      json_object_get(json_object_get(resp, "content"), "application/json"), "schema");
  if (!schema || !body) return 0;
  vctx v = {s, errors, 0, 0, 0};
  validate(&v, file, root, schema, body, "response");
  *unresolved += v.unresolved;
  return v.nerr;
}
