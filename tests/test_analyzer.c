/*
 * Tests for the analyzer (index/analyzer.c), the stop lists and the UTF-8
 * helpers.
 *
 *   test_analyzer FILE...          run the built-in checks, then every case
 *                                  in the case files; exit 1 on any failure
 *   test_analyzer -p LANG TEXT     print the tokens of TEXT (escapes as in
 *                                  case files) in case-file format
 *   test_analyzer --corpus GZ [N]  the fast path against ICU's word break on
 *                                  every turn of ParlaMint-ES (every N-th
 *                                  sitting); exit 77 without the file
 *
 * Case file format (see tests/analyzer/es.txt):
 *
 *   # comment                       ignored (only at the start of a line)
 *   @lang en                        language of the following cases (the
 *                                   default is es; "@lang" alone means NULL)
 *   > input text                    one or more lines; several are joined
 *                                   with "\n"; "> " is stripped
 *   term|word pos start-end [stop] [num] [trunc]
 *                                   one expected token per line, in order
 *   (blank line or end of file ends the case; no token lines = no tokens)
 *
 * In input lines and in term/word, \xHH is a raw byte (may be invalid
 * UTF-8), \u{HHHH} a code point in UTF-8, \n \r \t \\ the usual; nothing else
 * is special. Offsets are bytes into the input after unescaping; end is one
 * past the last byte. Failing cases print the input and a line diff
 * ("-" expected, "+" got).
 *
 * Every case also checks the invariants the fuzz loop checks (offsets in
 * bounds and ordered, positions 0,1,2..., valid UTF-8 under CS_TERM_MAX, and
 * cs_fold_word of the token's bytes giving back its word).
 */
#include "analyzer.h"
#include "stopwords.h"
#include "utf8.h"

#include "corpus.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <zlib.h>

#include <unicode/utf8.h>

static int passed, failed;

/* ---------------------------------------------------------------- */
/* Small helpers                                                    */
/* ---------------------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static void buf_add(buf *b, const void *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->len + n + 1)
      c *= 2;
    b->p = realloc(b->p, c);
    if (!b->p) {
      perror("realloc");
      exit(2);
    }
    b->cap = c;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void buf_printf(buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n > 0) buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Appends s[0..n) to b with the case-file escapes resolved. Returns 0, or
 * -1 on a malformed escape. */
static int unescape(buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\\' || i + 1 == n) {
      buf_add(b, s + i, 1);
      continue;
    }
    char c = s[++i];
    if (c == 'n') {
      buf_add(b, "\n", 1);
    } else if (c == 't') {
      buf_add(b, "\t", 1);
    } else if (c == 'r') {
      buf_add(b, "\r", 1);
    } else if (c == '\\') {
      buf_add(b, "\\", 1);
    } else if (c == 'x') {
      if (i + 2 >= n) return -1;
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0) return -1;
      char byte = (char)(h * 16 + l);
      buf_add(b, &byte, 1);
      i += 2;
    } else if (c == 'u' && i + 1 < n && s[i + 1] == '{') {
      uint32_t cp = 0;
      size_t j = i + 2;
      for (; j < n && s[j] != '}'; j++) {
        int v = hexval(s[j]);
        if (v < 0 || cp > 0x10FFFF) return -1;
        cp = cp * 16 + (uint32_t)v;
      }
      if (j == n || j == i + 2 || cp > 0x10FFFF) return -1;
      uint8_t u[4];
      int32_t k = 0;
      U8_APPEND_UNSAFE(u, k, cp);
      buf_add(b, u, (size_t)k);
      i = j;
    } else {
      buf_add(b, s + i - 1, 2);
    }
  }
  return 0;
}

/* Appends s[0..n) to b so that it reads back through unescape and shows
 * control characters and invalid bytes. */
static void escape(buf *b, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  int32_t i = 0, len = (int32_t)n;
  while (i < len) {
    int32_t at = i;
    UChar32 c;
    U8_NEXT(p, i, len, c);
    if (c < 0) {
      for (int32_t k = at; k < i; k++)
        buf_printf(b, "\\x%02X", p[k]);
    } else if (c == '\\') {
      buf_add(b, "\\\\", 2);
    } else if (c == '\n') {
      buf_add(b, "\\n", 2);
    } else if (c == '\t') {
      buf_add(b, "\\t", 2);
    } else if (c == '\r') {
      buf_add(b, "\\r", 2);
    } else if (c < 0x20 || c == 0x7F) {
      buf_printf(b, "\\x%02X", (unsigned)c);
    } else if (c == 0xA0 || c == 0xAD || (c >= 0x300 && c <= 0x36F) ||
               (c >= 0x200B && c <= 0x200F) || c == 0xFEFF) {
      buf_printf(b, "\\u{%04X}", (unsigned)c); /* invisible or combining */
    } else {
      buf_add(b, s + at, (size_t)(i - at));
    }
  }
}

/* The canonical one-line form of a token, as written in case files. */
static void format_token(buf *b, const char *term, size_t tlen, const char *word, size_t wlen,
                         unsigned long pos, unsigned long start, unsigned long end,
                         unsigned flags) {
  escape(b, term, tlen);
  buf_add(b, "|", 1);
  escape(b, word, wlen);
  buf_printf(b, " %lu %lu-%lu", pos, start, end);
  if (flags & CS_TOK_STOP) buf_add(b, " stop", 5);
  if (flags & CS_TOK_NUMBER) buf_add(b, " num", 4);
  if (flags & CS_TOK_TRUNCATED) buf_add(b, " trunc", 6);
}

/* ---------------------------------------------------------------- */
/* Invariants                                                       */
/* ---------------------------------------------------------------- */

/* Checks what must hold for any input; appends a description of the first
 * violation to err and returns -1, or returns 0. */
