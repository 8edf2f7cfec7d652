/*
 * fake-opensearch cluster state: indices and their documents, versions and
 * tombstones, near-real-time visibility, index expressions, aliases and the
 * composable index templates applied when an index is created.
 *
 * Visibility. As in OpenSearch, a write is seen at once by GET (realtime)
 * and by version checks, but by search and count only after a refresh: an
 * explicit one (_refresh, ?refresh) or the periodic one, which we run lazily
 * when a search finds that index.refresh_interval (1s by default) has passed
 * since the last. Each document keeps its live source and the source as of
 * the last refresh; the writes since then are on a dirty list.
 *
 * Tombstones. A delete keeps the document's entry with its version, so that
 * an older write replayed later (external versioning) still conflicts.
 * OpenSearch forgets tombstones after index.gc_deletes (60s by default); the
 * fake keeps them forever unless the index sets index.gc_deletes or the
 * server runs with --gc-deletes.
 */
#include "fos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fos_cluster_init(fos_cluster *c) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->lock, NULL);
  c->templates = json_object();
  fos_random_id(c->uuid, 22);
  c->gc_deletes_default = -1;
}

static void index_free(fos_index *ix) {
  for (size_t i = 0; i < ix->cap; i++) {
    fos_doc *d = ix->slot[i];
    if (!d) continue;
    json_decref(d->source);
    json_decref(d->visible);
    free(d->id);
    free(d);
  }
  free(ix->slot);
  free(ix->dirty);
  json_decref(ix->settings);
  json_decref(ix->mappings);
  json_decref(ix->aliases);
  free(ix->name);
  free(ix);
}

void fos_cluster_reset(fos_cluster *c) {
  for (size_t i = 0; i < c->n; i++)
    index_free(c->ix[i]);
  c->n = 0;
  json_object_clear(c->templates);
}

void fos_cluster_free(fos_cluster *c) {
  fos_cluster_reset(c);
  free(c->ix);
  json_decref(c->templates);
  pthread_mutex_destroy(&c->lock);
}

fos_index *fos_index_get(fos_cluster *c, const char *name) {
  for (size_t i = 0; i < c->n; i++) {
    if (!strcmp(c->ix[i]->name, name)) return c->ix[i];
  }
  return NULL;
}

int fos_is_alias(fos_cluster *c, const char *name) {
  for (size_t i = 0; i < c->n; i++) {
    if (json_object_get(c->ix[i]->aliases, name)) return 1;
  }
  return 0;
}

json_t *fos_check_index_name(const char *name, const char *what) {
  const char *problem = NULL;
  char buf[64];
  if (!*name) {
    problem = "must not be empty";
  } else if (strpbrk(name, "\\/*?\"<>| ,#")) {
    problem = "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]";
  } else if (strchr(name, ':')) {
    problem = "must not contain ':'";
  } else if (name[0] == '_' || name[0] == '-' || name[0] == '+') {
    problem = "must not start with '_', '-', or '+'";
  } else if (!strcmp(name, ".") || !strcmp(name, "..")) {
    problem = "must not be '.' or '..'";
  } else if (strlen(name) > 255) {
    snprintf(buf, sizeof buf, "%s name is too long, (%zu > 255)", what, strlen(name));
    problem = buf;
  } else {
    for (const char *p = name; *p; p++) {
      if (*p >= 'A' && *p <= 'Z') problem = "must be lowercase";
    }
  }
  if (!problem) return NULL;
  if (!strcmp(what, "alias"))
    return fos_cause("invalid_alias_name_exception", "Invalid alias name [%s]: %s", name, problem);
  return fos_cause_index(
      fos_cause("invalid_index_name_exception", "Invalid index name [%s], %s", name, problem), name,
      "_na_", -1);
}

static json_t *index_not_found(const char *name, const char *extra) {
  json_t *e = fos_cause("index_not_found_exception", "no such index [%s]%s", name, extra);
  json_object_set_new(e, "resource.type", json_string("index_or_alias"));
  json_object_set_new(e, "resource.id", json_string(name));
  return fos_cause_index(e, name, "_na_", -1);
}

/* ---------------------------------------------------------------- documents */

