/*
 * The index writer (see writer.h for the contract): batches, and the
 * records of conversations, people, events, relevant points and the
 * checkpoint. What a batch adds to the postings waits in memory
 * (writer_int.h, pending.h) until writer_flush.c merges it into LMDB, at
 * commit or before a delete that touches a document still pending; texts
 * become postings in writer_docs.c, passages in writer_passages.c.
 */
#include "writer_int.h"
#include "corrupt.h"

#include "clock.h"
#include "errors.h"
#include "grow.h"
#include "varint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---------------------------------------------------------------- writer */

static int stamp_unversioned(cs_writer *w);

static int check_format(cs_writer *w) {
  char want[64], old[64];
  int n = snprintf(want, sizeof want, "%s %d", CS_FORMAT_MAGIC, CS_FORMAT_VERSION);
  int on = snprintf(old, sizeof old, "%s %d", CS_FORMAT_MAGIC, CS_FORMAT_UPGRADES);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_META, sl("format", 6), &v);
  /* A fresh index, or one of the format before (the same layout):
   * marked with this one, which older binaries refuse (records.h). */
  if (rc == CS_ENOTFOUND || (rc == 0 && v.len == (size_t)on && !memcmp(v.data, old, v.len)))
    return cs_put(w->txn, CS_T_META, sl("format", 6), sl(want, (size_t)n));
  if (rc) return rc;
  if (v.len != (size_t)n || memcmp(v.data, want, v.len) != 0) return CS_EVERSION;
  return 0;
}

/* The index's text dictionary, if it has one (textpack.h). */
static int load_zdict(cs_writer *w) {
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_META, sl("zdict", 5), &v);
  if (rc == CS_ENOTFOUND) return 0;
  if (rc) return rc;
  return cs_corrupt_rc(cs_textpack_use(w->zt, (cs_str){v.data, v.len}), CS_T_META, sl("zdict", 5));
}

int cs__wr_zdict(cs_writer *w) {
  if (!cs_textpack_wants_dict(w->zt)) return 0;
  int built;
  int rc = cs_textpack_train(w->zt, &w->buf2, &built);
  if (rc || !built) return rc;
  w->zdict_new = 1; /* forgotten if this transaction aborts */
  return cs__wr_put_buf(w, CS_T_META, "zdict", 5, &w->buf2);
}

int cs_writer_open(cs_store *s, cs_writer **out) {
  *out = NULL;
  cs_writer *w = calloc(1, sizeof *w);
  if (!w) return CS_ENOMEM;
  w->store = s;
  w->pending_min = CS_DOCID_END;
  w->an = cs_analyzer_create();
  w->zt = cs_textpack_create();
  if (!w->an || !w->zt) {
    cs_analyzer_destroy(w->an);
    cs_textpack_destroy(w->zt);
    free(w);
    return CS_ENOMEM;
  }
  cs_analyzer_set_word_cache(w->an, 1);
  cs_buf_init(&w->buf);
  cs_buf_init(&w->buf2);
  cs_buf_init(&w->ochg.keys);
  cs_buf_init(&w->ochg.gkeys);
  cs_plist_init(&w->tmp);
  int rc = cs_txn_begin(s, 1, &w->txn);
  if (!rc) rc = check_format(w);
  if (!rc) rc = load_zdict(w);
  if (!rc) rc = stamp_unversioned(w);
  if (!rc) {
    rc = cs_txn_commit(w->txn);
  } else {
    cs_txn_abort(w->txn);
  }
  w->txn = NULL;
  if (rc) {
    cs_writer_close(w);
    return rc;
  }
  *out = w;
  return 0;
}

void cs_writer_close(cs_writer *w) {
  if (!w) return;
  cs_writer_abort(w);
  cs_analyzer_destroy(w->an);
  cs_textpack_destroy(w->zt);
  cs_buf_free(&w->buf);
  cs_buf_free(&w->buf2);
  cs__wr_ochanges_free(w);
  cs_plist_free(&w->tmp);
  free(w->ents);
  free(w->cb.kind);
  free(w->cb.conv);
  free(w->cb.skind);
  free(w->cb.sconv);
  free(w->memo);
  free(w->touched[0]);
  free(w->touched[1]);
  free(w->oheal);
  free(w->ostats_heal);
  free(w);
}