static int check_invariants(const char *text, size_t len, const cs_token *t, size_t n, buf *err) {
  size_t limit = len < CS_ANALYZE_MAX ? len : CS_ANALYZE_MAX;
  uint32_t prev_end = 0;
  for (size_t i = 0; i < n; i++) {
    const cs_token *k = &t[i];
    const char *why = NULL;
    if (k->pos != i)
      why = "positions are not 0,1,2...";
    else if (k->start >= k->end || k->end > limit)
      why = "offsets out of bounds";
    else if (k->start < prev_end)
      why = "tokens overlap or are out of order";
    else if (!k->term || !k->word || k->term_len == 0 || k->word_len == 0)
      why = "empty term or word";
    else if (k->term_len > CS_TERM_MAX || k->word_len > CS_TERM_MAX)
      why = "longer than CS_TERM_MAX";
    else if (strlen(k->term) != k->term_len || strlen(k->word) != k->word_len)
      why = "length does not match NUL terminator";
    else if (!cs_utf8_valid(k->term, k->term_len) || !cs_utf8_valid(k->word, k->word_len))
      why = "invalid UTF-8 in term or word";
    else if (!cs_utf8_valid(text + k->start, k->end - k->start))
      why = "token spans invalid bytes";
    if (!why && !(k->flags & CS_TOK_TRUNCATED)) {
      /* The query side folds words with cs_fold_word: it must agree. */
      char f[4 * CS_TERM_MAX + 1];
      int fl = cs_fold_word(text + k->start, k->end - k->start, f, sizeof(f));
      if (fl < 0 || (size_t)fl != k->word_len || memcmp(f, k->word, (size_t)fl) != 0)
        why = "cs_fold_word of the token's bytes differs from its word";
    }
    if (why) {
      buf_printf(err, "  invariant: %s at token %zu: ", why, i);
      format_token(err, k->term ? k->term : "", k->term ? k->term_len : 0, k->word ? k->word : "",
                   k->word ? k->word_len : 0, k->pos, k->start, k->end, k->flags);
      buf_add(err, "\n", 1);
      return -1;
    }
    prev_end = k->end;
  }
  return 0;
}

/* ---------------------------------------------------------------- */
/* Case files                                                       */
/* ---------------------------------------------------------------- */

/* Parses one expected-token line into its canonical form. Returns 0, or -1
 * when the line is malformed. */
static int parse_expected(const char *line, size_t n, buf *out) {
  char *copy = malloc(n + 1);
  if (!copy) exit(2);
  memcpy(copy, line, n);
  copy[n] = '\0';
  int rc = -1;
  buf term = {0}, word = {0};
  char *save = NULL;
  char *tw = strtok_r(copy, " \t", &save);
  char *pos = strtok_r(NULL, " \t", &save);
  char *range = strtok_r(NULL, " \t", &save);
  if (!tw || !pos || !range) goto out;
  char *bar = strchr(tw, '|');
  if (!bar) goto out;
  if (unescape(&term, tw, (size_t)(bar - tw)) || unescape(&word, bar + 1, strlen(bar + 1)))
    goto out;
  char *end;
  unsigned long p = strtoul(pos, &end, 10);
  if (*end) goto out;
  unsigned long s = strtoul(range, &end, 10);
  if (*end != '-') goto out;
  unsigned long e = strtoul(end + 1, &end, 10);
  if (*end) goto out;
  unsigned flags = 0;
  for (char *f; (f = strtok_r(NULL, " \t", &save));) {
    if (strcmp(f, "stop") == 0)
      flags |= CS_TOK_STOP;
    else if (strcmp(f, "num") == 0)
      flags |= CS_TOK_NUMBER;
    else if (strcmp(f, "trunc") == 0)
      flags |= CS_TOK_TRUNCATED;
    else
      goto out;
  }
  format_token(out, term.p ? term.p : "", term.len, word.p ? word.p : "", word.len, p, s, e, flags);
  rc = 0;
out:
  free(term.p);
  free(word.p);
  free(copy);
  return rc;
}

/* Splits b->p into lines (without the "\n"); returns their count. */
static size_t split_lines(char *s, char ***lines) {
  size_t n = 0, cap = 16;
  char **v = malloc(cap * sizeof(*v));
  if (!v) exit(2);
  while (*s) {
    if (n == cap) {
      cap *= 2;
      v = realloc(v, cap * sizeof(*v));
      if (!v) exit(2);
    }
    v[n++] = s;
    char *nl = strchr(s, '\n');
    if (!nl) break;
    *nl = '\0';
    s = nl + 1;
  }
  *lines = v;
  return n;
}

/* Appends a line diff of want[0..nw) against got[0..ng) to r: common lines
 * indented, "-" only expected, "+" only got. Uses the longest common
 * subsequence so that one missing or extra token shows as one line. */
static void diff_lines(buf *r, char **want, size_t nw, char **got, size_t ng) {
  size_t cols = ng + 1;
  size_t *lcs = nw < 4096 && ng < 4096 ? calloc((nw + 1) * cols, sizeof(*lcs)) : NULL;
  if (!lcs) { /* huge or out of memory: a plain listing will do */
    for (size_t i = 0; i < nw; i++)
      buf_printf(r, "  - %s\n", want[i]);
    for (size_t j = 0; j < ng; j++)
      buf_printf(r, "  + %s\n", got[j]);
    return;
  }
  /* lcs[i][j]: length of the LCS of want[i..] and got[j..]. */
  for (size_t i = nw; i-- > 0;)
    for (size_t j = ng; j-- > 0;)
      lcs[i * cols + j] =
          strcmp(want[i], got[j]) == 0
              ? lcs[(i + 1) * cols + j + 1] + 1
              : (lcs[(i + 1) * cols + j] > lcs[i * cols + j + 1] ? lcs[(i + 1) * cols + j]
                                                                 : lcs[i * cols + j + 1]);
  size_t i = 0, j = 0;
  while (i < nw || j < ng) {
    if (i < nw && j < ng && strcmp(want[i], got[j]) == 0) {
      buf_printf(r, "    %s\n", want[i]);
      i++, j++;
    } else if (i < nw && (j == ng || lcs[(i + 1) * cols + j] >= lcs[i * cols + j + 1])) {
      buf_printf(r, "  - %s\n", want[i++]);
    } else {
      buf_printf(r, "  + %s\n", got[j++]);
    }
  }
  free(lcs);
}

