/*
 * Term expansion (see expand.h).
 *
 * Prefix expansion seeks the prefix in CS_T_WORDS and scans the words that
 * start with it (at most PREFIX_SCAN entries: a two-letter prefix of a large
 * vocabulary is cut there rather than read whole).
 *
 * Typo expansion walks the words that share the query word's first
 * character in key order, computing one row of the edit-distance table per
 * character of the key. Consecutive keys share prefixes, so rows are reused
 * up to their common prefix; and as soon as a row's minimum exceeds the
 * allowed edits, no word with that prefix can match, so the walk seeks past
 * the whole prefix ("trie pruning" over the sorted keys). This visits a
 * small fraction of the vocabulary, and FUZZY_VISITS bounds it anyway.
 * Distances count characters, not bytes (ñ is one letter), with adjacent
 * transpositions as one edit (optimal string alignment).
 */
#include "expand.h"
#include "corrupt.h"
#include "expmemo.h"
#include "lexcache.h"
#include "synonyms.h"
#include "tstats.h"

#include "clock.h"
#include "errors.h"
#include "grow.h"
#include "records.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

#define PREFIX_SCAN 4096
#define FUZZY_VISITS 20000
#define FUZZY_SEEKS 4000
#define MAXCP CS__LEX_MAXCP

typedef struct cand {
  const char *stem; /* points into the index (reader lifetime) */
  uint8_t len;
  uint8_t exact;
  uint8_t edits; /* typo candidates: distance; prefix candidates: 0 */
  uint8_t fuzzy; /* from the typo walk */
  double weight;
  uint64_t wdf; /* word frequency, for ordering */
} cand;

typedef struct cands {
  cand *v;
  size_t n, cap;
  int err;
} cands;

static void cands_add(cands *c, const char *stem, size_t len, int exact, int fuzzy, int edits,
                      double weight, uint64_t wdf) {
  if (c->err || len == 0 || len > CS_TERM_MAX) return;
  if (cs_grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v)) {
    c->err = CS_ENOMEM;
    return;
  }
  cand *x = &c->v[c->n++];
  x->stem = stem;
  x->len = (uint8_t)len;
  x->exact = (uint8_t)exact;
  x->fuzzy = (uint8_t)fuzzy;
  x->edits = (uint8_t)edits;
  x->weight = weight;
  x->wdf = wdf;
}

static int decode(const char *s, size_t n, uint32_t *cp, uint32_t *ends, int max) {
  return cs__utf8_decode(s, n, cp, ends, max);
}

/* The bytes of the first k code points of s[0..n), as decode counts them. */
static size_t cp_bytes(const uint8_t *s, size_t n, int k) {
  size_t i = 0;
  for (; i < n && k > 0; k--) {
    size_t len = s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : s[i] >= 0xC0 ? 2 : 1;
    i += i + len > n ? 1 : len;
  }
  return i;
}

/* A walk over one table of the statistics' scope: its copy in RAM for the
 * view's snapshot (snapcache.h) when there is one, else a cursor over the
 * index. Both give the same keys in the same order. */
typedef struct walkcur {
  cs_rcur *cur;
  const cs__lexarr *a;
  size_t i;
} walkcur;

static int wc_at(walkcur *w, cs_slice *k) {
  if (w->i >= w->a->n) return CS_ENOTFOUND;
  const cs__lexent *x = &w->a->e[w->i];
  *k = (cs_slice){w->a->bytes + x->key, x->klen};
  return 0;
}

static int wc_seek(walkcur *w, cs_slice key, cs_slice *k, cs_slice *v) {
  if (!w->a) return cs_rcur_seek(w->cur, key, k, v);
  w->i = cs__lexarr_seek(w->a, w->i, key.data, key.len);
  return wc_at(w, k);
}

static int wc_next(walkcur *w, cs_slice *k, cs_slice *v) {
  if (!w->a) return cs_rcur_next(w->cur, k, v);
  w->i++;
  return wc_at(w, k);
}

/* ---------------------------------------------------------------- prefix */

typedef struct prefix_ctx {
  cands *c;
  int qchars;
  size_t seen;
  size_t kplen; /* the key prefix of the statistics' scope (tstats.h) */
} prefix_ctx;

static int count_cp(const char *s, size_t n) {
  int c = 0;
  for (size_t i = 0; i < n; i++)
    c += ((unsigned char)s[i] & 0xC0) != 0x80;
  return c;
}

/* One word of the prefix scan: key (with the scope's prefix), its stem and
 * df. Returns 1 to stop. */
