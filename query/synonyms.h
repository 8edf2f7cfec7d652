/*
 * Administrator synonyms (internal to the query engine), as users of
 * OpenSearch's synonym filter and Meilisearch's synonyms know them:
 *
 *   {"sets": [{"words": ["piso", "vivienda"]},                 two-way
 *             {"input": ["desahucio"], "synonyms": ["lanzamiento"]}]}  one-way
 *
 * In a two-way set every word also matches the others; in a one-way set a
 * word of "input" also matches the "synonyms", not the other way round.
 * An entry is a word or a phrase of up to CS__SYN_PHRASE_MAX words ("piso
 * de alquiler"); entries are compared by their stems, so "pisos" finds
 * "vivienda" too. A phrase matches as a phrase (its words in order, stop
 * words keeping their place, as OpenSearch's synonym_graph users expect):
 * a query word whose synonym is a phrase also finds the phrase, and a
 * query's consecutive words that make a phrase entry also find its
 * synonyms (the words still find what they found before).
 *
 * Storage: the file synonyms.json in the index directory (next to the
 * `current` link, so reindexes and compactions keep it), replaced
 * atomically (temporary file, fsync, rename) by the server that receives
 * the PUT. Each engine re-reads it when it changes (checked at most every
 * 100 ms with the generation), so every server on the index applies a
 * change to the next query, without reindexing.
 *
 * A compiled set of synonyms is immutable and reference-counted; the read
 * view of a call holds one (cs_view_begin), and term expansion (expand.c,
 * qa.c) reads it through cs__synonyms_current(): the view's, per thread.
 */
#ifndef CS_QUERY_SYNONYMS_H
#define CS_QUERY_SYNONYMS_H

#include "analyzer.h"
#include "engine.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CS__SYN_SETS_MAX 1000 /* sets in one document */
#define CS__SYN_WORDS_MAX 32  /* words in one set (input + synonyms) */
#define CS__SYN_WORD_MAX 64   /* bytes in one word */
#define CS__SYN_EXPAND 8      /* synonyms one query word expands to at most */
#define CS__W_SYNONYM 0.8     /* search box: ranking weight of a synonym match */

#define CS__SYN_PHRASE_MAX 4  /* words (not stop words) in one entry */
#define CS__SYN_PHRASE_SPAN 8 /* positions one entry spans at most */

typedef struct cs__synonyms cs__synonyms;

/* An entry: its stems and their positions from the first (stop words
 * leave gaps). */
typedef struct cs__syn_seq {
  uint8_t n;
  uint8_t len[CS__SYN_PHRASE_MAX];
  uint8_t pos[CS__SYN_PHRASE_MAX];
  char stem[CS__SYN_PHRASE_MAX][CS_TERM_MAX + 1];
} cs__syn_seq;

/* Validates and compiles a document. Returns 0 with *out set, -1 with msg
 * (one sentence for the administrator) when the document is invalid, or
 * CS_ENOMEM. */
int cs__synonyms_compile(const json_t *doc, cs__synonyms **out, char *msg, size_t cap);
/* Reads dir/synonyms.json: 0 with *out NULL when there is none. Returns -1
 * with msg when it cannot be read or is invalid. */
int cs__synonyms_load(const char *dir, cs__synonyms **out, char *msg, size_t cap);
/* Writes s's document to dir/synonyms.json atomically. -1 with msg. */
int cs__synonyms_save(const char *dir, const cs__synonyms *s, char *msg, size_t cap);

/* The document (borrowed), in the shape it was given. */
const json_t *cs__synonyms_doc(const cs__synonyms *s);
/* Sets in the document, and the one-way ones among them. */
size_t cs__synonyms_sets(const cs__synonyms *s, size_t *one_way);

void cs__synonyms_ref(cs__synonyms *s);
void cs__synonyms_unref(cs__synonyms *s);

/* The stems a stem also matches (at most cap, <= CS__SYN_EXPAND), each
 * pointed to in the set (valid while it lives) with its length. */
size_t cs__synonyms_lookup(const cs__synonyms *s, const char *stem, size_t len, const char **out,
                           uint8_t *lens, size_t cap);

/* The entries matched by the multi-word pairs (either side a phrase) whose
 * input starts the query words q[0..nq) (each a one-stem entry, in query
 * order, stop words left out): at most cap (<= CS__SYN_EXPAND), each with
 * used[i], the query words its input takes. One word -> one word pairs are
 * cs__synonyms_lookup's. */
size_t cs__synonyms_multi(const cs__synonyms *s, const cs__syn_seq *q, size_t nq,
                          const cs__syn_seq **out, uint8_t *used, size_t cap);

/* The synonyms of this thread's current read view (NULL: none); set by
 * cs_view_begin, restored by cs_view_end. */
const cs__synonyms *cs__synonyms_current(void);
const cs__synonyms *cs__synonyms_set_current(const cs__synonyms *s);

/* cs__query_parse with the engine's current synonyms (for callers that
 * parse outside a read view: a query's phrase synonyms are applied by the
 * parser). */
struct cs__parse_opts;
struct cs__query;
int cs__parse_with_synonyms(cs_engine *e, cs_analyzer *a, const char *q, size_t len,
                            const struct cs__parse_opts *o, struct cs__query *out,
                            cs_engine_error *err);

#endif
