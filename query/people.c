/*
 * Ordering the caller's people (GET /v1/patients): the list a portal user
 * sees of the people they help, sorted by name as a Spanish reader expects,
 * by the caller's degree of interaction with each person, or by recency.
 *
 * Each call reads the caller's people in one read view (a portal caller's
 * from CS_T_OWNER, everyone for admins and analysts from CS_T_PATIENT),
 * filters them by q, computes every sort key and sorts; an employee has
 * hundreds of people, so sorting per request is cheap. The work is bounded:
 * a list of more than CS_PEOPLE_MAX people is refused (narrow it with q).
 *
 * Sort keys and cursors. Every order is total (the id breaks ties), and a
 * cursor carries the sort key of the last item of its page, so the next page
 * starts strictly after that key whatever was added, removed or changed in
 * between: no item is shown twice because another moved.
 *   name:        ICU collation key of the trimmed name (Spanish rules,
 *                secondary strength, numeric ordering), then id;
 *   interaction: the undecayed interaction sum (score_ref, see records.h),
 *                descending, then id. Every score decays by the same factor
 *                over time, so ordering by the undecayed sum is the same as
 *                ordering by today's score, and a cursor stays valid when
 *                the clock moves between pages;
 *   recent:      last interaction time descending, then updated_at
 *                descending, then id.
 * Names are collated from at most CS_NAME_KEY_MAX bytes of collation key:
 * two names that differ only past that are ordered by id.
 *
 * Security: a portal caller sees only people it owns; analysts see
 * pseudonyms (sorted and filtered by the pseudonym, so neither the order nor
 * q reveals a real name) and never contact fields.
 */
#include "internal.h"
#include "corrupt.h"

#include "analyzer.h"
#include "base64url.h"
#include "clock.h"
#include "errors.h"
#include "store.h"
#include "varint.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicode/ucol.h>
#include <unicode/uiter.h>

#define CS_PEOPLE_MAX 100000
#define CS_NAME_KEY_MAX 240
#define CURSOR_MAGIC 'P'
#define CURSOR_VERSION 1

typedef struct person {
  uint64_t id, owner;
  cs_str name, email, phone; /* valid until the view ends */
  int64_t updated_ms;
  int64_t last_ms; /* INT64_MIN: never */
  double ref;      /* undecayed interaction */
  int have_inter;
  uint32_t key_off; /* collation key in the arena */
  uint16_t key_len;
} person;

typedef struct list {
  person *v;
  size_t n, cap;
  uint8_t *arena; /* collation keys */
  size_t arena_len, arena_cap;
  int sort;
} list;

/* ---------------------------------------------------------------- collation */

static pthread_key_t coll_key;
static pthread_once_t coll_once = PTHREAD_ONCE_INIT;

static void coll_free(void *p) {
  ucol_close(p);
}

static void coll_init(void) {
  pthread_key_create(&coll_key, coll_free);
}

/* The Spanish collator of this thread (a collator is not shared between
 * threads); NULL when ICU cannot open it. */
static UCollator *collator(void) {
  pthread_once(&coll_once, coll_init);
  UCollator *c = pthread_getspecific(coll_key);
  if (c) return c;
  UErrorCode st = U_ZERO_ERROR;
  c = ucol_open("es", &st);
  if (U_FAILURE(st)) return NULL;
  /* Secondary strength: accents matter after letters, case does not. */
  ucol_setAttribute(c, UCOL_STRENGTH, UCOL_SECONDARY, &st);
  ucol_setAttribute(c, UCOL_CASE_LEVEL, UCOL_OFF, &st);
  /* "Paciente 2" before "Paciente 10". */
  ucol_setAttribute(c, UCOL_NUMERIC_COLLATION, UCOL_ON, &st);
  if (U_FAILURE(st) || pthread_setspecific(coll_key, c) != 0) {
    ucol_close(c);
    return NULL;
  }
  return c;
}

/* Leading and trailing white space (ASCII and no-break space) is not part
 * of how a name sorts. */
