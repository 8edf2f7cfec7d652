/*
 * fake-opensearch writes: _bulk and the single-document APIs (index, create,
 * update, delete, get), which share one executor so that both follow the
 * same rules.
 *
 * Versions. Internal versioning counts 1, 2, 3... per document, continuing
 * from a tombstone. External versioning (version_type=external) stores the
 * given version and refuses a write whose version is not higher than the
 * current one (external_gte: not lower), with 409
 * version_conflict_engine_exception; a tombstone counts as current, so a
 * late replay of an older write after a delete is refused too. Deletes of
 * absent documents answer not_found (404) and still leave a tombstone.
 *
 * A bulk body is parsed whole before anything runs (a malformed action line
 * or update body fails the request with 400 and changes nothing), then each
 * item runs on its own: failures are reported per item with "errors": true.
 * Sources of index and create items are parsed per item, as OpenSearch
 * does on the shard, so a bad source fails only its item.
 */
#include "fos.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int (*fos_bulk_item_fault)(void);

enum { OP_INDEX, OP_CREATE, OP_UPDATE, OP_DELETE };
enum { V_INTERNAL, V_EXTERNAL, V_EXTERNAL_GTE };

typedef struct write_op {
  int type;
  int line; /* of the action, for messages */
  char index[300];
  char id[FOS_ID_MAX + 1];
  size_t id_len; /* before any cut, to refuse ids over FOS_ID_MAX */
  int has_id;
  int64_t version;
  int has_version;
  int vtype;
  int64_t if_seq_no, if_primary_term;
  int has_if;
  int require_alias;
  json_t *source;      /* index/create: the document; update: the update body */
  json_t *parse_cause; /* index/create: the source did not parse */
  json_t *source_opt;  /* update: "_source" of the action line */
} write_op;

static const char *const op_names[] = {"index", "create", "update", "delete"};

static void op_free(write_op *op) {
  json_decref(op->source);
  json_decref(op->parse_cause);
  json_decref(op->source_opt);
}

/* ---------------------------------------------------------------- responses */

static json_t *write_resp(fos_index *ix, const char *id, fos_doc *d, int64_t version,
                          const char *result, int noop) {
  json_t *r = json_pack("{s:s, s:s, s:I, s:s, s:{s:i, s:i, s:i}}", "_index", ix->name, "_id", id,
                        "_version", (json_int_t)version, "result", result, "_shards", "total",
                        noop ? 0 : 1 + ix->replicas, "successful", noop ? 0 : 1, "failed", 0);
  if (d && d->version >= 0) {
    json_object_set_new(r, "_seq_no", json_integer(d->seq_no));
    json_object_set_new(r, "_primary_term", json_integer(1));
  }
  return r;
}

static json_t *conflict(fos_index *ix, const char *fmt, const char *id, int64_t a, int64_t b) {
  char reason[1400];
  snprintf(reason, sizeof reason, fmt, id, (long long)a, (long long)b);
  return fos_cause_index(fos_cause("version_conflict_engine_exception", "%s", reason), ix->name,
                         ix->uuid, 0);
}

/* The result of one operation. */
typedef struct op_result {
  int status;
  json_t *item;  /* the write response, or NULL on failure */
  json_t *cause; /* the error, on failure */
  const char *index;
  char id[FOS_ID_MAX + 1];
} op_result;

static int fail(op_result *r, int status, json_t *cause) {
  r->status = status;
  r->cause = cause;
  return status;
}

/* Checks if_seq_no / if_primary_term against d (live). */
static int check_if(fos_index *ix, write_op *op, fos_doc *d, op_result *r) {
  if (!op->has_if) return 0;
  char reason[1400];
  if (!d || !d->source) {
    snprintf(reason, sizeof reason,
             "[%s]: version conflict, required seqNo [%lld], primary term [%lld]. but no "
             "document was found",
             op->id, (long long)op->if_seq_no, (long long)op->if_primary_term);
  } else if (d->seq_no != op->if_seq_no || op->if_primary_term != 1) {
    snprintf(reason, sizeof reason,
             "[%s]: version conflict, required seqNo [%lld], primary term [%lld]. current "
             "document has seqNo [%lld] and primary term [1]",
             op->id, (long long)op->if_seq_no, (long long)op->if_primary_term,
             (long long)d->seq_no);
  } else {
    return 0;
  }
  return fail(r, 409,
              fos_cause_index(fos_cause("version_conflict_engine_exception", "%s", reason),
                              ix->name, ix->uuid, 0));
}

