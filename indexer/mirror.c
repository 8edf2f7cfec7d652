/*
 * The OpenSearch mirror (see mirror.h).
 *
 * Sender loop: read up to BATCH_OPS outbox entries (or BATCH_BYTES of
 * NDJSON) in sequence order from a read view, build each document from the
 * index as it is now, send one gzip'd _bulk request, and delete the entries
 * whose items succeeded (2xx), were already superseded (409: a newer version
 * is there) or deleted something absent (404). Items refused with 429 or 5xx
 * stay and are retried; so is the whole batch when the request failed. Waits
 * grow exponentially with jitter (100 ms to 30 s) while failures last; the
 * rule and the waits are bulk.c's, shared with the reindex bulk load. Items
 * refused for good (other 4xx) are dropped with an error line, so one bad
 * document cannot block the stream.
 */
#include "mirror.h"

#include "bulk.h"
#include "clock.h"
#include "corrupt.h"
#include "errors.h"
#include "isotime.h"
#include "log.h"
#include "varint.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_OPS 500
#define BATCH_BYTES ((size_t)8 << 20)

extern const char cs_os_template[];

struct cs_mirror {
  cs_store *store;
  char url[512];
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  atomic_int stop; /* also aborts a request under way (cs_os_cancel_on) */
  int woken;
  uint64_t acked, retried, dropped;
  int alias_refused; /* the last batch's items found no index behind the alias, or no write index */
  atomic_int requeue; /* see cs_mirror_requeue_hint */
  int64_t last_ok_ms, last_error_ms;
  char last_error[256];
};

/* ---------------------------------------------------------------- documents */

static json_t *jstr(cs_str s) {
  json_t *j = json_stringn(s.p, s.len);
  return j ? j : json_string("");
}

static json_t *jtime(int64_t ms) {
  return ms < 0 ? json_null() : json_integer(ms);
}

static int add_turn(void *ctx, const cs_turn *tp) {
  json_t *turns = ctx;
  cs_turn t = *tp;
  json_array_append_new(turns, json_pack("{s:i, s:o, s:s, s:o, s:o, s:o}", "seq", t.seq, "speaker",
                                         jstr(t.speaker), "role", cs_role_name(t.role), "start_ms",
                                         jtime(t.start_ms), "end_ms", jtime(t.end_ms), "text",
                                         jstr(t.text)));
  return 0;
}

static json_t *conversation_doc(cs_reader *r, uint64_t id) {
  cs_conv c;
  if (cs_reader_conv(r, id, &c)) return NULL;
  json_t *turns = json_array();
  int rc = cs_reader_turns(r, id, INT32_MIN, CS_TURNS_TEXT | CS_TURNS_STRICT, add_turn, turns);
  if (rc) {
    json_decref(turns);
    return NULL;
  }
  char sum[24];
  snprintf(sum, sizeof sum, "%016" PRIx64, c.checksum);
  return json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:s}", "kind",
                   "conversation", "conversation_id", (json_int_t)c.id, "patient_id",
                   (json_int_t)c.patient_id, "owner_id", (json_int_t)c.owner_id, "title",
                   jstr(c.title), "description", jstr(c.description), "language", jstr(c.language),
                   "status", jstr(c.status), "created_at", jtime(c.created_at_ms), "updated_at",
                   jtime(c.updated_at_ms), "duration_ms", jtime(c.duration_ms), "nturns",
                   (json_int_t)c.nturns, "turns", turns, "checksum", sum);
}

static json_t *patient_doc(cs_reader *r, uint64_t id) {
  cs_patient p;
  if (cs_reader_patient(r, id, &p)) return NULL;
  char sum[24];
  snprintf(sum, sizeof sum, "%016" PRIx64, p.checksum);
  return json_pack("{s:s, s:I, s:I, s:o, s:s}", "kind", "patient", "patient_id", (json_int_t)p.id,
                   "owner_id", (json_int_t)p.owner_id, "name", jstr(p.name), "checksum", sum);
}

