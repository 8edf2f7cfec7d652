/*
 * "Saber más" retrieval for the LLM, and the intake checklist.
 *
 * Passages (index/passages.h) are indexed as their own field. A question is
 * analyzed like any text; its content terms are looked up in the passage
 * field and scored with BM25 (the field's own statistics), restricted to the
 * docid ranges of the conversations the caller may see within the asked
 * scope (a conversation, a person, or everything). The best candidates get
 * a proximity bonus from positions (question words close together in the
 * passage), then the top k are rendered with speakers and times, and packed
 * into a context string with numbered citations within the token budget.
 *
 * The checklist asks each relevant point of the store as a question scoped
 * to one conversation and calls it covered when the best passage holds at
 * least CS_QA_COVERED of the question's content (idf-weighted share of its
 * distinct terms, stems and the point category's related words counting;
 * see coverage()).
 */
#include "internal.h"
#include "corrupt.h"
#include "expand.h"
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

#define QA_PHRASE_MAX 4 /* words of a multi-word thesaurus entry */
#define QA_TERMS_MAX 64 /* the question's terms and their expansions */
#define QA_RERANK 64
#define CS_QA_COVERED 0.5

typedef struct qa_term {
  char key[CS_TERM_MAX + 2]; /* CS_PASSAGE_PREFIX + term */
  size_t len;
  double idf, weight;
  char word[CS_TERM_MAX + 1]; /* the question's folded surface word */
  size_t word_len;
  uint32_t qpos;              /* its position in the question (stop words count) */
  char surf[CS_TERM_MAX + 1]; /* the question's word as written, ASCII-lowercased */
  size_t surf_len;
  uint32_t group; /* the question term it stands for (itself for a question term) */
  double scale;   /* of its idf (FOCUS_SCALE for a question's focus) */
  int focus;      /* the word after "qué" / "cuál" (is_focus) */
  int name;       /* capitalized inside the question (is_name): a name */
  int unindexed;  /* no passage in scope holds it (rank_passages) */
  double via_idf; /* unindexed: the idf of its rarest expansion */
  /* A phrase (multi-word thesaurus entry): key is its first word; these
   * follow it at these positions after it. */
  uint8_t nrest;
  char rest[QA_PHRASE_MAX - 1][CS_TERM_MAX + 2];
  uint8_t rest_len[QA_PHRASE_MAX - 1];
  uint8_t rest_off[QA_PHRASE_MAX - 1];
} qa_term;

/* Reranking weights, measured on SQuAD-es (bench/RESULTS.md): a question
 * word found in the passage in the very same form (not only the same stem)
 * adds SURFACE_WEIGHT of its BM25 weight (machine translation and people
 * alike reuse the exact words of what they ask about), and a passage holding
 * a share s of the question's idf mass keeps s^COORD_ALPHA of its score.
 * SURFACE_WEIGHT, SDM_ORDERED and SENTENCE_WEIGHT were refitted together
 * (coordinate ascent on the tuning half of SQuAD-es, bench/analysis.md);
 * CS_BENCH_QA_NO_REFIT puts back the weights from before (no sentence
 * bonus), for bench/qa_steps.sh only. */
#define SURFACE_WEIGHT (refit() ? 0.9375 : 0.5)
#define SURFACE_DEPTH 20 /* candidates (by BM25 + proximity) re-analyzed */
#define COORD_ALPHA 0.5

/* Local discrimination: a question word that nearly every one of the best
 * LOCAL_POOL candidates holds (the subject of the question, which the
 * paragraphs or turns about it all repeat: "Super Bowl", "Lutero") tells
 * them apart no better than chance, and its repetitions should not decide
 * between them. Among the best candidates, each term's BM25 part is
 * multiplied by 1 - LOCAL_WEIGHT x (share of the pool holding it); it still
 * counts for coordination and the surface bonus. Chosen on the tuning half
 * of SQuAD-es (bench/analysis.md). CS_BENCH_QA_NO_LOCAL turns it off, for
 * bench/qa_steps.sh only. */
#define LOCAL_WEIGHT 1.0
#define LOCAL_POOL 40

static int refit(void) {
  return getenv("CS_BENCH_QA_NO_REFIT") == NULL;
}

typedef struct range {
  uint32_t first, end; /* [first, end) */
} range;

typedef struct scope {
  range *v;
  size_t n, cap;
  int all;                 /* no restriction */
  const cs_caller *unname; /* analysts: a word of the person's name matches nothing */
  cs__tstats ts;           /* the statistics scores depend on (tstats.h) */
  const cs__convs *convs;  /* the view's docid -> conversation table (NULL: read the index) */
} scope;

typedef struct cand {
  uint32_t docid;
  double score;
  uint64_t matched; /* bit i: term i occurs */
} cand;

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

static int each_owned(void *ctx, cs_slice k, cs_slice v) {
  (void)v;
  void **a = ctx;
  return k.len == 16 ? add_patient(a[0], a[1], cs_be64_get((const uint8_t *)k.data + 8)) : 0;
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
    uint8_t pfx[8];
    cs_key_u64(pfx, c->employee_id);
    void *a[2] = {r, s};
    rc = c->employee_id ? cs_reader_scan(r, CS_T_OWNER, pfx, 8, each_owned, a) : 0;
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

/* ---------------------------------------------------------------- terms */

/* Words related to each intake category, added to a checklist question at
 * half weight: interviewers rarely repeat the standard wording. */
static const struct {
  const char *category;
  const char *words;
} related[] = {
    {"vivienda", "vivir casa piso alquiler albergue calle dormir habitación desahucio hogar"},
    {"empleo", "trabajo trabajar ingreso dinero euros sueldo contrato nómina paro cobrar"},
    {"salud", "médico salud enfermedad tratamiento medicación hospital sanitaria centro"},
    {"documentación", "pasaporte documento papeles empadronamiento tarjeta permiso nie"},
    {"familia", "hijos hija hijo familia pareja marido mujer niños colegio"},
    {"alimentación", "comer comida comedor alimentos hambre"},
};

/* The focus of a question: the noun right after "qué" or "cuál(es)" names
 * the kind of thing asked for ("¿Qué tierra fue cedida?", "¿Cuál es el
 * río...?"), which the passage that answers it names by the thing itself
 * ("la Luisiana"); the other words of the question come from that passage.
 * In /v1/qa/retrieve (not the checklist, whose points are no such
 * questions), its idf counts FOCUS_SCALE (tuning half of SQuAD-es,
 * bench/analysis.md); CS_BENCH_QA_NO_FOCUS turns it off, for
 * bench/qa_steps.sh only. */
#define FOCUS_SCALE 0.7

static int is_focus(const cs_token *prev, const cs_token *tok) {
  return prev->pos + 1 == tok->pos && (!strcmp(prev->word, "que") || !strcmp(prev->word, "cual") ||
                                       !strcmp(prev->word, "cuales"));
}

static int is_name(const char *s, size_t len, size_t at);

static int add_terms(cs_analyzer *an, const char *text, size_t len, double weight, qa_term *t,
                     size_t *n) {
  const cs_token *toks;
  size_t nt;
  if (cs_analyze(an, "es", text, len, &toks, &nt)) return CS_ENOMEM;
  for (size_t i = 0; i < nt && *n < QA_TERMS_MAX; i++) {
    if (toks[i].flags & CS_TOK_STOP) continue;
    size_t kl = (size_t)toks[i].term_len + 1;
    int dup = 0;
    for (size_t j = 0; j < *n && !dup; j++)
      dup = t[j].len == kl && memcmp(t[j].key + 1, toks[i].term, kl - 1) == 0;
    if (dup) continue;
    memset(&t[*n], 0, sizeof t[*n]);
    t[*n].key[0] = CS_PASSAGE_PREFIX;
    memcpy(t[*n].key + 1, toks[i].term, kl - 1);
    t[*n].len = kl;
    t[*n].weight = weight;
    t[*n].word_len = toks[i].word_len < CS_TERM_MAX ? toks[i].word_len : CS_TERM_MAX;
    memcpy(t[*n].word, toks[i].word, t[*n].word_len);
    t[*n].group = (uint32_t)*n;
    t[*n].qpos = toks[i].pos;
    t[*n].scale = 1;
    t[*n].focus = i > 0 && is_focus(&toks[i - 1], &toks[i]);
    t[*n].name = is_name(text, len, toks[i].start);
    size_t sl = toks[i].end - toks[i].start;
    t[*n].surf_len = sl < CS_TERM_MAX ? sl : 0;
    for (size_t j = 0; j < t[*n].surf_len; j++) {
      char ch = text[toks[i].start + j];
      t[*n].surf[j] = (char)(ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch);
    }
    (*n)++;
  }
  return 0;
}

/* ---------------------------------------------------------------- scoring */

typedef struct acc {
  cand *v;
  size_t cap, n; /* open addressing on docid; cap is a power of two */
} acc;

static cand *acc_get(acc *a, uint32_t docid) {
  if ((a->n + 1) * 2 > a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 1024;
    cand *v = calloc(cap, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < a->cap; i++) {
      if (!a->v[i].docid) continue;
      size_t j = (a->v[i].docid * 2654435761u) & (cap - 1);
      while (v[j].docid)
        j = (j + 1) & (cap - 1);
      v[j] = a->v[i];
    }
    free(a->v);
    a->v = v;
    a->cap = cap;
  }
  size_t j = (docid * 2654435761u) & (a->cap - 1);
  while (a->v[j].docid && a->v[j].docid != docid)
    j = (j + 1) & (a->cap - 1);
  if (!a->v[j].docid) {
    a->v[j].docid = docid;
    a->n++;
  }
  return &a->v[j];
}

static int cand_by_score(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->score != y->score) return x->score < y->score ? 1 : -1;
  return x->docid < y->docid ? -1 : x->docid > y->docid;
}