/* Checks an external version against the current one (-1: none). */
static int check_external(fos_index *ix, write_op *op, int64_t cur, op_result *r) {
  if (op->vtype == V_EXTERNAL && cur >= 0 && cur >= op->version)
    return fail(r, 409,
                conflict(ix,
                         "[%s]: version conflict, current version [%lld] is higher or equal to "
                         "the one provided [%lld]",
                         op->id, cur, op->version));
  if (op->vtype == V_EXTERNAL_GTE && cur >= 0 && cur > op->version)
    return fail(r, 409,
                conflict(ix,
                         "[%s]: version conflict, current version [%lld] is higher than the one "
                         "provided [%lld]",
                         op->id, cur, op->version));
  return 0;
}

static json_t *wrap_parse_cause(json_t *cause) {
  json_t *e = fos_cause("mapper_parsing_exception", "failed to parse");
  json_object_set(e, "caused_by", cause);
  return e;
}

static int exec_index(fos_cluster *c, write_op *op, op_result *r) {
  fos_index *ix;
  json_t *cause;
  int st = fos_resolve_write(c, op->index, 1, op->require_alias, &ix, &cause);
  if (st) return fail(r, st, cause);
  r->index = ix->name;
  if (!op->has_id) {
    fos_random_id(op->id, 20);
    op->has_id = 1;
  }
  snprintf(r->id, sizeof r->id, "%s", op->id);
  if (op->parse_cause)
    return fail(r, 400, fos_cause_index(wrap_parse_cause(op->parse_cause), ix->name, ix->uuid, 0));
  fos_doc *d = fos_doc_get(ix, op->id);
  int64_t cur = fos_doc_version(ix, d);
  int live = d && d->source;
  if (check_if(ix, op, d, r)) return r->status;
  if (op->type == OP_CREATE && live)
    return fail(r, 409,
                fos_cause_index(fos_cause("version_conflict_engine_exception",
                                          "[%s]: version conflict, document already exists "
                                          "(current version [%lld])",
                                          op->id, (long long)cur),
                                ix->name, ix->uuid, 0));
  if (check_external(ix, op, cur, r)) return r->status;
  if ((cause = fos_doc_check(ix, op->id, op->source)))
    return fail(r, 400, fos_cause_index(cause, ix->name, ix->uuid, -1));
  int64_t v = op->vtype != V_INTERNAL ? op->version : cur >= 0 ? cur + 1 : 1;
  d = fos_doc_slot(ix, op->id);
  fos_doc_set(ix, d, json_incref(op->source), v);
  r->status = live ? 200 : 201;
  r->item = write_resp(ix, op->id, d, v, live ? "updated" : "created", 0);
  return 0;
}

static int exec_delete(fos_cluster *c, write_op *op, op_result *r) {
  fos_index *ix;
  json_t *cause;
  snprintf(r->id, sizeof r->id, "%s", op->id);
  /* As OpenSearch: a delete creates a missing index only when externally versioned. */
  int st = fos_resolve_write(c, op->index, op->vtype != V_INTERNAL, op->require_alias, &ix, &cause);
  if (st) return fail(r, st, cause);
  r->index = ix->name;
  fos_doc *d = fos_doc_get(ix, op->id);
  int64_t cur = fos_doc_version(ix, d);
  int live = d && d->source;
  if (check_if(ix, op, d, r)) return r->status;
  if (check_external(ix, op, cur, r)) return r->status;
  int64_t v = op->vtype != V_INTERNAL ? op->version : cur >= 0 ? cur + 1 : 1;
  d = fos_doc_slot(ix, op->id);
  fos_doc_set(ix, d, NULL, v);
  r->status = live ? 200 : 404;
  r->item = write_resp(ix, op->id, d, v, live ? "deleted" : "not_found", 0);
  return 0;
}

