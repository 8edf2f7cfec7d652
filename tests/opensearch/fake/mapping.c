/*
 * fake-opensearch settings, analysis and mappings: what OpenSearch checks
 * when an index is created (unknown settings, analyzers that name missing
 * tokenizers or filters, fields that name missing analyzers or normalizers,
 * unknown field types and parameters, the total fields limit) and when a
 * document is indexed (strict dynamic mapping, values a field cannot take,
 * immense keyword terms, the nested objects limit).
 *
 * The fake does not analyze text. The one place it interprets analysis is
 * the keyword normalizer, because sorting on a normalized keyword (our
 * "name.sort") must order the way OpenSearch would: mapping char filters,
 * lowercase, uppercase, asciifolding and trim are applied; any other filter
 * a normalizer may use is ignored.
 */
#include "fos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- name lists */

static int in_list(const char *const *list, const char *s) {
  for (int i = 0; list[i]; i++) {
    if (!strcmp(list[i], s)) return 1;
  }
  return 0;
}

static const char *const language_analyzers[] = {
    "arabic",     "armenian",  "basque",     "bengali",    "brazilian", "bulgarian",
    "catalan",    "cjk",       "czech",      "danish",     "dutch",     "english",
    "estonian",   "finnish",   "french",     "galician",   "german",    "greek",
    "hindi",      "hungarian", "indonesian", "irish",      "italian",   "latvian",
    "lithuanian", "norwegian", "persian",    "portuguese", "romanian",  "russian",
    "sorani",     "spanish",   "swedish",    "turkish",    "thai",      NULL};
static const char *const builtin_analyzers[] = {"standard", "simple",  "whitespace",  "stop",
                                                "keyword",  "pattern", "fingerprint", NULL};
static const char *const tokenizers[] = {"standard",
                                         "letter",
                                         "lowercase",
                                         "whitespace",
                                         "uax_url_email",
                                         "classic",
                                         "thai",
                                         "ngram",
                                         "edge_ngram",
                                         "keyword",
                                         "pattern",
                                         "simple_pattern",
                                         "simple_pattern_split",
                                         "char_group",
                                         "path_hierarchy",
                                         NULL};
static const char *const filter_types[] = {"apostrophe",
                                           "asciifolding",
                                           "cjk_bigram",
                                           "cjk_width",
                                           "classic",
                                           "common_grams",
                                           "condition",
                                           "decimal_digit",
                                           "delimited_payload",
                                           "dictionary_decompounder",
                                           "edge_ngram",
                                           "elision",
                                           "fingerprint",
                                           "flatten_graph",
                                           "hunspell",
                                           "hyphenation_decompounder",
                                           "keep_types",
                                           "keep",
                                           "keyword_marker",
                                           "keyword_repeat",
                                           "kstem",
                                           "length",
                                           "limit",
                                           "lowercase",
                                           "min_hash",
                                           "multiplexer",
                                           "ngram",
                                           "pattern_capture",
                                           "pattern_replace",
                                           "porter_stem",
                                           "predicate_token_filter",
                                           "remove_duplicates",
                                           "reverse",
                                           "shingle",
                                           "snowball",
                                           "stemmer",
                                           "stemmer_override",
                                           "stop",
                                           "synonym",
                                           "synonym_graph",
                                           "trim",
                                           "truncate",
                                           "unique",
                                           "uppercase",
                                           "word_delimiter",
                                           "word_delimiter_graph",
                                           NULL};
/* Filters usable by name without a definition. */
static const char *const builtin_filters[] = {"apostrophe",
                                              "asciifolding",
                                              "cjk_bigram",
                                              "cjk_width",
                                              "classic",
                                              "decimal_digit",
                                              "delimited_payload",
                                              "edge_ngram",
                                              "elision",
                                              "fingerprint",
                                              "flatten_graph",
                                              "keyword_repeat",
                                              "kstem",
                                              "length",
                                              "limit",
                                              "lowercase",
                                              "min_hash",
                                              "ngram",
                                              "porter_stem",
                                              "remove_duplicates",
                                              "reverse",
                                              "shingle",
                                              "snowball",
                                              "stemmer",
                                              "stop",
                                              "trim",
                                              "truncate",
                                              "unique",
                                              "uppercase",
                                              "word_delimiter",
                                              "word_delimiter_graph",
                                              "arabic_normalization",
                                              "arabic_stem",
                                              "bengali_normalization",
                                              "brazilian_stem",
                                              "czech_stem",
                                              "dutch_stem",
                                              "french_stem",
                                              "german_normalization",
                                              "german_stem",
                                              "hindi_normalization",
                                              "indic_normalization",
                                              "persian_normalization",
                                              "russian_stem",
                                              "scandinavian_folding",
                                              "scandinavian_normalization",
                                              "serbian_normalization",
                                              "sorani_normalization",
                                              NULL};
static const char *const normalizer_filters[] = {"lowercase",
                                                 "uppercase",
                                                 "asciifolding",
                                                 "elision",
                                                 "cjk_width",
                                                 "decimal_digit",
                                                 "arabic_normalization",
                                                 "bengali_normalization",
                                                 "german_normalization",
                                                 "hindi_normalization",
                                                 "indic_normalization",
                                                 "persian_normalization",
                                                 "scandinavian_folding",
                                                 "scandinavian_normalization",
                                                 "serbian_normalization",
                                                 "sorani_normalization",
                                                 "trim",
                                                 "pattern_replace",
                                                 "icu_folding",
                                                 "icu_normalizer",
                                                 "icu_transform",
                                                 NULL};
static const char *const icu_filters[] = {"icu_folding", "icu_normalizer", "icu_collation",
                                          "icu_transform", NULL};
static const char *const snowball_languages[] = {
    "Armenian", "Basque",     "Catalan", "Danish",    "Dutch",     "English",    "Estonian",
    "Finnish",  "French",     "German",  "German2",   "Hungarian", "Irish",      "Italian",
    "Kp",       "Lithuanian", "Lovins",  "Norwegian", "Porter",    "Portuguese", "Romanian",
    "Russian",  "Spanish",    "Swedish", "Turkish",   NULL};
