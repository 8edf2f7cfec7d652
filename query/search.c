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
 * Statistics. Expansion, weights, bounds, relaxation order and estimated
 * totals read the statistics the caller may depend on (tstats.h): a portal
 * caller's own documents' (N, df, average lengths, words), so that nothing
 * of another employee's data shows through its numbers.
 *
 * Paging. The cursor is opaque base64url of the last hit's sort key, the
 * docid horizon of the first page (the next docid then; for a portal caller
 * its own next docid, which moves only with its own documents, so that a
 * cursor tells nothing of how much others index), the relaxation
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
 *
 * Modules (search_int.h is their shared private interface): this file has
 * the walk, browsing, relaxation, match walks and the entry points;
 * exec.c the compiled query, its cursors and matching; scope.c what a walk
 * may visit (universes, named people, the docid -> conversation lookup,
 * turn filters); bounds.c a conversation's bound before it is scored, score.c
 * its scoring, skip.c passing what cannot make the page; snippets.c
 * hits as JSON with their highlights; cursor_codec.c the paging cursor.
 */
#include "search_int.h"
#include "owned.h"
#include "corrupt.h"

#include "clock.h"
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

static int past_deadline(xsearch *s) {
  if (!s->has_deadline || (++s->ticks & 63)) return 0;
  if (!cs_clock_reached(CLOCK_MONOTONIC, &s->deadline)) return 0;
  s->timed_out = 1;
  return 1;
}

/* A leaf that searches (not under an exclusion): without one, a matching
 * conversation has no turn that "contains a match", and all its turns
 * that pass the turn filters stand for it. */
static int has_positive(const cs__exec *x) {
  for (uint32_t i = 0; x && i < x->nleaves; i++) {
    if (x->leaves[i].active) return 1;
  }
  return 0;
}

