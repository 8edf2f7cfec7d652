/*
 * The docid -> conversation table: every conversation of a generation as a
 * docid range with the fields the search walk filters and ranks by, sorted
 * by first docid, in RAM. A candidate docid costs a binary search here
 * instead of two B-tree lookups and a record decode.
 *
 * Why an append-only table is exact for every read view: a conversation's
 * record is written once for its docid range (an update deletes it and
 * writes a new range at fresh docids: docids only grow), and a deleted
 * conversation's documents leave the postings. So a range in the table
 * either holds exactly the conversation it names, or none of its docids
 * occurs in the postings of a newer view; a view older than the table
 * never sees docids past its own next_docid. The table is built when a
 * generation is first searched and extended with the conversations of each
 * commit as views on newer snapshots arrive (only the documents added since
 * are read). When deleted ranges outnumber the live ones it is rebuilt;
 * views on snapshots older than that rebuild get a private table.
 */
#ifndef CS_QUERY_CONVS_H
#define CS_QUERY_CONVS_H

#include "reader.h"
#include "records.h"

#include <stddef.h>
#include <stdint.h>

/* One conversation as the walk sees it. */
typedef struct cs__crange {
  uint32_t f, e;        /* its docids */
  uint32_t title, desc; /* docids of its title and description, or CS_DOCID_END */
  uint32_t nturns;      /* turns (their docids, between the passages, are in CS_T_TURN) */
  uint8_t kinds;        /* CS__F_* present */
  uint64_t id, patient, owner;
  int64_t created;
} cs__crange;

void cs__crange_of(const cs_conv *c, cs__crange *R);

/* The table of one generation, shared by the threads that read it. */
typedef struct cs__convtab cs__convtab;
typedef struct cs__ctbuf cs__ctbuf;

/* A read view's snapshot of the table: entries [0, n), immutable. */
typedef struct cs__convs {
  const uint32_t *first; /* first docids, increasing */
  const cs__crange *r;
  size_t n;
  cs__ctbuf *buf; /* held (NULL: none) */
  cs__convtab *t;
} cs__convs;

int cs__convtab_new(cs__convtab **out);
void cs__convtab_free(cs__convtab *t);
/* Brings t up to reader r's snapshot and fills *out with a snapshot that
 * covers every conversation r can see. t NULL: a private table built from
 * r. Release it with cs__convs_release. Returns 0 or a CS_E* code. */
int cs__convs_get(cs__convtab *t, cs_reader *r, cs__convs *out);
void cs__convs_release(cs__convs *v);

/* Index of the conversation holding docid d, or -1 with *next set to the
 * first docid of the next conversation (CS_DOCID_END: none). *hint (0 at
 * first) remembers where the last lookup ended: walks in increasing docid
 * order mostly find the conversation there or just after it. */
static inline long cs__convs_find(const cs__convs *v, uint32_t d, uint32_t *next, size_t *hint) {
  size_t lo = *hint, hi = v->n; /* lo: the first entry with first > d */
  if (lo > v->n || (lo > 0 && v->first[lo - 1] > d)) lo = 0;
  for (int k = 0; k < 4 && lo < hi && v->first[lo] <= d; k++)
    lo++; /* the next few, linearly */
  if (lo < hi && v->first[lo] > d) hi = lo;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v->first[mid] <= d)
      lo = mid + 1;
    else
      hi = mid;
  }
  *hint = lo;
  if (lo > 0 && d < v->r[lo - 1].e) return (long)(lo - 1);
  *next = lo < v->n ? v->first[lo] : CS_DOCID_END;
  return -1;
}

#endif
