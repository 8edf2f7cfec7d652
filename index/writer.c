/*
 * The index writer (see writer.h for the contract).
 *
 * In-memory state during a batch:
 *   - terms: term -> cs_plist of documents added in this batch (docids are
 *     allocated increasing, so each list is sorted and lies entirely after
 *     what LMDB holds for the term);
 *   - words: folded surface word -> (stem, df delta), for suggestions and
 *     prefix expansion.
 * Both are merged into LMDB by flush(), at commit or before a delete that
 * touches a document still pending.
 */
#include "writer.h"

#include "analyzer.h"
#include "errors.h"
#include "passages.h"
#include "postings.h"
#include "textpack.h"
#include "utf8.h"
#include "varint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- hash map */

typedef struct term_entry {
  char *key;
  uint16_t len;
  uint32_t hash;
  cs_plist pl; /* terms */
  int64_t df;  /* words: df delta */
  char *stem;  /* words: stem */
  uint32_t last_doc;
} term_entry;

typedef struct hmap {
  term_entry **slots;
  size_t cap, n;
  size_t bytes; /* approximate memory held */
} hmap;

static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

static void hmap_clear(hmap *m) {
  for (size_t i = 0; i < m->cap; i++) {
    term_entry *e = m->slots[i];
    if (!e) continue;
    cs_plist_free(&e->pl);
    free(e->stem);
    free(e->key);
    free(e);
  }
  free(m->slots);
  memset(m, 0, sizeof *m);
}

static int hmap_grow(hmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 1024;
  term_entry **slots = calloc(cap, sizeof *slots);
  if (!slots) return CS_ENOMEM;
  for (size_t i = 0; i < m->cap; i++) {
    term_entry *e = m->slots[i];
    if (!e) continue;
    size_t j = e->hash & (cap - 1);
    while (slots[j])
      j = (j + 1) & (cap - 1);
    slots[j] = e;
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  return 0;
}

/* Finds or inserts `key`. Returns NULL when out of memory. */
static term_entry *hmap_get(hmap *m, const char *key, size_t len) {
  if ((m->n + 1) * 2 > m->cap && hmap_grow(m)) return NULL;
  uint32_t h = hash_bytes(key, len);
  size_t j = h & (m->cap - 1);
  for (term_entry *e; (e = m->slots[j]); j = (j + 1) & (m->cap - 1)) {
    if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) return e;
  }
  term_entry *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->key = malloc(len + 1);
  if (!e->key) {
    free(e);
    return NULL;
  }
  memcpy(e->key, key, len);
  e->key[len] = 0;
  e->len = (uint16_t)len;
  e->hash = h;
  e->last_doc = CS_DOCID_END;
  cs_plist_init(&e->pl);
  m->slots[j] = e;
  m->n++;
  m->bytes += sizeof *e + len + 16;
  return e;
}

static int entry_cmp(const void *a, const void *b) {
  const term_entry *x = *(term_entry *const *)a, *y = *(term_entry *const *)b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->key, y->key, n);
  return c ? c : (int)x->len - (int)y->len;
}

/* ---------------------------------------------------------------- writer */

struct cs_writer {
  cs_store *store;
  cs_txn *txn;
  cs_analyzer *an;
  cs_textpack *zt; /* compresses stored turn text */
  hmap terms, words;
  cs_stats stats;
  uint32_t pending_min; /* smallest docid in `terms`, CS_DOCID_END when none */
  cs_buf buf, buf2;
  cs_plist tmp;
  uint32_t *posbuf;
  size_t posbuf_cap;
  int mirror;          /* META "mirror" present: append outbox operations */
  uint64_t outbox_seq; /* last outbox sequence used (META "outbox_seq") */
  int outbox_dirty;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cs_slice sl(const void *p, size_t n) {
  cs_slice s = {p, n};
  return s;
}

static int put_buf(cs_writer *w, cs_table t, const void *key, size_t klen, cs_buf *b) {
  if (b->err) return b->err;
  return cs_put(w->txn, t, sl(key, klen), sl(b->p, b->len));
}

static int check_format(cs_writer *w) {
  char want[64];
  int n = snprintf(want, sizeof want, "%s %d", CS_FORMAT_MAGIC, CS_FORMAT_VERSION);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_META, sl("format", 6), &v);
  if (rc == CS_ENOTFOUND) return cs_put(w->txn, CS_T_META, sl("format", 6), sl(want, (size_t)n));
  if (rc) return rc;
  if (v.len != (size_t)n || memcmp(v.data, want, v.len) != 0) return CS_EVERSION;
  return 0;
}

int cs_writer_open(cs_store *s, cs_writer **out) {
  *out = NULL;
  cs_writer *w = calloc(1, sizeof *w);
  if (!w) return CS_ENOMEM;
  w->store = s;
  w->pending_min = CS_DOCID_END;
  w->an = cs_analyzer_create();
  w->zt = cs_textpack_create();
  if (!w->an || !w->zt) {
    cs_analyzer_destroy(w->an);
    cs_textpack_destroy(w->zt);
    free(w);
    return CS_ENOMEM;
  }
  cs_buf_init(&w->buf);
  cs_buf_init(&w->buf2);
  cs_plist_init(&w->tmp);
  int rc = cs_txn_begin(s, 1, &w->txn);
  if (!rc) rc = check_format(w);
  if (!rc) {
    rc = cs_txn_commit(w->txn);
  } else {
    cs_txn_abort(w->txn);
  }
  w->txn = NULL;
  if (rc) {
    cs_writer_close(w);
    return rc;
  }
  *out = w;
  return 0;
}

static void reset_pending(cs_writer *w) {
  hmap_clear(&w->terms);
  hmap_clear(&w->words);
  w->pending_min = CS_DOCID_END;
}

void cs_writer_close(cs_writer *w) {
  if (!w) return;
  cs_writer_abort(w);
  cs_analyzer_destroy(w->an);
  cs_textpack_destroy(w->zt);
  cs_buf_free(&w->buf);
  cs_buf_free(&w->buf2);
  cs_plist_free(&w->tmp);
  free(w->posbuf);
  free(w);
}

int cs_writer_begin(cs_writer *w) {
  if (w->txn) return CS_EINVAL;
  int rc = cs_txn_begin(w->store, 1, &w->txn);
  if (rc) return rc;
  cs_slice v;
  memset(&w->stats, 0, sizeof w->stats);
  w->stats.next_docid = 1;
  rc = cs_get(w->txn, CS_T_META, sl("stats", 5), &v);
  if (rc == 0) rc = cs_stats_decode(v.data, v.len, &w->stats);
  if (rc == CS_ENOTFOUND) rc = 0;
  w->mirror = cs_get(w->txn, CS_T_META, sl("mirror", 6), &v) == 0;
  w->outbox_seq = 0;
  w->outbox_dirty = 0;
  if (!rc && cs_get(w->txn, CS_T_META, sl("outbox_seq", 10), &v) == 0) {
    if (v.len != 8)
      rc = CS_ECORRUPT;
    else
      w->outbox_seq = cs_be64_get(v.data);
  }
  if (rc) cs_writer_abort(w);
  return rc;
}

