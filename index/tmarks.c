/*
 * Word-scan restart points (layout in tmarks.h).
 */
#include "tmarks.h"

#include "errors.h"
#include "varint.h"

/* The analyzer's chunk separators (analyzer.c is_space). */
static int is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0;
}

void cs_tmarks_build(const char *text, size_t len, const cs_token *t, size_t n, cs_buf *out) {
  cs_buf_reset(out);
  if (len < CS_TMARKS_MIN_TEXT) return;
  const uint8_t *p = (const uint8_t *)text;
  uint32_t np = 0, pp = 0, po = 0;
  cs_buf body;
  cs_buf_init(&body);
  for (size_t i = CS_TMARKS_EVERY; i < n; i++) {
    uint32_t s = t[i].start;
    if (t[i].pos != i || s == 0 || s >= len || !is_space(p[s - 1]) || is_space(p[s])) continue;
    if (i - pp < CS_TMARKS_EVERY || s <= po) continue;
    cs_buf_varint(&body, i - pp);
    cs_buf_varint(&body, s - po);
    pp = (uint32_t)i;
    po = s;
    np++;
  }
  cs_buf_varint(out, np);
  cs_buf_bytes(out, body.p, body.len);
  if (body.err) out->err = body.err;
  cs_buf_free(&body);
}

long cs_tmarks_read(cs_str marks, cs_str text, cs_tmark *out, size_t cap) {
  cs_rd r;
  cs_rd_init(&r, marks.p, marks.len);
  uint64_t n = cs_rd_varint(&r), pos = 0, off = 0;
  const uint8_t *p = (const uint8_t *)text.p;
  if (r.err || n > cap) return -1;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t dp = cs_rd_varint(&r), doff = cs_rd_varint(&r);
    pos += dp;
    off += doff;
    if (r.err || dp == 0 || doff == 0 || pos > UINT32_MAX || off >= text.len) return -1;
    /* Where the builder puts a mark: a chunk's first byte (mid-word or
     * mid-character, the scan from it would not be the text's). */
    if (p && (!is_space(p[off - 1]) || is_space(p[off]))) return -1;
    if (out) out[i] = (cs_tmark){(uint32_t)pos, (uint32_t)off};
  }
  return r.p == r.end ? (long)n : -1;
}

int cs_tmarks_skip(cs_rd *r, cs_str *marks) {
  const uint8_t *b = r->p;
  uint64_t n = cs_rd_varint(r);
  if (r->err || n > (uint64_t)(r->end - r->p)) return CS_ECORRUPT;
  for (uint64_t i = 0; i < 2 * n; i++)
    (void)cs_rd_varint(r);
  if (r->err) return CS_ECORRUPT;
  *marks = (cs_str){(const char *)b, (size_t)(r->p - b)};
  return 0;
}