static int cand_by_docid(const void *a, const void *b) {
  const cand *x = a, *y = b;
  return x->docid < y->docid ? -1 : x->docid > y->docid;
}

/* Scores every passage in scope that holds a question term. */
/* The names of the person whose conversation holds the last passage asked
 * about (analysts, redact.h). */
typedef struct name_cache {
  uint32_t first, end; /* the conversation's docids */
  cs__redact rd;
} name_cache;

/* Analysts: whether term i stems like a word of the name of the person whose
 * passage d is; it then matches nothing there. */
static int unnamed(cs_reader *r, const scope *s, name_cache *nc, const qa_term *t, uint32_t d) {
  if (!s->unname) return 0;
  if (d < nc->first || d >= nc->end) {
    cs_doc doc;
    cs_conv cv;
    nc->first = nc->end = 0;
    if (cs_reader_doc(r, d, &doc) || cs_reader_conv(r, doc.conversation_id, &cv)) return 1;
    nc->first = cv.first_docid;
    nc->end = cv.first_docid + cv.ndocs;
    cs__redact_init(&nc->rd, s->unname, r, cv.patient_id);
  }
  return cs__redact_blocks(&nc->rd, t->key + 1, t->len - 1);
}

/* Occurrences of phrase t in the passage cur (on its first word) is at:
 * positions p of the first word with every other word at p + its offset. */
static uint32_t phrase_tf(const qa_term *t, cs_pcur *cur, cs_pcur **rest) {
  uint32_t d = cs_pcur_docid(cur);
  const uint32_t *p0, *pk[QA_PHRASE_MAX - 1];
  uint32_t n0, nk[QA_PHRASE_MAX - 1];
  for (uint8_t k = 0; k < t->nrest; k++) {
    cs_pcur_next_geq(rest[k], d);
    if (cs_pcur_docid(rest[k]) != d || cs_pcur_positions(rest[k], &pk[k], &nk[k])) return 0;
  }
  if (cs_pcur_positions(cur, &p0, &n0)) return 0;
  uint32_t tf = 0, at[QA_PHRASE_MAX - 1] = {0};
  for (uint32_t j = 0; j < n0; j++) {
    int all = 1;
    for (uint8_t k = 0; k < t->nrest && all; k++) {
      uint32_t want = p0[j] + t->rest_off[k];
      while (at[k] < nk[k] && pk[k][at[k]] < want)
        at[k]++;
      all = at[k] < nk[k] && pk[k][at[k]] == want;
    }
    tf += all;
  }
  return tf;
}

static int score_terms(cs_reader *r, const cs__ranker *rk, qa_term *t, size_t nt, const scope *s,
                       acc *a) {
  name_cache nc;
  memset(&nc, 0, sizeof nc);
  for (size_t i = 0; i < nt; i++) {
    cs_pcur *cur, *rest[QA_PHRASE_MAX - 1] = {NULL};
    int rc = cs_pcur_open(r, t[i].key, t[i].len, &cur);
    for (uint8_t k = 0; !rc && k < t[i].nrest; k++) {
      rc = cs_pcur_open(r, t[i].rest[k], t[i].rest_len[k], &rest[k]);
      if (rc) cs_pcur_close(cur);
    }
    if (rc) {
      for (uint8_t k = 0; k < t[i].nrest; k++)
        if (rest[k]) cs_pcur_close(rest[k]);
      if (rc == CS_ENOTFOUND) continue;
      return rc;
    }
    size_t ri = 0;
    for (uint32_t d = cs_pcur_docid(cur); d != CS_DOCID_END; d = cs_pcur_docid(cur)) {
      if (!s->all) {
        while (ri < s->n && s->v[ri].end <= d)
          ri++;
        if (ri == s->n) break;
        if (d < s->v[ri].first) {
          cs_pcur_next_geq(cur, s->v[ri].first);
          continue;
        }
      }
      uint32_t tf = t[i].nrest ? phrase_tf(&t[i], cur, rest) : cs_pcur_tf(cur);
      if (!tf || unnamed(r, s, &nc, &t[i], d)) {
        cs_pcur_next(cur);
        continue;
      }
      cand *c = acc_get(a, d);
      if (!c) {
        rc = CS_ENOMEM;
        break;
      }
      c->score += t[i].weight * t[i].idf * cs__bm25_tf(rk, CS_DOC_PASSAGE, tf, cs_pcur_len(cur));
      c->matched |= 1ull << i;
      cs_pcur_next(cur);
    }
    if (!rc) rc = cs_pcur_error(cur);
    cs_pcur_close(cur);
    for (uint8_t k = 0; k < t[i].nrest; k++)
      cs_pcur_close(rest[k]);
    if (rc) return rc;
  }
  return 0;
}

