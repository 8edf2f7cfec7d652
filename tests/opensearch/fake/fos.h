/*
 * fake-opensearch internals: the in-memory cluster and the pieces that act
 * on it. One lock (fos_cluster.lock) guards everything below; every handler
 * runs with it held, so none of these functions lock by themselves.
 *
 * Ownership. Documents' sources are jansson objects that are never changed
 * once stored: an update builds a new object and swaps it in, so a source
 * may be shared (json_incref) between the live view, the searchable view
 * and a reply under construction. Strings returned by fos_* functions are
 * owned by the caller unless a comment says otherwise.
 */
#ifndef FOS_H
#define FOS_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define FOS_BODY_MAX ((size_t)64 << 20) /* request body, before and after gunzip */
#define FOS_JSON_DEPTH_MAX 200          /* nesting of any JSON we parse */
#define FOS_VERSION_NUMBER "2.19.0"     /* what GET / reports */
#define FOS_ID_MAX 512                  /* bytes of a document id (OpenSearch's limit) */

/* ---------------------------------------------------------------- replies */

/* An HTTP answer: status and JSON body (owned; NULL = empty body). */
typedef struct fos_reply {
  int status;
  json_t *body;
} fos_reply;

/* Builds an error cause {"type", "reason", ...}; reason is printf-style. */
json_t *fos_cause(const char *type, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds "index" and "index_uuid" (and "shard" when shard >= 0) to a cause. */
json_t *fos_cause_index(json_t *cause, const char *index, const char *uuid, int shard);
/* Sets rp to OpenSearch's error body {"error": {root_cause, ...}, "status"}.
 * Takes ownership of cause. */
void fos_reply_error(fos_reply *rp, int status, json_t *cause);
/* Sets rp to a status and body (ownership of body taken). */
void fos_reply_json(fos_reply *rp, int status, json_t *body);

/* ---------------------------------------------------------------- small helpers */

/* Parses JSON text with our limits (depth, duplicate keys). On failure
 * returns NULL and sets *cause to a json_parse_exception. */
json_t *fos_json_parse(const char *text, size_t len, json_t **cause);
/* 1 when s matches the glob pattern (only '*' is special). */
int fos_glob(const char *pattern, const char *s);
/* Splits a comma list into a new JSON array of strings (empty parts dropped). */
json_t *fos_split_commas(const char *s);
/* Milliseconds: wall clock and monotonic. */
int64_t fos_now_ms(void);
int64_t fos_mono_ms(void);
/* Parses an OpenSearch time value ("1s", "500ms", "-1", "2m"); returns 0 on
 * success with *ms set (-1 for "-1"). */
int fos_parse_time(const char *s, int64_t *ms);
/* Parses an integer text fully; returns 0 on success. */
int fos_parse_i64(const char *s, int64_t *out);
/* A random id of n characters from the URL-safe base64 alphabet. */
void fos_random_id(char *out, size_t n);
/* Deep merge: keys of `over` replace or (objects) merge into a copy of `base`. */
json_t *fos_merge(json_t *base, json_t *over);
/* Logs one line to stderr in the project's format. */
void fos_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------- the cluster */

typedef struct fos_doc {
  char *id;
  json_t *source;  /* live; NULL when deleted (a tombstone) */
  int64_t version; /* live version; a tombstone keeps the delete's */
  int64_t seq_no;
  int64_t deleted_ms; /* when it became a tombstone */
  json_t *visible;    /* the source as of the last refresh; NULL = not searchable */
  int64_t visible_seq;
  int dirty; /* changed since the last refresh */
} fos_doc;

typedef struct fos_index {
  char *name;
  char uuid[24];
  json_t *settings; /* flat: "index.number_of_shards" -> "1" (strings or arrays) */
  json_t *mappings; /* as accepted */
  json_t *aliases;  /* alias name -> properties */
  int64_t created_ms;
  int shards, replicas;
  int64_t refresh_ms; /* refresh interval; -1 = only on request */
  int64_t gc_deletes; /* tombstone lifetime in ms; -1 = forever */
  int64_t max_window; /* index.max_result_window */
  int64_t nested_max; /* index.mapping.nested_objects.limit */
  int64_t last_refresh;
  int64_t next_seq;
  fos_doc **slot;
  size_t cap, used; /* hash table of documents by id (tombstones included) */
  size_t live;      /* documents with a source */
  fos_doc **dirty;
  size_t ndirty, capdirty;
} fos_index;

typedef struct fos_cluster {
  pthread_mutex_t lock;
  fos_index **ix;
  size_t n, cap;
  json_t *templates; /* composable index templates: name -> body */
  char uuid[24];
  int64_t gc_deletes_default; /* -1 = keep tombstones forever (see README) */
  int icu_plugin;             /* accept analysis-icu components and types */
} fos_cluster;

void fos_cluster_init(fos_cluster *c);
void fos_cluster_reset(fos_cluster *c); /* drops every index and template */
void fos_cluster_free(fos_cluster *c);

fos_index *fos_index_get(fos_cluster *c, const char *name);
/* Checks an index (or alias) name; returns NULL or an
 * invalid_index_name_exception cause. */
json_t *fos_check_index_name(const char *name, const char *what);
/* Creates an index from a create-index body (may be NULL), applying the
 * matching templates. Returns 0 or an HTTP status with *cause set. */
int fos_index_create(fos_cluster *c, const char *name, json_t *body, fos_index **out,
                     json_t **cause);
void fos_index_delete(fos_cluster *c, fos_index *ix);
/* Makes pending writes searchable. */
void fos_index_refresh(fos_index *ix);
/* Refreshes when the refresh interval has passed (what a search sees). */
void fos_index_maybe_refresh(fos_index *ix);
fos_doc *fos_doc_get(fos_index *ix, const char *id);
/* Finds or adds the entry for id (a fresh entry has no source, version 0). */
fos_doc *fos_doc_slot(fos_index *ix, const char *id);
/* Replaces a document's live source (NULL deletes) and marks it dirty. */
void fos_doc_set(fos_index *ix, fos_doc *d, json_t *source, int64_t version);
/* Current version of d for version checks; 0 when absent or forgotten. */
int64_t fos_doc_version(const fos_index *ix, const fos_doc *d);

/* Index expressions. Resolves a read target ("a,b", wildcards, aliases,
 * _all) to a new array of indices (caller frees the array, not the indices).
 * Returns 0 or an HTTP status with *cause set. */
typedef struct fos_resolve_opts {
  int ignore_unavailable;
  int allow_no_indices;
} fos_resolve_opts;
int fos_resolve(fos_cluster *c, const char *expr, fos_resolve_opts o, fos_index ***out, size_t *n,
                json_t **cause);
/* Resolves a write target: an index, or an alias's write index; creates a
 * missing index when `create` is set. Returns 0 or a status with *cause. */
int fos_resolve_write(fos_cluster *c, const char *name, int create, int require_alias,
                      fos_index **out, json_t **cause);
/* 1 when name is an alias of some index. */
int fos_is_alias(fos_cluster *c, const char *name);

/* Aliases as one atomic change: validates a whole _aliases action list
 * against a copy of the alias state and applies it only if all is well. */
int fos_aliases_apply(fos_cluster *c, json_t *actions, json_t **cause);

/* ---------------------------------------------------------------- mappings (mapping.c) */

/* Normalizes and checks settings into the flat form; returns NULL with
 * *cause set on error. `create` rejects private settings. */
json_t *fos_settings_normalize(json_t *settings, json_t **cause);
/* Nests flat settings for output ({"index": {"number_of_shards": "1"}}). */
json_t *fos_settings_nest(json_t *flat);
/* Checks the analysis settings and the mappings together. */
json_t *fos_mappings_check(fos_cluster *c, json_t *flat_settings, json_t *mappings);
/* Checks a document against the index mapping; returns NULL or a cause
 * (mapper_parsing_exception, strict_dynamic_mapping_exception, ...). */
json_t *fos_doc_check(fos_index *ix, const char *id, json_t *source);
/* Finds the mapping of a field path ("name.sort", "turns.text"); sets
 * *source_path to the path of the value in _source (multi-fields read their
 * parent) and *in_nested when the path crosses a nested field. */
json_t *fos_field_mapping(fos_index *ix, const char *field, char *source_path, size_t cap,
                          int *in_nested);
/* The sort/term key of a keyword value: applies the field's normalizer
 * (mapping char filters, lowercase, uppercase, asciifolding, trim). */
char *fos_keyword_key(fos_index *ix, json_t *field_mapping, const char *value);

/* ---------------------------------------------------------------- API pieces */

typedef struct fos_req {
  fos_cluster *c;
  const char *method;
  const char *path;
  const char *pv_index, *pv_id, *pv_name; /* path variables, NULL when absent */
  char segs[8][1024];                     /* the path's segments, which pv_* point into */
  json_t *query;                          /* query parameters: name -> string */
  const char *body;
  size_t body_len;
  int64_t start_ms;
} fos_req;

/* Query parameter helpers. */
const char *fos_param(fos_req *rq, const char *name);
/* Boolean parameter: absent -> dflt; "", "true" -> 1; "false" -> 0; else -1. */
int fos_param_bool(fos_req *rq, const char *name, int dflt);
/* Parses the request body as a JSON object (an empty body gives NULL and 0).
 * Returns -1 with an error reply set. */
int fos_body_object(fos_req *rq, fos_reply *rp, json_t **out);

void fos_api_bulk(fos_req *rq, fos_reply *rp);
void fos_api_doc_index(fos_req *rq, fos_reply *rp);  /* PUT|POST /{index}/_doc[/{id}] */
void fos_api_doc_create(fos_req *rq, fos_reply *rp); /* PUT|POST /{index}/_create/{id} */
void fos_api_doc_delete(fos_req *rq, fos_reply *rp);
void fos_api_doc_update(fos_req *rq, fos_reply *rp);
void fos_api_doc_get(fos_req *rq, fos_reply *rp); /* GET and HEAD */
void fos_api_search(fos_req *rq, fos_reply *rp);
void fos_api_count(fos_req *rq, fos_reply *rp);

/* Source filtering (_source: bool, "a,b", ["a*"], {includes, excludes}). */
typedef struct fos_source_filter {
  int enabled;
  json_t *includes, *excludes; /* arrays of patterns, owned */
} fos_source_filter;
/* Reads a filter from a body value and/or the query parameters. Returns 0,
 * or -1 with *cause set. */
int fos_source_filter_parse(json_t *body_value, fos_req *rq, fos_source_filter *f, json_t **cause);
/* Applies a filter to a source; returns a new reference (NULL if disabled). */
json_t *fos_source_filter_apply(const fos_source_filter *f, json_t *source);
void fos_source_filter_free(fos_source_filter *f);

/* Fault injection hook for bulk items, set by main.c: returns 0, 429 or
 * 500 for each item about to execute. */
extern int (*fos_bulk_item_fault)(void);

/* Painless subset (script.c). Runs an update script against ctx: {_source,
 * op}. Returns NULL or a script_exception cause. */
json_t *fos_script_run(json_t *script, json_t *ctx);

#endif
