/*
 * The HTTP server (see server.h).
 *
 * Contexts. Each connection gets a `conn` (libmicrohttpd's socket context)
 * that lives from accept to close; each request gets a `req` (its request
 * context) from the first call of the access handler to the completion
 * callback. The access handler is called once when the head is complete,
 * once per piece of body, and once more (with no data) when the request is
 * whole: only then is it answered.
 *
 * Slow clients. libmicrohttpd's timeout counts idle time, which a client
 * sending one byte a second never reaches. A reaper thread therefore gives
 * every connection a deadline to deliver a whole request and shuts down the
 * socket of any connection past it; libmicrohttpd then sees end-of-file and
 * closes the connection in its own thread. The reaper acts on a dup() of the
 * socket, owned by the conn and closed only when libmicrohttpd reports the
 * connection closed, so it can never hit a descriptor number that has been
 * reused for another connection.
 *
 * URL decoding. Our unescape callback decodes strictly and records malformed
 * escapes and %00 on the connection; the request then gets a 400 instead of
 * libmicrohttpd's lenient decoding.
 *
 * CORS (cors.h). The Origin header is matched when the head arrives, so
 * that every answer, early refusals included, carries the CORS headers of
 * an allowed origin; a preflight is answered here, before routes.c, which
 * knows nothing of browsers.
 */
#include "server.h"

#include "admit.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "routes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Body bytes read and dropped past CS_BODY_MAX before giving up on a
 * chunked upload and closing the connection without an answer. */
#define CS_DROP_MAX (1u << 20)

typedef struct conn {
  struct conn *prev, *next;
  int fd;          /* dup of the socket, for the reaper; -1 if none */
  double deadline; /* monotonic seconds; 0 while a whole request is answered */
  int cut;
  unsigned url_flags; /* CS_URL_* of the request being parsed */
  char ip[INET6_ADDRSTRLEN];
} conn;

typedef struct args_ctx {
  cs_arg v[CS_ARGS_MAX];
  int n;
} args_ctx;

typedef struct req {
  double start;
  cs_route_id route;
  int method;
  char method_name[8];
  char path[96]; /* for the log: cut and made printable */
  unsigned url_flags;
  char *body;
  size_t body_len;
  int too_large;  /* body over CS_BODY_MAX: the rest is dropped */
  int close;      /* answer with Connection: close (framing refused) */
  size_t dropped; /* bytes dropped */
  int responded;
  int status;
  size_t resp_len;
  char code[32];
  int authenticated;
  cs_caller caller;
  const char *cors_origin; /* the configured origin the request came from, or NULL */
  int preflight;           /* answering a CORS preflight */
  int vary_origin;         /* CORS is on: answers depend on Origin */
  /* The request handed to a worker (pool.h), its connection suspended
   * meanwhile; rq points into the connection's memory, which libmicrohttpd
   * keeps until the request completes. */
  cs_pool_job job;
  struct cs_server *srv;
  struct MHD_Connection *mc;
  args_ctx args;
  cs_request rq;
  cs_reply rp;
  int prepared; /* rq is filled */
  int queued;   /* handed to a worker */
  int answered; /* rp is the answer (set by the worker) */
} req;

/* Polling threads: each its own libmicrohttpd daemon, fed by our acceptor. */
#define CS_POLL_MAX 256

struct cs_server {
  struct MHD_Daemon *d[CS_POLL_MAX];
  unsigned nd;
  cs_pool *pool;   /* the workers that answer whole requests */
  int closing;     /* stopping: queued work is not done (atomic; cs_server_stop) */
  cs_admit *admit; /* the limits, counted by the acceptor */
  pthread_t acceptor;
  int acceptor_started;
  int stop_pipe[2]; /* written to stop the acceptor or wake it (room again) */
  cs_api api;
  const cs_cors *cors;
  int listen_fd;
  char address[INET6_ADDRSTRLEN + 16];
  pthread_mutex_t lock; /* conns and their deadlines */
  conn *conns;
  pthread_t reaper;
  pthread_cond_t wake;
  int stopping;
  int reaper_started;
};

/* ---------------------------------------------------------------- helpers */

