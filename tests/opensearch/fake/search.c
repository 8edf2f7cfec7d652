/*
 * fake-opensearch search and count: enough of the query DSL to page through
 * an index and to filter on exact values, with OpenSearch's paging rules.
 *
 * Queries: match_all, match_none, ids, term, terms, range, exists and bool
 * over keyword, numeric, date (epoch numbers), boolean, _id and _index.
 * Text fields are not analyzed by the fake, so term and range on a text
 * field, and every full-text query (match, query_string, ...), answer 400
 * unsupported_operation_exception naming the fake: a test that needs them
 * fails loudly instead of passing on wrong results. As in OpenSearch,
 * fields under a nested mapping are invisible to non-nested queries.
 *
 * Sorting: _id, _doc, _score, _index and keyword (through its normalizer),
 * numeric, date and boolean fields; missing values last. search_after
 * continues after the given sort values. Scores are constant (1.0).
 * Searches see the documents as of the last refresh (see cluster.c).
 */
#include "fos.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- _source filtering */

static json_t *patterns_of(json_t *v) {
  if (json_is_string(v)) return json_pack("[O]", v);
  if (json_is_array(v)) return json_incref(v);
  return NULL;
}

int fos_source_filter_parse(json_t *v, fos_req *rq, fos_source_filter *f, json_t **cause) {
  memset(f, 0, sizeof *f);
  f->enabled = 1;
  *cause = NULL;
  if (json_is_boolean(v)) {
    f->enabled = json_is_true(v);
  } else if (json_is_string(v) || json_is_array(v)) {
    f->includes = patterns_of(v);
  } else if (json_is_object(v)) {
    json_t *inc = json_object_get(v, "includes"), *exc = json_object_get(v, "excludes");
    if (!inc) inc = json_object_get(v, "include");
    if (!exc) exc = json_object_get(v, "exclude");
    f->includes = patterns_of(inc);
    f->excludes = patterns_of(exc);
  } else if (v && !json_is_null(v)) {
    *cause = fos_cause("parsing_exception", "Unknown key for a VALUE_NUMBER in [_source].");
    return -1;
  }
  if (!rq) return 0;
  const char *s = fos_param(rq, "_source");
  if (s) {
    if (!strcmp(s, "false")) {
      f->enabled = 0;
    } else if (strcmp(s, "true") && *s) {
      json_decref(f->includes);
      f->includes = fos_split_commas(s);
      f->enabled = 1;
    } else {
      f->enabled = 1;
    }
  }
  if ((s = fos_param(rq, "_source_includes"))) {
    json_decref(f->includes);
    f->includes = fos_split_commas(s);
    f->enabled = 1;
  }
  if ((s = fos_param(rq, "_source_excludes"))) {
    json_decref(f->excludes);
    f->excludes = fos_split_commas(s);
    f->enabled = 1;
  }
  if (json_array_size(f->includes) == 0 && f->includes) {
    json_decref(f->includes);
    f->includes = NULL;
  }
  return 0;
}

void fos_source_filter_free(fos_source_filter *f) {
  json_decref(f->includes);
  json_decref(f->excludes);
  f->includes = f->excludes = NULL;
}

static int any_match(json_t *pats, const char *path) {
  size_t i;
  json_t *p;
  json_array_foreach(pats, i, p) {
    if (json_is_string(p) && fos_glob(json_string_value(p), path)) return 1;
  }
  return 0;
}

/* 1 when some include pattern may match below path. */
static int may_match_below(json_t *pats, const char *path) {
  size_t n = strlen(path), i;
  json_t *p;
  json_array_foreach(pats, i, p) {
    const char *s = json_string_value(p);
    if (!s) continue;
    size_t lit = strcspn(s, "*");
    size_t k = lit < n ? lit : n;
    if (strncmp(s, path, k)) continue;
    if (lit <= n || s[n] == '.') return 1;
  }
  return 0;
}

static json_t *filter_value(const fos_source_filter *f, const char *path, json_t *v, int inc);

static json_t *filter_object(const fos_source_filter *f, const char *path, json_t *obj, int inc) {
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    char full[1024];
    snprintf(full, sizeof full, "%s%s%s", path, *path ? "." : "", k);
    if (f->excludes && any_match(f->excludes, full)) continue;
    int now = inc || !f->includes || any_match(f->includes, full);
    if (!now && !((json_is_object(v) || json_is_array(v)) && may_match_below(f->includes, full)))
      continue;
    json_t *x = filter_value(f, full, v, now);
    if (x) json_object_set_new(out, k, x);
  }
  if (!inc && json_object_size(out) == 0 && *path) {
    json_decref(out);
    return NULL;
  }
  return out;
}

