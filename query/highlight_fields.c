/*
 * Highlighting of a conversation's title and description (see highlight.h).
 *
 * The index stores no token table (position -> byte offsets): only the
 * turns, titles and descriptions of one page are highlighted. Their stored
 * text is analyzed again here in the conversation's language, exactly as
 * the writer analyzed it, so the analyzer's positions are the positions of
 * the postings, and the token table is built on the fly for cs__highlight.
 */
#include "highlight.h"

#include "analyzer.h"

#include <stdio.h>
#include <string.h>

int cs__turn_tokens(cs_analyzer *a, cs_str lang, cs_turn *t, cs_buf *scratch) {
  char lg[16];
  /* The writer's rule: at most 15 bytes of the language, "es" when empty. */
  snprintf(lg, sizeof lg, "%.*s", (int)(lang.len < 15 ? lang.len : 15), lang.p ? lang.p : "");
  if (!lg[0]) snprintf(lg, sizeof lg, "es");
  const cs_token *toks;
  size_t nt;
  if (!t->text.p && t->text.len) return -1; /* still compressed */
  if (cs_analyze(a, lg, t->text.p ? t->text.p : "", t->text.len, &toks, &nt)) return -1;
  cs_buf_reset(scratch);
  cs_token_table_encode(scratch, toks, nt, &t->ntokens);
  if (scratch->err) return -1;
  t->tokens = scratch->p;
  t->tokens_end = scratch->p + scratch->len;
  return 0;
}

int cs__highlight_field(cs_analyzer *a, cs_str lang, cs_str text, cs__pspan *spans, size_t n,
                        size_t window, const cs__redact *rd, cs_buf *scratch, cs_buf *out) {
  cs_turn t;
  memset(&t, 0, sizeof t);
  t.text = text;
  if (n && cs__turn_tokens(a, lang, &t, scratch)) return -1;
  cs__highlight(&t, spans, n, window, rd, out);
  return out->err ? -1 : 0;
}