int cs_writer_begin(cs_writer *w) {
  if (w->txn) return CS_EINVAL;
  int rc = cs_txn_begin(w->store, 1, &w->txn);
  if (rc) return rc;
  /* The owners whose per-owner statistics change get a new version at
   * commit (stamp_owners), whichever path writes them. */
  cs_txn_track(w->txn, 1u << CS_T_OLEX | 1u << CS_T_OWORDS | 1u << CS_T_OSTATS);
  cs__wr_ochanges_reset(w);
  cs_slice v;
  memset(&w->stats, 0, sizeof w->stats);
  w->stats.next_docid = 1;
  rc = cs_get(w->txn, CS_T_META, sl("stats", 5), &v);
  if (rc == 0)
    rc = cs_corrupt_rc(cs_stats_decode(v.data, v.len, &w->stats), CS_T_META, sl("stats", 5));
  w->stats.changes = NULL; /* (into the page read; its version is what put_stats needs) */
  w->stats.changes_len = 0;
  if (rc == CS_ECORRUPT) rc = cs__wr_heal_stats(w); /* rewritten at commit */
  if (rc == CS_ENOTFOUND) rc = 0;
  w->mirror = cs_get(w->txn, CS_T_META, sl("mirror", 6), &v) == 0;
  w->outbox_seq = 0;
  w->outbox_dirty = 0;
  if (!rc && cs_get(w->txn, CS_T_META, sl("outbox_seq", 10), &v) == 0) {
    if (v.len == 8)
      w->outbox_seq = cs_be64_get(v.data);
    else /* reported; rewritten at commit */
      rc = cs_corrupt(CS_T_META, sl("outbox_seq", 10)) ? cs__wr_heal_outbox_seq(w) : 0;
  }
  if (rc) cs_writer_abort(w);
  return rc;
}

int cs_writer_set_mirror(cs_writer *w, int on) {
  w->mirror = on;
  if (on) {
    /* Version 1 belongs to bulk loads (reindex): the outbox's versions
     * start above it, so its first change always supersedes them. */
    if (w->outbox_seq < 1) {
      w->outbox_seq = 1;
      w->outbox_dirty = 1;
    }
    return cs_put(w->txn, CS_T_META, sl("mirror", 6), sl("on", 2));
  }
  int rc = cs_del(w->txn, CS_T_META, sl("mirror", 6));
  return rc == CS_ENOTFOUND ? 0 : rc;
}

int cs_writer_mirror_on(cs_writer *w) {
  return w->mirror;
}

int cs__wr_outbox(cs_writer *w, int action, int kind, uint64_t id) {
  if (!w->mirror) return 0;
  cs_outop o = {(uint8_t)action, (uint8_t)kind, id, cs_clock_ms(CLOCK_REALTIME)};
  cs_buf_reset(&w->buf2);
  cs_outop_encode(&w->buf2, &o);
  uint8_t key[8];
  cs_key_u64(key, ++w->outbox_seq);
  w->outbox_dirty = 1;
  return cs__wr_put_buf(w, CS_T_OUTBOX, key, 8, &w->buf2);
}

void cs_writer_abort(cs_writer *w) {
  cs_txn_abort(w->txn);
  w->txn = NULL;
  if (w->zdict_new) cs_textpack_drop(w->zt);
  w->zdict_new = 0;
  cs__wr_reset_pending(w);
}

size_t cs_writer_pending_bytes(const cs_writer *w) {
  return w->terms.bytes + w->words.bytes + w->oterms.bytes + w->owords.bytes + cs__wr_own_bytes(w);
}

size_t cs_writer_largest_commit(const cs_writer *w) {
  return w->largest_commit;
}

static uint64_t fresh_version(void);

/* The statistics, and beside them (META "docids", be32) the next docid
 * again: if the statistics are damaged, the heal goes past it (no docid is
 * handed out twice: writer_heal.c). They get a new version and the list of
 * the keys of CS_T_WORDS and CS_T_LEX this commit added
 * (writer_ochanges.c), as an owner's record gets its own (stamp_owners):
 * the query server passes on the expansions of the callers who read the
 * collection's statistics (records.h, expmemo.h). */