static uint64_t hash_id(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

fos_doc *fos_doc_get(fos_index *ix, const char *id) {
  if (!ix->cap) return NULL;
  size_t mask = ix->cap - 1;
  for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
    fos_doc *d = ix->slot[i];
    if (!d) return NULL;
    if (!strcmp(d->id, id)) return d;
  }
}

static int grow(fos_index *ix) {
  size_t cap = ix->cap ? ix->cap * 2 : 64;
  fos_doc **slot = calloc(cap, sizeof *slot);
  if (!slot) return -1;
  for (size_t i = 0; i < ix->cap; i++) {
    fos_doc *d = ix->slot[i];
    if (!d) continue;
    size_t j = hash_id(d->id) & (cap - 1);
    while (slot[j])
      j = (j + 1) & (cap - 1);
    slot[j] = d;
  }
  free(ix->slot);
  ix->slot = slot;
  ix->cap = cap;
  return 0;
}

fos_doc *fos_doc_slot(fos_index *ix, const char *id) {
  fos_doc *d = fos_doc_get(ix, id);
  if (d) return d;
  if ((ix->used + 1) * 10 > ix->cap * 7 && grow(ix)) return NULL;
  d = calloc(1, sizeof *d);
  if (!d || !(d->id = strdup(id))) {
    free(d);
    return NULL;
  }
  d->version = -1;
  size_t mask = ix->cap - 1, i = hash_id(id) & mask;
  while (ix->slot[i])
    i = (i + 1) & mask;
  ix->slot[i] = d;
  ix->used++;
  return d;
}

void fos_doc_set(fos_index *ix, fos_doc *d, json_t *source, int64_t version) {
  if (d->source && !source) ix->live--;
  if (!d->source && source) ix->live++;
  json_decref(d->source);
  d->source = source;
  d->version = version;
  d->seq_no = ix->next_seq++;
  if (!source) d->deleted_ms = fos_mono_ms();
  if (!d->dirty) {
    if (ix->ndirty == ix->capdirty) {
      size_t cap = ix->capdirty ? ix->capdirty * 2 : 64;
      fos_doc **p = realloc(ix->dirty, cap * sizeof *p);
      if (!p) abort(); /* a test server: running out of memory ends the run */
      ix->dirty = p;
      ix->capdirty = cap;
    }
    ix->dirty[ix->ndirty++] = d;
    d->dirty = 1;
  }
}

int64_t fos_doc_version(const fos_index *ix, const fos_doc *d) {
  if (!d || d->version < 0) return -1;
  if (d->source) return d->version;
  if (ix->gc_deletes >= 0 && fos_mono_ms() - d->deleted_ms > ix->gc_deletes) return -1;
  return d->version;
}

void fos_index_refresh(fos_index *ix) {
  for (size_t i = 0; i < ix->ndirty; i++) {
    fos_doc *d = ix->dirty[i];
    json_decref(d->visible);
    d->visible = d->source ? json_incref(d->source) : NULL;
    d->visible_seq = d->seq_no;
    d->dirty = 0;
  }
  ix->ndirty = 0;
  ix->last_refresh = fos_mono_ms();
}

void fos_index_maybe_refresh(fos_index *ix) {
  if (ix->refresh_ms >= 0 && fos_mono_ms() - ix->last_refresh >= ix->refresh_ms)
    fos_index_refresh(ix);
}

/* ---------------------------------------------------------------- indices */

/* The template whose patterns match name with the highest priority. */
static json_t *matching_template(fos_cluster *c, const char *name) {
  json_t *best = NULL;
  json_int_t best_pri = -1;
  const char *k;
  json_t *t;
  json_object_foreach(c->templates, k, t) {
    json_t *pats = json_object_get(t, "index_patterns");
    json_t *list =
        json_is_string(pats) ? fos_split_commas(json_string_value(pats)) : json_incref(pats);
    size_t i;
    json_t *p;
    int hit = 0;
    json_array_foreach(list, i, p) {
      if (json_is_string(p) && fos_glob(json_string_value(p), name)) hit = 1;
    }
    json_decref(list);
    json_int_t pri = json_integer_value(json_object_get(t, "priority"));
    if (hit && pri > best_pri) {
      best = t;
      best_pri = pri;
    }
  }
  return best;
}

static int setting_int(json_t *flat, const char *key, int64_t dflt, int64_t *out) {
  const char *v = json_string_value(json_object_get(flat, key));
  if (!v) {
    *out = dflt;
    return 0;
  }
  return fos_parse_i64(v, out);
}