static void doc_id(char *out, size_t cap, int kind, uint64_t id) {
  snprintf(out, cap, "%s-%" PRIu64, kind == CS_OUT_CONVERSATION ? "conversation" : "patient", id);
}

static void append_json(cs_buf *out, json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  if (!s) {
    out->err = CS_ENOMEM;
    return;
  }
  cs_buf_bytes(out, s, strlen(s));
  cs_buf_u8(out, '\n');
  free(s);
}

int cs_mirror_doc_lines(cs_reader *r, int kind, uint64_t id, uint64_t version, const char *index,
                        cs_buf *out, int *written) {
  *written = 0;
  json_t *doc = kind == CS_OUT_CONVERSATION ? conversation_doc(r, id) : patient_doc(r, id);
  if (!doc) return 0;
  char did[64];
  doc_id(did, sizeof did, kind, id);
  json_t *action = json_pack("{s:{s:s, s:s, s:I, s:s}}", "index", "_index", index, "_id", did,
                             "version", (json_int_t)version, "version_type", "external");
  append_json(out, action);
  append_json(out, doc);
  json_decref(action);
  json_decref(doc);
  *written = 1;
  return out->err;
}

static void delete_line(cs_buf *out, int kind, uint64_t id, uint64_t version) {
  char did[64];
  doc_id(did, sizeof did, kind, id);
  json_t *action = json_pack("{s:{s:s, s:s, s:I, s:s}}", "delete", "_index", CS_MIRROR_ALIAS, "_id",
                             did, "version", (json_int_t)version, "version_type", "external");
  append_json(out, action);
  json_decref(action);
}

/* ---------------------------------------------------------------- index setup */

int cs_mirror_create_index(cs_os *c, const char *name, int with_alias) {
  json_error_t jerr;
  json_t *tpl = json_loads(cs_os_template, 0, &jerr);
  if (!tpl) {
    cs_log(CS_LOG_ERROR, "mirror: template does not parse: %s", jerr.text);
    return CS_EINVAL;
  }
  json_t *t = json_object_get(tpl, "template");
  if (!t) t = tpl;
  json_t *body = json_object();
  json_t *settings = json_object_get(t, "settings"), *mappings = json_object_get(t, "mappings");
  if (settings) json_object_set(body, "settings", settings);
  if (mappings) json_object_set(body, "mappings", mappings);
  /* The alias's write index, said explicitly: then a second index created
   * behind the alias (by a mirror stopped while its creation was under
   * way, and started again on a new generation) is refused instead of
   * leaving the alias on two indices, where every write fails. */
  if (with_alias)
    json_object_set_new(body, "aliases",
                        json_pack("{s:{s:b}}", CS_MIRROR_ALIAS, "is_write_index", 1));
  char *s = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  json_decref(tpl);
  if (!s) return CS_ENOMEM;
  char path[300];
  snprintf(path, sizeof path, "/%s", name);
  cs_buf resp;
  cs_buf_init(&resp);
  long status;
  int rc = cs_os_request(c, "PUT", path, NULL, s, strlen(s), 0, &status, &resp);
  free(s);
  int exists = !rc && status == 400 && resp.p && strstr((char *)resp.p, "already_exists");
  if (exists && with_alias) {
    /* Made before (by this generation's mirror) and since taken from
     * behind the alias: put it back there, as the write index. */
    cs_log(CS_LOG_INFO, "mirror: index %s exists: putting it behind alias %s", name,
           CS_MIRROR_ALIAS);
    json_t *a = json_pack("{s:[{s:{s:s, s:s, s:b}}]}", "actions", "add", "index", name, "alias",
                          CS_MIRROR_ALIAS, "is_write_index", 1);
    s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!s) {
      cs_buf_free(&resp);
      return CS_ENOMEM;
    }
    cs_buf_reset(&resp);
    rc = cs_os_request(c, "POST", "/_aliases", NULL, s, strlen(s), 0, &status, &resp);
    free(s);
    exists = 0;
  }
  if (!rc && status != 200 && !exists) {
    if (with_alias && resp.p && strstr((char *)resp.p, "more than one write index")) {
      rc = 1; /* another index took the alias first */
    } else {
      cs_log(CS_LOG_ERROR, "mirror: creating index %s: HTTP %ld %.300s", name, status,
             resp.p ? (char *)resp.p : "");
      rc = CS_EIO;
    }
  }
  cs_buf_free(&resp);
  return rc;
}

