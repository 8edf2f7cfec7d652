/*
 * Per-owner statistics against what they count (see verify_owner.h). Each
 * document's owner is worked out the writer's way (its person's owner, or
 * the owner its conversation names while the person is not indexed); then
 *   - CS_T_OSTATS must hold, per owner, its documents and tokens per kind;
 *   - CS_T_OLEX must hold, per owner and term, the number of its documents
 *     the term's postings hold, and nothing else.
 * (CS_T_OWORDS would need every text analyzed again: not checked.)
 */
#include "verify_owner.h"

#include "analyzer.h"
#include "errors.h"
#include "grow.h"
#include "postings.h"
#include "varint.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ostat {
  uint64_t owner;
  uint64_t docs[CS_DOC_KINDS], tokens[CS_DOC_KINDS];
} ostat;

typedef struct vo {
  cs_reader *r;
  cs_verify_report_fn report;
  void *ctx;
  uint64_t *owner_of; /* by docid */
  size_t nowner_of;
  ostat *os;
  size_t nos;
  uint64_t *term_owners; /* owners of the current term's postings */
  size_t nto, cap_to;
  char term[CS_TERM_MAX + 2];
  size_t len;
  uint64_t pairs; /* (owner, term) pairs the postings give */
  int rc;
} vo;

static void say(vo *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(vo *x, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  x->report(x->ctx, msg);
}

/* cs_grow, the new elements zeroed. */
static int grow(void **p, size_t *cap, size_t need, size_t size) {
  size_t old = *cap;
  if (cs_grow(p, cap, need, size)) return CS_ENOMEM;
  memset((char *)*p + old * size, 0, (*cap - old) * size);
  return 0;
}

static int doc_each(void *ctx, cs_slice k, cs_slice val) {
  vo *x = ctx;
  cs_doc d;
  if (k.len != 4 || cs_doc_decode(val.data, val.len, &d) || d.kind >= CS_DOC_KINDS) return 0;
  uint32_t docid = cs_be32_get(k.data);
  uint64_t owner = UINT64_MAX;
  cs_patient p;
  cs_conv c;
  if (cs_reader_patient(x->r, d.patient_id, &p) == 0)
    owner = p.owner_id;
  else if (cs_reader_conv(x->r, d.conversation_id, &c) == 0)
    owner = c.owner_id;
  if (owner == UINT64_MAX) {
    say(x, "document %" PRIu32 " belongs to no person or conversation the index has", docid);
    return 0;
  }
  x->rc = grow((void **)&x->owner_of, &x->nowner_of, (size_t)docid + 1, sizeof *x->owner_of);
  if (x->rc) return 1;
  x->owner_of[docid] = owner + 1; /* 0: no document */
  size_t i = x->nos;
  if (i == 0 || x->os[i - 1].owner != owner) {
    for (i = 0; i < x->nos && x->os[i].owner != owner; i++)
      ;
    if (i == x->nos) {
      ostat *v = realloc(x->os, (x->nos + 1) * sizeof *v);
      if (!v) {
        x->rc = CS_ENOMEM;
        return 1;
      }
      x->os = v;
      memset(&x->os[x->nos], 0, sizeof *x->os);
      x->os[x->nos++].owner = owner;
    }
  } else {
    i--;
  }
  x->os[i].docs[d.kind]++;
  x->os[i].tokens[d.kind] += d.len;
  return 0;
}

static int u64_cmp(const void *a, const void *b) {
  uint64_t p = *(const uint64_t *)a, q = *(const uint64_t *)b;
  return p < q ? -1 : p > q;
}

static void finish_term(vo *x) {
  if (!x->len) return;
  if (x->nto > 1) qsort(x->term_owners, x->nto, sizeof *x->term_owners, u64_cmp);
  for (size_t i = 0; i < x->nto;) {
    size_t j = i;
    while (j < x->nto && x->term_owners[j] == x->term_owners[i])
      j++;
    uint64_t owner = x->term_owners[i] - 1;
    cs_lex lex = {0, 0};
    int rc = cs_reader_owner_lex(x->r, owner, x->term, x->len, &lex);
    if ((rc && rc != CS_ENOTFOUND) || lex.df != j - i)
      say(x, "term '%.*s' of owner %" PRIu64 ": per-owner df %" PRIu64 ", postings hold %zu",
          (int)x->len, x->term, owner, lex.df, j - i);
    x->pairs++;
    i = j;
  }
  x->nto = 0;
}

static int chunk_each(void *ctx, cs_slice k, cs_slice val) {
  vo *x = ctx;
  const uint8_t *kp = k.data;
  if (k.len < 6 || k.len - 5 > CS_TERM_MAX + 1) return 0;
  size_t tl = k.len - 5;
  if (tl != x->len || memcmp(kp, x->term, tl) != 0) {
    finish_term(x);
    memcpy(x->term, kp, tl);
    x->len = tl;
  }
  cs_chunk c;
  if (cs_chunk_decode(val.data, val.len, cs_be32_get(kp + tl + 1), &c)) return 0;
  x->rc = grow((void **)&x->term_owners, &x->cap_to, x->nto + c.n, sizeof *x->term_owners);
  if (x->rc) return 1;
  for (uint32_t i = 0; i < c.n; i++) {
    if (c.docid[i] < x->nowner_of && x->owner_of[c.docid[i]])
      x->term_owners[x->nto++] = x->owner_of[c.docid[i]];
  }
  return 0;
}

int cs_verify_owner_stats(cs_reader *r, cs_verify_report_fn report, void *ctx) {
  vo x;
  memset(&x, 0, sizeof x);
  x.r = r;
  x.report = report;
  x.ctx = ctx;
  int rc = cs_reader_scan(r, CS_T_DOCS, NULL, 0, doc_each, &x);
  if (!rc || rc == 1) rc = x.rc;
  for (size_t i = 0; !rc && i < x.nos; i++) {
    cs_stats st;
    rc = cs_reader_owner_stats(r, x.os[i].owner, &st);
    for (int k = 1; !rc && k < CS_DOC_KINDS; k++) {
      if (st.docs[k] != x.os[i].docs[k] || st.tokens[k] != x.os[i].tokens[k])
        say(&x,
            "owner %" PRIu64 ": statistics say %" PRIu64 " documents of kind %d (%" PRIu64
            " tokens), %" PRIu64 " (%" PRIu64 ") present",
            x.os[i].owner, st.docs[k], k, st.tokens[k], x.os[i].docs[k], x.os[i].tokens[k]);
    }
  }
  uint64_t n = 0;
  if (!rc) rc = cs_reader_count(r, CS_T_OSTATS, &n);
  if (!rc && n != x.nos)
    say(&x, "per-owner statistics: %" PRIu64 " owners recorded, %zu have documents", n, x.nos);
  if (!rc) {
    rc = cs_reader_scan(r, CS_T_POST, NULL, 0, chunk_each, &x);
    if (!rc || rc == 1) rc = x.rc;
  }
  if (!rc) finish_term(&x);
  if (!rc) rc = cs_reader_count(r, CS_T_OLEX, &n);
  if (!rc && n != x.pairs)
    say(&x, "per-owner lexicon: %" PRIu64 " entries, the postings give %" PRIu64, n, x.pairs);
  free(x.owner_of);
  free(x.os);
  free(x.term_owners);
  return rc;
}
