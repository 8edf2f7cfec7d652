/*
 * Tailing the stores into the index.
 *
 * Change capture (schemas/capture.sql) appends (xid, kind, entity) rows to
 * convsearch.changes. One *round* does, inside one REPEATABLE READ snapshot S:
 *
 *   h     := xmin(S)                         -- every xid < h has finished
 *   dirty := distinct (kind, entity) of changes with xid >= floor
 *   apply the current state of every dirty entity (as of S)
 *   floor := h
 *
 * Changes with xid < floor were all visible to an earlier round's snapshot
 * and applied then; a transaction still running at S has xid >= h and is read
 * by a later round. So no commit order, however late, loses a change: this is
 * what makes tailing gap-free without serializing writers. Applying is
 * idempotent (entities are re-read, events are keyed by position), so the
 * changes of transactions that committed after h but before S, which are read
 * again next round, cost a checksum comparison and nothing else.
 *
 * The dirty set is walked in (kind, entity) order through a server-side
 * cursor and applied in LMDB batches. Each batch commits together with the
 * checkpoint {floor, round horizon h, marker = last entity applied}, so a
 * crash resumes the round after the marker and then moves floor to the
 * stored h, never to a later horizon it did not fully read.
 */
#include "tail.h"

#include "admin.h"
#include "apply.h"
#include "clock.h"
#include "errors.h"
#include "load.h"
#include "source.h"
#include "log.h"
#include "mirror.h"
#include "pg.h"
#include "store.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t cs_tail_stop = 0;

/* Written by cs_tail_request_stop, watched while waiting for changes: a
 * stop request between the loop's check and select() must not wait a whole
 * poll interval (which may be minutes). */
static int wake_pipe[2] = {-1, -1};

void cs_tail_request_stop(void) {
  cs_tail_stop = 1;
  if (wake_pipe[1] >= 0) {
    int saved = errno;
    ssize_t w = write(wake_pipe[1], "x", 1);
    (void)w;
    errno = saved;
  }
}

/* Changes read per FETCH; a FETCH returning fewer ends the round's cursor. */
#define FETCH_ROWS 1024
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct tail {
  const cs_tail_opts *o;
  PGconn *pg;
  cs_store *store;
  cs_writer *w;
  cs_mirror *mirror;
  cs_apply_stats st;
  uint64_t applied;
  int loaded_now;                     /* the last step was the initial load (a round follows) */
  int source_readable;                /* this role may read convsearch.meta (source.h) */
  char index_source[CS_SOURCE_MAX];   /* the source the index was built from ("": unknown) */
  char source_pending[CS_SOURCE_MAX]; /* to record with the next commit */
  double compact_failed_at;           /* monotonic s of the last failed compaction (0: none) */
  int reload; /* the checkpoint was damaged: the load is followed by a reconcile */
  int worked; /* something was applied, loaded or compacted since the last release_memory */
  double apply_s, commit_s; /* this round's: in cs_apply, in cs_writer_commit */
  int no_bulk; /* a load in CS_STORE_BULK mode ran out of room: the next ones do without */
} tail;

