/*
 * Top-k and bounds: a conversation's score bound before scoring it
 * (MaxScore at the conversation level), block-max skipping inside a
 * conversation and, past the counting bound, over whole chunks of
 * conversations; scoring of the conversations that can make the page, and
 * the estimated total.
 */
#include "search_int.h"

#include "errors.h"
#include "expand.h"
#include "varint.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keeps the three largest values, largest first. */
static void keep_top3(double top[3], double score) {
  if (score <= top[2]) return;
  int i = 2;
  while (i > 0 && top[i - 1] < score) {
    top[i] = top[i - 1];
    i--;
  }
  top[i] = score;
}

/* A cursor's decoded documents in R, for bounds (conv_bound). */
typedef struct peek {
  const uint32_t *doc, *tf, *len;
  uint32_t n, j;
  uint32_t leaf;
  uint32_t end;  /* cs__skip_run: past the documents of the conversation */
  uint8_t exact; /* the variant is the word itself (tier) */
  double w;
} peek;

/* A clause whose documents score by their tf like a word's: a word, or a
 * one-word phrase (a quoted word: its occurrences are its tf). */
static inline int tf_clause(const xleaf *l) {
  return l->type == CS__N_TERM || l->nvar == 1;
}

/* Below this many cursors, conv_bound's merge is cheaper than
 * bound_docs_dense (a short prefix has up to CS__EXPAND_MAX). */
#define DENSE_MIN_CURSORS 8

/* The document bounds of conv_bound's merge, kept in m (keep_top3), by
 * accumulating into arrays indexed by docid - R->f instead of merging the
 * cursors document by document: one pass per cursor, where the merge
 * looks at every cursor for every document. The same sums in the same
 * order (clause by clause), so the same bounds bit for bit. Only for many
 * cursors of term clauses with many documents for the span they cover
 * (long conversations: ParlaMint's sittings). Returns 1 when done, 0 when
 * the merge must do it, or CS_ENOMEM. */
static int bound_docs_dense(cs__exec *x, const xrange *R, const peek *pk, uint32_t np, double prox,
                            double m[3]) {
  if (np < DENSE_MIN_CURSORS) return 0;
  uint32_t hi = R->f, ndocs = 0;
  for (uint32_t a = 0; a < np; a++) {
    if (!tf_clause(&x->leaves[pk[a].leaf])) return 0;
    uint32_t j = 0;
    while (j < pk[a].n && pk[a].doc[j] < R->e)
      j++;
    if (j && pk[a].doc[j - 1] + 1 > hi) hi = pk[a].doc[j - 1] + 1;
    ndocs += j;
  }
  /* The merge costs about a step per cursor per document, this a few per
   * document of the span. */
  size_t span = hi - R->f;
  if (!span || (size_t)np * ndocs < 8 * span) return 0;
  if (cs_grow((void **)&x->dsum, &x->dsum_cap, 2 * span, sizeof *x->dsum) ||
      cs_grow((void **)&x->dleaves, &x->dleaves_cap, span, sizeof *x->dleaves))
    return CS_ENOMEM;
  double *sum = x->dsum, *best = x->dsum + span;
  uint8_t *leaves = x->dleaves;
  memset(sum, 0, span * sizeof *sum);
  memset(leaves, 0, span);
  for (uint32_t a = 0; a < np;) {
    uint32_t li = pk[a].leaf, b = a;
    while (b < np && pk[b].leaf == li)
      b++;
    const xleaf *l = &x->leaves[li];
    /* The clause's best variant per document (one variant: itself). */
    if (b - a > 1) memset(best, 0, span * sizeof *best);
    for (uint32_t c = a; c < b; c++) {
      const peek *p = &pk[c];
      for (uint32_t j = 0; j < p->n && p->doc[j] < R->e; j++) {
        uint32_t d = p->doc[j];
        int kind = kind_of(R, d);
        if (!(l->fields & (1u << kind))) continue;
        double sc = p->w * cs__bm25_tf(&x->rk, kind, p->tf[j], p->len[j]);
        if (b - a > 1) {
          if (sc > best[d - R->f]) best[d - R->f] = sc;
        } else if (sc > 0) {
          sum[d - R->f] += sc;
          leaves[d - R->f] += leaves[d - R->f] < 2; /* 0, 1, 2: two or more */
        }
      }
    }
    if (b - a > 1) {
      for (size_t i = 0; i < span; i++) {
        if (best[i] > 0) {
          sum[i] += best[i];
          leaves[i] += leaves[i] < 2;
        }
      }
    }
    a = b;
  }
  for (size_t i = 0; i < span; i++) {
    if (sum[i] > 0) keep_top3(m, leaves[i] >= 2 ? sum[i] + prox : sum[i]);
  }
  return 1;
}

/* The most cs__proximity adds to a document where clauses with `occ`
 * matched positions in all, `most` of them the largest clause's, meet:
 * each neighbouring pair of positions of two clauses adds at most 1 to its
 * sum (distance >= 1), and a sequence has at most occ - 1 neighbouring
 * pairs, and at most 2 (occ - most) changes of clause. Fewer positions
 * (a phrase occurring less often than its rarest word, a capped list)
 * only lower it. Two words once each: half the scale. */
static inline double prox_bound(double scale, uint64_t occ, uint64_t most) {
  uint64_t pairs = 2 * (occ - most) < occ - 1 ? 2 * (occ - most) : occ - 1;
  return scale * (double)pairs / (1.0 + (double)pairs);
}

/* docs_bound for one word clause of several variants (a prefix, a typo
 * expansion): a document's bound is its best variant's score, alone (no
 * proximity with one clause). The three best documents are kept with
 * their docids (md), so that each counts once, with its best: the merge's
 * values, without merging the cursors. */
static void bound_one_clause(cs__exec *x, const xrange *R, const peek *pk, uint32_t np,
                             double m[3]) {
  unsigned fields = x->leaves[pk[0].leaf].fields;
  uint32_t md[3] = {END, END, END};
  for (uint32_t a = 0; a < np; a++) {
    const peek *p = &pk[a];
    for (uint32_t j = 0; j < p->n && p->doc[j] < R->e; j++) {
      uint32_t d = p->doc[j];
      int kind = kind_of(R, d);
      if (!(fields & (1u << kind))) continue;
      double sc = p->w * cs__bm25_tf(&x->rk, kind, p->tf[j], p->len[j]);
      int i = md[0] == d ? 0 : md[1] == d ? 1 : md[2] == d ? 2 : 3;
      if (i < 3) {
        if (sc <= m[i]) continue;
        for (; i < 2; i++) { /* out, to come back at its place */
          m[i] = m[i + 1];
          md[i] = md[i + 1];
        }
        m[2] = 0;
        md[2] = END;
      }
      if (sc <= m[2]) continue;
      i = 2;
      while (i > 0 && m[i - 1] < sc) {
        m[i] = m[i - 1];
        md[i] = md[i - 1];
        i--;
      }
      m[i] = sc;
      md[i] = d;
    }
  }
}

/* The three best document bounds of R (kept in m, keep_top3) from the
 * decoded documents of the cursors in pk[0..np) (each from pk[].doc[0], at
 * or after R->f; grouped by clause): per document, the sum over clauses of
 * the best variant's score (a phrase: where all its words are, its rarest
 * word's tf), plus prox where two clauses meet. Moves pk[].j. Returns 0 or
 * CS_ENOMEM. */
