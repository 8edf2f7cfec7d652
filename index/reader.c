/*
 * The index reader (see reader.h).
 */
#include "reader.h"

#include "analyzer.h"
#include "corrupt.h"
#include "errors.h"
#include "grow.h"
#include "oblock.h"
#include "passblock.h"
#include "textpack.h"
#include "turnblock.h"
#include "utf8.h"
#include "varint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cs_reader {
  cs_store *store;
  cs_txn *txn;
  cs_buf text;            /* the texts of tblock, when stored compressed */
  cs_cursor *tcur;        /* cs_reader_turn's (opened on first use) */
  const void *tblock;     /* the stored block whose texts are in text */
  cs_karena keys;         /* the block tables' logical keys handed out (oblock.h) */
  cs_oblock_hint hint[2]; /* the last CS_T_OLEX and CS_T_OWORDS blocks looked in */
};

struct cs_pcur {
  cs_reader *r;
  cs_cursor *cur;
  char term[CS_TERM_MAX + 2]; /* + the passage field prefix */
  size_t len;
  cs_chunk chunk;
  uint32_t i;
  uint32_t docid;
  int err;
  uint32_t *pos;
  uint32_t pos_cap;
  uint32_t ahead; /* headers read past the current chunk (cs_pcur_head_next) */
};

static cs_slice sl(const void *p, size_t n) {
  cs_slice s = {p, n};
  return s;
}

int cs_reader_open(cs_store *s, cs_reader **out) {
  *out = NULL;
  cs_reader *r = calloc(1, sizeof *r);
  if (!r) return CS_ENOMEM;
  r->store = s;
  int rc = cs_txn_begin(s, 0, &r->txn);
  if (rc) {
    free(r);
    return rc;
  }
  char want[64], old[64];
  int n = snprintf(want, sizeof want, "%s %d", CS_FORMAT_MAGIC, CS_FORMAT_VERSION);
  int on = snprintf(old, sizeof old, "%s %d", CS_FORMAT_MAGIC, CS_FORMAT_UPGRADES);
  cs_slice v;
  rc = cs_get(r->txn, CS_T_META, sl("format", 6), &v);
  /* (The format before: its writer has not opened it since; records.h.) */
  if (rc == 0 && (v.len != (size_t)n || memcmp(v.data, want, v.len) != 0) &&
      (v.len != (size_t)on || memcmp(v.data, old, v.len) != 0))
    rc = CS_EVERSION;
  if (rc == CS_ENOTFOUND) rc = 0; /* a fresh index the writer has not initialized yet */
  if (rc) {
    cs_reader_close(r);
    return rc;
  }
  /* The text dictionary, loaded once per process (textpack.h). A damaged
   * one is reported; the turns that need it then are, one by one. */
  if (cs_get(r->txn, CS_T_META, sl("zdict", 5), &v) == 0)
    (void)cs_corrupt_rc(cs_textpack_dict_load((cs_str){v.data, v.len}), CS_T_META, sl("zdict", 5));
  *out = r;
  return 0;
}

void cs_reader_close(cs_reader *r) {
  if (!r) return;
  cs_oblock_hint_free(&r->hint[0]);
  cs_oblock_hint_free(&r->hint[1]);
  cs_cursor_close(r->tcur);
  cs_txn_abort(r->txn);
  cs_buf_free(&r->text);
  cs_karena_free(&r->keys);
  free(r);
}

uint64_t cs_reader_snapshot(const cs_reader *r) {
  return cs_txn_id(r->txn);
}

int cs_reader_stats(cs_reader *r, cs_stats *out) {
  memset(out, 0, sizeof *out);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_META, sl("stats", 5), &v);
  if (rc == CS_ENOTFOUND) return 0;
  if (rc) return rc;
  return cs_corrupt_rc(cs_stats_decode(v.data, v.len, out), CS_T_META, sl("stats", 5));
}

int cs_reader_checkpoint(cs_reader *r, cs_checkpoint *out) {
  memset(out, 0, sizeof *out);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_META, sl("checkpoint", 10), &v);
  if (rc == CS_ENOTFOUND) return 0;
  if (rc) return rc;
  return cs_corrupt_rc(cs_checkpoint_decode(v.data, v.len, out), CS_T_META, sl("checkpoint", 10));
}

static int count_turn(void *ctx, const cs_turn *t) {
  (void)t;
  ++*(uint64_t *)ctx;
  return 0;
}

int cs_reader_count(cs_reader *r, cs_table t, uint64_t *out) {
  if (t == CS_T_TURN) {
    *out = 0;
    return cs_reader_turns(r, 0, INT32_MIN, CS_TURNS_ALL, count_turn, out);
  }
  if (!cs_oblock_table(t)) return cs_table_count(r->txn, t, out);
  *out = 0;
  cs_ocur *c;
  int rc = cs_ocur_open(r->txn, t, NULL, &c);
  if (rc) return rc;
  for (rc = cs_ocur_first(c, NULL, NULL); rc == 0; rc = cs_ocur_next(c, NULL, NULL))
    ++*out;
  cs_ocur_close(c);
  return rc == CS_ENOTFOUND ? 0 : rc;
}

