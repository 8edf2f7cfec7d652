/*
 * fake-opensearch: a loopback server that implements the subset of the
 * OpenSearch REST API that convsearch's mirror uses, as the official API
 * specification describes it, plus fault injection for tests.
 *
 *   fake-opensearch --listen 127.0.0.1:PORT [--port-file FILE]
 *                   [--gc-deletes TIME] [--plugin analysis-icu]
 *
 * PORT 0 picks a free port, written to --port-file once the server accepts
 * connections. One line per request goes to stderr. SIGTERM or SIGINT stop
 * it. State lives in memory only.
 *
 * HTTP. libmicrohttpd, one thread per connection (so that an injected delay
 * holds only its own connection). Request bodies are capped at 64 MiB before
 * and after decompression (Content-Encoding: gzip or deflate); a body must
 * come with a Content-Type OpenSearch accepts (406 otherwise). Answers are
 * gzip'd when the client accepts gzip, as OpenSearch does with
 * http.compression on.
 *
 * Control endpoints (never subject to faults):
 *   POST /_fake/faults  {"seed", "bulk_item_429_rate", "bulk_item_500_rate",
 *                        "http_status", "http_status_rate", "delay_ms",
 *                        "drop_connection_rate", "lose_response_rate",
 *                        "down", "down_mode": "503"|"close",
 *                        "bulk_503_every": N (every Nth _bulk request 503)}
 *                       replaces the whole fault configuration (absent keys
 *                       are off); "seed" restarts the random sequence.
 *   GET  /_fake/faults  the configuration;  GET /_fake/stats  counters;
 *   POST /_fake/reset   drops every index and template and zeroes counters;
 *   GET  /_fake/routes  the implemented routes and their parameters.
 */
#include "api.h"
#include "fos.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---------------------------------------------------------------- faults */

typedef struct faults {
  double item_429, item_500, status_rate, drop_rate, lose_rate;
  int status, delay_ms, down, down_close, bulk_every;
  uint64_t rng, bulks; /* bulks: _bulk requests seen since the faults were set */
} faults;

typedef struct stats {
  uint64_t requests, bulk_requests, bulk_items, items_failed, requests_failed, dropped, lost,
      delayed, refused_down;
} stats;

static fos_cluster cluster;
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static faults fcfg = {.rng = 0x9E3779B97F4A7C15ULL};
static stats st;

/* xorshift64*: deterministic for a seed. Call with fault_lock held. */
static double rnd(void) {
  uint64_t x = fcfg.rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  fcfg.rng = x;
  return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static int draw(double rate) {
  return rate > 0 && rnd() < rate;
}

static int item_fault(void) {
  pthread_mutex_lock(&fault_lock);
  int f = draw(fcfg.item_429) ? 429 : draw(fcfg.item_500) ? 500 : 0;
  st.bulk_items++;
  if (f) st.items_failed++;
  pthread_mutex_unlock(&fault_lock);
  return f;
}

static json_t *faults_json(void) {
  return json_pack("{s:f, s:f, s:i, s:f, s:i, s:f, s:f, s:b, s:s, s:i}", "bulk_item_429_rate",
                   fcfg.item_429, "bulk_item_500_rate", fcfg.item_500, "http_status", fcfg.status,
                   "http_status_rate", fcfg.status_rate, "delay_ms", fcfg.delay_ms,
                   "drop_connection_rate", fcfg.drop_rate, "lose_response_rate", fcfg.lose_rate,
                   "down", fcfg.down, "down_mode", fcfg.down_close ? "close" : "503",
                   "bulk_503_every", fcfg.bulk_every);
}

/* Replaces the fault configuration from a JSON object. */
static json_t *faults_set(json_t *j) {
  faults f = {0};
  f.rng = fcfg.rng;
  const char *k;
  json_t *v;
  json_object_foreach(j, k, v) {
    double *rate = !strcmp(k, "bulk_item_429_rate")     ? &f.item_429
                   : !strcmp(k, "bulk_item_500_rate")   ? &f.item_500
                   : !strcmp(k, "http_status_rate")     ? &f.status_rate
                   : !strcmp(k, "drop_connection_rate") ? &f.drop_rate
                   : !strcmp(k, "lose_response_rate")   ? &f.lose_rate
                                                        : NULL;
    if (rate) {
      if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)
        return fos_cause("illegal_argument_exception", "[%s] must be a number in [0, 1]", k);
      *rate = json_number_value(v);
    } else if (!strcmp(k, "http_status")) {
      json_int_t s = json_integer_value(v);
      if (!json_is_integer(v) || (s != 0 && (s < 400 || s > 599)))
        return fos_cause("illegal_argument_exception", "[http_status] must be 0 or 400..599");
      f.status = (int)s;
    } else if (!strcmp(k, "delay_ms")) {
      if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 120000)
        return fos_cause("illegal_argument_exception", "[delay_ms] must be 0..120000");
      f.delay_ms = (int)json_integer_value(v);
    } else if (!strcmp(k, "bulk_503_every")) {
      if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
        return fos_cause("illegal_argument_exception", "[bulk_503_every] must be 0..1000000");
      f.bulk_every = (int)json_integer_value(v);
    } else if (!strcmp(k, "down")) {
      if (!json_is_boolean(v))
        return fos_cause("illegal_argument_exception", "[down] is a boolean");
      f.down = json_is_true(v);
    } else if (!strcmp(k, "down_mode")) {
      const char *m = json_string_value(v);
      if (!m || (strcmp(m, "503") && strcmp(m, "close")))
        return fos_cause("illegal_argument_exception", "[down_mode] is \"503\" or \"close\"");
      f.down_close = !strcmp(m, "close");
    } else if (!strcmp(k, "seed")) {
      if (!json_is_integer(v))
        return fos_cause("illegal_argument_exception", "[seed] is an integer");
      f.rng = (uint64_t)json_integer_value(v) * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
      if (!f.rng) f.rng = 1;
    } else {
      return fos_cause("illegal_argument_exception", "unknown fault [%s]", k);
    }
  }
  if (f.status_rate > 0 && !f.status)
    return fos_cause("illegal_argument_exception", "[http_status_rate] needs [http_status]");
  fcfg = f;
  return NULL;
}

