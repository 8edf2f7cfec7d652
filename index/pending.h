/*
 * Pending postings of the writer's open batch: a hash map from a key (a term,
 * or a folded surface word) to what the batch adds to it, merged into LMDB
 * at flush (writer_flush.c). Entries (with their keys inline) are cut from
 * an arena and never move, so a pointer to one stays valid until
 * cs__pmap_clear, which frees them all at once.
 */
#ifndef CS_PENDING_H
#define CS_PENDING_H

#include "postings.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs__pentry {
  cs_plist pl; /* terms: the batch's documents (after `one`'s) */
  /* terms: a single occurrence, kept here until a second one (most terms
   * of a batch occur once: no allocation for them). */
  uint8_t one;
  uint32_t one_doc, one_len, one_pos;
  struct cs__pentry *term;  /* words: the term entry the word was last posted under */
  struct cs__pentry *field; /* terms: the same term in the passage field */
  uint32_t rank;            /* position in key order, set at flush (writer_flush.c) */
  const char *stem;         /* words: the stem (in the map's arena) */
  int64_t df;               /* words and per-owner entries: df delta */
  int64_t odf;              /* terms and words: documents of the current owner not yet
                               added to its per-owner entry (writer_owner.c) */
  uint32_t last_doc;        /* the last document counted (words: df; terms: per-owner df) */
  uint32_t hash;
  uint16_t len;
  char key[]; /* len bytes and a NUL */
} cs__pentry;

typedef struct cs__pblock cs__pblock;

typedef struct cs__pmap {
  cs__pentry **slots;
  size_t cap, n;
  size_t bytes;      /* approximate memory held */
  cs__pblock *arena; /* entries and stems, freed all at once */
} cs__pmap;

void cs__pmap_clear(cs__pmap *m);
/* Finds or inserts `key`. Returns NULL when out of memory. */
cs__pentry *cs__pmap_get(cs__pmap *m, const char *key, size_t len);
/* A copy of s[0..n) and a NUL in the map's arena (lives until clear). */
const char *cs__pmap_strdup(cs__pmap *m, const char *s, size_t n);
/* The entries sorted by key (a malloc'd array of m->n pointers). */
int cs__pmap_sorted(cs__pmap *m, cs__pentry ***out);

#endif
