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
#include <stdlib.h>
#include <string.h>

/* In the order they are applied: events first, so that an erasure refuses
 * the erased person before their rows are read. Each kind is read through
 * one cursor in (group, id) order. People and conversations come grouped by
 * their owner: a batch then holds the documents of a few owners, and its
 * commit rewrites the per-owner statistics (CS_T_OLEX, CS_T_OWORDS) of
 * those owners alone. In id order every batch held documents of nearly
 * every owner, so each commit rewrote nearly all of those statistics, and
 * a first load's memory (LMDB keeps a transaction's dirty pages) and time
 * per batch grew with the index. (The owner is clamped at 0, so that every
 * group reads back as a number.) Events stay in position order: the person
 * the index keys them by is, in the portal's view, found through their
 * conversation, which may change person between a killed load and its
 * resumption; in position order the marker does not depend on it. */
#define OWNER "greatest(coalesce(owner_id, 0), 0)"
/* X(kind, phase, view, group, id, $ of the group in the snapshot's counts,
 * $ of the id): every query below is put together here, at compile time. */
#define LOAD_KINDS(X)                                                                              \
  X('e', "events", "convsearch.src_events", "0::bigint", "position", "1", "2")                     \
  X('p', "people", "convsearch.src_patients", OWNER, "id", "3", "4")                               \
  X('c', "conversations", "convsearch.src_conversations", OWNER, "id", "5", "6")                   \
  X('r', "relevant points", "convsearch.src_relevant_points", "0::bigint", "id", "7", "8")
#define AFTER(group, id, a, b) "(" group ", " id ") > ($" a "::bigint, $" b "::bigint)"
#define KIND(k, phase, from, group, id, a, b)                                                      \
  {k, phase,                                                                                       \
   "DECLARE cs_load NO SCROLL CURSOR FOR SELECT " group ", " id " FROM " from                      \
   " WHERE " AFTER(group, id, "1", "2") " ORDER BY 1, 2"},
#define COUNT(k, phase, from, group, id, a, b)                                                     \
  ", (SELECT count(*) FROM " from " WHERE " AFTER(group, id, a, b) ")"

static const struct {
  char kind;
  const char *phase;
  const char *cursor; /* kind's (group, id) after ($1, $2), in that order */
} kinds[CS_LOAD_KINDS] = {LOAD_KINDS(KIND)};

int cs_load_marker(uint8_t marker_kind) {
  for (int k = 0; k < CS_LOAD_KINDS; k++) {
    if (marker_kind == (uint8_t)toupper((unsigned char)kinds[k].kind)) return 1;
  }
  return 0;
}

