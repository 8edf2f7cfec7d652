/*
 * What a generation keeps per snapshot (see snapcache.h): slots under one
 * lock, each holding the object of one snapshot, reference counted.
 */
#include "snapcache.h"

#include "clock.h"
#include "errors.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Making the objects may take at most 1 / REBUILD_FACTOR of a core per slot;
 * those made at once for a busy owner, at most 1 / BUSY_FACTOR. */
#define REBUILD_FACTOR 100
#define BUSY_FACTOR 10

/* Owners whose objects of one kind are kept at once (the least recently
 * used goes): their words, their terms, their people and conversations. */
#define OWNERS_KEPT 64
#define OWNER_SLOTS (4 * OWNERS_KEPT)
#define OMEMO_IDLE_NS (60 * (int64_t)1000000000)

typedef struct slot {
  cs__snapobj *cur;
  int building;
  int64_t next_ns; /* no new one before this */
  int kind;        /* owner slots: CS__SC_OWORDS, CS__SC_OLEX, CS__SC_OWNED or CS__SC_OMEMO */
  uint64_t owner;
  int64_t used_ns;
  int64_t build_ns; /* what making its last object took (when it was kept) */
  int64_t owed_ns;  /* what views have spent without one since (cs__snapcache_owe) */
  uint32_t owes;    /* the walks that went without one since */
  /* The walks the last object made on rent waited for (0: none yet, or the
   * last one made was not kept). A word both prefixed and typo-tolerant
   * owes twice for one lookup: this errs towards renting. */
  uint32_t repay;
  uint32_t hits;        /* lookups its object answered since it was made (not the maker's) */
  int64_t busy_next_ns; /* no object made at once for a busy owner before this */
} slot;

struct cs__snapcache {
  pthread_mutex_t lock;
  slot s[CS__SC_SLOTS];  /* the collection's (the owner kinds unused) */
  slot own[OWNER_SLOTS]; /* one owner's words, terms, or people each */
  /* No owner object of a kind is made before this, whichever owner: making
   * them all together takes at most 1 / REBUILD_FACTOR of a core per kind,
   * however many owners are active (a slot's own limit is lost when it is
   * taken over). */
  int64_t own_next_ns[CS__SC_SLOTS];
  uint64_t made[CS__SC_SLOTS];   /* objects made, by kind (tests) */
  size_t owner_cap, owner_bytes; /* the owners' copies of words and terms kept */
};

static _Thread_local cs__snapcache *current;

cs__snapcache *cs__snapcache_set_current(cs__snapcache *c) {
  cs__snapcache *old = current;
  current = c;
  return old;
}

cs__snapcache *cs__snapcache_current(void) {
  return current;
}

int cs__snapcache_new(cs__snapcache **out) {
  cs__snapcache *c = calloc(1, sizeof *c);
  if (!c) return CS_ENOMEM;
  pthread_mutex_init(&c->lock, NULL);
  c->owner_cap = SIZE_MAX; /* the engine sets its own (cs_engine_set_owner_cache) */
  *out = c;
  return 0;
}

/* The owners' copies of their words and terms, which hold most of what
 * the cache keeps: their bytes count against the cap. */
static int capped(int kind) {
  return kind == CS__SC_OWORDS || kind == CS__SC_OLEX;
}

/* Under the lock (owner slots: the kind is the slot's). */
static void slot_drop(cs__snapcache *c, slot *s) {
  if (s->cur && capped(s->kind)) c->owner_bytes -= s->cur->bytes;
  if (s->cur && --s->cur->refs == 0) s->cur->free(s->cur);
  s->cur = NULL;
}

