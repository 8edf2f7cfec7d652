/*
 * Term expansions remembered per version of their scope (see expmemo.h):
 * a chained hash table under its own lock; entries are copied in and out
 * whole. An entry keeps the recipe of its walks (expand.h) after its
 * variants; one passed on from the version before has the recipe alone
 * (stale) until it is made again.
 */
#include "expmemo.h"

#include "corrupt.h"
#include "errors.h"
#include "records.h"
#include "store.h"
#include "varint.h"

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
  uint8_t stale;   /* the recipe alone: v[] is not this version's */
  uint8_t has_rec; /* a complete recipe follows v[] */
  uint16_t rlen;
  uint32_t visits, seeks, changes; /* the recipe's (expand.h) */
  cs__variant v[];                 /* n; then the recipe's rlen bytes */
} entry;

struct cs__expmemo {
  cs__snapobj o; /* first member */
  pthread_mutex_t lock;
  entry *b[MEMO_BUCKETS];
  size_t bytes, cap;
  int owner; /* one owner's table (else the collection's) */
};

static size_t entry_size(uint32_t n, size_t rlen) {
  return sizeof(entry) + n * sizeof(cs__variant) + rlen;
}

static uint8_t *recipe_of(entry *e) {
  return (uint8_t *)&e->v[e->n];
}

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

/* The keys a commit added to an owner's or the collection's tables
 * (records.h). */
typedef struct changes {
  uint32_t n;
  uint8_t lex[CS_GCHANGES_MAX], len[CS_GCHANGES_MAX];
  const char *key[CS_GCHANGES_MAX];
} changes;

static int change_add(void *ctx, int lex, const char *key, size_t len) {
  changes *c = ctx;
  if (c->n >= CS_GCHANGES_MAX) return CS_ECORRUPT;
  c->lex[c->n] = (uint8_t)lex;
  c->len[c->n] = (uint8_t)len;
  c->key[c->n++] = key;
  return 0;
}

/* Whether entry e's recipe still holds after changes ch and `removed`
 * keys removed; counts them in (e is the copy). A key removed needs no
 * look: one the walks had found is not there when the recipe is looked up
 * again (expand.c walks then). */
static int carries(entry *e, const changes *ch, uint32_t removed) {
  if (!e->has_rec) return 0;
  cs__recipe r = {.ok = 1, .visits = e->visits, .seeks = e->seeks, .changes = e->changes};
  uint64_t n = (uint64_t)ch->n + removed;
  if (!cs__recipe_carry(&r, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n)) return 0;
  e->changes = r.changes;
  cs__qword w;
  memset(&w, 0, sizeof w);
  memcpy(w.term, e->term, e->term_len);
  memcpy(w.word, e->word, e->word_len);
  w.term_len = e->term_len;
  w.word_len = e->word_len;
  w.stop = e->stop;
  w.number = e->number;
  for (uint32_t i = 0; i < ch->n; i++) {
    if (cs__recipe_reached(&w, e->edits, ch->lex[i], ch->key[i], ch->len[i])) return 0;
  }
  return 1;
}

/* Passes the entries of prev, the owner's table at the version before
 * the one r reads, whose recipes no key the commit in between added
 * reaches (its record, records.h), on to m as recipes. own 0: the
 * collection's table, its record META stats. */
static void carry(cs__expmemo *m, cs__expmemo *prev, cs_reader *r, int own, uint64_t owner) {
  cs_stats st;
  int rc = own ? cs_reader_owner_stats(r, owner, &st) : cs_reader_stats(r, &st);
  if (rc || !st.prev_version || st.prev_version != prev->o.version || st.many) return;
  changes *ch = calloc(1, sizeof *ch);
  if (!ch) return;
  if (cs_ochanges_each(&st, change_add, ch)) { /* reported; nothing carried */
    free(ch);
    uint8_t key[8];
    if (own) {
      cs_be64_put(key, owner);
      cs_corrupt(CS_T_OSTATS, (cs_slice){key, 8});
    } else {
      cs_corrupt(CS_T_META, (cs_slice){"stats", 5});
    }
    return;
  }
  pthread_mutex_lock(&prev->lock);
  for (size_t i = 0; i < MEMO_BUCKETS; i++) {
    for (const entry *e = prev->b[i]; e; e = e->next) {
      /* (An owner's entry in the collection's table, where an owner not
       * kept makes its expansions, depends on its own record: not this.) */
      if (!e->has_rec || e->own != (uint8_t)own) continue;
      size_t size = entry_size(0, e->rlen);
      if (m->bytes + size > m->cap) goto done;
      entry *x = malloc(size);
      if (!x) goto done;
      memcpy(x, e, sizeof *x);
      memcpy(&x->v[0], (const uint8_t *)&e->v[e->n], e->rlen);
      x->n = 0;
      x->stale = 1;
      if (!carries(x, ch, st.nremoved)) {
        free(x);
        continue;
      }
      x->next = m->b[i];
      m->b[i] = x;
      m->bytes += size;
    }
  }
done:
  pthread_mutex_unlock(&prev->lock);
  free(ch);
}

