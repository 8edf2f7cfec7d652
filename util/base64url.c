/*
 * base64url (see base64url.h).
 */
#include "base64url.h"

#include <limits.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t cs_b64url_len(size_t n) {
  return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

int cs_b64url_encode(const void *in, size_t n, char *out, size_t cap) {
  const uint8_t *p = in;
  if (n > (size_t)INT_MAX / 4 * 3 || cs_b64url_len(n) + 1 > cap) {
    if (cap) out[0] = 0;
    return -1;
  }
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = alphabet[v >> 18 & 63];
    out[o++] = alphabet[v >> 12 & 63];
    out[o++] = alphabet[v >> 6 & 63];
    out[o++] = alphabet[v & 63];
  }
  if (n - i) {
    uint32_t v = (uint32_t)p[i] << 16 | (n - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);
    out[o++] = alphabet[v >> 18 & 63];
    out[o++] = alphabet[v >> 12 & 63];
    if (n - i == 2) out[o++] = alphabet[v >> 6 & 63];
  }
  out[o] = 0;
  return (int)o;
}

static int value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

int cs_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, int flags) {
  size_t pad = 0;
  if (flags & CS_B64URL_PADDING) {
    while (n > 0 && in[n - 1] == '=' && pad < 2) {
      n--;
      pad++;
    }
    if (pad && (n + pad) % 4 != 0) return -1;
  }
  if (n % 4 == 1 || n / 4 > (size_t)INT_MAX / 3 - 1) return -1;
  size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
  if (need > cap) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = value((unsigned char)in[i]);
    if (v < 0) return -1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* Unused bits must be zero: one encoding per byte string. */
  return acc ? -1 : (int)o;
}
