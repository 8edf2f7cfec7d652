/*
 * The check macro every C test uses: counts, prints "FAIL file:line: ..."
 * on failure, and th_check_done() prints the closing "N passed, M failed".
 */
#ifndef CS_TEST_CHECK_H
#define CS_TEST_CHECK_H

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

/* Defines the counters; include in exactly one file of a test program. */
#define CS_CHECK_COUNTERS int th_passed, th_failed

static inline int th_check_done(void) {
  printf("%d passed, %d failed\n", th_passed, th_failed);
  return th_failed ? 1 : 0;
}

#endif
