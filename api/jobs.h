/*
 * Batch reindex jobs started over HTTP (POST /v1/admin/reindex, GET
 * /v1/admin/jobs/{id}): the server runs `convsearch-indexer reindex --pg
 * CONNINFO --index DIR [--opensearch URL]` as a child process, at most one
 * at a time, and keeps the last CS_JOBS_KEPT jobs in memory (nothing
 * survives a restart: the index itself says which generation serves).
 *
 * A supervisor thread per job forks the child, reads its stdout (JSON
 * progress lines: the last one is the job's "progress") and stderr (the
 * last lines are its "log_tail"), and reaps it. The child gets an empty
 * signal mask and default dispositions (the server blocks SIGTERM in every
 * thread), /dev/null as stdin, no other descriptor of the server, and
 * PR_SET_PDEATHSIG so that it dies with the server even on SIGKILL.
 * cs_jobs_destroy sends SIGTERM to a running child, SIGKILL after
 * CS_JOBS_GRACE_S, and reaps it: no zombie, no orphan. A reindex killed
 * half-way leaves the old generation serving (indexer/reindex.c).
 *
 * Job ids are random (53 bits from getrandom, so that they stay exact in
 * JavaScript numbers) and never reused while kept.
 */
#ifndef CS_JOBS_H
#define CS_JOBS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CS_JOBS_KEPT 20
#define CS_JOBS_GRACE_S 10
#define CS_JOBS_TAIL_LINES 20
#define CS_JOBS_LINE_MAX 400 /* bytes kept of one log line */

typedef struct cs_jobs cs_jobs;

typedef struct cs_jobs_config {
  const char *indexer;    /* path of convsearch-indexer (executable) */
  const char *pg;         /* conninfo for --pg */
  const char *index_dir;  /* --index: the directory the server serves */
  const char *opensearch; /* --opensearch URL, or NULL */
} cs_jobs_config;

/* Copies the configuration. Returns 0, or -1 with one sentence in err. */
int cs_jobs_create(const cs_jobs_config *cfg, cs_jobs **out, char *err, size_t cap);

enum { CS_JOBS_STARTED = 0, CS_JOBS_BUSY = 1, CS_JOBS_ERROR = -1 };

/* Starts a reindex job. CS_JOBS_STARTED: *out is its document (state
 * "running"), *id its id. CS_JOBS_BUSY: a job is running, *id is its id.
 * CS_JOBS_ERROR: the child could not be started (err says why). *out
 * belongs to the caller. */
int cs_jobs_start(cs_jobs *j, json_t **out, uint64_t *id, char *err, size_t cap);

/* The document of job id: {"id", "kind", "state": "running" | "succeeded"
 * | "failed", "progress" (the last JSON progress line, or null),
 * "started_at", "finished_at" (null while running), "exit_code" (null
 * while running; 128 + N when killed by signal N), "log_tail"}; NULL when
 * no such job is kept. */
json_t *cs_jobs_get(cs_jobs *j, uint64_t id);

/* Stops a running child (SIGTERM, then SIGKILL after CS_JOBS_GRACE_S),
 * reaps it, joins the supervisor and frees everything. NULL is a no-op. */
void cs_jobs_destroy(cs_jobs *j);

#endif
