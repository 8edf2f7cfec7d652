/*
 * Private interface of the search modules (search.c's walk and entry
 * points, exec.c, scope.c, bounds.c, score.c, skip.c, snippets.c,
 * cursor_codec.c): the compiled query, the conversation ranges and the
 * walk state they share.
 * See search.c for the model.
 */
#ifndef CS_QUERY_SEARCH_INT_H
#define CS_QUERY_SEARCH_INT_H

#include "convs.h"
#include "internal.h"
#include "jtext.h"
#include "redact.h"
#include "search.h"

#include <stdint.h>
#include <time.h>

#define END CS_DOCID_END

#define SNIPPETS 3

/* Positions of one document considered for proximity and highlights. */
#define POS_MAX 1024

typedef struct xvar {
  cs_pcur *cur; /* NULL: the term is absent, or the cursor is closed */
  uint32_t doc; /* the cursor's docid (END without one): read in every loop */
  uint32_t leaf;
  uint8_t exact;
  uint8_t capped; /* a typo or prefix match: its idf at most the word's (exec.c, cap_variants),
                     not scored where the word is held (score.c, held_exactly) */
  double weight;  /* variant weight x leaf boost */
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
  uint8_t required; /* active, and every match has it: the root or a kid of its AND */
  uint32_t var, nvar;
  uint32_t heap;          /* a TERM of many variants: its heap's offset in hv/hk (else HEAP_NONE) */
  uint32_t hcalls, hpops; /* cs__leaf_next's calls and variants moved (the heap's worth) */
  uint32_t word;          /* PHRASE: first word (positions relative to it) */
  double pw;              /* PHRASE: summed idf x boost */
  double idf;             /* for the proximity scale */
  uint64_t df;            /* for relaxation order */
} xleaf;

struct cs__exec {
  cs_reader *r;
  cs__tstats ts; /* the statistics the caller's results depend on */
  const cs__query *q;
  cs__ranker rk;
  cs__rank_params rp;
  cs_stats st;
  int cb_ok; /* rp is what the chunks' conversation bounds assume (cbound.h) */
  uint32_t horizon;
  uint32_t from; /* cursors (re)open at their first document from here */
  xleaf *leaves;
  uint32_t nleaves;
  xvar *vars;
  uint32_t nvars;
  size_t vars_cap;
  int32_t *node_leaf; /* per node: leaf index, -1 for groups */
  uint8_t *dropped;   /* per node: dropped by relaxation (top-level kids) */
  double prox_scale;
  uint32_t nactive; /* active leaves with words (set with prox_scale) */
  /* Scratch, grown as needed and reused: no allocation per document. */
  uint32_t *act;
  uint32_t *act_last; /* per act entry: its chunk's last docid (score_conv's skip check) */
  double *leaf_score; /* per leaf, of the document being scored */
  cs__ppos *pp;
  size_t pp_cap;
  cs__pspan *sp;
  size_t sp_cap;
  uint32_t *phr;
  size_t phr_cap;
  struct peek *pk;
  size_t pk_cap;
  double *dsum; /* conv_bound's per-document sums (and best variants) */
  size_t dsum_cap;
  uint8_t *dleaves; /* and clauses met (2: two or more) */
  size_t dleaves_cap;
  /* cs__docs_bound's documents of words where two or more meet and
   * that proximity's bound let into the three best, for cs__docs_refine
   * (prox_pk: the peeks they index; nprox past the cap: not refined). */
  struct prox_doc *prox_docs;
  size_t prox_docs_cap;
  uint32_t nprox;
  double prox_m[3]; /* the three best of the other documents */
  uint32_t prox_np; /* how many (bounds.c: plain_words, read when refining) */
  const struct peek *prox_pk;
  double *lbound; /* cs__skip_run's per-clause block bounds */
  size_t lbound_cap;
  struct taat_doc *td; /* score_conv's term-at-a-time accumulators, per document */
  size_t td_cap;
  uint64_t *tbits; /* and its bitmaps of the documents met */
  size_t tbits_cap;
  const uint32_t **tend; /* and where each cursor's window ends in its chunk */
  size_t tend_cap;
  /* Variants of the TERM leaves of many (cs__leaf_next): per leaf, a min-heap
   * of its variants (hv, indices into vars) by docid (hk: at most the
   * cursor's docid, which only grows between rebuilds). */
  uint32_t *hv, *hk;
  uint32_t *lin; /* cs__leaf_in's answer for conv_bound and leaf_match */
  uint32_t *ess; /* cs__pruned_lb's variants that can lift a conversation into the page */
};