static int put_stats(cs_writer *w) {
  const struct cs__ochg *c = &w->ochg;
  cs_stats st = w->stats;
  st.prev_version = w->stats.version;
  st.version = w->stats.version = fresh_version();
  st.many = (uint8_t)c->gmany;
  st.changes = c->gmany ? NULL : c->gkeys.p;
  st.changes_len = c->gmany ? 0 : c->gkeys.len;
  st.nchanges = c->gmany ? 0 : c->gn;
  st.nremoved = c->gmany ? 0 : c->gremoved;
  cs_buf_reset(&w->buf);
  cs_stats_encode(&w->buf, &st);
  int rc = cs__wr_put_buf(w, CS_T_META, "stats", 5, &w->buf);
  uint8_t next[4];
  cs_be32_put(next, w->stats.next_docid);
  if (!rc) rc = cs_put(w->txn, CS_T_META, sl("docids", 6), sl(next, 4));
  return rc;
}

/* A version no earlier commit drew (records.h: compared for equality only,
 * so it need not grow; a generation's copy keeps its owners' versions). */
static uint64_t fresh_version(void) {
  static _Atomic uint64_t n;
  uint64_t v;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    v = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + (++n << 40);
    v ^= v >> 31; /* splitmix64's finalizer */
    v *= 0xbf58476d1ce4e5b9u;
    v ^= v >> 27;
  }
  return v ? v : 1;
}

/* Gives owner `key`'s record (v) a new version; `changes`: the keys this
 * transaction added to its entries (nchanges of them; nremoved removed;
 * many: not known), or NULL: no version before it to name (records.h). */
static int put_version(cs_writer *w, const uint8_t key[8], cs_slice v, uint64_t version,
                       const cs_buf *changes, uint32_t nchanges, uint32_t nremoved, int many) {
  cs_stats st;
  /* Damaged: counted again at its owner's next change; readers find no
   * version meanwhile. */
  if (cs_ostats_decode(v.data, v.len, &st)) return 0;
  st.prev_version = changes ? st.version : 0;
  st.version = version;
  st.changes = changes ? changes->p : NULL;
  st.changes_len = changes ? changes->len : 0;
  st.nchanges = nchanges;
  st.nremoved = nremoved;
  st.many = (uint8_t)many;
  cs_buf_reset(&w->buf);
  cs_stats_encode(&w->buf, &st);
  return cs__wr_put_buf(w, CS_T_OSTATS, (const char *)key, 8, &w->buf);
}

/* An index written before owners had versions: its records get one, once
 * (META "ostats_versions"), so that the query server keeps what it made for
 * an owner across commits from the start, not after the owner's next change. */
static int stamp_unversioned(cs_writer *w) {
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_META, sl("ostats_versions", 15), &v);
  if (rc != CS_ENOTFOUND) return rc;
  uint64_t version = fresh_version();
  cs_buf keys; /* first: the puts below move the records under a cursor */
  cs_buf_init(&keys);
  cs_cursor *c;
  rc = cs_cursor_open(w->txn, CS_T_OSTATS, &c);
  if (!rc) {
    cs_slice k;
    int r = cs_cursor_first(c, &k, &v);
    for (; r == 0; r = cs_cursor_next(c, &k, &v)) {
      cs_stats st;
      if (k.len == 8 && cs_ostats_decode(v.data, v.len, &st) == 0 && !st.version)
        cs_buf_bytes(&keys, k.data, 8);
    }
    if (r != CS_ENOTFOUND) rc = r;
    cs_cursor_close(c);
  }
  if (!rc) rc = keys.err;
  for (size_t i = 0; !rc && i + 8 <= keys.len; i += 8) {
    rc = cs_get(w->txn, CS_T_OSTATS, sl(keys.p + i, 8), &v);
    if (!rc) rc = put_version(w, keys.p + i, v, version, NULL, 0, 0, 0);
  }
  cs_buf_free(&keys);
  return rc ? rc : cs_put(w->txn, CS_T_META, sl("ostats_versions", 15), sl("1", 1));
}

/* Every owner whose per-owner statistics this commit wrote gets a new
 * version in its CS_T_OSTATS record (an owner left without one has no
 * documents, and no version: nothing of it is kept across snapshots). */
