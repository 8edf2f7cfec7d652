/*
 * Request metrics of the query server, rendered in the Prometheus text
 * format for GET /v1/metrics: request counts by route and status, a latency
 * histogram per route, requests in flight and waiting for a thread, open
 * connections, connections cut
 * for being too slow, and the index and mirror figures from the engine's
 * health (lag, documents, outbox backlog and its oldest entry's age).
 *
 * Counters are process-wide atomics: recording costs a few relaxed atomic
 * adds and takes no lock, so every request can record.
 */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <jansson.h>
#include <stddef.h>

/* Route labels (borrowed; must outlive the process's metrics), index =
 * route id. At most CS_METRICS_ROUTES_MAX. */
#define CS_METRICS_ROUTES_MAX 32
void cs_metrics_init(const char *const *route_labels, int nroutes);

void cs_metrics_connections(int delta);
void cs_metrics_timed_out(void);
void cs_metrics_in_flight(int delta);
void cs_metrics_queued(int delta); /* whole requests waiting for a thread (pool.h) */
/* One answered request: its route id, HTTP status and wall time. */
void cs_metrics_observe(int route, int status, double seconds);

/* Renders every metric; `health` is cs_engine_health()'s document or NULL
 * when the index could not be read. Returns a malloc'd text of *len bytes
 * (caller frees) or NULL when out of memory. */
char *cs_metrics_render(const json_t *health, double uptime_s, size_t *len);

#endif
