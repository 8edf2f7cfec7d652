/*
 * A portal caller's own people and conversations for one snapshot (see
 * owned.h).
 */
#include "owned.h"

#include "errors.h"
#include "grow.h"
#include "records.h"
#include "varint.h"

#include <stdlib.h>
#include <string.h>

typedef struct owned {
  cs__owned pub;
  cs__owned_person *people;
  size_t pcap;
  cs__crange *r;
  size_t rcap;
  char *pool; /* the names, one after the other */
  size_t np, poolcap;
  cs_reader *rd;
  uint64_t employee;
  int rc;
} owned;

static void owned_free(cs__snapobj *o) {
  owned *x = (owned *)o; /* the first member's first member */
  free(x->people);
  free(x->r);
  free(x->pool);
  free(x);
}

static int conv_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  owned *x = ctx;
  if (key.len != 16) return 0;
  cs_conv c;
  int rc = cs_reader_conv(x->rd, cs_be64_get((const uint8_t *)key.data + 8), &c);
  if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0; /* damaged: reported, skipped */
  if (!rc && cs_grow((void **)&x->r, &x->rcap, x->pub.nr + 1, sizeof *x->r)) rc = CS_ENOMEM;
  if (rc) {
    x->rc = rc;
    return 1;
  }
  cs__crange_of(&c, &x->r[x->pub.nr++]);
  return 0;
}

static int person_each(void *ctx, cs_slice key, cs_slice val) {
  (void)val;
  owned *x = ctx;
  if (key.len != 16) return 0;
  cs_patient p;
  int rc = cs_reader_patient(x->rd, cs_be64_get((const uint8_t *)key.data + 8), &p);
  if (rc == CS_ENOTFOUND || rc == CS_ECORRUPT) return 0; /* damaged: reported, skipped */
  if (!rc && p.owner_id != x->employee) return 0;        /* moved: the record decides */
  if (!rc && (cs_grow((void **)&x->people, &x->pcap, x->pub.npeople + 1, sizeof *x->people) ||
              cs_grow((void **)&x->pool, &x->poolcap, x->np + p.name.len + 1, 1)))
    rc = CS_ENOMEM;
  if (rc) {
    x->rc = rc;
    return 1;
  }
  if (p.name.len) memcpy(x->pool + x->np, p.name.p, p.name.len);
  x->pool[x->np + p.name.len] = 0;
  /* An offset until the pool stops moving. */
  x->people[x->pub.npeople++] =
      (cs__owned_person){p.id, {(const char *)(uintptr_t)x->np, p.name.len}, p.name_docid};
  x->np += p.name.len + 1;
  uint8_t pfx[8];
  cs_key_u64(pfx, p.id);
  rc = cs_reader_scan(x->rd, CS_T_PCONV, pfx, 8, conv_each, x);
  if (rc < 0) x->rc = rc;
  return x->rc ? 1 : 0;
}

static int range_cmp(const void *a, const void *b) {
  const cs__crange *x = a, *y = b;
  return x->f < y->f ? -1 : x->f > y->f;
}

static int build(cs_reader *r, int slot, uint64_t employee, cs__snapobj *prev, cs__snapobj **out) {
  (void)prev;
  (void)slot;
  *out = NULL;
  owned *x = calloc(1, sizeof *x);
  if (!x) return CS_ENOMEM;
  x->pub.o.free = owned_free;
  x->rd = r;
  x->employee = employee;
  uint8_t pfx[8];
  cs_key_u64(pfx, employee);
  int rc = cs_reader_scan(r, CS_T_OWNER, pfx, 8, person_each, x);
  if (rc > 0) rc = 0;
  if (!rc) rc = x->rc;
  if (rc) {
    owned_free(&x->pub.o);
    return rc;
  }
  for (size_t i = 0; i < x->pub.npeople; i++)
    x->people[i].name.p = x->pool + (uintptr_t)x->people[i].name.p;
  if (x->pub.nr > 1) qsort(x->r, x->pub.nr, sizeof *x->r, range_cmp);
  x->pub.people = x->people;
  x->pub.r = x->r;
  x->rd = NULL;
  *out = &x->pub.o;
  return 0;
}

/* build, for the cache: marked before the cache shares it. */
static int build_kept(cs_reader *r, int slot, uint64_t employee, cs__snapobj *prev,
                      cs__snapobj **out) {
  (void)prev;
  int rc = build(r, slot, employee, NULL, out);
  if (*out) ((cs__owned *)*out)->cached = 1;
  return rc;
}

int cs__owned_get(cs__snapcache *c, cs_reader *r, uint64_t employee, cs__owned **out) {
  cs__snapobj *o = cs__snapcache_obtain(c, r, CS__SC_OWNED, employee, build_kept);
  if (o) {
    *out = (cs__owned *)o;
    return 0;
  }
  /* Not kept (too soon after the last one made, or no cache): read for
   * this search alone. */
  *out = NULL;
  int rc = build(r, CS__SC_OWNED, employee, NULL, &o);
  if (!rc) *out = (cs__owned *)o;
  return rc;
}

void cs__owned_release(cs__snapcache *c, cs__owned *o) {
  if (!o) return;
  if (o->cached)
    cs__snapobj_release(c, &o->o);
  else
    o->o.free(&o->o);
}