/* The "get" part of an update response when _source was asked for. */
static int add_get(write_op *op, op_result *r, fos_doc *d, fos_req *rq, json_t *body_opt) {
  fos_source_filter f;
  json_t *cause = NULL, *want = op->source_opt ? op->source_opt : body_opt;
  int from_params = rq && (fos_param(rq, "_source") || fos_param(rq, "_source_includes") ||
                           fos_param(rq, "_source_excludes"));
  if (!want && !from_params) return 0;
  if (fos_source_filter_parse(want, rq, &f, &cause)) {
    json_decref(cause);
    return 0;
  }
  if (f.enabled && d && d->source) {
    json_t *g = json_pack("{s:I, s:i, s:b, s:o}", "_seq_no", (json_int_t)d->seq_no, "_primary_term",
                          1, "found", 1, "_source", fos_source_filter_apply(&f, d->source));
    json_object_set_new(r->item, "get", g);
  }
  fos_source_filter_free(&f);
  return 0;
}

static int exec_update(fos_cluster *c, write_op *op, op_result *r, fos_req *rq) {
  fos_index *ix;
  json_t *cause;
  snprintf(r->id, sizeof r->id, "%s", op->id);
  int st = fos_resolve_write(c, op->index, 1, op->require_alias, &ix, &cause);
  if (st) return fail(r, st, cause);
  r->index = ix->name;
  json_t *b = op->source;
  json_t *doc = json_object_get(b, "doc"), *upsert = json_object_get(b, "upsert");
  json_t *script = json_object_get(b, "script");
  int doc_as_upsert = json_is_true(json_object_get(b, "doc_as_upsert"));
  int scripted_upsert = json_is_true(json_object_get(b, "scripted_upsert"));
  int detect_noop = !json_is_false(json_object_get(b, "detect_noop"));
  fos_doc *d = fos_doc_get(ix, op->id);
  int64_t cur = fos_doc_version(ix, d);
  int live = d && d->source;
  json_t *next = NULL;
  const char *result = NULL;
  if (!live) {
    if (script && scripted_upsert) {
      json_t *ctx = json_pack("{s:o, s:s}", "_source",
                              json_deep_copy(upsert ? upsert : json_object()), "op", "create");
      if ((cause = fos_script_run(script, ctx))) {
        json_decref(ctx);
        return fail(r, 400, fos_cause_index(cause, ix->name, ix->uuid, 0));
      }
      const char *sop = json_string_value(json_object_get(ctx, "op"));
      if (sop && (!strcmp(sop, "none") || !strcmp(sop, "noop"))) {
        json_decref(ctx);
        r->status = 200;
        r->item = write_resp(ix, op->id, NULL, -1, "noop", 1);
        return 0;
      }
      next = json_incref(json_object_get(ctx, "_source"));
      json_decref(ctx);
    } else if (upsert) {
      next = json_deep_copy(upsert);
    } else if (doc && doc_as_upsert) {
      next = json_deep_copy(doc);
    } else {
      json_t *e = fos_cause("document_missing_exception", "[%s]: document missing", op->id);
      return fail(r, 404, fos_cause_index(e, ix->name, ix->uuid, 0));
    }
    result = "created";
  } else {
    if (check_if(ix, op, d, r)) return r->status;
    if (script) {
      json_t *ctx =
          json_pack("{s:o, s:s, s:s, s:s, s:I}", "_source", json_deep_copy(d->source), "op",
                    "index", "_id", op->id, "_index", ix->name, "_version", (json_int_t)d->version);
      if ((cause = fos_script_run(script, ctx))) {
        json_decref(ctx);
        return fail(r, 400, fos_cause_index(cause, ix->name, ix->uuid, 0));
      }
      const char *sop = json_string_value(json_object_get(ctx, "op"));
      if (sop && (!strcmp(sop, "none") || !strcmp(sop, "noop"))) {
        result = "noop";
      } else if (sop && !strcmp(sop, "delete")) {
        result = "deleted";
      } else {
        next = json_incref(json_object_get(ctx, "_source"));
        result = "updated";
      }
      json_decref(ctx);
    } else {
      next = fos_merge(d->source, doc);
      result = "updated";
      if (detect_noop && json_equal(next, d->source)) {
        json_decref(next);
        next = NULL;
        result = "noop";
      }
    }
  }
  if (!strcmp(result, "noop")) {
    r->status = 200;
    r->item = write_resp(ix, op->id, d, d->version, "noop", 1);
    add_get(op, r, d, rq, json_object_get(b, "_source"));
    return 0;
  }
  if (next && (cause = fos_doc_check(ix, op->id, next))) {
    json_decref(next);
    return fail(r, 400, fos_cause_index(cause, ix->name, ix->uuid, -1));
  }
  int64_t v = cur >= 0 ? cur + 1 : 1;
  d = fos_doc_slot(ix, op->id);
  fos_doc_set(ix, d, next, v);
  r->status = !strcmp(result, "created") ? 201 : 200;
  r->item = write_resp(ix, op->id, d, v, result, 0);
  add_get(op, r, d, rq, json_object_get(b, "_source"));
  return 0;
}