static json_t *filter_value(const fos_source_filter *f, const char *path, json_t *v, int inc) {
  if (json_is_object(v)) return filter_object(f, path, v, inc);
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      json_t *y = json_is_object(x) || json_is_array(x) ? filter_value(f, path, x, inc)
                                                        : (inc ? json_incref(x) : NULL);
      if (y) json_array_append_new(a, y);
    }
    if (!inc && json_array_size(a) == 0) {
      json_decref(a);
      return NULL;
    }
    return a;
  }
  return inc ? json_incref(v) : NULL;
}

json_t *fos_source_filter_apply(const fos_source_filter *f, json_t *source) {
  if (!f->enabled) return NULL;
  if (!f->includes && !f->excludes) return json_incref(source);
  return filter_object(f, "", source, f->includes == NULL);
}

/* ---------------------------------------------------------------- values */

/* Collects the leaf values at a dotted path of a source (arrays flattened). */
static void collect(json_t *v, const char *path, json_t *out) {
  if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      collect(x, path, out);
    }
    return;
  }
  if (!*path) {
    if (!json_is_null(v)) json_array_append(out, v);
    return;
  }
  if (!json_is_object(v)) return;
  /* Try the longest key first, for keys that hold dots. */
  size_t n = strlen(path);
  for (size_t cut = n;; cut--) {
    if (cut == n || path[cut] == '.') {
      char key[512];
      if (cut < sizeof key) {
        memcpy(key, path, cut);
        key[cut] = 0;
        json_t *x = json_object_get(v, key);
        if (x) collect(x, cut == n ? "" : path + cut + 1, out);
      }
    }
    if (cut == 0) break;
  }
}

static int is_numeric_type(const char *t) {
  static const char *const n[] = {"long",         "integer", "short",      "byte",
                                  "double",       "float",   "half_float", "unsigned_long",
                                  "scaled_float", "date",    "date_nanos", NULL};
  for (int i = 0; t && n[i]; i++) {
    if (!strcmp(t, n[i])) return 1;
  }
  return 0;
}

static int to_double(json_t *v, double *d) {
  if (json_is_number(v)) {
    *d = json_number_value(v);
    return 0;
  }
  if (json_is_boolean(v)) {
    *d = json_is_true(v);
    return 0;
  }
  const char *s = json_string_value(v);
  if (!s || !*s) return -1;
  char *end;
  *d = strtod(s, &end);
  return *end ? -1 : 0;
}

