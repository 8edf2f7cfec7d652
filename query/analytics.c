/*
 * Analytics (POST /v1/analytics): how many conversations and turns match a
 * query, per month, owner, speaker role or intake category.
 *
 * Matching is exactly that of search (search.c, cs__match): a conversation
 * matches as it would be a hit of /v1/search with the same q and filters
 * (without search's relaxation), its matching turns are the turns holding a
 * match of a searched clause and passing the turn filters, and an empty q
 * matches every conversation with every turn. Document-level security is
 * the walk's: a portal caller's counts cover only its own people.
 *
 * Buckets. month: the conversation's created_at in UTC ("2026-09"); owner:
 * the conversation's owner_id; role: the role of each matching turn (a
 * conversation counts once in each role it has a matching turn of, with
 * those turns); category: the categories of the relevant points that the
 * conversation's intake checklist marks covered (the very computation of
 * GET /v1/conversations/{id}/checklist; a conversation counts once in each
 * such category, with all its matching turns). The bucket with a null key
 * holds the conversations that have no key: unknown date, no matching turn
 * (a match in the title or description only), no covered category.
 *
 * Cost. One walk over the postings (pruning-free: every match is counted)
 * in one read view; category additionally asks every relevant point of
 * every matching conversation, so it is bounded by the same work budget as
 * search, past which the counts are partial and flagged "timed_out".
 */
#include "internal.h"
#include "corrupt.h"
#include "synonyms.h"
#include "redact.h"
#include "parser.h"
#include "search.h"

#include "clock.h"
#include "errors.h"
#include "isotime.h"
#include "varint.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bucket {
  int has_key; /* 0: the null bucket */
  int64_t num; /* month (year * 12 + month - 1), owner id or role */
  cs_str str;  /* category: points into the read view */
  uint64_t convs, turns;
} bucket;

typedef struct actx {
  cs_reader *r;
  int group_by;
  cs__checklist *cl;
  bucket *b;
  size_t nb, cap;
  uint32_t *slots; /* open addressing over b (index + 1; 0 empty) */
  size_t nslots;
  uint64_t convs, turns;
  /* Scratch of one conversation. */
  const uint32_t *set;
  size_t nset;
  uint64_t roles[3];
  const cs_str **cats;
  size_t ncats;
  /* Work budget (the walk has its own, this one covers the checklist). */
  struct timespec deadline;
  int has_deadline, timed_out;
} actx;

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

static uint64_t key_hash(int has_key, int64_t num, cs_str s) {
  if (!has_key) return 0x9e3779b97f4a7c15ULL;
  uint64_t h = mix((uint64_t)num + 0x632be59bd9b4e019ULL);
  for (size_t i = 0; i < s.len; i++)
    h = (h ^ (uint8_t)s.p[i]) * 0x100000001b3ULL;
  return h;
}

static int key_eq(const bucket *b, int has_key, int64_t num, cs_str s) {
  return b->has_key == has_key && b->num == num && b->str.len == s.len &&
         (s.len == 0 || memcmp(b->str.p, s.p, s.len) == 0);
}

static int rehash(actx *a, size_t n) {
  uint32_t *sl = calloc(n, sizeof *sl);
  if (!sl) return CS_ENOMEM;
  for (size_t i = 0; i < a->nb; i++) {
    size_t j = key_hash(a->b[i].has_key, a->b[i].num, a->b[i].str) & (n - 1);
    while (sl[j])
      j = (j + 1) & (n - 1);
    sl[j] = (uint32_t)i + 1;
  }
  free(a->slots);
  a->slots = sl;
  a->nslots = n;
  return 0;
}

