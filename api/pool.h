/*
 * The threads that answer requests: a queue of jobs in the order they
 * came (kept as two lists, light and heavy jobs, below) and a fixed number
 * of workers taking from it.
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
 * A long job (an analyst's analytics, an export's next lines) is marked
 * heavy: at most one fewer of them than there are workers run at once, so
 * that one worker is always left for the rest. Without that, as many
 * analysts as workers held every one of them and the portal's searches,
 * health checks included, waited for an analytics to end. A queued job
 * runs in its turn all the same: the oldest job a free worker may take is
 * taken, a heavy one waiting only while the heavy ones running are at
 * their limit.
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
  int heavy;              /* set by the caller: a long job (above) */
  unsigned long long seq; /* the pool's: order of submission */
} cs_pool_job;

/* Starts `threads` workers (>= 1); at most threads - 1 heavy jobs run at
 * once (with one worker: one). NULL when out of memory or threads. */
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
