/*
 * A following indexer hands back what a catch-up used. A first load of
 * 80,000 turns over a large vocabulary (~60,000 words) takes ~100 MiB at
 * its peak: the batch's pending postings and LMDB's copies of the pages
 * its commits write. Once that load is indexed, compacted and the indexer
 * waits for changes, its own memory (RssAnon, /proc) is under
 * IDLE_ANON_MAX; and it still indexes what is written next. (Before, it
 * kept the peak for as long as it ran: glibc keeps freed memory in the
 * process.) Under the sanitizers the allocator is theirs, so the memory is
 * printed, not checked.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_ANON_MAX (40LL << 20)

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

/* RssAnon of pid in bytes, -1 when unreadable. */
static long long rss_anon(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "RssAnon: %lld kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb < 0 ? -1 : kb << 10;
}

int main(void) {
  th_init("idle_memory");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_idle_memory", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  /* 2,000 conversations of 40 turns, twelve words each, drawn from
   * ~60,000 made-up ones: many distinct terms per batch, as in a real
   * first load of several years of interviews. */
  th_sql(c, "INSERT INTO employees SELECT g, 'E' || g, NULL FROM generate_series(1, 4) g;"
            "INSERT INTO patients (id, owner_id, name) SELECT g, 1 + g % 4, 'Persona ' || g "
            "FROM generate_series(1, 200) g;"
            "INSERT INTO conversations (id, patient_id, owner_id, title, created_at) "
            "SELECT g, 1 + g % 200, 1 + g % 4, 'Entrevista ' || g, now() "
            "FROM generate_series(1, 2000) g;"
            "INSERT INTO segments SELECT g, s, 'Ana', 'interviewer', s * 1000, s * 1000 + 900, "
            "(SELECT string_agg('voz' || ((g * 7919 + s * 104729 + k * k * 31) % 60000), ' ') "
            " FROM generate_series(1, 12) k) "
            "FROM generate_series(1, 2000) g, generate_series(0, 39) s");
  REQUIRE(th_sql_int(c, "SELECT count(*) FROM segments") == 80000, "not the 80,000 turns");

  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "100", NULL};
  pid_t ix = th_indexer_spawn(run);
  int64_t t0 = th_now_ms();
  while (th_log_count("compacted") == 0 && th_now_ms() - t0 < 120000)
    th_sleep_ms(100);
  REQUIRE(th_log_count("compacted") > 0, "the first load was not indexed and compacted in 120 s");
  CHECK(th_wait_docs(index, "voz7919", 1, 10000) >= 0, "the first load is searchable");
  /* Idle after the load: a few polls without changes. */
  th_sleep_ms(1500);
  long long anon = rss_anon(ix);
  printf("indexer's own memory while idle after the first load: %.1f MiB\n", anon / 1048576.0);
  REQUIRE(anon > 0, "cannot read the indexer's memory");
  if (CHECK_MEMORY)
    CHECK(anon < IDLE_ANON_MAX,
          "the idle indexer keeps %.1f MiB after its first load (at most %lld expected)",
          anon / 1048576.0, IDLE_ANON_MAX >> 20);
  else
    printf("(sanitizer build: the memory is not checked)\n");

  th_sql(c, "INSERT INTO segments VALUES (7, 40, 'Ana', 'interviewer', 0, 1, "
            "'despues de la carga palabraluego')");
  CHECK(th_wait_docs(index, "palabraluego", 1, 10000) >= 0,
        "a turn written after the load is indexed");
  th_stop(ix);
  PQfinish(c);
  return th_done();
}