/* Adds a conversation with `turns` matching turns to the bucket of a key. */
static int count(actx *a, int has_key, int64_t num, cs_str s, uint64_t turns) {
  if ((a->nb + 1) * 2 > a->nslots) {
    int rc = rehash(a, a->nslots ? a->nslots * 2 : 64);
    if (rc) return rc;
  }
  size_t j = key_hash(has_key, num, s) & (a->nslots - 1);
  while (a->slots[j] && !key_eq(&a->b[a->slots[j] - 1], has_key, num, s))
    j = (j + 1) & (a->nslots - 1);
  if (!a->slots[j]) {
    if (cs_grow_from((void **)&a->b, &a->cap, a->nb + 1, sizeof *a->b, 32)) return CS_ENOMEM;
    a->b[a->nb] = (bucket){has_key, num, s, 0, 0};
    a->slots[j] = (uint32_t)++a->nb;
  }
  bucket *b = &a->b[a->slots[j] - 1];
  b->convs++;
  b->turns += turns;
  return 0;
}

static const cs_str nostr = {"", 0};

static int past(actx *a) {
  if (!a->has_deadline) return 0;
  if (cs_clock_reached(CLOCK_MONOTONIC, &a->deadline)) a->timed_out = 1;
  return a->timed_out;
}

static int role_each(void *ctx, const cs_turn *tp) {
  actx *a = ctx;
  cs_turn t = *tp;
  if (t.role < 3 && cs__turn_in(a->set, a->nset, t.docid)) a->roles[t.role]++;
  return 0;
}

static int by_role(actx *a, const cs__mconv *c, const uint32_t *turns, size_t n) {
  if (n == 0) return count(a, 0, 0, nostr, 0);
  memset(a->roles, 0, sizeof a->roles);
  a->set = turns;
  a->nset = n;
  int rc = cs_reader_turns(a->r, c->id, INT32_MIN, 0, role_each, a);
  for (int role = 0; role < 3 && !rc; role++) {
    if (a->roles[role]) rc = count(a, 1, role, nostr, a->roles[role]);
  }
  return rc;
}

static int by_category(actx *a, const cs__mconv *c, size_t n) {
  size_t np = cs__checklist_count(a->cl);
  a->ncats = 0;
  for (size_t i = 0; i < np; i++) {
    const cs_point *pt = cs__checklist_point(a->cl, i);
    if (!pt->category.len) continue;
    int dup = 0;
    for (size_t k = 0; k < a->ncats && !dup; k++)
      dup = a->cats[k]->len == pt->category.len &&
            memcmp(a->cats[k]->p, pt->category.p, pt->category.len) == 0;
    if (dup) continue;
    cs__coverage cov;
    int rc = cs__checklist_eval(a->cl, i, c->first_docid, c->ndocs, &cov);
    if (rc) return rc;
    if (cov.covered) a->cats[a->ncats++] = &pt->category;
  }
  if (a->ncats == 0) return count(a, 0, 0, nostr, n);
  for (size_t k = 0; k < a->ncats; k++) {
    int rc = count(a, 1, 0, *a->cats[k], n);
    if (rc) return rc;
  }
  return 0;
}

static int on_match(void *ctx, const cs__mconv *c, const uint32_t *turns, size_t n) {
  actx *a = ctx;
  if (a->group_by == CS_GROUP_CATEGORY && past(a)) return 1;
  a->convs++;
  a->turns += n;
  switch (a->group_by) {
  case CS_GROUP_MONTH: {
    /* A negative creation time means "unknown": the bucket without key. */
    if (c->created_at_ms < 0) return count(a, 0, 0, nostr, n);
    return count(a, 1, cs_time_month(c->created_at_ms), nostr, n);
  }
  case CS_GROUP_OWNER:
    return count(a, 1, (int64_t)c->owner_id, nostr, n);
  case CS_GROUP_ROLE:
    return by_role(a, c, turns, n);
  default:
    return by_category(a, c, n);
  }
}

static int bucket_cmp(const void *x, const void *y) {
  const bucket *a = x, *b = y;
  if (a->has_key != b->has_key) return a->has_key ? -1 : 1;
  if (a->num != b->num) return a->num < b->num ? -1 : 1;
  size_t n = a->str.len < b->str.len ? a->str.len : b->str.len;
  int c = n ? memcmp(a->str.p, b->str.p, n) : 0;
  if (c) return c;
  return a->str.len < b->str.len ? -1 : a->str.len > b->str.len;
}

