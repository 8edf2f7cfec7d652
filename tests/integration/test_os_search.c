/*
 * The mirror's index on a real OpenSearch node (the os_node fixture):
 *   - its Spanish analysis agrees with ours: the template's stop list is
 *     index/stopwords.c's, and _analyze with convsearch_es and
 *     index/analyzer.c give the same terms for every line of
 *     tests/opensearch/analysis_es.txt;
 *   - searches through the alias stem (desahucio finds desahuciaron), fold
 *     accents (medico finds médico) and keep ñ (ano does not find año);
 *   - the legacy portal's query: a plain query_string over all fields with
 *     highlighting finds conversations by the words of their turns (the
 *     turns_text copy_to field) and returns the highlights;
 *   - the mapping: a field it does not know is refused (dynamic: strict), a
 *     conversation of 10001 turns fits the nested limit, and name.sort
 *     orders names as a Spanish reader expects (accents folded, ñ after n).
 */
#include "analyzer.h"
#include "harness.h"
#include "stopwords.h"
#include "store.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char node_url[128];

typedef struct {
  char *p;
  size_t n;
} body;

static size_t grow(char *p, size_t s, size_t n, void *arg) {
  body *b = arg;
  char *q = realloc(b->p, b->n + s * n + 1);
  if (!q) return 0;
  memcpy(q + b->n, p, s * n);
  b->n += s * n;
  q[b->n] = 0;
  b->p = q;
  return s * n;
}

/* Sends method path with a JSON body (or none) to the node; returns the
 * parsed answer (NULL when there is none), *status the HTTP status. */
static json_t *os_json(const char *method, const char *path, json_t *req, long *status) {
  CURL *h = curl_easy_init();
  char url[512];
  snprintf(url, sizeof url, "%s%s", node_url, path);
  char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  body b = {0};
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  if (text) curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, grow);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  *status = 0;
  if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  json_t *out = b.p ? json_loads(b.p, 0, NULL) : NULL;
  free(b.p);
  free(text);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  json_decref(req);
  return out;
}

/* Terms of `text`, space-separated, from the node's convsearch_es. */
static void os_terms(const char *text, char *out, size_t cap) {
  long st;
  json_t *r = os_json("POST", "/convsearch/_analyze",
                      json_pack("{s:s, s:s}", "analyzer", "convsearch_es", "text", text), &st);
  out[0] = 0;
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(r, "tokens"), i, t) {
    size_t l = strlen(out);
    snprintf(out + l, cap - l, "%s%s", l ? " " : "",
             json_string_value(json_object_get(t, "token")));
  }
  json_decref(r);
}

/* Terms of `text` from our analyzer in Spanish, stop words left out. */
static void our_terms(cs_analyzer *a, const char *text, char *out, size_t cap) {
  const cs_token *t;
  size_t n;
  out[0] = 0;
  if (cs_analyze(a, "es", text, strlen(text), &t, &n)) return;
  for (size_t i = 0; i < n; i++) {
    if (t[i].flags & CS_TOK_STOP) continue;
    size_t l = strlen(out);
    snprintf(out + l, cap - l, "%s%s", l ? " " : "", t[i].term);
  }
}

/* Ids of the conversations a query_string query (with highlighting) on the
 * alias finds, as " id id "; *highlight gets the first hit's turns_text
 * highlight (or ""). */
static void query_string(const char *q, char *ids, size_t cap, char *highlight, size_t hcap) {
  long st;
  json_t *r = os_json("POST", "/convsearch/_search",
                      json_pack("{s:{s:{s:s}}, s:{s:{s:{}}}, s:i}", "query", "query_string",
                                "query", q, "highlight", "fields", "*", "size", 100),
                      &st);
  CHECK(st == 200, "query_string %s answered %ld", q, st);
  snprintf(ids, cap, " ");
  highlight[0] = 0;
  size_t i;
  json_t *h;
  json_array_foreach(json_object_get(json_object_get(r, "hits"), "hits"), i, h) {
    size_t l = strlen(ids);
    snprintf(ids + l, cap - l, "%s ", json_string_value(json_object_get(h, "_id")));
    json_t *hl = json_array_get(json_object_get(json_object_get(h, "highlight"), "turns_text"), 0);
    if (!highlight[0] && hl) snprintf(highlight, hcap, "%s", json_string_value(hl));
  }
  json_decref(r);
}

