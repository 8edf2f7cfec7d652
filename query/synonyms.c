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

struct cs__synonyms {
  int refs; /* atomic */
  json_t *doc;
  pair *v;
  size_t n, cap;
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
  free(s);
}

const json_t *cs__synonyms_doc(const cs__synonyms *s) {
  return s->doc;
}

size_t cs__synonyms_sets(const cs__synonyms *s, size_t *one_way) {
  if (one_way) *one_way = s ? s->one_way : 0;
  return s ? s->sets : 0;
}

/* One word's stem; -1 with msg when it is not one searchable word. */
static int stem_of(cs_analyzer *an, const json_t *w, size_t set, char *out, uint8_t *len, char *msg,
                   size_t cap) {
  const char *s = json_string_value(w);
  size_t n = s ? json_string_length(w) : 0;
  if (!s || n == 0 || n > CS__SYN_WORD_MAX) {
    snprintf(msg, cap, "set %zu: every word must be a string of 1 to %d bytes", set,
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
  if (nt != 1) {
    snprintf(msg, cap,
             "set %zu: \"%s\" is not one word (multi-word synonyms are not supported yet)", set,
             shown);
    return -1;
  }
  if (toks[0].flags & CS_TOK_STOP) {
    snprintf(msg, cap, "set %zu: \"%s\" is a stop word: it is never searched", set, shown);
    return -1;
  }
  memcpy(out, toks[0].term, toks[0].term_len);
  out[toks[0].term_len] = 0;
  *len = (uint8_t)toks[0].term_len;
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

/* Stems of the words of array a into st/sl (n of them). */
static int stems(cs_analyzer *an, const json_t *a, size_t i, char (*st)[CS_TERM_MAX + 1],
                 uint8_t *sl, size_t *n, char *msg, size_t cap) {
  size_t k;
  const json_t *w;
  json_array_foreach(a, k, w) {
    int rc = stem_of(an, w, i, st[*n], &sl[*n], msg, cap);
    if (rc) return rc;
    (*n)++;
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
  char st[CS__SYN_WORDS_MAX * 2][CS_TERM_MAX + 1];
  uint8_t sl[CS__SYN_WORDS_MAX * 2];
  size_t n = 0, nin;
  int rc;
  if (two) {
    const json_t *a = word_array(set, "words", i, msg, cap);
    if (!a || json_array_size(a) < 2) {
      if (a) snprintf(msg, cap, "set %zu: \"words\" needs at least 2 words", i);
      return -1;
    }
    if ((rc = stems(an, a, i, st, sl, &n, msg, cap))) return rc;
    for (size_t x = 0; x < n; x++)
      for (size_t y = 0; y < n; y++)
        if (x != y && (rc = add_pair(s, st[x], sl[x], st[y], sl[y]))) return rc;
    return 0;
  }
  const json_t *in = word_array(set, "input", i, msg, cap);
  const json_t *out = in ? word_array(set, "synonyms", i, msg, cap) : NULL;
  if (!out) return -1;
  if ((rc = stems(an, in, i, st, sl, &n, msg, cap))) return rc;
  nin = n;
  if ((rc = stems(an, out, i, st, sl, &n, msg, cap))) return rc;
  for (size_t x = 0; x < nin; x++)
    for (size_t y = nin; y < n; y++)
      if ((rc = add_pair(s, st[x], sl[x], st[y], sl[y]))) return rc;
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
    free(s);
    return rc;
  }
  if (s->n > 1) qsort(s->v, s->n, sizeof *s->v, pair_cmp);
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

size_t cs__synonyms_lookup(const cs__synonyms *s, const char *stem, size_t len, const char **out,
                           uint8_t *lens, size_t cap) {
  if (!s || !s->n || len > CS_TERM_MAX) return 0;
  if (cap > CS__SYN_EXPAND) cap = CS__SYN_EXPAND;
  char key[CS_TERM_MAX + 1];
  memcpy(key, stem, len);
  key[len] = 0;
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (strcmp(s->v[mid].from, key) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  size_t n = 0;
  for (size_t k = lo; k < s->n && n < cap && strcmp(s->v[k].from, key) == 0; k++) {
    out[n] = s->v[k].to;
    lens[n++] = s->v[k].tlen;
  }
  return n;
}

static int file_path(char *out, size_t cap, const char *dir, const char *name) {
  return snprintf(out, cap, "%s/%s", dir, name) >= (int)cap ? -1 : 0;
}

int cs__synonyms_load(const char *dir, cs__synonyms **out, char *msg, size_t cap) {
  *out = NULL;
  char path[4096];
  if (file_path(path, sizeof path, dir, "synonyms.json")) {
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
  if (file_path(path, sizeof path, dir, "synonyms.json") ||
      file_path(tmp, sizeof tmp, dir, ".synonyms.json.XXXXXX")) {
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
