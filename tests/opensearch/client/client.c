/*
 * Test-side helpers (see client.h): process control for fake-opensearch and
 * a small libcurl wrapper.
 */
#include "client.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define RESP_MAX ((size_t)128 << 20)

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

pid_t fos_fake_start(const char *exe, const char *log_path, const char *const *extra, char *url,
                     size_t cap) {
  char dir[] = "/tmp/fos-XXXXXX";
  if (!mkdtemp(dir)) return -1;
  char port_file[64];
  snprintf(port_file, sizeof port_file, "%s/port", dir);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (log_path) {
      int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) dup2(fd, 2);
    }
    const char *argv[32] = {exe, "--listen", "127.0.0.1:0", "--port-file", port_file};
    int n = 5;
    for (int i = 0; extra && extra[i] && n < 31; i++)
      argv[n++] = extra[i];
    argv[n] = NULL;
    execv(exe, (char *const *)argv);
    _exit(127);
  }
  for (int i = 0; i < 1000; i++) {
    FILE *f = fopen(port_file, "r");
    int port = 0;
    if (f) {
      if (fscanf(f, "%d", &port) != 1) port = 0;
      fclose(f);
    }
    if (port > 0) {
      snprintf(url, cap, "http://127.0.0.1:%d", port);
      unlink(port_file);
      rmdir(dir);
      return pid;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) break; /* it died */
    sleep_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  unlink(port_file);
  rmdir(dir);
  return -1;
}

int fos_fake_stop(pid_t pid) {
  if (pid <= 0) return -1;
  kill(pid, SIGTERM);
  for (int i = 0; i < 500; i++) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    sleep_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

typedef struct sink {
  char *p;
  size_t len, cap;
  int over;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
  sink *s = arg;
  size_t len = size * n;
  if (s->len + len + 1 > RESP_MAX) {
    s->over = 1;
    return 0;
  }
  if (s->len + len + 1 > s->cap) {
    size_t cap = (s->len + len + 1) * 2;
    char *q = realloc(s->p, cap);
    if (!q) return 0;
    s->p = q;
    s->cap = cap;
  }
  memcpy(s->p + s->len, p, len);
  s->len += len;
  return len;
}

typedef struct headers {
  char content_type[128];
  char content_encoding[64];
} headers;

static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  headers *h = arg;
  size_t len = size * n;
  const char *names[2] = {"content-type:", "content-encoding:"};
  char *dst[2] = {h->content_type, h->content_encoding};
  size_t caps[2] = {sizeof h->content_type, sizeof h->content_encoding};
  for (int i = 0; i < 2; i++) {
    size_t nl = strlen(names[i]);
    if (len > nl && !strncasecmp(p, names[i], nl)) {
      const char *v = p + nl;
      size_t vl = len - nl;
      while (vl && (*v == ' ')) {
        v++;
        vl--;
      }
      while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
      snprintf(dst[i], caps[i], "%.*s", (int)vl, v);
    }
  }
  return len;
}

int fos_http(const char *method, const char *url, const void *body, size_t len,
             const fos_http_opts *opts, fos_http_resp *out) {
  static int inited;
  if (!inited) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    inited = 1;
  }
  fos_http_opts none = {0};
  if (!opts) opts = &none;
  memset(out, 0, sizeof *out);
  CURL *h = curl_easy_init();
  if (!h) return -1;
  sink s = {0};
  headers hd = {{0}, {0}};
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, opts->timeout_ms ? opts->timeout_ms : 30000L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
  if (opts->accept_gzip) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
  if (!strcmp(method, "HEAD")) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  struct curl_slist *hdr = NULL;
  char line[256];
  if (body && !opts->no_content_type) {
    snprintf(line, sizeof line, "Content-Type: %s",
             opts->content_type ? opts->content_type : "application/json");
    hdr = curl_slist_append(hdr, line);
  }
  if (opts->no_content_type) hdr = curl_slist_append(hdr, "Content-Type:");
  if (opts->content_encoding) {
    snprintf(line, sizeof line, "Content-Encoding: %s", opts->content_encoding);
    hdr = curl_slist_append(hdr, line);
  }
  hdr = curl_slist_append(hdr, "Expect:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CURLcode rc = curl_easy_perform(h);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  out->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  out->curl_code = (int)rc;
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  if (!s.p)
    s.p = calloc(1, 1);
  else
    s.p[s.len] = 0;
  out->body = s.p;
  out->len = s.len;
  snprintf(out->content_type, sizeof out->content_type, "%s", hd.content_type);
  snprintf(out->content_encoding, sizeof out->content_encoding, "%s", hd.content_encoding);
  return rc == CURLE_OK ? 0 : -1;
}

void fos_http_free(fos_http_resp *r) {
  free(r->body);
  r->body = NULL;
}

long fos_http_json(const char *method, const char *base, const char *path, json_t *body,
                   json_t **out) {
  char url[2048];
  snprintf(url, sizeof url, "%s%s", base, path);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  fos_http_resp r;
  fos_http(method, url, text, text ? strlen(text) : 0, NULL, &r);
  free(text);
  if (out) *out = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
  fos_http_free(&r);
  return r.status;
}

int fos_gzip(const void *in, size_t len, void **out, size_t *outlen) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
  size_t cap = deflateBound(&z, (uLong)len) + 64;
  unsigned char *buf = malloc(cap);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = buf;
  z.avail_out = (uInt)cap;
  int zr = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (zr != Z_STREAM_END) {
    free(buf);
    return -1;
  }
  *out = buf;
  *outlen = cap - z.avail_out;
  return 0;
}
