/*
 * Search: from a parsed query to ranked, counted, paged conversations with
 * highlighted snippets (GET /v1/search).
 *
 * Model. Every title, description and turn of a conversation is its own
 * document; a conversation's documents have contiguous docids
 * [first_docid, first_docid + ndocs). Results are conversations, so a query
 * is evaluated per conversation: all words must occur in the conversation
 * (each may be in a different turn), an excluded word must occur in none of
 * its turns, OR needs either side somewhere in it, a phrase must occur
 * inside one turn. speaker:/role: filters (and the speaker/role parameters)
 * restrict every clause to the turns that pass them.
 *
 * Evaluation walks conversations in docid order. A "lower bound" pass over
 * the query tree finds the smallest docid where a match could start (the
 * largest of the AND clauses' next documents, the smallest of OR's); that
 * docid names a candidate conversation; each clause then checks whether it
 * matches inside that conversation's docid range, jumping with next_geq. A
 * conversation is counted (total) as soon as it matches, and all cursors
 * then jump past it, so counting never touches the rest of its documents.
 *
 * Which conversations exist and who may see them: a portal caller's
 * conversations (those of the people whose CURRENT owner is the caller) are
 * listed up front from CS_T_OWNER and CS_T_PCONV as sorted docid ranges,
 * and the walk only ever visits those ranges: someone else's conversation is
 * never even scored. The patient and conversation filters use the same
 * mechanism. Otherwise (analysts, admins) the conversation holding a
 * candidate docid is found in the in-memory docid -> conversation table
 * (convs.h) once per candidate conversation, never per document.
 *
 * Ranking and pruning. A matching conversation is scored (rank.h: BM25 per
 * document with field weights and proximity; the conversation scores its
 * three best documents) only if it can enter the top k. Its bound comes
 * from the postings already decoded in the cursors' current chunks
 * (cs_pcur_peek: the exact tf and length of its documents there, merged per
 * document), with the score limit standing in for documents in chunks not
 * decoded yet; a conversation whose bound ranks below the k-th best kept so
 * far is only counted (MaxScore at the conversation level). Inside a scored
 * conversation, once three turns are known, whole chunks whose block-max
 * bound (largest tf, shortest length) cannot beat the third best are
 * skipped (block-max skipping). Both are exact: results equal exhaustive
 * scoring. Results are ordered by (tier, score, recency, id), where tier is
 * the number of expanded words (prefix or typo tolerant) that the
 * conversation matches exactly: typing "casa" ranks "casa" above "casas"
 * and "cama" whatever their BM25.
 *
 * Relaxation. When an all-words query matches nothing, the rarest clauses
 * are dropped one at a time until something matches ("relaxed": true).
 *
 * Paging. The cursor is opaque base64url of the last hit's sort key, the
 * docid horizon of the first page (the next docid then), the relaxation
 * mask and a hash of the query and filters. Later pages only consider
 * documents below the horizon and compute statistics as of it (documents
 * added since are subtracted from document counts, lengths and document
 * frequencies), so scores are recomputed bit for bit and a walk returns
 * every hit exactly once even while conversations are being added. (A
 * deletion during a walk changes statistics slightly; the deleted
 * conversation itself is simply gone.)
 *
 * Snippets. For the hits of the page only, the best three matching turns
 * (by document score, remembered while scoring) are highlighted: cursors of
 * the terms these hits matched are reopened, positions of the snippet turns
 * read, mapped to byte offsets through the turn's token table (highlight.c).
 */
#include "search.h"

#include "errors.h"
#include "expand.h"
#include "internal.h"
#include "redact.h"
#include "varint.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define END CS_DOCID_END
#define SNIPPETS 3
/* Variants one query may hold: terms beyond this are not expanded. */
#define VAR_BUDGET 512
/* Positions of one document considered for proximity and highlights. */
#define POS_MAX 1024

/* ---------------------------------------------------------------- compiled query */

typedef struct xvar {
  cs_pcur *cur; /* NULL: the term is absent, or the cursor is closed */
  uint32_t doc; /* the cursor's docid (END without one): read in every loop */
  uint32_t leaf;
  uint8_t exact;
  double weight; /* variant weight x leaf boost */
  double idf;
  double w; /* idf x weight: multiplies cs__bm25_tf */
  uint64_t df;
  char term[CS_TERM_MAX + 1];
  uint8_t len;
} xvar;

typedef struct xleaf {
  int32_t node;
  uint8_t type;     /* CS__N_TERM or CS__N_PHRASE */
  uint8_t fields;   /* CS__F_* */
  uint8_t negated;  /* under an exclusion: matched, never scored */
  uint8_t expanded; /* a TERM with prefix/typo variants: counts for the tier */
  uint8_t active;   /* scored and highlighted: positive, not dropped */
  uint32_t var, nvar;
  uint32_t word; /* PHRASE: first word (positions relative to it) */
  double pw;     /* PHRASE: summed idf x boost */
  double idf;    /* for the proximity scale */
  uint64_t df;   /* for relaxation order */
} xleaf;

struct cs__exec {
  cs_reader *r;
  const cs__query *q;
  cs__ranker rk;
  cs__rank_params rp;
  cs_stats st;
  uint32_t horizon;
  xleaf *leaves;
  uint32_t nleaves;
  xvar *vars;
  uint32_t nvars, vars_cap;
  int32_t *node_leaf; /* per node: leaf index, -1 for groups */
  uint8_t *dropped;   /* per node: dropped by relaxation (top-level kids) */
  double prox_scale;
  /* Scratch, grown as needed and reused: no allocation per document. */
  uint32_t *act;
  double *leaf_score; /* per leaf, of the document being scored */
  cs__ppos *pp;
  size_t pp_cap;
  cs__pspan *sp;
  size_t sp_cap;
  uint32_t *phr;
  size_t phr_cap;
  struct peek *pk;
  size_t pk_cap;
};

static int grow_buf(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need)
    c *= 2;
  void *n = realloc(*p, c * size);
  if (!n) return CS_ENOMEM;
  *p = n;
  *cap = c;
  return 0;
}

static int add_var(cs__exec *x, uint32_t leaf, const char *term, size_t len, int exact,
                   double weight, uint64_t df) {
  if (x->nvars == x->vars_cap) {
    uint32_t cap = x->vars_cap ? x->vars_cap * 2 : 16;
    xvar *v = realloc(x->vars, cap * sizeof *v);
    if (!v) return CS_ENOMEM;
    x->vars = v;
    x->vars_cap = cap;
  }
  xvar *v = &x->vars[x->nvars++];
  memset(v, 0, sizeof *v);
  v->leaf = leaf;
  v->exact = (uint8_t)exact;
  v->weight = weight;
  v->df = df;
  if (len > CS_TERM_MAX) len = CS_TERM_MAX;
  memcpy(v->term, term, len);
  v->len = (uint8_t)len;
  return 0;
}

static int open_cursor(cs__exec *x, xvar *v) {
  cs_pcur_close(v->cur);
  v->cur = NULL;
  v->doc = END;
  if (v->df == 0 && v->len == 0) return 0;
  int rc = cs_pcur_open(x->r, v->term, v->len, &v->cur);
  if (rc == CS_ENOTFOUND) return 0;
  if (!rc) v->doc = cs_pcur_docid(v->cur);
  return rc;
}

/* Lists the leaves in tree order, noting which lie under an exclusion. */
static int collect_leaves(cs__exec *x, int32_t n, int neg, uint32_t *count) {
  const cs__qnode *node = &x->q->nodes[n];
  if (node->type == CS__N_TERM || node->type == CS__N_PHRASE) {
    xleaf *l = &x->leaves[*count];
    memset(l, 0, sizeof *l);
    l->node = n;
    l->type = node->type;
    l->fields = node->fields;
    l->negated = (uint8_t)neg;
    l->active = (uint8_t)!neg;
    x->node_leaf[n] = (int32_t)(*count)++;
    return 0;
  }
  int kneg = neg || node->type == CS__N_NOT;
  for (uint32_t k = 0; k < node->nkids; k++) {
    int rc = collect_leaves(x, (int32_t)x->q->kids[node->kid + k], kneg, count);
    if (rc) return rc;
  }
  return 0;
}

/* Document frequency of a term among docids below the horizon. */
static int df_below(cs__exec *x, xvar *v, uint64_t *df) {
  cs_pcur *c;
  int rc = cs_pcur_open(x->r, v->term, v->len, &c);
  if (rc == CS_ENOTFOUND) {
    *df = 0;
    return 0;
  }
  if (rc) return rc;
  uint64_t after = 0;
  for (cs_pcur_next_geq(c, x->horizon); cs_pcur_docid(c) != END; cs_pcur_next(c))
    after++;
  rc = cs_pcur_error(c);
  cs_pcur_close(c);
  *df = v->df > after ? v->df - after : 0;
  return rc;
}

static int docs_after_each(void *ctx, cs_slice key, cs_slice val) {
  cs_stats *st = ctx;
  cs_doc d;
  if (cs_doc_decode(val.data, val.len, &d)) return 0;
  if (st->docs[d.kind]) st->docs[d.kind]--;
  st->tokens[d.kind] = st->tokens[d.kind] >= d.len ? st->tokens[d.kind] - d.len : 0;
  return 0;
}

/* Statistics as of the horizon: documents added since do not count. */
static int stats_at_horizon(cs__exec *x) {
  if (!x->horizon || x->horizon >= x->st.next_docid) return 0;
  uint8_t from[4];
  cs_be32_put(from, x->horizon);
  int rc = cs_reader_scan_from(x->r, CS_T_DOCS, NULL, 0, from, 4, docs_after_each, &x->st);
  for (uint32_t i = 0; !rc && i < x->nvars; i++)
    rc = df_below(x, &x->vars[i], &x->vars[i].df);
  return rc;
}

static void compute_weights(cs__exec *x) {
  cs__ranker_init(&x->rk, &x->rp, &x->st);
  for (uint32_t i = 0; i < x->nvars; i++) {
    xvar *v = &x->vars[i];
    v->idf = cs__idf(&x->rk, v->df);
    v->w = v->idf * v->weight;
  }
  double idf_sum = 0;
  uint32_t nidf = 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    xleaf *l = &x->leaves[i];
    double boost = x->q->nodes[l->node].boost;
    l->pw = 0;
    l->idf = 0;
    l->df = 0;
    for (uint32_t k = 0; k < l->nvar; k++) {
      const xvar *v = &x->vars[l->var + k];
      if (l->type == CS__N_PHRASE) {
        l->pw += v->idf * boost;
        l->idf += v->idf / l->nvar;
        if (k == 0 || v->df < l->df) l->df = v->df;
      } else {
        if (v->idf > l->idf) l->idf = v->idf;
        l->df += v->df;
      }
    }
    if (l->active && l->nvar) {
      idf_sum += l->idf;
      nidf++;
    }
  }
  x->prox_scale = nidf >= 2 ? x->rp.proximity * idf_sum / nidf : 0;
}

