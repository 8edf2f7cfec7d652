/*
 * Text analysis: turns a UTF-8 text into the tokens the index stores and the
 * query engine looks up.
 *
 * Pipeline, per word found by ICU's word-break rules:
 *   1. full case folding (u_strFoldCase) of the word;
 *   2. Snowball stemming of that lowercased form in the document's language
 *      (Snowball's Spanish rules need the accents, so stemming comes first);
 *   3. diacritic folding of both the stem and the surface form: accents and
 *      dieresis are removed (informático -> informatico, pingüino -> pinguino)
 *      but ñ stays a letter of its own (año != ano).
 * Numbers are kept as tokens and never stemmed ("2.000" -> "2000").
 * Stop words are reported with CS_TOK_STOP and still consume a position, so
 * phrase distances stay true to the text.
 * Invalid UTF-8 never stops analysis: an invalid byte acts as a separator.
 */
#ifndef CS_ANALYZER_H
#define CS_ANALYZER_H

#include <stddef.h>
#include <stdint.h>

/* Longest term kept, in bytes of the folded form; longer words are cut at
 * the last whole character that fits and flagged CS_TOK_TRUNCATED. */
#define CS_TERM_MAX 64

enum {
  CS_TOK_STOP = 1 << 0,      /* a stop word in the document's language */
  CS_TOK_NUMBER = 1 << 1,    /* made of digits (possibly with separators) */
  CS_TOK_TRUNCATED = 1 << 2, /* longer than CS_TERM_MAX, cut */
};

#define CS_TOKEN_MEMO_BITS 16 /* the largest word cache: 2^16 slots */

typedef struct cs_token {
  const char *term; /* stemmed + folded form: the indexed key; NUL-terminated */
  const char *word; /* folded surface form (not stemmed); NUL-terminated */
  uint16_t term_len;
  uint16_t word_len;
  uint32_t pos;   /* 0-based word position in the text (stop words count) */
  uint32_t start; /* byte offset of the word's first byte in the input */
  uint32_t end;   /* byte offset one past the word's last byte */
  uint32_t flags; /* CS_TOK_* */
  /* Nonzero when the token came from the analyzer's word cache: tokens of
   * one analyzer with the same memo have the same term, word and flags (a
   * caller may keep what it derived from them under this id); never reused
   * while the analyzer lives. Its low CS_TOKEN_MEMO_BITS bits are spread
   * evenly (no two cached words share them). 0: none. */
  uint64_t memo;
} cs_token;

typedef struct cs_analyzer cs_analyzer;

/* Creates an analyzer; the language is chosen per call and stemmers are
 * created lazily and cached. Returns NULL only when out of memory. One
 * analyzer is used by one thread at a time. */
cs_analyzer *cs_analyzer_create(void);
void cs_analyzer_destroy(cs_analyzer *a);

/* Analyzes `len` bytes of `text` (need not be NUL-terminated nor valid
 * UTF-8) in language `lang` ("es" when NULL or empty; unknown codes fall back
 * to no stemming and no stop words, still folded).
 * On success *out points at *n tokens in text order. Tokens and their strings
 * are owned by the analyzer and stay valid until the next call on it or its
 * destruction. Returns 0, or -ENOMEM. Texts longer than CS_ANALYZE_MAX bytes
 * are analyzed up to that bound only. */
#define CS_ANALYZE_MAX (4u << 20)
int cs_analyze(cs_analyzer *a, const char *lang, const char *text, size_t len, const cs_token **out,
               size_t *n);

/* Where the words of `text` are, without what they mean: the same tokens
 * as cs_analyze (same pos, start and end, CS_TOK_NUMBER as cs_analyze sets
 * it) but term and word are NULL, no word is folded or stemmed and stop
 * words are not looked for (cs_analyzer_is_stop asks for one token), so it
 * is several times cheaper. For highlighting, which maps positions from the
 * postings back to bytes. Analysis may stop once the token at position
 * `last` is found (later tokens may or may not be given). Same ownership
 * and errors as cs_analyze. */
int cs_analyze_bounds(cs_analyzer *a, const char *lang, const char *text, size_t len, uint32_t last,
                      const cs_token **out, size_t *n);

/* Whether cs_analyze(a, lang, text, ...) flags the token t (from
 * cs_analyze_bounds or cs_analyze over the same text) CS_TOK_STOP: 1 or 0,
 * -ENOMEM when out of memory. Leaves the tokens of the last call alone. */
int cs_analyzer_is_stop(cs_analyzer *a, const char *lang, const char *text, const cs_token *t);

/* Turns the fast path for runs of Latin letters and digits (and its word
 * cache) on (the default) or off, leaving every word to ICU. Both give the
 * same tokens; off is for tests and measurements. */
void cs_analyzer_set_fast_path(cs_analyzer *a, int on);

/* The fast path's word cache: large (8 MB once filled: the writer's, which
 * sees a corpus's whole vocabulary; a bulk load takes ~4 % less time than
 * with the small one) or small (2 MB: the default, for queries and the
 * highlighter's few texts). Only before the analyzer's first text. */
void cs_analyzer_set_word_cache(cs_analyzer *a, int large);

/* Folds a single query word the same way as the surface form of a token
 * (case + diacritics, ñ kept), without stemming. Writes at most cap-1 bytes
 * plus NUL to out; returns the length or -1 when it does not fit. */
int cs_fold_word(const char *word, size_t len, char *out, size_t cap);

/* True when `lang` has a stemmer (and so is not the no-stemming fallback). */
int cs_analyzer_has_language(const char *lang);

#endif
