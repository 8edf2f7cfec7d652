/*
 * fake-opensearch against a real socket: external versions and tombstones,
 * gzip bodies and the body and depth caps, atomic _aliases, every fault
 * knob (and that a seed makes faults reproducible), near-real-time
 * visibility and paging with search_after, and the error bodies of the
 * index APIs.
 *
 *   test_fake PATH_TO_FAKE_OPENSEARCH
 */
#include "check.h"
#include "client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

CS_CHECK_COUNTERS;

static char base[128];

/* ---------------------------------------------------------------- helpers */

static json_t *call(const char *method, const char *path, const char *body, long *status) {
  char url[4096];
  snprintf(url, sizeof url, "%s%s", base, path);
  fos_http_resp r;
  fos_http(method, url, body, body ? strlen(body) : 0, NULL, &r);
  *status = r.status;
  json_t *j = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
  fos_http_free(&r);
  return j;
}

static json_t *bulk(const char *ndjson, long *status) {
  char url[1024];
  snprintf(url, sizeof url, "%s/_bulk", base);
  fos_http_opts o = {.content_type = "application/x-ndjson"};
  fos_http_resp r;
  fos_http("POST", url, ndjson, strlen(ndjson), &o, &r);
  *status = r.status;
  json_t *j = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
  fos_http_free(&r);
  return j;
}

/* items[i].<action> of a bulk answer */
static json_t *item(json_t *resp, size_t i) {
  json_t *it = json_array_get(json_object_get(resp, "items"), i);
  return json_object_iter_value(json_object_iter(it));
}

static long item_status(json_t *resp, size_t i) {
  return (long)json_integer_value(json_object_get(item(resp, i), "status"));
}

static const char *item_str(json_t *resp, size_t i, const char *key) {
  return json_string_value(json_object_get(item(resp, i), key));
}

static const char *err_type(json_t *j) {
  json_t *e = json_object_get(j, "error");
  if (json_is_string(e)) return json_string_value(e);
  return json_string_value(json_object_get(e, "type"));
}

static long count(const char *index) {
  char path[256];
  snprintf(path, sizeof path, "/%s/_count", index);
  long st;
  json_t *j = call("GET", path, NULL, &st);
  long n = st == 200 ? (long)json_integer_value(json_object_get(j, "count")) : -1;
  json_decref(j);
  return n;
}

static void ok_call(const char *method, const char *path, const char *body) {
  long st;
  json_t *j = call(method, path, body, &st);
  if (st < 200 || st > 299) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    CHECK(0, "%s %s answered %ld: %s", method, path, st, s ? s : "");
    free(s);
  }
  json_decref(j);
}

static void faults(const char *json) {
  ok_call("POST", "/_fake/faults", json);
}

/* ---------------------------------------------------------------- versions */

