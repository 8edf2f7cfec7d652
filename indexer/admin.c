/*
 * Operator commands that only read or copy the index: `status` (JSON),
 * `compact` (a compacted copy swapped in as the new generation), and `query`
 * (a plain AND of the analyzed words, for debugging the index from a shell).
 */
#include "admin.h"

#include "analyzer.h"
#include "errors.h"
#include "generations.h"
#include "isotime.h"
#include "log.h"
#include "reader.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_read(const char *dir, cs_store **s, cs_reader **r) {
  char err[512] = "";
  int rc = cs_store_open(dir, CS_STORE_RDONLY, s, err, sizeof err);
  if (rc) {
    cs_log(CS_LOG_ERROR, "%s", err[0] ? err : cs_strerror(rc));
    return 1;
  }
  rc = cs_reader_open(*s, r);
  if (rc) {
    cs_log(CS_LOG_ERROR, "cannot read the index in %s: %s", dir, cs_strerror(rc));
    cs_store_close(*s);
    return 1;
  }
  return 0;
}

int cs_status(const char *dir) {
  cs_store *s;
  cs_reader *r;
  if (open_read(dir, &s, &r)) return 1;
  cs_stats st;
  cs_checkpoint cp;
  uint64_t n[CS_T__COUNT] = {0}, used = 0;
  int rc = cs_reader_stats(r, &st);
  if (!rc) rc = cs_reader_checkpoint(r, &cp);
  /* Only the tables printed: counting CS_T_TURN decodes every turn block. */
  static const cs_table shown[] = {CS_T_CONV,  CS_T_PATIENT, CS_T_EVENT, CS_T_ERASED,
                                   CS_T_POINT, CS_T_LEX,     CS_T_WORDS, CS_T_POST};
  for (size_t i = 0; !rc && i < sizeof shown / sizeof shown[0]; i++)
    rc = cs_reader_count(r, shown[i], &n[shown[i]]);
  if (!rc) rc = cs_store_used_bytes(s, &used);
  char updated[CS_TIME_ISO_LEN] = "null";
  const char *q = cp.updated_at_ms > 0 ? "\"" : "";
  if (!rc && cp.updated_at_ms > 0) cs_time_iso(cp.updated_at_ms, updated);
  if (rc) {
    cs_log(CS_LOG_ERROR, "status: %s", cs_strerror(rc));
  } else {
    printf("{\"generation\": \"%s\", \"format\": %d, \"documents\": {\"turns\": %" PRIu64
           ", \"titles\": %" PRIu64 ", \"descriptions\": %" PRIu64 ", \"names\": %" PRIu64
           "}, \"conversations\": %" PRIu64 ", \"patients\": %" PRIu64 ", \"events\": %" PRIu64
           ", \"erased\": %" PRIu64 ", \"relevant_points\": %" PRIu64 ", \"terms\": %" PRIu64
           ", \"words\": %" PRIu64 ", \"postings_chunks\": %" PRIu64 ", \"next_docid\": %u"
           ", \"checkpoint\": {\"floor_xid\": %" PRIu64 ", \"round_xid\": %" PRIu64
           ", \"rounds\": %" PRIu64
           ", \"updated_at\": %s%s%s}, \"initial_load\": \"%s\", \"used_bytes\": %" PRIu64 "}\n",
           cs_store_generation(s), CS_FORMAT_VERSION, st.docs[CS_DOC_TURN], st.docs[CS_DOC_TITLE],
           st.docs[CS_DOC_DESCRIPTION], st.docs[CS_DOC_NAME], n[CS_T_CONV], n[CS_T_PATIENT],
           n[CS_T_EVENT], n[CS_T_ERASED], n[CS_T_POINT], n[CS_T_LEX], n[CS_T_WORDS], n[CS_T_POST],
           st.next_docid, cp.floor_xid, cp.round_xid, cp.rounds, q, updated, q,
           cp.floor_xid   ? "done"
           : cp.round_xid ? "in progress"
                          : "not started",
           used);
  }
  cs_reader_close(r);
  cs_store_close(s);
  return rc ? 1 : 0;
}

static int compact_store(cs_store *s, const char *dir);

/* Takes DIR/reindex.lock, which a reindex holds while it builds the next
 * generation (the one compaction would write too). Returns the descriptor or
 * -1 after logging. */
static int exclude_reindex(const char *dir) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/reindex.lock", dir) >= (int)sizeof path) return -1;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0 && errno == ENOENT) {
    cs_log(CS_LOG_ERROR, "compact: no index in %s", dir);
    return -1;
  }
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
    cs_log(CS_LOG_ERROR, "compact: %s",
           fd < 0 ? strerror(errno) : "a reindex is running (wait for it to end)");
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

int cs_compact(const char *dir) {
  int lock = exclude_reindex(dir);
  if (lock < 0) return 1;
  cs_store *s;
  char err[512] = "";
  /* Writable open: takes the writer lock, so no indexer runs meanwhile. */
  int rc = cs_store_open(dir, 0, &s, err, sizeof err);
  int status = 1;
  if (rc) {
    cs_log(CS_LOG_ERROR, "compact: %s%s", err[0] ? err : cs_strerror(rc),
           rc == CS_EBUSY ? " (stop the indexer first)" : "");
  } else {
    status = compact_store(s, dir);
    cs_store_close(s);
  }
  close(lock);
  return status;
}

int cs_compact_held(cs_store *s) {
  const char *dir = cs_store_dir(s);
  int lock = exclude_reindex(dir);
  if (lock < 0) return 1;
  int status = compact_store(s, dir);
  close(lock);
  return status;
}

