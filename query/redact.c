/*
 * Redaction of people's names for analysts (see redact.h). Words are the
 * analyzer's: the name and the texts are split and folded by the same
 * analyzer that indexes them, so "ÁLVARO", "alvaro" and "Álvaro," are all
 * the word "alvaro".
 */
#include "redact.h"

#include "errors.h"
#include "highlight.h"
#include "internal.h"
#include "parser.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- cheap keys
 *
 * Analyzing every shown text with ICU would cost more than the search that
 * found it, and most texts hold no word of the person's name. A cheap
 * folding tells most of them apart: ASCII letters and digits lowercased,
 * Latin-1 letters folded as the analyzer folds them (accents off; ñ, æ, ø,
 * ð, þ kept), every other ASCII or Latin-1 character, general punctuation
 * and 4-byte characters (emoji) taken as separators, anything else unknown.
 * A word's key is its first three folded bytes (fewer for a shorter word).
 * The analyzer never breaks a word between two letters or digits of these,
 * and its Spanish stems keep a word's first three letters, so a word (or
 * stem) of the name and the same word in a text have the same key as the
 * name's fragment that starts it: a text without any key of the name, and
 * with no unknown character, holds no word of the name. */

/* One character at s[*i], folded: its bytes in out (1 or 2), 0 for a
 * separator, -1 when unknown. Advances *i. */
static int qchar(const unsigned char *s, size_t n, size_t *i, unsigned char out[2]) {
  /* U+00E0..U+00FF folded; 0: keep the (lowercase) letter itself. */
  static const char base[32] = {'a', 'a', 'a', 'a', 'a', 'a', 0,   'c', 'e', 'e', 'e',
                                'e', 'i', 'i', 'i', 'i', 0,   0,   'o', 'o', 'o', 'o',
                                'o', 1,   0,   'u', 'u', 'u', 'u', 'y', 0,   'y'};
  unsigned char c = s[*i];
  if (c < 0x80) {
    (*i)++;
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) {
      out[0] = c;
      return 1;
    }
    if (c >= 'A' && c <= 'Z') {
      out[0] = (unsigned char)(c | 0x20);
      return 1;
    }
    return 0;
  }
  if ((c == 0xC2 || c == 0xC3) && *i + 1 < n && (s[*i + 1] & 0xC0) == 0x80) {
    unsigned char d = s[*i + 1];
    *i += 2;
    if (c == 0xC2) return d == 0xAA || d == 0xBA || d == 0xB5 ? -1 : 0; /* ª º µ are letters */
    if (d == 0x9F) return -1;                                           /* ß folds to ss */
    unsigned char l = (unsigned char)(d | 0x20);
    char b = base[l - 0xA0];
    if (b == 1) return 0; /* × ÷ */
    if (b) {
      out[0] = (unsigned char)b;
      return 1;
    }
    out[0] = 0xC3;
    out[1] = l;
    return 2;
  }
  if (c == 0xE2 && *i + 2 < n && s[*i + 1] == 0x80) {
    *i += 3;
    return 0;
  }
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  *i += len < n - *i ? len : n - *i;
  return c >= 0xF0 && c < 0xF8 ? 0 : -1;
}

/* Calls fn(ctx, key) for the key of every fragment of s (CS__KEY_ANY once
 * for an unknown character) until it returns non-zero; returns that. */
typedef int (*key_fn)(void *ctx, uint32_t key);
static int each_key(const char *s, size_t n, key_fn fn, void *ctx) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  uint32_t key = 0, len = 0;
  while (i < n) {
    unsigned char ch[2];
    int k = qchar(u, n, &i, ch);
    if (k < 0) return fn(ctx, CS__KEY_ANY);
    for (int j = 0; j < k && len < 3; j++)
      key |= (uint32_t)ch[j] << (16 - 8 * len++);
    if (k == 0 && len) {
      int rc = fn(ctx, key | len << 24);
      if (rc) return rc;
      key = len = 0;
    }
  }
  return len ? fn(ctx, key | len << 24) : 0;
}

static int first_key(void *ctx, uint32_t key) {
  *(uint32_t *)ctx = key;
  return 1;
}

uint32_t cs__redact_key(const char *s, size_t n) {
  uint32_t key = 0;
  each_key(s, n, first_key, &key);
  return key;
}

static int name_key(void *ctx, uint32_t key) {
  cs__redact *rd = ctx;
  if (key == CS__KEY_ANY || rd->nkeys == CS__REDACT_KEYS) {
    rd->keys_all = 1;
    return 1;
  }
  for (int i = 0; i < rd->nkeys; i++) {
    if (rd->keys[i] == key) return 0;
  }
  rd->keys[rd->nkeys++] = key;
  return 0;
}