/* Term dependence (as in the sequential dependence model's ordered
 * windows): each pair of question terms next to each other in the question
 * (stop words between them allowed) adds SDM_ORDERED x the rarer term's
 * idf x n/(n+1) when the passage holds them n times in the same order
 * within the same gap (+1). The unordered windows of the model measured
 * nothing on top of the proximity bonus (bench/RESULTS.md). v is sorted by
 * position (cs__proximity sorted it). The environment variable
 * CS_BENCH_QA_NO_DEPENDENCE turns it off, for bench/qa_steps.sh only. */
#define SDM_ORDERED (refit() ? 0.25 : 0.5)

static double dependence(const qa_term *t, size_t nt, const cs__ppos *v, size_t n) {
  double bonus = 0;
  for (size_t a = 0; a < nt; a++) {
    if (t[a].group != a) continue;
    size_t b = a + 1;
    while (b < nt && t[b].group != b)
      b++;
    /* (the checklist's related words are no part of the question) */
    if (b >= nt || t[b].qpos <= t[a].qpos || t[a].weight < 1 || t[b].weight < 1) continue;
    uint32_t gap = t[b].qpos - t[a].qpos, ord = 0;
    for (size_t x = 0; x < n; x++) {
      if (v[x].leaf != a) continue;
      for (size_t y = x + 1; y < n && v[y].pos - v[x].pos <= gap + 1; y++)
        ord += v[y].leaf == b;
    }
    double idf = t[a].idf < t[b].idf ? t[a].idf : t[b].idf;
    bonus += idf * SDM_ORDERED * ord / (ord + 1.0);
  }
  return bonus;
}

/* Densest window: the idf mass of the distinct question terms (an
 * expansion counting for its word) found together within WINDOW_SPAN
 * positions of the passage, the best such window, times WINDOW_WEIGHT. A
 * question is usually written from one sentence of the passage that
 * answers it, so its rare words come back close together there, where
 * another passage of the same subject has them scattered. Chosen on the
 * tuning half of SQuAD-es (bench/analysis.md). v is sorted by position;
 * CS_BENCH_QA_NO_WINDOW turns it off, for bench/qa_steps.sh only. */
#define WINDOW_SPAN 15
#define WINDOW_WEIGHT 0.7

static double densest_window(const qa_term *t, const cs__ppos *v, size_t n) {
  uint32_t cnt[QA_TERMS_MAX] = {0};
  double mass = 0, best = 0;
  size_t lo = 0;
  for (size_t hi = 0; hi < n; hi++) {
    if (cnt[v[hi].leaf]++ == 0) mass += t[v[hi].leaf].idf;
    for (; v[hi].pos - v[lo].pos >= WINDOW_SPAN; lo++)
      if (--cnt[v[lo].leaf] == 0) mass -= t[v[lo].leaf].idf;
    if (mass > best) best = mass;
  }
  return WINDOW_WEIGHT * best;
}

/* Adds the proximity, dependence and densest-window bonuses to the best
 * candidates (sorted by score on entry, by docid on return) and takes off
 * their local discrimination share. */
static int proximity(cs_reader *r, const cs__ranker *rk, const qa_term *t, size_t nt, cand *c,
                     size_t nc) {
  if (nt < 2 || nc == 0) return 0;
  /* c is sorted by score here: the local pool is its head. */
  size_t pool = nc < LOCAL_POOL ? nc : LOCAL_POOL, held[QA_TERMS_MAX] = {0};
  for (size_t k = 0; k < pool; k++)
    for (size_t i = 0; i < nt; i++)
      held[i] += (c[k].matched >> i) & 1;
  /* (a share among a few candidates, e.g. the passages of one conversation,
   * says nothing about the rest: then no local discrimination) */
  double local =
      pool < LOCAL_POOL || getenv("CS_BENCH_QA_NO_LOCAL") ? 0 : LOCAL_WEIGHT / LOCAL_POOL;
  qsort(c, nc, sizeof *c, cand_by_docid);
  double mean_idf = 0, own = 0;
  for (size_t i = 0; i < nt; i++)
    own += t[i].group == i;
  for (size_t i = 0; i < nt; i++)
    mean_idf += t[i].group == i ? t[i].idf / own : 0;
  cs__ppos *pv = NULL;
  size_t *np = calloc(nc, sizeof *np), *capp = calloc(nc, sizeof *capp);
  cs__ppos **lists = calloc(nc, sizeof *lists);
  int rc = np && capp && lists ? 0 : CS_ENOMEM;
  int with_dependence = getenv("CS_BENCH_QA_NO_DEPENDENCE") == NULL;
  int with_window = getenv("CS_BENCH_QA_NO_WINDOW") == NULL;
  for (size_t i = 0; !rc && i < nt; i++) {
    cs_pcur *cur;
    if (t[i].nrest || cs_pcur_open(r, t[i].key, t[i].len, &cur)) continue;
    for (size_t k = 0; !rc && k < nc; k++) {
      cs_pcur_next_geq(cur, c[k].docid);
      /* (not matched: a name word, for analysts) */
      if (cs_pcur_docid(cur) != c[k].docid || !(c[k].matched & (1ull << i))) continue;
      const uint32_t *pos;
      uint32_t n;
      if (held[i] && local > 0)
        c[k].score -= local * (double)held[i] * t[i].weight * t[i].idf *
                      cs__bm25_tf(rk, CS_DOC_PASSAGE, cs_pcur_tf(cur), cs_pcur_len(cur));
      if (cs_pcur_positions(cur, &pos, &n)) continue;
      if (cs_grow((void **)&lists[k], &capp[k], np[k] + n, sizeof *lists[k])) {
        rc = CS_ENOMEM;
        break;
      }
      for (uint32_t j = 0; j < n; j++)
        lists[k][np[k]++] = (cs__ppos){pos[j], t[i].group};
    }
    cs_pcur_close(cur);
  }
  for (size_t k = 0; !rc && k < nc; k++) {
    if (np[k] > 1) c[k].score += cs__proximity(lists[k], np[k], rk->p.proximity * mean_idf);
    if (np[k] > 1 && with_dependence) c[k].score += dependence(t, nt, lists[k], np[k]);
    if (np[k] > 1 && with_window) c[k].score += densest_window(t, lists[k], np[k]);
  }
  for (size_t k = 0; lists && k < nc; k++)
    free(lists[k]);
  free(lists);
  free(np);
  free(capp);
  free(pv);
  return rc;
}

static int passage_plain_text(cs_reader *r, uint32_t docid, cs_buf *out);

/* The surface words of re-analyzed passages, kept while the checklist asks
 * every relevant point of one conversation (the same few passages come
 * back for each point; analyzing them is most of a checklist's cost).
 * Each token is stored as a length byte and the folded word, a length byte
 * and its term, and a byte of SURF_* flags. */
enum { SURF_STOP = 1, SURF_NUMBER = 2, SURF_NAME = 4, SURF_SENTENCE = 8 };
typedef struct surf_ent {
  uint32_t docid;
  uint32_t len;  /* tokens that are not stop words */
  size_t at, nw; /* its words: from byte `at` of the store, nw of them */
  int ok;        /* the passage could be read and analyzed */
} surf_ent;

typedef struct surf_cache {
  surf_ent *v;
  size_t n, cap;
  cs_buf words;
} surf_cache;

static void surf_reset(surf_cache *sc) {
  sc->n = 0;
  cs_buf_reset(&sc->words);
  sc->words.err = 0;
}

static void surf_free(surf_cache *sc) {
  free(sc->v);
  cs_buf_free(&sc->words);
  memset(sc, 0, sizeof *sc);
}

