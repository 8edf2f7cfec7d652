/*
 * Nothing leaks through numbers (issue 14, item 3): an employee's results
 * depend only on the data that employee may see. Employee 1 runs searches
 * (one word, two words, a word absent from their data that relaxation
 * drops, a typo, a prefix, a name, a second page), suggestions and a Q&A
 * retrieval over real HTTP with a per-employee token; then employee 2's
 * data gets the same words, the absent word and employee 1's person's name
 * many times, plus seventy words sharing a prefix, and the indexer follows.
 * Employee 1's answers must be byte-identical (scores, order, totals,
 * relaxation, expansions, suggestions, passages); an admin's scores do move
 * (the statistics did change). A person moving to another employee takes
 * their statistics along: the new and old owners' answers equal those of an
 * index rebuilt from scratch (reindex).
 */
#include "harness.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NQ 12

static int port;
static char tok1[512], tok2[512], tok3[512];

/* A request of the set: GET path, or POST path with body. */
typedef struct req {
  const char *path, *body;
} req;

static const req queries[NQ] = {
    {"/v1/search?q=albergue", NULL},
    {"/v1/search?q=vivienda%20empadronamiento", NULL},
    {"/v1/search?q=albergue%20zanahoria", NULL}, /* relaxed: zanahoria is not theirs */
    {"/v1/search?q=empadronamento", NULL},       /* a typo */
    {"/v1/search?q=viv", NULL},                  /* a prefix */
    {"/v1/search?q=romero", NULL},               /* a name's word, also in a turn */
    {"/v1/search?q=vivienda%20familia&sort=relevance", NULL},
    {"/v1/suggest?q=alb", NULL},
    {"/v1/suggest?q=viv", NULL},
    {"/v1/qa/retrieve", "{\"question\": \"\\u00bfD\\u00f3nde vive usted con su familia?\"}"},
    {"/v1/conversations/1?q=viv", NULL},
    {"/v1/search?q=vivienda&limit=1", NULL},
};

/* The answer without what may differ between two identical calls (the time
 * taken), canonical JSON, malloc'd; NULL when the call failed. The paging
 * cursor stays: it holds the caller's own paging horizon, which must not
 * move when another employee's documents are indexed. */
static char *answer(const char *path, const char *body, const char *token) {
  char *raw = body ? th_http_post(port, path, token, body) : th_http_get(port, path, token);
  if (!raw) return NULL;
  json_t *j = json_loads(raw, 0, NULL);
  free(raw);
  if (!j) return NULL;
  json_object_del(j, "took_ms");
  char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(j);
  return s;
}

/* All answers of the set for one caller. */
static void answers(const char *token, char *out[NQ]) {
  for (int i = 0; i < NQ; i++)
    out[i] = answer(queries[i].path, queries[i].body, token);
}

static void free_answers(char *a[NQ]) {
  for (int i = 0; i < NQ; i++) {
    free(a[i]);
    a[i] = NULL;
  }
}

/* s (canonical JSON) without its paging cursor, malloc'd. */
static char *without_cursor(const char *s) {
  json_t *j = s ? json_loads(s, 0, NULL) : NULL;
  if (!j) return NULL;
  json_object_del(j, "next_cursor");
  char *o = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(j);
  return o;
}

/* Whether the answers are the same; across a reindex (docids renumbered),
 * cursors aside (`cursors` 0). */
static int same_answers_as(char *a[NQ], char *b[NQ], const char *what, int cursors) {
  int same = 1;
  for (int i = 0; i < NQ; i++) {
    char *x = cursors ? NULL : without_cursor(a[i]), *y = cursors ? NULL : without_cursor(b[i]);
    const char *u = cursors ? a[i] : x, *v = cursors ? b[i] : y;
    /* (Both failing is the same answer: another employee's conversation.) */
    int eq = u && v ? strcmp(u, v) == 0 : u == v;
    free(x);
    free(y);
    CHECK(eq, "%s: %s%s answers the same\n  before: %s\n  after:  %s", what, queries[i].path,
          queries[i].body ? " (POST)" : "", a[i] ? a[i] : "(failed)", b[i] ? b[i] : "(failed)");
    same &= eq;
  }
  return same;
}

static int same_answers(char *a[NQ], char *b[NQ], const char *what) {
  return same_answers_as(a, b, what, 1);
}

/* The page after the first of /v1/search?q=vivienda&limit=1 with the cursor
 * of `first` (a raw answer). */
