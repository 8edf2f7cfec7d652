/*
 * A following indexer hands back what a catch-up used. A first load of
 * 80,000 turns over a large vocabulary (~60,000 words) takes ~100 MiB at
 * its peak: the batch's pending postings and LMDB's copies of the pages
 * its commits write. Once it is indexed, compacted and the indexer waits
 * for changes, its own memory (RssAnon, /proc) is under IDLE_ANON_MAX
 * (glibc kept the freed memory: 96 MiB). Then 80,000 more turns written
 * at once are caught up by the following indexer: idle again, it is still
 * under IDLE_ANON_MAX (LMDB kept its largest commit's page copies: 49
 * MiB), and it indexes what is written next. Under the sanitizers the
 * allocator is theirs, so the memory is printed, not checked.
 */
#include "harness.h"
#include "store.h"

#include <stdio.h>

#define IDLE_ANON_MAX (25LL << 20)

#if defined(__SANITIZE_ADDRESS__)
#define CHECK_MEMORY 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECK_MEMORY 0
#endif
#endif
#ifndef CHECK_MEMORY
#define CHECK_MEMORY 1
#endif

/* Conversations [from, to) of 40 turns, twelve words each, drawn from
 * ~60,000 made-up ones: many distinct terms per batch, as in a first load
 * of several years of interviews or a catch-up of a long backlog. */
static void add_turns(PGconn *c, int from, int to) {
  char sql[1024];
  snprintf(sql, sizeof sql,
           "INSERT INTO conversations (id, patient_id, owner_id, title, created_at) "
           "SELECT g, 1 + g %% 200, 1 + g %% 4, 'Entrevista ' || g, now() "
           "FROM generate_series(%d, %d) g;"
           "INSERT INTO segments SELECT g, s, 'Ana', 'interviewer', s * 1000, s * 1000 + 900, "
           "(SELECT string_agg('voz' || ((g * 7919 + s * 104729 + k * k * 31) %% 60000), ' ') "
           " FROM generate_series(1, 12) k) "
           "FROM generate_series(%d, %d) g, generate_series(0, 39) s",
           from, to - 1, from, to - 1);
  th_sql(c, sql);
}

/* Checks pid's own memory once it has been idle a while after `what`. */
static void idle_memory(pid_t pid, const char *what) {
  th_sleep_ms(1500); /* a few polls without changes */
  long long anon = th_mem_of(pid).anon;
  printf("indexer's own memory while idle after %s: %.1f MiB\n", what, anon / 1048576.0);
  REQUIRE(anon > 0, "cannot read the indexer's memory");
  if (CHECK_MEMORY)
    CHECK(anon < IDLE_ANON_MAX, "the idle indexer keeps %.1f MiB after %s (at most %lld expected)",
          anon / 1048576.0, what, IDLE_ANON_MAX >> 20);
  else
    printf("(sanitizer build: the memory is not checked)\n");
}

int main(void) {
  th_init("idle_memory");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_idle_memory", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees SELECT g, 'E' || g, NULL FROM generate_series(1, 4) g;"
            "INSERT INTO patients (id, owner_id, name) SELECT g, 1 + g % 4, 'Persona ' || g "
            "FROM generate_series(1, 200) g");
  add_turns(c, 1, 2001);
  REQUIRE(th_sql_int(c, "SELECT count(*) FROM segments") == 80000, "not the 80,000 turns");

  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "100", NULL};
  pid_t ix = th_indexer_spawn(run);
  int64_t t0 = th_now_ms();
  while (th_log_count("compacted") == 0 && th_now_ms() - t0 < 120000)
    th_sleep_ms(100);
  REQUIRE(th_log_count("compacted") > 0, "the first load was not indexed and compacted in 120 s");
  CHECK(th_wait_docs(index, "voz7919", 1, 10000) >= 0, "the first load is searchable");
  idle_memory(ix, "the first load");

  /* A backlog caught up by the following indexer, in one transaction with
   * a word of its own at its end. */
  th_sql(c, "BEGIN");
  add_turns(c, 2001, 4001);
  th_sql(c, "INSERT INTO segments VALUES (4000, 40, 'Ana', 'interviewer', 0, 1, 'finatraso');"
            "COMMIT");
  CHECK(th_wait_docs(index, "finatraso", 1, 120000) >= 0, "the backlog is caught up");
  CHECK(th_index_count(index, CS_T_TURN) == 160001, "every turn of the backlog is indexed (%lld)",
        (long long)th_index_count(index, CS_T_TURN));
  idle_memory(ix, "the catch-up of a backlog");
  CHECK(th_log_count("opening the index again") == 1, "the log says why the index was reopened");

  th_sql(c, "INSERT INTO segments VALUES (7, 40, 'Ana', 'interviewer', 0, 1, "
            "'despues de la carga palabraluego')");
  CHECK(th_wait_docs(index, "palabraluego", 1, 10000) >= 0,
        "a turn written after the load is indexed");
  th_stop(ix);
  PQfinish(c);
  return th_done();
}