#define HEAP_NONE UINT32_MAX

typedef cs__crange xrange;

static inline void range_of(const cs_conv *c, xrange *R) {
  cs__crange_of(c, R);
}

static inline int kind_of(const xrange *R, uint32_t d) {
  return d == R->title ? CS_DOC_TITLE : d == R->desc ? CS_DOC_DESCRIPTION : CS_DOC_TURN;
}

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
  /* A portal caller's own people and conversations (owned.h), held. */
  struct cs__owned *owned;
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
  struct cs__turnmap *turns;   /* (turnmap.h; NULL: none) */
  size_t conv_hint, skip_hint; /* cs__convs_find hints of resolve and skips */
  size_t run_hint;             /* cs__skip_run's: the first entry after its last docid */
  uint32_t skip_fail_L;        /* the last chunk skip that failed: up to L, below key */
  cs__key skip_fail_key;
  /* Bounded cs__counting (cs__counting(), cs__total_estimate()). */
  uint64_t total_bound;
  uint32_t walk_from, stopped_at, limit_at;
  uint64_t run_ruled; /* conversations ruled out by cs__skip_run */
  uint64_t nscored;   /* conversations scored (cs__keep_hit) */
  int run_counts;     /* cs__skip_run can count while counting (cs__run_can_count) */
  int32_t ess_leaf;   /* cs__pruned_lb's word (ESS_UNKNOWN until the walk's first call) */
  int ess_valid;      /* cs__pruned_lb's x->ess[0..ess_n) are for page ess_th */
  uint32_t ess_n;
  cs__key ess_th;
  int32_t ess_exact;  /* a page of exact matches: the exact variant, else -1 */
  int exact_only;     /* set once the page is all of one word's exact matches: leaves_behind() */
  uint32_t behind;    /* then: the variants left behind (that word's typo and prefix matches) */
  uint64_t ess_skips; /* jumps of a page of exact matches (tests) */
  int32_t ax_tier;    /* cs__pruned_lb, several words: the highest tier (-1: not yet) */
  uint32_t ax_wait, ax_backoff; /* its looks not made after one that passed nothing */
  uint64_t chunks_passed;       /* chunks passed by their headers (cs__skip_convs) */
} xsearch;

/* Whether the walk leaves clause li's typo and prefix matches behind:
 * past the counting bound, once the page is all of one word's exact
 * matches (s->exact_only, that word's clause s->ess_leaf), a conversation
 * that can make it holds the word and is scored on it alone (score.c,
 * held_exactly), so the word's typo and prefix matches are neither bounded,
 * matched nor scored, and their cursors are not moved. Other clauses (an
 * exclusion's prefix matches) are walked as ever. */
static inline int leaves_behind(const struct xsearch *s, uint32_t li) {
  return s->exact_only && (int32_t)li == s->ess_leaf;
}

/* Whether the walk leaves variant v behind (leaves_behind). */
static inline int left_behind(const struct xsearch *s, const xvar *v) {
  return v->capped && leaves_behind(s, v->leaf);
}

static inline uint64_t *hit_mask(xhit *h) {
  return (uint64_t *)(h + 1);
}

/* xsearch.ess_leaf before cs__pruned_lb looked at the query, and when the
 * query is not one word of several variants. */
#define ESS_UNKNOWN (-1)
#define ESS_NONE (-2)

/* Rank of a conversation of a named person over any other match. */
#define NAMED_TIER (1 << 20)

static inline int doc_ok(const xsearch *s, const xleaf *l, const xrange *R, uint32_t d) {
  if (!(l->fields & (1u << kind_of(R, d)))) return 0;
  if (s->cur_bits) {
    uint32_t i = d - R->f;
    if (!(s->cur_bits[i >> 3] & (1u << (i & 7)))) return 0;
  }
  return 1;
}

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

/* The conversation record of a hit of the page, read once for all its
 * fields and snippets: rc is cs_reader_conv's (c valid when 0). */
typedef struct cs__page_conv {
  cs_conv c;
  int rc;
} cs__page_conv;

typedef struct xcursor {
  cs__key key;
  uint32_t horizon;
  uint64_t mask;
} xcursor;

/* ---------------------------------------------------------------- shared functions */

/* Reopens v's cursor at its first document from `from` on. */
int cs__open_cursor(cs__exec *x, xvar *v, uint32_t from);

/* Reopens the cursors of the leaves not dropped where they were opened
 * (relaxation retries). */
int cs__exec_rewind(cs__exec *x);

