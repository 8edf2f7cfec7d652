/*
 * The analyzer: the one place that decides what a "word" is, for the indexer
 * and the query engine alike. A text goes through these steps:
 *
 *   bytes --U8_NEXT--> UTF-16 + map back to byte offsets
 *         --ICU word break--> word segments (punctuation and spaces dropped)
 *         --u_strFoldCase--> lowercased word (' and ’ unified)
 *         --stop list, Snowball stemmer (on the lowercased, accented form)-->
 *         --diacritic folding of stem and word--> cs_token.term / .word
 *
 * Stemming comes before diacritic folding because Snowball's Spanish rules
 * look at accents ("convalidación" -> "convalid", but "convalidacion" is left
 * alone). Folding is NFD, drop U+0300..U+036F except the tilde of ñ, NFC:
 * "informático" becomes "informatico" and "pingüino" "pinguino", while "año"
 * stays apart from "ano". Invisible format characters (soft hyphen, zero
 * width joiners, BOM) are dropped too, so a hyphenation hint inside a word
 * does not hide it.
 *
 * Numbers are never stemmed; Spanish thousands separators go ("2.000" ->
 * "2000", in term and word alike, so both spellings find each other) while a
 * decimal comma stays ("2,5"). Words holding a digit, '.' or '@' (e-mail
 * addresses, "EE.UU", "1º", "h2o") are not stemmed either: Snowball's
 * suffix rules would only damage them.
 *
 * Invalid UTF-8 bytes become spaces in the UTF-16 copy, so they separate
 * words and never reach ICU, while the offset map keeps every token's
 * start/end pointing into the caller's original bytes.
 *
 * Performance: one analyzer is reused for millions of texts, so all buffers
 * live in it, grow geometrically and are never shrunk; the break iterator
 * and the Snowball stemmers are created once. Pure-ASCII words skip ICU's
 * case folding and normalization entirely, and the strings of all tokens of
 * one call go into one arena. cs_analyze_bounds, for highlighting, only
 * finds where the words are: the fast path's rules in one pass (runs of
 * ASCII letters and digits eight bytes at a time), no folding, stemming or
 * cache, and stop words asked per token (cs_analyzer_is_stop).
 */
#include "analyzer.h"

#include "stopwords.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libstemmer.h>
#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

/* ISO 639-1 codes and the Snowball algorithm for each. The first entry is
 * the default language. Norwegian Bokmål and Nynorsk share one stemmer. */
static const struct cs_lang {
  const char *iso;
  const char *snowball;
} langs[] = {
    {"es", "spanish"},    {"en", "english"},   {"ar", "arabic"},     {"ca", "catalan"},
    {"da", "danish"},     {"de", "german"},    {"el", "greek"},      {"eu", "basque"},
    {"fi", "finnish"},    {"fr", "french"},    {"ga", "irish"},      {"hi", "hindi"},
    {"hu", "hungarian"},  {"hy", "armenian"},  {"id", "indonesian"}, {"it", "italian"},
    {"lt", "lithuanian"}, {"nb", "norwegian"}, {"ne", "nepali"},     {"nl", "dutch"},
    {"nn", "norwegian"},  {"no", "norwegian"}, {"pt", "portuguese"}, {"ro", "romanian"},
    {"ru", "russian"},    {"sr", "serbian"},   {"sv", "swedish"},    {"ta", "tamil"},
    {"tr", "turkish"},    {"yi", "yiddish"},
};
#define NLANGS (sizeof(langs) / sizeof(langs[0]))

/* Lowercased words longer than this (in UTF-8 bytes) are not stemmed. Only
 * words whose folded form still fits CS_TERM_MAX get here, so this only
 * triggers on pathological runs of combining marks; it keeps Snowball from
 * growing its buffer to the size of such a run. */
#define STEM_INPUT_MAX 1024

/* Stemming is half the analyzer's time, and word frequencies are Zipfian,
 * so each analyzer remembers the folded stem of recently seen words in a
 * direct-mapped cache: a slot holds the lowercased word and its term one
 * after the other. Words too long for a slot are simply not cached. */
#define STEM_CACHE_SLOTS 8192 /* power of two; 512 KB */

/* The fast path's word cache (below): a memo's low bits are its slot.
 * The largest cache (8 MB), the writer's (cs_analyzer_set_word_cache);
 * the others (WORD_CACHE_SMALL) 2 MB. */
#define WORD_CACHE_SLOTS (1u << CS_TOKEN_MEMO_BITS)
#define WORD_CACHE_SMALL (1u << 14)

typedef struct stem_slot {
  uint8_t lang; /* index in langs[] + 1; 0 = empty */
  uint8_t key_len;
  uint8_t term_len;
  char data[61]; /* key bytes, then term bytes */
} stem_slot;

/* UTF-16 scratch buffers used while folding one word. */
typedef struct fold_buf {
  UChar *low; /* case-folded word */
  size_t low_cap;
  UChar *nfd; /* decomposed, then filtered in place */
  size_t nfd_cap;
  UChar *nfc; /* recomposed */
  size_t nfc_cap;
  UChar *stem; /* a non-ASCII stem converted back to UTF-16 */
  size_t stem_cap;
  const UNormalizer2 *nfd_norm; /* ICU singletons, not owned */
  const UNormalizer2 *nfc_norm;
} fold_buf;

struct cs_analyzer {
  UBreakIterator *bi;

  /* The text being analyzed: UTF-16 copy and, per UTF-16 unit, the byte
   * offset of the character it belongs to; map[n16] is the text length. */
  UChar *u16;
  size_t u16_cap;
  uint32_t *map;
  size_t map_cap;

  fold_buf fb;
  char *low8; /* the lowercased word in UTF-8, for stop list and stemmer */
  size_t low8_cap;

  /* Output. Token strings live in the arena; while it may still move they
   * are referred to by offsets (str_off), turned into pointers at the end. */
  cs_token *toks;
  size_t tok_cap;
  size_t ntok;
  uint32_t *str_off; /* 2 per token: term, word */
  size_t str_off_cap;
  char *arena;
  size_t arena_cap;
  size_t arena_len;

  struct sb_stemmer *stemmers[NLANGS];
  unsigned char stemmer_tried[NLANGS];
  stem_slot *stem_cache;        /* NULL until first needed, or if calloc failed */
  struct word_slot *word_cache; /* the fast path's; NULL like stem_cache */
  uint32_t word_slots;          /* its slots: a power of two, at most WORD_CACHE_SLOTS */
  uint64_t word_fills;          /* slots filled so far (the memos' high bits) */
  struct word_slot *pf_slot;    /* prefetch_next's slot for the run text[pf_b..pf_e) of */
  size_t pf_b, pf_e;            /* the text being analyzed; NULL: none */
  int no_fast;                  /* cs_analyzer_set_fast_path(a, 0) */
  uint8_t bclass[256];          /* byte classes of cs_analyze_bounds (BC_*) */
};

