/*
 * Highlighting (see highlight.h): positions -> byte ranges through the
 * text's tokens, merge, choose a window, escape and wrap.
 */
#include "highlight.h"

#include <stdlib.h>
#include <string.h>

typedef struct brange {
  uint32_t start, end;
} brange;

/* Which bytes HTML escaping replaces (index into reps, 0: kept). */
static const uint8_t esc_of[256] = {['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4, ['\''] = 5};
static const struct {
  char s[7];
  uint8_t n;
} esc_reps[6] = {{"", 0}, {"&amp;", 5}, {"&lt;", 4}, {"&gt;", 4}, {"&quot;", 6}, {"&#39;", 5}};

void cs__html_escape(cs_buf *out, const char *s, size_t n) {
  /* One table lookup per byte, the text between replacements copied in
   * runs: every snippet window and title goes through here. */
  const uint8_t *p = (const uint8_t *)s;
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t e = esc_of[p[i]];
    if (!e) continue;
    cs_buf_bytes(out, s + run, i - run);
    cs_buf_bytes(out, esc_reps[e].s, esc_reps[e].n);
    run = i + 1;
  }
  cs_buf_bytes(out, s + run, n - run);
}

int cs__pspan_cmp(const void *a, const void *b) {
  const cs__pspan *x = a, *y = b;
  if (x->first != y->first) return x->first < y->first ? -1 : 1;
  return x->last < y->last ? -1 : x->last > y->last;
}

static int is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

static int is_cont(const char *s, size_t i) {
  return ((unsigned char)s[i] & 0xC0) == 0x80;
}