static conn *conn_of(struct MHD_Connection *mc) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void set_deadline(cs_server *s, conn *c, double when) {
  if (!c) return;
  pthread_mutex_lock(&s->lock);
  c->deadline = when;
  pthread_mutex_unlock(&s->lock);
}

static void printable(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  for (; src[i] && i + 1 < cap; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[i] = ch < 0x21 || ch > 0x7e ? '?' : (char)ch;
  }
  dst[i] = 0;
  if (src[i] && cap > 4) memcpy(dst + cap - 4, "...", 4);
}

static const char *role_name(int role) {
  switch (role) {
  case CS_CALLER_ADMIN:
    return "admin";
  case CS_CALLER_ANALYST:
    return "analyst";
  case CS_CALLER_PORTAL:
    return "portal";
  default:
    return "-";
  }
}

/* ---------------------------------------------------------------- callbacks */

static void on_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = 0;
  cs_log(CS_LOG_WARN, "libmicrohttpd: %s", buf);
}

static size_t on_unescape(void *cls, struct MHD_Connection *mc, char *s) {
  (void)cls;
  unsigned flags = 0;
  size_t n = cs_unescape(s, &flags);
  conn *c = conn_of(mc);
  if (c) c->url_flags |= flags;
  return n;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  cs_server *s = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) cs_admit_started(s->admit, ci->connect_fd);
    conn *c = calloc(1, sizeof *c);
    if (!c) return; /* no deadline for this one; the idle timeout still holds */
    c->fd = -1;
    if (ci) c->fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0);
    ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
      const struct sockaddr *sa = ci->client_addr;
      if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->ip, sizeof c->ip);
      else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->ip, sizeof c->ip);
    }
    if (!c->ip[0]) snprintf(c->ip, sizeof c->ip, "-");
    pthread_mutex_lock(&s->lock);
    c->deadline = cs_mono_seconds() + CS_REQUEST_TIMEOUT_S;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    pthread_mutex_unlock(&s->lock);
    *socket_context = c;
    cs_metrics_connections(1);
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    /* The descriptor is still open (closed after this); a release at the
     * limit wakes the acceptor. */
    if (ci && cs_admit_release(s->admit, ci->connect_fd)) {
      ssize_t w = write(s->stop_pipe[1], "x", 1);
      (void)w;
    }
    conn *c = *socket_context;
    if (!c) return;
    pthread_mutex_lock(&s->lock);
    if (c->prev) c->prev->next = c->next;
    if (c->next) c->next->prev = c->prev;
    if (s->conns == c) s->conns = c->next;
    pthread_mutex_unlock(&s->lock);
    if (c->fd >= 0) close(c->fd);
    free(c);
    *socket_context = NULL;
    cs_metrics_connections(-1);
  }
}

