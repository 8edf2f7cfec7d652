/*
 * Compact JSON text of a jansson tree, byte for byte what
 * json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(p)) writes (members in
 * their insertion order, strings escaped the same way, reals "%.*g" with
 * ".0" added to whole numbers and exponents without '+' or leading zeros),
 * at a fraction of its cost: one growing buffer, strings copied in runs,
 * no callback per piece (util/jtext.c writes the pieces). Search answers
 * are written as text by the engine itself (cs_engine_search_text).
 */
#ifndef CS_JSON_WRITE_H
#define CS_JSON_WRITE_H

#include <jansson.h>
#include <stddef.h>

/* The text (malloc'd, NUL-terminated) and its length, or NULL when out of
 * memory or when a string is not valid UTF-8 (as json_dumps). precision:
 * significant digits of reals, 1..30, or 0 for jansson's default (17). */
char *cs_json_write(const json_t *j, int precision, size_t *len);

#endif