static void test_external_versions(void) {
  long st;
  ok_call("PUT", "/v1", NULL);
  json_t *r = bulk(
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"a\",\"version\":5,\"version_type\":\"external\"}}\n"
      "{\"n\":1}\n"
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"a\",\"version\":3,\"version_type\":\"external\"}}\n"
      "{\"n\":2}\n"
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"a\",\"version\":5,\"version_type\":\"external\"}}\n"
      "{\"n\":3}\n"
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"a\",\"version\":5,\"version_type\":\"external_gte\"}"
      "}\n"
      "{\"n\":4}\n",
      &st);
  CHECK(st == 200, "bulk answered %ld", st);
  CHECK(json_is_true(json_object_get(r, "errors")), "errors: true when an item failed");
  CHECK(json_is_integer(json_object_get(r, "took")), "took is there");
  CHECK(item_status(r, 0) == 201 && !strcmp(item_str(r, 0, "result"), "created") &&
            json_integer_value(json_object_get(item(r, 0), "_version")) == 5,
        "first write creates version 5");
  CHECK(item_status(r, 1) == 409, "an older version conflicts (%ld)", item_status(r, 1));
  json_t *e = json_object_get(item(r, 1), "error");
  CHECK(!strcmp(json_string_value(json_object_get(e, "type")), "version_conflict_engine_exception"),
        "409 is a version_conflict_engine_exception");
  CHECK(strstr(json_string_value(json_object_get(e, "reason")),
               "current version [5] is higher or equal to the one provided [3]") != NULL,
        "reason names both versions: %s", json_string_value(json_object_get(e, "reason")));
  CHECK(!strcmp(item_str(r, 1, "_index"), "v1") && !strcmp(item_str(r, 1, "_id"), "a"),
        "failed items name their index and id");
  CHECK(item_status(r, 2) == 409, "the same version conflicts with external");
  CHECK(item_status(r, 3) == 200 && !strcmp(item_str(r, 3, "result"), "updated"),
        "the same version is accepted with external_gte");
  json_decref(r);
  json_t *g = call("GET", "/v1/_doc/a", NULL, &st);
  CHECK(st == 200 && json_integer_value(json_object_get(g, "_version")) == 5 &&
            json_integer_value(json_object_get(json_object_get(g, "_source"), "n")) == 4,
        "the document holds the accepted write");
  json_decref(g);

  r = bulk(
      "{\"delete\":{\"_index\":\"v1\",\"_id\":\"a\",\"version\":4,\"version_type\":\"external\"}}\n"
      "{\"delete\":{\"_index\":\"v1\",\"_id\":\"a\",\"version\":7,\"version_type\":\"external\"}}\n"
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"a\",\"version\":6,\"version_type\":\"external\"}}\n"
      "{\"n\":6}\n"
      "{\"delete\":{\"_index\":\"v1\",\"_id\":\"b\",\"version\":3,\"version_type\":\"external\"}}\n"
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"b\",\"version\":2,\"version_type\":\"external\"}}\n"
      "{\"n\":2}\n",
      &st);
  CHECK(item_status(r, 0) == 409, "an older delete conflicts");
  CHECK(item_status(r, 1) == 200 && !strcmp(item_str(r, 1, "result"), "deleted") &&
            json_integer_value(json_object_get(item(r, 1), "_version")) == 7,
        "a newer delete deletes, with its version");
  CHECK(item_status(r, 2) == 409, "a late replay of an older write after the delete is refused");
  CHECK(item_status(r, 3) == 404 && !strcmp(item_str(r, 3, "result"), "not_found"),
        "deleting an absent document: not_found, 404");
  CHECK(item_status(r, 4) == 409, "the not_found delete left a tombstone that refuses version 2");
  json_decref(r);
  g = call("GET", "/v1/_doc/a", NULL, &st);
  CHECK(st == 404 && json_is_false(json_object_get(g, "found")), "deleted: found false, 404");
  json_decref(g);
  r = bulk(
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"a\",\"version\":8,\"version_type\":\"external\"}}\n"
      "{\"n\":8}\n",
      &st);
  CHECK(item_status(r, 0) == 201 && !strcmp(item_str(r, 0, "result"), "created"),
        "a newer write after a delete creates");
  json_decref(r);

  /* Versions as query parameters of the document APIs. */
  json_t *w = call("PUT", "/v1/_doc/c?version=10&version_type=external", "{\"n\":10}", &st);
  CHECK(st == 201 && json_integer_value(json_object_get(w, "_version")) == 10,
        "PUT _doc with external version 10 (%ld)", st);
  CHECK(json_is_object(json_object_get(w, "_shards")) &&
            json_is_integer(json_object_get(w, "_seq_no")),
        "write response has _shards and _seq_no");
  json_decref(w);
  w = call("PUT", "/v1/_doc/c?version=9&version_type=external", "{\"n\":9}", &st);
  CHECK(st == 409 && !strcmp(err_type(w), "version_conflict_engine_exception") &&
            json_integer_value(json_object_get(w, "status")) == 409 &&
            json_array_size(json_object_get(json_object_get(w, "error"), "root_cause")) == 1,
        "older version by query: 409 with an OpenSearch error body");
  json_decref(w);
  w = call("DELETE", "/v1/_doc/c?version=11&version_type=external", NULL, &st);
  CHECK(st == 200 && !strcmp(json_string_value(json_object_get(w, "result")), "deleted"),
        "DELETE with a newer external version");
  json_decref(w);
  w = call("PUT", "/v1/_doc/c?version=10&version_type=external", "{\"n\":10}", &st);
  CHECK(st == 409, "and the older write stays refused");
  json_decref(w);

  /* Request validation fails the whole bulk; nothing runs. */
  long before = count("v1");
  ok_call("POST", "/v1/_refresh", NULL);
  before = count("v1");
  r = bulk("{\"index\":{\"_index\":\"v1\",\"_id\":\"z1\"}}\n{}\n"
           "{\"create\":{\"_index\":\"v1\",\"_id\":\"z2\",\"version\":3,\"version_type\":"
           "\"external\"}}\n{}\n",
           &st);
  CHECK(st == 400 && !strcmp(err_type(r), "action_request_validation_exception"),
        "create with external versioning: 400 action_request_validation_exception (%ld)", st);
  json_decref(r);
  r = bulk("{\"index\":{\"_index\":\"v1\",\"_id\":\"z3\",\"version\":3}}\n{}\n", &st);
  CHECK(st == 400, "a version with internal versioning is refused");
  json_decref(r);
  r = bulk("{\"index\":{\"_index\":\"v1\",\"_id\":\"z4\",\"version_type\":\"external\"}}\n{}\n",
           &st);
  CHECK(st == 400, "external versioning without a version is refused");
  json_decref(r);
  r = bulk("{\"index\":{\"_index\":\"v1\",\"_id\":\"z5\"}}\n{}", &st);
  CHECK(st == 400 &&
            strstr(json_string_value(json_object_get(json_object_get(r, "error"), "reason")),
                   "terminated by a newline"),
        "a body without its final newline is refused");
  json_decref(r);
  ok_call("POST", "/v1/_refresh", NULL);
  CHECK(count("v1") == before, "nothing of a refused bulk was applied");

  /* index.gc_deletes: OpenSearch forgets tombstones after it (60s by
   * default; the fake keeps them unless told). */
  ok_call("PUT", "/gc", "{\"settings\":{\"index.gc_deletes\":\"200ms\"}}");
  r = bulk(
      "{\"delete\":{\"_index\":\"gc\",\"_id\":\"t\",\"version\":5,\"version_type\":\"external\"}}\n"
      "{\"index\":{\"_index\":\"gc\",\"_id\":\"t\",\"version\":3,\"version_type\":\"external\"}}\n{"
      "}\n",
      &st);
  CHECK(item_status(r, 1) == 409, "within gc_deletes the tombstone refuses an older write");
  json_decref(r);
  usleep(300 * 1000);
  r = bulk("{\"index\":{\"_index\":\"gc\",\"_id\":\"t\",\"version\":3,\"version_type\":"
           "\"external\"}}\n{}\n",
           &st);
  CHECK(item_status(r, 0) == 201, "after gc_deletes it is forgotten, as in OpenSearch");
  json_decref(r);
  ok_call("DELETE", "/gc", NULL);

  /* Internal versioning and if_seq_no. */
  r = bulk(
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"e\"}}\n{\"n\":1}\n"
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"e\"}}\n{\"n\":2}\n"
      "{\"delete\":{\"_index\":\"v1\",\"_id\":\"e\"}}\n"
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"e\"}}\n{\"n\":3}\n"
      "{\"index\":{\"_index\":\"v1\",\"_id\":\"e\",\"if_seq_no\":0,\"if_primary_term\":1}}\n{}\n",
      &st);
  CHECK(json_integer_value(json_object_get(item(r, 1), "_version")) == 2 &&
            json_integer_value(json_object_get(item(r, 2), "_version")) == 3 &&
            json_integer_value(json_object_get(item(r, 3), "_version")) == 4 &&
            !strcmp(item_str(r, 3, "result"), "created"),
        "internal versions count on through a delete");
  CHECK(item_status(r, 4) == 409, "if_seq_no of an older write conflicts");
  json_decref(r);
}

