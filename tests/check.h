/*
 * The check macro every C test uses: counts, prints "FAIL file:line: ..."
 * on failure, and th_check_done() prints the closing "N passed, M failed".
 */
#ifndef CS_TEST_CHECK_H
#define CS_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

extern int th_passed, th_failed;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (cond) {                                                                                    \
      th_passed++;                                                                                 \
    } else {                                                                                       \
      th_failed++;                                                                                 \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                         \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

/* The same as a function, for checks whose message is built by the caller
 * (data-driven runners): prints "FAIL: <message>". */
static inline void th_check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void th_check(int ok, const char *fmt, ...) {
  if (ok) {
    th_passed++;
    return;
  }
  th_failed++;
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Defines the counters; include in exactly one file of a test program. */
#define CS_CHECK_COUNTERS int th_passed, th_failed

static inline int th_check_done(void) {
  printf("%d passed, %d failed\n", th_passed, th_failed);
  return th_failed ? 1 : 0;
}

#endif