static int docs_bound(cs__exec *x, const xrange *R, peek *pk, uint32_t np, double prox,
                      double m[3]) {
  if (np >= 2 && pk[0].leaf == pk[np - 1].leaf && x->leaves[pk[0].leaf].type == CS__N_TERM) {
    bound_one_clause(x, R, pk, np, m);
    return 0;
  }
  int dense = bound_docs_dense(x, R, pk, np, prox, m);
  if (dense < 0) return dense;
  if (dense) {
    np = 0;
  } else if (np == 1 && tf_clause(&x->leaves[pk[0].leaf])) {
    /* One term (a single word, the commonest query): the merge below
     * without the merging, the same sums. */
    const peek *p = &pk[0];
    unsigned fields = x->leaves[p->leaf].fields;
    for (uint32_t j = 0; j < p->n && p->doc[j] < R->e; j++) {
      int kind = kind_of(R, p->doc[j]);
      if (!(fields & (1u << kind))) continue;
      double sc = p->w * cs__bm25_tf(&x->rk, kind, p->tf[j], p->len[j]);
      if (sc > 0) keep_top3(m, sc);
    }
    np = 0;
  } else if (np == 2 && pk[0].leaf != pk[1].leaf && tf_clause(&x->leaves[pk[0].leaf]) &&
             tf_clause(&x->leaves[pk[1].leaf])) {
    /* Two words, one variant each (an AND, a two-word question): the
     * merge below with two cursors, the same sums. */
    const peek *p = &pk[0], *q = &pk[1];
    unsigned fp = x->leaves[p->leaf].fields, fq = x->leaves[q->leaf].fields;
    uint32_t i = 0, j = 0;
    for (;;) {
      uint32_t dp = i < p->n ? p->doc[i] : END, dq = j < q->n ? q->doc[j] : END;
      uint32_t d = dp < dq ? dp : dq;
      if (d >= R->e) break;
      int kind = kind_of(R, d);
      double a = 0, b = 0;
      if (dp == d && (fp & (1u << kind))) a = p->w * cs__bm25_tf(&x->rk, kind, p->tf[i], p->len[i]);
      if (dq == d && (fq & (1u << kind))) b = q->w * cs__bm25_tf(&x->rk, kind, q->tf[j], q->len[j]);
      double doc = a + b;
      if (a > 0 && b > 0) {
        uint32_t tp = p->tf[i], tq = q->tf[j];
        doc += prox_bound(prox, (uint64_t)tp + tq, tp > tq ? tp : tq);
      }
      keep_top3(m, doc);
      i += dp == d;
      j += dq == d;
    }
    np = 0;
  }
  for (; np;) {
    uint32_t d = END;
    for (uint32_t a = 0; a < np; a++) {
      if (pk[a].j < pk[a].n && pk[a].doc[pk[a].j] < d) d = pk[a].doc[pk[a].j];
    }
    if (d >= R->e) break;
    int kind = kind_of(R, d);
    double doc = 0;
    int leaves = 0;
    uint64_t occ = 0, most = 0; /* matched positions: all, the largest clause's */
    for (uint32_t a = 0; a < np;) {
      uint32_t li = pk[a].leaf, b = a;
      while (b < np && pk[b].leaf == li)
        b++;
      const xleaf *l = &x->leaves[li];
      double lb = 0;
      uint64_t lo = 0;
      if (l->type == CS__N_TERM) {
        for (uint32_t c = a; c < b; c++) {
          const peek *p = &pk[c];
          if (p->j >= p->n || p->doc[p->j] != d) continue;
          double sc = p->w * cs__bm25_tf(&x->rk, kind, p->tf[p->j], p->len[p->j]);
          if (sc > lb) lb = sc;
          lo += p->tf[p->j];
        }
      } else {
        uint32_t tf = UINT32_MAX, len = 0, on = 0;
        for (uint32_t c = a; c < b; c++) {
          const peek *p = &pk[c];
          if (p->j >= p->n || p->doc[p->j] != d) continue;
          on++;
          if (p->tf[p->j] < tf) tf = p->tf[p->j];
          len = p->len[p->j];
        }
        if (on == b - a) lb = pk[a].w * cs__bm25_tf(&x->rk, kind, tf, len);
        lo = tf;
      }
      if (!(l->fields & (1u << kind))) lb = 0;
      doc += lb;
      leaves += lb > 0;
      if (lb > 0) {
        occ += lo;
        if (lo > most) most = lo;
      }
      a = b;
    }
    if (leaves >= 2) doc += prox_bound(prox, occ, most);
    keep_top3(m, doc);
    for (uint32_t a = 0; a < np; a++) {
      if (pk[a].j < pk[a].n && pk[a].doc[pk[a].j] == d) pk[a].j++;
    }
  }
  return 0;
}

/* What conversation bound b (cbound.h) allows a variant of weight w, at
 * the current average lengths. */
static inline double cb_value(const cs__exec *x, double w, const cs_cbound *b) {
  return w * cs_cbound_scale(b, x->rk.avgdl) * (b->c / CS_CB_UNIT);
}

/* What a document of R past v's current chunk scores at most for v's
 * clause (weight w, fields): the largest block bound of v's chunks ahead
 * that hold documents of R, read by their headers without decoding them
 * (0: none). Adds their conversation bounds to *cb while *cbs (a chunk
 * without one clears it). -1 when a header cannot be read (the caller
 * takes the limit; the walk's cursor reports a damaged chunk). */
static double bound_ahead(cs__exec *x, const xrange *R, xvar *v, double w, unsigned fields,
                          int *cbs, double *cb) {
  double u = 0;
  for (;;) {
    cs_chunk_head h;
    int rc = cs_pcur_head_next(v->cur, &h);
    if (rc == CS_ENOTFOUND) break;
    if (rc) {
      u = -1;
      break;
    }
    if (h.first >= R->e) break;
    double b = w * cs__bm25_bound(&x->rk, fields, h.max_tf, h.min_len);
    if (b > u) u = b;
    if (*cbs && h.has_cb)
      *cb += cb_value(x, w, &h.cb);
    else
      *cbs = 0;
    if (h.last >= R->e - 1) break;
  }
  cs_pcur_head_back(v->cur);
  return u;
}

/* Upper bound of R's key before scoring it. The cursors of R's first
 * documents sit in decoded chunks, so the tf and length of each document of
 * R in those chunks are at hand (cs_pcur_peek): merged in docid order, they
 * bound every such document's score exactly but for proximity (counted in
 * full where two clauses meet) and phrases (a phrase occurs at most as
 * often as its rarest word in the document, and only where all its words
 * are). The conversation bound is then cs__conv_score of the three best
 * document bounds. The tier bound counts the expanded words whose exact
 * term occurs in R. ub comes in with R's key (tier: any bonus) and goes out
 * with the bound.
 *
 * Before merging, a looser bound from the chunks' block maxima (largest tf,
 * shortest length, as skip_target's) costs a few operations per clause:
 * when it already ranks after th, so would the exact one, and R is ruled
 * out without the merge (most candidates of a frequent word are). For a
 * single word it is lowered to the sum of its chunks' conversation bounds
 * over R (cbound.h) where that is less.
 *
 * When a cursor goes on past its chunk inside R, the documents there are
 * not decoded yet, and any of them may hold every clause: the ones whose
 * documents in R are all decoded as well as the others. Such a document is
 * bounded by the sum over clauses of their block bound, or for those going
 * on the score limit, or for a single word the largest block bound of its
 * chunks ahead inside R, read by their headers (bound_ahead), and
 * proximity: the block-maxima bound itself, which then is R's bound (three
 * such documents may exist). Bounding those documents by the clauses going
 * on alone, as was done before, missed the others' share and could rule
 * out a conversation that belonged on the page (test_search's pruning
 * test, dense conversations). */
