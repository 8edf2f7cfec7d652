/*
 * A small OpenSearch HTTP client over libcurl: one keep-alive connection per
 * client, optional gzip request bodies, bounded response size. Used by the
 * mirror, reindex and verify. Not thread-safe: one client per thread.
 */
#ifndef CS_OS_CLIENT_H
#define CS_OS_CLIENT_H

#include "records.h"

#include <stdatomic.h>
#include <stddef.h>

typedef struct cs_os cs_os;

/* base_url like "http://127.0.0.1:9200" (no trailing slash needed). */
int cs_os_open(const char *base_url, cs_os **out);
void cs_os_close(cs_os *c);

/* Sends method path (path starts with '/'), with body (may be NULL) sent
 * gzip-compressed when gzip is set. *status gets the HTTP status, 0 when the
 * request did not complete (connection refused, dropped, timed out). The
 * response body is in resp (NUL-terminated), capped at 64 MiB. Returns 0 or
 * a CS_E* code (CS_EIO: transport failure, logged by the caller). */
int cs_os_request(cs_os *c, const char *method, const char *path, const char *content_type,
                  const void *body, size_t len, int gzip, long *status, cs_buf *resp);
/* Requests give up as soon as *flag is set (NULL: never): one not sent
 * yet fails at once, one under way is aborted (CS_EIO, "stopping"). For a
 * thread that must stop promptly whatever the server does (the mirror:
 * what it had not acknowledged stays queued in the index). */
void cs_os_cancel_on(cs_os *c, const atomic_int *flag);
/* Human-readable reason of the last transport failure. */
const char *cs_os_error(const cs_os *c);

#endif
