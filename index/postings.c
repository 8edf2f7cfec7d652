/*
 * The postings codec (grammar in postings.h).
 */
#include "postings.h"

#include "errors.h"
#include "varint.h"

#include <stdlib.h>
#include <string.h>

/* A varint of at most 32 bits, in at most 5 bytes: the writer never spells
 * one longer, and get32_unchecked (below) refuses them too. */
static int get32(const uint8_t **p, const uint8_t *end, uint32_t *v) {
  const uint8_t *from = *p;
  uint64_t x;
  if (cs_varint_get(p, end, &x) || x > UINT32_MAX || *p - from > 5) return -1;
  *v = (uint32_t)x;
  return 0;
}

/* The conversation bound after the header's fixed fields (cbound.h). */
static int read_cbound(const uint8_t **p, const uint8_t *end, cs_cbound *cb) {
  uint32_t kinds;
  if (get32(p, end, &kinds) || !kinds || (kinds & ~0xEu)) return CS_ECORRUPT;
  for (int k = 0; k < CS_CB_KINDS; k++) {
    cb->avg[k] = 0;
    if ((kinds & (1u << k)) && (get32(p, end, &cb->avg[k]) || !cb->avg[k])) return CS_ECORRUPT;
  }
  return get32(p, end, &cb->c) ? CS_ECORRUPT : 0;
}

static int read_header(const uint8_t **p, const uint8_t *end, uint32_t first, uint32_t *n,
                       uint32_t *last, uint32_t *max_tf, uint32_t *min_len, uint32_t *docs_bytes,
                       int *has_cb, cs_cbound *cb) {
  uint32_t span, mtc;
  if (get32(p, end, n) || get32(p, end, &span) || get32(p, end, &mtc) || get32(p, end, min_len) ||
      get32(p, end, docs_bytes))
    return CS_ECORRUPT;
  *max_tf = mtc >> 1;
  *has_cb = (int)(mtc & 1);
  if (*n == 0 || *n > CS_CHUNK_DOCS || span > UINT32_MAX - 1 - first) return CS_ECORRUPT;
  if (*max_tf == 0 || *max_tf > CS_TF_MAX) return CS_ECORRUPT;
  if (*has_cb && read_cbound(p, end, cb)) return CS_ECORRUPT;
  if (*docs_bytes > (size_t)(end - *p)) return CS_ECORRUPT;
  *last = first + span;
  return 0;
}

int cs_chunk_peek(const uint8_t *p, size_t len, uint32_t first, uint32_t *last, uint32_t *ndocs,
                  uint32_t *max_tf, uint32_t *min_len) {
  uint32_t docs_bytes;
  int has_cb;
  cs_cbound cb;
  return read_header(&p, p + len, first, ndocs, last, max_tf, min_len, &docs_bytes, &has_cb, &cb);
}

int cs_chunk_peek_cb(const uint8_t *p, size_t len, uint32_t first, uint32_t *last, uint32_t *max_tf,
                     uint32_t *min_len, int *has_cb, cs_cbound *cb) {
  uint32_t docs_bytes, n;
  return read_header(&p, p + len, first, &n, last, max_tf, min_len, &docs_bytes, has_cb, cb);
}

/* One varint of at most 32 bits, with no bounds check: the caller has
 * made sure 5 bytes are there. A fifth byte that goes on, or sets bits
 * past 32, sets *bad (as get32 refuses them). */
static inline uint32_t get32_unchecked(const uint8_t **pp, unsigned *bad) {
  const uint8_t *p = *pp;
  uint32_t b = p[0], r;
  if (b < 0x80) {
    *pp = p + 1;
    return b;
  }
  r = b & 0x7f;
  b = p[1];
  r |= (b & 0x7f) << 7;
  if (b < 0x80) {
    *pp = p + 2;
    return r;
  }
  b = p[2];
  r |= (b & 0x7f) << 14;
  if (b < 0x80) {
    *pp = p + 3;
    return r;
  }
  b = p[3];
  r |= (b & 0x7f) << 21;
  if (b < 0x80) {
    *pp = p + 4;
    return r;
  }
  b = p[4];
  *bad |= b > 0x0f;
  *pp = p + 5;
  return r | b << 28;
}

