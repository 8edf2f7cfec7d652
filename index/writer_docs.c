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

static int words_delta(cs_writer *w, const cs_token *t, uint32_t docid, int64_t delta) {
  cs__pentry *e = cs__pmap_get(&w->words, t->word, t->word_len);
  if (!e) return CS_ENOMEM;
  if (e->last_doc == docid) return 0;
  e->last_doc = docid;
  if (!e->stem) {
    e->stem = strdup(t->term);
    if (!e->stem) return CS_ENOMEM;
    w->words.bytes += t->term_len + 1;
  }
  e->df += delta;
  return 0;
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
/* Adds one document's tokens to the pending postings; returns its length in
 * indexed tokens through *len. Passages leave the word table alone: their
 * words are the turns' words again. */
int cs__wr_add_doc(cs_writer *w, uint32_t docid, int kind, const cs_token *toks, size_t n,
                   uint32_t *len) {
  uint32_t dl = 0;
  for (size_t i = 0; i < n; i++)
    dl += !(toks[i].flags & CS_TOK_STOP);
  char kbuf[CS_TERM_MAX + 2];
  for (size_t i = 0; i < n; i++) {
    const cs_token *t = &toks[i];
    if (t->flags & CS_TOK_STOP) continue;
    size_t klen;
    const char *key = field_term(kind, t, kbuf, &klen);
    cs__pentry *e = cs__pmap_get(&w->terms, key, klen);
    if (!e) return CS_ENOMEM;
    cs_plist *l = &e->pl;
    if (l->n && l->docid[l->n - 1] == docid) {
      /* Another occurrence in the same doc: extend its positions. */
      if (l->tf[l->n - 1] >= CS_TF_MAX) continue;
      if (l->npos == l->pos_cap) {
        size_t cap = l->pos_cap * 2;
        uint32_t *p = realloc(l->pos, cap * sizeof *p);
        if (!p) return CS_ENOMEM;
        w->terms.bytes += (cap - l->pos_cap) * sizeof *p;
        l->pos = p;
        l->pos_cap = cap;
      }
      l->pos[l->npos++] = t->pos;
      l->tf[l->n - 1]++;
    } else {
      size_t before = (size_t)l->cap * 12 + l->pos_cap * 4;
      int rc = cs_plist_add(l, docid, dl, &t->pos, 1);
      if (rc) return rc;
      w->terms.bytes += (size_t)l->cap * 12 + l->pos_cap * 4 - before;
    }
    if (kind != CS_DOC_PASSAGE) {
      int rc = words_delta(w, t, docid, 1);
      if (rc) return rc;
    }
  }
  if (docid < w->pending_min) w->pending_min = docid;
  *len = dl;
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
      rc = cs__wr_remove_posting(w, cur, key, klen, docid);
    }
    if (!rc && kind != CS_DOC_PASSAGE) rc = words_delta(w, &toks[i], docid, -1);
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
  }
  return 0;
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
  w->stats.docs[kind]++;
  w->stats.tokens[kind] += dl;
  return 0;
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
