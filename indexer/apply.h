/*
 * Applying changed entities: reads the current state of a batch of entities
 * of one kind from the source views (convsearch.src_*) and hands it to the
 * index writer. Idempotent: applying the same entities again leaves the
 * index as it was.
 */
#ifndef CS_APPLY_H
#define CS_APPLY_H

#include "writer.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Returned when PostgreSQL failed (already logged); writer errors are
 * returned as their CS_E* codes. */
#define CS_APPLY_PG_ERROR (-100)

/* Most entities applied by one call (callers split larger sets). A
 * conversation can be large (a parliamentary sitting is ~300 KB of text),
 * so they are applied fewer at a time: what one call holds in memory is
 * bounded by CS_APPLY_MAX_CONV conversations, and callers check their batch
 * budget between calls. */
#define CS_APPLY_MAX 256
#define CS_APPLY_MAX_CONV 32

typedef struct cs_apply_stats {
  uint64_t conversations, deleted_conversations, patients, deleted_patients, events, deleted_events,
      points;
  uint64_t unchanged, skipped, repaired, erased_refused;
} cs_apply_stats;

/* kind: 'c' conversation, 'p' person, 'e' event, 'r' relevant point,
 * 'a' answers (not indexed: accepted and ignored). Unknown kinds are logged
 * and skipped. */
int cs_apply(PGconn *pg, cs_writer *w, char kind, const uint64_t *ids, size_t n,
             cs_apply_stats *st);

/* META key set in the commit that erases a person (the erased text is
 * still in the file's freed pages until a compaction) and in the initial
 * load's last commit: the tailing indexer compacts when next idle (and then
 * deletes the key). */
#define CS_META_COMPACT_PENDING "compact_pending"
/* Its value when the initial load asked for it ("1": an erasure). */
#define CS_COMPACT_AFTER_LOAD "load"

/* The SQL expression that turns a timestamptz column into unix ms. */
#define CS_SQL_MS(col) "(extract(epoch from " col ") * 1000)::bigint"

/* Builds the source query for conversations or segments (used by verify
 * too, so both read the same columns the same way). */
extern const char *const cs_sql_conversations;
extern const char *const cs_sql_segments;
extern const char *const cs_sql_patients;

/* Fills a cs_conv_in from row `row` of a conversations result and the
 * segments rows [seg_from, seg_to) of `segs`. `turns` must hold
 * seg_to - seg_from entries. Returns 0 or -1 on a malformed value. */
int cs_apply_conv_from_rows(const PGresult *convs, int row, const PGresult *segs, int seg_from,
                            int seg_to, cs_turn_in *turns, cs_conv_in *out);
int cs_apply_patient_from_row(const PGresult *r, int row, cs_patient_in *out);

#endif