int cs_reader_lex(cs_reader *r, const char *term, size_t len, cs_lex *out) {
  cs_slice v;
  if (len == 0 || len > CS_TERM_MAX + 1) return CS_ENOTFOUND;
  int rc = cs_get(r->txn, CS_T_LEX, sl(term, len), &v);
  return rc ? rc : cs_corrupt_rc(cs_lex_decode(v.data, v.len, out), CS_T_LEX, sl(term, len));
}

int cs_reader_word(cs_reader *r, const char *word, size_t len, cs_word *out) {
  cs_slice v;
  if (len == 0 || len > 511) return CS_ENOTFOUND;
  int rc = cs_get(r->txn, CS_T_WORDS, sl(word, len), &v);
  return rc ? rc : cs_corrupt_rc(cs_word_decode(v.data, v.len, out), CS_T_WORDS, sl(word, len));
}

int cs_reader_owner_stats(cs_reader *r, uint64_t owner, cs_stats *out) {
  memset(out, 0, sizeof *out);
  uint8_t key[8];
  cs_key_u64(key, owner);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_OSTATS, sl(key, 8), &v);
  if (rc == CS_ENOTFOUND) return 0;
  if (!rc) {
    rc = cs_corrupt_rc(cs_ostats_decode(v.data, v.len, out), CS_T_OSTATS, sl(key, 8));
  }
  return rc;
}

/* Looks up be64(owner) + key[0..len) in block table t (k: room for the
 * key, *kk: the key, for naming a damaged value). */
#define OWNER_KEY_MAX CS_OKEY_MAX
static int owner_get(cs_reader *r, cs_table t, uint64_t owner, const char *key, size_t len,
                     uint8_t k[OWNER_KEY_MAX], cs_slice *kk, cs_slice *v) {
  if (len == 0 || len > OWNER_KEY_MAX - 8) return CS_ENOTFOUND;
  cs_key_u64(k, owner);
  memcpy(k + 8, key, len);
  *kk = sl(k, len + 8);
  return cs_oblock_get(r->txn, t, &r->hint[t == CS_T_OWORDS], *kk, v);
}

int cs_reader_owner_lex(cs_reader *r, uint64_t owner, const char *term, size_t len, cs_lex *out) {
  uint8_t k[OWNER_KEY_MAX];
  cs_slice kk, v;
  int rc = owner_get(r, CS_T_OLEX, owner, term, len, k, &kk, &v);
  return rc ? rc : cs_corrupt_rc(cs_lex_decode(v.data, v.len, out), CS_T_OLEX, kk);
}

int cs_reader_owner_word(cs_reader *r, uint64_t owner, const char *word, size_t len, cs_word *out) {
  uint8_t k[OWNER_KEY_MAX];
  cs_slice kk, v;
  int rc = owner_get(r, CS_T_OWORDS, owner, word, len, k, &kk, &v);
  return rc ? rc : cs_corrupt_rc(cs_word_decode(v.data, v.len, out), CS_T_OWORDS, kk);
}

int cs_reader_doc(cs_reader *r, uint32_t docid, cs_doc *out) {
  uint8_t key[4];
  cs_be32_put(key, docid);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_DOCS, sl(key, 4), &v);
  return rc ? rc : cs_corrupt_rc(cs_doc_decode(v.data, v.len, out), CS_T_DOCS, sl(key, 4));
}

int cs_reader_conv(cs_reader *r, uint64_t id, cs_conv *out) {
  uint8_t key[8];
  cs_key_u64(key, id);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_CONV, sl(key, 8), &v);
  return rc ? rc : cs_corrupt_rc(cs_conv_decode(v.data, v.len, out), CS_T_CONV, sl(key, 8));
}

static int same_conv(cs_slice k, const uint8_t *key) {
  return k.len == 12 && memcmp(k.data, key, 8) == 0;
}

/* Positions c on the block of conversation conv that holds seq: the last
 * one whose key is <= (conv, seq) (turnblock.h); CS_ENOTFOUND when every
 * block of conv starts past seq (then c is on the first key > (conv, seq)
 * or past the end: *k, *v are that entry, *past 1). */
