/*
 * JSON text, written piece by piece into one growing buffer, byte for byte
 * as jansson's json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(p)) writes
 * the same values: strings escaped its way (and refused when not valid
 * UTF-8, as it refuses them), reals "%.*g" with ".0" added to whole numbers
 * and exponents without '+' or leading zeros. Used by the tree writer
 * (api/json_write.c) and by the search answer, which is written without a
 * tree (query/hits.c).
 */
#ifndef CS_JTEXT_H
#define CS_JTEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_jtext {
  char *p;
  size_t n, cap;
  int err; /* 1: out of memory; CS_JTEXT_BAD_UTF8: a string that is not valid UTF-8 */
} cs_jtext;

#define CS_JTEXT_BAD_UTF8 2

/* Bytes as they are (punctuation, a key already written as JSON). */
void cs_jtext_raw(cs_jtext *o, const void *s, size_t n);
void cs_jtext_c(cs_jtext *o, char c);
/* A JSON string of s[0..n) (NULL with n 0: ""). */
void cs_jtext_string(cs_jtext *o, const char *s, size_t n);
void cs_jtext_int(cs_jtext *o, int64_t v);
/* precision: significant digits, 1..30. */
void cs_jtext_real(cs_jtext *o, double v, int precision);
/* "name": with a separating comma unless first (names are plain ASCII
 * literals: written as they are). */
void cs_jtext_key(cs_jtext *o, const char *name, int first);
/* Drops what was written past n (at most o->n) and forgets a string that
 * was not valid UTF-8 (not running out of memory): for a caller that
 * leaves such a value out. */
void cs_jtext_rewind(cs_jtext *o, size_t n);
/* The text NUL-terminated, its length in *len, the buffer handed over;
 * NULL (and the buffer freed) when o->err. */
char *cs_jtext_finish(cs_jtext *o, size_t *len);
void cs_jtext_free(cs_jtext *o);

#endif
