/*
 * Tests for pseudonyms (query/pseudonym.c):
 *   - the shape: "Persona " and 13 base32 characters;
 *   - the same id and secret give the same pseudonym (stable across
 *     restarts: nothing but the secret and the id goes in);
 *   - another secret gives another pseudonym for every id;
 *   - no two of 100,000 ids (consecutive, and random 64-bit ones) share one;
 *   - never the unkeyed form of the id used before (24 bits of a public mix);
 *   - secrets outside 16..1024 bytes are refused.
 *
 *   test_pseudonym       runs every check; exit 1 on any failure
 */
#include "engine.h"
#include "redact.h"

#include "check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CS_CHECK_COUNTERS;

#define N 100000

static void old_form(uint64_t id, char buf[32]) {
  uint64_t h = id * 0x9E3779B97F4A7C15ULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  snprintf(buf, 32, "Persona %06" PRIx64, h & 0xFFFFFF);
}

static int str_cmp(const void *a, const void *b) {
  return strcmp(a, b);
}

static uint64_t next_random(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Pseudonyms of ids[0..n) under the secret set now, sorted; the number of
 * adjacent equal ones. */
static int collisions(const uint64_t *ids, size_t n, char (*out)[32]) {
  for (size_t i = 0; i < n; i++)
    cs__pseudonym(ids[i], out[i]);
  qsort(out, n, sizeof *out, str_cmp);
  int c = 0;
  for (size_t i = 1; i < n; i++)
    c += !strcmp(out[i - 1], out[i]);
  return c;
}

int main(void) {
  static const char s1[] = "a secret of the first deployment";
  static const char s2[] = "another deployment's own secret!";
  CHECK(cs_pseudonym_set_secret("short", 5) != 0, "a 5-byte secret is refused");
  CHECK(cs_pseudonym_set_secret(s1, strlen(s1)) == 0, "a 32-byte secret is taken");

  char a[32], b[32], old[32];
  cs__pseudonym(42, a);
  CHECK(strlen(a) == 21 && !strncmp(a, "Persona ", 8) &&
            strspn(a + 8, "0123456789abcdefghjkmnpqrstvwxyz") == 13,
        "shape: %s", a);
  cs__pseudonym(42, b);
  CHECK(!strcmp(a, b), "the same id twice: %s %s", a, b);

  uint64_t *ids = malloc(2 * N * sizeof *ids);
  char(*p1)[32] = malloc(2 * N * sizeof *p1), (*p2)[32] = malloc(2 * N * sizeof *p2);
  if (!ids || !p1 || !p2) return 2;
  uint64_t seed = 0x2545F4914F6CDD1DULL;
  for (size_t i = 0; i < N; i++) {
    ids[i] = i + 1;
    ids[N + i] = next_random(&seed);
  }
  int old_seen = 0, same = 0;
  for (size_t i = 0; i < 2 * N; i++) {
    cs__pseudonym(ids[i], p1[i]);
    old_form(ids[i], old);
    old_seen += !strcmp(p1[i], old);
  }
  CHECK(old_seen == 0, "%d pseudonyms in the unkeyed form", old_seen);
  CHECK(cs_pseudonym_set_secret(s2, strlen(s2)) == 0, "the second secret is taken");
  for (size_t i = 0; i < 2 * N; i++) {
    cs__pseudonym(ids[i], p2[i]);
    same += !strcmp(p1[i], p2[i]);
  }
  CHECK(same == 0, "another secret: %d of %d ids keep their pseudonym", same, 2 * N);
  /* Back to the first secret (a restart with the same file): the same. */
  cs_pseudonym_set_secret(s1, strlen(s1));
  cs__pseudonym(42, b);
  CHECK(!strcmp(a, b), "the first secret again: %s, was %s", b, a);

  int c1 = collisions(ids, N, p1), c2 = collisions(ids + N, N, p2);
  CHECK(c1 == 0, "%d collisions over ids 1..%d", c1, N);
  CHECK(c2 == 0, "%d collisions over %d random 64-bit ids", c2, N);
  free(ids);
  free(p1);
  free(p2);
  printf("test_pseudonym: ");
  return th_check_done();
}
