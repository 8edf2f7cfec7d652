/*
 * Healing damaged records in the writer (issue 14). When a record the
 * writer must decode to replace or delete an entity is damaged (a
 * conversation's record, one of its turns or passages, a person's record,
 * a postings chunk met on the way), the entity is removed without decoding
 * it: its documents are found by a scan of CS_T_DOCS, their postings by a
 * scan of CS_T_POST (a damaged chunk is left as it is: reported, and
 * unreadable anyway), and its records are deleted by key. The caller then
 * indexes the entity again from its source row. Slow, but rare.
 *
 * Exact for postings, lexicon, document statistics and per-owner counts;
 * the word table (CS_T_WORDS, CS_T_OWORDS) keeps the removed texts' words,
 * which cannot be known without the texts: a suggestion may name a word no
 * document holds any more, until a reindex.
 *
 * An owner's damaged statistics record (CS_T_OSTATS) is counted again from
 * the documents the owner owns (cs__wr_heal_ostats); a damaged block of
 * their lexicon is counted again from the postings (writer_oblock.c).
 */
#include "writer_int.h"
#include "corrupt.h"

#include "clock.h"
#include "errors.h"
#include "grow.h"
#include "log.h"
#include "postings.h"
#include "varint.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct heal_doc {
  uint32_t docid, len;
  uint8_t kind;
  uint64_t patient;
} heal_doc;

typedef struct heal_docs {
  heal_doc *d;
  size_t n, cap;
} heal_docs;

/* Calls fn for every document of CS_T_DOCS, ascending, with d NULL for a
 * damaged one (reported). */
typedef int (*doc_fn)(void *ctx, uint32_t docid, const cs_doc *d);
static int each_doc(cs_writer *w, doc_fn fn, void *ctx) {
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, CS_T_DOCS, &cur);
  if (rc) return rc;
  cs_slice k, v;
  for (rc = cs_cursor_first(cur, &k, &v); rc == 0; rc = cs_cursor_next(cur, &k, &v)) {
    cs_doc d;
    if (k.len != 4) continue;
    int bad = cs_corrupt_rc(cs_doc_decode(v.data, v.len, &d), CS_T_DOCS, k);
    rc = fn(ctx, cs_be32_get(k.data), bad ? NULL : &d);
    if (rc) break;
  }
  cs_cursor_close(cur);
  return rc == CS_ENOTFOUND ? 0 : rc;
}

typedef struct collect_ctx {
  uint64_t conv, patient;
  heal_docs *out;
} collect_ctx;

static int collect_one(void *ctx, uint32_t docid, const cs_doc *d) {
  collect_ctx *x = ctx;
  if (!d) return 0;
  int mine = x->conv ? d->conversation_id == x->conv
                     : d->kind == CS_DOC_NAME && !d->conversation_id && d->patient_id == x->patient;
  if (!mine) return 0;
  heal_docs *o = x->out;
  if (cs_grow((void **)&o->d, &o->cap, o->n + 1, sizeof *o->d)) return CS_ENOMEM;
  o->d[o->n++] = (heal_doc){docid, d->len, d->kind, d->patient_id};
  return 0;
}

/* The documents of conversation conv, or (conv 0) the name of person
 * `patient`, ascending by docid. */
static int collect_docs(cs_writer *w, uint64_t conv, uint64_t patient, heal_docs *out) {
  collect_ctx x = {conv, patient, out};
  return each_doc(w, collect_one, &x);
}

static int cmp_docid(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = ((const heal_doc *)b)->docid;
  return x < y ? -1 : x > y;
}

/* Appends (term, docid) for every posting of the docs in `docs`: records of
 * be32 term length, term, be32 docid. */