/* The last error, for /v1/health (cut to its room). */
static void __attribute__((format(printf, 2, 3))) set_error(cs_mirror *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->last_error, sizeof m->last_error, fmt, ap);
  va_end(ap);
  m->last_error_ms = cs_clock_ms(CLOCK_REALTIME);
}

/* 0 when writes through the alias `a` (GET /_alias's answer) reach one
 * index: it names one index, or one of its indices is the write index.
 * Otherwise logs why, and what mends it, and returns 2; CS_EIO when `a` is
 * not such an answer. */
static int check_alias(cs_mirror *m, const char *a) {
  json_t *j = json_loads(a ? a : "", 0, NULL);
  if (!json_is_object(j)) { /* not OpenSearch's answer (a proxy's page?): asked again later */
    json_decref(j);
    cs_log(CS_LOG_WARN, "mirror: GET /_alias/%s answered 200 with a body that is not its JSON",
           CS_MIRROR_ALIAS);
    return CS_EIO;
  }
  size_t n = json_object_size(j);
  int writable = 0;
  char names[200] = "";
  const char *idx;
  json_t *v;
  json_object_foreach(j, idx, v) {
    json_t *w = json_object_get(json_object_get(json_object_get(v, "aliases"), CS_MIRROR_ALIAS),
                                "is_write_index");
    if (json_is_true(w) || (n == 1 && !json_is_false(w))) writable = 1;
    size_t l = strlen(names);
    snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", idx);
  }
  json_decref(j);
  if (writable) return 0;
  /* (A long list of names is cut: the count says how many.) */
  set_error(m,
            "alias %s is on %zu indices (%s), none its write index: writes would be refused; "
            "nothing is sent until `convsearch-indexer reindex` or an _aliases call mends it",
            CS_MIRROR_ALIAS, n, names);
  cs_log(CS_LOG_ERROR, "mirror: %s", m->last_error);
  return 2;
}

/* META "mirror_alias": set once the alias was found or made for this
 * index, so that finding it gone later means the node lost what it had. */
static const cs_slice alias_key = {"mirror_alias", 12};

static int alias_was_used(cs_mirror *m) {
  cs_txn *t;
  cs_slice v;
  if (cs_txn_begin(m->store, 0, &t)) return 0;
  int used = cs_get(t, CS_T_META, alias_key, &v) == 0;
  cs_txn_abort(t);
  return used;
}

/* Records that the alias is in use; with requeue, that everything must be
 * queued again (CS_MIRROR_REQUEUE_KEY), in the same transaction. */
static int alias_used(cs_mirror *m, int requeue) {
  cs_txn *t;
  if (!requeue && alias_was_used(m)) return 0;
  int rc = cs_txn_begin(m->store, 1, &t);
  if (rc) return rc;
  rc = cs_put(t, CS_T_META, alias_key, (cs_slice){"1", 1});
  if (!rc && requeue)
    rc = cs_put(t, CS_T_META, (cs_slice){CS_MIRROR_REQUEUE_KEY, strlen(CS_MIRROR_REQUEUE_KEY)},
                (cs_slice){"1", 1});
  if (rc) {
    cs_txn_abort(t);
    return rc;
  }
  rc = cs_txn_commit(t);
  if (!rc && requeue) atomic_store(&m->requeue, 1);
  return rc;
}

/* Ensures the alias exists and takes writes; creates the first index
 * behind it when not, and when the alias had been in use, asks for
 * everything to be queued again. Returns 0, 2 when the alias cannot take
 * writes (logged), or an error. */
