/*
 * End-to-end tests of convsearch-server: starts the real server on
 * 127.0.0.1 (a free port) over an index built by the real indexer from
 * tests/http/fixture.sql (see tests/http/run.sh), talks to it with a plain
 * HTTP/1.1 client on real sockets, and checks
 *   - every data-driven case in tests/http/ *.case (format below);
 *   - every answer against api/openapi.yaml: the route, method and status
 *     are documented and the body carries the documented required fields
 *     with the documented types, and every query parameter used is
 *     documented; the document lists every route of the API, resolves
 *     every $ref and declares the bearer scheme;
 *   - scripted checks that do not fit a case: startup refusals (tokens or
 *     secret file readable by others or a FIFO, malformed lines, bad
 *     arguments, --token-max-ttl), request framing (duplicate
 *     Content-Length, Content-Length with Transfer-Encoding: 400 and the
 *     connection closed), the case runner itself (no expect: line dropped),
 *     a server with --token-max-ttl 60, a server without its thesaurus,
 *     isolation of two employees, abuse (huge URLs, bodies, a slow client
 *     sending a byte a second, 1,000 idle connections), metrics, reindex
 *     jobs (a real reindex run to "succeeded" when --reindex-pg is given;
 *     one at a time, progress, failures and the child stopped with the
 *     server, with stand-in indexer scripts), and a clean exit 0 on SIGTERM.
 *
 *   test_http --server BIN --index DIR --cases DIR --openapi FILE [--work DIR]
 *             [--skip NEED,...] [--only SUBSTRING] [--reindex-pg CONNINFO]
 *             [--exchanges FILE]
 *
 * --exchanges FILE: every answer received through request() is appended to
 * FILE as one JSON line {label, method, path, status, content_type, headers,
 * body, complete} (label: the case file or the scripted check; path with bytes
 * outside printable ASCII %-encoded; body null when it is not UTF-8), for
 * tests/contract/validate.mjs to check against api/openapi.yaml.
 *   test_http --dump-openapi FILE     print the parsed document as JSON
 *
 * The main server runs without --reindex-pg (the cases see 503
 * reindex_unavailable); the reindex checks start servers of their own on
 * the same index.
 *
 * Case files (tests/http/NNN-name.case), one directive per line, '#' starts
 * a comment line:
 *   request: METHOD PATH           sent as is (\xHH is a raw byte)
 *   token: NAME                    Authorization: Bearer <token NAME>; names:
 *                                  admin analyst portal1 portal2 portal0
 *                                  (portal token without employee) jwt1 jwt2
 *                                  jwt3 (minted per-employee tokens) expired
 *                                  forged jwt_admin (well signed, role admin)
 *                                  jwt_long (exp 400 days ahead, past the
 *                                  server's one-day lifetime cap)
 *                                  jwt_forever (exp 2^63-1) garbage
 *   header: Name: value            an extra request header
 *   body: TEXT                     request body (\xHH is a raw byte); sent
 *                                  with Content-Type: application/json
 *                                  unless a header: gives one
 *   needs: FEATURE                 search | conversation: skipped with
 *                                  --skip FEATURE (engine parts that other
 *                                  modules provide)
 *   status: N                      expected HTTP status
 *   server: OPTIONS...             send to a server started with these extra
 *                                  options (space-separated; one server per
 *                                  distinct line, started on first use), not
 *                                  the main one (which has no optional
 *                                  features: no CORS, no reindex jobs)
 *   header-has: Name: TEXT         a response header containing TEXT
 *   header-absent: PREFIX          no response header whose name starts with
 *                                  PREFIX (case-insensitive)
 *   expect: PATH OP [JSON]         on the JSON body; PATH is . | .key |
 *                                  [n] | [*] (every element) chained, or
 *                                  len(PATH); OP is == != < <= > >= contains
 *                                  !contains exists absent. An NDJSON body
 *                                  (application/x-ndjson) is checked as the
 *                                  array of its lines (a line that is not
 *                                  JSON fails every expect:), a CSV body
 *                                  (text/csv) as the array of its rows,
 *                                  each an array of strings (malformed
 *                                  CSV fails every expect:)
 *   absent-words: W1 W2 ...        none of the words occurs anywhere in the
 *                                  body (raw and JSON-decoded), ignoring
 *                                  case and accents (a real name an analyst
 *                                  must never see)
 * A case may hold up to 256 expect: and 16 header-has: lines; one with
 * more fails (none is ever dropped).
 * Exit status 1 when anything failed; the last line reads
 * "test_http: N passed, M failed".
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int passed, failed, skipped;
static int quiet; /* failures counted but not printed (checks of the runner itself) */
static const char *server_bin, *index_dir, *cases_dir, *openapi_path, *skip_list, *only;
static const char *reindex_pg, *exchanges_path;
static char work[512];
static FILE *exchanges;
static const char *label = "scripted"; /* what the exchanges belong to */
static int port;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  if (quiet) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}
static pid_t server_pid;
static char server_log[600];
static json_t *openapi;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  for (;;) {
    if (n + 4096 > cap) b = realloc(b, cap *= 2);
    size_t r = fread(b + n, 1, cap - n - 1, f);
    if (r == 0) break;
    n += r;
  }
  fclose(f);
  b[n] = 0;
  if (len) *len = n;
  return b;
}

static void write_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(2);
  }
  fputs(text, f);
  fclose(f);
  chmod(path, mode);
}

/* ---------------------------------------------------------------- tokens */

static const char secret[] = "http-test-secret-0123456789abcdef";

typedef struct token {
  const char *name;
  char value[512];
} token;

static token tokens[] = {
    {"admin", "admin-token-for-tests"},
    {"analyst", "analyst-token-for-tests"},
    {"portal1", "portal-employee-1-token"},
    {"portal2", "portal-employee-2-token"},
    {"portal0", "portal-nobody-token"},
    {"jwt1", ""},
    {"jwt2", ""},
    {"jwt3", ""},
    {"expired", ""},
    {"forged", ""},
    {"jwt_admin", ""},
    {"jwt_long", ""},
    {"jwt_forever", ""},
    {"garbage", "not a token at all"},
};

static const char *token_value(const char *name) {
  for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
    if (!strcmp(tokens[i].name, name)) return tokens[i].value;
  }
  return NULL;
}

static void b64url(const void *in, size_t n, char *out) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const unsigned char *p = in;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                 (i + 2 < n ? p[i + 2] : 0);
    out[o++] = a[v >> 18 & 63];
    out[o++] = a[v >> 12 & 63];
    if (i + 1 < n) out[o++] = a[v >> 6 & 63];
    if (i + 2 < n) out[o++] = a[v & 63];
  }
  out[o] = 0;
}

/* A per-employee token as the portal mints it (independent of the server's
 * code on purpose). */
static void mint(const char *payload, const char *key, char *out) {
  char p64[400];
  b64url(payload, strlen(payload), p64);
  snprintf(out, 512, "v1.%s", p64);
  unsigned char mac[32];
  unsigned int ml = 0;
  HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)out, strlen(out), mac, &ml);
  char s64[64];
  b64url(mac, 32, s64);
  size_t l = strlen(out);
  snprintf(out + l, 512 - l, ".%s", s64);
}

static void sha256_hex(const char *s, char out[65]) {
  unsigned char h[32];
  unsigned int n = 0;
  EVP_Digest(s, strlen(s), h, &n, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++)
    sprintf(out + 2 * i, "%02x", h[i]);
}

static char tokens_path[600], secret_path[600], pseudo_path[600];
/* The pseudonym secret every test server is given (the cases' expected
 * pseudonyms depend on it); NULL: the server's default file. */
static const char *pseudo_arg = pseudo_path;

static void setup_tokens(void) {
  long long exp = (long long)time(NULL) + 3600, past = (long long)time(NULL) - 60;
  char p[256];
  for (int e = 1; e <= 3; e++) {
    snprintf(p, sizeof p, "{\"sub\":%d,\"role\":\"portal\",\"exp\":%lld}", e, exp);
    char name[8];
    snprintf(name, sizeof name, "jwt%d", e);
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
      if (!strcmp(tokens[i].name, name)) mint(p, secret, tokens[i].value);
  }
  snprintf(p, sizeof p, "{\"sub\":1,\"role\":\"portal\",\"exp\":%lld}", past);
  mint(p, secret, (char *)token_value("expired"));
  snprintf(p, sizeof p, "{\"sub\":2,\"role\":\"portal\",\"exp\":%lld}", exp);
  mint(p, "not the server's secret, 32 bytes", (char *)token_value("forged"));
  snprintf(p, sizeof p, "{\"sub\":1,\"role\":\"admin\",\"exp\":%lld}", exp);
  mint(p, secret, (char *)token_value("jwt_admin"));
  snprintf(p, sizeof p, "{\"sub\":1,\"role\":\"portal\",\"exp\":%lld}",
           (long long)time(NULL) + 400 * 86400);
  mint(p, secret, (char *)token_value("jwt_long"));
  snprintf(p, sizeof p, "{\"sub\":1,\"role\":\"portal\",\"exp\":9223372036854775807}");
  mint(p, secret, (char *)token_value("jwt_forever"));

  char text[2048], h[65];
  text[0] = 0;
  static const char *const lines[][2] = {{"admin", "admin"},
                                         {"analyst", "analyst"},
                                         {"portal1", "portal employee=1"},
                                         {"portal2", "portal employee=2"},
                                         {"portal0", "portal"}};
  strcat(text, "# tokens of the HTTP tests\n\n");
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    sha256_hex(token_value(lines[i][0]), h);
    size_t l = strlen(text);
    snprintf(text + l, sizeof text - l, "sha256:%s %s\n", h, lines[i][1]);
  }
  snprintf(tokens_path, sizeof tokens_path, "%s/tokens", work);
  snprintf(secret_path, sizeof secret_path, "%s/secret", work);
  write_file(tokens_path, text, 0600);
  char s[128];
  snprintf(s, sizeof s, "%s\n", secret);
  write_file(secret_path, s, 0600);
  snprintf(pseudo_path, sizeof pseudo_path, "%s/pseudonym-secret", work);
  write_file(pseudo_path, "the HTTP tests' pseudonym secret\n", 0600);
}

/* ---------------------------------------------------------------- processes */

/* When set, the next servers run with this many descriptors at most. */
static rlim_t spawn_nofile;

/* Runs the server with args (NULL-terminated), stderr and stdout to files;
 * returns the pid. */
static pid_t spawn(const char *const *args, const char *err_path, const char *out_path) {
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(2);
  }
  if (pid == 0) {
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int o = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (e >= 0) dup2(e, 2);
    if (o >= 0) dup2(o, 1);
    if (spawn_nofile) {
      struct rlimit rl = {spawn_nofile, spawn_nofile};
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    execv(server_bin, (char *const *)args);
    _exit(127);
  }
  return pid;
}

