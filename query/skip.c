/*
 * Past the counting bound: passing conversations that cannot make the
 * page without matching them (block-max over chunks, chunks passed by
 * their headers, runs ruled out by their exact bound, a page of exact
 * matches walked by the terms that can still enter it), and the estimated
 * total. Runs also serve while counting, where they can tell a match from
 * their documents: the conversations they rule out are counted there.
 */
#include "bounds.h"

#include "errors.h"

#include <math.h>

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
    double c = cs__cb_value(x, v->w, cb);
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

/* The cursors the walk moves (all but those it leaves behind). */
static inline uint32_t walked_vars(const xsearch *s) {
  return s->x->nvars - (s->exact_only ? s->behind : 0);
}

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
  if (walked_vars(s) > PASS_MAX_CURSORS) return to;
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
      if (v->doc == END || left_behind(s, v)) continue;
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
    if (v->doc == END || !x->leaves[v->leaf].active || left_behind(s, v)) continue;
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
      if (v->doc > L || left_behind(s, v)) continue;
      double vb = var_block_bound(x, l, v);
      if (vb > lb) lb = vb;
      const cs_cbound *b = cbs ? cs_pcur_block_cbound(v->cur) : NULL;
      cbs = b != NULL;
      if (b) cb += cs__cb_value(x, v->w, b);
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
 * exact one (cs__docs_bound over the decoded documents, the tier from the
 * exact variants present), computed in one pass over the chunks without
 * matching, resolving or seeking per conversation. Conversations are
 * visited only where a cursor has a document (the next one after each
 * conversation), so rare words cost their documents, not the docids they
 * span. The run stops at the first conversation that may make the page,
 * that starts before t, or that goes on past L: the walk takes it from
 * there. Returns where the walk continues (t when nothing was ruled out). */
#define RUN_MAX_CURSORS 16

/* A clause of more variants than this (a short prefix) is bounded in a run
 * by its block bound alone: the sum of so many conversation bounds is
 * rarely less, and costs a look at each chunk's. */
#define CB_MAX_VARIANTS 4

/* While counting, a run is tried with at most this many cursors: more
 * (a search-box word's typo and prefix variants) cost a set-up that the
 * conversations it rules out before the count is reached rarely repay. */
#define COUNT_RUN_MAX_CURSORS 4

int cs__run_can_count(const xsearch *s) {
  const cs__exec *x = s->x;
  if (!x || s->match_fn || s->nnamed || s->exhaustive || s->filter.on || s->exact_only) return 0;
  if (s->caller->role == CS_CALLER_ANALYST) return 0; /* unname() moves cursors */
  if (x->nleaves > 64) return 0;
  /* A portal caller's people, fewer conversations than the count's bound:
   * the walk counts all it matches, its page fills among few, and runs
   * rule out too few to repay their set-up (measured: the search box as
   * the interviews' employees, 200 conversations each, +3 %). */
  if (s->universe && s->total_bound && s->nu < s->total_bound) return 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->nvar) continue; /* matches nothing, as leaf_in says */
    if (!l->active || (l->type != CS__N_TERM && l->nvar != 1)) return 0;
  }
  return 1;
}

/* cs__node_eval's leaf: whether leaf li is among the clauses occurring in
 * the conversation (a bit per leaf at ctx). */
static int leaf_in(void *ctx, int32_t li) {
  return (*(const uint64_t *)ctx >> li) & 1;
}

/* Whether clause l occurs in R by peek q's documents [q->j, q->end) there:
 * one of a kind it searches (leaf_match's doc_ok without turn filters). */
static int run_occurs(const xleaf *l, const xrange *R, const peek *q) {
  if (q->end == q->j) return 0;
  if ((l->fields & CS__F_ALL) == CS__F_ALL) return 1;
  for (uint32_t j = q->j; j < q->end; j++) {
    if (l->fields & (1u << kind_of(R, q->doc[j]))) return 1;
  }
  return 0;
}

/* Counts R, ruled out by a counting run, when it matches; 0, or 1 once
 * the count reaches its bound (the run counts no more). */
static int run_count(xsearch *s, const xrange *R, uint64_t in, uint32_t limit) {
  if (!cs__node_eval(s->x, s->x->q->root, leaf_in, &in) || !cs__range_visible(s, R)) return 0;
  s->total++;
  if (cs__counting(s)) return 0;
  /* The walk stops counting after R, unless R ends it. */
  if (R->e < limit) s->stopped_at = R->e;
  return 1;
}