/* The control endpoints. Lock order: the cluster lock is never taken while
 * fault_lock is held (bulk takes fault_lock inside the cluster lock). */
static void control(const char *method, const char *path, const char *body, size_t len,
                    fos_reply *rp) {
  if (!strcmp(path, "/_fake/faults") && !strcmp(method, "POST")) {
    json_t *cause, *j = len ? fos_json_parse(body, len, &cause) : json_object();
    if (!j) {
      fos_reply_error(rp, 400, cause);
      return;
    }
    if (!json_is_object(j)) {
      fos_reply_error(rp, 400, fos_cause("parse_exception", "faults must be an object"));
      json_decref(j);
      return;
    }
    pthread_mutex_lock(&fault_lock);
    cause = faults_set(j);
    json_t *now = faults_json();
    pthread_mutex_unlock(&fault_lock);
    if (cause) {
      fos_reply_error(rp, 400, cause);
      json_decref(now);
    } else {
      char *s = json_dumps(j, JSON_COMPACT);
      fos_log("faults set: %s", s ? s : "");
      free(s);
      fos_reply_json(rp, 200, now);
    }
    json_decref(j);
  } else if (!strcmp(path, "/_fake/faults") && !strcmp(method, "GET")) {
    pthread_mutex_lock(&fault_lock);
    fos_reply_json(rp, 200, faults_json());
    pthread_mutex_unlock(&fault_lock);
  } else if (!strcmp(path, "/_fake/stats") && !strcmp(method, "GET")) {
    pthread_mutex_lock(&fault_lock);
    stats s = st;
    pthread_mutex_unlock(&fault_lock);
    pthread_mutex_lock(&cluster.lock);
    json_int_t docs = 0, nix = (json_int_t)cluster.n;
    for (size_t i = 0; i < cluster.n; i++)
      docs += (json_int_t)cluster.ix[i]->live;
    pthread_mutex_unlock(&cluster.lock);
    fos_reply_json(rp, 200,
                   json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests",
                             (json_int_t)s.requests, "bulk_requests", (json_int_t)s.bulk_requests,
                             "bulk_items", (json_int_t)s.bulk_items, "items_failed_injected",
                             (json_int_t)s.items_failed, "requests_failed_injected",
                             (json_int_t)s.requests_failed, "connections_dropped",
                             (json_int_t)s.dropped, "responses_lost", (json_int_t)s.lost,
                             "requests_delayed", (json_int_t)s.delayed, "refused_down",
                             (json_int_t)s.refused_down, "indices", nix, "docs", docs));
  } else if (!strcmp(path, "/_fake/reset") && !strcmp(method, "POST")) {
    pthread_mutex_lock(&cluster.lock);
    fos_cluster_reset(&cluster);
    pthread_mutex_unlock(&cluster.lock);
    pthread_mutex_lock(&fault_lock);
    memset(&st, 0, sizeof st);
    pthread_mutex_unlock(&fault_lock);
    fos_log("reset: every index and template dropped");
    fos_reply_json(rp, 200, json_pack("{s:b}", "acknowledged", 1));
  } else if (!strcmp(path, "/_fake/routes") && !strcmp(method, "GET")) {
    json_t *a = json_array();
    for (const fos_route *r = fos_routes(); r->method; r++) {
      json_t *words = json_array();
      for (const char *p = r->params; *p;) {
        while (*p == ' ')
          p++;
        size_t n = strcspn(p, " ");
        if (n) json_array_append_new(words, json_stringn(p, n));
        p += n;
      }
      json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "method", r->method, "path", r->pattern,
                                         "params", words));
    }
    fos_reply_json(rp, 200, a);
  } else {
    fos_reply_json(rp, 400,
                   json_pack("{s:s, s:i}", "error", "unknown control endpoint", "status", 400));
  }
}

