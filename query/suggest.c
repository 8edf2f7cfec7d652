/*
 * Completions for the search box (GET /v1/suggest): words of the index and
 * names of people that start with the last word typed, cheap enough to run
 * on every keystroke.
 *
 * Words come from CS_T_WORDS (folded surface form -> stem, df): the words
 * with the folded prefix, at most SCAN_MAX of them, of which the CANDIDATES
 * with the highest df are checked in df order; for a portal caller the
 * words and df are its own (CS_T_OWORDS, tstats.h), so that neither the
 * candidates nor their order depend on others' documents. People come from
 * the caller's people (everyone for admins), matched by folded name words.
 *
 * No word may reveal what the caller cannot see. A word is suggested only
 * once it has been found, as that exact surface word, in a document the
 * caller may see:
 *   - portal: documents of its own people (their names, and the docid range
 *     of each of their conversations: owned.h, read once per snapshot);
 *   - analyst: any document but people's names (names are pseudonymised for
 *     analysts, so a word found only in names would leak one);
 *   - admin: any document.
 * The check walks the postings of the word's stem, skipping to the caller's
 * docid ranges, and then reads the document: the stem alone is not enough,
 * since words of different meaning share stems ("marta" and "martes" both
 * stem to "mart"), and a word seen only in someone else's interview must not
 * come back because a visible document holds another word with its stem.
 * The surface form found also gives the suggestion its accents
 * ("informático", not the folded "informatico").
 *
 * Work is bounded per call (postings steps, documents read, people
 * scanned); when a bound is reached the remaining candidates are dropped,
 * never suggested unchecked.
 */
#include "internal.h"
#include "corrupt.h"
#include "highlight.h"
#include "owned.h"
#include "parser.h"
#include "redact.h"
#include "tstats.h"

#include "analyzer.h"
#include "errors.h"
#include "store.h"
#include "utf8.h"
#include "varint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ustring.h>

#define SCAN_MAX 20000    /* words read from CS_T_WORDS per call */
#define CANDIDATES 64     /* best words (by df) that get checked */
#define STEPS_MAX 20000   /* postings moves per call */
#define CHECKS_PER_WORD 8 /* documents read to confirm one word */
#define CHECKS_MAX 256    /* documents read per call */
#define PEOPLE_MAX 100000 /* people scanned per call */
#define WORD_MAX 256      /* bytes of a folded word we handle */

typedef struct range {
  uint32_t lo, hi; /* docids [lo, hi) */
} range;

typedef struct cand {
  char word[WORD_MAX];
  size_t wlen;
  char stem[CS_TERM_MAX + 1];
  size_t slen;
  uint64_t df;
} cand;

typedef struct pick {
  char text[WORD_MAX * 2];
  uint64_t id; /* people only */
  double rank;
} pick;

typedef struct sctx {
  cs_reader *r;
  const cs_caller *c;
  char prefix[WORD_MAX];
  size_t plen;
  cand *cands;
  size_t ncands;
  size_t scanned;
  size_t kplen; /* key prefix of the words' table (tstats.h) */
  range *ranges;
  size_t nranges, cap_ranges;
  pick *people;
  size_t npeople, cap_people;
  size_t people_seen;
  long steps, checks;
  int rc;
  cs_analyzer *a; /* a turn's byte offsets: its text analyzed again */
} sctx;

/* ---------------------------------------------------------------- text */

/* Spanish punctuation outside ASCII that may touch a word: ¿ ¡ « » and the
 * typographic quotes, dashes and ellipsis. Returns its length or 0. */
static size_t punct_len(const unsigned char *p, size_t n) {
  if (n >= 2 && p[0] == 0xC2 && (p[1] == 0xBF || p[1] == 0xA1 || p[1] == 0xAB || p[1] == 0xBB))
    return 2;
  if (n >= 3 && p[0] == 0xE2 && p[1] == 0x80 &&
      (p[2] == 0x98 || p[2] == 0x99 || p[2] == 0x9C || p[2] == 0x9D || p[2] == 0x93 ||
       p[2] == 0x94 || p[2] == 0xA6))
    return 3;
  return 0;
}

