/*
 * CSV rows (see csv.h).
 */
#include "csv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void field(cs_buf *b, const char *s, size_t n) {
  if (!memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\r', n) && !memchr(s, '\n', n)) {
    cs_buf_bytes(b, s, n);
    return;
  }
  cs_buf_u8(b, '"');
  const char *end = s + n;
  while (s < end) {
    const char *q = memchr(s, '"', (size_t)(end - s));
    size_t k = q ? (size_t)(q - s) + 1 : (size_t)(end - s);
    cs_buf_bytes(b, s, k);
    if (q) cs_buf_u8(b, '"'); /* the quote, doubled */
    s += k;
  }
  cs_buf_u8(b, '"');
}

static void value(cs_buf *b, const json_t *v) {
  char num[32];
  switch (json_typeof(v)) {
  case JSON_STRING:
    field(b, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    cs_buf_bytes(b, num, strlen(num));
    break;
  case JSON_REAL:
    snprintf(num, sizeof num, "%.17g", json_real_value(v));
    cs_buf_bytes(b, num, strlen(num));
    break;
  case JSON_TRUE:
    cs_buf_bytes(b, "true", 4);
    break;
  case JSON_FALSE:
    cs_buf_bytes(b, "false", 5);
    break;
  default: /* null; objects and arrays are not exported */
    break;
  }
}

void cs__csv_header(cs_buf *b, const char *const *cols, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i) cs_buf_u8(b, ',');
    field(b, cols[i], strlen(cols[i]));
  }
  cs_buf_bytes(b, "\r\n", 2);
}

void cs__csv_row(cs_buf *b, const json_t *o, const char *const *cols, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (i) cs_buf_u8(b, ',');
    const json_t *v = json_object_get(o, cols[i]);
    if (v) value(b, v);
  }
  cs_buf_bytes(b, "\r\n", 2);
}
