/*
 * Engine core: opening the index, read views across generation swaps,
 * visibility helpers and the health document. Search, suggestions and
 * ordering live in their own modules.
 *
 * Generations. The index directory's `current` link names the generation
 * that serves. Each call checks (at most every 100 ms) whether it moved; if
 * so the engine opens the new generation and retires the old one, which is
 * closed when its last read view ends, so a swap never fails a call.
 */
#include "internal.h"
#include "lemmas.h"
#include "snapcache.h"
#include "turnmap.h"
#include "redact.h"
#include "synonyms.h"
#include "thesaurus.h"

#include "analyzer.h"
#include "clock.h"
#include "corrupt.h"
#include "errors.h"
#include "isotime.h"
#include "log.h"
#include "store.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct cs_gen {
  cs_store *store;
  cs__convtab *convs; /* docid -> conversation, shared by the views */
  cs__snapcache *lex; /* the lexicon in RAM, shared by the views */
  cs__turnmap *turns; /* where long conversations' turns are (turnmap.h) */
  int refs;           /* views + 1 while current */
} cs_gen;

struct cs_engine {
  char dir[PATH_MAX];
  pthread_mutex_t lock;
  cs_gen *cur;
  int64_t checked_ms;
  cs__thesaurus *thes;       /* NULL: no thesaurus expansion */
  cs__lemmas *lemmas;        /* NULL: no lemma expansion */
  cs__synonyms *syn;         /* administrator synonyms (NULL: none); under lock */
  size_t owner_cache;        /* cs_engine_set_owner_cache */
  pthread_mutex_t syn_write; /* one PUT at a time writes the file */
  struct stat syn_st;        /* of the synonyms file when read (st_ino 0: absent) */
};

/* Re-reads the synonyms file when it changed (under e->lock). A file that
 * cannot be read or is invalid is logged and the synonyms in use stay. */
static void synonyms_check(cs_engine *e, int first) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/synonyms.json", e->dir);
  struct stat st;
  if (stat(path, &st) != 0) memset(&st, 0, sizeof st);
  if (!first && st.st_ino == e->syn_st.st_ino && st.st_size == e->syn_st.st_size &&
      st.st_mtim.tv_sec == e->syn_st.st_mtim.tv_sec &&
      st.st_mtim.tv_nsec == e->syn_st.st_mtim.tv_nsec)
    return;
  e->syn_st = st;
  cs__synonyms *s = NULL;
  char msg[512] = "";
  if (cs__synonyms_load(e->dir, &s, msg, sizeof msg)) {
    cs_log(CS_LOG_ERROR, "synonyms: %s; keeping the synonyms in use", msg);
    return;
  }
  cs__synonyms_unref(e->syn);
  e->syn = s;
  size_t one;
  size_t n = cs__synonyms_sets(s, &one);
  if (s || !first) cs_log(CS_LOG_INFO, "synonyms: %zu sets (%zu one-way) from %s", n, one, path);
}

cs__synonyms *cs__engine_synonyms(cs_engine *e) {
  pthread_mutex_lock(&e->lock);
  cs__synonyms *s = e->syn;
  cs__synonyms_ref(s);
  pthread_mutex_unlock(&e->lock);
  return s;
}

int cs__engine_synonyms_replace(cs_engine *e, cs__synonyms *s, char *msg, size_t cap) {
  /* The file is written (fsync) without holding the lock queries take. */
  pthread_mutex_lock(&e->syn_write);
  int rc = cs__synonyms_save(e->dir, s, msg, cap);
  if (!rc) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/synonyms.json", e->dir);
    struct stat st;
    if (stat(path, &st) != 0) memset(&st, 0, sizeof st);
    pthread_mutex_lock(&e->lock);
    e->syn_st = st;
    cs__synonyms_ref(s);
    cs__synonyms_unref(e->syn);
    e->syn = s;
    pthread_mutex_unlock(&e->lock);
  }
  pthread_mutex_unlock(&e->syn_write);
  return rc;
}

void cs_engine_err(cs_engine_error *err, int status, const char *code, const char *fmt, ...) {
  if (!err) return;
  err->status = status;
  snprintf(err->code, sizeof err->code, "%s", code);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
}

int cs_engine_err_rc(cs_engine_error *err, int rc) {
  if (rc == CS_ENOMEM)
    cs_engine_err(err, 503, "unavailable", "out of memory");
  else if (rc == CS_ECORRUPT)
    cs_engine_err(err, 500, "index_corrupt",
                  "a record this answer needs is damaged in the index (the server log names it)");
  else
    cs_engine_err(err, 500, "internal", "the index could not be read (%s)", cs_strerror(rc));
  return -1;
}