/* Whether the word at byte `at` of s (len bytes) starts with a capital letter (ASCII or
 * Latin-1 accented: a name, most of the time) and does not open a sentence. */
static int is_name(const char *s, size_t len, size_t at) {
  if (at >= len) return 0;
  unsigned char c0 = (unsigned char)s[at];
  unsigned char c1 = c0 == 0xC3 && at + 1 < len ? (unsigned char)s[at + 1] : 0;
  if (!(c0 >= 'A' && c0 <= 'Z') && !(c1 >= 0x80 && c1 <= 0x9E && c1 != 0x97)) return 0;
  size_t i = at;
  while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '"' || s[i - 1] == '(' || s[i - 1] == '\n'))
    i--;
  return i > 0 && s[i - 1] != '.' && s[i - 1] != '?' && s[i - 1] != '!' && s[i - 1] != ':';
}

/* Whether the word at byte `at` of s opens a sentence (or the text). */
static int opens_sentence(const char *s, size_t at) {
  size_t i = at;
  while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '"' || s[i - 1] == '(' || s[i - 1] == '\n'))
    i--;
  return i == 0 || s[i - 1] == '.' || s[i - 1] == '?' || s[i - 1] == '!' || s[i - 1] == ';';
}

/* The entry of passage docid in sc, analyzing it when it is not there. */
static const surf_ent *surface(cs_reader *r, cs_analyzer *an, surf_cache *sc, uint32_t docid,
                               cs_buf *text) {
  for (size_t i = 0; i < sc->n; i++) {
    if (sc->v[i].docid == docid) return &sc->v[i];
  }
  if (cs_grow_from((void **)&sc->v, &sc->cap, sc->n + 1, sizeof *sc->v, 32)) return NULL;
  surf_ent *e = &sc->v[sc->n];
  memset(e, 0, sizeof *e);
  e->docid = docid;
  e->at = sc->words.len;
  const cs_token *toks;
  size_t n;
  if (passage_plain_text(r, docid, text) == 0 &&
      cs_analyze(an, "es", (const char *)text->p, text->len, &toks, &n) == 0) {
    for (size_t j = 0; j < n; j++) {
      e->len += !(toks[j].flags & CS_TOK_STOP);
      size_t wl = toks[j].word_len < 255 ? toks[j].word_len : 255;
      size_t tl = toks[j].term_len < 255 ? toks[j].term_len : 255;
      cs_buf_u8(&sc->words, (uint8_t)wl);
      cs_buf_bytes(&sc->words, toks[j].word, wl);
      cs_buf_u8(&sc->words, (uint8_t)tl);
      cs_buf_bytes(&sc->words, toks[j].term, tl);
      cs_buf_u8(
          &sc->words,
          (uint8_t)((toks[j].flags & CS_TOK_STOP ? SURF_STOP : 0) |
                    (toks[j].flags & CS_TOK_NUMBER ? SURF_NUMBER : 0) |
                    (is_name((const char *)text->p, text->len, toks[j].start) ? SURF_NAME : 0) |
                    (opens_sentence((const char *)text->p, toks[j].start) ? SURF_SENTENCE : 0)));
    }
    e->nw = n;
    e->ok = 1;
  }
  if (sc->words.err) return NULL;
  sc->n++;
  return e;
}

/* The token after w in a surface cache's words. */
static const uint8_t *surf_next(const uint8_t *w) {
  w += 1 + w[0];
  return w + 1 + w[0] + 1;
}

/* Expected answer: a question asking when, how many or how much (cuándo,
 * cuántos, qué año...) is answered by a number, one asking who or where
 * (quién, dónde) by a name. The passage that answers it holds such a token
 * among the question's words, in the sentence the question was written
 * from; another passage of the same subject often holds the words without
 * it. The best window of ANSWER_SPAN positions holding an answer token (one
 * that is no question word) adds ANSWER_WEIGHT x the idf mass of the
 * distinct question terms in it. Chosen on the tuning half of SQuAD-es
 * (bench/analysis.md); CS_BENCH_QA_NO_ANSWER turns it off, for
 * bench/qa_steps.sh only. */
enum { ANSWER_ANY, ANSWER_NUMBER, ANSWER_NAME };

#define ANSWER_SPAN 10
#define ANSWER_WEIGHT 0.7

/* Best sentence: a question is usually written from one sentence of the
 * passage that answers it; the idf mass of the distinct question terms in
 * the passage's best sentence (an expansion counting for its word; a
 * sentence ends at . ? ! or ;) adds SENTENCE_WEIGHT x it, beside the
 * densest window (which crosses sentence ends). Refitted with the surface
 * and dependence weights (see SURFACE_WEIGHT). */
#define SENTENCE_WEIGHT (refit() ? 0.375 : 0.0)

/* Longest ordered run: question words found one after the other in the
 * passage in the question's order (stop words between them allowed, each
 * next one at most RUN_QGAP question positions after the previous: "un
 * pase de 45 yardas" for "¿Quién estaba recibiendo un pase de 45 yardas de
 * Cam Newton?"), the idf mass of the best such run x RUN_WEIGHT: the n-gram
 * form of the ordered dependence, which only sees pairs. Only the
 * question's own words make a run: a word matched through an expansion
 * (lemma, synonym, thesaurus, prefix, name) ends it, as any other word
 * does, rather than counting at its question word's whole idf. Chosen on
 * the tuning half of SQuAD-es (bench/analysis.md). */
#define RUN_WEIGHT 0.65
#define RUN_QGAP 3

static int answer_kind(cs_analyzer *an, const char *q) {
  static const char *const number[] = {"cuando", "cuanto", "cuanta", "cuantos",    "cuantas",
                                       "año",    "años",   "fecha",  "porcentaje", "siglo"};
  static const char *const name[] = {"quien", "quienes", "donde"};
  if (getenv("CS_BENCH_QA_NO_ANSWER")) return ANSWER_ANY;
  const cs_token *toks;
  size_t n;
  if (cs_analyze(an, "es", q, strlen(q), &toks, &n)) return ANSWER_ANY;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < sizeof number / sizeof *number; j++)
      if (!strcmp(toks[i].word, number[j])) return ANSWER_NUMBER;
    for (size_t j = 0; j < sizeof name / sizeof *name; j++)
      if (!strcmp(toks[i].word, name[j])) return ANSWER_NAME;
  }
  return ANSWER_ANY;
}

/* The answer-type and best-sentence bonuses of a passage (its nw tokens at
 * w, a surface cache's words), added to *score; -1 when out of memory. */
