/*
 * The writer's flush: pending postings merged into the terms' last chunks in
 * LMDB (terms in sorted order, so the B-tree is walked forward), lexicon and
 * word-table counts updated; and the removal of one document from a term's
 * chunks.
 */
#include "writer_int.h"
#include "corrupt.h"

#include "errors.h"
#include "varint.h"

#include <stdlib.h>
#include <string.h>

void cs__wr_reset_pending(cs_writer *w) {
  cs__pmap_clear(&w->terms);
  cs__pmap_clear(&w->words);
  if (w->memo) memset(w->memo, 0, CS__WMEMO_SLOTS * sizeof *w->memo);
  cs__pmap_clear(&w->oterms);
  cs__pmap_clear(&w->owords);
  w->ost_set = 0;
  w->ntouched[0] = w->ntouched[1] = 0;
  cs__wr_own_reset(w);
  w->pending_min = CS_DOCID_END;
  w->noheal = w->nostats_heal = 0; /* what a flush counted again */
  if (w->cb.n) {
    w->cb.prev = w->cb.last;
    w->cb.prev_set = 1;
  }
  w->cb.n = 0;
  w->cb.bad = 0;
}

/* Adds to a lexicon entry of CS_T_LEX. */
int cs__wr_lex_add(cs_writer *w, const char *term, size_t len, int64_t ddf, int64_t dcf) {
  cs_slice v;
  cs_lex x = {0, 0};
  int rc = cs__wr_get_at(w, w->lexc, CS_T_LEX, sl(term, len), &v);
  if (rc == 0) rc = cs_corrupt_rc(cs_lex_decode(v.data, v.len, &x), CS_T_LEX, sl(term, len));
  /* A key new to the table, or one no reader could read before (damaged),
   * is listed for the query server's expansions (writer_ochanges.c). */
  int listed = rc == CS_ENOTFOUND;
  /* Damaged (reported): counted again from the postings, which already
   * hold this change. */
  if (rc == CS_ECORRUPT) {
    rc = cs__wr_heal_lex(w, term, len, &x);
    ddf = dcf = 0;
    listed = 1;
  }
  if (rc && rc != CS_ENOTFOUND) return rc;
  int64_t df = (int64_t)x.df + ddf, cf = (int64_t)x.cf + dcf;
  if (df <= 0) {
    rc = cs_del(w->txn, CS_T_LEX, sl(term, len));
    if (rc == 0) cs__wr_gchange(w, CS_T_LEX, term, len, 1);
    return rc == CS_ENOTFOUND ? 0 : rc;
  }
  if (listed) cs__wr_gchange(w, CS_T_LEX, term, len, 0);
  x.df = (uint64_t)df;
  x.cf = cf > 0 ? (uint64_t)cf : 0;
  cs_buf_reset(&w->buf2);
  cs_lex_encode(&w->buf2, &x);
  if (w->buf2.err) return w->buf2.err;
  return cs__wr_put_at(w, w->lexc, CS_T_LEX, sl(term, len), sl(w->buf2.p, w->buf2.len));
}
/* The conversation key of document i of l (cs__wr_cb_record) in *key, or
 * 0 when unknown. */
static int conv_key(const cs_writer *w, const cs_plist *l, uint32_t i, uint32_t *key) {
  const struct cs__wcb *b = &w->cb;
  uint32_t d = l->docid[i];
  if (b->bad || d < b->base || d - b->base >= b->n || !b->kind[d - b->base]) return 0;
  *key = b->conv[d - b->base];
  return 1;
}

/* The conversation bound of documents [s, e) of l, whole conversations of
 * this batch, in out: 0, or -1 when one has none (a kind without bounds,
 * a document the batch does not know, a conversation that went on across a
 * flush (prev) or may still go on (a put under way), or no memory). */
