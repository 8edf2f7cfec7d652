/*
 * Tests for ordering people (query/people.c) and suggestions
 * (query/suggest.c) against a small index written with the index writer:
 *   - Spanish ordering of names (accents, ñ, ü, case, surrounding spaces,
 *     numbers inside names), its reverse, ties broken by id;
 *   - interaction and recency ordering after a scripted sequence of events,
 *     per employee for portal callers and summed for admins;
 *   - cursor paging equal to the unpaged list, stable when people are added
 *     between pages, and refused when forged or from another sort;
 *   - q filtering, analysts' pseudonyms without contact fields;
 *   - two employees each seeing only their own people and words, including
 *     a word that shares its stem with a visible one ("marta"/"martes").
 *
 *   test_people          runs every check; exit 1 on any failure
 */
#include "engine.h"
#include "records.h"
#include "store.h"
#include "writer.h"

#include <stdarg.h>
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

CS_CHECK_COUNTERS;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define DAY 86400000LL

static void must(int rc, const char *what) {
  if (rc) {
    fprintf(stderr, "setup failed: %s (%d)\n", what, rc);
    exit(2);
  }
}

static void person(cs_writer *w, uint64_t id, uint64_t owner, const char *name, int64_t updated) {
  cs_patient_in p = {id, owner, name, "x@example.org", "600 000 000", updated, updated};
  must(cs_writer_put_patient(w, &p, NULL), name);
}

static void conversation(cs_writer *w, uint64_t id, uint64_t patient, uint64_t owner,
                         const char *const *texts, size_t n) {
  cs_turn_in t[8];
  for (size_t i = 0; i < n; i++) {
    t[i] = (cs_turn_in){(int32_t)i, "Ana",           i % 2 ? "beneficiary" : "interviewer", -1, -1,
                        texts[i],   strlen(texts[i])};
  }
  cs_conv_in c = {id,   patient, owner,          "Entrevista",   "Acogida", "es", NULL,
                  NULL, -1,      now_ms() - DAY, now_ms() - DAY, t,         n};
  must(cs_writer_put_conversation(w, &c, NULL), "conversation");
}

static void event(cs_writer *w, uint64_t pos, const char *type, uint64_t patient, uint64_t actor,
                  int64_t at) {
  cs_event_in e = {pos, type, patient, actor, 0, at};
  must(cs_writer_put_event(w, &e, NULL), type);
}

/* Spanish order of employee 1's people, as a reader expects it. */
static const char *const name_order[] = {
    "Alberto Núñez", "álvaro Gómez", "ana lópez",     "Ana López",      "Güell Ana",
    "Guerra Luis",   "Nuria Sáez",   "Ñandú Pérez",   "Oscar Vidal",    "Paciente 2",
    "paciente 3",    "Paciente 10",  "Úrsula Müller", "zacarías López", " Zoe Ruiz ",
};
#define NPEOPLE (sizeof name_order / sizeof name_order[0])

static void build(const char *dir) {
  cs_store *s;
  char err[256];
  must(cs_store_open(dir, CS_STORE_CREATE, &s, err, sizeof err), err);
  cs_writer *w;
  must(cs_writer_open(s, &w), "writer");
  must(cs_writer_begin(w), "begin");
  int64_t t = now_ms();
  /* Employee 1's people, inserted in an order unrelated to the expected
   * one; ids 101.. follow the insertion, except the tie pair. */
  static const struct {
    uint64_t id;
    const char *name;
  } ppl[] = {{101, " Zoe Ruiz "},    {102, "Paciente 10"},    {103, "Ñandú Pérez"},
             {104, "álvaro Gómez"},  {105, "Guerra Luis"},    {106, "paciente 3"},
             {107, "Úrsula Müller"}, {108, "Alberto Núñez"},  {109, "Nuria Sáez"},
             {110, "Paciente 2"},    {111, "zacarías López"}, {112, "Güell Ana"},
             {113, "Oscar Vidal"},   {131, "Ana López"},      {130, "ana lópez"}};
  for (size_t i = 0; i < sizeof ppl / sizeof ppl[0]; i++)
    person(w, ppl[i].id, 1, ppl[i].name, t - (int64_t)i * DAY);
  /* Employee 2's people. */
  person(w, 201, 2, "Beatriz Secreta", t);
  person(w, 202, 2, "Marta Oculta", t);

  static const char *const c1[] = {"El martes hablamos del desahucio de la vivienda.",
                                   "Trabajé de informático durante un año.",
                                   "Álvaro vive con su hermana."};
  static const char *const c2[] = {"Esto es clandestino y nadie más debe verlo.",
                                   "La vivienda de Marta tiene humedades."};
  conversation(w, 100, 104, 1, c1, 3);
  conversation(w, 200, 201, 2, c2, 2);

  /* Interactions of employee 1 (weights: recorded 5, question 3, played 2,
   * registered 1; half-life 30 days):
   *   Alberto (108): recorded 0.5 days ago            -> ~4.94
   *   álvaro (104): registered 1 day + question 2 days -> ~3.84
   *   Guerra (105): played 10 days ago by employee 1   -> ~1.59, and recorded
   *                 now by employee 9                  -> +5 for admins
   *   Oscar  (113): recorded 90 days ago               -> ~0.63 */
  event(w, 1, "conversation.recorded", 108, 1, t - DAY / 2);
  event(w, 2, "patient.registered", 104, 1, t - DAY);
  event(w, 3, "question.asked", 104, 1, t - 2 * DAY);
  event(w, 4, "conversation.played", 105, 1, t - 10 * DAY);
  event(w, 5, "conversation.recorded", 105, 9, t - 1000);
  event(w, 6, "conversation.recorded", 113, 1, t - 90 * DAY);
  event(w, 7, "conversation.recorded", 201, 2, t - DAY);
  must(cs_writer_commit(w), "commit");
  cs_writer_close(w);
  cs_store_close(s);
}

