/*
 * Applying changed entities (see apply.h).
 */
#include "apply.h"

#include "badrows.h"
#include "errors.h"
#include "log.h"
#include "pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cs_sql_conversations =
    "SELECT id, patient_id, owner_id, title, description, language, audio_uri, duration_ms, "
    "status, " CS_SQL_MS("created_at") ", " CS_SQL_MS(
        "updated_at") ", transcript_error, value_error "
                      "FROM convsearch.src_conversations WHERE id = ANY($1::bigint[]) ORDER BY id";

const char *const cs_sql_segments =
    "SELECT conversation_id, seq, speaker, role, start_ms, end_ms, text "
    "FROM convsearch.src_segments WHERE conversation_id = ANY($1::bigint[]) "
    "ORDER BY conversation_id, seq";

const char *const cs_sql_patients =
    "SELECT id, owner_id, name, email, phone, " CS_SQL_MS("created_at") ", " CS_SQL_MS(
        "updated_at") " FROM convsearch.src_patients WHERE id = ANY($1::bigint[]) ORDER BY id";

static const char *const sql_events =
    "SELECT position, type, "
    "CASE WHEN jsonb_typeof(payload) = 'object' THEN payload->>'patient_id' END, "
    "CASE WHEN jsonb_typeof(payload) = 'object' THEN payload->>'conversation_id' END, "
    "actor_id, " CS_SQL_MS("recorded_at") " FROM convsearch.src_events "
                                          "WHERE position = ANY($1::bigint[]) ORDER BY position";

static const char *const sql_points =
    "SELECT id, text, category FROM convsearch.src_relevant_points WHERE id = ANY($1::bigint[])";

static char *id_array(const uint64_t *ids, size_t n) {
  size_t cap = n * 22 + 4;
  char *buf = malloc(cap);
  if (buf) cs_pg_id_array(buf, cap, ids, n);
  return buf;
}

