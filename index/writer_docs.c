/*
 * Documents in the writer: a text analyzed into pending postings (and the
 * word table), its doc entry and statistics; and a document removed by
 * analyzing its stored text again, so postings and statistics stay exact.
 */
#include "writer_int.h"

#include "errors.h"
#include "utf8.h"
#include "varint.h"

#include <stdlib.h>
#include <string.h>

/* The word table's pending entry of token t: its df moves by delta once per
 * document. */
static cs__pentry *word_doc(cs_writer *w, cs__pentry *e, const cs_token *t, uint32_t docid,
                            int64_t delta) {
  if (!e || e->last_doc == docid) return e;
  e->last_doc = docid;
  if (!e->stem) {
    e->stem = cs__pmap_strdup(&w->words, t->term, t->term_len);
    if (!e->stem) return NULL;
  }
  e->df += delta;
  if (delta > 0) return cs__wr_own_add(w, e, 1) ? NULL : e;
  cs__pentry *o = cs__wr_own(&w->owords, w->owner, t->word, t->word_len);
  if (!o) return NULL;
  o->df += delta;
  o->stem = e->stem; /* lives in the words map's arena, cleared with it */
  return e;
}

static cs__pentry *word_entry(cs_writer *w, const cs_token *t, uint32_t docid, int64_t delta) {
  return word_doc(w, cs__pmap_get(&w->words, t->word, t->word_len), t, docid, delta);
}

/* The key a token is posted under for a doc of `kind`: its term, or for
 * passages the term behind CS_PASSAGE_PREFIX (built in buf). */
static const char *field_term(int kind, const cs_token *t, char *buf, size_t *len) {
  if (kind != CS_DOC_PASSAGE) {
    *len = t->term_len;
    return t->term;
  }
  buf[0] = CS_PASSAGE_PREFIX;
  memcpy(buf + 1, t->term, t->term_len);
  *len = (size_t)t->term_len + 1;
  return buf;
}

/* The pending entry of t's term: the one its word was last posted under
 * when that is still the term (the same surface word may stem otherwise in
 * another language, or with other accents), so a token costs one probe of
 * the word map rather than one per map. */
static cs__pentry *term_entry(cs_writer *w, const cs_token *t, cs__pentry *we) {
  cs__pentry *te = we->term;
  if (te && te->len == t->term_len && memcmp(te->key, t->term, t->term_len) == 0) return te;
  te = cs__pmap_get(&w->terms, t->term, t->term_len);
  we->term = te;
  return te;
}

/* Appends position pos of document docid (length dl) to e's postings;
 * `again`: e already has an occurrence in docid (its last document), known
 * from e->last_doc so that the list's last docid, most often out of the
 * cache for a term of the Zipfian tail, is not read. */
static int post(cs_writer *w, cs__pentry *e, uint32_t docid, uint32_t dl, uint32_t pos, int again) {
  cs_plist *l = &e->pl;
  if (!e->one && l->n == 0) {
    e->one = 1;
    e->one_doc = docid;
    e->one_len = dl;
    e->one_pos = pos;
    return 0;
  }
  if (e->one) { /* a second occurrence: the list takes over */
    e->one = 0;
    int rc = cs_plist_add(l, e->one_doc, e->one_len, &e->one_pos, 1);
    if (rc) return rc;
    w->terms.bytes += (size_t)l->cap * 12 + l->pos_cap * 4;
  }
  if (again) {
    /* Another occurrence in the same doc: extend its positions. */
    if (l->tf[l->n - 1] >= CS_TF_MAX) return 0;
    if (l->npos == l->pos_cap) {
      size_t cap = l->pos_cap * 2;
      uint32_t *p = realloc(l->pos, cap * sizeof *p);
      if (!p) return CS_ENOMEM;
      w->terms.bytes += (cap - l->pos_cap) * sizeof *p;
      l->pos = p;
      l->pos_cap = cap;
    }
    l->pos[l->npos++] = pos;
    l->tf[l->n - 1]++;
    return 0;
  }
  size_t before = (size_t)l->cap * 12 + l->pos_cap * 4;
  int rc = cs_plist_add1(l, docid, dl, pos);
  if (rc) return rc;
  w->terms.bytes += (size_t)l->cap * 12 + l->pos_cap * 4 - before;
  return 0;
}

/* Starts loading what tokens a few places ahead will touch: their memo
 * slots, then (once those are in) their word and term entries, so that the
 * cache misses of a Zipfian vocabulary overlap. */
static void prefetch_memo(cs_writer *w, const cs_token *toks, size_t i, size_t n) {
  if (!w->memo) return;
  if (i + 8 < n) __builtin_prefetch(&w->memo[toks[i + 8].memo & (CS__WMEMO_SLOTS - 1)]);
  if (i + 4 < n && toks[i + 4].memo) {
    const struct cs__wmemo *q = &w->memo[toks[i + 4].memo & (CS__WMEMO_SLOTS - 1)];
    if (q->memo == toks[i + 4].memo) {
      __builtin_prefetch(q->word);
      __builtin_prefetch(q->term);
    }
  }
}