int main(void) {
  th_init("os_search");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  th_os_url(node_url, sizeof node_url);
  long st;
  json_decref(os_json("DELETE", "/convsearch*", NULL, &st));

  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_os_search", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Persona Uno');"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(1, 1, 1, 'Primera visita'), (2, 1, 1, 'Seguimiento'), (3, 1, 1, 'Cita');"
            "INSERT INTO segments VALUES "
            "(1, 0, 'x', 'other', 0, 1, 'Nos desahuciaron del piso el año pasado'),"
            "(1, 1, 'x', 'other', 1, 2, 'y desde entonces dormimos en el coche'),"
            "(2, 0, 'x', 'other', 0, 1, 'El médico vino a casa por la mañana'),"
            "(3, 0, 'x', 'other', 0, 1, 'Se me cayó el ano de la escalera')");
  const char *run[] = {"run", "--pg",         pg,       "--index", index, "--poll-ms",
                       "100", "--opensearch", node_url, NULL};
  pid_t ix = th_indexer_spawn(run);
  CHECK(th_wait_docs(index, "escalera", 1, 5000) >= 0, "indexed locally");
  int64_t t0 = th_now_ms();
  while (th_index_count(index, CS_T_OUTBOX) != 0 && th_now_ms() - t0 < 30000)
    th_sleep_ms(50);
  CHECK(th_index_count(index, CS_T_OUTBOX) == 0, "mirrored");
  th_stop(ix);
  json_decref(os_json("POST", "/convsearch/_refresh", NULL, &st));
  CHECK(st == 200, "refresh through the alias (%ld)", st);

  /* 1. The node's analysis and ours agree: the same stop list, and the
   * same terms for every line of the data file. */
  char path[700], line[512], theirs[2048], ours[2048];
  snprintf(path, sizeof path, "%s/schemas/opensearch/template.json", getenv("CS_SOURCE_DIR"));
  json_t *tpl = json_load_file(path, 0, NULL);
  json_t *stop = json_object_get(
      json_object_get(
          json_object_get(
              json_object_get(json_object_get(json_object_get(tpl, "template"), "settings"),
                              "analysis"),
              "filter"),
          "es_stop"),
      "stopwords");
  size_t nstop;
  const char *const *list = cs_stopword_list("es", &nstop);
  int same = json_array_size(stop) == nstop;
  for (size_t i = 0; same && i < nstop; i++)
    same = !strcmp(json_string_value(json_array_get(stop, i)), list[i]);
  CHECK(same, "the template's Spanish stop words are index/stopwords.c's (%zu, %zu)",
        json_array_size(stop), nstop);
  json_decref(tpl);
  snprintf(path, sizeof path, "%s/tests/opensearch/analysis_es.txt", getenv("CS_SOURCE_DIR"));
  FILE *f = fopen(path, "r");
  REQUIRE(f, "%s", path);
  cs_analyzer *a = cs_analyzer_create();
  int lines = 0, differ = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    if (!line[0] || line[0] == '#') continue;
    lines++;
    os_terms(line, theirs, sizeof theirs);
    our_terms(a, line, ours, sizeof ours);
    if (strcmp(theirs, ours)) {
      differ++;
      printf("  %s: OpenSearch [%s], ours [%s]\n", line, theirs, ours);
    }
  }
  fclose(f);
  cs_analyzer_destroy(a);
  CHECK(lines > 30 && differ == 0, "_analyze and our analyzer agree on %d lines (%d differ)", lines,
        differ);

  /* 2. Stemming, folded accents, ñ kept, through the alias. */
  char ids[1024], hl[1024];
  query_string("desahucio", ids, sizeof ids, hl, sizeof hl);
  CHECK(!strcmp(ids, " conversation-1 "), "desahucio finds desahuciaron (%s)", ids);
  query_string("medico", ids, sizeof ids, hl, sizeof hl);
  CHECK(!strcmp(ids, " conversation-2 "), "medico finds médico (%s)", ids);
  query_string("ano", ids, sizeof ids, hl, sizeof hl);
  CHECK(!strcmp(ids, " conversation-3 "), "ano does not find año (%s)", ids);
  query_string("año", ids, sizeof ids, hl, sizeof hl);
  CHECK(!strcmp(ids, " conversation-1 "), "año does not find ano (%s)", ids);

  /* 3. The legacy portal's query_string over all fields, with highlights:
   * found by a turn's words, the words highlighted. */
  query_string("coche", ids, sizeof ids, hl, sizeof hl);
  CHECK(!strcmp(ids, " conversation-1 "), "query_string finds a turn's word (%s)", ids);
  CHECK(strstr(hl, "<em>coche</em>") != NULL, "and highlights it (%s)", hl);
  query_string("seguimiento OR dormimos", ids, sizeof ids, hl, sizeof hl);
  CHECK(strstr(ids, " conversation-1 ") && strstr(ids, " conversation-2 "),
        "title and turn words in one query_string (%s)", ids);

  /* 4. The mapping. */
  json_t *r = os_json("PUT", "/convsearch/_doc/conversation-90?refresh=true",
                      json_pack("{s:s, s:i}", "kind", "conversation", "unknown_field", 1), &st);
  const char *type = json_string_value(json_object_get(json_object_get(r, "error"), "type"));
  CHECK(st == 400 && type && strstr(type, "strict_dynamic_mapping"),
        "a field the mapping does not know is refused (%ld %s)", st, type ? type : "");
  json_decref(r);
  json_t *turns = json_array();
  for (int i = 0; i < 10001; i++)
    json_array_append_new(turns, json_pack("{s:i, s:s}", "seq", i, "text", "turno"));
  r = os_json(
      "PUT", "/convsearch/_doc/conversation-91",
      json_pack("{s:s, s:i, s:o}", "kind", "conversation", "conversation_id", 91, "turns", turns),
      &st);
  json_decref(r);
  CHECK(st == 201, "10001 turns fit the template's nested_objects limit (%ld)", st);
  const char *names[] = {"Zoe", "Ñandú", "Nuria", "Nuño", "Beatriz", "ana", "Álvaro", "Oscar"};
  for (int i = 0; i < 8; i++) {
    char doc[128];
    snprintf(doc, sizeof doc, "/convsearch/_doc/patient-%d?refresh=true", 900 + i);
    json_decref(os_json(
        "PUT", doc,
        json_pack("{s:s, s:i, s:s}", "kind", "patient", "patient_id", 900 + i, "name", names[i]),
        &st));
  }
  r = os_json("POST", "/convsearch/_search",
              json_pack("{s:{s:{s:{s:i}}}, s:[{s:s}], s:i}", "query", "range", "patient_id", "gte",
                        900, "sort", "name.sort", "asc", "size", 20),
              &st);
  char order[256] = "";
  size_t i;
  json_t *h;
  json_array_foreach(json_object_get(json_object_get(r, "hits"), "hits"), i, h) {
    size_t l = strlen(order);
    snprintf(order + l, sizeof order - l, "%s%s", l ? ", " : "",
             json_string_value(json_object_get(json_object_get(h, "_source"), "name")));
  }
  json_decref(r);
  CHECK(!strcmp(order, "Álvaro, ana, Beatriz, Nuño, Nuria, Ñandú, Oscar, Zoe"),
        "name.sort orders as a Spanish reader expects (%s)", order);

  PQfinish(c);
  curl_global_cleanup();
  return th_done();
}
