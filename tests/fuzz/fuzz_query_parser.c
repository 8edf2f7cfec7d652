/*
 * libFuzzer harness: the query parser (query/parser.h) as the engine calls
 * it, with every option mix. The first byte picks the options (plain,
 * default OR, typos and prefixes), the rest is the query text. Seeds: the
 * q= of every HTTP case and the search cases (scripts/fuzz.sh).
 */
#include "parser.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  cs__parse_opts o;
  cs__parse_defaults(&o);
  o.plain = data[0] & 1;
  o.default_or = (data[0] >> 1) & 1;
  o.typo = (data[0] >> 2) & 1;
  if (data[0] & 8) o.lang = "en";
  cs_analyzer *a = cs__analyzer_get();
  if (!a) return 0;
  cs__query q;
  cs_engine_error err;
  cs__query_parse(a, (const char *)data + 1, size - 1, &o, &q, &err);
  cs__query_free(&q);
  cs__analyzer_put(a);
  return 0;
}
