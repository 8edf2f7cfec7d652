/*
 * Administrator synonyms (synonyms.h): validation, the compiled form (a
 * sorted array of stem -> stem pairs), the file in the index directory and
 * the per-thread current set.
 */
#include "synonyms.h"
#include "internal.h"

#include "analyzer.h"
#include "errors.h"
#include "log.h"
#include "parser.h"
#include "path.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct pair {
  char from[CS_TERM_MAX + 1], to[CS_TERM_MAX + 1];
  uint8_t flen, tlen;
} pair;

/* A multi-word pair: entries (phrases of the sets, or single words paired
 * with one) by index in e. */
typedef struct mpair {
  char first[CS_TERM_MAX + 1]; /* the from entry's first stem, the sort key */
  uint32_t from, to;
} mpair;

struct cs__synonyms {
  int refs; /* atomic */
  json_t *doc;
  pair *v; /* one word -> one word, sorted */
  size_t n, cap;
  cs__syn_seq *e; /* entries of the multi-word pairs */
  size_t ne, ecap;
  mpair *m; /* sorted by the from entry's first stem */
  size_t nm, mcap;
  size_t sets, one_way;
};

static _Thread_local const cs__synonyms *current;

const cs__synonyms *cs__synonyms_current(void) {
  return current;
}

const cs__synonyms *cs__synonyms_set_current(const cs__synonyms *s) {
  const cs__synonyms *old = current;
  current = s;
  return old;
}

void cs__synonyms_ref(cs__synonyms *s) {
  if (s) __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void cs__synonyms_unref(cs__synonyms *s) {
  if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  json_decref(s->doc);
  free(s->v);
  free(s->e);
  free(s->m);
  free(s);
}

const json_t *cs__synonyms_doc(const cs__synonyms *s) {
  return s->doc;
}

size_t cs__synonyms_sets(const cs__synonyms *s, size_t *one_way) {
  if (one_way) *one_way = s ? s->one_way : 0;
  return s ? s->sets : 0;
}

/* One entry's stems (its words that are not stop words, at their
 * positions); -1 with msg when it has none or too many. */
static int seq_of(cs_analyzer *an, const json_t *w, size_t set, cs__syn_seq *out, char *msg,
                  size_t cap) {
  const char *s = json_string_value(w);
  size_t n = s ? json_string_length(w) : 0;
  if (!s || n == 0 || n > CS__SYN_WORD_MAX) {
    snprintf(msg, cap, "set %zu: every entry must be a string of 1 to %d bytes", set,
             CS__SYN_WORD_MAX);
    return -1;
  }
  const cs_token *toks;
  size_t nt;
  if (cs_analyze(an, "es", s, n, &toks, &nt)) return CS_ENOMEM;
  char shown[CS__SYN_WORD_MAX + 1];
  size_t sl = cs_utf8_cut(s, n, sizeof shown - 1);
  memcpy(shown, s, sl);
  shown[sl] = 0;
  memset(out, 0, sizeof *out);
  uint32_t base = 0;
  for (size_t k = 0; k < nt; k++) {
    if (toks[k].flags & CS_TOK_STOP) continue;
    if (out->n == CS__SYN_PHRASE_MAX || (out->n && toks[k].pos - base > CS__SYN_PHRASE_SPAN)) {
      snprintf(msg, cap, "set %zu: \"%s\" is too long: a synonym has at most %d words", set, shown,
               CS__SYN_PHRASE_MAX);
      return -1;
    }
    if (out->n == 0) base = toks[k].pos;
    memcpy(out->stem[out->n], toks[k].term, toks[k].term_len);
    out->len[out->n] = (uint8_t)toks[k].term_len;
    out->pos[out->n] = (uint8_t)(toks[k].pos - base);
    out->n++;
  }
  if (out->n == 0) {
    snprintf(msg, cap, "set %zu: \"%s\" %s: it is never searched", set, shown,
             nt == 1 ? "is a stop word" : "holds only stop words");
    return -1;
  }
  return 0;
}

static int add_pair(cs__synonyms *s, const char *f, uint8_t fl, const char *t, uint8_t tl) {
  if (fl == tl && memcmp(f, t, fl) == 0) return 0;
  if (cs_grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) return CS_ENOMEM;
  pair *p = &s->v[s->n++];
  memcpy(p->from, f, fl + 1u);
  memcpy(p->to, t, tl + 1u);
  p->flen = fl;
  p->tlen = tl;
  return 0;
}

static int seq_eq(const cs__syn_seq *a, const cs__syn_seq *b) {
  if (a->n != b->n) return 0;
  for (uint8_t k = 0; k < a->n; k++)
    if (a->len[k] != b->len[k] || a->pos[k] != b->pos[k] ||
        memcmp(a->stem[k], b->stem[k], a->len[k]))
      return 0;
  return 1;
}

/* Entry x of the set's entries also matches entry y. */
static int add_link(cs__synonyms *s, const cs__syn_seq *x, uint32_t xi, const cs__syn_seq *y,
                    uint32_t yi) {
  if (seq_eq(x, y)) return 0;
  if (x->n == 1 && y->n == 1) return add_pair(s, x->stem[0], x->len[0], y->stem[0], y->len[0]);
  if (cs_grow((void **)&s->m, &s->mcap, s->nm + 1, sizeof *s->m)) return CS_ENOMEM;
  mpair *p = &s->m[s->nm++];
  memcpy(p->first, x->stem[0], x->len[0]);
  p->first[x->len[0]] = 0;
  p->from = xi;
  p->to = yi;
  return 0;
}

static int mpair_cmp(const void *a, const void *b) {
  const mpair *x = a, *y = b;
  int c = strcmp(x->first, y->first);
  if (c) return c;
  if (x->from != y->from) return x->from < y->from ? -1 : 1;
  return x->to < y->to ? -1 : x->to > y->to;
}

static int pair_cmp(const void *a, const void *b) {
  const pair *x = a, *y = b;
  int c = strcmp(x->from, y->from);
  return c ? c : strcmp(x->to, y->to);
}

/* The words of one array field: 1..max strings. */
static const json_t *word_array(const json_t *set, const char *field, size_t i, char *msg,
                                size_t cap) {
  const json_t *a = json_object_get(set, field);
  if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > CS__SYN_WORDS_MAX) {
    snprintf(msg, cap, "set %zu: \"%s\" must be an array of 1 to %d words", i, field,
             CS__SYN_WORDS_MAX);
    return NULL;
  }
  return a;
}

