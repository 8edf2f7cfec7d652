/*
 * `convsearch-indexer verify`: proves the index equals the stores.
 *
 * From one REPEATABLE READ snapshot of the stores and one read view of the
 * index it checks, naming every difference:
 *   - every conversation and person of the stores is in the index with the
 *     same checksum (fields and turns), unless the person was erased;
 *   - nothing is in the index that the stores do not have;
 *   - every applicable event is applied, exactly once;
 *   - nothing of an erased person is left;
 *   - every value of the index decodes (records, compressed texts,
 *     postings chunks with their positions); each damaged one is named;
 *   - every passage's offsets fit the texts of its turns;
 *   - internal consistency: each term's postings match its lexicon entry,
 *     every posted docid is a live document, every conversation has its
 *     turns, statistics match the documents.
 * The index may lag the stores; run it after `run --once` for an exact
 * answer.
 */
#include "verify.h"
#include "grow.h"
#include "verify_owner.h"

#include "analyzer.h"
#include "apply.h"
#include "badrows.h"
#include "corrupt.h"
#include "errors.h"
#include "log.h"
#include "mirror.h"
#include "os_client.h"
#include "passblock.h"
#include "pg.h"
#include "postings.h"
#include "reader.h"
#include "varint.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 256
#define MAX_REPORTED 1000

typedef struct verify {
  PGconn *pg;
  cs_reader *r;
  uint64_t diffs;
  uint64_t *store_ids;
  size_t nstore, capstore;
  json_t *bad; /* the indexer's bad rows (META "bad_rows"), or NULL */
} verify;

/* The error the indexer noted for (kind, id) as a bad row, or NULL. */
static const char *bad_row(const verify *v, char kind, uint64_t id) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(v->bad, "rows"), i, r) {
    const char *k = json_string_value(json_object_get(r, "kind"));
    if (k && !strcmp(k, cs_badrows_kind_name(kind)) &&
        (uint64_t)json_integer_value(json_object_get(r, "id")) == id)
      return json_string_value(json_object_get(r, "error"));
  }
  return NULL;
}

/* Names the bad rows the indexer noted (not differences: the index holds
 * what the stores could give). */
static void report_bad_rows(const verify *v) {
  json_t *rows = json_object_get(v->bad, "rows"), *r;
  size_t i;
  json_array_foreach(rows, i, r) {
    printf("bad input: %s %" JSON_INTEGER_FORMAT ": %s (%s)\n",
           json_string_value(json_object_get(r, "kind")),
           json_integer_value(json_object_get(r, "id")),
           json_string_value(json_object_get(r, "error")),
           json_string_value(json_object_get(r, "handling")));
  }
  json_int_t n = json_integer_value(json_object_get(v->bad, "count"));
  if (n)
    cs_log(CS_LOG_WARN, "verify: %" JSON_INTEGER_FORMAT " bad source row%s noted by the indexer", n,
           n == 1 ? "" : "s");
}

