/*
 * The first `run` indexes what is already there. The stores are created and
 * filled by an application role (not a superuser, owner of its tables)
 * before `install`; the superuser installs; then:
 *   - `run --once` on an empty index loads everything: verify is clean and
 *     searches find the pre-existing words;
 *   - `run` (following) on another empty index, while a writer inserts,
 *     updates and deletes rows during the initial snapshot (shown to
 *     overlap: writes that began after the snapshot was taken and committed
 *     before the load was done), loses and doubles nothing: verify clean;
 *   - a first run killed with -9 in the middle of the load, with rows
 *     deleted and changed before the restart, resumes and ends clean; as
 *     if the machine had stopped during that load (a marker of another
 *     boot, index/unsynced.h), readers refuse the index and the next run
 *     loads it again;
 *   - the same load and overlap with the portal adapter (Django tables
 *     owned by their own role).
 * Every write after install is made by the application role too (capture
 * runs as the installing role, whatever role writes).
 */
#include "harness.h"
#include "reader.h"
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONVS 3000 /* 60,000 turns: a load long enough to overlap writes */
#define PORTAL_CONVS 1500

static const char *const SNAPSHOT_LINE = "initial load: snapshot taken";
static const char *const DONE_LINE = "initial load done";

/* Creates role `role` (cluster-wide, kept between runs) and lets it create
 * tables in the database of `su`; returns a connection as that role. */
static PGconn *app_role(PGconn *su, const char *conninfo, const char *role) {
  char sql[600], info[900];
  snprintf(sql, sizeof sql,
           "DO $$ BEGIN CREATE ROLE %s LOGIN NOSUPERUSER; EXCEPTION WHEN duplicate_object THEN "
           "NULL; END $$; GRANT CREATE, USAGE ON SCHEMA public TO %s",
           role, role);
  th_sql(su, sql);
  snprintf(info, sizeof info, "%s user=%s", conninfo, role);
  PGconn *c = th_connect(info);
  REQUIRE(th_sql_int(c, "SELECT (NOT rolsuper)::int FROM pg_roles WHERE rolname = current_user"),
          "%s must not be a superuser", role);
  return c;
}

static void sql_file_as(PGconn *c, const char *name) {
  char path[600];
  snprintf(path, sizeof path, "%s/schemas/%s", getenv("CS_SOURCE_DIR"), name);
  th_sql_file(c, path);
}

static uint64_t checkpoint_floor(const char *index_dir) {
  cs_store *s;
  cs_checkpoint cp;
  memset(&cp, 0, sizeof cp);
  if (cs_store_open(index_dir, CS_STORE_RDONLY, &s, NULL, 0)) return 0;
  cs_reader *r;
  if (cs_reader_open(s, &r) == 0) {
    cs_reader_checkpoint(r, &cp);
    cs_reader_close(r);
  }
  cs_store_close(s);
  return cp.floor_xid;
}

/* Waits until the following indexer has applied every change of
 * transaction `xid` and all before it (its floor passed xid). */
static int wait_floor_past(const char *index_dir, int64_t xid, int timeout_ms) {
  int64_t t0 = th_now_ms();
  while (checkpoint_floor(index_dir) <= (uint64_t)xid) {
    if (th_now_ms() - t0 > timeout_ms) return -1;
    th_sleep_ms(20);
  }
  return 0;
}

/* Runs the indexer with a pseudo-terminal as stdout and stderr; returns its
 * exit status and the last `cap` - 1 bytes it printed. */
