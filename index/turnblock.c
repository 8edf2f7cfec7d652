/*
 * The turn block codec (layout in turnblock.h). Deltas are taken in
 * unsigned arithmetic, so any int64 times (-1: unknown) round-trip without
 * overflow.
 */
#include "turnblock.h"

#include "errors.h"
#include "tmarks.h"
#include "utf8.h"
#include "varint.h"

#include <string.h>

#define TBLOCK_V1 1

/* A text kept plain for its length (textpack.h) is a turn alone in its
 * block. */
_Static_assert(CS_TEXT_PLAIN_ABOVE == CS_TBLOCK_BYTES, "plain texts are the lone turns");

int cs_tblock_begin(cs_tblock_it *it, cs_slice k, cs_slice v) {
  memset(it, 0, sizeof *it);
  if (k.len != 12) return CS_ECORRUPT;
  cs_rd r;
  cs_rd_init(&r, v.data, v.len);
  if (cs_rd_u8(&r) != TBLOCK_V1) return CS_ECORRUPT;
  it->n = cs_rd_u32(&r);
  it->nspk = cs_rd_u32(&r);
  if (r.err || it->n == 0 || it->n > CS_TBLOCK_TURNS || it->nspk > it->n) return CS_ECORRUPT;
  it->spk = r.p;
  for (uint32_t i = 0; i < it->nspk; i++)
    cs_rd_text(&r); /* the turns' speakers: checked here, once a block */
  it->spk_end = r.p;
  uint64_t meta_len = cs_rd_varint(&r);
  if (r.err || meta_len > (size_t)(r.end - r.p)) return CS_ECORRUPT;
  cs_rd_init(&it->meta, r.p, (size_t)meta_len);
  r.p += meta_len;
  cs_packed pk;
  if (cs_textpack_get(&r, &it->text, &pk) || r.p != r.end) return CS_ECORRUPT;
  it->packed = pk.bytes;
  it->dict = pk.dict;
  it->codec = pk.codec;
  it->seq = cs_key_turn_seq(k.data);
  return 0;
}

int cs_tblock_texts(cs_tblock_it *it, cs_buf *scratch) {
  if (!it->packed.p) return 0;
  cs_packed pk = {it->packed, it->dict, it->codec};
  int rc = cs_textpack_unpack(&pk, it->text.len, scratch, &it->text);
  if (!rc) it->packed = (cs_str){NULL, 0};
  return rc;
}

int cs_tblock_next(cs_tblock_it *it, cs_turn *t) {
  cs_rd *r = &it->meta;
  if (it->i == it->n) return r->p == r->end && it->off == it->text.len ? CS_ENOTFOUND : CS_ECORRUPT;
  memset(t, 0, sizeof *t);
  if (it->i > 0) {
    int64_t seq = (int64_t)it->seq + 1 + (int64_t)cs_rd_u32(r);
    uint64_t docid = (uint64_t)it->docid + 1 + cs_rd_u32(r);
    if (seq > INT32_MAX || docid > UINT32_MAX) return CS_ECORRUPT;
    it->seq = (int32_t)seq;
    it->docid = (uint32_t)docid;
  } else {
    it->docid = cs_rd_u32(r);
  }
  uint64_t who = cs_rd_varint(r);
  uint64_t start = (uint64_t)(it->i ? it->end : 0) + (uint64_t)cs_rd_zigzag(r);
  uint64_t end = start + (uint64_t)cs_rd_zigzag(r);
  uint64_t len = cs_rd_varint(r);
  if (r->err || who / 3 >= it->nspk || len > it->text.len - it->off) return CS_ECORRUPT;
  if (len >= CS_TMARKS_MIN_TEXT && cs_tmarks_skip(r, &t->marks)) return CS_ECORRUPT;
  t->docid = it->docid;
  t->seq = it->seq;
  t->role = (uint8_t)(who % 3);
  cs_rd s;
  cs_rd_init(&s, it->spk, (size_t)(it->spk_end - it->spk));
  for (uint64_t i = 0; i < who / 3; i++)
    cs_rd_str(&s);
  t->speaker = cs_rd_str(&s);
  t->start_ms = (int64_t)start;
  t->end_ms = (int64_t)end;
  t->text = (cs_str){it->packed.p ? NULL : it->text.p + it->off, (size_t)len};
  /* (with its text at hand: marks off their chunks' first bytes would make
   * the highlighter mark other words) */
  if (t->text.p && t->marks.len && cs_tmarks_read(t->marks, t->text, NULL, SIZE_MAX) < 0)
    return CS_ECORRUPT;
  it->end = t->end_ms;
  it->off += (size_t)len;
  it->i++;
  return 0;
}

