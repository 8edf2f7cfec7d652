/*
 * Pending postings: the hash map (see pending.h). Open addressing, linear
 * probing, FNV-1a hashes kept in the entries.
 */
#include "pending.h"

#include "errors.h"

#include <stdlib.h>
#include <string.h>

static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}
/* Arena blocks: entries and stems are never freed one by one. */
struct cs__pblock {
  cs__pblock *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

#define BLOCK_BYTES (256u << 10)

static void *arena_alloc(cs__pmap *m, size_t n) {
  n = (n + 15) & ~(size_t)15;
  cs__pblock *b = m->arena;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > BLOCK_BYTES ? n : BLOCK_BYTES;
    b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->next = m->arena;
    b->used = 0;
    b->cap = cap;
    m->arena = b;
    m->bytes += sizeof *b + cap;
  }
  void *p = b->data + b->used;
  b->used += n;
  return p;
}

void cs__pmap_clear(cs__pmap *m) {
  for (size_t i = 0; i < m->cap; i++) {
    if (m->slots[i]) cs_plist_free(&m->slots[i]->pl);
  }
  free(m->slots);
  for (cs__pblock *b = m->arena, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  memset(m, 0, sizeof *m);
}

const char *cs__pmap_strdup(cs__pmap *m, const char *s, size_t n) {
  char *p = arena_alloc(m, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

static int hmap_grow(cs__pmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 1024;
  cs__pentry **slots = calloc(cap, sizeof *slots);
  if (!slots) return CS_ENOMEM;
  for (size_t i = 0; i < m->cap; i++) {
    cs__pentry *e = m->slots[i];
    if (!e) continue;
    size_t j = e->hash & (cap - 1);
    while (slots[j])
      j = (j + 1) & (cap - 1);
    slots[j] = e;
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  return 0;
}
cs__pentry *cs__pmap_get(cs__pmap *m, const char *key, size_t len) {
  if ((m->n + 1) * 2 > m->cap && hmap_grow(m)) return NULL;
  uint32_t h = hash_bytes(key, len);
  size_t j = h & (m->cap - 1);
  for (cs__pentry *e; (e = m->slots[j]); j = (j + 1) & (m->cap - 1)) {
    if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) return e;
  }
  cs__pentry *e = arena_alloc(m, sizeof *e + len + 1);
  if (!e) return NULL;
  memset(e, 0, sizeof *e);
  memcpy(e->key, key, len);
  e->key[len] = 0;
  e->len = (uint16_t)len;
  e->hash = h;
  e->last_doc = CS_DOCID_END;
  cs_plist_init(&e->pl);
  m->slots[j] = e;
  m->n++;
  return e;
}
static int entry_cmp(const cs__pentry *x, const cs__pentry *y) {
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->key, y->key, n);
  return c ? c : (int)x->len - (int)y->len;
}
/* Sorting compares the keys' first 8 bytes (big-endian, zero-padded: the
 * same order as the keys' when they differ) held next to the pointer, so
 * that most comparisons touch no entry. */
typedef struct keyed {
  uint64_t pre;
  cs__pentry *e;
} keyed;

static uint64_t prefix8(const cs__pentry *e) {
  uint8_t b[8] = {0};
  memcpy(b, e->key, e->len < 8 ? e->len : 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | b[i];
  return v;
}
static int keyed_cmp(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->pre != y->pre) return x->pre < y->pre ? -1 : 1;
  return entry_cmp(x->e, y->e);
}
int cs__pmap_sorted(cs__pmap *m, cs__pentry ***out) {
  cs__pentry **v = malloc((m->n ? m->n : 1) * sizeof *v);
  keyed *k = malloc((m->n ? m->n : 1) * sizeof *k);
  if (!v || !k) {
    free(v);
    free(k);
    return CS_ENOMEM;
  }
  size_t n = 0;
  for (size_t i = 0; i < m->cap; i++) {
    if (m->slots[i]) k[n++] = (keyed){prefix8(m->slots[i]), m->slots[i]};
  }
  qsort(k, n, sizeof *k, keyed_cmp);
  for (size_t i = 0; i < n; i++)
    v[i] = k[i].e;
  free(k);
  *out = v;
  return 0;
}
