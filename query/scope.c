/*
 * The search's visibility scope: which conversations a walk may visit and
 * who may see them (a portal caller's people, person and conversation
 * filters, the people a query names), the conversation holding a candidate
 * docid (the docid -> conversation table, convs.h), and the turn filters
 * (speaker, role).
 */
#include "search_int.h"
#include "corrupt.h"
#include "owned.h"

#include "errors.h"
#include "expand.h"
#include "varint.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fold_cached(xfilter *f, cs_str s, char *out, size_t cap) {
  if (s.len < sizeof f->cache[0].raw) {
    for (int i = 0; i < 8; i++) {
      fold_slot *c = &f->cache[i];
      if (c->flen >= 0 && c->rlen == s.len && memcmp(c->raw, s.p, s.len) == 0 && c->rlen) {
        memcpy(out, c->fold, (size_t)c->flen + 1);
        return c->flen;
      }
    }
  }
  int n = cs__fold_speaker(s.p, s.len, out, cap);
  if (n >= 0 && s.len < sizeof f->cache[0].raw && s.len > 0) {
    fold_slot *c = &f->cache[f->next];
    f->next = (f->next + 1) % 8;
    memcpy(c->raw, s.p, s.len);
    c->rlen = (uint8_t)s.len;
    memcpy(c->fold, out, (size_t)n + 1);
    c->flen = n;
  }
  return n;
}

static int turn_passes(xfilter *f, const cs_turn *t) {
  const cs__query *q = f->q;
  if (f->role != CS_ANY_ROLE && t->role != f->role) return 0;
  if (q->roles && !(q->roles & (1u << t->role))) return 0;
  if (q->not_roles & (1u << t->role)) return 0;
  if (!f->has_speaker && !q->nspeakers && !q->nnot_speakers) return 1;
  char sp[64];
  int n = fold_cached(f, t->speaker, sp, sizeof sp);
  if (n < 0) return 0; /* a name longer than any filter cannot equal one */
  if (f->has_speaker && strcmp(sp, f->speaker) != 0) return 0;
  if (q->nspeakers) {
    int any = 0;
    for (int i = 0; i < q->nspeakers; i++)
      any |= strcmp(sp, q->speakers[i]) == 0;
    if (!any) return 0;
  }
  for (int i = 0; i < q->nnot_speakers; i++) {
    if (strcmp(sp, q->not_speakers[i]) == 0) return 0;
  }
  return 1;
}

/* The redaction for a conversation of `patient` (kept for the next). */
const cs__redact *cs__redact_for(xsearch *s, uint64_t patient) {
  if (!s->rd_set || s->rd.patient != patient) {
    cs__redact_init(&s->rd, s->caller, s->r, patient);
    s->rd_set = 1;
  }
  return &s->rd;
}

/* Conversation-level filters that do not depend on the query. */
int cs__range_passes(const xsearch *s, const xrange *R) {
  const cs_search_params *p = s->p;
  if (R->f >= s->horizon && s->horizon) return 0;
  if (p->owner && R->owner != p->owner) return 0;
  if (p->patient && R->patient != p->patient) return 0;
  if (p->conversation && R->id != p->conversation) return 0;
  if (p->from_ms != INT64_MIN && (R->created < 0 || R->created < p->from_ms)) return 0;
  if (p->to_ms != INT64_MAX && (R->created < 0 || R->created > p->to_ms)) return 0;
  return 1;
}

/* Appends R to v[0..n) when it passes the conversation-level filters. */
static int range_push(xsearch *s, const xrange *R, xrange **v, size_t *n, size_t *cap) {
  if (!cs__range_passes(s, R)) return 0;
  if (cs_grow((void **)v, cap, *n + 1, sizeof **v)) return CS_ENOMEM;
  (*v)[(*n)++] = *R;
  return 0;
}

static int range_add(xsearch *s, const cs_conv *c, xrange **v, size_t *n, size_t *cap) {
  xrange R;
  range_of(c, &R);
  return range_push(s, &R, v, n, cap);
}

