/*
 * Tailing: catch up from the checkpoint, then follow live changes.
 */
#ifndef CS_TAIL_H
#define CS_TAIL_H

#include <signal.h>
#include <stddef.h>

typedef struct cs_tail_opts {
  const char *conninfo;
  const char *index_dir;
  int once;               /* one round to the current end, then return */
  size_t budget_bytes;    /* commit when pending postings exceed this */
  int poll_ms;            /* longest wait between rounds without a NOTIFY */
  const char *opensearch; /* mirror base URL, or NULL */
  int load_in_map;        /* a first load in the store's bulk mode (store.h, CS_STORE_BULK) */
} cs_tail_opts;

#include <signal.h>

/* Set by cs_tail_request_stop; the loop stops between batches. */
extern volatile sig_atomic_t cs_tail_stop;

/* Asks cs_tail_run to stop, waking it if it waits for changes. Safe to call
 * from a signal handler (SIGTERM, SIGINT). */
void cs_tail_request_stop(void);

/* Runs until stopped (or one round with `once`). Returns a process exit
 * code: 0 on a clean stop, 1 on a fatal error (logged). */
int cs_tail_run(const cs_tail_opts *o);

#endif
