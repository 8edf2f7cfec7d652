/*
 * The conversation view (GET /v1/conversations/{id}[?q=]): a stored
 * transcript with its turns and times, and, when a query is given, every
 * match of it highlighted in every turn (the same expansion as search: the
 * prefix, typo and phrase matches that found the conversation are the ones
 * marked in it).
 *
 * Visibility is checked on the person's current owner; a conversation the
 * caller may not see gets the very same 404 as a missing one, so its
 * existence does not leak.
 */
#include "internal.h"
#include "corrupt.h"
#include "redact.h"
#include "search.h"

#include "errors.h"
#include "varint.h"

#include <stdlib.h>
#include <string.h>

/* Spans of every matched turn, by docid. */
typedef struct doc_spans {
  uint32_t docid;
  size_t at, n; /* range in spans */
} doc_spans;

typedef struct hl_ctx {
  doc_spans *docs;
  size_t ndocs, docs_cap;
  cs__pspan *spans;
  size_t nspans, spans_cap;
  int err;
} hl_ctx;

static int collect(void *ctx, uint32_t docid, cs__pspan *spans, size_t n) {
  hl_ctx *h = ctx;
  if (cs_grow((void **)&h->docs, &h->docs_cap, h->ndocs + 1, sizeof *h->docs) ||
      cs_grow((void **)&h->spans, &h->spans_cap, h->nspans + n, sizeof *h->spans))
    return CS_ENOMEM;
  h->docs[h->ndocs].docid = docid;
  h->docs[h->ndocs].at = h->nspans;
  h->docs[h->ndocs].n = n;
  h->ndocs++;
  memcpy(h->spans + h->nspans, spans, n * sizeof *spans);
  h->nspans += n;
  return 0;
}

static const doc_spans *find_doc(const hl_ctx *h, uint32_t docid) {
  size_t lo = 0, hi = h->ndocs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (h->docs[mid].docid < docid)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < h->ndocs && h->docs[lo].docid == docid ? &h->docs[lo] : NULL;
}

typedef struct seg_ctx {
  json_t *segments;
  const hl_ctx *hl;
  int highlight; /* q given: every text is HTML */
  const cs__redact *rd;
  cs_analyzer *a; /* to find a highlighted turn's token offsets */
  cs_str lang;
  cs_buf buf;
  int err;
} seg_ctx;

static json_t *json_ms(int64_t ms) {
  return ms < 0 ? json_null() : json_integer((json_int_t)ms);
}

static int segment_each(void *ctx, const cs_turn *tp) {
  seg_ctx *s = ctx;
  cs_turn t = *tp;
  json_t *text;
  if (s->highlight) {
    const doc_spans *d = s->hl ? find_doc(s->hl, t.docid) : NULL;
    cs_buf_reset(&s->buf);
    if (cs__highlight_field(s->a, s->lang, t.text, d ? s->hl->spans + d->at : NULL, d ? d->n : 0, 0,
                            s->rd, &s->buf) ||
        s->buf.err) {
      s->err = CS_ENOMEM;
      return 1;
    }
    text = json_stringn_nocheck((const char *)s->buf.p, s->buf.len);
  } else {
    text = cs__redact_json(s->rd, t.text);
  }
  json_t *o = json_pack("{s:i, s:o, s:s, s:o, s:o, s:o}", "seq", (int)t.seq, "speaker",
                        cs__redact_speaker(s->rd, t.speaker, t.role), "role", cs_role_name(t.role),
                        "start_ms", json_ms(t.start_ms), "end_ms", json_ms(t.end_ms), "text", text);
  if (!o || json_array_append_new(s->segments, o)) {
    s->err = CS_ENOMEM;
    return 1;
  }
  return 0;
}

int cs_engine_conversation(cs_engine *e, const cs_caller *c, uint64_t id, const char *q,
                           json_t **out, cs_engine_error *err) {
  *out = NULL;
  if (q && strlen(q) > CS_QUERY_MAX_BYTES) {
    cs_engine_err(err, 400, "bad_query", "the query is longer than %d bytes", CS_QUERY_MAX_BYTES);
    return -1;
  }
  cs_view v;
  if (cs_view_begin(e, &v, err)) return -1;
  int ret = -1, rc = 0;
  cs_analyzer *a = NULL;
  cs__query query;
  memset(&query, 0, sizeof query);
  query.root = -1;
  cs__exec *x = NULL;
  hl_ctx hl;
  memset(&hl, 0, sizeof hl);
  seg_ctx sc;
  memset(&sc, 0, sizeof sc);
  cs_buf_init(&sc.buf);

  cs_conv conv;
  rc = cs_reader_conv(v.r, id, &conv);
  if (rc == CS_ENOTFOUND || (rc == 0 && !cs_caller_sees_patient(v.r, c, conv.patient_id))) {
    cs_engine_err(err, 404, "not_found", "conversation not found");
    goto out;
  }
  if (rc) goto fail;

  int highlight = q && *q;
  if (highlight) {
    a = cs__analyzer_get();
    if (!a) {
      rc = CS_ENOMEM;
      goto fail;
    }
    cs__parse_opts po;
    cs__parse_defaults(&po);
    if (cs__query_parse(a, q, strlen(q), &po, &query, err) ||
        cs__redact_check_filters(c, NULL, &query, err))
      goto out;
    if (query.root >= 0) {
      cs__rank_params rp;
      cs__rank_defaults(&rp);
      cs__tstats ts;
      cs__tstats_init(&ts, v.r, c);
      rc = cs__exec_open(&ts, &query, &rp, 0, conv.first_docid, &x);
      if (!rc)
        rc = cs__exec_spans(x, conv.first_docid, conv.first_docid + conv.ndocs, collect, &hl);
      if (rc) goto fail;
    }
  }
  cs__redact rd;
  cs__redact_init(&rd, c, v.r, conv.patient_id);
  sc.segments = json_array();
  sc.hl = &hl;
  sc.rd = &rd;
  sc.highlight = highlight;
  sc.a = a;
  sc.lang = conv.language;
  if (!sc.segments) {
    rc = CS_ENOMEM;
    goto fail;
  }
  /* A damaged turn block: asked for, so no partial answer. */
  rc = cs_reader_turns(v.r, id, INT32_MIN, CS_TURNS_TEXT | CS_TURNS_STRICT, segment_each, &sc);
  if (rc > 0) rc = sc.err;
  if (rc) goto fail;
  *out = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)conv.id, "patient_id",
                   (json_int_t)conv.patient_id, "title", cs__redact_json(&rd, conv.title),
                   "description", cs__redact_json(&rd, conv.description), "created_at",
                   cs_json_time(conv.created_at_ms), "duration_ms", json_ms(conv.duration_ms),
                   "segments", sc.segments);
  sc.segments = NULL;
  if (!*out) {
    rc = CS_ENOMEM;
    goto fail;
  }
  ret = 0;
  goto out;
fail:
  cs_engine_err_rc(err, rc);
out:
  json_decref(sc.segments);
  cs_buf_free(&sc.buf);
  free(hl.docs);
  free(hl.spans);
  cs__exec_close(x);
  cs__query_free(&query);
  cs__analyzer_put(a);
  cs_view_end(e, &v);
  return ret;
}
