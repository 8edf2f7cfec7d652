/*
 * fake-opensearch routes: the table of method + path pattern + query
 * parameters (taken from the OpenSearch API specification, so that an
 * unknown parameter is refused as OpenSearch refuses it), the dispatcher,
 * and the handlers for the cluster, index, alias and template APIs (writes,
 * search and count live in bulk.c and search.c).
 */
#include "fos.h"
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- request helpers */

const char *fos_param(fos_req *rq, const char *name) {
  json_t *v = json_object_get(rq->query, name);
  if (!v) return NULL;
  return json_is_string(v) ? json_string_value(v) : "";
}

int fos_param_bool(fos_req *rq, const char *name, int dflt) {
  const char *v = fos_param(rq, name);
  if (!v) return dflt;
  if (!*v || !strcmp(v, "true")) return 1;
  if (!strcmp(v, "false")) return 0;
  return -1;
}

int fos_body_object(fos_req *rq, fos_reply *rp, json_t **out) {
  *out = NULL;
  size_t i = 0;
  while (i < rq->body_len &&
         (rq->body[i] == ' ' || rq->body[i] == '\n' || rq->body[i] == '\r' || rq->body[i] == '\t'))
    i++;
  if (i == rq->body_len) return 0;
  json_t *cause, *j = fos_json_parse(rq->body, rq->body_len, &cause);
  if (!j) {
    fos_reply_error(rp, 400, cause);
    return -1;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    fos_reply_error(rp, 400, fos_cause("parse_exception", "request body must be a JSON object"));
    return -1;
  }
  *out = j;
  return 0;
}

static json_t *acknowledged(void) {
  return json_pack("{s:b}", "acknowledged", 1);
}

/* ---------------------------------------------------------------- cluster */

static void h_info(fos_req *rq, fos_reply *rp) {
  if (!strcmp(rq->method, "HEAD")) {
    fos_reply_json(rp, 200, NULL);
    return;
  }
  fos_reply_json(rp, 200,
                 json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}, s:s}",
                           "name", "fake-opensearch", "cluster_name", "fake-opensearch",
                           "cluster_uuid", rq->c->uuid, "version", "distribution", "opensearch",
                           "number", FOS_VERSION_NUMBER, "build_type", "fake", "build_hash",
                           "0000000000000000000000000000000000000000", "build_date",
                           "2025-01-01T00:00:00.000000Z", "build_snapshot", 0, "lucene_version",
                           "9.12.1", "minimum_wire_compatibility_version", "7.10.0",
                           "minimum_index_compatibility_version", "7.0.0", "tagline",
                           "The OpenSearch Project: https://opensearch.org/"));
}

/* ---------------------------------------------------------------- indices */

static void h_index_create(fos_req *rq, fos_reply *rp) {
  json_t *body;
  if (fos_body_object(rq, rp, &body)) return;
  fos_index *ix;
  json_t *cause;
  int st = fos_index_create(rq->c, rq->pv_index, body, &ix, &cause);
  json_decref(body);
  if (st) {
    fos_reply_error(rp, st, cause);
    return;
  }
  fos_log("created index [%s] (%zu aliases)", ix->name, json_object_size(ix->aliases));
  fos_reply_json(
      rp, 200,
      json_pack("{s:b, s:b, s:s}", "acknowledged", 1, "shards_acknowledged", 1, "index", ix->name));
}

