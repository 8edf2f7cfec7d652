/*
 * The v1 routes of the HTTP API: matching a path to a route, the role each
 * route admits, validation of every parameter, and the calls into the query
 * engine. Nothing here knows about sockets or libmicrohttpd: the server
 * (server.c) hands over a decoded cs_request and sends back the cs_reply, so
 * the whole request policy can be tested without a network.
 *
 * Order of checks, so that the answer never depends on data the caller may
 * not see: malformed URL (400) -> route (404) -> method (405) -> token
 * (401) -> role (403) -> parameters (400) -> engine (its own 4xx/5xx).
 */
#ifndef CS_ROUTES_H
#define CS_ROUTES_H

#include "auth.h"
#include "engine.h"
#include "jobs.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum cs_route_id {
  CS_R_HEALTH = 0,
  CS_R_METRICS,
  CS_R_SEARCH,
  CS_R_SUGGEST,
  CS_R_PATIENTS,
  CS_R_CONVERSATION,
  CS_R_CHECKLIST,
  CS_R_QA,
  CS_R_ANALYTICS,
  CS_R_EXPORT,
  CS_R_ADMIN_REINDEX,
  CS_R_ADMIN_JOB,
  CS_R_ADMIN_SYNONYMS,
  CS_R_CONSOLE, /* /console/: the analyst console's static files (console.h) */
  CS_R_NONE,    /* no such route */
  CS_R__COUNT
} cs_route_id;

/* Metric and log label of each route ("/v1/conversations/{id}" ...). */
extern const char *const cs_route_labels[CS_R__COUNT];

/* 1 for a route whose answer walks all its caller may see (analytics, an
 * export): a heavy job for the request workers (pool.h). */
int cs_route_heavy(cs_route_id r);

/* Bounds of the HTTP layer (besides CS_QUERY_MAX_BYTES & co. in engine.h). */
#define CS_BODY_MAX (64u << 10)      /* request body */
#define CS_ARGS_MAX 64               /* query parameters in one request */
#define CS_SPEAKER_MAX 256           /* speaker filter, bytes */
#define CS_SEARCH_BUDGET_MS 2000     /* work budget handed to the engine */
#define CS_ANALYTICS_BUDGET_MS 10000 /* analytics count every match: more time */
#define CS_EXPORTS_MAX 8             /* export streams at once (503 busy beyond) */
#define CS_EXPORTS_PER_CALLER 2      /* of those, for one caller (429 beyond) */

/* What the server learned while decoding the URL (set by cs_unescape). */
enum {
  CS_URL_BAD_ESCAPE = 1 << 0, /* '%' not followed by two hex digits */
  CS_URL_NUL = 1 << 1,        /* %00 */
};

/* Strict percent-decoding in place (after '+' became ' '). Returns the new
 * length; sets CS_URL_* bits in *flags for malformed input, which is then
 * left as it was. */
size_t cs_unescape(char *s, unsigned *flags);

typedef struct cs_arg {
  const char *key, *val; /* NUL-terminated; val "" when the URL had no '=' */
  size_t klen, vlen;
} cs_arg;

enum { CS_M_GET = 1, CS_M_HEAD, CS_M_POST, CS_M_PUT, CS_M_OTHER };

typedef struct cs_request {
  int method; /* CS_M_* */
  const char *path;
  unsigned url_flags; /* CS_URL_* */
  const cs_arg *args;
  int nargs;                 /* -1: more than CS_ARGS_MAX */
  const char *authorization; /* NULL when absent */
  const char *content_type;  /* NULL when absent */
  const char *accept;        /* NULL when absent */
  const char *body;
  size_t body_len;
} cs_request;

/* A body produced while it is sent (GET /v1/export): the server pulls it
 * with cs_stream_read and closes it when the response is done. */
typedef struct cs_stream cs_stream;

typedef struct cs_reply {
  int status;
  char *body; /* malloc'd, owned by the reply */
  size_t len;
  cs_stream *stream; /* instead of body: owned by the reply until taken */
  char location[64]; /* Location header ("" none) */
  const char *content_type;
  const char *csp;      /* Content-Security-Policy (console pages), or NULL */
  const char *allow;    /* Allow header for 405 */
  int www_authenticate; /* 1: challenge; 2: challenge with error="invalid_token" */
  char code[32];        /* error code, for the log ("" on success) */
  int authenticated;
  cs_caller caller; /* when authenticated */
} cs_reply;

typedef struct cs_api {
  cs_engine *engine;
  const cs_auth *auth;
  cs_jobs *jobs;           /* NULL: reindex jobs are not configured (503) */
  double started;          /* monotonic seconds */
  const char *console_dir; /* the console's files, or NULL: no console */
  /* Export streams open, each with its caller (role and employee: every
   * token of a role, or of an employee, is one caller); guarded by a lock
   * of routes.c. */
  struct {
    int used;
    cs_caller caller;
  } exports[CS_EXPORTS_MAX];
} cs_api;

/* Finds the route of a decoded path; *id gets the {id} of the path (0 when
 * the route has none, or when it is not a valid id: the handler says so). */
cs_route_id cs_route_find(const char *path, uint64_t *id, int *id_ok);

/* Answers one request. rp is zeroed by the caller; free with
 * cs_reply_free. */
void cs_api_handle(cs_api *api, const cs_request *rq, cs_reply *rp);
/* Fills an error reply {"error": {"code", "message"}}. */
void cs_reply_error(cs_reply *rp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cs_reply_free(cs_reply *rp);

/* Next bytes of a streamed body into buf[0..cap): a count > 0, 0 at the
 * end, -1 when the stream broke (the connection must then be cut so that
 * the client sees an incomplete body, not a short one). */
ssize_t cs_stream_read(cs_stream *s, char *buf, size_t cap);
/* Ends the stream (at the end, or when the client went away). */
void cs_stream_close(cs_stream *s);

/* Monotonic seconds, for uptime and latency. */
double cs_mono_seconds(void);

#endif