static int find_postings(cs_writer *w, const heal_docs *docs, cs_buf *pairs) {
  uint32_t lo = docs->d[0].docid, hi = docs->d[docs->n - 1].docid;
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, CS_T_POST, &cur);
  if (rc) return rc;
  cs_slice k, v;
  for (rc = cs_cursor_first(cur, &k, &v); rc == 0; rc = cs_cursor_next(cur, &k, &v)) {
    if (k.len < 6 || k.len - 5 > CS_TERM_MAX + 1) continue;
    size_t tl = k.len - 5;
    uint32_t first = cs_be32_get((const uint8_t *)k.data + tl + 1), last, nd, mt, ml;
    if (first > hi || cs_chunk_peek(v.data, v.len, first, &last, &nd, &mt, &ml) || last < lo)
      continue; /* damaged chunks are reported by the decode below when they matter */
    cs_chunk c;
    if (cs_corrupt_rc(cs_chunk_decode(v.data, v.len, first, &c), CS_T_POST, k)) continue;
    for (uint32_t i = 0; i < c.n; i++) {
      if (!bsearch(&c.docid[i], docs->d, docs->n, sizeof *docs->d, cmp_docid)) continue;
      uint8_t hdr[4], id[4];
      cs_be32_put(hdr, (uint32_t)tl);
      cs_be32_put(id, c.docid[i]);
      cs_buf_bytes(pairs, hdr, 4);
      cs_buf_bytes(pairs, k.data, tl);
      cs_buf_bytes(pairs, id, 4);
    }
  }
  cs_cursor_close(cur);
  if (rc == CS_ENOTFOUND) rc = 0;
  return rc ? rc : pairs->err;
}

/* Removes the documents `docs` (of w->owner's statistics) from the
 * postings, the lexicons, CS_T_DOCS and the statistics. */
static int purge_docs(cs_writer *w, const heal_docs *docs) {
  if (!docs->n) return 0;
  int rc = cs__wr_flush(w); /* postings still pending are in LMDB from here */
  cs_buf pairs;
  cs_buf_init(&pairs);
  if (!rc) rc = find_postings(w, docs, &pairs);
  cs_cursor *cur = NULL;
  if (!rc) rc = cs_cursor_open(w->txn, CS_T_POST, &cur);
  for (size_t at = 0; !rc && at + 4 <= pairs.len;) {
    size_t tl = cs_be32_get(pairs.p + at);
    const char *term = (const char *)pairs.p + at + 4;
    uint32_t docid = cs_be32_get(pairs.p + at + 4 + tl);
    at += 4 + tl + 4;
    rc = cs__wr_unpost(w, cur, term, tl, docid);
  }
  if (cur) cs_cursor_close(cur);
  cs_buf_free(&pairs);
  for (size_t i = 0; !rc && i < docs->n; i++) {
    const heal_doc *d = &docs->d[i];
    uint8_t key[4];
    cs_be32_put(key, d->docid);
    rc = cs_del(w->txn, CS_T_DOCS, sl(key, 4));
    if (rc == CS_ENOTFOUND) rc = 0;
    if (rc || d->kind <= 0 || d->kind >= CS_DOC_KINDS) continue;
    if (w->stats.docs[d->kind]) w->stats.docs[d->kind]--;
    uint64_t *t = &w->stats.tokens[d->kind];
    *t = *t >= d->len ? *t - d->len : 0;
    rc = cs__wr_own_doc(w, d->kind, -1, d->len, d->docid);
  }
  return rc;
}

/* The keys of `tbl` (be64 a, be64 b) whose b is `id`, collected: a full
 * scan (CS_T_PCONV: person, conversation; CS_T_OWNER: owner, person). */
static int keys_ending(cs_writer *w, cs_table tbl, uint64_t id, cs_buf *keys) {
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, tbl, &cur);
  if (rc) return rc;
  cs_slice k, v;
  for (rc = cs_cursor_first(cur, &k, &v); rc == 0; rc = cs_cursor_next(cur, &k, &v))
    if (k.len == 16 && cs_be64_get((const uint8_t *)k.data + 8) == id)
      cs_buf_bytes(keys, k.data, 16);
  cs_cursor_close(cur);
  if (rc == CS_ENOTFOUND) rc = 0;
  return rc ? rc : keys->err;
}