static void *reaper_main(void *arg) {
  cs_server *s = arg;
  pthread_mutex_lock(&s->lock);
  while (!s->stopping) {
    struct timespec ts = cs_clock_after_ms(CLOCK_MONOTONIC, 250);
    pthread_cond_timedwait(&s->wake, &s->lock, &ts);
    double now = cs_mono_seconds();
    int cut = 0;
    char ip[INET6_ADDRSTRLEN] = "";
    for (conn *c = s->conns; c; c = c->next) {
      if (c->cut || c->fd < 0 || c->deadline == 0 || now < c->deadline) continue;
      c->cut = 1;
      shutdown(c->fd, SHUT_RDWR);
      cs_metrics_timed_out();
      if (!cut++) snprintf(ip, sizeof ip, "%s", c->ip);
    }
    /* One line per sweep, written without the lock: a flood of slow
     * clients must not make request threads wait on the log. */
    if (cut) {
      pthread_mutex_unlock(&s->lock);
      cs_log(CS_LOG_INFO, "closed %d connection%s (%s%s) that sent no whole request within %d s",
             cut, cut > 1 ? "s" : "", ip, cut > 1 ? " and others" : "", CS_REQUEST_TIMEOUT_S);
      pthread_mutex_lock(&s->lock);
    }
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

/* Streamed bodies: libmicrohttpd pulls the next block when the socket can
 * take it (chunked encoding, so memory stays bounded however long the
 * body), and frees the stream when the response is done or the client went
 * away. A stream that breaks ends the connection without the final chunk,
 * so the client sees an incomplete body rather than a short one.
 *
 * The body is made by the answering threads, a buffer at a time, in the
 * queue's order like whole requests (an export walks the index to make its
 * lines, and one of a selective query may walk far for little output):
 * when the buffer is empty, the connection is suspended and a worker fills
 * it. The polling thread only copies it out. */
#define CS_STREAM_BLOCK (32u << 10)
#define CS_STREAM_BUFFER (128u << 10)

enum { SS_EMPTY, SS_FILLED, SS_END, SS_BROKEN };

typedef struct sstream {
  cs_pool_job job;
  cs_server *srv;
  struct MHD_Connection *mc;
  cs_stream *st;
  int state; /* SS_* (set by the worker before it resumes the connection) */
  size_t len, off;
  char buf[CS_STREAM_BUFFER];
} sstream;

/* A worker's part of a stream: the next buffer, then the connection back
 * to its polling thread. A server that is stopping breaks the stream. */
static void fill_job(cs_pool_job *j) {
  sstream *ss = (sstream *)((char *)j - offsetof(sstream, job));
  ssize_t n = __atomic_load_n(&ss->srv->closing, __ATOMIC_ACQUIRE)
                  ? -1
                  : cs_stream_read(ss->st, ss->buf, sizeof ss->buf);
  ss->len = n > 0 ? (size_t)n : 0;
  ss->off = 0;
  __atomic_store_n(&ss->state, n < 0 ? SS_BROKEN : n == 0 ? SS_END : SS_FILLED, __ATOMIC_RELEASE);
  MHD_resume_connection(ss->mc);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  sstream *ss = cls;
  int st = __atomic_load_n(&ss->state, __ATOMIC_ACQUIRE);
  if (st == SS_FILLED && ss->off < ss->len) {
    size_t n = ss->len - ss->off < max ? ss->len - ss->off : max;
    memcpy(buf, ss->buf + ss->off, n);
    ss->off += n;
    return (ssize_t)n;
  }
  if (st == SS_END) return MHD_CONTENT_READER_END_OF_STREAM;
  if (st == SS_BROKEN) return MHD_CONTENT_READER_END_WITH_ERROR;
  /* Empty: filled by a worker while the connection waits (0: nothing yet;
   * libmicrohttpd asks again once it is resumed). */
  MHD_suspend_connection(ss->mc);
  if (cs_pool_submit(ss->srv->pool, &ss->job)) fill_job(&ss->job); /* stopping */
  return 0;
}

static void stream_free(void *cls) {
  sstream *ss = cls;
  cs_stream_close(ss->st);
  free(ss);
}

/* Sends rp; takes its body (or stream). */
static enum MHD_Result respond(struct MHD_Connection *mc, req *r, cs_reply *rp) {
  struct MHD_Response *resp;
  if (rp->stream) {
    /* The stream stays with rp on failure, closed by cs_reply_free. */
    sstream *ss = malloc(sizeof *ss);
    if (!ss) return MHD_NO;
    ss->srv = r->srv;
    ss->mc = mc;
    ss->st = rp->stream;
    ss->state = SS_EMPTY;
    ss->len = ss->off = 0;
    ss->job.run = fill_job;
    ss->job.heavy = 1; /* an export's lines walk the index (pool.h) */
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, CS_STREAM_BLOCK, stream_read, ss,
                                             stream_free);
    if (!resp) {
      free(ss);
      return MHD_NO;
    }
    rp->stream = NULL;
  } else {
    resp =
        MHD_create_response_from_buffer(rp->len, rp->body ? rp->body : "",
                                        rp->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    rp->body = NULL;
  }
  if (rp->content_type)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rp->content_type);
  /* Answers hold personal data: never cached by anything in between. */
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  if (rp->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rp->allow);
  if (rp->csp) {
    MHD_add_response_header(resp, "Content-Security-Policy", rp->csp);
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  }
  if (r->close) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  if (rp->location[0]) MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, rp->location);
  if (rp->www_authenticate)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            rp->www_authenticate == 2
                                ? "Bearer realm=\"convsearch\", error=\"invalid_token\""
                                : "Bearer realm=\"convsearch\"");
  if (r->vary_origin) MHD_add_response_header(resp, "Vary", "Origin");
  if (r->cors_origin) {
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->cors_origin);
    if (r->preflight) {
      MHD_add_response_header(resp, "Access-Control-Allow-Methods", CS_CORS_METHODS);
      MHD_add_response_header(resp, "Access-Control-Allow-Headers", CS_CORS_HEADERS);
      MHD_add_response_header(resp, "Access-Control-Max-Age", CS_CORS_MAX_AGE);
    } else if (rp->www_authenticate || rp->location[0]) {
      MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Location, WWW-Authenticate");
    }
  }
  enum MHD_Result ok = MHD_queue_response(mc, (unsigned)rp->status, resp);
  MHD_destroy_response(resp);
  r->responded = 1;
  r->status = rp->status;
  r->resp_len = rp->len;
  snprintf(r->code, sizeof r->code, "%s", rp->code);
  r->authenticated = rp->authenticated;
  r->caller = rp->caller;
  return ok;
}

