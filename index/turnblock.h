/*
 * Turn blocks (format 7): how CS_T_TURN stores a conversation's turns.
 * One LMDB entry per turn cost ~22 bytes of key and node, ~25 of metadata,
 * and a zstd frame per short turn (a portal turn is ~110 bytes) compressed
 * to ~0.75 of the text: the interviews' turn records were 1.19x their text.
 * So runs of consecutive turns of one conversation are stored together:
 * their metadata delta-coded, their texts as one zstd frame.
 *
 *   stored key   := be64 conversation id + be32(first seq ^ 0x80000000)
 *                   (cs_key_turn of the block's first turn)
 *   stored value := version(1) n nspk speaker{nspk} meta_len meta packed
 *   speaker      := varint length + bytes (the block's distinct speakers)
 *   meta         := n x turn, meta_len bytes in all
 *   turn         := [seq_gap]  (not the first: seq - previous seq - 1)
 *                   docid      (the first: the docid; then docid - previous - 1)
 *                   who        (speaker index * 3 + role)
 *                   start      (zigzag of start_ms - previous end_ms; the first: start_ms)
 *                   dur        (zigzag of end_ms - start_ms)
 *                   len        (bytes of its text)
 *                   [marks]    (len >= CS_TMARKS_MIN_TEXT, format 8: tmarks.h)
 *   packed       := the texts one after the other (textpack.h: plain, or
 *                   one zstd frame, with the index's dictionary once it has one;
 *                   since format 8 an LZ4 block when they are CS_TEXT_LZ4_MIN
 *                   bytes or more, i.e. a long turn alone; a shorter turn
 *                   alone, plain)
 *
 * A block closes before a turn that would take its text past
 * CS_TBLOCK_BYTES (a longer turn has a block of its own) or its turns past
 * CS_TBLOCK_TURNS: a snippet of a 542-turn sitting decompresses a few KB.
 * The blocks of a conversation partition its seqs in order: the block
 * holding seq S is the last one whose key is <= (conversation, S). A block
 * holds only its conversation's text: deleting the conversation's keys
 * deletes its words (no shared state; the dictionary holds none).
 */
#ifndef CS_TURNBLOCK_H
#define CS_TURNBLOCK_H

#include "records.h"
#include "store.h"
#include "textpack.h"

#include <stddef.h>
#include <stdint.h>

#define CS_TBLOCK_BYTES 512
#define CS_TBLOCK_TURNS 128

/* Reads one stored block. */
typedef struct cs_tblock_it {
  uint32_t n, i;
  uint32_t nspk;
  const uint8_t *spk, *spk_end; /* the speakers (read when a turn names one) */
  cs_rd meta;
  int32_t seq;
  uint32_t docid;
  int64_t end;
  size_t off;          /* text bytes of the turns read so far */
  cs_str text, packed; /* packed.p NULL: text is readable */
  uint32_t dict;
  uint8_t codec; /* of packed (textpack.h) */
} cs_tblock_it;

/* Starts on the block stored under key k (12 bytes) with value v: reads its
 * header. CS_ECORRUPT when it does not follow the layout. */
int cs_tblock_begin(cs_tblock_it *it, cs_slice k, cs_slice v);
/* Makes the texts readable (decompresses them into scratch, reset first,
 * when they are stored compressed): the turns read after it have their
 * text. 0, CS_ECORRUPT, CS_ENOMEM. */
int cs_tblock_texts(cs_tblock_it *it, cs_buf *scratch);
/* The next turn: 0, CS_ENOTFOUND past the last (having checked that the
 * metadata and texts end there), CS_ECORRUPT. Its text.p is NULL (text.len
 * set) until cs_tblock_texts; strings point into the block and scratch. */
int cs_tblock_next(cs_tblock_it *it, cs_turn *t);
/* Whether a stored block decodes completely, texts included. */
int cs_tblock_check(cs_slice k, cs_slice v, cs_buf *scratch);

/* Builds the blocks of one conversation, turn by turn in seq order. */
typedef struct cs_tblock_b {
  uint64_t conv;
  uint32_t n, nspk;
  int32_t first_seq, seq;
  uint32_t docid;
  int64_t end;
  cs_buf meta, text, spk;
  uint32_t spk_off[CS_TBLOCK_TURNS], spk_len[CS_TBLOCK_TURNS];
} cs_tblock_b;

void cs_tblock_b_init(cs_tblock_b *b, uint64_t conv);
void cs_tblock_b_free(cs_tblock_b *b);
/* Turns must come in increasing seq order (the writer leaves out one that
 * does not: writer_conv.c). Whether turn t goes into the block being built (0: write that block
 * with cs_tblock_b_encode first). */
int cs_tblock_b_fits(const cs_tblock_b *b, const cs_turn *t);
/* Adds t (its text and speaker are copied). Errors go to the block's
 * buffers (cs_tblock_b_encode reports them). */
void cs_tblock_b_add(cs_tblock_b *b, const cs_turn *t);
/* Writes the block's key (12 bytes) and value (out, reset first) with the
 * texts packed by z, and empties the builder for the next block. 0 or
 * CS_ENOMEM; out stays empty when the builder holds no turn. */
int cs_tblock_b_encode(cs_tblock_b *b, cs_textpack *z, uint8_t key[12], cs_buf *out);

#endif
