/*
 * Digits in text: hexadecimal digits (URL escapes, token hashes) and the
 * positive decimal ids of URLs, parameters and token files.
 */
#ifndef CS_DIGITS_H
#define CS_DIGITS_H

#include <stddef.h>
#include <stdint.h>

/* The value of hexadecimal digit c (either case), or -1. */
int cs_hex_digit(int c);

/* Parses a positive decimal integer below 2^63 spanning all of s[0..n):
 * digits only (no sign, no space), 1 to 19 of them, not 0. Returns 0 and
 * sets *out, or -1. */
int cs_parse_id(const char *s, size_t n, uint64_t *out);

#endif
