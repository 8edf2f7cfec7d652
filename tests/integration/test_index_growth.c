/*
 * The index does not grow without bound after a reader dies, and erasure
 * leaves the files by itself (issue 14):
 *   - a process holding a read view of the index is killed with SIGKILL
 *     (as a query server under kill -9) while `run` follows a minute of
 *     writes and of transaction ids consumed elsewhere in the cluster (the
 *     horizon moves on every poll) and a small change every second:
 *     data.mdb stays within a small bound (256 KiB)
 *     (stale reader slots are cleared; idle polls do not commit);
 *   - a person is erased while `run` follows: once it has compacted (it does
 *     so when next idle), `grep -a` finds none of their words, name or
 *     e-mail address in any file of the index directory.
 *   CS_GROWTH_SECONDS overrides the minute.
 */
#include "harness.h"
#include "store.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static long long data_size(const char *index) {
  char path[700];
  snprintf(path, sizeof path, "%s/current/data.mdb", index);
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* A child that opens a read view and holds it until killed. */
static pid_t hold_read_view(const char *index) {
  int ready[2];
  REQUIRE(pipe(ready) == 0, "pipe");
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork");
  if (pid == 0) {
    close(ready[0]);
    cs_store *s;
    cs_txn *t;
    if (cs_store_open(index, CS_STORE_RDONLY, &s, NULL, 0) || cs_txn_begin(s, 0, &t)) _exit(1);
    if (write(ready[1], "r", 1) != 1) _exit(1);
    for (;;)
      pause();
  }
  close(ready[1]);
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1 && c == 'r', "the reader did not open the index");
  close(ready[0]);
  return pid;
}

static int grep_index(const char *index, const char *word) {
  char cmd[900];
  snprintf(cmd, sizeof cmd, "grep -raqi -- '%s' '%s'", word, index);
  return system(cmd) == 0;
}

int main(void) {
  th_init("index-growth");
  PGconn *c, *other;
  char pg[700], index[600];
  th_db_create("t_growth_other", NULL, &other); /* transaction ids consumed elsewhere */
  snprintf(pg, sizeof pg, "%s", th_db_create("t_growth", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Uno');"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES (1, 1, 1, 'x'), "
            "(3, 1, 1, 'y');"
            "INSERT INTO segments VALUES (3, 0, 'a', 'other', 0, 1, 'una frase corta');"
            "INSERT INTO segments SELECT 1, g, 'a', 'other', 0, 1, 'palabra ' || g || ' ' || "
            "repeat('relleno ', 50) FROM generate_series(0, 199) g");
  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "100", NULL};
  pid_t indexer = th_indexer_spawn(run);
  REQUIRE(th_wait_docs(index, "relleno", 1, 20000) >= 0, "the first rows are not indexed");

  pid_t reader = hold_read_view(index);
  th_sleep_ms(300);
  kill(reader, SIGKILL);
  waitpid(reader, NULL, 0);
  long long start = data_size(index);
  int seconds = getenv("CS_GROWTH_SECONDS") ? atoi(getenv("CS_GROWTH_SECONDS")) : 60;
  char sql[200];
  for (int i = 0; i < seconds * 5; i++) {
    /* Five times a second: an xid elsewhere; once a second, a change here. */
    th_sql(other, "SELECT txid_current()");
    if (i % 5 == 0) {
      snprintf(sql, sizeof sql, "UPDATE conversations SET title = 'titulo %d' WHERE id = 3", i);
      th_sql(c, sql);
    }
    th_sleep_ms(200);
  }
  REQUIRE(th_wait_docs(index, "titulo", 1, 10000) >= 0, "the indexer stopped following");
  long long end = data_size(index);
  printf("data.mdb: %lld bytes after the reader was killed, %lld after %d s\n", start, end,
         seconds);
  CHECK(end <= start + 256 * 1024,
        "data.mdb grows at most 256 KiB in %d s after a reader is killed (%lld -> %lld)", seconds,
        start, end);

  /* Erasure: the person's words leave every file once the indexer is idle. */
  th_sql(c, "INSERT INTO patients (id, owner_id, name, email) VALUES "
            "(2, 1, 'Zoilo Garabandal', 'zg@example.org');"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(2, 2, 1, 'Entrevista');"
            "INSERT INTO segments VALUES (2, 0, 'Zoilo', 'beneficiary', 0, 1, "
            "'Fui marimbista en Zamora')");
  REQUIRE(th_wait_docs(index, "marimbista", 1, 20000) >= 0, "the person is not indexed");
  int compactions = th_log_count("compacted ");
  th_sql(c, "INSERT INTO events (stream, version, type, payload, actor_id) VALUES "
            "('p2', 1, 'patient.erased', '{\"patient_id\": 2}', 1)");
  int64_t until = th_now_ms() + 20000;
  while (th_log_count("compacted ") == compactions && th_now_ms() < until)
    th_sleep_ms(100);
  CHECK(th_log_count("compacted ") == compactions + 1,
        "the indexer compacts by itself after the erasure");
  CHECK(th_docs_with(index, "marimbista") == 0, "the erased person is not found");
  static const char *const words[] = {"marimbista", "Garabandal", "Zoilo", "zg@example.org",
                                      "Zamora"};
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    CHECK(!grep_index(index, words[i]), "grep -a finds no \"%s\" in %s", words[i], index);
  CHECK(grep_index(index, "relleno"), "(grep does find what should be there)");
  CHECK(th_docs_with(index, "relleno") >= 1, "the compacted index serves");
  th_sql(c, "UPDATE conversations SET title = 'despuesdecompactar' WHERE id = 1");
  CHECK(th_wait_docs(index, "despuesdecompactar", 1, 20000) >= 0,
        "the indexer goes on following on the compacted generation");
  th_stop(indexer);
  PQfinish(other);
  PQfinish(c);
  return th_done();
}
