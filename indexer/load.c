/*
 * Loading one snapshot of the stores into an index (see load.h).
 */
#include "load.h"

#include "errors.h"
#include "log.h"
#include "pg.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* In the order they are applied: events first, so that an erasure refuses
 * the erased person before their rows are read. */
static const struct {
  char kind;
  const char *phase;
  const char *sql; /* the next page of ids after $1 */
} kinds[CS_LOAD_KINDS] = {
    {'e', "events",
     "SELECT position FROM convsearch.src_events WHERE position > $1::bigint ORDER BY 1 LIMIT 256"},
    {'p', "people",
     "SELECT id FROM convsearch.src_patients WHERE id > $1::bigint ORDER BY 1 LIMIT 256"},
    {'c', "conversations",
     "SELECT id FROM convsearch.src_conversations WHERE id > $1::bigint ORDER BY 1 LIMIT 256"},
    {'r', "relevant points",
     "SELECT id FROM convsearch.src_relevant_points WHERE id > $1::bigint ORDER BY 1 LIMIT 256"},
};

int cs_load_marker(uint8_t marker_kind) {
  for (int k = 0; k < CS_LOAD_KINDS; k++) {
    if (marker_kind == (uint8_t)toupper((unsigned char)kinds[k].kind)) return 1;
  }
  return 0;
}

/* Where the load starts: the kind after which and the id after which. */
static int start_kind(const cs_load *l, uint64_t *after) {
  *after = 0;
  if (!l->mark) return 0;
  for (int k = 0; k < CS_LOAD_KINDS; k++) {
    if (l->cp.marker_kind == (uint8_t)toupper((unsigned char)kinds[k].kind)) {
      *after = l->cp.marker_entity;
      return k;
    }
  }
  return 0;
}