int cs__exec_open(cs_reader *r, const cs__query *q, const cs__rank_params *rp, uint32_t horizon,
                  cs__exec **out) {
  *out = NULL;
  cs__exec *x = calloc(1, sizeof *x);
  if (!x) return CS_ENOMEM;
  x->r = r;
  x->q = q;
  x->rp = *rp;
  x->horizon = horizon;
  int rc = cs_reader_stats(r, &x->st);
  uint32_t nn = q->nnodes ? q->nnodes : 1;
  x->node_leaf = malloc(nn * sizeof *x->node_leaf);
  x->dropped = calloc(nn, 1);
  x->leaves = calloc(nn, sizeof *x->leaves);
  if (!rc && (!x->node_leaf || !x->dropped || !x->leaves)) rc = CS_ENOMEM;
  if (rc) goto fail;
  for (uint32_t i = 0; i < nn; i++)
    x->node_leaf[i] = -1;
  if (q->root >= 0) rc = collect_leaves(x, q->root, 0, &x->nleaves);
  if (rc) goto fail;

  /* Share the expansion budget among the words that expand. */
  uint32_t expanding = 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const cs__qnode *n = &q->nodes[x->leaves[i].node];
    expanding += n->type == CS__N_TERM && (n->prefix || n->edits);
  }
  uint32_t cap = expanding ? VAR_BUDGET / expanding : CS__EXPAND_MAX;
  if (cap > CS__EXPAND_MAX) cap = CS__EXPAND_MAX;
  if (cap < 4) cap = 4;
  cs__variant *vv = malloc(CS__EXPAND_MAX * sizeof *vv);
  if (!vv) {
    rc = CS_ENOMEM;
    goto fail;
  }
  for (uint32_t i = 0; !rc && i < x->nleaves; i++) {
    xleaf *l = &x->leaves[i];
    const cs__qnode *n = &q->nodes[l->node];
    double boost = n->boost;
    l->var = x->nvars;
    if (n->type == CS__N_TERM) {
      const cs__qword *w = &q->words[n->word];
      uint32_t nv = 0;
      /* Excluded words get no typo tolerance: excluding every word that
       * looks like a typo of it would surprise more than it helps. (Their
       * prefix is always explicit, "-viv*": the last word's implicit one
       * never applies to an exclusion.) */
      int prefix = n->prefix, edits = l->negated ? 0 : n->edits;
      rc = cs__expand(r, w, prefix, edits, prefix || edits ? cap : 2, vv, &nv);
      for (uint32_t k = 0; !rc && k < nv; k++) {
        rc = add_var(x, i, vv[k].term, vv[k].len, vv[k].exact, vv[k].weight * boost, vv[k].df);
        if (!vv[k].exact) l->expanded = 1;
      }
    } else {
      for (uint32_t k = 0; !rc && k < n->nwords; k++) {
        const cs__qword *w = &q->words[n->word + k];
        cs_lex lx;
        const char *term = w->term;
        size_t tlen = w->term_len;
        int lrc = cs_reader_lex(r, term, tlen, &lx);
        if (lrc == CS_ENOTFOUND) {
          /* The stem the index recorded for this surface word, if any. */
          cs_word we;
          if (cs_reader_word(r, w->word, w->word_len, &we) == 0 &&
              cs_reader_lex(r, we.stem.p, we.stem.len, &lx) == 0) {
            term = we.stem.p;
            tlen = we.stem.len;
            lrc = 0;
          }
        }
        if (lrc && lrc != CS_ENOTFOUND) rc = lrc;
        if (!rc) rc = add_var(x, i, term, tlen, 1, boost, lrc ? 0 : lx.df);
        if (!rc && lrc) x->vars[x->nvars - 1].len = 0; /* absent: never opened */
      }
      l->word = n->word;
    }
    l->nvar = x->nvars - l->var;
  }
  free(vv);
  if (rc) goto fail;
  for (uint32_t i = 0; !rc && i < x->nvars; i++)
    rc = open_cursor(x, &x->vars[i]);
  if (!rc) rc = stats_at_horizon(x);
  if (rc) goto fail;
  compute_weights(x);
  x->act = malloc((x->nvars ? x->nvars : 1) * sizeof *x->act);
  x->leaf_score = calloc(x->nleaves ? x->nleaves : 1, sizeof *x->leaf_score);
  if (!x->act || !x->leaf_score) {
    rc = CS_ENOMEM;
    goto fail;
  }
  *out = x;
  return 0;
fail:
  cs__exec_close(x);
  return rc;
}

void cs__exec_close(cs__exec *x) {
  if (!x) return;
  for (uint32_t i = 0; i < x->nvars; i++)
    cs_pcur_close(x->vars[i].cur);
  free(x->vars);
  free(x->leaves);
  free(x->node_leaf);
  free(x->dropped);
  free(x->act);
  free(x->leaf_score);
  free(x->pp);
  free(x->sp);
  free(x->phr);
  free(x->pk);
  free(x);
}

/* Reopens every cursor at the start (relaxation retries). */
static int exec_rewind(cs__exec *x) {
  for (uint32_t i = 0; i < x->nvars; i++) {
    int rc = open_cursor(x, &x->vars[i]);
    if (rc) return rc;
  }
  return 0;
}

/* Marks the leaves under node n (dropped: an ancestor was dropped). */
static void mark_active(cs__exec *x, int32_t n, int dropped) {
  dropped |= x->dropped[n];
  int32_t li = x->node_leaf[n];
  if (li >= 0) {
    xleaf *l = &x->leaves[li];
    l->active = !l->negated && !dropped;
    return;
  }
  const cs__qnode *node = &x->q->nodes[n];
  for (uint32_t k = 0; k < node->nkids; k++)
    mark_active(x, (int32_t)x->q->kids[node->kid + k], dropped);
}

/* Leaves that count for scoring: positive and not dropped by relaxation. */
static void update_active(cs__exec *x) {
  if (x->q->root >= 0) mark_active(x, x->q->root, 0);
  double idf_sum = 0;
  uint32_t n = 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    if (x->leaves[i].active && x->leaves[i].nvar) {
      idf_sum += x->leaves[i].idf;
      n++;
    }
  }
  x->prox_scale = n >= 2 ? x->rp.proximity * idf_sum / n : 0;
}

/* ---------------------------------------------------------------- conversations */

typedef cs__crange xrange;

static void range_of(const cs_conv *c, xrange *R) {
  cs__crange_of(c, R);
}

static int kind_of(const xrange *R, uint32_t d) {
  return d == R->title ? CS_DOC_TITLE : d == R->desc ? CS_DOC_DESCRIPTION : CS_DOC_TURN;
}

/* ---------------------------------------------------------------- turn filters */

typedef struct fold_slot {
  char raw[64];
  uint8_t rlen;
  char fold[64];
  int flen;
} fold_slot;

typedef struct xfilter {
  int on;
  const cs__query *q;
  char speaker[64]; /* the speaker parameter, folded ("" : none) */
  int has_speaker;
  int role; /* the role parameter or CS_ANY_ROLE */
  fold_slot cache[8];
  int next;
} xfilter;

static int fold_cached(xfilter *f, cs_str s, char *out, size_t cap) {
  if (s.len < sizeof f->cache[0].raw) {
    for (int i = 0; i < 8; i++) {
      fold_slot *c = &f->cache[i];
      if (c->flen >= 0 && c->rlen == s.len && memcmp(c->raw, s.p, s.len) == 0 && c->rlen) {
        memcpy(out, c->fold, (size_t)c->flen + 1);
        return c->flen;
      }
    }
  }
  int n = cs__fold_speaker(s.p, s.len, out, cap);
  if (n >= 0 && s.len < sizeof f->cache[0].raw && s.len > 0) {
    fold_slot *c = &f->cache[f->next];
    f->next = (f->next + 1) % 8;
    memcpy(c->raw, s.p, s.len);
    c->rlen = (uint8_t)s.len;
    memcpy(c->fold, out, (size_t)n + 1);
    c->flen = n;
  }
  return n;
}

static int turn_passes(xfilter *f, const cs_turn *t) {
  const cs__query *q = f->q;
  if (f->role != CS_ANY_ROLE && t->role != f->role) return 0;
  if (q->roles && !(q->roles & (1u << t->role))) return 0;
  if (q->not_roles & (1u << t->role)) return 0;
  if (!f->has_speaker && !q->nspeakers && !q->nnot_speakers) return 1;
  char sp[64];
  int n = fold_cached(f, t->speaker, sp, sizeof sp);
  if (n < 0) return 0; /* a name longer than any filter cannot equal one */
  if (f->has_speaker && strcmp(sp, f->speaker) != 0) return 0;
  if (q->nspeakers) {
    int any = 0;
    for (int i = 0; i < q->nspeakers; i++)
      any |= strcmp(sp, q->speakers[i]) == 0;
    if (!any) return 0;
  }
  for (int i = 0; i < q->nnot_speakers; i++) {
    if (strcmp(sp, q->not_speakers[i]) == 0) return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------- walk state */

typedef struct xhit {
  cs__key key;
  xrange R;
  uint32_t snip[SNIPPETS];
  double snip_score[SNIPPETS];
  uint8_t nsnip;
  /* followed by the mask of matched variants (mask_words uint64) */
} xhit;

typedef struct xsearch {
  cs_reader *r;
  cs_analyzer *a; /* for highlighting titles and descriptions */
  const cs_caller *caller;
  const cs_search_params *p;
  const cs__query *q;
  cs__exec *x;
  int sort;
  uint32_t horizon;
  xfilter filter;
  /* The conversations to walk, sorted by docid, when known up front. */
  int universe;
  xrange *u;
  size_t nu, ucap;
  /* Conversations of the people the query names (cs__people_named):
   * they match whatever their text, and rank above the others. */
  xrange *named;
  size_t nnamed, named_cap;
  /* Turn filter bits of the current conversation. */
  uint8_t *bits;
  size_t bits_cap;
  const uint8_t *cur_bits;
  /* Results. */
  uint64_t total;
  cs__topk top;
  int has_after;
  cs__key after;
  size_t mask_words;
  xhit *scratch;
  int first_only; /* stop at the first match (relaxation probes) */
  int exhaustive; /* no pruning */
  int timed_out;
  struct timespec deadline;
  int has_deadline;
  unsigned ticks;
  int err;
  /* Match walks (cs__match): every matching conversation goes to match_fn
   * with its matching turns instead of being ranked. */
  cs__match_fn match_fn;
  void *match_ctx;
  uint32_t *mturns;
  size_t mturns_cap;
  /* Analysts: the redaction of the last person's names (redact_for), and
   * the cheap keys of the query's terms (unname). */
  cs__redact rd;
  int rd_set;
  const cs__exec *vkeys_of;
  uint32_t vkeys[64];
  size_t nvkeys;
  int vkeys_all;
  /* The docid -> conversation table (a private one when none was given). */
  const cs__convs *convs;
  cs__convs own_convs;
  /* Bounded counting (counting(), total_estimate()). */
  uint64_t total_bound;
  uint32_t walk_from, stopped_at, limit_at;
} xsearch;

/* The redaction for a conversation of `patient` (kept for the next). */
static const cs__redact *redact_for(xsearch *s, uint64_t patient) {
  if (!s->rd_set || s->rd.patient != patient) {
    cs__redact_init(&s->rd, s->caller, s->r, patient);
    s->rd_set = 1;
  }
  return &s->rd;
}

static inline uint64_t *hit_mask(xhit *h) {
  return (uint64_t *)(h + 1);
}

static int past_deadline(xsearch *s) {
  if (!s->has_deadline || (++s->ticks & 63)) return 0;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (now.tv_sec > s->deadline.tv_sec ||
      (now.tv_sec == s->deadline.tv_sec && now.tv_nsec >= s->deadline.tv_nsec)) {
    s->timed_out = 1;
    return 1;
  }
  return 0;
}

/* Conversation-level filters that do not depend on the query. */
static int range_passes(const xsearch *s, const xrange *R) {
  const cs_search_params *p = s->p;
  if (R->f >= s->horizon && s->horizon) return 0;
  if (p->owner && R->owner != p->owner) return 0;
  if (p->patient && R->patient != p->patient) return 0;
  if (p->conversation && R->id != p->conversation) return 0;
  if (p->from_ms != INT64_MIN && (R->created < 0 || R->created < p->from_ms)) return 0;
  if (p->to_ms != INT64_MAX && (R->created < 0 || R->created > p->to_ms)) return 0;
  return 1;
}

static int range_add(xsearch *s, const cs_conv *c, xrange **v, size_t *n, size_t *cap) {
  xrange R;
  range_of(c, &R);
  if (!range_passes(s, &R)) return 0;
  if (grow_buf((void **)v, cap, *n + 1, sizeof **v)) return CS_ENOMEM;
  (*v)[(*n)++] = R;
  return 0;
}

static int universe_add(xsearch *s, const cs_conv *c) {
  return range_add(s, c, &s->u, &s->nu, &s->ucap);
}

static int universe_add_id(xsearch *s, uint64_t id) {
  cs_conv c;
  int rc = cs_reader_conv(s->r, id, &c);
  if (rc == CS_ENOTFOUND) return 0;
  return rc ? rc : universe_add(s, &c);
}

static int pconv_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  if (key.len != 16) return 0;
  return universe_add_id(ctx, cs_be64_get((const uint8_t *)key.data + 8));
}

static int patient_convs(xsearch *s, uint64_t patient) {
  uint8_t pfx[8];
  cs_key_u64(pfx, patient);
  return cs_reader_scan(s->r, CS_T_PCONV, pfx, 8, pconv_each, s);
}

static int owner_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  xsearch *s = ctx;
  if (key.len != 16) return 0;
  uint64_t patient = cs_be64_get((const uint8_t *)key.data + 8);
  /* The person's record holds the current owner; the owner table follows
   * it, but the record decides. */
  if (!cs_caller_sees_patient(s->r, s->caller, patient)) return 0;
  return patient_convs(s, patient);
}