/* The w-bit field (w <= 32) at bit `bit` of the packed fields at p, read
 * as one little-endian 64-bit word: the caller has made sure 8 bytes are
 * there from the field's first byte. */
static inline uint32_t field_fast(const uint8_t *p, size_t bit, unsigned w) {
  uint64_t x;
  memcpy(&x, p + bit / 8, sizeof x);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  x = __builtin_bswap64(x);
#endif
  return (uint32_t)((x >> (bit % 8)) & ((1ull << w) - 1));
}

/* The same, a byte at a time, never past p[0..nbytes). */
static uint32_t field_safe(const uint8_t *p, size_t nbytes, size_t bit, unsigned w) {
  uint64_t x = 0;
  size_t b = bit / 8;
  for (unsigned k = 0; k < 8 && b + k < nbytes; k++)
    x |= (uint64_t)p[b + k] << (8 * k);
  return (uint32_t)((x >> (bit % 8)) & ((1ull << w) - 1));
}

/* Bytes of n fields of w bits and m of v bits, packed one after another. */
static size_t packed_bytes(uint32_t n, unsigned w, uint32_t m, unsigned v) {
  return ((size_t)n * w + (size_t)m * v + 7) / 8;
}

/* The packed docids and lengths: docs 1..n-1's deltas (wd bits each, > 0),
 * then every doc's length above the chunk's least (wl bits each), in
 * nbytes. Fast reads when room (the bytes from p to the chunk's end) holds
 * 8 past nbytes: a field of 0 bits may start at byte nbytes, and each fast
 * read takes 8 bytes from its field's first byte (the tf map and the
 * positions follow the fields); careful ones otherwise. Returns 0, or
 * CS_ECORRUPT on a delta of 0, deltas that do not add up to the header's
 * last docid, a length that wraps, or padding bits set. */
static int unpack_docs(const uint8_t *p, size_t nbytes, size_t room, unsigned wd, unsigned wl,
                       cs_chunk *c) {
  uint32_t n = c->n;
  size_t lbit = (size_t)(n - 1) * wd;
  uint64_t d = c->first;
  unsigned bad = 0;
  uint32_t lo = c->min_len;
  c->docid[0] = c->first;
  if (room >= nbytes + 8) {
    for (uint32_t i = 1; i < n; i++) {
      uint32_t delta = field_fast(p, (size_t)(i - 1) * wd, wd);
      bad |= delta == 0;
      d += delta;
      c->docid[i] = (uint32_t)d;
    }
    for (uint32_t i = 0; i < n; i++) {
      uint32_t len = lo + field_fast(p, lbit + (size_t)i * wl, wl);
      bad |= len < lo;
      c->len[i] = len;
      c->tf[i] = 1;
    }
  } else {
    for (uint32_t i = 1; i < n; i++) {
      uint32_t delta = field_safe(p, nbytes, (size_t)(i - 1) * wd, wd);
      bad |= delta == 0;
      d += delta;
      c->docid[i] = (uint32_t)d;
    }
    for (uint32_t i = 0; i < n; i++) {
      uint32_t len = lo + field_safe(p, nbytes, lbit + (size_t)i * wl, wl);
      bad |= len < lo;
      c->len[i] = len;
      c->tf[i] = 1;
    }
  }
  size_t used = lbit + (size_t)n * wl;
  if (used % 8) bad |= (p[used / 8] >> (used % 8)) != 0;
  return bad || d != c->last ? CS_ECORRUPT : 0;
}