static int has_key(const cs__redact *rd, uint32_t key) {
  if (rd->keys_all || key == CS__KEY_ANY) return rd->nkeys > 0 || rd->keys_all;
  for (int i = 0; i < rd->nkeys; i++) {
    if (rd->keys[i] == key) return 1;
  }
  return 0;
}

static int text_key(void *ctx, uint32_t key) {
  return has_key(ctx, key);
}

/* Whether s may hold a word of the name (cheap: no analyzer). */
static int may_hold(const cs__redact *rd, const char *s, size_t n) {
  if (!rd->on || (!rd->nkeys && !rd->keys_all)) return 0;
  return each_key(s, n, text_key, (void *)rd) != 0;
}

static int u32_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int cs__redact_maybe(const cs__redact *rd, const uint32_t *keys, size_t n) {
  if (!rd->on || (!rd->nkeys && !rd->keys_all)) return 0;
  if (rd->keys_all) return 1;
  for (int i = 0; i < rd->nkeys; i++) {
    if (bsearch(&rd->keys[i], keys, n, sizeof *keys, u32_cmp)) return 1;
  }
  return 0;
}

/* ---------------------------------------------------------------- names */

void cs__redact_init(cs__redact *rd, const cs_caller *c, cs_reader *r, uint64_t patient_id) {
  rd->on = c->role == CS_CALLER_ANALYST;
  rd->patient = patient_id;
  rd->name = (cs_str){"", 0};
  rd->nkeys = rd->keys_all = 0;
  rd->analyzed = 0;
  rd->nwords = 0;
  rd->plen = 0;
  rd->pseudonym[0] = 0;
  rd->withheld = 0;
  if (!rd->on) return;
  cs__pseudonym(patient_id, rd->pseudonym);
  rd->plen = strlen(rd->pseudonym);
  cs_patient p;
  int rc = cs_reader_patient(r, patient_id, &p);
  rd->withheld = rd->keys_all = rc == CS_ECORRUPT; /* every text may hold the name */
  if (rc != 0 || !p.name.len) return;
  rd->name = p.name;
  each_key(p.name.p, p.name.len, name_key, rd);
}

/* The name's words and stems, as the analyzer makes them (once). */
static const cs__redact *analyzed(const cs__redact *crd) {
  cs__redact *rd = (cs__redact *)crd; /* a cache filled on first use */
  if (rd->analyzed) return rd;
  rd->analyzed = 1;
  cs_analyzer *a = cs__analyzer_get();
  const cs_token *t;
  size_t n;
  if (!a || cs_analyze(a, "es", rd->name.p, rd->name.len, &t, &n) != 0) n = 0;
  for (size_t i = 0; i < n && rd->nwords < CS__REDACT_WORDS; i++) {
    /* Particles ("de", "la", "y") and initials would erase half the text. */
    if ((t[i].flags & CS_TOK_STOP) || t[i].word_len < 2) continue;
    if (cs__redact_is_name_word(rd, t[i].word, t[i].word_len)) continue;
    memcpy(rd->words[rd->nwords], t[i].word, (size_t)t[i].word_len + 1);
    memcpy(rd->stems[rd->nwords], t[i].term, (size_t)t[i].term_len + 1);
    rd->nwords++;
  }
  cs__analyzer_put(a);
  return rd;
}

int cs__redact_is_name_word(const cs__redact *rd, const char *w, size_t n) {
  if (!rd->on || !has_key(rd, cs__redact_key(w, n))) return 0;
  rd = analyzed(rd);
  for (int i = 0; i < rd->nwords; i++) {
    if (strlen(rd->words[i]) == n && memcmp(rd->words[i], w, n) == 0) return 1;
  }
  return 0;
}

int cs__redact_blocks(const cs__redact *rd, const char *term, size_t len) {
  if (rd->on && rd->withheld) return 1;
  if (!rd->on || !has_key(rd, cs__redact_key(term, len))) return 0;
  rd = analyzed(rd);
  for (int i = 0; i < rd->nwords; i++) {
    if (strlen(rd->stems[i]) == len && memcmp(rd->stems[i], term, len) == 0) return 1;
  }
  return 0;
}

/* Whether the speaker label names the person (one of its words is a name
 * word). */
static int names_person(const cs__redact *rd, cs_str speaker) {
  if (!speaker.len || !may_hold(rd, speaker.p, speaker.len)) return 0;
  cs_analyzer *a = cs__analyzer_get();
  const cs_token *t;
  size_t n;
  int yes = 0;
  if (a && cs_analyze(a, "es", speaker.p, speaker.len, &t, &n) == 0) {
    for (size_t i = 0; i < n && !yes; i++)
      yes = cs__redact_is_name_word(rd, t[i].word, t[i].word_len);
  }
  cs__analyzer_put(a);
  return yes;
}