/* Waits for pid up to timeout; returns its exit status, or -1 (killed). */
static int wait_exit(pid_t pid, double timeout) {
  double end = now_s() + timeout;
  int st;
  while (now_s() < end) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    usleep(20000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

static void start_server(void) {
  snprintf(server_log, sizeof server_log, "%s/server.log", work);
  const char *args[] = {server_bin,    "--index",   index_dir,   "--listen",
                        "127.0.0.1:0", "--tokens",  tokens_path, "--token-secret-file",
                        secret_path,   "--threads", "4",         "--pseudonym-secret-file",
                        pseudo_path,   NULL};
  server_pid = spawn(args, server_log, NULL);
  double end = now_s() + 15;
  while (now_s() < end) {
    char *log = read_all(server_log, NULL);
    const char *l = log ? strstr(log, "listening on 127.0.0.1:") : NULL;
    if (l) port = atoi(l + strlen("listening on 127.0.0.1:"));
    free(log);
    if (port) return;
    int st;
    if (waitpid(server_pid, &st, WNOHANG) == server_pid) break;
    usleep(20000);
  }
  char *log = read_all(server_log, NULL);
  fprintf(stderr, "the server did not start:\n%s\n", log ? log : "");
  exit(2);
}

/* ---------------------------------------------------------------- HTTP */

typedef struct resp {
  int status;
  char *head; /* status line and headers */
  char *body; /* de-chunked */
  size_t body_len;
  json_t *json;    /* the JSON body, or an NDJSON body's lines as an array */
  int chunked_bad; /* a chunked body that did not end with its last chunk */
} resp;

static void resp_free(resp *r) {
  free(r->head);
  free(r->body);
  json_decref(r->json);
  memset(r, 0, sizeof *r);
}

/* Decodes a chunked body in place; -1 when it is malformed or lacks the
 * final zero-size chunk (a stream cut short). */
static int dechunk(resp *r) {
  const char *in = r->body, *end = r->body + r->body_len;
  char *out = r->body;
  for (;;) {
    char *e;
    unsigned long long sz = strtoull(in, &e, 16);
    if (e == in) return -1;
    const char *crlf = strstr(e, "\r\n");
    if (!crlf || crlf >= end) return -1;
    in = crlf + 2;
    if (sz == 0) break;
    if ((unsigned long long)(end - in) < sz + 2) return -1;
    memmove(out, in, sz);
    out += sz;
    in += sz;
    if (in[0] != '\r' || in[1] != '\n') return -1;
    in += 2;
  }
  r->body_len = (size_t)(out - r->body);
  r->body[r->body_len] = 0;
  return 0;
}

/* The lines of an NDJSON body as an array; NULL when a line is not JSON
 * or the body does not end with a newline. */
static json_t *ndjson_lines(const char *b, size_t n) {
  json_t *a = json_array();
  size_t at = 0;
  while (at < n) {
    const char *nl = memchr(b + at, '\n', n - at);
    if (!nl) {
      json_decref(a);
      return NULL;
    }
    json_t *l = json_loadb(b + at, (size_t)(nl - (b + at)), 0, NULL);
    if (!l) {
      json_decref(a);
      return NULL;
    }
    json_array_append_new(a, l);
    at = (size_t)(nl - b) + 1;
  }
  return a;
}

/* The rows of a CSV body (RFC 4180: quoted fields with doubled quotes,
 * CRLF row ends) as an array of arrays of strings; NULL when it is
 * malformed (a bare LF row end, a quote inside an unquoted field, an
 * unterminated quote, a last row without its CRLF). */
static json_t *csv_rows(const char *b, size_t n) {
  json_t *rows = json_array(), *row = json_array();
  char *f = malloc(n + 1);
  size_t at = 0, fl = 0;
  int ok = 1;
  while (ok && at < n) {
    fl = 0;
    if (b[at] == '"') {
      at++;
      for (;;) {
        if (at >= n) {
          ok = 0;
          break;
        }
        if (b[at] == '"') {
          if (at + 1 < n && b[at + 1] == '"') {
            f[fl++] = '"';
            at += 2;
            continue;
          }
          at++;
          break;
        }
        f[fl++] = b[at++];
      }
    } else {
      while (at < n && b[at] != ',' && b[at] != '\r' && b[at] != '\n') {
        if (b[at] == '"') ok = 0;
        f[fl++] = b[at++];
      }
    }
    if (!ok) break;
    json_array_append_new(row, json_stringn(f, fl));
    if (at < n && b[at] == ',') {
      at++;
      if (at == n) ok = 0;
    } else if (at + 1 < n && b[at] == '\r' && b[at + 1] == '\n') {
      at += 2;
      json_array_append_new(rows, row);
      row = json_array();
    } else {
      ok = 0;
    }
  }
  free(f);
  if (json_array_size(row)) ok = 0;
  json_decref(row);
  if (!ok) {
    json_decref(rows);
    return NULL;
  }
  return rows;
}

static int connect_server(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads until the server closes (requests say Connection: close), at most
 * timeout seconds; fills r. Returns 0 when a status line was read. */
static int read_response(int fd, resp *r, double timeout) {
  size_t cap = 65536, n = 0;
  char *b = malloc(cap);
  double end = now_s() + timeout;
  for (;;) {
    int left = (int)((end - now_s()) * 1000);
    if (left <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) break;
    if (n + 65536 > cap) b = realloc(b, cap *= 2);
    ssize_t k = recv(fd, b + n, cap - n - 1, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    n += (size_t)k;
  }
  b[n] = 0;
  memset(r, 0, sizeof *r);
  char *sep = strstr(b, "\r\n\r\n");
  if (n < 12 || strncmp(b, "HTTP/1.", 7) != 0 || !sep) {
    free(b);
    return -1;
  }
  r->status = atoi(b + 9);
  *sep = 0;
  r->head = strdup(b);
  r->body_len = n - (size_t)(sep + 4 - b);
  r->body = malloc(r->body_len + 1);
  memcpy(r->body, sep + 4, r->body_len);
  r->body[r->body_len] = 0;
  free(b);
  if (strcasestr(r->head, "\r\nTransfer-Encoding: chunked") && dechunk(r)) {
    r->chunked_bad = 1;
    return 0;
  }
  if (r->body_len && (strstr(r->head, "application/json") || strstr(r->head, "application/JSON")))
    r->json = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
  else if (strstr(r->head, "application/x-ndjson"))
    r->json = ndjson_lines(r->body, r->body_len);
  else if (strstr(r->head, "text/csv"))
    r->json = csv_rows(r->body, r->body_len);
  return 0;
}

/* Value of a response header (case-insensitive name) into buf. */
static const char *header(const resp *r, const char *name, char *buf, size_t cap) {
  size_t nl = strlen(name);
  for (const char *l = r->head ? strstr(r->head, "\r\n") : NULL; l; l = strstr(l + 2, "\r\n")) {
    const char *h = l + 2;
    if (!strncasecmp(h, name, nl) && h[nl] == ':') {
      h += nl + 1;
      while (*h == ' ')
        h++;
      const char *e = strstr(h, "\r\n");
      size_t n = e ? (size_t)(e - h) : strlen(h);
      if (n >= cap) n = cap - 1;
      memcpy(buf, h, n);
      buf[n] = 0;
      return buf;
    }
  }
  return NULL;
}

static int request_raw(const char *req, size_t len, resp *r, double timeout) {
  memset(r, 0, sizeof *r);
  int fd = connect_server();
  if (fd < 0) return -1;
  int rc = send_all(fd, req, len);
  shutdown(fd, SHUT_WR);
  rc = read_response(fd, r, timeout);
  close(fd);
  return rc;
}

/* The response headers as {lowercase name: value}. */
static json_t *headers_json(const resp *r) {
  json_t *h = json_object();
  for (const char *l = r->head ? strstr(r->head, "\r\n") : NULL; l; l = strstr(l + 2, "\r\n")) {
    const char *c = strchr(l + 2, ':'), *e = strstr(l + 2, "\r\n");
    if (!c || (e && c > e)) continue;
    char name[128], value[1024];
    size_t nl = (size_t)(c - (l + 2));
    if (nl >= sizeof name) continue;
    for (size_t i = 0; i < nl; i++)
      name[i] = (char)(l[2 + i] | 0x20);
    name[nl] = 0;
    c++;
    while (*c == ' ')
      c++;
    snprintf(value, sizeof value, "%.*s", e ? (int)(e - c) : (int)strlen(c), c);
    json_object_set_new(h, name, json_string(value));
  }
  return h;
}

/* Appends one answer to the exchanges file (see --exchanges). */
static void record_exchange(const char *method, const char *path, const resp *r) {
  if (!exchanges) return;
  size_t pl = strlen(path);
  char *p = malloc(pl * 3 + 1), *o = p;
  for (const unsigned char *c = (const unsigned char *)path; *c; c++)
    o += *c > ' ' && *c < 0x7f ? sprintf(o, "%c", *c) : sprintf(o, "%%%02X", *c);
  char ct[256];
  json_t *line = json_pack(
      "{s:s, s:s, s:s, s:i, s:s, s:o, s:o?, s:b}", "label", label, "method", method, "path", p,
      "status", r->status, "content_type", header(r, "Content-Type", ct, sizeof ct) ? ct : "",
      "headers", headers_json(r), "body", json_stringn(r->body ? r->body : "", r->body_len),
      "complete", !r->chunked_bad);
  free(p);
  if (!line) {
    check(0, "%s: the answer to %s %.100s cannot be recorded", label, method, path);
    return;
  }
  json_dumpf(line, exchanges, JSON_COMPACT);
  fputc('\n', exchanges);
  json_decref(line);
}

/* One request on a fresh connection; extra is "Name: value\r\n" lines. */
static int request(const char *method, const char *path, const char *tok, const char *extra,
                   const char *body, size_t body_len, resp *r) {
  size_t cap = strlen(path) + (extra ? strlen(extra) : 0) + body_len + 1024;
  char *req = malloc(cap);
  int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method,
                   path);
  if (tok) n += snprintf(req + n, cap - (size_t)n, "Authorization: Bearer %s\r\n", tok);
  if (extra) n += snprintf(req + n, cap - (size_t)n, "%s", extra);
  if (body) n += snprintf(req + n, cap - (size_t)n, "Content-Length: %zu\r\n", body_len);
  n += snprintf(req + n, cap - (size_t)n, "\r\n");
  if (body) {
    memcpy(req + n, body, body_len);
    n += (int)body_len;
  }
  int rc = request_raw(req, (size_t)n, r, 10);
  free(req);
  if (rc == 0) record_exchange(method, path, r);
  return rc;
}

static int get(const char *path, const char *tok_name, resp *r) {
  return request("GET", path, tok_name ? token_value(tok_name) : NULL, NULL, NULL, 0, r);
}

static const char *error_code(const resp *r) {
  return json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
}

/* ---------------------------------------------------------------- YAML */

/* A reader for the YAML subset api/openapi.yaml keeps to: block mappings and
 * sequences, plain and quoted scalars, flow sequences of scalars, "{}",
 * and "|" / ">" block text. Anything else is an error with a line number,
 * so the document cannot drift into YAML this reader would misread. */

typedef struct yline {
  int indent, no;
  char *s;
} yline;

typedef struct yparser {
  yline *v;
  int n, i;
  char err[256];
} yparser;

/* Records the first error; frees `drop` (may be NULL); returns NULL. */
static json_t *y_fail(yparser *p, int no, const char *what, json_t *drop) {
  if (!p->err[0]) snprintf(p->err, sizeof p->err, "line %d: %s", no, what);
  json_decref(drop);
  return NULL;
}

static int y_is_seq(const yline *l) {
  return l->s[0] == '-' && (l->s[1] == ' ' || l->s[1] == 0);
}

/* Position of the ':' ending a mapping key, or NULL. */
static char *y_key_end(char *s) {
  if (*s == '"' || *s == '\'') {
    char q = *s;
    char *e = s + 1;
    while (*e && *e != q)
      e += *e == '\\' && q == '"' && e[1] ? 2 : 1;
    if (!*e) return NULL;
    e++;
    return *e == ':' && (e[1] == ' ' || e[1] == 0) ? e : NULL;
  }
  if (*s == '[' || *s == '{') return NULL;
  for (char *e = s; *e; e++) {
    if (*e == ':' && (e[1] == ' ' || e[1] == 0)) return e;
    if (*e == ' ' && e[1] == '#') return NULL;
  }
  return NULL;
}

/* Unquotes a scalar in place; returns its text. */
static char *y_unquote(char *s, int *quoted) {
  *quoted = 0;
  if (*s != '"' && *s != '\'') {
    /* Plain: drop a trailing comment and spaces. */
    char *c = strstr(s, " #");
    if (c) *c = 0;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
      s[--n] = 0;
    return s;
  }
  char q = *s, *o = s, *i = s + 1;
  *quoted = 1;
  while (*i && *i != q) {
    if (q == '"' && *i == '\\' && i[1]) {
      i++;
      *o++ = *i == 'n' ? '\n' : *i == 't' ? '\t' : *i;
      i++;
    } else if (q == '\'' && *i == '\'' && i[1] == '\'') {
      *o++ = '\'';
      i += 2;
    } else {
      *o++ = *i++;
    }
  }
  *o = 0;
  return s;
}

static json_t *y_scalar(yparser *p, char *s, int no) {
  if (*s == '[') {
    char *e = strrchr(s, ']');
    if (!e) return y_fail(p, no, "unterminated flow sequence", NULL);
    *e = 0;
    json_t *a = json_array();
    for (char *item = s + 1; *item;) {
      while (*item == ' ')
        item++;
      if (!*item) break;
      char *next;
      if (*item == '"' || *item == '\'') {
        char q = *item;
        next = strchr(item + 1, q);
        if (!next) return y_fail(p, no, "unterminated quote", a);
        next = strchr(next, ',');
      } else {
        next = strchr(item, ',');
      }
      if (next) *next = 0;
      int quoted;
      char *t = y_unquote(item, &quoted);
      json_array_append_new(a, quoted ? json_string(t) : y_scalar(p, t, no));
      item = next ? next + 1 : item + strlen(item);
    }
    return a;
  }
  if (!strcmp(s, "{}")) return json_object();
  if (*s == '{') return y_fail(p, no, "flow mappings other than {} are not supported", NULL);
  int quoted;
  char *t = y_unquote(s, &quoted);
  if (quoted) return json_string(t);
  if (!strcmp(t, "true")) return json_true();
  if (!strcmp(t, "false")) return json_false();
  if (!strcmp(t, "null") || !strcmp(t, "~") || !*t) return json_null();
  char *end;
  errno = 0;
  long long v = strtoll(t, &end, 10);
  if (!*end && !errno) return json_integer(v);
  double d = strtod(t, &end);
  if (!*end) return json_real(d);
  return json_string(t);
}

static json_t *y_node(yparser *p, int indent);

static json_t *y_block(yparser *p, int indent, int folded) {
  size_t cap = 256, n = 0;
  char *b = malloc(cap);
  b[0] = 0;
  while (p->i < p->n && p->v[p->i].indent > indent) {
    const char *s = p->v[p->i].s;
    size_t l = strlen(s) + (size_t)(p->v[p->i].indent - indent);
    if (n + l + 2 > cap) b = realloc(b, cap = (n + l) * 2 + 2);
    n += (size_t)sprintf(b + n, "%s%s", n ? (folded ? " " : "\n") : "", s);
    p->i++;
  }
  json_t *j = json_string(b);
  free(b);
  return j;
}

static json_t *y_map(yparser *p, int indent) {
  json_t *obj = json_object();
  while (p->i < p->n && !p->err[0]) {
    yline *l = &p->v[p->i];
    if (l->indent < indent) break;
    if (l->indent > indent) return y_fail(p, l->no, "unexpected indentation", obj);
    if (y_is_seq(l)) break;
    char *e = y_key_end(l->s);
    if (!e) return y_fail(p, l->no, "expected \"key: value\"", obj);
    *e = 0;
    int quoted;
    char *key = y_unquote(l->s, &quoted);
    char *val = e + 1;
    while (*val == ' ')
      val++;
    int no = l->no;
    p->i++;
    json_t *child;
    if (!*val || *val == '#') {
      if (p->i < p->n && p->v[p->i].indent > indent)
        child = y_node(p, p->v[p->i].indent);
      else if (p->i < p->n && p->v[p->i].indent == indent && y_is_seq(&p->v[p->i]))
        child = y_node(p, indent);
      else
        child = json_null();
    } else if (!strcmp(val, "|") || !strcmp(val, ">")) {
      child = y_block(p, indent, *val == '>');
    } else {
      child = y_scalar(p, val, no);
    }
    if (!child) {
      json_decref(obj);
      return NULL;
    }
    if (json_object_get(obj, key)) {
      json_decref(child);
      return y_fail(p, no, "duplicate key", obj);
    }
    json_object_set_new(obj, key, child);
  }
  return obj;
}

static json_t *y_seq(yparser *p, int indent) {
  json_t *arr = json_array();
  while (p->i < p->n && !p->err[0]) {
    yline *l = &p->v[p->i];
    if (l->indent != indent || !y_is_seq(l)) break;
    char *rest = l->s + 1;
    while (*rest == ' ')
      rest++;
    json_t *child;
    if (!*rest) {
      p->i++;
      if (p->i >= p->n || p->v[p->i].indent <= indent)
        return y_fail(p, l->no, "empty sequence item", arr);
      child = y_node(p, p->v[p->i].indent);
    } else if (y_key_end(rest)) {
      /* "- key: value": a mapping whose first key sits after the dash. */
      l->indent = indent + (int)(rest - l->s);
      l->s = rest;
      child = y_map(p, l->indent);
    } else {
      child = y_scalar(p, rest, l->no);
      p->i++;
    }
    if (!child) {
      json_decref(arr);
      return NULL;
    }
    json_array_append_new(arr, child);
  }
  return arr;
}

static json_t *y_node(yparser *p, int indent) {
  if (p->i >= p->n) return json_null();
  return y_is_seq(&p->v[p->i]) ? y_seq(p, indent) : y_map(p, indent);
}

static json_t *yaml_load(const char *path, char *err, size_t cap) {
  char *text = read_all(path, NULL);
  if (!text) {
    snprintf(err, cap, "cannot read %s", path);
    return NULL;
  }
  yparser p;
  memset(&p, 0, sizeof p);
  int lines = 1;
  for (char *c = text; *c; c++)
    lines += *c == '\n';
  p.v = calloc((size_t)lines, sizeof *p.v);
  int no = 0;
  for (char *s = text; s;) {
    char *nl = strchr(s, '\n');
    if (nl) *nl = 0;
    no++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\r'))
      s[--len] = 0;
    int ind = 0;
    while (s[ind] == ' ')
      ind++;
    if (s[ind] == '\t') {
      snprintf(err, cap, "%s line %d: tab in indentation", path, no);
      free(p.v);
      free(text);
      return NULL;
    }
    if (s[ind] && s[ind] != '#') p.v[p.n++] = (yline){ind, no, s + ind};
    s = nl ? nl + 1 : NULL;
  }
  json_t *doc = y_node(&p, 0);
  if (!p.err[0] && p.i < p.n) y_fail(&p, p.v[p.i].no, "unexpected indentation", NULL);
  if (p.err[0]) {
    snprintf(err, cap, "%s %s", path, p.err);
    json_decref(doc);
    doc = NULL;
  }
  free(p.v);
  free(text);
  return doc;
}

/* ---------------------------------------------------------------- OpenAPI */

/* The string value of j, or "" (never NULL). */
static const char *str(const json_t *j) {
  const char *s = json_string_value(j);
  return s ? s : "";
}

static json_t *resolve(json_t *node) {
  for (int hops = 0; hops < 16 && json_is_object(node); hops++) {
    const char *ref = json_string_value(json_object_get(node, "$ref"));
    if (!ref) return node;
    if (strncmp(ref, "#/", 2) != 0) return NULL;
    json_t *cur = openapi;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ref + 2);
    for (char *tok = strtok(buf, "/"); tok && cur; tok = strtok(NULL, "/"))
      cur = json_object_get(cur, tok);
    node = cur;
  }
  return node;
}

/* Checks every $ref in the document resolves. */
static void check_refs(json_t *node, const char *where) {
  if (json_is_object(node)) {
    const char *ref = json_string_value(json_object_get(node, "$ref"));
    if (ref) check(resolve(node) != NULL, "openapi: $ref %s (in %s) resolves", ref, where);
    const char *k;
    json_t *v;
    json_object_foreach(node, k, v) check_refs(v, k);
  } else if (json_is_array(node)) {
    size_t i;
    json_t *v;
    json_array_foreach(node, i, v) check_refs(v, where);
  }
}

static int numbers_equal(json_t *a, json_t *b) {
  return json_is_number(a) && json_is_number(b) && json_number_value(a) == json_number_value(b);
}

/* Validates v against schema; writes the first problem to err. */
static int validate(json_t *schema, json_t *v, const char *where, char *err, size_t cap) {
  schema = resolve(schema);
  if (!schema) {
    snprintf(err, cap, "%s: unresolvable schema", where);
    return -1;
  }
  if (json_is_null(v)) {
    if (json_is_true(json_object_get(schema, "nullable"))) return 0;
    if (!json_object_get(schema, "type") && !json_object_get(schema, "allOf")) return 0;
    snprintf(err, cap, "%s: null where the schema does not allow it", where);
    return -1;
  }
  json_t *all = json_object_get(schema, "allOf"), *it;
  size_t i;
  json_array_foreach(all, i, it) {
    if (validate(it, v, where, err, cap)) return -1;
  }
  const char *type = json_string_value(json_object_get(schema, "type"));
  if (type) {
    int ok = !strcmp(type, "object")    ? json_is_object(v)
             : !strcmp(type, "array")   ? json_is_array(v)
             : !strcmp(type, "string")  ? json_is_string(v)
             : !strcmp(type, "integer") ? json_is_integer(v)
             : !strcmp(type, "number")  ? json_is_number(v)
             : !strcmp(type, "boolean") ? json_is_boolean(v)
                                        : 1;
    if (!ok) {
      snprintf(err, cap, "%s: expected %s", where, type);
      return -1;
    }
  }
  json_t *en = json_object_get(schema, "enum");
  if (en) {
    int found = 0;
    json_array_foreach(en, i, it) found |= json_equal(it, v) || numbers_equal(it, v);
    if (!found) {
      snprintf(err, cap, "%s: value not in the documented enum", where);
      return -1;
    }
  }
  if (json_is_object(v)) {
    json_array_foreach(json_object_get(schema, "required"), i, it) {
      if (!json_object_get(v, json_string_value(it))) {
        snprintf(err, cap, "%s: required field \"%s\" missing", where, json_string_value(it));
        return -1;
      }
    }
    const char *k;
    json_t *ps;
    json_object_foreach(json_object_get(schema, "properties"), k, ps) {
      json_t *x = json_object_get(v, k);
      char w[256];
      snprintf(w, sizeof w, "%s.%s", where, k);
      if (x && validate(ps, x, w, err, cap)) return -1;
    }
  }
  if (json_is_array(v) && json_object_get(schema, "items")) {
    json_array_foreach(v, i, it) {
      char w[256];
      snprintf(w, sizeof w, "%s[%zu]", where, i);
      if (validate(json_object_get(schema, "items"), it, w, err, cap)) return -1;
    }
  }
  return 0;
}

/* The documented path template matching a concrete path ("" if none). */
static const char *doc_template(const char *path) {
  const char *tmpl;
  json_t *v;
  json_object_foreach(json_object_get(openapi, "paths"), tmpl, v) {
    const char *a = tmpl, *b = path;
    while (*a && *b && *b != '?') {
      if (*a == '{') {
        while (*a && *a != '}')
          a++;
        if (*a) a++;
        while (*b && *b != '/' && *b != '?')
          b++;
        continue;
      }
      if (*a != *b) break;
      a++;
      b++;
    }
    if (!*a && (!*b || *b == '?')) return tmpl;
  }
  return "";
}

static json_t *operation(const char *tmpl, const char *method) {
  char m[16];
  size_t i = 0;
  for (; method[i] && i < sizeof m - 1; i++)
    m[i] = (char)(method[i] | 0x20);
  m[i] = 0;
  if (!strcmp(m, "head")) strcpy(m, "get");
  return json_object_get(json_object_get(json_object_get(openapi, "paths"), tmpl), m);
}

/* Every answer must be documented, and carry the documented fields. */
static void check_against_openapi(const char *what, const char *method, const char *path,
                                  const resp *r) {
  if (!openapi || r->status == 0) return;
  const char *tmpl = doc_template(path);
  json_t *op = *tmpl ? operation(tmpl, method) : NULL;
  char err[512] = "";
  if (!op) {
    /* Unknown route or method: only the error shape is promised. */
    json_t *error_schema = json_pack("{s:s}", "$ref", "#/components/schemas/Error");
    check((r->status == 404 || r->status == 405 || r->status == 400) && r->json &&
              validate(error_schema, r->json, "body", err, sizeof err) == 0,
          "%s: undocumented %s %s answered %d with the error shape %s", what, method, path,
          r->status, err);
    json_decref(error_schema);
    return;
  }
  char code[8];
  snprintf(code, sizeof code, "%d", r->status);
  json_t *responses = json_object_get(op, "responses");
  json_t *doc = json_object_get(responses, code);
  if (!doc) doc = json_object_get(responses, "default");
  if (!doc) {
    if (r->status == 414 || r->status == 431) return; /* the library's own, documented */
    check(0, "%s: status %d of %s %s is not documented in openapi.yaml", what, r->status, method,
          tmpl);
    return;
  }
  doc = resolve(doc);
  json_t *content = json_object_get(doc, "content");
  json_t *schema = json_object_get(json_object_get(content, "application/json"), "schema");
  json_t *line_schema = json_object_get(json_object_get(content, "application/x-ndjson"), "schema");
  char ct[128];
  if (header(r, "Content-Type", ct, sizeof ct) && !strncmp(ct, "text/csv", 8)) {
    /* CSV: documented, whole, and well-formed (csv_rows). */
    check(json_object_get(content, "text/csv") && json_is_array(r->json) && !r->chunked_bad,
          "%s: %s %s %d CSV is not documented, or malformed, or cut", what, method, tmpl,
          r->status);
    schema = line_schema = NULL;
  }
  if ((!schema && !line_schema) || !strcmp(method, "HEAD")) return;
  if (schema) {
    int ok = r->json && validate(schema, r->json, "body", err, sizeof err) == 0;
    check(ok, "%s: %s %s %d does not match openapi.yaml: %s", what, method, tmpl, r->status,
          r->json ? err : "no JSON body");
  } else {
    /* NDJSON: every line against the documented line schema. */
    int ok = json_is_array(r->json) && !r->chunked_bad;
    size_t i;
    json_t *line;
    json_array_foreach(r->json, i, line) {
      char w[32];
      snprintf(w, sizeof w, "line %zu", i + 1);
      if (ok && validate(line_schema, line, w, err, sizeof err)) ok = 0;
    }
    check(ok, "%s: %s %s %d NDJSON does not match openapi.yaml: %s", what, method, tmpl, r->status,
          json_is_array(r->json) ? err : "a line is not JSON, or the stream was cut");
  }
  /* Query parameters used must be documented (unless refused as unknown). */
  const char *q = strchr(path, '?');
  const char *ec = error_code(r);
  if (!q || (ec && (!strcmp(ec, "unknown_parameter") || !strcmp(ec, "bad_request") ||
                    !strcmp(ec, "bad_encoding"))))
    return;
  char names[8192];
  snprintf(names, sizeof names, "%s", q + 1);
  for (char *save, *kv = strtok_r(names, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(kv, '=');
    if (eq) *eq = 0;
    int found = 0;
    size_t i;
    json_t *prm;
    json_array_foreach(json_object_get(op, "parameters"), i, prm) {
      json_t *x = resolve(prm);
      found |= x && !strcmp(str(json_object_get(x, "name")), kv) &&
               !strcmp(str(json_object_get(x, "in")), "query");
    }
    check(found, "%s: query parameter \"%s\" of %s %s is not documented", what, kv, method, tmpl);
  }
}

static void check_document(void) {
  char err[512];
  openapi = yaml_load(openapi_path, err, sizeof err);
  check(openapi != NULL, "openapi.yaml parses: %s", openapi ? "" : err);
  if (!openapi) return;
  check(!strncmp(str(json_object_get(openapi, "openapi")), "3.", 2), "openapi: version 3.x");
  json_t *bearer = json_object_get(
      json_object_get(json_object_get(openapi, "components"), "securitySchemes"), "bearer");
  check(!strcmp(str(json_object_get(bearer, "type")), "http") &&
            !strcmp(str(json_object_get(bearer, "scheme")), "bearer"),
        "openapi: bearer security scheme");
  static const char *const routes[][2] = {
      {"get", "/v1/health"},
      {"get", "/v1/metrics"},
      {"get", "/v1/search"},
      {"get", "/v1/suggest"},
      {"get", "/v1/patients"},
      {"get", "/v1/conversations/{id}"},
      {"get", "/v1/conversations/{id}/checklist"},
      {"post", "/v1/qa/retrieve"},
      {"post", "/v1/analytics"},
      {"get", "/v1/export"},
      {"post", "/v1/admin/reindex"},
      {"get", "/v1/admin/jobs/{id}"},
      {"get", "/v1/admin/synonyms"},
      {"put", "/v1/admin/synonyms"},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    json_t *op = operation(routes[i][1], routes[i][0]);
    check(op != NULL, "openapi documents %s %s", routes[i][0], routes[i][1]);
    json_t *sec = json_object_get(op, "security");
    int is_health = !strcmp(routes[i][1], "/v1/health");
    check(is_health ? json_is_array(sec) && json_array_size(sec) == 0 : sec == NULL,
          "openapi: %s %s security (public only for health)", routes[i][0], routes[i][1]);
    int has_401 = json_object_get(json_object_get(op, "responses"), "401") != NULL;
    check(is_health || has_401, "openapi: %s %s documents 401", routes[i][0], routes[i][1]);
  }
  check_refs(openapi, "document");
}

/* ---------------------------------------------------------------- expectations */

static json_t *eval(json_t *node, const char *p) {
  if (!node) return NULL;
  if (!*p) return json_incref(node);
  if (*p == '.') {
    p++;
    if (!*p) return json_incref(node);
    if (*p == '[') return eval(node, p);
    char key[128];
    size_t n = 0;
    while (*p && *p != '.' && *p != '[' && n < sizeof key - 1)
      key[n++] = *p++;
    key[n] = 0;
    return eval(json_object_get(node, key), p);
  }
  if (*p == '[') {
    if (p[1] == '*' && p[2] == ']') {
      if (!json_is_array(node)) return NULL;
      json_t *out = json_array(), *it;
      size_t i;
      json_array_foreach(node, i, it) {
        json_t *x = eval(it, p + 3);
        if (x) json_array_append_new(out, x);
      }
      return out;
    }
    char *end;
    long idx = strtol(p + 1, &end, 10);
    if (*end != ']') return NULL;
    return eval(json_array_get(node, (size_t)idx), end + 1);
  }
  return NULL;
}

static int jequal(json_t *a, json_t *b) {
  if (json_is_number(a) && json_is_number(b)) return numbers_equal(a, b);
  if (json_is_array(a) && json_is_array(b)) {
    if (json_array_size(a) != json_array_size(b)) return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!jequal(json_array_get(a, i), json_array_get(b, i))) return 0;
    return 1;
  }
  return json_equal(a, b);
}

/* Evaluates "PATH OP [JSON]" on body; returns 1 when it holds. */
static int expect(json_t *body, const char *line, char *why, size_t cap) {
  char path[256], op[16];
  const char *s = line;
  size_t n = 0;
  while (*s && *s != ' ' && n < sizeof path - 1)
    path[n++] = *s++;
  path[n] = 0;
  while (*s == ' ')
    s++;
  n = 0;
  while (*s && *s != ' ' && n < sizeof op - 1)
    op[n++] = *s++;
  op[n] = 0;
  while (*s == ' ')
    s++;
  json_t *got;
  if (!strncmp(path, "len(", 4) && path[strlen(path) - 1] == ')') {
    path[strlen(path) - 1] = 0;
    json_t *x = eval(body, path + 4);
    got = !x                  ? NULL
          : json_is_array(x)  ? json_integer((json_int_t)json_array_size(x))
          : json_is_string(x) ? json_integer((json_int_t)json_string_length(x))
          : json_is_object(x) ? json_integer((json_int_t)json_object_size(x))
                              : NULL;
    json_decref(x);
  } else {
    got = eval(body, path);
  }
  int ok = 0;
  json_t *want = NULL;
  if (!strcmp(op, "exists")) {
    ok = got != NULL;
  } else if (!strcmp(op, "absent")) {
    ok = got == NULL;
  } else {
    json_error_t je;
    want = json_loads(s, JSON_DECODE_ANY, &je);
    if (!want) {
      snprintf(why, cap, "bad expected value %s", s);
      json_decref(got);
      return 0;
    }
    if (!strcmp(op, "==")) {
      ok = got && jequal(got, want);
    } else if (!strcmp(op, "!=")) {
      ok = !got || !jequal(got, want);
    } else if (!strcmp(op, "contains") || !strcmp(op, "!contains")) {
      int has = 0;
      if (json_is_string(got) && json_is_string(want))
        has = strstr(json_string_value(got), json_string_value(want)) != NULL;
      else if (json_is_array(got)) {
        size_t i;
        json_t *it;
        json_array_foreach(got, i, it) has |= jequal(it, want);
      }
      ok = op[0] == '!' ? got && !has : has;
    } else if (json_is_number(got) && json_is_number(want)) {
      double a = json_number_value(got), b = json_number_value(want);
      ok = !strcmp(op, "<")    ? a < b
           : !strcmp(op, "<=") ? a <= b
           : !strcmp(op, ">")  ? a > b
           : !strcmp(op, ">=") ? a >= b
                               : 0;
    }
  }
  if (!ok) {
    char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    snprintf(why, cap, "%s: got %.300s", line, g ? g : "(missing)");
    free(g);
  }
  json_decref(got);
  json_decref(want);
  return ok;
}

/* ---------------------------------------------------------------- cases */

/* \xHH escapes (raw bytes, possibly invalid UTF-8) in place. */
static size_t unescape_bytes(char *s) {
  char *o = s;
  for (char *i = s; *i;) {
    if (i[0] == '\\' && i[1] == 'x' && i[2] && i[3]) {
      char h[3] = {i[2], i[3], 0};
      *o++ = (char)strtol(h, NULL, 16);
      i += 4;
    } else {
      *o++ = *i++;
    }
  }
  *o = 0;
  return (size_t)(o - s);
}

static pid_t start_extra(const char *const *extra, const char *log, int *port_out);

/* Servers for cases with "server:", by their option line. */
typedef struct case_server {
  char options[256];
  pid_t pid;
  int port;
} case_server;
static case_server case_servers[4];
static int ncase_servers;

/* The port of the server started with `options` (starting it on first
 * use), or 0 when too many distinct option lines are in use. */
static int case_server_port(const char *options) {
  for (int i = 0; i < ncase_servers; i++)
    if (!strcmp(case_servers[i].options, options)) return case_servers[i].port;
  if (ncase_servers == 4) return 0;
  case_server *cs = &case_servers[ncase_servers];
  snprintf(cs->options, sizeof cs->options, "%s", options);
  char words[256], log[700];
  snprintf(words, sizeof words, "%s", options);
  const char *extra[20] = {"--token-secret-file", secret_path};
  int n = 2;
  for (char *save, *w = strtok_r(words, " ", &save); w && n < 19; w = strtok_r(NULL, " ", &save))
    extra[n++] = w;
  extra[n] = NULL;
  snprintf(log, sizeof log, "%s/server-case%d.log", work, ncase_servers);
  cs->pid = start_extra(extra, log, &cs->port);
  ncase_servers++;
  return cs->port;
}

static void stop_case_servers(void) {
  for (int i = 0; i < ncase_servers; i++) {
    kill(case_servers[i].pid, SIGTERM);
    check(wait_exit(case_servers[i].pid, 10) == 0, "the server with %s exits 0 on SIGTERM",
          case_servers[i].options);
  }
  ncase_servers = 0;
}

/* A response header whose name starts with prefix, or NULL. */
static const char *header_prefixed(const resp *r, const char *prefix) {
  for (const char *l = r->head ? strstr(r->head, "\r\n") : NULL; l; l = strstr(l + 2, "\r\n"))
    if (!strncasecmp(l + 2, prefix, strlen(prefix))) return l + 2;
  return NULL;
}

static int needs_skipped(const char *need) {
  if (!skip_list || !*need) return 0;
  char buf[256];
  snprintf(buf, sizeof buf, ",%s,", skip_list);
  char pat[80];
  snprintf(pat, sizeof pat, ",%s,", need);
  return strstr(buf, pat) != NULL;
}

/* Lowercase without accents (Latin-1 letters of UTF-8; ñ -> n too): enough
 * to find a Spanish name however it was written. */
static char *fold_accents(const char *s, size_t n) {
  static const char map[] = "aaaaaaaceeeeiiiidnooooo/ouuuuyty"; /* U+00E0..U+00FF */
  char *o = malloc(n + 1), *w = o;
  for (size_t i = 0; o && i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == 0xC3 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
        (unsigned char)s[i + 1] <= 0xBF) {
      unsigned char d = (unsigned char)s[++i];
      *w++ = map[(d | 0x20) - 0xA0];
    } else {
      *w++ = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    }
  }
  if (o) *w = 0;
  return o;
}

static void check_absent_words(const char *file, const resp *r, const char *words) {
  char *raw = fold_accents(r->body ? r->body : "", r->body ? r->body_len : 0);
  char *dump = r->json ? json_dumps(r->json, 0) : NULL;
  char *dec = fold_accents(dump ? dump : "", dump ? strlen(dump) : 0);
  char *list = fold_accents(words, strlen(words));
  for (char *save = NULL, *w = list ? strtok_r(list, " ", &save) : NULL; w;
       w = strtok_r(NULL, " ", &save))
    check(raw && dec && !strstr(raw, w) && !strstr(dec, w), "%s: \"%s\" in the body: %.400s", file,
          w, r->body ? r->body : "");
  free(raw);
  free(dump);
  free(dec);
  free(list);
}
#define CASE_EXPECT_MAX 256
#define CASE_HEADER_MAX 16

static void run_case(const char *file) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", cases_dir, file);
  char *text = read_all(path, NULL);
  if (!text) {
    check(0, "%s: cannot read", file);
    return;
  }
  char method[16] = "", *target = NULL, tok[64] = "", need[64] = "", extra[4096] = "";
  char options[256] = "";
  char *body = NULL;
  size_t body_len = 0;
  int status = 0, has_ct = 0;
  /* A case with more expect: or header-has: lines than these fails (none
   * is dropped silently). */
  char *expects[CASE_EXPECT_MAX], *hdrs[CASE_HEADER_MAX];
  char *absent[8], *absent_words = NULL;
  int nexp = 0, nhdr = 0, nabsent = 0;
  int lineno = 0, bad = 0;
  for (char *l = text; l && !bad;) {
    char *nl = strchr(l, '\n');
    if (nl) *nl = 0;
    lineno++;
    size_t len = strlen(l);
    while (len && (l[len - 1] == '\r' || l[len - 1] == ' '))
      l[--len] = 0;
    char *v = strchr(l, ':');
    if (*l && *l != '#') {
      if (!v) {
        check(0, "%s line %d: expected \"directive: value\"", file, lineno);
        bad = 1;
        break;
      }
      *v++ = 0;
      while (*v == ' ')
        v++;
      if (!strcmp(l, "request")) {
        char *sp = strchr(v, ' ');
        if (sp) {
          *sp = 0;
          snprintf(method, sizeof method, "%s", v);
          target = sp + 1;
          unescape_bytes(target);
        }
      } else if (!strcmp(l, "token")) {
        snprintf(tok, sizeof tok, "%s", v);
      } else if (!strcmp(l, "needs")) {
        snprintf(need, sizeof need, "%s", v);
      } else if (!strcmp(l, "header")) {
        size_t el = strlen(extra);
        snprintf(extra + el, sizeof extra - el, "%s\r\n", v);
        has_ct |= !strncasecmp(v, "content-type:", 13);
      } else if (!strcmp(l, "body")) {
        body = v;
        body_len = unescape_bytes(v);
      } else if (!strcmp(l, "status")) {
        status = atoi(v);
      } else if (!strcmp(l, "expect") || !strcmp(l, "header-has")) {
        int e = !strcmp(l, "expect"), max = e ? CASE_EXPECT_MAX : CASE_HEADER_MAX;
        if ((e ? nexp : nhdr) == max) {
          check(0, "%s line %d: more than %d %s: lines in one case", file, lineno, max, l);
          bad = 1;
        } else if (e) {
          expects[nexp++] = v;
        } else {
          hdrs[nhdr++] = v;
        }
      } else if (!strcmp(l, "header-absent")) {
        if (nabsent == 8) {
          check(0, "%s line %d: more than 8 header-absent: lines in one case", file, lineno);
          bad = 1;
        } else {
          absent[nabsent++] = v;
        }
      } else if (!strcmp(l, "absent-words")) {
        absent_words = v;
      } else if (!strcmp(l, "server")) {
        snprintf(options, sizeof options, "%s", v);
      } else {
        check(0, "%s line %d: unknown directive \"%s\"", file, lineno, l);
        bad = 1;
      }
    }
    l = nl ? nl + 1 : NULL;
  }
  if (bad || !target || !status) {
    if (!bad) check(0, "%s: needs request: and status:", file);
    free(text);
    return;
  }
  if (needs_skipped(need)) {
    skipped++;
    free(text);
    return;
  }
  if (body && !has_ct) strcat(extra, "Content-Type: application/json\r\n");
  const char *tv = NULL;
  if (*tok) {
    tv = token_value(tok);
    if (!tv) {
      check(0, "%s: unknown token name %s", file, tok);
      free(text);
      return;
    }
  }
  resp r;
  int main_port = port;
  if (options[0]) port = case_server_port(options);
  label = file;
  int rc = port ? request(method, target, tv, extra, body, body_len, &r) : -1;
  label = "scripted";
  port = main_port;
  if (rc) {
    check(0, "%s: no HTTP answer", file);
    free(text);
    return;
  }
  check(r.status == status, "%s: status %d, expected %d; body %.300s", file, r.status, status,
        r.body);
  for (int i = 0; i < nexp; i++) {
    char why[512];
    check(r.json && expect(r.json, expects[i], why, sizeof why), "%s: expect %s", file,
          r.json ? why : "(no JSON body)");
  }
  for (int i = 0; i < nhdr; i++) {
    char name[128], buf[512];
    const char *c = strchr(hdrs[i], ':');
    snprintf(name, sizeof name, "%.*s", c ? (int)(c - hdrs[i]) : 0, hdrs[i]);
    const char *want = c ? c + 1 : "";
    while (*want == ' ')
      want++;
    const char *got = header(&r, name, buf, sizeof buf);
    check(got && strstr(got, want), "%s: header %s has \"%s\" (got %s)", file, name, want,
          got ? got : "none");
  }
  if (absent_words) check_absent_words(file, &r, absent_words);
  for (int i = 0; i < nabsent; i++) {
    const char *h = header_prefixed(&r, absent[i]);
    check(!h, "%s: no header %s... (got %.*s)", file, absent[i], h ? (int)strcspn(h, "\r") : 0,
          h ? h : "");
  }
  if (r.status >= 400 && r.status != 414 && r.status != 431)
    check(r.json && error_code(&r), "%s: an error body {\"error\": {\"code\", ...}}", file);
  check_against_openapi(file, method, target, &r);
  resp_free(&r);
  free(text);
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_cases(void) {
  DIR *d = opendir(cases_dir);
  if (!d) {
    check(0, "cannot open %s", cases_dir);
    return;
  }
  char *names[1024];
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 1024;) {
    size_t l = strlen(e->d_name);
    if (l > 5 && !strcmp(e->d_name + l - 5, ".case") && (!only || strstr(e->d_name, only)))
      names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, name_cmp);
  int before = failed;
  for (int i = 0; i < n; i++) {
    run_case(names[i]);
    free(names[i]);
  }
  stop_case_servers();
  printf("cases: %d files, %d with failures counted above, %d skipped\n", n, failed - before,
         skipped);
}