static int exec_op(fos_cluster *c, write_op *op, op_result *r, fos_req *rq) {
  memset(r, 0, sizeof *r);
  r->index = op->index;
  snprintf(r->id, sizeof r->id, "%s", op->id);
  switch (op->type) {
  case OP_INDEX:
  case OP_CREATE:
    return exec_index(c, op, r);
  case OP_DELETE:
    return exec_delete(c, op, r);
  default:
    return exec_update(c, op, r, rq);
  }
}

/* ---------------------------------------------------------------- parsing */

static int parse_vtype(const char *s, int *out) {
  if (!strcmp(s, "internal"))
    *out = V_INTERNAL;
  else if (!strcmp(s, "external"))
    *out = V_EXTERNAL;
  else if (!strcmp(s, "external_gte"))
    *out = V_EXTERNAL_GTE;
  else
    return -1;
  return 0;
}

/* Validates an operation as OpenSearch's request validation does; returns
 * a message for "Validation Failed" or NULL. */
static const char *validate_op(write_op *op, char *buf, size_t cap) {
  if (!op->index[0]) return "index is missing";
  if ((op->type == OP_UPDATE || op->type == OP_DELETE) && !op->has_id) return "id is missing";
  if (op->has_id && op->id_len > FOS_ID_MAX) {
    snprintf(buf, cap, "id [%.40s...] is too long, must be no longer than 512 bytes but was: %zu",
             op->id, op->id_len);
    return buf;
  }
  if (op->type == OP_CREATE && op->vtype != V_INTERNAL)
    return "create operations only support internal versioning. use index instead";
  if (op->type == OP_UPDATE && (op->vtype != V_INTERNAL || op->has_version))
    return "can't provide version in update requests";
  if (op->vtype == V_INTERNAL && op->has_version)
    return "internal versioning can not be used for optimistic concurrency control. Please use "
           "`if_seq_no` and `if_primary_term` instead";
  if (op->vtype != V_INTERNAL && (!op->has_version || op->version < 0)) {
    snprintf(buf, cap, "illegal version value [%lld] for version type [%s]",
             (long long)(op->has_version ? op->version : -3),
             op->vtype == V_EXTERNAL ? "EXTERNAL" : "EXTERNAL_GTE");
    return buf;
  }
  if (op->has_if && op->vtype != V_INTERNAL)
    return "compare and write operations can not use versioning";
  if (op->type == OP_UPDATE && op->source && !json_object_get(op->source, "doc") &&
      !json_object_get(op->source, "script"))
    return "script or doc is missing";
  return NULL;
}

static int validation_failed(fos_reply *rp, const char *msg) {
  fos_reply_error(
      rp, 400, fos_cause("action_request_validation_exception", "Validation Failed: 1: %s;", msg));
  return -1;
}