/* Concrete indices named by a delete expression (aliases refused). */
static int delete_targets(fos_req *rq, fos_index ***out, size_t *n, json_t **cause) {
  fos_cluster *c = rq->c;
  int ignore = fos_param_bool(rq, "ignore_unavailable", 0) == 1;
  int allow_none = fos_param_bool(rq, "allow_no_indices", 1) != 0;
  json_t *parts = fos_split_commas(rq->pv_index);
  *out = calloc(c->n + 1, sizeof **out);
  *n = 0;
  *cause = NULL;
  int st = 0;
  size_t i;
  json_t *p;
  json_array_foreach(parts, i, p) {
    const char *s = json_string_value(p);
    int wild = strchr(s, '*') || !strcmp(s, "_all");
    int hit = 0;
    for (size_t k = 0; k < c->n; k++) {
      if (wild ? (!strcmp(s, "_all") || fos_glob(s, c->ix[k]->name)) : !strcmp(s, c->ix[k]->name)) {
        int dup = 0;
        for (size_t j = 0; j < *n; j++)
          dup |= (*out)[j] == c->ix[k];
        if (!dup) (*out)[(*n)++] = c->ix[k];
        hit = 1;
      }
    }
    if (hit || wild || ignore) continue;
    if (fos_is_alias(c, s)) {
      *cause = fos_cause("illegal_argument_exception",
                         "The provided expression [%s] matches an alias, specify the "
                         "corresponding concrete indices instead.",
                         s);
      st = 400;
    } else {
      *cause = fos_cause("index_not_found_exception", "no such index [%s]", s);
      json_object_set_new(*cause, "resource.type", json_string("index_or_alias"));
      json_object_set_new(*cause, "resource.id", json_string(s));
      fos_cause_index(*cause, s, "_na_", -1);
      st = 404;
    }
    break;
  }
  if (!st && *n == 0 && !allow_none) {
    *cause = fos_cause("index_not_found_exception", "no such index [%s]", rq->pv_index);
    fos_cause_index(*cause, rq->pv_index, "_na_", -1);
    st = 404;
  }
  json_decref(parts);
  return st;
}

static void h_index_delete(fos_req *rq, fos_reply *rp) {
  fos_index **ixs;
  size_t n;
  json_t *cause;
  int st = delete_targets(rq, &ixs, &n, &cause);
  if (st) {
    free(ixs);
    fos_reply_error(rp, st, cause);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    fos_log("deleted index [%s]", ixs[i]->name);
    fos_index_delete(rq->c, ixs[i]);
  }
  free(ixs);
  fos_reply_json(rp, 200, acknowledged());
}

static int resolve_param(fos_req *rq, const char *expr, fos_index ***ixs, size_t *n,
                         fos_reply *rp) {
  fos_resolve_opts o = {fos_param_bool(rq, "ignore_unavailable", 0) == 1,
                        fos_param_bool(rq, "allow_no_indices", 1) != 0};
  json_t *cause;
  int st = fos_resolve(rq->c, expr, o, ixs, n, &cause);
  if (st) {
    if (rp)
      fos_reply_error(rp, st, cause);
    else
      json_decref(cause);
  }
  return st;
}

static void h_index_exists(fos_req *rq, fos_reply *rp) {
  fos_index **ixs;
  size_t n;
  int st = resolve_param(rq, rq->pv_index, &ixs, &n, NULL);
  free(ixs);
  fos_reply_json(rp, st || n == 0 ? 404 : 200, NULL);
}

static void h_index_get(fos_req *rq, fos_reply *rp) {
  fos_index **ixs;
  size_t n;
  if (resolve_param(rq, rq->pv_index, &ixs, &n, rp)) return;
  json_t *out = json_object();
  int mapping_only = strstr(rq->path, "/_mapping") != NULL;
  for (size_t i = 0; i < n; i++) {
    fos_index *ix = ixs[i];
    json_t *o = json_object();
    if (!mapping_only) json_object_set(o, "aliases", ix->aliases);
    json_object_set(o, "mappings", ix->mappings);
    if (!mapping_only) json_object_set_new(o, "settings", fos_settings_nest(ix->settings));
    json_object_set_new(out, ix->name, o);
  }
  free(ixs);
  fos_reply_json(rp, 200, out);
}

static void h_refresh(fos_req *rq, fos_reply *rp) {
  fos_index **ixs;
  size_t n;
  if (resolve_param(rq, rq->pv_index, &ixs, &n, rp)) return;
  int total = 0, ok = 0;
  for (size_t i = 0; i < n; i++) {
    fos_index_refresh(ixs[i]);
    total += ixs[i]->shards * (1 + ixs[i]->replicas);
    ok += ixs[i]->shards;
  }
  free(ixs);
  fos_reply_json(
      rp, 200,
      json_pack("{s:{s:i, s:i, s:i}}", "_shards", "total", total, "successful", ok, "failed", 0));
}

