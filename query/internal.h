/*
 * Internal interface of the query engine modules (not for the HTTP layer).
 */
#ifndef CS_QUERY_INTERNAL_H
#define CS_QUERY_INTERNAL_H

#include "convs.h"
#include "engine.h"
#include "grow.h"
#include "reader.h"
#include "records.h"

#include <stdint.h>

/* A read view for one call: the reader plus the generation it reads. */
typedef struct cs_view {
  cs_reader *r;
  struct cs_gen *gen;
  cs__convs convs; /* see cs_view_convs */
  int has_convs;
  struct cs__synonyms *syn;            /* held for the view (synonyms.h) */
  const struct cs__synonyms *prev_syn; /* this thread's current one before */
  struct cs__snapcache *prev_lex;      /* this thread's lexicon in RAM before (snapcache.h) */
} cs_view;

/* Begins a read view on the current generation (reopening the index when a
 * reindex or compaction swapped it). Fills err (503) when the index cannot
 * be read. */
int cs_view_begin(cs_engine *e, cs_view *v, cs_engine_error *err);
void cs_view_end(cs_engine *e, cs_view *v);
/* The docid -> conversation table as of the view's snapshot (convs.h),
 * brought up to date on first use in the view. Returns 0 or a CS_E* code. */
int cs_view_convs(cs_view *v, const cs__convs **out);
/* Where the generation's long conversations' turns are (turnmap.h). */
struct cs__turnmap *cs_view_turns(cs_view *v);

void cs_engine_err(cs_engine_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fills err for a CS_E* code from the index: out of memory 503
 * "unavailable", damaged data 500 "index_corrupt", else 500 "internal".
 * Returns -1. */
int cs_engine_err_rc(cs_engine_error *err, int rc);

/* Visibility of a person for a caller (reads the person's record: the owner
 * is always the current one). 1 visible, 0 not (or no such person). */
int cs_caller_sees_patient(cs_reader *r, const cs_caller *c, uint64_t patient_id);
/* The owner ids a caller is restricted to: portal -> its employee id. */
int cs_caller_restricted(const cs_caller *c);

/* Name of a person as this caller may see it: analysts get a stable
 * pseudonym ("Persona 3k9x2mq7d1t0v"), others the name. Returns a new JSON string. */
json_t *cs_json_person_name(const cs_caller *c, uint64_t patient_id, cs_str name);
/* The same as a string (in buf for analysts, else name itself). */
cs_str cs_person_name_str(const cs_caller *c, uint64_t patient_id, cs_str name, char buf[32]);
/* Folds one word the way the analyzer folds surface forms, with a shortcut
 * for plain ASCII (lowercasing is all folding does to it). Writes at most
 * cap-1 bytes plus NUL; returns the length or -1. */
int cs__fold_query_word(const char *s, size_t n, char *out, size_t cap);

/* The people a search names (name_match.c, the only place where names
 * become searchable): those caller c may see whose name, AS c SEES IT
 * (cs_json_person_name: pseudonyms for analysts), has exactly the folded
 * words of the plain-words query q, in any order. convs (NULL: none) is
 * the view's docid -> conversation table; owned (owned.h) a portal
 * caller's own people, required for one. *ids (malloc'd, free it) gets
 * their ids. Returns 0 or a CS_E* code. */
struct cs__owned;
int cs__people_named(cs_reader *r, const cs__convs *convs, const cs_caller *c,
                     const struct cs__owned *owned, const char *q, size_t qlen, uint64_t **ids,
                     size_t *n);

/* The thesaurus loaded by cs_engine_load_thesaurus, or NULL. */
struct cs__thesaurus;
const struct cs__thesaurus *cs__engine_thesaurus(const cs_engine *e);
/* The hunspell lemmatizer loaded by cs_engine_load_lemmas, or NULL. */
struct cs__lemmas *cs__engine_lemmas(const cs_engine *e);

/* Administrator synonyms (synonyms.h): the engine's current set, with a
 * reference the caller drops (NULL: none); replacing them writes the file
 * first (-1 with msg when it cannot) and applies them to the next view. */
struct cs__synonyms *cs__engine_synonyms(cs_engine *e);
int cs__engine_synonyms_replace(cs_engine *e, struct cs__synonyms *s, char *msg, size_t cap);

/* JSON string from stored bytes (valid UTF-8: the writer repaired it). */
json_t *cs_json_str(cs_str s);
/* ISO 8601 UTC with milliseconds, or JSON null for -1. */
json_t *cs_json_time(int64_t ms);

/* The intake checklist (qa.c), shared by GET /v1/conversations/{id}/
 * checklist and analytics by category: each relevant point is asked as a
 * question within one conversation, and covered when the best passage
 * holds at least half of its idf-weighted content words. Opened on a read
 * view (it borrows r, and the points' strings point into it: close it
 * before the view ends). One thread at a time. */
typedef struct cs__checklist cs__checklist;

typedef struct cs__coverage {
  int found;      /* a passage holds some word of the question */
  uint32_t docid; /* the best passage */
  double score;   /* its ranking score */
  double share;   /* the question's content it holds, 0..1 */
  int covered;    /* share >= the threshold */
} cs__coverage;

/* Loads the relevant points and analyzes their questions; coverage is
 * weighed with the statistics caller c may depend on (tstats.h). Returns 0
 * or a CS_E* code. */
int cs__checklist_open(cs_reader *r, const cs_caller *c, cs__checklist **out);
void cs__checklist_close(cs__checklist *cl);
size_t cs__checklist_count(const cs__checklist *cl);
const cs_point *cs__checklist_point(const cs__checklist *cl, size_t i);
/* Point i within the conversation whose documents are [first_docid,
 * first_docid + ndocs). Fills *out (zeroed when nothing matches). */
int cs__checklist_eval(cs__checklist *cl, size_t i, uint32_t first_docid, uint32_t ndocs,
                       cs__coverage *out);

#endif