static int turn_block(cs_cursor *c, uint64_t conv, int32_t seq, cs_slice *k, cs_slice *v,
                      int *past) {
  uint8_t key[12];
  cs_key_turn(key, conv, seq);
  *past = 0;
  int rc = cs_cursor_seek(c, sl(key, 12), k, v);
  if (rc == 0 && k->len == 12 && memcmp(k->data, key, 12) == 0) return 0;
  if (rc && rc != CS_ENOTFOUND) return rc;
  int rc2 = rc == 0 ? cs_cursor_prev(c, k, v) : cs_cursor_last(c, k, v);
  if (rc2 == 0 && same_conv(*k, key)) return 0;
  if (rc2 && rc2 != CS_ENOTFOUND) return rc2;
  rc = cs_cursor_seek(c, sl(key, 12), k, v);
  if (rc) return rc; /* nothing past it either: *k, *v unset */
  *past = 1;
  return CS_ENOTFOUND;
}

/* The turn of block (k, v) whose seq (by_docid 0) or docid is `want`,
 * its text in r->text: the block is decompressed unless it is the one
 * read last (a read view's values stay where they are). */
static int block_turn(cs_reader *r, cs_slice k, cs_slice v, int by_docid, int64_t want,
                      cs_turn *out) {
  cs_tblock_it it;
  int rc = cs_tblock_begin(&it, k, v);
  if (!rc && it.packed.p && r->tblock == v.data) {
    it.packed = (cs_str){NULL, 0};
    it.text = (cs_str){(const char *)r->text.p, it.text.len};
  }
  if (!rc && it.packed.p) {
    r->tblock = NULL;
    rc = cs_tblock_texts(&it, &r->text);
    if (!rc) r->tblock = v.data;
  }
  while (!rc && !(rc = cs_tblock_next(&it, out)) &&
         (by_docid ? (int64_t)out->docid : (int64_t)out->seq) < want) {
  }
  if (!rc && (by_docid ? (int64_t)out->docid : (int64_t)out->seq) != want) rc = CS_ENOTFOUND;
  if (rc == CS_ENOTFOUND) return rc;
  return cs_corrupt_rc(rc, CS_T_TURN, k);
}

int cs_reader_turn(cs_reader *r, uint64_t conv, int32_t seq, cs_turn *out) {
  int rc = r->tcur ? 0 : cs_cursor_open(r->txn, CS_T_TURN, &r->tcur);
  cs_slice k, v;
  int past;
  if (!rc) rc = turn_block(r->tcur, conv, seq, &k, &v, &past);
  if (rc) return rc;
  return block_turn(r, k, v, 0, seq, out);
}

int cs_reader_turn_damaged(cs_reader *r, uint64_t conv, int32_t seq) {
  cs_slice k, v;
  int past;
  if ((r->tcur || cs_cursor_open(r->txn, CS_T_TURN, &r->tcur) == 0) &&
      turn_block(r->tcur, conv, seq, &k, &v, &past) == 0)
    return cs_corrupt(CS_T_TURN, k);
  uint8_t key[12]; /* (the block cannot be found again: the turn's own key) */
  cs_key_turn(key, conv, seq);
  return cs_corrupt(CS_T_TURN, sl(key, 12));
}

/* The docid of the first turn of block (k, v) of conversation `key`
 * (cs_key_turn), or -1 when (k, v) is another conversation's or damaged. */
static int64_t block_first_docid(cs_slice k, cs_slice v, const uint8_t *key) {
  cs_tblock_it it;
  if (!same_conv(k, key) || cs_tblock_begin(&it, k, v)) return -1;
  uint32_t d = cs_rd_u32(&it.meta);
  return it.meta.err ? -1 : (int64_t)d;
}

int cs_reader_turn_near(cs_reader *r, uint64_t conv, int32_t guess, uint32_t docid, cs_turn *out) {
  int rc = r->tcur ? 0 : cs_cursor_open(r->txn, CS_T_TURN, &r->tcur);
  if (rc) return rc;
  uint8_t key[12];
  cs_key_turn(key, conv, guess);
  cs_slice k, v, k2, v2;
  int past;
  rc = turn_block(r->tcur, conv, guess, &k, &v, &past);
  if (rc == CS_ENOTFOUND && past) rc = 0; /* then the conversation's first block, if any */
  if (rc) return rc;
  int64_t first = block_first_docid(k, v, key);
  int steps = 0;
  /* A conversation's docids grow with its seqs: back while the block
   * starts past docid, then on while the next one starts at or before it. */
  while (first > (int64_t)docid) {
    if (++steps > CS_TURN_NEAR_STEPS || cs_cursor_prev(r->tcur, &k, &v)) return CS_ENOTFOUND;
    first = block_first_docid(k, v, key);
  }
  if (first < 0) return CS_ENOTFOUND;
  while (cs_cursor_next(r->tcur, &k2, &v2) == 0) {
    int64_t next = block_first_docid(k2, v2, key);
    if (next < 0 || next > (int64_t)docid) break;
    if (++steps > CS_TURN_NEAR_STEPS) return CS_ENOTFOUND;
    k = k2;
    v = v2;
  }
  return block_turn(r, k, v, 1, docid, out);
}