int cs_writer_set_mirror(cs_writer *w, int on) {
  w->mirror = on;
  if (on) {
    /* Version 1 belongs to bulk loads (reindex): the outbox's versions
     * start above it, so its first change always supersedes them. */
    if (w->outbox_seq < 1) {
      w->outbox_seq = 1;
      w->outbox_dirty = 1;
    }
    return cs_put(w->txn, CS_T_META, sl("mirror", 6), sl("on", 2));
  }
  int rc = cs_del(w->txn, CS_T_META, sl("mirror", 6));
  return rc == CS_ENOTFOUND ? 0 : rc;
}

int cs_writer_mirror_on(cs_writer *w) {
  return w->mirror;
}

/* Appends a mirror operation when mirroring is on. */
static int outbox(cs_writer *w, int action, int kind, uint64_t id) {
  if (!w->mirror) return 0;
  cs_outop o = {(uint8_t)action, (uint8_t)kind, id, now_ms()};
  cs_buf_reset(&w->buf2);
  cs_outop_encode(&w->buf2, &o);
  uint8_t key[8];
  cs_key_u64(key, ++w->outbox_seq);
  w->outbox_dirty = 1;
  return put_buf(w, CS_T_OUTBOX, key, 8, &w->buf2);
}

void cs_writer_abort(cs_writer *w) {
  cs_txn_abort(w->txn);
  w->txn = NULL;
  reset_pending(w);
}

size_t cs_writer_pending_bytes(const cs_writer *w) {
  return w->terms.bytes + w->words.bytes;
}

/* ---------------------------------------------------------------- flush */

static int lex_add(cs_writer *w, const char *term, size_t len, int64_t ddf, int64_t dcf) {
  cs_slice v;
  cs_lex x = {0, 0};
  int rc = cs_get(w->txn, CS_T_LEX, sl(term, len), &v);
  if (rc == 0) rc = cs_lex_decode(v.data, v.len, &x);
  if (rc && rc != CS_ENOTFOUND) return rc;
  int64_t df = (int64_t)x.df + ddf, cf = (int64_t)x.cf + dcf;
  if (df <= 0) {
    rc = cs_del(w->txn, CS_T_LEX, sl(term, len));
    return rc == CS_ENOTFOUND ? 0 : rc;
  }
  x.df = (uint64_t)df;
  x.cf = cf > 0 ? (uint64_t)cf : 0;
  cs_buf_reset(&w->buf2);
  cs_lex_encode(&w->buf2, &x);
  return put_buf(w, CS_T_LEX, term, len, &w->buf2);
}

