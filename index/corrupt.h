/*
 * The one path for damaged stored data. Every place that fails to decode a
 * value read from the index (a record, a postings chunk or its positions, a
 * compressed text) reports it here, naming its table and key, and then
 * either skips it (a search, a listing) or fails the request that asked for
 * that very record (CS_ECORRUPT, HTTP 500 index_corrupt).
 *
 * A report is counted in process-wide atomic counters (per table, plus
 * every encounter) and logged once per record, naming it ("damaged index
 * record: turn 7/3 ..."); past CS_CORRUPT_NAMED distinct records the log
 * says so once and names no more. The query server shows the counts in
 * /v1/health and /v1/metrics; `convsearch-indexer verify` decodes every
 * value of the index with cs_corrupt_probe and names each damaged one.
 */
#ifndef CS_CORRUPT_H
#define CS_CORRUPT_H

#include "records.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define CS_CORRUPT_NAMED 4096

/* Reports the value of table t under key as damaged. Returns CS_ECORRUPT. */
int cs_corrupt(cs_table t, cs_slice key);
/* rc, after reporting (t, key) when rc is CS_ECORRUPT: wraps a decode. */
int cs_corrupt_rc(int rc, cs_table t, cs_slice key);

/* Distinct damaged records reported since the process started (or the last
 * cs_corrupt_reset), in all tables or in table t. */
uint64_t cs_corrupt_records(void);
uint64_t cs_corrupt_records_in(cs_table t);
/* Every report, repeats included (a damaged record met by each search). */
uint64_t cs_corrupt_reads(void);
/* Forgets every report (the files they were in are no longer served). */
void cs_corrupt_reset(void);

/* A readable name of the record under key: "conversation 7", "turn 7/3",
 * "postings of 'casa' from docid 12" ... Returns out. */
char *cs_corrupt_name(cs_table t, cs_slice key, char *out, size_t cap);
/* The kind of record table t holds ("conversation", "turn", ...), as the
 * health and metrics label it. */
const char *cs_corrupt_kind(cs_table t);

/* Whether the value of table t under key decodes completely (records,
 * compressed texts, postings chunks with every position): 0 or
 * CS_ECORRUPT, without reporting. scratch holds decompressed text. */
int cs_corrupt_probe(cs_table t, cs_slice key, cs_slice val, cs_buf *scratch);

#endif
