/*
 * Per-owner statistics blocks: the codec and the logical view (oblock.h).
 */
#include "oblock.h"

#include "corrupt.h"
#include "errors.h"
#include "varint.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- codec */

int cs_oblock_begin(cs_oblock_it *it, cs_slice k, cs_slice v) {
  memset(it, 0, sizeof *it);
  const uint8_t *p = v.data;
  if (v.len < 2 || p[0] != CS_RECORD_V1 || k.len == 0 || k.len > CS_OKEY_MAX) return CS_ECORRUPT;
  it->p = p + 1;
  it->end = p + v.len;
  memcpy(it->key, k.data, k.len); /* what the first entry's key must be */
  it->klen = k.len;
  return 0;
}

int cs_oblock_next(cs_oblock_it *it) {
  if (it->p == it->end) return it->started ? CS_ENOTFOUND : CS_ECORRUPT;
  uint64_t shared, slen, vlen;
  const uint8_t *p = it->p;
  if (cs_varint_get(&p, it->end, &shared) || cs_varint_get(&p, it->end, &slen) ||
      shared > it->klen || slen > CS_OKEY_MAX - shared || slen > (uint64_t)(it->end - p))
    return CS_ECORRUPT;
  const uint8_t *suffix = p;
  p += slen;
  if (cs_varint_get(&p, it->end, &vlen) || vlen > (uint64_t)(it->end - p)) return CS_ECORRUPT;
  if (!it->started) {
    /* The first key is the stored one. */
    if (shared != 0 || slen != it->klen || memcmp(suffix, it->key, slen) != 0) return CS_ECORRUPT;
  } else if (slen == 0 || (shared < it->klen && suffix[0] <= it->key[shared])) {
    /* Not after the previous key, or `shared` not the whole common
     * prefix (the encoder's is): either way not a block we wrote. */
    return CS_ECORRUPT;
  }
  for (size_t i = 0; i < slen; i++) /* a few bytes: no call */
    it->key[shared + i] = suffix[i];
  it->klen = shared + slen;
  it->shared = shared;
  it->val = (cs_slice){p, vlen};
  it->p = p + vlen;
  it->started = 1;
  return 0;
}

int cs_oblock_check(cs_table t, cs_slice k, cs_slice v) {
  cs_oblock_it it;
  int rc = cs_oblock_begin(&it, k, v);
  while (!rc && (rc = cs_oblock_next(&it)) == 0) {
    cs_lex lx;
    cs_word wd;
    rc = t == CS_T_OLEX ? cs_lex_decode(it.val.data, it.val.len, &lx)
                        : cs_word_decode(it.val.data, it.val.len, &wd);
  }
  return rc == CS_ENOTFOUND ? 0 : rc;
}

void cs_oblock_start(cs_buf *b) {
  cs_buf_u8(b, CS_RECORD_V1);
}

void cs_oblock_put(cs_buf *b, const uint8_t *prev, size_t plen, const uint8_t *key, size_t klen,
                   const void *val, size_t vlen) {
  size_t shared = 0;
  while (shared < plen && shared < klen && prev[shared] == key[shared])
    shared++;
  cs_buf_varint(b, shared);
  cs_buf_varint(b, klen - shared);
  cs_buf_bytes(b, key + shared, klen - shared);
  cs_buf_varint(b, vlen);
  cs_buf_bytes(b, val, vlen);
}

/* ---------------------------------------------------------------- view */

#define CS_KCHUNK 65536

struct cs_kchunk {
  struct cs_kchunk *next;
  size_t used;
  uint8_t data[CS_KCHUNK];
};

static const uint8_t *karena_copy(cs_karena *a, const uint8_t *p, size_t n) {
  if (!a->head || CS_KCHUNK - a->head->used < n) {
    struct cs_kchunk *k = malloc(sizeof *k);
    if (!k) return NULL;
    k->next = a->head;
    k->used = 0;
    a->head = k;
  }
  uint8_t *out = a->head->data + a->head->used;
  for (size_t i = 0; i < n; i++) /* a short key: no call */
    out[i] = p[i];
  a->head->used += n;
  return out;
}

