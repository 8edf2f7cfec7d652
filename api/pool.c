/*
 * The request workers (see pool.h).
 */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

/* A first-in-first-out list of jobs. */
typedef struct jobq {
  cs_pool_job *head, *tail;
} jobq;

struct cs_pool {
  pthread_mutex_t lock;
  pthread_cond_t more; /* a job was queued or may now run, or the pool is stopping */
  jobq light, heavy;
  unsigned long long seq; /* jobs submitted */
  unsigned heavy_running; /* heavy jobs being run */
  unsigned heavy_max;     /* ... at most */
  int stopping;
  unsigned n;      /* workers started */
  pthread_t tid[]; /* n of them (allocated with the pool) */
};

static void push(jobq *q, cs_pool_job *j) {
  j->next = NULL;
  if (q->tail)
    q->tail->next = j;
  else
    q->head = j;
  q->tail = j;
}

static cs_pool_job *pop(jobq *q) {
  cs_pool_job *j = q->head;
  q->head = j->next;
  if (!q->head) q->tail = NULL;
  return j;
}

/* The oldest job a worker may take now, taken off its list (*heavy: off
 * the heavy one, counted as running); NULL when there is none (the heavy
 * ones waiting for one to end). Lock held. */
static cs_pool_job *take(cs_pool *p, int *heavy) {
  cs_pool_job *l = p->light.head;
  cs_pool_job *h = p->heavy_running < p->heavy_max ? p->heavy.head : NULL;
  *heavy = !(l && (!h || l->seq < h->seq));
  if (!*heavy) return pop(&p->light);
  if (!h) return NULL;
  p->heavy_running++;
  return pop(&p->heavy);
}

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
    cs_pool_job *j;
    int heavy;
    while (!(j = take(p, &heavy))) {
      if (p->stopping && !p->light.head && !p->heavy.head) break;
      pthread_cond_wait(&p->more, &p->lock);
    }
    if (!j) break; /* stopping, and nothing left */
    pthread_mutex_unlock(&p->lock);
    j->run(j); /* j may be gone once it returns */
    pthread_mutex_lock(&p->lock);
    if (heavy) {
      p->heavy_running--;
      /* A heavy job left waiting may run now: maybe not by this worker. */
      if (p->heavy.head) pthread_cond_signal(&p->more);
    }
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

cs_pool *cs_pool_new(unsigned threads) {
  if (threads < 1) threads = 1;
  cs_pool *p = calloc(1, sizeof *p + threads * sizeof p->tid[0]);
  if (!p) return NULL;
  p->heavy_max = threads > 1 ? threads - 1 : 1;
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
  job->seq = p->seq++;
  push(job->heavy ? &p->heavy : &p->light, job);
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
