/*
 * schemas/opensearch/template.json, the index template of the mirror:
 *   - against the OpenSearch API specification (settings, mappings and the
 *     create-index body the mirror builds from it), when ../shared is there;
 *   - in fake-opensearch: accepted as an index template and as a
 *     create-index body, documents shaped exactly as indexer/mirror.c sends
 *     them accepted through the alias with external versions, strict
 *     mapping refusing an unknown field, long conversations within the
 *     nested limit, and name.sort ordering names as Spanish readers expect.
 *
 *   test_template TEMPLATE_JSON FAKE_OPENSEARCH SHARED_DIR
 */
#include "check.h"
#include "client.h"
#include "spec.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CS_CHECK_COUNTERS;

static char base[128];

static void show_errors(json_t *errs) {
  size_t i;
  json_t *e;
  json_array_foreach(errs, i, e) {
    fprintf(stderr, "    %s\n", json_string_value(e));
  }
}

static void test_against_spec(json_t *tpl, const char *shared) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/reference/opensearch-api/spec", shared);
  struct stat sb;
  if (stat(dir, &sb)) {
    printf("SKIPPED: ../shared not found (%s): template not checked against the spec\n", dir);
    return;
  }
  char err[512];
  fos_spec *s = fos_spec_open(dir, err, sizeof err);
  CHECK(s != NULL, "spec opens: %s", err);
  if (!s) return;
  json_t *t = json_object_get(tpl, "template");
  json_t *errs = json_array();
  int unres = 0;
  int n = fos_spec_check_schema(s, "schemas/indices._common.yaml#/components/schemas/IndexSettings",
                                json_object_get(t, "settings"), errs, &unres);
  CHECK(n == 0, "template.settings is a valid IndexSettings (%d errors)", n);
  show_errors(errs);
  json_array_clear(errs);
  n = fos_spec_check_schema(s, "schemas/_common.mapping.yaml#/components/schemas/TypeMapping",
                            json_object_get(t, "mappings"), errs, &unres);
  CHECK(n == 0, "template.mappings is a valid TypeMapping (%d errors)", n);
  show_errors(errs);
  json_array_clear(errs);
  /* The body indexer/mirror.c sends to PUT /{index}. */
  json_t *body = json_pack("{s:O, s:O, s:{s:{}}}", "settings", json_object_get(t, "settings"),
                           "mappings", json_object_get(t, "mappings"), "aliases", "convsearch");
  fos_op op;
  CHECK(fos_spec_find(s, "PUT", "/convsearch-g1", &op) == 0 && !strcmp(op.id, "indices.create.0"),
        "PUT /{index} is indices.create");
  n = fos_spec_check_request(s, &op, NULL, body, errs, &unres);
  CHECK(n == 0, "the mirror's create-index body is valid (%d errors)", n);
  show_errors(errs);
  json_array_clear(errs);
  /* The validator does look inside: a misspelt Snowball language is caught. */
  json_t *bad = json_deep_copy(json_object_get(t, "settings"));
  json_object_set_new(
      json_object_get(json_object_get(json_object_get(bad, "analysis"), "filter"), "es_stem"),
      "language", json_string("Spansh"));
  n = fos_spec_check_schema(s, "schemas/indices._common.yaml#/components/schemas/IndexSettings",
                            bad, errs, &unres);
  CHECK(n > 0, "control: a wrong Snowball language fails validation");
  json_decref(bad);
  json_array_clear(errs);
  bad = json_deep_copy(json_object_get(t, "mappings"));
  json_object_set_new(json_object_get(json_object_get(bad, "properties"), "kind"), "type",
                      json_string("keywrd"));
  n = fos_spec_check_schema(s, "schemas/_common.mapping.yaml#/components/schemas/TypeMapping", bad,
                            errs, &unres);
  CHECK(n > 0, "control: an unknown field type fails validation");
  json_decref(bad);
  json_decref(errs);
  json_decref(body);
  if (unres) printf("spec: %d references outside the reference copy were not checked\n", unres);
  fos_spec_close(s);
}

/* ---------------------------------------------------------------- the fake */

