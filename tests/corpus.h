/*
 * The ParlaMint-ES corpus for tests that compare two ways of analyzing text
 * on every turn: JSON lines (gzip), one sitting per line, its turns in
 * "segments"[i]."text".
 */
#ifndef CS_TEST_CORPUS_H
#define CS_TEST_CORPUS_H

#include <jansson.h>
#include <stdio.h>
#include <zlib.h>

/* Calls fn(ctx, sitting, turn, text, len) for every turn of every `every`-th
 * sitting of the corpus at path. Returns the number of sittings read, or -1
 * (with a "SKIPPED" line printed) when the file is not readable. */
static inline long th_corpus_each(const char *path, long every,
                                  void (*fn)(void *ctx, long sitting, size_t turn, const char *text,
                                             size_t len),
                                  void *ctx) {
  gzFile gz = gzopen(path, "rb");
  if (!gz) {
    printf("SKIPPED: %s is not readable (the corpus is in ../shared/corpora)\n", path);
    return -1;
  }
  static char line[1 << 24];
  long sitting = 0;
  while (gzgets(gz, line, sizeof line)) {
    if (sitting++ % every) continue;
    json_error_t je;
    json_t *doc = json_loads(line, 0, &je);
    json_t *segs = json_object_get(doc, "segments"), *seg;
    size_t i;
    json_array_foreach(segs, i, seg) {
      json_t *jt = json_object_get(seg, "text");
      const char *text = json_string_value(jt);
      if (text) fn(ctx, sitting, i, text, json_string_length(jt));
    }
    json_decref(doc);
  }
  gzclose(gz);
  return sitting;
}

#endif
