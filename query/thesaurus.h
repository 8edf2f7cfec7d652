/*
 * The Spanish thesaurus (internal to the query engine): LibreOffice's MyThes
 * data (Debian's mythes-es, /usr/share/mythes/th_es_ES_v2.dat), read once
 * at server start and immutable afterwards, so any number of threads may
 * look words up at once.
 *
 * A headword has one or more meanings, each a list of synonyms. A synonym
 * that comes back in several meanings of the word is a safer substitute
 * than one listed under a single meaning of an ambiguous word: lookups
 * return each synonym with its share of the word's meanings (1.0: every
 * meaning lists it), best first, so that callers down-weight ambiguous
 * entries. Annotations ("(fig.)") and antonyms are dropped; multi-word
 * synonyms ("llevar a cabo") are returned as they are (callers match them
 * as phrases). Only single-word headwords are kept, under their folded form
 * (cs__fold_query_word: lowercase, no accents).
 */
#ifndef CS_QUERY_THESAURUS_H
#define CS_QUERY_THESAURUS_H

#include <stddef.h>

typedef struct cs__thesaurus cs__thesaurus;

typedef struct cs__thes_syn {
  const char *text; /* UTF-8, as written in the thesaurus (not NUL-terminated) */
  size_t len;
  double share; /* meanings of the headword listing it / its meanings, (0, 1] */
} cs__thes_syn;

/* Reads a MyThes .dat file (ISO8859-1 or UTF-8, as its first line says).
 * Returns NULL with msg filled when the file cannot be read or is not a
 * thesaurus. */
cs__thesaurus *cs__thesaurus_load(const char *path, char *msg, size_t cap);
void cs__thesaurus_free(cs__thesaurus *t);
/* Headwords loaded. */
size_t cs__thesaurus_size(const cs__thesaurus *t);
/* Fills out[0..n) with the synonyms of the folded word w (at most cap),
 * most shared first; returns n (0 for an unknown word). */
size_t cs__thesaurus_lookup(const cs__thesaurus *t, const char *w, size_t wl, cs__thes_syn *out,
                            size_t cap);

#endif
