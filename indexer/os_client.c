/*
 * OpenSearch HTTP client (see os_client.h).
 */
#include "os_client.h"

#include "errors.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define RESP_MAX ((size_t)64 << 20)

struct cs_os {
  CURL *curl;
  char base[512];
  char err[CURL_ERROR_SIZE];
  cs_buf gz;
  const atomic_int *cancel; /* cs_os_cancel_on */
};

int cs_os_open(const char *base_url, cs_os **out) {
  *out = NULL;
  static int global_done;
  if (!global_done) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    global_done = 1;
  }
  cs_os *c = calloc(1, sizeof *c);
  if (!c) return CS_ENOMEM;
  size_t n = strlen(base_url);
  while (n && base_url[n - 1] == '/')
    n--;
  if (n == 0 || n >= sizeof c->base) {
    free(c);
    return CS_EINVAL;
  }
  memcpy(c->base, base_url, n);
  c->curl = curl_easy_init();
  if (!c->curl) {
    free(c);
    return CS_ENOMEM;
  }
  cs_buf_init(&c->gz);
  *out = c;
  return 0;
}

void cs_os_close(cs_os *c) {
  if (!c) return;
  curl_easy_cleanup(c->curl);
  cs_buf_free(&c->gz);
  free(c);
}

void cs_os_cancel_on(cs_os *c, const atomic_int *flag) {
  c->cancel = flag;
}

/* libcurl calls it while a transfer waits or moves (at least about once a
 * second): non-zero aborts it. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  return atomic_load((const atomic_int *)arg) != 0;
}

const char *cs_os_error(const cs_os *c) {
  return c->err[0] ? c->err : "no response";
}

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
  cs_buf *b = arg;
  size_t len = size * n;
  if (b->len + len > RESP_MAX) return 0; /* aborts the transfer */
  cs_buf_bytes(b, p, len);
  return b->err ? 0 : len;
}

static int gzip_body(cs_buf *out, const void *body, size_t len) {
  cs_buf_reset(out);
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return CS_ENOMEM;
  size_t cap = deflateBound(&z, (uLong)len) + 32;
  if (out->cap < cap) {
    uint8_t *p = realloc(out->p, cap);
    if (!p) {
      deflateEnd(&z);
      return CS_ENOMEM;
    }
    out->p = p;
    out->cap = cap;
  }
  z.next_in = (Bytef *)body;
  z.avail_in = (uInt)len;
  z.next_out = out->p;
  z.avail_out = (uInt)cap;
  int zr = deflate(&z, Z_FINISH);
  out->len = cap - z.avail_out;
  deflateEnd(&z);
  return zr == Z_STREAM_END ? 0 : CS_EIO;
}

int cs_os_request(cs_os *c, const char *method, const char *path, const char *content_type,
                  const void *body, size_t len, int gzip, long *status, cs_buf *resp) {
  *status = 0;
  c->err[0] = 0;
  cs_buf_reset(resp);
  if (c->cancel && atomic_load(c->cancel)) {
    snprintf(c->err, sizeof c->err, "stopping");
    return CS_EIO;
  }
  char url[2048];
  if (snprintf(url, sizeof url, "%s%s", c->base, path) >= (int)sizeof url) return CS_EINVAL;
  if (body && gzip) {
    int rc = gzip_body(&c->gz, body, len);
    if (rc) return rc;
    body = c->gz.p;
    len = c->gz.len;
  }
  CURL *h = c->curl;
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->err);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip responses welcome */
  if (c->cancel) {
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->cancel);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  }
  if (!strcmp(method, "HEAD")) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  struct curl_slist *hdr = NULL;
  char ct[128];
  snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/json");
  hdr = curl_slist_append(hdr, ct);
  if (body && gzip) hdr = curl_slist_append(hdr, "Content-Encoding: gzip");
  hdr = curl_slist_append(hdr, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  CURLcode cr = curl_easy_perform(h);
  curl_slist_free_all(hdr);
  cs_buf_u8(resp, 0);
  if (!resp->err) resp->len--;
  if (cr != CURLE_OK) {
    if (cr == CURLE_ABORTED_BY_CALLBACK)
      snprintf(c->err, sizeof c->err, "stopping");
    else if (!c->err[0])
      snprintf(c->err, sizeof c->err, "%s", curl_easy_strerror(cr));
    return CS_EIO;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  return resp->err ? resp->err : 0;
}
