/*
 * Passage building (rules in passages.h).
 *
 * Turns are first cut into units: a whole turn, or a piece of a long turn
 * ending at a sentence boundary. Units are then grouped into passages.
 */
#include "passages.h"

#include "errors.h"
#include "grow.h"
#include "records.h"

#include <stdlib.h>
#include <string.h>

typedef struct unit {
  uint32_t turn, start, end, words;
  int question; /* opens a new passage */
} unit;

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* is_space as a table, and the bytes that may end a sentence (. ? ! and
 * the first byte of "…"): the scans below look up a byte instead of
 * branching on it (a mispredicted branch per word was a tenth of bulk
 * indexing). */
static const uint8_t space_byte[256] = {['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [' '] = 1};
static const uint8_t stop_byte[256] = {['.'] = 1, ['?'] = 1, ['!'] = 1, [0xE2] = 1};

/* Words (runs of non-space bytes) starting in [from, to). */
static uint32_t count_words(const char *s, size_t from, size_t to) {
  uint32_t n = 0;
  unsigned prev = 1; /* the byte before was a space (or there was none) */
  for (size_t i = from; i < to; i++) {
    unsigned sp = space_byte[(unsigned char)s[i]];
    n += prev & (sp ^ 1);
    prev = sp;
  }
  return n;
}

/* End of the sentence containing byte i: just past a run of . ? ! or "…"
 * (UTF-8 E2 80 A6) that is followed by white space, or the text's end. */
static size_t sentence_end(const char *s, size_t i, size_t len) {
  for (; i < len; i++) {
    while (i < len && !stop_byte[(unsigned char)s[i]])
      i++;
    if (i >= len) break;
    unsigned char c = (unsigned char)s[i];
    size_t k = i;
    if (c == '.' || c == '?' || c == '!') {
      k = i + 1;
    } else if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
               (unsigned char)s[i + 2] == 0xA6) {
      k = i + 3;
    } else {
      continue;
    }
    while (k < len && (s[k] == '.' || s[k] == '?' || s[k] == '!' || s[k] == '"' || s[k] == ')'))
      k++;
    if (k >= len) return len;
    if (is_space((unsigned char)s[k])) return k;
    i = k - 1;
  }
  return len;
}

/* Last non-space byte of [from, to) is a question mark. */
static int ends_with_question(const char *s, size_t from, size_t to) {
  while (to > from && is_space((unsigned char)s[to - 1]))
    to--;
  return to > from && s[to - 1] == '?';
}

static int push(unit **v, size_t *n, size_t *cap, unit u) {
  if (cs_grow((void **)v, cap, *n + 1, sizeof **v)) return CS_ENOMEM;
  (*v)[(*n)++] = u;
  return 0;
}

static int make_units(const cs_passage_turn *turns, size_t n, int roles, unit **out,
                      size_t *count) {
  unit *v = NULL;
  size_t nv = 0, cap = 0;
  for (size_t t = 0; t < n; t++) {
    const char *s = turns[t].text;
    size_t len = turns[t].len;
    uint32_t words = count_words(s, 0, len);
    if (words == 0) continue;
    int question = roles ? turns[t].role == CS_ROLE_INTERVIEWER : ends_with_question(s, 0, len);
    if (words <= CS_PASSAGE_TURN_WORDS) {
      if (push(&v, &nv, &cap, (unit){(uint32_t)t, 0, (uint32_t)len, words, question})) goto oom;
      continue;
    }
    /* A long turn: pieces of whole sentences, about PIECE words each. */
    size_t start = 0;
    int first = 1;
    while (start < len) {
      size_t end = start;
      uint32_t w = 0;
      while (end < len && w < CS_PASSAGE_PIECE_WORDS) {
        size_t e = sentence_end(s, end, len);
        uint32_t sw = count_words(s, end, e);
        if (w > 0 && w + sw > CS_PASSAGE_PIECE_WORDS + CS_PASSAGE_PIECE_WORDS / 2) break;
        w += sw;
        end = e;
      }
      if (end == start) end = len; /* no boundary at all */
      while (end < len && is_space((unsigned char)s[end]))
        end++;
      if (w > 0 && push(&v, &nv, &cap,
                        (unit){(uint32_t)t, (uint32_t)start, (uint32_t)end, w, question && first}))
        goto oom;
      first = 0;
      start = end;
    }
  }
  *out = v;
  *count = nv;
  return 0;
oom:
  free(v);
  return CS_ENOMEM;
}

int cs_passages_build(const cs_passage_turn *turns, size_t n, cs_passage_span **out,
                      size_t *count) {
  *out = NULL;
  *count = 0;
  int roles = 0;
  for (size_t t = 0; t < n; t++)
    roles |= turns[t].role == CS_ROLE_INTERVIEWER;
  unit *u;
  size_t nu;
  if (make_units(turns, n, roles, &u, &nu)) return CS_ENOMEM;
  cs_passage_span *p = malloc((nu ? nu : 1) * sizeof *p);
  if (!p) {
    free(u);
    return CS_ENOMEM;
  }
  size_t np = 0;
  uint32_t words = 0;
  int open = 0, answered = 0;
  for (size_t i = 0; i < nu; i++) {
    int start_new = !open || (u[i].question && answered) ||
                    (words + u[i].words > CS_PASSAGE_MAX_WORDS && words > 0);
    if (start_new) {
      p[np++] = (cs_passage_span){u[i].turn, u[i].turn, u[i].start, u[i].end};
      words = 0;
      answered = 0;
      open = 1;
    } else {
      p[np - 1].last = u[i].turn;
      p[np - 1].last_end = u[i].end;
    }
    words += u[i].words;
    if (!u[i].question) answered = 1;
  }
  free(u);
  *out = p;
  *count = np;
  return 0;
}
