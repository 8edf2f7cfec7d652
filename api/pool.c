/*
 * The request workers (see pool.h).
 */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

struct cs_pool {
  pthread_mutex_t lock;
  pthread_cond_t more; /* a job was queued, or the pool is stopping */
  cs_pool_job *head, *tail;
  int stopping;
  unsigned n;      /* workers started */
  pthread_t tid[]; /* n of them (allocated with the pool) */
};

static void *worker_main(void *arg) {
  cs_pool *p = arg;
  /* A batch thread (Linux): a woken thread is not made to wait for it,
   * so the indexer's commits are not held behind the searches. Under a
   * saturating search load this made freshness's outliers fewer
   * (bench/analysis.md). Best effort: without it the thread runs as
   * before. */
  struct sched_param sp = {0};
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->head && !p->stopping)
      pthread_cond_wait(&p->more, &p->lock);
    cs_pool_job *j = p->head;
    if (!j) break; /* stopping, and nothing left */
    p->head = j->next;
    if (!p->head) p->tail = NULL;
    pthread_mutex_unlock(&p->lock);
    j->run(j);
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

cs_pool *cs_pool_new(unsigned threads) {
  if (threads < 1) threads = 1;
  cs_pool *p = calloc(1, sizeof *p + threads * sizeof p->tid[0]);
  if (!p) return NULL;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->more, NULL);
  for (unsigned i = 0; i < threads; i++) {
    if (pthread_create(&p->tid[i], NULL, worker_main, p)) break;
    p->n++;
  }
  if (p->n < threads) {
    cs_pool_free(p);
    return NULL;
  }
  return p;
}

int cs_pool_submit(cs_pool *p, cs_pool_job *job) {
  pthread_mutex_lock(&p->lock);
  if (p->stopping) {
    pthread_mutex_unlock(&p->lock);
    return -1;
  }
  job->next = NULL;
  if (p->tail)
    p->tail->next = job;
  else
    p->head = job;
  p->tail = job;
  pthread_cond_signal(&p->more);
  pthread_mutex_unlock(&p->lock);
  return 0;
}

void cs_pool_stop(cs_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  int was = p->stopping;
  p->stopping = 1;
  pthread_cond_broadcast(&p->more);
  pthread_mutex_unlock(&p->lock);
  if (was) return;
  for (unsigned i = 0; i < p->n; i++)
    pthread_join(p->tid[i], NULL);
}

void cs_pool_free(cs_pool *p) {
  if (!p) return;
  cs_pool_stop(p);
  pthread_cond_destroy(&p->more);
  pthread_mutex_destroy(&p->lock);
  free(p);
}
