/*
 * Tests for the HTTP layer's JSON writer (api/json_write.c): its text is
 * byte for byte json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(p)) on
 * hand-picked values (every ASCII byte in strings and keys, multi-byte
 * UTF-8, reals that need ".0", exponents, extremes) and on random trees;
 * invalid UTF-8 fails as it fails in jansson.
 *
 *   test_json_write      runs every check; exit 1 on any failure
 */
#include "json_write.h"

#include "check.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CS_CHECK_COUNTERS;

/* Both writers on j; checks the texts are equal (or both fail). */
static void same(const json_t *j, int precision, const char *what) {
  size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | (precision ? JSON_REAL_PRECISION(precision) : 0);
  char *want = json_dumps(j, flags);
  size_t len = 12345;
  char *got = cs_json_write(j, precision, &len);
  if (!want) {
    CHECK(!got, "%s: jansson fails, ours wrote %s", what, got);
  } else {
    CHECK(got && !strcmp(got, want) && len == strlen(want),
          "%s (precision %d):\n want %s\n got  %s", what, precision, want, got ? got : "(NULL)");
  }
  free(want);
  free(got);
}

static void same_all(json_t *j, const char *what) {
  same(j, 0, what);
  same(j, 10, what);
  same(j, 3, what);
  json_decref(j);
}

static uint64_t rng = 42;
static uint32_t next(void) {
  rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(rng >> 33);
}

static json_t *random_string(void) {
  static const char *const pieces[] = {"a",  "Z",    " ",    "\"",   "\\", "/", "\n",
                                       "\t", "\x01", "\x1f", "\x7f", "é",  "ñ", "€",
                                       "😀",  "<b>",  "</b>", "\r",   "\b", "\f"};
  char b[256];
  size_t n = 0, k = next() % 24;
  for (size_t i = 0; i < k; i++) {
    const char *p = pieces[next() % (sizeof pieces / sizeof pieces[0])];
    size_t l = strlen(p);
    if (n + l >= sizeof b) break;
    memcpy(b + n, p, l);
    n += l;
  }
  return json_stringn(b, n);
}

static json_t *random_tree(int depth) {
  switch (next() % (depth > 4 ? 6 : 8)) {
  case 0:
    return random_string();
  case 1:
    return json_integer((json_int_t)(int32_t)next() * (json_int_t)(next() % 1000));
  case 2: {
    double v = (double)(int32_t)next() / (double)(next() % 100000 + 1);
    return json_real(next() % 3 ? v : v * pow(10, (int)(next() % 80) - 40));
  }
  case 3:
    return json_true();
  case 4:
    return json_false();
  case 5:
    return json_null();
  case 6: {
    json_t *a = json_array();
    for (int i = (int)(next() % 6); i > 0; i--)
      json_array_append_new(a, random_tree(depth + 1));
    return a;
  }
  default: {
    json_t *o = json_object();
    for (int i = (int)(next() % 6); i > 0; i--) {
      json_t *k = random_string();
      json_object_setn_new(o, json_string_value(k), json_string_length(k), random_tree(depth + 1));
      json_decref(k);
    }
    return o;
  }
  }
}

int main(void) {
  /* Every ASCII byte, alone and between letters, as a value and as a key. */
  for (int c = 0; c < 128; c++) {
    char s[3] = {'x', (char)c, 'y'};
    char what[32];
    snprintf(what, sizeof what, "byte 0x%02x", c);
    same_all(json_stringn(s + 1, 1), what);
    same_all(json_stringn(s, 3), what);
    json_t *o = json_object();
    json_object_setn_new(o, s, 3, json_integer(c));
    same_all(o, what);
  }
  same_all(json_string("señora presidenta, ¿qué € 😀?"), "multi-byte UTF-8");
  same_all(json_string(""), "empty string");
  same_all(json_object(), "empty object");
  same_all(json_array(), "empty array");
  same_all(json_pack("{s:[i,i,{}],s:{s:b,s:n},s:s}", "hits", 1, 2, "x", "y", 1, "z", "w", "v"),
           "nested, members in insertion order");
  json_t *ord = json_object();
  json_object_set_new(ord, "zeta", json_integer(1));
  json_object_set_new(ord, "alpha", json_integer(2));
  json_object_set_new(ord, "mid", json_integer(3));
  same_all(ord, "insertion order, not sorted");
  static const double reals[] = {
      0.0,      -0.0,           1.0,    -1.0,    0.5,     0.1,      1.0 / 3,     2.0 / 3,
      100.0,    1e15,           1e16,   1e17,    1e20,    1e21,     1e100,       1.5e-7,
      1e-5,     0.0001,         1e-300, DBL_MAX, DBL_MIN, 4.9e-324, 123456789.0, 12.345678901234,
      -2.5e-10, 9.99999999999e9};
  for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "real %.17g", reals[i]);
    same_all(json_real(reals[i]), what);
  }
  static const json_int_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, 1000000000000LL};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    same_all(json_integer(ints[i]), "integer");
  /* Invalid UTF-8 (made without jansson's check): both writers fail. */
  static const char *const bad[] = {"\x80",
                                    "a\xc3",
                                    "\xc0\xaf",
                                    "\xe0\x80\xaf",
                                    "\xed\xa0\x80",
                                    "\xf4\x90\x80\x80",
                                    "\xf5\x80\x80\x80",
                                    "\xc3\x28",
                                    "\xc3\xc3",
                                    "a\xc3\xff",
                                    "\xc3\xb1\xc3", /* after a valid sequence, in one run */
                                    "ni\xc3\xb1o \xed\xa0\x80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    json_t *a = json_array();
    json_array_append_new(a, json_stringn_nocheck(bad[i], strlen(bad[i])));
    same_all(a, "invalid UTF-8");
  }
  for (int i = 0; i < 3000; i++)
    same_all(random_tree(0), "random tree");
  return th_check_done();
}
