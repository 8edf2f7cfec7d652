/*
 * Pending postings of the writer's open batch: a hash map from a key (a term,
 * or a folded surface word) to what the batch adds to it, merged into LMDB
 * at flush (writer_flush.c). Entries are allocated once each and never move
 * while the map lives, so a pointer to one stays valid until cs__pmap_clear.
 */
#ifndef CS_PENDING_H
#define CS_PENDING_H

#include "postings.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs__pentry {
  char *key;
  uint16_t len;
  uint32_t hash;
  cs_plist pl; /* terms */
  int64_t df;  /* words: df delta */
  char *stem;  /* words: stem */
  uint32_t last_doc;
} cs__pentry;
typedef struct cs__pmap {
  cs__pentry **slots;
  size_t cap, n;
  size_t bytes; /* approximate memory held */
} cs__pmap;

void cs__pmap_clear(cs__pmap *m);
/* Finds or inserts `key`. Returns NULL when out of memory. */
cs__pentry *cs__pmap_get(cs__pmap *m, const char *key, size_t len);
/* The entries sorted by key (a malloc'd array of m->n pointers). */
int cs__pmap_sorted(cs__pmap *m, cs__pentry ***out);

#endif
