/*
 * The paging cursor codec: opaque base64url of the last hit's sort key, the
 * docid horizon, the relaxation mask and a hash of the query and filters.
 */
#include "search_int.h"

#include "base64url.h"
#include "errors.h"
#include "expand.h"
#include "varint.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

/* What a cursor is bound to: the query and every filter. */
uint64_t cs__query_hash(const cs_search_params *p, int sort) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const char *q = p->q ? p->q : "";
  h = fnv(h, q, strlen(q) + 1);
  int64_t nums[] = {(int64_t)p->patient,
                    (int64_t)p->owner,
                    (int64_t)p->conversation,
                    p->from_ms,
                    p->to_ms,
                    p->role,
                    sort};
  h = fnv(h, nums, sizeof nums);
  const char *sp = p->speaker ? p->speaker : "";
  return fnv(h, sp, strlen(sp) + 1);
}

void cs__cursor_encode(const xcursor *c, int sort, uint64_t qh, char *out, size_t cap) {
  char text[256];
  int n =
      snprintf(text, sizeof text,
               "1|%d|%" PRId32 "|%a|%" PRId64 "|%" PRIu64 "|%" PRIu32 "|%" PRIx64 "|%016" PRIx64,
               sort, c->key.tier, c->key.score, c->key.created, c->key.id, c->horizon, c->mask, qh);
  if (n < 0 || (size_t)n >= sizeof text) {
    out[0] = 0;
    return;
  }
  cs_b64url_encode(text, (size_t)n, out, cap); /* "" when cap is too small */
}

int cs__cursor_decode(const char *s, int sort, uint64_t qh, xcursor *c) {
  uint8_t raw[300];
  size_t len = strlen(s);
  int n = len > CS_CURSOR_MAX ? -1 : cs_b64url_decode(s, len, raw, sizeof raw - 1, 0);
  if (n < 0) return -1;
  raw[n] = 0;
  if (memchr(raw, 0, (size_t)n)) return -1;
  int csort, used = 0;
  int32_t tier;
  char score[64];
  int64_t created;
  uint64_t id, mask, hash;
  uint32_t horizon;
  if (sscanf((const char *)raw,
             "1|%d|%" SCNd32 "|%63[^|]|%" SCNd64 "|%" SCNu64 "|%" SCNu32 "|%" SCNx64 "|%16" SCNx64
             "%n",
             &csort, &tier, score, &created, &id, &horizon, &mask, &hash, &used) != 8)
    return -1;
  if (used != n || csort != sort || hash != qh || horizon == 0) return -1;
  char *end;
  double sc = strtod(score, &end);
  if (*end || !isfinite(sc)) return -1;
  c->key.tier = tier;
  c->key.score = sc;
  c->key.created = created;
  c->key.id = id;
  c->horizon = horizon;
  c->mask = mask;
  return 0;
}
