/*
 * Term expansions remembered per snapshot (see expmemo.h): a chained hash
 * table under its own lock; entries are copied in and out whole.
 */
#include "expmemo.h"

#include "errors.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MEMO_BUCKETS 4096
#define MEMO_BYTES (4u << 20)         /* the expansions held, at most */
#define OWNER_MEMO_BYTES (256u << 10) /* ... by one owner's table (64 are kept) */

typedef struct entry {
  struct entry *next;
  uint64_t hash, owner;
  uint8_t own, prefix, edits, stop, number;
  uint32_t cap;
  uint8_t term_len, word_len;
  char term[CS_TERM_MAX + 1], word[CS_TERM_MAX + 1];
  uint32_t n;
  cs__variant v[]; /* n */
} entry;

struct cs__expmemo {
  cs__snapobj o; /* first member */
  pthread_mutex_t lock;
  entry *b[MEMO_BUCKETS];
  size_t bytes, cap;
};

static void clear(cs__expmemo *m) {
  for (size_t i = 0; i < MEMO_BUCKETS; i++) {
    for (entry *e = m->b[i], *nx; e; e = nx) {
      nx = e->next;
      free(e);
    }
    m->b[i] = NULL;
  }
  m->bytes = 0;
}

static void memo_free(cs__snapobj *o) {
  cs__expmemo *m = (cs__expmemo *)o;
  clear(m);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

static int memo_build(cs_reader *r, int slot, uint64_t owner, cs__snapobj **out) {
  (void)r;
  (void)owner;
  cs__expmemo *m = calloc(1, sizeof *m);
  if (!m) return CS_ENOMEM;
  pthread_mutex_init(&m->lock, NULL);
  m->o.free = memo_free;
  m->cap = slot == CS__SC_OMEMO ? OWNER_MEMO_BYTES : MEMO_BYTES;
  *out = &m->o;
  return 0;
}

cs__expmemo *cs__expmemo_get(cs__snapcache *c, const cs__tstats *ts) {
  if (!ts->own) return (cs__expmemo *)cs__snapcache_obtain(c, ts->r, CS__SC_MEMO, 0, memo_build);
  /* An owner's expansions read its statistics alone (tstats.h): they hold
   * as long as its version does. */
  cs__snapobj *o =
      cs__snapcache_obtain_owner(c, ts->r, CS__SC_OMEMO, ts->owner, ts->version, memo_build);
  /* Not kept (more owners at work than tables): the snapshot's table. */
  if (!o) o = cs__snapcache_obtain(c, ts->r, CS__SC_MEMO, 0, memo_build);
  return (cs__expmemo *)o;
}

void cs__expmemo_release(cs__snapcache *c, cs__expmemo *m) {
  cs__snapobj_release(c, m ? &m->o : NULL);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const uint8_t *s = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ s[i]) * 1099511628211ull;
  return h;
}

static uint64_t key_hash(const cs__expkey *k) {
  uint8_t small[8] = {k->prefix,      k->edits,        k->w->stop,
                      k->w->number,   (uint8_t)k->cap, (uint8_t)(k->cap >> 8),
                      k->w->term_len, k->w->word_len};
  uint64_t h = fnv(14695981039346656037ull, &k->owner, sizeof k->owner);
  h = fnv(h, &k->own, 1);
  h = fnv(h, small, sizeof small);
  h = fnv(h, k->w->term, k->w->term_len);
  return fnv(h, k->w->word, k->w->word_len);
}

static int same(const entry *e, uint64_t h, const cs__expkey *k) {
  const cs__qword *w = k->w;
  return e->hash == h && e->own == k->own && e->owner == k->owner && e->prefix == k->prefix &&
         e->edits == k->edits && e->cap == k->cap && e->stop == w->stop && e->number == w->number &&
         e->term_len == w->term_len && e->word_len == w->word_len &&
         !memcmp(e->term, w->term, w->term_len) && !memcmp(e->word, w->word, w->word_len);
}

int cs__expmemo_find(cs__expmemo *m, const cs__expkey *k, cs__variant *out, uint32_t *n) {
  uint64_t h = key_hash(k);
  int found = 0;
  pthread_mutex_lock(&m->lock);
  for (const entry *e = m->b[h % MEMO_BUCKETS]; e; e = e->next) {
    if (same(e, h, k)) {
      memcpy(out, e->v, e->n * sizeof *out);
      *n = e->n;
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&m->lock);
  return found;
}

void cs__expmemo_put(cs__expmemo *m, const cs__expkey *k, const cs__variant *out, uint32_t n) {
  const cs__qword *w = k->w;
  if (w->term_len > CS_TERM_MAX || w->word_len > CS_TERM_MAX) return;
  size_t size = sizeof(entry) + n * sizeof *out;
  entry *e = malloc(size);
  if (!e) return;
  memset(e, 0, sizeof *e);
  e->hash = key_hash(k);
  e->owner = k->owner;
  e->own = k->own;
  e->prefix = k->prefix;
  e->edits = k->edits;
  e->stop = w->stop;
  e->number = w->number;
  e->cap = k->cap;
  e->term_len = w->term_len;
  e->word_len = w->word_len;
  memcpy(e->term, w->term, w->term_len);
  memcpy(e->word, w->word, w->word_len);
  e->n = n;
  memcpy(e->v, out, n * sizeof *out);
  pthread_mutex_lock(&m->lock);
  entry **b = &m->b[e->hash % MEMO_BUCKETS];
  for (const entry *x = *b; x; x = x->next) {
    if (same(x, e->hash, k)) { /* another thread was first */
      pthread_mutex_unlock(&m->lock);
      free(e);
      return;
    }
  }
  if (m->bytes + size > m->cap) clear(m);
  e->next = m->b[e->hash % MEMO_BUCKETS];
  m->b[e->hash % MEMO_BUCKETS] = e;
  m->bytes += size;
  pthread_mutex_unlock(&m->lock);
}