static int prefix_word(prefix_ctx *x, cs_slice key, const char *stem, size_t slen, uint64_t df) {
  int kc = count_cp((const char *)key.data + x->kplen, key.len - x->kplen);
  double ratio = kc > 0 ? (double)x->qchars / kc : 1.0;
  if (ratio > 1.0) ratio = 1.0;
  double weight = CS__W_PREFIX_MIN + (CS__W_PREFIX_MAX - CS__W_PREFIX_MIN) * ratio;
  int exact = kc == x->qchars; /* the word itself */
  cands_add(x->c, stem, slen, exact, 0, 0, exact ? 1.0 : weight, df);
  return 0;
}

static int prefix_each(void *ctx, cs_slice key, cs_slice val) {
  prefix_ctx *x = ctx;
  if (++x->seen > PREFIX_SCAN) return 1;
  cs_word w;
  cs_table t = x->kplen ? CS_T_OWORDS : CS_T_WORDS;
  if (cs_corrupt_rc(cs_word_decode(val.data, val.len, &w), t, key)) return 0; /* skipped */
  return prefix_word(x, key, w.stem.p, w.stem.len, w.df);
}

/* prefix_each's walk over the copy in RAM. */
static void prefix_scan(prefix_ctx *x, const cs__lexarr *a, const uint8_t *kp, size_t len) {
  for (size_t i = cs__lexarr_seek(a, 0, kp, len); i < a->n; i++) {
    const cs__lexent *e = &a->e[i];
    if (e->klen < len || memcmp(a->bytes + e->key, kp, len) != 0) break;
    if (++x->seen > PREFIX_SCAN) break;
    if (e->ok &&
        prefix_word(x, (cs_slice){a->bytes + e->key, e->klen}, a->bytes + e->stem, e->slen, e->df))
      break;
  }
}

/* ---------------------------------------------------------------- typos */

typedef struct fuzzy_ctx {
  cands *c;
  uint32_t q[MAXCP];
  int m, maxd;
  uint8_t rows[MAXCP + 1][MAXCP + 1];
  uint32_t key[MAXCP + 1];           /* code points of the previous key */
  int klen;                          /* rows valid for key[0..klen) (-1: none yet) */
  uint8_t dead[CS_TERM_MAX * 4 + 8]; /* a prefix no match starts with */
  size_t dead_len;
  const char *stem; /* the query word's stem */
  size_t stem_len;
  int word_known;  /* the query word itself is in the index */
  int stems;       /* walking CS_T_LEX (stems) rather than CS_T_WORDS */
  size_t kplen;    /* keys start with the scope's prefix (tstats.h) */
  int ascii_key;   /* the key looked at has one byte per code point */
  cs__recipe *rec; /* notes the keys within reach (NULL: none) */
} fuzzy_ctx;

/* Notes key[0..len) (past the scope's prefix), at distance d, in f's
 * recipe. */
static void rec_key(fuzzy_ctx *f, const char *key, size_t len, int d) {
  cs__recipe *r = f->rec;
  if (!r || !r->ok) return;
  if (len == 0 || len > 255 || r->len + 2 + len > CS__RECIPE_BYTES) {
    r->ok = 0;
    return;
  }
  r->bytes[r->len] = (uint8_t)((f->stems ? 0x80 : 0) | d);
  r->bytes[r->len + 1] = (uint8_t)len;
  memcpy(r->bytes + r->len + 2, key, len);
  r->len = (uint16_t)(r->len + 2 + len);
}

/* A walk ended, having used visits and seeks, cut short by its bounds or
 * not. */
static void rec_walk(fuzzy_ctx *f, size_t visits, size_t seeks, int cut) {
  cs__recipe *r = f->rec;
  if (!r) return;
  if (cut) r->ok = 0;
  if (visits > r->visits) r->visits = (uint32_t)visits;
  if (seeks > r->seeks) r->seeks = (uint32_t)seeks;
}

/* Computes row i (1-based) of the table for key code point k[i-1]: only
 * the band |i - j| <= maxd (Ukkonen), since a cell outside it is more than
 * maxd anyway. The cells just outside the band hold maxd + 1, which is all
 * the next rows need to know of them; so values above maxd may come out
 * smaller than the true distance, never those up to maxd. Returns the
 * row's minimum, or more than maxd when that is. */