/* Reads the metadata of an action line into op. */
static json_t *parse_meta(json_t *meta, write_op *op, int line) {
  static const char *const known[] = {"_index",          "_id",
                                      "routing",         "version",
                                      "version_type",    "if_seq_no",
                                      "if_primary_term", "pipeline",
                                      "require_alias",   "retry_on_conflict",
                                      "_source",         "dynamic_templates",
                                      "op_type",         NULL};
  const char *k;
  json_t *v;
  json_object_foreach(meta, k, v) {
    int ok = 0;
    for (int i = 0; known[i]; i++)
      ok |= !strcmp(k, known[i]);
    if (!ok)
      return fos_cause("illegal_argument_exception",
                       "Action/metadata line [%d] contains an unknown parameter [%s]", line, k);
    if (!strcmp(k, "_index") && json_is_string(v)) {
      snprintf(op->index, sizeof op->index, "%s", json_string_value(v));
    } else if (!strcmp(k, "_id") && (json_is_string(v) || json_is_integer(v))) {
      if (json_is_string(v)) {
        snprintf(op->id, sizeof op->id, "%s", json_string_value(v));
        op->id_len = strlen(json_string_value(v));
      } else
        snprintf(op->id, sizeof op->id, "%lld", (long long)json_integer_value(v));
      op->has_id = 1;
    } else if (!strcmp(k, "version") && json_is_integer(v)) {
      op->version = json_integer_value(v);
      op->has_version = 1;
    } else if (!strcmp(k, "version_type") && json_is_string(v)) {
      if (parse_vtype(json_string_value(v), &op->vtype))
        return fos_cause("illegal_argument_exception", "No version type match [%s]",
                         json_string_value(v));
    } else if (!strcmp(k, "if_seq_no") && json_is_integer(v)) {
      op->if_seq_no = json_integer_value(v);
      op->has_if = 1;
    } else if (!strcmp(k, "if_primary_term") && json_is_integer(v)) {
      op->if_primary_term = json_integer_value(v);
      op->has_if = 1;
    } else if (!strcmp(k, "require_alias")) {
      op->require_alias = json_is_true(v);
    } else if (!strcmp(k, "_source")) {
      op->source_opt = json_incref(v);
    } else if (!strcmp(k, "pipeline") && json_is_string(v) &&
               strcmp(json_string_value(v), "_none")) {
      return fos_cause("illegal_argument_exception", "pipeline with id [%s] does not exist",
                       json_string_value(v));
    } else if (!strcmp(k, "op_type") && json_is_string(v)) {
      if (!strcmp(json_string_value(v), "create") && op->type == OP_INDEX) op->type = OP_CREATE;
    } else if (!strcmp(k, "_index") || !strcmp(k, "_id") || !strcmp(k, "version") ||
               !strcmp(k, "version_type") || !strcmp(k, "if_seq_no") ||
               !strcmp(k, "if_primary_term")) {
      return fos_cause("illegal_argument_exception",
                       "Malformed action/metadata line [%d], expected a simple value for field "
                       "[%s] but found [%s]",
                       line, k, json_is_object(v) ? "START_OBJECT" : "VALUE");
    }
  }
  return NULL;
}

static json_t *check_update_body(json_t *b, int line) {
  static const char *const known[] = {
      "doc",  "upsert",    "doc_as_upsert",   "script", "scripted_upsert", "detect_noop", "_source",
      "lang", "if_seq_no", "if_primary_term", NULL};
  if (!json_is_object(b))
    return fos_cause("x_content_parse_exception", "[%d:1] update body must be an object", line);
  const char *k;
  json_t *v;
  json_object_foreach(b, k, v) {
    int ok = 0;
    for (int i = 0; known[i]; i++)
      ok |= !strcmp(k, known[i]);
    if (!ok)
      return fos_cause("x_content_parse_exception", "[%d:2] [UpdateRequest] unknown field [%s]",
                       line, k);
  }
  json_t *doc = json_object_get(b, "doc"), *upsert = json_object_get(b, "upsert");
  if ((doc && !json_is_object(doc)) || (upsert && !json_is_object(upsert)))
    return fos_cause("x_content_parse_exception",
                     "[%d:2] [UpdateRequest] failed to parse field [%s]", line,
                     doc && !json_is_object(doc) ? "doc" : "upsert");
  return NULL;
}

/* ---------------------------------------------------------------- _bulk */

static int refresh_param(fos_req *rq, fos_reply *rp, int *out) {
  const char *r = fos_param(rq, "refresh");
  *out = 0;
  if (!r || !strcmp(r, "false")) return 0;
  if (!*r || !strcmp(r, "true"))
    *out = 1;
  else if (!strcmp(r, "wait_for"))
    *out = 2;
  else {
    fos_reply_error(rp, 400,
                    fos_cause("illegal_argument_exception", "Unknown value for refresh: [%s].", r));
    return -1;
  }
  return 0;
}

