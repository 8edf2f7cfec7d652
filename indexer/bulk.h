/*
 * Delivering documents through OpenSearch's _bulk, as the mirror's sender
 * and the reindex bulk load both do: one request, its per-item answers, the
 * rule for which answers are worth retrying, and the waits between retries
 * (exponential backoff with jitter, CS_BACKOFF_MIN_MS doubling up to
 * CS_BACKOFF_MAX_MS while failures last, each wait drawn in [w/2, w]).
 */
#ifndef CS_BULK_H
#define CS_BULK_H

#include "os_client.h"

#include <jansson.h>

#define CS_BACKOFF_MIN_MS 100
#define CS_BACKOFF_MAX_MS 30000

typedef enum cs_bulk_outcome {
  CS_BULK_DONE,    /* 2xx; 409 (a newer or equal version is there); 404 (deleted already) */
  CS_BULK_RETRY,   /* 429 (backpressure), 5xx, or no status: send it again later */
  CS_BULK_REFUSED, /* any other 4xx: refused for good */
} cs_bulk_outcome;

cs_bulk_outcome cs_bulk_classify(long item_status);

/* POSTs body (n actions, NDJSON) to path (/_bulk with its parameters), gzip'd. When the answer
 * carries n items, fills status[0..n) with each item's HTTP status and returns the parsed answer
 * (json_decref it; its "items" hold the per-item errors). Otherwise (transport failure, an HTTP
 * error for the whole request, a body that is not a bulk answer) returns NULL with one phrase in
 * why: nothing is known about the items, and the whole request is to be retried. */
json_t *cs_bulk_send(cs_os *c, const char *path, const void *body, size_t len, int n, long *status,
                     char *why, size_t cap);

typedef struct cs_backoff {
  long ms; /* the current ceiling; 0 after success */
  unsigned seed;
} cs_backoff;

/* The wait in milliseconds before the next attempt after a failure. */
long cs_backoff_next(cs_backoff *b);
/* After a success: the next failure waits CS_BACKOFF_MIN_MS again. */
void cs_backoff_reset(cs_backoff *b);

#endif