static int fill_row(fuzzy_ctx *f, const uint32_t *k, int i) {
  uint8_t *r = f->rows[i], *p = f->rows[i - 1];
  int best = r[0] = (uint8_t)(i > 255 ? 255 : i);
  int lo = i - f->maxd, hi = i + f->maxd;
  if (lo < 1) lo = 1;
  if (hi > f->m) hi = f->m;
  uint8_t out = (uint8_t)(f->maxd + 1);
  if (lo > 1) r[lo - 1] = out;
  if (hi < f->m) r[hi + 1] = out;
  for (int j = lo; j <= hi; j++) {
    int v = p[j] + 1;
    if (r[j - 1] + 1 < v) v = r[j - 1] + 1;
    int sub = p[j - 1] + (k[i - 1] != f->q[j - 1]);
    if (sub < v) v = sub;
    if (i > 1 && j > 1 && k[i - 1] == f->q[j - 2] && k[i - 2] == f->q[j - 1]) {
      int tr = f->rows[i - 2][j - 2] + 1;
      if (tr < v) v = tr;
    }
    r[j] = (uint8_t)(v > 255 ? 255 : v);
    if (v < best) best = v;
  }
  return best;
}

/* The distance between the key's first n code points and the query, or
 * more than maxd (rows 0..n filled). */
static int distance(const fuzzy_ctx *f, int n) {
  return n - f->m > f->maxd || f->m - n > f->maxd ? f->maxd + 1 : f->rows[n][f->m];
}

/* Fills the rows for one key of the walk (its code points past the
 * scope's prefix: cp[0..n); ends[i], when given, the byte offset after
 * cp[i]). Returns 1 when it lies under a dead prefix (f->dead): no word
 * starting with it is close enough; else 0 with its distance in *d. */
static int fuzzy_rows(fuzzy_ctx *f, cs_slice full, const uint32_t *cp, int n, const uint32_t *ends,
                      int lcp, int *d) {
  if (lcp < 0) { /* the rows' key is f->key */
    lcp = 0;
    if (f->klen >= 0) {
      while (lcp < n && lcp < f->klen && cp[lcp] == f->key[lcp])
        lcp++;
    }
    memcpy(f->key, cp, (size_t)n * sizeof cp[0]);
  }
  f->klen = n;
  for (int i = lcp + 1; i <= n; i++) {
    if (fill_row(f, cp, i) > f->maxd) {
      f->klen = i - 1; /* rows past i-1 are not valid for the next key */
      size_t dl = f->kplen + (ends           ? ends[i - 1]
                              : f->ascii_key ? (size_t)i
                                             : cp_bytes((const uint8_t *)full.data + f->kplen,
                                                        full.len - f->kplen, i));
      f->dead_len = dl < sizeof f->dead ? dl : sizeof f->dead;
      memcpy(f->dead, full.data, f->dead_len);
      return 1;
    }
  }
  *d = distance(f, n);
  return 0;
}

/* A match of the walk at distance d: the stem (stems walk: the key
 * itself) and its df, or the surface word's stem and df. */
static void fuzzy_match(fuzzy_ctx *f, int d, const char *stem, size_t slen, uint64_t df) {
  /* When the query word is itself in the index, a typo match must also be
   * a typo of its stem: "viviendo" is one edit from "vivienda", but its
   * stem "viv" would match vivo, vive and vivir. A word the index does not
   * have is a real typo, and then its stem says nothing (Snowball leaves
   * "bonificacon" whole but cuts "bonificacion" to "bonif"). */
  if (!f->stems && f->word_known &&
      cs__edit_distance(stem, slen, f->stem, f->stem_len, f->maxd) > f->maxd)
    return;
  double weight = d == 0 ? 1.0 : d == 1 ? CS__W_FUZZY1 : CS__W_FUZZY2;
  cands_add(f->c, stem, slen, d == 0, 1, d, weight, df);
}

/* Looks at one key of the walk over the index. Returns 1 when it lies
 * under a dead prefix. */
static int fuzzy_key(fuzzy_ctx *f, cs_slice full, cs_slice val) {
  uint32_t cp[MAXCP + 1], ends[MAXCP + 1];
  cs_slice key = {(const char *)full.data + f->kplen, full.len - f->kplen};
  int n = decode(key.data, key.len, cp, ends, MAXCP);
  int d;
  if (fuzzy_rows(f, full, cp, n, ends, -1, &d)) return 1;
  if (d <= f->maxd) rec_key(f, key.data, key.len, d);
  if (d <= f->maxd && f->stems) {
    cs_lex lx;
    /* The key is the stem itself (passage terms start with a byte no
     * query word starts with, so the walk never reaches them). */
    if (cs_corrupt_rc(cs_lex_decode(val.data, val.len, &lx), f->kplen ? CS_T_OLEX : CS_T_LEX,
                      full) == 0)
      fuzzy_match(f, d, key.data, key.len, lx.df);
    else if (f->rec)
      f->rec->ok = 0;
  } else if (d <= f->maxd) {
    cs_word w;
    if (cs_corrupt_rc(cs_word_decode(val.data, val.len, &w), f->kplen ? CS_T_OWORDS : CS_T_WORDS,
                      full) == 0)
      fuzzy_match(f, d, w.stem.p, w.stem.len, w.df);
    else if (f->rec)
      f->rec->ok = 0;
  }
  return 0;
}