static cs_str trim(cs_str s) {
  const char *p = s.p, *e = s.p + s.len;
  for (;;) {
    if (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
      p++;
    else if (e - p >= 2 && (uint8_t)p[0] == 0xC2 && (uint8_t)p[1] == 0xA0)
      p += 2;
    else
      break;
  }
  for (;;) {
    if (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
      e--;
    else if (e - p >= 2 && (uint8_t)e[-2] == 0xC2 && (uint8_t)e[-1] == 0xA0)
      e -= 2;
    else
      break;
  }
  cs_str r = {p, (size_t)(e - p)};
  return r;
}

static int add_key(list *l, person *p, UCollator *coll, cs_str name) {
  if (cs_grow_from((void **)&l->arena, &l->arena_cap, l->arena_len + CS_NAME_KEY_MAX, 1,
                   64 * CS_NAME_KEY_MAX))
    return CS_ENOMEM;
  name = trim(name);
  UCharIterator it;
  uiter_setUTF8(&it, name.p, (int32_t)name.len);
  uint32_t state[2] = {0, 0};
  UErrorCode st = U_ZERO_ERROR;
  int32_t n = ucol_nextSortKeyPart(coll, &it, state, l->arena + l->arena_len, CS_NAME_KEY_MAX, &st);
  if (U_FAILURE(st) || n < 0) n = 0;
  p->key_off = (uint32_t)l->arena_len;
  p->key_len = (uint16_t)n;
  l->arena_len += (size_t)n;
  return 0;
}

/* ---------------------------------------------------------------- order */

typedef struct sort_key {
  const uint8_t *key;
  size_t key_len;
  uint64_t id;
  double ref;
  int64_t last_ms, updated_ms;
} sort_key;

static sort_key key_of(const list *l, const person *p) {
  sort_key k = {l->arena + p->key_off, p->key_len, p->id, p->ref, p->last_ms, p->updated_ms};
  return k;
}

static int cmp_u64(uint64_t a, uint64_t b) {
  return a < b ? -1 : a > b;
}

static int cmp_i64(int64_t a, int64_t b) {
  return a < b ? -1 : a > b;
}

/* < 0 when a comes before b in `sort` order. */
static int key_cmp(int sort, const sort_key *a, const sort_key *b) {
  int c;
  switch (sort) {
  case CS_PEOPLE_NAME:
  case CS_PEOPLE_NAME_DESC: {
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    c = n ? memcmp(a->key, b->key, n) : 0;
    if (!c) c = cmp_u64(a->key_len, b->key_len);
    if (!c) c = cmp_u64(a->id, b->id);
    return sort == CS_PEOPLE_NAME ? c : -c;
  }
  case CS_PEOPLE_INTERACTION:
    c = a->ref > b->ref ? -1 : a->ref < b->ref;
    return c ? c : cmp_u64(a->id, b->id);
  default:
    c = -cmp_i64(a->last_ms, b->last_ms);
    if (!c) c = -cmp_i64(a->updated_ms, b->updated_ms);
    return c ? c : cmp_u64(a->id, b->id);
  }
}

static int person_cmp(const void *x, const void *y, void *arg) {
  const list *l = arg;
  sort_key a = key_of(l, x), b = key_of(l, y);
  return key_cmp(l->sort, &a, &b);
}

/* ---------------------------------------------------------------- cursors */

/* Raw cursor: 'P', version, sort, then per sort
 *   name/-name:  u8 key length, key bytes, be64 id
 *   interaction: be64 bits of the undecayed score, be64 id
 *   recent:      be64 last (offset binary), be64 updated (offset binary), be64 id */
#define CURSOR_RAW_MAX (3 + 1 + CS_NAME_KEY_MAX + 8 + 24)

static json_t *cursor_encode(int sort, const sort_key *k) {
  uint8_t raw[CURSOR_RAW_MAX];
  size_t n = 0;
  raw[n++] = CURSOR_MAGIC;
  raw[n++] = CURSOR_VERSION;
  raw[n++] = (uint8_t)sort;
  if (sort == CS_PEOPLE_NAME || sort == CS_PEOPLE_NAME_DESC) {
    raw[n++] = (uint8_t)k->key_len;
    memcpy(raw + n, k->key, k->key_len);
    n += k->key_len;
  } else if (sort == CS_PEOPLE_INTERACTION) {
    uint64_t bits;
    memcpy(&bits, &k->ref, 8);
    cs_be64_put(raw + n, bits);
    n += 8;
  } else {
    cs_be64_put(raw + n, (uint64_t)k->last_ms ^ 0x8000000000000000ULL);
    cs_be64_put(raw + n + 8, (uint64_t)k->updated_ms ^ 0x8000000000000000ULL);
    n += 16;
  }
  cs_be64_put(raw + n, k->id);
  n += 8;
  char out[CURSOR_RAW_MAX * 4 / 3 + 8];
  cs_b64url_encode(raw, n, out, sizeof out);
  return json_string(out);
}

/* Decodes a client's cursor into k (key bytes copied into keybuf). */
static int cursor_decode(const char *s, int sort, sort_key *k, uint8_t *keybuf,
                         cs_engine_error *err) {
  uint8_t raw[CURSOR_RAW_MAX + 4];
  size_t sl = strlen(s);
  int n = sl > CS_CURSOR_MAX ? -1 : cs_b64url_decode(s, sl, raw, sizeof raw, 0);
  memset(k, 0, sizeof *k);
  if (n < 3 + 8 || raw[0] != CURSOR_MAGIC || raw[1] != CURSOR_VERSION) goto bad;
  if (raw[2] != sort) {
    cs_engine_err(err, 400, "bad_cursor", "the cursor belongs to another sort order");
    return -1;
  }
  size_t i = 3;
  if (sort == CS_PEOPLE_NAME || sort == CS_PEOPLE_NAME_DESC) {
    size_t kl = raw[i++];
    if (kl > CS_NAME_KEY_MAX || i + kl + 8 != (size_t)n) goto bad;
    memcpy(keybuf, raw + i, kl);
    k->key = keybuf;
    k->key_len = kl;
    i += kl;
  } else if (sort == CS_PEOPLE_INTERACTION) {
    if (i + 16 != (size_t)n) goto bad;
    uint64_t bits = cs_be64_get(raw + i);
    memcpy(&k->ref, &bits, 8);
    if (isnan(k->ref)) goto bad;
    i += 8;
  } else {
    if (i + 24 != (size_t)n) goto bad;
    k->last_ms = (int64_t)(cs_be64_get(raw + i) ^ 0x8000000000000000ULL);
    k->updated_ms = (int64_t)(cs_be64_get(raw + i + 8) ^ 0x8000000000000000ULL);
    i += 16;
  }
  k->id = cs_be64_get(raw + i);
  return 0;
bad:
  cs_engine_err(err, 400, "bad_cursor", "the cursor is not one this server gave out");
  return -1;
}

/* ---------------------------------------------------------------- q */

typedef struct qwords {
  char w[CS_QUERY_MAX_TERMS][CS_TERM_MAX * 4 + 1];
  size_t len[CS_QUERY_MAX_TERMS];
  int n;
} qwords;

static int is_sep(unsigned char c) {
  return c < 0x80 && !((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'));
}

/* Calls fn for each folded word of text; stops early when fn returns
 * non-zero (and returns that). */
typedef int (*word_fn)(void *ctx, const char *w, size_t n);
static int each_word(const char *s, size_t n, word_fn fn, void *ctx) {
  size_t i = 0;
  while (i < n) {
    while (i < n && is_sep((unsigned char)s[i]))
      i++;
    size_t b = i;
    while (i < n && !is_sep((unsigned char)s[i]))
      i++;
    if (i == b) break;
    char f[CS_TERM_MAX * 4 + 1];
    int fl = cs__fold_query_word(s + b, i - b, f, sizeof f);
    if (fl > 0) {
      int rc = fn(ctx, f, (size_t)fl);
      if (rc) return rc;
    }
  }
  return 0;
}

static int add_qword(void *ctx, const char *w, size_t n) {
  qwords *q = ctx;
  if (q->n == CS_QUERY_MAX_TERMS) return 1;
  memcpy(q->w[q->n], w, n + 1);
  q->len[q->n++] = n;
  return 0;
}

typedef struct match_ctx {
  const qwords *q;
  uint64_t matched; /* bit per q word */
} match_ctx;

static int match_word(void *ctx, const char *w, size_t n) {
  match_ctx *m = ctx;
  for (int i = 0; i < m->q->n; i++) {
    if (m->q->len[i] <= n && !memcmp(w, m->q->w[i], m->q->len[i])) m->matched |= 1ull << i;
  }
  return m->matched == (1ull << m->q->n) - 1;
}

/* Every word of q is a prefix of some word of the name. */
static int name_matches(const qwords *q, const char *name, size_t n) {
  match_ctx m = {q, 0};
  each_word(name, n, match_word, &m);
  return m.matched == (1ull << q->n) - 1;
}

/* ---------------------------------------------------------------- reading */

typedef struct gather {
  cs_reader *r;
  const cs_caller *c;
  list *l;
  const qwords *q;
  int need_keys; /* collation keys */
  UCollator *coll;
  int rc;
} gather;

/* The name a caller may see, as text (analysts: the pseudonym). */
static cs_str visible_name(const cs_caller *c, const cs_patient *p, char *buf, size_t cap) {
  if (c->role != CS_CALLER_ANALYST) return p->name;
  json_t *j = cs_json_person_name(c, p->id, p->name);
  snprintf(buf, cap, "%s", json_string_value(j) ? json_string_value(j) : "");
  json_decref(j);
  cs_str s = {buf, strlen(buf)};
  return s;
}

static int add_person(gather *g, const cs_patient *pt) {
  char pseudo[64];
  cs_str name = visible_name(g->c, pt, pseudo, sizeof pseudo);
  if (g->q->n && !name_matches(g->q, name.p, name.len)) return 0;
  list *l = g->l;
  if (l->n == CS_PEOPLE_MAX) {
    g->rc = CS_ELIMIT;
    return 1;
  }
  if (cs_grow_from((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v, 256)) {
    g->rc = CS_ENOMEM;
    return 1;
  }
  person *p = &l->v[l->n];
  memset(p, 0, sizeof *p);
  p->id = pt->id;
  p->owner = pt->owner_id;
  p->name = pt->name;
  p->email = pt->email;
  p->phone = pt->phone;
  p->updated_ms = pt->updated_at_ms;
  p->last_ms = INT64_MIN;
  if (g->need_keys && (g->rc = add_key(l, p, g->coll, name))) return 1;
  l->n++;
  return 0;
}

static int scan_owner(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  gather *g = ctx;
  if (key.len != 16) return 0;
  cs_patient pt;
  uint64_t id = cs_be64_get((const uint8_t *)key.data + 8);
  int rc = cs_reader_patient(g->r, id, &pt);
  /* An owner entry outliving its record, or a damaged one (reported). */
  if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0;
  if (rc) {
    g->rc = rc;
    return 1;
  }
  /* The record is the truth about the owner. */
  if (pt.owner_id != g->c->employee_id) return 0;
  return add_person(g, &pt);
}

static int scan_patient(void *ctx, cs_slice key, cs_slice val) {
  gather *g = ctx;
  if (key.len != 8) return 0;
  cs_patient pt;
  if (cs_corrupt_rc(cs_patient_decode(val.data, val.len, &pt), CS_T_PATIENT, key)) return 0;
  return add_person(g, &pt);
}

typedef struct inter_sum {
  double ref;
  int64_t last;
  int any;
  int rc;
} inter_sum;

static int scan_inter(void *ctx, cs_slice key, cs_slice val) {
  inter_sum *s = ctx;
  cs_inter x;
  if (cs_corrupt_rc(cs_inter_decode(val.data, val.len, &x), CS_T_INTER, key))
    return 0; /* skipped */
  if (isfinite(x.score_ref)) s->ref += x.score_ref;
  if (x.last_at_ms > s->last) s->last = x.last_at_ms;
  s->any = 1;
  return 0;
}

/* Interaction of the caller with p: its own for a portal caller, the sum
 * over every employee for admins and analysts. */
static int load_inter(cs_reader *r, const cs_caller *c, person *p) {
  if (p->have_inter) return 0;
  p->have_inter = 1;
  p->ref = 0;
  p->last_ms = INT64_MIN;
  if (c->role == CS_CALLER_PORTAL) {
    cs_inter x;
    int rc = cs_reader_inter(r, p->id, c->employee_id, &x);
    if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0; /* damaged: reported, no score */
    if (rc) return rc;
    p->ref = isfinite(x.score_ref) ? x.score_ref : 0;
    p->last_ms = x.last_at_ms;
    return 0;
  }
  uint8_t pfx[8];
  cs_key_u64(pfx, p->id);
  inter_sum s = {0, INT64_MIN, 0, 0};
  int rc = cs_reader_scan(r, CS_T_INTER, pfx, 8, scan_inter, &s);
  if (!rc) rc = s.rc;
  if (rc) return rc;
  p->ref = s.ref;
  p->last_ms = s.last;
  return 0;
}

static int count_scan(void *ctx, cs_slice key, cs_slice val) {
  (void)key;
  (void)val;
  ++*(uint64_t *)ctx;
  return 0;
}

static json_t *contact(cs_str s) {
  return s.len ? cs_json_str(s) : json_null();
}

static json_t *item_json(cs_reader *r, const cs_caller *c, const person *p, int64_t now_ms,
                         int *rc) {
  uint64_t convs = 0;
  uint8_t pfx[8];
  cs_key_u64(pfx, p->id);
  *rc = cs_reader_scan(r, CS_T_PCONV, pfx, 8, count_scan, &convs);
  if (*rc) return NULL;
  cs_inter x = {0, p->ref, p->last_ms};
  double score = p->ref > 0 ? cs_interaction_now(&x, now_ms) : 0;
  json_t *j = json_pack("{s:I, s:o, s:I, s:f, s:o, s:I}", "id", (json_int_t)p->id, "name",
                        cs_json_person_name(c, p->id, p->name), "owner_id", (json_int_t)p->owner,
                        "interaction", round(score * 10000) / 10000, "last_interaction_at",
                        cs_json_time(p->last_ms == INT64_MIN ? -1 : p->last_ms), "conversations",
                        (json_int_t)convs);
  if (j && c->role != CS_CALLER_ANALYST) {
    json_object_set_new(j, "email", contact(p->email));
    json_object_set_new(j, "phone", contact(p->phone));
  }
  if (!j) *rc = CS_ENOMEM;
  return j;
}

int cs_engine_patients(cs_engine *e, const cs_caller *c, int sort, const char *q, uint32_t limit,
                       const char *cursor, json_t **out, cs_engine_error *err) {
  *out = NULL;
  if (sort < CS_PEOPLE_NAME || sort > CS_PEOPLE_RECENT) {
    cs_engine_err(err, 400, "bad_parameter", "unknown sort order");
    return -1;
  }
  if (limit < 1 || limit > CS_PAGE_MAX) {
    cs_engine_err(err, 400, "bad_parameter", "limit must be from 1 to %d", CS_PAGE_MAX);
    return -1;
  }
  if (q && strlen(q) > CS_QUERY_MAX_BYTES) {
    cs_engine_err(err, 400, "query_too_long", "q is longer than %d bytes", CS_QUERY_MAX_BYTES);
    return -1;
  }
  sort_key after;
  uint8_t after_key[CS_NAME_KEY_MAX];
  if (cursor && cursor_decode(cursor, sort, &after, after_key, err)) return -1;

  qwords *qw = calloc(1, sizeof *qw);
  list l;
  memset(&l, 0, sizeof l);
  l.sort = sort;
  if (!qw) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  if (q) each_word(q, strlen(q), add_qword, qw);

  cs_view v;
  if (cs_view_begin(e, &v, err)) {
    free(qw);
    return -1;
  }
  int rc = 0;
  json_t *items = json_array(), *res = NULL;
  gather g = {v.r, c, &l, qw, sort == CS_PEOPLE_NAME || sort == CS_PEOPLE_NAME_DESC, NULL, 0};
  if (g.need_keys && !(g.coll = collator())) {
    rc = CS_ENOMEM;
    goto out;
  }
  if (c->role == CS_CALLER_PORTAL) {
    if (c->employee_id) {
      uint8_t pfx[8];
      cs_key_u64(pfx, c->employee_id);
      rc = cs_reader_scan(v.r, CS_T_OWNER, pfx, 8, scan_owner, &g);
    }
  } else {
    rc = cs_reader_scan(v.r, CS_T_PATIENT, NULL, 0, scan_patient, &g);
  }
  if (!rc) rc = g.rc;
  if (rc) goto out;

  if (sort == CS_PEOPLE_INTERACTION || sort == CS_PEOPLE_RECENT) {
    for (size_t i = 0; i < l.n && !rc; i++)
      rc = load_inter(v.r, c, &l.v[i]);
    if (rc) goto out;
  }
  /* Keep what sorts strictly after the cursor, then sort that. */
  size_t m = 0;
  for (size_t i = 0; i < l.n; i++) {
    sort_key k = key_of(&l, &l.v[i]);
    if (!cursor || key_cmp(sort, &after, &k) < 0) l.v[m++] = l.v[i];
  }
  if (m > 1) qsort_r(l.v, m, sizeof *l.v, person_cmp, &l);

  int64_t now = cs_clock_ms(CLOCK_REALTIME);
  size_t take = m < limit ? m : limit;
  for (size_t i = 0; i < take && !rc; i++) {
    rc = load_inter(v.r, c, &l.v[i]);
    json_t *it = rc ? NULL : item_json(v.r, c, &l.v[i], now, &rc);
    if (it) json_array_append_new(items, it);
  }
  if (rc) goto out;
  json_t *next = json_null();
  if (m > limit) {
    sort_key k = key_of(&l, &l.v[take - 1]);
    json_decref(next);
    next = cursor_encode(sort, &k);
  }
  res = json_pack("{s:O, s:o}", "items", items, "next_cursor", next);
out:
  cs_view_end(e, &v);
  json_decref(items);
  free(l.v);
  free(l.arena);
  free(qw);
  if (rc == CS_ELIMIT) {
    cs_engine_err(err, 400, "too_many_people", "more than %d people match: narrow the list with q",
                  CS_PEOPLE_MAX);
    return -1;
  }
  if (rc || !res) {
    json_decref(res);
    cs_engine_err(err, rc == CS_ENOMEM || !res ? 503 : 500,
                  rc == CS_ECORRUPT ? "index_corrupt" : "internal",
                  "the people list cannot be read: %s", cs_strerror(rc ? rc : CS_ENOMEM));
    return -1;
  }
  *out = res;
  return 0;
}
