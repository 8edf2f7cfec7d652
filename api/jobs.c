/*
 * Batch reindex jobs (see jobs.h).
 *
 * Locking. One mutex guards the job table, `running`, `pid` and the spawn
 * handshake; the supervisor thread takes it only to record what it read
 * or what happened, never while it blocks. A signal is sent to the child
 * only under the mutex and only while `pid` is set; the supervisor clears
 * `pid` under the mutex in the same critical section as the waitpid() that
 * reaps the child, after waitid(WNOWAIT) told it the child had exited, so
 * a signal can never reach a recycled process id.
 */
#include "jobs.h"

#include "clock.h"
#include "isotime.h"
#include "log.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { J_RUNNING = 1, J_SUCCEEDED, J_FAILED };

typedef struct job {
  uint64_t id; /* 0: an empty slot */
  int state;
  int64_t started_ms, finished_ms;
  int exit_code;
  json_t *progress;
  char tail[CS_JOBS_TAIL_LINES][CS_JOBS_LINE_MAX + 1];
  int ntail, tail_at;
} job;

struct cs_jobs {
  char *indexer, *pg, *index_dir, *opensearch;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  job jobs[CS_JOBS_KEPT];
  size_t next_slot;
  job *running; /* NULL when idle */
  pid_t pid;    /* the running child until it is reaped, else 0 */
  int spawn;    /* handshake: 0 pending, 1 started, -1 failed */
  int spawn_errno;
  pthread_t thread;
  int thread_live;
};

/* Both times are read from the clock when they happen (never 0 for
 * "unknown"): a job that has not finished has finished_at null. */
static json_t *iso_time(int64_t ms) {
  char buf[CS_TIME_ISO_LEN];
  return json_string(cs_time_iso(ms, buf));
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

int cs_jobs_create(const cs_jobs_config *cfg, cs_jobs **out, char *err, size_t cap) {
  *out = NULL;
  if (!cfg->indexer || !cfg->pg || !cfg->index_dir) {
    snprintf(err, cap, "reindex jobs need the indexer, a conninfo and the index directory");
    return -1;
  }
  if (access(cfg->indexer, X_OK) != 0) {
    snprintf(err, cap, "the indexer %s cannot be executed: %s", cfg->indexer, strerror(errno));
    return -1;
  }
  cs_jobs *j = calloc(1, sizeof *j);
  if (!j) {
    snprintf(err, cap, "out of memory");
    return -1;
  }
  pthread_mutex_init(&j->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&j->cond, &ca);
  pthread_condattr_destroy(&ca);
  j->indexer = strdup(cfg->indexer);
  j->pg = strdup(cfg->pg);
  j->index_dir = strdup(cfg->index_dir);
  j->opensearch = dup_or_null(cfg->opensearch);
  if (!j->indexer || !j->pg || !j->index_dir || (cfg->opensearch && !j->opensearch)) {
    snprintf(err, cap, "out of memory");
    cs_jobs_destroy(j);
    return -1;
  }
  *out = j;
  return 0;
}

/* ---------------------------------------------------------------- documents */

static json_t *job_json(const job *jb) {
  static const char *const states[] = {"", "running", "succeeded", "failed"};
  size_t len = 0;
  for (int i = 0; i < jb->ntail; i++)
    len += strlen(jb->tail[(jb->tail_at + i) % CS_JOBS_TAIL_LINES]) + 1;
  char *tail = malloc(len + 1);
  if (!tail) return NULL;
  size_t o = 0;
  for (int i = 0; i < jb->ntail; i++) {
    const char *l = jb->tail[(jb->tail_at + i) % CS_JOBS_TAIL_LINES];
    size_t n = strlen(l);
    memcpy(tail + o, l, n);
    o += n;
    tail[o++] = '\n';
  }
  tail[o] = 0;
  int done = jb->state != J_RUNNING;
  json_t *d = json_pack("{s:I, s:s, s:s, s:O?, s:o, s:o, s:o, s:s}", "id", (json_int_t)jb->id,
                        "kind", "reindex", "state", states[jb->state], "progress", jb->progress,
                        "started_at", iso_time(jb->started_ms), "finished_at",
                        done ? iso_time(jb->finished_ms) : json_null(), "exit_code",
                        done ? json_integer(jb->exit_code) : json_null(), "log_tail", tail);
  free(tail);
  return d;
}

json_t *cs_jobs_get(cs_jobs *j, uint64_t id) {
  json_t *d = NULL;
  pthread_mutex_lock(&j->lock);
  for (size_t i = 0; i < CS_JOBS_KEPT && id; i++) {
    if (j->jobs[i].id == id) d = job_json(&j->jobs[i]);
  }
  pthread_mutex_unlock(&j->lock);
  return d;
}

/* One line of the child's output, NUL-terminated, possibly cut. Under the
 * lock. */
static void take_line(job *jb, int is_stdout, char *line, size_t n) {
  while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
    line[--n] = 0;
  if (!n) return;
  if (is_stdout && line[0] == '{') {
    json_t *p = json_loadb(line, n, 0, NULL);
    if (json_is_object(p)) {
      json_decref(jb->progress);
      jb->progress = p;
      return;
    }
    json_decref(p);
  }
  /* Kept as valid UTF-8 (bytes of a broken sequence become '?'), without
   * control characters. */
  char *slot;
  if (jb->ntail < CS_JOBS_TAIL_LINES) {
    slot = jb->tail[(jb->tail_at + jb->ntail++) % CS_JOBS_TAIL_LINES];
  } else {
    slot = jb->tail[jb->tail_at];
    jb->tail_at = (jb->tail_at + 1) % CS_JOBS_TAIL_LINES;
  }
  if (n > CS_JOBS_LINE_MAX) n = cs_utf8_cut(line, n, CS_JOBS_LINE_MAX);
  memcpy(slot, line, n);
  slot[n] = 0;
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)slot[i] < 0x20) slot[i] = ' ';
  }
  if (!cs_utf8_valid(slot, n)) {
    for (size_t i = 0; i < n; i++) {
      if ((unsigned char)slot[i] >= 0x80) slot[i] = '?';
    }
  }
}

