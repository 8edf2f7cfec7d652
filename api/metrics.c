/*
 * Metrics (see metrics.h). Histogram buckets are kept non-cumulative and
 * summed at render time, so an observation touches exactly one bucket.
 * Statuses outside the fixed list are counted under "other" to bound the
 * number of series whatever clients send.
 */
#include "metrics.h"

#include "grow.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int statuses[] = {200, 204, 400, 401, 403, 404, 405, 408, 413,
                               414, 415, 429, 431, 500, 501, 503, 504};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
#define NBUCKET (sizeof bounds / sizeof bounds[0])

typedef struct route_metrics {
  atomic_uint_fast64_t status[NSTATUS + 1]; /* last: other */
  atomic_uint_fast64_t bucket[NBUCKET + 1]; /* last: +Inf */
  atomic_uint_fast64_t sum_us;
} route_metrics;

static const char *const *labels;
static int nlabels;
static route_metrics routes[CS_METRICS_ROUTES_MAX];
static atomic_int in_flight, connections, queued;
static atomic_uint_fast64_t timed_out;

void cs_metrics_init(const char *const *route_labels, int nroutes) {
  labels = route_labels;
  nlabels = nroutes < CS_METRICS_ROUTES_MAX ? nroutes : CS_METRICS_ROUTES_MAX;
}

void cs_metrics_connections(int delta) {
  atomic_fetch_add_explicit(&connections, delta, memory_order_relaxed);
}

void cs_metrics_timed_out(void) {
  atomic_fetch_add_explicit(&timed_out, 1, memory_order_relaxed);
}

void cs_metrics_queued(int delta) {
  atomic_fetch_add_explicit(&queued, delta, memory_order_relaxed);
}

void cs_metrics_in_flight(int delta) {
  atomic_fetch_add_explicit(&in_flight, delta, memory_order_relaxed);
}

void cs_metrics_observe(int route, int status, double seconds) {
  if (route < 0 || route >= nlabels) return;
  route_metrics *m = &routes[route];
  size_t s = NSTATUS;
  for (size_t i = 0; i < NSTATUS; i++) {
    if (statuses[i] == status) s = i;
  }
  atomic_fetch_add_explicit(&m->status[s], 1, memory_order_relaxed);
  size_t b = NBUCKET;
  for (size_t i = 0; i < NBUCKET; i++) {
    if (seconds <= bounds[i]) {
      b = i;
      break;
    }
  }
  atomic_fetch_add_explicit(&m->bucket[b], 1, memory_order_relaxed);
  if (seconds < 0) seconds = 0;
  atomic_fetch_add_explicit(&m->sum_us, (uint_fast64_t)(seconds * 1e6), memory_order_relaxed);
}

/* ---------------------------------------------------------------- render */

typedef struct out {
  char *p;
  size_t len, cap;
  int err;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...) {
  if (o->err) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      o->err = 1;
      return;
    }
    if ((size_t)n < o->cap - o->len) {
      o->len += (size_t)n;
      return;
    }
    if (cs_grow_from((void **)&o->p, &o->cap, o->len + (size_t)n + 1, 1, 4096)) {
      o->err = 1;
      return;
    }
  }
}

static double num(const json_t *j, const char *a, const char *b) {
  const json_t *x = json_object_get(j, a);
  if (b) x = json_object_get(x, b);
  return json_is_number(x) ? json_number_value(x) : -1;
}

/* A metric of one sample, health's number at a (b: a member of it), when
 * it holds one (>= 0), with `decimals` digits after the point. */
static void one(out *o, const json_t *health, const char *a, const char *b, const char *name,
                const char *type, const char *help, int decimals) {
  double v = num(health, a, b);
  if (v >= 0)
    put(o, "# HELP %s %s\n# TYPE %s %s\n%s %.*f\n", name, help, name, type, name, decimals, v);
}