/* Writes l (sorted docs) as chunks of CS_CHUNK_DOCS under `term`. */
static int write_chunks(cs_writer *w, const char *term, size_t len, const cs_plist *l) {
  uint8_t key[CS_TERM_MAX + 8];
  for (uint32_t from = 0; from < l->n; from += CS_CHUNK_DOCS) {
    uint32_t count = l->n - from < CS_CHUNK_DOCS ? l->n - from : CS_CHUNK_DOCS;
    uint8_t *chunk;
    size_t clen;
    int rc = cs_chunk_encode(l, from, count, &chunk, &clen);
    if (rc) return rc;
    size_t klen = cs_key_post(key, term, len, l->docid[from]);
    rc = cs_put(w->txn, CS_T_POST, sl(key, klen), sl(chunk, clen));
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

static int flush_term(cs_writer *w, cs_cursor *cur, term_entry *e) {
  cs_plist *l = &w->tmp;
  cs_plist_clear(l);
  cs_slice k, v;
  int rc = last_chunk(cur, e->key, e->len, &k, &v);
  if (rc == 0) {
    cs_chunk c;
    uint32_t first = cs_be32_get((const uint8_t *)k.data + e->len + 1);
    rc = cs_chunk_decode(v.data, v.len, first, &c);
    if (rc) return rc;
    if (c.n < CS_CHUNK_DOCS) {
      rc = cs_plist_add_chunk(l, &c);
      if (rc) return rc;
    }
  } else if (rc != CS_ENOTFOUND) {
    return rc;
  }
  size_t pos = 0;
  for (uint32_t i = 0; i < e->pl.n; i++) {
    rc = cs_plist_add(l, e->pl.docid[i], e->pl.len[i], e->pl.pos + pos, e->pl.tf[i]);
    if (rc) return rc;
    pos += e->pl.tf[i];
  }
  rc = write_chunks(w, e->key, e->len, l);
  if (rc) return rc;
  return lex_add(w, e->key, e->len, e->pl.n, (int64_t)e->pl.npos);
}

static int flush_word(cs_writer *w, term_entry *e) {
  if (e->df == 0) return 0;
  cs_slice v;
  cs_word x = {0, {e->stem, strlen(e->stem)}};
  int rc = cs_get(w->txn, CS_T_WORDS, sl(e->key, e->len), &v);
  if (rc == 0) {
    cs_word old;
    rc = cs_word_decode(v.data, v.len, &old);
    if (rc) return rc;
    x.df = old.df;
  } else if (rc != CS_ENOTFOUND) {
    return rc;
  }
  int64_t df = (int64_t)x.df + e->df;
  if (df <= 0) {
    rc = cs_del(w->txn, CS_T_WORDS, sl(e->key, e->len));
    return rc == CS_ENOTFOUND ? 0 : rc;
  }
  x.df = (uint64_t)df;
  cs_buf_reset(&w->buf2);
  cs_word_encode(&w->buf2, &x);
  return put_buf(w, CS_T_WORDS, e->key, e->len, &w->buf2);
}

static int sorted_entries(hmap *m, term_entry ***out) {
  term_entry **v = malloc((m->n ? m->n : 1) * sizeof *v);
  if (!v) return CS_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < m->cap; i++) {
    if (m->slots[i]) v[n++] = m->slots[i];
  }
  qsort(v, n, sizeof *v, entry_cmp);
  *out = v;
  return 0;
}

static int flush(cs_writer *w) {
  term_entry **v;
  int rc = sorted_entries(&w->terms, &v);
  if (rc) return rc;
  cs_cursor *cur = NULL;
  rc = cs_cursor_open(w->txn, CS_T_POST, &cur);
  for (size_t i = 0; !rc && i < w->terms.n; i++) {
    if (v[i]->pl.n) rc = flush_term(w, cur, v[i]);
  }
  cs_cursor_close(cur);
  free(v);
  if (rc) return rc;
  rc = sorted_entries(&w->words, &v);
  if (rc) return rc;
  for (size_t i = 0; !rc && i < w->words.n; i++)
    rc = flush_word(w, v[i]);
  free(v);
  if (rc) return rc;
  reset_pending(w);
  return 0;
}

static int put_stats(cs_writer *w) {
  cs_buf_reset(&w->buf);
  cs_stats_encode(&w->buf, &w->stats);
  return put_buf(w, CS_T_META, "stats", 5, &w->buf);
}

int cs_writer_commit(cs_writer *w) {
  if (!w->txn) return CS_EINVAL;
  int rc = flush(w);
  if (!rc) rc = put_stats(w);
  if (!rc && w->outbox_dirty) {
    uint8_t seq[8];
    cs_be64_put(seq, w->outbox_seq);
    rc = cs_put(w->txn, CS_T_META, sl("outbox_seq", 10), sl(seq, 8));
  }
  if (rc) {
    cs_writer_abort(w);
    return rc;
  }
  rc = cs_txn_commit(w->txn);
  w->txn = NULL;
  reset_pending(w);
  return rc;
}

/* ---------------------------------------------------------------- documents */

static int words_delta(cs_writer *w, const cs_token *t, uint32_t docid, int64_t delta) {
  term_entry *e = hmap_get(&w->words, t->word, t->word_len);
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
static int add_doc(cs_writer *w, uint32_t docid, int kind, const cs_token *toks, size_t n,
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
    term_entry *e = hmap_get(&w->terms, key, klen);
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

/* Removes docid from term's postings in LMDB. */
static int remove_posting(cs_writer *w, cs_cursor *cur, const char *term, size_t len,
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
  rc = cs_chunk_decode(v.data, v.len, first, &c);
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
    rc = write_chunks(w, term, len, l);
    if (rc) return rc;
  }
  return lex_add(w, term, len, -1, -(int64_t)tf);
}

/* Removes a document whose text (as indexed) is `text`, analyzed in `lang`. */
static int remove_doc(cs_writer *w, uint32_t docid, const char *lang, const char *text,
                      size_t text_len, int kind) {
  if (docid >= w->pending_min) {
    int rc = flush(w);
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
  hmap seen;
  memset(&seen, 0, sizeof seen);
  uint32_t dl = 0;
  char kbuf[CS_TERM_MAX + 2];
  for (size_t i = 0; !rc && i < n; i++) {
    if (toks[i].flags & CS_TOK_STOP) continue;
    dl++;
    size_t klen;
    const char *key = field_term(kind, &toks[i], kbuf, &klen);
    term_entry *e = hmap_get(&seen, key, klen);
    if (!e) {
      rc = CS_ENOMEM;
      break;
    }
    if (e->last_doc != docid) {
      e->last_doc = docid;
      rc = remove_posting(w, cur, key, klen, docid);
    }
    if (!rc && kind != CS_DOC_PASSAGE) rc = words_delta(w, &toks[i], docid, -1);
  }
  hmap_clear(&seen);
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
static const char *clean(cs_buf *b, const char *s, size_t len, size_t max, unsigned *flags) {
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
static int put_doc_entry(cs_writer *w, uint32_t docid, int kind, uint64_t conv, uint64_t patient,
                         int32_t seq, uint32_t dl) {
  cs_doc d = {(uint8_t)kind, conv, patient, seq, dl};
  uint8_t key[4];
  cs_be32_put(key, docid);
  cs_buf_reset(&w->buf2);
  cs_doc_encode(&w->buf2, &d);
  int rc = put_buf(w, CS_T_DOCS, key, 4, &w->buf2);
  if (rc) return rc;
  w->stats.docs[kind]++;
  w->stats.tokens[kind] += dl;
  return 0;
}

/* Indexes a text as one doc of `kind`, returns its length via *len. */
static int index_text(cs_writer *w, uint32_t docid, const char *lang, const char *text, size_t len,
                      int kind, uint64_t conv, uint64_t patient, int32_t seq,
                      const cs_token **toks_out, size_t *ntoks_out) {
  const cs_token *toks;
  size_t n;
  int rc = cs_analyze(w->an, lang, text, len, &toks, &n);
  if (rc) return rc;
  uint32_t dl = 0;
  rc = add_doc(w, docid, kind, toks, n, &dl);
  if (!rc) rc = put_doc_entry(w, docid, kind, conv, patient, seq, dl);
  if (rc) return rc;
  if (toks_out) {
    *toks_out = toks;
    *ntoks_out = n;
  }
  return 0;
}

static int erased(cs_writer *w, uint64_t patient) {
  uint8_t key[8];
  cs_key_u64(key, patient);
  cs_slice v;
  return cs_get(w->txn, CS_T_ERASED, sl(key, 8), &v) == 0;
}

int cs_writer_is_erased(cs_writer *w, uint64_t id) {
  return erased(w, id);
}

static size_t slen(const char *s) {
  return s ? strlen(s) : 0;
}

uint64_t cs_conv_in_checksum(const cs_conv_in *c) {
  uint64_t h = cs_checksum_init();
  h = cs_checksum_i64(h, (int64_t)c->id);
  h = cs_checksum_i64(h, (int64_t)c->patient_id);
  h = cs_checksum_i64(h, (int64_t)c->owner_id);
  const char *fields[] = {c->title, c->description, c->language, c->audio_uri, c->status};
  for (size_t i = 0; i < 5; i++)
    h = cs_checksum_str(h, fields[i] ? fields[i] : "", slen(fields[i]));
  h = cs_checksum_i64(h, c->duration_ms);
  h = cs_checksum_i64(h, c->created_at_ms);
  h = cs_checksum_i64(h, c->updated_at_ms);
  h = cs_checksum_i64(h, (int64_t)c->nturns);
  for (size_t i = 0; i < c->nturns; i++) {
    const cs_turn_in *t = &c->turns[i];
    h = cs_checksum_i64(h, t->seq);
    h = cs_checksum_str(h, t->speaker ? t->speaker : "", slen(t->speaker));
    h = cs_checksum_str(h, t->role ? t->role : "", slen(t->role));
    h = cs_checksum_i64(h, t->start_ms);
    h = cs_checksum_i64(h, t->end_ms);
    h = cs_checksum_str(h, t->text ? t->text : "", t->text ? t->text_len : 0);
  }
  return h;
}

uint64_t cs_patient_in_checksum(const cs_patient_in *p) {
  uint64_t h = cs_checksum_init();
  h = cs_checksum_i64(h, (int64_t)p->id);
  h = cs_checksum_i64(h, (int64_t)p->owner_id);
  const char *fields[] = {p->name, p->email, p->phone};
  for (size_t i = 0; i < 3; i++)
    h = cs_checksum_str(h, fields[i] ? fields[i] : "", slen(fields[i]));
  h = cs_checksum_i64(h, p->created_at_ms);
  h = cs_checksum_i64(h, p->updated_at_ms);
  return h;
}

/* ---------------------------------------------------------------- passages */

/* The cleaned texts of a conversation's turns, in seq order, in one arena. */
typedef struct turn_texts {
  cs_buf arena;
  size_t n, cap;
  uint32_t *off, *len;
  int32_t *seq;
  uint8_t *role;
  int64_t *start, *end;
} turn_texts;

static void tt_free(turn_texts *tt) {
  cs_buf_free(&tt->arena);
  free(tt->off);
  free(tt->len);
  free(tt->seq);
  free(tt->role);
  free(tt->start);
  free(tt->end);
  memset(tt, 0, sizeof *tt);
}

static int tt_push(turn_texts *tt, int32_t seq, int role, int64_t start, int64_t end,
                   const char *text, size_t len) {
  if (tt->n == tt->cap) {
    size_t cap = tt->cap ? tt->cap * 2 : 32;
    void *a[6] = {realloc(tt->off, cap * 4), NULL, NULL, NULL, NULL, NULL};
    if (a[0]) tt->off = a[0];
    a[1] = realloc(tt->len, cap * 4);
    if (a[1]) tt->len = a[1];
    a[2] = realloc(tt->seq, cap * 4);
    if (a[2]) tt->seq = a[2];
    a[3] = realloc(tt->role, cap);
    if (a[3]) tt->role = a[3];
    a[4] = realloc(tt->start, cap * 8);
    if (a[4]) tt->start = a[4];
    a[5] = realloc(tt->end, cap * 8);
    if (a[5]) tt->end = a[5];
    for (int i = 0; i < 6; i++)
      if (!a[i]) return CS_ENOMEM;
    tt->cap = cap;
  }
  if (tt->arena.len + len > UINT32_MAX) return CS_ELIMIT;
  tt->off[tt->n] = (uint32_t)tt->arena.len;
  tt->len[tt->n] = (uint32_t)len;
  tt->seq[tt->n] = seq;
  tt->role[tt->n] = (uint8_t)role;
  tt->start[tt->n] = start;
  tt->end[tt->n] = end;
  tt->n++;
  cs_buf_bytes(&tt->arena, text, len);
  return tt->arena.err;
}

static const char *tt_text(const turn_texts *tt, size_t i) {
  return (const char *)tt->arena.p + tt->off[i];
}

/* A stored conversation's turns, for removing its passages. */
static int tt_load(cs_writer *w, uint64_t conv, turn_texts *tt, cs_buf *scratch) {
  uint8_t pfx[12];
  cs_key_turn(pfx, conv, INT32_MIN);
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, CS_T_TURN, &cur);
  if (rc) return rc;
  cs_slice k, v;
  for (rc = cs_cursor_seek(cur, sl(pfx, 12), &k, &v); rc == 0; rc = cs_cursor_next(cur, &k, &v)) {
    if (k.len != 12 || memcmp(k.data, pfx, 8) != 0) break;
    cs_turn t;
    rc = cs_turn_decode(v.data, v.len, &t);
    if (!rc) rc = cs_turn_text(&t, scratch);
    if (!rc) rc = tt_push(tt, t.seq, t.role, t.start_ms, t.end_ms, t.text.p, t.text.len);
    if (rc) break;
  }
  cs_cursor_close(cur);
  return rc == CS_ENOTFOUND ? 0 : rc;
}

/* A passage's text: its slices of turns joined by newlines. */
static int passage_text(const turn_texts *tt, const cs_passage_span *sp, cs_buf *out) {
  cs_buf_reset(out);
  for (uint32_t i = sp->first; i <= sp->last && i < tt->n; i++) {
    uint32_t from = i == sp->first ? sp->first_off : 0;
    uint32_t to = i == sp->last ? sp->last_end : tt->len[i];
    if (from > to || to > tt->len[i]) return CS_ECORRUPT;
    if (i > sp->first) cs_buf_u8(out, '\n');
    cs_buf_bytes(out, tt_text(tt, i) + from, to - from);
  }
  return out->err;
}

/* Time at byte `off` of turn i, interpolated; -1 when unknown. */
static int64_t time_at(const turn_texts *tt, size_t i, uint32_t off) {
  int64_t s = tt->start[i], e = tt->end[i];
  if (s < 0) return -1;
  if (e < s || tt->len[i] == 0) return s;
  return s + (int64_t)((double)(e - s) * off / tt->len[i]);
}

/* Passages of the conversation being put, filled from its turns' tokens. */
typedef struct pending_tok {
  uint32_t off; /* into terms */
  uint16_t len;
  uint32_t pos;
} pending_tok;

typedef struct passage_builder {
  cs_passage_span *sp;
  size_t n, next; /* passages, and the first one not yet indexed */
  cs_buf terms;   /* term bytes of the passage being filled */
  pending_tok *tok;
  size_t ntok, cap;
  uint32_t pos; /* next position in the passage being filled */
} passage_builder;

static int passages_begin(passage_builder *pb, const turn_texts *tt) {
  cs_passage_turn *pt = malloc((tt->n ? tt->n : 1) * sizeof *pt);
  if (!pt) return CS_ENOMEM;
  for (size_t i = 0; i < tt->n; i++)
    pt[i] = (cs_passage_turn){tt_text(tt, i), tt->len[i], tt->role[i]};
  int rc = cs_passages_build(pt, tt->n, &pb->sp, &pb->n);
  free(pt);
  cs_buf_init(&pb->terms);
  return rc;
}

static void passages_end(passage_builder *pb) {
  free(pb->sp);
  free(pb->tok);
  cs_buf_free(&pb->terms);
  memset(pb, 0, sizeof *pb);
}

/* Indexes the passage being filled (number pb->next) as docid *d. */
static int passage_flush(cs_writer *w, passage_builder *pb, const cs_conv *c, const turn_texts *tt,
                         uint32_t *d) {
  const cs_passage_span *sp = &pb->sp[pb->next];
  cs_token *toks = malloc((pb->ntok ? pb->ntok : 1) * sizeof *toks);
  if (!toks) return CS_ENOMEM;
  for (size_t i = 0; i < pb->ntok; i++) {
    memset(&toks[i], 0, sizeof toks[i]);
    toks[i].term = (const char *)pb->terms.p + pb->tok[i].off;
    toks[i].term_len = pb->tok[i].len;
    toks[i].pos = pb->tok[i].pos;
  }
  uint32_t dl = 0;
  int rc = add_doc(w, *d, CS_DOC_PASSAGE, toks, pb->ntok, &dl);
  free(toks);
  if (!rc) rc = put_doc_entry(w, *d, CS_DOC_PASSAGE, c->id, c->patient_id, (int32_t)pb->next, dl);
  if (rc) return rc;
  cs_passage p = {*d,
                  tt->seq[sp->first],
                  tt->seq[sp->last],
                  sp->first_off,
                  sp->last_end,
                  time_at(tt, sp->first, sp->first_off),
                  time_at(tt, sp->last, sp->last_end)};
  (*d)++;
  uint8_t key[12];
  cs_be64_put(key, c->id);
  cs_be32_put(key + 8, (uint32_t)pb->next);
  cs_buf_reset(&w->buf);
  cs_passage_encode(&w->buf, &p);
  rc = put_buf(w, CS_T_PASSAGE, key, 12, &w->buf);
  pb->next++;
  pb->ntok = 0;
  pb->pos = 0;
  cs_buf_reset(&pb->terms);
  return rc;
}

/* Routes turn i's tokens to the passages covering them (by byte range; the
 * same terms as analyzing the passage's own text, since passages are cut
 * at white space), indexing each passage when its last turn is done. */
static int passages_feed(cs_writer *w, passage_builder *pb, const cs_conv *c, const turn_texts *tt,
                         uint32_t i, const cs_token *toks, size_t n, uint32_t *d) {
  uint32_t base = UINT32_MAX, last = 0;
  for (size_t k = 0; k < n; k++) {
    while (pb->next < pb->n &&
           (pb->sp[pb->next].last < i ||
            (pb->sp[pb->next].last == i && toks[k].start >= pb->sp[pb->next].last_end))) {
      int rc = passage_flush(w, pb, c, tt, d);
      if (rc) return rc;
      base = UINT32_MAX;
    }
    if (pb->next >= pb->n) break;
    const cs_passage_span *sp = &pb->sp[pb->next];
    if (sp->first > i || (sp->first == i && toks[k].start < sp->first_off)) continue;
    if (toks[k].flags & CS_TOK_STOP) continue;
    if (base == UINT32_MAX) base = toks[k].pos;
    if (pb->ntok == pb->cap) {
      size_t cap = pb->cap ? pb->cap * 2 : 256;
      pending_tok *v = realloc(pb->tok, cap * sizeof *v);
      if (!v) return CS_ENOMEM;
      pb->tok = v;
      pb->cap = cap;
    }
    pb->tok[pb->ntok++] =
        (pending_tok){(uint32_t)pb->terms.len, toks[k].term_len, pb->pos + (toks[k].pos - base)};
    last = pb->pos + (toks[k].pos - base);
    cs_buf_bytes(&pb->terms, toks[k].term, toks[k].term_len);
    if (pb->terms.err) return pb->terms.err;
  }
  if (base != UINT32_MAX) pb->pos = last + 2; /* a gap between turns */
  /* Passages that end with this turn are complete. */
  while (pb->next < pb->n && pb->sp[pb->next].last <= i) {
    int rc = passage_flush(w, pb, c, tt, d);
    if (rc) return rc;
  }
  return 0;
}

static int seq_index(const turn_texts *tt, int32_t seq, uint32_t *out) {
  size_t lo = 0, hi = tt->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tt->seq[mid] < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo >= tt->n || tt->seq[lo] != seq) return CS_ECORRUPT;
  *out = (uint32_t)lo;
  return 0;
}

/* Removes a conversation's passages (before its turns go). */
static int delete_passages(cs_writer *w, uint64_t conv, const char *lang) {
  turn_texts tt;
  memset(&tt, 0, sizeof tt);
  cs_buf text, rec;
  cs_buf_init(&text);
  cs_buf_init(&rec);
  int rc = tt_load(w, conv, &tt, &rec);
  uint8_t pfx[8];
  cs_key_u64(pfx, conv);
  while (!rc) {
    cs_cursor *cur;
    rc = cs_cursor_open(w->txn, CS_T_PASSAGE, &cur);
    if (rc) break;
    cs_slice k, v;
    rc = cs_cursor_seek(cur, sl(pfx, 8), &k, &v);
    int mine = rc == 0 && k.len == 12 && memcmp(k.data, pfx, 8) == 0;
    uint8_t key[12];
    cs_passage p;
    if (mine) {
      memcpy(key, k.data, 12);
      rc = cs_passage_decode(v.data, v.len, &p);
    }
    cs_cursor_close(cur);
    if (!mine) {
      rc = rc == CS_ENOTFOUND || rc == 0 ? 0 : rc;
      break;
    }
    cs_passage_span sp = {0, 0, p.first_off, p.last_end};
    if (!rc) rc = seq_index(&tt, p.first_seq, &sp.first);
    if (!rc) rc = seq_index(&tt, p.last_seq, &sp.last);
    if (!rc) rc = passage_text(&tt, &sp, &text);
    if (!rc) rc = remove_doc(w, p.docid, lang, (const char *)text.p, text.len, CS_DOC_PASSAGE);
    if (!rc) rc = cs_del(w->txn, CS_T_PASSAGE, sl(key, 12));
  }
  cs_buf_free(&text);
  cs_buf_free(&rec);
  tt_free(&tt);
  return rc;
}

/* ---------------------------------------------------------------- conversations */

static int get_conv(cs_writer *w, uint64_t id, cs_conv *c, cs_buf *copy) {
  uint8_t key[8];
  cs_key_u64(key, id);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_CONV, sl(key, 8), &v);
  if (rc) return rc;
  /* Copy: the value dies with the next write. */
  cs_buf_reset(copy);
  cs_buf_bytes(copy, v.data, v.len);
  if (copy->err) return copy->err;
  return cs_conv_decode(copy->p, copy->len, c);
}

static int delete_conversation(cs_writer *w, uint64_t id);

int cs_writer_delete_conversation(cs_writer *w, uint64_t id) {
  int rc = delete_conversation(w, id);
  if (rc == 0) rc = outbox(w, CS_OUT_DELETE, CS_OUT_CONVERSATION, id);
  return rc;
}

static int delete_conversation(cs_writer *w, uint64_t id) {
  cs_buf copy;
  cs_buf_init(&copy);
  cs_conv c;
  int rc = get_conv(w, id, &c, &copy);
  if (rc) goto out;
  char lang[16];
  snprintf(lang, sizeof lang, "%.*s", (int)(c.language.len < 15 ? c.language.len : 15),
           c.language.p);
  /* Title and description docs. */
  if (c.ndocs > c.nturns) {
    for (uint32_t d = c.first_docid; d < c.first_docid + c.ndocs && !rc; d++) {
      uint8_t dk[4];
      cs_be32_put(dk, d);
      cs_slice v;
      cs_doc doc;
      if (cs_get(w->txn, CS_T_DOCS, sl(dk, 4), &v) || cs_doc_decode(v.data, v.len, &doc)) continue;
      if (doc.kind == CS_DOC_TITLE)
        rc = remove_doc(w, d, lang, c.title.p, c.title.len, CS_DOC_TITLE);
      else if (doc.kind == CS_DOC_DESCRIPTION)
        rc = remove_doc(w, d, lang, c.description.p, c.description.len, CS_DOC_DESCRIPTION);
    }
    if (rc) goto out;
  }
  /* Passages, while the turns they are cut from are still there. */
  rc = delete_passages(w, id, lang);
  if (rc) goto out;
  /* Turns. */
  uint8_t key[12];
  cs_key_turn(key, id, INT32_MIN);
  for (;;) {
    cs_cursor *cur;
    rc = cs_cursor_open(w->txn, CS_T_TURN, &cur);
    if (rc) goto out;
    cs_slice k, v;
    rc = cs_cursor_seek(cur, sl(key, 12), &k, &v);
    if (rc == CS_ENOTFOUND || (rc == 0 && (k.len != 12 || memcmp(k.data, key, 8) != 0))) {
      cs_cursor_close(cur);
      rc = 0;
      break;
    }
    cs_turn t;
    if (!rc) rc = cs_turn_decode(v.data, v.len, &t);
    uint8_t tk[12];
    if (!rc) memcpy(tk, k.data, 12);
    cs_buf tb;
    cs_buf_init(&tb);
    if (!rc && !t.packed.p) cs_buf_bytes(&tb, t.text.p, t.text.len);
    if (!rc && t.packed.p) rc = cs_turn_text(&t, &tb);
    cs_cursor_close(cur);
    if (!rc) rc = tb.err;
    if (!rc) rc = remove_doc(w, t.docid, lang, (const char *)tb.p, tb.len, CS_DOC_TURN);
    cs_buf_free(&tb);
    if (!rc) rc = cs_del(w->txn, CS_T_TURN, sl(tk, 12));
    if (rc) goto out;
  }
  uint8_t pk[16];
  cs_key_u64u64(pk, c.patient_id, id);
  rc = cs_del(w->txn, CS_T_PCONV, sl(pk, 16));
  if (rc && rc != CS_ENOTFOUND) goto out;
  cs_key_u64(key, id);
  rc = cs_del(w->txn, CS_T_CONV, sl(key, 8));
out:
  cs_buf_free(&copy);
  return rc;
}

int cs_writer_put_conversation(cs_writer *w, const cs_conv_in *in, unsigned *flags_out) {
  unsigned flags = 0;
  int rc = 0;
  if (flags_out) *flags_out = 0;
  if (erased(w, in->patient_id)) {
    if (flags_out) *flags_out = CS_PUT_ERASED;
    rc = cs_writer_delete_conversation(w, in->id);
    return rc == CS_ENOTFOUND ? 0 : rc;
  }
  uint64_t sum = cs_conv_in_checksum(in);
  turn_texts tt;
  memset(&tt, 0, sizeof tt);
  passage_builder pb;
  memset(&pb, 0, sizeof pb);
  cs_buf copy, f[7];
  cs_buf_init(&copy);
  for (int i = 0; i < 7; i++)
    cs_buf_init(&f[i]);
  cs_conv old;
  rc = get_conv(w, in->id, &old, &copy);
  if (rc == 0 && old.checksum == sum) {
    flags |= CS_PUT_UNCHANGED;
    goto out;
  }
  /* Replaced, not deleted: the mirror gets one put (below), not a delete. */
  if (rc == 0) rc = delete_conversation(w, in->id);
  if (rc == CS_ENOTFOUND) rc = 0;
  if (rc) goto out;

  size_t nturns = in->nturns;
  if (nturns > CS_TURNS_MAX) {
    nturns = CS_TURNS_MAX;
    flags |= CS_PUT_CUT;
  }
  cs_conv c;
  memset(&c, 0, sizeof c);
  c.id = in->id;
  c.patient_id = in->patient_id;
  c.owner_id = in->owner_id;
  const char *title = clean(&f[0], in->title, slen(in->title), CS_FIELD_MAX, &flags);
  const char *desc = clean(&f[1], in->description, slen(in->description), CS_FIELD_MAX, &flags);
  const char *lang = clean(&f[2], in->language, slen(in->language), 15, &flags);
  if (!*lang) lang = "es";
  c.title = (cs_str){title, strlen(title)};
  c.description = (cs_str){desc, strlen(desc)};
  c.language = (cs_str){lang, strlen(lang)};
  const char *uri = clean(&f[3], in->audio_uri, slen(in->audio_uri), CS_FIELD_MAX, &flags);
  const char *status = clean(&f[4], in->status, slen(in->status), CS_FIELD_MAX, &flags);
  c.audio_uri = (cs_str){uri, strlen(uri)};
  c.status = (cs_str){status, strlen(status)};
  c.duration_ms = in->duration_ms;
  c.created_at_ms = in->created_at_ms;
  c.updated_at_ms = in->updated_at_ms;
  c.nturns = (uint32_t)nturns;
  c.checksum = sum;
  c.first_docid = w->stats.next_docid;
  uint32_t d = c.first_docid;
  if (c.title.len) {
    rc = index_text(w, d++, lang, title, c.title.len, CS_DOC_TITLE, c.id, c.patient_id, -1, NULL,
                    NULL);
    if (rc) goto out;
  }
  if (c.description.len) {
    rc = index_text(w, d++, lang, desc, c.description.len, CS_DOC_DESCRIPTION, c.id, c.patient_id,
                    -1, NULL, NULL);
    if (rc) goto out;
  }
  /* Clean every turn first: passages are cut from the whole transcript. */
  for (size_t i = 0; i < nturns; i++) {
    const cs_turn_in *ti = &in->turns[i];
    clean(&f[5], ti->text, ti->text ? ti->text_len : 0, CS_TEXT_MAX, &flags);
    if (f[5].err) {
      rc = f[5].err;
      goto out;
    }
    rc = tt_push(&tt, ti->seq, cs_role_parse(ti->role), ti->start_ms, ti->end_ms,
                 (const char *)f[5].p, f[5].len);
    if (rc) goto out;
  }
  rc = passages_begin(&pb, &tt);
  if (rc) goto out;
  /* Then analyze each turn once: its tokens make the turn's document and
   * go, by byte range, to the passages it belongs to; a passage is indexed
   * as soon as its last turn is done, so every docid stays increasing. */
  for (size_t i = 0; i < nturns; i++) {
    const cs_turn_in *ti = &in->turns[i];
    const char *text = tt_text(&tt, i);
    size_t tlen = tt.len[i];
    const cs_token *toks;
    size_t ntoks;
    rc =
        index_text(w, d, lang, text, tlen, CS_DOC_TURN, c.id, c.patient_id, ti->seq, &toks, &ntoks);
    if (rc) goto out;
    cs_turn t;
    memset(&t, 0, sizeof t);
    t.docid = d++;
    t.seq = ti->seq;
    t.role = tt.role[i];
    const char *speaker = clean(&f[6], ti->speaker, slen(ti->speaker), CS_FIELD_MAX, &flags);
    t.speaker = (cs_str){speaker, strlen(speaker)};
    t.text = (cs_str){text, tlen};
    t.start_ms = ti->start_ms;
    t.end_ms = ti->end_ms;
    cs_buf_reset(&w->buf);
    cs_turn_encode(&w->buf, &t, w->zt);
    uint8_t key[12];
    cs_key_turn(key, c.id, t.seq);
    rc = put_buf(w, CS_T_TURN, key, 12, &w->buf);
    if (!rc) rc = passages_feed(w, &pb, &c, &tt, (uint32_t)i, toks, ntoks, &d);
    if (rc) goto out;
  }
  c.ndocs = d - c.first_docid;
  w->stats.next_docid = d;
  cs_buf_reset(&w->buf);
  cs_conv_encode(&w->buf, &c);
  uint8_t key[16];
  cs_key_u64(key, c.id);
  rc = put_buf(w, CS_T_CONV, key, 8, &w->buf);
  if (rc) goto out;
  cs_key_u64u64(key, c.patient_id, c.id);
  rc = cs_put(w->txn, CS_T_PCONV, sl(key, 16), sl("", 0));
  if (!rc) rc = outbox(w, CS_OUT_PUT, CS_OUT_CONVERSATION, c.id);
out:
  passages_end(&pb);
  tt_free(&tt);
  cs_buf_free(&copy);
  for (int i = 0; i < 7; i++)
    cs_buf_free(&f[i]);
  if (flags_out) *flags_out = flags;
  return rc;
}

/* ---------------------------------------------------------------- people */

static int get_patient(cs_writer *w, uint64_t id, cs_patient *p, cs_buf *copy) {
  uint8_t key[8];
  cs_key_u64(key, id);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_PATIENT, sl(key, 8), &v);
  if (rc) return rc;
  cs_buf_reset(copy);
  cs_buf_bytes(copy, v.data, v.len);
  if (copy->err) return copy->err;
  return cs_patient_decode(copy->p, copy->len, p);
}

static int remove_patient_record(cs_writer *w, uint64_t id) {
  cs_buf copy;
  cs_buf_init(&copy);
  cs_patient p;
  int rc = get_patient(w, id, &p, &copy);
  if (rc == 0 && p.name_docid)
    rc = remove_doc(w, p.name_docid, "es", p.name.p, p.name.len, CS_DOC_NAME);
  if (rc == 0) {
    uint8_t key[16];
    cs_key_u64u64(key, p.owner_id, id);
    rc = cs_del(w->txn, CS_T_OWNER, sl(key, 16));
    if (rc == CS_ENOTFOUND) rc = 0;
    cs_key_u64(key, id);
    if (!rc) rc = cs_del(w->txn, CS_T_PATIENT, sl(key, 8));
  }
  cs_buf_free(&copy);
  return rc;
}

int cs_writer_put_patient(cs_writer *w, const cs_patient_in *in, unsigned *flags_out) {
  unsigned flags = 0;
  if (flags_out) *flags_out = 0;
  if (erased(w, in->id)) {
    if (flags_out) *flags_out = CS_PUT_ERASED;
    return 0;
  }
  uint64_t sum = cs_patient_in_checksum(in);
  cs_buf copy, f[3];
  cs_buf_init(&copy);
  for (int i = 0; i < 3; i++)
    cs_buf_init(&f[i]);
  cs_patient old;
  int rc = get_patient(w, in->id, &old, &copy);
  if (rc == 0 && old.checksum == sum) {
    flags |= CS_PUT_UNCHANGED;
    rc = 0;
    goto out;
  }
  if (rc == 0 && old.owner_id != in->owner_id) flags |= CS_PUT_OWNER_CHANGED;
  rc = rc == 0 ? remove_patient_record(w, in->id) : rc == CS_ENOTFOUND ? 0 : rc;
  if (rc) goto out;
  cs_patient p;
  memset(&p, 0, sizeof p);
  p.id = in->id;
  p.owner_id = in->owner_id;
  const char *name = clean(&f[0], in->name, slen(in->name), CS_FIELD_MAX, &flags);
  const char *email = clean(&f[1], in->email, slen(in->email), CS_FIELD_MAX, &flags);
  const char *phone = clean(&f[2], in->phone, slen(in->phone), CS_FIELD_MAX, &flags);
  p.name = (cs_str){name, strlen(name)};
  p.email = (cs_str){email, strlen(email)};
  p.phone = (cs_str){phone, strlen(phone)};
  p.created_at_ms = in->created_at_ms;
  p.updated_at_ms = in->updated_at_ms;
  p.checksum = sum;
  if (p.name.len) {
    p.name_docid = w->stats.next_docid++;
    rc = index_text(w, p.name_docid, "es", name, p.name.len, CS_DOC_NAME, 0, p.id, -1, NULL, NULL);
    if (rc) goto out;
  }
  cs_buf_reset(&w->buf);
  cs_patient_encode(&w->buf, &p);
  uint8_t key[16];
  cs_key_u64(key, p.id);
  rc = put_buf(w, CS_T_PATIENT, key, 8, &w->buf);
  if (rc) goto out;
  cs_key_u64u64(key, p.owner_id, p.id);
  rc = cs_put(w->txn, CS_T_OWNER, sl(key, 16), sl("", 0));
  if (!rc) rc = outbox(w, CS_OUT_PUT, CS_OUT_PATIENT, p.id);
out:
  cs_buf_free(&copy);
  for (int i = 0; i < 3; i++)
    cs_buf_free(&f[i]);
  if (flags_out) *flags_out = flags;
  return rc;
}

/* Deletes every key of `tbl` that starts with be64(id). */
static int delete_prefix(cs_writer *w, cs_table tbl, uint64_t id,
                         int (*each)(cs_writer *, const uint8_t *key)) {
  uint8_t pfx[8];
  cs_key_u64(pfx, id);
  for (;;) {
    cs_cursor *cur;
    int rc = cs_cursor_open(w->txn, tbl, &cur);
    if (rc) return rc;
    cs_slice k, v;
    rc = cs_cursor_seek(cur, sl(pfx, 8), &k, &v);
    if (rc == CS_ENOTFOUND || (rc == 0 && (k.len < 8 || memcmp(k.data, pfx, 8) != 0))) {
      cs_cursor_close(cur);
      return 0;
    }
    uint8_t key[16] = {0};
    size_t klen = k.len < 16 ? k.len : 16;
    if (!rc) memcpy(key, k.data, klen);
    cs_cursor_close(cur);
    if (rc) return rc;
    if (each) {
      rc = each(w, key);
      if (rc && rc != CS_ENOTFOUND) return rc;
    }
    rc = cs_del(w->txn, tbl, sl(key, klen));
    if (rc && rc != CS_ENOTFOUND) return rc;
  }
}

static int delete_pconv(cs_writer *w, const uint8_t *key) {
  return cs_writer_delete_conversation(w, cs_be64_get(key + 8));
}

int cs_writer_delete_patient(cs_writer *w, uint64_t id) {
  int rc = delete_prefix(w, CS_T_PCONV, id, delete_pconv);
  if (!rc) rc = remove_patient_record(w, id);
  if (rc == CS_ENOTFOUND) rc = 0;
  if (!rc) rc = outbox(w, CS_OUT_DELETE, CS_OUT_PATIENT, id);
  return rc;
}

int cs_writer_erase_patient(cs_writer *w, uint64_t id, int64_t at_ms) {
  int rc = cs_writer_delete_patient(w, id);
  if (!rc) rc = delete_prefix(w, CS_T_EVENT, id, NULL);
  if (!rc) rc = delete_prefix(w, CS_T_INTER, id, NULL);
  if (rc) return rc;
  uint8_t key[8], val[8];
  cs_key_u64(key, id);
  cs_be64_put(val, (uint64_t)at_ms);
  return cs_put(w->txn, CS_T_ERASED, sl(key, 8), sl(val, 8));
}

/* ---------------------------------------------------------------- events */

int cs_writer_put_event(cs_writer *w, const cs_event_in *in, unsigned *flags_out) {
  if (flags_out) *flags_out = 0;
  int type = cs_event_type_parse(in->type);
  if (type == CS_EV_UNKNOWN || in->patient_id == 0) {
    if (flags_out) *flags_out = CS_PUT_SKIPPED;
    return 0;
  }
  if (erased(w, in->patient_id)) {
    if (flags_out) *flags_out = CS_PUT_ERASED;
    return 0;
  }
  if (type == CS_EV_ERASED) return cs_writer_erase_patient(w, in->patient_id, in->recorded_at_ms);
  uint8_t key[16];
  cs_key_u64u64(key, in->patient_id, in->position);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_EVENT, sl(key, 16), &v);
  if (rc == 0) {
    if (flags_out) *flags_out = CS_PUT_DUPLICATE;
    return 0;
  }
  if (rc != CS_ENOTFOUND) return rc;
  cs_event e = {(uint8_t)type, in->patient_id, in->actor_id, in->conversation_id,
                in->recorded_at_ms};
  cs_buf_reset(&w->buf);
  cs_event_encode(&w->buf, &e);
  rc = put_buf(w, CS_T_EVENT, key, 16, &w->buf);
  if (rc) return rc;
  if (!in->actor_id) return 0;
  cs_key_u64u64(key, in->patient_id, in->actor_id);
  cs_inter x = {0, 0, INT64_MIN};
  rc = cs_get(w->txn, CS_T_INTER, sl(key, 16), &v);
  if (rc == 0) rc = cs_inter_decode(v.data, v.len, &x);
  if (rc && rc != CS_ENOTFOUND) return rc;
  x.events++;
  x.score_ref += cs_interaction_ref(cs_interaction_weight(type), in->recorded_at_ms);
  if (in->recorded_at_ms > x.last_at_ms) x.last_at_ms = in->recorded_at_ms;
  cs_buf_reset(&w->buf);
  cs_inter_encode(&w->buf, &x);
  return put_buf(w, CS_T_INTER, key, 16, &w->buf);
}

