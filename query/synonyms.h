/*
 * Administrator synonyms (internal to the query engine), as users of
 * OpenSearch's synonym filter and Meilisearch's synonyms know them:
 *
 *   {"sets": [{"words": ["piso", "vivienda"]},                 two-way
 *             {"input": ["desahucio"], "synonyms": ["lanzamiento"]}]}  one-way
 *
 * In a two-way set every word also matches the others; in a one-way set a
 * word of "input" also matches the "synonyms", not the other way round.
 * Each word must be one searchable word (multi-word synonyms are refused:
 * not supported yet). Words are compared by their stems, so "pisos" finds
 * "vivienda" too.
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

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CS__SYN_SETS_MAX 1000 /* sets in one document */
#define CS__SYN_WORDS_MAX 32  /* words in one set (input + synonyms) */
#define CS__SYN_WORD_MAX 64   /* bytes in one word */
#define CS__SYN_EXPAND 8      /* synonyms one query word expands to at most */
#define CS__W_SYNONYM 0.8     /* search box: ranking weight of a synonym match */

typedef struct cs__synonyms cs__synonyms;

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

/* The synonyms of this thread's current read view (NULL: none); set by
 * cs_view_begin, restored by cs_view_end. */
const cs__synonyms *cs__synonyms_current(void);
const cs__synonyms *cs__synonyms_set_current(const cs__synonyms *s);

#endif
