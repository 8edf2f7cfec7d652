/*
 * _bulk delivery and its retry policy (see bulk.h).
 */
#include "bulk.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

cs_bulk_outcome cs_bulk_classify(long st) {
  if ((st >= 200 && st < 300) || st == 409 || st == 404) return CS_BULK_DONE;
  if (st == 429 || st >= 500 || st == 0) return CS_BULK_RETRY;
  return CS_BULK_REFUSED;
}

json_t *cs_bulk_send(cs_os *c, const char *path, const void *body, size_t len, int n, long *status,
                     char *why, size_t cap) {
  cs_buf resp;
  cs_buf_init(&resp);
  long http = 0;
  int rc = cs_os_request(c, "POST", path, "application/x-ndjson", body, len, 1, &http, &resp);
  json_t *j = !rc && http == 200 ? json_loads((char *)resp.p, 0, NULL) : NULL;
  json_t *items = json_object_get(j, "items");
  if (!json_is_array(items) || json_array_size(items) != (size_t)n) {
    if (rc)
      snprintf(why, cap, "%s", cs_os_error(c));
    else
      snprintf(why, cap, "HTTP %ld%s", http, http == 200 ? " with a bad body" : "");
    json_decref(j);
    cs_buf_free(&resp);
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    /* Each item is {"<action>": {..., "status": N}}. */
    const char *key;
    json_t *res;
    status[i] = 0;
    json_object_foreach(json_array_get(items, (size_t)i), key, res) {
      status[i] = (long)json_integer_value(json_object_get(res, "status"));
    }
  }
  cs_buf_free(&resp);
  return j;
}

long cs_backoff_next(cs_backoff *b) {
  if (!b->seed) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    b->seed = (unsigned)(ts.tv_nsec ^ (long)getpid() ^ (long)(size_t)b) | 1u;
  }
  b->ms =
      b->ms ? (b->ms * 2 > CS_BACKOFF_MAX_MS ? CS_BACKOFF_MAX_MS : b->ms * 2) : CS_BACKOFF_MIN_MS;
  return b->ms / 2 + rand_r(&b->seed) % (b->ms / 2 + 1);
}

void cs_backoff_reset(cs_backoff *b) {
  b->ms = 0;
}