static const char *const stemmer_languages[] = {"arabic",
                                                "armenian",
                                                "basque",
                                                "bengali",
                                                "brazilian",
                                                "bulgarian",
                                                "catalan",
                                                "czech",
                                                "danish",
                                                "dutch",
                                                "dutch_kp",
                                                "english",
                                                "light_english",
                                                "lovins",
                                                "minimal_english",
                                                "porter2",
                                                "possessive_english",
                                                "estonian",
                                                "finnish",
                                                "light_finnish",
                                                "french",
                                                "light_french",
                                                "minimal_french",
                                                "galician",
                                                "minimal_galician",
                                                "german",
                                                "german2",
                                                "light_german",
                                                "minimal_german",
                                                "greek",
                                                "hindi",
                                                "hungarian",
                                                "light_hungarian",
                                                "indonesian",
                                                "irish",
                                                "italian",
                                                "light_italian",
                                                "sorani",
                                                "latvian",
                                                "lithuanian",
                                                "norwegian",
                                                "light_norwegian",
                                                "minimal_norwegian",
                                                "light_nynorsk",
                                                "minimal_nynorsk",
                                                "portuguese",
                                                "light_portuguese",
                                                "minimal_portuguese",
                                                "portuguese_rslp",
                                                "romanian",
                                                "russian",
                                                "light_russian",
                                                "spanish",
                                                "light_spanish",
                                                "swedish",
                                                "light_swedish",
                                                "turkish",
                                                NULL};
static const char *const field_types[] = {"binary",
                                          "boolean",
                                          "join",
                                          "keyword",
                                          "match_only_text",
                                          "percolator",
                                          "rank_feature",
                                          "rank_features",
                                          "search_as_you_type",
                                          "text",
                                          "version",
                                          "wildcard",
                                          "date_nanos",
                                          "date",
                                          "flat_object",
                                          "nested",
                                          "object",
                                          "completion",
                                          "constant_keyword",
                                          "alias",
                                          "ip",
                                          "token_count",
                                          "geo_point",
                                          "geo_shape",
                                          "xy_point",
                                          "xy_shape",
                                          "byte",
                                          "double",
                                          "float",
                                          "half_float",
                                          "integer",
                                          "long",
                                          "scaled_float",
                                          "short",
                                          "unsigned_long",
                                          "date_range",
                                          "double_range",
                                          "float_range",
                                          "integer_range",
                                          "ip_range",
                                          "long_range",
                                          NULL};

/* ---------------------------------------------------------------- settings */

static void flatten(json_t *v, const char *prefix, json_t *flat) {
  char key[512];
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
      snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
      flatten(x, key, flat);
    }
    return;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      json_t *tmp = json_object();
      flatten(x, "v", tmp);
      json_t *s = json_object_get(tmp, "v");
      json_array_append(a, s ? s : json_string(""));
      json_decref(tmp);
    }
    json_object_set_new(flat, prefix, a);
    return;
  }
  char buf[64];
  if (json_is_string(v)) {
    json_object_set(flat, prefix, v);
  } else if (json_is_integer(v)) {
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    json_object_set_new(flat, prefix, json_string(buf));
  } else if (json_is_real(v)) {
    snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    json_object_set_new(flat, prefix, json_string(buf));
  } else if (json_is_boolean(v)) {
    json_object_set_new(flat, prefix, json_string(json_is_true(v) ? "true" : "false"));
  }
}

static int known_setting(const char *k) {
  static const char *const exact[] = {"number_of_shards",
                                      "number_of_replicas",
                                      "number_of_routing_shards",
                                      "refresh_interval",
                                      "max_result_window",
                                      "max_inner_result_window",
                                      "max_rescore_window",
                                      "max_docvalue_fields_search",
                                      "max_script_fields",
                                      "max_ngram_diff",
                                      "max_shingle_diff",
                                      "max_terms_count",
                                      "max_regex_length",
                                      "max_refresh_listeners",
                                      "max_slices_per_scroll",
                                      "auto_expand_replicas",
                                      "codec",
                                      "hidden",
                                      "gc_deletes",
                                      "default_pipeline",
                                      "final_pipeline",
                                      "priority",
                                      "load_fixed_bitset_filters_eagerly",
                                      "shard.check_on_startup",
                                      "routing_partition_size",
                                      "requests.cache.enable",
                                      "replication.type",
                                      "knn",
                                      "mode",
                                      "mapping.total_fields.limit",
                                      "mapping.depth.limit",
                                      "mapping.nested_fields.limit",
                                      "mapping.nested_objects.limit",
                                      "mapping.field_name_length.limit",
                                      "mapping.ignore_malformed",
                                      "mapping.coerce",
                                      "version.created",
                                      "creation_date",
                                      "uuid",
                                      "provided_name",
                                      NULL};
  static const char *const prefixes[] = {
      "analysis.",     "similarity.",      "sort.",  "routing.",   "blocks.",  "search.",
      "indexing.",     "translog.",        "merge.", "store.",     "query.",   "queries.",
      "highlight.",    "unassigned.",      "write.", "lifecycle.", "plugins.", "knn.",
      "soft_deletes.", "composite_index.", NULL};
  if (in_list(exact, k)) return 1;
  for (int i = 0; prefixes[i]; i++) {
    if (!strncmp(k, prefixes[i], strlen(prefixes[i]))) return 1;
  }
  return 0;
}

json_t *fos_settings_normalize(json_t *settings, json_t **cause) {
  *cause = NULL;
  if (!json_is_object(settings)) {
    *cause = fos_cause("settings_exception", "Failed to load settings: not an object");
    return NULL;
  }
  json_t *tmp = json_object(), *flat = json_object();
  flatten(settings, "", tmp);
  const char *k;
  json_t *v;
  json_object_foreach(tmp, k, v) {
    char key[600];
    snprintf(key, sizeof key, "%s%s", strncmp(k, "index.", 6) ? "index." : "", k);
    const char *bare = key + 6;
    if (!known_setting(bare)) {
      *cause = fos_cause("illegal_argument_exception",
                         "unknown setting [%s] please check that any required plugins are "
                         "installed, or check the breaking changes documentation for removed "
                         "settings",
                         key);
      break;
    }
    if (!strcmp(bare, "uuid") || !strcmp(bare, "version.created") ||
        !strcmp(bare, "provided_name") || !strcmp(bare, "creation_date")) {
      *cause = fos_cause("illegal_argument_exception",
                         "private index setting [%s] can not be set explicitly", key);
      break;
    }
    json_object_set(flat, key, v);
  }
  json_decref(tmp);
  if (*cause) {
    json_decref(flat);
    return NULL;
  }
  return flat;
}

