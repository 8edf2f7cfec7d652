/*
 * Highlighting (internal to the query engine): a stored turn's text as safe
 * HTML with every match wrapped in <em>...</em>.
 *
 * Matches arrive as token positions (from the postings); the text's words
 * (found again by the analyzer, cs__text_words) map each position to the
 * exact byte range of the word in the stored text, so highlights sit on the
 * original bytes whatever the accents, emoji or invalid input repaired at
 * indexing. A phrase match is one span from its first to its last word,
 * stop words and punctuation between them included. Everything outside the
 * <em> tags is HTML-escaped (& < > " ').
 */
#ifndef CS_QUERY_HIGHLIGHT_H
#define CS_QUERY_HIGHLIGHT_H

#include "analyzer.h"
#include "records.h"
#include "redact.h"

#include <stddef.h>
#include <stdint.h>

/* Token positions of one match, inclusive: a word is {p, p}, a phrase of
 * three words with a stop word inside is {p, p + 3}. */
typedef struct cs__pspan {
  uint32_t first, last;
} cs__pspan;

/* qsort's order of spans: by first, then last position. */
int cs__pspan_cmp(const void *a, const void *b);

/* Snippet size: about this many bytes of text around the matches. */
#define CS__SNIPPET_BYTES 300

/* The words of a text, as the writer's analysis found them: tokens in
 * text order, t[i].pos == i. Stop words are told by their CS_TOK_STOP flag
 * when a is NULL (tokens of cs_analyze), else asked for the few tokens
 * that matter (cs_analyzer_is_stop with a and lang). */
typedef struct cs__words {
  const cs_token *t;
  size_t n;
  cs_analyzer *a;
  char lang[16];
  /* 1: t holds only the words of some positions, in order (t[i].pos), and
   * every position of every span given to cs__highlight with it is there
   * (cs__highlight_turn); 0: t[i].pos == i. */
  int sparse;
} cs__words;

/* Appends text to out, HTML-escaped, with the spans (any order,
 * overlaps merged; sorted in place) wrapped in <em>. window 0 renders the
 * whole text; otherwise, when the text is longer, a window of about `window`
 * bytes around the densest group of matches, cut at character (preferably
 * word) boundaries, with "…" where text was left out. With rd (may be
 * NULL) on, the person's name words are written as the pseudonym (never cut
 * by the window) and spans touching them are not highlighted. Out-of-memory
 * is reported through out->err. Returns the number of <em> spans written. */
size_t cs__highlight(cs_str text, const cs__words *w, cs__pspan *spans, size_t n, size_t window,
                     const cs__redact *rd, cs_buf *out);

/* Fills w with the words of text (a turn's made readable first,
 * cs_turn_text) in language `lang` (the conversation's), at least up to
 * position `last` (later ones may be left out). Only word boundaries are
 * looked for (cs_analyze_bounds): the tokens stay valid until a's next
 * analysis. 0, or -1 when out of memory. */
int cs__text_words(cs_analyzer *a, cs_str lang, cs_str text, uint32_t last, cs__words *w);

/* Whether w->t[i], a word of text, is a stop word: 1, 0, or -1 when out of
 * memory. */
int cs__word_is_stop(const cs__words *w, cs_str text, size_t i);

/* cs__highlight for a text of a conversation (a title, a description, a
 * turn's text): its words are found with cs__text_words when there are
 * spans. Returns 0, or -1 when out of memory. */
int cs__highlight_field(cs_analyzer *a, cs_str lang, cs_str text, cs__pspan *spans, size_t n,
                        size_t window, const cs__redact *rd, cs_buf *out);

/* cs__highlight_field for a stored turn's text with its marks
 * (tmarks.h; empty: none): the words of each group of spans are found by
 * scanning from the mark before it, not from the start. The same output
 * as cs__highlight_field. Returns 0, or -1 when out of memory. */
int cs__highlight_turn(cs_analyzer *a, cs_str lang, cs_str text, cs_str marks, cs__pspan *spans,
                       size_t n, size_t window, const cs__redact *rd, cs_buf *out);

/* Appends s[0..n) HTML-escaped. */
void cs__html_escape(cs_buf *out, const char *s, size_t n);

#endif
