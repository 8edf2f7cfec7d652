/*
 * Per-owner statistics in the writer (records.h, "Per-owner statistics"):
 * every document counts, besides the collection's statistics, in the
 * statistics of its owner (w->owner, set by whoever adds or removes
 * documents): its kind and length in CS_T_OSTATS, its distinct terms in
 * CS_T_OLEX, its distinct surface words in CS_T_OWORDS. Added documents
 * count in their pending entries (odf) while one owner's documents come,
 * then per entry in its owner's run (w->orun), written in key order at flush;
 * removals and moves, rarer, go through the byte-keyed maps w->oterms and
 * w->owords (be64 owner + term or word). The document counts of the owner
 * at hand wait in w->ost_*. A person who moves to another owner takes the
 * counts of their conversations along (cs__wr_own_move).
 */
#include "writer_int.h"

#include "corrupt.h"

#include "errors.h"
#include "grow.h"
#include "varint.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

cs__pentry *cs__wr_own(cs__pmap *m, uint64_t owner, const char *key, size_t len) {
  char k[8 + CS_TERM_MAX + 2];
  if (len > sizeof k - 8) return NULL;
  cs_be64_put((uint8_t *)k, owner);
  memcpy(k + 8, key, len);
  return cs__pmap_get(m, k, len + 8);
}

/* ------------------------------------------------------------ owner runs */

/* The df delta of one pending entry (entries live until the flush) in one
 * owner's run: a conversation's entries are looked up in its owner's run
 * alone, which stays small enough to be cached, not in one map of every
 * (owner, entry) pair of the batch. */
typedef struct cs__oslot {
  cs__pentry *e; /* NULL: free slot */
  int64_t df;
} cs__oslot;

struct cs__orun {
  uint64_t owner;
  cs__oslot *slots;
  size_t cap, n;
};

static size_t oslot_at(const cs__pentry *e, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)e * 0xC2B2AE3D27D4EB4Full;
  return (size_t)(h ^ h >> 29) & (cap - 1);
}

static int orun_grow(struct cs__oruns *rs, struct cs__orun *m) {
  size_t cap = m->cap ? m->cap * 2 : 256;
  cs__oslot *v = calloc(cap, sizeof *v);
  if (!v) return CS_ENOMEM;
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slots[i].e) continue;
    size_t j = oslot_at(m->slots[i].e, cap);
    while (v[j].e)
      j = (j + 1) & (cap - 1);
    v[j] = m->slots[i];
  }
  free(m->slots);
  rs->bytes += (cap - m->cap) * sizeof *v;
  m->slots = v;
  m->cap = cap;
  return 0;
}

static cs__oslot *orun_get(struct cs__oruns *rs, struct cs__orun *m, cs__pentry *e) {
  if ((m->n + 1) * 2 > m->cap && orun_grow(rs, m)) return NULL;
  size_t j = oslot_at(e, m->cap);
  for (; m->slots[j].e; j = (j + 1) & (m->cap - 1)) {
    if (m->slots[j].e == e) return &m->slots[j];
  }
  m->slots[j] = (cs__oslot){e, 0};
  m->n++;
  return &m->slots[j];
}

/* The run of `owner` (added when it has none); NULL when out of memory. */
static struct cs__orun *orun_of(struct cs__oruns *rs, uint64_t owner) {
  for (size_t i = rs->n; i-- > 0;)
    if (rs->v[i].owner == owner) return &rs->v[i];
  if (cs_grow((void **)&rs->v, &rs->cap, rs->n + 1, sizeof *rs->v)) return NULL;
  rs->v[rs->n] = (struct cs__orun){owner, NULL, 0, 0};
  return &rs->v[rs->n++];
}

static void oruns_free(struct cs__oruns *rs) {
  for (size_t i = 0; i < rs->n; i++)
    free(rs->v[i].slots);
  free(rs->v);
  memset(rs, 0, sizeof *rs);
}

void cs__wr_own_reset(cs_writer *w) {
  oruns_free(&w->orun[0]);
  oruns_free(&w->orun[1]);
}

size_t cs__wr_own_bytes(const cs_writer *w) {
  return w->orun[0].bytes + w->orun[1].bytes +
         (w->orun[0].cap + w->orun[1].cap) * sizeof(struct cs__orun);
}