static void run_case(cs_analyzer *a, const char *file, size_t line_no, const char *lang,
                     const buf *input, char **exp, size_t nexp) {
  const cs_token *t;
  size_t n;
  buf report = {0};
  int ok = cs_analyze(a, lang, input->p ? input->p : "", input->len, &t, &n) == 0;
  if (!ok) buf_printf(&report, "  cs_analyze failed\n");

  /* Canonical got/expected lines, then a line-by-line diff. */
  buf got = {0};
  char **gl = calloc(n + 1, sizeof(*gl));
  size_t *goff = calloc(n + 1, sizeof(*goff));
  if (!gl || !goff) exit(2);
  for (size_t i = 0; ok && i < n; i++) {
    goff[i] = got.len;
    format_token(&got, t[i].term, t[i].term_len, t[i].word, t[i].word_len, t[i].pos, t[i].start,
                 t[i].end, t[i].flags);
    buf_add(&got, "\0", 1);
  }
  for (size_t i = 0; ok && i < n; i++)
    gl[i] = got.p + goff[i];

  buf want = {0};
  char **wl = calloc(nexp + 1, sizeof(*wl));
  size_t *woff = calloc(nexp + 1, sizeof(*woff));
  if (!wl || !woff) exit(2);
  for (size_t i = 0; i < nexp; i++) {
    woff[i] = want.len;
    if (parse_expected(exp[i], strlen(exp[i]), &want)) {
      buf_printf(&report, "  malformed expected line: %s\n", exp[i]);
      ok = 0;
    }
    buf_add(&want, "\0", 1);
  }
  for (size_t i = 0; i < nexp; i++)
    wl[i] = want.p + woff[i];

  int differ = n != nexp;
  for (size_t i = 0; ok && !differ && i < n; i++)
    if (strcmp(gl[i], wl[i]) != 0) differ = 1;
  if (ok && differ) {
    ok = 0;
    diff_lines(&report, wl, nexp, gl, n);
  }
  if (ok && check_invariants(input->p ? input->p : "", input->len, t, n, &report)) ok = 0;

  if (ok) {
    passed++;
  } else {
    failed++;
    buf in = {0};
    escape(&in, input->p ? input->p : "", input->len);
    printf("FAIL %s:%zu [%s] > %s\n%s", file, line_no, lang ? lang : "NULL", in.p ? in.p : "",
           report.p ? report.p : "");
    free(in.p);
  }
  free(report.p);
  free(got.p);
  free(want.p);
  free(gl);
  free(goff);
  free(wl);
  free(woff);
}

static void run_file(cs_analyzer *a, const char *file) {
  FILE *f = fopen(file, "rb");
  if (!f) {
    perror(file);
    failed++;
    return;
  }
  buf content = {0};
  char chunk[65536];
  size_t r;
  while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
    buf_add(&content, chunk, r);
  fclose(f);
  if (!content.p) return;

  char **lines;
  size_t nl = split_lines(content.p, &lines);
  char lang[32] = "es";
  int lang_null = 0;
  size_t i = 0;
  while (i < nl) {
    char *l = lines[i];
    size_t ll = strlen(l);
    if (ll && l[ll - 1] == '\r') l[--ll] = '\0';
    if (ll == 0 || l[0] == '#') {
      i++;
      continue;
    }
    if (strncmp(l, "@lang", 5) == 0) {
      const char *v = l + 5;
      while (*v == ' ')
        v++;
      lang_null = *v == '\0';
      snprintf(lang, sizeof(lang), "%s", v);
      i++;
      continue;
    }
    if (l[0] != '>') {
      printf("FAIL %s:%zu: expected '>' input line, got: %s\n", file, i + 1, l);
      failed++;
      i++;
      continue;
    }
    size_t case_line = i + 1;
    buf input = {0};
    int bad = 0;
    for (int first = 1; i < nl && lines[i][0] == '>'; i++, first = 0) {
      char *s = lines[i] + 1;
      size_t sl = strlen(s);
      if (sl && s[sl - 1] == '\r') s[--sl] = '\0';
      if (*s == ' ') s++, sl--;
      if (!first) buf_add(&input, "\n", 1);
      if (unescape(&input, s, sl)) bad = 1;
    }
    size_t first_exp = i;
    while (i < nl) {
      size_t el = strlen(lines[i]);
      if (el && lines[i][el - 1] == '\r') lines[i][--el] = '\0';
      if (el == 0) break;
      i++;
    }
    if (bad) {
      printf("FAIL %s:%zu: malformed escape in input\n", file, case_line);
      failed++;
    } else {
      run_case(a, file, case_line, lang_null ? NULL : lang, &input, lines + first_exp,
               i - first_exp);
    }
    free(input.p);
  }
  free(lines);
  free(content.p);
}

/* ---------------------------------------------------------------- */
/* Built-in checks                                                  */
/* ---------------------------------------------------------------- */