static cs_gen *gen_open(const char *dir, size_t owner_cache, cs_engine_error *err) {
  cs_gen *g = calloc(1, sizeof *g);
  if (!g) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return NULL;
  }
  char msg[512] = "";
  int rc = cs_store_open(dir, CS_STORE_RDONLY, &g->store, msg, sizeof msg);
  if (rc) {
    cs_log(CS_LOG_ERROR, "cannot open the index: %s", msg[0] ? msg : cs_strerror(rc));
    cs_engine_err(err, 503, "index_unavailable", "the index cannot be opened");
    free(g);
    return NULL;
  }
  if (cs__convtab_new(&g->convs) || cs__snapcache_new(&g->lex) ||
      cs__turnmap_new(&g->turns, CS__TURNMAP_BYTES)) {
    cs__convtab_free(g->convs);
    cs__snapcache_free(g->lex);
    cs_store_close(g->store);
    free(g);
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return NULL;
  }
  cs__snapcache_set_owner_cap(g->lex, owner_cache);
  g->refs = 1;
  return g;
}

static void gen_release(cs_gen *g) {
  if (--g->refs == 0) {
    cs__convtab_free(g->convs);
    cs__snapcache_free(g->lex);
    cs__turnmap_free(g->turns);
    cs_store_close(g->store);
    free(g);
  }
}

int cs_engine_open(const char *index_dir, cs_engine **out, cs_engine_error *err) {
  *out = NULL;
  cs_engine *e = calloc(1, sizeof *e);
  if (!e) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  snprintf(e->dir, sizeof e->dir, "%s", index_dir);
  pthread_mutex_init(&e->lock, NULL);
  pthread_mutex_init(&e->syn_write, NULL);
  e->owner_cache = CS_ENGINE_OWNER_CACHE_DEFAULT;
  e->cur = gen_open(e->dir, e->owner_cache, err);
  if (!e->cur) {
    pthread_mutex_destroy(&e->syn_write);
    pthread_mutex_destroy(&e->lock);
    free(e);
    return -1;
  }
  e->checked_ms = cs_clock_ms(CLOCK_MONOTONIC);
  synonyms_check(e, 1);
  /* The docid -> conversation table is built now rather than by the first
   * search (a failure here only leaves it to that search). */
  cs_view v;
  const cs__convs *convs;
  if (cs_view_begin(e, &v, NULL) == 0) {
    (void)cs_view_convs(&v, &convs);
    cs_view_end(e, &v);
  }
  *out = e;
  return 0;
}

void cs_engine_set_owner_cache(cs_engine *e, size_t bytes) {
  pthread_mutex_lock(&e->lock);
  e->owner_cache = bytes;
  cs__snapcache_set_owner_cap(e->cur->lex, bytes);
  pthread_mutex_unlock(&e->lock);
}

size_t cs_engine_load_thesaurus(cs_engine *e, const char *path) {
  char msg[512] = "";
  cs__thesaurus *t = path && *path ? cs__thesaurus_load(path, msg, sizeof msg) : NULL;
  if (!t) {
    cs_log(CS_LOG_WARN, "thesaurus: %s; questions are not expanded with synonyms",
           path && *path ? msg : "none configured");
    return 0;
  }
  cs__thesaurus_free(e->thes);
  e->thes = t;
  cs_log(CS_LOG_INFO, "thesaurus: %zu headwords from %s", cs__thesaurus_size(t), path);
  return cs__thesaurus_size(t);
}

const cs__thesaurus *cs__engine_thesaurus(const cs_engine *e) {
  return e->thes;
}

int cs_engine_load_lemmas(cs_engine *e, const char *prefix) {
  char msg[512] = "";
  cs__lemmas *l = prefix && *prefix ? cs__lemmas_open(prefix, msg, sizeof msg) : NULL;
  if (!l) {
    cs_log(CS_LOG_WARN, "lemmas: %s; question words are not expanded with their lemmas",
           prefix && *prefix ? msg : "no dictionary configured");
    return -1;
  }
  cs__lemmas_close(e->lemmas);
  e->lemmas = l;
  cs_log(CS_LOG_INFO, "lemmas: hunspell dictionary %s", prefix);
  return 0;
}

cs__lemmas *cs__engine_lemmas(const cs_engine *e) {
  return e->lemmas;
}

void cs_engine_close(cs_engine *e) {
  if (!e) return;
  cs__thesaurus_free(e->thes);
  cs__lemmas_close(e->lemmas);
  cs__synonyms_unref(e->syn);
  gen_release(e->cur);
  pthread_mutex_destroy(&e->syn_write);
  pthread_mutex_destroy(&e->lock);
  free(e);
}