static int conv_bound(xsearch *s, const xrange *R, const cs__key *th, cs__key *ub) {
  cs__exec *x = s->x;
  if (cs_grow((void **)&x->pk, &x->pk_cap, x->nvars + 1, sizeof *x->pk)) return CS_ENOMEM;
  peek *pk = x->pk;
  uint32_t np = 0;
  int t = 0, cont = 0, present = 0;
  double bound = 0; /* R's bound, clause by clause */
  /* A single word (one clause, one variant): its chunks ahead and their
   * conversation bounds. Measured no use for several clauses (the sum
   * over clauses and proximity stay above the page) and a cost for a
   * prefix's few variants. */
  int one = x->nactive == 1;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !(l->fields & R->kinds) || !l->nvar) continue;
    /* The variants with a document in R: the first nin of x->lin (many),
     * or those of l->var on whose cursors are in R. */
    int all = 1, exact = 0, many = l->heap != HEAP_NONE;
    uint32_t nin = many ? cs__leaf_in(x, l, R->f, R->e, x->lin) : l->nvar;
    for (uint32_t k = 0; k < nin; k++) {
      const xvar *v = &x->vars[many ? x->lin[k] : l->var + k];
      int in = many || var_geq(&x->vars[l->var + k], R->f) < R->e;
      all &= in;
      exact |= in && v->exact;
    }
    if (l->type == CS__N_PHRASE && !all) continue;
    double lu = 0; /* bound of its documents past a cursor's chunk */
    double qb = 0; /* the clause's best block bound */
    double cb = 0; /* the sum of its chunks' conversation bounds over R */
    int few = one && l->nvar == 1, cbs = x->cb_ok && l->type == CS__N_TERM && few;
    uint32_t first = np;
    for (uint32_t k = 0; k < nin; k++) {
      xvar *v = &x->vars[many ? x->lin[k] : l->var + k];
      if (v->doc >= R->e) continue;
      peek *p = &pk[np++];
      p->n = cs_pcur_peek(v->cur, &p->doc, &p->tf, &p->len);
      p->j = 0;
      p->leaf = i;
      p->w = l->type == CS__N_TERM ? v->w : l->pw;
      p->exact = v->exact;
      /* A phrase occurs at most as often as each of its words. */
      double b = p->w * cs__bm25_bound(&x->rk, l->fields & R->kinds, cs_pcur_block_max_tf(v->cur),
                                       cs_pcur_block_min_len(v->cur));
      if (b > qb) qb = b;
      const cs_cbound *c = cbs ? cs_pcur_block_cbound(v->cur) : NULL;
      cbs = c != NULL;
      if (c) cb += cb_value(x, v->w, c);
      uint32_t last = cs_pcur_block_last(v->cur);
      if (last < R->e - 1) {
        cont = 1;
        /* Turns lie past it, and the description when the chunk ends on
         * the title. */
        unsigned past = CS__F_TURN;
        if (R->title != END && R->title > last) past |= CS__F_TITLE;
        if (R->desc != END && R->desc > last) past |= CS__F_DESC;
        double u = few ? bound_ahead(x, R, v, p->w, l->fields & past, &cbs, &cb) : -1;
        if (u < 0) {
          u = p->w * cs__bm25_limit(&x->rk, l->fields & past);
          cbs = 0;
        }
        if (u > lu) lu = u;
      }
    }
    if (np > first) present++;
    /* The clause's share of R's bound: cs__conv_bound of its documents'
     * best block bound, or less by the sum of its chunks' conversation
     * bounds (cbound.h: they add up over chunks and variants, the score
     * being subadditive). */
    double q = qb > lu ? qb : lu, share = cs__conv_bound(&x->rk, q);
    bound += cbs && cb < share ? cb : share;
    t += l->expanded && exact;
  }
  ub->tier += t;
  ub->score =
      (bound + (present >= 2 ? cs__conv_bound(&x->rk, x->prox_scale) : 0)) * (1 + 1e-9) + 1e-9;
  if (cs__key_cmp(s->sort, ub, th) > 0 || cont) return 0;
  double m[3] = {0, 0, 0};
  int rc = docs_bound(x, R, pk, np, present >= 2 ? x->prox_scale : 0, m);
  if (rc) return rc;
  ub->score = cs__conv_score(&x->rk, m[0], m[1], m[2]) * (1 + 1e-9) + 1e-9;
  return 0;
}

static int add_pp(cs__exec *x, size_t *n, uint32_t pos, uint32_t leaf) {
  if (*n >= POS_MAX) return 0;
  if (cs_grow((void **)&x->pp, &x->pp_cap, *n + 1, sizeof *x->pp)) return CS_ENOMEM;
  x->pp[*n].pos = pos;
  x->pp[*n].leaf = leaf;
  (*n)++;
  return 0;
}

static void keep_snippet(xhit *h, uint32_t d, double score) {
  int i = h->nsnip < SNIPPETS ? h->nsnip++ : SNIPPETS;
  if (i == SNIPPETS) {
    if (score <= h->snip_score[SNIPPETS - 1]) return;
    i = SNIPPETS - 1;
  }
  while (i > 0 && h->snip_score[i - 1] < score) {
    h->snip[i] = h->snip[i - 1];
    h->snip_score[i] = h->snip_score[i - 1];
    i--;
  }
  h->snip[i] = d;
  h->snip_score[i] = score;
}

/* Block-max skipping inside a conversation. Once three turns are scored,
 * a document scoring no more than the third best changes neither the
 * conversation's score (rank.h: only the three best count) nor its
 * snippets. The bound of every document up to L (the nearest end of the
 * cursors' current chunks) is the sum over clauses of their best chunk
 * bound; when it cannot beat the third best, all cursors jump past L
 * without decoding a position or computing a score. Exact matches that
 * would still raise the tier are never skipped.
 *
 * The bound only changes when a cursor enters another chunk, leaves the
 * conversation, or the first document passes the title and description:
 * sk remembers the last one computed (with each cursor's chunk end in
 * x->act_last), so that while it stays above the third best, a document
 * costs a comparison per cursor instead of a bound per cursor. */
typedef struct skip_memo {
  int valid;
  uint32_t na;
  unsigned kinds;
  double bound;
} skip_memo;

/* act[] holds each clause's cursors together: the end of the run of
 * act[a..na) that belongs to act[a]'s clause. */
static inline uint32_t clause_end(const cs__exec *x, const uint32_t *act, uint32_t na, uint32_t a) {
  uint32_t li = x->vars[act[a]].leaf, b = a + 1;
  while (b < na && x->vars[act[b]].leaf == li)
    b++;
  return b;
}

/* Returns the docid to skip to, or 0 when nothing can be skipped. */
static uint32_t skip_target(cs__exec *x, const xrange *R, const uint32_t *act, uint32_t na,
                            uint32_t mind, double theta, const uint64_t *exact_leaves,
                            skip_memo *sk) {
  unsigned kinds = R->kinds;
  if ((R->title == END || mind > R->title) && (R->desc == END || mind > R->desc))
    kinds = CS__F_TURN;
  if (sk->valid && sk->na == na && sk->kinds == kinds && sk->bound > theta) {
    uint32_t a = 0;
    while (a < na && x->vars[act[a]].doc <= x->act_last[a])
      a++;
    if (a == na) return 0; /* the same chunks: the same bound, still too high */
  }
  uint32_t L = R->e - 1;
  double bound = 0;
  int nl = 0;
  for (uint32_t a = 0; a < na;) {
    uint32_t li = x->vars[act[a]].leaf, b = clause_end(x, act, na, a);
    const xleaf *l = &x->leaves[li];
    unsigned k = kinds & l->fields;
    double lb = 0;
    if (k && l->type == CS__N_TERM) {
      int counted = li < 256 && ((exact_leaves[li >> 6] >> (li & 63)) & 1);
      for (uint32_t c = a; c < b; c++) {
        const xvar *v = &x->vars[act[c]];
        double vb = v->w * cs__bm25_bound(&x->rk, k, cs_pcur_block_max_tf(v->cur),
                                          cs_pcur_block_min_len(v->cur));
        if (vb > lb) lb = vb;
        uint32_t last = cs_pcur_block_last(v->cur);
        if (last < L) L = last;
        if (v->exact && l->expanded && !counted && v->doc <= L) L = v->doc - 1;
      }
    } else if (k && b - a == l->nvar) {
      /* A phrase occurs at most as often as each of its words, in a
       * document at least as long as each chunk's shortest: bounded by
       * its words' chunks, up to the nearest end. */
      uint32_t mtf = UINT32_MAX, mlen = 0;
      for (uint32_t c = a; c < b; c++) {
        const xvar *v = &x->vars[act[c]];
        uint32_t t = cs_pcur_block_max_tf(v->cur), n = cs_pcur_block_min_len(v->cur);
        if (t < mtf) mtf = t;
        if (n > mlen) mlen = n;
        uint32_t last = cs_pcur_block_last(v->cur);
        if (last < L) L = last;
      }
      lb = l->pw * cs__bm25_bound(&x->rk, k, mtf, mlen);
    }
    bound += lb;
    nl += lb > 0;
    a = b;
  }
  if (nl >= 2) bound += x->prox_scale;
  for (uint32_t a = 0; a < na; a++)
    x->act_last[a] = cs_pcur_block_last(x->vars[act[a]].cur);
  sk->valid = 1;
  sk->na = na;
  sk->kinds = kinds;
  sk->bound = bound;
  if (bound > theta || L < mind) return 0;
  return L + 1;
}

