/*
 * The passage block codec (layout in passblock.h).
 */
#include "passblock.h"

#include "errors.h"
#include "varint.h"

#include <string.h>

#define PBLOCK_V1 1

void cs_pblock_key(uint8_t key[12], uint64_t conv, uint32_t n) {
  cs_be64_put(key, conv);
  cs_be32_put(key + 8, n - n % CS_PBLOCK_PASSAGES);
}

void cs_pblock_b_init(cs_pblock_b *w) {
  memset(w, 0, sizeof *w);
}

void cs_pblock_b_free(cs_pblock_b *w) {
  cs_buf_free(&w->b);
}

static uint64_t diff(int64_t a, int64_t b) {
  return cs_zigzag((int64_t)((uint64_t)a - (uint64_t)b));
}

void cs_pblock_b_add(cs_pblock_b *w, const cs_passage *p) {
  cs_buf *b = &w->b;
  if (w->n == 0) {
    cs_buf_varint(b, p->docid);
    cs_buf_zigzag(b, p->first_seq);
  } else {
    cs_buf_varint(b, p->docid - w->prev.docid - 1);
    cs_buf_varint(b, diff(p->first_seq, w->prev.last_seq));
  }
  cs_buf_varint(b, (uint32_t)p->last_seq - (uint32_t)p->first_seq);
  cs_buf_varint(b, p->first_off);
  cs_buf_varint(b, p->last_end);
  cs_buf_varint(b, w->n ? diff(p->start_ms, w->prev.end_ms) : cs_zigzag(p->start_ms));
  cs_buf_varint(b, diff(p->end_ms, p->start_ms));
  w->prev = *p;
  w->n++;
}

int cs_pblock_b_encode(cs_pblock_b *w, cs_buf *out) {
  cs_buf_reset(out);
  int rc = 0;
  if (w->n) {
    cs_buf_u8(out, PBLOCK_V1);
    cs_buf_varint(out, w->n);
    cs_buf_bytes(out, w->b.p, w->b.len);
    rc = out->err || w->b.err ? CS_ENOMEM : 0;
  }
  w->n = 0;
  cs_buf_reset(&w->b);
  return rc;
}

int cs_pblock_begin(cs_pblock_it *it, const void *p, size_t len) {
  memset(it, 0, sizeof *it);
  cs_rd_init(&it->r, p, len);
  if (cs_rd_u8(&it->r) != PBLOCK_V1) return CS_ECORRUPT;
  it->n = cs_rd_u32(&it->r);
  return it->r.err || it->n == 0 || it->n > CS_PBLOCK_PASSAGES ? CS_ECORRUPT : 0;
}

int cs_pblock_next(cs_pblock_it *it, cs_passage *out) {
  cs_rd *r = &it->r;
  if (it->i == it->n) return r->p == r->end && !r->err ? CS_ENOTFOUND : CS_ECORRUPT;
  int64_t first;
  uint64_t docid;
  if (it->i == 0) {
    docid = cs_rd_u32(r);
    first = cs_rd_zigzag(r);
  } else {
    docid = (uint64_t)it->prev.docid + 1 + cs_rd_u32(r);
    first = (int64_t)((uint64_t)it->prev.last_seq + (uint64_t)cs_rd_zigzag(r));
  }
  if (first < INT32_MIN || first > INT32_MAX) return CS_ECORRUPT;
  int64_t last = first + (int64_t)cs_rd_u32(r);
  out->first_off = cs_rd_u32(r);
  out->last_end = cs_rd_u32(r);
  uint64_t start = (uint64_t)(it->i ? it->prev.end_ms : 0) + (uint64_t)cs_rd_zigzag(r);
  uint64_t end = start + (uint64_t)cs_rd_zigzag(r);
  if (r->err || docid > UINT32_MAX || last > INT32_MAX) return CS_ECORRUPT;
  out->docid = (uint32_t)docid;
  out->first_seq = (int32_t)first;
  out->last_seq = (int32_t)last;
  out->start_ms = (int64_t)start;
  out->end_ms = (int64_t)end;
  it->prev = *out;
  it->i++;
  return 0;
}

int cs_pblock_get(const void *p, size_t len, uint32_t i, cs_passage *out) {
  cs_pblock_it it;
  int rc = cs_pblock_begin(&it, p, len);
  for (uint32_t k = 0; !rc && k <= i; k++)
    rc = cs_pblock_next(&it, out);
  return rc;
}

int cs_pblock_check(const void *p, size_t len) {
  cs_pblock_it it;
  cs_passage x;
  int rc = cs_pblock_begin(&it, p, len);
  while (!rc)
    rc = cs_pblock_next(&it, &x);
  return rc == CS_ENOTFOUND ? 0 : rc;
}
