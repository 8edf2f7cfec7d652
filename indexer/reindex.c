/*
 * `convsearch-indexer reindex`: rebuild without downtime.
 *
 *   1. Take DIR/reindex.lock (one reindex at a time) and pick the next
 *      generation gN; leftovers of a crashed reindex are removed first.
 *   2. Open one REPEATABLE READ snapshot S of the stores; h = xmin(S).
 *   3. Apply every event, person, conversation and relevant point of S to
 *      gN through the same code the tailing indexer uses (events first, so
 *      erasures refuse the erased before their rows are read), writing in
 *      the map (CS_STORE_BULK: memory that does not grow with the index);
 *      when the disk has no room for the map it grows to, gN is removed and
 *      built again from a new snapshot keeping LMDB's page copies.
 *   4. Commit gN with the checkpoint floor = h: the tailing indexer, when it
 *      moves to gN, re-reads exactly the changes S could not see. gN is
 *      then copied in key order into full pages (gN.packed), which takes
 *      its place.
 *   5. With a mirror: bulk-load gN into a new OpenSearch index
 *      "convsearch-gN" and move the alias to it atomically, dropping the
 *      old index.
 *   6. Swap DIR/current to gN (rename of a symlink: atomic). The query
 *      server and the tailing indexer notice and reopen; the old generation's
 *      files are removed (processes that still map them keep their pages).
 * A failure or a crash at any point before 6 leaves the old generation
 * serving (a failure also removes gN); running the command again starts
 * over.
 */
#include "reindex.h"

#include "apply.h"
#include "bulk.h"
#include "load.h"
#include "errors.h"
#include "generations.h"
#include "log.h"
#include "mirror.h"
#include "path.h"
#include "pg.h"
#include "reader.h"
#include "store.h"
#include "varint.h"
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* A page of ids read from an index table. */
typedef struct id_page {
  uint64_t ids[512];
  int n;
} id_page;

static int collect_ids(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  id_page *page = ctx;
  if (key.len != 8) return 0;
  page->ids[page->n++] = cs_be64_get(key.data);
  return page->n == 512 ? 1 : 0;
}

/* The OpenSearch side of the load: one client, the generation's read view. */
typedef struct loader {
  cs_os *c;
  cs_reader *r;
  const char *name;
  int retry_s;
  cs_buf body;
} loader;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

/* Loads the documents of ids[0..n) (of one kind), version 1 each. Items
 * answered 429 or 5xx, and whole requests that failed, are sent again after
 * the mirror's backoff (bulk.c) until they are in, for at most retry_s
 * seconds from the page's first failure; an item refused for good fails
 * the load at once. */
static int load_page(loader *L, int kind, const uint64_t *ids, int n) {
  uint64_t pending[512], sent[512];
  long st[512];
  int npending = n;
  memcpy(pending, ids, (size_t)n * sizeof *ids);
  cs_backoff backoff = {0, 0};
  double first_failure = 0;
  uint64_t attempts = 0;
  for (;;) {
    cs_buf_reset(&L->body);
    int nsent = 0;
    for (int i = 0; i < npending; i++) {
      int written;
      int rc = cs_mirror_doc_lines(L->r, kind, pending[i], 1, L->name, &L->body, &written);
      if (rc) return rc;
      if (written) sent[nsent++] = pending[i];
    }
    if (!nsent) return 0;
    attempts++;
    char why[200];
    json_t *j = cs_bulk_send(L->c, "/_bulk", L->body.p, L->body.len, nsent, st, why, sizeof why);
    npending = 0;
    if (!j) {
      memcpy(pending, sent, (size_t)nsent * sizeof *sent);
      npending = nsent;
    } else {
      json_t *items = json_object_get(j, "items");
      for (int i = 0; i < nsent; i++) {
        cs_bulk_outcome o = cs_bulk_classify(st[i]);
        if (o == CS_BULK_RETRY && !npending)
          snprintf(why, sizeof why, "items answered HTTP %ld", st[i]);
        if (o == CS_BULK_RETRY) pending[npending++] = sent[i];
        if (o == CS_BULK_REFUSED) {
          char *item = json_dumps(json_array_get(items, (size_t)i), JSON_COMPACT);
          cs_log(CS_LOG_ERROR,
                 "reindex: OpenSearch refused a document of %s for good (HTTP %ld): %.300s",
                 L->name, st[i], item ? item : "");
          free(item);
          json_decref(j);
          return CS_EIO;
        }
      }
      json_decref(j);
    }
    if (!npending) return 0;
    double now = cs_progress_now();
    if (!first_failure) first_failure = now;
    double left = L->retry_s - (now - first_failure);
    if (left <= 0) {
      cs_log(CS_LOG_ERROR,
             "reindex: bulk load into %s: %d documents still not accepted after %d s of retries "
             "(%" PRIu64 " attempts; last: %s); giving up (--bulk-retry-s %d)",
             L->name, npending, L->retry_s, attempts, why, L->retry_s);
      return CS_EIO;
    }
    long wait = cs_backoff_next(&backoff);
    if (wait > (long)(left * 1000) + 1) wait = (long)(left * 1000) + 1;
    cs_log(CS_LOG_INFO, "reindex: %d of %d documents to send again in %ld ms (%s)", npending, nsent,
           wait, why);
    sleep_ms(wait);
  }
}

