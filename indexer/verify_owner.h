/*
 * `verify`'s check of the per-owner statistics (records.h, "Per-owner
 * statistics") against the postings and documents they count.
 */
#ifndef CS_VERIFY_OWNER_H
#define CS_VERIFY_OWNER_H

#include "reader.h"

/* Reports each difference through report(ctx, message). Returns 0, or a
 * CS_E* code when the index could not be read. */
typedef void (*cs_verify_report_fn)(void *ctx, const char *msg);
int cs_verify_owner_stats(cs_reader *r, cs_verify_report_fn report, void *ctx);

#endif