static int range_cmp(const void *a, const void *b) {
  const xrange *x = a, *y = b;
  return x->f < y->f ? -1 : x->f > y->f;
}

/* Lists the conversations the walk may visit when they are few and known
 * up front: a conversation filter, a person filter, or a portal caller's
 * people. Otherwise leaves s->universe 0 (everything, resolved lazily). */
static int build_universe(xsearch *s) {
  const cs_search_params *p = s->p;
  const cs_caller *c = s->caller;
  int rc = 0;
  if (p->conversation) {
    s->universe = 1;
    cs_conv cv;
    rc = cs_reader_conv(s->r, p->conversation, &cv);
    if (rc == CS_ENOTFOUND) return 0;
    if (rc) return rc;
    if (!cs_caller_sees_patient(s->r, c, cv.patient_id)) return 0;
    rc = universe_add(s, &cv);
  } else if (p->patient) {
    s->universe = 1;
    if (!cs_caller_sees_patient(s->r, c, p->patient)) return 0;
    rc = patient_convs(s, p->patient);
  } else if (cs_caller_restricted(c)) {
    s->universe = 1;
    if (c->employee_id == 0) return 0;
    uint8_t pfx[8];
    cs_key_u64(pfx, c->employee_id);
    rc = cs_reader_scan(s->r, CS_T_OWNER, pfx, 8, owner_each, s);
  }
  if (rc) return rc;
  if (s->nu > 1) qsort(s->u, s->nu, sizeof *s->u, range_cmp);
  return 0;
}

/* In v[0..n) (sorted by docid), the first non-empty conversation ending
 * after docid d; n when none. */
static size_t range_after(const xrange *v, size_t n, uint32_t d) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid].e <= d)
      lo = mid + 1;
    else
      hi = mid;
  }
  while (lo < n && v[lo].e <= v[lo].f)
    lo++; /* empty conversations */
  return lo;
}

/* ---------------------------------------------------------------- named people */

/* Rank of a conversation of a named person over any other match. */
#define NAMED_TIER (1 << 20)

static int named_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  xsearch *s = ctx;
  if (key.len != 16) return 0;
  cs_conv c;
  int rc = cs_reader_conv(s->r, cs_be64_get((const uint8_t *)key.data + 8), &c);
  if (rc == CS_ENOTFOUND) return 0;
  return rc ? rc : range_add(s, &c, &s->named, &s->nnamed, &s->named_cap);
}

/* Lists the conversations of the people query text q names, sorted. */
static int build_named(xsearch *s, const char *q, size_t qlen) {
  uint64_t *ids;
  size_t n;
  int rc = cs__people_named(s->r, s->convs, s->caller, q, qlen, &ids, &n);
  for (size_t i = 0; i < n && !rc; i++) {
    uint8_t pfx[8];
    cs_key_u64(pfx, ids[i]);
    rc = cs_reader_scan(s->r, CS_T_PCONV, pfx, 8, named_each, s);
  }
  free(ids);
  if (!rc && s->nnamed > 1) qsort(s->named, s->nnamed, sizeof *s->named, range_cmp);
  return rc;
}

/* The first named conversation ending after t: where it starts (at least
 * t), or END. */
static uint32_t named_lb(const xsearch *s, uint32_t t) {
  size_t i = range_after(s->named, s->nnamed, t);
  if (i == s->nnamed) return END;
  return s->named[i].f > t ? s->named[i].f : t;
}

static int is_named(const xsearch *s, const xrange *R) {
  size_t lo = 0, hi = s->nnamed;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->named[mid].f < R->f)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (; lo < s->nnamed && s->named[lo].f == R->f; lo++) {
    if (s->named[lo].id == R->id) return 1;
  }
  return 0;
}

/* Finds the conversation holding docid d. Returns 1 with *R filled when it
 * is one to consider; 0 with *next set to where the walk continues (a gap,
 * a name, a filtered or invisible conversation); or a CS_E* code. */
static int resolve(xsearch *s, uint32_t d, xrange *R, uint32_t *next) {
  if (s->universe) {
    size_t lo = range_after(s->u, s->nu, d);
    if (lo >= s->nu) {
      *next = END;
      return 0;
    }
    if (s->u[lo].f > d) {
      *next = s->u[lo].f;
      return 0;
    }
    *R = s->u[lo];
    return 1;
  }
  if (!s->convs) {
    int rc = cs__convs_get(NULL, s->r, &s->own_convs);
    if (rc) return rc;
    s->convs = &s->own_convs;
  }
  long i = cs__convs_find(s->convs, d, next);
  if (i < 0) return 0;
  *R = s->convs->r[i];
  *next = R->e;
  if (!range_passes(s, R)) return 0;
  /* Restricted callers always walk a universe; this is defence in depth. */
  if (cs_caller_restricted(s->caller) && !cs_caller_sees_patient(s->r, s->caller, R->patient))
    return 0;
  return 1;
}

typedef struct bits_ctx {
  xsearch *s;
  const xrange *R;
} bits_ctx;

static int bits_each(void *ctx, cs_slice key, cs_slice val) {
  (void)key;
  bits_ctx *b = ctx;
  cs_turn t;
  if (cs_turn_decode(val.data, val.len, &t)) return 0;
  if (t.docid < b->R->f || t.docid >= b->R->e) return 0;
  if (turn_passes(&b->s->filter, &t)) {
    uint32_t i = t.docid - b->R->f;
    b->s->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
  }
  return 0;
}

/* Marks the turns of R that pass the turn filters (s->cur_bits). */
static int build_bits(xsearch *s, const xrange *R) {
  s->cur_bits = NULL;
  if (!s->filter.on) return 0;
  size_t nbytes = ((size_t)(R->e - R->f) + 7) / 8 + 1;
  if (grow_buf((void **)&s->bits, &s->bits_cap, nbytes, 1)) return CS_ENOMEM;
  memset(s->bits, 0, nbytes);
  uint8_t pfx[8];
  cs_key_u64(pfx, R->id);
  bits_ctx b = {s, R};
  int rc = cs_reader_scan(s->r, CS_T_TURN, pfx, 8, bits_each, &b);
  s->cur_bits = s->bits;
  return rc;
}

