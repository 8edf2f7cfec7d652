/*
 * The query language (internal to the query engine): one grammar for the
 * portal's search box and the analysts' syntax.
 *
 *   query   := clause*                      implicit AND (OR in plain mode)
 *   clause  := unary ( OR unary )*          "OR" or "|"; binds tighter than AND
 *   unary   := "-" primary | primary        exclusion
 *   primary := "(" query ")"
 *            | "\"" words "\""              phrase (also “…”)
 *            | field ":" ( word | "\"" words "\"" )
 *            | word [ "*" | "~" [0-2] ]     prefix / explicit fuzzy
 *   field   := title | titulo | speaker | hablante | role | rol
 *
 * Plain words must all match, tolerate typos scaled by their length (none
 * for <= 4 characters and for numbers, 1 edit for 5..8, 2 for >= 9) and the
 * last word of a query that does not end with a space also matches as a
 * prefix. Words go through the analyzer (stemming, folding); stop words are
 * dropped, but keep their place in phrases so "casa de campo" needs "campo"
 * two positions after "casa". speaker: and role: are turn filters that apply
 * to the whole query, so they are accepted only as top-level clauses.
 *
 * The parsed query is a small tree in arrays (nodes, their children, the
 * analyzed words); it owns its memory (cs__query_free).
 */
#ifndef CS_QUERY_PARSER_H
#define CS_QUERY_PARSER_H

#include "analyzer.h"
#include "engine.h"

#include <stddef.h>
#include <stdint.h>

enum { CS__N_TERM = 1, CS__N_PHRASE, CS__N_AND, CS__N_OR, CS__N_NOT };

/* Document kinds a leaf may match, as a mask of 1 << CS_DOC_*. */
#define CS__F_TURN (1u << 1)  /* 1 << CS_DOC_TURN */
#define CS__F_TITLE (1u << 2) /* 1 << CS_DOC_TITLE */
#define CS__F_DESC (1u << 3)  /* 1 << CS_DOC_DESCRIPTION */
#define CS__F_ALL (CS__F_TURN | CS__F_TITLE | CS__F_DESC)

/* Most speaker:/role: values one query may carry (each way). */
#define CS__MAX_SPEAKERS 8

typedef struct cs__qword {
  char term[CS_TERM_MAX + 1]; /* stemmed + folded: the indexed key */
  char word[CS_TERM_MAX + 1]; /* folded surface form, for expansion */
  uint8_t term_len, word_len;
  uint8_t chars;  /* characters in word (typo tolerance scales on this) */
  uint8_t number; /* a number: never fuzzy */
  uint8_t stop;   /* a stop word kept only as a prefix (see parser.c) */
  uint8_t quoted; /* written in quotes: matched as written, no synonyms */
  uint32_t pos;   /* phrases: position relative to the first word */
} cs__qword;

typedef struct cs__qnode {
  uint8_t type;          /* CS__N_* */
  uint8_t fields;        /* leaves: CS__F_* mask */
  uint8_t prefix;        /* TERM: also matches words that start with it */
  uint8_t edits;         /* TERM: most edits tolerated (0..2) */
  uint8_t has_syn;       /* TERM: multi-word synonyms beside it (counts for the tier) */
  double boost;          /* leaves: weight in ranking (repeated plain words add up) */
  uint32_t word, nwords; /* leaves: range of words[] (TERM: exactly 1) */
  uint32_t kid, nkids;   /* AND/OR/NOT: range of kids[] */
} cs__qnode;

typedef struct cs__query {
  cs__qnode *nodes;
  uint32_t nnodes, nodes_cap;
  uint32_t *kids;
  uint32_t nkids, kids_cap;
  cs__qword *words;
  uint32_t nwords, words_cap;
  int32_t root; /* index in nodes, -1 when there is nothing to search */
  int browse;   /* the query holds no words at all: every conversation */
  /* Turn filters from speaker:/role: clauses. Speakers are folded (case and
   * accents). Roles are CS_ROLE_* values. */
  char speakers[CS__MAX_SPEAKERS][64];
  uint8_t nspeakers;
  char not_speakers[CS__MAX_SPEAKERS][64];
  uint8_t nnot_speakers;
  uint8_t roles;     /* mask of 1 << CS_ROLE_*, 0: any */
  uint8_t not_roles; /* mask of excluded roles */
} cs__query;

typedef struct cs__parse_opts {
  const char *lang;   /* analysis language; NULL: "es" */
  int plain;          /* bag of words: no operators, no typos, no prefix */
  int default_or;     /* implicit operator between clauses is OR */
  int typo;           /* typo tolerance and last-word prefix matching */
  uint32_t max_terms; /* words + operators; CS_QUERY_MAX_TERMS for users */
} cs__parse_opts;

void cs__parse_defaults(cs__parse_opts *o);

/* Parses q[0..len) into *out (zeroed first; free with cs__query_free even
 * on error). The analyzer is borrowed for the call. Returns 0, or -1 with
 * err filled: 400 "bad_query" and a sentence saying what is wrong, or 503
 * when out of memory. */
int cs__query_parse(cs_analyzer *a, const char *q, size_t len, const cs__parse_opts *o,
                    cs__query *out, cs_engine_error *err);
void cs__query_free(cs__query *q);

/* Folds a speaker name for comparison (case and accents), into out (cap
 * bytes). Returns the length, or -1 when it does not fit. */
int cs__fold_speaker(const char *s, size_t len, char *out, size_t cap);

/* A pool of analyzers shared by the engine's threads: creating one costs an
 * ICU break iterator and stemmers, too much for every query. */
cs_analyzer *cs__analyzer_get(void);
void cs__analyzer_put(cs_analyzer *a);

#endif