/* ---------------------------------------------------------------- helpers */

static json_t *patients(cs_engine *e, cs_caller c, int sort, const char *q, uint32_t limit,
                        const char *cursor, cs_engine_error *err) {
  json_t *out = NULL;
  memset(err, 0, sizeof *err);
  if (cs_engine_patients(e, &c, sort, q, limit, cursor, &out, err)) return NULL;
  return out;
}

/* Names of the items, joined by '|'. */
static void names(json_t *res, char *buf, size_t cap) {
  buf[0] = 0;
  json_t *items = json_object_get(res, "items"), *it;
  size_t i;
  json_array_foreach(items, i, it) {
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, "%s%s", i ? "|" : "",
             json_string_value(json_object_get(it, "name")));
  }
}

static void expected_names(const char *const *v, size_t n, int reverse, char *buf, size_t cap) {
  buf[0] = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, "%s%s", i ? "|" : "", v[reverse ? n - 1 - i : i]);
  }
}

/* Pages through a whole list with `limit`; returns the joined names. */
static void paged(cs_engine *e, cs_caller c, int sort, const char *q, uint32_t limit, char *buf,
                  size_t cap) {
  buf[0] = 0;
  char cursor[600] = "";
  for (int pages = 0; pages < 100; pages++) {
    cs_engine_error err;
    json_t *r = patients(e, c, sort, q, limit, cursor[0] ? cursor : NULL, &err);
    if (!r) {
      th_check(0, "paging failed: %s", err.message);
      return;
    }
    char part[4096];
    names(r, part, sizeof part);
    size_t l = strlen(buf);
    if (part[0] && snprintf(buf + l, cap - l, "%s%s", l ? "|" : "", part) >= (int)(cap - l))
      th_check(0, "walked names fit the buffer");
    json_t *next = json_object_get(r, "next_cursor");
    th_check(json_array_size(json_object_get(r, "items")) <= limit, "page within limit");
    if (!json_is_string(next)) {
      json_decref(r);
      return;
    }
    snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
    json_decref(r);
  }
  th_check(0, "paging did not end");
}

static json_t *suggest(cs_engine *e, cs_caller c, const char *q) {
  json_t *out = NULL;
  cs_engine_error err;
  if (cs_engine_suggest(e, &c, q, 8, &out, &err)) {
    th_check(0, "suggest \"%s\" failed: %s", q, err.message);
    return NULL;
  }
  return out;
}

/* "word:text" / "person:text#id" joined by '|'. */
static void suggestions(json_t *r, char *buf, size_t cap) {
  buf[0] = 0;
  json_t *it;
  size_t i;
  json_array_foreach(json_object_get(r, "suggestions"), i, it) {
    size_t l = strlen(buf);
    const char *kind = json_string_value(json_object_get(it, "kind"));
    if (json_object_get(it, "id"))
      snprintf(buf + l, cap - l, "%s%s:%s#%lld", i ? "|" : "", kind,
               json_string_value(json_object_get(it, "text")),
               (long long)json_integer_value(json_object_get(it, "id")));
    else
      snprintf(buf + l, cap - l, "%s%s:%s", i ? "|" : "", kind,
               json_string_value(json_object_get(it, "text")));
  }
}