/* ---------------------------------------------------------------- HTTP */

typedef struct request {
  char *body;
  size_t len, cap;
  int too_large;
  int64_t start;
} request;

static enum MHD_Result collect_arg(void *ctx, enum MHD_ValueKind kind, const char *key,
                                   const char *value) {
  (void)kind;
  json_object_set_new(ctx, key, value ? json_string(value) : json_null());
  return MHD_YES;
}

/* Inflates a gzip or zlib body; returns 0, or an HTTP status. */
static int inflate_body(const char *in, size_t len, char **out, size_t *outlen) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 32) != Z_OK) return 500;
  size_t cap = len * 4 + 1024, n = 0;
  if (cap > FOS_BODY_MAX + 1) cap = FOS_BODY_MAX + 1;
  char *buf = malloc(cap);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  int zr = Z_OK;
  while (zr != Z_STREAM_END) {
    if (n == cap) {
      if (cap > FOS_BODY_MAX) break;
      cap = cap * 2 > FOS_BODY_MAX + 1 ? FOS_BODY_MAX + 1 : cap * 2;
      buf = realloc(buf, cap);
    }
    z.next_out = (Bytef *)buf + n;
    z.avail_out = (uInt)(cap - n);
    zr = inflate(&z, Z_NO_FLUSH);
    n = cap - z.avail_out;
    if (zr != Z_OK && zr != Z_STREAM_END) break;
    if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) break; /* truncated */
  }
  inflateEnd(&z);
  if (n > FOS_BODY_MAX) {
    free(buf);
    return 413;
  }
  if (zr != Z_STREAM_END) {
    free(buf);
    return 400;
  }
  *out = buf;
  *outlen = n;
  return 0;
}

static int gzip_text(const char *in, size_t len, char **out, size_t *outlen) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
  size_t cap = deflateBound(&z, (uLong)len) + 64;
  char *buf = malloc(cap);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)buf;
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

static int accepts_gzip(struct MHD_Connection *conn) {
  const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
  return ae && strstr(ae, "gzip");
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, fos_reply *rp, const char *method,
                                  const char *url, json_t *query, request *r, const char *note) {
  char *text = NULL;
  size_t len = 0;
  if (rp->body) {
    text = json_dumps(rp->body, JSON_COMPACT);
    len = text ? strlen(text) : 0;
  }
  int gz = 0;
  if (len && accepts_gzip(conn)) {
    char *z;
    size_t zl;
    if (!gzip_text(text, len, &z, &zl)) {
      free(text);
      text = z;
      len = zl;
      gz = 1;
    }
  }
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, text ? text : (void *)"", text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(resp, "Content-Type", "application/json; charset=UTF-8");
  if (gz) MHD_add_response_header(resp, "Content-Encoding", "gzip");
  enum MHD_Result ok = MHD_queue_response(conn, (unsigned)rp->status, resp);
  MHD_destroy_response(resp);
  char qs[300] = "";
  const char *k;
  json_t *v;
  json_object_foreach(query, k, v) {
    size_t used = strlen(qs);
    snprintf(qs + used, sizeof qs - used, "%c%s%s%s", used ? '&' : '?', k,
             json_is_string(v) ? "=" : "", json_is_string(v) ? json_string_value(v) : "");
  }
  fos_log("%s %.200s%s %d %zuB %lldms%s%s", method, url, qs, rp->status, r->len,
          (long long)(fos_mono_ms() - r->start), note ? " " : "", note ? note : "");
  return ok;
}