/* ---------------------------------------------------------------- aliases */

static void h_update_aliases(fos_req *rq, fos_reply *rp) {
  json_t *body;
  if (fos_body_object(rq, rp, &body)) return;
  const char *k;
  json_t *v, *cause;
  json_object_foreach(body, k, v) {
    if (strcmp(k, "actions")) {
      fos_reply_error(rp, 400,
                      fos_cause("x_content_parse_exception", "[aliases] unknown field [%s]", k));
      json_decref(body);
      return;
    }
  }
  int st = fos_aliases_apply(rq->c, json_object_get(body, "actions"), &cause);
  json_decref(body);
  if (st)
    fos_reply_error(rp, st, cause);
  else
    fos_reply_json(rp, 200, acknowledged());
}

static void h_put_alias(fos_req *rq, fos_reply *rp) {
  json_t *body;
  if (fos_body_object(rq, rp, &body)) return;
  if (!body) body = json_object();
  static const char *const known[] = {"alias",          "index",         "filter",
                                      "routing",        "index_routing", "search_routing",
                                      "is_write_index", "is_hidden",     NULL};
  const char *k;
  json_t *v;
  json_object_foreach(body, k, v) {
    int ok = 0;
    for (int i = 0; known[i]; i++)
      ok |= !strcmp(k, known[i]);
    if (!ok) {
      fos_reply_error(rp, 400,
                      fos_cause("x_content_parse_exception", "[alias] unknown field [%s]", k));
      json_decref(body);
      return;
    }
  }
  json_t *add = json_deep_copy(body);
  json_object_del(add, "index");
  json_object_del(add, "alias");
  const char *index =
      rq->pv_index ? rq->pv_index : json_string_value(json_object_get(body, "index"));
  const char *name = rq->pv_name ? rq->pv_name : json_string_value(json_object_get(body, "alias"));
  if (!index || !name) {
    fos_reply_error(rp, 400,
                    fos_cause("action_request_validation_exception",
                              "Validation Failed: 1: %s is missing;", !index ? "index" : "alias"));
  } else {
    json_object_set_new(add, "index", json_string(index));
    json_object_set_new(add, "alias", json_string(name));
    json_t *actions = json_pack("[{s:O}]", "add", add), *cause;
    int st = fos_aliases_apply(rq->c, actions, &cause);
    json_decref(actions);
    if (st)
      fos_reply_error(rp, st, cause);
    else
      fos_reply_json(rp, 200, acknowledged());
  }
  json_decref(add);
  json_decref(body);
}

static void h_delete_alias(fos_req *rq, fos_reply *rp) {
  json_t *actions =
             json_pack("[{s:{s:s, s:s}}]", "remove", "index", rq->pv_index, "alias", rq->pv_name),
         *cause;
  int st = fos_aliases_apply(rq->c, actions, &cause);
  json_decref(actions);
  if (st)
    fos_reply_error(rp, st, cause);
  else
    fos_reply_json(rp, 200, acknowledged());
}