static int check_failed;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      printf("  check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                          \
      check_failed = 1;                                                                            \
    }                                                                                              \
  } while (0)

static void run_check(const char *name, void (*fn)(cs_analyzer *), cs_analyzer *a) {
  check_failed = 0;
  fn(a);
  if (check_failed) {
    printf("FAIL check %s\n", name);
    failed++;
  } else {
    passed++;
  }
}

static void check_utf8_valid(cs_analyzer *a) {
  (void)a;
  static const struct {
    const char *s;
    size_t len;
    int valid;
  } v[] = {
      {"", 0, 1},
      {"hola", 4, 1},
      {"a\0b", 3, 0},             /* NUL */
      {"a\xC3\xB1o", 4, 1},       /* año */
      {"\xE2\x82\xAC", 3, 1},     /* € */
      {"\xF0\x9F\x98\x80", 4, 1}, /* 😀 */
      {"\xF4\x8F\xBF\xBF", 4, 1}, /* U+10FFFF */
      {"\xC3", 1, 0},             /* truncated */
      {"\xC0\xAF", 2, 0},         /* overlong / */
      {"\xE0\x80\xAF", 3, 0},     /* overlong / */
      {"\xF0\x80\x80\xAF", 4, 0}, /* overlong / */
      {"\xED\xA0\x80", 3, 0},     /* surrogate D800 */
      {"\xF4\x90\x80\x80", 4, 0}, /* U+110000 */
      {"\xF5\x80\x80\x80", 4, 0}, /* bad lead */
      {"\x80", 1, 0},             /* lone continuation */
      {"\xE2\x82", 2, 0},         /* truncated € */
      {"\xEF\xBF\xBD", 3, 1},     /* U+FFFD itself */
      {"\xC3\xB1\xC3", 3, 0},     /* valid then truncated */
      /* Past eight bytes, ASCII is skipped a word at a time. */
      {"abcdefghijklmnopq", 17, 1},
      {"abcdefghijklmn\0pq", 17, 0},            /* NUL in the second word */
      {"abcdefgh\0", 9, 0},                     /* NUL after a whole word */
      {"abcdefghijklmn\xC3\xB1", 16, 1},        /* a character ending the second word */
      {"abcdefghijklmno\xC3\xB1", 17, 1},       /* ... straddling it */
      {"abcdefghijklmno\xFF", 16, 0},           /* a bad byte ending the second word */
      {"a\xC3\xB1o abcdefghijk\x80xyz", 20, 0}, /* a lone continuation after a run */
  };
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    if (cs_utf8_valid(v[i].s, v[i].len) != v[i].valid) {
      printf("  cs_utf8_valid case %zu\n", i);
      check_failed = 1;
    }
  }
}

static void check_utf8_repair(cs_analyzer *a) {
  (void)a;
  static const struct {
    const char *in;
    size_t len;
    const char *out;
  } v[] = {
      {"", 0, ""},
      {"hola", 4, "hola"},
      {"a\0b", 3, "ab"},
      {"a\xC3\xB1o", 4, "a\xC3\xB1o"},
      {"ca\xC3", 3, "ca\xEF\xBF\xBD"},
      /* One U+FFFD per maximal subpart (Unicode 3.9, "U+FFFD Substitution"). */
      {"\xE2\x82"
       "a",
       3,
       "\xEF\xBF\xBD"
       "a"},
      {"\xC0\xAF", 2, "\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xF0\x9F\x98", 3, "\xEF\xBF\xBD"},
      {"\xF4\x90\x80\x80", 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
      {"\xFF"
       "x\xFE",
       3,
       "\xEF\xBF\xBD"
       "x\xEF\xBF\xBD"},
  };
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    size_t n = 99;
    char *r = cs_utf8_repair(v[i].in, v[i].len, &n);
    if (!r || n != strlen(v[i].out) || memcmp(r, v[i].out, n) != 0 || r[n] != '\0') {
      printf("  cs_utf8_repair case %zu\n", i);
      check_failed = 1;
    }
    free(r);
  }
}

static void check_utf8_cut(cs_analyzer *a) {
  (void)a;
  const char *s = "a\xC3\xB1o\xF0\x9F\x98\x80z"; /* a ñ o 😀 z: 1+2+1+4+1 bytes */
  size_t n = strlen(s);
  CHECK(cs_utf8_cut(s, n, 100) == n);
  CHECK(cs_utf8_cut(s, n, n) == n);
  CHECK(cs_utf8_cut(s, n, 0) == 0);
  CHECK(cs_utf8_cut(s, n, 1) == 1);
  CHECK(cs_utf8_cut(s, n, 2) == 1); /* would split ñ */
  CHECK(cs_utf8_cut(s, n, 3) == 3);
  CHECK(cs_utf8_cut(s, n, 4) == 4);
  CHECK(cs_utf8_cut(s, n, 5) == 4); /* would split 😀 */
  CHECK(cs_utf8_cut(s, n, 7) == 4);
  CHECK(cs_utf8_cut(s, n, 8) == 8);
  CHECK(cs_utf8_cut("", 0, 5) == 0);
}

/* Repair implemented independently with ICU's U8_NEXT, which follows the
 * same maximal-subpart practice: both must agree byte for byte. */
