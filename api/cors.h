/*
 * Cross-origin calls from the portal's browser pages (CORS), enabled per
 * origin with convsearch-server --cors-origin ORIGIN (repeatable).
 *
 * A request whose Origin header is one of the configured origins gets
 * Access-Control-Allow-Origin: <that origin> and Vary: Origin on its answer,
 * errors included; a preflight (OPTIONS with Access-Control-Request-Method
 * on a known route) from it is answered 204 with the methods, headers and
 * max-age below. Any other origin gets no Access-Control-* header, and
 * without --cors-origin nothing changes at all. No credentials mode: the
 * pages send their token in the Authorization header, not as a cookie.
 */
#ifndef CS_CORS_H
#define CS_CORS_H

#include <stddef.h>

#define CS_CORS_ORIGINS_MAX 32
#define CS_CORS_METHODS "GET, HEAD, POST"
#define CS_CORS_HEADERS "Authorization, Content-Type"
#define CS_CORS_MAX_AGE "600"

typedef struct cs_cors {
  char origin[CS_CORS_ORIGINS_MAX][256]; /* as browsers send them: lower case */
  int n;
} cs_cors;

/* Adds an origin "scheme://host[:port]" (http or https, no path, query,
 * user or trailing slash). On a malformed one returns -1 with one sentence
 * in err. */
int cs_cors_add(cs_cors *c, const char *origin, char *err, size_t cap);

/* The configured origin equal to `origin` (an Origin request header), or
 * NULL when c is NULL, origin is NULL or not configured. */
const char *cs_cors_match(const cs_cors *c, const char *origin);

#endif
