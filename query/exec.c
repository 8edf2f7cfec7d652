/*
 * Query execution: a parsed query compiled into postings cursors (one per
 * indexed term a word expands to), their weights and statistics as of the
 * paging horizon, and matching of the query tree inside one conversation
 * (see search.c for the model), plus the match spans snippets and match
 * walks report.
 */
#include "search_int.h"
#include "corrupt.h"

#include "errors.h"
#include "expand.h"
#include "varint.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Variants one query may hold: terms beyond this are not expanded. */
#define VAR_BUDGET 512

static int add_var(cs__exec *x, uint32_t leaf, const char *term, size_t len, int exact,
                   double weight, uint64_t df) {
  if (cs_grow_from((void **)&x->vars, &x->vars_cap, (size_t)x->nvars + 1, sizeof *x->vars, 16))
    return CS_ENOMEM;
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

static int open_cursor(cs__exec *x, xvar *v, uint32_t from) {
  cs_pcur_close(v->cur);
  v->cur = NULL;
  v->doc = END;
  if (v->df == 0 && v->len == 0) return 0;
  int rc = cs_pcur_open_at(x->r, v->term, v->len, from, &v->cur);
  if (rc == CS_ENOTFOUND) return 0;
  if (!rc) v->doc = cs_pcur_docid(v->cur);
  return rc;
}

/* A cursor opened again moves back: its leaf's heap (keys at most the
 * docids) no longer holds, and the leaf looks at each variant from then on
 * (snippets reopen cursors once the walk is over). */
int cs__open_cursor(cs__exec *x, xvar *v, uint32_t from) {
  if (x->leaves && v->leaf < x->nleaves) x->leaves[v->leaf].heap = HEAP_NONE;
  return open_cursor(x, v, from);
}

/* TERM leaves with at least this many variants (a short prefix, a typo
 * expansion) find their next document through a heap of their variants
 * rather than by looking at each (cs__leaf_next). */
#define HEAP_MIN 16
/* Calls after which a heap that moves a quarter of its variants per call
 * on average gives way to looking at each. */
#define HEAP_TRIAL 64

static void heap_down(uint32_t *hv, uint32_t *hk, uint32_t n, uint32_t i) {
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= n) return;
    if (c + 1 < n && hk[c + 1] < hk[c]) c++;
    if (hk[i] <= hk[c]) return;
    uint32_t tv = hv[i], tk = hk[i];
    hv[i] = hv[c];
    hk[i] = hk[c];
    hv[c] = tv;
    hk[c] = tk;
    i = c;
  }
}

/* (Re)builds the heaps from the cursors' docids (after cursors open). */
static void heaps_build(cs__exec *x) {
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (l->heap == HEAP_NONE) continue;
    uint32_t *hv = x->hv + l->heap, *hk = x->hk + l->heap;
    for (uint32_t k = 0; k < l->nvar; k++) {
      hv[k] = l->var + k;
      hk[k] = x->vars[l->var + k].doc;
    }
    for (uint32_t k = l->nvar / 2; k-- > 0;)
      heap_down(hv, hk, l->nvar, k);
  }
}

void cs__exec_no_heaps(cs__exec *x) {
  for (uint32_t i = 0; i < x->nleaves; i++)
    x->leaves[i].heap = HEAP_NONE;
}

uint32_t cs__leaf_next(cs__exec *x, const xleaf *l, uint32_t t) {
  /* Keys are at most the cursors' docids: the top is the least docid once
   * its key is its cursor's, at or after t. */
  xleaf *ml = &x->leaves[l - x->leaves];
  uint32_t *hv = x->hv + l->heap, *hk = x->hk + l->heap;
  ml->hcalls++;
  for (;;) {
    xvar *v = &x->vars[hv[0]];
    if (hk[0] == v->doc && v->doc >= t) break;
    hk[0] = var_geq(v, t);
    heap_down(hv, hk, l->nvar, 0);
    ml->hpops++;
  }
  /* When most variants move at every step (long conversations holding
   * most of them), looking at each is cheaper: the leaf does that from
   * now on (its keys are no longer needed). */
  if (ml->hcalls == HEAP_TRIAL && (uint64_t)ml->hpops * 4 > (uint64_t)ml->hcalls * l->nvar)
    ml->heap = HEAP_NONE;
  return x->vars[hv[0]].doc;
}

