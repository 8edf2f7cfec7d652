/*
 * Per-owner statistics in blocks (format 6). CS_T_OLEX and CS_T_OWORDS hold
 * one logical entry per (owner, term) and (owner, word) — the key be64
 * owner + term or word, the value a lexicon or word entry (records.h) —
 * but an LMDB entry per logical one cost ~56 bytes (key, node header, half
 * full pages) for ~4 bytes of df. So runs of consecutive logical entries of
 * one owner are stored together, front-coded:
 *
 *   stored key   := the block's first logical key (be64 owner + term)
 *   stored value := version(1) entry+
 *   entry        := shared suffix_len suffix value_len value   (varints)
 *
 * `shared` counts the leading bytes the entry's logical key has in common
 * with the previous one (0 for the first, whose key must be the stored
 * key); logical keys strictly increase; `value` is the cs_lex / cs_word
 * encoding. The blocks of a table partition its logical key space in order:
 * the block holding logical key K is the last one whose stored key <= K.
 *
 * Readers see logical entries only (cs_oblock_get, cs_ocur): keys in the
 * cursor's buffer or an arena (cs_karena), values borrowed from the map.
 * The writer's merge lives in writer_oblock.c.
 */
#ifndef CS_OBLOCK_H
#define CS_OBLOCK_H

#include "analyzer.h"
#include "records.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A block holds at most this many bytes (but for a single larger entry):
 * a lookup or seek decodes at most ~40 entries (with 1,900-byte blocks
 * the typo and prefix walks of a portal caller took ~25 % longer, for
 * 2 % less room), eight share a 4 KiB page and none overflows one. */
#define CS_OBLOCK_BYTES 480
/* Longest logical key: be64 owner + a term with the passage prefix. */
#define CS_OKEY_MAX (8 + CS_TERM_MAX + 2)

/* Reads the logical entries of one stored block. */
typedef struct cs_oblock_it {
  const uint8_t *p, *end;
  uint8_t key[CS_OKEY_MAX]; /* the current logical key */
  size_t klen;
  size_t shared; /* bytes the current key kept of the previous one */
  int started;
  cs_slice val; /* the current value (borrowed) */
} cs_oblock_it;

/* Starts on the block stored under key k with value v. CS_ECORRUPT when
 * its version byte or key is wrong. */
int cs_oblock_begin(cs_oblock_it *it, cs_slice k, cs_slice v);
/* Steps to the next entry: 0, CS_ENOTFOUND past the last, CS_ECORRUPT
 * (bad lengths, keys not increasing, a first key not the stored one). */
int cs_oblock_next(cs_oblock_it *it);

/* Whether block (k, v) of table t decodes completely, values included:
 * 0 or CS_ECORRUPT. */
int cs_oblock_check(cs_table t, cs_slice k, cs_slice v);

/* Appends the version byte of a new block. */
void cs_oblock_start(cs_buf *b);
/* Appends one entry after one with key prev[0..plen) (plen 0: the first). */
void cs_oblock_put(cs_buf *b, const uint8_t *prev, size_t plen, const uint8_t *key, size_t klen,
                   const void *val, size_t vlen);

/* Where the last lookup in a table found its block, and the range that
 * block covers: lookups of nearby keys (a prefix's candidates, in key
 * order) read the same block again without LMDB. Zero it before use; only
 * for a read-only transaction, which it must not outlive. */
typedef struct cs_oblock_hint {
  cs_cursor *c; /* opened on first use */
  int valid, bounded;
  cs_slice bk, bv; /* the block */
  uint8_t bound[CS_OKEY_MAX];
  size_t blen; /* the next block's key (bounded) */
} cs_oblock_hint;
void cs_oblock_hint_free(cs_oblock_hint *h);

/* The value of logical key `key` in table t (CS_ENOTFOUND when absent;
 * CS_ECORRUPT, reported, when its block is damaged). */
int cs_oblock_get(cs_txn *t, cs_table tbl, cs_oblock_hint *h, cs_slice key, cs_slice *val);

/* Copies of logical keys that stay where they are until the arena is
 * freed (a reader's keys live as long as the reader). */
typedef struct cs_karena {
  struct cs_kchunk *head;
} cs_karena;
void cs_karena_free(cs_karena *a);

/* A cursor over the logical entries of table t. With `keys`, each key it
 * returns is a copy there; else it lives until the cursor's next call. */
typedef struct cs_ocur cs_ocur;
int cs_ocur_open(cs_txn *t, cs_table tbl, cs_karena *keys, cs_ocur **out);
void cs_ocur_close(cs_ocur *c);
/* Positions at the first logical key >= key (CS_ENOTFOUND past the end). */
int cs_ocur_seek(cs_ocur *c, cs_slice key, cs_slice *k, cs_slice *v);
int cs_ocur_first(cs_ocur *c, cs_slice *k, cs_slice *v);
int cs_ocur_next(cs_ocur *c, cs_slice *k, cs_slice *v);
/* The stored block the cursor reads (to name a damaged one). */
cs_slice cs_ocur_block(const cs_ocur *c);

/* Logical key order: memcmp, a prefix first (LMDB's). */
static inline int cs_okey_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  return c ? c : (al > bl) - (al < bl);
}

/* 1 for the tables stored in blocks (CS_T_OLEX, CS_T_OWORDS). */
static inline int cs_oblock_table(cs_table t) {
  return t == CS_T_OLEX || t == CS_T_OWORDS;
}

#endif