/* ---------------------------------------------------------------- points */

int cs_writer_put_point(cs_writer *w, uint64_t id, const char *text, const char *category) {
  unsigned flags = 0;
  cs_buf f[2];
  cs_buf_init(&f[0]);
  cs_buf_init(&f[1]);
  const char *t = clean(&f[0], text, slen(text), CS_FIELD_MAX, &flags);
  const char *c = clean(&f[1], category, slen(category), CS_FIELD_MAX, &flags);
  cs_point p = {id, {t, strlen(t)}, {c, strlen(c)}};
  cs_buf_reset(&w->buf);
  cs_point_encode(&w->buf, &p);
  uint8_t key[8];
  cs_key_u64(key, id);
  int rc = put_buf(w, CS_T_POINT, key, 8, &w->buf);
  cs_buf_free(&f[0]);
  cs_buf_free(&f[1]);
  return rc;
}

int cs_writer_delete_point(cs_writer *w, uint64_t id) {
  uint8_t key[8];
  cs_key_u64(key, id);
  int rc = cs_del(w->txn, CS_T_POINT, sl(key, 8));
  return rc == CS_ENOTFOUND ? 0 : rc;
}

/* ---------------------------------------------------------------- checkpoint */

int cs_writer_get_checkpoint(cs_writer *w, cs_checkpoint *c) {
  memset(c, 0, sizeof *c);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_META, sl("checkpoint", 10), &v);
  if (rc == CS_ENOTFOUND) return 0;
  if (rc) return rc;
  return cs_checkpoint_decode(v.data, v.len, c);
}