static int ascii_sep(unsigned char c) {
  return c < 0x80 && !((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'));
}

/* Splits s into words (runs of letters, digits and non-ASCII characters
 * other than punctuation); calls fn(word, len) until it returns non-zero. */
typedef int (*word_fn)(void *ctx, const char *w, size_t n);
static int each_word(const char *s, size_t n, word_fn fn, void *ctx) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    size_t pl = 0;
    while (i < n && (ascii_sep(p[i]) || (pl = punct_len(p + i, n - i)) > 0))
      i += ascii_sep(p[i]) ? 1 : pl;
    size_t b = i;
    while (i < n && !ascii_sep(p[i]) && punct_len(p + i, n - i) == 0)
      i++;
    if (i > b) {
      int rc = fn(ctx, s + b, i - b);
      if (rc) return rc;
    }
  }
  return 0;
}

typedef struct last_ctx {
  const char *w;
  size_t n;
} last_ctx;

static int keep_last(void *ctx, const char *w, size_t n) {
  last_ctx *l = ctx;
  l->w = w;
  l->n = n;
  return 0;
}

/* The folded last word of q, or 0 when q ends between words. */
static size_t last_word(const char *q, char *out, size_t cap) {
  size_t n = strlen(q);
  last_ctx l = {NULL, 0};
  each_word(q, n, keep_last, &l);
  if (!l.w || l.w + l.n != q + n) return 0;
  int f = cs__fold_query_word(l.w, l.n, out, cap);
  return f > 0 ? (size_t)f : 0;
}

/* Lowercases UTF-8 for display (Spanish rules). Returns length or -1. */
static int lower(const char *s, size_t n, char *out, size_t cap) {
  UChar u[WORD_MAX], l[WORD_MAX];
  int32_t un = 0, ln, on = 0;
  UErrorCode st = U_ZERO_ERROR;
  u_strFromUTF8(u, WORD_MAX, &un, s, (int32_t)n, &st);
  if (U_FAILURE(st)) return -1;
  ln = u_strToLower(l, WORD_MAX, u, un, "es", &st);
  if (U_FAILURE(st)) return -1;
  u_strToUTF8(out, (int32_t)cap, &on, l, ln, &st);
  if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING || (size_t)on >= cap) return -1;
  return on;
}

/* ---------------------------------------------------------------- words */

static int scan_words(void *ctx, cs_slice full, cs_slice val) {
  sctx *s = ctx;
  if (++s->scanned > SCAN_MAX) return 1;
  cs_slice key = {(const char *)full.data + s->kplen, full.len - s->kplen};
  cs_word w;
  if (key.len >= WORD_MAX ||
      cs_corrupt_rc(cs_word_decode(val.data, val.len, &w), s->kplen ? CS_T_OWORDS : CS_T_WORDS,
                    full) ||
      w.stem.len == 0 || w.stem.len > CS_TERM_MAX)
    return 0;
  /* Keep the CANDIDATES best by df, sorted descending (ties: key order). */
  size_t at = s->ncands;
  while (at > 0 && s->cands[at - 1].df < w.df)
    at--;
  if (at == CANDIDATES) return 0;
  size_t n = s->ncands < CANDIDATES ? s->ncands : CANDIDATES - 1;
  memmove(&s->cands[at + 1], &s->cands[at], (n - at) * sizeof *s->cands);
  cand *c = &s->cands[at];
  memcpy(c->word, key.data, key.len);
  c->word[key.len] = 0;
  c->wlen = key.len;
  memcpy(c->stem, w.stem.p, w.stem.len);
  c->stem[w.stem.len] = 0;
  c->slen = w.stem.len;
  c->df = w.df;
  if (s->ncands < CANDIDATES) s->ncands++;
  return 0;
}

typedef struct find_ctx {
  const cand *c;
  char *display;
  size_t cap;
  int found;
} find_ctx;

static int find_word(void *ctx, const char *w, size_t n) {
  find_ctx *f = ctx;
  char buf[WORD_MAX];
  int fl = cs__fold_query_word(w, n, buf, sizeof buf);
  if (fl < 0 || (size_t)fl != f->c->wlen || memcmp(buf, f->c->word, (size_t)fl) != 0) return 0;
  if (lower(w, n, f->display, f->cap) < 0) snprintf(f->display, f->cap, "%s", f->c->word);
  f->found = 1;
  return 1;
}

/* Whether the text, whose words are w, holds the exact word at one of the
 * stem's positions (a stop word there does not count). */