void fos_api_bulk(fos_req *rq, fos_reply *rp) {
  const char *dflt = rq->pv_index ? rq->pv_index : fos_param(rq, "index");
  int refresh, require_alias = fos_param_bool(rq, "require_alias", 0);
  if (refresh_param(rq, rp, &refresh)) return;
  const char *pipeline = fos_param(rq, "pipeline");
  if (pipeline && strcmp(pipeline, "_none")) {
    fos_reply_error(
        rp, 400,
        fos_cause("illegal_argument_exception", "pipeline with id [%s] does not exist", pipeline));
    return;
  }
  const char *p = rq->body, *end = rq->body + rq->body_len;
  if (rq->body_len && end[-1] != '\n') {
    fos_reply_error(rp, 400,
                    fos_cause("illegal_argument_exception",
                              "The bulk request must be terminated by a newline [\\n]"));
    return;
  }
  size_t cap = 64, n = 0;
  write_op *ops = calloc(cap, sizeof *ops);
  json_t *err = NULL;
  int line = 0;
  char vbuf[300];
  const char *vmsg = NULL;
  while (p < end && !err && !vmsg) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = (size_t)(nl - p);
    line++;
    const char *q = p;
    while (q < nl && (*q == ' ' || *q == '\t' || *q == '\r'))
      q++;
    if (q == nl) { /* blank line */
      p = nl + 1;
      continue;
    }
    json_t *cause, *a = fos_json_parse(p, len, &cause);
    p = nl + 1;
    if (!a) {
      err = cause;
      break;
    }
    const char *action = NULL;
    json_t *meta = NULL;
    if (json_is_object(a) && json_object_size(a) == 1) {
      action = json_object_iter_key(json_object_iter(a));
      meta = json_object_iter_value(json_object_iter(a));
    }
    int type = -1;
    for (int i = 0; action && i < 4; i++) {
      if (!strcmp(action, op_names[i])) type = i;
    }
    if (!json_is_object(a) || json_object_size(a) != 1) {
      err = fos_cause("illegal_argument_exception",
                      "Malformed action/metadata line [%d], expected FIELD_NAME but found [%s]",
                      line, json_is_object(a) ? "END_OBJECT" : "VALUE");
    } else if (type < 0) {
      err = fos_cause("illegal_argument_exception",
                      "Malformed action/metadata line [%d], expected one of [create, delete, "
                      "index, update] but found [%s]",
                      line, action);
    } else if (!json_is_object(meta)) {
      err = fos_cause("illegal_argument_exception",
                      "Malformed action/metadata line [%d], expected START_OBJECT but found [%s]",
                      line, json_is_array(meta) ? "START_ARRAY" : "VALUE_STRING");
    }
    if (err) {
      json_decref(a);
      break;
    }
    if (n == cap) {
      cap *= 2;
      write_op *more = realloc(ops, cap * sizeof *ops);
      if (!more) abort();
      ops = more;
    }
    write_op *op = &ops[n++];
    memset(op, 0, sizeof *op);
    op->type = type;
    op->line = line;
    op->require_alias = require_alias;
    if (dflt) snprintf(op->index, sizeof op->index, "%s", dflt);
    err = parse_meta(meta, op, line);
    json_decref(a);
    if (err) break;
    if (op->type != OP_DELETE) {
      if (p >= end) {
        err = fos_cause("illegal_argument_exception",
                        "The bulk request must be terminated by a newline [\\n]");
        break;
      }
      nl = memchr(p, '\n', (size_t)(end - p));
      line++;
      json_t *src = fos_json_parse(p, (size_t)(nl - p), &cause);
      p = nl + 1;
      if (op->type == OP_UPDATE) {
        if (!src) {
          err = cause;
          break;
        }
        op->source = src;
        if ((err = check_update_body(src, line))) break;
      } else {
        op->source = src;
        op->parse_cause = cause;
      }
    }
    vmsg = validate_op(op, vbuf, sizeof vbuf);
  }
  if (!err && !vmsg && n == 0) vmsg = "no requests added";
  if (err || vmsg) {
    if (err)
      fos_reply_error(rp, 400, err);
    else
      validation_failed(rp, vmsg);
    for (size_t i = 0; i < n; i++)
      op_free(&ops[i]);
    free(ops);
    return;
  }
  json_t *items = json_array();
  int errors = 0;
  fos_index *touched[64];
  size_t ntouched = 0;
  for (size_t i = 0; i < n; i++) {
    write_op *op = &ops[i];
    op_result r;
    int fault = fos_bulk_item_fault ? fos_bulk_item_fault() : 0;
    if (fault) {
      memset(&r, 0, sizeof r);
      fos_index *ix = NULL;
      json_t *ignore = NULL;
      if (fos_resolve_write(rq->c, op->index, 0, 0, &ix, &ignore)) json_decref(ignore);
      r.index = ix ? ix->name : op->index;
      snprintf(r.id, sizeof r.id, "%s", op->id);
      if (fault == 429)
        fail(&r, 429,
             fos_cause("rejected_execution_exception",
                       "rejected execution of coordinating operation (injected by "
                       "fake-opensearch: bulk_item_429_rate)"));
      else
        fail(&r, 500,
             fos_cause("exception", "injected failure (fake-opensearch: "
                                    "bulk_item_500_rate)"));
    } else {
      exec_op(rq->c, op, &r, rq);
    }
    json_t *body;
    if (r.item) {
      body = r.item;
      if (refresh == 1) json_object_set_new(body, "forced_refresh", json_true());
      json_object_set_new(body, "status", json_integer(r.status));
      fos_index *ix = fos_index_get(rq->c, r.index);
      int seen = 0;
      for (size_t k = 0; k < ntouched; k++)
        seen |= touched[k] == ix;
      if (ix && !seen && ntouched < 64) touched[ntouched++] = ix;
    } else {
      errors = 1;
      body = json_pack("{s:s, s:s, s:i, s:o}", "_index", r.index, "_id", r.id, "status", r.status,
                       "error", r.cause);
    }
    json_array_append_new(items, json_pack("{s:o}", op_names[op->type], body));
    op_free(op);
  }
  free(ops);
  if (refresh) {
    for (size_t k = 0; k < ntouched; k++)
      fos_index_refresh(touched[k]);
  }
  fos_reply_json(rp, 200,
                 json_pack("{s:I, s:b, s:o}", "took", (json_int_t)(fos_now_ms() - rq->start_ms),
                           "errors", errors, "items", items));
}