/* fuzzy_key over the copy in RAM: code points and value decoded once;
 * lcp: the code points it shares with the previous key looked at, as far
 * as that key's rows are valid. */
static int fuzzy_ent(fuzzy_ctx *f, const cs__lexarr *a, const cs__lexent *e, int lcp) {
  cs_slice full = {a->bytes + e->key, e->klen};
  f->ascii_key = (size_t)e->klen - f->kplen == e->ncp;
  int d;
  uint32_t buf[MAXCP];
  if (fuzzy_rows(f, full, cs__lexent_cps(a, e, buf), e->ncp, NULL, lcp, &d)) return 1;
  if (d <= f->maxd) {
    rec_key(f, (const char *)full.data + f->kplen, full.len - f->kplen, d);
    if (!e->ok && f->rec) f->rec->ok = 0;
  }
  if (d <= f->maxd && e->ok) {
    if (f->stems)
      fuzzy_match(f, d, (const char *)full.data + f->kplen, full.len - f->kplen, e->df);
    else
      fuzzy_match(f, d, a->bytes + e->stem, e->slen, e->df);
  }
  return 0;
}

/* Inline rather than memcmp: the walk asks once or twice per key it
 * visits, for prefixes of a few bytes. */
static inline int starts_with(cs_slice k, const void *p, size_t n) {
  if (k.len < n) return 0;
  const uint8_t *a = k.data, *b = p;
  for (size_t i = 0; i < n; i++) {
    if (a[i] != b[i]) return 0;
  }
  return 1;
}

/* The first key after every key starting with p[0..n): p with its last
 * byte below 0xFF incremented. 0 when there is none. */
static size_t successor(uint8_t *p, size_t n) {
  while (n > 0 && p[n - 1] == 0xFF)
    n--;
  if (n == 0) return 0;
  p[n - 1]++;
  return n;
}

/* Keys under a dead prefix are stepped over with next when few (a seek
 * costs a B-tree descent), and sought past after this many. */
#define DEAD_STEPS 8

/* The walk of fuzzy_walk over the copy in RAM: the same keys visited,
 * stepped over and sought past, in the same order and within the same
 * bounds, but whether a key lies under a prefix, and how many code points
 * it shares with the key before, come from each entry's common prefix with
 * the one before it (lcpb, lcpc) instead of comparisons. */
static void walk_arr(fuzzy_ctx *f, const cs__lexarr *a, const uint8_t *pfx, size_t plen) {
  size_t i = cs__lexarr_seek(a, 0, pfx, plen);
  size_t visits = 0, seeks = 0, steps = 0;
  size_t prev = SIZE_MAX; /* the last entry looked at */
  int sought = 1;         /* i was reached by a seek (not stepped to from i - 1) */
  unsigned run_b = 0;     /* since prev: the least lcpb (bytes shared) */
  int run_c = 0;          /* ... and lcpc (code points shared) */
  int cut = 0;
  for (;;) {
    if (i >= a->n) break;
    const cs__lexent *e = &a->e[i];
    int in = sought ? e->klen >= plen && memcmp(a->bytes + e->key, pfx, plen) == 0
                    : e->lcpb >= plen; /* i - 1 starts with pfx */
    if (!in) break;
    if (visits++ >= FUZZY_VISITS) {
      cut = 1;
      break;
    }
    if (!sought && prev != SIZE_MAX) {
      if (e->lcpb < run_b) run_b = e->lcpb;
      if (e->lcpc < run_c) run_c = e->lcpc;
    }
    if (f->dead_len) {
      /* f->dead is a prefix of prev's key; sought is 0 here. */
      int under = f->dead_len <= 255
                      ? run_b >= f->dead_len
                      : starts_with((cs_slice){a->bytes + e->key, e->klen}, f->dead, f->dead_len);
      if (under) {
        if (++steps <= DEAD_STEPS) {
          i++;
          sought = 0;
          continue;
        }
        size_t n = successor(f->dead, f->dead_len);
        if (!n || ++seeks > FUZZY_SEEKS) {
          cut = 1;
          break;
        }
        /* The first key past the prefix: the first entry sharing less of
         * it with the one before, when near; else a search. */
        size_t j = i + 1, near = i + 64 < a->n ? i + 64 : a->n;
        if (f->dead_len <= 255) {
          while (j < near && a->e[j].lcpb >= f->dead_len)
            j++;
        }
        i = j < near ? j : cs__lexarr_seek(a, i, f->dead, n);
        f->dead_len = 0;
        sought = 1;
        continue;
      }
    }
    f->dead_len = 0;
    steps = 0;
    int lcp = 0;
    if (prev != SIZE_MAX && f->klen > 0) {
      if (sought) {
        uint32_t xb[MAXCP], yb[MAXCP];
        const uint32_t *x = cs__lexent_cps(a, &a->e[prev], xb), *y = cs__lexent_cps(a, e, yb);
        int lim = f->klen < e->ncp ? f->klen : e->ncp;
        while (lcp < lim && x[lcp] == y[lcp])
          lcp++;
      } else {
        lcp = run_c < f->klen ? run_c : f->klen;
      }
    }
    fuzzy_ent(f, a, e, lcp);
    prev = i;
    run_b = 255;
    run_c = 255;
    i++;
    sought = 0;
  }
  rec_walk(f, visits, seeks, cut);
}