static int stamp_owners(cs_writer *w) {
  const uint64_t *owners;
  size_t n;
  int rc = cs_txn_tracked(w->txn, &owners, &n);
  if (rc || n == 0) return rc;
  cs_txn_track(w->txn, 0); /* the list stays as it is */
  uint64_t version = fresh_version();
  cs_buf changes;
  cs_buf_init(&changes);
  for (size_t i = 0; !rc && i < n; i++) {
    uint8_t key[8];
    cs_key_u64(key, owners[i]);
    cs_slice v;
    rc = cs_get(w->txn, CS_T_OSTATS, sl(key, 8), &v);
    if (rc == CS_ENOTFOUND) {
      rc = 0;
      continue;
    }
    uint32_t nc, nr;
    uint8_t many;
    cs__wr_ochanges_of(w, owners[i], &changes, &nc, &nr, &many);
    if (!rc) rc = put_version(w, key, v, version, &changes, nc, nr, many);
  }
  cs_buf_free(&changes);
  cs__wr_ochanges_reset(w);
  return rc;
}

int cs_writer_commit(cs_writer *w) {
  if (!w->txn) return CS_EINVAL;
  size_t pending = cs_writer_pending_bytes(w);
  if (pending > w->largest_commit) w->largest_commit = pending;
  int rc = cs__wr_flush(w);
  if (!rc) rc = put_stats(w);
  if (!rc) rc = stamp_owners(w);
  if (!rc && w->outbox_dirty) {
    uint8_t seq[8];
    cs_be64_put(seq, w->outbox_seq);
    rc = cs_put(w->txn, CS_T_META, sl("outbox_seq", 10), sl(seq, 8));
  }
  if (rc) {
    cs_writer_abort(w);
    return rc;
  }
  rc = cs_txn_commit(w->txn);
  w->txn = NULL;
  if (rc && w->zdict_new) cs_textpack_drop(w->zt);
  w->zdict_new = 0;
  cs__wr_reset_pending(w);
  return rc;
}

int cs__wr_get_copy(cs_writer *w, cs_table t, uint64_t id, cs_buf *copy) {
  uint8_t key[8];
  cs_key_u64(key, id);
  cs_slice v;
  int rc = cs_get(w->txn, t, sl(key, 8), &v);
  if (rc) return rc;
  /* Copy: the value dies with the next write. */
  cs_buf_reset(copy);
  cs_buf_bytes(copy, v.data, v.len);
  return copy->err;
}

int cs__wr_erased(cs_writer *w, uint64_t patient) {
  uint8_t key[8];
  cs_key_u64(key, patient);
  cs_slice v;
  return cs_get(w->txn, CS_T_ERASED, sl(key, 8), &v) == 0;
}

int cs_writer_is_erased(cs_writer *w, uint64_t id) {
  return cs__wr_erased(w, id);
}

/* Deletes every key of `tbl` that starts with be64(id). */
int cs__wr_delete_prefix(cs_writer *w, cs_table tbl, uint64_t id,
                         int (*each)(cs_writer *, const uint8_t *key)) {
  uint8_t pfx[8];
  cs_key_u64(pfx, id);
  for (;;) {
    cs_cursor *cur;
    int rc = cs_cursor_open(w->txn, tbl, &cur);
    if (rc) return rc;
    cs_slice k, v;
    rc = cs_cursor_seek(cur, sl(pfx, 8), &k, &v);
    if (rc == CS_ENOTFOUND || (rc == 0 && (k.len < 8 || memcmp(k.data, pfx, 8) != 0))) {
      cs_cursor_close(cur);
      return 0;
    }
    uint8_t key[16] = {0};
    size_t klen = k.len < 16 ? k.len : 16;
    if (!rc) memcpy(key, k.data, klen);
    cs_cursor_close(cur);
    if (rc) return rc;
    if (each) {
      rc = each(w, key);
      if (rc && rc != CS_ENOTFOUND) return rc;
    }
    rc = cs_del(w->txn, tbl, sl(key, klen));
    if (rc && rc != CS_ENOTFOUND) return rc;
  }
}

/* ---------------------------------------------------------------- points */