static int orun_cmp(const void *a, const void *b) {
  uint64_t x = ((const struct cs__orun *)a)->owner, y = ((const struct cs__orun *)b)->owner;
  return x < y ? -1 : x > y;
}

/* A delta with its entry's rank (its place in its map's key order). */
typedef struct ranked {
  uint32_t rank;
  cs__pentry *e;
  int64_t df;
} ranked;

/* Sorts r[0..n) by rank: a radix sort, 11 bits a pass, as many passes as
 * the largest rank needs (a comparison sort reading each rank through its
 * entry's pointer was a third of the flush's per-owner work). */
static void rank_sort(ranked *r, ranked *tmp, size_t n, uint32_t maxrank) {
  size_t cnt[2048];
  for (int shift = 0; shift == 0 || (shift < 32 && maxrank >> shift); shift += 11) {
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++)
      cnt[(r[i].rank >> shift) & 2047]++;
    size_t at = 0;
    for (size_t d = 0; d < 2048; d++) {
      size_t c = cnt[d];
      cnt[d] = at;
      at += c;
    }
    for (size_t i = 0; i < n; i++)
      tmp[cnt[(r[i].rank >> shift) & 2047]++] = r[i];
    memcpy(r, tmp, n * sizeof *r);
  }
}

/* The deltas of the runs, in key order (owner, then the entry's rank in its
 * map's key order: the order of be64 owner + key); empties the runs. */
static int orun_write(cs_writer *w, struct cs__oruns *rs, int word) {
  if (rs->n > 1) qsort(rs->v, rs->n, sizeof *rs->v, orun_cmp);
  size_t most = 0;
  for (size_t i = 0; i < rs->n; i++)
    if (rs->v[i].n > most) most = rs->v[i].n;
  ranked *r = malloc((most ? most : 1) * sizeof *r), *tmp = malloc((most ? most : 1) * sizeof *r);
  int rc = r && tmp ? 0 : CS_ENOMEM;
  char key[8 + CS_TERM_MAX + 2];
  cs__omerge om;
  cs__om_begin(&om, word ? CS_T_OWORDS : CS_T_OLEX);
  for (size_t k = 0; !rc && k < rs->n; k++) {
    const struct cs__orun *m = &rs->v[k];
    size_t n = 0;
    uint32_t maxrank = 0;
    for (size_t i = 0; i < m->cap; i++) {
      const cs__oslot *o = &m->slots[i];
      if (!o->e || !o->df) continue;
      r[n++] = (ranked){o->e->rank, o->e, o->df};
      if (o->e->rank > maxrank) maxrank = o->e->rank;
    }
    rank_sort(r, tmp, n, maxrank);
    cs_be64_put((uint8_t *)key, m->owner);
    for (size_t i = 0; !rc && i < n; i++) {
      const cs__pentry *e = r[i].e;
      if ((size_t)e->len + 8 > sizeof key) continue;
      memcpy(key + 8, e->key, e->len);
      rc = cs__om_add(w, &om, key, e->len + 8u, r[i].df, word ? e->stem : NULL);
    }
  }
  free(r);
  free(tmp);
  oruns_free(rs);
  return cs__om_end(w, &om, rc);
}

int cs__wr_own_write(cs_writer *w) {
  int rc = orun_write(w, &w->orun[0], 0);
  int rc2 = orun_write(w, &w->orun[1], 1);
  return rc ? rc : rc2;
}

int cs__wr_own_add(cs_writer *w, cs__pentry *e, int word) {
  if (e->odf++ == 0) {
    if (cs_grow_from((void **)&w->touched[word], &w->touched_cap[word], w->ntouched[word] + 1,
                     sizeof *w->touched[word], 1024))
      return CS_ENOMEM;
    w->touched[word][w->ntouched[word]++] = e;
  }
  return 0;
}