static char *icu_repair(const char *s, size_t len, size_t *out_len) {
  char *out = malloc(3 * len + 1);
  if (!out) exit(2);
  int32_t i = 0, o = 0, n = (int32_t)len;
  while (i < n) {
    UChar32 c;
    U8_NEXT((const uint8_t *)s, i, n, c);
    if (c < 0) c = 0xFFFD;
    if (c == 0) continue;
    U8_APPEND_UNSAFE((uint8_t *)out, o, c);
  }
  out[o] = '\0';
  *out_len = (size_t)o;
  return out;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void) { /* xorshift64*, fixed seed: failures reproduce */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

/* Random bytes biased toward text: pieces of Spanish words, digits with
 * separators, combining marks, emoji, invalid sequences and raw bytes. */
static size_t random_text(char *out, size_t max) {
  static const char *const pieces[] = {
      "a",
      "e",
      "o",
      "s",
      "n",
      "ción",
      "ñ",
      "Ñ",
      "á",
      "É",
      "ü",
      " ",
      " ",
      "  ",
      ".",
      ",",
      "'",
      "’",
      "-",
      "@",
      "¿",
      "?",
      "¡",
      "1",
      "2",
      "0",
      "000",
      "\xCC\x81",
      "\xCC\x83",
      "\xC2\xA0",
      "\xC2\xAD",
      "\xE2\x80\x8D",
      "😀",
      "👍🏽",
      "日本",
      "ß",
      "İ",
      "\t",
      "\n",
      "\0",
      "\xFF",
      "\xC3",
      "\xE2\x82",
      "\xED\xA0\x80",
      "\xF4\x90\x80\x80",
      "\xC0\xAF",
      "\x80",
      "_",
      "ﬁ",
      "Á",
      "x",
      "Z",
      "9",
      ";",
      ":",
      "(",
      "«",
      "\xC3\x97",
      "/",
  };
  size_t target = rnd() % (max + 1), n = 0;
  while (n < target) {
    if (rnd() % 4 == 0) {
      out[n++] = (char)(rnd() & 0xFF);
      continue;
    }
    const char *p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
    size_t pl = p[0] ? strlen(p) : 1; /* "\0" is one NUL byte */
    if (n + pl > target) break;
    memcpy(out + n, p, pl);
    n += pl;
  }
  return n;
}

/* The fast path (runs of Latin letters and digits, word cache) must give
 * exactly the tokens of ICU's word break over the whole text. Compares the
 * tokens t[0..n) of text with those of `icu` (an analyzer with the fast
 * path off); on a difference describes the first one in err. */
static int same_as_icu(cs_analyzer *icu, const char *lang, const char *text, size_t len,
                       const cs_token *t, size_t n, buf *err) {
  const cs_token *u;
  size_t m;
  if (cs_analyze(icu, lang, text, len, &u, &m) != 0) {
    buf_printf(err, "  the ICU path failed\n");
    return 1;
  }
  for (size_t i = 0; i < n || i < m; i++) {
    if (i < n && i < m && t[i].term_len == u[i].term_len && t[i].word_len == u[i].word_len &&
        !memcmp(t[i].term, u[i].term, t[i].term_len) &&
        !memcmp(t[i].word, u[i].word, t[i].word_len) && t[i].pos == u[i].pos &&
        t[i].start == u[i].start && t[i].end == u[i].end && t[i].flags == u[i].flags)
      continue;
    buf a = {0}, b = {0};
    if (i < n)
      format_token(&a, t[i].term, t[i].term_len, t[i].word, t[i].word_len, t[i].pos, t[i].start,
                   t[i].end, t[i].flags);
    if (i < m)
      format_token(&b, u[i].term, u[i].term_len, u[i].word, u[i].word_len, u[i].pos, u[i].start,
                   u[i].end, u[i].flags);
    buf_printf(err, "  token %zu: fast path %s, ICU %s\n", i, a.p ? a.p : "(none)",
               b.p ? b.p : "(none)");
    free(a.p);
    free(b.p);
    return 1;
  }
  return 0;
}

static void check_fuzz(cs_analyzer *a) {
  static const char *const fuzz_langs[] = {"es", "en", NULL, "xx", "fr"};
  char text[300];
  buf err = {0};
  int reported = 0;
  cs_analyzer *icu = cs_analyzer_create();
  if (!icu) {
    check_failed = 1;
    return;
  }
  cs_analyzer_set_fast_path(icu, 0);
  for (int iter = 0; iter < 20000; iter++) {
    size_t len = iter % 2 ? random_text(text, sizeof(text)) : rnd() % (sizeof(text) + 1);
    if (iter % 2 == 0)
      for (size_t i = 0; i < len; i++)
        text[i] = (char)(rnd() & 0xFF);

    size_t rl, il;
    char *r1 = cs_utf8_repair(text, len, &rl);
    char *r2 = icu_repair(text, len, &il);
    if (!r1 || rl != il || memcmp(r1, r2, rl) != 0 || !cs_utf8_valid(r1, rl)) {
      if (!reported++) printf("  repair disagrees with U8_NEXT at iteration %d\n", iter);
      check_failed = 1;
    }
    if (cs_utf8_valid(text, len) != (rl == len && memcmp(r1, text, len) == 0)) {
      if (!reported++)
        printf("  valid text is not what repair leaves unchanged (iteration %d)\n", iter);
      check_failed = 1;
    }
    free(r1);
    free(r2);

    const cs_token *t;
    size_t n;
    const char *lang = fuzz_langs[iter % 5];
    if (cs_analyze(a, lang, text, len, &t, &n) != 0) {
      if (!reported++) printf("  cs_analyze failed at iteration %d\n", iter);
      check_failed = 1;
      continue;
    }
    err.len = 0;
    if (check_invariants(text, len, t, n, &err) || same_as_icu(icu, lang, text, len, t, n, &err)) {
      if (!reported++) {
        buf in = {0};
        escape(&in, text, len);
        printf("  fuzz iteration %d [%s] > %s\n%s", iter, lang ? lang : "NULL", in.p, err.p);
        free(in.p);
      }
      check_failed = 1;
    }
  }
  free(err.p);
  cs_analyzer_destroy(icu);
}

static void check_stopwords(cs_analyzer *a) {
  (void)a;
  static const char *const list_langs[] = {"es", "en"};
  for (size_t l = 0; l < 2; l++) {
    size_t n;
    const char *const *w = cs_stopword_list(list_langs[l], &n);
    CHECK(w != NULL && n > 100);
    for (size_t i = 0; w && i < n; i++) {
      if (i > 0 && strcmp(w[i - 1], w[i]) >= 0) {
        printf("  %s stop list out of order at \"%s\"\n", list_langs[l], w[i]);
        check_failed = 1;
      }
      if (!cs_stopword(list_langs[l], w[i], strlen(w[i]))) {
        printf("  %s stop word \"%s\" not found\n", list_langs[l], w[i]);
        check_failed = 1;
      }
    }
  }
  CHECK(cs_stopword("es", "está", strlen("está")));
  CHECK(cs_stopword("es", "esta", 4));
  CHECK(cs_stopword("es", "él", strlen("él")));
  CHECK(cs_stopword("es", "el", 2));
  CHECK(cs_stopword("es", "más", strlen("más")));
  CHECK(cs_stopword(NULL, "de", 2));
  CHECK(cs_stopword("", "de", 2));
  CHECK(cs_stopword("es-MX", "de", 2));
  CHECK(cs_stopword("ES", "de", 2));
  CHECK(cs_stopword("es", "dexyz", 2)); /* the length counts, not a NUL */
  CHECK(!cs_stopword("es", "d", 1));
  CHECK(!cs_stopword("es", "casa", 4));
  CHECK(!cs_stopword("es", "estado", 6));
  CHECK(!cs_stopword("es", "", 0));
  CHECK(!cs_stopword("es", "the", 3));
  CHECK(cs_stopword("en", "the", 3));
  CHECK(cs_stopword("en_GB", "don't", 5));
  CHECK(!cs_stopword("en", "de", 2));
  CHECK(!cs_stopword("fr", "le", 2));
  CHECK(!cs_stopword("e", "de", 2));
  CHECK(cs_stopword_list("fr", &(size_t){0}) == NULL);
}

static void check_fold_word(cs_analyzer *a) {
  (void)a;
  static const struct {
    const char *in, *out;
  } v[] = {
      {"Informático", "informatico"},
      {"AÑO", "año"},
      {"ano", "ano"},
      {"Pingüino", "pinguino"},
      {"ÑANDÚ", "ñandu"},
      {"n\xCC\x83"
       "o",
       "ño"}, /* decomposed ñ is recomposed */
      {"N\xCC\x83", "ñ"},
      {"a\xCC\x81\xCC\x83", "a"}, /* a tilde on a vowel goes */
      {"Straße", "strasse"},      /* full case folding */
      {"ﬁesta", "fiesta"},
      {"İstanbul", "istanbul"},
      {"don’t", "don't"},
      {"in\xC2\xAD"
       "for\xC2\xAD"
       "má\xC2\xAD"
       "ti\xC2\xAD"
       "co",
       "informatico"},
      {"2.000", "2000"},
      {"1.234.567", "1234567"},
      {"2,5", "2,5"},
      {"3.5", "3.5"},
      {"Ça", "ca"},
      {"ÀÉÎÕÜ", "aeiou"},
      {"\xE0\xA8\xB3", "\xE0\xA8\xB2\xE0\xA8\xBC"}, /* U+0A33 stays decomposed in NFC */
      {"", ""},
  };
  for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
    char out[64];
    int n = cs_fold_word(v[i].in, strlen(v[i].in), out, sizeof(out));
    if (n != (int)strlen(v[i].out) || strcmp(out, v[i].out) != 0) {
      printf("  cs_fold_word(\"%s\") = %d \"%s\", want \"%s\"\n", v[i].in, n, n >= 0 ? out : "",
             v[i].out);
      check_failed = 1;
    }
  }
  char small[4];
  CHECK(cs_fold_word("hola", 4, small, sizeof(small)) == -1); /* needs 5 */
  CHECK(cs_fold_word("hol", 3, small, sizeof(small)) == 3);
  CHECK(cs_fold_word("año", strlen("año"), small, sizeof(small)) == -1);
  CHECK(cs_fold_word("x", 1, small, 0) == -1);
  char out[16];
  CHECK(cs_fold_word("a\xFF"
                     "b",
                     3, out, sizeof(out)) == 5 &&
        strcmp(out, "a\xEF\xBF\xBD"
                    "b") == 0);
  CHECK(cs_fold_word("a\0b", 3, out, sizeof(out)) == 2 && strcmp(out, "ab") == 0);
}