static enum MHD_Result respond_error(struct MHD_Connection *mc, req *r, int status,
                                     const char *code, const char *msg) {
  cs_reply rp;
  memset(&rp, 0, sizeof rp);
  cs_reply_error(&rp, status, code, "%s", msg);
  enum MHD_Result ok = respond(mc, r, &rp);
  cs_reply_free(&rp);
  return ok;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size) {
  (void)kind;
  args_ctx *a = cls;
  if (a->n < 0) return MHD_NO;
  if (a->n == CS_ARGS_MAX) {
    a->n = -1;
    return MHD_NO;
  }
  cs_arg *x = &a->v[a->n++];
  x->key = key ? key : "";
  x->klen = key ? key_size : 0;
  x->val = value ? value : "";
  x->vlen = value ? value_size : 0;
  return MHD_YES;
}

/* ---------------------------------------------------------------- framing */

/* Framing that two HTTP parsers could read differently (RFC 9112 section
 * 6.3): Content-Length given twice, Content-Length together with
 * Transfer-Encoding, or a transfer coding other than chunked (a
 * Content-Length that is not a number is refused by libmicrohttpd itself).
 * A proxy in front might take a different body length than ours, and the
 * bytes after the body would be read as another request (request
 * smuggling). Such a request gets 400 and its connection is closed. */
typedef struct framing {
  int cl, te;
  const char *why;
} framing;

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
  (void)kind;
  framing *f = cls;
  if (!key) return MHD_YES;
  const char *v = value ? value : "";
  if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
    if (++f->cl > 1 && !f->why) f->why = "Content-Length is given more than once";
  } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
    if ((++f->te > 1 || strcasecmp(v, "chunked") != 0) && !f->why)
      f->why = "the only Transfer-Encoding accepted is a single \"chunked\"";
  }
  return MHD_YES;
}

/* NULL when the framing is sound, else why it is not. */
static const char *framing_problem(struct MHD_Connection *mc) {
  framing f = {0, 0, NULL};
  MHD_get_connection_values(mc, MHD_HEADER_KIND, framing_header, &f);
  if (!f.why && f.cl && f.te) f.why = "Content-Length and Transfer-Encoding are both given";
  return f.why;
}

static int method_of(const char *m) {
  if (!strcmp(m, "GET")) return CS_M_GET;
  if (!strcmp(m, "HEAD")) return CS_M_HEAD;
  if (!strcmp(m, "POST")) return CS_M_POST;
  if (!strcmp(m, "PUT")) return CS_M_PUT;
  return CS_M_OTHER;
}

/* A worker's part of a request: the answer, then the connection back to
 * its polling thread. */
