/*
 * The lexicon in RAM (see lexcache.h).
 */
#include "lexcache.h"
#include "corrupt.h"

#include "analyzer.h"
#include "errors.h"
#include "grow.h"
#include "records.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(CS__LEX_MAXCP == CS_TERM_MAX + 1, "a key's code points as the walk reads them");

/* A table of more entries is not copied (the server's memory stays small:
 * ~50 bytes an entry), and tried again only 10x later. */
#define MAX_ENTRIES 300000

/* The array and its pools, in one allocation each. */
typedef struct lexbuf {
  cs__lexarr a;
  cs__lexent *e;
  size_t cap;
  char *bytes;
  size_t nb, bcap;
  uint32_t *cps;
  size_t ncps, ccap;
} lexbuf;

int cs__utf8_decode(const char *s, size_t n, uint32_t *cp, uint32_t *ends, int max) {
  const unsigned char *p = (const unsigned char *)s;
  int k = 0;
  size_t i = 0;
  while (i < n && k < max) {
    uint32_t c = p[i];
    size_t len = 1;
    if (c >= 0xF0)
      len = 4;
    else if (c >= 0xE0)
      len = 3;
    else if (c >= 0xC0)
      len = 2;
    if (i + len > n) len = 1;
    if (len == 2) c = (c & 0x1F) << 6 | (p[i + 1] & 0x3F);
    if (len == 3) c = (c & 0x0F) << 12 | (uint32_t)(p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F);
    if (len == 4)
      c = (c & 0x07) << 18 | (uint32_t)(p[i + 1] & 0x3F) << 12 | (uint32_t)(p[i + 2] & 0x3F) << 6 |
          (p[i + 3] & 0x3F);
    cp[k] = c;
    i += len;
    if (ends) ends[k] = (uint32_t)i;
    k++;
  }
  return k;
}

static int slot_of(cs_table t) {
  switch (t) {
  case CS_T_WORDS:
    return CS__SC_WORDS;
  case CS_T_LEX:
    return CS__SC_LEX;
  case CS_T_OWORDS:
    return CS__SC_OWORDS;
  case CS_T_OLEX:
    return CS__SC_OLEX;
  default:
    return -1;
  }
}

static const cs_table slot_table[] = {CS_T_WORDS, CS_T_LEX, CS_T_OWORDS, CS_T_OLEX};

static void arr_free(cs__snapobj *o) {
  lexbuf *b = (lexbuf *)o; /* the first member */
  free(b->e);
  free(b->bytes);
  free(b->cps);
  free(b);
}

static int add_bytes(lexbuf *b, const void *p, size_t n, uint32_t *off) {
  if (b->nb + n > UINT32_MAX) return CS_ENOMEM;
  if (cs_grow((void **)&b->bytes, &b->bcap, b->nb + n, 1)) return CS_ENOMEM;
  if (n) memcpy(b->bytes + b->nb, p, n);
  *off = (uint32_t)b->nb;
  b->nb += n;
  return 0;
}

static int add_entry(lexbuf *b, cs_slice key, cs_slice val, size_t kplen, int words) {
  if (cs_grow((void **)&b->e, &b->cap, b->a.n + 1, sizeof *b->e)) return CS_ENOMEM;
  if (cs_grow((void **)&b->cps, &b->ccap, b->ncps + CS__LEX_MAXCP, sizeof *b->cps))
    return CS_ENOMEM;
  cs__lexent *x = &b->e[b->a.n];
  memset(x, 0, sizeof *x);
  if (key.len > UINT16_MAX) return 0; /* no such key: terms are short */
  int rc = add_bytes(b, key.data, key.len, &x->key);
  if (rc) return rc;
  x->klen = (uint16_t)key.len;
  size_t kp = kplen < key.len ? kplen : key.len;
  const uint8_t *kb = (const uint8_t *)key.data + kp;
  size_t i = 0;
  while (i < key.len - kp && kb[i] < 0x80)
    i++;
  if (i == key.len - kp) {
    x->cp = CS__LEX_ASCII;
    x->ncp = (uint8_t)(i < CS__LEX_MAXCP ? i : CS__LEX_MAXCP);
  } else {
    x->cp = (uint32_t)b->ncps;
    x->ncp = (uint8_t)cs__utf8_decode((const char *)kb, key.len - kp, b->cps + b->ncps, NULL,
                                      CS__LEX_MAXCP);
    b->ncps += x->ncp;
  }
  if (b->a.n > 0) {
    const cs__lexent *p = x - 1;
    const uint8_t *pk = (const uint8_t *)b->bytes + p->key, *k = (const uint8_t *)b->bytes + x->key;
    size_t lim = p->klen < x->klen ? p->klen : x->klen, l = 0;
    /* 8 bytes at a time: an owner table's keys all begin with the same 8
     * (the owner). */
    for (uint64_t u, v; l + 8 <= lim; l += 8) {
      memcpy(&u, pk + l, 8);
      memcpy(&v, k + l, 8);
      if (u != v) break;
    }
    while (l < lim && pk[l] == k[l])
      l++;
    x->lcpb = (uint8_t)(l > 255 ? 255 : l);
    int c = 0;
    if (l >= kplen && p->cp == CS__LEX_ASCII && x->cp == CS__LEX_ASCII) {
      /* One code point a byte: as many as the bytes they share past the
       * scope's prefix, up to the code points kept (ncp). */
      size_t nc = p->ncp < x->ncp ? p->ncp : x->ncp;
      c = (int)(l - kplen < nc ? l - kplen : nc);
    } else if (l >= kplen) { /* the same scope */
      b->a.bytes = b->bytes;
      b->a.cps = b->cps;
      uint32_t pbuf[CS__LEX_MAXCP], xbuf[CS__LEX_MAXCP];
      const uint32_t *pc = cs__lexent_cps(&b->a, p, pbuf), *xc = cs__lexent_cps(&b->a, x, xbuf);
      int cl = p->ncp < x->ncp ? p->ncp : x->ncp;
      while (c < cl && pc[c] == xc[c])
        c++;
    }
    x->lcpc = (uint8_t)c;
  }
  if (words) {
    cs_word w;
    if (cs_corrupt_rc(cs_word_decode(val.data, val.len, &w), b->a.table, key) == 0 &&
        w.stem.len <= UINT8_MAX) {
      rc = add_bytes(b, w.stem.p, w.stem.len, &x->stem);
      if (rc) return rc;
      x->slen = (uint8_t)w.stem.len;
      x->df = w.df > UINT32_MAX ? UINT32_MAX : (uint32_t)w.df;
      x->ok = 1;
    }
  } else {
    cs_lex lx;
    if (cs_corrupt_rc(cs_lex_decode(val.data, val.len, &lx), b->a.table, key) == 0) {
      x->df = lx.df > UINT32_MAX ? UINT32_MAX : (uint32_t)lx.df;
      x->ok = 1;
    }
  }
  b->a.n++;
  return 0;
}

