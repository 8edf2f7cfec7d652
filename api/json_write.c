/*
 * Compact JSON writer (see json_write.h).
 */
#include "json_write.h"

#include "jtext.h"

#include <stdint.h>

static void put_value(cs_jtext *o, const json_t *j, int precision, int depth) {
  if (o->err) return;
  if (depth > 2048) { /* jansson's own limit on nesting */
    o->err = 1;
    return;
  }
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    cs_jtext_c(o, '{');
    int first = 1;
    for (void *it = json_object_iter((json_t *)j); it && !o->err;
         it = json_object_iter_next((json_t *)j, it)) {
      if (!first) cs_jtext_c(o, ',');
      first = 0;
      cs_jtext_string(o, json_object_iter_key(it), json_object_iter_key_len(it));
      cs_jtext_c(o, ':');
      put_value(o, json_object_iter_value(it), precision, depth + 1);
    }
    cs_jtext_c(o, '}');
    break;
  }
  case JSON_ARRAY: {
    cs_jtext_c(o, '[');
    size_t n = json_array_size(j);
    for (size_t i = 0; i < n && !o->err; i++) {
      if (i) cs_jtext_c(o, ',');
      put_value(o, json_array_get(j, i), precision, depth + 1);
    }
    cs_jtext_c(o, ']');
    break;
  }
  case JSON_STRING:
    cs_jtext_string(o, json_string_value(j), json_string_length(j));
    break;
  case JSON_INTEGER: {
    cs_jtext_int(o, (int64_t)json_integer_value(j));
    break;
  }
  case JSON_REAL:
    cs_jtext_real(o, json_real_value(j), precision);
    break;
  case JSON_TRUE:
    cs_jtext_raw(o, "true", 4);
    break;
  case JSON_FALSE:
    cs_jtext_raw(o, "false", 5);
    break;
  case JSON_NULL:
    cs_jtext_raw(o, "null", 4);
    break;
  default:
    o->err = 1;
  }
}

char *cs_json_write(const json_t *j, int precision, size_t *len) {
  cs_jtext o = {NULL, 0, 0, 0};
  if (!j || precision < 0 || precision > 30) return NULL;
  put_value(&o, j, precision ? precision : 17, 0);
  return cs_jtext_finish(&o, len);
}
