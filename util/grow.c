/*
 * Growing an array (see grow.h).
 */
#include "grow.h"

#include <stdint.h>
#include <stdlib.h>

int cs_grow_from(void **p, size_t *cap, size_t need, size_t size, size_t first) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : first ? first : 64;
  while (c < need) {
    if (c > SIZE_MAX / 2) return -1;
    c *= 2;
  }
  if (size && c > SIZE_MAX / size) return -1;
  void *n = realloc(*p, c * size);
  if (!n) return -1;
  *p = n;
  *cap = c;
  return 0;
}

int cs_grow(void **p, size_t *cap, size_t need, size_t size) {
  return cs_grow_from(p, cap, need, size, 64);
}