int cs_view_begin(cs_engine *e, cs_view *v, cs_engine_error *err) {
  pthread_mutex_lock(&e->lock);
  int64_t now = cs_clock_ms(CLOCK_MONOTONIC);
  if (now - e->checked_ms >= 100) {
    e->checked_ms = now;
    if (cs_store_generation_changed(e->cur->store)) {
      cs_gen *g = gen_open(e->dir, e->owner_cache, NULL);
      if (g) {
        cs_log(CS_LOG_INFO, "serving index generation %s", cs_store_generation(g->store));
        /* Damaged records reported so far were in the files left behind. */
        cs_corrupt_reset();
        gen_release(e->cur);
        e->cur = g;
      }
    }
    synonyms_check(e, 0);
  }
  cs_gen *g = e->cur;
  g->refs++;
  v->syn = e->syn;
  cs__synonyms_ref(v->syn);
  pthread_mutex_unlock(&e->lock);
  int rc = cs_reader_open(g->store, &v->r);
  if (rc) {
    pthread_mutex_lock(&e->lock);
    gen_release(g);
    pthread_mutex_unlock(&e->lock);
    cs__synonyms_unref(v->syn);
    v->syn = NULL;
    if (rc == CS_EVERSION) { /* an older server's index: reindex swaps in a new generation */
      cs_log(CS_LOG_ERROR,
             "the index in %s was written in another format: rebuild it with "
             "convsearch-indexer reindex",
             e->dir);
      cs_engine_err(err, 503, "index_unavailable",
                    "the index has another format and must be rebuilt (convsearch-indexer "
                    "reindex)");
      return -1;
    }
    cs_log(CS_LOG_ERROR, "cannot read the index: %s", cs_strerror(rc));
    cs_engine_err(err, 503, "index_unavailable", "the index cannot be read");
    return -1;
  }
  v->gen = g;
  v->prev_syn = cs__synonyms_set_current(v->syn);
  v->prev_lex = cs__snapcache_set_current(g->lex);
  memset(&v->convs, 0, sizeof v->convs);
  v->has_convs = 0;
  return 0;
}

int cs_view_convs(cs_view *v, const cs__convs **out) {
  if (!v->has_convs) {
    int rc = cs__convs_get(v->gen->convs, v->r, &v->convs);
    if (rc) return rc;
    v->has_convs = 1;
  }
  *out = &v->convs;
  return 0;
}

struct cs__turnmap *cs_view_turns(cs_view *v) {
  return v->gen->turns;
}

void cs_view_end(cs_engine *e, cs_view *v) {
  cs__convs_release(&v->convs);
  v->has_convs = 0;
  cs_reader_close(v->r);
  pthread_mutex_lock(&e->lock);
  gen_release(v->gen);
  pthread_mutex_unlock(&e->lock);
  cs__synonyms_set_current(v->prev_syn);
  cs__snapcache_set_current(v->prev_lex);
  cs__synonyms_unref(v->syn);
  v->syn = NULL;
  v->r = NULL;
  v->gen = NULL;
}

int cs_caller_restricted(const cs_caller *c) {
  return c->role == CS_CALLER_PORTAL;
}

int cs_caller_sees_patient(cs_reader *r, const cs_caller *c, uint64_t patient_id) {
  cs_patient p;
  if (cs_reader_patient(r, patient_id, &p) != 0) return c->role != CS_CALLER_PORTAL ? 1 : 0;
  if (c->role != CS_CALLER_PORTAL) return 1;
  return c->employee_id != 0 && p.owner_id == c->employee_id;
}

int cs__fold_query_word(const char *s, size_t n, char *out, size_t cap) {
  size_t i = 0;
  while (i < n && (unsigned char)s[i] < 0x80)
    i++;
  if (i == n) {
    if (n + 1 > cap) return -1;
    for (i = 0; i < n; i++)
      out[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] | 0x20 : s[i]);
    out[n] = 0;
    return (int)n;
  }
  return cs_fold_word(s, n, out, cap);
}

json_t *cs_json_str(cs_str s) {
  json_t *j = json_stringn_nocheck(s.p, s.len);
  return j ? j : json_string("");
}

cs_str cs_person_name_str(const cs_caller *c, uint64_t patient_id, cs_str name, char buf[32]) {
  if (c->role != CS_CALLER_ANALYST) return name.p ? name : (cs_str){"", 0};
  cs__pseudonym(patient_id, buf);
  return (cs_str){buf, strlen(buf)};
}

json_t *cs_json_person_name(const cs_caller *c, uint64_t patient_id, cs_str name) {
  char buf[32];
  return cs_json_str(cs_person_name_str(c, patient_id, name, buf));
}