/* Walks CS_T_WORDS for the surface words within maxd edits of the query
 * word, or (stems) CS_T_LEX for the stems within maxd edits of its stem
 * (the scope's tables): over arr, their copy in RAM, when not NULL. */
static int fuzzy_walk(const cs__tstats *ts, const cs__qword *w, int maxd, int word_known, int stems,
                      const cs__lexarr *arr, cs__recipe *rec, cands *c) {
  fuzzy_ctx *f = calloc(1, sizeof *f);
  if (!f) return CS_ENOMEM;
  f->c = c;
  f->maxd = maxd;
  f->klen = -1;
  f->stem = w->term;
  f->stem_len = w->term_len;
  f->word_known = word_known;
  f->stems = stems;
  f->rec = rec;
  const char *q = stems ? w->term : w->word;
  size_t qlen = stems ? w->term_len : w->word_len;
  uint32_t ends[MAXCP + 1];
  f->m = decode(q, qlen, f->q, ends, MAXCP);
  for (int j = 0; j <= f->m; j++)
    f->rows[0][j] = (uint8_t)j;
  walkcur wc = {NULL, NULL, 0};
  int rc = 0;
  if (f->m > 0 && !arr)
    rc = cs_reader_cursor(ts->r, stems ? cs__ts_lex_table(ts) : cs__ts_words_table(ts), &wc.cur);
  if (rc || f->m == 0) goto out;
  /* Candidates share the first character: typos there are rare, and the
   * walk stays within one letter's words (of the scope's). */
  uint8_t pfx[8 + 4];
  cs__ts_key_prefix(ts, pfx, &f->kplen);
  memcpy(pfx + f->kplen, q, ends[0]);
  size_t plen = f->kplen + ends[0];
  if (arr) {
    walk_arr(f, arr, pfx, plen);
    goto out;
  }
  cs_slice k, v;
  rc = wc_seek(&wc, (cs_slice){pfx, plen}, &k, &v);
  size_t visits = 0, seeks = 0, steps = 0;
  int cut = 0;
  while (rc == 0 && starts_with(k, pfx, plen)) {
    if (visits++ >= FUZZY_VISITS) {
      cut = 1;
      break;
    }
    if (f->dead_len && starts_with(k, f->dead, f->dead_len)) {
      if (++steps <= DEAD_STEPS) {
        rc = wc_next(&wc, &k, &v);
        continue;
      }
      size_t n = successor(f->dead, f->dead_len);
      f->dead_len = 0;
      if (!n || ++seeks > FUZZY_SEEKS) {
        cut = 1;
        break;
      }
      rc = wc_seek(&wc, (cs_slice){f->dead, n}, &k, &v);
      continue;
    }
    f->dead_len = 0;
    steps = 0;
    fuzzy_key(f, k, v);
    rc = wc_next(&wc, &k, &v);
  }
  if (rc == CS_ENOTFOUND) rc = 0;
  rec_walk(f, visits, seeks, cut || rc);
out:
  cs_rcur_close(wc.cur);
  free(f);
  return rc;
}

int cs__edit_distance(const char *a, size_t alen, const char *b, size_t blen, int max) {
  /* A small table of its own (stack): only called for a few candidates. */
  fuzzy_ctx f;
  f.maxd = max;
  f.m = decode(b, blen, f.q, NULL, MAXCP);
  for (int j = 0; j <= f.m; j++)
    f.rows[0][j] = (uint8_t)j;
  uint32_t cp[MAXCP + 1];
  int n = decode(a, alen, cp, NULL, MAXCP);
  for (int i = 1; i <= n; i++) {
    if (fill_row(&f, cp, i) > max) return max + 1;
  }
  int d = distance(&f, n);
  return d > max ? max + 1 : d;
}