static void answer_job(cs_pool_job *j) {
  req *r = (req *)((char *)j - offsetof(req, job));
  cs_metrics_queued(-1);
  if (__atomic_load_n(&r->srv->closing, __ATOMIC_ACQUIRE))
    cs_reply_error(&r->rp, 503, "unavailable", "the server is stopping");
  else
    cs_api_handle(&r->srv->api, &r->rq, &r->rp);
  __atomic_store_n(&r->answered, 1, __ATOMIC_RELEASE);
  MHD_resume_connection(r->mc);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls) {
  (void)version;
  cs_server *s = cls;
  req *r = *req_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    *req_cls = r;
    r->srv = s;
    r->start = cs_mono_seconds();
    cs_metrics_in_flight(1);
    conn *c = conn_of(mc);
    if (c) {
      r->url_flags = c->url_flags;
      c->url_flags = 0;
    }
    r->method = method_of(method);
    printable(r->method_name, sizeof r->method_name, method);
    printable(r->path, sizeof r->path, url);
    uint64_t id;
    int id_ok;
    r->route = cs_route_find(url, &id, &id_ok);
    if (s->cors) {
      r->vary_origin = 1;
      r->cors_origin = cs_cors_match(
          s->cors, MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN));
    }
    const char *bad_framing = framing_problem(mc);
    if (bad_framing) {
      r->close = 1;
      return respond_error(mc, r, 400, "bad_request", bad_framing);
    }
    /* Refuse an announced oversized body before reading any of it. */
    const char *cl =
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
      char *end;
      errno = 0;
      unsigned long long n = strtoull(cl, &end, 10);
      if (errno || *end || n > CS_BODY_MAX)
        return respond_error(mc, r, 413, "too_large", "the request body is larger than 64 KiB");
    }
    return MHD_YES;
  }
  if (r->responded) {
    *upload_size = 0;
    return MHD_YES;
  }
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    if (r->too_large) {
      /* Read and drop the rest (libmicrohttpd cannot answer mid-body), but
       * not forever. */
      r->dropped += n;
      return r->dropped > CS_DROP_MAX ? MHD_NO : MHD_YES;
    }
    if (r->body_len + n > CS_BODY_MAX) {
      r->too_large = 1;
      free(r->body);
      r->body = NULL;
      r->body_len = 0;
      return MHD_YES;
    }
    char *b = realloc(r->body, r->body_len + n + 1);
    if (!b) return MHD_NO;
    memcpy(b + r->body_len, upload, n);
    r->body = b;
    r->body_len += n;
    r->body[r->body_len] = 0;
    return MHD_YES;
  }

  if (__atomic_load_n(&r->answered, __ATOMIC_ACQUIRE)) { /* back from the worker */
    enum MHD_Result ok = respond(mc, r, &r->rp);
    cs_reply_free(&r->rp);
    return ok;
  }
  if (r->queued) return MHD_YES; /* (suspended: not called meanwhile) */
  if (r->prepared) {
    /* Answered by a worker, in the order requests became whole;
     * libmicrohttpd calls again once the worker resumes the connection.
     * Suspended before it is queued, so that the resume always finds it
     * suspended, and only on this second call: libmicrohttpd 0.9.75 reads
     * a resumed connection first when it was suspended while still
     * reading (the first call), and a client that shut down its side
     * after its request then lost its answer (the connection closed as an
     * error). After a first call without an answer it waits on us
     * without reading, and the suspension keeps it so. */
    r->queued = 1;
    r->mc = mc;
    r->job.run = answer_job;
    r->job.heavy = cs_route_heavy(r->route); /* at most threads - 1 at once */
    MHD_suspend_connection(mc);
    cs_metrics_queued(1);
    if (cs_pool_submit(s->pool, &r->job)) answer_job(&r->job); /* stopping */
    return MHD_YES;
  }
  /* The request is whole: the deadline no longer applies to it. */
  set_deadline(s, conn_of(mc), 0);
  if (r->too_large)
    return respond_error(mc, r, 413, "too_large", "the request body is larger than 64 KiB");
  if (r->cors_origin && !strcmp(method, "OPTIONS") && r->route != CS_R_NONE && !r->url_flags &&
      MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Access-Control-Request-Method")) {
    cs_reply rp;
    memset(&rp, 0, sizeof rp);
    rp.status = 204;
    r->preflight = 1;
    return respond(mc, r, &rp);
  }
  r->args.n = 0;
  MHD_get_connection_values_n(mc, MHD_GET_ARGUMENT_KIND, collect_arg, &r->args);
  cs_request *rq = &r->rq;
  rq->method = r->method;
  rq->path = url;
  rq->url_flags = r->url_flags;
  rq->args = r->args.v;
  rq->nargs = r->args.n;
  rq->authorization =
      MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  rq->content_type = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  rq->accept = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
  rq->body = r->body;
  rq->body_len = r->body_len;
  r->prepared = 1; /* handed to a worker on the next call (above) */
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  cs_server *s = cls;
  req *r = *req_cls;
  if (!r) return;
  *req_cls = NULL;
  double dt = cs_mono_seconds() - r->start;
  char who[48];
  if (r->authenticated && r->caller.role == CS_CALLER_PORTAL)
    snprintf(who, sizeof who, "portal:%llu", (unsigned long long)r->caller.employee_id);
  else
    snprintf(who, sizeof who, "%s", r->authenticated ? role_name(r->caller.role) : "-");
  conn *c = conn_of(mc);
  const char *ip = c ? c->ip : "-";
  /* The query string is never logged: it holds what people said. */
  if (r->responded) {
    cs_metrics_observe(r->route, r->status, dt);
    cs_log(r->status >= 500 ? CS_LOG_WARN : CS_LOG_INFO, "%s %s %d %.1fms %zuB %s %s%s%s%s",
           r->method_name, r->path, r->status, dt * 1000, r->resp_len, who, ip,
           r->code[0] ? " error=" : "", r->code,
           toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (not fully sent)");
  } else {
    cs_log(CS_LOG_INFO, "%s %s aborted after %.1fms (client went away or timed out) %s",
           r->method_name, r->path, dt * 1000, ip);
  }
  cs_metrics_in_flight(-1);
  /* The next request on this connection gets a fresh deadline. */
  set_deadline(s, c, cs_mono_seconds() + CS_REQUEST_TIMEOUT_S);
  cs_reply_free(&r->rp); /* answered, but the connection failed before it was sent */
  free(r->body);
  free(r);
}