/* Drops index `name` (a load that failed), so that nothing half-loaded is
 * left behind; best effort. */
static void drop_index(cs_os *c, const char *name) {
  char path[300];
  long status = 0;
  cs_buf resp;
  cs_buf_init(&resp);
  snprintf(path, sizeof path, "/%s", name);
  if (cs_os_request(c, "DELETE", path, NULL, NULL, 0, 0, &status, &resp) || status != 200)
    cs_log(CS_LOG_WARN, "reindex: could not drop the half-loaded index %s (HTTP %ld)", name,
           status);
  cs_buf_free(&resp);
}

/* Bulk-loads a generation into OpenSearch index `name`, version 1 each (a
 * fresh index: the generation's outbox then continues from version 2). */
static int bulk_load(cs_store *s, const char *url, const char *name, int retry_s, cs_progress *p) {
  loader L = {NULL, NULL, name, retry_s, {0}};
  int rc = cs_os_open(url, &L.c);
  if (rc) return rc;
  rc = cs_mirror_create_index(L.c, name, 0);
  if (!rc) rc = cs_reader_open(s, &L.r);
  static const struct {
    cs_table t;
    int kind;
  } sets[] = {{CS_T_PATIENT, CS_OUT_PATIENT}, {CS_T_CONV, CS_OUT_CONVERSATION}};
  cs_buf_init(&L.body);
  id_page page;
  for (size_t k = 0; !rc && k < 2; k++) {
    uint8_t from[8];
    cs_key_u64(from, 0);
    do {
      page.n = 0;
      rc = cs_reader_scan_from(L.r, sets[k].t, NULL, 0, from, 8, collect_ids, &page);
      if (rc < 0 || page.n == 0) break;
      rc = load_page(&L, sets[k].kind, page.ids, page.n);
      p->done += (uint64_t)page.n;
      cs_progress_tick(p);
      cs_key_u64(from, page.ids[page.n - 1] + 1);
    } while (!rc && page.n == 512);
  }
  cs_buf resp;
  cs_buf_init(&resp);
  if (!rc) {
    char path[300];
    long status;
    snprintf(path, sizeof path, "/%s/_refresh", name);
    cs_os_request(L.c, "POST", path, NULL, "", 0, 0, &status, &resp);
  } else {
    drop_index(L.c, name);
  }
  cs_buf_free(&L.body);
  cs_buf_free(&resp);
  cs_reader_close(L.r);
  cs_os_close(L.c);
  return rc;
}

/* Points the alias at `name` alone and drops the indices it left, in one
 * atomic _aliases call. */
