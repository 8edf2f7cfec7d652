/*
 * Lemmas of irregular forms (internal to the query engine), from
 * hunspell-es (Debian's hunspell-es, /usr/share/hunspell/es_ES.aff/.dic)
 * through libhunspell: "puso" -> poner, "murió" -> morir, forms Snowball
 * stems apart from the rest of their verb. Loaded once at server start; a
 * lock serializes lookups (libhunspell gives no thread-safety promise).
 */
#ifndef CS_QUERY_LEMMAS_H
#define CS_QUERY_LEMMAS_H

#include <stddef.h>

typedef struct cs__lemmas cs__lemmas;

#define CS__LEMMA_MAX 4  /* lemmas returned per word */
#define CS__LEMMA_LEN 64 /* bytes of one lemma, NUL included */

/* Opens PREFIX.aff and PREFIX.dic (UTF-8 dictionaries only). NULL with msg
 * when they cannot be read. */
cs__lemmas *cs__lemmas_open(const char *prefix, char *msg, size_t cap);
void cs__lemmas_close(cs__lemmas *l);
/* Lemmas of the lowercase UTF-8 word w (not the word itself), at most
 * CS__LEMMA_MAX; returns how many were written to out. */
size_t cs__lemmas_of(cs__lemmas *l, const char *w, size_t wl, char out[][CS__LEMMA_LEN]);

#endif