static int run_on_terminal(const char *const *args, char *out, size_t cap) {
  int master;
  pid_t pid = forkpty(&master, NULL, NULL, NULL);
  REQUIRE(pid >= 0, "forkpty: %s", strerror(errno));
  if (pid == 0) {
    const char *argv[32];
    int n = 0;
    argv[n++] = th_indexer_path();
    for (int i = 0; args[i] && n < 31; i++)
      argv[n++] = args[i];
    argv[n] = NULL;
    execv(th_indexer_path(), (char *const *)argv);
    _exit(127);
  }
  size_t len = 0;
  char buf[4096];
  ssize_t got;
  while ((got = read(master, buf, sizeof buf)) > 0 || (got < 0 && errno == EINTR)) {
    if (got <= 0) continue;
    if (len + (size_t)got >= cap) { /* keep the end */
      size_t drop = len + (size_t)got - (cap - 1);
      if (drop > len) drop = len;
      memmove(out, out + drop, len - drop);
      len -= drop;
    }
    size_t take = (size_t)got < cap - 1 - len ? (size_t)got : cap - 1 - len;
    memcpy(out + len, buf + (size_t)got - take, take);
    len += take;
  }
  out[len] = 0;
  close(master);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A writer thread: one small transaction after another, from before the
 * indexer starts until some writes after its initial load is done. */
typedef struct writer {
  PGconn *c;
  void (*write)(PGconn *c, int i);
  int started_base, done_base;
  int writes, during, after;
  pthread_t th;
} writer;

static void *writer_loop(void *arg) {
  writer *w = arg;
  int64_t t0 = th_now_ms();
  while (w->after < 20 && th_now_ms() - t0 < 60000) {
    int started = th_log_count(SNAPSHOT_LINE) > w->started_base;
    w->write(w->c, w->writes++);
    int done = th_log_count(DONE_LINE) > w->done_base;
    if (started && !done) w->during++;
    if (done) w->after++;
  }
  return NULL;
}

/* Runs a following indexer on an empty index while `write` runs in a loop;
 * checks the writes overlapped the initial load, then that every one of
 * them is indexed (verify clean). */
static void follow_with_writer(PGconn *su, const char *pg, const char *role, const char *index_dir,
                               void (*write)(PGconn *, int), const char *what) {
  char info[900];
  snprintf(info, sizeof info, "%s user=%s", pg, role);
  writer w = {.c = th_connect(info),
              .write = write,
              .started_base = th_log_count(SNAPSHOT_LINE),
              .done_base = th_log_count(DONE_LINE)};
  pthread_create(&w.th, NULL, writer_loop, &w);
  th_sleep_ms(50); /* some writes before the snapshot too */
  const char *run[] = {"run", "--pg", pg, "--index", index_dir, "--poll-ms", "100", NULL};
  pid_t tail = th_indexer_spawn(run);
  pthread_join(w.th, NULL);
  PQfinish(w.c);
  printf("%s: %d writes, %d of them began after the snapshot and committed before the load "
         "was done\n",
         what, w.writes, w.during);
  CHECK(th_log_count(DONE_LINE) == w.done_base + 1, "%s: the initial load completed once", what);
  CHECK(w.during >= 3, "%s: writes overlapped the initial load (%d)", what, w.during);
  int64_t last = th_sql_int(su, "SELECT pg_current_xact_id()::text::bigint");
  CHECK(wait_floor_past(index_dir, last, 60000) == 0, "%s: the indexer caught up", what);
  th_stop(tail);
  const char *verify[] = {"verify", "--pg", pg, "--index", index_dir, NULL};
  CHECK(th_indexer(verify) == 0, "%s: verify clean after writes during the initial load", what);
}

/* ------------------------------------------------------------ canonical */

static void canonical_write(PGconn *c, int i) {
  char sql[2048], del[96] = "";
  int id = 100000 + i, old = 1 + (i * 37) % CONVS, gone = CONVS - i;
  /* Every tenth write deletes a pre-existing conversation, from the end the
   * load reads last. */
  if (i % 10 == 9 && gone > CONVS / 2)
    snprintf(del, sizeof del, "DELETE FROM conversations WHERE id = %d;", gone);
  snprintf(sql, sizeof sql,
           "BEGIN;"
           "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES (%d, 1, 2, "
           "'Nueva %d');"
           "INSERT INTO segments VALUES (%d, 0, 'Ana', 'interviewer', 0, 900, "
           "'durantecarga pregunta %d'), (%d, 1, 'Eva', 'beneficiary', 900, 1800, 'respuesta');"
           "UPDATE segments SET text = 'modificadacarga %d' WHERE conversation_id = %d AND seq = "
           "%d;"
           "UPDATE patients SET name = 'Renombrada %d', updated_at = now() WHERE id = %d;"
           "INSERT INTO events (stream, version, type, payload, actor_id) VALUES ('w-%d', 1, "
           "'conversation.played', jsonb_build_object('patient_id', %d), 2);"
           "%sCOMMIT",
           id, i, id, i, id, i, old, i % 20, i, 1 + i % 50, i, 1 + i % 50, del);
  th_sql(c, sql);
}

static void canonical(void) {
  PGconn *su;
  char pg[700], index1[600], index2[600], index3[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_first_run", NULL, &su));
  snprintf(index1, sizeof index1, "%s/once", th_dir());
  snprintf(index2, sizeof index2, "%s/follow", th_dir());
  snprintf(index3, sizeof index3, "%s/killed", th_dir());

  PGconn *app = app_role(su, pg, "cs_first_run_app");
  sql_file_as(app, "canonical.sql");
  char sql[2048];
  snprintf(sql, sizeof sql,
           "INSERT INTO employees VALUES (1, 'Ana', NULL), (2, 'Luis', NULL);"
           "INSERT INTO patients (id, owner_id, name) SELECT g, 1 + g %% 2, 'Persona ' || g "
           "FROM generate_series(1, 50) g;"
           "INSERT INTO conversations (id, patient_id, owner_id, title) SELECT g, 1 + g %% 50, "
           "1 + (1 + g %% 50) %% 2, 'Entrevista ' || g FROM generate_series(1, %d) g;"
           "INSERT INTO segments SELECT g, s, 'x', 'other', s * 1000, s * 1000 + 900, "
           "'preexistente del albergue ' || g || ' turno ' || s || ' palabra' || (g * s %% 997) "
           "FROM generate_series(1, %d) g, generate_series(0, 19) s;"
           "INSERT INTO relevant_points VALUES (1, '¿Tiene un lugar en el que vivir?', "
           "'vivienda'), (2, '¿Trabaja actualmente?', 'empleo');"
           "INSERT INTO patient_answers VALUES (1, 1, 'En un albergue', true);"
           "INSERT INTO events (stream, version, type, payload, actor_id) SELECT 'p-' || g, 1, "
           "'conversation.recorded', jsonb_build_object('patient_id', g, 'conversation_id', g), "
           "1 + g %% 2 FROM generate_series(1, 50) g",
           CONVS, CONVS);
  th_sql(app, sql);
  th_sql(app, "UPDATE segments SET text = 'el xilofonista antiguo' WHERE conversation_id = 7 AND "
              "seq = 3");
  CHECK(th_sql_int(su, "SELECT count(*) FROM pg_tables WHERE tableowner = 'cs_first_run_app' "
                       "AND tablename IN ('employees', 'patients', 'conversations', 'segments', "
                       "'relevant_points', 'patient_answers', 'events')") == 7,
        "the application role owns the seven canonical tables");
  PQfinish(app);

  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install by the superuser failed");
  const char *verify1[] = {"verify", "--pg", pg, "--index", index1, NULL};

  /* run --once on an empty index. */
  const char *once[] = {"run", "--pg", pg, "--index", index1, "--once", NULL};
  CHECK(th_indexer(once) == 0, "first run --once succeeds");
  CHECK(th_indexer(verify1) == 0, "verify clean after the first run --once");
  CHECK(th_docs_with(index1, "xilofonista") == 1, "a pre-existing word is found");
  CHECK(th_index_count(index1, CS_T_CONV) == CONVS, "every pre-existing conversation is indexed");
  CHECK(th_index_count(index1, CS_T_PATIENT) == 50, "every pre-existing person is indexed");
  CHECK(th_index_count(index1, CS_T_EVENT) == 50, "every pre-existing event is applied");
  CHECK(th_index_count(index1, CS_T_POINT) == 2, "every pre-existing relevant point is indexed");
  CHECK(th_log_count("\"phase\": \"conversations\"") > 0, "progress lines (JSON off a terminal)");
  static char term[65536];
  char index_tty[600];
  snprintf(index_tty, sizeof index_tty, "%s/tty", th_dir());
  const char *once_tty[] = {"run", "--pg", pg, "--index", index_tty, "--once", NULL};
  CHECK(run_on_terminal(once_tty, term, sizeof term) == 0, "first run on a terminal succeeds");
  CHECK(strstr(term, "\r[###") && strstr(term, "100% conversations") && !strstr(term, "\"phase\""),
        "on a terminal: a progress bar, no JSON lines");
  /* The next run tails: it does not load again. */
  {
    char info[900];
    snprintf(info, sizeof info, "%s user=cs_first_run_app", pg);
    PGconn *w = th_connect(info);
    th_sql(w,
           "UPDATE segments SET text = 'despuesdelacarga' WHERE conversation_id = 8 AND seq = 0");
    PQfinish(w);
  }
  int loads = th_log_count(DONE_LINE);
  CHECK(th_indexer(once) == 0, "second run --once succeeds");
  CHECK(th_log_count(DONE_LINE) == loads, "the second run does not load again");
  CHECK(th_docs_with(index1, "despuesdelacarga") == 1, "the second run tails the change");
  CHECK(th_indexer(verify1) == 0, "verify clean after the second run");

  /* Following mode, with writes during the initial snapshot. */
  follow_with_writer(su, pg, "cs_first_run_app", index2, canonical_write, "canonical");
  CHECK(th_docs_with(index2, "xilofonista") == 1, "following: a pre-existing word is found");
  CHECK(th_docs_with(index2, "durantecarga") > 0, "following: words written meanwhile are found");

  /* kill -9 in the middle of the initial load, changes, restart. */
  const char *run3[] = {"run", "--pg", pg, "--index", index3, "--batch-mb", "1", NULL};
  int64_t total = th_sql_int(su, "SELECT count(*) FROM conversations");
  int64_t at_kill = 0;
  for (int attempt = 0; attempt < 5 && (at_kill <= 0 || at_kill >= total); attempt++) {
    pid_t k = th_indexer_spawn(run3);
    int64_t t0 = th_now_ms();
    while ((at_kill = th_index_count(index3, CS_T_CONV)) <= 0 && th_now_ms() - t0 < 60000)
      th_sleep_ms(1);
    kill(k, SIGKILL);
    th_wait(k, 10000);
    at_kill = th_index_count(index3, CS_T_CONV);
  }
  printf("killed with %lld of %lld conversations loaded\n", (long long)at_kill, (long long)total);
  CHECK(at_kill > 0 && at_kill < total, "killed in the middle of the initial load (%lld of %lld)",
        (long long)at_kill, (long long)total);
  th_sql(su, "DELETE FROM conversations WHERE id = 2;"
             "UPDATE segments SET text = 'trasreinicio' WHERE conversation_id = 3 AND seq = 0;"
             "UPDATE patients SET name = 'Cambiada tras el corte' WHERE id = 4");
  const char *status3[] = {"status", "--index", index3, NULL};
  int in_progress = th_log_count("\"initial_load\": \"in progress\"");
  CHECK(th_indexer(status3) == 0 &&
            th_log_count("\"initial_load\": \"in progress\"") == in_progress + 1,
        "status says the initial load is in progress");
  int resumes = th_log_count("resuming the initial load");
  int clean_resumes = th_log_count("(unchanged 0, skipped");
  const char *once3[] = {"run", "--pg", pg, "--index", index3, "--once", NULL};
  CHECK(th_indexer(once3) == 0, "the run after the kill succeeds");
  CHECK(th_log_count("resuming the initial load") == resumes + 1, "it resumes the initial load");
  /* Conversations come in (owner, id) order: resuming after the marker's
   * owner and id reads none of what was committed again. */
  CHECK(th_log_count("(unchanged 0, skipped") == clean_resumes + 1,
        "the resumed load starts after what it had committed (nothing read twice)");
  const char *verify3[] = {"verify", "--pg", pg, "--index", index3, NULL};
  CHECK(th_indexer(verify3) == 0, "verify clean after a kill during the initial load");
  CHECK(th_docs_with(index3, "trasreinicio") == 1, "a change made while it was down is indexed");
  int done = th_log_count("\"initial_load\": \"done\"");
  CHECK(th_indexer(status3) == 0 && th_log_count("\"initial_load\": \"done\"") == done + 1,
        "status says the initial load is done");

  /* The load wrote without a sync per commit, behind a marker naming the
   * boot (index/unsynced.h): gone once it is over. A marker of another
   * boot (the machine stopped during a load) makes readers refuse the
   * index and the next run load it again from the stores. */
  char marker[700];
  snprintf(marker, sizeof marker, "%s/current/unsynced", index3);
  CHECK(access(marker, F_OK) != 0, "a finished load leaves no unsynced marker");
  FILE *f = fopen(marker, "w");
  int written = f && fputs("00000000-0000-0000-0000-000000000000\n", f) >= 0;
  REQUIRE(f && fclose(f) == 0 && written, "writing a marker of another boot");
  int stopped = th_log_count("when the machine stopped");
  CHECK(th_indexer(status3) != 0 && th_log_count("when the machine stopped") == stopped + 1,
        "status refuses the index, saying the machine stopped during its load");
  int loads3 = th_log_count(DONE_LINE);
  CHECK(th_indexer(once3) == 0 && th_log_count("starting it over") == 1,
        "the next run starts the generation over");
  CHECK(th_log_count(DONE_LINE) == loads3 + 1, "and loads the stores again");
  CHECK(th_indexer(verify3) == 0 && th_docs_with(index3, "trasreinicio") == 1,
        "verify clean after it");
  CHECK(access(marker, F_OK) != 0, "no marker left");
  PQfinish(su);
}

/* --------------------------------------------------------------- portal */

static void portal_write(PGconn *c, int i) {
  char sql[2048];
  int id = 100000 + i, old = 1 + (i * 37) % PORTAL_CONVS;
  snprintf(sql, sizeof sql,
           "BEGIN;"
           "INSERT INTO conversation_conversationmodel (id, patient_id, title, conversation, "
           "duration) VALUES (%d, 1, 'Nueva %d', to_jsonb('{\"conversation\": [{\"speaker\": "
           "\"Ana\", \"text\": \"durantecarga %d\"}]}'::text), 10);"
           "UPDATE conversation_conversationmodel SET conversation = '{\"conversation\": "
           "[{\"speaker\": \"Luis\", \"text\": \"modificadacarga %d\"}]}' WHERE id = %d;"
           "UPDATE conversation_patientmodel SET name = 'Renombrada %d' WHERE id = %d;"
           "INSERT INTO conversation_ephemeralanswermodel (conversation_id, question, answer) "
           "VALUES (%d, '¿Dónde?', 'Aquí');"
           "COMMIT",
           id, i, i, i, old, i, 1 + i % 40, old);
  th_sql(c, sql);
}

static void portal(void) {
  PGconn *su;
  char pg[700], index1[600], index2[600];
  snprintf(pg, sizeof pg, "%s", th_db_create("t_first_run_portal", NULL, &su));
  snprintf(index1, sizeof index1, "%s/portal-once", th_dir());
  snprintf(index2, sizeof index2, "%s/portal-follow", th_dir());
  PGconn *app = app_role(su, pg, "cs_first_run_django");
  sql_file_as(app, "portal_fixture.sql");
  char sql[2048];
  snprintf(sql, sizeof sql,
           "INSERT INTO core_user (id, email, name) VALUES (1, 'ana@x', 'Ana'), (2, 'luis@x', "
           "'Luis');"
           "INSERT INTO conversation_patientmodel (id, user_id, name) SELECT g, 1 + g %% 2, "
           "'Persona ' || g FROM generate_series(1, 40) g;"
           "INSERT INTO conversation_conversationmodel (id, patient_id, title, conversation, "
           "duration) SELECT g, 1 + g %% 40, 'Entrevista ' || g, to_jsonb(jsonb_build_object("
           "'conversation', (SELECT jsonb_agg(jsonb_build_object('speaker', 'x', 'text', "
           "'preexistente del albergue ' || g || ' turno ' || s || ' palabra' || (g * s %% 997))) "
           "FROM generate_series(0, 19) s))::text), 60 FROM generate_series(1, %d) g;"
           "UPDATE conversation_conversationmodel SET conversation = '{\"conversation\": "
           "[{\"speaker\": \"Ana\", \"text\": \"el xilofonista antiguo\"}]}' WHERE id = 7;"
           "INSERT INTO conversation_ephemeralanswermodel (conversation_id, question, answer) "
           "SELECT g, '¿Dónde vive?', 'En un albergue' FROM generate_series(1, 30) g;"
           "INSERT INTO conversation_relevantpointmodel (id, text, category) VALUES (1, '¿Tiene "
           "un lugar en el que vivir?', 'vivienda');"
           "INSERT INTO conversation_answermodel (patient_id, relevant_point_id, text) VALUES "
           "(1, 1, 'Sí')",
           PORTAL_CONVS);
  th_sql(app, sql);
  CHECK(th_sql_int(su, "SELECT count(*) FROM pg_tables WHERE tableowner = "
                       "'cs_first_run_django' AND tablename LIKE 'conversation_%'") == 5,
        "the Django role owns the portal tables");
  PQfinish(app);
  const char *install[] = {"install", "--pg", pg, "--portal", NULL};
  REQUIRE(th_indexer(install) == 0, "install --portal by the superuser failed");

  const char *once[] = {"run", "--pg", pg, "--index", index1, "--once", NULL};
  CHECK(th_indexer(once) == 0, "portal: first run --once succeeds");
  const char *verify1[] = {"verify", "--pg", pg, "--index", index1, NULL};
  CHECK(th_indexer(verify1) == 0, "portal: verify clean after the first run --once");
  CHECK(th_docs_with(index1, "xilofonista") == 1, "portal: a pre-existing word is found");
  CHECK(th_index_count(index1, CS_T_CONV) == PORTAL_CONVS,
        "portal: every pre-existing conversation is indexed");
  CHECK(th_index_count(index1, CS_T_EVENT) == 30, "portal: every pre-existing question is applied");

  follow_with_writer(su, pg, "cs_first_run_django", index2, portal_write, "portal");
  CHECK(th_docs_with(index2, "xilofonista") == 1, "portal following: a pre-existing word is found");
  CHECK(th_docs_with(index2, "durantecarga") > 0,
        "portal following: words written meanwhile are found");
  PQfinish(su);
}

int main(void) {
  th_init("first_run");
  canonical();
  portal();
  return th_done();
}