/* Typo budget of a stem by its length, like the parser's for words: none
 * up to 4 characters, one up to 8, two beyond. */
static int stem_edits(const char *s, size_t n) {
  int c = count_cp(s, n);
  return c <= 4 ? 0 : c <= 8 ? 1 : 2;
}

/* The typo budget of the words walk and of the terms walk (0: not walked)
 * for word w with `edits`. */
static int words_edits(const cs__qword *w, int edits) {
  return edits <= 0 || w->number ? 0 : edits > 2 ? 2 : edits;
}

static int terms_edits(const cs__qword *w, int edits) {
  if (!words_edits(w, edits) || w->stop) return 0;
  int se = stem_edits(w->term, w->term_len);
  return se > edits ? edits : se;
}

/* ---------------------------------------------------------------- recipes */

int cs__recipe_reached(const cs__qword *w, int edits, int lex, const char *key, size_t len) {
  int maxd = lex ? terms_edits(w, edits) : words_edits(w, edits);
  if (!maxd) return 0;
  const char *q = lex ? w->term : w->word;
  size_t qlen = lex ? w->term_len : w->word_len;
  /* The walks look at the keys that share the word's first character. */
  size_t first = cp_bytes((const uint8_t *)q, qlen, 1);
  if (!first || len < first || memcmp(key, q, first) != 0) return 0;
  return cs__edit_distance(key, len, q, qlen, maxd) <= maxd;
}

int cs__recipe_carry(cs__recipe *r, uint32_t changes) {
  if (!r->ok) return 0;
  uint64_t n = (uint64_t)r->changes + changes;
  r->changes = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
  /* A key added or removed adds at most one visit (itself, or a key no
   * longer under a dead prefix) and one seek (a run of dead keys grown
   * past DEAD_STEPS) to a walk: counted as DEAD_STEPS + 2 and 2. */
  return r->visits + n * (DEAD_STEPS + 2) < FUZZY_VISITS && r->seeks + n * 2 < FUZZY_SEEKS;
}

static _Atomic uint64_t replayed;

uint64_t cs__expand_replayed(void) {
  return replayed;
}

/* The typo walks of word w made again from rec, the keys they found at
 * an earlier version of the scope (an owner's, the collection's): each
 * looked up in the scope, its
 * match judged as the walk judged it. Returns 1 when a key is not there
 * any more (or cannot be read): walk instead. */
static int replay(const cs__tstats *ts, const cs__qword *w, int edits, int known,
                  const cs__recipe *rec, cands *c) {
  fuzzy_ctx *f = calloc(1, sizeof *f);
  if (!f) return CS_ENOMEM;
  f->c = c;
  f->stem = w->term;
  f->stem_len = w->term_len;
  f->word_known = known;
  int rc = 0;
  for (size_t i = 0; !rc && i + 2 <= rec->len;) {
    int stems = rec->bytes[i] >> 7, d = rec->bytes[i] & 0x7F;
    size_t len = rec->bytes[i + 1];
    const char *key = (const char *)rec->bytes + i + 2;
    i += 2 + len;
    f->stems = stems;
    f->maxd = stems ? terms_edits(w, edits) : words_edits(w, edits);
    if (i > rec->len || d > f->maxd) {
      rc = 1;
    } else if (stems) {
      cs_lex lx;
      rc = cs__ts_lex(ts, key, len, &lx) ? 1 : 0;
      if (!rc) fuzzy_match(f, d, key, len, lx.df);
    } else {
      cs_word wd;
      rc = cs__ts_word(ts, key, len, &wd) ? 1 : 0;
      if (!rc) fuzzy_match(f, d, wd.stem.p, wd.stem.len, wd.df);
    }
  }
  free(f);
  return rc;
}

/* ---------------------------------------------------------------- merge */

static int cand_by_stem(const void *a, const void *b) {
  const cand *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->stem, y->stem, n);
  return c ? c : (int)x->len - (int)y->len;
}

/* Exact first; then typo matches by edits and frequency; then prefix
 * matches by frequency ("most frequent first"); ties by term. */
static int cand_by_rank(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->exact != y->exact) return x->exact ? -1 : 1;
  if (x->fuzzy != y->fuzzy) return x->fuzzy ? -1 : 1;
  if (x->fuzzy && x->edits != y->edits) return x->edits < y->edits ? -1 : 1;
  if (x->wdf != y->wdf) return x->wdf > y->wdf ? -1 : 1;
  return cand_by_stem(a, b);
}

