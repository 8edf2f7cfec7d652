/*
 * Compact JSON writer (see json_write.h).
 */
#include "json_write.h"

#include "grow.h"
#include "utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out {
  char *p;
  size_t n, cap;
  int err;
} out;

static int grow(out *o, size_t more) {
  if (o->err) return -1;
  if (more > SIZE_MAX - o->n || cs_grow_from((void **)&o->p, &o->cap, o->n + more, 1, 4096)) {
    o->err = 1;
    return -1;
  }
  return 0;
}

static void put(out *o, const void *s, size_t n) {
  if (grow(o, n)) return;
  memcpy(o->p + o->n, s, n);
  o->n += n;
}

static void put_c(out *o, char c) {
  if (grow(o, 1)) return;
  o->p[o->n++] = c;
}

/* Bytes a string run stops at: control characters, '"', '\\' and the
 * start of a multi-byte sequence (checked, as jansson checks it). */
#define R16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char stop[256] = {
    R16, R16, ['"'] = 1, ['\\'] = 1, [0x80] = R16, R16, R16, R16, R16, R16, R16, R16,
};
#undef R16

static void put_string(out *o, const char *str, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *s = (const unsigned char *)str, *end = s + len;
  /* Escapes take at most 6 bytes a byte; reserve once for most strings. */
  if (len <= 4096 && grow(o, 2 + 6 * len)) return;
  put_c(o, '"');
  while (s < end && !o->err) {
    const unsigned char *run = s;
    while (s < end && !stop[*s])
      s++;
    if (s > run) put(o, run, (size_t)(s - run));
    if (s == end) break;
    unsigned c = *s;
    if (c >= 0x80) {
      /* jansson's rules: no overlong forms, surrogates or code points
       * past U+10FFFF. */
      size_t k = cs_utf8_char_len((const char *)s, (size_t)(end - s));
      if (!k) {
        o->err = 1;
        return;
      }
      put(o, s, k);
      s += k;
      continue;
    }
    char esc[6] = {'\\', 0};
    size_t k = 2;
    switch (c) {
    case '"':
      esc[1] = '"';
      break;
    case '\\':
      esc[1] = '\\';
      break;
    case '\b':
      esc[1] = 'b';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      k = 6;
    }
    put(o, esc, k);
    s++;
  }
  put_c(o, '"');
}

static void put_real(out *o, double v, int precision) {
  char b[64];
  int n = snprintf(b, sizeof b - 3, "%.*g", precision, v);
  if (n < 0 || (size_t)n >= sizeof b - 3) {
    o->err = 1;
    return;
  }
  /* A decimal point whatever the locale, and a whole number still a real
   * when read back. */
  for (char *p = b; *p; p++)
    if (*p == ',') *p = '.';
  if (!strchr(b, '.') && !strchr(b, 'e')) {
    memcpy(b + n, ".0", 3);
    n += 2;
  }
  char *e = strchr(b, 'e');
  if (e) {
    char *from = e + 1, *to = e + 1;
    if (*from == '-')
      from = to = e + 2;
    else if (*from == '+')
      from++;
    while (*from == '0' && from[1])
      from++;
    memmove(to, from, strlen(from) + 1);
    n = (int)strlen(b);
  }
  put(o, b, (size_t)n);
}

static void put_value(out *o, const json_t *j, int precision, int depth) {
  if (o->err) return;
  if (depth > 2048) { /* jansson's own limit on nesting */
    o->err = 1;
    return;
  }
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    put_c(o, '{');
    int first = 1;
    for (void *it = json_object_iter((json_t *)j); it && !o->err;
         it = json_object_iter_next((json_t *)j, it)) {
      if (!first) put_c(o, ',');
      first = 0;
      put_string(o, json_object_iter_key(it), json_object_iter_key_len(it));
      put_c(o, ':');
      put_value(o, json_object_iter_value(it), precision, depth + 1);
    }
    put_c(o, '}');
    break;
  }
  case JSON_ARRAY: {
    put_c(o, '[');
    size_t n = json_array_size(j);
    for (size_t i = 0; i < n && !o->err; i++) {
      if (i) put_c(o, ',');
      put_value(o, json_array_get(j, i), precision, depth + 1);
    }
    put_c(o, ']');
    break;
  }
  case JSON_STRING:
    put_string(o, json_string_value(j), json_string_length(j));
    break;
  case JSON_INTEGER: {
    char b[32];
    int n = snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    put(o, b, (size_t)n);
    break;
  }
  case JSON_REAL:
    put_real(o, json_real_value(j), precision);
    break;
  case JSON_TRUE:
    put(o, "true", 4);
    break;
  case JSON_FALSE:
    put(o, "false", 5);
    break;
  case JSON_NULL:
    put(o, "null", 4);
    break;
  default:
    o->err = 1;
  }
}

char *cs_json_write(const json_t *j, int precision, size_t *len) {
  out o = {NULL, 0, 0, 0};
  if (!j || precision < 0 || precision > 30) return NULL;
  put_value(&o, j, precision ? precision : 17, 0);
  put_c(&o, 0);
  if (o.err) {
    free(o.p);
    return NULL;
  }
  if (len) *len = o.n - 1;
  return o.p;
}
