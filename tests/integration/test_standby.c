/*
 * A query node on a hot standby: a primary and a streaming standby of it
 * (scripts/pg.sh start / standby: pg_basebackup -R), an indexer following
 * the standby (no LISTEN there, nothing written: it polls). It loads what
 * the primary holds and verify against the primary agrees; each write on the
 * primary becomes searchable through the standby-following indexer within a
 * second; after updates and deletes verify agrees again, and a reindex
 * from the standby too.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cluster(const char *cmd, const char *dir, const char *primary) {
  char line[2000];
  snprintf(line, sizeof line, "%s/scripts/pg.sh %s '%s' '%s' >/dev/null", getenv("CS_SOURCE_DIR"),
           cmd, dir, primary ? primary : "");
  REQUIRE(system(line) == 0, "pg.sh %s %s failed", cmd, dir);
}

static void conninfo(const char *dir, char *out, size_t n) {
  char path[800], base[600];
  snprintf(path, sizeof path, "%s/conninfo", dir);
  FILE *f = fopen(path, "r");
  REQUIRE(f && fgets(base, sizeof base, f), "no conninfo in %s", dir);
  fclose(f);
  base[strcspn(base, "\n")] = 0;
  snprintf(out, n, "%s dbname=postgres", base);
}

int main(void) {
  th_init("standby");
  char pdir[700], sdir[700], primary[800], standby[800], index[700];
  snprintf(pdir, sizeof pdir, "%s/p", th_dir());
  snprintf(sdir, sizeof sdir, "%s/s", th_dir());
  snprintf(index, sizeof index, "%s/index", th_dir());
  cluster("start", pdir, NULL);
  conninfo(pdir, primary, sizeof primary);
  const char *install[] = {"install", "--pg", primary, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  PGconn *c = th_connect(primary);
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) SELECT g, 1, 'Persona ' || g "
            "FROM generate_series(1, 20) g;"
            "INSERT INTO conversations (id, patient_id, owner_id, title) "
            "SELECT g, 1 + g % 20, 1, 'Visita ' || g FROM generate_series(1, 300) g;"
            "INSERT INTO segments SELECT g, s, 'x', 'other', s, s + 1, "
            "'palabraprevia y texto de la visita ' || g FROM generate_series(1, 300) g, "
            "generate_series(0, 9) s");
  cluster("standby", sdir, pdir);
  conninfo(sdir, standby, sizeof standby);

  const char *run[] = {"run", "--pg", standby, "--index", index, "--poll-ms", "200", NULL};
  pid_t ix = th_indexer_spawn(run);
  CHECK(th_wait_docs(index, "palabraprevia", 3000, 30000) >= 0,
        "the standby-following indexer loads what the primary holds");
  CHECK(th_log_count("hot standby: polling") == 1, "it knows it follows a standby (polls)");
  CHECK(th_log_count("LISTEN") == th_log_count("no LISTEN/NOTIFY"), "and sent no LISTEN");

  /* (th_docs_with counts turns: 10 a conversation.) */
  /* Writes on the primary, searchable through the standby within a second. */
  int late = 0;
  int64_t worst = 0;
  for (int i = 0; i < 8; i++) {
    char sql[300], word[32];
    snprintf(word, sizeof word, "escritura%c", 'a' + i);
    snprintf(sql, sizeof sql,
             "INSERT INTO segments VALUES (%d, 100, 'x', 'other', 0, 1, '%s en el primario')",
             1 + i, word);
    int64_t t0 = th_now_ms();
    th_sql(c, sql);
    if (th_wait_docs(index, word, 1, 1000) < 0) late++;
    if (th_now_ms() - t0 > worst) worst = th_now_ms() - t0;
  }
  printf("primary write -> searchable on the standby's query node: worst %lld ms\n",
         (long long)worst);
  CHECK(late == 0, "each write on the primary is searchable within a second (%d late)", late);
  th_sql(c, "UPDATE segments SET text = 'reescrito' WHERE conversation_id = 7;"
            "DELETE FROM conversations WHERE id BETWEEN 200 AND 209");
  int64_t t0 = th_now_ms();
  while (th_docs_with(index, "palabraprevia") != 2890 && th_now_ms() - t0 < 5000)
    th_sleep_ms(50);
  CHECK(th_docs_with(index, "palabraprevia") == 2890 && th_docs_with(index, "reescrito") == 11,
        "updates and deletes follow (%d, %d)", th_docs_with(index, "palabraprevia"),
        th_docs_with(index, "reescrito"));
  th_stop(ix);
  CHECK(th_log_count("cannot execute") == 0, "nothing was refused by the standby");
  const char *verify[] = {"verify", "--pg", primary, "--index", index, NULL};
  CHECK(th_indexer(verify) == 0, "verify against the primary's data is clean");
  const char *reindex[] = {"reindex", "--pg", standby, "--index", index, NULL};
  CHECK(th_indexer(reindex) == 0, "reindex from the standby");
  CHECK(th_indexer(verify) == 0, "verify against the primary after the reindex");

  PQfinish(c);
  cluster("stop", sdir, NULL);
  cluster("stop", pdir, NULL);
  return th_done();
}