/* ---------------------------------------------------------------- scripted */

static void t_startup(void) {
  char err_path[700], out_path[700], p644[700], bad[700], s640[700];
  snprintf(err_path, sizeof err_path, "%s/startup.err", work);
  snprintf(out_path, sizeof out_path, "%s/startup.out", work);
  snprintf(p644, sizeof p644, "%s/tokens644", work);
  snprintf(bad, sizeof bad, "%s/tokensbad", work);
  snprintf(s640, sizeof s640, "%s/secret640", work);
  char *good = read_all(tokens_path, NULL);
  write_file(p644, good, 0644);
  char badtext[4096];
  snprintf(badtext, sizeof badtext, "# ok\nsha256:abcd admin\n");
  write_file(bad, badtext, 0600);
  write_file(s640, secret, 0640);
  free(good);
  char fifo[700];
  snprintf(fifo, sizeof fifo, "%s/fifo", work);
  unlink(fifo);
  if (mkfifo(fifo, 0600)) check(0, "mkfifo %s: %s", fifo, strerror(errno));

  struct {
    const char *what;
    const char *args[16];
    int want; /* exit status */
    const char *msg1, *msg2;
  } runs[] = {
      {"tokens file readable by others",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", p644, NULL},
       1,
       p644,
       "0644"},
      {"malformed tokens line",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", bad, NULL},
       1,
       "line 2",
       bad},
      {"secret file readable by group",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--token-secret-file", s640, NULL},
       1,
       s640,
       "0640"},
      {"pseudonym secret file readable by group",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--pseudonym-secret-file", s640, NULL},
       1,
       s640,
       "0640"},
      {"missing index",
       {server_bin, "--index", "/nonexistent/index", "--listen", "127.0.0.1:0", "--tokens",
        tokens_path, NULL},
       1,
       "/nonexistent/index",
       NULL},
      {"bad --listen",
       {server_bin, "--index", index_dir, "--listen", "nonsense", "--tokens", tokens_path, NULL},
       1,
       "HOST:PORT",
       NULL},
      {"unknown option",
       {server_bin, "--index", index_dir, "--bogus", "--tokens", tokens_path, NULL},
       2,
       "--bogus",
       "usage"},
      {"missing --tokens",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", NULL},
       2,
       "--tokens",
       NULL},
      {"--threads 0",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--threads", "0", NULL},
       2,
       "--threads",
       NULL},
      {"--pollers 300",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--pollers", "300", NULL},
       2,
       "--pollers takes a number from 1 to 256",
       NULL},
      {"missing value", {server_bin, "--index", NULL}, 2, "missing value", NULL},
      {"--cors-origin with a path",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--cors-origin", "https://portal.example.org/app", NULL},
       2,
       "https://portal.example.org/app",
       "no path"},
      {"--cors-origin without a scheme",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--cors-origin", "portal.example.org", NULL},
       2,
       "scheme://host[:port]",
       "http:// or https://"},
      {"--cors-origin *",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--cors-origin", "*", NULL},
       2,
       "scheme://host[:port]",
       NULL},
      {"--cors-origin with a bad port",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--cors-origin", "http://localhost:99999", NULL},
       2,
       "http://localhost:99999",
       "1 to 65535"},
      /* A FIFO is refused at once, not waited on for ever. */
      {"tokens file is a FIFO",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", fifo, NULL},
       1,
       fifo,
       "FIFO"},
      {"secret file is a FIFO",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--token-secret-file", fifo, NULL},
       1,
       fifo,
       "FIFO"},
      {"--token-max-ttl 0",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--token-secret-file", secret_path, "--token-max-ttl", "0", NULL},
       2,
       "--token-max-ttl",
       "31536000"},
      {"--token-max-ttl not a number",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--token-secret-file", secret_path, "--token-max-ttl", "1d", NULL},
       2,
       "--token-max-ttl",
       NULL},
      {"--token-max-ttl without --token-secret-file",
       {server_bin, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens_path,
        "--token-max-ttl", "60", NULL},
       2,
       "--token-secret-file",
       NULL},
  };
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    pid_t pid = spawn(runs[i].args, err_path, out_path);
    int st = wait_exit(pid, 10);
    char *msg = read_all(err_path, NULL);
    check(st == runs[i].want && msg && strstr(msg, runs[i].msg1) &&
              (!runs[i].msg2 || strstr(msg, runs[i].msg2)),
          "startup refused (%s): exit %d (want %d), message: %s", runs[i].what, st, runs[i].want,
          msg ? msg : "");
    free(msg);
  }
  const char *help[] = {server_bin, "--help", NULL};
  pid_t pid = spawn(help, err_path, out_path);
  int st = wait_exit(pid, 10);
  char *out = read_all(out_path, NULL);
  check(st == 0 && out && strstr(out, "usage: convsearch-server") && strstr(out, "--tokens"),
        "--help prints usage and exits 0");
  free(out);
}

