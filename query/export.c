/*
 * Export (GET /v1/export): every matching turn the caller may see, as an
 * NDJSON stream (see engine.h for the line shape and the contract).
 *
 * Batches, not one long read view. An export of millions of lines is read
 * by a client at its own pace, maybe for minutes; an LMDB read transaction
 * held that long pins every page it can see, so the indexer's writes could
 * not reuse freed pages and the index file would grow for the whole time.
 * The stream is therefore cut into batches, each computed in a read view of
 * its own that ends before the bytes are handed out:
 *
 *   position  (next_id, after_seq): everything before conversation next_id,
 *             and its turns up to after_seq, has been formatted. Ids and
 *             seqs are stable across views (docids are not: a re-indexed
 *             conversation or a reindexed generation gets new ones).
 *   window    the next candidate conversations in id order from the
 *             position (at most WINDOW_CONVS of them holding at most about
 *             WINDOW_TURNS turns), matched in one walk over the postings
 *             (search.c, cs__match) in docid order; the matching ones are
 *             kept, sorted by id, with their matching turns' docids, their
 *             first docid and checksum.
 *   pending   lines formatted from the window, about BATCH_BYTES at a time,
 *             handed out to the caller's buffer by cs_engine_export_next.
 *
 * A window outlives the view it was computed in. Before its next
 * conversation is formatted in a later view, the conversation's record is
 * read again: if its first docid or checksum changed (re-transcribed,
 * erased and gone, or a reindex swapped the generation), the rest of the
 * window is dropped and a new one is computed from the position, in the new
 * view; visibility is checked again on every conversation (a person may
 * have changed owner). So what is streamed is what the caller may see when
 * the lines are formatted, and a conversation's lines always come from one
 * view.
 *
 * Memory: the window (WINDOW_CONVS entries, about WINDOW_TURNS docids), the
 * pending bytes (BATCH_BYTES plus one line) and the compiled query of one
 * walk at a time: a few hundred KiB whatever the number of matches.
 */
#include "csv.h"
#include "corrupt.h"
#include "internal.h"
#include "synonyms.h"
#include "redact.h"
#include "parser.h"
#include "search.h"

#include "errors.h"
#include "varint.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_BYTES (256u << 10)
#define WINDOW_CONVS 1024
#define WINDOW_TURNS 16384

typedef struct went {
  uint64_t id, patient_id, checksum;
  int64_t created_at_ms;
  uint32_t first_docid;
  size_t at, n; /* its matching turns: tdoc[at, at + n), increasing */
} went;

struct cs_export {
  cs_engine *e;
  cs_caller caller;
  cs_search_params p;
  char *q, *speaker;
  cs__query query;
  /* Position. */
  uint64_t next_id;
  int has_seq;
  int32_t after_seq;
  int done;
  /* Window. */
  went *w;
  size_t nw, wcap, wi;
  int has_window;
  uint64_t wend; /* the last candidate id the window covers */
  uint32_t *tdoc;
  size_t ntdoc, tdoc_cap;
  cs_reader *r; /* during a match walk */
  /* Candidates of the next window. */
  uint64_t *ids;
  size_t nids, ids_cap;
  uint64_t ids_max; /* when set, candidates above it cannot make the window */
  int in_order;     /* the source lists candidates in id order */
  /* Formatted bytes not yet handed out. */
  cs_buf out;
  size_t out_at;
  uint64_t lines;
  int err;
  int format; /* CS_EXPORT_* */
};

/* The members of a line, in order: CSV columns. */
static const char *const columns[] = {"conversation_id", "patient_id", "seq",
                                      "speaker",         "role",       "start_ms",
                                      "end_ms",          "created_at", "text"};
#define NCOLUMNS (sizeof columns / sizeof columns[0])

static int u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int went_cmp(const void *a, const void *b) {
  const went *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* ---------------------------------------------------------------- candidates */

/* Keeps the smallest candidate ids >= next_id, at most 2 x WINDOW_CONVS at
 * a time: sources that do not list conversations in id order (a portal
 * caller's people) then need bounded memory too. */
static int cand_add(cs_export *x, uint64_t id) {
  if (id < x->next_id || (x->ids_max && id > x->ids_max)) return 0;
  if (x->nids == 2 * WINDOW_CONVS) {
    qsort(x->ids, x->nids, sizeof *x->ids, u64_cmp);
    x->nids = WINDOW_CONVS;
    x->ids_max = x->ids[WINDOW_CONVS - 1];
    if (id > x->ids_max) return 0;
  }
  if (cs_grow((void **)&x->ids, &x->ids_cap, x->nids + 1, sizeof *x->ids)) return CS_ENOMEM;
  x->ids[x->nids++] = id;
  return 0;
}

static int pconv_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  cs_export *x = ctx;
  if (key.len != 16) return 0;
  uint64_t id = cs_be64_get((const uint8_t *)key.data + 8);
  /* A person's conversations come in id order: the rest are larger. */
  if (x->ids_max && id > x->ids_max) return 1;
  int rc = cand_add(x, id);
  if (rc) return rc;
  return x->in_order && x->nids >= WINDOW_CONVS ? 1 : 0;
}