static void h_get_alias(fos_req *rq, fos_reply *rp) {
  fos_index **ixs;
  size_t n;
  int head = !strcmp(rq->method, "HEAD");
  if (resolve_param(rq, rq->pv_index, &ixs, &n, head ? NULL : rp)) {
    if (head) fos_reply_json(rp, 404, NULL);
    return;
  }
  json_t *names = rq->pv_name ? fos_split_commas(rq->pv_name) : NULL;
  json_t *out = json_object();
  json_t *found = json_object();
  for (size_t i = 0; i < n; i++) {
    json_t *al = json_object();
    const char *an;
    json_t *ad;
    json_object_foreach(ixs[i]->aliases, an, ad) {
      int want = !names;
      size_t k;
      json_t *pat;
      json_array_foreach(names, k, pat) {
        const char *p = json_string_value(pat);
        if (!strcmp(p, "_all") || fos_glob(p, an)) {
          want = 1;
          json_object_set_new(found, p, json_true());
        }
      }
      if (want) json_object_set(al, an, ad);
    }
    if (names && json_object_size(al) == 0) {
      json_decref(al);
      continue;
    }
    json_object_set_new(out, ixs[i]->name, json_pack("{s:o}", "aliases", al));
  }
  free(ixs);
  char missing[1024] = "";
  size_t k;
  json_t *pat;
  json_array_foreach(names, k, pat) {
    const char *p = json_string_value(pat);
    if (strchr(p, '*') || !strcmp(p, "_all") || json_object_get(found, p)) continue;
    size_t used = strlen(missing);
    snprintf(missing + used, sizeof missing - used, "%s%s", used ? "," : "", p);
  }
  json_decref(found);
  json_decref(names);
  if (head) {
    fos_reply_json(rp, json_object_size(out) && !missing[0] ? 200 : 404, NULL);
    json_decref(out);
    return;
  }
  if (missing[0]) {
    json_object_set_new(out, "error", json_pack("s++", "alias [", missing, "] missing"));
    json_object_set_new(out, "status", json_integer(404));
    fos_reply_json(rp, 404, out);
    return;
  }
  if (rq->pv_name && json_object_size(out) == 0) {
    json_object_set_new(out, "error", json_pack("s++", "alias [", rq->pv_name, "] missing"));
    json_object_set_new(out, "status", json_integer(404));
    fos_reply_json(rp, 404, out);
    return;
  }
  fos_reply_json(rp, 200, out);
}

/* ---------------------------------------------------------------- index templates */

static json_t *template_check(fos_cluster *c, const char *name, json_t *body, int create) {
  static const char *const known[] = {"index_patterns", "template",          "composed_of",
                                      "priority",       "version",           "_meta",
                                      "data_stream",    "allow_auto_create", NULL};
  const char *k;
  json_t *v;
  json_object_foreach(body, k, v) {
    int ok = 0;
    for (int i = 0; known[i]; i++)
      ok |= !strcmp(k, known[i]);
    if (!ok)
      return fos_cause("x_content_parse_exception", "[index_template] unknown field [%s]", k);
  }
  json_t *pats = json_object_get(body, "index_patterns");
  if (!pats || (json_is_array(pats) && json_array_size(pats) == 0))
    return fos_cause("action_request_validation_exception",
                     "Validation Failed: 1: index patterns are missing;");
  if (json_object_get(body, "data_stream"))
    return fos_cause("unsupported_operation_exception",
                     "fake-opensearch does not implement data streams");
  json_t *composed = json_object_get(body, "composed_of");
  if (json_array_size(composed))
    return fos_cause("invalid_index_template_exception",
                     "index_template [%s] invalid, cause [index template [%s] specifies component "
                     "templates %s that do not exist]",
                     name, name, json_string_value(json_array_get(composed, 0)));
  if (create && json_object_get(c->templates, name))
    return fos_cause("illegal_argument_exception", "index template [%s] already exists", name);
  json_t *tpl = json_object_get(body, "template");
  json_t *flat = json_object(), *cause = NULL;
  if (json_object_get(tpl, "settings")) {
    json_decref(flat);
    flat = fos_settings_normalize(json_object_get(tpl, "settings"), &cause);
    if (!flat) return cause;
  }
  json_t *mappings = json_object_get(tpl, "mappings");
  json_t *empty = json_object();
  cause = fos_mappings_check(c, flat, mappings ? mappings : empty);
  json_decref(empty);
  json_decref(flat);
  if (cause) return cause;
  /* Same priority and overlapping patterns: refused, as OpenSearch does. */
  json_int_t pri = json_integer_value(json_object_get(body, "priority"));
  json_t *mine =
      json_is_string(pats) ? fos_split_commas(json_string_value(pats)) : json_incref(pats);
  json_object_foreach(c->templates, k, v) {
    if (!strcmp(k, name) || json_integer_value(json_object_get(v, "priority")) != pri) continue;
    json_t *op = json_object_get(v, "index_patterns");
    json_t *theirs = json_is_string(op) ? fos_split_commas(json_string_value(op)) : json_incref(op);
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(mine, i, a) {
      json_array_foreach(theirs, j, b) {
        const char *sa = json_string_value(a), *sb = json_string_value(b);
        if (!cause && sa && sb && (fos_glob(sa, sb) || fos_glob(sb, sa)))
          cause = fos_cause("illegal_argument_exception",
                            "index template [%s] has index patterns [%s] matching patterns from "
                            "existing templates [%s] with patterns (%s => [%s]) that overlap with "
                            "the same priority, but the priority must be unique",
                            name, sa, k, k, sb);
      }
    }
    json_decref(theirs);
  }
  json_decref(mine);
  return cause;
}