/* Checks alias definitions of a create-index body. */
static json_t *check_alias_defs(fos_cluster *c, const char *index, json_t *aliases) {
  if (!aliases) return NULL;
  if (!json_is_object(aliases)) return fos_cause("parse_exception", "aliases must be an object");
  static const char *const keys[] = {
      "filter", "routing", "index_routing", "search_routing", "is_write_index", "is_hidden", NULL};
  const char *name;
  json_t *def;
  json_object_foreach(aliases, name, def) {
    json_t *e = fos_check_index_name(name, "alias");
    if (e) return e;
    if (!strcmp(name, index) || fos_index_get(c, name))
      return fos_cause("invalid_alias_name_exception",
                       "Invalid alias name [%s], an index or data stream exists with the same "
                       "name as the alias",
                       name);
    if (!json_is_object(def))
      return fos_cause("parse_exception", "alias [%s] must be an object", name);
    const char *k;
    json_t *v;
    json_object_foreach(def, k, v) {
      int ok = 0;
      for (int i = 0; keys[i]; i++)
        ok |= !strcmp(k, keys[i]);
      if (!ok) return fos_cause("illegal_argument_exception", "Unsupported field [%s]", k);
    }
  }
  return NULL;
}

/* Normalizes one alias definition: "routing" sets both routings. */
static json_t *alias_props(json_t *def) {
  json_t *p = json_object();
  json_t *routing = json_object_get(def, "routing");
  const char *k;
  json_t *v;
  json_object_foreach(def, k, v) {
    if (!strcmp(k, "routing")) continue;
    if (!strcmp(k, "index") || !strcmp(k, "indices") || !strcmp(k, "alias") ||
        !strcmp(k, "aliases") || !strcmp(k, "must_exist"))
      continue;
    json_object_set(p, k, v);
  }
  if (routing) {
    if (!json_object_get(p, "index_routing")) json_object_set(p, "index_routing", routing);
    if (!json_object_get(p, "search_routing")) json_object_set(p, "search_routing", routing);
  }
  return p;
}

