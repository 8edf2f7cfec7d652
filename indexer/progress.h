/*
 * Progress of a long load (reindex, the first run's initial load): a bar on
 * a terminal (stderr), JSON lines on stdout otherwise.
 */
#ifndef CS_PROGRESS_H
#define CS_PROGRESS_H

#include <stdint.h>

typedef struct cs_progress {
  int tty;     /* stderr is a terminal: draw a bar */
  double t0;   /* start, CLOCK_MONOTONIC seconds */
  double last; /* time of the last report */
  uint64_t total, done;
  const char *phase;
} cs_progress;

double cs_progress_now(void);
/* Starts the clock; decides bar or JSON lines. */
void cs_progress_init(cs_progress *p);
/* One report of the current phase; `final` ends the bar's line. */
void cs_progress_report(cs_progress *p, int final);
/* A report if the last one is old enough (a fifth of a second for the bar,
 * a second for JSON lines). */
void cs_progress_tick(cs_progress *p);

#endif
