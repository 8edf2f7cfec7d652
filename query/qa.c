/*
 * "Saber más" retrieval for the LLM, and the intake checklist.
 *
 * Passages (index/passages.h) are indexed as their own field. A question is
 * analyzed like any text (qa_terms.c: its content terms and their
 * expansions); they are looked up in the passage field and scored with BM25
 * (the field's own statistics), restricted to the docid ranges of the
 * conversations the caller may see within the asked scope (here: a
 * conversation, a person, or everything), and the best candidates reranked
 * (qa_rank.c). The top k are then rendered here with speakers and times,
 * and packed into a context string with numbered citations within the token
 * budget.
 *
 * The checklist asks each relevant point of the store as a question scoped
 * to one conversation and calls it covered when the best passage holds at
 * least CS_QA_COVERED of the question's content (idf-weighted share of its
 * distinct terms, stems and the point category's related words counting;
 * see coverage()).
 */
#include "qa_int.h"
#include "corrupt.h"
#include "expand.h"
#include "owned.h"
#include "lemmas.h"
#include "redact.h"
#include "synonyms.h"
#include "thesaurus.h"
#include "tstats.h"

#include "analyzer.h"
#include "errors.h"
#include "parser.h"
#include "rank.h"
#include "varint.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CS_QA_COVERED 0.5

/* ---------------------------------------------------------------- scope */

