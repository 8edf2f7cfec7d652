/*
 * MyThes thesaurus reader (thesaurus.h). The .dat format: a first line
 * naming the encoding, then for each headword a line "word|N" followed by
 * N lines "(pos)|synonym|synonym|...". Everything is parsed once into one
 * string pool, an entry table and an open-addressing hash on the folded
 * headword.
 */
#include "thesaurus.h"

#include "internal.h"

#include "analyzer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THES_KEEP 16     /* synonyms kept per headword */
#define THES_MEANINGS 64 /* meanings read per headword at most */

typedef struct syn {
  uint32_t at, len; /* in the pool */
  uint16_t count;   /* meanings listing it */
  uint16_t first;   /* order of first appearance */
} syn;

typedef struct entry {
  uint32_t key, key_len; /* folded headword, in the pool */
  uint32_t syn, nsyn;    /* in t->syns */
  uint32_t meanings;
} entry;

struct cs__thesaurus {
  char *pool;
  size_t pool_len, pool_cap;
  entry *ents;
  size_t nents, ents_cap;
  syn *syns;
  size_t nsyns, syns_cap;
  uint32_t *hash; /* entry index + 1, 0 empty */
  size_t hcap;
};

static uint32_t fnv(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static int pool_add(cs__thesaurus *t, const char *s, size_t n, uint32_t *at) {
  if (cs_grow((void **)&t->pool, &t->pool_cap, t->pool_len + n, 1)) return -1;
  memcpy(t->pool + t->pool_len, s, n);
  *at = (uint32_t)t->pool_len;
  t->pool_len += n;
  return 0;
}

/* ISO8859-1 to UTF-8 (every byte >= 0x80 is one code point). */
static char *latin1_to_utf8(const char *s, size_t n, size_t *out_len) {
  char *o = malloc(n * 2 + 1);
  if (!o) return NULL;
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
      o[j++] = (char)c;
    } else {
      o[j++] = (char)(0xC0 | (c >> 6));
      o[j++] = (char)(0x80 | (c & 0x3F));
    }
  }
  o[j] = 0;
  *out_len = j;
  return o;
}

static const char *line_end(const char *p, const char *end) {
  const char *q = memchr(p, '\n', (size_t)(end - p));
  return q ? q : end;
}

/* One synonym field: annotations in parentheses removed, spaces trimmed. */
static size_t clean_field(const char *s, size_t n, char *out, size_t cap) {
  size_t j = 0;
  int depth = 0;
  for (size_t i = 0; i < n && j + 1 < cap; i++) {
    if (s[i] == '(')
      depth++;
    else if (s[i] == ')' && depth)
      depth--;
    else if (!depth && s[i] != '\r')
      out[j++] = s[i];
  }
  while (j && out[j - 1] == ' ')
    j--;
  size_t k = 0;
  while (k < j && out[k] == ' ')
    k++;
  memmove(out, out + k, j - k);
  return j - k;
}

static int add_syn(cs__thesaurus *t, size_t from, const char *s, size_t n) {
  for (size_t i = from; i < t->nsyns; i++) {
    if (t->syns[i].len == n && memcmp(t->pool + t->syns[i].at, s, n) == 0) {
      t->syns[i].count++;
      return 0;
    }
  }
  if (cs_grow((void **)&t->syns, &t->syns_cap, t->nsyns + 1, sizeof *t->syns)) return -1;
  syn *y = &t->syns[t->nsyns];
  if (pool_add(t, s, n, &y->at)) return -1;
  y->len = (uint32_t)n;
  y->count = 1;
  y->first = (uint16_t)(t->nsyns - from);
  t->nsyns++;
  return 0;
}

static int syn_cmp(const void *a, const void *b) {
  const syn *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}

static const entry *find(const cs__thesaurus *t, const char *w, size_t wl) {
  if (!t->hcap) return NULL;
  for (size_t j = fnv(w, wl) & (t->hcap - 1); t->hash[j]; j = (j + 1) & (t->hcap - 1)) {
    const entry *e = &t->ents[t->hash[j] - 1];
    if (e->key_len == wl && memcmp(t->pool + e->key, w, wl) == 0) return e;
  }
  return NULL;
}

/* Parses the headword at p (its meaning lines follow); returns where the
 * next headword starts. */