int cs_chunk_decode(const uint8_t *p, size_t len, uint32_t first, cs_chunk *c) {
  const uint8_t *end = p + len;
  uint32_t docs_bytes;
  int rc = read_header(&p, end, first, &c->n, &c->last, &c->max_tf, &c->min_len, &docs_bytes,
                       &c->has_cb, &c->cb);
  if (rc) return rc;
  c->first = first;
  const uint8_t *dend = p + docs_bytes;
  /* The fields' widths, then the fields (unpack_docs). Every length is at
   * least 1: the chunk's least is. */
  if (dend - p < 2 || p[0] > 32 || p[1] > 32 || c->min_len == 0) return CS_ECORRUPT;
  unsigned wd = p[0], wl = p[1];
  p += 2;
  size_t nb = packed_bytes(c->n - 1, wd, c->n, wl);
  if ((size_t)(dend - p) < nb || unpack_docs(p, nb, (size_t)(end - p), wd, wl, c))
    return CS_ECORRUPT;
  p += nb;
  /* The tfs above 1, after the bitmap of the documents that have one (a
   * loop over its set bits: no branch per document on its tf). */
  size_t nm = (c->n + 7) / 8;
  if ((size_t)(dend - p) < nm) return CS_ECORRUPT;
  const uint8_t *bm = p;
  p += nm;
  for (size_t j = 0; j < nm; j++) {
    for (unsigned m = bm[j]; m; m &= m - 1) {
      uint32_t x = (uint32_t)(j * 8 + (size_t)__builtin_ctz(m)), tf;
      if (x >= c->n || get32(&p, dend, &tf) || tf < 2 || tf > c->max_tf || c->len[x] < tf)
        return CS_ECORRUPT;
      c->tf[x] = tf;
    }
  }
  if (p != dend) return CS_ECORRUPT;
  c->pos_begin = c->pos_next = dend;
  c->pos_end = end;
  c->pos_doc = 0;
  return 0;
}

int cs_chunk_positions(cs_chunk *c, uint32_t i, uint32_t *out, uint32_t cap) {
  if (i >= c->n) return CS_EINVAL;
  if (i < c->pos_doc) {
    c->pos_next = c->pos_begin;
    c->pos_doc = 0;
  }
  /* Step over the documents before i: their positions are varints, each
   * ended by a byte below 0x80 (a value out of range there is found when
   * that document is read). */
  const uint8_t *p = c->pos_next;
  uint64_t skip = 0;
  for (uint32_t j = c->pos_doc; j < i; j++)
    skip += c->tf[j];
  for (; skip; p++) {
    if (p >= c->pos_end) return CS_ECORRUPT;
    skip -= *p < 0x80;
  }
  c->pos_doc = i;
  c->pos_next = p;
  if (c->tf[i] > cap) return CS_ELIMIT;
  uint64_t pos = 0;
  unsigned bad = 0;
  for (uint32_t k = 0; k < c->tf[i]; k++) {
    uint32_t delta;
    if (c->pos_end - p >= 5)
      delta = get32_unchecked(&p, &bad);
    else if (get32(&p, c->pos_end, &delta))
      return CS_ECORRUPT;
    bad |= (k > 0) & (delta == 0);
    pos += delta;
    out[k] = (uint32_t)pos;
  }
  if (bad || pos > UINT32_MAX) return CS_ECORRUPT;
  /* The last document's positions end the chunk: bytes past them are
   * damage (a chunk extended with garbage), not postings. */
  if (i + 1 == c->n && p != c->pos_end) return CS_ECORRUPT;
  return 0;
}

void cs_plist_init(cs_plist *l) {
  memset(l, 0, sizeof *l);
}

void cs_plist_free(cs_plist *l) {
  free(l->docid);
  free(l->tf);
  free(l->len);
  free(l->pos);
  cs_plist_init(l);
}

void cs_plist_clear(cs_plist *l) {
  l->n = 0;
  l->npos = 0;
}