static void h_put_template(fos_req *rq, fos_reply *rp) {
  json_t *body;
  if (fos_body_object(rq, rp, &body)) return;
  if (!body) {
    fos_reply_error(rp, 400, fos_cause("parse_exception", "request body is required"));
    return;
  }
  json_t *cause = template_check(rq->c, rq->pv_name, body, fos_param_bool(rq, "create", 0) == 1);
  if (cause) {
    fos_reply_error(rp, 400, cause);
    json_decref(body);
    return;
  }
  json_object_set_new(rq->c->templates, rq->pv_name, body);
  fos_log("put index template [%s]", rq->pv_name);
  fos_reply_json(rp, 200, acknowledged());
}

static void h_get_template(fos_req *rq, fos_reply *rp) {
  json_t *names = rq->pv_name ? fos_split_commas(rq->pv_name) : NULL;
  json_t *list = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(rq->c->templates, k, v) {
    int want = !names;
    size_t i;
    json_t *p;
    json_array_foreach(names, i, p) {
      want |= fos_glob(json_string_value(p), k);
    }
    if (!want) continue;
    json_t *t = json_deep_copy(v);
    json_t *tpl = json_object_get(t, "template");
    json_t *settings = json_object_get(tpl, "settings"), *cause = NULL;
    if (settings) {
      json_t *flat = fos_settings_normalize(settings, &cause);
      json_decref(cause);
      if (flat) json_object_set_new(tpl, "settings", fos_settings_nest(flat));
      json_decref(flat);
    }
    json_t *pats = json_object_get(t, "index_patterns");
    if (json_is_string(pats))
      json_object_set_new(t, "index_patterns", fos_split_commas(json_string_value(pats)));
    if (!json_object_get(t, "composed_of")) json_object_set_new(t, "composed_of", json_array());
    json_array_append_new(list, json_pack("{s:s, s:o}", "name", k, "index_template", t));
  }
  int head = !strcmp(rq->method, "HEAD");
  if (names && json_array_size(list) == 0) {
    json_decref(list);
    json_decref(names);
    if (head) {
      fos_reply_json(rp, 404, NULL);
      return;
    }
    fos_reply_error(rp, 404,
                    fos_cause("resource_not_found_exception",
                              "index template matching [%s] not found", rq->pv_name));
    return;
  }
  json_decref(names);
  if (head) {
    json_decref(list);
    fos_reply_json(rp, 200, NULL);
    return;
  }
  fos_reply_json(rp, 200, json_pack("{s:o}", "index_templates", list));
}

static void h_delete_template(fos_req *rq, fos_reply *rp) {
  if (!json_object_get(rq->c->templates, rq->pv_name)) {
    fos_reply_error(
        rp, 404,
        fos_cause("index_template_missing_exception", "index_template [%s] missing", rq->pv_name));
    return;
  }
  json_object_del(rq->c->templates, rq->pv_name);
  fos_reply_json(rp, 200, acknowledged());
}

/* ---------------------------------------------------------------- routes */