static void test_alias_writes(void) {
  long st;
  ok_call("PUT", "/w1", NULL);
  ok_call("PUT", "/w2", NULL);
  ok_call("POST", "/_aliases", "{\"actions\":[{\"add\":{\"index\":\"w1\",\"alias\":\"wal\"}}]}");
  json_t *r = bulk("{\"index\":{\"_index\":\"wal\",\"_id\":\"d\",\"version\":1,\"version_type\":"
                   "\"external\"}}\n{}\n"
                   "{\"delete\":{\"_index\":\"wal\",\"_id\":\"nothing\",\"version\":1,\"version_"
                   "type\":\"external\"}}\n",
                   &st);
  CHECK(item_status(r, 0) == 201 && !strcmp(item_str(r, 0, "_index"), "w1"),
        "an item against an alias lands in its index and says so");
  CHECK(item_status(r, 1) == 404 && !strcmp(item_str(r, 1, "_index"), "w1"),
        "a delete through the alias too");
  json_decref(r);
  ok_call("POST", "/_aliases", "{\"actions\":[{\"add\":{\"index\":\"w2\",\"alias\":\"wal\"}}]}");
  r = bulk("{\"index\":{\"_index\":\"wal\",\"_id\":\"e\"}}\n{}\n", &st);
  CHECK(item_status(r, 0) == 400 && strstr(json_string_value(json_object_get(
                                               json_object_get(item(r, 0), "error"), "reason")),
                                           "no write index is defined for alias [wal]"),
        "an alias over two indices without a write index refuses writes");
  json_decref(r);
  ok_call("POST", "/_aliases",
          "{\"actions\":[{\"add\":{\"index\":\"w2\",\"alias\":\"wal\",\"is_write_index\":true}}]}");
  r = bulk("{\"index\":{\"_index\":\"wal\",\"_id\":\"e\"}}\n{}\n", &st);
  CHECK(item_status(r, 0) == 201 && !strcmp(item_str(r, 0, "_index"), "w2"),
        "with a write index, writes go there");
  json_decref(r);
  r = bulk("{\"index\":{\"_index\":\"w1\",\"_id\":\"f\",\"require_alias\":true}}\n{}\n", &st);
  CHECK(item_status(r, 0) == 404, "require_alias refuses a concrete index");
  json_decref(r);
  ok_call("DELETE", "/w1,w2", NULL);
}

/* ---------------------------------------------------------------- bodies */

static void test_gzip_and_caps(void) {
  long st;
  char url[256];
  snprintf(url, sizeof url, "%s/_bulk?refresh=true", base);
  const char *nd = "{\"index\":{\"_index\":\"gz\",\"_id\":\"1\"}}\n{\"t\":\"uno\"}\n"
                   "{\"index\":{\"_index\":\"gz\",\"_id\":\"2\"}}\n{\"t\":\"dos\"}\n";
  void *z;
  size_t zl;
  CHECK(fos_gzip(nd, strlen(nd), &z, &zl) == 0, "gzip");
  fos_http_opts o = {.content_type = "application/x-ndjson", .content_encoding = "gzip"};
  fos_http_resp r;
  fos_http("POST", url, z, zl, &o, &r);
  json_t *j = json_loadb(r.body, r.len, 0, NULL);
  CHECK(r.status == 200 && json_is_false(json_object_get(j, "errors")),
        "a gzip'd bulk body is accepted (%ld)", r.status);
  CHECK(json_is_true(json_object_get(item(j, 0), "forced_refresh")),
        "refresh=true: forced_refresh");
  json_decref(j);
  fos_http_free(&r);
  free(z);
  CHECK(count("gz") == 2, "and applied");

  char junk[200];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (char)(i * 37 + 11);
  fos_http("POST", url, junk, sizeof junk, &o, &r);
  CHECK(r.status == 400, "a body that is not gzip: 400 (%ld)", r.status);
  fos_http_free(&r);

  /* 70 MiB of zeros compress to ~70 KiB: a decompression bomb. */
  size_t big = (size_t)70 << 20;
  char *zeros = calloc(1, big);
  CHECK(fos_gzip(zeros, big, &z, &zl) == 0, "gzip zeros");
  fos_http("POST", url, z, zl, &o, &r);
  CHECK(r.status == 413, "a body over 64 MiB after gunzip: 413 (%ld)", r.status);
  fos_http_free(&r);
  free(z);
  fos_http_opts plain = {.content_type = "application/x-ndjson"};
  memset(zeros, ' ', big);
  fos_http("POST", url, zeros, big, &plain, &r);
  CHECK(r.status == 413, "a raw body over 64 MiB: 413 (%ld)", r.status);
  fos_http_free(&r);
  free(zeros);

  fos_http_opts gz = {.accept_gzip = 1};
  snprintf(url, sizeof url, "%s/gz/_search", base);
  fos_http("GET", url, NULL, 0, &gz, &r);
  j = json_loadb(r.body, r.len, 0, NULL);
  CHECK(r.status == 200 && !strcmp(r.content_encoding, "gzip") && j,
        "answers are gzip'd when the client accepts gzip ('%s')", r.content_encoding);
  json_decref(j);
  fos_http_free(&r);

  fos_http_opts noct = {.no_content_type = 1};
  fos_http("POST", url, "{}", 2, &noct, &r);
  CHECK(r.status == 406, "a body without Content-Type: 406 (%ld)", r.status);
  fos_http_free(&r);

  char deep[1400];
  size_t n = 0;
  n += (size_t)snprintf(deep, sizeof deep, "{\"query\":");
  for (int i = 0; i < 300; i++)
    deep[n++] = '[';
  for (int i = 0; i < 300; i++)
    deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = 0;
  j = call("POST", "/gz/_search", deep, &st);
  CHECK(st == 400 && !strcmp(err_type(j), "x_content_parse_exception"),
        "JSON nested 300 deep: 400 (%ld)", st);
  json_decref(j);
  j = call("POST", "/gz/_search", "{\"query\":{\"match_all\":{}},\"query\":{}}", &st);
  CHECK(st == 400, "duplicate keys: 400 (%ld)", st);
  json_decref(j);
  ok_call("DELETE", "/gz", NULL);
}