int cs_load_begin(cs_load *l) {
  PGresult *r = cs_pg_exec(l->pg, "opening the snapshot",
                           "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
  if (!r) return CS_APPLY_PG_ERROR;
  PQclear(r);
  uint64_t after;
  int first = start_kind(l, &after);
  char a[CS_LOAD_KINDS][24];
  const char *params[CS_LOAD_KINDS];
  for (int k = 0; k < CS_LOAD_KINDS; k++) {
    /* Kinds already loaded count nothing. */
    snprintf(a[k], sizeof a[k], "%" PRIu64,
             k < first    ? (uint64_t)INT64_MAX
             : k == first ? after
                          : 0);
    params[k] = a[k];
  }
  int readable = cs_source_readable(l->pg);
  if (readable < 0) return CS_APPLY_PG_ERROR;
#define SNAPSHOT_SQL                                                                               \
  "SELECT pg_snapshot_xmin(pg_current_snapshot())::text, "                                         \
  "(SELECT count(*) FROM convsearch.src_events WHERE position > $1::bigint), "                     \
  "(SELECT count(*) FROM convsearch.src_patients WHERE id > $2::bigint), "                         \
  "(SELECT count(*) FROM convsearch.src_conversations WHERE id > $3::bigint), "                    \
  "(SELECT count(*) FROM convsearch.src_relevant_points WHERE id > $4::bigint)"
  r = cs_pg_exec(l->pg, "reading the snapshot",
                 readable ? SNAPSHOT_SQL ", " CS_SOURCE_SQL : SNAPSHOT_SQL, CS_LOAD_KINDS, params);
#undef SNAPSHOT_SQL
  if (!r) return CS_APPLY_PG_ERROR;
  cs_pg_u64(r, 0, 0, 0, &l->horizon);
  for (int k = 0; k < CS_LOAD_KINDS; k++)
    cs_pg_u64(r, 0, k + 1, 0, &l->counts[k]);
  l->source[0] = 0;
  if (readable) snprintf(l->source, sizeof l->source, "%s", PQgetvalue(r, 0, CS_LOAD_KINDS + 1));
  PQclear(r);
  memset(&l->st, 0, sizeof l->st);
  cs_progress_init(&l->progress);
  return 0;
}

/* Commits the open batch with the checkpoint (and, with mark, the marker
 * "kind k loaded up to `after`"). The batch is gone on failure. */
static int commit(cs_load *l, int k, uint64_t after) {
  cs_checkpoint cp = l->cp;
  if (l->mark) {
    cp.marker_kind = (uint8_t)toupper((unsigned char)kinds[k].kind);
    cp.marker_entity = after;
  }
  int rc = cs_writer_set_checkpoint(l->w, &cp);
  if (!rc && l->source[0]) rc = cs_source_put(l->w, l->source);
  if (rc) {
    cs_writer_abort(l->w);
    return rc;
  }
  rc = cs_writer_commit(l->w);
  if (!rc) l->cp = cp;
  return rc;
}

/* Applies the ids of one page in calls of at most CS_APPLY_MAX(_CONV). */
static int apply_page(cs_load *l, char kind, const uint64_t *ids, size_t n) {
  size_t step = kind == 'c' ? CS_APPLY_MAX_CONV : CS_APPLY_MAX;
  int rc = 0;
  for (size_t from = 0; !rc && from < n; from += step)
    rc = cs_apply(l->pg, l->w, kind, ids + from, n - from < step ? n - from : step, &l->st);
  return rc;
}

/* Applies every entity of kind k with an id above `after`. When the map
 * fills, the batch since the last commit is lost: the map grows and the
 * load goes on from that commit (applying is idempotent). */
static int load_kind(cs_load *l, int k, uint64_t after) {
  cs_progress *p = &l->progress;
  uint64_t committed = after, committed_done = p->done;
  int rc = cs_writer_begin(l->w);
  if (rc) return rc;
  for (;;) {
    if (l->stop && *l->stop) {
      cs_writer_abort(l->w);
      return CS_LOAD_STOPPED;
    }
    char a[24];
    snprintf(a, sizeof a, "%" PRIu64, after);
    const char *params[1] = {a};
    PGresult *r = cs_pg_exec(l->pg, "listing the snapshot", kinds[k].sql, 1, params);
    if (!r) {
      cs_writer_abort(l->w);
      return CS_APPLY_PG_ERROR;
    }
    uint64_t ids[256];
    int n = PQntuples(r);
    for (int i = 0; i < n && i < 256; i++)
      cs_pg_u64(r, i, 0, 0, &ids[i]);
    PQclear(r);
    rc = apply_page(l, kinds[k].kind, ids, (size_t)n);
    if (!rc && n) {
      after = ids[n - 1];
      p->done += (uint64_t)n;
      cs_progress_tick(p);
    }
    if (!rc && (n == 0 || cs_writer_pending_bytes(l->w) > l->budget_bytes)) {
      rc = commit(l, k, after);
      if (!rc) {
        committed = after;
        committed_done = p->done;
        if (n == 0) return 0;
        rc = cs_writer_begin(l->w);
        if (rc) return rc;
        continue;
      }
    }
    if (rc == CS_EFULL) {
      cs_writer_abort(l->w);
      rc = cs_store_grow(l->store);
      if (rc) return CS_EFULL;
      cs_log(CS_LOG_INFO, "index map grown to %zu MiB", cs_store_map_size(l->store) >> 20);
      after = committed;
      p->done = committed_done;
      rc = cs_writer_begin(l->w);
      if (rc) return rc;
      continue;
    }
    if (rc) {
      cs_writer_abort(l->w);
      return rc;
    }
  }
}

int cs_load_run(cs_load *l) {
  uint64_t after;
  int first = start_kind(l, &after);
  cs_progress *p = &l->progress;
  for (int k = first; k < CS_LOAD_KINDS; k++) {
    p->phase = kinds[k].phase;
    p->total = l->counts[k];
    p->done = 0;
    int rc = load_kind(l, k, k == first ? after : 0);
    if (rc) {
      if (rc != CS_LOAD_STOPPED) {
        cs_log(CS_LOG_ERROR, "loading %s failed: %s", kinds[k].phase,
               rc == CS_APPLY_PG_ERROR ? "PostgreSQL error" : cs_strerror(rc));
      }
      return rc;
    }
    cs_progress_report(p, 1);
  }
  PGresult *r = cs_pg_exec(l->pg, "closing the snapshot", "COMMIT", 0, NULL);
  if (!r) return CS_APPLY_PG_ERROR;
  PQclear(r);
  return 0;
}