static int surface_windows(const qa_term *t, size_t nt, uint64_t matched, const uint8_t *w,
                           size_t nw, int kind, double *score) {
  if (nw == 0) return 0;
  int16_t *g = malloc(nw * sizeof *g), *x = malloc(nw * sizeof *x);
  uint8_t *opens = malloc(nw);
  if (!g || !x || !opens) {
    free(g);
    free(x);
    free(opens);
    return -1;
  }
  /* g[j]: the question term token j stands for, -2 an answer token, -3 a
   * stop word, -1 none of these; x[j]: the term that matched it (the
   * question term itself or one of its expansions) */
  for (size_t j = 0; j < nw; j++, w = surf_next(w)) {
    const uint8_t *term = w + 1 + w[0];
    uint8_t flags = term[1 + term[0]];
    g[j] = x[j] = -1;
    opens[j] = (flags & SURF_SENTENCE) != 0;
    if (flags & SURF_STOP) {
      g[j] = -3;
      continue;
    }
    for (size_t i = 0; i < nt && g[j] < 0; i++)
      if ((matched & (1ull << i)) && !t[i].nrest && t[i].len - 1 == term[0] &&
          memcmp(t[i].key + 1, term + 1, term[0]) == 0) {
        g[j] = (int16_t)t[i].group;
        x[j] = (int16_t)i;
      }
    if (g[j] < 0 && kind != ANSWER_ANY &&
        (flags & (kind == ANSWER_NUMBER ? SURF_NUMBER : SURF_NAME)))
      g[j] = -2;
  }
  uint32_t cnt[QA_TERMS_MAX] = {0}, answers = 0;
  double mass = 0, best = 0;
  for (size_t hi = 0, lo = 0; kind != ANSWER_ANY && hi < nw; hi++) {
    if (g[hi] == -2) answers++;
    if (g[hi] >= 0 && cnt[g[hi]]++ == 0) mass += t[g[hi]].idf;
    for (; hi - lo >= ANSWER_SPAN; lo++) {
      if (g[lo] == -2) answers--;
      if (g[lo] >= 0 && --cnt[g[lo]] == 0) mass -= t[g[lo]].idf;
    }
    if (answers && mass > best) best = mass;
  }
  *score += ANSWER_WEIGHT * best;
  /* the best sentence */
  uint64_t seen = 0;
  mass = best = 0;
  for (size_t j = 0; j <= nw; j++) {
    if (j == nw || opens[j]) {
      if (mass > best) best = mass;
      mass = 0;
      seen = 0;
      if (j == nw) break;
    }
    if (g[j] >= 0 && !(seen & (1ull << g[j]))) {
      seen |= 1ull << g[j];
      mass += t[g[j]].idf;
    }
  }
  *score += SENTENCE_WEIGHT * best;
  /* the longest ordered run (a stop word continues it, any other word or a
   * sentence start ends it) */
  double run = 0, longest = 0;
  int last = -1, with_run = getenv("CS_BENCH_QA_NO_RUN") == NULL;
  for (size_t j = 0; with_run && j < nw; j++) {
    /* only the question's own words, as written or stemmed alike: a word
     * matched through an expansion, or a checklist point's related word (at
     * its place in the list of related words, not in the question), ends
     * the run like any other word */
    int own = g[j] >= 0 && x[j] == g[j] && t[x[j]].weight >= 1;
    if (opens[j] || (g[j] != -3 && !own)) last = -1;
    if (!own) continue;
    int next = last >= 0 && t[g[j]].qpos > t[last].qpos && t[g[j]].qpos <= t[last].qpos + RUN_QGAP;
    run = next ? run + t[g[j]].idf : t[g[j]].idf;
    last = g[j];
    if (run > longest) longest = run;
  }
  *score += RUN_WEIGHT * longest;
  free(g);
  free(x);
  free(opens);
  return 0;
}

/* Surface-form bonus and coordination for the best candidates: each
 * passage's words are re-analyzed (only these few), so the index needs no
 * second copy of the passages under their unstemmed words. sc (may be
 * NULL) keeps the analyses for later calls on the same passages. */
static int rerank(cs_reader *r, cs_analyzer *an, surf_cache *sc, const cs__ranker *rk,
                  const qa_term *t, size_t nt, int kind, cand *c, size_t nc) {
  double total = 0;
  for (size_t i = 0; i < nt; i++)
    total += t[i].group == i ? t[i].idf * t[i].weight : 0;
  double surface_w = SURFACE_WEIGHT;
  cs_buf text;
  cs_buf_init(&text);
  surf_cache own;
  memset(&own, 0, sizeof own);
  int rc = 0;
  for (size_t k = 0; k < nc && !rc; k++) {
    double got = 0;
    for (size_t i = 0; i < nt; i++) {
      if (t[i].group != i) continue;
      /* A question term counts fully when present, or for the best of its
       * expansions that is (their weight, its idf). */
      double best = 0;
      for (size_t j = i; j < nt; j++) {
        if (t[j].group == i && (c[k].matched & (1ull << j)) && t[j].weight > best)
          best = t[j].weight;
      }
      got += t[i].idf * best;
    }
    const surf_ent *e = NULL;
    if (k < SURFACE_DEPTH) {
      if (!sc) surf_reset(&own);
      e = surface(r, an, sc ? sc : &own, c[k].docid, &text);
      if (!e) rc = CS_ENOMEM;
    }
    if (e && e->ok) {
      const uint8_t *base = (sc ? sc : &own)->words.p;
      for (size_t i = 0; i < nt; i++) {
        if (t[i].weight < 1.0 || !(c[k].matched & (1ull << i))) continue;
        uint32_t tf = 0;
        const uint8_t *w = base + e->at;
        for (size_t j = 0; j < e->nw; j++, w = surf_next(w))
          tf += w[0] == t[i].word_len && memcmp(w + 1, t[i].word, t[i].word_len) == 0;
        if (tf) c[k].score += surface_w * t[i].idf * cs__bm25_tf(rk, CS_DOC_PASSAGE, tf, e->len);
      }
      if (surface_windows(t, nt, c[k].matched, base + e->at, e->nw, kind, &c[k].score))
        rc = CS_ENOMEM;
    }
    if (total > 0) c[k].score *= pow(got / total, COORD_ALPHA);
  }
  surf_free(&own);
  cs_buf_free(&text);
  return rc;
}

/* The person a question is about: among many candidates (a question over
 * several people), a person whose conversations hold many of the reranked
 * candidates is more likely the one asked about than a person with a lone
 * passage that shares a few of its words (the question's subject, "Kublai",
 * is held by all of them, so local discrimination took its weight away).
 * Each candidate's score is multiplied by 1 + PERSON_WEIGHT x the share of
 * the nc candidates that belong to conversations of the same person. Only
 * among at least LOCAL_POOL candidates, as local discrimination; within one
 * person's conversations it changes no order. Chosen on the tuning half of
 * SQuAD-es, whose paragraphs of one article are conversations of one
 * person (bench/analysis.md); CS_BENCH_QA_NO_PERSON turns it off, for
 * bench/qa_steps.sh only. */
#define PERSON_WEIGHT 1.0

static int same_person(cs_reader *r, const cs__convs *convs, cand *c, size_t nc) {
  uint64_t *who = malloc(nc * sizeof *who);
  if (!who) return CS_ENOMEM;
  for (size_t k = 0; k < nc; k++) {
    /* (unreadable: a person of its own) */
    who[k] = UINT64_MAX - k;
    if (convs) {
      uint32_t next;
      size_t hint = 0;
      long i = cs__convs_find(convs, c[k].docid, &next, &hint);
      if (i >= 0) who[k] = convs->r[i].patient;
      continue;
    }
    cs_doc d;
    cs_conv cv;
    if (!cs_reader_doc(r, c[k].docid, &d) && !cs_reader_conv(r, d.conversation_id, &cv))
      who[k] = cv.patient_id;
  }
  /* One person (a question scoped to a person or a conversation, the
   * checklist): a factor the same for all would only scale the scores
   * reported. A score not above 0 (damaged statistics) is left alone:
   * multiplied it would fall. */
  size_t one = 1;
  while (one < nc && who[one] == who[0])
    one++;
  for (size_t k = 0; k < nc && one < nc; k++) {
    size_t same = 0;
    for (size_t j = 0; j < nc; j++)
      same += who[j] == who[k];
    if (c[k].score > 0) c[k].score *= 1 + PERSON_WEIGHT * (double)same / (double)nc;
  }
  free(who);
  return 0;
}

