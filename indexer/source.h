/*
 * Which source an index was built from. `install` records in
 * convsearch.meta the source a database is installed for ("portal" or
 * "canonical") and how many times it was switched (`source_epoch`, raised
 * by --switch-mode). A load (first run, reindex) writes that identity,
 * "portal#1", into the index (META "source"); every round of `run` reads
 * the database's identity in its snapshot and stops, saying to reindex,
 * when it differs: an index of one source is never fed the other's rows.
 */
#ifndef CS_SOURCE_H
#define CS_SOURCE_H

#include "writer.h"

#include <libpq-fe.h>
#include <stddef.h>

/* A scalar subquery giving the database's identity, for a SELECT list. */
#define CS_SOURCE_SQL                                                                              \
  "(SELECT coalesce(max(value) FILTER (WHERE key = 'source'), 'canonical') || '#' || "             \
  "coalesce(max(value) FILTER (WHERE key = 'source_epoch'), '0') FROM convsearch.meta)"

#define CS_SOURCE_MAX 64

/* 1 when this connection may read convsearch.meta, 0 when not (an indexer
 * role granted before the check existed: one warning, and no check), -1 on
 * a PostgreSQL error (logged). */
int cs_source_readable(PGconn *pg);

/* The identity recorded in the index, read inside the writer's open batch
 * ("" when none was recorded). */
int cs_source_get(cs_writer *w, char out[CS_SOURCE_MAX]);
/* Records the identity inside the writer's open batch. */
int cs_source_put(cs_writer *w, const char *identity);

/* The version of what `install` puts in a database (views, capture) that
 * this indexer reads; install records it in convsearch.meta
 * (`schema_version`). Raise it when a view gains a column the indexer
 * selects. */
#define CS_SCHEMA_VERSION 2

/* 0 when the database's installed schema is this indexer's (or cannot be
 * read: see cs_source_readable); 1, after an error line saying to re-run
 * install, when it is older or newer; -1 on a PostgreSQL error. */
int cs_source_schema_check(PGconn *pg);

/* 0 when the index may follow the database (same identity, or none
 * recorded yet); 1, after an error line saying what to do, when not. */
int cs_source_check(const char *index_identity, const char *db_identity);

#endif
