/*
 * The highlighter's word finding (cs__text_words: word boundaries only,
 * stop words asked for the ends of a match) against the writer's full
 * analysis (cs_analyze: folding, stemming, stop words for every token),
 * which is what positions in the postings come from:
 *   - cs_analyze_bounds gives the same tokens (pos, start, end, number)
 *     and cs_analyzer_is_stop the same stop flags as cs_analyze;
 *   - a snippet (window of CS__SNIPPET_BYTES) and a whole highlighted text
 *     are byte-identical whichever the tokens come from, for single words,
 *     phrases starting or ending on a stop word, and stale positions past
 *     the end;
 *   - and so is a long turn's highlight found from its word-scan restart
 *     points (cs__highlight_turn with the marks the writer stores,
 *     tmarks.h, format 8), which scans only from the mark before a match.
 *
 *   test_highlight                  built-in texts (accents, ß, typographic
 *                                   apostrophes, other scripts, numbers),
 *                                   with and without the fast path, and
 *                                   3,000 random texts made of the pieces
 *                                   where the word rules meet
 *   test_highlight --corpus GZ [N]  every turn of every N-th sitting of
 *                                   ParlaMint-ES (JSON lines, gzip), in
 *                                   Spanish and, every 8th turn, English;
 *                                   exit 77 (skipped) without the file
 */
#include "analyzer.h"
#include "highlight.h"
#include "tmarks.h"

#include "check.h"
#include "corpus.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CS_CHECK_COUNTERS;