enum { ROUND_OK = 0, ROUND_RETRY = 1, ROUND_FATAL = 2 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Most time between checkpoints while nothing changes (see round_run). */
#define IDLE_CHECKPOINT_MS 30000

static int read_checkpoint(tail *t, cs_checkpoint *cp) {
  int rc = cs_writer_begin(t->w);
  if (!rc) rc = cs_writer_get_checkpoint(t->w, cp);
  cs_writer_abort(t->w);
  return rc;
}

/* Commits the open writer batch with checkpoint cp. On CS_EFULL grows the
 * map and reports ROUND_RETRY (the batch is redone from the checkpoint). */
static int commit_batch(tail *t, const cs_checkpoint *cp) {
  int rc = cs_writer_set_checkpoint(t->w, cp);
  if (!rc && t->source_pending[0]) rc = cs_source_put(t->w, t->source_pending);
  if (!rc) {
    double c0 = now_s();
    rc = cs_writer_commit(t->w);
    t->commit_s += now_s() - c0;
  } else {
    cs_writer_abort(t->w);
  }
  if (!rc && t->source_pending[0]) {
    memcpy(t->index_source, t->source_pending, sizeof t->index_source);
    t->source_pending[0] = 0;
  }
  if (rc == CS_EFULL) {
    rc = cs_store_grow(t->store);
    if (rc) {
      cs_log(CS_LOG_ERROR, "index map cannot grow further: %s", cs_strerror(rc));
      return ROUND_FATAL;
    }
    cs_log(CS_LOG_INFO, "index map grown to %zu MiB", cs_store_map_size(t->store) >> 20);
    return ROUND_RETRY;
  }
  if (rc) {
    cs_log(CS_LOG_ERROR, "index commit failed: %s", cs_strerror(rc));
    return ROUND_FATAL;
  }
  cs_mirror_wake(t->mirror);
  return ROUND_OK;
}

/* Maps an apply/writer error to what the round does next. */
static int apply_failed(tail *t, int rc) {
  cs_writer_abort(t->w);
  if (rc == CS_APPLY_PG_ERROR) return ROUND_RETRY;
  if (rc == CS_EFULL) {
    if (cs_store_grow(t->store)) return ROUND_FATAL;
    cs_log(CS_LOG_INFO, "index map grown to %zu MiB", cs_store_map_size(t->store) >> 20);
    return ROUND_RETRY;
  }
  cs_log(CS_LOG_ERROR, "indexing failed: %s", cs_strerror(rc));
  return ROUND_FATAL;
}

/* Entities whose state in the index actually changed. */
static uint64_t effective(const cs_apply_stats *st) {
  return st->conversations + st->deleted_conversations + st->patients + st->deleted_patients +
         st->events + st->deleted_events + st->points;
}

/* The checkpoint of round cp once complete: the floor moved to its
 * horizon h, no round under way. */
static cs_checkpoint round_done(const cs_checkpoint *cp, uint64_t h) {
  cs_checkpoint done = *cp;
  done.floor_xid = h;
  done.round_xid = 0;
  done.marker_kind = 0;
  done.marker_entity = 0;
  done.marker_group = 0;
  done.rounds++;
  return done;
}

/* Applies a FETCH result (sorted by kind, entity) in sub-batches of at most
 * CS_APPLY_MAX entities of one kind. Commits whenever the pending postings
 * pass the budget, and at the end; each commit carries the checkpoint with
 * the last entity applied as its marker, except the end of the round's last
 * result (`last`): that commit completes the round (round_done), so that
 * the round costs one commit, not two. */
static int apply_fetched(tail *t, const PGresult *r, int last, cs_checkpoint *cp) {
  int n = PQntuples(r);
  uint64_t ids[CS_APPLY_MAX];
  int rc = cs_writer_begin(t->w);
  if (rc) {
    cs_log(CS_LOG_ERROR, "cannot begin an index batch: %s", cs_strerror(rc));
    return ROUND_FATAL;
  }
  for (int i = 0; i < n;) {
    char kind = PQgetvalue(r, i, 0)[0];
    size_t k = 0, kmax = kind == 'c' ? CS_APPLY_MAX_CONV : CS_APPLY_MAX;
    int j = i;
    for (; j < n && k < kmax && PQgetvalue(r, j, 0)[0] == kind; j++) {
      if (cs_pg_u64(r, j, 1, 0, &ids[k]) == 0) k++;
    }
    double a0 = now_s();
    rc = cs_apply(t->pg, t->w, kind, ids, k, &t->st);
    t->apply_s += now_s() - a0;
    if (rc) return apply_failed(t, rc);
    t->applied += k;
    i = j;
    if (i == n || cs_writer_pending_bytes(t->w) > t->o->budget_bytes) {
      cs_checkpoint next;
      if (last && i == n) {
        next = round_done(cp, cp->round_xid);
      } else {
        next = *cp;
        next.marker_kind = (uint8_t)kind;
        next.marker_group = 0;
        cs_pg_u64(r, i - 1, 1, 0, &next.marker_entity);
      }
      int status = commit_batch(t, &next);
      if (status) return status;
      *cp = next;
      if (i < n) {
        rc = cs_writer_begin(t->w);
        if (rc) return ROUND_FATAL;
      }
    }
  }
  return ROUND_OK;
}

/* An index that was never loaded: no checkpoint at all, or one written by
 * an initial load that did not finish (floor 0, a load marker). */
static int needs_load(const cs_checkpoint *cp) {
  return cp->floor_xid == 0 && (cp->round_xid == 0 || cs_load_marker(cp->marker_kind));
}

/* The first run: loads one snapshot S of the stores through the same code
 * as reindex, then tails from h = xmin(S). Each batch commits with the
 * checkpoint {floor 0, round_xid h, marker = how far the load got}. After a
 * crash the load resumes after the marker in a new snapshot S2, and the
 * tail still starts from the first snapshot's h: what was applied from S is
 * current except for entities changed after S, whose changes all have
 * xid >= h (a transaction S could not see was running at S, so its xid is
 * at least xmin(S)); what is applied from S2 is newer still. So nothing is
 * lost, and what is read twice is skipped as unchanged. */
static int load_snapshot(tail *t, const cs_checkpoint *cp, int *changed) {
  cs_load l = {.pg = t->pg,
               .store = t->store,
               .w = t->w,
               .budget_bytes = t->o->budget_bytes,
               .stop = &cs_tail_stop,
               .cp = *cp,
               .mark = 1};
  int resuming = cs_load_marker(cp->marker_kind);
  if (cs_load_begin(&l)) {
    if (!cs_pg_lost(t->pg)) {
      cs_log(CS_LOG_ERROR, "is change capture installed? run: convsearch-indexer install --pg ...");
    }
    return ROUND_RETRY;
  }
  if (cs_source_check(t->index_source, l.source)) return ROUND_FATAL;
  if (!resuming) {
    l.cp.floor_xid = 0;
    l.cp.round_xid = l.horizon;
    l.cp.marker_kind = 0;
    l.cp.marker_entity = 0;
    l.cp.marker_group = 0;
  }
  cs_log(CS_LOG_INFO,
         "initial load: snapshot taken (horizon %" PRIu64 "): %" PRIu64 " events, %" PRIu64
         " people, %" PRIu64 " conversations, %" PRIu64 " relevant points to apply",
         l.horizon, l.counts[0], l.counts[1], l.counts[2], l.counts[3]);
  if (resuming) {
    cs_log(CS_LOG_INFO,
           "resuming the initial load after %c %" PRIu64 " (group %" PRIu64
           "); changes from horizon %" PRIu64 " on are tailed after it",
           (char)cp->marker_kind, cp->marker_entity, cp->marker_group, cp->round_xid);
  }
  int rc = cs_load_run(&l);
  t->st = l.st;
  if (l.source[0]) memcpy(t->index_source, l.source, sizeof t->index_source);
  if (rc == CS_LOAD_STOPPED || rc == CS_APPLY_PG_ERROR) return ROUND_RETRY;
  if (rc == CS_ENOSPC && cs_store_bulk(t->store)) {
    /* The grown map could not be allocated: what was committed stays, and
     * the load goes on (from its marker) keeping page copies. */
    cs_log(CS_LOG_WARN,
           "initial load: no room on disk for the index's grown map (%s): going on with LMDB's "
           "page copies in memory",
           cs_strerror(rc));
    t->no_bulk = 1;
    return ROUND_RETRY;
  }
  if (rc) return ROUND_FATAL;
  cs_checkpoint done = l.cp;
  done.floor_xid = l.cp.round_xid;
  done.round_xid = 0;
  done.marker_kind = 0;
  done.marker_entity = 0;
  done.marker_group = 0;
  rc = cs_writer_begin(t->w);
  if (rc) return ROUND_FATAL;
  /* The load's batches leave leaves half full (a page that fills splits in
   * two) and as many freed pages as a batch rewrote: the index is compacted
   * when next idle, which writes it again in key order into full pages. An
   * erasure's pending compaction ("1") is the same work and keeps its
   * reason. */
  cs_slice v;
  if (cs_get(cs_writer_txn(t->w), CS_T_META, (cs_slice){CS_META_COMPACT_PENDING, 15}, &v) ==
      CS_ENOTFOUND)
    rc = cs_put(cs_writer_txn(t->w), CS_T_META, (cs_slice){CS_META_COMPACT_PENDING, 15},
                (cs_slice){CS_COMPACT_AFTER_LOAD, 4});
  if (rc) {
    cs_writer_abort(t->w);
    return ROUND_FATAL;
  }
  if (t->reload) { /* what the lost checkpoint's rounds would have deleted */
    uint64_t none = 0;
    rc = cs_apply(t->pg, t->w, 'T', &none, 1, &t->st);
    if (rc) {
      cs_writer_abort(t->w);
      return rc == CS_APPLY_PG_ERROR ? ROUND_RETRY : ROUND_FATAL;
    }
  }
  int status = commit_batch(t, &done);
  if (status) return status;
  t->reload = 0;
  cs_log(CS_LOG_INFO,
         "initial load done in %.1f s: %" PRIu64 " conversations, %" PRIu64 " people, %" PRIu64
         " events, %" PRIu64 " relevant points (unchanged %" PRIu64 ", skipped %" PRIu64
         "); tailing from horizon %" PRIu64,
         now_s() - l.progress.t0, l.st.conversations, l.st.patients, l.st.events, l.st.points,
         l.st.unchanged, l.st.skipped, done.floor_xid);
  *changed = 1;
  t->loaded_now = 1;
  return ROUND_OK;
}

static int attach(tail *t);
static void detach(tail *t);

/* Opens the index again in or out of bulk mode (store.h, CS_STORE_BULK).
 * Returns 0, or -1 when it could not be opened again. */
static int bulk_writes(tail *t, int on) {
  if (cs_store_bulk(t->store) == on) return 0;
  detach(t);
  char err[512] = "";
  int rc = cs_store_set_bulk(t->store, on, err, sizeof err);
  if (rc) {
    cs_log(CS_LOG_ERROR, "%s", err[0] ? err : cs_strerror(rc));
    return -1;
  }
  if (on && !cs_store_bulk(t->store))
    cs_log(CS_LOG_INFO, "initial load: no room on disk for the index's map: LMDB keeps copies "
                        "of the pages it writes in memory until each commit");
  return attach(t);
}

/* The initial load; unless --no-load-in-map, written in bulk mode, so that
 * its memory does not grow with the index (store.h): at 300,000 synthetic
 * interviews 92 MB instead of 320, in 3-13 % more time (bench/analysis.md).
 * The mirror waits for the load's end (attach). */
static int initial_load(tail *t, const cs_checkpoint *cp, int *changed) {
  if (t->o->load_in_map && !t->no_bulk && bulk_writes(t, 1)) return ROUND_FATAL;
  int status = load_snapshot(t, cp, changed);
  if (bulk_writes(t, 0)) return ROUND_FATAL;
  return status;
}

static int round_run(tail *t, int *changed) {
  *changed = 0;
  cs_checkpoint cp;
  int rc = read_checkpoint(t, &cp);
  if (rc == CS_ECORRUPT) { /* reported: the stores say again what the index must hold */
    if (!t->reload)
      cs_log(CS_LOG_WARN, "the checkpoint is damaged: loading the stores again (what is "
                          "indexed is skipped as unchanged), then removing what they no longer "
                          "have");
    memset(&cp, 0, sizeof cp);
    t->reload = 1;
    rc = 0;
  }
  if (rc) {
    cs_log(CS_LOG_ERROR, "cannot read the checkpoint: %s", cs_strerror(rc));
    return ROUND_FATAL;
  }
  if (needs_load(&cp)) return initial_load(t, &cp, changed);
  PGresult *r = cs_pg_exec(t->pg, "starting a round",
                           "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
  if (!r) return ROUND_RETRY;
  PQclear(r);
  r = cs_pg_exec(t->pg, "reading the snapshot horizon",
                 t->source_readable
                     ? "SELECT pg_snapshot_xmin(pg_current_snapshot())::text, " CS_SOURCE_SQL
                     : "SELECT pg_snapshot_xmin(pg_current_snapshot())::text",
                 0, NULL);
  if (!r) return ROUND_RETRY;
  uint64_t horizon = 0;
  cs_pg_u64(r, 0, 0, 0, &horizon);
  char db_source[CS_SOURCE_MAX] = "";
  if (t->source_readable) snprintf(db_source, sizeof db_source, "%s", PQgetvalue(r, 0, 1));
  PQclear(r);
  if (cs_source_check(t->index_source, db_source)) return ROUND_FATAL;
  /* An index loaded before sources were recorded adopts the database's. */
  if (!t->index_source[0] && db_source[0])
    memcpy(t->source_pending, db_source, sizeof t->source_pending);

  int resuming = cp.round_xid != 0;
  uint64_t round_h = resuming ? cp.round_xid : horizon;
  cp.round_xid = round_h;
  char floor_s[24], mk[2] = {(char)cp.marker_kind, 0}, me[24];
  snprintf(floor_s, sizeof floor_s, "%" PRIu64, cp.floor_xid);
  snprintf(me, sizeof me, "%" PRIu64, cp.marker_entity);
  const char *params[3] = {floor_s, mk, me};
  r = cs_pg_exec(t->pg, "opening the change cursor",
                 resuming && cp.marker_kind
                     ? "DECLARE dirty NO SCROLL CURSOR FOR SELECT kind, entity "
                       "FROM convsearch.changes WHERE xid >= $1::text::xid8 "
                       "AND (kind, entity) > ($2::\"char\", $3::bigint) "
                       "GROUP BY kind, entity ORDER BY kind, entity"
                     : "DECLARE dirty NO SCROLL CURSOR FOR SELECT kind, entity "
                       "FROM convsearch.changes WHERE xid >= $1::text::xid8 "
                       "GROUP BY kind, entity ORDER BY kind, entity",
                 resuming && cp.marker_kind ? 3 : 1, params);
  if (!r) {
    if (!cs_pg_lost(t->pg)) {
      cs_log(CS_LOG_ERROR, "is change capture installed? run: convsearch-indexer install --pg ...");
    }
    return ROUND_RETRY;
  }
  PQclear(r);

  double t0 = now_s();
  uint64_t before = t->applied, fetched = 0;
  memset(&t->st, 0, sizeof t->st);
  t->apply_s = t->commit_s = 0;
  int status = ROUND_OK;
  for (;;) {
    if (cs_tail_stop) {
      status = ROUND_RETRY;
      break;
    }
    r = cs_pg_exec(t->pg, "reading changes", "FETCH " STR(FETCH_ROWS) " FROM dirty", 0, NULL);
    if (!r) {
      status = ROUND_RETRY;
      break;
    }
    int n = PQntuples(r);
    if (n == 0) {
      PQclear(r);
      break;
    }
    fetched += (uint64_t)n;
    /* Fewer rows than asked for: the cursor is over, no FETCH follows. */
    int last = n < FETCH_ROWS;
    status = apply_fetched(t, r, last, &cp);
    PQclear(r);
    if (status || last) break;
  }
  r = PQexec(t->pg, status == ROUND_OK ? "COMMIT" : "ROLLBACK");
  PQclear(r);
  if (status) return status;

  /* The round is complete: move the floor to its horizon. A round that
   * found no change at all moves it only when the last checkpoint is older
   * than IDLE_CHECKPOINT_MS: the floor it would skip holds no change (one
   * read again after a crash finds nothing), and a commit per idle poll
   * would grow the file whenever a reader pins an old snapshot. /v1/health's
   * lag_s (the checkpoint's age) stays below that interval plus a poll. */
  int64_t age_ms = cs_clock_ms(CLOCK_REALTIME) - cp.updated_at_ms;
  int idle = !resuming && fetched == 0 && age_ms >= 0 && age_ms < IDLE_CHECKPOINT_MS;
  if (!idle && (cp.floor_xid != round_h || cp.round_xid)) {
    rc = cs_writer_begin(t->w);
    if (rc) return ROUND_FATAL;
    cs_checkpoint done = round_done(&cp, round_h);
    status = commit_batch(t, &done);
    if (status) return status;
  }
  uint64_t n = t->applied - before;
  if (effective(&t->st)) {
    *changed = 1;
    cs_log(CS_LOG_INFO,
           "round applied %" PRIu64 " changed entities in %.3f s (read and analysed %.3f s, "
           "index commits %.3f s; conversations %" PRIu64 ", deleted %" PRIu64 ", people %" PRIu64
           ", events %" PRIu64 " (removed %" PRIu64 "), unchanged %" PRIu64 ", skipped %" PRIu64
           "); horizon %" PRIu64,
           n, now_s() - t0, t->apply_s, t->commit_s, t->st.conversations,
           t->st.deleted_conversations, t->st.patients, t->st.events, t->st.deleted_events,
           t->st.unchanged, t->st.skipped, round_h);
  }
  return ROUND_OK;
}

/* Waits for a NOTIFY, the poll timeout, or a stop request. A notification
 * that arrived during the last round is already queued inside libpq (it
 * reads them along with query results), where select() cannot see it: look
 * there first, or a change could wait a whole poll interval. */
static void wait_for_changes(tail *t) {
  int queued = 0;
  PGnotify *note;
  PQconsumeInput(t->pg);
  while ((note = PQnotifies(t->pg))) {
    PQfreemem(note);
    queued = 1;
  }
  if (queued) return;
  int fd = PQsocket(t->pg);
  if (fd < 0 || cs_tail_stop) return;
  fd_set set;
  FD_ZERO(&set);
  FD_SET(fd, &set);
  int maxfd = fd;
  if (wake_pipe[0] >= 0) {
    FD_SET(wake_pipe[0], &set);
    if (wake_pipe[0] > maxfd) maxfd = wake_pipe[0];
  }
  struct timeval tv = {t->o->poll_ms / 1000, (t->o->poll_ms % 1000) * 1000};
  int n = select(maxfd + 1, &set, NULL, NULL, &tv);
  if (n < 0 && errno != EINTR) return;
  PQconsumeInput(t->pg);
  while ((note = PQnotifies(t->pg)))
    PQfreemem(note);
}

/* Connects and LISTENs for the capture's notifications; on a hot standby
 * (pg_is_in_recovery(): LISTEN is refused during recovery, and nothing may
 * be written there) it only polls, every --poll-ms. Everything else a round
 * does is read-only and works on a standby. */
static int connect_and_listen(tail *t) {
  t->pg = cs_pg_connect(t->o->conninfo, t->o->once ? 3 : 0, &cs_tail_stop);
  if (!t->pg) return -1;
  PGresult *r = cs_pg_exec(t->pg, "checking for a standby", "SELECT pg_is_in_recovery()", 0, NULL);
  int standby = r && !strcmp(PQgetvalue(r, 0, 0), "t");
  PQclear(r);
  if (r && !standby) {
    r = cs_pg_exec(t->pg, "LISTEN", "LISTEN convsearch", 0, NULL);
    PQclear(r);
  }
  if (r) t->source_readable = cs_source_readable(t->pg);
  /* An install older than this indexer: retrying cannot help (exit 1). */
  int schema = r && t->source_readable == 1 ? cs_source_schema_check(t->pg) : 0;
  if (!r || t->source_readable < 0 || schema) {
    PQfinish(t->pg);
    t->pg = NULL;
    return -1;
  }
  if (standby)
    cs_log(CS_LOG_INFO,
           "connected to a PostgreSQL hot standby: polling for changes every %d ms (no "
           "LISTEN/NOTIFY during recovery)",
           t->o->poll_ms);
  else
    cs_log(CS_LOG_INFO, "connected to PostgreSQL");
  return 0;
}

/* When the mirror's sender made a new index for an alias that was gone
 * (META CS_MIRROR_REQUEUE_KEY; looked at when `look` or the sender hints
 * at it): queues everything indexed again and deletes the key, in one
 * transaction. A failure leaves the key for the next look. */
static void requeue_if_wanted(tail *t, int look) {
  if (!cs_mirror_requeue_hint(t->mirror) && !look) return;
  const cs_slice key = {CS_MIRROR_REQUEUE_KEY, strlen(CS_MIRROR_REQUEUE_KEY)};
  int rc, wanted = 0;
  for (;;) {
    rc = cs_writer_begin(t->w);
    if (rc) break;
    cs_slice v;
    wanted = cs_get(cs_writer_txn(t->w), CS_T_META, key, &v) == 0;
    if (wanted) rc = cs_writer_enqueue_all(t->w);
    if (wanted && !rc) rc = cs_del(cs_writer_txn(t->w), CS_T_META, key);
    if (wanted && !rc)
      rc = cs_writer_commit(t->w);
    else
      cs_writer_abort(t->w);
    if (rc != CS_EFULL || cs_store_grow(t->store)) break;
  }
  if (rc) {
    cs_log(CS_LOG_ERROR, "mirror: cannot queue everything again (tried again later): %s",
           cs_strerror(rc));
  } else if (wanted) {
    cs_log(CS_LOG_INFO, "mirror: everything indexed is queued again");
    cs_mirror_wake(t->mirror);
  }
}

/* Opens the writer on the store and, with a mirror URL, turns mirroring on
 * (enqueueing everything already indexed the first time) and starts the
 * sender. On failure close_index cleans up. */
static int attach(tail *t) {
  int rc = cs_writer_open(t->store, &t->w);
  if (!rc) rc = cs_writer_begin(t->w);
  if (!rc) {
    rc = cs_source_get(t->w, t->index_source);
    cs_writer_abort(t->w);
  }
  t->source_pending[0] = 0;
  if (rc) {
    if (rc == CS_EVERSION)
      cs_log(CS_LOG_ERROR,
             "the index in %s was written in another format: rebuild it with "
             "convsearch-indexer reindex",
             t->o->index_dir);
    else
      cs_log(CS_LOG_ERROR, "cannot open the index in %s: %s", t->o->index_dir, cs_strerror(rc));
    cs_writer_close(t->w);
    t->w = NULL;
    return -1;
  }
  if (!t->o->opensearch) return 0;
  for (;;) {
    rc = cs_writer_begin(t->w);
    if (!rc && !cs_writer_mirror_on(t->w)) {
      rc = cs_writer_set_mirror(t->w, 1);
      if (!rc) rc = cs_writer_enqueue_all(t->w);
      if (!rc)
        rc = cs_writer_commit(t->w);
      else
        cs_writer_abort(t->w);
      if (!rc) cs_log(CS_LOG_INFO, "mirror turned on: everything indexed so far is queued");
    } else if (!rc) {
      cs_writer_abort(t->w);
    }
    if (rc != CS_EFULL || cs_store_grow(t->store)) break;
  }
  /* In bulk mode (a first load) the mirror's thread starts when the load
   * is over, the load's documents queued meanwhile: leaving the mode opens
   * the index again, which stops the thread, and a restarted mirror leaves
   * the request it had under way (an index creation, say) behind. */
  if (!rc && cs_store_bulk(t->store)) return 0;
  if (!rc) rc = cs_mirror_start(t->store, t->o->opensearch, &t->mirror);
  if (rc) {
    cs_log(CS_LOG_ERROR, "cannot start the mirror: %s", cs_strerror(rc));
    return -1;
  }
  requeue_if_wanted(t, 1); /* asked for before a stop or a crash */
  return 0;
}

/* Opens the index's current generation for writing (taking the writer
 * lock, kept until close_index) and attaches the writer. */
static int open_index(tail *t) {
  char err[512] = "";
  int rc = cs_store_open(t->o->index_dir, CS_STORE_CREATE | CS_STORE_REDERIVABLE, &t->store, err,
                         sizeof err);
  if (rc) {
    cs_log(CS_LOG_ERROR, "%s", err[0] ? err : cs_strerror(rc));
    return -1;
  }
  if (t->o->load_in_map) { /* a first load to come: bulk mode before the mirror starts */
    cs_checkpoint cp;
    int pending =
        cs_writer_open(t->store, &t->w) == 0 && read_checkpoint(t, &cp) == 0 && needs_load(&cp);
    cs_writer_close(t->w);
    t->w = NULL;
    if (pending) return bulk_writes(t, 1);
  }
  return attach(t);
}

static void detach(tail *t) {
  cs_mirror_stop(t->mirror);
  t->mirror = NULL;
  cs_writer_close(t->w);
  t->w = NULL;
}

static void close_index(tail *t) {
  detach(t);
  cs_store_close(t->store);
  t->store = NULL;
}

/* Opens the generation the index names now (after a compaction or a
 * reindex) or the same one again, without letting go of the writer lock:
 * an operator's `compact` or a second indexer started meanwhile fails with
 * "another writer holds the index lock" rather than taking the index from
 * this one. */
static int reopen_index(tail *t) {
  detach(t);
  char err[512] = "";
  int rc = cs_store_reopen(t->store, err, sizeof err);
  if (rc) {
    cs_log(CS_LOG_ERROR, "%s", err[0] ? err : cs_strerror(rc));
    return -1;
  }
  return attach(t);
}

/* A commit at least this large leaves LMDB holding enough page copies
 * that the index is opened again once the indexer is idle (below). */
#define REOPEN_AFTER_COMMIT_BYTES (16u << 20)

/* Hands back to the system what the work since the last call freed. LMDB
 * keeps the page copies of a store's largest commit until the store is
 * closed (cs_writer_largest_commit): after a commit of at least
 * REOPEN_AFTER_COMMIT_BYTES (a catch-up of a backlog) the index is opened
 * again. And glibc keeps freed memory in the process (below the heap's
 * top, or in pieces): malloc_trim gives it back. Without both, a
 * following indexer would hold a first load's or a catch-up's peak for
 * good (50,000 interviews: 179 MiB while idle; 6.5 MiB now;
 * bench/analysis.md). Called when the indexer goes idle after work: once
 * per busy spell. Returns 0, or -1 when the index could not be opened
 * again. */
static int release_memory(tail *t) {
  if (!t->worked) return 0;
  t->worked = 0;
  size_t largest = cs_writer_largest_commit(t->w);
  if (largest >= REOPEN_AFTER_COMMIT_BYTES) {
    cs_log(CS_LOG_INFO,
           "idle after a commit of %zu MiB: opening the index again to hand back LMDB's copies "
           "of its pages",
           largest >> 20);
    if (reopen_index(t)) return -1;
  }
#ifdef __GLIBC__
  (void)malloc_trim(0);
#endif
  return 0;
}

/* After an erasure or the initial load (META compact_pending, set in the
 * erasing commit or the load's last), when a round found nothing to do:
 * compacts the index (`compact`: a copy in key order into full pages
 * swapped in as a new generation, the old files removed), so that the
 * erased person's text leaves the files without an operator, or the loaded
 * index takes the room its data needs. The query servers follow the
 * generation swap. Returns 0, or -1 when the index could not be reopened. */
static int compact_if_pending(tail *t) {
  cs_slice v;
  int rc = cs_writer_begin(t->w);
  if (rc) return 0;
  int pending =
      cs_get(cs_writer_txn(t->w), CS_T_META, (cs_slice){CS_META_COMPACT_PENDING, 15}, &v) == 0;
  int after_load = pending && v.len == 4 && memcmp(v.data, CS_COMPACT_AFTER_LOAD, 4) == 0;
  cs_writer_abort(t->w);
  /* A failed compaction (a reindex holds the index) is tried again a
   * minute later, not at every poll. */
  if (!pending || (t->compact_failed_at && now_s() - t->compact_failed_at < 60)) return 0;
  cs_log(CS_LOG_INFO, "%s",
         after_load ? "compacting the loaded index (full pages, no free ones)"
                    : "a person was erased: compacting the index so that their text leaves "
                      "the files");
  detach(t);
  int compacted = cs_compact_held(t->store) == 0;
  t->worked = 1;
  if (reopen_index(t)) return -1;
  if (!compacted) { /* logged; tried again when next idle, a minute on */
    t->compact_failed_at = now_s();
    return 0;
  }
  for (;;) {
    rc = cs_writer_begin(t->w);
    if (rc) break;
    rc = cs_del(cs_writer_txn(t->w), CS_T_META, (cs_slice){CS_META_COMPACT_PENDING, 15});
    if (rc && rc != CS_ENOTFOUND) {
      cs_writer_abort(t->w);
      break;
    }
    rc = cs_writer_commit(t->w);
    if (rc != CS_EFULL || cs_store_grow(t->store)) break;
  }
  return 0;
}

int cs_tail_run(const cs_tail_opts *o) {
  if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
    wake_pipe[0] = wake_pipe[1] = -1; /* then a stop waits at most one poll */
  tail t;
  memset(&t, 0, sizeof t);
  t.o = o;
  if (open_index(&t)) {
    close_index(&t);
    return 1;
  }
  int exit_code = 0;
  int failures = 0;
  while (!cs_tail_stop) {
    /* A reindex or compaction swapped generations: continue on the new one
     * from its own checkpoint (the reindex snapshot's horizon). */
    if (cs_store_generation_changed(t.store)) {
      if (reopen_index(&t)) {
        exit_code = 1;
        break;
      }
      cs_log(CS_LOG_INFO, "now indexing generation %s", cs_store_generation(t.store));
    }
    if (!t.pg && connect_and_listen(&t)) {
      if (cs_tail_stop) break;
      exit_code = 1; /* cs_pg_connect logged why, in one line */
      break;
    }
    int changed = 0;
    int status = round_run(&t, &changed);
    if (status == ROUND_FATAL) {
      exit_code = 1;
      break;
    }
    if (status == ROUND_RETRY) {
      if (cs_tail_stop) break;
      if (cs_pg_lost(t.pg)) {
        cs_log(CS_LOG_WARN, "lost the connection to PostgreSQL; reconnecting");
        PQfinish(t.pg);
        t.pg = NULL;
      } else {
        PGresult *r = PQexec(t.pg, "ROLLBACK");
        PQclear(r);
      }
      if (++failures > 5 && o->once) {
        cs_log(CS_LOG_ERROR, "giving up after %d failed rounds", failures);
        exit_code = 1;
        break;
      }
      struct timespec ts = {0, 200 * 1000000L};
      nanosleep(&ts, NULL);
      continue;
    }
    failures = 0;
    t.worked |= changed || t.loaded_now;
    requeue_if_wanted(&t, 0);
    /* --once: catch up to the current end, which after an initial load
     * means one round over what was written since its snapshot. */
    if (o->once && !t.loaded_now) {
      if (compact_if_pending(&t)) exit_code = 1;
      break;
    }
    t.loaded_now = 0;
    if (!changed && compact_if_pending(&t)) {
      exit_code = 1;
      break;
    }
    if (!changed) {
      if (release_memory(&t)) {
        exit_code = 1;
        break;
      }
      wait_for_changes(&t);
    }
  }
  if (cs_tail_stop) cs_log(CS_LOG_INFO, "stopping on request");
  if (t.pg) PQfinish(t.pg);
  close_index(&t);
  return exit_code;
}
