/*
 * Search (internal to the query engine): evaluation of a parsed query over
 * the postings, conversation by conversation, with counting, top-k ranking,
 * cursor paging and snippets. cs_engine_search (engine.h) is a thin wrapper
 * over cs__search; tests and benchmarks call cs__search directly to change
 * the options (ranking parameters, plain bag-of-words queries, deep pages).
 *
 * The compiled query (cs__exec) is also what the conversation view uses to
 * find the words to highlight.
 */
#ifndef CS_QUERY_SEARCH_H
#define CS_QUERY_SEARCH_H

#include "convs.h"
#include "engine.h"
#include "highlight.h"
#include "jtext.h"
#include "parser.h"
#include "rank.h"
#include "reader.h"
#include "tstats.h"

#include <jansson.h>
#include <stdint.h>

/* Default bound of exact counting (cs__search_opts.total_bound). */
#define CS__TOTAL_EXACT 1000

typedef struct cs__search_opts {
  cs__parse_opts parse; /* query language options */
  cs__rank_params rank; /* BM25 and grouping parameters */
  int relax;            /* fall back to fewer words when nothing matches */
  int snippets;         /* build snippets (0: hits without them) */
  uint32_t max_limit;   /* largest page accepted (CS_PAGE_MAX for the API) */
  uint32_t max_bytes;   /* longest query accepted (CS_QUERY_MAX_BYTES for the API) */
  int exhaustive;       /* score every match, no pruning (tests compare results) */
  /* Conversations counted exactly; past them the total is estimated and
   * the walk only looks for better hits (0: always exact). */
  uint64_t total_bound;
  /* The view's docid -> conversation table (NULL: one is built for the call). */
  const cs__convs *convs;
  /* The generation's turn map (turnmap.h; NULL: turns found without it). */
  struct cs__turnmap *turns;
  /* Not NULL: the conversations ruled out in runs past the counting bound
   * (skip.c, cs__skip_run) are added to it (tests). */
  uint64_t *ruled_out;
  /* Not NULL: the postings chunks passed by their headers alone (skip.c,
   * cs__skip_convs) are added to it (tests). */
  uint64_t *chunks_passed;
  /* Not NULL: the jumps of a page of exact matches over conversations that
   * cannot make it (skip.c: cs__exact_chunk_skip, and cs__pruned_lb past
   * those without every word's exact variant) are added to it (tests). */
  uint64_t *exact_skips;
  /* Not NULL: the conversations scored (score.c; those the bounds let
   * through) are added to it (tests). */
  uint64_t *scored;
  /* When the request began (CLOCK_MONOTONIC, µs), for "took_ms" (0: 0). */
  int64_t t0_us;
} cs__search_opts;

void cs__search_defaults(cs__search_opts *o);

/* Runs a search in the read view r for caller c and builds the response
 * object (engine.h's shape plus "relaxed", "total_exact" (false when the
 * total is an estimate: past total_bound conversations), and "timed_out"
 * when the work budget ran out). The analyzer is borrowed for the call. Returns 0, or -1
 * with err filled (400 bad_query / bad_cursor / bad_request, 503). */
int cs__search(cs_reader *r, cs_analyzer *a, const cs_caller *c, const cs_search_params *p,
               const cs__search_opts *o, json_t **out, cs_engine_error *err);
/* The same response as JSON text appended to out (cs_engine_search_text),
 * reals with `precision` significant digits. */
int cs__search_text(cs_reader *r, cs_analyzer *a, const cs_caller *c, const cs_search_params *p,
                    const cs__search_opts *o, int precision, cs_jtext *out, cs_engine_error *err);

/* ---------------------------------------------------------------- exec */

typedef struct cs__exec cs__exec;

/* Compiles query q for the reader of ts: expands its words into indexed
 * terms and opens a postings cursor per term; expansion and weights read
 * the statistics of ts (tstats.h: a portal caller's own documents).
 * `horizon` (0: none) makes statistics those of the documents below it
 * (see search.c, "Paging"). The cursors open at their first document from
 * `from` on (0: the first; a walk that visits nothing before it, e.g. a
 * portal caller's, whose conversations begin there). q must outlive the
 * exec. Returns 0 or a CS_E* code. */
int cs__exec_open(const cs__tstats *ts, const cs__query *q, const cs__rank_params *rp,
                  uint32_t horizon, uint32_t from, cs__exec **out);
void cs__exec_close(cs__exec *x);

/* Calls fn for every document in [first, end) that a searched (not
 * excluded) clause of the query matches, in docid order, with the matches
 * as token-position spans (a phrase is one span). A word with typo or
 * prefix matches that [first, end) holds exactly matches there as itself
 * alone, as search ranks it (the conversation view's highlights). The
 * spans array is scratch owned by x, valid during the call. Cursors only
 * move forward, so successive calls must ask for increasing ranges. fn
 * returning non-zero stops the walk with that value. */
typedef int (*cs__spans_fn)(void *ctx, uint32_t docid, cs__pspan *spans, size_t n);
int cs__exec_spans(cs__exec *x, uint32_t first, uint32_t end, cs__spans_fn fn, void *ctx);

/* ---------------------------------------------------------------- match walks */

/* A matching conversation as a match walk reports it. Its documents are
 * the docids [first_docid, first_docid + ndocs) of the read view. */
typedef struct cs__mconv {
  uint64_t id, patient_id, owner_id;
  int64_t created_at_ms; /* -1: unknown */
  uint32_t first_docid, ndocs, nturns;
} cs__mconv;

/* Called once per matching conversation with its matching turns: the
 * docids (increasing) of the turns that contain a match of a searched
 * clause (any of its variants) and pass the turn filters
 * (speaker/role parameters and speaker:/role: clauses); every turn that
 * passes them when the query searches nothing (empty q, exclusions only).
 * turns is scratch owned by the walk, valid during the call. A negative
 * return (CS_E*) stops the walk with that error, a positive one stops it
 * quietly. */
typedef int (*cs__match_fn)(void *ctx, const cs__mconv *c, const uint32_t *turns, size_t n);

/* Whether docid d is among turns[0..n) (increasing, as cs__match_fn
 * receives them): a binary search. */
static inline int cs__turn_in(const uint32_t *turns, size_t n, uint32_t d) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (turns[mid] < d)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && turns[lo] == d;
}

/* Walks every conversation that matches the parsed query q under the
 * filters of p (patient, owner, conversation, from/to, speaker, role; q,
 * limit, cursor and sort of p are ignored) and that caller c may see, with
 * exactly the matching rules of cs__search (no relaxation: a query that
 * matches nothing reports nothing), calling fn for each in docid order.
 * ids (nids of them, any order), when not NULL, restricts the walk to those
 * conversations. convs is the view's docid -> conversation table (NULL:
 * built for the call when needed). p->timeout_ms (0: none) bounds the work; past it the walk
 * stops early and *timed_out is set. Returns 0 or a CS_E* code (CS_EINVAL:
 * a speaker longer than any filter). */
int cs__match(cs_reader *r, const cs__convs *convs, const cs_caller *c, const cs_search_params *p,
              const cs__query *q, const uint64_t *ids, size_t nids, cs__match_fn fn, void *ctx,
              int *timed_out);

#endif
