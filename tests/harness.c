/*
 * Test harness (see harness.h).
 */
#include "harness.h"

#include "analyzer.h"
#include "errors.h"
#include "reader.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

CS_CHECK_COUNTERS;
static char base_conninfo[512];
static char scratch[512];
static char indexer[512];
static char logpath[600];
static char dbinfo[700];

int64_t th_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

th_mem th_mem_of(pid_t pid) {
  th_mem m = {0, 0, 0};
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
    long long kb;
    if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) m.rss = kb << 10;
    if (sscanf(line, "RssAnon: %lld kB", &kb) == 1) m.anon = kb << 10;
    if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) m.hwm = kb << 10;
  }
  if (f) fclose(f);
  return m;
}

void th_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

void th_init(const char *name) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *pgdir = getenv("CS_TEST_PGDIR");
  const char *ix = getenv("CS_INDEXER");
  REQUIRE(pgdir && ix, "CS_TEST_PGDIR and CS_INDEXER must be set (run through ctest)");
  snprintf(indexer, sizeof indexer, "%s", ix);
  char path[600];
  snprintf(path, sizeof path, "%s/conninfo", pgdir);
  FILE *f = fopen(path, "r");
  REQUIRE(f, "no PostgreSQL test cluster: %s missing", path);
  REQUIRE(fgets(base_conninfo, sizeof base_conninfo, f), "empty %s", path);
  fclose(f);
  base_conninfo[strcspn(base_conninfo, "\n")] = 0;
  snprintf(scratch, sizeof scratch, "/tmp/cs-test-%s-XXXXXX", name);
  REQUIRE(mkdtemp(scratch), "mkdtemp: %s", strerror(errno));
  /* Tests that start their own cluster need the postgres user to enter. */
  chmod(scratch, 0755);
  snprintf(logpath, sizeof logpath, "%s/indexer.log", scratch);
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
}

void th_os_url(char *out, size_t n) {
  const char *dir = getenv("CS_TEST_OSDIR");
  char path[600];
  snprintf(path, sizeof path, "%s/url", dir ? dir : "");
  FILE *f = dir ? fopen(path, "r") : NULL;
  REQUIRE(f, "no OpenSearch node (%s): the os_node fixture starts it", path);
  int ok = fgets(out, (int)n, f) != NULL;
  fclose(f);
  REQUIRE(ok, "empty %s", path);
  out[strcspn(out, "\r\n")] = 0;
}

const char *th_dir(void) {
  return scratch;
}

PGconn *th_connect(const char *conninfo) {
  PGconn *c = PQconnectdb(conninfo);
  REQUIRE(PQstatus(c) == CONNECTION_OK, "connect %s: %s", conninfo, PQerrorMessage(c));
  PGresult *r = PQexec(c, "SET client_min_messages = warning");
  PQclear(r);
  return c;
}

const char *th_db_create(const char *name, const char *extra, PGconn **conn) {
  char info[700], sql[512];
  snprintf(info, sizeof info, "%s dbname=postgres", base_conninfo);
  PGconn *admin = th_connect(info);
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
  th_sql(admin, sql);
  snprintf(sql, sizeof sql, "CREATE DATABASE %s %s", name, extra ? extra : "");
  th_sql(admin, sql);
  PQfinish(admin);
  snprintf(dbinfo, sizeof dbinfo, "%s dbname=%s", base_conninfo, name);
  if (conn) *conn = th_connect(dbinfo);
  return dbinfo;
}

int th_sql_try(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  if (!ok) fprintf(stderr, "sql error: %s (in: %.200s)\n", PQresultErrorMessage(r), sql);
  PQclear(r);
  return ok ? 0 : -1;
}

void th_sql(PGconn *c, const char *sql) {
  REQUIRE(th_sql_try(c, sql) == 0, "SQL failed");
}

int64_t th_sql_int(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "query failed: %s (%s)",
          PQresultErrorMessage(r), sql);
  int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return v;
}

void th_sql_file(PGconn *c, const char *path) {
  FILE *f = fopen(path, "rb");
  REQUIRE(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  REQUIRE(buf && fread(buf, 1, (size_t)n, f) == (size_t)n, "cannot read %s", path);
  buf[n] = 0;
  fclose(f);
  th_sql(c, buf);
  free(buf);
}

const char *th_indexer_path(void) {
  return indexer;
}

pid_t th_indexer_spawn(const char *const *args) {
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 2);
      dup2(fd, 1);
      close(fd);
    }
    const char *argv[32];
    int n = 0;
    argv[n++] = indexer;
    for (int i = 0; args[i] && n < 31; i++)
      argv[n++] = args[i];
    argv[n] = NULL;
    execv(indexer, (char *const *)argv);
    _exit(127);
  }
  return pid;
}