static void expect_suggest(cs_engine *e, cs_caller c, const char *q, const char *want) {
  json_t *r = suggest(e, c, q);
  char got[2048];
  suggestions(r, got, sizeof got);
  th_check(!strcmp(got, want), "suggest role %d employee %llu \"%s\": want [%s] got [%s]", c.role,
           (unsigned long long)c.employee_id, q, want, got);
  json_decref(r);
}

/* ---------------------------------------------------------------- tests */

static const cs_caller emp1 = {CS_CALLER_PORTAL, 1}, emp2 = {CS_CALLER_PORTAL, 2},
                       nobody = {CS_CALLER_PORTAL, 0}, admin = {CS_CALLER_ADMIN, 0},
                       analyst = {CS_CALLER_ANALYST, 0};

static void test_name_order(cs_engine *e) {
  char want[4096], got[4096];
  cs_engine_error err;
  json_t *r = patients(e, emp1, CS_PEOPLE_NAME, NULL, 100, NULL, &err);
  names(r, got, sizeof got);
  expected_names(name_order, NPEOPLE, 0, want, sizeof want);
  th_check(!strcmp(got, want), "Spanish name order:\n  want %s\n  got  %s", want, got);
  th_check(json_is_null(json_object_get(r, "next_cursor")), "one page: next_cursor null");
  json_t *first = json_array_get(json_object_get(r, "items"), 0);
  th_check(json_is_string(json_object_get(first, "email")) &&
               json_is_string(json_object_get(first, "phone")) &&
               json_integer_value(json_object_get(first, "owner_id")) == 1,
           "portal items carry contact fields and owner");
  json_decref(r);

  r = patients(e, emp1, CS_PEOPLE_NAME_DESC, NULL, 100, NULL, &err);
  names(r, got, sizeof got);
  expected_names(name_order, NPEOPLE, 1, want, sizeof want);
  th_check(!strcmp(got, want), "-name is the exact reverse:\n  want %s\n  got  %s", want, got);
  json_decref(r);

  for (uint32_t limit = 1; limit <= 4; limit++) {
    paged(e, emp1, CS_PEOPLE_NAME, NULL, limit, got, sizeof got);
    expected_names(name_order, NPEOPLE, 0, want, sizeof want);
    th_check(!strcmp(got, want), "paging by %u equals the whole list:\n  want %s\n  got  %s", limit,
             want, got);
    paged(e, emp1, CS_PEOPLE_NAME_DESC, NULL, limit, got, sizeof got);
    expected_names(name_order, NPEOPLE, 1, want, sizeof want);
    th_check(!strcmp(got, want), "paging -name by %u", limit);
  }
}

static void test_isolation(cs_engine *e) {
  char got[4096];
  cs_engine_error err;
  json_t *r = patients(e, emp2, CS_PEOPLE_NAME, NULL, 100, NULL, &err);
  names(r, got, sizeof got);
  th_check(!strcmp(got, "Beatriz Secreta|Marta Oculta"), "employee 2 sees only theirs: %s", got);
  json_decref(r);
  r = patients(e, nobody, CS_PEOPLE_NAME, NULL, 100, NULL, &err);
  th_check(r && json_array_size(json_object_get(r, "items")) == 0,
           "portal caller without employee sees nobody");
  json_decref(r);
  r = patients(e, admin, CS_PEOPLE_NAME, NULL, 100, NULL, &err);
  th_check(r && json_array_size(json_object_get(r, "items")) == NPEOPLE + 2, "admin sees everyone");
  json_decref(r);

  r = patients(e, analyst, CS_PEOPLE_NAME, NULL, 100, NULL, &err);
  json_t *it;
  size_t i;
  int pseudo = 1, contact = 0;
  json_array_foreach(json_object_get(r, "items"), i, it) {
    pseudo &= !strncmp(json_string_value(json_object_get(it, "name")), "Persona ", 8);
    contact |= json_object_get(it, "email") != NULL || json_object_get(it, "phone") != NULL;
  }
  th_check(r && json_array_size(json_object_get(r, "items")) == NPEOPLE + 2 && pseudo && !contact,
           "analyst: everyone, pseudonymised, no contact fields");
  json_decref(r);
  r = patients(e, analyst, CS_PEOPLE_NAME, "alberto", 100, NULL, &err);
  th_check(r && json_array_size(json_object_get(r, "items")) == 0,
           "analyst cannot find a person by real name");
  json_decref(r);
}