static void bounds_classes(uint8_t *cls);

/* ---------------------------------------------------------------- */
/* Buffers                                                          */
/* ---------------------------------------------------------------- */

/* Makes *pp (a pointer to an array of `size`-byte elements with *cap
 * elements) hold at least `need` elements, doubling so that repeated calls
 * cost amortized O(1). Contents are kept. */
static int grow(void *pp, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 64;
  while (n < need) {
    if (n > SIZE_MAX / 2 / size) return -ENOMEM;
    n *= 2;
  }
  void *p;
  memcpy(&p, pp, sizeof(p));
  void *q = realloc(p, n * size);
  if (!q) return -ENOMEM;
  memcpy(pp, &q, sizeof(q));
  *cap = n;
  return 0;
}

static void fold_buf_free(fold_buf *fb) {
  free(fb->low);
  free(fb->nfd);
  free(fb->nfc);
  free(fb->stem);
  memset(fb, 0, sizeof(*fb));
}

static int fold_buf_init(fold_buf *fb) {
  UErrorCode err = U_ZERO_ERROR;
  memset(fb, 0, sizeof(*fb));
  fb->nfd_norm = unorm2_getNFDInstance(&err);
  if (U_FAILURE(err)) return -ENOMEM;
  fb->nfc_norm = unorm2_getNFCInstance(&err);
  if (U_FAILURE(err)) return -ENOMEM;
  return 0;
}

/* ---------------------------------------------------------------- */
/* Languages                                                        */
/* ---------------------------------------------------------------- */

/* Index in langs[] of a language tag ("es", "es-ES", "EN_us", "spanish"),
 * 0 (Spanish) for NULL or "", -1 when we have no stemmer for it. */
static int lang_index(const char *lang) {
  if (!lang || !*lang) return 0;
  char key[16];
  size_t n = 0;
  for (; lang[n] && lang[n] != '-' && lang[n] != '_'; n++) {
    if (n + 1 >= sizeof(key)) return -1;
    char c = lang[n];
    key[n] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  key[n] = '\0';
  for (size_t i = 0; i < NLANGS; i++)
    if (strcmp(key, langs[i].iso) == 0 || strcmp(key, langs[i].snowball) == 0) return (int)i;
  return -1;
}

/* True when the installed libstemmer knows the algorithm: versions differ
 * (Catalan, for one, is recent). Asks without creating a stemmer. */
static int snowball_has(const char *name) {
  for (const char **l = sb_stemmer_list(); *l; l++)
    if (strcmp(*l, name) == 0) return 1;
  return 0;
}

int cs_analyzer_has_language(const char *lang) {
  int i = lang_index(lang);
  return i >= 0 && snowball_has(langs[i].snowball);
}

/* The cached stemmer for langs[i], created on first use. *st is NULL when
 * libstemmer lacks the language. */
static int stemmer_get(cs_analyzer *a, int i, struct sb_stemmer **st) {
  if (!a->stemmer_tried[i]) {
    if (snowball_has(langs[i].snowball)) {
      a->stemmers[i] = sb_stemmer_new(langs[i].snowball, "UTF_8");
      /* The name is known, so NULL here can only be a failed malloc. */
      if (!a->stemmers[i]) return -ENOMEM;
    }
    a->stemmer_tried[i] = 1;
  }
  *st = a->stemmers[i];
  return 0;
}

/* ---------------------------------------------------------------- */
/* Folding                                                          */
/* ---------------------------------------------------------------- */

/* Code points dropped by folding besides accents: invisible format
 * characters that ICU's word break lets sit inside a word. */
static int is_ignorable(UChar c) {
  return c == 0x00AD || (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF;
}

/* Apostrophes that ICU accepts inside a word (MidNumLet), unified to ' so
 * that "l’home" and "l'home", "don’t" and "don't" are the same word. */
static int is_apostrophe(UChar c) {
  return c == 0x2018 || c == 0x2019 || c == 0xFF07;
}

/* Full case folding of in[0..n) into fb->low; *m receives its length. */
static int case_fold(fold_buf *fb, const UChar *in, int32_t n, int32_t *m) {
  for (;;) {
    UErrorCode err = U_ZERO_ERROR;
    int32_t r = u_strFoldCase(fb->low, (int32_t)fb->low_cap, in, n, U_FOLD_CASE_DEFAULT, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR || (U_SUCCESS(err) && (size_t)r >= fb->low_cap)) {
      if (grow(&fb->low, &fb->low_cap, (size_t)r + 1, sizeof(UChar))) return -ENOMEM;
      continue;
    }
    if (U_FAILURE(err)) return -ENOMEM;
    for (int32_t i = 0; i < r; i++)
      if (is_apostrophe(fb->low[i])) fb->low[i] = '\'';
    *m = r;
    return 0;
  }
}

/* Runs an ICU normalizer over in[0..n) into *out (growing it). */
static int normalize(const UNormalizer2 *norm, const UChar *in, int32_t n, UChar **out, size_t *cap,
                     int32_t *m) {
  for (;;) {
    UErrorCode err = U_ZERO_ERROR;
    int32_t r = unorm2_normalize(norm, in, n, *out, (int32_t)*cap, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR || (U_SUCCESS(err) && (size_t)r >= *cap)) {
      if (grow(out, cap, (size_t)r + 1, sizeof(UChar))) return -ENOMEM;
      continue;
    }
    if (U_FAILURE(err)) return -ENOMEM;
    *m = r;
    return 0;
  }
}

/* Encodes in[0..n) as UTF-8 into out, at most max bytes and never half a
 * character. Sets *cut when something did not fit. Returns the length. */
static size_t put_utf8(const UChar *in, int32_t n, char *out, size_t max, int *cut) {
  size_t o = 0;
  int32_t i = 0;
  while (i < n) {
    UChar32 c;
    U16_NEXT(in, i, n, c);
    if (U_IS_SURROGATE(c)) c = 0xFFFD; /* cannot happen from valid input */
    size_t need = (size_t)U8_LENGTH(c);
    if (o + need > max) {
      *cut = 1;
      break;
    }
    U8_APPEND_UNSAFE((uint8_t *)out, o, c);
  }
  return o;
}

/* Diacritic-folds the case-folded text in[0..n) and writes it as UTF-8 to
 * out (at most max bytes, see put_utf8). *len receives the length. */
static int fold_diacritics(fold_buf *fb, const UChar *in, int32_t n, char *out, size_t max,
                           size_t *len, int *cut) {
  /* Below U+00C0 nothing decomposes (U+00A8, U+00B4... have compatibility
   * decompositions only, which NFD leaves alone) and no combining mark
   * lives, so most words skip both normalizations. */
  int plain = 1;
  for (int32_t i = 0; i < n; i++)
    if (in[i] >= 0xC0 || in[i] == 0x00AD) {
      plain = 0;
      break;
    }
  if (plain) {
    *len = put_utf8(in, n, out, max, cut);
    return 0;
  }
  int32_t m, k = 0;
  if (normalize(fb->nfd_norm, in, n, &fb->nfd, &fb->nfd_cap, &m)) return -ENOMEM;
  for (int32_t i = 0; i < m; i++) {
    UChar c = fb->nfd[i];
    if (is_ignorable(c)) continue;
    /* A tilde directly after n is the ñ, a letter of its own in Spanish. */
    if (c >= 0x0300 && c <= 0x036F && !(c == 0x0303 && k > 0 && fb->nfd[k - 1] == 'n')) continue;
    fb->nfd[k++] = c;
  }
  if (normalize(fb->nfc_norm, fb->nfd, k, &fb->nfc, &fb->nfc_cap, &m)) return -ENOMEM;
  *len = put_utf8(fb->nfc, m, out, max, cut);
  return 0;
}

/* Diacritic-folds a UTF-8 string s[0..n) that is already lowercase (a
 * stem) into out, like fold_diacritics. */
static int fold_utf8(fold_buf *fb, const char *s, size_t n, char *out, size_t max, size_t *len,
                     int *cut) {
  size_t i = 0;
  while (i < n && (unsigned char)s[i] < 0x80)
    i++;
  if (i == n) { /* ASCII: nothing to fold */
    *len = n < max ? n : max;
    if (n > max) *cut = 1;
    memcpy(out, s, *len);
    return 0;
  }
  int32_t m;
  for (;;) {
    UErrorCode err = U_ZERO_ERROR;
    u_strFromUTF8WithSub(fb->stem, (int32_t)fb->stem_cap, &m, s, (int32_t)n, 0xFFFD, NULL, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR || (U_SUCCESS(err) && (size_t)m >= fb->stem_cap)) {
      if (grow(&fb->stem, &fb->stem_cap, (size_t)m + 1, sizeof(UChar))) return -ENOMEM;
      continue;
    }
    if (U_FAILURE(err)) return -ENOMEM;
    break;
  }
  return fold_diacritics(fb, fb->stem, m, out, max, len, cut);
}

/* ---------------------------------------------------------------- */
/* Numbers                                                          */
/* ---------------------------------------------------------------- */

/* Removes Spanish thousands separators in place when s[0..n) is digit
 * groups of three joined by '.', optionally followed by a decimal comma
 * part: "1.234.567" -> "1234567", "2.000,50" -> "2000,50". Anything else
 * ("3.5", "1.000.00", "91.234.56.78") is left as written, since it is not
 * unambiguously a Spanish number. Returns the new length. */
static size_t strip_thousands(char *s, size_t n) {
  size_t i = 0, lead = 0, groups = 0;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++, lead++;
  if (lead == 0 || lead > 3) return n;
  while (i < n && s[i] == '.') {
    size_t d = 0;
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++, d++;
    if (d != 3) return n;
    groups++;
  }
  if (groups == 0) return n;
  if (i < n) { /* only a decimal comma and digits may follow */
    if (s[i] != ',' || i + 1 == n) return n;
    for (size_t j = i + 1; j < n; j++)
      if (s[j] < '0' || s[j] > '9') return n;
  }
  size_t o = 0;
  for (size_t j = 0; j < n; j++) {
    if (s[j] == '.' && j < i) continue;
    s[o++] = s[j];
  }
  return o;
}

/* Whether the whole of s[0..n) looks like a number: ASCII digits, possibly
 * joined by '.', ',' or '\'' (what ICU's word break keeps inside one). Used
 * by cs_fold_word, which has no break iterator to say so. */
static int looks_numeric(const char *s, size_t n) {
  if (n == 0 || s[0] < '0' || s[0] > '9' || s[n - 1] < '0' || s[n - 1] > '9') return 0;
  for (size_t i = 0; i < n; i++)
    if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '.' && s[i] != ',' && s[i] != '\'') return 0;
  return 1;
}

/* ICU also calls "mp3", "covid19" or "1e10" numbers (the status of the last
 * rule that matched); for us a number has no letters. */
static int has_letter(const UChar *s, int32_t n) {
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U16_NEXT(s, i, n, c);
    if (c < 0x80 ? ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') : u_isalpha(c)) return 1;
  }
  return 0;
}

/* Whether Snowball may see the word: not when it holds a digit, '.' or '@'
 * (abbreviations, domains, e-mail addresses, ordinals like "1º"). */
static int stemmable(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '@') return 0;
  return 1;
}

