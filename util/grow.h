/*
 * Growing an array: the one place that doubles a capacity and checks the
 * multiplication for overflow.
 */
#ifndef CS_GROW_H
#define CS_GROW_H

#include <stddef.h>

/* Grows array *p (of *cap elements of `size` bytes; doubling from `first`,
 * or from 64 when first is 0) so that it holds at least `need` elements.
 * Returns 0, or -1 (CS_ENOMEM) when memory is short or the size would
 * overflow; then *p and *cap are unchanged. */
int cs_grow_from(void **p, size_t *cap, size_t need, size_t size, size_t first);

/* cs_grow_from with the default first capacity (64). */
int cs_grow(void **p, size_t *cap, size_t need, size_t size);

#endif
