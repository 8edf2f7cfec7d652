#include "admit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_BUCKETS 1024

typedef struct addr_node {
  unsigned char key[17]; /* family, then the address bytes */
  unsigned n;            /* connections held from this address */
  struct addr_node *next;
} addr_node;

typedef struct {
  addr_node *addr; /* NULL: descriptor not counted */
  unsigned thread;
  int started;   /* libmicrohttpd said it started the connection */
  double handed; /* when (monotonic seconds) */
} slot;

struct cs_admit {
  pthread_mutex_t lock;
  unsigned max, per_ip, threads, fd_cap, total;
  unsigned *load;
  slot *slots;
  addr_node *buckets[ADDR_BUCKETS];
};

cs_admit *cs_admit_new(unsigned max, unsigned per_ip, unsigned threads, unsigned fd_cap) {
  cs_admit *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->max = max;
  a->per_ip = per_ip;
  a->threads = threads ? threads : 1;
  a->fd_cap = fd_cap;
  a->load = calloc(a->threads, sizeof *a->load);
  a->slots = calloc(fd_cap ? fd_cap : 1, sizeof *a->slots);
  if (!a->load || !a->slots) {
    cs_admit_free(a);
    return NULL;
  }
  pthread_mutex_init(&a->lock, NULL);
  return a;
}

void cs_admit_free(cs_admit *a) {
  if (!a) return;
  for (unsigned b = 0; b < ADDR_BUCKETS; b++)
    for (addr_node *n = a->buckets[b], *next; n; n = next) {
      next = n->next;
      free(n);
    }
  if (a->load && a->slots) pthread_mutex_destroy(&a->lock);
  free(a->load);
  free(a->slots);
  free(a);
}

static void key_of(const struct sockaddr *sa, unsigned char key[17]) {
  memset(key, 0, 17);
  if (!sa) return;
  key[0] = (unsigned char)sa->sa_family;
  if (sa->sa_family == AF_INET)
    memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  else if (sa->sa_family == AF_INET6)
    memcpy(key + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

static unsigned bucket_of(const unsigned char key[17]) {
  unsigned h = 2166136261u;
  for (int i = 0; i < 17; i++)
    h = (h ^ key[i]) * 16777619u;
  return h % ADDR_BUCKETS;
}

/* Under the lock: uncounts descriptor fd, frees its address at zero; 1 when
 * that made room under the limit in all. */
static int release_locked(cs_admit *a, int fd) {
  if (fd < 0 || (unsigned)fd >= a->fd_cap || !a->slots[fd].addr) return 0;
  int room = a->total == a->max;
  slot *sl = &a->slots[fd];
  addr_node *n = sl->addr;
  a->total--;
  a->load[sl->thread]--;
  sl->addr = NULL;
  if (--n->n) return room;
  for (addr_node **p = &a->buckets[bucket_of(n->key)]; *p; p = &(*p)->next)
    if (*p == n) {
      *p = n->next;
      break;
    }
  free(n);
  return room;
}

int cs_admit_take(cs_admit *a, int fd, const struct sockaddr *sa, double now, unsigned *thread) {
  if (fd < 0 || (unsigned)fd >= a->fd_cap) return 0;
  unsigned char key[17];
  key_of(sa, key);
  unsigned b = bucket_of(key);
  int ok = 0;
  pthread_mutex_lock(&a->lock);
  release_locked(a, fd); /* its previous connection went without a notification */
  addr_node *n = a->buckets[b];
  while (n && memcmp(n->key, key, sizeof key) != 0)
    n = n->next;
  if (a->total < a->max && (!n || n->n < a->per_ip)) {
    if (!n && (n = calloc(1, sizeof *n)) != NULL) {
      memcpy(n->key, key, sizeof key);
      n->next = a->buckets[b];
      a->buckets[b] = n;
    }
    if (n) {
      unsigned best = 0;
      for (unsigned i = 1; i < a->threads; i++)
        if (a->load[i] < a->load[best]) best = i;
      n->n++;
      a->total++;
      a->load[best]++;
      a->slots[fd] = (slot){n, best, 0, now};
      *thread = best;
      ok = 1;
    }
  }
  pthread_mutex_unlock(&a->lock);
  return ok;
}

int cs_admit_release(cs_admit *a, int fd) {
  pthread_mutex_lock(&a->lock);
  int room = release_locked(a, fd);
  pthread_mutex_unlock(&a->lock);
  return room;
}

int cs_admit_full(cs_admit *a) {
  pthread_mutex_lock(&a->lock);
  int full = a->total >= a->max;
  pthread_mutex_unlock(&a->lock);
  return full;
}

void cs_admit_started(cs_admit *a, int fd) {
  pthread_mutex_lock(&a->lock);
  if (fd >= 0 && (unsigned)fd < a->fd_cap && a->slots[fd].addr) a->slots[fd].started = 1;
  pthread_mutex_unlock(&a->lock);
}

unsigned cs_admit_sweep(cs_admit *a, double before) {
  unsigned n = 0;
  pthread_mutex_lock(&a->lock);
  for (unsigned fd = 0; fd < a->fd_cap; fd++) {
    slot *sl = &a->slots[fd];
    if (sl->addr && !sl->started && sl->handed < before) {
      release_locked(a, (int)fd);
      n++;
    }
  }
  pthread_mutex_unlock(&a->lock);
  return n;
}