/* Deletes the record of be64 key id in tbl, if there. */
static int delete_record(cs_writer *w, cs_table tbl, uint64_t id) {
  uint8_t key[8];
  cs_key_u64(key, id);
  int rc = cs_del(w->txn, tbl, sl(key, 8));
  return rc == CS_ENOTFOUND ? 0 : rc;
}

static int delete_keys(cs_writer *w, cs_table tbl, const cs_buf *keys) {
  for (size_t i = 0; i + 16 <= keys->len; i += 16) {
    int rc = cs_del(w->txn, tbl, sl(keys->p + i, 16));
    if (rc && rc != CS_ENOTFOUND) return rc;
  }
  return 0;
}

int cs__wr_heal_owner(cs_writer *w, uint64_t patient, uint64_t conv_owner, uint64_t *owner) {
  int rc = cs__wr_stats_owner(w, patient, conv_owner, owner);
  if (rc != CS_ECORRUPT) return rc;
  /* The person's record is damaged: their owner from CS_T_OWNER. */
  cs_buf keys;
  cs_buf_init(&keys);
  rc = keys_ending(w, CS_T_OWNER, patient, &keys);
  *owner = !rc && keys.len >= 16 ? cs_be64_get(keys.p) : conv_owner;
  cs_buf_free(&keys);
  return rc;
}

int cs__wr_heal_conv(cs_writer *w, uint64_t id, uint64_t owner_hint, const char *what) {
  cs_log(CS_LOG_WARN, "conversation %" PRIu64 ": damaged in the index; %s", id, what);
  heal_docs docs = {0};
  cs_buf pconv;
  cs_buf_init(&pconv);
  int rc = collect_docs(w, id, 0, &docs);
  if (!rc) rc = keys_ending(w, CS_T_PCONV, id, &pconv);
  uint64_t patient = docs.n ? docs.d[0].patient : pconv.len >= 16 ? cs_be64_get(pconv.p) : 0;
  uint64_t owner = owner_hint;
  if (!rc && patient) rc = cs__wr_heal_owner(w, patient, owner_hint, &owner);
  if (!rc) rc = cs__wr_set_owner(w, owner);
  if (!rc) rc = purge_docs(w, &docs);
  if (!rc) rc = cs__wr_delete_prefix(w, CS_T_PASSAGE, id, NULL);
  if (!rc) rc = cs__wr_delete_prefix(w, CS_T_TURN, id, NULL);
  if (!rc) rc = delete_keys(w, CS_T_PCONV, &pconv);
  if (!rc) rc = delete_record(w, CS_T_CONV, id);
  free(docs.d);
  cs_buf_free(&pconv);
  return rc;
}

int cs__wr_heal_patient(cs_writer *w, uint64_t id, const char *what, uint64_t *owner, int *known) {
  cs_log(CS_LOG_WARN, "person %" PRIu64 ": damaged in the index; %s", id, what);
  heal_docs docs = {0};
  cs_buf keys;
  cs_buf_init(&keys);
  int rc = keys_ending(w, CS_T_OWNER, id, &keys);
  uint64_t was = keys.len >= 16 ? cs_be64_get(keys.p) : 0;
  if (owner) *owner = was;
  if (known) *known = keys.len >= 16;
  if (!rc) rc = cs__wr_set_owner(w, was);
  if (!rc) rc = collect_docs(w, 0, id, &docs);
  if (!rc) rc = purge_docs(w, &docs);
  if (!rc) rc = delete_keys(w, CS_T_OWNER, &keys);
  if (!rc) rc = delete_record(w, CS_T_PATIENT, id);
  free(docs.d);
  cs_buf_free(&keys);
  return rc;
}