/* Row index by id in a result sorted by id (column 0), or -1. */
static int find_row(const PGresult *r, uint64_t id) {
  int lo = 0, hi = PQntuples(r);
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    uint64_t v = 0;
    cs_pg_u64(r, mid, 0, 0, &v);
    if (v < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  uint64_t v = 0;
  if (lo < PQntuples(r) && cs_pg_u64(r, lo, 0, 0, &v) == 0 && v == id) return lo;
  return -1;
}

int cs_apply_conv_from_rows(const PGresult *convs, int row, const PGresult *segs, int seg_from,
                            int seg_to, cs_turn_in *turns, cs_conv_in *out) {
  memset(out, 0, sizeof *out);
  int64_t duration;
  if (cs_pg_u64(convs, row, 0, 0, &out->id) || cs_pg_u64(convs, row, 1, 0, &out->patient_id) ||
      cs_pg_u64(convs, row, 2, 0, &out->owner_id) || cs_pg_i64(convs, row, 7, -1, &duration) ||
      cs_pg_i64(convs, row, 9, -1, &out->created_at_ms) ||
      cs_pg_i64(convs, row, 10, -1, &out->updated_at_ms))
    return -1;
  out->title = cs_pg_str(convs, row, 3);
  out->description = cs_pg_str(convs, row, 4);
  out->language = cs_pg_str(convs, row, 5);
  out->audio_uri = cs_pg_str(convs, row, 6);
  out->duration_ms = duration;
  out->status = cs_pg_str(convs, row, 8);
  size_t n = 0;
  for (int i = seg_from; i < seg_to; i++) {
    cs_turn_in *t = &turns[n];
    int64_t seq;
    if (cs_pg_i64(segs, i, 1, 0, &seq) || seq < INT32_MIN || seq > INT32_MAX ||
        cs_pg_i64(segs, i, 4, -1, &t->start_ms) || cs_pg_i64(segs, i, 5, -1, &t->end_ms))
      return -1;
    t->seq = (int32_t)seq;
    t->speaker = cs_pg_str(segs, i, 2);
    t->role = cs_pg_str(segs, i, 3);
    t->text = cs_pg_str(segs, i, 6);
    t->text_len = t->text ? (size_t)PQgetlength(segs, i, 6) : 0;
    n++;
  }
  out->turns = turns;
  out->nturns = n;
  return 0;
}

int cs_apply_patient_from_row(const PGresult *r, int row, cs_patient_in *out) {
  memset(out, 0, sizeof *out);
  if (cs_pg_u64(r, row, 0, 0, &out->id) || cs_pg_u64(r, row, 1, 0, &out->owner_id) ||
      cs_pg_i64(r, row, 5, -1, &out->created_at_ms) ||
      cs_pg_i64(r, row, 6, -1, &out->updated_at_ms))
    return -1;
  out->name = cs_pg_str(r, row, 2);
  out->email = cs_pg_str(r, row, 3);
  out->phone = cs_pg_str(r, row, 4);
  return 0;
}

static void count_flags(cs_apply_stats *st, unsigned flags) {
  if (flags & CS_PUT_UNCHANGED) st->unchanged++;
  if (flags & CS_PUT_REPAIRED) st->repaired++;
  if (flags & CS_PUT_ERASED) st->erased_refused++;
  if (flags & CS_PUT_SKIPPED) st->skipped++;
}

/* A batch whose query failed on the data (why, see cs_pg_exec_rows): each
 * entity again on its own, so that only the bad row is left out; a single
 * one is noted as a bad row and skipped. */
typedef int (*apply_fn)(PGconn *, cs_writer *, const uint64_t *, size_t, cs_apply_stats *);
static int bad_batch(PGconn *pg, cs_writer *w, char kind, apply_fn fn, const uint64_t *ids,
                     size_t n, const char *why, cs_apply_stats *st) {
  if (!why[0]) return CS_APPLY_PG_ERROR;
  if (n == 1) {
    st->skipped++;
    return cs_badrows_note(w, kind, ids[0], why, "skipped");
  }
  for (size_t i = 0; i < n; i++) {
    int rc = fn(pg, w, ids + i, 1, st);
    if (rc) return rc;
  }
  return 0;
}

/* Why a row is left out when the index's docids run out (writer.h). */
static const char no_docids[] =
    "the index has no document numbers left for it: run convsearch-indexer reindex";

/* A row the source could not hand over whole (cs_apply_*_from_rows). */
static int malformed(cs_writer *w, char kind, uint64_t id, const char *why, cs_apply_stats *st) {
  st->skipped++;
  return cs_badrows_note(w, kind, id, why, "skipped");
}

static int apply_conversations(PGconn *pg, cs_writer *w, const uint64_t *ids, size_t n,
                               cs_apply_stats *st) {
  char *arr = id_array(ids, n);
  if (!arr) return CS_ENOMEM;
  const char *params[1] = {arr};
  char why[256];
  PGresult *convs = cs_pg_exec_rows(pg, "reading conversations", cs_sql_conversations, 1, params,
                                    why, sizeof why);
  PGresult *segs =
      convs ? cs_pg_exec_rows(pg, "reading segments", cs_sql_segments, 1, params, why, sizeof why)
            : NULL;
  free(arr);
  if (!segs) {
    PQclear(convs);
    return bad_batch(pg, w, 'c', apply_conversations, ids, n, why, st);
  }
  int rc = 0;
  int nsegs = PQntuples(segs);
  cs_turn_in *turns = malloc(((size_t)nsegs + 1) * sizeof *turns);
  if (!turns) rc = CS_ENOMEM;
  int seg = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    uint64_t id = ids[i];
    /* Segments are sorted by conversation id, like ids. */
    uint64_t sid = 0;
    while (seg < nsegs && cs_pg_u64(segs, seg, 0, 0, &sid) == 0 && sid < id)
      seg++;
    int seg_to = seg;
    while (seg_to < nsegs && cs_pg_u64(segs, seg_to, 0, 0, &sid) == 0 && sid == id)
      seg_to++;
    int row = find_row(convs, id);
    if (row < 0) {
      rc = cs_writer_delete_conversation(w, id);
      if (rc == CS_ENOTFOUND) rc = 0;
      if (!rc) st->deleted_conversations++;
      seg = seg_to;
      continue;
    }
    cs_conv_in c;
    if (PQgetisnull(convs, row, 2)) {
      /* No owner: its person is not in the store (deleted without the
       * cascade, or never there). Out of the index, as the person is. */
      char orphan[96];
      snprintf(orphan, sizeof orphan, "its person %s is not in the store",
               PQgetvalue(convs, row, 1));
      rc = cs_writer_delete_conversation(w, id);
      if (rc == CS_ENOTFOUND) rc = 0;
      if (!rc) rc = malformed(w, 'c', id, orphan, st);
      seg = seg_to;
      continue;
    }
    if (cs_apply_conv_from_rows(convs, row, segs, seg, seg_to, turns, &c)) {
      rc = malformed(w, 'c', id, "malformed value", st);
      seg = seg_to;
      continue;
    }
    unsigned flags = 0;
    rc = cs_writer_put_conversation(w, &c, &flags);
    if (rc == CS_ELIMIT) { /* nothing written: the stream goes on without it */
      rc = malformed(w, 'c', id, no_docids, st);
      seg = seg_to;
      continue;
    }
    if (rc) break;
    /* A value clamped by the source view (e.g. a duration out of range,
     * indexed as unknown) is a bad row too; a clean one clears it. */
    /* So is a turn whose seq repeats or goes back (left out). One note per
     * conversation, the same on every re-read (cs_badrows_note does not log
     * or count it again): clearing it and noting it anew, as before, made
     * each re-read of such a conversation a new bad row. */
    const char *verr = cs_pg_str(convs, row, 12);
    static const char seq_err[] = "a turn's seq is not past the one before it";
    if (verr && (flags & CS_PUT_BAD_SEQ)) {
      char both[600];
      snprintf(both, sizeof both, "%.400s; %s", verr, seq_err);
      rc = cs_badrows_note(w, 'c', id, both, "indexed with it unknown and without that turn");
    } else if (verr) {
      rc = cs_badrows_note(w, 'c', id, verr, "indexed with it unknown");
    } else if (flags & CS_PUT_BAD_SEQ) {
      rc = cs_badrows_note(w, 'c', id, seq_err, "indexed without that turn");
    } else {
      rc = cs_badrows_clear(w, 'c', id);
    }
    if (rc) break;
    /* Reported once, when the conversation is (re)indexed, not on every
     * idempotent re-read. */
    const char *terr = cs_pg_str(convs, row, 11);
    if (terr && !(flags & (CS_PUT_UNCHANGED | CS_PUT_ERASED))) {
      cs_log(CS_LOG_WARN,
             "conversation %" PRIu64 ": transcript not readable (%s); indexed without turns", id,
             terr);
    }
    count_flags(st, flags);
    if (!(flags & (CS_PUT_UNCHANGED | CS_PUT_ERASED))) st->conversations++;
    if (flags & (CS_PUT_REPAIRED | CS_PUT_CUT)) {
      cs_log(CS_LOG_WARN, "conversation %" PRIu64 ": text %s%s", id,
             flags & CS_PUT_REPAIRED ? "had invalid UTF-8 or NUL bytes (repaired) " : "",
             flags & CS_PUT_CUT ? "exceeded the size bounds (cut)" : "");
    }
    seg = seg_to;
  }
  free(turns);
  PQclear(convs);
  PQclear(segs);
  return rc;
}

