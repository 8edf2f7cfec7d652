#include "generations.h"

#include "log.h"
#include "path.h"
#include "unsynced.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cs_generation_switch(const char *dir, const char *gen) {
  char tmp[PATH_MAX], link[PATH_MAX];
  if (cs_path_join(tmp, sizeof tmp, dir, "current.tmp") ||
      cs_path_join(link, sizeof link, dir, "current")) {
    errno = ENAMETOOLONG;
    return -1;
  }
  unlink(tmp);
  if (symlink(gen, tmp) != 0) return -1;
  if (rename(tmp, link) != 0) {
    int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
  }
  return 0;
}

void cs_generation_remove(const char *dir, const char *gen) {
  char path[PATH_MAX], file[PATH_MAX + 16];
  if (cs_path_join(path, sizeof path, dir, gen)) return;
  static const char *const files[] = {"data.mdb", "lock.mdb", CS_UNSYNCED_FILE, CS_UNSYNCED_TMP};
  for (size_t i = 0; i < 4; i++) {
    if (snprintf(file, sizeof file, "%s/%s", path, files[i]) < (int)sizeof file) unlink(file);
  }
  /* A late reader's lock file (see the header). */
  snprintf(file, sizeof file, "%s/lock.mdb", path);
  for (int tries = 0; rmdir(path) != 0 && errno == ENOTEMPTY && tries < 8; tries++)
    unlink(file);
}

int cs_generation_sweep(const char *dir, char *cur, size_t curcap, unsigned long *next) {
  char link[PATH_MAX];
  if (cs_path_join(link, sizeof link, dir, "current")) return -1;
  ssize_t n = readlink(link, cur, curcap - 1);
  if (n <= 0) return -1;
  cur[n] = 0;
  unsigned long curnum = strtoul(cur + 1, NULL, 10), max = curnum;
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] != 'g' || !e->d_name[1]) continue;
    char *end;
    unsigned long g = strtoul(e->d_name + 1, &end, 10);
    if (end != e->d_name + 1 && !strcmp(end, ".packed")) { /* a repack cut short */
      cs_log(CS_LOG_INFO, "removing %s of %s, left by an earlier reindex or compaction", e->d_name,
             dir);
      cs_generation_remove(dir, e->d_name);
      continue;
    }
    if (*end) continue;
    if (g > max) max = g;
    if (g != curnum) {
      cs_log(CS_LOG_INFO, "removing %s of %s, left by an earlier reindex or compaction", e->d_name,
             dir);
      cs_generation_remove(dir, e->d_name);
    }
  }
  closedir(d);
  *next = max + 1;
  return 0;
}
