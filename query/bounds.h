/*
 * What the modules of a conversation's scoring share (query-internal):
 * bounds.c bounds a conversation before it is scored, score.c scores the
 * ones that can make the page, skip.c passes those that cannot without
 * matching them.
 */
#ifndef CS_QUERY_BOUNDS_H
#define CS_QUERY_BOUNDS_H

#include "search_int.h"

#include <stdint.h>

/* Keeps the three largest values, largest first. */
static inline void cs__keep_top3(double top[3], double score) {
  if (score <= top[2]) return;
  int i = 2;
  while (i > 0 && top[i - 1] < score) {
    top[i] = top[i - 1];
    i--;
  }
  top[i] = score;
}

/* A conversation of this many documents or more is long (ParlaMint's
 * sittings): score.c scores it term at a time, and conv_bound reads the
 * headers of a several-variant clause's chunks ahead in it. */
#define CS__LONG_CONV 128

/* A cursor's decoded documents in R, for bounds (conv_bound). */
typedef struct peek {
  const uint32_t *doc, *tf, *len;
  uint32_t n, j;
  uint32_t leaf;
  uint32_t end;  /* cs__skip_run: past the documents of the conversation */
  uint8_t exact; /* the variant is the word itself (tier) */
  double w;
  cs_pcur *cur; /* the variant's cursor (its positions: cs__docs_refine) */
} peek;

/* The most cs__proximity adds to a document where clauses with `occ`
 * matched positions in all, `most` of them the largest clause's, meet:
 * each neighbouring pair of positions of two clauses adds at most 1 to its
 * sum (distance >= 1), and a sequence has at most occ - 1 neighbouring
 * pairs, and at most 2 (occ - most) changes of clause. Fewer positions
 * (a phrase occurring less often than its rarest word, a capped list)
 * only lower it. Two words once each: half the scale. */
static inline double cs__prox_bound(double scale, uint64_t occ, uint64_t most) {
  uint64_t pairs = 2 * (occ - most) < occ - 1 ? 2 * (occ - most) : occ - 1;
  return scale * (double)pairs / (1.0 + (double)pairs);
}

/* What conversation bound b (cbound.h) allows a variant of weight w, at
 * the current average lengths. */
static inline double cs__cb_value(const cs__exec *x, double w, const cs_cbound *b) {
  return w * cs_cbound_scale(b, x->rk.avgdl) * (b->c / CS_CB_UNIT);
}

/* The three best document bounds of R (kept in m, cs__keep_top3) from the
 * decoded documents of the cursors in pk[0..np) (each from pk[].doc[0], at
 * or after R->f; grouped by clause): per document, the sum over clauses of
 * the best variant's score (a phrase: where all its words are, its rarest
 * word's tf), plus prox where two clauses meet. Moves pk[].j. Returns 0 or
 * CS_ENOMEM.
 *
 * Words (two or more, no phrase, at most 16 cursors): the documents where two or more meet and that
 * proximity's bound let into the three best are also kept aside, for
 * cs__docs_refine. */
int cs__docs_bound(cs__exec *x, const xrange *R, peek *pk, uint32_t np, double prox, double m[3]);

/* After cs__docs_bound of words, with the cursors where they were then: m
 * again, each document kept aside with the proximity its words' positions
 * give (cs__proximity as score.c's doc_proximity computes it, of the same
 * positions or more: bounds.c's doc_prox) instead of its bound, where
 * that bound would still let it into the three best. For words of one
 * variant the bound is then the score's own, but for the turn filters,
 * which only lower the score. Returns 1 when m was refined, 0 when it
 * could not be (not words, too many such documents), or CS_ENOMEM. */
int cs__docs_refine(cs__exec *x, double prox, double m[3]);

#endif
