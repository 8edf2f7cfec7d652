/*
 * Seed corpora for the fuzzers, made at test time (nothing binary is
 * committed): `fuzz_seeds DIR` writes a small real index with the index
 * writer into DIR/index (the router fuzzer serves it), every value of its
 * tables as DIR/records/* (a decoder selector byte, as fuzz_records reads
 * it, then the stored bytes) and minted tokens, valid, expired and forged,
 * as DIR/token/*, and the index's stored-text dictionary (META zdict) as
 * DIR/zdict, which fuzz_records registers (CS_FUZZ_ZDICT) so that turn
 * blocks packed with it (zstd with the dictionary, LZ4 with its history)
 * and their word-scan marks are decoded, not refused at the first byte. The query and router seeds
 * come from tests/http/*.case (scripts/fuzz.sh).
 */
#include "auth.h"
#include "fuzz_auth.h"
#include "fuzz_records.h"
#include "records.h"
#include "store.h"
#include "textpack.h"
#include "writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void must(int rc, const char *what) {
  if (rc) {
    fprintf(stderr, "fuzz_seeds: %s failed (%d)\n", what, rc);
    exit(1);
  }
}

static void put_file(const char *dir, const char *name, const void *a, size_t an, const void *b,
                     size_t bn) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fwrite(a, 1, an, f);
  if (bn) fwrite(b, 1, bn, f);
  fclose(f);
}

/* Generated Spanish-looking text: n bytes of words picked by an LCG. */
static size_t words(char *out, size_t n, uint32_t *seed) {
  static const char *const w[] = {"vivienda", "albergue", "trabajo", "hermana", "niños",
                                  "padrón",   "médico",   "Cuenca",  "año",     "empleo",
                                  "de",       "la",       "que",     "el",      "en",
                                  "y",        "los",      "se",      "por",     "cocinero"};
  size_t len = 0;
  while (len + 12 < n) {
    *seed = *seed * 1103515245u + 12345u;
    const char *x = w[(*seed >> 16) % (sizeof w / sizeof *w)];
    size_t k = strlen(x);
    memcpy(out + len, x, k);
    len += k;
    out[len++] = (*seed >> 8) % 11 ? ' ' : ',';
  }
  out[len] = 0;
  return len;
}

/* Enough text for the writer to build its stored-text dictionary (patient
 * 4's filler conversations, ids from 1000), then conversations 20-22 whose
 * turns are packed with it: zstd with the dictionary (short turns), LZ4
 * with its history (turns of CS_TEXT_LZ4_MIN bytes or more), plain (a turn
 * alone in its block below that), with word-scan marks (turns of
 * CS_TMARKS_MIN_TEXT bytes or more). Their keys
 * sort first, so their blocks are among the dumped seeds. */
static void long_texts(cs_writer *w) {
  static char text[6][4096];
  uint32_t seed = 7;
  cs_patient_in pi = {4, 1, "Marta Ruiz", NULL, NULL, 1000, 1000};
  must(cs_writer_put_patient(w, &pi, NULL), "patient");
  size_t sampled = 0;
  for (uint64_t id = 1000; sampled < CS_ZDICT_SAMPLE + 4096; id++) {
    cs_turn_in t[6];
    for (int i = 0; i < 6; i++) {
      size_t n = words(text[i], 200 + (size_t)i * 300, &seed);
      sampled += n;
      t[i] = (cs_turn_in){i, "Ana", "interviewer", i * 1000, i * 1000 + 900, text[i], n};
    }
    cs_conv_in c = {id, 4, 1, "Relleno", NULL, "es", NULL, "done", 60000, 1000, 2000, t, 6};
    must(cs_writer_put_conversation(w, &c, NULL), "filler conversation");
  }
  static const size_t sizes[3][3] = {{90, 300, 1200}, {2000, 40, 600}, {4000, 1100, 260}};
  for (uint64_t id = 20; id < 23; id++) {
    cs_turn_in t[3];
    for (int i = 0; i < 3; i++) {
      size_t n = words(text[i], sizes[id - 20][i], &seed);
      t[i] = (cs_turn_in){i,        i % 2 ? "Ana" : "Luis", i % 2 ? "interviewer" : "beneficiary",
                          i * 1000, i * 1000 + 900,         text[i],
                          n};
    }
    cs_conv_in c = {id,   4, 1, "Entrevista larga", NULL, "es", NULL, "done", 60000, 1000,
                    2000, t, 3};
    must(cs_writer_put_conversation(w, &c, NULL), "long conversation");
  }
}