static json_t *call(const char *method, const char *path, json_t *body, long *st) {
  json_t *out = NULL;
  *st = fos_http_json(method, base, path, body, &out);
  return out;
}

static json_t *bulk(const char *nd, long *st) {
  char url[256];
  snprintf(url, sizeof url, "%s/_bulk?refresh=true", base);
  fos_http_opts o = {.content_type = "application/x-ndjson"};
  fos_http_resp r;
  fos_http("POST", url, nd, strlen(nd), &o, &r);
  *st = r.status;
  json_t *j = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
  fos_http_free(&r);
  return j;
}

static long item_status(json_t *r, size_t i) {
  json_t *it = json_array_get(json_object_get(r, "items"), i);
  return (long)json_integer_value(
      json_object_get(json_object_iter_value(json_object_iter(it)), "status"));
}

static const char *item_error(json_t *r, size_t i) {
  json_t *it = json_array_get(json_object_get(r, "items"), i);
  json_t *e = json_object_get(json_object_iter_value(json_object_iter(it)), "error");
  return json_string_value(json_object_get(e, "type"));
}

/* A conversation document as indexer/mirror.c builds it. */
static json_t *conversation(int id, int nturns) {
  json_t *turns = json_array();
  for (int i = 0; i < nturns; i++)
    json_array_append_new(
        turns, json_pack("{s:i, s:s, s:s, s:I, s:I, s:s}", "seq", i, "speaker",
                         i % 2 ? "Ana" : "Usuario", "role", i % 2 ? "interviewer" : "beneficiary",
                         "start_ms", (json_int_t)i * 1000, "end_ms", (json_int_t)i * 1000 + 900,
                         "text", "¿Tiene usted un lugar en el que vivir?"));
  return json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:n, s:I, s:I, s:I, s:o, s:s}", "kind",
                   "conversation", "conversation_id", (json_int_t)id, "patient_id", (json_int_t)7,
                   "owner_id", (json_int_t)1, "title", "Entrevista inicial", "description", "",
                   "language", "es", "status", "", "created_at", "updated_at",
                   (json_int_t)1700000000000LL, "duration_ms", (json_int_t)nturns * 1000, "nturns",
                   (json_int_t)nturns, "turns", turns, "checksum", "00ff00ff00ff00ff");
}

static char *line(json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  return s;
}

static void append(char **buf, size_t *len, char *s) {
  size_t n = strlen(s);
  *buf = realloc(*buf, *len + n + 2);
  memcpy(*buf + *len, s, n);
  *len += n;
  (*buf)[(*len)++] = '\n';
  (*buf)[*len] = 0;
  free(s);
}