int th_wait(pid_t pid, int timeout_ms) {
  int64_t end = th_now_ms() + timeout_ms;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(st)) return WEXITSTATUS(st);
      if (WIFSIGNALED(st)) return -WTERMSIG(st);
      return -999;
    }
    if (th_now_ms() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return -1000;
    }
    th_sleep_ms(5);
  }
}

int th_indexer(const char *const *args) {
  return th_wait(th_indexer_spawn(args), 600000);
}

void th_stop(pid_t pid) {
  kill(pid, SIGTERM);
  int rc = th_wait(pid, 20000);
  CHECK(rc == 0, "indexer should stop cleanly on SIGTERM (exit %d)", rc);
}

static int count_lines(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f))
    n += strstr(line, needle) != NULL;
  fclose(f);
  return n;
}

int th_log_count(const char *needle) {
  return count_lines(logpath, needle);
}

int th_server_log_count(const char *needle) {
  char log[700];
  snprintf(log, sizeof log, "%s/server.log", scratch);
  return count_lines(log, needle);
}

/* LMDB: one process must not have an environment open twice at once
 * (closing one copy can take the process for the last user and destroy the
 * lock file's mutexes while the other uses them), and cs_store_open
 * refuses a second open. test_reindex queries from a thread while the main
 * thread waits for documents, so the helpers that open the index from
 * several threads take turns. */
static pthread_mutex_t store_turn = PTHREAD_MUTEX_INITIALIZER;

static int docs_with(const char *index_dir, const char *word);

int th_docs_with(const char *index_dir, const char *word) {
  pthread_mutex_lock(&store_turn);
  int n = docs_with(index_dir, word);
  pthread_mutex_unlock(&store_turn);
  return n;
}

static int docs_with(const char *index_dir, const char *word) {
  cs_store *s;
  if (cs_store_open(index_dir, CS_STORE_RDONLY, &s, NULL, 0)) return 0;
  cs_reader *r;
  if (cs_reader_open(s, &r)) {
    cs_store_close(s);
    return 0;
  }
  cs_analyzer *an = cs_analyzer_create();
  const cs_token *t;
  size_t n = 0;
  int count = 0;
  if (an && cs_analyze(an, "es", word, strlen(word), &t, &n) == 0 && n > 0) {
    cs_pcur *c;
    if (cs_pcur_open(r, t[0].term, t[0].term_len, &c) == 0) {
      for (; cs_pcur_docid(c) != CS_DOCID_END; cs_pcur_next(c))
        count++;
      cs_pcur_close(c);
    }
  }
  cs_analyzer_destroy(an);
  cs_reader_close(r);
  cs_store_close(s);
  return count;
}

/* Writes the damage with the store API: the record's value (a copy in
 * buf, *n bytes) as edit leaves it. */
static void damage(const char *index, int t, const void *key, size_t klen,
                   void (*edit)(uint8_t *buf, size_t *n, const void *arg), const void *arg) {
  cs_store *s;
  cs_txn *txn;
  char err[512] = "";
  REQUIRE(cs_store_open(index, 0, &s, err, sizeof err) == 0, "open the index: %s", err);
  REQUIRE(cs_txn_begin(s, 1, &txn) == 0, "write transaction");
  cs_slice k = {key, klen}, v;
  REQUIRE(cs_get(txn, (cs_table)t, k, &v) == 0, "the record to damage exists");
  static uint8_t buf[1 << 16];
  REQUIRE(v.len <= sizeof buf, "value too large");
  size_t n = v.len;
  memcpy(buf, v.data, n);
  edit(buf, &n, arg);
  cs_slice nv = {buf, n};
  REQUIRE(cs_put(txn, (cs_table)t, k, nv) == 0 && cs_txn_commit(txn) == 0, "write the damage");
  cs_store_close(s);
}

struct replacement {
  const void *val;
  size_t len;
};

static void replace(uint8_t *buf, size_t *n, const void *arg) {
  const struct replacement *r = arg;
  if (!r->val) {
    *n /= 2;
    return;
  }
  REQUIRE(r->len <= 1 << 16, "value too large");
  memcpy(buf, r->val, r->len);
  *n = r->len;
}

void th_index_damage(const char *index, int t, const void *key, size_t klen, const void *val,
                     size_t vlen) {
  struct replacement r = {val, vlen};
  damage(index, t, key, klen, replace, &r);
}

static void not_utf8(uint8_t *buf, size_t *n, const void *arg) {
  const char *word = arg;
  size_t w = strlen(word), at = 0;
  while (at + w <= *n && memcmp(buf + at, word, w) != 0)
    at++;
  REQUIRE(at + w <= *n, "'%s' is stored as it is (not compressed)", word);
  buf[at] = 0xFF;
}

void th_index_not_utf8(const char *index, int t, const void *key, size_t klen, const char *word) {
  damage(index, t, key, klen, not_utf8, word);
}

