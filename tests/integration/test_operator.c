/*
 * What an operator notices around the programs, with the real binaries and
 * PostgreSQL:
 *   - `convsearch-indexer COMMAND --help` shows that command's options only;
 *   - a wrong conninfo ends install, verify, reindex and `run --once` with one
 *     clear error line and a non-zero exit; a following `run` says it retries,
 *     with growing waits;
 *   - `run --index a/b/c` creates the missing parents;
 *   - the files run, compact and reindex create have the documented modes
 *     whatever the umask, take the group of a setgid directory, and another
 *     user of that group can read the index;
 *   - `compact` refuses while `run` or a reindex holds the index, and works
 *     after;
 *   - the README's token-minting snippet mints a token the server accepts
 *     when its secret file ends with a newline (or CRLF), and only one line
 *     ending is taken off the secret.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char pg[700];

/* Runs a shell command; its stdout and stderr go to out. Returns the exit
 * status (-1 when it did not exit normally). */
static int sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t cap, const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  char full[4200];
  snprintf(full, sizeof full, "( %s ) 2>&1", cmd);
  FILE *p = popen(full, "r");
  REQUIRE(p, "popen: %s", strerror(errno));
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Starts argv[0] with stderr to `log` (truncated). */
static pid_t spawn_logged(const char *log, const char *const *argv) {
  /* Emptied before the fork: a caller polling the log for the new process's
   * "listening on" line must not read the previous process's. */
  int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0, "cannot create %s", log);
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork");
  if (pid == 0) {
    dup2(fd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(fd);
  return pid;
}

/* th_dir()/name. */
static const char *scratch(char out[700], const char *name) {
  snprintf(out, 700, "%s/%s", th_dir(), name);
  return out;
}

static int count(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* ------------------------------------------------------------ --help */

static void t_help(void) {
  static const char *const cmds[] = {"install", "run",     "status", "verify",
                                     "reindex", "compact", "query"};
  char out[8192], want[64];
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    int rc = sh(out, sizeof out, "'%s' %s --help", th_indexer_path(), cmds[i]);
    snprintf(want, sizeof want, "usage: convsearch-indexer %s ", cmds[i]);
    CHECK(rc == 0 && !strncmp(out, want, strlen(want)),
          "%s --help starts with its usage (%d: %.80s)", cmds[i], rc, out);
    for (size_t j = 0; j < sizeof cmds / sizeof cmds[0]; j++) {
      snprintf(want, sizeof want, "\n  %s ", cmds[j]);
      CHECK(i == j || !strstr(out, want), "%s --help does not describe %s", cmds[i], cmds[j]);
    }
  }
  sh(out, sizeof out, "'%s' run --help", th_indexer_path());
  CHECK(strstr(out, "--poll-ms") && !strstr(out, "--portal") && !strstr(out, "--limit"),
        "run --help lists run's options only");
  sh(out, sizeof out, "'%s' status --help", th_indexer_path());
  CHECK(!strstr(out, "--pg"), "status --help does not mention --pg");
  int rc = sh(out, sizeof out, "'%s' status --pg x --index y", th_indexer_path());
  CHECK(rc == 2 && strstr(out, "--pg") && strstr(out, "usage: convsearch-indexer status"),
        "an option the command does not take is refused with that command's usage (%d)", rc);
  rc = sh(out, sizeof out, "'%s' --help", th_indexer_path());
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    snprintf(want, sizeof want, "\n  %s ", cmds[i]);
    CHECK(rc == 0 && count(out, want) == 1, "--help alone lists %s in one line", cmds[i]);
  }
}

/* ------------------------------------------------------------ conninfo */

static void one_error_line(const char *what, const char *conninfo, const char *index) {
  static const char *const cmds[] = {"install --pg '%s'", "verify --pg '%s' --index '%s'",
                                     "reindex --pg '%s' --index '%s'",
                                     "run --once --pg '%s' --index '%s'"};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    char args[2048], out[16384];
    snprintf(args, sizeof args, cmds[i], conninfo, index);
    int64_t t0 = th_now_ms();
    int rc = sh(out, sizeof out, "'%s' %s", th_indexer_path(), args);
    int64_t ms = th_now_ms() - t0;
    char name[16];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(args, " "), args);
    CHECK(rc != 0, "%s with %s exits non-zero (%d)", name, what, rc);
    CHECK(count(out, " error indexer: ") == 1 && count(out, "cannot connect to PostgreSQL") == 1,
          "%s with %s: one error line, saying it cannot connect:\n%s", name, what, out);
    CHECK(!strstr(out, "Is the server running") && !strstr(out, " warn "),
          "%s with %s: no libpq hint, no warnings:\n%s", name, what, out);
    CHECK(ms < 10000, "%s with %s gives up within 10 s (%lld ms)", name, what, (long long)ms);
  }
}