static int ensure_alias(cs_mirror *m, cs_os *c) {
  for (int tries = 0;; tries++) {
    cs_buf resp;
    cs_buf_init(&resp);
    long status;
    int rc = cs_os_request(c, "GET", "/_alias/" CS_MIRROR_ALIAS, NULL, NULL, 0, 0, &status, &resp);
    if (!rc && status == 200) rc = check_alias(m, (char *)resp.p);
    cs_buf_free(&resp);
    if (rc) return rc;
    if (status == 200) {
      (void)alias_used(m, 0); /* else recorded the next time */
      return 0;
    }
    if (status != 404) return CS_EIO;
    char name[128];
    snprintf(name, sizeof name, "convsearch-%s", cs_store_generation(m->store));
    int gone = alias_was_used(m);
    if (gone) {
      set_error(m, "alias %s was gone from OpenSearch: made again, everything resent",
                CS_MIRROR_ALIAS);
      cs_log(CS_LOG_ERROR,
             "mirror: alias %s is gone from OpenSearch (its index deleted?): creating index %s "
             "behind it and sending everything again",
             CS_MIRROR_ALIAS, name);
    } else {
      cs_log(CS_LOG_INFO, "mirror: creating index %s behind alias %s", name, CS_MIRROR_ALIAS);
    }
    rc = cs_mirror_create_index(c, name, 1);
    /* (Were the requeue not recorded, the next look finds the alias
     * and nothing asks for it: a failure to record it is an error.) */
    if (!rc) return alias_used(m, gone);
    if (rc != 1) return rc;
    if (tries) return CS_EIO;
    cs_log(CS_LOG_INFO,
           "mirror: index %s not created: the alias already has its write index (made by "
           "an earlier request); writing there",
           name);
  }
}

/* ---------------------------------------------------------------- sender */

typedef struct batch {
  uint64_t seq[BATCH_OPS];
  int sent[BATCH_OPS]; /* 1: an item was sent for it; 0: nothing to send (acked at once) */
  int n;
  cs_buf body;
} batch;

typedef struct collect_ctx {
  cs_reader *r;
  batch *b;
  int err;
} collect_ctx;

static int collect(void *ctx, cs_slice k, cs_slice v) {
  collect_ctx *x = ctx;
  batch *b = x->b;
  if (b->n >= BATCH_OPS || b->body.len >= BATCH_BYTES) return 1;
  if (k.len != 8) return 0;
  uint64_t seq = cs_be64_get(k.data);
  cs_outop op;
  b->seq[b->n] = seq;
  if (cs_outop_decode(v.data, v.len, &op)) {
    cs_corrupt(CS_T_OUTBOX, k); /* logged there: outbox N */
    cs_log(CS_LOG_ERROR, "mirror: outbox entry %" PRIu64 " is corrupt; dropped", seq);
    b->sent[b->n++] = 0;
    return 0;
  }
  int written = 1;
  if (op.action == CS_OUT_PUT) {
    x->err = cs_mirror_doc_lines(x->r, op.kind, op.id, seq, CS_MIRROR_ALIAS, &b->body, &written);
  } else {
    delete_line(&b->body, op.kind, op.id, seq);
  }
  b->sent[b->n++] = written;
  return x->err ? 1 : 0;
}

/* Writes the sender's counters and last error to META "mirror_status"
 * (JSON) so that the query server's health and metrics can show them. */
static int put_status(cs_mirror *m, cs_txn *t, uint64_t acked) {
  char ok_at[CS_TIME_ISO_LEN], error_at[CS_TIME_ISO_LEN];
  json_t *j = json_pack("{s:I, s:I, s:I, s:s?, s:s?, s:s?}", "acked", (json_int_t)acked, "retried",
                        (json_int_t)m->retried, "dropped", (json_int_t)m->dropped, "last_ok_at",
                        m->last_ok_ms ? cs_time_iso(m->last_ok_ms, ok_at) : NULL, "last_error",
                        m->last_error[0] ? m->last_error : NULL, "last_error_at",
                        m->last_error_ms ? cs_time_iso(m->last_error_ms, error_at) : NULL);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!s) return CS_ENOMEM;
  int rc = cs_put(t, CS_T_META, (cs_slice){"mirror_status", 13}, (cs_slice){s, strlen(s)});
  free(s);
  return rc;
}