/* ---------------------------------------------------------------- aliases */

static int alias_on(const char *alias, const char *index) {
  long st;
  char path[256];
  snprintf(path, sizeof path, "/_alias/%s", alias);
  json_t *j = call("GET", path, NULL, &st);
  int on = st == 200 && json_object_get(j, index) != NULL;
  json_decref(j);
  return on;
}

static void test_atomic_aliases(void) {
  long st;
  ok_call("PUT", "/x1", "{\"aliases\":{\"cur\":{}}}");
  ok_call("PUT", "/x2", NULL);
  CHECK(alias_on("cur", "x1"), "alias from the create body");
  json_t *j = call("POST", "/_aliases",
                   "{\"actions\":[{\"add\":{\"index\":\"x2\",\"alias\":\"cur\"}},"
                   "{\"remove\":{\"index\":\"x1\",\"alias\":\"cur\"}},"
                   "{\"remove_index\":{\"index\":\"nope\"}}]}",
                   &st);
  CHECK(st == 404 && !strcmp(err_type(j), "index_not_found_exception"),
        "one missing index fails the whole list (%ld)", st);
  json_decref(j);
  CHECK(alias_on("cur", "x1") && !alias_on("cur", "x2"), "and nothing changed");
  j = call("POST", "/_aliases",
           "{\"actions\":[{\"add\":{\"index\":\"x2\",\"alias\":\"cur\"}},"
           "{\"remove_index\":{\"index\":\"x1\"}},{\"bogus\":{}}]}",
           &st);
  CHECK(st == 400, "an unknown action fails the whole list (%ld)", st);
  json_decref(j);
  CHECK(alias_on("cur", "x1") && !alias_on("cur", "x2"), "nothing changed");
  j = call("HEAD", "/x1", NULL, &st);
  CHECK(st == 200, "x1 still there");
  json_decref(j);
  j = call("POST", "/_aliases",
           "{\"actions\":[{\"add\":{\"index\":\"x2\",\"alias\":\"cur\",\"is_write_index\":true}},"
           "{\"add\":{\"index\":\"x1\",\"alias\":\"cur\",\"is_write_index\":true}}]}",
           &st);
  CHECK(st == 400, "two write indices for one alias: 400 (%ld)", st);
  json_decref(j);
  CHECK(alias_on("cur", "x1") && !alias_on("cur", "x2"), "nothing changed");
  j = call("POST", "/_aliases",
           "{\"actions\":[{\"remove\":{\"index\":\"x1\",\"alias\":\"nothere\"}}]}", &st);
  CHECK(st == 404 && !strcmp(err_type(j), "aliases_not_found_exception"),
        "removing a missing alias: 404 aliases_not_found_exception");
  json_decref(j);
  j = call("POST", "/_aliases", "{\"actions\":[]}", &st);
  CHECK(st == 400, "no actions: 400");
  json_decref(j);
  j = call("POST", "/_aliases", "{\"actions\":[{\"add\":{\"index\":\"x2\",\"alias\":\"x1\"}}]}",
           &st);
  CHECK(st == 400 && !strcmp(err_type(j), "invalid_alias_name_exception"),
        "an alias named like an index: 400");
  json_decref(j);
  ok_call("POST", "/_aliases",
          "{\"actions\":[{\"add\":{\"index\":\"x2\",\"alias\":\"cur\"}},"
          "{\"remove_index\":{\"index\":\"x1\"}}]}");
  CHECK(alias_on("cur", "x2") && !alias_on("cur", "x1"), "the swap went through at once");
  j = call("HEAD", "/x1", NULL, &st);
  CHECK(st == 404, "remove_index deleted x1");
  json_decref(j);
  j = call("GET", "/_alias/missing", NULL, &st);
  CHECK(st == 404 && !strcmp(err_type(j), "alias [missing] missing"),
        "GET of a missing alias: 404 {\"error\": \"alias [missing] missing\"}");
  json_decref(j);
  ok_call("DELETE", "/x2", NULL);
}

/* ---------------------------------------------------------------- faults */

static char *ndjson_items(int n, const char *prefix) {
  size_t cap = (size_t)n * 96 + 1, len = 0;
  char *s = malloc(cap);
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(s + len, cap - len,
                            "{\"index\":{\"_index\":\"f\",\"_id\":\"%s%d\"}}\n{}\n", prefix, i);
  return s;
}

static void failing_positions(json_t *r, char *out, int n) {
  for (int i = 0; i < n; i++)
    out[i] = item_status(r, (size_t)i) == 429 ? 'x' : '.';
  out[n] = 0;
}