static int apply_patients(PGconn *pg, cs_writer *w, const uint64_t *ids, size_t n,
                          cs_apply_stats *st) {
  char *arr = id_array(ids, n);
  if (!arr) return CS_ENOMEM;
  const char *params[1] = {arr};
  char why[256];
  PGresult *r = cs_pg_exec_rows(pg, "reading people", cs_sql_patients, 1, params, why, sizeof why);
  free(arr);
  if (!r) return bad_batch(pg, w, 'p', apply_patients, ids, n, why, st);
  int rc = 0;
  uint64_t *changed = malloc(n * sizeof *changed);
  size_t nchanged = 0;
  if (!changed) rc = CS_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++) {
    int row = find_row(r, ids[i]);
    if (row < 0) {
      rc = cs_writer_delete_patient(w, ids[i]);
      if (!rc) st->deleted_patients++;
      /* Conversations the store still has for them (a portal deleting
       * without the cascade) are re-read below: noted as bad rows. */
      if (!rc) changed[nchanged++] = ids[i];
      continue;
    }
    cs_patient_in p;
    if (cs_apply_patient_from_row(r, row, &p)) {
      rc = malformed(w, 'p', ids[i], "malformed value", st);
      continue;
    }
    unsigned flags = 0;
    rc = cs_writer_put_patient(w, &p, &flags);
    if (rc == CS_ELIMIT) {
      rc = malformed(w, 'p', ids[i], no_docids, st);
      continue;
    }
    count_flags(st, flags);
    if (!rc && !(flags & (CS_PUT_UNCHANGED | CS_PUT_ERASED))) st->patients++;
    if (!rc && (flags & CS_PUT_OWNER_CHANGED)) changed[nchanged++] = ids[i];
  }
  PQclear(r);
  /* A person's owner may be part of their conversations' rows (the portal
   * derives it): re-apply the conversations of people whose owner changed,
   * or who are gone. */
  if (!rc && nchanged) {
    char *a = id_array(changed, nchanged);
    const char *params2[1] = {a};
    PGresult *cr = a ? cs_pg_exec(pg, "reading people's conversations",
                                  "SELECT id FROM convsearch.src_conversations "
                                  "WHERE patient_id = ANY($1::bigint[]) ORDER BY id",
                                  1, params2)
                     : NULL;
    free(a);
    if (!cr) {
      rc = a ? CS_APPLY_PG_ERROR : CS_ENOMEM;
    } else {
      int m = PQntuples(cr);
      uint64_t *cids = malloc(((size_t)m + 1) * sizeof *cids);
      if (!cids) rc = CS_ENOMEM;
      for (int i = 0; !rc && i < m; i++)
        cs_pg_u64(cr, i, 0, 0, &cids[i]);
      for (int i = 0; !rc && i < m; i += CS_APPLY_MAX) {
        size_t k = (size_t)(m - i) < CS_APPLY_MAX ? (size_t)(m - i) : CS_APPLY_MAX;
        rc = apply_conversations(pg, w, cids + i, k, st);
      }
      free(cids);
      PQclear(cr);
    }
  }
  free(changed);
  return rc;
}