static int range_cbound(cs_writer *w, const cs_plist *l, uint32_t s, uint32_t e, cs_cbound *out) {
  struct cs__wcb *b = &w->cb;
  uint32_t n = e - s;
  if (n > b->scap) {
    uint8_t *k = realloc(b->skind, n);
    if (k) b->skind = k;
    uint32_t *c = k ? realloc(b->sconv, (size_t)n * sizeof *c) : NULL;
    if (!c) return -1;
    b->sconv = c;
    b->scap = n;
  }
  uint8_t *kind = b->skind;
  uint32_t *conv = b->sconv;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t d = l->docid[s + i];
    if (d < b->base || d - b->base >= b->n || !b->kind[d - b->base]) return -1;
    kind[i] = b->kind[d - b->base];
    conv[i] = b->conv[d - b->base];
    if ((b->prev_set && conv[i] == b->prev) || (b->open && conv[i] == b->open_key)) return -1;
  }
  return cs_cbound_build(kind, conv, l->tf + s, l->len + s, n, b->avg, out);
}

/* The documents [s, e) of l of one conversation of the batch, and their
 * bound (ok 0: none). */
typedef struct conv_run {
  uint32_t s, e;
  int ok;
  cs_cbound v;
} conv_run;

/* The run of the conversation of document i (>= n_old) of l, in *r, which
 * is left as it is when it already holds i: a conversation across chunks
 * is read and bounded once, not once per chunk. */
static void run_of(cs_writer *w, const cs_plist *l, uint32_t i, uint32_t n_old, conv_run *r) {
  if (r->s <= i && i < r->e) return;
  uint32_t key, k, s = i, e = i + 1;
  r->ok = 0;
  r->s = s;
  r->e = e;
  if (!conv_key(w, l, i, &key)) return;
  while (s > n_old && conv_key(w, l, s - 1, &k) && k == key)
    s--;
  while (e < l->n && conv_key(w, l, e, &k) && k == key)
    e++;
  r->s = s;
  r->e = e;
  r->ok = range_cbound(w, l, s, e, &r->v) == 0;
}

/* into also bounds what x bounds (both at the flush's averages). */
static void cbound_max(cs_cbound *into, const cs_cbound *x) {
  for (int k = 1; k < CS_CB_KINDS; k++)
    if (x->avg[k]) into->avg[k] = x->avg[k];
  if (x->c > into->c) into->c = x->c;
}

/* The conversation bound of chunk [from, from + count) of l, whose first
 * n_old documents come from a chunk already written (bounded by old, or
 * NULL) and the rest from this batch (what cs__wr_cb_record knows of
 * them): in out, or NULL when it cannot be had. Each conversation with
 * documents in the chunk is bounded by all its documents of the term
 * (cbound.h, format 12), those in the chunks before and after this one
 * included: a put writes a conversation's documents in one batch, so its
 * documents of l are all it has (no flush comes between a put's first
 * document and its end; were one to, the put's conversation would get no
 * bound: range_cbound). *memo holds a run of a chunk before, usually
 * its last conversation's (write_chunks; any whole run will do). */
static const cs_cbound *chunk_cbound(cs_writer *w, const cs_plist *l, uint32_t from, uint32_t count,
                                     uint32_t n_old, const cs_cbound *old, conv_run *memo,
                                     cs_cbound *out) {
  if (from + count <= n_old) return old; /* a part of the old chunk */
  if (from < n_old && !old) return NULL;
  if (w->cb.bad) return NULL;
  uint32_t s = from > n_old ? from : n_old, e = from + count;
  /* The first conversation, the last (kept for the next chunk), and those
   * between them, each to its ends in this batch. */
  run_of(w, l, s, n_old, memo);
  conv_run first = *memo;
  if (!first.ok) return NULL;
  *out = first.v;
  if (first.e < e) {
    run_of(w, l, e - 1, n_old, memo);
    if (!memo->ok) return NULL;
    cbound_max(out, &memo->v);
    cs_cbound mid;
    if (memo->s > first.e) {
      if (range_cbound(w, l, first.e, memo->s, &mid)) return NULL;
      cbound_max(out, &mid);
    }
  }
  if (from < n_old) cs_cbound_merge(out, old, w->cb.avg);
  return out;
}