static int swap_alias(const char *url, const char *name) {
  cs_os *c;
  int rc = cs_os_open(url, &c);
  if (rc) return rc;
  cs_buf resp;
  cs_buf_init(&resp);
  long status;
  rc = cs_os_request(c, "GET", "/_alias/" CS_MIRROR_ALIAS, NULL, NULL, 0, 0, &status, &resp);
  json_t *actions = json_array();
  /* As its write index, like the mirror's first (cs_mirror_create_index). */
  json_array_append_new(actions, json_pack("{s:{s:s, s:s, s:b}}", "add", "index", name, "alias",
                                           CS_MIRROR_ALIAS, "is_write_index", 1));
  if (!rc && status == 200) {
    json_t *cur = json_loads((char *)resp.p, 0, NULL);
    const char *idx;
    json_t *v;
    json_object_foreach(cur, idx, v) {
      if (strcmp(idx, name) != 0)
        json_array_append_new(actions, json_pack("{s:{s:s}}", "remove_index", "index", idx));
    }
    json_decref(cur);
  }
  json_t *body = json_pack("{s:o}", "actions", actions);
  char *s = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  rc = s ? cs_os_request(c, "POST", "/_aliases", NULL, s, strlen(s), 0, &status, &resp) : CS_ENOMEM;
  free(s);
  if (!rc && status != 200) {
    cs_log(CS_LOG_ERROR, "reindex: alias swap refused (HTTP %ld): %.300s", status, (char *)resp.p);
    rc = CS_EIO;
  }
  cs_buf_free(&resp);
  cs_os_close(c);
  return rc;
}

/* Written batch by batch, generation `gen` has half-full leaves and the
 * pages its batches freed: a copy in key order into full pages takes its
 * place under the same name. *s and *w are reopened on the copy. */
static int repack(const char *dir, const char *gen, cs_store **s, cs_writer **w) {
  char packed[96], packdir[PATH_MAX], gendir[PATH_MAX], err[512] = "";
  snprintf(packed, sizeof packed, "%s.packed", gen);
  if (cs_path_join(packdir, sizeof packdir, dir, packed) ||
      cs_path_join(gendir, sizeof gendir, dir, gen))
    return CS_EINVAL;
  cs_generation_remove(dir, packed); /* left by a crashed run */
  cs_writer_close(*w);
  *w = NULL;
  int rc = cs_store_copy_compact(*s, packdir);
  cs_store_close(*s);
  *s = NULL;
  if (rc) {
    cs_log(CS_LOG_ERROR, "reindex: cannot compact %s: %s", gen, cs_strerror(rc));
    cs_generation_remove(dir, packed);
    return rc;
  }
  cs_generation_remove(dir, gen);
  if (rename(packdir, gendir) != 0) {
    cs_log(CS_LOG_ERROR, "reindex: cannot rename %s: %s", packdir, strerror(errno));
    return CS_EIO;
  }
  rc = cs_store_open_generation(gendir, 0, s, err, sizeof err);
  if (!rc) rc = cs_writer_open(*s, w);
  if (rc)
    cs_log(CS_LOG_ERROR, "reindex: cannot open %s: %s", gendir, err[0] ? err : cs_strerror(rc));
  return rc;
}

/* Creates generation directory `gendir` and loads one snapshot into it.
 * With CS_STORE_BULK in `flags` its pages are written in the map, so that
 * the reindex's memory does not grow with the index (store.h), unless the
 * first map cannot be allocated. Returns 0 or an error (logged); *s and *w
 * are what could be opened, for the caller to close. */
static int build(PGconn *pg, const char *gendir, unsigned flags, cs_store **s, cs_writer **w,
                 cs_load *l) {
  char err[512] = "";
  int rc = cs_store_open_generation(gendir, CS_STORE_CREATE | flags, s, err, sizeof err);
  if (!rc) rc = cs_writer_open(*s, w);
  if (rc) {
    cs_log(CS_LOG_ERROR, "reindex: cannot create %s: %s", gendir, err[0] ? err : cs_strerror(rc));
    return rc;
  }
  if ((flags & CS_STORE_BULK) && !cs_store_bulk(*s))
    cs_log(CS_LOG_INFO, "reindex: no room on disk for the new index's map: LMDB keeps copies of "
                        "the pages it writes in memory until each commit");
  *l = (cs_load){.pg = pg, .store = *s, .w = *w, .budget_bytes = (size_t)64 << 20};
  if (cs_load_begin(l)) return CS_APPLY_PG_ERROR;
  cs_log(CS_LOG_INFO, "reindex: building %s from snapshot horizon %" PRIu64 " (%s)",
         cs_store_generation(*s), l->horizon,
         cs_store_bulk(*s) ? "pages written in the map" : "page copies in memory");
  l->cp.floor_xid = l->horizon;
  return cs_load_run(l);
}