/* Whether a document whose score cannot exceed `bound` changes anything:
 * keep_top3 ignores a score <= the third best, keep_snippet (turns) one <=
 * the third snippet once three are kept. cs__proximity is below its scale,
 * and adding a smaller bonus never gives a larger sum, so skipping the
 * positions of such a document leaves scores and snippets bit for bit. */
static int prox_can_matter(const xhit *h, const double top[3], int kind, double bound) {
  if (bound > top[2]) return 1;
  return kind == CS_DOC_TURN && (h->nsnip < SNIPPETS || bound > h->snip_score[SNIPPETS - 1]);
}

/* A phrase occurs only in a document holding all its words: the cursors
 * of each phrase clause among act[0..na) leapfrog to the first document of
 * R they are all on (the documents they pass hold no occurrence), and a
 * phrase one of whose words has no document left in R leaves act (it
 * cannot occur in R any more). Keeps act's order; returns the new na. */
static uint32_t phrase_align(cs__exec *x, const xrange *R, uint32_t na) {
  uint32_t keep = 0;
  for (uint32_t a = 0; a < na;) {
    uint32_t li = x->vars[x->act[a]].leaf, b = clause_end(x, x->act, na, a);
    const xleaf *l = &x->leaves[li];
    int alive = 1;
    if (l->type == CS__N_PHRASE) {
      alive = b - a == l->nvar;
      uint32_t m = 0;
      for (uint32_t c = a; c < b && alive; c++) {
        uint32_t dc = x->vars[x->act[c]].doc;
        if (dc > m) m = dc;
      }
      for (int moved = alive; moved && m < R->e;) {
        moved = 0;
        for (uint32_t c = a; c < b; c++) {
          uint32_t dc = var_geq(&x->vars[x->act[c]], m);
          if (dc > m) {
            m = dc;
            moved = 1;
          }
        }
      }
      alive &= m < R->e;
    }
    for (uint32_t c = a; c < b && alive; c++)
      x->act[keep++] = x->act[c];
    a = b;
  }
  return keep;
}

/* Document d's score before proximity from the cursors of act[0..na) on
 * it (d of kind `kind`, passing the turn filters): per clause its best
 * variant (a phrase: its occurrences), summed clause by clause. Sets
 * x->leaf_score, the variants' mask bits and exact_leaves; *matched,
 * *occ and *most get the clauses met and their positions (all, the
 * largest clause's). Inlined into both callers, as the document-at-a-time
 * loop it was taken from was. */
static inline __attribute__((always_inline)) double
score_doc(cs__exec *x, uint32_t na, uint32_t d, int kind, uint64_t *mask, uint64_t exact_leaves[4],
          int *matched, uint64_t *occ, uint64_t *most) {
  double doc = 0;
  *matched = 0;
  *occ = 0;
  *most = 0;
  for (uint32_t a = 0; a < na;) {
    uint32_t li = x->vars[x->act[a]].leaf, b = clause_end(x, x->act, na, a);
    const xleaf *l = &x->leaves[li];
    double lbest = 0;
    uint64_t lo = 0; /* its positions in d */
    if (!(l->fields & (1u << kind))) {
      /* not a document this clause searches */
    } else if (l->type == CS__N_TERM) {
      int exact = 0;
      for (uint32_t c = a; c < b; c++) {
        xvar *v = &x->vars[x->act[c]];
        if (v->doc != d) continue;
        uint32_t tf = cs_pcur_tf(v->cur);
        double sc = v->w * cs__bm25_tf(&x->rk, kind, tf, cs_pcur_len(v->cur));
        if (sc > lbest) lbest = sc;
        lo += tf;
        exact |= v->exact;
        mask[x->act[c] >> 6] |= 1ull << (x->act[c] & 63);
      }
      if (exact && l->expanded && li < 256) exact_leaves[li >> 6] |= 1ull << (li & 63);
    } else if (b - a == l->nvar) {
      int all = 1;
      for (uint32_t c = a; c < b && all; c++)
        all = x->vars[x->act[c]].doc == d;
      uint32_t pf = all ? cs__phrase_freq(x, l, NULL, 0) : 0;
      if (pf) {
        lbest = l->pw * cs__bm25_tf(&x->rk, kind, pf, cs_pcur_len(x->vars[l->var].cur));
        lo = pf;
        for (uint32_t c = a; c < b; c++)
          mask[x->act[c] >> 6] |= 1ull << (x->act[c] & 63);
      }
    }
    x->leaf_score[li] = lbest;
    doc += lbest;
    *matched += lbest > 0;
    if (lbest > 0) {
      *occ += lo;
      if (lo > *most) *most = lo;
    }
    a = b;
  }
  return doc;
}

/* The proximity bonus of document d from the positions of the clauses met
 * there (x->leaf_score, score_doc's), the cursors of act[0..na) on it. */
static int doc_proximity(cs__exec *x, uint32_t na, uint32_t d, double *bonus) {
  size_t npp = 0;
  int rc = 0;
  *bonus = 0;
  for (uint32_t a = 0; a < na && !rc; a++) {
    xvar *v = &x->vars[x->act[a]];
    uint32_t li = v->leaf;
    const xleaf *l = &x->leaves[li];
    if (v->doc != d || x->leaf_score[li] <= 0) continue;
    if (l->type == CS__N_TERM) {
      const uint32_t *pos;
      uint32_t np;
      if (cs_pcur_positions(v->cur, &pos, &np)) continue;
      for (uint32_t j = 0; j < np && !rc; j++)
        rc = add_pp(x, &npp, pos[j], li);
    } else if (v == &x->vars[l->var]) {
      if (cs_grow((void **)&x->phr, &x->phr_cap, 64, sizeof *x->phr)) return CS_ENOMEM;
      uint32_t pf = cs__phrase_freq(x, l, x->phr, 64);
      for (uint32_t j = 0; j < pf && j < 64 && !rc; j++)
        rc = add_pp(x, &npp, x->phr[j], li);
    }
  }
  *bonus = cs__proximity(x->pp, npp, x->prox_scale);
  return rc;
}

/* Scores document d, the first of the cursors of act[0..na), document at
 * a time: its clauses (score_doc) where it passes the turn filters,
 * proximity where two clauses met and it can matter, kept in top and h's
 * snippets. */
static int score_one(xsearch *s, const xrange *R, xhit *h, uint32_t na, uint32_t d, uint64_t *mask,
                     uint64_t exact_leaves[4], double top[3]) {
  cs__exec *x = s->x;
  int rc = 0;
  int kind = kind_of(R, d);
  int pass = !s->cur_bits || ((s->cur_bits[(d - R->f) >> 3] >> ((d - R->f) & 7)) & 1);
  double doc = 0;
  int matched = 0;
  uint64_t occ = 0, most = 0; /* positions of the clauses met: all, the largest's */
  if (pass) doc = score_doc(x, na, d, kind, mask, exact_leaves, &matched, &occ, &most);
  /* Proximity needs positions: read them only when two clauses met, and
   * only when the bonus (at most prox_scale) could still move the
   * document into the conversation's three best or its snippets. */
  if (matched >= 2 && x->prox_scale > 0 &&
      (s->exhaustive ||
       prox_can_matter(h, top, kind, doc + prox_bound(x->prox_scale, occ, most)))) {
    double bonus;
    rc = doc_proximity(x, na, d, &bonus);
    doc += bonus;
  }
  if (doc > 0) {
    keep_top3(top, doc);
    if (kind == CS_DOC_TURN) keep_snippet(h, d, doc);
  }
  return rc;
}

/* Term-at-a-time accumulators of one document of a window (taat_window),
 * valid where its bit is set. */
typedef struct taat_doc {
  double sum;   /* the clauses' best variants so far, summed clause by clause */
  double lbest; /* the current clause's best variant (several variants) */
  uint64_t occ, most, lo;
  uint32_t matched;
} taat_doc;

