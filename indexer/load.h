/*
 * Loading one consistent snapshot of the stores into an index: what
 * `reindex` builds a new generation from, and what the first `run` does on
 * an index that was never loaded, before it tails.
 *
 * In one REPEATABLE READ transaction S (horizon h = xmin(S)), every event,
 * person, conversation and relevant point visible in S is applied through
 * cs_apply, the tailing indexer's code (events first, so erasures refuse the
 * erased before their rows are read), 256 ids a page, committed whenever the
 * pending postings pass the budget and at the end of each kind. People and
 * conversations come grouped by owner (load.c says why), the other kinds in
 * id (position) order. Every commit carries the caller's checkpoint; with
 * `mark` it also records how far the load got (marker = the kind in upper
 * case and the last (group, id) applied), and a load given such a
 * checkpoint resumes after that marker.
 */
#ifndef CS_LOAD_H
#define CS_LOAD_H

#include "apply.h"
#include "progress.h"
#include "source.h"
#include "store.h"
#include "writer.h"

#include <signal.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define CS_LOAD_KINDS 4

/* A position in a kind's (group, id) order. */
typedef struct cs_load_key {
  uint64_t group, id;
} cs_load_key;
/* Returned by cs_load_run when *stop was set (what was committed stays). */
#define CS_LOAD_STOPPED (-101)

typedef struct cs_load {
  /* Set by the caller. */
  PGconn *pg;
  cs_store *store;
  cs_writer *w;
  size_t budget_bytes;               /* commit when pending postings pass this */
  const volatile sig_atomic_t *stop; /* checked between pages; may be NULL */
  cs_checkpoint cp;                  /* written with every commit */
  int mark;                          /* keep progress in cp's marker; resume from it */
  /* Set by cs_load_begin. */
  uint64_t horizon;               /* xmin(S) */
  uint64_t counts[CS_LOAD_KINDS]; /* entities left to apply, per kind */
  char source[CS_SOURCE_MAX];     /* the snapshot's source, written with every commit */
  cs_progress progress;
  cs_apply_stats st;
} cs_load;

/* 1 when marker_kind was written by a load (a tailing round writes the
 * lower-case kinds of convsearch.changes). */
int cs_load_marker(uint8_t marker_kind);

/* Opens the snapshot on l->pg and reads its horizon and the counts of what
 * is left to apply. Returns 0 or CS_APPLY_PG_ERROR (logged). */
int cs_load_begin(cs_load *l);

/* Applies the snapshot and COMMITs the PostgreSQL transaction. Returns 0,
 * CS_APPLY_PG_ERROR, CS_LOAD_STOPPED or a writer error (CS_EFULL only when
 * the map cannot grow); on an error the PostgreSQL transaction is left for
 * the caller to roll back or drop. */
int cs_load_run(cs_load *l);

#endif