static int mturn_add(xsearch *s, size_t *n, uint32_t d) {
  if (cs_grow((void **)&s->mturns, &s->mturns_cap, *n + 1, sizeof *s->mturns)) return CS_ENOMEM;
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

static int all_turns_each(void *ctx, const cs_turn *tp) {
  all_turns_ctx *a = ctx;
  const cs_turn t = *tp;
  if (t.docid < a->R->f || t.docid >= a->R->e || !turn_bit(a->s, a->R, t.docid)) return 0;
  return mturn_add(a->s, &a->n, t.docid);
}

static int u32_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* A matching conversation of a match walk: lists its matching turns (the
 * turns any variant of a searched clause matches, restricted to those
 * passing the turn filters) and hands them to match_fn. The cursors only
 * move forward inside R: node_match left each of them on or before its
 * first document in R that can match (documents it stepped over are of a
 * kind the clause does not search, filtered out, or hold no occurrence of
 * the phrase), so nothing that matches is skipped. */
static int match_emit(xsearch *s, const xrange *R) {
  s->total++;
  size_t n = 0;
  int rc = 0;
  if (!has_positive(s->x)) {
    /* Turn docids are not contiguous (each passage follows the turn it
     * ends with): the turn records name them. */
    all_turns_ctx a = {s, R, 0};
    rc = cs_reader_turns(s->r, R->id, INT32_MIN, 0, all_turns_each, &a);
    n = a.n;
    if (!rc && n > 1) qsort(s->mturns, n, sizeof *s->mturns, u32_cmp);
  } else {
    /* Only turns hold the terms of turn clauses (passages are a field of
     * their own): every document but the title and description is one. */
    cs__exec *x = s->x;
    uint32_t first = R->f;
    while (!rc) {
      uint32_t d = cs__exec_next_doc(x, first);
      if (d >= R->e) break;
      if (d != R->title && d != R->desc && turn_bit(s, R, d)) {
        size_t nsp;
        rc = cs__doc_spans(x, d, CS_DOC_TURN, &nsp);
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
  const cs__redact *rd = cs__redact_for(s, R->patient);
  if (!s->vkeys_all && !cs__redact_maybe(rd, s->vkeys, s->nvkeys)) return;
  for (uint32_t i = 0; i < x->nvars; i++) {
    xvar *v = &x->vars[i];
    if (v->cur && cs__redact_blocks(rd, v->term, v->len)) var_geq(v, R->e);
  }
}

/* Where the walk starts: the first conversation of the universe, when
 * there is one (the cursors open there: cs__exec_open). */
static uint32_t walk_start(const xsearch *s) {
  return s->universe ? (s->nu ? s->u[0].f : END) : 0;
}

/* The walk over conversations for a query with clauses. */
static int walk(xsearch *s) {
  cs__exec *x = s->x;
  int32_t root = x->q->root;
  uint32_t t = walk_start(s);
  uint32_t limit = s->horizon ? s->horizon : END;
  int rc = 0, count = 1;
  uint32_t run_wait = 0, run_backoff = 0; /* counting runs (below) */
  s->walk_from = t;
  s->ess_valid = 0;
  s->ess_leaf = ESS_UNKNOWN;
  s->exact_only = 0;
  s->ax_tier = -1;
  s->ax_wait = s->ax_backoff = 0;
  s->skip_fail_L = 0;
  memset(&s->skip_fail_key, 0, sizeof s->skip_fail_key);
  s->run_counts = cs__run_can_count(s);
  while (t < limit && !rc) {
    if (past_deadline(s)) break;
    if (count && !cs__counting(s)) {
      count = 0;
      s->stopped_at = t; /* counted exactly below t */
    }
    if (!count)
      t = cs__skip_run(s, cs__exact_chunk_skip(s, cs__skip_convs(s, t)), 0);
    else if (s->run_counts && !run_wait) {
      /* A run that rules nothing out is a set-up for nothing: after one,
       * the walk waits a few conversations more each time before the
       * next (1, 2, 4 .. 32; a run that rules out resets it). */
      uint32_t from = t;
      t = cs__skip_run(s, t, limit);
      if (!cs__counting(s)) { /* the run counted up to the bound: it set s->stopped_at */
        count = 0;
        continue;
      }
      run_backoff = t > from ? 0 : run_backoff ? (run_backoff < 32 ? 2 * run_backoff : 32) : 1;
      run_wait = run_backoff;
    } else if (run_wait) {
      run_wait--;
    }
    uint32_t d = count ? cs__node_lb(x, root, t) : cs__pruned_lb(s, t);
    if (s->nnamed) {
      uint32_t dn = cs__named_lb(s, t);
      if (dn < d) d = dn;
    }
    if (d >= limit) break;
    xrange R;
    uint32_t next = d + 1;
    rc = cs__resolve(s, d, &R, &next);
    if (rc < 0) break;
    if (rc == 0) {
      t = next > d ? next : d + 1;
      continue;
    }
    /* Not counting: a conversation that cannot make the page is not even
     * matched. */
    int pre = !count;
    if (pre && cs__cannot_make_page(s, &R, s->scratch, &rc)) {
      t = R.e;
      continue;
    }
    if (s->caller->role == CS_CALLER_ANALYST) unname(s, &R);
    rc = cs__turn_bits(s, &R);
    if (rc) break;
    if (cs__node_match(s, root, &R) || (s->nnamed && cs__is_named(s, &R))) {
      if (s->match_fn)
        rc = match_emit(s, &R);
      else if (count)
        rc = cs__consider(s, &R);
      else
        rc = cs__keep_hit(s, &R, 1);
    }
    t = R.e;
  }
  if (!count) s->limit_at = limit;
  for (uint32_t i = 0; i < x->nvars && !rc; i++) {
    if (x->vars[i].cur) rc = cs_pcur_error(x->vars[i].cur);
  }
  return rc;
}

static int browse_one(xsearch *s, const xrange *R) {
  if (s->filter.on) {
    int rc = cs__turn_bits(s, R);
    if (rc) return rc;
    int any = 0;
    for (uint32_t d = R->f; d < R->e && !any; d++) {
      uint32_t i = d - R->f;
      any = (s->cur_bits[i >> 3] >> (i & 7)) & 1;
    }
    if (!any) return 0;
  }
  return s->match_fn ? match_emit(s, R) : cs__consider(s, R);
}

static int browse_each(void *ctx, cs_slice key, cs_slice val) {
  xsearch *s = ctx;
  cs_conv c;
  if (cs_corrupt_rc(cs_conv_decode(val.data, val.len, &c), CS_T_CONV, key)) return 0;
  xrange R;
  range_of(&c, &R);
  if (!cs__range_passes(s, &R)) return 0;
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
  cs__exec_update_active(x);
}

/* First page of an all-words query that matched nothing: drops the rarest
 * clauses one by one and walks again for real until something matches. A
 * walk that finds nothing costs what a probe for a first match would (it
 * walks everything either way), and one that finds something is the result:
 * no probe, no second walk. *mask gets the dropped clauses (bits of the
 * root's kid list), 0 when relaxing did not help. */
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
  for (uint32_t i = 0; i + 1 < nc && !rc && !found && !s->timed_out; i++) {
    *mask |= 1ull << c[i].node;
    apply_mask(x, *mask);
    rc = cs__exec_rewind(x);
    if (!rc) rc = walk(s);
    found = s->total > 0; /* nothing kept unless something matched */
  }
  if (rc || !found) {
    *mask = 0;
    apply_mask(x, 0);
  }
  return rc;
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
  return cs_engine_err_rc(err, rc);
}

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int cs__search_text(cs_reader *r, cs_analyzer *a, const cs_caller *c, const cs_search_params *p,
                    const cs__search_opts *o, int precision, cs_jtext *out, cs_engine_error *err) {
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
  uint64_t qh = cs__query_hash(p, sort);
  xcursor cur;
  memset(&cur, 0, sizeof cur);
  int has_cursor = p->cursor && *p->cursor;
  if (has_cursor && cs__cursor_decode(p->cursor, sort, qh, &cur)) {
    cs_engine_err(err, 400, "bad_cursor",
                  "the cursor is not valid for this query; start again without it");
    return -1;
  }

  cs__query q;
  xsearch s;
  memset(&s, 0, sizeof s);
  int rc = 0, ret = -1;
  xhit **page = NULL;
  cs__page_conv *pcs = NULL;
  cs__page_text pt;
  memset(&pt, 0, sizeof pt);
  cs_buf fb;
  cs_buf_init(&fb);
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
  s.turns = o->turns;
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
  if (c && c->role == CS_CALLER_PORTAL) {
    /* Every document of the caller is below its own next docid, and every
     * one added later at or above it: the same pages, a horizon of its own. */
    cs_stats own;
    rc = cs_reader_owner_stats(r, c->employee_id, &own);
    if (rc) goto fail;
    if (own.next_docid && own.next_docid < s.horizon) s.horizon = own.next_docid;
  }
  if (has_cursor && cur.horizon < s.horizon) s.horizon = cur.horizon;
  if (has_cursor) {
    s.has_after = 1;
    s.after = cur.key;
  }
  if (p->timeout_ms) {
    s.deadline = cs_clock_after_ms(CLOCK_MONOTONIC, p->timeout_ms);
    s.has_deadline = 1;
  }
  rc = cs__scope_universe(&s);
  if (!rc && q.root >= 0) rc = cs__scope_named(&s, qs, qlen);
  if (rc) goto fail;

  uint64_t mask = 0;
  int relaxed = 0;
  if (q.root >= 0) {
    cs__tstats ts;
    cs__tstats_init(&ts, r, c);
    rc = cs__exec_open(&ts, &q, &o->rank, has_cursor ? s.horizon : 0, walk_start(&s), &s.x);
    if (rc) goto fail;
    if (s.exhaustive) cs__exec_no_heaps(s.x); /* the reference looks at every variant */
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
  size_t nb = nh ? nh : 1;
  page = calloc(nb, sizeof *page);
  pcs = malloc(nb * sizeof *pcs);
  pt.snip = calloc(nb * SNIPPETS, sizeof *pt.snip);
  pt.title = calloc(nb, sizeof *pt.title);
  pt.desc = calloc(nb, sizeof *pt.desc);
  if (!page || !pcs || !pt.snip || !pt.title || !pt.desc) {
    rc = CS_ENOMEM;
    goto fail;
  }
  for (uint32_t i = 0; i < nh && !rc; i++) {
    page[i] = cs__topk_at(&s.top, i);
    pcs[i].rc = cs_reader_conv(r, page[i]->R.id, &pcs[i].c);
    rc = cs__plain_fields(&s, &pcs[i], &fb, &pt, i);
  }
  if (!rc && o->snippets && s.x) rc = cs__build_snippets(&s, page, pcs, nh, &pt);
  if (rc) goto fail;
  int exact = s.stopped_at == 0;
  cs_jtext_c(out, '{');
  cs_jtext_key(out, "total", 1);
  cs_jtext_int(out, (int64_t)(exact ? s.total : cs__total_estimate(&s)));
  cs_jtext_key(out, "total_exact", 0);
  cs_jtext_raw(out, exact ? "true" : "false", exact ? 4 : 5);
  cs_jtext_key(out, "took_ms", 0);
  cs_jtext_int(out, o->t0_us ? (mono_us() - o->t0_us) / 1000 : 0);
  cs_jtext_key(out, "next_cursor", 0);
  char buf[CS_CURSOR_MAX + 1] = "";
  if (s.top.n > limit && nh > 0) {
    xcursor nc = {page[nh - 1]->key, s.horizon, mask};
    cs__cursor_encode(&nc, sort, qh, buf, sizeof buf);
  }
  if (buf[0])
    cs_jtext_string(out, buf, strlen(buf));
  else
    cs_jtext_raw(out, "null", 4);
  cs_jtext_key(out, "hits", 0);
  cs_jtext_c(out, '[');
  for (uint32_t i = 0; i < nh && !rc; i++) {
    if (i) cs_jtext_c(out, ',');
    rc = cs__hit_text(&s, page[i], &pcs[i], &pt, i, precision, &fb, out);
  }
  if (rc) goto fail;
  cs_jtext_c(out, ']');
  cs_jtext_key(out, "relaxed", 0);
  cs_jtext_raw(out, relaxed ? "true" : "false", relaxed ? 4 : 5);
  if (s.timed_out) {
    cs_jtext_key(out, "timed_out", 0);
    cs_jtext_raw(out, "true", 4);
  }
  cs_jtext_c(out, '}');
  if (out->err || pt.pool.err) {
    rc = CS_ENOMEM;
    goto fail;
  }
  ret = 0;
  goto out;
fail:
  if (out->err == CS_JTEXT_BAD_UTF8 || pt.pool.err == CS_JTEXT_BAD_UTF8)
    /* Stored text is repaired to UTF-8 when written: damaged. */
    cs_engine_err(err, 500, "internal", "the answer could not be serialized");
  else
    fail_rc(err, rc);
out:
  cs_jtext_free(&pt.pool);
  free(pt.snip);
  free(pt.title);
  free(pt.desc);
  cs_buf_free(&fb);
  free(page);
  free(pcs);
  if (o->ruled_out) *o->ruled_out += s.run_ruled;
  if (o->chunks_passed) *o->chunks_passed += s.chunks_passed;
  if (o->exact_skips) *o->exact_skips += s.ess_skips;
  if (o->scored) *o->scored += s.nscored;
  free(s.scratch);
  free(s.u);
  free(s.named);
  free(s.bits);
  cs__topk_free(&s.top);
  cs__exec_close(s.x);
  cs__convs_release(&s.own_convs);
  cs__owned_release(cs__snapcache_current(), s.owned);
  cs__query_free(&q);
  return ret;
}

int cs__search(cs_reader *r, cs_analyzer *a, const cs_caller *c, const cs_search_params *p,
               const cs__search_opts *o, json_t **out, cs_engine_error *err) {
  *out = NULL;
  cs_jtext t = {NULL, 0, 0, 0};
  if (cs__search_text(r, a, c, p, o, 17, &t, err)) {
    cs_jtext_free(&t);
    return -1;
  }
  size_t len;
  char *text = cs_jtext_finish(&t, &len);
  json_error_t je;
  /* 17 digits: the very doubles back. */
  *out = text ? json_loadb(text, len, JSON_ALLOW_NUL, &je) : NULL;
  free(text);
  if (!*out) return fail_rc(err, CS_ENOMEM);
  return 0;
}

static void deadline_init(xsearch *s, uint32_t timeout_ms) {
  if (!timeout_ms) return;
  s->deadline = cs_clock_after_ms(CLOCK_MONOTONIC, timeout_ms);
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
      if (g == CS_ENOTFOUND || g == CS_ECORRUPT) continue; /* damaged: reported, skipped */
      if (g) {
        rc = g;
        break;
      }
      if (!cs_caller_sees_patient(r, c, cv.patient_id)) continue;
      if (p->patient && cv.patient_id != p->patient) continue;
      rc = cs__universe_add(&s, &cv);
    }
    if (!rc && s.nu > 1) qsort(s.u, s.nu, sizeof *s.u, cs__range_cmp);
  } else {
    rc = cs__scope_universe(&s);
  }
  if (rc) goto out;
  if (q->root >= 0) {
    cs__rank_params rp;
    cs__rank_defaults(&rp);
    cs__tstats ts;
    cs__tstats_init(&ts, r, c);
    rc = cs__exec_open(&ts, q, &rp, 0, walk_start(&s), &s.x);
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
  cs__owned_release(cs__snapcache_current(), s.owned);
  return rc < 0 ? rc : 0;
}

int cs_engine_search_text(cs_engine *e, const cs_caller *c, const cs_search_params *p,
                          int precision, char **out, size_t *len, cs_engine_error *err) {
  *out = NULL;
  *len = 0;
  int64_t t0 = mono_us();
  if (!c || !p) {
    cs_engine_err(err, 400, "bad_request", "missing parameters");
    return -1;
  }
  if (p->limit > CS_PAGE_MAX) {
    cs_engine_err(err, 400, "bad_request", "limit must be between 1 and %d", CS_PAGE_MAX);
    return -1;
  }
  if (precision < 1 || precision > 17) {
    cs_engine_err(err, 400, "bad_request", "precision must be between 1 and 17");
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
  o.snippets = !p->no_snippets;
  o.t0_us = t0;
  cs_jtext t = {NULL, 0, 0, 0};
  o.turns = cs_view_turns(&v);
  int rc = cs_view_convs(&v, &o.convs);
  if (rc)
    rc = fail_rc(err, rc);
  else
    rc = cs__search_text(v.r, a, c, p, &o, precision, &t, err);
  cs_view_end(e, &v);
  cs__analyzer_put(a);
  if (rc) {
    cs_jtext_free(&t);
    return rc;
  }
  *out = cs_jtext_finish(&t, len);
  return *out ? 0 : fail_rc(err, CS_ENOMEM);
}

int cs_engine_search(cs_engine *e, const cs_caller *c, const cs_search_params *p, json_t **out,
                     cs_engine_error *err) {
  *out = NULL;
  char *text;
  size_t len;
  /* 17 digits: the very doubles back. */
  if (cs_engine_search_text(e, c, p, 17, &text, &len, err)) return -1;
  json_error_t je;
  *out = json_loadb(text, len, JSON_ALLOW_NUL, &je);
  free(text);
  return *out ? 0 : fail_rc(err, CS_ENOMEM);
}