#define P_BULK                                                                                     \
  "_source _source_excludes _source_includes index pipeline refresh require_alias routing "        \
  "timeout type wait_for_active_shards"
#define P_COUNT                                                                                    \
  "allow_no_indices analyze_wildcard analyzer default_operator df expand_wildcards "               \
  "ignore_throttled ignore_unavailable lenient min_score preference q routing terminate_after"
#define P_SEARCH                                                                                   \
  "_source _source_excludes _source_includes allow_no_indices allow_partial_search_results "       \
  "analyze_wildcard analyzer batched_reduce_size cancel_after_time_interval "                      \
  "ccs_minimize_roundtrips default_operator df docvalue_fields expand_wildcards explain from "     \
  "ignore_throttled ignore_unavailable include_named_queries_score index lenient "                 \
  "max_concurrent_shard_requests phase_took pre_filter_shard_size preference q request_cache "     \
  "rest_total_hits_as_int routing scroll search_pipeline search_type seq_no_primary_term size "    \
  "sort stats stored_fields suggest_field suggest_mode suggest_size suggest_text terminate_after " \
  "timeout track_scores track_total_hits typed_keys verbose_pipeline version"
#define P_INDEX                                                                                    \
  "if_primary_term if_seq_no op_type pipeline refresh require_alias routing timeout version "      \
  "version_type wait_for_active_shards"
#define P_GET                                                                                      \
  "_source _source_excludes _source_includes preference realtime refresh routing stored_fields "   \
  "version version_type"
#define P_DELETE                                                                                   \
  "if_primary_term if_seq_no refresh routing timeout version version_type wait_for_active_shards"
#define P_CREATE "pipeline refresh routing timeout version version_type wait_for_active_shards"
#define P_UPDATE                                                                                   \
  "_source _source_excludes _source_includes if_primary_term if_seq_no lang refresh "              \
  "require_alias retry_on_conflict routing timeout wait_for_active_shards"
#define P_IGET                                                                                     \
  "allow_no_indices cluster_manager_timeout expand_wildcards flat_settings ignore_unavailable "    \
  "include_defaults local master_timeout"
#define P_IEXISTS                                                                                  \
  "allow_no_indices cluster_manager_timeout expand_wildcards flat_settings ignore_unavailable "    \
  "include_defaults local"
#define P_ICREATE "cluster_manager_timeout master_timeout timeout wait_for_active_shards"
#define P_IDELETE                                                                                  \
  "allow_no_indices cluster_manager_timeout expand_wildcards ignore_unavailable master_timeout "   \
  "timeout"
#define P_ALIAS_GET "allow_no_indices expand_wildcards ignore_unavailable local"
#define P_ALIAS_PUT "cluster_manager_timeout master_timeout timeout"
#define P_REFRESH "allow_no_indices expand_wildcards ignore_unavailable"
#define P_TPL_GET "cluster_manager_timeout flat_settings local master_timeout"
#define P_TPL_PUT "cause cluster_manager_timeout create master_timeout"
#define P_MAPPING                                                                                  \
  "allow_no_indices cluster_manager_timeout expand_wildcards ignore_unavailable index local "      \
  "master_timeout"