static void t_isolation(void) {
  resp a, b;
  /* Someone else's conversation reads exactly like a missing one. */
  get("/v1/conversations/2000", "portal1", &a);
  get("/v1/conversations/999999", "portal1", &b);
  check(a.status == 404 && b.status == 404 && a.body && b.body && !strcmp(a.body, b.body),
        "another employee's conversation is indistinguishable from a missing one");
  resp_free(&a);
  resp_free(&b);
  get("/v1/conversations/2000", "jwt1", &a);
  get("/v1/conversations/999999", "jwt1", &b);
  check(a.status == 404 && a.body && b.body && !strcmp(a.body, b.body),
        "same with a per-employee token");
  resp_free(&a);
  resp_free(&b);

  /* Neither list nor suggestions cross employees, whatever the token kind. */
  static const char *const who[][2] = {
      {"portal1", "1"}, {"jwt1", "1"}, {"portal2", "2"}, {"jwt2", "2"}};
  for (size_t i = 0; i < 4; i++) {
    get("/v1/patients?limit=100", who[i][0], &a);
    json_t *it;
    size_t k;
    int own = a.status == 200 && json_array_size(json_object_get(a.json, "items")) > 0;
    json_array_foreach(json_object_get(a.json, "items"), k, it) {
      own &= json_integer_value(json_object_get(it, "owner_id")) == atoll(who[i][1]);
    }
    check(own, "%s sees only employee %s's people", who[i][0], who[i][1]);
    resp_free(&a);
  }
  static const char *const words[] = {"clan", "mart", "f", "secr", "pasap"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    char p[128];
    snprintf(p, sizeof p, "/v1/suggest?q=%s", words[i]);
    get(p, "portal1", &a);
    json_t *it;
    size_t k;
    int clean = a.status == 200;
    json_array_foreach(json_object_get(a.json, "suggestions"), k, it) {
      const char *t = json_string_value(json_object_get(it, "text"));
      clean &= strcmp(t, "clandestino") && strcmp(t, "marta") && strcmp(t, "fátima") &&
               strcmp(t, "secreta") && strcmp(t, "pasaporte") && !strstr(t, "Fátima") &&
               !strstr(t, "Marta");
    }
    check(clean, "employee 1's suggestions for \"%s\" hold nothing of employee 2: %s", words[i],
          a.body);
    resp_free(&a);
  }
}