static char *to_text(json_t *v) {
  if (json_is_string(v)) return strdup(json_string_value(v));
  return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* ---------------------------------------------------------------- queries */

typedef struct qctx {
  fos_index *ix;
  json_t *cause; /* first error */
} qctx;

static json_t *unsupported(const char *what, const char *name) {
  return fos_cause("unsupported_operation_exception",
                   "fake-opensearch does not implement %s [%s] (see tests/opensearch/README.md)",
                   what, name);
}

/* Resolves the field of a leaf query; returns its type or NULL. */
static const char *leaf_field(qctx *q, const char *field, char *src, size_t cap, json_t **fmap,
                              int *nested, const char *query) {
  *fmap = NULL;
  *nested = 0;
  snprintf(src, cap, "%s", field);
  if (!strcmp(field, "_id") || !strcmp(field, "_index")) return field;
  *fmap = fos_field_mapping(q->ix, field, src, cap, nested);
  const char *t = json_string_value(json_object_get(*fmap, "type"));
  if (*fmap && !t) t = "object";
  if (t &&
      (!strcmp(t, "text") || !strcmp(t, "match_only_text") || !strcmp(t, "search_as_you_type")) &&
      !q->cause) {
    char what[64];
    snprintf(what, sizeof what, "%s on a text field", query);
    q->cause = unsupported(what, field);
  }
  return t;
}

static int value_eq(qctx *q, const char *type, json_t *fmap, json_t *a, json_t *b, int ci) {
  if (is_numeric_type(type) || !strcmp(type, "boolean")) {
    double x, y;
    if (!strcmp(type, "boolean")) {
      const char *bs = json_string_value(b);
      y = json_is_true(b) || (bs && !strcmp(bs, "true"));
      const char *as = json_string_value(a);
      x = json_is_true(a) || (as && !strcmp(as, "true"));
      return x == y;
    }
    return !to_double(a, &x) && !to_double(b, &y) && x == y;
  }
  char *sa = to_text(a), *sb = to_text(b);
  if (fmap && !strcmp(type, "keyword")) {
    char *na = fos_keyword_key(q->ix, fmap, sa), *nb = fos_keyword_key(q->ix, fmap, sb);
    free(sa);
    free(sb);
    sa = na;
    sb = nb;
  }
  int eq = ci ? !strcasecmp(sa, sb) : !strcmp(sa, sb);
  free(sa);
  free(sb);
  return eq;
}

static json_t *doc_values(qctx *q, fos_doc *d, const char *type, const char *src) {
  json_t *vals = json_array();
  if (!strcmp(type, "_id"))
    json_array_append_new(vals, json_string(d->id));
  else if (!strcmp(type, "_index"))
    json_array_append_new(vals, json_string(q->ix->name));
  else
    collect(d->visible, src, vals);
  return vals;
}

static int match(qctx *q, json_t *query, fos_doc *d);

static int match_list(qctx *q, json_t *list, fos_doc *d, int want_all, int *count) {
  json_t *arr = json_is_array(list) ? json_incref(list) : json_pack("[O]", list);
  size_t i;
  json_t *x;
  int hits = 0;
  json_array_foreach(arr, i, x) {
    if (match(q, x, d)) hits++;
  }
  int n = (int)json_array_size(arr);
  json_decref(arr);
  *count = hits;
  return want_all ? hits == n : hits > 0;
}

static int match_leaf(qctx *q, const char *name, json_t *body, fos_doc *d) {
  const char *field = NULL;
  json_t *arg = NULL;
  if (!json_is_object(body) || json_object_size(body) < 1) {
    if (!q->cause)
      q->cause = fos_cause("parsing_exception", "[%s] query malformed, no field", name);
    return 0;
  }
  void *it = json_object_iter(body);
  field = json_object_iter_key(it);
  arg = json_object_iter_value(it);
  char src[512];
  json_t *fmap;
  int nested;
  const char *type = leaf_field(q, field, src, sizeof src, &fmap, &nested, name);
  if (q->cause || !type || nested) return 0; /* unmapped or nested: no match */
  json_t *vals = doc_values(q, d, type, src);
  int hit = 0;
  size_t i;
  json_t *v;
  if (!strcmp(name, "term")) {
    json_t *want = json_is_object(arg) ? json_object_get(arg, "value") : arg;
    int ci = json_is_object(arg) && json_is_true(json_object_get(arg, "case_insensitive"));
    json_array_foreach(vals, i, v) {
      hit |= value_eq(q, type, fmap, v, want, ci);
    }
  } else if (!strcmp(name, "terms")) {
    size_t k;
    json_t *w;
    json_array_foreach(vals, i, v) {
      json_array_foreach(arg, k, w) {
        hit |= value_eq(q, type, fmap, v, w, 0);
      }
    }
  } else { /* range */
    static const char *const ops[] = {"gt", "gte", "lt", "lte"};
    json_array_foreach(vals, i, v) {
      int ok = 1;
      for (int k = 0; k < 4; k++) {
        json_t *bound = json_object_get(arg, ops[k]);
        if (!bound || json_is_null(bound)) continue;
        int c;
        double x, y;
        if (is_numeric_type(type)) {
          if (to_double(v, &x) || to_double(bound, &y)) {
            ok = 0;
            break;
          }
          c = x < y ? -1 : x > y;
        } else {
          char *a = to_text(v), *b = to_text(bound);
          c = strcmp(a, b);
          free(a);
          free(b);
        }
        if ((k == 0 && c <= 0) || (k == 1 && c < 0) || (k == 2 && c >= 0) || (k == 3 && c > 0))
          ok = 0;
      }
      hit |= ok;
    }
  }
  json_decref(vals);
  return hit;
}

static int match(qctx *q, json_t *query, fos_doc *d) {
  if (q->cause) return 0;
  if (!json_is_object(query) || json_object_size(query) != 1) {
    q->cause =
        fos_cause("parsing_exception", "[_na] query malformed, must start with start_object");
    return 0;
  }
  void *it = json_object_iter(query);
  const char *name = json_object_iter_key(it);
  json_t *body = json_object_iter_value(it);
  if (!strcmp(name, "match_all")) return 1;
  if (!strcmp(name, "match_none")) return 0;
  if (!strcmp(name, "ids")) {
    json_t *values = json_object_get(body, "values");
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) {
      if (json_is_string(v) && !strcmp(json_string_value(v), d->id)) return 1;
    }
    return 0;
  }
  if (!strcmp(name, "exists")) {
    const char *field = json_string_value(json_object_get(body, "field"));
    if (!field) {
      q->cause = fos_cause("parsing_exception", "[exists] must be provided with a [field]");
      return 0;
    }
    char src[512];
    json_t *fmap;
    int nested;
    const char *type = leaf_field(q, field, src, sizeof src, &fmap, &nested, "exists");
    if (q->cause) q->cause = (json_decref(q->cause), NULL); /* exists works on text fields */
    if (!type || nested) return 0;
    json_t *vals = doc_values(q, d, type, src);
    int hit = json_array_size(vals) > 0;
    json_decref(vals);
    return hit;
  }
  if (!strcmp(name, "term") || !strcmp(name, "terms") || !strcmp(name, "range"))
    return match_leaf(q, name, body, d);
  if (!strcmp(name, "bool")) {
    int cnt, ok = 1;
    json_t *must = json_object_get(body, "must"), *filter = json_object_get(body, "filter");
    json_t *should = json_object_get(body, "should");
    json_t *must_not = json_object_get(body, "must_not");
    if (must) ok &= match_list(q, must, d, 1, &cnt);
    if (filter) ok &= match_list(q, filter, d, 1, &cnt);
    if (must_not && match_list(q, must_not, d, 0, &cnt)) ok = 0;
    if (should) {
      json_t *msm = json_object_get(body, "minimum_should_match");
      int64_t min = (must || filter) ? 0 : 1;
      if (json_is_integer(msm)) min = json_integer_value(msm);
      if (json_is_string(msm)) fos_parse_i64(json_string_value(msm), &min);
      match_list(q, should, d, 0, &cnt);
      if (cnt < min) ok = 0;
    }
    return ok;
  }
  q->cause = unsupported("query", name);
  return 0;
}