static int turn_has(cs_str text, const cs__words *w, const uint32_t *pos, uint32_t npos,
                    find_ctx *f) {
  for (uint32_t k = 0; k < npos; k++) {
    if (pos[k] >= w->n || cs__word_is_stop(w, text, pos[k])) continue;
    const cs_token *t = &w->t[pos[k]];
    if (find_word(f, text.p + t->start, t->end - t->start)) return 1;
  }
  return 0;
}

/* Whether document doc, if the caller may see it, holds the exact word. */
static int doc_has_word(sctx *s, cs_pcur *pc, const cs_doc *docp, find_ctx *f) {
  const cs_doc doc = *docp;
  if (s->c->role == CS_CALLER_ANALYST && doc.kind == CS_DOC_NAME) return 0;
  if (s->c->role == CS_CALLER_PORTAL && !cs_caller_sees_patient(s->r, s->c, doc.patient_id))
    return 0;
  if (doc.kind == CS_DOC_TURN) {
    cs_turn t;
    cs_conv cv;
    const uint32_t *pos;
    uint32_t npos;
    cs__words w;
    if (!s->a) s->a = cs__analyzer_get();
    if (!s->a || cs_reader_conv(s->r, doc.conversation_id, &cv) ||
        cs_reader_turn(s->r, doc.conversation_id, doc.seq, &t) ||
        cs_pcur_positions(pc, &pos, &npos) || !npos ||
        cs__text_words(s->a, cv.language, t.text, pos[npos - 1], &w))
      return 0;
    return turn_has(t.text, &w, pos, npos, f);
  }
  cs_str text = {NULL, 0};
  if (doc.kind == CS_DOC_NAME) {
    cs_patient p;
    if (cs_reader_patient(s->r, doc.patient_id, &p)) return 0;
    text = p.name;
  } else {
    cs_conv cv;
    if (cs_reader_conv(s->r, doc.conversation_id, &cv)) return 0;
    text = doc.kind == CS_DOC_TITLE ? cv.title : cv.description;
  }
  each_word(text.p, text.len, find_word, f);
  return f->found;
}

/* Reads document d and looks for the exact word in it. For analysts, a word
 * of the person's own name is not there: they see it as the pseudonym
 * (redact.h). */
static int doc_has(sctx *s, cs_pcur *pc, uint32_t d, find_ctx *f) {
  cs_doc doc;
  if (cs_reader_doc(s->r, d, &doc)) return 0;
  if (!doc_has_word(s, pc, &doc, f)) return 0;
  if (s->c->role == CS_CALLER_ANALYST) {
    cs__redact rd;
    cs__redact_init(&rd, s->c, s->r, doc.patient_id);
    if (cs__redact_is_name_word(&rd, f->c->word, f->c->wlen)) {
      f->found = 0;
      return 0;
    }
  }
  return 1;
}

/* First range whose end is past d (ranges sorted and disjoint). */
static size_t range_at(const sctx *s, uint32_t d) {
  size_t lo = 0, hi = s->nranges;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->ranges[mid].hi <= d)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* 1 when the word is confirmed visible; its display form in `display`. */
static int word_visible(sctx *s, const cand *c, char *display, size_t cap) {
  cs_pcur *pc;
  int rc = cs_pcur_open(s->r, c->stem, c->slen, &pc);
  if (rc) {
    if (rc != CS_ENOTFOUND) s->rc = rc;
    return 0;
  }
  find_ctx f = {c, display, cap, 0};
  int checks = 0, portal = s->c->role == CS_CALLER_PORTAL;
  for (;;) {
    uint32_t d = cs_pcur_docid(pc);
    if (d == CS_DOCID_END) break;
    if (portal) {
      /* Only the caller's documents count against the bounds: the jumps
       * over others' (at most one per range) depend on their data. */
      size_t i = range_at(s, d);
      if (i == s->nranges) break;
      if (d < s->ranges[i].lo) {
        cs_pcur_next_geq(pc, s->ranges[i].lo);
        continue;
      }
    }
    if (++s->steps > STEPS_MAX) break;
    if (checks++ >= CHECKS_PER_WORD || ++s->checks > CHECKS_MAX) break;
    if (doc_has(s, pc, d, &f)) break;
    cs_pcur_next(pc);
  }
  if (cs_pcur_error(pc) && !s->rc) s->rc = cs_pcur_error(pc);
  cs_pcur_close(pc);
  return f.found;
}

