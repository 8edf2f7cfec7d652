/*
 * Bad source rows: a row of the stores that cannot be indexed as it is (a
 * value the source view cannot turn into its columns: a duration that
 * overflows, an infinite timestamp, ...) is skipped, or indexed with the
 * value clamped to "unknown" where that is honest, and never stops the
 * stream. Each is logged once and recorded in the index, in META
 * "bad_rows", as JSON
 *   {"count": N, "rows": [{"kind", "id", "error", "at"}, ...]}
 * count: rows noted since the index was made; rows: the most recent
 * CS_BADROWS_KEPT, oldest first, one per (kind, id) (a row noted again
 * with the same error is neither logged nor counted again). The query
 * server shows them in /v1/health ("bad_rows") and /v1/metrics
 * (convsearch_bad_rows_total); `verify` names them.
 */
#ifndef CS_BADROWS_H
#define CS_BADROWS_H

#include "writer.h"

#include <stdint.h>

#define CS_BADROWS_KEPT 100

/* kind: 'c' conversation, 'p' person, 'e' event, 'r' relevant point.
 * what: "skipped" or the clamp made. Inside the writer's open batch.
 * Returns 0 or a CS_E* code. */
int cs_badrows_note(cs_writer *w, char kind, uint64_t id, const char *error, const char *what);

/* Forgets (kind, id) in the kept rows (it was indexed cleanly since). */
int cs_badrows_clear(cs_writer *w, char kind, uint64_t id);

/* The kind's name as the JSON and logs show it ("conversation", ...). */
const char *cs_badrows_kind_name(char kind);

#endif