int cs_reader_turn_marks(cs_reader *r, uint64_t conv, cs_tbmark **out, size_t *n, size_t *cap) {
  cs_cursor *c;
  int rc = cs_cursor_open(r->txn, CS_T_TURN, &c);
  if (rc) return rc;
  uint8_t key[12];
  cs_key_turn(key, conv, INT32_MIN);
  cs_slice k, v;
  for (rc = cs_cursor_seek(c, sl(key, 12), &k, &v); !rc && same_conv(k, key);
       rc = cs_cursor_next(c, &k, &v)) {
    int64_t d = block_first_docid(k, v, key);
    if (d < 0) {
      rc = CS_ECORRUPT;
      break;
    }
    if (*n == *cap && cs_grow((void **)out, cap, *n + 1, sizeof **out)) {
      rc = CS_ENOMEM;
      break;
    }
    (*out)[(*n)++] = (cs_tbmark){cs_key_turn_seq(k.data), (uint32_t)d};
  }
  cs_cursor_close(c);
  return rc == CS_ENOTFOUND ? 0 : rc;
}

int cs_reader_turn_at(cs_reader *r, uint64_t conv, int32_t block_seq, uint32_t docid,
                      cs_turn *out) {
  uint8_t key[12];
  cs_key_turn(key, conv, block_seq);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_TURN, sl(key, 12), &v);
  if (rc) return rc;
  return block_turn(r, sl(key, 12), v, 1, docid, out);
}

int cs_reader_turns(cs_reader *r, uint64_t conv, int32_t from, unsigned flags, cs_turn_fn fn,
                    void *ctx) {
  cs_cursor *c;
  int rc = cs_cursor_open(r->txn, CS_T_TURN, &c);
  if (rc) return rc;
  /* The walk takes over the reader's decompressed block (cs_reader_turn's
   * cache): it reuses it when it reads that block, and hands the last
   * block it decompressed back when done. Meanwhile the reader has an
   * empty cache, so fn may call cs_reader_turn. */
  cs_buf scratch = r->text;
  const void *cached = r->tblock;
  cs_buf_init(&r->text);
  r->tblock = NULL;
  cs_turn turns[CS_TBLOCK_TURNS]; /* a block's */
  uint8_t key[12];
  cs_key_turn(key, conv, from);
  cs_slice k, v;
  int past = 0, all = (flags & CS_TURNS_ALL) != 0;
  if (all)
    rc = cs_cursor_first(c, &k, &v);
  else
    rc = turn_block(c, conv, from, &k, &v, &past);
  if (rc == CS_ENOTFOUND && past) rc = 0;
  while (rc == 0 && (all || same_conv(k, key))) {
    cs_tblock_it it;
    cs_turn t;
    rc = cs_tblock_begin(&it, k, v);
    if (!rc && (flags & CS_TURNS_TEXT) && it.packed.p && cached == v.data) {
      it.packed = (cs_str){NULL, 0};
      it.text = (cs_str){(const char *)scratch.p, it.text.len};
    } else if (!rc && (flags & CS_TURNS_TEXT) && it.packed.p) {
      cached = NULL;
      rc = cs_tblock_texts(&it, &scratch);
      if (!rc) cached = v.data;
    }
    /* The whole block is decoded before any of its turns is passed on: a
     * damaged block's turns are all left out. */
    uint32_t n = 0;
    while (!rc && !(rc = cs_tblock_next(&it, &t))) {
      if ((flags & CS_TURNS_TEXT) && !cs_utf8_valid(t.text.p, t.text.len))
        rc = CS_ECORRUPT; /* damage (the writer stores UTF-8), as cs_tblock_check says */
      if (!rc && (all || t.seq >= from)) turns[n++] = t;
    }
    if (rc == CS_ENOTFOUND) rc = 0;
    for (uint32_t i = 0; !rc && i < n; i++)
      if ((rc = fn(ctx, &turns[i])) != 0) goto out;
    /* A damaged block is reported; its turns are left out unless asked. */
    rc = cs_corrupt_rc(rc, CS_T_TURN, k);
    if (rc == CS_ECORRUPT && !(flags & CS_TURNS_STRICT)) rc = 0;
    if (!rc) rc = cs_cursor_next(c, &k, &v);
  }
  if (rc == CS_ENOTFOUND) rc = 0;
out:
  if (r->tblock) {
    cs_buf_free(&scratch);
  } else {
    cs_buf_free(&r->text);
    r->text = scratch;
    r->tblock = cached;
  }
  cs_cursor_close(c);
  return rc;
}

int cs_reader_patient(cs_reader *r, uint64_t id, cs_patient *out) {
  uint8_t key[8];
  cs_key_u64(key, id);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_PATIENT, sl(key, 8), &v);
  return rc ? rc : cs_corrupt_rc(cs_patient_decode(v.data, v.len, out), CS_T_PATIENT, sl(key, 8));
}