/* The entries of array a, appended to s->e (their indexes from *first). */
static int seqs(cs__synonyms *s, cs_analyzer *an, const json_t *a, size_t i, char *msg,
                size_t cap) {
  size_t k;
  const json_t *w;
  json_array_foreach(a, k, w) {
    if (cs_grow((void **)&s->e, &s->ecap, s->ne + 1, sizeof *s->e)) return CS_ENOMEM;
    int rc = seq_of(an, w, i, &s->e[s->ne], msg, cap);
    if (rc) return rc;
    s->ne++;
  }
  return 0;
}

static int compile_set(cs__synonyms *s, cs_analyzer *an, const json_t *set, size_t i, char *msg,
                       size_t cap) {
  if (!json_is_object(set)) {
    snprintf(msg, cap, "set %zu must be an object", i);
    return -1;
  }
  const char *key;
  const json_t *val;
  int two = json_object_get(set, "words") != NULL;
  json_object_foreach((json_t *)set, key, val) {
    int known = two ? !strcmp(key, "words") : !strcmp(key, "input") || !strcmp(key, "synonyms");
    if (!known) {
      snprintf(msg, cap,
               "set %zu: a set is {\"words\": [...]} (two-way) or {\"input\": [...], "
               "\"synonyms\": [...]} (one-way)",
               i);
      return -1;
    }
  }
  size_t at = s->ne, nin;
  int rc;
  if (two) {
    const json_t *a = word_array(set, "words", i, msg, cap);
    if (!a || json_array_size(a) < 2) {
      if (a) snprintf(msg, cap, "set %zu: \"words\" needs at least 2 words", i);
      return -1;
    }
    if ((rc = seqs(s, an, a, i, msg, cap))) return rc;
    for (size_t x = at; x < s->ne; x++)
      for (size_t y = at; y < s->ne; y++)
        if (x != y && (rc = add_link(s, &s->e[x], (uint32_t)x, &s->e[y], (uint32_t)y))) return rc;
    return 0;
  }
  const json_t *in = word_array(set, "input", i, msg, cap);
  const json_t *out = in ? word_array(set, "synonyms", i, msg, cap) : NULL;
  if (!out) return -1;
  if ((rc = seqs(s, an, in, i, msg, cap))) return rc;
  nin = s->ne;
  if ((rc = seqs(s, an, out, i, msg, cap))) return rc;
  for (size_t x = at; x < nin; x++)
    for (size_t y = nin; y < s->ne; y++)
      if ((rc = add_link(s, &s->e[x], (uint32_t)x, &s->e[y], (uint32_t)y))) return rc;
  s->one_way++;
  return 0;
}

