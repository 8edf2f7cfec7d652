/*
 * UTF-8 hygiene for text that comes from the network, PostgreSQL or disk.
 */
#ifndef CS_UTF8_H
#define CS_UTF8_H

#include <stddef.h>

/* Returns 1 when s[0..len) is valid UTF-8 without NUL bytes, else 0. */
int cs_utf8_valid(const char *s, size_t len);

/* Returns a malloc'd, NUL-terminated copy of s[0..len) in which every
 * invalid sequence (overlong forms, surrogates, truncated sequences, code
 * points above U+10FFFF) is replaced by U+FFFD and NUL bytes are dropped.
 * *out_len receives the copy's length. NULL only when out of memory. */
char *cs_utf8_repair(const char *s, size_t len, size_t *out_len);

/* Length of the well-formed character at s[0..len) (len >= 1): 1 to 4,
 * or 0 when the bytes there are not one (the rules of cs_utf8_valid). */
size_t cs_utf8_char_len(const char *s, size_t len);

/* Length in bytes of the longest prefix of s[0..len) that is at most `max`
 * bytes and does not cut a character in two. s must be valid UTF-8. */
size_t cs_utf8_cut(const char *s, size_t len, size_t max);

/* 1 when offset i (at most len) of valid UTF-8 s[0..len) is between two
 * characters (or at an end), 0 when it would cut one in two or lies past
 * len: how an offset read from disk is checked before a text is cut there. */
int cs_utf8_boundary(const char *s, size_t len, size_t i);

#endif
