/*
 * LEB128-style unsigned varints and fixed-width big-endian integers, shared by
 * the postings codec and the record codec. Decoders never read past `end`
 * and report truncation instead.
 */
#ifndef CS_VARINT_H
#define CS_VARINT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Writes v at p (room for 10 bytes needed); returns bytes written. */
static inline size_t cs_varint_put(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* Reads a varint from [*p, end); advances *p. Returns 0, or -1 when the
 * input ends inside the varint or the value does not fit 64 bits. */
static inline int cs_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  const uint8_t *q = *p;
  uint64_t r = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (q >= end) return -1;
    uint8_t b = *q++;
    r |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (shift == 63 && b > 1) return -1;
      *p = q;
      *v = r;
      return 0;
    }
  }
  return -1;
}

static inline void cs_be32_put(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline uint32_t cs_be32_get(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void cs_be64_put(uint8_t *p, uint64_t v) {
  cs_be32_put(p, (uint32_t)(v >> 32));
  cs_be32_put(p + 4, (uint32_t)v);
}
static inline uint64_t cs_be64_get(const uint8_t *p) {
  return (uint64_t)cs_be32_get(p) << 32 | cs_be32_get(p + 4);
}

/* Zigzag for signed values (times, offsets that may be negative). */
static inline uint64_t cs_zigzag(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t cs_unzigzag(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