size_t th_index_key(const char *index, int table, const char *prefix, uint8_t *out, size_t cap) {
  return th_index_key_nth(index, table, prefix, 0, out, cap);
}

size_t th_index_key_nth(const char *index, int table, const char *prefix, int nth, uint8_t *out,
                        size_t cap) {
  cs_store *s;
  cs_txn *txn;
  cs_cursor *cur;
  size_t n = 0, pl = strlen(prefix);
  REQUIRE(cs_store_open(index, CS_STORE_RDONLY, &s, NULL, 0) == 0, "open the index");
  REQUIRE(cs_txn_begin(s, 0, &txn) == 0 && cs_cursor_open(txn, (cs_table)table, &cur) == 0,
          "cursor");
  cs_slice k, v, p = {prefix, pl};
  int rc = cs_cursor_seek(cur, p, &k, &v);
  for (int i = 0; rc == 0 && i < nth; i++)
    rc = cs_cursor_next(cur, &k, &v);
  if (rc == 0 && k.len <= cap && k.len >= pl && memcmp(k.data, prefix, pl) == 0) {
    memcpy(out, k.data, k.len);
    n = k.len;
  }
  cs_cursor_close(cur);
  cs_txn_abort(txn);
  cs_store_close(s);
  REQUIRE(n, "no key %s* number %d in table %d", prefix, nth, table);
  return n;
}

int64_t th_index_count(const char *index_dir, int table) {
  cs_store *s;
  pthread_mutex_lock(&store_turn);
  if (cs_store_open(index_dir, CS_STORE_RDONLY, &s, NULL, 0)) {
    pthread_mutex_unlock(&store_turn);
    return -1;
  }
  cs_reader *r;
  uint64_t n = 0;
  if (cs_reader_open(s, &r) == 0) {
    cs_reader_count(r, (cs_table)table, &n);
    cs_reader_close(r);
  }
  cs_store_close(s);
  pthread_mutex_unlock(&store_turn);
  return (int64_t)n;
}

int th_wait_docs(const char *index_dir, const char *word, int want, int timeout_ms) {
  int64_t t0 = th_now_ms();
  for (;;) {
    int n = th_docs_with(index_dir, word);
    if (want == 0 ? n == 0 : n >= want) return (int)(th_now_ms() - t0);
    if (th_now_ms() - t0 > timeout_ms) return -1;
    th_sleep_ms(5);
  }
}

static int file_contains(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t nl = strlen(needle), cap = 1 << 20;
  char *buf = malloc(cap + nl);
  int found = 0;
  size_t keep = 0;
  while (buf && !found) {
    size_t got = fread(buf + keep, 1, cap, f);
    if (got == 0) break;
    size_t len = keep + got;
    found = memmem(buf, len, needle, nl) != NULL;
    keep = len < nl - 1 ? len : nl - 1;
    memmove(buf, buf + len - keep, keep);
  }
  free(buf);
  fclose(f);
  return found;
}

int th_index_files_contain(const char *index_dir, const char *needle) {
  DIR *d = opendir(index_dir);
  if (!d) return 0;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d))) {
    if (e->d_name[0] != 'g') continue;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/data.mdb", index_dir, e->d_name);
    found = file_contains(path, needle);
  }
  closedir(d);
  return found;
}

static char *slurp(FILE *f) {
  size_t n = 0, cap = 4096;
  char *buf = malloc(cap);
  for (size_t r; buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += r;
    if (cap - n < 2) {
      char *b = realloc(buf, cap * 2);
      if (!b) break;
      buf = b;
      cap *= 2;
    }
  }
  if (buf) buf[n] = 0;
  return buf;
}

pid_t th_server_start(const char *index_dir, int *port) {
  return th_server_start_secret(index_dir, NULL, port);
}

