/*
 * Ranking arithmetic and the top-k heap (see rank.h).
 *
 * BM25 follows Lucene's BM25Similarity as Anserini runs it (k1 = 0.9,
 * b = 0.4, idf = ln(1 + (N - df + 0.5)/(df + 0.5))), with two differences
 * that do not change the order within one field: the classic (k1 + 1)
 * factor is kept, and document lengths are exact token counts rather than
 * Lucene's one-byte approximation. Each document kind has its own average
 * length, and a weight: a word in a conversation's title says more about
 * it than the same word in one of its five hundred turns.
 */
#include "rank.h"

#include "errors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cs__rank_defaults(cs__rank_params *p) {
  memset(p, 0, sizeof *p);
  p->k1 = 0.9;
  p->b = 0.4;
  for (int k = 0; k < CS_DOC_KINDS; k++)
    p->kind_weight[k] = 1.0;
  p->kind_weight[CS_DOC_TITLE] = 2.0;
  p->kind_weight[CS_DOC_DESCRIPTION] = 1.5;
  p->proximity = 1.0;
  p->second_share = 0.25;
  p->third_share = 0.1;
}

void cs__ranker_init(cs__ranker *rk, const cs__rank_params *p, const cs_stats *st) {
  memset(rk, 0, sizeof *rk);
  rk->p = *p;
  /* Documents that share the term space of a search: passages are indexed
   * under prefixed terms (records.h) and never hold a search term. */
  double n = 0;
  for (int k = 1; k < CS_DOC_KINDS; k++) {
    if (k != CS_DOC_PASSAGE) n += (double)st->docs[k];
  }
  rk->ndocs = n;
  for (int k = 0; k < CS_DOC_KINDS; k++) {
    double avg = st->docs[k] ? (double)st->tokens[k] / (double)st->docs[k] : 1.0;
    if (avg <= 0) avg = 1.0;
    rk->avgdl[k] = avg;
    rk->norm_a[k] = p->k1 * (1.0 - p->b);
    rk->norm_b[k] = p->k1 * p->b / avg;
    rk->top[k] = p->kind_weight[k] * (p->k1 + 1.0);
  }
}

double cs__idf(const cs__ranker *rk, uint64_t df) {
  double d = (double)df;
  double x = (rk->ndocs - d + 0.5) / (d + 0.5);
  if (x < 0) x = 0;
  return log(1.0 + x);
}

double cs__bm25_bound(const cs__ranker *rk, unsigned kinds, uint32_t max_tf, uint32_t min_len) {
  double best = 0;
  for (int k = 1; k < CS_DOC_KINDS; k++) {
    if (!(kinds & (1u << k))) continue;
    double s = cs__bm25_tf(rk, k, max_tf, min_len);
    if (s > best) best = s;
  }
  return best;
}

double cs__bm25_limit(const cs__ranker *rk, unsigned kinds) {
  double best = 0;
  for (int k = 1; k < CS_DOC_KINDS; k++) {
    if ((kinds & (1u << k)) && rk->top[k] > best) best = rk->top[k];
  }
  return best;
}

static int ppos_cmp(const void *a, const void *b) {
  const cs__ppos *x = a, *y = b;
  if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
  return x->leaf < y->leaf ? -1 : x->leaf > y->leaf;
}

double cs__proximity(cs__ppos *v, size_t n, double scale) {
  if (n < 2 || scale <= 0) return 0;
  if (n <= 64) {
    /* Few, and runs already in order (each clause's positions): insertion
     * into (pos, leaf) order, as ppos_cmp's. */
    for (size_t i = 1; i < n; i++) {
      cs__ppos e = v[i];
      size_t j = i;
      for (; j > 0 && (v[j - 1].pos > e.pos || (v[j - 1].pos == e.pos && v[j - 1].leaf > e.leaf));
           j--)
        v[j] = v[j - 1];
      v[j] = e;
    }
  } else {
    qsort(v, n, sizeof *v, ppos_cmp);
  }
  double acc = 0;
  for (size_t i = 1; i < n; i++) {
    if (v[i].leaf == v[i - 1].leaf) continue;
    uint32_t d = v[i].pos - v[i - 1].pos;
    if (d == 0 || d > CS__PROX_WINDOW) continue;
    acc += 1.0 / ((double)d * (double)d);
  }
  return scale * acc / (1.0 + acc);
}

double cs__conv_score(const cs__ranker *rk, double s1, double s2, double s3) {
  return s1 + rk->p.second_share * s2 + rk->p.third_share * s3;
}

double cs__conv_bound(const cs__ranker *rk, double best_bound) {
  return best_bound * (1.0 + rk->p.second_share + rk->p.third_share);
}

/* ---------------------------------------------------------------- order */

int cs__key_cmp(int sort, const cs__key *a, const cs__key *b) {
  if (sort == CS__SORT_RELEVANCE) {
    if (a->tier != b->tier) return a->tier > b->tier ? -1 : 1;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
  }
  int dir = sort == CS__SORT_DATE_ASC ? 1 : -1;
  if (a->created != b->created) return a->created < b->created ? -dir : dir;
  if (a->id != b->id) return a->id < b->id ? -dir : dir;
  return 0;
}

int cs__topk_init(cs__topk *h, int sort, uint32_t k, size_t size) {
  memset(h, 0, sizeof *h);
  h->sort = sort;
  h->k = k ? k : 1;
  h->size = size;
  h->v = malloc((size_t)h->k * size);
  h->tmp = malloc(size);
  if (!h->v || !h->tmp) {
    cs__topk_free(h);
    return CS_ENOMEM;
  }
  return 0;
}

void cs__topk_free(cs__topk *h) {
  free(h->v);
  free(h->tmp);
  h->v = h->tmp = NULL;
  h->n = 0;
}

/* "Worse" entries rise to the root. */
static int worse(const cs__topk *h, uint32_t i, uint32_t j) {
  return cs__key_cmp(h->sort, (const cs__key *)(h->v + i * h->size),
                     (const cs__key *)(h->v + j * h->size)) > 0;
}

static void swap(cs__topk *h, uint32_t i, uint32_t j) {
  memcpy(h->tmp, h->v + i * h->size, h->size);
  memcpy(h->v + i * h->size, h->v + j * h->size, h->size);
  memcpy(h->v + j * h->size, h->tmp, h->size);
}

static void sift_down(cs__topk *h, uint32_t i, uint32_t n) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && worse(h, l, w)) w = l;
    if (r < n && worse(h, r, w)) w = r;
    if (w == i) return;
    swap(h, i, w);
    i = w;
  }
}

const cs__key *cs__topk_threshold(const cs__topk *h) {
  return h->n == h->k ? (const cs__key *)h->v : NULL;
}

int cs__topk_push(cs__topk *h, const void *entry) {
  if (h->n < h->k) {
    uint32_t i = h->n++;
    memcpy(h->v + i * h->size, entry, h->size);
    while (i > 0) {
      uint32_t parent = (i - 1) / 2;
      if (!worse(h, i, parent)) break;
      swap(h, i, parent);
      i = parent;
    }
    return 1;
  }
  if (cs__key_cmp(h->sort, entry, (const cs__key *)h->v) >= 0) return 0;
  memcpy(h->v, entry, h->size);
  sift_down(h, 0, h->n);
  return 1;
}

void cs__topk_sort(cs__topk *h) {
  /* Heap sort: repeatedly move the worst to the end. */
  for (uint32_t n = h->n; n > 1; n--) {
    swap(h, 0, n - 1);
    sift_down(h, 0, n - 1);
  }
}