static uint64_t next_random(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Where differences are told (NULL: not told). */
static FILE *diff_log;

static void show(const char *what, const char *lang, const char *text, size_t len) {
  if (diff_log)
    fprintf(diff_log, "  %s (%s): %.*s%s\n", what, lang, (int)(len < 300 ? len : 300), text,
            len > 300 ? "..." : "");
}

static void tell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tell(const char *fmt, ...) {
  if (!diff_log) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("DIFFERENT: ", diff_log);
  vfprintf(diff_log, fmt, ap);
  fputc('\n', diff_log);
  va_end(ap);
}

/* One text: tokens and stop flags, then a few sets of spans through both
 * highlighters. `full` and `fast` are two analyzers (the fast one's tokens
 * must outlive the full one's calls). Returns 0 when all agree, else 1
 * (told to diff_log). */
static int compare(cs_analyzer *full, cs_analyzer *fast, const char *lang, const char *text,
                   size_t len, uint64_t *seed) {
  const cs_token *ft, *bt;
  size_t fn, bn;
  if (cs_analyze(full, lang, text, len, &ft, &fn) ||
      cs_analyze_bounds(fast, lang, text, len, UINT32_MAX, &bt, &bn)) {
    tell("analysis failed");
    return 1;
  }
  if (fn != bn) {
    tell("cs_analyze_bounds: %zu tokens, cs_analyze %zu", bn, fn);
    show("text", lang, text, len);
    return 1;
  }
  for (size_t i = 0; i < fn; i++) {
    int stop = cs_analyzer_is_stop(fast, lang, text, &bt[i]);
    if (bt[i].pos != ft[i].pos || bt[i].start != ft[i].start || bt[i].end != ft[i].end ||
        (bt[i].flags & CS_TOK_NUMBER) != (ft[i].flags & CS_TOK_NUMBER) ||
        stop != ((ft[i].flags & CS_TOK_STOP) != 0)) {
      tell("token %zu \"%.*s\": bounds %u [%u,%u) number %d stop %d, analysis %u [%u,%u) "
           "flags %u",
           i, (int)(ft[i].end - ft[i].start), text + ft[i].start, bt[i].pos, bt[i].start, bt[i].end,
           (bt[i].flags & CS_TOK_NUMBER) != 0, stop, ft[i].pos, ft[i].start, ft[i].end,
           ft[i].flags);
      show("text", lang, text, len);
      return 1;
    }
  }
  cs__words ref = {ft, fn, NULL, {0}, 0};
  cs_str s = {text, len};
  cs_buf a, b, c, marks;
  cs_buf_init(&a);
  cs_buf_init(&b);
  cs_buf_init(&c);
  cs_buf_init(&marks);
  /* The restart points the writer stores for a long turn (tmarks.h). */
  cs_tmarks_build(text, len, ft, fn, &marks);
  int bad = 0;
  for (int set = 0; set < 6 && !bad; set++) {
    cs__pspan sp[8], sp2[8], sp3[8];
    size_t n = 0;
    uint32_t nt = (uint32_t)fn;
    if (set < 3 && nt) { /* a few words anywhere */
      n = 1 + next_random(seed) % 5;
      for (size_t k = 0; k < n; k++) {
        uint32_t p = (uint32_t)(next_random(seed) % nt);
        sp[k] = (cs__pspan){p, p};
      }
    } else if (set == 3 && nt) { /* phrases, possibly from or to a stop word */
      n = 1 + next_random(seed) % 3;
      for (size_t k = 0; k < n; k++) {
        uint32_t p = (uint32_t)(next_random(seed) % nt);
        sp[k] = (cs__pspan){p, p + (uint32_t)(next_random(seed) % 4)};
      }
    } else if (set == 4) { /* stale positions: past the end, across it */
      sp[n++] = (cs__pspan){nt + 2, nt + 4};
      if (nt) sp[n++] = (cs__pspan){nt - 1, nt + 3};
    } else if (set == 5 && nt) { /* the last word, whole text */
      sp[n++] = (cs__pspan){nt - 1, nt - 1};
    }
    if (!n) continue;
    memcpy(sp2, sp, sizeof sp);
    memcpy(sp3, sp, sizeof sp);
    size_t window = set == 5 ? 0 : CS__SNIPPET_BYTES;
    cs_buf_reset(&a);
    cs_buf_reset(&b);
    cs__highlight(s, &ref, sp, n, window, NULL, &a);
    int rc = cs__highlight_field(fast, (cs_str){lang, strlen(lang)}, s, sp2, n, window, NULL, &b);
    if (rc || a.err || a.len != b.len || (a.len && memcmp(a.p, b.p, a.len) != 0)) {
      tell("span set %d (first span %u..%u of %zu): highlights differ", set, sp[0].first,
           sp[0].last, n);
      show("text", lang, text, len);
      show("full analysis", lang, (const char *)a.p, a.len);
      show("highlighter", lang, (const char *)b.p, b.len);
      bad = 1;
      break;
    }
    cs_buf_reset(&c);
    rc = cs__highlight_turn(fast, (cs_str){lang, strlen(lang)}, s,
                            (cs_str){(const char *)marks.p, marks.len}, sp3, n, window, NULL, &c);
    if (rc || marks.err || a.len != c.len || (a.len && memcmp(a.p, c.p, a.len) != 0)) {
      tell("span set %d (first span %u..%u of %zu): highlights from the marks differ", set,
           sp[0].first, sp[0].last, n);
      show("text", lang, text, len);
      show("full analysis", lang, (const char *)a.p, a.len);
      show("from the marks", lang, (const char *)c.p, c.len);
      bad = 1;
    }
  }
  cs_buf_free(&a);
  cs_buf_free(&b);
  cs_buf_free(&c);
  cs_buf_free(&marks);
  return bad;
}

static const char *const texts[] = {
    "El Gobierno y la oposición, en el Congreso de los Diputados: ¿qué dijo ÉL?",
    "ÉL Y ELLA; Él y Ella. MÁS O MENOS, más o menos: aquél, AQUÉL, Aquéllos.",
    "Die Straße, DASS und daß: STRASSE mit ß am Ende ß.",
    "Don’t DON'T l’home L'HOME «entre comillas» “typographic” — guion—largo",
    "2.000 euros, 1.234.567,89 y 3,5; el 1º de mayo; COVID19 e-mail: ana@example.org",
    "Ελληνικά και ΚΑΙ, русский И и, 中文字符 mixed con español y ÑANDÚ AÑO año",
    "soft\xC2\xADhyphen zero\xE2\x80\x8Bwidth invalid \xFF\xFE bytes \xC3 cut ÿ Ÿ × ÷ º ª",
    "I am THE one and the Only: it's IT'S what THEY'RE doing, aren’t they?",
    "A las 12:30 horas, 3'5 y 4.5; 1;2 y 7,5 - EE.UU. e.g. U.S.A: art. 131.2.b) .5 ,5 5. 5,",
    "",
    "   ",
};

static int run_builtin(void) {
  cs_analyzer *full = cs_analyzer_create(), *fast = cs_analyzer_create(),
              *icu = cs_analyzer_create(); /* bounds without the fast path */
  if (!full || !fast || !icu) return 2;
  cs_analyzer_set_fast_path(icu, 0);
  uint64_t seed = 0x9E3779B97F4A7C15ULL;
  diff_log = stderr;
  static const char *const langs[] = {"es", "en", "de", "xx"};
  for (size_t l = 0; l < sizeof langs / sizeof *langs; l++) {
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
      int bad = 0;
      for (int r = 0; r < 20 && !bad; r++) /* several random span sets per text */
        bad = compare(full, r % 2 ? icu : fast, langs[l], texts[i], strlen(texts[i]), &seed);
      th_check(!bad, "text %zu in \"%s\": the highlighter's words are the analyzer's", i, langs[l]);
    }
  }
  /* Random texts from pieces where the rules meet: joiners between letters
   * or digits, two-byte letters, ß, ×, invalid bytes, NUL, format
   * characters, typographic apostrophes, other scripts. */
  static const char *const pieces[] = {"a",
                                       "Z",
                                       "el",
                                       "DE",
                                       "5",
                                       "12",
                                       " ",
                                       "  ",
                                       "\n",
                                       ".",
                                       ",",
                                       ";",
                                       ":",
                                       "'",
                                       "-",
                                       "/",
                                       "(",
                                       "\xC2\xBF",
                                       "\xC2\xAB",
                                       "\xC3\x89",
                                       "\xC3\xB1",
                                       "\xC3\x9F",
                                       "\xC3\x97",
                                       "\xC3",
                                       "\xFF",
                                       "\xE2\x80\x99",
                                       "\xC2\xAD",
                                       "\xCE\x9A\xCE\xB1\xCE\xB9",
                                       "\xE4\xB8\xAD",
                                       "@",
                                       "#",
                                       "\xC2\xBA"};
  int bad = 0;
  for (int t = 0; t < 3000 && !bad; t++) {
    char text[256];
    size_t len = 0;
    int n = (int)(next_random(&seed) % 24);
    for (int k = 0; k < n; k++) {
      const char *pc = pieces[next_random(&seed) % (sizeof pieces / sizeof *pieces)];
      size_t pl = strlen(pc);
      memcpy(text + len, pc, pl);
      len += pl;
    }
    if (n && next_random(&seed) % 8 == 0) text[next_random(&seed) % len] = 0; /* a NUL inside */
    const char *lang = langs[next_random(&seed) % 2];
    bad = compare(full, t % 2 ? icu : fast, lang, text, len, &seed);
  }
  th_check(!bad, "3000 random texts: the highlighter's words are the analyzer's");
  /* Long ones, which have word-scan restart points (tmarks.h). */
  for (int t = 0; t < 600 && !bad; t++) {
    char text[4096];
    size_t len = 0;
    int n = 60 + (int)(next_random(&seed) % 400);
    for (int k = 0; k < n; k++) {
      const char *pc = pieces[next_random(&seed) % (sizeof pieces / sizeof *pieces)];
      if (k % 3 == 0) pc = " ";
      size_t pl = strlen(pc);
      memcpy(text + len, pc, pl);
      len += pl;
    }
    const char *lang = langs[next_random(&seed) % 2];
    bad = compare(full, t % 2 ? icu : fast, lang, text, len, &seed);
  }
  th_check(!bad, "600 long random texts: highlights from the restart points are the same");
  cs_analyzer_destroy(full);
  cs_analyzer_destroy(fast);
  cs_analyzer_destroy(icu);
  return th_check_done();
}

