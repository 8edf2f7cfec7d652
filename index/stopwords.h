/*
 * Stop-word lists for the analyzer: which lowercased words are function
 * words in a language. Only Spanish ("es", the default) and English ("en")
 * have lists; other languages have none.
 */
#ifndef CS_STOPWORDS_H
#define CS_STOPWORDS_H

#include <stddef.h>

/* Returns 1 when lower_word[0..len) (UTF-8, lowercased, accents kept:
 * "está", "más", "él") is a stop word in `lang`, else 0. `lang` is a
 * language tag whose primary subtag is used ("es", "es-MX"); NULL or "" mean
 * Spanish. Straight apostrophes only ("don't"): the analyzer maps typographic
 * ones before asking. Cheap enough to call for every token. */
int cs_stopword(const char *lang, const char *lower_word, size_t len);

/* No stop word is longer than this (in bytes; checked by the tests): longer
 * words are never stop words. */
#define CS_STOPWORD_MAX_LEN 16

/* The list for `lang` in byte order, for tests and tools; *n receives its
 * length. NULL (and *n = 0) when the language has no list. The array is
 * static and must not be freed. */
const char *const *cs_stopword_list(const char *lang, size_t *n);

#endif