uint32_t cs__leaf_in(cs__exec *x, const xleaf *l, uint32_t f, uint32_t e, uint32_t *out) {
  uint32_t n = 0, off = l->heap; /* (the call below may give the heap up after it) */
  if (cs__leaf_next(x, l, f) >= e) return 0;
  /* Every variant is now at f or past it; those before e lie where the
   * keys are below e (a key is at most its docid, a child's at least its
   * parent's). */
  const uint32_t *hv = x->hv + off, *hk = x->hk + off;
  uint32_t stack[66], sp = 0; /* a depth-first walk holds at most depth + 2 */
  stack[sp++] = 0;
  while (sp) {
    uint32_t i = stack[--sp];
    if (i >= l->nvar || hk[i] >= e) continue;
    if (x->vars[hv[i]].doc < e) out[n++] = hv[i];
    stack[sp++] = 2 * i + 2;
    stack[sp++] = 2 * i + 1;
  }
  if (l->nvar <= 512) { /* in variant order: through a bitmap */
    uint64_t bits[8] = {0};
    for (uint32_t i = 0; i < n; i++)
      bits[(out[i] - l->var) >> 6] |= 1ull << ((out[i] - l->var) & 63);
    n = 0;
    for (uint32_t w = 0; w < 8; w++) {
      for (uint64_t b = bits[w]; b; b &= b - 1)
        out[n++] = l->var + w * 64 + (uint32_t)__builtin_ctzll(b);
    }
    return n;
  }
  for (uint32_t i = 1; i < n; i++) { /* insertion */
    uint32_t v = out[i], j = i;
    for (; j > 0 && out[j - 1] > v; j--)
      out[j] = out[j - 1];
    out[j] = v;
  }
  return n;
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

/* Document frequency of a term among docids below the horizon: its df less
 * its documents from the horizon on (of the statistics' scope: `after`,
 * sorted, when the scope is one owner's). */
static int df_below(cs__exec *x, xvar *v, const uint32_t *after, size_t nafter, uint64_t *df) {
  cs_pcur *c;
  int rc = cs_pcur_open(x->r, v->term, v->len, &c);
  if (rc == CS_ENOTFOUND) {
    *df = 0;
    return 0;
  }
  if (rc) return rc;
  uint64_t n = 0;
  if (!x->ts.own) {
    for (cs_pcur_next_geq(c, x->horizon); cs_pcur_docid(c) != END; cs_pcur_next(c))
      n++;
  } else {
    for (size_t i = 0; i < nafter && cs_pcur_docid(c) != END; i++) {
      cs_pcur_next_geq(c, after[i]);
      n += cs_pcur_docid(c) == after[i];
    }
  }
  rc = cs_pcur_error(c);
  cs_pcur_close(c);
  *df = v->df > n ? v->df - n : 0;
  return rc;
}

typedef struct after_ctx {
  cs__exec *x;
  uint32_t *docs; /* the scope's documents from the horizon on */
  size_t n, cap;
  uint64_t patient, owner; /* the last person's owner */
  int rc;
} after_ctx;

/* The owner whose statistics doc d counts in (the writer's rule: its
 * person's owner, or the owner its conversation names while the person is
 * not indexed). */
static int doc_owner(after_ctx *a, const cs_doc *d, uint64_t *owner) {
  if (a->patient == d->patient_id && a->patient) {
    *owner = a->owner;
    return 0;
  }
  cs_patient p;
  cs_conv c;
  int rc = cs_reader_patient(a->x->r, d->patient_id, &p);
  if (rc == 0) {
    a->patient = d->patient_id;
    a->owner = *owner = p.owner_id;
    return 0;
  }
  if (rc != CS_ENOTFOUND) return rc;
  rc = cs_reader_conv(a->x->r, d->conversation_id, &c);
  *owner = rc == 0 ? c.owner_id : UINT64_MAX;
  return rc == CS_ENOTFOUND ? 0 : rc;
}

static int docs_after_each(void *ctx, cs_slice key, cs_slice val) {
  after_ctx *a = ctx;
  cs_stats *st = &a->x->st;
  cs_doc d;
  if (cs_corrupt_rc(cs_doc_decode(val.data, val.len, &d), CS_T_DOCS, key) || d.kind >= CS_DOC_KINDS)
    return 0;
  if (a->x->ts.own) {
    uint64_t owner;
    a->rc = doc_owner(a, &d, &owner);
    if (a->rc) return 1;
    if (owner != a->x->ts.owner) return 0;
    if (cs_grow((void **)&a->docs, &a->cap, a->n + 1, sizeof *a->docs)) {
      a->rc = CS_ENOMEM;
      return 1;
    }
    a->docs[a->n++] = cs_be32_get(key.data);
  }
  if (st->docs[d.kind]) st->docs[d.kind]--;
  st->tokens[d.kind] = st->tokens[d.kind] >= d.len ? st->tokens[d.kind] - d.len : 0;
  return 0;
}

/* Statistics as of the horizon: documents added since do not count. */
static int stats_at_horizon(cs__exec *x) {
  if (!x->horizon || x->horizon >= x->st.next_docid) return 0;
  uint8_t from[4];
  cs_be32_put(from, x->horizon);
  after_ctx a;
  memset(&a, 0, sizeof a);
  a.x = x;
  int rc = cs_reader_scan_from(x->r, CS_T_DOCS, NULL, 0, from, 4, docs_after_each, &a);
  if (rc > 0 || !rc) rc = a.rc;
  for (uint32_t i = 0; !rc && i < x->nvars; i++)
    rc = df_below(x, &x->vars[i], a.docs, a.n, &x->vars[i].df);
  free(a.docs);
  return rc;
}

/* A typo or prefix match never weighs more than the word typed: its idf is
 * at most the exact term's (the highest, if the word has several), or,
 * where the word is not in the index, the most frequent variant's. A rare
 * misspelling otherwise has the highest idf of all and outranks the word
 * itself ("trabajo" led by a turn saying "trabatada"); this is Lucene's
 * blended frequency for fuzzy queries, kept to the variants. */
static void cap_variants(cs__exec *x, const xleaf *l) {
  double ref = -1, common = -1; /* the exact terms' highest idf; the variants' lowest */
  for (uint32_t k = 0; k < l->nvar; k++) {
    const xvar *v = &x->vars[l->var + k];
    if (v->exact && v->idf > ref) ref = v->idf;
    if (v->capped && (common < 0 || v->idf < common)) common = v->idf;
  }
  if (ref < 0) ref = common;
  for (uint32_t k = 0; k < l->nvar; k++) {
    xvar *v = &x->vars[l->var + k];
    if (v->capped && v->idf > ref) v->idf = ref;
  }
}

static void compute_weights(cs__exec *x) {
  cs__ranker_init(&x->rk, &x->rp, &x->st);
  const cs__rank_params *p = &x->rp;
  x->cb_ok = p->k1 == CS_CB_K1 && p->b == CS_CB_B && p->kind_weight[CS_DOC_TURN] == CS_CB_W_TURN &&
             p->kind_weight[CS_DOC_TITLE] == CS_CB_W_TITLE &&
             p->kind_weight[CS_DOC_DESCRIPTION] == CS_CB_W_DESCRIPTION &&
             p->second_share == CS_CB_S2 && p->third_share == CS_CB_S3;
  for (uint32_t i = 0; i < x->nvars; i++)
    x->vars[i].idf = cs__idf(&x->rk, x->vars[i].df);
  for (uint32_t i = 0; i < x->nleaves; i++)
    cap_variants(x, &x->leaves[i]);
  for (uint32_t i = 0; i < x->nvars; i++)
    x->vars[i].w = x->vars[i].idf * x->vars[i].weight;
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
  x->nactive = nidf;
}

static void mark_required(cs__exec *x);

int cs__exec_open(const cs__tstats *ts, const cs__query *q, const cs__rank_params *rp,
                  uint32_t horizon, uint32_t from, cs__exec **out) {
  *out = NULL;
  cs__exec *x = calloc(1, sizeof *x);
  if (!x) return CS_ENOMEM;
  cs_reader *r = ts->r;
  x->r = r;
  x->ts = *ts;
  x->q = q;
  x->rp = *rp;
  x->horizon = horizon;
  x->from = from;
  int rc = cs__ts_stats(ts, &x->st);
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
      rc = cs__expand(ts, w, prefix, edits, prefix || edits ? cap : 2, vv, &nv);
      for (uint32_t k = 0; !rc && k < nv; k++) {
        rc = add_var(x, i, vv[k].term, vv[k].len, vv[k].exact, vv[k].weight * boost, vv[k].df);
        if (!rc) x->vars[x->nvars - 1].capped = !vv[k].exact && !vv[k].synonym;
        if (!vv[k].exact) l->expanded = 1;
      }
      if (n->has_syn) l->expanded = 1;
    } else {
      for (uint32_t k = 0; !rc && k < n->nwords; k++) {
        const cs__qword *w = &q->words[n->word + k];
        cs_lex lx;
        const char *term = w->term;
        size_t tlen = w->term_len;
        int lrc = cs__ts_lex(ts, term, tlen, &lx);
        if (lrc == CS_ENOTFOUND) {
          /* The stem the index recorded for this surface word, if any. */
          cs_word we;
          if (cs__ts_word(ts, w->word, w->word_len, &we) == 0 &&
              cs__ts_lex(ts, we.stem.p, we.stem.len, &lx) == 0) {
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
    rc = open_cursor(x, &x->vars[i], from);
  if (!rc) rc = stats_at_horizon(x);
  if (rc) goto fail;
  compute_weights(x);
  mark_required(x);
  x->act = malloc((x->nvars ? x->nvars : 1) * sizeof *x->act);
  x->act_last = malloc((x->nvars ? x->nvars : 1) * sizeof *x->act_last);
  x->leaf_score = calloc(x->nleaves ? x->nleaves : 1, sizeof *x->leaf_score);
  x->lin = malloc((x->nvars ? x->nvars : 1) * sizeof *x->lin);
  x->ess = malloc((x->nvars ? x->nvars : 1) * sizeof *x->ess);
  uint32_t nheap = 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    xleaf *l = &x->leaves[i];
    l->heap = l->type == CS__N_TERM && l->nvar >= HEAP_MIN ? nheap : HEAP_NONE;
    if (l->heap != HEAP_NONE) nheap += l->nvar;
  }
  if (nheap) {
    x->hv = malloc(nheap * sizeof *x->hv);
    x->hk = malloc(nheap * sizeof *x->hk);
  }
  if (!x->act || !x->act_last || !x->leaf_score || !x->lin || !x->ess ||
      (nheap && (!x->hv || !x->hk))) {
    rc = CS_ENOMEM;
    goto fail;
  }
  heaps_build(x);
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
  free(x->act_last);
  free(x->leaf_score);
  free(x->lin);
  free(x->ess);
  free(x->hv);
  free(x->hk);
  free(x->pp);
  free(x->sp);
  free(x->phr);
  free(x->pk);
  free(x->dsum);
  free(x->prox_docs);
  free(x->lbound);
  free(x->td);
  free(x->tbits);
  free(x->tend);
  free(x->dleaves);
  free(x);
}

/* Reopens every cursor at the start (relaxation retries), but those of
 * dropped leaves: no walk reads them (cs__node_lb and cs__node_match skip
 * dropped clauses, bounds and scoring read active leaves only, snippets
 * reopen their own). */
int cs__exec_rewind(cs__exec *x) {
  for (uint32_t i = 0; i < x->nvars; i++) {
    const xleaf *l = &x->leaves[x->vars[i].leaf];
    if (!l->active && !l->negated) continue;
    int rc = open_cursor(x, &x->vars[i], x->from);
    if (rc) return rc;
  }
  heaps_build(x);
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

/* Required leaves (cs__skip_run): active, and the root or a positive
 * clause of the root's AND, so that every match has them. */
static void mark_required(cs__exec *x) {
  for (uint32_t i = 0; i < x->nleaves; i++)
    x->leaves[i].required = 0;
  int32_t root = x->q->root;
  if (root >= 0 && x->node_leaf[root] >= 0) {
    x->leaves[x->node_leaf[root]].required = x->leaves[x->node_leaf[root]].active;
  } else if (root >= 0 && x->q->nodes[root].type == CS__N_AND) {
    const cs__qnode *node = &x->q->nodes[root];
    for (uint32_t k = 0; k < node->nkids; k++) {
      int32_t kid = (int32_t)x->q->kids[node->kid + k];
      if (x->node_leaf[kid] >= 0)
        x->leaves[x->node_leaf[kid]].required = x->leaves[x->node_leaf[kid]].active;
    }
  }
}

/* Leaves that count for scoring: positive and not dropped by relaxation. */
void cs__exec_update_active(cs__exec *x) {
  if (x->q->root >= 0) mark_active(x, x->q->root, 0);
  mark_required(x);
  double idf_sum = 0;
  uint32_t n = 0;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    if (x->leaves[i].active && x->leaves[i].nvar) {
      idf_sum += x->leaves[i].idf;
      n++;
    }
  }
  x->prox_scale = n >= 2 ? x->rp.proximity * idf_sum / n : 0;
  x->nactive = n;
}

/* Occurrences of a phrase in the document all its cursors are on; with
 * starts != NULL, also writes up to cap start positions. */
uint32_t cs__phrase_freq(cs__exec *x, const xleaf *l, uint32_t *starts, size_t cap) {
  const uint32_t *pos[64];
  uint32_t npos[64], at[64];
  uint32_t n = l->nvar > 64 ? 64 : l->nvar;
  /* One word: each of its positions is an occurrence (its tf). */
  if (n == 1 && !starts) return cs_pcur_tf(x->vars[l->var].cur);
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

/* The first document at or after t that phrase l's cursors are all on
 * (they leapfrog there), or the first document at or after e one of them
 * is on (END: none). */
static uint32_t phrase_all_on(cs__exec *x, const xleaf *l, uint32_t t, uint32_t e) {
  for (;;) {
    uint32_t d = 0;
    int same = 1;
    for (uint32_t k = 0; k < l->nvar; k++) {
      uint32_t dk = var_geq(&x->vars[l->var + k], t);
      if (k && dk != d) same = 0;
      if (dk > d) d = dk;
    }
    if (same || d >= e) return d;
    t = d;
  }
}

static int leaf_match(xsearch *s, const xleaf *l, const xrange *R) {
  cs__exec *x = s->x;
  if (!(l->fields & R->kinds)) return 0;
  if (l->type == CS__N_TERM) {
    int many = l->heap != HEAP_NONE && !leaves_behind(s, (uint32_t)(l - x->leaves));
    uint32_t n = many ? cs__leaf_in(x, l, R->f, R->e, x->lin) : l->nvar;
    for (uint32_t k = 0; k < n; k++) {
      xvar *v = &x->vars[many ? x->lin[k] : l->var + k];
      if (left_behind(s, v)) continue; /* R cannot make the page on them */
      for (uint32_t d = var_geq(v, R->f); d < R->e; d = var_doc(v)) {
        if (doc_ok(s, l, R, d)) return 1;
        var_next(v);
      }
    }
    return 0;
  }
  for (uint32_t target = R->f;;) {
    uint32_t d = phrase_all_on(x, l, target, R->e);
    if (d >= R->e) return 0;
    if (doc_ok(s, l, R, d) && cs__phrase_freq(x, l, NULL, 0) > 0) return 1;
    target = d + 1;
  }
}

/* Documents a phrase's lower bound looks at before it answers with one
 * not yet known to hold the phrase: the walk checks its deadline between
 * conversations, and a phrase of two common words that never meet as a
 * phrase would otherwise be sought through all their postings at once. */
#define PHRASE_LB_DOCS 64

/* cs__node_lb of a phrase of several words: the first document at or
 * after t its cursors are all on and where the phrase occurs (the
 * documents passed hold no occurrence, so a conversation without one is
 * not even looked up), or after PHRASE_LB_DOCS documents holding all its
 * words, the next of those. */
static uint32_t phrase_lb(cs__exec *x, const xleaf *l, uint32_t t) {
  for (int tries = 0;;) {
    uint32_t d = phrase_all_on(x, l, t, END);
    if (d == END) return END;
    if (++tries > PHRASE_LB_DOCS || cs__phrase_freq(x, l, NULL, 0) > 0) return d;
    t = d + 1;
  }
}

uint32_t cs__node_lb(cs__exec *x, int32_t n, uint32_t t) {
  const cs__qnode *node = &x->q->nodes[n];
  int32_t li = x->node_leaf[n];
  if (li >= 0) {
    const xleaf *l = &x->leaves[li];
    if (l->heap != HEAP_NONE) return cs__leaf_next(x, l, t);
    if (l->type == CS__N_PHRASE && l->nvar > 1) return phrase_lb(x, l, t);
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
      uint32_t d = cs__node_lb(x, (int32_t)x->q->kids[node->kid + k], t);
      if (d < m) m = d;
    }
    return m;
  }
  if (node->type == CS__N_AND) {
    uint32_t m = t;
    for (uint32_t k = 0; k < node->nkids && m != END; k++) {
      int32_t kid = (int32_t)x->q->kids[node->kid + k];
      if (x->dropped[kid] || x->q->nodes[kid].type == CS__N_NOT) continue;
      uint32_t d = cs__node_lb(x, kid, t);
      if (d > m) m = d;
    }
    return m;
  }
  return END;
}

int cs__node_eval(const cs__exec *x, int32_t n, int (*leaf)(void *ctx, int32_t li), void *ctx) {
  const cs__qnode *node = &x->q->nodes[n];
  int32_t li = x->node_leaf[n];
  if (li >= 0) return leaf(ctx, li);
  switch (node->type) {
  case CS__N_AND:
    for (uint32_t k = 0; k < node->nkids; k++) {
      int32_t kid = (int32_t)x->q->kids[node->kid + k];
      if (x->dropped[kid] || x->q->nodes[kid].type == CS__N_NOT) continue;
      if (!cs__node_eval(x, kid, leaf, ctx)) return 0;
    }
    for (uint32_t k = 0; k < node->nkids; k++) {
      int32_t kid = (int32_t)x->q->kids[node->kid + k];
      if (x->dropped[kid] || x->q->nodes[kid].type != CS__N_NOT) continue;
      if (cs__node_eval(x, (int32_t)x->q->kids[x->q->nodes[kid].kid], leaf, ctx)) return 0;
    }
    return 1;
  case CS__N_OR:
    for (uint32_t k = 0; k < node->nkids; k++) {
      if (cs__node_eval(x, (int32_t)x->q->kids[node->kid + k], leaf, ctx)) return 1;
    }
    return 0;
  case CS__N_NOT:
    return !cs__node_eval(x, (int32_t)x->q->kids[node->kid], leaf, ctx);
  default:
    return 0;
  }
}

typedef struct match_ctx {
  xsearch *s;
  const xrange *R;
} match_ctx;

static int leaf_matches(void *ctx, int32_t li) {
  match_ctx *m = ctx;
  return leaf_match(m->s, &m->s->x->leaves[li], m->R);
}

int cs__node_match(xsearch *s, int32_t n, const xrange *R) {
  match_ctx m = {s, R};
  return cs__node_eval(s->x, n, leaf_matches, &m);
}

static int add_span(cs__exec *x, size_t *n, uint32_t first, uint32_t last) {
  if (*n >= POS_MAX) return 0;
  if (cs_grow((void **)&x->sp, &x->sp_cap, *n + 1, sizeof *x->sp)) return CS_ENOMEM;
  x->sp[*n].first = first;
  x->sp[*n].last = last;
  (*n)++;
  return 0;
}

/* Spans of document d (of kind `kind`) from the cursors on it; cursors of
 * active leaves move to >= d. */
int cs__doc_spans(cs__exec *x, uint32_t d, int kind, size_t *n) {
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
      if (cs_grow((void **)&x->phr, &x->phr_cap, POS_MAX, sizeof *x->phr)) return CS_ENOMEM;
      uint32_t pf = cs__phrase_freq(x, l, x->phr, POS_MAX);
      uint32_t span = x->q->words[l->word + l->nvar - 1].pos;
      for (uint32_t j = 0; j < pf && j < POS_MAX && !rc; j++)
        rc = add_span(x, n, x->phr[j], x->phr[j] + span);
    }
  }
  return rc;
}

uint32_t cs__exec_next_doc(cs__exec *x, uint32_t first) {
  uint32_t d = END;
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active) continue;
    for (uint32_t k = 0; k < l->nvar; k++) {
      uint32_t dd = var_geq(&x->vars[l->var + k], first);
      if (dd < d) d = dd;
    }
  }
  return d;
}

