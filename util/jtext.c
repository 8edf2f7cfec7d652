/*
 * JSON text (see jtext.h).
 */
#include "jtext.h"

#include "grow.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(cs_jtext *o, size_t more) {
  if (o->err) return -1;
  if (more > SIZE_MAX - o->n || cs_grow_from((void **)&o->p, &o->cap, o->n + more, 1, 4096)) {
    o->err = 1;
    return -1;
  }
  return 0;
}

void cs_jtext_raw(cs_jtext *o, const void *s, size_t n) {
  if (grow(o, n)) return;
  if (n) memcpy(o->p + o->n, s, n);
  o->n += n;
}

void cs_jtext_rewind(cs_jtext *o, size_t n) {
  if (o->err == CS_JTEXT_BAD_UTF8) o->err = 0;
  if (!o->err && n < o->n) o->n = n;
}

void cs_jtext_c(cs_jtext *o, char c) {
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

void cs_jtext_string(cs_jtext *o, const char *str, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *s = (const unsigned char *)str, *end = s + len;
  /* Escapes take at most 6 bytes a byte; reserve once for most strings. */
  if (len <= 4096 && grow(o, 2 + 6 * len)) return;
  cs_jtext_c(o, '"');
  while (s < end && !o->err) {
    /* A run goes on over valid multi-byte sequences (Spanish text has an
     * accented letter every few words): copied at once up to the next
     * escape. jansson's rules: no overlong forms, surrogates or code
     * points past U+10FFFF. */
    const unsigned char *run = s;
    for (;;) {
      while (s < end && !stop[*s])
        s++;
      if (s == end || *s < 0x80) break;
      size_t k = cs_utf8_char_len((const char *)s, (size_t)(end - s));
      if (!k) {
        o->err = CS_JTEXT_BAD_UTF8;
        return;
      }
      s += k;
    }
    if (s > run) cs_jtext_raw(o, run, (size_t)(s - run));
    if (s == end) break;
    unsigned c = *s;
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
    cs_jtext_raw(o, esc, k);
    s++;
  }
  cs_jtext_c(o, '"');
}

void cs_jtext_int(cs_jtext *o, int64_t v) {
  /* Digits from the end (snprintf was a tenth of writing a page). */
  char b[24];
  char *p = b + sizeof b;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  cs_jtext_raw(o, p, (size_t)(b + sizeof b - p));
}

void cs_jtext_real(cs_jtext *o, double v, int precision) {
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
  cs_jtext_raw(o, b, (size_t)n);
}

void cs_jtext_key(cs_jtext *o, const char *name, int first) {
  size_t n = strlen(name);
  if (grow(o, n + 4)) return;
  if (!first) o->p[o->n++] = ',';
  o->p[o->n++] = '"';
  memcpy(o->p + o->n, name, n);
  o->n += n;
  o->p[o->n++] = '"';
  o->p[o->n++] = ':';
}

char *cs_jtext_finish(cs_jtext *o, size_t *len) {
  cs_jtext_c(o, 0);
  if (o->err) {
    cs_jtext_free(o);
    return NULL;
  }
  if (len) *len = o->n - 1;
  char *p = o->p;
  o->p = NULL;
  o->n = o->cap = 0;
  return p;
}

void cs_jtext_free(cs_jtext *o) {
  free(o->p);
  o->p = NULL;
  o->n = o->cap = 0;
}
