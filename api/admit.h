/*
 * Connection admission for the query server's acceptor: exact counts of the
 * connections held in all and per client address, and of the connections
 * each polling thread holds. A connection is counted when the acceptor
 * hands it to a polling thread and uncounted when libmicrohttpd says it is
 * closed, both under one lock, so the limits are enforced here, before any
 * libmicrohttpd daemon sees the connection (the daemons' own limits are set
 * out of reach: a daemon refusing a handed-over connection does so without
 * a close notification).
 *
 * Connections are keyed by their descriptor. A descriptor accepted again
 * while still counted means its previous connection was dropped without a
 * notification: its counts are released then; and at the limit, the
 * acceptor sweeps connections handed over but never started, so the counts
 * never drift.
 */
#ifndef CS_ADMIT_H
#define CS_ADMIT_H

#include <sys/socket.h>

typedef struct cs_admit cs_admit;

/* max connections in all, per_ip per address, spread over threads;
 * descriptors up to fd_cap - 1. NULL when out of memory. */
cs_admit *cs_admit_new(unsigned max, unsigned per_ip, unsigned threads, unsigned fd_cap);
void cs_admit_free(cs_admit *a);

/* Counts connection fd from address sa and sets *thread to the polling
 * thread holding the fewest: 1. Over a limit (or fd beyond fd_cap, or out
 * of memory): 0, nothing counted. */
int cs_admit_take(cs_admit *a, int fd, const struct sockaddr *sa, double now, unsigned *thread);

/* libmicrohttpd started connection fd (its start notification). */
void cs_admit_started(cs_admit *a, int fd);

/* Releases the connections handed over before `before` and never started
 * (dropped by a daemon without a notification, e.g. out of memory): how
 * many. Scans every descriptor: for when the limit is reached. */
unsigned cs_admit_sweep(cs_admit *a, double before);

/* Uncounts connection fd (nothing when it is not counted): 1 when that
 * made room under the limit in all. */
int cs_admit_release(cs_admit *a, int fd);

/* Whether the limit in all is reached (only cs_admit_take adds). */
int cs_admit_full(cs_admit *a);

#endif
