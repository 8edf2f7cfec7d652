/*
 * Passage blocks (format 7): how CS_T_PASSAGE stores a conversation's
 * passages (records.h, cs_passage). One LMDB entry per passage cost ~22
 * bytes of key and node for ~17 of record; a portal conversation has ~19.
 * So the passages numbered [k * CS_PBLOCK_PASSAGES, (k + 1) *
 * CS_PBLOCK_PASSAGES) of a conversation are stored together, delta-coded:
 *
 *   stored key   := be64 conversation id + be32(k * CS_PBLOCK_PASSAGES)
 *   stored value := version(1) n passage{n}      (1 <= n <= CS_PBLOCK_PASSAGES)
 *   passage      := docid      (the first: the docid; then docid - previous - 1)
 *                   first_seq  (zigzag of first_seq - previous last_seq; the first: first_seq)
 *                   span       (last_seq - first_seq)
 *                   first_off last_end
 *                   start      (zigzag of start_ms - previous end_ms; the first: start_ms)
 *                   dur        (zigzag of end_ms - start_ms)
 *
 * A lookup reads one entry by key (no seek) and decodes at most
 * CS_PBLOCK_PASSAGES passages. Deltas wrap in unsigned arithmetic.
 */
#ifndef CS_PASSBLOCK_H
#define CS_PASSBLOCK_H

#include "records.h"

#include <stddef.h>
#include <stdint.h>

#define CS_PBLOCK_PASSAGES 32

/* The key of the block holding passage number n of conversation conv. */
void cs_pblock_key(uint8_t key[12], uint64_t conv, uint32_t n);

/* Builds one block, passage by passage in number order. */
typedef struct cs_pblock_b {
  uint32_t n;
  cs_passage prev;
  cs_buf b; /* the passages encoded so far */
} cs_pblock_b;
void cs_pblock_b_init(cs_pblock_b *w);
void cs_pblock_b_free(cs_pblock_b *w);
void cs_pblock_b_add(cs_pblock_b *w, const cs_passage *p);
/* The block's value into out (reset first); the builder is emptied. 0 or
 * CS_ENOMEM; out stays empty when no passage was added. */
int cs_pblock_b_encode(cs_pblock_b *w, cs_buf *out);

/* Reads one stored block. */
typedef struct cs_pblock_it {
  cs_rd r;
  uint32_t n, i;
  cs_passage prev;
} cs_pblock_it;
int cs_pblock_begin(cs_pblock_it *it, const void *p, size_t len);
/* 0, CS_ENOTFOUND past the last (having checked the value ends there),
 * CS_ECORRUPT. */
int cs_pblock_next(cs_pblock_it *it, cs_passage *out);
/* Passage i of the block (i < CS_PBLOCK_PASSAGES): 0, CS_ENOTFOUND,
 * CS_ECORRUPT. */
int cs_pblock_get(const void *p, size_t len, uint32_t i, cs_passage *out);
/* Whether the block decodes completely: 0 or CS_ECORRUPT. */
int cs_pblock_check(const void *p, size_t len);

#endif