int cs__universe_add(xsearch *s, const cs_conv *c) {
  return range_add(s, c, &s->u, &s->nu, &s->ucap);
}

static int universe_add_id(xsearch *s, uint64_t id) {
  cs_conv c;
  int rc = cs_reader_conv(s->r, id, &c);
  if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0; /* damaged: reported, skipped */
  return rc ? rc : cs__universe_add(s, &c);
}

static int pconv_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  if (key.len != 16) return 0;
  return universe_add_id(ctx, cs_be64_get((const uint8_t *)key.data + 8));
}

static int patient_convs(xsearch *s, uint64_t patient) {
  uint8_t pfx[8];
  cs_key_u64(pfx, patient);
  return cs_reader_scan(s->r, CS_T_PCONV, pfx, 8, pconv_each, s);
}

/* A portal caller's own people and conversations (owned.h), once per
 * search. */
static int owned_of(xsearch *s) {
  if (s->owned) return 0;
  return cs__owned_get(cs__snapcache_current(), s->r, s->caller->employee_id, &s->owned);
}

int cs__range_cmp(const void *a, const void *b) {
  const xrange *x = a, *y = b;
  return x->f < y->f ? -1 : x->f > y->f;
}

/* Lists the conversations the walk may visit when they are few and known
 * up front: a conversation filter, a person filter, or a portal caller's
 * people. Otherwise leaves s->universe 0 (everything, resolved lazily). */
int cs__scope_universe(xsearch *s) {
  const cs_search_params *p = s->p;
  const cs_caller *c = s->caller;
  int rc = 0;
  if (p->conversation) {
    s->universe = 1;
    cs_conv cv;
    rc = cs_reader_conv(s->r, p->conversation, &cv);
    if (rc == CS_ENOTFOUND) return 0;
    if (rc) return rc;
    if (!cs_caller_sees_patient(s->r, c, cv.patient_id)) return 0;
    rc = cs__universe_add(s, &cv);
  } else if (p->patient) {
    s->universe = 1;
    if (!cs_caller_sees_patient(s->r, c, p->patient)) return 0;
    rc = patient_convs(s, p->patient);
  } else if (cs_caller_restricted(c)) {
    s->universe = 1;
    if (c->employee_id == 0) return 0;
    rc = owned_of(s);
    /* Already in docid order. */
    for (size_t i = 0; !rc && i < s->owned->nr; i++)
      rc = range_push(s, &s->owned->r[i], &s->u, &s->nu, &s->ucap);
    return rc;
  }
  if (rc) return rc;
  if (s->nu > 1) qsort(s->u, s->nu, sizeof *s->u, cs__range_cmp);
  return 0;
}

/* In v[0..n) (sorted by docid), the first non-empty conversation ending
 * after docid d; n when none. */
size_t cs__range_after(const xrange *v, size_t n, uint32_t d) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid].e <= d)
      lo = mid + 1;
    else
      hi = mid;
  }
  while (lo < n && v[lo].e <= v[lo].f)
    lo++; /* empty conversations */
  return lo;
}

static int named_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  xsearch *s = ctx;
  if (key.len != 16) return 0;
  cs_conv c;
  int rc = cs_reader_conv(s->r, cs_be64_get((const uint8_t *)key.data + 8), &c);
  if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0; /* damaged: reported, skipped */
  return rc ? rc : range_add(s, &c, &s->named, &s->nnamed, &s->named_cap);
}