/* How many of l's documents from `from` on the next chunk takes: up to
 * CS_CHUNK_DOCS, ending where a conversation does when one ends in its
 * second half, so that a conversation seldom spans two chunks (a search
 * passing chunks by their bounds stops at one that does, bounds.c). The
 * old documents (the first n_old) end before this batch's conversations,
 * unless one went on across the flush. */
static uint32_t chunk_docs(const cs_writer *w, const cs_plist *l, uint32_t from, uint32_t n_old) {
  if (l->n - from <= CS_CHUNK_DOCS) return l->n - from;
  for (uint32_t k = CS_CHUNK_DOCS; k >= CS_CHUNK_DOCS / 2; k--) {
    uint32_t i = from + k, a, b;
    if (i < n_old) break; /* old documents up to there: not known */
    if (!conv_key(w, l, i, &b)) continue;
    if (i == n_old) {
      if (!(w->cb.prev_set && b == w->cb.prev)) return k;
    } else if (conv_key(w, l, i - 1, &a) && a != b) {
      return k;
    }
  }
  return CS_CHUNK_DOCS;
}

/* Writes l (sorted docs) as chunks of at most CS_CHUNK_DOCS under `term`,
 * through cursor cur on CS_T_POST; its first n_old documents were a chunk
 * bounded by old (or NULL). */
