/*
 * Stored text compression: how a turn's text is laid out in its record.
 * Pure bytes in, bytes out (zstd, no dictionary: a dictionary trained on
 * the stored text would keep words of erased people in the files).
 *
 *   packed := codec:u8 text
 *   codec 0: text is varint length + the bytes as they are
 *   codec 1: varint plain length, varint packed length, then a zstd frame
 *            (magicless, no checksum, no content size: both lengths are ours)
 *
 * Short texts, and texts zstd does not shrink, are kept plain.
 */
#ifndef CS_TEXTPACK_H
#define CS_TEXTPACK_H

#include "records.h"

#include <stddef.h>

enum { CS_TEXT_PLAIN = 0, CS_TEXT_ZSTD = 1 };

/* A compressor (one per writer; not shared between threads). */
typedef struct cs_textpack cs_textpack;
cs_textpack *cs_textpack_create(void);
void cs_textpack_destroy(cs_textpack *z);

/* Appends the packed form of s[0..n) to b. z NULL: always plain. Errors go
 * to b->err (sticky). */
void cs_textpack_put(cs_textpack *z, cs_buf *b, const char *s, size_t n);

/* Reads a packed text. A plain text points into the record (*out); a
 * compressed one is described in *packed (out->p NULL, out->len its plain
 * length) until cs_textpack_unpack. CS_ECORRUPT on bad bytes. */
int cs_textpack_get(cs_rd *r, cs_str *out, cs_str *packed);

/* Decompresses `packed` (plain length `len`) into scratch (reset first)
 * and points *out at it. CS_ECORRUPT when the bytes do not decompress to
 * exactly len bytes, CS_ENOMEM. */
int cs_textpack_unpack(cs_str packed, size_t len, cs_buf *scratch, cs_str *out);

#endif
