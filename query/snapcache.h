/*
 * What a generation keeps per snapshot (internal to the query engine):
 * objects read from one LMDB snapshot (cs_reader_snapshot) and shared by
 * the views on it, one per slot: copies of the lexicon (lexcache.h), the
 * words of the people's names (name_match.c) and the expansions made
 * (expmemo.h). A view on another snapshot reads the index instead. The
 * object of a slot is made lazily by the first view on a newer snapshot
 * that finds it stale, as long as making them takes at most about a
 * hundredth of a core per slot (one made less than 100x its own build time
 * ago is not replaced yet: under a steady commit load most views read the
 * index, as they did before). The owner slots hold one owner's part of
 * an owner table, its people and conversations (owned.h), or its
 * expansions, each; 64 owners are kept per kind, the least recently used
 * going, and all owners' objects of one kind together take at most about a
 * hundredth of a core (so that more active owners than that make the views
 * read the index, not the copies be made again and again). Not the people
 * and conversations nor the expansions (an owner's or the collection's): a
 * search not given them reads them at the same cost, so they are made
 * whenever asked. The collection's expansions serve every snapshot of the
 * collection's version (META stats: a new one each commit), as an owner's
 * do of the owner's. The owners' copies of
 * their words and terms kept also hold at most a number of bytes together
 * (cs__snapcache_set_owner_cap). An owner's part of
 * the tables and its expansions depend on its per-owner statistics alone:
 * they serve every snapshot where the owner's version (records.h) is the
 * one they were made at, and once the views going without them have spent
 * what making them took, they are made again whatever the budget; at once,
 * for an owner whose last one answered at least as many lookups as its
 * last one made on rent had waited for walks (a busy owner: under a steady
 * write load its searches would otherwise walk the index after each of
 * its commits), as long as a busy owner's objects take at most a tenth of
 * a core.
 */
#ifndef CS_QUERY_SNAPCACHE_H
#define CS_QUERY_SNAPCACHE_H

#include "reader.h"

#include <stddef.h>
#include <stdint.h>

/* Something read from one snapshot and kept for the views on it. */
typedef struct cs__snapobj {
  uint64_t snap;    /* cs_reader_snapshot of the view it was read from */
  uint64_t version; /* owner slots: the owner's version then (records.h), 0: none;
                     * the collection's expansions (CS__SC_MEMO): META stats' */
  size_t bytes;     /* what it holds, for the owner copies' cap (0: not counted) */
  int refs;         /* under the cache's lock */
  void (*free)(struct cs__snapobj *);
} cs__snapobj;

/* What a generation keeps per snapshot: the four tables, a portal caller's
 * own people and conversations (owned.h), the words of the people's names
 * (name_match.c) and the expansions made (expmemo.h). */
enum {
  CS__SC_WORDS,
  CS__SC_LEX,
  CS__SC_OWORDS,
  CS__SC_OLEX,
  CS__SC_OWNED,
  CS__SC_NAMES,
  CS__SC_MEMO,  /* the collection's expansions (versioned: expmemo.h) */
  CS__SC_OMEMO, /* one owner's expansions (expmemo.h) */
  CS__SC_SLOTS
};

typedef struct cs__snapcache cs__snapcache;

int cs__snapcache_new(cs__snapcache **out);
void cs__snapcache_free(cs__snapcache *c);

/* The cache of the calling thread's view (set by the view, as the
 * synonyms are): NULL for none. Returns the previous one. */
cs__snapcache *cs__snapcache_set_current(cs__snapcache *c);
cs__snapcache *cs__snapcache_current(void);

/* The object of `slot` for reader r's snapshot, held (release it): the
 * one kept, or one `build` makes now from r when the one kept is older and
 * the build rate allows; else NULL (read the index instead: also when
 * build fails, whatever its CS_E* code, tried again 10x later). `owner`:
 * the owner tables' slots only. `prev`, given to build: the object it
 * replaces, made at an earlier version of the owner (held during the
 * build; cs__snapcache_obtain_owner only, else NULL). */
typedef int (*cs__snap_build)(cs_reader *r, int slot, uint64_t owner, cs__snapobj *prev,
                              cs__snapobj **out);
cs__snapobj *cs__snapcache_obtain(cs__snapcache *c, cs_reader *r, int slot, uint64_t owner,
                                  cs__snap_build build);
/* The same for an owner slot whose object depends on that owner's
 * per-owner statistics alone: `version` is the owner's in r's snapshot
 * (cs_stats.version, 0: none), and the object kept serves any snapshot
 * where the owner's version is the same, not only the one it was read
 * from (a commit that does not touch the owner leaves it valid). */
cs__snapobj *cs__snapcache_obtain_owner(cs__snapcache *c, cs_reader *r, int slot, uint64_t owner,
                                        uint64_t version, cs__snap_build build);
void cs__snapobj_release(cs__snapcache *c, cs__snapobj *o); /* NULL o: no-op */

/* A view went without the object of (slot, owner) and spent ns on reading
 * the index instead: an owner's object kept across commits is made again
 * once that adds up to what it took to make (cs__snapcache_obtain_owner). */
void cs__snapcache_owe(cs__snapcache *c, int slot, uint64_t owner, int64_t ns);

/* How many times an object of `kind` was made (or tried), for tests. */
uint64_t cs__snapcache_made(cs__snapcache *c, int kind);

/* The owners' copies of their words and terms (CS__SC_OWORDS, CS__SC_OLEX)
 * kept together hold at most `cap` bytes (cs__snapobj.bytes; none: no cap;
 * the engine's: cs_engine_set_owner_cache): past it the least recently used
 * owners' copies go first, and an owner whose copy would not fit reads the
 * index (0: no copy is made). Views still using a copy that went keep it
 * until they end. cs__snapcache_owner_bytes returns what the copies kept
 * hold now (and the cap). */
void cs__snapcache_set_owner_cap(cs__snapcache *c, size_t cap);
size_t cs__snapcache_owner_bytes(cs__snapcache *c, size_t *cap);

/* A build's answer when there is nothing to keep for now (not an error):
 * tried again only 10x later than otherwise, as after a failure. */
#define CS__SNAP_SKIP 1

#endif
