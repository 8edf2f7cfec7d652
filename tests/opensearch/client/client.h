/*
 * Test-side helpers shared by os-story and the C tests: starting and
 * stopping fake-opensearch, and one HTTP request over a real socket
 * (libcurl). Not part of the server.
 */
#ifndef FOS_CLIENT_H
#define FOS_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* Starts `exe --listen 127.0.0.1:0 --port-file ...` with its stderr going to
 * log_path (NULL: inherited) plus any extra arguments (NULL-terminated,
 * may be NULL), waits until it listens, and writes "http://127.0.0.1:PORT"
 * to url. Returns the pid, or -1. */
pid_t fos_fake_start(const char *exe, const char *log_path, const char *const *extra, char *url,
                     size_t cap);
/* SIGTERM, then waits (SIGKILL after 5 s). Returns the exit status or -1. */
int fos_fake_stop(pid_t pid);

/* An HTTP answer. body is NUL-terminated and owned (free with fos_http_free). */
typedef struct fos_http_resp {
  long status;   /* 0 when no answer came (connection refused, closed, ...) */
  int curl_code; /* CURLcode */
  char *body;
  size_t len;
  char content_type[128];
  char content_encoding[64]; /* as sent on the wire, before libcurl decoded it */
  double seconds;
} fos_http_resp;

typedef struct fos_http_opts {
  const char *content_type;     /* default application/json when there is a body */
  const char *content_encoding; /* sent as is; the body must already be encoded */
  int accept_gzip;              /* ask for (and decode) gzip answers */
  int no_content_type;          /* send a body without Content-Type */
  long timeout_ms;              /* default 30000 */
} fos_http_opts;

/* Sends method url (body may be NULL). Returns 0 when an answer came. */
int fos_http(const char *method, const char *url, const void *body, size_t len,
             const fos_http_opts *opts, fos_http_resp *out);
void fos_http_free(fos_http_resp *r);

/* Convenience: JSON in (may be NULL), JSON out (NULL when the body is not
 * JSON). Returns the status (0: no answer). */
long fos_http_json(const char *method, const char *base, const char *path, json_t *body,
                   json_t **out);

/* Gzips data into a malloc'd buffer. Returns 0 on success. */
int fos_gzip(const void *in, size_t len, void **out, size_t *outlen);

#endif