int fos_index_create(fos_cluster *c, const char *name, json_t *body, fos_index **out,
                     json_t **cause) {
  *out = NULL;
  *cause = fos_check_index_name(name, "index");
  if (*cause) return 400;
  fos_index *old = fos_index_get(c, name);
  if (old) {
    *cause = fos_cause_index(fos_cause("resource_already_exists_exception",
                                       "index [%s/%s] already exists", name, old->uuid),
                             name, old->uuid, -1);
    return 400;
  }
  if (fos_is_alias(c, name)) {
    *cause = fos_cause_index(fos_cause("invalid_index_name_exception",
                                       "Invalid index name [%s], already exists as alias", name),
                             name, "_na_", -1);
    return 400;
  }
  if (body && !json_is_object(body)) {
    *cause = fos_cause("parse_exception", "request body must be an object");
    return 400;
  }
  const char *k;
  json_t *v;
  json_object_foreach(body, k, v) {
    if (strcmp(k, "settings") && strcmp(k, "mappings") && strcmp(k, "aliases")) {
      *cause = fos_cause("parse_exception", "unknown key [%s] for create index", k);
      return 400;
    }
  }
  json_t *tpl = json_object_get(matching_template(c, name), "template");
  json_t *flat = json_object();
  json_t *parts[2] = {json_object_get(tpl, "settings"), json_object_get(body, "settings")};
  for (int i = 0; i < 2; i++) {
    if (!parts[i]) continue;
    json_t *f = fos_settings_normalize(parts[i], cause);
    if (!f) {
      json_decref(flat);
      return 400;
    }
    json_object_update(flat, f);
    json_decref(f);
  }
  json_t *tm = json_object_get(tpl, "mappings"), *bm = json_object_get(body, "mappings");
  json_t *mappings = tm && bm ? fos_merge(tm, bm) : json_deep_copy(bm ? bm : tm);
  if (!mappings) mappings = json_object();
  json_t *aliases = json_object();
  json_object_update(aliases, json_object_get(tpl, "aliases"));
  json_object_update(aliases, json_object_get(body, "aliases"));
  int64_t shards, replicas, window, nested;
  *cause = fos_mappings_check(c, flat, mappings);
  if (!*cause) *cause = check_alias_defs(c, name, aliases);
  if (!*cause &&
      (setting_int(flat, "index.number_of_shards", 1, &shards) || shards < 1 || shards > 1024))
    *cause = fos_cause("illegal_argument_exception",
                       "Failed to parse value [%s] for setting [index.number_of_shards] must be "
                       ">= 1",
                       json_string_value(json_object_get(flat, "index.number_of_shards")));
  if (!*cause && (setting_int(flat, "index.number_of_replicas", 1, &replicas) || replicas < 0))
    *cause = fos_cause("illegal_argument_exception",
                       "Failed to parse value [%s] for setting [index.number_of_replicas] must "
                       "be >= 0",
                       json_string_value(json_object_get(flat, "index.number_of_replicas")));
  if (!*cause && (setting_int(flat, "index.max_result_window", 10000, &window) || window < 1))
    *cause = fos_cause("illegal_argument_exception", "bad index.max_result_window");
  if (!*cause &&
      (setting_int(flat, "index.mapping.nested_objects.limit", 10000, &nested) || nested < 0))
    *cause = fos_cause("illegal_argument_exception", "bad index.mapping.nested_objects.limit");
  int64_t refresh = 1000, gc = c->gc_deletes_default;
  const char *rs = json_string_value(json_object_get(flat, "index.refresh_interval"));
  const char *gs = json_string_value(json_object_get(flat, "index.gc_deletes"));
  if (!*cause && rs && fos_parse_time(rs, &refresh))
    *cause = fos_cause("illegal_argument_exception",
                       "failed to parse setting [index.refresh_interval] with value [%s] as a "
                       "time value: unit is missing or unrecognized",
                       rs);
  if (!*cause && gs && fos_parse_time(gs, &gc))
    *cause = fos_cause("illegal_argument_exception",
                       "failed to parse setting [index.gc_deletes] with value [%s] as a time "
                       "value: unit is missing or unrecognized",
                       gs);
  /* A write index flag already held by another index for the same alias. */
  const char *an;
  json_t *ad;
  json_object_foreach(aliases, an, ad) {
    if (*cause || !json_is_true(json_object_get(ad, "is_write_index"))) continue;
    for (size_t i = 0; i < c->n; i++) {
      json_t *o = json_object_get(c->ix[i]->aliases, an);
      if (json_is_true(json_object_get(o, "is_write_index")))
        *cause =
            fos_cause("illegal_state_exception", "alias [%s] has more than one write index [%s,%s]",
                      an, c->ix[i]->name, name);
    }
  }
  if (*cause) {
    json_decref(flat);
    json_decref(mappings);
    json_decref(aliases);
    return 400;
  }
  fos_index *ix = calloc(1, sizeof *ix);
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    fos_index **p = realloc(c->ix, cap * sizeof *p);
    if (!p) abort();
    c->ix = p;
    c->cap = cap;
  }
  if (!ix || !(ix->name = strdup(name))) abort();
  fos_random_id(ix->uuid, 22);
  ix->created_ms = fos_now_ms();
  ix->shards = (int)shards;
  ix->replicas = (int)replicas;
  ix->max_window = window;
  ix->nested_max = nested;
  ix->refresh_ms = refresh;
  ix->gc_deletes = gc;
  ix->last_refresh = fos_mono_ms();
  char num[32];
  snprintf(num, sizeof num, "%d", ix->shards);
  json_object_set_new(flat, "index.number_of_shards", json_string(num));
  snprintf(num, sizeof num, "%d", ix->replicas);
  json_object_set_new(flat, "index.number_of_replicas", json_string(num));
  snprintf(num, sizeof num, "%lld", (long long)ix->created_ms);
  json_object_set_new(flat, "index.creation_date", json_string(num));
  json_object_set_new(flat, "index.uuid", json_string(ix->uuid));
  json_object_set_new(flat, "index.provided_name", json_string(name));
  json_object_set_new(flat, "index.version.created", json_string("136407927"));
  ix->settings = flat;
  ix->mappings = mappings;
  ix->aliases = json_object();
  json_object_foreach(aliases, an, ad) {
    json_object_set_new(ix->aliases, an, alias_props(ad));
  }
  json_decref(aliases);
  c->ix[c->n++] = ix;
  *out = ix;
  return 0;
}

