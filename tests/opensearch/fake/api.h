/*
 * fake-opensearch routing: the route table (method, path pattern with
 * {index}/{id}/{name} variables, accepted query parameters) and the
 * dispatcher used by main.c. Call with the cluster lock held.
 */
#ifndef FOS_API_H
#define FOS_API_H

#include "fos.h"

typedef struct fos_route {
  const char *method;
  const char *pattern;
  void (*handler)(fos_req *rq, fos_reply *rp);
  const char *params; /* space-separated query parameters (besides the global ones) */
} fos_route;

/* The route table, ended by an entry whose method is NULL. */
const fos_route *fos_routes(void);

/* Finds the route for rq->method and rq->path, checks the query parameters
 * and runs the handler; unknown paths get 400, wrong methods 405. */
void fos_dispatch(fos_req *rq, fos_reply *rp);

#endif
