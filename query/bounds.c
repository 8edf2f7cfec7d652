/*
 * A conversation's score bound before it is scored (MaxScore at the
 * conversation level): from its documents in the cursors' decoded chunks,
 * the chunks ahead read by their headers, and the chunks' conversation
 * bounds (cbound.h). Scoring is score.c's, skipping runs of conversations
 * skip.c's.
 */
#include "bounds.h"

#include "errors.h"

#include <string.h>

/* A clause whose documents score by their tf like a word's: a word, or a
 * one-word phrase (a quoted word: its occurrences are its tf). */
static inline int tf_clause(const xleaf *l) {
  return l->type == CS__N_TERM || l->nvar == 1;
}

/* Below this many cursors, conv_bound's merge is cheaper than
 * bound_docs_dense (a short prefix has up to CS__EXPAND_MAX). */
#define DENSE_MIN_CURSORS 8

/* The document bounds of conv_bound's merge, kept in m (cs__keep_top3), by
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
    if (sum[i] > 0) cs__keep_top3(m, leaves[i] >= 2 ? sum[i] + prox : sum[i]);
  }
  return 1;
}

/* cs__docs_bound for one word clause of several variants (a prefix, a typo
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

/* Cursors of words refined at most (docs_words). */
#define WORDS_MAX 16

/* A document of words (docs_words) where two or more meet, kept aside
 * by cs__docs_bound for cs__docs_refine. */
typedef struct prox_doc {
  uint32_t on;           /* the peeks holding it, a bit each */
  uint8_t at[WORDS_MAX]; /* its index in each of them */
  double bm25, prox;     /* its words' scores, and proximity's bound */
} prox_doc;

#define PROX_DOCS_MAX 64

/* 1 when pk[0..np) are the variants of two or more words (no phrase), at
 * most WORDS_MAX cursors: an AND, a question's words, as the peers'
 * semantics or the search box search them. */
static int docs_words(const cs__exec *x, const peek *pk, uint32_t np) {
  if (np < 2 || np > WORDS_MAX || pk[0].leaf == pk[np - 1].leaf) return 0;
  for (uint32_t a = 0; a < np; a++) {
    if (x->leaves[pk[a].leaf].type != CS__N_TERM) return 0;
  }
  return 1;
}

/* 1 when each of the words is one variant of its own, as written: the
 * positions cs__docs_refine reads are then exactly those scoring reads. */
static int plain_words(const cs__exec *x, const peek *pk, uint32_t np) {
  for (uint32_t a = 0; a < np; a++) {
    const xleaf *l = &x->leaves[pk[a].leaf];
    if (l->nvar != 1 || l->expanded || (a && pk[a].leaf == pk[a - 1].leaf)) return 0;
  }
  return 1;
}

/* Keeps document e aside (its bound bm25 + prox enters m): 1, or 0 once
 * more than PROX_DOCS_MAX were (refining is then given up). */
static int keep_aside(cs__exec *x, const prox_doc *e) {
  if (x->nprox > PROX_DOCS_MAX) return 0;
  if (x->nprox < PROX_DOCS_MAX) x->prox_docs[x->nprox] = *e;
  x->nprox++;
  return x->nprox <= PROX_DOCS_MAX;
}

/* The proximity score of document e from its words' positions, as
 * score.c's doc_proximity computes it; *v stays at the bound where
 * positions cannot be read (damage is reported when the document is
 * scored) or are more than scoring reads.
 *
 * Plain words (plain_words) give the very positions scoring reads. Words
 * with variants give those of every variant in the document, where
 * scoring may read fewer (held_exactly drops a word's typo and prefix
 * variants where it is held exactly). More positions never give less:
 * one put between two neighbours of different words is nearer to one of
 * them than they were to each other, so the sum over neighbours of
 * different words (cs__proximity) does not fall. But for one case: two
 * words at one position (a term both match), where it can; that document
 * keeps the bound. */
static int doc_prox(cs__exec *x, const prox_doc *e, double prox, double *v) {
  const peek *pk = x->prox_pk;
  *v = e->prox;
  size_t n = 0;
  for (uint32_t a = 0; a < WORDS_MAX; a++) {
    if (!((e->on >> a) & 1)) continue;
    const uint32_t *pos;
    uint32_t np;
    if (cs_pcur_peek_positions(pk[a].cur, pk[a].doc + e->at[a], &pos, &np)) return 0;
    if (n + np > POS_MAX) return 0;
    if (cs_grow((void **)&x->pp, &x->pp_cap, n + np, sizeof *x->pp)) return CS_ENOMEM;
    for (uint32_t k = 0; k < np; k++)
      x->pp[n++] = (cs__ppos){pos[k], pk[a].leaf};
  }
  double p = cs__proximity(x->pp, n, prox); /* (sorts x->pp by position) */
  int plain = plain_words(x, pk, x->prox_np);
  for (size_t i = 1; i < n && !plain; i++) {
    if (x->pp[i].pos == x->pp[i - 1].pos && x->pp[i].leaf != x->pp[i - 1].leaf) return 0;
  }
  *v = p;
  return 0;
}