void cs__snapcache_free(cs__snapcache *c) {
  if (!c) return;
  for (int i = 0; i < CS__SC_SLOTS; i++)
    slot_drop(c, &c->s[i]);
  for (int i = 0; i < OWNER_SLOTS; i++)
    slot_drop(c, &c->own[i]);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

static int owner_kind(int kind) {
  return kind == CS__SC_OWORDS || kind == CS__SC_OLEX || kind == CS__SC_OWNED ||
         kind == CS__SC_OMEMO;
}

/* The first of the owner slots of an owner kind. */
static int part_of(int kind) {
  return (kind == CS__SC_OWORDS  ? 0
          : kind == CS__SC_OLEX  ? 1
          : kind == CS__SC_OWNED ? 2
                                 : 3) *
         OWNERS_KEPT;
}

/* A search that does not get a portal caller's people and conversations
 * from the cache reads them itself, at the same cost: they are made
 * whenever asked, not within a budget; so is a table of expansions, an
 * owner's or the collection's (empty when made, or holding what passes on
 * from the version before: expmemo.h; made later, it would find a version
 * skipped, and nothing passes on then). */
static int limited(int kind) {
  return kind != CS__SC_OWNED && kind != CS__SC_OMEMO && kind != CS__SC_MEMO;
}

/* The slot of (kind, owner), taking a free or the least recently used one
 * of its kind for an owner not kept yet when `take` (NULL when not, or
 * when every one is being built). Under the lock. */
static slot *slot_find(cs__snapcache *c, int kind, uint64_t owner, int64_t now, int take) {
  if (!owner_kind(kind)) return &c->s[kind];
  slot *lru = NULL;
  int from = part_of(kind);
  for (int i = from; i < from + OWNERS_KEPT; i++) {
    slot *s = &c->own[i];
    if (s->used_ns && s->kind == kind && s->owner == owner) {
      s->used_ns = now;
      return s;
    }
    if (!s->building && (!lru || s->used_ns < lru->used_ns)) lru = s;
  }
  if (!lru || !take) return NULL;
  /* An owner's expansions cost little to make but fill with use: one
   * used within the last minute is not given up for another owner's (who
   * shares the collection's table instead), lest more owners taking turns
   * than are kept empty every table before it is used again. */
  if (kind == CS__SC_OMEMO && lru->used_ns && now - lru->used_ns < OMEMO_IDLE_NS) return NULL;
  slot_drop(c, lru);
  memset(lru, 0, sizeof *lru);
  lru->kind = kind;
  lru->owner = owner;
  lru->used_ns = now;
  return lru;
}

/* Makes room among the owners' copies for one of `bytes` in slot s (NULL:
 * none), whose own copy it replaces: the least recently used other owners'
 * copies go (not one being made again: its slot stays), none of them when
 * that cannot make enough room, unless `any` (then as many as it takes or
 * can). Under the lock. Returns 0 when it cannot fit. */
static int make_room(cs__snapcache *c, slot *s, size_t bytes, int any) {
  if (bytes > c->owner_cap) return 0;
  size_t mine = s && s->cur ? s->cur->bytes : 0, need = c->owner_bytes - mine + bytes, freed = 0;
  if (need <= c->owner_cap) return 1;
  for (int i = 0; i < OWNER_SLOTS && !any; i++) {
    const slot *x = &c->own[i];
    if (x != s && x->cur && capped(x->kind) && !x->building) freed += x->cur->bytes;
  }
  if (!any && need - freed > c->owner_cap) return 0;
  while (c->owner_bytes - mine + bytes > c->owner_cap) {
    slot *lru = NULL;
    for (int i = 0; i < OWNER_SLOTS; i++) {
      slot *x = &c->own[i];
      if (x != s && x->cur && capped(x->kind) && !x->building &&
          (!lru || x->used_ns < lru->used_ns))
        lru = x;
    }
    if (!lru) return 0;
    slot_drop(c, lru);
    memset(lru, 0, sizeof *lru);
  }
  return 1;
}

cs__snapobj *cs__snapcache_obtain(cs__snapcache *c, cs_reader *r, int i, uint64_t owner,
                                  cs__snap_build make) {
  return cs__snapcache_obtain_owner(c, r, i, owner, 0, make);
}

cs__snapobj *cs__snapcache_obtain_owner(cs__snapcache *c, cs_reader *r, int i, uint64_t owner,
                                        uint64_t version, cs__snap_build make) {
  if (!c || i < 0 || i >= CS__SC_SLOTS) return NULL;
  if (!owner_kind(i) && i != CS__SC_MEMO) version = 0; /* (the collection's expansions have one) */
  uint64_t snap = cs_reader_snapshot(r);
  int64_t t0 = cs_clock_ns(CLOCK_MONOTONIC);
  pthread_mutex_lock(&c->lock);
  if (capped(i) && !c->owner_cap) { /* none kept */
    pthread_mutex_unlock(&c->lock);
    return NULL;
  }
  /* An owner's object is made only within its kind's budget (people and
   * conversations: always): an owner not kept takes a slot over only then. */
  int own_ok = !owner_kind(i) || !limited(i) || t0 >= c->own_next_ns[i];
  slot *s = slot_find(c, i, owner, t0, own_ok);
  if (s && s->cur && (s->cur->snap == snap || (version && s->cur->version == version))) {
    if (version && s->hits < UINT32_MAX) s->hits++;
    s->cur->refs++;
    cs__snapobj *hit = s->cur;
    pthread_mutex_unlock(&c->lock);
    return hit;
  }
  /* An owner's object that lasts across commits (a version), once a
   * commit that touched the owner has made it stale, is made again as soon
   * as the views going without it have spent what making it took: the CPU
   * spent on making it is then at most what the views spent without it,
   * however often the owner changes. (A first one waits for the budget:
   * with more owners taking turns than are kept, an object may be dropped
   * before it is used again.) */
  int stale = version && s && s->cur && s->cur->version != version && s->build_ns > 0;
  int repaid = stale && s->owed_ns >= s->build_ns;
  /* An owner whose last object answered at least as many lookups as its
   * last one made on rent had waited for walks is taken to be as busy now:
   * its new one is made at once rather than after as many walks again (at
   * worst one object made for nothing when the owner goes quiet; then it
   * waits again). */
  int busy = stale && s->repay && s->hits >= s->repay && t0 >= s->busy_next_ns;
  /* No slot, a view older than the one kept, a build under way, or too
   * soon. */
  if (!s || (!own_ok && !repaid && !busy) || (s->cur && s->cur->snap > snap) || s->building ||
      (limited(i) && t0 < s->next_ns && !repaid && !busy)) {
    pthread_mutex_unlock(&c->lock);
    return NULL;
  }
  s->building = 1;
  uint32_t owes = s->owes; /* not the walks of the views that find it being made */
  cs__snapobj *prev = version && s->cur && s->cur->version ? s->cur : NULL;
  if (prev) prev->refs++;
  pthread_mutex_unlock(&c->lock);
  cs__snapobj *o = NULL;
  int rc = make(r, i, owner, prev, &o);
  if (o) {
    o->snap = snap;
    o->version = version;
  }
  int64_t t1 = cs_clock_ns(CLOCK_MONOTONIC);
  /* A failed build (memory, a damaged entry) is not the query's failure:
   * the view reads the index instead, which reports what is damaged. */
  int kept = !rc && o;
  pthread_mutex_lock(&c->lock);
  /* One that the owners' cap cannot hold serves this view alone, and is
   * made again as late as after a failure (not other owners' first ones:
   * the kind's budget is charged for the time it took, as for one kept). */
  int alone = kept && owner_kind(i) && capped(i) && (!s->cur || s->cur->snap < snap) &&
              !make_room(c, s, o->bytes, 0);
  if (alone) kept = 0;
  s->building = 0;
  s->build_ns = kept ? t1 - t0 : 0; /* a failed one is not made again on rent */
  if (!kept)
    s->repay = 0;
  else if (repaid)
    s->repay = owes ? owes : 1;
  /* However its lookups are counted, a busy owner's objects take at most
   * 1 / BUSY_FACTOR of a core. */
  if (busy && !repaid) s->busy_next_ns = t1 + (t1 - t0) * (BUSY_FACTOR - 1);
  s->owed_ns = 0;
  s->owes = 0;
  s->hits = 0;
  c->made[i]++;
  int64_t spent = (t1 - t0) * (REBUILD_FACTOR - 1);
  s->next_ns = t1 + spent * (kept ? 1 : 10);
  /* One made on rent was paid for by its owner's views, and one made at
   * once for a busy owner, unless it failed or serves this view alone, by
   * the lookups its last one answered: other owners' first ones do not
   * wait for them. */
  if (owner_kind(i) && !repaid && (!busy || !kept))
    c->own_next_ns[i] = t1 + spent * (rc || !o ? 10 : 1);
  cs__snapobj *got = NULL;
  if (alone) {
    slot_drop(c, s); /* its stale copy serves no view to come */
    o->refs = 1;     /* the caller's */
    got = o;
    o = NULL;
  } else if (kept && (!s->cur || s->cur->snap < snap)) {
    slot_drop(c, s);
    o->refs = 2; /* the cache's and the caller's */
    s->cur = got = o;
    if (owner_kind(i) && capped(i)) c->owner_bytes += o->bytes;
    o = NULL;
  }
  if (prev && --prev->refs == 0) prev->free(prev);
  pthread_mutex_unlock(&c->lock);
  if (o) o->free(o);
  return got;
}

void cs__snapcache_owe(cs__snapcache *c, int i, uint64_t owner, int64_t ns) {
  if (!c || i < 0 || i >= CS__SC_SLOTS || ns <= 0) return;
  int64_t now = cs_clock_ns(CLOCK_MONOTONIC);
  pthread_mutex_lock(&c->lock);
  slot *s = slot_find(c, i, owner, now, 0);
  if (s) {
    s->owed_ns += ns;
    if (s->owes < UINT32_MAX) s->owes++;
  }
  pthread_mutex_unlock(&c->lock);
}

uint64_t cs__snapcache_made(cs__snapcache *c, int kind) {
  if (!c || kind < 0 || kind >= CS__SC_SLOTS) return 0;
  pthread_mutex_lock(&c->lock);
  uint64_t n = c->made[kind];
  pthread_mutex_unlock(&c->lock);
  return n;
}

void cs__snapcache_set_owner_cap(cs__snapcache *c, size_t cap) {
  pthread_mutex_lock(&c->lock);
  c->owner_cap = cap;
  make_room(c, NULL, 0, 1); /* a copy being made goes when it is done */
  pthread_mutex_unlock(&c->lock);
}

size_t cs__snapcache_owner_bytes(cs__snapcache *c, size_t *cap) {
  if (cap) *cap = 0;
  if (!c) return 0;
  pthread_mutex_lock(&c->lock);
  size_t n = c->owner_bytes;
  if (cap) *cap = c->owner_cap;
  pthread_mutex_unlock(&c->lock);
  return n;
}

void cs__snapobj_release(cs__snapcache *c, cs__snapobj *o) {
  if (!o) return;
  pthread_mutex_lock(&c->lock);
  int last = --o->refs == 0;
  pthread_mutex_unlock(&c->lock);
  if (last) o->free(o);
}