void fos_index_delete(fos_cluster *c, fos_index *ix) {
  for (size_t i = 0; i < c->n; i++) {
    if (c->ix[i] != ix) continue;
    memmove(c->ix + i, c->ix + i + 1, (c->n - i - 1) * sizeof *c->ix);
    c->n--;
    index_free(ix);
    return;
  }
}

/* ---------------------------------------------------------------- expressions */

static void add_unique(fos_index ***out, size_t *n, size_t *cap, fos_index *ix) {
  for (size_t i = 0; i < *n; i++) {
    if ((*out)[i] == ix) return;
  }
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 8;
    fos_index **p = realloc(*out, *cap * sizeof *p);
    if (!p) abort();
    *out = p;
  }
  (*out)[(*n)++] = ix;
}

int fos_resolve(fos_cluster *c, const char *expr, fos_resolve_opts o, fos_index ***out, size_t *n,
                json_t **cause) {
  *out = NULL;
  *n = 0;
  *cause = NULL;
  size_t cap = 0;
  json_t *parts = fos_split_commas(expr ? expr : "");
  size_t np = json_array_size(parts);
  int wildcard = 0;
  if (np == 0 || (np == 1 && !strcmp(json_string_value(json_array_get(parts, 0)), "_all"))) {
    for (size_t i = 0; i < c->n; i++)
      add_unique(out, n, &cap, c->ix[i]);
    wildcard = 1;
  }
  for (size_t k = 0; k < np && !wildcard; k++) {
    const char *p = json_string_value(json_array_get(parts, k));
    if (p[0] == '-' && *n > 0) { /* exclusion, after something to exclude from */
      for (size_t i = 0; i < *n;) {
        if (fos_glob(p + 1, (*out)[i]->name)) {
          memmove(*out + i, *out + i + 1, (*n - i - 1) * sizeof **out);
          (*n)--;
        } else {
          i++;
        }
      }
      continue;
    }
    if (strchr(p, '*')) {
      wildcard = 1;
      for (size_t i = 0; i < c->n; i++) {
        if (fos_glob(p, c->ix[i]->name)) add_unique(out, n, &cap, c->ix[i]);
        const char *an;
        json_t *ad;
        json_object_foreach(c->ix[i]->aliases, an, ad) {
          if (fos_glob(p, an)) add_unique(out, n, &cap, c->ix[i]);
        }
      }
      continue;
    }
    fos_index *ix = fos_index_get(c, p);
    int found = ix != NULL;
    if (ix) add_unique(out, n, &cap, ix);
    for (size_t i = 0; i < c->n && !ix; i++) {
      if (json_object_get(c->ix[i]->aliases, p)) {
        add_unique(out, n, &cap, c->ix[i]);
        found = 1;
      }
    }
    if (!found && !o.ignore_unavailable) {
      *cause = index_not_found(p, "");
      break;
    }
  }
  if (!*cause && *n == 0 && !o.allow_no_indices) {
    *cause = index_not_found(expr && *expr ? expr : "_all", "");
  }
  json_decref(parts);
  if (*cause) {
    free(*out);
    *out = NULL;
    *n = 0;
    return 404;
  }
  return 0;
}

int fos_resolve_write(fos_cluster *c, const char *name, int create, int require_alias,
                      fos_index **out, json_t **cause) {
  *out = NULL;
  *cause = NULL;
  fos_index *with[64];
  size_t nwith = 0;
  fos_index *write = NULL;
  int disabled = 0;
  for (size_t i = 0; i < c->n; i++) {
    json_t *a = json_object_get(c->ix[i]->aliases, name);
    if (!a) continue;
    if (nwith < 64) with[nwith] = c->ix[i];
    nwith++;
    json_t *w = json_object_get(a, "is_write_index");
    if (json_is_true(w)) write = c->ix[i];
    if (json_is_false(w)) disabled = 1;
  }
  if (nwith) {
    if (!write && nwith == 1 && !disabled) write = with[0];
    if (!write) {
      *cause = fos_cause("illegal_argument_exception",
                         "no write index is defined for alias [%s]. The write index may be "
                         "explicitly disabled using is_write_index=false or the alias points to "
                         "multiple indices without one being designated as a write index",
                         name);
      return 400;
    }
    *out = write;
    return 0;
  }
  if (require_alias) {
    *cause = index_not_found(name, "");
    char reason[600];
    snprintf(reason, sizeof reason,
             "no such index [%s] and [require_alias] request flag is [true] and [%s] is not an "
             "alias",
             name, name);
    json_object_set_new(*cause, "reason", json_string(reason));
    return 404;
  }
  fos_index *ix = fos_index_get(c, name);
  if (ix) {
    *out = ix;
    return 0;
  }
  *cause = fos_check_index_name(name, "index");
  if (*cause) return 400;
  if (!create) {
    *cause = index_not_found(name, "");
    return 404;
  }
  int st = fos_index_create(c, name, NULL, out, cause);
  if (!st) fos_log("auto-created index [%s]", name);
  return st;
}