static int content_type_ok(struct MHD_Connection *conn) {
  const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
  if (!ct) return 0;
  static const char *const ok[] = {"application/json",
                                   "application/x-ndjson",
                                   "application/yaml",
                                   "application/smile",
                                   "application/cbor",
                                   "application/vnd.opensearch+json",
                                   NULL};
  for (int i = 0; ok[i]; i++) {
    if (!strncasecmp(ct, ok[i], strlen(ok[i]))) return 1;
  }
  return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls) {
  (void)cls;
  (void)version;
  request *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    r->start = fos_mono_ms();
    *con_cls = r;
    return MHD_YES;
  }
  if (*upload_size) {
    if (r->len + *upload_size > FOS_BODY_MAX) {
      r->too_large = 1;
    } else {
      if (r->len + *upload_size + 1 > r->cap) {
        size_t cap = (r->len + *upload_size + 1) * 2;
        if (cap > FOS_BODY_MAX + 1) cap = FOS_BODY_MAX + 1;
        char *p = realloc(r->body, cap);
        if (!p) return MHD_NO;
        r->body = p;
        r->cap = cap;
      }
      memcpy(r->body + r->len, upload_data, *upload_size);
      r->len += *upload_size;
    }
    *upload_size = 0;
    return MHD_YES;
  }
  fos_reply rp = {200, NULL};
  json_t *query = json_object();
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, query);
  enum MHD_Result ret;
  if (!strncmp(url, "/_fake/", 7)) {
    control(method, url, r->body, r->len, &rp);
    ret = send_reply(conn, &rp, method, url, query, r, NULL);
    json_decref(rp.body);
    json_decref(query);
    return ret;
  }
  /* Faults decided up front, in a fixed order, for a reproducible run. */
  pthread_mutex_lock(&fault_lock);
  st.requests++;
  int down = fcfg.down, down_close = fcfg.down_close, delay = fcfg.delay_ms;
  int drop = !down && draw(fcfg.drop_rate);
  int fail = !down && !drop && draw(fcfg.status_rate) ? fcfg.status : 0;
  int is_bulk = strstr(url, "/_bulk") != NULL;
  if (is_bulk && !down && !drop && fcfg.bulk_every && ++fcfg.bulks % (uint64_t)fcfg.bulk_every == 0)
    fail = 503;
  int lose = !down && !drop && !fail && draw(fcfg.lose_rate);
  if (down) st.refused_down++;
  if (drop) st.dropped++;
  if (fail) st.requests_failed++;
  if (lose) st.lost++;
  if (delay) st.delayed++;
  if (is_bulk) st.bulk_requests++;
  pthread_mutex_unlock(&fault_lock);
  if (down && down_close) {
    fos_log("%s %.200s closed (fault: down)", method, url);
    json_decref(query);
    return MHD_NO;
  }
  if (drop) {
    fos_log("%s %.200s dropped (fault: drop_connection_rate)", method, url);
    json_decref(query);
    return MHD_NO;
  }
  if (delay) {
    struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
  }
  const char *note = NULL;
  if (down) {
    fos_reply_error(&rp, 503,
                    fos_cause("cluster_block_exception",
                              "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered "
                              "/ initialized]; (fake-opensearch: down)"));
    note = "(fault: down)";
  } else if (fail) {
    if (fail == 429)
      fos_reply_error(&rp, 429,
                      fos_cause("rejected_execution_exception",
                                "rejected execution of coordinating operation "
                                "(injected by fake-opensearch: http_status_rate)"));
    else
      fos_reply_error(&rp, fail,
                      fos_cause("cluster_block_exception",
                                "blocked by: [SERVICE_UNAVAILABLE/2/no master]; "
                                "(injected by fake-opensearch: http_status_rate)"));
    note = "(fault: http_status_rate)";
  } else if (r->too_large) {
    fos_reply_json(&rp, 413, NULL);
  } else if (r->len && !content_type_ok(conn)) {
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    char msg[300];
    snprintf(msg, sizeof msg, "Content-Type header [%.200s] is not supported", ct ? ct : "");
    fos_reply_json(&rp, 406, json_pack("{s:s, s:i}", "error", msg, "status", 406));
  } else {
    char *body = r->body;
    size_t len = r->len;
    const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
    int bad = 0;
    if (len && ce && (!strcasecmp(ce, "gzip") || !strcasecmp(ce, "deflate"))) {
      int zst = inflate_body(r->body, r->len, &body, &len);
      if (zst) {
        bad = 1;
        if (zst == 413)
          fos_reply_json(&rp, 413, NULL);
        else
          fos_reply_error(
              &rp, 400,
              fos_cause("illegal_argument_exception", "request body is not valid %s data", ce));
      }
    } else if (len && ce && strcasecmp(ce, "identity")) {
      bad = 1;
      fos_reply_error(
          &rp, 400,
          fos_cause("illegal_argument_exception", "unsupported Content-Encoding [%s]", ce));
    }
    if (!bad) {
      fos_req rq;
      memset(&rq, 0, sizeof rq);
      rq.c = &cluster;
      rq.method = method;
      rq.path = url;
      rq.query = query;
      rq.body = body ? body : "";
      rq.body_len = len;
      rq.start_ms = fos_now_ms();
      pthread_mutex_lock(&cluster.lock);
      fos_dispatch(&rq, &rp);
      pthread_mutex_unlock(&cluster.lock);
      if (body != r->body) free(body);
    }
  }
  if (lose) {
    fos_log("%s %.200s %d processed, response dropped (fault: lose_response_rate)", method, url,
            rp.status);
    json_decref(rp.body);
    json_decref(query);
    return MHD_NO;
  }
  ret = send_reply(conn, &rp, method, url, query, r, note);
  json_decref(rp.body);
  json_decref(query);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  request *r = *con_cls;
  if (!r) return;
  free(r->body);
  free(r);
  *con_cls = NULL;
}