/* ---------------------------------------------------------------- supervisor */

typedef struct stream {
  int fd;
  int is_stdout;
  char buf[4096];
  size_t n;
  int skipping; /* the current line overflowed buf: drop it up to '\n' */
} stream;

/* Reads what is there; returns 0 at end of file. */
static int pump(cs_jobs *j, job *jb, stream *s) {
  ssize_t k = read(s->fd, s->buf + s->n, sizeof s->buf - 1 - s->n);
  if (k < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
  if (k == 0) {
    if (s->n && !s->skipping) {
      s->buf[s->n] = 0;
      pthread_mutex_lock(&j->lock);
      take_line(jb, s->is_stdout, s->buf, s->n);
      pthread_mutex_unlock(&j->lock);
    }
    s->n = 0;
    return 0;
  }
  s->n += (size_t)k;
  size_t start = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (s->buf[i] != '\n') continue;
    s->buf[i] = 0;
    if (!s->skipping) {
      pthread_mutex_lock(&j->lock);
      take_line(jb, s->is_stdout, s->buf + start, i - start);
      pthread_mutex_unlock(&j->lock);
    }
    s->skipping = 0;
    start = i + 1;
  }
  memmove(s->buf, s->buf + start, s->n - start);
  s->n -= start;
  if (s->n == sizeof s->buf - 1) {
    /* A line longer than the buffer: keep its start, drop the rest. */
    if (!s->skipping) {
      s->buf[s->n] = 0;
      pthread_mutex_lock(&j->lock);
      take_line(jb, s->is_stdout, s->buf, s->n);
      pthread_mutex_unlock(&j->lock);
    }
    s->skipping = 1;
    s->n = 0;
  }
  return 1;
}

static void finish(cs_jobs *j, job *jb, int exit_code) {
  jb->exit_code = exit_code;
  jb->state = exit_code == 0 ? J_SUCCEEDED : J_FAILED;
  jb->finished_ms = cs_clock_ms(CLOCK_REALTIME);
  j->running = NULL;
  pthread_cond_broadcast(&j->cond);
}