/* ---------------------------------------------------------------- sorting */

enum { K_ID, K_DOC, K_SCORE, K_INDEX, K_KEYWORD, K_NUMBER };

typedef struct sort_key {
  char field[256];
  char src[512];
  int desc, kind;
} sort_key;

typedef struct hit {
  fos_index *ix;
  fos_doc *d;
  json_t *sort; /* array of sort values */
} hit;

static int parse_sort_entry(json_t *e, sort_key *k, json_t **cause) {
  memset(k, 0, sizeof *k);
  const char *order = NULL;
  if (json_is_string(e)) {
    snprintf(k->field, sizeof k->field, "%s", json_string_value(e));
    char *colon = strchr(k->field, ':');
    if (colon) {
      *colon = 0;
      order = colon + 1;
    }
  } else if (json_is_object(e) && json_object_size(e) == 1) {
    void *it = json_object_iter(e);
    snprintf(k->field, sizeof k->field, "%s", json_object_iter_key(it));
    json_t *v = json_object_iter_value(it);
    if (json_is_string(v))
      order = json_string_value(v);
    else if (json_is_object(v))
      order = json_string_value(json_object_get(v, "order"));
  } else {
    *cause = fos_cause("parsing_exception", "malformed sort format, within the sort array, an "
                                            "object, or an actual string are allowed");
    return -1;
  }
  k->desc = !strcmp(k->field, "_score");
  if (order && !strcmp(order, "desc")) k->desc = 1;
  if (order && !strcmp(order, "asc")) k->desc = 0;
  if (order && strcmp(order, "asc") && strcmp(order, "desc")) {
    *cause = fos_cause("illegal_argument_exception", "Unknown SortOrder [%s]", order);
    return -1;
  }
  return 0;
}

static json_t *search_failure(fos_index *ix, json_t *cause) {
  json_t *e = fos_cause("search_phase_execution_exception", "all shards failed");
  json_object_set_new(e, "phase", json_string("query"));
  json_object_set_new(e, "grouped", json_true());
  json_object_set_new(e, "failed_shards",
                      json_pack("[{s:i, s:s, s:s, s:O}]", "shard", 0, "index", ix->name, "node",
                                "fake-node", "reason", cause));
  json_t *root = json_deep_copy(cause);
  json_object_set_new(e, "root_cause", json_pack("[o]", root));
  json_object_set_new(e, "caused_by", cause);
  return e;
}

/* Checks the sort keys against an index's mappings. */
static json_t *bind_sort(fos_index *ix, sort_key *k, json_t *unmapped_ok) {
  if (!strcmp(k->field, "_id"))
    k->kind = K_ID;
  else if (!strcmp(k->field, "_doc"))
    k->kind = K_DOC;
  else if (!strcmp(k->field, "_score"))
    k->kind = K_SCORE;
  else if (!strcmp(k->field, "_index"))
    k->kind = K_INDEX;
  else {
    int nested;
    json_t *m = fos_field_mapping(ix, k->field, k->src, sizeof k->src, &nested);
    const char *t = json_string_value(json_object_get(m, "type"));
    if (!m) {
      if (unmapped_ok) {
        k->kind = K_NUMBER;
        return NULL;
      }
      json_t *c = fos_cause("query_shard_exception",
                            "No mapping found for [%s] in order to sort on", k->field);
      return search_failure(ix, fos_cause_index(c, ix->name, ix->uuid, -1));
    }
    if (t && (!strcmp(t, "text") || !strcmp(t, "match_only_text")))
      return search_failure(
          ix, fos_cause("illegal_argument_exception",
                        "Text fields are not optimised for operations that require per-document "
                        "field data like aggregations and sorting, so these operations are "
                        "disabled by default. Please use a keyword field instead. Alternatively, "
                        "set fielddata=true on [%s] in order to load field data by uninverting "
                        "the inverted index. Note that this can use significant memory.",
                        k->field));
    k->kind = t && !strcmp(t, "keyword") ? K_KEYWORD : K_NUMBER;
    if (t && !strcmp(t, "boolean")) k->kind = K_NUMBER;
  }
  return NULL;
}

