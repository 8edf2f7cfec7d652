/*
 * Where a long conversation's turns are stored (see turnmap.h): an
 * open-addressing table of the conversations' marks under one lock; a
 * conversation's marks are read outside it and looked up inside it.
 */
#include "turnmap.h"

#include "errors.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  uint64_t conv;
  uint32_t first;
  uint32_t n;
  int kind; /* MARKS, or DAMAGED (a block's header), or TOO_LONG (marks not kept) */
  cs_tbmark m[];
} entry;

enum { MARKS, DAMAGED, TOO_LONG };

struct cs__turnmap {
  pthread_mutex_t lock;
  entry **slot; /* nslots, a power of two; NULL: free */
  size_t nslots, used, bytes, cap;
  int full;       /* a conversation did not fit: the next ones are refused */
  size_t refused; /* ... how many lookups since */
  size_t emptied;
};

/* A full map is emptied once it has refused this many lookups (snippets)
 * per conversation it holds. Reading a ParlaMint sitting's marks (~300
 * blocks, a cursor step and a header each) took 160-200 us, measured by
 * hand, where the turn's record it spares a snippet took 0.5-1 us: the map
 * pays for a conversation after some 160-400 of its snippets. So when the
 * long conversations searched outgrow the map and none is searched again,
 * reading their marks again costs about as much as the refused lookups
 * did; and a map filled with conversations no longer searched (rewritten,
 * at new docids) is renewed. */
#define REFILL_AFTER 256

int cs__turnmap_new(cs__turnmap **out, size_t cap) {
  cs__turnmap *m = calloc(1, sizeof *m);
  if (!m) return CS_ENOMEM;
  m->cap = cap;
  pthread_mutex_init(&m->lock, NULL);
  *out = m;
  return 0;
}

static void clear(cs__turnmap *m) {
  for (size_t i = 0; i < m->nslots; i++)
    free(m->slot[i]);
  free(m->slot);
  m->slot = NULL;
  m->nslots = m->used = m->bytes = 0;
}

void cs__turnmap_free(cs__turnmap *m) {
  if (!m) return;
  clear(m);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

static size_t hash(uint64_t conv, uint32_t first) {
  uint64_t h = (conv ^ ((uint64_t)first << 32 | first)) * 0x9E3779B97F4A7C15ull;
  return (size_t)(h ^ h >> 29);
}

/* The slot of (conv, first), or the free one where it would go. */
static entry **lookup(cs__turnmap *m, uint64_t conv, uint32_t first) {
  size_t mask = m->nslots - 1;
  for (size_t i = hash(conv, first) & mask;; i = (i + 1) & mask) {
    entry *e = m->slot[i];
    if (!e || (e->conv == conv && e->first == first)) return &m->slot[i];
  }
}

/* Bytes the slot array grows by for one more entry. */
static size_t growth(const cs__turnmap *m) {
  if (2 * (m->used + 1) <= m->nslots) return 0;
  return (m->nslots ? m->nslots : 64) * sizeof *m->slot;
}

/* Makes room for one more entry of `bytes` within the cap: 0, 1 when the
 * map is full, -1 when memory is short. */
static int reserve(cs__turnmap *m, size_t bytes) {
  if (m->bytes + bytes + growth(m) > m->cap) return 1;
  if (!growth(m)) return 0;
  size_t n = m->nslots ? 2 * m->nslots : 64;
  entry **s = calloc(n, sizeof *s);
  if (!s) return -1;
  entry **old = m->slot;
  size_t oldn = m->nslots;
  m->slot = s;
  m->nslots = n;
  for (size_t i = 0; i < oldn; i++)
    if (old[i]) *lookup(m, old[i]->conv, old[i]->first) = old[i];
  free(old);
  m->bytes += (n - oldn) * sizeof *s;
  return 0;
}

/* The last of marks m[0..n) (docids increasing) at or before docid d.
 * Looked for first where the docids put it, a conversation's blocks
 * holding about as many docids each, then by doubling steps from there and
 * halving: a few cache lines of a sitting's ~300 marks instead of the ~8
 * of a plain binary search. */
static int find_mark(const cs_tbmark *m, size_t n, uint32_t d, int32_t *block_seq) {
  if (n == 0 || d < m[0].docid) return CS_ENOTFOUND;
  if (d >= m[n - 1].docid) {
    *block_seq = m[n - 1].seq;
    return 0;
  }
  /* From here m[0].docid <= d < m[n - 1].docid: keep m[lo] <= d < m[hi]. */
  size_t lo = 0, hi = n - 1;
  size_t g = (size_t)((uint64_t)(d - m[0].docid) * (n - 1) / (m[n - 1].docid - m[0].docid));
  size_t step = 1;
  if (m[g].docid <= d) {
    lo = g;
    while (lo + step < hi && m[lo + step].docid <= d) {
      lo += step;
      step *= 2;
    }
    if (lo + step < hi) hi = lo + step;
  } else {
    hi = g;
    while (hi - lo > step && m[hi - step].docid > d) {
      hi -= step;
      step *= 2;
    }
    if (hi - lo > step) lo = hi - step;
  }
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (m[mid].docid <= d)
      lo = mid;
    else
      hi = mid;
  }
  *block_seq = m[lo].seq;
  return 0;
}