/* Gives back what an array holds past its first `n` bytes (kept when the
 * allocator cannot). */
static void trim(void **p, size_t n) {
  if (!*p || !n) return;
  void *q = realloc(*p, n);
  if (q) *p = q;
}

/* A copy of the kind's table (of one owner's part for the owner tables)
 * as r's snapshot holds it. */
static int build(cs_reader *r, int kind, uint64_t owner, cs__snapobj *prev, cs__snapobj **out) {
  (void)prev;
  *out = NULL;
  lexbuf *b = calloc(1, sizeof *b);
  if (!b) return CS_ENOMEM;
  cs_table t = slot_table[kind];
  b->a.o.free = arr_free;
  b->a.table = t;
  int words = t == CS_T_WORDS || t == CS_T_OWORDS;
  size_t kplen = t == CS_T_OWORDS || t == CS_T_OLEX ? 8 : 0;
  b->a.kplen = kplen;
  uint8_t pfx[8];
  if (kplen) cs_key_u64(pfx, owner);
  cs_rcur *cur = NULL;
  int rc = cs_reader_cursor(r, t, &cur);
  cs_slice k, v;
  if (!rc) rc = kplen ? cs_rcur_seek(cur, (cs_slice){pfx, 8}, &k, &v) : cs_rcur_first(cur, &k, &v);
  while (rc == 0 && (!kplen || (k.len >= 8 && memcmp(k.data, pfx, 8) == 0))) {
    rc = b->a.n < MAX_ENTRIES ? add_entry(b, k, v, kplen, words) : CS__SNAP_SKIP;
    if (!rc) rc = cs_rcur_next(cur, &k, &v);
  }
  cs_rcur_close(cur);
  if (rc == CS_ENOTFOUND) rc = 0;
  if (rc) {
    arr_free(&b->a.o);
    return rc;
  }
  /* Kept as long as the owner's version lasts: no room to grow. */
  trim((void **)&b->e, b->a.n * sizeof *b->e);
  trim((void **)&b->bytes, b->nb);
  trim((void **)&b->cps, b->ncps * sizeof *b->cps);
  if (!b->ncps) { /* every key ASCII: no code points kept */
    free(b->cps);
    b->cps = NULL;
  }
  b->a.e = b->e;
  b->a.bytes = b->bytes;
  b->a.cps = b->cps;
  b->a.o.bytes = sizeof *b + b->a.n * sizeof *b->e + b->nb + b->ncps * sizeof *b->cps;
  *out = &b->a.o;
  return 0;
}

cs__lexarr *cs__lexcache_get(cs__snapcache *c, cs_reader *r, cs_table t, uint64_t owner,
                             uint64_t version) {
  /* The first member. */
  return (cs__lexarr *)cs__snapcache_obtain_owner(c, r, slot_of(t), owner, version, build);
}

void cs__lexcache_owe(cs__snapcache *c, cs_table t, uint64_t owner, int64_t ns) {
  cs__snapcache_owe(c, slot_of(t), owner, ns);
}

void cs__lexarr_release(cs__snapcache *c, cs__lexarr *a) {
  cs__snapobj_release(c, a ? &a->o : NULL);
}

static int key_less(const cs__lexarr *a, size_t i, const void *key, size_t len) {
  const cs__lexent *x = &a->e[i];
  size_t n = x->klen < len ? x->klen : len;
  int c = memcmp(a->bytes + x->key, key, n);
  return c < 0 || (c == 0 && x->klen < len);
}

size_t cs__lexarr_seek(const cs__lexarr *a, size_t from, const void *key, size_t len) {
  /* Galloping from `from`: the walks seek a little way ahead. */
  size_t lo = from < a->n ? from : a->n, hi = a->n;
  for (size_t step = 1; lo < a->n; step *= 2) {
    size_t probe = lo + step - 1;
    if (probe >= a->n) break;
    if (!key_less(a, probe, key, len)) {
      hi = probe;
      break;
    }
    lo = probe + 1;
  }
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (key_less(a, mid, key, len))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}
