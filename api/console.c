/*
 * The analyst console's static files (see console.h).
 */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
  const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".json", "application/json; charset=utf-8"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return NULL;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (!strcmp(dot, types[i].ext)) return types[i].type;
  }
  return NULL;
}

static int plain_name(const char *s) {
  if (!*s || *s == '.' || strlen(s) > 128) return 0;
  for (; *s; s++) {
    char c = *s;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '-' || c == '_';
    if (!ok) return 0;
  }
  return 1;
}

/* The whole file, or NULL (missing, not a regular file, too large). */
static char *slurp(const char *dir, const char *name, size_t *len) {
  char path[PATH_MAX];
  int k = snprintf(path, sizeof path, "%s/%s", dir, name);
  if (k < 0 || (size_t)k >= sizeof path) return NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return NULL;
  struct stat st;
  char *b = NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= CS_CONSOLE_FILE_MAX)
    b = malloc((size_t)st.st_size + 1);
  size_t n = 0;
  while (b && n < (size_t)st.st_size) {
    ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      free(b);
      b = NULL;
      break;
    }
    n += (size_t)r;
  }
  close(fd);
  if (b) {
    b[n] = 0;
    *len = n;
  }
  return b;
}

void cs_console_reply(const char *dir, const char *path, cs_reply *rp) {
  static const char base[] = "/console/";
  rp->csp = CS_CONSOLE_CSP;
  if (!dir) {
    cs_reply_error(rp, 404, "not_found", "the console is not served by this server");
    return;
  }
  if (!strcmp(path, "/console")) {
    snprintf(rp->location, sizeof rp->location, "%s", base);
    rp->status = 301;
    return;
  }
  const char *name = path + sizeof base - 1;
  if (!*name) name = "index.html";
  const char *type = plain_name(name) ? type_of(name) : NULL;
  size_t len = 0;
  char *body = type ? slurp(dir, name, &len) : NULL;
  if (!body) {
    cs_reply_error(rp, 404, "not_found", "no such console file");
    return;
  }
  free(rp->body);
  rp->status = 200;
  rp->content_type = type;
  rp->body = body;
  rp->len = len;
}