/* ---------------------------------------------------------------- people */

static int add_range(sctx *s, uint32_t lo, uint32_t hi) {
  if (hi <= lo) return 0;
  if (cs_grow((void **)&s->ranges, &s->cap_ranges, s->nranges + 1, sizeof *s->ranges))
    return CS_ENOMEM;
  s->ranges[s->nranges].lo = lo;
  s->ranges[s->nranges].hi = hi;
  s->nranges++;
  return 0;
}

static int range_cmp(const void *a, const void *b) {
  const range *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void merge_ranges(sctx *s) {
  if (!s->nranges) return;
  qsort(s->ranges, s->nranges, sizeof *s->ranges, range_cmp);
  size_t o = 0;
  for (size_t i = 1; i < s->nranges; i++) {
    if (s->ranges[i].lo <= s->ranges[o].hi) {
      if (s->ranges[i].hi > s->ranges[o].hi) s->ranges[o].hi = s->ranges[i].hi;
    } else {
      s->ranges[++o] = s->ranges[i];
    }
  }
  s->nranges = o + 1;
}

typedef struct prefix_ctx {
  const char *prefix;
  size_t plen;
  int hit;
} prefix_ctx;

static int prefix_word(void *ctx, const char *w, size_t n) {
  prefix_ctx *p = ctx;
  char buf[WORD_MAX];
  int fl = cs__fold_query_word(w, n, buf, sizeof buf);
  p->hit = fl >= 0 && (size_t)fl >= p->plen && !memcmp(buf, p->prefix, p->plen);
  return p->hit;
}

static int pick_cmp(const void *a, const void *b) {
  const pick *x = a, *y = b;
  if (x->rank != y->rank) return x->rank > y->rank ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* One person the caller may see: a candidate when a name word matches. */
static int consider_person(sctx *s, uint64_t id, cs_str name) {
  if (++s->people_seen > PEOPLE_MAX) return 1;
  prefix_ctx pc = {s->prefix, s->plen, 0};
  each_word(name.p, name.len, prefix_word, &pc);
  if (!pc.hit) return 0;
  if (cs_grow_from((void **)&s->people, &s->cap_people, s->npeople + 1, sizeof *s->people, 16)) {
    s->rc = CS_ENOMEM;
    return 1;
  }
  pick *k = &s->people[s->npeople++];
  size_t n = cs_utf8_cut(name.p, name.len, sizeof k->text - 1);
  memcpy(k->text, name.p, n);
  k->text[n] = 0;
  k->id = id;
  k->rank = 0;
  if (s->c->role == CS_CALLER_PORTAL) {
    /* The people the caller works with most come first. */
    cs_inter x;
    if (cs_reader_inter(s->r, id, s->c->employee_id, &x) == 0 && isfinite(x.score_ref))
      k->rank = x.score_ref;
  }
  return 0;
}

/* A portal caller's own people (owned.h): their documents (their names,
 * and the docid range of each of their conversations) and name matches.
 * Past PEOPLE_MAX people, names are no longer matched. */
static int own_people(sctx *s, const cs__owned *own) {
  int rc = 0;
  for (size_t i = 0; !rc && i < own->npeople; i++) {
    const cs__owned_person *p = &own->people[i];
    if (p->name_docid) rc = add_range(s, p->name_docid, p->name_docid + 1);
    if (!rc && s->people_seen <= PEOPLE_MAX) (void)consider_person(s, p->id, p->name);
    if (!rc) rc = s->rc;
  }
  for (size_t i = 0; !rc && i < own->nr; i++)
    rc = add_range(s, own->r[i].f, own->r[i].e);
  merge_ranges(s);
  return rc;
}

static int scan_patient(void *ctx, cs_slice key, cs_slice val) {
  sctx *s = ctx;
  cs_patient p;
  if (key.len != 8 || cs_corrupt_rc(cs_patient_decode(val.data, val.len, &p), CS_T_PATIENT, key))
    return 0;
  return consider_person(s, p.id, p.name);
}

/* ---------------------------------------------------------------- entry */

int cs_engine_suggest(cs_engine *e, const cs_caller *c, const char *q, uint32_t limit, json_t **out,
                      cs_engine_error *err) {
  *out = NULL;
  if (!q) q = "";
  if (strlen(q) > CS_QUERY_MAX_BYTES) {
    cs_engine_err(err, 400, "query_too_long", "q is longer than %d bytes", CS_QUERY_MAX_BYTES);
    return -1;
  }
  if (limit < 1 || limit > CS_PAGE_MAX) {
    cs_engine_err(err, 400, "bad_parameter", "limit must be from 1 to %d", CS_PAGE_MAX);
    return -1;
  }
  json_t *list = json_array();
  sctx *s = calloc(1, sizeof *s);
  cand *cands = calloc(CANDIDATES, sizeof *cands);
  pick *words = calloc(limit, sizeof *words);
  if (!list || !s || !cands || !words) {
    json_decref(list);
    free(s);
    free(cands);
    free(words);
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  s->c = c;
  s->cands = cands;
  s->plen = last_word(q, s->prefix, sizeof s->prefix);
  int nobody = c->role == CS_CALLER_PORTAL && c->employee_id == 0;
  if (s->plen == 0 || nobody) goto done;

  cs_view v;
  if (cs_view_begin(e, &v, err)) {
    json_decref(list);
    list = NULL;
    goto done;
  }
  s->r = v.r;
  int rc = 0;
  /* The caller's people: their documents (portal) and name matches. */
  if (c->role == CS_CALLER_PORTAL) {
    cs__snapcache *lc = cs__snapcache_current();
    cs__owned *own = NULL;
    rc = cs__owned_get(lc, v.r, c->employee_id, &own);
    if (!rc) rc = own_people(s, own);
    cs__owned_release(lc, own);
  } else if (c->role == CS_CALLER_ADMIN) {
    rc = cs_reader_scan(v.r, CS_T_PATIENT, NULL, 0, scan_patient, s);
  }
  if (!rc) rc = s->rc;
  /* Candidate words and their df from the caller's statistics (tstats.h):
   * for a portal caller its own words, ranked by its own counts. */
  cs__tstats ts;
  cs__tstats_init(&ts, v.r, c);
  uint8_t key[8 + WORD_MAX];
  cs__ts_key_prefix(&ts, key, &s->kplen);
  memcpy(key + s->kplen, s->prefix, s->plen);
  if (!rc)
    rc = cs_reader_scan(v.r, cs__ts_words_table(&ts), key, s->kplen + s->plen, scan_words, s);
  size_t nwords = 0;
  for (size_t i = 0; !rc && i < s->ncands && nwords < limit; i++) {
    if (word_visible(s, &s->cands[i], words[nwords].text, sizeof words[nwords].text)) nwords++;
    rc = s->rc;
  }
  if (rc) {
    cs_view_end(e, &v);
    cs_engine_err(err, 500, rc == CS_ECORRUPT ? "index_corrupt" : "internal",
                  "suggestions cannot be read: %s", cs_strerror(rc));
    json_decref(list);
    list = NULL;
    goto done;
  }
  if (s->npeople > 1) qsort(s->people, s->npeople, sizeof *s->people, pick_cmp);
  /* People first, up to half the list when there are words too; then words;
   * then more people if words ran short. */
  size_t half = (limit + 1) / 2;
  size_t np = s->npeople < limit ? s->npeople : limit;
  if (nwords && np > half) np = half;
  size_t nw = nwords < limit - np ? nwords : limit - np;
  if (np + nw < limit && s->npeople > np) {
    size_t more = limit - np - nw;
    np += s->npeople - np < more ? s->npeople - np : more;
  }
  for (size_t i = 0; i < np; i++) {
    json_t *it = json_pack("{s:s, s:s, s:I}", "text", s->people[i].text, "kind", "person", "id",
                           (json_int_t)s->people[i].id);
    if (it) json_array_append_new(list, it);
  }
  for (size_t i = 0; i < nw; i++) {
    json_t *it = json_pack("{s:s, s:s}", "text", words[i].text, "kind", "word");
    if (it) json_array_append_new(list, it);
  }
  cs_view_end(e, &v);
done:
  free(s->ranges);
  free(s->people);
  cs__analyzer_put(s->a);
  free(s);
  free(cands);
  free(words);
  if (!list) return -1;
  *out = json_pack("{s:o}", "suggestions", list);
  if (!*out) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  return 0;
}