/* Administrator synonyms of the word's stem (synonyms.h), after the other
 * variants and beyond `cap` (at most CS__SYN_EXPAND, within
 * CS__EXPAND_MAX): they rank below the word itself. */
static int add_synonyms(const cs__tstats *ts, const cs__qword *w, cs__variant *out, uint32_t *n) {
  const char *st[CS__SYN_EXPAND];
  uint8_t sl[CS__SYN_EXPAND];
  size_t ns =
      cs__synonyms_lookup(cs__synonyms_current(), w->term, w->term_len, st, sl, CS__SYN_EXPAND);
  for (size_t i = 0; i < ns && *n < CS__EXPAND_MAX; i++) {
    int dup = 0;
    for (uint32_t k = 0; k < *n && !dup; k++)
      dup = out[k].len == sl[i] && memcmp(out[k].term, st[i], sl[i]) == 0;
    cs_lex lx;
    int rc = dup ? CS_ENOTFOUND : cs__ts_lex(ts, st[i], sl[i], &lx);
    if (rc == CS_ENOTFOUND) continue;
    if (rc) return rc;
    cs__variant *v = &out[(*n)++];
    memcpy(v->term, st[i], sl[i]);
    v->term[sl[i]] = 0;
    v->len = sl[i];
    v->exact = 0;
    v->edits = 0;
    v->synonym = 1;
    v->weight = CS__W_SYNONYM;
    v->df = lx.df;
  }
  return 0;
}

/* Whether a walk without the copy counts towards making it again: an
 * owner's copy kept across commits (a version), the only kind made on rent
 * (snapcache.h). */
static int owes(const cs__tstats *ts) {
  return ts->own && ts->version;
}

