/*
 * Shared by the benchmark harnesses (C and C++): the query file, the clock,
 * and the result lines that bench/report.py reads.
 *
 * Query file (bench/gen_queries.py): `qid<TAB>type<TAB>text` per line.
 * Result file: one line per measured execution,
 *   qid<TAB>type<TAB>pass<TAB>latency_us<TAB>returned<TAB>total<TAB>ids
 * where ids is a comma-separated list of the top hits (turn ids
 * conversation*1000000+seq for the peers, conversation ids for convsearch)
 * and total is the engine's count of matches, or -1 when it gives none.
 */
#ifndef CS_BENCH_COMMON_H
#define CS_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bq {
  char *id, *type, *text;
} bq;

static inline int bq_load(const char *path, bq **out, size_t *n) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    return -1;
  }
  size_t cap = 256, k = 0;
  bq *q = (bq *)malloc(cap * sizeof *q);
  char *line = NULL;
  size_t lcap = 0;
  ssize_t len;
  while ((len = getline(&line, &lcap, f)) > 0) {
    if (line[len - 1] == '\n') line[--len] = 0;
    char *t1 = strchr(line, '\t');
    if (!t1) continue;
    char *t2 = strchr(t1 + 1, '\t');
    if (!t2) continue;
    *t1 = *t2 = 0;
    if (k == cap) q = (bq *)realloc(q, (cap *= 2) * sizeof *q);
    q[k].id = strdup(line);
    q[k].type = strdup(t1 + 1);
    q[k].text = strdup(t2 + 1);
    k++;
  }
  free(line);
  fclose(f);
  *out = q;
  *n = k;
  return 0;
}

static inline double bq_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Splits text on spaces into at most max words (in place: text is copied). */
static inline int bq_words(const char *text, char words[][128], int max) {
  int n = 0;
  const char *p = text;
  while (*p && n < max) {
    while (*p == ' ')
      p++;
    if (!*p) break;
    const char *e = strchr(p, ' ');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l > 127) l = 127;
    memcpy(words[n], p, l);
    words[n][l] = 0;
    n++;
    p += l;
    while (*p && *p != ' ')
      p++;
  }
  return n;
}

/* Content words of a natural-language question: alphabetic runs (UTF-8
 * letters count as letters), lowercased ASCII, at least 3 bytes, not in
 * the stop list. stop is a NULL-terminated array. */
static inline int bq_is_stop(const char *w, char **stop) {
  for (char **s = stop; s && *s; s++)
    if (!strcmp(*s, w)) return 1;
  return 0;
}

static inline int bq_content_words(const char *text, char **stop, char words[][128], int max) {
  int n = 0;
  const unsigned char *p = (const unsigned char *)text;
  while (*p && n < max) {
    while (*p && !(*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
      p++;
    if (!*p) break;
    char w[128];
    size_t l = 0;
    while (*p && (*p >= 0x80 || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
      /* Spanish inverted marks are not letters. */
      if (p[0] == 0xC2 && (p[1] == 0xBF || p[1] == 0xA1)) break;
      if (l < 127) w[l++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
      p++;
    }
    if (p[0] == 0xC2 && (p[1] == 0xBF || p[1] == 0xA1)) p += 2;
    w[l] = 0;
    if (l >= 3 && !bq_is_stop(w, stop)) {
      int dup = 0;
      for (int i = 0; i < n; i++)
        dup |= !strcmp(words[i], w);
      if (!dup) strcpy(words[n++], w);
    }
  }
  return n;
}

/* The stop list file (bench/stopwords-es.txt): words separated by blanks,
 * lines starting with '#' ignored. Returns a NULL-terminated array. */
static inline char **bq_load_stop(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    return NULL;
  }
  size_t cap = 512, n = 0;
  char **s = (char **)calloc(cap, sizeof *s);
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') continue;
    for (char *tok = strtok(line, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
      if (n + 1 >= cap) s = (char **)realloc(s, (cap *= 2) * sizeof *s);
      s[n++] = strdup(tok);
    }
  }
  s[n] = NULL;
  fclose(f);
  return s;
}

#endif