/* ---------------------------------------------------------------- _aliases */

static json_t *names_of(json_t *action, const char *one, const char *many) {
  json_t *list = json_array();
  const char *keys[2] = {one, many};
  json_t *v = NULL;
  for (int k = 0; k < 2; k++) {
    v = json_object_get(action, keys[k]);
    if (!json_is_string(v)) continue;
    json_t *parts = fos_split_commas(json_string_value(v));
    json_array_extend(list, parts);
    json_decref(parts);
  }
  size_t i;
  json_t *x;
  json_array_foreach(v, i, x) {
    if (json_is_string(x)) json_array_append(list, x);
  }
  return list;
}

/* Expands the index names of an action to positions in c->ix. */
static int action_indices(fos_cluster *c, json_t *names, const char *kind, int *sel,
                          json_t **cause) {
  size_t i;
  json_t *x;
  json_array_foreach(names, i, x) {
    const char *p = json_string_value(x);
    int hit = 0;
    for (size_t k = 0; k < c->n; k++) {
      if (strchr(p, '*') ? fos_glob(p, c->ix[k]->name) : !strcmp(p, c->ix[k]->name)) {
        sel[k] = 1;
        hit = 1;
      }
    }
    if (!hit && !strchr(p, '*')) {
      if (fos_is_alias(c, p)) {
        *cause = fos_cause("illegal_argument_exception",
                           "The provided expression [%s] matches an alias, specify the "
                           "corresponding concrete indices instead.",
                           p);
        return 400;
      }
      *cause = index_not_found(p, "");
      return 404;
    }
    if (!hit) {
      *cause = index_not_found(p, "");
      return 404;
    }
  }
  (void)kind;
  return 0;
}

