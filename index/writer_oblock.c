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

/* Reads the block that holds `key` (if any) and the bound of its range. */
static int load(cs_writer *w, cs__omerge *m, const uint8_t *key, size_t len) {
  cs_cursor *c;
  int rc = cs_cursor_open(w->txn, m->t, &c);
  if (rc) return rc;
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
      m->e[m->at] = (struct cs__oent){m->arena.len, m->arena.len + it.klen, (uint32_t)it.klen,
                                      (uint32_t)it.val.len};
      cs_buf_bytes(&m->arena, it.key, it.klen);
      cs_buf_bytes(&m->arena, it.val.data, it.val.len);
    }
    if (rc == CS_ENOTFOUND) rc = m->arena.err;
    if (rc == CS_ECORRUPT) cs_corrupt(m->t, bk);
    if (!rc) {
      memcpy(m->bkey, bk.data, bk.len);
      m->bklen = bk.len;
    }
  }
  cs_cursor_close(c);
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
    rc = cs__wr_put_buf(w, m->t, ekey(m, first), m->e[first].klen, &m->out);
  }
  return rc;
}

/* Writes the entries in memory back in place of the block they came from,
 * one owner per block. */
static int write_back(cs_writer *w, cs__omerge *m) {
  int rc = 0;
  if (m->bklen) {
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
    }
    return 0;
  }
  if (!found) {
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
  free(m->e);
  cs_buf_free(&m->arena);
  cs_buf_free(&m->out);
  memset(m, 0, sizeof *m);
  return rc;
}