/* ---------------------------------------------------------------- single documents */

/* Fills version, version_type, if_* and require_alias of op from the query. */
static int op_from_params(fos_req *rq, fos_reply *rp, write_op *op) {
  const char *s;
  if ((s = fos_param(rq, "version"))) {
    if (fos_parse_i64(s, &op->version)) {
      fos_reply_error(rp, 400,
                      fos_cause("illegal_argument_exception",
                                "Failed to parse long parameter [version] with value [%s]", s));
      return -1;
    }
    op->has_version = 1;
  }
  if ((s = fos_param(rq, "version_type")) && parse_vtype(s, &op->vtype)) {
    fos_reply_error(rp, 400,
                    fos_cause("illegal_argument_exception", "No version type match [%s]", s));
    return -1;
  }
  const char *sn = fos_param(rq, "if_seq_no"), *pt = fos_param(rq, "if_primary_term");
  if (sn || pt) {
    op->has_if = 1;
    if ((sn && fos_parse_i64(sn, &op->if_seq_no)) ||
        (pt && fos_parse_i64(pt, &op->if_primary_term))) {
      fos_reply_error(rp, 400,
                      fos_cause("illegal_argument_exception", "bad if_seq_no or if_primary_term"));
      return -1;
    }
  }
  op->require_alias = fos_param_bool(rq, "require_alias", 0) == 1;
  const char *pipeline = fos_param(rq, "pipeline");
  if (pipeline && strcmp(pipeline, "_none")) {
    fos_reply_error(
        rp, 400,
        fos_cause("illegal_argument_exception", "pipeline with id [%s] does not exist", pipeline));
    return -1;
  }
  snprintf(op->index, sizeof op->index, "%s", rq->pv_index);
  if (rq->pv_id) {
    snprintf(op->id, sizeof op->id, "%s", rq->pv_id);
    op->id_len = strlen(rq->pv_id);
    op->has_id = 1;
  }
  return 0;
}

static void run_single(fos_req *rq, fos_reply *rp, write_op *op) {
  char vbuf[300];
  int refresh;
  if (refresh_param(rq, rp, &refresh)) {
    op_free(op);
    return;
  }
  const char *msg = validate_op(op, vbuf, sizeof vbuf);
  if (msg) {
    validation_failed(rp, msg);
    op_free(op);
    return;
  }
  op_result r;
  exec_op(rq->c, op, &r, rq);
  if (r.item) {
    fos_index *ix = fos_index_get(rq->c, r.index);
    if (refresh && ix) fos_index_refresh(ix);
    if (refresh == 1) json_object_set_new(r.item, "forced_refresh", json_true());
    fos_reply_json(rp, r.status, r.item);
  } else {
    fos_reply_error(rp, r.status, r.cause);
  }
  op_free(op);
}

