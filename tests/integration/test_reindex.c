/*
 * Batch reindex without downtime: while a reader queries the index without
 * pause and the tailing indexer follows live writes, a reindex builds a new
 * generation and swaps it in. No query fails, no query finds nothing, and
 * changes written during the reindex are there afterwards. A reindex killed
 * with -9 leaves the old generation serving, and a second run succeeds
 * (one writing in the map, the default, one with no-load-in-map in its
 * settings file).
 */
#include "harness.h"
#include "store.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static char pg[700], index_dir[600];
static volatile int stop_queries;
static int queries, empty_answers;

/* Queries the index without pause, the way the server does: a fresh read
 * view per query on whatever generation is current. */
static void *query_loop(void *arg) {
  (void)arg;
  while (!stop_queries) {
    int n = th_docs_with(index_dir, "alquiler");
    queries++;
    if (n <= 0) empty_answers++;
  }
  return NULL;
}

static void load(PGconn *c, int from, int to) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "INSERT INTO conversations (id, patient_id, owner_id, title) "
           "SELECT g, 1 + g %% 20, 1, 'Entrevista ' || g FROM generate_series(%d, %d) g;"
           "INSERT INTO segments SELECT g, s, 'x', 'other', s, s + 1, "
           "'el alquiler del piso ' || g || ' turno ' || s || ' palabra' || (g * s %% 997) "
           "FROM generate_series(%d, %d) g, generate_series(0, 19) s",
           from, to - 1, from, to - 1);
  th_sql(c, sql);
}

int main(void) {
  th_init("reindex");
  PGconn *c;
  snprintf(pg, sizeof pg, "%s", th_db_create("t_reindex", NULL, &c));
  snprintf(index_dir, sizeof index_dir, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) SELECT g, 1, 'P' || g FROM "
            "generate_series(1, 20) g");
  load(c, 1, 1001); /* 20,000 turns */
  const char *run[] = {"run", "--pg", pg, "--index", index_dir, "--poll-ms", "100", NULL};
  pid_t tail = th_indexer_spawn(run);
  REQUIRE(th_wait_docs(index_dir, "alquiler", 20000, 60000) >= 0, "initial catch-up");
  /* The first run compacts its load when next idle (g1 into g2), holding
   * the reindex lock meanwhile. */
  int64_t until = th_now_ms() + 30000;
  while (th_log_count("compacted g1 into g2") == 0 && th_now_ms() < until)
    th_sleep_ms(50);
  REQUIRE(th_log_count("compacted g1 into g2") == 1, "the first run compacts its load");

  pthread_t q;
  pthread_create(&q, NULL, query_loop, NULL);
  const char *reindex[] = {"reindex", "--pg", pg, "--index", index_dir, NULL};
  pid_t rx = th_indexer_spawn(reindex);
  /* Writes during the reindex. */
  load(c, 2001, 2011);
  th_sql(c, "UPDATE segments SET text = 'cambiadodurante el alquiler' WHERE conversation_id = 5 "
            "AND seq = 0");
  int rc = th_wait(rx, 120000);
  CHECK(rc == 0, "reindex succeeds while queries and writes go on (exit %d)", rc);
  CHECK(th_log_count("(pages written in the map)") == 1, "writing in the map by default");
  load(c, 3001, 3011); /* and right after it */
  CHECK(th_wait_docs(index_dir, "alquiler", 20000 + 400, 10000) >= 0,
        "changes written during and after the reindex are indexed");
  CHECK(th_wait_docs(index_dir, "cambiadodurante", 1, 5000) >= 0,
        "an update made during the reindex");
  stop_queries = 1;
  pthread_join(q, NULL);
  printf("%d queries ran during the reindex, %d found nothing\n", queries, empty_answers);
  CHECK(queries > 20, "queries kept running (%d)", queries);
  CHECK(empty_answers == 0, "no moment without results (%d empty answers)", empty_answers);
  CHECK(th_log_count("now indexing generation g3") == 1,
        "the tailing indexer moved to the new generation");
  const char *verify[] = {"verify", "--pg", pg, "--index", index_dir, NULL};
  th_stop(tail);
  CHECK(th_indexer(verify) == 0, "verify agrees after the reindex");

  /* kill -9 in the middle of a reindex. */
  int killed = 0;
  for (int attempt = 0; attempt < 10 && !killed; attempt++) {
    pid_t k = th_indexer_spawn(reindex);
    rc = th_wait(k, 20 + rand() % 80);
    killed = rc == -1000;
  }
  CHECK(killed, "a reindex was killed mid-run");
  char link[700], target[64] = "";
  snprintf(link, sizeof link, "%s/current", index_dir);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n > 0) target[n] = 0;
  CHECK(!strcmp(target, "g3"), "the old generation still serves after the crash (%s)", target);
  CHECK(th_docs_with(index_dir, "alquiler") > 0, "and answers queries");
  /* What a reindex killed while it repacked its copy leaves: gN.packed. */
  char packed[800], cmd[1700];
  snprintf(packed, sizeof packed, "%s/g3.packed", index_dir);
  snprintf(cmd, sizeof cmd, "mkdir -p '%s' && head -c 100000 /dev/zero > '%s/data.mdb'", packed,
           packed);
  REQUIRE(system(cmd) == 0, "staging a half-written repack");
  /* And what one killed after its swap but before it removed the generation
   * it replaced leaves: an older generation, still holding its words. */
  char older[800];
  snprintf(older, sizeof older, "%s/g1", index_dir);
  snprintf(cmd, sizeof cmd, "mkdir -p '%s' && echo palabraborrada > '%s/data.mdb'", older, older);
  REQUIRE(system(cmd) == 0, "staging an older generation");
  /* A compaction (or another reindex) holds the lock: the reindex waits for
   * it instead of failing. */
  char lockpath[800];
  snprintf(lockpath, sizeof lockpath, "%s/reindex.lock", index_dir);
  int lk = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  REQUIRE(lk >= 0 && flock(lk, LOCK_EX) == 0, "holding the reindex lock");
  /* It keeps page copies, asked for in a settings file. */
  char conf[700];
  snprintf(conf, sizeof conf, "%s/indexer.conf", th_dir());
  FILE *cf = fopen(conf, "w");
  REQUIRE(cf && fputs("[indexer]\nno-load-in-map = true\n", cf) >= 0 && fclose(cf) == 0,
          "writing %s", conf);
  const char *copies[] = {"reindex", "--pg", pg, "--index", index_dir, "--config", conf, NULL};
  pid_t waiting = th_indexer_spawn(copies);
  until = th_now_ms() + 20000;
  while (th_log_count("waiting for the reindex or compaction in progress") == 0 &&
         th_now_ms() < until)
    th_sleep_ms(50);
  CHECK(th_log_count("waiting for the reindex or compaction in progress") == 1,
        "a reindex started while the lock is held says it waits");
  th_sleep_ms(500);
  int st;
  CHECK(waitpid(waiting, &st, WNOHANG) == 0, "it is still waiting while the lock is held");
  close(lk);
  CHECK(th_wait(waiting, 120000) == 0, "and succeeds once the lock is released");
  CHECK(th_log_count("(page copies in memory)") == 1,
        "keeping page copies, as its settings file asks");
  CHECK(access(packed, F_OK) != 0, "the half-written repack of a killed run is removed");
  CHECK(access(older, F_OK) != 0, "an older generation a killed run left is removed");
  CHECK(th_indexer(verify) == 0, "verify agrees after it");
  PQfinish(c);
  return th_done();
}