/* Leaves that count for scoring: positive and not dropped by relaxation. */
void cs__exec_update_active(cs__exec *x);

/* Occurrences of a phrase in the document all its cursors are on; with
 * starts != NULL, also writes up to cap start positions. */
uint32_t cs__phrase_freq(cs__exec *x, const xleaf *l, uint32_t *starts, size_t cap);

/* Every leaf looks at each of its variants (no heaps: exhaustive scoring,
 * the reference the pruning tests compare with). */
void cs__exec_no_heaps(cs__exec *x);

/* The first document at or after t of any variant of leaf l, which has a
 * heap (l->heap != HEAP_NONE; END: none), moving the variants below t there. */
uint32_t cs__leaf_next(cs__exec *x, const xleaf *l, uint32_t t);

/* The variants of leaf l (which has a heap) with a document in [f, e), as indices into
 * x->vars in increasing order, into out (room for l->nvar); moves every
 * variant below f to f or past it, as var_geq on each would. Returns how
 * many. */
uint32_t cs__leaf_in(cs__exec *x, const xleaf *l, uint32_t f, uint32_t e, uint32_t *out);

uint32_t cs__node_lb(cs__exec *x, int32_t n, uint32_t t);

int cs__node_match(xsearch *s, int32_t n, const xrange *R);
/* Whether node n matches when leaf(ctx, i) tells whether leaf i does: the
 * query's AND, OR and NOT, an AND's kids dropped by relaxation left out
 * (cs__node_match's, with leaf_match). */
int cs__node_eval(const cs__exec *x, int32_t n, int (*leaf)(void *ctx, int32_t li), void *ctx);

/* Spans of document d (of kind `kind`) from the cursors on it; cursors of
 * active leaves move to >= d. */
/* The first document at or after `first` that a searched clause's cursor
 * is on (END: none); moves the cursors there. */
uint32_t cs__exec_next_doc(cs__exec *x, uint32_t first);

int cs__doc_spans(cs__exec *x, uint32_t d, int kind, size_t *n);

/* The redaction for a conversation of `patient` (kept for the next). */
const cs__redact *cs__redact_for(xsearch *s, uint64_t patient);

/* Conversation-level filters that do not depend on the query. */
int cs__range_passes(const xsearch *s, const xrange *R);

int cs__universe_add(xsearch *s, const cs_conv *c);

int cs__range_cmp(const void *a, const void *b);

/* Lists the conversations the walk may visit when they are few and known
 * up front: a conversation filter, a person filter, or a portal caller's
 * people. Otherwise leaves s->universe 0 (everything, resolved lazily). */
int cs__scope_universe(xsearch *s);

/* In v[0..n) (sorted by docid), the first non-empty conversation ending
 * after docid d; n when none. */
size_t cs__range_after(const xrange *v, size_t n, uint32_t d);

/* Lists the conversations of the people query text q names, sorted. */
int cs__scope_named(xsearch *s, const char *q, size_t qlen);

/* The first named conversation ending after t: where it starts (at least
 * t), or END. */
uint32_t cs__named_lb(const xsearch *s, uint32_t t);

int cs__is_named(const xsearch *s, const xrange *R);

/* Finds the conversation holding docid d. Returns 1 with *R filled when it
 * is one to consider; 0 with *next set to where the walk continues (a gap,
 * a name, a filtered or invisible conversation); or a CS_E* code. */
int cs__resolve(xsearch *s, uint32_t d, xrange *R, uint32_t *next);

/* Marks the turns of R that pass the turn filters (s->cur_bits). */
int cs__turn_bits(xsearch *s, const xrange *R);

/* 1 when conversation R cannot make the page whatever its score: its
 * upper bound (conv_bound), or its date key, ranks after the k-th best kept
 * so far. Fills h's key fields that do not need scoring. */
int cs__cannot_make_page(xsearch *s, const xrange *R, xhit *h, int *rc);

/* A matching conversation: counted, and kept if it can be among the best
 * (prechecked: cannot_make_page already ruled it in). */
int cs__keep_hit(xsearch *s, const xrange *R, int prechecked);

int cs__consider(xsearch *s, const xrange *R);

/* Counting bounded (s->total_bound): once that many conversations are
 * counted, the walk stops counting and only looks for conversations that
 * can still make the page; the total is then estimated. */
int cs__counting(const xsearch *s);