static void check_languages(cs_analyzer *a) {
  (void)a;
  CHECK(cs_analyzer_has_language("es"));
  CHECK(cs_analyzer_has_language(NULL));
  CHECK(cs_analyzer_has_language(""));
  CHECK(cs_analyzer_has_language("en"));
  CHECK(cs_analyzer_has_language("en-US"));
  CHECK(cs_analyzer_has_language("PT_br"));
  CHECK(cs_analyzer_has_language("fr"));
  CHECK(cs_analyzer_has_language("de"));
  CHECK(!cs_analyzer_has_language("xx"));
  CHECK(!cs_analyzer_has_language("gl")); /* Galician: no Snowball stemmer */
  CHECK(!cs_analyzer_has_language("a-very-long-language-tag-indeed"));
}

/* Robustness on inputs too big or too odd for case files. */
static void check_robustness(cs_analyzer *a) {
  const cs_token *t;
  size_t n;
  buf err = {0};

  CHECK(cs_analyze(a, "es", NULL, 0, &t, &n) == 0 && n == 0 && t != NULL);
  CHECK(cs_analyze(a, "es", NULL, 10, &t, &n) == 0 && n == 0);
  CHECK(cs_analyze(a, "es", "", 0, &t, &n) == 0 && n == 0);
  CHECK(cs_analyze(a, "es", "¿¡!?...,;:() — «»", strlen("¿¡!?...,;:() — «»"), &t, &n) == 0 &&
        n == 0);
  CHECK(cs_analyze(a, "es", "\0\0\0", 3, &t, &n) == 0 && n == 0);
  CHECK(cs_analyze(a, "es", "\xCC\x81\xCC\x81", 4, &t, &n) == 0 && n == 0);

  /* A 1 MB word, ASCII and accented: one truncated token over all of it. */
  size_t big = 1u << 20;
  char *w = malloc(big + 8);
  if (!w) exit(2);
  memset(w, 'a', big);
  CHECK(cs_analyze(a, "es", w, big, &t, &n) == 0 && n == 1 && t[0].end == big &&
        t[0].term_len == CS_TERM_MAX && t[0].word_len == CS_TERM_MAX &&
        (t[0].flags & CS_TOK_TRUNCATED));
  for (size_t i = 0; i + 1 < big; i += 2)
    memcpy(w + i, "\xC3\xA1", 2); /* á */
  CHECK(cs_analyze(a, "es", w, big, &t, &n) == 0 && n == 1 && t[0].word_len == CS_TERM_MAX &&
        t[0].word[0] == 'a' && (t[0].flags & CS_TOK_TRUNCATED));
  /* A word of one letter and a megabyte of combining accents folds to "a". */
  w[0] = 'a';
  for (size_t i = 1; i + 1 < big; i += 2)
    memcpy(w + i, "\xCC\x81", 2);
  CHECK(cs_analyze(a, "es", w, big - 1, &t, &n) == 0 && n == 1 && strcmp(t[0].word, "a") == 0 &&
        t[0].end == big - 1);
  /* A megabyte of digits. */
  memset(w, '7', big);
  CHECK(cs_analyze(a, "es", w, big, &t, &n) == 0 && n == 1 &&
        t[0].flags == (CS_TOK_NUMBER | CS_TOK_TRUNCATED) && t[0].term_len == CS_TERM_MAX);
  free(w);

  /* Past CS_ANALYZE_MAX: analysis stops at the bound, even mid-character. */
  size_t huge = CS_ANALYZE_MAX + 1000;
  char *h = malloc(huge);
  if (!h) exit(2);
  for (size_t i = 0; i + 4 <= huge; i += 4)
    memcpy(h + i, "ño ", 4);
  CHECK(cs_analyze(a, "es", h, huge, &t, &n) == 0 && n == CS_ANALYZE_MAX / 4 &&
        t[n - 1].end <= CS_ANALYZE_MAX && strcmp(t[n - 1].word, "ño") == 0);
  CHECK(check_invariants(h, huge, t, n, &err) == 0);
  /* Starting one byte later, the bound falls inside the "ñ" of a word
   * ("\xB1o ño ... ñ|"): that word must vanish and the one before stay. */
  CHECK(cs_analyze(a, "es", h + 1, huge - 1, &t, &n) == 0 && n == CS_ANALYZE_MAX / 4 &&
        t[n - 1].end == CS_ANALYZE_MAX - 2 && strcmp(t[n - 1].word, "ño") == 0 &&
        strcmp(t[0].word, "o") == 0);
  free(h);

  /* Buffers are reused across calls: results must not leak between them. */
  const char *s1 = "Señorías, la convalidación del decreto.";
  CHECK(cs_analyze(a, "es", s1, strlen(s1), &t, &n) == 0 && n == 5);
  buf first = {0};
  for (size_t i = 0; i < n; i++)
    format_token(&first, t[i].term, t[i].term_len, t[i].word, t[i].word_len, t[i].pos, t[i].start,
                 t[i].end, t[i].flags);
  CHECK(cs_analyze(a, "en", "Completely different text", 25, &t, &n) == 0 && n == 3);
  CHECK(cs_analyze(a, "es", s1, strlen(s1), &t, &n) == 0 && n == 5);
  buf second = {0};
  for (size_t i = 0; i < n; i++)
    format_token(&second, t[i].term, t[i].term_len, t[i].word, t[i].word_len, t[i].pos, t[i].start,
                 t[i].end, t[i].flags);
  CHECK(first.len == second.len && memcmp(first.p, second.p, first.len) == 0);
  free(first.p);
  free(second.p);

  /* Many tokens in one call: the arena moves while tokens are added. */
  size_t words = 200000;
  buf many = {0};
  for (size_t i = 0; i < words; i++)
    buf_add(&many, i % 2 ? "canción " : "casa ", i % 2 ? 9 : 5);
  CHECK(cs_analyze(a, "es", many.p, many.len, &t, &n) == 0 && n == words &&
        strcmp(t[words - 1].term, "cancion") == 0 && strcmp(t[0].word, "casa") == 0);
  CHECK(check_invariants(many.p, many.len, t, n, &err) == 0);
  free(many.p);

  /* Two analyzers are independent. */
  cs_analyzer *b = cs_analyzer_create();
  CHECK(b != NULL);
  if (b) {
    const cs_token *tb;
    size_t nb;
    CHECK(cs_analyze(b, "es", "hola", 4, &tb, &nb) == 0 && nb == 1);
    CHECK(cs_analyze(a, "es", "adiós", strlen("adiós"), &t, &n) == 0 && n == 1);
    CHECK(strcmp(tb[0].word, "hola") == 0 && strcmp(t[0].word, "adios") == 0);
    cs_analyzer_destroy(b);
  }
  cs_analyzer_destroy(NULL);
  if (err.len) printf("%s", err.p);
  free(err.p);
}