int cs__wr_heal_lex(cs_writer *w, const char *term, size_t len, cs_lex *x) {
  x->df = x->cf = 0;
  uint8_t key[CS_TERM_MAX + 8];
  size_t klen = cs_key_post(key, term, len, 0);
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, CS_T_POST, &cur);
  if (rc) return rc;
  cs_slice k, v;
  for (rc = cs_cursor_seek(cur, sl(key, klen), &k, &v);
       rc == 0 && k.len == klen && memcmp(k.data, key, len + 1) == 0;
       rc = cs_cursor_next(cur, &k, &v)) {
    cs_chunk c;
    if (cs_corrupt_rc(
            cs_chunk_decode(v.data, v.len, cs_be32_get((const uint8_t *)k.data + len + 1), &c),
            CS_T_POST, k))
      continue;
    x->df += c.n;
    for (uint32_t i = 0; i < c.n; i++)
      x->cf += c.tf[i];
  }
  cs_cursor_close(cur);
  return rc == CS_ENOTFOUND ? 0 : rc;
}

static int count_one(void *ctx, uint32_t docid, const cs_doc *d) {
  cs_stats *st = ctx;
  if (docid >= st->next_docid) st->next_docid = docid + 1;
  if (d && d->kind > 0 && d->kind < CS_DOC_KINDS) {
    st->docs[d->kind]++;
    st->tokens[d->kind] += d->len;
  }
  return 0;
}

/* Docids a healed next docid leaves unused past every mark it can read:
 * room for the documents at the end of the range whose marks were all
 * lost (META "docids" damaged too, and their owner's record gone with
 * their deletion, or damaged). */
#define HEAL_DOCID_GAP (1u << 16)

int cs__wr_heal_stats(cs_writer *w) {
  /* Counted again by each batch until one commits: said once (one writer
   * per process). */
  static int said;
  if (!said) cs_log(CS_LOG_WARN, "index statistics: damaged; counted again from the documents");
  said = 1;
  memset(&w->stats, 0, sizeof w->stats);
  w->stats.next_docid = 1;
  int rc = each_doc(w, count_one, &w->stats);
  if (rc) return rc;
  /* A docid is never handed out twice (readers rely on it: convs.h): the
   * documents counted end before the deleted ones that were last, so the
   * next docid also goes past the copy of it kept beside the statistics
   * (writer.c, put_stats), past every owner's mark (1 + the largest docid
   * ever counted in for the owner; a damaged record is skipped here), and a
   * gap past those. */
  uint64_t next = w->stats.next_docid;
  cs_slice v;
  rc = cs_get(w->txn, CS_T_META, sl("docids", 6), &v);
  if (rc == 0 && v.len == 4 && cs_be32_get(v.data) > next) next = cs_be32_get(v.data);
  if (rc == 0 && v.len != 4) cs_corrupt(CS_T_META, sl("docids", 6)); /* (rewritten at commit) */
  if (rc && rc != CS_ENOTFOUND) return rc;
  cs_cursor *cur;
  rc = cs_cursor_open(w->txn, CS_T_OSTATS, &cur);
  if (rc) return rc;
  cs_slice k;
  for (rc = cs_cursor_first(cur, &k, &v); rc == 0; rc = cs_cursor_next(cur, &k, &v)) {
    cs_stats st;
    if (k.len == 8 && cs_ostats_decode(v.data, v.len, &st) == 0 && st.next_docid > next)
      next = st.next_docid;
  }
  cs_cursor_close(cur);
  if (rc != CS_ENOTFOUND) return rc;
  if (next + HEAL_DOCID_GAP < UINT32_MAX)
    next += HEAL_DOCID_GAP;
  else
    cs_log(CS_LOG_WARN,
           "index statistics: no room for a gap past docid %" PRIu64
           " (reindex to number the documents again)",
           next);
  w->stats.next_docid = (uint32_t)next;
  return 0;
}

/* The owner document d counts for, the writer's way (its person's owner,
 * or its conversation's while the person is not indexed); UINT64_MAX when
 * neither tells. */