/* Percent-encodes s for a query string. */
static void url_encode(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (; *s && o + 4 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
      out[o++] = (char)c;
    else
      o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
  }
  out[o] = 0;
}

/* The conversation ids of a search's hits. */
static int hit_has(const resp *r, json_int_t id) {
  json_t *h;
  size_t k;
  json_array_foreach(json_object_get(r->json, "hits"), k, h) {
    if (json_integer_value(json_object_get(h, "conversation_id")) == id) return 1;
  }
  return 0;
}

/* A suggestion never leads to an empty search: for every caller and many
 * prefixes, each person /v1/suggest offers, searched by the suggestion's
 * text, finds all of that person's conversations the caller sees (those a
 * search filtered on the person lists). */
static void t_suggested_people(void) {
  static const char *const toks[] = {"admin", "analyst", "portal1", "portal2", "jwt1", "jwt2"};
  static const char *const prefixes[] = {"a",       "%C3%A1", "al", "e",       "f",  "f%C3%A1", "g",
                                         "g%C3%BC", "m",      "ma", "n",       "nu", "%C3%B1",  "o",
                                         "%C3%B3",  "p",      "pa", "persona", "s",  "z"};
  int offered = 0, ok = 1;
  for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++) {
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
      char path[1024];
      snprintf(path, sizeof path, "/v1/suggest?q=%s&limit=20", prefixes[i]);
      resp s;
      get(path, toks[t], &s);
      json_t *it;
      size_t k;
      json_array_foreach(json_object_get(s.json, "suggestions"), k, it) {
        if (strcmp(json_string_value(json_object_get(it, "kind")), "person")) continue;
        json_int_t id = json_integer_value(json_object_get(it, "id"));
        char q[512];
        url_encode(json_string_value(json_object_get(it, "text")), q, sizeof q);
        resp own, found;
        snprintf(path, sizeof path, "/v1/search?patient=%" JSON_INTEGER_FORMAT "&limit=50", id);
        get(path, toks[t], &own);
        snprintf(path, sizeof path, "/v1/search?q=%s&limit=50", q);
        get(path, toks[t], &found);
        json_t *h;
        size_t j;
        int all = found.status == 200;
        json_array_foreach(json_object_get(own.json, "hits"), j, h) {
          offered++;
          all &= hit_has(&found, json_integer_value(json_object_get(h, "conversation_id")));
        }
        if (!all) {
          ok = 0;
          check(0, "%s: suggested person %" JSON_INTEGER_FORMAT " [%s] searched: %s", toks[t], id,
                json_string_value(json_object_get(it, "text")), found.body);
        }
        resp_free(&own);
        resp_free(&found);
      }
      resp_free(&s);
    }
  }
  check(ok && offered >= 3,
        "every suggested person's conversations are found by the suggestion (%d checked)", offered);
}

static void t_abuse(void) {
  resp r;
  /* A 20 KB query: far past q's limit, within a request head's (32 KiB). */
  size_t n = 20000;
  char *path = malloc(n + 64);
  strcpy(path, "/v1/search?q=");
  size_t l = strlen(path);
  for (size_t i = 0; i < n; i++)
    path[l + i] = i % 8 == 7 ? '+' : 'a';
  path[l + n] = 0;
  request("GET", path, token_value("portal1"), NULL, NULL, 0, &r);
  check(r.status == 400 && error_code(&r) && !strcmp(error_code(&r), "query_too_long"),
        "20 KB query -> 400 query_too_long (got %d)", r.status);
  resp_free(&r);
  /* 10,000 terms (short enough to be under the byte limit it is not: both
   * bounds hold). */
  strcpy(path, "/v1/search?q=");
  l = strlen(path);
  for (size_t i = 0; i < 10000; i++) {
    path[l++] = 'a';
    path[l++] = '+';
  }
  path[l] = 0;
  request("GET", path, token_value("portal1"), NULL, NULL, 0, &r);
  check(r.status == 400, "10,000 terms -> 400 (got %d %s)", r.status, error_code(&r));
  resp_free(&r);
  free(path);
  /* A 300 KB request line: refused by the HTTP library, server unharmed. */
  path = malloc(300100);
  strcpy(path, "/v1/search?q=");
  l = strlen(path);
  memset(path + l, 'b', 300000);
  path[l + 300000] = 0;
  request("GET", path, token_value("portal1"), NULL, NULL, 0, &r);
  check(r.status == 414 || r.status == 431 || r.status == 400, "300 KB URL refused (got %d)",
        r.status);
  resp_free(&r);
  free(path);
  /* A header flood. */
  char *hdr = malloc(200000);
  hdr[0] = 0;
  for (int i = 0; i < 2000; i++)
    sprintf(hdr + strlen(hdr), "X-H%d: %080d\r\n", i, i);
  request("GET", "/v1/health", NULL, hdr, NULL, 0, &r);
  check(r.status == 431 || r.status == 400 || r.status == 413, "2,000 headers refused (got %d)",
        r.status);
  resp_free(&r);
  free(hdr);
  /* A 100 KB body, announced and chunked. */
  char *body = malloc(100064);
  strcpy(body, "{\"question\":\"");
  memset(body + 13, 'q', 100000);
  strcpy(body + 100013, "\"}");
  request("POST", "/v1/qa/retrieve", token_value("portal1"), "Content-Type: application/json\r\n",
          body, strlen(body), &r);
  check(r.status == 413 && error_code(&r) && !strcmp(error_code(&r), "too_large"),
        "100 KB body -> 413 too_large (got %d)", r.status);
  resp_free(&r);
  {
    int fd = connect_server();
    memset(&r, 0, sizeof r);
    char head[512];
    snprintf(head, sizeof head,
             "POST /v1/qa/retrieve HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: "
             "Bearer %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
             token_value("portal1"));
    send_all(fd, head, strlen(head));
    size_t len = strlen(body);
    for (size_t off = 0; off < len; off += 8192) {
      size_t c = len - off < 8192 ? len - off : 8192;
      char sz[32];
      snprintf(sz, sizeof sz, "%zx\r\n", c);
      send_all(fd, sz, strlen(sz));
      send_all(fd, body + off, c);
      send_all(fd, "\r\n", 2);
    }
    send_all(fd, "0\r\n\r\n", 5);
    if (read_response(fd, &r, 10) == 0) record_exchange("POST", "/v1/qa/retrieve", &r);
    close(fd);
    check(r.status == 413, "100 KB chunked body -> 413 (got %d)", r.status);
    resp_free(&r);
  }
  free(body);
  /* Garbage instead of HTTP. */
  static const char *const junk[] = {
      "GARBAGE\r\n\r\n", "GET\r\n\r\n", "\x16\x03\x01\x02\x00\x01",
      "GET /v1/health HTTP/9.9\r\n\r\n",
      "GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
    request_raw(junk[i], strlen(junk[i]), &r, 3);
    resp_free(&r);
  }
  get("/v1/health", NULL, &r);
  check(r.status == 200, "the server answers after all the abuse");
  resp_free(&r);
}

/* A client sending one byte a second is cut off while others are served. */
static void t_slow_client(void) {
  int fd = connect_server();
  const char *req = "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  double t0 = now_s();
  int served = 0, tries = 0, cut = 0;
  for (size_t i = 0; i < strlen(req) && now_s() - t0 < 20; i++) {
    if (send_all(fd, req + i, 1)) {
      cut = 1;
      break;
    }
    double next = now_s() + 1;
    while (now_s() < next) {
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 100) > 0) {
        char c;
        ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN)) cut = 1;
        if (k > 0) break; /* an answer: it was not cut */
      }
      if (cut) break;
    }
    if (cut) break;
    resp r;
    tries++;
    served += get("/v1/health", NULL, &r) == 0 && r.status == 200;
    resp_free(&r);
  }
  double took = now_s() - t0;
  close(fd);
  check(cut && took < 15, "slow client cut off after %.1f s (want about 10 s)", took);
  check(served == tries && tries >= 5, "others served meanwhile: %d of %d", served, tries);
}

/* 1,000 idle connections do not stop the server from answering. */
/* The server's open connections as its metrics count them (-1: not read). */
static int open_connections(void) {
  resp r;
  get("/v1/metrics", "admin", &r);
  const char *c = r.body ? strstr(r.body, "\nconvsearch_http_connections_open ") : NULL;
  int n = c ? atoi(c + 34) : -1;
  resp_free(&r);
  return n;
}

static void t_idle(void) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 1200) {
    rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int fds[1000], open_n = 0;
  for (int i = 0; i < 1000; i++) {
    fds[i] = connect_server();
    if (fds[i] >= 0) open_n++;
  }
  check(open_n == 1000, "1,000 idle connections opened (%d)", open_n);
  int ok = 0;
  double t0 = now_s();
  for (int i = 0; i < 50; i++) {
    resp r;
    if (get("/v1/patients?limit=5", "portal1", &r) == 0 && r.status == 200) ok++;
    resp_free(&r);
  }
  double took = now_s() - t0;
  check(ok == 50, "50 requests answered with 1,000 idle connections open (%d, %.2f s)", ok, took);
  int n = open_connections();
  check(n >= 1000, "metrics count the open connections (%d)", n);
  for (int i = 0; i < 1000; i++)
    if (fds[i] >= 0) close(fds[i]);
}

/* A connection handed to a polling thread is served at once however many
 * connections arrived with it. libmicrohttpd's epoll loop drains events in
 * rounds of 128: a round that took the wake-up for a new connection and
 * found no more events slept until the next connection timeout, and a
 * request opened just after 127 others waited 10 s (in this test, one round
 * in 10 to 50 from run to run). Each round here opens 127 connections at
 * once (not waiting for each handshake), then sends one request, 120 times:
 * passing takes about 3 s. Not through connect_from: its bind() takes each
 * local port from the pool that every test shares until TIME_WAIT ends
 * (15,240 connections here), where connect() alone may reuse one towards
 * another address. */