int cs_tblock_check(cs_slice k, cs_slice v, cs_buf *scratch) {
  cs_tblock_it it;
  int rc = cs_tblock_begin(&it, k, v);
  if (!rc) rc = cs_tblock_texts(&it, scratch);
  cs_turn t;
  while (!rc && !(rc = cs_tblock_next(&it, &t)))
    if (!cs_utf8_valid(t.text.p, t.text.len)) rc = CS_ECORRUPT; /* the writer stores UTF-8 */
  return rc == CS_ENOTFOUND ? 0 : rc;
}

/* ---------------------------------------------------------------- builder */

void cs_tblock_b_init(cs_tblock_b *b, uint64_t conv) {
  memset(b, 0, sizeof *b);
  b->conv = conv;
}

void cs_tblock_b_free(cs_tblock_b *b) {
  cs_buf_free(&b->meta);
  cs_buf_free(&b->text);
  cs_buf_free(&b->spk);
}

int cs_tblock_b_fits(const cs_tblock_b *b, const cs_turn *t) {
  return b->n == 0 || (b->n < CS_TBLOCK_TURNS && b->text.len + t->text.len <= CS_TBLOCK_BYTES);
}

static uint32_t speaker_index(cs_tblock_b *b, cs_str s) {
  for (uint32_t i = 0; i < b->nspk; i++)
    if (b->spk_len[i] == s.len && (!s.len || !memcmp(b->spk.p + b->spk_off[i], s.p, s.len)))
      return i; /* (an empty speaker: spk.p may still be NULL) */
  b->spk_off[b->nspk] = (uint32_t)b->spk.len;
  b->spk_len[b->nspk] = (uint32_t)s.len;
  cs_buf_bytes(&b->spk, s.p, s.len);
  return b->nspk++;
}

void cs_tblock_b_add(cs_tblock_b *b, const cs_turn *t) {
  uint64_t who = (uint64_t)speaker_index(b, t->speaker) * 3 + (t->role % 3);
  if (b->n == 0) {
    b->first_seq = t->seq;
    cs_buf_varint(&b->meta, t->docid);
    cs_buf_varint(&b->meta, who);
    cs_buf_zigzag(&b->meta, t->start_ms);
  } else {
    cs_buf_varint(&b->meta, (uint32_t)((uint32_t)t->seq - (uint32_t)b->seq - 1));
    cs_buf_varint(&b->meta, t->docid - b->docid - 1);
    cs_buf_varint(&b->meta, who);
    cs_buf_zigzag(&b->meta, (int64_t)((uint64_t)t->start_ms - (uint64_t)b->end));
  }
  cs_buf_zigzag(&b->meta, (int64_t)((uint64_t)t->end_ms - (uint64_t)t->start_ms));
  cs_buf_varint(&b->meta, t->text.len);
  if (t->text.len >= CS_TMARKS_MIN_TEXT) {
    if (t->marks.len)
      cs_buf_bytes(&b->meta, t->marks.p, t->marks.len);
    else
      cs_buf_varint(&b->meta, 0);
  }
  cs_buf_bytes(&b->text, t->text.p, t->text.len);
  b->seq = t->seq;
  b->docid = t->docid;
  b->end = t->end_ms;
  b->n++;
}

int cs_tblock_b_encode(cs_tblock_b *b, cs_textpack *z, uint8_t key[12], cs_buf *out) {
  cs_buf_reset(out);
  if (b->n == 0) return 0;
  int rc = b->meta.err ? b->meta.err : b->text.err ? b->text.err : b->spk.err;
  if (!rc) {
    cs_key_turn(key, b->conv, b->first_seq);
    cs_buf_u8(out, TBLOCK_V1);
    cs_buf_varint(out, b->n);
    cs_buf_varint(out, b->nspk);
    for (uint32_t i = 0; i < b->nspk; i++)
      cs_buf_str(out, (const char *)b->spk.p + b->spk_off[i], b->spk_len[i]);
    cs_buf_varint(out, b->meta.len);
    cs_buf_bytes(out, b->meta.p, b->meta.len);
    cs_textpack_put(z, out, (const char *)b->text.p, b->text.len);
    rc = out->err ? CS_ENOMEM : 0;
  }
  b->n = b->nspk = 0;
  cs_buf_reset(&b->meta);
  cs_buf_reset(&b->text);
  cs_buf_reset(&b->spk);
  return rc;
}
