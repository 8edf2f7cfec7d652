/*
 * Searching by a person's name (see internal.h, cs__people_named).
 *
 * Names are not words of a conversation's text: a person is rarely named
 * in their own interview. So /v1/search answers a query that IS the name
 * of a person the caller may see with that person's conversations, as
 * /v1/suggest offers the name: the suggestion's text, searched, finds
 * them. The rule is deliberately narrow, so that a common first name or a
 * word of every pseudonym ("Persona") never pulls in everyone:
 *   - the query is plain words (no quotes, fields, operators, '*', '~');
 *   - its folded words are exactly the folded words of the name, in any
 *     order ("ana garcia" and "García Ana" are "Ana García"; "Ana" alone
 *     is not);
 *   - the name compared is the name as the caller sees it, from
 *     cs_json_person_name: a portal caller's own people by name, an admin
 *     everyone by name, an analyst everyone by pseudonym only, so a real
 *     name typed by an analyst finds nobody (it would tell which pseudonym
 *     it hides) and the pseudonym analysts are shown finds the person.
 * Cost: a portal caller's own people are read; an admin's candidates come
 * from the postings of the query's rarest word (names are indexed; the
 * docid -> conversation table jumps over the conversations' documents); an
 * analyst's pseudonyms are not indexed, so when the query has the shape of
 * a pseudonym, up to PEOPLE_SCAN people are read, their word count checked
 * before anything is folded.
 * This is the only place where names become searchable.
 */
#include "internal.h"
#include "corrupt.h"
#include "owned.h"
#include "snapcache.h"

#include "errors.h"
#include "grow.h"
#include "reader.h"
#include "store.h"
#include "varint.h"

#include <stdlib.h>
#include <string.h>

#define NAME_WORDS 8        /* words of a name we compare */
#define NAME_WORD_MAX 128   /* bytes of a folded word */
#define PEOPLE_SCAN 100000  /* people read per search */
#define POSTINGS_MAX 200000 /* documents of a name word read per search */

typedef struct words {
  char w[NAME_WORDS][NAME_WORD_MAX];
  int n;
  int over; /* more words than NAME_WORDS, or one too long */
} words;

static int sep(unsigned char c) {
  return c < 0x80 && !((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'));
}

static int word_cmp(const void *a, const void *b) {
  return strcmp(a, b);
}

/* The number of words of s[0..n). */
static int count_words(const char *s, size_t n) {
  int c = 0;
  for (size_t i = 0; i < n;) {
    while (i < n && sep((unsigned char)s[i]))
      i++;
    c += i < n;
    while (i < n && !sep((unsigned char)s[i]))
      i++;
  }
  return c;
}

/* The folded words of s[0..n), sorted. */
static void split(const char *s, size_t n, words *out) {
  out->n = 0;
  out->over = 0;
  size_t i = 0;
  while (i < n && !out->over) {
    while (i < n && sep((unsigned char)s[i]))
      i++;
    size_t b = i;
    while (i < n && !sep((unsigned char)s[i]))
      i++;
    if (i == b) break;
    if (out->n == NAME_WORDS) {
      out->over = 1;
      break;
    }
    int fl = cs__fold_query_word(s + b, i - b, out->w[out->n], NAME_WORD_MAX);
    if (fl < 0)
      out->over = 1;
    else if (fl > 0)
      out->n++;
  }
  qsort(out->w, (size_t)out->n, sizeof out->w[0], word_cmp);
}

/* Plain words only: what the search box sends when a suggestion is taken.
 * Letters, digits, spaces and the punctuation names hold. */
static int plain(const char *q, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)q[i];
    if (c < 0x80 && sep(c) && !strchr(" \t.,'-", c)) return 0;
    if (c == '-' && (i == 0 || sep((unsigned char)q[i - 1]))) return 0; /* an exclusion */
  }
  return 1;
}

typedef struct named_ctx {
  cs_reader *r;
  const cs__convs *convs; /* NULL: the document of every posting is read */
  const cs_caller *c;
  const words *q;
  uint64_t *ids;
  size_t n, cap, seen;
  int rc;
} named_ctx;