static void t_idle_rounds(void) {
  int rounds = 120, ok = 0;
  double worst = 0;
  char first_fail[160] = "";
  /* First the server has seen the last test's 1,000 connections close:
   * beside a round's 128 they would pass one address's limit
   * (CS_CONN_PER_IP_MAX), whose connections are reset. With both cores
   * busy, round 0's request was reset in 2 runs of 14 before this wait
   * (not proven the cause: 0 of 10 since); a failure says how it failed. */
  double until = now_s() + 10;
  int open_n;
  while ((open_n = open_connections()) > 64 && now_s() < until)
    usleep(20000);
  check(open_n >= 0 && open_n <= 64, "the last test's connections closed (%d open)", open_n);
  for (int k = 0; k < rounds; k++) {
    int fds[127];
    for (int i = 0; i < 127; i++) {
      fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (fds[i] >= 0) (void)connect(fds[i], (struct sockaddr *)&a, sizeof a);
    }
    double t0 = now_s();
    resp r;
    int rc = get("/v1/patients?limit=5", "portal1", &r);
    if (rc == 0 && r.status == 200)
      ok++;
    else if (!first_fail[0])
      snprintf(first_fail, sizeof first_fail, "; round %d: %s, status %d, errno %d (%s)", k,
               rc ? "no answer" : "answered", rc ? 0 : r.status, errno, strerror(errno));
    resp_free(&r);
    if (now_s() - t0 > worst) worst = now_s() - t0;
    for (int i = 0; i < 127; i++)
      if (fds[i] >= 0) close(fds[i]);
    usleep(20000); /* the server sees them close before the next round */
  }
  check(ok == rounds && worst < 5,
        "a request just after 127 new connections, %d times: %d answered, slowest %.2f s%s", rounds,
        ok, worst, first_fail);
}

static void t_metrics(void) {
  resp r;
  get("/v1/metrics", "admin", &r);
  check(r.status == 200, "metrics as admin");
  const char *must[] = {
      "# TYPE convsearch_http_requests_total counter",
      "convsearch_http_requests_total{route=\"/v1/patients\",status=\"200\"}",
      "convsearch_http_requests_total{route=\"unmatched\",status=\"404\"}",
      "# TYPE convsearch_http_request_duration_seconds histogram",
      "convsearch_http_request_duration_seconds_bucket{route=\"/v1/search\",le=\"+Inf\"}",
      "convsearch_http_request_duration_seconds_count{route=\"/v1/suggest\"}",
      "convsearch_http_requests_in_flight 1",
      "convsearch_http_requests_queued 0\n", /* this one was taken by a thread */
      "convsearch_index_lag_seconds ",
      "convsearch_index_documents{kind=\"conversations\"} 4",
      "convsearch_http_connections_timed_out_total ",
      "convsearch_cache_owner_copies_bytes ",
      "convsearch_cache_owner_copies_cap_bytes 100663296\n",
  };
  for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
    check(r.body && strstr(r.body, must[i]), "metrics carry %s", must[i]);
  char ct[128];
  check(header(&r, "Content-Type", ct, sizeof ct) && strstr(ct, "text/plain"),
        "metrics are text/plain");
  resp_free(&r);
  get("/v1/metrics", "portal1", &r);
  check(r.status == 403, "metrics are not for portal tokens");
  resp_free(&r);
}

/* Requests per second over one connection per request, for the report
 * (not a timed assertion). */
static void t_rate(void) {
  double t0 = now_s();
  int n = 0;
  while (now_s() - t0 < 1.0) {
    resp r;
    if (get("/v1/patients?limit=10", "portal1", &r) == 0 && r.status == 200) n++;
    resp_free(&r);
  }
  printf("rate: %d /v1/patients requests in 1 s (one connection each, one client)\n", n);
}

/* ---------------------------------------------------------------- reindex jobs */

/* Starts another server on the index with extra arguments; returns its pid
 * and sets *port_out (exits the test when it does not start). */
static pid_t start_extra(const char *const *extra, const char *log, int *port_out) {
  unlink(log); /* never read an earlier server's "listening on" line */
  const char *args[32] = {server_bin, "--index",   index_dir,   "--listen", "127.0.0.1:0",
                          "--tokens", tokens_path, "--threads", "2"};
  int n = 9;
  if (pseudo_arg) {
    args[n++] = "--pseudonym-secret-file";
    args[n++] = pseudo_arg;
  }
  for (int i = 0; extra[i] && n < 31; i++)
    args[n++] = extra[i];
  args[n] = NULL;
  pid_t pid = spawn(args, log, NULL);
  double end = now_s() + 15;
  *port_out = 0;
  while (now_s() < end) {
    char *text = read_all(log, NULL);
    const char *l = text ? strstr(text, "listening on 127.0.0.1:") : NULL;
    if (l) *port_out = atoi(l + strlen("listening on 127.0.0.1:"));
    free(text);
    if (*port_out) return pid;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) break;
    usleep(20000);
  }
  char *text = read_all(log, NULL);
  fprintf(stderr, "a test server with extra options did not start:\n%s\n", text ? text : "");
  exit(2);
}

static int64_t job_id(const resp *r) {
  return json_integer_value(json_object_get(r->json, "id"));
}

static const char *job_state(const resp *r) {
  return str(json_object_get(r->json, "state"));
}

/* Polls a job until it leaves "running" (at most timeout seconds); r gets
 * the last answer. */
static void job_wait(int64_t id, double timeout, resp *r) {
  char path[64];
  snprintf(path, sizeof path, "/v1/admin/jobs/%lld", (long long)id);
  double end = now_s() + timeout;
  memset(r, 0, sizeof *r);
  for (;;) {
    resp_free(r);
    get(path, "admin", r);
    if (r->status != 200 || strcmp(job_state(r), "running") || now_s() > end) return;
    usleep(50000);
  }
}

static int count_of(const char *hay, const char *needle);

/* The descriptors each polling thread of process pid waits on in poll()
 * (libmicrohttpd names them MHD-single; /proc shows a blocked thread's
 * system call and its arguments, the second being the count): the fewest
 * and the most, their sum, and how many threads were found waiting. */
static int poll_spread(pid_t pid, int *lo, int *hi, int *sum) {
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
  DIR *d = opendir(dir);
  int threads = 0;
  *lo = 1 << 30;
  *hi = 0;
  *sum = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char path[400];
    snprintf(path, sizeof path, "%s/%s/comm", dir, e->d_name);
    char *comm = read_all(path, NULL);
    int mhd = comm && !strncmp(comm, "MHD-single", 10);
    free(comm);
    if (!mhd) continue;
    snprintf(path, sizeof path, "%s/%s/syscall", dir, e->d_name);
    char *sc = read_all(path, NULL);
    long nr = -1;
    unsigned long fds = 0, nfds = 0;
    int polling = sc && sscanf(sc, "%ld %lx %lx", &nr, &fds, &nfds) == 3 && nr == SYS_ppoll;
#ifdef SYS_poll
    polling |= nr == SYS_poll;
#endif
    if (polling) {
      int k = (int)nfds;
      threads++;
      *sum += k;
      if (k < *lo) *lo = k;
      if (k > *hi) *hi = k;
    }
    free(sc);
  }
  if (d) closedir(d);
  return threads;
}

/* Connections are spread evenly over the polling threads, whichever
 * thread is awake when they arrive: 40 connections opened at once on a
 * 4-thread server leave no thread with more than one more than another
 * (libmicrohttpd's own pool let whichever thread woke first accept: 1, 4,
 * 12 and 23 of 45, and a request waits for the other connections of its
 * thread). With 328 descriptors the server takes 100 connections (50 from
 * one address): all 40 and 5 more are served. */
static void t_balance(void) {
  char log[700];
  snprintf(log, sizeof log, "%s/balance-server.log", work);
  spawn_nofile = 328;
  const char *extra[] = {"--threads", "4", "--pollers", "4", NULL};
  int bport = 0, main_port = port;
  pid_t pid = start_extra(extra, log, &bport);
  spawn_nofile = 0;
  char *text = read_all(log, NULL);
  check(text && strstr(text, "4 threads, 4 polling") && strstr(text, " 100 connections"),
        "a server with 328 descriptors takes 100 connections on 4 polling threads");
  free(text);
  port = bport;
  int fds[40], open_n = 0;
  for (int i = 0; i < 40; i++) {
    fds[i] = connect_server();
    if (fds[i] >= 0) open_n++;
  }
  /* Each thread also waits on one descriptor of its own: 44 in all once
   * the 40 are there. */
  int lo = 0, hi = 0, sets = 0, sum = 0;
  for (int i = 0; i < 50; i++) { /* until all 40 are accepted, or 1 s */
    usleep(20000);
    sets = poll_spread(pid, &lo, &hi, &sum);
    if (sets == 4 && sum >= 44) break;
  }
  check(sets == 4 && sum >= 44 && hi - lo <= 1,
        "40 connections spread over 4 polling threads: %d to %d descriptors in each of %d "
        "threads waiting (%d in all)",
        lo, hi, sets, sum);
  int ok = 0;
  for (int i = 0; i < 5; i++) {
    resp r;
    if (get("/v1/health", NULL, &r) == 0 && r.status == 200) ok++;
    resp_free(&r);
  }
  /* Every idle connection is still open and answers. */
  int alive = 0;
  char req[128];
  snprintf(req, sizeof req, "GET /v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  for (int i = 0; i < 40; i++) {
    if (fds[i] < 0) continue;
    resp r;
    if (send_all(fds[i], req, strlen(req)) == 0 && read_response(fds[i], &r, 5) == 0 &&
        r.status == 200)
      alive++;
    resp_free(&r);
    close(fds[i]);
  }
  port = main_port;
  check(open_n == 40 && ok == 5 && alive == 40,
        "40 idle connections and 5 more on a 4-thread server with room for 50 from one "
        "address: %d opened, %d of 5 answered, %d of 40 idle ones answered",
        open_n, ok, alive);
  kill(pid, SIGTERM);
  check(wait_exit(pid, 15) == 0, "the balance server stops cleanly");
}

static int health_on(int fd, int keep_alive);

/* A request that waits (here for a FIFO in the console's directory to be
 * opened by a writer, as a read waits on a slow disk) holds one of the
 * threads answering requests, not the other connections of its polling
 * thread: when each polling thread answered its own connections, the
 * third of four connections on two threads, on the same thread as the
 * first, waited as long as the first did. */
static void t_blocked(void) {
  char dir[600], fifo[700], log[700];
  snprintf(dir, sizeof dir, "%s/blocked-console", work);
  snprintf(fifo, sizeof fifo, "%s/wait.js", dir);
  snprintf(log, sizeof log, "%s/blocked-server.log", work);
  mkdir(dir, 0700);
  unlink(fifo);
  check(mkfifo(fifo, 0600) == 0, "a FIFO made in the console directory");
  const char *extra[] = {"--threads", "2", "--pollers", "2", "--console-dir", dir, NULL};
  int bport = 0, main_port = port;
  pid_t pid = start_extra(extra, log, &bport);
  port = bport;
  int fds[4];
  for (int i = 0; i < 4; i++)
    fds[i] = connect_server();
  const char *wait_req = "GET /console/wait.js HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  check(fds[0] >= 0 && send_all(fds[0], wait_req, strlen(wait_req)) == 0,
        "a request for the FIFO is sent");
  usleep(200000); /* it reaches open() and waits there */
  int ok = 0;
  for (int i = 1; i < 4; i++)
    ok += health_on(fds[i], 1);
  check(ok == 3,
        "while one request waits, the other 3 connections on 2 polling threads are answered: "
        "%d of 3",
        ok);
  /* The writer the server's open() waits for (it has the FIFO open for
   * reading, so a non-blocking open for writing succeeds at once). */
  int w = -1;
  for (int i = 0; i < 150 && w < 0; i++) {
    w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w < 0) usleep(20000);
  }
  if (w >= 0) close(w);
  resp r;
  memset(&r, 0, sizeof r);
  int got = fds[0] >= 0 && read_response(fds[0], &r, 5) == 0;
  check(w >= 0 && got && r.status == 404,
        "once it can go on, the waiting request is answered 404 (not a regular file): %d",
        got ? r.status : -1);
  resp_free(&r);
  for (int i = 0; i < 4; i++)
    if (fds[i] >= 0) close(fds[i]);
  port = main_port;
  kill(pid, SIGTERM);
  check(wait_exit(pid, 15) == 0, "the server with a waiting request stops cleanly");
  unlink(fifo);
  rmdir(dir);
}

/* A connection to the server from local address src (127.0.0.x); with
 * nonblock the connect is only started. -1 on failure. */
