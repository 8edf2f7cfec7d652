/*
 * Small libpq helpers for the indexer: connecting with backoff, running
 * parameterized statements, and telling a lost connection from an error in
 * the statement.
 */
#ifndef CS_PG_H
#define CS_PG_H

#include <signal.h>
#include <libpq-fe.h>
#include <stdint.h>

/* Connects, retrying with exponential backoff (100 ms doubling up to
 * CS_PG_BACKOFF_MAX_MS, plus up to half again of jitter) up to `attempts`
 * times (0: until *stop becomes non-zero). With attempts, only the last
 * failure is logged, as one error line; without, each retry logs one warning
 * line saying when it retries. A conninfo that does not parse fails at once.
 * Returns NULL when it gave up. */
#define CS_PG_BACKOFF_MAX_MS 10000
PGconn *cs_pg_connect(const char *conninfo, int attempts, volatile sig_atomic_t *stop);

/* Runs sql with text parameters. Returns the result when its status is
 * COMMAND_OK or TUPLES_OK; otherwise logs "<what>: <error>", clears it and
 * returns NULL. */
PGresult *cs_pg_exec(PGconn *c, const char *what, const char *sql, int nparams,
                     const char *const *params);

/* 1 when the connection is gone (the caller reconnects). */
int cs_pg_lost(PGconn *c);

/* cs_pg_exec inside a savepoint, for queries of the source views inside a
 * transaction: when the query fails on the data (any SQLSTATE but those of
 * the connection, the schema (42: a view missing or out of date),
 * resources, cancellation, the server or the transaction; e.g. "integer out
 * of range" (22003), "cannot convert infinity to bigint" (0A000): a row the
 * view cannot turn into its columns), the transaction stays usable, nothing
 * is logged, NULL is returned and why[0..cap) holds the error's message
 * (one line). Any other failure is logged, NULL is returned and why is "". */
PGresult *cs_pg_exec_rows(PGconn *c, const char *what, const char *sql, int nparams,
                          const char *const *params, char *why, size_t cap);

/* Parsers for text-format values; return 0 on success, -1 on a malformed
 * value. A NULL value yields `dflt`. */
int cs_pg_i64(const PGresult *r, int row, int col, int64_t dflt, int64_t *out);
int cs_pg_u64(const PGresult *r, int row, int col, uint64_t dflt, uint64_t *out);
/* The value, or NULL when SQL NULL. */
const char *cs_pg_str(const PGresult *r, int row, int col);

/* Builds the text form of a bigint[] literal "{1,2,3}" in buf. */
void cs_pg_id_array(char *buf, size_t cap, const uint64_t *ids, size_t n);

#endif
