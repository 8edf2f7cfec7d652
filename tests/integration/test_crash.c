/*
 * Crash safety: kill -9 the indexer at random moments during a catch-up of
 * more than 50,000 turns, restart it, and check with `verify` that nothing
 * was lost or applied twice; five rounds, each with new changes (new
 * conversations, re-transcriptions, deletions, events) to catch up on.
 */
#include "harness.h"
#include "store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Loads conversations [from, to) with `turns` turns each of synthetic
 * Spanish text (deterministic per conversation and turn). */
static void load(PGconn *c, int from, int to, int turns) {
  char sql[4096];
  snprintf(
      sql, sizeof sql,
      "INSERT INTO conversations (id, patient_id, owner_id, title, created_at) "
      "SELECT g, 1 + g %% 50, 1 + g %% 3, 'Entrevista ' || g, now() "
      "FROM generate_series(%d, %d) g;"
      "INSERT INTO segments "
      "SELECT g, s, CASE WHEN s %% 2 = 0 THEN 'Ana' ELSE 'Persona' END, "
      "CASE WHEN s %% 2 = 0 THEN 'interviewer' ELSE 'beneficiary' END, s * 1000, s * 1000 + 900, "
      "(ARRAY['vivo','alquiler','trabajo','familia','casa','hijos','médico','ayuda','dinero',"
      "'papeles','colegio','comida','frío','calle','piso','contrato','salud','miedo'])[1 + (g * 7 "
      "+ s) %% 18] || ' ' || "
      "(ARRAY['en','con','para','sin','desde','hasta'])[1 + (g + s) %% 6] || ' ' || "
      "(ARRAY['Madrid','Getafe','la parroquia','el albergue','mi hermana','la oficina'])[1 + (g * "
      "3 + s) %% 6] || "
      "' palabra' || ((g * 31 + s * 17) %% 5000) || ' y luego ' || "
      "(ARRAY['dijo que sí','no sabe','quizás mañana','eso es todo','ya veremos'])[1 + s %% 5] || "
      "' turno' || s "
      "FROM generate_series(%d, %d) g, generate_series(0, %d) s",
      from, to - 1, from, to - 1, turns - 1);
  th_sql(c, sql);
}

int main(void) {
  th_init("crash");
  PGconn *c;
  char pg[700], index[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_crash", NULL, &c));
  snprintf(index, sizeof index, "%s/index", th_dir());
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees SELECT g, 'E' || g, NULL FROM generate_series(1, 3) g;"
            "INSERT INTO patients (id, owner_id, name) SELECT g, 1 + g % 3, 'Persona ' || g "
            "FROM generate_series(1, 50) g");
  load(c, 1, 1301, 40); /* 52,000 turns */
  REQUIRE(th_sql_int(c, "SELECT count(*) FROM segments") >= 50000, "not enough turns");

  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", "--batch-mb", "2", NULL};
  const char *verify[] = {"verify", "--pg", pg, "--index", index, NULL};
  int64_t t0 = th_now_ms();
  int killed_total = 0;
  for (int round = 0; round < 5; round++) {
    if (round > 0) {
      /* New work for this round's catch-up. */
      char sql[512];
      int base = 1301 + (round - 1) * 600;
      load(c, base, base + 600, 40);
      snprintf(sql, sizeof sql,
               "DELETE FROM segments WHERE conversation_id %% 37 = %d;"
               "INSERT INTO segments SELECT id, 0, 'Ana', 'interviewer', 0, 1, "
               "'transcripción nueva ronda%d' FROM conversations WHERE id %% 37 = %d;"
               "DELETE FROM conversations WHERE id %% 101 = %d;"
               "INSERT INTO events (stream, version, type, payload, actor_id) "
               "SELECT 'r%d-' || g, 1, 'conversation.played', "
               "jsonb_build_object('patient_id', 1 + g %% 50, 'conversation_id', g), 1 "
               "FROM generate_series(1, 300) g",
               round, round, round, round, round);
      th_sql(c, sql);
    }
    /* Kill it at random moments until one run completes by itself. */
    int kills = 0;
    for (int attempt = 0;; attempt++) {
      pid_t pid = th_indexer_spawn(once);
      int delay = attempt < 3 ? 5 + rand() % 120 : 100000;
      int rc = th_wait(pid, delay);
      if (rc == -1000) {
        /* th_wait killed it with SIGKILL at the timeout. */
        kills++;
        continue;
      }
      CHECK(rc == 0, "round %d: indexer run exited %d", round, rc);
      break;
    }
    killed_total += kills;
    printf("round %d: killed %d time(s) before a complete run\n", round, kills);
    int v = th_indexer(verify);
    CHECK(v == 0, "round %d: verify after crashes exited %d", round, v);
  }
  CHECK(killed_total >= 5, "the indexer was killed mid-run at least 5 times (%d)", killed_total);
  int64_t turns = th_sql_int(
      c, "SELECT count(*) FROM segments s JOIN conversations c ON c.id = s.conversation_id");
  CHECK(th_index_count(index, CS_T_TURN) == turns,
        "turn count in the index equals the store (%lld)", (long long)turns);
  printf("total %.1f s\n", (th_now_ms() - t0) / 1000.0);
  PQfinish(c);
  return th_done();
}