static const fos_route routes[] = {
    {"GET", "/", h_info, ""},
    {"HEAD", "/", h_info, ""},
    {"POST", "/_bulk", fos_api_bulk, P_BULK},
    {"PUT", "/_bulk", fos_api_bulk, P_BULK},
    {"POST", "/{index}/_bulk", fos_api_bulk, P_BULK},
    {"PUT", "/{index}/_bulk", fos_api_bulk, P_BULK},
    {"GET", "/_count", fos_api_count, P_COUNT},
    {"POST", "/_count", fos_api_count, P_COUNT},
    {"GET", "/{index}/_count", fos_api_count, P_COUNT},
    {"POST", "/{index}/_count", fos_api_count, P_COUNT},
    {"GET", "/_search", fos_api_search, P_SEARCH},
    {"POST", "/_search", fos_api_search, P_SEARCH},
    {"GET", "/{index}/_search", fos_api_search, P_SEARCH},
    {"POST", "/{index}/_search", fos_api_search, P_SEARCH},
    {"POST", "/{index}/_doc", fos_api_doc_index, P_INDEX},
    {"GET", "/{index}/_doc/{id}", fos_api_doc_get, P_GET},
    {"HEAD", "/{index}/_doc/{id}", fos_api_doc_get, P_GET},
    {"POST", "/{index}/_doc/{id}", fos_api_doc_index, P_INDEX},
    {"PUT", "/{index}/_doc/{id}", fos_api_doc_index, P_INDEX},
    {"DELETE", "/{index}/_doc/{id}", fos_api_doc_delete, P_DELETE},
    {"POST", "/{index}/_create/{id}", fos_api_doc_create, P_CREATE},
    {"PUT", "/{index}/_create/{id}", fos_api_doc_create, P_CREATE},
    {"POST", "/{index}/_update/{id}", fos_api_doc_update, P_UPDATE},
    {"GET", "/{index}", h_index_get, P_IGET},
    {"HEAD", "/{index}", h_index_exists, P_IEXISTS},
    {"PUT", "/{index}", h_index_create, P_ICREATE},
    {"DELETE", "/{index}", h_index_delete, P_IDELETE},
    {"GET", "/_mapping", h_index_get, P_MAPPING},
    {"GET", "/{index}/_mapping", h_index_get, P_MAPPING},
    {"GET", "/_refresh", h_refresh, P_REFRESH},
    {"POST", "/_refresh", h_refresh, P_REFRESH},
    {"GET", "/{index}/_refresh", h_refresh, P_REFRESH},
    {"POST", "/{index}/_refresh", h_refresh, P_REFRESH},
    {"POST", "/_aliases", h_update_aliases, P_ALIAS_PUT},
    {"GET", "/_alias", h_get_alias, P_ALIAS_GET},
    {"PUT", "/_alias", h_put_alias, P_ALIAS_PUT},
    {"GET", "/_alias/{name}", h_get_alias, P_ALIAS_GET},
    {"HEAD", "/_alias/{name}", h_get_alias, P_ALIAS_GET},
    {"POST", "/_alias/{name}", h_put_alias, P_ALIAS_PUT},
    {"PUT", "/_alias/{name}", h_put_alias, P_ALIAS_PUT},
    {"POST", "/_aliases/{name}", h_put_alias, P_ALIAS_PUT},
    {"PUT", "/_aliases/{name}", h_put_alias, P_ALIAS_PUT},
    {"GET", "/{index}/_alias", h_get_alias, P_ALIAS_GET},
    {"PUT", "/{index}/_alias", h_put_alias, P_ALIAS_PUT},
    {"GET", "/{index}/_alias/{name}", h_get_alias, P_ALIAS_GET},
    {"HEAD", "/{index}/_alias/{name}", h_get_alias, P_ALIAS_GET},
    {"POST", "/{index}/_alias/{name}", h_put_alias, P_ALIAS_PUT},
    {"PUT", "/{index}/_alias/{name}", h_put_alias, P_ALIAS_PUT},
    {"DELETE", "/{index}/_alias/{name}", h_delete_alias, P_ALIAS_PUT},
    {"PUT", "/{index}/_aliases", h_put_alias, P_ALIAS_PUT},
    {"POST", "/{index}/_aliases/{name}", h_put_alias, P_ALIAS_PUT},
    {"PUT", "/{index}/_aliases/{name}", h_put_alias, P_ALIAS_PUT},
    {"DELETE", "/{index}/_aliases/{name}", h_delete_alias, P_ALIAS_PUT},
    {"GET", "/_index_template", h_get_template, P_TPL_GET},
    {"GET", "/_index_template/{name}", h_get_template, P_TPL_GET},
    {"HEAD", "/_index_template/{name}", h_get_template, P_TPL_GET},
    {"POST", "/_index_template/{name}", h_put_template, P_TPL_PUT},
    {"PUT", "/_index_template/{name}", h_put_template, P_TPL_PUT},
    {"DELETE", "/_index_template/{name}", h_delete_template, P_ALIAS_PUT},
    {NULL, NULL, NULL, NULL},
};

