/*
 * Passages ranked for a question (qa_int.h): BM25 over the passage field
 * in scope, then for the best candidates proximity, term dependence, the
 * densest window, local discrimination, surface forms, answer type, best
 * sentence, longest ordered run and the person asked about.
 */
#include "qa_int.h"
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

#define QA_RERANK 64

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

/* Scores every passage in scope that holds a question term. */

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

void cs__qa_surf_reset(surf_cache *sc) {
  sc->n = 0;
  cs_buf_reset(&sc->words);
  sc->words.err = 0;
}

void cs__qa_surf_free(surf_cache *sc) {
  free(sc->v);
  cs_buf_free(&sc->words);
  memset(sc, 0, sizeof *sc);
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
  if (cs__qa_passage_plain_text(r, docid, text) == 0 &&
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
                    (cs__qa_is_name((const char *)text->p, text->len, toks[j].start) ? SURF_NAME
                                                                                     : 0) |
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
      if (!sc) cs__qa_surf_reset(&own);
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
  cs__qa_surf_free(&own);
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

static int same_person(cs_reader *r, cs_view *view, cand *c, size_t nc) {
  /* Built once per generation and shared, so only asked for here. */
  const cs__convs *convs = NULL;
  if (view && cs_view_convs(view, &convs)) convs = NULL; /* then read the records */
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
int cs__qa_rank_passages(cs_reader *r, cs_analyzer *an, surf_cache *sc, qa_term *t, size_t nt,
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
  if (top >= LOCAL_POOL && !getenv("CS_BENCH_QA_NO_PERSON")) rc = same_person(r, s->view, a.v, top);
  if (rc) {
    free(a.v);
    return rc;
  }
  if (top) qsort(a.v, top, sizeof *a.v, cand_by_score);
  *out = a.v;
  *nout = top < k ? top : k;
  return 0;
}
