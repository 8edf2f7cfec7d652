/*
 * Bad source rows (see badrows.h).
 */
#include "badrows.h"

#include "errors.h"
#include "isotime.h"
#include "log.h"
#include "store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *cs_badrows_kind_name(char kind) {
  switch (kind) {
  case 'c':
    return "conversation";
  case 'p':
    return "person";
  case 'e':
    return "event";
  case 'r':
    return "relevant point";
  default:
    return "row";
  }
}

static const char *str(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static json_t *load(cs_txn *t) {
  cs_slice v;
  json_t *j = NULL;
  if (cs_get(t, CS_T_META, (cs_slice){"bad_rows", 8}, &v) == 0)
    j = json_loadb(v.data, v.len, 0, NULL);
  if (!json_is_object(j) || !json_is_array(json_object_get(j, "rows"))) {
    json_decref(j);
    j = json_pack("{s:I, s:[]}", "count", (json_int_t)0, "rows");
  }
  return j;
}

static int save(cs_txn *t, json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  if (!s) return CS_ENOMEM;
  int rc = cs_put(t, CS_T_META, (cs_slice){"bad_rows", 8}, (cs_slice){s, strlen(s)});
  free(s);
  return rc;
}

/* Index of (kind, id) in rows, or -1. */
static int find(json_t *rows, char kind, uint64_t id) {
  size_t i;
  json_t *r;
  json_array_foreach(rows, i, r) {
    if (!strcmp(str(r, "kind"), cs_badrows_kind_name(kind)) &&
        (uint64_t)json_integer_value(json_object_get(r, "id")) == id)
      return (int)i;
  }
  return -1;
}

int cs_badrows_note(cs_writer *w, char kind, uint64_t id, const char *error, const char *what) {
  cs_txn *t = cs_writer_txn(w);
  json_t *j = load(t);
  if (!j) return CS_ENOMEM;
  json_t *rows = json_object_get(j, "rows");
  int at = find(rows, kind, id);
  if (at >= 0 && !strcmp(str(json_array_get(rows, (size_t)at), "error"), error)) {
    json_decref(j); /* already noted: not logged nor counted again */
    return 0;
  }
  cs_log(CS_LOG_WARN, "%s %" PRIu64 ": bad value in the store (%s), %s", cs_badrows_kind_name(kind),
         id, error, what);
  if (at >= 0) json_array_remove(rows, (size_t)at);
  while (json_array_size(rows) >= CS_BADROWS_KEPT)
    json_array_remove(rows, 0);
  char when[CS_TIME_ISO_LEN];
  cs_time_iso((int64_t)time(NULL) * 1000, when);
  json_array_append_new(rows, json_pack("{s:s, s:I, s:s, s:s, s:s}", "kind",
                                        cs_badrows_kind_name(kind), "id", (json_int_t)id, "error",
                                        error, "handling", what, "at", when));
  json_object_set_new(j, "count",
                      json_integer(json_integer_value(json_object_get(j, "count")) + 1));
  int rc = save(t, j);
  json_decref(j);
  return rc;
}

int cs_badrows_clear(cs_writer *w, char kind, uint64_t id) {
  cs_txn *t = cs_writer_txn(w);
  cs_slice v;
  /* Cheap when nothing was ever noted (the common case). */
  if (cs_get(t, CS_T_META, (cs_slice){"bad_rows", 8}, &v) != 0) return 0;
  json_t *j = load(t);
  if (!j) return CS_ENOMEM;
  int at = find(json_object_get(j, "rows"), kind, id), rc = 0;
  if (at >= 0) {
    json_array_remove(json_object_get(j, "rows"), (size_t)at);
    rc = save(t, j);
  }
  json_decref(j);
  return rc;
}