/* score_conv's documents of [lo, hi) term at a time, when every cursor of
 * act[0..na) is a word's and sits in a decoded chunk holding all its
 * documents of the window: each cursor's documents straight from the chunk
 * (cs_pcur_peek) into per-document accumulators, clause after clause, so
 * that each document's sum is added in the document-at-a-time order (the
 * same bits: a sum starts at the first clause met, 0 + s being s). A
 * bitmap marks the documents met (another, a clause's several variants),
 * so that a window costs its documents, not its span. Mask bits and exact
 * tiers are the variants' with a document scored, as score_doc's. Then,
 * in docid order, proximity where two clauses met and it can matter (the
 * cursors moved to the document and score_doc's positions), keep_top3 and
 * the snippets, as document-at-a-time. Leaves the cursors at lo or after
 * (the caller moves them to hi). */
static int taat_window(xsearch *s, const xrange *R, xhit *h, uint32_t na, uint32_t lo, uint32_t hi,
                       uint64_t *mask, uint64_t exact_leaves[4], double top[3]) {
  cs__exec *x = s->x;
  size_t span = (size_t)(hi - lo), nw = (span + 63) / 64; /* (no wrap near 2^32) */
  if (cs_grow((void **)&x->td, &x->td_cap, span, sizeof *x->td) ||
      cs_grow((void **)&x->tbits, &x->tbits_cap, 2 * (size_t)nw, sizeof *x->tbits))
    return CS_ENOMEM;
  taat_doc *td = x->td;
  uint64_t *met = x->tbits, *lmet = x->tbits + nw;
  memset(met, 0, nw * sizeof *met);
  const uint8_t *bits = s->cur_bits;
  for (uint32_t a = 0; a < na;) {
    uint32_t li = x->vars[x->act[a]].leaf, b = clause_end(x, x->act, na, a);
    const xleaf *l = &x->leaves[li];
    unsigned fields = l->fields;
    int many = b - a > 1, exact = 0;
    if (many) memset(lmet, 0, nw * sizeof *lmet);
    for (uint32_t c = a; c < b; c++) {
      xvar *v = &x->vars[x->act[c]];
      const uint32_t *doc, *tf, *len;
      uint32_t n = cs_pcur_peek(v->cur, &doc, &tf, &len), hit = 0;
      double w = v->w;
      for (uint32_t j = 0; j < n && doc[j] < hi; j++) {
        uint32_t d = doc[j], i = d - lo, r = d - R->f;
        int kind = kind_of(R, d);
        if (!(fields & (1u << kind))) continue;
        if (bits && !((bits[r >> 3] >> (r & 7)) & 1)) continue;
        hit = 1;
        double sc = w * cs__bm25_tf(&x->rk, kind, tf[j], len[j]);
        taat_doc *t = &td[i];
        uint64_t bit = 1ull << (i & 63);
        if (many) {
          if (!(lmet[i >> 6] & bit)) {
            lmet[i >> 6] |= bit;
            t->lbest = 0;
            t->lo = 0;
          }
          if (sc > t->lbest) t->lbest = sc;
          t->lo += tf[j];
        } else if (sc > 0) {
          if (!(met[i >> 6] & bit)) {
            met[i >> 6] |= bit;
            t->sum = sc;
            t->matched = 1;
            t->occ = t->most = tf[j];
          } else {
            t->sum += sc;
            t->matched++;
            t->occ += tf[j];
            if (tf[j] > t->most) t->most = tf[j];
          }
        }
      }
      if (hit) {
        mask[x->act[c] >> 6] |= 1ull << (x->act[c] & 63);
        exact |= v->exact;
      }
    }
    if (exact && l->expanded && li < 256) exact_leaves[li >> 6] |= 1ull << (li & 63);
    for (uint32_t k = 0; many && k < nw; k++) {
      for (uint64_t m = lmet[k]; m; m &= m - 1) {
        uint32_t i = k * 64 + (uint32_t)__builtin_ctzll(m);
        taat_doc *t = &td[i];
        if (!(t->lbest > 0)) continue;
        if (!(met[k] & (1ull << (i & 63)))) {
          met[k] |= 1ull << (i & 63);
          t->sum = t->lbest;
          t->matched = 1;
          t->occ = t->most = t->lo;
        } else {
          t->sum += t->lbest;
          t->matched++;
          t->occ += t->lo;
          if (t->lo > t->most) t->most = t->lo;
        }
      }
    }
    a = b;
  }
  for (uint32_t k = 0; k < nw; k++) {
    for (uint64_t m = met[k]; m; m &= m - 1) {
      uint32_t i = k * 64 + (uint32_t)__builtin_ctzll(m), d = lo + i;
      const taat_doc *t = &td[i];
      int kind = kind_of(R, d);
      double doc = t->sum;
      if (t->matched >= 2 && x->prox_scale > 0 &&
          prox_can_matter(h, top, kind, doc + prox_bound(x->prox_scale, t->occ, t->most))) {
        for (uint32_t a = 0; a < na; a++)
          var_geq(&x->vars[x->act[a]], d);
        int matched;
        uint64_t occ, most;
        score_doc(x, na, d, kind, mask, exact_leaves, &matched, &occ, &most);
        double bonus;
        int rc = doc_proximity(x, na, d, &bonus);
        if (rc) return rc;
        doc += bonus;
      }
      if (doc > 0) {
        keep_top3(top, doc);
        if (kind == CS_DOC_TURN) keep_snippet(h, d, doc);
      }
    }
  }
  return 0;
}

/* Conversations of fewer documents are scored document at a time: with
 * few turns, most documents holding two clauses are still candidates for
 * the three best and the snippets, so proximity reads them again through
 * the cursors (10k interviews, ~37 turns: +1 % CPU term at a time). */
#define TAAT_MIN_DOCS 128

/* Scores R term at a time (taat_window), window after window: each ends
 * where the first of the cursors' current chunks does. For words only
 * (no phrase among act[0..na)), pruned walks (the exhaustive one is
 * document-at-a-time: the reference the tests compare with), long
 * conversations (TAAT_MIN_DOCS: ParlaMint's sittings). Every
 * document is scored (no skip_target): a document scored term at a time
 * costs less than one skipped document at a time. Leaves the cursors past
 * R, as document-at-a-time does. Not inlined: in score_conv it cost the
 * document-at-a-time loop of short conversations ~1 % (10k interviews). */
static __attribute__((noinline)) int score_conv_taat(xsearch *s, const xrange *R, xhit *h,
                                                     uint32_t na, uint64_t *mask,
                                                     uint64_t exact_leaves[4], double top[3]) {
  cs__exec *x = s->x;
  while (na > 0) {
    uint32_t lo = END, hi = R->e;
    for (uint32_t a = 0; a < na; a++) {
      const xvar *v = &x->vars[x->act[a]];
      if (v->doc < lo) lo = v->doc;
      uint32_t last = cs_pcur_block_last(v->cur);
      if (last < hi - 1) hi = last + 1;
    }
    int rc = taat_window(s, R, h, na, lo, hi, mask, exact_leaves, top);
    if (rc) return rc;
    uint32_t keep = 0;
    for (uint32_t a = 0; a < na; a++) {
      if (var_geq(&x->vars[x->act[a]], hi) < R->e) x->act[keep++] = x->act[a];
    }
    na = keep;
  }
  return 0;
}

/* Scores conversation R: every document a searched clause matches in it
 * that can matter. Fills h's key (tier, score), snippets and variant mask. */
