/*
 * The docid -> conversation table (convs.h). Buffers are reference counted:
 * the table holds its current one, each read view the one it was given.
 * Entries [0, n) of a buffer never change once handed out; extending writes
 * past every snapshot's n, or into a new buffer when the old one is full
 * (views keep the old one until they end).
 */
#include "convs.h"
#include "corrupt.h"

#include "errors.h"
#include "parser.h"
#include "varint.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cs__ctbuf {
  int refs;
  size_t cap, n;
  uint32_t *first;
  cs__crange *r;
  cs__convtab *t; /* NULL: a private buffer */
};

struct cs__convtab {
  pthread_mutex_t lock;
  cs__ctbuf *cur; /* NULL until first used */
  uint32_t upto;  /* every conversation below this docid is in cur */
  uint32_t base;  /* upto of the last full build: older views get a private table */
};

void cs__crange_of(const cs_conv *c, cs__crange *R) {
  R->f = c->first_docid;
  R->e = c->first_docid + c->ndocs;
  uint32_t d = R->f;
  R->title = c->title.len ? d++ : CS_DOCID_END;
  R->desc = c->description.len ? d++ : CS_DOCID_END;
  R->nturns = c->nturns;
  R->kinds = (uint8_t)((R->title != CS_DOCID_END ? CS__F_TITLE : 0) |
                       (R->desc != CS_DOCID_END ? CS__F_DESC : 0) | (c->nturns ? CS__F_TURN : 0));
  R->id = c->id;
  R->patient = c->patient_id;
  R->owner = c->owner_id;
  R->created = c->created_at_ms;
}

static void buf_free(cs__ctbuf *b) {
  if (!b) return;
  free(b->first);
  free(b->r);
  free(b);
}

static int buf_reserve(cs__ctbuf *b, size_t need) {
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < need)
    cap *= 2;
  uint32_t *f = realloc(b->first, cap * sizeof *f);
  if (!f) return CS_ENOMEM;
  b->first = f;
  cs__crange *r = realloc(b->r, cap * sizeof *r);
  if (!r) return CS_ENOMEM;
  b->r = r;
  b->cap = cap;
  return 0;
}

static int buf_push(cs__ctbuf *b, const cs_conv *c) {
  if (c->ndocs == 0) return 0; /* no documents: no docid to resolve */
  int rc = buf_reserve(b, b->n + 1);
  if (rc) return rc;
  cs__crange_of(c, &b->r[b->n]);
  b->first[b->n++] = c->first_docid;
  return 0;
}

static int conv_each(void *ctx, cs_slice key, cs_slice val) {
  cs_conv c;
  if (cs_corrupt_rc(cs_conv_decode(val.data, val.len, &c), CS_T_CONV, key)) return 0; /* skipped */
  return buf_push(ctx, &c);
}

static int range_cmp(const void *a, const void *b) {
  const cs__crange *x = a, *y = b;
  return x->f < y->f ? -1 : x->f > y->f;
}

/* A buffer of every conversation of r's snapshot. */
static int build(cs_reader *r, cs__ctbuf **out) {
  *out = NULL;
  cs__ctbuf *b = calloc(1, sizeof *b);
  if (!b) return CS_ENOMEM;
  uint64_t n = 0;
  int rc = cs_reader_count(r, CS_T_CONV, &n);
  if (!rc) rc = buf_reserve(b, (size_t)n + 1);
  if (!rc) rc = cs_reader_scan(r, CS_T_CONV, NULL, 0, conv_each, b);
  if (rc) {
    buf_free(b);
    return rc;
  }
  /* Conversations are keyed by id; the table is ordered by docid. */
  if (b->n > 1) qsort(b->r, b->n, sizeof *b->r, range_cmp);
  for (size_t i = 0; i < b->n; i++)
    b->first[i] = b->r[i].f;
  b->refs = 1;
  *out = b;
  return 0;
}

typedef struct ext_ctx {
  cs_reader *r;
  cs__ctbuf *b;
  uint32_t from, skip; /* docids below skip belong to a conversation just added */
} ext_ctx;

static int doc_each(void *ctx, cs_slice key, cs_slice val) {
  ext_ctx *x = ctx;
  if (key.len != 4) return 0;
  uint32_t d = cs_be32_get(key.data);
  if (d < x->skip) return 0;
  cs_doc doc;
  if (cs_corrupt_rc(cs_doc_decode(val.data, val.len, &doc), CS_T_DOCS, key) || !doc.conversation_id)
    return 0;
  cs_conv c;
  int rc = cs_reader_conv(x->r, doc.conversation_id, &c);
  if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0; /* damaged: reported, skipped */
  if (rc) return rc;
  if (c.first_docid < x->from || d < c.first_docid || d - c.first_docid >= c.ndocs) return 0;
  x->skip = c.first_docid + c.ndocs;
  return buf_push(x->b, &c);
}

