/*
 * Progress reports (see progress.h).
 */
#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double cs_progress_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void cs_progress_init(cs_progress *p) {
  p->tty = isatty(2);
  p->t0 = p->last = cs_progress_now();
  p->total = p->done = 0;
  p->phase = "";
}

void cs_progress_report(cs_progress *p, int final) {
  p->last = cs_progress_now();
  double el = p->last - p->t0;
  uint64_t done = p->done < p->total ? p->done : p->total;
  if (p->tty) {
    int width = 30, fill = p->total ? (int)(width * done / p->total) : width;
    fprintf(stderr, "\r[%.*s%*s] %3d%% %-15s %" PRIu64 "/%" PRIu64 " %.1fs", fill,
            "##############################", width - fill, "",
            p->total ? (int)(100 * done / p->total) : 100, p->phase, p->done, p->total, el);
    if (final) fputc('\n', stderr);
    fflush(stderr);
  } else {
    printf("{\"phase\": \"%s\", \"done\": %" PRIu64 ", \"total\": %" PRIu64
           ", \"elapsed_s\": %.3f}\n",
           p->phase, p->done, p->total, el);
    fflush(stdout);
  }
}

void cs_progress_tick(cs_progress *p) {
  if (cs_progress_now() - p->last >= (p->tty ? 0.2 : 1.0)) cs_progress_report(p, 0);
}