static json_t *key_json(int group_by, const bucket *b) {
  if (!b->has_key) return json_null();
  char buf[CS_TIME_ISO_LEN];
  switch (group_by) {
  case CS_GROUP_MONTH:
    return json_string(cs_time_month_iso(b->num, buf));
  case CS_GROUP_OWNER:
    return json_integer((json_int_t)b->num);
  case CS_GROUP_ROLE:
    return json_string(cs_role_name((int)b->num));
  default:
    return cs_json_str(b->str);
  }
}

static const char *const group_names[] = {"month", "category", "role", "owner"};

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int cs_engine_analytics(cs_engine *e, const cs_caller *c, const cs_search_params *p, int group_by,
                        json_t **out, cs_engine_error *err) {
  *out = NULL;
  int64_t t0 = mono_us();
  if (!c || !p || group_by < CS_GROUP_MONTH || group_by > CS_GROUP_OWNER) {
    cs_engine_err(err, 400, "bad_parameter", "group_by must be month, category, role or owner");
    return -1;
  }
  const char *qs = p->q ? p->q : "";
  size_t qlen = strlen(qs);
  if (qlen > CS_QUERY_MAX_BYTES) {
    cs_engine_err(err, 400, "query_too_long", "the query is longer than %d bytes",
                  CS_QUERY_MAX_BYTES);
    return -1;
  }
  cs_analyzer *an = cs__analyzer_get();
  if (!an) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  cs__parse_opts po;
  cs__parse_defaults(&po);
  cs__query q;
  int parsed = cs__parse_with_synonyms(e, an, qs, qlen, &po, &q, err);
  cs__analyzer_put(an);
  if (!parsed) parsed = cs__redact_check_filters(c, p->speaker, &q, err);
  if (parsed) {
    cs__query_free(&q);
    return -1;
  }
  cs_view v;
  if (cs_view_begin(e, &v, err)) {
    cs__query_free(&q);
    return -1;
  }
  actx a;
  memset(&a, 0, sizeof a);
  a.r = v.r;
  a.group_by = group_by;
  int ret = -1, rc = 0, timed_out = 0;
  if (p->timeout_ms) {
    a.deadline = cs_clock_after_ms(CLOCK_MONOTONIC, p->timeout_ms);
    a.has_deadline = 1;
  }
  if (group_by == CS_GROUP_CATEGORY) {
    rc = cs__checklist_open(v.r, c, &a.cl);
    size_t np = a.cl ? cs__checklist_count(a.cl) : 0;
    a.cats = !rc ? calloc(np ? np : 1, sizeof *a.cats) : NULL;
    if (!rc && !a.cats) rc = CS_ENOMEM;
  }
  const cs__convs *convs = NULL;
  if (!rc) rc = cs_view_convs(&v, &convs);
  if (!rc) rc = cs__match(v.r, convs, c, p, &q, NULL, 0, on_match, &a, &timed_out);
  if (rc == CS_EINVAL) {
    cs_engine_err(err, 400, "bad_parameter", "the speaker name is too long");
    goto out;
  }
  if (rc) {
    cs_engine_err_rc(err, rc);
    goto out;
  }
  if (a.nb > 1) qsort(a.b, a.nb, sizeof *a.b, bucket_cmp);
  json_t *buckets = json_array();
  for (size_t i = 0; buckets && i < a.nb; i++) {
    json_array_append_new(buckets, json_pack("{s:o, s:I, s:I}", "key", key_json(group_by, &a.b[i]),
                                             "conversations", (json_int_t)a.b[i].convs, "turns",
                                             (json_int_t)a.b[i].turns));
  }
  *out = json_pack("{s:s, s:o, s:{s:I, s:I}, s:I}", "group_by", group_names[group_by], "buckets",
                   buckets, "total", "conversations", (json_int_t)a.convs, "turns",
                   (json_int_t)a.turns, "took_ms", (json_int_t)((mono_us() - t0) / 1000));
  if (!*out) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    goto out;
  }
  if (timed_out || a.timed_out) json_object_set_new(*out, "timed_out", json_true());
  ret = 0;
out:
  cs__checklist_close(a.cl);
  free(a.cats);
  free(a.b);
  free(a.slots);
  cs_view_end(e, &v);
  cs__query_free(&q);
  return ret;
}
