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
#include "redact.h"

#include "analyzer.h"
#include "errors.h"
#include "log.h"
#include "store.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct cs_gen {
  cs_store *store;
  cs__convtab *convs; /* docid -> conversation, shared by the views */
  int refs;           /* views + 1 while current */
} cs_gen;

struct cs_engine {
  char dir[PATH_MAX];
  pthread_mutex_t lock;
  cs_gen *cur;
  int64_t checked_ms;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static cs_gen *gen_open(const char *dir, cs_engine_error *err) {
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
  if (cs__convtab_new(&g->convs)) {
    cs_store_close(g->store);
    free(g);
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return NULL;
  }
  g->refs = 1;
  return g;
}

static void gen_release(cs_gen *g) {
  if (--g->refs == 0) {
    cs__convtab_free(g->convs);
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
  e->cur = gen_open(e->dir, err);
  if (!e->cur) {
    pthread_mutex_destroy(&e->lock);
    free(e);
    return -1;
  }
  e->checked_ms = mono_ms();
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

void cs_engine_close(cs_engine *e) {
  if (!e) return;
  gen_release(e->cur);
  pthread_mutex_destroy(&e->lock);
  free(e);
}

int cs_view_begin(cs_engine *e, cs_view *v, cs_engine_error *err) {
  pthread_mutex_lock(&e->lock);
  int64_t now = mono_ms();
  if (now - e->checked_ms >= 100) {
    e->checked_ms = now;
    if (cs_store_generation_changed(e->cur->store)) {
      cs_gen *g = gen_open(e->dir, NULL);
      if (g) {
        cs_log(CS_LOG_INFO, "serving index generation %s", cs_store_generation(g->store));
        gen_release(e->cur);
        e->cur = g;
      }
    }
  }
  cs_gen *g = e->cur;
  g->refs++;
  pthread_mutex_unlock(&e->lock);
  int rc = cs_reader_open(g->store, &v->r);
  if (rc) {
    pthread_mutex_lock(&e->lock);
    gen_release(g);
    pthread_mutex_unlock(&e->lock);
    cs_log(CS_LOG_ERROR, "cannot read the index: %s", cs_strerror(rc));
    cs_engine_err(err, 503, "index_unavailable", "the index cannot be read");
    return -1;
  }
  v->gen = g;
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

void cs_view_end(cs_engine *e, cs_view *v) {
  cs__convs_release(&v->convs);
  v->has_convs = 0;
  cs_reader_close(v->r);
  pthread_mutex_lock(&e->lock);
  gen_release(v->gen);
  pthread_mutex_unlock(&e->lock);
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

int cs__grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  void *n = realloc(*p, c * size);
  if (!n) return CS_ENOMEM;
  *p = n;
  *cap = c;
  return 0;
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

json_t *cs_json_person_name(const cs_caller *c, uint64_t patient_id, cs_str name) {
  if (c->role != CS_CALLER_ANALYST) return cs_json_str(name);
  char buf[32];
  cs__pseudonym(patient_id, buf);
  return json_string(buf);
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
  }
  cs_view_end(e, &v);
  return *out ? 0 : -1;
}