static int grow_docs(cs_plist *l) {
  if (l->n < l->cap) return 0;
  uint32_t cap = l->cap ? l->cap * 2 : 16;
  uint32_t *a = realloc(l->docid, cap * sizeof *a);
  if (!a) return CS_ENOMEM;
  l->docid = a;
  a = realloc(l->tf, cap * sizeof *a);
  if (!a) return CS_ENOMEM;
  l->tf = a;
  a = realloc(l->len, cap * sizeof *a);
  if (!a) return CS_ENOMEM;
  l->len = a;
  l->cap = cap;
  return 0;
}

static int grow_pos(cs_plist *l, size_t more) {
  if (l->npos + more <= l->pos_cap) return 0;
  size_t cap = l->pos_cap ? l->pos_cap : 64;
  while (cap < l->npos + more)
    cap *= 2;
  uint32_t *a = realloc(l->pos, cap * sizeof *a);
  if (!a) return CS_ENOMEM;
  l->pos = a;
  l->pos_cap = cap;
  return 0;
}

int cs_plist_add(cs_plist *l, uint32_t docid, uint32_t len, const uint32_t *pos, uint32_t tf) {
  if (tf == 0 || tf > CS_TF_MAX || (l->n && docid <= l->docid[l->n - 1])) return CS_EINVAL;
  if (grow_docs(l) || grow_pos(l, tf)) return CS_ENOMEM;
  l->docid[l->n] = docid;
  l->tf[l->n] = tf;
  l->len[l->n] = len < tf ? tf : len;
  l->n++;
  memcpy(l->pos + l->npos, pos, tf * sizeof *pos);
  l->npos += tf;
  return 0;
}

int cs_plist_add1(cs_plist *l, uint32_t docid, uint32_t len, uint32_t pos) {
  if (grow_docs(l) || grow_pos(l, 1)) return CS_ENOMEM;
  l->docid[l->n] = docid;
  l->tf[l->n] = 1;
  l->len[l->n] = len ? len : 1;
  l->n++;
  l->pos[l->npos++] = pos;
  return 0;
}

int cs_plist_add_chunk(cs_plist *l, cs_chunk *c) {
  for (uint32_t i = 0; i < c->n; i++) {
    if (l->n && c->docid[i] <= l->docid[l->n - 1]) return CS_ECORRUPT;
    if (grow_docs(l) || grow_pos(l, c->tf[i])) return CS_ENOMEM;
    int rc = cs_chunk_positions(c, i, l->pos + l->npos, c->tf[i]);
    if (rc) return rc;
    l->docid[l->n] = c->docid[i];
    l->tf[l->n] = c->tf[i];
    l->len[l->n] = c->len[i];
    l->n++;
    l->npos += c->tf[i];
  }
  return 0;
}

int cs_plist_remove(cs_plist *l, uint32_t docid) {
  size_t off = 0;
  for (uint32_t i = 0; i < l->n; i++) {
    if (l->docid[i] == docid) {
      uint32_t tf = l->tf[i];
      memmove(l->pos + off, l->pos + off + tf, (l->npos - off - tf) * sizeof *l->pos);
      l->npos -= tf;
      uint32_t rest = l->n - i - 1;
      memmove(l->docid + i, l->docid + i + 1, rest * sizeof *l->docid);
      memmove(l->tf + i, l->tf + i + 1, rest * sizeof *l->tf);
      memmove(l->len + i, l->len + i + 1, rest * sizeof *l->len);
      l->n--;
      return 1;
    }
    if (l->docid[i] > docid) return 0;
    off += l->tf[i];
  }
  return 0;
}

/* Bits needed for x: 0 for 0. */
static unsigned bit_width(uint32_t x) {
  return x ? 32 - (unsigned)__builtin_clz(x) : 0;
}

/* Room for the header: five varints, and a bound's five. */
#define HDR_MAX (10 * 5)