static json_t *sort_value(hit *h, sort_key *k) {
  switch (k->kind) {
  case K_ID:
    return json_string(h->d->id);
  case K_DOC:
    return json_integer(h->d->visible_seq);
  case K_SCORE:
    return json_real(1.0);
  case K_INDEX:
    return json_string(h->ix->name);
  default:
    break;
  }
  int nested;
  char src[512];
  json_t *m = fos_field_mapping(h->ix, k->field, src, sizeof src, &nested);
  json_t *vals = json_array();
  collect(h->d->visible, src, vals);
  json_t *best = NULL;
  size_t i;
  json_t *v;
  if (k->kind == K_KEYWORD) {
    char *bk = NULL;
    json_array_foreach(vals, i, v) {
      char *t = to_text(v), *key = fos_keyword_key(h->ix, m, t);
      free(t);
      if (!bk || (k->desc ? strcmp(key, bk) > 0 : strcmp(key, bk) < 0)) {
        free(bk);
        bk = key;
      } else {
        free(key);
      }
    }
    best = bk ? json_string(bk) : json_null();
    free(bk);
  } else {
    double bd = 0;
    int have = 0;
    json_array_foreach(vals, i, v) {
      double x;
      if (to_double(v, &x)) continue;
      if (!have || (k->desc ? x > bd : x < bd)) bd = x;
      have = 1;
    }
    if (!have)
      best = json_null();
    else if (bd == floor(bd) && fabs(bd) < 9e15)
      best = json_integer((json_int_t)bd);
    else
      best = json_real(bd);
  }
  json_decref(vals);
  return best;
}

static int cmp_value(json_t *a, json_t *b, int desc) {
  int an = json_is_null(a), bn = json_is_null(b);
  if (an || bn) return an - bn; /* missing last, whatever the order */
  int c;
  if (json_is_string(a) && json_is_string(b)) {
    c = strcmp(json_string_value(a), json_string_value(b));
  } else {
    double x = json_number_value(a), y = json_number_value(b);
    c = x < y ? -1 : x > y;
  }
  return desc ? -c : c;
}

static sort_key *g_keys; /* for qsort: set under the cluster lock */
static size_t g_nkeys;

static int cmp_hits(const void *pa, const void *pb) {
  const hit *a = pa, *b = pb;
  for (size_t i = 0; i < g_nkeys; i++) {
    int c = cmp_value(json_array_get(a->sort, i), json_array_get(b->sort, i), g_keys[i].desc);
    if (c) return c;
  }
  int c = strcmp(a->ix->name, b->ix->name);
  if (c) return c;
  return a->d->visible_seq < b->d->visible_seq ? -1 : a->d->visible_seq > b->d->visible_seq;
}

/* ---------------------------------------------------------------- search */

typedef struct search_req {
  json_t *query;
  sort_key *keys;
  size_t nkeys;
  json_t *after;
  int64_t from, size;
  json_t *unmapped_ok;
} search_req;