static int patient_cands(cs_export *x, cs_reader *r, uint64_t patient) {
  uint8_t pfx[8], from[16];
  cs_key_u64(pfx, patient);
  cs_key_u64u64(from, patient, x->next_id);
  int rc = cs_reader_scan_from(r, CS_T_PCONV, pfx, 8, from, 16, pconv_each, x);
  return rc > 0 ? 0 : rc;
}

typedef struct owner_ctx {
  cs_export *x;
  cs_reader *r;
} owner_ctx;

static int owner_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  owner_ctx *o = ctx;
  if (key.len != 16) return 0;
  uint64_t patient = cs_be64_get((const uint8_t *)key.data + 8);
  if (!cs_caller_sees_patient(o->r, &o->x->caller, patient)) return 0;
  return patient_cands(o->x, o->r, patient);
}

static int conv_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  cs_export *x = ctx;
  if (key.len != 8) return 0;
  int rc = cand_add(x, cs_be64_get((const uint8_t *)key.data));
  if (rc) return rc;
  return x->nids >= WINDOW_CONVS ? 1 : 0;
}

/* The ids of the next window, ascending, in x->ids; 0 of them at the end. */
static int list_candidates(cs_export *x, cs_reader *r) {
  x->nids = 0;
  x->ids_max = 0;
  x->in_order = 0;
  const cs_search_params *p = &x->p;
  int rc = 0;
  if (p->conversation) {
    rc = cand_add(x, p->conversation);
  } else if (p->patient) {
    x->in_order = 1;
    rc = patient_cands(x, r, p->patient);
  } else if (cs_caller_restricted(&x->caller)) {
    if (x->caller.employee_id) {
      uint8_t pfx[8];
      cs_key_u64(pfx, x->caller.employee_id);
      owner_ctx o = {x, r};
      rc = cs_reader_scan(r, CS_T_OWNER, pfx, 8, owner_each, &o);
    }
  } else {
    uint8_t from[8];
    x->in_order = 1;
    cs_key_u64(from, x->next_id);
    rc = cs_reader_scan_from(r, CS_T_CONV, NULL, 0, from, 8, conv_each, x);
    rc = rc > 0 ? 0 : rc;
  }
  if (rc) return rc;
  if (x->nids > 1) qsort(x->ids, x->nids, sizeof *x->ids, u64_cmp);
  if (x->nids > WINDOW_CONVS) x->nids = WINDOW_CONVS;
  /* The turn budget (at least one conversation). */
  uint64_t turns = 0;
  for (size_t i = 0; i < x->nids; i++) {
    cs_conv c;
    if (cs_reader_conv(r, x->ids[i], &c) != 0) continue;
    turns += c.nturns;
    if (turns > WINDOW_TURNS && i > 0) {
      x->nids = i;
      break;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- window */

static int on_match(void *ctx, const cs__mconv *c, const uint32_t *turns, size_t n) {
  cs_export *x = ctx;
  if (n == 0) return 0;
  cs_conv cv;
  int rc = cs_reader_conv(x->r, c->id, &cv);
  if (rc) return rc == CS_ENOTFOUND || rc == CS_ECORRUPT ? 0 : rc;
  if (cs_grow((void **)&x->w, &x->wcap, x->nw + 1, sizeof *x->w) ||
      cs_grow((void **)&x->tdoc, &x->tdoc_cap, x->ntdoc + n, sizeof *x->tdoc))
    return CS_ENOMEM;
  went *w = &x->w[x->nw++];
  w->id = c->id;
  w->patient_id = c->patient_id;
  w->checksum = cv.checksum;
  w->created_at_ms = c->created_at_ms;
  w->first_docid = c->first_docid;
  w->at = x->ntdoc;
  w->n = n;
  memcpy(x->tdoc + x->ntdoc, turns, n * sizeof *turns);
  x->ntdoc += n;
  return 0;
}

static int build_window(cs_export *x, cs_reader *r) {
  x->nw = x->wi = x->ntdoc = 0;
  x->has_window = 0;
  int rc = list_candidates(x, r);
  if (rc) return rc;
  if (x->nids == 0) {
    x->done = 1;
    return 0;
  }
  x->r = r;
  int timed_out;
  rc = cs__match(r, NULL, &x->caller, &x->p, &x->query, x->ids, x->nids, on_match, x, &timed_out);
  x->r = NULL;
  if (rc) return rc;
  if (x->nw > 1) qsort(x->w, x->nw, sizeof *x->w, went_cmp);
  x->wend = x->ids[x->nids - 1];
  x->has_window = 1;
  return 0;
}

/* ---------------------------------------------------------------- lines */

static int append_cb(const char *p, size_t n, void *ctx) {
  cs_buf_bytes(ctx, p, n);
  return ((cs_buf *)ctx)->err ? -1 : 0;
}

static json_t *json_ms(int64_t ms) {
  return ms < 0 ? json_null() : json_integer((json_int_t)ms);
}

typedef struct emit_ctx {
  cs_export *x;
  const went *w;
  json_t *created;
  int stopped;
  cs__redact rd; /* analysts: the person's names */
} emit_ctx;

/* A damaged turn block is reported and left out; the stream goes on. */
static int turn_each(void *ctx, const cs_turn *tp) {
  emit_ctx *ec = ctx;
  cs_export *x = ec->x;
  cs_turn t = *tp;
  int rc = 0;
  if (x->has_seq && x->next_id == ec->w->id && t.seq <= x->after_seq) return 0;
  if (!cs__turn_in(x->tdoc + ec->w->at, ec->w->n, t.docid)) return 0;
  const char *role = cs_role_name(t.role);
  json_t *speaker = cs__redact_speaker(&ec->rd, t.speaker, t.role);
  json_t *o = json_pack("{s:I, s:I, s:i, s:o, s:s, s:o, s:o, s:O, s:o}", "conversation_id",
                        (json_int_t)ec->w->id, "patient_id", (json_int_t)ec->w->patient_id, "seq",
                        (int)t.seq, "speaker", speaker, "role", role, "start_ms",
                        json_ms(t.start_ms), "end_ms", json_ms(t.end_ms), "created_at", ec->created,
                        "text", cs__redact_json(&ec->rd, t.text));
  if (!o) return CS_ENOMEM;
  if (x->format == CS_EXPORT_CSV) {
    cs__csv_row(&x->out, o, columns, NCOLUMNS);
  } else {
    rc = json_dump_callback(o, append_cb, &x->out, JSON_COMPACT);
    cs_buf_u8(&x->out, '\n');
  }
  json_decref(o);
  if (rc || x->out.err) return CS_ENOMEM;
  x->lines++;
  x->next_id = ec->w->id;
  x->has_seq = 1;
  x->after_seq = t.seq;
  if (x->out.len >= BATCH_BYTES) {
    ec->stopped = 1;
    return 1;
  }
  return 0;
}

/* Formats lines from the window until BATCH_BYTES are pending or the
 * window ends. */
static int emit(cs_export *x, cs_reader *r) {
  while (x->wi < x->nw && x->out.len < BATCH_BYTES) {
    const went *w = &x->w[x->wi];
    cs_conv c;
    int rc = cs_reader_conv(r, w->id, &c);
    if (rc && rc != CS_ENOTFOUND && rc != CS_ECORRUPT) return rc;
    if (rc == 0 && (c.first_docid != w->first_docid || c.checksum != w->checksum)) {
      /* Changed since the window was computed: compute it again from here,
       * in this view. */
      x->has_window = 0;
      return 0;
    }
    if (rc == 0 && cs_caller_sees_patient(r, &x->caller, c.patient_id)) {
      emit_ctx ec = {x, w, cs_json_time(c.created_at_ms), 0, {0}};
      cs__redact_init(&ec.rd, &x->caller, r, c.patient_id);
      int32_t from = x->has_seq && x->next_id == w->id ? x->after_seq : INT32_MIN;
      rc = cs_reader_turns(r, w->id, from, CS_TURNS_TEXT, turn_each, &ec);
      json_decref(ec.created);
      if (rc < 0) return rc;
      if (ec.stopped) return 0;
    }
    /* Conversation done. */
    x->next_id = w->id + 1;
    x->has_seq = 0;
    x->wi++;
  }
  if (x->wi == x->nw) {
    /* Window done: the position moves past every candidate it covered. */
    if (x->wend + 1 > x->next_id) {
      x->next_id = x->wend + 1;
      x->has_seq = 0;
    }
    x->has_window = 0;
    if (x->wend == UINT64_MAX) x->done = 1;
  }
  return 0;
}

/* Formats the next batch in a read view of its own. A selective query or
 * filter may walk many windows before a line comes out: the view is then
 * renewed every VIEW_WINDOWS windows, so that no read transaction lasts
 * longer than that much work. */
#define VIEW_WINDOWS 16

static int refill(cs_export *x, cs_engine_error *err) {
  cs_view v;
  if (cs_view_begin(x->e, &v, err)) return -1;
  int rc = 0, windows = 0;
  while (!rc && !x->done && x->out.len < BATCH_BYTES) {
    if (!x->has_window) {
      if (windows++ == VIEW_WINDOWS) {
        cs_view_end(x->e, &v);
        if (cs_view_begin(x->e, &v, err)) return -1;
        windows = 1;
      }
      rc = build_window(x, v.r);
    } else {
      rc = emit(x, v.r);
    }
  }
  cs_view_end(x->e, &v);
  if (rc) return cs_engine_err_rc(err, rc);
  return 0;
}

/* ---------------------------------------------------------------- API */

int cs_engine_export_open(cs_engine *e, const cs_caller *c, const cs_search_params *p, int format,
                          cs_export **out, cs_engine_error *err) {
  *out = NULL;
  const char *qs = p->q ? p->q : "";
  size_t qlen = strlen(qs);
  if (qlen > CS_QUERY_MAX_BYTES) {
    cs_engine_err(err, 400, "query_too_long", "the query is longer than %d bytes",
                  CS_QUERY_MAX_BYTES);
    return -1;
  }
  char fold[64];
  if (p->speaker && *p->speaker &&
      cs__fold_speaker(p->speaker, strlen(p->speaker), fold, sizeof fold) < 0) {
    cs_engine_err(err, 400, "bad_parameter", "the speaker name is too long");
    return -1;
  }
  cs_export *x = calloc(1, sizeof *x);
  if (!x) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  x->e = e;
  x->caller = *c;
  x->p = *p;
  x->p.timeout_ms = 0; /* each batch is bounded by its window instead */
  x->q = strdup(qs);
  x->speaker = p->speaker && *p->speaker ? strdup(p->speaker) : NULL;
  x->p.q = x->q;
  x->p.speaker = x->speaker;
  x->p.cursor = NULL;
  x->next_id = 1;
  x->format = format;
  cs_buf_init(&x->out);
  /* CSV starts with its header row, even when nothing matches. */
  if (format == CS_EXPORT_CSV) cs__csv_header(&x->out, columns, NCOLUMNS);
  x->query.root = -1;
  if (!x->q || (p->speaker && *p->speaker && !x->speaker)) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    cs_engine_export_close(x);
    return -1;
  }
  cs_analyzer *an = cs__analyzer_get();
  if (!an) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    cs_engine_export_close(x);
    return -1;
  }
  cs__parse_opts po;
  cs__parse_defaults(&po);
  int rc = cs__parse_with_synonyms(e, an, qs, qlen, &po, &x->query, err);
  cs__analyzer_put(an);
  if (!rc) rc = cs__redact_check_filters(c, p->speaker, &x->query, err);
  if (rc) {
    cs_engine_export_close(x);
    return -1;
  }
  /* A query of stop words only matches nothing. */
  if (x->query.root < 0 && !x->query.browse) x->done = 1;
  *out = x;
  return 0;
}

int cs_engine_export_next(cs_export *x, char *buf, size_t cap, size_t *len, cs_engine_error *err) {
  *len = 0;
  if (x->err) {
    cs_engine_err(err, 500, "internal", "the export stream is broken");
    return -1;
  }
  while (*len < cap) {
    if (x->out_at < x->out.len) {
      size_t n = x->out.len - x->out_at;
      if (n > cap - *len) n = cap - *len;
      memcpy(buf + *len, x->out.p + x->out_at, n);
      x->out_at += n;
      *len += n;
      continue;
    }
    cs_buf_reset(&x->out);
    x->out_at = 0;
    if (x->done) break;
    if (refill(x, err)) {
      x->err = 1;
      return -1;
    }
  }
  return 0;
}

uint64_t cs_engine_export_lines(const cs_export *x) {
  return x->lines;
}

void cs_engine_export_close(cs_export *x) {
  if (!x) return;
  cs__query_free(&x->query);
  free(x->q);
  free(x->speaker);
  free(x->w);
  free(x->tdoc);
  free(x->ids);
  cs_buf_free(&x->out);
  free(x);
}