/* ---------------------------------------------------------------- */
/* Analysis                                                         */
/* ---------------------------------------------------------------- */

cs_analyzer *cs_analyzer_create(void) {
  cs_analyzer *a = calloc(1, sizeof(*a));
  if (!a) return NULL;
  UErrorCode err = U_ZERO_ERROR;
  /* Root word-break rules: the locale tailorings do not change how Latin
   * script is split, and one iterator serves every language. */
  a->bi = ubrk_open(UBRK_WORD, "", NULL, 0, &err);
  if (U_FAILURE(err) || !a->bi) goto fail;
  if (fold_buf_init(&a->fb)) goto fail;
  bounds_classes(a->bclass);
  a->word_slots = WORD_CACHE_SMALL;
  /* A first token array, so *out is never NULL even for empty texts. */
  if (grow(&a->toks, &a->tok_cap, 256, sizeof(cs_token))) goto fail;
  return a;
fail:
  cs_analyzer_destroy(a);
  return NULL;
}

void cs_analyzer_destroy(cs_analyzer *a) {
  if (!a) return;
  if (a->bi) ubrk_close(a->bi);
  for (size_t i = 0; i < NLANGS; i++)
    if (a->stemmers[i]) sb_stemmer_delete(a->stemmers[i]);
  fold_buf_free(&a->fb);
  free(a->u16);
  free(a->map);
  free(a->low8);
  free(a->toks);
  free(a->str_off);
  free(a->arena);
  free(a->stem_cache);
  free(a->word_cache);
  free(a);
}

/* Decodes text[0..len) into a->u16 and fills a->map with byte offsets plus
 * `base` (the position of text in the caller's string). Invalid sequences
 * and NUL bytes become a space each. Returns the number of UTF-16 units. */