int cs__expand(const cs__tstats *ts, const cs__qword *w, int prefix, int edits, uint32_t cap,
               cs__variant *out, uint32_t *n) {
  *n = 0;
  if (cap > CS__EXPAND_MAX) cap = CS__EXPAND_MAX;
  cands c;
  memset(&c, 0, sizeof c);
  int rc = 0;
  /* The lexicon in RAM, when there is a copy for this view's snapshot: the
   * candidates point into it until they are copied out below. */
  cs__snapcache *lc = cs__snapcache_current();
  cs__lexarr *words = NULL, *lex = NULL;
  /* An expansion already made on this snapshot. */
  cs__expmemo *memo = cs__expmemo_get(lc, ts);
  cs__expkey mk = {(uint8_t)ts->own, ts->owner, w, (uint8_t)prefix, (uint8_t)edits, cap};
  /* What the walks find, kept with the expansion; or, from an expansion
   * made at the owner's version before, what they found then. */
  cs__recipe recipe, *rec = memo && ts->version ? &recipe : NULL;
  int found = memo ? cs__expmemo_find(memo, &mk, out, n, rec) : 0;
  if (found == 1) goto synonyms;
  int again = found == 2 && rec; /* look the keys found up rather than walk */
  /* The analyzer's stem; and the stem the index recorded for the folded
   * word, which differs when Snowball saw accents at index time that the
   * query lacks ("convalidacion" vs "convalidación"). */
  if (!w->stop) cands_add(&c, w->term, w->term_len, 1, 0, 0, 1.0, UINT64_MAX);
  cs_word we;
  rc = cs__ts_word(ts, w->word, w->word_len, &we);
  int known = rc == 0;
  if (rc == 0)
    cands_add(&c, we.stem.p, we.stem.len, 1, 0, 0, 1.0, UINT64_MAX);
  else if (rc != CS_ENOTFOUND)
    goto out;
  rc = 0;
  if (prefix && w->word_len > 0) {
    prefix_ctx px = {&c, w->chars, 0, 0};
    uint8_t kp[8 + CS_TERM_MAX + 1];
    cs__ts_key_prefix(ts, kp, &px.kplen);
    size_t wl = w->word_len < CS_TERM_MAX + 1 ? w->word_len : CS_TERM_MAX + 1;
    memcpy(kp + px.kplen, w->word, wl);
    words = cs__lexcache_get(lc, ts->r, cs__ts_words_table(ts), ts->owner, ts->version);
    if (words) {
      prefix_scan(&px, words, kp, px.kplen + wl);
    } else {
      int64_t t0 = owes(ts) ? cs_clock_ns(CLOCK_MONOTONIC) : 0;
      rc = cs_reader_scan(ts->r, cs__ts_words_table(ts), kp, px.kplen + wl, prefix_each, &px);
      if (t0)
        cs__lexcache_owe(lc, cs__ts_words_table(ts), ts->owner, cs_clock_ns(CLOCK_MONOTONIC) - t0);
    }
    if (rc > 0) rc = 0;
    if (rc) goto out;
  }
  if (again) {
    size_t before = c.n;
    rc = replay(ts, w, edits, known, rec, &c);
    if (rc == 1) { /* walk instead */
      c.n = before;
      again = 0;
      rc = 0;
    }
    if (rc) goto out;
    if (again) replayed++;
  }
  if (rec && !again) { /* not the bytes: only rec->len of them are read */
    rec->ok = 1;
    rec->len = 0;
    rec->visits = rec->seeks = rec->changes = 0;
  }
  /* The walks' budgets come from words_edits and terms_edits alone: what
   * cs__recipe_reached says a walk reaches is what it walks. */
  int wd = words_edits(w, edits);
  if (wd > 0 && !again) {
    if (!words) words = cs__lexcache_get(lc, ts->r, cs__ts_words_table(ts), ts->owner, ts->version);
    int64_t t0 = !words && owes(ts) ? cs_clock_ns(CLOCK_MONOTONIC) : 0;
    rc = fuzzy_walk(ts, w, wd, known, 0, words, rec, &c);
    if (t0)
      cs__lexcache_owe(lc, cs__ts_words_table(ts), ts->owner, cs_clock_ns(CLOCK_MONOTONIC) - t0);
    if (rc) goto out;
    /* A typo can make Snowball cut the word elsewhere, so that no indexed
     * surface word is close but an indexed stem is: "desahuzio" (stem
     * "desahuzi") is two edits from no form of "desahuciaron" but one from
     * its stem "desahuci". The stem gets its own budget by its length, so
     * a short stem ("cas") gets no typo. */
    int se = terms_edits(w, edits);
    if (se > 0) {
      lex = cs__lexcache_get(lc, ts->r, cs__ts_lex_table(ts), ts->owner, ts->version);
      t0 = !lex && owes(ts) ? cs_clock_ns(CLOCK_MONOTONIC) : 0;
      rc = fuzzy_walk(ts, w, se, known, 1, lex, rec, &c);
      if (t0)
        cs__lexcache_owe(lc, cs__ts_lex_table(ts), ts->owner, cs_clock_ns(CLOCK_MONOTONIC) - t0);
      if (rc) goto out;
    }
  }
  if (c.err) {
    rc = c.err;
    goto out;
  }
  /* One entry per stem: the best way it was reached, summed frequency. */
  if (c.n > 1) qsort(c.v, c.n, sizeof *c.v, cand_by_stem);
  size_t m = 0;
  for (size_t i = 0; i < c.n; i++) {
    if (m && cand_by_stem(&c.v[m - 1], &c.v[i]) == 0) {
      cand *d = &c.v[m - 1];
      const cand *s = &c.v[i];
      if (s->exact) d->exact = 1;
      if (s->weight > d->weight) d->weight = s->weight;
      if (s->fuzzy && (!d->fuzzy || s->edits < d->edits)) {
        d->fuzzy = 1;
        d->edits = s->edits;
      }
      d->wdf = d->wdf > UINT64_MAX - s->wdf ? UINT64_MAX : d->wdf + s->wdf;
      continue;
    }
    c.v[m++] = c.v[i];
  }
  if (m > 1) qsort(c.v, m, sizeof *c.v, cand_by_rank);
  for (size_t i = 0; i < m && *n < cap; i++) {
    cs_lex lx;
    int lrc = cs__ts_lex(ts, c.v[i].stem, c.v[i].len, &lx);
    if (lrc == CS_ENOTFOUND) continue;
    if (lrc) {
      rc = lrc;
      goto out;
    }
    cs__variant *v = &out[(*n)++];
    memcpy(v->term, c.v[i].stem, c.v[i].len);
    v->term[c.v[i].len] = 0;
    v->len = c.v[i].len;
    v->exact = c.v[i].exact;
    v->edits = c.v[i].exact ? 0 : c.v[i].edits;
    v->synonym = 0;
    v->weight = c.v[i].exact ? 1.0 : c.v[i].weight;
    v->df = lx.df;
  }
  if (memo) cs__expmemo_put(memo, &mk, out, *n, rec);
synonyms:
  if (!w->stop && !w->quoted) rc = add_synonyms(ts, w, out, n);
out:
  cs__expmemo_release(lc, memo);
  cs__lexarr_release(lc, words);
  cs__lexarr_release(lc, lex);
  free(c.v);
  return rc;
}