static int consider(named_ctx *x, uint64_t id, cs_str pname) {
  if (++x->seen > PEOPLE_SCAN) return 1;
  json_t *j = cs_json_person_name(x->c, id, pname);
  const char *name = json_string_value(j);
  size_t len = name ? json_string_length(j) : 0;
  words w;
  w.over = 1;
  /* Folding costs (ICU beyond ASCII): count the words first. */
  if (count_words(name, len) == x->q->n) split(name, len, &w);
  json_decref(j);
  if (w.over || w.n != x->q->n) return 0;
  for (int i = 0; i < w.n; i++) {
    if (strcmp(w.w[i], x->q->w[i])) return 0;
  }
  if (cs_grow((void **)&x->ids, &x->cap, x->n + 1, sizeof *x->ids)) {
    x->rc = CS_ENOMEM;
    return 1;
  }
  x->ids[x->n++] = id;
  return 0;
}

static int each_patient(void *ctx, cs_slice key, cs_slice val) {
  cs_patient p;
  if (key.len != 8 || cs_corrupt_rc(cs_patient_decode(val.data, val.len, &p), CS_T_PATIENT, key))
    return 0;
  return consider(ctx, p.id, p.name);
}

/* Admins: the names are indexed (a document per person), so the people
 * whose name holds the query's rarest indexed word come from that word's
 * postings instead of a scan of everyone. */
static int by_postings(named_ctx *x) {
  cs_word best;
  memset(&best, 0, sizeof best);
  int found = 0;
  for (int i = 0; i < x->q->n; i++) {
    cs_word w;
    int rc = cs_reader_word(x->r, x->q->w[i], strlen(x->q->w[i]), &w);
    if (rc == CS_ENOTFOUND) continue; /* a stop word, or no name has it */
    if (rc) return rc;
    if (!found || w.df < best.df) best = w;
    found = 1;
  }
  if (!found) return 0;
  cs_pcur *pc;
  int rc = cs_pcur_open(x->r, best.stem.p, best.stem.len, &pc);
  if (rc) return rc == CS_ENOTFOUND ? 0 : rc;
  long steps = 0;
  size_t hint = 0;
  for (uint32_t d; (d = cs_pcur_docid(pc)) != CS_DOCID_END && ++steps <= POSTINGS_MAX;) {
    uint32_t next;
    long in = x->convs ? cs__convs_find(x->convs, d, &next, &hint) : -1;
    if (in >= 0) {
      /* A conversation's document, not a name: past the conversation. */
      cs_pcur_next_geq(pc, x->convs->r[in].e);
      continue;
    }
    cs_doc doc;
    cs_patient p;
    if (!cs_reader_doc(x->r, d, &doc) && doc.kind == CS_DOC_NAME &&
        !cs_reader_patient(x->r, doc.patient_id, &p) && p.name_docid == d &&
        consider(x, p.id, p.name)) {
      rc = x->rc;
      break;
    }
    cs_pcur_next(pc);
  }
  if (!rc) rc = cs_pcur_error(pc);
  cs_pcur_close(pc);
  return rc;
}

/* Analysts: whether q could be a pseudonym at all. Pseudonyms are taken to
 * share their shape: as many words as any other, all but one the same
 * ("Persona" and a keyed part). A sample pseudonym tells; a query that
 * cannot be one reads nobody. */
static int like_pseudonym(const cs_caller *c, const words *q) {
  json_t *j = cs_json_person_name(c, 1, (cs_str){"", 0});
  words w;
  split(json_string_value(j) ? json_string_value(j) : "", json_string_length(j), &w);
  json_decref(j);
  if (w.over || w.n != q->n) return 0;
  int shared = 0;
  for (int i = 0, k = 0; i < w.n && k < q->n;) {
    int cmp = strcmp(w.w[i], q->w[k]);
    shared += cmp == 0;
    i += cmp <= 0;
    k += cmp >= 0;
  }
  return shared + 1 >= q->n;
}

/* ------------------------------------------------ the names' words in RAM */

/* Every folded word of every person's name as admins see it (the real
 * name), sorted, for one snapshot (snapcache.h). An admin's query holding
 * a word no name holds names nobody: most queries are answered so,
 * without reading postings or people. Not for portal callers: whether
 * their lookup reads their own people would then depend on other owners'
 * names (a timing channel); theirs reads their own people only, as before.
 * Not made past NW_MAX_PEOPLE people (it is made inside a search). */
#define NW_MAX_PEOPLE 50000

typedef struct namewords {
  cs__snapobj o;
  char **w;
  size_t n, cap;
  size_t people;
  char *pool;
  size_t np, pcap;
} namewords;

static void nw_free(cs__snapobj *o) {
  namewords *x = (namewords *)o; /* the first member */
  free(x->w);
  free(x->pool);
  free(x);
}