int cs_reader_point(cs_reader *r, uint64_t id, cs_point *out) {
  uint8_t key[8];
  cs_key_u64(key, id);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_POINT, sl(key, 8), &v);
  return rc ? rc : cs_corrupt_rc(cs_point_decode(v.data, v.len, out), CS_T_POINT, sl(key, 8));
}

int cs_reader_inter(cs_reader *r, uint64_t patient, uint64_t actor, cs_inter *out) {
  uint8_t key[16];
  cs_key_u64u64(key, patient, actor);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_INTER, sl(key, 16), &v);
  return rc ? rc : cs_corrupt_rc(cs_inter_decode(v.data, v.len, out), CS_T_INTER, sl(key, 16));
}

int cs_reader_is_erased(cs_reader *r, uint64_t patient) {
  uint8_t key[8];
  cs_key_u64(key, patient);
  cs_slice v;
  return cs_get(r->txn, CS_T_ERASED, sl(key, 8), &v) == 0;
}

int cs_reader_passage(cs_reader *r, uint64_t conv, uint32_t n, cs_passage *out) {
  uint8_t key[12];
  cs_pblock_key(key, conv, n);
  cs_slice v;
  int rc = cs_get(r->txn, CS_T_PASSAGE, sl(key, 12), &v);
  if (!rc) rc = cs_pblock_get(v.data, v.len, n % CS_PBLOCK_PASSAGES, out);
  return rc == CS_ENOTFOUND ? rc : cs_corrupt_rc(rc, CS_T_PASSAGE, sl(key, 12));
}

typedef struct slice_walk {
  uint64_t conv;
  uint32_t n;
  const cs_passage *p;
  cs_passage_slice_fn fn;
  void *ctx;
} slice_walk;

enum { SLICES_DONE = 1 };

static int slice_each(void *ctx, const cs_turn *t) {
  slice_walk *w = ctx;
  const cs_passage *p = w->p;
  if (t->seq > p->last_seq) return SLICES_DONE;
  uint32_t from = t->seq == p->first_seq ? p->first_off : 0;
  uint32_t to = t->seq == p->last_seq ? p->last_end : (uint32_t)t->text.len;
  if (from > to || !cs_utf8_boundary(t->text.p, t->text.len, from) ||
      !cs_utf8_boundary(t->text.p, t->text.len, to)) {
    uint8_t key[12];
    cs_pblock_key(key, w->conv, w->n);
    return cs_corrupt(CS_T_PASSAGE, sl(key, 12));
  }
  int rc = w->fn ? w->fn(w->ctx, t, from, to) : 0;
  /* Stopping on the last turn spares decompressing the next block. */
  return rc ? rc : t->seq == p->last_seq ? SLICES_DONE : 0;
}

int cs_reader_passage_slices(cs_reader *r, uint64_t conv, uint32_t n, const cs_passage *p,
                             cs_passage_slice_fn fn, void *ctx) {
  slice_walk w = {conv, n, p, fn, ctx};
  int rc = cs_reader_turns(r, conv, p->first_seq, CS_TURNS_TEXT, slice_each, &w);
  return rc == SLICES_DONE ? 0 : rc;
}

int cs_reader_meta(cs_reader *r, const char *key, cs_slice *val) {
  return cs_get(r->txn, CS_T_META, sl(key, strlen(key)), val);
}

static int first_op(void *ctx, cs_slice k, cs_slice v) {
  return cs_outop_decode(v.data, v.len, ctx) == 0 ? 1 : cs_corrupt(CS_T_OUTBOX, k);
}

int cs_reader_outbox_first(cs_reader *r, cs_outop *out) {
  int rc = cs_reader_scan(r, CS_T_OUTBOX, NULL, 0, first_op, out);
  return rc == 1 ? 0 : rc ? rc : CS_ENOTFOUND;
}

struct cs_rcur {
  cs_cursor *c; /* a table of its own keys */
  cs_ocur *o;   /* a block table's logical entries */
};