static int to_utf16(cs_analyzer *a, const char *text, size_t len, uint32_t base, int32_t *n16) {
  /* One byte yields at most one unit: a 4-byte character yields two. */
  if (grow(&a->u16, &a->u16_cap, len + 1, sizeof(UChar)) ||
      grow(&a->map, &a->map_cap, len + 1, sizeof(uint32_t)))
    return -ENOMEM;
  const uint8_t *b = (const uint8_t *)text;
  int32_t n = (int32_t)len, i = 0, o = 0;
  UChar *u = a->u16;
  uint32_t *map = a->map;
  while (i < n) {
    int32_t at = i;
    UChar32 c = b[i];
    if (c < 0x80) {
      i++;
    } else {
      U8_NEXT(b, i, n, c);
      if (c < 0) c = ' ';
    }
    if (c == 0) c = ' ';
    if (c <= 0xFFFF) {
      u[o] = (UChar)c;
      map[o++] = base + (uint32_t)at;
    } else {
      u[o] = U16_LEAD(c);
      map[o++] = base + (uint32_t)at;
      u[o] = U16_TRAIL(c);
      map[o++] = base + (uint32_t)at;
    }
  }
  map[o] = base + (uint32_t)n;
  *n16 = o;
  return 0;
}

/* The lowercased word as UTF-8 in a->low8, for the stop list and Snowball. */
static int lower_utf8(cs_analyzer *a, const UChar *low, int32_t m, size_t *len) {
  for (;;) {
    UErrorCode err = U_ZERO_ERROR;
    int32_t r;
    u_strToUTF8(a->low8, (int32_t)a->low8_cap, &r, low, m, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR || (U_SUCCESS(err) && (size_t)r >= a->low8_cap)) {
      if (grow(&a->low8, &a->low8_cap, (size_t)r + 1, 1)) return -ENOMEM;
      continue;
    }
    if (U_FAILURE(err)) return -ENOMEM;
    *len = (size_t)r;
    return 0;
  }
}

/* The cache slot for the lowercased word w[0..n) in langs[li]. */
static stem_slot *stem_cache_slot(cs_analyzer *a, int li, const char *w, size_t n) {
  uint32_t h = 2166136261u ^ (uint32_t)li; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)w[i]) * 16777619u;
  return &a->stem_cache[(h ^ (h >> 16)) & (STEM_CACHE_SLOTS - 1)];
}

/* Writes the folded stem of the lowercased word low8[0..n) to term (room
 * for CS_TERM_MAX + 1 bytes), through the cache. Sets *cut as
 * fold_diacritics does. */
static int stem_word(cs_analyzer *a, int li, struct sb_stemmer *st, const char *low8, size_t n,
                     char *term, size_t *tlen, int *cut) {
  stem_slot *slot = NULL;
  if (!a->stem_cache) a->stem_cache = calloc(STEM_CACHE_SLOTS, sizeof(stem_slot));
  if (a->stem_cache && n < sizeof(slot->data)) {
    slot = stem_cache_slot(a, li, low8, n);
    if (slot->lang == li + 1 && slot->key_len == n && memcmp(slot->data, low8, n) == 0) {
      *tlen = slot->term_len;
      memcpy(term, slot->data + n, *tlen);
      return 0;
    }
  }
  const sb_symbol *r = sb_stemmer_stem(st, (const sb_symbol *)low8, (int)n);
  if (!r) return -ENOMEM;
  if (fold_utf8(&a->fb, (const char *)r, (size_t)sb_stemmer_length(st), term, CS_TERM_MAX, tlen,
                cut))
    return -ENOMEM;
  if (slot && !*cut && n + *tlen <= sizeof(slot->data)) {
    slot->lang = (uint8_t)(li + 1);
    slot->key_len = (uint8_t)n;
    slot->term_len = (uint8_t)*tlen;
    memcpy(slot->data, low8, n);
    memcpy(slot->data + n, term, *tlen);
  }
  return 0;
}

/* Turns the word segment seg[0..n) (UTF-16), which spans the bytes
 * [start, end) of the text, into the next token. `li` and `st` are the
 * language's index and stemmer (or NULL), `stop_lang` the language whose
 * stop list applies (or NULL). A segment that folds to nothing yields no
 * token. */