static int apply_events(PGconn *pg, cs_writer *w, const uint64_t *ids, size_t n,
                        cs_apply_stats *st) {
  char *arr = id_array(ids, n);
  if (!arr) return CS_ENOMEM;
  const char *params[1] = {arr};
  char why[256];
  PGresult *r = cs_pg_exec_rows(pg, "reading events", sql_events, 1, params, why, sizeof why);
  free(arr);
  if (!r) return bad_batch(pg, w, 'e', apply_events, ids, n, why, st);
  int rc = 0;
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    cs_event_in e;
    memset(&e, 0, sizeof e);
    e.type = cs_pg_str(r, i, 1);
    if (cs_pg_u64(r, i, 0, 0, &e.position) || cs_pg_u64(r, i, 2, 0, &e.patient_id) ||
        cs_pg_u64(r, i, 3, 0, &e.conversation_id) || cs_pg_u64(r, i, 4, 0, &e.actor_id) ||
        cs_pg_i64(r, i, 5, 0, &e.recorded_at_ms)) {
      uint64_t pos = 0;
      if (cs_pg_u64(r, i, 0, 0, &pos) == 0)
        rc = malformed(w, 'e', pos, "malformed payload field", st);
      continue;
    }
    unsigned flags = 0;
    rc = cs_writer_put_event(w, &e, &flags);
    if (rc) break;
    count_flags(st, flags);
    if (flags & CS_PUT_SKIPPED) {
      /* A bad row: logged and counted once however often it is read again
       * (the first run's load and the tail after it may both read it). */
      char reason[160];
      snprintf(reason, sizeof reason, "%s (type %.60s)",
               cs_event_type_parse(e.type) ? "no patient_id in payload" : "unknown event type",
               e.type ? e.type : "none");
      rc = cs_badrows_note(w, 'e', e.position, reason, "skipped");
    } else if (!(flags & (CS_PUT_DUPLICATE | CS_PUT_ERASED))) {
      st->events++;
      if (cs_event_type_parse(e.type) == CS_EV_ERASED) {
        cs_log(CS_LOG_INFO, "person %" PRIu64 " erased from the index (event %" PRIu64 ")",
               e.patient_id, e.position);
        /* Their text is still in freed pages: the tailing indexer compacts
         * when next idle (tail.c), in the same commit as the erasure. */
        rc = cs_put(cs_writer_txn(w), CS_T_META, (cs_slice){CS_META_COMPACT_PENDING, 15},
                    (cs_slice){"1", 1});
      }
    }
  }
  /* An event the store no longer has (a portal question deleted, an event
   * row removed) leaves the index, and the interaction it counted with it. */
  uint64_t *gone = rc ? NULL : malloc(n * sizeof *gone);
  size_t ngone = 0, deleted = 0;
  if (!rc && !gone) rc = CS_ENOMEM;
  for (size_t i = 0; !rc && i < n; i++)
    if (find_row(r, ids[i]) < 0) gone[ngone++] = ids[i];
  if (!rc && ngone) {
    qsort(gone, ngone, sizeof *gone, cs_cmp_u64);
    rc = cs_writer_delete_events(w, gone, ngone, &deleted);
    st->deleted_events += deleted;
  }
  free(gone);
  PQclear(r);
  return rc;
}