json_t *fos_settings_nest(json_t *flat) {
  json_t *root = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(flat, k, v) {
    json_t *at = root;
    char part[512];
    const char *p = k;
    for (;;) {
      const char *dot = strchr(p, '.');
      if (!dot) break;
      size_t n = (size_t)(dot - p);
      if (n >= sizeof part) n = sizeof part - 1;
      memcpy(part, p, n);
      part[n] = 0;
      json_t *next = json_object_get(at, part);
      if (!json_is_object(next)) {
        next = json_object();
        json_object_set_new(at, part, next);
      }
      at = next;
      p = dot + 1;
    }
    json_object_set(at, p, v);
  }
  return root;
}

/* The analysis section of flat settings, nested ({"analyzer": {...}, ...}). */
static json_t *analysis_of(json_t *flat) {
  json_t *nested = fos_settings_nest(flat);
  json_t *a = json_object_get(json_object_get(nested, "index"), "analysis");
  a = a ? json_incref(a) : json_object();
  json_decref(nested);
  return a;
}

/* ---------------------------------------------------------------- analysis */

static json_t *list_of(json_t *v) {
  if (json_is_array(v)) return json_incref(v);
  json_t *a = json_array();
  if (json_is_string(v)) json_array_append(a, v);
  return a;
}

static const char *type_of(json_t *def) {
  return json_string_value(json_object_get(def, "type"));
}

/* Checks the rules of a mapping char filter ("a => b"). */
static json_t *check_mapping_rules(const char *name, json_t *def) {
  json_t *rules = json_object_get(def, "mappings");
  if (!rules && !json_object_get(def, "mappings_path"))
    return fos_cause("illegal_argument_exception",
                     "mapping requires either `mappings` or `mappings_path` to be configured");
  size_t i;
  json_t *r;
  json_array_foreach(rules, i, r) {
    const char *s = json_string_value(r);
    const char *arrow = s ? strstr(s, "=>") : NULL;
    if (!arrow || arrow == s)
      return fos_cause("illegal_argument_exception", "Invalid Mapping Rule : [%s] in [%s]",
                       s ? s : "?", name);
  }
  return NULL;
}

static json_t *check_filter_def(fos_cluster *c, const char *name, json_t *def) {
  const char *type = type_of(def);
  if (!type)
    return fos_cause("illegal_argument_exception",
                     "token filter [%s] must have a type associated with it", name);
  if (!in_list(filter_types, type) && !(c->icu_plugin && in_list(icu_filters, type)))
    return fos_cause("illegal_argument_exception", "Unknown filter type [%s] for [%s]", type, name);
  if (!strcmp(type, "snowball")) {
    const char *lang = json_string_value(json_object_get(def, "language"));
    int ok = 0;
    for (int i = 0; lang && snowball_languages[i]; i++)
      ok |= !strcasecmp(lang, snowball_languages[i]);
    if (lang && !ok)
      return fos_cause("illegal_argument_exception",
                       "Invalid stemmer class specified: org.tartarus.snowball.ext.%sStemmer",
                       lang);
  }
  if (!strcmp(type, "stemmer")) {
    const char *lang = json_string_value(json_object_get(def, "language"));
    if (!lang) lang = json_string_value(json_object_get(def, "name"));
    if (lang && !in_list(stemmer_languages, lang))
      return fos_cause("illegal_argument_exception", "Unknown stemmer language [%s] for [%s]", lang,
                       name);
  }
  if (!strcmp(type, "stop")) {
    const char *sw = json_string_value(json_object_get(def, "stopwords"));
    if (sw && sw[0] == '_' && strcmp(sw, "_none_")) {
      char lang[64];
      size_t n = strlen(sw);
      int ok = n > 2 && n < sizeof lang && sw[n - 1] == '_';
      if (ok) {
        memcpy(lang, sw + 1, n - 2);
        lang[n - 2] = 0;
        ok = in_list(language_analyzers, lang) || !strcmp(lang, "brazilian");
      }
      if (!ok) return fos_cause("illegal_argument_exception", "Unknown stopwords list [%s]", sw);
    }
  }
  if (!strcmp(type, "pattern_replace") && !json_object_get(def, "pattern"))
    return fos_cause("illegal_argument_exception",
                     "pattern is missing for [%s] token filter of type 'pattern_replace'", name);
  if (!strcmp(type, "asciifolding")) {
    const char *po = json_string_value(json_object_get(def, "preserve_original"));
    if (po && strcmp(po, "true") && strcmp(po, "false"))
      return fos_cause("illegal_argument_exception",
                       "Failed to parse value [%s] as only [true] or [false] are allowed.", po);
  }
  return NULL;
}

static json_t *check_char_filter_def(fos_cluster *c, const char *name, json_t *def) {
  const char *type = type_of(def);
  if (!type)
    return fos_cause("illegal_argument_exception",
                     "char filter [%s] must have a type associated with it", name);
  if (!strcmp(type, "mapping")) return check_mapping_rules(name, def);
  if (!strcmp(type, "pattern_replace")) {
    if (!json_object_get(def, "pattern"))
      return fos_cause("illegal_argument_exception",
                       "pattern is missing for [%s] char filter of type 'pattern_replace'", name);
    return NULL;
  }
  if (!strcmp(type, "html_strip") || (c->icu_plugin && !strcmp(type, "icu_normalizer")))
    return NULL;
  return fos_cause("illegal_argument_exception", "Unknown char_filter type [%s] for [%s]", type,
                   name);
}

static int filter_exists(fos_cluster *c, json_t *analysis, const char *f) {
  return json_object_get(json_object_get(analysis, "filter"), f) || in_list(builtin_filters, f) ||
         (c->icu_plugin && in_list(icu_filters, f));
}

static int char_filter_exists(fos_cluster *c, json_t *analysis, const char *f) {
  return json_object_get(json_object_get(analysis, "char_filter"), f) || !strcmp(f, "html_strip") ||
         (c->icu_plugin && !strcmp(f, "icu_normalizer"));
}