static int add_token(cs_analyzer *a, int li, struct sb_stemmer *st, const char *stop_lang,
                     const UChar *seg, int32_t n, uint32_t start, uint32_t end, int number) {
  if (grow(&a->toks, &a->tok_cap, a->ntok + 1, sizeof(cs_token)) ||
      grow(&a->str_off, &a->str_off_cap, 2 * (a->ntok + 1), sizeof(uint32_t)) ||
      grow(&a->arena, &a->arena_cap, a->arena_len + 2 * (CS_TERM_MAX + 1), 1))
    return -ENOMEM;

  size_t word_at = a->arena_len;
  char *word = a->arena + word_at;
  size_t wlen = 0;
  int cut = 0, ascii = 1;
  for (int32_t i = 0; i < n; i++)
    if (seg[i] >= 0x80) {
      ascii = 0;
      break;
    }

  /* The lowercased word in UTF-8: for ASCII it is the folded word itself,
   * otherwise it is computed only when the stop list or stemmer need it. */
  const char *low8 = NULL;
  size_t low8_len = 0;
  int32_t low_n = 0;
  if (ascii) {
    wlen = (size_t)n;
    if (wlen > CS_TERM_MAX) {
      wlen = CS_TERM_MAX;
      cut = 1;
    }
    for (size_t i = 0; i < wlen; i++) {
      char c = (char)seg[i];
      word[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    low8 = word;
    low8_len = wlen;
  } else {
    if (case_fold(&a->fb, seg, n, &low_n)) return -ENOMEM;
    if (fold_diacritics(&a->fb, a->fb.low, low_n, word, CS_TERM_MAX, &wlen, &cut)) return -ENOMEM;
  }
  if (wlen == 0) return 0; /* e.g. only format characters */
  word[wlen] = '\0';

  uint32_t flags = cut ? CS_TOK_TRUNCATED : 0;
  size_t term_at = word_at, tlen = wlen;
  if (number) {
    flags |= CS_TOK_NUMBER;
    if (!cut) {
      wlen = tlen = strip_thousands(word, wlen);
      word[wlen] = '\0';
    }
  } else if (!cut) {
    /* A cut word is not a stop word, and stemming its first CS_TERM_MAX
     * bytes would strip "suffixes" that are not there. */
    if (!ascii) {
      if (lower_utf8(a, a->fb.low, low_n, &low8_len)) return -ENOMEM;
      low8 = a->low8;
    }
    if (stop_lang && cs_stopword(stop_lang, low8, low8_len)) flags |= CS_TOK_STOP;
    if (st && low8_len <= STEM_INPUT_MAX && stemmable(low8, low8_len)) {
      char *term = a->arena + word_at + wlen + 1;
      if (stem_word(a, li, st, low8, low8_len, term, &tlen, &cut)) return -ENOMEM;
      if (cut) flags |= CS_TOK_TRUNCATED;
      if (tlen == 0 || (tlen == wlen && memcmp(term, word, wlen) == 0)) {
        /* Unchanged (or, oddly, emptied) by Snowball: share the word. */
        tlen = wlen;
      } else {
        term_at = word_at + wlen + 1;
        term[tlen] = '\0';
      }
    }
  }
  a->arena_len = (term_at == word_at ? word_at + wlen : term_at + tlen) + 1;

  cs_token *t = &a->toks[a->ntok];
  t->term = NULL;
  t->word = NULL;
  t->term_len = (uint16_t)tlen;
  t->word_len = (uint16_t)wlen;
  t->pos = (uint32_t)a->ntok;
  t->start = start;
  t->end = end;
  t->flags = flags;
  t->memo = 0;
  a->str_off[2 * a->ntok] = (uint32_t)term_at;
  a->str_off[2 * a->ntok + 1] = (uint32_t)word_at;
  a->ntok++;
  return 0;
}

/* ICU's word break over text[from..to) (bytes of the caller's text), adding
 * a token per word segment. */
static int icu_span(cs_analyzer *a, int li, struct sb_stemmer *st, const char *stop_lang,
                    const char *text, size_t from, size_t to) {
  int32_t n16;
  int rc = to_utf16(a, text + from, to - from, (uint32_t)from, &n16);
  if (rc || n16 == 0) return rc;
  UErrorCode err = U_ZERO_ERROR;
  ubrk_setText(a->bi, a->u16, n16, &err);
  if (U_FAILURE(err)) return -ENOMEM;
  int32_t s = ubrk_first(a->bi);
  for (int32_t e = ubrk_next(a->bi); !rc && e != UBRK_DONE; s = e, e = ubrk_next(a->bi)) {
    int32_t status = ubrk_getRuleStatus(a->bi);
    /* Spaces, punctuation and emoji: not words. */
    if (status < UBRK_WORD_NONE_LIMIT) continue;
    int number = status >= UBRK_WORD_NUMBER && status < UBRK_WORD_NUMBER_LIMIT &&
                 !has_letter(a->u16 + s, e - s);
    rc = add_token(a, li, st, stop_lang, a->u16 + s, e - s, a->map[s], a->map[e], number);
  }
  /* Detach the iterator from our buffer, which may move on the next call. */
  ubrk_setText(a->bi, NULL, 0, &err);
  return rc;
}

/* ---------------------------------------------------------------- */
/* The fast path                                                    */
/* ---------------------------------------------------------------- */

/* Most text is runs of Latin letters and digits between spaces and plain
 * punctuation. For such a run the word boundaries are known without ICU
 * (UAX #29: letters and digits stick together, WB5/WB8-10; '.', ',' and ';'
 * join digits, WB11/12), and its token depends only on its bytes and the
 * language, so it is looked up in a word cache instead of being folded and
 * stemmed again. The text is cut at ASCII white space (always a word break)
 * into chunks; a chunk made only of such runs and of punctuation that
 * cannot join them is tokenized here, any other chunk (other scripts,
 * apostrophes, hyphen-like joiners, invalid UTF-8...) goes through ICU
 * alone, which gives the same words as ICU over the whole text since white
 * space breaks either way. tests/test_analyzer_corpus.c checks that both
 * paths give identical tokens on the whole ParlaMint-ES corpus. */

typedef struct word_slot {
  uint8_t lang;                        /* index in langs[] + 2 (1 = no language); 0 = empty */
  uint8_t key_len, word_len, term_len; /* term_len 0: the term is the word */
  uint32_t flags;
  uint64_t memo;  /* the tokens' memo: (fill number << CS_TOKEN_MEMO_BITS) | slot */
  char data[112]; /* key bytes, word bytes, term bytes */
} word_slot;

static int is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0;
}

/* Bytes of the letter or digit at b[i] (ASCII, or a letter of U+00C0..U+00FF
 * but × and ÷), 0 when there is none. */
static int alnum_len(const uint8_t *b, size_t i, size_t n) {
  uint8_t c = b[i];
  if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) return 1;
  if (c == 0xC3 && i + 1 < n && b[i + 1] >= 0x80 && b[i + 1] <= 0xBF && b[i + 1] != 0x97 &&
      b[i + 1] != 0xB7)
    return 2;
  return 0;
}

/* Bytes of punctuation at b[i] that never joins words (WB999), 0 if none. */
static int break_len(const uint8_t *b, size_t i, size_t n) {
  switch (b[i]) {
  case '!':
  case '"':
  case '(':
  case ')':
  case '?':
  case '[':
  case ']':
  case '{':
  case '}':
  case '-':
  case '/':
    return 1;
  case 0xC2: /* ¡ « » ¿ */
    if (i + 1 < n && (b[i + 1] == 0xA1 || b[i + 1] == 0xAB || b[i + 1] == 0xBB || b[i + 1] == 0xBF))
      return 2;
    return 0;
  default:
    return 0;
  }
}

/* MidLetter, MidNum, MidNumLet: join words only between letters or digits. */
static int is_mid(uint8_t c) {
  return c == '.' || c == ',' || c == ';' || c == ':' || c == '\'';
}

static int is_digit(uint8_t c) {
  return c >= '0' && c <= '9';
}

/* The slot of the run w[0..n) (n <= 40) in language li: a multiplicative
 * hash of its bytes taken 8 at a time (the byte-wise FNV-1a it replaces was
 * a chain of n dependent multiplies on every token). */
static word_slot *word_cache_slot(cs_analyzer *a, int li, const char *w, size_t n) {
  uint64_t h = (uint64_t)(li + 2) * 0x9E3779B97F4A7C15u ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, w + i, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9u;
    h ^= h >> 31;
  }
  if (i < n) { /* 1..7 bytes left: fixed-size loads (no memcpy call) */
    uint64_t v = 0;
    size_t k = n - i, o = 0;
    if (k & 4) {
      uint32_t x;
      memcpy(&x, w + i, 4);
      v = x;
      o = 4;
    }
    if (k & 2) {
      uint16_t x;
      memcpy(&x, w + i + o, 2);
      v |= (uint64_t)x << (8 * o);
      o += 2;
    }
    if (k & 1) v |= (uint64_t)(uint8_t)w[i + o] << (8 * o);
    h = (h ^ v) * 0xBF58476D1CE4E5B9u;
    h ^= h >> 31;
  }
  h *= 0x94D049BB133111EBu;
  return &a->word_cache[(h >> 40) & (a->word_slots - 1)];
}

/* Emits the token of the run text[b..e) of letters, digits and joined
 * separators: from the word cache, or computed and then cached. */
