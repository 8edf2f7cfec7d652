/*
 * UTF-8 hygiene. Text reaches us from PostgreSQL, HTTP requests and files on
 * disk, and any of them may hold broken UTF-8; everything stored or echoed
 * back must be valid. Validation follows the Unicode standard's well-formed
 * byte sequences (Table 3-7): no overlong forms, no surrogates, nothing above
 * U+10FFFF. Repair replaces each "maximal subpart" of an ill-formed sequence
 * with one U+FFFD, the practice the standard recommends and the one ICU's
 * U8_NEXT and web browsers follow, so our offsets and ICU's agree.
 * No ICU dependency here: these helpers are used by modules that never
 * analyze text.
 */
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decodes the character at s[0..len), len >= 1. Returns the code point and
 * sets *adv to its length, or returns -1 and sets *adv to the length of the
 * maximal subpart to replace (at least 1). */
static int32_t decode(const unsigned char *s, size_t len, size_t *adv) {
  unsigned b0 = s[0];
  if (b0 < 0x80) {
    *adv = 1;
    return (int32_t)b0;
  }
  /* C0, C1 only start overlong forms; F5..FF would go past U+10FFFF. */
  if (b0 < 0xC2 || b0 > 0xF4) {
    *adv = 1;
    return -1;
  }
  size_t need = b0 >= 0xF0 ? 3 : b0 >= 0xE0 ? 2 : 1;
  /* The second byte's range is narrower after some lead bytes: that is what
   * rules out overlong forms (E0, F0), surrogates (ED) and > U+10FFFF (F4). */
  unsigned lo = 0x80, hi = 0xBF;
  if (b0 == 0xE0) lo = 0xA0;
  if (b0 == 0xED) hi = 0x9F;
  if (b0 == 0xF0) lo = 0x90;
  if (b0 == 0xF4) hi = 0x8F;
  int32_t cp = (int32_t)(b0 & (0x3Fu >> need));
  size_t i = 1;
  for (size_t k = 0; k < need; k++, i++) {
    if (i >= len) break;
    unsigned b = s[i];
    if (b < lo || b > hi) break;
    cp = (cp << 6) | (int32_t)(b & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  *adv = i;
  return i == need + 1 ? cp : -1;
}

size_t cs_utf8_char_len(const char *s, size_t len) {
  size_t adv;
  return decode((const unsigned char *)s, len, &adv) < 0 ? 0 : adv;
}

int cs_utf8_valid(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  const uint64_t hi = 0x8080808080808080u, ones = 0x0101010101010101u;
  size_t i = 0;
  while (i < len) {
    /* ASCII is the common case: eight bytes at a time, on to the first
     * byte that has its high bit set or is NUL (the lowest flagged one is
     * exact: the zero-byte test errs only above a zero byte). */
    if (len - i >= 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      uint64_t stop = (w & hi) | ((w - ones) & ~w & hi);
      if (!stop) {
        i += 8;
        continue;
      }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      i += (size_t)__builtin_ctzll(stop) >> 3;
#endif
    }
    if (p[i] != 0 && p[i] < 0x80) {
      i++;
      continue;
    }
    size_t adv;
    if (decode(p + i, len - i, &adv) <= 0) return 0;
    i += adv;
  }
  return 1;
}

char *cs_utf8_repair(const char *s, size_t len, size_t *out_len) {
  const unsigned char *p = (const unsigned char *)s;
  /* First pass sizes the copy exactly, so a 4 MB text does not cost a 12 MB
   * worst-case buffer. */
  size_t need = 0;
  for (size_t i = 0; i < len;) {
    size_t adv;
    int32_t c = decode(p + i, len - i, &adv);
    if (c < 0)
      need += 3; /* U+FFFD is EF BF BD */
    else if (c > 0)
      need += adv;
    i += adv;
  }
  char *out = malloc(need + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t adv;
    int32_t c = decode(p + i, len - i, &adv);
    if (c < 0) {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
    } else if (c > 0) {
      memcpy(out + o, p + i, adv);
      o += adv;
    }
    i += adv;
  }
  out[o] = '\0';
  if (out_len) *out_len = o;
  return out;
}

size_t cs_utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max) return len;
  /* s[max] exists because len > max; back off over continuation bytes so
   * the character that starts before max is left out whole. */
  size_t i = max;
  while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
    i--;
  return i;
}

int cs_utf8_boundary(const char *s, size_t len, size_t i) {
  return i == len || (i < len && ((unsigned char)s[i] & 0xC0) != 0x80);
}