/* Ranks passages for the terms; *out gets up to `k` candidates, best first
 * (malloc'd). The analyzer (borrowed) re-analyzes the best candidates. */
static int rank_passages(cs_reader *r, cs_analyzer *an, surf_cache *sc, qa_term *t, size_t nt,
                         int kind, const scope *s, uint32_t k, cand **out, size_t *nout) {
  *out = NULL;
  *nout = 0;
  cs_stats st;
  int rc = cs__ts_stats(&s->ts, &st);
  if (rc) return rc;
  cs__rank_params prm;
  cs__rank_defaults(&prm);
  prm.kind_weight[CS_DOC_PASSAGE] = 1.0;
  cs__ranker rk;
  cs__ranker_init(&rk, &prm, &st);
  double n = (double)st.docs[CS_DOC_PASSAGE];
  for (size_t i = 0; i < nt; i++) {
    cs_lex lex = {0, 0};
    cs__ts_lex(&s->ts, t[i].key, t[i].len, &lex);
    double df = (double)lex.df;
    /* A phrase: as rare as its rarest word (an underestimate). */
    for (uint8_t w = 0; w < t[i].nrest; w++) {
      cs_lex lk = {0, 0};
      cs__ts_lex(&s->ts, t[i].rest[w], t[i].rest_len[w], &lk);
      if ((double)lk.df < df) df = (double)lk.df;
    }
    t[i].unindexed = df <= 0;
    t[i].via_idf = 0;
    t[i].idf = df > 0 ? log(1.0 + (n - df + 0.5) / (df + 0.5)) : 0;
    if (t[i].group != i) t[i].scale = t[t[i].group].scale;
    t[i].idf *= t[i].scale;
  }
  /* A question word no passage holds ("Luther", written "Lutero") is found
   * only through its expansions: it counts, in the question's idf mass
   * (coordination, windows), as rare as the rarest of them, not as nothing
   * (then a passage holding its expansion lost the whole question's mass). */
  for (size_t i = 0; i < nt; i++) {
    qa_term *h = &t[t[i].group];
    if (t[i].group != i && h->unindexed && t[i].idf > h->via_idf) h->via_idf = t[i].idf;
  }
  for (size_t i = 0; i < nt; i++)
    if (t[i].group == i && t[i].unindexed) t[i].idf = t[i].via_idf;
  acc a = {0};
  rc = score_terms(r, &rk, t, nt, s, &a);
  if (rc) {
    free(a.v);
    return rc;
  }
  size_t m = 0;
  for (size_t i = 0; i < a.cap; i++) {
    if (a.v[i].docid) a.v[m++] = a.v[i];
  }
  if (m) qsort(a.v, m, sizeof *a.v, cand_by_score);
  size_t top = m < QA_RERANK ? m : QA_RERANK;
  rc = proximity(r, &rk, t, nt, a.v, top);
  if (!rc && top) qsort(a.v, top, sizeof *a.v, cand_by_score);
  if (!rc) rc = rerank(r, an, sc, &rk, t, nt, kind, a.v, top);
  if (rc) {
    free(a.v);
    return rc;
  }
  if (top >= LOCAL_POOL && !getenv("CS_BENCH_QA_NO_PERSON"))
    rc = same_person(r, s->convs, a.v, top);
  if (rc) {
    free(a.v);
    return rc;
  }
  if (top) qsort(a.v, top, sizeof *a.v, cand_by_score);
  *out = a.v;
  *nout = top < k ? top : k;
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

/* Calls fn with each turn of passage p and the part [from, to) of its text
 * the passage covers, in seq order: one walk over the conversation's turn
 * blocks from first_seq to last_seq (seqs missing in between cost
 * nothing). */
typedef int (*slice_fn)(void *ctx, const cs_turn *t, uint32_t from, uint32_t to);
typedef struct slice_walk {
  const cs_passage *p;
  slice_fn fn;
  void *ctx;
} slice_walk;

enum { SLICES_DONE = 1 };

static int slice_each(void *ctx, const cs_turn *t) {
  slice_walk *w = ctx;
  const cs_passage *p = w->p;
  if (t->seq > p->last_seq) return SLICES_DONE;
  uint32_t from = t->seq == p->first_seq ? p->first_off : 0;
  uint32_t to = t->seq == p->last_seq ? p->last_end : (uint32_t)t->text.len;
  int rc = to > t->text.len || from > to ? 0 : w->fn(w->ctx, t, from, to);
  /* Stopping on the last turn spares decompressing the next block. */
  return rc ? rc : t->seq == p->last_seq ? SLICES_DONE : 0;
}

static int passage_slices(cs_reader *r, uint64_t conv, const cs_passage *p, slice_fn fn,
                          void *ctx) {
  slice_walk w = {p, fn, ctx};
  int rc = cs_reader_turns(r, conv, p->first_seq, CS_TURNS_TEXT, slice_each, &w);
  return rc == SLICES_DONE ? 0 : rc;
}

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
  rc = passage_slices(r, d.conversation_id, &p, render_slice, &rx);
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
static int passage_plain_text(cs_reader *r, uint32_t docid, cs_buf *out) {
  cs_doc d;
  cs_passage p;
  int rc = cs_reader_doc(r, docid, &d);
  if (!rc) rc = cs_reader_passage(r, d.conversation_id, (uint32_t)d.seq, &p);
  if (rc) return rc;
  cs_buf_reset(out);
  rc = passage_slices(r, d.conversation_id, &p, plain_slice, out);
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

static int question_terms(const char *q, const char *category, qa_term *t, size_t *nt,
                          cs_engine_error *err) {
  cs_analyzer *an = cs__analyzer_get();
  if (!an) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  *nt = 0;
  int rc = add_terms(an, q, strlen(q), 1.0, t, nt);
  size_t own = *nt;
  for (size_t i = 0; !rc && category && i < sizeof related / sizeof related[0]; i++) {
    if (!strcmp(category, related[i].category))
      rc = add_terms(an, related[i].words, strlen(related[i].words), 0.5, t, nt);
  }
  cs__analyzer_put(an);
  if (rc) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  if (own == 0) {
    cs_engine_err(err, 400, "bad_query", "the question has no searchable words");
    return -1;
  }
  return 0;
}

/* Adds entry e (a word, or a phrase on its first word) standing for
 * question term `group` at `weight`, unless the question has it already. */
static void add_entry(const cs__syn_seq *e, uint32_t group, double weight, qa_term *t, size_t *nt) {
  if (*nt >= QA_TERMS_MAX || e->n == 0 || e->n > QA_PHRASE_MAX) return;
  size_t kl = e->len[0] + 1u;
  for (size_t m = 0; m < *nt && e->n == 1; m++)
    if (!t[m].nrest && t[m].len == kl && memcmp(t[m].key + 1, e->stem[0], kl - 1) == 0) return;
  qa_term *x = &t[(*nt)++];
  memset(x, 0, sizeof *x);
  x->key[0] = CS_PASSAGE_PREFIX;
  memcpy(x->key + 1, e->stem[0], kl - 1);
  x->len = kl;
  for (uint8_t k = 1; k < e->n; k++) {
    x->rest[x->nrest][0] = CS_PASSAGE_PREFIX;
    memcpy(x->rest[x->nrest] + 1, e->stem[k], e->len[k]);
    x->rest_len[x->nrest] = (uint8_t)(e->len[k] + 1);
    x->rest_off[x->nrest++] = e->pos[k];
  }
  x->weight = weight;
  x->group = group;
}

/* The administrator's synonyms of each question term (synonyms.h), at
 * CS__W_SYNONYM as in the search box; a phrase synonym matches as a phrase,
 * and question words in a row that make a phrase entry ("piso de alquiler")
 * add its synonyms, standing for the first of them. */
static void synonym_terms(const cs__synonyms *syn, qa_term *t, size_t *nt) {
  size_t own = *nt;
  if (!syn) return;
  cs__syn_seq *q = calloc(own ? own : 1, sizeof *q);
  for (size_t i = 0; q && i < own; i++) {
    q[i].n = 1;
    q[i].len[0] = (uint8_t)(t[i].len - 1);
    memcpy(q[i].stem[0], t[i].key + 1, t[i].len - 1);
  }
  for (size_t i = 0; i < own; i++) {
    const char *st[CS__SYN_EXPAND];
    uint8_t sl[CS__SYN_EXPAND];
    size_t ns = cs__synonyms_lookup(syn, t[i].key + 1, t[i].len - 1, st, sl, CS__SYN_EXPAND);
    for (size_t j = 0; j < ns; j++) {
      cs__syn_seq one = {.n = 1, .len = {sl[j]}};
      memcpy(one.stem[0], st[j], sl[j]);
      add_entry(&one, (uint32_t)i, CS__W_SYNONYM, t, nt);
    }
    const cs__syn_seq *me[CS__SYN_EXPAND];
    uint8_t used[CS__SYN_EXPAND];
    size_t nm = q ? cs__synonyms_multi(syn, &q[i], own - i, me, used, CS__SYN_EXPAND) : 0;
    for (size_t j = 0; j < nm; j++)
      add_entry(me[j], (uint32_t)i, CS__W_SYNONYM, t, nt);
  }
  free(q);
}

/* Lemma expansion (lemmas.h): each question word's hunspell lemmas whose
 * stem differs from the word's, at LEMMA_WEIGHT (chosen on the tuning half
 * of SQuAD-es, bench/RESULTS.md). */
#define LEMMA_WEIGHT 0.8

static void lemma_terms(cs__lemmas *lm, cs_analyzer *an, qa_term *t, size_t *nt) {
  size_t own = *nt;
  for (size_t i = 0; lm && i < own; i++) {
    if (t[i].group != i || t[i].weight < 1.0) continue;
    char lem[CS__LEMMA_MAX][CS__LEMMA_LEN];
    size_t nl = cs__lemmas_of(lm, t[i].surf, t[i].surf_len, lem);
    for (size_t j = 0; j < nl && *nt < QA_TERMS_MAX; j++) {
      const cs_token *toks;
      size_t ntok;
      if (cs_analyze(an, "es", lem[j], strlen(lem[j]), &toks, &ntok)) return;
      if (ntok != 1 || (toks[0].flags & CS_TOK_STOP)) continue;
      size_t kl = (size_t)toks[0].term_len + 1;
      int dup = 0;
      for (size_t m = 0; m < *nt && !dup; m++)
        dup = t[m].len == kl && memcmp(t[m].key + 1, toks[0].term, kl - 1) == 0;
      if (dup) continue;
      qa_term *x = &t[(*nt)++];
      memset(x, 0, sizeof *x);
      x->key[0] = CS_PASSAGE_PREFIX;
      memcpy(x->key + 1, toks[0].term, kl - 1);
      x->len = kl;
      x->weight = LEMMA_WEIGHT;
      x->group = (uint32_t)i;
    }
  }
}

/* Thesaurus expansion of a question (thesaurus.h): each question word's
 * synonyms, most shared among its meanings first, at most THES_PER_WORD of
 * them, each weighing THES_WEIGHT x its share of the word's meanings (so an
 * ambiguous word's synonyms count less), and none already in the question.
 * A multi-word synonym ("llevar a cabo") is a phrase: its words at their
 * positions (stop words keep their place). THES_WEIGHT was chosen on the tuning
 * half of SQuAD-es: no setting measurably helps or hurts there
 * (bench/RESULTS.md); paraphrase in that corpus is rarely a thesaurus
 * synonym. */
#define THES_WEIGHT 0.1
#define THES_PER_WORD 4

static void thesaurus_terms(const cs__thesaurus *th, cs_analyzer *an, qa_term *t, size_t *nt) {
  size_t own = *nt;
  for (size_t i = 0; th && i < own; i++) {
    cs__thes_syn syn[16];
    size_t ns = cs__thesaurus_lookup(th, t[i].word, t[i].word_len, syn, 16), added = 0;
    for (size_t j = 0; j < ns && added < THES_PER_WORD && *nt < QA_TERMS_MAX; j++) {
      const cs_token *toks;
      size_t ntok, content = 0, at = SIZE_MAX;
      if (cs_analyze(an, "es", syn[j].text, syn[j].len, &toks, &ntok)) return;
      for (size_t k = 0; k < ntok; k++) {
        if (!(toks[k].flags & CS_TOK_STOP)) {
          content++;
          if (at == SIZE_MAX) at = k;
        }
      }
      if (content == 0 || content > QA_PHRASE_MAX) continue;
      size_t kl = (size_t)toks[at].term_len + 1;
      int dup = 0;
      for (size_t m = 0; m < *nt && !dup && content == 1; m++)
        dup = !t[m].nrest && t[m].len == kl && memcmp(t[m].key + 1, toks[at].term, kl - 1) == 0;
      if (dup) continue;
      qa_term *x = &t[(*nt)++];
      memset(x, 0, sizeof *x);
      for (size_t k = at + 1; k < ntok; k++) {
        if (toks[k].flags & CS_TOK_STOP) continue;
        x->rest[x->nrest][0] = CS_PASSAGE_PREFIX;
        memcpy(x->rest[x->nrest] + 1, toks[k].term, toks[k].term_len);
        x->rest_len[x->nrest] = (uint8_t)(toks[k].term_len + 1);
        x->rest_off[x->nrest++] = (uint8_t)(toks[k].pos - toks[at].pos);
      }
      x->key[0] = CS_PASSAGE_PREFIX;
      memcpy(x->key + 1, toks[at].term, kl - 1);
      x->len = kl;
      x->weight = THES_WEIGHT * syn[j].share;
      x->word_len = toks[at].word_len < CS_TERM_MAX ? toks[at].word_len : CS_TERM_MAX;
      memcpy(x->word, toks[at].word, x->word_len);
      x->group = (uint32_t)i;
      added++;
    }
  }
}

/* Prefix fallback: forms Snowball does not bring together (names spelt
 * or translated slightly differently, derivations such as "coloniza" /
 * "colonial" or "catedrático" / "cátedra") often share a long beginning. Each question word whose
 * stem is longer than PREFIX_LEN bytes also matches up to PREFIX_PER_WORD other indexed passage
 * terms starting with its first PREFIX_LEN bytes, at PREFIX_WEIGHT (tuning half of SQuAD-es,
 * bench/analysis.md). CS_BENCH_QA_NO_PREFIX turns it off, for bench/qa_steps.sh only. */
#define PREFIX_LEN 5
#define PREFIX_PER_WORD 4
#define PREFIX_WEIGHT 0.3
#define PREFIX_SCAN 64 /* lexicon keys looked at per word */

typedef struct prefix_ctx {
  const qa_term *t, *q;
  size_t nt, n, scanned;
  struct {
    char key[CS_TERM_MAX + 2];
    size_t len, lcp;
  } v[PREFIX_PER_WORD];
} prefix_ctx;

/* Keeps the PREFIX_PER_WORD terms sharing the longest beginning with the
 * question word (the first ones in key order among equals). */
static int each_prefixed(void *ctx, cs_slice k, cs_slice v) {
  (void)v;
  prefix_ctx *c = ctx;
  if (c->scanned++ == PREFIX_SCAN) return 1;
  if (k.len > CS_TERM_MAX + 1) return 0;
  for (size_t m = 0; m < c->nt; m++)
    if (!c->t[m].nrest && c->t[m].len == k.len && memcmp(c->t[m].key, k.data, k.len) == 0) return 0;
  const char *kd = k.data;
  size_t lcp = 0;
  while (lcp < k.len && lcp < c->q->len && kd[lcp] == c->q->key[lcp])
    lcp++;
  size_t at = c->n;
  while (at > 0 && c->v[at - 1].lcp < lcp)
    at--;
  if (at == PREFIX_PER_WORD) return 0;
  if (c->n < PREFIX_PER_WORD) c->n++;
  memmove(&c->v[at + 1], &c->v[at], (c->n - 1 - at) * sizeof c->v[0]);
  memcpy(c->v[at].key, k.data, k.len);
  c->v[at].len = k.len;
  c->v[at].lcp = lcp;
  return 0;
}

static int prefix_terms(cs_reader *r, qa_term *t, size_t *nt) {
  if (getenv("CS_BENCH_QA_NO_PREFIX")) return 0;
  size_t own = *nt;
  for (size_t i = 0; i < own; i++) {
    if (t[i].group != i || t[i].weight < 1 || t[i].nrest || t[i].len < PREFIX_LEN + 2) continue;
    prefix_ctx c = {.t = t, .q = &t[i], .nt = *nt};
    int rc = cs_reader_scan(r, CS_T_LEX, t[i].key, PREFIX_LEN + 1, each_prefixed, &c);
    if (rc < 0) return rc;
    for (size_t j = 0; j < c.n && *nt < QA_TERMS_MAX; j++) {
      qa_term *x = &t[(*nt)++];
      memset(x, 0, sizeof *x);
      memcpy(x->key, c.v[j].key, c.v[j].len);
      x->len = c.v[j].len;
      x->weight = PREFIX_WEIGHT;
      x->group = (uint32_t)i;
    }
  }
  return 0;
}

/* Names spelt otherwise, and words no passage holds: a name in the
 * question (a word capitalized inside it, is_name), or any question word
 * no passage in scope holds (a typo, a spelling the index lacks), of at
 * least NAME_CHARS letters also matches the indexed words within NAME_EDITS
 * edits of it ("Luther" / "Lutero"), the search box's typo expansion
 * (expand.h), at most NAME_PER_WORD of them at NAME_WEIGHT. Translated
 * questions and paragraphs often spell a foreign name differently. Chosen
 * on the tuning half of SQuAD-es (bench/analysis.md); CS_BENCH_QA_NO_NAMES
 * turns it off, for bench/qa_steps.sh only. */
#define NAME_EDITS 2
#define NAME_WEIGHT 0.3
#define NAME_PER_WORD 2
#define NAME_CHARS 5

static int name_terms(const scope *s, qa_term *t, size_t *nt) {
  if (getenv("CS_BENCH_QA_NO_NAMES")) return 0;
  size_t own = *nt;
  for (size_t i = 0; i < own; i++) {
    if (t[i].group != i || t[i].weight < 1 || t[i].nrest || t[i].word_len < NAME_CHARS) continue;
    if (!t[i].name) {
      cs_lex lex = {0, 0};
      cs__ts_lex(&s->ts, t[i].key, t[i].len, &lex);
      if (lex.df > 0) continue;
    }
    cs__qword w;
    memset(&w, 0, sizeof w);
    memcpy(w.term, t[i].key + 1, t[i].len - 1);
    w.term_len = (uint8_t)(t[i].len - 1);
    memcpy(w.word, t[i].word, t[i].word_len);
    w.word_len = (uint8_t)t[i].word_len;
    for (size_t j = 0; j < t[i].word_len; j++)
      w.chars += ((unsigned char)t[i].word[j] & 0xC0) != 0x80;
    cs__variant v[16];
    uint32_t nv = 0;
    int rc = cs__expand(&s->ts, &w, 0, NAME_EDITS, 16, v, &nv);
    if (rc) return rc;
    size_t added = 0;
    for (uint32_t j = 0; j < nv && added < NAME_PER_WORD && *nt < QA_TERMS_MAX; j++) {
      if (v[j].exact || v[j].edits == 0) continue;
      size_t kl = (size_t)v[j].len + 1;
      int dup = 0;
      for (size_t m = 0; m < *nt && !dup; m++)
        dup = !t[m].nrest && t[m].len == kl && memcmp(t[m].key + 1, v[j].term, kl - 1) == 0;
      if (dup) continue;
      qa_term *x = &t[(*nt)++];
      memset(x, 0, sizeof *x);
      x->key[0] = CS_PASSAGE_PREFIX;
      memcpy(x->key + 1, v[j].term, kl - 1);
      x->len = kl;
      x->weight = NAME_WEIGHT;
      x->group = (uint32_t)i;
      added++;
    }
  }
  return 0;
}

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
  if (question_terms(p->question, NULL, t, &nt, err)) return -1;
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
  int kind = answer_kind(an, p->question);
  for (size_t i = 0; i < nt && !getenv("CS_BENCH_QA_NO_FOCUS"); i++)
    if (t[i].focus) t[i].scale = FOCUS_SCALE;
  synonym_terms(cs__synonyms_current(), t, &nt);
  lemma_terms(cs__engine_lemmas(e), an, t, &nt);
  thesaurus_terms(cs__engine_thesaurus(e), an, t, &nt);
  scope s;
  int status = -1;
  cand *cands = NULL;
  size_t nc = 0;
  if (build_scope(v.r, c, p->conversation_id, p->patient_id, &s, err)) goto out;
  if (cs_view_convs(&v, &s.convs)) s.convs = NULL; /* same_person reads the index */
  if (name_terms(&s, t, &nt) || prefix_terms(v.r, t, &nt) ||
      rank_passages(v.r, an, NULL, t, nt, kind, &s, k, &cands, &nc)) {
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
  surf_free(&cl->sc);
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
    cl->pts[i].ok = question_terms(q, cat, cl->pts[i].t, &cl->pts[i].nt, &ignored) == 0;
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
    surf_reset(&cl->sc);
    cl->sc_first = rg.first;
    cl->sc_end = rg.end;
  }
  cand *best = NULL;
  size_t nb = 0;
  int rc = rank_passages(cl->r, cl->an, &cl->sc, pt->t, pt->nt, ANSWER_ANY, &s, 1, &best, &nb);
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