static int fast_token(cs_analyzer *a, int li, struct sb_stemmer *st, const char *stop_lang,
                      const char *text, size_t b, size_t e, int number) {
  size_t klen = e - b;
  word_slot *slot = NULL;
  if (!a->word_cache) a->word_cache = calloc(a->word_slots, sizeof(word_slot));
  if (a->word_cache && klen <= 40) {
    /* prefetch_next found this run already: its slot, not hashed again */
    slot = b == a->pf_b && e == a->pf_e && a->pf_slot ? a->pf_slot
                                                      : word_cache_slot(a, li, text + b, klen);
    if (slot->lang == li + 2 && slot->key_len == klen && memcmp(slot->data, text + b, klen) == 0) {
      size_t wl = slot->word_len, tl = slot->term_len;
      if (grow(&a->toks, &a->tok_cap, a->ntok + 1, sizeof(cs_token)) ||
          grow(&a->str_off, &a->str_off_cap, 2 * (a->ntok + 1), sizeof(uint32_t)) ||
          grow(&a->arena, &a->arena_cap, a->arena_len + wl + tl + 2, 1))
        return -ENOMEM;
      size_t word_at = a->arena_len, term_at = word_at;
      memcpy(a->arena + word_at, slot->data + klen, wl);
      a->arena[word_at + wl] = '\0';
      a->arena_len += wl + 1;
      if (tl) {
        term_at = a->arena_len;
        memcpy(a->arena + term_at, slot->data + klen + wl, tl);
        a->arena[term_at + tl] = '\0';
        a->arena_len += tl + 1;
      }
      cs_token *t = &a->toks[a->ntok];
      t->term = t->word = NULL;
      t->term_len = (uint16_t)(tl ? tl : wl);
      t->word_len = (uint16_t)wl;
      t->pos = (uint32_t)a->ntok;
      t->start = (uint32_t)b;
      t->end = (uint32_t)e;
      t->flags = slot->flags;
      t->memo = slot->memo;
      a->str_off[2 * a->ntok] = (uint32_t)term_at;
      a->str_off[2 * a->ntok + 1] = (uint32_t)word_at;
      a->ntok++;
      return 0;
    }
  }
  /* A miss: the run as UTF-16 (ASCII and U+00C0..U+00FF: one unit each). */
  if (grow(&a->u16, &a->u16_cap, klen + 1, sizeof(UChar))) return -ENOMEM;
  const uint8_t *p = (const uint8_t *)text;
  int32_t n16 = 0;
  for (size_t i = b; i < e; i++) {
    if (p[i] < 0x80) {
      a->u16[n16++] = p[i];
    } else { /* 0xC3 lead byte, checked by alnum_len */
      a->u16[n16++] = (UChar)(0xC0 + (p[i + 1] & 0x3F));
      i++;
    }
  }
  size_t before = a->ntok;
  int rc = add_token(a, li, st, stop_lang, a->u16, n16, (uint32_t)b, (uint32_t)e, number);
  if (rc || !slot || a->ntok == before) return rc;
  const cs_token *t = &a->toks[before];
  size_t word_at = a->str_off[2 * before + 1], term_at = a->str_off[2 * before];
  size_t wl = t->word_len, tl = term_at == word_at ? 0 : t->term_len;
  if (klen + wl + tl > sizeof(slot->data)) return 0;
  slot->lang = (uint8_t)(li + 2);
  slot->key_len = (uint8_t)klen;
  slot->word_len = (uint8_t)wl;
  slot->term_len = (uint8_t)tl;
  slot->flags = t->flags;
  slot->memo = (++a->word_fills << CS_TOKEN_MEMO_BITS) | (uint64_t)(slot - a->word_cache);
  a->toks[before].memo = slot->memo;
  memcpy(slot->data, text + b, klen);
  memcpy(slot->data + klen, a->arena + word_at, wl);
  memcpy(slot->data + klen + wl, a->arena + term_at, tl);
  return 0;
}

/* cs_analyze_bounds' token for the run text[b..e): its place only. */
static int bound_token(cs_analyzer *a, size_t b, size_t e, int number) {
  if (a->ntok >= a->tok_cap && grow(&a->toks, &a->tok_cap, a->ntok + 1, sizeof(cs_token)))
    return -ENOMEM;
  cs_token *t = &a->toks[a->ntok];
  t->term = t->word = NULL;
  t->term_len = t->word_len = 0;
  t->pos = (uint32_t)a->ntok;
  t->start = (uint32_t)b;
  t->end = (uint32_t)e;
  t->flags = number ? CS_TOK_NUMBER : 0;
  t->memo = 0;
  a->ntok++;
  return 0;
}

/* Tokenizes the chunk text[from..to) (no white space in it) if it is made
 * of runs of letters and digits and punctuation that does not join them.
 * Returns 1 when done, 0 when ICU must do it (nothing was added then), or a
 * negative error. */
static int fast_chunk(cs_analyzer *a, int li, struct sb_stemmer *st, const char *stop_lang,
                      const char *text, size_t from, size_t to) {
  const uint8_t *p = (const uint8_t *)text;
  /* First pass: check the whole chunk, so that nothing is emitted when it
   * has to go to ICU. */
  for (size_t i = from; i < to;) {
    int k = alnum_len(p, i, to);
    if (k) {
      i += (size_t)k;
      continue;
    }
    k = break_len(p, i, to);
    if (k) {
      i += (size_t)k;
      continue;
    }
    if (!is_mid(p[i])) return 0;
    int before = i > from && alnum_len(p, i - 1, to); /* an ASCII letter or digit */
    if (i > from + 1 && p[i - 2] == 0xC3 && alnum_len(p, i - 2, to) == 2) before = 1;
    int after = i + 1 < to && alnum_len(p, i + 1, to);
    if (before && after &&
        !(p[i] != ':' && p[i] != '\'' && is_digit(p[i - 1]) && is_digit(p[i + 1])))
      return 0; /* joins words in a way left to ICU */
    i++;
  }
  /* Second pass: emit the runs; '.', ',' or ';' between digits joins. */
  size_t i = from;
  while (i < to) {
    if (!alnum_len(p, i, to)) {
      i++;
      continue;
    }
    size_t b = i;
    int letters = 0;
    while (i < to) {
      int k = alnum_len(p, i, to);
      if (k) {
        letters |= !is_digit(p[i]);
        i += (size_t)k;
      } else if (i + 1 < to && i > b && is_mid(p[i]) && is_digit(p[i - 1]) && is_digit(p[i + 1])) {
        i++;
      } else {
        break;
      }
    }
    int rc = fast_token(a, li, st, stop_lang, text, b, i, !letters);
    if (rc) return rc;
  }
  return 1;
}