static json_t *check_analysis(fos_cluster *c, json_t *analysis) {
  const char *name;
  json_t *def, *e = NULL;
  json_object_foreach(json_object_get(analysis, "filter"), name, def) {
    if ((e = check_filter_def(c, name, def))) return e;
  }
  json_object_foreach(json_object_get(analysis, "char_filter"), name, def) {
    if ((e = check_char_filter_def(c, name, def))) return e;
  }
  json_object_foreach(json_object_get(analysis, "tokenizer"), name, def) {
    const char *type = type_of(def);
    if (!type || !(in_list(tokenizers, type) || (c->icu_plugin && !strcmp(type, "icu_tokenizer"))))
      return fos_cause("illegal_argument_exception", "Unknown tokenizer type [%s] for [%s]",
                       type ? type : "", name);
  }
  json_object_foreach(json_object_get(analysis, "analyzer"), name, def) {
    const char *type = type_of(def);
    const char *tok = json_string_value(json_object_get(def, "tokenizer"));
    if (!type) type = tok ? "custom" : NULL;
    if (!type)
      return fos_cause("illegal_argument_exception",
                       "analyzer [%s] must specify either an analyzer type, or a tokenizer", name);
    if (strcmp(type, "custom")) {
      if (!in_list(builtin_analyzers, type) && !in_list(language_analyzers, type) &&
          strcmp(type, "snowball"))
        return fos_cause("illegal_argument_exception", "Unknown analyzer type [%s] for [%s]", type,
                         name);
      continue;
    }
    if (!tok)
      return fos_cause("illegal_argument_exception",
                       "analyzer [%s] must specify either an analyzer type, or a tokenizer", name);
    if (!json_object_get(json_object_get(analysis, "tokenizer"), tok) &&
        !in_list(tokenizers, tok) && !(c->icu_plugin && !strcmp(tok, "icu_tokenizer")))
      return fos_cause("illegal_argument_exception",
                       "Custom Analyzer [%s] failed to find tokenizer under name [%s]", name, tok);
    json_t *l = list_of(json_object_get(def, "filter"));
    size_t i;
    json_t *f;
    json_array_foreach(l, i, f) {
      const char *fn = json_string_value(f);
      if (fn && !filter_exists(c, analysis, fn)) {
        e = fos_cause("illegal_argument_exception",
                      "Custom Analyzer [%s] failed to find filter under name [%s]", name, fn);
        break;
      }
    }
    json_decref(l);
    if (e) return e;
    l = list_of(json_object_get(def, "char_filter"));
    json_array_foreach(l, i, f) {
      const char *fn = json_string_value(f);
      if (fn && !char_filter_exists(c, analysis, fn)) {
        e = fos_cause("illegal_argument_exception",
                      "Custom Analyzer [%s] failed to find char_filter under name [%s]", name, fn);
        break;
      }
    }
    json_decref(l);
    if (e) return e;
  }
  json_object_foreach(json_object_get(analysis, "normalizer"), name, def) {
    const char *type = type_of(def);
    if (type && strcmp(type, "custom") && strcmp(type, "lowercase"))
      return fos_cause("illegal_argument_exception", "Unknown normalizer type [%s] for [%s]", type,
                       name);
    json_t *l = list_of(json_object_get(def, "filter"));
    size_t i;
    json_t *f;
    json_array_foreach(l, i, f) {
      const char *fn = json_string_value(f);
      if (!fn) continue;
      json_t *fdef = json_object_get(json_object_get(analysis, "filter"), fn);
      const char *ft = fdef ? type_of(fdef) : fn;
      if (!filter_exists(c, analysis, fn)) {
        e = fos_cause("illegal_argument_exception",
                      "Custom normalizer [%s] failed to find filter under name [%s]", name, fn);
      } else if (!ft || !in_list(normalizer_filters, ft)) {
        e = fos_cause("illegal_argument_exception",
                      "Custom normalizer [%s] may not use filter [%s]", name, fn);
      }
      if (e) break;
    }
    json_decref(l);
    if (e) return e;
    l = list_of(json_object_get(def, "char_filter"));
    json_array_foreach(l, i, f) {
      const char *fn = json_string_value(f);
      if (fn && !char_filter_exists(c, analysis, fn)) {
        e = fos_cause("illegal_argument_exception",
                      "Custom normalizer [%s] failed to find char_filter under name [%s]", name,
                      fn);
        break;
      }
    }
    json_decref(l);
    if (e) return e;
  }
  return NULL;
}

/* ---------------------------------------------------------------- mappings */

typedef struct map_ctx {
  fos_cluster *c;
  json_t *analysis;
  int64_t fields, limit;
} map_ctx;

static json_t *mapping_error(const char *fmt, const char *a, const char *b) {
  char inner[1024];
  snprintf(inner, sizeof inner, fmt, a, b);
  json_t *e = fos_cause("mapper_parsing_exception", "Failed to parse mapping [_doc]: %s", inner);
  json_object_set_new(e, "caused_by", fos_cause("mapper_parsing_exception", "%s", inner));
  return e;
}

static int is_number_type(const char *t) {
  static const char *const n[] = {"long",  "integer",    "short",         "byte",         "double",
                                  "float", "half_float", "unsigned_long", "scaled_float", NULL};
  return in_list(n, t);
}

static const char *const *params_of(const char *type) {
  static const char *const text[] = {"type",
                                     "analyzer",
                                     "search_analyzer",
                                     "search_quote_analyzer",
                                     "fields",
                                     "index",
                                     "index_options",
                                     "index_prefixes",
                                     "index_phrases",
                                     "norms",
                                     "position_increment_gap",
                                     "store",
                                     "similarity",
                                     "term_vector",
                                     "copy_to",
                                     "boost",
                                     "fielddata",
                                     "fielddata_frequency_filter",
                                     "eager_global_ordinals",
                                     "meta",
                                     NULL};
  static const char *const keyword[] = {"type",       "boost",
                                        "doc_values", "eager_global_ordinals",
                                        "fields",     "ignore_above",
                                        "index",      "index_options",
                                        "norms",      "null_value",
                                        "store",      "similarity",
                                        "normalizer", "split_queries_on_whitespace",
                                        "copy_to",    "meta",
                                        NULL};
  static const char *const number[] = {
      "type",  "boost", "coerce",  "doc_values", "ignore_malformed", "index", "null_value",
      "store", "meta",  "copy_to", "fields",     "scaling_factor",   NULL};
  static const char *const date[] = {
      "type",       "boost", "doc_values", "format",  "locale", "ignore_malformed", "index",
      "null_value", "store", "meta",       "copy_to", "fields", "print_format",     NULL};
  static const char *const boolean[] = {"type",  "boost", "doc_values", "index",  "null_value",
                                        "store", "meta",  "copy_to",    "fields", NULL};
  static const char *const object[] = {"type", "dynamic", "enabled", "properties", NULL};
  static const char *const nested[] = {
      "type", "dynamic", "enabled", "properties", "include_in_parent", "include_in_root", NULL};
  if (!strcmp(type, "text")) return text;
  if (!strcmp(type, "keyword")) return keyword;
  if (is_number_type(type)) return number;
  if (!strcmp(type, "date") || !strcmp(type, "date_nanos")) return date;
  if (!strcmp(type, "boolean")) return boolean;
  if (!strcmp(type, "object")) return object;
  if (!strcmp(type, "nested")) return nested;
  return NULL;
}

