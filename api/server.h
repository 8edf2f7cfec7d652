/*
 * The HTTP server: libmicrohttpd on a listening socket of our own, polling
 * threads (poll(); each a libmicrohttpd daemon) fed by one acceptor thread
 * that enforces the connection limits for the whole server (admit.h) and
 * gives each new connection to the thread holding the fewest, the threads
 * that answer whole requests in the order they arrived (pool.h),
 * per-connection bounds, and
 * the glue that turns a libmicrohttpd request into a cs_request for
 * routes.c and its cs_reply into a response. Also logs one line per
 * request and records metrics.
 *
 * Bounds on what one client can hold:
 *   - connections: CS_CONN_MAX in all, CS_CONN_PER_IP_MAX per address (half,
 *     so one address cannot take every slot yet a reverse proxy still can
 *     carry most of the traffic);
 *   - memory: CS_CONN_MEMORY per connection, which bounds the request line
 *     and headers (libmicrohttpd answers 414/431 beyond it). libmicrohttpd
 *     zeroes it before each request on a kept-alive connection: 128 KiB
 *     made that ~3 % of an employee's request (bench/analysis.md); 32 KiB
 *     still holds far more than the API's longest head (q 1 KiB, cursor
 *     512, 64 parameters, a token);
 *   - time: a connection idle for CS_REQUEST_TIMEOUT_S is closed, and so is
 *     one that has not delivered a whole request (head and body) within
 *     CS_REQUEST_TIMEOUT_S of its start or of its previous response — the
 *     idle timeout alone would let a client sending a byte a second hold a
 *     connection forever.
 */
#ifndef CS_SERVER_H
#define CS_SERVER_H

#include "auth.h"
#include "cors.h"
#include "engine.h"
#include "jobs.h"

#include <stddef.h>

#define CS_CONN_MAX 2048
#define CS_CONN_PER_IP_MAX 1024
#define CS_CONN_MEMORY (32u << 10)
#define CS_REQUEST_TIMEOUT_S 10

typedef struct cs_server cs_server;

typedef struct cs_server_opts {
  const char *listen;       /* HOST:PORT, [V6]:PORT; port 0 picks a free port */
  unsigned threads;         /* threads answering requests (pool.h), >= 1 */
  unsigned pollers;         /* polling threads (reading and writing), 0: one; at most 256 */
  unsigned max_connections; /* 0: CS_CONN_MAX */
  cs_jobs *jobs;            /* reindex jobs (borrowed), or NULL when not configured */
  const cs_cors *cors;      /* allowed browser origins (borrowed), or NULL: no CORS */
  const char *console_dir;  /* the console's files (borrowed), or NULL: no /console/ */
} cs_server_opts;

/* Binds, listens and starts serving with the given engine and tokens (both
 * borrowed: they must outlive the server). On failure returns -1 with one
 * sentence in err. */
int cs_server_start(const cs_server_opts *o, cs_engine *e, const cs_auth *a, cs_server **out,
                    char *err, size_t cap);
/* "127.0.0.1:8750": the address actually bound (port 0 resolved). */
const char *cs_server_address(const cs_server *s);
/* Stops accepting, closes every connection, joins the threads, frees. */
void cs_server_stop(cs_server *s);

#endif
