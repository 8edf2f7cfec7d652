/*
 * Term statistics a caller's results may depend on (internal to the query
 * engine). A portal caller sees only its own people's documents, so
 * everything that ranks, expands, relaxes, counts or suggests for it reads
 * that owner's statistics (records.h, "Per-owner statistics"): documents
 * and lengths per kind, document frequencies, the surface words and their
 * stems. Its results are then those of an index holding its documents
 * alone: adding a word to another employee's data changes nothing it sees.
 * Other callers (analysts, admins) read the collection's statistics.
 */
#ifndef CS_QUERY_TSTATS_H
#define CS_QUERY_TSTATS_H

#include "engine.h"
#include "reader.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cs__tstats {
  cs_reader *r;
  int own;          /* 1: one owner's statistics */
  uint64_t owner;   /* ... whose */
  uint64_t version; /* ... their version in r's snapshot (records.h), 0: none;
                     * else the collection's (META stats) */
  cs_stats ost;     /* ... their statistics, read once (cs__ts_stats) */
  int ost_rc;       /* ... and how that read went */
  cs_stats gst;     /* the collection's (META stats), read once */
  int gst_rc;       /* ... and how that read went */
} cs__tstats;

/* The statistics caller c may depend on (c NULL: the collection's). */
void cs__tstats_init(cs__tstats *ts, cs_reader *r, const cs_caller *c);

/* Documents and tokens per kind; next_docid is always the collection's
 * (it is a position in the index, not a statistic). */
int cs__ts_stats(const cs__tstats *ts, cs_stats *out);
/* CS_ENOTFOUND when the term / word is absent from the statistics' scope. */
int cs__ts_lex(const cs__tstats *ts, const char *term, size_t len, cs_lex *out);
int cs__ts_word(const cs__tstats *ts, const char *word, size_t len, cs_word *out);

/* Walks over the scope's words (CS_T_WORDS or CS_T_OWORDS) or terms
 * (CS_T_LEX or CS_T_OLEX): the table, and the prefix every key of the scope
 * starts with (kp[0..*kplen), *kplen 0 or 8); keys are that prefix + the
 * word or term. */
cs_table cs__ts_words_table(const cs__tstats *ts);
cs_table cs__ts_lex_table(const cs__tstats *ts);
void cs__ts_key_prefix(const cs__tstats *ts, uint8_t kp[8], size_t *kplen);

#endif
