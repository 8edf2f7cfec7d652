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
 * notification: its counts are released then, so they never drift.
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
int cs_admit_take(cs_admit *a, int fd, const struct sockaddr *sa, unsigned *thread);

/* Uncounts connection fd (nothing when it is not counted). */
void cs_admit_release(cs_admit *a, int fd);

#endif