/* ---------------------------------------------------------------- */

/* A token's memo is what the writer keys the word's and term's pending
 * entries on: one memo must always mean the same term, word and flags, also
 * after its cache slot went to other words (here 40,000 distinct ones for
 * 16,384 slots), and a repeated word must get one. */
static void check_memo(cs_analyzer *shared) {
  (void)shared; /* a fresh analyzer: fill numbers from 1 */
  cs_analyzer *a = cs_analyzer_create();
  CHECK(a != NULL);
  if (!a) return;
  enum { WORDS = 40000, ROUNDS = 2 };
  size_t cap = (size_t)WORDS * ROUNDS * 3 + 64; /* fills: at most one per token */
  char(*seen)[96] = calloc(cap, sizeof *seen);  /* by fill number: "term|word|flags" */
  CHECK(seen != NULL);
  if (!seen) {
    cs_analyzer_destroy(a);
    return;
  }
  const cs_token *t;
  size_t n;
  CHECK(cs_analyze(a, "es", "cantaban cantaban", 17, &t, &n) == 0 && n == 2);
  if (n == 2) CHECK(t[0].memo != 0 && t[0].memo == t[1].memo);
  CHECK(cs_analyze(a, "es", "l'amic", 6, &t, &n) == 0 && n >= 1);
  if (n >= 1) CHECK(t[0].memo == 0); /* the ICU path: no memo */
  char text[64];
  for (int r = 0; r < ROUNDS; r++) {
    for (int i = 0; i < WORDS; i++) {
      int len = snprintf(text, sizeof text, "Palabra%dx niños W%d", i, (i * 7919) % WORDS);
      if (cs_analyze(a, "es", text, (size_t)len, &t, &n)) {
        CHECK(0);
        continue;
      }
      for (size_t k = 0; k < n; k++) {
        if (!t[k].memo) continue;
        uint64_t fill = t[k].memo >> CS_TOKEN_MEMO_BITS;
        char rec[96];
        snprintf(rec, sizeof rec, "%s|%s|%u", t[k].term, t[k].word, (unsigned)t[k].flags);
        if (fill >= cap) {
          CHECK(fill < cap);
          continue;
        }
        if (!seen[fill][0]) memcpy(seen[fill], rec, sizeof rec);
        CHECK(strcmp(seen[fill], rec) == 0);
      }
    }
  }
  free(seen);
  cs_analyzer_destroy(a);
}