static void test_q(cs_engine *e) {
  struct {
    const char *q, *want;
  } cases[] = {
      {"pac", "Paciente 2|paciente 3|Paciente 10"},
      {"PACIENTE 1", "Paciente 10"},
      {"gom alv", "álvaro Gómez"},
      {"alvaro", "álvaro Gómez"},
      {"nu", "Alberto Núñez|Nuria Sáez"},
      {"ñ", "Ñandú Pérez"},
      {"muller", "Úrsula Müller"},
      {"guell", "Güell Ana"},
      {"zoe", " Zoe Ruiz "},
      {"beatriz", ""},
      {"  ", "Alberto Núñez|álvaro Gómez|ana lópez|Ana López|Güell Ana|Guerra Luis|Nuria Sáez|"
             "Ñandú Pérez|Oscar Vidal|Paciente 2|paciente 3|Paciente 10|Úrsula Müller|"
             "zacarías López| Zoe Ruiz "},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cs_engine_error err;
    char got[4096];
    json_t *r = patients(e, emp1, CS_PEOPLE_NAME, cases[i].q, 100, NULL, &err);
    names(r, got, sizeof got);
    th_check(!strcmp(got, cases[i].want), "q \"%s\": want [%s] got [%s]", cases[i].q, cases[i].want,
             got);
    json_decref(r);
  }
}

static void test_interaction(cs_engine *e) {
  char got[4096];
  cs_engine_error err;
  json_t *r = patients(e, emp1, CS_PEOPLE_INTERACTION, NULL, 5, NULL, &err);
  names(r, got, sizeof got);
  /* After the four with interactions, the rest by id: 101 " Zoe Ruiz ". */
  th_check(!strcmp(got, "Alberto Núñez|álvaro Gómez|Guerra Luis|Oscar Vidal| Zoe Ruiz "),
           "interaction order (portal): %s", got);
  json_t *a = json_array_get(json_object_get(r, "items"), 0);
  double s = json_real_value(json_object_get(a, "interaction"));
  th_check(s > 4.8 && s < 5.0, "decayed score of a recording half a day old: %f", s);
  th_check(json_is_string(json_object_get(a, "last_interaction_at")), "last_interaction_at set");
  json_t *z = json_array_get(json_object_get(r, "items"), 4);
  th_check(json_is_null(json_object_get(z, "last_interaction_at")) &&
               json_real_value(json_object_get(z, "interaction")) == 0,
           "no interaction: 0 and null");
  json_decref(r);

  paged(e, emp1, CS_PEOPLE_INTERACTION, NULL, 2, got, sizeof got);
  char whole[4096];
  r = patients(e, emp1, CS_PEOPLE_INTERACTION, NULL, 100, NULL, &err);
  names(r, whole, sizeof whole);
  json_decref(r);
  th_check(!strcmp(got, whole), "interaction paging by 2 equals the whole list");

  r = patients(e, admin, CS_PEOPLE_INTERACTION, NULL, 3, NULL, &err);
  names(r, got, sizeof got);
  th_check(!strcmp(got, "Guerra Luis|Alberto Núñez|Beatriz Secreta"),
           "admins see interaction summed over employees: %s", got);
  json_decref(r);

  r = patients(e, emp1, CS_PEOPLE_RECENT, NULL, 5, NULL, &err);
  names(r, got, sizeof got);
  /* Then by updated_at descending: " Zoe Ruiz " (101) was updated last. */
  th_check(!strcmp(got, "Alberto Núñez|álvaro Gómez|Guerra Luis|Oscar Vidal| Zoe Ruiz "),
           "recent order: %s", got);
  json_decref(r);
  paged(e, emp1, CS_PEOPLE_RECENT, NULL, 3, got, sizeof got);
  r = patients(e, emp1, CS_PEOPLE_RECENT, NULL, 100, NULL, &err);
  names(r, whole, sizeof whole);
  json_decref(r);
  th_check(!strcmp(got, whole), "recent paging by 3 equals the whole list");
}