/* ---------------------------------------------------------------- acceptor */

/* Accepts every connection and hands it to the polling thread that holds
 * the fewest. libmicrohttpd's own thread pool lets whichever thread wakes
 * first accept, so under a burst of connections one thread took four times
 * the connections of another (7 to 33 of 64 clients): its clients waited
 * four times as long, and it reached its share of the connection limit
 * while the others had room. */
static void *acceptor_main(void *arg) {
  cs_server *s = arg;
  struct pollfd p[2] = {{s->listen_fd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
  double warned = -1e9, refused_warned = -1e9;
  for (;;) {
    /* At the connection limit, new connections wait in the backlog until a
     * close makes room (and wakes us), as with libmicrohttpd's own pool. */
    p[0].fd = cs_admit_full(s->admit) ? -1 : s->listen_fd;
    int ready = poll(p, 2, p[0].fd < 0 ? 5000 : -1);
    if (ready == 0) {
      /* Full for 5 s: any connection a daemon dropped without a notification
       * (out of memory)? A daemon starts what it is handed on its next loop,
       * so one not started after a minute never will be. */
      unsigned n = cs_admit_sweep(s->admit, cs_mono_seconds() - 60);
      if (n) cs_log(CS_LOG_WARN, "%u connections were dropped without a close notification", n);
      continue;
    }
    if (ready < 0) {
      if (errno != EINTR) poll(NULL, 0, 50); /* out of memory: try again */
      continue;
    }
    if (p[1].revents) {
      char drain[64];
      while (read(s->stop_pipe[0], drain, sizeof drain) > 0) {
      }
      pthread_mutex_lock(&s->lock);
      int stop = s->stopping;
      pthread_mutex_unlock(&s->lock);
      if (stop) return NULL;
    }
    while (p[0].fd >= 0 && p[0].revents && !cs_admit_full(s->admit)) {
      struct sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          /* Out of descriptors or memory: the connection waits in the
           * backlog until a close makes room (said once a minute at most). */
          double now = cs_mono_seconds();
          if (now - warned > 60) {
            cs_log(CS_LOG_WARN, "cannot accept a connection: %s", strerror(errno));
            warned = now;
          }
          poll(NULL, 0, 50);
        }
        break;
      }
      /* Over its address's limit: closed before any daemon sees it (said
       * once a minute at most, as libmicrohttpd said it). */
      unsigned best = 0;
      double now = cs_mono_seconds();
      if (!cs_admit_take(s->admit, fd, (struct sockaddr *)&ss, now, &best)) {
        close(fd);
        if (now - refused_warned > 60) {
          cs_log(CS_LOG_WARN, "a client address reached its connection limit: closing its "
                              "new connections");
          refused_warned = now;
        }
        continue;
      }
      /* The daemon owns fd from here; when it refuses it (out of memory),
       * it has closed it already. */
      if (MHD_add_connection(s->d[best], fd, (struct sockaddr *)&ss, sl) != MHD_YES)
        cs_admit_release(s->admit, fd);
    }
  }
}

