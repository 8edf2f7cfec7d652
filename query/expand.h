/*
 * Term expansion (internal to the query engine): the indexed terms one
 * query word may match. A word matches its own stem exactly; a prefix word
 * also matches the stems of the indexed words that start with it ("viv" ->
 * vivo, vivienda); a word with typo tolerance also matches the stems of the
 * indexed words within its edit distance ("desaucio" -> desahucio). Both
 * expansions read CS_T_WORDS (folded surface word -> stem, df), are bounded
 * in the entries they scan and capped in the terms they return, most
 * specific and most frequent first. Any word also matches the stems the
 * administrator's synonyms give its stem (synonyms.h), ranked below it.
 */
#ifndef CS_QUERY_EXPAND_H
#define CS_QUERY_EXPAND_H

#include "parser.h"
#include "reader.h"
#include "tstats.h"

#include <stdint.h>

/* Terms one leaf may hold at most (exact ones included). */
#define CS__EXPAND_MAX 50

/* Ranking weight of a variant relative to an exact match. Exact matches also
 * rank in a tier of their own (see rank.h), so these only order variants
 * among themselves. */
#define CS__W_FUZZY1 0.7
#define CS__W_FUZZY2 0.5
#define CS__W_PREFIX_MIN 0.55 /* a prefix of a long word */
#define CS__W_PREFIX_MAX 0.9  /* a prefix that is nearly the whole word */

typedef struct cs__variant {
  char term[CS_TERM_MAX + 1]; /* the indexed term (NUL-terminated) */
  uint8_t len;
  uint8_t exact;   /* the word itself, not a typo or prefix match */
  uint8_t edits;   /* typo matches: edits from the query word */
  uint8_t synonym; /* an administrator synonym (not a typo or prefix match) */
  double weight;   /* ranking weight relative to an exact match (<= 1) */
  uint64_t df;     /* documents holding the term (CS_T_LEX) */
} cs__variant;

/* What the typo walks of one expansion found, kept beside it (expmemo.h):
 * the keys within the walks' reach, so that at the scope's next version
 * (an owner's, or the collection's), when no key the commit added reaches
 * them (records.h), the expansion is made again by looking those keys up
 * instead of walking (one of them removed since: walking after all).
 * Each key: u8 (1 << 7: a stem of the terms walk | its distance), u8
 * length, its bytes (an owner's: past the owner's 8). */
#define CS__RECIPE_BYTES 1024
typedef struct cs__recipe {
  uint8_t ok;             /* complete: the walks ended within their bounds, every key fit */
  uint16_t len;           /* bytes[0..len) */
  uint32_t visits, seeks; /* the most one walk used of FUZZY_VISITS, FUZZY_SEEKS */
  uint32_t changes;       /* keys added or removed since the walks */
  uint8_t bytes[CS__RECIPE_BYTES];
} cs__recipe;

/* Whether key[0..len) of the scope's CS_T_OLEX / CS_T_LEX (lex) or
 * CS_T_OWORDS / CS_T_WORDS, added,
 * may change what the typo walks of word w with `edits` find. */
int cs__recipe_reached(const cs__qword *w, int edits, int lex, const char *key, size_t len);
/* Counts `changes` more keys added or removed since r's walks; returns
 * whether walking again would still stay within the walks' bounds (each
 * such key adds at most a visit and a seek to a walk: counted generously). */
int cs__recipe_carry(cs__recipe *r, uint32_t changes);

/* Fills out[0..*n) with the terms word `w` matches: its exact term(s)
 * first, then typo matches (fewest edits, most frequent first) and prefix
 * matches (most frequent first), at most `cap` (<= CS__EXPAND_MAX) in all;
 * then the word's administrator synonyms (CS__W_SYNONYM, at most
 * CS__SYN_EXPAND more, within CS__EXPAND_MAX).
 * Terms absent from the statistics' scope (tstats.h: a portal caller's own
 * documents) are left out, so *n may be 0; candidates, their order and df
 * come from that scope alone.
 * `prefix`: expand as a prefix; `edits`: typo tolerance (0..2).
 * Returns 0 or a CS_E* error (CS_ENOMEM, CS_ECORRUPT). */
int cs__expand(const cs__tstats *ts, const cs__qword *w, int prefix, int edits, uint32_t cap,
               cs__variant *out, uint32_t *n);

/* Expansions made again from their recipes so far (all views), for
 * tests. */
uint64_t cs__expand_replayed(void);

/* Optimal-string-alignment distance between two UTF-8 strings, stopping
 * early once it exceeds `max` (returns max + 1 then). For tests. */
int cs__edit_distance(const char *a, size_t alen, const char *b, size_t blen, int max);

#endif
