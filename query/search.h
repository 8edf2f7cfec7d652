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

#include "engine.h"
#include "highlight.h"
#include "parser.h"
#include "rank.h"
#include "reader.h"

#include <jansson.h>
#include <stdint.h>

typedef struct cs__search_opts {
  cs__parse_opts parse; /* query language options */
  cs__rank_params rank; /* BM25 and grouping parameters */
  int relax;            /* fall back to fewer words when nothing matches */
  int snippets;         /* build snippets (0: hits without them) */
  uint32_t max_limit;   /* largest page accepted (CS_PAGE_MAX for the API) */
  uint32_t max_bytes;   /* longest query accepted (CS_QUERY_MAX_BYTES for the API) */
  int exhaustive;       /* score every match, no pruning (tests compare results) */
} cs__search_opts;

void cs__search_defaults(cs__search_opts *o);

/* Runs a search in the read view r for caller c and builds the response
 * object (engine.h's shape plus "relaxed", and "timed_out" when the work
 * budget ran out). The analyzer is borrowed for the call. Returns 0, or -1
 * with err filled (400 bad_query / bad_cursor / bad_request, 503). */
int cs__search(cs_reader *r, cs_analyzer *a, const cs_caller *c, const cs_search_params *p,
               const cs__search_opts *o, json_t **out, cs_engine_error *err);

/* ---------------------------------------------------------------- exec */

typedef struct cs__exec cs__exec;

/* Compiles query q for reader r: expands its words into indexed terms and
 * opens a postings cursor per term. `horizon` (0: none) makes statistics
 * those of the documents below it (see search.c, "Paging"). q must outlive
 * the exec. Returns 0 or a CS_E* code. */
int cs__exec_open(cs_reader *r, const cs__query *q, const cs__rank_params *rp, uint32_t horizon,
                  cs__exec **out);
void cs__exec_close(cs__exec *x);

/* Calls fn for every document in [first, end) that a searched (not
 * excluded) clause of the query matches, in docid order, with the matches
 * as token-position spans (a phrase is one span). The spans array is
 * scratch owned by x, valid during the call. Cursors only move forward, so
 * successive calls must ask for increasing ranges. fn returning non-zero
 * stops the walk with that value. */
typedef int (*cs__spans_fn)(void *ctx, uint32_t docid, cs__pspan *spans, size_t n);
int cs__exec_spans(cs__exec *x, uint32_t first, uint32_t end, cs__spans_fn fn, void *ctx);

#endif