/* Lists the conversations of the people query text q names, sorted. */
int cs__scope_named(xsearch *s, const char *q, size_t qlen) {
  uint64_t *ids = NULL;
  size_t n = 0;
  int own = cs_caller_restricted(s->caller) && s->caller->employee_id != 0;
  int rc = own ? owned_of(s) : 0;
  if (!rc)
    rc = cs__people_named(s->r, s->convs, s->caller, own ? s->owned : NULL, q, qlen, &ids, &n);
  for (size_t i = 0; i < n && !rc; i++) {
    if (own) { /* the caller's own people: their conversations are at hand */
      for (size_t k = 0; k < s->owned->nr && !rc; k++) {
        if (s->owned->r[k].patient == ids[i])
          rc = range_push(s, &s->owned->r[k], &s->named, &s->nnamed, &s->named_cap);
      }
      continue;
    }
    uint8_t pfx[8];
    cs_key_u64(pfx, ids[i]);
    rc = cs_reader_scan(s->r, CS_T_PCONV, pfx, 8, named_each, s);
  }
  free(ids);
  if (!rc && s->nnamed > 1) qsort(s->named, s->nnamed, sizeof *s->named, cs__range_cmp);
  return rc;
}

/* The first named conversation ending after t: where it starts (at least
 * t), or END. */
uint32_t cs__named_lb(const xsearch *s, uint32_t t) {
  size_t i = cs__range_after(s->named, s->nnamed, t);
  if (i == s->nnamed) return END;
  return s->named[i].f > t ? s->named[i].f : t;
}

int cs__is_named(const xsearch *s, const xrange *R) {
  size_t lo = 0, hi = s->nnamed;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->named[mid].f < R->f)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (; lo < s->nnamed && s->named[lo].f == R->f; lo++) {
    if (s->named[lo].id == R->id) return 1;
  }
  return 0;
}

/* Finds the conversation holding docid d. Returns 1 with *R filled when it
 * is one to consider; 0 with *next set to where the walk continues (a gap,
 * a name, a filtered or invisible conversation); or a CS_E* code. */
int cs__resolve(xsearch *s, uint32_t d, xrange *R, uint32_t *next) {
  if (s->universe) {
    size_t lo = cs__range_after(s->u, s->nu, d);
    if (lo >= s->nu) {
      *next = END;
      return 0;
    }
    if (s->u[lo].f > d) {
      *next = s->u[lo].f;
      return 0;
    }
    *R = s->u[lo];
    return 1;
  }
  if (!s->convs) {
    int rc = cs__convs_get(NULL, s->r, &s->own_convs);
    if (rc) return rc;
    s->convs = &s->own_convs;
  }
  long i = cs__convs_find(s->convs, d, next, &s->conv_hint);
  if (i < 0) return 0;
  *R = s->convs->r[i];
  *next = R->e;
  return cs__range_visible(s, R);
}

int cs__range_visible(const xsearch *s, const xrange *R) {
  if (s->universe) return 1; /* made of visible conversations that pass the filters */
  if (!cs__range_passes(s, R)) return 0;
  /* Restricted callers always walk a universe; this is defence in depth. */
  if (cs_caller_restricted(s->caller) && !cs_caller_sees_patient(s->r, s->caller, R->patient))
    return 0;
  return 1;
}

typedef struct bits_ctx {
  xsearch *s;
  const xrange *R;
} bits_ctx;

static int bits_each(void *ctx, const cs_turn *tp) {
  bits_ctx *b = ctx;
  const cs_turn t = *tp;
  if (t.docid < b->R->f || t.docid >= b->R->e) return 0;
  if (turn_passes(&b->s->filter, &t)) {
    uint32_t i = t.docid - b->R->f;
    b->s->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
  }
  return 0;
}

/* Marks the turns of R that pass the turn filters (s->cur_bits). */
int cs__turn_bits(xsearch *s, const xrange *R) {
  s->cur_bits = NULL;
  if (!s->filter.on) return 0;
  size_t nbytes = ((size_t)(R->e - R->f) + 7) / 8 + 1;
  if (cs_grow((void **)&s->bits, &s->bits_cap, nbytes, 1)) return CS_ENOMEM;
  memset(s->bits, 0, nbytes);
  bits_ctx b = {s, R};
  int rc = cs_reader_turns(s->r, R->id, INT32_MIN, 0, bits_each, &b);
  s->cur_bits = s->bits;
  return rc;
}
