/*
 * Scoring of the conversations that can make the page: each matching
 * document's BM25 over the clauses, proximity only where it can still
 * change the page, block-max skipping inside a conversation, the three
 * best turns kept as snippets, and the conversation's key pushed into the
 * top k.
 */
#include "bounds.h"

#include "errors.h"

#include <math.h>
#include <string.h>

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
 * cs__keep_top3 ignores a score <= the third best, keep_snippet (turns) one <=
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
 * largest clause's). Inlined into every caller, as the document-at-a-time
 * loop it was taken from was.
 *
 * With `bound` (a constant at each call), an upper bound without the
 * phrases' positions, setting nothing but *matched, *occ and *most: a
 * phrase counts as occurring as often as its rarest word there (it occurs
 * at most that often), each clause's share is at least the score's and is
 * summed in the same order; a document holding an exact variant of an
 * expanded word whose tier is not counted yet gets INFINITY (it raises
 * the tier). */
static inline __attribute__((always_inline)) double
score_doc(cs__exec *x, uint32_t na, uint32_t d, int kind, uint64_t *mask, uint64_t exact_leaves[4],
          int *matched, uint64_t *occ, uint64_t *most, int bound) {
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
      int counted = li < 256 && ((exact_leaves[li >> 6] >> (li & 63)) & 1);
      for (uint32_t c = a; c < b; c++) {
        xvar *v = &x->vars[x->act[c]];
        if (v->doc != d) continue;
        if (bound && v->exact && l->expanded && !counted) return INFINITY;
        uint32_t tf = cs_pcur_tf(v->cur);
        double sc = v->w * cs__bm25_tf(&x->rk, kind, tf, cs_pcur_len(v->cur));
        if (sc > lbest) lbest = sc;
        lo += tf;
        exact |= v->exact;
        if (!bound) mask[x->act[c] >> 6] |= 1ull << (x->act[c] & 63);
      }
      if (!bound && exact && l->expanded && li < 256) exact_leaves[li >> 6] |= 1ull << (li & 63);
    } else if (b - a == l->nvar) {
      uint32_t pf = UINT32_MAX; /* bound: the rarest word's tf */
      for (uint32_t c = a; c < b && pf; c++) {
        const xvar *v = &x->vars[x->act[c]];
        uint32_t tf = v->doc == d ? (bound ? cs_pcur_tf(v->cur) : 1) : 0;
        if (tf < pf) pf = tf;
      }
      if (pf && !bound) pf = cs__phrase_freq(x, l, NULL, 0);
      if (pf) {
        lbest = l->pw * cs__bm25_tf(&x->rk, kind, pf, cs_pcur_len(x->vars[l->var].cur));
        lo = pf;
        for (uint32_t c = a; c < b && !bound; c++)
          mask[x->act[c] >> 6] |= 1ull << (x->act[c] & 63);
      }
    }
    if (!bound) x->leaf_score[li] = lbest;
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

/* Whether turn d, where a phrase's words all are, can change anything
 * (prox_can_matter) by score_doc's bound, without the phrases' positions:
 * a document ruled out here would have changed neither the three best nor
 * the snippets, so score_one skips it without reading a position. Not
 * inlined: only phrase queries call it, and score_one's loop stays small. */
static __attribute__((noinline)) int phrase_doc_can_matter(cs__exec *x, const xhit *h, uint32_t na,
                                                           uint32_t d, int kind,
                                                           const double top[3],
                                                           uint64_t exact_leaves[4]) {
  int matched;
  uint64_t occ, most;
  double doc = score_doc(x, na, d, kind, NULL, exact_leaves, &matched, &occ, &most, 1);
  if (matched >= 2 && x->prox_scale > 0) doc += cs__prox_bound(x->prox_scale, occ, most);
  return prox_can_matter(h, top, kind, doc);
}

/* Scores document d, the first of the cursors of act[0..na), document at
 * a time: its clauses (score_doc) where it passes the turn filters,
 * proximity where two clauses met and it can matter, kept in top and h's
 * snippets. */
