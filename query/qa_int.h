/*
 * Retrieval for questions, between its files (internal to the query
 * engine): qa.c (the scope asked, the answer's passages rendered, the
 * checklist), qa_terms.c (a question's terms and their expansions) and
 * qa_rank.c (passages scored and reranked).
 */
#ifndef CS_QUERY_QA_INT_H
#define CS_QUERY_QA_INT_H

#include "internal.h"
#include "lemmas.h"
#include "synonyms.h"
#include "thesaurus.h"
#include "tstats.h"

#include "analyzer.h"

#include <stddef.h>
#include <stdint.h>

#define QA_PHRASE_MAX 4 /* words of a multi-word thesaurus entry */
#define QA_TERMS_MAX 64 /* the question's terms and their expansions */

typedef struct qa_term {
  char key[CS_TERM_MAX + 2]; /* CS_PASSAGE_PREFIX + term */
  size_t len;
  double idf, weight;
  char word[CS_TERM_MAX + 1]; /* the question's folded surface word */
  size_t word_len;
  uint32_t qpos;              /* its position in the question (stop words count) */
  char surf[CS_TERM_MAX + 1]; /* the question's word as written, ASCII-lowercased */
  size_t surf_len;
  uint32_t group; /* the question term it stands for (itself for a question term) */
  double scale;   /* of its idf (FOCUS_SCALE for a question's focus) */
  int focus;      /* the word after "qué" / "cuál" (is_focus) */
  int name;       /* capitalized inside the question (is_name): a name */
  int unindexed;  /* no passage in scope holds it (rank_passages) */
  double via_idf; /* unindexed: the idf of its rarest expansion */
  /* A phrase (multi-word thesaurus entry): key is its first word; these
   * follow it at these positions after it. */
  uint8_t nrest;
  char rest[QA_PHRASE_MAX - 1][CS_TERM_MAX + 2];
  uint8_t rest_len[QA_PHRASE_MAX - 1];
  uint8_t rest_off[QA_PHRASE_MAX - 1];
} qa_term;

typedef struct range {
  uint32_t first, end; /* [first, end) */
} range;

typedef struct scope {
  range *v;
  size_t n, cap;
  int all;                 /* no restriction */
  const cs_caller *unname; /* analysts: a word of the person's name matches nothing */
  cs__tstats ts;           /* the statistics scores depend on (tstats.h) */
  cs_view *view;           /* its docid -> conversation table, asked for when needed (NULL: none) */
} scope;

typedef struct cand {
  uint32_t docid;
  double score;
  uint64_t matched; /* bit i: term i occurs */
} cand;

/* The focus of a question: the noun right after "qué" or "cuál(es)" names
 * the kind of thing asked for ("¿Qué tierra fue cedida?", "¿Cuál es el
 * río...?"), which the passage that answers it names by the thing itself
 * ("la Luisiana"); the other words of the question come from that passage.
 * In /v1/qa/retrieve (not the checklist, whose points are no such
 * questions), its idf counts FOCUS_SCALE (tuning half of SQuAD-es,
 * bench/analysis.md); CS_BENCH_QA_NO_FOCUS turns it off, for
 * bench/qa_steps.sh only. */
#define FOCUS_SCALE 0.7

/* The kind of answer a question expects (qa_rank.c: the answer-type
 * bonus). */
enum { ANSWER_ANY, ANSWER_NUMBER, ANSWER_NAME };

/* The surface words of re-analyzed passages, kept while the checklist asks
 * every relevant point of one conversation (the same few passages come
 * back for each point; analyzing them is most of a checklist's cost).
 * Each token is stored as a length byte and the folded word, a length byte
 * and its term, and a byte of SURF_* flags. */
enum { SURF_STOP = 1, SURF_NUMBER = 2, SURF_NAME = 4, SURF_SENTENCE = 8 };
typedef struct surf_ent {
  uint32_t docid;
  uint32_t len;  /* tokens that are not stop words */
  size_t at, nw; /* its words: from byte `at` of the store, nw of them */
  int ok;        /* the passage could be read and analyzed */
} surf_ent;

typedef struct surf_cache {
  surf_ent *v;
  size_t n, cap;
  cs_buf words;
} surf_cache;

/* ---- qa_terms.c */

/* The terms of question q (and of the intake category's related words,
 * for the checklist: category non-NULL) into t[0..*nt); -1 with err set
 * when it has no searchable word (400) or memory ran out (503). */
int cs__qa_question_terms(const char *q, const char *category, qa_term *t, size_t *nt,
                          cs_engine_error *err);
/* Expansions of the terms t[0..*nt) added after them, each bounded in
 * count (QA_TERMS_MAX in all). */
void cs__qa_synonym_terms(const cs__synonyms *syn, qa_term *t, size_t *nt);
void cs__qa_lemma_terms(cs__lemmas *lm, cs_analyzer *an, qa_term *t, size_t *nt);
void cs__qa_thesaurus_terms(const cs__thesaurus *th, cs_analyzer *an, qa_term *t, size_t *nt);
int cs__qa_prefix_terms(cs_reader *r, qa_term *t, size_t *nt);
int cs__qa_name_terms(const scope *s, qa_term *t, size_t *nt);
/* ANSWER_* for question q. */
int cs__qa_answer_kind(cs_analyzer *an, const char *q);
/* Whether the word at byte `at` of s (len bytes) looks like a name. */
int cs__qa_is_name(const char *s, size_t len, size_t at);

/* ---- qa_rank.c */

/* Ranks passages in scope s for the terms; *out gets up to `k` candidates,
 * best first (malloc'd). kind: ANSWER_*. sc (NULL: none) keeps re-analyzed
 * passages across calls. */
int cs__qa_rank_passages(cs_reader *r, cs_analyzer *an, surf_cache *sc, qa_term *t, size_t nt,
                         int kind, const scope *s, uint32_t k, cand **out, size_t *nout);
void cs__qa_surf_reset(surf_cache *sc);
void cs__qa_surf_free(surf_cache *sc);

/* ---- qa.c */

/* The passage's own text, as it was indexed (turn slices joined by
 * newlines, no speaker labels). */
int cs__qa_passage_plain_text(cs_reader *r, uint32_t docid, cs_buf *out);

#endif