/* Deletes acknowledged outbox entries and records the status, in one
 * transaction. */
static int ack(cs_mirror *m, const uint64_t *seqs, int n) {
  cs_txn *t;
  int rc = cs_txn_begin(m->store, 1, &t);
  if (rc) return rc;
  for (int i = 0; i < n && !rc; i++) {
    uint8_t key[8];
    cs_key_u64(key, seqs[i]);
    rc = cs_del(t, CS_T_OUTBOX, (cs_slice){key, 8});
    if (rc == CS_ENOTFOUND) rc = 0;
  }
  if (n) m->last_ok_ms = cs_clock_ms(CLOCK_REALTIME);
  if (!rc) rc = put_status(m, t, m->acked + (uint64_t)n);
  if (rc) {
    cs_txn_abort(t);
    return rc;
  }
  rc = cs_txn_commit(t);
  if (!rc) m->acked += (uint64_t)n;
  return rc;
}

/* 1 when a _bulk item (`{"index": {"status", "error"}}`) was refused for
 * the alias, not the document: no index behind it (require_alias), or
 * several and no write index. */
static int alias_trouble(json_t *item) {
  const char *k;
  json_t *v;
  json_object_foreach(item, k, v) {
    json_t *e = json_object_get(v, "error");
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *why = json_string_value(json_object_get(e, "reason"));
    if ((type && !strcmp(type, "index_not_found_exception")) ||
        (why && strstr(why, "no write index")))
      return 1;
  }
  return 0;
}

/* Sends one batch; returns 1 when everything was acknowledged, 0 when
 * something must be retried, -1 when nothing was pending. */
static int send_batch(cs_mirror *m, cs_os *c, batch *b) {
  b->n = 0;
  cs_buf_reset(&b->body);
  cs_reader *r;
  if (cs_reader_open(m->store, &r)) return 0;
  collect_ctx x = {r, b, 0};
  cs_reader_scan(r, CS_T_OUTBOX, NULL, 0, collect, &x);
  cs_reader_close(r);
  if (b->n == 0) return -1;
  uint64_t done[BATCH_OPS];
  int ndone = 0, nsent = 0;
  for (int i = 0; i < b->n; i++) {
    if (b->sent[i])
      nsent++;
    else
      done[ndone++] = b->seq[i];
  }
  int all_ok = 1;
  if (nsent) {
    long st[BATCH_OPS];
    char why[160];
    /* require_alias: were the alias gone, a write to it would make an
     * index of that name with mappings guessed from the document. */
    json_t *j = cs_bulk_send(c, "/_bulk?require_alias=true", b->body.p, b->body.len, nsent, st, why,
                             sizeof why);
    if (!j) {
      set_error(m, "_bulk failed: %s", why);
      /* (Aborted by a stop: they stay queued, nothing went wrong.) */
      if (!atomic_load(&m->stop))
        cs_log(CS_LOG_WARN, "mirror: %s; %d operations will be retried", m->last_error, nsent);
      m->retried += (uint64_t)nsent;
      all_ok = 0;
    } else {
      json_t *items = json_object_get(j, "items");
      int k = 0;
      for (int i = 0; i < b->n; i++) {
        if (!b->sent[i]) continue;
        cs_bulk_outcome how = cs_bulk_classify(st[k]);
        if (st[k] >= 400 && alias_trouble(json_array_get(items, (size_t)k))) {
          /* Not the document's fault (and a 404 here is no delete of
           * nothing): kept, and the alias is checked again. */
          m->alias_refused = 1;
          how = CS_BULK_RETRY;
        }
        switch (how) {
        case CS_BULK_DONE:
          done[ndone++] = b->seq[i];
          break;
        case CS_BULK_RETRY:
          m->retried++;
          all_ok = 0;
          break;
        case CS_BULK_REFUSED: {
          char *item = json_dumps(json_array_get(items, (size_t)k), JSON_COMPACT);
          cs_log(CS_LOG_ERROR, "mirror: operation %" PRIu64 " refused for good (HTTP %ld): %.300s",
                 b->seq[i], st[k], item ? item : "");
          free(item);
          m->dropped++;
          done[ndone++] = b->seq[i];
          break;
        }
        }
        k++;
      }
      if (!all_ok && !m->alias_refused)
        set_error(m, "%s", "some items refused with 429 or 5xx; retrying");
    }
    json_decref(j);
  }
  if (ack(m, done, ndone)) all_ok = 0;
  return all_ok;
}