static int gather(fos_req *rq, search_req *s, fos_index ***ixs, size_t *nix, hit **hits,
                  size_t *nhits, fos_reply *rp) {
  fos_resolve_opts o = {fos_param_bool(rq, "ignore_unavailable", 0) == 1,
                        fos_param_bool(rq, "allow_no_indices", 1) != 0};
  json_t *cause;
  int st =
      fos_resolve(rq->c, rq->pv_index ? rq->pv_index : fos_param(rq, "index"), o, ixs, nix, &cause);
  if (st) {
    fos_reply_error(rp, st, cause);
    return -1;
  }
  size_t cap = 256;
  *hits = malloc(cap * sizeof **hits);
  *nhits = 0;
  for (size_t i = 0; i < *nix; i++) {
    fos_index *ix = (*ixs)[i];
    fos_index_maybe_refresh(ix);
    for (size_t k = 0; k < s->nkeys; k++) {
      json_t *e = bind_sort(ix, &s->keys[k], s->unmapped_ok);
      if (e) {
        fos_reply_error(rp, 400, e);
        return -1;
      }
    }
    qctx q = {ix, NULL};
    for (size_t j = 0; j < ix->cap; j++) {
      fos_doc *d = ix->slot[j];
      if (!d || !d->visible) continue;
      if (s->query && !match(&q, s->query, d)) {
        if (q.cause) break;
        continue;
      }
      if (*nhits == cap) {
        cap *= 2;
        hit *more = realloc(*hits, cap * sizeof *more);
        if (!more) abort();
        *hits = more;
      }
      (*hits)[(*nhits)++] = (hit){ix, d, NULL};
    }
    if (!q.cause && s->query && ix->cap == 0) { /* validate the query on empty indices too */
      char noid[1] = "";
      json_t *empty = json_object();
      fos_doc probe = {.id = noid, .visible = empty};
      match(&q, s->query, &probe);
      json_decref(empty);
    }
    if (q.cause) {
      fos_reply_error(rp, 400, search_failure(ix, q.cause));
      return -1;
    }
  }
  return 0;
}

static void free_hits(hit *hits, size_t n) {
  for (size_t i = 0; i < n; i++)
    json_decref(hits[i].sort);
  free(hits);
}

static int read_int(json_t *body, const char *key, fos_req *rq, int64_t dflt, int64_t *out,
                    fos_reply *rp) {
  const char *p = fos_param(rq, key);
  json_t *v = json_object_get(body, key);
  *out = dflt;
  if (p) {
    if (fos_parse_i64(p, out)) {
      fos_reply_error(rp, 400,
                      fos_cause("illegal_argument_exception",
                                "Failed to parse int parameter [%s] with value [%s]", key, p));
      return -1;
    }
  } else if (json_is_integer(v)) {
    *out = json_integer_value(v);
  } else if (v) {
    fos_reply_error(rp, 400, fos_cause("parsing_exception", "[%s] must be a number", key));
    return -1;
  }
  return 0;
}