/* logical: a block table's logical entries, else its stored blocks. */
static int rcur_open(cs_reader *r, cs_table t, int logical, cs_rcur **out) {
  cs_rcur *c = calloc(1, sizeof *c);
  if (!c) return CS_ENOMEM;
  int rc = logical && cs_oblock_table(t) ? cs_ocur_open(r->txn, t, &r->keys, &c->o)
                                         : cs_cursor_open(r->txn, t, &c->c);
  if (rc) {
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

int cs_reader_cursor(cs_reader *r, cs_table t, cs_rcur **out) {
  return rcur_open(r, t, 1, out);
}

void cs_rcur_close(cs_rcur *c) {
  if (!c) return;
  cs_cursor_close(c->c);
  cs_ocur_close(c->o);
  free(c);
}

int cs_rcur_seek(cs_rcur *c, cs_slice key, cs_slice *k, cs_slice *v) {
  return c->o ? cs_ocur_seek(c->o, key, k, v) : cs_cursor_seek(c->c, key, k, v);
}

int cs_rcur_first(cs_rcur *c, cs_slice *k, cs_slice *v) {
  return c->o ? cs_ocur_first(c->o, k, v) : cs_cursor_first(c->c, k, v);
}

int cs_rcur_next(cs_rcur *c, cs_slice *k, cs_slice *v) {
  return c->o ? cs_ocur_next(c->o, k, v) : cs_cursor_next(c->c, k, v);
}

static int scan(cs_reader *r, cs_table t, int logical, const void *prefix, size_t plen,
                const void *from, size_t flen, cs_scan_fn fn, void *ctx) {
  cs_rcur *cur;
  int rc = rcur_open(r, t, logical, &cur);
  if (rc) return rc;
  cs_slice k, v;
  if (flen)
    rc = cs_rcur_seek(cur, sl(from, flen), &k, &v);
  else if (plen)
    rc = cs_rcur_seek(cur, sl(prefix, plen), &k, &v);
  else
    rc = cs_rcur_first(cur, &k, &v);
  while (rc == 0) {
    if (plen && (k.len < plen || memcmp(k.data, prefix, plen) != 0)) break;
    rc = fn(ctx, k, v);
    if (rc) break;
    rc = cs_rcur_next(cur, &k, &v);
  }
  cs_rcur_close(cur);
  return rc == CS_ENOTFOUND ? 0 : rc;
}

int cs_reader_scan_from(cs_reader *r, cs_table t, const void *prefix, size_t plen, const void *from,
                        size_t flen, cs_scan_fn fn, void *ctx) {
  return scan(r, t, 1, prefix, plen, from, flen, fn, ctx);
}

int cs_reader_scan(cs_reader *r, cs_table t, const void *prefix, size_t plen, cs_scan_fn fn,
                   void *ctx) {
  return scan(r, t, 1, prefix, plen, NULL, 0, fn, ctx);
}

int cs_reader_scan_stored(cs_reader *r, cs_table t, cs_scan_fn fn, void *ctx) {
  return scan(r, t, 0, NULL, 0, NULL, 0, fn, ctx);
}

/* ---------------------------------------------------------------- postings */

static void pcur_end(cs_pcur *c, int err) {
  c->docid = CS_DOCID_END;
  if (err && !c->err) c->err = err;
}

/* Loads the chunk under (k, v) if it belongs to our term. A damaged chunk
 * is reported and skipped (its documents are lost to this cursor): the
 * next one of the term is loaded instead. Returns 1 when loaded, 0 when the
 * term's chunks are over. */
static int load_chunk_after(cs_pcur *c, int rc, cs_slice k, cs_slice v, int64_t after) {
  for (;;) {
    if (rc == CS_ENOTFOUND) return 0;
    if (rc) {
      pcur_end(c, rc);
      return 0;
    }
    if (k.len != c->len + 5 || memcmp(k.data, c->term, c->len) != 0 ||
        ((const uint8_t *)k.data)[c->len] != 0)
      return 0;
    uint32_t first = cs_be32_get((const uint8_t *)k.data + c->len + 1);
    /* A chunk starting at or before the last docid of the chunk read
     * before it overlaps it: the cursor would go back (a document of
     * another conversation under the one being scored). */
    if ((int64_t)first > after && cs_chunk_decode(v.data, v.len, first, &c->chunk) == 0) break;
    cs_corrupt(CS_T_POST, k);
    rc = cs_cursor_next(c->cur, &k, &v);
  }
  c->i = 0;
  c->docid = c->chunk.docid[0];
  return 1;
}

static int load_chunk(cs_pcur *c, int rc, cs_slice k, cs_slice v) {
  return load_chunk_after(c, rc, k, v, -1);
}

static int seek_chunk(cs_pcur *c, uint32_t target, cs_slice *k, cs_slice *v);
static void load_geq(cs_pcur *c, int rc, cs_slice k, cs_slice v, uint32_t target);

int cs_pcur_open(cs_reader *r, const char *term, size_t len, cs_pcur **out) {
  return cs_pcur_open_at(r, term, len, 0, out);
}

int cs_pcur_open_at(cs_reader *r, const char *term, size_t len, uint32_t from, cs_pcur **out) {
  *out = NULL;
  if (len == 0 || len > CS_TERM_MAX + 1) return CS_ENOTFOUND;
  cs_pcur *c = calloc(1, sizeof *c);
  if (!c) return CS_ENOMEM;
  c->r = r;
  memcpy(c->term, term, len);
  c->len = len;
  int rc = cs_cursor_open(r->txn, CS_T_POST, &c->cur);
  if (rc) {
    free(c);
    return rc;
  }
  cs_slice k, v;
  if (from == 0) {
    uint8_t key[CS_TERM_MAX + 8];
    size_t klen = cs_key_post(key, term, len, 0);
    rc = cs_cursor_seek(c->cur, sl(key, klen), &k, &v);
    if (!load_chunk(c, rc, k, v)) pcur_end(c, 0);
  } else {
    rc = seek_chunk(c, from, &k, &v);
    load_geq(c, rc, k, v, from);
  }
  if (c->docid == CS_DOCID_END) {
    rc = c->err ? c->err : CS_ENOTFOUND;
    cs_pcur_close(c);
    return rc;
  }
  *out = c;
  return 0;
}

void cs_pcur_close(cs_pcur *c) {
  if (!c) return;
  cs_cursor_close(c->cur);
  free(c->pos);
  free(c);
}

uint32_t cs_pcur_docid(const cs_pcur *c) {
  return c->docid;
}

uint32_t cs_pcur_tf(const cs_pcur *c) {
  return c->docid == CS_DOCID_END ? 0 : c->chunk.tf[c->i];
}

uint32_t cs_pcur_len(const cs_pcur *c) {
  return c->docid == CS_DOCID_END ? 0 : c->chunk.len[c->i];
}

uint32_t cs_pcur_block_last(const cs_pcur *c) {
  return c->docid == CS_DOCID_END ? CS_DOCID_END : c->chunk.last;
}

uint32_t cs_pcur_block_max_tf(const cs_pcur *c) {
  return c->chunk.max_tf;
}

uint32_t cs_pcur_block_min_len(const cs_pcur *c) {
  return c->chunk.min_len;
}

const cs_cbound *cs_pcur_block_cbound(const cs_pcur *c) {
  return c->docid != CS_DOCID_END && c->chunk.has_cb ? &c->chunk.cb : NULL;
}

uint32_t cs_pcur_peek(const cs_pcur *c, const uint32_t **docid, const uint32_t **tf,
                      const uint32_t **len) {
  if (c->docid == CS_DOCID_END) return 0;
  *docid = c->chunk.docid + c->i;
  *tf = c->chunk.tf + c->i;
  *len = c->chunk.len + c->i;
  return c->chunk.n - c->i;
}

int cs_pcur_error(const cs_pcur *c) {
  return c->err;
}

/* The chunk after the one read: its documents must come after that one's
 * (keys are in order of first docid, but a damaged chunk may overlap). */
static void next_chunk(cs_pcur *c) {
  cs_slice k, v;
  int64_t after = c->chunk.last;
  int rc = cs_cursor_next(c->cur, &k, &v);
  if (!load_chunk_after(c, rc, k, v, after)) pcur_end(c, 0);
}

void cs_pcur_next(cs_pcur *c) {
  if (c->docid == CS_DOCID_END) return;
  if (++c->i < c->chunk.n) {
    c->docid = c->chunk.docid[c->i];
    return;
  }
  next_chunk(c);
}

static int same_term(const cs_pcur *c, cs_slice k) {
  return k.len == c->len + 5 && memcmp(k.data, c->term, c->len) == 0 &&
         ((const uint8_t *)k.data)[c->len] == 0;
}

/* Positions the LMDB cursor on the term's chunk holding target: the one
 * starting at or before it, else the first after it (when it is the
 * term's; load_chunk checks). Returns how it was found, for load_chunk. */
static int seek_chunk(cs_pcur *c, uint32_t target, cs_slice *k, cs_slice *v) {
  uint8_t key[CS_TERM_MAX + 8];
  size_t klen = cs_key_post(key, c->term, c->len, target);
  int rc = cs_cursor_seek(c->cur, sl(key, klen), k, v);
  if (rc == 0 && k->len == klen && memcmp(k->data, key, klen) == 0) return 0;
  cs_slice pk, pv;
  int prc =
      rc == CS_ENOTFOUND ? cs_cursor_last(c->cur, &pk, &pv) : cs_cursor_prev(c->cur, &pk, &pv);
  if (prc == 0 && same_term(c, pk)) {
    *k = pk;
    *v = pv;
    return 0;
  }
  if (rc) return rc;
  return prc == 0 ? cs_cursor_next(c->cur, k, v) : cs_cursor_seek(c->cur, sl(key, klen), k, v);
}

void cs_pcur_advance_to(cs_pcur *c, const uint32_t *end) {
  if (c->docid == CS_DOCID_END) return;
  uint32_t i = (uint32_t)(end - c->chunk.docid);
  if (i >= c->chunk.n) {
    next_chunk(c);
    return;
  }
  if (i <= c->i) return; /* never backwards */
  c->i = i;
  c->docid = c->chunk.docid[i];
}

/* Moves to the first document >= target from the current one in the
 * chunk, or to the next chunk's first when there is none. */
static void find_in_chunk(cs_pcur *c, uint32_t target) {
  uint32_t lo = c->i, hi = c->chunk.n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (c->chunk.docid[mid] < target)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo >= c->chunk.n) {
    next_chunk(c);
    return;
  }
  c->i = lo;
  c->docid = c->chunk.docid[lo];
}

/* Loads the chunk under (k, v) (rc: how it was found) and moves to the
 * first document >= target: one step usually, more when load_chunk
 * stepped over a damaged chunk and landed short of target. */
static void load_geq(cs_pcur *c, int rc, cs_slice k, cs_slice v, uint32_t target) {
  if (!load_chunk(c, rc, k, v)) {
    pcur_end(c, 0);
    return;
  }
  while (target > c->chunk.last) {
    next_chunk(c);
    if (c->docid == CS_DOCID_END) return;
  }
  find_in_chunk(c, target);
}

void cs_pcur_next_geq(cs_pcur *c, uint32_t target) {
  if (c->docid == CS_DOCID_END || target <= c->docid) return;
  if (target > c->chunk.last) {
    /* Step over a neighbour chunk by its header, or seek far ahead. */
    cs_slice k, v;
    int rc = cs_cursor_next(c->cur, &k, &v);
    if (rc == 0 && k.len == c->len + 5 && memcmp(k.data, c->term, c->len + 1) == 0) {
      uint32_t first = cs_be32_get((const uint8_t *)k.data + c->len + 1), last, n, mt, ml;
      /* A damaged header: load_chunk reports the chunk and steps over it. */
      if (cs_chunk_peek(v.data, v.len, first, &last, &n, &mt, &ml) == 0 && target > last)
        rc = seek_chunk(c, target, &k, &v);
    }
    load_geq(c, rc, k, v, target);
    return;
  }
  find_in_chunk(c, target);
}

int cs_pcur_head_next(cs_pcur *c, cs_chunk_head *h) {
  if (c->docid == CS_DOCID_END) return CS_ENOTFOUND;
  cs_slice k, v;
  int rc = cs_cursor_next(c->cur, &k, &v);
  if (rc) return rc;
  c->ahead++;
  if (!same_term(c, k)) return CS_ENOTFOUND;
  h->first = cs_be32_get((const uint8_t *)k.data + c->len + 1);
  return cs_chunk_peek_cb(v.data, v.len, h->first, &h->last, &h->max_tf, &h->min_len, &h->has_cb,
                          &h->cb)
             ? CS_ECORRUPT
             : 0;
}

void cs_pcur_head_back(cs_pcur *c) {
  cs_slice k, v;
  for (; c->ahead; c->ahead--) {
    if (cs_cursor_prev(c->cur, &k, &v)) {
      /* Cannot happen (the steps were taken); the cursor finds its way
       * back to its document by key. */
      c->ahead = 1;
      cs_pcur_seek(c, c->docid);
      return;
    }
  }
}

void cs_pcur_seek(cs_pcur *c, uint32_t target) {
  if (!c->ahead) {
    cs_pcur_next_geq(c, target); /* no header read: where it is */
    return;
  }
  c->ahead = 0;
  if (c->docid == CS_DOCID_END) return;
  cs_slice k, v;
  int rc = seek_chunk(c, target, &k, &v);
  load_geq(c, rc, k, v, target);
}

void cs_pcur_finish(cs_pcur *c) {
  c->ahead = 0;
  pcur_end(c, 0);
}

/* The positions of document i of c's chunk. */
static int chunk_positions(cs_pcur *c, uint32_t i, const uint32_t **pos, uint32_t *n) {
  uint32_t tf = c->chunk.tf[i];
  if (tf > c->pos_cap) {
    uint32_t *p = realloc(c->pos, tf * sizeof *p);
    if (!p) return CS_ENOMEM;
    c->pos = p;
    c->pos_cap = tf;
  }
  int rc = cs_chunk_positions(&c->chunk, i, c->pos, c->pos_cap);
  if (rc == CS_ECORRUPT) {
    uint8_t key[CS_TERM_MAX + 8];
    cs_corrupt(CS_T_POST, sl(key, cs_key_post(key, c->term, c->len, c->chunk.first)));
  }
  if (rc) return rc;
  *pos = c->pos;
  *n = tf;
  return 0;
}

int cs_pcur_positions(cs_pcur *c, const uint32_t **pos, uint32_t *n) {
  if (c->docid == CS_DOCID_END) return CS_EINVAL;
  return chunk_positions(c, c->i, pos, n);
}

int cs_pcur_peek_positions(cs_pcur *c, const uint32_t *doc, const uint32_t **pos, uint32_t *n) {
  if (c->docid == CS_DOCID_END || doc < c->chunk.docid + c->i || doc >= c->chunk.docid + c->chunk.n)
    return CS_EINVAL;
  return chunk_positions(c, (uint32_t)(doc - c->chunk.docid), pos, n);
}