static int score_conv(xsearch *s, const xrange *R, xhit *h) {
  cs__exec *x = s->x;
  uint64_t *mask = hit_mask(h);
  memset(mask, 0, s->mask_words * sizeof *mask);
  h->nsnip = 0;
  uint32_t na = 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !(l->fields & R->kinds)) continue;
    if (l->heap != HEAP_NONE) {
      na += cs__leaf_in(x, l, R->f, R->e, x->act + na);
      continue;
    }
    for (uint32_t k = 0; k < l->nvar; k++) {
      if (var_geq(&x->vars[l->var + k], R->f) < R->e) x->act[na++] = l->var + k;
    }
  }
  int phrases = 0; /* a phrase among the clauses scored (exhaustive: walk them all) */
  for (uint32_t a = 0; a < na && !s->exhaustive; a++)
    phrases |= x->leaves[x->vars[x->act[a]].leaf].type == CS__N_PHRASE;
  uint64_t exact_leaves[4] = {0, 0, 0, 0}; /* tier: leaves matched exactly (first 256) */
  double top[3] = {0, 0, 0};
  skip_memo sk = {0, 0, 0, 0};
  int rc = 0;
  if (!s->exhaustive && !phrases && R->e - R->f >= TAAT_MIN_DOCS) {
    rc = score_conv_taat(s, R, h, na, mask, exact_leaves, top);
    na = 0;
  }
  while (na > 0 && !rc) {
    if (phrases) na = phrase_align(x, R, na);
    if (!na) break;
    uint32_t d = END;
    for (uint32_t a = 0; a < na; a++) {
      uint32_t dd = x->vars[x->act[a]].doc;
      if (dd < d) d = dd;
    }
    if (h->nsnip == SNIPPETS && !s->exhaustive) {
      uint32_t to =
          skip_target(x, R, x->act, na, d, h->snip_score[SNIPPETS - 1], exact_leaves, &sk);
      if (to) {
        uint32_t keep = 0;
        for (uint32_t a = 0; a < na; a++) {
          if (var_geq(&x->vars[x->act[a]], to) < R->e) x->act[keep++] = x->act[a];
        }
        na = keep;
        continue;
      }
    }
    rc = score_one(s, R, h, na, d, mask, exact_leaves, top);
    /* Step every cursor on d; drop those leaving the conversation. */
    uint32_t keep = 0;
    for (uint32_t a = 0; a < na; a++) {
      xvar *v = &x->vars[x->act[a]];
      if (v->doc == d) var_next(v);
      if (v->doc < R->e) x->act[keep++] = x->act[a];
    }
    na = keep;
  }
  int tier = 0;
  for (int i = 0; i < 4; i++)
    tier += __builtin_popcountll(exact_leaves[i]);
  h->key.tier = tier;
  h->key.score = cs__conv_score(&x->rk, top[0], top[1], top[2]);
  return rc;
}

/* 1 when conversation R cannot make the page whatever its score: its
 * upper bound (conv_bound), or its date key, ranks after the k-th best kept
 * so far. Fills h's key fields that do not need scoring. */
int cs__cannot_make_page(xsearch *s, const xrange *R, xhit *h, int *rc) {
  *rc = 0;
  h->R = *R;
  h->key.created = R->created;
  h->key.id = R->id;
  h->key.tier = 0;
  h->key.score = 0;
  h->nsnip = 0;
  const cs__key *th = cs__topk_threshold(&s->top);
  if (s->sort == CS__SORT_RELEVANCE && s->x) {
    if (th && !s->exhaustive) {
      cs__key ub = h->key;
      if (s->nnamed && cs__is_named(s, R)) ub.tier += NAMED_TIER;
      *rc = conv_bound(s, R, th, &ub);
      if (*rc) return 1;
      if (cs__key_cmp(s->sort, &ub, th) > 0) return 1;
    }
  } else {
    if (s->has_after && cs__key_cmp(s->sort, &h->key, &s->after) <= 0) return 1;
    if (th && cs__key_cmp(s->sort, &h->key, th) >= 0) return 1;
  }
  return 0;
}

/* A matching conversation: counted, and kept if it can be among the best
 * (prechecked: cannot_make_page already ruled it in). */
int cs__keep_hit(xsearch *s, const xrange *R, int prechecked) {
  xhit *h = s->scratch;
  int rc;
  if (!prechecked && cs__cannot_make_page(s, R, h, &rc)) return rc;
  if (s->x) {
    rc = score_conv(s, R, h);
    if (rc) return rc;
    if (s->nnamed && cs__is_named(s, R)) h->key.tier += NAMED_TIER;
  } else {
    memset(hit_mask(h), 0, s->mask_words * sizeof(uint64_t));
  }
  if (s->has_after && cs__key_cmp(s->sort, &h->key, &s->after) <= 0) return 0;
  cs__topk_push(&s->top, h);
  return 0;
}

int cs__consider(xsearch *s, const xrange *R) {
  s->total++;
  return cs__keep_hit(s, R, 0);
}

/* Counting bounded (s->total_bound): once that many conversations are
 * counted, the walk stops counting and only looks for conversations that
 * can still make the page; the total is then estimated. */
int cs__counting(const xsearch *s) {
  return !s->total_bound || s->total < s->total_bound || s->match_fn || s->exhaustive;
}

/* The most a document of v's current chunk can add for clause l (a
 * phrase: the limit). */
static double var_block_bound(const cs__exec *x, const xleaf *l, const xvar *v) {
  if (l->type != CS__N_TERM) return l->pw * cs__bm25_limit(&x->rk, l->fields);
  return v->w * cs__bm25_bound(&x->rk, l->fields, cs_pcur_block_max_tf(v->cur),
                               cs_pcur_block_min_len(v->cur));
}

static void conv_at(xsearch *s, uint32_t p, xrange *R);

/* 1 when a conversation bounded by ub (of the given tier) cannot make the
 * page whose k-th best is th. */
static inline int below(const cs__key *th, int tier, double ub) {
  return tier < th->tier || (tier == th->tier && ub < th->score);
}

/* What a conversation scores at most, from v's documents in a chunk of
 * block maxima max_tf, min_len and conversation bound cb (or NULL). */
static double chunk_bound(const cs__exec *x, const xleaf *l, const xvar *v, uint32_t max_tf,
                          uint32_t min_len, const cs_cbound *cb) {
  double b = cs__conv_bound(&x->rk, v->w * cs__bm25_bound(&x->rk, l->fields, max_tf, min_len));
  if (cb) {
    double c = cb_value(x, v->w, cb);
    if (c < b) b = c;
  }
  return b;
}

/* A cursor of pass_chunks: the chunk it reads (decoded, or a header). */
typedef struct pass_cur {
  xvar *v;
  const xleaf *l;
  double b, prev;       /* bound of its chunk, and of the one before when it moved */
  uint32_t first, last; /* its chunk's docids */
  uint8_t moved, done;  /* moved to a new chunk at the window's end; no chunk left */
} pass_cur;

#define PASS_MAX_CURSORS 4

/* cs__skip_convs, once the documents in [t, L] are ruled out: the windows
 * after it (up to the nearest end of the cursors' chunks) whose
 * conversations cannot make the page either are passed by the chunks'
 * headers alone, never decoded (cbound.h): a window's bound is the sum of
 * its cursors' chunk bounds. A conversation across a window's end is
 * bounded by both windows when it starts in the first and ends in the
 * second, else the run stops there (the writer cuts chunks between
 * conversations where it can, writer_flush.c). Words only (a phrase's
 * bound needs its positions). Returns where the walk goes on (to when no
 * window could be passed), the cursors moved there. */