static void test_cursors(cs_engine **ep, const char *dir) {
  cs_engine *e = *ep;
  cs_engine_error err;
  json_t *r = patients(e, emp1, CS_PEOPLE_NAME, NULL, 3, NULL, &err);
  char cursor[600];
  snprintf(cursor, sizeof cursor, "%s", json_string_value(json_object_get(r, "next_cursor")));
  json_decref(r);
  th_check(patients(e, emp1, CS_PEOPLE_RECENT, NULL, 3, cursor, &err) == NULL &&
               !strcmp(err.code, "bad_cursor") && err.status == 400,
           "a cursor of another sort is refused");
  static const char *const forged[] = {"AAAA", "!!!!", "UAEA", "", "x"};
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
    json_t *x = patients(e, emp1, CS_PEOPLE_NAME, NULL, 3, forged[i], &err);
    th_check((x == NULL && !strcmp(err.code, "bad_cursor")) || (x && !forged[i][0]),
             "forged cursor \"%s\" refused", forged[i]);
    json_decref(x);
  }

  /* People added between pages: one sorting before the cursor, one after.
   * The next page starts strictly after the cursor: nothing is repeated and
   * the later one shows up. */
  /* (The engine closes while the writer writes: LMDB allows one open of an
   * index per process. A cursor outlives the engine that made it.) */
  cs_engine_close(e);
  cs_store *s;
  char msg[256];
  must(cs_store_open(dir, 0, &s, msg, sizeof msg), msg);
  cs_writer *w;
  must(cs_writer_open(s, &w), "writer");
  must(cs_writer_begin(w), "begin");
  person(w, 140, 1, "Aaron Abad", now_ms());
  person(w, 141, 1, "Yolanda Yuste", now_ms());
  must(cs_writer_commit(w), "commit");
  cs_writer_close(w);
  cs_store_close(s);
  cs_engine_error eerr;
  if (cs_engine_open(dir, ep, &eerr)) {
    fprintf(stderr, "cannot open the index again: %s\n", eerr.message);
    exit(2);
  }
  e = *ep;

  char got[4096] = "";
  for (int pages = 0; pages < 20 && cursor[0]; pages++) {
    json_t *p = patients(e, emp1, CS_PEOPLE_NAME, NULL, 3, cursor, &err);
    char part[2048];
    names(p, part, sizeof part);
    size_t l = strlen(got);
    snprintf(got + l, sizeof got - l, "%s%s", l ? "|" : "", part);
    json_t *next = json_object_get(p, "next_cursor");
    snprintf(cursor, sizeof cursor, "%s", json_is_string(next) ? json_string_value(next) : "");
    json_decref(p);
  }
  th_check(!strcmp(got, "Ana López|Güell Ana|Guerra Luis|Nuria Sáez|Ñandú Pérez|Oscar Vidal|"
                        "Paciente 2|paciente 3|Paciente 10|Úrsula Müller|Yolanda Yuste|"
                        "zacarías López| Zoe Ruiz "),
           "pages after concurrent inserts: %s", got);
}

static void test_suggest(cs_engine *e) {
  expect_suggest(e, emp1, "clan", "");
  expect_suggest(e, emp2, "clan", "word:clandestino");
  expect_suggest(e, admin, "clan", "word:clandestino");
  /* "marta" (a name of employee 2's, and said in their interview) shares the
   * stem of "martes": employee 1 must not get it. */
  expect_suggest(e, emp1, "mart", "word:martes");
  expect_suggest(e, emp2, "mart", "person:Marta Oculta#202|word:marta");
  expect_suggest(e, analyst, "mart", "word:marta|word:martes");
  expect_suggest(e, analyst, "ocul", "");
  expect_suggest(e, emp1, "infor", "word:informático");
  expect_suggest(e, emp1, "Infor", "word:informático");
  expect_suggest(e, emp1, "desa", "word:desahucio");
  expect_suggest(e, emp2, "desa", "");
  expect_suggest(e, emp1, "trabajé de infor", "word:informático");
  expect_suggest(e, emp1, "infor ", "");
  expect_suggest(e, emp1, "", "");
  expect_suggest(e, nobody, "viv", "");
  expect_suggest(e, emp1, "¿alv", "person:álvaro Gómez#104|word:álvaro");
  expect_suggest(e, emp2, "alv", "");
  expect_suggest(e, emp1, "beatr", "");
  expect_suggest(e, emp2, "beatr", "person:Beatriz Secreta#201|word:beatriz");
}

int main(void) {
  char dir[] = "/tmp/test_people.XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  build(dir);
  cs_engine *e;
  cs_engine_error err;
  if (cs_engine_open(dir, &e, &err)) {
    fprintf(stderr, "cannot open the index: %s\n", err.message);
    return 2;
  }
  test_name_order(e);
  test_isolation(e);
  test_q(e);
  test_interaction(e);
  test_suggest(e);
  test_cursors(&e, dir);
  cs_engine_close(e);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  printf("test_people: %d passed, %d failed\n", th_passed, th_failed);
  return th_failed ? 1 : 0;
}