/* Where the load starts: the kind, and the (group, id) after which. */
static int start_kind(const cs_load *l, cs_load_key *after) {
  *after = (cs_load_key){0, 0};
  if (!l->mark) return 0;
  for (int k = 0; k < CS_LOAD_KINDS; k++) {
    if (l->cp.marker_kind == (uint8_t)toupper((unsigned char)kinds[k].kind)) {
      *after = (cs_load_key){l->cp.marker_group, l->cp.marker_entity};
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
  cs_load_key after;
  int first = start_kind(l, &after);
  char a[2 * CS_LOAD_KINDS][24];
  const char *params[2 * CS_LOAD_KINDS];
  for (int k = 0; k < CS_LOAD_KINDS; k++) {
    /* Kinds already loaded count nothing. */
    cs_load_key from = k < first    ? (cs_load_key){INT64_MAX, INT64_MAX}
                       : k == first ? after
                                    : (cs_load_key){0, 0};
    snprintf(a[2 * k], sizeof a[2 * k], "%" PRIu64, from.group);
    snprintf(a[2 * k + 1], sizeof a[2 * k + 1], "%" PRIu64, from.id);
    params[2 * k] = a[2 * k];
    params[2 * k + 1] = a[2 * k + 1];
  }
  int readable = cs_source_readable(l->pg);
  if (readable < 0) return CS_APPLY_PG_ERROR;
#define SNAPSHOT_SQL "SELECT pg_snapshot_xmin(pg_current_snapshot())::text" LOAD_KINDS(COUNT)
  r = cs_pg_exec(l->pg, "reading the snapshot",
                 readable ? SNAPSHOT_SQL ", " CS_SOURCE_SQL : SNAPSHOT_SQL, 2 * CS_LOAD_KINDS,
                 params);
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
static int commit(cs_load *l, int k, cs_load_key after) {
  cs_checkpoint cp = l->cp;
  if (l->mark) {
    cp.marker_kind = (uint8_t)toupper((unsigned char)kinds[k].kind);
    cp.marker_group = after.group;
    cp.marker_entity = after.id;
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

/* (Re)opens the cursor over kind k's entities after `after`, in (group, id)
 * order: PostgreSQL sorts them once for the whole kind. */
static int open_cursor(cs_load *l, int k, cs_load_key after) {
  PGresult *r = cs_pg_exec(l->pg, "closing the snapshot's cursor", "CLOSE ALL", 0, NULL);
  if (!r) return CS_APPLY_PG_ERROR;
  PQclear(r);
  char g[24], i[24];
  snprintf(g, sizeof g, "%" PRIu64, after.group);
  snprintf(i, sizeof i, "%" PRIu64, after.id);
  const char *params[2] = {g, i};
  r = cs_pg_exec(l->pg, "listing the snapshot", kinds[k].cursor, 2, params);
  if (!r) return CS_APPLY_PG_ERROR;
  PQclear(r);
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Applies the ids of one page in calls of at most CS_APPLY_MAX(_CONV), in
 * id order (cs_apply's contract). */
static int apply_page(cs_load *l, char kind, uint64_t *ids, size_t n) {
  qsort(ids, n, sizeof *ids, cmp_u64);
  size_t step = kind == 'c' ? CS_APPLY_MAX_CONV : CS_APPLY_MAX;
  int rc = 0;
  for (size_t from = 0; !rc && from < n; from += step)
    rc = cs_apply(l->pg, l->w, kind, ids + from, n - from < step ? n - from : step, &l->st);
  return rc;
}

/* Applies every entity of kind k after `after`. When the map fills, the
 * batch since the last commit is lost: the map grows and the load goes on
 * from that commit (applying is idempotent). */
static int load_kind(cs_load *l, int k, cs_load_key after) {
  cs_progress *p = &l->progress;
  cs_load_key committed = after;
  uint64_t committed_done = p->done;
  int rc = open_cursor(l, k, after);
  if (!rc) rc = cs_writer_begin(l->w);
  if (rc) return rc;
  for (;;) {
    if (l->stop && *l->stop) {
      cs_writer_abort(l->w);
      return CS_LOAD_STOPPED;
    }
    PGresult *r = cs_pg_exec(l->pg, "listing the snapshot", "FETCH 256 FROM cs_load", 0, NULL);
    if (!r) {
      cs_writer_abort(l->w);
      return CS_APPLY_PG_ERROR;
    }
    uint64_t ids[256];
    int n = PQntuples(r), m = 0;
    if (n > 256) n = 256;
    cs_load_key last = after;
    for (int i = 0; i < n; i++) {
      /* An id below 0 (or not a number) names nothing the index can hold:
       * counted as skipped. The group is never below 0 (OWNER). */
      uint64_t id, group;
      if (cs_pg_u64(r, i, 1, 0, &id) || cs_pg_u64(r, i, 0, 0, &group)) {
        cs_log(CS_LOG_WARN, "loading %s: skipped the row with id %s (not an id >= 0)",
               kinds[k].phase, PQgetvalue(r, i, 1));
        l->st.skipped++;
        continue;
      }
      ids[m++] = id;
      last = (cs_load_key){group, id};
    }
    PQclear(r);
    rc = apply_page(l, kinds[k].kind, ids, (size_t)m);
    if (!rc && n) {
      after = last;
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
      rc = open_cursor(l, k, after);
      if (!rc) rc = cs_writer_begin(l->w);
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
  cs_load_key after;
  int first = start_kind(l, &after);
  cs_progress *p = &l->progress;
  for (int k = first; k < CS_LOAD_KINDS; k++) {
    p->phase = kinds[k].phase;
    p->total = l->counts[k];
    p->done = 0;
    int rc = load_kind(l, k, k == first ? after : (cs_load_key){0, 0});
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