int cs_writer_put_point(cs_writer *w, uint64_t id, const char *text, const char *category) {
  unsigned flags = 0;
  cs_buf f[2];
  cs_buf_init(&f[0]);
  cs_buf_init(&f[1]);
  const char *t = cs__wr_clean(&f[0], text, cs__slen(text), CS_FIELD_MAX, &flags);
  const char *c = cs__wr_clean(&f[1], category, cs__slen(category), CS_FIELD_MAX, &flags);
  cs_point p = {id, {t, strlen(t)}, {c, strlen(c)}};
  cs_buf_reset(&w->buf);
  cs_point_encode(&w->buf, &p);
  uint8_t key[8];
  cs_key_u64(key, id);
  int rc = cs__wr_put_buf(w, CS_T_POINT, key, 8, &w->buf);
  cs_buf_free(&f[0]);
  cs_buf_free(&f[1]);
  return rc;
}

int cs_writer_delete_point(cs_writer *w, uint64_t id) {
  uint8_t key[8];
  cs_key_u64(key, id);
  int rc = cs_del(w->txn, CS_T_POINT, sl(key, 8));
  return rc == CS_ENOTFOUND ? 0 : rc;
}

/* ---------------------------------------------------------------- checkpoint */

int cs_writer_get_checkpoint(cs_writer *w, cs_checkpoint *c) {
  memset(c, 0, sizeof *c);
  cs_slice v;
  int rc = cs_get(w->txn, CS_T_META, sl("checkpoint", 10), &v);
  if (rc == CS_ENOTFOUND) return 0;
  if (rc) return rc;
  return cs_corrupt_rc(cs_checkpoint_decode(v.data, v.len, c), CS_T_META, sl("checkpoint", 10));
}

int cs_writer_set_checkpoint(cs_writer *w, const cs_checkpoint *c) {
  cs_checkpoint x = *c;
  x.updated_at_ms = cs_clock_ms(CLOCK_REALTIME);
  cs_buf_reset(&w->buf);
  cs_checkpoint_encode(&w->buf, &x);
  return cs__wr_put_buf(w, CS_T_META, "checkpoint", 10, &w->buf);
}

int cs_writer_list_ids(cs_writer *w, cs_table t, uint64_t **ids, size_t *n) {
  *ids = NULL;
  *n = 0;
  if (t != CS_T_CONV && t != CS_T_PATIENT && t != CS_T_EVENT) return CS_EINVAL;
  /* Events are keyed (person, position): their positions, sorted below. */
  size_t klen = t == CS_T_EVENT ? 16 : 8, at = t == CS_T_EVENT ? 8 : 0;
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, t, &cur);
  if (rc) return rc;
  size_t cap = 0;
  cs_slice k, v;
  for (rc = cs_cursor_first(cur, &k, &v); rc == 0; rc = cs_cursor_next(cur, &k, &v)) {
    if (k.len != klen) continue;
    if (cs_grow_from((void **)ids, &cap, *n + 1, sizeof **ids, 1024)) {
      rc = CS_ENOMEM;
      break;
    }
    (*ids)[(*n)++] = cs_be64_get((const uint8_t *)k.data + at);
  }
  cs_cursor_close(cur);
  if (rc == CS_ENOTFOUND) rc = 0;
  if (!rc && t == CS_T_EVENT) qsort(*ids, *n, sizeof **ids, cs_cmp_u64);
  if (rc) {
    free(*ids);
    *ids = NULL;
    *n = 0;
  }
  return rc;
}

int cs_writer_enqueue_all(cs_writer *w) {
  static const struct {
    cs_table table;
    int kind;
  } sets[] = {{CS_T_PATIENT, CS_OUT_PATIENT}, {CS_T_CONV, CS_OUT_CONVERSATION}};
  for (size_t s = 0; s < 2; s++) {
    uint64_t *ids;
    size_t n;
    int rc = cs_writer_list_ids(w, sets[s].table, &ids, &n);
    for (size_t i = 0; !rc && i < n; i++)
      rc = cs__wr_outbox(w, CS_OUT_PUT, sets[s].kind, ids[i]);
    free(ids);
    if (rc) return rc;
  }
  return 0;
}

cs_txn *cs_writer_txn(cs_writer *w) {
  return w->txn;
}
