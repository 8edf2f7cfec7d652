/*
 * Highlighting of a conversation's title and description (see highlight.h).
 *
 * The index stores no token table (position -> byte offsets): only the
 * turns, titles and descriptions of one page are highlighted. Their stored
 * text is tokenized again here in the conversation's language with the
 * writer's word boundaries (cs_analyze_bounds: neither folding nor
 * stemming, which positions do not depend on), so the positions are those
 * of the postings; only up to the last matched one. Whether a word is a
 * stop word is asked only for the words at the ends of a match.
 */
#include "highlight.h"

#include <string.h>

int cs__text_words(cs_analyzer *a, cs_str lang, cs_str text, uint32_t last, cs__words *w) {
  /* The writer's rule: at most 15 bytes of the language (up to a NUL),
   * "es" when empty. By hand: every snippet asks. */
  size_t n = 0, max = lang.len < 15 ? lang.len : 15;
  while (lang.p && n < max && lang.p[n]) {
    w->lang[n] = lang.p[n];
    n++;
  }
  w->lang[n] = 0;
  if (!n) memcpy(w->lang, "es", 3);
  w->a = a;
  w->t = NULL;
  w->n = 0;
  if (!text.p && text.len) return -1; /* still compressed */
  return cs_analyze_bounds(a, w->lang, text.p ? text.p : "", text.len, last, &w->t, &w->n) ? -1 : 0;
}

int cs__word_is_stop(const cs__words *w, cs_str text, size_t i) {
  if (!w->a) return (w->t[i].flags & CS_TOK_STOP) != 0;
  int rc = cs_analyzer_is_stop(w->a, w->lang, text.p, &w->t[i]);
  return rc < 0 ? -1 : rc;
}

int cs__highlight_field(cs_analyzer *a, cs_str lang, cs_str text, cs__pspan *spans, size_t n,
                        size_t window, const cs__redact *rd, cs_buf *out) {
  cs__words w;
  memset(&w, 0, sizeof w);
  uint32_t last = 0;
  for (size_t i = 0; i < n; i++) {
    if (spans[i].last > last) last = spans[i].last;
  }
  if (n && cs__text_words(a, lang, text, last, &w)) return -1;
  cs__highlight(text, &w, spans, n, window, rd, out);
  return out->err ? -1 : 0;
}