void cs_karena_free(cs_karena *a) {
  while (a->head) {
    struct cs_kchunk *k = a->head;
    a->head = k->next;
    free(k);
  }
}

struct cs_ocur {
  cs_cursor *c;
  cs_table t;
  cs_karena *keys; /* NULL: keys in it.key */
  cs_slice bkey;   /* the stored key of the block being read */
  cs_oblock_it it;
};

int cs_ocur_open(cs_txn *t, cs_table tbl, cs_karena *keys, cs_ocur **out) {
  cs_ocur *c = calloc(1, sizeof *c);
  if (!c) return CS_ENOMEM;
  c->keys = keys;
  int rc = cs_cursor_open(t, tbl, &c->c);
  if (rc) {
    free(c);
    return rc;
  }
  c->t = tbl;
  *out = c;
  return 0;
}

void cs_ocur_close(cs_ocur *c) {
  if (!c) return;
  cs_cursor_close(c->c);
  free(c);
}

cs_slice cs_ocur_block(const cs_ocur *c) {
  return c->bkey;
}

static int entry(const cs_ocur *c, cs_slice *k, cs_slice *v) {
  const uint8_t *key = c->keys ? karena_copy(c->keys, c->it.key, c->it.klen) : c->it.key;
  if (!key) return CS_ENOMEM;
  if (k) *k = (cs_slice){key, c->it.klen};
  if (v) *v = c->it.val;
  return 0;
}

/* From the stored block under (rc, k, v) on: onto its first entry, or, when
 * it is damaged (reported), the first entry of the next sound one. */
static int first_from(cs_ocur *c, int rc, cs_slice k, cs_slice v) {
  for (; rc == 0; rc = cs_cursor_next(c->c, &k, &v)) {
    c->bkey = k;
    if (cs_oblock_begin(&c->it, k, v) == 0 && cs_oblock_next(&c->it) == 0) return 0;
    cs_corrupt(c->t, k);
  }
  return rc;
}

/* Onto the next logical entry. */
static int step(cs_ocur *c) {
  int rc = cs_oblock_next(&c->it);
  if (rc != CS_ENOTFOUND) {
    if (rc == 0) return 0;
    cs_corrupt(c->t, c->bkey); /* the rest of the block is lost */
  }
  cs_slice bk, bv;
  rc = cs_cursor_next(c->c, &bk, &bv);
  return first_from(c, rc, bk, bv);
}

/* Common prefix length of a[0..an) and b[0..bn). */
static size_t lcp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  size_t i = 0, n = an < bn ? an : bn;
  while (i < n && a[i] == b[i])
    i++;
  return i;
}

/* From the entry `it` is on, onto the first key >= kp[0..kn) of its block:
 * 0 there, CS_ENOTFOUND past the block's last, CS_ECORRUPT. Front coding
 * spares most comparisons: an entry that keeps more of the previous key
 * than the previous key had in common with kp is still before it; one that
 * keeps less is past it (its next byte grew where the previous key's
 * matched kp's). */
static int it_scan(cs_oblock_it *it, const uint8_t *kp, size_t kn) {
  size_t common = lcp(it->key, it->klen, kp, kn);
  for (;;) {
    if (common == kn || (common < it->klen && it->key[common] > kp[common])) return 0;
    size_t before = common; /* the current key is before kp */
    int rc = cs_oblock_next(it);
    if (rc) return rc;
    if (it->shared < before) return 0;
    if (it->shared == before)
      common = before + lcp(it->key + before, it->klen - before, kp + before, kn - before);
  }
}

/* From the entry the cursor is on, onto the first key >= key. */
static int scan_to(cs_ocur *c, cs_slice key) {
  for (;;) {
    int rc = it_scan(&c->it, key.data, key.len);
    if (rc == 0) return 0;
    if (rc != CS_ENOTFOUND) cs_corrupt(c->t, c->bkey); /* the rest of the block is lost */
    cs_slice bk, bv;
    rc = cs_cursor_next(c->c, &bk, &bv);
    rc = first_from(c, rc, bk, bv);
    if (rc) return rc;
  }
}

