/*
 * The keys of the per-owner statistics a commit adds or removes
 * (records.h, cs_stats.changes): cs__om_add notes each key it inserts into
 * CS_T_OWORDS or CS_T_OLEX, and counts each it drops (never kept: an erased
 * person's words must leave the files), and each owner whose damaged
 * block it dropped or counted again ("many": not known); at commit every
 * owner's record gets its own list (writer.c, stamp_owners). The
 * collection's word and term tables (CS_T_WORDS, CS_T_LEX) have theirs
 * too, kept apart as a list already (cs__wr_gchange: up to CS_GCHANGES_MAX,
 * then "many"), for META stats (writer.c, put_stats). A commit that
 * notes more than CS__OCHG_NOTED keys (a bulk load) lists none: every
 * owner it touched gets "many"; so does one whose damaged entries belong to
 * no owner it can name.
 */
#include "writer_int.h"

#include "grow.h"
#include "varint.h"

#include <stdlib.h>

#define CS__OCHG_NOTED 65536

/* What a note is (struct cs__ochgent.kind): a key added to CS_T_OWORDS or
 * CS_T_OLEX, a key removed (not kept), or the owner's changes not known. */
enum { K_WORD, K_TERM, K_REMOVED, K_MANY };

static void note(cs_writer *w, uint64_t owner, int kind, const uint8_t *key, size_t len) {
  struct cs__ochg *c = &w->ochg;
  if (c->over) return;
  if (c->n >= CS__OCHG_NOTED ||
      cs_grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v)) { /* all many */
    c->over = 1;
    return;
  }
  struct cs__ochgent *e = &c->v[c->n];
  e->owner = owner;
  e->seq = (uint32_t)c->n;
  e->off = (uint32_t)c->keys.len;
  e->len = (uint8_t)len;
  e->kind = (uint8_t)kind;
  cs_buf_bytes(&c->keys, key, len);
  if (c->keys.err) {
    c->over = 1;
    return;
  }
  c->n++;
  c->sorted = 0;
}

void cs__wr_ochange(cs_writer *w, cs_table t, const uint8_t *key, size_t len, int removed) {
  if (len <= 8 || len > CS_OKEY_MAX) return; /* never written (cs__om_add) */
  /* A passage's terms start with a byte no query word starts with: no
   * expansion's walk reaches them (expand.c). */
  if (t == CS_T_OLEX && key[8] == (uint8_t)CS_PASSAGE_PREFIX) return;
  if (removed)
    note(w, cs_be64_get(key), K_REMOVED, NULL, 0);
  else
    note(w, cs_be64_get(key), t == CS_T_OLEX ? K_TERM : K_WORD, key + 8, len - 8);
}

void cs__wr_gchange(cs_writer *w, cs_table t, const char *key, size_t len, int removed) {
  struct cs__ochg *c = &w->ochg;
  if (c->gmany) return;
  if (len == 0 || len > CS_TERM_MAX + 2) { /* (never written: not listed, so not known) */
    c->gmany = 1;
    return;
  }
  if (t == CS_T_LEX && key[0] == CS_PASSAGE_PREFIX) return;
  if (removed) {
    if (c->gremoved < UINT32_MAX) c->gremoved++;
    return;
  }
  if (c->gn == CS_GCHANGES_MAX) {
    c->gmany = 1;
    return;
  }
  cs_ochange_put(&c->gkeys, t == CS_T_LEX, key, len);
  c->gn++;
  if (c->gkeys.err) c->gmany = 1;
}

void cs__wr_ochange_many(cs_writer *w, uint64_t owner) {
  note(w, owner, K_MANY, NULL, 0);
}

void cs__wr_ochange_unknown(cs_writer *w) {
  w->ochg.over = 1;
}

static int by_owner(const void *a, const void *b) {
  const struct cs__ochgent *x = a, *y = b;
  if (x->owner != y->owner) return x->owner < y->owner ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void cs__wr_ochanges_of(cs_writer *w, uint64_t owner, cs_buf *out, uint32_t *n, uint32_t *removed,
                        uint8_t *many) {
  struct cs__ochg *c = &w->ochg;
  cs_buf_reset(out);
  *n = *removed = 0;
  *many = (uint8_t)c->over;
  if (c->over) return;
  if (!c->sorted) {
    if (c->n > 1) qsort(c->v, c->n, sizeof *c->v, by_owner);
    c->sorted = 1;
  }
  size_t lo = 0, hi = c->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->v[mid].owner < owner)
      lo = mid + 1;
    else
      hi = mid;
  }
  for (size_t i = lo; i < c->n && c->v[i].owner == owner; i++) {
    const struct cs__ochgent *e = &c->v[i];
    if (e->kind == K_REMOVED) {
      if (*removed < UINT32_MAX) ++*removed;
      continue;
    }
    if (e->kind == K_MANY || *n >= CS_OCHANGES_MAX) {
      cs_buf_reset(out);
      *n = *removed = 0;
      *many = 1;
      return;
    }
    cs_ochange_put(out, e->kind == K_TERM, (const char *)c->keys.p + e->off, e->len);
    ++*n;
  }
  if (out->err) {
    cs_buf_reset(out);
    *n = *removed = 0;
    *many = 1;
  }
}

void cs__wr_ochanges_reset(cs_writer *w) {
  w->ochg.n = 0;
  w->ochg.over = 0;
  w->ochg.sorted = 1;
  cs_buf_reset(&w->ochg.keys);
  cs_buf_reset(&w->ochg.gkeys);
  w->ochg.gn = w->ochg.gremoved = 0;
  w->ochg.gmany = 0;
}

void cs__wr_ochanges_free(cs_writer *w) {
  free(w->ochg.v);
  cs_buf_free(&w->ochg.keys);
  cs_buf_free(&w->ochg.gkeys);
  memset(&w->ochg, 0, sizeof w->ochg);
}