/* Past the counting bound: where the walk may jump from t because no
 * document up to there can lift a conversation into the page (block-max:
 * the sum over clauses of their current chunks' best score, for documents
 * up to the nearest chunk end L; a conversation scores at most
 * cs__conv_bound of that). Only whole conversations are skipped: the jump
 * stops at the start of the one holding L + 1. Returns t when nothing can
 * be skipped. */
uint32_t cs__skip_convs(xsearch *s, uint32_t t);

/* Past the counting bound, after cs__skip_convs: rules out at once the run
 * of conversations from t whose documents all lie in the cursors' decoded
 * chunks and whose exact bound (conv_bound's) cannot make the page, counted
 * in s->run_ruled. Returns where the walk continues (t: nothing ruled out).
 *
 * While counting (limit: the walk's end; 0 when not counting), where
 * s->run_counts, the same run also counts the conversations it rules out
 * that match (s->total, as cs__consider would have), up to the walk's end,
 * and stops counting as the walk would (s->stopped_at). */
uint32_t cs__skip_run(xsearch *s, uint32_t t, uint32_t limit);

/* Whether cs__skip_run can tell a match from its decoded documents alone,
 * exactly as cs__node_match and cs__resolve would: words and one-word
 * phrases, every clause with occurrences walked, no turn filters, no
 * person's name (searched or redacted), no match callback. */
int cs__run_can_count(const xsearch *s);

/* cs__resolve's test of a conversation it found: it passes the
 * conversation-level filters and the caller sees it. */
int cs__range_visible(const xsearch *s, const xrange *R);

/* Past the counting bound: where the walk looks for its next conversation
 * from t. For a query of one word of several variants (a prefix, a typo
 * expansion), the next document of the variants that can lift a
 * conversation into the page (MaxScore over the variants: the word scores
 * its best variant's score); for several words whose page is all exact
 * matches of each (the highest tier), the later of cs__node_lb's answer and
 * the latest of the words' exact variants' next documents; else
 * cs__node_lb's answer. */
uint32_t cs__pruned_lb(xsearch *s, uint32_t t);

/* Past the counting bound, after cs__skip_convs, for a query of one word
 * of several variants whose page is all exact matches (a conversation that
 * can make it holds the exact variant, and is scored on it alone: score.c,
 * held_exactly): returns where the walk continues, the conversation
 * holding the exact variant's next document, or its first past that
 * document's chunk where the chunk's bounds keep every conversation in it
 * below the page (END when the exact variant has no document left; t when
 * nothing was passed). */
uint32_t cs__exact_chunk_skip(xsearch *s, uint32_t t);

/* The total once counting stopped: the count so far, scaled by the share
 * of the docid span walked when it stopped (never less than the count). */
uint64_t cs__total_estimate(const xsearch *s);

/* What a cursor is bound to: the query and every filter. */
uint64_t cs__query_hash(const cs_search_params *p, int sort);

void cs__cursor_encode(const xcursor *c, int sort, uint64_t qh, char *out, size_t cap);

int cs__cursor_decode(const char *s, int sort, uint64_t qh, xcursor *c);

/* The page's JSON text written ahead of its hits (snippets.c): a piece
 * of the pool, pool.p[off, off + len). */
typedef struct cs__jspan {
  size_t off, len;
} cs__jspan;

typedef struct cs__page_text {
  cs_jtext pool;
  cs__jspan *snip;  /* nh * SNIPPETS snippet objects, by hit and rank; len 0: none */
  cs__jspan *title; /* nh "title_highlight" strings */
  cs__jspan *desc;  /* nh "description_highlight" strings; len 0: null */
} cs__page_text;

/* Every hit has "title_highlight", the title HTML-escaped (with <em> once
 * the query matches in it), and "description_highlight", null unless the
 * query matches in the description: pt's spans of hit i, pc its
 * conversation. */
int cs__plain_fields(xsearch *s, const cs__page_conv *pc, cs_buf *b, cs__page_text *pt, uint32_t i);

/* Builds the snippets of the page's hits (hits[i] best first) and their
 * highlighted titles and descriptions into pt. */
int cs__build_snippets(xsearch *s, xhit **hits, const cs__page_conv *pcs, uint32_t nh,
                       cs__page_text *pt);

/* Writes hit i of the page (h, its conversation pc, its pieces in pt) as
 * a JSON object into o, its score with `precision` digits; b is scratch.
 * 0, or CS_ENOMEM (o->err tells a failure of o itself). */
int cs__hit_text(xsearch *s, const xhit *h, const cs__page_conv *pc, const cs__page_text *pt,
                 uint32_t i, int precision, cs_buf *b, cs_jtext *o);

#endif