static inline int doc_ok(const xsearch *s, const xleaf *l, const xrange *R, uint32_t d) {
  if (!(l->fields & (1u << kind_of(R, d)))) return 0;
  if (s->cur_bits) {
    uint32_t i = d - R->f;
    if (!(s->cur_bits[i >> 3] & (1u << (i & 7)))) return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------- matching */

/* Cursor moves go through these, which keep v->doc current. */
static inline uint32_t var_geq(xvar *v, uint32_t t) {
  if (v->doc < t) {
    cs_pcur_next_geq(v->cur, t);
    v->doc = cs_pcur_docid(v->cur);
  }
  return v->doc;
}

static inline void var_next(xvar *v) {
  if (v->doc == END) return;
  cs_pcur_next(v->cur);
  v->doc = cs_pcur_docid(v->cur);
}

static inline uint32_t var_doc(const xvar *v) {
  return v->doc;
}

/* Occurrences of a phrase in the document all its cursors are on; with
 * starts != NULL, also writes up to cap start positions. */
static uint32_t phrase_freq(cs__exec *x, const xleaf *l, uint32_t *starts, size_t cap) {
  const uint32_t *pos[64];
  uint32_t npos[64], at[64];
  uint32_t n = l->nvar > 64 ? 64 : l->nvar;
  for (uint32_t k = 0; k < n; k++) {
    if (cs_pcur_positions(x->vars[l->var + k].cur, &pos[k], &npos[k])) return 0;
    at[k] = 0;
  }
  const cs__qword *w = &x->q->words[l->word];
  uint32_t freq = 0;
  for (uint32_t i = 0; i < npos[0]; i++) {
    uint32_t p = pos[0][i];
    int ok = 1;
    for (uint32_t k = 1; k < n && ok; k++) {
      uint32_t want = p + w[k].pos;
      while (at[k] < npos[k] && pos[k][at[k]] < want)
        at[k]++;
      ok = at[k] < npos[k] && pos[k][at[k]] == want;
    }
    if (ok) {
      if (starts && freq < cap) starts[freq] = p;
      freq++;
    }
  }
  return freq;
}

static int leaf_match(xsearch *s, const xleaf *l, const xrange *R) {
  cs__exec *x = s->x;
  if (!(l->fields & R->kinds)) return 0;
  if (l->type == CS__N_TERM) {
    for (uint32_t k = 0; k < l->nvar; k++) {
      xvar *v = &x->vars[l->var + k];
      for (uint32_t d = var_geq(v, R->f); d < R->e; d = var_doc(v)) {
        if (doc_ok(s, l, R, d)) return 1;
        var_next(v);
      }
    }
    return 0;
  }
  uint32_t target = R->f;
  for (;;) {
    uint32_t d = 0;
    int same = 1;
    for (uint32_t k = 0; k < l->nvar; k++) {
      uint32_t dk = var_geq(&x->vars[l->var + k], target);
      if (k && dk != d) same = 0;
      if (dk > d) d = dk;
    }
    if (d >= R->e) return 0;
    if (!same) {
      target = d;
      continue;
    }
    if (doc_ok(s, l, R, d) && phrase_freq(x, l, NULL, 0) > 0) return 1;
    target = d + 1;
  }
}

static uint32_t node_lb(cs__exec *x, int32_t n, uint32_t t) {
  const cs__qnode *node = &x->q->nodes[n];
  int32_t li = x->node_leaf[n];
  if (li >= 0) {
    const xleaf *l = &x->leaves[li];
    uint32_t m = l->type == CS__N_TERM ? END : 0;
    for (uint32_t k = 0; k < l->nvar; k++) {
      uint32_t d = var_geq(&x->vars[l->var + k], t);
      if (l->type == CS__N_TERM ? d < m : d > m) m = d;
    }
    return l->nvar ? m : END;
  }
  if (node->type == CS__N_OR) {
    uint32_t m = END;
    for (uint32_t k = 0; k < node->nkids; k++) {
      uint32_t d = node_lb(x, (int32_t)x->q->kids[node->kid + k], t);
      if (d < m) m = d;
    }
    return m;
  }
  if (node->type == CS__N_AND) {
    uint32_t m = t;
    for (uint32_t k = 0; k < node->nkids && m != END; k++) {
      int32_t kid = (int32_t)x->q->kids[node->kid + k];
      if (x->dropped[kid] || x->q->nodes[kid].type == CS__N_NOT) continue;
      uint32_t d = node_lb(x, kid, t);
      if (d > m) m = d;
    }
    return m;
  }
  return END;
}

static int node_match(xsearch *s, int32_t n, const xrange *R) {
  cs__exec *x = s->x;
  const cs__qnode *node = &x->q->nodes[n];
  int32_t li = x->node_leaf[n];
  if (li >= 0) return leaf_match(s, &x->leaves[li], R);
  switch (node->type) {
  case CS__N_AND:
    for (uint32_t k = 0; k < node->nkids; k++) {
      int32_t kid = (int32_t)x->q->kids[node->kid + k];
      if (x->dropped[kid] || x->q->nodes[kid].type == CS__N_NOT) continue;
      if (!node_match(s, kid, R)) return 0;
    }
    for (uint32_t k = 0; k < node->nkids; k++) {
      int32_t kid = (int32_t)x->q->kids[node->kid + k];
      if (x->dropped[kid] || x->q->nodes[kid].type != CS__N_NOT) continue;
      if (node_match(s, (int32_t)x->q->kids[x->q->nodes[kid].kid], R)) return 0;
    }
    return 1;
  case CS__N_OR:
    for (uint32_t k = 0; k < node->nkids; k++) {
      if (node_match(s, (int32_t)x->q->kids[node->kid + k], R)) return 1;
    }
    return 0;
  case CS__N_NOT:
    return !node_match(s, (int32_t)x->q->kids[node->kid], R);
  default:
    return 0;
  }
}

/* ---------------------------------------------------------------- scoring */

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
  double w;
} peek;

/* Upper bound of R's key before scoring it. The cursors of R's first
 * documents sit in decoded chunks, so the tf and length of each document of
 * R in those chunks are at hand (cs_pcur_peek): merged in docid order, they
 * bound every such document's score exactly but for proximity (counted in
 * full where two clauses meet) and phrases (a phrase occurs at most as
 * often as its rarest word in the document, and only where all its words
 * are). Documents in chunks not decoded yet get the score limit. The
 * conversation bound is then cs__conv_score of the three best document
 * bounds. The tier bound counts the expanded words whose exact term occurs
 * in R. */
static int conv_bound(xsearch *s, const xrange *R, int32_t *tier, double *score) {
  cs__exec *x = s->x;
  if (grow_buf((void **)&x->pk, &x->pk_cap, x->nvars + 1, sizeof *x->pk)) return CS_ENOMEM;
  peek *pk = x->pk;
  uint32_t np = 0;
  int t = 0, cont = 0, present = 0;
  double unknown = 0; /* bound of a document in a chunk not decoded yet */
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !(l->fields & R->kinds) || !l->nvar) continue;
    int all = 1, exact = 0;
    for (uint32_t k = 0; k < l->nvar; k++) {
      int in = var_geq(&x->vars[l->var + k], R->f) < R->e;
      all &= in;
      exact |= in && x->vars[l->var + k].exact;
    }
    if (l->type == CS__N_PHRASE && !all) continue;
    double lmax = 0; /* best weight among the terms that go on past their chunk */
    uint32_t first = np;
    for (uint32_t k = 0; k < l->nvar; k++) {
      xvar *v = &x->vars[l->var + k];
      if (v->doc >= R->e) continue;
      peek *p = &pk[np++];
      p->n = cs_pcur_peek(v->cur, &p->doc, &p->tf, &p->len);
      p->j = 0;
      p->leaf = i;
      p->w = l->type == CS__N_TERM ? v->w : l->pw;
      if (cs_pcur_block_last(v->cur) < R->e - 1) {
        cont = 1;
        if (p->w > lmax) lmax = p->w;
      }
    }
    if (np > first) present++;
    unknown += lmax * cs__bm25_limit(&x->rk, l->fields & CS__F_TURN);
    t += l->expanded && exact;
  }
  double m[3] = {0, 0, 0};
  double prox = present >= 2 ? x->prox_scale : 0;
  for (;;) {
    uint32_t d = END;
    for (uint32_t a = 0; a < np; a++) {
      if (pk[a].j < pk[a].n && pk[a].doc[pk[a].j] < d) d = pk[a].doc[pk[a].j];
    }
    if (d >= R->e) break;
    int kind = kind_of(R, d);
    double doc = 0;
    int leaves = 0;
    for (uint32_t a = 0; a < np;) {
      uint32_t li = pk[a].leaf, b = a;
      while (b < np && pk[b].leaf == li)
        b++;
      const xleaf *l = &x->leaves[li];
      double lb = 0;
      if (l->type == CS__N_TERM) {
        for (uint32_t c = a; c < b; c++) {
          const peek *p = &pk[c];
          if (p->j >= p->n || p->doc[p->j] != d) continue;
          double sc = p->w * cs__bm25_tf(&x->rk, kind, p->tf[p->j], p->len[p->j]);
          if (sc > lb) lb = sc;
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
      }
      if (!(l->fields & (1u << kind))) lb = 0;
      doc += lb;
      leaves += lb > 0;
      a = b;
    }
    if (leaves >= 2) doc += prox;
    keep_top3(m, doc);
    for (uint32_t a = 0; a < np; a++) {
      if (pk[a].j < pk[a].n && pk[a].doc[pk[a].j] == d) pk[a].j++;
    }
  }
  if (cont) {
    for (int r = 0; r < 3; r++)
      keep_top3(m, unknown + prox);
  }
  *tier = t;
  *score = cs__conv_score(&x->rk, m[0], m[1], m[2]) * (1 + 1e-9) + 1e-9;
  return 0;
}