/* Byte classes for cs_analyze_bounds' scan. */
enum { BC_ALNUM = 1, BC_LETTER = 2, BC_SPACE = 4, BC_MID = 8 };

static void bounds_classes(uint8_t *cls) {
  for (int c = 0; c < 256; c++) {
    uint8_t b = (uint8_t)c, k = 0;
    if (is_digit(b)) k = BC_ALNUM;
    if ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') k = BC_ALNUM | BC_LETTER;
    if (is_space(b)) k = BC_SPACE;
    if (is_mid(b)) k = BC_MID;
    cls[c] = k;
  }
}

/* The end of the run of ASCII letters and digits at p[i] (one at least);
 * BC_LETTER is added to *letters when it holds a letter. Eight bytes at a
 * time: in each byte of y (the bytes with their top bit cleared) adding
 * 0x80 - lo sets the top bit when the byte is >= lo, adding 0x7F - hi when
 * it is > hi, and no sum carries into the next byte. */
static size_t ascii_run(const uint8_t *p, size_t i, size_t len, int *letters) {
  const uint64_t ones = 0x0101010101010101u, top = 0x8080808080808080u;
  while (i + 8 <= len) {
    uint64_t x, y, l;
    memcpy(&x, p + i, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x); /* p[i] in the lowest byte */
#endif
    y = x & ~top;
    l = y | 0x20 * ones;
    uint64_t digit = (y + (0x80 - '0') * ones) & ~(y + (0x7F - '9') * ones);
    uint64_t letter = (l + (0x80 - 'a') * ones) & ~(l + (0x7F - 'z') * ones);
    uint64_t alnum = (digit | letter) & ~x & top;
    if (alnum == top) {
      if (letter & ~x & top) *letters |= BC_LETTER;
      i += 8;
      continue;
    }
    uint64_t stop = ~alnum & top;
    int n = __builtin_ctzll(stop) / 8;
    uint64_t before = n ? (~0ull >> (64 - 8 * n)) : 0;
    if (letter & ~x & top & before) *letters |= BC_LETTER;
    return i + (size_t)n;
  }
  for (; i < len; i++) {
    uint8_t c = p[i] | 0x20;
    if (c >= 'a' && c <= 'z')
      *letters |= BC_LETTER;
    else if (!is_digit(p[i]))
      break;
  }
  return i;
}

/* icu_span for cs_analyze_bounds: its tokens as bound_token's. */
static int bounds_icu(cs_analyzer *a, int li, struct sb_stemmer *st, const char *stop_lang,
                      const char *text, size_t from, size_t to) {
  size_t k = a->ntok;
  int rc = icu_span(a, li, st, stop_lang, text, from, to);
  for (; k < a->ntok; k++) {
    a->toks[k].term = a->toks[k].word = NULL;
    a->toks[k].term_len = a->toks[k].word_len = 0;
    a->toks[k].flags &= CS_TOK_NUMBER;
  }
  return rc;
}

/* cs_analyze_bounds' fast path: fast_chunk's rules in one pass over the
 * text without the word cache. A chunk's runs are emitted as they are
 * found and taken back if the chunk turns out to need ICU. Stops at a
 * chunk's end once the token at position `last` is there. */
static int bounds_scan(cs_analyzer *a, int li, struct sb_stemmer *st, const char *stop_lang,
                       const char *text, size_t len, uint32_t last) {
  const uint8_t *p = (const uint8_t *)text, *cls = a->bclass;
  size_t i = 0, from = 0, mark = 0, b = 0;
  int in_run = 0, letters = 0, rc = 0;
  while (i < len) {
    uint8_t k = cls[p[i]];
    if (k & BC_ALNUM) { /* the common case: a run of ASCII letters and digits */
      if (!in_run) b = i, letters = 0;
      in_run = 1;
      i = ascii_run(p, i, len, &letters);
      continue;
    }
    if (k & BC_SPACE) { /* a chunk ends */
      if (in_run && (rc = bound_token(a, b, i, !(letters & BC_LETTER)))) return rc;
      in_run = 0;
      while (i < len && (cls[p[i]] & BC_SPACE))
        i++;
      if (a->ntok > last) return 0;
      from = i;
      mark = a->ntok;
      continue;
    }
    int n = alnum_len(p, i, len); /* a letter of U+00C0..U+00FF */
    if (n) {
      if (!in_run) b = i;
      in_run = 1;
      letters = BC_LETTER;
      i += (size_t)n;
      continue;
    }
    int icu = 0;
    if (k & BC_MID) {
      int before = i > from && alnum_len(p, i - 1, len);
      if (i > from + 1 && p[i - 2] == 0xC3 && alnum_len(p, i - 2, len) == 2) before = 1;
      int after = i + 1 < len && alnum_len(p, i + 1, len);
      int digits = i > from && is_digit(p[i - 1]) && i + 1 < len && is_digit(p[i + 1]);
      if (before && after && !(p[i] != ':' && p[i] != '\'' && digits)) {
        icu = 1;                     /* joins words in a way left to ICU */
      } else if (in_run && digits) { /* '.', ',' or ';' joins digits */
        i++;
        continue;
      }
      n = 1;
    } else {
      n = break_len(p, i, len);
      icu = !n;
    }
    if (icu) {
      a->ntok = mark;
      in_run = 0;
      while (i < len && !(cls[p[i]] & BC_SPACE))
        i++;
      if ((rc = bounds_icu(a, li, st, stop_lang, text, from, i))) return rc;
      continue;
    }
    if (in_run && (rc = bound_token(a, b, i, !(letters & BC_LETTER)))) return rc;
    in_run = 0;
    i += (size_t)n;
  }
  return in_run ? bound_token(a, b, i, !(letters & BC_LETTER)) : 0;
}

void cs_analyzer_set_fast_path(cs_analyzer *a, int on) {
  a->no_fast = !on;
}

void cs_analyzer_set_word_cache(cs_analyzer *a, int large) {
  if (a->word_cache) return; /* in use: its slots stay */
  a->word_slots = large ? WORD_CACHE_SLOTS : WORD_CACHE_SMALL;
}

/* Starts loading the word-cache slot of the chunk after text[..i) (its
 * first run of ASCII letters and digits, most often its word), so that the
 * slot's cache miss overlaps this chunk's work. */
static void prefetch_next(cs_analyzer *a, int li, const uint8_t *p, size_t i, size_t len) {
  if (!a->word_cache) return;
  while (i < len && is_space(p[i]))
    i++;
  size_t b = i;
  int letters = 0;
  i = ascii_run(p, i, len < i + 41 ? len : i + 41, &letters);
  a->pf_slot = NULL;
  if (i > b && i - b <= 40) {
    a->pf_slot = word_cache_slot(a, li, (const char *)p + b, i - b);
    a->pf_b = b;
    a->pf_e = i;
    __builtin_prefetch(a->pf_slot);
  }
}