static int score_one(xsearch *s, const xrange *R, xhit *h, uint32_t na, uint32_t d, uint64_t *mask,
                     uint64_t exact_leaves[4], double top[3], int phrases) {
  cs__exec *x = s->x;
  int rc = 0;
  int kind = kind_of(R, d);
  int pass = !s->cur_bits || ((s->cur_bits[(d - R->f) >> 3] >> ((d - R->f) & 7)) & 1);
  /* Once three turns are kept, a turn's phrases are read only when it can
   * still matter. */
  if (phrases && pass && kind == CS_DOC_TURN && h->nsnip == SNIPPETS && !s->exhaustive &&
      !phrase_doc_can_matter(x, h, na, d, kind, top, exact_leaves))
    return 0;
  double doc = 0;
  int matched = 0;
  uint64_t occ = 0, most = 0; /* positions of the clauses met: all, the largest's */
  if (pass) doc = score_doc(x, na, d, kind, mask, exact_leaves, &matched, &occ, &most, 0);
  /* Proximity needs positions: read them only when two clauses met, and
   * only when the bonus (at most prox_scale) could still move the
   * document into the conversation's three best or its snippets. */
  if (matched >= 2 && x->prox_scale > 0 &&
      (s->exhaustive ||
       prox_can_matter(h, top, kind, doc + cs__prox_bound(x->prox_scale, occ, most)))) {
    double bonus;
    rc = doc_proximity(x, na, d, &bonus);
    doc += bonus;
  }
  if (doc > 0) {
    cs__keep_top3(top, doc);
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
  uint64_t leaves; /* the clauses met, by leaf index (read when there are <= 64) */
} taat_doc;

/* taat_window for a single cursor (one word, one variant): no accumulators,
 * a document's score is its word's, kept in docid order as taat_window
 * keeps it (the same bits). Once three turns are kept, a turn that cannot
 * pass both the conversation's third best score and its third snippet is
 * passed over without its division: the test multiplies, with a margin so
 * that it never passes over one the exact comparisons would keep. */
static void taat_one(xsearch *s, const xrange *R, xhit *h, uint32_t hi, uint64_t *mask,
                     uint64_t exact_leaves[4], double top[3]) {
  cs__exec *x = s->x;
  uint32_t vi = x->act[0];
  const xvar *v = &x->vars[vi];
  uint32_t li = v->leaf;
  unsigned fields = x->leaves[li].fields;
  const uint8_t *bits = s->cur_bits;
  const cs__ranker *rk = &x->rk;
  const uint32_t *doc, *tf, *len;
  uint32_t n = cs_pcur_peek(v->cur, &doc, &tf, &len), hit = 0, j;
  double w = v->w, ct = w * rk->top[CS_DOC_TURN], at = rk->norm_a[CS_DOC_TURN],
         bt = rk->norm_b[CS_DOC_TURN];
  for (j = 0; j < n && doc[j] < hi; j++) {
    uint32_t d = doc[j], r = d - R->f;
    int kind = kind_of(R, d);
    if (!(fields & (1u << kind))) continue;
    if (bits && !((bits[r >> 3] >> (r & 7)) & 1)) continue;
    hit = 1;
    if (kind == CS_DOC_TURN && h->nsnip == SNIPPETS) {
      double th = h->snip_score[SNIPPETS - 1] < top[2] ? h->snip_score[SNIPPETS - 1] : top[2];
      if (ct * tf[j] <= th * (tf[j] + at + bt * len[j]) * (1 - 1e-9)) continue;
    }
    double sc = w * cs__bm25_tf(rk, kind, tf[j], len[j]);
    if (sc > 0) {
      cs__keep_top3(top, sc);
      if (kind == CS_DOC_TURN) keep_snippet(h, d, sc);
    }
  }
  x->tend[0] = doc + j; /* the first document at or past hi, or the chunk's end */
  if (hit) {
    mask[vi >> 6] |= 1ull << (vi & 63);
    if (v->exact && x->leaves[li].expanded && li < 256) exact_leaves[li >> 6] |= 1ull << (li & 63);
  }
}

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
 * cursors moved to the document, the positions of the clauses the window
 * met there), cs__keep_top3 and
 * the snippets, as document-at-a-time. Leaves the cursors at lo or after
 * (the caller moves them to hi). */
static int taat_window(xsearch *s, const xrange *R, xhit *h, uint32_t na, uint32_t lo, uint32_t hi,
                       uint64_t *mask, uint64_t exact_leaves[4], double top[3]) {
  cs__exec *x = s->x;
  size_t span = (size_t)(hi - lo), nw = (span + 63) / 64; /* (no wrap near 2^32) */
  if (cs_grow((void **)&x->tend, &x->tend_cap, na, sizeof *x->tend)) return CS_ENOMEM;
  if (na == 1) {
    taat_one(s, R, h, hi, mask, exact_leaves, top);
    return 0;
  }
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
    uint64_t lbit = 1ull << (li & 63);
    if (many) memset(lmet, 0, nw * sizeof *lmet);
    for (uint32_t c = a; c < b; c++) {
      xvar *v = &x->vars[x->act[c]];
      const uint32_t *doc, *tf, *len;
      uint32_t n = cs_pcur_peek(v->cur, &doc, &tf, &len), hit = 0, j;
      double w = v->w;
      for (j = 0; j < n && doc[j] < hi; j++) {
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
            t->leaves = lbit;
          } else {
            t->sum += sc;
            t->matched++;
            t->occ += tf[j];
            if (tf[j] > t->most) t->most = tf[j];
            t->leaves |= lbit;
          }
        }
      }
      x->tend[c] = doc + j; /* the first document at or past hi, or the chunk's end */
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
          t->leaves = lbit;
        } else {
          t->sum += t->lbest;
          t->matched++;
          t->occ += t->lo;
          if (t->lo > t->most) t->most = t->lo;
          t->leaves |= lbit;
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
          prox_can_matter(h, top, kind, doc + cs__prox_bound(x->prox_scale, t->occ, t->most))) {
        for (uint32_t a = 0; a < na; a++)
          var_geq(&x->vars[x->act[a]], d);
        if (x->nleaves <= 64) {
          /* The clauses met, for doc_proximity: the window already set
           * the mask bits and exact tiers score_doc would. */
          for (uint32_t a = 0; a < na; a++) {
            uint32_t li = x->vars[x->act[a]].leaf;
            x->leaf_score[li] = (double)((t->leaves >> li) & 1);
          }
        } else {
          int matched;
          uint64_t occ, most;
          score_doc(x, na, d, kind, mask, exact_leaves, &matched, &occ, &most, 0);
        }
        double bonus;
        int rc = doc_proximity(x, na, d, &bonus);
        if (rc) return rc;
        doc += bonus;
      }
      if (doc > 0) {
        cs__keep_top3(top, doc);
        if (kind == CS_DOC_TURN) keep_snippet(h, d, doc);
      }
    }
  }
  return 0;
}

