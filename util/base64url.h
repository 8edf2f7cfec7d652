/*
 * base64url (RFC 4648 section 5: A-Z a-z 0-9 '-' '_'), written without '='
 * padding. One module for the per-employee tokens (api/auth.c) and the
 * paging cursors of search and people (query/).
 *
 * Decoding is strict: only the alphabet, no whitespace, a length that some
 * byte string encodes to (never 1 mod 4), and zero unused bits in the last
 * character, so that each byte string has exactly one accepted encoding.
 * '=' padding is refused unless the caller's format tolerates it
 * (CS_B64URL_PADDING); then 1 or 2 '=' are taken when they complete a
 * multiple of 4 characters.
 */
#ifndef CS_BASE64URL_H
#define CS_BASE64URL_H

#include <stddef.h>
#include <stdint.h>

/* Characters (without the NUL) that n bytes encode to. */
size_t cs_b64url_len(size_t n);

/* Writes the encoding of in[0..n) and a NUL to out. Returns the length
 * written (without the NUL), or -1 when cap is too small (out is then "" if
 * cap > 0). */
int cs_b64url_encode(const void *in, size_t n, char *out, size_t cap);

#define CS_B64URL_PADDING 1 /* tolerate '=' padding */

/* Decodes in[0..n) into out. Returns the number of bytes decoded, or -1 on
 * a character outside the alphabet, a bad length, non-zero unused bits, or
 * when cap is too small. flags: 0 or CS_B64URL_PADDING. */
int cs_b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap, int flags);

#endif
