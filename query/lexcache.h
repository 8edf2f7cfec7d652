/*
 * The lexicon in RAM (internal to the query engine): a copy of one of the
 * tables term expansion walks (CS_T_WORDS, CS_T_LEX, CS_T_OWORDS,
 * CS_T_OLEX: expand.h) as one snapshot holds it, entries in key order with
 * their values decoded and their keys' code points ready for the typo
 * walk. Expansion over the copy visits exactly the entries, in exactly the
 * order, that a cursor over the snapshot would: same candidates, same
 * bounds, same answers, without B-tree descents, key comparisons in the
 * map or value decoding per query.
 *
 * A copy belongs to one snapshot and is kept in a snapcache.h slot:
 * shared by the threads, made lazily, rate-limited; views on another
 * snapshot walk the index as before. An idle index is thus walked in RAM
 * from the first expansion on. A table of more than 300,000 entries is not
 * copied (walked in the index as before). A portal caller's walks stay
 * within its owner's entries: those alone are copied.
 */
#ifndef CS_QUERY_LEXCACHE_H
#define CS_QUERY_LEXCACHE_H

#include "reader.h"
#include "snapcache.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* One entry. Keys hold the scope's prefix (8 bytes: owner) in the owner
 * tables; cp[] are the code points of the key past it. */
typedef struct cs__lexent {
  uint32_t key;  /* offset of the key in bytes */
  uint32_t cp;   /* offset of its code points in cps (CS__LEX_ASCII: none) */
  uint32_t stem; /* words tables: offset of the stem in bytes */
  uint32_t df;   /* docids are 32-bit: so is a document frequency */
  uint16_t klen;
  uint8_t ncp;
  uint8_t slen;
  uint8_t ok;   /* the value decoded (a damaged one was reported once) */
  uint8_t lcpb; /* bytes its key shares with the entry before (at most 255) */
  uint8_t lcpc; /* code points (past the scope's prefix) it shares with it */
} cs__lexent;

typedef struct cs__lexarr {
  cs__snapobj o;
  const cs__lexent *e;
  size_t n;
  const char *bytes;
  const uint32_t *cps;
  cs_table table;
  size_t kplen; /* bytes of the scope's prefix in each key (0 or 8) */
} cs__lexarr;

/* The cp of an entry whose key (past the scope's prefix) is ASCII: its
 * bytes are its code points, not stored twice. */
#define CS__LEX_ASCII UINT32_MAX

/* The code points of e's key past the scope's prefix (e->ncp of them): in
 * the copy, or in buf. */
static inline const uint32_t *cs__lexent_cps(const cs__lexarr *a, const cs__lexent *e,
                                             uint32_t *buf) {
  if (e->cp != CS__LEX_ASCII) return a->cps + e->cp;
  const uint8_t *k = (const uint8_t *)a->bytes + e->key + a->kplen;
  for (int i = 0; i < e->ncp; i++)
    buf[i] = k[i];
  return buf;
}

/* The copy of table t (CS_T_WORDS, CS_T_LEX; CS_T_OWORDS, CS_T_OLEX: the
 * entries of `owner` only, keys still prefixed with it) for reader r's
 * snapshot, held, or NULL, as cs__snapcache_obtain (`owner`: the owner tables only; the
 * copies of 64 owners are kept at once, the least recently used going).
 * `version`: the owner's in r's snapshot (records.h; 0: none): an owner's
 * copy serves every snapshot where it is the same. */
cs__lexarr *cs__lexcache_get(cs__snapcache *c, cs_reader *r, cs_table t, uint64_t owner,
                             uint64_t version);
void cs__lexarr_release(cs__snapcache *c, cs__lexarr *a); /* NULL a: no-op */
/* A walk went over table t in the index for want of its copy and took ns:
 * counted towards making the copy again (cs__snapcache_owe). */
void cs__lexcache_owe(cs__snapcache *c, cs_table t, uint64_t owner, int64_t ns);

/* The first entry whose key is >= key[0..len) (n when none), looking from
 * entry `from` on (every entry before it must be < key). */
size_t cs__lexarr_seek(const cs__lexarr *a, size_t from, const void *key, size_t len);

/* Decodes UTF-8 into code points: ends[i] (when ends) is the byte offset
 * after code point i; invalid bytes count as one character each. Returns
 * how many (at most max). */
int cs__utf8_decode(const char *s, size_t n, uint32_t *cp, uint32_t *ends, int max);

/* Code points a key may hold for the walk: a term of CS_TERM_MAX bytes and
 * one more (a longer key is cut there). */
#define CS__LEX_MAXCP 65

#endif