static int analyzer_exists(map_ctx *m, const char *a) {
  return json_object_get(json_object_get(m->analysis, "analyzer"), a) ||
         in_list(builtin_analyzers, a) || in_list(language_analyzers, a);
}

static json_t *check_properties(map_ctx *m, json_t *props, const char *path);

static json_t *check_field(map_ctx *m, const char *name, json_t *def, const char *path, int multi) {
  char full[512];
  snprintf(full, sizeof full, "%s%s%s", path, *path ? "." : "", name);
  if (!*name) return mapping_error("field name cannot be an empty string%s", "", "");
  if (!json_is_object(def))
    return mapping_error("Expected map for property [fields] on field [%s] but got a %s", name,
                         "value");
  if (++m->fields > m->limit) {
    char lim[32];
    snprintf(lim, sizeof lim, "%lld", (long long)m->limit);
    return fos_cause("illegal_argument_exception", "Limit of total fields [%s] has been exceeded",
                     lim);
  }
  const char *type = type_of(def);
  if (!type && json_object_get(def, "type"))
    return mapping_error("No type specified for field [%s]%s", name, "");
  if (!type) type = json_object_get(def, "properties") || !multi ? "object" : NULL;
  if (!type) return mapping_error("No type specified for field [%s]%s", name, "");
  if (!in_list(field_types, type) && !(m->c->icu_plugin && !strcmp(type, "icu_collation_keyword")))
    return mapping_error("No handler for type [%s] declared on field [%s]", type, name);
  const char *const *allowed = params_of(type);
  const char *k;
  json_t *v;
  json_object_foreach(def, k, v) {
    if (allowed && !in_list(allowed, k)) {
      char inner[600];
      snprintf(inner, sizeof inner, "unknown parameter [%s] on mapper [%s] of type [%s]", k, name,
               type);
      return mapping_error("%s%s", inner, "");
    }
  }
  static const char *const analyzer_keys[] = {"analyzer", "search_analyzer",
                                              "search_quote_analyzer", NULL};
  for (int i = 0; analyzer_keys[i]; i++) {
    const char *a = json_string_value(json_object_get(def, analyzer_keys[i]));
    if (a && !analyzer_exists(m, a))
      return mapping_error("analyzer [%s] has not been configured in mappings%s", a, "");
  }
  const char *norm = json_string_value(json_object_get(def, "normalizer"));
  if (norm && strcmp(norm, "lowercase") &&
      !json_object_get(json_object_get(m->analysis, "normalizer"), norm))
    return mapping_error("normalizer [%s] not found for field [%s]", norm, name);
  json_t *dyn = json_object_get(def, "dynamic");
  if (dyn && !json_is_boolean(dyn)) {
    const char *d = json_string_value(dyn);
    if (!d || (strcmp(d, "true") && strcmp(d, "false") && strcmp(d, "strict") &&
               strcmp(d, "strict_allow_templates") && strcmp(d, "false_allow_templates")))
      return mapping_error("Could not convert [%s.dynamic] to boolean%s", name, "");
  }
  if (!strcmp(type, "scaled_float") && !json_object_get(def, "scaling_factor"))
    return mapping_error("Field [scaling_factor] is required%s%s", "", "");
  json_t *e;
  if ((e = check_properties(m, json_object_get(def, "properties"), full))) return e;
  json_object_foreach(json_object_get(def, "fields"), k, v) {
    if ((e = check_field(m, k, v, full, 1))) return e;
  }
  return NULL;
}

static json_t *check_properties(map_ctx *m, json_t *props, const char *path) {
  if (!props) return NULL;
  if (!json_is_object(props))
    return mapping_error("Expected map for property [properties] on [%s]%s", path, "");
  const char *k;
  json_t *v, *e;
  json_object_foreach(props, k, v) {
    if ((e = check_field(m, k, v, path, 0))) return e;
  }
  return NULL;
}

json_t *fos_mappings_check(fos_cluster *c, json_t *flat, json_t *mappings) {
  json_t *analysis = analysis_of(flat);
  json_t *e = check_analysis(c, analysis);
  if (!e && !json_is_object(mappings)) e = mapping_error("mappings must be an object%s%s", "", "");
  static const char *const root_keys[] = {"properties",
                                          "dynamic",
                                          "dynamic_templates",
                                          "_source",
                                          "_routing",
                                          "_meta",
                                          "date_detection",
                                          "numeric_detection",
                                          "dynamic_date_formats",
                                          "_field_names",
                                          "enabled",
                                          "_size",
                                          "_data_stream_timestamp",
                                          "derived",
                                          NULL};
  const char *k;
  json_t *v;
  if (!e) {
    json_object_foreach(mappings, k, v) {
      if (in_list(root_keys, k)) continue;
      char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      e = mapping_error("Root mapping definition has unsupported parameters:  [%s : %s]", k,
                        s ? s : "");
      free(s);
      break;
    }
  }
  if (!e) {
    map_ctx m = {c, analysis, 0, 1000};
    const char *lim = json_string_value(json_object_get(flat, "index.mapping.total_fields.limit"));
    if (lim) fos_parse_i64(lim, &m.limit);
    json_t *dyn = json_object_get(mappings, "dynamic");
    if (dyn && !json_is_boolean(dyn)) {
      const char *d = json_string_value(dyn);
      if (!d || (strcmp(d, "true") && strcmp(d, "false") && strcmp(d, "strict") &&
                 strcmp(d, "strict_allow_templates") && strcmp(d, "false_allow_templates")))
        e = mapping_error("Could not convert [dynamic] to boolean%s%s", "", "");
    }
    if (!e) e = check_properties(&m, json_object_get(mappings, "properties"), "");
  }
  json_decref(analysis);
  return e;
}