char *cs_metrics_render(const json_t *health, double uptime_s, size_t *len) {
  out o = {malloc(8192), 0, 8192, 0};
  if (!o.p) return NULL;
  put(&o, "# HELP convsearch_http_requests_total HTTP requests answered, by route and status.\n"
          "# TYPE convsearch_http_requests_total counter\n");
  for (int r = 0; r < nlabels; r++) {
    for (size_t s = 0; s <= NSTATUS; s++) {
      uint_fast64_t v = atomic_load_explicit(&routes[r].status[s], memory_order_relaxed);
      if (!v) continue;
      if (s < NSTATUS)
        put(&o, "convsearch_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", labels[r],
            statuses[s], (unsigned long long)v);
      else
        put(&o, "convsearch_http_requests_total{route=\"%s\",status=\"other\"} %llu\n", labels[r],
            (unsigned long long)v);
    }
  }
  put(&o, "# HELP convsearch_http_request_duration_seconds Time from a complete request head to "
          "the end of the response, by route.\n"
          "# TYPE convsearch_http_request_duration_seconds histogram\n");
  for (int r = 0; r < nlabels; r++) {
    uint_fast64_t cum = 0;
    for (size_t b = 0; b <= NBUCKET; b++) {
      cum += atomic_load_explicit(&routes[r].bucket[b], memory_order_relaxed);
      if (b < NBUCKET)
        put(&o, "convsearch_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
            labels[r], bounds[b], (unsigned long long)cum);
      else
        put(&o, "convsearch_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
            labels[r], (unsigned long long)cum);
    }
    double sum = (double)atomic_load_explicit(&routes[r].sum_us, memory_order_relaxed) / 1e6;
    put(&o, "convsearch_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", labels[r], sum);
    put(&o, "convsearch_http_request_duration_seconds_count{route=\"%s\"} %llu\n", labels[r],
        (unsigned long long)cum);
  }
  put(&o,
      "# HELP convsearch_http_requests_in_flight Requests being answered now.\n"
      "# TYPE convsearch_http_requests_in_flight gauge\n"
      "convsearch_http_requests_in_flight %d\n"
      "# HELP convsearch_http_requests_queued Whole requests waiting for a thread to answer them "
      "(--threads).\n"
      "# TYPE convsearch_http_requests_queued gauge\n"
      "convsearch_http_requests_queued %d\n"
      "# HELP convsearch_http_connections_open Client connections open now.\n"
      "# TYPE convsearch_http_connections_open gauge\n"
      "convsearch_http_connections_open %d\n"
      "# HELP convsearch_http_connections_timed_out_total Connections cut for not sending a "
      "whole request in time.\n"
      "# TYPE convsearch_http_connections_timed_out_total counter\n"
      "convsearch_http_connections_timed_out_total %llu\n"
      "# HELP convsearch_uptime_seconds Seconds since the server started.\n"
      "# TYPE convsearch_uptime_seconds gauge\n"
      "convsearch_uptime_seconds %.3f\n",
      atomic_load(&in_flight), atomic_load(&queued), atomic_load(&connections),
      (unsigned long long)atomic_load(&timed_out), uptime_s);
  put(&o,
      "# HELP convsearch_index_up Whether the index could be read (1) or not (0).\n"
      "# TYPE convsearch_index_up gauge\n"
      "convsearch_index_up %d\n",
      health ? 1 : 0);
  if (health) {
    one(&o, health, "lag_s", NULL, "convsearch_index_lag_seconds", "gauge",
        "Seconds since the indexer last committed (its checkpoint time).", 3);
    one(&o, health, "bad_rows", NULL, "convsearch_bad_rows_total", "counter",
        "Source rows the indexer skipped or clamped as bad input (verify names them).", 0);
    one(&o, health, "cache", "owner_copies_bytes", "convsearch_cache_owner_copies_bytes", "gauge",
        "Bytes held by the copies of owners' words and terms that the portal's callers' "
        "expansions walk.",
        0);
    one(&o, health, "cache", "owner_copies_cap", "convsearch_cache_owner_copies_cap_bytes", "gauge",
        "The most they may hold.", 0);
    double corrupt = num(health, "corrupt_records", NULL);
    if (corrupt >= 0) {
      put(&o,
          "# HELP convsearch_index_corrupt_records Damaged index records the server met since it "
          "started serving this index generation (the log names them; verify finds them "
          "all).\n"
          "# TYPE convsearch_index_corrupt_records gauge\n"
          "convsearch_index_corrupt_records %.0f\n"
          "# HELP convsearch_index_corrupt_records_by_kind The same, by kind of record.\n"
          "# TYPE convsearch_index_corrupt_records_by_kind gauge\n",
          corrupt);
      const char *kind;
      json_t *n;
      json_object_foreach(json_object_get(health, "corrupt_by_kind"), kind, n) {
        if (json_is_integer(n))
          put(&o, "convsearch_index_corrupt_records_by_kind{kind=\"%s\"} %lld\n", kind,
              (long long)json_integer_value(n));
      }
      put(&o,
          "# HELP convsearch_index_corrupt_reads_total Reads that met a damaged index record "
          "(skipped, or answered with index_corrupt).\n"
          "# TYPE convsearch_index_corrupt_reads_total counter\n"
          "convsearch_index_corrupt_reads_total %.0f\n",
          num(health, "corrupt_reads", NULL));
    }
    const json_t *mirror = json_object_get(health, "mirror");
    if (json_is_object(mirror)) {
      put(&o,
          "# HELP convsearch_mirror_enabled Whether the index is mirrored to OpenSearch.\n"
          "# TYPE convsearch_mirror_enabled gauge\n"
          "convsearch_mirror_enabled %d\n",
          json_is_true(json_object_get(mirror, "enabled")) ? 1 : 0);
      one(&o, health, "mirror", "backlog", "convsearch_mirror_backlog", "gauge",
          "Operations waiting in the outbox for OpenSearch.", 0);
      one(&o, health, "mirror", "oldest_pending_s", "convsearch_mirror_oldest_pending_seconds",
          "gauge", "Age of the oldest operation in the outbox.", 3);
    }
    static const char *const kinds[] = {"conversations", "patients", "turns", "events"};
    put(&o, "# HELP convsearch_index_documents Records in the index, by kind.\n"
            "# TYPE convsearch_index_documents gauge\n");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
      double v = num(health, "documents", kinds[i]);
      if (v >= 0) put(&o, "convsearch_index_documents{kind=\"%s\"} %.0f\n", kinds[i], v);
    }
  }
  if (o.err) {
    free(o.p);
    return NULL;
  }
  *len = o.len;
  return o.p;
}