/* Scores R term at a time (taat_window), window after window: each ends
 * where the first of the cursors' current chunks does. For words only
 * (no phrase among act[0..na)), pruned walks (the exhaustive one is
 * document-at-a-time: the reference the tests compare with), long
 * conversations (CS__LONG_CONV: ParlaMint's sittings; with few turns, most
 * documents holding two clauses are still candidates for the three best
 * and the snippets, so proximity reads them again through the cursors:
 * 10k interviews, ~37 turns, +1 % CPU term at a time). Every
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
    /* Each cursor to its first document at or past hi, which the window
     * found (proximity moves them only below hi, in the same chunk). */
    uint32_t keep = 0;
    for (uint32_t a = 0; a < na; a++) {
      xvar *v = &x->vars[x->act[a]];
      cs_pcur_advance_to(v->cur, x->tend[a]);
      v->doc = cs_pcur_docid(v->cur);
      if (v->doc < R->e) x->act[keep++] = x->act[a];
    }
    na = keep;
  }
  return 0;
}

/* A word the conversation holds exactly is scored on its exact terms
 * there: its typo and prefix matches (x->vars[].capped) drop out of
 * act[from..na), which is the word's, and the new end is returned. They
 * are there to find what the word misspelt would have found; beside the
 * word itself they are noise ("pagar" beside "pasar"), and their turns
 * would be shown before the word's. "Holds" is any document of the
 * conversation the clause searches, turn filters aside: a word said only
 * in a turn the filters leave out still holds there. (Administrator
 * synonyms are another word, and count.) */
static uint32_t held_exactly(const cs__exec *x, uint32_t from, uint32_t na) {
  uint32_t a = from;
  while (a < na && !x->vars[x->act[a]].exact)
    a++;
  if (a == na) return na;
  uint32_t keep = from;
  for (a = from; a < na; a++) {
    if (!x->vars[x->act[a]].capped) x->act[keep++] = x->act[a];
  }
  return keep;
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
    uint32_t from = na;
    if (l->heap != HEAP_NONE && !leaves_behind(s, i)) {
      na += cs__leaf_in(x, l, R->f, R->e, x->act + na);
    } else {
      for (uint32_t k = 0; k < l->nvar; k++) {
        xvar *v = &x->vars[l->var + k];
        if (!left_behind(s, v) && var_geq(v, R->f) < R->e) x->act[na++] = l->var + k;
      }
    }
    if (l->expanded) na = held_exactly(x, from, na);
  }
  int phrases = 0; /* a phrase among the clauses scored (exhaustive: walk them all) */
  for (uint32_t a = 0; a < na && !s->exhaustive; a++)
    phrases |= x->leaves[x->vars[x->act[a]].leaf].type == CS__N_PHRASE;
  uint64_t exact_leaves[4] = {0, 0, 0, 0}; /* tier: leaves matched exactly (first 256) */
  double top[3] = {0, 0, 0};
  skip_memo sk = {0, 0, 0, 0};
  int rc = 0;
  if (!s->exhaustive && !phrases && R->e - R->f >= CS__LONG_CONV) {
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
    rc = score_one(s, R, h, na, d, mask, exact_leaves, top, phrases);
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

/* A matching conversation: counted, and kept if it can be among the best
 * (prechecked: cannot_make_page already ruled it in). */
int cs__keep_hit(xsearch *s, const xrange *R, int prechecked) {
  xhit *h = s->scratch;
  int rc;
  if (!prechecked && cs__cannot_make_page(s, R, h, &rc)) return rc;
  if (s->x) {
    s->nscored++;
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