static json_t *stats(void) {
  long st;
  return call("GET", "/_fake/stats", NULL, &st);
}

static void test_faults(void) {
  long st;
  ok_call("PUT", "/f", "{\"settings\":{\"refresh_interval\":\"-1\"}}");
  faults("{\"bulk_item_429_rate\": 1}");
  char *nd = ndjson_items(5, "a");
  json_t *r = bulk(nd, &st);
  free(nd);
  int all = 1;
  for (size_t i = 0; i < 5; i++)
    all &= item_status(r, i) == 429;
  CHECK(st == 200 && all && json_is_true(json_object_get(r, "errors")),
        "bulk_item_429_rate 1: every item 429");
  CHECK(!strcmp(json_string_value(json_object_get(json_object_get(item(r, 0), "error"), "type")),
                "rejected_execution_exception"),
        "as rejected_execution_exception");
  json_decref(r);
  faults("{\"bulk_item_500_rate\": 1}");
  nd = ndjson_items(3, "b");
  r = bulk(nd, &st);
  free(nd);
  CHECK(item_status(r, 0) == 500 && item_status(r, 2) == 500, "bulk_item_500_rate 1: items 500");
  json_decref(r);
  faults("{}");
  ok_call("POST", "/f/_refresh", NULL);
  CHECK(count("f") == 0, "failed items were not applied");
  json_t *s = stats();
  CHECK(json_integer_value(json_object_get(s, "items_failed_injected")) >= 8,
        "stats count injected item failures");
  json_decref(s);

  /* A seed makes the sequence reproducible. */
  char first[41], second[41];
  faults("{\"seed\": 42, \"bulk_item_429_rate\": 0.5}");
  nd = ndjson_items(40, "c");
  r = bulk(nd, &st);
  free(nd);
  failing_positions(r, first, 40);
  json_decref(r);
  faults("{\"seed\": 42, \"bulk_item_429_rate\": 0.5}");
  nd = ndjson_items(40, "d");
  r = bulk(nd, &st);
  free(nd);
  failing_positions(r, second, 40);
  json_decref(r);
  int fails = 0;
  for (int i = 0; i < 40; i++)
    fails += first[i] == 'x';
  CHECK(!strcmp(first, second), "same seed, same failures: %s vs %s", first, second);
  CHECK(fails > 5 && fails < 35, "rate 0.5 fails about half (%d of 40)", fails);
  faults("{}");

  faults("{\"http_status\": 503, \"http_status_rate\": 1}");
  json_t *j = call("GET", "/", NULL, &st);
  CHECK(st == 503 && json_integer_value(json_object_get(j, "status")) == 503 && err_type(j),
        "http_status 503: 503 with an error body (%ld)", st);
  json_decref(j);
  j = call("GET", "/_fake/stats", NULL, &st);
  CHECK(st == 200, "control endpoints are never faulted");
  json_decref(j);
  faults("{\"http_status\": 429, \"http_status_rate\": 1}");
  nd = ndjson_items(2, "e");
  r = bulk(nd, &st);
  free(nd);
  CHECK(st == 429, "http_status 429 on a bulk (%ld)", st);
  json_decref(r);
  faults("{}");

  /* bulk_503_every 3: the 3rd, 6th ... _bulk request 503; nothing else. */
  faults("{\"bulk_503_every\": 3}");
  char seen[8];
  for (int i = 0; i < 6; i++) {
    nd = ndjson_items(1, "h");
    r = bulk(nd, &st);
    free(nd);
    seen[i] = st == 503 ? 'x' : st == 200 ? '.' : '?';
    json_decref(r);
    if (i == 3) {
      j = call("GET", "/", NULL, &st);
      CHECK(st == 200, "bulk_503_every leaves other requests alone (%ld)", st);
      json_decref(j);
    }
  }
  seen[6] = 0;
  CHECK(!strcmp(seen, "..x..x"), "bulk_503_every 3: every third _bulk 503 (%s)", seen);
  faults("{}");
  ok_call("POST", "/f/_refresh", NULL);
  long before = count("f");

  faults("{\"delay_ms\": 300}");
  char url[256];
  snprintf(url, sizeof url, "%s/", base);
  fos_http_resp resp;
  fos_http("GET", url, NULL, 0, NULL, &resp);
  CHECK(resp.status == 200 && resp.seconds >= 0.29, "delay_ms 300 delays (%.3f s)", resp.seconds);
  fos_http_free(&resp);
  faults("{}");

  faults("{\"drop_connection_rate\": 1}");
  snprintf(url, sizeof url, "%s/_bulk", base);
  nd = ndjson_items(3, "g");
  fos_http_opts o = {.content_type = "application/x-ndjson"};
  int rc = fos_http("POST", url, nd, strlen(nd), &o, &resp);
  CHECK(rc != 0 && resp.status == 0, "drop_connection_rate 1: no answer (curl %d)", resp.curl_code);
  fos_http_free(&resp);
  faults("{}");
  ok_call("POST", "/f/_refresh", NULL);
  CHECK(count("f") == before, "a dropped request was not applied");

  faults("{\"lose_response_rate\": 1}");
  rc = fos_http("POST", url, nd, strlen(nd), &o, &resp);
  CHECK(rc != 0 && resp.status == 0, "lose_response_rate 1: no answer");
  fos_http_free(&resp);
  faults("{}");
  ok_call("POST", "/f/_refresh", NULL);
  CHECK(count("f") == before + 3, "but the request was applied (%ld)", count("f"));
  free(nd);

  faults("{\"down\": true}");
  j = call("GET", "/f/_count", NULL, &st);
  CHECK(st == 503 && !strcmp(err_type(j), "cluster_block_exception"), "down: 503 (%ld)", st);
  json_decref(j);
  faults("{\"down\": true, \"down_mode\": \"close\"}");
  snprintf(url, sizeof url, "%s/", base);
  rc = fos_http("GET", url, NULL, 0, NULL, &resp);
  CHECK(rc != 0 && resp.status == 0, "down_mode close: connection closed without an answer");
  fos_http_free(&resp);
  s = stats();
  CHECK(s && json_integer_value(json_object_get(s, "refused_down")) >= 2,
        "stats answer while down and count refusals");
  CHECK(json_integer_value(json_object_get(s, "connections_dropped")) >= 1 &&
            json_integer_value(json_object_get(s, "responses_lost")) >= 1 &&
            json_integer_value(json_object_get(s, "requests_delayed")) >= 1 &&
            json_integer_value(json_object_get(s, "requests_failed_injected")) >= 2 &&
            json_integer_value(json_object_get(s, "bulk_items")) >= 50,
        "every fault is counted");
  json_decref(s);
  faults("{\"down\": false}");
  CHECK(count("f") == before + 3, "back up");

  j = call("POST", "/_fake/faults", "{\"bulk_item_492_rate\": 0.5}", &st);
  CHECK(st == 400, "an unknown fault name is refused, not ignored");
  json_decref(j);
  j = call("POST", "/_fake/faults", "{\"bulk_item_429_rate\": 1.5}", &st);
  CHECK(st == 400, "a rate over 1 is refused");
  json_decref(j);
  j = call("GET", "/_fake/faults", NULL, &st);
  CHECK(st == 200 && json_number_value(json_object_get(j, "bulk_item_429_rate")) == 0,
        "refused settings left the configuration alone");
  json_decref(j);

  ok_call("POST", "/_fake/reset", NULL);
  j = call("HEAD", "/f", NULL, &st);
  CHECK(st == 404, "reset drops the indices");
  json_decref(j);
  s = stats();
  CHECK(json_integer_value(json_object_get(s, "indices")) == 0, "and stats say so");
  json_decref(s);
}