static void build(const char *dir) {
  cs_store *s;
  cs_writer *w;
  char err[256];
  must(cs_store_open(dir, CS_STORE_CREATE, &s, err, sizeof err), err);
  must(cs_writer_open(s, &w), "writer");
  must(cs_writer_begin(w), "begin");
  static const char *const names[] = {"Ana García", "Álvaro Núñez", "Ramón de la Quintero"};
  static const char *const texts[] = {
      "Buenos días, ¿dónde vive usted ahora?", "En un albergue de Cuenca, con mi hermana.",
      "¿Tiene permiso de trabajo? Busco empleo de cocinero.",
      "Sí, el pasaporte y el empadronamiento están en regla; café ☕ y niñez."};
  for (uint64_t p = 1; p <= 3; p++) {
    cs_patient_in pi = {p, p, names[p - 1], "x@example.org", "600 000 000", 1000, 1000};
    must(cs_writer_put_patient(w, &pi, NULL), "patient");
    cs_turn_in t[4];
    for (int i = 0; i < 4; i++)
      t[i] = (cs_turn_in){i,
                          i % 2 ? "Ana" : "Luis",
                          i % 2 ? "beneficiary" : "interviewer",
                          i * 1000,
                          i * 1000 + 900,
                          texts[(i + p) % 4],
                          strlen(texts[(i + p) % 4])};
    cs_conv_in c = {
        10 + p, p, p, "Entrevista de acogida", "Seguimiento", "es", NULL, "done", 60000, 1000,
        2000,   t, 4};
    must(cs_writer_put_conversation(w, &c, NULL), "conversation");
    cs_event_in e = {p, "conversation.played", p, p, 10 + p, 1500};
    must(cs_writer_put_event(w, &e, NULL), "event");
  }
  must(cs_writer_put_point(w, 1, "¿Tiene un lugar en el que vivir?", "vivienda"), "point");
  long_texts(w);
  cs_checkpoint cp = {100, 0, 0, 0, 1, 0};
  must(cs_writer_set_checkpoint(w, &cp), "checkpoint");
  must(cs_writer_set_mirror(w, 1), "mirror");
  cs_patient_in again = {2, 2, "Álvaro Núñez Ruiz", NULL, NULL, 1000, 3000};
  must(cs_writer_put_patient(w, &again, NULL), "patient again");
  must(cs_writer_commit(w), "commit");
  cs_writer_close(w);
  cs_store_close(s);
}