/* Parameters every OpenSearch route accepts. */
static const char *const global_params[] = {
    "pretty", "human", "error_trace", "filter_path", "source", "source_content_type", NULL};

const fos_route *fos_routes(void) {
  return routes;
}

/* Splits a path into segments (empty segments dropped); returns the count,
 * or -1 when there are too many or one is too long. */
static int segments(const char *path, char seg[][1024], int max) {
  int n = 0;
  const char *p = path;
  while (*p) {
    while (*p == '/')
      p++;
    if (!*p) break;
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (n == max || len > 1023) return -1;
    snprintf(seg[n], 1024, "%.*s", (int)len, p);
    n++;
    p += len;
  }
  return n;
}

/* Literal segments matched, or -1 when the pattern does not match. */
static int route_match(const char *pattern, char seg[][1024], int n, fos_req *rq) {
  char pat[8][1024];
  int np = segments(pattern, pat, 8);
  if (np != n) return -1;
  int lit = 0;
  for (int i = 0; i < n; i++) {
    if (pat[i][0] == '{') continue;
    if (strcmp(pat[i], seg[i])) return -1;
    lit++;
  }
  if (rq) {
    for (int i = 0; i < n; i++) {
      if (!strcmp(pat[i], "{index}")) rq->pv_index = seg[i];
      if (!strcmp(pat[i], "{id}")) rq->pv_id = seg[i];
      if (!strcmp(pat[i], "{name}")) rq->pv_name = seg[i];
    }
  }
  return lit;
}

static int has_word(const char *list, const char *w) {
  size_t n = strlen(w);
  for (const char *p = list; (p = strstr(p, w)) != NULL; p += n) {
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
  }
  return 0;
}

void fos_dispatch(fos_req *rq, fos_reply *rp) {
  char(*seg)[1024] = rq->segs;
  int n = segments(rq->path, seg, 8);
  const fos_route *best = NULL;
  int best_lit = -1, any_lit = -1;
  char allowed[128] = "";
  for (int i = 0; n >= 0 && routes[i].method; i++) {
    int lit = route_match(routes[i].pattern, seg, n, NULL);
    if (lit < 0) continue;
    if (lit > any_lit) {
      any_lit = lit;
      allowed[0] = 0;
    }
    if (lit == any_lit) {
      size_t used = strlen(allowed);
      if (!has_word(allowed, routes[i].method))
        snprintf(allowed + used, sizeof allowed - used, "%s%s", used ? ", " : "", routes[i].method);
    }
    if (strcmp(routes[i].method, rq->method)) continue;
    if (lit > best_lit) {
      best = &routes[i];
      best_lit = lit;
    }
  }
  if (best && best_lit < any_lit) best = NULL; /* a more specific route exists for other methods */
  if (!best) {
    char msg[1024];
    int st = any_lit >= 0 ? 405 : 400;
    if (any_lit >= 0)
      snprintf(msg, sizeof msg,
               "Incorrect HTTP method for uri [%.400s] and method [%s], allowed: [%s]", rq->path,
               rq->method, allowed);
    else
      snprintf(msg, sizeof msg, "no handler found for uri [%.400s] and method [%s]", rq->path,
               rq->method);
    fos_reply_json(rp, st, json_pack("{s:s, s:i}", "error", msg, "status", st));
    return;
  }
  route_match(best->pattern, seg, n, rq);
  const char *k;
  json_t *v;
  json_object_foreach(rq->query, k, v) {
    int ok = has_word(best->params, k);
    for (int i = 0; !ok && global_params[i]; i++)
      ok = !strcmp(k, global_params[i]);
    if (!ok) {
      fos_reply_error(rp, 400,
                      fos_cause("illegal_argument_exception",
                                "request [%s] contains unrecognized parameter: [%s]", rq->path, k));
      return;
    }
  }
  best->handler(rq, rp);
}
