/*
 * Word-scan restart points of a long turn (format 8). The index stores no
 * token table: the highlighter finds a matched word's bytes by scanning the
 * turn's text again up to the word (cs_analyze_bounds), ~2.6 ns a byte, and
 * on ParlaMint's long turns that scan was the largest cost of a page's
 * snippets. So a turn of CS_TMARKS_MIN_TEXT bytes or more stores, about
 * every CS_TMARKS_EVERY words, the position and byte offset of a word that
 * starts a chunk (right after white space): the analysis of the text from
 * there on is the analysis of the whole text from there on (the analyzer
 * works chunk by chunk), so the highlighter scans from the mark before a
 * match to the match instead of from the start.
 *
 *   marks := n, then n x (position - previous position, offset - previous
 *            offset), varints, the first from (0, 0); positions and
 *            offsets strictly increasing, none 0
 *
 * ~2 bytes per CS_TMARKS_EVERY words (~1.5 % of a long turn's text).
 */
#ifndef CS_TMARKS_H
#define CS_TMARKS_H

#include "analyzer.h"
#include "records.h"

#include <stddef.h>
#include <stdint.h>

#define CS_TMARKS_MIN_TEXT 256
#define CS_TMARKS_EVERY 16

typedef struct cs_tmark {
  uint32_t pos, off;
} cs_tmark;

/* Appends to out (reset first) the marks of text[0..len) from its tokens
 * (cs_analyze's, in position order). Errors go to out->err. */
void cs_tmarks_build(const char *text, size_t len, const cs_token *t, size_t n, cs_buf *out);

/* Reads marks (the bytes cs_tmarks_build wrote) of text into out[0..cap)
 * (out NULL: only checks them): their number, or -1 when they are damaged
 * (a mark past the text or, when text.p is set, not at a chunk's first
 * byte) or more than cap. */
long cs_tmarks_read(cs_str marks, cs_str text, cs_tmark *out, size_t cap);

/* Skips the marks at r (a turn's metadata): CS_ECORRUPT when they do not
 * follow the layout; *marks: their bytes. */
int cs_tmarks_skip(cs_rd *r, cs_str *marks);

#endif