int cs__docs_refine(cs__exec *x, double prox, double m[3]) {
  if (x->nprox > PROX_DOCS_MAX) return 0;
  memcpy(m, x->prox_m, sizeof x->prox_m);
  for (uint32_t k = 0; k < x->nprox; k++) {
    const prox_doc *e = &x->prox_docs[k];
    if (e->bm25 + e->prox <= m[2]) continue; /* could not enter them */
    double v;
    int rc = doc_prox(x, e, prox, &v);
    if (rc) return rc;
    cs__keep_top3(m, e->bm25 + v);
  }
  return 1;
}

int cs__docs_bound(cs__exec *x, const xrange *R, peek *pk, uint32_t np, double prox, double m[3]) {
  x->nprox = PROX_DOCS_MAX + 1;
  /* Words: the documents where two or more meet and that proximity's bound
   * lets into the three best are kept aside (x->prox_docs), the others'
   * three best in x->prox_m. */
  int aside = prox > 0 && docs_words(x, pk, np);
  double *mo = x->prox_m;
  if (aside) {
    x->prox_np = np;
    if (cs_grow((void **)&x->prox_docs, &x->prox_docs_cap, PROX_DOCS_MAX, sizeof *x->prox_docs))
      return CS_ENOMEM;
    x->nprox = 0;
    x->prox_pk = pk;
    mo[0] = mo[1] = mo[2] = 0;
  }
  if (np >= 2 && pk[0].leaf == pk[np - 1].leaf && x->leaves[pk[0].leaf].type == CS__N_TERM) {
    bound_one_clause(x, R, pk, np, m);
    return 0;
  }
  int dense = bound_docs_dense(x, R, pk, np, prox, m);
  if (dense < 0) return dense;
  if (dense) {
    x->nprox = PROX_DOCS_MAX + 1; /* (not kept aside: no refining) */
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
      if (sc > 0) cs__keep_top3(m, sc);
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
        double pb = cs__prox_bound(prox, (uint64_t)tp + tq, tp > tq ? tp : tq);
        if (aside && doc + pb > m[2] &&
            keep_aside(x, &(prox_doc){3, {(uint8_t)i, (uint8_t)j}, doc, pb})) {
          cs__keep_top3(m, doc + pb);
          goto stepped;
        }
        doc += pb;
      }
      cs__keep_top3(m, doc);
      if (aside) cs__keep_top3(mo, doc);
    stepped:
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
    prox_doc e = {0, {0}, 0, 0};
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
        for (uint32_t c = a; aside && c < b; c++) { /* its variants in d */
          if (pk[c].j < pk[c].n && pk[c].doc[pk[c].j] == d) {
            e.on |= 1u << c;
            e.at[c] = (uint8_t)pk[c].j;
          }
        }
      }
      a = b;
    }
    if (leaves >= 2) {
      double pb = cs__prox_bound(prox, occ, most);
      e.bm25 = doc;
      e.prox = pb;
      doc += pb;
      if (aside && doc > m[2] && keep_aside(x, &e)) {
        cs__keep_top3(m, doc);
        goto next_doc;
      }
    }
    cs__keep_top3(m, doc);
    if (aside) cs__keep_top3(mo, doc);
  next_doc:
    for (uint32_t a = 0; a < np; a++) {
      if (pk[a].j < pk[a].n && pk[a].doc[pk[a].j] == d) pk[a].j++;
    }
  }
  return 0;
}

/* What a document of R past v's current chunk scores at most for v's
 * clause (weight w, fields): the largest block bound of v's chunks ahead
 * that hold documents of R, read by their headers without decoding them
 * (0: none). -1 when a header cannot be read (the caller takes the limit;
 * the walk's cursor reports a damaged chunk). */