int cs_reindex(const char *conninfo, const char *dir, const char *opensearch, int bulk_retry_s,
               int in_map) {
  char lockpath[PATH_MAX];
  if (cs_path_join(lockpath, sizeof lockpath, dir, "reindex.lock")) return 1;
  int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock < 0) {
    cs_log(CS_LOG_ERROR, "reindex: %s: %s", lockpath, strerror(errno));
    return 1;
  }
  /* Held by another reindex or by a compaction (the tailing indexer compacts
   * its first load when next idle): wait for it rather than fail. */
  if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
    cs_log(CS_LOG_INFO, "reindex: waiting for the reindex or compaction in progress to end");
    int rc;
    while ((rc = flock(lock, LOCK_EX)) != 0 && errno == EINTR)
      ;
    if (rc != 0) {
      cs_log(CS_LOG_ERROR, "reindex: %s: %s", lockpath, strerror(errno));
      close(lock);
      return 1;
    }
  }
  int status = 1;
  char cur[64], gen[64] = "", gendir[PATH_MAX];
  unsigned long next;
  cs_store *s = NULL;
  cs_writer *w = NULL;
  PGconn *pg = NULL;
  if (cs_generation_sweep(dir, cur, sizeof cur, &next)) {
    cs_log(CS_LOG_ERROR, "reindex: no index in %s (run the indexer first)", dir);
    goto out;
  }
  snprintf(gen, sizeof gen, "g%lu", next);
  if (cs_path_join(gendir, sizeof gendir, dir, gen)) goto out;
  pg = cs_pg_connect(conninfo, 3, NULL);
  if (!pg) goto out;
  cs_load l = {0};
  int rc = build(pg, gendir, in_map ? CS_STORE_BULK : 0, &s, &w, &l);
  if (rc == CS_ENOSPC && s && cs_store_bulk(s)) {
    cs_log(CS_LOG_WARN,
           "reindex: no room on disk for %s's grown map (%s): starting again with LMDB's page "
           "copies in memory",
           gen, cs_strerror(rc));
    PQclear(PQexec(pg, "ROLLBACK"));
    cs_writer_close(w);
    w = NULL;
    cs_store_close(s);
    s = NULL;
    cs_generation_remove(dir, gen);
    rc = build(pg, gendir, 0, &s, &w, &l);
  }
  if (!rc) rc = repack(dir, gen, &s, &w);
  if (rc) goto out;
  uint64_t h = l.horizon;
  cs_progress p = l.progress;
  if (opensearch) {
    char name[128];
    snprintf(name, sizeof name, "convsearch-%s", gen);
    p.phase = "mirror";
    p.total = l.counts[1] + l.counts[2];
    p.done = 0;
    rc = bulk_load(s, opensearch, name, bulk_retry_s, &p);
    if (!rc) rc = swap_alias(opensearch, name);
    if (rc) {
      cs_log(CS_LOG_ERROR, "reindex: mirror load failed; the old index keeps serving");
      goto out;
    }
    cs_progress_report(&p, 1);
    /* Changes from now on are mirrored from this generation's outbox. */
    rc = cs_writer_begin(w);
    if (!rc) rc = cs_writer_set_mirror(w, 1);
    if (!rc) rc = cs_writer_commit(w);
    if (rc) goto out;
  }
  cs_writer_close(w);
  w = NULL;
  cs_store_close(s);
  s = NULL;
  /* The swap. */
  if (cs_generation_switch(dir, gen) != 0) {
    cs_log(CS_LOG_ERROR, "reindex: cannot switch to %s: %s", gen, strerror(errno));
    goto out;
  }
  cs_log(CS_LOG_INFO, "reindex: %s serves now (was %s)", gen, cur);
  cs_generation_remove(dir, cur);
  if (!p.tty) {
    printf("{\"phase\": \"done\", \"generation\": \"%s\", \"horizon\": %" PRIu64
           ", \"elapsed_s\": %.3f}\n",
           gen, h, cs_progress_now() - p.t0);
  }
  status = 0;
out:
  if (pg) PQfinish(pg);
  cs_writer_close(w);
  cs_store_close(s);
  /* A failed build leaves no partial generation taking room on the disk. */
  if (status && gen[0]) cs_generation_remove(dir, gen);
  close(lock);
  return status;
}