/* ---------------------------------------------------------------- documents */

typedef struct doc_ctx {
  fos_index *ix;
  const char *id;
  int64_t nested;
} doc_ctx;

static int dynamic_mode(json_t *def, int inherited) {
  json_t *d = json_object_get(def, "dynamic");
  if (!d) return inherited;
  if (json_is_false(d)) return 0;
  const char *s = json_string_value(d);
  if (s && !strcmp(s, "false")) return 0;
  if (s && !strncmp(s, "strict", 6)) return 2;
  return 1;
}

static json_t *field_error(doc_ctx *x, const char *field, const char *type, json_t *value,
                           json_t *caused_by) {
  char *s = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
  const char *preview = s ? s : "";
  if (json_is_string(value)) preview = json_string_value(value);
  json_t *e = fos_cause("mapper_parsing_exception",
                        "failed to parse field [%s] of type [%s] in document with id '%s'. "
                        "Preview of field's value: '%.200s'",
                        field, type, x->id, preview);
  free(s);
  if (caused_by) json_object_set_new(e, "caused_by", caused_by);
  return e;
}

static json_t *check_value(doc_ctx *x, json_t *def, const char *field, json_t *v, int dyn);

static json_t *check_object(doc_ctx *x, json_t *props, int dyn, const char *path, json_t *obj,
                            int top) {
  static const char *const meta[] = {"_id",      "_index",  "_source",       "_routing",
                                     "_version", "_seq_no", "_primary_term", "_field_names",
                                     "_ignored", "_type",   "_size",         NULL};
  const char *k;
  json_t *v, *e;
  json_object_foreach(obj, k, v) {
    char full[512];
    snprintf(full, sizeof full, "%s%s%s", path, *path ? "." : "", k);
    if (top && in_list(meta, k)) {
      return fos_cause("mapper_parsing_exception",
                       "Field [%s] is a metadata field and cannot be added inside a document. "
                       "Use the index API request parameters.",
                       k);
    }
    json_t *def = json_object_get(props, k);
    const char *dot = strchr(k, '.');
    if (!def && dot) { /* "a.b": 1 is the object path a -> b */
      char head[256];
      size_t n = (size_t)(dot - k);
      if (n < sizeof head) {
        memcpy(head, k, n);
        head[n] = 0;
        json_t *hd = json_object_get(props, head);
        if (hd) {
          json_t *wrap = json_pack("{s:O}", dot + 1, v);
          char hp[512];
          snprintf(hp, sizeof hp, "%s%s%s", path, *path ? "." : "", head);
          e = check_value(x, hd, hp, wrap, dyn);
          json_decref(wrap);
          if (e) return e;
          continue;
        }
      }
    }
    if (!def) {
      if (dyn == 2)
        return fos_cause("strict_dynamic_mapping_exception",
                         "mapping set to strict, dynamic introduction of [%s] within [%s] is not "
                         "allowed",
                         k, *path ? path : "_doc");
      continue; /* dynamic: true adds no mapping in the fake; false ignores */
    }
    if ((e = check_value(x, def, full, v, dyn))) return e;
  }
  return NULL;
}

static json_t *check_scalar(doc_ctx *x, json_t *def, const char *field, json_t *v) {
  const char *type = type_of(def);
  if (!type || json_is_null(v)) return NULL;
  if (json_is_object(v) && strcmp(type, "flat_object") && strcmp(type, "geo_point") &&
      strcmp(type, "geo_shape") && strncmp(type, "xy_", 3) && !strstr(type, "_range") &&
      strcmp(type, "join") && strcmp(type, "completion") && strcmp(type, "percolator") &&
      strcmp(type, "rank_features") && strcmp(type, "aggregate_metric_double"))
    return field_error(x, field, type, v,
                       fos_cause("illegal_state_exception", "Can't get text on a START_OBJECT"));
  if (!strcmp(type, "keyword")) {
    const char *s = json_string_value(v);
    json_int_t above = json_integer_value(json_object_get(def, "ignore_above"));
    if (s && strlen(s) > 32766 && !(above > 0 && (json_int_t)strlen(s) > above))
      return fos_cause("illegal_argument_exception",
                       "Document contains at least one immense term in field=\"%s\" (whose UTF8 "
                       "encoding is longer than the max length 32766), all of which were skipped.",
                       field);
    return NULL;
  }
  if (is_number_type(type)) {
    double d;
    if (json_is_number(v)) {
      d = json_number_value(v);
    } else if (json_is_string(v)) {
      char *end;
      const char *s = json_string_value(v);
      d = strtod(s, &end);
      if (!*s || *end)
        return field_error(x, field, type, v,
                           fos_cause("number_format_exception", "For input string: \"%.100s\"", s));
    } else {
      return field_error(x, field, type, v,
                         fos_cause("illegal_argument_exception",
                                   "Current token (VALUE_%s) not numeric, can not use numeric "
                                   "value accessors",
                                   json_is_boolean(v) ? "TRUE" : "OTHER"));
    }
    double lo = -9.2233720368547758e18, hi = 9.2233720368547758e18;
    if (!strcmp(type, "integer")) lo = -2147483648.0, hi = 2147483647.0;
    if (!strcmp(type, "short")) lo = -32768, hi = 32767;
    if (!strcmp(type, "byte")) lo = -128, hi = 127;
    if (!strcmp(type, "unsigned_long")) lo = 0, hi = 1.8446744073709552e19;
    if ((!strcmp(type, "long") || !strcmp(type, "integer") || !strcmp(type, "short") ||
         !strcmp(type, "byte") || !strcmp(type, "unsigned_long")) &&
        (d < lo || d > hi))
      return field_error(x, field, type, v,
                         fos_cause("illegal_argument_exception",
                                   "Value [%.0f] is out of range for %s %s", d,
                                   !strcmp(type, "integer") ? "an" : "a", type));
    return NULL;
  }
  if (!strcmp(type, "date") || !strcmp(type, "date_nanos")) {
    const char *fmt = json_string_value(json_object_get(def, "format"));
    int epoch_ok = !fmt || strstr(fmt, "epoch_millis") || strstr(fmt, "epoch_second");
    int only_epoch = fmt && (!strcmp(fmt, "epoch_millis") || !strcmp(fmt, "epoch_second"));
    if (json_is_number(v) && epoch_ok) return NULL;
    if (json_is_string(v)) {
      char *end;
      const char *s = json_string_value(v);
      strtod(s, &end);
      if (!only_epoch || (*s && !*end)) return NULL;
    }
    if (json_is_string(v) || json_is_number(v)) {
      char *s = json_dumps(v, JSON_ENCODE_ANY);
      json_t *e = fos_cause("mapper_parsing_exception",
                            "failed to parse field [%s] of type [%s] in document with id '%s'. "
                            "Preview of field's value: '%s'",
                            field, type, x->id, json_is_string(v) ? json_string_value(v) : s);
      json_object_set_new(e, "caused_by",
                          fos_cause("illegal_argument_exception",
                                    "failed to parse date field [%s] with format [%s]",
                                    json_is_string(v) ? json_string_value(v) : s,
                                    fmt ? fmt : "strict_date_optional_time||epoch_millis"));
      free(s);
      return e;
    }
    return field_error(x, field, type, v, NULL);
  }
  if (!strcmp(type, "boolean")) {
    const char *s = json_string_value(v);
    if (json_is_boolean(v) || (s && (!strcmp(s, "true") || !strcmp(s, "false") || !*s)))
      return NULL;
    char *d = json_dumps(v, JSON_ENCODE_ANY);
    json_t *e = field_error(x, field, type, v,
                            fos_cause("illegal_argument_exception",
                                      "Failed to parse value [%s] as only [true] or [false] are "
                                      "allowed.",
                                      s ? s : d));
    free(d);
    return e;
  }
  return NULL;
}