int cs__wr_own_drain(cs_writer *w) {
  for (int word = 0; word < 2; word++) {
    if (!w->ntouched[word]) continue;
    struct cs__oruns *rs = &w->orun[word];
    struct cs__orun *m = orun_of(rs, w->owner);
    if (!m) return CS_ENOMEM;
    for (size_t i = 0; i < w->ntouched[word]; i++) {
      cs__pentry *e = w->touched[word][i];
      cs__oslot *o = orun_get(rs, m, e);
      if (!o) return CS_ENOMEM;
      o->df += e->odf;
      e->odf = 0;
    }
    w->ntouched[word] = 0;
  }
  return 0;
}

int cs__wr_set_owner(cs_writer *w, uint64_t owner) {
  if (owner == w->owner) return 0;
  int rc = cs__wr_own_drain(w);
  if (!rc) w->owner = owner;
  return rc;
}

/* Writes `owner`'s statistics st (deleted when no document is left). */
static int put_ostats(cs_writer *w, const uint8_t key[8], const cs_stats *st) {
  int left = 0;
  for (int k = 0; k < CS_DOC_KINDS; k++)
    left |= st->docs[k] != 0;
  if (!left) {
    int rc = cs_del(w->txn, CS_T_OSTATS, sl(key, 8));
    return rc == CS_ENOTFOUND ? 0 : rc;
  }
  cs_buf_reset(&w->buf2);
  cs_stats_encode(&w->buf2, st);
  return cs__wr_put_buf(w, CS_T_OSTATS, key, 8, &w->buf2);
}

int cs__wr_own_flush(cs_writer *w) {
  if (!w->ost_set) return 0;
  int any = 0;
  for (int k = 0; k < CS_DOC_KINDS; k++)
    any |= w->ost_docs[k] != 0 || w->ost_tokens[k] != 0;
  w->ost_set = 0;
  /* Counts that net to nothing (a conversation rewritten with as many
   * documents and tokens: a word corrected) still move the owner's next
   * docid, the horizon of its searches (search.c): else its rewritten
   * conversation, at new docids, would stay beyond it. */
  if (!any && !w->ost_next) return 0;
  uint8_t key[8];
  cs_key_u64(key, w->ost_owner);
  cs_stats st;
  memset(&st, 0, sizeof st);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_OSTATS, sl(key, 8), &v);
  if (rc == 0) rc = cs_corrupt_rc(cs_ostats_decode(v.data, v.len, &st), CS_T_OSTATS, sl(key, 8));
  if (rc == CS_ECORRUPT) {
    /* Damaged: counted again from the documents at the end of the flush,
     * when they (and the people's owners, in a move) are final. */
    for (size_t i = 0; i < w->nostats_heal; i++)
      if (w->ostats_heal[i] == w->ost_owner) return 0;
    if (cs_grow((void **)&w->ostats_heal, &w->ostats_heal_cap, w->nostats_heal + 1,
                sizeof *w->ostats_heal))
      return CS_ENOMEM;
    w->ostats_heal[w->nostats_heal++] = w->ost_owner;
    return 0;
  }
  if (rc && rc != CS_ENOTFOUND) return rc;
  for (int k = 0; k < CS_DOC_KINDS; k++) {
    int64_t d = (int64_t)st.docs[k] + w->ost_docs[k], t = (int64_t)st.tokens[k] + w->ost_tokens[k];
    st.docs[k] = d > 0 ? (uint64_t)d : 0;
    st.tokens[k] = d > 0 && t > 0 ? (uint64_t)t : 0;
  }
  if (!any && w->ost_next <= st.next_docid) return 0;
  if (w->ost_next > st.next_docid) st.next_docid = w->ost_next;
  return put_ostats(w, key, &st);
}

int cs__wr_own_heal(cs_writer *w) {
  int rc = 0;
  for (size_t i = 0; !rc && i < w->nostats_heal; i++) {
    uint8_t key[8];
    cs_key_u64(key, w->ostats_heal[i]);
    cs_stats st;
    rc = cs__wr_heal_ostats(w, w->ostats_heal[i], &st);
    if (!rc) rc = put_ostats(w, key, &st);
  }
  w->nostats_heal = 0;
  return rc;
}