static int add_range(scope *s, uint32_t first, uint32_t n) {
  if (!n) return 0;
  if (cs_grow_from((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v, 16)) return CS_ENOMEM;
  s->v[s->n++] = (range){first, first + n};
  return 0;
}

static int add_conv(cs_reader *r, scope *s, uint64_t conv) {
  cs_conv c;
  int rc = cs_reader_conv(r, conv, &c);
  if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0; /* damaged: reported, skipped */
  return rc ? rc : add_range(s, c.first_docid, c.ndocs);
}

static int each_pconv(void *ctx, cs_slice k, cs_slice v) {
  (void)v;
  void **a = ctx;
  return k.len == 16 ? add_conv(a[0], a[1], cs_be64_get((const uint8_t *)k.data + 8)) : 0;
}

static int add_patient(cs_reader *r, scope *s, uint64_t patient) {
  uint8_t pfx[8];
  cs_key_u64(pfx, patient);
  void *a[2] = {r, s};
  return cs_reader_scan(r, CS_T_PCONV, pfx, 8, each_pconv, a);
}

/* A portal caller's own people's conversations (owned.h: the person's
 * record names the caller as its owner). */
static int add_owned(cs_reader *r, scope *s, uint64_t employee) {
  cs__snapcache *lc = cs__snapcache_current();
  cs__owned *own = NULL;
  int rc = cs__owned_get(lc, r, employee, &own);
  for (size_t i = 0; !rc && i < own->nr; i++)
    rc = add_range(s, own->r[i].f, own->r[i].e - own->r[i].f);
  cs__owned_release(lc, own);
  return rc;
}

static int range_cmp(const void *a, const void *b) {
  const range *x = a, *y = b;
  return x->first < y->first ? -1 : x->first > y->first;
}

/* The docid ranges the caller may search in the asked scope; err is set
 * (404, same as a missing id) for a scope the caller may not see. */
static int build_scope(cs_reader *r, const cs_caller *c, uint64_t conv, uint64_t patient, scope *s,
                       cs_engine_error *err) {
  memset(s, 0, sizeof *s);
  cs__tstats_init(&s->ts, r, c);
  if (c->role == CS_CALLER_ANALYST) s->unname = c;
  int rc = 0;
  if (conv) {
    cs_conv cv;
    if (cs_reader_conv(r, conv, &cv) != 0 || !cs_caller_sees_patient(r, c, cv.patient_id) ||
        (patient && cv.patient_id != patient)) {
      cs_engine_err(err, 404, "not_found", "conversation %" PRIu64 " not found", conv);
      return -1;
    }
    rc = add_range(s, cv.first_docid, cv.ndocs);
  } else if (patient) {
    cs_patient p;
    if (cs_reader_patient(r, patient, &p) != 0 || !cs_caller_sees_patient(r, c, patient)) {
      cs_engine_err(err, 404, "not_found", "person %" PRIu64 " not found", patient);
      return -1;
    }
    rc = add_patient(r, s, patient);
  } else if (cs_caller_restricted(c)) {
    rc = c->employee_id ? add_owned(r, s, c->employee_id) : 0;
  } else {
    s->all = 1;
  }
  if (rc) {
    cs_engine_err(err, 503, "index_unavailable", "the index cannot be read");
    return -1;
  }
  if (s->n) qsort(s->v, s->n, sizeof *s->v, range_cmp);
  return 0;
}

/* ---------------------------------------------------------------- rendering */

uint32_t cs_qa_tokens(const char *s, size_t len) {
  size_t chars = 0;
  for (size_t i = 0; i < len; i++)
    chars += ((unsigned char)s[i] & 0xC0) != 0x80;
  return (uint32_t)((chars + 2) / 3);
}

typedef struct rendered {
  uint64_t conv;
  int32_t first_seq, last_seq;
  int64_t start_ms, end_ms;
  json_t *speakers;
  cs_buf text;
} rendered;

typedef struct render_ctx {
  cs__redact red;
  rendered *out;
} render_ctx;

static int render_slice(void *ctx, const cs_turn *t, uint32_t from, uint32_t to) {
  render_ctx *rc = ctx;
  rendered *out = rc->out;
  /* Analysts never see names: the person's pseudonym, or the role. */
  cs_str who = cs__redact_speaker_str(&rc->red, t->speaker, t->role);
  if (!who.len) {
    const char *role = cs_role_name(t->role);
    who = (cs_str){role, strlen(role)};
  }
  int seen = 0;
  size_t i;
  json_t *v;
  json_array_foreach(out->speakers, i, v) {
    seen |= json_string_length(v) == who.len && memcmp(json_string_value(v), who.p, who.len) == 0;
  }
  if (!seen) json_array_append_new(out->speakers, cs_json_str(who));
  if (out->text.len) cs_buf_u8(&out->text, '\n');
  cs_buf_bytes(&out->text, who.p, who.len);
  cs_buf_bytes(&out->text, ": ", 2);
  cs__redact_append(&rc->red, t->text.p, t->text.len, from, to, &out->text);
  return 0;
}

/* The passage's text with "Speaker: " before each turn's part. */
static int render(cs_reader *r, const cs_caller *c, uint32_t docid, rendered *out) {
  cs_doc d;
  cs_passage p;
  int rc = cs_reader_doc(r, docid, &d);
  if (!rc && d.kind != CS_DOC_PASSAGE) rc = CS_ECORRUPT;
  if (!rc) rc = cs_reader_passage(r, d.conversation_id, (uint32_t)d.seq, &p);
  if (rc) return rc;
  out->conv = d.conversation_id;
  out->first_seq = p.first_seq;
  out->last_seq = p.last_seq;
  out->start_ms = p.start_ms;
  out->end_ms = p.end_ms;
  out->speakers = json_array();
  cs_buf_init(&out->text);
  cs_conv conv;
  rc = cs_reader_conv(r, d.conversation_id, &conv);
  if (rc) return rc;
  render_ctx rx = {.out = out};
  cs__redact_init(&rx.red, c, r, conv.patient_id);
  rc = cs_reader_passage_slices(r, d.conversation_id, (uint32_t)d.seq, &p, render_slice, &rx);
  return rc ? rc : out->text.err;
}

static int plain_slice(void *ctx, const cs_turn *t, uint32_t from, uint32_t to) {
  cs_buf *out = ctx;
  if (out->len) cs_buf_u8(out, '\n');
  cs_buf_bytes(out, t->text.p + from, to - from);
  return 0;
}

/* The passage's own text, as it was indexed (turn slices joined by
 * newlines, no speaker labels). */
int cs__qa_passage_plain_text(cs_reader *r, uint32_t docid, cs_buf *out) {
  cs_doc d;
  cs_passage p;
  int rc = cs_reader_doc(r, docid, &d);
  if (!rc) rc = cs_reader_passage(r, d.conversation_id, (uint32_t)d.seq, &p);
  if (rc) return rc;
  cs_buf_reset(out);
  rc = cs_reader_passage_slices(r, d.conversation_id, (uint32_t)d.seq, &p, plain_slice, out);
  return rc ? rc : out->err;
}

static void fmt_time(char *buf, size_t cap, int64_t ms) {
  if (ms < 0) {
    snprintf(buf, cap, "?");
    return;
  }
  int64_t s = ms / 1000;
  snprintf(buf, cap, "%02d:%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
}

/* ---------------------------------------------------------------- API */

int cs_engine_qa_retrieve(cs_engine *e, const cs_caller *c, const cs_qa_params *p, json_t **out,
                          cs_engine_error *err) {
  *out = NULL;
  if (!p->question || !*p->question || strlen(p->question) > CS_QUERY_MAX_BYTES) {
    cs_engine_err(err, 400, "bad_query", "question must be 1 to %d bytes", CS_QUERY_MAX_BYTES);
    return -1;
  }
  uint32_t k = p->k ? p->k : 5, budget = p->max_tokens ? p->max_tokens : 2000;
  if (k > CS_QA_K_MAX || budget > CS_QA_TOKENS_MAX) {
    cs_engine_err(err, 400, "bad_parameter", "k must be 1..%d and max_tokens 1..%d", CS_QA_K_MAX,
                  CS_QA_TOKENS_MAX);
    return -1;
  }
  qa_term t[QA_TERMS_MAX];
  size_t nt;
  if (cs__qa_question_terms(p->question, NULL, t, &nt, err)) return -1;
  cs_analyzer *an = cs__analyzer_get();
  if (!an) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  cs_view v;
  if (cs_view_begin(e, &v, err)) {
    cs__analyzer_put(an);
    return -1;
  }
  int kind = cs__qa_answer_kind(an, p->question);
  for (size_t i = 0; i < nt && !getenv("CS_BENCH_QA_NO_FOCUS"); i++)
    if (t[i].focus) t[i].scale = FOCUS_SCALE;
  cs__qa_synonym_terms(cs__synonyms_current(), t, &nt);
  cs__qa_lemma_terms(cs__engine_lemmas(e), an, t, &nt);
  cs__qa_thesaurus_terms(cs__engine_thesaurus(e), an, t, &nt);
  scope s;
  int status = -1;
  cand *cands = NULL;
  size_t nc = 0;
  if (build_scope(v.r, c, p->conversation_id, p->patient_id, &s, err)) goto out;
  s.view = &v;
  if (cs__qa_name_terms(&s, t, &nt) || cs__qa_prefix_terms(v.r, t, &nt) ||
      cs__qa_rank_passages(v.r, an, NULL, t, nt, kind, &s, k, &cands, &nc)) {
    cs_engine_err(err, 503, "index_unavailable", "the index cannot be read");
    goto out;
  }
  json_t *passages = json_array();
  cs_buf ctx;
  cs_buf_init(&ctx);
  uint32_t used = 0;
  int cited = 0;
  for (size_t i = 0; i < nc; i++) {
    rendered rd;
    memset(&rd, 0, sizeof rd);
    if (render(v.r, c, cands[i].docid, &rd)) {
      json_decref(rd.speakers);
      cs_buf_free(&rd.text);
      continue;
    }
    json_array_append_new(
        passages,
        json_pack("{s:I, s:[i, i], s:O, s:o, s:o, s:s%, s:f}", "conversation_id",
                  (json_int_t)rd.conv, "seqs", rd.first_seq, rd.last_seq, "speakers", rd.speakers,
                  "start_ms", rd.start_ms < 0 ? json_null() : json_integer(rd.start_ms), "end_ms",
                  rd.end_ms < 0 ? json_null() : json_integer(rd.end_ms), "text", (char *)rd.text.p,
                  rd.text.len, "score", round(cands[i].score * 1e4) / 1e4));
    /* The citation: "[n] conversación C, hh:mm:ss–hh:mm:ss (A, B)". */
    char head[256], t0[16], t1[16], names[160] = "";
    fmt_time(t0, sizeof t0, rd.start_ms);
    fmt_time(t1, sizeof t1, rd.end_ms);
    size_t j;
    json_t *sp;
    json_array_foreach(rd.speakers, j, sp) {
      size_t l = strlen(names);
      snprintf(names + l, sizeof names - l, "%s%s", j ? ", " : "", json_string_value(sp));
    }
    int hl = snprintf(head, sizeof head, "[%d] conversación %" PRIu64 ", %s–%s (%s)\n", cited + 1,
                      rd.conv, t0, t1, names);
    uint32_t need = cs_qa_tokens(head, (size_t)hl) + cs_qa_tokens((char *)rd.text.p, rd.text.len) +
                    (cited ? 1 : 0);
    if (used + need <= budget) {
      if (cited) cs_buf_bytes(&ctx, "\n\n", 2);
      cs_buf_bytes(&ctx, head, (size_t)hl);
      cs_buf_bytes(&ctx, rd.text.p, rd.text.len);
      used += need;
      cited++;
    }
    json_decref(rd.speakers);
    cs_buf_free(&rd.text);
  }
  *out = json_pack("{s:o, s:s%, s:i}", "passages", passages, "context", ctx.p ? (char *)ctx.p : "",
                   ctx.len, "context_tokens", (int)used);
  cs_buf_free(&ctx);
  status = *out ? 0 : -1;
  if (status) cs_engine_err(err, 503, "unavailable", "out of memory");
out:
  free(cands);
  free(s.v);
  cs_view_end(e, &v);
  cs__analyzer_put(an);
  return status;
}

/* Share of the question's weighted idf mass present in a passage. */
static double coverage(const qa_term *t, size_t nt, uint64_t matched) {
  double all = 0, got = 0;
  for (size_t i = 0; i < nt; i++) {
    if (t[i].weight < 1.0) continue; /* related words help rank, not cover */
    all += t[i].idf;
    if (matched & (1ull << i)) got += t[i].idf;
  }
  /* A related word stands in for at most half of the question. */
  int related_hit = 0;
  for (size_t i = 0; i < nt; i++)
    related_hit |= t[i].weight < 1.0 && (matched & (1ull << i));
  double share = all > 0 ? got / all : 0;
  if (related_hit && share < 0.5) share += 0.25;
  return share > 1 ? 1 : share;
}

typedef struct point_list {
  cs_point *v;
  size_t n, cap;
} point_list;

static int each_point(void *ctx, cs_slice k, cs_slice val) {
  point_list *l = ctx;
  if (cs_grow_from((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v, 16)) return CS_ENOMEM;
  if (cs_corrupt_rc(cs_point_decode(val.data, val.len, &l->v[l->n]), CS_T_POINT, k) == 0) l->n++;
  return 0;
}

/* ---------------------------------------------------------------- checklist */

/* A relevant point asked as a question: its terms, once per read view. */
typedef struct cl_point {
  qa_term t[QA_TERMS_MAX];
  size_t nt;
  int ok; /* the question has searchable words */
} cl_point;

struct cs__checklist {
  cs_reader *r;
  cs__tstats ts;
  cs_analyzer *an;
  point_list pl;
  cl_point *pts;
  surf_cache sc; /* of the conversation [sc_first, sc_end) */
  uint32_t sc_first, sc_end;
};

void cs__checklist_close(cs__checklist *cl) {
  if (!cl) return;
  cs__analyzer_put(cl->an);
  cs__qa_surf_free(&cl->sc);
  free(cl->pl.v);
  free(cl->pts);
  free(cl);
}

int cs__checklist_open(cs_reader *r, const cs_caller *c, cs__checklist **out) {
  *out = NULL;
  cs__checklist *cl = calloc(1, sizeof *cl);
  if (!cl) return CS_ENOMEM;
  cl->r = r;
  cs__tstats_init(&cl->ts, r, c);
  cl->an = cs__analyzer_get();
  int rc = cl->an ? cs_reader_scan(r, CS_T_POINT, NULL, 0, each_point, &cl->pl) : CS_ENOMEM;
  if (!rc && cl->pl.n) {
    cl->pts = calloc(cl->pl.n, sizeof *cl->pts);
    if (!cl->pts) rc = CS_ENOMEM;
  }
  for (size_t i = 0; !rc && i < cl->pl.n; i++) {
    char q[1024], cat[128];
    snprintf(q, sizeof q, "%.*s", (int)cl->pl.v[i].text.len, cl->pl.v[i].text.p);
    snprintf(cat, sizeof cat, "%.*s", (int)cl->pl.v[i].category.len, cl->pl.v[i].category.p);
    cs_engine_error ignored;
    cl->pts[i].ok = cs__qa_question_terms(q, cat, cl->pts[i].t, &cl->pts[i].nt, &ignored) == 0;
  }
  if (rc) {
    cs__checklist_close(cl);
    return rc;
  }
  *out = cl;
  return 0;
}

size_t cs__checklist_count(const cs__checklist *cl) {
  return cl->pl.n;
}

const cs_point *cs__checklist_point(const cs__checklist *cl, size_t i) {
  return &cl->pl.v[i];
}

int cs__checklist_eval(cs__checklist *cl, size_t i, uint32_t first_docid, uint32_t ndocs,
                       cs__coverage *out) {
  memset(out, 0, sizeof *out);
  cl_point *pt = &cl->pts[i];
  if (!pt->ok) return 0;
  range rg = {first_docid, first_docid + ndocs};
  scope s = {&rg, ndocs ? 1 : 0, 1, 0, NULL, cl->ts, NULL};
  if (cl->sc_first != rg.first || cl->sc_end != rg.end) {
    cs__qa_surf_reset(&cl->sc);
    cl->sc_first = rg.first;
    cl->sc_end = rg.end;
  }
  cand *best = NULL;
  size_t nb = 0;
  int rc =
      cs__qa_rank_passages(cl->r, cl->an, &cl->sc, pt->t, pt->nt, ANSWER_ANY, &s, 1, &best, &nb);
  if (!rc && nb > 0) {
    out->found = 1;
    out->docid = best[0].docid;
    out->score = best[0].score;
    out->share = coverage(pt->t, pt->nt, best[0].matched);
    out->covered = out->share >= CS_QA_COVERED;
  }
  free(best);
  return rc;
}

int cs_engine_checklist(cs_engine *e, const cs_caller *c, uint64_t conversation_id, json_t **out,
                        cs_engine_error *err) {
  *out = NULL;
  cs_view v;
  if (cs_view_begin(e, &v, err)) return -1;
  scope s;
  memset(&s, 0, sizeof s);
  cs__checklist *cl = NULL;
  int status = -1;
  if (build_scope(v.r, c, conversation_id, 0, &s, err)) goto out;
  if (cs__checklist_open(v.r, c, &cl)) {
    cs_engine_err(err, 503, "index_unavailable", "the index cannot be read");
    goto out;
  }
  uint32_t first = s.n ? s.v[0].first : 0, ndocs = s.n ? s.v[0].end - s.v[0].first : 0;
  json_t *items = json_array();
  for (size_t i = 0; i < cs__checklist_count(cl); i++) {
    const cs_point *pt = cs__checklist_point(cl, i);
    cs__coverage cov;
    json_t *passage = json_null();
    if (cs__checklist_eval(cl, i, first, ndocs, &cov) == 0 && cov.found) {
      rendered rd;
      memset(&rd, 0, sizeof rd);
      if (render(v.r, c, cov.docid, &rd) == 0) {
        json_decref(passage);
        passage = json_pack("{s:[i, i], s:O, s:o, s:o, s:s%, s:f}", "seqs", rd.first_seq,
                            rd.last_seq, "speakers", rd.speakers, "start_ms",
                            rd.start_ms < 0 ? json_null() : json_integer(rd.start_ms), "end_ms",
                            rd.end_ms < 0 ? json_null() : json_integer(rd.end_ms), "text",
                            (char *)rd.text.p, rd.text.len, "score", round(cov.score * 1e4) / 1e4);
      }
      json_decref(rd.speakers);
      cs_buf_free(&rd.text);
    }
    json_array_append_new(items,
                          json_pack("{s:I, s:o, s:o, s:b, s:f, s:o}", "relevant_point_id",
                                    (json_int_t)pt->id, "text", cs_json_str(pt->text), "category",
                                    cs_json_str(pt->category), "covered", cov.covered, "score",
                                    round(cov.share * 1e3) / 1e3, "passage", passage));
  }
  *out = json_pack("{s:I, s:o, s:f}", "conversation_id", (json_int_t)conversation_id, "items",
                   items, "threshold", CS_QA_COVERED);
  status = *out ? 0 : -1;
  if (status) cs_engine_err(err, 503, "unavailable", "out of memory");
out:
  cs__checklist_close(cl);
  free(s.v);
  cs_view_end(e, &v);
  return status;
}