static int write_chunks(cs_writer *w, cs_cursor *cur, const char *term, size_t len,
                        const cs_plist *l, uint32_t n_old, const cs_cbound *old) {
  uint8_t key[CS_TERM_MAX + 8];
  conv_run memo = {0, 0, 0, {{0, 0, 0, 0}, 0}};
  for (uint32_t from = 0, count; from < l->n; from += count) {
    count = chunk_docs(w, l, from, n_old);
    uint8_t *chunk;
    size_t clen;
    cs_cbound cb;
    int rc = cs_chunk_encode(
        l, from, count, chunk_cbound(w, l, from, count, n_old, old, &memo, &cb), &chunk, &clen);
    if (rc) return rc;
    size_t klen = cs_key_post(key, term, len, l->docid[from]);
    rc = cs_cursor_put(cur, sl(key, klen), sl(chunk, clen));
    free(chunk);
    if (rc) return rc;
  }
  return 0;
}
/* Positions the cursor on the last chunk of `term`; CS_ENOTFOUND if none. */
static int last_chunk(cs_cursor *c, const char *term, size_t len, cs_slice *k, cs_slice *v) {
  uint8_t key[CS_TERM_MAX + 8];
  size_t klen = cs_key_post(key, term, len, UINT32_MAX);
  int rc = cs_cursor_seek(c, sl(key, klen), k, v);
  if (rc == 0 && k->len == klen && memcmp(k->data, key, klen) == 0) return 0;
  rc = rc == CS_ENOTFOUND ? cs_cursor_last(c, k, v) : cs_cursor_prev(c, k, v);
  if (rc) return rc;
  if (k->len != len + 5 || memcmp(k->data, term, len) != 0 || ((const uint8_t *)k->data)[len])
    return CS_ENOTFOUND;
  return 0;
}
static int flush_term(cs_writer *w, cs_cursor *cur, cs__pentry *e) {
  cs_plist *l = &w->tmp;
  cs_plist_clear(l);
  cs_slice k, v;
  cs_chunk c;
  const cs_cbound *old = NULL;
  int rc = last_chunk(cur, e->key, e->len, &k, &v);
  if (rc == 0) {
    uint32_t first = cs_be32_get((const uint8_t *)k.data + e->len + 1);
    rc = cs_corrupt_rc(cs_chunk_decode(v.data, v.len, first, &c), CS_T_POST, k);
    /* Damaged (reported): left as it is; the new postings, all of later
     * documents, start a chunk after it. */
    if (rc == CS_ECORRUPT) {
      rc = 0;
    } else if (rc) {
      return rc;
    } else if (c.n < CS_CHUNK_DOCS) {
      rc = cs_plist_add_chunk(l, &c);
      if (rc) return rc;
      if (c.has_cb) old = &c.cb;
    }
  } else if (rc != CS_ENOTFOUND) {
    return rc;
  }
  uint32_t n_old = l->n;
  size_t pos = 0;
  if (e->one) {
    rc = cs_plist_add(l, e->one_doc, e->one_len, &e->one_pos, 1);
    if (rc) return rc;
  }
  for (uint32_t i = 0; i < e->pl.n; i++) {
    rc = cs_plist_add(l, e->pl.docid[i], e->pl.len[i], e->pl.pos + pos, e->pl.tf[i]);
    if (rc) return rc;
    pos += e->pl.tf[i];
  }
  rc = write_chunks(w, cur, e->key, e->len, l, n_old, old);
  if (rc) return rc;
  return cs__wr_lex_add(w, e->key, e->len, e->pl.n + e->one, (int64_t)e->pl.npos + e->one);
}
/* A word entry of CS_T_WORDS: df moved by ddf, stem replaced. */
int cs__wr_word_add(cs_writer *w, const char *key, size_t len, int64_t ddf, const char *stem) {
  const cs_table tbl = CS_T_WORDS;
  if (ddf == 0) return 0;
  cs_slice v;
  cs_word x = {0, {stem, strlen(stem)}};
  int rc = cs__wr_get_at(w, w->wordc, tbl, sl(key, len), &v);
  int listed = rc == CS_ENOTFOUND; /* as cs__wr_lex_add's */
  if (rc == 0) {
    cs_word old;
    rc = cs_corrupt_rc(cs_word_decode(v.data, v.len, &old), tbl, sl(key, len));
    /* Damaged (reported): counts from this change on (the words of the
     * texts cannot be known without analyzing them all: a reindex does). */
    x.df = rc ? 0 : old.df;
    listed = rc != 0;
    rc = 0;
  } else if (rc != CS_ENOTFOUND) {
    return rc;
  }
  int64_t df = (int64_t)x.df + ddf;
  if (df <= 0) {
    rc = cs_del(w->txn, tbl, sl(key, len));
    if (rc == 0) cs__wr_gchange(w, tbl, key, len, 1);
    return rc == CS_ENOTFOUND ? 0 : rc;
  }
  if (listed) cs__wr_gchange(w, tbl, key, len, 0);
  x.df = (uint64_t)df;
  cs_buf_reset(&w->buf2);
  cs_word_encode(&w->buf2, &x);
  if (w->buf2.err) return w->buf2.err;
  return cs__wr_put_at(w, w->wordc, tbl, sl(key, len), sl(w->buf2.p, w->buf2.len));
}

static int flush_word(cs_writer *w, cs__pentry *e) {
  return cs__wr_word_add(w, e->key, e->len, e->df, e->stem);
}