int cs__wr_own_doc(cs_writer *w, int kind, int sign, uint32_t dl, uint32_t docid) {
  if (kind <= 0 || kind >= CS_DOC_KINDS) return 0;
  if (!w->ost_set || w->ost_owner != w->owner) {
    int rc = cs__wr_own_flush(w);
    if (rc) return rc;
    memset(w->ost_docs, 0, sizeof w->ost_docs);
    memset(w->ost_tokens, 0, sizeof w->ost_tokens);
    w->ost_next = 0;
    w->ost_owner = w->owner;
    w->ost_set = 1;
  }
  w->ost_docs[kind] += sign;
  if (sign > 0 && docid + 1 > w->ost_next) w->ost_next = docid + 1;
  w->ost_tokens[kind] += sign * (int64_t)dl;
  return 0;
}

int cs__wr_stats_owner(cs_writer *w, uint64_t patient, uint64_t conv_owner, uint64_t *owner) {
  uint8_t key[8];
  cs_key_u64(key, patient);
  cs_slice v;
  cs_patient p;
  int rc = cs_get(w->txn, CS_T_PATIENT, sl(key, 8), &v);
  if (rc == CS_ENOTFOUND) {
    *owner = conv_owner;
    return 0;
  }
  if (!rc) rc = cs_corrupt_rc(cs_patient_decode(v.data, v.len, &p), CS_T_PATIENT, sl(key, 8));
  if (!rc) *owner = p.owner_id;
  return rc;
}

typedef struct move_ctx {
  uint64_t from, to;
  cs__pmap seen;
} move_ctx;

/* One document's counts from one owner to the other: its distinct terms
 * (and, but for passages, words), its kind and length. */
static int move_doc(cs_writer *w, void *ctx, uint32_t docid, int kind, const char *lang,
                    const char *text, size_t len) {
  move_ctx *m = ctx;
  const cs_token *toks;
  size_t n;
  int rc = cs_analyze(w->an, lang, text, len, &toks, &n);
  if (rc) return rc;
  uint32_t dl = 0;
  char kbuf[CS_TERM_MAX + 2];
  for (size_t i = 0; i < n; i++) {
    const cs_token *t = &toks[i];
    if (t->flags & CS_TOK_STOP) continue;
    dl++;
    const char *key = t->term;
    size_t klen = t->term_len;
    if (kind == CS_DOC_PASSAGE) {
      kbuf[0] = CS_PASSAGE_PREFIX;
      memcpy(kbuf + 1, t->term, t->term_len);
      key = kbuf;
      klen = (size_t)t->term_len + 1;
    }
    /* Terms and words share `seen` under distinct first bytes. */
    char sk[CS_TERM_MAX + 3];
    for (int pass = 0; pass < (kind == CS_DOC_PASSAGE ? 1 : 2); pass++) {
      const char *k = pass ? t->word : key;
      size_t kl = pass ? t->word_len : klen;
      sk[0] = (char)('t' + pass);
      memcpy(sk + 1, k, kl);
      cs__pentry *e = cs__pmap_get(&m->seen, sk, kl + 1);
      if (!e) return CS_ENOMEM;
      if (e->last_doc == docid) continue;
      e->last_doc = docid;
      cs__pmap *om = pass ? &w->owords : &w->oterms;
      cs__pentry *a = cs__wr_own(om, m->from, k, kl);
      cs__pentry *b = cs__wr_own(om, m->to, k, kl);
      if (!a || !b) return CS_ENOMEM;
      a->df--;
      b->df++;
      if (pass) {
        const char *stem = cs__pmap_strdup(&w->owords, t->term, t->term_len);
        if (!stem) return CS_ENOMEM;
        a->stem = b->stem = stem;
      }
    }
  }
  rc = cs__wr_set_owner(w, m->from);
  if (!rc) rc = cs__wr_own_doc(w, kind, -1, dl, docid);
  if (!rc) rc = cs__wr_set_owner(w, m->to);
  if (!rc) rc = cs__wr_own_doc(w, kind, 1, dl, docid);
  return rc;
}

int cs__wr_own_move(cs_writer *w, const cs_conv *c, uint64_t from, uint64_t to) {
  if (from == to) return 0;
  move_ctx m;
  memset(&m, 0, sizeof m);
  m.from = from;
  m.to = to;
  int rc = cs__wr_conv_docs(w, c, move_doc, &m);
  cs__pmap_clear(&m.seen);
  return rc;
}