static json_t *check_value(doc_ctx *x, json_t *def, const char *field, json_t *v, int dyn) {
  const char *type = type_of(def);
  if (!type) type = "object";
  if (json_is_array(v)) {
    size_t i;
    json_t *el, *e;
    json_array_foreach(v, i, el) {
      if ((e = check_value(x, def, field, el, dyn))) return e;
    }
    return NULL;
  }
  if (!strcmp(type, "object") || !strcmp(type, "nested")) {
    if (json_is_null(v)) return NULL;
    if (json_is_false(json_object_get(def, "enabled"))) return NULL;
    if (!json_is_object(v))
      return fos_cause("mapper_parsing_exception",
                       "object mapping for [%s] tried to parse field [%s] as object, but found a "
                       "concrete value",
                       field, field);
    if (!strcmp(type, "nested") && ++x->nested > x->ix->nested_max) {
      char lim[32];
      snprintf(lim, sizeof lim, "%lld", (long long)x->ix->nested_max);
      return fos_cause("mapper_parsing_exception",
                       "The number of nested documents has exceeded the allowed limit of [%s]. "
                       "This limit can be set by changing the [index.mapping.nested_objects.limit]"
                       " index level setting.",
                       lim);
    }
    return check_object(x, json_object_get(def, "properties"), dynamic_mode(def, dyn), field, v, 0);
  }
  return check_scalar(x, def, field, v);
}

json_t *fos_doc_check(fos_index *ix, const char *id, json_t *source) {
  if (!json_is_object(source)) {
    json_t *e = fos_cause("mapper_parsing_exception", "failed to parse");
    json_object_set_new(e, "caused_by",
                        fos_cause("not_x_content_exception",
                                  "Compressor detection can only be called on some xcontent "
                                  "bytes or compressed xcontent bytes"));
    return e;
  }
  doc_ctx x = {ix, id, 0};
  json_t *m = ix->mappings;
  return check_object(&x, json_object_get(m, "properties"), dynamic_mode(m, 1), "", source, 1);
}

/* ---------------------------------------------------------------- field lookup */

json_t *fos_field_mapping(fos_index *ix, const char *field, char *source_path, size_t cap,
                          int *in_nested) {
  *in_nested = 0;
  snprintf(source_path, cap, "%s", field);
  json_t *props = json_object_get(ix->mappings, "properties"), *def = NULL;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", field);
  size_t consumed = 0; /* bytes of field that name the source path so far */
  for (char *p = buf; p;) {
    char *dot = strchr(p, '.');
    if (dot) *dot = 0;
    json_t *d = json_object_get(props, p);
    if (!d && def) {
      /* A multi-field reads the value of the field it belongs to. */
      d = json_object_get(json_object_get(def, "fields"), p);
      if (!d || dot) return NULL;
      if (consumed < cap) source_path[consumed] = 0;
      return d;
    }
    if (!d) return NULL;
    consumed = (size_t)(p - buf) + strlen(p);
    const char *t = type_of(d);
    if (t && !strcmp(t, "nested") && dot) *in_nested = 1;
    def = d;
    props = json_object_get(d, "properties");
    p = dot ? dot + 1 : NULL;
  }
  return def;
}

/* ---------------------------------------------------------------- normalizers */

static size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp) {
  if (s[0] < 0x80 || n < 2) {
    *cp = s[0];
    return 1;
  }
  if ((s[0] & 0xE0) == 0xC0) {
    *cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    return 2;
  }
  if ((s[0] & 0xF0) == 0xE0 && n >= 3) {
    *cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    return 3;
  }
  if ((s[0] & 0xF8) == 0xF0 && n >= 4) {
    *cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
  }
  *cp = s[0];
  return 1;
}

static size_t utf8_encode(unsigned cp, char *out) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static unsigned lower_cp(unsigned c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
  if (c == 0x178) return 0xFF;
  return c;
}

static unsigned upper_cp(unsigned c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & ~1u;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c : c - 1;
  return c;
}

/* ASCII folding of Latin-1 Supplement and Latin Extended-A (what Lucene's
 * ASCIIFoldingFilter does for these blocks). Writes the folding of c to out
 * and returns its length, or 0 when c does not fold. */