static char *second_page(const char *token, const char *first) {
  json_t *j = json_loads(first, 0, NULL);
  const char *cur = j ? json_string_value(json_object_get(j, "next_cursor")) : NULL;
  char path[1024];
  snprintf(path, sizeof path, "/v1/search?q=vivienda&limit=1&cursor=%s", cur ? cur : "");
  json_decref(j);
  return cur ? answer(path, NULL, token) : NULL;
}

static double first_score(const char *path, const char *token) {
  char *raw = th_http_get(port, path, token);
  json_t *j = raw ? json_loads(raw, 0, NULL) : NULL;
  free(raw);
  double s =
      json_real_value(json_object_get(json_array_get(json_object_get(j, "hits"), 0), "score"));
  json_decref(j);
  return s;
}

static int has_text(const char *json, const char *needle) {
  return json && strstr(json, needle) != NULL;
}

int main(void) {
  th_init("owner_stats");
  PGconn *c;
  char pg[700], index[600], secret[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_owner_stats", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  snprintf(secret, sizeof secret, "%s/token-secret", th_dir());
  FILE *f = fopen(secret, "w");
  REQUIRE(f, "cannot write %s", secret);
  fputs("owner-stats-test-secret-0123456789\n", f);
  fclose(f);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "chmod 600 '%s'", secret);
  REQUIRE(system(cmd) == 0, "chmod");

  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL), (2, 'Luis', NULL), (3, 'Eva', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES "
            "(1, 1, 'Lucía Romero'), (2, 1, 'Tomás Vidal'), (3, 2, 'Pedro Sanz');"
            "INSERT INTO conversations (id, patient_id, owner_id, title, created_at) VALUES "
            "(1, 1, 1, 'Acogida inicial', '2026-01-01'), (2, 1, 1, 'Seguimiento vivienda', "
            "'2026-01-02'), (3, 2, 1, 'Entrevista', '2026-01-03'), (4, 2, 1, 'Documentación', "
            "'2026-01-04'), (5, 3, 2, 'Primera visita', '2026-01-05');"
            "INSERT INTO segments VALUES "
            "(1, 0, 'Ana', 'interviewer', 0, 1000, '¿Dónde vive usted ahora?'),"
            "(1, 1, 'Lucía', 'beneficiary', 1000, 2000, 'Vivo en un albergue de Cuenca desde "
            "marzo con mi familia'),"
            "(1, 2, 'Lucía', 'beneficiary', 2000, 3000, 'Necesito ayuda con el empadronamiento y "
            "la vivienda'),"
            "(2, 0, 'Ana', 'interviewer', 0, 1000, 'Buscamos vivienda cerca del trabajo'),"
            "(2, 1, 'Lucía', 'beneficiary', 1000, 2000, 'El albergue cierra en verano'),"
            "(2, 2, 'Lucía', 'beneficiary', 2000, 3000, 'Hablamos del empadronamiento otra vez'),"
            "(3, 0, 'Tomás', 'beneficiary', 0, 1000, 'Trabajo en la construcción'),"
            "(3, 1, 'Tomás', 'beneficiary', 1000, 2000, 'Vivía con mi hermano en Albacete'),"
            "(3, 2, 'Tomás', 'beneficiary', 2000, 3000, 'Quiero una vivienda para mi familia'),"
            "(4, 0, 'Tomás', 'beneficiary', 0, 1000, 'Falta el certificado de empadronamiento'),"
            "(4, 1, 'Tomás', 'beneficiary', 1000, 2000, 'Romero me ayudó con los papeles'),"
            "(5, 0, 'Pedro', 'beneficiary', 0, 1000, 'Vivo en Madrid y necesito trabajo')");
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  REQUIRE(th_indexer(once) == 0, "first run failed");

  pid_t srv = th_server_start_secret(index, secret, &port);
  th_mint_token(secret, 1, tok1, sizeof tok1);
  th_mint_token(secret, 2, tok2, sizeof tok2);
  th_mint_token(secret, 3, tok3, sizeof tok3);

  char *before[NQ], *after[NQ];
  answers(tok1, before);
  for (int i = 0; i < NQ; i++)
    REQUIRE(before[i], "employee 1: %s failed", queries[i].path);
  CHECK(has_text(before[2], "\"relaxed\":true"), "albergue zanahoria is relaxed for employee 1");
  CHECK(has_text(before[7], "albacete"), "employee 1 is offered Albacete for alb: %s", before[7]);
  CHECK(has_text(before[3], "\"conversation_id\":4"), "the typo finds empadronamiento");
  char *raw = th_http_get(port, "/v1/search?q=vivienda&limit=1", tok1);
  REQUIRE(raw, "first page");
  char *page2 = second_page(tok1, raw);
  REQUIRE(page2, "second page");
  double admin_before = first_score("/v1/search?q=albergue", TH_ADMIN_TOKEN);

  /* Employee 2's data gets employee 1's words, the word employee 1 lacks
   * and employee 1's person's name, many times; and seventy words starting
   * with "alb", each in several conversations. */
  char sql[1 << 16];
  size_t n = (size_t)snprintf(sql, sizeof sql,
                              "INSERT INTO patients (id, owner_id, name) VALUES "
                              "(4, 2, 'Lucía Romero'), (5, 2, 'Romero Romero');"
                              "INSERT INTO conversations (id, patient_id, owner_id, title) "
                              "SELECT i, 3 + i %% 3, 2, 'Albergue vivienda ' || i FROM "
                              "generate_series(10, 39) i;"
                              "INSERT INTO segments SELECT i, s, 'Pedro', 'beneficiary', 0, 1, "
                              "'albergue zanahoria vivienda empadronamiento romero viviendo "
                              "vivac vivero familia dónde vive' FROM generate_series(10, 39) i, "
                              "generate_series(0, 3) s;"
                              "INSERT INTO segments SELECT i, 10 + k, 'Pedro', 'beneficiary', 0, "
                              "1, 'alb' || chr(97 + k / 26) || chr(97 + k %% 26) FROM "
                              "generate_series(10, 39) i, generate_series(0, 69) k WHERE (i + k) "
                              "%% 10 < 4;");
  REQUIRE(n < sizeof sql, "sql");
  th_sql(c, sql);
  REQUIRE(th_indexer(once) == 0, "second run failed");
  REQUIRE(th_docs_with(index, "zanahoria") >= 100, "the indexer followed");

  answers(tok1, after);
  same_answers(before, after, "employee 1 after employee 2's data grew");
  char *page2b = second_page(tok1, raw);
  CHECK(page2b && strcmp(page2, page2b) == 0,
        "a second page asked with the first page's cursor is unchanged too\n  %s\n  %s", page2,
        page2b ? page2b : "(failed)");
  free(page2b);
  free(raw);
  raw = th_http_get(port, "/v1/search?q=vivienda&limit=1", tok1);
  page2b = raw ? second_page(tok1, raw) : NULL;
  CHECK(page2b && strcmp(page2, page2b) == 0, "and so is the second page asked afresh");
  free(page2b);
  double admin_after = first_score("/v1/search?q=albergue", TH_ADMIN_TOKEN);
  CHECK(admin_before > 0 && admin_after > 0 && admin_before != admin_after,
        "an admin's scores do move with the collection (%.6f -> %.6f)", admin_before, admin_after);
  free_answers(after);

  /* A person moves from employee 2 to employee 3, conversations and all:
   * employee 1 sees no difference; employees 2 and 3 see what an index
   * rebuilt from scratch gives. */
  th_sql(c, "UPDATE patients SET owner_id = 3 WHERE id = 4");
  REQUIRE(th_indexer(once) == 0, "third run failed");
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  CHECK(th_indexer(verify) == 0, "verify agrees with the moved per-owner statistics");
  answers(tok1, after);
  same_answers(before, after, "employee 1 after a person of employee 2 moved to employee 3");
  free_answers(after);
  char *moved2[NQ], *moved3[NQ], *fresh2[NQ], *fresh3[NQ];
  answers(tok2, moved2);
  answers(tok3, moved3);
  CHECK(has_text(moved3[0], "\"total\":10"), "employee 3 now finds the person's ten conversations");
  const char *reindex[] = {"reindex", "--pg", pg, "--index", index, NULL};
  REQUIRE(th_indexer(reindex) == 0, "reindex failed");
  th_sleep_ms(300); /* the server notices the new generation on its next view */
  answers(tok2, fresh2);
  answers(tok3, fresh3);
  same_answers_as(moved2, fresh2, "employee 2: moved statistics equal rebuilt ones", 0);
  same_answers_as(moved3, fresh3, "employee 3: moved statistics equal rebuilt ones", 0);
  answers(tok1, after);
  same_answers_as(before, after, "employee 1 after reindex", 0);
  CHECK(th_indexer(verify) == 0, "verify agrees after reindex");

  free_answers(before);
  free_answers(after);
  free_answers(moved2);
  free_answers(moved3);
  free_answers(fresh2);
  free_answers(fresh3);
  free(page2);
  free(raw);
  th_stop(srv);
  PQfinish(c);
  return th_done();
}