int cs__wr_add_doc(cs_writer *w, uint32_t docid, int kind, const cs_token *toks, size_t n,
                   uint32_t *len) {
  if (n > w->ents_cap) {
    size_t cap = n + n / 2 + 64;
    cs__pentry **v = realloc(w->ents, cap * sizeof *v);
    if (!v) return CS_ENOMEM;
    w->ents = v;
    w->ents_cap = cap;
  }
  if (!w->memo) w->memo = calloc(CS__WMEMO_SLOTS, sizeof *w->memo); /* NULL: no memo */
  uint32_t dl = 0;
  for (size_t i = 0; i < n; i++)
    dl += !(toks[i].flags & CS_TOK_STOP);
  for (size_t i = 0; i < n; i++) {
    const cs_token *t = &toks[i];
    prefetch_memo(w, toks, i, n);
    w->ents[i] = NULL;
    if (t->flags & CS_TOK_STOP) continue;
    struct cs__wmemo *m = t->memo && w->memo ? &w->memo[t->memo & (CS__WMEMO_SLOTS - 1)] : NULL;
    cs__pentry *we, *te;
    if (m && m->memo == t->memo) {
      we = word_doc(w, m->word, t, docid, 1);
      te = we ? m->term : NULL;
    } else {
      we = word_entry(w, t, docid, 1);
      te = we ? term_entry(w, t, we) : NULL;
      if (m && te) *m = (struct cs__wmemo){t->memo, we, te};
    }
    if (!te) return CS_ENOMEM;
    w->ents[i] = te;
    int again = te->last_doc == docid;
    if (!again) {
      te->last_doc = docid;
      if (cs__wr_own_add(w, te, 0)) return CS_ENOMEM;
    }
    int rc = post(w, te, docid, dl, t->pos, again);
    if (rc) return rc;
  }
  if (docid < w->pending_min) w->pending_min = docid;
  *len = dl;
  return 0;
}

cs__pentry *cs__wr_field_entry(cs_writer *w, cs__pentry *te) {
  if (!te->field) {
    char key[CS_TERM_MAX + 2];
    key[0] = CS_PASSAGE_PREFIX;
    memcpy(key + 1, te->key, te->len);
    te->field = cs__pmap_get(&w->terms, key, (size_t)te->len + 1);
  }
  return te->field;
}

int cs__wr_add_passage(cs_writer *w, uint32_t docid, cs__pentry *const *ents, const uint32_t *pos,
                       size_t n, uint32_t *len) {
  for (size_t i = 0; i < n; i++) {
    cs__pentry *e = ents[i];
    int again = e->last_doc == docid;
    if (!again) {
      e->last_doc = docid;
      if (cs__wr_own_add(w, e, 0)) return CS_ENOMEM;
    }
    int rc = post(w, e, docid, (uint32_t)n, pos[i], again);
    if (rc) return rc;
  }
  if (docid < w->pending_min) w->pending_min = docid;
  *len = (uint32_t)n;
  return 0;
}

int cs__wr_unpost(cs_writer *w, cs_cursor *cur, const char *term, size_t len, uint32_t docid) {
  int rc = cs__wr_remove_posting(w, cur, term, len, docid);
  /* A damaged chunk (reported) is left as it is: unreadable, named by
   * verify until a reindex; the document goes on leaving the others. */
  if (rc == CS_ECORRUPT) return 0;
  if (rc != 1) return rc;
  /* The owner's df moves only with the collection's (a posting that was
   * not there leaves both as they are). */
  cs__pentry *o = cs__wr_own(&w->oterms, w->owner, term, len);
  if (!o) return CS_ENOMEM;
  o->df--;
  return 0;
}

/* Removes a document whose text (as indexed) is `text`, analyzed in `lang`. */
int cs__wr_remove_doc(cs_writer *w, uint32_t docid, const char *lang, const char *text,
                      size_t text_len, int kind) {
  if (docid >= w->pending_min) {
    int rc = cs__wr_flush(w);
    if (rc) return rc;
  }
  const cs_token *toks;
  size_t n;
  int rc = cs_analyze(w->an, lang, text, text_len, &toks, &n);
  if (rc) return rc;
  /* Each distinct term once; the analyzer's buffers stay valid while we
   * only touch LMDB and the maps. */
  cs_cursor *cur;
  rc = cs_cursor_open(w->txn, CS_T_POST, &cur);
  if (rc) return rc;
  cs__pmap seen;
  memset(&seen, 0, sizeof seen);
  uint32_t dl = 0;
  char kbuf[CS_TERM_MAX + 2];
  for (size_t i = 0; !rc && i < n; i++) {
    if (toks[i].flags & CS_TOK_STOP) continue;
    dl++;
    size_t klen;
    const char *key = field_term(kind, &toks[i], kbuf, &klen);
    cs__pentry *e = cs__pmap_get(&seen, key, klen);
    if (!e) {
      rc = CS_ENOMEM;
      break;
    }
    if (e->last_doc != docid) {
      e->last_doc = docid;
      rc = cs__wr_unpost(w, cur, key, klen, docid);
    }
    if (!rc && kind != CS_DOC_PASSAGE && !word_entry(w, &toks[i], docid, -1)) rc = CS_ENOMEM;
  }
  cs__pmap_clear(&seen);
  cs_cursor_close(cur);
  if (rc) return rc;
  uint8_t key[4];
  cs_be32_put(key, docid);
  rc = cs_del(w->txn, CS_T_DOCS, sl(key, 4));
  if (rc && rc != CS_ENOTFOUND) return rc;
  if (kind > 0 && kind < CS_DOC_KINDS) {
    if (w->stats.docs[kind]) w->stats.docs[kind]--;
    w->stats.tokens[kind] = w->stats.tokens[kind] >= dl ? w->stats.tokens[kind] - dl : 0;
    rc = cs__wr_own_doc(w, kind, -1, dl, docid);
  }
  return rc;
}
/* Cleans a source string: repaired UTF-8, cut to `max` bytes. The result
 * lives in `b` (NUL-terminated). */
