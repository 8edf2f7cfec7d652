/*
 * Term expansions remembered per snapshot (internal to the query engine).
 * What cs__expand finds for a word (before the administrator's synonyms,
 * which may change without a commit) depends only on the snapshot, the
 * statistics' scope (tstats.h: the collection, or one owner) and the word
 * and its options; so the views on one snapshot share a table of the
 * expansions already made (a snapcache.h slot). The search box asks for
 * the same words again and again: as a person types, every keystroke
 * sends the words already typed once more, and popular words recur across
 * people. A portal caller's expansions depend on its owner's statistics
 * alone: they have a table per owner, kept across the commits that leave
 * that owner's version (records.h) as it is. A commit that gives the owner
 * a new version lists the keys it added to the owner's words and terms,
 * and counts those it removed: the expansions of the version before whose
 * typo walks no added key reaches (expand.h, cs__recipe_reached) pass to
 * the new version's table as recipes, made again on their next use by
 * looking up the keys their walks had found (each key's stem and df as
 * this version has them), not by walking; a key found that is not there
 * any more makes it walk. The collection's table (admins, analysts) works
 * the same way with the collection's record (META stats), which every
 * commit gives a new version: it is made at each new version, holding
 * what passes on from the one before (none when a version was skipped, or
 * the commit added more keys than it lists).
 *
 * The table holds at most 4 MB of expansions (an owner's 256 KB); a full
 * table is emptied.
 */
#ifndef CS_QUERY_EXPMEMO_H
#define CS_QUERY_EXPMEMO_H

#include "expand.h"
#include "snapcache.h"
#include "parser.h"
#include "tstats.h"

#include <stdint.h>

/* What an expansion depends on besides the snapshot. */
typedef struct cs__expkey {
  uint8_t own;    /* the scope: the collection (0) or one owner's */
  uint64_t owner; /* ... whose */
  const cs__qword *w;
  uint8_t prefix, edits;
  uint32_t cap;
} cs__expkey;

typedef struct cs__expmemo cs__expmemo;

/* The table for ts's snapshot (held: release it), or NULL when there is
 * none to use. */
cs__expmemo *cs__expmemo_get(cs__snapcache *c, const cs__tstats *ts);
void cs__expmemo_release(cs__snapcache *c, cs__expmemo *m); /* NULL m: no-op */

/* Copies the expansion of k into out[0..*n) and returns 1; or, when the
 * table has only its recipe from the version before, copies that into
 * *rec (when not NULL) and returns 2; else returns 0. */
int cs__expmemo_find(cs__expmemo *m, const cs__expkey *k, cs__variant *out, uint32_t *n,
                     cs__recipe *rec);
/* Remembers out[0..n) as the expansion of k, with the recipe of its walks
 * when rec is complete (dropped silently when memory is short). */
void cs__expmemo_put(cs__expmemo *m, const cs__expkey *k, const cs__variant *out, uint32_t n,
                     const cs__recipe *rec);

#endif
