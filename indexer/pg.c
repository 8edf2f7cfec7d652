/*
 * libpq helpers (see pg.h).
 */
#include "pg.h"

#include "log.h"

#include <signal.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static void on_notice(void *arg, const char *msg) {
  (void)arg;
  cs_log(CS_LOG_DEBUG, "PostgreSQL: %s", msg);
}

/* The first line of a libpq error, without its trailing newline: the
 * following lines are hints ("Is the server running locally ...") that
 * would make every retry a paragraph. */
static void first_line(char *out, size_t cap, const char *msg) {
  size_t n = strcspn(msg, "\r\n");
  while (n > 0 && msg[n - 1] == ' ')
    n--;
  snprintf(out, cap, "%.*s", (int)n, msg);
}

PGconn *cs_pg_connect(const char *conninfo, int attempts, volatile sig_atomic_t *stop) {
  /* A conninfo that does not parse will not parse next time either. */
  char *perr = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
  if (!opts) {
    char msg[512];
    first_line(msg, sizeof msg, perr ? perr : "out of memory");
    cs_log(CS_LOG_ERROR, "cannot connect to PostgreSQL: bad conninfo: %s", msg);
    PQfreemem(perr);
    return NULL;
  }
  PQconninfoFree(opts);
  long backoff = 100;
  for (int i = 0; attempts == 0 || i < attempts; i++) {
    if (stop && *stop) return NULL;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) == CONNECTION_OK) {
      PQsetNoticeProcessor(c, on_notice, NULL);
      /* A SQL_ASCII store may hold any bytes: take them as they are (the
       * writer repairs invalid UTF-8) instead of letting the server refuse
       * to convert them, which would stall the stream. */
      const char *enc = PQparameterStatus(c, "server_encoding");
      PQsetClientEncoding(c, enc && !strcmp(enc, "SQL_ASCII") ? "SQL_ASCII" : "UTF8");
      if (i > 0) cs_log(CS_LOG_INFO, "connected to PostgreSQL after %d failed attempts", i);
      return c;
    }
    char msg[512];
    first_line(msg, sizeof msg, PQerrorMessage(c));
    PQfinish(c);
    if (attempts && i + 1 >= attempts) {
      /* Earlier attempts were quiet: one line says why we gave up. */
      cs_log(CS_LOG_ERROR, "cannot connect to PostgreSQL: %s", msg);
      break;
    }
    long wait = backoff + rand() % (backoff / 2 + 1);
    if (attempts)
      cs_log(CS_LOG_DEBUG, "cannot connect to PostgreSQL: %s; retrying in %ld ms", msg, wait);
    else
      cs_log(CS_LOG_WARN, "cannot connect to PostgreSQL: %s; retrying in %ld ms (attempt %d)", msg,
             wait, i + 1);
    /* Sleep in slices so a stop request is honoured promptly. */
    for (long slept = 0; slept < wait && !(stop && *stop); slept += 50)
      sleep_ms(50);
    if (backoff < CS_PG_BACKOFF_MAX_MS) backoff *= 2;
    if (backoff > CS_PG_BACKOFF_MAX_MS) backoff = CS_PG_BACKOFF_MAX_MS;
  }
  return NULL;
}

PGresult *cs_pg_exec(PGconn *c, const char *what, const char *sql, int nparams,
                     const char *const *params) {
  PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
  cs_log(CS_LOG_ERROR, "%s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
  PQclear(r);
  return NULL;
}

static int run_quiet(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  return ok ? 0 : -1;
}

PGresult *cs_pg_exec_rows(PGconn *c, const char *what, const char *sql, int nparams,
                          const char *const *params, char *why, size_t cap) {
  why[0] = 0;
  if (run_quiet(c, "SAVEPOINT cs_rows")) return cs_pg_exec(c, what, sql, nparams, params);
  PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    run_quiet(c, "RELEASE SAVEPOINT cs_rows");
    return r;
  }
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  /* Not about the row: the connection, the schema (a view missing or out
   * of date: 42), resources, cancellation, the server, the transaction. */
  static const char *const other_classes[] = {"08", "25", "3D", "3F", "40", "42",
                                              "53", "55", "57", "58", "XX"};
  int data = state && strlen(state) == 5 && PQstatus(c) == CONNECTION_OK;
  for (size_t i = 0; data && i < sizeof other_classes / sizeof *other_classes; i++)
    data = strncmp(state, other_classes[i], 2) != 0;
  if (data && !run_quiet(c, "ROLLBACK TO SAVEPOINT cs_rows") &&
      !run_quiet(c, "RELEASE SAVEPOINT cs_rows")) {
    snprintf(why, cap, "%s", msg ? msg : "error");
    for (char *p = why; *p; p++)
      if (*p == '\n' || *p == '\r') *p = ' ';
    PQclear(r);
    return NULL;
  }
  cs_log(CS_LOG_ERROR, "%s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
  PQclear(r);
  return NULL;
}

int cs_pg_lost(PGconn *c) {
  return PQstatus(c) != CONNECTION_OK;
}

int cs_pg_i64(const PGresult *r, int row, int col, int64_t dflt, int64_t *out) {
  if (PQgetisnull(r, row, col)) {
    *out = dflt;
    return 0;
  }
  const char *s = PQgetvalue(r, row, col);
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

int cs_pg_u64(const PGresult *r, int row, int col, uint64_t dflt, uint64_t *out) {
  if (PQgetisnull(r, row, col)) {
    *out = dflt;
    return 0;
  }
  const char *s = PQgetvalue(r, row, col);
  char *end;
  errno = 0;
  if (*s == '-') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

const char *cs_pg_str(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

void cs_pg_id_array(char *buf, size_t cap, const uint64_t *ids, size_t n) {
  size_t len = 0;
  buf[len++] = '{';
  for (size_t i = 0; i < n && len + 24 < cap; i++) {
    len += (size_t)snprintf(buf + len, cap - len, "%s%" PRIu64, i ? "," : "", ids[i]);
  }
  buf[len++] = '}';
  buf[len] = 0;
}