void fos_api_search(fos_req *rq, fos_reply *rp) {
  json_t *body = NULL;
  if (fos_body_object(rq, rp, &body)) return;
  static const char *const known[] = {"query",
                                      "size",
                                      "from",
                                      "sort",
                                      "search_after",
                                      "_source",
                                      "track_total_hits",
                                      "track_scores",
                                      "seq_no_primary_term",
                                      "version",
                                      "timeout",
                                      "terminate_after",
                                      "stored_fields",
                                      "explain",
                                      "min_score",
                                      "post_filter",
                                      "profile",
                                      NULL};
  static const char *const not_done[] = {"aggs",
                                         "aggregations",
                                         "highlight",
                                         "collapse",
                                         "pit",
                                         "fields",
                                         "docvalue_fields",
                                         "suggest",
                                         "rescore",
                                         "script_fields",
                                         "slice",
                                         "indices_boost",
                                         "ext",
                                         "runtime_mappings",
                                         "search_pipeline",
                                         "knn",
                                         "derived",
                                         "verbose_pipeline",
                                         "include_named_queries_score",
                                         "stats",
                                         NULL};
  const char *k;
  json_t *v;
  json_object_foreach(body, k, v) {
    int ok = 0;
    for (int i = 0; known[i]; i++)
      ok |= !strcmp(k, known[i]);
    for (int i = 0; !ok && not_done[i]; i++) {
      if (!strcmp(k, not_done[i])) {
        fos_reply_error(rp, 400, unsupported("search option", k));
        json_decref(body);
        return;
      }
    }
    if (!ok) {
      fos_reply_error(rp, 400,
                      fos_cause("parsing_exception", "Unknown key for a %s in [%s].",
                                json_is_object(v) ? "START_OBJECT" : "VALUE", k));
      json_decref(body);
      return;
    }
  }
  const char *scroll = fos_param(rq, "scroll");
  if (scroll) {
    fos_reply_error(rp, 400, unsupported("search parameter", "scroll"));
    json_decref(body);
    return;
  }
  search_req s;
  memset(&s, 0, sizeof s);
  s.query = json_object_get(body, "query");
  json_t *pf = json_object_get(body, "post_filter");
  json_t *combined = NULL;
  if (pf) {
    json_t *base = s.query ? json_incref(s.query) : json_pack("{s:{}}", "match_all");
    combined = json_pack("{s:{s:[o, O]}}", "bool", "filter", base, pf);
    s.query = combined;
  }
  const char *q = fos_param(rq, "q");
  if (q && strcmp(q, "*") && strcmp(q, "*:*")) {
    fos_reply_error(rp, 400, unsupported("query string", q));
    json_decref(body);
    json_decref(combined);
    return;
  }
  json_t *sortv = json_object_get(body, "sort");
  json_t *sorts = NULL;
  if (fos_param(rq, "sort"))
    sorts = fos_split_commas(fos_param(rq, "sort"));
  else if (sortv)
    sorts = json_is_array(sortv) ? json_incref(sortv) : json_pack("[O]", sortv);
  s.nkeys = json_array_size(sorts);
  s.keys = calloc(s.nkeys + 1, sizeof *s.keys);
  json_t *cause = NULL;
  for (size_t i = 0; i < s.nkeys && !cause; i++) {
    json_t *e = json_array_get(sorts, i);
    parse_sort_entry(e, &s.keys[i], &cause);
    if (json_is_object(e) && json_is_object(json_object_iter_value(json_object_iter(e))) &&
        json_object_get(json_object_iter_value(json_object_iter(e)), "unmapped_type"))
      s.unmapped_ok = json_true();
  }
  json_decref(sorts);
  s.after = json_object_get(body, "search_after");
  int64_t from, size;
  int fail = cause != NULL;
  if (cause) fos_reply_error(rp, 400, cause);
  if (!fail)
    fail = read_int(body, "from", rq, 0, &from, rp) || read_int(body, "size", rq, 10, &size, rp);
  if (!fail && from == -1) from = 0; /* -1 means "the default" */
  if (!fail && from < 0) {
    fos_reply_error(rp, 400,
                    fos_cause("illegal_argument_exception",
                              "[from] parameter cannot be negative, found [%lld]",
                              (long long)from));
    fail = 1;
  }
  if (!fail && size < 0) {
    fos_reply_error(rp, 400,
                    fos_cause("illegal_argument_exception",
                              "[size] parameter cannot be negative, found [%lld]",
                              (long long)size));
    fail = 1;
  }
  if (!fail && s.after) {
    if (s.nkeys == 0) {
      fos_reply_error(
          rp, 400,
          fos_cause("illegal_argument_exception", "Sort must contain at least one field."));
      fail = 1;
    } else if (!json_is_array(s.after) || json_array_size(s.after) != s.nkeys) {
      fos_reply_error(rp, 400,
                      fos_cause("illegal_argument_exception",
                                "search_after has %zu value(s) but sort has %zu.",
                                json_array_size(s.after), s.nkeys));
      fail = 1;
    } else if (from > 0) {
      fos_reply_error(rp, 400,
                      fos_cause("illegal_argument_exception",
                                "`from` parameter must be set to 0 when `search_after` "
                                "is used."));
      fail = 1;
    }
  }
  fos_index **ixs = NULL;
  size_t nix = 0, nhits = 0;
  hit *hits = NULL;
  if (!fail && gather(rq, &s, &ixs, &nix, &hits, &nhits, rp)) fail = 1;
  int64_t window = 10000;
  for (size_t i = 0; i < nix; i++)
    if (ixs[i]->max_window < window) window = ixs[i]->max_window;
  if (!fail && from + size > window) {
    json_t *c = fos_cause("illegal_argument_exception",
                          "Result window is too large, from + size must be less than or equal "
                          "to: [%lld] but was [%lld]. See the scroll api for a more efficient "
                          "way to request large data sets. This limit can be set by changing "
                          "the [index.max_result_window] index level setting.",
                          (long long)window, (long long)(from + size));
    fos_reply_error(rp, 400, nix ? search_failure(ixs[0], c) : c);
    fail = 1;
  }
  if (fail) {
    free(ixs);
    free_hits(hits, nhits);
    free(s.keys);
    json_decref(body);
    json_decref(combined);
    return;
  }
  for (size_t i = 0; i < nhits; i++) {
    hits[i].sort = json_array();
    for (size_t k2 = 0; k2 < s.nkeys; k2++)
      json_array_append_new(hits[i].sort, sort_value(&hits[i], &s.keys[k2]));
  }
  g_keys = s.keys;
  g_nkeys = s.nkeys;
  qsort(hits, nhits, sizeof *hits, cmp_hits);
  size_t start = 0;
  if (s.after) {
    while (start < nhits) {
      int c = 0;
      for (size_t k2 = 0; k2 < s.nkeys && !c; k2++)
        c = cmp_value(json_array_get(hits[start].sort, k2), json_array_get(s.after, k2),
                      s.keys[k2].desc);
      if (c > 0) break;
      start++;
    }
  }
  size_t total = nhits; /* all matches, wherever the page starts */
  fos_source_filter f;
  if (fos_source_filter_parse(json_object_get(body, "_source"), rq, &f, &cause)) {
    fos_reply_error(rp, 400, cause);
    free(ixs);
    free_hits(hits, nhits);
    free(s.keys);
    json_decref(body);
    json_decref(combined);
    return;
  }
  int with_version =
      json_is_true(json_object_get(body, "version")) || fos_param_bool(rq, "version", 0) == 1;
  int with_seq = json_is_true(json_object_get(body, "seq_no_primary_term")) ||
                 fos_param_bool(rq, "seq_no_primary_term", 0) == 1;
  int scored = s.nkeys == 0 || json_is_true(json_object_get(body, "track_scores"));
  json_t *out = json_array();
  size_t first = start + (size_t)from;
  for (size_t i = first; i < nhits && (int64_t)(i - first) < size; i++) {
    hit *h = &hits[i];
    json_t *o = json_pack("{s:s, s:s}", "_index", h->ix->name, "_id", h->d->id);
    json_object_set_new(o, "_score", scored ? json_real(1.0) : json_null());
    if (with_version) json_object_set_new(o, "_version", json_integer(h->d->version));
    if (with_seq) {
      json_object_set_new(o, "_seq_no", json_integer(h->d->seq_no));
      json_object_set_new(o, "_primary_term", json_integer(1));
    }
    json_t *src = fos_source_filter_apply(&f, h->d->visible);
    if (src) json_object_set_new(o, "_source", src);
    if (s.nkeys) json_object_set(o, "sort", h->sort);
    json_array_append_new(out, o);
  }
  fos_source_filter_free(&f);
  int shards = 0;
  for (size_t i = 0; i < nix; i++)
    shards += ixs[i]->shards;
  json_t *hitsobj = json_object();
  json_t *tth = json_object_get(body, "track_total_hits");
  const char *tthp = fos_param(rq, "track_total_hits");
  int64_t track = 10000;
  if (json_is_true(tth) || (tthp && !strcmp(tthp, "true"))) track = INT64_MAX;
  if (json_is_integer(tth)) track = json_integer_value(tth);
  if (tthp) fos_parse_i64(tthp, &track);
  if (!json_is_false(tth) && !(tthp && !strcmp(tthp, "false"))) {
    int64_t value = (int64_t)total > track ? track : (int64_t)total;
    if (fos_param_bool(rq, "rest_total_hits_as_int", 0) == 1)
      json_object_set_new(hitsobj, "total", json_integer(value));
    else
      json_object_set_new(hitsobj, "total",
                          json_pack("{s:I, s:s}", "value", (json_int_t)value, "relation",
                                    (int64_t)total > track ? "gte" : "eq"));
  }
  json_object_set_new(hitsobj, "max_score", scored && total ? json_real(1.0) : json_null());
  json_object_set_new(hitsobj, "hits", out);
  fos_reply_json(rp, 200,
                 json_pack("{s:I, s:b, s:{s:i, s:i, s:i, s:i}, s:o}", "took",
                           (json_int_t)(fos_now_ms() - rq->start_ms), "timed_out", 0, "_shards",
                           "total", shards, "successful", shards, "skipped", 0, "failed", 0, "hits",
                           hitsobj));
  free(ixs);
  free_hits(hits, nhits);
  free(s.keys);
  json_decref(body);
  json_decref(combined);
}

