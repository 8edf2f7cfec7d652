/*
 * Stored text compression: how a turn's text is laid out in its record.
 * Pure bytes in, bytes out.
 *
 *   packed := codec:u8 text
 *   codec 0: text is varint length + the bytes as they are
 *   codec 1: varint plain length, varint packed length, then a zstd frame
 *            (magicless, no checksum, no content size: both lengths are ours)
 *   codec 2: varint dictionary id, then as codec 1, the frame compressed
 *            with that dictionary (META zdict)
 *   codec 3: varint dictionary id, varint plain length, varint packed
 *            length, then an LZ4 block whose history is that dictionary's
 *            content (format 8)
 *
 * Short texts, and texts the codec does not shrink, are kept plain. Texts
 * of CS_TEXT_LZ4_MIN bytes or more (a long turn alone in its block) are
 * LZ4 once there is a dictionary: a snippet decompresses its whole block,
 * and zstd decodes ~0.5 GB/s where LZ4 decodes ~2 GB/s (measured on
 * ParlaMint's long turns: 2.3 against 0.66 us per block), for ~0.75 of the
 * text instead of ~0.47. Texts of more than CS_TEXT_PLAIN_ABOVE bytes and
 * fewer than CS_TEXT_LZ4_MIN (a turn alone in its block, turnblock.h) are
 * kept plain, read in place: a zstd frame of that size cost ~1.2 us to
 * decode and LZ4 ~0.4 us, for 0.53 and 0.81 of the text, and a snippet
 * reads the whole text to show ~300 bytes of it (an employee's search on
 * ParlaMint: 6-9 % less CPU plain in process, 3 % with LZ4; the index 1.08x as
 * large, the interviews' 1.02x: bench/analysis.md). Below that zstd's
 * entropy coding is kept: the portal's short turns are most of its index.
 *
 * The dictionary (one per index, META zdict := u8 version, be64 checksum of
 * the rest, a zstd dictionary) is built by the writer once it has seen
 * CS_ZDICT_SAMPLE bytes of turn text: its entropy tables (how often each
 * byte, match length and offset occur: statistics, no words) come from that
 * text; its content, what frames may copy from, is the analyzer's stop-word
 * lists, never stored text: a dictionary holding fragments of turns would
 * keep an erased person's words in the files. Turns written before it stay
 * codec 0/1. Readers register it process-wide by id (cs_textpack_dict_load,
 * a ZSTD_DDict made once per dictionary), so cs_textpack_unpack needs no
 * handle on the index.
 */
#ifndef CS_TEXTPACK_H
#define CS_TEXTPACK_H

#include "records.h"

#include <stddef.h>
#include <stdint.h>

enum { CS_TEXT_PLAIN = 0, CS_TEXT_ZSTD = 1, CS_TEXT_ZSTD_DICT = 2, CS_TEXT_LZ4_DICT = 3 };

/* Texts from this many bytes are packed with LZ4 (with a dictionary);
 * those of more than CS_TEXT_PLAIN_ABOVE and fewer than that are kept
 * plain (turnblock.c checks that it is a block's budget). */
#define CS_TEXT_LZ4_MIN 1024
#define CS_TEXT_PLAIN_ABOVE 512

/* Turn text the writer samples before it builds the dictionary; how many
 * dictionaries (indexes, reindexes) a process keeps loaded. */
#define CS_ZDICT_SAMPLE (512 * 1024)
#define CS_ZDICT_MAX 256

/* A compressor (one per writer; not shared between threads). */
typedef struct cs_textpack cs_textpack;
cs_textpack *cs_textpack_create(void);
void cs_textpack_destroy(cs_textpack *z);

/* Appends the packed form of s[0..n) to b (with the dictionary once there
 * is one; until then the text is kept as a sample). z NULL: always plain.
 * Errors go to b->err (sticky). */
void cs_textpack_put(cs_textpack *z, cs_buf *b, const char *s, size_t n);

/* Whether z has sampled enough text for cs_textpack_train and has no
 * dictionary yet. */
int cs_textpack_wants_dict(const cs_textpack *z);
/* Builds a dictionary from the samples, uses it from now on and writes its
 * META zdict value to out (reset first). A dictionary zstd cannot build is
 * not an error: z stops sampling, *built 0. CS_ENOMEM. */
int cs_textpack_train(cs_textpack *z, cs_buf *out, int *built);
/* Uses the dictionary of META zdict value v (an index reopened).
 * CS_ECORRUPT when v is damaged, CS_ENOMEM. */
int cs_textpack_use(cs_textpack *z, cs_str v);
/* Forgets z's dictionary (its META value was not committed): sampling
 * starts again. */
void cs_textpack_drop(cs_textpack *z);

/* Makes the dictionary of META zdict value v known to every reader of
 * this process (once per dictionary; later calls with it cost a lookup).
 * CS_ECORRUPT when v is damaged (or another dictionary has its id),
 * CS_ENOMEM, CS_ELIMIT past CS_ZDICT_MAX distinct dictionaries. */
int cs_textpack_dict_load(cs_str v);

/* A compressed text as stored: its bytes, its codec (CS_TEXT_*) and
 * dictionary id (0: none). */
typedef struct cs_packed {
  cs_str bytes;
  uint32_t dict;
  uint8_t codec;
} cs_packed;

/* Reads a packed text. A plain text points into the record (*out); a
 * compressed one is described in *packed (out->p NULL, out->len its plain
 * length) until cs_textpack_unpack. CS_ECORRUPT on bad bytes. */
int cs_textpack_get(cs_rd *r, cs_str *out, cs_packed *packed);

/* Decompresses `packed` (plain length `len`) into scratch (reset first)
 * and points *out at it. CS_ECORRUPT when the bytes do not decompress to
 * exactly len bytes or the dictionary is not loaded
 * (cs_textpack_dict_load), CS_ENOMEM. */
int cs_textpack_unpack(const cs_packed *packed, size_t len, cs_buf *scratch, cs_str *out);

#endif
