/*
 * Highlighting (internal to the query engine): a stored turn's text as safe
 * HTML with every match wrapped in <em>...</em>.
 *
 * Matches arrive as token positions (from the postings); the turn's token
 * table maps each position to the exact byte range of the word in the
 * stored text, so highlights sit on the original bytes whatever the accents,
 * emoji or invalid input repaired at indexing. A phrase match is one span
 * from its first to its last word, stop words and punctuation between them
 * included. Everything outside the <em> tags is HTML-escaped (& < > " ').
 */
#ifndef CS_QUERY_HIGHLIGHT_H
#define CS_QUERY_HIGHLIGHT_H

#include "records.h"
#include "redact.h"

#include <stddef.h>
#include <stdint.h>

/* Token positions of one match, inclusive: a word is {p, p}, a phrase of
 * three words with a stop word inside is {p, p + 3}. */
typedef struct cs__pspan {
  uint32_t first, last;
} cs__pspan;

/* Snippet size: about this many bytes of text around the matches. */
#define CS__SNIPPET_BYTES 300

/* Appends the turn's text to out, HTML-escaped, with the spans (any order,
 * overlaps merged; sorted in place) wrapped in <em>. window 0 renders the
 * whole text; otherwise, when the text is longer, a window of about `window`
 * bytes around the densest group of matches, cut at character (preferably
 * word) boundaries, with "…" where text was left out. With rd (may be
 * NULL) on, the person's name words are written as the pseudonym (never cut
 * by the window) and spans touching them are not highlighted. Out-of-memory
 * is reported through out->err. Returns the number of <em> spans written. */
size_t cs__highlight(const cs_turn *t, cs__pspan *spans, size_t n, size_t window,
                     const cs__redact *rd, cs_buf *out);

/* Fills t's token table (t->tokens, t->ntokens) by analyzing t->text (made
 * readable first, cs_turn_text) again in language `lang` (the
 * conversation's, as at indexing): the table lives in scratch. 0, or -1
 * when out of memory. */
typedef struct cs_analyzer cs_analyzer;
int cs__turn_tokens(cs_analyzer *a, cs_str lang, cs_turn *t, cs_buf *scratch);

/* cs__highlight for a text of a conversation (a title, a description, a
 * turn's text): the token table is built with cs__turn_tokens in scratch
 * when there are spans. Returns 0, or -1 when out of memory. */
int cs__highlight_field(cs_analyzer *a, cs_str lang, cs_str text, cs__pspan *spans, size_t n,
                        size_t window, const cs__redact *rd, cs_buf *scratch, cs_buf *out);

/* Appends s[0..n) HTML-escaped. */
void cs__html_escape(cs_buf *out, const char *s, size_t n);

#endif