static void dump(const char *index, const char *out, const char *zdict_dir) {
  cs_store *s;
  char err[256];
  must(cs_store_open(index, CS_STORE_RDONLY, &s, err, sizeof err), err);
  cs_txn *t;
  must(cs_txn_begin(s, 0, &t), "txn");
  static const struct {
    cs_table table;
    int sel;
  } tables[] = {
      {CS_T_DOCS, FUZZ_DOC},        {CS_T_CONV, FUZZ_CONV},   {CS_T_TURN, FUZZ_TURN},
      {CS_T_PATIENT, FUZZ_PATIENT}, {CS_T_EVENT, FUZZ_EVENT}, {CS_T_INTER, FUZZ_INTER},
      {CS_T_LEX, FUZZ_LEX},         {CS_T_WORDS, FUZZ_WORD},  {CS_T_OLEX, FUZZ_OBLOCK},
      {CS_T_OWORDS, FUZZ_OBLOCK},   {CS_T_POINT, FUZZ_POINT}, {CS_T_OUTBOX, FUZZ_OUTOP},
      {CS_T_PASSAGE, FUZZ_PASSAGE}, {CS_T_POST, FUZZ_CHUNK},  {CS_T_META, -1},
  };
  int n = 0;
  for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
    cs_cursor *c;
    must(cs_cursor_open(t, tables[i].table, &c), "cursor");
    cs_slice k, v;
    int in_table = 0; /* at most 40 values of each table */
    for (int rc = cs_cursor_first(c, &k, &v); rc == 0 && in_table < 40;
         rc = cs_cursor_next(c, &k, &v)) {
      uint8_t head[3 + 255];
      size_t hn = 1;
      int sel = tables[i].sel;
      if (sel < 0) { /* META: the checkpoint and the statistics; the dictionary */
        if (k.len == 5 && !memcmp(k.data, "zdict", 5)) {
          put_file(zdict_dir, "zdict", v.data, v.len, NULL, 0);
          continue;
        }
        if (k.len == 10 && !memcmp(k.data, "checkpoint", 10))
          sel = FUZZ_CHECKPOINT;
        else if (k.len == 5 && !memcmp(k.data, "stats", 5))
          sel = FUZZ_STATS;
        else
          continue;
      }
      head[0] = (uint8_t)sel;
      if (sel == FUZZ_CHUNK) { /* the key's first docid, then the chunk */
        if (k.len < 4) continue;
        memcpy(head + 1, (const uint8_t *)k.data + k.len - 4, 4);
        hn = 5;
      }
      if (sel == FUZZ_OBLOCK) { /* the table, the key's length and key, then the block */
        if (k.len > 255) continue;
        head[1] = tables[i].table == CS_T_OWORDS;
        head[2] = (uint8_t)k.len;
        memcpy(head + 3, k.data, k.len);
        hn = 3 + k.len;
      }
      char name[32];
      snprintf(name, sizeof name, "r%03d", n++);
      in_table++;
      put_file(out, name, head, hn, v.data, v.len);
    }
    cs_cursor_close(c);
  }
  cs_txn_abort(t);
  cs_store_close(s);
}

static void tokens(const char *out) {
  static const struct {
    uint64_t employee;
    int64_t exp;
    const char *secret;
  } mints[] = {{7, 1700003600, FUZZ_SECRET},
               {7, 1699999000, FUZZ_SECRET},
               {1, 1700003600, "not the server's secret, 32 bytes"},
               {7, 9223372036854775807LL, FUZZ_SECRET}};
  char tok[512];
  for (size_t i = 0; i < sizeof mints / sizeof *mints; i++) {
    int n = cs_auth_mint(mints[i].secret, strlen(mints[i].secret), mints[i].employee, mints[i].exp,
                         tok, sizeof tok);
    if (n < 0) exit(1);
    char name[16];
    snprintf(name, sizeof name, "t%zu", i);
    put_file(out, name, "Bearer ", 7, tok, (size_t)n);
  }
  put_file(out, "admin", "Bearer admin", 12, NULL, 0);
  put_file(out, "basic", "Basic YWRtaW46YWRtaW4=", 22, NULL, 0);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_seeds DIR\n");
    return 2;
  }
  char path[1024];
  mkdir(argv[1], 0700);
  snprintf(path, sizeof path, "%s/index", argv[1]);
  build(path);
  char out[1100];
  snprintf(out, sizeof out, "%s/records", argv[1]);
  mkdir(out, 0700);
  dump(path, out, argv[1]);
  snprintf(out, sizeof out, "%s/zdict", argv[1]);
  struct stat st;
  if (stat(out, &st)) {
    fprintf(stderr, "fuzz_seeds: the writer built no stored-text dictionary\n");
    return 1;
  }
  snprintf(out, sizeof out, "%s/token", argv[1]);
  mkdir(out, 0700);
  tokens(out);
  return 0;
}