static void t_conninfo(const char *index) {
  char wrong_db[800];
  snprintf(wrong_db, sizeof wrong_db, "%s dbname=cs_operator_no_such_db", pg);
  one_error_line("no socket directory", "host=/nonexistent/cs-operator dbname=x", index);
  one_error_line("a wrong database", wrong_db, index);
  one_error_line("a malformed conninfo", "this is not a conninfo", index);
  char out[4096];
  sh(out, sizeof out, "'%s' install --pg '%s'", th_indexer_path(), wrong_db);
  CHECK(strstr(out, "cs_operator_no_such_db"), "the error names the database:\n%s", out);

  /* Following: it keeps trying, one line per attempt, waiting longer each time. */
  char log[700];
  const char *argv[] = {th_indexer_path(), "run", "--pg", "host=/nonexistent/cs-operator",
                        "--index",         index, NULL};
  pid_t pid = spawn_logged(scratch(log, "follow.log"), argv);
  th_sleep_ms(2500);
  kill(pid, SIGTERM);
  int rc = th_wait(pid, 10000);
  CHECK(rc == 0, "a following run stops cleanly on SIGTERM while retrying (%d)", rc);
  FILE *f = fopen(log, "r");
  REQUIRE(f, "no %s", log);
  char line[2048];
  long first = -1, last = -1;
  int retries = 0, hints = 0;
  while (fgets(line, sizeof line, f)) {
    hints += strstr(line, "Is the server running") != NULL;
    const char *p = strstr(line, "retrying in ");
    if (!p || !strstr(line, " warn ")) continue;
    long ms = atol(p + strlen("retrying in "));
    if (first < 0) first = ms;
    last = ms;
    retries++;
  }
  fclose(f);
  CHECK(retries >= 3, "a following run logs each retry (%d lines)", retries);
  CHECK(first > 0 && last >= 4 * first, "with exponential backoff (first %ld ms, last %ld ms)",
        first, last);
  CHECK(hints == 0, "retry lines carry the error's first line only");
}

/* ------------------------------------------------------------ modes */

static void check_mode(const char *path, unsigned want, gid_t gid) {
  struct stat st;
  int ok = lstat(path, &st) == 0;
  CHECK(ok && (st.st_mode & 0777) == want, "%s has mode %04o (has %04o)", path, want,
        ok ? (unsigned)(st.st_mode & 0777) : 0u);
  CHECK(ok && st.st_gid == gid, "%s belongs to group %u (has %u)", path, (unsigned)gid,
        ok ? (unsigned)st.st_gid : 0u);
}

static void check_generation(const char *index, const char *gen, gid_t gid) {
  char p[800];
  snprintf(p, sizeof p, "%s/%s", index, gen);
  check_mode(p, 0750, gid);
  snprintf(p, sizeof p, "%s/%s/data.mdb", index, gen);
  check_mode(p, 0640, gid);
  snprintf(p, sizeof p, "%s/%s/lock.mdb", index, gen);
  check_mode(p, 0660, gid);
}

/* `status` as user nobody of the index's group, when we can switch users. */
static void check_other_user_reads(const char *index, const char *when) {
  if (geteuid() != 0 || !getpwnam("nobody") || !getgrnam("nogroup")) {
    printf("SKIPPED reading as another user %s (needs root and nobody/nogroup)\n", when);
    return;
  }
  char out[8192];
  int rc = sh(out, sizeof out, "runuser -u nobody -g nogroup -- '%s' status --index '%s'",
              th_indexer_path(), index);
  CHECK(rc == 0 && strstr(out, "\"generation\""),
        "user nobody of group nogroup reads the index %s (%d):\n%s", when, rc, out);
}