static int connect_from(const char *src, int nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  inet_pton(AF_INET, src, &a.sin_addr);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  if (nonblock) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

/* Whether connection fd answers GET /v1/health with 200 (within 3 s);
 * only the head is awaited, so a kept-alive connection stays open. */
static int health_on(int fd, int keep_alive) {
  const char *req = keep_alive ? "GET /v1/health HTTP/1.1\r\nHost: t\r\n\r\n"
                               : "GET /v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  if (fd < 0 || send_all(fd, req, strlen(req)) != 0) return 0;
  char b[1024];
  size_t n = 0;
  double end = now_s() + 3;
  while (n < sizeof b - 1) {
    int left = (int)((end - now_s()) * 1000);
    struct pollfd p = {fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    ssize_t k = recv(fd, b + n, sizeof b - 1 - n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    n += (size_t)k;
    b[n] = 0;
    if (strstr(b, "\r\n\r\n")) break;
  }
  b[n] = 0;
  return n >= 12 && !strncmp(b, "HTTP/1.1 200", 12);
}

/* Starts an extra server with nofile descriptors and threads polling
 * threads (and as many answering) (log: WORK/name-server.log) and points
 * port at it. */
static pid_t start_limited(const char *name, rlim_t nofile, const char *threads) {
  char log[700];
  snprintf(log, sizeof log, "%s/%s-server.log", work, name);
  spawn_nofile = nofile;
  const char *extra[] = {"--threads", threads, "--pollers", threads, NULL};
  int bport = 0;
  pid_t pid = start_extra(extra, log, &bport);
  spawn_nofile = 0;
  port = bport;
  return pid;
}

/* More connections at once than the server takes: the ones over the limit
 * wait, the others are served and the server goes on answering. A
 * 2-thread server with 160 descriptors takes 16 connections (8 per
 * address); of 20 (then 40) opened at once from 10 addresses, 16 are
 * served and the rest wait in the backlog until one closes: all answer, and
 * after they close, 16 from 16 addresses are all served (the counts did
 * not drift). Handing libmicrohttpd daemons connections beyond their
 * share of the limits deadlocked both for good. */
static void t_burst(void) {
  int main_port = port;
  pid_t pid = start_limited("burst", 160, "2");
  for (int round = 0; round < 2; round++) {
    int fds[40], n = round ? 40 : 20, alive = 0;
    char src[32];
    for (int i = 0; i < n; i++) {
      snprintf(src, sizeof src, "127.0.0.%d", 2 + i % 10);
      fds[i] = connect_from(src, 1);
    }
    usleep(500000);
    for (int i = 0; i < n; i++)
      alive += health_on(fds[i], 0);
    for (int i = 0; i < n; i++)
      if (fds[i] >= 0) close(fds[i]);
    check(alive == n,
          "%d connections at once on a server taking 16: %d answered (those over the limit "
          "wait for a close)",
          n, alive);
  }
  usleep(300000);
  int held[16], alive = 0;
  char src[32];
  for (int i = 0; i < 16; i++) {
    snprintf(src, sizeof src, "127.0.1.%d", 2 + i);
    held[i] = connect_from(src, 0);
    usleep(20000);
  }
  for (int i = 0; i < 16; i++)
    alive += health_on(held[i], 1);
  for (int i = 0; i < 16; i++)
    if (held[i] >= 0) close(held[i]);
  resp r;
  int health = get("/v1/health", NULL, &r) == 0 && r.status == 200;
  resp_free(&r);
  port = main_port;
  check(alive == 16 && health,
        "after the bursts, 16 connections from 16 addresses: %d answered; /v1/health: %s", alive,
        health ? "200" : "no answer");
  kill(pid, SIGTERM);
  check(wait_exit(pid, 15) == 0, "the burst server stops cleanly");
}

/* The per-address limit holds for the whole server, not per polling
 * thread: with 168 descriptors (20 connections, 10 per address) on 4
 * threads, one address opens 10 and closes every other one, then another
 * address opens 8: all are served. */
static void t_per_address(void) {
  int main_port = port;
  pid_t pid = start_limited("peraddr", 168, "4");
  int a[10], b[8], a_ok = 0, b_ok = 0;
  for (int i = 0; i < 10; i++) {
    a[i] = connect_from("127.0.0.2", 0);
    usleep(30000);
  }
  for (int i = 0; i < 10; i++)
    a_ok += health_on(a[i], 1);
  for (int i = 0; i < 10; i += 2)
    if (a[i] >= 0) close(a[i]);
  usleep(500000);
  for (int i = 0; i < 8; i++) {
    b[i] = connect_from("127.0.0.3", 0);
    usleep(30000);
  }
  for (int i = 0; i < 8; i++)
    b_ok += health_on(b[i], 1);
  /* An eleventh connection from the first address is over its limit... */
  for (int i = 0; i < 10; i += 2)
    a[i] = connect_from("127.0.0.2", 0);
  int a11 = connect_from("127.0.0.2", 0), over = !health_on(a11, 1);
  for (int i = 0; i < 10; i++)
    if (a[i] >= 0) close(a[i]);
  for (int i = 0; i < 8; i++)
    if (b[i] >= 0) close(b[i]);
  if (a11 >= 0) close(a11);
  port = main_port;
  check(a_ok == 10 && b_ok == 8 && over,
        "10 connections from one address: %d answered; then 8 from another: %d answered; an "
        "11th from the first is %s",
        a_ok, b_ok, over ? "refused" : "served");
  kill(pid, SIGTERM);
  check(wait_exit(pid, 15) == 0, "the per-address server stops cleanly");
  char log[700];
  snprintf(log, sizeof log, "%s/peraddr-server.log", work);
  char *text = read_all(log, NULL);
  check(text && count_of(text, "a client address reached its connection limit") == 1,
        "the refusal is logged, once");
  free(text);
}

static void t_reindex(void) {
  int main_port = port;
  char log[700], log2[700], log3[700], slow[700], fail[700], pidfile[700], text[2048], path[64];
  snprintf(log, sizeof log, "%s/reindex-server1.log", work);
  snprintf(log2, sizeof log2, "%s/reindex-server2.log", work);
  snprintf(log3, sizeof log3, "%s/reindex-server3.log", work);
  snprintf(slow, sizeof slow, "%s/slow-indexer.sh", work);
  snprintf(fail, sizeof fail, "%s/failing-indexer.sh", work);
  snprintf(pidfile, sizeof pidfile, "%s/slow-indexer.pid", work);

  /* Startup refusals. */
  {
    char err_path[700];
    snprintf(err_path, sizeof err_path, "%s/startup.err", work);
    const char *a1[] = {server_bin,
                        "--index",
                        index_dir,
                        "--listen",
                        "127.0.0.1:0",
                        "--tokens",
                        tokens_path,
                        "--reindex-pg",
                        "dbname=x",
                        "--indexer",
                        "/nonexistent/convsearch-indexer",
                        NULL};
    int st = wait_exit(spawn(a1, err_path, NULL), 10);
    char *msg = read_all(err_path, NULL);
    check(st == 1 && msg && strstr(msg, "/nonexistent/convsearch-indexer"),
          "startup refused with an indexer that cannot run: exit %d, %s", st, msg ? msg : "");
    free(msg);
    const char *a2[] = {server_bin, "--index",   index_dir,   "--listen", "127.0.0.1:0",
                        "--tokens", tokens_path, "--indexer", slow,       NULL};
    st = wait_exit(spawn(a2, err_path, NULL), 10);
    msg = read_all(err_path, NULL);
    check(st == 2 && msg && strstr(msg, "--reindex-pg"),
          "--indexer without --reindex-pg is refused: exit %d, %s", st, msg ? msg : "");
    free(msg);
  }

  /* A stand-in indexer that reports progress for half a minute. */
  snprintf(text, sizeof text,
           "#!/bin/sh\n"
           "echo $$ > '%s'\n"
           "echo \"stand-in indexer: $*\" >&2\n"
           "i=0\n"
           "while [ $i -lt 600 ]; do\n"
           "  echo \"{\\\"phase\\\": \\\"events\\\", \\\"done\\\": $i, \\\"total\\\": 600}\"\n"
           "  i=$((i + 1)); sleep 0.05\n"
           "done\n",
           pidfile);
  write_file(slow, text, 0755);
  write_file(fail, "#!/bin/sh\necho 'some progress' \necho 'boom: cannot connect' >&2\nexit 3\n",
             0755);
  unlink(pidfile);
  const char *e1[] = {"--reindex-pg", "host=/nonexistent dbname=x", "--indexer", slow, NULL};
  pid_t pid = start_extra(e1, log, &port);
  resp r, r2;
  request("POST", "/v1/admin/reindex", token_value("admin"), NULL, NULL, 0, &r);
  char loc[128];
  int64_t id = job_id(&r);
  check(r.status == 202 && !strcmp(job_state(&r), "running") && id >= (1LL << 52) &&
            id < (1LL << 53),
        "reindex starts: 202 running, an unguessable id (%d %s)", r.status, r.body);
  snprintf(path, sizeof path, "/v1/admin/jobs/%lld", (long long)id);
  check(header(&r, "Location", loc, sizeof loc) && !strcmp(loc, path), "Location: %s", path);
  check_against_openapi("reindex 202", "POST", "/v1/admin/reindex", &r);
  resp_free(&r);
  request("POST", "/v1/admin/reindex", token_value("admin"), "Content-Type: application/json\r\n",
          "{}", 2, &r);
  check(r.status == 409 && error_code(&r) && !strcmp(error_code(&r), "job_running") &&
            strstr(r.body, path + strlen("/v1/admin/jobs/")),
        "a second reindex while one runs: 409 job_running naming it (%d %s)", r.status, r.body);
  check_against_openapi("reindex 409", "POST", "/v1/admin/reindex", &r);
  resp_free(&r);
  request("POST", "/v1/admin/reindex", token_value("analyst"), NULL, NULL, 0, &r);
  get(path, "portal1", &r2);
  check(r.status == 403 && r2.status == 403, "reindex jobs are for admins (%d, %d)", r.status,
        r2.status);
  resp_free(&r);
  resp_free(&r2);
  usleep(600000);
  get(path, "admin", &r);
  json_t *pr = json_object_get(r.json, "progress");
  check(r.status == 200 && !strcmp(job_state(&r), "running") &&
            !strcmp(str(json_object_get(pr, "phase")), "events") &&
            json_integer_value(json_object_get(pr, "done")) > 0 &&
            json_is_null(json_object_get(r.json, "finished_at")) &&
            json_is_null(json_object_get(r.json, "exit_code")) &&
            strstr(str(json_object_get(r.json, "log_tail")),
                   "stand-in indexer: reindex --pg host=/nonexistent dbname=x --index"),
        "a running job shows its last progress line and its log (%s)", r.body);
  check_against_openapi("job running", "GET", path, &r);
  resp_free(&r);
  snprintf(text, sizeof text, "/v1/admin/jobs/%lld", (long long)(id ^ 1));
  get(text, "admin", &r);
  check(r.status == 404, "an unknown job id is 404 (%d)", r.status);
  resp_free(&r);
  char *pidtext = read_all(pidfile, NULL);
  pid_t child = pidtext ? (pid_t)atoi(pidtext) : 0;
  free(pidtext);
  kill(pid, SIGTERM);
  int st = wait_exit(pid, 20);
  check(st == 0, "the server stops cleanly with a job running (exit %d)", st);
  check(child > 0 && kill(child, 0) != 0 && errno == ESRCH,
        "the running indexer (pid %d) was stopped with the server, and reaped", (int)child);
  char *slog = read_all(log, NULL);
  check(slog && strstr(slog, "stopping reindex job"), "the stop is logged");
  free(slog);

  /* A failing indexer: the job fails with its exit code and log. */
  const char *e2[] = {"--reindex-pg", "dbname=x", "--indexer", fail, NULL};
  pid = start_extra(e2, log2, &port);
  request("POST", "/v1/admin/reindex", token_value("admin"), NULL, NULL, 0, &r);
  id = job_id(&r);
  resp_free(&r);
  job_wait(id, 10, &r);
  check(r.status == 200 && !strcmp(job_state(&r), "failed") &&
            json_integer_value(json_object_get(r.json, "exit_code")) == 3 &&
            json_is_string(json_object_get(r.json, "finished_at")) &&
            strstr(str(json_object_get(r.json, "log_tail")), "boom: cannot connect") &&
            strstr(str(json_object_get(r.json, "log_tail")), "some progress"),
        "a failing indexer: state failed, exit_code 3, its output in log_tail (%s)", r.body);
  snprintf(text, sizeof text, "/v1/admin/jobs/%lld", (long long)id);
  check_against_openapi("job failed", "GET", text, &r);
  resp_free(&r);
  request("POST", "/v1/admin/reindex", token_value("admin"), NULL, NULL, 0, &r);
  int64_t id2 = job_id(&r);
  check(r.status == 202 && id2 != id, "another job may start once the last one ended (%d)",
        r.status);
  resp_free(&r);
  job_wait(id2, 10, &r);
  resp_free(&r);
  get(text, "admin", &r);
  check(r.status == 200 && !strcmp(job_state(&r), "failed"), "earlier jobs are kept");
  resp_free(&r);
  kill(pid, SIGTERM);
  check(wait_exit(pid, 20) == 0, "server with finished jobs stops cleanly");

  /* A real reindex of the test index, picked up by the main server. */
  if (!reindex_pg) {
    printf("SKIPPED: real reindex job (no --reindex-pg)\n");
    port = main_port;
    return;
  }
  port = main_port;
  get("/v1/health", NULL, &r);
  char before[32];
  snprintf(before, sizeof before, "%s", str(json_object_get(r.json, "generation")));
  resp_free(&r);
  const char *e3[] = {"--reindex-pg", reindex_pg, NULL};
  pid = start_extra(e3, log3, &port);
  double t0 = now_s();
  request("POST", "/v1/admin/reindex", token_value("admin"), NULL, NULL, 0, &r);
  id = job_id(&r);
  check(r.status == 202, "real reindex starts (%d %s)", r.status, r.body);
  resp_free(&r);
  job_wait(id, 120, &r);
  pr = json_object_get(r.json, "progress");
  const char *gen = str(json_object_get(pr, "generation"));
  check(r.status == 200 && !strcmp(job_state(&r), "succeeded") &&
            json_integer_value(json_object_get(r.json, "exit_code")) == 0 &&
            !strcmp(str(json_object_get(pr, "phase")), "done") && *gen && strcmp(gen, before),
        "real reindex succeeded with a new generation (was %s): %s", before, r.body);
  printf("reindex job: %s -> %s in %.2f s\n", before, gen, now_s() - t0);
  char after[32];
  snprintf(after, sizeof after, "%s", gen);
  snprintf(text, sizeof text, "/v1/admin/jobs/%lld", (long long)id);
  check_against_openapi("job succeeded", "GET", text, &r);
  resp_free(&r);
  kill(pid, SIGTERM);
  check(wait_exit(pid, 20) == 0, "reindex server stops cleanly");
  port = main_port;
  /* The main server follows the swap by itself. */
  double end = now_s() + 5;
  int moved = 0;
  while (!moved && now_s() < end) {
    get("/v1/health", NULL, &r);
    moved = !strcmp(str(json_object_get(r.json, "generation")), after);
    resp_free(&r);
    if (!moved) usleep(100000);
  }
  check(moved, "the main server serves the new generation %s", after);
  get("/v1/search?q=desahucio", "portal1", &r);
  check(r.status == 200 && json_integer_value(json_object_get(r.json, "total")) == 1,
        "search after the reindex (%d %s)", r.status, r.body);
  resp_free(&r);
}

static void t_sigterm(void) {
  kill(server_pid, SIGTERM);
  int st = wait_exit(server_pid, 15);
  char *log = read_all(server_log, NULL);
  check(st == 0, "SIGTERM: exit status %d (want 0)", st);
  check(log && strstr(log, "stopping on SIGTERM") && strstr(log, "stopped"),
        "SIGTERM: stop logged");
  /* One line per request, and the query string never in the log. */
  check(log && strstr(log, "GET /v1/patients 200") && !strstr(log, "desahucio"),
        "requests logged without their query strings");
  free(log);
  server_pid = 0;
}

/* ---------------------------------------------------------------- hardening */

/* Sends req on a fresh connection that stays open for keep-alive and reads
 * for up to timeout seconds; *closed tells whether the server closed the
 * connection by then. Returns what came (malloc'd, NUL-terminated). */
static char *exchange(const char *req, double timeout, int *closed) {
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap);
  *closed = 0;
  int fd = connect_server();
  if (fd < 0 || send_all(fd, req, strlen(req))) {
    if (fd >= 0) close(fd);
    b[0] = 0;
    return b;
  }
  double end = now_s() + timeout;
  for (;;) {
    int left = (int)((end - now_s()) * 1000);
    struct pollfd p = {fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    if (n + 4096 > cap) b = realloc(b, cap *= 2);
    ssize_t k = recv(fd, b + n, cap - n - 1, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      *closed = 1;
      break;
    }
    n += (size_t)k;
  }
  close(fd);
  b[n] = 0;
  return b;
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* Ambiguous framing (request smuggling): 400 bad_request, the connection
 * closed, and the bytes after the first body never answered as a request
 * of their own. The same pipelined requests with sound framing are both
 * answered, on a connection left open. */
static void t_framing(void) {
  char auth[700];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token_value("portal1"));
  static const char smuggled[] = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
  static const struct {
    const char *what, *head, *body;
  } bad[] = {
      {"Content-Length twice", "Content-Length: 2\r\nContent-Length: 40\r\n", "{}"},
      {"Content-Length twice, same value", "Content-Length: 2\r\nContent-Length: 2\r\n", "{}"},
      {"Content-Length with Transfer-Encoding",
       "Content-Length: 40\r\nTransfer-Encoding: chunked\r\n", "2\r\n{}\r\n0\r\n\r\n"},
      {"Transfer-Encoding with Content-Length",
       "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", "2\r\n{}\r\n0\r\n\r\n"},
      {"Transfer-Encoding other than chunked", "Transfer-Encoding: gzip, chunked\r\n",
       "2\r\n{}\r\n0\r\n\r\n"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char req[2048];
    snprintf(
        req, sizeof req,
        "POST /v1/qa/retrieve HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\n%s\r\n"
        "%s%s",
        auth, bad[i].head, bad[i].body, smuggled);
    int closed;
    double t0 = now_s();
    char *got = exchange(req, 5, &closed);
    char *sep = strstr(got, "\r\n\r\n");
    json_t *j = sep ? json_loads(sep + 4, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    check(!strncmp(got, "HTTP/1.1 400", 12) && code && !strcmp(code, "bad_request") &&
              count_of(got, "HTTP/1.1 ") == 1 && closed && now_s() - t0 < 4,
          "framing (%s): 400 bad_request, one answer, connection closed (closed %d, got %.400s)",
          bad[i].what, closed, got);
    json_decref(j);
    free(got);
  }
  char req[2048];
  snprintf(req, sizeof req,
           "POST /v1/qa/retrieve HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\n"
           "Content-Length: 2\r\n\r\n{}%s",
           auth, smuggled);
  int closed;
  char *got = exchange(req, 1, &closed);
  check(count_of(got, "HTTP/1.1 ") == 2 && strstr(got, "\"status\":\"ok\"") && !closed,
        "sound framing: both pipelined requests answered, connection kept (closed %d, got %.300s)",
        closed, got);
  free(got);
}

/* The case runner checks every expect: line of a case, or fails the case
 * when it has more than it can hold: a case of 70 true expect: lines
 * passes, the same with its last one false fails, and a case of 300 fails
 * (too many lines, said so). */
static void t_runner_limits(void) {
  char dir[700], path[800];
  snprintf(dir, sizeof dir, "%s/runner-cases", work);
  mkdir(dir, 0700);
  const char *saved = cases_dir;
  cases_dir = dir;
  static const struct {
    const char *name;
    int lines, last_false;
  } runs[] = {{"70-true.case", 70, 0}, {"70-last-false.case", 70, 1}, {"300.case", 300, 0}};
  for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
    size_t cap = 64 + (size_t)runs[k].lines * 40, n = 0;
    char *text = malloc(cap);
    n += (size_t)snprintf(text + n, cap - n, "request: GET /v1/health\nstatus: 200\n");
    for (int i = 0; i < runs[k].lines; i++)
      n += (size_t)snprintf(text + n, cap - n, "expect: .status == \"%s\"\n",
                            runs[k].last_false && i == runs[k].lines - 1 ? "false" : "ok");
    snprintf(path, sizeof path, "%s/%s", dir, runs[k].name);
    write_file(path, text, 0600);
    free(text);
    int before = failed;
    quiet = 1;
    run_case(runs[k].name);
    quiet = 0;
    int failures = failed - before;
    failed = before; /* those failures were the point */
    int want_fail = runs[k].last_false || runs[k].lines > CASE_EXPECT_MAX;
    check(want_fail ? failures >= 1 : failures == 0, "the case runner %s %s (%d failures)",
          want_fail ? "fails" : "passes", runs[k].name, failures);
  }
  cases_dir = saved;
}

/* --token-max-ttl 60: a per-employee token with an hour to live is refused
 * (401 token_lifetime_too_long, naming the cap); service tokens are not
 * concerned. */
static void t_token_ttl_option(void) {
  int main_port = port;
  char log[700];
  snprintf(log, sizeof log, "%s/ttl-server.log", work);
  const char *extra[] = {"--token-secret-file", secret_path, "--token-max-ttl", "60", NULL};
  pid_t pid = start_extra(extra, log, &port);
  resp r;
  get("/v1/patients", "jwt1", &r);
  check(r.status == 401 && error_code(&r) && !strcmp(error_code(&r), "token_lifetime_too_long") &&
            strstr(r.body, "60 seconds"),
        "--token-max-ttl 60: a token with an hour to live -> 401 token_lifetime_too_long (%d %s)",
        r.status, r.body);
  resp_free(&r);
  get("/v1/patients", "portal1", &r);
  check(r.status == 200, "--token-max-ttl 60: service tokens still work (%d)", r.status);
  resp_free(&r);
  kill(pid, SIGTERM);
  check(wait_exit(pid, 15) == 0, "the --token-max-ttl server stops cleanly");
  port = main_port;
}

/* Analysts' names of every person, by id, from a server on port p. */
static json_t *analyst_names(int p) {
  int saved = port;
  port = p;
  resp r;
  get("/v1/patients?limit=100", "analyst", &r);
  port = saved;
  json_t *names = json_object();
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(r.json, "items"), i, it) {
    char id[24];
    snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(it, "id")));
    json_object_set(names, id, json_object_get(it, "name"));
  }
  resp_free(&r);
  return names;
}

/* Pseudonyms are keyed: "Persona " and 13 base32 characters (never the
 * unkeyed 6 hex digits of before, see test_pseudonym), the same after
 * a restart with the same secret (or with the default secret file the
 * server made in the index directory), different with another secret,
 * never the unkeyed form of the id. */
static void t_pseudonyms(void) {
  json_t *main_names = analyst_names(port);
  int shaped = json_object_size(main_names) >= 10;
  const char *id;
  json_t *v;
  json_object_foreach(main_names, id, v) {
    const char *n = json_string_value(v);
    shaped &= n && strlen(n) == 21 && !strncmp(n, "Persona ", 8) &&
              strspn(n + 8, "0123456789abcdefghjkmnpqrstvwxyz") == 13;
  }
  check(shaped, "analysts see \"Persona \" and 13 base32 characters for each of %zu people",
        json_object_size(main_names));

  char log[700], other[700], dflt[700];
  snprintf(log, sizeof log, "%s/pseudo-server.log", work);
  const char *none[] = {NULL};
  int p;
  pid_t pid = start_extra(none, log, &p); /* a restart: same secret file */
  json_t *again = analyst_names(p);
  check(json_equal(again, main_names), "same secret, another server process: same pseudonyms");
  json_decref(again);
  kill(pid, SIGTERM);
  wait_exit(pid, 15);

  snprintf(other, sizeof other, "%s/pseudonym-secret-2", work);
  write_file(other, "another pseudonym secret, 32 bytes\n", 0600);
  pseudo_arg = other;
  pid = start_extra(none, log, &p);
  json_t *diff = analyst_names(p);
  int all_differ = json_object_size(diff) == json_object_size(main_names);
  json_object_foreach(main_names, id, v) all_differ &= !json_equal(v, json_object_get(diff, id));
  check(all_differ, "another secret: every pseudonym differs");
  json_decref(diff);
  kill(pid, SIGTERM);
  wait_exit(pid, 15);

  /* No option: DIR/pseudonym.secret, made once (0600) and kept. */
  snprintf(dflt, sizeof dflt, "%s/pseudonym.secret", index_dir);
  pseudo_arg = NULL;
  pid = start_extra(none, log, &p);
  json_t *d1 = analyst_names(p);
  kill(pid, SIGTERM);
  wait_exit(pid, 15);
  struct stat st;
  check(stat(dflt, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 65,
        "without --pseudonym-secret-file the server keeps a 0600 secret in %s", dflt);
  pid = start_extra(none, log, &p);
  json_t *d2 = analyst_names(p);
  check(json_object_size(d1) >= 10 && json_equal(d1, d2) && !json_equal(d1, main_names),
        "the default secret file: the same pseudonyms after a restart");
  json_decref(d1);
  json_decref(d2);
  kill(pid, SIGTERM);
  wait_exit(pid, 15);
  pseudo_arg = pseudo_path;
  json_decref(main_names);
}

/* The thesaurus and the hunspell dictionary are optional: a server whose
 * files are absent says so once in its log, each, and answers questions
 * without expanding them ("domicilio" then finds no "vivienda"); the main
 * server (Debian's mythes-es and hunspell-es, installed by
 * scripts/setup.sh) loaded both. */
static void t_thesaurus_absent(void) {
  char *main_log = read_all(server_log, NULL);
  check(main_log && strstr(main_log, "thesaurus: ") && strstr(main_log, " headwords from ") &&
            strstr(main_log, "lemmas: hunspell dictionary "),
        "the main server loaded the thesaurus and the hunspell dictionary");
  free(main_log);
  int main_port = port;
  char log[700];
  snprintf(log, sizeof log, "%s/no-thesaurus-server.log", work);
  const char *extra[] = {"--thesaurus", "/nonexistent/th_es_ES_v2.dat", "--hunspell",
                         "/nonexistent/es_ES", NULL};
  pid_t pid = start_extra(extra, log, &port);
  static const char q[] = "{\"question\": \"\u00bfCu\u00e1l es su domicilio?\"}";
  resp r;
  request("POST", "/v1/qa/retrieve", token_value("portal1"), "Content-Type: application/json\r\n",
          q, strlen(q), &r);
  json_t *passages = r.json ? json_object_get(r.json, "passages") : NULL;
  check(r.status == 200 && json_is_array(passages) && json_array_size(passages) == 0,
        "without a thesaurus, \"domicilio\" finds no passage (%d %s)", r.status, r.body);
  resp_free(&r);
  port = main_port;
  request("POST", "/v1/qa/retrieve", token_value("portal1"), "Content-Type: application/json\r\n",
          q, strlen(q), &r);
  passages = r.json ? json_object_get(r.json, "passages") : NULL;
  check(r.status == 200 && json_array_size(passages) >= 1 &&
            json_integer_value(json_object_get(json_array_get(passages, 0), "conversation_id")) ==
                1000,
        "with the thesaurus, \"domicilio\" finds the \"vivienda\" of conversation 1000 (%d %s)",
        r.status, r.body);
  resp_free(&r);
  kill(pid, SIGTERM);
  check(wait_exit(pid, 15) == 0, "the server without a thesaurus stops cleanly");
  char *text = read_all(log, NULL);
  const char *line = "thesaurus: cannot open /nonexistent/th_es_ES_v2.dat; questions are not "
                     "expanded with synonyms";
  const char *first = text ? strstr(text, line) : NULL;
  check(first && !strstr(first + 1, line), "one clear log line for the absent thesaurus");
  check(text && strstr(text, "lemmas: cannot read /nonexistent/es_ES.aff"),
        "one log line for the absent hunspell dictionary");
  free(text);
}

/* ---------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr, "usage: test_http --server BIN --index DIR --cases DIR --openapi FILE "
                  "[--work DIR] [--skip NEED,...] [--only SUBSTRING] [--reindex-pg CONNINFO] "
                  "[--exchanges FILE]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *work_arg = NULL;
  for (int i = 1; i < argc && strcmp(argv[1], "--dump-openapi"); i++) {
    const char **slot = !strcmp(argv[i], "--server")       ? &server_bin
                        : !strcmp(argv[i], "--index")      ? &index_dir
                        : !strcmp(argv[i], "--cases")      ? &cases_dir
                        : !strcmp(argv[i], "--openapi")    ? &openapi_path
                        : !strcmp(argv[i], "--work")       ? &work_arg
                        : !strcmp(argv[i], "--skip")       ? &skip_list
                        : !strcmp(argv[i], "--only")       ? &only
                        : !strcmp(argv[i], "--reindex-pg") ? &reindex_pg
                        : !strcmp(argv[i], "--exchanges")  ? &exchanges_path
                                                           : NULL;
    if (!slot || i + 1 >= argc) usage();
    *slot = argv[++i];
  }
  /* --dump-openapi FILE: print the document as this reader sees it (to
   * compare with another YAML parser) and exit. */
  if (argc == 3 && !strcmp(argv[1], "--dump-openapi")) {
    char err[512];
    json_t *doc = yaml_load(argv[2], err, sizeof err);
    if (!doc) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    json_dumpf(doc, stdout, JSON_SORT_KEYS | JSON_INDENT(1));
    json_decref(doc);
    return 0;
  }
  if (!server_bin || !index_dir || !cases_dir || !openapi_path) usage();
  if (!skip_list) skip_list = getenv("CS_HTTP_SKIP");
  signal(SIGPIPE, SIG_IGN);
  if (work_arg) {
    snprintf(work, sizeof work, "%s", work_arg);
    mkdir(work, 0700);
  } else {
    snprintf(work, sizeof work, "/tmp/test_http.XXXXXX");
    if (!mkdtemp(work)) {
      perror("mkdtemp");
      return 2;
    }
  }
  if (exchanges_path && !(exchanges = fopen(exchanges_path, "w"))) {
    perror(exchanges_path);
    return 2;
  }
  setup_tokens();
  check_document();
  t_startup();
  start_server();
  printf("server on 127.0.0.1:%d (log %s)\n", port, server_log);
  run_cases();
  if (!only) {
    static const struct {
      const char *name;
      void (*run)(void);
    } checks[] = {{"isolation", t_isolation},
                  {"suggested people", t_suggested_people},
                  {"abuse", t_abuse},
                  {"metrics", t_metrics},
                  {"rate", t_rate},
                  {"balance", t_balance},
                  {"blocked", t_blocked},
                  {"burst", t_burst},
                  {"per_address", t_per_address},
                  {"idle", t_idle},
                  {"idle rounds", t_idle_rounds},
                  {"slow client", t_slow_client},
                  {"reindex", t_reindex},
                  {"framing", t_framing},
                  {"runner limits", t_runner_limits},
                  {"token ttl option", t_token_ttl_option},
                  {"pseudonyms", t_pseudonyms},
                  {"thesaurus absent", t_thesaurus_absent}};
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
      label = checks[i].name;
      checks[i].run();
    }
  }
  t_sigterm();
  json_decref(openapi);
  if (exchanges) fclose(exchanges);
  printf("test_http: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed ? 1 : 0;
}