const char *cs__wr_clean(cs_buf *b, const char *s, size_t len, size_t max, unsigned *flags) {
  cs_buf_reset(b);
  if (!s) s = "";
  if (!cs_utf8_valid(s, len)) {
    size_t n;
    char *r = cs_utf8_repair(s, len, &n);
    if (!r) {
      b->err = CS_ENOMEM;
      return "";
    }
    if (n > max) {
      n = cs_utf8_cut(r, n, max);
      *flags |= CS_PUT_CUT;
    }
    cs_buf_bytes(b, r, n);
    free(r);
    *flags |= CS_PUT_REPAIRED;
  } else {
    if (len > max) {
      len = cs_utf8_cut(s, len, max);
      *flags |= CS_PUT_CUT;
    }
    cs_buf_bytes(b, s, len);
  }
  cs_buf_u8(b, 0);
  if (b->err) return "";
  b->len--;
  return (const char *)b->p;
}
void cs__wr_cb_record(cs_writer *w, uint32_t docid, int kind, uint64_t conv) {
  struct cs__wcb *b = &w->cb;
  if (b->bad) return;
  if (!b->n) b->base = docid;
  /* Docids grow within a batch; anything else leaves its chunks unbounded. */
  if (docid < b->base || docid - b->base >= (1u << 26)) {
    b->bad = 1;
    return;
  }
  uint32_t i = docid - b->base;
  if (i >= b->cap) {
    uint32_t cap = b->cap ? b->cap : 1024;
    while (cap <= i)
      cap *= 2;
    uint8_t *k = realloc(b->kind, cap);
    if (k) b->kind = k;
    uint32_t *c = k ? realloc(b->conv, (size_t)cap * sizeof *c) : NULL;
    if (!c) {
      b->bad = 1;
      return;
    }
    b->conv = c;
    b->cap = cap;
  }
  if (i >= b->n) {
    memset(b->kind + b->n, 0, i + 1 - b->n);
    b->n = i + 1;
  }
  b->kind[i] = (uint8_t)kind;
  b->conv[i] = b->last = (uint32_t)(conv ^ (conv >> 32));
}

/* Records what docid is, and counts it in the statistics. */
int cs__wr_put_doc_entry(cs_writer *w, uint32_t docid, int kind, uint64_t conv, uint64_t patient,
                         int32_t seq, uint32_t dl) {
  cs_doc d = {(uint8_t)kind, conv, patient, seq, dl};
  uint8_t key[4];
  cs_be32_put(key, docid);
  cs_buf_reset(&w->buf2);
  cs_doc_encode(&w->buf2, &d);
  int rc = cs__wr_put_buf(w, CS_T_DOCS, key, 4, &w->buf2);
  if (rc) return rc;
  cs__wr_cb_record(w, docid, kind, conv);
  w->stats.docs[kind]++;
  w->stats.tokens[kind] += dl;
  return cs__wr_own_doc(w, kind, 1, dl, docid);
}
/* Indexes a text as one doc of `kind`, returns its length via *len. */
int cs__wr_index_text(cs_writer *w, uint32_t docid, const char *lang, const char *text, size_t len,
                      int kind, uint64_t conv, uint64_t patient, int32_t seq,
                      const cs_token **toks_out, size_t *ntoks_out) {
  const cs_token *toks;
  size_t n;
  int rc = cs_analyze(w->an, lang, text, len, &toks, &n);
  if (rc) return rc;
  uint32_t dl = 0;
  rc = cs__wr_add_doc(w, docid, kind, toks, n, &dl);
  if (!rc) rc = cs__wr_put_doc_entry(w, docid, kind, conv, patient, seq, dl);
  if (rc) return rc;
  if (toks_out) {
    *toks_out = toks;
    *ntoks_out = n;
  }
  return 0;
}