int cs__synonyms_compile(const json_t *doc, cs__synonyms **out, char *msg, size_t cap) {
  *out = NULL;
  const json_t *sets = json_is_object(doc) ? json_object_get(doc, "sets") : NULL;
  if (!json_is_array(sets) || json_object_size(doc) != 1) {
    snprintf(msg, cap, "the body must be {\"sets\": [...]}");
    return -1;
  }
  if (json_array_size(sets) > CS__SYN_SETS_MAX) {
    snprintf(msg, cap, "at most %d sets", CS__SYN_SETS_MAX);
    return -1;
  }
  cs__synonyms *s = calloc(1, sizeof *s);
  cs_analyzer *an = s ? cs__analyzer_get() : NULL;
  int rc = an ? 0 : CS_ENOMEM;
  size_t i;
  const json_t *set;
  json_array_foreach(sets, i, set) {
    if (rc) break;
    rc = compile_set(s, an, set, i, msg, cap);
  }
  cs__analyzer_put(an);
  if (!rc) {
    s->doc = json_deep_copy(doc);
    if (!s->doc) rc = CS_ENOMEM;
  }
  if (rc) {
    if (s) json_decref(s->doc);
    if (s) free(s->v);
    if (s) free(s->e);
    if (s) free(s->m);
    free(s);
    return rc;
  }
  if (s->n > 1) qsort(s->v, s->n, sizeof *s->v, pair_cmp);
  if (s->nm > 1) qsort(s->m, s->nm, sizeof *s->m, mpair_cmp);
  size_t m = 0;
  for (size_t k = 0; k < s->n; k++) {
    if (m && pair_cmp(&s->v[m - 1], &s->v[k]) == 0) continue;
    s->v[m++] = s->v[k];
  }
  s->n = m;
  s->sets = json_array_size(sets);
  s->refs = 1;
  *out = s;
  return 0;
}

/* The first of n sorted entries of `size` bytes, each starting with its
 * NUL-terminated key (pair.from, mpair.first), whose key is >= key. */
