/*
 * Settings files (--config FILE) turned into command-line options, so that
 * each program keeps one parser and one set of checks: the file's settings
 * become "--name value" arguments placed before the command line's own,
 * skipped when the command line gives that name. See config.h for the
 * format. The expanded argv is one allocation: the pointer array, the
 * "--name" strings, and a copy of the file's text that the values point into.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads path into a NUL-terminated buffer of *len bytes (malloc'd). */
static char *read_settings(const char *path, size_t *len, char *err, size_t errcap) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errcap, "cannot open settings file %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  char *buf = NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errcap, "settings file %s is not a regular file", path);
    goto out;
  }
  if (st.st_size > CS_CONFIG_MAX_BYTES) {
    snprintf(err, errcap, "settings file %s is larger than %d bytes", path, CS_CONFIG_MAX_BYTES);
    goto out;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    snprintf(err, errcap, "out of memory reading %s", path);
    goto out;
  }
  size_t n = 0;
  while (n < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  buf[n] = 0;
  *len = n;
  if (memchr(buf, 0, n)) {
    snprintf(err, errcap, "settings file %s holds a NUL byte", path);
    free(buf);
    buf = NULL;
  }
out:
  close(fd);
  return buf;
}

static char *trim(char *s, char *end) {
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
    end--;
  *end = 0;
  return s;
}

/* Whether argv[first..argc) gives --name (name with its "--"). */
static int given(int argc, char **argv, int first, const char *name) {
  size_t n = strlen(name);
  for (int i = first; i < argc; i++) {
    if (!strncmp(argv[i], name, n) && (argv[i][n] == 0 || argv[i][n] == '=')) return 1;
  }
  return 0;
}

int cs_config_expand(int argc, char **argv, int first, const char *section,
                     cs_config_accepts accepts, void *ctx, int *out_argc, char ***out_argv,
                     char *err, size_t errcap) {
  const char *path = NULL;
  int at = -1, width = 0;
  for (int i = first; i < argc; i++) {
    int w = !strcmp(argv[i], "--config") ? 2 : !strncmp(argv[i], "--config=", 9) ? 1 : 0;
    if (!w) continue;
    if (at >= 0) {
      snprintf(err, errcap, "--config given twice");
      return -1;
    }
    if (w == 2 && i + 1 >= argc) {
      snprintf(err, errcap, "missing value for --config");
      return -1;
    }
    at = i;
    width = w;
    path = w == 2 ? argv[i + 1] : argv[i] + 9;
    i += w - 1;
  }
  if (path && !*path) {
    snprintf(err, errcap, "empty value for --config");
    return -1;
  }
  size_t len = 0;
  char *text = NULL;
  if (path && !(text = read_settings(path, &len, err, errcap))) return -1;

  /* At most one "--name" and one value per line: 2 slots a line. The block
   * holds the pointers, then the "--name" strings (each at most 3 bytes more
   * than its line), then a copy of the file that the values point into. */
  size_t lines = 1;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  size_t slots = (size_t)argc + 2 * lines + 1;
  size_t names_cap = len + 3 * lines;
  char **out = calloc(1, slots * sizeof(char *) + names_cap + len + 1);
  if (!out) {
    free(text);
    snprintf(err, errcap, "out of memory");
    return -1;
  }
  char *store = (char *)(out + slots);
  if (text) {
    char *copy = store + names_cap;
    memcpy(copy, text, len + 1);
    free(text);
    text = copy;
  }
  int n = 0;
  for (int i = 0; i < first && i < argc; i++)
    out[n++] = argv[i];

  int in_section = 0, seen_section = 0;
  char *line = text;
  for (size_t no = 1; text && line <= text + len; no++) {
    char *nl = memchr(line, '\n', (size_t)(text + len - line));
    char *end = nl ? nl : text + len;
    char *s = trim(line, end);
    line = end + 1;
    if (!*s || *s == '#') continue;
    if (*s == '[') {
      size_t l = strlen(s);
      if (s[l - 1] != ']') goto bad_line;
      s[l - 1] = 0;
      seen_section = 1;
      in_section = !strcmp(s + 1, section);
      continue;
    }
    char *eq = strchr(s, '=');
    if (!seen_section || !eq) goto bad_line;
    char *name = trim(s, eq), *value = trim(eq + 1, eq + 1 + strlen(eq + 1));
    if (!*name || !*value || strchr(name, ' ')) goto bad_line;
    if (!in_section || !strcmp(value, "false")) continue;
    char *opt = store;
    store += snprintf(store, strlen(name) + 3, "--%s", name) + 1;
    if (given(argc, argv, first, opt) || (accepts && !accepts(opt, ctx))) continue;
    out[n++] = opt;
    if (strcmp(value, "true") != 0) out[n++] = value;
    continue;
  bad_line:
    snprintf(err, errcap, "%s:%zu: expected [indexer], [server] or \"name = value\"", path, no);
    free(out);
    return -1;
  }
  for (int i = first; i < argc; i++) {
    if (i == at) {
      i += width - 1;
      continue;
    }
    out[n++] = argv[i];
  }
  out[n] = NULL;
  *out_argc = n;
  *out_argv = out;
  return 0;
}

void cs_config_free(char **argv) {
  free(argv);
}