/* The index in w->t of the word at position pos, or -1 when w has none. */
static long word_index(const cs__words *w, size_t pos) {
  if (!w->sparse) return pos < w->n ? (long)pos : -1;
  size_t lo = 0, hi = w->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (w->t[mid].pos < pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < w->n && w->t[lo].pos == pos ? (long)lo : -1;
}

/* Maps position spans to merged byte ranges, in text order. A span runs
 * from its first word that is not a stop word to its last one (none:
 * stale positions, skipped). *err is set when out of memory. */
static size_t to_bytes(cs_str text, const cs__words *w, cs__pspan *spans, size_t n, brange *out,
                       int *err) {
  qsort(spans, n, sizeof *spans, cs__pspan_cmp);
  size_t m = 0;
  for (size_t i = 0; i < n && !*err; i++) {
    size_t a = spans[i].first, b = spans[i].last;
    long ia = -1, ib;
    int stop = 0;
    while (a <= b && (ia = word_index(w, a)) >= 0 && (stop = cs__word_is_stop(w, text, ia)) == 1)
      a++;
    if (stop < 0) *err = 1;
    if (a > b || ia < 0 || stop) continue;
    if (!w->sparse && b >= w->n) b = w->n - 1;
    while (b > a && (ib = word_index(w, b)) >= 0 && (stop = cs__word_is_stop(w, text, ib)) == 1)
      b--;
    if (stop < 0) *err = 1;
    ib = word_index(w, b);
    if (ib < 0) continue; /* (sparse words always have it) */
    brange r = {w->t[ia].start, w->t[ib].end};
    if (m && r.start <= out[m - 1].end) {
      if (r.end > out[m - 1].end) out[m - 1].end = r.end;
      continue;
    }
    out[m++] = r;
  }
  return m;
}

/* Chooses [*ws, *we) of about `window` bytes holding as many ranges as
 * possible, with some text before the first. */
static void choose_window(const char *text, size_t len, const brange *r, size_t m, size_t window,
                          size_t *ws, size_t *we) {
  size_t lead = window / 5;
  size_t best_i = 0, best_count = 0;
  for (size_t i = 0; i < m; i++) {
    size_t start = r[i].start > lead ? r[i].start - lead : 0;
    size_t count = 0;
    for (size_t j = i; j < m && r[j].end <= start + window; j++)
      count++;
    if (count > best_count) {
      best_count = count;
      best_i = i;
    }
  }
  size_t anchor = m ? r[best_i].start : 0;
  size_t s = anchor > lead ? anchor - lead : 0;
  if (s + window > len) s = len > window ? len - window : 0;
  if (s > anchor) s = anchor;
  /* Start on a character, and on a word when one starts nearby. */
  while (s > 0 && s < len && is_cont(text, s))
    s++;
  if (s > 0) {
    for (size_t k = s; k < s + 16 && k < anchor; k++) {
      if (is_ws(text[k - 1]) && !is_ws(text[k])) {
        s = k;
        break;
      }
    }
  }
  /* A range cut by the start is shown whole. */
  for (size_t i = 0; i < m; i++) {
    if (r[i].start < s && r[i].end > s) s = r[i].start;
  }
  size_t e = s + window;
  if (e >= len) {
    e = len;
  } else {
    while (e > s && is_cont(text, e))
      e--;
    for (size_t i = 0; i < m; i++) {
      if (r[i].start < e && r[i].end > e) e = r[i].end;
    }
    /* End after a word when a space is near. */
    size_t last_end = s;
    for (size_t i = 0; i < m; i++) {
      if (r[i].end <= e && r[i].end > last_end) last_end = r[i].end;
    }
    for (size_t k = e; k > s && k + 16 > e && k > last_end; k--) {
      if (is_ws(text[k])) {
        e = k;
        break;
      }
    }
  }
  *ws = s;
  *we = e;
}

/* Drops the ranges touching a name (both lists in text order). */
static size_t drop_names(brange *r, size_t m, const cs__brange *names, size_t nn) {
  size_t k = 0, j = 0;
  for (size_t i = 0; i < m; i++) {
    while (j < nn && names[j].end <= r[i].start)
      j++;
    if (j < nn && names[j].start < r[i].end) continue;
    r[k++] = r[i];
  }
  return k;
}

size_t cs__highlight(cs_str txt, const cs__words *w, cs__pspan *spans, size_t n, size_t window,
                     const cs__redact *rd, cs_buf *out) {
  const char *text = txt.p;
  size_t len = txt.len;
  brange stack[64];
  brange *r = n <= 64 ? stack : malloc(n * sizeof *r);
  cs__brange *names = NULL;
  long nn = rd ? cs__redact_find(rd, text, len, &names) : 0;
  int err = 0;
  if (!r || nn < 0) {
    if (r != stack) free(r);
    out->err = -1;
    return 0;
  }
  size_t m = n ? to_bytes(txt, w, spans, n, r, &err) : 0;
  if (err) {
    if (r != stack) free(r);
    free(names);
    out->err = -1;
    return 0;
  }
  if (nn) m = drop_names(r, m, names, (size_t)nn);
  size_t ws = 0, we = len;
  if (window && len > window) choose_window(text, len, r, m, window, &ws, &we);
  /* A name cut by the window is shown whole (as the pseudonym). */
  for (long i = 0; i < nn; i++) {
    if (names[i].start < ws && names[i].end > ws) ws = names[i].start;
    if (names[i].start < we && names[i].end > we) we = names[i].end;
  }
  if (ws > 0) cs_buf_bytes(out, "\xE2\x80\xA6", 3);
  size_t at = ws, wrote = 0;
  for (size_t i = 0; i < m; i++) {
    if (r[i].start < ws || r[i].end > we) continue;
    cs__redact_write(rd, text, at, r[i].start, names, (size_t)nn, 1, out);
    cs_buf_bytes(out, "<em>", 4);
    cs__html_escape(out, text + r[i].start, r[i].end - r[i].start);
    cs_buf_bytes(out, "</em>", 5);
    at = r[i].end;
    wrote++;
  }
  cs__redact_write(rd, text, at, we, names, (size_t)nn, 1, out);
  if (we < len) cs_buf_bytes(out, "\xE2\x80\xA6", 3);
  if (r != stack) free(r);
  free(names);
  return wrote;
}