static const char *parse_entry(cs__thesaurus *t, const char *p, const char *end, int *err) {
  const char *le = line_end(p, end);
  const char *bar = memchr(p, '|', (size_t)(le - p));
  long meanings = bar ? strtol(bar + 1, NULL, 10) : 0;
  if (meanings < 1) return le < end ? le + 1 : end;
  char key[CS_TERM_MAX + 1];
  int kl = memchr(p, ' ', (size_t)(bar - p))
               ? -1
               : cs__fold_query_word(p, (size_t)(bar - p), key, sizeof key);
  size_t from = t->nsyns;
  const char *q = le < end ? le + 1 : end;
  for (long m = 0; m < meanings && q < end; m++) {
    const char *me = line_end(q, end);
    const char *f = memchr(q, '|', (size_t)(me - q));
    while (kl > 0 && m < THES_MEANINGS && f && f < me) {
      const char *fs = f + 1;
      const char *fe = memchr(fs, '|', (size_t)(me - fs));
      if (!fe) fe = me;
      char buf[256];
      size_t n = clean_field(fs, (size_t)(fe - fs), buf, sizeof buf);
      /* (the marker is inside the annotation clean_field removed) */
      int antonym = memmem(fs, (size_t)(fe - fs), "ant\xc3\xb3nimo", 9) != NULL;
      if (n && !antonym && add_syn(t, from, buf, n)) {
        *err = 1;
        return end;
      }
      f = fe < me ? fe : NULL;
    }
    q = me < end ? me + 1 : end;
  }
  if (kl <= 0 || t->nsyns == from || find(t, key, (size_t)kl)) {
    t->nsyns = from; /* (its strings stay in the pool, unused) */
    return q;
  }
  qsort(t->syns + from, t->nsyns - from, sizeof *t->syns, syn_cmp);
  if (t->nsyns - from > THES_KEEP) t->nsyns = from + THES_KEEP;
  if (t->nents == t->ents_cap || (t->nents + 1) * 2 > t->hcap) {
    size_t cap = t->ents_cap ? t->ents_cap * 2 : 1 << 14;
    entry *v = realloc(t->ents, cap * sizeof *v);
    uint32_t *h = calloc(cap * 2, sizeof *h);
    if (!v || !h) {
      free(h);
      if (v) t->ents = v;
      *err = 1;
      return end;
    }
    t->ents = v;
    t->ents_cap = cap;
    free(t->hash);
    t->hash = h;
    t->hcap = cap * 2;
    for (size_t i = 0; i < t->nents; i++) {
      size_t j = fnv(t->pool + t->ents[i].key, t->ents[i].key_len) & (t->hcap - 1);
      while (t->hash[j])
        j = (j + 1) & (t->hcap - 1);
      t->hash[j] = (uint32_t)i + 1;
    }
  }
  entry *e = &t->ents[t->nents];
  if (pool_add(t, key, (size_t)kl, &e->key)) {
    *err = 1;
    return end;
  }
  e->key_len = (uint32_t)kl;
  e->syn = (uint32_t)from;
  e->nsyn = (uint32_t)(t->nsyns - from);
  e->meanings = (uint32_t)meanings;
  size_t j = fnv(key, (size_t)kl) & (t->hcap - 1);
  while (t->hash[j])
    j = (j + 1) & (t->hcap - 1);
  t->hash[j] = (uint32_t)++t->nents;
  return q;
}

cs__thesaurus *cs__thesaurus_load(const char *path, char *msg, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(msg, cap, "cannot open %s", path);
    return NULL;
  }
  char *raw = NULL;
  size_t n = 0, rcap = 0;
  int nomem = 0;
  for (;;) {
    /* Out of memory mid-file is an error, never a silently cut thesaurus. */
    if (cs_grow_from((void **)&raw, &rcap, n + 65536, 1, 1 << 22)) {
      nomem = 1;
      break;
    }
    size_t got = fread(raw + n, 1, rcap - n, f);
    n += got;
    if (got == 0) break;
  }
  int ioerr = ferror(f) || !raw || nomem;
  fclose(f);
  if (ioerr) {
    free(raw);
    snprintf(msg, cap, "cannot read %s", path);
    return NULL;
  }
  const char *enc_end = line_end(raw, raw + n);
  char *text = raw;
  size_t len = n;
  if ((size_t)(enc_end - raw) >= 9 && strncmp(raw, "ISO8859-1", 9) == 0) {
    text = latin1_to_utf8(raw, n, &len);
    free(raw);
  } else if ((size_t)(enc_end - raw) < 5 || strncmp(raw, "UTF-8", 5) != 0) {
    free(raw);
    snprintf(msg, cap, "%s is not a MyThes thesaurus (encoding line ISO8859-1 or UTF-8)", path);
    return NULL;
  }
  cs__thesaurus *t = text ? calloc(1, sizeof *t) : NULL;
  int err = !t;
  const char *end = text + len;
  for (const char *p = t ? line_end(text, end) : end; !err && p < end;)
    p = parse_entry(t, *p == '\n' ? p + 1 : p, end, &err);
  free(text);
  if (!err && t->nents == 0) {
    snprintf(msg, cap, "%s holds no headword", path);
    cs__thesaurus_free(t);
    return NULL;
  }
  if (err) {
    snprintf(msg, cap, "out of memory reading %s", path);
    cs__thesaurus_free(t);
    return NULL;
  }
  return t;
}

void cs__thesaurus_free(cs__thesaurus *t) {
  if (!t) return;
  free(t->pool);
  free(t->ents);
  free(t->syns);
  free(t->hash);
  free(t);
}

size_t cs__thesaurus_size(const cs__thesaurus *t) {
  return t ? t->nents : 0;
}

size_t cs__thesaurus_lookup(const cs__thesaurus *t, const char *w, size_t wl, cs__thes_syn *out,
                            size_t cap) {
  const entry *e = t ? find(t, w, wl) : NULL;
  size_t n = 0;
  for (uint32_t i = 0; e && i < e->nsyn && n < cap; i++) {
    const syn *y = &t->syns[e->syn + i];
    double m = e->meanings < THES_MEANINGS ? e->meanings : THES_MEANINGS;
    out[n++] = (cs__thes_syn){t->pool + y->at, y->len, y->count >= m ? 1.0 : y->count / m};
  }
  return n;
}