/* ---------------------------------------------------------------- search */

static void test_visibility_and_paging(void) {
  long st;
  ok_call("PUT", "/p",
          "{\"settings\":{\"index\":{\"refresh_interval\":\"-1\"}},"
          "\"mappings\":{\"properties\":{\"k\":{\"type\":\"keyword\"},"
          "\"sum\":{\"type\":\"keyword\"},\"t\":{\"type\":\"text\"}}}}");
  int n = 1234;
  size_t cap = (size_t)n * 120, len = 0;
  char *nd = malloc(cap);
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(nd + len, cap - len,
                            "{\"index\":{\"_index\":\"p\",\"_id\":\"doc-%05d\"}}\n"
                            "{\"k\":\"v%d\",\"sum\":\"s%d\",\"t\":\"texto\"}\n",
                            (i * 7919) % n, i % 3, i);
  json_t *r = bulk(nd, &st);
  CHECK(st == 200 && json_is_false(json_object_get(r, "errors")), "1234 documents indexed");
  json_decref(r);
  free(nd);
  CHECK(count("p") == 0, "not searchable before a refresh (refresh_interval -1)");
  json_t *g = call("GET", "/p/_doc/doc-00001", NULL, &st);
  CHECK(st == 200 && json_is_true(json_object_get(g, "found")), "but GET is realtime");
  json_decref(g);
  ok_call("POST", "/p/_refresh", NULL);
  CHECK(count("p") == n, "searchable after _refresh (%ld)", count("p"));

  char body[512], *after = NULL;
  int seen = 0, ordered = 1, pages = 0;
  char last[64] = "";
  for (;;) {
    if (after)
      snprintf(body, sizeof body,
               "{\"size\":100,\"sort\":[{\"_id\":\"asc\"}],\"_source\":[\"sum\"],"
               "\"query\":{\"match_all\":{}},\"search_after\":[\"%s\"]}",
               after);
    else
      snprintf(body, sizeof body,
               "{\"size\":100,\"sort\":[{\"_id\":\"asc\"}],\"_source\":[\"sum\"],"
               "\"query\":{\"match_all\":{}}}");
    json_t *j = call("POST", "/p/_search", body, &st);
    json_t *hits = json_object_get(json_object_get(j, "hits"), "hits");
    if (st != 200 || !json_is_array(hits)) {
      CHECK(0, "search page answered %ld", st);
      json_decref(j);
      break;
    }
    pages++;
    if (pages == 1)
      CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(j, "hits"), "total"),
                                               "value")) == n,
            "hits.total.value counts every match");
    size_t i;
    json_t *h;
    json_array_foreach(hits, i, h) {
      const char *id = json_string_value(json_object_get(h, "_id"));
      if (strcmp(id, last) <= 0) ordered = 0;
      snprintf(last, sizeof last, "%s", id);
      json_t *src = json_object_get(h, "_source");
      if (json_object_size(src) != 1 || !json_object_get(src, "sum")) ordered = 0;
      if (!json_is_array(json_object_get(h, "sort"))) ordered = 0;
      seen++;
    }
    free(after);
    after = strdup(last);
    size_t got = json_array_size(hits);
    json_decref(j);
    if (got < 100) break;
  }
  free(after);
  CHECK(seen == n && ordered, "search_after pages through all %d once, in _id order (%d seen)", n,
        seen);

  json_t *j = call("POST", "/p/_search", "{\"from\":9995,\"size\":10}", &st);
  CHECK(st == 400, "from + size over max_result_window: 400");
  json_decref(j);
  j = call("POST", "/p/_search", "{\"sort\":[\"t\"]}", &st);
  CHECK(st == 400 && !strcmp(err_type(j), "search_phase_execution_exception"),
        "sorting on a text field: 400 as OpenSearch does");
  json_decref(j);
  j = call("POST", "/p/_search", "{\"query\":{\"match\":{\"t\":\"texto\"}}}", &st);
  char *text = json_dumps(j, 0);
  CHECK(st == 400 && text && strstr(text, "unsupported_operation_exception"),
        "full-text queries are refused loudly, not approximated");
  free(text);
  json_decref(j);
  j = call("POST", "/p/_search", "{\"size\":0,\"query\":{\"term\":{\"k\":\"v1\"}}}", &st);
  CHECK(st == 200 && json_integer_value(json_object_get(
                         json_object_get(json_object_get(j, "hits"), "total"), "value")) == 411,
        "term on a keyword field");
  json_decref(j);
  j = call("GET", "/p/_search?sizes=3", NULL, &st);
  CHECK(st == 400 &&
            strstr(json_string_value(json_object_get(json_object_get(j, "error"), "reason")),
                   "unrecognized parameter: [sizes]"),
        "an unknown query parameter is refused");
  json_decref(j);

  /* The periodic refresh: a write is searched only once the interval has
   * passed. (The "not before" half is checked only when this machine was
   * quick enough for it to be meaningful.) */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ok_call("PUT", "/q", "{\"settings\":{\"refresh_interval\":\"1s\"}}");
  ok_call("PUT", "/q/_doc/1", "{\"a\":1}");
  long right_away = count("q");
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (took < 0.8)
    CHECK(right_away == 0, "not searchable before the refresh interval (%ld)", right_away);
  usleep(1100 * 1000);
  CHECK(count("q") == 1, "searchable once the refresh interval has passed");
  ok_call("DELETE", "/p,q", NULL);
}