static int print_tokens(const char *lang, const char *text) {
  cs_analyzer *a = cs_analyzer_create();
  buf in = {0};
  if (!a || unescape(&in, text, strlen(text))) return 2;
  const cs_token *t;
  size_t n;
  if (cs_analyze(a, lang, in.p ? in.p : "", in.len, &t, &n)) return 2;
  for (size_t i = 0; i < n; i++) {
    buf line = {0};
    format_token(&line, t[i].term, t[i].term_len, t[i].word, t[i].word_len, t[i].pos, t[i].start,
                 t[i].end, t[i].flags);
    printf("%s\n", line.p);
    free(line.p);
  }
  free(in.p);
  cs_analyzer_destroy(a);
  return 0;
}

/* --corpus: every turn of the ParlaMint-ES corpus (JSON lines, gzip) through
 * both paths, which must agree token for token; every `every`-th sitting
 * only (the sanitizer build takes a sample). Prints both paths' speed
 * (information only, never asserted). Exit 77 (skipped) without the file. */
typedef struct corpus_ctx {
  cs_analyzer *fast, *icu;
  long turns, tokens, bad, failed;
  double bytes, t_fast, t_icu;
  buf err;
} corpus_ctx;

static void corpus_turn(void *ctx, long sitting, size_t i, const char *text, size_t len) {
  corpus_ctx *x = ctx;
  const cs_token *t;
  size_t n;
  struct timespec a, b, c;
  clock_gettime(CLOCK_MONOTONIC, &a);
  if (cs_analyze(x->fast, "es", text, len, &t, &n)) {
    x->failed++;
    return;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  x->err.len = 0;
  if (same_as_icu(x->icu, "es", text, len, t, n, &x->err)) {
    if (x->bad++ < 5) {
      buf in = {0};
      escape(&in, text, len < 400 ? len : 400);
      printf("  turn %zu of sitting %ld > %s\n%s", i, sitting, in.p, x->err.p);
      free(in.p);
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &c);
  x->t_fast += (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  x->t_icu += (double)(c.tv_sec - b.tv_sec) + (double)(c.tv_nsec - b.tv_nsec) / 1e9;
  x->turns++;
  x->tokens += (long)n;
  x->bytes += (double)len;
}

static int run_corpus(const char *path, long every) {
  corpus_ctx x = {0};
  x.fast = cs_analyzer_create();
  x.icu = cs_analyzer_create();
  if (!x.fast || !x.icu) return 2;
  cs_analyzer_set_fast_path(x.icu, 0);
  long sitting = th_corpus_each(path, every, corpus_turn, &x);
  free(x.err.p);
  cs_analyzer_destroy(x.fast);
  cs_analyzer_destroy(x.icu);
  if (sitting < 0) return 77;
  if (x.failed) return 2;
  printf("%ld sittings read, every %ld-th analyzed: %ld turns, %ld tokens, %.1f MB\n", sitting,
         every, x.turns, x.tokens, x.bytes / 1e6);
  printf("fast path %.1f MB/s, ICU path %.1f MB/s (information only)\n", x.bytes / 1e6 / x.t_fast,
         x.bytes / 1e6 / x.t_icu);
  if (x.turns == 0) {
    printf("FAIL: no turn read from %s\n", path);
    return 1;
  }
  printf("%ld turns differ\n", x.bad);
  printf("%ld passed, %ld failed\n", x.turns - x.bad, x.bad);
  return x.bad ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "-p") == 0) return print_tokens(argv[2], argv[3]);
  if ((argc == 3 || argc == 4) && strcmp(argv[1], "--corpus") == 0)
    return run_corpus(argv[2], argc == 4 ? atol(argv[3]) > 0 ? atol(argv[3]) : 1 : 1);
  if (argc > 1 && argv[1][0] == '-') {
    fprintf(stderr,
            "usage: %s FILE...\n       %s -p LANG TEXT\n       %s --corpus JSONL_GZ [EVERY]\n",
            argv[0], argv[0], argv[0]);
    return 2;
  }
  cs_analyzer *a = cs_analyzer_create();
  if (!a) {
    fprintf(stderr, "cs_analyzer_create failed\n");
    return 2;
  }
  run_check("utf8_valid", check_utf8_valid, a);
  run_check("utf8_repair", check_utf8_repair, a);
  run_check("utf8_cut", check_utf8_cut, a);
  run_check("stopwords", check_stopwords, a);
  run_check("fold_word", check_fold_word, a);
  run_check("languages", check_languages, a);
  run_check("robustness", check_robustness, a);
  run_check("fuzz", check_fuzz, a);
  run_check("memo", check_memo, a);
  for (int i = 1; i < argc; i++)
    run_file(a, argv[i]);
  cs_analyzer_destroy(a);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