static int mark_of(const entry *e, uint32_t d, int32_t *block_seq) {
  if (e->kind != MARKS) return e->kind == DAMAGED ? CS_ECORRUPT : CS_ENOTFOUND;
  return find_mark(e->m, e->n, d, block_seq);
}

int cs__turnmap_find(cs__turnmap *m, cs_reader *r, uint64_t conv, uint32_t first, uint32_t d,
                     int32_t *block_seq) {
  pthread_mutex_lock(&m->lock);
  entry **p = m->nslots ? lookup(m, conv, first) : NULL;
  if (p && *p) {
    int rc = mark_of(*p, d, block_seq);
    pthread_mutex_unlock(&m->lock);
    return rc;
  }
  if (m->full) {
    if (++m->refused <= REFILL_AFTER * (m->used + 1)) {
      pthread_mutex_unlock(&m->lock);
      return CS_ENOTFOUND; /* found the way it was before the map */
    }
    clear(m);
    m->full = 0;
    m->refused = 0;
    m->emptied++;
  }
  pthread_mutex_unlock(&m->lock);

  cs_tbmark *mk = NULL;
  size_t n = 0, cap = 0;
  int rc = cs_reader_turn_marks(r, conv, &mk, &n, &cap);
  if (rc && rc != CS_ECORRUPT) {
    free(mk);
    return rc;
  }
  int kind = rc ? DAMAGED : MARKS;
  if (kind == MARKS && sizeof(entry) + n * sizeof(cs_tbmark) > m->cap / 4)
    kind = TOO_LONG; /* kept as such: its marks are not read again */
  size_t nread = n;
  if (kind != MARKS) n = 0;
  size_t bytes = sizeof(entry) + n * sizeof(cs_tbmark);
  entry *e = malloc(bytes);
  if (!e) {
    free(mk);
    return CS_ENOMEM;
  }
  *e = (entry){conv, first, (uint32_t)n, kind};
  if (n) memcpy(e->m, mk, n * sizeof *mk);
  /* (this once from what was read, a conversation too long to keep too) */
  rc = kind == DAMAGED ? CS_ECORRUPT : find_mark(mk, nread, d, block_seq);
  free(mk);
  pthread_mutex_lock(&m->lock);
  if (!m->full) {
    int room = reserve(m, bytes);
    if (room == 1) m->full = 1;
    p = room ? NULL : lookup(m, conv, first);
    if (p && !*p) { /* (another view may have put it meanwhile) */
      *p = e;
      e = NULL;
      m->used++;
      m->bytes += bytes;
    }
  }
  pthread_mutex_unlock(&m->lock);
  free(e);
  return rc;
}

size_t cs__turnmap_convs(cs__turnmap *m, size_t *bytes, size_t *emptied) {
  pthread_mutex_lock(&m->lock);
  size_t n = m->used;
  if (bytes) *bytes = m->bytes;
  if (emptied) *emptied = m->emptied;
  pthread_mutex_unlock(&m->lock);
  return n;
}