static int memo_build(cs_reader *r, int slot, uint64_t owner, cs__snapobj *prev,
                      cs__snapobj **out) {
  cs__expmemo *m = calloc(1, sizeof *m);
  if (!m) return CS_ENOMEM;
  pthread_mutex_init(&m->lock, NULL);
  m->o.free = memo_free;
  m->owner = slot == CS__SC_OMEMO;
  m->cap = m->owner ? OWNER_MEMO_BYTES : MEMO_BYTES;
  if (prev) carry(m, (cs__expmemo *)prev, r, m->owner, owner);
  *out = &m->o;
  return 0;
}

cs__expmemo *cs__expmemo_get(cs__snapcache *c, const cs__tstats *ts) {
  /* The collection's: as long as its version does (a new one each commit,
   * with what passes on from the one before). */
  if (!ts->own)
    return (cs__expmemo *)cs__snapcache_obtain_owner(c, ts->r, CS__SC_MEMO, 0, ts->version,
                                                     memo_build);
  /* An owner's expansions read its statistics alone (tstats.h): they hold
   * as long as its version does. */
  cs__snapobj *o =
      cs__snapcache_obtain_owner(c, ts->r, CS__SC_OMEMO, ts->owner, ts->version, memo_build);
  /* Not kept (more owners at work than tables): the collection's table. */
  if (!o)
    o = cs__snapcache_obtain_owner(c, ts->r, CS__SC_MEMO, 0, ts->gst_rc ? 0 : ts->gst.version,
                                   memo_build);
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

int cs__expmemo_find(cs__expmemo *m, const cs__expkey *k, cs__variant *out, uint32_t *n,
                     cs__recipe *rec) {
  uint64_t h = key_hash(k);
  int found = 0;
  pthread_mutex_lock(&m->lock);
  for (entry *e = m->b[h % MEMO_BUCKETS]; e; e = e->next) {
    if (!same(e, h, k)) continue;
    if (!e->stale) {
      memcpy(out, e->v, e->n * sizeof *out);
      *n = e->n;
      found = 1;
    } else if (rec) {
      rec->ok = 1;
      rec->len = e->rlen;
      rec->visits = e->visits;
      rec->seeks = e->seeks;
      rec->changes = e->changes;
      memcpy(rec->bytes, recipe_of(e), e->rlen);
      found = 2;
    }
    break;
  }
  pthread_mutex_unlock(&m->lock);
  return found;
}

void cs__expmemo_put(cs__expmemo *m, const cs__expkey *k, const cs__variant *out, uint32_t n,
                     const cs__recipe *rec) {
  const cs__qword *w = k->w;
  if (w->term_len > CS_TERM_MAX || w->word_len > CS_TERM_MAX) return;
  int keep = rec && rec->ok;
  size_t size = entry_size(n, keep ? rec->len : 0);
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
  if (keep) {
    e->has_rec = 1;
    e->rlen = rec->len;
    e->visits = rec->visits;
    e->seeks = rec->seeks;
    e->changes = rec->changes;
    memcpy(recipe_of(e), rec->bytes, rec->len);
  }
  pthread_mutex_lock(&m->lock);
  entry **b = &m->b[e->hash % MEMO_BUCKETS];
  for (entry **x = b; *x; x = &(*x)->next) {
    if (!same(*x, e->hash, k)) continue;
    if (!(*x)->stale) { /* another thread was first */
      pthread_mutex_unlock(&m->lock);
      free(e);
      return;
    }
    entry *old = *x; /* the recipe it was made from */
    *x = old->next;
    m->bytes -= entry_size(0, old->rlen);
    free(old);
    break;
  }
  if (m->bytes + size > m->cap) clear(m);
  e->next = m->b[e->hash % MEMO_BUCKETS];
  m->b[e->hash % MEMO_BUCKETS] = e;
  m->bytes += size;
  pthread_mutex_unlock(&m->lock);
}
