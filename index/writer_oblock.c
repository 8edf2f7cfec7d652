/*
 * Per-owner df deltas into the blocks of CS_T_OLEX / CS_T_OWORDS (oblock.h).
 * Deltas come in logical key order. The stored block that holds the next
 * key (or, before every block, none) is read into memory with the range it
 * covers, up to the next block's key; deltas inside that range change it
 * there (entries updated, inserted, or dropped at df 0); the first delta
 * past it, or the end, writes it back cut into blocks of at most
 * CS_OBLOCK_BYTES, one owner per block. A first load, whose deltas all fall
 * past the last block, so writes its blocks in key order: full pages.
 */
#include "writer_int.h"

#include "corrupt.h"
#include "errors.h"
#include "grow.h"
#include "log.h"
#include "postings.h"
#include "varint.h"

#include <inttypes.h>

#include <stdlib.h>
#include <string.h>

struct cs__oent {
  size_t koff, voff; /* in m->arena */
  uint32_t klen, vlen;
};

static const uint8_t *ekey(const cs__omerge *m, size_t i) {
  return m->arena.p + m->e[i].koff;
}

static int ecmp(const cs__omerge *m, size_t i, const uint8_t *key, size_t len) {
  return cs_okey_cmp(ekey(m, i), m->e[i].klen, key, len);
}

void cs__om_begin(cs__omerge *m, cs_table t) {
  memset(m, 0, sizeof *m);
  m->t = t;
  cs_buf_init(&m->arena);
  cs_buf_init(&m->out);
}

/* Makes room for an entry at m->at. */
static int insert_at(cs__omerge *m) {
  if (cs_grow_from((void **)&m->e, &m->cap, m->n + 1, sizeof *m->e, 256)) return CS_ENOMEM;
  memmove(&m->e[m->at + 1], &m->e[m->at], (m->n - m->at) * sizeof *m->e);
  m->n++;
  return 0;
}