static void test_in_fake(json_t *tpl) {
  long st;
  json_t *j = call("PUT", "/_index_template/convsearch", tpl, &st);
  CHECK(st == 200, "the fake accepts the index template (%ld)", st);
  json_decref(j);
  j = call("GET", "/_index_template/convsearch", NULL, &st);
  json_t *it =
      json_object_get(json_array_get(json_object_get(j, "index_templates"), 0), "index_template");
  CHECK(st == 200 &&
            !strcmp(json_string_value(json_array_get(json_object_get(it, "index_patterns"), 0)),
                    "convsearch-*"),
        "and gives it back");
  json_decref(j);

  /* As the mirror creates its first index: template body + alias. */
  json_t *t = json_object_get(tpl, "template");
  json_t *body = json_pack("{s:O, s:O, s:{s:{}}}", "settings", json_object_get(t, "settings"),
                           "mappings", json_object_get(t, "mappings"), "aliases", "convsearch");
  j = call("PUT", "/convsearch-g1", body, &st);
  CHECK(st == 200, "the mirror's create-index body is accepted (%ld)", st);
  json_decref(j);
  json_decref(body);
  /* A bare create picks the template up by its pattern. */
  j = call("PUT", "/convsearch-g2", NULL, &st);
  json_decref(j);
  j = call("GET", "/convsearch-g2/_mapping", NULL, &st);
  json_t *props = json_object_get(json_object_get(json_object_get(j, "convsearch-g2"), "mappings"),
                                  "properties");
  CHECK(st == 200 &&
            !strcmp(json_string_value(json_object_get(json_object_get(props, "turns"), "type")),
                    "nested"),
        "an index named convsearch-* gets the template's mappings");
  json_decref(j);
  j = call("GET", "/convsearch-g2", NULL, &st);
  json_t *idx =
      json_object_get(json_object_get(json_object_get(j, "convsearch-g2"), "settings"), "index");
  CHECK(idx && !strcmp(json_string_value(json_object_get(idx, "number_of_shards")), "1"),
        "and its settings, normalized as OpenSearch shows them");
  json_decref(j);

  /* Documents exactly as the mirror sends them, through the alias. */
  char *nd = NULL;
  size_t len = 0;
  append(&nd, &len,
         line(json_pack("{s:{s:s, s:s, s:I, s:s}}", "index", "_index", "convsearch", "_id",
                        "conversation-5", "version", (json_int_t)12, "version_type", "external")));
  append(&nd, &len, line(conversation(5, 3)));
  append(&nd, &len,
         line(json_pack("{s:{s:s, s:s, s:I, s:s}}", "index", "_index", "convsearch", "_id",
                        "patient-7", "version", (json_int_t)13, "version_type", "external")));
  append(&nd, &len,
         line(json_pack("{s:s, s:I, s:I, s:s, s:s}", "kind", "patient", "patient_id", (json_int_t)7,
                        "owner_id", (json_int_t)1, "name", "Ñandú Pérez", "checksum",
                        "0123456789abcdef")));
  json_t *extra = conversation(6, 1);
  json_object_set_new(extra, "surprise", json_string("x"));
  append(&nd, &len,
         line(json_pack("{s:{s:s, s:s, s:I, s:s}}", "index", "_index", "convsearch", "_id",
                        "conversation-6", "version", (json_int_t)14, "version_type", "external")));
  append(&nd, &len, line(extra));
  json_t *r = bulk(nd, &st);
  free(nd);
  CHECK(st == 200 && item_status(r, 0) == 201,
        "a conversation as the mirror builds it is accepted (%ld)", item_status(r, 0));
  CHECK(item_status(r, 1) == 201, "a patient as the mirror builds it is accepted");
  CHECK(item_status(r, 2) == 400 && item_error(r, 2) &&
            !strcmp(item_error(r, 2), "strict_dynamic_mapping_exception"),
        "a field the mapping does not know is refused (dynamic: strict)");
  json_decref(r);

  /* A conversation with more turns than OpenSearch's default nested limit. */
  nd = NULL;
  len = 0;
  append(
      &nd, &len,
      line(json_pack("{s:{s:s, s:s}}", "index", "_index", "convsearch", "_id", "conversation-8")));
  append(&nd, &len, line(conversation(8, 10001)));
  r = bulk(nd, &st);
  CHECK(item_status(r, 0) == 201, "10001 turns fit the template's nested_objects limit");
  json_decref(r);
  /* The same mappings and analysis with OpenSearch's default nested limit. */
  json_t *settings = json_deep_copy(json_object_get(t, "settings"));
  json_object_del(settings, "mapping");
  body = json_pack("{s:o, s:O}", "settings", settings, "mappings", json_object_get(t, "mappings"));
  j = call("PUT", "/plain", body, &st);
  CHECK(st == 200, "an index with the default nested limit (%ld)", st);
  json_decref(j);
  json_decref(body);
  char *copy = strdup(nd);
  char *at = strstr(copy, "\"convsearch\"");
  memcpy(at, "\"plain\"     ", 12);
  r = bulk(copy, &st);
  CHECK(item_status(r, 0) == 400, "while the default limit (10000) would refuse it");
  json_decref(r);
  free(copy);
  free(nd);

  /* Long keyword values are skipped by ignore_above instead of failing. */
  char *longname = malloc(40001);
  memset(longname, 'a', 40000);
  longname[40000] = 0;
  nd = NULL;
  len = 0;
  append(&nd, &len,
         line(json_pack("{s:{s:s, s:s}}", "index", "_index", "convsearch", "_id", "patient-9")));
  append(&nd, &len,
         line(json_pack("{s:s, s:I, s:I, s:s, s:s}", "kind", "patient", "patient_id", (json_int_t)9,
                        "owner_id", (json_int_t)1, "name", longname, "checksum", "0")));
  r = bulk(nd, &st);
  CHECK(item_status(r, 0) == 201, "a 40000-byte name is accepted (ignore_above)");
  json_decref(r);
  free(nd);
  free(longname);
  j = call("DELETE", "/convsearch-g2,plain", NULL, &st);
  json_decref(j);
  j = call("DELETE", "/convsearch-g1/_doc/patient-9", NULL, &st);
  json_decref(j);

  /* name.sort orders as a Spanish reader expects: accents folded, ñ after n. */
  const char *names[] = {"Oscar", "Ñandú", "Nuria", "ana", "Beatriz", "Nuño", "Álvaro", "Zoe"};
  const char *want[] = {"Álvaro", "ana", "Beatriz", "Nuño", "Nuria", "Ñandú", "Oscar", "Zoe"};
  nd = NULL;
  len = 0;
  for (int i = 0; i < 8; i++) {
    char id[32];
    snprintf(id, sizeof id, "patient-%d", 100 + i);
    append(&nd, &len,
           line(json_pack("{s:{s:s, s:s}}", "index", "_index", "convsearch", "_id", id)));
    append(&nd, &len,
           line(json_pack("{s:s, s:i, s:i, s:s, s:s}", "kind", "patient", "patient_id", 100 + i,
                          "owner_id", 1, "name", names[i], "checksum", "0")));
  }
  r = bulk(nd, &st);
  json_decref(r);
  free(nd);
  json_t *q = json_pack("{s:i, s:{s:{s:s}}, s:[{s:s}], s:[s]}", "size", 20, "query", "term", "kind",
                        "patient", "sort", "name.sort", "asc", "_source", "name");
  j = call("POST", "/convsearch/_search", q, &st);
  json_decref(q);
  json_t *hits = json_object_get(json_object_get(j, "hits"), "hits");
  int ordered = st == 200;
  size_t k = 0, i;
  json_t *h;
  json_array_foreach(hits, i, h) {
    const char *n = json_string_value(json_object_get(json_object_get(h, "_source"), "name"));
    if (!strcmp(n, "Ñandú Pérez")) continue; /* the patient of the first bulk */
    if (k >= 8 || strcmp(n, want[k])) {
      ordered = 0;
      fprintf(stderr, "    position %zu: %s (want %s)\n", k, n, k < 8 ? want[k] : "-");
    }
    k++;
  }
  CHECK(ordered && k == 8,
        "sorting on name.sort: Álvaro, ana, Beatriz, Nuño, Nuria, Ñandú, Oscar, Zoe");
  json_decref(j);
  q = json_pack("{s:[s]}", "sort", "name");
  j = call("POST", "/convsearch/_search", q, &st);
  CHECK(st == 400, "sorting on the text field itself is refused, as OpenSearch does");
  json_decref(q);
  json_decref(j);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: test_template TEMPLATE_JSON FAKE_OPENSEARCH SHARED_DIR\n");
    return 2;
  }
  json_error_t jerr;
  json_t *tpl = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &jerr);
  CHECK(tpl != NULL, "%s parses: %s (line %d)", argv[1], jerr.text, jerr.line);
  if (!tpl) return th_check_done();
  json_t *pats = json_object_get(tpl, "index_patterns");
  CHECK(json_array_size(pats) == 1 &&
            !strcmp(json_string_value(json_array_get(pats, 0)), "convsearch-*"),
        "index_patterns is [\"convsearch-*\"]");
  test_against_spec(tpl, argv[3]);
  char log[256];
  snprintf(log, sizeof log, "/tmp/test_template-%d.log", (int)getpid());
  pid_t pid = fos_fake_start(argv[2], log, NULL, base, sizeof base);
  CHECK(pid > 0, "fake-opensearch starts");
  if (pid > 0) {
    test_in_fake(tpl);
    CHECK(fos_fake_stop(pid) == 0, "fake-opensearch stops");
  }
  json_decref(tpl);
  if (!th_failed)
    unlink(log);
  else
    fprintf(stderr, "server log: %s\n", log);
  return th_check_done();
}