static void *supervise(void *arg) {
  cs_jobs *j = arg;
  pthread_mutex_lock(&j->lock);
  job *jb = j->running;
  uint64_t id = jb->id;
  pthread_mutex_unlock(&j->lock);

  const char *argv[10];
  int a = 0;
  argv[a++] = j->indexer;
  argv[a++] = "reindex";
  argv[a++] = "--pg";
  argv[a++] = j->pg;
  argv[a++] = "--index";
  argv[a++] = j->index_dir;
  if (j->opensearch) {
    argv[a++] = "--opensearch";
    argv[a++] = j->opensearch;
  }
  argv[a] = NULL;

  int out[2] = {-1, -1}, errp[2] = {-1, -1}, st[2] = {-1, -1};
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = -1;
  int e = 0;
  if (devnull < 0 || pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) || pipe2(st, O_CLOEXEC)) {
    e = errno;
  } else {
    pid_t parent = getpid();
    pid = fork();
    if (pid == 0) {
      /* The child: async-signal-safe calls only until exec. */
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, NULL);
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_handler = SIG_DFL;
      sigaction(SIGPIPE, &sa, NULL);
      sigaction(SIGTERM, &sa, NULL);
      sigaction(SIGINT, &sa, NULL);
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      if (dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0) _exit(127);
      /* Nothing else of the server's crosses exec (most is O_CLOEXEC
       * already; this covers the rest). */
      close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
      execv(argv[0], (char *const *)argv);
      int x = errno;
      ssize_t w = write(st[1], &x, sizeof x);
      (void)w;
      _exit(127);
    }
    if (pid < 0) e = errno;
  }
  if (devnull >= 0) close(devnull);
  if (out[1] >= 0) close(out[1]);
  if (errp[1] >= 0) close(errp[1]);
  if (st[1] >= 0) close(st[1]);
  if (pid > 0) {
    /* exec succeeded when the status pipe closes without a word. */
    int x;
    ssize_t k;
    do
      k = read(st[0], &x, sizeof x);
    while (k < 0 && errno == EINTR);
    if (k == (ssize_t)sizeof x) {
      e = x;
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
      pid = -1;
    }
  }
  if (st[0] >= 0) close(st[0]);

  pthread_mutex_lock(&j->lock);
  if (pid <= 0) {
    j->spawn = -1;
    j->spawn_errno = e ? e : EIO;
    finish(j, jb, 127);
    pthread_mutex_unlock(&j->lock);
    if (out[0] >= 0) close(out[0]);
    if (errp[0] >= 0) close(errp[0]);
    cs_log(CS_LOG_ERROR, "reindex job %" PRIu64 ": cannot run %s: %s", id, j->indexer,
           strerror(e ? e : EIO));
    return NULL;
  }
  j->pid = pid;
  j->spawn = 1;
  pthread_cond_broadcast(&j->cond);
  pthread_mutex_unlock(&j->lock);
  cs_log(CS_LOG_INFO, "reindex job %" PRIu64 ": started %s (pid %d)", id, j->indexer, (int)pid);

  stream ss[2];
  memset(ss, 0, sizeof ss);
  ss[0].fd = out[0];
  ss[0].is_stdout = 1;
  ss[1].fd = errp[0];
  int open_n = 2;
  while (open_n > 0) {
    struct pollfd pf[2];
    int np = 0, map[2];
    for (int i = 0; i < 2; i++) {
      if (ss[i].fd < 0) continue;
      pf[np].fd = ss[i].fd;
      pf[np].events = POLLIN;
      pf[np].revents = 0;
      map[np++] = i;
    }
    int r = poll(pf, (nfds_t)np, 1000);
    if (r < 0 && errno != EINTR) break;
    if (r == 0) {
      /* Quiet: if the child is gone, something else may hold the pipes
       * (a grandchild); do not wait for it. */
      siginfo_t si;
      memset(&si, 0, sizeof si);
      if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
        break;
      continue;
    }
    for (int k = 0; k < np; k++) {
      if (!pf[k].revents) continue;
      stream *s = &ss[map[k]];
      if (!pump(j, jb, s)) {
        close(s->fd);
        s->fd = -1;
        open_n--;
      }
    }
  }
  for (int i = 0; i < 2; i++) {
    if (ss[i].fd >= 0) close(ss[i].fd);
  }
  siginfo_t si;
  while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&j->lock);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  j->pid = 0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  finish(j, jb, code);
  pthread_mutex_unlock(&j->lock);
  if (code == 0)
    cs_log(CS_LOG_INFO, "reindex job %" PRIu64 ": succeeded", id);
  else
    cs_log(CS_LOG_WARN, "reindex job %" PRIu64 ": failed (exit code %d)", id, code);
  return NULL;
}

