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

#include "tmarks.h"

#include <stdlib.h>
#include <string.h>

/* Sets w's analyzer and language, and no words. */
static void words_init(cs_analyzer *a, cs_str lang, cs__words *w) {
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
  w->sparse = 0;
}

int cs__text_words(cs_analyzer *a, cs_str lang, cs_str text, uint32_t last, cs__words *w) {
  words_init(a, lang, w);
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

/* The last mark at or before position pos (mk[0..nm) in position order),
 * or the text's start. */
static cs_tmark mark_before(const cs_tmark *mk, size_t nm, uint32_t pos) {
  size_t lo = 0, hi = nm;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (mk[mid].pos <= pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo ? mk[lo - 1] : (cs_tmark){0, 0};
}

/* Spans this many positions apart or closer are found in one scan. */
#define GROUP_GAP (2 * CS_TMARKS_EVERY)

/* The words of every position of spans[0..n) (sorted in place), each group
 * of spans scanned from the mark before it, into *buf (grown; w->t points
 * into it). 1 when done, 0 when the text does not have those words (the
 * caller scans it all), -1 when out of memory. */
static int sparse_words(cs_str text, const cs_tmark *mk, size_t nm, cs__pspan *spans, size_t n,
                        cs__words *w, cs_token **buf, size_t *cap) {
  qsort(spans, n, sizeof *spans, cs__pspan_cmp);
  size_t nb = 0;
  uint32_t done = 0; /* positions below it are in buf */
  for (size_t i = 0; i < n;) {
    uint32_t f = spans[i].first, l = spans[i].last;
    for (i++; i < n && spans[i].first <= (uint64_t)l + GROUP_GAP; i++)
      if (spans[i].last > l) l = spans[i].last;
    if (l < done) continue;
    if (f < done) f = done;
    cs_tmark m = mark_before(mk, nm, f);
    const cs_token *t;
    size_t nt;
    if (cs_analyze_bounds(w->a, w->lang, text.p + m.off, text.len - m.off, l - m.pos, &t, &nt))
      return -1;
    if (!nt || t[nt - 1].pos + m.pos < l) return 0;
    for (size_t k = 0; k < nt; k++) {
      uint32_t pos = t[k].pos + m.pos;
      if (pos < f) continue;
      if (pos > l) break;
      if (nb == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        cs_token *g = realloc(*buf, c * sizeof *g);
        if (!g) return -1;
        *buf = g;
        *cap = c;
      }
      cs_token x = t[k];
      x.pos = pos;
      x.start += m.off;
      x.end += m.off;
      (*buf)[nb++] = x;
    }
    done = l + 1;
  }
  w->t = *buf;
  w->n = nb;
  w->sparse = 1;
  return 1;
}

int cs__highlight_turn(cs_analyzer *a, cs_str lang, cs_str text, cs_str marks, cs__pspan *spans,
                       size_t n, size_t window, const cs__redact *rd, cs_buf *out) {
  if (!n || !marks.len || !text.p || text.len < CS_TMARKS_MIN_TEXT)
    return cs__highlight_field(a, lang, text, spans, n, window, rd, out);
  /* At most one mark per CS_TMARKS_EVERY words, a word a byte at least. */
  cs_tmark stack[64], *mk = stack;
  size_t cap = text.len / CS_TMARKS_EVERY + 1;
  if (cap <= 64)
    cap = 64;
  else if (!(mk = malloc(cap * sizeof *mk)))
    return -1;
  long nm = cs_tmarks_read(marks, text, mk, cap);
  cs__words w;
  memset(&w, 0, sizeof w);
  words_init(a, lang, &w);
  cs_token *buf = NULL;
  size_t bcap = 0;
  int rc = nm > 0 ? sparse_words(text, mk, (size_t)nm, spans, n, &w, &buf, &bcap) : 0;
  if (mk != stack) free(mk);
  if (rc == 1) {
    cs__highlight(text, &w, spans, n, window, rd, out);
    rc = out->err ? -1 : 0;
  } else if (rc == 0) {
    rc = cs__highlight_field(a, lang, text, spans, n, window, rd, out);
  }
  free(buf);
  return rc;
}