static void single_write(fos_req *rq, fos_reply *rp, int type) {
  write_op op;
  memset(&op, 0, sizeof op);
  op.type = type;
  if (op_from_params(rq, rp, &op)) return;
  const char *ot = fos_param(rq, "op_type");
  if (ot && !strcmp(ot, "create") && type == OP_INDEX) op.type = OP_CREATE;
  if (type != OP_DELETE) {
    json_t *cause;
    json_t *body = rq->body_len ? fos_json_parse(rq->body, rq->body_len, &cause) : NULL;
    if (!rq->body_len) {
      validation_failed(rp, type == OP_UPDATE ? "script or doc is missing" : "source is missing");
      return;
    }
    if (!body) {
      if (type == OP_UPDATE) {
        fos_reply_error(rp, 400, cause);
        return;
      }
      op.parse_cause = cause;
    }
    op.source = body;
    if (type == OP_UPDATE && (cause = check_update_body(body, 1))) {
      fos_reply_error(rp, 400, cause);
      op_free(&op);
      return;
    }
  }
  run_single(rq, rp, &op);
}

void fos_api_doc_index(fos_req *rq, fos_reply *rp) {
  single_write(rq, rp, OP_INDEX);
}

void fos_api_doc_create(fos_req *rq, fos_reply *rp) {
  single_write(rq, rp, OP_CREATE);
}

void fos_api_doc_delete(fos_req *rq, fos_reply *rp) {
  single_write(rq, rp, OP_DELETE);
}

void fos_api_doc_update(fos_req *rq, fos_reply *rp) {
  single_write(rq, rp, OP_UPDATE);
}

void fos_api_doc_get(fos_req *rq, fos_reply *rp) {
  fos_resolve_opts o = {0, 0};
  fos_index **ixs;
  size_t n;
  json_t *cause;
  int head = !strcmp(rq->method, "HEAD");
  int st = fos_resolve(rq->c, rq->pv_index, o, &ixs, &n, &cause);
  if (st) {
    fos_reply_error(rp, st, cause);
    return;
  }
  if (n != 1) {
    fos_reply_error(rp, 400,
                    fos_cause("illegal_argument_exception",
                              "alias [%s] has more than one index associated with it, "
                              "can't execute a single index op",
                              rq->pv_index));
    free(ixs);
    return;
  }
  fos_index *ix = ixs[0];
  free(ixs);
  if (fos_param_bool(rq, "refresh", 0) == 1) fos_index_refresh(ix);
  fos_doc *d = fos_doc_get(ix, rq->pv_id);
  int realtime = fos_param_bool(rq, "realtime", 1) != 0;
  json_t *src = d ? (realtime ? d->source : d->visible) : NULL;
  if (!src) {
    fos_reply_json(
        rp, 404,
        head ? NULL
             : json_pack("{s:s, s:s, s:b}", "_index", ix->name, "_id", rq->pv_id, "found", 0));
    return;
  }
  const char *vs = fos_param(rq, "version");
  int64_t want;
  if (vs && !fos_parse_i64(vs, &want) && want != d->version) {
    fos_reply_error(rp, 409,
                    conflict(ix,
                             "[%s]: version conflict, current version [%lld] is different than "
                             "the one provided [%lld]",
                             rq->pv_id, d->version, want));
    return;
  }
  if (head) {
    fos_reply_json(rp, 200, NULL);
    return;
  }
  json_t *r = json_pack("{s:s, s:s, s:I, s:I, s:i, s:b}", "_index", ix->name, "_id", rq->pv_id,
                        "_version", (json_int_t)d->version, "_seq_no", (json_int_t)d->seq_no,
                        "_primary_term", 1, "found", 1);
  fos_source_filter f;
  if (fos_source_filter_parse(NULL, rq, &f, &cause)) {
    json_decref(r);
    fos_reply_error(rp, 400, cause);
    return;
  }
  if (f.enabled) json_object_set_new(r, "_source", fos_source_filter_apply(&f, src));
  fos_source_filter_free(&f);
  fos_reply_json(rp, 200, r);
}
