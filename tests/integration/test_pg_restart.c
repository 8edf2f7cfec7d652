/*
 * PostgreSQL goes away while the indexer follows: it reconnects with backoff
 * and misses nothing written before the restart, while it was down, or
 * after. Uses a cluster of its own (the shared one keeps serving others).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cluster(const char *cmd, const char *dir) {
  char line[1200];
  snprintf(line, sizeof line, "%s/scripts/pg.sh %s '%s' >/dev/null", getenv("CS_SOURCE_DIR"), cmd,
           dir);
  REQUIRE(system(line) == 0, "pg.sh %s failed", cmd);
}

int main(void) {
  th_init("pg-restart");
  char dir[700], path[800], base[600], pg[800], index[700];
  snprintf(dir, sizeof dir, "%s/pg", th_dir());
  cluster("start", dir);
  snprintf(path, sizeof path, "%s/conninfo", dir);
  FILE *f = fopen(path, "r");
  REQUIRE(f && fgets(base, sizeof base, f), "no conninfo");
  fclose(f);
  base[strcspn(base, "\n")] = 0;
  snprintf(pg, sizeof pg, "%s dbname=postgres", base);
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  PGconn *c = th_connect(pg);
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Uno');"
            "INSERT INTO conversations (id, patient_id, owner_id) VALUES (1, 1, 1);"
            "INSERT INTO segments VALUES (1, 0, 'a', 'other', 0, 1, 'antesdelcorte')");
  PQfinish(c);
  const char *run[] = {"run", "--pg", pg, "--index", index, "--poll-ms", "100", NULL};
  pid_t ix = th_indexer_spawn(run);
  CHECK(th_wait_docs(index, "antesdelcorte", 1, 10000) >= 0, "indexed before the restart");

  cluster("stop", dir);
  th_sleep_ms(700); /* the indexer notices and starts retrying */
  cluster("start", dir);
  /* Written right after the restart, likely before the indexer reconnects. */
  c = th_connect(pg);
  th_sql(c, "INSERT INTO segments VALUES (1, 1, 'a', 'other', 0, 1, 'durantelareconexion')");
  CHECK(th_wait_docs(index, "durantelareconexion", 1, 15000) >= 0,
        "a change written while the indexer was reconnecting is indexed");
  th_sql(c, "INSERT INTO segments VALUES (1, 2, 'a', 'other', 0, 1, 'despuesdelcorte')");
  CHECK(th_wait_docs(index, "despuesdelcorte", 1, 5000) >= 0, "live changes after reconnecting");
  CHECK(th_docs_with(index, "antesdelcorte") == 1, "nothing lost or doubled");
  CHECK(th_log_count("lost the connection") + th_log_count("cannot connect") >= 1,
        "the indexer logged the outage");
  th_stop(ix);
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  CHECK(th_indexer(verify) == 0, "verify agrees after the restart");
  PQfinish(c);
  cluster("stop", dir);
  return th_done();
}
