/*
 * Logging (see log.h). Each line is written with a single write(2) so lines
 * from several threads never interleave.
 */
#include "log.h"

#include "isotime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *component = "convsearch";
static int min_level = CS_LOG_INFO;

void cs_log_init(const char *name) {
  component = name;
  const char *env = getenv("CONVSEARCH_LOG");
  if (!env) return;
  if (!strcmp(env, "debug")) min_level = CS_LOG_DEBUG;
  if (!strcmp(env, "info")) min_level = CS_LOG_INFO;
  if (!strcmp(env, "warn")) min_level = CS_LOG_WARN;
  if (!strcmp(env, "error")) min_level = CS_LOG_ERROR;
}

void cs_log(int level, const char *fmt, ...) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  if (level < min_level) return;
  char line[2048], when[CS_TIME_ISO_LEN];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n =
      snprintf(line, sizeof line,
               "%s %s %s: ", cs_time_iso((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, when),
               names[level & 3], component);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  /* Keep it one line whatever the message holds. */
  for (size_t i = (size_t)n; i < len; i++) {
    if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
  }
  line[len++] = '\n';
  ssize_t w = write(2, line, len);
  (void)w;
}