/* Copies the generation s serves into the next one, in key order (full
 * pages, no free ones), makes that one current and removes the old one's
 * files: s, like the readers still mapping it, keeps its pages until it is
 * closed or opened again. Only while s serves the current generation (the
 * caller holds reindex.lock, so no swap comes meanwhile): a held store a
 * reindex has swapped out since it was opened is left alone (exit code 2),
 * for the caller to open the new one. Logs. Returns an exit code. */
static int compact_store(cs_store *s, const char *dir) {
  /* A copy: the handle's name changes when it is opened again. */
  char gen[64];
  snprintf(gen, sizeof gen, "%s", cs_store_generation(s));
  if (cs_store_generation_changed(s)) {
    cs_log(CS_LOG_INFO,
           "compact: %s is no longer the current generation (a reindex swapped it): "
           "not compacted",
           gen);
    return 2;
  }
  /* What a compaction or reindex killed before it cleaned up left (every
   * generation but the current one); the copy gets the number after all. */
  char curname[64];
  unsigned long next = 0;
  if (cs_generation_sweep(dir, curname, sizeof curname, &next) != 0 || strcmp(curname, gen) != 0) {
    cs_log(CS_LOG_ERROR, "compact: cannot list the generations of %s: not compacted", dir);
    return 1;
  }
  char newgen[32], newdir[PATH_MAX];
  snprintf(newgen, sizeof newgen, "g%lu", next);
  if (snprintf(newdir, sizeof newdir, "%s/%s", dir, newgen) >= (int)sizeof newdir) return 1;
  /* Never into (nor, on failure, removing) a generation that exists. */
  struct stat st0;
  if (lstat(newdir, &st0) == 0) {
    cs_log(CS_LOG_ERROR, "compact: %s exists: not compacted", newdir);
    return 1;
  }
  uint64_t before = 0, after = 0;
  cs_store_used_bytes(s, &before);
  int rc = cs_store_copy_compact(s, newdir);
  if (rc) {
    cs_log(CS_LOG_ERROR, "compact: copy failed: %s", cs_strerror(rc));
    cs_generation_remove(dir, newgen);
    return 1;
  }
  if (cs_generation_switch(dir, newgen) != 0) {
    cs_log(CS_LOG_ERROR, "compact: cannot switch to %s: %s", newgen, strerror(errno));
    cs_generation_remove(dir, newgen);
    return 1;
  }
  /* Readers still mapping the old generation keep their pages until they
   * reopen; the files go away now. */
  cs_generation_remove(dir, gen);
  struct stat st;
  char data[PATH_MAX + 16];
  snprintf(data, sizeof data, "%s/data.mdb", newdir);
  if (stat(data, &st) == 0) after = (uint64_t)st.st_size;
  cs_log(CS_LOG_INFO, "compacted %s into %s: %" PRIu64 " -> %" PRIu64 " bytes", gen, newgen, before,
         after);
  return 0;
}

int cs_debug_query(const char *dir, const char *text, int limit) {
  cs_store *s;
  cs_reader *r;
  if (open_read(dir, &s, &r)) return 1;
  cs_analyzer *an = cs_analyzer_create();
  const cs_token *toks;
  size_t n = 0;
  int status = 0;
  if (!an || cs_analyze(an, "es", text, strlen(text), &toks, &n)) status = 1;
  enum { MAXT = 16 };
  cs_pcur *cur[MAXT];
  size_t nc = 0;
  for (size_t i = 0; !status && i < n && nc < MAXT; i++) {
    if (toks[i].flags & CS_TOK_STOP) continue;
    int rc = cs_pcur_open(r, toks[i].term, toks[i].term_len, &cur[nc]);
    if (rc == CS_ENOTFOUND) {
      printf("no document has '%s'\n", toks[i].term);
      goto out;
    }
    if (rc) {
      status = 1;
      break;
    }
    nc++;
  }
  if (!nc) goto out;
  int shown = 0;
  uint32_t d = cs_pcur_docid(cur[0]);
  while (d != CS_DOCID_END && shown < limit) {
    uint32_t next = d;
    for (size_t i = 0; i < nc; i++) {
      cs_pcur_next_geq(cur[i], d);
      if (cs_pcur_docid(cur[i]) > next) next = cs_pcur_docid(cur[i]);
    }
    if (next != d) {
      d = next;
      continue;
    }
    cs_doc doc;
    if (cs_reader_doc(r, d, &doc) == 0) {
      cs_turn t;
      if (doc.kind == CS_DOC_TURN && cs_reader_turn(r, doc.conversation_id, doc.seq, &t) == 0) {
        printf("conversation %" PRIu64 " turn %d [%.*s]: %.*s\n", doc.conversation_id, doc.seq,
               (int)t.speaker.len, t.speaker.p, (int)(t.text.len > 300 ? 300 : t.text.len),
               t.text.p);
      } else {
        printf("conversation %" PRIu64 " person %" PRIu64 " (%s)\n", doc.conversation_id,
               doc.patient_id,
               doc.kind == CS_DOC_NAME    ? "name"
               : doc.kind == CS_DOC_TITLE ? "title"
                                          : "description");
      }
      shown++;
    }
    cs_pcur_next(cur[0]);
    d = cs_pcur_docid(cur[0]);
  }
  printf("%d match%s shown\n", shown, shown == 1 ? "" : "es");
out:
  for (size_t i = 0; i < nc; i++)
    cs_pcur_close(cur[i]);
  cs_analyzer_destroy(an);
  cs_reader_close(r);
  cs_store_close(s);
  return status;
}