static int add_pp(cs__exec *x, size_t *n, uint32_t pos, uint32_t leaf) {
  if (*n >= POS_MAX) return 0;
  if (grow_buf((void **)&x->pp, &x->pp_cap, *n + 1, sizeof *x->pp)) return CS_ENOMEM;
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
 * would still raise the tier are never skipped. Returns the docid to skip
 * to, or 0 when nothing can be skipped. */
static uint32_t skip_target(cs__exec *x, const xrange *R, const uint32_t *act, uint32_t na,
                            uint32_t mind, double theta, const uint64_t *exact_leaves) {
  unsigned kinds = R->kinds;
  if ((R->title == END || mind > R->title) && (R->desc == END || mind > R->desc))
    kinds = CS__F_TURN;
  uint32_t L = R->e - 1;
  double bound = 0;
  int nl = 0;
  for (uint32_t a = 0; a < na;) {
    uint32_t li = x->vars[act[a]].leaf, b = a;
    while (b < na && x->vars[act[b]].leaf == li)
      b++;
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
    } else if (k) {
      lb = l->pw * cs__bm25_limit(&x->rk, k);
    }
    bound += lb;
    nl += lb > 0;
    a = b;
  }
  if (nl >= 2) bound += x->prox_scale;
  if (bound > theta || L < mind) return 0;
  return L + 1;
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
    for (uint32_t k = 0; k < l->nvar; k++) {
      if (var_geq(&x->vars[l->var + k], R->f) < R->e) x->act[na++] = l->var + k;
    }
  }
  uint64_t exact_leaves[4] = {0, 0, 0, 0}; /* tier: leaves matched exactly (first 256) */
  double top[3] = {0, 0, 0};
  int rc = 0;
  while (na > 0 && !rc) {
    uint32_t d = END;
    for (uint32_t a = 0; a < na; a++) {
      uint32_t dd = x->vars[x->act[a]].doc;
      if (dd < d) d = dd;
    }
    if (h->nsnip == SNIPPETS && !s->exhaustive) {
      uint32_t to = skip_target(x, R, x->act, na, d, h->snip_score[SNIPPETS - 1], exact_leaves);
      if (to) {
        uint32_t keep = 0;
        for (uint32_t a = 0; a < na; a++) {
          if (var_geq(&x->vars[x->act[a]], to) < R->e) x->act[keep++] = x->act[a];
        }
        na = keep;
        continue;
      }
    }
    int kind = kind_of(R, d);
    int pass = !s->cur_bits || ((s->cur_bits[(d - R->f) >> 3] >> ((d - R->f) & 7)) & 1);
    double doc = 0;
    int matched = 0;
    for (uint32_t a = 0; a < na && pass && !rc;) {
      uint32_t li = x->vars[x->act[a]].leaf, b = a;
      while (b < na && x->vars[x->act[b]].leaf == li)
        b++;
      const xleaf *l = &x->leaves[li];
      double lbest = 0;
      if (!(l->fields & (1u << kind))) {
        /* not a document this clause searches */
      } else if (l->type == CS__N_TERM) {
        int exact = 0;
        for (uint32_t c = a; c < b; c++) {
          xvar *v = &x->vars[x->act[c]];
          if (v->doc != d) continue;
          double sc = v->w * cs__bm25_tf(&x->rk, kind, cs_pcur_tf(v->cur), cs_pcur_len(v->cur));
          if (sc > lbest) lbest = sc;
          exact |= v->exact;
          mask[x->act[c] >> 6] |= 1ull << (x->act[c] & 63);
        }
        if (exact && l->expanded && li < 256) exact_leaves[li >> 6] |= 1ull << (li & 63);
      } else if (b - a == l->nvar) {
        int all = 1;
        for (uint32_t c = a; c < b && all; c++)
          all = x->vars[x->act[c]].doc == d;
        uint32_t pf = all ? phrase_freq(x, l, NULL, 0) : 0;
        if (pf) {
          lbest = l->pw * cs__bm25_tf(&x->rk, kind, pf, cs_pcur_len(x->vars[l->var].cur));
          for (uint32_t c = a; c < b; c++)
            mask[x->act[c] >> 6] |= 1ull << (x->act[c] & 63);
        }
      }
      x->leaf_score[li] = lbest;
      doc += lbest;
      matched += lbest > 0;
      a = b;
    }
    /* Proximity needs positions: read them only when two clauses met. */
    if (matched >= 2 && x->prox_scale > 0) {
      size_t npp = 0;
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
          if (grow_buf((void **)&x->phr, &x->phr_cap, 64, sizeof *x->phr)) {
            rc = CS_ENOMEM;
            break;
          }
          uint32_t pf = phrase_freq(x, l, x->phr, 64);
          for (uint32_t j = 0; j < pf && j < 64 && !rc; j++)
            rc = add_pp(x, &npp, x->phr[j], li);
        }
      }
      doc += cs__proximity(x->pp, npp, x->prox_scale);
    }
    if (doc > 0) {
      keep_top3(top, doc);
      if (kind == CS_DOC_TURN) keep_snippet(h, d, doc);
    }
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
static int cannot_make_page(xsearch *s, const xrange *R, xhit *h, int *rc) {
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
      *rc = conv_bound(s, R, &ub.tier, &ub.score);
      if (*rc) return 1;
      if (s->nnamed && is_named(s, R)) ub.tier += NAMED_TIER;
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
static int keep_hit(xsearch *s, const xrange *R, int prechecked) {
  xhit *h = s->scratch;
  int rc;
  if (!prechecked && cannot_make_page(s, R, h, &rc)) return rc;
  if (s->x) {
    rc = score_conv(s, R, h);
    if (rc) return rc;
    if (s->nnamed && is_named(s, R)) h->key.tier += NAMED_TIER;
  } else {
    memset(hit_mask(h), 0, s->mask_words * sizeof(uint64_t));
  }
  if (s->has_after && cs__key_cmp(s->sort, &h->key, &s->after) <= 0) return 0;
  cs__topk_push(&s->top, h);
  return 0;
}

static int consider(xsearch *s, const xrange *R) {
  s->total++;
  return keep_hit(s, R, 0);
}

/* ---------------------------------------------------------------- match walks */

/* A leaf that searches (not under an exclusion): without one, a matching
 * conversation has no turn that "contains a match", and all its turns
 * that pass the turn filters stand for it. */
static int has_positive(const cs__exec *x) {
  for (uint32_t i = 0; x && i < x->nleaves; i++) {
    if (x->leaves[i].active) return 1;
  }
  return 0;
}

static int doc_spans(cs__exec *x, uint32_t d, int kind, size_t *n);

static int mturn_add(xsearch *s, size_t *n, uint32_t d) {
  if (grow_buf((void **)&s->mturns, &s->mturns_cap, *n + 1, sizeof *s->mturns)) return CS_ENOMEM;
  s->mturns[(*n)++] = d;
  return 0;
}

static inline int turn_bit(const xsearch *s, const xrange *R, uint32_t d) {
  if (!s->cur_bits) return 1;
  uint32_t i = d - R->f;
  return (s->cur_bits[i >> 3] >> (i & 7)) & 1;
}

typedef struct all_turns_ctx {
  xsearch *s;
  const xrange *R;
  size_t n;
} all_turns_ctx;

static int all_turns_each(void *ctx, cs_slice key, cs_slice val) {
  (void)key;
  all_turns_ctx *a = ctx;
  cs_turn t;
  if (cs_turn_decode(val.data, val.len, &t)) return 0;
  if (t.docid < a->R->f || t.docid >= a->R->e || !turn_bit(a->s, a->R, t.docid)) return 0;
  return mturn_add(a->s, &a->n, t.docid);
}

static int u32_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* A matching conversation of a match walk: lists its matching turns (the
 * turns cs__exec_spans reports, restricted to those passing the turn
 * filters) and hands them to match_fn. The cursors only move forward
 * inside R: node_match left each of them on or before its first document
 * in R that can match (documents it stepped over are of a kind the clause
 * does not search, filtered out, or hold no occurrence of the phrase), so
 * nothing that matches is skipped. */
static int match_emit(xsearch *s, const xrange *R) {
  s->total++;
  size_t n = 0;
  int rc = 0;
  if (!has_positive(s->x)) {
    /* Turn docids are not contiguous (each passage follows the turn it
     * ends with): the turn records name them. */
    all_turns_ctx a = {s, R, 0};
    uint8_t pfx[8];
    cs_key_u64(pfx, R->id);
    rc = cs_reader_scan(s->r, CS_T_TURN, pfx, 8, all_turns_each, &a);
    n = a.n;
    if (!rc && n > 1) qsort(s->mturns, n, sizeof *s->mturns, u32_cmp);
  } else {
    /* Only turns hold the terms of turn clauses (passages are a field of
     * their own): every document but the title and description is one. */
    cs__exec *x = s->x;
    uint32_t first = R->f;
    while (!rc) {
      uint32_t d = END;
      for (uint32_t i = 0; i < x->nleaves; i++) {
        const xleaf *l = &x->leaves[i];
        if (!l->active) continue;
        for (uint32_t k = 0; k < l->nvar; k++) {
          uint32_t dd = var_geq(&x->vars[l->var + k], first);
          if (dd < d) d = dd;
        }
      }
      if (d >= R->e) break;
      if (d != R->title && d != R->desc && turn_bit(s, R, d)) {
        size_t nsp;
        rc = doc_spans(x, d, CS_DOC_TURN, &nsp);
        if (!rc && nsp) rc = mturn_add(s, &n, d);
      }
      first = d + 1;
    }
  }
  if (rc) return rc;
  cs__mconv mc = {R->id, R->patient, R->owner, R->created, R->f, R->e - R->f, R->nturns};
  return s->match_fn(s->match_ctx, &mc, s->mturns, n);
}

static int key_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Analysts: the terms stemming like a word of the person's name match
 * nothing in R (redact.h): their cursors jump past it. The terms' cheap
 * keys, sorted once per query, rule out most people without analyzing
 * their names. */
static void unname(xsearch *s, const xrange *R) {
  cs__exec *x = s->x;
  if (s->vkeys_of != x) {
    s->vkeys_of = x;
    s->nvkeys = 0;
    s->vkeys_all = 0;
    for (uint32_t i = 0; i < x->nvars && !s->vkeys_all; i++) {
      uint32_t k = cs__redact_key(x->vars[i].term, x->vars[i].len);
      if (k == CS__KEY_ANY || s->nvkeys == sizeof s->vkeys / sizeof s->vkeys[0])
        s->vkeys_all = 1;
      else
        s->vkeys[s->nvkeys++] = k;
    }
    qsort(s->vkeys, s->nvkeys, sizeof *s->vkeys, key_cmp);
  }
  const cs__redact *rd = redact_for(s, R->patient);
  if (!s->vkeys_all && !cs__redact_maybe(rd, s->vkeys, s->nvkeys)) return;
  for (uint32_t i = 0; i < x->nvars; i++) {
    xvar *v = &x->vars[i];
    if (v->cur && cs__redact_blocks(rd, v->term, v->len)) var_geq(v, R->e);
  }
}

/* Counting bounded (s->total_bound): once that many conversations are
 * counted, the walk stops counting and only looks for conversations that
 * can still make the page; the total is then estimated. */
static int counting(const xsearch *s) {
  return !s->total_bound || s->total < s->total_bound || s->match_fn || s->first_only ||
         s->exhaustive;
}

/* Past the counting bound: where the walk may jump from t because no
 * document up to there can lift a conversation into the page (block-max:
 * the sum over clauses of their current chunks' best score, for documents
 * up to the nearest chunk end L; a conversation scores at most
 * cs__conv_bound of that). Only whole conversations are skipped: the jump
 * stops at the start of the one holding L + 1. Returns t when nothing can
 * be skipped. */
static uint32_t skip_convs(xsearch *s, uint32_t t) {
  cs__exec *x = s->x;
  const cs__key *th = cs__topk_threshold(&s->top);
  if (!th || s->sort != CS__SORT_RELEVANCE || s->nnamed) return t;
  uint32_t L = END;
  double bound = 0;
  int nl = 0, tier = 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !l->nvar) continue;
    double lb = 0;
    for (uint32_t k = 0; k < l->nvar; k++) {
      xvar *v = &x->vars[l->var + k];
      if (v->doc == END) continue;
      uint32_t last = cs_pcur_block_last(v->cur);
      if (last < L) L = last;
      double vb = l->type == CS__N_TERM
                      ? v->w * cs__bm25_bound(&x->rk, l->fields, cs_pcur_block_max_tf(v->cur),
                                              cs_pcur_block_min_len(v->cur))
                      : l->pw * cs__bm25_limit(&x->rk, l->fields);
      if (vb > lb) lb = vb;
    }
    bound += lb;
    nl += lb > 0;
    tier += l->expanded;
  }
  if (L == END || L < t) return t;
  if (nl >= 2) bound += x->prox_scale;
  double ub = cs__conv_bound(&x->rk, bound) * (1 + 1e-9) + 1e-9;
  if (tier > th->tier || (tier == th->tier && ub >= th->score)) return t;
  uint32_t to = L + 1, next;
  if (s->universe) {
    size_t i = range_after(s->u, s->nu, L);
    if (i < s->nu && s->u[i].f <= L) to = s->u[i].f;
  } else {
    long i = s->convs ? cs__convs_find(s->convs, L, &next) : -1;
    if (i >= 0) to = s->convs->r[i].f;
  }
  return to > t ? to : t;
}

/* The walk over conversations for a query with clauses. */
static int walk(xsearch *s) {
  cs__exec *x = s->x;
  int32_t root = x->q->root;
  uint32_t t = s->universe ? (s->nu ? s->u[0].f : END) : 0;
  uint32_t limit = s->horizon ? s->horizon : END;
  int rc = 0, count = 1;
  s->walk_from = t;
  while (t < limit && !rc) {
    if (past_deadline(s)) break;
    if (count && !counting(s)) {
      count = 0;
      s->stopped_at = t; /* counted exactly below t */
    }
    if (!count) t = skip_convs(s, t);
    uint32_t d = node_lb(x, root, t);
    if (s->nnamed) {
      uint32_t dn = named_lb(s, t);
      if (dn < d) d = dn;
    }
    if (d >= limit) break;
    xrange R;
    uint32_t next = d + 1;
    rc = resolve(s, d, &R, &next);
    if (rc < 0) break;
    if (rc == 0) {
      t = next > d ? next : d + 1;
      continue;
    }
    /* Not counting: a conversation that cannot make the page is not even
     * matched. */
    int pre = !count;
    if (pre && cannot_make_page(s, &R, s->scratch, &rc)) {
      t = R.e;
      continue;
    }
    if (s->caller->role == CS_CALLER_ANALYST) unname(s, &R);
    rc = build_bits(s, &R);
    if (rc) break;
    if (node_match(s, root, &R) || (s->nnamed && is_named(s, &R))) {
      if (s->first_only) {
        s->total++;
        break;
      }
      if (s->match_fn)
        rc = match_emit(s, &R);
      else if (count)
        rc = consider(s, &R);
      else
        rc = keep_hit(s, &R, 1);
    }
    t = R.e;
  }
  if (!count) s->limit_at = limit;
  for (uint32_t i = 0; i < x->nvars && !rc; i++) {
    if (x->vars[i].cur) rc = cs_pcur_error(x->vars[i].cur);
  }
  return rc;
}

