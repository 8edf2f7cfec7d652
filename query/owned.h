/*
 * A portal caller's own people and their conversations, as one snapshot
 * holds them (internal to the query engine): the people CS_T_OWNER lists
 * under the employee whose record names them as its current owner (the
 * record decides), with their names, and their conversations as docid
 * ranges sorted by first docid. Every search of a portal caller needs them:
 * its universe (search.c) and, in the search box, the name lookup
 * (name_match.c); so does every suggestion (suggest.c), on each keystroke. Read from the index,
 * they cost a B-tree lookup per person and per conversation (~200 conversations an employee: half
 * the CPU of a cheap search); so they are kept in a snapcache.h owner slot, and a caller's searches
 * on one snapshot read them once.
 */
#ifndef CS_QUERY_OWNED_H
#define CS_QUERY_OWNED_H

#include "convs.h"
#include "reader.h"
#include "snapcache.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs__owned_person {
  uint64_t id;
  cs_str name;         /* in the object's pool */
  uint32_t name_docid; /* the name's document, 0: none */
} cs__owned_person;

typedef struct cs__owned {
  cs__snapobj o;
  const cs__owned_person *people; /* in CS_T_OWNER's order */
  size_t npeople;
  const cs__crange *r; /* their conversations, by first docid */
  size_t nr;
  int cached; /* held from the cache (else the caller's own copy) */
} cs__owned;

/* Employee's own people and conversations for reader r's snapshot: the
 * ones kept in c (NULL: none), or read now (and kept when c's rate allows).
 * Damaged records are reported by the reader and left out. Release with
 * cs__owned_release. Returns 0 or a CS_E* code. */
int cs__owned_get(cs__snapcache *c, cs_reader *r, uint64_t employee, cs__owned **out);
void cs__owned_release(cs__snapcache *c, cs__owned *o); /* NULL o: no-op */

#endif
