/*
 * Reading clocks: milliseconds or nanoseconds of a clock, and deadlines as the struct
 * timespec that clock_gettime and pthread_cond_timedwait take.
 */
#ifndef CS_CLOCK_H
#define CS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* The clock's time in milliseconds (CLOCK_REALTIME: unix time). */
int64_t cs_clock_ms(clockid_t clock);
/* The clock's time in nanoseconds (for durations: CLOCK_MONOTONIC). */
int64_t cs_clock_ns(clockid_t clock);

/* The clock's time `ms` (>= 0) milliseconds from now. */
struct timespec cs_clock_after_ms(clockid_t clock, int64_t ms);

/* 1 when the clock has reached t, else 0. */
int cs_clock_reached(clockid_t clock, const struct timespec *t);

#endif