int cs_writer_set_checkpoint(cs_writer *w, const cs_checkpoint *c) {
  cs_checkpoint x = *c;
  x.updated_at_ms = now_ms();
  cs_buf_reset(&w->buf);
  cs_checkpoint_encode(&w->buf, &x);
  return put_buf(w, CS_T_META, "checkpoint", 10, &w->buf);
}

int cs_writer_list_ids(cs_writer *w, cs_table t, uint64_t **ids, size_t *n) {
  *ids = NULL;
  *n = 0;
  if (t != CS_T_CONV && t != CS_T_PATIENT) return CS_EINVAL;
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, t, &cur);
  if (rc) return rc;
  size_t cap = 0;
  cs_slice k, v;
  for (rc = cs_cursor_first(cur, &k, &v); rc == 0; rc = cs_cursor_next(cur, &k, &v)) {
    if (k.len != 8) continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 1024;
      uint64_t *a = realloc(*ids, cap * sizeof *a);
      if (!a) {
        rc = CS_ENOMEM;
        break;
      }
      *ids = a;
    }
    (*ids)[(*n)++] = cs_be64_get(k.data);
  }
  cs_cursor_close(cur);
  if (rc == CS_ENOTFOUND) rc = 0;
  if (rc) {
    free(*ids);
    *ids = NULL;
    *n = 0;
  }
  return rc;
}

int cs_writer_enqueue_all(cs_writer *w) {
  static const struct {
    cs_table table;
    int kind;
  } sets[] = {{CS_T_PATIENT, CS_OUT_PATIENT}, {CS_T_CONV, CS_OUT_CONVERSATION}};
  for (size_t s = 0; s < 2; s++) {
    uint64_t *ids;
    size_t n;
    int rc = cs_writer_list_ids(w, sets[s].table, &ids, &n);
    for (size_t i = 0; !rc && i < n; i++)
      rc = outbox(w, CS_OUT_PUT, sets[s].kind, ids[i]);
    free(ids);
    if (rc) return rc;
  }
  return 0;
}