json_t *cs_json_time(int64_t ms) {
  if (ms < 0) return json_null();
  char buf[CS_TIME_ISO_LEN];
  return json_string(cs_time_iso(ms, buf));
}

/* Mirror state as the indexer's sender recorded it, plus the backlog and
 * the age of its oldest operation, read from the outbox. */
static json_t *mirror_health(cs_reader *r, uint64_t backlog, int64_t now) {
  json_t *m = NULL;
  cs_slice val;
  if (cs_reader_meta(r, "mirror_status", &val) == 0) m = json_loadb(val.data, val.len, 0, NULL);
  if (!json_is_object(m)) {
    json_decref(m);
    m = json_object();
  }
  json_object_set_new(m, "enabled", json_boolean(cs_reader_meta(r, "mirror", &val) == 0));
  json_object_set_new(m, "backlog", json_integer((json_int_t)backlog));
  cs_outop first;
  json_object_set_new(m, "oldest_pending_s",
                      cs_reader_outbox_first(r, &first) == 0
                          ? json_real((double)(now - first.queued_at_ms) / 1000.0)
                          : json_null());
  return m;
}

/* Source rows the indexer skipped or clamped (indexer/badrows.h): their
 * number only; which rows, and why, `verify` tells (health answers without
 * a token, and an error can quote a value). */
static json_int_t bad_rows_health(cs_reader *r) {
  cs_slice val;
  json_int_t n = 0;
  if (cs_reader_meta(r, "bad_rows", &val) == 0) {
    json_t *j = json_loadb(val.data, val.len, 0, NULL);
    n = json_integer_value(json_object_get(j, "count"));
    json_decref(j);
  }
  return n;
}

/* Damaged records the server met in the index it serves (corrupt.h): the
 * status turns "degraded" (the server still answers; `verify` names them
 * all, `reindex` rebuilds the index from the stores). */
static void corrupt_health(json_t *h) {
  uint64_t n = cs_corrupt_records();
  json_t *kinds = json_object();
  for (int t = 0; t < CS_T__COUNT; t++) {
    uint64_t k = cs_corrupt_records_in((cs_table)t);
    if (k) json_object_set_new(kinds, cs_corrupt_kind((cs_table)t), json_integer((json_int_t)k));
  }
  json_object_set_new(h, "corrupt_records", json_integer((json_int_t)n));
  json_object_set_new(h, "corrupt_by_kind", kinds);
  json_object_set_new(h, "corrupt_reads", json_integer((json_int_t)cs_corrupt_reads()));
  if (n) json_object_set_new(h, "status", json_string("degraded"));
}

int cs_engine_health(cs_engine *e, json_t **out) {
  cs_view v;
  cs_engine_error err;
  *out = NULL;
  if (cs_view_begin(e, &v, &err)) return -1;
  cs_stats st;
  cs_checkpoint cp;
  uint64_t convs = 0, people = 0, events = 0, backlog = 0;
  int rc = cs_reader_stats(v.r, &st);
  if (!rc) rc = cs_reader_checkpoint(v.r, &cp);
  if (!rc) rc = cs_reader_count(v.r, CS_T_CONV, &convs);
  if (!rc) rc = cs_reader_count(v.r, CS_T_PATIENT, &people);
  if (!rc) rc = cs_reader_count(v.r, CS_T_EVENT, &events);
  if (!rc) rc = cs_reader_count(v.r, CS_T_OUTBOX, &backlog);
  if (!rc) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    *out = json_pack("{s:s, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:o}, s:f}", "generation",
                     cs_store_generation(v.gen->store), "documents", "conversations",
                     (json_int_t)convs, "patients", (json_int_t)people, "turns",
                     (json_int_t)st.docs[CS_DOC_TURN], "events", (json_int_t)events, "checkpoint",
                     "floor_xid", (json_int_t)cp.floor_xid, "rounds", (json_int_t)cp.rounds,
                     "updated_at", cs_json_time(cp.updated_at_ms ? cp.updated_at_ms : -1), "lag_s",
                     cp.updated_at_ms ? (double)(now - cp.updated_at_ms) / 1000.0 : -1.0);
    if (*out) json_object_set_new(*out, "mirror", mirror_health(v.r, backlog, now));
    if (*out) json_object_set_new(*out, "bad_rows", json_integer(bad_rows_health(v.r)));
    if (*out) corrupt_health(*out);
    size_t cap, held = cs__snapcache_owner_bytes(v.gen->lex, &cap);
    if (*out)
      json_object_set_new(*out, "cache",
                          json_pack("{s:I, s:I}", "owner_copies_bytes", (json_int_t)held,
                                    "owner_copies_cap", (json_int_t)cap));
  }
  cs_view_end(e, &v);
  return *out ? 0 : -1;
}