uint32_t cs__skip_run(xsearch *s, uint32_t t, uint32_t limit) {
  cs__exec *x = s->x;
  int counting = limit && s->run_counts;
  if (limit && !counting) return t;
  const cs__key *th = cs__topk_threshold(&s->top);
  if (!th || s->sort != CS__SORT_RELEVANCE || s->nnamed || s->exhaustive) return t;
  if (!s->universe && !s->convs) return t;
  /* Many cursors (a short prefix's variants): a run's set-up, a peek and a
   * block bound per cursor, costs more than it saves. */
  if (walked_vars(s) > RUN_MAX_CURSORS) return t;
  if (counting && walked_vars(s) > COUNT_RUN_MAX_CURSORS) return t;
  if (counting) {
    /* While counting, the run starts at the next conversation the walk
     * would match: a long one (ParlaMint's sittings) never lies within
     * the cursors' decoded chunks, and the set-up would be for nothing. */
    xrange R;
    conv_at(s, t, &R);
    if (R.f == END || R.e - R.f >= CS__LONG_CONV) return t;
  }
  if (cs_grow((void **)&x->pk, &x->pk_cap, 2 * (size_t)x->nvars + 2, sizeof *x->pk) ||
      cs_grow((void **)&x->lbound, &x->lbound_cap, 2 * (size_t)x->nleaves + 1, sizeof *x->lbound))
    return t;
  peek *pk = x->pk, *pv = x->pk + x->nvars + 1;
  double *lbound = x->lbound; /* per clause: its chunks' block bound (the limit for a phrase) */
  /* per clause: the sum of its chunks' conversation bounds (cbound.h), or
   * HUGE_VAL where a chunk has none */
  double *cbound = x->lbound + x->nleaves;
  uint32_t np = 0, L = END;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    lbound[i] = 0;
    cbound[i] = 0;
    if (!l->active || !l->nvar) continue;
    int all = 1;
    for (uint32_t k = 0; k < l->nvar; k++) {
      if (!left_behind(s, &x->vars[l->var + k])) all &= var_geq(&x->vars[l->var + k], t) != END;
    }
    if (l->type == CS__N_PHRASE && !all) continue; /* never occurs again */
    for (uint32_t k = 0; k < l->nvar; k++) {
      xvar *v = &x->vars[l->var + k];
      if (v->doc == END || left_behind(s, v)) continue;
      peek *p = &pk[np++];
      p->n = cs_pcur_peek(v->cur, &p->doc, &p->tf, &p->len);
      p->cur = v->cur;
      p->j = 0;
      p->leaf = i;
      p->exact = v->exact;
      p->w = l->type == CS__N_TERM ? v->w : l->pw;
      uint32_t last = cs_pcur_block_last(v->cur);
      if (last < L) L = last;
      double b = var_block_bound(x, l, v);
      if (b > lbound[i]) lbound[i] = b;
      /* A word, or a quoted word (its occurrences score as a word's of
       * weight pw): a conversation's score from the clause is at most the
       * sum of its variants' conversation bounds. */
      const cs_cbound *cb =
          x->cb_ok && l->nvar <= CB_MAX_VARIANTS && (l->type == CS__N_TERM || l->nvar == 1)
              ? cs_pcur_block_cbound(v->cur)
              : NULL;
      cbound[i] += cb ? cs__cb_value(x, p->w, cb) : HUGE_VAL;
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
    if (R.e - 1 > L || (counting && R.e > limit)) {
      p = R.f;
      break;
    }
    /* The documents of each clause's cursors in R (none before it
     * remain): views of them for cs__docs_bound, for the clauses present (a
     * phrase: all its words). */
    uint32_t nv = 0, met = 0;
    uint64_t in = 0; /* counting: the clauses that occur in R */
    int tier = 0, present = 0;
    double quick = 0; /* R's bound from the clauses present and their chunks' bounds */
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
      for (uint32_t c = a; counting && c < b && !((in >> li) & 1); c++)
        in |= (uint64_t)run_occurs(l, &R, &pk[c]) << li;
      if (l->type == CS__N_TERM ? has > 0 : has == b - a) {
        present++;
        met += l->required;
        double cq = cs__conv_bound(&x->rk, lbound[li]);
        quick += cbound[li] < cq ? cbound[li] : cq;
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
    /* (Ruled out below, R is counted when it matches.) The chunks' bounds
     * of the clauses present first (a conversation with one of two words
     * is mostly ruled out there; per clause, cs__conv_bound of its block
     * bound or, where less, its conversation bounds), then the exact one. */
    double ub =
        (quick + (present >= 2 ? cs__conv_bound(&x->rk, x->prox_scale) : 0)) * (1 + 1e-9) + 1e-9;
    if (tier > th->tier || (tier == th->tier && ub >= th->score)) {
      double m[3] = {0, 0, 0};
      if (cs__docs_bound(x, &R, pv, nv, x->prox_scale, m)) {
        p = R.f;
        break;
      }
      ub = cs__conv_score(&x->rk, m[0], m[1], m[2]) * (1 + 1e-9) + 1e-9;
      /* Let in by proximity's bound: the words' positions decide. */
      if (tier == th->tier && ub >= th->score && present >= 2) {
        int rc = cs__docs_refine(x, x->prox_scale, m);
        if (rc < 0) {
          p = R.f;
          break;
        }
        if (rc) ub = cs__conv_score(&x->rk, m[0], m[1], m[2]) * (1 + 1e-9) + 1e-9;
      }
      if (tier > th->tier || (tier == th->tier && ub >= th->score)) {
        p = R.f;
        break;
      }
    }
    ruled++;
    if (counting && run_count(s, &R, in, limit)) counting = 0;
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

/* cs__pruned_lb's and cs__exact_chunk_skip's view of the page: the variants
 * that can lift a conversation into it (recomputed when the page's k-th
 * best moved). Returns the word's clause, or NULL when the query is not one
 * word of several variants or the page is not full. */
static const xleaf *ess_update(xsearch *s, const cs__key *th) {
  cs__exec *x = s->x;
  if (s->ess_leaf == ESS_UNKNOWN) { /* the query's shape: once per walk */
    s->ess_leaf = ESS_NONE;
    for (uint32_t i = 0; i < x->nleaves; i++) {
      const xleaf *li = &x->leaves[i];
      if (!li->active || !li->nvar) continue;
      if (x->nactive == 1 && s->sort == CS__SORT_RELEVANCE && !s->exhaustive &&
          li->type == CS__N_TERM && li->required && li->nvar >= 2)
        s->ess_leaf = (int32_t)i;
      break;
    }
  }
  if (!th || s->ess_leaf < 0) return NULL;
  const xleaf *l = &x->leaves[s->ess_leaf];
  if (s->ess_valid && s->ess_th.tier == th->tier && s->ess_th.score == th->score) return l;
  /* A conversation holding none of them has tier 0 (only an exact
   * variant raises it) and scores at most cs__conv_bound of its best
   * variant's limit, conv_bound's slack included. */
  double limit = cs__bm25_limit(&x->rk, l->fields);
  s->ess_n = 0;
  s->ess_exact = -1;
  uint32_t nexact = 0;
  for (uint32_t k = 0; k < l->nvar; k++) {
    const xvar *v = &x->vars[l->var + k];
    double ub = cs__conv_bound(&x->rk, v->w * limit) * (1 + 1e-9) + 1e-9;
    if ((v->exact && l->expanded) || !below(th, 0, ub)) x->ess[s->ess_n++] = l->var + k;
    if (v->exact) {
      nexact++;
      s->ess_exact = (int32_t)(l->var + k);
    }
  }
  /* A page of exact matches (cs__exact_chunk_skip): a conversation that can
   * still make it holds the exact variant, its tier then 1. */
  if (!l->expanded || s->nnamed || th->tier != 1 || nexact != 1) s->ess_exact = -1;
  if (s->ess_exact >= 0 && !s->exact_only) { /* set once: the page's tier never falls */
    s->exact_only = 1;
    s->behind = 0;
    for (uint32_t k = 0; k < l->nvar; k++)
      s->behind += x->vars[l->var + k].capped;
  }
  s->ess_th = *th;
  s->ess_valid = 1;
  return l;
}

/* After a look that passed nothing, the next 1, 2, 4, ... (at most 256)
 * looks are not made (*wait counts them down). */
static void back_off(uint32_t *backoff, uint32_t *wait) {
  *backoff = *backoff ? (*backoff < 256 ? 2 * *backoff : 256) : 1;
  *wait = *backoff;
}

uint32_t cs__exact_chunk_skip(xsearch *s, uint32_t t) {
  cs__exec *x = s->x;
  const cs__key *th = cs__topk_threshold(&s->top);
  const xleaf *l = ess_update(s, th);
  if (!l || s->ess_exact < 0) return t;
  xvar *ve = &x->vars[s->ess_exact];
  uint32_t next = var_geq(ve, t);
  if (next == END) return END; /* no conversation of tier 1 left */
  /* A conversation holding the word is scored on the word alone (score.c,
   * held_exactly): the next that can make the page holds the word's next
   * document or, where the bounds of that document's chunk keep every
   * conversation in it below the page, its first document past the
   * chunk. */
  uint32_t L = cs_pcur_block_last(ve->cur);
  double b = chunk_bound(x, l, ve, cs_pcur_block_max_tf(ve->cur), cs_pcur_block_min_len(ve->cur),
                         x->cb_ok ? cs_pcur_block_cbound(ve->cur) : NULL);
  if (below(th, 1, b * (1 + 1e-9) + 1e-9)) next = L + 1;
  xrange R;
  conv_at(s, next, &R);
  if (R.f == END) return END;
  if (R.f <= t) return t;
  s->ess_skips++;
  return R.f;
}

/* A page of several words' exact matches (its tier: every word typed
 * matched exactly, the most there is): a conversation that can still make
 * it holds each word's exact variant. Whether the page th is of that tier. */
static int all_exact_page(xsearch *s, const cs__key *th) {
  cs__exec *x = s->x;
  if (!th || s->nnamed || s->sort != CS__SORT_RELEVANCE || s->exhaustive) return 0;
  if (s->ax_tier < 0) { /* the highest tier: once per walk */
    s->ax_tier = 0;
    for (uint32_t i = 0; i < x->nleaves; i++) {
      const xleaf *l = &x->leaves[i];
      if (!l->active || !l->nvar || !l->expanded) continue;
      for (uint32_t k = 0; k < l->nvar; k++) {
        if (x->vars[l->var + k].exact) { /* a word with no exact term never counts */
          s->ax_tier++;
          break;
        }
      }
    }
  }
  return s->ax_tier && th->tier >= s->ax_tier;
}

/* On such a page, the next candidate is at or past the latest of the words'
 * exact variants' next documents (as an AND of them finds it); the walk's
 * matching and bounds take it from there. END: a word whose exact variant
 * has no document left. */
static uint32_t all_exact_lb(xsearch *s, uint32_t t) {
  cs__exec *x = s->x;
  uint32_t d = t;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !l->nvar || !l->expanded) continue;
    uint32_t e = END;
    int exact = 0;
    for (uint32_t k = 0; k < l->nvar; k++) {
      xvar *v = &x->vars[l->var + k];
      if (!v->exact) continue;
      exact = 1;
      uint32_t dv = var_geq(v, t);
      if (dv < e) e = dv;
    }
    if (exact && e > d) d = e;
  }
  return d;
}

uint32_t cs__pruned_lb(xsearch *s, uint32_t t) {
  cs__exec *x = s->x;
  const cs__key *th = cs__topk_threshold(&s->top);
  const xleaf *l = ess_update(s, th);
  if (!l && x->nactive >= 2) {
    /* Both bound where a match may start; cursors move to t at most (a
     * candidate conversation may start before either). */
    uint32_t n = cs__node_lb(x, x->q->root, t);
    if (!all_exact_page(s, th)) return n;
    /* Where the exact terms seldom lead (a question's common words), the
     * look costs more than it passes: it backs off. */
    if (s->ax_wait) {
      s->ax_wait--;
      return n;
    }
    uint32_t d = all_exact_lb(s, t);
    if (d <= n) {
      back_off(&s->ax_backoff, &s->ax_wait);
      return n;
    }
    s->ax_backoff = 0;
    s->ess_skips++;
    return d;
  }
  if (!l || s->ess_n == l->nvar) return cs__node_lb(x, x->q->root, t);
  uint32_t d = END;
  for (uint32_t i = 0; i < s->ess_n; i++) {
    uint32_t di = var_geq(&x->vars[x->ess[i]], t);
    if (di < d) d = di;
  }
  return d;
}