static void t_modes(const char *index, const char *base) {
  struct group *g = getgrnam("nogroup");
  gid_t gid = getegid();
  if (geteuid() == 0 && g) {
    REQUIRE(chown(base, 0, g->gr_gid) == 0, "chown %s", base);
    gid = g->gr_gid;
  }
  REQUIRE(chmod(base, 02750) == 0, "chmod %s", base);
  mode_t old = umask(077); /* stricter than the modes: they are set explicitly */
  const char *once[] = {"run", "--pg", pg, "--index", index, "--once", NULL};
  CHECK(th_indexer(once) == 0, "run --index creates the missing parents of %s", index);
  char p[800];
  snprintf(p, sizeof p, "%s/a", base);
  check_mode(p, 0750, gid);
  snprintf(p, sizeof p, "%s/a/b", base);
  check_mode(p, 0750, gid);
  check_mode(index, 0750, gid);
  snprintf(p, sizeof p, "%s/writer.lock", index);
  check_mode(p, 0640, gid);
  /* The first run ends by compacting its load: g1 copied into g2. */
  check_generation(index, "g2", gid);
  check_other_user_reads(index, "after run");

  const char *compact[] = {"compact", "--index", index, NULL};
  CHECK(th_indexer(compact) == 0, "compact succeeds");
  check_generation(index, "g3", gid);
  check_other_user_reads(index, "after compact");

  const char *reindex[] = {"reindex", "--pg", pg, "--index", index, NULL};
  CHECK(th_indexer(reindex) == 0, "reindex succeeds");
  check_generation(index, "g4", gid);
  check_other_user_reads(index, "after reindex");
  umask(old);
}

/* ------------------------------------------------------------ compact */

static void t_compact_while_run(const char *index) {
  int before = th_log_count("connected to PostgreSQL");
  const char *follow[] = {"run", "--pg", pg, "--index", index, NULL};
  pid_t pid = th_indexer_spawn(follow);
  int64_t end = th_now_ms() + 20000;
  while (th_log_count("connected to PostgreSQL") == before && th_now_ms() < end)
    th_sleep_ms(20);
  char out[4096];
  int rc = sh(out, sizeof out, "'%s' compact --index '%s'", th_indexer_path(), index);
  CHECK(rc == 1 && count(out, "\n") == 1 && strstr(out, "stop the indexer"),
        "compact while run holds the index: refused in one line (%d):\n%s", rc, out);
  th_stop(pid);

  /* A reindex holds DIR/reindex.lock while it builds the next generation,
   * the one compact would write too. */
  char lock[800];
  snprintf(lock, sizeof lock, "%s/reindex.lock", index);
  int fd = open(lock, O_RDWR | O_CREAT, 0640);
  REQUIRE(fd >= 0 && flock(fd, LOCK_EX) == 0, "cannot lock %s", lock);
  rc = sh(out, sizeof out, "'%s' compact --index '%s'", th_indexer_path(), index);
  CHECK(rc == 1 && count(out, "\n") == 1 && strstr(out, "a reindex is running"),
        "compact while a reindex runs: refused in one line (%d):\n%s", rc, out);
  close(fd);

  rc = sh(out, sizeof out, "'%s' compact --index '%s'", th_indexer_path(), index);
  CHECK(rc == 0, "compact once run stopped (%d):\n%s", rc, out);
}

/* ------------------------------------------------------------ token secret */

static void write_file(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "wb");
  REQUIRE(f, "cannot write %s", path);
  fputs(text, f);
  fclose(f);
  REQUIRE(chmod(path, mode) == 0, "chmod %s", path);
}

/* The fenced python block after the README's marker line. */
static void extract_snippet(const char *out_path) {
  char readme[700], line[1024];
  const char *src = getenv("CS_SOURCE_DIR");
  snprintf(readme, sizeof readme, "%s/README.md", src ? src : ".");
  FILE *f = fopen(readme, "r");
  REQUIRE(f, "cannot read %s", readme);
  FILE *o = fopen(out_path, "w");
  REQUIRE(o, "cannot write %s", out_path);
  int state = 0; /* 0 before the marker, 1 before the fence, 2 inside */
  while (fgets(line, sizeof line, f) && state < 3) {
    if (state == 0 && strstr(line, "<!-- minting snippet: tests/integration/test_operator.c -->"))
      state = 1;
    else if (state == 1 && !strncmp(line, "```python", 9))
      state = 2;
    else if (state == 2 && !strncmp(line, "```", 3))
      state = 3;
    else if (state == 2)
      fputs(line, o);
  }
  fclose(f);
  fclose(o);
  CHECK(state == 3, "README holds the minting snippet after its marker");
}