/* ---------------------------------------------------------------- start/stop */

static int split_listen(const char *spec, char *host, size_t hcap, char *port, size_t pcap) {
  const char *colon;
  if (spec[0] == '[') {
    const char *close = strchr(spec, ']');
    if (!close || close[1] != ':') return -1;
    size_t n = (size_t)(close - spec - 1);
    if (n == 0 || n >= hcap) return -1;
    memcpy(host, spec + 1, n);
    host[n] = 0;
    colon = close + 1;
  } else {
    colon = strrchr(spec, ':');
    if (!colon || strchr(spec, ':') != colon) return -1;
    size_t n = (size_t)(colon - spec);
    if (n == 0 || n >= hcap) return -1;
    memcpy(host, spec, n);
    host[n] = 0;
  }
  const char *p = colon + 1;
  size_t pn = strlen(p);
  if (pn == 0 || pn > 5 || pn >= pcap) return -1;
  long v = 0;
  for (size_t i = 0; i < pn; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    v = v * 10 + (p[i] - '0');
  }
  if (v > 65535) return -1;
  memcpy(port, p, pn + 1);
  return 0;
}

static int open_listener(const char *spec, int *fd_out, int *v6, char *addr, size_t acap, char *err,
                         size_t cap) {
  char host[256], port[8];
  if (split_listen(spec, host, sizeof host, port, sizeof port)) {
    snprintf(err, cap, "--listen takes HOST:PORT (or [IPv6]:PORT), not \"%s\"", spec);
    return -1;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int g = getaddrinfo(host, port, &hints, &res);
  if (g) {
    snprintf(err, cap, "cannot resolve %s: %s", host, gai_strerror(g));
    return -1;
  }
  int fd = -1, saved = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      saved = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
      *v6 = ai->ai_family == AF_INET6;
      break;
    }
    saved = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    snprintf(err, cap, "cannot listen on %s: %s", spec, strerror(saved));
    return -1;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char ip[INET6_ADDRSTRLEN] = "?";
  unsigned p = 0;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET) {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
      p = ntohs(a->sin_port);
      snprintf(addr, acap, "%s:%u", ip, p);
    } else {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
      p = ntohs(a->sin6_port);
      snprintf(addr, acap, "[%s]:%u", ip, p);
    }
  }
  *fd_out = fd;
  return 0;
}