/* Appends entry (key, value lx) to the range in memory. */
static int append(cs__omerge *m, const uint8_t *key, size_t len, const cs_lex *lx) {
  m->at = m->n;
  if (insert_at(m)) return CS_ENOMEM;
  m->e[m->at].koff = m->arena.len;
  m->e[m->at].klen = (uint32_t)len;
  cs_buf_bytes(&m->arena, key, len);
  m->e[m->at].voff = m->arena.len;
  cs_lex_encode(&m->arena, lx);
  m->e[m->at].vlen = (uint32_t)(m->arena.len - m->e[m->at].voff);
  return m->arena.err;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* The range of the damaged block m->bkey, up to the bound or its owner's
 * last key, in memory again: for CS_T_OLEX counted from the postings (the
 * owner's documents holding each term; final, as the postings are flushed
 * first, so deltas skip the range from here), for CS_T_OWORDS empty (the
 * words of a text are not stored apart from it: what the deltas bring). */
static int heal(cs_writer *w, cs__omerge *m) {
  m->n = 0;
  cs_buf_reset(&m->arena);
  if (m->bklen < 8) {
    cs__wr_ochange_unknown(w); /* whose entries went is not known */
    return 0;
  }
  uint64_t owner = cs_be64_get(m->bkey);
  cs__wr_ochange_many(w, owner);                              /* what its entries were is lost */
  int upto = m->bounded && memcmp(m->bound, m->bkey, 8) == 0; /* else: the owner's end */
  cs_log(CS_LOG_WARN, "%s of owner %" PRIu64 ": damaged block in the index; %s",
         m->t == CS_T_OLEX ? "lexicon" : "word table", owner,
         m->t == CS_T_OLEX ? "counted again from the postings" : "dropped");
  if (m->t != CS_T_OLEX) return 0;
  struct cs__oheal *h;
  if (cs_grow((void **)&w->oheal, &w->oheal_cap, w->noheal + 1, sizeof *w->oheal)) return CS_ENOMEM;
  h = &w->oheal[w->noheal++];
  memcpy(h->lo, m->bkey, m->bklen);
  h->lolen = m->bklen;
  h->hilen = upto ? m->bdlen : 0;
  if (upto) memcpy(h->hi, m->bound, m->bdlen);
  uint32_t *docs;
  size_t nd;
  int rc = cs__wr_heal_owner_docids(w, owner, &docs, &nd);
  if (rc || !nd) return rc;
  cs_cursor *cur = NULL;
  rc = cs_cursor_open(w->txn, CS_T_POST, &cur);
  uint8_t pk[CS_TERM_MAX + 8], ok[CS_OKEY_MAX];
  cs_be64_put(ok, owner);
  size_t oklen = 0;
  cs_lex lx = {0, 0};
  cs_slice k, v;
  if (!rc)
    rc = cs_cursor_seek(cur, sl(pk, cs_key_post(pk, (const char *)m->bkey + 8, m->bklen - 8, 0)),
                        &k, &v);
  for (; !rc; rc = cs_cursor_next(cur, &k, &v)) {
    if (k.len < 6 || k.len - 5 > CS_OKEY_MAX - 8) continue;
    size_t tl = k.len - 5;
    if (oklen != 8 + tl || memcmp(ok + 8, k.data, tl) != 0) {
      if (lx.df && (rc = append(m, ok, oklen, &lx))) break;
      memcpy(ok + 8, k.data, tl);
      oklen = 8 + tl;
      lx.df = 0;
      if (upto && cs_okey_cmp(ok, oklen, m->bound, m->bdlen) >= 0) {
        oklen = 0;
        break;
      }
    }
    cs_chunk c;
    if (cs_corrupt_rc(
            cs_chunk_decode(v.data, v.len, cs_be32_get((const uint8_t *)k.data + tl + 1), &c),
            CS_T_POST, k))
      continue;
    for (uint32_t i = 0; i < c.n; i++)
      lx.df += bsearch(&c.docid[i], docs, nd, sizeof *docs, cmp_u32) != NULL;
  }
  if (rc == CS_ENOTFOUND) rc = 0;
  if (!rc && oklen && lx.df) rc = append(m, ok, oklen, &lx);
  cs_cursor_close(cur);
  free(docs);
  return rc;
}

int cs__wr_oheal_covers(const cs_writer *w, const uint8_t *key, size_t len) {
  for (size_t i = 0; i < w->noheal; i++) {
    const struct cs__oheal *h = &w->oheal[i];
    if (cs_okey_cmp(key, len, h->lo, h->lolen) < 0) continue;
    if (h->hilen ? cs_okey_cmp(key, len, h->hi, h->hilen) < 0 : memcmp(key, h->lo, 8) == 0)
      return 1;
  }
  return 0;
}

/* Reads the block that holds `key` (if any) and the bound of its range. */
static int load(cs_writer *w, cs__omerge *m, const uint8_t *key, size_t len) {
  int rc = m->c ? 0 : cs_cursor_open(w->txn, m->t, &m->c);
  if (rc) return rc;
  cs_cursor *c = m->c;
  cs_slice k, v, bk = {NULL, 0}, bv = {NULL, 0};
  m->bklen = 0;
  m->bounded = 0;
  rc = cs_cursor_seek(c, sl(key, len), &k, &v);
  if (rc == 0 && k.len == len && memcmp(k.data, key, len) == 0) {
    bk = k;
    bv = v;
    rc = cs_cursor_next(c, &k, &v);
  } else if (rc == 0 || rc == CS_ENOTFOUND) {
    int sought = rc;
    cs_slice pk, pv;
    rc = sought == 0 ? cs_cursor_prev(c, &pk, &pv) : cs_cursor_last(c, &pk, &pv);
    if (rc == 0) {
      bk = pk;
      bv = pv;
    }
    if (rc == 0 || rc == CS_ENOTFOUND) rc = sought;
  }
  /* rc: 0 with (k, v) the next block's key, CS_ENOTFOUND: none. */
  if (rc == 0 && k.len <= CS_OKEY_MAX) {
    memcpy(m->bound, k.data, k.len);
    m->bdlen = k.len;
    m->bounded = 1;
  }
  if (rc == CS_ENOTFOUND) rc = 0;
  if (!rc && bk.data) {
    cs_oblock_it it;
    rc = cs_oblock_begin(&it, bk, bv);
    while (!rc && (rc = cs_oblock_next(&it)) == 0) {
      m->at = m->n;
      if (insert_at(m)) {
        rc = CS_ENOMEM;
        break;
      }
      /* A value that does not decode damages its block as a bad layout
       * does: it is counted again below, not carried into the merge. */
      if (m->t == CS_T_OLEX ? cs_lex_decode(it.val.data, it.val.len, &(cs_lex){0, 0})
                            : cs_word_decode(it.val.data, it.val.len, &(cs_word){0})) {
        rc = CS_ECORRUPT;
        break;
      }
      m->e[m->at] = (struct cs__oent){m->arena.len, m->arena.len + it.klen, (uint32_t)it.klen,
                                      (uint32_t)it.val.len};
      cs_buf_bytes(&m->arena, it.key, it.klen);
      cs_buf_bytes(&m->arena, it.val.data, it.val.len);
    }
    if (rc == CS_ENOTFOUND) rc = m->arena.err;
    if (rc == CS_ECORRUPT && bk.len > CS_OKEY_MAX) {
      /* Its key is damaged too (none is written that long): there is no
       * range to count again from, so the block goes (verify then names
       * the owner's counts it held). */
      cs_corrupt(m->t, bk);
      cs_log(CS_LOG_WARN, "%s: damaged block key of %zu bytes; block dropped",
             m->t == CS_T_OLEX ? "per-owner lexicon" : "per-owner word table", bk.len);
      m->n = 0;
      cs_buf_reset(&m->arena);
      cs__wr_ochange_unknown(w);      /* its owner, from a damaged key, is not sure */
      uint8_t *copy = malloc(bk.len); /* bk lies in the page the delete changes */
      if (!copy) {
        rc = CS_ENOMEM;
      } else {
        memcpy(copy, bk.data, bk.len);
        rc = cs_del(w->txn, m->t, sl(copy, bk.len));
        free(copy);
      }
    } else {
      if (!rc || rc == CS_ECORRUPT) {
        memcpy(m->bkey, bk.data, bk.len);
        m->bklen = bk.len;
      }
      if (rc == CS_ECORRUPT) {
        cs_corrupt(m->t, bk);
        rc = heal(w, m);
      }
    }
  }
  m->at = 0;
  m->loaded = !rc;
  return rc;
}

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Bytes entry i takes in a block after entry i - 1 (first: as a block's
 * first). */
static size_t entry_bytes(const cs__omerge *m, size_t i, int first) {
  size_t shared = 0, kl = m->e[i].klen;
  if (!first) {
    const uint8_t *a = ekey(m, i - 1), *b = ekey(m, i);
    size_t pl = m->e[i - 1].klen;
    while (shared < pl && shared < kl && a[shared] == b[shared])
      shared++;
  }
  return varint_len(shared) + varint_len(kl - shared) + (kl - shared) + varint_len(m->e[i].vlen) +
         m->e[i].vlen;
}

/* Writes entries [from, to) (one owner's) as blocks of about equal size,
 * each at most CS_OBLOCK_BYTES: a block that an insertion later fills is
 * cut in two halves, not into a full one and a crumb. */
static int write_run(cs_writer *w, cs__omerge *m, size_t from, size_t to) {
  size_t total = 1;
  for (size_t i = from; i < to; i++)
    total += entry_bytes(m, i, i == from);
  size_t room = CS_OBLOCK_BYTES - CS_OKEY_MAX - 8; /* a block's first key is whole */
  size_t blocks = (total + room - 1) / room;
  size_t target = total / (blocks ? blocks : 1);
  int rc = 0;
  for (size_t i = from; !rc && i < to;) {
    size_t first = i;
    cs_buf_reset(&m->out);
    cs_oblock_start(&m->out);
    for (; i < to; i++) {
      size_t before = m->out.len;
      const uint8_t *prev = i > first ? ekey(m, i - 1) : NULL;
      cs_oblock_put(&m->out, prev, i > first ? m->e[i - 1].klen : 0, ekey(m, i), m->e[i].klen,
                    m->arena.p + m->e[i].voff, m->e[i].vlen);
      if (i > first && m->out.len > CS_OBLOCK_BYTES) {
        m->out.len = before; /* entry i starts the next block */
        break;
      }
      if (m->out.len >= target && to - i > 1) {
        i++;
        break;
      }
    }
    if (m->out.err) return m->out.err;
    /* The block loaded written back as it was (another owner's, loaded
     * because the new entries' range began in it) is left alone: no page to
     * dirty, and its owner's statistics are not reported changed
     * (records.h). Only it can exist under a key written here. */
    cs_slice key = sl(ekey(m, first), m->e[first].klen), was;
    if (m->bklen == key.len && memcmp(m->bkey, key.data, key.len) == 0 &&
        cs__wr_get_at(w, m->c, m->t, key, &was) == 0 && was.len == m->out.len &&
        memcmp(was.data, m->out.p, was.len) == 0)
      continue;
    rc = cs__wr_put_at(w, m->c, m->t, key, sl(m->out.p, m->out.len));
  }
  return rc;
}

/* Writes the entries in memory back in place of the block they came from,
 * one owner per block. */
static int write_back(cs_writer *w, cs__omerge *m) {
  int rc = 0;
  /* The first block written keeps the stored key (the usual case) and
   * replaces its value in one put: the old one is deleted only when not. */
  if (m->bklen &&
      !(m->n && m->e[0].klen == m->bklen && memcmp(ekey(m, 0), m->bkey, m->bklen) == 0)) {
    rc = cs_del(w->txn, m->t, sl(m->bkey, m->bklen));
    if (rc == CS_ENOTFOUND) rc = 0;
  }
  for (size_t i = 0; !rc && i < m->n;) {
    size_t j = i + 1;
    while (j < m->n && memcmp(ekey(m, j), ekey(m, i), 8) == 0)
      j++;
    rc = write_run(w, m, i, j);
    i = j;
  }
  m->n = 0;
  m->at = 0;
  m->loaded = 0;
  m->bklen = 0;
  cs_buf_reset(&m->arena);
  return rc;
}

int cs__om_add(cs_writer *w, cs__omerge *m, const char *k, size_t len, int64_t ddf,
               const char *stem) {
  const uint8_t *key = (const uint8_t *)k;
  if (ddf == 0 || len <= 8 || len > CS_OKEY_MAX) return 0;
  int rc = 0;
  /* Past the range in memory, or (never expected) not after the last key. */
  if (m->loaded && ((m->bounded && cs_okey_cmp(key, len, m->bound, m->bdlen) >= 0) ||
                    (m->last_len && cs_okey_cmp(key, len, m->last, m->last_len) <= 0)))
    rc = write_back(w, m);
  if (!rc && !m->loaded) rc = load(w, m, key, len);
  if (rc) return rc;
  /* In a range counted again (perhaps by that load): final already. */
  if (m->t == CS_T_OLEX && cs__wr_oheal_covers(w, key, len)) return 0;
  memcpy(m->last, key, len);
  m->last_len = len;
  while (m->at < m->n && ecmp(m, m->at, key, len) < 0)
    m->at++;
  int found = m->at < m->n && ecmp(m, m->at, key, len) == 0;
  int64_t df = ddf;
  if (found) {
    const uint8_t *v = m->arena.p + m->e[m->at].voff;
    cs_lex lx;
    cs_word wd;
    rc = m->t == CS_T_OLEX ? cs_lex_decode(v, m->e[m->at].vlen, &lx)
                           : cs_word_decode(v, m->e[m->at].vlen, &wd);
    if (rc) return cs_corrupt(m->t, sl(key, len));
    df += (int64_t)(m->t == CS_T_OLEX ? lx.df : wd.df);
  }
  if (df <= 0) {
    if (found) {
      memmove(&m->e[m->at], &m->e[m->at + 1], (m->n - m->at - 1) * sizeof *m->e);
      m->n--;
      cs__wr_ochange(w, m->t, key, len, 1);
    }
    return 0;
  }
  if (!found) {
    cs__wr_ochange(w, m->t, key, len, 0);
    if (insert_at(m)) return CS_ENOMEM;
    m->e[m->at].koff = m->arena.len;
    m->e[m->at].klen = (uint32_t)len;
    cs_buf_bytes(&m->arena, key, len);
  }
  size_t voff = m->arena.len;
  if (m->t == CS_T_OLEX) {
    cs_lex x = {(uint64_t)df, 0};
    cs_lex_encode(&m->arena, &x);
  } else {
    cs_word x = {(uint64_t)df, {stem, cs__slen(stem)}};
    cs_word_encode(&m->arena, &x);
  }
  m->e[m->at].voff = voff;
  m->e[m->at].vlen = (uint32_t)(m->arena.len - voff);
  return m->arena.err;
}

int cs__om_end(cs_writer *w, cs__omerge *m, int rc) {
  if (!rc && m->loaded) rc = write_back(w, m);
  cs_cursor_close(m->c);
  free(m->e);
  cs_buf_free(&m->arena);
  cs_buf_free(&m->out);
  memset(m, 0, sizeof *m);
  return rc;
}