/* The total once counting stopped: the count so far, scaled by the share
 * of the docid span walked when it stopped (never less than the count). */
static uint64_t total_estimate(const xsearch *s) {
  if (!s->stopped_at || s->stopped_at <= s->walk_from || s->limit_at <= s->walk_from)
    return s->total;
  double share = (double)(s->stopped_at - s->walk_from) / (double)(s->limit_at - s->walk_from);
  double est = (double)s->total / share;
  return est > (double)s->total ? (uint64_t)(est + 0.5) : s->total;
}

/* ---------------------------------------------------------------- browsing */

static int browse_one(xsearch *s, const xrange *R) {
  if (s->filter.on) {
    int rc = build_bits(s, R);
    if (rc) return rc;
    int any = 0;
    for (uint32_t d = R->f; d < R->e && !any; d++) {
      uint32_t i = d - R->f;
      any = (s->cur_bits[i >> 3] >> (i & 7)) & 1;
    }
    if (!any) return 0;
  }
  return s->match_fn ? match_emit(s, R) : consider(s, R);
}

static int browse_each(void *ctx, cs_slice key, cs_slice val) {
  (void)key;
  xsearch *s = ctx;
  cs_conv c;
  if (cs_conv_decode(val.data, val.len, &c)) return 0;
  xrange R;
  range_of(&c, &R);
  if (!range_passes(s, &R)) return 0;
  if (cs_caller_restricted(s->caller) && !cs_caller_sees_patient(s->r, s->caller, R.patient))
    return 0;
  if (past_deadline(s)) return 1;
  return browse_one(s, &R);
}

/* No words: every conversation that passes the filters, newest first. */
static int browse(xsearch *s) {
  if (s->universe) {
    for (size_t i = 0; i < s->nu; i++) {
      if (past_deadline(s)) break;
      int rc = browse_one(s, &s->u[i]);
      if (rc) return rc;
    }
    return 0;
  }
  int rc = cs_reader_scan(s->r, CS_T_CONV, NULL, 0, browse_each, s);
  return rc > 0 ? 0 : rc;
}

/* ---------------------------------------------------------------- relaxation */

typedef struct drop_cand {
  int32_t node;
  uint64_t df;
} drop_cand;

static uint64_t node_df(cs__exec *x, int32_t n) {
  int32_t li = x->node_leaf[n];
  if (li >= 0) return x->leaves[li].df;
  const cs__qnode *node = &x->q->nodes[n];
  uint64_t df = node->type == CS__N_AND ? UINT64_MAX : 0;
  for (uint32_t k = 0; k < node->nkids; k++) {
    int32_t kid = (int32_t)x->q->kids[node->kid + k];
    if (x->q->nodes[kid].type == CS__N_NOT) continue;
    uint64_t d = node_df(x, kid);
    if (node->type == CS__N_AND)
      df = d < df ? d : df;
    else
      df = df > UINT64_MAX - d ? UINT64_MAX : df + d;
  }
  return df == UINT64_MAX && node->type == CS__N_AND ? 0 : df;
}

static int drop_cmp(const void *a, const void *b) {
  const drop_cand *x = a, *y = b;
  if (x->df != y->df) return x->df < y->df ? -1 : 1;
  return x->node > y->node ? -1 : x->node < y->node; /* later words first */
}

/* Top-level clauses that may be dropped, as bits of the root's kid list. */
static void apply_mask(cs__exec *x, uint64_t mask) {
  const cs__qnode *root = &x->q->nodes[x->q->root];
  if (root->type != CS__N_AND) return;
  for (uint32_t k = 0; k < root->nkids && k < 64; k++) {
    x->dropped[x->q->kids[root->kid + k]] = (uint8_t)((mask >> k) & 1);
  }
  update_active(x);
}

/* First page of an all-words query that matched nothing: drops the rarest
 * clauses one by one (probing each attempt for a first match) until
 * something matches, then walks again for real. *mask gets the dropped
 * clauses (bits of the root's kid list), 0 when relaxing did not help. */
static int relax(xsearch *s, uint64_t *mask) {
  cs__exec *x = s->x;
  *mask = 0;
  const cs__qnode *root = &x->q->nodes[x->q->root];
  if (root->type != CS__N_AND) return 0;
  drop_cand c[64];
  uint32_t nc = 0;
  for (uint32_t k = 0; k < root->nkids && k < 64; k++) {
    int32_t kid = (int32_t)x->q->kids[root->kid + k];
    if (x->q->nodes[kid].type == CS__N_NOT) continue;
    c[nc].node = (int32_t)k;
    c[nc].df = node_df(x, kid);
    nc++;
  }
  if (nc < 2) return 0;
  qsort(c, nc, sizeof *c, drop_cmp);
  int rc = 0, found = 0;
  s->first_only = 1;
  for (uint32_t i = 0; i + 1 < nc && !rc && !found && !s->timed_out; i++) {
    *mask |= 1ull << c[i].node;
    apply_mask(x, *mask);
    rc = exec_rewind(x);
    s->total = 0;
    if (!rc) rc = walk(s);
    found = s->total > 0;
  }
  s->first_only = 0;
  s->total = 0;
  if (rc || !found) {
    *mask = 0;
    apply_mask(x, 0);
    return rc;
  }
  rc = exec_rewind(x);
  return rc ? rc : walk(s);
}

/* ---------------------------------------------------------------- cursor */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64_encode(const uint8_t *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
    if (i + 1 < n) out[o++] = b64url[(v >> 6) & 63];
    if (i + 2 < n) out[o++] = b64url[v & 63];
  }
  out[o] = 0;
}

static int b64_val(char c) {
  const char *p = c ? strchr(b64url, c) : NULL;
  return p ? (int)(p - b64url) : -1;
}

static int b64_decode(const char *in, uint8_t *out, size_t cap, size_t *n) {
  size_t len = strlen(in), o = 0;
  if (len % 4 == 1) return -1;
  for (size_t i = 0; i < len; i += 4) {
    uint32_t v = 0;
    size_t k;
    for (k = 0; k < 4 && i + k < len; k++) {
      int x = b64_val(in[i + k]);
      if (x < 0) return -1;
      v |= (uint32_t)x << (18 - 6 * k);
    }
    size_t bytes = k - 1;
    if (o + bytes > cap) return -1;
    for (size_t b = 0; b < bytes; b++)
      out[o++] = (uint8_t)(v >> (16 - 8 * b));
  }
  *n = o;
  return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

/* What a cursor is bound to: the query and every filter. */
static uint64_t query_hash(const cs_search_params *p, int sort) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const char *q = p->q ? p->q : "";
  h = fnv(h, q, strlen(q) + 1);
  int64_t nums[] = {(int64_t)p->patient,
                    (int64_t)p->owner,
                    (int64_t)p->conversation,
                    p->from_ms,
                    p->to_ms,
                    p->role,
                    sort};
  h = fnv(h, nums, sizeof nums);
  const char *sp = p->speaker ? p->speaker : "";
  return fnv(h, sp, strlen(sp) + 1);
}

typedef struct xcursor {
  cs__key key;
  uint32_t horizon;
  uint64_t mask;
} xcursor;

static void cursor_encode(const xcursor *c, int sort, uint64_t qh, char *out, size_t cap) {
  char text[256];
  int n =
      snprintf(text, sizeof text,
               "1|%d|%" PRId32 "|%a|%" PRId64 "|%" PRIu64 "|%" PRIu32 "|%" PRIx64 "|%016" PRIx64,
               sort, c->key.tier, c->key.score, c->key.created, c->key.id, c->horizon, c->mask, qh);
  if (n < 0 || (size_t)n >= sizeof text || ((size_t)n + 2) / 3 * 4 + 1 > cap) {
    out[0] = 0;
    return;
  }
  b64_encode((const uint8_t *)text, (size_t)n, out);
}

static int cursor_decode(const char *s, int sort, uint64_t qh, xcursor *c) {
  uint8_t raw[300];
  size_t n;
  if (strlen(s) > CS_CURSOR_MAX || b64_decode(s, raw, sizeof raw - 1, &n)) return -1;
  raw[n] = 0;
  if (memchr(raw, 0, n)) return -1;
  int csort, used = 0;
  int32_t tier;
  char score[64];
  int64_t created;
  uint64_t id, mask, hash;
  uint32_t horizon;
  if (sscanf((const char *)raw,
             "1|%d|%" SCNd32 "|%63[^|]|%" SCNd64 "|%" SCNu64 "|%" SCNu32 "|%" SCNx64 "|%16" SCNx64
             "%n",
             &csort, &tier, score, &created, &id, &horizon, &mask, &hash, &used) != 8)
    return -1;
  if ((size_t)used != n || csort != sort || hash != qh || horizon == 0) return -1;
  char *end;
  double sc = strtod(score, &end);
  if (*end || !isfinite(sc)) return -1;
  c->key.tier = tier;
  c->key.score = sc;
  c->key.created = created;
  c->key.id = id;
  c->horizon = horizon;
  c->mask = mask;
  return 0;
}

/* ---------------------------------------------------------------- snippets */

typedef struct snip_ref {
  uint32_t docid;
  uint32_t hit;  /* index in the page */
  uint32_t rank; /* 0..2 within the hit; REF_TITLE, REF_DESC */
} snip_ref;

#define REF_TITLE SNIPPETS
#define REF_DESC (SNIPPETS + 1)

static int snip_cmp(const void *a, const void *b) {
  const snip_ref *x = a, *y = b;
  return x->docid < y->docid ? -1 : x->docid > y->docid;
}

static int add_span(cs__exec *x, size_t *n, uint32_t first, uint32_t last) {
  if (*n >= POS_MAX) return 0;
  if (grow_buf((void **)&x->sp, &x->sp_cap, *n + 1, sizeof *x->sp)) return CS_ENOMEM;
  x->sp[*n].first = first;
  x->sp[*n].last = last;
  (*n)++;
  return 0;
}

/* Spans of document d (of kind `kind`) from the cursors on it; cursors of
 * active leaves move to >= d. */
static int doc_spans(cs__exec *x, uint32_t d, int kind, size_t *n) {
  *n = 0;
  int rc = 0;
  for (uint32_t i = 0; i < x->nleaves && !rc; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !(l->fields & (1u << kind)) || !l->nvar) continue;
    if (l->type == CS__N_TERM) {
      for (uint32_t k = 0; k < l->nvar && !rc; k++) {
        xvar *v = &x->vars[l->var + k];
        if (var_geq(v, d) != d) continue;
        const uint32_t *pos;
        uint32_t np;
        if (cs_pcur_positions(v->cur, &pos, &np)) continue;
        for (uint32_t j = 0; j < np && !rc; j++)
          rc = add_span(x, n, pos[j], pos[j]);
      }
    } else {
      int all = 1;
      for (uint32_t k = 0; k < l->nvar; k++)
        all &= var_geq(&x->vars[l->var + k], d) == d;
      if (!all) continue;
      if (grow_buf((void **)&x->phr, &x->phr_cap, POS_MAX, sizeof *x->phr)) return CS_ENOMEM;
      uint32_t pf = phrase_freq(x, l, x->phr, POS_MAX);
      uint32_t span = x->q->words[l->word + l->nvar - 1].pos;
      for (uint32_t j = 0; j < pf && j < POS_MAX && !rc; j++)
        rc = add_span(x, n, x->phr[j], x->phr[j] + span);
    }
  }
  return rc;
}

