/*
 * Ranking (internal to the query engine): BM25 per document with field
 * weights, a proximity bonus, the grouping of document scores into a
 * conversation score, the order of results, and a bounded top-k heap.
 * Everything here is arithmetic on numbers the caller read from postings;
 * this module never sees the index.
 */
#ifndef CS_QUERY_RANK_H
#define CS_QUERY_RANK_H

#include "records.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs__rank_params {
  double k1, b;                     /* BM25; defaults 0.9, 0.4 (Anserini's) */
  double kind_weight[CS_DOC_KINDS]; /* by CS_DOC_*: turn 1.0, title 2.0, description 1.5 */
  double proximity;                 /* proximity bonus weight, 0: off (default 1.0) */
  double second_share, third_share; /* grouping, see cs__conv_score (0.25, 0.1) */
} cs__rank_params;

void cs__rank_defaults(cs__rank_params *p);

/* Constants of one query: parameters folded with collection statistics. */
typedef struct cs__ranker {
  cs__rank_params p;
  double ndocs;
  double avgdl[CS_DOC_KINDS];
  double norm_a[CS_DOC_KINDS]; /* k1 (1 - b) */
  double norm_b[CS_DOC_KINDS]; /* k1 b / avgdl */
  double top[CS_DOC_KINDS];    /* kind weight x (k1 + 1) */
} cs__ranker;

/* `st` gives document and token counts per kind (averages per kind: titles
 * are short, turns long). */
void cs__ranker_init(cs__ranker *rk, const cs__rank_params *p, const cs_stats *st);

/* BM25 idf as Lucene/Anserini compute it: ln(1 + (N - df + 0.5) / (df + 0.5)),
 * never negative. */
double cs__idf(const cs__ranker *rk, uint64_t df);

/* The tf part of BM25 times the kind's weight:
 *   w_kind (k1 + 1) tf / (tf + k1 (1 - b + b len / avgdl_kind)).
 * A term's contribution is idf x boost x this. */
static inline double cs__bm25_tf(const cs__ranker *rk, int kind, uint32_t tf, uint32_t len) {
  return rk->top[kind] * tf / (tf + rk->norm_a[kind] + rk->norm_b[kind] * len);
}

/* Largest cs__bm25_tf over the kinds in `kinds` (mask of 1 << CS_DOC_*) for
 * tf <= max_tf and len >= min_len: BM25 grows with tf and falls with
 * length, so this bounds a block (block-max pruning). */
double cs__bm25_bound(const cs__ranker *rk, unsigned kinds, uint32_t max_tf, uint32_t min_len);
/* Same without block information: the limit as tf grows. */
double cs__bm25_limit(const cs__ranker *rk, unsigned kinds);

/* Proximity. Matched positions of one document, tagged with the query
 * clause ("leaf") they belong to. */
typedef struct cs__ppos {
  uint32_t pos;
  uint32_t leaf;
} cs__ppos;

/* Bonus for different clauses close together in one document: over the
 * matched positions in text order, every neighbouring pair from two
 * different clauses at distance d <= CS__PROX_WINDOW adds 1/d^2 to acc, and
 * the bonus is scale x acc / (1 + acc), so it saturates below `scale` (the
 * caller passes proximity weight x mean idf of the clauses). Sorts v. */
#define CS__PROX_WINDOW 8
double cs__proximity(cs__ppos *v, size_t n, double scale);

/* A conversation's score from its documents' scores (its turns, title,
 * description): with s1 >= s2 >= s3 its three best document scores (0 when
 * fewer match),
 *
 *   conv = s1 + second_share x s2 + third_share x s3      (0.25, 0.1)
 *
 * The best turn decides; a conversation where the subject comes back in
 * other turns gains a little (up to 35%). Only the three best count, which
 * are also the three snippets shown, so a document that cannot beat the
 * third best can be skipped without scoring it (block-max skipping inside a
 * conversation, search.c). cs__conv_bound gives the most a conversation can
 * score when no document scores above best_bound. */
double cs__conv_score(const cs__ranker *rk, double s1, double s2, double s3);
double cs__conv_bound(const cs__ranker *rk, double best_bound);

/* ---------------------------------------------------------------- order */

enum { CS__SORT_RELEVANCE = 0, CS__SORT_DATE_ASC = 1, CS__SORT_DATE_DESC = 2 };

/* The order of results. Relevance: tier (exact matches of expanded words,
 * see search.c) descending, then score descending, then recency (created_at
 * descending), then id descending. Date: created_at, then id, in the chosen
 * direction. Every key is distinct (ids are), so paging is stable. */
typedef struct cs__key {
  int32_t tier;
  double score;
  int64_t created;
  uint64_t id;
} cs__key;

/* < 0 when a comes first, > 0 when b does, 0 when equal. */
int cs__key_cmp(int sort, const cs__key *a, const cs__key *b);

/* A bounded heap of the best `k` entries; each entry is `size` bytes and
 * starts with a cs__key. The worst kept entry is at the root, so a
 * candidate is compared with it in O(1) and replaces it in O(log k). */
typedef struct cs__topk {
  int sort;
  uint32_t k, n;
  size_t size;
  uint8_t *v;
  uint8_t *tmp;
} cs__topk;

int cs__topk_init(cs__topk *h, int sort, uint32_t k, size_t size); /* CS_ENOMEM */
void cs__topk_free(cs__topk *h);
/* The entry a candidate must beat once the heap is full, else NULL. */
const cs__key *cs__topk_threshold(const cs__topk *h);
/* Adds entry (copied) if it belongs to the best k; returns 1 if kept. */
int cs__topk_push(cs__topk *h, const void *entry);
/* Sorts the entries best first, in place (the heap is spent). */
void cs__topk_sort(cs__topk *h);
static inline void *cs__topk_at(cs__topk *h, uint32_t i) {
  return h->v + (size_t)i * h->size;
}

#endif
