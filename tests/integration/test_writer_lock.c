/*
 * A following indexer keeps the index's writer lock for as long as it runs,
 * also while it compacts its first load and when it moves to the generation
 * a reindex made current. Before, it let go of the lock for a few
 * milliseconds each time it opened the index again: another writer landing
 * then (an operator's `compact`, a second indexer) took the index, and the
 * indexer exited 1. Here a thread asks for the lock without pause through
 * the whole run; it must never get it, an operator's `compact` must be
 * refused, and the indexer must still index what is written last.
 */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

static atomic_int stop_asking, taken, asked;
static char lock_path[700];

/* Asks for the writer lock as another writer would, without pause. */
static void *ask_for_lock(void *arg) {
  (void)arg;
  int fd = open(lock_path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return NULL;
  while (!atomic_load(&stop_asking)) {
    atomic_fetch_add(&asked, 1);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      atomic_fetch_add(&taken, 1);
      flock(fd, LOCK_UN);
    }
  }
  close(fd);
  return NULL;
}

int main(void) {
  th_init("writer_lock");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_writer_lock", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  snprintf(lock_path, sizeof lock_path, "%s/writer.lock", index);
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) SELECT g, 1, 'Persona ' || g "
            "FROM generate_series(1, 50) g;"
            "INSERT INTO conversations (id, patient_id, owner_id, title, created_at) "
            "SELECT g, 1 + g % 50, 1, 'Entrevista ' || g, now() FROM generate_series(1, 500) g;"
            "INSERT INTO segments SELECT g, s, 'Ana', 'interviewer', s * 1000, s * 1000 + 900, "
            "'la vivienda del turno ' || s || ' palabra' || ((g * 31 + s) % 5000) "
            "FROM generate_series(1, 500) g, generate_series(0, 39) s");

  /* The index directory and its lock file exist once `run` has opened it:
   * the first open is not what this test is about. */
  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "100", NULL};
  pid_t ix = th_indexer_spawn(run);
  int64_t t0 = th_now_ms();
  while (access(lock_path, F_OK) != 0 && th_now_ms() - t0 < 10000)
    th_sleep_ms(1);
  REQUIRE(access(lock_path, F_OK) == 0, "the indexer did not create %s", lock_path);
  pthread_t asker;
  REQUIRE(pthread_create(&asker, NULL, ask_for_lock, NULL) == 0, "cannot start the thread");

  /* The first load, then its compaction: the index is opened again on the
   * compacted generation. */
  while (th_log_count("compacted g1 into g2") == 0 && th_now_ms() - t0 < 60000)
    th_sleep_ms(20);
  REQUIRE(th_log_count("compacted g1 into g2") == 1, "the first load was not compacted in 60 s");
  CHECK(th_wait_docs(index, "palabra4999", 1, 10000) >= 0, "the first load is searchable");

  /* An operator's compaction while the indexer runs is refused. */
  const char *compact[] = {"compact", "--index", index, NULL};
  CHECK(th_indexer(compact) == 1, "compact is refused while the indexer runs");
  CHECK(th_log_count("stop the indexer first") == 1, "and says why");

  /* A reindex makes g3 current: the indexer moves to it. */
  const char *reindex[] = {"reindex", "--pg", pg, "--index", index, NULL};
  CHECK(th_indexer(reindex) == 0, "reindex succeeds while the indexer follows");
  t0 = th_now_ms();
  while (th_log_count("now indexing generation g3") == 0 && th_now_ms() - t0 < 10000)
    th_sleep_ms(20);
  CHECK(th_log_count("now indexing generation g3") == 1, "the indexer moved to the reindexed g3");

  th_sql(c, "INSERT INTO segments VALUES (3, 40, 'Ana', 'interviewer', 0, 1, 'palabrafinal')");
  CHECK(th_wait_docs(index, "palabrafinal", 1, 10000) >= 0,
        "a turn written after the reopenings is indexed");
  atomic_store(&stop_asking, 1);
  pthread_join(asker, NULL);
  printf("another writer asked for the lock %d times, got it %d times\n", atomic_load(&asked),
         atomic_load(&taken));
  CHECK(atomic_load(&asked) > 1000, "the thread asked for the lock (%d times)",
        atomic_load(&asked));
  CHECK(atomic_load(&taken) == 0,
        "another writer took the index's lock %d times while the indexer ran", atomic_load(&taken));
  th_stop(ix); /* and it ran until now: a clean exit on SIGTERM */
  PQfinish(c);
  return th_done();
}