int cs__exec_spans(cs__exec *x, uint32_t first, uint32_t end, cs__spans_fn fn, void *ctx) {
  if (!x || first >= end) return 0;
  xrange R;
  memset(&R, 0, sizeof R);
  R.f = first;
  R.e = end;
  R.title = R.desc = END;
  for (;;) {
    uint32_t d = END;
    for (uint32_t i = 0; i < x->nleaves; i++) {
      const xleaf *l = &x->leaves[i];
      if (!l->active) continue;
      for (uint32_t k = 0; k < l->nvar; k++) {
        uint32_t dd = var_geq(&x->vars[l->var + k], first);
        if (dd < d) d = dd;
      }
    }
    if (d >= end) return 0;
    size_t n;
    int rc = doc_spans(x, d, CS_DOC_TURN, &n);
    if (rc) return rc;
    if (n) {
      rc = fn(ctx, d, x->sp, n);
      if (rc) return rc;
    }
    first = d + 1;
  }
}

static json_t *json_ms(int64_t ms) {
  return ms < 0 ? json_null() : json_integer((json_int_t)ms);
}

/* A snippet object for turn docid d of conversation conv. */
static int snippet_json(xsearch *s, uint32_t d, uint64_t conv, cs_buf *b, json_t **out) {
  *out = NULL;
  size_t n;
  int rc = doc_spans(s->x, d, CS_DOC_TURN, &n);
  if (rc) return rc;
  cs_doc doc;
  rc = cs_reader_doc(s->r, d, &doc);
  if (rc == CS_ENOTFOUND) return 0;
  if (rc) return rc;
  cs_turn t;
  rc = cs_reader_turn(s->r, conv, doc.seq, &t);
  if (rc == CS_ENOTFOUND) return 0;
  if (rc) return rc;
  cs_buf_reset(b);
  const cs__redact *rd = redact_for(s, doc.patient_id);
  cs__highlight(&t, s->x->sp, n, CS__SNIPPET_BYTES, rd, b);
  if (b->err) return CS_ENOMEM;
  *out = json_pack("{s:i, s:o, s:s, s:o, s:o, s:o}", "seq", (int)t.seq, "speaker",
                   cs__redact_speaker(rd, t.speaker, t.role), "role", cs_role_name(t.role),
                   "start_ms", json_ms(t.start_ms), "end_ms", json_ms(t.end_ms), "text",
                   json_stringn_nocheck((const char *)b->p, b->len));
  return *out ? 0 : CS_ENOMEM;
}

/* Every hit has "title_highlight", the title HTML-escaped (with <em> once
 * field_json finds a match in it), and "description_highlight", null until
 * field_json finds a match in the description. */
static int plain_fields(xsearch *s, uint64_t conv, cs_buf *tbl, cs_buf *b, json_t *hit) {
  cs_conv c;
  cs_str title = {"", 0};
  const cs__redact *rd = NULL;
  if (cs_reader_conv(s->r, conv, &c) == 0) {
    title = c.title;
    rd = redact_for(s, c.patient_id);
  }
  cs_buf_reset(b);
  if (rd && rd->on) { /* analysts: the person's name words become the pseudonym */
    if (!s->a || cs__highlight_field(s->a, c.language, title, NULL, 0, 0, rd, tbl, b))
      return CS_ENOMEM;
  } else {
    cs__html_escape(b, title.p, title.len);
  }
  if (b->err) return CS_ENOMEM;
  json_t *t = json_stringn_nocheck(b->len ? (const char *)b->p : "", b->len);
  if (!t || json_object_set_new(hit, "title_highlight", t) ||
      json_object_set_new(hit, "description_highlight", json_null()))
    return CS_ENOMEM;
  return 0;
}

/* The highlighted title (kind CS_DOC_TITLE) or description of the
 * conversation of hit object `hit`, whose document is d: replaces
 * "title_highlight" (the escaped title without <em>) or sets
 * "description_highlight" (a window around the matches, like a snippet)
 * when the query matches in it. */
static int field_json(xsearch *s, uint32_t d, int kind, uint64_t conv, cs_buf *tbl, cs_buf *b,
                      json_t *hit) {
  size_t n;
  int rc = doc_spans(s->x, d, kind, &n);
  if (rc || !n || !s->a) return rc;
  cs_conv c;
  rc = cs_reader_conv(s->r, conv, &c);
  if (rc) return rc == CS_ENOTFOUND ? 0 : rc;
  cs_buf_reset(b);
  int title = kind == CS_DOC_TITLE;
  if (cs__highlight_field(s->a, c.language, title ? c.title : c.description, s->x->sp, n,
                          title ? 0 : CS__SNIPPET_BYTES, redact_for(s, c.patient_id), tbl, b))
    return CS_ENOMEM;
  json_t *str = json_stringn_nocheck((const char *)b->p, b->len);
  if (!str) return CS_ENOMEM;
  return json_object_set_new(hit, title ? "title_highlight" : "description_highlight", str)
             ? CS_ENOMEM
             : 0;
}

/* Builds the snippets of the page's hits (hits[i] best first) into
 * arrays[i], and the highlighted titles and descriptions into the hit
 * objects hobjs[i]. */
static int build_snippets(xsearch *s, xhit **hits, uint32_t nh, json_t **arrays, json_t *hobjs) {
  cs__exec *x = s->x;
  if (!x || !nh) return 0;
  /* Reopen only the terms these hits matched. */
  for (uint32_t v = 0; v < x->nvars; v++) {
    int used = 0;
    for (uint32_t i = 0; i < nh && !used; i++)
      used = (hit_mask(hits[i])[v >> 6] >> (v & 63)) & 1;
    cs_pcur_close(x->vars[v].cur);
    x->vars[v].cur = NULL;
    x->vars[v].doc = END;
    if (used) {
      int rc = open_cursor(x, &x->vars[v]);
      if (rc) return rc;
    }
  }
  /* Cursors only move forward: turns, titles and descriptions are visited
   * in docid order. */
  snip_ref *refs = malloc((size_t)nh * (SNIPPETS + 2) * sizeof *refs);
  json_t **objs = calloc((size_t)nh * SNIPPETS, sizeof *objs);
  cs_buf b, tbl;
  cs_buf_init(&b);
  cs_buf_init(&tbl);
  int rc = refs && objs ? 0 : CS_ENOMEM;
  size_t nr = 0;
  for (uint32_t i = 0; i < nh && !rc; i++) {
    const xrange *R = &hits[i]->R;
    uint32_t docs[SNIPPETS + 2], ranks[SNIPPETS + 2], m = 0;
    for (uint32_t k = 0; k < hits[i]->nsnip; k++) {
      docs[m] = hits[i]->snip[k];
      ranks[m++] = k;
    }
    if (R->title != END) docs[m] = R->title, ranks[m++] = REF_TITLE;
    if (R->desc != END) docs[m] = R->desc, ranks[m++] = REF_DESC;
    for (uint32_t k = 0; k < m; k++)
      refs[nr++] = (snip_ref){docs[k], i, ranks[k]};
  }
  if (!rc) qsort(refs, nr, sizeof *refs, snip_cmp);
  for (size_t k = 0; k < nr && !rc; k++) {
    const snip_ref *sr = &refs[k];
    if (sr->rank == REF_TITLE || sr->rank == REF_DESC)
      rc = field_json(s, sr->docid, sr->rank == REF_TITLE ? CS_DOC_TITLE : CS_DOC_DESCRIPTION,
                      hits[sr->hit]->R.id, &tbl, &b, json_array_get(hobjs, sr->hit));
    else
      rc =
          snippet_json(s, sr->docid, hits[sr->hit]->R.id, &b, &objs[sr->hit * SNIPPETS + sr->rank]);
  }
  for (uint32_t i = 0; i < nh && !rc; i++) {
    for (uint32_t k = 0; k < SNIPPETS; k++) {
      json_t *o = objs[i * SNIPPETS + k];
      if (o) {
        json_array_append_new(arrays[i], o);
        objs[i * SNIPPETS + k] = NULL;
      }
    }
  }
  if (objs) {
    for (size_t k = 0; k < (size_t)nh * SNIPPETS; k++)
      json_decref(objs[k]);
  }
  free(objs);
  free(refs);
  cs_buf_free(&b);
  cs_buf_free(&tbl);
  return rc;
}

/* ---------------------------------------------------------------- response */

static json_t *hit_json(xsearch *s, const xhit *h, json_t **snippets) {
  cs_conv c;
  cs_str title = {"", 0};
  if (cs_reader_conv(s->r, h->R.id, &c) == 0) title = c.title;
  cs_patient pt;
  json_t *name;
  if (cs_reader_patient(s->r, h->R.patient, &pt) == 0)
    name = cs_json_person_name(s->caller, h->R.patient, pt.name);
  else if (s->caller->role == CS_CALLER_ANALYST)
    name = cs_json_person_name(s->caller, h->R.patient, (cs_str){"", 0});
  else
    name = json_null();
  *snippets = json_array();
  double score = round(h->key.score * 1e6) / 1e6;
  json_t *o = json_pack(
      "{s:I, s:I, s:I, s:o, s:o, s:f, s:o, s:o}", "conversation_id", (json_int_t)h->R.id,
      "patient_id", (json_int_t)h->R.patient, "owner_id", (json_int_t)h->R.owner, "title",
      cs__redact_json(redact_for(s, h->R.patient), title), "created_at", cs_json_time(h->R.created),
      "score", score, "patient_name", name, "snippets", json_incref(*snippets));
  if (!o) json_decref(*snippets);
  json_decref(*snippets);
  return o;
}

void cs__search_defaults(cs__search_opts *o) {
  memset(o, 0, sizeof *o);
  cs__parse_defaults(&o->parse);
  cs__rank_defaults(&o->rank);
  o->relax = 1;
  o->snippets = 1;
  o->max_limit = CS_PAGE_MAX;
  o->max_bytes = CS_QUERY_MAX_BYTES;
  o->total_bound = CS__TOTAL_EXACT;
}

static int sort_of(int api_sort) {
  switch (api_sort) {
  case CS_SORT_RELEVANCE:
    return CS__SORT_RELEVANCE;
  case CS_SORT_DATE_ASC:
    return CS__SORT_DATE_ASC;
  case CS_SORT_DATE_DESC:
    return CS__SORT_DATE_DESC;
  default:
    return -1;
  }
}

static int fail_rc(cs_engine_error *err, int rc) {
  if (rc == CS_ENOMEM)
    cs_engine_err(err, 503, "unavailable", "out of memory");
  else
    cs_engine_err(err, 500, "internal", "the index could not be read (%s)", cs_strerror(rc));
  return -1;
}