int fos_aliases_apply(fos_cluster *c, json_t *actions, json_t **cause) {
  *cause = NULL;
  if (!json_is_array(actions) || json_array_size(actions) == 0) {
    *cause = fos_cause("action_request_validation_exception",
                       "Validation Failed: 1: Must specify at least one alias action;");
    return 400;
  }
  /* Work on copies; commit only when every action went through. */
  json_t **al = calloc(c->n + 1, sizeof *al);
  int *removed = calloc(c->n + 1, sizeof *removed), *sel = calloc(c->n + 1, sizeof *sel);
  if (!al || !removed || !sel) abort();
  for (size_t k = 0; k < c->n; k++)
    al[k] = json_deep_copy(c->ix[k]->aliases);
  int st = 0;
  static const char *const keys[] = {
      "index",         "indices",        "alias",          "aliases",   "filter",     "routing",
      "index_routing", "search_routing", "is_write_index", "is_hidden", "must_exist", NULL};
  size_t ai;
  json_t *a;
  json_array_foreach(actions, ai, a) {
    const char *type = NULL;
    json_t *body = NULL;
    if (json_is_object(a) && json_object_size(a) == 1) {
      type = json_object_iter_key(json_object_iter(a));
      body = json_object_iter_value(json_object_iter(a));
    }
    if (!type || (strcmp(type, "add") && strcmp(type, "remove") && strcmp(type, "remove_index"))) {
      *cause = fos_cause("illegal_argument_exception", "Unsupported action [%s]",
                         type ? type : "(not an object with one key)");
      st = 400;
      break;
    }
    if (!json_is_object(body)) {
      *cause = fos_cause("parse_exception", "[%s] must be an object", type);
      st = 400;
      break;
    }
    const char *field;
    json_t *fv;
    json_object_foreach(body, field, fv) {
      int ok = 0;
      for (int i = 0; keys[i]; i++)
        ok |= !strcmp(field, keys[i]);
      if (!ok && !st) {
        *cause = fos_cause("x_content_parse_exception", "[%s] unknown field [%s]", type, field);
        st = 400;
      }
    }
    if (st) break;
    json_t *inames = names_of(body, "index", "indices");
    json_t *anames = names_of(body, "alias", "aliases");
    if (json_array_size(inames) == 0) {
      *cause = fos_cause("action_request_validation_exception",
                         "Validation Failed: 1: One of [index] or [indices] is required;");
      st = 400;
    } else if (strcmp(type, "remove_index") && json_array_size(anames) == 0) {
      *cause = fos_cause("action_request_validation_exception",
                         "Validation Failed: 1: One of [alias] or [aliases] is required;");
      st = 400;
    }
    memset(sel, 0, (c->n + 1) * sizeof *sel);
    if (!st) st = action_indices(c, inames, type, sel, cause);
    for (size_t k = 0; !st && k < c->n; k++) {
      if (sel[k] && removed[k]) {
        *cause = index_not_found(c->ix[k]->name, "");
        st = 404;
      }
    }
    size_t i;
    json_t *x;
    if (!st && !strcmp(type, "add")) {
      json_array_foreach(anames, i, x) {
        const char *an = json_string_value(x);
        *cause = fos_check_index_name(an, "alias");
        if (!*cause && fos_index_get(c, an))
          *cause = fos_cause("invalid_alias_name_exception",
                             "Invalid alias name [%s], an index or data stream exists with the "
                             "same name as the alias",
                             an);
        if (*cause) {
          st = 400;
          break;
        }
        for (size_t k = 0; k < c->n; k++) {
          if (sel[k]) json_object_set_new(al[k], an, alias_props(body));
        }
      }
    } else if (!st && !strcmp(type, "remove")) {
      json_array_foreach(anames, i, x) {
        const char *an = json_string_value(x);
        int hit = 0;
        for (size_t k = 0; k < c->n; k++) {
          if (!sel[k]) continue;
          void *it = json_object_iter(al[k]);
          while (it) {
            const char *key = json_object_iter_key(it);
            void *next = json_object_iter_next(al[k], it);
            if (fos_glob(an, key)) {
              json_object_del(al[k], key);
              hit = 1;
            }
            it = next;
          }
        }
        if (!hit && !json_is_false(json_object_get(body, "must_exist"))) {
          *cause = fos_cause("aliases_not_found_exception", "aliases [%s] missing", an);
          json_object_set_new(*cause, "resource.type", json_string("aliases"));
          json_object_set_new(*cause, "resource.id", json_string(an));
          st = 404;
          break;
        }
      }
    } else if (!st) {
      for (size_t k = 0; k < c->n; k++) {
        if (sel[k]) removed[k] = 1;
      }
    }
    json_decref(inames);
    json_decref(anames);
    if (st) break;
  }
  /* At most one write index per alias among the indices that stay. */
  for (size_t k = 0; !st && k < c->n; k++) {
    if (removed[k]) continue;
    const char *an;
    json_t *ad;
    json_object_foreach(al[k], an, ad) {
      if (st || !json_is_true(json_object_get(ad, "is_write_index"))) continue;
      for (size_t j = k + 1; j < c->n; j++) {
        if (!removed[j] &&
            json_is_true(json_object_get(json_object_get(al[j], an), "is_write_index"))) {
          *cause = fos_cause("illegal_state_exception",
                             "alias [%s] has more than one write index [%s,%s]", an, c->ix[k]->name,
                             c->ix[j]->name);
          st = 400;
          break;
        }
      }
    }
  }
  if (!st) {
    for (size_t k = 0; k < c->n; k++) {
      json_decref(c->ix[k]->aliases);
      c->ix[k]->aliases = al[k];
      al[k] = NULL;
    }
    for (size_t k = c->n; k-- > 0;) {
      if (removed[k]) fos_index_delete(c, c->ix[k]);
    }
  }
  for (size_t k = 0; k <= c->n; k++)
    json_decref(al[k]);
  free(al);
  free(removed);
  free(sel);
  return st;
}
