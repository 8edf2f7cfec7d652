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

int cs_chunk_decode(const uint8_t *p, size_t len, uint32_t first, cs_chunk *c) {
  const uint8_t *end = p + len;
  uint32_t docs_bytes;
  int rc = read_header(&p, end, first, &c->n, &c->last, &c->max_tf, &c->min_len, &docs_bytes,
                       &c->has_cb, &c->cb);
  if (rc) return rc;
  c->first = first;
  const uint8_t *dend = p + docs_bytes;
  /* The documents' (delta, length) pairs: no bounds check while 10 bytes
   * are left (two varints of at most 5 bytes). Checks are gathered in
   * `bad` and read once: a delta of 0 but for the first document's, a
   * length below the chunk's least (or 0). The docids cannot wrap: the
   * deltas add up in 64 bits, and the sum must come to the header's last
   * docid. */
  uint64_t d = first;
  uint32_t lo = c->min_len ? c->min_len : 1;
  unsigned bad = 0;
  for (uint32_t i = 0; i < c->n; i++) {
    uint32_t delta, dl;
    if (dend - p >= 10) {
      delta = get32_unchecked(&p, &bad);
      dl = get32_unchecked(&p, &bad);
    } else if (get32(&p, dend, &delta) || get32(&p, dend, &dl)) {
      return CS_ECORRUPT;
    }
    bad |= ((i == 0) != (delta == 0)) | (dl < lo);
    d += delta;
    c->docid[i] = (uint32_t)d;
    c->len[i] = dl;
    c->tf[i] = 1;
  }
  if (bad || d != c->last) return CS_ECORRUPT;
  /* The tfs above 1, after the bitmap of the documents that have one (a
   * loop over its set bits: no branch per document on its tf). */
  size_t nb = (c->n + 7) / 8;
  if ((size_t)(dend - p) < nb) return CS_ECORRUPT;
  const uint8_t *bm = p;
  p += nb;
  for (size_t j = 0; j < nb; j++) {
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
  /* Docs section first, at an offset that leaves room for the header. */
  uint8_t *docs = buf + HDR_MAX;
  size_t dn = 0;
  for (uint32_t i = from; i < from + count; i++) {
    uint32_t delta = i == from ? 0 : l->docid[i] - l->docid[i - 1];
    dn += cs_varint_put(docs + dn, delta);
    dn += cs_varint_put(docs + dn, l->len[i]);
  }
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