/* cs_analyze, or cs_analyze_bounds when bounds (stopping once the token
 * at position `last` is found). */
static int analyze(cs_analyzer *a, const char *lang, const char *text, size_t len, int bounds,
                   uint32_t last, const cs_token **out, size_t *n) {
  int rc = 0;
  a->ntok = 0;
  a->arena_len = 0;
  if (!text) len = 0;
  /* Cutting mid-character is harmless: the partial character decodes as
   * invalid and ends the last word like any separator. */
  if (len > CS_ANALYZE_MAX) len = CS_ANALYZE_MAX;

  int li = lang_index(lang);
  struct sb_stemmer *st = NULL;
  const char *stop_lang = NULL;
  if (li >= 0) {
    rc = stemmer_get(a, li, &st);
    if (rc) goto out;
    stop_lang = langs[li].iso;
  }

  if (a->no_fast) {
    rc = bounds ? bounds_icu(a, li, st, stop_lang, text, 0, len)
                : icu_span(a, li, st, stop_lang, text, 0, len);
    goto out;
  }
  if (bounds) {
    rc = bounds_scan(a, li, st, stop_lang, text, len, last);
    goto out;
  }
  const uint8_t *p = (const uint8_t *)text;
  size_t i = 0;
  if (!a->word_cache) a->word_cache = calloc(a->word_slots, sizeof(word_slot));
  a->pf_slot = NULL;
  while (!rc && i < len) {
    while (i < len && is_space(p[i]))
      i++;
    size_t from = i;
    while (i < len && !is_space(p[i]))
      i++;
    if (from == i) break;
    prefetch_next(a, li, p, i, len);
    rc = fast_chunk(a, li, st, stop_lang, text, from, i);
    if (rc == 0)
      rc = icu_span(a, li, st, stop_lang, text, from, i);
    else if (rc > 0)
      rc = 0;
  }

out:
  if (rc) a->ntok = 0;
  for (size_t k = 0; k < a->ntok && !bounds; k++) {
    a->toks[k].term = a->arena + a->str_off[2 * k];
    a->toks[k].word = a->arena + a->str_off[2 * k + 1];
  }
  *out = a->toks;
  *n = a->ntok;
  return rc;
}

int cs_analyze(cs_analyzer *a, const char *lang, const char *text, size_t len, const cs_token **out,
               size_t *n) {
  return analyze(a, lang, text, len, 0, UINT32_MAX, out, n);
}

int cs_analyze_bounds(cs_analyzer *a, const char *lang, const char *text, size_t len, uint32_t last,
                      const cs_token **out, size_t *n) {
  return analyze(a, lang, text, len, 1, last, out, n);
}

/* The stop flag is a function of the word's bytes: add_token asks the stop
 * list with the case-folded word (apostrophes unified), unless the word is
 * a number or longer than CS_TERM_MAX once folded (then it is longer than
 * any stop word too). For the fast path's letters (ASCII and U+00C0..U+00FF
 * but U+00D7) case folding is simple: A-Z and U+00C0..U+00DE move by 0x20,
 * U+00DF becomes "ss" (two bytes too), the rest is lowercase already; any
 * other word is folded by ICU as add_token does. */
int cs_analyzer_is_stop(cs_analyzer *a, const char *lang, const char *text, const cs_token *t) {
  int li = lang_index(lang);
  if ((t->flags & CS_TOK_NUMBER) || li < 0 || t->end <= t->start) return 0;
  const uint8_t *p = (const uint8_t *)text + t->start;
  size_t n = t->end - t->start, i;
  char low[CS_STOPWORD_MAX_LEN];
  for (i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c >= 0x80) {
      if (c != 0xC3 || i + 1 >= n || p[i + 1] < 0x80 || p[i + 1] > 0xBF || p[i + 1] == 0x97) break;
      if (i + 1 < CS_STOPWORD_MAX_LEN) {
        uint8_t d = p[i + 1];
        low[i] = (char)(d == 0x9F ? 's' : c);
        low[i + 1] = (char)(d == 0x9F ? 's' : d <= 0x9E ? d + 0x20 : d);
      }
      i++;
    } else if (i < CS_STOPWORD_MAX_LEN) {
      low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 0x20 : c);
    }
  }
  if (i >= n) return n <= CS_STOPWORD_MAX_LEN && cs_stopword(langs[li].iso, low, n);
  int32_t n16, m;
  size_t len;
  if (to_utf16(a, (const char *)p, n, 0, &n16) || case_fold(&a->fb, a->u16, n16, &m) ||
      lower_utf8(a, a->fb.low, m, &len))
    return -ENOMEM;
  return cs_stopword(langs[li].iso, a->low8, len);
}

int cs_fold_word(const char *word, size_t len, char *out, size_t cap) {
  if (!out || cap == 0) return -1;
  if (!word) len = 0;
  if (len > CS_ANALYZE_MAX) return -1;
  int rc = -1;
  fold_buf fb;
  UChar *u = NULL;
  char *tmp = NULL;
  if (fold_buf_init(&fb)) return -1;
  /* Invalid sequences become U+FFFD (as cs_utf8_repair does) and NUL bytes
   * are dropped: a query word has no separators to turn them into. */
  u = malloc((len + 1) * sizeof(UChar));
  if (!u) goto out;
  const uint8_t *b = (const uint8_t *)word;
  int32_t i = 0, o = 0, n = (int32_t)len;
  while (i < n) {
    UChar32 c;
    U8_NEXT(b, i, n, c);
    if (c < 0) c = 0xFFFD;
    if (c == 0) continue;
    U16_APPEND_UNSAFE(u, o, c);
  }
  int32_t m;
  if (case_fold(&fb, u, o, &m)) goto out;
  /* Usually 3 UTF-8 bytes per UTF-16 unit suffice, but NFD can expand and
   * NFC leave some characters decomposed (composition exclusions such as
   * U+0A33), so retry with more room when the result was cut. */
  size_t max = (size_t)m * 3 + 16, flen;
  for (;;) {
    char *t = realloc(tmp, max + 1);
    if (!t) goto out;
    tmp = t;
    int cut = 0;
    if (fold_diacritics(&fb, fb.low, m, tmp, max, &flen, &cut)) goto out;
    if (!cut) break;
    max *= 2;
  }
  if (looks_numeric(tmp, flen)) flen = strip_thousands(tmp, flen);
  if (flen + 1 > cap) goto out;
  memcpy(out, tmp, flen);
  out[flen] = '\0';
  rc = (int)flen;
out:
  free(tmp);
  free(u);
  fold_buf_free(&fb);
  return rc;
}