typedef struct corpus_ctx {
  cs_analyzer *full, *fast;
  uint64_t seed;
  long turns, bad;
} corpus_ctx;

static void corpus_turn(void *ctx, long sitting, size_t turn, const char *text, size_t len) {
  corpus_ctx *x = ctx;
  (void)sitting;
  (void)turn;
  diff_log = x->bad < 10 ? stderr : NULL; /* the first few differences are told */
  x->bad += compare(x->full, x->fast, "es", text, len, &x->seed);
  if (x->turns % 8 == 0) x->bad += compare(x->full, x->fast, "en", text, len, &x->seed);
  x->turns++;
}

static int run_corpus(const char *path, long every) {
  corpus_ctx x = {cs_analyzer_create(), cs_analyzer_create(), 0x2545F4914F6CDD1DULL, 0, 0};
  if (!x.full || !x.fast) return 2;
  long sitting = th_corpus_each(path, every, corpus_turn, &x);
  cs_analyzer_destroy(x.full);
  cs_analyzer_destroy(x.fast);
  if (sitting < 0) return 77;
  printf("%ld sittings read, every %ld-th compared: %ld turns, %ld differ\n", sitting, every,
         x.turns, x.bad);
  th_check(x.turns > 0, "turns read from %s", path);
  th_check(x.bad == 0, "%ld of %ld turns highlighted differently", x.bad, x.turns);
  return th_check_done();
}

int main(int argc, char **argv) {
  if ((argc == 3 || argc == 4) && strcmp(argv[1], "--corpus") == 0)
    return run_corpus(argv[2], argc == 4 && atol(argv[3]) > 0 ? atol(argv[3]) : 1);
  if (argc != 1) {
    fprintf(stderr, "usage: %s [--corpus JSONL_GZ [EVERY]]\n", argv[0]);
    return 2;
  }
  return run_builtin();
}
