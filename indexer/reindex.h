#ifndef CS_REINDEX_H
#define CS_REINDEX_H

#include <stddef.h>
/* Rebuilds the index into a new generation from one consistent snapshot of
 * the stores while the current one keeps serving, then swaps it in (and the
 * OpenSearch alias, with a mirror URL). Returns a process exit code.
 *
 * The bulk load into OpenSearch survives backpressure: items answered 429
 * or 5xx and failed requests are sent again with the mirror's backoff
 * (bulk.h); when a batch of documents is still not accepted bulk_retry_s
 * seconds after its first failure, the reindex fails (exit 1), drops the
 * half-loaded index and leaves the old generation and alias serving.
 *
 * With in_map the new generation is written in its map (CS_STORE_BULK),
 * and built again keeping page copies where the map cannot grow. */
#define CS_REINDEX_BULK_RETRY_S 300
int cs_reindex(const char *conninfo, const char *index_dir, const char *opensearch,
               int bulk_retry_s, int in_map);
#endif