void fos_api_count(fos_req *rq, fos_reply *rp) {
  json_t *body = NULL;
  if (fos_body_object(rq, rp, &body)) return;
  const char *k;
  json_t *v;
  json_object_foreach(body, k, v) {
    if (strcmp(k, "query")) {
      fos_reply_error(rp, 400, fos_cause("parsing_exception", "request does not support [%s]", k));
      json_decref(body);
      return;
    }
  }
  const char *q = fos_param(rq, "q");
  if (q && strcmp(q, "*") && strcmp(q, "*:*")) {
    fos_reply_error(rp, 400, unsupported("query string", q));
    json_decref(body);
    return;
  }
  search_req s;
  memset(&s, 0, sizeof s);
  s.query = json_object_get(body, "query");
  fos_index **ixs = NULL;
  size_t nix = 0, nhits = 0;
  hit *hits = NULL;
  if (!gather(rq, &s, &ixs, &nix, &hits, &nhits, rp)) {
    int shards = 0;
    for (size_t i = 0; i < nix; i++)
      shards += ixs[i]->shards;
    fos_reply_json(rp, 200,
                   json_pack("{s:I, s:{s:i, s:i, s:i, s:i}}", "count", (json_int_t)nhits, "_shards",
                             "total", shards, "successful", shards, "skipped", 0, "failed", 0));
  }
  free(ixs);
  free_hits(hits, nhits);
  json_decref(body);
}