int cs_server_start(const cs_server_opts *o, cs_engine *e, const cs_auth *a, cs_server **out,
                    char *err, size_t cap) {
  *out = NULL;
  cs_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, cap, "out of memory");
    return -1;
  }
  s->api.engine = e;
  s->api.auth = a;
  s->api.jobs = o->jobs;
  s->api.console_dir = o->console_dir;
  s->cors = o->cors && o->cors->n ? o->cors : NULL;
  s->api.started = cs_mono_seconds();
  s->listen_fd = -1;
  s->stop_pipe[0] = s->stop_pipe[1] = -1;
  pthread_mutex_init(&s->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->wake, &ca);
  pthread_condattr_destroy(&ca);
  cs_metrics_init(cs_route_labels, CS_R__COUNT);

  int v6 = 0;
  if (open_listener(o->listen, &s->listen_fd, &v6, s->address, sizeof s->address, err, cap))
    goto fail;
  unsigned max = o->max_connections ? o->max_connections : CS_CONN_MAX;
  unsigned per_ip = max / 2 ? max / 2 : 1;
  unsigned np = o->pollers ? o->pollers : 1;
  s->nd = np > CS_POLL_MAX ? CS_POLL_MAX : np;
  /* The acceptor enforces the limits with exact counts (admit.c) and keeps
   * what is over them from the daemons (left in the backlog, or closed when
   * over its address's limit). A daemon's own limits are
   * set out of reach: no per-address limit, and room for every connection
   * twice (a closed connection counts in its daemon until the daemon's next
   * cleanup). A daemon refusing a handed-over connection at its limit sends
   * no close notification, and libmicrohttpd before 1.0.0 (Debian 12 has
   * 0.9.75) returns from that refusal in new_connection_process_ with the
   * daemon's cleanup_connection_mutex still locked: the daemon's thread
   * then waits on it for good (fixed upstream in 67061d5c, 2023). */
  struct rlimit rl;
  unsigned fd_cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1u << 20)
                        ? (unsigned)rl.rlim_cur
                        : 1u << 20;
  s->admit = cs_admit_new(max, per_ip, s->nd, fd_cap);
  if (!s->admit) {
    snprintf(err, cap, "out of memory");
    goto fail;
  }
  s->pool = cs_pool_new(o->threads < 1 ? 1 : o->threads);
  if (!s->pool) {
    snprintf(err, cap, "cannot start the request threads");
    goto fail;
  }
  /* poll(), not epoll: libmicrohttpd's epoll loop (0.9.75, and upstream
   * still) drains the events in rounds of 128 with the loop's timeout, and
   * a round that clears the wake-up of a connection handed over by the
   * acceptor, then finds no more events, sleeps until the next connection
   * timeout with that connection not yet started: a request waited 10 s
   * beside 127 idle connections. Its poll loop clears the wake-up before it
   * looks for connections handed over. */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_NO_LISTEN_SOCKET |
                   MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (v6) flags |= MHD_USE_IPv6;
  for (unsigned i = 0; i < s->nd; i++) {
    s->d[i] = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
        MHD_OPTION_CONNECTION_LIMIT, 2 * max + 16, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CS_REQUEST_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CS_CONN_MEMORY,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        s, MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, s, MHD_OPTION_END);
    if (!s->d[i]) {
      snprintf(err, cap, "cannot start the HTTP server on %s (see the libmicrohttpd message above)",
               o->listen);
      goto fail;
    }
  }
  if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    snprintf(err, cap, "cannot make a pipe: %s", strerror(errno));
    goto fail;
  }
  if (pthread_create(&s->acceptor, NULL, acceptor_main, s)) {
    snprintf(err, cap, "cannot start the acceptor thread");
    goto fail;
  }
  s->acceptor_started = 1;
  if (pthread_create(&s->reaper, NULL, reaper_main, s)) {
    snprintf(err, cap, "cannot start the connection reaper thread");
    goto fail;
  }
  s->reaper_started = 1;
  *out = s;
  return 0;
fail:
  cs_server_stop(s);
  return -1;
}

const char *cs_server_address(const cs_server *s) {
  return s->address;
}

void cs_server_stop(cs_server *s) {
  if (!s) return;
  if (s->reaper_started) {
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->reaper, NULL);
  }
  if (s->acceptor_started) {
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_mutex_unlock(&s->lock);
    ssize_t w = write(s->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(s->acceptor, NULL);
  }
  if (s->listen_fd >= 0) close(s->listen_fd);
  /* Every connection handed to a worker is resumed (libmicrohttpd must not
   * be stopped with one suspended), without the work: a request still
   * queued gets a 503 and a stream waiting for its next buffer breaks (the
   * connections are closed next anyway), so stopping does not wait for a
   * backlog of searches; the requests being answered finish. From here on
   * the polling threads do it themselves. */
  __atomic_store_n(&s->closing, 1, __ATOMIC_RELEASE);
  cs_pool_stop(s->pool);
  for (unsigned i = 0; i < s->nd; i++)
    if (s->d[i]) MHD_stop_daemon(s->d[i]);
  cs_pool_free(s->pool);
  if (s->stop_pipe[0] >= 0) close(s->stop_pipe[0]);
  if (s->stop_pipe[1] >= 0) close(s->stop_pipe[1]);
  cs_admit_free(s->admit);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->lock);
  free(s);
}
