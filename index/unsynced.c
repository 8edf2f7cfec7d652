/*
 * The marker of a generation written without a sync per commit (see
 * unsynced.h).
 */
#include "unsynced.h"

#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
#define BOOT_ID_MAX 64

/* Reads the first line of `path` (at most cap - 1 bytes, without its
 * newline). Returns its length, or -1. */
static int read_line(const char *path, char *out, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, out, cap - 1);
  close(fd);
  if (n <= 0) return -1;
  out[n] = 0;
  out[strcspn(out, "\n")] = 0;
  return (int)strlen(out);
}

int cs_unsynced_state(const char *gendir) {
  char path[PATH_MAX], mark[BOOT_ID_MAX], boot[BOOT_ID_MAX];
  /* No marker can have been written where its path does not fit. */
  if (cs_path_join(path, sizeof path, gendir, CS_UNSYNCED_FILE)) return CS_UNSYNCED_NONE;
  if (access(path, F_OK) != 0) return errno == ENOENT ? CS_UNSYNCED_NONE : CS_UNSYNCED_LOST;
  if (read_line(path, mark, sizeof mark) <= 0 || read_line(BOOT_ID_PATH, boot, sizeof boot) <= 0)
    return CS_UNSYNCED_LOST;
  return strcmp(mark, boot) == 0 ? CS_UNSYNCED_THIS : CS_UNSYNCED_LOST;
}

static int sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int cs_unsynced_mark(const char *gendir, unsigned mode) {
  char path[PATH_MAX], tmp[PATH_MAX], boot[BOOT_ID_MAX];
  int n = read_line(BOOT_ID_PATH, boot, sizeof boot - 1);
  if (n <= 0 || cs_path_join(path, sizeof path, gendir, CS_UNSYNCED_FILE) ||
      cs_path_join(tmp, sizeof tmp, gendir, CS_UNSYNCED_TMP))
    return -1;
  boot[n] = '\n';
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
  if (fd < 0) return -1;
  int ok = fchmod(fd, (mode_t)mode) == 0 && write(fd, boot, (size_t)n + 1) == (ssize_t)n + 1 &&
           fsync(fd) == 0;
  ok &= close(fd) == 0;
  if (!ok || rename(tmp, path) != 0 || sync_dir(gendir) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

void cs_unsynced_clear(const char *gendir) {
  char path[PATH_MAX];
  if (cs_path_join(path, sizeof path, gendir, CS_UNSYNCED_FILE)) return;
  /* Not synced: a removal the disk loses leaves a marker of an earlier
   * boot, which only costs the load again. */
  unlink(path);
}
