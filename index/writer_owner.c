/*
 * Per-owner statistics in the writer (records.h, "Per-owner statistics"):
 * every document counts, besides the collection's statistics, in the
 * statistics of its owner (w->owner, set by whoever adds or removes
 * documents): its kind and length in CS_T_OSTATS, its distinct terms in
 * CS_T_OLEX, its distinct surface words in CS_T_OWORDS. Added documents
 * count in their pending entries (odf) while one owner's documents come,
 * then per (owner, entry) in w->orun, written in key order at flush;
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

/* A per-owner delta of one pending entry: keyed by the owner and the
 * entry's address (entries live until the flush), so adding a run costs an
 * integer hash, not the key's bytes. */
typedef struct cs__orec {
  uint64_t owner;
  cs__pentry *e; /* NULL: free slot */
  int64_t df;
} cs__orec;

static size_t orec_slot(uint64_t owner, const cs__pentry *e, size_t cap) {
  uint64_t h = owner * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)e * 0xC2B2AE3D27D4EB4Full;
  return (size_t)(h ^ h >> 29) & (cap - 1);
}

static int orun_grow(struct cs__orun *m) {
  size_t cap = m->cap ? m->cap * 2 : 4096;
  cs__orec *v = calloc(cap, sizeof *v);
  if (!v) return CS_ENOMEM;
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slots[i].e) continue;
    size_t j = orec_slot(m->slots[i].owner, m->slots[i].e, cap);
    while (v[j].e)
      j = (j + 1) & (cap - 1);
    v[j] = m->slots[i];
  }
  free(m->slots);
  m->slots = v;
  m->cap = cap;
  return 0;
}

static cs__orec *orun_get(struct cs__orun *m, uint64_t owner, cs__pentry *e) {
  if ((m->n + 1) * 2 > m->cap && orun_grow(m)) return NULL;
  size_t j = orec_slot(owner, e, m->cap);
  for (; m->slots[j].e; j = (j + 1) & (m->cap - 1)) {
    if (m->slots[j].e == e && m->slots[j].owner == owner) return &m->slots[j];
  }
  m->slots[j] = (cs__orec){owner, e, 0};
  m->n++;
  return &m->slots[j];
}

size_t cs__wr_own_bytes(const cs_writer *w) {
  return (w->orun[0].cap + w->orun[1].cap) * sizeof(cs__orec);
}

static int u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The place of each record's owner among the distinct owners in ascending
 * order (place[i] for r[i]); *nown gets their number. */