static size_t first_geq(const void *v, size_t n, size_t size, const char *key) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (strcmp((const char *)v + mid * size, key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

size_t cs__synonyms_lookup(const cs__synonyms *s, const char *stem, size_t len, const char **out,
                           uint8_t *lens, size_t cap) {
  if (!s || !s->n || len > CS_TERM_MAX) return 0;
  if (cap > CS__SYN_EXPAND) cap = CS__SYN_EXPAND;
  char key[CS_TERM_MAX + 1];
  memcpy(key, stem, len);
  key[len] = 0;
  size_t lo = first_geq(s->v, s->n, sizeof *s->v, key), n = 0;
  for (size_t k = lo; k < s->n && n < cap && strcmp(s->v[k].from, key) == 0; k++) {
    out[n] = s->v[k].to;
    lens[n++] = s->v[k].tlen;
  }
  return n;
}

size_t cs__synonyms_multi(const cs__synonyms *s, const cs__syn_seq *q, size_t nq,
                          const cs__syn_seq **out, uint8_t *used, size_t cap) {
  if (!s || !s->nm || nq == 0 || q[0].n != 1 || q[0].len[0] > CS_TERM_MAX) return 0;
  if (cap > CS__SYN_EXPAND) cap = CS__SYN_EXPAND;
  char key[CS_TERM_MAX + 1];
  memcpy(key, q[0].stem[0], q[0].len[0]);
  key[q[0].len[0]] = 0;
  size_t lo = first_geq(s->m, s->nm, sizeof *s->m, key), n = 0;
  for (size_t k = lo; k < s->nm && n < cap && strcmp(s->m[k].first, key) == 0; k++) {
    const cs__syn_seq *f = &s->e[s->m[k].from];
    int match = f->n <= nq;
    for (uint8_t w = 1; match && w < f->n; w++)
      match = q[w].n == 1 && q[w].len[0] == f->len[w] &&
              memcmp(q[w].stem[0], f->stem[w], f->len[w]) == 0;
    if (!match) continue;
    out[n] = &s->e[s->m[k].to];
    used[n++] = f->n;
  }
  return n;
}

int cs__synonyms_load(const char *dir, cs__synonyms **out, char *msg, size_t cap) {
  *out = NULL;
  char path[4096];
  if (cs_path_join(path, sizeof path, dir, "synonyms.json")) {
    snprintf(msg, cap, "the index path is too long");
    return -1;
  }
  json_error_t je;
  json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!doc) {
    if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
    snprintf(msg, cap, "%s: %s", path, je.text);
    return -1;
  }
  char why[256] = "";
  int rc = cs__synonyms_compile(doc, out, why, sizeof why);
  json_decref(doc);
  if (rc) snprintf(msg, cap, "%s: %s", path, rc == -1 ? why : "out of memory");
  return rc ? -1 : 0;
}

int cs__synonyms_save(const char *dir, const cs__synonyms *s, char *msg, size_t cap) {
  char path[4096], tmp[4096];
  if (cs_path_join(path, sizeof path, dir, "synonyms.json") ||
      cs_path_join(tmp, sizeof tmp, dir, ".synonyms.json.XXXXXX")) {
    snprintf(msg, cap, "the index path is too long");
    return -1;
  }
  char *text = json_dumps(s->doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
  int fd = text ? mkstemp(tmp) : -1;
  if (fd < 0) {
    snprintf(msg, cap, "cannot write in the index directory: %s",
             text ? strerror(errno) : "out of memory");
    free(text);
    return -1;
  }
  size_t len = strlen(text), done = 0;
  int ok = fchmod(fd, 0644) == 0;
  while (ok && done < len) {
    ssize_t w = write(fd, text + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    done += w > 0 ? (size_t)w : 0;
  }
  ok = ok && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
  int e = errno;
  ok = close(fd) == 0 && ok;
  free(text);
  if (!ok || rename(tmp, path) != 0) {
    e = ok ? errno : e;
    unlink(tmp);
    snprintf(msg, cap, "cannot write %s: %s", path, strerror(e));
    return -1;
  }
  /* The rename itself reaches the disk with the directory. */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return 0;
}

/* ---------------------------------------------------------------- engine API */

int cs_engine_synonyms_get(cs_engine *e, json_t **out, cs_engine_error *err) {
  cs__synonyms *s = cs__engine_synonyms(e);
  *out = s ? json_deep_copy(s->doc) : json_pack("{s:[]}", "sets");
  cs__synonyms_unref(s);
  if (*out) return 0;
  cs_engine_err(err, 503, "unavailable", "out of memory");
  return -1;
}

int cs_engine_synonyms_put(cs_engine *e, const json_t *doc, json_t **out, cs_engine_error *err) {
  *out = NULL;
  cs__synonyms *s;
  char msg[256] = "";
  int rc = cs__synonyms_compile(doc, &s, msg, sizeof msg);
  if (rc == -1) {
    cs_engine_err(err, 400, "bad_synonyms", "%s", msg);
    return -1;
  }
  if (rc) {
    cs_engine_err(err, 503, "unavailable", "out of memory");
    return -1;
  }
  if (cs__engine_synonyms_replace(e, s, msg, sizeof msg)) {
    cs_log(CS_LOG_ERROR, "synonyms: %s", msg);
    cs__synonyms_unref(s);
    cs_engine_err(err, 503, "unavailable",
                  "the synonyms could not be stored in the index directory");
    return -1;
  }
  *out = json_deep_copy(s->doc);
  cs__synonyms_unref(s);
  if (*out) return 0;
  cs_engine_err(err, 503, "unavailable", "out of memory");
  return -1;
}

int cs__parse_with_synonyms(cs_engine *e, cs_analyzer *a, const char *q, size_t len,
                            const cs__parse_opts *o, cs__query *out, cs_engine_error *err) {
  cs__synonyms *s = cs__engine_synonyms(e);
  const cs__synonyms *prev = cs__synonyms_set_current(s);
  int rc = cs__query_parse(a, q, len, o, out, err);
  cs__synonyms_set_current(prev);
  cs__synonyms_unref(s);
  return rc;
}
