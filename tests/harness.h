/*
 * Test harness for integration tests: a real PostgreSQL (the cluster the
 * CTest fixture started), the real indexer binary as a child process, and a
 * read view of the index it writes. Checks print "FAIL file:line: ..." and
 * count; th_done() prints the closing "N passed, M failed" line.
 */
#ifndef CS_TEST_HARNESS_H
#define CS_TEST_HARNESS_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/types.h>

#include "check.h"

/* Aborts the test (exit 1) when cond is false: for setup steps. */
#define REQUIRE(cond, ...)                                                                         \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "FATAL %s:%d: ", __FILE__, __LINE__);                                        \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      th_cleanup();                                                                                \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

/* Reads CS_TEST_PGDIR/conninfo and CS_INDEXER; makes a scratch directory. */
void th_init(const char *name);
/* Scratch directory of this test (removed by th_done when all passed). */
const char *th_dir(void);
/* Creates a fresh database `name` (dropped first); returns its conninfo
 * (static storage, valid until the next call) and a connection. `extra` is
 * appended to CREATE DATABASE (e.g. "ENCODING 'SQL_ASCII' ..."). */
const char *th_db_create(const char *name, const char *extra, PGconn **conn);
PGconn *th_connect(const char *conninfo);
/* Runs SQL; REQUIREs success. */
void th_sql(PGconn *c, const char *sql);
/* Runs SQL; returns 0 or -1 (no abort). */
int th_sql_try(PGconn *c, const char *sql);
/* First column of the first row as int64 (REQUIREs one row). */
int64_t th_sql_int(PGconn *c, const char *sql);
void th_sql_file(PGconn *c, const char *path);

/* Indexer runs. Logs append to th_dir()/indexer.log. */
int th_indexer(const char *const *args); /* waits; returns exit status (-signal) */
pid_t th_indexer_spawn(const char *const *args);
/* Waits for pid up to timeout_ms; returns exit status, -signal, or -1000 on
 * timeout (the process is then killed). */
int th_wait(pid_t pid, int timeout_ms);
void th_stop(pid_t pid); /* SIGTERM and wait (REQUIRE clean exit) */
const char *th_indexer_path(void);
/* Count of log lines containing `needle`. */
int th_log_count(const char *needle);
/* The same in the log of the server th_server_start started last. */
int th_server_log_count(const char *needle);

/* Index probes (open a fresh read view each call). */
/* Number of documents whose postings contain the analyzed form of word. */
int th_docs_with(const char *index_dir, const char *word);
/* Entries of an index table (CS_T_*). */
int64_t th_index_count(const char *index_dir, int table);
/* Waits until th_docs_with(word) >= want (or == 0 when want is 0); returns
 * the milliseconds it took, or -1 on timeout. */
int th_wait_docs(const char *index_dir, const char *word, int want, int timeout_ms);
/* Replaces the value of table t (a CS_T_*) under key with val (or, when
 * val is NULL, with its first half), as a bad disk or a bug would leave
 * it; REQUIREs that the record exists. */
void th_index_damage(const char *index_dir, int t, const void *key, size_t klen, const void *val,
                     size_t vlen);
/* Makes the first byte of `word` in that value 0xFF (REQUIREs it there,
 * stored as it is): the record still decodes, but that text is no longer
 * UTF-8. */
void th_index_not_utf8(const char *index_dir, int t, const void *key, size_t klen,
                       const char *word);
/* The first key of table t (a CS_T_*) starting with prefix, copied to out;
 * returns its length (REQUIREs one). */
size_t th_index_key(const char *index_dir, int table, const char *prefix, uint8_t *out, size_t cap);
/* The same for the key number nth (0: the first) from there on. */
size_t th_index_key_nth(const char *index_dir, int table, const char *prefix, int nth, uint8_t *out,
                        size_t cap);
/* 1 when the bytes of needle occur anywhere in the index's files. */
int th_index_files_contain(const char *index_dir, const char *needle);

/* The URL of the os_node fixture's OpenSearch node (CS_TEST_OSDIR/url);
 * REQUIREs it. */
void th_os_url(char *out, size_t n);
/* convsearch-server (beside the indexer) on index_dir at a free port of
 * 127.0.0.1, with an admin and an analyst service token; REQUIREs that
 * it starts. Returns its pid (stop it with th_stop); *port is its port. */
#define TH_ADMIN_TOKEN "harness-admin-token"
#define TH_ANALYST_TOKEN "harness-analyst-token" /* and one analyst token */
pid_t th_server_start(const char *index_dir, int *port);
/* Same, also accepting per-employee tokens signed with secret_file's key. */
pid_t th_server_start_secret(const char *index_dir, const char *secret_file, int *port);
/* A per-employee (portal) token for `employee`, valid an hour, minted as
 * the README's snippet does. */
void th_mint_token(const char *secret_file, uint64_t employee, char *out, size_t cap);
/* POST of a JSON body; the response body (malloc'd) or NULL on failure. */
char *th_http_post(int port, const char *path, const char *token, const char *json);
/* GET path from the server at port (token NULL: none), through curl.
 * Returns the body (malloc'd) or NULL when the request failed. */
char *th_http_get(int port, const char *path, const char *token);
/* The same whatever the status: *status is the HTTP status (0 when there
 * was no answer); returns the body (malloc'd) or NULL. */
char *th_http_get_status(int port, const char *path, const char *token, int *status);

int64_t th_now_ms(void);
void th_sleep_ms(int ms);
/* Memory of process pid, from /proc/PID/status, in bytes (0 where absent
 * or unreadable): resident, its own (anonymous) part, peak resident. */
typedef struct th_mem {
  long long rss, anon, hwm;
} th_mem;
th_mem th_mem_of(pid_t pid);
void th_cleanup(void);
/* Prints the closing line and returns the exit code. */
int th_done(void);

#endif