static uint32_t pass_chunks(xsearch *s, const cs__key *th, uint32_t t, uint32_t L, uint32_t to) {
  cs__exec *x = s->x;
  if (x->nvars > PASS_MAX_CURSORS) return to;
  pass_cur pc[PASS_MAX_CURSORS];
  uint32_t n = 0;
  int tier = 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !l->nvar) continue;
    if (l->type != CS__N_TERM) return to;
    tier += l->expanded;
    for (uint32_t k = 0; k < l->nvar; k++) {
      xvar *v = &x->vars[l->var + k];
      if (v->doc == END) continue;
      pass_cur *c = &pc[n++];
      c->v = v;
      c->l = l;
      c->b = chunk_bound(x, l, v, cs_pcur_block_max_tf(v->cur), cs_pcur_block_min_len(v->cur),
                         cs_pcur_block_cbound(v->cur));
      c->first = v->doc;
      c->last = cs_pcur_block_last(v->cur);
      c->done = 0;
    }
  }
  if (!n) return to;
  double prox = cs__conv_bound(&x->rk, x->prox_scale);
  uint32_t passed = 0, ws = t, next;
  xrange R;
  for (;;) {
    /* The cursors whose chunk ends at L read the next one's header. */
    int bad = 0;
    next = END;
    for (uint32_t i = 0; i < n && !bad; i++) {
      pass_cur *c = &pc[i];
      c->prev = c->b;
      c->moved = !c->done && c->last == L;
      if (!c->moved) continue;
      cs_chunk_head h;
      int rc = cs_pcur_head_next(c->v->cur, &h);
      if (rc == CS_ENOTFOUND) {
        c->done = 1;
        c->b = 0;
        c->first = c->last = END;
      } else if (rc) {
        bad = 1; /* damaged: the walk's cursor reports it */
      } else {
        c->first = h.first;
        c->last = h.last;
        c->b = chunk_bound(x, c->l, c->v, h.max_tf, h.min_len, h.has_cb ? &h.cb : NULL);
      }
    }
    if (bad) break;
    for (uint32_t i = 0; i < n; i++) {
      if (!pc[i].done && pc[i].last < next) next = pc[i].last;
    }
    /* The window (L, next]: the cursors with documents there (a sparse
     * word's chunk often has none). */
    double U = 0;
    const xleaf *in = NULL;
    int nin = 0;
    for (uint32_t i = 0; i < n; i++) {
      if (pc[i].done || pc[i].first > next) continue;
      U += pc[i].b;
      nin += pc[i].l != in;
      in = pc[i].l;
    }
    if (nin >= 2) U += prox;
    if (next == END) {
      /* No document of any word after L: every conversation left is
       * bounded by the windows passed. */
      for (uint32_t i = 0; i < n; i++) {
        cs_pcur_finish(pc[i].v->cur);
        pc[i].v->doc = END;
      }
      s->chunks_passed += passed + 1;
      return END;
    }
    if (!below(th, tier, U * (1 + 1e-9) + 1e-9)) break;
    /* The conversation of L, when a word may have documents of it on both
     * sides of L (a cursor whose chunk goes on past L, or one whose next
     * chunk starts inside it): bounded by both windows if it starts in
     * this one and ends in the next. */
    conv_at(s, L, &R);
    int across = 0;
    double S = 0;
    in = NULL;
    nin = 0;
    for (uint32_t i = 0; R.f != END && R.f <= L && R.e - 1 > L && i < n; i++) {
      const pass_cur *c = &pc[i];
      if (c->done && !c->moved) continue;
      int after = c->first < R.e; /* may hold R's documents after L */
      across |= after;
      double b = (c->moved ? c->prev : 0) + (after ? c->b : 0);
      if (b > 0) {
        S += b;
        nin += c->l != in;
        in = c->l;
      }
    }
    if (across) {
      if (nin >= 2) S += prox;
      if (R.f < ws || R.e - 1 > next || !below(th, tier, S * (1 + 1e-9) + 1e-9)) break;
    }
    passed++;
    ws = L + 1;
    L = next;
  }
  if (!passed) {
    for (uint32_t i = 0; i < n; i++)
      cs_pcur_head_back(pc[i].v->cur);
    return to;
  }
  /* Resume at the conversation of L (the last window passed) when it goes
   * on after L, else after L. */
  conv_at(s, L, &R);
  uint32_t resume = R.f != END && R.f <= L && R.e - 1 > L ? R.f : L + 1;
  if (resume < t) resume = t; /* cursors never go back */
  for (uint32_t i = 0; i < n; i++) {
    cs_pcur_seek(pc[i].v->cur, resume);
    pc[i].v->doc = cs_pcur_docid(pc[i].v->cur);
  }
  s->chunks_passed += passed;
  return resume;
}

/* Past the counting bound: where the walk may jump from t because no
 * document up to there can lift a conversation into the page (block-max:
 * the sum over clauses of their current chunks' best score, for documents
 * up to the nearest chunk end L; a conversation scores at most
 * cs__conv_bound of that). Only whole conversations are skipped: the jump
 * stops at the start of the one holding L + 1. Returns t when nothing can
 * be skipped. */
uint32_t cs__skip_convs(xsearch *s, uint32_t t) {
  cs__exec *x = s->x;
  const cs__key *th = cs__topk_threshold(&s->top);
  if (!th || s->sort != CS__SORT_RELEVANCE || s->nnamed) return t;
  /* Until t passes L no cursor leaves its chunk: the bound is the same, and
   * fails again unless the page's threshold rose. */
  if (t <= s->skip_fail_L && th->tier == s->skip_fail_key.tier &&
      th->score == s->skip_fail_key.score)
    return t;
  uint32_t L = END;
  for (uint32_t i = 0; i < x->nvars; i++) {
    const xvar *v = &x->vars[i];
    if (v->doc == END || !x->leaves[v->leaf].active) continue;
    uint32_t last = cs_pcur_block_last(v->cur);
    if (last < L) L = last;
  }
  if (L == END || L < t) return t;
  /* What a conversation scores at most from its documents up to L: per
   * clause, cs__conv_bound of its chunks' block bound, or less by their
   * conversation bounds (a word's: the sum over its variants, each
   * document scoring by its best one; the score is subadditive); only the
   * cursors with documents up to L count. */
  double sum = 0;
  int nl = 0, tier = 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !l->nvar) continue;
    double lb = 0, cb = 0;
    /* A clause of many variants (a short prefix) sums their bounds,
     * seldom below the block-max bound, at a scaling per variant per call:
     * not tried past what pass_chunks takes. */
    int cbs = x->cb_ok && l->type == CS__N_TERM && l->nvar <= PASS_MAX_CURSORS;
    for (uint32_t k = 0; k < l->nvar; k++) {
      xvar *v = &x->vars[l->var + k];
      if (v->doc > L) continue;
      double vb = var_block_bound(x, l, v);
      if (vb > lb) lb = vb;
      const cs_cbound *b = cbs ? cs_pcur_block_cbound(v->cur) : NULL;
      cbs = b != NULL;
      if (b) cb += cb_value(x, v->w, b);
    }
    double blk = cs__conv_bound(&x->rk, lb);
    sum += cbs && cb < blk ? cb : blk;
    nl += lb > 0;
    tier += l->expanded;
  }
  if (nl >= 2) sum += cs__conv_bound(&x->rk, x->prox_scale);
  double ub = sum * (1 + 1e-9) + 1e-9;
  if (tier > th->tier || (tier == th->tier && ub >= th->score)) {
    s->skip_fail_L = L;
    s->skip_fail_key = *th;
    return t;
  }
  uint32_t to = L + 1, next;
  if (s->universe) {
    size_t i = cs__range_after(s->u, s->nu, L);
    if (i < s->nu && s->u[i].f <= L) to = s->u[i].f;
  } else {
    long i = s->convs ? cs__convs_find(s->convs, L, &next, &s->skip_hint) : -1;
    if (i >= 0) to = s->convs->r[i].f;
  }
  if (x->cb_ok && (s->universe || s->convs)) to = pass_chunks(s, th, t, L, to);
  return to > t ? to : t;
}

/* The conversation holding docid p or the first one after it (f END:
 * none), among those the walk may visit: the listed ones (s->u) or the
 * docid -> conversation table. */
static void conv_at(xsearch *s, uint32_t p, xrange *R) {
  R->f = END;
  if (s->universe) {
    size_t i = cs__range_after(s->u, s->nu, p);
    if (i < s->nu) *R = s->u[i];
    return;
  }
  /* Forward from the last one: the run mostly moves a few conversations. */
  const cs__convs *c = s->convs;
  size_t i = s->run_hint; /* the first entry with first > the last p */
  if (i <= c->n && (i == 0 || c->first[i - 1] <= p)) {
    for (int k = 0; k < 16 && i < c->n && c->first[i] <= p; k++)
      i++;
    if (i < c->n && c->first[i] <= p) i = c->n + 1; /* far: search */
  } else {
    i = c->n + 1;
  }
  if (i > c->n) {
    uint32_t next;
    size_t h = 0;
    long f = cs__convs_find(c, p, &next, &h);
    i = f >= 0 ? (size_t)f + 1 : h;
  }
  s->run_hint = i;
  if (i > 0 && p < c->r[i - 1].e) {
    *R = c->r[i - 1];
  } else if (i < c->n) {
    *R = c->r[i];
    s->run_hint = i + 1;
  }
}

/* cs__skip_run: the first docid, among the cursors' decoded documents
 * not passed yet, where the next conversation to bound may hold one: the
 * next document of any clause or, with required clauses, past the next
 * document of each of them (a phrase's: of each of its words). END when a
 * required clause has no document left in its chunk. */