static void *sender(void *arg) {
  cs_mirror *m = arg;
  cs_os *c;
  if (cs_os_open(m->url, &c)) return NULL;
  /* Stopping (a compaction, a reindex's swap, shutdown) does not wait for
   * a slow or hanging OpenSearch: local indexing waits on it. */
  cs_os_cancel_on(c, &m->stop);
  batch *b = calloc(1, sizeof *b);
  if (!b) {
    cs_os_close(c);
    return NULL;
  }
  cs_buf_init(&b->body);
  cs_backoff backoff = {0, 0};
  int alias_ok = 0;
  for (;;) {
    pthread_mutex_lock(&m->lock);
    if (m->stop) {
      pthread_mutex_unlock(&m->lock);
      break;
    }
    pthread_mutex_unlock(&m->lock);
    int result = -1;
    if (!alias_ok) {
      int arc = ensure_alias(m, c);
      alias_ok = arc == 0;
      if (arc < 0) {
        set_error(m, "cannot reach OpenSearch: %s", cs_os_error(c));
        if (!atomic_load(&m->stop)) cs_log(CS_LOG_WARN, "mirror: %s", m->last_error);
      }
      if (!alias_ok) {
        ack(m, NULL, 0);
        result = 0;
      }
    }
    if (alias_ok) result = send_batch(m, c, b);
    if (m->alias_refused) { /* checked again before the next batch */
      m->alias_refused = 0;
      alias_ok = 0;
    }
    if (result == 1) {
      cs_backoff_reset(&backoff);
      continue; /* more may be pending */
    }
    long wait = result == 0 ? cs_backoff_next(&backoff) : 200;
    struct timespec until = cs_clock_after_ms(CLOCK_REALTIME, wait);
    pthread_mutex_lock(&m->lock);
    /* After a failure, wake-ups do not cut the backoff short. */
    while (!m->stop && (result == 0 || !m->woken)) {
      if (pthread_cond_timedwait(&m->cond, &m->lock, &until)) break;
    }
    m->woken = 0;
    pthread_mutex_unlock(&m->lock);
  }
  cs_buf_free(&b->body);
  free(b);
  cs_os_close(c);
  return NULL;
}

int cs_mirror_start(cs_store *s, const char *url, cs_mirror **out) {
  *out = NULL;
  cs_mirror *m = calloc(1, sizeof *m);
  if (!m) return CS_ENOMEM;
  m->store = s;
  snprintf(m->url, sizeof m->url, "%s", url);
  pthread_mutex_init(&m->lock, NULL);
  pthread_cond_init(&m->cond, NULL);
  if (pthread_create(&m->thread, NULL, sender, m)) {
    free(m);
    return CS_ENOMEM;
  }
  cs_log(CS_LOG_INFO, "mirror: sending to %s", url);
  *out = m;
  return 0;
}

int cs_mirror_requeue_hint(cs_mirror *m) {
  return m ? atomic_exchange(&m->requeue, 0) : 0;
}

void cs_mirror_wake(cs_mirror *m) {
  if (!m) return;
  pthread_mutex_lock(&m->lock);
  m->woken = 1;
  pthread_cond_signal(&m->cond);
  pthread_mutex_unlock(&m->lock);
}

void cs_mirror_stop(cs_mirror *m) {
  if (!m) return;
  pthread_mutex_lock(&m->lock);
  m->stop = 1;
  pthread_cond_signal(&m->cond);
  pthread_mutex_unlock(&m->lock);
  pthread_join(m->thread, NULL);
  pthread_cond_destroy(&m->cond);
  pthread_mutex_destroy(&m->lock);
  free(m);
}