static size_t fold_cp(unsigned c, char *out) {
  static const char *const latin1[64] = {
      "A", "A", "A", "A", "A", "A", "AE", "C",  "E", "E", "E", "E", "I", "I", "I",  "I",
      "D", "N", "O", "O", "O", "O", "O",  NULL, "O", "U", "U", "U", "U", "Y", "TH", "ss",
      "a", "a", "a", "a", "a", "a", "ae", "c",  "e", "e", "e", "e", "i", "i", "i",  "i",
      "d", "n", "o", "o", "o", "o", "o",  NULL, "o", "u", "u", "u", "u", "y", "th", "y"};
  /* U+0100..U+017F, one letter each; '?' marks the few that fold to two. */
  static const char ext_a[] = "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi"
                              "??JjKkqLlLlLlLlLlNnNnNn?NnOoOoOo??RrRrRrSsSsSsSsTtTtTt"
                              "UuUuUuUuUuUuWwYyYZzZzZzs";
  _Static_assert(sizeof ext_a == 129, "one letter per code point of Latin Extended-A");
  const char *f = NULL;
  if (c >= 0xC0 && c <= 0xFF) f = latin1[c - 0xC0];
  if (c == 0x132) f = "IJ";
  if (c == 0x133) f = "ij";
  if (c == 0x149) f = "'n";
  if (c == 0x152) f = "OE";
  if (c == 0x153) f = "oe";
  if (!f && c >= 0x100 && c <= 0x17F) {
    out[0] = ext_a[c - 0x100];
    return 1;
  }
  if (!f) return 0;
  memcpy(out, f, strlen(f));
  return strlen(f);
}

/* Parses a mapping rule side with escapes (\\uXXXX, \\n, \\t, \\\\). */
static char *rule_side(const char *s, size_t n) {
  while (n && (*s == ' ' || *s == '\t')) {
    s++;
    n--;
  }
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  char *out = malloc(n * 4 + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\' && i + 1 < n) {
      char e = s[++i];
      if (e == 'u' && i + 4 < n) {
        char hex[5] = {0};
        memcpy(hex, s + i + 1, 4);
        o += utf8_encode((unsigned)strtoul(hex, NULL, 16), out + o);
        i += 4;
      } else {
        out[o++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      }
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = 0;
  return out;
}

static char *apply_mapping(json_t *rules, const char *in) {
  size_t nr = json_array_size(rules);
  char **from = calloc(nr + 1, sizeof *from), **to = calloc(nr + 1, sizeof *to);
  for (size_t i = 0; i < nr; i++) {
    const char *r = json_string_value(json_array_get(rules, i));
    const char *arrow = r ? strstr(r, "=>") : NULL;
    if (!arrow) continue;
    from[i] = rule_side(r, (size_t)(arrow - r));
    to[i] = rule_side(arrow + 2, strlen(arrow + 2));
  }
  size_t n = strlen(in), cap = n * 4 + 16, o = 0;
  char *out = malloc(cap);
  for (size_t p = 0; p < n;) {
    size_t best = 0, bi = 0;
    for (size_t i = 0; i < nr; i++) {
      size_t l = from[i] ? strlen(from[i]) : 0;
      if (l > best && !strncmp(in + p, from[i], l)) {
        best = l;
        bi = i;
      }
    }
    const char *piece = best ? to[bi] : in + p;
    size_t pl = best ? strlen(to[bi]) : 1;
    if (o + pl + 1 > cap) {
      cap = (o + pl + 1) * 2;
      out = realloc(out, cap);
    }
    memcpy(out + o, piece, pl);
    o += pl;
    p += best ? best : 1;
  }
  out[o] = 0;
  for (size_t i = 0; i < nr; i++) {
    free(from[i]);
    free(to[i]);
  }
  free(from);
  free(to);
  return out;
}

static char *map_codepoints(const char *in, int op) {
  size_t n = strlen(in), o = 0;
  char *out = malloc(n * 2 + 8);
  for (size_t p = 0; p < n;) {
    unsigned cp;
    p += utf8_decode((const unsigned char *)in + p, n - p, &cp);
    if (op == 'l') {
      o += utf8_encode(lower_cp(cp), out + o);
    } else if (op == 'u') {
      o += utf8_encode(upper_cp(cp), out + o);
    } else {
      size_t f = fold_cp(cp, out + o);
      o += f ? f : utf8_encode(cp, out + o);
    }
  }
  out[o] = 0;
  return out;
}

char *fos_keyword_key(fos_index *ix, json_t *fmap, const char *value) {
  const char *norm = json_string_value(json_object_get(fmap, "normalizer"));
  char *cur = strdup(value);
  if (!norm) return cur;
  if (!strcmp(norm, "lowercase")) {
    char *l = map_codepoints(cur, 'l');
    free(cur);
    return l;
  }
  json_t *analysis = analysis_of(ix->settings);
  json_t *def = json_object_get(json_object_get(analysis, "normalizer"), norm);
  json_t *cfs = list_of(json_object_get(def, "char_filter"));
  size_t i;
  json_t *f;
  json_array_foreach(cfs, i, f) {
    json_t *cd = json_object_get(json_object_get(analysis, "char_filter"), json_string_value(f));
    const char *t = type_of(cd);
    if (t && !strcmp(t, "mapping")) {
      char *next = apply_mapping(json_object_get(cd, "mappings"), cur);
      free(cur);
      cur = next;
    }
  }
  json_t *fs = list_of(json_object_get(def, "filter"));
  json_array_foreach(fs, i, f) {
    const char *fn = json_string_value(f);
    if (!fn) continue;
    json_t *fd = json_object_get(json_object_get(analysis, "filter"), fn);
    const char *t = fd ? type_of(fd) : fn;
    char *next = NULL;
    if (t && !strcmp(t, "lowercase")) next = map_codepoints(cur, 'l');
    if (t && !strcmp(t, "uppercase")) next = map_codepoints(cur, 'u');
    if (t && !strcmp(t, "asciifolding")) next = map_codepoints(cur, 'f');
    if (t && !strcmp(t, "trim")) {
      const char *s = cur;
      while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
      next = strdup(s);
      size_t l = strlen(next);
      while (l && (next[l - 1] == ' ' || next[l - 1] == '\t' || next[l - 1] == '\n'))
        next[--l] = 0;
    }
    if (next) {
      free(cur);
      cur = next;
    }
  }
  json_decref(cfs);
  json_decref(fs);
  json_decref(analysis);
  return cur;
}