/* ---------------------------------------------------------------- index APIs */

static void test_index_errors(void) {
  long st;
  ok_call("PUT", "/ie", NULL);
  json_t *j = call("PUT", "/ie", NULL, &st);
  json_t *rc = json_array_get(json_object_get(json_object_get(j, "error"), "root_cause"), 0);
  CHECK(st == 400 && !strcmp(err_type(j), "resource_already_exists_exception") &&
            !strcmp(json_string_value(json_object_get(rc, "type")),
                    "resource_already_exists_exception") &&
            !strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "index")), "ie"),
        "creating an existing index: 400 resource_already_exists_exception");
  json_decref(j);
  j = call("DELETE", "/ie,missing", NULL, &st);
  CHECK(st == 404 && !strcmp(err_type(j), "index_not_found_exception") &&
            !strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "resource.id")),
                    "missing"),
        "deleting a missing index: 404 index_not_found_exception");
  json_decref(j);
  j = call("HEAD", "/ie", NULL, &st);
  CHECK(st == 200, "and the list was not half applied");
  json_decref(j);
  j = call("PUT", "/Bad", NULL, &st);
  CHECK(st == 400 && !strcmp(err_type(j), "invalid_index_name_exception"), "uppercase names: 400");
  json_decref(j);
  j = call("PUT", "/_bad", NULL, &st);
  CHECK(st == 400, "names starting with _: 400");
  json_decref(j);
  j = call("PUT", "/s1", "{\"settings\":{\"number_of_shard\":1}}", &st);
  CHECK(st == 400 &&
            strstr(json_string_value(json_object_get(json_object_get(j, "error"), "reason")),
                   "unknown setting [index.number_of_shard]"),
        "a misspelt setting is refused");
  json_decref(j);
  j = call("PUT", "/s2",
           "{\"mappings\":{\"properties\":{\"a\":{\"type\":\"text\",\"analyzer\":\"nope\"}}}}",
           &st);
  CHECK(st == 400 && !strcmp(err_type(j), "mapper_parsing_exception"),
        "an unknown analyzer is refused");
  json_decref(j);
  j = call("PUT", "/s3", "{\"mappings\":{\"properties\":{\"a\":{\"type\":\"strng\"}}}}", &st);
  CHECK(st == 400, "an unknown field type is refused");
  json_decref(j);
  j = call("PUT", "/s4",
           "{\"settings\":{\"analysis\":{\"analyzer\":{\"x\":{\"type\":\"custom\","
           "\"tokenizer\":\"standard\",\"filter\":[\"nofilter\"]}}}}}",
           &st);
  CHECK(st == 400 && !strcmp(err_type(j), "illegal_argument_exception"),
        "an analyzer naming a missing filter is refused");
  json_decref(j);
  ok_call("PUT", "/st",
          "{\"mappings\":{\"dynamic\":\"strict\",\"properties\":{\"a\":{\"type\":\"long\"},"
          "\"o\":{\"type\":\"nested\",\"properties\":{\"x\":{\"type\":\"keyword\"}}}}}}");
  j = call("PUT", "/st/_doc/1", "{\"a\":1,\"b\":2}", &st);
  CHECK(st == 400 && !strcmp(err_type(j), "strict_dynamic_mapping_exception"),
        "strict mapping refuses an unmapped field");
  json_decref(j);
  j = call("PUT", "/st/_doc/1", "{\"a\":1,\"o\":[{\"x\":\"y\",\"z\":1}]}", &st);
  CHECK(st == 400 && !strcmp(err_type(j), "strict_dynamic_mapping_exception"),
        "strictness reaches nested objects");
  json_decref(j);
  j = call("PUT", "/st/_doc/1", "{\"a\":\"abc\"}", &st);
  CHECK(st == 400 && !strcmp(err_type(j), "mapper_parsing_exception"), "a long field refuses text");
  json_decref(j);
  j = call("PUT", "/st/_doc/1", "{\"a\":\"42\",\"o\":[{\"x\":\"y\"}]}", &st);
  CHECK(st == 201, "a numeric string is coerced, as OpenSearch does (%ld)", st);
  json_decref(j);
  j = call("GET", "/nope/_doc/1", NULL, &st);
  CHECK(st == 404 && !strcmp(err_type(j), "index_not_found_exception"),
        "GET on a missing index: 404 index_not_found_exception");
  json_decref(j);
  j = call("GET", "/_bulk", NULL, &st);
  CHECK(st == 405, "wrong method: 405");
  json_decref(j);
  ok_call("DELETE", "/ie,st", NULL);
}