static int nw_each(void *ctx, cs_slice key, cs_slice val) {
  namewords *x = ctx;
  if (++x->people > NW_MAX_PEOPLE) return 1; /* stop: too many to keep */
  cs_patient p;
  if (key.len != 8 || cs_corrupt_rc(cs_patient_decode(val.data, val.len, &p), CS_T_PATIENT, key))
    return 0;
  const cs_caller admin = {CS_CALLER_ADMIN, 0};
  json_t *j = cs_json_person_name(&admin, p.id, p.name);
  words w;
  split(json_string_value(j) ? json_string_value(j) : "", json_string_length(j), &w);
  json_decref(j);
  /* A name of more than NAME_WORDS words matches no query: its words may
   * be left out. */
  for (int i = 0; i < w.n && !w.over; i++) {
    size_t len = strlen(w.w[i]) + 1;
    if (cs_grow((void **)&x->pool, &x->pcap, x->np + len, 1)) return CS_ENOMEM;
    memcpy(x->pool + x->np, w.w[i], len);
    if (cs_grow((void **)&x->w, &x->cap, x->n + 1, sizeof *x->w)) return CS_ENOMEM;
    x->w[x->n++] = (char *)(uintptr_t)x->np; /* an offset until the pool stops moving */
    x->np += len;
  }
  return 0;
}

static int ptr_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int nw_build(cs_reader *r, int slot, uint64_t owner, cs__snapobj *prev, cs__snapobj **out) {
  (void)prev;
  (void)slot;
  (void)owner;
  *out = NULL;
  namewords *x = calloc(1, sizeof *x);
  if (!x) return CS_ENOMEM;
  x->o.free = nw_free;
  int rc = cs_reader_scan(r, CS_T_PATIENT, NULL, 0, nw_each, x);
  if (rc) {
    nw_free(&x->o);
    return rc < 0 ? rc : CS__SNAP_SKIP;
  }
  for (size_t i = 0; i < x->n; i++)
    x->w[i] = x->pool + (uintptr_t)x->w[i];
  if (x->n > 1) qsort(x->w, x->n, sizeof *x->w, ptr_cmp);
  *out = &x->o;
  return 0;
}

/* 1 when some name holds every word of q (or nothing is known), 0 when
 * none can match. */
static int names_may_hold(cs_reader *r, const words *q) {
  cs__snapcache *lc = cs__snapcache_current();
  cs__snapobj *o = cs__snapcache_obtain(lc, r, CS__SC_NAMES, 0, nw_build);
  if (!o) return 1;
  const namewords *x = (const namewords *)o;
  int all = 1;
  for (int i = 0; i < q->n && all; i++) {
    const char *k = q->w[i];
    all = x->n && bsearch(&k, x->w, x->n, sizeof *x->w, ptr_cmp) != NULL;
  }
  cs__snapobj_release(lc, o);
  return all;
}

int cs__people_named(cs_reader *r, const cs__convs *convs, const cs_caller *c,
                     const cs__owned *owned, const char *q, size_t qlen, uint64_t **ids,
                     size_t *n) {
  *ids = NULL;
  *n = 0;
  if (!plain(q, qlen)) return 0;
  words qw;
  split(q, qlen, &qw);
  if (qw.over || qw.n == 0) return 0;
  /* Admins match real names: only when some name holds the query's words
   * (portal callers: see namewords). */
  if (c->role == CS_CALLER_ADMIN && !names_may_hold(r, &qw)) return 0;
  named_ctx x = {r, convs, c, &qw, NULL, 0, 0, 0, 0};
  int rc;
  if (cs_caller_restricted(c)) {
    if (c->employee_id == 0 || !owned) return 0;
    rc = 0;
    for (size_t i = 0; i < owned->npeople && !rc; i++)
      rc = consider(&x, owned->people[i].id, owned->people[i].name);
  } else if (c->role != CS_CALLER_ANALYST) {
    rc = by_postings(&x);
  } else if (like_pseudonym(c, &qw)) {
    /* Pseudonyms are not indexed: every person is looked at (bounded). */
    rc = cs_reader_scan(r, CS_T_PATIENT, NULL, 0, each_patient, &x);
  } else {
    rc = 0;
  }
  if (rc > 0) rc = 0;
  if (!rc) rc = x.rc;
  if (rc) {
    free(x.ids);
    return rc;
  }
  *ids = x.ids;
  *n = x.n;
  return 0;
}