static int doc_owner(cs_writer *w, const cs_doc *d, uint64_t *owner) {
  uint64_t conv_owner = UINT64_MAX;
  if (d->conversation_id) {
    uint8_t key[8];
    cs_key_u64(key, d->conversation_id);
    cs_slice v;
    cs_conv c;
    int rc = cs_get(w->txn, CS_T_CONV, sl(key, 8), &v);
    if (!rc && !cs_corrupt_rc(cs_conv_decode(v.data, v.len, &c), CS_T_CONV, sl(key, 8)))
      conv_owner = c.owner_id;
    else if (rc && rc != CS_ENOTFOUND)
      return rc;
  }
  return cs__wr_heal_owner(w, d->patient_id, conv_owner, owner);
}

typedef struct owned_ctx {
  cs_writer *w;
  uint64_t owner;
  heal_docs *out;
} owned_ctx;

static int owned_one(void *ctx, uint32_t docid, const cs_doc *d) {
  owned_ctx *x = ctx;
  uint64_t owner;
  if (!d) return 0;
  int rc = doc_owner(x->w, d, &owner);
  if (rc || owner != x->owner) return rc;
  heal_docs *o = x->out;
  if (cs_grow((void **)&o->d, &o->cap, o->n + 1, sizeof *o->d)) return CS_ENOMEM;
  o->d[o->n++] = (heal_doc){docid, d->len, d->kind, d->patient_id};
  return 0;
}

int cs__wr_heal_owner_docids(cs_writer *w, uint64_t owner, uint32_t **docids, size_t *n) {
  heal_docs docs = {0};
  owned_ctx x = {w, owner, &docs};
  int rc = each_doc(w, owned_one, &x);
  *docids = NULL;
  *n = 0;
  if (!rc && docs.n) {
    *docids = malloc(docs.n * sizeof **docids);
    if (!*docids) rc = CS_ENOMEM;
    for (size_t i = 0; !rc && i < docs.n; i++)
      (*docids)[i] = docs.d[i].docid;
    if (!rc) *n = docs.n;
  }
  free(docs.d);
  return rc;
}

int cs__wr_heal_ostats(cs_writer *w, uint64_t owner, cs_stats *st) {
  cs_log(CS_LOG_WARN,
         "statistics of owner %" PRIu64 ": damaged in the index; counted again from the documents",
         owner);
  heal_docs docs = {0};
  owned_ctx x = {w, owner, &docs};
  int rc = each_doc(w, owned_one, &x);
  memset(st, 0, sizeof *st);
  for (size_t i = 0; !rc && i < docs.n; i++) {
    const heal_doc *d = &docs.d[i];
    if (d->docid >= st->next_docid) st->next_docid = d->docid + 1;
    if (d->kind <= 0 || d->kind >= CS_DOC_KINDS) continue;
    st->docs[d->kind]++;
    st->tokens[d->kind] += d->len;
  }
  free(docs.d);
  return rc;
}

int cs__wr_heal_outbox_seq(cs_writer *w) {
  /* The mirror's external versions only have to grow: above the last
   * operation still queued and above any counter this index can have
   * reached (one per change), the wall clock in milliseconds. */
  uint64_t seq = (uint64_t)cs_clock_ms(CLOCK_REALTIME);
  cs_cursor *cur;
  int rc = cs_cursor_open(w->txn, CS_T_OUTBOX, &cur);
  if (rc) return rc;
  cs_slice k, v;
  rc = cs_cursor_last(cur, &k, &v);
  if (rc == 0 && k.len == 8 && cs_be64_get(k.data) > seq) seq = cs_be64_get(k.data);
  cs_cursor_close(cur);
  if (rc && rc != CS_ENOTFOUND) return rc;
  cs_log(CS_LOG_WARN, "mirror operation counter: damaged; continued from %" PRIu64, seq);
  w->outbox_seq = seq;
  w->outbox_dirty = 1;
  return 0;
}