/* Per-owner df deltas into CS_T_OLEX / CS_T_OWORDS, in key order. */
static int flush_own(cs_writer *w, cs__pmap *m, cs_table tbl) {
  cs__pentry **v;
  int rc = cs__pmap_sorted(m, &v);
  if (rc) return rc;
  cs__omerge om;
  cs__om_begin(&om, tbl);
  for (size_t i = 0; !rc && i < m->n; i++)
    rc = cs__om_add(w, &om, v[i]->key, v[i]->len, v[i]->df, tbl == CS_T_OWORDS ? v[i]->stem : NULL);
  free(v);
  return cs__om_end(w, &om, rc);
}
int cs__wr_flush(cs_writer *w) {
  cs__pentry **v;
  int rc = cs__wr_own_drain(w);
  if (!rc) rc = cs__pmap_sorted(&w->terms, &v);
  if (rc) return rc;
  /* Terms and words in key order, each table through one cursor. */
  /* The averages the chunks' conversation bounds are computed with. */
  for (int k = 1; k < CS_CB_KINDS; k++) {
    uint64_t d = w->stats.docs[k], t = w->stats.tokens[k] * (uint64_t)CS_CB_AVG_UNIT;
    uint64_t a = d ? (t + d - 1) / d : 1;
    w->cb.avg[k] = a < 1 ? 1 : a > UINT32_MAX ? UINT32_MAX : (uint32_t)a;
  }
  cs_cursor *cur = NULL;
  rc = cs_cursor_open(w->txn, CS_T_POST, &cur);
  if (!rc) rc = cs_cursor_open(w->txn, CS_T_LEX, &w->lexc);
  for (size_t i = 0; !rc && i < w->terms.n; i++) {
    v[i]->rank = (uint32_t)i;
    if (v[i]->pl.n || v[i]->one) rc = flush_term(w, cur, v[i]);
  }
  cs_cursor_close(cur);
  cs_cursor_close(w->lexc);
  w->lexc = NULL;
  free(v);
  if (rc) return rc;
  rc = cs__pmap_sorted(&w->words, &v);
  if (rc) return rc;
  rc = cs_cursor_open(w->txn, CS_T_WORDS, &w->wordc);
  for (size_t i = 0; !rc && i < w->words.n; i++) {
    v[i]->rank = (uint32_t)i;
    rc = flush_word(w, v[i]);
  }
  cs_cursor_close(w->wordc);
  w->wordc = NULL;
  free(v);
  if (!rc) rc = cs__wr_own_write(w);
  if (!rc) rc = flush_own(w, &w->oterms, CS_T_OLEX);
  if (!rc) rc = flush_own(w, &w->owords, CS_T_OWORDS);
  if (!rc) rc = cs__wr_own_flush(w);
  if (!rc) rc = cs__wr_own_heal(w);
  if (rc) return rc;
  cs__wr_reset_pending(w);
  return 0;
}
/* Removes docid from term's postings in LMDB. */
int cs__wr_remove_posting(cs_writer *w, cs_cursor *cur, const char *term, size_t len,
                          uint32_t docid) {
  uint8_t key[CS_TERM_MAX + 8];
  size_t klen = cs_key_post(key, term, len, docid);
  cs_slice k, v;
  int rc = cs_cursor_seek(cur, sl(key, klen), &k, &v);
  int exact = rc == 0 && k.len == klen && memcmp(k.data, key, klen) == 0;
  if (!exact) {
    rc = rc == CS_ENOTFOUND ? cs_cursor_last(cur, &k, &v) : cs_cursor_prev(cur, &k, &v);
    if (rc == CS_ENOTFOUND) return 0;
    if (rc) return rc;
    if (k.len != klen || memcmp(k.data, key, len + 1) != 0) return 0;
  }
  uint32_t first = cs_be32_get((const uint8_t *)k.data + len + 1);
  cs_chunk c;
  rc = cs_corrupt_rc(cs_chunk_decode(v.data, v.len, first, &c), CS_T_POST, k);
  if (rc) return rc;
  if (docid > c.last) return 0;
  cs_plist *l = &w->tmp;
  cs_plist_clear(l);
  rc = cs_plist_add_chunk(l, &c);
  if (rc) return rc;
  uint32_t tf = 0;
  for (uint32_t i = 0; i < l->n; i++) {
    if (l->docid[i] == docid) tf = l->tf[i];
  }
  if (!cs_plist_remove(l, docid)) return 0;
  uint8_t oldkey[CS_TERM_MAX + 8];
  memcpy(oldkey, k.data, klen);
  if (l->n == 0 || l->docid[0] != first) {
    rc = cs_del(w->txn, CS_T_POST, sl(oldkey, klen));
    if (rc) return rc;
  }
  if (l->n) {
    rc = write_chunks(w, cur, term, len, l, l->n, c.has_cb ? &c.cb : NULL);
    if (rc) return rc;
  }
  rc = cs__wr_lex_add(w, term, len, -1, -(int64_t)tf);
  return rc ? rc : 1;
}