static uint32_t next_candidate(const cs__exec *x, const peek *pk, uint32_t np, uint32_t nreq) {
  uint32_t p = END, req = 0;
  for (uint32_t a = 0; a < np;) {
    uint32_t li = pk[a].leaf, b = a, lp = END, hi = 0;
    for (; b < np && pk[b].leaf == li; b++) {
      uint32_t d = pk[b].j < pk[b].n ? pk[b].doc[pk[b].j] : END;
      if (d < lp) lp = d;
      if (d > hi) hi = d;
    }
    if (lp < p) p = lp;
    const xleaf *l = &x->leaves[li];
    if (nreq && l->required) {
      uint32_t need = l->type == CS__N_TERM ? lp : hi;
      if (need > req) req = need;
    }
    a = b;
  }
  return req > p ? req : p;
}

/* Past the counting bound, where cs__skip_convs could not jump: rules out
 * a run of conversations at once. Up to L, the nearest end of the cursors'
 * current chunks, every document of every searched clause is decoded, so
 * the bound of each conversation lying wholly in [t, L] is conv_bound's
 * exact one (docs_bound over the decoded documents, the tier from the
 * exact variants present), computed in one pass over the chunks without
 * matching, resolving or seeking per conversation. Conversations are
 * visited only where a cursor has a document (the next one after each
 * conversation), so rare words cost their documents, not the docids they
 * span. The run stops at the first conversation that may make the page,
 * that starts before t, or that goes on past L: the walk takes it from
 * there. Returns where the walk continues (t when nothing was ruled out). */
#define RUN_MAX_CURSORS 16

uint32_t cs__skip_run(xsearch *s, uint32_t t) {
  cs__exec *x = s->x;
  const cs__key *th = cs__topk_threshold(&s->top);
  if (!th || s->sort != CS__SORT_RELEVANCE || s->nnamed || s->exhaustive) return t;
  if (!s->universe && !s->convs) return t;
  /* Many cursors (a short prefix's variants): a run's set-up, a peek and a
   * block bound per cursor, costs more than it saves. */
  if (x->nvars > RUN_MAX_CURSORS) return t;
  if (cs_grow((void **)&x->pk, &x->pk_cap, 2 * (size_t)x->nvars + 2, sizeof *x->pk) ||
      cs_grow((void **)&x->lbound, &x->lbound_cap, x->nleaves + 1, sizeof *x->lbound))
    return t;
  peek *pk = x->pk, *pv = x->pk + x->nvars + 1;
  double *lbound = x->lbound; /* per clause: its chunks' block bound (the limit for a phrase) */
  uint32_t np = 0, L = END;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    lbound[i] = 0;
    if (!l->active || !l->nvar) continue;
    int all = 1;
    for (uint32_t k = 0; k < l->nvar; k++)
      all &= var_geq(&x->vars[l->var + k], t) != END;
    if (l->type == CS__N_PHRASE && !all) continue; /* never occurs again */
    for (uint32_t k = 0; k < l->nvar; k++) {
      xvar *v = &x->vars[l->var + k];
      if (v->doc == END) continue;
      peek *p = &pk[np++];
      p->n = cs_pcur_peek(v->cur, &p->doc, &p->tf, &p->len);
      p->j = 0;
      p->leaf = i;
      p->exact = v->exact;
      p->w = l->type == CS__N_TERM ? v->w : l->pw;
      uint32_t last = cs_pcur_block_last(v->cur);
      if (last < L) L = last;
      double b = var_block_bound(x, l, v);
      if (b > lbound[i]) lbound[i] = b;
    }
  }
  if (!np || L == END) return t;
  uint32_t nreq = 0;
  for (uint32_t i = 0; i < x->nleaves; i++)
    nreq += x->leaves[i].required && x->leaves[i].nvar;
  uint32_t p = t;
  uint64_t ruled = 0;
  for (;;) {
    xrange R;
    conv_at(s, p, &R);
    if (R.f == END || R.f > L) {
      p = L + 1; /* no conversation holds a document up to L */
      break;
    }
    if (R.f < t) break;
    if (R.e - 1 > L) {
      p = R.f;
      break;
    }
    /* The documents of each clause's cursors in R (none before it
     * remain): views of them for docs_bound, for the clauses present (a
     * phrase: all its words). */
    uint32_t nv = 0, met = 0;
    int tier = 0, present = 0;
    double quick = 0; /* from the clauses present and their block bounds */
    for (uint32_t a = 0; a < np;) {
      uint32_t li = pk[a].leaf, b = a, has = 0, exact = 0;
      while (b < np && pk[b].leaf == li)
        b++;
      for (uint32_t c = a; c < b; c++) {
        peek *q = &pk[c];
        while (q->j < q->n && q->doc[q->j] < R.f)
          q->j++;
        uint32_t j = q->j;
        while (j < q->n && q->doc[j] < R.e)
          j++;
        q->end = j;
        has += j > q->j;
        exact |= j > q->j && q->exact;
      }
      const xleaf *l = &x->leaves[li];
      if (l->type == CS__N_TERM ? has > 0 : has == b - a) {
        present++;
        met += l->required;
        quick += lbound[li];
        tier += l->expanded && exact;
        for (uint32_t c = a; c < b; c++) {
          peek *q = &pk[c];
          if (q->end == q->j) continue;
          peek *w = &pv[nv++];
          *w = *q;
          w->doc += q->j;
          w->tf += q->j;
          w->len += q->j;
          w->n -= q->j;
          w->j = 0;
        }
      }
      for (uint32_t c = a; c < b; c++)
        pk[c].j = pk[c].end;
      a = b;
    }
    if (met < nreq) {
      /* A clause every match needs is absent: R does not match. */
      ruled++;
      goto next;
    }
    /* The block bounds of the clauses present first (a conversation with
     * one of two words is mostly ruled out there), then the exact one. */
    double ub =
        cs__conv_bound(&x->rk, quick + (present >= 2 ? x->prox_scale : 0)) * (1 + 1e-9) + 1e-9;
    if (tier > th->tier || (tier == th->tier && ub >= th->score)) {
      double m[3] = {0, 0, 0};
      if (docs_bound(x, &R, pv, nv, x->prox_scale, m)) {
        p = R.f;
        break;
      }
      ub = cs__conv_score(&x->rk, m[0], m[1], m[2]) * (1 + 1e-9) + 1e-9;
      if (tier > th->tier || (tier == th->tier && ub >= th->score)) {
        p = R.f;
        break;
      }
    }
    ruled++;
  next:
    p = next_candidate(x, pk, np, nreq);
    if (p > L) {
      /* Nothing more to bound up to L; the conversation going on past L,
       * if any, is the walk's whole (its documents up to L included). */
      conv_at(s, L + 1, &R);
      p = R.f != END && R.f <= L ? (R.f > t ? R.f : t) : L + 1;
      break;
    }
  }
  s->run_ruled += ruled;
  return p > t ? p : t;
}

/* Documents of the listed conversations (s->u) in [from, to). */
static double universe_docs(const xsearch *s, uint32_t from, uint32_t to) {
  double n = 0;
  for (size_t i = 0; i < s->nu; i++) {
    uint32_t f = s->u[i].f > from ? s->u[i].f : from, e = s->u[i].e < to ? s->u[i].e : to;
    if (e > f) n += e - f;
  }
  return n;
}

/* The total once counting stopped: the count so far, scaled by the share
 * of the docid span walked when it stopped (never less than the count). */
uint64_t cs__total_estimate(const xsearch *s) {
  if (!s->stopped_at || s->stopped_at <= s->walk_from || s->limit_at <= s->walk_from)
    return s->total;
  double share = (double)(s->stopped_at - s->walk_from) / (double)(s->limit_at - s->walk_from);
  if (s->universe) {
    /* The share of the walk's own conversations: docids of others (a
     * portal caller's colleagues) must not move the estimate. */
    double all = universe_docs(s, s->walk_from, s->limit_at);
    share = all > 0 ? universe_docs(s, s->walk_from, s->stopped_at) / all : 1.0;
    if (share <= 0) return s->total;
  }
  double est = (double)s->total / share;
  return est > (double)s->total ? (uint64_t)(est + 0.5) : s->total;
}