pid_t th_server_start_secret(const char *index_dir, const char *secret_file, int *port) {
  char tokens[700], log[700], cmd[1200], server[600];
  snprintf(tokens, sizeof tokens, "%s/server-tokens", scratch);
  snprintf(log, sizeof log, "%s/server.log", scratch);
  snprintf(cmd, sizeof cmd,
           "umask 077; { printf 'sha256:%%s admin\\n' $(printf %%s '" TH_ADMIN_TOKEN
           "' | sha256sum | cut -d' ' -f1); printf 'sha256:%%s analyst\\n' $(printf %%s "
           "'" TH_ANALYST_TOKEN "' | sha256sum | cut -d' ' -f1); } > '%s'",
           tokens);
  REQUIRE(system(cmd) == 0, "cannot write %s", tokens);
  snprintf(server, sizeof server, "%s", indexer);
  char *slash = strrchr(server, '/');
  REQUIRE(slash, "CS_INDEXER is not a path");
  snprintf(slash + 1, sizeof server - (size_t)(slash + 1 - server), "convsearch-server");
  unlink(log);
  pid_t pid = fork();
  REQUIRE(pid >= 0, "fork");
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 2);
    if (secret_file)
      execl(server, server, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens,
            "--threads", "2", "--token-secret-file", secret_file, (char *)NULL);
    else
      execl(server, server, "--index", index_dir, "--listen", "127.0.0.1:0", "--tokens", tokens,
            "--threads", "2", (char *)NULL);
    _exit(127);
  }
  *port = 0;
  for (int64_t end = th_now_ms() + 15000; th_now_ms() < end && !*port;) {
    FILE *l = fopen(log, "r");
    char line[1024];
    while (l && fgets(line, sizeof line, l)) {
      const char *p = strstr(line, "listening on 127.0.0.1:");
      if (p) *port = atoi(p + strlen("listening on 127.0.0.1:"));
    }
    if (l) fclose(l);
    if (!*port) th_sleep_ms(20);
  }
  REQUIRE(*port, "the server did not start (see %s)", log);
  return pid;
}

char *th_http_get(int port, const char *path, const char *token) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "curl -sf %s%s%s 'http://127.0.0.1:%d%s'",
           token ? "-H 'Authorization: Bearer " : "", token ? token : "", token ? "'" : "", port,
           path);
  FILE *f = popen(cmd, "r");
  if (!f) return NULL;
  char *body = slurp(f);
  if (pclose(f) != 0) {
    free(body);
    return NULL;
  }
  return body;
}

char *th_http_get_status(int port, const char *path, const char *token, int *status) {
  char cmd[1400], out[700];
  snprintf(out, sizeof out, "%s/http-body", scratch);
  snprintf(cmd, sizeof cmd, "curl -s -o '%s' -w '%%{http_code}' %s%s%s 'http://127.0.0.1:%d%s'",
           out, token ? "-H 'Authorization: Bearer " : "", token ? token : "", token ? "'" : "",
           port, path);
  *status = 0;
  FILE *f = popen(cmd, "r");
  if (!f) return NULL;
  char *code = slurp(f);
  int rc = pclose(f);
  if (code && rc == 0) *status = atoi(code);
  free(code);
  f = *status ? fopen(out, "r") : NULL;
  char *body = f ? slurp(f) : NULL;
  if (f) fclose(f);
  return body;
}

char *th_http_post(int port, const char *path, const char *token, const char *json) {
  char body[700], cmd[1600];
  snprintf(body, sizeof body, "%s/post-body", scratch);
  FILE *b = fopen(body, "w");
  if (!b) return NULL;
  fputs(json, b);
  fclose(b);
  snprintf(cmd, sizeof cmd,
           "curl -sf -H 'Content-Type: application/json' %s%s%s --data-binary @'%s' "
           "'http://127.0.0.1:%d%s'",
           token ? "-H 'Authorization: Bearer " : "", token ? token : "", token ? "'" : "", body,
           port, path);
  FILE *f = popen(cmd, "r");
  if (!f) return NULL;
  char *out = slurp(f);
  if (pclose(f) != 0) {
    free(out);
    return NULL;
  }
  return out;
}

void th_mint_token(const char *secret_file, uint64_t employee, char *out, size_t cap) {
  /* The README's minting snippet, in one line. */
  char cmd[1600];
  snprintf(cmd, sizeof cmd,
           "python3 -c 'import base64,hashlib,hmac,json,re,sys,time\n"
           "b=lambda x: base64.urlsafe_b64encode(x).rstrip(b\"=\").decode()\n"
           "s=re.sub(rb\"\\r?\\n\\Z\",b\"\",open(sys.argv[1],\"rb\").read())\n"
           "p=\"v1.\"+b(json.dumps({\"sub\":int(sys.argv[2]),\"role\":\"portal\","
           "\"exp\":int(time.time())+3600}).encode())\n"
           "print(p+\".\"+b(hmac.new(s,p.encode(),hashlib.sha256).digest()))' '%s' %llu",
           secret_file, (unsigned long long)employee);
  FILE *f = popen(cmd, "r");
  REQUIRE(f, "cannot run python3");
  char *t = slurp(f);
  REQUIRE(pclose(f) == 0 && t && *t, "minting a token failed");
  t[strcspn(t, "\n")] = 0;
  snprintf(out, cap, "%s", t);
  free(t);
}

void th_cleanup(void) {}

static void rm_rf(const char *path) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", path);
}

int th_done(void) {
  if (th_failed == 0 && scratch[0]) {
    rm_rf(scratch);
  } else if (scratch[0]) {
    fprintf(stderr, "scratch directory kept for inspection: %s (indexer log: %s)\n", scratch,
            logpath);
  }
  return th_check_done();
}