int cs__search(cs_reader *r, cs_analyzer *a, const cs_caller *c, const cs_search_params *p,
               const cs__search_opts *o, json_t **out, cs_engine_error *err) {
  *out = NULL;
  const char *qs = p->q ? p->q : "";
  size_t qlen = strlen(qs);
  int sort = sort_of(p->sort);
  if (sort < 0) {
    cs_engine_err(err, 400, "bad_request", "sort must be relevance, date or -date");
    return -1;
  }
  if (qlen > o->max_bytes) {
    cs_engine_err(err, 400, "bad_query", "the query is longer than %u bytes", o->max_bytes);
    return -1;
  }
  uint32_t limit = p->limit ? p->limit : 10;
  if (limit > o->max_limit) limit = o->max_limit;
  uint64_t qh = query_hash(p, sort);
  xcursor cur;
  memset(&cur, 0, sizeof cur);
  int has_cursor = p->cursor && *p->cursor;
  if (has_cursor && cursor_decode(p->cursor, sort, qh, &cur)) {
    cs_engine_err(err, 400, "bad_cursor",
                  "the cursor is not valid for this query; start again without it");
    return -1;
  }

  cs__query q;
  xsearch s;
  memset(&s, 0, sizeof s);
  int rc = 0, ret = -1;
  json_t *hits = NULL, **snips = NULL;
  xhit **page = NULL;
  cs_buf fb, ftbl;
  cs_buf_init(&fb);
  cs_buf_init(&ftbl);
  if (cs__query_parse(a, qs, qlen, &o->parse, &q, err)) {
    cs__query_free(&q);
    return -1;
  }
  s.r = r;
  s.a = a;
  s.caller = c;
  s.p = p;
  s.q = &q;
  s.sort = sort;
  s.exhaustive = o->exhaustive;
  s.convs = o->convs;
  s.total_bound = o->total_bound;
  s.filter.q = &q;
  s.filter.role = p->role;
  for (int i = 0; i < 8; i++)
    s.filter.cache[i].flen = -1;
  if (cs__redact_check_filters(c, p->speaker, &q, err)) goto out;
  if (p->speaker && *p->speaker) {
    if (cs__fold_speaker(p->speaker, strlen(p->speaker), s.filter.speaker,
                         sizeof s.filter.speaker) < 0) {
      cs_engine_err(err, 400, "bad_request", "the speaker name is too long");
      goto out;
    }
    s.filter.has_speaker = 1;
  }
  s.filter.on = s.filter.has_speaker || p->role != CS_ANY_ROLE || q.nspeakers || q.nnot_speakers ||
                q.roles || q.not_roles;
  cs_stats st;
  rc = cs_reader_stats(r, &st);
  if (rc) goto fail;
  s.horizon = st.next_docid ? st.next_docid : 1;
  if (has_cursor && cur.horizon < s.horizon) s.horizon = cur.horizon;
  if (has_cursor) {
    s.has_after = 1;
    s.after = cur.key;
  }
  if (p->timeout_ms) {
    clock_gettime(CLOCK_MONOTONIC, &s.deadline);
    s.deadline.tv_sec += p->timeout_ms / 1000;
    s.deadline.tv_nsec += (long)(p->timeout_ms % 1000) * 1000000L;
    if (s.deadline.tv_nsec >= 1000000000L) {
      s.deadline.tv_sec++;
      s.deadline.tv_nsec -= 1000000000L;
    }
    s.has_deadline = 1;
  }
  rc = build_universe(&s);
  if (!rc && q.root >= 0) rc = build_named(&s, qs, qlen);
  if (rc) goto fail;

  uint64_t mask = 0;
  int relaxed = 0;
  if (q.root >= 0) {
    rc = cs__exec_open(r, &q, &o->rank, has_cursor ? s.horizon : 0, &s.x);
    if (rc) goto fail;
    s.mask_words = (s.x->nvars + 63) / 64;
    if (has_cursor) {
      mask = cur.mask;
      apply_mask(s.x, mask);
    }
  }
  rc = cs__topk_init(&s.top, sort, limit + 1, sizeof(xhit) + s.mask_words * sizeof(uint64_t));
  if (rc) goto fail;
  s.scratch = calloc(1, sizeof(xhit) + s.mask_words * sizeof(uint64_t));
  if (!s.scratch) {
    rc = CS_ENOMEM;
    goto fail;
  }
  if (q.root >= 0) {
    rc = walk(&s);
    if (!rc && !s.total && !has_cursor && o->relax && !s.timed_out) rc = relax(&s, &mask);
  } else if (q.browse) {
    rc = browse(&s);
  }
  if (rc) goto fail;
  relaxed = mask != 0;

  cs__topk_sort(&s.top);
  uint32_t nh = s.top.n > limit ? limit : s.top.n;
  hits = json_array();
  page = calloc(nh ? nh : 1, sizeof *page);
  snips = calloc(nh ? nh : 1, sizeof *snips);
  if (!hits || !page || !snips) {
    rc = CS_ENOMEM;
    goto fail;
  }
  for (uint32_t i = 0; i < nh; i++) {
    page[i] = cs__topk_at(&s.top, i);
    json_t *h = hit_json(&s, page[i], &snips[i]);
    if (!h) {
      rc = CS_ENOMEM;
      goto fail;
    }
    json_array_append_new(hits, h);
    rc = plain_fields(&s, page[i]->R.id, &ftbl, &fb, h);
    if (rc) goto fail;
  }
  if (o->snippets && s.x) {
    rc = build_snippets(&s, page, nh, snips, hits);
    if (rc) goto fail;
  }
  json_t *next = json_null();
  if (s.top.n > limit && nh > 0) {
    xcursor nc = {page[nh - 1]->key, s.horizon, mask};
    char buf[CS_CURSOR_MAX + 1];
    cursor_encode(&nc, sort, qh, buf, sizeof buf);
    if (buf[0]) {
      json_decref(next);
      next = json_string(buf);
    }
  }
  int exact = s.stopped_at == 0;
  *out = json_pack("{s:I, s:b, s:I, s:o, s:o, s:b}", "total",
                   (json_int_t)(exact ? s.total : total_estimate(&s)), "total_exact", exact,
                   "took_ms", (json_int_t)0, "next_cursor", next, "hits", hits, "relaxed", relaxed);
  hits = NULL;
  if (!*out) {
    rc = CS_ENOMEM;
    goto fail;
  }
  if (s.timed_out) json_object_set_new(*out, "timed_out", json_true());
  ret = 0;
  goto out;
fail:
  fail_rc(err, rc);
out:
  json_decref(hits);
  cs_buf_free(&fb);
  cs_buf_free(&ftbl);
  free(page);
  free(snips);
  free(s.scratch);
  free(s.u);
  free(s.named);
  free(s.bits);
  cs__topk_free(&s.top);
  cs__exec_close(s.x);
  cs__convs_release(&s.own_convs);
  cs__query_free(&q);
  return ret;
}

/* ---------------------------------------------------------------- match walks: entry */

static void deadline_init(xsearch *s, uint32_t timeout_ms) {
  if (!timeout_ms) return;
  clock_gettime(CLOCK_MONOTONIC, &s->deadline);
  s->deadline.tv_sec += timeout_ms / 1000;
  s->deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (s->deadline.tv_nsec >= 1000000000L) {
    s->deadline.tv_sec++;
    s->deadline.tv_nsec -= 1000000000L;
  }
  s->has_deadline = 1;
}

int cs__match(cs_reader *r, const cs__convs *convs, const cs_caller *c, const cs_search_params *p,
              const cs__query *q, const uint64_t *ids, size_t nids, cs__match_fn fn, void *ctx,
              int *timed_out) {
  xsearch s;
  memset(&s, 0, sizeof s);
  *timed_out = 0;
  s.r = r;
  s.convs = convs;
  s.caller = c;
  s.p = p;
  s.q = q;
  s.sort = CS__SORT_RELEVANCE;
  s.match_fn = fn;
  s.match_ctx = ctx;
  s.filter.q = q;
  s.filter.role = p->role;
  for (int i = 0; i < 8; i++)
    s.filter.cache[i].flen = -1;
  int rc = 0;
  if (p->speaker && *p->speaker) {
    if (cs__fold_speaker(p->speaker, strlen(p->speaker), s.filter.speaker,
                         sizeof s.filter.speaker) < 0)
      return CS_EINVAL;
    s.filter.has_speaker = 1;
  }
  s.filter.on = s.filter.has_speaker || p->role != CS_ANY_ROLE || q->nspeakers ||
                q->nnot_speakers || q->roles || q->not_roles;
  cs_stats st;
  rc = cs_reader_stats(r, &st);
  if (rc) return rc;
  s.horizon = st.next_docid ? st.next_docid : 1;
  deadline_init(&s, p->timeout_ms);
  if (ids) {
    /* Exactly these conversations, each checked like any other. */
    s.universe = 1;
    for (size_t i = 0; i < nids && !rc; i++) {
      cs_conv cv;
      int g = cs_reader_conv(r, ids[i], &cv);
      if (g == CS_ENOTFOUND) continue;
      if (g) {
        rc = g;
        break;
      }
      if (!cs_caller_sees_patient(r, c, cv.patient_id)) continue;
      if (p->patient && cv.patient_id != p->patient) continue;
      rc = universe_add(&s, &cv);
    }
    if (!rc && s.nu > 1) qsort(s.u, s.nu, sizeof *s.u, range_cmp);
  } else {
    rc = build_universe(&s);
  }
  if (rc) goto out;
  if (q->root >= 0) {
    cs__rank_params rp;
    cs__rank_defaults(&rp);
    rc = cs__exec_open(r, q, &rp, 0, &s.x);
    if (!rc) rc = walk(&s);
  } else if (q->browse) {
    rc = browse(&s);
  }
  *timed_out = s.timed_out;
out:
  free(s.u);
  free(s.bits);
  free(s.mturns);
  cs__exec_close(s.x);
  cs__convs_release(&s.own_convs);
  return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- engine entry */

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int cs_engine_search(cs_engine *e, const cs_caller *c, const cs_search_params *p, json_t **out,
                     cs_engine_error *err) {
  *out = NULL;
  int64_t t0 = mono_us();
  if (!c || !p) {
    cs_engine_err(err, 400, "bad_request", "missing parameters");
    return -1;
  }
  if (p->limit > CS_PAGE_MAX) {
    cs_engine_err(err, 400, "bad_request", "limit must be between 1 and %d", CS_PAGE_MAX);
    return -1;
  }
  cs_analyzer *a = cs__analyzer_get();
  if (!a) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  cs_view v;
  if (cs_view_begin(e, &v, err)) {
    cs__analyzer_put(a);
    return -1;
  }
  cs__search_opts o;
  cs__search_defaults(&o);
  int rc = cs_view_convs(&v, &o.convs);
  if (rc)
    rc = fail_rc(err, rc);
  else
    rc = cs__search(v.r, a, c, p, &o, out, err);
  cs_view_end(e, &v);
  cs__analyzer_put(a);
  if (rc == 0) {
    json_object_set_new(*out, "took_ms", json_integer((json_int_t)((mono_us() - t0) / 1000)));
  }
  return rc;
}
