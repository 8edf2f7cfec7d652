/*
 * The threads that answer requests: one queue, first in first out, and a
 * fixed number of workers taking from it.
 *
 * The polling threads (server.c) read requests and write answers; a
 * request that is whole is queued here and its connection suspended until
 * a worker has answered it. With the polling threads answering requests
 * themselves, a long request (an analyst's analytics, a read waiting on
 * the disk) held every other connection of its thread: beside one analyst
 * the portal's p99 went from ~25 to ~115 ms, ~31 ms with the queue
 * (bench/analysis.md). One queue for every connection serves requests in
 * the order they arrived, whichever thread read them.
 *
 * Jobs are intrusive (no allocation): the caller embeds a cs_pool_job and
 * keeps it alive until its run function has returned.
 */
#ifndef CS_POOL_H
#define CS_POOL_H

typedef struct cs_pool cs_pool;

typedef struct cs_pool_job {
  struct cs_pool_job *next;
  void (*run)(struct cs_pool_job *job);
} cs_pool_job;

/* Starts `threads` workers (>= 1). NULL when out of memory or threads. */
cs_pool *cs_pool_new(unsigned threads);
/* Queues job (job->run set by the caller). Returns 0, or -1 once the pool
 * is stopping: the job was not queued and the caller runs it. */
int cs_pool_submit(cs_pool *p, cs_pool_job *job);
/* Refuses new jobs (cs_pool_submit returns -1 from then on), lets the
 * workers run every job already queued and joins them. NULL: no-op. */
void cs_pool_stop(cs_pool *p);
/* Frees a stopped pool. NULL: no-op. */
void cs_pool_free(cs_pool *p);

#endif