/* ---------------------------------------------------------------- hostile input */

static unsigned long long rng = 88172645463325252ULL;

static unsigned next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng >> 11);
}

/* Random bodies (bytes, JSON-ish fragments, cut valid bodies) to every
 * kind of endpoint, and odd paths: every answer is a 4xx/2xx with a body
 * and the server keeps answering (run under ASan/UBSan in the sanitizer
 * build). */
static void test_hostile_input(void) {
  static const char *const targets[][2] = {
      {"POST", "/_bulk"},    {"POST", "/h/_search"},        {"POST", "/_aliases"},
      {"PUT", "/h2"},        {"POST", "/h/_update/1"},      {"PUT", "/h/_doc/1"},
      {"POST", "/h/_count"}, {"PUT", "/_index_template/t"}, {"PUT", "/h/_alias/a"},
  };
  static const char *const seeds[] = {
      "{\"index\":{\"_index\":\"h\",\"_id\":\"1\"}}\n{\"a\":1}\n",
      "{\"query\":{\"bool\":{\"must\":[{\"term\":{\"a\":1}}],\"should\":[]}},\"sort\":[\"_id\"],"
      "\"search_after\":[\"x\"]}",
      "{\"actions\":[{\"add\":{\"index\":\"h\",\"alias\":\"b\"}}]}",
      "{\"settings\":{\"analysis\":{\"analyzer\":{\"x\":{\"tokenizer\":\"standard\"}}}},"
      "\"mappings\":{\"properties\":{\"a\":{\"type\":\"keyword\"}}}}",
      "{\"script\":{\"source\":\"ctx._source.a += 1; ctx._source.b.remove('c')\"},\"upsert\":{}}",
  };
  long st;
  ok_call("PUT", "/h", NULL);
  int bad = 0;
  char buf[700];
  for (int iter = 0; iter < 600; iter++) {
    const char *const *t = targets[next_rand() % (sizeof targets / sizeof targets[0])];
    const char *seed = seeds[next_rand() % (sizeof seeds / sizeof seeds[0])];
    size_t n = strlen(seed);
    memcpy(buf, seed, n + 1);
    int mode = (int)(next_rand() % 3);
    if (mode == 0) { /* flip some bytes */
      for (int k = 0; k < 4; k++)
        buf[next_rand() % n] = "{}[]\",:\\\n0a-"[next_rand() % 13];
    } else if (mode == 1) { /* cut */
      buf[next_rand() % n] = 0;
    } else { /* random bytes */
      n = next_rand() % 200;
      for (size_t k = 0; k < n; k++)
        buf[k] = (char)(next_rand() % 255 + 1);
      buf[n] = 0;
    }
    json_t *j = call(t[0], t[1], buf, &st);
    if (st < 200 || st >= 500) bad++;
    json_decref(j);
  }
  CHECK(bad == 0, "random bodies get 2xx/4xx answers, never 5xx or nothing (%d bad)", bad);
  const char *paths[] = {"/%",
                         "/%zz",
                         "/a/b/c/d/e/f/g/h/i/j",
                         "//_bulk",
                         "/_doc",
                         "/h/_doc/",
                         "/h/_search?size=-5",
                         "/h/_search?from=-7",
                         "/h/_search?size=abc",
                         "/h/_doc/1?version=x",
                         "/h?pretty&human",
                         "/_alias/*",
                         "/*/_alias/*"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    json_t *j = call("GET", paths[i], NULL, &st);
    CHECK(st >= 200 && st < 500, "GET %s: %ld", paths[i], st);
    json_decref(j);
  }
  char longid[1200] = "/h/_doc/";
  memset(longid + 8, 'x', 600);
  longid[608] = 0;
  json_t *j = call("PUT", longid, "{}", &st);
  CHECK(st == 400 && !strcmp(err_type(j), "action_request_validation_exception"),
        "an id over 512 bytes: 400 (%ld)", st);
  json_decref(j);
  memset(longid + 8, 'x', 1100);
  longid[1108] = 0;
  j = call("PUT", longid, "{}", &st);
  CHECK(st == 400, "a path segment over 1 KiB: 400 (%ld)", st);
  json_decref(j);
  j = call("GET", "/", NULL, &st);
  CHECK(st == 200, "the server still answers");
  json_decref(j);
  ok_call("DELETE", "/h*", NULL);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_fake PATH_TO_FAKE_OPENSEARCH\n");
    return 2;
  }
  char log[256];
  snprintf(log, sizeof log, "/tmp/test_fake-%d.log", (int)getpid());
  pid_t pid = fos_fake_start(argv[1], log, NULL, base, sizeof base);
  if (pid < 0) {
    fprintf(stderr, "cannot start %s (log: %s)\n", argv[1], log);
    return 1;
  }
  test_external_versions();
  test_alias_writes();
  test_gzip_and_caps();
  test_atomic_aliases();
  test_faults();
  test_visibility_and_paging();
  test_index_errors();
  test_hostile_input();
  CHECK(fos_fake_stop(pid) == 0, "fake-opensearch stops cleanly on SIGTERM");
  if (th_failed)
    fprintf(stderr, "server log: %s\n", log);
  else
    unlink(log);
  return th_check_done();
}