int cs_chunk_encode(const cs_plist *l, uint32_t from, uint32_t count, const cs_cbound *cb,
                    uint8_t **out, size_t *out_len) {
  *out = NULL;
  if (count == 0 || count > CS_CHUNK_DOCS || from + count > l->n) return CS_EINVAL;
  size_t pos_from = 0;
  for (uint32_t i = 0; i < from; i++)
    pos_from += l->tf[i];
  size_t npos = 0;
  uint32_t max_tf = 0, min_len = UINT32_MAX;
  for (uint32_t i = from; i < from + count; i++) {
    npos += l->tf[i];
    if (l->tf[i] > max_tf) max_tf = l->tf[i];
    if (l->len[i] < min_len) min_len = l->len[i];
  }
  size_t cap = HDR_MAX + (size_t)count * 16 + npos * 5;
  uint8_t *buf = malloc(cap);
  if (!buf) return CS_ENOMEM;
  /* Docs section first, at an offset that leaves room for the header:
   * the fields' widths, then the packed fields (unpack_docs). */
  uint8_t *docs = buf + HDR_MAX;
  uint32_t max_delta = 0, max_above = 0;
  for (uint32_t i = from; i < from + count; i++) {
    if (i > from && l->docid[i] - l->docid[i - 1] > max_delta)
      max_delta = l->docid[i] - l->docid[i - 1];
    if (l->len[i] - min_len > max_above) max_above = l->len[i] - min_len;
  }
  unsigned wd = bit_width(max_delta), wl = bit_width(max_above);
  docs[0] = (uint8_t)wd;
  docs[1] = (uint8_t)wl;
  size_t dn = 2;
  size_t nbits = 0;
  uint64_t acc = 0; /* bits not yet written, from the low end */
  for (uint32_t i = from; i < from + 2 * count; i++) {
    uint32_t v, w;
    if (i < from + count) {
      if (i == from) continue;
      v = l->docid[i] - l->docid[i - 1];
      w = wd;
    } else {
      v = l->len[i - count] - min_len;
      w = wl;
    }
    acc |= (uint64_t)v << nbits;
    nbits += w;
    while (nbits >= 8) {
      docs[dn++] = (uint8_t)acc;
      acc >>= 8;
      nbits -= 8;
    }
  }
  if (nbits) docs[dn++] = (uint8_t)acc;
  uint8_t *bm = docs + dn;
  size_t nb = (count + 7) / 8;
  memset(bm, 0, nb);
  dn += nb;
  for (uint32_t i = from; i < from + count; i++) {
    if (l->tf[i] < 2) continue;
    bm[(i - from) / 8] |= (uint8_t)(1u << ((i - from) % 8));
    dn += cs_varint_put(docs + dn, l->tf[i]);
  }
  uint8_t hdr[HDR_MAX];
  size_t hn = 0;
  hn += cs_varint_put(hdr + hn, count);
  hn += cs_varint_put(hdr + hn, l->docid[from + count - 1] - l->docid[from]);
  /* A bound of no kind is not one: left out. */
  uint32_t kinds = 0;
  for (int k = 1; cb && k < CS_CB_KINDS; k++)
    kinds |= cb->avg[k] ? 1u << k : 0;
  if (!kinds) cb = NULL;
  hn += cs_varint_put(hdr + hn, 2 * (uint64_t)max_tf + (cb != NULL));
  hn += cs_varint_put(hdr + hn, min_len);
  hn += cs_varint_put(hdr + hn, dn);
  if (cb) {
    hn += cs_varint_put(hdr + hn, kinds);
    for (int k = 1; k < CS_CB_KINDS; k++) {
      if (cb->avg[k]) hn += cs_varint_put(hdr + hn, cb->avg[k]);
    }
    hn += cs_varint_put(hdr + hn, cb->c);
  }
  memmove(buf + hn, docs, dn);
  memcpy(buf, hdr, hn);
  size_t n = hn + dn;
  const uint32_t *pos = l->pos + pos_from;
  for (uint32_t i = from; i < from + count; i++) {
    for (uint32_t k = 0; k < l->tf[i]; k++) {
      n += cs_varint_put(buf + n, k == 0 ? pos[k] : pos[k] - pos[k - 1]);
    }
    pos += l->tf[i];
  }
  *out = buf;
  *out_len = n;
  return 0;
}