static double bound_ahead(cs__exec *x, const xrange *R, xvar *v, double w, unsigned fields) {
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
 * single word (in a long conversation, a single clause of several
 * variants too) it is lowered to the sum over the variants of their
 * current chunk's conversation bound, which bounds R whole however many
 * chunks it spans (cbound.h, format 12), where that is less.
 *
 * When a cursor goes on past its chunk inside R, the documents there are
 * not decoded yet, and any of them may hold every clause: the ones whose
 * documents in R are all decoded as well as the others. Such a document is
 * bounded by the sum over clauses of their block bound, or for those going
 * on the score limit, or for a single word (as above) the largest block
 * bound of its chunks ahead inside R, read by their headers (bound_ahead), and
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
  /* A single clause, of one variant or, in a long conversation, of
   * several (a search-box word with its typo variants, a prefix): the
   * conversation bound of the chunk each variant's cursor is in, which
   * bounds the conversation whole (cbound.h, format 12), else its chunks
   * ahead (their block bounds). The clause's best variant in a document
   * scores at most the sum of its variants, so their conversation bounds
   * add up too (cbound.h: the score is subadditive); a phrase's words give
   * their chunks ahead only. The least of all the conversation's chunks'
   * bounds would be tighter (a chunk's bound is its strongest
   * conversation's): reading their headers for it cost ParlaMint's single
   * words of high df +2.7 % (bench/analysis.md).
   * Measured no use for several clauses (proximity's bound alone keeps a
   * sitting above the page), and a cost for a prefix's variants in short
   * conversations (interviews: +6 %); in ParlaMint's sittings, the search
   * box's single words' p50 −5 % (bench/analysis.md). */
  int one = x->nactive == 1, long_conv = R->e - R->f >= CS__LONG_CONV;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !(l->fields & R->kinds) || !l->nvar) continue;
    /* The variants with a document in R: the first nin of x->lin (many),
     * or those of l->var on whose cursors are in R. */
    int all = 1, exact = 0, many = l->heap != HEAP_NONE && !leaves_behind(s, i);
    uint32_t nin = many ? cs__leaf_in(x, l, R->f, R->e, x->lin) : l->nvar;
    for (uint32_t k = 0; k < nin; k++) {
      const xvar *v = &x->vars[many ? x->lin[k] : l->var + k];
      if (left_behind(s, v)) continue;
      int in = many || var_geq(&x->vars[l->var + k], R->f) < R->e;
      all &= in;
      exact |= in && v->exact;
    }
    if (l->type == CS__N_PHRASE && !all) continue;
    double lu = 0; /* bound of its documents past a cursor's chunk */
    double qb = 0; /* the clause's best block bound */
    double cb = 0; /* the sum of its chunks' conversation bounds over R */
    uint32_t walked = l->nvar - (leaves_behind(s, i) ? s->behind : 0); /* not left behind */
    int few = one && (walked == 1 || long_conv), cbs = x->cb_ok && l->type == CS__N_TERM && few;
    uint32_t first = np;
    for (uint32_t k = 0; k < nin; k++) {
      xvar *v = &x->vars[many ? x->lin[k] : l->var + k];
      if (v->doc >= R->e || left_behind(s, v)) continue;
      peek *p = &pk[np++];
      p->n = cs_pcur_peek(v->cur, &p->doc, &p->tf, &p->len);
      p->cur = v->cur;
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
      if (c) cb += cs__cb_value(x, v->w, c);
      uint32_t last = cs_pcur_block_last(v->cur);
      if (last < R->e - 1) {
        cont = 1;
        /* Turns lie past it, and the description when the chunk ends on
         * the title. */
        unsigned past = CS__F_TURN;
        if (R->title != END && R->title > last) past |= CS__F_TITLE;
        if (R->desc != END && R->desc > last) past |= CS__F_DESC;
        /* The chunk's conversation bound covers R whole (cbound.h, format
         * 12): its chunks ahead need not be read. Without one, their block
         * bounds. */
        double u = !c && few ? bound_ahead(x, R, v, p->w, l->fields & past) : -1;
        if (u < 0) u = p->w * cs__bm25_limit(&x->rk, l->fields & past);
        if (u > lu) lu = u;
      }
    }
    if (np > first) present++;
    /* The clause's share of R's bound: cs__conv_bound of its documents'
     * best block bound, or less by the sum of its variants' conversation
     * bounds (cbound.h: each bounds R whole, and they add up over
     * variants, the score being subadditive). */
    double q = qb > lu ? qb : lu, share = cs__conv_bound(&x->rk, q);
    bound += cbs && cb < share ? cb : share;
    t += l->expanded && exact;
  }
  ub->tier += t;
  ub->score =
      (bound + (present >= 2 ? cs__conv_bound(&x->rk, x->prox_scale) : 0)) * (1 + 1e-9) + 1e-9;
  if (cs__key_cmp(s->sort, ub, th) > 0 || cont) return 0;
  double m[3] = {0, 0, 0};
  int rc = cs__docs_bound(x, R, pk, np, present >= 2 ? x->prox_scale : 0, m);
  if (rc) return rc;
  ub->score = cs__conv_score(&x->rk, m[0], m[1], m[2]) * (1 + 1e-9) + 1e-9;
  /* Let in by proximity's bound: the words' positions decide. */
  if (present >= 2 && cs__key_cmp(s->sort, ub, th) <= 0) {
    rc = cs__docs_refine(x, x->prox_scale, m);
    if (rc < 0) return rc;
    if (rc) ub->score = cs__conv_score(&x->rk, m[0], m[1], m[2]) * (1 + 1e-9) + 1e-9;
  }
  return 0;
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