cs_str cs__redact_speaker_str(const cs__redact *rd, cs_str speaker, int role) {
  if (!rd->on) return speaker;
  if (names_person(rd, speaker)) return (cs_str){rd->pseudonym, rd->plen};
  const char *name = cs_role_name(role);
  return (cs_str){name, strlen(name)};
}

json_t *cs__redact_speaker(const cs__redact *rd, cs_str speaker, int role) {
  return cs_json_str(cs__redact_speaker_str(rd, speaker, role));
}

static int joins_run(const char *text, uint32_t from, uint32_t to) {
  for (uint32_t i = from; i < to; i++) {
    if (text[i] != ' ' && text[i] != '-') return 0;
  }
  return 1;
}

long cs__redact_find(const cs__redact *rd, const char *text, size_t len, cs__brange **out) {
  *out = NULL;
  if (rd->on && rd->withheld && len) { /* the name is unknown: nothing is shown */
    *out = malloc(sizeof **out);
    if (!*out) return -1;
    (*out)[0] = (cs__brange){0, (uint32_t)len};
    return 1;
  }
  if (!len || !may_hold(rd, text, len) || !analyzed(rd)->nwords) return 0;
  cs_analyzer *a = cs__analyzer_get();
  if (!a) return -1;
  const cs_token *t;
  size_t n;
  size_t m = 0, cap = 0;
  int rc = cs_analyze(a, "es", text, len, &t, &n);
  for (size_t i = 0; !rc && i < n; i++) {
    if (!cs__redact_is_name_word(rd, t[i].word, t[i].word_len)) continue;
    if (m && joins_run(text, (*out)[m - 1].end, t[i].start)) {
      (*out)[m - 1].end = t[i].end;
      continue;
    }
    if (cs_grow_from((void **)out, &cap, m + 1, sizeof **out, 8)) {
      rc = -1;
      break;
    }
    (*out)[m].start = t[i].start;
    (*out)[m].end = t[i].end;
    m++;
  }
  cs__analyzer_put(a);
  if (rc) {
    free(*out);
    *out = NULL;
    return -1;
  }
  return m;
}

static void put(cs_buf *out, const char *s, size_t n, int html) {
  if (html)
    cs__html_escape(out, s, n);
  else
    cs_buf_bytes(out, s, n);
}

void cs__redact_write(const cs__redact *rd, const char *text, size_t from, size_t to,
                      const cs__brange *names, size_t nnames, int html, cs_buf *out) {
  size_t at = from;
  for (size_t i = 0; i < nnames && at < to; i++) {
    if (names[i].end <= at) continue;
    if (names[i].start >= to) break;
    if (names[i].start > at) put(out, text + at, names[i].start - at, html);
    cs_buf_bytes(out, rd->pseudonym, rd->plen);
    at = names[i].end < to ? names[i].end : to;
  }
  if (at < to) put(out, text + at, to - at, html);
}

void cs__redact_append(const cs__redact *rd, const char *text, size_t len, size_t from, size_t to,
                       cs_buf *out) {
  cs__brange *names;
  long n = cs__redact_find(rd, text, len, &names);
  if (n < 0) {
    out->err = -1;
    return;
  }
  cs__redact_write(rd, text, from, to, names, (size_t)n, 0, out);
  free(names);
}

int cs__redact_str(const cs__redact *rd, cs_str text, cs_buf *b, cs_str *out) {
  if (!may_hold(rd, text.p, text.len)) {
    *out = text.p ? text : (cs_str){"", 0};
    return 0;
  }
  cs_buf_reset(b);
  cs__redact_append(rd, text.p, text.len, 0, text.len, b);
  if (b->err) return CS_ENOMEM;
  *out = (cs_str){b->len ? (const char *)b->p : "", b->len};
  return 0;
}

json_t *cs__redact_json(const cs__redact *rd, cs_str text) {
  cs_buf b;
  cs_buf_init(&b);
  cs_str t;
  json_t *j = cs__redact_str(rd, text, &b, &t) ? NULL : cs_json_str(t);
  cs_buf_free(&b);
  return j;
}

int cs__redact_check_filters(const cs_caller *c, const char *speaker, const struct cs__query *q,
                             cs_engine_error *err) {
  if (c->role != CS_CALLER_ANALYST) return 0;
  if (speaker && *speaker) {
    cs_engine_err(err, 400, "bad_parameter",
                  "analysts cannot filter by speaker name (names are pseudonymised); use role");
    return -1;
  }
  if (q->nspeakers || q->nnot_speakers) {
    cs_engine_err(err, 400, "bad_query",
                  "analysts cannot use speaker: (names are pseudonymised); use role:");
    return -1;
  }
  return 0;
}