/* ---------------------------------------------------------------- main */

static int listen_on(const char *spec, int *port_out) {
  char host[256];
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host) return -1;
  memcpy(host, spec, (size_t)(colon - spec));
  host[colon - spec] = 0;
  char *h = host;
  if (h[0] == '[') { /* [::1]:9200 */
    h++;
    h[strlen(h) - 1] = 0;
  }
  struct addrinfo hints = {0}, *ai;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if (getaddrinfo(h, colon + 1, &hints, &ai)) return -1;
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return -1;
  }
  freeaddrinfo(ai);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

static int write_port_file(const char *path, int port) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "%d\n", port);
  if (fclose(f) || rename(tmp, path)) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static void usage(FILE *to) {
  fprintf(to, "usage: fake-opensearch --listen HOST:PORT [--port-file FILE] [--gc-deletes TIME]\n"
              "                       [--plugin analysis-icu]\n"
              "An in-memory OpenSearch subset for tests (see tests/opensearch/README.md).\n"
              "  --listen HOST:PORT  address to serve; PORT 0 picks a free port\n"
              "  --port-file FILE    write the port there once listening\n"
              "  --gc-deletes TIME   forget delete tombstones after TIME (OpenSearch: 60s);\n"
              "                      default: keep them forever\n"
              "  --plugin NAME       accept the components of a plugin (analysis-icu)\n");
}

int main(int argc, char **argv) {
  const char *listen_spec = NULL, *port_file = NULL;
  fos_cluster_init(&cluster);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--listen") && val) {
      listen_spec = val;
      i++;
    } else if (!strcmp(a, "--port-file") && val) {
      port_file = val;
      i++;
    } else if (!strcmp(a, "--gc-deletes") && val) {
      if (fos_parse_time(val, &cluster.gc_deletes_default)) {
        fprintf(stderr, "fake-opensearch: bad --gc-deletes value [%s]\n", val);
        return 2;
      }
      i++;
    } else if (!strcmp(a, "--plugin") && val) {
      if (strcmp(val, "analysis-icu")) {
        fprintf(stderr, "fake-opensearch: unknown plugin [%s]\n", val);
        return 2;
      }
      cluster.icu_plugin = 1;
      i++;
    } else {
      fprintf(stderr, "fake-opensearch: bad argument [%s]\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!listen_spec) {
    fprintf(stderr, "fake-opensearch: --listen HOST:PORT is required\n");
    usage(stderr);
    return 2;
  }
  int port = 0, fd = listen_on(listen_spec, &port);
  if (fd < 0) {
    fprintf(stderr, "fake-opensearch: cannot listen on %s: %s\n", listen_spec, strerror(errno));
    return 1;
  }
  /* Signals go to sigwait() below, not to the server's threads. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  fos_bulk_item_fault = item_fault;
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0, NULL,
      NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "fake-opensearch: cannot start the HTTP server\n");
    close(fd);
    return 1;
  }
  if (port_file && write_port_file(port_file, port)) {
    fprintf(stderr, "fake-opensearch: cannot write %s: %s\n", port_file, strerror(errno));
    MHD_stop_daemon(d);
    close(fd);
    return 1;
  }
  fos_log("listening on %s (port %d), OpenSearch %s subset", listen_spec, port, FOS_VERSION_NUMBER);
  int sig = 0;
  sigwait(&set, &sig);
  fos_log("stopping on signal %d", sig);
  MHD_stop_daemon(d);
  close(fd);
  fos_cluster_free(&cluster);
  return 0;
}
