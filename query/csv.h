/*
 * CSV rows (RFC 4180) from JSON objects, for GET /v1/export?format=csv.
 *
 * A field is quoted when it holds a comma, a double quote, CR or LF (a
 * quote inside is doubled); rows end with CRLF. JSON strings are written as
 * they are, integers in decimal, true/false as words, null as an empty
 * field.
 */
#ifndef CS_QUERY_CSV_H
#define CS_QUERY_CSV_H

#include "records.h"

#include <jansson.h>

/* Appends the header row: the column names. */
void cs__csv_header(cs_buf *b, const char *const *cols, size_t n);
/* Appends one row: o's members named cols, in that order (a missing member
 * is an empty field). Errors are those of the buffer (b->err). */
void cs__csv_row(cs_buf *b, const json_t *o, const char *const *cols, size_t n);

#endif