/* ---------------------------------------------------------------- start/stop */

static uint64_t new_id(cs_jobs *j) {
  for (;;) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      v ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid() << 32;
    }
    /* 2^52 .. 2^53 - 1: sixteen digits, exact as a JavaScript number. */
    v = (v & ((1ULL << 52) - 1)) | (1ULL << 52);
    int used = 0;
    for (size_t i = 0; i < CS_JOBS_KEPT; i++)
      used |= j->jobs[i].id == v;
    if (!used) return v;
  }
}

int cs_jobs_start(cs_jobs *j, json_t **out, uint64_t *id, char *err, size_t cap) {
  *out = NULL;
  *id = 0;
  pthread_mutex_lock(&j->lock);
  if (j->running) {
    *id = j->running->id;
    pthread_mutex_unlock(&j->lock);
    return CS_JOBS_BUSY;
  }
  if (j->thread_live) {
    /* The previous supervisor has finished (running is NULL): it only
     * returns from here on. */
    pthread_join(j->thread, NULL);
    j->thread_live = 0;
  }
  job *jb = &j->jobs[j->next_slot];
  j->next_slot = (j->next_slot + 1) % CS_JOBS_KEPT;
  json_decref(jb->progress);
  memset(jb, 0, sizeof *jb);
  jb->id = new_id(j);
  jb->state = J_RUNNING;
  jb->started_ms = cs_clock_ms(CLOCK_REALTIME);
  j->running = jb;
  j->pid = 0;
  j->spawn = 0;
  if (pthread_create(&j->thread, NULL, supervise, j) != 0) {
    j->running = NULL;
    jb->id = 0;
    pthread_mutex_unlock(&j->lock);
    snprintf(err, cap, "cannot start a supervisor thread");
    return CS_JOBS_ERROR;
  }
  j->thread_live = 1;
  while (j->spawn == 0)
    pthread_cond_wait(&j->cond, &j->lock);
  if (j->spawn < 0) {
    snprintf(err, cap, "cannot run the indexer: %s", strerror(j->spawn_errno));
    jb->id = 0; /* nobody knows this job */
    pthread_mutex_unlock(&j->lock);
    return CS_JOBS_ERROR;
  }
  *id = jb->id;
  *out = job_json(jb);
  pthread_mutex_unlock(&j->lock);
  return CS_JOBS_STARTED;
}

/* Waits (lock held) until no job runs or the deadline passes. */
static void wait_idle(cs_jobs *j, int seconds) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += seconds;
  while (j->running) {
    if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) == ETIMEDOUT) break;
  }
}

void cs_jobs_destroy(cs_jobs *j) {
  if (!j) return;
  {
    pthread_mutex_lock(&j->lock);
    if (j->running && j->pid > 0) {
      cs_log(CS_LOG_INFO, "stopping reindex job %" PRIu64 " (SIGTERM to pid %d)", j->running->id,
             (int)j->pid);
      kill(j->pid, SIGTERM);
      wait_idle(j, CS_JOBS_GRACE_S);
      if (j->running && j->pid > 0) {
        cs_log(CS_LOG_WARN, "reindex job %" PRIu64 " still running: SIGKILL", j->running->id);
        kill(j->pid, SIGKILL);
      }
    }
    while (j->running)
      pthread_cond_wait(&j->cond, &j->lock);
    pthread_mutex_unlock(&j->lock);
    if (j->thread_live) pthread_join(j->thread, NULL);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
  }
  for (size_t i = 0; i < CS_JOBS_KEPT; i++)
    json_decref(j->jobs[i].progress);
  free(j->indexer);
  free(j->pg);
  free(j->index_dir);
  free(j->opensearch);
  free(j);
}