static int owner_places(const cs__orec *r, size_t n, uint32_t *place, size_t *nown) {
  size_t cap = 64, k;
  uint64_t *set = NULL, *own = NULL;
  uint8_t *used = NULL;
  for (;;) { /* an open-addressed set of the owners, grown until it holds them */
    free(set);
    free(used);
    set = malloc(cap * sizeof *set);
    used = calloc(cap, 1);
    if (!set || !used) goto nomem;
    k = 0;
    size_t i = 0;
    for (; i < n && k * 2 < cap; i++) {
      size_t j = (size_t)((r[i].owner * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
      while (used[j] && set[j] != r[i].owner)
        j = (j + 1) & (cap - 1);
      if (!used[j]) {
        used[j] = 1;
        set[j] = r[i].owner;
        k++;
      }
      place[i] = (uint32_t)j;
    }
    if (i == n) break;
    cap *= 2;
  }
  if (!(own = malloc((k ? k : 1) * sizeof *own))) goto nomem;
  k = 0;
  for (size_t j = 0; j < cap; j++)
    if (used[j]) own[k++] = set[j];
  qsort(own, k, sizeof *own, u64_cmp);
  for (size_t j = 0; j < cap; j++)
    if (used[j])
      set[j] = (uint64_t)((uint64_t *)bsearch(&set[j], own, k, sizeof *own, u64_cmp) - own);
  for (size_t i = 0; i < n; i++)
    place[i] = (uint32_t)set[place[i]];
  *nown = k;
  free(set);
  free(used);
  free(own);
  return 0;
nomem:
  free(set);
  free(used);
  return CS_ENOMEM;
}

/* Sorts the n records of r by owner, then by their entry's rank (unique
 * per owner): a counting sort by rank, then a stable one by the owner's
 * place (a comparison sort reading each rank through its entry's pointer
 * was a third of the flush's per-owner work). */
static int orec_sort(cs__orec *r, size_t n) {
  uint32_t maxrank = 0;
  for (size_t i = 0; i < n; i++)
    if (r[i].e->rank > maxrank) maxrank = r[i].e->rank;
  size_t nown = 0;
  uint32_t *place = malloc(n * sizeof *place), *tplace = malloc(n * sizeof *tplace);
  cs__orec *tmp = malloc(n * sizeof *tmp);
  size_t nb = (size_t)maxrank + 1;
  size_t *cnt = malloc((nb + 1) * sizeof *cnt);
  int rc = place && tplace && tmp && cnt ? owner_places(r, n, place, &nown) : CS_ENOMEM;
  if (!rc && nown > nb) {
    size_t *c2 = realloc(cnt, (nown + 1) * sizeof *cnt);
    if (c2)
      cnt = c2;
    else
      rc = CS_ENOMEM;
  }
  if (!rc) {
    memset(cnt, 0, (nb + 1) * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
      cnt[r[i].e->rank + 1]++;
    for (size_t b = 1; b <= nb; b++)
      cnt[b] += cnt[b - 1];
    for (size_t i = 0; i < n; i++) {
      size_t at = cnt[r[i].e->rank]++;
      tmp[at] = r[i];
      tplace[at] = place[i];
    }
    memset(cnt, 0, (nown + 1) * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
      cnt[tplace[i] + 1]++;
    for (size_t b = 1; b <= nown; b++)
      cnt[b] += cnt[b - 1];
    for (size_t i = 0; i < n; i++)
      r[cnt[tplace[i]]++] = tmp[i];
  }
  free(place);
  free(tplace);
  free(tmp);
  free(cnt);
  return rc;
}

/* The deltas of one run map, in key order (owner, then the entry's rank in
 * its map's key order: the order of be64 owner + key). */
static int orun_write(cs_writer *w, struct cs__orun *m, int word) {
  size_t n = 0;
  for (size_t i = 0; i < m->cap; i++) {
    if (m->slots[i].e && m->slots[i].df) m->slots[n++] = m->slots[i];
  }
  int rc = n > 1 ? orec_sort(m->slots, n) : 0;
  if (rc) {
    free(m->slots);
    memset(m, 0, sizeof *m);
    return rc;
  }
  char key[8 + CS_TERM_MAX + 2];
  cs__omerge om;
  cs__om_begin(&om, word ? CS_T_OWORDS : CS_T_OLEX);
  for (size_t i = 0; !rc && i < n; i++) {
    const cs__orec *r = &m->slots[i];
    if ((size_t)r->e->len + 8 > sizeof key) continue;
    cs_be64_put((uint8_t *)key, r->owner);
    memcpy(key + 8, r->e->key, r->e->len);
    rc = cs__om_add(w, &om, key, r->e->len + 8u, r->df, word ? r->e->stem : NULL);
  }
  free(m->slots);
  memset(m, 0, sizeof *m);
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
    for (size_t i = 0; i < w->ntouched[word]; i++) {
      cs__pentry *e = w->touched[word][i];
      cs__orec *o = orun_get(&w->orun[word], w->owner, e);
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
  if (!any) return 0;
  uint8_t key[8];
  cs_key_u64(key, w->ost_owner);
  cs_stats st;
  memset(&st, 0, sizeof st);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_OSTATS, sl(key, 8), &v);
  if (rc == 0) rc = cs_corrupt_rc(cs_stats_decode(v.data, v.len, &st), CS_T_OSTATS, sl(key, 8));
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