static void diff(verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff(verify *v, const char *fmt, ...) {
  if (v->diffs++ >= MAX_REPORTED) return;
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

/* A page whose query failed on the data (why): each id again alone; one
 * that fails alone is a bad row, named, and a difference only when the
 * indexer did not note it. */
static int bad_page(verify *v, char kind, int (*check)(verify *, const uint64_t *, int),
                    const uint64_t *idv, int n, const char *why) {
  if (!why[0]) return 2;
  if (n > 1) {
    for (int i = 0; i < n; i++) {
      int rc = check(v, idv + i, 1);
      if (rc) return rc;
    }
    return 0;
  }
  if (!bad_row(v, kind, idv[0]))
    diff(v, "%s %" PRIu64 ": the store cannot give it (%s) and the indexer did not note it",
         cs_badrows_kind_name(kind), idv[0], why);
  return 0;
}

static int push_id(verify *v, uint64_t id) {
  if (cs_grow_from((void **)&v->store_ids, &v->capstore, v->nstore + 1, sizeof *v->store_ids, 1024))
    return CS_ENOMEM;
  v->store_ids[v->nstore++] = id;
  return 0;
}

static int in_store(const verify *v, uint64_t id) {
  size_t lo = 0, hi = v->nstore;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v->store_ids[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < v->nstore && v->store_ids[lo] == id;
}

/* Pages through the ids of a source view in id order. */
static PGresult *next_ids(verify *v, const char *view, uint64_t after) {
  char sql[256], a[24];
  snprintf(sql, sizeof sql, "SELECT id FROM convsearch.%s WHERE id > $1 ORDER BY id LIMIT %d", view,
           PAGE);
  snprintf(a, sizeof a, "%" PRIu64, after);
  const char *params[1] = {a};
  return cs_pg_exec(v->pg, "verify: listing ids", sql, 1, params);
}

typedef struct extra_ctx {
  verify *v;
  const char *what;
} extra_ctx;

static int report_extra(void *ctx, cs_slice k, cs_slice val) {
  extra_ctx *x = ctx;
  if (k.len != 8) return 0;
  uint64_t id = cs_be64_get(k.data);
  if (!in_store(x->v, id))
    diff(x->v, "%s %" PRIu64 ": in the index but not in the store", x->what, id);
  return 0;
}

/* Calls check(v, ids, n) for every page of the ids of a source view, in
 * id order, remembering them all in v->store_ids for report_extra. */
static int page_ids(verify *v, const char *view, int (*check)(verify *, const uint64_t *, int)) {
  uint64_t after = 0;
  v->nstore = 0;
  for (;;) {
    PGresult *ids = next_ids(v, view, after);
    if (!ids) return 2;
    int n = PQntuples(ids);
    uint64_t idv[PAGE];
    for (int i = 0; i < n; i++) {
      cs_pg_u64(ids, i, 0, 0, &idv[i]);
      if (push_id(v, idv[i])) {
        PQclear(ids);
        return 2;
      }
    }
    PQclear(ids);
    if (n == 0) return 0;
    after = idv[n - 1];
    int rc = check(v, idv, n);
    if (rc) return rc;
  }
}

static int check_conversation_page(verify *v, const uint64_t *idv, int n) {
  char arr[PAGE * 22 + 4];
  cs_pg_id_array(arr, sizeof arr, idv, (size_t)n);
  const char *params[1] = {arr};
  char why[256];
  PGresult *convs = cs_pg_exec_rows(v->pg, "verify: conversations", cs_sql_conversations, 1, params,
                                    why, sizeof why);
  PGresult *segs = convs ? cs_pg_exec_rows(v->pg, "verify: segments", cs_sql_segments, 1, params,
                                           why, sizeof why)
                         : NULL;
  if (!segs) {
    PQclear(convs);
    return bad_page(v, 'c', check_conversation_page, idv, n, why);
  }
  int nsegs = PQntuples(segs), seg = 0;
  cs_turn_in *turns = malloc(((size_t)nsegs + 1) * sizeof *turns);
  for (int row = 0; turns && row < PQntuples(convs); row++) {
    uint64_t id = 0, sid = 0;
    cs_pg_u64(convs, row, 0, 0, &id);
    while (seg < nsegs && cs_pg_u64(segs, seg, 0, 0, &sid) == 0 && sid < id)
      seg++;
    int to = seg;
    while (to < nsegs && cs_pg_u64(segs, to, 0, 0, &sid) == 0 && sid == id)
      to++;
    cs_conv_in in;
    int bad = cs_apply_conv_from_rows(convs, row, segs, seg, to, turns, &in);
    seg = to;
    if (bad) continue; /* skipped by the indexer too */
    cs_conv c;
    int rc = cs_reader_conv(v->r, id, &c);
    if (cs_reader_is_erased(v->r, in.patient_id)) {
      if (rc == 0)
        diff(v, "conversation %" PRIu64 ": in the index though its person was erased", id);
    } else if (rc == CS_ENOTFOUND) {
      if (!bad_row(v, 'c', id)) diff(v, "conversation %" PRIu64 ": missing from the index", id);
    } else if (rc == CS_ECORRUPT) {
      /* named by check_records */
    } else if (rc) {
      diff(v, "conversation %" PRIu64 ": unreadable in the index (%s)", id, cs_strerror(rc));
    } else if (c.checksum != cs_conv_in_checksum(&in)) {
      diff(v, "conversation %" PRIu64 ": differs from the store (stale)", id);
    } else {
      int bad_seq; /* a turn left out: a bad row (named) */
      uint32_t expect = cs_conv_in_nturns(&in, &bad_seq);
      if (c.nturns != expect)
        diff(v, "conversation %" PRIu64 ": %u turns indexed, store has %u", id, c.nturns, expect);
    }
  }
  int status = turns ? 0 : 2;
  free(turns);
  PQclear(convs);
  PQclear(segs);
  return status;
}

static int check_patient_page(verify *v, const uint64_t *idv, int n) {
  char arr[PAGE * 22 + 4];
  cs_pg_id_array(arr, sizeof arr, idv, (size_t)n);
  const char *params[1] = {arr};
  char why[256];
  PGresult *r =
      cs_pg_exec_rows(v->pg, "verify: people", cs_sql_patients, 1, params, why, sizeof why);
  if (!r) return bad_page(v, 'p', check_patient_page, idv, n, why);
  for (int row = 0; row < PQntuples(r); row++) {
    cs_patient_in in;
    if (cs_apply_patient_from_row(r, row, &in)) continue;
    cs_patient p;
    int rc = cs_reader_patient(v->r, in.id, &p);
    if (cs_reader_is_erased(v->r, in.id)) {
      if (rc == 0) diff(v, "person %" PRIu64 ": in the index though erased", in.id);
    } else if (rc == CS_ENOTFOUND) {
      if (!bad_row(v, 'p', in.id)) diff(v, "person %" PRIu64 ": missing from the index", in.id);
    } else if (rc == CS_ECORRUPT) {
      /* named by check_records */
    } else if (rc) {
      diff(v, "person %" PRIu64 ": unreadable in the index (%s)", in.id, cs_strerror(rc));
    } else if (p.checksum != cs_patient_in_checksum(&in)) {
      diff(v, "person %" PRIu64 ": differs from the store (stale)", in.id);
    }
  }
  PQclear(r);
  return 0;
}

/* Every store row checked page by page, then every index entry the store
 * does not have reported as extra. */
static int check_set(verify *v, const char *view, cs_table table, const char *what,
                     int (*check)(verify *, const uint64_t *, int)) {
  int rc = page_ids(v, view, check);
  if (rc) return rc;
  extra_ctx x = {v, what};
  return cs_reader_scan(v->r, table, NULL, 0, report_extra, &x) ? 2 : 0;
}

static int count_cb(void *ctx, cs_slice k, cs_slice val) {
  (*(uint64_t *)ctx)++;
  return 0;
}

static int check_events(verify *v) {
  PGresult *r = cs_pg_exec(
      v->pg, "verify: events",
      "SELECT position, (payload->>'patient_id')::bigint FROM convsearch.src_events "
      "WHERE type IN ('patient.registered','patient.renamed','conversation.recorded',"
      "'conversation.played','question.asked','sheet.updated') AND jsonb_typeof(payload) = "
      "'object' "
      "AND payload->>'patient_id' ~ '^[0-9]{1,18}$' AND (payload->>'patient_id')::bigint > 0 "
      "AND (actor_id IS NULL OR actor_id >= 0) ORDER BY position",
      0, NULL);
  if (!r) return 2;
  uint64_t expected = 0, missing = 0;
  for (int i = 0; i < PQntuples(r); i++) {
    uint64_t pos = 0, patient = 0;
    cs_pg_u64(r, i, 0, 0, &pos);
    cs_pg_u64(r, i, 1, 0, &patient);
    if (cs_reader_is_erased(v->r, patient)) continue;
    expected++;
    uint8_t key[16];
    cs_key_u64u64(key, patient, pos);
    uint64_t found = 0;
    if (cs_reader_scan(v->r, CS_T_EVENT, key, 16, count_cb, &found)) return 2;
    if (!found) {
      missing++;
      if (!bad_row(v, 'e', pos))
        diff(v, "event at position %" PRIu64 ": not applied to the index", pos);
    }
  }
  PQclear(r);
  uint64_t have = 0;
  if (cs_reader_count(v->r, CS_T_EVENT, &have)) return 2;
  /* Missing ones are named above; what is left over has no source. */
  if (have > expected - missing)
    diff(v, "events: %" PRIu64 " in the index that the store does not have",
         have - (expected - missing));
  return 0;
}

static int check_erased_one(void *ctx, cs_slice k, cs_slice val) {
  verify *v = ctx;
  if (k.len != 8) return 0;
  uint64_t id = cs_be64_get(k.data);
  static const struct {
    cs_table t;
    const char *what;
  } tables[] = {
      {CS_T_PCONV, "conversations"}, {CS_T_EVENT, "events"}, {CS_T_INTER, "interactions"}};
  for (size_t i = 0; i < 3; i++) {
    uint64_t n = 0;
    cs_reader_scan(v->r, tables[i].t, k.data, 8, count_cb, &n);
    if (n)
      diff(v, "erased person %" PRIu64 ": %" PRIu64 " %s left in the index", id, n, tables[i].what);
  }
  cs_patient p;
  if (cs_reader_patient(v->r, id, &p) == 0)
    diff(v, "erased person %" PRIu64 ": record left in the index", id);
  return 0;
}

/* Every value of every table decodes completely; each damaged one is
 * named ("damaged record: turn 7/3 ..."), with the kinds of record. */
typedef struct records_ctx {
  verify *v;
  cs_table t;
  cs_buf scratch; /* decompressed turn text */
} records_ctx;

static int check_record(void *ctx, cs_slice k, cs_slice val) {
  records_ctx *x = ctx;
  int rc = cs_corrupt_probe(x->t, k, val, &x->scratch);
  if (rc == CS_ECORRUPT) {
    char name[160];
    diff(x->v, "damaged record: %s cannot be decoded", cs_corrupt_name(x->t, k, name, sizeof name));
    return 0;
  }
  return rc;
}

static int check_records(verify *v) {
  records_ctx x = {v, CS_T_META, {0}};
  cs_buf_init(&x.scratch);
  int status = 0;
  for (int t = 0; t < CS_T__COUNT && !status; t++) {
    x.t = (cs_table)t;
    status = cs_reader_scan_stored(v->r, x.t, check_record, &x) ? 2 : 0;
  }
  cs_buf_free(&x.scratch);
  return status;
}

/* Every passage fits the texts of its turns: its offsets lie inside them
 * and between two characters. A block that decodes can still hold offsets
 * that do not (a bad disk, a bug): Q&A leaves such a passage out as
 * damage; verify names its block once. Blocks that do not decode are
 * check_records'. */
static int check_passage_block(void *ctx, cs_slice k, cs_slice val) {
  verify *v = ctx;
  cs_pblock_it it;
  cs_passage p;
  /* (A key that is not a block's, or a value that does not decode, is
   * check_records'.) */
  if (k.len != 12 || cs_be32_get((const uint8_t *)k.data + 8) % CS_PBLOCK_PASSAGES ||
      cs_pblock_begin(&it, val.data, val.len))
    return 0;
  uint64_t conv = cs_be64_get(k.data);
  uint32_t first = cs_be32_get((const uint8_t *)k.data + 8);
  for (uint32_t i = 0; cs_pblock_next(&it, &p) == 0; i++) {
    int rc = cs_reader_passage_slices(v->r, conv, first + i, &p, NULL, NULL);
    if (rc == CS_ECORRUPT) {
      char name[160];
      diff(v, "damaged record: %s: a passage's offsets do not fit its turns' texts",
           cs_corrupt_name(CS_T_PASSAGE, k, name, sizeof name));
      return 0;
    }
    if (rc) return rc;
  }
  return 0;
}

/* Internal consistency of postings, lexicon, documents and statistics. */

/* The documents of a term's conversation across its chunks (check_span). */
typedef struct span {
  uint32_t conv;    /* its key (records.h: the id's halves xored) */
  int on, unknown;  /* a conversation is open; one of its documents is not live */
  uint32_t nchunks; /* chunks holding its documents */
  uint32_t first;   /* its first docid of the term, for the message */
  uint8_t *kind;
  uint32_t *tf, *len, n, cap;
  cs_cbound *cb; /* the bounds of those chunks that have one */
  uint32_t ncb, cbcap;
  int nomem;
} span;

typedef struct post_ctx {
  verify *v;
  char term[CS_TERM_MAX + 2];
  size_t len;
  uint64_t df, cf;
  uint64_t docs_by_kind[CS_DOC_KINDS];
  int bad;
  span sp;
} post_ctx;

static void finish_term(post_ctx *x) {
  if (!x->len) return;
  cs_lex lex;
  int rc = cs_reader_lex(x->v->r, x->term, x->len, &lex);
  if (rc) {
    diff(x->v, "term '%.*s': postings without a lexicon entry", (int)x->len, x->term);
  } else if (lex.df != x->df || lex.cf != x->cf) {
    diff(x->v,
         "term '%.*s': lexicon says df %" PRIu64 " cf %" PRIu64 ", postings hold %" PRIu64
         " and %" PRIu64,
         (int)x->len, x->term, lex.df, lex.cf, x->df, x->cf);
  }
}

/* A chunk's conversation bound must hold: its conversations' best sums,
 * at the averages it records, are at most its own (cbound.h). A search
 * would otherwise pass conversations that belonged on its page. */
static void check_cbound(verify *v, const uint8_t *kp, size_t tl, const cs_chunk *c,
                         const uint8_t *kind, const uint32_t *conv) {
  uint32_t avg[CS_CB_KINDS];
  for (int k = 0; k < CS_CB_KINDS; k++)
    avg[k] = c->cb.avg[k];
  for (uint32_t i = 0; i < c->n; i++) {
    if (kind[i] < 1 || kind[i] >= CS_CB_KINDS || !avg[kind[i]]) {
      diff(v, "term '%.*s': the conversation bound of the chunk from docid %u omits docid %u",
           (int)tl, (const char *)kp, c->first, c->docid[i]);
      return;
    }
  }
  cs_cbound b;
  if (cs_cbound_build(kind, conv, c->tf, c->len, c->n, avg, &b)) return;
  if (b.c > c->cb.c)
    diff(v,
         "term '%.*s': the chunk from docid %u bounds its conversations' scores by %.4f, one "
         "reaches %.4f",
         (int)tl, (const char *)kp, c->first, c->cb.c / CS_CB_UNIT, b.c / CS_CB_UNIT);
}

/* Since format 12 a chunk's conversation bound holds each of its
 * conversations whole, all its documents of the term in every chunk
 * (cbound.h): a conversation across chunks is checked against each of
 * their bounds once its last document is read (check_cbound sees the
 * others, wholly inside one chunk). */
static void check_span(post_ctx *x) {
  span *p = &x->sp;
  if (p->on && !p->unknown && !p->nomem && p->nchunks > 1) {
    uint32_t *conv = malloc((p->n ? p->n : 1) * sizeof *conv);
    for (uint32_t i = 0; conv && i < p->n; i++)
      conv[i] = p->conv;
    /* The chunks of one flush record the same averages: the value is
     * computed again only where they differ. */
    cs_cbound b;
    int have = 0, bad = 0;
    for (uint32_t j = 0; conv && j < p->ncb; j++) {
      if (!have || memcmp(b.avg, p->cb[j].avg, sizeof b.avg) != 0) {
        bad = cs_cbound_build(p->kind, conv, p->tf, p->len, p->n, p->cb[j].avg, &b) != 0;
        have = !bad;
      }
      if (bad) {
        /* A kind of its documents without an average there: the bound does
         * not cover them (a search would not scale it for their kind). */
        diff(x->v,
             "term '%.*s': the conversation from docid %u has documents of a kind one of its "
             "%u chunks' bounds omits",
             (int)x->len, x->term, p->first, p->nchunks);
        break;
      }
      if (b.c > p->cb[j].c) {
        diff(x->v,
             "term '%.*s': the conversation from docid %u scores %.4f over its %u chunks, one of "
             "them bounds it by %.4f",
             (int)x->len, x->term, p->first, b.c / CS_CB_UNIT, p->nchunks, p->cb[j].c / CS_CB_UNIT);
        break;
      }
    }
    free(conv);
  }
  p->on = p->unknown = p->nomem = 0;
  p->n = p->ncb = p->nchunks = 0;
}

/* Document i of chunk c (of the open span) added to it. */
static void span_add(post_ctx *x, const cs_chunk *c, uint32_t i, int kind) {
  span *p = &x->sp;
  if (p->n == p->cap) {
    uint32_t cap = p->cap ? 2 * p->cap : 256;
    uint8_t *k = realloc(p->kind, cap);
    if (k) p->kind = k;
    uint32_t *t = k ? realloc(p->tf, cap * sizeof *t) : NULL;
    if (t) p->tf = t;
    uint32_t *l = t ? realloc(p->len, cap * sizeof *l) : NULL;
    if (!l) {
      p->nomem = 1;
      return;
    }
    p->len = l;
    p->cap = cap;
  }
  p->kind[p->n] = (uint8_t)kind;
  p->tf[p->n] = c->tf[i];
  p->len[p->n++] = c->len[i];
}

/* Chunk c begins for the open span (its first document is the span's, or
 * the span starts in it). */
static void span_chunk(post_ctx *x, const cs_chunk *c) {
  span *p = &x->sp;
  p->nchunks++;
  if (!c->has_cb) return;
  if (p->ncb == p->cbcap) {
    uint32_t cap = p->cbcap ? 2 * p->cbcap : 8;
    cs_cbound *b = realloc(p->cb, cap * sizeof *b);
    if (!b) {
      p->nomem = 1;
      return;
    }
    p->cb = b;
    p->cbcap = cap;
  }
  p->cb[p->ncb++] = c->cb;
}

static int check_chunk(void *ctx, cs_slice k, cs_slice val) {
  post_ctx *x = ctx;
  const uint8_t *kp = k.data;
  if (k.len < 6 || k.len - 5 > CS_TERM_MAX + 1 || kp[k.len - 5] != 0) {
    diff(x->v, "postings: malformed key");
    return 0;
  }
  size_t tl = k.len - 5;
  if (tl != x->len || memcmp(kp, x->term, tl) != 0) {
    check_span(x);
    finish_term(x);
    memcpy(x->term, kp, tl);
    x->len = tl;
    x->df = x->cf = 0;
  }
  cs_chunk c;
  if (cs_chunk_decode(val.data, val.len, cs_be32_get(kp + tl + 1), &c))
    return 0; /* named by check_records */
  uint8_t kind[CS_CHUNK_DOCS];
  uint32_t conv[CS_CHUNK_DOCS];
  int known = 1;
  for (uint32_t i = 0; i < c.n; i++) {
    cs_doc d;
    int live = 0;
    if (cs_reader_doc(x->v->r, c.docid[i], &d) != 0) {
      diff(x->v, "term '%.*s': posts docid %u which is not a live document", (int)tl,
           (const char *)kp, c.docid[i]);
      known = 0;
    } else if (d.len != c.len[i]) {
      diff(x->v, "term '%.*s': docid %u length %u, document says %u", (int)tl, (const char *)kp,
           c.docid[i], c.len[i], d.len);
      known = 0;
    } else {
      kind[i] = d.kind;
      conv[i] = (uint32_t)(d.conversation_id ^ (d.conversation_id >> 32));
      live = 1;
    }
    x->df++;
    x->cf += c.tf[i];
    if (!live) { /* its conversation unknown: the open one is not checked */
      x->sp.unknown = 1;
      continue;
    }
    if (!x->sp.on || x->sp.conv != conv[i]) {
      check_span(x);
      x->sp.on = 1;
      x->sp.conv = conv[i];
      x->sp.first = c.docid[i];
      span_chunk(x, &c);
    } else if (i == 0) {
      span_chunk(x, &c); /* the conversation goes on in this chunk */
    }
    span_add(x, &c, i, kind[i]);
  }
  if (c.has_cb && known) check_cbound(x->v, kp, tl, &c, kind, conv);
  return 0;
}

static int count_doc(void *ctx, cs_slice k, cs_slice val) {
  post_ctx *x = ctx;
  cs_doc d;
  if (cs_doc_decode(val.data, val.len, &d) == 0) x->docs_by_kind[d.kind]++;
  return 0; /* a damaged one is named by check_records */
}

static void report_diff(void *ctx, const char *msg) {
  diff(ctx, "%s", msg);
}

static int check_internal(verify *v) {
  post_ctx x;
  memset(&x, 0, sizeof x);
  x.v = v;
  int rc = cs_reader_scan(v->r, CS_T_POST, NULL, 0, check_chunk, &x);
  if (!rc) check_span(&x);
  free(x.sp.kind);
  free(x.sp.tf);
  free(x.sp.len);
  free(x.sp.cb);
  if (rc) return 2;
  finish_term(&x);
  if (cs_reader_scan(v->r, CS_T_DOCS, NULL, 0, count_doc, &x)) return 2;
  cs_stats st;
  if (cs_reader_stats(v->r, &st)) return 2;
  for (int k = 1; k < CS_DOC_KINDS; k++) {
    if (st.docs[k] != x.docs_by_kind[k])
      diff(v, "statistics: %" PRIu64 " documents of kind %d counted, %" PRIu64 " present",
           st.docs[k], k, x.docs_by_kind[k]);
  }
  return cs_verify_owner_stats(v->r, report_diff, v) ? 2 : 0;
}

/* ---------------------------------------------------------------- mirror */

/* Every conversation and person of the index must be in OpenSearch (behind
 * the alias) with the same checksum, and nothing else may be there. Pages
 * through the alias sorted by _id with search_after. */
typedef struct mirror_check {
  verify *v;
  json_t *docs; /* _id -> checksum, from OpenSearch */
  const char *prefix;
  int patients;
} mirror_check;

static int check_mirror_doc(void *ctx, cs_slice k, cs_slice val) {
  mirror_check *x = ctx;
  if (k.len != 8) return 0;
  uint64_t id = cs_be64_get(k.data), sum;
  if (x->patients) {
    cs_patient p;
    if (cs_patient_decode(val.data, val.len, &p)) return 0;
    sum = p.checksum;
  } else {
    cs_conv c;
    if (cs_conv_decode(val.data, val.len, &c)) return 0;
    sum = c.checksum;
  }
  char did[64], hex[24];
  snprintf(did, sizeof did, "%s-%" PRIu64, x->prefix, id);
  snprintf(hex, sizeof hex, "%016" PRIx64, sum);
  json_t *have = json_object_get(x->docs, did);
  if (!have) {
    diff(x->v, "mirror: %s missing from OpenSearch", did);
  } else if (!json_is_string(have) || strcmp(json_string_value(have), hex) != 0) {
    diff(x->v, "mirror: %s differs in OpenSearch (checksum)", did);
  }
  json_object_del(x->docs, did);
  return 0;
}

static int check_mirror(verify *v, const char *url) {
  uint64_t pending = 0;
  if (cs_reader_count(v->r, CS_T_OUTBOX, &pending)) return 2;
  if (pending) diff(v, "mirror: %" PRIu64 " operations still pending in the outbox", pending);
  cs_os *c;
  if (cs_os_open(url, &c)) return 2;
  json_t *docs = json_object();
  cs_buf resp;
  cs_buf_init(&resp);
  char *after = NULL;
  int status = 0;
  /* Searches see what was refreshed: make every acknowledged write visible
   * first (OpenSearch refreshes about once a second by itself). */
  long http = 0;
  if (cs_os_request(c, "POST", "/" CS_MIRROR_ALIAS "/_refresh", NULL, "", 0, 0, &http, &resp) ||
      http != 200)
    cs_log(CS_LOG_WARN, "verify: refreshing the mirror failed (HTTP %ld); reading it anyway", http);
  for (;;) {
    json_t *q = json_pack("{s:i, s:[{s:s}], s:[s, s], s:{s:{}}}", "size", 500, "sort", "_id", "asc",
                          "_source", "checksum", "kind", "query", "match_all");
    if (after) json_object_set_new(q, "search_after", json_pack("[s]", after));
    char *body = json_dumps(q, JSON_COMPACT);
    json_decref(q);
    int rc = cs_os_request(c, "POST", "/" CS_MIRROR_ALIAS "/_search", NULL, body, strlen(body), 0,
                           &http, &resp);
    free(body);
    json_t *j = !rc && http == 200 ? json_loads((char *)resp.p, 0, NULL) : NULL;
    json_t *hits = json_object_get(json_object_get(j, "hits"), "hits");
    if (!json_is_array(hits)) {
      cs_log(CS_LOG_ERROR, "verify: cannot read the mirror (HTTP %ld): %s", http,
             rc ? cs_os_error(c) : "unexpected answer");
      json_decref(j);
      status = 2;
      break;
    }
    size_t i;
    json_t *hit;
    json_array_foreach(hits, i, hit) {
      const char *id = json_string_value(json_object_get(hit, "_id"));
      json_t *sum = json_object_get(json_object_get(hit, "_source"), "checksum");
      if (id) json_object_set(docs, id, sum ? sum : json_null());
      if (id && i + 1 == json_array_size(hits)) {
        free(after);
        after = strdup(id);
      }
    }
    size_t n = json_array_size(hits);
    json_decref(j);
    if (n < 500) break;
  }
  free(after);
  cs_buf_free(&resp);
  cs_os_close(c);
  if (!status) {
    mirror_check x = {v, docs, "conversation", 0};
    status = cs_reader_scan(v->r, CS_T_CONV, NULL, 0, check_mirror_doc, &x) ? 2 : 0;
    x.prefix = "patient";
    x.patients = 1;
    if (!status) status = cs_reader_scan(v->r, CS_T_PATIENT, NULL, 0, check_mirror_doc, &x) ? 2 : 0;
    const char *key;
    json_t *val;
    json_object_foreach(docs, key, val) {
      diff(v, "mirror: %s in OpenSearch but not in the index", key);
    }
  }
  json_decref(docs);
  return status;
}

int cs_verify(const char *conninfo, const char *index_dir, const char *opensearch) {
  verify v;
  memset(&v, 0, sizeof v);
  cs_store *s;
  char err[512] = "";
  int rc = cs_store_open(index_dir, CS_STORE_RDONLY, &s, err, sizeof err);
  if (rc) {
    cs_log(CS_LOG_ERROR, "verify: %s", err[0] ? err : cs_strerror(rc));
    return 2;
  }
  rc = cs_reader_open(s, &v.r);
  if (rc) {
    cs_log(CS_LOG_ERROR, "verify: cannot read the index: %s", cs_strerror(rc));
    cs_store_close(s);
    return 2;
  }
  v.pg = cs_pg_connect(conninfo, 3, NULL);
  int status = v.pg ? 0 : 2;
  if (!status) {
    PGresult *r = cs_pg_exec(v.pg, "verify: snapshot",
                             "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
    status = r ? 0 : 2;
    PQclear(r);
  }
  cs_slice bad;
  if (cs_reader_meta(v.r, "bad_rows", &bad) == 0) v.bad = json_loadb(bad.data, bad.len, 0, NULL);
  if (!status) status = check_records(&v);
  if (!status) status = cs_reader_scan(v.r, CS_T_PASSAGE, NULL, 0, check_passage_block, &v) ? 2 : 0;
  if (!status)
    status = check_set(&v, "src_conversations", CS_T_CONV, "conversation", check_conversation_page);
  if (!status) status = check_set(&v, "src_patients", CS_T_PATIENT, "person", check_patient_page);
  if (!status) status = check_events(&v);
  if (!status) status = cs_reader_scan(v.r, CS_T_ERASED, NULL, 0, check_erased_one, &v) ? 2 : 0;
  if (!status) status = check_internal(&v);
  if (!status && opensearch) status = check_mirror(&v, opensearch);
  if (v.pg) PQfinish(v.pg);
  cs_reader_close(v.r);
  cs_store_close(s);
  free(v.store_ids);
  if (!status) report_bad_rows(&v);
  json_decref(v.bad);
  if (status) return status;
  if (v.diffs > MAX_REPORTED)
    printf("... and %" PRIu64 " more differences\n", v.diffs - MAX_REPORTED);
  cs_log(v.diffs ? CS_LOG_WARN : CS_LOG_INFO, "verify: %" PRIu64 " difference%s", v.diffs,
         v.diffs == 1 ? "" : "s");
  return v.diffs ? 1 : 0;
}