static pid_t start_server(const char *index, const char *tokens, const char *secret, int *port) {
  char server[700], log[700];
  snprintf(server, sizeof server, "%s", th_indexer_path());
  char *slash = strrchr(server, '/');
  REQUIRE(slash, "CS_INDEXER is not a path");
  snprintf(slash + 1, sizeof server - (size_t)(slash + 1 - server), "convsearch-server");
  const char *argv[] = {server,        "--index",   index,  "--listen",
                        "127.0.0.1:0", "--tokens",  tokens, "--token-secret-file",
                        secret,        "--threads", "2",    NULL};
  pid_t pid = spawn_logged(scratch(log, "server.log"), argv);
  *port = 0;
  for (int64_t end = th_now_ms() + 15000; th_now_ms() < end && !*port;) {
    char out[4096];
    sh(out, sizeof out, "grep -o 'listening on 127.0.0.1:[0-9]*' '%s'", log);
    const char *p = strrchr(out, ':');
    if (p) *port = atoi(p + 1);
    if (!*port) th_sleep_ms(20);
  }
  REQUIRE(*port, "the server did not start (see %s)", log);
  return pid;
}

/* HTTP status of GET /v1/patients with a token minted from secret_file. */
static int call_with_minted(int port, const char *snippet, const char *secret_file) {
  char out[1024];
  int rc = sh(out, sizeof out,
              "tok=$(python3 '%s' '%s' 1) && case $tok in v1.*.*) ;; *) exit 3;; esac && "
              "curl -s -o /dev/null -w '%%{http_code}' -H \"Authorization: Bearer $tok\" "
              "http://127.0.0.1:%d/v1/patients",
              snippet, secret_file, port);
  return rc == 0 ? atoi(out) : -rc;
}

static void t_secret(const char *index) {
  char snippet[700], tokens[700], plain[700], nl[700], crlf[700], twonl[700];
  scratch(snippet, "mint.py");
  scratch(tokens, "tokens");
  scratch(plain, "secret.plain");
  scratch(nl, "secret.nl");
  scratch(crlf, "secret.crlf");
  scratch(twonl, "secret.twonl");
  extract_snippet(snippet);
  const char *secret = "operator-test-secret-0123456789";
  char buf[128];
  write_file(tokens, "", 0600);
  write_file(plain, secret, 0600);
  snprintf(buf, sizeof buf, "%s\n", secret);
  write_file(nl, buf, 0600);
  snprintf(buf, sizeof buf, "%s\r\n", secret);
  write_file(crlf, buf, 0600);
  snprintf(buf, sizeof buf, "%s\n\n", secret);
  write_file(twonl, buf, 0600);

  const char *server_secrets[] = {nl, crlf};
  for (int i = 0; i < 2; i++) {
    int port;
    pid_t pid = start_server(index, tokens, server_secrets[i], &port);
    int st = call_with_minted(port, snippet, plain);
    CHECK(st == 200, "server secret file ending in %s: token minted from the bare secret -> %d",
          i ? "CRLF" : "LF", st);
    st = call_with_minted(port, snippet, server_secrets[i]);
    CHECK(st == 200, "the snippet reads the secret file as the server does (%s) -> %d",
          i ? "CRLF" : "LF", st);
    st = call_with_minted(port, snippet, twonl);
    CHECK(st == 401, "only one line ending is taken off: a secret ending in LF LF differs -> %d",
          st);
    kill(pid, SIGTERM);
    CHECK(th_wait(pid, 10000) == 0, "server stops cleanly");
  }
}

int main(void) {
  th_init("operator");
  PGconn *c;
  snprintf(pg, sizeof pg, "%s", th_db_create("t_operator", NULL, &c));
  const char *install[] = {"install", "--pg", pg, NULL};
  REQUIRE(th_indexer(install) == 0, "install failed");
  th_sql(c, "INSERT INTO employees VALUES (1, 'Ana', NULL);"
            "INSERT INTO patients (id, owner_id, name) VALUES (1, 1, 'Rosa Operaria');"
            "INSERT INTO conversations (id, patient_id, owner_id, title) VALUES "
            "(1, 1, 1, 'Entrevista');"
            "INSERT INTO segments VALUES (1, 0, 'Rosa', 'beneficiary', 0, 1, 'Busco trabajo')");
  char base[600], index[700];
  snprintf(base, sizeof base, "%s/srv", th_dir());
  REQUIRE(mkdir(base, 0700) == 0, "mkdir %s", base);
  snprintf(index, sizeof index, "%s/a/b/index", base);

  t_help();
  t_modes(index, base);
  t_conninfo(index);
  t_compact_while_run(index);
  t_secret(index);
  PQfinish(c);
  return th_done();
}
