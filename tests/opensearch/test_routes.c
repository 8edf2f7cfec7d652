/*
 * fake-opensearch against the OpenSearch API specification:
 *   - every route it serves exists in the specification with the same
 *     method and path, and every query parameter it accepts is one the
 *     specification lists for that operation (besides the global ones);
 *   - a walk through every route, successes and documented errors, whose
 *     answers must have a status the operation documents and a body that
 *     validates against its schema.
 * Needs ../shared; prints SKIPPED without it.
 *
 *   test_routes FAKE_OPENSEARCH SHARED_DIR
 */
#include "check.h"
#include "client.h"
#include "spec.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

CS_CHECK_COUNTERS;

/* One request of the walk: method, path template (for the spec), concrete
 * path, body, and the status it must get. */
typedef struct step {
  const char *method, *tmpl, *path, *body;
  long status;
} step;

static void walk(fos_spec *s, const char *base) {
  static const step steps[] = {
      {"GET", "/", "/", NULL, 200},
      {"PUT", "/{index}", "/r1",
       "{\"settings\":{\"number_of_shards\":1,\"refresh_interval\":\"-1\"},\"mappings\":{"
       "\"properties\":{\"k\":{\"type\":\"keyword\"},\"n\":{\"type\":\"long\"}}},"
       "\"aliases\":{\"ra\":{}}}",
       200},
      {"PUT", "/{index}", "/r1", NULL, 400},
      {"HEAD", "/{index}", "/r1", NULL, 200},
      {"HEAD", "/{index}", "/nope", NULL, 404},
      {"GET", "/{index}", "/r1", NULL, 200},
      {"GET", "/{index}/_mapping", "/r1/_mapping", NULL, 200},
      {"PUT", "/{index}/_doc/{id}", "/r1/_doc/1", "{\"k\":\"a\",\"n\":1}", 201},
      {"PUT", "/{index}/_doc/{id}", "/r1/_doc/1", "{\"k\":\"b\",\"n\":2}", 200},
      {"POST", "/{index}/_doc", "/r1/_doc", "{\"k\":\"c\"}", 201},
      {"PUT", "/{index}/_create/{id}", "/r1/_create/2", "{\"k\":\"d\"}", 201},
      {"POST", "/{index}/_update/{id}", "/r1/_update/1", "{\"doc\":{\"n\":3}}", 200},
      {"GET", "/{index}/_doc/{id}", "/r1/_doc/1", NULL, 200},
      {"GET", "/{index}/_doc/{id}", "/r1/_doc/none", NULL, 404},
      {"HEAD", "/{index}/_doc/{id}", "/r1/_doc/1", NULL, 200},
      {"DELETE", "/{index}/_doc/{id}", "/r1/_doc/2", NULL, 200},
      {"DELETE", "/{index}/_doc/{id}", "/r1/_doc/2", NULL, 404},
      {"POST", "/{index}/_refresh", "/r1/_refresh", NULL, 200},
      {"GET", "/_refresh", "/_refresh", NULL, 200},
      {"GET", "/{index}/_count", "/r1/_count", NULL, 200},
      {"POST", "/_count", "/_count", "{\"query\":{\"term\":{\"k\":\"b\"}}}", 200},
      {"POST", "/{index}/_search", "/r1/_search",
       "{\"size\":2,\"sort\":[{\"_id\":\"asc\"}],\"_source\":[\"k\"],\"query\":{\"match_all\":{}}}",
       200},
      {"GET", "/_search", "/_search", NULL, 200},
      {"POST", "/{index}/_search", "/r1/_search", "{\"from\":9999,\"size\":10}", 400},
      {"GET", "/{index}/_search", "/missing/_search", NULL, 404},
      {"POST", "/_bulk", "/_bulk",
       "{\"index\":{\"_index\":\"r1\",\"_id\":\"3\",\"version\":2,\"version_type\":\"external\"}}\n"
       "{\"k\":\"e\"}\n"
       "{\"index\":{\"_index\":\"r1\",\"_id\":\"3\",\"version\":1,\"version_type\":\"external\"}}\n"
       "{\"k\":\"f\"}\n"
       "{\"update\":{\"_index\":\"r1\",\"_id\":\"3\",\"_source\":true}}\n{\"doc\":{\"n\":4}}\n"
       "{\"delete\":{\"_index\":\"r1\",\"_id\":\"nothing\"}}\n",
       200},
      {"POST", "/{index}/_bulk", "/ra/_bulk", "{\"create\":{}}\n{\"k\":\"g\"}\n", 200},
      {"POST", "/_aliases", "/_aliases",
       "{\"actions\":[{\"add\":{\"index\":\"r1\",\"alias\":\"rb\",\"is_write_index\":true}}]}",
       200},
      {"GET", "/_alias", "/_alias", NULL, 200},
      {"GET", "/_alias/{name}", "/_alias/rb", NULL, 200},
      {"GET", "/{index}/_alias", "/r1/_alias", NULL, 200},
      {"GET", "/{index}/_alias/{name}", "/r1/_alias/rb", NULL, 200},
      {"HEAD", "/_alias/{name}", "/_alias/rb", NULL, 200},
      {"HEAD", "/_alias/{name}", "/_alias/zz", NULL, 404},
      {"PUT", "/{index}/_alias/{name}", "/r1/_alias/rc", "{\"routing\":\"1\"}", 200},
      {"DELETE", "/{index}/_alias/{name}", "/r1/_alias/rc", NULL, 200},
      {"PUT", "/_index_template/{name}", "/_index_template/t1",
       "{\"index_patterns\":[\"t1-*\"],\"priority\":5,\"template\":{\"settings\":{\"number_of_"
       "shards\":1}}}",
       200},
      {"GET", "/_index_template/{name}", "/_index_template/t1", NULL, 200},
      {"GET", "/_index_template", "/_index_template", NULL, 200},
      {"HEAD", "/_index_template/{name}", "/_index_template/t1", NULL, 200},
      {"DELETE", "/_index_template/{name}", "/_index_template/t1", NULL, 200},
      {"DELETE", "/{index}", "/r1", NULL, 200},
      {"DELETE", "/{index}", "/r1", NULL, 404},
      {NULL, NULL, NULL, NULL, 0},
  };
  for (const step *st = steps; st->method; st++) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, st->path);
    fos_http_opts o = {.content_type = strstr(st->path, "_bulk") ? "application/x-ndjson" : NULL};
    fos_http_resp r;
    fos_http(st->method, url, st->body, st->body ? strlen(st->body) : 0, &o, &r);
    CHECK(r.status == st->status, "%s %s: status %ld, want %ld: %.300s", st->method, st->path,
          r.status, st->status, r.body);
    json_t *body = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    fos_op op;
    if (fos_spec_find(s, st->method, st->tmpl, &op)) {
      CHECK(0, "%s %s is in the spec", st->method, st->tmpl);
    } else {
      json_t *errs = json_array();
      int unres = 0;
      int n = fos_spec_check_response(s, &op, (int)r.status, body, errs, &unres);
      if (unres)
        printf("  (%s %s: %d schema references outside the reference copy)\n", st->method, st->path,
               unres);
      char *first =
          json_array_size(errs) ? strdup(json_string_value(json_array_get(errs, 0))) : NULL;
      CHECK(n == 0, "%s %s (%s) answer %ld matches the spec: %s", st->method, st->path, op.id,
            r.status, first ? first : "");
      free(first);
      json_decref(errs);
    }
    json_decref(body);
    fos_http_free(&r);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_routes FAKE_OPENSEARCH SHARED_DIR\n");
    return 2;
  }
  char dir[PATH_MAX], err[512], base[128];
  snprintf(dir, sizeof dir, "%s/reference/opensearch-api/spec", argv[2]);
  struct stat sb;
  if (stat(dir, &sb)) {
    printf("SKIPPED: ../shared not found (%s)\n", dir);
    return 77; /* CTest: SKIP_RETURN_CODE */
  }
  fos_spec *s = fos_spec_open(dir, err, sizeof err);
  CHECK(s != NULL, "spec opens: %s", err);
  pid_t pid = fos_fake_start(argv[1], "/dev/null", NULL, base, sizeof base);
  CHECK(pid > 0, "fake-opensearch starts");
  if (!s || pid <= 0) return th_check_done();
  json_t *routes = NULL;
  long st = fos_http_json("GET", base, "/_fake/routes", NULL, &routes);
  CHECK(st == 200 && json_array_size(routes) > 40, "the fake lists its routes");
  size_t i;
  json_t *r;
  json_array_foreach(routes, i, r) {
    const char *method = json_string_value(json_object_get(r, "method"));
    const char *path = json_string_value(json_object_get(r, "path"));
    fos_op op;
    int found = fos_spec_find(s, method, path, &op) == 0 && !strcmp(op.path, path);
    CHECK(found, "%s %s is an operation of the spec", method, path);
    if (!found) continue;
    json_t *params = json_object();
    size_t k;
    json_t *p;
    json_array_foreach(json_object_get(r, "params"), k, p) {
      json_object_set_new(params, json_string_value(p), json_string("x"));
    }
    /* Only the names matter here: a name the spec lacks is an error that
     * starts with "parameter [". */
    json_t *errs = json_array();
    int unres = 0;
    fos_spec_check_params(s, &op, params, errs, &unres);
    json_t *e;
    json_array_foreach(errs, k, e) {
      const char *msg = json_string_value(e);
      CHECK(strncmp(msg, "parameter [", 11) != 0, "%s %s: %s", method, path, msg);
    }
    json_decref(errs);
    json_decref(params);
  }
  json_decref(routes);
  walk(s, base);
  CHECK(fos_fake_stop(pid) == 0, "stops");
  fos_spec_close(s);
  return th_check_done();
}