int cs__exec_spans(cs__exec *x, uint32_t first, uint32_t end, cs__spans_fn fn, void *ctx) {
  if (!x || first >= end) return 0;
  /* A word held exactly is highlighted alone, as it is scored (score.c,
   * held_exactly): its typo and prefix matches' cursors go past the range. */
  for (uint32_t i = 0; i < x->nleaves; i++) {
    const xleaf *l = &x->leaves[i];
    if (!l->active || !l->expanded) continue;
    int held = 0;
    for (uint32_t k = 0; k < l->nvar && !held; k++) {
      xvar *v = &x->vars[l->var + k];
      held = v->exact && var_geq(v, first) < end;
    }
    for (uint32_t k = 0; k < l->nvar && held; k++) {
      xvar *v = &x->vars[l->var + k];
      if (v->capped) var_geq(v, end);
    }
  }
  xrange R;
  memset(&R, 0, sizeof R);
  R.f = first;
  R.e = end;
  R.title = R.desc = END;
  for (;;) {
    uint32_t d = cs__exec_next_doc(x, first);
    if (d >= end) return 0;
    size_t n;
    int rc = cs__doc_spans(x, d, CS_DOC_TURN, &n);
    if (rc) return rc;
    if (n) {
      rc = fn(ctx, d, x->sp, n);
      if (rc) return rc;
    }
    first = d + 1;
  }
}