int cs__convtab_new(cs__convtab **out) {
  cs__convtab *t = calloc(1, sizeof *t);
  if (!t) return CS_ENOMEM;
  pthread_mutex_init(&t->lock, NULL);
  *out = t;
  return 0;
}

void cs__convtab_free(cs__convtab *t) {
  if (!t) return;
  if (t->cur && --t->cur->refs == 0) buf_free(t->cur);
  pthread_mutex_destroy(&t->lock);
  free(t);
}

static void snap(cs__ctbuf *b, cs__convtab *t, cs__convs *out) {
  b->refs++;
  out->first = b->first;
  out->r = b->r;
  out->n = b->n;
  out->buf = b;
  out->t = t;
}

/* A private table for r alone (no shared table, or a view older than the
 * shared one's last full build). */
static int get_private(cs_reader *r, cs__convs *out) {
  cs__ctbuf *b;
  int rc = build(r, &b);
  if (rc) return rc;
  b->refs = 0;
  snap(b, NULL, out);
  return 0;
}

/* Appends the conversations of docids [t->upto, upto) of r's snapshot,
 * copying into a larger buffer when the current one is full (views hold
 * the old one). */
static int extend(cs__convtab *t, cs_reader *r, uint32_t upto) {
  cs__ctbuf *b = t->cur;
  if (b->refs > 1) {
    /* Views read b: append in place only within its capacity. Measure
     * first with a private buffer, then copy both. */
    cs__ctbuf add = {0};
    ext_ctx x = {r, &add, t->upto, 0};
    uint8_t from[4];
    cs_be32_put(from, t->upto);
    int rc = cs_reader_scan_from(r, CS_T_DOCS, NULL, 0, from, 4, doc_each, &x);
    if (!rc && b->n + add.n > b->cap) {
      cs__ctbuf *nb = calloc(1, sizeof *nb);
      rc = nb ? buf_reserve(nb, (b->n + add.n) * 2) : CS_ENOMEM;
      if (!rc) {
        memcpy(nb->first, b->first, b->n * sizeof *b->first);
        memcpy(nb->r, b->r, b->n * sizeof *b->r);
        nb->n = b->n;
        nb->refs = 1;
        b->refs--;
        t->cur = b = nb;
      } else {
        buf_free(nb);
      }
    }
    if (!rc) {
      memcpy(b->first + b->n, add.first, add.n * sizeof *add.first);
      memcpy(b->r + b->n, add.r, add.n * sizeof *add.r);
      b->n += add.n;
    }
    free(add.first);
    free(add.r);
    if (rc) return rc;
  } else {
    ext_ctx x = {r, b, t->upto, 0};
    uint8_t from[4];
    cs_be32_put(from, t->upto);
    int rc = cs_reader_scan_from(r, CS_T_DOCS, NULL, 0, from, 4, doc_each, &x);
    if (rc) return rc;
  }
  t->upto = upto;
  return 0;
}

int cs__convs_get(cs__convtab *t, cs_reader *r, cs__convs *out) {
  memset(out, 0, sizeof *out);
  if (!t) return get_private(r, out);
  cs_stats st;
  int rc = cs_reader_stats(r, &st);
  if (rc) return rc;
  pthread_mutex_lock(&t->lock);
  if (t->cur && st.next_docid < t->base) {
    pthread_mutex_unlock(&t->lock);
    return get_private(r, out);
  }
  if (t->cur && st.next_docid > t->upto) {
    /* Rebuilt when deleted and replaced ranges outnumber the live ones. */
    uint64_t live = 0;
    rc = cs_reader_count(r, CS_T_CONV, &live);
    if (!rc && t->cur->n > 2 * live + 4096) {
      if (--t->cur->refs == 0) buf_free(t->cur);
      t->cur = NULL;
    } else if (!rc) {
      rc = extend(t, r, st.next_docid);
    }
  }
  if (!rc && !t->cur) {
    rc = build(r, &t->cur);
    if (!rc) t->upto = t->base = st.next_docid;
  }
  if (!rc) {
    t->cur->t = t;
    snap(t->cur, t, out);
  }
  pthread_mutex_unlock(&t->lock);
  return rc;
}

void cs__convs_release(cs__convs *v) {
  cs__ctbuf *b = v->buf;
  if (!b) return;
  if (v->t) pthread_mutex_lock(&v->t->lock);
  int last = --b->refs == 0;
  if (v->t) pthread_mutex_unlock(&v->t->lock);
  if (last) buf_free(b);
  memset(v, 0, sizeof *v);
}