static int apply_points(PGconn *pg, cs_writer *w, const uint64_t *ids, size_t n,
                        cs_apply_stats *st) {
  char *arr = id_array(ids, n);
  if (!arr) return CS_ENOMEM;
  const char *params[1] = {arr};
  char why[256];
  PGresult *r =
      cs_pg_exec_rows(pg, "reading relevant points", sql_points, 1, params, why, sizeof why);
  free(arr);
  if (!r) return bad_batch(pg, w, 'r', apply_points, ids, n, why, st);
  int rc = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    int row = -1;
    for (int j = 0; j < PQntuples(r); j++) {
      uint64_t id;
      if (cs_pg_u64(r, j, 0, 0, &id) == 0 && id == ids[i]) row = j;
    }
    if (row < 0) {
      rc = cs_writer_delete_point(w, ids[i]);
    } else {
      rc = cs_writer_put_point(w, ids[i], cs_pg_str(r, row, 1), cs_pg_str(r, row, 2));
      st->points++;
    }
  }
  PQclear(r);
  return rc;
}

/* After a TRUNCATE of an event table: removes the events the store no
 * longer has. */
static int reconcile_events(PGconn *pg, cs_writer *w, cs_apply_stats *st) {
  PGresult *r = cs_pg_exec(pg, "reconciling events after TRUNCATE",
                           "SELECT position FROM convsearch.src_events ORDER BY position", 0, NULL);
  if (!r) return CS_APPLY_PG_ERROR;
  uint64_t *ids;
  size_t n, ngone = 0, deleted = 0;
  int rc = cs_writer_list_ids(w, CS_T_EVENT, &ids, &n);
  for (size_t i = 0; !rc && i < n; i++)
    if (find_row(r, ids[i]) < 0) ids[ngone++] = ids[i];
  if (!rc) rc = cs_writer_delete_events(w, ids, ngone, &deleted);
  st->deleted_events += deleted;
  free(ids);
  PQclear(r);
  return rc;
}

/* After a TRUNCATE: removes from the index every conversation and person
 * the source no longer has (rows still there are re-applied by their own
 * changes or found unchanged). */
static int reconcile(PGconn *pg, cs_writer *w, cs_apply_stats *st) {
  static const struct {
    cs_table table;
    const char *sql;
    int conv;
  } sets[] = {
      {CS_T_CONV, "SELECT id FROM convsearch.src_conversations ORDER BY id", 1},
      {CS_T_PATIENT, "SELECT id FROM convsearch.src_patients ORDER BY id", 0},
  };
  for (size_t s = 0; s < 2; s++) {
    PGresult *r = cs_pg_exec(pg, "reconciling after TRUNCATE", sets[s].sql, 0, NULL);
    if (!r) return CS_APPLY_PG_ERROR;
    uint64_t *ids;
    size_t n;
    int rc = cs_writer_list_ids(w, sets[s].table, &ids, &n);
    int row = 0, rows = PQntuples(r);
    for (size_t i = 0; !rc && i < n; i++) {
      uint64_t v = 0;
      while (row < rows && cs_pg_u64(r, row, 0, 0, &v) == 0 && v < ids[i])
        row++;
      if (row < rows && cs_pg_u64(r, row, 0, 0, &v) == 0 && v == ids[i]) continue;
      if (sets[s].conv) {
        rc = cs_writer_delete_conversation(w, ids[i]);
        st->deleted_conversations++;
      } else {
        rc = cs_writer_delete_patient(w, ids[i]);
        st->deleted_patients++;
      }
      if (rc == CS_ENOTFOUND) rc = 0;
    }
    free(ids);
    PQclear(r);
    if (rc) return rc;
  }
  int rc = reconcile_events(pg, w, st);
  if (rc) return rc;
  cs_log(CS_LOG_INFO, "reconciled the index with the stores: what they no longer have is gone");
  return 0;
}

int cs_apply(PGconn *pg, cs_writer *w, char kind, const uint64_t *ids, size_t n,
             cs_apply_stats *st) {
  if (n == 0) return 0;
  if (n > CS_APPLY_MAX) return CS_EINVAL;
  switch (kind) {
  case 'c':
    return apply_conversations(pg, w, ids, n, st);
  case 'p':
    return apply_patients(pg, w, ids, n, st);
  case 'e':
    return apply_events(pg, w, ids, n, st);
  case 'r':
    return apply_points(pg, w, ids, n, st);
  case 'a':
    return 0;
  case 'T':
    return reconcile(pg, w, st);
  default:
    cs_log(CS_LOG_WARN, "change of unknown kind '%c' skipped", kind);
    return 0;
  }
}