/* Onto the first logical key >= key. */
static int seek(cs_ocur *c, cs_slice key) {
  cs_slice bk, bv;
  int rc = cs_cursor_seek(c->c, key, &bk, &bv);
  if (rc == 0 && bk.len == key.len && memcmp(bk.data, key.data, key.len) == 0)
    return first_from(c, rc, bk, bv);
  if (rc && rc != CS_ENOTFOUND) return rc;
  /* key lies in the block before (if any) or before every block. */
  int prc = rc == 0 ? cs_cursor_prev(c->c, &bk, &bv) : cs_cursor_last(c->c, &bk, &bv);
  if (prc == CS_ENOTFOUND) {
    if (rc) return rc; /* an empty table */
    rc = cs_cursor_seek(c->c, key, &bk, &bv);
    return first_from(c, rc, bk, bv);
  }
  if (prc) return prc;
  rc = first_from(c, 0, bk, bv);
  return rc ? rc : scan_to(c, key);
}

int cs_ocur_first(cs_ocur *c, cs_slice *k, cs_slice *v) {
  cs_slice bk, bv;
  int rc = cs_cursor_first(c->c, &bk, &bv);
  rc = first_from(c, rc, bk, bv);
  return rc ? rc : entry(c, k, v);
}

int cs_ocur_next(cs_ocur *c, cs_slice *k, cs_slice *v) {
  int rc = step(c);
  return rc ? rc : entry(c, k, v);
}

int cs_ocur_seek(cs_ocur *c, cs_slice key, cs_slice *k, cs_slice *v) {
  int rc = seek(c, key);
  return rc ? rc : entry(c, k, v);
}

void cs_oblock_hint_free(cs_oblock_hint *h) {
  cs_cursor_close(h->c);
  memset(h, 0, sizeof *h);
}

/* Points the hint at the block that would hold key: CS_ENOTFOUND when key
 * comes before every block. */
static int locate(cs_txn *t, cs_table tbl, cs_oblock_hint *h, cs_slice key) {
  h->valid = h->bounded = 0;
  if (!h->c) {
    int rc = cs_cursor_open(t, tbl, &h->c);
    if (rc) return rc;
  }
  cs_slice k, v, next = {NULL, 0};
  int rc = cs_cursor_seek(h->c, key, &k, &v);
  if (rc == 0 && k.len == key.len && memcmp(k.data, key.data, key.len) == 0) {
    h->bk = k;
    h->bv = v;
    cs_slice nv;
    rc = cs_cursor_next(h->c, &next, &nv);
    if (rc && rc != CS_ENOTFOUND) return rc;
  } else {
    if (rc && rc != CS_ENOTFOUND) return rc;
    if (rc == 0) next = k;
    rc = rc == 0 ? cs_cursor_prev(h->c, &h->bk, &h->bv) : cs_cursor_last(h->c, &h->bk, &h->bv);
    if (rc) return rc;
  }
  if (next.data && next.len <= CS_OKEY_MAX) {
    memcpy(h->bound, next.data, next.len);
    h->blen = next.len;
    h->bounded = 1;
  }
  h->valid = 1;
  return 0;
}

int cs_oblock_get(cs_txn *t, cs_table tbl, cs_oblock_hint *h, cs_slice key, cs_slice *val) {
  if (key.len == 0 || key.len > CS_OKEY_MAX) return CS_ENOTFOUND;
  int rc = 0;
  if (!h->valid || cs_okey_cmp(h->bk.data, h->bk.len, key.data, key.len) > 0 ||
      (h->bounded && cs_okey_cmp(key.data, key.len, h->bound, h->blen) >= 0))
    rc = locate(t, tbl, h, key);
  if (rc) return rc;
  cs_oblock_it it;
  rc = cs_oblock_begin(&it, h->bk, h->bv);
  if (!rc) rc = cs_oblock_next(&it);
  if (!rc) rc = it_scan(&it, key.data, key.len);
  if (!rc) {
    if (it.klen != key.len || memcmp(it.key, key.data, key.len) != 0) return CS_ENOTFOUND;
    *val = it.val;
    return 0;
  }
  if (rc == CS_ECORRUPT) {
    h->valid = 0;
    return cs_corrupt(tbl, h->bk);
  }
  return rc;
}
