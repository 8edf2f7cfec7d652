/*
 * Tests for the request workers (api/pool.c): jobs run in the order they
 * were queued; heavy jobs (an analyst's analytics, an export's lines) never
 * take the last worker, so a search queued behind as many of them as there
 * are workers is still answered; stopping runs what is queued.
 *
 *   test_pool      runs every check; exit 1 on any failure
 */
#include "pool.h"

#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

CS_CHECK_COUNTERS;

/* Jobs wait here while the gate is shut. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_open = PTHREAD_COND_INITIALIZER;
static int gate_shut;

static void gate_set(int shut) {
  pthread_mutex_lock(&gate_lock);
  gate_shut = shut;
  pthread_cond_broadcast(&gate_open);
  pthread_mutex_unlock(&gate_lock);
}

typedef struct tjob {
  cs_pool_job job;
  int id, waits; /* waits: at the gate while it is shut */
} tjob;

static int started[16], finished[16], order[16], norder;

static void run(cs_pool_job *j) {
  tjob *t = (tjob *)j;
  __atomic_store_n(&started[t->id], 1, __ATOMIC_RELEASE);
  pthread_mutex_lock(&gate_lock);
  order[norder++] = t->id;
  while (t->waits && gate_shut)
    pthread_cond_wait(&gate_open, &gate_lock);
  pthread_mutex_unlock(&gate_lock);
  __atomic_store_n(&finished[t->id], 1, __ATOMIC_RELEASE);
}

/* A pool of n workers for one test, its flags cleared and the gate shut:
 * jobs that wait, wait. NULL (a failed check) when it cannot start. */
static cs_pool *start(unsigned n) {
  memset(started, 0, sizeof started);
  memset(finished, 0, sizeof finished);
  norder = 0;
  gate_set(1);
  cs_pool *p = cs_pool_new(n);
  CHECK(p != NULL, "a pool of %u workers starts", n);
  return p;
}

static void make(tjob *t, int id, int heavy, int waits) {
  memset(t, 0, sizeof *t);
  t->job.run = run;
  t->job.heavy = heavy;
  t->id = id;
  t->waits = waits;
}

/* Waits (at most 5 s: a hang fails the check, it does not hang the test)
 * until flag[id] is set. */
static int wait_for(int *flag, int id) {
  for (int i = 0; i < 5000; i++) {
    if (__atomic_load_n(&flag[id], __ATOMIC_ACQUIRE)) return 1;
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  return 0;
}

/* Three workers, three heavy jobs that wait: two run, the third waits for
 * one of them; a light job queued after them all runs meanwhile. */
static void heavy_leaves_a_worker(void) {
  cs_pool *p = start(3);
  if (!p) return;
  tjob h[3], l;
  for (int i = 0; i < 3; i++) {
    make(&h[i], i, 1, 1);
    cs_pool_submit(p, &h[i].job);
  }
  CHECK(wait_for(started, 0) && wait_for(started, 1), "two heavy jobs run at once");
  make(&l, 3, 0, 0);
  cs_pool_submit(p, &l.job);
  CHECK(wait_for(finished, 3),
        "a light job queued behind 3 heavy ones runs on the worker they leave free");
  CHECK(!__atomic_load_n(&started[2], __ATOMIC_ACQUIRE),
        "the third heavy job waits while two run on 3 workers");
  gate_set(0);
  CHECK(wait_for(finished, 2), "the third heavy job runs once one has ended");
  cs_pool_free(p);
}

/* One worker: heavy or light, every job in the order it was queued. */
static void one_worker_in_order(void) {
  cs_pool *p = start(1);
  if (!p) return;
  tjob j[5];
  static const int heavy[5] = {0, 1, 0, 1, 0};
  for (int i = 0; i < 5; i++) {
    make(&j[i], i, heavy[i], i == 0);
    cs_pool_submit(p, &j[i].job);
  }
  CHECK(wait_for(started, 0), "the first job runs");
  gate_set(0);
  CHECK(wait_for(finished, 4), "every job runs on one worker");
  int in_order = norder == 5;
  for (int i = 0; i < norder && in_order; i++)
    in_order = order[i] == i;
  CHECK(in_order, "one worker runs heavy and light jobs in the order they came");
  cs_pool_free(p);
}

/* Two workers: one heavy at a time; the light jobs behind a waiting heavy
 * one are not held by it. */
static void queued_heavy_does_not_block_light(void) {
  cs_pool *p = start(2);
  if (!p) return;
  tjob a, b, c;
  make(&a, 0, 1, 1); /* runs, waits at the gate */
  make(&b, 1, 1, 1); /* queued: the one heavy allowed is running */
  make(&c, 2, 0, 0);
  cs_pool_submit(p, &a.job);
  cs_pool_submit(p, &b.job);
  cs_pool_submit(p, &c.job);
  CHECK(wait_for(finished, 2), "a light job passes a heavy one that may not run yet");
  CHECK(!__atomic_load_n(&started[1], __ATOMIC_ACQUIRE),
        "with 2 workers one heavy job runs at a time");
  gate_set(0);
  CHECK(wait_for(finished, 1), "the waiting heavy job runs once the first has ended");
  cs_pool_free(p);
}

static void *stopper(void *p) {
  cs_pool_stop(p);
  return NULL;
}

/* Stopping while a heavy job runs and another waits for it (2 workers:
 * one heavy at a time) runs every job already queued, heavy ones
 * included, and refuses new ones. */
static void stop_runs_the_queue(void) {
  cs_pool *p = start(2);
  if (!p) return;
  tjob j[16];
  make(&j[0], 0, 1, 1); /* runs, waits at the gate */
  make(&j[1], 1, 1, 1); /* queued behind it */
  make(&j[2], 2, 0, 0);
  for (int i = 0; i < 3; i++)
    cs_pool_submit(p, &j[i].job);
  CHECK(wait_for(started, 0) && wait_for(finished, 2), "a heavy job runs, a light one passes");
  pthread_t t;
  pthread_create(&t, NULL, stopper, p);
  /* Jobs submitted until the pool refuses them (it is stopping then). */
  int n = 3, refused = 0;
  for (; n < 16 && !refused; n++) {
    make(&j[n], n, n % 2, 0);
    refused = cs_pool_submit(p, &j[n].job) == -1;
    if (!refused) nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  CHECK(refused, "a stopping pool refuses new jobs");
  CHECK(!__atomic_load_n(&started[1], __ATOMIC_ACQUIRE),
        "the second heavy job still waits for the first once the pool is stopping");
  gate_set(0);
  pthread_join(t, NULL);
  int all = 1;
  for (int i = 0; i < n - refused; i++)
    all &= __atomic_load_n(&finished[i], __ATOMIC_ACQUIRE);
  CHECK(all, "stopping runs every queued job, the waiting heavy one included (%d jobs)",
        n - refused);
  cs_pool_free(p);
}

int main(void) {
  heavy_leaves_a_worker();
  one_worker_in_order();
  queued_heavy_does_not_block_light();
  stop_runs_the_queue();
  return th_check_done();
}
